// Exponential backoff with jitter (see backoff.h).
#include "net/backoff.h"

#include <algorithm>

#include "base/assert.h"

namespace wq::net {

Backoff::Backoff(std::uint64_t initial_ms, std::uint64_t max_ms)
    : initial_ms_(initial_ms), max_ms_(max_ms) {
  WQ_ASSERT(initial_ms > 0 && initial_ms <= max_ms, "backoff: bad bounds {}..{} ms", initial_ms,
            max_ms);
}

std::uint64_t Backoff::next_delay_ms(std::mt19937_64& rng) {
  // 2^40 ms is far beyond any max_ms; the cap keeps the shift defined.
  std::uint32_t shift = std::min<std::uint32_t>(attempts_, 40);
  std::uint64_t d = initial_ms_;
  for (std::uint32_t i = 0; i < shift && d < max_ms_; ++i) d *= 2;
  d = std::min(d, max_ms_);
  if (attempts_ < UINT32_MAX) ++attempts_;
  std::uniform_int_distribution<std::uint64_t> dist(d / 2, d);
  return std::max<std::uint64_t>(1, dist(rng));
}

}  // namespace wq::net
