#include "model/limits.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <ctime>

namespace vf::model {

TokenBucket::TokenBucket(double per_minute)
    : rate_per_s_(per_minute / 60.0), capacity_(per_minute), tokens_(per_minute) {}

void TokenBucket::refill(double now) {
  if (last_ < 0) last_ = now;
  tokens_ = std::min(capacity_, tokens_ + (now - last_) * rate_per_s_);
  last_ = now;
}

double TokenBucket::wait_for(double amount, double now) {
  if (unlimited()) return 0;
  refill(now);
  amount = std::min(amount, capacity_);  // a request larger than a minute's budget waits for a full bucket
  if (tokens_ >= amount) return 0;
  return (amount - tokens_) / rate_per_s_;
}

void TokenBucket::take(double amount, double now) {
  if (unlimited()) return;
  refill(now);
  tokens_ -= amount;
}

AdaptiveLimit::AdaptiveLimit(int max_in_flight, int initial)
    : max_(std::max(1, max_in_flight)), limit_(std::clamp(initial, 1, std::max(1, max_in_flight))) {}

void AdaptiveLimit::on_success(double latency_s, double now) {
  if (best_latency_ <= 0 || latency_s < best_latency_) best_latency_ = latency_s;
  else best_latency_ *= 1.001;  // let the floor follow a server that got slower for good
  // Queueing shows as latency far above the best: treat as overload.
  if (latency_s > 4 * best_latency_ && latency_s > 1.0) {
    on_overload(now);
    return;
  }
  limit_ = std::min<double>(max_, limit_ + 1.0 / std::max(1.0, limit_) * std::max(1.0, limit_ / 8));
}

void AdaptiveLimit::on_overload(double now) {
  double window = std::max(0.05, best_latency_);
  if (now - last_decrease_ < window) return;
  last_decrease_ = now;
  limit_ = std::max(1.0, std::floor(limit_ * 0.7));
}

std::optional<double> backoff_delay(const BackoffPolicy& p, int attempt, std::optional<double> retry_after_s,
                                    double random01) {
  if (retry_after_s) {
    if (*retry_after_s > p.retry_after_max_s) return std::nullopt;
    return *retry_after_s * (1 + 0.1 * random01);
  }
  double exp = p.base_s * std::pow(2.0, std::max(0, attempt - 2));
  double d = std::min(p.max_s, exp);
  return d * (1 - p.jitter) + d * p.jitter * random01;
}

std::optional<double> parse_retry_after(const std::string& value, double now_epoch) {
  if (value.empty()) return std::nullopt;
  char* end = nullptr;
  double s = std::strtod(value.c_str(), &end);
  if (end != value.c_str() && (*end == '\0' || *end == '\r' || *end == ' ')) return s >= 0 ? s : 0;
  std::tm tm{};
  if (strptime(value.c_str(), "%a, %d %b %Y %H:%M:%S GMT", &tm)) {
    double when = static_cast<double>(timegm(&tm));
    return std::max(0.0, when - now_epoch);
  }
  return std::nullopt;
}

std::optional<double> requested_wait(const std::string& retry_after_ms, const std::string& retry_after,
                                     double now_epoch) {
  if (!retry_after_ms.empty()) {
    char* end = nullptr;
    double ms = std::strtod(retry_after_ms.c_str(), &end);
    if (end != retry_after_ms.c_str() && *end == '\0' && ms >= 0) return ms / 1000.0;
  }
  return parse_retry_after(retry_after, now_epoch);
}

Disposition classify(long status, bool transport_error) {
  if (transport_error) return Disposition::kRetry;
  if (status >= 200 && status < 300) return Disposition::kSuccess;
  if (status == 408 || status == 409 || status == 425 || status == 429 || status >= 500) return Disposition::kRetry;
  return Disposition::kFail;
}

bool is_overload(long status, bool timed_out) { return timed_out || status == 429 || status == 503; }

}  // namespace vf::model
