// Named deterministic scenarios through the real Acceptor and Proposer objects
// (tests/unit/core/cluster.h drives them). Each is a story the protocol must get
// right; simulator failures that reduce to a story belong here too.
#include <doctest/doctest.h>

#include "cluster.h"

namespace wq::core {
namespace {

using testing::bytes_of;
using testing::Cluster;

const NodeId A{1}, B{2}, C{3}, D{4}, E{5};

// Every acceptor's durable bytes in [from, to) equal `expect`.
void check_bytes(Cluster& c, NodeId id, Lsn from, Lsn to, std::uint8_t fill) {
  const testing::MemDisk& d = c.disk(id);
  REQUIRE(d.durable >= to);
  for (std::uint64_t x = from.value(); x < to.value(); ++x) {
    if (d.bytes[x] != fill) {
      FAIL("acceptor " << id.value() << " byte at " << x << " is " << int(d.bytes[x])
                       << ", expected " << int(fill));
    }
  }
}

void check_same(Cluster& c, const std::vector<NodeId>& ids, Lsn from, Lsn to) {
  for (NodeId id : ids) {
    REQUIRE(c.disk(id).durable >= to);
    CHECK(c.disk(id).read(from, to) == c.disk(ids.front()).read(from, to));
  }
}

std::size_t elect(Cluster& c, std::uint64_t id, const std::vector<NodeId>& to,
                  Proposer::Config cfg) {
  std::size_t p = c.add_proposer(std::move(cfg));
  for (NodeId a : to) c.connect(p, a);
  REQUIRE(c.run_until([&] { return c.proposer(p).state() == Proposer::State::kElected; }));
  (void)id;
  return p;
}

void propose(Cluster& c, std::size_t p, std::size_t n, std::uint8_t fill) {
  Proposer& pr = c.proposer(p);
  REQUIRE(pr.can_propose(n));
  Lsn at = pr.end_lsn();
  c.inject(p, pr.propose(at, bytes_of(n, fill)));
}

TEST_CASE("scenario: happy path, three acceptors hold identical committed WAL") {
  Cluster c({A, B, C});
  std::size_t p = elect(c, 100, {A, B, C}, c.config(100));
  c.run();
  for (int k = 0; k < 10; ++k) {
    propose(c, p, 0x30, static_cast<std::uint8_t>(k + 1));
    c.run();
  }
  Proposer& pr = c.proposer(p);
  CHECK(pr.end_lsn() == Lsn{0x100 + 10 * 0x30});
  CHECK(pr.commit_lsn() == pr.end_lsn());
  for (NodeId id : {A, B, C}) {
    CHECK(c.acceptor(id).flush_lsn() == pr.end_lsn());
    CHECK(c.acceptor(id).commit_lsn() == pr.end_lsn());
  }
  check_same(c, {A, B, C}, Lsn{0x100}, pr.end_lsn());
  check_bytes(c, B, Lsn{0x100}, Lsn{0x130}, 1);
}

TEST_CASE("scenario: five acceptors commit with three") {
  Cluster c({A, B, C, D, E});
  std::size_t p = elect(c, 100, {A, B, C}, c.config(100));
  c.run();
  propose(c, p, 0x40, 7);
  c.run();
  CHECK(c.proposer(p).commit_lsn() == Lsn{0x140});
  c.connect(p, D);
  c.connect(p, E);
  c.run();
  check_same(c, {A, B, C, D, E}, Lsn{0x100}, Lsn{0x140});
}

TEST_CASE("Figure 8: an entry from an old term on a quorum is not committed by counting") {
  Cluster c({A, B, C});
  // Term 1: rec1 committed everywhere, then X1, X2 reach A only.
  std::size_t p1 = elect(c, 101, {A, B, C}, c.config(101));
  c.run();
  propose(c, p1, 0x50, 0x01);  // [0x100, 0x150)
  c.run();
  REQUIRE(c.proposer(p1).commit_lsn() == Lsn{0x150});
  c.disconnect(p1, B);
  c.disconnect(p1, C);
  propose(c, p1, 0x50, 0xA1);  // X1 [0x150, 0x1A0)
  propose(c, p1, 0x50, 0xA2);  // X2 [0x1A0, 0x1F0)
  c.run();
  REQUIRE(c.acceptor(A).flush_lsn() == Lsn{0x1F0});
  c.disconnect_all(p1);

  // Term 2: elected by B and C; only B takes its ProposerElected and Y1.
  std::size_t p2 = elect(c, 102, {B, C}, c.config(102));
  REQUIRE(c.proposer(p2).term() == Term{2});
  c.disconnect(p2, C);
  c.run();
  propose(c, p2, 0x50, 0xB1);  // Y1 [0x150, 0x1A0)
  c.run();
  REQUIRE(c.acceptor(B).flush_lsn() == Lsn{0x1A0});
  c.disconnect_all(p2);
  REQUIRE(c.acceptor(C).term_history().last_term() == Term{1});

  // Term 3: elected by A and C; donor A (last_log_term 1, longest), so X is
  // re-replicated: X1 reaches C and sits on a quorum (A, C) in term 3.
  auto cfg3 = c.config(103);
  cfg3.window_bytes_max = 0x50;  // one record per read
  cfg3.heartbeat_ticks = 1;
  std::size_t p3 = elect(c, 103, {A, C}, cfg3);
  Proposer& pr3 = c.proposer(p3);
  REQUIRE(pr3.term() == Term{3});
  REQUIRE(pr3.donor() == A);
  REQUIRE(pr3.term_start_lsn() == Lsn{0x1F0});
  c.tick(p3);
  REQUIRE(c.run_until([&] {
    return pr3.acked_flush_lsn(C) == Lsn{0x1A0} && pr3.acked_flush_lsn(A) == Lsn{0x1F0};
  }));
  check_bytes(c, A, Lsn{0x150}, Lsn{0x1A0}, 0xA1);
  check_bytes(c, C, Lsn{0x150}, Lsn{0x1A0}, 0xA1);
  // C's ack is below term_start_lsn: C has not reached term 3's switch point and
  // its last_log_term is still 1, so counting it would be unsafe.
  Lsn p3_commit = pr3.commit_lsn();
  CHECK(p3_commit < Lsn{0x1A0});
  c.disconnect_all(p3);

  // Term 4: elected by B and C. B's last_log_term 2 beats C's 1, so Y1 wins and
  // X1 is cut on C — which is fine only because nobody committed it.
  std::size_t p4 = elect(c, 104, {B, C}, c.config(104));
  Proposer& pr4 = c.proposer(p4);
  CHECK(pr4.donor() == B);
  c.run();
  propose(c, p4, 0x20, 0xC1);
  c.run();
  CHECK(pr4.commit_lsn() == pr4.end_lsn());
  check_bytes(c, B, Lsn{0x150}, Lsn{0x1A0}, 0xB1);
  check_bytes(c, C, Lsn{0x150}, Lsn{0x1A0}, 0xB1);
  // Whatever term 3 committed is unchanged (I2).
  if (p3_commit > Lsn{0x150}) check_bytes(c, C, Lsn{0x150}, p3_commit, 0xA1);
}

TEST_CASE("scenario: a stale proposer is refused and stops once a newer term is elected") {
  Cluster c({A, B, C});
  std::size_t p1 = elect(c, 101, {A, B, C}, c.config(101));
  c.run();
  propose(c, p1, 0x40, 1);
  c.run();
  Lsn committed = c.proposer(p1).commit_lsn();
  REQUIRE(committed == Lsn{0x140});

  std::size_t p2 = elect(c, 102, {A, B, C}, c.config(102));
  c.run();
  CHECK(c.proposer(p2).term() == Term{2});
  CHECK(c.proposer(p2).term_start_lsn() == Lsn{0x140});

  propose(c, p1, 0x40, 0xEE);  // the old leader keeps writing
  c.run();
  CHECK(c.proposer(p1).state() == Proposer::State::kSuperseded);
  CHECK(c.proposer(p1).commit_lsn() == committed);
  for (NodeId id : {A, B, C}) CHECK(c.acceptor(id).write_lsn() == Lsn{0x140});

  propose(c, p2, 0x40, 2);
  c.run();
  CHECK(c.proposer(p2).commit_lsn() == Lsn{0x180});
  for (NodeId id : {A, B, C}) check_bytes(c, id, Lsn{0x140}, Lsn{0x180}, 2);
}

TEST_CASE("scenario: an acceptor crash loses only unsynced WAL and catches up") {
  Cluster c({A, B, C});
  std::size_t p = elect(c, 100, {A, B, C}, c.config(100));
  c.run();
  c.hold_sync(A, true);
  propose(c, p, 0x40, 3);
  c.run();
  CHECK(c.proposer(p).commit_lsn() == Lsn{0x140});  // B and C
  CHECK(c.acceptor(A).write_lsn() == Lsn{0x140});
  CHECK(c.acceptor(A).flush_lsn() == Lsn{0x100});
  c.crash_acceptor(A);
  CHECK(c.acceptor(A).flush_lsn() == Lsn{0x100});
  CHECK(c.acceptor(A).term() == Term{1});  // the vote survived: it was persisted
  c.hold_sync(A, false);
  c.connect(p, A);
  c.run();
  propose(c, p, 0x40, 4);
  c.run();
  CHECK(c.acceptor(A).flush_lsn() == Lsn{0x180});
  check_same(c, {A, B, C}, Lsn{0x100}, Lsn{0x180});
  CHECK(c.proposer(p).commit_lsn() == Lsn{0x180});
}

TEST_CASE("scenario: a new term recovers a lagging acceptor from the donor") {
  Cluster c({A, B, C});
  std::size_t p1 = elect(c, 101, {A, B, C}, c.config(101));
  c.run();
  c.disconnect(p1, C);
  for (int k = 0; k < 5; ++k) propose(c, p1, 0x100, static_cast<std::uint8_t>(0x10 + k));
  c.run();
  CHECK(c.proposer(p1).commit_lsn() == Lsn{0x600});
  c.disconnect_all(p1);

  auto cfg = c.config(102);
  cfg.window_bytes_max = 0x180;  // several reads, each record-aligned
  std::size_t p2 = elect(c, 102, {A, B, C}, cfg);
  c.run();
  Proposer& pr = c.proposer(p2);
  CHECK(pr.term_start_lsn() == Lsn{0x600});
  CHECK(c.acceptor(C).flush_lsn() == Lsn{0x600});
  check_same(c, {A, B, C}, Lsn{0x100}, Lsn{0x600});
  // The previous term's WAL is committed through the new term's switch point.
  propose(c, p2, 0x10, 0x77);
  c.run();
  CHECK(pr.commit_lsn() == Lsn{0x610});
  for (NodeId id : {A, B, C}) CHECK(c.acceptor(id).commit_lsn() == Lsn{0x610});
}

// tests/sim swarm seed 77: with the donor's link silently dead, tick-driven
// retries (vote re-requests, read timeouts) must not pile up recovery reads.
TEST_CASE("scenario: a silent donor does not accumulate recovery reads") {
  Cluster c({A, B, C});
  std::size_t p1 = elect(c, 101, {A, B, C}, c.config(101));
  c.run();
  c.disconnect(p1, C);
  for (int k = 0; k < 3; ++k) propose(c, p1, 0x100, static_cast<std::uint8_t>(0x20 + k));
  c.run();
  c.disconnect_all(p1);

  auto cfg = c.config(102);
  cfg.window_bytes_max = 0x100;
  cfg.election_timeout_ticks = 3;
  std::size_t p2 = elect(c, 102, {A, B, C}, cfg);
  Proposer& pr = c.proposer(p2);
  REQUIRE(pr.donor().has_value());
  NodeId donor = *pr.donor();
  for (int round = 0; round < 200; ++round) {
    c.drop_link(p2, donor);
    // The other acceptors' links lose a message now and then too, so they fall
    // back to re-voting and ProposerElected while their reads are outstanding.
    if (round % 7 == 0) {
      for (NodeId id : {A, B, C}) {
        if (id != donor) c.drop_link(p2, id);
      }
    }
    c.tick(p2);
    for (int k = 0; k < 5; ++k) c.step();
    pr.check_invariants();
  }
  // The link heals (the driver notices and reconnects): recovery completes.
  c.disconnect(p2, donor);
  c.connect(p2, donor);
  c.run();
  check_same(c, {A, B, C}, Lsn{0x100}, Lsn{0x400});
}

TEST_CASE("scenario: a proposer reconnect resends ProposerElected and resumes") {
  Cluster c({A, B, C});
  std::size_t p = elect(c, 100, {A, B, C}, c.config(100));
  c.run();
  propose(c, p, 0x40, 5);
  c.run();
  c.disconnect(p, B);
  propose(c, p, 0x40, 6);
  c.run();
  c.connect(p, B);
  c.run();
  CHECK(c.acceptor(B).flush_lsn() == Lsn{0x180});
  check_same(c, {A, B, C}, Lsn{0x100}, Lsn{0x180});
  CHECK(c.proposer(p).state() == Proposer::State::kElected);
  CHECK(c.proposer(p).term() == Term{1});
}

}  // namespace
}  // namespace wq::core
