// Redo of images and generic WAL, and reconstruction. See redo.h.
#include "pageserver/redo.h"

#include <fmt/format.h>

#include "pageserver/image.h"
#include "wal/format.h"

namespace wq::pageserver {

base::Status redo_block(wal::Page& page, std::span<const std::uint8_t> record,
                        std::size_t block_index, wal::Lsn end_lsn) {
  // The start LSN only shapes the decoded end LSN, which the key already holds.
  auto rec = wal::decode_record(record, wal::Lsn(wal::kLongPageHeaderSize));
  if (!rec) {
    return base::Unexpected{base::ErrorCode::kCorrupt,
                            fmt::format("stored record at {} does not decode: {}", end_lsn,
                                        rec.error().message)};
  }
  rec->set_bytes(record);
  if (block_index >= rec->blocks.size()) {
    return base::Unexpected{base::ErrorCode::kCorrupt,
                            fmt::format("stored record at {} has {} blocks, not {}", end_lsn,
                                        rec->blocks.size(), block_index + 1)};
  }
  const wal::BlockRef& b = rec->blocks[block_index];
  if (b.has_image && b.apply_image) {
    base::Status s = restore_block_image(b, record, page);
    if (!s) return s;
    if (!page_is_new(page)) set_page_lsn(page, end_lsn);
    return base::Ok{};
  }
  if (b.will_init) page.fill(0);
  if (rec->rmid != wal::RM_GENERIC_ID) {
    return base::Unexpected{base::ErrorCode::kUnsupported,
                            fmt::format("no redo for resource manager {} (record at {})",
                                        wal::rmgr_name(rec->rmid), end_lsn)};
  }
  base::Status s = wal::apply_generic_delta(page, rec->block_data(block_index));
  if (!s) return s;
  set_page_lsn(page, end_lsn);
  return base::Ok{};
}

namespace {

base::Status apply_version(wal::Page& page, const StoredVersion& v) {
  if (v.version.kind == Version::kImage) {
    WQ_ASSERT(v.version.bytes.size() == wal::kBlockSize, "image of {} bytes", v.version.bytes.size());
    std::copy(v.version.bytes.begin(), v.version.bytes.end(), page.begin());
    return base::Ok{};
  }
  return redo_block(page, v.version.bytes, v.version.block_index, v.lsn);
}

}  // namespace

base::Result<Reconstructed> reconstruct(const PageId& page, const std::optional<StoredVersion>& base,
                                        std::span<const StoredVersion> deltas) {
  if (!base) {
    return base::Unexpected{
        base::ErrorCode::kNotFound,
        fmt::format("page {} has no image at or below the requested LSN{}", page.to_string(),
                    deltas.empty() ? "" : fmt::format(" ({} deltas without a base)", deltas.size()))};
  }
  Reconstructed r;
  r.base_lsn = base->lsn;
  base::Status s = apply_version(r.page, *base);
  if (!s) return base::Unexpected{s.error()};
  wal::Lsn prev = base->lsn;
  for (const StoredVersion& d : deltas) {
    WQ_ASSERT(d.lsn > prev, "deltas out of order: {} after {}", d.lsn, prev);
    prev = d.lsn;
    s = apply_version(r.page, d);
    if (!s) return base::Unexpected{s.error()};
    ++r.deltas_replayed;
  }
  return r;
}

}  // namespace wq::pageserver
