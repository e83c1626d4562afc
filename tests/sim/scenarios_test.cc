// Named simulator scenarios (suite 'sim'): deterministic stories through the
// real core, plus the replay check (one seed, run twice, same state hash).
#include <doctest/doctest.h>

#include "sim.h"

namespace wq::sim {

TEST_CASE("a seed replays byte for byte") {
  SimResult a = run_seed(42, 3, false);
  SimResult b = run_seed(42, 3, false);
  CHECK(a.state_hash == b.state_hash);
  CHECK(a.steps == b.steps);
  CHECK_FALSE(a.violation.has_value());
}

}  // namespace wq::sim
