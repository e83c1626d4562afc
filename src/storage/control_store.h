// ControlStore: the safekeeper's durable per-timeline control state (term, term
// history, LSN horizons, server info) in a LevelDB at <data>/meta, one record per
// timeline under key "timeline/<tenant-hex>/<timeline-hex>" (encoding:
// control_codec.h). Used by the safekeeper daemon for every PersistControl action.
//
// Disk full: LevelDB cannot write when the disk is full, and an acceptor that
// cannot persist its vote must stop. So open() keeps a preallocated reserve file
// <data>/meta.reserve (Options::reserve_bytes, zero-filled, fsynced). Before each
// put(), if the filesystem has less than reserve_bytes free, the reserve is
// deleted (and the directory fsynced) so the metadata write finds room; the WAL
// store then already refuses appends with kNoSpace. ensure_reserve() re-creates
// it once space is back. The check is made before writing rather than after an
// ENOSPC failure because a failed LevelDB log write is not safe to retry.
//
// Not thread-safe: one owner (the safekeeper's I/O thread) calls it.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "base/result.h"
#include "core/acceptor.h"

namespace leveldb {
class DB;
}

namespace wq::storage {

class ControlStore {
 public:
  struct Options {
    std::uint64_t reserve_bytes = 16 * 1024 * 1024;
  };

  // Opens (creating if needed) <data_dir>/meta and the reserve file. kIo if
  // LevelDB cannot open; kCorrupt if LevelDB reports corruption.
  static base::Result<ControlStore> open(const std::string& data_dir, Options options);
  static base::Result<ControlStore> open(const std::string& data_dir) {
    return open(data_dir, Options{});
  }

  ControlStore(ControlStore&&) noexcept;
  ControlStore& operator=(ControlStore&&) noexcept;
  ~ControlStore();

  // Durably stores `state` (LevelDB write with sync=true) under its timeline's key.
  // On return the record survives a crash. Any failure ends the process via
  // fatal_io: an acceptor that cannot persist its vote must not answer.
  void put(const core::ControlState& state);
  // The stored record of `key`, or nullopt. A record that does not decode is a
  // kCorrupt error naming the key; a LevelDB read failure is kIo.
  base::Result<std::optional<core::ControlState>> get(const core::TimelineKey& key) const;
  // Every stored timeline, in key order; the first bad record is an error.
  base::Result<std::vector<core::ControlState>> list() const;
  // The timelines that have a record, in key order, without decoding the records:
  // a daemon that must keep serving the other timelines when one record is
  // damaged calls get() on each. A key that does not parse is kCorrupt.
  base::Result<std::vector<core::TimelineKey>> list_timelines() const;
  // Durably removes the record of `key` (timeline deletion); failure is fatal.
  void remove(const core::TimelineKey& key);

  // Re-creates the reserve file if it is missing and there is room for it.
  // Returns true if the reserve is in place afterwards.
  bool ensure_reserve();
  bool reserve_present() const { return reserve_present_; }

  static std::string key_of(const core::TimelineKey& key);

  // Learner positions of a timeline (WAL removal honours them), under key
  // "learners/<tenant-hex>/<timeline-hex>": text lines "<name> <lsn-decimal>",
  // one per slot ("slot:<name>") or slotless connection ("conn:<app name>").
  // Outside the "timeline/" prefix, so list() never sees it. put is synced
  // (a restart must not remove WAL a learner still needs); failure is fatal.
  void put_learners(const core::TimelineKey& key, const std::string& text);
  // The stored text, or empty when none; kIo on a LevelDB read failure.
  base::Result<std::string> get_learners(const core::TimelineKey& key) const;
  static std::string learners_key_of(const core::TimelineKey& key);

  // For tests: writes raw bytes under a key (sync=true).
  void put_raw_for_test(const std::string& key, const std::string& value);

 private:
  ControlStore(std::unique_ptr<leveldb::DB> db, std::string data_dir, Options options);
  void release_reserve_if_low();

  std::unique_ptr<leveldb::DB> db_;
  std::string data_dir_;
  std::string meta_dir_;
  std::string reserve_path_;
  Options options_;
  bool reserve_present_ = false;
};

}  // namespace wq::storage
