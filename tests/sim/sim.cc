// The simulator's event loop, network, processes, workload and invariant checks.
// See sim.h and README.md. Only Sim::Impl touches core objects; every random
// choice is drawn from impl.prng in event order, so a seed replays exactly.
#include "sim.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <deque>

#include <fmt/format.h>

namespace wq::sim {

using core::Acceptor;
using core::NodeId;
using core::Proposer;
using core::Term;
using core::TermHistory;

const char* invariant_name(int n) {
  switch (n) {
    case kS1ElectionSafety: return "S1 election safety (one proposer elected per term)";
    case kS2VoteUnique: return "S2 one vote per acceptor per term";
    case kS3VoteDurable: return "S3 vote sent only after the term is durable";
    case kS4TermMonotone: return "S4 acceptor term never decreases";
    case kS5AckDurable: return "S5 acknowledged flush_lsn is durable";
    case kS6RecordAligned: return "S6 flush/commit LSNs are record boundaries";
    case kS7CommittedImmutable: return "S7 committed bytes never change";
    case kS8QuorumRetention: return "S8 committed bytes durable on a quorum";
    case kS9LeaderCompleteness: return "S9 leader completeness";
    case kS10LogMatching: return "S10 WAL bytes agree with the term history (log matching)";
    case kS11HistoryAgreement: return "S11 term histories agree";
    case kS12TruncateFloor: return "S12 no truncation below commit_lsn";
    case kS13CommitMonotone: return "S13 commit_lsn never decreases";
    case kS14CommitBounded: return "S14 commit_lsn bounded (flush, end, C, term start)";
    case kS15Learners: return "S15 learners see only committed WAL";
    case kS16DonorReads: return "S16 donor reads serve the right bytes in the right term";
    case kS17AppendAfterElected: return "S17 appends acknowledged only after ProposerElected is durable";
    case kS18CoreSelfCheck: return "S18 core check_invariants()";
    case kS19Codec: return "S19 codec round trip";
    case kS20Liveness: return "S20 liveness after healing";
  }
  return "unknown invariant";
}

const char* fault_kind_name(FaultKind k) {
  switch (k) {
    case FaultKind::kDrop: return "drop";
    case FaultKind::kConnReset: return "conn-reset";
    case FaultKind::kPartition: return "partition";
    case FaultKind::kOneWayPartition: return "one-way-partition";
    case FaultKind::kAcceptorCrash: return "acceptor-crash";
    case FaultKind::kCrashMidActions: return "crash-mid-actions";
    case FaultKind::kTornWrite: return "torn-write";
    case FaultKind::kProposerRestart: return "proposer-restart";
    case FaultKind::kTwoProposers: return "two-proposers";
    case FaultKind::kDuplicate: return "duplicate";
    case FaultKind::kReorder: return "reorder-in-conn";
    case FaultKind::kPeerFetch: return "peer-fetch";
    case FaultKind::kPeerTruncate: return "peer-truncate";
    case FaultKind::kCount: break;
  }
  return "?";
}

FaultMix FaultMix::none() {
  FaultMix m;
  m.learner_per_s = 0;
  return m;
}

FaultMix FaultMix::draw(Prng& prng, bool datagram) {
  // Swarm testing: each seed enables a random subset of fault kinds at random rates.
  FaultMix m;
  auto on = [&](double p) { return prng.chance(p); };
  m.drop = on(0.5) ? prng.unit() * 0.05 : 0;
  m.delay_min_ms = static_cast<std::uint32_t>(prng.range(0, 3));
  m.delay_max_ms = m.delay_min_ms + static_cast<std::uint32_t>(prng.range(1, 40));
  m.delay_tail = on(0.5) ? prng.unit() * 0.05 : 0;
  m.conn_reset_per_s = on(0.5) ? prng.unit() * 2 : 0;
  m.partition_per_s = on(0.5) ? prng.unit() * 1.5 : 0;
  m.one_way = prng.unit();
  m.partition_ms_max = static_cast<std::uint32_t>(prng.range(100, 4000));
  m.acceptor_crash_per_s = on(0.6) ? prng.unit() * 1.5 : 0;
  m.crash_mid_actions = on(0.5) ? prng.unit() * 0.03 : 0;
  m.keep_unsynced = prng.unit();
  m.restart_ms_max = static_cast<std::uint32_t>(prng.range(50, 3000));
  m.proposer_restart_per_s = on(0.6) ? prng.unit() * 0.6 : 0;
  m.keep_old_proposer = prng.unit();
  m.reuse_proposer_id = prng.unit();
  m.flush_delay_max_ms = static_cast<std::uint32_t>(prng.range(0, 30));
  m.propose_every_ms = static_cast<std::uint32_t>(prng.range(2, 60));
  m.learner_per_s = prng.unit() * 20;
  if (datagram) m.dup = prng.unit() * 0.03;
  m.peer_fetch_per_s = on(0.7) ? prng.unit() * 8 : 0;
  return m;
}

std::string FaultMix::to_string() const {
  return fmt::format(
      "drop={:.3f} delay={}..{}ms tail={:.3f} reset/s={:.2f} partition/s={:.2f} one-way={:.2f} "
      "crash/s={:.2f} crash-mid={:.3f} keep-unsynced={:.2f} proposer-restart/s={:.2f} "
      "keep-old={:.2f} flush<={}ms propose-every={}ms peer-fetch/s={:.2f}",
      drop, delay_min_ms, delay_max_ms, delay_tail, conn_reset_per_s, partition_per_s, one_way,
      acceptor_crash_per_s, crash_mid_actions, keep_unsynced, proposer_restart_per_s,
      keep_old_proposer, flush_delay_max_ms, propose_every_ms, peer_fetch_per_s);
}

namespace {

constexpr std::uint64_t kTickMs = 10;
constexpr int kTraceRing = 256;

enum class Ev : std::uint8_t {
  kToAcceptor,    // deliver a proposer message (x = conn)
  kToProposer,    // deliver an acceptor message
  kConnBreak,     // the proposer's end notices the connection is gone
  kAcceptorClose, // the acceptor's end reads EOF (after the bytes still in flight)
  kConnect,       // proposer slot x tries to connect to acceptor y
  kTick,          // proposer slot x
  kPropose,       // proposer slot x proposes a batch
  kFlush,         // acceptor x group commit
  kRestart,       // acceptor x comes back
  kFault,         // inject the next random fault
  kLearn,         // a learner reads from a random acceptor
  kPeerFetch,     // acceptor x asks a random peer for committed WAL (y = 1: continuation)
  kPeerReply,     // the peer's reply reaches acceptor x (gen = incarnation)
  kStartProposer, // a new compute starts
  kUnblock,       // a partition heals (x = partition id)
  kHeal,          // end of the fault phase
};

struct Event {
  std::uint64_t t = 0;
  std::uint64_t seq = 0;
  Ev kind = Ev::kTick;
  int x = 0;
  int y = 0;
  std::uint64_t gen = 0;  // connection id or proposer instance, to ignore stale events
  std::optional<Wire> wire;
};
struct Later {
  bool operator()(const Event& a, const Event& b) const {
    return a.t != b.t ? a.t > b.t : a.seq > b.seq;
  }
};

struct TraceRec {
  std::uint64_t t = 0;
  std::string text;
};

struct Conn {
  core::ConnId id = 0;
  int p = 0;
  int a = 0;
  std::uint64_t a_incarnation = 0;
  bool open = true;    // the proposer's end
  bool a_open = true;  // the acceptor's end: it may still read bytes sent before the proposer closed
  bool dead[2] = {false, false};
  bool break_scheduled = false;
  std::uint64_t last_t[2] = {0, 0};
};

struct AcceptorNode {
  NodeId id;
  bool up = true;
  std::uint64_t incarnation = 0;
  std::optional<Acceptor> acc;
  SimDisk disk{Lsn{}};
  bool flush_scheduled = false;
  std::function<bool(const core::Action&)> crash_before;
  // Oracle watermarks (see check_acceptor): bytes below these were verified.
  Lsn hist_ok;              // written WAL agrees with the history up to here (S10)
  Lsn c_ok;                 // durable WAL equals C up to here (S8)
  std::vector<Lsn> bounds;  // record ends decoded on this disk, ascending (S6)
  Term max_term_sent;
  Term persisted_term;
  Lsn persisted_commit;
  Lsn mem_commit;  // between restarts
  // While a peer reply's actions run: the commit_lsn before the handler (the
  // handler may raise it after a TruncateWal it issued).
  std::optional<Lsn> truncate_floor;
};

struct ProposerNode {
  NodeId id;
  std::uint64_t instance = 0;
  bool alive = false;
  std::optional<Proposer> p;
  std::vector<core::ConnId> link;  // per acceptor; 0 = none
  Lsn last_commit;
  Term last_term;
  bool elected = false;
  std::optional<WalGen> gen;
  Term gen_term;
};

struct TermRecord {
  std::uint64_t instance = 0;
  Lsn start;
  TermHistory history;  // the elected history (ends with (term, start))
  std::vector<std::uint8_t> bytes;  // WAL proposed in this term from `start`
  std::map<Lsn, Lsn> rec_start_by_end;
};

struct Learner {
  Lsn pos;
};

}  // namespace

struct Sim::Impl {
  SimConfig cfg;
  Prng prng;
  FaultMix mix;
  WalParams walp;
  Lsn base;     // first segment start
  Lsn ts;       // timeline start LSN
  core::TimelineKey timeline;
  std::size_t quorum = 0;
  std::uint64_t now = 0;
  std::uint64_t seq = 0;
  std::uint64_t steps = 0;
  std::vector<Event> heap;
  std::vector<AcceptorNode> acc;
  std::vector<ProposerNode> prop;
  std::map<core::ConnId, Conn> conns;
  core::ConnId next_conn = 1;
  std::uint64_t next_instance = 1;
  std::uint64_t next_proposer_id = 100;
  // Partitions: (proposer slot or -1, acceptor, dir) → count of active blocks.
  std::map<std::tuple<int, int, int>, int> blocks;
  std::map<int, std::tuple<int, int, int>> partitions;
  int next_partition = 1;
  bool fault_phase = true;
  bool liveness_phase = false;
  std::uint64_t liveness_deadline = 0;
  Lsn heal_end;  // WAL end wanted by the liveness check
  std::uint64_t wal_bytes = 0;
  // Oracle.
  std::map<Term, TermRecord> terms;
  std::vector<std::uint8_t> committed;  // C: bytes [ts, ts + size)
  std::map<Term, Lsn> commit_by_term;   // highest commit_lsn announced in each term
  std::map<std::pair<int, Term>, core::ConnId> votes;  // (acceptor, term) → conn granted
  std::vector<Learner> learners;
  // Peer fetches in flight: ConnId (above kPeerConnBase) → (fetching acceptor, its incarnation).
  static constexpr core::ConnId kPeerConnBase = core::ConnId{1} << 40;
  std::map<core::ConnId, std::pair<int, std::uint64_t>> peer_fetches;
  core::ConnId next_peer_conn = kPeerConnBase;
  std::optional<Violation> violation;
  SimResult res;
  std::deque<TraceRec> ring;

  explicit Impl(SimConfig c) : cfg(std::move(c)), prng(cfg.seed) {}

  // ---------------------------------------------------------------- helpers
  Lsn c_end() const { return ts + committed.size(); }

  void fail(int inv, std::string what) {
    if (violation) return;
    violation = Violation{inv, std::move(what)};
    trace("VIOLATION S{}: {}", inv, violation->what);
  }

  template <typename... Args>
  void trace(fmt::format_string<Args...> f, Args&&... args) {
    TraceRec r{now, fmt::format(f, std::forward<Args>(args)...)};
    if (cfg.trace) fmt::print("{:>8}ms  {}\n", r.t, r.text);
    ring.push_back(std::move(r));
    if (ring.size() > kTraceRing) ring.pop_front();
  }
  // Cheap trace for hot paths: formats only when someone may read it.
  bool tracing() const { return true; }

  void push(Event e) {
    e.seq = seq++;
    heap.push_back(std::move(e));
    std::push_heap(heap.begin(), heap.end(), Later{});
  }
  void at(std::uint64_t t, Ev kind, int x = 0, int y = 0, std::uint64_t gen = 0) {
    Event e;
    e.t = t;
    e.kind = kind;
    e.x = x;
    e.y = y;
    e.gen = gen;
    push(std::move(e));
  }
  std::uint64_t exp_ms(double per_s) {
    // Exponential inter-arrival with the given rate, as integer ms (≥ 1).
    double u = prng.unit();
    if (u < 1e-12) u = 1e-12;
    double ms = -std::log(u) * 1000.0 / per_s;
    if (ms > 1e9) ms = 1e9;
    return 1 + static_cast<std::uint64_t>(ms);
  }
  void count(FaultKind k) { ++res.faults[static_cast<int>(k)]; }

  // ---------------------------------------------------------------- setup
  void setup() {
    mix = cfg.mix ? *cfg.mix : (cfg.swarm ? FaultMix::draw(prng, cfg.datagram) : FaultMix::none());
    res.seed = cfg.seed;
    res.mix = mix.to_string();
    walp.seg_size = 1u << 20;
    base = Lsn(walp.seg_size);  // segment 1
    ts = timeline_start_for(walp, 1);
    timeline.tenant.bytes[0] = 0x11;
    timeline.timeline.bytes[0] = 0x22;
    quorum = static_cast<std::size_t>(cfg.acceptors / 2 + 1);
    for (int i = 0; i < cfg.acceptors; ++i) {
      AcceptorNode n;
      n.id = NodeId(static_cast<std::uint64_t>(i + 1));
      n.disk = SimDisk(base);
      n.hist_ok = base;
      n.c_ok = base;
      acc.push_back(std::move(n));
    }
    learners.resize(2, Learner{ts});
    trace("seed {} acceptors {} mix: {}", cfg.seed, cfg.acceptors, res.mix);
  }

  // ---------------------------------------------------------------- network
  bool blocked(int p, int a, int dir) const {
    return blocks.count({p, a, dir}) > 0 || blocks.count({-1, a, dir}) > 0;
  }
  std::uint64_t delay() {
    std::uint64_t d = prng.range(mix.delay_min_ms, mix.delay_max_ms);
    if (mix.delay_tail > 0 && prng.chance(mix.delay_tail)) d *= prng.range(10, 50);
    return d;
  }
  void kill_conn(Conn& c, std::uint64_t after_ms) {
    c.dead[0] = c.dead[1] = true;
    if (!c.break_scheduled) {
      c.break_scheduled = true;
      at(now + after_ms, Ev::kConnBreak, 0, 0, c.id);
    }
  }
  // dir 0: proposer → acceptor, 1: acceptor → proposer.
  void send(core::ConnId cid, int dir, Wire w) {
    auto it = conns.find(cid);
    if (it == conns.end()) return;
    Conn& c = it->second;
    if (!c.open || (dir == 1 && !c.a_open)) return;
    if (c.dead[dir]) return;
    if (blocked(c.p, c.a, dir) || (fault_phase && mix.drop > 0 && prng.chance(mix.drop))) {
      // TCP: a lost segment means nothing after it arrives either; the ends notice later.
      count(FaultKind::kDrop);
      trace("drop on conn {} dir {}", cid, dir);
      c.dead[dir] = true;
      if (!c.break_scheduled) {
        c.break_scheduled = true;
        at(now + prng.range(50, 1500), Ev::kConnBreak, 0, 0, c.id);
      }
      return;
    }
    std::uint64_t t = now + delay();
    if (cfg.datagram && fault_phase && prng.chance(mix.dup)) {
      count(FaultKind::kReorder);  // datagram mode: may overtake earlier messages
    } else {
      t = std::max(t, c.last_t[dir]);  // FIFO per direction, as TCP
    }
    c.last_t[dir] = std::max(c.last_t[dir], t);
    Event e;
    e.t = t;
    e.kind = dir == 0 ? Ev::kToAcceptor : Ev::kToProposer;
    e.gen = cid;
    e.wire = std::move(w);
    if (mix.dup > 0 && fault_phase && prng.chance(mix.dup)) {
      count(FaultKind::kDuplicate);
      Event copy = e;
      push(std::move(copy));
    }
    push(std::move(e));
  }

  void on_conn_break(core::ConnId cid) {
    auto it = conns.find(cid);
    if (it == conns.end() || !it->second.open) return;
    Conn& c = it->second;
    c.open = false;
    const int p = c.p;
    const int a = c.a;
    trace("conn {} (p{} a{}) closed at the proposer", cid, p, a);
    // The acceptor's end reads what was sent before the close, then EOF: a new
    // connection of the same proposer can overtake the old one's last messages.
    if (c.a_open) {
      if (c.dead[0] || c.last_t[0] <= now) {
        close_acceptor_end(cid);
      } else {
        at(c.last_t[0], Ev::kAcceptorClose, 0, 0, cid);
      }
    } else {
      conns.erase(cid);
    }
    ProposerNode& pn = prop[static_cast<std::size_t>(p)];
    if (pn.alive && pn.link[static_cast<std::size_t>(a)] == cid) {
      pn.link[static_cast<std::size_t>(a)] = 0;
      handle_proposer_output(p, pn.p->on_disconnected(acc[static_cast<std::size_t>(a)].id));
      schedule_connect(p, a);
    }
  }

  void close_acceptor_end(core::ConnId cid) {
    auto it = conns.find(cid);
    if (it == conns.end() || !it->second.a_open) return;
    Conn& c = it->second;
    c.a_open = false;
    const int a = c.a;
    const std::uint64_t inc = c.a_incarnation;
    if (!c.open) conns.erase(it);
    AcceptorNode& an = acc[static_cast<std::size_t>(a)];
    if (an.up && an.acc && an.incarnation == inc) {
      trace("conn {} closed at a{}", cid, a);
      execute(a, an.acc->on_disconnected(cid));
    }
  }

  void schedule_connect(int p, int a) {
    if (violation) return;
    at(now + prng.range(5, 200), Ev::kConnect, p, a, prop[static_cast<std::size_t>(p)].instance);
  }

  void on_connect(int p, int a, std::uint64_t instance) {
    ProposerNode& pn = prop[static_cast<std::size_t>(p)];
    if (!pn.alive || pn.instance != instance || pn.link[static_cast<std::size_t>(a)] != 0) return;
    AcceptorNode& an = acc[static_cast<std::size_t>(a)];
    if (!an.up || blocked(p, a, 0) || blocked(p, a, 1)) {
      schedule_connect(p, a);
      return;
    }
    Conn c;
    c.id = next_conn++;
    c.p = p;
    c.a = a;
    c.a_incarnation = an.incarnation;
    c.last_t[0] = c.last_t[1] = now;
    conns[c.id] = c;
    pn.link[static_cast<std::size_t>(a)] = c.id;
    trace("p{} connects to a{} as conn {}", p, a, c.id);
    handle_proposer_output(p, pn.p->on_connected(an.id));
  }

  // ---------------------------------------------------------------- acceptors
  int acceptor_index(NodeId id) const {
    for (std::size_t i = 0; i < acc.size(); ++i)
      if (acc[i].id == id) return static_cast<int>(i);
    return -1;
  }

  void deliver_to_acceptor(const Event& e) {
    auto it = conns.find(e.gen);
    if (it == conns.end() || !it->second.a_open || it->second.dead[0]) return;
    Conn& c = it->second;
    AcceptorNode& an = acc[static_cast<std::size_t>(c.a)];
    if (!an.up || an.incarnation != c.a_incarnation) return;
    core::ProposerMessage m;
    std::string err;
    if (!from_wire(*e.wire, m, err)) {
      fail(kS19Codec, fmt::format("acceptor a{} cannot decode a proposer message: {}", c.a, err));
      return;
    }
    trace("a{} <- p{} conn {}: {}", c.a, c.p, c.id, describe(m));
    if (!an.acc) {
      // No timeline yet: it is created by the first greeting (persisted first).
      const auto* g = std::get_if<core::ProposerGreeting>(&m);
      if (!g) return;
      core::ControlState cs = Acceptor::initial(*g);
      persist_control(c.a, cs);
      an.acc.emplace(an.id, cs, Lsn{});
    }
    execute(c.a, an.acc->on_message(c.id, m));
  }

  void schedule_flush(int a) {
    AcceptorNode& an = acc[static_cast<std::size_t>(a)];
    if (!an.up || !an.acc || an.flush_scheduled) return;
    if (an.acc->write_lsn() <= an.acc->flush_lsn()) return;
    an.flush_scheduled = true;
    at(now + prng.range(0, mix.flush_delay_max_ms), Ev::kFlush, a, 0, an.incarnation);
  }

  void persist_control(int a, const core::ControlState& cs) {
    AcceptorNode& an = acc[static_cast<std::size_t>(a)];
    const auto& old = an.disk.control();
    if (cs.term < an.persisted_term)
      fail(kS4TermMonotone, fmt::format("a{} persists term {} below its persisted term {}", a,
                                        cs.term, an.persisted_term));
    if (cs.commit_lsn < an.persisted_commit)
      fail(kS13CommitMonotone, fmt::format("a{} persists commit_lsn {} below persisted {}", a,
                                           cs.commit_lsn, an.persisted_commit));
    if (old && !(old->term_history == cs.term_history)) {
      an.hist_ok = std::min(an.hist_ok, divergence(old->term_history, cs.term_history));
      check_history(a, cs.term_history, "persisted");
    }
    an.persisted_term = cs.term;
    an.persisted_commit = cs.commit_lsn;
    an.disk.store_control(cs);
  }

  // Lowest LSN whose attribution differs between two histories.
  static Lsn divergence(const TermHistory& x, const TermHistory& y) {
    const auto& a = x.entries();
    const auto& b = y.entries();
    std::size_t i = 0;
    while (i < a.size() && i < b.size() && a[i] == b[i]) ++i;
    Lsn d(~std::uint64_t{0});
    if (i < a.size()) d = std::min(d, a[i].lsn);
    if (i < b.size()) d = std::min(d, b[i].lsn);
    return d;
  }

  void execute(int a, core::Actions actions) {
    AcceptorNode& an = acc[static_cast<std::size_t>(a)];
    const std::uint64_t inc = an.incarnation;
    for (auto& action : actions) {
      if (violation) return;
      if (!an.up || an.incarnation != inc) return;
      if (an.crash_before && an.crash_before(action)) {
        an.crash_before = nullptr;
        trace("a{} crashes before an action (scripted)", a);
        crash(a);
        return;
      }
      if (fault_phase && mix.crash_mid_actions > 0 && prng.chance(mix.crash_mid_actions)) {
        count(FaultKind::kCrashMidActions);
        trace("a{} crashes in the middle of its actions", a);
        crash(a);
        return;
      }
      std::visit([&](auto& x) { run_action(a, x); }, action);
    }
    schedule_flush(a);
  }

  void run_action(int a, core::PersistControl& x) {
    trace("a{} persist term {} history {} commit {}", a, x.state.term, x.state.term_history.to_string(),
          x.state.commit_lsn);
    persist_control(a, x.state);
  }
  void run_action(int a, core::WriteWal& x) {
    AcceptorNode& an = acc[static_cast<std::size_t>(a)];
    trace("a{} write [{}, {})", a, x.begin, x.begin + x.bytes.size());
    if (x.begin != an.disk.written_end()) {
      fail(kS10LogMatching, fmt::format("a{} WriteWal at {} but its WAL is written up to {}", a,
                                        x.begin, an.disk.written_end()));
      return;
    }
    an.disk.write(x.begin, x.bytes);
  }
  void run_action(int a, core::SyncWal& x) {
    AcceptorNode& an = acc[static_cast<std::size_t>(a)];
    trace("a{} sync upto {}", a, x.upto);
    an.disk.sync();
  }
  void run_action(int a, core::TruncateWal& x) {
    AcceptorNode& an = acc[static_cast<std::size_t>(a)];
    trace("a{} truncate at {}", a, x.at);
    Lsn floor = std::max(an.truncate_floor ? *an.truncate_floor : an.acc->commit_lsn(),
                         an.persisted_commit);
    if (x.at < floor) {
      fail(kS12TruncateFloor, fmt::format("a{} truncates at {} below its commit_lsn {}", a, x.at,
                                          floor));
      return;
    }
    if (x.at < base) {
      fail(kS12TruncateFloor, fmt::format("a{} truncates at {} below the WAL base {}", a, x.at,
                                          base));
      return;
    }
    std::vector<std::uint8_t> fill;
    if (x.at > an.disk.written_end()) fill = page_prefix(walp, x.at);
    an.disk.truncate(x.at, fill);
    an.hist_ok = std::min(an.hist_ok, x.at);
    an.c_ok = std::min(an.c_ok, x.at);
    while (!an.bounds.empty() && an.bounds.back() > x.at) an.bounds.pop_back();
  }
  void run_action(int a, core::ServeRead& x) {
    AcceptorNode& an = acc[static_cast<std::size_t>(a)];
    trace("a{} serve read [{}, {}] term {} to conn {}", a, x.from, x.to_lsn, x.term, x.to);
    if (x.term != an.acc->term())
      fail(kS16DonorReads, fmt::format("a{} serves a read for term {} in term {}", a, x.term,
                                       an.acc->term()));
    if (x.to_lsn > an.disk.durable_end() || x.from < base) {
      fail(kS16DonorReads, fmt::format("a{} asked to serve [{}, {}] beyond its durable WAL end {}",
                                       a, x.from, x.to_lsn, an.disk.durable_end()));
      return;
    }
    // The highest record boundary ≤ to_lsn (or the first whole record), found by decoding.
    std::vector<Lsn> ends;
    Lsn cap = std::max(x.to_lsn, Lsn{});
    Lsn end = scan_records(walp, an.disk.content(), base, x.from, cap, &ends);
    if (end == x.from) {
      ends.clear();
      end = scan_records(walp, an.disk.content(), base, x.from, an.disk.durable_end(), &ends);
      if (!ends.empty()) end = ends.front();
    }
    // Bound one response (frames are bounded); the rest is asked for again.
    constexpr std::uint64_t kReadBytesMax = 128 * 1024;
    if (end - x.from > kReadBytesMax) {
      Lsn best = ends.empty() ? end : ends.front();
      for (Lsn e : ends)
        if (e - x.from <= kReadBytesMax) best = e;
      end = best;
    }
    auto bytes = an.disk.content_range(x.from, end);
    std::string why;
    if (!matches_history(an.acc->term_history(), x.from, bytes, why))
      fail(kS16DonorReads, fmt::format("a{} serves bytes [{}, {}) that differ from its history: {}",
                                       a, x.from, end, why));
    core::ReadWalResponse r{x.term, x.from, std::vector<std::uint8_t>(bytes.begin(), bytes.end())};
    send_from_acceptor(a, x.to, core::AcceptorMessage(std::move(r)));
  }
  void run_action(int a, core::ServePeerFetch& x) {
    AcceptorNode& an = acc[static_cast<std::size_t>(a)];
    auto it = peer_fetches.find(x.to);
    if (it == peer_fetches.end()) return;
    auto [to, inc] = it->second;
    peer_fetches.erase(it);
    trace("a{} serve peer fetch [{}, {}] commit {} to a{}", a, x.from, x.to_lsn, x.commit_lsn, to);
    // Committed WAL only (I9), held durably by the server.
    if (x.to_lsn > c_end() || x.commit_lsn > c_end()) {
      fail(kS15Learners, fmt::format("a{} serves a peer up to {} (commit {}) beyond committed end {}",
                                     a, x.to_lsn, x.commit_lsn, c_end()));
      return;
    }
    if (x.to_lsn > an.disk.durable_end() || x.from < ts) {
      fail(kS15Learners, fmt::format("a{} serves a peer [{}, {}] outside its durable WAL (end {})",
                                     a, x.from, x.to_lsn, an.disk.durable_end()));
      return;
    }
    // The highest record boundary ≤ to_lsn, as the daemon's reader finds it.
    std::vector<Lsn> ends;
    Lsn end = scan_records(walp, an.disk.content(), base, x.from, x.to_lsn, &ends);
    // No whole record starts at `from` (the fetcher's end is not a record
    // boundary of the committed log: its tail diverges): the reply carries the
    // commit LSN and history only, from which the fetcher finds the divergence.
    if (end < x.from) end = x.from;
    auto bytes = an.disk.content_range(x.from, end);
    if (std::memcmp(bytes.data(), committed.data() + (x.from - ts), bytes.size()) != 0) {
      fail(kS15Learners, fmt::format("a{} serves a peer [{}, {}) that differs from C", a, x.from, end));
      return;
    }
    core::PeerFetchResponse r{x.term, x.commit_lsn, x.term_history, x.from,
                              std::vector<std::uint8_t>(bytes.begin(), bytes.end())};
    core::AcceptorMessage m(std::move(r));
    Event e;
    e.t = now + delay();
    e.kind = Ev::kPeerReply;
    e.x = to;
    e.gen = inc;
    e.wire = to_wire(m);
    check_codec(*e.wire, m);
    push(std::move(e));
  }
  void run_action(int a, core::Send& x) {
    AcceptorNode& an = acc[static_cast<std::size_t>(a)];
    const SimDisk& d = an.disk;
    const auto& ctl = d.control();
    if (const auto* v = std::get_if<core::VoteResponse>(&x.msg)) {
      if (v->vote_given) {
        if (!ctl || ctl->term < v->term)
          fail(kS3VoteDurable, fmt::format("a{} grants term {} but its durable term is {}", a,
                                           v->term, ctl ? ctl->term : Term{}));
        auto key = std::make_pair(a, v->term);
        auto it = votes.find(key);
        if (it != votes.end() && it->second != x.to)
          fail(kS2VoteUnique, fmt::format("a{} grants term {} to conn {} after granting it to conn {}",
                                          a, v->term, x.to, it->second));
        votes[key] = x.to;
      }
      if (!v->term_history.empty() && v->term_history.entries().back().lsn > v->flush_lsn)
        fail(kS11HistoryAgreement, fmt::format("a{} vote history {} not cut at flush_lsn {}", a,
                                               v->term_history.to_string(), v->flush_lsn));
      if (v->flush_lsn > d.durable_end() && v->flush_lsn.is_valid())
        fail(kS5AckDurable, fmt::format("a{} votes with flush_lsn {} beyond durable end {}", a,
                                        v->flush_lsn, d.durable_end()));
      check_boundary(a, v->flush_lsn, "vote flush_lsn");
    }
    if (const auto* r = std::get_if<core::AppendResponse>(&x.msg)) {
      if (r->flush_lsn > d.durable_end())
        fail(kS5AckDurable, fmt::format("a{} acknowledges flush_lsn {} but only {} is durable", a,
                                        r->flush_lsn, d.durable_end()));
      check_boundary(a, r->flush_lsn, "AppendResponse.flush_lsn");
      if (!ctl || ctl->term != r->term || ctl->term_history.last_term() != r->term)
        fail(kS17AppendAfterElected,
             fmt::format("a{} acks in term {} but its durable term is {} with history {}", a,
                         r->term, ctl ? ctl->term : Term{},
                         ctl ? ctl->term_history.to_string() : std::string("-")));
    }
    std::visit(
        [&](const auto& m) {
          if constexpr (requires { m.term; }) {
            if (m.term > an.max_term_sent) an.max_term_sent = m.term;
          }
        },
        x.msg);
    send_from_acceptor(a, x.to, x.msg);
  }

  void send_from_acceptor(int a, core::ConnId to, const core::AcceptorMessage& m) {
    auto it = conns.find(to);
    if (it == conns.end() || !it->second.a_open || !it->second.open) return;
    if (it->second.a != a) return;
    trace("a{} -> conn {}: {}", a, to, describe(m));
    Wire w = to_wire(m);
    check_codec(w, m);
    send(to, 1, std::move(w));
  }

  template <typename M>
  void check_codec(const Wire& w, const M& m) {
#ifdef WQ_SIM_HAVE_CODEC
    M back;
    std::string err;
    if (!from_wire(w, back, err)) {
      fail(kS19Codec, fmt::format("codec cannot decode its own encoding: {}", err));
      return;
    }
    if (!(back == m)) fail(kS19Codec, "codec round trip changed a message");
#else
    (void)w;
    (void)m;
#endif
  }

  void crash(int a) {
    AcceptorNode& an = acc[static_cast<std::size_t>(a)];
    if (!an.up) return;
    std::uint64_t unsynced = an.disk.written_end() - an.disk.durable_end();
    std::uint64_t kept = an.disk.crash(prng, mix.keep_unsynced);
    if (kept > 0 && kept < unsynced) count(FaultKind::kTornWrite);
    trace("a{} CRASH (kept {} of {} unsynced bytes)", a, kept, unsynced);
    an.up = false;
    an.acc.reset();
    an.flush_scheduled = false;
    an.hist_ok = std::min(an.hist_ok, an.disk.written_end());
    an.c_ok = std::min(an.c_ok, an.disk.written_end());
    while (!an.bounds.empty() && an.bounds.back() > an.disk.written_end()) an.bounds.pop_back();
    std::vector<core::ConnId> gone;
    for (auto& [id, c] : conns) {
      if (c.a != a || !c.a_open) continue;
      c.a_open = false;  // the process is gone: no EOF handling
      if (c.open) kill_conn(c, prng.range(1, 300));
      else gone.push_back(id);
    }
    for (auto id : gone) conns.erase(id);
    if (cfg.swarm) at(now + prng.range(10, mix.restart_ms_max), Ev::kRestart, a, 0, an.incarnation);
  }

  void restart(int a) {
    AcceptorNode& an = acc[static_cast<std::size_t>(a)];
    if (an.up) return;
    ++an.incarnation;
    an.up = true;
    const auto& ctl = an.disk.control();
    if (!ctl) {
      trace("a{} restarts with no timeline", a);
      return;
    }
    // The end of WAL: decode from the persisted commit LSN (or the timeline start).
    Lsn wal_end;
    if (!an.disk.empty()) {
      Lsn from = ctl->commit_lsn.is_valid() ? ctl->commit_lsn : ctl->timeline_start_lsn;
      if (!from.is_valid()) {
        // Crashed between writing the first page header and persisting the
        // timeline start: no WAL was ever acknowledged; start empty.
        an.disk.truncate(base);
        from = base;
      }
      if (from > an.disk.written_end()) {
        fail(kS14CommitBounded, fmt::format("a{} restarts with commit_lsn/timeline start {} beyond "
                                            "its durable WAL end {}",
                                            a, from, an.disk.written_end()));
        return;
      }
      wal_end = from == base ? Lsn{}
                             : scan_records(walp, an.disk.content(), base, from,
                                            Lsn(~std::uint64_t{0}), nullptr);
      // Cut a torn tail; a record whose padding was torn off ends at its MAXALIGNed
      // end all the same (a preallocated segment reads zeros there).
      if (wal_end.is_valid() && wal_end != an.disk.written_end()) an.disk.truncate(wal_end);
      an.hist_ok = std::min(an.hist_ok, wal_end);
      an.c_ok = std::min(an.c_ok, wal_end);
      while (!an.bounds.empty() && an.bounds.back() > wal_end) an.bounds.pop_back();
    }
    if (ctl->term < an.max_term_sent)
      fail(kS4TermMonotone, fmt::format("a{} restarts in term {} after sending term {}", a,
                                        ctl->term, an.max_term_sent));
    an.mem_commit = ctl->commit_lsn;
    an.acc.emplace(an.id, *ctl, wal_end);
    trace("a{} restarts: term {} history {} wal_end {}", a, ctl->term,
          ctl->term_history.to_string(), wal_end);
  }

  // ---------------------------------------------------------------- proposers
  int start_proposer(std::optional<NodeId> reuse) {
    ProposerNode pn;
    pn.id = reuse ? *reuse : NodeId(next_proposer_id++);
    pn.instance = next_instance++;
    pn.alive = true;
    Proposer::Config pc;
    pc.timeline = timeline;
    pc.proposer_id = pn.id;
    for (auto& a : acc) pc.acceptors.push_back(a.id);
    pc.system_id = walp.system_id;
    pc.wal_seg_size = static_cast<std::uint32_t>(walp.seg_size);
    pc.timeline_start_lsn = ts;
    pc.window_bytes_max = 256 * 1024;
    pc.heartbeat_ticks = 10;
    pc.election_timeout_ticks = static_cast<std::uint32_t>(30 + prng.range(0, 40));
    pn.p.emplace(pc);
    pn.link.assign(acc.size(), 0);
    prop.push_back(std::move(pn));
    int slot = static_cast<int>(prop.size() - 1);
    trace("proposer p{} (id {}, instance {}) starts", slot, prop.back().id, prop.back().instance);
    for (int a = 0; a < static_cast<int>(acc.size()); ++a) schedule_connect(slot, a);
    at(now + prng.range(1, kTickMs), Ev::kTick, slot, 0, prop.back().instance);
    if (cfg.swarm) at(now + mix.propose_every_ms, Ev::kPropose, slot, 0, prop.back().instance);
    return slot;
  }

  int alive_proposers() const {
    int n = 0;
    for (const auto& p : prop) n += p.alive ? 1 : 0;
    return n;
  }

  void kill_proposer(int p) {
    ProposerNode& pn = prop[static_cast<std::size_t>(p)];
    if (!pn.alive) return;
    pn.alive = false;
    trace("proposer p{} stops", p);
    for (auto cid : pn.link) {
      if (cid == 0) continue;
      auto it = conns.find(cid);
      if (it != conns.end()) kill_conn(it->second, prng.range(1, 100));
    }
    pn.p.reset();
    pn.gen.reset();
  }

  void deliver_to_proposer(const Event& e) {
    auto it = conns.find(e.gen);
    if (it == conns.end() || !it->second.open || it->second.dead[1]) return;
    Conn& c = it->second;
    ProposerNode& pn = prop[static_cast<std::size_t>(c.p)];
    if (!pn.alive || pn.link[static_cast<std::size_t>(c.a)] != c.id) return;
    core::AcceptorMessage m;
    std::string err;
    if (!from_wire(*e.wire, m, err)) {
      fail(kS19Codec, fmt::format("p{} cannot decode an acceptor message: {}", c.p, err));
      return;
    }
    trace("p{} <- a{} conn {}: {}", c.p, c.a, c.id, describe(m));
    handle_proposer_output(c.p, pn.p->on_message(acc[static_cast<std::size_t>(c.a)].id, m));
  }

  void handle_proposer_output(int p, core::ProposerOutput out) {
    ProposerNode& pn = prop[static_cast<std::size_t>(p)];
    Proposer& pr = *pn.p;
    if (out.elected_now) on_elected(p);
    if (out.commit_advanced || pr.commit_lsn() != pn.last_commit) on_commit(p);
    for (auto& [to, msg] : out.sends) {
      int a = acceptor_index(to);
      if (a < 0) {
        fail(kS18CoreSelfCheck, fmt::format("p{} sends to unknown node {}", p, to));
        return;
      }
      core::ConnId cid = pn.link[static_cast<std::size_t>(a)];
      if (cid == 0) continue;
      trace("p{} -> a{} conn {}: {}", p, a, cid, describe(msg));
      Wire w = to_wire(msg);
      check_codec(w, msg);
      send(cid, 0, std::move(w));
    }
    if (out.superseded_by) {
      trace("p{} superseded by term {}", p, *out.superseded_by);
      kill_proposer(p);
      if (cfg.swarm && alive_proposers() == 0)
        at(now + prng.range(10, 500), Ev::kStartProposer);
    }
  }

  void on_elected(int p) {
    ProposerNode& pn = prop[static_cast<std::size_t>(p)];
    const Proposer& pr = *pn.p;
    Term t = pr.term();
    ++res.elections;
    trace("p{} ELECTED in term {} start {} history {} donor {}", p, t, pr.term_start_lsn(),
          pr.term_history().to_string(), pr.donor() ? pr.donor()->value() : 0);
    auto it = terms.find(t);
    if (it != terms.end() && it->second.instance != pn.instance) {
      fail(kS1ElectionSafety, fmt::format("term {} elected twice: instance {} and {}", t,
                                          it->second.instance, pn.instance));
      return;
    }
    pn.elected = true;
    const auto& h = pr.term_history();
    if (h.empty() || h.last_term() != t || h.entries().back().lsn != pr.term_start_lsn()) {
      fail(kS11HistoryAgreement, fmt::format("p{} elected in term {} with history {} start {}", p,
                                             t, h.to_string(), pr.term_start_lsn()));
      return;
    }
    TermRecord tr;
    tr.instance = pn.instance;
    tr.start = pr.term_start_lsn();
    tr.history = h;
    terms[t] = std::move(tr);
    check_history(-1, h, "elected");
    // S9: the new leader's log (as its history attributes it) holds everything
    // committed in earlier terms. (A proposer may still gather a quorum for a
    // term below one that already committed — votes for old terms stay valid —
    // but it can never commit: every acceptor of a quorum has moved past it.)
    Lsn need;
    for (const auto& [ct, end] : commit_by_term)
      if (ct < t) need = std::max(need, end);
    if (pr.term_start_lsn() < need) {
      fail(kS9LeaderCompleteness, fmt::format("p{} term {} starts at {} below {} committed in an "
                                              "earlier term",
                                              p, t, pr.term_start_lsn(), need));
      return;
    }
    std::string why;
    std::span<const std::uint8_t> prior(committed.data(), need.is_valid() ? need - ts : 0);
    if (!matches_history(h, ts, prior, why))
      fail(kS9LeaderCompleteness, fmt::format("p{} term {} history {} does not hold C: {}", p, t,
                                              h.to_string(), why));
  }

  void on_commit(int p) {
    ProposerNode& pn = prop[static_cast<std::size_t>(p)];
    const Proposer& pr = *pn.p;
    Lsn l = pr.commit_lsn();
    if (l < pn.last_commit) {
      fail(kS13CommitMonotone, fmt::format("p{} commit_lsn went from {} to {}", p, pn.last_commit, l));
      return;
    }
    pn.last_commit = l;
    if (!l.is_valid()) return;
    trace("p{} commit_lsn {}", p, l);
    Lsn& by_term = commit_by_term[pr.term()];
    by_term = std::max(by_term, l);
    if (l > pr.end_lsn())
      fail(kS14CommitBounded, fmt::format("p{} commit_lsn {} beyond its end {}", p, l, pr.end_lsn()));
    if (pr.state() == Proposer::State::kElected && l < pr.term_start_lsn())
      fail(kS14CommitBounded, fmt::format("p{} commits {} below its term start {} (rule 6)", p, l,
                                          pr.term_start_lsn()));
    if (!is_generated_boundary(l))
      fail(kS6RecordAligned, fmt::format("p{} commit_lsn {} is not a record boundary", p, l));
    if (violation) return;
    // S7: the bytes up to l (as this proposer's history attributes them) agree with C and extend it.
    std::vector<std::uint8_t> bytes;
    std::string why;
    if (!history_bytes(pr.term_history(), ts, l, bytes, why)) {
      fail(kS7CommittedImmutable, fmt::format("p{} commits {} but its history {} does not name "
                                              "written bytes: {}",
                                              p, l, pr.term_history().to_string(), why));
      return;
    }
    std::size_t common = std::min(bytes.size(), committed.size());
    if (std::memcmp(bytes.data(), committed.data(), common) != 0) {
      std::size_t i = 0;
      while (i < common && bytes[i] == committed[i]) ++i;
      fail(kS7CommittedImmutable, fmt::format("p{} commits {} with bytes differing from C at {}", p,
                                              l, ts + i));
      return;
    }
    if (bytes.size() > committed.size())
      committed.insert(committed.end(), bytes.begin() + static_cast<std::ptrdiff_t>(common),
                       bytes.end());
    res.committed_bytes = committed.size();
  }

  // Walks [from, to) piece by piece as history `h` attributes it to terms, calling
  // on_piece(term, bytes that term wrote for [pos, stop), pos, stop). False (with `why`)
  // if no term covers a byte, a term was never elected or did not write those bytes, or
  // on_piece says so.
  template <class OnPiece>
  bool walk_history(const TermHistory& h, Lsn from, Lsn to, std::string& why,
                    OnPiece&& on_piece) const {
    const auto& e = h.entries();
    Lsn pos = from;
    for (std::size_t i = 0; i < e.size() && pos < to; ++i) {
      Lsn seg_end = i + 1 < e.size() ? e[i + 1].lsn : Lsn(~std::uint64_t{0});
      if (seg_end <= pos) continue;
      if (e[i].lsn > pos) {
        why = fmt::format("no term covers {}", pos);
        return false;
      }
      Lsn stop = std::min(seg_end, to);
      auto it = terms.find(e[i].term);
      if (it == terms.end()) {
        why = fmt::format("term {} was never elected", e[i].term);
        return false;
      }
      const TermRecord& tr = it->second;
      if (pos < tr.start || stop > tr.start + tr.bytes.size()) {
        why = fmt::format("term {} wrote [{}, {}), not [{}, {})", e[i].term, tr.start,
                          tr.start + tr.bytes.size(), pos, stop);
        return false;
      }
      if (!on_piece(e[i].term, tr.bytes.data() + (pos - tr.start), pos, stop)) return false;
      pos = stop;
    }
    if (pos < to) {
      why = fmt::format("history {} ends before {}", h.to_string(), to);
      return false;
    }
    return true;
  }

  // Bytes [from, to) as history `h` attributes them to terms.
  bool history_bytes(const TermHistory& h, Lsn from, Lsn to, std::vector<std::uint8_t>& out,
                     std::string& why) const {
    out.clear();
    return walk_history(h, from, to, why, [&](Term, const std::uint8_t* b, Lsn pos, Lsn stop) {
      out.insert(out.end(), b, b + (stop - pos));
      return true;
    });
  }

  // `actual` holds bytes from `from`; they must equal what the history's terms wrote.
  bool matches_history(const TermHistory& h, Lsn from, std::span<const std::uint8_t> actual,
                       std::string& why) const {
    if (actual.empty()) return true;
    if (from < ts) {
      std::uint64_t skip = std::min<std::uint64_t>(ts - from, actual.size());
      actual = actual.subspan(skip);
      from = from + skip;
      if (actual.empty()) return true;
    }
    return walk_history(h, from, from + actual.size(), why,
                        [&](Term term, const std::uint8_t* want, Lsn pos, Lsn stop) {
                          const std::uint8_t* have = actual.data() + (pos - from);
                          if (std::memcmp(want, have, stop - pos) == 0) return true;
                          std::uint64_t k = 0;
                          while (want[k] == have[k]) ++k;
                          why = fmt::format("byte at {} differs from term {}'s", pos + k, term);
                          return false;
                        });
  }

  bool is_generated_boundary(Lsn l) const {
    if (l == ts) return true;
    for (const auto& [t, tr] : terms)
      if (tr.rec_start_by_end.count(l)) return true;
    return false;
  }

  void check_boundary(int a, Lsn l, const char* what) {
    if (!l.is_valid() || l == ts) return;
    if (!is_generated_boundary(l))
      fail(kS6RecordAligned, fmt::format("a{} {} {} is not a record boundary", a, what, l));
  }

  void check_history(int a, const TermHistory& h, const char* what) {
    const auto& e = h.entries();
    for (std::size_t i = 0; i < e.size(); ++i) {
      if (i > 0 && (e[i].term <= e[i - 1].term || e[i].lsn < e[i - 1].lsn)) {
        fail(kS11HistoryAgreement, fmt::format("a{} {} history {} not increasing", a, what,
                                               h.to_string()));
        return;
      }
      auto it = terms.find(e[i].term);
      if (it == terms.end()) {
        fail(kS11HistoryAgreement, fmt::format("a{} {} history {} names term {} that nobody won", a,
                                               what, h.to_string(), e[i].term));
        return;
      }
      const auto& eh = it->second.history.entries();
      // The elected history of term t ends with (t, start); our prefix through t must equal it.
      if (eh.size() != i + 1 || !std::equal(eh.begin(), eh.end(), e.begin())) {
        fail(kS11HistoryAgreement,
             fmt::format("a{} {} history {} disagrees with term {}'s elected history {}", a, what,
                         h.to_string(), e[i].term, it->second.history.to_string()));
        return;
      }
    }
  }

  void propose(int p, int records) {
    ProposerNode& pn = prop[static_cast<std::size_t>(p)];
    if (!pn.alive) return;
    Proposer& pr = *pn.p;
    if (pr.state() != Proposer::State::kElected) return;
    Term t = pr.term();
    if (!pn.gen || pn.gen_term != t) {
      // First record of this term: chain xl_prev to the record that ends at term start.
      Lsn start = pr.end_lsn();
      Lsn prev;
      if (start != ts) {
        auto owner = pr.term_history().term_at(start - 1);
        auto it = owner ? terms.find(*owner) : terms.end();
        if (it == terms.end() || !it->second.rec_start_by_end.count(start)) {
          fail(kS6RecordAligned, fmt::format("p{} term {} starts at {}, not the end of a generated "
                                             "record",
                                             p, t, start));
          return;
        }
        prev = it->second.rec_start_by_end.at(start);
      }
      pn.gen.emplace(walp, start, prev);
      pn.gen_term = t;
    }
    // Generated on a copy of the generator: kept only if the proposer takes it.
    WalGen gen = *pn.gen;
    std::vector<GeneratedRecord> recs;
    auto bytes = gen.batch(prng, records, recs);
    if (!pr.can_propose(bytes.size()) || bytes.size() > pr.config().window_bytes_max) return;
    *pn.gen = gen;
    Lsn begin = pr.end_lsn();
    TermRecord& tr = terms[t];
    if (begin != tr.start + tr.bytes.size()) {
      fail(kS18CoreSelfCheck, fmt::format("p{} end_lsn {} is not where term {}'s WAL ends ({})", p,
                                          begin, t, tr.start + tr.bytes.size()));
      return;
    }
    tr.bytes.insert(tr.bytes.end(), bytes.begin(), bytes.end());
    for (const auto& r : recs) tr.rec_start_by_end[r.end] = r.start;
    wal_bytes += bytes.size();
    trace("p{} proposes {} records [{}, {})", p, records, begin, begin + bytes.size());
    handle_proposer_output(p, pr.propose(begin, std::move(bytes)));
  }

  // ---------------------------------------------------------------- checks
  void check_all() {
    for (std::size_t a = 0; a < acc.size() && !violation; ++a) check_acceptor(static_cast<int>(a));
    if (violation) return;
    // S8: C durably on a quorum.
    Lsn ce = c_end();
    std::size_t holders = 0;
    for (const auto& an : acc) holders += an.c_ok >= ce ? 1 : 0;
    if (committed.size() > 0 && holders < quorum)
      fail(kS8QuorumRetention, fmt::format("committed end {} is durable on {} acceptors, quorum is {}",
                                           ce, holders, quorum));
    for (std::size_t p = 0; p < prop.size() && !violation; ++p) {
      const ProposerNode& pn = prop[p];
      if (!pn.alive) continue;
      pn.p->check_invariants();
      if (pn.p->commit_lsn() < pn.last_commit)
        fail(kS13CommitMonotone, fmt::format("p{} commit_lsn {} below {}", p, pn.p->commit_lsn(),
                                             pn.last_commit));
    }
  }

  void check_acceptor(int a) {
    AcceptorNode& an = acc[static_cast<std::size_t>(a)];
    extend_c_ok(an);
    if (!an.up || !an.acc) return;
    const Acceptor& ac = *an.acc;
    ac.check_invariants();
    const auto& ctl = an.disk.control();
    if (!ctl) return;
    if (ac.term() < ctl->term)
      fail(kS4TermMonotone, fmt::format("a{} term {} below its durable term {}", a, ac.term(),
                                        ctl->term));
    Lsn cm = ac.commit_lsn();
    if (cm < an.mem_commit)
      fail(kS13CommitMonotone, fmt::format("a{} commit_lsn went from {} to {}", a, an.mem_commit, cm));
    an.mem_commit = cm;
    if (cm > ac.flush_lsn() && !ctl->corrupt)
      fail(kS14CommitBounded, fmt::format("a{} commit_lsn {} beyond flush_lsn {}", a, cm,
                                          ac.flush_lsn()));
    if (cm > c_end())
      fail(kS14CommitBounded, fmt::format("a{} commit_lsn {} beyond the committed end {}", a, cm,
                                          c_end()));
    if (ac.flush_lsn() > an.disk.durable_end())
      fail(kS5AckDurable, fmt::format("a{} flush_lsn {} beyond its durable end {}", a,
                                      ac.flush_lsn(), an.disk.durable_end()));
    if (ac.write_lsn().is_valid() && ac.write_lsn() != an.disk.written_end())
      fail(kS10LogMatching, fmt::format("a{} write_lsn {} but the disk is written to {}", a,
                                        ac.write_lsn(), an.disk.written_end()));
    if (violation) return;
    // S10: written bytes agree with the terms the history names (incrementally).
    Lsn we = an.disk.written_end();
    if (an.hist_ok < we) {
      std::string why;
      Lsn from = std::max(an.hist_ok, ts);
      if (from < we &&
          !matches_history(ac.term_history(), from, an.disk.content_range(from, we), why)) {
        fail(kS10LogMatching, fmt::format("a{} WAL [{}, {}) vs history {}: {}", a, from, we,
                                          ac.term_history().to_string(), why));
        return;
      }
      an.hist_ok = we;
    }
    // S6: flush_lsn is a record boundary on this disk, by the real decoder.
    Lsn fl = ac.flush_lsn();
    if (fl.is_valid() && fl > ts) {
      Lsn last = an.bounds.empty() ? ts : an.bounds.back();
      if (fl > last) {
        if (last < ts) last = ts;
        Lsn end = scan_records(walp, an.disk.content(), base, last, fl, &an.bounds);
        if (end != fl)
          fail(kS6RecordAligned, fmt::format("a{} flush_lsn {} but decoding from {} stops at {}", a,
                                             fl, last, end));
      } else if (!std::binary_search(an.bounds.begin(), an.bounds.end(), fl)) {
        fail(kS6RecordAligned, fmt::format("a{} flush_lsn {} is not a decoded record end", a, fl));
      }
    }
  }

  // S8 bookkeeping (up or down: the durable image is what counts): durable bytes equal to C.
  void extend_c_ok(AcceptorNode& an) {
    Lsn de = std::min(an.disk.durable_end(), c_end());
    if (an.c_ok < de) {
      Lsn from = std::max(an.c_ok, ts);
      if (from < de) {
        auto have = an.disk.durable().subspan(from - base, de - from);
        const std::uint8_t* want = committed.data() + (from - ts);
        std::uint64_t k = 0;
        while (k < have.size() && have[k] == want[k]) ++k;
        an.c_ok = from + k;
      } else {
        an.c_ok = de;
      }
    }
  }

  void learn() {
    // A learner reads committed WAL from a random live acceptor, up to its commit_lsn.
    std::vector<int> up;
    for (std::size_t a = 0; a < acc.size(); ++a)
      if (acc[a].up && acc[a].acc) up.push_back(static_cast<int>(a));
    if (up.empty()) return;
    int a = up[prng.below(up.size())];
    Learner& l = learners[prng.below(learners.size())];
    const AcceptorNode& an = acc[static_cast<std::size_t>(a)];
    Lsn cm = an.acc->commit_lsn();
    if (cm <= l.pos) return;
    if (cm > c_end()) {
      fail(kS15Learners, fmt::format("learner would read to {} from a{} beyond committed end {}",
                                     cm, a, c_end()));
      return;
    }
    if (cm > an.disk.durable_end()) {
      fail(kS15Learners, fmt::format("a{} serves learners up to {} but holds only {}", a, cm,
                                     an.disk.durable_end()));
      return;
    }
    auto have = an.disk.durable().subspan(l.pos - base, cm - l.pos);
    if (std::memcmp(have.data(), committed.data() + (l.pos - ts), have.size()) != 0) {
      fail(kS15Learners, fmt::format("learner reads [{}, {}) from a{} that differ from C", l.pos,
                                     cm, a));
      return;
    }
    trace("learner reads [{}, {}) from a{}", l.pos, cm, a);
    l.pos = cm;
  }

  // ---------------------------------------------------------------- peer recovery
  void peer_fetch(int a, int peer = -1) {
    // Acceptor `a` (random if -1) asks `peer` (a random live one if -1) for committed WAL.
    std::vector<int> up;
    for (std::size_t i = 0; i < acc.size(); ++i)
      if (acc[i].up && acc[i].acc) up.push_back(static_cast<int>(i));
    if (up.size() < 2) return;
    if (a < 0) a = up[prng.below(up.size())];
    AcceptorNode& an = acc[static_cast<std::size_t>(a)];
    if (!an.up || !an.acc) return;
    int b = peer;
    if (b < 0 || b == a || !acc[static_cast<std::size_t>(b)].up || !acc[static_cast<std::size_t>(b)].acc) {
      if (peer >= 0) return;
      b = a;
      while (b == a) b = up[prng.below(up.size())];
    }
    AcceptorNode& bn = acc[static_cast<std::size_t>(b)];
    core::ConnId id = next_peer_conn++;
    peer_fetches[id] = {a, an.incarnation};
    core::PeerFetchRequest req{an.acc->peer_fetch_from(),
                               static_cast<std::uint32_t>(prng.range(1, 64 * 1024))};
    trace("a{} peer-fetches from a{} at {} (max {})", a, b, req.from_lsn, req.max_bytes);
    execute(b, bn.acc->on_peer_fetch_request(id, req));
    peer_fetches.erase(id);  // refused, or served above
  }

  void peer_reply(const Event& e) {
    AcceptorNode& an = acc[static_cast<std::size_t>(e.x)];
    if (!an.up || !an.acc || an.incarnation != e.gen) return;
    core::AcceptorMessage m;
    std::string err;
    if (!from_wire(*e.wire, m, err)) {
      fail(kS19Codec, fmt::format("a{} cannot decode a peer reply: {}", e.x, err));
      return;
    }
    const auto& r = std::get<core::PeerFetchResponse>(m);
    Lsn commit_before = an.acc->commit_lsn();
    auto out = an.acc->on_peer_fetch_response(r);
    using Kind = Acceptor::PeerFetchOutcome::Kind;
    trace("a{} <- peer reply [{}, +{}) commit {} history {}: {}{}", e.x, r.begin_lsn, r.wal.size(),
          r.commit_lsn, r.term_history.to_string(),
          out.kind == Kind::kAppended    ? "appended"
          : out.kind == Kind::kTruncated ? "truncated"
          : out.kind == Kind::kCaughtUp  ? "caught up"
                                         : "ignored: ",
          out.why);
    if (out.kind == Kind::kAppended) count(FaultKind::kPeerFetch);
    if (out.kind == Kind::kTruncated) count(FaultKind::kPeerTruncate);
    an.truncate_floor = commit_before;
    execute(e.x, std::move(out.actions));
    acc[static_cast<std::size_t>(e.x)].truncate_floor.reset();
    // A round goes on while there is something to take.
    if ((out.kind == Kind::kAppended || out.kind == Kind::kTruncated) && prng.chance(0.8))
      at(now + prng.range(0, 5), Ev::kPeerFetch, e.x, 1);
  }

  // ---------------------------------------------------------------- faults
  void inject_fault() {
    int kinds = 5;
    for (int guard = 0; guard < 20; ++guard) {
      int k = static_cast<int>(prng.below(static_cast<std::uint64_t>(kinds)));
      double rate = k == 0 ? mix.conn_reset_per_s
                  : k == 1 ? mix.partition_per_s
                  : k == 2 ? mix.acceptor_crash_per_s
                  : k == 3 ? mix.proposer_restart_per_s
                           : 0;
      if (rate <= 0) continue;
      if (k == 0) {
        if (conns.empty()) return;
        auto it = conns.begin();
        std::advance(it, static_cast<std::ptrdiff_t>(prng.below(conns.size())));
        count(FaultKind::kConnReset);
        if (prng.chance(0.5)) {
          // The proposer closes (FIN): its unread replies are lost, its requests
          // already sent still reach the acceptor.
          trace("proposer closes conn {}", it->first);
          Conn& c = it->second;
          c.dead[1] = true;
          if (!c.break_scheduled) {
            c.break_scheduled = true;
            at(now + prng.range(0, 50), Ev::kConnBreak, 0, 0, c.id);
          }
        } else {
          trace("reset conn {}", it->first);
          kill_conn(it->second, prng.range(0, 50));
        }
      } else if (k == 1) {
        int a = static_cast<int>(prng.below(acc.size()));
        int p = prng.chance(0.5) ? -1 : static_cast<int>(prng.below(prop.size()));
        bool one_way = prng.chance(mix.one_way);
        int dir = static_cast<int>(prng.below(2));
        count(one_way ? FaultKind::kOneWayPartition : FaultKind::kPartition);
        add_block(p, a, dir, prng.range(50, mix.partition_ms_max));
        if (!one_way) add_block(p, a, 1 - dir, prng.range(50, mix.partition_ms_max));
        trace("partition p{} a{} {}", p, a, one_way ? (dir == 0 ? "p->a" : "a->p") : "both");
      } else if (k == 2) {
        int a = static_cast<int>(prng.below(acc.size()));
        if (!acc[static_cast<std::size_t>(a)].up) return;
        count(FaultKind::kAcceptorCrash);
        crash(a);
      } else if (k == 3) {
        std::vector<int> alive;
        for (std::size_t p = 0; p < prop.size(); ++p)
          if (prop[p].alive) alive.push_back(static_cast<int>(p));
        if (alive.size() >= 3) return;
        count(FaultKind::kProposerRestart);
        std::optional<NodeId> reuse;
        if (!alive.empty()) {
          int old = alive[prng.below(alive.size())];
          if (prng.chance(mix.reuse_proposer_id)) reuse = prop[static_cast<std::size_t>(old)].id;
          if (prng.chance(mix.keep_old_proposer)) {
            count(FaultKind::kTwoProposers);
            trace("a new compute starts while p{} keeps running", old);
          } else {
            kill_proposer(old);
          }
        }
        start_proposer(reuse);
      }
      return;
    }
  }

  void add_block(int p, int a, int dir, std::uint64_t ms) {
    ++blocks[{p, a, dir}];
    int id = next_partition++;
    partitions[id] = {p, a, dir};
    at(now + ms, Ev::kUnblock, id);
    // Existing connections lose everything sent that way from now on.
    for (auto& [cid, c] : conns)
      if (c.open && c.a == a && (p < 0 || c.p == p) && !c.dead[dir]) {
        c.dead[dir] = true;
        if (!c.break_scheduled) {
          c.break_scheduled = true;
          at(now + prng.range(50, 1500), Ev::kConnBreak, 0, 0, c.id);
        }
      }
  }

  void unblock(int id) {
    auto it = partitions.find(id);
    if (it == partitions.end()) return;
    auto key = it->second;
    partitions.erase(it);
    if (--blocks[key] <= 0) blocks.erase(key);
  }

  void heal_all() {
    blocks.clear();
    partitions.clear();
  }

  void begin_liveness() {
    fault_phase = false;
    liveness_phase = true;
    heal_all();
    trace("HEAL: faults stop; liveness budget {} ms", cfg.liveness_ms);
    for (std::size_t a = 0; a < acc.size(); ++a) restart(static_cast<int>(a));
    // One proposer: the newest live one stays.
    int keep = -1;
    for (std::size_t p = 0; p < prop.size(); ++p)
      if (prop[p].alive) keep = static_cast<int>(p);
    for (std::size_t p = 0; p < prop.size(); ++p)
      if (prop[p].alive && static_cast<int>(p) != keep) kill_proposer(static_cast<int>(p));
    if (keep < 0) start_proposer({});
    liveness_deadline = now + cfg.liveness_ms;
  }

  bool liveness_done() {
    // One elected proposer that proposed after healing, everything committed and on every acceptor.
    for (const auto& pn : prop) {
      if (!pn.alive || pn.p->state() != Proposer::State::kElected) continue;
      const Proposer& pr = *pn.p;
      if (pr.end_lsn() <= heal_end || pr.commit_lsn() != pr.end_lsn()) return false;
      for (const auto& an : acc)
        if (!an.up || !an.acc || an.acc->flush_lsn() < pr.end_lsn() || an.c_ok < pr.end_lsn())
          return false;
      return true;
    }
    return false;
  }

  // ---------------------------------------------------------------- loop
  void dispatch(Event& e) {
    switch (e.kind) {
      case Ev::kToAcceptor: deliver_to_acceptor(e); break;
      case Ev::kToProposer: deliver_to_proposer(e); break;
      case Ev::kConnBreak: on_conn_break(e.gen); break;
      case Ev::kAcceptorClose: close_acceptor_end(e.gen); break;
      case Ev::kConnect: on_connect(e.x, e.y, e.gen); break;
      case Ev::kTick: {
        ProposerNode& pn = prop[static_cast<std::size_t>(e.x)];
        if (!pn.alive || pn.instance != e.gen) break;
        handle_proposer_output(e.x, pn.p->tick());
        if (pn.alive) at(now + kTickMs, Ev::kTick, e.x, 0, e.gen);
        break;
      }
      case Ev::kPropose: {
        ProposerNode& pn = prop[static_cast<std::size_t>(e.x)];
        if (!pn.alive || pn.instance != e.gen) break;
        bool budget = wal_bytes < cfg.wal_bytes_max;
        if (liveness_phase) budget = pn.p->end_lsn() <= heal_end || wal_bytes < cfg.wal_bytes_max;
        if (budget) propose(e.x, static_cast<int>(prng.range(1, 4)));
        if (pn.alive) at(now + 1 + prng.below(mix.propose_every_ms * 2), Ev::kPropose, e.x, 0, e.gen);
        break;
      }
      case Ev::kFlush: {
        AcceptorNode& an = acc[static_cast<std::size_t>(e.x)];
        if (!an.up || an.incarnation != e.gen) break;
        an.flush_scheduled = false;
        if (an.acc) execute(e.x, an.acc->flush_wal());
        break;
      }
      case Ev::kRestart: {
        AcceptorNode& an = acc[static_cast<std::size_t>(e.x)];
        if (an.up || an.incarnation != e.gen) break;
        restart(e.x);
        break;
      }
      case Ev::kFault:
        if (!fault_phase) break;
        inject_fault();
        at(now + exp_ms(total_fault_rate()), Ev::kFault);
        break;
      case Ev::kLearn:
        learn();
        if (mix.learner_per_s > 0) at(now + exp_ms(mix.learner_per_s), Ev::kLearn);
        break;
      case Ev::kPeerFetch:
        peer_fetch(e.y == 1 ? e.x : -1);
        if (e.y == 0 && mix.peer_fetch_per_s > 0) at(now + exp_ms(mix.peer_fetch_per_s), Ev::kPeerFetch);
        break;
      case Ev::kPeerReply: peer_reply(e); break;
      case Ev::kStartProposer:
        if (alive_proposers() == 0) start_proposer({});
        break;
      case Ev::kUnblock: unblock(e.x); break;
      case Ev::kHeal:
        heal_end = Lsn{};
        for (const auto& pn : prop)
          if (pn.alive) heal_end = std::max(heal_end, pn.p->end_lsn());
        heal_end = std::max(heal_end, c_end());
        begin_liveness();
        break;
    }
  }

  double total_fault_rate() const {
    return mix.conn_reset_per_s + mix.partition_per_s + mix.acceptor_crash_per_s +
           mix.proposer_restart_per_s;
  }

  bool step() {
    if (heap.empty() || violation) return false;
    std::pop_heap(heap.begin(), heap.end(), Later{});
    Event e = std::move(heap.back());
    heap.pop_back();
    now = e.t;
    ++steps;
    dispatch(e);
    if (!violation) check_all();
    return !violation;
  }

  SimResult run_swarm() {
    start_proposer({});
    if (total_fault_rate() > 0) at(exp_ms(total_fault_rate()), Ev::kFault);
    if (mix.learner_per_s > 0) at(exp_ms(mix.learner_per_s), Ev::kLearn);
    if (mix.peer_fetch_per_s > 0) at(exp_ms(mix.peer_fetch_per_s), Ev::kPeerFetch);
    // Swarm seeds also draw how long the fault phase lasts (up to cfg.fault_ms).
    std::uint64_t fault_ms = cfg.mix ? cfg.fault_ms : prng.range(cfg.fault_ms / 4, cfg.fault_ms);
    at(fault_ms, Ev::kHeal);
    for (std::uint64_t guard = 0; guard < cfg.steps_max; ++guard) {
      if (!step()) break;
      if (liveness_phase) {
        if (liveness_done()) break;
        if (now > liveness_deadline) {
          fail(kS20Liveness, fmt::format("no progress to a fully replicated commit within {} ms "
                                         "after healing (committed end {}, heal end {})",
                                         cfg.liveness_ms, c_end(), heal_end));
          break;
        }
      }
    }
    if (!violation && !liveness_done())
      fail(kS20Liveness, fmt::format("run ended (steps {}) before liveness was shown", steps));
    return result();
  }

  std::uint64_t state_hash() const {
    std::uint64_t h = 1469598103934665603ull;
    auto mixin = [&](std::uint64_t v) { h = (h ^ v) * 1099511628211ull; h ^= h >> 29; };
    auto mix_bytes = [&](std::span<const std::uint8_t> b) {
      std::size_t i = 0;
      for (; i + 8 <= b.size(); i += 8) {
        std::uint64_t v;
        std::memcpy(&v, b.data() + i, 8);
        mixin(v);
      }
      for (; i < b.size(); ++i) mixin(b[i]);
      mixin(b.size());
    };
    mixin(steps);
    mixin(now);
    mixin(committed.size());
    mix_bytes(committed);
    for (const auto& an : acc) {
      mixin(an.up);
      mix_bytes(an.disk.content());
      if (an.disk.control()) {
        mixin(an.disk.control()->term.value());
        mixin(an.disk.control()->commit_lsn.value());
        for (const auto& e : an.disk.control()->term_history.entries()) {
          mixin(e.term.value());
          mixin(e.lsn.value());
        }
      }
    }
    for (const auto& pn : prop) {
      mixin(pn.alive);
      if (pn.alive) {
        mixin(pn.p->term().value());
        mixin(pn.p->commit_lsn().value());
        mixin(pn.p->end_lsn().value());
      }
    }
    return h;
  }

  SimResult result() {
    res.violation = violation;
    res.steps = steps;
    res.virtual_ms = now;
    res.state_hash = state_hash();
    res.committed_bytes = committed.size();
    return res;
  }

  std::string trace_tail(int n) const {
    std::string s;
    std::size_t from = ring.size() > static_cast<std::size_t>(n) ? ring.size() - static_cast<std::size_t>(n) : 0;
    for (std::size_t i = from; i < ring.size(); ++i)
      s += fmt::format("{:>8}ms  {}\n", ring[i].t, ring[i].text);
    return s;
  }

  // ---------------------------------------------------------------- describe
  static std::string describe(const core::ProposerMessage& m) {
    return std::visit(
        [](const auto& x) -> std::string {
          using T = std::decay_t<decltype(x)>;
          if constexpr (std::is_same_v<T, core::ProposerGreeting>) return fmt::format("Greeting(id {})", x.proposer_id);
          else if constexpr (std::is_same_v<T, core::VoteRequest>) return fmt::format("VoteRequest(term {})", x.term);
          else if constexpr (std::is_same_v<T, core::ProposerElected>)
            return fmt::format("ProposerElected(term {}, start {}, history {})", x.term, x.start_streaming_at, x.term_history.to_string());
          else if constexpr (std::is_same_v<T, core::AppendRequest>)
            return fmt::format("Append(term {}, [{}, {}), commit {})", x.term, x.begin_lsn, x.end_lsn, x.commit_lsn);
          else if constexpr (std::is_same_v<T, core::ReadWalRequest>)
            return fmt::format("ReadWal(term {}, [{}, {}])", x.term, x.from_lsn, x.to_lsn);
          else return "PeerFetch";
        },
        m);
  }
  static std::string describe(const core::AcceptorMessage& m) {
    return std::visit(
        [](const auto& x) -> std::string {
          using T = std::decay_t<decltype(x)>;
          if constexpr (std::is_same_v<T, core::AcceptorGreeting>) return fmt::format("AcceptorGreeting(term {})", x.term);
          else if constexpr (std::is_same_v<T, core::VoteResponse>)
            return fmt::format("VoteResponse(term {}, given {}, flush {}, history {})", x.term, x.vote_given, x.flush_lsn, x.term_history.to_string());
          else if constexpr (std::is_same_v<T, core::AppendResponse>)
            return fmt::format("AppendResponse(term {}, flush {}, commit {})", x.term, x.flush_lsn, x.commit_lsn);
          else if constexpr (std::is_same_v<T, core::ReadWalResponse>)
            return fmt::format("ReadWalResponse(term {}, [{}, +{}))", x.term, x.begin_lsn, x.wal.size());
          else if constexpr (std::is_same_v<T, core::Refused>)
            return fmt::format("Refused(term {}, {}: {})", x.term, core::refuse_reason_name(x.reason), x.detail);
          else return "PeerFetchResponse";
        },
        m);
  }
};

// ---------------------------------------------------------------- public API
Sim::Sim(SimConfig config) : impl_(std::make_unique<Impl>(std::move(config))) { impl_->setup(); }
Sim::~Sim() = default;

SimResult Sim::run() { return impl_->run_swarm(); }
int Sim::start_proposer(std::optional<NodeId> reuse_id) { return impl_->start_proposer(reuse_id); }
void Sim::kill_proposer(int slot) { impl_->kill_proposer(slot); }
void Sim::crash_acceptor(int a) { impl_->crash(a); }
void Sim::restart_acceptor(int a) { impl_->restart(a); }
void Sim::block(int p, int a, int dir) { impl_->add_block(p, a, dir, 1ull << 40); }
void Sim::heal() { impl_->heal_all(); }
void Sim::crash_before(int a, std::function<bool(const core::Action&)> pred) {
  impl_->acc[static_cast<std::size_t>(a)].crash_before = std::move(pred);
}
bool Sim::run_until(const std::function<bool()>& pred, std::uint64_t ms) {
  std::uint64_t deadline = impl_->now + ms;
  for (std::uint64_t guard = 0; guard < impl_->cfg.steps_max; ++guard) {
    if (pred()) return true;
    if (impl_->violation || impl_->heap.empty()) return false;
    if (impl_->heap.front().t > deadline) {
      impl_->now = deadline;
      return pred();
    }
    impl_->step();
  }
  return false;
}
void Sim::run_for(std::uint64_t ms) { (void)run_until([] { return false; }, ms); }
void Sim::propose_records(int slot, int records) { impl_->propose(slot, records); }
void Sim::peer_fetch(int a, int peer) { impl_->peer_fetch(a, peer); }
const Proposer* Sim::proposer(int slot) const {
  const auto& pn = impl_->prop[static_cast<std::size_t>(slot)];
  return pn.alive ? &*pn.p : nullptr;
}
const Acceptor* Sim::acceptor(int a) const {
  const auto& an = impl_->acc[static_cast<std::size_t>(a)];
  return an.up && an.acc ? &*an.acc : nullptr;
}
const SimDisk& Sim::disk(int a) const { return impl_->acc[static_cast<std::size_t>(a)].disk; }
Lsn Sim::committed_end() const { return impl_->c_end(); }
const std::optional<Violation>& Sim::violation() const { return impl_->violation; }
std::uint64_t Sim::now_ms() const { return impl_->now; }
std::string Sim::trace_tail() const { return impl_->trace_tail(impl_->cfg.trace_tail); }
SimResult Sim::result() const { return impl_->result(); }

SimResult run_seed(std::uint64_t seed, int acceptors, bool trace, bool datagram) {
  SimConfig c;
  c.datagram = datagram;
  c.seed = seed;
  c.acceptors = acceptors;
  c.trace = trace;
  Sim sim(c);
  return sim.run();
}

}  // namespace wq::sim
