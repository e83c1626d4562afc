// Seeded random runs of the real Acceptor/Proposer through the in-memory driver:
// reordering across connections, unsynced writes, acceptor crashes, disconnects,
// competing and restarted proposers. A small cousin of tests/sim that keeps the
// core honest on its own; checks a ghost committed log after every step.
#include <doctest/doctest.h>

#include <cstdlib>

#include "cluster.h"
#include "core/quorum.h"

namespace wq::core {
namespace {

using testing::bytes_of;
using testing::Cluster;

struct Rng {
  std::uint64_t s;
  std::uint64_t next() {  // splitmix64
    std::uint64_t z = (s += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
  }
  std::uint64_t below(std::uint64_t n) { return next() % n; }
  bool chance(std::uint64_t percent) { return below(100) < percent; }
};

constexpr std::uint64_t kStart = 0x100;

struct Ghost {
  std::vector<std::uint8_t> committed;  // bytes [kStart, kStart + size)
  std::map<std::size_t, Lsn> seen_commit;
  std::map<std::size_t, bool> seen_elected;

  Lsn end() const { return Lsn{kStart + committed.size()}; }

  void check(Cluster& c, std::uint64_t seed, std::uint64_t step) {
    INFO("seed " << seed << " step " << step);
    for (std::size_t p = 0; p < c.proposer_count(); ++p) {
      Proposer& pr = c.proposer(p);
      if (pr.state() == Proposer::State::kElected && !seen_elected[p]) {
        seen_elected[p] = true;
        // Leader completeness: the new term starts after everything committed, and
        // the donor's WAL holds the committed bytes.
        REQUIRE(pr.term_start_lsn() >= end());
        const testing::MemDisk& d = c.disk(*pr.donor());
        if (!committed.empty()) {
          REQUIRE(d.durable >= end());
          REQUIRE(d.read(Lsn{kStart}, end()) == committed);
        }
      }
      Lsn pc = pr.commit_lsn();
      REQUIRE(pc >= seen_commit[p]);  // commit only grows
      seen_commit[p] = pc;
      if (pc > end()) {
        // New commit: every acceptor that acknowledged it in this term holds
        // identical bytes, and they extend the committed log.
        std::size_t holders = 0;
        std::vector<std::uint8_t> bytes;
        for (NodeId id : c.ids()) {
          if (pr.acked_flush_lsn(id) < pc) continue;
          const testing::MemDisk& d = c.disk(id);
          if (d.durable < pc) continue;  // crashed and lost nothing acked? checked below
          auto b = d.read(Lsn{kStart}, pc);
          if (holders == 0) bytes = b;
          REQUIRE(b == bytes);
          ++holders;
        }
        REQUIRE(holders >= quorum_size(c.ids().size()));
        REQUIRE(std::equal(committed.begin(), committed.end(), bytes.begin()));
        committed = bytes;
      }
    }
    for (NodeId id : c.ids()) {
      Acceptor& a = c.acceptor(id);
      const testing::MemDisk& d = c.disk(id);
      REQUIRE(a.commit_lsn() <= end());
      if (a.commit_lsn() > Lsn{kStart}) {
        REQUIRE(d.durable >= a.commit_lsn());
        REQUIRE(d.read(Lsn{kStart}, a.commit_lsn()) ==
                std::vector<std::uint8_t>(committed.begin(),
                                          committed.begin() +
                                              static_cast<long>(a.commit_lsn().value() - kStart)));
      }
      REQUIRE(d.stored.term == a.term());
    }
    // Committed bytes stay durable on a quorum.
    if (!committed.empty()) {
      std::size_t holders = 0;
      for (NodeId id : c.ids()) {
        const testing::MemDisk& d = c.disk(id);
        if (d.durable >= end() && d.read(Lsn{kStart}, end()) == committed) ++holders;
      }
      REQUIRE(holders >= quorum_size(c.ids().size()));
    }
  }
};

void run_seed(std::uint64_t seed, std::size_t acceptors, std::uint64_t steps) {
  std::vector<NodeId> ids;
  for (std::size_t k = 1; k <= acceptors; ++k) ids.push_back(NodeId{k});
  Cluster c(ids);
  c.set_auto_sync(false);
  Rng rng{seed};
  Ghost ghost;
  std::uint64_t next_proposer_id = 100;
  auto new_proposer = [&] {
    auto cfg = c.config(next_proposer_id++, Lsn{kStart});
    cfg.window_bytes_max = 0x100 + rng.below(0x200);
    cfg.buffer_bytes_max = 0x400;
    cfg.heartbeat_ticks = 3;
    cfg.election_timeout_ticks = 15;
    std::size_t p = c.add_proposer(cfg);
    for (NodeId id : ids) {
      if (rng.chance(85)) c.connect(p, id);
    }
    return p;
  };
  std::vector<std::size_t> live{new_proposer()};
  std::uint8_t fill = 1;

  for (std::uint64_t step = 0; step < steps; ++step) {
    std::uint64_t r = rng.below(1000);
    if (r < 600) {
      c.step_random(rng.next());
    } else if (r < 700) {
      c.flush(ids[rng.below(ids.size())]);
    } else if (r < 800) {
      for (std::size_t p : live) {
        Proposer& pr = c.proposer(p);
        std::uint64_t n = 1 + rng.below(0x60);
        if (pr.state() == Proposer::State::kElected && pr.can_propose(n)) {
          c.inject(p, pr.propose(pr.end_lsn(), bytes_of(n, fill++)));
          if (fill == 0) fill = 1;
        }
      }
    } else if (r < 900) {
      c.tick(live[rng.below(live.size())]);
    } else if (r < 950) {
      std::size_t p = live[rng.below(live.size())];
      NodeId a = ids[rng.below(ids.size())];
      if (c.connected(p, a)) {
        c.disconnect(p, a);
      } else {
        c.connect(p, a);
      }
    } else if (r < 965) {
      c.crash_acceptor(ids[rng.below(ids.size())]);
      for (std::size_t p : live) {
        for (NodeId a : ids) {
          if (!c.connected(p, a) && rng.chance(50)) c.connect(p, a);
        }
      }
    } else if (r < 975) {
      // A compute restarts or a second one appears (at most two alive).
      if (live.size() == 2 || rng.chance(50)) {
        std::size_t victim = rng.below(live.size());
        c.disconnect_all(live[victim]);
        live.erase(live.begin() + static_cast<long>(victim));
      }
      live.push_back(new_proposer());
    } else {
      // Drop superseded proposers and replace them.
      for (std::size_t k = 0; k < live.size(); ++k) {
        if (c.proposer(live[k]).state() == Proposer::State::kSuperseded) {
          c.disconnect_all(live[k]);
          live[k] = new_proposer();
        }
      }
    }
    ghost.check(c, seed, step);
  }
  std::size_t elected = 0;
  for (auto& [p, e] : ghost.seen_elected) elected += e ? 1 : 0;
  if (std::getenv("WQ_RANDOM_VERBOSE")) {
    fmt::print("seed {}: {} proposers, {} elected, committed {} bytes\n", seed,
               c.proposer_count(), elected, ghost.committed.size());
  }
}

// WQ_RANDOM_SEEDS=N runs N times more seeds (for soaking by hand).
std::uint64_t seed_factor() {
  const char* env = std::getenv("WQ_RANDOM_SEEDS");
  return env ? std::max<std::uint64_t>(1, std::strtoull(env, nullptr, 10)) : 1;
}

TEST_CASE("random: 3 acceptors, many seeds") {
  for (std::uint64_t seed = 1; seed <= 20 * seed_factor(); ++seed) run_seed(seed, 3, 2000);
}

TEST_CASE("random: 5 acceptors, some seeds") {
  for (std::uint64_t seed = 1000; seed < 1000 + 6 * seed_factor(); ++seed) {
    run_seed(seed, 5, 2000);
  }
}

}  // namespace
}  // namespace wq::core
