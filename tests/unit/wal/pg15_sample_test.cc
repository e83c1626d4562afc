// Real PostgreSQL 15.x WAL: the first three pages of a 1 MiB segment written
// by a 15 server with wal_compression switching zstd -> lz4 -> pglz and
// wal_consistency_checking=heap (see data/README). The expected LSNs and
// lengths are pg_waldump's. The segment begins after an XLOG_SWITCH in the
// previous one, so its first record's xl_prev points back across the switch.
#include <doctest/doctest.h>

#include <fstream>
#include <iterator>
#include <utility>
#include <vector>

#include "wal/decoder.h"
#include "wal_test_util.h"

using namespace wq::wal;

namespace {

std::vector<std::uint8_t> read_sample() {
  std::ifstream in(WAL_TEST_DATA_DIR "/pg15_seg12_first3pages.wal", std::ios::binary);
  return std::vector<std::uint8_t>(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

// pg_waldump -s 0/1200000: lsn, xl_tot_len.
constexpr std::pair<std::uint64_t, std::uint32_t> kExpected[] = {
    {0x01200028, 161},  {0x012000D0, 46},   {0x01200100, 351},  {0x01200260, 364},
    {0x012003D0, 384},  {0x01200550, 408},  {0x012006E8, 404},  {0x01200880, 415},
    {0x01200A20, 428},  {0x01200BD0, 441},  {0x01200D90, 451},  {0x01200F58, 441},
    {0x01201118, 46},   {0x01201148, 862},  {0x012014A8, 1312}, {0x012019C8, 3873},
    {0x01202908, 869},  {0x01202C70, 1331}, {0x012031A8, 64},   {0x012031E8, 871},
    {0x01203550, 1350}, {0x01203A98, 64},   {0x01203AD8, 872},  {0x01203E40, 1364},
    {0x012043B0, 64},   {0x012043F0, 874},  {0x01204760, 1377}, {0x01204CC8, 64},
    {0x01204D08, 877},  {0x01205078, 1392}, {0x012055E8, 64},   {0x01205628, 879},
    {0x01205998, 1406}, {0x01205F18, 64},
};

}  // namespace

TEST_CASE("real PG15 WAL decodes exactly as pg_waldump reads it") {
  auto bytes = read_sample();
  REQUIRE(bytes.size() == 3 * kBlockSize);
  DecoderOptions opt;
  opt.seg_size = 1 << 20;
  opt.start_is_page_aligned = true;
  for (std::size_t chunk : {std::size_t{1} << 20, std::size_t{1}, std::size_t{333}}) {
    test::Prng rng(chunk);
    auto r = test::decode_all(Lsn(0x1200000), bytes, opt, chunk == (1u << 20) ? nullptr : &rng, chunk);
    REQUIRE(r.records.size() == std::size(kExpected));
    for (std::size_t i = 0; i < r.records.size(); ++i) {
      CHECK(r.records[i].start_lsn == Lsn(kExpected[i].first));
      CHECK(r.records[i].tot_len == kExpected[i].second);
    }
    CHECK(r.records[0].prev_lsn == Lsn(0x110D408));  // the XLOG_SWITCH in segment 0x11
    // The next record (0/1205F58, 881 bytes) continues on page 3, not in the sample.
    REQUIRE(r.end);
    CHECK(r.end->reason == EndReason::kEndOfInput);
    CHECK(r.end->lsn == Lsn(0x1205F58));
    CHECK(r.valid_end == Lsn(0x1205F58));
  }

  auto r = test::decode_all(Lsn(0x1200000), bytes, opt);
  // 0/1200028: HOT_UPDATE with a zstd image: hole 32+8096, 16 bytes saved.
  const BlockRef& z = r.records[0].blocks.at(0);
  CHECK(z.compression == BlockRef::kZstd);
  CHECK(z.apply_image);
  CHECK(z.hole_offset == 32);
  CHECK(z.hole_length == 8096);
  CHECK(z.image_length == 8192 - 8096 - 16);
  CHECK(z.rel == 16397);
  CHECK(r.records[0].block_image(0)[0] == 0x28);  // zstd frame magic 28 b5 2f fd
  CHECK(r.records[0].block_image(0)[3] == 0xFD);
  // 0/1200100: lz4, applied; 0/1200260: lz4 consistency-check image (no APPLY).
  const BlockRef& l = r.records[2].blocks.at(0);
  CHECK(l.compression == BlockRef::kLz4);
  CHECK(l.apply_image);
  CHECK(l.hole_offset == 68);
  CHECK(l.hole_length == 7684);
  CHECK(l.image_length == 8192 - 7684 - 242);
  CHECK(!r.records[3].blocks.at(0).apply_image);
  CHECK(r.records[3].blocks.at(0).has_data);
  // 0/12014A8: two blocks, pglz, the second a consistency-check image of block 0.
  const auto& two = r.records[14];
  REQUIRE(two.blocks.size() == 2);
  CHECK(two.blocks[0].compression == BlockRef::kPglz);
  CHECK(two.blocks[0].blk == 1639);
  CHECK(two.blocks[0].hole_length == 5264);
  CHECK(two.blocks[0].image_length == 8192 - 5264 - 2603);
  CHECK(!two.blocks[1].apply_image);
  CHECK(two.blocks[1].blk == 0);
  CHECK(two.blocks[1].same_rel);
  // The 3873-byte btree record crosses from page 0 into page 1.
  CHECK(r.records[15].end_lsn == record_end_lsn(Lsn(0x12019C8), 3873, 1 << 20));
  CHECK(r.records[15].end_lsn > Lsn(0x1202000));
}
