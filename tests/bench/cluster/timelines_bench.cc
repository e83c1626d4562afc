// timelines-bench: many active timelines against one safekeeper set (TARGETS.md
// §4, "1,000 active timelines"). One process, one io_context, one thread: COUNT
// real core::Proposers, each with its own connection to every safekeeper,
// elect themselves, then each commits one XLOG_NOOP record every INTERVAL ms
// (closed loop: a timeline whose last record is not committed yet skips its
// turn and counts it as late). The driver is deliberately lighter than COUNT
// proposer::Clients (which would be COUNT network threads on a 2-core machine).
//
// Output, one JSON object per line, for tests/bench/cluster/run.py, which
// samples the safekeepers' /proc between the window lines:
//   {"event":"elected",...}        every timeline elected
//   {"event":"warm",...}           every timeline committed a first record
//   {"event":"window_start"}       the measured window begins
//   {"event":"window_end",...}     commits, latency and lateness in the window
// Exit 0, or 4 if not every timeline was elected before --elect-timeout-s.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "codec/messages.h"
#include "core/proposer.h"
#include "net/backoff.h"
#include "net/connection.h"
#include "wal/encoder.h"
#include "wal/format.h"

namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;
using wq::core::Lsn;
using wq::core::NodeId;

struct Options {
  std::vector<wq::net::HostPort> safekeepers;
  int count = 1000;
  int interval_ms = 100;
  int seconds = 20;
  int record_bytes = 256;   // xl_tot_len of each record
  int start_batch = 50;     // timelines connecting at once while starting
  int tick_ms = 20;
  int elect_timeout_s = 300;
  std::uint64_t system_id = 7300000000000000002ull;
  std::uint8_t tenant_byte = 0x77;
};

class Driver;

// One timeline's proposer and its connections.
struct Timeline {
  Timeline(int index, wq::core::Proposer::Config c) : index(index), proposer(std::move(c)) {}
  int index;
  wq::core::Proposer proposer;
  std::map<NodeId, std::shared_ptr<wq::net::FramedConnection>> conns;
  std::map<NodeId, std::uint64_t> gen;
  std::map<NodeId, wq::net::Backoff> backoff;
  std::optional<wq::wal::WalWriter> writer;
  std::optional<Clock::time_point> proposed_at;
  Lsn waiting_for;
  bool started = false;
  bool warm = false;  // committed its first record
};

class Driver {
 public:
  explicit Driver(Options o) : opts_(std::move(o)), tick_timer_(io_), rng_(12345) {
    for (int i = 0; i < opts_.count; ++i) {
      wq::core::Proposer::Config c;
      c.timeline.tenant.bytes.fill(opts_.tenant_byte);
      c.timeline.timeline.bytes.fill(0);
      c.timeline.timeline.bytes[14] = static_cast<std::uint8_t>(i >> 8);
      c.timeline.timeline.bytes[15] = static_cast<std::uint8_t>(i);
      c.timeline.timeline.bytes[0] = 0xB7;
      c.proposer_id = NodeId{static_cast<std::uint64_t>(i) + 1};
      for (std::size_t k = 0; k < opts_.safekeepers.size(); ++k) c.acceptors.push_back(node(k));
      c.system_id = opts_.system_id;
      c.timeline_start_lsn = Lsn(wq::wal::kDefaultSegmentSize);
      c.window_bytes_max = 256 * 1024;
      c.buffer_bytes_max = 1024 * 1024;
      // Ticks are tick_ms: heartbeat about every second, new campaign after 10 s.
      c.heartbeat_ticks = static_cast<std::uint32_t>(std::max(1, 1000 / opts_.tick_ms));
      c.election_timeout_ticks = static_cast<std::uint32_t>(std::max(1, 10000 / opts_.tick_ms));
      tls_.push_back(std::make_unique<Timeline>(i, std::move(c)));
    }
  }

  int run() {
    t0_ = Clock::now();
    start_more();
    arm_tick();
    io_.run();
    return exit_code_;
  }

 private:
  static NodeId node(std::size_t i) { return NodeId{i + 1}; }

  // Starts timelines in batches so COUNT × safekeepers connections do not all
  // arrive in the same millisecond.
  void start_more() {
    int running = 0;
    for (auto& t : tls_) running += t->started && !t->writer ? 1 : 0;
    for (auto& t : tls_) {
      if (running >= opts_.start_batch) break;
      if (t->started) continue;
      t->started = true;
      ++running;
      for (std::size_t k = 0; k < opts_.safekeepers.size(); ++k) {
        t->backoff.emplace(node(k), wq::net::Backoff(50, 2000));
        connect(*t, k);
      }
    }
  }

  void connect(Timeline& t, std::size_t k) {
    if (finished_) return;
    wq::net::async_connect(io_, opts_.safekeepers[k], 5000ms,
                           [this, &t, k](const asio::error_code& ec, asio::ip::tcp::socket s) {
                             if (ec) {
                               reconnect_later(t, k);
                               return;
                             }
                             on_connected(t, k, std::move(s));
                           });
  }

  void reconnect_later(Timeline& t, std::size_t k) {
    if (finished_) return;
    ++reconnects_;
    auto timer = std::make_shared<asio::steady_timer>(io_);
    timer->expires_after(std::chrono::milliseconds(t.backoff.at(node(k)).next_delay_ms(rng_)));
    timer->async_wait([this, &t, k, timer](const asio::error_code&) { connect(t, k); });
  }

  void on_connected(Timeline& t, std::size_t k, asio::ip::tcp::socket s) {
    wq::net::ConnectionOptions co;
    // Long: while the safekeeper creates 1,000 timelines' first segments its
    // replies can lag by many seconds, and a reconnect there only adds noise.
    co.idle_timeout = 60000ms;
    co.read_chunk_bytes = 16 * 1024;  // 1,000s of connections in one process
    auto conn = wq::net::FramedConnection::create(std::move(s), co, fmt::format("tl{} sk{}", t.index, k + 1));
    NodeId id = node(k);
    std::uint64_t gen = ++t.gen[id];
    t.conns[id] = conn;
    conn->start(
        [this, &t, id, gen](std::span<const std::uint8_t> p) {
          if (t.gen[id] != gen) return;
          auto msg = wq::codec::decode_acceptor_message(p);
          if (!msg) {
            t.conns[id]->close(fmt::format("malformed reply: {}", msg.error().message));
            return;
          }
          apply(t, t.proposer.on_message(id, *msg));
        },
        [this, &t, k, id, gen](const std::string&) {
          if (t.gen[id] != gen) return;
          ++t.gen[id];
          t.conns.erase(id);
          apply(t, t.proposer.on_disconnected(id));
          reconnect_later(t, k);
        });
    t.backoff.at(id).reset();
    apply(t, t.proposer.on_connected(id));
  }

  void apply(Timeline& t, wq::core::ProposerOutput out) {
    for (auto& [to, msg] : out.sends) {
      auto it = t.conns.find(to);
      if (it != t.conns.end()) it->second->send(wq::codec::encode(msg));
    }
    if (out.superseded_by) {
      fmt::print(stderr, "timelines-bench: timeline {} superseded by term {}\n", t.index,
                 out.superseded_by->value());
      finish(3);
      return;
    }
    if (out.elected_now) {
      t.writer.emplace(t.proposer.end_lsn(), 1, opts_.system_id);
      ++elected_;
      if (elected_ == opts_.count) on_all_elected();
      else start_more();
    }
    if (t.proposed_at && t.proposer.commit_lsn() >= t.waiting_for) {
      if (!t.warm) {
        t.warm = true;
        if (++warm_ == opts_.count) on_all_warm();
      }
      if (measuring_) {
        latencies_us_.push_back(std::chrono::duration<double, std::micro>(Clock::now() - *t.proposed_at).count());
        ++commits_;
      }
      t.proposed_at.reset();
    }
  }

  void on_all_elected() {
    double s = std::chrono::duration<double>(Clock::now() - t0_).count();
    fmt::print("{{\"event\":\"elected\",\"timelines\":{},\"seconds\":{:.2f},\"reconnects\":{}}}\n", opts_.count, s,
               reconnects_);
    std::fflush(stdout);
    // Turns are spread evenly over the interval.
    auto now = Clock::now();
    for (auto& t : tls_) {
      next_turn_.push_back(now + std::chrono::microseconds(static_cast<std::int64_t>(opts_.interval_ms) * 1000 *
                                                           t->index / opts_.count));
    }
    // Warm-up: the window opens once every timeline has committed a record
    // (its first segment exists on every safekeeper) and one interval passed.
    warm_deadline_ = now + std::chrono::seconds(opts_.elect_timeout_s);
  }

  void on_all_warm() {
    double s = std::chrono::duration<double>(Clock::now() - t0_).count();
    fmt::print("{{\"event\":\"warm\",\"timelines\":{},\"seconds\":{:.2f}}}\n", opts_.count, s);
    std::fflush(stdout);
    window_start_at_ = Clock::now() + std::chrono::milliseconds(opts_.interval_ms);
  }

  void propose_record(Timeline& t) {
    std::vector<std::uint8_t> payload(static_cast<std::size_t>(std::max(1, opts_.record_bytes - 26)), 0x42);
    wq::wal::RecordBuilder rb(wq::wal::RM_XLOG_ID, wq::wal::XLOG_NOOP);
    rb.set_main_data(payload);
    t.writer->append(rb);
    Lsn begin = t.writer->bytes_start();
    auto bytes = t.writer->take_bytes();
    t.waiting_for = begin + bytes.size();
    t.proposed_at = Clock::now();
    apply(t, t.proposer.propose(begin, std::move(bytes)));
  }

  void arm_tick() {
    tick_timer_.expires_after(std::chrono::milliseconds(opts_.tick_ms));
    tick_timer_.async_wait([this](const asio::error_code& ec) {
      if (ec || finished_) return;
      on_tick();
      if (!finished_) arm_tick();
    });
  }

  void on_tick() {
    auto now = Clock::now();
    if (elected_ < opts_.count && now - t0_ > std::chrono::seconds(opts_.elect_timeout_s)) {
      fmt::print("{{\"event\":\"timeout\",\"elected\":{},\"timelines\":{}}}\n", elected_, opts_.count);
      finish(4);
      return;
    }
    for (auto& t : tls_) {
      if (t->started) apply(*t, t->proposer.tick());
    }
    if (next_turn_.empty()) return;
    if (warm_ < opts_.count && now > warm_deadline_) {
      fmt::print("{{\"event\":\"timeout\",\"warm\":{},\"timelines\":{}}}\n", warm_, opts_.count);
      finish(4);
      return;
    }
    if (warm_ == opts_.count && !measuring_ && !window_done_ && now >= window_start_at_) {
      measuring_ = true;
      window_t0_ = now;
      fmt::print("{{\"event\":\"window_start\"}}\n");
      std::fflush(stdout);
    }
    if (measuring_ && now - window_t0_ >= std::chrono::seconds(opts_.seconds)) {
      measuring_ = false;
      window_done_ = true;
      report(std::chrono::duration<double>(now - window_t0_).count());
      finish(0);
      return;
    }
    for (auto& t : tls_) {
      auto& turn = next_turn_[static_cast<std::size_t>(t->index)];
      if (now < turn) continue;
      turn += std::chrono::milliseconds(opts_.interval_ms);
      if (turn < now) turn = now + std::chrono::milliseconds(opts_.interval_ms);
      if (t->proposed_at || !t->proposer.can_propose(static_cast<std::uint64_t>(opts_.record_bytes) + 8192)) {
        if (measuring_) ++late_;
        continue;
      }
      propose_record(*t);
      if (measuring_) ++proposed_;
    }
  }

  void report(double secs) {
    std::sort(latencies_us_.begin(), latencies_us_.end());
    auto pct = [&](double q) {
      return latencies_us_.empty() ? 0.0
                                   : latencies_us_[static_cast<std::size_t>(
                                         q * static_cast<double>(latencies_us_.size() - 1))];
    };
    double wanted = static_cast<double>(opts_.count) * secs * 1000.0 / opts_.interval_ms;
    fmt::print("{{\"event\":\"window_end\",\"timelines\":{},\"seconds\":{:.2f},\"commits\":{},\"commits_per_s\":{:.0f},"
               "\"wanted_per_s\":{:.0f},\"late\":{},\"p50_us\":{:.0f},\"p99_us\":{:.0f},\"reconnects\":{}}}\n",
               opts_.count, secs, commits_, static_cast<double>(commits_) / secs, wanted / secs, late_, pct(0.5),
               pct(0.99), reconnects_);
    std::fflush(stdout);
  }

  void finish(int code) {
    if (finished_) return;
    finished_ = true;
    exit_code_ = code;
    for (auto& t : tls_) {
      for (auto& [id, c] : t->conns) c->close("benchmark done");
    }
    io_.stop();
  }

  Options opts_;
  asio::io_context io_;
  asio::steady_timer tick_timer_;
  std::mt19937_64 rng_;
  std::vector<std::unique_ptr<Timeline>> tls_;
  std::vector<Clock::time_point> next_turn_;
  Clock::time_point t0_, window_t0_, window_start_at_, warm_deadline_;
  int elected_ = 0;
  int warm_ = 0;
  bool measuring_ = false;
  bool window_done_ = false;
  bool finished_ = false;
  int exit_code_ = 0;
  std::uint64_t commits_ = 0, proposed_ = 0, late_ = 0, reconnects_ = 0;
  std::vector<double> latencies_us_;
};

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"timelines-bench: many timelines, one record each per interval, against one safekeeper set",
               "timelines-bench"};
  Options o;
  std::string sks;
  app.add_option("--safekeepers", sks, "H:P,H:P,...")->required();
  app.add_option("--count", o.count, "timelines")->check(CLI::Range(1, 65535));
  app.add_option("--interval-ms", o.interval_ms, "each timeline commits a record this often")
      ->check(CLI::Range(1, 60000));
  app.add_option("--seconds", o.seconds, "measured window")->check(CLI::Range(1, 3600));
  app.add_option("--record-bytes", o.record_bytes, "xl_tot_len of each record")->check(CLI::Range(32, 8000));
  app.add_option("--start-batch", o.start_batch, "timelines campaigning at once")->check(CLI::Range(1, 65535));
  app.add_option("--elect-timeout-s", o.elect_timeout_s)->check(CLI::Range(1, 3600));
  app.add_option("--tenant-byte", o.tenant_byte, "every byte of the tenant id (one tenant per run)");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }
  std::size_t pos = 0;
  while (pos <= sks.size()) {
    std::size_t comma = std::min(sks.find(',', pos), sks.size());
    auto hp = wq::net::parse_host_port(std::string_view(sks).substr(pos, comma - pos));
    if (!hp) {
      std::fprintf(stderr, "timelines-bench: --safekeepers: %s\n", hp.error().message.c_str());
      return 2;
    }
    o.safekeepers.push_back(*hp);
    pos = comma + 1;
  }
  spdlog::set_level(spdlog::level::warn);
  return Driver(std::move(o)).run();
}
