// The simulator's only source of randomness: xoshiro256** seeded through
// splitmix64. Every choice a run makes comes from one Prng built from the seed,
// so a seed replays byte for byte (no <random>: its distributions differ
// between standard libraries).
#pragma once

#include <cstdint>

#include "base/assert.h"

namespace wq::sim {

class Prng {
 public:
  explicit Prng(std::uint64_t seed) {
    std::uint64_t x = seed;
    for (auto& s : s_) s = splitmix64(x);
  }

  static std::uint64_t splitmix64(std::uint64_t& x) {
    std::uint64_t z = (x += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
  }

  std::uint64_t next() {
    const std::uint64_t result = rotl(s_[1] * 5, 7) * 9;
    const std::uint64_t t = s_[1] << 17;
    s_[2] ^= s_[0];
    s_[3] ^= s_[1];
    s_[1] ^= s_[2];
    s_[0] ^= s_[3];
    s_[2] ^= t;
    s_[3] = rotl(s_[3], 45);
    return result;
  }

  // Uniform in [0, n), n > 0 (modulo; the bias is below 2^-40 for the n we use).
  std::uint64_t below(std::uint64_t n) {
    WQ_ASSERT(n > 0, "Prng::below(0)");
    return next() % n;
  }
  // Uniform in [lo, hi].
  std::uint64_t range(std::uint64_t lo, std::uint64_t hi) {
    WQ_ASSERT(lo <= hi, "Prng::range({}, {})", lo, hi);
    return lo + below(hi - lo + 1);
  }
  double unit() { return static_cast<double>(next() >> 11) * 0x1.0p-53; }
  bool chance(double p) { return unit() < p; }
  // A fresh generator for a sub-stream (independent of later draws here).
  Prng fork() { return Prng(next()); }

 private:
  static std::uint64_t rotl(std::uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }
  std::uint64_t s_[4];
};

}  // namespace wq::sim
