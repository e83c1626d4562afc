// net/backoff: delays grow exponentially, stay within [d/2, d] and the cap,
// restart after reset, and are reproducible from the seed.
#include "net/backoff.h"

#include <doctest/doctest.h>

namespace wq::net {

TEST_CASE("backoff grows, is jittered within bounds and capped") {
  std::mt19937_64 rng(42);
  Backoff b(10, 1000);
  std::uint64_t expect = 10;
  for (int i = 0; i < 20; ++i) {
    std::uint64_t d = b.next_delay_ms(rng);
    CHECK(d >= expect / 2);
    CHECK(d <= expect);
    expect = std::min<std::uint64_t>(expect * 2, 1000);
  }
  CHECK(b.attempts() == 20);
  b.reset();
  CHECK(b.next_delay_ms(rng) <= 10);
}

TEST_CASE("backoff is deterministic for a seed") {
  std::mt19937_64 r1(7), r2(7);
  Backoff a(5, 500), b(5, 500);
  for (int i = 0; i < 10; ++i) CHECK(a.next_delay_ms(r1) == b.next_delay_ms(r2));
}

}  // namespace wq::net
