#include "model/client.h"

#include <cstdlib>
#include <ctime>
#include <deque>
#include <mutex>
#include <random>

#include <spdlog/spdlog.h>

#include "model/http_engine.h"

namespace vf::model {

namespace {

struct Endpoint {
  EndpointConfig config;
  std::string url;
  std::string auth_header;
  AdaptiveLimit limit;
  TokenBucket requests;
  TokenBucket tokens;
  int in_flight = 0;
  int consecutive_failures = 0;
  double down_until = 0;
  EndpointStats stats;
};

struct Pending {
  ChatCall call;
  std::function<void(ChatOutcome)> done;
  int attempts = 0;
  double started = 0;
  double estimated_tokens = 0;
  std::string last_error;
  int avoid_endpoint = -1;  // the endpoint that failed last, tried last
};

double estimate_tokens(const ChatCall& c) {
  double chars = 0;
  for (const auto& m : c.messages) chars += static_cast<double>(m.content.size());
  return chars / 4 + static_cast<double>(c.sampling.max_tokens) * std::max(1, c.sampling.n);
}

}  // namespace

struct ModelClient::Impl {
  ClientOptions options;
  std::vector<Endpoint> endpoints;
  std::deque<std::shared_ptr<Pending>> queue;  // engine thread; shared so abandoned timers free their call
  std::mt19937_64 rng;
  bool pump_scheduled = false;
  mutable std::mutex stats_mu;
  ClientStats stats;  // guarded by stats_mu
  HttpEngine engine;  // last: destroyed first, so no callback outlives the state above

  void snapshot_endpoint(const Endpoint& e) {
    std::lock_guard<std::mutex> lock(stats_mu);
    EndpointStats s = e.stats;
    s.in_flight = e.in_flight;
    s.limit = e.limit.limit();
    s.max_in_flight = e.limit.max();
    s.requests_per_minute = e.config.requests_per_minute;
    s.tokens_per_minute = e.config.tokens_per_minute;
    s.down = e.down_until > HttpEngine::now();
    stats.endpoints[e.config.name] = s;
    stats.waiting = queue.size();
  }

  // Picks the healthy endpoint with the most free capacity, or -1; sets
  // `retry_in` to when one may become usable.
  int pick(const Pending& p, double now, double& retry_in) {
    int best = -1;
    double best_free = 0;
    retry_in = 1.0;
    for (size_t i = 0; i < endpoints.size(); ++i) {
      Endpoint& e = endpoints[i];
      if (e.down_until > now) {
        retry_in = std::min(retry_in, e.down_until - now);
        continue;
      }
      if (e.in_flight >= e.limit.limit()) continue;
      double w = std::max(e.requests.wait_for(1, now), e.tokens.wait_for(p.estimated_tokens, now));
      if (w > 0) {
        retry_in = std::min(retry_in, w);
        continue;
      }
      double free = static_cast<double>(e.limit.limit() - e.in_flight) / e.limit.limit();
      if (static_cast<int>(i) == p.avoid_endpoint && endpoints.size() > 1) free -= 1.0;  // failover preference
      if (best < 0 || free > best_free) {
        best = static_cast<int>(i);
        best_free = free;
      }
    }
    return best;
  }

  void schedule_pump(double delay) {
    if (pump_scheduled) return;
    pump_scheduled = true;
    engine.post_after(delay, [this] {
      pump_scheduled = false;
      pump();
    });
  }

  // Sends queued calls while some endpoint has capacity. Calls waiting out a
  // backoff are not in the queue (they sit on the engine's timers), so this
  // stops at the first call nothing can take.
  void pump() {
    double now = HttpEngine::now();
    while (!queue.empty()) {
      double retry_in = 1.0;
      int idx = pick(*queue.front(), now, retry_in);
      if (idx < 0) {
        schedule_pump(std::max(0.001, std::min(retry_in, 1.0)));
        return;
      }
      std::shared_ptr<Pending> p = std::move(queue.front());
      queue.pop_front();
      send(idx, std::move(p), now);
    }
  }

  void send(int idx, std::shared_ptr<Pending> p, double now) {
    Endpoint& e = endpoints[static_cast<size_t>(idx)];
    e.in_flight++;
    e.requests.take(1, now);
    e.tokens.take(p->estimated_tokens, now);
    e.stats.requests++;
    p->attempts++;
    HttpRequest req;
    req.url = e.url;
    req.body = chat_request_body(e.config.model, p->call.messages, p->call.sampling);
    if (!e.auth_header.empty()) req.headers.push_back(e.auth_header);
    req.timeout_s = e.config.timeout_s;
    engine.fetch(std::move(req), [this, idx, p](HttpResponse r) { on_response(idx, p, std::move(r)); });
    snapshot_endpoint(e);
  }

  void on_response(int idx, std::shared_ptr<Pending> p, HttpResponse r) {
    Endpoint& e = endpoints[static_cast<size_t>(idx)];
    double now = HttpEngine::now();
    e.in_flight--;
    bool transport = r.status == 0;
    if (r.status == 429) e.stats.http_429++;
    if (r.status >= 500 && r.status < 600) e.stats.http_5xx++;
    if (r.timed_out) e.stats.timeouts++;
    if (!transport) e.stats.latency.observe(r.seconds);
    Disposition d = classify(r.status, transport);
    Expected<ChatCompletion> parsed = Error{""};
    if (d == Disposition::kSuccess) {
      parsed = parse_chat_completion(r.body);
      if (!parsed) d = Disposition::kRetry;  // malformed or truncated reply: ask again
    }
    if (r.connect_failed) {
      // Only an endpoint that is not there is skipped; a slow one is throttled
      // by its adaptive limit instead. The last endpoint up is never skipped.
      bool others_up = false;
      for (size_t i = 0; i < endpoints.size(); ++i)
        if (static_cast<int>(i) != idx && endpoints[i].down_until <= now) others_up = true;
      if (++e.consecutive_failures >= options.down_after_failures && others_up) {
        e.down_until = now + options.down_seconds;
        spdlog::warn("component=model event=endpoint-down endpoint={} failures={} error=\"{}\"", e.config.name,
                     e.consecutive_failures, r.transport_error);
      }
    } else {
      e.consecutive_failures = 0;
    }
    if (is_overload(r.status, r.timed_out)) e.limit.on_overload(now);
    if (d == Disposition::kSuccess) {
      e.limit.on_success(r.seconds, now);
      ChatOutcome out;
      out.ok = true;
      out.completion = std::move(parsed.value());
      out.attempts = p->attempts;
      out.endpoint = e.config.name;
      out.model = e.config.model;
      out.seconds = now - p->started;
      // Correct the token budget by what was really used.
      double used = static_cast<double>(out.completion.usage.prompt_tokens + out.completion.usage.completion_tokens);
      if (used > 0) e.tokens.give_back(p->estimated_tokens - used);
      e.stats.successes++;
      e.stats.prompt_tokens += out.completion.usage.prompt_tokens;
      e.stats.completion_tokens += out.completion.usage.completion_tokens;
      {
        std::lock_guard<std::mutex> lock(stats_mu);
        stats.completed++;
        auto& u = stats.usage_by_purpose[p->call.purpose];
        u.prompt_tokens += out.completion.usage.prompt_tokens;
        u.completion_tokens += out.completion.usage.completion_tokens;
      }
      snapshot_endpoint(e);
      p->done(std::move(out));
      pump();
      return;
    }
    std::string why = transport ? r.transport_error
                      : d == Disposition::kRetry && r.status >= 200 && r.status < 300
                          ? parsed.error()
                          : "HTTP " + std::to_string(r.status) + ": " + error_message(r.body);
    p->last_error = why;
    std::optional<double> delay;
    if (d == Disposition::kRetry) {
      auto wait = requested_wait(r.retry_after_ms, r.retry_after, static_cast<double>(std::time(nullptr)));
      delay = backoff_delay(options.backoff, p->attempts + 1, wait, std::uniform_real_distribution<double>(0, 1)(rng));
      if (!delay) {
        d = Disposition::kFail;  // the server asked for a wait longer than we retry after
        why += " (the server asked to retry after " + std::to_string(static_cast<long long>(*wait)) +
               " s, more than model.retry_after_max_s = " +
               std::to_string(static_cast<long long>(options.backoff.retry_after_max_s)) + " s; not retried)";
      }
    }
    if (d == Disposition::kRetry && p->attempts < options.backoff.max_attempts) {
      e.stats.retries++;
      p->avoid_endpoint = idx;
      spdlog::debug("component=model event=retry endpoint={} attempt={} delay_s={:.3f} error=\"{}\"", e.config.name,
                    p->attempts, *delay, why);
      snapshot_endpoint(e);
      engine.post_after(*delay, [this, p] {
        queue.push_back(p);
        pump();
      });
      pump();
      return;
    }
    e.stats.failures++;
    ChatOutcome out;
    out.ok = false;
    out.error = (d == Disposition::kFail ? "" : "gave up after " + std::to_string(p->attempts) + " attempts: ") + why;
    out.attempts = p->attempts;
    out.endpoint = e.config.name;
    out.model = e.config.model;
    out.seconds = now - p->started;
    {
      std::lock_guard<std::mutex> lock(stats_mu);
      stats.failed++;
    }
    snapshot_endpoint(e);
    p->done(std::move(out));
    pump();
  }
};

ModelClient::ModelClient(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
ModelClient::~ModelClient() = default;

Expected<std::unique_ptr<ModelClient>> ModelClient::create(ClientOptions options) {
  if (options.endpoints.empty()) return Error{"model client: no endpoints configured"};
  auto impl = std::make_unique<Impl>();
  impl->rng.seed(options.random_seed);
  for (size_t i = 0; i < options.endpoints.size(); ++i) {
    EndpointConfig c = options.endpoints[i];
    std::string where = "endpoint '" + (c.name.empty() ? std::to_string(i + 1) : c.name) + "'";
    if (c.name.empty()) c.name = "endpoint-" + std::to_string(i + 1);
    if (c.base_url.empty()) return Error{where + ": base_url is missing"};
    if (c.base_url.rfind("http://", 0) != 0 && c.base_url.rfind("https://", 0) != 0)
      return Error{where + ": base_url must start with http:// or https://, got '" + c.base_url + "'"};
    if (c.model.empty()) return Error{where + ": model is missing"};
    if (c.max_in_flight < 1) return Error{where + ": max_in_flight must be at least 1"};
    std::string auth;
    if (!c.api_key_env.empty()) {
      const char* key = std::getenv(c.api_key_env.c_str());
      if (!key || !*key) return Error{where + ": environment variable " + c.api_key_env + " (api_key_env) is not set"};
      auth = std::string("Authorization: Bearer ") + key;
    }
    std::string url = c.base_url;
    while (!url.empty() && url.back() == '/') url.pop_back();
    url += "/chat/completions";
    int initial = c.initial_in_flight > 0 ? c.initial_in_flight : std::max(1, c.max_in_flight / 4);
    impl->endpoints.push_back(Endpoint{c, url, auth, AdaptiveLimit(c.max_in_flight, initial),
                                       TokenBucket(c.requests_per_minute), TokenBucket(c.tokens_per_minute), 0, 0, 0,
                                       EndpointStats{}});
  }
  impl->options = std::move(options);
  return std::unique_ptr<ModelClient>(new ModelClient(std::move(impl)));
}

void ModelClient::chat(ChatCall call, std::function<void(ChatOutcome)> done) {
  auto p = std::make_shared<Pending>();
  p->estimated_tokens = estimate_tokens(call);
  p->call = std::move(call);
  p->done = std::move(done);
  p->started = HttpEngine::now();
  {
    std::lock_guard<std::mutex> lock(impl_->stats_mu);
    impl_->stats.calls++;
  }
  Impl* impl = impl_.get();
  impl->engine.post([impl, p] {
    impl->queue.push_back(p);
    impl->pump();
  });
}

void ModelClient::set_rate(const std::string& endpoint, double requests_per_minute, double tokens_per_minute) {
  Impl* impl = impl_.get();
  impl->engine.post([impl, endpoint, requests_per_minute, tokens_per_minute] {
    for (auto& e : impl->endpoints)
      if (e.config.name == endpoint) {
        e.config.requests_per_minute = requests_per_minute;
        e.config.tokens_per_minute = tokens_per_minute;
        e.requests = TokenBucket(requests_per_minute);
        e.tokens = TokenBucket(tokens_per_minute);
      }
    impl->pump();
  });
}

bool ModelClient::has_endpoint(const std::string& endpoint) const {
  for (const auto& e : impl_->options.endpoints)
    if (e.name == endpoint) return true;
  return false;
}

bool ModelClient::set_max_in_flight(const std::string& endpoint, int max_in_flight) {
  if (!has_endpoint(endpoint) || max_in_flight < 1) return false;
  Impl* impl = impl_.get();
  impl->engine.post([impl, endpoint, max_in_flight] {
    for (auto& e : impl->endpoints)
      if (e.config.name == endpoint) {
        e.config.max_in_flight = max_in_flight;
        e.limit.set_max(max_in_flight);
        impl->snapshot_endpoint(e);
      }
    impl->pump();
  });
  return true;
}

ClientStats ModelClient::stats() const {
  std::lock_guard<std::mutex> lock(impl_->stats_mu);
  return impl_->stats;
}

}  // namespace vf::model
