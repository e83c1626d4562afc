// Quorum math: majority size and the quorum-th highest LSN.
#include <doctest/doctest.h>

#include "core/quorum.h"

namespace wq::core {
namespace {

TEST_CASE("quorum size is a majority for 1, 3, 5 and 7 acceptors") {
  CHECK(quorum_size(1) == 1);
  CHECK(quorum_size(3) == 2);
  CHECK(quorum_size(5) == 3);
  CHECK(quorum_size(7) == 4);
}

TEST_CASE("quorum_lsn is the highest LSN a quorum has reached") {
  CHECK(quorum_lsn({Lsn{7}}) == Lsn{7});
  CHECK(quorum_lsn({Lsn{10}, Lsn{30}, Lsn{20}}) == Lsn{20});
  CHECK(quorum_lsn({Lsn{10}, Lsn{0}, Lsn{0}}) == Lsn{0});
  CHECK(quorum_lsn({Lsn{50}, Lsn{40}, Lsn{30}, Lsn{20}, Lsn{10}}) == Lsn{30});
  CHECK(quorum_lsn({Lsn{1}, Lsn{2}, Lsn{3}, Lsn{4}, Lsn{5}, Lsn{6}, Lsn{7}}) == Lsn{4});
  // Ties.
  CHECK(quorum_lsn({Lsn{9}, Lsn{9}, Lsn{1}}) == Lsn{9});
}

}  // namespace
}  // namespace wq::core
