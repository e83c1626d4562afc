// VerifiedReader: only bytes of checked records leave, reads may start inside
// a record, damage is reported with the last verified record end.
#include "safekeeper/wal_verifier.h"

#include <doctest/doctest.h>

#include <algorithm>
#include <chrono>

#include <fmt/format.h>

#include "../storage/storage_test_util.h"

namespace wq::safekeeper {
namespace {

using wal::Lsn;
constexpr std::uint64_t kSeg = 1 << 20;

struct Mem {
  storage::testing::GeneratedWal g;
  Lsn held_from;  // first byte readable
  VerifiedReader::ReadFn fn() {
    return [this](Lsn at, std::span<std::uint8_t> out) -> base::Result<std::size_t> {
      if (at < held_from) return base::Unexpected{base::ErrorCode::kNotFound, "removed"};
      if (at >= g.end) return std::size_t{0};
      std::size_t n = std::min<std::uint64_t>(out.size(), g.end - at);
      std::copy_n(g.bytes.begin() + static_cast<std::ptrdiff_t>(at - g.start), n, out.begin());
      return n;
    };
  }
  std::uint8_t& at(Lsn lsn) { return g.bytes[lsn - g.start]; }
};

Mem make() {
  Mem m{storage::testing::make_wal(Lsn(kSeg), kSeg, 2 * kSeg + 100000), Lsn(kSeg)};
  return m;
}

// Reads [from, to) in steps of `step`; stops at an error or damage.
struct Got {
  std::vector<std::uint8_t> bytes;
  std::optional<Damage> damage;
  std::optional<base::Error> error;
  std::uint64_t unverified = 0;
};
Got read_all(Mem& m, VerifiedReader& r, Lsn from, Lsn to, std::uint64_t step) {
  Got got;
  Lsn pos = from;
  auto fn = m.fn();
  for (int i = 0; i < 100000 && pos < to; ++i) {
    auto res = r.read(fn, m.held_from, pos, to, m.g.end, step);
    if (!res) {
      got.error = res.error();
      break;
    }
    REQUIRE(res->bytes.size() <= step);
    got.bytes.insert(got.bytes.end(), res->bytes.begin(), res->bytes.end());
    got.unverified += res->unverified;
    pos = pos + res->bytes.size();
    if (res->damage) {
      got.damage = res->damage;
      break;
    }
    REQUIRE(!res->bytes.empty());
  }
  return got;
}

// A page boundary strictly inside a record (its continuation starts the page).
std::pair<Lsn, std::size_t> page_inside_record(const Mem& m, Lsn after) {
  for (std::size_t i = 0; i < m.g.record_starts.size(); ++i) {
    Lsn s = m.g.record_starts[i], e = m.g.record_ends[i];
    if (s < after) continue;
    Lsn p = wal::page_start(e - 1);
    if (p > s) return {p, i};
  }
  FAIL("no record crosses a page");
  return {};
}

TEST_CASE("contiguous reads hand out exactly the WAL, from a segment start inside a record") {
  Mem m = make();
  VerifiedReader r(kSeg, 4096 * 3 + 100);
  // Whole range in odd steps: the decoder goes on from read to read.
  auto got = read_all(m, r, m.g.start, m.g.end, 5000);
  REQUIRE(!got.error);
  CHECK(!got.damage);
  CHECK(got.bytes == m.g.bytes);
  CHECK(r.bytes_read() < m.g.bytes.size() + 64 * 1024);  // each byte read about once
  // From the second segment's start, and from a page inside a record.
  Lsn seg2(2 * kSeg);
  VerifiedReader r2(kSeg);
  got = read_all(m, r2, seg2, m.g.end, 128 * 1024);
  REQUIRE(!got.error);
  CHECK(got.bytes.size() == m.g.end - seg2);
  CHECK(std::equal(got.bytes.begin(), got.bytes.end(), m.g.bytes.begin() + (seg2 - m.g.start)));
  CHECK(got.unverified == 0);
  auto [p, idx] = page_inside_record(m, seg2);
  VerifiedReader r3(kSeg);
  got = read_all(m, r3, p + 100, m.g.end, 7777);
  REQUIRE(!got.error);
  CHECK(got.bytes.size() == m.g.end - (p + 100));
}

TEST_CASE("a flipped byte: the bytes before its record, a damage naming the record start") {
  Mem m = make();
  std::size_t k = m.g.record_starts.size() / 2;
  Lsn rec = m.g.record_starts[k];
  Lsn flip = rec + (m.g.record_ends[k] - rec) / 2;
  if (wal::page_offset(flip) < 40) flip = flip + 64;  // not a page header: a record byte
  m.at(flip) ^= 0x20;
  VerifiedReader r(kSeg);
  auto got = read_all(m, r, m.g.start, m.g.end, 64 * 1024);
  REQUIRE(got.damage);
  CHECK(got.damage->valid_end == rec);
  CHECK(got.damage->at <= rec + 8192);
  CHECK(got.bytes.size() <= rec - m.g.start);
  CHECK(std::equal(got.bytes.begin(), got.bytes.end(), m.g.bytes.begin()));
  // After the damage a new read starts afresh and finds it again: nothing of it leaves.
  auto again = r.read(m.fn(), m.held_from, rec, m.g.end, m.g.end, 64 * 1024);
  REQUIRE(again);
  CHECK(again->bytes.empty());
  REQUIRE(again->damage);
  CHECK(again->damage->valid_end == rec);
}

TEST_CASE("a read starting in the continuation of a damaged record is refused") {
  Mem m = make();
  auto [p, idx] = page_inside_record(m, Lsn(2 * kSeg));
  Lsn rec = m.g.record_starts[idx];
  // Damage the record's part before the page where the read starts.
  Lsn flip = wal::page_start(p - 1) + 2000 > rec ? wal::page_start(p - 1) + 2000 : rec + 30;
  m.at(flip) ^= 0x01;
  VerifiedReader r(kSeg);
  auto got = read_all(m, r, p, m.g.end, 64 * 1024);
  REQUIRE(got.damage);
  CHECK(got.bytes.empty());
  CHECK(got.damage->valid_end <= rec);
}

TEST_CASE("a damaged page header is damage") {
  Mem m = make();
  Lsn page(2 * kSeg + 5 * 8192);
  m.at(page) ^= 0xFF;  // xlp_magic
  VerifiedReader r(kSeg);
  auto got = read_all(m, r, m.g.start, m.g.end, 64 * 1024);
  REQUIRE(got.damage);
  CHECK(got.damage->valid_end.is_valid());
  CHECK(got.damage->valid_end <= page);
  CHECK(got.bytes.size() <= page - m.g.start);
}

TEST_CASE("the oldest segment starting with a continuation: header-checked, counted") {
  Mem m = make();
  Lsn seg2(2 * kSeg);
  m.held_from = seg2;
  VerifiedReader r(kSeg);
  auto got = read_all(m, r, seg2, m.g.end, 128 * 1024);
  REQUIRE(!got.error);
  CHECK(got.bytes.size() == m.g.end - seg2);
  // Whether the segment starts with a continuation depends on the generator;
  // the count is what the page header says is continuation (or 0).
  CHECK(got.unverified < 64 * 1024);
  auto below = r.read(m.fn(), m.held_from, Lsn(kSeg), m.g.end, m.g.end, 10);
  REQUIRE(!below);
  CHECK(below.error().code == base::ErrorCode::kNotFound);
}

TEST_CASE("a read past what is held: kEndOfData") {
  Mem m = make();
  VerifiedReader r(kSeg);
  Lsn cut = m.g.record_ends[10];
  auto fn = m.fn();
  auto got = r.read(fn, m.held_from, m.g.start, m.g.end, cut, 1 << 30);
  REQUIRE(got);
  CHECK(m.g.start + got->bytes.size() == cut);
  auto more = r.read(fn, m.held_from, cut, m.g.end, cut, 1 << 30);
  REQUIRE(!more);
  CHECK(more.error().code == base::ErrorCode::kEndOfData);
}

}  // namespace
}  // namespace wq::safekeeper

namespace wq::safekeeper {
namespace {

TEST_CASE("verification cost (printed, not asserted)") {
  storage::testing::GeneratedWal g =
      storage::testing::make_wal(Lsn(kSeg), kSeg, 32 * kSeg);
  Mem m{std::move(g), Lsn(kSeg)};
  auto fn = m.fn();
  const std::uint64_t step = 128 * 1024;  // a learner read
  auto t0 = std::chrono::steady_clock::now();
  std::uint64_t copied = 0;
  std::vector<std::uint8_t> buf(step);
  for (Lsn pos = m.g.start; pos < m.g.end;) {
    auto n = fn(pos, std::span<std::uint8_t>(buf.data(), std::min<std::uint64_t>(step, m.g.end - pos)));
    REQUIRE(n);
    copied += *n;
    pos = pos + *n;
  }
  auto t1 = std::chrono::steady_clock::now();
  VerifiedReader r(kSeg);
  std::uint64_t verified = 0;
  for (Lsn pos = m.g.start; pos < m.g.end;) {
    auto res = r.read(fn, m.held_from, pos, m.g.end, m.g.end, step);
    REQUIRE(res);
    REQUIRE(!res->damage);
    verified += res->bytes.size();
    pos = pos + res->bytes.size();
  }
  auto t2 = std::chrono::steady_clock::now();
  CHECK(verified == copied);
  double plain = static_cast<double>(copied) / 1e6 / std::chrono::duration<double>(t1 - t0).count();
  double checked = static_cast<double>(verified) / 1e6 / std::chrono::duration<double>(t2 - t1).count();
  MESSAGE(fmt::format("{} MB of WAL in 128 KiB reads: plain copy {:.0f} MB/s, verified {:.0f} MB/s",
                      copied / 1000000, plain, checked));
}

}  // namespace
}  // namespace wq::safekeeper

namespace wq::safekeeper {
namespace {

TEST_CASE("a CRC-valid record with a wrong xl_prev is served (its writer's doing, not damage)") {
  wal::WalWriter w(Lsn(kSeg), 1, 7300000000000000001ull, kSeg);
  for (std::uint32_t i = 0; i < 300; ++i) w.append(wal::make_commit_record(1000 + i, 780000000000000 + i));
  auto bad = wal::make_commit_record(5000, 790000000000000).build();
  wal::finalize_record(bad, Lsn{});  // xl_prev 0, CRC over it: valid
  Lsn bad_at = w.append_raw(bad, /*keep_prev_and_crc=*/true).start;
  for (std::uint32_t i = 0; i < 300; ++i) w.append(wal::make_commit_record(2000 + i, 781000000000000 + i));
  Mem m;
  m.g.start = Lsn(kSeg);
  m.g.end = w.end_lsn();
  m.g.bytes = w.take_bytes();
  m.held_from = Lsn(kSeg);
  VerifiedReader r(kSeg);
  auto got = read_all(m, r, m.g.start, m.g.end, 4096);
  REQUIRE(!got.error);
  CHECK(!got.damage);
  CHECK(got.bytes == m.g.bytes);
  CHECK(r.prev_link_restarts() == 1);
  CHECK(bad_at > m.g.start);
  // A flipped byte in that record is still damage.
  m.at(bad_at + 30) ^= 0x04;
  VerifiedReader r2(kSeg);
  got = read_all(m, r2, m.g.start, m.g.end, 4096);
  REQUIRE(got.damage);
  CHECK(got.damage->valid_end <= bad_at);
}

}  // namespace
}  // namespace wq::safekeeper
