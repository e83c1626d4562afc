// Quorum math. See quorum.h.
#include "core/quorum.h"

#include <algorithm>
#include <functional>

#include "base/assert.h"

namespace wq::core {

std::size_t quorum_size(std::size_t n) {
  WQ_ASSERT(n >= 1, "quorum of an empty acceptor set");
  return n / 2 + 1;
}

Lsn quorum_lsn(std::vector<Lsn> lsns) {
  WQ_ASSERT(!lsns.empty(), "quorum_lsn of no acceptors");
  std::size_t q = quorum_size(lsns.size());
  std::sort(lsns.begin(), lsns.end(), std::greater<Lsn>());
  return lsns[q - 1];
}

}  // namespace wq::core
