// Image restore: pglz (hand-made streams and real PG15 images), lz4 and zstd
// through the libraries, holes, and corrupt input.
#include <doctest/doctest.h>

#include <algorithm>
#include <cstring>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include <lz4.h>
#include <zstd.h>

#include "pageserver/image.h"
#include "wal/decoder.h"
#include "wal/encoder.h"

using namespace wq::pageserver;
using namespace wq::wal;

namespace {

std::vector<std::uint8_t> bytes_of(std::initializer_list<int> v) {
  std::vector<std::uint8_t> out;
  for (int x : v) out.push_back(static_cast<std::uint8_t>(x));
  return out;
}

// A standard heap-like page: header, line pointers, tuples at the end.
Page make_page(std::uint32_t seed, std::uint16_t lower = 40, std::uint16_t upper = 8000) {
  Page p{};
  store_u16(p.data() + 12, lower);
  store_u16(p.data() + 14, upper);
  store_u16(p.data() + 16, 8192);
  store_u16(p.data() + 18, 8192 | 4);
  for (std::uint32_t i = 24; i < lower; ++i) p[i] = static_cast<std::uint8_t>(seed + i);
  for (std::uint32_t i = upper; i < 8192; ++i) p[i] = static_cast<std::uint8_t>((seed * 7 + i / 3) & 0xFF);
  return p;
}

// A valid pglz stream of literals only (a control byte of 0 per eight bytes).
std::vector<std::uint8_t> pglz_literals(std::span<const std::uint8_t> raw) {
  std::vector<std::uint8_t> out;
  for (std::size_t i = 0; i < raw.size(); ++i) {
    if (i % 8 == 0) out.push_back(0);
    out.push_back(raw[i]);
  }
  return out;
}

// Decodes the single record `rb` placed by a WalWriter.
DecodedRecord decode_one(const RecordBuilder& rb, std::vector<std::uint8_t>& storage) {
  WalWriter w(Lsn(0x1000000), 1, 7);
  w.append(rb);
  storage = w.take_bytes();
  DecoderOptions opt;
  opt.start_is_page_aligned = true;
  StreamDecoder dec(Lsn(0x1000000), opt);
  dec.feed(storage);
  auto step = dec.next();
  REQUIRE(std::holds_alternative<DecodedRecord>(step));
  DecodedRecord r = std::get<DecodedRecord>(step);
  r.keep();
  return r;
}

Page restore_stored(std::span<const std::uint8_t> stored, std::uint16_t hole_off, std::uint16_t hole_len,
                    std::uint8_t bimg) {
  RecordBuilder rb(RM_XLOG_ID, XLOG_FPI);
  rb.add_block(0, RelFileNode{1663, 5, 16384}, MAIN_FORKNUM, 3);
  rb.add_stored_image(stored, hole_off, hole_len, bimg);
  std::vector<std::uint8_t> storage;
  DecodedRecord r = decode_one(rb, storage);
  Page out{};
  auto s = restore_block_image(r.blocks[0], r.bytes(), out);
  REQUIRE_MESSAGE(s.has_value(), s.error().message);
  return out;
}

std::vector<std::uint8_t> holeless(const Page& p, std::uint16_t off, std::uint16_t len) {
  std::vector<std::uint8_t> v(kBlockSize - len);
  std::memcpy(v.data(), p.data(), off);
  std::memcpy(v.data() + off, p.data() + off + len, kBlockSize - off - len);
  return v;
}

}  // namespace

TEST_CASE("pglz: literals, overlapping matches, extended lengths") {
  std::vector<std::uint8_t> out(12);
  // 'a' 'b' 'c' then a match of 9 bytes from 3 back: control bits 0,0,0,1.
  REQUIRE(pglz_decompress(bytes_of({0x08, 'a', 'b', 'c', 0x06, 0x03}), out));
  CHECK(std::string(out.begin(), out.end()) == "abcabcabcabc");

  // One literal then a 3-byte tag: length 18 + 100 from offset 1 (a run).
  std::vector<std::uint8_t> run(119);
  REQUIRE(pglz_decompress(bytes_of({0x02, 'z', 0x0F, 0x01, 100}), run));
  CHECK(std::all_of(run.begin(), run.end(), [](std::uint8_t c) { return c == 'z'; }));
  // Offsets above 255 use the high nibble of the first tag byte.
  std::vector<std::uint8_t> raw(296);
  for (std::size_t i = 0; i < raw.size(); ++i) raw[i] = static_cast<std::uint8_t>(i * 13);
  auto stream = pglz_literals(raw);
  stream.push_back(0x01);  // control: a tag
  stream.push_back(0x10 | 0x01);  // offset 0x100 | 0x10, length 4
  stream.push_back(0x10);
  std::vector<std::uint8_t> got(300);
  REQUIRE(pglz_decompress(stream, got));
  CHECK(std::equal(raw.begin(), raw.end(), got.begin()));
  for (int i = 0; i < 4; ++i) CHECK(got[296 + i] == raw[296 - 0x110 + i]);
}

TEST_CASE("pglz: corrupt streams are refused, never overrun") {
  std::vector<std::uint8_t> out(12);
  CHECK(pglz_decompress(bytes_of({0x01, 0x06, 0x03}), out).error().code ==
        wq::base::ErrorCode::kCorrupt);  // match before the start
  CHECK_FALSE(pglz_decompress(bytes_of({0x08, 'a', 'b', 'c', 0x06, 0x00}), out));  // offset 0
  CHECK_FALSE(pglz_decompress(bytes_of({0x08, 'a', 'b', 'c', 0x0F, 0x03, 200}), out));  // too long
  CHECK_FALSE(pglz_decompress(bytes_of({0x00, 'a', 'b'}), out));                     // short output
  CHECK_FALSE(pglz_decompress(bytes_of({0x08, 'a', 'b', 'c', 0x06}), out));          // cut tag
  std::vector<std::uint8_t> two(2);
  CHECK_FALSE(pglz_decompress(bytes_of({0x00, 'a', 'b', 'c'}), two));  // trailing input
}

TEST_CASE("restore: pglz, lz4 and zstd images with and without a hole") {
  const Page page = make_page(11);
  const std::uint16_t hole_off = 40, hole_len = 8000 - 40;
  Page expect = page;  // the hole is zero in make_page already
  auto raw = holeless(page, hole_off, hole_len);

  auto pglz = pglz_literals(raw);
  CHECK(restore_stored(pglz, hole_off, hole_len,
                       BKPIMAGE_HAS_HOLE | BKPIMAGE_APPLY | BKPIMAGE_COMPRESS_PGLZ) == expect);

  std::vector<std::uint8_t> lz(LZ4_compressBound(static_cast<int>(raw.size())));
  int n = LZ4_compress_default(reinterpret_cast<const char*>(raw.data()), reinterpret_cast<char*>(lz.data()),
                               static_cast<int>(raw.size()), static_cast<int>(lz.size()));
  REQUIRE(n > 0);
  lz.resize(static_cast<std::size_t>(n));
  CHECK(restore_stored(lz, hole_off, hole_len, BKPIMAGE_HAS_HOLE | BKPIMAGE_APPLY | BKPIMAGE_COMPRESS_LZ4) ==
        expect);

  std::vector<std::uint8_t> zs(ZSTD_compressBound(raw.size()));
  std::size_t zn = ZSTD_compress(zs.data(), zs.size(), raw.data(), raw.size(), 3);
  REQUIRE_FALSE(ZSTD_isError(zn));
  zs.resize(zn);
  CHECK(restore_stored(zs, hole_off, hole_len, BKPIMAGE_HAS_HOLE | BKPIMAGE_APPLY | BKPIMAGE_COMPRESS_ZSTD) ==
        expect);

  // No hole: the whole page compressed.
  std::vector<std::uint8_t> full(page.begin(), page.end());
  std::vector<std::uint8_t> zfull(ZSTD_compressBound(full.size()));
  zn = ZSTD_compress(zfull.data(), zfull.size(), full.data(), full.size(), 3);
  zfull.resize(zn);
  CHECK(restore_stored(zfull, 0, 0, BKPIMAGE_APPLY | BKPIMAGE_COMPRESS_ZSTD) == page);

  // Uncompressed with a hole goes through wal::restore_image.
  CHECK(restore_stored(raw, hole_off, hole_len, BKPIMAGE_HAS_HOLE | BKPIMAGE_APPLY) == expect);
}

TEST_CASE("restore: a compressed image of the wrong size is corrupt") {
  const Page page = make_page(3);
  auto raw = holeless(page, 40, 100);  // claims a 100-byte hole, page has 7960
  std::vector<std::uint8_t> zs(ZSTD_compressBound(raw.size()));
  std::size_t zn = ZSTD_compress(zs.data(), zs.size(), raw.data(), raw.size(), 3);
  zs.resize(zn);
  RecordBuilder rb(RM_XLOG_ID, XLOG_FPI);
  rb.add_block(0, RelFileNode{1663, 5, 16384}, MAIN_FORKNUM, 3);
  rb.add_stored_image(zs, 40, 200, BKPIMAGE_HAS_HOLE | BKPIMAGE_APPLY | BKPIMAGE_COMPRESS_ZSTD);
  std::vector<std::uint8_t> storage;
  DecodedRecord r = decode_one(rb, storage);
  Page out{};
  auto s = restore_block_image(r.blocks[0], r.bytes(), out);
  REQUIRE_FALSE(s);
  CHECK(s.error().code == wq::base::ErrorCode::kCorrupt);
  CHECK(s.error().message.find("zstd") != std::string::npos);
}

// Real images from a PG15 server (zstd, lz4, pglz; see tests/unit/wal/data/README):
// every one decompresses to exactly its expected size, and the restored page's
// header agrees with the hole PG recorded (pd_lower = hole start, pd_upper = hole end).
TEST_CASE("restore: every image in real PG15 WAL (zstd, lz4, pglz) gives a consistent page") {
  std::ifstream in(WAL_TEST_DATA_DIR "/pg15_seg12_first3pages.wal", std::ios::binary);
  std::vector<std::uint8_t> bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  REQUIRE(bytes.size() == 3 * kBlockSize);
  DecoderOptions opt;
  opt.seg_size = 1 << 20;
  opt.start_is_page_aligned = true;
  StreamDecoder dec(Lsn(0x1200000), opt);
  dec.feed(bytes);
  int seen[4] = {0, 0, 0, 0};
  for (int guard = 0; guard < 1000; ++guard) {
    auto step = dec.next();
    if (!std::holds_alternative<DecodedRecord>(step)) break;
    const DecodedRecord& r = std::get<DecodedRecord>(step);
    for (const BlockRef& b : r.blocks) {
      if (!b.has_image) continue;
      Page page{};
      auto s = restore_block_image(b, r.bytes(), page);
      REQUIRE_MESSAGE(s.has_value(), s.error().message);
      CHECK(load_u16(page.data() + 18) == (8192 | 4));
      if (b.hole_length > 0) {
        CHECK(load_u16(page.data() + 12) == b.hole_offset);
        CHECK(load_u16(page.data() + 14) == b.hole_offset + b.hole_length);
      }
      ++seen[b.compression];
    }
  }
  CHECK(seen[BlockRef::kZstd] > 0);
  CHECK(seen[BlockRef::kLz4] > 0);
  CHECK(seen[BlockRef::kPglz] > 0);
}

TEST_CASE("page LSN is stored as two little-endian halves") {
  Page p{};
  set_page_lsn(p, Lsn(0x0000000112345678));
  CHECK(load_u32(p.data()) == 1);
  CHECK(load_u32(p.data() + 4) == 0x12345678);
  CHECK(page_lsn(p) == Lsn(0x0000000112345678));
  CHECK(page_is_new(p));
}
