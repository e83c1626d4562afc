// Format constants, rmgr names and segment arithmetic.
#include <doctest/doctest.h>

#include <string>

#include "wal/format.h"

using namespace wq::wal;

TEST_CASE("rmgr names as pg_waldump prints them") {
  CHECK(std::string(rmgr_name(0)) == "XLOG");
  CHECK(std::string(rmgr_name(1)) == "Transaction");
  CHECK(std::string(rmgr_name(2)) == "Storage");
  CHECK(std::string(rmgr_name(9)) == "Heap2");
  CHECK(std::string(rmgr_name(10)) == "Heap");
  CHECK(std::string(rmgr_name(15)) == "Sequence");
  CHECK(std::string(rmgr_name(19)) == "ReplicationOrigin");
  CHECK(std::string(rmgr_name(20)) == "Generic");
  CHECK(std::string(rmgr_name(21)) == "LogicalMessage");
  CHECK(std::string(rmgr_name(22)) == "invalid");
  CHECK(std::string(rmgr_name(127)) == "invalid");
  CHECK(std::string(rmgr_name(128)) == "custom128");
  CHECK(std::string(rmgr_name(200)) == "custom200");
  CHECK(std::string(rmgr_name(255)) == "custom255");
  CHECK(rmgr_id_valid(21));
  CHECK(!rmgr_id_valid(22));
  CHECK(rmgr_id_valid(128));
}

TEST_CASE("segment sizes, numbers and names") {
  CHECK(valid_segment_size(1 << 20));
  CHECK(valid_segment_size(16 << 20));
  CHECK(valid_segment_size(1ull << 30));
  CHECK(!valid_segment_size(0));
  CHECK(!valid_segment_size(512 << 10));
  CHECK(!valid_segment_size(3 << 20));
  CHECK(!valid_segment_size(2ull << 30));

  CHECK(segno_of(Lsn(0x2000028), kDefaultSegmentSize) == 2);
  CHECK(prev_segno_of(Lsn(0x3000000), kDefaultSegmentSize) == 2);
  CHECK(segment_start(3, kDefaultSegmentSize) == Lsn(0x3000000));
  CHECK(segment_file_name(1, 2, kDefaultSegmentSize) == "000000010000000000000002");
  CHECK(segment_file_name(1, 256, kDefaultSegmentSize) == "000000010000000100000000");
  CHECK(segment_file_name(0xAB, 0x1FF, kDefaultSegmentSize) == "000000AB00000001000000FF");
  CHECK(segment_file_name(1, 5, 1ull << 30) == "000000010000000100000001");
  CHECK(segment_file_name(1, 4097, 1 << 20) == "000000010000000100000001");

  auto n = parse_segment_file_name("000000020000000100000003", kDefaultSegmentSize);
  REQUIRE(n);
  CHECK(n->tli == 2);
  CHECK(n->segno == 256 + 3);
  CHECK(!n->partial);
  auto p = parse_segment_file_name("000000010000000000000002.partial", kDefaultSegmentSize);
  REQUIRE(p);
  CHECK(p->partial);
  CHECK(p->segno == 2);
  for (const char* bad : {"", "00000001000000000000002", "0000000100000000000000020",
                          "00000001000000000000000a", "000000010000000000000100",
                          "000000010000000000000002.part", "000000010000000000000002.partialx"}) {
    auto r = parse_segment_file_name(bad, kDefaultSegmentSize);
    CHECK_MESSAGE(!r, bad);
    if (!r) CHECK(r.error().code == wq::base::ErrorCode::kInvalidArgument);
  }
  // Round trip for every valid size.
  for (std::uint64_t s = kMinSegmentSize; s <= kMaxSegmentSize; s <<= 1) {
    std::uint64_t segno = (0x123456789ull * 7) % (0x100000000ull / s * 1000);
    auto r = parse_segment_file_name(segment_file_name(7, segno, s), s);
    REQUIRE(r);
    CHECK(r->segno == segno);
    CHECK(r->tli == 7);
  }
}

TEST_CASE("record end LSNs follow PG's rules") {
  // Observed: 191 bytes at 0/10D3F40 end at the page boundary 0/10D4000.
  CHECK(record_end_lsn(Lsn(0x10D3F40), 191, kDefaultSegmentSize) == Lsn(0x10D4000));
  CHECK(record_end_lsn(Lsn(0x1000028), 114, kDefaultSegmentSize) == Lsn(0x10000A0));
  // Crossing a page: 100 bytes from 32 before the end: 68 continue after a 24-byte header.
  CHECK(record_end_lsn(Lsn(0x1001FE0), 100, kDefaultSegmentSize) == Lsn(0x1002000 + 24 + 72));
  // Crossing a segment: the continuation follows a 40-byte long header.
  CHECK(record_end_lsn(Lsn(0x1FFFFE0), 100, kDefaultSegmentSize) == Lsn(0x2000000 + 40 + 72));
  CHECK(maxalign(13) == 16);
  CHECK(is_page_aligned(Lsn(0x2000)));
  CHECK(page_header_size_at(Lsn(0x1000000), kDefaultSegmentSize) == 40);
  CHECK(page_header_size_at(Lsn(0x1002000), kDefaultSegmentSize) == 24);
}
