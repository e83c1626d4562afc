// Counters and fixed-bucket histograms of the pageserver, updated from any
// thread with relaxed atomics and rendered as Prometheus text. No locks.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <string>
#include <vector>

namespace wq::pageserver {

class Histogram {
 public:
  // Upper bounds, ascending (the +Inf bucket is implicit).
  explicit Histogram(std::vector<double> bounds);
  void observe(double v);
  std::uint64_t count() const { return count_.load(std::memory_order_relaxed); }
  double max() const;
  // Smallest bucket bound holding fraction q of the observations (+Inf: the max).
  double quantile_bound(double q) const;
  // name_bucket{le=...}, name_sum, name_count, plus name_max as a gauge.
  std::string render(const std::string& name, const std::string& help) const;

 private:
  std::vector<double> bounds_;
  std::vector<std::atomic<std::uint64_t>> buckets_;  // bounds_.size() + 1
  std::atomic<std::uint64_t> count_{0};
  std::atomic<std::uint64_t> sum_micro_{0};  // sum * 1e6, so it stays an integer
  std::atomic<std::uint64_t> max_micro_{0};
};

}  // namespace wq::pageserver
