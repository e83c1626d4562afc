// Acceptor state machine. See acceptor.h and docs/PROTOCOL.md. Canary mutations
// (WQ_CANARY_*) sit next to the line they break; tests/sim proves each is caught.
#include "core/acceptor.h"

#include <algorithm>
#include <limits>
#include <utility>

#include "base/assert.h"
#include "base/overloaded.h"

namespace wq::core {

using base::Overloaded;

namespace {

// The proposer's side of the common point: its own term has no end yet.
constexpr Lsn kNoEnd{std::numeric_limits<std::uint64_t>::max()};

}  // namespace

Acceptor::Acceptor(NodeId id, ControlState persisted, Lsn wal_end)
    : id_(id),
      control_(persisted),
      persisted_(std::move(persisted)),
      flush_lsn_(wal_end),
      write_lsn_(wal_end),
      last_acked_flush_(wal_end) {
  control_.term_history.check_invariants();
  // The persisted commit_lsn is a record boundary at or below the durable end of
  // WAL at the time it was stored; only corruption can put it above wal_end.
  WQ_ASSERT(control_.corrupt || control_.commit_lsn <= wal_end,
            "acceptor {}: persisted commit_lsn {} above the end of WAL {} and not marked corrupt",
            id_, control_.commit_lsn, wal_end);
  check_invariants();
}

ControlState Acceptor::initial(const ProposerGreeting& greeting) {
  ControlState s;
  s.timeline = greeting.timeline;
  s.system_id = greeting.system_id;
  s.wal_seg_size = greeting.wal_seg_size;
  s.pg_version = greeting.pg_version;
  return s;
}

Actions Acceptor::on_message(ConnId conn, const ProposerMessage& msg) {
  return std::visit(
      Overloaded{
          [&](const ProposerGreeting& m) { return on_greeting(conn, m); },
          [&](const VoteRequest& m) { return on_vote_request(conn, m); },
          [&](const ProposerElected& m) { return on_proposer_elected(conn, m); },
          [&](const AppendRequest& m) { return on_append_request(conn, m); },
          [&](const ReadWalRequest& m) { return on_read_wal_request(conn, m); },
          [&](const PeerFetchRequest& m) { return on_peer_fetch_request(conn, m); },
      },
      msg);
}

Actions Acceptor::refuse(ConnId conn, RefuseReason reason, std::string detail) const {
  Actions out;
  out.push_back(Send{conn, Refused{control_.term, reason, std::move(detail)}});
  return out;
}

VoteResponse Acceptor::make_vote_response(bool given) const {
  VoteResponse r;
  r.term = control_.term;
  r.vote_given = given;
  r.flush_lsn = flush_lsn_;
  r.truncate_lsn = control_.truncate_lsn;
  r.timeline_start_lsn = control_.timeline_start_lsn;
  // Rule 2: the history as it describes the durable WAL, never entries beyond it.
  r.term_history = control_.term_history.cut_at(flush_lsn_);
  return r;
}

AppendResponse Acceptor::make_append_response() const {
  AppendResponse r;
  r.term = control_.term;
  r.flush_lsn = flush_lsn_;
  r.commit_lsn = control_.commit_lsn;
  return r;
}

void Acceptor::persist(Actions& out) {
  persisted_ = control_;
  out.push_back(PersistControl{control_});
}

void Acceptor::maybe_persist_commit(Actions& out) {
  // Lazy: commit_lsn is recoverable (safety never rests on it), so it is stored
  // only once it is a segment ahead, keeping metadata fsyncs off the hot path.
  if (control_.commit_lsn.value() >=
      persisted_.commit_lsn.value() + std::max<std::uint64_t>(control_.wal_seg_size, 1)) {
    persist(out);
  }
}

void Acceptor::advance_commit(Lsn proposer_commit) {
  // Rule 7: our WAL up to flush_lsn is a prefix of the leader's log (we accepted
  // its ProposerElected), so whatever it committed below our flush is committed here.
  Lsn bound = std::min(proposer_commit, flush_lsn_);
  control_.commit_lsn = std::max(control_.commit_lsn, bound);
}

Actions Acceptor::on_greeting(ConnId conn, const ProposerGreeting& msg) {
  if (msg.timeline != control_.timeline) {
    return refuse(conn, RefuseReason::kWrongTimeline,
                  fmt::format("greeting for timeline {}, this is {}", msg.timeline.to_string(),
                              control_.timeline.to_string()));
  }
  if (msg.wal_seg_size != control_.wal_seg_size) {
    return refuse(conn, RefuseReason::kWrongTimeline,
                  fmt::format("greeting with wal_seg_size {}, timeline has {}", msg.wal_seg_size,
                              control_.wal_seg_size));
  }
  if (msg.pg_version / 10000 != control_.pg_version / 10000) {
    return refuse(conn, RefuseReason::kWrongTimeline,
                  fmt::format("greeting with pg_version {}, timeline has {}", msg.pg_version,
                              control_.pg_version));
  }
  if (msg.system_id != 0 && control_.system_id != 0 && msg.system_id != control_.system_id) {
    return refuse(conn, RefuseReason::kWrongTimeline,
                  fmt::format("greeting with system_id {}, timeline has {}", msg.system_id,
                              control_.system_id));
  }
  Actions out;
  if (control_.system_id == 0 && msg.system_id != 0) {
    control_.system_id = msg.system_id;
    persist(out);  // adopt the system id durably before the proposer relies on the match
  }
  out.push_back(Send{conn, AcceptorGreeting{id_, control_.term}});
  return out;
}

Actions Acceptor::on_vote_request(ConnId conn, const VoteRequest& msg) {
  if (control_.corrupt) {
    return refuse(conn, RefuseReason::kCorrupt,
                  fmt::format("acceptor {} found corruption below commit_lsn {}", id_,
                              control_.commit_lsn));
  }
  Actions out;
  if (msg.term <= control_.term) {
    // One vote per term; the reply still carries flush_lsn and the cut history so
    // that the proposer of this very term can resume after a reconnect.
    out.push_back(Send{conn, make_vote_response(false)});
    return out;
  }
  if (write_lsn_ > flush_lsn_) {
    // The reported flush_lsn must be durable and nothing unsynced may sit above
    // the point where the new leader starts streaming.
    out.push_back(SyncWal{write_lsn_});
    flush_lsn_ = write_lsn_;
  }
  control_.term = msg.term;
  elected_conn_.reset();  // a new term: no proposer elected in it yet
#ifdef WQ_CANARY_VOTE_BEFORE_PERSIST
  out.push_back(Send{conn, make_vote_response(true)});
  persist(out);
#else
  persist(out);  // the term is durable before the vote leaves: a crash must not forget the promise
  out.push_back(Send{conn, make_vote_response(true)});
#endif
  return out;
}

Actions Acceptor::on_proposer_elected(ConnId conn, const ProposerElected& msg) {
  if (control_.corrupt) {
    return refuse(conn, RefuseReason::kCorrupt, "corrupt acceptor does not join a term");
  }
  if (msg.term < control_.term) {
    return refuse(conn, RefuseReason::kStaleTerm,
                  fmt::format("ProposerElected term {} below acceptor term {}", msg.term,
                              control_.term));
  }
  if (msg.term > control_.term) {
    return refuse(conn, RefuseReason::kTermMismatch,
                  fmt::format("ProposerElected term {} but acceptor voted in term {}", msg.term,
                              control_.term));
  }
  if (msg.term_history.empty() || msg.term_history.last_term() != msg.term) {
    return refuse(conn, RefuseReason::kHistoryMismatch,
                  fmt::format("ProposerElected history {} does not end in term {}",
                              msg.term_history.to_string(), msg.term));
  }
  for (std::size_t k = 1; k < msg.term_history.size(); ++k) {
    const auto& e = msg.term_history.entries();
    if (!(e[k].term > e[k - 1].term) || e[k].lsn < e[k - 1].lsn) {
      return refuse(conn, RefuseReason::kHistoryMismatch,
                    fmt::format("malformed history {}", msg.term_history.to_string()));
    }
  }

  const TermHistory own = control_.term_history.cut_at(flush_lsn_);
  auto common = TermHistory::highest_common_point(own, flush_lsn_, msg.term_history, kNoEnd);
  // No common term: everything this acceptor holds is replaced from the start of
  // the proposer's history.
  Lsn point = common ? common->lsn : msg.term_history.entries().front().lsn;
  if (common) {
    // The histories must agree on their whole common prefix (I6).
    std::size_t n = 0;
    while (n < own.size() && own.entries()[n].term <= common->term) ++n;
    if (n > msg.term_history.size() ||
        !std::equal(own.entries().begin(), own.entries().begin() + static_cast<long>(n),
                    msg.term_history.entries().begin())) {
      return refuse(conn, RefuseReason::kHistoryMismatch,
                    fmt::format("histories disagree below common term {}: own {}, proposer {}",
                                common->term, own.to_string(), msg.term_history.to_string()));
    }
  }
#ifdef WQ_CANARY_TRUNCATE_BELOW_COMMIT
  // Cuts at the START of the common term instead of where the histories diverge,
  // with neither the cross-check nor the >= commit_lsn guard.
  if (common) {
    for (const TermSwitch& e : own.entries()) {
      if (e.term == common->term) point = e.lsn;
    }
  }
  if (write_lsn_.is_valid()) point = std::min(point, write_lsn_);
#else
  if (point != msg.start_streaming_at) {
    // A stale ProposerElected arriving after this acceptor's WAL changed (e.g. a
    // newer connection of the same term wrote more): the proposer recomputes.
    return refuse(conn, RefuseReason::kHistoryMismatch,
                  fmt::format("start_streaming_at {} but highest common point is {} (own {} "
                              "flush {}, proposer {})",
                              msg.start_streaming_at, point, own.to_string(), flush_lsn_,
                              msg.term_history.to_string()));
  }
  // Never cut committed WAL (I8): a violation means the protocol itself is broken.
  WQ_ASSERT(point >= control_.commit_lsn,
            "acceptor {}: truncation point {} below commit_lsn {} (own {} flush {}, proposer {})",
            id_, point, control_.commit_lsn, own.to_string(), flush_lsn_,
            msg.term_history.to_string());
  // The common point never lies above our WAL, except that an empty acceptor
  // starts its WAL there.
  WQ_ASSERT(point <= write_lsn_ || !write_lsn_.is_valid(),
            "acceptor {}: common point {} above write_lsn {}", id_, point, write_lsn_);
#endif

  Actions out;
  [[maybe_unused]] bool has_wal = write_lsn_.is_valid() && point <= write_lsn_;
#if defined(WQ_CANARY_SKIP_COMMON_POINT)
  if (has_wal) {
    // Keeps its divergent tail: write/flush stay where they are.
  } else
#elif defined(WQ_CANARY_NO_TRUNCATE)
  if (has_wal) {
    write_lsn_ = point;  // forgets the tail in memory but leaves it on disk
    flush_lsn_ = point;
  } else
#endif
  {
    // Truncate BEFORE persisting the new history: if we crashed between the two
    // with the history stored first, the old term's bytes above `point` would be
    // labelled with the new history, a later vote would report them as this
    // term's WAL, and a wrong donor could win. Truncation first leaves the old
    // history over a shorter WAL, which is consistent.
    out.push_back(TruncateWal{point});
    ++truncations_;
    write_lsn_ = point;
    flush_lsn_ = point;
  }
  control_.term_history = msg.term_history;
  if (!control_.timeline_start_lsn.is_valid()) {
    control_.timeline_start_lsn = msg.timeline_start_lsn.is_valid()
                                      ? msg.timeline_start_lsn
                                      : msg.term_history.entries().front().lsn;
  }
  // The restart scan for the end of WAL starts at commit_lsn: give it a real start.
  control_.commit_lsn =
      std::max(control_.commit_lsn, std::min(control_.timeline_start_lsn, flush_lsn_));
#ifdef WQ_CANARY_TRUNCATE_BELOW_COMMIT
  control_.commit_lsn = std::min(control_.commit_lsn, flush_lsn_);
#endif
  persist(out);  // the history is durable before any append of this term is accepted
  elected_conn_ = conn;
  last_acked_flush_ = flush_lsn_;
  return out;
}

Actions Acceptor::on_append_request(ConnId conn, const AppendRequest& msg) {
#ifdef WQ_CANARY_STALE_APPEND
  bool term_ok = msg.term <= control_.term;
  bool elected_ok = true;
#else
  bool term_ok = msg.term == control_.term;
  // Rule 5: only after this term's ProposerElected (its history ends in the term).
  bool elected_ok = control_.term_history.last_term() == msg.term;
#endif
  if (msg.term < control_.term && !term_ok) {
    return refuse(conn, RefuseReason::kStaleTerm,
                  fmt::format("append term {} below acceptor term {}", msg.term, control_.term));
  }
  if (!term_ok || !elected_ok) {
    return refuse(conn, RefuseReason::kNotElected,
                  fmt::format("append in term {} before its ProposerElected (acceptor term {}, "
                              "history {})",
                              msg.term, control_.term, control_.term_history.to_string()));
  }
  if (msg.end_lsn < msg.begin_lsn || msg.wal.size() != msg.end_lsn - msg.begin_lsn) {
    return refuse(conn, RefuseReason::kHistoryMismatch,
                  fmt::format("malformed append [{}, {}) with {} bytes", msg.begin_lsn,
                              msg.end_lsn, msg.wal.size()));
  }
  Actions out;
  if (msg.term == control_.term) elected_conn_ = conn;
  if (msg.begin_lsn == msg.end_lsn) {
    // Heartbeat: carries commit/truncate only; answered at once with durable state.
    advance_commit(msg.commit_lsn);
    control_.truncate_lsn = std::max(control_.truncate_lsn, msg.truncate_lsn);
    maybe_persist_commit(out);
    out.push_back(Send{conn, make_append_response()});
    last_acked_flush_ = flush_lsn_;
    return out;
  }
  if (msg.begin_lsn > write_lsn_) {
    return refuse(conn, RefuseReason::kHistoryMismatch,
                  fmt::format("append at {} leaves a gap after write_lsn {}", msg.begin_lsn,
                              write_lsn_));
  }
  if (msg.end_lsn > write_lsn_) {
    // Bytes below write_lsn_ in this term are identical to the leader's (same term,
    // same leader, or below the common point), so an overlap only adds the tail.
    std::uint64_t skip = write_lsn_ - msg.begin_lsn;
    WriteWal w{write_lsn_, std::vector<std::uint8_t>(
                               msg.wal.begin() + static_cast<long>(skip), msg.wal.end())};
    out.push_back(std::move(w));
    write_lsn_ = msg.end_lsn;
#ifdef WQ_CANARY_ACK_BEFORE_SYNC
    flush_lsn_ = write_lsn_;
#endif
  }
  advance_commit(msg.commit_lsn);
  control_.truncate_lsn = std::max(control_.truncate_lsn, msg.truncate_lsn);
  maybe_persist_commit(out);
#ifdef WQ_CANARY_ACK_BEFORE_SYNC
  out.push_back(Send{conn, make_append_response()});
  last_acked_flush_ = flush_lsn_;
#endif
  return out;
}

Actions Acceptor::on_read_wal_request(ConnId conn, const ReadWalRequest& msg) {
  if (control_.corrupt) {
    return refuse(conn, RefuseReason::kCorrupt, "corrupt acceptor serves no reads");
  }
  if (msg.term != control_.term) {
    // A donor serves only the reader's term: after a newer vote its WAL above the
    // common point may be cut and must not be handed to an old leader.
    return refuse(conn, RefuseReason::kNotServing,
                  fmt::format("read for term {} but acceptor is in term {}", msg.term,
                              control_.term));
  }
  if (msg.from_lsn >= flush_lsn_ || msg.to_lsn <= msg.from_lsn) {
    return refuse(conn, RefuseReason::kNotServing,
                  fmt::format("read [{}, {}) but flush_lsn is {}", msg.from_lsn, msg.to_lsn,
                              flush_lsn_));
  }
  Actions out;
  out.push_back(ServeRead{conn, control_.term, msg.from_lsn, std::min(msg.to_lsn, flush_lsn_)});
  return out;
}

Actions Acceptor::on_peer_fetch_request(ConnId conn, const PeerFetchRequest& msg) {
  if (control_.corrupt) {
    return refuse(conn, RefuseReason::kCorrupt, "corrupt acceptor serves no reads");
  }
  Lsn commit = std::min(control_.commit_lsn, flush_lsn_);
  // An empty fetcher does not know where the timeline starts: it asks from 0.
  Lsn from = std::max(msg.from_lsn, control_.timeline_start_lsn);
  if (from >= commit) {
    return refuse(conn, RefuseReason::kNotServing,
                  fmt::format("peer fetch from {} but commit_lsn is {}", msg.from_lsn, commit));
  }
  std::uint64_t bytes =
      std::min<std::uint64_t>(std::max<std::uint64_t>(msg.max_bytes, 1), kPeerFetchBytesMax);
  Lsn to = from + std::min(bytes, commit - from);
  Actions out;
  out.push_back(ServePeerFetch{conn, control_.term, commit, control_.term_history.cut_at(commit),
                               from, to});
  return out;
}

Acceptor::PeerFetchOutcome Acceptor::on_peer_fetch_response(const PeerFetchResponse& msg) {
  using Kind = PeerFetchOutcome::Kind;
  PeerFetchOutcome out;
  auto ignore = [&](std::string why) {
    PeerFetchOutcome r;
    r.kind = Kind::kIgnored;
    r.why = std::move(why);
    return r;
  };
  const TermHistory& peer = msg.term_history;
  const Lsn end = msg.begin_lsn + msg.wal.size();
  // The reply must describe committed WAL consistently, or nothing is taken from it.
  for (std::size_t k = 1; k < peer.size(); ++k) {
    const auto& e = peer.entries();
    if (!(e[k].term > e[k - 1].term) || e[k].lsn < e[k - 1].lsn) {
      return ignore(fmt::format("malformed peer history {}", peer.to_string()));
    }
  }
  if (!peer.empty() && peer.entries().back().lsn > msg.commit_lsn) {
    return ignore(fmt::format("peer history {} not cut at its commit_lsn {}", peer.to_string(),
                              msg.commit_lsn));
  }
  if (end > msg.commit_lsn) {
    return ignore(fmt::format("peer bytes [{}, {}) beyond its commit_lsn {}", msg.begin_lsn, end,
                              msg.commit_lsn));
  }
  if (!msg.wal.empty() && (peer.empty() || msg.begin_lsn < peer.entries().front().lsn)) {
    return ignore(fmt::format("peer bytes at {} not covered by its history {}", msg.begin_lsn,
                              peer.to_string()));
  }
  const bool empty = !write_lsn_.is_valid();
  if (empty) {
    // No WAL yet: the WAL starts where the peer's timeline starts.
    if (msg.wal.empty()) return ignore("empty reply to an empty acceptor");
    if (msg.begin_lsn != peer.entries().front().lsn) {
      return ignore(fmt::format("reply at {} but the peer's history starts at {}", msg.begin_lsn,
                                peer.entries().front().lsn));
    }
  } else if (msg.begin_lsn != write_lsn_) {
#ifndef WQ_CANARY_PEER_STALE_REPLY
    // Asked before our WAL moved (a proposer appended, or a truncation): the
    // bytes would not continue our WAL.
    return ignore(fmt::format("stale reply at {}: the WAL is written up to {}", msg.begin_lsn,
                              write_lsn_));
#endif
  }
  if (write_lsn_ > flush_lsn_) {
    // The common point is computed over durable WAL (as for a vote): sync first.
    out.actions.push_back(SyncWal{write_lsn_});
    flush_lsn_ = write_lsn_;
  }

  if (!empty) {
    const TermHistory own = control_.term_history.cut_at(flush_lsn_);
    auto common = TermHistory::highest_common_point(own, flush_lsn_, peer, msg.commit_lsn);
    if (!common) {
      return ignore(fmt::format("no common term: own {} flush {}, peer {} commit {}",
                                own.to_string(), flush_lsn_, peer.to_string(), msg.commit_lsn));
    }
    std::size_t n = 0;
    while (n < own.size() && own.entries()[n].term <= common->term) ++n;
    if (n > peer.size() || !std::equal(own.entries().begin(),
                                       own.entries().begin() + static_cast<long>(n),
                                       peer.entries().begin())) {
      return ignore(fmt::format("histories disagree below common term {}: own {}, peer {}",
                                common->term, own.to_string(), peer.to_string()));
    }
    if (common->lsn < flush_lsn_) {
      // The local tail above the common point is not the committed log, so it
      // was never committed: cut it. Committed WAL is never cut (I8); for a
      // corrupt acceptor everything below its valid end is committed WAL.
      Lsn floor = control_.corrupt ? flush_lsn_ : control_.commit_lsn;
      WQ_ASSERT(common->lsn >= floor,
                "acceptor {}: peer recovery would cut at {} below {} {} (own {} flush {}, peer {} "
                "commit {})",
                id_, common->lsn, control_.corrupt ? "the valid end" : "commit_lsn", floor,
                own.to_string(), flush_lsn_, peer.to_string(), msg.commit_lsn);
      out.actions.push_back(TruncateWal{common->lsn});
      ++truncations_;
      write_lsn_ = flush_lsn_ = common->lsn;
      elected_conn_.reset();
      if (peer.last_term() > control_.term) {
        // The divergent tail's writer is superseded: refuse its appends from now on.
        control_.term = peer.last_term();
        persist(out.actions);  // the raised term is durable (I10)
      }
      out.kind = Kind::kTruncated;
      return out;
    }
  }

  if (msg.wal.empty() || end <= write_lsn_) {
    advance_commit(msg.commit_lsn);
    maybe_persist_commit(out.actions);
    out.kind = Kind::kCaughtUp;
    return out;
  }

  // The local WAL is a prefix of the peer's committed log: append.
  TermHistory adopted = peer.cut_at(end);
  // Keep our own history if it already says the same about these bytes (e.g.
  // it runs ahead with the current term's entry); else take the peer's.
  bool keep = !empty && control_.term_history.cut_at(end) == adopted;
  Term term = std::max(control_.term, adopted.last_term());
  bool changed = !keep || term != control_.term || !control_.timeline_start_lsn.is_valid();
  bool term_raised = term != control_.term;
  if (!keep) control_.term_history = adopted;
  control_.term = term;
  if (!control_.timeline_start_lsn.is_valid()) control_.timeline_start_lsn = msg.begin_lsn;
  if (term_raised || control_.term_history.last_term() != control_.term) elected_conn_.reset();
  if (empty) {
    // Start the WAL at the peer's timeline start (the driver writes the first
    // segment's headers), as ProposerElected does on an empty acceptor.
    out.actions.push_back(TruncateWal{msg.begin_lsn});
    ++truncations_;
    write_lsn_ = flush_lsn_ = msg.begin_lsn;
  }
  if (changed) {
    // The history covering the new bytes is durable before they are: after a
    // crash it may run ahead of the WAL (readers cut it), never behind it.
    persist(out.actions);
  }
  out.actions.push_back(WriteWal{msg.begin_lsn, msg.wal});
  write_lsn_ = end;
  out.actions.push_back(SyncWal{end});
  flush_lsn_ = end;
  advance_commit(msg.commit_lsn);
  if (control_.corrupt && flush_lsn_ >= control_.commit_lsn) {
    control_.corrupt = false;
    persist(out.actions);  // repaired: votes and reads resume once this is durable
  } else {
    maybe_persist_commit(out.actions);
  }
  out.kind = Kind::kAppended;
  return out;
}

Actions Acceptor::on_wal_synced(Lsn synced_upto) {
  WQ_ASSERT(synced_upto <= write_lsn_, "acceptor {}: synced {} beyond write_lsn {}", id_,
            synced_upto, write_lsn_);
  Actions out;
  if (synced_upto <= flush_lsn_) return out;
  flush_lsn_ = synced_upto;
  if (elected_conn_ && flush_lsn_ > last_acked_flush_) {
    // Only durable, record-aligned flush_lsn is acknowledged (rule 5).
    out.push_back(Send{*elected_conn_, make_append_response()});
    last_acked_flush_ = flush_lsn_;
  }
  return out;
}

Actions Acceptor::flush_wal() {
  Actions out;
  if (write_lsn_ == flush_lsn_) return out;
  out.push_back(SyncWal{write_lsn_});
  Actions rest = on_wal_synced(write_lsn_);
  for (auto& a : rest) out.push_back(std::move(a));
  return out;
}

Actions Acceptor::on_disconnected(ConnId conn) {
  if (elected_conn_ == conn) elected_conn_.reset();
  Actions out;
  if (write_lsn_ > flush_lsn_) {
    out.push_back(SyncWal{write_lsn_});
    flush_lsn_ = write_lsn_;
  }
  return out;
}

void Acceptor::on_write_failed(ControlState stored, Lsn wal_end) {
  stored.term_history.check_invariants();
  WQ_ASSERT(stored.timeline == control_.timeline, "acceptor {}: write failure with the state of {}",
            id_, stored.timeline.to_string());
  WQ_ASSERT(stored.corrupt || stored.commit_lsn <= wal_end,
            "acceptor {}: stored commit_lsn {} above the end of WAL {} after a failed write", id_,
            stored.commit_lsn, wal_end);
  control_ = stored;
  persisted_ = std::move(stored);
  write_lsn_ = flush_lsn_ = last_acked_flush_ = wal_end;
  elected_conn_.reset();
  ++truncations_;
  check_invariants();
}

void Acceptor::check_invariants() const {
  control_.term_history.check_invariants();
  persisted_.term_history.check_invariants();
  WQ_ASSERT(flush_lsn_ <= write_lsn_, "acceptor {}: flush_lsn {} > write_lsn {}", id_, flush_lsn_,
            write_lsn_);
  if (!control_.corrupt) {
    WQ_ASSERT(control_.commit_lsn <= flush_lsn_, "acceptor {}: commit_lsn {} > flush_lsn {}", id_,
              control_.commit_lsn, flush_lsn_);
  }
  WQ_ASSERT(persisted_.commit_lsn <= control_.commit_lsn,
            "acceptor {}: persisted commit_lsn {} > in-memory {}", id_, persisted_.commit_lsn,
            control_.commit_lsn);
  WQ_ASSERT(persisted_.term == control_.term, "acceptor {}: term {} not persisted (stored {})",
            id_, control_.term, persisted_.term);
  WQ_ASSERT(persisted_.term_history == control_.term_history,
            "acceptor {}: history {} not persisted (stored {})", id_,
            control_.term_history.to_string(), persisted_.term_history.to_string());
  WQ_ASSERT(control_.term_history.last_term() <= control_.term,
            "acceptor {}: history {} has a term above the acceptor term {}", id_,
            control_.term_history.to_string(), control_.term);
  if (elected_conn_) {
    WQ_ASSERT(control_.term_history.last_term() == control_.term,
              "acceptor {}: elected connection without this term's history {}", id_,
              control_.term_history.to_string());
  }
  if (flush_lsn_.is_valid() && control_.timeline_start_lsn.is_valid()) {
    WQ_ASSERT(flush_lsn_ >= control_.timeline_start_lsn,
              "acceptor {}: flush_lsn {} below timeline start {}", id_, flush_lsn_,
              control_.timeline_start_lsn);
  }
  if (!control_.term_history.empty()) {
    WQ_ASSERT(control_.term_history.entries().front().lsn >= control_.timeline_start_lsn,
              "acceptor {}: history {} starts below timeline start {}", id_,
              control_.term_history.to_string(), control_.timeline_start_lsn);
  }
}

}  // namespace wq::core
