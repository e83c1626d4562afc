// proposer::Client (see client.h): core::Proposer driven over net::FramedConnection
// and the codec on one network thread. Public calls hand work to that thread
// through a mutex-protected queue (appends) or asio::post, and wait on a
// condition variable for what it publishes (state, superseded). Commit waiters
// sleep on their own slot, filed by LSN, so an advance of commit_lsn wakes only
// those it answers (many committers each waiting for their own record).
#include "proposer/client.h"

#include <algorithm>
#include <condition_variable>
#include <deque>
#include <map>
#include <mutex>
#include <random>
#include <set>
#include <thread>
#include <utility>
#include <variant>

#include <asio.hpp>
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "base/assert.h"
#include "codec/messages.h"
#include "core/acceptor.h"
#include "core/proposer.h"
#include "net/address.h"
#include "net/backoff.h"
#include "net/connection.h"
#include "proposer/wal_tail.h"
#include "wal/format.h"
#include "wal/page.h"

namespace wq::proposer {

namespace {

using Clock = std::chrono::steady_clock;
using core::NodeId;
using core::Term;

// First look-back of the tail read that finds prev_record_lsn; doubled while one
// record spans the whole window.
constexpr std::uint64_t kTailWindowBytes = 64 * 1024;
// A PostgreSQL record is under 1 GiB (PG16 caps it; PG15's reader cannot
// allocate more), so a window this wide always holds the last record's start.
constexpr std::uint64_t kTailWindowBytesMax = (1ull << 30) + 2 * wal::kDefaultSegmentSize;
// Delay before asking again after a refused peer fetch (see tail_on_message).
constexpr std::chrono::milliseconds kTailRetry{20};
// kNotServing refusals of one window in a row before it is widened, and of the
// widest window before the tail read tries the next safekeeper (about 1 s).
constexpr std::uint32_t kTailRefusalsPerWindow = 3;
constexpr std::uint32_t kTailRetriesMax = 50;
// Connection failures to one safekeeper logged at info at most this often.
constexpr std::chrono::seconds kConnectLogInterval{10};

NodeId node_of(std::size_t i) { return NodeId{i + 1}; }

base::Status error(base::ErrorCode code, std::string message) {
  return base::Unexpected{code, std::move(message)};
}

}  // namespace

const char* state_name(State s) {
  switch (s) {
    case State::kCampaigning: return "campaigning";
    case State::kElected: return "elected";
    case State::kSuperseded: return "superseded";
    case State::kStopped: return "stopped";
  }
  return "unknown";
}

struct Client::Impl {
  explicit Impl(Options o, std::vector<net::HostPort> addrs, core::Proposer::Config config)
      : opt(std::move(o)),
        addrs(std::move(addrs)),
        rng(std::random_device{}()),
        proposer(std::move(config)),
        tick_timer(io),
        tail_timer(io) {
    for (std::size_t i = 0; i < this->addrs.size(); ++i) {
      peers.push_back(Peer{net::Backoff(static_cast<std::uint64_t>(opt.reconnect_initial.count()),
                                        static_cast<std::uint64_t>(opt.reconnect_max.count())),
                           {}, 0, 0, 0, {}});
      SafekeeperStatus s;
      s.address = this->addrs[i].to_string();
      sk_status.push_back(std::move(s));
    }
  }

  // One blocked wait_committed() caller. The slot lives on its stack; it is in
  // commit_waiters (under its LSN) exactly while !woken. Whoever sets woken
  // (a commit reaching the LSN, or the client ending) unfiles it; a caller
  // timing out unfiles itself.
  struct CommitWaiter {
    std::condition_variable cv;
    bool woken = false;
  };

  // ---- network thread ----------------------------------------------------------------

  struct Peer {
    net::Backoff backoff;
    std::shared_ptr<net::FramedConnection> conn;
    std::uint64_t gen = 0;       // bumps per connection; stale handlers compare it
    std::uint64_t connects = 0;  // successful connects
    std::uint64_t failures_unlogged = 0;
    Clock::time_point last_fail_log{};
  };

  // The side connection that reads the inherited WAL tail (prev_record_lsn).
  struct Tail {
    bool active = false;
    Lsn floor;        // timeline_start_lsn: never read below it
    Lsn end;          // term_start_lsn
    Lsn begin;        // first byte of the window wanted now
    Lsn have_begin;   // bytes [have_begin, end) are in `bytes`
    std::vector<std::uint8_t> bytes;
    std::vector<std::uint8_t> chunk;  // bytes of [begin, have_begin) fetched so far
    std::size_t source = 0;           // index of the safekeeper read from
    std::shared_ptr<net::FramedConnection> conn;
    std::uint64_t gen = 0;
    std::uint64_t attempts = 0;
    bool started = false;             // waits for commit_lsn ≥ end first
    std::uint32_t refusals = 0;       // kNotServing in a row for the current request
  };

  void run() { io.run(); }

  void start_all() {
    for (std::size_t i = 0; i < peers.size(); ++i) connect(i);
    arm_tick();
  }

  void connect(std::size_t i) {
    if (finished) return;
    net::async_connect(io, addrs[i], opt.connect_timeout,
                       [this, i](const asio::error_code& ec, asio::ip::tcp::socket s) {
                         if (finished) return;
                         if (ec) {
                           note_connect_failure(i, ec.message());
                           schedule_reconnect(i);
                           return;
                         }
                         on_connected(i, std::move(s));
                       });
  }

  void note_connect_failure(std::size_t i, const std::string& why) {
    Peer& p = peers[i];
    auto now = Clock::now();
    if (now - p.last_fail_log >= kConnectLogInterval) {
      spdlog::info("event=proposer_connect_failed sk={} error=\"{}\" failures_since_last_log={}",
                   addrs[i].to_string(), why, p.failures_unlogged + 1);
      p.last_fail_log = now;
      p.failures_unlogged = 0;
    } else {
      ++p.failures_unlogged;
      spdlog::debug("event=proposer_connect_failed sk={} error=\"{}\"", addrs[i].to_string(), why);
    }
  }

  void schedule_reconnect(std::size_t i) {
    if (finished) return;
    auto t = std::make_shared<asio::steady_timer>(io);
    t->expires_after(std::chrono::milliseconds(peers[i].backoff.next_delay_ms(rng)));
    t->async_wait([this, i, t](const asio::error_code& ec) {
      if (ec) return;
      connect(i);
    });
  }

  void on_connected(std::size_t i, asio::ip::tcp::socket s) {
    net::ConnectionOptions co;
    co.idle_timeout = opt.idle_timeout;
    auto conn = net::FramedConnection::create(std::move(s), co,
                                              fmt::format("proposer to {}", addrs[i].to_string()));
    Peer& p = peers[i];
    std::uint64_t gen = ++p.gen;
    p.conn = conn;
    if (p.connects++ > 0) {
      std::lock_guard lk(mu);
      ++reconnects;
    }
    spdlog::debug("event=proposer_connected sk={} connects={}", addrs[i].to_string(), p.connects);
    conn->start(
        [this, i, gen](std::span<const std::uint8_t> payload) {
          if (finished || peers[i].gen != gen) return;
          auto msg = codec::decode_acceptor_message(payload);
          if (!msg) {
            peers[i].conn->close(fmt::format("malformed reply: {}", msg.error().message));
            return;
          }
          if (std::holds_alternative<core::AcceptorGreeting>(*msg)) {
            // Only a greeting answered resets the backoff: a safekeeper that
            // accepts and then refuses (wrong timeline) is retried ever slower.
            peers[i].backoff.reset();
          }
          if (const auto* r = std::get_if<core::Refused>(&*msg)) {
            // Usually a higher term (this client is about to be superseded);
            // a wrong timeline or corruption makes the safekeeper unusable.
            spdlog::info("event=proposer_refused sk={} term={} reason=\"{}\" detail=\"{}\"",
                         addrs[i].to_string(), r->term, core::refuse_reason_name(r->reason),
                         r->detail);
            std::lock_guard lk(mu);
            last_refusal = fmt::format("{} refused: {}: {}", addrs[i].to_string(),
                                       core::refuse_reason_name(r->reason), r->detail);
          }
          handle(proposer.on_message(node_of(i), *msg));
          publish_peer(i);
        },
        [this, i, gen](const std::string& reason) {
          if (finished || peers[i].gen != gen) return;
          ++peers[i].gen;
          peers[i].conn.reset();
          spdlog::debug("event=proposer_disconnected sk={} reason=\"{}\"", addrs[i].to_string(),
                        reason);
          handle(proposer.on_disconnected(node_of(i)));
          publish_peer(i);
          schedule_reconnect(i);
        });
    handle(proposer.on_connected(node_of(i)));
    publish_peer(i);
  }

  void publish_peer(std::size_t i) {
    bool connected = peers[i].conn != nullptr;
    Lsn acked = proposer.acked_flush_lsn(node_of(i));
    std::lock_guard lk(mu);
    sk_status[i].connected = connected;
    sk_status[i].acked_flush_lsn = acked;
  }

  void arm_tick() {
    tick_timer.expires_after(opt.tick);
    tick_timer.async_wait([this](const asio::error_code& ec) {
      if (ec || finished) return;
      handle(proposer.tick());
      arm_tick();
    });
  }

  // Applies one output of the core and proposes what appends queued meanwhile.
  void handle(core::ProposerOutput out) {
    apply(std::move(out));
    tail_maybe_start();
    pump();
  }

  void apply(core::ProposerOutput out) {
    if (finished) return;
    for (auto& [to, msg] : out.sends) {
      if (const auto* pe = std::get_if<core::ProposerElected>(&msg)) {
        elected_timeline_start = pe->timeline_start_lsn;
      }
      std::size_t i = to.value() - 1;
      if (i < peers.size() && peers[i].conn) peers[i].conn->send(codec::encode(msg));
    }
    if (out.superseded_by) {
      on_superseded(*out.superseded_by);
      return;
    }
    if (out.elected_now) on_core_elected();
    if (out.commit_advanced) publish_commit();
  }

  void on_core_elected() {
    Term term = proposer.term();
    Lsn start = proposer.term_start_lsn();
    Lsn tl_start = elected_timeline_start.is_valid() ? elected_timeline_start : start;
    spdlog::info("event=proposer_elected timeline={} term={} term_start_lsn={} "
                 "timeline_start_lsn={}",
                 opt.timeline.to_string(), term, start, tl_start);
    {
      std::lock_guard lk(mu);
      this->term = term;
      end = start;
      pending_begin = start;
    }
    Elected e{term, start, tl_start, Lsn{}};
    if (start <= tl_start) {
      publish_elected(e);  // a new timeline: nothing before us
      return;
    }
    pending_elected = e;
    tail = Tail{};
    tail.active = true;
    tail.floor = tl_start;
    tail.end = start;
    tail.begin = window_begin(start, kTailWindowBytes, tl_start);
    tail.have_begin = start;
    tail.source = 0;
    tail_maybe_start();
  }

  void publish_elected(const Elected& e) {
    spdlog::info("event=proposer_ready timeline={} term={} term_start_lsn={} prev_record_lsn={}",
                 opt.timeline.to_string(), e.term, e.term_start_lsn, e.prev_record_lsn);
    {
      std::lock_guard lk(mu);
      if (state != State::kCampaigning) return;
      elected = e;
      state = State::kElected;
    }
    cv.notify_all();
  }

  // ---- the tail read (prev_record_lsn) ----
  //
  // A side connection to one safekeeper (greeted like a proposer, so it serves
  // PeerFetchRequest) reads the window [begin, term_start_lsn) of committed WAL
  // backwards-widening until a record starts in it. Safekeepers answer peer
  // fetches in whole records from `from`: a `from` inside the continuation of
  // the very last record has no whole record after it and is refused like WAL
  // not yet committed is (kNotServing), so a window refused a few times in a
  // row is widened too; a safekeeper that refuses even the widest window is
  // left for the next one.

  // Starts the read once the inherited WAL is committed (before that every
  // safekeeper would refuse it); called after every core output.
  void tail_maybe_start() {
    if (!tail.active || tail.started || finished) return;
    if (proposer.commit_lsn() < tail.end) return;
    tail.started = true;
    // Prefer a safekeeper known to hold the WAL up to term_start_lsn.
    for (std::size_t i = 0; i < peers.size(); ++i) {
      if (proposer.acked_flush_lsn(node_of(i)) >= tail.end) {
        tail.source = i;
        break;
      }
    }
    tail_connect();
  }

  void tail_connect() {
    if (finished || !tail.active) return;
    std::size_t i = tail.source;
    std::uint64_t gen = ++tail.gen;
    net::async_connect(io, addrs[i], opt.connect_timeout,
                       [this, i, gen](const asio::error_code& ec, asio::ip::tcp::socket s) {
                         if (finished || !tail.active || tail.gen != gen) return;
                         if (ec) {
                           tail_retry_elsewhere(fmt::format("connect: {}", ec.message()));
                           return;
                         }
                         tail_on_connected(i, gen, std::move(s));
                       });
  }

  void tail_retry_elsewhere(const std::string& why) {
    ++tail.attempts;
    spdlog::debug("event=proposer_tail_retry sk={} error=\"{}\"", addrs[tail.source].to_string(),
                  why);
    if (tail.conn) tail.conn->close("tail read moves to another safekeeper");
    tail.conn.reset();
    ++tail.gen;
    tail.refusals = 0;
    tail.chunk.clear();
    tail.source = (tail.source + 1) % peers.size();
    tail_timer.expires_after(std::chrono::milliseconds(
        std::min<std::int64_t>(opt.reconnect_max.count(),
                               opt.reconnect_initial.count() *
                                   static_cast<std::int64_t>(1 + tail.attempts / peers.size()))));
    tail_timer.async_wait([this](const asio::error_code& ec) {
      if (ec) return;
      tail_connect();
    });
  }

  void tail_on_connected(std::size_t i, std::uint64_t gen, asio::ip::tcp::socket s) {
    net::ConnectionOptions co;
    co.idle_timeout = opt.idle_timeout;
    tail.conn = net::FramedConnection::create(
        std::move(s), co, fmt::format("proposer tail read from {}", addrs[i].to_string()));
    tail.refusals = 0;
    tail.conn->start(
        [this, gen](std::span<const std::uint8_t> payload) {
          if (finished || !tail.active || tail.gen != gen) return;
          auto msg = codec::decode_acceptor_message(payload);
          if (!msg) {
            tail_retry_elsewhere(fmt::format("malformed reply: {}", msg.error().message));
            return;
          }
          tail_on_message(gen, *msg);
        },
        [this, gen](const std::string& reason) {
          if (finished || !tail.active || tail.gen != gen) return;
          tail.conn.reset();
          tail_retry_elsewhere(reason);
        });
    core::ProposerGreeting g;
    g.timeline = opt.timeline;
    g.pg_version = opt.pg_version;
    g.system_id = opt.system_id;
    g.wal_seg_size = opt.wal_seg_size;
    g.proposer_id = proposer.config().proposer_id;
    tail.conn->send(codec::encode(core::ProposerMessage{g}));
  }

  void tail_request() {
    Lsn from = tail.begin + tail.chunk.size();
    WQ_ASSERT(from < tail.have_begin, "tail read from {} but have from {}", from, tail.have_begin);
    std::uint64_t want = std::min<std::uint64_t>(tail.have_begin - from, core::kPeerFetchBytesMax);
    tail.conn->send(codec::encode(
        core::ProposerMessage{core::PeerFetchRequest{from, static_cast<std::uint32_t>(want)}}));
  }

  // Moves the window's start back (doubling its width); false at the limit.
  bool tail_widen() {
    std::uint64_t width = tail.end - tail.begin;
    if (tail.begin <= tail.floor || width >= kTailWindowBytesMax) return false;
    WQ_ASSERT(tail.chunk.empty(), "widening with {} bytes of a window read", tail.chunk.size());
    tail.begin = window_begin(tail.end, width * 2, tail.floor);
    return true;
  }

  void tail_on_message(std::uint64_t gen, const core::AcceptorMessage& msg) {
    if (std::holds_alternative<core::AcceptorGreeting>(msg)) {
      tail_request();
      return;
    }
    if (const auto* r = std::get_if<core::Refused>(&msg)) {
      if (r->reason != core::RefuseReason::kNotServing) {
        tail_retry_elsewhere(fmt::format("refused ({}): {}", core::refuse_reason_name(r->reason),
                                         r->detail));
        return;
      }
      spdlog::debug("event=proposer_tail_refused begin={} detail=\"{}\"", tail.begin, r->detail);
      if (++tail.refusals >= kTailRetriesMax) {
        tail_retry_elsewhere(fmt::format("refused ({}): {}", core::refuse_reason_name(r->reason),
                                         r->detail));
        return;
      }
      if (tail.refusals % kTailRefusalsPerWindow == 0 && tail.chunk.empty()) tail_widen();
      // Ask again shortly: the safekeeper may not have learned the commit_lsn
      // yet (the next append or heartbeat carries it), or the window moved.
      tail_timer.expires_after(kTailRetry);
      tail_timer.async_wait([this, gen](const asio::error_code& ec) {
        if (ec || finished || !tail.active || tail.gen != gen || !tail.conn) return;
        tail_request();
      });
      return;
    }
    const auto* f = std::get_if<core::PeerFetchResponse>(&msg);
    if (f == nullptr) {
      tail_retry_elsewhere("unexpected reply to a peer fetch");
      return;
    }
    Lsn from = tail.begin + tail.chunk.size();
    if (f->begin_lsn == from && f->wal.empty() && tail.chunk.empty() && from < f->commit_lsn) {
      // A reply with no bytes below the peer's commit LSN: `from` is not a record
      // boundary of its log (it lies inside the record that ends the window's
      // predecessor), so start the window further back.
      spdlog::debug("event=proposer_tail_not_boundary begin={}", tail.begin);
      if (tail_widen()) {
        tail_request();
        return;
      }
    }
    if (f->begin_lsn != from || f->wal.empty()) {
      tail_retry_elsewhere(fmt::format("peer fetch from {} answered with [{}, +{})", from,
                                       f->begin_lsn, f->wal.size()));
      return;
    }
    tail.refusals = 0;
    // Safekeepers answer in whole records, so the answer may run past the
    // bytes already held (to the end of the record it reached): those are the
    // same committed bytes, and are dropped.
    std::size_t take = std::min<std::uint64_t>(f->wal.size(), tail.have_begin - from);
    tail.chunk.insert(tail.chunk.end(), f->wal.begin(),
                      f->wal.begin() + static_cast<std::ptrdiff_t>(take));
    if (tail.begin + tail.chunk.size() < tail.have_begin) {
      tail_request();
      return;
    }
    // [begin, end) is complete: prepend the new chunk and look for the last record.
    tail.chunk.insert(tail.chunk.end(), tail.bytes.begin(), tail.bytes.end());
    tail.bytes = std::move(tail.chunk);
    tail.chunk.clear();
    tail.have_begin = tail.begin;
    auto found = find_last_record_start(tail.bytes, tail.begin, tail.end, opt.wal_seg_size);
    if (!found) {
      spdlog::error("event=proposer_tail_corrupt timeline={} sk={} error=\"{}\"",
                    opt.timeline.to_string(), addrs[tail.source].to_string(),
                    found.error().message);
      tail.bytes.clear();  // another safekeeper may hold good bytes: start over there
      tail.have_begin = tail.end;
      tail.begin = window_begin(tail.end, kTailWindowBytes, tail.floor);
      tail_retry_elsewhere(found.error().message);
      return;
    }
    if (!found->has_value()) {
      if (!tail_widen()) {
        spdlog::error("event=proposer_tail_failed timeline={} window=[{}, {}) reason=\"no record "
                      "starts in it\"",
                      opt.timeline.to_string(), tail.begin, tail.end);
        tail_stop();
        return;  // wait_elected keeps waiting and times out; the log says why
      }
      tail_request();
      return;
    }
    Elected e = pending_elected;
    e.prev_record_lsn = **found;
    spdlog::debug("event=proposer_tail_found window=[{}, {}) prev_record_lsn={}", tail.begin,
                  tail.end, e.prev_record_lsn);
    tail_stop();
    publish_elected(e);
  }

  void tail_stop() {
    tail.active = false;
    ++tail.gen;
    if (tail.conn) tail.conn->close("tail read done");
    tail.conn.reset();
    tail.bytes = {};
    tail.chunk = {};
    tail_timer.cancel();
  }

  // ---- appends ----

  // Moves queued appends into the core while it has room, grouping adjacent
  // small ones into one proposal of at most window_bytes_max.
  void pump() {
    if (finished || proposer.state() != core::Proposer::State::kElected) {
      std::lock_guard lk(mu);
      pump_posted = false;
      return;
    }
    // Bounded: each round removes at least one chunk from a bounded queue.
    for (;;) {
      std::vector<std::vector<std::uint8_t>> taken;
      std::uint64_t total = 0;
      Lsn begin;
      {
        std::lock_guard lk(mu);
        pump_posted = false;  // appends queued from here on post again
        if (pending.empty()) return;
        std::size_t n = 0;
        for (const auto& c : pending) {
          if (n > 0 && total + c.size() > opt.window_bytes_max) break;
          total += c.size();
          ++n;
        }
        if (!proposer.can_propose(total)) {
          if (n == 1 || !proposer.can_propose(pending.front().size())) return;
          n = 1;
          total = pending.front().size();
        }
        // Moved out here and joined after unlocking: append() callers wait on
        // mu, and joining copies up to window_bytes_max bytes.
        for (std::size_t k = 0; k < n; ++k) taken.push_back(std::move(pending[k]));
        pending.erase(pending.begin(), pending.begin() + static_cast<std::ptrdiff_t>(n));
        begin = pending_begin;
        pending_begin += total;
        pending_bytes -= total;
        WQ_ASSERT(begin == proposer.end_lsn(), "queued append at {} but the proposer ends at {}",
                  begin, proposer.end_lsn());
      }
      cv.notify_all();  // room in the queue for a blocked append()
      std::vector<std::uint8_t> batch;
      if (taken.size() == 1) {
        batch = std::move(taken.front());
      } else {
        batch.reserve(total);
        for (const auto& c : taken) batch.insert(batch.end(), c.begin(), c.end());
      }
      apply(proposer.propose(begin, std::move(batch)));
      if (finished || proposer.state() != core::Proposer::State::kElected) return;
    }
  }

  // ---- commit and termination ----

  void publish_commit() {
    Lsn c = proposer.commit_lsn();
    std::vector<std::function<void(base::Status)>> ready;
    {
      std::lock_guard lk(mu);
      if (c <= commit) return;
      commit = c;
      auto stop_at = callbacks.upper_bound(c);
      for (auto it = callbacks.begin(); it != stop_at; ++it) ready.push_back(std::move(it->second));
      callbacks.erase(callbacks.begin(), stop_at);
      wake_waiters_locked(commit_waiters.upper_bound(c));
    }
    for (auto& f : ready) f(base::Ok{});  // in LSN order
  }

  // Under mu: wakes and unfiles the wait_committed() callers before `stop_at`.
  // Notified under mu because each slot lives on its waiter's stack: once mu
  // is released the woken waiter may return and destroy it.
  void wake_waiters_locked(std::multimap<Lsn, CommitWaiter*>::iterator stop_at) {
    for (auto it = commit_waiters.begin(); it != stop_at; ++it) {
      it->second->woken = true;
      it->second->cv.notify_one();
    }
    commit_waiters.erase(commit_waiters.begin(), stop_at);
  }

  // Runs the callbacks that can be answered now: committed ones (in LSN
  // order), or all of them once the client ended.
  void fire_ready() {
    std::vector<std::pair<std::function<void(base::Status)>, base::Status>> ready;
    {
      std::lock_guard lk(mu);
      auto stop_at = callbacks.upper_bound(commit);
      for (auto it = callbacks.begin(); it != stop_at; ++it) {
        ready.emplace_back(std::move(it->second), base::Ok{});
      }
      callbacks.erase(callbacks.begin(), stop_at);
      if (auto e = terminal_locked()) {
        for (auto& [lsn, f] : callbacks) ready.emplace_back(std::move(f), *e);
        callbacks.clear();
      }
    }
    for (auto& [f, st] : ready) f(st);
  }

  void on_superseded(Term t) {
    spdlog::info("event=proposer_superseded timeline={} term={} by_term={} commit_lsn={}",
                 opt.timeline.to_string(), proposer.term(), t, proposer.commit_lsn());
    finish_net();
    std::multimap<Lsn, std::function<void(base::Status)>> failed;
    {
      std::lock_guard lk(mu);
      if (state == State::kCampaigning || state == State::kElected) state = State::kSuperseded;
      superseded_by = t;
      failed.swap(callbacks);
      pending.clear();
      pending_bytes = 0;
      wake_waiters_locked(commit_waiters.end());
    }
    cv.notify_all();
    for (auto& [lsn, f] : failed) f(terminal_error_of(State::kSuperseded, t));
  }

  // Stops all network activity (on the network thread). The thread keeps
  // running idle until stop() ends it.
  void finish_net() {
    if (finished) return;
    finished = true;
    tick_timer.cancel();
    tail_stop();
    for (auto& p : peers) {
      ++p.gen;
      if (p.conn) p.conn->close("proposer client stopping");
      p.conn.reset();
    }
    std::lock_guard lk(mu);
    for (auto& s : sk_status) s.connected = false;
  }

  static base::Status terminal_error_of(State s, std::optional<Term> by) {
    if (s == State::kSuperseded) {
      return error(base::ErrorCode::kRefused,
                   fmt::format("superseded by term {}", by ? by->value() : 0));
    }
    return error(base::ErrorCode::kRefused, "client stopped");
  }

  // Under mu: the error every call returns once the client ended, if it did.
  std::optional<base::Status> terminal_locked() const {
    if (state == State::kSuperseded || state == State::kStopped) {
      return terminal_error_of(state, superseded_by);
    }
    return std::nullopt;
  }

  Options opt;
  std::vector<net::HostPort> addrs;
  asio::io_context io;  // before everything that holds its sockets and timers
  std::mt19937_64 rng;
  core::Proposer proposer;
  asio::steady_timer tick_timer;
  asio::steady_timer tail_timer;
  std::vector<Peer> peers;
  Tail tail;
  Elected pending_elected;
  Lsn elected_timeline_start;
  bool finished = false;  // network thread: no more network activity
  std::thread thread;
  std::thread::id thread_id;  // set once in start(), before any public call

  // ---- shared with callers, under mu ----
  mutable std::mutex mu;
  std::condition_variable cv;
  State state = State::kCampaigning;
  bool stop_requested = false;
  std::optional<Elected> elected;
  std::optional<Term> superseded_by;
  Term term;
  Lsn commit;
  Lsn end;  // end of everything append() accepted
  std::uint64_t appended_bytes = 0;
  std::uint64_t reconnects = 0;
  // Appended but not yet proposed, contiguous from pending_begin; bounded by
  // pending_bytes_max (append() blocks above it).
  std::deque<std::vector<std::uint8_t>> pending;
  Lsn pending_begin;
  std::uint64_t pending_bytes = 0;
  std::uint64_t pending_bytes_max = 0;
  std::multimap<Lsn, std::function<void(base::Status)>> callbacks;
  bool pump_posted = false;  // a pump() is posted and has not yet looked at `pending`
  std::multimap<Lsn, CommitWaiter*> commit_waiters;
  std::vector<SafekeeperStatus> sk_status;
  std::string last_refusal;  // for the message of a wait_elected timeout
};

base::Result<std::unique_ptr<Client>> Client::start(Options options) {
  auto invalid = [](std::string m) {
    return base::Unexpected{base::ErrorCode::kInvalidArgument, std::move(m)};
  };
  if (options.safekeepers.empty()) return invalid("no safekeepers given (need at least 1)");
  std::vector<net::HostPort> addrs;
  std::set<std::string> seen;
  for (const auto& text : options.safekeepers) {
    auto hp = net::parse_host_port(text);
    if (!hp) return invalid(fmt::format("safekeeper address: {}", hp.error().message));
    if (hp->port == 0) return invalid(fmt::format("safekeeper address \"{}\": port 0", text));
    if (!seen.insert(hp->to_string()).second) {
      return invalid(fmt::format("safekeeper address \"{}\" given twice", text));
    }
    addrs.push_back(*hp);
  }
  if (!wal::valid_segment_size(options.wal_seg_size)) {
    return invalid(fmt::format("wal_seg_size {} is not a power of two in 1 MiB..1 GiB",
                               options.wal_seg_size));
  }
  if (!options.timeline_start_lsn.is_valid() ||
      options.timeline_start_lsn.value() % wal::kMaxAlign != 0) {
    return invalid(fmt::format("timeline_start_lsn {} must be non-zero and MAXALIGNed",
                               options.timeline_start_lsn));
  }
  if (options.reconnect_initial.count() <= 0 ||
      options.reconnect_initial > options.reconnect_max) {
    return invalid(fmt::format("reconnect delays {}..{} ms: need 0 < initial <= max",
                               options.reconnect_initial.count(),
                               options.reconnect_max.count()));
  }
  if (options.connect_timeout.count() <= 0 || options.tick.count() <= 0 ||
      options.idle_timeout.count() < 0) {
    return invalid("connect_timeout and tick must be positive, idle_timeout not negative");
  }
  if (options.heartbeat_ticks == 0 || options.election_timeout_ticks == 0) {
    return invalid("heartbeat_ticks and election_timeout_ticks must be positive");
  }
  if (options.window_bytes_max == 0 || options.window_bytes_max > codec::kFrameBytesMax / 2 ||
      options.buffer_bytes_max < options.window_bytes_max) {
    return invalid(fmt::format(
        "window_bytes_max {} must be in 1..{} and at most buffer_bytes_max {}",
        options.window_bytes_max, codec::kFrameBytesMax / 2, options.buffer_bytes_max));
  }
  if (options.proposer_id == 0) {
    std::random_device rd;
    while (options.proposer_id == 0) {
      options.proposer_id = (static_cast<std::uint64_t>(rd()) << 32) | rd();
    }
  }

  core::Proposer::Config c;
  c.timeline = options.timeline;
  c.proposer_id = NodeId{options.proposer_id};
  for (std::size_t i = 0; i < addrs.size(); ++i) c.acceptors.push_back(node_of(i));
  c.system_id = options.system_id;
  c.wal_seg_size = options.wal_seg_size;
  c.pg_version = options.pg_version;
  c.timeline_start_lsn = options.timeline_start_lsn;
  c.window_bytes_max = options.window_bytes_max;
  c.buffer_bytes_max = options.buffer_bytes_max;
  c.heartbeat_ticks = options.heartbeat_ticks;
  c.election_timeout_ticks = options.election_timeout_ticks;

  auto impl = std::make_unique<Impl>(std::move(options), std::move(addrs), std::move(c));
  impl->pending_bytes_max = impl->opt.window_bytes_max;
  spdlog::info("event=proposer_start timeline={} proposer_id={} safekeepers={}",
               impl->opt.timeline.to_string(), impl->opt.proposer_id,
               fmt::join(impl->opt.safekeepers, ","));
  Impl* raw = impl.get();
  asio::post(raw->io, [raw] { raw->start_all(); });
  raw->thread = std::thread([raw] {
    // The tick timer keeps the context busy until finish_net(); stop() ends run().
    auto guard = asio::make_work_guard(raw->io);
    raw->run();
  });
  raw->thread_id = raw->thread.get_id();
  return std::unique_ptr<Client>(new Client(std::move(impl)));
}

Client::Client(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

Client::~Client() { stop(); }

void Client::stop() {
  Impl& m = *impl_;
  WQ_ASSERT(std::this_thread::get_id() != m.thread_id,
            "proposer::Client::stop() called from a callback on the network thread");
  {
    std::lock_guard lk(m.mu);
    if (m.stop_requested) return;
    m.stop_requested = true;
    if (m.state == State::kCampaigning || m.state == State::kElected) m.state = State::kStopped;
    m.wake_waiters_locked(m.commit_waiters.end());
  }
  m.cv.notify_all();
  // Close the connections on the network thread, then end it: the closes are
  // posted to each connection's strand before io.stop() is posted.
  asio::post(m.io, [&m] {
    m.finish_net();
    asio::post(m.io, [&m] { m.io.stop(); });
  });
  if (m.thread.joinable()) m.thread.join();
  std::multimap<Lsn, std::function<void(base::Status)>> left;
  Lsn commit;
  std::optional<base::Status> err;
  {
    std::lock_guard lk(m.mu);
    left.swap(m.callbacks);
    commit = m.commit;
    err = m.terminal_locked();
    m.pending.clear();
    m.pending_bytes = 0;
  }
  spdlog::info("event=proposer_stopped timeline={} commit_lsn={}", m.opt.timeline.to_string(),
               commit);
  // The network thread is gone: the last callbacks run here.
  for (auto& [lsn, f] : left) f(lsn <= commit ? base::Status(base::Ok{}) : *err);
}

base::Result<Elected> Client::wait_elected(std::chrono::milliseconds timeout) {
  Impl& m = *impl_;
  std::unique_lock lk(m.mu);
  auto deadline = Clock::now() + timeout;
  bool done = m.cv.wait_until(lk, deadline, [&] { return m.state != State::kCampaigning; });
  if (auto e = m.terminal_locked()) return base::Unexpected{e->error()};
  if (!done || !m.elected) {
    std::size_t connected = 0;
    for (const auto& s : m.sk_status) connected += s.connected ? 1 : 0;
    return base::Unexpected{
        base::ErrorCode::kTimeout,
        fmt::format("not elected within {} ms ({} of {} safekeepers connected{}{})",
                    timeout.count(), connected, m.sk_status.size(),
                    m.last_refusal.empty() ? "" : "; last refusal: ", m.last_refusal)};
  }
  return *m.elected;
}

base::Result<Lsn> Client::append(std::span<const std::uint8_t> wal,
                                 std::chrono::milliseconds timeout) {
  Impl& m = *impl_;
  auto deadline = Clock::now() + timeout;
  // Copied before locking (mu is what the network thread and every waiter
  // need), unless it is refused below for its size anyway.
  std::vector<std::uint8_t> copy;
  if (wal.size() <= m.opt.window_bytes_max) copy.assign(wal.begin(), wal.end());
  Lsn new_end;
  bool post = false;
  {
    std::unique_lock lk(m.mu);
    if (auto e = m.terminal_locked()) return base::Unexpected{e->error()};
    if (m.state != State::kElected) {
      return base::Unexpected{base::ErrorCode::kInvalidArgument, "append before elected"};
    }
    if (wal.empty()) return m.end;
    if (wal.size() > m.opt.window_bytes_max) {
      // A chunk is proposed whole (it cannot be split at record boundaries
      // without decoding it), and one proposal is at most one window.
      return base::Unexpected{
          base::ErrorCode::kInvalidArgument,
          fmt::format("append of {} bytes exceeds window_bytes_max {}; append smaller chunks",
                      wal.size(), m.opt.window_bytes_max)};
    }
    if (wal::is_page_aligned(m.end)) {
      // Cheap misuse check where it is possible: bytes that begin on a page must
      // begin with that page's header.
      auto h = wal::decode_page_header(wal, m.end, m.opt.wal_seg_size);
      if (!h) {
        return base::Unexpected{
            base::ErrorCode::kInvalidArgument,
            fmt::format("append at {} (a page boundary): the bytes do not begin with its page "
                        "header: {}",
                        m.end, h.error().message)};
      }
    }
    // Back-pressure: wait until the queue of not-yet-proposed bytes has room.
    bool room = m.cv.wait_until(lk, deadline, [&] {
      return m.state != State::kElected || m.pending_bytes + wal.size() <= m.pending_bytes_max;
    });
    if (auto e = m.terminal_locked()) return base::Unexpected{e->error()};
    if (!room) {
      return base::Unexpected{
          base::ErrorCode::kTimeout,
          fmt::format("append of {} bytes: no room within {} ms ({} bytes queued, commit_lsn {}, "
                      "end_lsn {})",
                      wal.size(), timeout.count(), m.pending_bytes, m.commit, m.end)};
    }
    m.pending.push_back(std::move(copy));
    m.pending_bytes += wal.size();
    m.end += wal.size();
    m.appended_bytes += wal.size();
    new_end = m.end;
    // One posted pump() takes every chunk queued before it runs, so only the
    // first append after it started looking needs to wake the network thread.
    post = !m.pump_posted;
    m.pump_posted = true;
  }
  if (post) asio::post(m.io, [&m] { m.pump(); });
  return new_end;
}

base::Status Client::wait_committed(Lsn lsn, std::chrono::milliseconds timeout) {
  Impl& m = *impl_;
  auto deadline = Clock::now() + timeout;
  std::unique_lock lk(m.mu);
  if (m.commit < lsn && !m.terminal_locked()) {
    // Filed under mu before sleeping, and every commit advance and ending
    // wakes under mu, so no wake-up falls between the check and the wait.
    Impl::CommitWaiter w;
    auto it = m.commit_waiters.emplace(lsn, &w);
    if (!w.cv.wait_until(lk, deadline, [&] { return w.woken; })) {
      m.commit_waiters.erase(it);
    } else {
      WQ_ASSERT(m.commit >= lsn || m.terminal_locked(), "wait_committed({}) woken at commit_lsn {}",
                lsn, m.commit);
    }
  }
  if (m.commit >= lsn) return base::Ok{};
  if (auto e = m.terminal_locked()) return *e;
  return error(base::ErrorCode::kTimeout,
               fmt::format("{} not committed within {} ms (commit_lsn {}, end_lsn {})", lsn,
                           timeout.count(), m.commit, m.end));
}

void Client::on_committed(Lsn lsn, std::function<void(base::Status)> done) {
  Impl& m = *impl_;
  {
    std::unique_lock lk(m.mu);
    if (m.stop_requested) {
      // No network thread any more (or soon none): answer here.
      base::Status st = m.commit >= lsn ? base::Status(base::Ok{}) : *m.terminal_locked();
      lk.unlock();
      done(st);
      return;
    }
    // Queued even when already answerable, so callbacks run on the network
    // thread in LSN order; stop() answers whatever is still queued.
    m.callbacks.emplace(lsn, std::move(done));
  }
  asio::post(m.io, [&m] { m.fire_ready(); });
}

State Client::state() const {
  std::lock_guard lk(impl_->mu);
  return impl_->state;
}

Lsn Client::commit_lsn() const {
  std::lock_guard lk(impl_->mu);
  return impl_->commit;
}

Lsn Client::end_lsn() const {
  std::lock_guard lk(impl_->mu);
  return impl_->end;
}

std::optional<core::Term> Client::superseded_by() const {
  std::lock_guard lk(impl_->mu);
  return impl_->superseded_by;
}

Stats Client::stats() const {
  const Impl& m = *impl_;
  std::lock_guard lk(m.mu);
  Stats s;
  s.state = m.state;
  s.term = m.term;
  s.commit_lsn = m.commit;
  s.end_lsn = m.end;
  s.appended_bytes = m.appended_bytes;
  s.reconnects = m.reconnects;
  s.safekeepers = m.sk_status;
  return s;
}

}  // namespace wq::proposer
