// WalStore: segment naming and preallocation, writes across segments, read back,
// sync, truncation (crash-safe zeroing, across segments), the restart scan with
// torn tails and corruption below the commit LSN, the synthesized first segment,
// WAL removal. 1 MiB segments keep it fast.
#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>

#include <doctest/doctest.h>

#include "storage/wal_store.h"
#include "storage_test_util.h"
#include "wal/decoder.h"

namespace wq::storage {
namespace {

using testing::exists;
using testing::file_size;
using testing::make_wal;
using testing::read_file_bytes;
using testing::TempDir;
using wal::Lsn;

constexpr std::uint64_t kSeg = 1 << 20;

WalStoreOptions opts() {
  WalStoreOptions o;
  o.seg_size = kSeg;
  o.system_id = 7300000000000000001ull;
  return o;
}

std::vector<std::uint8_t> pattern(std::size_t n, std::uint8_t seed) {
  std::vector<std::uint8_t> v(n);
  for (std::size_t i = 0; i < n; ++i) v[i] = static_cast<std::uint8_t>(i * 31 + seed + (i >> 13));
  return v;
}

Lsn segment_start_of(Lsn lsn) { return Lsn(lsn.value() - lsn.value() % kSeg); }

std::string seg_name(std::uint64_t segno) { return wal::segment_file_name(1, segno, kSeg); }

void overwrite(const std::string& path, std::uint64_t off, std::span<const std::uint8_t> bytes) {
  int fd = ::open(path.c_str(), O_WRONLY);
  REQUIRE(fd >= 0);
  REQUIRE(::pwrite(fd, bytes.data(), bytes.size(), static_cast<off_t>(off)) ==
          static_cast<ssize_t>(bytes.size()));
  ::close(fd);
}

bool all_zero(const std::vector<std::uint8_t>& v, std::size_t from, std::size_t to) {
  return std::all_of(v.begin() + static_cast<std::ptrdiff_t>(from),
                     v.begin() + static_cast<std::ptrdiff_t>(to),
                     [](std::uint8_t b) { return b == 0; });
}

TEST_CASE("wal store: segment names, preallocation, rename on completion") {
  TempDir tmp;
  auto store = WalStore::open(tmp.path(), opts());
  REQUIRE(store.has_value());
  CHECK(store->empty());
  CHECK(store->ready());
  Lsn start(kSeg);  // segment 1
  auto bytes = pattern(kSeg / 2, 1);
  REQUIRE(store->write(start, bytes).has_value());
  std::string partial1 = tmp.sub(seg_name(1) + ".partial");
  CHECK(seg_name(1) == "000000010000000000000001");
  CHECK(exists(partial1));
  CHECK(file_size(partial1) == kSeg);              // full size (sparse)
  CHECK_FALSE(exists(tmp.sub("next.prealloc")));   // only once 3/4 full
  CHECK(store->write_lsn() == start + bytes.size());
  CHECK(store->flush_lsn() == start);               // not durable yet
  store->sync();
  CHECK(store->flush_lsn() == store->write_lsn());
  REQUIRE(store->write(store->write_lsn(), pattern(kSeg / 4 + 8, 5)).has_value());
  CHECK(file_size(tmp.sub("next.prealloc")) == kSeg);  // the next one is ready
  REQUIRE(store->write(store->write_lsn(), pattern(kSeg / 4 - 8 - 100, 6)).has_value());
  store->sync();

  // Cross into segment 2: segment 1 is complete, renamed at the sync.
  auto more = pattern(kSeg, 2);
  REQUIRE(store->write(store->write_lsn(), more).has_value());
  CHECK(exists(tmp.sub(seg_name(2) + ".partial")));
  store->sync();
  CHECK(exists(tmp.sub(seg_name(1))));
  CHECK_FALSE(exists(partial1));
  CHECK(file_size(tmp.sub(seg_name(2) + ".partial")) == kSeg);
  CHECK(store->disk_usage_bytes() >= kSeg + kSeg / 2);  // segment 1, segment 2's written part
}

TEST_CASE("wal store: segments are sparse and allocated in chunks ahead of the writes") {
  TempDir tmp;
  WalStoreOptions o = opts();
  o.seg_size = 16 * kSeg;
  o.alloc_chunk_bytes = 256 * 1024;
  auto store = WalStore::open(tmp.path(), o);
  REQUIRE(store.has_value());
  Lsn start(16 * kSeg);
  REQUIRE(store->write(start, pattern(1000, 1)).has_value());
  store->sync();
  std::string partial = tmp.sub(wq::wal::segment_file_name(1, 1, 16 * kSeg) + ".partial");
  CHECK(file_size(partial) == 16 * kSeg);
  // One chunk allocated, not the segment: a thousand idle timelines cost MiBs, not GiBs.
  CHECK(allocated_bytes(partial) >= 256 * 1024);
  CHECK(allocated_bytes(partial) <= 512 * 1024);
  CHECK(store->disk_usage_bytes() <= 512 * 1024);
  // Writes within the chunk allocate nothing more; crossing it allocates the next.
  REQUIRE(store->write(store->write_lsn(), pattern(300 * 1024, 2)).has_value());
  store->sync();
  CHECK(allocated_bytes(partial) >= 512 * 1024);
  CHECK(allocated_bytes(partial) <= 768 * 1024);
  // A restart cuts the tail by punching holes, so the store stays small.
  store = WalStore::open(tmp.path(), o);
  REQUIRE(store.has_value());
  REQUIRE(store->find_end_of_wal(Lsn{}).has_value());
  store->cut_torn_tail();
  CHECK(allocated_bytes(partial) <= 768 * 1024);
  CHECK(file_size(partial) == 16 * kSeg);
}

TEST_CASE("wal store: writes crossing several segments read back byte for byte") {
  TempDir tmp;
  auto store = WalStore::open(tmp.path(), opts());
  REQUIRE(store.has_value());
  Lsn start(kSeg + 8192);
  auto bytes = pattern(3 * kSeg + 12345, 3);
  // Uneven chunks, one of them crossing two boundaries.
  std::size_t cuts[] = {100, 5000, 2 * kSeg, bytes.size()};
  std::size_t done = 0;
  for (std::size_t c : cuts) {
    REQUIRE(store->write(start + done, std::span(bytes).subspan(done, c - done)).has_value());
    done = c;
  }
  store->sync();
  std::vector<std::uint8_t> back(bytes.size() + 100);
  auto n = store->read(start, back);
  REQUIRE(n.has_value());
  REQUIRE(*n == bytes.size());  // capped at write_lsn
  back.resize(*n);
  CHECK(back == bytes);
  // A read starting mid-way, crossing a boundary.
  std::vector<std::uint8_t> mid(kSeg);
  auto m = store->read(Lsn(2 * kSeg - 10), mid);
  REQUIRE(m.has_value());
  CHECK(*m == kSeg);
  CHECK(std::equal(mid.begin(), mid.end(), bytes.begin() + (kSeg - 8192 - 10)));
  // Before the WAL start in its segment: the synthesized page header.
  std::vector<std::uint8_t> hdr(40);
  auto synthesized = store->read(Lsn(kSeg), hdr);
  REQUIRE(synthesized.has_value());
  CHECK(wal::decode_page_header(hdr, Lsn(kSeg), kSeg).has_value());
  // Below the first segment: not stored.
  std::vector<std::uint8_t> one(1);
  auto below = store->read(Lsn(kSeg - 1), one);
  REQUIRE_FALSE(below.has_value());
  CHECK(below.error().code == base::ErrorCode::kNotFound);
}

TEST_CASE("wal store: a non-sequential write is refused and changes nothing") {
  TempDir tmp;
  auto store = WalStore::open(tmp.path(), opts());
  REQUIRE(store.has_value());
  auto bytes = pattern(1000, 4);
  REQUIRE(store->write(Lsn(kSeg), bytes).has_value());
  auto gap = store->write(Lsn(kSeg + 2000), bytes);
  REQUIRE_FALSE(gap.has_value());
  CHECK(gap.error().code == base::ErrorCode::kInvalidArgument);
  auto rewrite = store->write(Lsn(kSeg), bytes);
  REQUIRE_FALSE(rewrite.has_value());
  CHECK(store->write_lsn() == Lsn(kSeg + 1000));
}

TEST_CASE("wal store: truncate across segments zeroes the tail durably and allows appends") {
  TempDir tmp;
  auto store = WalStore::open(tmp.path(), opts());
  REQUIRE(store.has_value());
  Lsn start(kSeg);
  auto bytes = pattern(static_cast<std::size_t>(2.5 * kSeg), 5);
  REQUIRE(store->write(start, bytes).has_value());
  store->sync();
  REQUIRE(exists(tmp.sub(seg_name(3) + ".partial")));
  REQUIRE(exists(tmp.sub(seg_name(1))));

  Lsn at(kSeg + 300000);  // inside segment 1, which is complete
  REQUIRE(store->truncate(at).has_value());
  CHECK(store->write_lsn() == at);
  CHECK(store->flush_lsn() == at);
  CHECK_FALSE(exists(tmp.sub(seg_name(2))));
  CHECK_FALSE(exists(tmp.sub(seg_name(3) + ".partial")));
  CHECK_FALSE(exists(tmp.sub(seg_name(1))));
  std::string p1 = tmp.sub(seg_name(1) + ".partial");
  REQUIRE(exists(p1));
  auto file = read_file_bytes(p1);
  REQUIRE(file.size() == kSeg);  // still preallocated
  CHECK(std::equal(file.begin(), file.begin() + 300000, bytes.begin()));
  CHECK(all_zero(file, 300000, kSeg));

  // Appending again at `at` works and crosses into a new segment 2.
  auto again = pattern(kSeg, 6);
  REQUIRE(store->write(at, again).has_value());
  store->sync();
  std::vector<std::uint8_t> back(again.size());
  auto n = store->read(at, back);
  REQUIRE(n.has_value());
  CHECK(back == again);

  // Truncating exactly at a segment boundary keeps the earlier segment complete.
  Lsn boundary(2 * kSeg);
  REQUIRE(store->truncate(boundary).has_value());
  CHECK(store->write_lsn() == boundary);
  CHECK(exists(tmp.sub(seg_name(1))));
  auto f2 = read_file_bytes(tmp.sub(seg_name(2) + ".partial"));
  REQUIRE(f2.size() == kSeg);
  CHECK(all_zero(f2, 0, kSeg));
}

TEST_CASE("wal store: truncate at a page end zeroes the next page's header first") {
  TempDir tmp;
  auto store = WalStore::open(tmp.path(), opts());
  REQUIRE(store.has_value());
  auto bytes = pattern(5 * 8192, 7);
  REQUIRE(store->write(Lsn(kSeg), bytes).has_value());
  Lsn at(kSeg + 2 * 8192);
  REQUIRE(store->truncate(at).has_value());
  auto file = read_file_bytes(tmp.sub(seg_name(1) + ".partial"));
  CHECK(std::equal(file.begin(), file.begin() + 2 * 8192, bytes.begin()));
  CHECK(all_zero(file, 2 * 8192, kSeg));
}

TEST_CASE("wal store: a crash in the middle of truncate leaves no WAL after the cut") {
  // The bytes after the cut are the old WAL's next records: they chain to the
  // record ending at the cut, so if any of them survived, the restart scan would
  // bring them back. truncate() zeroes (and syncs) the page after the cut first.
  TempDir tmp;
  auto wal = make_wal(Lsn(kSeg), kSeg, 2 * kSeg + 100000);
  Lsn cut = wal.record_ends[wal.record_ends.size() / 4];
  REQUIRE(segment_start_of(cut) == Lsn(kSeg));
  {
    auto store = WalStore::open(tmp.path(), opts());
    REQUIRE(store.has_value());
    REQUIRE(store->write(wal.start, wal.bytes).has_value());
    store->sync();
  }
  pid_t pid = ::fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    WalStoreOptions o = opts();
    o.test_exit_after_first_truncate_step = true;
    auto store = WalStore::open(tmp.path(), o);
    if (!store) ::_exit(2);
    if (!store->find_end_of_wal(wal.start, wal.start)) ::_exit(3);
    (void)store->truncate(cut);  // exits inside
    ::_exit(4);
  }
  int status = 0;
  REQUIRE(::waitpid(pid, &status, 0) == pid);
  REQUIRE(WIFEXITED(status));
  REQUIRE(WEXITSTATUS(status) == 0);
  CHECK(exists(tmp.sub(seg_name(3) + ".partial")));  // the crash came before the deletions

  auto store = WalStore::open(tmp.path(), opts());
  REQUIRE(store.has_value());
  auto scan = store->find_end_of_wal(wal.start, wal.start);
  REQUIRE(scan.has_value());
  CHECK(scan->end == cut);
  store->cut_torn_tail();
  CHECK_FALSE(exists(tmp.sub(seg_name(3) + ".partial")));
  CHECK_FALSE(exists(tmp.sub(seg_name(2))));
  auto file = read_file_bytes(tmp.sub(seg_name(1) + ".partial"));
  CHECK(all_zero(file, cut.value() - kSeg, kSeg));
}

TEST_CASE("wal store: restart finds the end of valid WAL (zero tail)") {
  TempDir tmp;
  auto wal = make_wal(Lsn(kSeg), kSeg, 2 * kSeg + 5000);
  {
    auto store = WalStore::open(tmp.path(), opts());
    REQUIRE(store.has_value());
    REQUIRE(store->write(wal.start, wal.bytes).has_value());
    store->sync();
  }
  auto store = WalStore::open(tmp.path(), opts());
  REQUIRE(store.has_value());
  CHECK_FALSE(store->ready());
  Lsn commit = wal.record_ends[wal.record_ends.size() / 2];
  auto scan = store->find_end_of_wal(commit, commit);
  REQUIRE(scan.has_value());
  CHECK(scan->end == wal.end);
  CHECK(scan->stop == RecoveryScan::Stop::kZeroTail);
  CHECK(store->write_lsn() == wal.end);
  CHECK(store->flush_lsn() == wal.end);
  // Scanning from the segment start (page-aligned) finds the same end.
  auto scan2 = store->find_end_of_wal(Lsn(kSeg), commit);
  REQUIRE(scan2.has_value());
  CHECK(scan2->end == wal.end);
  CHECK(scan2->records == wal.record_ends.size());
  // And the store takes appends at the end.
  store->cut_torn_tail();
  std::vector<std::uint8_t> back(wal.bytes.size());
  auto n = store->read(wal.start, back);
  REQUIRE(n.has_value());
  CHECK(back == wal.bytes);
}

TEST_CASE("wal store: restart with a torn record (file cut mid-record) ends at the last whole record") {
  TempDir tmp;
  auto wal = make_wal(Lsn(kSeg), kSeg, kSeg / 2);
  {
    auto store = WalStore::open(tmp.path(), opts());
    REQUIRE(store.has_value());
    REQUIRE(store->write(wal.start, wal.bytes).has_value());
    store->sync();
  }
  // Tear the last record: cut the file in its middle.
  Lsn last_start = wal.record_starts.back();
  Lsn cut = last_start + (wal.end - last_start) / 2;
  std::string p1 = tmp.sub(seg_name(1) + ".partial");
  REQUIRE(::truncate(p1.c_str(), static_cast<off_t>(cut.value() - kSeg)) == 0);

  auto store = WalStore::open(tmp.path(), opts());
  REQUIRE(store.has_value());
  Lsn commit = wal.record_ends.front();
  auto scan = store->find_end_of_wal(commit, commit);
  REQUIRE(scan.has_value());
  Lsn expected = wal.record_ends[wal.record_ends.size() - 2];
  CHECK(scan->end == expected);
  store->cut_torn_tail();
  CHECK(file_size(p1) == kSeg);  // full size again
  auto file = read_file_bytes(p1);
  CHECK(all_zero(file, expected.value() - kSeg, kSeg));
  // Appending the torn record again continues the WAL.
  auto tail = std::span(wal.bytes).subspan(expected - wal.start);
  REQUIRE(store->write(expected, tail).has_value());
  store->sync();
  auto again = store->find_end_of_wal(commit, commit);
  REQUIRE(again.has_value());
  CHECK(again->end == wal.end);
}

TEST_CASE("wal store: garbage after the end is cut, and stays cut after restart") {
  TempDir tmp;
  auto wal = make_wal(Lsn(kSeg), kSeg, 100000);
  {
    auto store = WalStore::open(tmp.path(), opts());
    REQUIRE(store.has_value());
    REQUIRE(store->write(wal.start, wal.bytes).has_value());
    store->sync();
  }
  std::string p1 = tmp.sub(seg_name(1) + ".partial");
  auto junk = pattern(20000, 9);
  overwrite(p1, wal.end.value() - kSeg, junk);
  {
    auto store = WalStore::open(tmp.path(), opts());
    REQUIRE(store.has_value());
    auto scan = store->find_end_of_wal(wal.start, wal.record_ends.back());
    REQUIRE(scan.has_value());
    CHECK(scan->end == wal.end);
    CHECK(scan->stop == RecoveryScan::Stop::kInvalidData);
    store->cut_torn_tail();
  }
  auto store = WalStore::open(tmp.path(), opts());
  REQUIRE(store.has_value());
  auto scan = store->find_end_of_wal(wal.start, wal.start);
  REQUIRE(scan.has_value());
  CHECK(scan->end == wal.end);
  CHECK(scan->stop == RecoveryScan::Stop::kZeroTail);
}

TEST_CASE("wal store: a flipped byte below the commit LSN is kCorrupt naming the LSN") {
  TempDir tmp;
  auto wal = make_wal(Lsn(kSeg), kSeg, 200000);
  {
    auto store = WalStore::open(tmp.path(), opts());
    REQUIRE(store.has_value());
    REQUIRE(store->write(wal.start, wal.bytes).has_value());
    store->sync();
  }
  // Flip a byte inside a record in the first third.
  std::size_t victim = wal.record_ends.size() / 3;
  Lsn bad = wal.record_starts[victim] + 30;
  std::string p1 = tmp.sub(seg_name(1) + ".partial");
  auto file = read_file_bytes(p1);
  std::uint8_t flipped = static_cast<std::uint8_t>(file[bad.value() - kSeg] ^ 0x5A);
  overwrite(p1, bad.value() - kSeg, std::span(&flipped, 1));

  auto store = WalStore::open(tmp.path(), opts());
  REQUIRE(store.has_value());
  Lsn commit = wal.record_ends.back();
  auto scan = store->find_end_of_wal(wal.start, commit);
  REQUIRE_FALSE(scan.has_value());
  CHECK(scan.error().code == base::ErrorCode::kCorrupt);
  CHECK(scan.error().message.find(commit.to_string()) != std::string::npos);
  CHECK(scan.error().message.find(wal.record_starts[victim].to_string()) != std::string::npos);
  CHECK_FALSE(store->ready());
  store->sync();  // harmless: nothing was written
  std::vector<std::uint8_t> some(100);
  auto unreadable = store->read(wal.start, some);
  REQUIRE_FALSE(unreadable.has_value());
  CHECK(unreadable.error().code == base::ErrorCode::kCorrupt);
  // Above the commit LSN the same damage is just the end of WAL.
  auto lenient = store->find_end_of_wal(wal.start, wal.start);
  REQUIRE(lenient.has_value());
  CHECK(lenient->end == wal.record_ends[victim - 1]);
}

TEST_CASE("wal store: the one-argument restart scan verifies the commit LSN's segment") {
  TempDir tmp;
  auto wal = make_wal(Lsn(kSeg), kSeg, 2 * kSeg + 300000);
  {
    auto store = WalStore::open(tmp.path(), opts());
    REQUIRE(store.has_value());
    auto empty_scan = store->find_end_of_wal(Lsn());
    REQUIRE(empty_scan.has_value());
    CHECK(empty_scan->end == Lsn());
    REQUIRE(store->write(wal.start, wal.bytes).has_value());
    store->sync();
  }
  // Commit in segment 3; damage a record in segment 3 below it.
  std::size_t victim = 0;
  while (wal.record_starts[victim] < Lsn(3 * kSeg + 8192)) ++victim;
  Lsn commit = wal.record_ends[victim + 3];
  {
    auto store = WalStore::open(tmp.path(), opts());
    REQUIRE(store.has_value());
    auto scan = store->find_end_of_wal(commit);
    REQUIRE(scan.has_value());
    CHECK(scan->from == Lsn(3 * kSeg));
    CHECK(scan->end == wal.end);
  }
  std::string p3 = tmp.sub(seg_name(3) + ".partial");
  auto file = read_file_bytes(p3);
  std::size_t off = static_cast<std::size_t>(wal.record_starts[victim].value() - 3 * kSeg + 26);
  std::uint8_t flipped = static_cast<std::uint8_t>(file[off] ^ 0x01);
  overwrite(p3, off, std::span(&flipped, 1));
  auto store = WalStore::open(tmp.path(), opts());
  REQUIRE(store.has_value());
  auto scan = store->find_end_of_wal(commit);
  REQUIRE_FALSE(scan.has_value());
  CHECK(scan.error().code == base::ErrorCode::kCorrupt);
  // With no WAL at all but a commit LSN, WAL is missing: corrupt.
  TempDir other;
  auto none = WalStore::open(other.path(), opts());
  REQUIRE(none.has_value());
  auto missing = none->find_end_of_wal(commit);
  REQUIRE_FALSE(missing.has_value());
  CHECK(missing.error().code == base::ErrorCode::kCorrupt);
}

TEST_CASE("wal store: WAL starting mid-segment gets a readable first segment") {
  TempDir tmp;
  // Start on page 3 of segment 1, after some record that we do not have.
  Lsn start(kSeg + 3 * 8192 + 24 + 800);
  auto wal = make_wal(start, kSeg, 50000);
  {
    auto store = WalStore::open(tmp.path(), opts());
    REQUIRE(store.has_value());
    REQUIRE(store->truncate(start).has_value());  // the acceptor's first TruncateWal
    CHECK(store->write_lsn() == start);
    CHECK(store->wal_start() == start);
    CHECK(store->first_lsn() == Lsn(kSeg));
    REQUIRE(store->write(start, wal.bytes).has_value());
    store->sync();
  }
  auto file = read_file_bytes(tmp.sub(seg_name(1) + ".partial"));
  REQUIRE(file.size() == kSeg);
  // Page 0: a long header for this segment.
  auto h0 = wal::decode_page_header(std::span(file).first(8192), Lsn(kSeg), kSeg);
  REQUIRE(h0.has_value());
  CHECK(h0->is_long);
  CHECK(h0->sysid == 7300000000000000001ull);
  CHECK((h0->info & wal::XLP_FIRST_IS_CONTRECORD) != 0);
  // A decoder started at the segment boundary skips the gap and finds every record.
  wal::DecoderOptions dopt;
  dopt.seg_size = kSeg;
  dopt.start_is_page_aligned = true;
  wal::StreamDecoder dec(Lsn(kSeg), dopt);
  dec.feed(std::span(file).first(static_cast<std::size_t>(wal.end.value() - kSeg + 8192)));
  std::size_t records = 0;
  Lsn first;
  for (int guard = 0; guard < 100000; ++guard) {
    auto step = dec.next();
    if (auto* r = std::get_if<wal::DecodedRecord>(&step)) {
      if (records == 0) first = r->start_lsn;
      ++records;
      continue;
    }
    break;
  }
  CHECK(first == start);
  CHECK(records == wal.record_ends.size());
  CHECK(dec.end_of_valid_wal() == wal.end);

  // The restart scan from the segment start works too, and the WAL start is
  // found again from the synthesized headers.
  auto store = WalStore::open(tmp.path(), opts());
  REQUIRE(store.has_value());
  CHECK(store->wal_start() == start);
  auto scan = store->find_end_of_wal(Lsn(kSeg), start);
  REQUIRE(scan.has_value());
  CHECK(scan->end == wal.end);
}

TEST_CASE("wal store: truncation above a WAL that holds no record yet moves its start") {
  TempDir tmp;
  auto store = WalStore::open(tmp.path(), opts());
  REQUIRE(store.has_value());
  REQUIRE(store->truncate(Lsn(kSeg + 8192 + 24)).has_value());
  Lsn later(3 * kSeg + 40);
  REQUIRE(store->truncate(later).has_value());
  CHECK(store->wal_start() == later);
  CHECK(store->write_lsn() == later);
  CHECK_FALSE(exists(tmp.sub(seg_name(1) + ".partial")));
  CHECK(exists(tmp.sub(seg_name(3) + ".partial")));
}

TEST_CASE("wal store: truncation below the WAL start restarts the WAL there") {
  Lsn start(2 * kSeg + 6 * 8192 + 24);
  auto first = make_wal(start, kSeg, 20000);
  Lsn earlier(kSeg + 3 * 8192 + 24 + 96);  // in an earlier segment
  auto second = make_wal(earlier, kSeg, kSeg + 20000);
  for (bool restart : {false, true}) {
    CAPTURE(restart);
    TempDir t;
    {
      auto store = WalStore::open(t.path(), opts());
      REQUIRE(store.has_value());
      REQUIRE(store->write(start, first.bytes).has_value());
      store->sync();
      if (!restart) {
        REQUIRE(store->truncate(earlier).has_value());
        REQUIRE(store->write(earlier, second.bytes).has_value());
        store->sync();
      }
    }
    if (restart) {
      auto store = WalStore::open(t.path(), opts());
      REQUIRE(store.has_value());
      CHECK(store->wal_start() == start);
      auto scan = store->find_end_of_wal(start, start);
      REQUIRE(scan.has_value());
      CHECK(scan->end == first.end);
      store->cut_torn_tail();
      REQUIRE(store->truncate(earlier).has_value());
      CHECK(store->wal_start() == earlier);
      REQUIRE(store->write(earlier, second.bytes).has_value());
      store->sync();
    }
    auto store = WalStore::open(t.path(), opts());
    REQUIRE(store.has_value());
    CHECK(store->wal_start() == earlier);
    auto scan = store->find_end_of_wal(Lsn(kSeg), earlier);
    REQUIRE(scan.has_value());
    CHECK(scan->end == second.end);
    CHECK(scan->records == second.record_ends.size());
  }
}

TEST_CASE("wal store: WAL starting at a page boundary inside a segment") {
  TempDir tmp;
  Lsn start(kSeg + 4 * 8192);
  auto wal = make_wal(start, kSeg, 30000);
  {
    auto store = WalStore::open(tmp.path(), opts());
    REQUIRE(store.has_value());
    REQUIRE(store->write(start, wal.bytes).has_value());  // first write starts the WAL
    store->sync();
  }
  auto store = WalStore::open(tmp.path(), opts());
  REQUIRE(store.has_value());
  auto scan = store->find_end_of_wal(Lsn(kSeg), wal.end);
  REQUIRE(scan.has_value());
  CHECK(scan->end == wal.end);
  CHECK(scan->records == wal.record_ends.size());
}

TEST_CASE("wal store: WAL ending exactly at a segment boundary (switch record)") {
  TempDir tmp;
  wal::WalWriter w(Lsn(kSeg), 1, 7300000000000000001ull, kSeg);
  w.append(wal::make_commit_record(700, 1));
  auto sw = w.append_switch();
  CHECK(sw.end == Lsn(2 * kSeg));
  auto bytes = w.take_bytes();
  {
    auto store = WalStore::open(tmp.path(), opts());
    REQUIRE(store.has_value());
    REQUIRE(store->write(Lsn(kSeg), bytes).has_value());
    CHECK(store->write_lsn() == Lsn(2 * kSeg));
    store->sync();
    CHECK(exists(tmp.sub(seg_name(1))));  // complete
    CHECK_FALSE(exists(tmp.sub(seg_name(2) + ".partial")));
  }
  auto store = WalStore::open(tmp.path(), opts());
  REQUIRE(store.has_value());
  auto at_boundary = store->find_end_of_wal(Lsn(2 * kSeg), Lsn(2 * kSeg));
  REQUIRE(at_boundary.has_value());
  CHECK(at_boundary->end == Lsn(2 * kSeg));
  auto from_start = store->find_end_of_wal(Lsn(kSeg), Lsn(kSeg));
  REQUIRE(from_start.has_value());
  CHECK(from_start->end == Lsn(2 * kSeg));
  store->cut_torn_tail();
  CHECK(exists(tmp.sub(seg_name(1))));
  REQUIRE(store->write(Lsn(2 * kSeg), make_wal(Lsn(2 * kSeg), kSeg, 100).bytes).has_value());
}

TEST_CASE("wal store: remove_segments_below never removes the segment holding the LSN") {
  TempDir tmp;
  auto store = WalStore::open(tmp.path(), opts());
  REQUIRE(store.has_value());
  auto bytes = pattern(3 * kSeg + 100, 11);
  REQUIRE(store->write(Lsn(kSeg), bytes).has_value());
  store->sync();
  REQUIRE(store->remove_segments_below(Lsn(3 * kSeg + 5)).has_value());
  CHECK_FALSE(exists(tmp.sub(seg_name(1))));
  CHECK_FALSE(exists(tmp.sub(seg_name(2))));
  CHECK(exists(tmp.sub(seg_name(3))));
  CHECK(store->first_lsn() == Lsn(3 * kSeg));
  std::vector<std::uint8_t> one(1);
  auto gone = store->read(Lsn(2 * kSeg), one);
  REQUIRE_FALSE(gone.has_value());
  CHECK(gone.error().code == base::ErrorCode::kNotFound);
  auto kept = store->read(Lsn(3 * kSeg), one);
  REQUIRE(kept.has_value());
  CHECK(one[0] == bytes[2 * kSeg]);
  // Far above the end: the newest segment is kept.
  REQUIRE(store->remove_segments_below(Lsn(100 * kSeg)).has_value());
  CHECK(exists(tmp.sub(seg_name(4) + ".partial")));
  CHECK(store->write(store->write_lsn(), pattern(10, 1)).has_value());
}

TEST_CASE("wal store: a complete segment still named .partial after a crash gets its name") {
  TempDir tmp;
  auto wal = make_wal(Lsn(kSeg), kSeg, kSeg + 50000);
  {
    auto store = WalStore::open(tmp.path(), opts());
    REQUIRE(store.has_value());
    REQUIRE(store->write(wal.start, wal.bytes).has_value());
    store->sync();
  }
  // As if the crash came between the fdatasync and the rename.
  REQUIRE(::rename(tmp.sub(seg_name(1)).c_str(), tmp.sub(seg_name(1) + ".partial").c_str()) == 0);
  auto store = WalStore::open(tmp.path(), opts());
  REQUIRE(store.has_value());
  auto scan = store->find_end_of_wal(wal.start, wal.start);
  REQUIRE(scan.has_value());
  CHECK(scan->end == wal.end);
  store->cut_torn_tail();
  store->sync();
  CHECK(exists(tmp.sub(seg_name(1))));
  CHECK_FALSE(exists(tmp.sub(seg_name(1) + ".partial")));
}

TEST_CASE("wal store: reopen of a store interrupted while creating next.prealloc") {
  TempDir tmp;
  {
    auto store = WalStore::open(tmp.path(), opts());
    REQUIRE(store.has_value());
    REQUIRE(store->write(Lsn(kSeg), pattern(kSeg / 4 * 3 + 100, 1)).has_value());
    store->sync();
  }
  REQUIRE(::truncate(tmp.sub("next.prealloc").c_str(), 4096) == 0);  // half-made
  auto store = WalStore::open(tmp.path(), opts());
  REQUIRE(store.has_value());
  CHECK_FALSE(exists(tmp.sub("next.prealloc")));
}

TEST_CASE("wal store: bad options are refused") {
  TempDir tmp;
  WalStoreOptions o = opts();
  o.seg_size = 3 << 20;
  auto store = WalStore::open(tmp.path(), o);
  REQUIRE_FALSE(store.has_value());
  CHECK(store.error().code == base::ErrorCode::kInvalidArgument);
}

}  // namespace
}  // namespace wq::storage
