// Quorum math for a fixed acceptor set: majority size and the highest LSN held by
// a quorum (ARCHITECTURE.md §2 rule 6). Pure.
#pragma once

#include <cstddef>
#include <vector>

#include "core/types.h"

namespace wq::core {

// Majority of `n` acceptors: n/2 + 1 (1→1, 3→2, 5→3, 7→4). Asserts n ≥ 1.
std::size_t quorum_size(std::size_t n);

// The quorum-th highest of `lsns`, one value per acceptor of the set (0 for an
// acceptor with nothing to count): the highest LSN that a quorum has reached.
// Asserts !lsns.empty().
Lsn quorum_lsn(std::vector<Lsn> lsns);

}  // namespace wq::core
