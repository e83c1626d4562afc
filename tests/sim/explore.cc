// walquorum-sim-explore: bounded exhaustive exploration of a small scope with
// the real core — 2 proposers (so 2 terms), 3 acceptors, 2 WAL records — over
// every interleaving of message deliveries (FIFO per connection, as TCP),
// group-commit flushes, heartbeat ticks, a connection break, an acceptor
// crash (losing unsynced WAL) and restart, and the second compute's start.
// States are copies of the real Acceptor/Proposer objects plus disks and
// in-flight messages; a state already seen (by a hash of everything
// observable) is not expanded again. Checks after every transition: S1, S3,
// S5, S7, S8, S13, S18 (tests/sim/invariants.h).
#include <chrono>
#include <cstring>
#include <deque>
#include <optional>
#include <string>
#include <unordered_set>
#include <vector>

#include <fmt/format.h>

#include "core/acceptor.h"
#include "core/proposer.h"
#include "disk.h"
#include "invariants.h"
#include "wal_model.h"
#include "wire.h"

namespace wq::sim {
namespace {

using core::Acceptor;
using core::NodeId;
using core::Proposer;
using core::Term;
using core::TermHistory;

constexpr int kA = 3;
constexpr int kP = 2;

struct XConn {
  core::ConnId id = 0;
  bool open = false;
  std::deque<Wire> q[2];  // 0: proposer → acceptor, 1: acceptor → proposer
};
struct XAcceptor {
  bool up = true;
  std::optional<Acceptor> acc;
  SimDisk disk{Lsn{}};
};
struct XProposer {
  bool alive = false;
  std::optional<Proposer> p;
  Lsn last_commit;
};
struct TermBytes {
  Lsn start;
  std::vector<std::uint8_t> bytes;
  std::vector<GeneratedRecord> recs;
};
struct State {
  std::array<XAcceptor, kA> acc;
  std::array<XProposer, kP> prop;
  std::array<std::array<XConn, kA>, kP> conn;
  std::map<Term, TermBytes> terms;
  std::map<Term, int> elected;
  std::vector<std::uint8_t> committed;
  int ticks_left = 3;
  int crashes_left = 1;
  int breaks_left = 1;
  int records_left = 2;
  bool second_started = false;
  core::ConnId next_conn = 1;
  std::vector<std::string> path;
};

struct Explorer {
  WalParams walp;
  Lsn base{1u << 20};
  Lsn ts;
  core::TimelineKey timeline;
  std::optional<Violation> violation;
  std::vector<std::string> violation_path;

  Explorer() { ts = timeline_start_for(walp, 1); }

  void fail(State& s, int inv, std::string what) {
    if (violation) return;
    violation = Violation{inv, std::move(what)};
    violation_path = s.path;
  }

  Proposer::Config config(int p) const {
    Proposer::Config c;
    c.timeline = timeline;
    c.proposer_id = NodeId(100 + static_cast<std::uint64_t>(p));
    for (int a = 0; a < kA; ++a) c.acceptors.push_back(NodeId(static_cast<std::uint64_t>(a + 1)));
    c.system_id = walp.system_id;
    c.wal_seg_size = static_cast<std::uint32_t>(walp.seg_size);
    c.timeline_start_lsn = ts;
    c.heartbeat_ticks = 1;
    c.election_timeout_ticks = 1000;
    return c;
  }

  State initial() {
    State s;
    for (auto& a : s.acc) a.disk = SimDisk(base);
    start(s, 0);
    return s;
  }

  void start(State& s, int p) {
    s.prop[static_cast<std::size_t>(p)].alive = true;
    s.prop[static_cast<std::size_t>(p)].p.emplace(config(p));
    for (int a = 0; a < kA; ++a) connect(s, p, a);
  }

  void connect(State& s, int p, int a) {
    auto& pn = s.prop[static_cast<std::size_t>(p)];
    if (!pn.alive || !s.acc[static_cast<std::size_t>(a)].up) return;
    auto& c = s.conn[static_cast<std::size_t>(p)][static_cast<std::size_t>(a)];
    c = XConn{};
    c.id = s.next_conn++;
    c.open = true;
    output(s, p, pn.p->on_connected(NodeId(static_cast<std::uint64_t>(a + 1))));
  }

  void close(State& s, int p, int a) {
    auto& c = s.conn[static_cast<std::size_t>(p)][static_cast<std::size_t>(a)];
    if (!c.open) return;
    c.open = false;
    c.q[0].clear();
    c.q[1].clear();
    auto& pn = s.prop[static_cast<std::size_t>(p)];
    if (pn.alive) output(s, p, pn.p->on_disconnected(NodeId(static_cast<std::uint64_t>(a + 1))));
    auto& an = s.acc[static_cast<std::size_t>(a)];
    if (an.up && an.acc) execute(s, a, an.acc->on_disconnected(c.id));
  }

  // ------------------------------------------------------------ proposers
  void output(State& s, int p, core::ProposerOutput out) {
    auto& pn = s.prop[static_cast<std::size_t>(p)];
    const Proposer& pr = *pn.p;
    if (out.elected_now) {
      auto it = s.elected.find(pr.term());
      if (it != s.elected.end() && it->second != p)
        fail(s, kS1ElectionSafety, fmt::format("term {} elected twice", pr.term()));
      s.elected[pr.term()] = p;
      s.terms[pr.term()].start = pr.term_start_lsn();
    }
    if (pr.commit_lsn() != pn.last_commit) on_commit(s, p);
    for (auto& [to, msg] : out.sends) {
      int a = static_cast<int>(to.value()) - 1;
      auto& c = s.conn[static_cast<std::size_t>(p)][static_cast<std::size_t>(a)];
      if (c.open) c.q[0].push_back(to_wire(msg));
    }
    if (out.superseded_by) {
      pn.alive = false;
      for (int a = 0; a < kA; ++a) {
        auto& c = s.conn[static_cast<std::size_t>(p)][static_cast<std::size_t>(a)];
        if (!c.open) continue;
        c.open = false;
        c.q[0].clear();
        c.q[1].clear();
        auto& an = s.acc[static_cast<std::size_t>(a)];
        if (an.up && an.acc) execute(s, a, an.acc->on_disconnected(c.id));
      }
      pn.p.reset();
    }
  }

  bool history_bytes(const State& s, const TermHistory& h, Lsn to, std::vector<std::uint8_t>& out) {
    out.clear();
    const auto& e = h.entries();
    Lsn pos = ts;
    for (std::size_t i = 0; i < e.size() && pos < to; ++i) {
      Lsn seg_end = i + 1 < e.size() ? e[i + 1].lsn : Lsn(~std::uint64_t{0});
      if (seg_end <= pos) continue;
      auto it = s.terms.find(e[i].term);
      if (it == s.terms.end() || e[i].lsn > pos) return false;
      Lsn stop = std::min(seg_end, to);
      const TermBytes& tb = it->second;
      if (pos < tb.start || stop > tb.start + tb.bytes.size()) return false;
      auto b = tb.bytes.begin() + static_cast<std::ptrdiff_t>(pos - tb.start);
      out.insert(out.end(), b, b + static_cast<std::ptrdiff_t>(stop - pos));
      pos = stop;
    }
    return pos >= to;
  }

  void on_commit(State& s, int p) {
    auto& pn = s.prop[static_cast<std::size_t>(p)];
    const Proposer& pr = *pn.p;
    Lsn l = pr.commit_lsn();
    if (l < pn.last_commit) {
      fail(s, kS13CommitMonotone, fmt::format("p{} commit_lsn {} -> {}", p, pn.last_commit, l));
      return;
    }
    pn.last_commit = l;
    if (l <= ts) return;
    std::vector<std::uint8_t> bytes;
    if (!history_bytes(s, pr.term_history(), l, bytes)) {
      fail(s, kS7CommittedImmutable, fmt::format("p{} commits {} beyond what its terms wrote", p, l));
      return;
    }
    std::size_t common = std::min(bytes.size(), s.committed.size());
    if (std::memcmp(bytes.data(), s.committed.data(), common) != 0) {
      fail(s, kS7CommittedImmutable, fmt::format("p{} commits {}: bytes differ from C", p, l));
      return;
    }
    if (bytes.size() > s.committed.size()) s.committed = bytes;
  }

  // ------------------------------------------------------------ acceptors
  void execute(State& s, int a, core::Actions actions) {
    auto& an = s.acc[static_cast<std::size_t>(a)];
    for (auto& action : actions) {
      if (violation || !an.up) return;
      if (auto* x = std::get_if<core::PersistControl>(&action)) {
        an.disk.store_control(x->state);
      } else if (auto* w = std::get_if<core::WriteWal>(&action)) {
        if (w->begin != an.disk.written_end()) {
          fail(s, kS18CoreSelfCheck, fmt::format("a{} WriteWal at {} but written end {}", a,
                                                 w->begin, an.disk.written_end()));
          return;
        }
        an.disk.write(w->begin, w->bytes);
      } else if (std::holds_alternative<core::SyncWal>(action)) {
        an.disk.sync();
      } else if (auto* t = std::get_if<core::TruncateWal>(&action)) {
        std::vector<std::uint8_t> fill;
        if (t->at > an.disk.written_end()) fill = page_prefix(walp, t->at);
        an.disk.truncate(t->at, fill);
      } else if (auto* r = std::get_if<core::ServeRead>(&action)) {
        std::vector<Lsn> ends;
        Lsn end = scan_records(walp, an.disk.content(), base, r->from, r->to_lsn, &ends);
        if (end == r->from) {
          ends.clear();
          scan_records(walp, an.disk.content(), base, r->from, an.disk.durable_end(), &ends);
          if (!ends.empty()) end = ends.front();
        }
        auto bytes = an.disk.content_range(r->from, end);
        send(s, a, r->to,
             core::ReadWalResponse{r->term, r->from,
                                   std::vector<std::uint8_t>(bytes.begin(), bytes.end())});
      } else if (auto* m = std::get_if<core::Send>(&action)) {
        const auto& ctl = an.disk.control();
        if (const auto* v = std::get_if<core::VoteResponse>(&m->msg); v && v->vote_given) {
          if (!ctl || ctl->term < v->term)
            fail(s, kS3VoteDurable, fmt::format("a{} grants term {} before it is durable", a, v->term));
        }
        if (const auto* ar = std::get_if<core::AppendResponse>(&m->msg)) {
          if (ar->flush_lsn > an.disk.durable_end())
            fail(s, kS5AckDurable, fmt::format("a{} acks {} with {} durable", a, ar->flush_lsn,
                                               an.disk.durable_end()));
        }
        send(s, a, m->to, m->msg);
      }
    }
  }

  void send(State& s, int a, core::ConnId to, const core::AcceptorMessage& m) {
    for (int p = 0; p < kP; ++p) {
      auto& c = s.conn[static_cast<std::size_t>(p)][static_cast<std::size_t>(a)];
      if (c.open && c.id == to) c.q[1].push_back(to_wire(m));
    }
  }

  void deliver(State& s, int p, int a, int dir) {
    auto& c = s.conn[static_cast<std::size_t>(p)][static_cast<std::size_t>(a)];
    Wire w = std::move(c.q[dir].front());
    c.q[dir].pop_front();
    std::string err;
    if (dir == 0) {
      core::ProposerMessage m;
      if (!from_wire(w, m, err)) {
        fail(s, kS19Codec, err);
        return;
      }
      auto& an = s.acc[static_cast<std::size_t>(a)];
      if (!an.acc) {
        const auto* g = std::get_if<core::ProposerGreeting>(&m);
        if (!g) return;
        auto cs = Acceptor::initial(*g);
        an.disk.store_control(cs);
        an.acc.emplace(NodeId(static_cast<std::uint64_t>(a + 1)), cs, Lsn{});
      }
      execute(s, a, an.acc->on_message(c.id, m));
    } else {
      core::AcceptorMessage m;
      if (!from_wire(w, m, err)) {
        fail(s, kS19Codec, err);
        return;
      }
      auto& pn = s.prop[static_cast<std::size_t>(p)];
      if (pn.alive) output(s, p, pn.p->on_message(NodeId(static_cast<std::uint64_t>(a + 1)), m));
    }
  }

  void crash(State& s, int a) {
    auto& an = s.acc[static_cast<std::size_t>(a)];
    an.up = false;
    an.acc.reset();
    Prng none(0);
    an.disk.crash(none, 0.0);  // lose every unsynced byte
    for (int p = 0; p < kP; ++p) {
      auto& c = s.conn[static_cast<std::size_t>(p)][static_cast<std::size_t>(a)];
      if (!c.open) continue;
      c.open = false;
      c.q[0].clear();
      c.q[1].clear();
      auto& pn = s.prop[static_cast<std::size_t>(p)];
      if (pn.alive) output(s, p, pn.p->on_disconnected(NodeId(static_cast<std::uint64_t>(a + 1))));
    }
  }

  void restart(State& s, int a) {
    auto& an = s.acc[static_cast<std::size_t>(a)];
    an.up = true;
    const auto& ctl = an.disk.control();
    if (ctl) {
      Lsn wal_end;
      Lsn from = ctl->commit_lsn.is_valid() ? ctl->commit_lsn : ctl->timeline_start_lsn;
      if (!an.disk.empty() && from.is_valid()) {
        wal_end = scan_records(walp, an.disk.content(), base, from, Lsn(~std::uint64_t{0}), nullptr);
        if (wal_end != an.disk.written_end()) an.disk.truncate(wal_end);
      } else if (!an.disk.empty()) {
        an.disk.truncate(base);
      }
      an.acc.emplace(NodeId(static_cast<std::uint64_t>(a + 1)), *ctl, wal_end);
    }
    for (int p = 0; p < kP; ++p) connect(s, p, a);
  }

  void propose(State& s, int p) {
    auto& pn = s.prop[static_cast<std::size_t>(p)];
    Proposer& pr = *pn.p;
    Term t = pr.term();
    TermBytes& tb = s.terms[t];
    Lsn start = pr.end_lsn();
    // xl_prev: the start of the record that ends where this one begins.
    Lsn prev;
    if (!tb.recs.empty()) {
      prev = tb.recs.back().start;
    } else if (start != ts) {
      auto owner = pr.term_history().term_at(start - 1);
      auto it = owner ? s.terms.find(*owner) : s.terms.end();
      if (it != s.terms.end())
        for (const auto& r : it->second.recs)
          if (r.end == start) prev = r.start;
    }
    Prng prng(t.value() * 1000 + tb.recs.size());
    WalGen gen(walp, start, prev);
    std::vector<GeneratedRecord> recs;
    auto bytes = gen.batch(prng, 1, recs);
    if (!pr.can_propose(bytes.size())) return;
    tb.bytes.insert(tb.bytes.end(), bytes.begin(), bytes.end());
    tb.recs.push_back(recs.back());
    output(s, p, pr.propose(start, std::move(bytes)));
  }

  // ------------------------------------------------------------ checks
  void check(State& s) {
    for (int a = 0; a < kA && !violation; ++a) {
      const auto& an = s.acc[static_cast<std::size_t>(a)];
      if (an.up && an.acc) an.acc->check_invariants();
    }
    for (int p = 0; p < kP; ++p) {
      const auto& pn = s.prop[static_cast<std::size_t>(p)];
      if (pn.alive) pn.p->check_invariants();
    }
    if (violation || s.committed.empty()) return;
    int holders = 0;
    for (const auto& an : s.acc) {
      auto d = an.disk.durable();
      std::uint64_t off = ts - base;
      if (d.size() >= off + s.committed.size() &&
          std::memcmp(d.data() + off, s.committed.data(), s.committed.size()) == 0)
        ++holders;
    }
    if (holders < 2)
      fail(s, kS8QuorumRetention, fmt::format("committed end {} durable on {} acceptors",
                                              ts + s.committed.size(), holders));
  }

  // ------------------------------------------------------------ hashing
  static void mix(std::uint64_t& h, std::uint64_t v) {
    h ^= v + 0x9E3779B97F4A7C15ull + (h << 6) + (h >> 2);
  }
  static void mix_bytes(std::uint64_t& h, std::span<const std::uint8_t> b) {
    std::uint64_t x = 1469598103934665603ull;
    for (auto c : b) x = (x ^ c) * 1099511628211ull;
    mix(h, x);
    mix(h, b.size());
  }
  static void mix_history(std::uint64_t& h, const TermHistory& th) {
    for (const auto& e : th.entries()) {
      mix(h, e.term.value());
      mix(h, e.lsn.value());
    }
    mix(h, th.size());
  }
  std::uint64_t hash(const State& s) const {
    std::uint64_t h = 0;
    for (const auto& an : s.acc) {
      mix(h, an.up);
      mix_bytes(h, an.disk.content());
      mix(h, an.disk.durable_end().value());
      if (an.disk.control()) {
        mix(h, an.disk.control()->term.value());
        mix(h, an.disk.control()->commit_lsn.value());
        mix_history(h, an.disk.control()->term_history);
      }
      if (an.acc) {
        mix(h, an.acc->term().value());
        mix(h, an.acc->flush_lsn().value());
        mix(h, an.acc->write_lsn().value());
        mix(h, an.acc->commit_lsn().value());
        mix(h, an.acc->elected_conn().value_or(0));
        mix_history(h, an.acc->term_history());
      }
    }
    for (const auto& pn : s.prop) {
      mix(h, pn.alive);
      if (!pn.alive) continue;
      const Proposer& pr = *pn.p;
      mix(h, static_cast<std::uint64_t>(pr.state()));
      mix(h, pr.term().value());
      mix(h, pr.commit_lsn().value());
      mix(h, pr.end_lsn().value());
      mix(h, pr.term_start_lsn().value());
      mix(h, pr.buffer_start_lsn().value());
      mix(h, pr.donor() ? pr.donor()->value() : 0);
      mix_history(h, pr.term_history());
      for (int a = 0; a < kA; ++a) mix(h, pr.acked_flush_lsn(NodeId(static_cast<std::uint64_t>(a + 1))).value());
    }
    for (const auto& row : s.conn)
      for (const auto& c : row) {
        mix(h, c.open ? c.id : 0);
        for (int d = 0; d < 2; ++d) {
          mix(h, c.q[d].size());
          for (const auto& w : c.q[d]) mix_bytes(h, w);
        }
      }
    mix(h, static_cast<std::uint64_t>(s.ticks_left));
    mix(h, static_cast<std::uint64_t>(s.crashes_left));
    mix(h, static_cast<std::uint64_t>(s.breaks_left));
    mix(h, static_cast<std::uint64_t>(s.records_left));
    mix(h, s.second_started);
    mix_bytes(h, s.committed);
    return h;
  }

  // ------------------------------------------------------------ search
  struct Stats {
    std::uint64_t states = 0;
    std::uint64_t transitions = 0;
    std::uint64_t revisits = 0;
    int max_depth = 0;
    bool truncated = false;
  };

  template <typename F>
  void successor(const State& s, std::vector<State>& out, std::string label, F&& f) {
    State n = s;
    n.path.push_back(std::move(label));
    f(n);
    if (!violation) check(n);
    if (violation && violation_path.empty()) violation_path = n.path;
    out.push_back(std::move(n));
  }

  void successors(const State& s, std::vector<State>& out) {
    for (int p = 0; p < kP; ++p)
      for (int a = 0; a < kA; ++a)
        for (int d = 0; d < 2; ++d) {
          const auto& c = s.conn[static_cast<std::size_t>(p)][static_cast<std::size_t>(a)];
          if (c.open && !c.q[d].empty())
            successor(s, out, fmt::format("deliver p{}{}a{}", p, d == 0 ? "->" : "<-", a),
                      [&](State& n) { deliver(n, p, a, d); });
        }
    for (int a = 0; a < kA; ++a) {
      const auto& an = s.acc[static_cast<std::size_t>(a)];
      if (an.up && an.acc && an.acc->write_lsn() > an.acc->flush_lsn())
        successor(s, out, fmt::format("flush a{}", a), [&](State& n) {
          auto& x = n.acc[static_cast<std::size_t>(a)];
          execute(n, a, x.acc->flush_wal());
        });
      if (an.up && s.crashes_left > 0)
        successor(s, out, fmt::format("crash a{}", a), [&](State& n) {
          --n.crashes_left;
          crash(n, a);
        });
      if (!an.up)
        successor(s, out, fmt::format("restart a{}", a), [&](State& n) { restart(n, a); });
    }
    for (int p = 0; p < kP; ++p) {
      const auto& pn = s.prop[static_cast<std::size_t>(p)];
      if (!pn.alive) continue;
      if (s.ticks_left > 0)
        successor(s, out, fmt::format("tick p{}", p), [&](State& n) {
          --n.ticks_left;
          auto& x = n.prop[static_cast<std::size_t>(p)];
          output(n, p, x.p->tick());
        });
      if (s.records_left > 0 && pn.p->state() == Proposer::State::kElected)
        successor(s, out, fmt::format("propose p{}", p), [&](State& n) {
          --n.records_left;
          propose(n, p);
        });
      for (int a = 0; a < kA && s.breaks_left > 0; ++a)
        if (s.conn[static_cast<std::size_t>(p)][static_cast<std::size_t>(a)].open)
          successor(s, out, fmt::format("break p{}-a{} and reconnect", p, a), [&](State& n) {
            --n.breaks_left;
            close(n, p, a);
            connect(n, p, a);
          });
    }
    if (!s.second_started)
      successor(s, out, "start p1", [&](State& n) {
        n.second_started = true;
        start(n, 1);
      });
  }

  Stats run(std::uint64_t max_states, int max_depth, double max_seconds) {
    Stats st;
    auto t0 = std::chrono::steady_clock::now();
    std::unordered_set<std::uint64_t> seen;
    State init = initial();
    check(init);
    std::vector<State> stack;
    stack.push_back(std::move(init));
    seen.insert(hash(stack.back()));
    std::vector<State> next;
    for (std::uint64_t guard = 0; guard < max_states * 64 && !stack.empty(); ++guard) {
      State s = std::move(stack.back());
      stack.pop_back();
      ++st.states;
      int depth = static_cast<int>(s.path.size());
      st.max_depth = std::max(st.max_depth, depth);
      if (st.states >= max_states) {
        st.truncated = true;
        break;
      }
      if ((st.states & 1023) == 0 &&
          std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count() > max_seconds) {
        st.truncated = true;
        break;
      }
      if (depth >= max_depth) {
        st.truncated = true;
        continue;
      }
      next.clear();
      successors(s, next);
      st.transitions += next.size();
      if (violation) break;
      for (auto& n : next) {
        if (seen.insert(hash(n)).second) stack.push_back(std::move(n));
        else ++st.revisits;
      }
    }
    return st;
  }
};

}  // namespace
}  // namespace wq::sim

int main(int argc, char** argv) {
  std::uint64_t max_states = 400'000;
  int max_depth = 60;
  double max_seconds = 100;
  bool expect_violation = false;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto num = [&](const char* what) -> std::string {
      if (i + 1 >= argc) {
        fmt::print(stderr, "walquorum-sim-explore: {} needs a value\n", what);
        std::exit(2);
      }
      return argv[++i];
    };
    if (a == "--max-states") max_states = std::stoull(num("--max-states"));
    else if (a == "--max-depth") max_depth = std::stoi(num("--max-depth"));
    else if (a == "--max-seconds") max_seconds = std::stod(num("--max-seconds"));
    else if (a == "--expect-violation") expect_violation = true;
    else {
      fmt::print(stderr, "walquorum-sim-explore: unknown argument '{}'; expected --max-states N, "
                         "--max-depth D, --max-seconds S, --expect-violation\n", a);
      return 2;
    }
  }
  wq::sim::Explorer ex;
  auto t0 = std::chrono::steady_clock::now();
  auto st = ex.run(max_states, max_depth, max_seconds);
  double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  fmt::print("explored {} states ({} transitions, {} revisits pruned), max depth {}, {:.1f}s, {}\n",
             st.states, st.transitions, st.revisits, st.max_depth, secs,
             ex.violation ? "stopped at the first violation"
             : st.truncated ? "bounded (depth/state/time limit reached)" : "complete");
  if (ex.violation) {
    fmt::print("VIOLATED S{} ({}): {}\n  path ({} steps):\n", ex.violation->invariant,
               wq::sim::invariant_name(ex.violation->invariant), ex.violation->what,
               ex.violation_path.size());
    for (const auto& step : ex.violation_path) fmt::print("    {}\n", step);
    return expect_violation ? 0 : 1;
  }
  if (expect_violation) {
    fmt::print("NO VIOLATION FOUND: the canary was not caught\n");
    return 1;
  }
  return 0;
}
