// WalReceiver: the pageserver's physical-replication client (libpq). It asks
// every listed safekeeper for IDENTIFY_SYSTEM, streams from the one with the
// highest flush LSN starting at the service's resume LSN, feeds the XLogData
// into the Service, and sends standby status updates whose flush is the
// durable LSN (reference §3.7, §4). A broken connection, bad WAL, or silence
// for stall_timeout_ms (keepalive asked for at half of it) makes it pick again.
// One thread; start() and stop() from the owner.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <optional>
#include <span>
#include <variant>
#include <array>
#include <string>
#include <thread>
#include <vector>

#include "net/address.h"
#include "pageserver/keys.h"
#include "pageserver/service.h"

namespace wq::pageserver {

struct ReceiverOptions {
  std::vector<net::HostPort> sources;
  bool plain_postgres = false;
  Id tenant{}, timeline{};
  std::string user;
  std::optional<wal::Lsn> start_lsn;
  std::uint64_t seg_size = 16u << 20;
  std::chrono::milliseconds stall_timeout{10'000};
  std::chrono::milliseconds status_interval{1'000};
  std::chrono::milliseconds connect_timeout{5'000};
  std::chrono::milliseconds retry_delay{200};
};

struct ReceiverStatus {
  std::string source;       // HOST:PORT streamed from, empty when not streaming
  std::uint64_t connects = 0, failovers = 0, stalls = 0, status_updates = 0;
  std::string last_error;
};

class WalReceiver {
 public:
  WalReceiver(ReceiverOptions options, Service& service);
  ~WalReceiver();
  void start();
  void stop();
  ReceiverStatus status() const;

 private:
  void run();
  // One connection's life; returns why it ended.
  std::string stream_once();
  void set_error(std::string e);
  bool sleep_for(std::chrono::milliseconds d);  // false when stopping

  const ReceiverOptions opt_;
  Service& service_;
  std::thread thread_;
  std::atomic<bool> stopping_{false};
  mutable std::mutex mu_;
  std::condition_variable wake_;
  ReceiverStatus status_;
};

// Parses a CopyData payload from the server. 'w': XLogData; 'k': keepalive.
struct XLogData {
  wal::Lsn start, wal_end;
  std::span<const std::uint8_t> bytes;
};
struct Keepalive {
  wal::Lsn wal_end;
  bool reply_requested = false;
};
std::variant<XLogData, Keepalive, base::Error> parse_copy_data(std::span<const std::uint8_t> msg);
// The 34-byte standby status update 'r'.
std::array<std::uint8_t, 34> standby_status(wal::Lsn write, wal::Lsn flush, wal::Lsn apply,
                                            std::int64_t send_time_us, bool reply_requested);

}  // namespace wq::pageserver
