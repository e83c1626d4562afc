// The invariants the simulator checks after every step, by number. The same
// numbers appear in failure reports ("violated S8"), in tests/sim/README.md and
// in docs/PROTOCOL.md's "checked by the simulator" section.
#pragma once

#include <string>

namespace wq::sim {

enum Invariant : int {
  kS1ElectionSafety = 1,       // at most one proposer (instance) elected per term
  kS2VoteUnique = 2,           // an acceptor grants a term to one connection only, across restarts
  kS3VoteDurable = 3,          // a granted vote is sent only after its term is durable
  kS4TermMonotone = 4,         // acceptor term never decreases (memory, disk, across restarts)
  kS5AckDurable = 5,           // AppendResponse.flush_lsn ≤ durable end of the acceptor's WAL
  kS6RecordAligned = 6,        // flush/commit LSNs are record boundaries (real decoder)
  kS7CommittedImmutable = 7,   // a committed LSN's bytes never change; C only grows
  kS8QuorumRetention = 8,      // committed bytes durable, identical, on a quorum
  kS9LeaderCompleteness = 9,   // every elected proposer's log contains C
  kS10LogMatching = 10,        // acceptor WAL bytes = bytes of the terms its history names
  kS11HistoryAgreement = 11,   // histories well formed and agree with the elected histories
  kS12TruncateFloor = 12,      // no truncation below the acceptor's commit_lsn
  kS13CommitMonotone = 13,     // commit_lsn never decreases (proposer; acceptor between restarts; persisted)
  kS14CommitBounded = 14,      // commit ≤ flush (acceptor), ≤ end (proposer), ≤ C end; ≥ term start (rule 6)
  kS15Learners = 15,           // learners see only committed bytes, equal to C, never rewinding
  kS16DonorReads = 16,         // recovery reads serve the right bytes, only in the reader's term
  kS17AppendAfterElected = 17, // acks in term T only once T's ProposerElected is durable
  kS18CoreSelfCheck = 18,      // Acceptor/Proposer::check_invariants() (abort = violation)
  kS19Codec = 19,              // every message survives encode → decode unchanged
  kS20Liveness = 20,           // after healing, commits reach the end of WAL in bounded time
};

const char* invariant_name(int n);

struct Violation {
  int invariant = 0;
  std::string what;
};

}  // namespace wq::sim
