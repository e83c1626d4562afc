// `compute verify`'s pure half and the ack history's commit spans: flags,
// the truth index across terms, the sample choice, the expected pages (equal
// to reconstruct_page, and different once a truth entry is corrupted), and
// the commit record's crc32c over the WAL stream bytes.
#include <doctest/doctest.h>

#include <set>

#include "compute/verify.h"
#include "compute/workload.h"
#include "wal/crc32c.h"
#include "wal/decoder.h"

namespace wq::compute {
namespace {

constexpr wal::Lsn kStart(16 * 1024 * 1024);

struct Run {
  std::vector<std::uint8_t> wal;  // from kStart
  std::vector<JournalEntry> journal;
  std::vector<TxnResult> txns;
  wal::Lsn end;
};

Run run_workload(std::uint32_t txns, std::uint64_t seed) {
  WorkloadConfig c;
  c.relations = 2;
  c.blocks = 8;
  c.hot_blocks_pct = 25;
  c.system_id = 42;
  c.fpw = false;
  c.journal = true;
  Workload w(c, kStart, wal::Lsn(0));
  Run r;
  auto drain = [&] {
    auto b = w.take_bytes();
    r.wal.insert(r.wal.end(), b.begin(), b.end());
    auto j = w.take_journal();
    r.journal.insert(r.journal.end(), j.begin(), j.end());
  };
  while (w.blocks_to_load() > 0) w.load_step();
  w.checkpoint(0);
  drain();
  for (std::uint32_t i = 0; i < txns; ++i) {
    r.txns.push_back(w.run_txn(mix64(seed + i), 1'000'000));
    if (i % 3 == 0) drain();  // the pending bytes start anywhere before a transaction
  }
  drain();
  r.end = w.end_lsn();
  return r;
}

TruthIndex index_of(const Run& r, wal::Lsn cap) {
  TermJournal tj;
  tj.term = 1;
  tj.journal.spc = 1663;
  tj.journal.db = 16384;
  tj.journal.entries = r.journal;
  std::vector<TermJournal> terms;
  terms.push_back(std::move(tj));
  return TruthIndex::build(std::move(terms), cap);
}

ParseExit must_fail(std::vector<std::string> args) {
  auto r = parse_verify_args(args);
  REQUIRE(std::holds_alternative<ParseExit>(r));
  auto e = std::get<ParseExit>(r);
  CHECK(e.exit_code == 2);
  CHECK(e.text.find('\n') == std::string::npos);
  return e;
}

}  // namespace

TEST_CASE("verify flags: required ones, values, --help") {
  std::vector<std::string> ok = {"--pageserver", "127.0.0.1:5", "--truth-dir", "/t", "--samples", "10"};
  auto r = parse_verify_args(ok);
  REQUIRE(std::holds_alternative<VerifyOptions>(r));
  auto o = std::get<VerifyOptions>(r);
  CHECK(o.samples == 10);
  CHECK(o.seed == 1);
  CHECK(o.timeout_ms == 30000);
  CHECK(!o.json);
  CHECK(o.tenant.empty());

  auto full = ok;
  for (auto s : {"--seed", "7", "--tenant", "0123456789abcdef0123456789abcdef", "--timeline",
                 "fedcba9876543210fedcba9876543210", "--min-lsn", "0/1000000", "--max-lsn=0/2000000",
                 "--timeout-ms", "500", "--json"}) {
    full.push_back(s);
  }
  r = parse_verify_args(full);
  REQUIRE(std::holds_alternative<VerifyOptions>(r));
  o = std::get<VerifyOptions>(r);
  CHECK(o.seed == 7);
  CHECK(o.json);
  CHECK(*o.min_lsn == wal::Lsn(0x1000000));
  CHECK(*o.max_lsn == wal::Lsn(0x2000000));
  CHECK(o.timeout_ms == 500);

  auto help = parse_verify_args({"--help"});
  REQUIRE(std::holds_alternative<ParseExit>(help));
  CHECK(std::get<ParseExit>(help).exit_code == 0);
  CHECK(std::get<ParseExit>(help).text.find("--truth-dir") != std::string::npos);

  CHECK(must_fail({"--truth-dir", "/t", "--samples", "1"}).text.find("--pageserver") != std::string::npos);
  CHECK(must_fail({"--pageserver", "h:1", "--samples", "1"}).text.find("--truth-dir") != std::string::npos);
  CHECK(must_fail({"--pageserver", "h:1", "--truth-dir", "/t"}).text.find("--samples") != std::string::npos);
  CHECK(must_fail({"--pageserver", "h", "--truth-dir", "/t", "--samples", "1"}).text.find("host:port") !=
        std::string::npos);
  CHECK(must_fail({"--pageserver", "h:1", "--truth-dir", "/t", "--samples", "x"}).text.find("'x'") !=
        std::string::npos);
  CHECK(must_fail({"--pageserver", "h:1", "--truth-dir", "/t", "--samples", "1", "--min-lsn", "zz"})
            .text.find("X/Y") != std::string::npos);
  CHECK(must_fail({"--pageserver", "h:1", "--truth-dir", "/t", "--samples", "1", "--tenant",
                   "0123456789abcdef0123456789abcdef"})
            .text.find("together") != std::string::npos);
  CHECK(must_fail({"--pageserver", "h:1", "--truth-dir", "/t", "--samples", "1", "--bogus"}).text.find("--bogus") !=
        std::string::npos);
}

TEST_CASE("truth directory files: committed and timeline") {
  CHECK(*parse_lsn_text("0/1A2B3C\n") == wal::Lsn(0x1A2B3C));
  CHECK(!parse_lsn_text("garbage"));
  CHECK(!parse_lsn_text(""));
  auto ids = parse_timeline_text("0123456789abcdef0123456789abcdef fedcba9876543210fedcba9876543210\n");
  REQUIRE(ids);
  CHECK(ids->first == "0123456789abcdef0123456789abcdef");
  CHECK(!parse_timeline_text("0123456789abcdef0123456789abcdef"));
  CHECK(!parse_timeline_text("xyz abc"));
}

TEST_CASE("commit spans: the crc32c of [start, end) of the stream, and a commit record starts there") {
  Run r = run_workload(60, 5);
  REQUIRE(!r.txns.empty());
  for (const TxnResult& t : r.txns) {
    REQUIRE(t.commit_start >= kStart);
    REQUIRE(t.commit_start < t.commit_end);
    REQUIRE(t.commit_end <= r.end);
    std::uint64_t from = t.commit_start - kStart, to = t.commit_end - kStart;
    CHECK(wal::crc32c(r.wal.data() + from, to - from) == t.commit_crc);
  }
  // A commit record that crosses a page boundary: its span includes the page header.
  Run big = run_workload(3000, 6);
  int crossing = 0;
  for (const TxnResult& t : big.txns) {
    if (t.commit_start.value() / wal::kBlockSize == (t.commit_end.value() - 1) / wal::kBlockSize) continue;
    ++crossing;
    std::uint64_t from = t.commit_start - kStart, to = t.commit_end - kStart;
    CHECK(wal::crc32c(big.wal.data() + from, to - from) == t.commit_crc);
  }
  CHECK(crossing > 0);
  // A different byte in the span changes the crc32c (the history check can fail).
  const TxnResult& t = r.txns.back();
  std::vector<std::uint8_t> span(r.wal.begin() + static_cast<std::ptrdiff_t>(t.commit_start - kStart),
                                 r.wal.begin() + static_cast<std::ptrdiff_t>(t.commit_end - kStart));
  span[span.size() / 2] ^= 1;
  CHECK(wal::crc32c(span.data(), span.size()) != t.commit_crc);
}

TEST_CASE("samples: in range, deterministic, hot pages included, expected pages match reconstruct_page") {
  Run r = run_workload(200, 9);
  TruthIndex idx = index_of(r, r.end);
  REQUIRE(idx.pages().size() > 8);
  CHECK(idx.entries() == r.journal.size());
  wal::Lsn lo(kStart.value() + 4096), hi = r.end;
  auto a = pick_samples(idx, 500, 3, lo, hi);
  auto b = pick_samples(idx, 500, 3, lo, hi);
  auto c = pick_samples(idx, 500, 4, lo, hi);
  REQUIRE(a.size() == 500);
  bool same = true, differ = false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    same = same && a[i].page == b[i].page && a[i].lsn == b[i].lsn;
    differ = differ || a[i].page != c[i].page || a[i].lsn != c[i].lsn;
  }
  CHECK(same);
  CHECK(differ);
  // The most-changed page is sampled, some samples sit at hi itself.
  std::size_t hottest = 0;
  for (std::size_t i = 0; i < idx.pages().size(); ++i) {
    if (idx.pages()[i].entries.size() > idx.pages()[hottest].entries.size()) hottest = i;
  }
  std::set<std::size_t> pages;
  int at_hi = 0;
  for (const Sample& s : a) {
    const TruthPage& p = idx.pages()[s.page];
    CHECK(s.lsn <= hi);
    CHECK(s.lsn >= lo);
    CHECK(s.lsn >= p.first());
    pages.insert(s.page);
    at_hi += s.lsn == hi;
  }
  CHECK(pages.count(hottest) == 1);
  CHECK(at_hi >= 100);
  CHECK(pages.size() > 8);

  auto expected = expected_pages(idx, a);
  REQUIRE(expected.size() == a.size());
  for (std::size_t i = 0; i < a.size(); ++i) {
    const TruthPage& p = idx.pages()[a[i].page];
    auto want = reconstruct_page(r.journal, p.rel, p.blk, a[i].lsn);
    REQUIRE(want);
    CHECK(expected[i] == *want);
    CHECK(expected_page(p, a[i].lsn) == *want);
    CHECK(!first_difference(expected[i], *want));
    CHECK(page_lsn(expected[i]) <= a[i].lsn);
  }

  // No page changed at or below lo..hi when hi is below every first change: no samples.
  CHECK(pick_samples(idx, 10, 1, wal::Lsn(0), wal::Lsn(kStart.value())).empty());
  CHECK(pick_samples(idx, 0, 1, lo, hi).empty());
}

TEST_CASE("a corrupted truth entry gives a mismatch at a named offset") {
  Run r = run_workload(100, 11);
  TruthIndex good = index_of(r, r.end);
  auto samples = pick_samples(good, 200, 1, wal::Lsn(0), r.end);
  auto want = expected_pages(good, samples);
  // Change the bytes of the hottest page's last update: every sample of that
  // page at or above it now differs from what the true pages say.
  std::size_t hottest = samples[0].page;
  const JournalEntry& victim = good.pages()[hottest].entries.back();
  Run bad_run = r;
  bool changed = false;
  for (auto& e : bad_run.journal) {
    if (e == victim) {
      e.op.nonce ^= 0xFFFF;
      e.op.xid ^= 1;
      changed = true;
    }
  }
  REQUIRE(changed);
  TruthIndex bad = index_of(bad_run, r.end);
  auto got = expected_pages(bad, samples);
  int mismatches = 0;
  for (std::size_t i = 0; i < samples.size(); ++i) {
    auto off = first_difference(got[i], want[i]);
    bool should = samples[i].page == hottest && samples[i].lsn >= victim.end_lsn;
    CHECK(off.has_value() == should);
    if (off) {
      CHECK(*off >= kPageHeaderSize);
      CHECK(got[i][*off] != want[i][*off]);
      ++mismatches;
    }
  }
  CHECK(mismatches > 0);
}

TEST_CASE("truth index: the cap, and a term's entries above the next term's start are dropped") {
  Run r = run_workload(50, 13);
  wal::Lsn mid(r.journal[r.journal.size() / 2].end_lsn);
  TruthIndex capped = index_of(r, mid);
  std::uint64_t below = 0;
  for (const auto& e : r.journal) below += e.end_lsn <= mid;
  CHECK(capped.entries() == below);
  for (const auto& p : capped.pages()) {
    for (const auto& e : p.entries) CHECK(e.end_lsn <= mid);
  }

  std::vector<TermJournal> terms(2);
  terms[0].term = 4;
  terms[0].journal.entries = r.journal;
  terms[1].term = 9;
  terms[1].start = mid;
  JournalEntry later = r.journal.back();
  later.rel += 512;  // relations of their own
  later.end_lsn = r.end + 100;
  terms[1].journal.entries = {later};
  TruthIndex two = TruthIndex::build(std::move(terms), r.end + 200);
  CHECK(two.entries() == below + 1);
}

TEST_CASE("summary line and JSON") {
  VerifySummary s{5000, 812, 0, 1, 210, 1900, 7};
  CHECK(summary_line(s) ==
        "verify: 5000 samples, 812 distinct pages, 0 mismatches, 1 errors, getpage p50 210 us p99 1900 us, max "
        "deltas replayed 7");
  CHECK(summary_json(s) ==
        "{\"samples\":5000,\"pages\":812,\"mismatches\":0,\"errors\":1,\"getpage_p50_us\":210,"
        "\"getpage_p99_us\":1900,\"deltas_replayed_max\":7}");
}

TEST_CASE("truth index: a journal whose Op does not fit its page is corrupt, not an abort") {
  Run r = run_workload(40, 7);
  CHECK(index_of(r, r.end).validate());
  // An insert far longer than a page can hold, on the first page the journal changes.
  Run bad = r;
  REQUIRE(bad.journal.size() > 2);
  JournalEntry& e = bad.journal[1];
  e.op.kind = Op::kInsert;
  e.op.len = 60000;
  auto st = index_of(bad, bad.end).validate();
  REQUIRE_FALSE(st);
  CHECK(st.error().code == base::ErrorCode::kCorrupt);
  CHECK(st.error().message.find("does not fit") != std::string::npos);
}

}  // namespace wq::compute
