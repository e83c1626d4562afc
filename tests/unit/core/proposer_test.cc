// Proposer driven by hand with three acceptors: term choice, donor choice, the
// ProposerElected common points, recovery reads, streaming, commit by quorum
// (not counting below term_start_lsn), superseding.
#include <doctest/doctest.h>

#include "core/proposer.h"
#include "cluster.h"

namespace wq::core {
namespace {

const NodeId A{1}, B{2}, C{3};

TermHistory hist(std::vector<std::pair<std::uint64_t, std::uint64_t>> e) {
  TermHistory t;
  for (auto [term, lsn] : e) t.push(Term{term}, Lsn{lsn});
  return t;
}

Proposer::Config cfg() {
  testing::Cluster c({A, B, C});
  return c.config(100);
}

template <class M>
std::vector<std::pair<NodeId, M>> sends_of(const ProposerOutput& o) {
  std::vector<std::pair<NodeId, M>> out;
  for (const auto& [to, msg] : o.sends) {
    if (auto* m = std::get_if<M>(&msg)) out.emplace_back(to, *m);
  }
  return out;
}

VoteResponse vote(std::uint64_t term, bool given, std::uint64_t flush, TermHistory h) {
  VoteResponse v;
  v.term = Term{term};
  v.vote_given = given;
  v.flush_lsn = Lsn{flush};
  v.term_history = std::move(h);
  v.timeline_start_lsn = h.empty() ? Lsn{} : Lsn{0x100};
  if (!v.term_history.empty()) v.timeline_start_lsn = v.term_history.entries().front().lsn;
  return v;
}

AppendResponse ack(std::uint64_t term, std::uint64_t flush) {
  AppendResponse r;
  r.term = Term{term};
  r.flush_lsn = Lsn{flush};
  return r;
}

// Elects a proposer in term 4 with donor A (last_log_term 2) over B (higher
// flush but last_log_term 1); C answers later with an empty log.
struct Elected {
  Proposer p{cfg()};
  ProposerOutput won;
  Elected() {
    for (NodeId id : {A, B, C}) {
      auto o = p.on_connected(id);
      REQUIRE(sends_of<ProposerGreeting>(o).size() == 1);
    }
    p.on_message(A, AcceptorGreeting{A, Term{2}});
    auto o = p.on_message(B, AcceptorGreeting{B, Term{3}});
    REQUIRE(p.state() == Proposer::State::kCampaigning);
    CHECK(p.term() == Term{4});  // rule 1: max seen + 1
    CHECK(sends_of<VoteRequest>(o).size() == 2);
    o = p.on_message(C, AcceptorGreeting{C, Term{1}});
    CHECK(sends_of<VoteRequest>(o).size() == 1);
    p.on_message(A, vote(4, true, 0x300, hist({{1, 0x100}, {2, 0x200}})));
    CHECK(p.state() == Proposer::State::kCampaigning);
    won = p.on_message(B, vote(4, true, 0x400, hist({{1, 0x100}})));
    REQUIRE(p.state() == Proposer::State::kElected);
  }
};

TEST_CASE("proposer: donor by (last_log_term, flush_lsn), term_start and history") {
  Elected e;
  CHECK(e.won.elected_now);
#ifndef WQ_CANARY_DONOR_BY_TERM
  CHECK(e.p.donor() == A);
  CHECK(e.p.term_start_lsn() == Lsn{0x300});
  CHECK(e.p.term_history() == hist({{1, 0x100}, {2, 0x200}, {4, 0x300}}));
  CHECK(e.p.end_lsn() == Lsn{0x300});

  // Rule 4: A continues at its flush; B diverged from term 1 at 0x200.
  auto pes = sends_of<ProposerElected>(e.won);
  REQUIRE(pes.size() == 2);
  CHECK(pes[0].first == A);
  CHECK(pes[0].second.start_streaming_at == Lsn{0x300});
  CHECK(pes[1].first == B);
  CHECK(pes[1].second.start_streaming_at == Lsn{0x200});
  CHECK(pes[1].second.term_history == e.p.term_history());

  // B's missing WAL [0x200, 0x300) is read from the donor, in our term.
  auto reads = sends_of<ReadWalRequest>(e.won);
  REQUIRE(reads.size() == 1);
  CHECK(reads[0].first == A);
  CHECK(reads[0].second.term == Term{4});
  CHECK(reads[0].second.from_lsn == Lsn{0x200});
  CHECK(reads[0].second.to_lsn == Lsn{0x300});
#endif
  e.p.check_invariants();
}

#ifndef WQ_CANARY_DONOR_BY_TERM
TEST_CASE("proposer: a late voter with an empty log streams from the history start") {
  Elected e;
  auto o = e.p.on_message(C, vote(4, true, 0, TermHistory{}));
  auto pes = sends_of<ProposerElected>(o);
  REQUIRE(pes.size() == 1);
  CHECK(pes[0].second.start_streaming_at == Lsn{0x100});
  auto reads = sends_of<ReadWalRequest>(o);
  REQUIRE(reads.size() == 1);
  CHECK(reads[0].first == A);
  CHECK(reads[0].second.from_lsn == Lsn{0x100});
}

TEST_CASE("proposer: recovery reads are forwarded as appends, then new WAL streams") {
  Elected e;
  auto o = e.p.on_message(A, ReadWalResponse{Term{4}, Lsn{0x200}, testing::bytes_of(0x100, 7)});
  auto apps = sends_of<AppendRequest>(o);
  REQUIRE(apps.size() == 1);
  CHECK(apps[0].first == B);
  CHECK(apps[0].second.begin_lsn == Lsn{0x200});
  CHECK(apps[0].second.end_lsn == Lsn{0x300});
  CHECK(apps[0].second.term == Term{4});

  REQUIRE(e.p.can_propose(0x40));
  o = e.p.propose(Lsn{0x300}, testing::bytes_of(0x40, 9));
  apps = sends_of<AppendRequest>(o);
  REQUIRE(apps.size() == 2);
  CHECK(apps[0].first == A);
  CHECK(apps[1].first == B);
  CHECK(apps[0].second.begin_lsn == Lsn{0x300});
  CHECK(apps[0].second.end_lsn == Lsn{0x340});
  CHECK(e.p.end_lsn() == Lsn{0x340});
  e.p.check_invariants();
}

TEST_CASE("proposer: commit is the quorum-th current-term flush at or above term_start") {
  Elected e;
  e.p.on_message(A, ReadWalResponse{Term{4}, Lsn{0x200}, testing::bytes_of(0x100, 7)});
  e.p.propose(Lsn{0x300}, testing::bytes_of(0x40, 9));
  auto o = e.p.on_message(A, ack(4, 0x340));
  CHECK(e.p.commit_lsn() == Lsn{});  // one acceptor is not a quorum
  CHECK_FALSE(o.commit_advanced);
  o = e.p.on_message(B, ack(4, 0x2f0));  // below term_start: never counts
#ifndef WQ_CANARY_COMMIT_BELOW_TERM_START
#ifndef WQ_CANARY_COMMIT_MAX
  CHECK(e.p.commit_lsn() == Lsn{});
  CHECK_FALSE(o.commit_advanced);
#endif
#endif
  o = e.p.on_message(B, ack(4, 0x340));
  CHECK(e.p.commit_lsn() == Lsn{0x340});
  CHECK(o.commit_advanced);
  // The advance is broadcast in a heartbeat to acceptors that got no data.
  auto hbs = sends_of<AppendRequest>(o);
  REQUIRE(!hbs.empty());
  for (auto& [to, a] : hbs) {
    CHECK(a.commit_lsn == Lsn{0x340});
  }
  e.p.check_invariants();
}

TEST_CASE("proposer: only the highest acknowledged flush of a quorum commits") {
  Elected e;
  e.p.on_message(A, ReadWalResponse{Term{4}, Lsn{0x200}, testing::bytes_of(0x100, 7)});
  e.p.propose(Lsn{0x300}, testing::bytes_of(0x40, 9));
  e.p.propose(Lsn{0x340}, testing::bytes_of(0x40, 9));
  e.p.on_message(A, ack(4, 0x380));
  e.p.on_message(B, ack(4, 0x340));
#ifndef WQ_CANARY_COMMIT_MAX
  CHECK(e.p.commit_lsn() == Lsn{0x340});
#endif
}
#endif

TEST_CASE("proposer: a higher term in any reply supersedes it (rule 9)") {
  Elected e;
  auto o = e.p.on_message(B, ack(7, 0));
  REQUIRE(o.superseded_by.has_value());
  CHECK(*o.superseded_by == Term{7});
  CHECK(e.p.state() == Proposer::State::kSuperseded);
  CHECK_FALSE(e.p.can_propose(1));
  CHECK(e.p.tick().sends.empty());

  Elected f;
  o = f.p.on_message(C, Refused{Term{9}, RefuseReason::kStaleTerm, "stale"});
  CHECK(o.superseded_by == Term{9});
}

TEST_CASE("proposer: votes are counted only as replies to its own requests") {
  Proposer p(cfg());
  for (NodeId id : {A, B, C}) p.on_connected(id);
  p.on_message(A, AcceptorGreeting{A, Term{0}});
  p.on_message(B, AcceptorGreeting{B, Term{0}});
  REQUIRE(p.term() == Term{1});
  // A reconnects: a reply still in flight on the old connection must not count,
  // and neither does a reply before the new connection's request.
  p.on_disconnected(A);
  p.on_message(A, vote(1, true, 0, TermHistory{}));
  p.on_connected(A);
  p.on_message(A, vote(1, true, 0, TermHistory{}));
  // C answered a VoteRequest it was never sent.
  p.on_message(C, vote(1, true, 0, TermHistory{}));
  p.on_message(B, vote(1, true, 0, TermHistory{}));
  CHECK(p.state() == Proposer::State::kCampaigning);
  // A refusal at our own term is not a vote either.
  p.on_message(A, AcceptorGreeting{A, Term{1}});
  p.on_message(A, vote(1, false, 0, TermHistory{}));
  CHECK(p.state() == Proposer::State::kCampaigning);
  // C greets and votes properly.
  p.on_message(C, AcceptorGreeting{C, Term{0}});
  auto o = p.on_message(C, vote(1, true, 0, TermHistory{}));
  CHECK(p.state() == Proposer::State::kElected);
  CHECK(o.elected_now);
  // Bootstrap: nobody has WAL, the term starts at the configured timeline start.
  CHECK(p.term_start_lsn() == Lsn{0x100});
  CHECK(p.term_history() == hist({{1, 0x100}}));
  // A (refused at our term, so in our term) is brought in too.
  auto pes = sends_of<ProposerElected>(o);
  CHECK(pes.size() == 3);
}

TEST_CASE("proposer: a campaign without enough votes retries with a higher term") {
  Proposer p(cfg());
  for (NodeId id : {A, B, C}) p.on_connected(id);
  p.on_message(A, AcceptorGreeting{A, Term{5}});
  p.on_message(B, AcceptorGreeting{B, Term{0}});
  REQUIRE(p.term() == Term{6});
  ProposerOutput o;
  for (std::uint32_t k = 0; k < p.config().election_timeout_ticks; ++k) o = p.tick();
  CHECK(p.term() == Term{7});
  CHECK(sends_of<VoteRequest>(o).size() == 2);
}

TEST_CASE("proposer: the buffer is bounded; committed WAL makes room") {
  auto c = cfg();
  c.window_bytes_max = 0x100;
  c.buffer_bytes_max = 0x200;
  Proposer p(c);
  for (NodeId id : {A, B, C}) p.on_connected(id);
  p.on_message(A, AcceptorGreeting{A, Term{0}});
  p.on_message(B, AcceptorGreeting{B, Term{0}});
  p.on_message(A, vote(1, true, 0, TermHistory{}));
  p.on_message(B, vote(1, true, 0, TermHistory{}));
  REQUIRE(p.state() == Proposer::State::kElected);
  CHECK_FALSE(p.can_propose(0x101));  // larger than the window
  p.propose(Lsn{0x100}, testing::bytes_of(0x100, 1));
  p.propose(Lsn{0x200}, testing::bytes_of(0x100, 2));
  CHECK_FALSE(p.can_propose(1));
  p.on_message(A, ack(1, 0x200));
  p.on_message(B, ack(1, 0x200));
  CHECK(p.commit_lsn() == Lsn{0x200});
  CHECK(p.can_propose(0x100));
  p.propose(Lsn{0x300}, testing::bytes_of(0x100, 3));
  CHECK(p.buffer_start_lsn() == Lsn{0x200});
  p.check_invariants();
}

}  // namespace
}  // namespace wq::core
