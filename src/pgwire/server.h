// ReplicationServer: the Asio side of src/pgwire. It accepts PostgreSQL
// replication connections from learners (pg_receivewal, a PG15 standby, a
// pageserver) and runs one pure Session per connection, executing its
// requests against a WalSource the host implements (the safekeeper with its
// Timelines, or the test directory server). The host sees no protocol.
//
// Threading: each connection runs on its own strand of the io_context; the
// io_context may run on several threads. WalSource::open and every WalStream
// method are called on the connection's strand (so one at a time per stream);
// the completion callbacks given to WalStream::read and wait_commit may be
// called on any thread, at most once each, and may be dropped unanswered when
// the stream is destroyed. Asio is used through error_code overloads only.
//
// Back-pressure: WAL is read only while fewer than outbound_high_water_bytes
// are queued for the socket; a client that lets more than outbound_bytes_max
// pile up (its own replies to our keepalives included) is cut off.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include <asio.hpp>

#include "base/result.h"
#include "net/address.h"
#include "net/listener.h"
#include "pgwire/session.h"

namespace wq::pgwire {

// The per-connection view of one timeline, made by WalSource::open.
// Destroying it means the learner is gone: drop its waiters and, if the host
// tracks learners per connection, forget this one.
class WalStream {
 public:
  using ReadDone = std::function<void(base::Result<std::vector<std::uint8_t>>)>;

  virtual ~WalStream() = default;

  // The end of the WAL that may be streamed: committed AND held here (for a
  // safekeeper min(commit_lsn, flush_lsn), since an acceptor may learn a commit
  // LSN before its own copy of the WAL reaches it). Never decreases. Called
  // before every client message and tick: keep it cheap (an atomic).
  virtual Lsn commit_lsn() = 0;
  // Reads WAL [from, to); `to` is at most a commit_lsn() this stream returned.
  // `done` gets between 1 and to - from bytes, exactly as in the segment files
  // (no record alignment is needed), or an error: kNotFound when `from` was
  // removed. Returning no bytes without an error breaks the contract (the
  // session asserts).
  virtual void read(Lsn from, Lsn to, ReadDone done) = 0;
  // Calls `done` once commit_lsn() > after. At most one wait is outstanding
  // per stream.
  virtual void wait_commit(Lsn after, std::function<void()> done) = 0;
  // A standby status update, positions clamped to the commit LSN; 0 = unknown.
  // Its flush is the learner's confirmed position (WAL removal may honour it).
  virtual void on_learner_feedback(const LearnerFeedback& feedback) = 0;
  // Hot-standby feedback: accepted; a WAL service has no xmin to hold back.
  virtual void on_hot_standby_feedback(const HotStandbyFeedback& /*feedback*/) {}
  // READ_REPLICATION_SLOT: the slot's restart position if known (its last
  // confirmed flush), else nullopt; slots exist implicitly.
  virtual std::optional<Lsn> slot_restart_lsn(const std::string& slot) = 0;
  // DROP_REPLICATION_SLOT: forget what is kept for the slot.
  virtual void drop_slot(const std::string& /*slot*/) {}
};

struct OpenRequest {
  TimelineRef ref;
  std::string user;
  std::string application_name;
  std::string remote;  // "ip:port" of the client
  std::uint64_t conn_id = 0;
};

struct OpenedStream {
  TimelineInfo info;  // info.commit_lsn: what commit_lsn() returns now
  std::unique_ptr<WalStream> stream;
};

class WalSource {
 public:
  virtual ~WalSource() = default;
  // Opens the timeline a connection named (on its strand). kNotFound when the
  // timeline does not exist here; the message reaches the client.
  virtual base::Result<OpenedStream> open(const OpenRequest& request) = 0;
};

struct ServerOptions {
  SessionOptions session;
  std::size_t outbound_high_water_bytes = 1024 * 1024;
  std::size_t outbound_bytes_max = 16 * 1024 * 1024;
  std::chrono::milliseconds tick_interval{1000};  // keepalive and timeout checks
  std::size_t connections_max = 512;
  std::size_t read_chunk_bytes = 16 * 1024;
  // A connection closing after its last bytes is cut off after this long.
  std::chrono::milliseconds close_linger{5000};
};

class Connection;

class ReplicationServer {
 public:
  // `source` must outlive the server and every connection it made. Destroy
  // the server after its io_context has stopped running handlers.
  ReplicationServer(asio::io_context& io, WalSource& source, ServerOptions options);
  ~ReplicationServer();
  ReplicationServer(const ReplicationServer&) = delete;
  ReplicationServer& operator=(const ReplicationServer&) = delete;

  // Binds HOST:PORT (port 0: the kernel chooses; see port()) and accepts.
  base::Status listen(const net::HostPort& at);
  std::uint16_t port() const;
  // Serves one already-accepted socket (for a host with its own listener).
  void serve(asio::ip::tcp::socket socket);
  // Stops accepting and ends every connection the way PostgreSQL does at
  // shutdown (CommandComplete "COPY 0" while streaming, else FATAL 57P01),
  // closing each once that is sent or after close_linger; their WalStreams
  // are destroyed on their strands then. Idempotent.
  void stop();
  std::size_t connection_count() const;

 private:
  friend class Connection;
  void forget(std::uint64_t id);

  asio::io_context& io_;
  WalSource& source_;
  ServerOptions options_;
  std::shared_ptr<net::Listener> listener_;
  mutable std::mutex mu_;
  std::map<std::uint64_t, std::weak_ptr<Connection>> connections_;
  std::uint64_t next_id_ = 0;
  bool stopped_ = false;
  // Connections hold this weakly, so one that outlives the server does not
  // call back into it.
  std::shared_ptr<ReplicationServer*> self_;
};

// Microseconds since 2000-01-01 00:00 UTC from the system clock: the time
// base of the protocol's sendTime fields.
std::int64_t pg_now_us();

}  // namespace wq::pgwire
