// Acceptor::on_peer_fetch_response by hand (docs/PROTOCOL.md rule 10): a lagging
// acceptor appends a peer's committed WAL only where its own WAL is a prefix of
// the peer's committed log, cuts a divergent tail above commit_lsn, adopts the
// history before the bytes, raises (never lowers) its term, and a corrupt
// acceptor is repaired once it reaches its commit_lsn.
#include <doctest/doctest.h>

#include "core/acceptor.h"
#include "cluster.h"

namespace wq::core {
namespace {

using testing::bytes_of;
using testing::test_greeting;
using Kind = Acceptor::PeerFetchOutcome::Kind;

constexpr ConnId kConn = 7;

TermHistory hist(std::vector<std::pair<std::uint64_t, std::uint64_t>> e) {
  TermHistory t;
  for (auto [term, lsn] : e) t.push(Term{term}, Lsn{lsn});
  return t;
}

template <class T>
const T* find(const Actions& a) {
  for (const Action& x : a) {
    if (auto* p = std::get_if<T>(&x)) return p;
  }
  return nullptr;
}

std::vector<std::size_t> kinds(const Actions& a) {
  std::vector<std::size_t> out;
  for (const Action& x : a) out.push_back(x.index());
  return out;
}
constexpr std::size_t kPersist = 0, kWrite = 1, kSync = 2, kTruncate = 3;

// An acceptor elected in `term` at 0x100 holding `n` bytes of that term, synced.
Acceptor with_wal(std::uint64_t term, std::size_t n, std::uint64_t commit = 0) {
  Acceptor a(NodeId{1}, Acceptor::initial(test_greeting()), Lsn{});
  a.on_vote_request(kConn, VoteRequest{Term{term}});
  REQUIRE(find<Send>(a.on_proposer_elected(
      kConn, ProposerElected{Term{term}, Lsn{0x100}, hist({{term, 0x100}}), Lsn{0x100}})) ==
          nullptr);
  if (n > 0) {
    a.on_append_request(kConn, AppendRequest{Term{term}, Lsn{0x100}, Lsn{0x100 + n}, Lsn{commit},
                                             Lsn{}, bytes_of(n, 0xAB)});
    a.flush_wal();
    a.on_append_request(kConn, AppendRequest{Term{term}, Lsn{0x100 + n}, Lsn{0x100 + n},
                                             Lsn{commit}, Lsn{}, {}});  // heartbeat: commit
  }
  return a;
}

PeerFetchResponse reply(std::uint64_t term, std::uint64_t commit, TermHistory h,
                        std::uint64_t begin, std::size_t n) {
  return PeerFetchResponse{Term{term}, Lsn{commit}, std::move(h), Lsn{begin},
                           bytes_of(n, 0xCD)};
}

TEST_CASE("peer recovery: a prefix appends, persisting the history before the bytes") {
  Acceptor a = with_wal(1, 0x100);
  CHECK(a.peer_fetch_from() == Lsn{0x200});
  // The peer committed term 1 up to 0x280, then term 3 from 0x280 to 0x400.
  auto out = a.on_peer_fetch_response(reply(3, 0x400, hist({{1, 0x100}, {3, 0x280}}), 0x200, 0x200));
  REQUIRE(out.kind == Kind::kAppended);
  CHECK(kinds(out.actions) == std::vector<std::size_t>{kPersist, kWrite, kSync});
  CHECK(find<PersistControl>(out.actions)->state.term_history == hist({{1, 0x100}, {3, 0x280}}));
  CHECK(find<PersistControl>(out.actions)->state.term == Term{3});  // raised with the history
  CHECK(a.flush_lsn() == Lsn{0x400});
  CHECK(a.commit_lsn() == Lsn{0x400});
  CHECK(a.term() == Term{3});
  CHECK(!a.elected_conn());  // term 1's proposer is superseded
  a.check_invariants();
  // Nothing more to take.
  auto again = a.on_peer_fetch_response(reply(3, 0x400, hist({{1, 0x100}, {3, 0x280}}), 0x400, 0));
  CHECK(again.kind == Kind::kCaughtUp);
}

TEST_CASE("peer recovery: same history, same term: only the bytes, no control write") {
  Acceptor a = with_wal(2, 0x100);
  auto out = a.on_peer_fetch_response(reply(2, 0x300, hist({{2, 0x100}}), 0x200, 0x100));
  REQUIRE(out.kind == Kind::kAppended);
  CHECK(kinds(out.actions) == std::vector<std::size_t>{kWrite, kSync});
  CHECK(a.elected_conn() == kConn);  // the current proposer keeps streaming
  CHECK(a.term() == Term{2});
}

TEST_CASE("peer recovery: a divergent tail above commit is cut first") {
  // Term 2 wrote [0x100, 0x300) here, committed only to 0x180; the committed
  // log switched to term 4 at 0x200.
  Acceptor a = with_wal(2, 0x200, 0x180);
  CHECK(a.commit_lsn() == Lsn{0x180});
  auto out = a.on_peer_fetch_response(reply(4, 0x500, hist({{2, 0x100}, {4, 0x200}}), 0x300, 0x100));
  // A reply at our end, but our tail is not the committed log: truncate, ask again.
  REQUIRE(out.kind == Kind::kTruncated);
  CHECK(kinds(out.actions) == std::vector<std::size_t>{kTruncate, kPersist});
  CHECK(find<TruncateWal>(out.actions)->at == Lsn{0x200});
  CHECK(a.term() == Term{4});
  CHECK(a.peer_fetch_from() == Lsn{0x200});
  a.check_invariants();
  // Now the old term cannot append its tail again.
  Actions r = a.on_append_request(kConn, AppendRequest{Term{2}, Lsn{0x200}, Lsn{0x210}, Lsn{},
                                                       Lsn{}, bytes_of(0x10, 1)});
  REQUIRE(find<Send>(r));
  CHECK(std::get<Refused>(find<Send>(r)->msg).reason == RefuseReason::kStaleTerm);
  out = a.on_peer_fetch_response(reply(4, 0x500, hist({{2, 0x100}, {4, 0x200}}), 0x200, 0x300));
  REQUIRE(out.kind == Kind::kAppended);
  CHECK(a.flush_lsn() == Lsn{0x500});
  CHECK(a.term_history() == hist({{2, 0x100}, {4, 0x200}}));
  a.check_invariants();
}

TEST_CASE("peer recovery: a stale or malformed reply changes nothing") {
  Acceptor a = with_wal(1, 0x100);
  ControlState before = a.control();
  CHECK(a.on_peer_fetch_response(reply(1, 0x400, hist({{1, 0x100}}), 0x180, 0x100)).kind ==
        Kind::kIgnored);  // not at our end
  CHECK(a.on_peer_fetch_response(reply(1, 0x250, hist({{1, 0x100}}), 0x200, 0x100)).kind ==
        Kind::kIgnored);  // bytes beyond the peer's commit
  CHECK(a.on_peer_fetch_response(reply(1, 0x400, hist({{1, 0x100}, {3, 0x500}}), 0x200, 0x100))
            .kind == Kind::kIgnored);  // history not cut at commit
  CHECK(a.on_peer_fetch_response(reply(1, 0x400, hist({{5, 0x100}}), 0x200, 0x100)).kind ==
        Kind::kIgnored);  // no common term
  CHECK(a.control() == before);
  CHECK(a.flush_lsn() == Lsn{0x200});
}

TEST_CASE("peer recovery: buffered WAL is synced before the common point is taken") {
  Acceptor a = with_wal(1, 0x100);
  a.on_append_request(kConn, AppendRequest{Term{1}, Lsn{0x200}, Lsn{0x240}, Lsn{}, Lsn{},
                                           bytes_of(0x40, 0xAB)});
  CHECK(a.write_lsn() == Lsn{0x240});
  auto out = a.on_peer_fetch_response(reply(1, 0x400, hist({{1, 0x100}}), 0x240, 0x100));
  REQUIRE(out.kind == Kind::kAppended);
  CHECK(out.actions.front().index() == kSync);
}

TEST_CASE("peer recovery: an empty acceptor starts its WAL where the peer's timeline starts") {
  Acceptor a(NodeId{1}, Acceptor::initial(test_greeting()), Lsn{});
  CHECK(a.peer_fetch_from() == Lsn{});
  CHECK(a.on_peer_fetch_response(reply(2, 0x400, hist({{2, 0x100}}), 0x180, 0x80)).kind ==
        Kind::kIgnored);  // not the timeline start
  auto out = a.on_peer_fetch_response(reply(2, 0x400, hist({{2, 0x100}}), 0x100, 0x200));
  REQUIRE(out.kind == Kind::kAppended);
  CHECK(a.control().timeline_start_lsn == Lsn{0x100});
  CHECK(a.term() == Term{2});
  CHECK(a.flush_lsn() == Lsn{0x300});
  a.check_invariants();
}

TEST_CASE("peer recovery: the server side clamps an empty fetcher's request to the timeline start") {
  Acceptor a = with_wal(2, 0x200, 0x300);
  Actions r = a.on_peer_fetch_request(9, PeerFetchRequest{Lsn{}, 4096});
  REQUIRE(find<ServePeerFetch>(r));
  CHECK(find<ServePeerFetch>(r)->from == Lsn{0x100});
  CHECK(find<ServePeerFetch>(r)->to_lsn == Lsn{0x300});
  CHECK(find<ServePeerFetch>(r)->term_history == hist({{2, 0x100}}));
}

TEST_CASE("peer recovery: a corrupt acceptor refuses votes until repaired up to its commit") {
  Acceptor healthy = with_wal(1, 0x300, 0x400);
  ControlState st = healthy.persisted_control();
  st.commit_lsn = Lsn{0x380};
  st.corrupt = true;
  // The driver found damage after 0x200: that is its valid end.
  Acceptor a(NodeId{1}, st, Lsn{0x200});
  CHECK(find<Send>(a.on_vote_request(kConn, VoteRequest{Term{5}})) != nullptr);
  CHECK(std::get<Refused>(find<Send>(a.on_vote_request(kConn, VoteRequest{Term{5}}))->msg).reason ==
        RefuseReason::kCorrupt);
  auto out = a.on_peer_fetch_response(reply(1, 0x400, hist({{1, 0x100}}), 0x200, 0x100));
  REQUIRE(out.kind == Kind::kAppended);
  CHECK(a.corrupt());  // 0x300 < commit 0x380
  out = a.on_peer_fetch_response(reply(1, 0x400, hist({{1, 0x100}}), 0x300, 0x100));
  REQUIRE(out.kind == Kind::kAppended);
  CHECK(!a.corrupt());
  REQUIRE(find<PersistControl>(out.actions));
  CHECK(!find<PersistControl>(out.actions)->state.corrupt);
  CHECK(kinds(out.actions).back() == kPersist);  // repaired only after the bytes are durable
  Actions v = a.on_vote_request(kConn, VoteRequest{Term{5}});
  REQUIRE(find<Send>(v));
  CHECK(std::get<VoteResponse>(find<Send>(v)->msg).vote_given);
  a.check_invariants();
}

}  // namespace
}  // namespace wq::core

namespace wq::core {
namespace {

TEST_CASE("acceptor: after a failed write it continues from the stored state and the real end") {
  Acceptor a = with_wal(2, 0x100);
  ControlState stored = a.persisted_control();
  std::uint64_t cuts = a.truncation_count();
  // Appends [0x200, 0x300) were handed to the driver, whose write hit ENOSPC.
  a.on_append_request(kConn, AppendRequest{Term{2}, Lsn{0x200}, Lsn{0x300}, Lsn{}, Lsn{},
                                           bytes_of(0x100, 1)});
  CHECK(a.write_lsn() == Lsn{0x300});
  a.on_write_failed(stored, Lsn{0x200});
  CHECK(a.write_lsn() == Lsn{0x200});
  CHECK(a.flush_lsn() == Lsn{0x200});
  CHECK(a.truncation_count() == cuts + 1);  // a sync begun before must not be acknowledged
  CHECK(!a.elected_conn());
  CHECK(a.term() == Term{2});
  // The proposer resends from where the WAL really ends.
  Actions r = a.on_append_request(kConn, AppendRequest{Term{2}, Lsn{0x200}, Lsn{0x300}, Lsn{},
                                                       Lsn{}, bytes_of(0x100, 1)});
  REQUIRE(find<WriteWal>(r));
  CHECK(find<WriteWal>(r)->begin == Lsn{0x200});
  CHECK(a.elected_conn() == kConn);
  a.check_invariants();
}

}  // namespace
}  // namespace wq::core
