// getpage-bench: GetPage@LSN latency on the synthetic compute's hot pages,
// measured at the client. One connection, one request in flight (as a
// compute's backend reads a page), pages drawn uniformly from the hot set:
// warehouse and district (block 0 of rel_base and rel_base+1) and the first
// hot_blocks_pct % of each data relation's blocks (compute/workload.h). Every
// read is at --lsn. Prints one JSON line. A benchmark, not a test.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <random>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include "net/address.h"
#include "pageserver/getpage_conn.h"

using namespace wq;
using Clock = std::chrono::steady_clock;

namespace {

double quantile(std::vector<double>& v, double q) {
  if (v.empty()) return 0;
  std::size_t i = std::min(v.size() - 1, static_cast<std::size_t>(q * static_cast<double>(v.size())));
  std::nth_element(v.begin(), v.begin() + static_cast<std::ptrdiff_t>(i), v.end());
  return v[i];
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"getpage-bench: GetPage@LSN latency on the compute's hot pages", "getpage-bench"};
  std::string server, tenant_hex(32, '0'), timeline_hex(32, '0'), lsn_text;
  std::uint32_t spc = 1663, db = 16384, rel_base = 16384, relations = 8, blocks = 16384, hot_pct = 10;
  std::uint32_t reads = 2000, seed = 1;
  app.add_option("--server", server, "HOST:PORT of the pageserver's --listen-page")->required();
  app.add_option("--tenant-id", tenant_hex, "32 hex digits");
  app.add_option("--timeline-id", timeline_hex, "32 hex digits");
  app.add_option("--lsn", lsn_text, "X/Y every read is at")->required();
  app.add_option("--spc", spc, "tablespace");
  app.add_option("--db", db, "database");
  app.add_option("--rel-base", rel_base, "the compute's rel_base (its --json summary)");
  app.add_option("--relations", relations, "data relations");
  app.add_option("--blocks", blocks, "blocks per data relation");
  app.add_option("--hot-blocks-pct", hot_pct, "hot share of each data relation's blocks");
  app.add_option("--reads", reads, "requests timed");
  app.add_option("--seed", seed, "page choice");
  CLI11_PARSE(app, argc, argv);
  auto hp = net::parse_host_port(server);
  auto tenant = pageserver::parse_id_hex(tenant_hex);
  auto timeline = pageserver::parse_id_hex(timeline_hex);
  auto lsn = wal::Lsn::parse(lsn_text);
  if (!hp || !tenant || !timeline || !lsn) {
    std::fprintf(stderr, "getpage-bench: bad --server, --tenant-id, --timeline-id or --lsn\n");
    return 2;
  }
  std::vector<pageserver::PageId> hot;
  auto add = [&](std::uint32_t rel, std::uint32_t blk) {
    pageserver::PageId p;
    p.tenant = *tenant;
    p.timeline = *timeline;
    p.spc = spc;
    p.db = db;
    p.rel = rel;
    p.blk = blk;
    hot.push_back(p);
  };
  add(rel_base, 0);
  add(rel_base + 1, 0);
  const std::uint32_t hot_blocks = std::max<std::uint32_t>(1, blocks * hot_pct / 100);
  for (std::uint32_t r = 0; r < relations; ++r) {
    for (std::uint32_t b = 0; b < hot_blocks; ++b) add(rel_base + 2 + r, b);
  }
  pageserver::GetPageConnection conn;
  if (auto st = conn.connect(*hp, /*no_delay=*/true); !st) {
    std::fprintf(stderr, "getpage-bench: %s\n", st.error().message.c_str());
    return 1;
  }
  std::mt19937 rng(seed);
  std::vector<double> lat;
  lat.reserve(reads);
  std::uint64_t deltas_sum = 0, deltas_max = 0, errors = 0;
  std::string first_error;
  for (std::uint32_t i = 0; i < reads; ++i) {
    pageserver::GetPageRequest req;
    req.page = hot[rng() % hot.size()];
    req.lsn = lsn->value();
    auto t0 = Clock::now();
    auto got = conn.exchange(req);
    if (!got) {
      std::fprintf(stderr, "getpage-bench: %s\n", got.error().message.c_str());
      return 1;
    }
    lat.push_back(std::chrono::duration<double, std::micro>(Clock::now() - t0).count());
    auto resp = pageserver::decode_response(*got);
    if (!resp || !resp->page) {
      ++errors;
      if (first_error.empty()) first_error = resp ? resp->error : resp.error().message;
      continue;
    }
    deltas_sum += resp->deltas_replayed;
    deltas_max = std::max<std::uint64_t>(deltas_max, resp->deltas_replayed);
  }
  conn.close();
  std::vector<double> sorted = lat;
  double p50 = quantile(sorted, 0.50), p99 = quantile(sorted, 0.99);
  double mx = lat.empty() ? 0 : *std::max_element(lat.begin(), lat.end());
  std::string err;
  for (char c : first_error) {
    if (c == '"' || c == '\\') err += '\\';
    err += c;
  }
  std::printf(
      "{\"hot_pages\":%zu,\"reads\":%u,\"errors\":%llu,\"p50_us\":%.1f,\"p99_us\":%.1f,\"max_us\":%.1f,"
      "\"mean_deltas\":%.2f,\"max_deltas\":%llu,\"first_error\":\"%s\"}\n",
      hot.size(), reads, static_cast<unsigned long long>(errors), p50, p99, mx,
      reads > errors ? static_cast<double>(deltas_sum) / static_cast<double>(reads - errors) : 0.0,
      static_cast<unsigned long long>(deltas_max), err.c_str());
  return errors == 0 ? 0 : 1;
}
