// proposer/wal_tail: the last record start before term_start_lsn is found in
// windows of WalWriter output that end at every record end, whatever the
// window's width: records crossing pages and segments, a record ending exactly
// at a page boundary, one record wider than the window (widened by doubling as
// the client does), and corrupt or misaligned input.
#include "proposer/wal_tail.h"

#include <doctest/doctest.h>

#include <vector>

#include "wal/encoder.h"

namespace wq::proposer {

namespace {

constexpr std::uint64_t kSeg = 1024 * 1024;  // small segments: crossings are cheap
const Lsn kFloor{kSeg};                      // the timeline starts at segment 1

struct Wal {
  std::vector<std::uint8_t> bytes;  // [kFloor, kFloor + bytes.size())
  std::vector<wal::WalWriter::Placed> records;

  std::span<const std::uint8_t> window(Lsn begin, Lsn end) const {
    return std::span<const std::uint8_t>(bytes).subspan(begin - kFloor, end - begin);
  }
};

wal::RecordBuilder noop(std::size_t main_bytes, std::uint8_t fill) {
  std::vector<std::uint8_t> data(main_bytes, fill);
  wal::RecordBuilder rb(wal::RM_XLOG_ID, wal::XLOG_NOOP);
  rb.set_main_data(data);
  return rb;
}

// Mixed sizes: small, page-crossing, multi-page, and one that ends exactly at
// a page boundary; over two segment boundaries.
Wal make_wal(bool* page_end_seen) {
  Wal w;
  wal::WalWriter writer(kFloor, 1, 42, kSeg);
  const std::size_t sizes[] = {100, 3000, 20000, 7, 9000, 500, 40000, 1200};
  std::size_t k = 0;
  while (writer.end_lsn() < kFloor + 2 * kSeg + 100000) {
    w.records.push_back(writer.append(noop(sizes[k % std::size(sizes)], static_cast<std::uint8_t>(k))));
    ++k;
    if (k % 50 == 0) {
      // A record that ends exactly at the end of the current page.
      Lsn start = writer.next_record_lsn();
      std::uint64_t room = wal::kBlockSize - start.value() % wal::kBlockSize;
      if (room >= 24 + 5 + 256) {
        auto rb = noop(room - 24 - 5, 0xEE);  // long main-data header: 5 bytes
        REQUIRE(rb.total_length() == room);
        w.records.push_back(writer.append(rb));
        REQUIRE(wal::is_page_aligned(w.records.back().end));
        *page_end_seen = true;
      }
    }
  }
  w.bytes = writer.take_bytes();
  return w;
}

// What the client does: start with `first` bytes, double while nothing starts.
Lsn find_widening(const Wal& w, Lsn end, std::uint64_t first, int* widenings) {
  std::uint64_t width = first;
  for (int i = 0; i < 64; ++i) {
    Lsn begin = window_begin(end, width, kFloor);
    auto r = find_last_record_start(w.window(begin, end), begin, end, kSeg);
    REQUIRE_MESSAGE(r.has_value(), r.error().message);
    if (r->has_value()) return **r;
    REQUIRE(begin > kFloor);
    ++*widenings;
    width = (end - begin) * 2;
  }
  FAIL("window never held a record start");
  return Lsn{};
}

}  // namespace

TEST_CASE("last record start found at every record end, any window width") {
  bool page_end_seen = false;
  Wal w = make_wal(&page_end_seen);
  REQUIRE(page_end_seen);
  REQUIRE(w.records.size() > 100);
  int widenings = 0;
  int page_ends = 0;
  for (std::uint64_t first : {std::uint64_t{100}, std::uint64_t{8192}, std::uint64_t{64 * 1024}}) {
    for (const auto& rec : w.records) {
      CAPTURE(rec.start);
      CAPTURE(first);
      CHECK(find_widening(w, rec.end, first, &widenings) == rec.start);
      if (wal::is_page_aligned(rec.end)) ++page_ends;
    }
  }
  CHECK(widenings > 0);  // the 40000-byte records span narrow windows
  CHECK(page_ends >= 3);
}

TEST_CASE("a window starting at a record start (the timeline's first LSN)") {
  bool unused = false;
  Wal w = make_wal(&unused);
  // The third record starts mid-page; treat it as the window's floor.
  Lsn begin = w.records[2].start;
  REQUIRE(!wal::is_page_aligned(begin));
  Lsn end = w.records[5].end;
  auto r = find_last_record_start(w.window(begin, end), begin, end, kSeg);
  REQUIRE(r.has_value());
  REQUIRE(r->has_value());
  CHECK(**r == w.records[5].start);
  // The first record after the floor is itself the last one.
  end = w.records[2].end;
  r = find_last_record_start(w.window(begin, end), begin, end, kSeg);
  REQUIRE(r.has_value());
  REQUIRE(r->has_value());
  CHECK(**r == w.records[2].start);
  CHECK(window_begin(end, 1 << 20, begin) == begin);
}

TEST_CASE("one record wider than the window: nullopt, then found when widened") {
  wal::WalWriter writer(kFloor, 1, 42, kSeg);
  writer.append(noop(100, 1));
  auto big = writer.append(noop(50000, 2));
  auto bytes = writer.take_bytes();
  Lsn end = big.end;
  Lsn begin = window_begin(end, 3 * wal::kBlockSize, kFloor);
  REQUIRE(begin > big.start);
  auto r = find_last_record_start(
      std::span<const std::uint8_t>(bytes).subspan(begin - kFloor, end - begin), begin, end, kSeg);
  REQUIRE(r.has_value());
  CHECK(!r->has_value());
  begin = window_begin(end, 10 * wal::kBlockSize, kFloor);
  REQUIRE(begin <= big.start);
  r = find_last_record_start(
      std::span<const std::uint8_t>(bytes).subspan(begin - kFloor, end - begin), begin, end, kSeg);
  REQUIRE(r.has_value());
  REQUIRE(r->has_value());
  CHECK(**r == big.start);
}

TEST_CASE("a record ending exactly at a segment boundary, and the one after it") {
  wal::WalWriter writer(kFloor, 1, 42, kSeg);
  Lsn seg_end = kFloor + kSeg;
  // Small records up to the segment's last page, then one that fills it exactly.
  for (int i = 0; i < 100000 && writer.next_record_lsn() < seg_end - wal::kBlockSize; ++i) {
    writer.append(noop(1000, static_cast<std::uint8_t>(i)));
  }
  Lsn start = writer.next_record_lsn();
  std::uint64_t room = seg_end - start;
  REQUIRE(room >= 24 + 5 + 256);
  REQUIRE(room <= wal::kBlockSize);
  auto rb = noop(room - 24 - 5, 0xAB);
  REQUIRE(rb.total_length() == room);
  auto last = writer.append(rb);
  REQUIRE(last.end == seg_end);
  auto next = writer.append(noop(100, 0xCD));
  REQUIRE(next.start == seg_end + wal::kLongPageHeaderSize);
  auto bytes = writer.take_bytes();
  Wal w{std::move(bytes), {}};
  int widenings = 0;
  CHECK(find_widening(w, seg_end, 8192, &widenings) == last.start);
  CHECK(find_widening(w, next.end, 100, &widenings) == next.start);
}

TEST_CASE("corrupt bytes or an end inside a record are kCorrupt") {
  wal::WalWriter writer(kFloor, 1, 42, kSeg);
  auto a = writer.append(noop(300, 1));
  auto b = writer.append(noop(300, 2));
  auto bytes = writer.take_bytes();
  Lsn begin = kFloor;
  // A flipped byte in the last record's payload fails its CRC.
  auto bad = bytes;
  bad[(b.start - kFloor) + 100] ^= 0xFF;
  auto r = find_last_record_start(bad, begin, b.end, kSeg);
  REQUIRE(!r.has_value());
  CHECK(r.error().code == base::ErrorCode::kCorrupt);
  // `end` in the middle of the last record.
  Lsn mid = b.start + 64;
  r = find_last_record_start(std::span<const std::uint8_t>(bytes).subspan(0, mid - begin), begin, mid,
                             kSeg);
  REQUIRE(!r.has_value());
  CHECK(r.error().code == base::ErrorCode::kCorrupt);
  // `end` past the last record, in zeroed space.
  std::vector<std::uint8_t> padded = bytes;
  padded.resize(padded.size() + 64, 0);
  r = find_last_record_start(padded, begin, b.end + 64, kSeg);
  REQUIRE(!r.has_value());
  CHECK(r.error().code == base::ErrorCode::kCorrupt);
  // A size mismatch is a caller bug reported as kInvalidArgument.
  r = find_last_record_start(bytes, begin, a.end, kSeg);
  REQUIRE(!r.has_value());
  CHECK(r.error().code == base::ErrorCode::kInvalidArgument);
}

TEST_CASE("window_begin: page-aligned, never below the floor") {
  CHECK(window_begin(Lsn(kSeg + 100000), 10000, kFloor) == Lsn(kSeg + 81920));
  CHECK(window_begin(Lsn(kSeg + 100000), 200000, kFloor) == kFloor);
  CHECK(window_begin(Lsn(kSeg + 8192), 8192, kFloor) == kFloor);
  CHECK(window_begin(Lsn(kSeg + 3 * 8192), 8192, kFloor) == Lsn(kSeg + 2 * 8192));
}

}  // namespace wq::proposer
