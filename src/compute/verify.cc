// `walquorum-compute verify`, the pure half (see verify.h).
#include "compute/verify.h"

#include <algorithm>
#include <charconv>
#include <cctype>
#include <cstdint>
#include <map>
#include <tuple>

#include <fmt/format.h>

#include "compute/page_model.h"

namespace wq::compute {
namespace {

ParseExit bad(const std::string& what) { return ParseExit{2, "walquorum-compute verify: " + what}; }


std::string_view trim(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
  return s;
}

// splitmix64 as a stream.
struct Rng {
  std::uint64_t state;
  std::uint64_t next() { return mix64(state++); }
  std::uint64_t below(std::uint64_t n) { return n == 0 ? 0 : next() % n; }
};

}  // namespace

std::string verify_usage() {
  return R"(walquorum-compute verify: reads random pages at random committed LSNs from a
pageserver (GetPage@LSN) and compares them byte for byte with the truth the
compute wrote to --truth-dir.

usage: walquorum-compute verify --pageserver H:P --truth-dir DIR --samples N [flags]

  --pageserver H:P     the pageserver's --listen-page address (required)
  --truth-dir DIR      the compute's --truth-dir: journal-*.bin, committed, timeline (required)
  --samples N          number of (page, LSN) reads (required)
  --seed N             seed of the sample choice (1)
  --tenant HEX32       tenant id (default: from DIR/timeline, as the compute wrote it)
  --timeline HEX32     timeline id (default: from DIR/timeline)
  --min-lsn X/Y        sample LSNs at or above this (default: each page's first change)
  --max-lsn X/Y        sample LSNs at or below this (default and upper bound: DIR/committed)
  --timeout-ms MS      longest wait for one GetPage answer (30000)
  --json               print the summary as one JSON object on stdout
  --help               this text

A sample is a page the journals changed, at an LSN in [max(min-lsn, its first
change), min(max-lsn, committed)]; half the samples come from the most-changed
pages, half of those at the upper bound. A progress line goes to stderr every
second, and one line per mismatch (tenant, timeline, rel, block, LSN, first
differing offset) or GetPage error. Summary on stdout:
  verify: <N> samples, <P> distinct pages, <M> mismatches, <E> errors,
  getpage p50 <us> us p99 <us> us, max deltas replayed <K>
(one line); with --json the keys samples, pages, mismatches, errors,
getpage_p50_us, getpage_p99_us, deltas_replayed_max.
Exit codes: 0 clean, 1 any mismatch or GetPage error, 2 bad flags or an
unreadable truth directory.)";
}

std::variant<VerifyOptions, ParseExit> parse_verify_args(const std::vector<std::string>& args) {
  VerifyOptions o;
  bool have_samples = false;
  for (std::size_t i = 0; i < args.size(); ++i) {
    static const char* const kValued[] = {"--pageserver", "--truth-dir", "--samples", "--seed", "--tenant",
                                          "--timeline", "--min-lsn", "--max-lsn", "--timeout-ms"};
    const std::size_t at = i;
    auto next = next_flag(args, i, kValued);
    if (auto* e = std::get_if<std::string>(&next)) return bad(*e);
    const FlagArg& arg = std::get<FlagArg>(next);
    const std::string& flag = arg.name;
    const std::string& value = arg.value;
    if (flag == "--help" || flag == "-h") return ParseExit{0, verify_usage()};
    if (flag == "--json") {
      o.json = true;
      continue;
    }
    if (!arg.valued) return bad(fmt::format("unknown flag '{}' (see --help)", args[at]));
    if (flag == "--pageserver") {
      auto colon = value.rfind(':');
      auto port = colon == std::string::npos ? std::nullopt : parse_u64(value.substr(colon + 1));
      if (colon == 0 || !port || *port == 0 || *port > 65535) {
        return bad(fmt::format("--pageserver: expected host:port, got '{}'", value));
      }
      o.pageserver = value;
    } else if (flag == "--truth-dir") {
      if (value.empty()) return bad("--truth-dir: expected a directory");
      o.truth_dir = value;
    } else if (flag == "--samples") {
      auto v = parse_u64(value);
      if (!v || *v > 100'000'000) return bad(fmt::format("--samples: expected an integer 0..100000000, got '{}'", value));
      o.samples = *v;
      have_samples = true;
    } else if (flag == "--seed") {
      auto v = parse_u64(value);
      if (!v) return bad(fmt::format("--seed: expected an unsigned integer, got '{}'", value));
      o.seed = *v;
    } else if (flag == "--tenant" || flag == "--timeline") {
      if (!is_hex32(value)) return bad(fmt::format("{}: expected 32 hex digits, got '{}'", flag, value));
      (flag == "--tenant" ? o.tenant : o.timeline) = value;
    } else if (flag == "--min-lsn" || flag == "--max-lsn") {
      auto l = wal::Lsn::parse(value);
      if (!l) return bad(fmt::format("{}: expected an LSN X/Y, got '{}'", flag, value));
      (flag == "--min-lsn" ? o.min_lsn : o.max_lsn) = *l;
    } else if (flag == "--timeout-ms") {
      auto v = parse_u64(value);
      if (!v || *v < 1 || *v > 3'600'000) {
        return bad(fmt::format("--timeout-ms: expected an integer 1..3600000, got '{}'", value));
      }
      o.timeout_ms = static_cast<std::uint32_t>(*v);
    }
  }
  if (o.pageserver.empty()) return bad("--pageserver is required (host:port)");
  if (o.truth_dir.empty()) return bad("--truth-dir is required");
  if (!have_samples) return bad("--samples is required");
  if (o.tenant.empty() != o.timeline.empty()) return bad("--tenant and --timeline go together");
  if (o.min_lsn && o.max_lsn && *o.min_lsn > *o.max_lsn) return bad("--min-lsn is above --max-lsn");
  return o;
}

base::Result<wal::Lsn> parse_lsn_text(std::string_view text) {
  auto l = wal::Lsn::parse(trim(text));
  if (!l) {
    return base::Unexpected{base::ErrorCode::kCorrupt,
                            fmt::format("expected an LSN X/Y, got '{}'", trim(text).substr(0, 40))};
  }
  return *l;
}

base::Result<std::pair<std::string, std::string>> parse_timeline_text(std::string_view text) {
  text = trim(text);
  auto sp = text.find(' ');
  std::string_view a = sp == std::string_view::npos ? text : text.substr(0, sp);
  std::string_view b = sp == std::string_view::npos ? std::string_view{} : trim(text.substr(sp + 1));
  if (!is_hex32(a) || !is_hex32(b)) {
    return base::Unexpected{base::ErrorCode::kCorrupt,
                            fmt::format("expected '<tenant hex32> <timeline hex32>', got '{}'", text.substr(0, 80))};
  }
  return std::pair<std::string, std::string>{std::string(a), std::string(b)};
}

TruthIndex TruthIndex::build(std::vector<TermJournal> terms, wal::Lsn cap) {
  std::sort(terms.begin(), terms.end(), [](const TermJournal& a, const TermJournal& b) { return a.term < b.term; });
  TruthIndex idx;
  std::map<std::tuple<std::uint32_t, std::uint32_t, std::uint32_t, std::uint32_t>, std::size_t> where;
  for (std::size_t t = 0; t < terms.size(); ++t) {
    wal::Lsn limit = cap;
    for (std::size_t u = t + 1; u < terms.size(); ++u) {
      if (terms[u].start) {
        limit = std::min(limit, *terms[u].start);
        break;
      }
    }
    const Journal& j = terms[t].journal;
    for (const JournalEntry& e : j.entries) {
      if (e.end_lsn > limit) break;  // entries are in LSN order
      auto key = std::make_tuple(j.spc, j.db, e.rel, e.blk);
      auto [it, fresh] = where.emplace(key, idx.pages_.size());
      if (fresh) {
        TruthPage p;
        p.spc = j.spc;
        p.db = j.db;
        p.rel = e.rel;
        p.blk = e.blk;
        idx.pages_.push_back(std::move(p));
      }
      idx.pages_[it->second].entries.push_back(e);
      ++idx.entries_;
    }
  }
  return idx;
}

base::Status TruthIndex::validate() const {
  wal::Page page{};
  for (const TruthPage& tp : pages_) {
    page.fill(0);
    for (std::size_t i = 0; i < tp.entries.size(); ++i) {
      const JournalEntry& e = tp.entries[i];
      if (!fits(page, e.op)) {
        return base::Unexpected{
            base::ErrorCode::kCorrupt,
            fmt::format("truth journal: change {} of rel {} blk {} at {} (op kind {} slot {} len {}) does not fit "
                        "the page its earlier changes build",
                        i, tp.rel, tp.blk, e.end_lsn, static_cast<int>(e.op.kind), e.op.slot, e.op.len)};
      }
      apply_op(page, tp.blk, e.op);
    }
  }
  return base::Ok{};
}

std::vector<Sample> pick_samples(const TruthIndex& index, std::uint64_t n, std::uint64_t seed, wal::Lsn lo,
                                 wal::Lsn hi) {
  const auto& pages = index.pages();
  std::vector<std::size_t> eligible;
  for (std::size_t i = 0; i < pages.size(); ++i) {
    if (std::max(lo, pages[i].first()) <= hi) eligible.push_back(i);
  }
  std::vector<Sample> out;
  if (eligible.empty()) return out;
  std::vector<std::size_t> hot = eligible;
  std::size_t hot_n = std::min(hot.size(), std::max<std::size_t>(8, hot.size() / 100));
  std::partial_sort(hot.begin(), hot.begin() + static_cast<std::ptrdiff_t>(hot_n), hot.end(),
                    [&](std::size_t a, std::size_t b) {
                      if (pages[a].entries.size() != pages[b].entries.size()) {
                        return pages[a].entries.size() > pages[b].entries.size();
                      }
                      return a < b;
                    });
  hot.resize(hot_n);
  Rng rng{seed * 0x9E3779B97F4A7C15ull + 0x5EED};
  out.reserve(n);
  for (std::uint64_t k = 0; k < n; ++k) {
    bool from_hot = k % 2 == 0;
    std::size_t page = from_hot ? hot[rng.below(hot.size())] : eligible[rng.below(eligible.size())];
    wal::Lsn from = std::max(lo, pages[page].first());
    wal::Lsn lsn = hi;
    if (!(from_hot && k % 4 == 0)) lsn = wal::Lsn(from.value() + rng.below(hi.value() - from.value() + 1));
    out.push_back(Sample{page, lsn});
  }
  return out;
}

wal::Page expected_page(const TruthPage& page, wal::Lsn lsn) {
  auto p = reconstruct_page(page.entries, page.rel, page.blk, lsn);
  if (p) return *p;
  wal::Page zero;
  zero.fill(0);
  return zero;
}

std::vector<wal::Page> expected_pages(const TruthIndex& index, const std::vector<Sample>& samples) {
  std::vector<wal::Page> out(samples.size());
  std::vector<std::size_t> order(samples.size());
  for (std::size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) {
    if (samples[a].page != samples[b].page) return samples[a].page < samples[b].page;
    return samples[a].lsn < samples[b].lsn;
  });
  std::size_t cur_page = SIZE_MAX, next = 0;
  wal::Page page{};
  for (std::size_t i : order) {
    const Sample& s = samples[i];
    const TruthPage& tp = index.pages()[s.page];
    if (s.page != cur_page) {
      cur_page = s.page;
      next = 0;
      page.fill(0);
    }
    for (; next < tp.entries.size() && tp.entries[next].end_lsn <= s.lsn; ++next) {
      apply_op(page, tp.blk, tp.entries[next].op);
      set_page_lsn(page, tp.entries[next].end_lsn);
    }
    out[i] = page;
  }
  return out;
}

std::optional<std::size_t> first_difference(const wal::Page& a, const wal::Page& b) {
  auto m = std::mismatch(a.begin(), a.end(), b.begin());
  if (m.first == a.end()) return std::nullopt;
  return static_cast<std::size_t>(m.first - a.begin());
}

std::string summary_line(const VerifySummary& s) {
  return fmt::format(
      "verify: {} samples, {} distinct pages, {} mismatches, {} errors, getpage p50 {} us p99 {} us, max deltas "
      "replayed {}",
      s.samples, s.pages, s.mismatches, s.errors, s.getpage_p50_us, s.getpage_p99_us, s.deltas_replayed_max);
}

std::string summary_json(const VerifySummary& s) {
  return fmt::format(
      "{{\"samples\":{},\"pages\":{},\"mismatches\":{},\"errors\":{},\"getpage_p50_us\":{},\"getpage_p99_us\":{},"
      "\"deltas_replayed_max\":{}}}",
      s.samples, s.pages, s.mismatches, s.errors, s.getpage_p50_us, s.getpage_p99_us, s.deltas_replayed_max);
}

}  // namespace wq::compute
