// Named simulator scenarios (suite 'sim'): deterministic stories through the
// real core, driven by hand (no random faults), each checked by every
// invariant after every step; plus the replay check (a seed run twice gives
// the same final state hash).
#include <doctest/doctest.h>

#include "sim.h"

namespace wq::sim {
namespace {

SimConfig scripted(std::uint64_t seed = 7) {
  SimConfig c;
  c.seed = seed;
  c.swarm = false;
  c.mix = FaultMix::none();
  return c;
}

bool elected(const Sim& s, int p) {
  const auto* pr = s.proposer(p);
  return pr && pr->state() == core::Proposer::State::kElected;
}

std::string report(const Sim& s) {
  if (!s.violation()) return "no violation; last events:\n" + s.trace_tail();
  return "S" + std::to_string(s.violation()->invariant) + " " + s.violation()->what + "\n" +
         s.trace_tail();
}

bool all_have(const Sim& s, Lsn end, int n = 3) {
  for (int a = 0; a < n; ++a)
    if (!s.acceptor(a) || s.acceptor(a)->flush_lsn() != end) return false;
  return true;
}

// Runs until p has committed everything it proposed.
bool settle(Sim& s, int p, std::uint64_t ms = 5000) {
  return s.run_until(
      [&] {
        const auto* pr = s.proposer(p);
        return pr && pr->commit_lsn() == pr->end_lsn();
      },
      ms);
}

}  // namespace

TEST_CASE("a seed replays byte for byte") {
  SimResult a = run_seed(42, 3, false);
  SimResult b = run_seed(42, 3, false);
  CHECK(a.state_hash == b.state_hash);
  CHECK(a.steps == b.steps);
  CHECK_FALSE(a.violation.has_value());
  SimResult c = run_seed(43, 5, false);
  SimResult d = run_seed(43, 5, false);
  CHECK(c.state_hash == d.state_hash);
  CHECK_FALSE(c.violation.has_value());
}

TEST_CASE("happy path: one proposer, records committed and on every acceptor") {
  Sim s(scripted());
  int p = s.start_proposer();
  REQUIRE_MESSAGE(s.run_until([&] { return elected(s, p); }, 5000), report(s));
  for (int i = 0; i < 20; ++i) s.propose_records(p, 3);
  REQUIRE_MESSAGE(settle(s, p), report(s));
  s.run_for(200);
  CHECK(s.committed_end() == s.proposer(p)->end_lsn());
  for (int a = 0; a < 3; ++a) CHECK(s.acceptor(a)->flush_lsn() == s.proposer(p)->end_lsn());
  CHECK_MESSAGE(!s.violation(), report(s));
}

TEST_CASE("Figure 8: an old-term entry on a quorum is not committed by counting") {
  Sim s(scripted());
  int p0 = s.start_proposer();
  REQUIRE(s.run_until([&] { return elected(s, p0); }, 5000));
  s.propose_records(p0, 2);
  REQUIRE_MESSAGE(settle(s, p0), report(s));
  REQUIRE(s.run_until([&] { return all_have(s, s.proposer(p0)->end_lsn()); }, 5000));
  // R1 reaches a0 and a1 (a quorum) but no acknowledgement gets back: not committed.
  s.block(p0, 0, 1);
  s.block(p0, 1, 1);
  s.block(p0, 2, 0);
  s.propose_records(p0, 2);
  const Lsn r1_end = s.proposer(p0)->end_lsn();
  auto flushed = [&](int a) { return s.acceptor(a) && s.acceptor(a)->flush_lsn() == r1_end; };
  REQUIRE_MESSAGE(s.run_until([&] { return flushed(0) && flushed(1); }, 1000), report(s));
  CHECK(s.proposer(p0)->commit_lsn() < r1_end);
  s.kill_proposer(p0);
  s.heal();
  // The next leader recovers R1 (its donor holds it) but may count R1 as committed
  // only once a quorum acknowledged it in the new term (rule 6), never from votes.
  int p1 = s.start_proposer();
  REQUIRE_MESSAGE(s.run_until([&] { return elected(s, p1); }, 5000), report(s));
  CHECK(s.proposer(p1)->term_start_lsn() == r1_end);
  CHECK(s.proposer(p1)->commit_lsn() < r1_end);
  CHECK(s.committed_end() < r1_end);
  REQUIRE_MESSAGE(s.run_until([&] { return s.committed_end() >= r1_end; }, 5000), report(s));
  s.propose_records(p1, 2);
  CHECK_MESSAGE(settle(s, p1), report(s));
  CHECK_MESSAGE(!s.violation(), report(s));
}

TEST_CASE("old compute keeps running after a new one is elected: its appends are refused") {
  Sim s(scripted());
  int p0 = s.start_proposer();
  REQUIRE(s.run_until([&] { return elected(s, p0); }, 5000));
  s.propose_records(p0, 3);
  REQUIRE_MESSAGE(settle(s, p0), report(s));
  const Lsn before = s.committed_end();
  // The old compute cannot hear the acceptors for a while, so it does not learn of
  // the new term from heartbeats; the new compute is elected meanwhile.
  for (int a = 0; a < 3; ++a) s.block(p0, a, 1);
  int p1 = s.start_proposer();
  REQUIRE_MESSAGE(s.run_until([&] { return elected(s, p1); }, 5000), report(s));
  s.heal();
  // The old compute still believes it leads and proposes: every append is refused.
  if (s.proposer(p0) && elected(s, p0)) {
    s.propose_records(p0, 3);
    s.propose_records(p0, 3);
  }
  REQUIRE_MESSAGE(s.run_until([&] { return s.proposer(p0) == nullptr; }, 5000), report(s));
  CHECK(s.committed_end() == before);  // nothing of the old compute's new WAL was committed
  s.propose_records(p1, 3);
  CHECK_MESSAGE(settle(s, p1), report(s));
  CHECK(s.committed_end() > before);
  CHECK_MESSAGE(!s.violation(), report(s));
}

TEST_CASE("acceptor crashes after persisting the vote but before replying") {
  Sim s(scripted());
  s.crash_before(0, [](const core::Action& a) {
    const auto* send = std::get_if<core::Send>(&a);
    if (!send) return false;
    const auto* v = std::get_if<core::VoteResponse>(&send->msg);
    return v && v->vote_given;
  });
  int p0 = s.start_proposer();
  REQUIRE_MESSAGE(s.run_until([&] { return s.disk(0).control() && s.acceptor(0) == nullptr; }, 5000),
                  report(s));
  // The term was durable before the reply: after a restart a0 knows it voted.
  const auto& ctl = s.disk(0).control();
  REQUIRE(ctl.has_value());
  CHECK(ctl->term.value() >= 1);
  const core::Term voted = ctl->term;
  s.restart_acceptor(0);
  CHECK(s.acceptor(0)->term() == voted);
  REQUIRE_MESSAGE(s.run_until([&] { return elected(s, p0); }, 5000), report(s));
  s.propose_records(p0, 2);
  REQUIRE_MESSAGE(settle(s, p0), report(s));
  // A second compute gets a higher term; the crashed vote is never granted twice.
  s.kill_proposer(p0);
  int p1 = s.start_proposer();
  REQUIRE_MESSAGE(s.run_until([&] { return elected(s, p1); }, 5000), report(s));
  CHECK(s.proposer(p1)->term() > voted);
  CHECK_MESSAGE(!s.violation(), report(s));
}

TEST_CASE("torn last write is cut on restart") {
  SimConfig c = scripted(11);
  c.mix->keep_unsynced = 1.0;  // the crash keeps a random prefix of the unsynced tail
  Sim s(c);
  int p = s.start_proposer();
  REQUIRE(s.run_until([&] { return elected(s, p); }, 5000));
  s.propose_records(p, 2);
  REQUIRE_MESSAGE(settle(s, p), report(s));
  // a0 crashes right before syncing a large batch: part of it reaches the disk.
  s.crash_before(0, [](const core::Action& a) { return std::holds_alternative<core::SyncWal>(a); });
  s.propose_records(p, 4);
  REQUIRE(s.run_until([&] { return s.acceptor(0) == nullptr; }, 2000));
  const Lsn torn_end = s.disk(0).written_end();
  s.restart_acceptor(0);
  const auto* a0 = s.acceptor(0);
  REQUIRE(a0 != nullptr);
  // The restart scan (the real StreamDecoder) found the last whole record; the rest is cut.
  CHECK(a0->flush_lsn() <= torn_end + 7);
  CHECK(s.disk(0).written_end() == a0->flush_lsn());
  CHECK(s.disk(0).durable_end() == a0->flush_lsn());
  REQUIRE_MESSAGE(settle(s, p), report(s));
  REQUIRE_MESSAGE(s.run_until([&] { return s.acceptor(0)->flush_lsn() == s.proposer(p)->end_lsn(); },
                              5000),
                  report(s));
  CHECK_MESSAGE(!s.violation(), report(s));
}

TEST_CASE("minority partition: the majority keeps committing, the minority catches up") {
  Sim s(scripted());
  int p = s.start_proposer();
  REQUIRE(s.run_until([&] { return elected(s, p); }, 5000));
  s.block(-1, 2, 0);
  s.block(-1, 2, 1);
  for (int i = 0; i < 10; ++i) s.propose_records(p, 2);
  REQUIRE_MESSAGE(settle(s, p), report(s));
  s.heal();
  REQUIRE_MESSAGE(s.run_until([&] { return s.acceptor(2)->flush_lsn() == s.proposer(p)->end_lsn(); },
                              10000),
                  report(s));
  CHECK_MESSAGE(!s.violation(), report(s));
}

// Found by the swarm as seed 77 (an earlier random stream): while the donor's
// connection was silently dead, tick-driven retries piled ReadWalRequests onto
// the donor until proposer.cc asserted "too many reads queued". Fixed in core
// 22c4fab (one outstanding recovery read per peer). The simulator's stream has
// changed since, so this runs the seed range around it as a regression guard.
TEST_CASE("regression: recovery reads on a silent donor (swarm seed 77, core 22c4fab)") {
  for (std::uint64_t seed = 70; seed < 80; ++seed) {
    SimResult r = run_seed(seed, 3, false);
    CHECK_MESSAGE(!r.violation.has_value(), "seed ", seed, ": ",
                  r.violation ? r.violation->what : std::string());
  }
}

TEST_CASE("recovery reads while the donor's connection is silently dead") {
  Sim s(scripted(5));
  int p0 = s.start_proposer();
  REQUIRE(s.run_until([&] { return elected(s, p0); }, 5000));
  // a2 misses a stretch of WAL that only a0 and a1 hold.
  s.block(-1, 2, 0);
  s.block(-1, 2, 1);
  for (int i = 0; i < 15; ++i) s.propose_records(p0, 3);
  REQUIRE_MESSAGE(settle(s, p0), report(s));
  s.kill_proposer(p0);
  s.heal();
  int p1 = s.start_proposer();
  REQUIRE_MESSAGE(s.run_until([&] { return elected(s, p1); }, 5000), report(s));
  REQUIRE(s.proposer(p1)->donor().has_value());
  // The donor stops hearing p1 without either side noticing for a while: the
  // recovery reads for a2 vanish and are retried on ticks.
  int donor = static_cast<int>(s.proposer(p1)->donor()->value()) - 1;
  s.block(p1, donor, 0);
  s.run_for(3000);
  s.heal();
  const Lsn end = s.proposer(p1)->end_lsn();
  REQUIRE_MESSAGE(s.run_until([&] { return all_have(s, end); }, 10000), report(s));
  s.propose_records(p1, 2);
  CHECK_MESSAGE(settle(s, p1), report(s));
  CHECK_MESSAGE(!s.violation(), report(s));
}

TEST_CASE("peer recovery cuts a divergent uncommitted tail, then takes the committed log") {
  Sim s(scripted());
  int p0 = s.start_proposer();
  REQUIRE(s.run_until([&] { return elected(s, p0); }, 5000));
  s.propose_records(p0, 3);
  REQUIRE_MESSAGE(settle(s, p0), report(s));
  REQUIRE(s.run_until([&] { return all_have(s, s.proposer(p0)->end_lsn()); }, 5000));
  const Lsn common = s.proposer(p0)->end_lsn();
  // Only a2 receives the next records: an uncommitted tail of term 1.
  s.block(p0, 0, 0);
  s.block(p0, 1, 0);
  s.propose_records(p0, 4);
  const Lsn tail_end = s.proposer(p0)->end_lsn();
  REQUIRE_MESSAGE(s.run_until([&] { return s.acceptor(2)->flush_lsn() == tail_end; }, 2000),
                  report(s));
  s.kill_proposer(p0);
  s.heal();
  // a2 cannot hear the next compute: a0 and a1 elect it and commit past a2's end.
  s.block(-1, 2, 0);
  s.block(-1, 2, 1);
  int p1 = s.start_proposer();
  REQUIRE_MESSAGE(s.run_until([&] { return elected(s, p1); }, 5000), report(s));
  CHECK(s.proposer(p1)->term_start_lsn() == common);
  for (int i = 0; i < 10 && s.proposer(p1)->end_lsn() <= tail_end + 4096; ++i) {
    s.propose_records(p1, 3);
  }
  REQUIRE_MESSAGE(settle(s, p1), report(s));
  REQUIRE_MESSAGE(s.run_until([&] { return s.acceptor(0)->commit_lsn() > tail_end; }, 5000),
                  report(s));
  // a2 asks a0 for committed WAL from its (divergent) end: it cuts its tail at
  // the common point, then takes the committed log.
  const Lsn target = s.acceptor(0)->commit_lsn();
  // (A successful reply is followed by the next request only with some chance.)
  for (int i = 0; i < 50 && s.acceptor(2)->flush_lsn() < target && !s.violation(); ++i) {
    s.peer_fetch(2, 0);
    s.run_for(100);
  }
  REQUIRE_MESSAGE(s.acceptor(2)->flush_lsn() >= target, report(s));
  SimResult r = s.result();
  CHECK(r.faults[static_cast<int>(FaultKind::kPeerTruncate)] == 1);
  CHECK(r.faults[static_cast<int>(FaultKind::kPeerFetch)] >= 1);
  CHECK(s.acceptor(2)->term() == s.proposer(p1)->term());
  CHECK(s.acceptor(2)->term_history() == s.acceptor(0)->term_history().cut_at(s.acceptor(2)->flush_lsn()));
  // Healed, the compute brings a2 to its end as usual.
  s.heal();
  s.propose_records(p1, 2);
  REQUIRE_MESSAGE(settle(s, p1), report(s));
  REQUIRE_MESSAGE(s.run_until([&] { return all_have(s, s.proposer(p1)->end_lsn()); }, 5000),
                  report(s));
  CHECK_MESSAGE(!s.violation(), report(s));
}

}  // namespace wq::sim
