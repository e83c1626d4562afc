// SimDisk: one acceptor's simulated WAL storage. It keeps what a crash would
// leave (durable bytes) apart from what the process sees (written bytes):
// WriteWal extends the written image only, SyncWal makes it durable, TruncateWal
// is durable at once. A crash keeps the durable image plus a random prefix of
// the unsynced tail (nothing, all of it, or a torn last write). The WAL is a
// contiguous byte image starting at `base` (the timeline's first segment start).
// Control state lives beside it and is durable whenever it is stored.
#pragma once

#include <algorithm>
#include <cstdint>
#include <optional>
#include <span>
#include <vector>

#include "base/assert.h"
#include "core/acceptor.h"
#include "prng.h"
#include "wal/lsn.h"

namespace wq::sim {

using wal::Lsn;

class SimDisk {
 public:
  explicit SimDisk(Lsn base) : base_(base) {}

  Lsn base() const { return base_; }
  Lsn written_end() const { return base_ + content_.size(); }
  Lsn durable_end() const { return base_ + durable_.size(); }
  bool empty() const { return content_.empty(); }

  // Not durable until sync(). Appends are sequential: begin == written_end().
  void write(Lsn begin, std::span<const std::uint8_t> bytes) {
    WQ_ASSERT(begin == written_end(), "sim disk: write at {} but written end is {}", begin,
              written_end());
    content_.insert(content_.end(), bytes.begin(), bytes.end());
  }
  void sync() { durable_ = content_; }
  // Durably drops every byte at and after `at`; with `at` past the end, the gap
  // is filled with `fill` (the page header bytes before a first record) and zeros.
  void truncate(Lsn at, std::span<const std::uint8_t> fill = {}) {
    WQ_ASSERT(at >= base_, "sim disk: truncate at {} below base {}", at, base_);
    std::uint64_t n = at - base_;
    if (n <= content_.size()) {
      content_.resize(n);
      if (durable_.size() > n) durable_.resize(n);
      return;
    }
    std::uint64_t old = content_.size();
    content_.resize(n, 0);
    std::uint64_t fill_at = n - std::min<std::uint64_t>(n - old, fill.size());
    std::copy(fill.end() - static_cast<std::ptrdiff_t>(n - fill_at), fill.end(),
              content_.begin() + static_cast<std::ptrdiff_t>(fill_at));
    durable_ = content_;
  }
  // Power loss: the durable image survives; of the unsynced tail a random
  // prefix survives (possibly none, possibly all, possibly a torn write).
  // Returns the number of unsynced bytes kept.
  std::uint64_t crash(Prng& prng, double p_keep_some) {
    std::uint64_t unsynced = content_.size() - durable_.size();
    // Bytes below durable_.size() equal in both images (writes only extend).
    std::uint64_t keep = 0;
    if (unsynced > 0 && prng.chance(p_keep_some)) keep = prng.range(1, unsynced);
    content_.resize(durable_.size() + keep);
    durable_ = content_;
    return keep;
  }

  // What the process reads: the written image.
  std::span<const std::uint8_t> content() const { return content_; }
  std::span<const std::uint8_t> durable() const { return durable_; }
  std::span<const std::uint8_t> content_range(Lsn from, Lsn to) const {
    WQ_ASSERT(from >= base_ && from <= to && to <= written_end(), "sim disk: read [{}, {})", from,
              to);
    return std::span<const std::uint8_t>(content_).subspan(from - base_, to - from);
  }

  // Control state: stored synchronously (LevelDB sync=true in production).
  const std::optional<core::ControlState>& control() const { return control_; }
  void store_control(const core::ControlState& c) { control_ = c; }

 private:
  Lsn base_;
  std::vector<std::uint8_t> content_;
  std::vector<std::uint8_t> durable_;
  std::optional<core::ControlState> control_;
};

}  // namespace wq::sim
