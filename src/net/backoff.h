// Exponential backoff with jitter for reconnects (Neon lesson §7.3: every
// connection needs a bounded retry policy; jitter stops a fleet of computes
// reconnecting in lock step). Part of src/net; pure: the PRNG is passed in.
#pragma once

#include <cstdint>
#include <random>

namespace wq::net {

class Backoff {
 public:
  // Delays grow initial_ms, 2*initial_ms, ... up to max_ms (both > 0, initial ≤ max).
  Backoff(std::uint64_t initial_ms, std::uint64_t max_ms);

  // The delay before the next attempt: "equal jitter", uniform in [d/2, d] where
  // d = min(max_ms, initial_ms * 2^attempts). Counts one attempt.
  std::uint64_t next_delay_ms(std::mt19937_64& rng);
  // After a success: the next delay starts again from initial_ms.
  void reset() { attempts_ = 0; }
  std::uint32_t attempts() const { return attempts_; }

 private:
  std::uint64_t initial_ms_;
  std::uint64_t max_ms_;
  std::uint32_t attempts_ = 0;
};

}  // namespace wq::net
