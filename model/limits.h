// Rate, concurrency and retry control for one model endpoint: the pure
// decisions behind the client, free of I/O and clocks (callers pass `now`
// in seconds), so they are unit-tested directly.
// Thread-safety: none; the HTTP engine's thread owns every instance.
#pragma once

#include <optional>
#include <string>

namespace vf::model {

// Requests- or tokens-per-minute budget. A bucket holds at most one
// minute's worth, so an idle endpoint does not build up an unbounded burst.
class TokenBucket {
 public:
  explicit TokenBucket(double per_minute = 0);  // 0: unlimited
  bool unlimited() const { return rate_per_s_ <= 0; }
  // Seconds until `amount` can be taken (0: now).
  double wait_for(double amount, double now);
  void take(double amount, double now);  // may go negative (usage corrections)
  void give_back(double amount) { tokens_ += amount; }

 private:
  void refill(double now);
  double rate_per_s_ = 0, capacity_ = 0, tokens_ = 0, last_ = -1;
};

// In-flight limit that adapts to a server that queues rather than refusing:
// multiplicative decrease on overload (429, 503, timeouts, latency far above
// the best seen), additive increase while the server keeps up. At most one
// decrease per latency window, so a burst of failures from one overload
// counts once.
class AdaptiveLimit {
 public:
  AdaptiveLimit(int max_in_flight, int initial);
  int limit() const { return static_cast<int>(limit_); }
  int max() const { return max_; }
  // A new ceiling (>= 1); the limit drops to it at once when above.
  void set_max(int max_in_flight) {
    max_ = max_in_flight < 1 ? 1 : max_in_flight;
    if (limit_ > max_) limit_ = max_;
  }
  void on_success(double latency_s, double now);
  void on_overload(double now);

 private:
  int max_;
  double limit_;
  double best_latency_ = 0;     // lowest latency seen (decays upward slowly)
  double last_decrease_ = -1e9;
};

struct BackoffPolicy {
  double base_s = 0.5;
  double max_s = 30;
  double jitter = 0.5;   // fraction of the delay drawn at random
  int max_attempts = 6;  // including the first
  double retry_after_max_s = 120;  // a server asking to wait longer is not retried (as OpenAI's client)
};

// Delay before attempt `attempt` (2, 3, ...). When the server said how long
// to wait (Retry-After), that long, plus up to 10 % so calls told the same
// wait do not all return at once; nullopt when it asked for more than
// retry_after_max_s (the call then fails instead of waiting). Otherwise
// exponential from base_s, capped at max_s, with jitter.
std::optional<double> backoff_delay(const BackoffPolicy& p, int attempt, std::optional<double> retry_after_s,
                                    double random01);

// Retry-After: delta-seconds, or an HTTP date (seconds from `now_epoch`).
std::optional<double> parse_retry_after(const std::string& value, double now_epoch);
// The wait a response asks for: retry-after-ms (milliseconds) when present
// and valid, else Retry-After.
std::optional<double> requested_wait(const std::string& retry_after_ms, const std::string& retry_after,
                                     double now_epoch);

enum class Disposition { kSuccess, kRetry, kFail };
// 2xx success; 408, 409, 425, 429, 5xx and transport errors retry; other 4xx fail.
Disposition classify(long http_status, bool transport_error);
// Responses that mean "the server is overloaded": shrink in-flight.
bool is_overload(long http_status, bool timed_out);

}  // namespace vf::model
