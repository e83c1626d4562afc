// Test helper: a small fixed-seed PRNG and generators of valid random protocol
// messages, for codec round-trip tests, garbage tests and the fuzz seed corpus.
// Deterministic: the same seed gives the same messages on every platform.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/messages.h"

namespace wq::codec::testing {

// SplitMix64: tiny, good enough for test data, no <random>.
class Prng {
 public:
  explicit Prng(std::uint64_t seed) : state_(seed) {}
  std::uint64_t next() {
    std::uint64_t z = (state_ += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
  }
  // Uniform-ish in [0, n); n > 0.
  std::uint64_t below(std::uint64_t n) { return next() % n; }
  bool coin() { return (next() & 1) != 0; }
  // Often small or extreme values, since those find bugs.
  std::uint64_t u64() {
    switch (below(4)) {
      case 0: return below(16);
      case 1: return ~std::uint64_t{0} - below(4);
      default: return next();
    }
  }
  std::uint32_t u32() { return static_cast<std::uint32_t>(u64()); }
  std::vector<std::uint8_t> bytes(std::size_t n) {
    std::vector<std::uint8_t> out(n);
    for (auto& b : out) b = static_cast<std::uint8_t>(next());
    return out;
  }

 private:
  std::uint64_t state_;
};

inline core::Id128 random_id(Prng& rng) {
  core::Id128 id;
  for (auto& b : id.bytes) b = static_cast<std::uint8_t>(rng.next());
  return id;
}

// Terms strictly increase and LSNs never decrease, as core::TermHistory requires.
inline core::TermHistory random_history(Prng& rng) {
  std::vector<core::TermSwitch> entries;
  std::uint64_t term = rng.below(3);
  std::uint64_t lsn = rng.below(1u << 20);
  const std::size_t n = rng.below(6);
  for (std::size_t i = 0; i < n; ++i) {
    term += 1 + rng.below(5);
    lsn += rng.below(3) == 0 ? 0 : rng.below(1u << 24);
    entries.push_back({core::Term(term), core::Lsn(lsn)});
  }
  return core::TermHistory(std::move(entries));
}

inline std::size_t random_wal_size(Prng& rng) {
  switch (rng.below(4)) {
    case 0: return 0;
    case 1: return rng.below(16);
    default: return rng.below(3000);
  }
}

inline core::ProposerMessage random_proposer_message(Prng& rng, std::size_t kind) {
  switch (kind % std::variant_size_v<core::ProposerMessage>) {
    case 0: {
      core::ProposerGreeting g;
      g.protocol_version = rng.u32();
      g.timeline = core::TimelineKey{random_id(rng), random_id(rng)};
      g.pg_version = rng.u32();
      g.system_id = rng.u64();
      g.wal_seg_size = rng.u32();
      g.proposer_id = core::NodeId(rng.u64());
      return g;
    }
    case 1: return core::VoteRequest{core::Term(rng.u64())};
    case 2: {
      core::ProposerElected e;
      e.term = core::Term(rng.u64());
      e.start_streaming_at = core::Lsn(rng.u64());
      e.term_history = random_history(rng);
      e.timeline_start_lsn = core::Lsn(rng.u64());
      return e;
    }
    case 3: {
      core::AppendRequest a;
      a.term = core::Term(rng.u64());
      a.wal = rng.bytes(random_wal_size(rng));
      a.begin_lsn = core::Lsn(rng.below(std::uint64_t{1} << 62));
      a.end_lsn = a.begin_lsn + a.wal.size();
      a.commit_lsn = core::Lsn(rng.u64());
      a.truncate_lsn = core::Lsn(rng.u64());
      return a;
    }
    case 4:
      return core::ReadWalRequest{core::Term(rng.u64()), core::Lsn(rng.u64()),
                                  core::Lsn(rng.u64())};
    default: return core::PeerFetchRequest{core::Lsn(rng.u64()), rng.u32()};
  }
}

inline core::AcceptorMessage random_acceptor_message(Prng& rng, std::size_t kind) {
  switch (kind % std::variant_size_v<core::AcceptorMessage>) {
    case 0: return core::AcceptorGreeting{core::NodeId(rng.u64()), core::Term(rng.u64())};
    case 1: {
      core::VoteResponse v;
      v.term = core::Term(rng.u64());
      v.vote_given = rng.coin();
      v.flush_lsn = core::Lsn(rng.u64());
      v.truncate_lsn = core::Lsn(rng.u64());
      v.timeline_start_lsn = core::Lsn(rng.u64());
      v.term_history = random_history(rng);
      return v;
    }
    case 2: {
      core::AppendResponse a;
      a.term = core::Term(rng.u64());
      a.flush_lsn = core::Lsn(rng.u64());
      a.commit_lsn = core::Lsn(rng.u64());
      a.feedback.learner_flush_lsn = core::Lsn(rng.u64());
      return a;
    }
    case 3: {
      core::ReadWalResponse w;
      w.term = core::Term(rng.u64());
      w.begin_lsn = core::Lsn(rng.u64());
      w.wal = rng.bytes(random_wal_size(rng));
      return w;
    }
    case 4: {
      core::PeerFetchResponse p;
      p.term = core::Term(rng.u64());
      p.commit_lsn = core::Lsn(rng.u64());
      p.term_history = random_history(rng);
      p.begin_lsn = core::Lsn(rng.u64());
      p.wal = rng.bytes(random_wal_size(rng));
      return p;
    }
    default: {
      core::Refused r;
      r.term = core::Term(rng.u64());
      r.reason = static_cast<core::RefuseReason>(rng.below(8));
      const std::size_t n = rng.below(80);
      for (std::size_t i = 0; i < n; ++i) r.detail.push_back(static_cast<char>(' ' + rng.below(95)));
      return r;
    }
  }
}

}  // namespace wq::codec::testing
