// Record assembly and page layout for WAL walquorum writes. See encoder.h.
#include "wal/encoder.h"

#include <algorithm>
#include <cstring>

#include "wal/page.h"

namespace wq::wal {

// ---- RecordBuilder -------------------------------------------------------------------------

RecordBuilder& RecordBuilder::set_main_data(std::span<const std::uint8_t> data) {
  main_data_.assign(data.begin(), data.end());
  return *this;
}

RecordBuilder& RecordBuilder::add_block(std::uint8_t id, RelFileNode rel, std::uint8_t fork,
                                        std::uint32_t blk, std::span<const std::uint8_t> data,
                                        bool will_init) {
  WQ_ASSERT(id <= XLR_MAX_BLOCK_ID, "block id {} above {}", id, XLR_MAX_BLOCK_ID);
  WQ_ASSERT(blocks_.empty() || blocks_.back().id < id, "block ids must increase: {} after {}", id,
            blocks_.back().id);
  WQ_ASSERT(fork <= BKPBLOCK_FORK_MASK, "fork {}", fork);
  WQ_ASSERT(data.size() <= 0xFFFF, "block data of {} bytes does not fit a uint16", data.size());
  Block b;
  b.id = id;
  b.rel = rel;
  b.fork = fork;
  b.blk = blk;
  b.will_init = will_init;
  b.data.assign(data.begin(), data.end());
  blocks_.push_back(std::move(b));
  return *this;
}

RecordBuilder& RecordBuilder::add_image(const Page& page, bool standard, bool apply,
                                        bool keep_data) {
  WQ_ASSERT(!blocks_.empty(), "add_image before add_block");
  Block& b = blocks_.back();
  WQ_ASSERT(!b.has_image, "block {} already has an image", b.id);
  std::uint32_t lower = load_u16(page.data() + 12);
  std::uint32_t upper = load_u16(page.data() + 14);
  b.has_image = true;
  b.bimg_info = apply ? BKPIMAGE_APPLY : 0;
  if (standard && lower >= kPageHeaderSizeOfDataPage && upper > lower && upper <= kBlockSize) {
    b.hole_offset = static_cast<std::uint16_t>(lower);
    b.hole_length = static_cast<std::uint16_t>(upper - lower);
    b.bimg_info |= BKPIMAGE_HAS_HOLE;
    b.image.assign(page.begin(), page.begin() + lower);
    b.image.insert(b.image.end(), page.begin() + upper, page.end());
  } else {
    b.hole_offset = 0;
    b.hole_length = 0;
    b.image.assign(page.begin(), page.end());
  }
  if (apply && !keep_data) b.data.clear();
  return *this;
}

RecordBuilder& RecordBuilder::add_stored_image(std::span<const std::uint8_t> stored,
                                               std::uint16_t hole_offset,
                                               std::uint16_t hole_length, std::uint8_t bimg_info) {
  WQ_ASSERT(!blocks_.empty(), "add_stored_image before add_block");
  WQ_ASSERT(stored.size() <= 0xFFFF, "image of {} bytes", stored.size());
  Block& b = blocks_.back();
  b.has_image = true;
  b.image.assign(stored.begin(), stored.end());
  b.hole_offset = hole_offset;
  b.hole_length = hole_length;
  b.bimg_info = bimg_info;
  return *this;
}

namespace {

bool compressed_with_hole(std::uint8_t bimg_info) {
  return (bimg_info & BKPIMAGE_COMPRESSED_MASK) != 0 && (bimg_info & BKPIMAGE_HAS_HOLE) != 0;
}

}  // namespace

std::uint32_t RecordBuilder::total_length() const {
  std::uint64_t n = kRecordHeaderSize;
  const RelFileNode* prev_rel = nullptr;
  for (const Block& b : blocks_) {
    n += kBlockHeaderSize + 4 /* BlockNumber */;
    if (b.has_image) {
      n += kBlockImageHeaderSize + b.image.size();
      if (compressed_with_hole(b.bimg_info)) n += kBlockCompressHeaderSize;
    }
    if (prev_rel == nullptr || !(*prev_rel == b.rel)) n += kRelFileNodeSize;
    prev_rel = &b.rel;
    n += b.data.size();
  }
  if (origin_) n += 3;
  if (toplevel_xid_) n += 5;
  if (!main_data_.empty()) n += (main_data_.size() <= 255 ? 2 : 5) + main_data_.size();
  WQ_ASSERT(n <= 0xFFFFFFFFull, "record of {} bytes does not fit xl_tot_len", n);
  return static_cast<std::uint32_t>(n);
}

std::vector<std::uint8_t> RecordBuilder::build() const {
  std::uint32_t total = total_length();
  std::vector<std::uint8_t> out(total, 0);
  std::uint8_t* p = out.data();
  store_u32(p, total);
  store_u32(p + 4, xid_);
  p[16] = info_;
  p[17] = rmid_;
  std::size_t pos = kRecordHeaderSize;
  auto put8 = [&](std::uint8_t v) { out[pos++] = v; };
  auto put16 = [&](std::uint16_t v) { store_u16(&out[pos], v); pos += 2; };
  auto put32 = [&](std::uint32_t v) { store_u32(&out[pos], v); pos += 4; };
  const RelFileNode* prev_rel = nullptr;
  for (const Block& b : blocks_) {
    bool same_rel = prev_rel != nullptr && *prev_rel == b.rel;
    std::uint8_t flags = b.fork;
    if (b.has_image) flags |= BKPBLOCK_HAS_IMAGE;
    if (!b.data.empty()) flags |= BKPBLOCK_HAS_DATA;
    if (b.will_init) flags |= BKPBLOCK_WILL_INIT;
    if (same_rel) flags |= BKPBLOCK_SAME_REL;
    put8(b.id);
    put8(flags);
    put16(static_cast<std::uint16_t>(b.data.size()));
    if (b.has_image) {
      put16(static_cast<std::uint16_t>(b.image.size()));
      put16(b.hole_offset);
      put8(b.bimg_info);
      if (compressed_with_hole(b.bimg_info)) put16(b.hole_length);
    }
    if (!same_rel) {
      put32(b.rel.spc);
      put32(b.rel.db);
      put32(b.rel.rel);
    }
    put32(b.blk);
    prev_rel = &b.rel;
  }
  if (origin_) {
    put8(XLR_BLOCK_ID_ORIGIN);
    put16(*origin_);
  }
  if (toplevel_xid_) {
    put8(XLR_BLOCK_ID_TOPLEVEL_XID);
    put32(*toplevel_xid_);
  }
  if (!main_data_.empty()) {
    if (main_data_.size() <= 255) {
      put8(XLR_BLOCK_ID_DATA_SHORT);
      put8(static_cast<std::uint8_t>(main_data_.size()));
    } else {
      put8(XLR_BLOCK_ID_DATA_LONG);
      put32(static_cast<std::uint32_t>(main_data_.size()));
    }
  }
  auto put_bytes = [&](const std::vector<std::uint8_t>& v) {
    if (!v.empty()) std::memcpy(&out[pos], v.data(), v.size());
    pos += v.size();
  };
  for (const Block& b : blocks_) {
    if (b.has_image) put_bytes(b.image);
    put_bytes(b.data);
  }
  put_bytes(main_data_);
  WQ_ASSERT(pos == total, "built {} bytes, expected {}", pos, total);
  return out;
}

void finalize_record(std::span<std::uint8_t> record, Lsn prev) {
  WQ_ASSERT(record.size() >= kRecordHeaderSize && load_u32(record.data()) == record.size(),
            "finalize_record: xl_tot_len {} vs {} bytes",
            record.size() >= 4 ? load_u32(record.data()) : 0, record.size());
  store_u64(record.data() + 8, prev.value());
  store_u32(record.data() + kRecordCrcOffset, compute_record_crc(record));
}

// ---- Ready-made records ------------------------------------------------------------------------

namespace {

// Appends [begin, end) of the new page as one fragment.
void put_fragment(std::vector<std::uint8_t>& out, const Page& page, std::uint32_t begin,
                  std::uint32_t end) {
  std::uint8_t hdr[4];
  store_u16(hdr, static_cast<std::uint16_t>(begin));
  store_u16(hdr + 2, static_cast<std::uint16_t>(end - begin));
  out.insert(out.end(), hdr, hdr + 4);
  out.insert(out.end(), page.begin() + begin, page.begin() + end);
}

// Runs of "changed" bytes in [start, end), where a byte is changed when it
// differs from the old page or lies outside the old page's valid range
// [valid_start, valid_end). Runs separated by at most kMatchThreshold unchanged
// bytes are merged (generic_xlog.c: MATCH_THRESHOLD = fragment header size).
void region_delta(std::vector<std::uint8_t>& out, const Page& old_page, const Page& new_page,
                  std::uint32_t start, std::uint32_t end, std::uint32_t valid_start,
                  std::uint32_t valid_end) {
  constexpr std::uint32_t kMatchThreshold = 4;
  auto changed = [&](std::uint32_t i) {
    return i < valid_start || i >= valid_end || old_page[i] != new_page[i];
  };
  bool open = false;
  std::uint32_t frag_begin = 0, frag_end = 0;
  for (std::uint32_t i = start; i < end;) {
    if (!changed(i)) {
      ++i;
      continue;
    }
    std::uint32_t run_begin = i;
    while (i < end && changed(i)) ++i;
    if (open && run_begin - frag_end <= kMatchThreshold) {
      frag_end = i;
    } else {
      if (open) put_fragment(out, new_page, frag_begin, frag_end);
      open = true;
      frag_begin = run_begin;
      frag_end = i;
    }
  }
  if (open) put_fragment(out, new_page, frag_begin, frag_end);
}

}  // namespace

std::vector<std::uint8_t> generic_delta(const Page& old_page, const Page& new_page) {
  auto clamp = [](std::uint32_t v) { return std::min<std::uint32_t>(v, kBlockSize); };
  std::uint32_t new_lower = clamp(load_u16(new_page.data() + 12));
  std::uint32_t new_upper = clamp(load_u16(new_page.data() + 14));
  std::uint32_t old_lower = clamp(load_u16(old_page.data() + 12));
  std::uint32_t old_upper = clamp(load_u16(old_page.data() + 14));
  std::vector<std::uint8_t> out;
  region_delta(out, old_page, new_page, 0, new_lower, 0, old_lower);
  region_delta(out, old_page, new_page, new_upper, kBlockSize, old_upper, kBlockSize);
  return out;
}

RecordBuilder make_generic_record(std::uint32_t xid, std::span<const GenericBlock> blocks) {
  WQ_ASSERT(blocks.size() <= XLR_NORMAL_MAX_BLOCK_ID, "{} generic blocks, at most {}",
            blocks.size(), XLR_NORMAL_MAX_BLOCK_ID);
  RecordBuilder rb(RM_GENERIC_ID, 0);
  rb.set_xid(xid);
  for (std::size_t i = 0; i < blocks.size(); ++i) {
    const GenericBlock& g = blocks[i];
    WQ_ASSERT(g.new_page != nullptr, "generic block {} without a new page", i);
    auto id = static_cast<std::uint8_t>(i);
    if (g.full_image || g.old_page == nullptr) {
      rb.add_block(id, g.rel, g.fork, g.blk);
      rb.add_image(*g.new_page, /*standard=*/true);
    } else {
      std::vector<std::uint8_t> delta = generic_delta(*g.old_page, *g.new_page);
      rb.add_block(id, g.rel, g.fork, g.blk, delta);
    }
  }
  return rb;
}

RecordBuilder make_fpi_record(RelFileNode rel, std::uint8_t fork, std::uint32_t blk,
                              const Page& page, bool standard) {
  RecordBuilder rb(RM_XLOG_ID, XLOG_FPI);
  rb.add_block(0, rel, fork, blk);
  rb.add_image(page, standard);
  return rb;
}

RecordBuilder make_fpw_change_record(bool full_page_writes) {
  RecordBuilder rb(RM_XLOG_ID, XLOG_FPW_CHANGE);
  std::uint8_t v = full_page_writes ? 1 : 0;
  rb.set_main_data(std::span<const std::uint8_t>(&v, 1));
  return rb;
}

RecordBuilder make_commit_record(std::uint32_t xid, std::int64_t xact_time, std::uint32_t xinfo,
                                 std::span<const std::uint8_t> xinfo_payload) {
  std::uint8_t info = XLOG_XACT_COMMIT;
  std::vector<std::uint8_t> body(8);
  store_u64(body.data(), static_cast<std::uint64_t>(xact_time));
  if (xinfo != 0) {
    info |= XLOG_XACT_HAS_INFO;
    if (xinfo & XACT_XINFO_HAS_RELFILENODES) info |= XLR_SPECIAL_REL_UPDATE;
    std::uint8_t x[4];
    store_u32(x, xinfo);
    body.insert(body.end(), x, x + 4);
    body.insert(body.end(), xinfo_payload.begin(), xinfo_payload.end());
  }
  RecordBuilder rb(RM_XACT_ID, info);
  rb.set_xid(xid);
  rb.set_main_data(body);
  return rb;
}

void encode_checkpoint(const CheckPoint& cp, std::uint8_t* out) {
  std::memset(out, 0, kCheckPointSize);
  store_u64(out + 0, cp.redo.value());
  store_u32(out + 8, cp.tli);
  store_u32(out + 12, cp.prev_tli);
  out[16] = cp.full_page_writes ? 1 : 0;
  store_u64(out + 24, cp.next_xid);
  store_u32(out + 32, cp.next_oid);
  store_u32(out + 36, cp.next_multi);
  store_u32(out + 40, cp.next_multi_offset);
  store_u32(out + 44, cp.oldest_xid);
  store_u32(out + 48, cp.oldest_xid_db);
  store_u32(out + 52, cp.oldest_multi);
  store_u32(out + 56, cp.oldest_multi_db);
  store_u64(out + 64, static_cast<std::uint64_t>(cp.time));
  store_u32(out + 72, cp.oldest_commit_ts_xid);
  store_u32(out + 76, cp.newest_commit_ts_xid);
  store_u32(out + 80, cp.oldest_active_xid);
}

base::Result<CheckPoint> decode_checkpoint(std::span<const std::uint8_t> body) {
  if (body.size() != kCheckPointSize) {
    return base::Unexpected{base::ErrorCode::kCorrupt,
                            fmt::format("checkpoint body is {} bytes, expected {}", body.size(),
                                        kCheckPointSize)};
  }
  const std::uint8_t* p = body.data();
  CheckPoint cp;
  cp.redo = Lsn(load_u64(p));
  cp.tli = load_u32(p + 8);
  cp.prev_tli = load_u32(p + 12);
  cp.full_page_writes = p[16] != 0;
  cp.next_xid = load_u64(p + 24);
  cp.next_oid = load_u32(p + 32);
  cp.next_multi = load_u32(p + 36);
  cp.next_multi_offset = load_u32(p + 40);
  cp.oldest_xid = load_u32(p + 44);
  cp.oldest_xid_db = load_u32(p + 48);
  cp.oldest_multi = load_u32(p + 52);
  cp.oldest_multi_db = load_u32(p + 56);
  cp.time = static_cast<std::int64_t>(load_u64(p + 64));
  cp.oldest_commit_ts_xid = load_u32(p + 72);
  cp.newest_commit_ts_xid = load_u32(p + 76);
  cp.oldest_active_xid = load_u32(p + 80);
  return cp;
}

RecordBuilder make_checkpoint_record(const CheckPoint& cp, bool shutdown) {
  RecordBuilder rb(RM_XLOG_ID, shutdown ? XLOG_CHECKPOINT_SHUTDOWN : XLOG_CHECKPOINT_ONLINE);
  std::uint8_t body[kCheckPointSize];
  encode_checkpoint(cp, body);
  rb.set_main_data(body);
  return rb;
}

RecordBuilder make_switch_record() { return RecordBuilder(RM_XLOG_ID, XLOG_SWITCH); }

// ---- WalWriter ---------------------------------------------------------------------------------

WalWriter::WalWriter(Lsn start, std::uint32_t tli, std::uint64_t sysid, std::uint64_t seg_size,
                     Lsn prev_record)
    : tli_(tli), sysid_(sysid), seg_size_(seg_size), bytes_start_(start), end_(start),
      prev_(prev_record) {
  WQ_ASSERT(valid_segment_size(seg_size), "invalid segment size {}", seg_size);
  WQ_ASSERT(start.value() % kMaxAlign == 0, "writer start {} not MAXALIGNed", start);
  WQ_ASSERT(is_page_aligned(start) || page_offset(start) >= page_header_size_at(page_start(start), seg_size),
            "writer start {} lies inside a page header", start);
}

Lsn WalWriter::next_record_lsn() const {
  if (is_page_aligned(end_)) return end_ + page_header_size_at(end_, seg_size_);
  return end_;
}

void WalWriter::write_page_header(std::uint32_t rem_len) {
  WQ_ASSERT(is_page_aligned(end_), "page header at {} not on a page boundary", end_);
  PageHeader h;
  h.info = 0;
  h.tli = tli_;
  h.pageaddr = end_;
  h.rem_len = rem_len;
  if (rem_len > 0) h.info |= XLP_FIRST_IS_CONTRECORD;
  if (bkp_removable_) h.info |= XLP_BKP_REMOVABLE;
  if (is_segment_aligned(end_, seg_size_)) {
    h.is_long = true;
    h.info |= XLP_LONG_HEADER;
    h.sysid = sysid_;
    h.seg_size = static_cast<std::uint32_t>(seg_size_);
    h.blcksz = kBlockSize;
  }
  std::size_t at = buf_.size();
  buf_.resize(at + h.size());
  encode_page_header(h, buf_.data() + at);
  end_ += h.size();
}

void WalWriter::append_zeros(std::uint64_t n) {
  buf_.resize(buf_.size() + n, 0);
  end_ += n;
}

WalWriter::Placed WalWriter::append_raw(std::span<const std::uint8_t> record,
                                        bool keep_prev_and_crc) {
  WQ_ASSERT(!padded_, "append after pad_to_segment_end");
  WQ_ASSERT(record.size() >= kRecordHeaderSize && load_u32(record.data()) == record.size(),
            "append_raw: xl_tot_len does not match {} bytes", record.size());
  if (is_page_aligned(end_)) write_page_header(0);
  Lsn start = end_;
  std::vector<std::uint8_t> rec(record.begin(), record.end());
  if (!keep_prev_and_crc) finalize_record(rec, prev_);

  std::size_t done = 0;
  while (done < rec.size()) {
    if (is_page_aligned(end_)) {
      write_page_header(static_cast<std::uint32_t>(rec.size() - done));
    }
    std::size_t page_left = kBlockSize - page_offset(end_);
    std::size_t n = std::min(page_left, rec.size() - done);
    buf_.insert(buf_.end(), rec.begin() + static_cast<std::ptrdiff_t>(done),
                rec.begin() + static_cast<std::ptrdiff_t>(done + n));
    end_ += n;
    done += n;
  }
  // MAXALIGN padding never crosses a page (pages are 8-aligned); a record that
  // ends at a page boundary leaves the next page header to the next record.
  append_zeros(maxalign(end_.value()) - end_.value());
  prev_ = start;
  return Placed{start, end_};
}

WalWriter::Placed WalWriter::append(const RecordBuilder& record) {
  std::vector<std::uint8_t> rec = record.build();
  return append_raw(rec);
}

WalWriter::Placed WalWriter::append_switch() {
  WQ_ASSERT(!padded_, "append after pad_to_segment_end");
  if (is_segment_aligned(end_, seg_size_)) return Placed{end_, end_};
  Placed placed = append(make_switch_record());
  Lsn seg_end = segment_start(segno_of(placed.start, seg_size_) + 1, seg_size_);
  append_zeros(seg_end - end_);
  return Placed{placed.start, end_};
}

void WalWriter::pad_to_segment_end() {
  if (!is_segment_aligned(end_, seg_size_)) {
    Lsn seg_end = segment_start(segno_of(end_, seg_size_) + 1, seg_size_);
    buf_.resize(buf_.size() + (seg_end - end_), 0);
  }
  padded_ = true;
}

std::vector<std::uint8_t> WalWriter::take_bytes() {
  std::vector<std::uint8_t> out;
  out.swap(buf_);
  bytes_start_ = bytes_start_ + out.size();
  return out;
}

}  // namespace wq::wal
