// Log-linear latency histogram (see histogram.h).
#include "compute/histogram.h"

#include <algorithm>
#include <bit>
#include <cmath>

namespace wq::compute {

int Histogram::bucket_of(std::uint64_t v) {
  if (v < kSub) return static_cast<int>(v);
  int e = 63 - std::countl_zero(v);  // v in [2^e, 2^(e+1)), e >= 4
  if (e >= 40) return kBuckets - 1;
  int sub = static_cast<int>((v >> (e - 4)) & (kSub - 1));
  return kSub + (e - 4) * kSub + sub;
}

std::uint64_t Histogram::bucket_low(int b) {
  if (b < kSub) return static_cast<std::uint64_t>(b);
  int e = (b - kSub) / kSub + 4;
  int sub = (b - kSub) % kSub;
  return (std::uint64_t{1} << e) + (static_cast<std::uint64_t>(sub) << (e - 4));
}

void Histogram::record(std::uint64_t value) {
  buckets_[static_cast<std::size_t>(bucket_of(value))] += 1;
  count_ += 1;
  max_ = std::max(max_, value);
}

void Histogram::merge(const Histogram& other) {
  for (std::size_t i = 0; i < buckets_.size(); ++i) buckets_[i] += other.buckets_[i];
  count_ += other.count_;
  max_ = std::max(max_, other.max_);
}

std::uint64_t Histogram::quantile(double q) const {
  if (count_ == 0) return 0;
  q = std::clamp(q, 0.0, 1.0);
  auto rank = static_cast<std::uint64_t>(std::ceil(q * static_cast<double>(count_)));
  rank = std::max<std::uint64_t>(rank, 1);
  std::uint64_t seen = 0;
  for (int b = 0; b < kBuckets; ++b) {
    seen += buckets_[static_cast<std::size_t>(b)];
    if (seen >= rank) {
      std::uint64_t lo = bucket_low(b);
      std::uint64_t hi = b + 1 < kBuckets ? bucket_low(b + 1) : lo + 1;
      return std::min(max_, lo + (hi - lo) / 2);
    }
  }
  return max_;
}

}  // namespace wq::compute
