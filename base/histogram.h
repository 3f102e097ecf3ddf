// Histogram: counts of observations in fixed buckets (Prometheus-style upper
// bounds), with their sum; quantiles are estimated as Prometheus's
// histogram_quantile does (linear inside the bucket). A plain value: copy it
// to snapshot it; not thread-safe (its owner's lock or thread guards it).
//
// Invariant: count == sum over buckets (the last bucket is +Inf).
#pragma once

#include <algorithm>
#include <cstdint>
#include <vector>

namespace vf {

class Histogram {
 public:
  // Bounds for durations in seconds, 1 ms to 5 min.
  static const std::vector<double>& seconds_bounds() {
    static const std::vector<double> b{0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5,
                                       1,     2.5,    5,     10,   30,    60,   120, 300};
    return b;
  }

  Histogram() : Histogram(seconds_bounds()) {}
  explicit Histogram(std::vector<double> bounds) : bounds_(std::move(bounds)), counts_(bounds_.size() + 1, 0) {}

  void observe(double v) {
    size_t i = static_cast<size_t>(std::lower_bound(bounds_.begin(), bounds_.end(), v) - bounds_.begin());
    ++counts_[i];
    ++count_;
    sum_ += v;
  }
  void merge(const Histogram& o) {
    if (o.bounds_ != bounds_) return;
    for (size_t i = 0; i < counts_.size(); ++i) counts_[i] += o.counts_[i];
    count_ += o.count_;
    sum_ += o.sum_;
  }

  uint64_t count() const { return count_; }
  double sum() const { return sum_; }
  const std::vector<double>& bounds() const { return bounds_; }
  // Per bucket (not cumulative); the last is above every bound.
  const std::vector<uint64_t>& counts() const { return counts_; }

  // The q-quantile (0 < q < 1); 0 when empty. Above the last bound it
  // answers the last bound, as Prometheus does.
  double quantile(double q) const {
    if (count_ == 0) return 0;
    double rank = q * static_cast<double>(count_);
    uint64_t seen = 0;
    for (size_t i = 0; i < counts_.size(); ++i) {
      if (counts_[i] == 0 || static_cast<double>(seen + counts_[i]) < rank) {
        seen += counts_[i];
        continue;
      }
      if (i == bounds_.size()) return bounds_.back();
      double lo = i == 0 ? 0 : bounds_[i - 1];
      double hi = bounds_[i];
      return lo + (hi - lo) * (rank - static_cast<double>(seen)) / static_cast<double>(counts_[i]);
    }
    return bounds_.back();
  }

 private:
  std::vector<double> bounds_;
  std::vector<uint64_t> counts_;
  uint64_t count_ = 0;
  double sum_ = 0;
};

}  // namespace vf
