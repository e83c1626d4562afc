// libFuzzer target for src/wal's readers: StreamDecoder fed in input-chosen
// chunks, decode_record on the raw bytes, page-header decoding, and image
// restore / generic-delta apply on whatever decodes. Input layout: byte 0
// selects the start (segment start or the last page of a segment, so two
// pages cross a segment boundary), byte 1 seeds the chunk sizes, the rest is
// WAL starting there; with bit 4 of byte 0 the start is the page address the
// input's own first page header claims (so real PostgreSQL pages can seed the
// corpus). Nothing may crash, assert, leak or read out of bounds.
#include <cstddef>
#include <cstdint>
#include <span>
#include <variant>

#include "wal/decoder.h"
#include "wal/encoder.h"
#include "wal/page.h"
#include "wal/record.h"

namespace {

constexpr std::uint64_t kSeg = 1 << 20;

void exercise_record(const wq::wal::DecodedRecord& rec) {
  using namespace wq::wal;
  for (std::size_t i = 0; i < rec.blocks.size(); ++i) {
    const BlockRef& b = rec.blocks[i];
    if (b.has_image) {
      Page page{};
      (void)restore_image(b, rec.bytes(), page);
    }
    if (b.has_data && rec.rmid == RM_GENERIC_ID) {
      Page page{};
      (void)apply_generic_delta(page, rec.block_data(i));
    }
  }
  (void)rec.main_data();
  if (rec.rmid == RM_XLOG_ID && rec.rmgr_info() <= XLOG_CHECKPOINT_ONLINE) {
    (void)decode_checkpoint(rec.main_data());
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace wq::wal;
  if (size < 2) return 0;
  const std::uint8_t mode = data[0];
  std::uint32_t chunk_state = data[1] * 2654435761u + 1;
  std::span<const std::uint8_t> wal(data + 2, size - 2);

  Lsn start = (mode & 1) ? Lsn(2 * kSeg - kBlockSize) : Lsn(kSeg);
  if ((mode & 16) && wal.size() >= 16) {
    std::uint64_t claimed = load_u64(wal.data() + 8);
    claimed -= claimed % kBlockSize;
    if (claimed != 0 && claimed < (1ull << 62)) start = Lsn(claimed);
  }
  DecoderOptions opt;
  opt.seg_size = kSeg;
  opt.max_record_bytes = (mode & 2) ? 4096 : (1u << 20);
  opt.start_is_page_aligned = true;
  if (mode & 4) opt.expected_prev = Lsn(0);
  if ((mode & 8) && !(mode & 16)) {
    // Resume mid-page at the page's first record slot instead; the input starts there.
    start = (mode & 1) ? Lsn(2 * kSeg - kBlockSize + kShortPageHeaderSize)
                       : Lsn(kSeg + kLongPageHeaderSize);
    opt.start_is_page_aligned = false;
  }

  StreamDecoder dec(start, opt);
  std::size_t off = 0;
  bool ended = false;
  while (!ended) {
    if (off < wal.size()) {
      chunk_state = chunk_state * 1103515245u + 12345u;
      std::size_t n = 1 + (chunk_state >> 16) % 3000;
      if (n > wal.size() - off) n = wal.size() - off;
      dec.feed(wal.subspan(off, n));
      off += n;
    } else {
      dec.finish();
    }
    for (int guard = 0; guard < 100000; ++guard) {
      DecodeStep step = dec.next();
      if (auto* rec = std::get_if<DecodedRecord>(&step)) {
        exercise_record(*rec);
        continue;
      }
      if (std::holds_alternative<EndOfWal>(step)) ended = true;
      break;
    }
  }

  // The same bytes as one record, and as a page header.
  auto r = decode_record(wal, Lsn(kSeg + kLongPageHeaderSize), kSeg);
  if (r) {
    DecodedRecord rec = std::move(r).value();
    rec.set_bytes(wal);
    exercise_record(rec);
  }
  PageCheck check;
  check.seg_size = kSeg;
  (void)decode_page_header(wal, start - page_offset(start), check);
  return 0;
}
