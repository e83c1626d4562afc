// POSIX file helpers for src/storage: the single fatal_io() exit for failed
// fsyncs and failed WAL/metadata writes (STYLE.md, "Errors" rule 5), an owning
// file descriptor, and write/read/sync loops that report errors as values.
// Not pure: this is the layer that touches the disk.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>

#include "base/result.h"

namespace wq::storage {

using base::ErrorCode;
using base::Result;
using base::Status;
using base::Unexpected;

// Exit status of a process ended by fatal_io (distinct from assertion aborts).
inline constexpr int kFatalIoExitCode = 70;

// Logs one line "FATAL I/O: <what> <path>: <strerror(err)> (errno N); exiting"
// to stderr and ends the process with _exit(kFatalIoExitCode). Used when a
// fsync/fdatasync fails (the page cache may have dropped the dirty pages, so a
// retry could report success for lost data: never retry) or a WAL/metadata write
// fails for any reason other than ENOSPC.
[[noreturn]] void fatal_io(std::string_view what, std::string_view path, int err);

// Owning file descriptor; closes on destruction (close errors ignored: every
// byte that matters was fsynced before, or it was not durable anyway).
class Fd {
 public:
  Fd() = default;
  explicit Fd(int fd) : fd_(fd) {}
  Fd(Fd&& o) noexcept : fd_(o.release()) {}
  Fd& operator=(Fd&& o) noexcept;
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  ~Fd() { reset(); }

  int get() const { return fd_; }
  bool valid() const { return fd_ >= 0; }
  int release() {
    int fd = fd_;
    fd_ = -1;
    return fd;
  }
  void reset();

 private:
  int fd_ = -1;
};

// open(2) with O_CLOEXEC; errors become kIo/kNotFound naming the path.
Result<Fd> open_file(const std::string& path, int flags, int mode = 0644);

// pwrite all of `data` at `offset` (under WQ_STORAGE_FAULT=powercut: held in
// memory until the file is synced, see storage/fault.h). ENOSPC (and EDQUOT) → kNoSpace; any other
// failure ends the process (a failed WAL or metadata write is not recoverable).
Status write_all_or_die(int fd, std::uint64_t offset, std::span<const std::uint8_t> data,
                        const std::string& path);
// Writes `len` zero bytes at `offset` (same error rules as write_all_or_die;
// written at once even in the power-cut mode: allocation and truncation).
Status write_zeros_or_die(int fd, std::uint64_t offset, std::uint64_t len,
                          const std::string& path);
// pread exactly out.size() bytes unless EOF comes first; returns bytes read.
Result<std::size_t> read_full(int fd, std::uint64_t offset, std::span<std::uint8_t> out,
                              const std::string& path);

// fdatasync / fsync; failure ends the process.
void fdatasync_or_die(int fd, const std::string& path);
void fsync_or_die(int fd, const std::string& path);
// Opens `dir` and fsyncs it so that creations, renames and unlinks in it are
// durable; failure ends the process.
void fsync_dir_or_die(const std::string& dir);
// rename(2); failure ends the process (a half-done metadata step).
void rename_or_die(const std::string& from, const std::string& to);
// unlink(2); a missing file is fine, any other failure ends the process.
void unlink_or_die(const std::string& path);

// mkdir -p; errors are kIo (kNoSpace on ENOSPC). Every directory it creates is
// made durable (its parent is fsynced; failure ends the process), so a new
// timeline directory cannot vanish in a crash after its files were synced.
Status make_dirs(const std::string& path);

// Creates `path` (must not exist) as a file of `size` zero bytes that are really
// allocated, then fsyncs it and its directory. `zero_fill` writes the zeros
// (fdatasync after later overwrites then has no extent conversion to journal);
// otherwise posix_fallocate. ENOSPC → kNoSpace and the partial file is removed.
Status create_preallocated(const std::string& path, std::uint64_t size, bool zero_fill);

// Creates `path` (must not exist) as a sparse file of `size` bytes (ftruncate:
// reads as zeros, nothing allocated), then fsyncs it and its directory.
// Failure other than ENOSPC ends the process.
Status create_sparse(const std::string& path, std::uint64_t size);
// Allocates [offset, offset + len) of an open file: writes zeros (`zero_fill`),
// or posix_fallocate. ENOSPC → kNoSpace; other failures end the process. Not synced.
Status allocate_range(int fd, std::uint64_t offset, std::uint64_t len, bool zero_fill,
                      const std::string& path);

// Punches a hole over [offset, offset + len) (FALLOC_FL_PUNCH_HOLE, size kept;
// not synced). Returns false when the filesystem cannot punch holes (the caller
// writes zeros instead); other failures end the process.
bool punch_hole(int fd, std::uint64_t offset, std::uint64_t len, const std::string& path);
// Grows the file to `size` bytes if it is shorter (ftruncate; not synced);
// failure ends the process.
void extend_to(int fd, std::uint64_t size, const std::string& path);

// Bytes of disk allocated to `path` (st_blocks * 512), 0 if it does not exist.
std::uint64_t allocated_bytes(const std::string& path);
// Free bytes for unprivileged users on the filesystem holding `path`.
Result<std::uint64_t> free_bytes(const std::string& path);

}  // namespace wq::storage
