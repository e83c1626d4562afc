// A tiny in-memory driver for the core unit tests: real Acceptor and Proposer
// objects, an in-memory disk per acceptor that loses unsynced bytes on crash, and
// one FIFO network queue whose delivery the test controls. Deterministic. (The
// full fault-injecting simulator is tests/sim; this one only serves scenarios.)
#pragma once

#include <algorithm>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <vector>

#include <doctest/doctest.h>

#include "core/acceptor.h"
#include "core/proposer.h"

namespace wq::core::testing {

inline TimelineKey test_timeline() {
  TimelineKey k;
  k.tenant.bytes[0] = 1;
  k.timeline.bytes[0] = 2;
  return k;
}

inline ProposerGreeting test_greeting(NodeId proposer = NodeId{100}) {
  ProposerGreeting g;
  g.timeline = test_timeline();
  g.system_id = 42;
  g.wal_seg_size = 1024;  // small, so lazy commit persistence triggers in tests
  g.proposer_id = proposer;
  return g;
}

inline std::vector<std::uint8_t> bytes_of(std::size_t n, std::uint8_t fill) {
  return std::vector<std::uint8_t>(n, fill);
}

// One acceptor's disk: WAL bytes indexed by absolute LSN, written vs durable ends,
// the record boundaries (ends of writes), and the stored control state.
struct MemDisk {
  std::vector<std::uint8_t> bytes;
  Lsn written;
  Lsn durable;
  std::set<Lsn> boundaries;
  ControlState stored;
  std::vector<std::string> log;  // action kinds, in execution order

  std::vector<std::uint8_t> read(Lsn from, Lsn to) const {
    return std::vector<std::uint8_t>(bytes.begin() + static_cast<long>(from.value()),
                                     bytes.begin() + static_cast<long>(to.value()));
  }
};

class Cluster {
 public:
  struct Msg {
    bool to_acceptor;
    std::size_t proposer;
    NodeId acceptor;
    ConnId conn;
    std::variant<ProposerMessage, AcceptorMessage> body;
  };

  explicit Cluster(std::vector<NodeId> ids) : ids_(std::move(ids)) {
    for (NodeId id : ids_) {
      Node& n = nodes_[id];
      n.disk.stored = Acceptor::initial(test_greeting());
      n.acc = std::make_unique<Acceptor>(id, n.disk.stored, Lsn{});
    }
  }

  Proposer::Config config(std::uint64_t proposer_id, Lsn start = Lsn{0x100}) const {
    Proposer::Config c;
    c.timeline = test_timeline();
    c.proposer_id = NodeId{proposer_id};
    c.acceptors = ids_;
    c.system_id = 42;
    c.wal_seg_size = 1024;
    c.timeline_start_lsn = start;
    c.window_bytes_max = 4096;
    c.buffer_bytes_max = 1 << 16;
    c.heartbeat_ticks = 5;
    c.election_timeout_ticks = 20;
    return c;
  }

  std::size_t add_proposer(Proposer::Config c) {
    proposers_.push_back(std::make_unique<Proposer>(std::move(c)));
    return proposers_.size() - 1;
  }
  Proposer& proposer(std::size_t p) { return *proposers_.at(p); }
  Acceptor& acceptor(NodeId id) { return *nodes_.at(id).acc; }
  MemDisk& disk(NodeId id) { return nodes_.at(id).disk; }

  void connect(std::size_t p, NodeId a) {
    ConnId c = next_conn_++;
    links_[{p, a}] = c;
    conn_owner_[c] = {p, a};
    handle_output(p, proposers_[p]->on_connected(a));
  }
  void connect_all(std::size_t p) {
    for (NodeId id : ids_) connect(p, id);
  }
  void disconnect(std::size_t p, NodeId a) {
    auto it = links_.find({p, a});
    if (it == links_.end()) return;
    ConnId c = it->second;
    links_.erase(it);
    handle_output(p, proposers_[p]->on_disconnected(a));
    execute(a, nodes_.at(a).acc->on_disconnected(c));
  }
  void disconnect_all(std::size_t p) {
    for (NodeId id : ids_) disconnect(p, id);
  }

  // The acceptor loses unsynced bytes and restarts from its stored control state.
  void crash_acceptor(NodeId a) {
    for (std::size_t p = 0; p < proposers_.size(); ++p) {
      auto it = links_.find({p, a});
      if (it == links_.end()) continue;
      links_.erase(it);
      handle_output(p, proposers_[p]->on_disconnected(a));
    }
    Node& n = nodes_.at(a);
    n.disk.written = n.disk.durable;
    n.disk.bytes.resize(n.disk.durable.value());
    std::erase_if(n.disk.boundaries, [&](Lsn b) { return b > n.disk.durable; });
    n.acc = std::make_unique<Acceptor>(a, n.disk.stored, n.disk.durable);
    n.acc->check_invariants();
  }

  // Delivers one queued message; false when the queue is empty.
  bool step() { return !queue_.empty() && step_at(0); }

  // Delivers the oldest message of the link and direction of queue entry
  // `pick % size` (each connection stays FIFO); false when the queue is empty.
  bool step_random(std::uint64_t pick) {
    if (queue_.empty()) return false;
    const Msg& chosen = queue_[pick % queue_.size()];
    for (std::size_t k = 0; k < queue_.size(); ++k) {
      const Msg& q = queue_[k];
      if (q.to_acceptor == chosen.to_acceptor && q.proposer == chosen.proposer &&
          q.acceptor == chosen.acceptor) {
        return step_at(k);
      }
    }
    return false;
  }

  // Group commit on one acceptor now.
  void flush(NodeId a) { execute(a, nodes_.at(a).acc->flush_wal()); }
  void set_auto_sync(bool on) { auto_sync_ = on; }
  bool connected(std::size_t p, NodeId a) const { return links_.contains({p, a}); }
  std::size_t proposer_count() const { return proposers_.size(); }
  const std::vector<NodeId>& ids() const { return ids_; }

 private:
  bool step_at(std::size_t index) {
    Msg m = std::move(queue_[index]);
    queue_.erase(queue_.begin() + static_cast<long>(index));
    auto it = links_.find({m.proposer, m.acceptor});
    if (it == links_.end() || it->second != m.conn) return true;  // connection gone
    if (m.to_acceptor) {
      Node& n = nodes_.at(m.acceptor);
      execute(m.acceptor, n.acc->on_message(m.conn, std::get<ProposerMessage>(m.body)));
      // Group commit when this acceptor's inbound queue drains.
      bool more = std::any_of(queue_.begin(), queue_.end(), [&](const Msg& q) {
        return q.to_acceptor && q.acceptor == m.acceptor;
      });
      if (!more && auto_sync_ && !no_sync_.contains(m.acceptor)) {
        execute(m.acceptor, n.acc->flush_wal());
      }
    } else {
      handle_output(m.proposer,
                    proposers_[m.proposer]->on_message(m.acceptor, std::get<AcceptorMessage>(m.body)));
    }
    check_all();
    return true;
  }

 public:
  void run(std::size_t limit = 100000) {
    for (std::size_t k = 0; k < limit && step(); ++k) {
    }
    REQUIRE(queue_.empty());
  }
  bool run_until(const std::function<bool()>& pred, std::size_t limit = 100000) {
    for (std::size_t k = 0; k < limit; ++k) {
      if (pred()) return true;
      if (!step()) return pred();
    }
    return pred();
  }
  void tick(std::size_t p, int n = 1) {
    for (int k = 0; k < n; ++k) handle_output(p, proposers_[p]->tick());
  }
  // Acceptors in this set do not group-commit automatically.
  void hold_sync(NodeId a, bool hold) {
    if (hold) {
      no_sync_.insert(a);
    } else {
      no_sync_.erase(a);
    }
  }
  void drop_queue() { queue_.clear(); }
  // Silently loses every queued message between proposer p and acceptor a (both
  // ways) without closing the connection: a dead link nobody noticed yet.
  void drop_link(std::size_t p, NodeId a) {
    std::erase_if(queue_, [&](const Msg& m) { return m.proposer == p && m.acceptor == a; });
  }
  std::size_t queued() const { return queue_.size(); }

  std::vector<ProposerOutput> outputs;  // every proposer output, for assertions

  // Queues the messages of an output the test obtained directly (e.g. propose()).
  void inject(std::size_t p, ProposerOutput out) { handle_output(p, std::move(out)); }

  void check_all() {
    for (auto& [id, n] : nodes_) n.acc->check_invariants();
    for (auto& p : proposers_) p->check_invariants();
  }

 private:
  struct Node {
    std::unique_ptr<Acceptor> acc;
    MemDisk disk;
  };

  void handle_output(std::size_t p, ProposerOutput out) {
    for (auto& [to, msg] : out.sends) {
      auto it = links_.find({p, to});
      if (it == links_.end()) continue;
      queue_.push_back(Msg{true, p, to, it->second, msg});
    }
    outputs.push_back(std::move(out));
  }

  void execute(NodeId a, Actions actions) {
    MemDisk& d = nodes_.at(a).disk;
    for (Action& act : actions) {
      if (auto* pc = std::get_if<PersistControl>(&act)) {
        d.log.push_back("persist");
        d.stored = pc->state;
      } else if (auto* w = std::get_if<WriteWal>(&act)) {
        d.log.push_back("write");
        REQUIRE(w->begin == d.written);
        std::uint64_t end = w->begin.value() + w->bytes.size();
        if (d.bytes.size() < end) d.bytes.resize(end);
        std::copy(w->bytes.begin(), w->bytes.end(),
                  d.bytes.begin() + static_cast<long>(w->begin.value()));
        d.written = Lsn{end};
        d.boundaries.insert(d.written);
      } else if (auto* s = std::get_if<SyncWal>(&act)) {
        d.log.push_back("sync");
        REQUIRE(s->upto == d.written);
        d.durable = d.written;
      } else if (auto* t = std::get_if<TruncateWal>(&act)) {
        d.log.push_back("truncate");
        if (d.written.is_valid() && t->at <= d.written) {
          d.bytes.resize(t->at.value());
        } else {
          d.bytes.assign(t->at.value(), 0);  // a new WAL starting at `at`
          d.boundaries.clear();
        }
        std::erase_if(d.boundaries, [&](Lsn b) { return b > t->at; });
        d.boundaries.insert(t->at);
        d.written = t->at;
        d.durable = t->at;
      } else if (auto* r = std::get_if<ServeRead>(&act)) {
        d.log.push_back("serve_read");
        REQUIRE(r->to_lsn <= d.durable);
        Lsn end = r->from;
        for (Lsn b : d.boundaries) {
          if (b > r->from && b <= r->to_lsn) end = b;
        }
        if (end == r->from) {
          auto it = d.boundaries.upper_bound(r->from);
          if (it != d.boundaries.end() && *it <= d.durable) end = *it;
        }
        reply(a, r->to, ReadWalResponse{r->term, r->from, d.read(r->from, end)});
      } else if (std::holds_alternative<ServePeerFetch>(act)) {
        d.log.push_back("serve_fetch");
      } else if (auto* s2 = std::get_if<Send>(&act)) {
        d.log.push_back("send");
        reply(a, s2->to, s2->msg);
      }
    }
  }

  void reply(NodeId a, ConnId c, AcceptorMessage msg) {
    auto it = conn_owner_.find(c);
    if (it == conn_owner_.end()) return;
    queue_.push_back(Msg{false, it->second.first, a, c, std::move(msg)});
  }

  std::vector<NodeId> ids_;
  std::map<NodeId, Node> nodes_;
  std::vector<std::unique_ptr<Proposer>> proposers_;
  std::map<std::pair<std::size_t, NodeId>, ConnId> links_;
  std::map<ConnId, std::pair<std::size_t, NodeId>> conn_owner_;
  std::deque<Msg> queue_;
  std::set<NodeId> no_sync_;
  bool auto_sync_ = true;
  ConnId next_conn_ = 1;
};

}  // namespace wq::core::testing
