// proposer::Client: the library a compute links to write WAL through a quorum
// of safekeepers (ARCHITECTURE.md §1, §2). It drives the pure core::Proposer
// over TCP on its own network thread: connects to every safekeeper, elects
// itself, recovers lagging safekeepers, pipelines appends, reconnects with
// jittered backoff, and tells callers when their WAL is committed.
//
// This header names no Asio or Cap'n Proto type; those stay in client.cc.
//
// Threading: every public member may be called from any thread. append() calls
// must be serialized by the caller (WAL is one ordered stream); waiting calls
// (wait_elected, wait_committed, on_committed callbacks) may come from many
// threads at once. Callbacks run on the network thread and must not block.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "base/result.h"
#include "core/types.h"
#include "wal/lsn.h"

namespace wq::proposer {

using wal::Lsn;

struct Options {
  // "host:port" of each safekeeper's --listen-wal port; at least 1, distinct.
  std::vector<std::string> safekeepers;
  core::TimelineKey timeline;
  // This compute's identity in greetings and logs. 0 = pick a random one.
  std::uint64_t proposer_id = 0;
  std::uint64_t system_id = 0;  // PostgreSQL system identifier written in page headers
  std::uint32_t wal_seg_size = 16 * 1024 * 1024;
  std::uint32_t pg_version = 150000;
  // First LSN of a brand-new timeline (no safekeeper has WAL yet). The default
  // starts at segment 1, as initdb's WAL does; its first page is a long header.
  Lsn timeline_start_lsn = Lsn(16 * 1024 * 1024);
  std::chrono::milliseconds connect_timeout{2000};
  std::chrono::milliseconds reconnect_initial{50};
  std::chrono::milliseconds reconnect_max{2000};
  // Close a connection that received nothing for this long (safekeepers answer
  // heartbeats, so silence means a hung peer).
  std::chrono::milliseconds idle_timeout{5000};
  std::chrono::milliseconds tick{10};      // core::Proposer tick period
  std::uint32_t heartbeat_ticks = 10;
  std::uint32_t election_timeout_ticks = 100;
  // Bytes in flight per safekeeper and WAL kept in memory (see core::Proposer::Config).
  std::uint64_t window_bytes_max = 4 * 1024 * 1024;
  std::uint64_t buffer_bytes_max = 64 * 1024 * 1024;
};

enum class State {
  kCampaigning,  // connecting, greeting, voting or recovering; append() not allowed yet
  kElected,      // append() allowed
  kSuperseded,   // a higher term was seen; this client stopped for good
  kStopped,      // stop() was called or the client failed
};
const char* state_name(State s);

// What election produced: where this compute's WAL begins.
struct Elected {
  core::Term term;
  // End of the WAL inherited from earlier terms; the first append() begins here.
  // Equals Options::timeline_start_lsn on a brand-new timeline.
  Lsn term_start_lsn;
  Lsn timeline_start_lsn;
  // Start LSN of the last record before term_start_lsn (xl_prev of the next
  // record), found by decoding the tail of the inherited WAL (read from a
  // safekeeper once it is committed); 0 on a new timeline.
  Lsn prev_record_lsn;
};

struct SafekeeperStatus {
  std::string address;
  bool connected = false;
  Lsn acked_flush_lsn;  // durable on it in this term
};

struct Stats {
  State state = State::kCampaigning;
  core::Term term;
  Lsn commit_lsn;
  Lsn end_lsn;                   // end of everything appended
  std::uint64_t appended_bytes = 0;
  std::uint64_t reconnects = 0;  // successful connects after the first, all safekeepers
  std::vector<SafekeeperStatus> safekeepers;
};

class Client {
 public:
  // Validates options (kInvalidArgument naming the bad one) and starts the
  // network thread; connecting and electing proceed in the background.
  static base::Result<std::unique_ptr<Client>> start(Options options);
  ~Client();  // stop() and join
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  // Errors of every call below: kRefused with "superseded by term T" once a
  // higher term was seen (superseded_by() then tells T), kRefused "client
  // stopped" after stop(), kTimeout when the timeout passes, kInvalidArgument
  // for a misuse (append not at end_lsn(), not elected yet).
  //
  // Blocks until elected (returns where to write), superseded, stopped, or timeout.
  base::Result<Elected> wait_elected(std::chrono::milliseconds timeout);

  // Appends WAL bytes that begin at end_lsn() and end on a record boundary.
  // Blocks while the in-memory buffer is full (back-pressure), up to `timeout`.
  // Returns the new end_lsn(). Errors: not elected / superseded / stopped /
  // timeout. The bytes are not durable until wait_committed() says so.
  // The bytes are copied and queued; the call returns before they are sent.
  // One call is proposed whole (it cannot be split at record boundaries without
  // decoding), so more than Options::window_bytes_max bytes is kInvalidArgument.
  // At a page boundary the bytes must begin with that page's header (checked:
  // kInvalidArgument); elsewhere the caller's word is taken.
  base::Result<Lsn> append(std::span<const std::uint8_t> wal, std::chrono::milliseconds timeout);

  // Blocks until commit_lsn() ≥ lsn (the WAL is on a quorum), or superseded /
  // stopped / timeout. Success means durable on a quorum of safekeepers.
  base::Status wait_committed(Lsn lsn, std::chrono::milliseconds timeout);
  // Non-blocking form: `done` runs once, on the network thread, with ok when
  // commit_lsn() ≥ lsn, or with the error if superseded or stopped first.
  // Callbacks waiting at the same time run in LSN order. Once stop() was
  // called there is no network thread: the remaining ones run on the thread
  // calling stop(), later ones on the caller's. A callback must not call stop().
  void on_committed(Lsn lsn, std::function<void(base::Status)> done);

  State state() const;
  Lsn commit_lsn() const;  // only grows
  Lsn end_lsn() const;
  std::optional<core::Term> superseded_by() const;
  Stats stats() const;

  // Stops the network thread; pending waits fail with kRefused "client stopped"
  // (WAL already committed stays committed). Idempotent.
  void stop();

 private:
  struct Impl;
  explicit Client(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace wq::proposer
