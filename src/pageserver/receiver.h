// WalReceiver: the pageserver's physical-replication client (libpq). It asks
// every listed safekeeper for IDENTIFY_SYSTEM, streams from the one with the
// highest position starting at the service's resume LSN, feeds the XLogData
// into the Service, and sends standby status updates whose flush is the
// durable LSN (reference §3.7, §4). It picks again when the connection breaks
// or the WAL is bad ("broken"), after silence for stall_timeout (keepalive
// asked for at half of it: "stalled"), or when another source stays ahead of
// the current one while we have everything it offers ("behind", below).
//
// Probes: every probe_interval a second thread asks every source for
// IDENTIFY_SYSTEM on a short connection (its position is bounded by its commit
// LSN). When some other source reports a position more than behind_margin
// ahead of the current source's (the newer of its probe and the stream's WAL
// end), we have received what the current source offers, and it has not
// reached that position behind_grace later, the stream ends and the pick
// starts again (BehindTracker): a source
// that missed the last commit (a killed compute, no new one) is left even
// though its keepalives keep the connection alive; sources that merely take
// turns being a few bytes ahead never trigger it.
//
// Slot: with a slot name, streaming uses START_REPLICATION SLOT, and each probe
// round also moves the slot on every other reachable source to the durable LSN
// (CREATE_REPLICATION_SLOT, duplicate ignored; START_REPLICATION SLOT at the
// source's position; one status update; CopyDone), so every safekeeper keeps
// the WAL the pageserver has not made durable, also while it is down.
// Threads: the streaming thread and the probe thread; start() and stop() from
// the owner. Every libpq call is bounded by connect_timeout or stopping.
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
  std::optional<std::string> slot;                     // nullopt: stream without a slot
  std::chrono::milliseconds probe_interval{3'000};     // 0: no probes, no slot moves elsewhere
  std::uint64_t behind_margin_bytes = 0;
  std::chrono::milliseconds behind_grace{5'000};
};

// Why a stream ended (the failover counters' reason label).
enum class EndReason { kBroken, kStalled, kBehind, kStopping };
const char* end_reason_name(EndReason r);

// The "behind" rule, pure: fed the current source's position and the best
// other source's after each probe round (and the current position whenever
// the stream moves it), says when to leave the current source.
class BehindTracker {
 public:
  using Clock = std::chrono::steady_clock;
  BehindTracker(std::uint64_t margin_bytes, std::chrono::milliseconds grace)
      : margin_(margin_bytes), grace_(grace) {}
  // A probe round's result: `other` is the highest position of another source,
  // `ours` how far the stream has brought us. While we have not received what
  // the current source offers (less the margin), it is not what holds us back:
  // any target is dropped (a pageserver catching up a backlog never switches).
  void on_round(wal::Lsn current, std::optional<wal::Lsn> other, wal::Lsn ours, Clock::time_point now);
  // The current source's position moved (stream WAL end); clears a target it reached.
  void on_current(wal::Lsn current);
  // True once a target stayed unreached for the grace period.
  bool should_switch(Clock::time_point now) const;
  std::optional<wal::Lsn> target() const { return target_; }

 private:
  std::uint64_t margin_;
  std::chrono::milliseconds grace_;
  std::optional<wal::Lsn> target_;  // the first unreached position another source had
  Clock::time_point since_;
};

struct SourceProbe {
  std::string source;  // HOST:PORT
  bool ok = false;
  wal::Lsn position;   // IDENTIFY_SYSTEM xlogpos when ok
  wal::Lsn slot_moved_to;  // the slot position last sent there by a probe (0: none)
  std::string error;
};

struct ReceiverStatus {
  std::string source;       // HOST:PORT streamed from, empty when not streaming
  std::string slot;         // empty: none
  std::uint64_t connects = 0, failovers = 0, stalls = 0, status_updates = 0;
  std::uint64_t failovers_broken = 0, failovers_stalled = 0, failovers_behind = 0;
  std::uint64_t probe_rounds = 0, slot_moves = 0;
  std::string last_error;
  std::vector<SourceProbe> probes;  // the last round, in --safekeepers order
};

class WalReceiver {
 public:
  WalReceiver(ReceiverOptions options, Service& service);
  ~WalReceiver();
  void start();
  void stop();
  ReceiverStatus status() const;
  // Prometheus text of the counters above (walquorum_ps_receiver_*).
  std::string metrics_text() const;

 private:
  struct Ended {
    std::string why;
    EndReason reason = EndReason::kBroken;
  };
  void run();
  void probe_loop();
  void probe_round();
  // One connection's life; returns why it ended.
  Ended stream_once();
  void set_error(std::string e);
  bool sleep_for(std::chrono::milliseconds d);  // false when stopping

  const ReceiverOptions opt_;
  Service& service_;
  std::thread thread_;
  std::thread probe_thread_;
  std::atomic<bool> stopping_{false};
  mutable std::mutex mu_;
  std::condition_variable wake_;
  ReceiverStatus status_;
  // Per source (streaming thread only): a source that refused
  // START_REPLICATION (e.g. it already removed the WAL we resume from) is
  // left out of the picks until then, unless every source is; otherwise the
  // highest-position pick would choose it again and again.
  std::vector<std::chrono::steady_clock::time_point> refused_until_;
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
