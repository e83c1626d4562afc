// Storage fault modes for tests of the real binaries (issue 7), chosen by the
// environment variable WQ_STORAGE_FAULT, read once at process start:
//
//   (unset), "" or "off"   no fault mode: every call goes straight to the kernel
//                           (one branch on a constant flag is the whole cost)
//   "powercut"              writes to WAL segment files are held apart, in process
//                           memory, until the file is fsynced/fdatasynced; the
//                           sync applies them to the file, then syncs for real.
//                           A SIGKILL then loses exactly the unsynced writes,
//                           which is what a power cut leaves when none of the
//                           dirty pages happened to be written back.
//
// What "powercut" models (docs/ON-DISK.md, "Power-cut fault mode"):
// - data written with write_all_or_die() (WAL appends, synthesized page headers)
//   is invisible in the file until a sync of that file (any descriptor of the
//   same inode): reads through read_full() see it, other processes do not;
// - a sync that fails (fdatasync/fsync returning an error, e.g. EIO injected by
//   libfiu) loses the held writes it was making durable: the file gets back the
//   bytes it had before (the kernel dropping dirty pages after a writeback
//   error), and then the process ends through fatal_io as always;
// - zeros written for allocation or truncation, hole punching, ftruncate,
//   creations, renames and unlinks happen for real at once (they reach the disk
//   early, which a power cut may also leave); any held write they overlap is
//   dropped, so a later sync cannot resurrect bytes they replaced; a rename
//   never exposes held bytes (they are not in the file);
// What it does not model: lost directory entries (a creation or rename not yet
// covered by a directory fsync survives here), writes that reach the disk
// partly (a torn page: tests tear the tail themselves), reordering among
// synced writes, and anything LevelDB writes (the control store always syncs).
#pragma once

#include <cstdint>
#include <string>

namespace wq::storage {

enum class FaultMode { kNone, kPowerCut };

// The mode this process runs in (from WQ_STORAGE_FAULT unless a test set it).
FaultMode fault_mode();
// Empty, or one line naming a WQ_STORAGE_FAULT value that is not a mode (the
// mode is then kNone; daemons refuse to start).
const std::string& fault_mode_error();
// One line for the daemon's start-up log saying which fault mode is on; empty
// when none is.
std::string fault_mode_banner();

// Tests only: switch the mode (between tests, with no held writes).
void set_fault_mode_for_tests(FaultMode mode);
// The power cut, in process: drops every held write (as a SIGKILL would).
// Returns the number of bytes dropped.
std::uint64_t drop_unsynced_writes();
// Bytes currently held apart (0 without the power-cut mode).
std::uint64_t unsynced_bytes();

}  // namespace wq::storage
