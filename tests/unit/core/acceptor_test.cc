// Acceptor handlers by hand: refusals, the order of actions (sync, persist, reply),
// truncation before the history persist, commit rule 7, stale terms.
#include <doctest/doctest.h>

#include "core/acceptor.h"
#include "cluster.h"

namespace wq::core {
namespace {

using testing::bytes_of;
using testing::test_greeting;

constexpr ConnId kConn = 7;

template <class T>
const T* find(const Actions& a) {
  for (const Action& x : a) {
    if (auto* p = std::get_if<T>(&x)) return p;
  }
  return nullptr;
}

template <class M>
const M* sent(const Actions& a) {
  for (const Action& x : a) {
    if (auto* s = std::get_if<Send>(&x)) {
      if (auto* m = std::get_if<M>(&s->msg)) return m;
    }
  }
  return nullptr;
}

std::vector<std::size_t> kinds(const Actions& a) {
  std::vector<std::size_t> out;
  for (const Action& x : a) out.push_back(x.index());
  return out;
}

constexpr std::size_t kPersist = 0, kWrite = 1, kSync = 2, kTruncate = 3, kServeRead = 4,
                      kSend = 6;

TermHistory hist(std::vector<std::pair<std::uint64_t, std::uint64_t>> e) {
  TermHistory t;
  for (auto [term, lsn] : e) t.push(Term{term}, Lsn{lsn});
  return t;
}

// A fresh acceptor that voted in `term` and accepted ProposerElected with history
// [(term, 0x100)] on kConn.
Acceptor elected_acceptor(std::uint64_t term) {
  Acceptor a(NodeId{1}, Acceptor::initial(test_greeting()), Lsn{});
  a.on_vote_request(kConn, VoteRequest{Term{term}});
  ProposerElected pe{Term{term}, Lsn{0x100}, hist({{term, 0x100}}), Lsn{0x100}};
  Actions r = a.on_proposer_elected(kConn, pe);
  REQUIRE(sent<Refused>(r) == nullptr);
  return a;
}

AppendRequest append(std::uint64_t term, std::uint64_t begin, std::size_t n,
                     std::uint64_t commit = 0) {
  return AppendRequest{Term{term}, Lsn{begin}, Lsn{begin + n}, Lsn{commit}, Lsn{},
                       bytes_of(n, 0xAB)};
}

TEST_CASE("acceptor: greeting answers its term; wrong timeline is refused") {
  Acceptor a(NodeId{1}, Acceptor::initial(test_greeting()), Lsn{});
  Actions r = a.on_greeting(kConn, test_greeting());
  REQUIRE(sent<AcceptorGreeting>(r));
  CHECK(sent<AcceptorGreeting>(r)->node_id == NodeId{1});
  CHECK(sent<AcceptorGreeting>(r)->term == Term{0});

  ProposerGreeting bad = test_greeting();
  bad.system_id = 43;
  r = a.on_greeting(kConn, bad);
  REQUIRE(sent<Refused>(r));
  CHECK(sent<Refused>(r)->reason == RefuseReason::kWrongTimeline);
  bad = test_greeting();
  bad.wal_seg_size = 2048;
  CHECK(sent<Refused>(a.on_greeting(kConn, bad))->reason == RefuseReason::kWrongTimeline);
  bad = test_greeting();
  bad.timeline.timeline.bytes[5] = 9;
  CHECK(sent<Refused>(a.on_greeting(kConn, bad))->reason == RefuseReason::kWrongTimeline);
}

TEST_CASE("acceptor: a vote syncs buffered WAL, then persists the term, then replies") {
  Acceptor a = elected_acceptor(2);
  a.on_append_request(kConn, append(2, 0x100, 50));
  CHECK(a.write_lsn() == Lsn{0x132});
  CHECK(a.flush_lsn() == Lsn{0x100});

  Actions r = a.on_vote_request(kConn + 1, VoteRequest{Term{3}});
#ifndef WQ_CANARY_VOTE_BEFORE_PERSIST
  CHECK(kinds(r) == std::vector<std::size_t>{kSync, kPersist, kSend});
#endif
  CHECK(find<SyncWal>(r)->upto == Lsn{0x132});
  CHECK(find<PersistControl>(r)->state.term == Term{3});
  const VoteResponse* v = sent<VoteResponse>(r);
  REQUIRE(v);
  CHECK(v->vote_given);
  CHECK(v->term == Term{3});
  CHECK(v->flush_lsn == Lsn{0x132});
  CHECK(v->term_history == hist({{2, 0x100}}));
  CHECK(std::get<Send>(r.back()).to == kConn + 1);
  CHECK(a.persisted_control().term == Term{3});
  a.check_invariants();
}

TEST_CASE("acceptor: one vote per term; equal and lower terms are refused with its state") {
  Acceptor a(NodeId{1}, Acceptor::initial(test_greeting()), Lsn{});
  CHECK(sent<VoteResponse>(a.on_vote_request(1, VoteRequest{Term{4}}))->vote_given);
  Actions r = a.on_vote_request(2, VoteRequest{Term{4}});
  CHECK(kinds(r) == std::vector<std::size_t>{kSend});
  CHECK_FALSE(sent<VoteResponse>(r)->vote_given);
  CHECK(sent<VoteResponse>(r)->term == Term{4});
  r = a.on_vote_request(2, VoteRequest{Term{3}});
  CHECK_FALSE(sent<VoteResponse>(r)->vote_given);
  CHECK(a.term() == Term{4});
}

TEST_CASE("acceptor: the vote reply carries the history cut at flush_lsn") {
  ControlState s = Acceptor::initial(test_greeting());
  s.term = Term{5};
  s.term_history = hist({{1, 0x100}, {5, 0x300}});  // adopted, WAL not there yet
  s.timeline_start_lsn = Lsn{0x100};
  s.commit_lsn = Lsn{0x100};
  Acceptor a(NodeId{1}, s, Lsn{0x200});
  Actions r = a.on_vote_request(kConn, VoteRequest{Term{6}});
  const VoteResponse* v = sent<VoteResponse>(r);
  REQUIRE(v);
  CHECK(v->term_history == hist({{1, 0x100}}));
  CHECK(v->flush_lsn == Lsn{0x200});
}

TEST_CASE("acceptor: a corrupt acceptor refuses to vote") {
  ControlState s = Acceptor::initial(test_greeting());
  s.corrupt = true;
  Acceptor a(NodeId{1}, s, Lsn{});
  Actions r = a.on_vote_request(kConn, VoteRequest{Term{1}});
  REQUIRE(sent<Refused>(r));
  CHECK(sent<Refused>(r)->reason == RefuseReason::kCorrupt);
  CHECK(a.term() == Term{0});
}

TEST_CASE("acceptor: ProposerElected only in the term it voted in") {
  Acceptor a(NodeId{1}, Acceptor::initial(test_greeting()), Lsn{});
  a.on_vote_request(kConn, VoteRequest{Term{3}});
  ProposerElected higher{Term{4}, Lsn{0x100}, hist({{4, 0x100}}), Lsn{0x100}};
  CHECK(sent<Refused>(a.on_proposer_elected(kConn, higher))->reason ==
        RefuseReason::kTermMismatch);
  ProposerElected lower{Term{2}, Lsn{0x100}, hist({{2, 0x100}}), Lsn{0x100}};
  CHECK(sent<Refused>(a.on_proposer_elected(kConn, lower))->reason == RefuseReason::kStaleTerm);
  CHECK(sent<Refused>(a.on_proposer_elected(kConn, lower))->term == Term{3});
  CHECK(a.term_history().empty());
}

TEST_CASE("acceptor: ProposerElected with a wrong start point is refused") {
  Acceptor a = elected_acceptor(2);
  a.on_append_request(kConn, append(2, 0x100, 0x100));
  a.flush_wal();
  a.on_vote_request(kConn, VoteRequest{Term{3}});
  // Common point with [(2,0x100),(3,0x180)] is 0x180; the proposer claims 0x150.
  ProposerElected pe{Term{3}, Lsn{0x150}, hist({{2, 0x100}, {3, 0x180}}), Lsn{0x100}};
  Actions r = a.on_proposer_elected(kConn, pe);
  REQUIRE(sent<Refused>(r));
  CHECK(sent<Refused>(r)->reason == RefuseReason::kHistoryMismatch);
  CHECK(find<TruncateWal>(r) == nullptr);
  CHECK(a.write_lsn() == Lsn{0x200});
}

TEST_CASE("acceptor: ProposerElected truncates at the common point before persisting history") {
  Acceptor a = elected_acceptor(2);
  a.on_append_request(kConn, append(2, 0x100, 0x100));
  a.flush_wal();
  a.on_append_request(kConn, append(2, 0x200, 0x10));  // unsynced tail
  a.on_vote_request(kConn, VoteRequest{Term{3}});      // syncs it
  CHECK(a.flush_lsn() == Lsn{0x210});
  ProposerElected pe{Term{3}, Lsn{0x180}, hist({{2, 0x100}, {3, 0x180}}), Lsn{0x100}};
  Actions r = a.on_proposer_elected(kConn, pe);
#if !defined(WQ_CANARY_SKIP_COMMON_POINT) && !defined(WQ_CANARY_NO_TRUNCATE)
  CHECK(kinds(r) == std::vector<std::size_t>{kTruncate, kPersist});
  CHECK(find<TruncateWal>(r)->at == Lsn{0x180});
  CHECK(a.flush_lsn() == Lsn{0x180});
  CHECK(a.write_lsn() == Lsn{0x180});
#endif
  CHECK(find<PersistControl>(r)->state.term_history == pe.term_history);
  CHECK(a.elected_conn() == kConn);
  a.check_invariants();
}

TEST_CASE("acceptor: a fresh acceptor starts its WAL at the proposer's first LSN") {
  Acceptor a(NodeId{1}, Acceptor::initial(test_greeting()), Lsn{});
  a.on_vote_request(kConn, VoteRequest{Term{1}});
  ProposerElected pe{Term{1}, Lsn{0x100}, hist({{1, 0x100}}), Lsn{0x100}};
  Actions r = a.on_proposer_elected(kConn, pe);
  REQUIRE(find<TruncateWal>(r));
  CHECK(find<TruncateWal>(r)->at == Lsn{0x100});
  CHECK(a.flush_lsn() == Lsn{0x100});
  CHECK(a.control().timeline_start_lsn == Lsn{0x100});
  CHECK(a.commit_lsn() == Lsn{0x100});
}

TEST_CASE("acceptor: appends need the term and its ProposerElected") {
  Acceptor a(NodeId{1}, Acceptor::initial(test_greeting()), Lsn{});
  a.on_vote_request(kConn, VoteRequest{Term{2}});
  // Voted in 2 but no ProposerElected yet.
  CHECK(sent<Refused>(a.on_append_request(kConn, append(2, 0x100, 8)))->reason ==
        RefuseReason::kNotElected);
  Acceptor b = elected_acceptor(2);
  CHECK(sent<Refused>(b.on_append_request(kConn, append(3, 0x100, 8)))->reason ==
        RefuseReason::kNotElected);
#ifndef WQ_CANARY_STALE_APPEND
  b.on_vote_request(kConn, VoteRequest{Term{3}});
  Actions r = b.on_append_request(kConn, append(2, 0x100, 8));
  REQUIRE(sent<Refused>(r));
  CHECK(sent<Refused>(r)->reason == RefuseReason::kStaleTerm);
  CHECK(sent<Refused>(r)->term == Term{3});
  CHECK(b.write_lsn() == Lsn{0x100});
#endif
}

TEST_CASE("acceptor: appends are sequential; a gap is refused, an overlap adds only the tail") {
  Acceptor a = elected_acceptor(2);
  CHECK(sent<Refused>(a.on_append_request(kConn, append(2, 0x108, 8)))->reason ==
        RefuseReason::kHistoryMismatch);
  Actions r = a.on_append_request(kConn, append(2, 0x100, 16));
  CHECK(kinds(r) == std::vector<std::size_t>{kWrite});
  r = a.on_append_request(kConn, append(2, 0x108, 16));  // overlaps 8 bytes
  REQUIRE(find<WriteWal>(r));
  CHECK(find<WriteWal>(r)->begin == Lsn{0x110});
  CHECK(find<WriteWal>(r)->bytes.size() == 8);
  r = a.on_append_request(kConn, append(2, 0x100, 8));  // duplicate
  CHECK(find<WriteWal>(r) == nullptr);
  CHECK(a.write_lsn() == Lsn{0x118});
}

TEST_CASE("acceptor: acknowledges only synced WAL") {
  Acceptor a = elected_acceptor(2);
  Actions r = a.on_append_request(kConn, append(2, 0x100, 32));
#ifndef WQ_CANARY_ACK_BEFORE_SYNC
  CHECK(sent<AppendResponse>(r) == nullptr);
  CHECK(a.flush_lsn() == Lsn{0x100});
  r = a.flush_wal();
  CHECK(kinds(r) == std::vector<std::size_t>{kSync, kSend});
  CHECK(sent<AppendResponse>(r)->flush_lsn == Lsn{0x120});
  CHECK(std::get<Send>(r.back()).to == kConn);
  CHECK(a.flush_wal().empty());
  // Async variant.
  a.on_append_request(kConn, append(2, 0x120, 32));
  r = a.on_wal_synced(Lsn{0x140});
  CHECK(sent<AppendResponse>(r)->flush_lsn == Lsn{0x140});
#endif
}

TEST_CASE("acceptor: commit_lsn = max(old, min(proposer commit, flush_lsn)) (rule 7)") {
  Acceptor a = elected_acceptor(2);
  a.on_append_request(kConn, append(2, 0x100, 0x100, 0x180));
#ifndef WQ_CANARY_ACK_BEFORE_SYNC
  CHECK(a.commit_lsn() == Lsn{0x100});  // not above flush
#endif
  a.flush_wal();
  Actions r = a.on_append_request(kConn, append(2, 0x200, 0, 0x180));  // heartbeat
  CHECK(a.commit_lsn() == Lsn{0x180});
  CHECK(sent<AppendResponse>(r)->commit_lsn == Lsn{0x180});
  a.on_append_request(kConn, append(2, 0x200, 0, 0x150));  // lower: no effect
  CHECK(a.commit_lsn() == Lsn{0x180});
  a.check_invariants();
}

TEST_CASE("acceptor: commit_lsn is persisted lazily, once a segment ahead") {
  Acceptor a = elected_acceptor(2);  // wal_seg_size 1024
  a.on_append_request(kConn, append(2, 0x100, 2048));
  a.flush_wal();
  Actions r = a.on_append_request(kConn, append(2, 0x900, 0, 0x200));
  CHECK(find<PersistControl>(r) == nullptr);
  CHECK(a.persisted_control().commit_lsn == Lsn{0x100});
  r = a.on_append_request(kConn, append(2, 0x900, 0, 0x500));
  REQUIRE(find<PersistControl>(r));
  CHECK(find<PersistControl>(r)->state.commit_lsn == Lsn{0x500});
}

TEST_CASE("acceptor: WAL beyond commit from a stale term stays until ProposerElected") {
  Acceptor a = elected_acceptor(2);
  a.on_append_request(kConn, append(2, 0x100, 0x100, 0x140));
  a.flush_wal();
  a.on_append_request(kConn, append(2, 0x200, 0, 0x140));
  Actions r = a.on_vote_request(kConn, VoteRequest{Term{5}});
  CHECK(find<TruncateWal>(r) == nullptr);
  CHECK(a.flush_lsn() == Lsn{0x200});
  CHECK(a.commit_lsn() == Lsn{0x140});
}

TEST_CASE("acceptor: donor reads are served only in the reader's term, up to flush") {
  Acceptor a = elected_acceptor(2);
  a.on_append_request(kConn, append(2, 0x100, 0x100));
  a.flush_wal();
  Actions r = a.on_read_wal_request(9, ReadWalRequest{Term{2}, Lsn{0x100}, Lsn{0x400}});
  REQUIRE(find<ServeRead>(r));
  CHECK(find<ServeRead>(r)->to == 9);
  CHECK(find<ServeRead>(r)->to_lsn == Lsn{0x200});
  r = a.on_read_wal_request(9, ReadWalRequest{Term{1}, Lsn{0x100}, Lsn{0x200}});
  CHECK(sent<Refused>(r)->reason == RefuseReason::kNotServing);
  a.on_vote_request(kConn, VoteRequest{Term{3}});
  r = a.on_read_wal_request(9, ReadWalRequest{Term{2}, Lsn{0x100}, Lsn{0x200}});
  CHECK(sent<Refused>(r)->reason == RefuseReason::kNotServing);
  (void)kServeRead;
}

TEST_CASE("acceptor: peer fetch serves committed WAL only") {
  Acceptor a = elected_acceptor(2);
  a.on_append_request(kConn, append(2, 0x100, 0x100, 0x180));
  a.flush_wal();
  a.on_append_request(kConn, append(2, 0x200, 0, 0x180));
  Actions r = a.on_peer_fetch_request(9, PeerFetchRequest{Lsn{0x100}, 4096});
  REQUIRE(find<ServePeerFetch>(r));
  CHECK(find<ServePeerFetch>(r)->to_lsn == Lsn{0x180});
  CHECK(sent<Refused>(a.on_peer_fetch_request(9, PeerFetchRequest{Lsn{0x180}, 4096}))->reason ==
        RefuseReason::kNotServing);
}

TEST_CASE("acceptor: restart resumes from the persisted state and the durable end") {
  Acceptor a = elected_acceptor(2);
  a.on_append_request(kConn, append(2, 0x100, 0x40));
  Actions r = a.flush_wal();
  ControlState stored = a.persisted_control();
  Acceptor b(NodeId{1}, stored, Lsn{0x140});
  CHECK(b.term() == Term{2});
  CHECK(b.flush_lsn() == Lsn{0x140});
  CHECK(b.term_history() == hist({{2, 0x100}}));
  // The restarted acceptor needs the proposer's ProposerElected again for appends:
  // it is the same term, so a resend works and cuts nothing durable.
  ProposerElected pe{Term{2}, Lsn{0x140}, hist({{2, 0x100}}), Lsn{0x100}};
  r = b.on_proposer_elected(kConn, pe);
  REQUIRE(find<TruncateWal>(r));
  CHECK(find<TruncateWal>(r)->at == Lsn{0x140});
  b.check_invariants();
}

}  // namespace
}  // namespace wq::core
