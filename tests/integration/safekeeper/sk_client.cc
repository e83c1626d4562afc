// sk_client: the test compute for the safekeeper integration tests. It runs the
// real core::Proposer over net::FramedConnection and the real codec against N
// walquorum-safekeeper processes: elects itself, appends generated PostgreSQL
// WAL (XLOG_NOOP records with a payload, via wal::WalWriter) and prints what it
// sees on stdout, one line per event, for the Python driver:
//   elected term=T term_start_lsn=X/Y
//   commit lsn=X/Y end=X/Y records=N      (at most every 20 ms while it moves)
//   done commit=X/Y records=N
//   superseded term=T commit=X/Y           (exit 3)
//   timeout ...                            (exit 4)
// Connections that close are re-opened with jittered exponential backoff.
// --hostile MODE instead sends one kind of bad input (see run_hostile).
#include <sys/socket.h>
#include <sys/time.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>
#include <spdlog/spdlog.h>

#include "codec/messages.h"
#include "core/proposer.h"
#include "net/backoff.h"
#include "net/connection.h"
#include "wal/encoder.h"
#include "wal/format.h"

namespace {

using namespace std::chrono_literals;
using wq::core::Lsn;
using wq::core::NodeId;

struct Options {
  std::vector<wq::net::HostPort> safekeepers;
  wq::core::TimelineKey timeline;
  std::uint64_t records = 1000;
  std::uint32_t record_bytes = 2000;
  std::uint64_t batch_bytes = 32 * 1024;
  std::uint64_t system_id = 7300000000000000001ull;
  std::uint64_t proposer_id = 1;
  bool elect_only = false;
  bool wait_all = false;  // "done" only once every safekeeper acknowledged the end
  // One batch in flight at a time: propose, wait for its quorum commit, repeat;
  // the done line then reports commit latency percentiles.
  bool sync_each = false;
  int timeout_s = 60;
};

class Client {
 public:
  explicit Client(Options o)
      : opts_(std::move(o)),
        proposer_(make_config(opts_)),
        tick_timer_(io_),
        rng_(opts_.proposer_id) {}

  int run() {
    for (std::size_t i = 0; i < opts_.safekeepers.size(); ++i) {
      backoff_.emplace(node(i), wq::net::Backoff(50, 1000));
      connect(i);
    }
    deadline_ = std::chrono::steady_clock::now() + std::chrono::seconds(opts_.timeout_s);
    arm_tick();
    io_.run();
    return exit_code_;
  }

 private:
  static NodeId node(std::size_t i) { return NodeId{i + 1}; }

  static wq::core::Proposer::Config make_config(const Options& o) {
    wq::core::Proposer::Config c;
    c.timeline = o.timeline;
    c.proposer_id = NodeId{o.proposer_id};
    for (std::size_t i = 0; i < o.safekeepers.size(); ++i) c.acceptors.push_back(node(i));
    c.system_id = o.system_id;
    // A brand-new timeline starts at segment 1, so its first page is a long
    // header written by the proposer itself (pg_waldump reads it as is).
    c.timeline_start_lsn = Lsn(wq::wal::kDefaultSegmentSize);
    c.heartbeat_ticks = 10;         // ticks are 10 ms
    c.election_timeout_ticks = 100;
    return c;
  }

  void connect(std::size_t i) {
    if (finished_) return;
    wq::net::async_connect(io_, opts_.safekeepers[i], 2000ms,
                           [this, i](const asio::error_code& ec, asio::ip::tcp::socket s) {
                             if (ec) {
                               schedule_reconnect(i);
                               return;
                             }
                             on_connected(i, std::move(s));
                           });
  }

  void schedule_reconnect(std::size_t i) {
    if (finished_) return;
    auto t = std::make_shared<asio::steady_timer>(io_);
    t->expires_after(std::chrono::milliseconds(backoff_.at(node(i)).next_delay_ms(rng_)));
    t->async_wait([this, i, t](const asio::error_code&) { connect(i); });
  }

  void on_connected(std::size_t i, asio::ip::tcp::socket s) {
    wq::net::ConnectionOptions co;
    co.idle_timeout = 5000ms;
    auto conn = wq::net::FramedConnection::create(std::move(s), co,
                                                  fmt::format("client to sk{}", i + 1));
    std::uint64_t gen = ++gen_[node(i)];
    conns_[node(i)] = conn;
    conn->start(
        [this, i, gen](std::span<const std::uint8_t> p) {
          if (gen_[node(i)] != gen) return;
          auto msg = wq::codec::decode_acceptor_message(p);
          if (!msg) {
            conns_[node(i)]->close(fmt::format("malformed reply: {}", msg.error().message));
            return;
          }
          apply(proposer_.on_message(node(i), *msg));
        },
        [this, i, gen](const std::string&) {
          if (gen_[node(i)] != gen) return;
          ++gen_[node(i)];
          conns_.erase(node(i));
          apply(proposer_.on_disconnected(node(i)));
          schedule_reconnect(i);
        });
    backoff_.at(node(i)).reset();
    apply(proposer_.on_connected(node(i)));
  }

  void apply(wq::core::ProposerOutput out) {
    for (auto& [to, msg] : out.sends) {
      auto it = conns_.find(to);
      if (it != conns_.end()) it->second->send(wq::codec::encode(msg));
    }
    if (out.superseded_by) {
      std::printf("superseded term=%llu commit=%s\n",
                  static_cast<unsigned long long>(out.superseded_by->value()),
                  proposer_.commit_lsn().to_string().c_str());
      finish(3);
      return;
    }
    if (out.elected_now) {
      std::printf("elected term=%llu term_start_lsn=%s\n",
                  static_cast<unsigned long long>(proposer_.term().value()),
                  proposer_.term_start_lsn().to_string().c_str());
      std::fflush(stdout);
      if (opts_.elect_only) {
        finish(0);
        return;
      }
      writer_.emplace(proposer_.end_lsn(), 1, opts_.system_id);
    }
    if (out.commit_advanced) report(false);
    pump();
  }

  void pump() {
    if (finished_ || !writer_ || proposer_.state() != wq::core::Proposer::State::kElected) return;
    if (opts_.sync_each && proposer_.commit_lsn() < proposer_.end_lsn()) return;
    if (opts_.sync_each && proposed_at_) {
      latencies_us_.push_back(std::chrono::duration_cast<std::chrono::microseconds>(
                                  std::chrono::steady_clock::now() - *proposed_at_)
                                  .count());
      proposed_at_.reset();
    }
    if (records_ < opts_.records &&
        proposer_.end_lsn() - proposer_.commit_lsn() < 4 * 1024 * 1024 &&
        proposer_.can_propose(opts_.batch_bytes + 2 * opts_.record_bytes + 8192)) {
      std::vector<std::uint8_t> payload(opts_.record_bytes);
      while (records_ < opts_.records && writer_->bytes().size() < opts_.batch_bytes) {
        for (std::size_t k = 0; k < payload.size(); ++k) {
          payload[k] = static_cast<std::uint8_t>(records_ * 31 + k);
        }
        wq::wal::RecordBuilder rb(wq::wal::RM_XLOG_ID, wq::wal::XLOG_NOOP);
        rb.set_main_data(payload);
        writer_->append(rb);
        ++records_;
      }
      Lsn begin = writer_->bytes_start();
      if (!first_propose_) first_propose_ = std::chrono::steady_clock::now();
      if (opts_.sync_each) proposed_at_ = std::chrono::steady_clock::now();
      apply(proposer_.propose(begin, writer_->take_bytes()));
      return;
    }
    bool all_acked = true;
    for (std::size_t i = 0; i < opts_.safekeepers.size(); ++i) {
      if (proposer_.acked_flush_lsn(node(i)) < proposer_.end_lsn()) all_acked = false;
    }
    if (records_ >= opts_.records && proposer_.commit_lsn() >= proposer_.end_lsn() &&
        (all_acked || !opts_.wait_all)) {
      report(true);
      double secs = first_propose_ ? std::chrono::duration<double>(
                                         std::chrono::steady_clock::now() - *first_propose_)
                                         .count()
                                   : 0.0;
      double mb = static_cast<double>(proposer_.end_lsn() - Lsn(wq::wal::kDefaultSegmentSize)) / 1e6;
      std::string lat;
      if (!latencies_us_.empty()) {
        std::sort(latencies_us_.begin(), latencies_us_.end());
        auto pct = [&](double q) {
          return latencies_us_[static_cast<std::size_t>(q * static_cast<double>(latencies_us_.size() - 1))];
        };
        lat = fmt::format(" commit_us_p50={} commit_us_p99={} commits={}", pct(0.5), pct(0.99),
                          latencies_us_.size());
      }
      std::printf("done commit=%s records=%llu seconds=%.3f wal_mb=%.1f mb_per_s=%.1f%s\n",
                  proposer_.commit_lsn().to_string().c_str(),
                  static_cast<unsigned long long>(records_), secs, mb,
                  secs > 0 ? mb / secs : 0.0, lat.c_str());
      finish(0);
    }
  }

  void report(bool force) {
    auto now = std::chrono::steady_clock::now();
    if (!force && now - last_report_ < 20ms) return;
    last_report_ = now;
    std::printf("commit lsn=%s end=%s records=%llu\n", proposer_.commit_lsn().to_string().c_str(),
                proposer_.end_lsn().to_string().c_str(), static_cast<unsigned long long>(records_));
    std::fflush(stdout);
  }

  void arm_tick() {
    tick_timer_.expires_after(10ms);
    tick_timer_.async_wait([this](const asio::error_code& ec) {
      if (ec || finished_) return;
      if (std::chrono::steady_clock::now() > deadline_) {
        std::printf("timeout state=%s commit=%s end=%s records=%llu\n",
                    wq::core::proposer_state_name(proposer_.state()),
                    proposer_.commit_lsn().to_string().c_str(),
                    proposer_.end_lsn().to_string().c_str(),
                    static_cast<unsigned long long>(records_));
        finish(4);
        return;
      }
      apply(proposer_.tick());
      report(false);
      arm_tick();
    });
  }

  void finish(int code) {
    if (finished_) return;
    finished_ = true;
    exit_code_ = code;
    std::fflush(stdout);
    io_.stop();
  }

  Options opts_;
  asio::io_context io_;
  wq::core::Proposer proposer_;
  asio::steady_timer tick_timer_;
  std::mt19937_64 rng_;
  std::map<NodeId, wq::net::Backoff> backoff_;
  std::map<NodeId, std::shared_ptr<wq::net::FramedConnection>> conns_;
  std::map<NodeId, std::uint64_t> gen_;
  std::optional<wq::wal::WalWriter> writer_;
  std::optional<std::chrono::steady_clock::time_point> first_propose_;
  std::optional<std::chrono::steady_clock::time_point> proposed_at_;
  std::vector<std::int64_t> latencies_us_;
  std::uint64_t records_ = 0;
  bool finished_ = false;
  int exit_code_ = 0;
  std::chrono::steady_clock::time_point deadline_;
  std::chrono::steady_clock::time_point last_report_{};
};

// Hostile peer for the hostile-input test: sends one kind of bad input on a
// fresh connection to the first safekeeper and reports whether the server
// closed the connection within 5 s ("closed", exit 0) or not ("open", exit 5).
int run_hostile(const Options& o, const std::string& mode) {
  asio::io_context io;
  asio::ip::tcp::socket sock(io);
  asio::ip::tcp::resolver resolver(io);
  asio::error_code ec;
  auto eps = resolver.resolve(o.safekeepers[0].host, std::to_string(o.safekeepers[0].port), ec);
  if (!ec) asio::connect(sock, eps, ec);
  if (ec) {
    std::printf("connect failed: %s\n", ec.message().c_str());
    return 6;
  }
  timeval tv{5, 0};
  ::setsockopt(sock.native_handle(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  auto send = [&](const wq::core::ProposerMessage& m) {
    auto frame = wq::codec::encode_frame(wq::codec::encode(m));
    asio::write(sock, asio::buffer(frame), ec);
  };
  wq::core::ProposerGreeting g;
  g.timeline = o.timeline;
  g.system_id = o.system_id;
  g.proposer_id = NodeId{o.proposer_id};
  std::vector<std::uint8_t> buf(1 << 16);
  if (mode == "wrong-version") {
    g.protocol_version = wq::core::kProtocolVersion + 98;
    send(g);
  } else if (mode == "out-of-order") {
    send(wq::core::VoteRequest{wq::core::Term{5}});
  } else if (mode == "other-timeline") {
    send(g);
    sock.read_some(asio::buffer(buf), ec);  // the AcceptorGreeting
    if (ec) {
      std::printf("no greeting reply: %s\n", ec.message().c_str());
      return 6;
    }
    g.timeline.timeline.bytes[0] ^= 0xFF;
    send(g);
  } else if (mode == "wrong-system") {
    g.system_id += 1;
    send(g);
  } else {
    std::printf("unknown hostile mode %s\n", mode.c_str());
    return 2;
  }
  for (;;) {
    sock.read_some(asio::buffer(buf), ec);
    if (ec == asio::error::eof || ec == asio::error::connection_reset) {
      std::printf("closed\n");
      return 0;
    }
    if (ec) {
      std::printf("open (%s)\n", ec.message().c_str());
      return 5;
    }
  }
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"sk_client: test compute for walquorum-safekeeper integration tests", "sk_client"};
  Options o;
  std::string sks, tenant, timeline;
  app.add_option("--safekeepers", sks, "H:P,H:P,...")->required();
  app.add_option("--tenant", tenant)->required();
  app.add_option("--timeline", timeline)->required();
  app.add_option("--records", o.records);
  app.add_option("--record-bytes", o.record_bytes);
  app.add_option("--batch-bytes", o.batch_bytes);
  app.add_option("--proposer-id", o.proposer_id);
  app.add_flag("--elect-only", o.elect_only);
  app.add_flag("--wait-all", o.wait_all);
  app.add_flag("--sync-each", o.sync_each, "one batch in flight; report commit latency");
  app.add_option("--timeout-s", o.timeout_s);
  std::string hostile;
  app.add_option("--hostile", hostile, "wrong-version|out-of-order|other-timeline|wrong-system");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }
  std::size_t pos = 0;
  while (pos <= sks.size()) {
    std::size_t comma = sks.find(',', pos);
    if (comma == std::string::npos) comma = sks.size();
    auto hp = wq::net::parse_host_port(std::string_view(sks).substr(pos, comma - pos));
    if (!hp) {
      std::fprintf(stderr, "sk_client: %s\n", hp.error().message.c_str());
      return 2;
    }
    o.safekeepers.push_back(*hp);
    pos = comma + 1;
  }
  auto t = wq::core::Id128::parse_hex(tenant);
  auto l = wq::core::Id128::parse_hex(timeline);
  if (!t || !l) {
    std::fprintf(stderr, "sk_client: tenant and timeline must be 32 hex digits\n");
    return 2;
  }
  o.timeline = {*t, *l};
  spdlog::set_level(spdlog::level::warn);
  if (!hostile.empty()) return run_hostile(o, hostile);
  return Client(std::move(o)).run();
}
