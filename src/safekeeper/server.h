// Server: the walquorum-safekeeper process (ARCHITECTURE.md §3): loads every
// timeline from the control store at start (restart scan), accepts WAL-port
// connections (one Session each: greeting first, then messages forwarded to
// the timeline's strand), creates timelines on their first greeting, serves
// HTTP (/v1/status, /v1/tenant/<t>/timeline/<tl>, /metrics). Part of
// src/safekeeper.
#pragma once

#include <asio.hpp>
#include <atomic>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

#include "base/result.h"
#include "net/listener.h"
#include "pgwire/server.h"
#include "safekeeper/config.h"
#include "safekeeper/io_thread.h"
#include "safekeeper/metrics.h"
#include "safekeeper/peer_recovery.h"
#include "safekeeper/timeline.h"
#include "storage/control_store.h"

namespace httplib {
class Server;
}

namespace wq::safekeeper {

class Server {
 public:
  Server(Config config, asio::io_context& io);
  ~Server();

  // Opens the control store, reloads timelines, binds every port and writes
  // <data>/wal.port and <data>/http.port. Errors are one line.
  base::Status start();
  // Stops accepting, stops HTTP, drains and syncs the I/O thread.
  void stop();

  // For sessions (network thread).
  std::shared_ptr<Timeline> find(const core::TimelineKey& key);
  // Creates the timeline on the I/O thread (its control record is persisted
  // before it exists) and calls `done` there with it, or with null and a reason.
  void create_timeline(const core::ProposerGreeting& greeting,
                       std::function<void(std::shared_ptr<Timeline>, std::string)> done);
  Metrics& metrics() { return metrics_; }
  const Config& config() const { return config_; }
  std::uint64_t next_conn_id() { return next_conn_.fetch_add(1) + 1; }

 private:
  base::Status load_timelines();
  std::string timeline_dir(const core::TimelineKey& key) const;
  std::shared_ptr<Timeline> make_timeline(core::ControlState state, core::Lsn wal_end,
                                          storage::WalStore store);
  void on_accept(asio::ip::tcp::socket socket);
  base::Status start_http();
  std::string status_json();
  std::string metrics_text();

  Config config_;
  asio::io_context& io_;
  Metrics metrics_;
  std::optional<storage::ControlStore> control_store_;
  IoThread io_thread_;
  std::shared_ptr<net::Listener> wal_listener_;
  // Learners: the replication-protocol port (declared source first: the
  // server, destroyed first, must not outlive it).
  std::unique_ptr<pgwire::WalSource> pg_source_;
  std::unique_ptr<pgwire::ReplicationServer> pg_server_;
  std::shared_ptr<PeerRecovery> recovery_;
  std::unique_ptr<httplib::Server> http_;
  std::thread http_thread_;
  std::mutex timelines_mu_;
  std::map<core::TimelineKey, std::shared_ptr<Timeline>> timelines_;
  std::atomic<std::uint64_t> next_conn_{0};
  bool stopped_ = false;
};

// `text` with quotes and backslashes escaped, control characters blanked, for JSON strings.
std::string json_escape(const std::string& text);
// "X/Y" text of an LSN, for JSON.
std::string lsn_text(core::Lsn lsn);
// One timeline as the JSON object of /v1/tenant/<t>/timeline/<tl>.
std::string timeline_json(const TimelineStatus& s);

}  // namespace wq::safekeeper
