// `walquorum-compute verify`, the I/O half (see verify.h): reads the truth
// directory, sends GetPage@LSN requests (framed Cap'n Proto over TCP, one at a
// time on one connection, reconnecting after a failure), compares, prints.
#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <regex>
#include <sstream>

#include <fmt/format.h>

#include "compute/histogram.h"
#include "compute/verify.h"
#include "net/address.h"
#include "pageserver/getpage_conn.h"

namespace wq::compute {
namespace {

using Clock = std::chrono::steady_clock;
constexpr std::size_t kChunk = 1024;  // samples whose expected pages are held at once

std::optional<std::string> read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return std::nullopt;
  std::ostringstream ss;
  ss << in.rdbuf();
  if (in.bad()) return std::nullopt;
  return ss.str();
}

// One GetPage connection; any failure closes it and the next call reconnects.
class Conn {
 public:
  explicit Conn(net::HostPort hp) : hp_(std::move(hp)) {}

  // `waiting` is called once a second while the answer is awaited (progress lines).
  base::Result<pageserver::GetPageResponse> get(const pageserver::GetPageRequest& req, std::uint32_t timeout_ms,
                                                const pageserver::GetPageConnection::Waiting& waiting) {
    if (!conn_.connected()) {
      if (auto st = conn_.connect(hp_); !st) return base::Unexpected{st.error()};
    }
    return conn_.request(req, timeout_ms, waiting);
  }

 private:
  net::HostPort hp_;
  pageserver::GetPageConnection conn_;
};

int usage_error(const std::string& msg) {
  std::fprintf(stderr, "walquorum-compute verify: %s\n", msg.c_str());
  return 2;
}

}  // namespace

int verify_main(const std::vector<std::string>& args) {
  auto parsed = parse_verify_args(args);
  if (auto* exit = std::get_if<ParseExit>(&parsed)) {
    std::fprintf(exit->exit_code == 0 ? stdout : stderr, "%s\n", exit->text.c_str());
    return exit->exit_code;
  }
  const VerifyOptions& opt = std::get<VerifyOptions>(parsed);
  auto hp = net::parse_host_port(opt.pageserver);
  if (!hp) return usage_error("--pageserver: " + hp.error().message);

  // The truth directory.
  const std::string& dir = opt.truth_dir;
  auto committed_text = read_file(dir + "/committed");
  if (!committed_text) return usage_error(fmt::format("cannot read {}/committed", dir));
  auto committed = parse_lsn_text(*committed_text);
  if (!committed) return usage_error(fmt::format("{}/committed: {}", dir, committed.error().message));
  std::string tenant_hex = opt.tenant, timeline_hex = opt.timeline;
  if (tenant_hex.empty()) {
    auto t = read_file(dir + "/timeline");
    if (!t) return usage_error(fmt::format("cannot read {}/timeline (or give --tenant and --timeline)", dir));
    auto ids = parse_timeline_text(*t);
    if (!ids) return usage_error(fmt::format("{}/timeline: {}", dir, ids.error().message));
    tenant_hex = ids->first;
    timeline_hex = ids->second;
  }
  auto tenant = pageserver::parse_id_hex(tenant_hex);
  auto timeline = pageserver::parse_id_hex(timeline_hex);
  if (!tenant || !timeline) return usage_error("bad tenant or timeline id");

  std::vector<TermJournal> terms;
  std::error_code ec;
  static const std::regex kJournalName("journal-([0-9]{1,20})\\.bin");
  for (const auto& de : std::filesystem::directory_iterator(dir, ec)) {
    std::smatch m;
    std::string name = de.path().filename().string();
    if (!std::regex_match(name, m, kJournalName)) continue;
    TermJournal tj;
    tj.term = std::stoull(m[1].str());
    auto bytes = read_file(de.path().string());
    if (!bytes) return usage_error(fmt::format("cannot read {}", de.path().string()));
    auto j = decode_journal(std::span<const std::uint8_t>(reinterpret_cast<const std::uint8_t*>(bytes->data()),
                                                          bytes->size()));
    if (!j) return usage_error(fmt::format("{}: {}", de.path().string(), j.error().message));
    tj.journal = std::move(*j);
    if (auto st = read_file(fmt::format("{}/term-{}.start", dir, tj.term))) {
      auto l = parse_lsn_text(*st);
      if (!l) return usage_error(fmt::format("{}/term-{}.start: {}", dir, tj.term, l.error().message));
      tj.start = *l;
    }
    terms.push_back(std::move(tj));
  }
  if (ec) return usage_error(fmt::format("cannot list {}: {}", dir, ec.message()));
  if (terms.empty()) return usage_error(fmt::format("no journal-*.bin in {}", dir));

  wal::Lsn hi = opt.max_lsn ? std::min(*opt.max_lsn, *committed) : *committed;
  wal::Lsn lo = opt.min_lsn.value_or(wal::Lsn(0));
  TruthIndex index = TruthIndex::build(std::move(terms), *committed);
  if (auto valid = index.validate(); !valid) return usage_error(valid.error().message);
  auto samples = pick_samples(index, opt.samples, opt.seed, lo, hi);
  if (opt.samples > 0 && samples.empty()) {
    return usage_error(fmt::format("no page of the truth journals changed in [{}, {}] (committed {})", lo, hi,
                                   *committed));
  }
  std::fprintf(stderr,
               "walquorum-compute verify: %zu pages, %llu journal entries up to committed %s; %zu samples in "
               "[%s, %s]\n",
               index.pages().size(), static_cast<unsigned long long>(index.entries()),
               committed->to_string().c_str(), samples.size(), lo.to_string().c_str(), hi.to_string().c_str());

  Conn conn(*hp);
  Histogram latency;
  VerifySummary sum;
  std::vector<bool> seen(index.pages().size(), false);
  auto t0 = Clock::now();
  auto last_progress = t0;
  for (std::size_t base = 0; base < samples.size(); base += kChunk) {
    std::vector<Sample> chunk(samples.begin() + static_cast<std::ptrdiff_t>(base),
                              samples.begin() + static_cast<std::ptrdiff_t>(std::min(base + kChunk, samples.size())));
    auto expected = expected_pages(index, chunk);
    for (std::size_t i = 0; i < chunk.size(); ++i) {
      const Sample& s = chunk[i];
      const TruthPage& tp = index.pages()[s.page];
      pageserver::GetPageRequest req;
      req.page.tenant = *tenant;
      req.page.timeline = *timeline;
      req.page.spc = tp.spc;
      req.page.db = tp.db;
      req.page.rel = tp.rel;
      req.page.fork = 0;
      req.page.blk = tp.blk;
      req.lsn = s.lsn.value();
      std::string key = fmt::format("tenant {} timeline {} rel {}/{}/{} blk {} lsn {}", tenant_hex, timeline_hex,
                                    tp.spc, tp.db, tp.rel, tp.blk, s.lsn);
      auto g0 = Clock::now();
      auto resp = conn.get(req, opt.timeout_ms, [&](std::uint32_t waited_ms) {
        std::fprintf(stderr, "verify: %llu/%zu samples, waiting %u ms for the answer for %s\n",
                     static_cast<unsigned long long>(sum.samples), samples.size(), waited_ms, key.c_str());
      });
      auto us = std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - g0).count();
      ++sum.samples;
      if (!seen[s.page]) {
        seen[s.page] = true;
        ++sum.pages;
      }
      if (!resp) {
        ++sum.errors;
        std::fprintf(stderr, "verify: ERROR %s: %s\n", key.c_str(), resp.error().message.c_str());
      } else if (!resp->page) {
        ++sum.errors;
        std::fprintf(stderr, "verify: ERROR %s: pageserver: %s\n", key.c_str(), resp->error.c_str());
      } else {
        latency.record(static_cast<std::uint64_t>(us));
        sum.deltas_replayed_max = std::max<std::uint64_t>(sum.deltas_replayed_max, resp->deltas_replayed);
        if (auto off = first_difference(*resp->page, expected[i])) {
          ++sum.mismatches;
          std::fprintf(stderr, "verify: MISMATCH %s: first difference at byte %zu (got 0x%02x, expected 0x%02x)\n",
                       key.c_str(), *off, (*resp->page)[*off], expected[i][*off]);
        }
      }
      auto now = Clock::now();
      if (now - last_progress >= std::chrono::seconds(1)) {
        last_progress = now;
        std::fprintf(stderr, "verify: %5.1fs %llu/%zu samples, %llu mismatches, %llu errors\n",
                     std::chrono::duration<double>(now - t0).count(), static_cast<unsigned long long>(sum.samples),
                     samples.size(), static_cast<unsigned long long>(sum.mismatches),
                     static_cast<unsigned long long>(sum.errors));
      }
    }
  }
  sum.getpage_p50_us = latency.quantile(0.5);
  sum.getpage_p99_us = latency.quantile(0.99);
  std::printf("%s\n", opt.json ? summary_json(sum).c_str() : summary_line(sum).c_str());
  std::fflush(stdout);
  return sum.mismatches == 0 && sum.errors == 0 ? 0 : 1;
}

}  // namespace wq::compute
