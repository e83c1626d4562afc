// commit-bench: the commit path through the proposer library (TARGETS.md §2),
// as a compute sees it: proposer::Client against running safekeepers,
// PostgreSQL WAL generated with wal::WalWriter (XLOG_NOOP records with a
// payload). One part per run, one JSON object on stdout:
//   latency     1 client, one RECORD-byte record at a time: append, wait for
//               its quorum commit, repeat (p50/p99 of append→committed)
//   stream      one large stream: BATCH-byte appends of RECORD-byte records,
//               pipelined (append blocks only on back-pressure), MB/s from the
//               first append to the commit of the last byte
//   committers  THREADS threads; each appends one RECORD-byte record under a
//               shared append lock (WAL is one ordered stream) and waits for
//               its commit, for SECONDS (commits/s, MB/s, p50/p99)
// Each run uses a fresh timeline (--timeline-byte picks it). Exit 1 with one
// line on stderr if the client fails. A benchmark: nothing is asserted.
#include <sys/resource.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <mutex>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include <CLI/CLI.hpp>
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "proposer/client.h"
#include "wal/encoder.h"
#include "wal/format.h"

namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;
using wq::wal::Lsn;

constexpr auto kTimeout = 30s;

struct Options {
  std::vector<std::string> safekeepers;
  std::string part;
  int count = 3000;                      // latency: commits
  std::uint64_t mib = 512;               // stream: MiB of WAL
  std::uint64_t batch_bytes = 128 * 1024;
  int record_bytes = 0;                  // xl_tot_len; 0 = the part's default
  int threads = 32;
  int seconds = 10;
  std::uint64_t window_bytes = 0;        // 0 = the library's default
  std::uint8_t timeline_byte = 0x01;
  std::uint64_t system_id = 7300000000000000003ull;
};

[[noreturn]] void die(const std::string& what) {
  std::fprintf(stderr, "commit-bench: %s\n", what.c_str());
  std::exit(1);
}

// A record of exactly `total` bytes (xl_tot_len): XLogRecord (24) + main-data
// block header (2 bytes for data < 256, else 5) + payload.
wq::wal::RecordBuilder record(int total, std::uint64_t seq) {
  std::size_t payload = static_cast<std::size_t>(total - 26 < 256 ? total - 26 : total - 29);
  std::vector<std::uint8_t> data(payload);
  for (std::size_t k = 0; k < data.size(); ++k) data[k] = static_cast<std::uint8_t>(seq * 31 + k);
  wq::wal::RecordBuilder rb(wq::wal::RM_XLOG_ID, wq::wal::XLOG_NOOP);
  rb.set_main_data(data);
  return rb;
}

double pct(std::vector<double>& v, double q) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v[static_cast<std::size_t>(q * static_cast<double>(v.size() - 1))];
}

// CPU seconds (user + system) this process used so far, every thread included.
double cpu_s() {
  rusage ru{};
  ::getrusage(RUSAGE_SELF, &ru);
  auto sec = [](const timeval& tv) { return static_cast<double>(tv.tv_sec) + static_cast<double>(tv.tv_usec) / 1e6; };
  return sec(ru.ru_utime) + sec(ru.ru_stime);
}

double us_since(Clock::time_point t) { return std::chrono::duration<double, std::micro>(Clock::now() - t).count(); }

struct Session {
  std::unique_ptr<wq::proposer::Client> client;
  wq::wal::WalWriter writer;
  double elect_ms;
};

Session open_session(const Options& o) {
  wq::proposer::Options po;
  po.safekeepers = o.safekeepers;
  po.timeline.tenant.bytes.fill(0x5E);
  po.timeline.timeline.bytes.fill(0);
  po.timeline.timeline.bytes[0] = 0xC0;
  po.timeline.timeline.bytes[15] = o.timeline_byte;
  po.system_id = o.system_id;
  if (o.window_bytes) po.window_bytes_max = o.window_bytes;
  auto t0 = Clock::now();
  auto c = wq::proposer::Client::start(po);
  if (!c) die("start: " + c.error().message);
  auto e = (*c)->wait_elected(kTimeout);
  if (!e) die("wait_elected: " + e.error().message);
  wq::wal::WalWriter w(e->term_start_lsn, 1, o.system_id, wq::wal::kDefaultSegmentSize, e->prev_record_lsn);
  return Session{std::move(*c), std::move(w), us_since(t0) / 1000.0};
}

Lsn append(Session& s, std::chrono::milliseconds timeout = kTimeout) {
  auto bytes = s.writer.take_bytes();
  auto r = s.client->append(bytes, timeout);
  if (!r) die("append: " + r.error().message);
  return *r;
}

void wait(Session& s, Lsn lsn) {
  auto st = s.client->wait_committed(lsn, kTimeout);
  if (!st) die("wait_committed: " + st.error().message);
}

int run_latency(const Options& o) {
  int rec = o.record_bytes ? o.record_bytes : 256;
  auto s = open_session(o);
  std::vector<double> us;
  us.reserve(static_cast<std::size_t>(o.count));
  for (int i = 0; i < o.count + 50; ++i) {  // the first 50 warm up
    auto t = Clock::now();
    s.writer.append(record(rec, static_cast<std::uint64_t>(i)));
    wait(s, append(s));
    if (i >= 50) us.push_back(us_since(t));
  }
  double mean = 0;
  for (double v : us) mean += v / static_cast<double>(us.size());
  fmt::print("{{\"part\":\"latency\",\"record_bytes\":{},\"commits\":{},\"p50_us\":{:.0f},\"p99_us\":{:.0f},"
             "\"mean_us\":{:.0f},\"elect_ms\":{:.1f},\"client_cpu_s\":{:.3f}}}\n",
             rec, us.size(), pct(us, 0.5), pct(us, 0.99), mean, s.elect_ms, cpu_s());
  return 0;
}

int run_stream(const Options& o) {
  int rec = o.record_bytes ? o.record_bytes : 8192;
  auto s = open_session(o);
  std::uint64_t total = o.mib << 20;
  Lsn start = s.client->end_lsn();
  std::uint64_t seq = 0;
  auto t0 = Clock::now();
  Lsn end = start;
  while (end - start < total) {
    while (s.writer.bytes().size() + static_cast<std::size_t>(rec) <= o.batch_bytes) {
      s.writer.append(record(rec, seq++));
    }
    end = append(s);
  }
  wait(s, end);
  double secs = us_since(t0) / 1e6;
  double mb = static_cast<double>(end - start) / 1e6;
  fmt::print("{{\"part\":\"stream\",\"record_bytes\":{},\"batch_bytes\":{},\"mb\":{:.1f},\"seconds\":{:.3f},"
             "\"mb_per_s\":{:.1f},\"reconnects\":{},\"client_cpu_s\":{:.3f}}}\n",
             rec, o.batch_bytes, mb, secs, mb / secs, s.client->stats().reconnects, cpu_s());
  return 0;
}

int run_committers(const Options& o) {
  int rec = o.record_bytes ? o.record_bytes : 8192;
  auto s = open_session(o);
  std::mutex append_mu;  // WAL is one ordered stream: appends are serialized
  std::atomic<bool> stop{false};
  std::vector<std::vector<double>> lat(static_cast<std::size_t>(o.threads));
  std::atomic<std::uint64_t> seq{0};
  Lsn start = s.client->end_lsn();
  auto t0 = Clock::now();
  std::vector<std::thread> threads;
  for (int i = 0; i < o.threads; ++i) {
    threads.emplace_back([&, i] {
      auto& mine = lat[static_cast<std::size_t>(i)];
      while (!stop.load(std::memory_order_relaxed)) {
        auto t = Clock::now();
        Lsn end;
        {
          std::lock_guard lock(append_mu);
          s.writer.append(record(rec, seq.fetch_add(1)));
          end = append(s);
        }
        wait(s, end);
        mine.push_back(us_since(t));
      }
    });
  }
  std::this_thread::sleep_for(std::chrono::seconds(o.seconds));  // the measured window
  stop = true;
  for (auto& t : threads) t.join();
  double secs = us_since(t0) / 1e6;
  std::vector<double> all;
  for (auto& l : lat) all.insert(all.end(), l.begin(), l.end());
  double mb = static_cast<double>(s.client->commit_lsn() - start) / 1e6;
  fmt::print("{{\"part\":\"committers\",\"threads\":{},\"record_bytes\":{},\"commits\":{},\"seconds\":{:.2f},"
             "\"commits_per_s\":{:.0f},\"mb_per_s\":{:.1f},\"p50_us\":{:.0f},\"p99_us\":{:.0f},\"client_cpu_s\":{:.3f}}}\n",
             o.threads, rec, all.size(), secs, static_cast<double>(all.size()) / secs, mb / secs, pct(all, 0.5),
             pct(all, 0.99), cpu_s());
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"commit-bench: commit latency and throughput through proposer::Client", "commit-bench"};
  Options o;
  std::string sks;
  app.add_option("part", o.part, "latency | stream | committers")
      ->required()
      ->check(CLI::IsMember({"latency", "stream", "committers"}));
  app.add_option("--safekeepers", sks, "H:P,H:P,... (WAL ports)")->required();
  app.add_option("--count", o.count, "latency: commits measured")->check(CLI::Range(10, 10000000));
  app.add_option("--mib", o.mib, "stream: MiB of WAL")->check(CLI::Range(1, 65536));
  app.add_option("--batch-bytes", o.batch_bytes, "stream: bytes per append")->check(CLI::Range(8192, 4 << 20));
  app.add_option("--record-bytes", o.record_bytes, "xl_tot_len of each record (default 256 / 8192 / 8192)")
      ->check(CLI::Range(64, 1 << 20));
  app.add_option("--threads", o.threads, "committers: threads")->check(CLI::Range(1, 1024));
  app.add_option("--seconds", o.seconds, "committers: measured seconds")->check(CLI::Range(1, 3600));
  app.add_option("--window-bytes", o.window_bytes, "bytes in flight per safekeeper (default: the library's)");
  app.add_option("--timeline-byte", o.timeline_byte, "last byte of the timeline id: one per run");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }
  std::size_t pos = 0;
  while (pos <= sks.size()) {
    std::size_t comma = std::min(sks.find(',', pos), sks.size());
    o.safekeepers.push_back(sks.substr(pos, comma - pos));
    pos = comma + 1;
  }
  spdlog::set_level(spdlog::level::warn);
  if (o.part == "latency") return run_latency(o);
  if (o.part == "stream") return run_stream(o);
  return run_committers(o);
}
