// One hosted timeline: the acceptor on its strand, its actions on the I/O
// thread (see timeline.h).
#include "safekeeper/timeline.h"

#include <spdlog/spdlog.h>

#include <charconv>
#include <limits>

#include "base/assert.h"
#include "codec/messages.h"
#include "wal/decoder.h"

namespace wq::safekeeper {

namespace {
// One ReadWalResponse/PeerFetchResponse carries at most this much WAL (the
// requester asks again for the rest); a single larger record still goes whole.
constexpr std::uint64_t kReadBytesMax = 128 * 1024;
constexpr std::uint64_t kReadChunkBytes = 256 * 1024;
constexpr auto kNoSpaceRetry = std::chrono::seconds(1);

// Built in steps: GCC 12 warns (maybe-uninitialized) on the nested aggregate temporaries.
core::Action no_space_refusal(core::ConnId to, core::Term term) {
  core::Refused r;
  r.term = term;
  r.reason = core::RefuseReason::kNoSpace;
  r.detail = "disk full: appends refused, reads served";
  core::Send send;
  send.to = to;
  send.msg = std::move(r);
  return core::Action(std::move(send));
}
}  // namespace

Timeline::Timeline(asio::io_context& io, IoThread& io_thread, storage::ControlStore& control_store,
                   Metrics& metrics, core::NodeId node, core::ControlState persisted,
                   core::Lsn wal_end, storage::WalStore store, std::uint64_t retention_bytes)
    : key_(persisted.timeline),
      node_(node),
      io_thread_(io_thread),
      control_store_(control_store),
      metrics_(metrics),
      strand_(asio::make_strand(io.get_executor())),
      retention_bytes_(retention_bytes),
      acceptor_(std::make_unique<core::Acceptor>(node, persisted, wal_end)),
      store_(std::move(store)),
      stored_(persisted),
      synced_upto_(wal_end) {
  status_.key = key_;
  status_.disk_bytes = store_.disk_usage_bytes();
  publish();
}

// ---------------------------------------------------------------- any thread

void Timeline::attach(core::ConnId conn, std::shared_ptr<net::FramedConnection> connection) {
  std::lock_guard lock(conns_mu_);
  conns_[conn] = std::move(connection);
}

void Timeline::post_message(core::ConnId conn, core::ProposerMessage msg) {
  asio::post(strand_, [self = shared_from_this(), conn, m = std::move(msg)]() mutable {
    self->handle(conn, std::move(m));
  });
}

void Timeline::post_disconnected(core::ConnId conn) {
  asio::post(strand_, [self = shared_from_this(), conn] {
    {
      std::lock_guard lock(self->conns_mu_);
      self->conns_.erase(conn);
    }
    // Flush on disconnect (Neon lesson §7.4): the next vote reports durable WAL only.
    self->submit(self->acceptor_->on_disconnected(conn));
    self->publish();
  });
}

TimelineStatus Timeline::status() const {
  TimelineStatus s;
  {
    std::lock_guard lock(status_mu_);
    s = status_;
  }
  {
    std::lock_guard lock(conns_mu_);
    for (const auto& [id, c] : conns_) s.conns.push_back({id, c->remote_address()});
  }
  std::lock_guard lock(learners_mu_);
  for (const auto& [slot, p] : slots_) s.learners.push_back({slot, 0, p.flush, p.application_name});
  for (const auto& [conn, p] : conn_learners_) {
    s.learners.push_back({"", conn, p.flush, p.application_name});
  }
  return s;
}

// ---------------------------------------------------------------- learners

std::uint64_t Timeline::system_id() const {
  std::lock_guard lock(status_mu_);
  return status_.system_id;
}

std::uint32_t Timeline::wal_seg_size() const {
  std::lock_guard lock(status_mu_);
  return status_.wal_seg_size;
}

void Timeline::wait_commit(std::uint64_t id, core::Lsn after, std::function<void()> done) {
  {
    std::lock_guard lock(learners_mu_);
    // publish() stores stream_commit_ before taking this lock: checked under
    // it, a waiter is either answered here or seen by the next publish().
    if (held_end() <= after) {
      commit_waiters_[id] = {after, std::move(done)};
      return;
    }
  }
  done();
}

void Timeline::cancel_commit_wait(std::uint64_t id) {
  std::lock_guard lock(learners_mu_);
  commit_waiters_.erase(id);
}

void Timeline::learner_read(std::shared_ptr<VerifiedReader> reader, core::Lsn from, core::Lsn to,
                            std::uint64_t bytes_max, ReadDone done) {
  auto self = shared_from_this();
  io_thread_.push(IoJob{nullptr, 0, 0, {}, [self, reader = std::move(reader), from, to, bytes_max,
                                            done = std::move(done)] {
    auto read = [&](core::Lsn at, std::span<std::uint8_t> out) { return self->store_.read(at, out); };
    // Up to the durable end (record-aligned, ≥ the streamable end): the record
    // holding `to` is checked whole before any of its bytes leave.
    auto r = reader->read(read, self->store_.first_lsn(), from, to, self->store_.flush_lsn(),
                          bytes_max);
    if (!r) {
      std::optional<TimelineStatus::Damage> damage;
      {
        std::lock_guard lock(self->status_mu_);
        if (self->status_.corrupt) damage = self->status_.last_damage;
      }
      if (r.error().code == base::ErrorCode::kEndOfData && damage) {
        // Cut after damage found earlier: say so rather than "not held".
        done(base::Unexpected{
            base::ErrorCode::kCorrupt,
            fmt::format("WAL damaged at {} on this safekeeper ({}); cut at {} and being repaired "
                        "from peers: retry later or read from another safekeeper",
                        damage->at, damage->reason, damage->valid_end)});
        return;
      }
      done(base::Unexpected{r.error()});
      return;
    }
    if (r->unverified > 0) {
      spdlog::info("event=learner_unverified_prefix timeline={} from={} bytes={}: the record "
                   "holding them starts before the oldest segment held; page headers checked only",
                   self->key_.to_string(), from, r->unverified);
    }
    if (r->damage) self->io_damage(*r->damage, "learner");
    if (r->bytes.empty()) {
      const Damage& d = *r->damage;
      done(base::Unexpected{
          base::ErrorCode::kCorrupt,
          fmt::format("WAL damaged at {} on this safekeeper ({}); nothing after {} is sent; the "
                      "timeline is marked corrupt and repaired from peers: retry later or read "
                      "from another safekeeper",
                      d.at, d.reason, d.valid_end)});
      return;
    }
    self->metrics_.learner_bytes_sent.fetch_add(r->bytes.size(), std::memory_order_relaxed);
    done(std::move(r->bytes));
  }});
}

void Timeline::on_learner_flush(const std::optional<std::string>& slot, std::uint64_t conn,
                                core::Lsn flush, const std::string& application_name) {
  // A confirmed position only moves forward (a learner reporting less, e.g.
  // a slot shared by mistake or a stale connection, never gives back WAL it
  // already let go) and never past what this safekeeper may stream (the
  // session clamps too; this keeps the invariant local).
  flush = std::min(flush, stream_commit_lsn());
  std::lock_guard lock(learners_mu_);
  LearnerPos& p = slot ? slots_[*slot] : conn_learners_[conn];
  p.application_name = application_name;
  if (flush.is_valid() && flush > p.flush) {
    p.flush = flush;
    if (slot) slots_dirty_ = true;
  }
}

void Timeline::forget_learner_conn(std::uint64_t conn) {
  std::lock_guard lock(learners_mu_);
  conn_learners_.erase(conn);
}

std::optional<core::Lsn> Timeline::slot_flush(const std::string& slot) const {
  std::lock_guard lock(learners_mu_);
  auto it = slots_.find(slot);
  if (it == slots_.end() || !it->second.flush.is_valid()) return std::nullopt;
  return it->second.flush;
}

void Timeline::drop_slot(const std::string& slot) {
  std::lock_guard lock(learners_mu_);
  if (slots_.erase(slot) > 0) slots_dirty_ = true;
}

void Timeline::load_learners(const std::string& text) {
  std::lock_guard lock(learners_mu_);
  std::size_t start = 0;
  while (start < text.size()) {
    std::size_t nl = text.find('\n', start);
    std::string line = text.substr(start, nl == std::string::npos ? std::string::npos : nl - start);
    start = nl == std::string::npos ? text.size() : nl + 1;
    std::size_t sp = line.rfind(' ');
    if (sp == std::string::npos || sp == 0) continue;
    std::uint64_t v = 0;
    auto [end, ec] = std::from_chars(line.data() + sp + 1, line.data() + line.size(), v);
    if (ec != std::errc{} || end != line.data() + line.size()) continue;
    slots_[line.substr(0, sp)].flush = core::Lsn(v);
  }
}

std::optional<core::Lsn> Timeline::learner_horizon(std::string* persist_text) {
  std::lock_guard lock(learners_mu_);
  if (slots_dirty_) {
    for (const auto& [slot, p] : slots_) *persist_text += fmt::format("{} {}\n", slot, p.flush.value());
    if (slots_.empty()) *persist_text = "\n";  // an empty record: every slot dropped
    slots_dirty_ = false;
  }
  if (slots_.empty() && conn_learners_.empty()) return std::nullopt;
  core::Lsn h(std::numeric_limits<std::uint64_t>::max());
  for (const auto& [slot, p] : slots_) h = std::min(h, p.flush);
  for (const auto& [conn, p] : conn_learners_) h = std::min(h, p.flush);
  return h;
}

// ---------------------------------------------------------------- peer recovery

bool Timeline::proposer_active(std::chrono::steady_clock::time_point now) const {
  auto last = std::chrono::steady_clock::time_point(
      std::chrono::steady_clock::duration(proposer_active_ns_.load(std::memory_order_relaxed)));
  return now - last < kProposerQuietTime;
}

bool Timeline::recovery_wanted(std::chrono::steady_clock::time_point now) const {
  if (!repairable_ || recovering_.load()) return false;
  if (now.time_since_epoch().count() < recovery_not_before_ns_.load(std::memory_order_relaxed)) {
    return false;
  }
  if (proposer_active(now)) return false;
  bool corrupt = false;
  core::Lsn flush;
  {
    std::lock_guard lock(status_mu_);
    corrupt = status_.corrupt;
    flush = status_.flush_lsn;
  }
  std::uint64_t seen = proposer_commit_seen_.load(std::memory_order_relaxed);
  return corrupt || recovery_pending_.load() ||
         (seen > flush.value() && seen > caught_up_commit_.load(std::memory_order_relaxed));
}

bool Timeline::recovery_claim(const std::string& peer) {
  bool expected = false;
  if (!recovering_.compare_exchange_strong(expected, true)) return false;
  std::lock_guard lock(status_mu_);
  status_.recovering = true;
  status_.recovery_peer = peer;
  return true;
}

void Timeline::recovery_release(bool caught_up, const std::string& error) {
  auto now = std::chrono::steady_clock::now();
  bool corrupt = false;
  {
    std::lock_guard lock(status_mu_);
    status_.recovering = false;
    status_.recovery_error = error;
    corrupt = status_.corrupt;
  }
  if (caught_up && !corrupt) {
    recovery_pending_.store(false);
    caught_up_commit_.store(proposer_commit_seen_.load());
    recovery_failures_.store(0);
  } else {
    // Backoff 0.5 s, 1 s, ... 30 s between rounds that could not finish.
    std::uint32_t n = std::min<std::uint32_t>(recovery_failures_.fetch_add(1), 6);
    auto wait = std::chrono::milliseconds(500) * (1u << n);
    if (wait > std::chrono::seconds(30)) wait = std::chrono::seconds(30);
    recovery_not_before_ns_.store((now + wait).time_since_epoch().count());
  }
  recovering_.store(false);
}

core::ProposerGreeting Timeline::recovery_greeting(core::NodeId self) const {
  core::ProposerGreeting g;
  g.timeline = key_;
  std::lock_guard lock(status_mu_);
  g.system_id = status_.system_id;
  g.wal_seg_size = status_.wal_seg_size;
  g.pg_version = status_.pg_version;
  g.proposer_id = self;
  return g;
}

void Timeline::post_recovery_from(std::function<void(core::Lsn from)> next) {
  asio::post(strand_, [self = shared_from_this(), next = std::move(next)] {
    next(self->acceptor_->peer_fetch_from());
  });
}

void Timeline::post_peer_fetch_response(core::PeerFetchResponse resp, RecoveryDone done) {
  asio::post(strand_, [self = shared_from_this(), r = std::move(resp),
                       done = std::move(done)]() mutable {
    bool was_corrupt = self->acceptor_->corrupt();
    std::uint64_t bytes = r.wal.size();
    auto out = self->acceptor_->on_peer_fetch_response(r);
    self->submit(std::move(out.actions));
    using Kind = core::Acceptor::PeerFetchOutcome::Kind;
    if (out.kind == Kind::kAppended) {
      self->metrics_.peer_recovery_bytes.fetch_add(bytes, std::memory_order_relaxed);
      std::lock_guard lock(self->status_mu_);
      self->status_.recovered_bytes += bytes;
    } else if (out.kind == Kind::kTruncated) {
      spdlog::warn("event=peer_recovery_truncated timeline={} at={}: the local tail diverged from "
                   "the peer's committed WAL",
                   self->key_.to_string(), self->acceptor_->write_lsn());
    }
    if (was_corrupt && !self->acceptor_->corrupt()) {
      self->metrics_.peer_recovery_repairs.fetch_add(1, std::memory_order_relaxed);
      spdlog::warn("event=repaired timeline={} flush_lsn={} commit_lsn={}: committed WAL restored "
                   "from a peer; voting again",
                   self->key_.to_string(), self->acceptor_->flush_lsn(),
                   self->acceptor_->commit_lsn());
    }
    self->publish();
    done(out.kind, std::move(out.why));
  });
}

// ---------------------------------------------------------------- strand

void Timeline::handle(core::ConnId conn, core::ProposerMessage msg) {
  if (std::holds_alternative<core::VoteRequest>(msg) ||
      std::holds_alternative<core::ProposerElected>(msg) ||
      std::holds_alternative<core::AppendRequest>(msg)) {
    // A proposer is at work here: peer recovery waits until it is quiet.
    proposer_active_ns_.store(std::chrono::steady_clock::now().time_since_epoch().count(),
                              std::memory_order_relaxed);
    if (const auto* a = std::get_if<core::AppendRequest>(&msg)) {
      std::uint64_t seen = proposer_commit_seen_.load(std::memory_order_relaxed);
      if (a->commit_lsn.value() > seen) {
        proposer_commit_seen_.store(a->commit_lsn.value(), std::memory_order_relaxed);
      }
    }
  }
  if (const auto* a = std::get_if<core::AppendRequest>(&msg);
      a && !a->wal.empty() && std::chrono::steady_clock::now() < no_space_until_) {
    core::Actions out;
    out.push_back(no_space_refusal(conn, acceptor_->term()));
    submit(std::move(out));
    return;
  }
  submit(acceptor_->on_message(conn, msg));
  publish();
}

void Timeline::submit(core::Actions actions) {
  if (actions.empty()) return;
  io_thread_.push(IoJob{shared_from_this(), epoch_, acceptor_->truncation_count(),
                        std::move(actions), nullptr});
}

void Timeline::publish() {
  publish_status();
  // The streamable end for learners: committed AND held here. stream_commit_
  // is never lowered (a truncation never cuts committed WAL, so a lower min
  // would be stale); held_end_ is the min now, lowered only when damage found
  // while serving is cut (on_damage): streams opened then wait for the repair.
  core::Lsn end = std::min(acceptor_->commit_lsn(), acceptor_->flush_lsn());
  std::uint64_t prev = held_end_.exchange(end.value(), std::memory_order_acq_rel);
  if (end.value() > stream_commit_.load(std::memory_order_relaxed)) {
    stream_commit_.store(end.value(), std::memory_order_release);
  }
  if (end.value() <= prev) return;
  std::vector<std::function<void()>> fire;
  {
    std::lock_guard lock(learners_mu_);
    for (auto it = commit_waiters_.begin(); it != commit_waiters_.end();) {
      if (end > it->second.first) {
        fire.push_back(std::move(it->second.second));
        it = commit_waiters_.erase(it);
      } else {
        ++it;
      }
    }
  }
  for (auto& f : fire) f();
}

void Timeline::publish_status() {
  const core::Acceptor& a = *acceptor_;
  std::lock_guard lock(status_mu_);
  status_.term = a.term();
  status_.term_history = a.term_history();
  status_.flush_lsn = a.flush_lsn();
  status_.write_lsn = a.write_lsn();
  known_commit_ = std::max(known_commit_, a.commit_lsn());
  status_.commit_lsn = known_commit_;
  status_.truncate_lsn = a.control().truncate_lsn;
  status_.timeline_start_lsn = a.control().timeline_start_lsn;
  status_.term_start_lsn =
      a.term_history().empty() ? core::Lsn{} : a.term_history().entries().back().lsn;
  status_.persisted_commit_lsn = a.persisted_control().commit_lsn;
  status_.corrupt = a.control().corrupt;
  status_.system_id = a.control().system_id;
  status_.wal_seg_size = a.control().wal_seg_size;
  status_.pg_version = a.control().pg_version;
  status_.no_space = std::chrono::steady_clock::now() < no_space_until_;
  status_.elected_conn = a.elected_conn();
}

void Timeline::on_synced(std::uint64_t epoch, std::uint64_t truncations, core::Lsn upto) {
  // A truncation issued after the synced job may have cut below `upto`
  // (Acceptor::on_wal_synced contract), and a disk-full rebuild starts a new
  // epoch: such acks are dropped; later syncs report the new end.
  if (epoch != epoch_ || truncations != acceptor_->truncation_count()) return;
  submit(acceptor_->on_wal_synced(upto));
  publish();
}

void Timeline::on_no_space(std::uint64_t epoch, core::ControlState stored, core::Lsn end) {
  if (epoch != epoch_) return;
  ++epoch_;
  no_space_until_ = std::chrono::steady_clock::now() + kNoSpaceRetry;
  // The acceptor counted writes that never reached the disk: it continues from
  // what is durable, exactly as after a restart.
  acceptor_->on_write_failed(std::move(stored), end);
  // Connections lost replies with the skipped jobs: tell them why and close them.
  core::Actions out;
  {
    std::lock_guard lock(conns_mu_);
    for (const auto& [id, c] : conns_) {
      out.push_back(no_space_refusal(id, acceptor_->term()));
    }
  }
  submit(std::move(out));
  publish();
}

void Timeline::on_damage(Damage damage, std::string source) {
  {
    std::lock_guard lock(status_mu_);
    status_.last_damage = TimelineStatus::Damage{damage.at, damage.valid_end, source, damage.reason};
  }
  // Cut at the end of the last verified record; with none known, at the
  // timeline start (everything is fetched again).
  core::Lsn cut = damage.valid_end.is_valid() ? damage.valid_end
                                              : acceptor_->control().timeline_start_lsn;
  if (!cut.is_valid() || cut >= acceptor_->write_lsn()) {
    publish();
    return;  // already cut there (an earlier report of the same damage)
  }
  // Exactly as the restart scan would judge this WAL: damage below the
  // persisted commit LSN is corruption (no votes, no reads until peers repaired
  // it up to that LSN); above it the tail is cut, as a torn tail, and fetched
  // again from peers like a lagging node's. (The in-memory commit LSN is not
  // used: peers that restarted serve only up to their persisted one.)
  core::ControlState st = acceptor_->persisted_control();
  const core::Lsn commit = st.commit_lsn;
  const bool corrupt = cut < commit || acceptor_->corrupt();
  st.corrupt = corrupt;
  spdlog::error("event=corrupt_cut timeline={} valid_end={} commit_lsn={} source={} at={}: WAL "
                "after the damage removed{}",
                key_.to_string(), cut, commit, source, damage.at,
                corrupt ? fmt::format("; refusing to vote; repair fetches [{}, {}) from peers", cut,
                                      commit)
                        : std::string("; above the commit LSN (persisted): cut as a torn tail, fetched again from peers"));
  // The acceptor continues from exactly the state the job below leaves on
  // disk (as after a restart); jobs queued before it were made for the old state.
  acceptor_->on_write_failed(st, cut);
  core::Actions out;
  out.push_back(core::TruncateWal{cut});  // first: a crash after it restarts into the same verdict
  out.push_back(core::PersistControl{st});
  {
    std::lock_guard lock(conns_mu_);
    for (const auto& [id, c] : conns_) {
      core::Refused r;
      r.term = acceptor_->term();
      r.reason = core::RefuseReason::kCorrupt;
      r.detail = fmt::format("WAL damaged at {}: cut at {}, repairing from peers", damage.at, cut);
      core::Send send;
      send.to = id;
      send.msg = std::move(r);
      out.push_back(core::Action(std::move(send)));
    }
  }
  submit(std::move(out));
  recovery_pending_.store(true);
  recovery_not_before_ns_.store(0);
  publish();
}

// ---------------------------------------------------------------- I/O thread

void Timeline::io_damage(const Damage& damage, const char* source) {
  metrics_.wal_damage_found.fetch_add(1, std::memory_order_relaxed);
  spdlog::error("event=corrupt timeline={} at={} valid_end={} source={} reason=\"{}\": WAL below the "
                "durable end does not decode while being served; the bytes are not sent; marking "
                "the timeline corrupt",
                key_.to_string(), damage.at, damage.valid_end, source, damage.reason);
  asio::post(strand_, [self = shared_from_this(), damage, src = std::string(source)] {
    self->on_damage(damage, src);
  });
}

bool Timeline::io_dirty() const { return store_.write_lsn() != store_.flush_lsn(); }

bool Timeline::io_execute(IoJob& job) {
  if (failed_epoch_ && *failed_epoch_ == job.epoch) return false;  // skipped after ENOSPC
  last_epoch_ = job.epoch;
  last_truncations_ = job.truncations;
  bool sync_now = false;
  for (auto& action : job.actions) {
    if (auto* p = std::get_if<core::PersistControl>(&action)) {
      control_store_.put(p->state);  // synced (sync=true) before the next action and any reply
      stored_ = p->state;
    } else if (auto* w = std::get_if<core::WriteWal>(&action)) {
      bool was_clean = !io_dirty();
      auto st = store_.write(w->begin, w->bytes);
      if (!st) {
        WQ_ASSERT(st.error().code == base::ErrorCode::kNoSpace,
                  "timeline {}: WAL write at {} failed: {}", key_.to_string(), w->begin,
                  st.error().message);
        io_no_space(job.epoch, w->begin, st.error().message);
        return false;
      }
      metrics_.wal_bytes_appended.fetch_add(w->bytes.size(), std::memory_order_relaxed);
      if (was_clean) io_unsynced_since_ = std::chrono::steady_clock::now();
      std::uint64_t seg = store_.options().seg_size;
      core::Lsn end = w->begin + w->bytes.size();
      // Completing a segment always syncs it (Neon #9688: no ack waits for a timer).
      if (w->begin.value() / seg != end.value() / seg) sync_now = true;
    } else if (auto* s = std::get_if<core::SyncWal>(&action)) {
      (void)s;
      io_sync();  // the acceptor's next action (a vote reply) reports this as durable
    } else if (auto* t = std::get_if<core::TruncateWal>(&action)) {
      // truncate() is durable on return; no ack is posted here: the acceptor's
      // write end is now `at`, below what an ack for earlier writes would name.
      auto st = store_.truncate(t->at);
      if (!st) {
        io_no_space(job.epoch, t->at, st.error().message);
        return false;
      }
      synced_upto_ = store_.flush_lsn();
    } else if (auto* r = std::get_if<core::ServeRead>(&action)) {
      auto bytes = io_read_records(r->from, r->to_lsn, kReadBytesMax, "read");
      if (!bytes && bytes.error().code == base::ErrorCode::kCorrupt) {
        io_send(r->to, core::Refused{r->term, core::RefuseReason::kCorrupt, bytes.error().message});
      } else if (!bytes) {
        spdlog::warn("event=read_failed timeline={} from={} to={} error=\"{}\"", key_.to_string(),
                     r->from, r->to_lsn, bytes.error().message);
        io_send(r->to, core::Refused{r->term, core::RefuseReason::kNotServing,
                                     bytes.error().message});
      } else {
        io_send(r->to, core::ReadWalResponse{r->term, r->from, std::move(*bytes)});
      }
    } else if (auto* f = std::get_if<core::ServePeerFetch>(&action)) {
      auto bytes = io_read_records(f->from, f->to_lsn, core::kPeerFetchBytesMax, "peer_fetch");
      if (!bytes && bytes.error().code == base::ErrorCode::kCorrupt) {
        io_send(f->to, core::Refused{f->term, core::RefuseReason::kCorrupt, bytes.error().message});
      } else if (!bytes && bytes.error().code == base::ErrorCode::kNotFound &&
          f->from >= store_.first_lsn() && f->from < store_.flush_lsn()) {
        // No whole record starts at `from`: the fetcher's end is not a record
        // boundary of the committed log, so its tail diverges. The commit LSN
        // and history alone let it find and cut the divergence (PROTOCOL.md rule 10).
        io_send(f->to, core::PeerFetchResponse{f->term, f->commit_lsn, f->term_history, f->from, {}});
      } else if (!bytes) {
        spdlog::warn("event=read_failed timeline={} from={} to={} error=\"{}\"", key_.to_string(),
                     f->from, f->to_lsn, bytes.error().message);
        io_send(f->to, core::Refused{f->term, core::RefuseReason::kNotServing,
                                     bytes.error().message});
      } else {
        io_send(f->to, core::PeerFetchResponse{f->term, f->commit_lsn, f->term_history, f->from,
                                               std::move(*bytes)});
      }
    } else if (auto* m = std::get_if<core::Send>(&action)) {
      io_send(m->to, std::move(m->msg));
    }
  }
  return sync_now;
}

void Timeline::io_sync() {
  if (!io_dirty()) return;
  auto t0 = std::chrono::steady_clock::now();
  store_.sync();  // a failed fdatasync ends the process inside (never retried)
  double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  metrics_.fsyncs.fetch_add(1, std::memory_order_relaxed);
  metrics_.fsync_seconds.observe(seconds);
  core::Lsn upto = store_.flush_lsn();
  if (upto > synced_upto_) metrics_.sync_batch_bytes.observe(static_cast<double>(upto - synced_upto_));
  synced_upto_ = upto;
  asio::post(strand_, [self = shared_from_this(), e = last_epoch_, t = last_truncations_, upto] {
    self->on_synced(e, t, upto);
  });
}

void Timeline::io_no_space(std::uint64_t epoch, core::Lsn at, const std::string& detail) {
  metrics_.count_refusal(core::RefuseReason::kNoSpace);
  spdlog::error(
      "event=disk_full timeline={} lsn={} error=\"{}\": WAL appends refused (Refused no space) "
      "until space is freed; reads and control state keep working",
      key_.to_string(), at, detail);
  failed_epoch_ = epoch;
  store_.sync();  // what was written before is the durable end the acceptor restarts from
  synced_upto_ = store_.flush_lsn();
  asio::post(strand_, [self = shared_from_this(), epoch, stored = stored_,
                       end = store_.write_lsn()]() mutable {
    self->on_no_space(epoch, std::move(stored), end);
  });
}

void Timeline::io_send(core::ConnId to, core::AcceptorMessage msg) {
  std::shared_ptr<net::FramedConnection> conn;
  {
    std::lock_guard lock(conns_mu_);
    auto it = conns_.find(to);
    if (it != conns_.end()) conn = it->second;
  }
  if (const auto* r = std::get_if<core::Refused>(&msg)) {
    metrics_.count_refusal(r->reason);
    spdlog::info("event=refused timeline={} conn={} reason=\"{}\" detail=\"{}\"", key_.to_string(),
                 to, core::refuse_reason_name(r->reason), r->detail);
  }
  if (!conn) return;  // closed meanwhile: dropped, like a lost packet
  bool final_refusal = false;
  std::string why;
  if (const auto* r = std::get_if<core::Refused>(&msg)) {
    if (r->reason == core::RefuseReason::kWrongTimeline || r->reason == core::RefuseReason::kNoSpace ||
        r->reason == core::RefuseReason::kCorrupt) {
      final_refusal = true;
      why = fmt::format("refused: {}: {}", core::refuse_reason_name(r->reason), r->detail);
    }
  }
  conn->send(codec::encode(msg));
  if (final_refusal) conn->close_after_flush(why);
}

base::Result<std::vector<std::uint8_t>> Timeline::io_read_records(core::Lsn from, core::Lsn to_lsn,
                                                                  std::uint64_t bytes_max,
                                                                  const char* source) {
  wal::DecoderOptions opts;
  opts.seg_size = store_.options().seg_size;
  wal::StreamDecoder dec(from, opts);
  std::vector<std::uint8_t> buf;
  core::Lsn best;   // highest record end ≤ to_lsn within kReadBytesMax
  core::Lsn first;  // first record end
  core::Lsn limit = store_.flush_lsn();
  std::optional<wal::EndOfWal> stopped;  // the decoder found bytes that are not valid WAL
  while (from + buf.size() < limit) {
    std::uint64_t want = std::min<std::uint64_t>(kReadChunkBytes, limit - (from + buf.size()));
    std::size_t old = buf.size();
    buf.resize(old + want);
    auto n = store_.read(from + old, std::span<std::uint8_t>(buf.data() + old, want));
    if (!n) return base::Unexpected{n.error()};
    buf.resize(old + *n);
    if (*n == 0) break;
    dec.feed(std::span<const std::uint8_t>(buf.data() + old, *n));
    bool stop = false;
    for (;;) {
      auto step = dec.next();
      if (auto* rec = std::get_if<wal::DecodedRecord>(&step)) {
        if (!first.is_valid()) first = rec->end_lsn;
        if (rec->end_lsn <= to_lsn && rec->end_lsn - from <= bytes_max) {
          best = rec->end_lsn;
        } else {
          stop = true;
          break;
        }
      } else if (std::holds_alternative<wal::NeedMore>(step)) {
        break;
      } else {
        stopped = std::get<wal::EndOfWal>(step);
        stop = true;
        break;
      }
    }
    if (stop) break;
  }
  core::Lsn end = best.is_valid() ? best : first;
  // A CRC-valid record with a wrong xl_prev is its writer's doing, not damage
  // (the CRC covers xl_prev): the reply stops before it as before and the
  // next request starts there (loose prev check).
  if (stopped && stopped->lsn < to_lsn && stopped->reason != wal::EndReason::kBadPrevLink) {
    // Below to_lsn (≤ the flush LSN, a record boundary) everything must decode.
    std::optional<Damage> damage;
    if (first.is_valid()) {
      damage = Damage{stopped->lsn, dec.end_of_valid_wal(), stopped->message};
    } else {
      // The first record failed: `from` may not be a record boundary of this
      // WAL (a fetcher whose tail diverged). Decoding the record holding it
      // from an earlier record start tells damage from divergence.
      VerifiedReader check(opts.seg_size);
      auto read = [&](core::Lsn at, std::span<std::uint8_t> out) { return store_.read(at, out); };
      auto r = check.read(read, store_.first_lsn(), from, to_lsn, limit, 1);
      if (r && r->damage) damage = r->damage;
    }
    if (damage) {
      io_damage(*damage, source);
      if (end.is_valid() && end > from && end <= damage->at && end - from <= buf.size()) {
        buf.resize(end - from);
        return buf;  // the verified prefix; the next request is refused (corrupt)
      }
      return base::Unexpected{base::ErrorCode::kCorrupt,
                              fmt::format("WAL damaged at {} ({}): not served; repairing from peers",
                                          damage->at, damage->reason)};
    }
  }
  if (!end.is_valid() || end <= from || end - from > buf.size()) {
    return base::Unexpected{base::ErrorCode::kNotFound,
                            fmt::format("no whole WAL record at {} below {}", from, limit)};
  }
  buf.resize(end - from);
  return buf;
}

void Timeline::io_housekeeping() {
  // WAL removal (ARCHITECTURE.md §3), never above the persisted truncate_lsn
  // (what every safekeeper holds). A timeline with learners (a slot, kept
  // across restarts until dropped, or a connected slotless learner) keeps
  // everything at or above min(persisted commit_lsn, every learner's confirmed
  // flush; 0 until it confirms), and --retention-bytes below the commit LSN on
  // top when set. A timeline without learners: --retention-bytes alone (0 keeps
  // everything).
  std::string persist;
  std::optional<core::Lsn> learners = learner_horizon(&persist);
  if (!persist.empty()) {
    // Synced before any removal it allows: a restart must not forget a slot's need.
    control_store_.put_learners(key_, persist == "\n" ? std::string{} : persist);
  }
  std::optional<core::Lsn> below;
  if (retention_bytes_ > 0 && stored_.commit_lsn.value() > retention_bytes_) {
    below = stored_.commit_lsn - retention_bytes_;
  }
  if (learners) {
    core::Lsn h = std::min(*learners, stored_.commit_lsn);
    if (retention_bytes_ > 0) h = std::min(h, below.value_or(core::Lsn{}));
    below = h;
  }
  // The removal point never passes truncate_lsn: WAL under it is held by every
  // safekeeper; WAL above it may still be needed to catch up a lagging or
  // restarted peer (by the proposer's recovery or peer fetch). A safekeeper
  // that stays down holds truncate_lsn, and so removal, until it returns.
  if (below) below = std::min(*below, stored_.truncate_lsn);
  if (below && below->is_valid()) {
    auto st = store_.remove_segments_below(*below);
    if (!st) {
      spdlog::warn("event=wal_removal_failed timeline={} error=\"{}\"", key_.to_string(),
                   st.error().message);
    }
  }
  std::uint64_t usage = store_.disk_usage_bytes();
  std::lock_guard lock(status_mu_);
  status_.disk_bytes = usage;
}

}  // namespace wq::safekeeper
