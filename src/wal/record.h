// XLogRecord decoding: the 24-byte header, the CRC, block references (with
// full-page images, holes and compression flags), origin, top-level xid and main
// data, with every consistency check of PG15's DecodeXLogRecord (reference
// §1.4, §1.5, §1.6, §7.10). A record here is the reassembled logical record,
// page headers removed. Images are not decompressed: that is the pageserver's
// job; only the method and stored length are reported. Pure.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <span>
#include <vector>

#include "base/result.h"
#include "wal/format.h"
#include "wal/lsn.h"

namespace wq::wal {

using Page = std::array<std::uint8_t, kBlockSize>;

struct BlockRef {
  enum Compression : std::uint8_t { kNone, kPglz, kLz4, kZstd };

  std::uint8_t id = 0;
  std::uint8_t fork = 0;
  std::uint32_t spc = 0, db = 0, rel = 0, blk = 0;
  bool has_image = false;
  bool apply_image = false;   // BKPIMAGE_APPLY: redo restores it; otherwise consistency-check only
  bool has_data = false;
  bool will_init = false;
  bool same_rel = false;      // as written (BKPBLOCK_SAME_REL); spc/db/rel are filled in anyway
  std::uint16_t image_length = 0;  // bytes stored in the record (after hole removal / compression)
  std::uint16_t hole_offset = 0;
  std::uint16_t hole_length = 0;   // as PG computes it (BLCKSZ - length when uncompressed)
  std::uint8_t bimg_info = 0;
  Compression compression = kNone;
  std::uint32_t image_offset = 0;  // byte offset of the stored image in the record bytes
  std::uint32_t data_offset = 0;   // byte offset of the rmgr block data in the record bytes
  std::uint16_t data_length = 0;

  RelFileNode rnode() const { return RelFileNode{spc, db, rel}; }
};

struct DecodedRecord {
  Lsn start_lsn, end_lsn, prev_lsn;
  std::uint32_t tot_len = 0;
  std::uint32_t xid = 0;
  std::uint8_t info = 0;
  std::uint8_t rmid = 0;
  std::uint32_t crc = 0;
  std::vector<BlockRef> blocks;
  std::optional<std::uint16_t> origin;
  std::optional<std::uint32_t> toplevel_xid;
  std::uint32_t main_data_offset = 0;  // byte offset in the record bytes
  std::uint32_t main_data_len = 0;
  std::uint32_t fpi_bytes = 0;         // sum of stored image lengths
  // The reassembled record (tot_len bytes), page headers removed. From
  // StreamDecoder it is a view into the caller's fed bytes (a record inside one
  // page of one fed chunk) or into the decoder's record buffer, valid until the
  // next feed() or next() on that decoder; keep() copies it into the record so
  // it lives as long as the record. decode_record leaves it empty because its
  // caller already holds the bytes.
  std::span<const std::uint8_t> bytes() const {
    return kept_.empty() ? view_ : std::span<const std::uint8_t>(kept_);
  }
  void set_bytes(std::span<const std::uint8_t> view) {
    view_ = view;
    kept_.clear();
  }
  void keep() {
    if (!kept_.empty()) return;
    kept_.assign(view_.begin(), view_.end());
    view_ = {};
  }

  bool is_switch() const { return rmid == RM_XLOG_ID && (info & XLR_RMGR_INFO_MASK) == XLOG_SWITCH; }
  std::uint8_t rmgr_info() const { return info & XLR_RMGR_INFO_MASK; }
  // Views into `bytes` (empty spans when bytes is empty).
  std::span<const std::uint8_t> main_data() const;
  std::span<const std::uint8_t> block_data(std::size_t i) const;
  std::span<const std::uint8_t> block_image(std::size_t i) const;

 private:
  // Copies of a record are safe: a kept record copies its own bytes, a viewing
  // one copies the view (same lifetime as the original's).
  std::span<const std::uint8_t> view_;
  std::vector<std::uint8_t> kept_;
};

// Which check a record failed; the stream decoder maps it to its end reason.
enum class RecordFault {
  kNone,
  kBadLength,    // xl_tot_len < 24 or != the bytes given
  kBadRmgr,      // rmid 22..127
  kBadCrc,
  kMalformed,    // the body does not decode (DecodeXLogRecord)
};

// The CRC-32C a record must carry: body [24, tot_len), then header [0, 20), final xor.
std::uint32_t compute_record_crc(std::span<const std::uint8_t> record);

// Decodes exactly one reassembled record (record.size() == xl_tot_len) that
// starts at `start`. Checks the header (length, rmid), the CRC and the body; not
// the xl_prev link, which needs the previous record (the stream decoder does it).
// end_lsn uses record_end_lsn(start, tot_len, seg_size), or the next segment
// boundary for XLOG_SWITCH (the reader's EndRecPtr). Errors are kCorrupt with
// PostgreSQL's wording; *fault (if given) says which check failed.
base::Result<DecodedRecord> decode_record(std::span<const std::uint8_t> record, Lsn start,
                                          std::uint64_t seg_size = kDefaultSegmentSize,
                                          RecordFault* fault = nullptr);

// Rebuilds the 8192-byte page from an uncompressed image (zero-filling the hole).
// Compressed images give kUnsupported naming the method; impossible hole
// geometry gives kCorrupt. `record` is the record's bytes.
base::Status restore_image(const BlockRef& block, std::span<const std::uint8_t> record, Page& out);

// Applies a generic-WAL delta (reference §1.9) to page, then zeroes
// [pd_lower, pd_upper) as generic_redo does. A fragment outside the page is kCorrupt.
base::Status apply_generic_delta(Page& page, std::span<const std::uint8_t> delta);

// Little-endian field access shared by the WAL code.
inline std::uint16_t load_u16(const std::uint8_t* p) {
  return static_cast<std::uint16_t>(p[0] | (p[1] << 8));
}
inline std::uint32_t load_u32(const std::uint8_t* p) {
  return static_cast<std::uint32_t>(p[0]) | (static_cast<std::uint32_t>(p[1]) << 8) |
         (static_cast<std::uint32_t>(p[2]) << 16) | (static_cast<std::uint32_t>(p[3]) << 24);
}
inline std::uint64_t load_u64(const std::uint8_t* p) {
  return static_cast<std::uint64_t>(load_u32(p)) | (static_cast<std::uint64_t>(load_u32(p + 4)) << 32);
}
inline void store_u16(std::uint8_t* p, std::uint16_t v) {
  p[0] = static_cast<std::uint8_t>(v);
  p[1] = static_cast<std::uint8_t>(v >> 8);
}
inline void store_u32(std::uint8_t* p, std::uint32_t v) {
  for (int i = 0; i < 4; ++i) p[i] = static_cast<std::uint8_t>(v >> (8 * i));
}
inline void store_u64(std::uint8_t* p, std::uint64_t v) {
  for (int i = 0; i < 8; ++i) p[i] = static_cast<std::uint8_t>(v >> (8 * i));
}

}  // namespace wq::wal
