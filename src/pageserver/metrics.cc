// Histograms rendered as Prometheus text. See metrics.h.
#include "pageserver/metrics.h"

#include <fmt/format.h>

#include "base/assert.h"

namespace wq::pageserver {

Histogram::Histogram(std::vector<double> bounds)
    : bounds_(std::move(bounds)), buckets_(bounds_.size() + 1) {
  for (std::size_t i = 1; i < bounds_.size(); ++i) {
    WQ_ASSERT(bounds_[i - 1] < bounds_[i], "histogram bounds must ascend");
  }
}

void Histogram::observe(double v) {
  std::size_t i = 0;
  while (i < bounds_.size() && v > bounds_[i]) ++i;
  buckets_[i].fetch_add(1, std::memory_order_relaxed);
  count_.fetch_add(1, std::memory_order_relaxed);
  auto micro = static_cast<std::uint64_t>(v < 0 ? 0 : v * 1e6);
  sum_micro_.fetch_add(micro, std::memory_order_relaxed);
  std::uint64_t seen = max_micro_.load(std::memory_order_relaxed);
  while (micro > seen && !max_micro_.compare_exchange_weak(seen, micro, std::memory_order_relaxed)) {
  }
}

double Histogram::max() const { return static_cast<double>(max_micro_.load(std::memory_order_relaxed)) / 1e6; }

double Histogram::quantile_bound(double q) const {
  std::uint64_t total = count();
  if (total == 0) return 0;
  auto want = static_cast<std::uint64_t>(q * static_cast<double>(total) + 0.999999);
  std::uint64_t acc = 0;
  for (std::size_t i = 0; i < bounds_.size(); ++i) {
    acc += buckets_[i].load(std::memory_order_relaxed);
    if (acc >= want) return bounds_[i];
  }
  return max();
}

std::string Histogram::render(const std::string& name, const std::string& help) const {
  std::string out = fmt::format("# HELP {} {}\n# TYPE {} histogram\n", name, help, name);
  std::uint64_t acc = 0;
  for (std::size_t i = 0; i < bounds_.size(); ++i) {
    acc += buckets_[i].load(std::memory_order_relaxed);
    out += fmt::format("{}_bucket{{le=\"{}\"}} {}\n", name, bounds_[i], acc);
  }
  acc += buckets_.back().load(std::memory_order_relaxed);
  out += fmt::format("{}_bucket{{le=\"+Inf\"}} {}\n", name, acc);
  out += fmt::format("{}_sum {}\n{}_count {}\n", name,
                     static_cast<double>(sum_micro_.load(std::memory_order_relaxed)) / 1e6, name, count());
  out += fmt::format("# HELP {}_max largest observation\n# TYPE {}_max gauge\n{}_max {}\n", name, name,
                     name, max());
  return out;
}

}  // namespace wq::pageserver
