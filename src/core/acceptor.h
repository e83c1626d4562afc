// Acceptor: the per-timeline safekeeper state machine of the consensus protocol
// (ARCHITECTURE.md §2 rules 2, 4, 5, 7; docs/PROTOCOL.md). Pure: each handler takes
// one decoded message and returns the actions the driver (safekeeper or simulator)
// must execute, strictly in order, each completing before the next starts.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "core/messages.h"
#include "core/term_history.h"
#include "core/types.h"

namespace wq::core {

// The acceptor's durable state: one record per timeline. The driver stores it
// (synced) whenever an action says PersistControl, and hands the last stored copy
// back to the constructor after a restart.
struct ControlState {
  TimelineKey timeline;
  std::uint64_t system_id = 0;  // 0 = not known yet (adopted from the first non-zero greeting)
  std::uint32_t wal_seg_size = 16 * 1024 * 1024;
  std::uint32_t pg_version = 150000;
  // Highest term voted for or accepted (Paxos' promise). Never decreases, also
  // across restarts (I10): it is persisted before any reply that depends on it.
  Term term;
  // (term, start LSN) switches. Terms strictly increase, LSNs never decrease (I14).
  // May run ahead of the WAL (adopted whole at ProposerElected before the WAL
  // arrives); readers use term_history.cut_at(flush_lsn).
  TermHistory term_history;
  // First LSN of the timeline's WAL; 0 until the first ProposerElected.
  Lsn timeline_start_lsn;
  // Lazily persisted commit LSN: a record boundary, ≤ the durable end of WAL
  // (unless `corrupt`). The restart scan for the end of WAL starts here.
  Lsn commit_lsn;
  // The proposer's "every acceptor has it" horizon; informational.
  Lsn truncate_lsn;
  // Set by the driver when it found a CRC error below commit_lsn on restart: the
  // acceptor then refuses to vote, to accept ProposerElected and to serve reads.
  bool corrupt = false;
  bool operator==(const ControlState&) const = default;
};

// The driver's id of the connection a message arrived on; replies go back to it.
using ConnId = std::uint64_t;

// --- Actions. The driver executes them in order; a failed action ends the process. ---

// Durably store `state` (write + fsync/sync=true) before the next action.
struct PersistControl {
  ControlState state;
};
// Write bytes [begin, begin + bytes.size()) to the WAL. Written, NOT durable.
// `begin` always equals the end of the WAL written so far (appends are sequential)
// and the end is a record boundary.
struct WriteWal {
  Lsn begin;
  std::vector<std::uint8_t> bytes;
};
// Make every byte written so far durable (fdatasync). `upto` is the write end at
// the time of the action, for checking. Blocking in sequence.
struct SyncWal {
  Lsn upto;
};
// Durably cut the WAL at `at`: bytes at and after `at` are gone (zeroed) before the
// next action, crash-safe (pending-truncation mark). If the acceptor has no WAL
// yet, `at` may lie above the current end: the WAL then starts at `at` (the driver
// writes the first segment's headers).
struct TruncateWal {
  Lsn at;
};
// Read WAL [from, x) from local storage and send ReadWalResponse{term, from, bytes}
// to connection `to`, where x is the highest record boundary ≤ to_lsn; if no whole
// record fits, the first whole record (bounded by the WAL format). from ≤ to_lsn ≤
// flush_lsn, so the bytes are durable. The core does no I/O.
struct ServeRead {
  ConnId to;
  Term term;
  Lsn from;
  Lsn to_lsn;
};
// Read committed WAL [from, x) (x chosen as for ServeRead, x ≤ to_lsn ≤ commit_lsn)
// and send PeerFetchResponse{term, commit_lsn, term_history, from, bytes} to `to`.
struct ServePeerFetch {
  ConnId to;
  Term term;
  Lsn commit_lsn;
  TermHistory term_history;
  Lsn from;
  Lsn to_lsn;
};
// Send `msg` on connection `to` (dropped silently if it is closed).
struct Send {
  ConnId to;
  AcceptorMessage msg;
};

using Action = std::variant<PersistControl, WriteWal, SyncWal, TruncateWal, ServeRead,
                            ServePeerFetch, Send>;
using Actions = std::vector<Action>;

// Largest PeerFetch range served at once (bytes): large, so that a catching-up
// acceptor syncs (and persists its history) once per few MiB.
inline constexpr std::uint64_t kPeerFetchBytesMax = 4 * 1024 * 1024;

class Acceptor {
 public:
  // `persisted` is the last stored ControlState; `wal_end` the durable,
  // record-aligned end of WAL the driver found by decoding from
  // persisted.commit_lsn after a restart (0 if there is no WAL). Both flush_lsn()
  // and write_lsn() start at wal_end.
  Acceptor(NodeId id, ControlState persisted, Lsn wal_end);

  // Control state for a timeline created by this greeting (term 0, empty history).
  // The driver persists it before handling the greeting.
  static ControlState initial(const ProposerGreeting& greeting);

  // Dispatches to the on_* handler for the message's type.
  Actions on_message(ConnId conn, const ProposerMessage& msg);

  // Validates the timeline (system id, segment size); answers AcceptorGreeting or
  // Refused{kWrongTimeline}.
  Actions on_greeting(ConnId conn, const ProposerGreeting& msg);
  // Rule 2. Grants iff msg.term > term() and not corrupt: SyncWal of buffered WAL,
  // then PersistControl of the new term, then Send VoteResponse{vote_given=true} —
  // in that order. Otherwise VoteResponse{vote_given=false} (or Refused{kCorrupt}).
  // Every reply carries flush_lsn and the history cut at flush_lsn.
  Actions on_vote_request(ConnId conn, const VoteRequest& msg);
  // Rule 4. Only if msg.term == term(); recomputes the highest common point from its
  // own history cut at flush_lsn, refuses on mismatch, asserts it is ≥ commit_lsn,
  // then TruncateWal at it, then PersistControl of the proposer's history. No reply
  // on success; `conn` becomes the connection AppendResponses go to.
  Actions on_proposer_elected(ConnId conn, const ProposerElected& msg);
  // Rules 5 and 7. Accepted only if msg.term == term() and the last history entry
  // is that term. Writes (WriteWal, not synced); no reply for a non-empty append —
  // the ack comes from on_wal_synced/flush_wal. An empty append (heartbeat) is
  // answered at once with the current (durable) flush_lsn.
  Actions on_append_request(ConnId conn, const AppendRequest& msg);
  // Donor read (rule 4): ServeRead iff msg.term == term(), capped at flush_lsn;
  // otherwise Refused{kNotServing}.
  Actions on_read_wal_request(ConnId conn, const ReadWalRequest& msg);
  // Peer recovery, server side: ServePeerFetch of committed WAL only (below
  // min(commit_lsn, flush_lsn)); a request from below timeline_start_lsn (an
  // empty fetcher asks from 0) is served from timeline_start_lsn.
  Actions on_peer_fetch_request(ConnId conn, const PeerFetchRequest& msg);

  // Peer recovery, fetching side (docs/PROTOCOL.md rule 10). The driver sends
  // PeerFetchRequest{peer_fetch_from(), n} to a peer and hands the reply here.
  // The reply is committed WAL of the peer, described by the peer's history cut
  // at its commit_lsn. Outcomes:
  //   kAppended  — the local WAL was a prefix of the peer's committed log: the
  //                bytes are written and synced, the history covering them is
  //                persisted BEFORE the write (it may run ahead of the WAL,
  //                never behind it), commit_lsn advances to the new end.
  //   kTruncated — the local WAL diverges from the committed log above
  //                commit_lsn (asserted; for a corrupt acceptor above the
  //                damage): the tail is cut (TruncateWal); ask again.
  //   kCaughtUp  — the reply carried nothing new (the local end is at or above
  //                the peer's commit): nothing to do.
  //   kIgnored   — stale (the local end moved since the request), malformed,
  //                or no common term: nothing changed; `why` says which.
  // The term only rises, to the last term of the adopted history (a promise;
  // no vote is given), so the acceptor never votes in a term below a term its
  // WAL holds; the elected connection is dropped if its term is superseded.
  // A corrupt acceptor is repaired once its flush_lsn reaches commit_lsn.
  struct PeerFetchOutcome {
    enum class Kind { kAppended, kTruncated, kCaughtUp, kIgnored };
    Kind kind = Kind::kIgnored;
    std::string why;
    Actions actions;
  };
  PeerFetchOutcome on_peer_fetch_response(const PeerFetchResponse& msg);
  // Where the next PeerFetchRequest should start: write_lsn (0 with no WAL).
  Lsn peer_fetch_from() const { return write_lsn_; }
  bool corrupt() const { return control_.corrupt; }

  // Group commit, variant 1: the driver synced the WAL (everything written when the
  // sync began, up to `synced_upto`, a write end the core reported). Contract: no
  // TruncateWal action was issued between the start of that sync and this call
  // (else the callback must be dropped; see truncation_count()). Advances
  // flush_lsn and returns an AppendResponse to the elected proposer's connection.
  Actions on_wal_synced(Lsn synced_upto);
  // Group commit, variant 2 (in-order): returns SyncWal{write_lsn} followed by the
  // AppendResponse. The driver calls it when its policy says so (queue drained,
  // timer, commit record, segment end). Empty if nothing is unsynced.
  Actions flush_wal();
  // The connection closed: flush buffered WAL (Neon lesson: flush on disconnect)
  // and forget it as the reply connection.
  Actions on_disconnected(ConnId conn);
  // The driver could not execute a WriteWal or TruncateWal (disk full) and
  // skipped the rest of that handler's actions, so nothing that depended on
  // them was sent. `stored` is the control state last made durable, `wal_end`
  // the durable, record-aligned end of WAL now (the driver synced what was
  // written). The acceptor continues from exactly that, as after a restart: its
  // in-memory term and history fall back to the stored ones (no reply ever
  // named the unsaved ones), the elected connection is dropped (its acks were
  // lost), and the change counts as a truncation (a sync begun before it must
  // not be acknowledged, see truncation_count()).
  void on_write_failed(ControlState stored, Lsn wal_end);

  NodeId node_id() const { return id_; }
  Term term() const { return control_.term; }
  Lsn flush_lsn() const { return flush_lsn_; }  // durable, record-aligned
  Lsn write_lsn() const { return write_lsn_; }  // written, record-aligned, maybe not durable
  Lsn commit_lsn() const { return control_.commit_lsn; }
  const TermHistory& term_history() const { return control_.term_history; }
  // The current (in-memory) control state; persisted_control() is the copy in the
  // last PersistControl action.
  const ControlState& control() const { return control_; }
  const ControlState& persisted_control() const { return persisted_; }
  // Number of TruncateWal actions issued so far (for drivers that sync asynchronously).
  std::uint64_t truncation_count() const { return truncations_; }
  // Connection of the proposer whose ProposerElected was accepted in term(), if any.
  std::optional<ConnId> elected_conn() const { return elected_conn_; }

  // Asserts every invariant of the state (docs/PROTOCOL.md).
  void check_invariants() const;

 private:
  Actions refuse(ConnId conn, RefuseReason reason, std::string detail) const;
  VoteResponse make_vote_response(bool given) const;
  AppendResponse make_append_response() const;
  void persist(Actions& out);
  void maybe_persist_commit(Actions& out);
  void advance_commit(Lsn proposer_commit);

  NodeId id_;
  ControlState control_;    // in-memory, ahead of persisted_ only in lazy fields
  ControlState persisted_;  // copy in the last PersistControl (or the constructor's)
  // Invariants: flush_lsn_ ≤ write_lsn_; both record-aligned; commit ≤ flush_lsn_.
  Lsn flush_lsn_;
  Lsn write_lsn_;
  std::optional<ConnId> elected_conn_;
  Lsn last_acked_flush_;  // flush_lsn in the last AppendResponse sent
  std::uint64_t truncations_ = 0;
};

}  // namespace wq::core
