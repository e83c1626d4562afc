// WalWriter -> StreamDecoder: round trips of every record kind under random
// chunking, and the placement edge cases of reference §1.3, §7.3, §7.4: records
// split across pages and segments, split headers, records ending exactly at a
// page boundary, XLOG_SWITCH, overwritten contrecords, and every way WAL ends.
#include <doctest/doctest.h>

#include <algorithm>
#include <cstring>
#include <vector>

#include "wal/decoder.h"
#include "wal/encoder.h"
#include "wal/page.h"
#include "wal_test_util.h"

using namespace wq::wal;
using test::decode_all;
using test::filler_record;
using test::Prng;

namespace {

constexpr std::uint64_t kSeg = 1 << 20;  // 1 MiB segments: crossings come quickly
constexpr std::uint64_t kSysid = 7000000000000000001ull;
const RelFileNode kRel{1663, 5, 16384};

DecoderOptions opts(std::uint32_t max_record = 64u << 20) {
  DecoderOptions o;
  o.seg_size = kSeg;
  o.max_record_bytes = max_record;
  return o;
}

// Byte of the stream at lsn, given the stream starts at base.
std::uint8_t* at(std::vector<std::uint8_t>& b, Lsn base, Lsn lsn) {
  return b.data() + (lsn - base);
}

struct Written {
  Lsn start, end;
  std::vector<std::uint8_t> bytes;  // the record as finalized
};

// Appends and remembers the finalized record bytes for comparison.
Written put(WalWriter& w, std::vector<std::uint8_t> rec) {
  finalize_record(rec, w.prev_record());
  auto placed = w.append_raw(rec, /*keep_prev_and_crc=*/true);
  return Written{placed.start, placed.end, std::move(rec)};
}
Written put(WalWriter& w, const RecordBuilder& rb) { return put(w, rb.build()); }

void check_same(const std::vector<DecodedRecord>& got, const std::vector<Written>& want) {
  REQUIRE(got.size() == want.size());
  for (std::size_t i = 0; i < want.size(); ++i) {
    CHECK(got[i].start_lsn == want[i].start);
    CHECK(got[i].end_lsn == want[i].end);
    CHECK(std::ranges::equal(got[i].bytes(), want[i].bytes));
  }
}

}  // namespace

TEST_CASE("round trip of every record kind under random chunking") {
  Prng rng(2024);
  Lsn start(kSeg);  // segment 1 as after initdb
  WalWriter w(start, 1, kSysid, kSeg);
  std::vector<Written> want;
  CheckPoint cp;
  cp.redo = w.next_record_lsn();
  want.push_back(put(w, make_checkpoint_record(cp, true)));
  Page pages[3];
  for (auto& p : pages) p = test::make_page(rng, 400, 7000);
  for (int i = 0; i < 400; ++i) {
    switch (rng.range(0, 8)) {
      case 0: want.push_back(put(w, make_fpw_change_record(i % 2 == 0))); break;
      case 1: want.push_back(put(w, make_commit_record(700 + i, 1000 * i))); break;
      case 2: want.push_back(put(w, make_fpi_record(kRel, MAIN_FORKNUM, i, pages[i % 3]))); break;
      case 3: {
        Page n = pages[0];
        n[rng.range(24, 300)] ^= 0x5A;
        n[rng.range(7000, 8191)] ^= 0x5A;
        GenericBlock g[] = {{kRel, MAIN_FORKNUM, 1, &pages[0], &n, false},
                            {kRel, MAIN_FORKNUM, 2, nullptr, &pages[1], true}};
        want.push_back(put(w, make_generic_record(800 + i, g)));
        break;
      }
      case 4: want.push_back(put(w, make_checkpoint_record(cp))); break;
      case 5: {
        RecordBuilder rb(RM_HEAP_ID, 0);
        auto data = rng.bytes(rng.range(1, 200));
        rb.set_xid(5).set_origin(3).set_toplevel_xid(4).add_block(0, kRel, 0, 9, data);
        rb.add_block(1, kRel, 0, 10, data, true);
        auto main = rng.bytes(rng.range(0, 600));
        rb.set_main_data(main);
        want.push_back(put(w, rb));
        break;
      }
      case 6: want.push_back(put(w, filler_record(static_cast<std::uint32_t>(rng.range(29, 30000)), 150))); break;
      case 7: want.push_back(put(w, filler_record(24))); break;
      default: {
        RecordBuilder rb(RM_BTREE_ID, 0x10);
        auto main = rng.bytes(rng.range(1, 20));
        rb.add_block(0, kRel, 0, 1).add_image(pages[2], true, false).set_main_data(main);
        want.push_back(put(w, rb));
      }
    }
  }
  REQUIRE(w.end_lsn() > Lsn(2 * kSeg));  // crossed at least one segment boundary
  auto bytes = w.take_bytes();
  REQUIRE(bytes.size() == w.end_lsn() - start);
  for (std::size_t max_chunk : {std::size_t{1} << 30, std::size_t{7}, std::size_t{100}, std::size_t{9000}, std::size_t{70000}}) {
    Prng chunks(max_chunk);
    auto r = decode_all(start, bytes, opts(), &chunks, max_chunk);
    check_same(r.records, want);
    REQUIRE(r.end);
    CHECK(r.end->reason == EndReason::kEndOfInput);
    CHECK(r.valid_end == w.end_lsn());
  }
  // The same WAL as segment files: zero-padded tail ends with a "got 0" record length.
  WalWriter w2(start, 1, kSysid, kSeg);
  for (auto& x : want) w2.append_raw(x.bytes, true);
  w2.pad_to_segment_end();
  auto padded = w2.take_bytes();
  CHECK(padded.size() % kSeg == 0);
  auto r = decode_all(start, padded, opts());
  CHECK(r.records.size() == want.size());
  REQUIRE(r.end);
  CHECK(r.valid_end == w.end_lsn());
  if (is_page_aligned(w.end_lsn())) {
    CHECK(r.end->reason == EndReason::kZeroPage);
  } else {
    CHECK(r.end->reason == EndReason::kBadLength);
    CHECK(r.end->zero_length);
    CHECK(r.end->message == fmt::format("invalid record length at {}: wanted 24, got 0", w.end_lsn()));
  }
}

TEST_CASE("a record split across a segment boundary") {
  Lsn start(kSeg);
  WalWriter w(start, 1, kSysid, kSeg);
  std::vector<Written> want;
  for (int i = 0; i < 1000 && w.next_record_lsn() < Lsn(2 * kSeg - kBlockSize); ++i) {
    want.push_back(put(w, filler_record(8000)));
  }
  std::size_t before = want.size();
  test::place_next_record(w, 64);  // its fillers are not in `want`: compare from `before` on
  want.resize(before);
  CHECK(w.next_record_lsn() == Lsn(2 * kSeg - 64));
  Written split = put(w, filler_record(1000));
  CHECK(split.end == Lsn(2 * kSeg + 40 + maxalign(1000 - 64)));
  Written last = put(w, make_commit_record(1, 2));
  auto bytes = w.take_bytes();
  auto h = decode_page_header(std::span<const std::uint8_t>(at(bytes, start, Lsn(2 * kSeg)), 40),
                              Lsn(2 * kSeg), kSeg);
  REQUIRE(h);
  CHECK(h->is_long);
  CHECK(h->info == (XLP_LONG_HEADER | XLP_BKP_REMOVABLE | XLP_FIRST_IS_CONTRECORD));
  CHECK(h->rem_len == 1000 - 64);
  Prng rng(5);
  auto r = decode_all(start, bytes, opts(), &rng, 50);
  REQUIRE(r.records.size() >= want.size() + 2);
  check_same(std::vector<DecodedRecord>(r.records.begin(), r.records.begin() + static_cast<std::ptrdiff_t>(want.size())), want);
  auto& got = r.records[r.records.size() - 2];
  CHECK(got.start_lsn == split.start);
  CHECK(got.end_lsn == split.end);
  CHECK(std::ranges::equal(got.bytes(), split.bytes));
  CHECK(r.records.back().start_lsn == last.start);
  CHECK(r.records.back().prev_lsn == split.start);
}

TEST_CASE("record header split across pages (8 or 16 bytes left)") {
  for (std::uint32_t left : {8u, 16u}) {
    CAPTURE(left);
    Lsn start(kSeg);
    WalWriter w(start, 1, kSysid, kSeg);
    std::vector<Written> want;
    want.push_back(put(w, filler_record(64)));
    test::place_next_record(w, left);
    // The placement fillers are records too: re-derive them from the writer.
    auto prefix_end = w.next_record_lsn();
    want.push_back(put(w, filler_record(100, 11, 0x30)));
    CHECK(want.back().start == prefix_end);
    CHECK(page_offset(want.back().start) == kBlockSize - left);
    want.push_back(put(w, make_fpw_change_record(true)));
    auto bytes = w.take_bytes();
    // Continuation page: rem_len counts the record bytes not yet written.
    Lsn page = page_start(want[want.size() - 2].start) + kBlockSize;
    PageHeader h = *decode_page_header(std::span<const std::uint8_t>(at(bytes, start, page), 24), page, kSeg);
    CHECK((h.info & XLP_FIRST_IS_CONTRECORD) != 0);
    CHECK(h.rem_len == 100 - left);
    for (std::size_t chunk : {std::size_t{1}, std::size_t{3}, std::size_t{4096}}) {
      Prng rng(chunk);
      auto r = decode_all(start, bytes, opts(), &rng, chunk);
      REQUIRE(r.records.size() >= 3);
      auto& split = r.records[r.records.size() - 2];
      CHECK(split.start_lsn == want[want.size() - 2].start);
      CHECK(std::ranges::equal(split.bytes(), want[want.size() - 2].bytes));
      CHECK(r.records.back().end_lsn == want.back().end);
    }
    // A bad prev-link in a split header is found once the header is reassembled.
    WalWriter w2(start, 1, kSysid, kSeg);
    w2.append_raw(filler_record(64));
    test::place_next_record(w2, left);
    auto bad = filler_record(100, 11, 0x30);
    finalize_record(bad, Lsn(0x12345678));
    Lsn bad_at = w2.append_raw(bad, true).start;
    auto b2 = w2.take_bytes();
    auto r = decode_all(start, b2, opts());
    REQUIRE(r.end);
    CHECK(r.end->reason == EndReason::kBadPrevLink);
    CHECK(r.end->lsn == bad_at);
    CHECK(r.end->message == fmt::format("record with incorrect prev-link 0/12345678 at {}", bad_at));
  }
}

TEST_CASE("records ending exactly at a page or segment boundary (§7.4)") {
  Lsn start(kSeg);
  WalWriter w(start, 1, kSysid, kSeg);
  std::vector<Written> want;
  // Fill page 0 exactly: 8192 - 40 bytes.
  want.push_back(put(w, filler_record(kBlockSize - 40)));
  CHECK(want[0].end == start + kBlockSize);
  CHECK(w.end_lsn() == start + kBlockSize);
  CHECK(w.next_record_lsn() == start + kBlockSize + 24);
  // A record ending 3 bytes before the page end also ends at the boundary.
  want.push_back(put(w, filler_record(kBlockSize - 24 - 3)));
  CHECK(want[1].start == start + kBlockSize + 24);
  CHECK(want[1].end == start + 2 * kBlockSize);
  // Now fill up to exactly the segment end.
  std::uint64_t left = (2 * kSeg) - w.next_record_lsn().value();
  // Use a record spanning many pages that ends exactly at the segment end.
  std::uint64_t pages_left = (2 * kSeg - (start.value() + 2 * kBlockSize)) / kBlockSize;
  std::uint32_t tot = static_cast<std::uint32_t>(pages_left * (kBlockSize - 24));
  (void)left;
  want.push_back(put(w, filler_record(tot)));
  CHECK(want[2].end == Lsn(2 * kSeg));
  want.push_back(put(w, make_commit_record(3, 4)));
  CHECK(want[3].start == Lsn(2 * kSeg + 40));
  auto bytes = w.take_bytes();
  auto h = decode_page_header(std::span<const std::uint8_t>(at(bytes, start, start + kBlockSize), 24),
                              start + kBlockSize, kSeg);
  REQUIRE(h);
  CHECK(h->info == XLP_BKP_REMOVABLE);
  CHECK(h->rem_len == 0);
  auto h2 = decode_page_header(std::span<const std::uint8_t>(at(bytes, start, Lsn(2 * kSeg)), 40),
                               Lsn(2 * kSeg), kSeg);
  REQUIRE(h2);
  CHECK((h2->info & XLP_FIRST_IS_CONTRECORD) == 0);
  Prng rng(11);
  auto r = decode_all(start, bytes, opts(), &rng, 3000);
  check_same(r.records, want);
  // Fed only up to the boundary, the decoder returns the record without
  // needing the next page.
  StreamDecoder d(start, opts());
  d.feed(std::span<const std::uint8_t>(bytes.data(), kBlockSize));
  auto s = d.next();
  REQUIRE(std::holds_alternative<DecodedRecord>(s));
  CHECK(std::get<DecodedRecord>(s).end_lsn == start + kBlockSize);
  CHECK(std::holds_alternative<NeedMore>(d.next()));
  CHECK(d.end_of_valid_wal() == start + kBlockSize);
}

TEST_CASE("maximal records and the max_record_bytes limit") {
  Lsn start(kSeg);
  const std::uint32_t kMax = 200000;
  WalWriter w(start, 1, kSysid, kSeg);
  std::vector<Written> want;
  want.push_back(put(w, filler_record(kMax)));
  Lsn too_big_at = w.next_record_lsn();
  want.push_back(put(w, filler_record(kMax + 8)));
  auto bytes = w.take_bytes();
  auto r = decode_all(start, bytes, opts(kMax));
  REQUIRE(r.records.size() == 1);
  CHECK(r.records[0].tot_len == kMax);
  REQUIRE(r.end);
  CHECK(r.end->reason == EndReason::kRecordTooLarge);
  CHECK(r.end->lsn == too_big_at);
  CHECK(r.valid_end == want[0].end);
  // With the default limit, a 3 MiB record spanning four 1 MiB segments decodes.
  WalWriter w2(start, 1, kSysid, kSeg);
  auto big = put(w2, filler_record(3u << 20));
  auto b2 = w2.take_bytes();
  Prng rng(3);
  auto r2 = decode_all(start, b2, opts(), &rng, 1 << 16);
  REQUIRE(r2.records.size() == 1);
  CHECK(std::ranges::equal(r2.records[0].bytes(), big.bytes));
  CHECK(r2.records[0].end_lsn == big.end);
}

TEST_CASE("bounded buffering: after NeedMore almost nothing is held") {
  Lsn start(kSeg);
  WalWriter w(start, 1, kSysid, kSeg);
  Prng rng(8);
  for (int i = 0; i < 300; ++i) w.append_raw(filler_record(static_cast<std::uint32_t>(rng.range(29, 20000))));
  auto bytes = w.take_bytes();
  StreamDecoder d(start, opts(30000));
  std::size_t off = 0, records = 0;
  while (off < bytes.size()) {
    std::size_t n = std::min<std::size_t>(bytes.size() - off, rng.range(1, 65536));
    d.feed(std::span<const std::uint8_t>(bytes.data() + off, n));
    off += n;
    for (int g = 0; g < 100000; ++g) {
      auto s = d.next();
      if (std::holds_alternative<DecodedRecord>(s)) { ++records; continue; }
      REQUIRE(std::holds_alternative<NeedMore>(s));
      break;
    }
    CHECK(d.buffered_input() < kLongPageHeaderSize);
    CHECK(d.buffered_record() <= 30000);
  }
  CHECK(records == 300);
}

TEST_CASE("starting at a page boundary skips a leading continuation") {
  Lsn start(kSeg);
  WalWriter w(start, 1, kSysid, kSeg);
  std::vector<Written> want;
  want.push_back(put(w, filler_record(100)));
  want.push_back(put(w, filler_record(5 * kBlockSize)));  // continues over ~5 pages
  want.push_back(put(w, make_commit_record(9, 9)));
  want.push_back(put(w, make_fpw_change_record(true)));
  auto bytes = w.take_bytes();
  for (std::uint64_t page = 1; page <= 5; ++page) {
    Lsn from = start + page * kBlockSize;
    auto sub = std::span<const std::uint8_t>(bytes).subspan(from - start);
    DecoderOptions o = opts();
    o.start_is_page_aligned = true;
    auto r = decode_all(from, sub, o);
    REQUIRE(r.records.size() == 2);
    CHECK(r.records[0].start_lsn == want[2].start);
    CHECK(r.records[1].start_lsn == want[3].start);
  }
  // Resuming mid-page at a record start with the expected prev.
  DecoderOptions o = opts();
  o.expected_prev = want[1].start;
  auto sub = std::span<const std::uint8_t>(bytes).subspan(want[2].start - start);
  auto r = decode_all(want[2].start, sub, o);
  REQUIRE(r.records.size() == 2);
  o.expected_prev = want[0].start;
  r = decode_all(want[2].start, sub, o);
  CHECK(r.records.empty());
  REQUIRE(r.end);
  CHECK(r.end->reason == EndReason::kBadPrevLink);
  // A start inside a page header is refused.
  r = decode_all(start + kBlockSize + 8, sub, opts());
  REQUIRE(r.end);
  CHECK(r.end->reason == EndReason::kBadHeader);
  CHECK(r.end->message == fmt::format("invalid record offset at {}", start + kBlockSize + 8));
}

TEST_CASE("XLOG_SWITCH: zeroed tail, next record after the next segment's header") {
  Lsn start(kSeg);
  WalWriter w(start, 1, kSysid, kSeg);
  std::vector<Written> want;
  want.push_back(put(w, make_commit_record(1, 1)));
  auto sw = w.append_switch();
  CHECK(sw.end == Lsn(2 * kSeg));
  auto after = put(w, make_commit_record(2, 2));
  CHECK(after.start == Lsn(2 * kSeg + 40));
  auto bytes = w.take_bytes();
  // Everything after the switch record up to the segment end is zero.
  std::size_t sw_end = (sw.start - start) + 24;
  CHECK(std::all_of(bytes.begin() + static_cast<std::ptrdiff_t>(sw_end),
                    bytes.begin() + static_cast<std::ptrdiff_t>(kSeg), [](std::uint8_t b) { return b == 0; }));
  Prng rng(1);
  auto r = decode_all(start, bytes, opts(), &rng, 100000);
  REQUIRE(r.records.size() == 3);
  CHECK(r.records[1].is_switch());
  CHECK(r.records[1].end_lsn == Lsn(2 * kSeg));
  CHECK(r.records[2].start_lsn == Lsn(2 * kSeg + 40));
  CHECK(r.records[2].prev_lsn == sw.start);
  // At a segment boundary no switch record is written.
  WalWriter w2(start, 1, kSysid, kSeg);
  CHECK(w2.append_switch().end == start);  // nothing written at a segment start
  w2.append(make_commit_record(1, 1));
  w2.append_switch();
  auto none = w2.append_switch();
  CHECK(none.start == none.end);
  CHECK(none.end == Lsn(2 * kSeg));
}

TEST_CASE("XLOG_SWITCH straddling a page keeps the header of the page it ends on") {
  Lsn start(kSeg);
  WalWriter w(start, 1, kSysid, kSeg);
  w.append_raw(filler_record(64));
  test::place_next_record(w, 8);
  auto sw = w.append_switch();
  auto after = put(w, make_commit_record(2, 2));
  auto bytes = w.take_bytes();
  Lsn page = page_start(sw.start) + kBlockSize;
  auto h = decode_page_header(std::span<const std::uint8_t>(at(bytes, start, page), 24), page, kSeg);
  REQUIRE(h);
  CHECK((h->info & XLP_FIRST_IS_CONTRECORD) != 0);
  CHECK(h->rem_len == 16);
  auto r = decode_all(start, bytes, opts());
  REQUIRE(!r.records.empty());
  CHECK(r.records.back().start_lsn == after.start);
  CHECK(r.records[r.records.size() - 2].is_switch());
}

TEST_CASE("OVERWRITE_CONTRECORD drops the aborted record") {
  Lsn start(kSeg);
  WalWriter w(start, 1, kSysid, kSeg);
  auto a = put(w, make_commit_record(1, 1));
  test::place_next_record(w, 200);
  Lsn filler_prev = w.prev_record();
  auto aborted = put(w, filler_record(1000));
  (void)aborted;
  auto bytes = w.take_bytes();
  Lsn missing = page_start(aborted.start) + kBlockSize;
  bytes.resize(missing - start);  // the continuation never made it to disk
  // The new page after the crash: OVERWRITE flag, rem_len 0, prev = last complete record.
  WalWriter w2(missing, 1, kSysid, kSeg, filler_prev);
  std::vector<std::uint8_t> body(16);
  store_u64(body.data(), aborted.start.value());
  store_u64(body.data() + 8, 123);
  RecordBuilder ow(RM_XLOG_ID, XLOG_OVERWRITE_CONTRECORD);
  ow.set_main_data(body);
  auto owp = w2.append(ow);
  auto tail = w2.take_bytes();
  CHECK(w2.end_lsn() - owp.start == 48);  // 42 bytes, MAXALIGNed
  tail[2] |= XLP_FIRST_IS_OVERWRITE_CONTRECORD;
  bytes.insert(bytes.end(), tail.begin(), tail.end());
  auto r = decode_all(start, bytes, opts());
  REQUIRE(!r.records.empty());
  CHECK(r.records[0].start_lsn == a.start);
  CHECK(r.records.back().start_lsn == owp.start);
  CHECK(r.records.back().info == XLOG_OVERWRITE_CONTRECORD);
  CHECK(r.records.back().tot_len == 42);
  for (auto& rec : r.records) CHECK(rec.start_lsn != aborted.start);
}

TEST_CASE("where WAL ends, and why") {
  Lsn start(kSeg);
  WalWriter w(start, 1, kSysid, kSeg);
  std::vector<Written> want;
  for (int i = 0; i < 20; ++i) want.push_back(put(w, filler_record(1500 + 8 * i)));
  auto good = w.take_bytes();  // ~30 KB: four pages

  SUBCASE("torn last page: second half zeros") {
    auto b = good;
    std::size_t tear = 3 * kBlockSize + 4000;
    std::fill(b.begin() + static_cast<std::ptrdiff_t>(tear), b.end(), 0);
    Prng rng(4);
    auto r = decode_all(start, b, opts(), &rng, 500);
    REQUIRE(r.end);
    CHECK((r.end->reason == EndReason::kBadCrc || r.end->reason == EndReason::kBadLength));
    CHECK(r.valid_end <= start + tear);
    for (auto& rec : r.records) CHECK(rec.end_lsn <= start + tear);
    CHECK(r.records.size() < want.size());
    CHECK(r.valid_end == r.records.back().end_lsn);
  }
  SUBCASE("input ends mid-record: NeedMore, then kEndOfInput after finish()") {
    std::size_t cut = 2 * kBlockSize + 100;
    StreamDecoder d(start, opts());
    d.feed(std::span<const std::uint8_t>(good.data(), cut));
    std::size_t n = 0;
    for (;;) {
      auto s = d.next();
      if (std::holds_alternative<DecodedRecord>(s)) { ++n; continue; }
      CHECK(std::holds_alternative<NeedMore>(s));
      break;
    }
    CHECK(d.position() == start + cut);  // nothing past the input is read
    d.finish();
    auto s = d.next();
    REQUIRE(std::holds_alternative<EndOfWal>(s));
    CHECK(std::get<EndOfWal>(s).reason == EndReason::kEndOfInput);
    CHECK(d.end_of_valid_wal() == want[n - 1].end);
    CHECK(std::holds_alternative<EndOfWal>(d.next()));  // sticky
  }
  SUBCASE("zeroed page where a continuation should be") {
    auto b = good;
    std::fill(b.begin() + kBlockSize, b.begin() + 2 * kBlockSize, 0);
    auto r = decode_all(start, b, opts());
    REQUIRE(r.end);
    CHECK(r.end->reason == EndReason::kZeroPage);
    CHECK(r.end->lsn == start + kBlockSize);
    CHECK(r.end->message == "invalid magic number 0000 in log segment 000000010000000000000001, offset 8192");
  }
  SUBCASE("stale pageaddr") {
    auto b = good;
    store_u64(b.data() + 2 * kBlockSize + 8, (start + 2 * kBlockSize).value() - kSeg);
    auto r = decode_all(start, b, opts());
    REQUIRE(r.end);
    CHECK(r.end->reason == EndReason::kStalePageAddr);
    CHECK(r.end->lsn == start + 2 * kBlockSize);
    CHECK(r.end->message.rfind("unexpected pageaddr 0/4000 in log segment", 0) == 0);
  }
  SUBCASE("bad CRC") {
    auto b = good;
    *at(b, start, want[5].start + 100) ^= 1;
    auto r = decode_all(start, b, opts());
    REQUIRE(r.end);
    CHECK(r.end->reason == EndReason::kBadCrc);
    CHECK(r.end->lsn == want[5].start);
    CHECK(r.records.size() == 5);
    CHECK(r.valid_end == want[4].end);
    CHECK(r.end->message == fmt::format("incorrect resource manager data checksum in record at {}", want[5].start));
  }
  SUBCASE("bad rmgr id") {
    auto b = good;
    *at(b, start, want[3].start + 17) = 50;
    auto r = decode_all(start, b, opts());
    REQUIRE(r.end);
    CHECK(r.end->reason == EndReason::kBadRmgr);
    CHECK(r.end->message == fmt::format("invalid resource manager ID 50 at {}", want[3].start));
  }
  SUBCASE("missing contrecord flag, wrong rem_len, unexpected contrecord") {
    auto b = good;
    b[kBlockSize + 2] &= static_cast<std::uint8_t>(~XLP_FIRST_IS_CONTRECORD);
    auto r = decode_all(start, b, opts());
    REQUIRE(r.end);
    CHECK(r.end->reason == EndReason::kBadContrecord);
    CHECK(r.end->message == fmt::format("there is no contrecord flag at {}", start + kBlockSize));
    b = good;
    std::uint32_t rem = load_u32(b.data() + kBlockSize + 16);
    store_u32(b.data() + kBlockSize + 16, rem + 1);
    r = decode_all(start, b, opts());
    REQUIRE(r.end);
    CHECK(r.end->reason == EndReason::kBadContrecord);
    CHECK(r.end->message == fmt::format("invalid contrecord length {} (expected {}) at {}", rem + 1, rem, start + kBlockSize));
  }
  SUBCASE("timeline going down") {
    auto b = good;
    store_u32(b.data() + 4, 5);  // first page tli 5, later pages tli 1
    auto r = decode_all(start, b, opts());
    REQUIRE(r.end);
    CHECK(r.end->reason == EndReason::kBadHeader);
    CHECK(r.end->message.rfind("out-of-sequence timeline ID 1 (after 5)", 0) == 0);
  }
  SUBCASE("bad magic") {
    auto b = good;
    b[kBlockSize] = 0x0D;  // D10D: PG14
    auto r = decode_all(start, b, opts());
    REQUIRE(r.end);
    CHECK(r.end->reason == EndReason::kBadMagic);
  }
  SUBCASE("malformed body with a valid CRC") {
    WalWriter w2(start, 1, kSysid, kSeg);
    w2.append_raw(filler_record(64));
    auto bad = filler_record(64);
    bad[24] = 40;  // invalid block_id
    Lsn bad_at = w2.append_raw(bad).start;
    auto b = w2.take_bytes();
    auto r = decode_all(start, b, opts());
    REQUIRE(r.end);
    CHECK(r.end->reason == EndReason::kMalformedRecord);
    CHECK(r.end->message == fmt::format("invalid block_id 40 at {}", bad_at));
  }
}

TEST_CASE("a garbage xl_tot_len below the limit allocates only what arrives") {
  Lsn start(kSeg);
  WalWriter w(start, 1, kSysid, kSeg);
  auto first = put(w, filler_record(100));
  Lsn huge_at = w.next_record_lsn();
  auto bytes = w.take_bytes();
  bytes.resize(huge_at - start);
  // A header that passes every check made before the body: 1000 MiB long
  // (under the default 1020 MiB cap), valid rmgr, xl_prev = the last record.
  std::uint8_t hdr[kRecordHeaderSize] = {};
  store_u32(hdr, 1000u << 20);
  store_u64(hdr + 8, first.start.value());
  bytes.insert(bytes.end(), hdr, hdr + sizeof hdr);
  bytes.resize(bytes.size() + 300, 0xAB);
  DecoderOptions o;  // the default max_record_bytes
  o.seg_size = kSeg;
  StreamDecoder d(start, o);
  d.feed(bytes);
  auto s1 = d.next();
  REQUIRE(std::holds_alternative<DecodedRecord>(s1));
  auto s2 = d.next();
  REQUIRE(std::holds_alternative<NeedMore>(s2));
  CHECK(d.buffered_record() == kRecordHeaderSize + 300);
  d.finish();
  auto s3 = d.next();
  REQUIRE(std::holds_alternative<EndOfWal>(s3));
  CHECK(std::get<EndOfWal>(s3).reason == EndReason::kEndOfInput);
  CHECK(std::get<EndOfWal>(s3).lsn == huge_at);
  CHECK(!std::get<EndOfWal>(s3).zero_length);
}

TEST_CASE("fed bytes are read in place: reusing the buffer after NeedMore is safe") {
  Lsn start(kSeg);
  WalWriter w(start, 1, kSysid, kSeg);
  std::vector<Written> want;
  Prng rng(21);
  for (int i = 0; i < 200; ++i) {
    want.push_back(put(w, filler_record(static_cast<std::uint32_t>(rng.range(29, 12000)))));
  }
  auto bytes = w.take_bytes();
  for (std::size_t max_chunk : {std::size_t{7}, std::size_t{100}, std::size_t{9000}, std::size_t{70000}}) {
    StreamDecoder d(start, opts());
    std::vector<DecodedRecord> got;
    std::vector<std::uint8_t> scratch;
    std::size_t off = 0;
    bool fed_twice = false;
    while (off < bytes.size()) {
      std::size_t n = std::min<std::size_t>(bytes.size() - off, rng.range(1, max_chunk));
      scratch.assign(bytes.begin() + static_cast<std::ptrdiff_t>(off),
                     bytes.begin() + static_cast<std::ptrdiff_t>(off + n));
      d.feed(scratch);
      off += n;
      // Now and then feed a second chunk before draining (the decoder copies then).
      std::vector<std::uint8_t> extra;
      if (!fed_twice && off < bytes.size() && rng.range(0, 9) == 0) {
        std::size_t m = std::min<std::size_t>(bytes.size() - off, rng.range(1, max_chunk));
        extra.assign(bytes.begin() + static_cast<std::ptrdiff_t>(off),
                     bytes.begin() + static_cast<std::ptrdiff_t>(off + m));
        d.feed(extra);
        off += m;
        fed_twice = true;
      }
      for (int g = 0; g < 100000; ++g) {
        auto s = d.next();
        if (auto* r = std::get_if<DecodedRecord>(&s)) {
          r->keep();
          got.push_back(std::move(*r));
          continue;
        }
        REQUIRE(std::holds_alternative<NeedMore>(s));
        break;
      }
      // The caller's buffers may be scribbled on once NeedMore was returned.
      std::fill(scratch.begin(), scratch.end(), 0xEE);
      std::fill(extra.begin(), extra.end(), 0xEE);
      CHECK(d.buffered_input() < kLongPageHeaderSize);
    }
    check_same(got, want);
  }
}
