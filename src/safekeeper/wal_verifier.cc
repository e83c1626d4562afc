// Verified reads of committed WAL for learners (see wal_verifier.h).
#include "safekeeper/wal_verifier.h"

#include <fmt/format.h>

#include <algorithm>

#include "base/assert.h"
#include "wal/format.h"

namespace wq::safekeeper {

namespace {
// How far back (pages) a read's start looks for the start of the record
// holding it: 32 MiB covers any record of the WAL the safekeeper takes in
// one step past a segment; beyond it the leading bytes are header-checked only.
constexpr std::uint64_t kMaxBackPages = 4096;
}  // namespace

VerifiedReader::VerifiedReader(std::uint64_t seg_size, std::uint64_t chunk_bytes)
    : seg_size_(seg_size), chunk_bytes_(chunk_bytes) {
  WQ_ASSERT(wal::valid_segment_size(seg_size_), "segment size {}", seg_size_);
  WQ_ASSERT(chunk_bytes_ > 0, "chunk size 0");
}

void VerifiedReader::reset() {
  dec_.reset();
  buf_.clear();
  buf_lsn_ = fed_ = verified_ = first_record_ = next_ = Lsn{};
  damage_.reset();
  pending_unverified_ = 0;
  prev_restart_at_ = Lsn{};
}

void VerifiedReader::drain() {
  for (;;) {
    auto step = dec_->next();
    if (auto* rec = std::get_if<wal::DecodedRecord>(&step)) {
      if (!first_record_.is_valid()) first_record_ = rec->start_lsn;
      verified_ = rec->end_lsn;
    } else if (std::holds_alternative<wal::NeedMore>(step)) {
      return;
    } else {
      const auto& end = std::get<wal::EndOfWal>(step);
      if (end.reason == wal::EndReason::kBadPrevLink && end.lsn != prev_restart_at_) {
        // A record whose CRC matched but whose xl_prev does not name the
        // previous record: its writer's doing (the CRC covers xl_prev, so no
        // flipped byte), held alike by every node. Decoding goes on from it
        // with the loose check, as for a read starting there.
        const Lsn r = end.lsn;
        if (r >= buf_lsn_) {
          buf_.resize(std::min<std::uint64_t>(buf_.size(), r - buf_lsn_));
        } else {
          buf_.clear();
          buf_lsn_ = r;
        }
        fed_ = r;
        wal::DecoderOptions opts;
        opts.seg_size = seg_size_;
        dec_ = std::make_unique<wal::StreamDecoder>(r, opts);
        ++prev_link_restarts_;
        prev_restart_at_ = r;
        return;
      }
      // Everything fed lies below readable_end, a record boundary of valid
      // WAL: a stop there is damage, never the end of WAL.
      damage_ = Damage{end.lsn, first_record_.is_valid() ? dec_->end_of_valid_wal() : Lsn{},
                       end.message};
      return;
    }
  }
}

base::Result<bool> VerifiedReader::feed_chunk(const ReadFn& read, Lsn readable_end) {
  if (fed_ >= readable_end) return false;
  // Bytes below keep_from_ are never handed out: drop them (the decoder has
  // copied what it still needs, it was drained to NeedMore).
  if (buf_lsn_ < keep_from_) {
    std::uint64_t drop = std::min<std::uint64_t>(keep_from_ - buf_lsn_, buf_.size());
    buf_.erase(buf_.begin(), buf_.begin() + static_cast<std::ptrdiff_t>(drop));
    buf_lsn_ = buf_lsn_ + drop;
  }
  std::uint64_t want = std::min<std::uint64_t>(chunk_bytes_, readable_end - fed_);
  std::size_t old = buf_.size();
  buf_.resize(old + want);
  auto n = read(fed_, std::span<std::uint8_t>(buf_.data() + old, want));
  if (!n) {
    buf_.resize(old);
    return base::Unexpected{n.error()};
  }
  buf_.resize(old + *n);
  if (*n == 0) return false;
  bytes_read_ += *n;
  dec_->feed(std::span<const std::uint8_t>(buf_.data() + old, *n));
  fed_ = fed_ + *n;
  drain();
  return true;
}

base::Result<std::optional<Damage>> VerifiedReader::restart(const ReadFn& read, Lsn first_lsn,
                                                            Lsn from, Lsn readable_end) {
  const Lsn base = wal::page_start(from);
  for (std::uint64_t back = 0;; back = back == 0 ? 1 : back * 2) {
    bool floor = false;
    Lsn p;
    if (back * wal::kBlockSize > base.value() || base - back * wal::kBlockSize <= first_lsn) {
      p = first_lsn;
      floor = true;
    } else {
      p = base - back * wal::kBlockSize;
      floor = back >= kMaxBackPages;
    }
    reset();
    keep_from_ = from;
    wal::DecoderOptions opts;
    opts.seg_size = seg_size_;
    opts.start_is_page_aligned = true;
    dec_ = std::make_unique<wal::StreamDecoder>(p, opts);
    buf_lsn_ = fed_ = verified_ = p;
    while (!first_record_.is_valid() && !damage_) {
      auto more = feed_chunk(read, readable_end);
      if (!more) return base::Unexpected{more.error()};
      if (!*more) break;
    }
    if (first_record_.is_valid() && first_record_ <= from) return damage_;
    if (!floor) continue;
    // No earlier start is held: the oldest segment begins with a continuation
    // (or the synthesized headers before the timeline start).
    if (damage_) return damage_;
    if (!first_record_.is_valid()) {
      return base::Unexpected{base::ErrorCode::kEndOfData,
                              fmt::format("no WAL record starts between {} and {}", p, fed_)};
    }
    pending_unverified_ = first_record_ - from;
    return damage_;
  }
}

base::Result<VerifiedRead> VerifiedReader::read(const ReadFn& read, Lsn first_lsn, Lsn from,
                                                Lsn to, Lsn readable_end,
                                                std::uint64_t bytes_max) {
  WQ_ASSERT(from < to && bytes_max > 0, "verified read [{}, {}) of {} bytes", from, to, bytes_max);
  if (from < first_lsn) {
    reset();
    return base::Unexpected{base::ErrorCode::kNotFound,
                            fmt::format("WAL at {} was removed (the oldest held starts at {})",
                                        from, first_lsn)};
  }
  if (!dec_ || from != next_ || damage_) {
    auto st = restart(read, first_lsn, from, readable_end);
    if (!st) {
      reset();
      return base::Unexpected{st.error()};
    }
  }
  keep_from_ = from;
  const Lsn target = std::min(to, from + bytes_max);
  while (verified_ < target && !damage_) {
    auto more = feed_chunk(read, readable_end);
    if (!more) {
      reset();
      return base::Unexpected{more.error()};
    }
    if (!*more) break;
  }
  VerifiedRead out;
  const Lsn end = std::min(target, verified_);
  if (end > from) {
    WQ_ASSERT(buf_lsn_ <= from && end <= fed_, "buffer [{}, {}) for [{}, {})", buf_lsn_, fed_,
              from, end);
    auto b = buf_.begin() + static_cast<std::ptrdiff_t>(from - buf_lsn_);
    out.bytes.assign(b, b + static_cast<std::ptrdiff_t>(end - from));
    out.unverified = std::min<std::uint64_t>(pending_unverified_, end - from);
    pending_unverified_ -= out.unverified;
    unverified_bytes_ += out.unverified;
  }
  if (damage_) {
    out.damage = std::move(damage_);
    reset();
    return out;
  }
  if (out.bytes.empty()) {
    Lsn held = fed_;
    reset();
    return base::Unexpected{base::ErrorCode::kEndOfData,
                            fmt::format("WAL at {} is not held here now (it ends at {})", from,
                                        held)};
  }
  buf_.erase(buf_.begin(), buf_.begin() + static_cast<std::ptrdiff_t>(end - buf_lsn_));
  buf_lsn_ = end;
  next_ = end;
  return out;
}

}  // namespace wq::safekeeper
