// Record encode/decode: the observed Generic record, block references, images
// with and without holes, compression flags, origin/top-level xid, main-data
// forms, every DecodeXLogRecord rejection, and what must NOT be rejected (§7.10).
#include <doctest/doctest.h>

#include <algorithm>
#include <cstring>
#include <vector>

#include "wal/crc32c.h"
#include "wal/encoder.h"
#include "wal/record.h"
#include "wal_test_util.h"

using namespace wq::wal;
using wq::base::ErrorCode;

namespace {

const RelFileNode kRel{1663, 5, 16398};

std::vector<std::uint8_t> finalized(const RecordBuilder& rb, Lsn prev = Lsn(0x2000028)) {
  auto r = rb.build();
  finalize_record(r, prev);
  return r;
}

// Decodes, expecting failure with the given fault and message prefix.
void expect_fault(std::vector<std::uint8_t> rec, RecordFault want, const std::string& prefix,
                  bool refresh_crc = true) {
  if (refresh_crc && rec.size() >= 24) store_u32(rec.data() + 20, compute_record_crc(rec));
  RecordFault f = RecordFault::kNone;
  auto r = decode_record(rec, Lsn(0x2000068), kDefaultSegmentSize, &f);
  REQUIRE(!r);
  CHECK(f == want);
  CHECK(r.error().code == ErrorCode::kCorrupt);
  CHECK_MESSAGE(r.error().message.rfind(prefix, 0) == 0, r.error().message);
}

DecodedRecord decode_ok(const std::vector<std::uint8_t>& rec) {
  auto r = decode_record(rec, Lsn(0x2000068));
  if (!r) FAIL(r.error().message);
  return std::move(r).value();
}

}  // namespace

TEST_CASE("observed Generic record layout (74 bytes)") {
  std::vector<std::uint8_t> delta(30, 0x11);
  RecordBuilder rb(RM_GENERIC_ID, 0);
  rb.set_xid(725).add_block(0, kRel, MAIN_FORKNUM, 4, delta);
  auto rec = finalized(rb);
  REQUIRE(rec.size() == 74);
  const std::uint8_t expect_hdr[] = {0x4a, 0, 0, 0, 0xd5, 0x02, 0, 0, 0x28, 0, 0, 0x02, 0, 0, 0, 0, 0x00, 0x14, 0, 0};
  CHECK(std::memcmp(rec.data(), expect_hdr, 20) == 0);
  const std::uint8_t expect_blk[] = {0x00, 0x20, 0x1e, 0x00, 0x7f, 0x06, 0, 0, 0x05, 0, 0, 0,
                                     0x0e, 0x40, 0, 0, 0x04, 0, 0, 0};
  CHECK(std::memcmp(rec.data() + 24, expect_blk, 20) == 0);
  // CRC: body first, then header bytes 0..19, final xor.
  std::uint32_t crc = crc32c_update(kCrc32cInit, rec.data() + 24, rec.size() - 24);
  crc = ~crc32c_update(crc, rec.data(), 20);
  CHECK(load_u32(rec.data() + 20) == crc);

  auto d = decode_ok(rec);
  CHECK(d.tot_len == 74);
  CHECK(d.xid == 725);
  CHECK(d.prev_lsn == Lsn(0x2000028));
  CHECK(d.rmid == RM_GENERIC_ID);
  REQUIRE(d.blocks.size() == 1);
  const BlockRef& b = d.blocks[0];
  CHECK(b.id == 0);
  CHECK(b.spc == 1663);
  CHECK(b.db == 5);
  CHECK(b.rel == 16398);
  CHECK(b.blk == 4);
  CHECK(b.has_data);
  CHECK(b.data_length == 30);
  CHECK(b.data_offset == 44);
  CHECK(!b.has_image);
  CHECK(d.main_data_len == 0);
  CHECK(d.end_lsn == Lsn(0x2000068 + 80));
}

TEST_CASE("SAME_REL, WILL_INIT, forks, origin, top-level xid and long main data") {
  std::vector<std::uint8_t> main(300);
  for (std::size_t i = 0; i < main.size(); ++i) main[i] = static_cast<std::uint8_t>(i);
  std::vector<std::uint8_t> d1 = {1, 2, 3};
  RecordBuilder rb(RM_HEAP_ID, 0x80);
  rb.set_xid(900).set_origin(7).set_toplevel_xid(850).set_main_data(main);
  rb.add_block(0, kRel, MAIN_FORKNUM, 10, d1, /*will_init=*/true);
  rb.add_block(1, kRel, VISIBILITYMAP_FORKNUM, 0);           // same rel as block 0
  rb.add_block(5, RelFileNode{1663, 5, 99}, FSM_FORKNUM, 2);  // different rel
  rb.add_block(6, RelFileNode{1663, 5, 99}, MAIN_FORKNUM, 3, d1);
  auto rec = finalized(rb);
  CHECK(rec.size() == rb.total_length());
  auto d = decode_ok(rec);
  d.set_bytes(rec);
  REQUIRE(d.blocks.size() == 4);
  CHECK(!d.blocks[0].same_rel);
  CHECK(d.blocks[0].will_init);
  CHECK(d.blocks[1].same_rel);
  CHECK(d.blocks[1].rel == 16398);
  CHECK(d.blocks[1].fork == VISIBILITYMAP_FORKNUM);
  CHECK(!d.blocks[2].same_rel);
  CHECK(d.blocks[2].rel == 99);
  CHECK(d.blocks[3].same_rel);
  CHECK(d.blocks[3].id == 6);
  CHECK(d.origin == std::optional<std::uint16_t>(7));
  CHECK(d.toplevel_xid == std::optional<std::uint32_t>(850));
  CHECK(d.main_data_len == 300);
  CHECK(std::vector<std::uint8_t>(d.main_data().begin(), d.main_data().end()) == main);
  CHECK(std::vector<std::uint8_t>(d.block_data(3).begin(), d.block_data(3).end()) == d1);
  CHECK(d.block_data(1).empty());
  // Long form header: 0xFE followed by a uint32.
  std::size_t hdr_at = rec.size() - 300 - 2 * 3 - 5;
  CHECK(rec[hdr_at] == XLR_BLOCK_ID_DATA_LONG);
  CHECK(load_u32(&rec[hdr_at + 1]) == 300);
}

TEST_CASE("full-page images: REGBUF_STANDARD hole rules and restore") {
  test::Prng rng(7);
  SUBCASE("hole [pd_lower, pd_upper)") {
    Page page = test::make_page(rng, 100, 8000);
    auto rec = finalized(make_fpi_record(kRel, MAIN_FORKNUM, 3, page));
    auto d = decode_ok(rec);
    REQUIRE(d.blocks.size() == 1);
    const BlockRef& b = d.blocks[0];
    CHECK(d.rmid == RM_XLOG_ID);
    CHECK(d.info == XLOG_FPI);
    CHECK(b.has_image);
    CHECK(b.apply_image);
    CHECK(!b.has_data);
    CHECK(b.hole_offset == 100);
    CHECK(b.hole_length == 7900);
    CHECK(b.image_length == 292);
    CHECK(b.bimg_info == (BKPIMAGE_HAS_HOLE | BKPIMAGE_APPLY));
    CHECK(b.compression == BlockRef::kNone);
    CHECK(d.fpi_bytes == 292);
    Page out{};
    REQUIRE(restore_image(b, rec, out));
    Page want = page;
    std::memset(want.data() + 100, 0, 7900);
    CHECK(out == want);
  }
  SUBCASE("pd_lower 0 (a hole at offset 0) means no hole") {
    Page page = test::make_page(rng, 0, 8000);
    auto rec = finalized(make_fpi_record(kRel, MAIN_FORKNUM, 3, page));
    auto d = decode_ok(rec);
    CHECK(d.blocks[0].image_length == 8192);
    CHECK(d.blocks[0].hole_offset == 0);
    CHECK(d.blocks[0].hole_length == 0);
    CHECK(d.blocks[0].bimg_info == BKPIMAGE_APPLY);
    Page out{};
    REQUIRE(restore_image(d.blocks[0], rec, out));
    CHECK(out == page);
  }
  SUBCASE("pd_lower below 24, pd_upper <= pd_lower, pd_upper > 8192, non-standard: no hole") {
    for (auto [lo, up, standard] : {std::tuple{20, 4000, true}, std::tuple{4000, 4000, true},
                                    std::tuple{100, 9000, true}, std::tuple{100, 8000, false}}) {
      Page page = test::make_page(rng, static_cast<std::uint16_t>(lo), static_cast<std::uint16_t>(up));
      auto d = decode_ok(finalized(make_fpi_record(kRel, MAIN_FORKNUM, 1, page, standard)));
      CHECK(d.blocks[0].image_length == 8192);
      CHECK(!(d.blocks[0].bimg_info & BKPIMAGE_HAS_HOLE));
    }
  }
  SUBCASE("consistency-check image keeps its data and has no APPLY") {
    Page page = test::make_page(rng, 200, 7000);
    std::vector<std::uint8_t> data = {9, 9, 9, 9};
    RecordBuilder rb(RM_GENERIC_ID, XLR_CHECK_CONSISTENCY);
    rb.add_block(0, kRel, MAIN_FORKNUM, 1, data).add_image(page, true, /*apply=*/false);
    auto rec = finalized(rb);
    auto d = decode_ok(rec);
    CHECK(d.blocks[0].has_image);
    CHECK(!d.blocks[0].apply_image);
    CHECK(d.blocks[0].has_data);
    CHECK(d.blocks[0].data_length == 4);
    // Payload order: image bytes, then block data.
    CHECK(d.blocks[0].data_offset == d.blocks[0].image_offset + d.blocks[0].image_length);
  }
  SUBCASE("compressed images: method, stored length and hole decoded, not decompressed") {
    auto stored = rng.bytes(100);
    for (auto [bit, method] : {std::pair{BKPIMAGE_COMPRESS_PGLZ, BlockRef::kPglz},
                               std::pair{BKPIMAGE_COMPRESS_LZ4, BlockRef::kLz4},
                               std::pair{BKPIMAGE_COMPRESS_ZSTD, BlockRef::kZstd}}) {
      RecordBuilder rb(RM_HEAP_ID, 0);
      rb.add_block(0, kRel, MAIN_FORKNUM, 1)
          .add_stored_image(stored, 200, 1000,
                            static_cast<std::uint8_t>(BKPIMAGE_APPLY | BKPIMAGE_HAS_HOLE | bit));
      rb.add_block(1, kRel, MAIN_FORKNUM, 2)
          .add_stored_image(stored, 0, 0, static_cast<std::uint8_t>(BKPIMAGE_APPLY | bit));
      auto rec = finalized(rb);
      // 24 + (4+5+2+12+4) + (4+5+4) + 200 = 264
      CHECK(rec.size() == 264);
      auto d = decode_ok(rec);
      REQUIRE(d.blocks.size() == 2);
      CHECK(d.blocks[0].compression == method);
      CHECK(d.blocks[0].image_length == 100);
      CHECK(d.blocks[0].hole_offset == 200);
      CHECK(d.blocks[0].hole_length == 1000);
      CHECK(d.blocks[1].compression == method);
      CHECK(d.blocks[1].hole_length == 0);
      CHECK(d.fpi_bytes == 200);
      Page out{};
      auto st = restore_image(d.blocks[0], rec, out);
      REQUIRE(!st);
      CHECK(st.error().code == ErrorCode::kUnsupported);
    }
  }
}

TEST_CASE("ready-made records have PG's sizes") {
  auto fpw = finalized(make_fpw_change_record(false));
  CHECK(fpw.size() == 27);
  auto d = decode_ok(fpw);
  CHECK(d.info == XLOG_FPW_CHANGE);
  CHECK(d.main_data_len == 1);
  CHECK(fpw[26] == 0);

  auto commit = finalized(make_commit_record(1234, 0x0002A0B0C0D0E0F0ll));
  CHECK(commit.size() == 34);
  d = decode_ok(commit);
  CHECK(d.rmid == RM_XACT_ID);
  CHECK(d.info == XLOG_XACT_COMMIT);
  CHECK(d.xid == 1234);
  CHECK(load_u64(commit.data() + 26) == 0x0002A0B0C0D0E0F0ull);

  std::vector<std::uint8_t> dbinfo(8, 0);
  store_u32(dbinfo.data(), 5);
  store_u32(dbinfo.data() + 4, 1663);
  auto commit2 = finalized(make_commit_record(1, 1, XACT_XINFO_HAS_DBINFO, dbinfo));
  d = decode_ok(commit2);
  CHECK(d.info == (XLOG_XACT_COMMIT | XLOG_XACT_HAS_INFO));
  CHECK(d.main_data_len == 20);

  CheckPoint cp;
  cp.redo = Lsn(0x3000028);
  cp.tli = 2;
  cp.prev_tli = 1;
  cp.next_xid = 0x100000735ull;
  cp.next_oid = 24576;
  cp.next_multi = 1;
  cp.oldest_xid = 716;
  cp.oldest_xid_db = 1;
  cp.oldest_multi = 1;
  cp.oldest_multi_db = 1;
  cp.time = 1700000000;
  cp.oldest_active_xid = 735;
  auto ck = finalized(make_checkpoint_record(cp));
  CHECK(ck.size() == 114);
  d = decode_ok(ck);
  CHECK(d.info == XLOG_CHECKPOINT_ONLINE);
  CHECK(d.main_data_len == 88);
  auto back = decode_checkpoint(std::span<const std::uint8_t>(ck.data() + 26, 88));
  REQUIRE(back);
  CHECK(*back == cp);
  CHECK(!decode_checkpoint(std::span<const std::uint8_t>(ck.data() + 26, 80)));
  CHECK(finalized(make_checkpoint_record(cp, true))[16] == XLOG_CHECKPOINT_SHUTDOWN);

  auto sw = finalized(make_switch_record());
  CHECK(sw.size() == 24);
  d = decode_ok(sw);
  CHECK(d.is_switch());
  CHECK(d.end_lsn == Lsn(0x3000000));  // the reader's end: next segment boundary
}

TEST_CASE("decode rejects what DecodeXLogRecord rejects") {
  auto base = [] { return std::vector<std::uint8_t>(24, 0); };
  auto with_body = [&](std::vector<std::uint8_t> body) {
    // Sized once, not insert() into the 24-byte header: GCC 12 -O3 warns
    // (-Warray-bounds, a false positive) on the latter.
    auto r = base();
    r.resize(kRecordHeaderSize + body.size());
    std::copy(body.begin(), body.end(), r.begin() + kRecordHeaderSize);
    store_u32(r.data(), static_cast<std::uint32_t>(r.size()));
    r[17] = RM_HEAP_ID;
    return r;
  };
  // Block header: id, fork_flags, data_length; RelFileNode; BlockNumber.
  auto blk = [](std::uint8_t id, std::uint8_t flags, std::uint16_t len) {
    std::vector<std::uint8_t> v = {id, flags, static_cast<std::uint8_t>(len), static_cast<std::uint8_t>(len >> 8)};
    return v;
  };
  auto cat = [](std::initializer_list<std::vector<std::uint8_t>> parts) {
    std::vector<std::uint8_t> v;
    for (auto& p : parts) v.insert(v.end(), p.begin(), p.end());
    return v;
  };
  std::vector<std::uint8_t> rnode(12, 1), blkno(4, 0);
  auto img = [](std::uint16_t len, std::uint16_t hole_off, std::uint8_t info) {
    return std::vector<std::uint8_t>{static_cast<std::uint8_t>(len), static_cast<std::uint8_t>(len >> 8),
                                     static_cast<std::uint8_t>(hole_off), static_cast<std::uint8_t>(hole_off >> 8), info};
  };

  SUBCASE("bad CRC") {
    auto r = with_body(cat({blk(0, 0, 0), rnode, blkno}));
    store_u32(r.data() + 20, compute_record_crc(r) ^ 1);
    expect_fault(r, RecordFault::kBadCrc, "incorrect resource manager data checksum in record at 0/2000068", false);
  }
  SUBCASE("length") {
    auto r = base();
    store_u32(r.data(), 20);
    expect_fault(r, RecordFault::kBadLength, "invalid record length at 0/2000068: wanted 24, got 20");
  }
  SUBCASE("rmgr") {
    auto r = with_body({});
    r[17] = 22;
    expect_fault(r, RecordFault::kBadRmgr, "invalid resource manager ID 22 at 0/2000068");
  }
  SUBCASE("out-of-order block id") {
    expect_fault(with_body(cat({blk(1, 0, 0), rnode, blkno, blk(1, 0x80, 0), blkno})),
                 RecordFault::kMalformed, "out-of-order block_id 1");
  }
  SUBCASE("invalid block id") {
    expect_fault(with_body(cat({blk(40, 0, 0), rnode, blkno})), RecordFault::kMalformed,
                 "invalid block_id 40");
  }
  SUBCASE("SAME_REL on the first block") {
    expect_fault(with_body(cat({blk(0, BKPBLOCK_SAME_REL, 0), blkno})), RecordFault::kMalformed,
                 "BKPBLOCK_SAME_REL set but no previous rel");
  }
  SUBCASE("HAS_DATA with no data, data without HAS_DATA") {
    expect_fault(with_body(cat({blk(0, BKPBLOCK_HAS_DATA, 0), rnode, blkno})), RecordFault::kMalformed,
                 "BKPBLOCK_HAS_DATA set, but no data included");
    expect_fault(with_body(cat({blk(0, 0, 3), rnode, blkno, {1, 2, 3}})), RecordFault::kMalformed,
                 "BKPBLOCK_HAS_DATA not set, but data length is 3");
  }
  SUBCASE("image hole checks") {
    std::vector<std::uint8_t> payload(8000, 0);
    expect_fault(with_body(cat({blk(0, BKPBLOCK_HAS_IMAGE, 0), img(8000, 0, BKPIMAGE_HAS_HOLE | BKPIMAGE_APPLY), rnode, blkno, payload})),
                 RecordFault::kMalformed, "BKPIMAGE_HAS_HOLE set, but hole offset 0 length 192");
    expect_fault(with_body(cat({blk(0, BKPBLOCK_HAS_IMAGE, 0), img(8000, 100, BKPIMAGE_APPLY), rnode, blkno, payload})),
                 RecordFault::kMalformed, "BKPIMAGE_HAS_HOLE not set, but hole offset 100 length 192");
    expect_fault(with_body(cat({blk(0, BKPBLOCK_HAS_IMAGE, 0), img(8000, 0, BKPIMAGE_APPLY), rnode, blkno, payload})),
                 RecordFault::kMalformed, "BKPIMAGE_HAS_HOLE not set, but hole offset 0 length 192");
    std::vector<std::uint8_t> full(8192, 0);
    expect_fault(with_body(cat({blk(0, BKPBLOCK_HAS_IMAGE, 0), img(8192, 0, BKPIMAGE_COMPRESS_LZ4), rnode, blkno, full})),
                 RecordFault::kMalformed, "BKPIMAGE_COMPRESSED set, but block image length 8192");
    std::vector<std::uint8_t> small(50, 0);
    expect_fault(with_body(cat({blk(0, BKPBLOCK_HAS_IMAGE, 0), img(50, 0, BKPIMAGE_COMPRESS_ZSTD | BKPIMAGE_HAS_HOLE), std::vector<std::uint8_t>{0, 0}, rnode, blkno, small})),
                 RecordFault::kMalformed, "BKPIMAGE_HAS_HOLE set, but hole offset 0 length 0");
  }
  SUBCASE("lengths that do not add up") {
    expect_fault(with_body(cat({blk(0, BKPBLOCK_HAS_DATA, 5), rnode, blkno, {1, 2, 3}})),
                 RecordFault::kMalformed, "record with invalid length at 0/2000068");
    expect_fault(with_body(cat({blk(0, 0, 0), rnode})), RecordFault::kMalformed,
                 "record with invalid length");
    expect_fault(with_body({XLR_BLOCK_ID_DATA_SHORT, 10, 1, 2}), RecordFault::kMalformed,
                 "record with invalid length");
    expect_fault(with_body({XLR_BLOCK_ID_DATA_SHORT, 1, 1, 2}), RecordFault::kMalformed,
                 "record with invalid length");
  }
  SUBCASE("a record whose tot_len disagrees with the bytes given") {
    auto r = with_body({XLR_BLOCK_ID_DATA_SHORT, 1, 7});
    r.push_back(0);
    expect_fault(r, RecordFault::kBadLength, "record length 27 at 0/2000068 does not match");
  }
}

TEST_CASE("decode accepts what PG15 accepts (§7.10)") {
  auto make = [](std::vector<std::uint8_t> body, std::uint8_t rmid = RM_HEAP_ID) {
    std::vector<std::uint8_t> r(kRecordHeaderSize + body.size(), 0);  // not insert(): see above
    std::copy(body.begin(), body.end(), r.begin() + kRecordHeaderSize);
    store_u32(r.data(), static_cast<std::uint32_t>(r.size()));
    r[17] = rmid;
    r[18] = 0x5A;  // header padding: only fed to the CRC
    r[19] = 0xA5;
    finalize_record(r, Lsn(0x10));
    return r;
  };
  std::vector<std::uint8_t> rn = {1, 0, 0, 0, 2, 0, 0, 0, 3, 0, 0, 0};
  // Origin and top-level xid between block headers, fork 7.
  auto r1 = make({0, 0x07, 0, 0, 1, 0, 0, 0, 2, 0, 0, 0, 3, 0, 0, 0, 9, 0, 0, 0,
                  XLR_BLOCK_ID_ORIGIN, 4, 0, XLR_BLOCK_ID_TOPLEVEL_XID, 8, 0, 0, 0,
                  2, 0x80, 0, 0, 10, 0, 0, 0});
  auto d = decode_ok(r1);
  REQUIRE(d.blocks.size() == 2);
  CHECK(d.blocks[0].fork == 7);
  CHECK(d.blocks[1].rel == 3);
  CHECK(d.origin == std::optional<std::uint16_t>(4));
  CHECK(d.toplevel_xid == std::optional<std::uint32_t>(8));
  // Short main-data header with length 0; long form for 3 bytes.
  CHECK(decode_record(make({XLR_BLOCK_ID_DATA_SHORT, 0}), Lsn(0x100)));
  auto r3 = decode_record(make({XLR_BLOCK_ID_DATA_LONG, 3, 0, 0, 0, 7, 8, 9}), Lsn(0x100));
  REQUIRE(r3);
  CHECK(r3->main_data_len == 3);
  CHECK(r3->main_data_offset == 29);
  // tot_len 24 on a record that is not XLOG_SWITCH; custom rmgr 200.
  CHECK(decode_record(make({}), Lsn(0x100)));
  CHECK(decode_record(make({}, 200), Lsn(0x100)));
}

TEST_CASE("generic delta: fragments, merging, holes, and apply") {
  test::Prng rng(99);
  Page old_page = test::make_page(rng, 200, 6000);
  SUBCASE("identical pages give an empty delta") {
    CHECK(generic_delta(old_page, old_page).empty());
  }
  SUBCASE("runs separated by <= 4 equal bytes merge, by 5 they do not") {
    Page n = old_page;
    n[100] ^= 1;
    n[105] ^= 1;  // 4 equal bytes between: merged into [100, 106)
    n[150] ^= 1;
    n[156] ^= 1;  // 5 equal bytes between: separate
    auto d = generic_delta(old_page, n);
    REQUIRE(d.size() == (4 + 6) + (4 + 1) + (4 + 1));
    CHECK(load_u16(&d[0]) == 100);
    CHECK(load_u16(&d[2]) == 6);
    CHECK(load_u16(&d[10]) == 150);
    CHECK(load_u16(&d[12]) == 1);
    CHECK(load_u16(&d[15]) == 156);
    CHECK(load_u16(&d[17]) == 1);
  }
  SUBCASE("the hole of the new page is ignored; newly valid bytes always included") {
    Page n = old_page;
    n[3000] ^= 0xFF;  // inside [pd_lower, pd_upper): ignored
    auto d = generic_delta(old_page, n);
    CHECK(d.empty());
    store_u16(n.data() + 12, 216);  // pd_lower grows by 16: bytes 200..215 were invalid
    d = generic_delta(old_page, n);
    REQUIRE(d.size() == (4 + 1) + (4 + 16));
    CHECK(load_u16(&d[0]) == 12);
    CHECK(load_u16(&d[5]) == 200);
    CHECK(load_u16(&d[7]) == 16);
  }
  SUBCASE("apply(old, delta) gives new with the hole zeroed (random pages)") {
    for (int iter = 0; iter < 200; ++iter) {
      auto lower = static_cast<std::uint16_t>(rng.range(24, 4000));
      auto upper = static_cast<std::uint16_t>(rng.range(lower, 8192));
      Page o = test::make_page(rng, static_cast<std::uint16_t>(rng.range(24, 4000)),
                               static_cast<std::uint16_t>(rng.range(4000, 8192)));
      Page n = o;
      store_u16(n.data() + 12, lower);
      store_u16(n.data() + 14, upper);
      int changes = static_cast<int>(rng.range(0, 40));
      for (int c = 0; c < changes; ++c) {
        std::size_t at = rng.range(0, 8191);
        if (at >= 12 && at < 16) continue;  // keep the new pd_lower/pd_upper
        n[at] = static_cast<std::uint8_t>(rng.next());
      }
      auto d = generic_delta(o, n);
      CHECK(d.size() <= 8192 + 8);
      Page applied = o;
      REQUIRE(apply_generic_delta(applied, d));
      Page want = n;
      std::uint32_t lo = load_u16(want.data() + 12), up = load_u16(want.data() + 14);
      if (lo < up) std::memset(want.data() + lo, 0, up - lo);
      REQUIRE(applied == want);
    }
  }
  SUBCASE("a fragment past the page is refused") {
    Page p = old_page;
    std::vector<std::uint8_t> bad = {0xF0, 0x1F, 0x20, 0x00};  // offset 8176 length 32
    bad.resize(4 + 32);
    CHECK(!apply_generic_delta(p, bad));
    std::vector<std::uint8_t> truncated = {1, 0};
    CHECK(!apply_generic_delta(p, truncated));
  }
  SUBCASE("generic record: deltas as block data, full image without data") {
    Page n = old_page;
    n[50] ^= 1;
    Page fresh = test::make_page(rng, 300, 7000);
    GenericBlock blocks[] = {
        {kRel, MAIN_FORKNUM, 4, &old_page, &n, false},
        {kRel, MAIN_FORKNUM, 5, &old_page, &old_page, false},  // unchanged: no data
        {kRel, MAIN_FORKNUM, 6, nullptr, &fresh, true},
    };
    auto rec = finalized(make_generic_record(725, blocks));
    auto d = decode_ok(rec);
    d.set_bytes(rec);
    REQUIRE(d.blocks.size() == 3);
    CHECK(d.rmid == RM_GENERIC_ID);
    CHECK(d.info == 0);
    CHECK(d.blocks[0].has_data);
    CHECK(d.blocks[0].data_length == 5);
    CHECK(!d.blocks[1].has_data);
    CHECK(d.blocks[1].same_rel);
    CHECK(d.blocks[2].has_image);
    CHECK(!d.blocks[2].has_data);
    CHECK(d.blocks[2].hole_offset == 300);
    CHECK(d.main_data_len == 0);
    Page applied = old_page;
    REQUIRE(apply_generic_delta(applied, d.block_data(0)));
    Page want = n;
    std::memset(want.data() + 200, 0, 5800);
    CHECK(applied == want);
  }
}
