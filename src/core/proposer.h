// Proposer: the per-timeline leader state machine that runs inside a compute
// (ARCHITECTURE.md §2 rules 1, 3, 4, 6, 9; docs/PROTOCOL.md). Pure: inputs are
// connection events, decoded acceptor messages, ticks and new WAL; every input
// returns the messages to send. The driver owns the connections.
#pragma once

#include <cstdint>
#include <deque>
#include <map>
#include <optional>
#include <utility>
#include <vector>

#include "core/messages.h"
#include "core/term_history.h"
#include "core/types.h"

namespace wq::core {

// What one input produced.
struct ProposerOutput {
  // Messages to send, in order, each on the current connection to that acceptor.
  std::vector<std::pair<NodeId, ProposerMessage>> sends;
  bool elected_now = false;       // this input won the election
  bool commit_advanced = false;   // commit_lsn() grew during this input
  // Set once, when a higher term was seen (rule 9): the proposer stopped for good;
  // the driver should drop it (a new Proposer may campaign later).
  std::optional<Term> superseded_by;
};

class Proposer {
 public:
  enum class State { kGreeting, kCampaigning, kElected, kSuperseded };

  struct Config {
    TimelineKey timeline;
    NodeId proposer_id;
    std::vector<NodeId> acceptors;  // distinct; quorum = size/2 + 1
    std::uint64_t system_id = 0;
    std::uint32_t wal_seg_size = 16 * 1024 * 1024;
    std::uint32_t pg_version = 150000;
    Lsn timeline_start_lsn;  // first LSN of a brand-new timeline (used when no acceptor has WAL)
    std::uint64_t window_bytes_max = 1024 * 1024;  // unacknowledged bytes in flight per acceptor
    std::uint64_t buffer_bytes_max = 16 * 1024 * 1024;  // own WAL kept in memory
    std::uint32_t heartbeat_ticks = 10;
    std::uint32_t election_timeout_ticks = 50;  // campaign without a quorum of votes → new term
  };

  explicit Proposer(Config config);

  // The driver opened a connection to `acceptor`: sends ProposerGreeting. Messages
  // from an earlier connection must not be delivered after this call.
  ProposerOutput on_connected(NodeId acceptor);
  // The connection closed. Nothing already counted is lost (votes and acked
  // flushes are durable on the acceptor); streaming resumes after reconnect.
  ProposerOutput on_disconnected(NodeId acceptor);
  // A message from `from` on its current connection.
  ProposerOutput on_message(NodeId from, const AcceptorMessage& msg);
  // Virtual time: heartbeats, election timeout, retries of recovery reads.
  ProposerOutput tick();

  // True iff elected and `bytes` more of new WAL fit in the buffer (after evicting
  // what is committed or held by every acceptor).
  bool can_propose(std::uint64_t bytes) const;
  // Appends new WAL [begin, begin + wal.size()). Caller guarantees: state() ==
  // kElected, begin == end_lsn(), the bytes end on a record boundary,
  // can_propose(wal.size()), and wal.size() ≤ window_bytes_max. Asserted.
  ProposerOutput propose(Lsn begin, std::vector<std::uint8_t> wal);

  State state() const { return state_; }
  Term term() const { return term_; }  // 0 until a term is chosen
  Lsn term_start_lsn() const { return term_start_lsn_; }
  // Rule 6: quorum-th highest current-term flush_lsn ≥ term_start_lsn. Only grows.
  Lsn commit_lsn() const { return commit_lsn_; }
  Lsn end_lsn() const { return end_lsn_; }  // where the next propose() begins
  const TermHistory& term_history() const { return history_; }
  std::optional<NodeId> donor() const { return donor_; }
  std::size_t quorum() const { return quorum_; }
  const Config& config() const { return config_; }
  // Flush acknowledged by `acceptor` in the current term (0 if none).
  Lsn acked_flush_lsn(NodeId acceptor) const;
  // First LSN still held in the in-memory buffer.
  Lsn buffer_start_lsn() const { return buffer_start_; }

  void check_invariants() const;

 private:
  enum class Phase {
    kDisconnected,
    kGreeting,   // greeting sent, waiting for AcceptorGreeting
    kGreeted,    // greeting answered; no vote requested in term_ yet
    kVoting,     // VoteRequest(term_) sent on this connection, no answer yet
    kVoted,      // answered (given or not) while campaigning
    kStreaming,  // ProposerElected sent; appends flow
  };
  struct PendingRead {
    NodeId target;
    std::uint64_t target_epoch;
    Lsn from;
    Lsn to;
  };
  struct Peer {
    Phase phase = Phase::kDisconnected;
    std::uint64_t epoch = 0;          // connection count; bumps on connect
    Term greeting_term;
    std::optional<VoteResponse> vote;  // granted vote in term_ (durable on the acceptor)
    std::optional<VoteResponse> info;  // last term_ VoteResponse on this connection (any verdict)
    bool unusable = false;             // corrupt / wrong timeline
    // Streaming state (valid in kStreaming).
    Lsn start_streaming_at;
    Lsn next_send_lsn;
    bool read_pending = false;         // a recovery read for this peer is outstanding
    bool accepted_elected = false;     // sent an AppendResponse in term_ (so accepted PE)
    Lsn acked_flush;                   // highest flush in a term_ AppendResponse
    std::uint32_t ticks_since_send = 0;
    std::uint32_t wait_ticks = 0;      // ticks waiting for a vote reply or a recovery read
    Lsn sent_commit;                   // commit_lsn in the last append sent
    std::deque<PendingRead> reads_served;  // reads this peer serves for others, FIFO
  };

  ProposerOutput take_output();
  void send(NodeId to, ProposerMessage msg);
  void supersede(Term seen);
  void start_campaign();
  void request_vote(NodeId id, Peer& peer);
  void maybe_win();
  void send_elected(NodeId id, Peer& peer, const VoteResponse& vr);
  void pump(NodeId id, Peer& peer);
  void pump_all();
  void send_heartbeat(NodeId id, Peer& peer);
  void flush_commit();
  void update_commit();
  void evict(Lsn upto);
  Lsn everyone_has() const;
  std::uint64_t evictable_bytes() const;
  void cancel_read_of(NodeId target);
  void on_acceptor_greeting(NodeId from, Peer& peer, const AcceptorGreeting& m);
  void on_vote_response(NodeId from, Peer& peer, const VoteResponse& m);
  void on_append_response(NodeId from, Peer& peer, const AppendResponse& m);
  void on_read_wal_response(NodeId from, Peer& peer, const ReadWalResponse& m);
  void on_refused(NodeId from, Peer& peer, const Refused& m);
  void cancel_reads_served_by(Peer& source);
  std::optional<NodeId> choose_read_source(NodeId target, Lsn from) const;
  Lsn source_end(NodeId id, const Peer& peer) const;

  Config config_;
  std::size_t quorum_;
  State state_ = State::kGreeting;
  Term term_;
  Term max_seen_term_;
  Lsn term_start_lsn_;
  Lsn timeline_start_lsn_;
  Lsn commit_lsn_;
  Lsn truncate_lsn_;
  Lsn end_lsn_;
  TermHistory history_;
  std::optional<NodeId> donor_;
  std::map<NodeId, Peer> peers_;
  std::uint64_t ticks_in_campaign_ = 0;
  // Own new WAL [buffer_start_, end_lsn_); bounded by config_.buffer_bytes_max.
  Lsn buffer_start_;
  std::deque<std::uint8_t> buffer_;
  // Record boundaries (ends of proposals) in (buffer_start_, end_lsn_], ascending.
  std::deque<Lsn> boundaries_;
  ProposerOutput out_;
};

const char* proposer_state_name(Proposer::State s);

}  // namespace wq::core
