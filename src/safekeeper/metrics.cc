// Prometheus text rendering of the safekeeper's counters (see metrics.h).
#include "safekeeper/metrics.h"

#include <fmt/format.h>

namespace wq::safekeeper {

Histogram::Histogram(std::vector<double> upper_bounds)
    : bounds_(std::move(upper_bounds)), counts_(bounds_.size() + 1, 0) {}

void Histogram::observe(double value) {
  std::lock_guard lock(mu_);
  std::size_t i = 0;
  while (i < bounds_.size() && value > bounds_[i]) ++i;
  ++counts_[i];
  sum_ += value;
  ++count_;
}

void Histogram::render(std::string& out, const char* name, const char* help) const {
  std::lock_guard lock(mu_);
  fmt::format_to(std::back_inserter(out), "# HELP {} {}\n# TYPE {} histogram\n", name, help, name);
  std::uint64_t cumulative = 0;
  for (std::size_t i = 0; i < bounds_.size(); ++i) {
    cumulative += counts_[i];
    fmt::format_to(std::back_inserter(out), "{}_bucket{{le=\"{}\"}} {}\n", name, bounds_[i],
                   cumulative);
  }
  cumulative += counts_.back();
  fmt::format_to(std::back_inserter(out), "{}_bucket{{le=\"+Inf\"}} {}\n{}_sum {}\n{}_count {}\n",
                 name, cumulative, name, sum_, name, count_);
}

void Metrics::render(std::string& out) const {
  auto line = [&](const char* name, const char* type, const char* help, auto value) {
    fmt::format_to(std::back_inserter(out), "# HELP {} {}\n# TYPE {} {}\n{} {}\n", name, help, name,
                   type, name, value);
  };
  line("walquorum_sk_wal_bytes_appended_total", "counter", "WAL bytes written by appends",
       wal_bytes_appended.load());
  line("walquorum_sk_fsyncs_total", "counter", "WAL fdatasync batches", fsyncs.load());
  fsync_seconds.render(out, "walquorum_sk_fsync_seconds", "latency of one WAL sync");
  sync_batch_bytes.render(out, "walquorum_sk_sync_batch_bytes", "WAL bytes made durable by one sync");
  line("walquorum_sk_connections", "gauge", "open WAL-port connections", connections_open.load());
  line("walquorum_sk_connections_total", "counter", "WAL-port connections accepted",
       connections_total.load());
  line("walquorum_sk_connections_rejected_total", "counter",
       "WAL-port connections closed for bad input", connections_rejected.load());
  line("walquorum_sk_peer_recovery_bytes_total", "counter",
       "committed WAL bytes fetched from peers", peer_recovery_bytes.load());
  line("walquorum_sk_peer_recoveries_active", "gauge", "timelines fetching from a peer now",
       peer_recoveries_active.load());
  line("walquorum_sk_peer_recovery_repairs_total", "counter",
       "corrupt timelines repaired from peers", peer_recovery_repairs.load());
  line("walquorum_sk_wal_damage_found_total", "counter",
       "WAL damage found while serving it (bytes withheld, timeline marked corrupt)",
       wal_damage_found.load());
  line("walquorum_sk_learner_connections", "gauge", "open replication-protocol streams",
       learner_connections.load());
  line("walquorum_sk_learner_bytes_sent_total", "counter", "WAL bytes read for learners",
       learner_bytes_sent.load());
  out += "# HELP walquorum_sk_refusals_total protocol refusals sent, by reason\n";
  out += "# TYPE walquorum_sk_refusals_total counter\n";
  for (std::size_t i = 0; i < kRefuseReasons; ++i) {
    fmt::format_to(std::back_inserter(out), "walquorum_sk_refusals_total{{reason=\"{}\"}} {}\n",
                   core::refuse_reason_name(static_cast<core::RefuseReason>(i)),
                   refusals[i].load());
  }
}

}  // namespace wq::safekeeper
