// Record planning and the pushdown counter. See ingest.h.
#include "pageserver/ingest.h"

#include "pageserver/image.h"
#include "wal/format.h"

namespace wq::pageserver {

std::vector<Put> plan_record(const wal::DecodedRecord& rec, const Id& tenant, const Id& timeline) {
  std::vector<Put> puts;
  std::span<const std::uint8_t> bytes = rec.bytes();
  WQ_ASSERT(bytes.size() == rec.tot_len, "record at {} has {} of {} bytes", rec.start_lsn,
            bytes.size(), rec.tot_len);
  puts.reserve(rec.blocks.size());
  for (std::size_t i = 0; i < rec.blocks.size(); ++i) {
    const wal::BlockRef& b = rec.blocks[i];
    Put p;
    p.page = PageId{tenant, timeline, b.spc, b.db, b.rel, b.fork, b.blk};
    p.lsn = rec.end_lsn;
    if (b.has_image && b.apply_image) {
      p.kind = KeyKind::kBase;
      wal::Page page;
      if (restore_block_image(b, bytes, page)) {
        if (!page_is_new(page)) set_page_lsn(page, rec.end_lsn);
        p.version.kind = Version::kImage;
        p.version.bytes.assign(page.begin(), page.end());
        puts.push_back(std::move(p));
        continue;
      }
    } else {
      p.kind = b.will_init ? KeyKind::kBase : KeyKind::kDelta;
    }
    p.version.kind = Version::kRecord;
    p.replayable = rec.rmid == wal::RM_GENERIC_ID;
    p.version.block_index = static_cast<std::uint8_t>(i);
    p.version.bytes.assign(bytes.begin(), bytes.end());
    puts.push_back(std::move(p));
  }
  return puts;
}

bool PushdownCounter::on_delta(const PageId& page) {
  if (threshold_ == 0) return false;
  auto it = counts_.find(page);
  if (it == counts_.end()) {
    if (counts_.size() >= pages_max_) return true;
    std::uint32_t stored = stored_chain_ ? stored_chain_(page) : 0;
    it = counts_.emplace(page, stored).first;
  }
  if (++it->second >= threshold_) {
    it->second = 0;
    return true;
  }
  return false;
}

void PushdownCounter::on_base(const PageId& page) {
  auto it = counts_.find(page);
  if (it != counts_.end()) {
    it->second = 0;
  } else if (counts_.size() < pages_max_) {
    counts_.emplace(page, 0);
  }
}

}  // namespace wq::pageserver
