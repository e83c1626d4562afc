// Plain C++ structs for every message of the proposer–acceptor protocol and of
// peer recovery (ARCHITECTURE.md §2, docs/PROTOCOL.md). codec/ converts them to
// and from Cap'n Proto; core/ and the simulator only see these. Pure.
#pragma once

#include <cstdint>
#include <string>
#include <variant>
#include <vector>

#include "core/term_history.h"
#include "core/types.h"

namespace wq::core {

inline constexpr std::uint32_t kProtocolVersion = 1;

// Proposer → acceptor, first message on a connection; names the timeline the
// connection serves. The acceptor creates the timeline on first greeting.
struct ProposerGreeting {
  std::uint32_t protocol_version = kProtocolVersion;
  TimelineKey timeline;
  std::uint32_t pg_version = 150000;
  std::uint64_t system_id = 0;
  std::uint32_t wal_seg_size = 16 * 1024 * 1024;
  NodeId proposer_id;
  bool operator==(const ProposerGreeting&) const = default;
};

struct AcceptorGreeting {
  NodeId node_id;
  Term term;  // the acceptor's current (promised) term
  bool operator==(const AcceptorGreeting&) const = default;
};

struct VoteRequest {
  Term term;
  bool operator==(const VoteRequest&) const = default;
};

// Rule 2: flush_lsn and the term history cut at flush_lsn.
struct VoteResponse {
  Term term;  // the acceptor's term after handling the request
  bool vote_given = false;
  Lsn flush_lsn;
  Lsn truncate_lsn;
  Lsn timeline_start_lsn;
  TermHistory term_history;
  bool operator==(const VoteResponse&) const = default;
};

// Rule 4. No reply: the acceptor either accepts it (truncating to the common
// point) or answers Refused.
struct ProposerElected {
  Term term;
  Lsn start_streaming_at;  // the highest common point for this acceptor
  TermHistory term_history;  // donor history + (term, term_start_lsn)
  Lsn timeline_start_lsn;
  bool operator==(const ProposerElected&) const = default;
};

// Rule 5. `wal` holds bytes [begin_lsn, end_lsn); end_lsn is a record boundary.
// An empty append (begin == end) carries only commit/truncate LSNs (a heartbeat).
struct AppendRequest {
  Term term;
  Lsn begin_lsn;
  Lsn end_lsn;
  Lsn commit_lsn;
  Lsn truncate_lsn;
  std::vector<std::uint8_t> wal;
  bool operator==(const AppendRequest&) const = default;
};

// What learners have confirmed, passed back to the proposer for information.
struct Feedback {
  Lsn learner_flush_lsn;
  bool operator==(const Feedback&) const = default;
};

// Rule 5: flush_lsn is durable and record-aligned.
struct AppendResponse {
  Term term;
  Lsn flush_lsn;
  Lsn commit_lsn;
  Feedback feedback;
  bool operator==(const AppendResponse&) const = default;
};

// Recovery read from the donor (rule 4): served only while the donor's term equals `term`.
struct ReadWalRequest {
  Term term;
  Lsn from_lsn;
  Lsn to_lsn;
  bool operator==(const ReadWalRequest&) const = default;
};

struct ReadWalResponse {
  Term term;
  Lsn begin_lsn;
  std::vector<std::uint8_t> wal;  // [begin_lsn, begin_lsn + wal.size())
  bool operator==(const ReadWalResponse&) const = default;
};

// Peer recovery: a lagging acceptor fetches committed WAL from a peer. Served only
// below the server's commit_lsn.
struct PeerFetchRequest {
  Lsn from_lsn;
  std::uint32_t max_bytes = 0;
  bool operator==(const PeerFetchRequest&) const = default;
};

struct PeerFetchResponse {
  Term term;
  Lsn commit_lsn;
  TermHistory term_history;
  Lsn begin_lsn;
  std::vector<std::uint8_t> wal;
  bool operator==(const PeerFetchResponse&) const = default;
};

// A protocol refusal is a normal reply (STYLE.md "Errors" rule 2). A stale
// proposer learns the higher term from it and stops (rule 9).
enum class RefuseReason : std::uint8_t {
  kStaleTerm,         // message term < acceptor term
  kNotElected,        // append before this term's ProposerElected was accepted
  kTermMismatch,      // ProposerElected for a term the acceptor did not vote in
  kHistoryMismatch,   // the proposer's common point disagrees with the acceptor's
  kWrongTimeline,     // greeting names a different system id / segment size
  kNotServing,        // read request for a term this donor is no longer in
  kCorrupt,           // the acceptor found corruption below commit and will not vote
  kNoSpace,           // disk full: appends refused, reads served
};

const char* refuse_reason_name(RefuseReason r);

struct Refused {
  Term term;  // the acceptor's current term
  RefuseReason reason = RefuseReason::kStaleTerm;
  std::string detail;
  bool operator==(const Refused&) const = default;
};

using ProposerMessage = std::variant<ProposerGreeting, VoteRequest, ProposerElected,
                                     AppendRequest, ReadWalRequest, PeerFetchRequest>;
using AcceptorMessage = std::variant<AcceptorGreeting, VoteResponse, AppendResponse,
                                     ReadWalResponse, PeerFetchResponse, Refused>;

inline const char* refuse_reason_name(RefuseReason r) {
  switch (r) {
    case RefuseReason::kStaleTerm: return "stale term";
    case RefuseReason::kNotElected: return "not elected in this term";
    case RefuseReason::kTermMismatch: return "term mismatch";
    case RefuseReason::kHistoryMismatch: return "term history mismatch";
    case RefuseReason::kWrongTimeline: return "wrong timeline";
    case RefuseReason::kNotServing: return "not serving this term";
    case RefuseReason::kCorrupt: return "corrupt";
    case RefuseReason::kNoSpace: return "no space";
  }
  return "unknown";
}

}  // namespace wq::core
