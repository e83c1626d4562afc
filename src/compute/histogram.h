// A latency histogram with bounded memory: exact below 16 µs, then 16
// sub-buckets per power of two (about 6 % resolution) up to 2^40 µs. Used for
// the compute's commit p50/p99 per progress interval, per phase and overall.
// Pure; not thread-safe (the caller locks).
#pragma once

#include <array>
#include <cstdint>

namespace wq::compute {

class Histogram {
 public:
  void record(std::uint64_t value);
  void merge(const Histogram& other);
  void clear() { *this = Histogram{}; }
  std::uint64_t count() const { return count_; }
  std::uint64_t max() const { return max_; }
  // The value at quantile q (0..1): the middle of the bucket holding it, never
  // above max(). 0 when empty.
  std::uint64_t quantile(double q) const;

 private:
  static constexpr int kSub = 16;
  static constexpr int kBuckets = kSub + (40 - 4) * kSub;
  static int bucket_of(std::uint64_t v);
  static std::uint64_t bucket_low(int b);
  std::array<std::uint64_t, kBuckets> buckets_{};
  std::uint64_t count_ = 0;
  std::uint64_t max_ = 0;
};

}  // namespace wq::compute
