// ModelClient: chat completions against one or more OpenAI-compatible
// endpoints, with per-endpoint in-flight limits that adapt to the server,
// requests- and tokens-per-minute budgets, retries with exponential backoff
// and jitter (honouring Retry-After), load balancing and failover, and token
// accounting. Built on HttpEngine: no thread per request; every call's
// callback runs on the engine thread.
//
// A call fails for good (ok = false, error names the server's message) on a
// 4xx other than 408/409/425/429, on an unparseable 2xx reply after its
// retries, or when max_attempts is used up. Calls are never duplicated: a
// call is re-sent only after its previous attempt has finished.
// Thread-safety: chat() and stats() may be called from any thread.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "base/histogram.h"
#include "base/status.h"
#include "model/limits.h"
#include "model/chat.h"
#include "model/openai.h"

namespace vf::model {

struct EndpointConfig {
  std::string name;
  std::string base_url;      // e.g. http://localhost:8000/v1
  std::string model;
  std::string api_key_env;   // name of the environment variable holding the key; empty: no key
  int max_in_flight = 64;
  int initial_in_flight = 0;  // 0: max_in_flight / 4, at least 1
  double requests_per_minute = 0;  // 0: unlimited
  double tokens_per_minute = 0;    // 0: unlimited
  double timeout_s = 120;
};

struct ClientOptions {
  std::vector<EndpointConfig> endpoints;
  BackoffPolicy backoff;
  int down_after_failures = 3;  // consecutive connection failures before an endpoint is skipped
  double down_seconds = 10;     // how long it is skipped before being tried again
  uint64_t random_seed = 1;     // jitter
};

struct EndpointStats {
  uint64_t requests = 0, successes = 0, retries = 0, failures = 0;
  uint64_t prompt_tokens = 0, completion_tokens = 0;
  uint64_t http_429 = 0, http_5xx = 0, timeouts = 0;  // attempts answered so (or not answered in time)
  Histogram latency;  // seconds per answered attempt
  int in_flight = 0, limit = 0;  // now, and the adaptive limit now
  int max_in_flight = 0;         // the limit's ceiling (configured, or set while running)
  double requests_per_minute = 0, tokens_per_minute = 0;  // 0: unlimited
  bool down = false;
};

struct ClientStats {
  std::map<std::string, EndpointStats> endpoints;
  std::map<std::string, Usage> usage_by_purpose;
  uint64_t calls = 0, completed = 0, failed = 0, waiting = 0;
};

class ModelClient {
 public:
  // Errors name the endpoint and field (missing base_url, unset API key variable).
  static Expected<std::unique_ptr<ModelClient>> create(ClientOptions options);
  ~ModelClient();
  void chat(ChatCall call, std::function<void(ChatOutcome)> done);
  ClientStats stats() const;
  // Gives an endpoint a new rate budget (its share of a budget the cluster
  // splits among nodes), for calls not yet sent; 0 is unlimited. A name this
  // client does not have is ignored (the node replaced the job's endpoints).
  // May be called from any thread.
  void set_rate(const std::string& endpoint, double requests_per_minute, double tokens_per_minute);
  // An operator's change while running (the console): a new ceiling for the
  // endpoint's adaptive in-flight limit (>= 1). False for an unknown name.
  bool set_max_in_flight(const std::string& endpoint, int max_in_flight);
  bool has_endpoint(const std::string& endpoint) const;

 private:
  struct Impl;
  explicit ModelClient(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace vf::model
