// What one decoded WAL record becomes in the page store, and the pushdown
// counter that decides when a page deserves a materialised image. Pure: no I/O.
//
// Every block reference gives one version of its page, keyed by the record's
// end LSN (a read at LSN L sees the records that end at or before L):
//  - an image with BKPIMAGE_APPLY is restored now and stored as a base image
//    (if it does not restore, the record is stored as the base instead, so a
//    read names the problem);
//  - a WILL_INIT block is a base record (redo starts from zeros);
//  - anything else is a delta record.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <vector>

#include "pageserver/keys.h"
#include "wal/record.h"

namespace wq::pageserver {

struct Put {
  KeyKind kind;
  PageId page;
  wal::Lsn lsn;
  Version version;
  bool replayable = true;  // redo exists here (images, generic WAL): worth counting for pushdown
};

// rec.bytes() must hold the record.
std::vector<Put> plan_record(const wal::DecodedRecord& rec, const Id& tenant, const Id& timeline);

// Image-generation pushdown: counts deltas per page since its last base. When
// a page reaches `threshold` deltas the caller is told to materialise an image
// at that delta's LSN and the count restarts. threshold 0 disables it. A page
// seen for the first time (e.g. after a restart) is seeded with the length of
// its stored chain, so the bound survives restarts. At most pages_max pages are
// tracked; past that, a delta of an untracked page asks for an image at once
// (which keeps every chain within the threshold).
class PushdownCounter {
 public:
  using ChainLength = std::function<std::uint32_t(const PageId&)>;
  PushdownCounter(std::uint32_t threshold, std::size_t pages_max, ChainLength stored_chain = {})
      : threshold_(threshold), pages_max_(pages_max), stored_chain_(std::move(stored_chain)) {}

  // True: generate an image of `page` at this delta's LSN.
  bool on_delta(const PageId& page);
  // An FPI, WILL_INIT record or generated image: the chain restarts.
  void on_base(const PageId& page);

  std::uint32_t threshold() const { return threshold_; }
  std::size_t tracked_pages() const { return counts_.size(); }
  std::uint32_t count(const PageId& page) const {
    auto it = counts_.find(page);
    return it == counts_.end() ? 0 : it->second;
  }

 private:
  std::uint32_t threshold_;
  std::size_t pages_max_;
  ChainLength stored_chain_;                // deltas after the newest stored base
  std::map<PageId, std::uint32_t> counts_;  // deltas since the base, 0..threshold-1
};

}  // namespace wq::pageserver
