// Timeline: one (tenant, timeline) consensus instance hosted by the safekeeper
// (ARCHITECTURE.md §2, §3). It owns the pure core::Acceptor, driven on an Asio
// strand, and the timeline's WalStore, used only by the I/O thread. Each
// handler's Actions go to the I/O thread as one job and are executed there in
// order: a PersistControl is synced before any later action, including the
// reply that depends on it.
//
// Disk full: when a WAL write or truncation fails with ENOSPC, the I/O thread
// skips the rest of that epoch's jobs, syncs what was written, and the strand
// rebuilds the acceptor from the control state last stored and the store's
// real end of WAL (the acceptor had assumed the write happened). Appends are
// then refused with Refused{kNoSpace} for a second before the next attempt;
// reads keep working.
#pragma once

#include <asio.hpp>
#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "core/acceptor.h"
#include "net/connection.h"
#include "safekeeper/io_thread.h"
#include "safekeeper/metrics.h"
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
  std::optional<core::ConnId> elected_conn;
  struct Conn {
    core::ConnId id;
    std::string remote;
  };
  std::vector<Conn> conns;
  std::uint64_t disk_bytes = 0;
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
  void on_synced(std::uint64_t epoch, std::uint64_t truncations, core::Lsn upto);
  void on_no_space(std::uint64_t epoch, core::ControlState stored, core::Lsn end);

  // I/O thread only.
  void io_send(core::ConnId to, core::AcceptorMessage msg);
  void io_no_space(std::uint64_t epoch, core::Lsn at, const std::string& detail);
  // Bytes [from, x) for a read: x is the highest record end ≤ to_lsn within
  // kReadBytesMax, or the first record's end if none fits.
  base::Result<std::vector<std::uint8_t>> io_read_records(core::Lsn from, core::Lsn to_lsn);

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

  // Connections (mutex: attached on the network thread, used by the I/O thread).
  mutable std::mutex conns_mu_;
  std::map<core::ConnId, std::shared_ptr<net::FramedConnection>> conns_;

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
