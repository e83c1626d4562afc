// Proposer state machine. See proposer.h and docs/PROTOCOL.md. Canary mutations
// (WQ_CANARY_*) sit next to the line they break; tests/sim proves each is caught.
#include "core/proposer.h"

#include <algorithm>
#include <limits>

#include "base/assert.h"
#include "base/overloaded.h"
#include "core/quorum.h"

namespace wq::core {

using base::Overloaded;

namespace {

// The proposer's own term has no end yet when computing common points.
constexpr Lsn kNoEnd{std::numeric_limits<std::uint64_t>::max()};
// Largest AppendRequest payload built from the buffer (Neon's MAX_SEND_SIZE); a
// single proposal larger than this is still sent whole.
constexpr std::uint64_t kAppendBytesMax = 128 * 1024;
// Bound on the messages one input may produce.
constexpr std::size_t kSendsPerInputMax = 1 << 20;

}  // namespace

const char* proposer_state_name(Proposer::State s) {
  switch (s) {
    case Proposer::State::kGreeting: return "greeting";
    case Proposer::State::kCampaigning: return "campaigning";
    case Proposer::State::kElected: return "elected";
    case Proposer::State::kSuperseded: return "superseded";
  }
  return "unknown";
}

Proposer::Proposer(Config config) : config_(std::move(config)) {
  WQ_ASSERT(!config_.acceptors.empty(), "proposer {} has no acceptors", config_.proposer_id);
  for (NodeId id : config_.acceptors) {
    bool inserted = peers_.emplace(id, Peer{}).second;
    WQ_ASSERT(inserted, "acceptor {} listed twice", id);
  }
  quorum_ = quorum_size(config_.acceptors.size());
  WQ_ASSERT(config_.window_bytes_max > 0, "window_bytes_max must be positive");
  WQ_ASSERT(config_.buffer_bytes_max >= config_.window_bytes_max,
            "buffer_bytes_max {} below window_bytes_max {}", config_.buffer_bytes_max,
            config_.window_bytes_max);
  WQ_ASSERT(config_.heartbeat_ticks > 0 && config_.election_timeout_ticks > 0,
            "tick intervals must be positive");
}

ProposerOutput Proposer::take_output() {
  ProposerOutput o = std::move(out_);
  out_ = ProposerOutput{};
  return o;
}

void Proposer::send(NodeId to, ProposerMessage msg) {
  WQ_ASSERT(out_.sends.size() < kSendsPerInputMax, "proposer output exceeds {} messages",
            kSendsPerInputMax);
  out_.sends.emplace_back(to, std::move(msg));
}

void Proposer::supersede(Term seen) {
  if (state_ == State::kSuperseded) return;
  state_ = State::kSuperseded;
  out_.superseded_by = seen;
}

Lsn Proposer::acked_flush_lsn(NodeId acceptor) const {
  auto it = peers_.find(acceptor);
  return it == peers_.end() ? Lsn{} : it->second.acked_flush;
}

// --- Connections -----------------------------------------------------------------

ProposerOutput Proposer::on_connected(NodeId acceptor) {
  auto it = peers_.find(acceptor);
  if (it == peers_.end() || state_ == State::kSuperseded) return take_output();
  Peer& peer = it->second;
  if (peer.phase != Phase::kDisconnected) cancel_reads_served_by(peer);
  cancel_read_of(acceptor);
  peer.epoch++;
  peer.phase = Phase::kGreeting;
  peer.info.reset();
  peer.accepted_elected = false;
  peer.unusable = false;
  ProposerGreeting g;
  g.timeline = config_.timeline;
  g.pg_version = config_.pg_version;
  g.system_id = config_.system_id;
  g.wal_seg_size = config_.wal_seg_size;
  g.proposer_id = config_.proposer_id;
  send(acceptor, g);
  return take_output();
}

ProposerOutput Proposer::on_disconnected(NodeId acceptor) {
  auto it = peers_.find(acceptor);
  if (it == peers_.end()) return take_output();
  Peer& peer = it->second;
  cancel_reads_served_by(peer);
  cancel_read_of(acceptor);
  peer.phase = Phase::kDisconnected;
  peer.info.reset();
  peer.accepted_elected = false;
  // Reads this peer was waiting for from others are dropped when they arrive (epoch).
  return take_output();
}

void Proposer::cancel_reads_served_by(Peer& source) {
  for (const PendingRead& r : source.reads_served) {
    auto it = peers_.find(r.target);
    if (it != peers_.end() && it->second.epoch == r.target_epoch) it->second.read_pending = false;
  }
  source.reads_served.clear();
}

// Forgets `target`'s outstanding recovery read (each target has at most one, on
// one source). A late response for it may still match a newer read at the same
// LSN; that is harmless: any response in our term from an acceptor we chose holds
// bytes of our log.
void Proposer::cancel_read_of(NodeId target) {
  Peer& t = peers_.at(target);
  for (auto& [id, p] : peers_) {
    std::erase_if(p.reads_served, [&](const PendingRead& r) { return r.target == target; });
  }
  t.read_pending = false;
}

// --- Messages --------------------------------------------------------------------

ProposerOutput Proposer::on_message(NodeId from, const AcceptorMessage& msg) {
  auto it = peers_.find(from);
  if (it == peers_.end() || state_ == State::kSuperseded) return take_output();
  Peer& peer = it->second;
  if (peer.phase == Phase::kDisconnected) return take_output();
  std::visit(Overloaded{
                 [&](const AcceptorGreeting& m) { on_acceptor_greeting(from, peer, m); },
                 [&](const VoteResponse& m) { on_vote_response(from, peer, m); },
                 [&](const AppendResponse& m) { on_append_response(from, peer, m); },
                 [&](const ReadWalResponse& m) { on_read_wal_response(from, peer, m); },
                 [&](const PeerFetchResponse&) {},  // not ours: peers use it
                 [&](const Refused& m) { on_refused(from, peer, m); },
             },
             msg);
  if (state_ == State::kElected) flush_commit();
  return take_output();
}

void Proposer::on_acceptor_greeting(NodeId from, Peer& peer, const AcceptorGreeting& m) {
  if (peer.phase != Phase::kGreeting) return;  // duplicate
  peer.greeting_term = m.term;
  peer.phase = Phase::kGreeted;
  max_seen_term_ = std::max(max_seen_term_, m.term);
  switch (state_) {
    case State::kGreeting: {
      std::size_t greeted = 0;
      for (const auto& [id, p] : peers_) {
        if (p.phase != Phase::kDisconnected && p.phase != Phase::kGreeting) ++greeted;
      }
      if (greeted >= quorum_) start_campaign();  // rule 1
      break;
    }
    case State::kCampaigning:
    case State::kElected:
      if (m.term > term_) {
        supersede(m.term);  // rule 9: a higher term exists
        return;
      }
      // After election this fetches the acceptor's flush_lsn and cut history for
      // its ProposerElected (an equal-term refusal still carries them).
      request_vote(from, peer);
      break;
    case State::kSuperseded:
      break;
  }
}

void Proposer::start_campaign() {
  term_ = Term{std::max(max_seen_term_, term_).value() + 1};
  state_ = State::kCampaigning;
  ticks_in_campaign_ = 0;
  for (auto& [id, p] : peers_) {
    p.vote.reset();
    p.info.reset();
    if (p.phase == Phase::kGreeted || p.phase == Phase::kVoting || p.phase == Phase::kVoted) {
      request_vote(id, p);
    }
  }
}

void Proposer::request_vote(NodeId id, Peer& peer) {
  cancel_read_of(id);
  peer.phase = Phase::kVoting;
  peer.info.reset();
  peer.wait_ticks = 0;
  send(id, VoteRequest{term_});
}

void Proposer::on_vote_response(NodeId from, Peer& peer, const VoteResponse& m) {
  if (m.term > term_) {
    supersede(m.term);
    return;
  }
  // Only the answer to our own outstanding request on this connection counts
  // (rule 2); an older campaign's reply carries a lower term and is skipped.
  if (peer.phase != Phase::kVoting || m.term < term_) return;
  peer.info = m;
  peer.phase = Phase::kVoted;
  if (state_ == State::kCampaigning) {
    if (m.vote_given) {
      peer.vote = m;
      maybe_win();
    }
  } else if (state_ == State::kElected) {
    if (m.vote_given) peer.vote = m;
    send_elected(from, peer, m);
  }
}

void Proposer::maybe_win() {
  std::size_t votes = 0;
  for (const auto& [id, p] : peers_) {
    if (p.vote) ++votes;
  }
  if (votes < quorum_) return;

  // Rule 3: donor = highest (last_log_term, flush_lsn); the first in id order wins ties.
  std::optional<NodeId> donor;
  std::pair<Term, Lsn> best{};
  for (const auto& [id, p] : peers_) {
    if (!p.vote) continue;
#ifdef WQ_CANARY_DONOR_BY_TERM
    std::pair<Term, Lsn> key{p.vote->term, p.vote->flush_lsn};
#else
    std::pair<Term, Lsn> key{p.vote->term_history.last_term(), p.vote->flush_lsn};
#endif
    if (!donor || key > best) {
      donor = id;
      best = key;
    }
  }
  WQ_ASSERT(donor.has_value(), "won without a donor");
  const VoteResponse& dv = *peers_.at(*donor).vote;
  donor_ = donor;
  state_ = State::kElected;
  out_.elected_now = true;

  bool bootstrap = !dv.flush_lsn.is_valid() && dv.term_history.empty();
  term_start_lsn_ = bootstrap ? config_.timeline_start_lsn : dv.flush_lsn;
  WQ_ASSERT(term_start_lsn_.is_valid(),
            "no acceptor has WAL and config.timeline_start_lsn is 0: nowhere to start");
  timeline_start_lsn_ = dv.timeline_start_lsn;
  for (const auto& [id, p] : peers_) {
    if (!timeline_start_lsn_.is_valid() && p.vote) timeline_start_lsn_ = p.vote->timeline_start_lsn;
  }
  if (!timeline_start_lsn_.is_valid()) {
    timeline_start_lsn_ =
        dv.term_history.empty() ? term_start_lsn_ : dv.term_history.entries().front().lsn;
  }
  history_ = dv.term_history;
  history_.push(term_, term_start_lsn_);

  Lsn vote_truncate;
  for (const auto& [id, p] : peers_) {
    if (p.vote) vote_truncate = std::max(vote_truncate, p.vote->truncate_lsn);
  }
  truncate_lsn_ = std::min(vote_truncate, term_start_lsn_);
  end_lsn_ = term_start_lsn_;
  buffer_start_ = term_start_lsn_;
  buffer_.clear();
  boundaries_.clear();

#ifdef WQ_CANARY_COMMIT_FROM_VOTES
  {
    std::vector<Lsn> flushes;
    for (const auto& [id, p] : peers_) flushes.push_back(p.vote ? p.vote->flush_lsn : Lsn{});
    Lsn c = quorum_lsn(flushes);
    if (c > commit_lsn_) {
      commit_lsn_ = c;
      out_.commit_advanced = true;
    }
  }
#endif

  for (auto& [id, p] : peers_) {
    if (p.phase == Phase::kVoted && p.info) send_elected(id, p, *p.info);
  }
}

void Proposer::send_elected(NodeId id, Peer& peer, const VoteResponse& vr) {
  // Rule 4: the same computation the acceptor repeats on its side.
  auto common = TermHistory::highest_common_point(vr.term_history, vr.flush_lsn, history_, kNoEnd);
  Lsn point = common ? common->lsn : history_.entries().front().lsn;
  ProposerElected pe;
  pe.term = term_;
  pe.start_streaming_at = point;
  pe.term_history = history_;
  pe.timeline_start_lsn = timeline_start_lsn_;
  send(id, pe);
  cancel_read_of(id);  // a read for the old stream position must not pile up
  peer.phase = Phase::kStreaming;
  peer.start_streaming_at = point;
  peer.next_send_lsn = point;
  peer.ticks_since_send = 0;
  peer.sent_commit = Lsn{};
  pump(id, peer);
}

void Proposer::on_append_response(NodeId from, Peer& peer, const AppendResponse& m) {
  if (m.term > term_) {
    supersede(m.term);
    return;
  }
  if (state_ != State::kElected || m.term < term_) return;
  // A term_ AppendResponse means the acceptor accepted our ProposerElected, so
  // its WAL up to flush_lsn is a prefix of our log.
  peer.accepted_elected = true;
  peer.acked_flush = std::max(peer.acked_flush, m.flush_lsn);
  update_commit();
  evict(everyone_has());
  if (peer.phase == Phase::kStreaming) pump(from, peer);
}

Lsn Proposer::everyone_has() const {
  Lsn low{std::numeric_limits<std::uint64_t>::max()};
  for (const auto& [id, p] : peers_) low = std::min(low, p.acked_flush);
  return low;
}

void Proposer::update_commit() {
  std::vector<Lsn> flushes;
  flushes.reserve(peers_.size());
  for (const auto& [id, p] : peers_) {
    Lsn f = p.acked_flush;
#ifndef WQ_CANARY_COMMIT_BELOW_TERM_START
    // Rule 6: an ack below term_start_lsn may cover bytes of another term.
    if (f < term_start_lsn_) f = Lsn{};
#endif
    flushes.push_back(f);
  }
#ifdef WQ_CANARY_COMMIT_MAX
  Lsn c = *std::max_element(flushes.begin(), flushes.end());
#else
  Lsn c = quorum_lsn(flushes);
#endif
  if (c > commit_lsn_) {
    commit_lsn_ = c;
    out_.commit_advanced = true;
  }
  truncate_lsn_ = std::max(truncate_lsn_, std::min(everyone_has(), commit_lsn_));
}

void Proposer::on_read_wal_response(NodeId from, Peer& source, const ReadWalResponse& m) {
  (void)from;
  if (m.term > term_) {
    supersede(m.term);
    return;
  }
  // Replies come in request order; entries before the match were lost.
  auto match = std::find_if(source.reads_served.begin(), source.reads_served.end(),
                            [&](const PendingRead& p) { return p.from == m.begin_lsn; });
  if (match == source.reads_served.end()) return;
  PendingRead r = *match;
  for (auto k = source.reads_served.begin(); k != match; ++k) {
    auto lost = peers_.find(k->target);
    if (lost != peers_.end() && lost->second.epoch == k->target_epoch) {
      lost->second.read_pending = false;
    }
  }
  source.reads_served.erase(source.reads_served.begin(), match + 1);
  auto it = peers_.find(r.target);
  if (it == peers_.end()) return;
  Peer& target = it->second;
  if (target.epoch != r.target_epoch || target.phase != Phase::kStreaming) return;
  target.read_pending = false;
  Lsn end = m.begin_lsn + m.wal.size();
  if (m.term != term_ || m.begin_lsn != r.from || target.next_send_lsn != r.from ||
      m.wal.empty() || end > end_lsn_) {
    return;  // stale or useless; pump retries on tick
  }
  AppendRequest a;
  a.term = term_;
  a.begin_lsn = m.begin_lsn;
  a.end_lsn = end;
  a.commit_lsn = commit_lsn_;
  a.truncate_lsn = truncate_lsn_;
  a.wal = m.wal;
  send(r.target, std::move(a));
  target.next_send_lsn = end;
  target.ticks_since_send = 0;
  target.sent_commit = commit_lsn_;
  pump(r.target, target);
}

void Proposer::on_refused(NodeId from, Peer& peer, const Refused& m) {
  if (term_.value() != 0 && m.term > term_) {
    supersede(m.term);  // rule 9
    return;
  }
  switch (m.reason) {
    case RefuseReason::kWrongTimeline:
    case RefuseReason::kCorrupt:
      peer.unusable = true;
      if (peer.phase == Phase::kVoting) peer.phase = Phase::kVoted;
      if (!peer.reads_served.empty()) {
        cancel_reads_served_by(peer);
      }
      break;
    case RefuseReason::kNotServing:
      // A recovery read this peer could not serve; the target retries on tick.
      if (!peer.reads_served.empty()) {
        PendingRead r = peer.reads_served.front();
        peer.reads_served.pop_front();
        auto it = peers_.find(r.target);
        if (it != peers_.end() && it->second.epoch == r.target_epoch) {
          it->second.read_pending = false;
        }
      }
      break;
    case RefuseReason::kStaleTerm:
    case RefuseReason::kNotElected:
    case RefuseReason::kTermMismatch:
    case RefuseReason::kHistoryMismatch:
    case RefuseReason::kNoSpace:
      // The acceptor's WAL moved under us (stale ProposerElected, reconnect race) or
      // it has not taken our ProposerElected: fetch its state again and resend.
      if (state_ == State::kElected && peer.phase == Phase::kStreaming) request_vote(from, peer);
      break;
  }
}

// --- Streaming -------------------------------------------------------------------

Lsn Proposer::source_end(NodeId id, const Peer& peer) const {
  if (peer.phase == Phase::kDisconnected || peer.phase == Phase::kGreeting || peer.unusable) {
    return Lsn{};
  }
  Lsn end;
  if (peer.accepted_elected) end = peer.acked_flush;
  // The donor's WAL up to its vote's flush_lsn is the base of our history; it
  // serves it while it stays in our term (it checks the read's term).
  if (donor_ && *donor_ == id && peer.vote) end = std::max(end, peer.vote->flush_lsn);
  return end;
}

std::optional<NodeId> Proposer::choose_read_source(NodeId target, Lsn from) const {
  if (donor_ && *donor_ != target && source_end(*donor_, peers_.at(*donor_)) > from) return donor_;
  std::optional<NodeId> best;
  Lsn best_end;
  for (const auto& [id, p] : peers_) {
    if (id == target) continue;
    Lsn e = source_end(id, p);
    if (e > from && e > best_end) {
      best = id;
      best_end = e;
    }
  }
  return best;
}

void Proposer::pump(NodeId id, Peer& peer) {
  if (state_ != State::kElected || peer.phase != Phase::kStreaming) return;
  while (peer.next_send_lsn < end_lsn_) {
    Lsn base = std::max(peer.acked_flush, peer.start_streaming_at);
    std::uint64_t in_flight = peer.next_send_lsn > base ? peer.next_send_lsn - base : 0;
    if (in_flight >= config_.window_bytes_max) return;
    std::uint64_t room = config_.window_bytes_max - in_flight;
    if (peer.next_send_lsn >= buffer_start_) {
      // From the buffer: the largest record boundary within the room (and the
      // message cap), or one whole proposal if nothing is in flight.
      Lsn limit = peer.next_send_lsn + std::min(room, kAppendBytesMax);
      auto first = std::upper_bound(boundaries_.begin(), boundaries_.end(), peer.next_send_lsn);
      WQ_ASSERT(first != boundaries_.end(), "no record boundary after {} below end {}",
                peer.next_send_lsn, end_lsn_);
      Lsn end = *first;
      if (end - peer.next_send_lsn > room) return;  // wait for acks
      for (auto b = first; b != boundaries_.end() && *b <= limit; ++b) end = *b;
      AppendRequest a;
      a.term = term_;
      a.begin_lsn = peer.next_send_lsn;
      a.end_lsn = end;
      a.commit_lsn = commit_lsn_;
      a.truncate_lsn = truncate_lsn_;
      auto off = static_cast<long>(peer.next_send_lsn - buffer_start_);
      a.wal.assign(buffer_.begin() + off,
                   buffer_.begin() + off + static_cast<long>(end - peer.next_send_lsn));
      send(id, std::move(a));
      peer.next_send_lsn = end;
      peer.ticks_since_send = 0;
      peer.sent_commit = commit_lsn_;
      continue;
    }
    // Below the buffer: the donor's WAL or evicted own WAL, read from an acceptor
    // that has it in our term and forwarded; never buffered here.
    if (peer.read_pending) return;
    auto source = choose_read_source(id, peer.next_send_lsn);
    if (!source) return;  // retried on tick
    Peer& src = peers_.at(*source);
    Lsn to = std::min({buffer_start_, source_end(*source, src),
                       peer.next_send_lsn + std::min(room, kAppendBytesMax)});
    WQ_ASSERT(src.reads_served.size() < peers_.size(), "too many reads queued on acceptor {}",
              *source);
    src.reads_served.push_back(PendingRead{id, peer.epoch, peer.next_send_lsn, to});
    peer.read_pending = true;
    peer.wait_ticks = 0;
    send(*source, ReadWalRequest{term_, peer.next_send_lsn, to});
    return;
  }
}

void Proposer::pump_all() {
  for (auto& [id, p] : peers_) pump(id, p);
}

void Proposer::send_heartbeat(NodeId id, Peer& peer) {
  AppendRequest a;
  a.term = term_;
  a.begin_lsn = peer.next_send_lsn;
  a.end_lsn = peer.next_send_lsn;
  a.commit_lsn = commit_lsn_;
  a.truncate_lsn = truncate_lsn_;
  send(id, std::move(a));
  peer.ticks_since_send = 0;
  peer.sent_commit = commit_lsn_;
}

void Proposer::flush_commit() {
  // Broadcast a commit advance to acceptors that did not get it with data.
  for (auto& [id, p] : peers_) {
    if (p.phase == Phase::kStreaming && p.sent_commit < commit_lsn_) send_heartbeat(id, p);
  }
}

ProposerOutput Proposer::tick() {
  switch (state_) {
    case State::kGreeting:
    case State::kSuperseded:
      break;
    case State::kCampaigning:
      if (++ticks_in_campaign_ >= config_.election_timeout_ticks) {
        start_campaign();  // votes went missing: try again with a higher term
      }
      break;
    case State::kElected:
      for (auto& [id, p] : peers_) {
        // A reply that never came (the connection is assumed FIFO, but be robust).
        if (p.phase == Phase::kVoting && ++p.wait_ticks >= config_.election_timeout_ticks) {
          request_vote(id, p);
        }
        if (p.phase != Phase::kStreaming) continue;
        if (p.read_pending && ++p.wait_ticks >= config_.election_timeout_ticks) {
          cancel_read_of(id);
        }
        pump(id, p);
        if (++p.ticks_since_send >= config_.heartbeat_ticks) send_heartbeat(id, p);
      }
      flush_commit();
      break;
  }
  return take_output();
}

// --- New WAL ---------------------------------------------------------------------

void Proposer::evict(Lsn upto) {
  upto = std::min(upto, end_lsn_);
  if (upto <= buffer_start_) return;
  // Only at a record boundary: the end of a proposal.
  auto it = std::upper_bound(boundaries_.begin(), boundaries_.end(), upto);
  if (it == boundaries_.begin()) return;
  Lsn cut = *std::prev(it);
  buffer_.erase(buffer_.begin(), buffer_.begin() + static_cast<long>(cut - buffer_start_));
  boundaries_.erase(boundaries_.begin(), it);
  buffer_start_ = cut;
}

std::uint64_t Proposer::evictable_bytes() const {
  // Committed WAL is durable on a quorum in our term and can be read back from
  // it; WAL every acceptor has is never needed again.
  Lsn upto = std::min(std::max(commit_lsn_, everyone_has()), end_lsn_);
  if (upto <= buffer_start_) return 0;
  auto it = std::upper_bound(boundaries_.begin(), boundaries_.end(), upto);
  if (it == boundaries_.begin()) return 0;
  return *std::prev(it) - buffer_start_;
}

bool Proposer::can_propose(std::uint64_t bytes) const {
  if (state_ != State::kElected || bytes == 0 || bytes > config_.window_bytes_max) return false;
  return buffer_.size() - evictable_bytes() + bytes <= config_.buffer_bytes_max;
}

ProposerOutput Proposer::propose(Lsn begin, std::vector<std::uint8_t> wal) {
  WQ_ASSERT(state_ == State::kElected, "propose in state {}", proposer_state_name(state_));
  WQ_ASSERT(begin == end_lsn_, "propose at {} but end_lsn is {}", begin, end_lsn_);
  WQ_ASSERT(can_propose(wal.size()), "propose of {} bytes does not fit (buffer {} of {})",
            wal.size(), buffer_.size(), config_.buffer_bytes_max);
  if (buffer_.size() + wal.size() > config_.buffer_bytes_max) {
    evict(std::max(commit_lsn_, everyone_has()));
  }
  buffer_.insert(buffer_.end(), wal.begin(), wal.end());
  end_lsn_ += wal.size();
  boundaries_.push_back(end_lsn_);
  WQ_ASSERT(buffer_.size() <= config_.buffer_bytes_max, "buffer {} over bound {}", buffer_.size(),
            config_.buffer_bytes_max);
  pump_all();
  return take_output();
}

// --- Checks ----------------------------------------------------------------------

void Proposer::check_invariants() const {
  history_.check_invariants();
  WQ_ASSERT(quorum_ == quorum_size(peers_.size()), "quorum {} for {} acceptors", quorum_,
            peers_.size());
  if (state_ == State::kElected) {
    WQ_ASSERT(!history_.empty() && history_.last_term() == term_,
              "elected in term {} with history {}", term_, history_.to_string());
    WQ_ASSERT(history_.entries().back().lsn == term_start_lsn_,
              "history {} does not end at term_start_lsn {}", history_.to_string(),
              term_start_lsn_);
    WQ_ASSERT(donor_.has_value(), "elected without a donor");
    WQ_ASSERT(end_lsn_ >= term_start_lsn_, "end_lsn {} below term_start_lsn {}", end_lsn_,
              term_start_lsn_);
    WQ_ASSERT(commit_lsn_ <= end_lsn_, "commit_lsn {} beyond end_lsn {}", commit_lsn_, end_lsn_);
  }
  WQ_ASSERT(buffer_start_ + buffer_.size() == end_lsn_ || state_ != State::kElected,
            "buffer [{}, +{}) does not end at end_lsn {}", buffer_start_, buffer_.size(), end_lsn_);
  WQ_ASSERT(buffer_.size() <= config_.buffer_bytes_max, "buffer {} over bound {}", buffer_.size(),
            config_.buffer_bytes_max);
  Lsn prev = buffer_start_;
  for (Lsn b : boundaries_) {
    WQ_ASSERT(b > prev, "record boundaries not increasing at {}", b);
    prev = b;
  }
  WQ_ASSERT(boundaries_.empty() ? buffer_.empty() : boundaries_.back() == end_lsn_,
            "last record boundary is not end_lsn {}", end_lsn_);
  std::map<NodeId, int> reads_of;
  for (const auto& [id, p] : peers_) {
    for (const PendingRead& r : p.reads_served) {
      WQ_ASSERT(r.target != id, "acceptor {} reads from itself", id);
      WQ_ASSERT(++reads_of[r.target] == 1, "acceptor {} has two outstanding reads", r.target);
    }
  }
  for (const auto& [id, p] : peers_) {
    WQ_ASSERT(p.reads_served.size() < peers_.size(), "acceptor {}: {} reads queued", id,
              p.reads_served.size());
    WQ_ASSERT(!p.read_pending || reads_of[id] == 1, "acceptor {}: read pending but not queued",
              id);
    if (p.phase == Phase::kStreaming) {
      WQ_ASSERT(p.next_send_lsn <= end_lsn_, "acceptor {}: next_send {} beyond end_lsn {}", id,
                p.next_send_lsn, end_lsn_);
    }
    WQ_ASSERT(p.acked_flush <= end_lsn_ || state_ != State::kElected,
              "acceptor {}: acked flush {} beyond end_lsn {}", id, p.acked_flush, end_lsn_);
  }
}

}  // namespace wq::core
