// Timeline: one (tenant, timeline) consensus instance hosted by the safekeeper
// (ARCHITECTURE.md §2, §3). It owns the pure core::Acceptor, driven on an Asio
// strand, and the timeline's WalStore, used only by the I/O thread. Each
// handler's Actions go to the I/O thread as one job and are executed there in
// order: a PersistControl is synced before any later action, including the
// reply that depends on it.
//
// Disk full: when a WAL write or truncation fails with ENOSPC, the I/O thread
// skips the rest of that epoch's jobs, syncs what was written, and the strand
// tells the acceptor (Acceptor::on_write_failed) the control state last stored
// and the store's real end of WAL (it had assumed the write happened). Appends are
// then refused with Refused{kNoSpace} for a second before the next attempt;
// reads keep working.
#pragma once

#include <asio.hpp>
#include <atomic>
#include <chrono>
#include <functional>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "core/acceptor.h"
#include "net/connection.h"
#include "safekeeper/io_thread.h"
#include "safekeeper/metrics.h"
#include "safekeeper/wal_verifier.h"
#include "storage/control_store.h"
#include "storage/wal_store.h"

namespace wq::safekeeper {

// What HTTP and /metrics show; a copy made on the strand after every change.
struct TimelineStatus {
  core::TimelineKey key;
  core::Term term;
  core::TermHistory term_history;
  core::Lsn flush_lsn;
  core::Lsn write_lsn;
  core::Lsn commit_lsn;
  core::Lsn truncate_lsn;
  core::Lsn term_start_lsn;  // start of the last term-history entry
  core::Lsn timeline_start_lsn;
  core::Lsn persisted_commit_lsn;  // where the next restart scan starts (its segment)
  bool corrupt = false;
  bool no_space = false;
  // The last damage found while serving WAL (live verification), if any.
  struct Damage {
    core::Lsn at;
    core::Lsn valid_end;
    std::string source;  // "learner", "peer_fetch", "read"
    std::string reason;
  };
  std::optional<Damage> last_damage;
  std::uint64_t system_id = 0;
  std::uint32_t wal_seg_size = 0;
  std::uint32_t pg_version = 0;
  std::optional<core::ConnId> elected_conn;
  struct Conn {
    core::ConnId id;
    std::string remote;
  };
  std::vector<Conn> conns;
  std::uint64_t disk_bytes = 0;
  // Peer recovery (peer_recovery.h).
  bool recovering = false;
  std::string recovery_peer;         // the peer of the running (or last) round
  std::uint64_t recovered_bytes = 0;  // committed WAL taken from peers since start
  std::string recovery_error;        // why the last round did not finish, if it did not
  // Learners (replication-protocol readers): slots (persisted) and slotless
  // connections (kept while connected).
  struct Learner {
    std::string slot;  // empty for a slotless connection
    std::uint64_t conn = 0;
    core::Lsn flush_lsn;  // last confirmed flush; 0 = not yet confirmed
    std::string application_name;
  };
  std::vector<Learner> learners;
};

class Timeline : public std::enable_shared_from_this<Timeline> {
 public:
  Timeline(asio::io_context& io, IoThread& io_thread, storage::ControlStore& control_store,
           Metrics& metrics, core::NodeId node, core::ControlState persisted, core::Lsn wal_end,
           storage::WalStore store, std::uint64_t retention_bytes);

  const core::TimelineKey& key() const { return key_; }

  // --- Any thread. ---
  // Routes replies for `conn` to `connection` until detached by on_disconnected.
  void attach(core::ConnId conn, std::shared_ptr<net::FramedConnection> connection);
  void post_message(core::ConnId conn, core::ProposerMessage msg);
  void post_disconnected(core::ConnId conn);
  TimelineStatus status() const;

  // --- Peer recovery (peer_recovery.h). Any thread unless noted. ---
  // A round should start now: the timeline is corrupt, or was just loaded, or a
  // proposer announced a commit_lsn above our flush_lsn; no proposer has been
  // active for kProposerQuietTime; no round runs; the backoff has passed.
  bool recovery_wanted(std::chrono::steady_clock::time_point now) const;
  // Claims the timeline for one round (false if another round holds it).
  bool recovery_claim(const std::string& peer);
  // The greeting a recovery connection sends for this timeline.
  core::ProposerGreeting recovery_greeting(core::NodeId self) const;
  // True while a proposer spoke to this timeline within kProposerQuietTime.
  bool proposer_active(std::chrono::steady_clock::time_point now) const;
  // Runs `next(from)` on the strand with where the next PeerFetchRequest starts.
  void post_recovery_from(std::function<void(core::Lsn from)> next);
  // Hands a peer's reply to the acceptor (on the strand; its actions go to the
  // I/O thread in order) and runs `done(kind, why)` on the strand.
  using RecoveryDone =
      std::function<void(core::Acceptor::PeerFetchOutcome::Kind kind, std::string why)>;
  void post_peer_fetch_response(core::PeerFetchResponse resp, RecoveryDone done);
  // Ends a round: `caught_up` = every peer said it has nothing more for us.
  void recovery_release(bool caught_up, const std::string& error);
  // A timeline whose WAL could not be scanned at all is never fetched into.
  void mark_unrepairable() { repairable_ = false; }
  static constexpr std::chrono::milliseconds kProposerQuietTime{1000};

  // --- Learners (replication protocol, server.cc). Any thread. ---
  std::uint64_t system_id() const;
  std::uint32_t wal_seg_size() const;
  // min(commit_lsn, flush_lsn), never decreasing: the end of streamable WAL.
  core::Lsn stream_commit_lsn() const { return core::Lsn(stream_commit_.load(std::memory_order_acquire)); }
  // min(commit_lsn, flush_lsn) now: what a learner stream opened now may read.
  // Lower than stream_commit_lsn() only after damage was cut (until repaired).
  core::Lsn held_end() const { return core::Lsn(held_end_.load(std::memory_order_acquire)); }
  // Calls `done` (on the strand, or here if already true) once
  // held_end() > after; `id` names the waiter for cancel_commit_wait.
  void wait_commit(std::uint64_t id, core::Lsn after, std::function<void()> done);
  void cancel_commit_wait(std::uint64_t id);
  // Reads committed WAL [from, to) on the I/O thread (at most bytes_max)
  // through the stream's `reader` (one per learner stream, used only there):
  // only bytes of records whose CRC and page headers were checked are handed
  // out. kNotFound below the oldest retained segment; kEndOfData when the WAL
  // is not held now (cut after damage, being repaired); kCorrupt when it does
  // not decode (the timeline is then marked corrupt, see io_damage).
  using ReadDone = std::function<void(base::Result<std::vector<std::uint8_t>>)>;
  void learner_read(std::shared_ptr<VerifiedReader> reader, core::Lsn from, core::Lsn to,
                    std::uint64_t bytes_max, ReadDone done);
  // A learner's confirmed flush: per slot when `slot` is set, else per connection.
  void on_learner_flush(const std::optional<std::string>& slot, std::uint64_t conn,
                        core::Lsn flush, const std::string& application_name);
  // A slotless connection's position is forgotten when it closes; a slot's is kept.
  void forget_learner_conn(std::uint64_t conn);
  std::optional<core::Lsn> slot_flush(const std::string& slot) const;
  void drop_slot(const std::string& slot);
  // The persisted learner positions (ControlStore::get_learners text), before start.
  void load_learners(const std::string& text);

  // --- I/O thread only. ---
  // Executes one job's actions in order. Returns true if the WAL needs a sync
  // now (an append crossed a segment end).
  bool io_execute(IoJob& job);
  // fdatasync if anything is unsynced, then post the ack to the strand.
  void io_sync();
  bool io_dirty() const;
  std::chrono::steady_clock::time_point io_unsynced_since() const { return io_unsynced_since_; }
  void io_housekeeping();

 private:
  // Strand only.
  void handle(core::ConnId conn, core::ProposerMessage msg);
  void submit(core::Actions actions);
  void publish();
  void publish_status();
  void on_synced(std::uint64_t epoch, std::uint64_t truncations, core::Lsn upto);
  void on_no_space(std::uint64_t epoch, core::ControlState stored, core::Lsn end);
  // WAL below the flush LSN did not decode while it was served: mark the
  // timeline corrupt as the restart scan does (cut at the last verified record
  // end, refuse votes and reads, repair from peers).
  void on_damage(Damage damage, std::string source);

  // The WAL-removal horizon from learners: nullopt when the timeline has none
  // (then --retention-bytes alone decides), else the lowest confirmed flush.
  // Fills *persist_text with the slots' record when it must be written.
  std::optional<core::Lsn> learner_horizon(std::string* persist_text);

  // I/O thread only.
  void io_send(core::ConnId to, core::AcceptorMessage msg);
  // Logs event=corrupt and hands the damage to the strand (on_damage).
  void io_damage(const Damage& damage, const char* source);
  void io_no_space(std::uint64_t epoch, core::Lsn at, const std::string& detail);
  // Bytes [from, x) for a read: x is the highest record end ≤ to_lsn within
  // bytes_max, or the first record's end if none fits.
  // Damage found below to_lsn is reported (io_damage) and the verified prefix
  // returned; with no prefix, kCorrupt.
  base::Result<std::vector<std::uint8_t>> io_read_records(core::Lsn from, core::Lsn to_lsn,
                                                          std::uint64_t bytes_max,
                                                          const char* source);

  core::TimelineKey key_;
  core::NodeId node_;
  IoThread& io_thread_;
  storage::ControlStore& control_store_;
  Metrics& metrics_;
  asio::strand<asio::io_context::executor_type> strand_;
  std::uint64_t retention_bytes_;

  // Strand state.
  std::unique_ptr<core::Acceptor> acceptor_;
  std::uint64_t epoch_ = 0;
  std::chrono::steady_clock::time_point no_space_until_{};
  // Highest commit LSN the acceptor reported: what status shows (a disk-full
  // or damage reset puts the acceptor back on its stored, older commit LSN).
  core::Lsn known_commit_;

  // Peer recovery state (atomics: read by the recovery scheduler on any thread).
  std::atomic<std::int64_t> proposer_active_ns_{0};   // steady_clock of the last proposer message
  std::atomic<std::uint64_t> proposer_commit_seen_{0};  // highest commit_lsn a proposer announced
  std::atomic<std::uint64_t> caught_up_commit_{0};      // proposer_commit_seen_ at the last full catch-up
  std::atomic<bool> recovery_pending_{true};  // check once after load / creation
  std::atomic<bool> recovering_{false};
  std::atomic<std::int64_t> recovery_not_before_ns_{0};
  std::atomic<std::uint32_t> recovery_failures_{0};
  bool repairable_ = true;

  // Connections (mutex: attached on the network thread, used by the I/O thread).
  mutable std::mutex conns_mu_;
  std::map<core::ConnId, std::shared_ptr<net::FramedConnection>> conns_;

  // Learners (mutex: fed from connection strands, read by HTTP and the I/O thread).
  struct LearnerPos {
    core::Lsn flush;
    std::string application_name;
  };
  mutable std::mutex learners_mu_;
  std::map<std::string, LearnerPos> slots_;          // persisted under learners/<t>/<tl>
  std::map<std::uint64_t, LearnerPos> conn_learners_;  // slotless, while connected
  bool slots_dirty_ = false;
  std::map<std::uint64_t, std::pair<core::Lsn, std::function<void()>>> commit_waiters_;
  std::atomic<std::uint64_t> stream_commit_{0};
  std::atomic<std::uint64_t> held_end_{0};

  // Published status (mutex: written on the strand / I/O thread, read by HTTP).
  mutable std::mutex status_mu_;
  TimelineStatus status_;

  // I/O thread state.
  storage::WalStore store_;
  core::ControlState stored_;  // the control state last written to the ControlStore
  std::optional<std::uint64_t> failed_epoch_;
  std::uint64_t last_epoch_ = 0;
  std::uint64_t last_truncations_ = 0;
  core::Lsn synced_upto_;
  std::chrono::steady_clock::time_point io_unsynced_since_{};
};

}  // namespace wq::safekeeper
