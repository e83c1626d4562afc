// Process-wide counters of the safekeeper, rendered as Prometheus text on
// /metrics. Written by the I/O thread and the network thread, read by the HTTP
// thread: atomics, and a mutex per histogram. Part of src/safekeeper.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <mutex>
#include <string>
#include <vector>

#include "core/messages.h"

namespace wq::safekeeper {

class Histogram {
 public:
  explicit Histogram(std::vector<double> upper_bounds);
  void observe(double value);
  // Appends "# HELP/# TYPE" and the _bucket/_sum/_count lines.
  void render(std::string& out, const char* name, const char* help) const;

 private:
  mutable std::mutex mu_;
  std::vector<double> bounds_;
  std::vector<std::uint64_t> counts_;  // per bucket (not cumulative); last is +Inf
  double sum_ = 0;
  std::uint64_t count_ = 0;
};

inline constexpr std::size_t kRefuseReasons = 8;

struct Metrics {
  std::atomic<std::uint64_t> wal_bytes_appended{0};
  std::atomic<std::uint64_t> fsyncs{0};
  Histogram fsync_seconds{{0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1,
                           0.25, 1.0}};
  Histogram sync_batch_bytes{{512, 4096, 16384, 65536, 262144, 1048576, 4194304, 16777216}};
  std::atomic<std::int64_t> connections_open{0};
  std::atomic<std::uint64_t> connections_total{0};
  std::atomic<std::uint64_t> connections_rejected{0};  // closed for bad input
  std::array<std::atomic<std::uint64_t>, kRefuseReasons> refusals{};
  // Peer recovery (peer_recovery.h): committed WAL taken from peers, rounds running now.
  std::atomic<std::uint64_t> peer_recovery_bytes{0};
  std::atomic<std::int64_t> peer_recoveries_active{0};
  std::atomic<std::uint64_t> peer_recovery_repairs{0};  // corrupt timelines repaired
  // WAL below the durable end that did not decode while being served (live
  // verification: learners, peer fetches, proposer reads).
  std::atomic<std::uint64_t> wal_damage_found{0};
  // Learners on the replication-protocol port.
  std::atomic<std::int64_t> learner_connections{0};
  std::atomic<std::uint64_t> learner_bytes_sent{0};

  void count_refusal(core::RefuseReason r) {
    auto i = static_cast<std::size_t>(r);
    if (i < kRefuseReasons) refusals[i].fetch_add(1, std::memory_order_relaxed);
  }
  // Everything but the per-timeline gauges (the server adds those).
  void render(std::string& out) const;
};

}  // namespace wq::safekeeper
