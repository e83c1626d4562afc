// Record decoding with PG15's DecodeXLogRecord checks. See record.h.
#include "wal/record.h"

#include <algorithm>
#include <cstring>

#include "wal/crc32c.h"

namespace wq::wal {

std::span<const std::uint8_t> DecodedRecord::main_data() const {
  std::span<const std::uint8_t> b = bytes();
  if (b.empty() || main_data_len == 0) return {};
  return b.subspan(main_data_offset, main_data_len);
}

std::span<const std::uint8_t> DecodedRecord::block_data(std::size_t i) const {
  WQ_ASSERT(i < blocks.size(), "block index {} of {}", i, blocks.size());
  const BlockRef& b = blocks[i];
  std::span<const std::uint8_t> all = bytes();
  if (all.empty() || !b.has_data) return {};
  return all.subspan(b.data_offset, b.data_length);
}

std::span<const std::uint8_t> DecodedRecord::block_image(std::size_t i) const {
  WQ_ASSERT(i < blocks.size(), "block index {} of {}", i, blocks.size());
  const BlockRef& b = blocks[i];
  std::span<const std::uint8_t> all = bytes();
  if (all.empty() || !b.has_image) return {};
  return all.subspan(b.image_offset, b.image_length);
}

std::uint32_t compute_record_crc(std::span<const std::uint8_t> record) {
  WQ_ASSERT(record.size() >= kRecordHeaderSize, "record of {} bytes", record.size());
  std::uint32_t crc = crc32c_update(kCrc32cInit, record.data() + kRecordHeaderSize,
                                    record.size() - kRecordHeaderSize);
  crc = crc32c_update(crc, record.data(), kRecordCrcOffset);
  return ~crc;
}

namespace {

// Reads header fields from the front of the body, failing like COPY_HEADER_FIELD.
// Forced inline: GCC left u32() as a call in the per-record loop (~3% of
// walquorum-waldump --stats CPU).
class Cursor {
 public:
  Cursor(const std::uint8_t* base, std::uint32_t pos, std::uint32_t remaining)
      : base_(base), pos_(pos), remaining_(remaining) {}
  [[gnu::always_inline]] bool take(void* out, std::uint32_t n) {
    if (remaining_ < n) return false;
    std::memcpy(out, base_ + pos_, n);
    pos_ += n;
    remaining_ -= n;
    return true;
  }
  [[gnu::always_inline]] bool u8(std::uint8_t* v) { return take(v, 1); }
  [[gnu::always_inline]] bool u16(std::uint16_t* v) {
    std::uint8_t b[2];
    if (!take(b, 2)) return false;
    *v = load_u16(b);
    return true;
  }
  [[gnu::always_inline]] bool u32(std::uint32_t* v) {
    std::uint8_t b[4];
    if (!take(b, 4)) return false;
    *v = load_u32(b);
    return true;
  }
  std::uint32_t pos() const { return pos_; }
  std::uint32_t remaining() const { return remaining_; }

 private:
  const std::uint8_t* base_;
  std::uint32_t pos_;
  std::uint32_t remaining_;
};

}  // namespace

base::Result<DecodedRecord> decode_record(std::span<const std::uint8_t> record, Lsn start,
                                          std::uint64_t seg_size, RecordFault* fault) {
  auto fail = [&](RecordFault f, std::string msg) {
    if (fault) *fault = f;
    return base::Unexpected{base::ErrorCode::kCorrupt, std::move(msg)};
  };
  if (fault) *fault = RecordFault::kNone;
  if (record.size() < kRecordHeaderSize) {
    return fail(RecordFault::kBadLength,
                fmt::format("invalid record length at {}: wanted {}, got {}", start,
                            kRecordHeaderSize, record.size()));
  }
  const std::uint8_t* p = record.data();
  DecodedRecord r;
  r.start_lsn = start;
  r.tot_len = load_u32(p);
  r.xid = load_u32(p + 4);
  r.prev_lsn = Lsn(load_u64(p + 8));
  r.info = p[16];
  r.rmid = p[17];
  r.crc = load_u32(p + 20);
  if (r.tot_len < kRecordHeaderSize) {
    return fail(RecordFault::kBadLength, fmt::format("invalid record length at {}: wanted {}, got {}",
                                                     start, kRecordHeaderSize, r.tot_len));
  }
  if (r.tot_len != record.size()) {
    return fail(RecordFault::kBadLength,
                fmt::format("record length {} at {} does not match the {} bytes given", r.tot_len,
                            start, record.size()));
  }
  if (!rmgr_id_valid(r.rmid)) {
    return fail(RecordFault::kBadRmgr,
                fmt::format("invalid resource manager ID {} at {}", r.rmid, start));
  }
  if (compute_record_crc(record) != r.crc) {
    return fail(RecordFault::kBadCrc,
                fmt::format("incorrect resource manager data checksum in record at {}", start));
  }

  auto invalid_length = [&] {
    return fail(RecordFault::kMalformed, fmt::format("record with invalid length at {}", start));
  };
  Cursor c(p, kRecordHeaderSize, r.tot_len - kRecordHeaderSize);
  std::uint64_t datatotal = 0;
  int max_block_id = -1;
  bool have_rnode = false;
  RelFileNode last_rnode;
  bool have_main_data = false;
  while (c.remaining() > datatotal) {
    std::uint8_t block_id;
    if (!c.u8(&block_id)) return invalid_length();
    if (block_id == XLR_BLOCK_ID_DATA_SHORT) {
      std::uint8_t len;
      if (!c.u8(&len)) return invalid_length();
      r.main_data_len = len;
      have_main_data = true;
      datatotal += len;
      break;  // the main-data header is always last
    }
    if (block_id == XLR_BLOCK_ID_DATA_LONG) {
      std::uint32_t len;
      if (!c.u32(&len)) return invalid_length();
      r.main_data_len = len;
      have_main_data = true;
      datatotal += len;
      break;
    }
    if (block_id == XLR_BLOCK_ID_ORIGIN) {
      std::uint16_t origin;
      if (!c.u16(&origin)) return invalid_length();
      r.origin = origin;
      continue;
    }
    if (block_id == XLR_BLOCK_ID_TOPLEVEL_XID) {
      std::uint32_t xid;
      if (!c.u32(&xid)) return invalid_length();
      r.toplevel_xid = xid;
      continue;
    }
    if (block_id > XLR_MAX_BLOCK_ID) {
      return fail(RecordFault::kMalformed, fmt::format("invalid block_id {} at {}", block_id, start));
    }
    if (static_cast<int>(block_id) <= max_block_id) {
      return fail(RecordFault::kMalformed,
                  fmt::format("out-of-order block_id {} at {}", block_id, start));
    }
    max_block_id = block_id;
    BlockRef b;
    b.id = block_id;
    std::uint8_t fork_flags;
    if (!c.u8(&fork_flags) || !c.u16(&b.data_length)) return invalid_length();
    b.fork = fork_flags & BKPBLOCK_FORK_MASK;
    b.has_image = (fork_flags & BKPBLOCK_HAS_IMAGE) != 0;
    b.has_data = (fork_flags & BKPBLOCK_HAS_DATA) != 0;
    b.will_init = (fork_flags & BKPBLOCK_WILL_INIT) != 0;
    b.same_rel = (fork_flags & BKPBLOCK_SAME_REL) != 0;
    if (b.has_data && b.data_length == 0) {
      return fail(RecordFault::kMalformed,
                  fmt::format("BKPBLOCK_HAS_DATA set, but no data included at {}", start));
    }
    if (!b.has_data && b.data_length != 0) {
      return fail(RecordFault::kMalformed,
                  fmt::format("BKPBLOCK_HAS_DATA not set, but data length is {} at {}",
                              b.data_length, start));
    }
    datatotal += b.data_length;
    if (b.has_image) {
      if (!c.u16(&b.image_length) || !c.u16(&b.hole_offset) || !c.u8(&b.bimg_info)) {
        return invalid_length();
      }
      b.apply_image = (b.bimg_info & BKPIMAGE_APPLY) != 0;
      bool compressed = (b.bimg_info & BKPIMAGE_COMPRESSED_MASK) != 0;
      bool has_hole = (b.bimg_info & BKPIMAGE_HAS_HOLE) != 0;
      if (b.bimg_info & BKPIMAGE_COMPRESS_PGLZ) {
        b.compression = BlockRef::kPglz;
      } else if (b.bimg_info & BKPIMAGE_COMPRESS_LZ4) {
        b.compression = BlockRef::kLz4;
      } else if (b.bimg_info & BKPIMAGE_COMPRESS_ZSTD) {
        b.compression = BlockRef::kZstd;
      }
      if (compressed) {
        if (has_hole) {
          if (!c.u16(&b.hole_length)) return invalid_length();
        } else {
          b.hole_length = 0;
        }
      } else {
        // Same uint16 arithmetic as PG: a length above BLCKSZ wraps.
        b.hole_length = static_cast<std::uint16_t>(kBlockSize - b.image_length);
      }
      datatotal += b.image_length;
      if (has_hole && (b.hole_offset == 0 || b.hole_length == 0 || b.image_length == kBlockSize)) {
        return fail(RecordFault::kMalformed,
                    fmt::format("BKPIMAGE_HAS_HOLE set, but hole offset {} length {} block image "
                                "length {} at {}",
                                b.hole_offset, b.hole_length, b.image_length, start));
      }
      if (!has_hole && (b.hole_offset != 0 || b.hole_length != 0)) {
        return fail(RecordFault::kMalformed,
                    fmt::format("BKPIMAGE_HAS_HOLE not set, but hole offset {} length {} at {}",
                                b.hole_offset, b.hole_length, start));
      }
      if (compressed && b.image_length == kBlockSize) {
        return fail(RecordFault::kMalformed,
                    fmt::format("BKPIMAGE_COMPRESSED set, but block image length {} at {}",
                                b.image_length, start));
      }
      if (!has_hole && !compressed && b.image_length != kBlockSize) {
        return fail(RecordFault::kMalformed,
                    fmt::format("neither BKPIMAGE_HAS_HOLE nor BKPIMAGE_COMPRESSED set, but block "
                                "image length is {} at {}",
                                b.image_length, start));
      }
      r.fpi_bytes += b.image_length;
    }
    if (!b.same_rel) {
      if (!c.u32(&b.spc) || !c.u32(&b.db) || !c.u32(&b.rel)) return invalid_length();
      last_rnode = b.rnode();
      have_rnode = true;
    } else {
      if (!have_rnode) {
        return fail(RecordFault::kMalformed,
                    fmt::format("BKPBLOCK_SAME_REL set but no previous rel at {}", start));
      }
      b.spc = last_rnode.spc;
      b.db = last_rnode.db;
      b.rel = last_rnode.rel;
    }
    if (!c.u32(&b.blk)) return invalid_length();
    r.blocks.push_back(b);
  }
  if (c.remaining() != datatotal) return invalid_length();

  std::uint32_t pos = c.pos();
  for (BlockRef& b : r.blocks) {
    if (b.has_image) {
      b.image_offset = pos;
      pos += b.image_length;
    }
    if (b.has_data) {
      b.data_offset = pos;
      pos += b.data_length;
    }
  }
  r.main_data_offset = have_main_data ? pos : r.tot_len;
  pos += r.main_data_len;
  WQ_ASSERT(pos == r.tot_len, "payload walk ended at {} of {}", pos, r.tot_len);

  if (r.is_switch()) {
    r.end_lsn = segment_start(segno_of(start, seg_size) + 1, seg_size);
  } else {
    r.end_lsn = record_end_lsn(start, r.tot_len, seg_size);
  }
  return r;
}

base::Status restore_image(const BlockRef& block, std::span<const std::uint8_t> record, Page& out) {
  if (!block.has_image) {
    return base::Unexpected{base::ErrorCode::kInvalidArgument,
                            fmt::format("block {} has no image", block.id)};
  }
  if (block.compression != BlockRef::kNone) {
    const char* method = block.compression == BlockRef::kPglz  ? "pglz"
                         : block.compression == BlockRef::kLz4 ? "lz4"
                                                               : "zstd";
    return base::Unexpected{base::ErrorCode::kUnsupported,
                            fmt::format("block {} image is {}-compressed ({} bytes); decompression "
                                        "is not done in src/wal",
                                        block.id, method, block.image_length)};
  }
  std::uint32_t len = block.image_length;
  std::uint32_t hole_off = block.hole_offset;
  std::uint32_t hole_len = block.hole_length;
  if (static_cast<std::uint64_t>(block.image_offset) + len > record.size() ||
      len + hole_len != kBlockSize || hole_off > len) {
    return base::Unexpected{
        base::ErrorCode::kCorrupt,
        fmt::format("block {} image geometry impossible: length {}, hole offset {}, hole length {}",
                    block.id, len, hole_off, hole_len)};
  }
  const std::uint8_t* src = record.data() + block.image_offset;
  std::memcpy(out.data(), src, hole_off);
  std::memset(out.data() + hole_off, 0, hole_len);
  std::memcpy(out.data() + hole_off + hole_len, src + hole_off, len - hole_off);
  return base::Ok{};
}

base::Status apply_generic_delta(Page& page, std::span<const std::uint8_t> delta) {
  std::size_t i = 0;
  while (i < delta.size()) {
    if (delta.size() - i < 4) {
      return base::Unexpected{base::ErrorCode::kCorrupt,
                              fmt::format("generic delta: truncated fragment header at {}", i)};
    }
    std::uint32_t off = load_u16(delta.data() + i);
    std::uint32_t len = load_u16(delta.data() + i + 2);
    i += 4;
    if (off + len > kBlockSize || delta.size() - i < len) {
      return base::Unexpected{base::ErrorCode::kCorrupt,
                              fmt::format("generic delta: fragment offset {} length {} does not fit "
                                          "the page or the delta",
                                          off, len)};
    }
    std::memcpy(page.data() + off, delta.data() + i, len);
    i += len;
  }
  std::uint32_t lower = load_u16(page.data() + 12);
  std::uint32_t upper = load_u16(page.data() + 14);
  if (lower < upper && upper <= kBlockSize) std::memset(page.data() + lower, 0, upper - lower);
  return base::Ok{};
}

}  // namespace wq::wal
