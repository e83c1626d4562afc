// `walquorum-compute verify`: the pure half. Flags, the truth index (every
// page the truth journals changed, with its own entries), the choice of
// (page, LSN) samples, the byte comparison and the summary text. The socket
// and file half is verify_main.cc.
//
// A truth directory holds journal-<term>.bin (one per compute term; the
// relations of different terms are disjoint), `committed` (X/Y: the latest
// quorum-commit LSN, every journal entry at or below it has been written),
// `timeline` (tenant and timeline ids) and term-<term>.start (X/Y: where
// that term's WAL starts; entries of an earlier term above it never reached
// the WAL the cluster kept, so they are dropped).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "base/result.h"
#include "compute/options.h"
#include "compute/truth.h"
#include "wal/lsn.h"

namespace wq::compute {

struct VerifyOptions {
  std::string pageserver;  // host:port of the pageserver's --listen-page
  std::string truth_dir;
  std::uint64_t samples = 0;
  std::uint64_t seed = 1;
  std::string tenant, timeline;  // 32 hex digits; empty: read from <truth-dir>/timeline
  std::optional<wal::Lsn> min_lsn, max_lsn;
  std::uint32_t timeout_ms = 30'000;  // per GetPage
  bool json = false;
};

std::string verify_usage();
// args are those after "verify". Exit 0 with the usage for --help, 2 for a bad flag.
std::variant<VerifyOptions, ParseExit> parse_verify_args(const std::vector<std::string>& args);

// "X/Y" with optional surrounding whitespace (the committed and term start files).
base::Result<wal::Lsn> parse_lsn_text(std::string_view text);
// "<tenant hex32> <timeline hex32>" (the timeline file).
base::Result<std::pair<std::string, std::string>> parse_timeline_text(std::string_view text);

struct TermJournal {
  std::uint64_t term = 0;
  Journal journal;
  std::optional<wal::Lsn> start;  // term-<term>.start, if present
};

struct TruthPage {
  std::uint32_t spc = 0, db = 0, rel = 0, blk = 0;
  std::vector<JournalEntry> entries;  // this page's changes at or below the cap, in LSN order
  wal::Lsn first() const { return entries.front().end_lsn; }
};

class TruthIndex {
 public:
  // Groups every entry at or below `cap` (the committed LSN) by page. A term's
  // entries above the start of the next term present are dropped.
  static TruthIndex build(std::vector<TermJournal> terms, wal::Lsn cap);
  const std::vector<TruthPage>& pages() const { return pages_; }
  std::uint64_t entries() const { return entries_; }
  // Replays every page's entries once and checks each Op fits the page it
  // lands on (apply_op asserts that): a damaged or foreign journal is a
  // kCorrupt error naming the page and entry, not an abort of verify.
  base::Status validate() const;

 private:
  std::vector<TruthPage> pages_;
  std::uint64_t entries_ = 0;
};

struct Sample {
  std::size_t page = 0;  // index into TruthIndex::pages()
  wal::Lsn lsn;
};
// n samples over the pages whose first change is at or below hi, each at an
// LSN in [max(lo, first change), hi]. Half come from the most-changed pages
// (the top 1 %, at least 8), half of those at hi itself (the reads that need
// the most deltas); the other half are uniform over the eligible pages and
// their ranges. Deterministic in seed. Empty if no page is eligible.
std::vector<Sample> pick_samples(const TruthIndex& index, std::uint64_t n, std::uint64_t seed, wal::Lsn lo,
                                 wal::Lsn hi);

// The page as of lsn (all zeros before its first change, which samples avoid).
wal::Page expected_page(const TruthPage& page, wal::Lsn lsn);
// expected_page for every sample, replaying each page's entries once (in
// LSN order over the samples of that page) instead of once per sample.
std::vector<wal::Page> expected_pages(const TruthIndex& index, const std::vector<Sample>& samples);
// The first offset where a and b differ, nullopt if equal.
std::optional<std::size_t> first_difference(const wal::Page& a, const wal::Page& b);

struct VerifySummary {
  std::uint64_t samples = 0, pages = 0, mismatches = 0, errors = 0;
  std::uint64_t getpage_p50_us = 0, getpage_p99_us = 0;
  std::uint64_t deltas_replayed_max = 0;
};
std::string summary_line(const VerifySummary& s);
std::string summary_json(const VerifySummary& s);

// The subcommand itself (verify_main.cc): reads the truth directory, sends
// the GetPage requests, prints, returns the exit code (0 clean, 1 a mismatch
// or a GetPage error, 2 bad flags or unreadable input).
int verify_main(const std::vector<std::string>& args);

}  // namespace wq::compute
