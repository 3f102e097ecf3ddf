// The model client: pure rate/concurrency/retry decisions and the wire
// format (unit), then real HTTP against the llm-sim process: faults, retries,
// Retry-After, no retry on 4xx, failover, no repeated finished calls, usage.
#include <doctest/doctest.h>

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <mutex>
#include <thread>

#include <nlohmann/json.hpp>

#include "model/client.h"
#include "model/http_engine.h"
#include "model/limits.h"
#include "model/openai.h"
#include "tests/sim_process.h"
#include "tests/test_util.h"

using namespace vf::model;
using vf::test::Simulator;

TEST_CASE("token bucket: a minute's budget, refilled continuously") {
  TokenBucket b(60);  // one per second
  CHECK(b.wait_for(1, 0) == 0);
  b.take(60, 0);
  CHECK(b.wait_for(1, 0) == doctest::Approx(1.0));
  CHECK(b.wait_for(1, 0.5) == doctest::Approx(0.5));
  CHECK(b.wait_for(1, 1.0) == doctest::Approx(0.0));
  TokenBucket unlimited;
  CHECK(unlimited.unlimited());
  CHECK(unlimited.wait_for(1e9, 0) == 0);
}

TEST_CASE("adaptive in-flight limit: shrinks on overload once per window, grows while the server keeps up") {
  AdaptiveLimit l(100, 40);
  CHECK(l.limit() == 40);
  l.on_success(0.2, 0);
  l.on_overload(1.0);
  CHECK(l.limit() == 28);
  l.on_overload(1.01);  // same overload, same window
  CHECK(l.limit() == 28);
  l.on_overload(2.0);
  CHECK(l.limit() == 19);
  for (int i = 0; i < 2000; ++i) l.on_success(0.2, 3.0 + i * 0.01);
  CHECK(l.limit() == 100);  // never above the configured maximum
  // Latency far above the best seen is queueing: treated as overload.
  AdaptiveLimit q(64, 64);
  q.on_success(0.2, 0);
  q.on_success(5.0, 10);
  CHECK(q.limit() < 64);
  AdaptiveLimit one(8, 1);
  for (int i = 0; i < 10; ++i) one.on_overload(i * 10.0);
  CHECK(one.limit() == 1);
}

TEST_CASE("backoff: exponential, jittered, capped; a server's wait is honoured up to retry_after_max_s") {
  BackoffPolicy p;
  p.base_s = 1;
  p.max_s = 8;
  p.jitter = 0.5;
  CHECK(backoff_delay(p, 2, std::nullopt, 0.5).value() == doctest::Approx(0.75));
  CHECK(backoff_delay(p, 3, std::nullopt, 0.5).value() == doctest::Approx(1.5));
  CHECK(backoff_delay(p, 10, std::nullopt, 0.5).value() == doctest::Approx(6));
  CHECK(backoff_delay(p, 3, std::nullopt, 0.0).value() == doctest::Approx(1));
  CHECK(backoff_delay(p, 3, std::nullopt, 1.0).value() == doctest::Approx(2));
  // The server's wait, as asked (plus at most 10 %), even beyond max_s ...
  CHECK(backoff_delay(p, 2, 5.0, 0.0).value() == doctest::Approx(5));
  CHECK(backoff_delay(p, 2, 5.0, 1.0).value() == doctest::Approx(5.5));
  CHECK(backoff_delay(p, 2, 100.0, 0.0).value() == doctest::Approx(100));
  CHECK(backoff_delay(p, 2, 120.0, 0.0).value() == doctest::Approx(120));
  // ... but a wait longer than retry_after_max_s is not retried at all.
  CHECK_FALSE(backoff_delay(p, 2, 121.0, 0.0).has_value());
  p.retry_after_max_s = 10;
  CHECK_FALSE(backoff_delay(p, 2, 11.0, 0.0).has_value());
  CHECK(parse_retry_after("7", 0).value() == doctest::Approx(7));
  CHECK(parse_retry_after("Wed, 21 Oct 2015 07:28:10 GMT", 1445412480).value() == doctest::Approx(10));
  CHECK_FALSE(parse_retry_after("soon", 0).has_value());
  CHECK(requested_wait("1500", "7", 0).value() == doctest::Approx(1.5));  // retry-after-ms first
  CHECK(requested_wait("", "7", 0).value() == doctest::Approx(7));
  CHECK(requested_wait("junk", "7", 0).value() == doctest::Approx(7));
  CHECK_FALSE(requested_wait("", "", 0).has_value());
}

TEST_CASE("response headers are read by name, in any case, with their value trimmed") {
  std::string v;
  CHECK(header_value("Retry-After: 7\r\n", "retry-after", v));
  CHECK(v == "7");
  CHECK(header_value("retry-after-ms:  250 \r\n", "retry-after-ms", v));
  CHECK(v == "250");
  CHECK(header_value("RETRY-AFTER:Wed, 21 Oct 2015 07:28:10 GMT\r\n", "retry-after", v));
  CHECK(v == "Wed, 21 Oct 2015 07:28:10 GMT");
  CHECK_FALSE(header_value("Retry-After-Ms: 5\r\n", "retry-after", v));
  CHECK_FALSE(header_value("X-Retry-After: 3\r\n", "retry-after", v));
  CHECK_FALSE(header_value("Retry-After\r\n", "retry-after", v));
}

TEST_CASE("chat completion bodies and replies") {
  Sampling s;
  s.n = 3;
  s.seed = 7;
  s.stop = {"###"};
  auto body = nlohmann::json::parse(chat_request_body("m", {{"user", "hi"}}, s));
  CHECK(body["model"] == "m");
  CHECK(body["n"] == 3);
  CHECK(body["seed"] == 7);
  CHECK(body["messages"][0]["content"] == "hi");
  auto ok = parse_chat_completion(
      R"({"choices":[{"index":1,"message":{"content":"b"}},{"index":0,"message":{"content":"a"},"finish_reason":"stop"}],"usage":{"prompt_tokens":5,"completion_tokens":9}})");
  REQUIRE(ok);
  CHECK(ok->choices == std::vector<std::string>{"a", "b"});
  CHECK(ok->usage.prompt_tokens == 5);
  CHECK(ok->usage.completion_tokens == 9);
  CHECK_FALSE(parse_chat_completion(R"({"choices": [ oops)"));
  CHECK(parse_chat_completion(R"({"choices": [ oops)").error().find("not valid JSON") != std::string::npos);
  CHECK_FALSE(parse_chat_completion(R"({"choices": []})"));
  CHECK(error_message(R"({"error":{"message":"model not found"}})") == "model not found");
  CHECK(error_message(R"({"detail":"bad"})") == "bad");
}

namespace {

struct Collector {
  std::mutex mu;
  std::condition_variable cv;
  std::vector<ChatOutcome> outcomes;
  void add(ChatOutcome o) {
    std::lock_guard<std::mutex> lock(mu);
    outcomes.push_back(std::move(o));
    cv.notify_all();
  }
  bool wait_for(size_t n, int seconds) {
    std::unique_lock<std::mutex> lock(mu);
    return cv.wait_for(lock, std::chrono::seconds(seconds), [&] { return outcomes.size() >= n; });
  }
};

ChatCall solver_call(int i) {
  ChatCall c;
  c.messages = {{"system", "Solve the problem; end with \\boxed{answer}."},
                {"user", "Problem " + std::to_string(i) + ": what is " + std::to_string(i) + " + 1?"}};
  c.sampling.max_tokens = 64;
  c.purpose = "solver";
  return c;
}

ClientOptions fast_retries(std::vector<EndpointConfig> endpoints) {
  ClientOptions o;
  o.endpoints = std::move(endpoints);
  o.backoff.base_s = 0.01;
  o.backoff.max_s = 0.05;
  o.backoff.max_attempts = 12;
  return o;
}

}  // namespace

TEST_CASE("against the simulator with 20% faults every call ends, none is lost, no finished call repeats") {
  Simulator sim({"--seed", "3", "--latency-ms", "5", "--p429", "0.05", "--retry-after", "0", "--p500", "0.05",
                 "--pdrop", "0.03", "--ptimeout", "0.02", "--pmalformed", "0.03", "--ptruncated", "0.02"});
  EndpointConfig e;
  e.name = "sim";
  e.base_url = sim.base_url();
  e.model = "sim-model";
  e.max_in_flight = 32;
  // Long enough that only the simulated hangs time out, however loaded the
  // machine: a real reply cut off by a short timeout would be sent again.
  e.timeout_s = 5;
  auto client = ModelClient::create(fast_retries({e}));
  REQUIRE(client);
  Collector got;
  const int calls = 300;
  for (int i = 0; i < calls; ++i) client.value()->chat(solver_call(i), [&](ChatOutcome o) { got.add(std::move(o)); });
  REQUIRE(got.wait_for(calls, 120));
  int ok = 0, retried = 0;
  uint64_t completion_tokens = 0;
  for (const auto& o : got.outcomes) {
    if (o.ok) {
      ++ok;
      CHECK(o.completion.choices.size() == 1);
      completion_tokens += o.completion.usage.completion_tokens;
    } else {
      CHECK_FALSE(o.error.empty());
    }
    if (o.attempts > 1) ++retried;
  }
  CHECK(ok == calls);  // 12 attempts against 20% faults: every call gets through
  CHECK(retried > 0);
  auto s = sim.stats();
  CHECK(s["repeated_ok"] == 0);             // no finished call was sent again
  CHECK(s["solver_ok"] == calls);           // each call answered successfully exactly once
  auto stats = client.value()->stats();
  CHECK(stats.completed == calls);
  CHECK(stats.usage_by_purpose["solver"].completion_tokens == completion_tokens);
  CHECK(stats.endpoints["sim"].retries > 0);
}

TEST_CASE("a 4xx is not retried and fails the call with the server's message; 429s give up after max attempts") {
  Simulator sim({"--p429", "1", "--retry-after", "0"});
  EndpointConfig e;
  e.base_url = sim.base_url();
  e.model = "m";
  auto client = ModelClient::create(fast_retries({e}));
  REQUIRE(client);
  Collector got;
  client.value()->chat(solver_call(1), [&](ChatOutcome o) { got.add(std::move(o)); });
  REQUIRE(got.wait_for(1, 60));
  CHECK_FALSE(got.outcomes[0].ok);
  CHECK(got.outcomes[0].attempts == 12);
  CHECK(got.outcomes[0].error.find("rate limit exceeded (simulated)") != std::string::npos);

  EndpointConfig wrong = e;
  wrong.base_url = sim.base_url() + "/not-there";
  auto client404 = ModelClient::create(fast_retries({wrong}));
  REQUIRE(client404);
  Collector got404;
  client404.value()->chat(solver_call(2), [&](ChatOutcome o) { got404.add(std::move(o)); });
  REQUIRE(got404.wait_for(1, 30));
  CHECK_FALSE(got404.outcomes[0].ok);
  CHECK(got404.outcomes[0].attempts == 1);
  CHECK(got404.outcomes[0].error.find("HTTP 404: not found") != std::string::npos);
}

TEST_CASE("failover: calls go to the endpoint that is up, the dead one is marked down") {
  Simulator sim({"--latency-ms", "2"});
  EndpointConfig dead;
  dead.name = "dead";
  dead.base_url = "http://127.0.0.1:9/v1";  // discard port: connection refused
  dead.model = "m";
  dead.max_in_flight = 8;
  EndpointConfig live;
  live.name = "live";
  live.base_url = sim.base_url();
  live.model = "m";
  live.max_in_flight = 8;
  auto client = ModelClient::create(fast_retries({dead, live}));
  REQUIRE(client);
  Collector got;
  for (int i = 0; i < 50; ++i) client.value()->chat(solver_call(i), [&](ChatOutcome o) { got.add(std::move(o)); });
  REQUIRE(got.wait_for(50, 60));
  for (const auto& o : got.outcomes) {
    CHECK(o.ok);
    CHECK(o.endpoint == "live");
  }
  auto stats = client.value()->stats();
  CHECK(stats.endpoints["dead"].successes == 0);
  CHECK(stats.endpoints["live"].successes == 50);
}

ClientOptions options_for(const EndpointConfig& e) {
  ClientOptions o;
  o.endpoints = {e};
  return o;
}

TEST_CASE("configuration errors name the endpoint and field") {
  EndpointConfig e;
  e.name = "vllm";
  e.model = "m";
  auto missing = ModelClient::create(options_for(e));
  CHECK_FALSE(missing);
  CHECK(missing.error().find("endpoint 'vllm': base_url is missing") != std::string::npos);
  e.base_url = "localhost:8000";
  CHECK(ModelClient::create(options_for(e)).error().find("must start with http://") != std::string::npos);
  e.base_url = "http://localhost:8000/v1";
  e.api_key_env = "VERIFORGE_TEST_UNSET_KEY";
  unsetenv("VERIFORGE_TEST_UNSET_KEY");
  CHECK(ModelClient::create(options_for(e)).error().find("VERIFORGE_TEST_UNSET_KEY") != std::string::npos);
}

TEST_CASE("a server's Retry-After is waited out before the call is sent again") {
  Simulator sim({"--seed", "4", "--latency-ms", "2", "--p429", "0.3", "--retry-after", "1"});
  EndpointConfig e;
  e.name = "sim";
  e.base_url = sim.base_url();
  e.model = "m";
  e.max_in_flight = 16;
  auto client = ModelClient::create(fast_retries({e}));  // its own backoff would retry within 50 ms
  REQUIRE(client);
  Collector got;
  const int calls = 40;
  for (int i = 0; i < calls; ++i) client.value()->chat(solver_call(i), [&](ChatOutcome o) { got.add(std::move(o)); });
  REQUIRE(got.wait_for(calls, 120));
  for (const auto& o : got.outcomes) CHECK(o.ok);
  auto s = sim.stats();
  CHECK(s["outcomes"]["429"].get<int>() > 0);  // the server did ask to wait
  CHECK(s["early_retries"] == 0);              // and no call came back before it said
}

TEST_CASE("retry-after-ms is preferred to Retry-After") {
  // The header in seconds says 30 s; the one in milliseconds 300 ms. A client
  // that read only the first would not finish within the wait below.
  Simulator sim({"--seed", "5", "--latency-ms", "2", "--p429", "0.3", "--retry-after", "30", "--retry-after-ms", "300"});
  EndpointConfig e;
  e.base_url = sim.base_url();
  e.model = "m";
  auto client = ModelClient::create(fast_retries({e}));
  REQUIRE(client);
  Collector got;
  const int calls = 20;
  for (int i = 0; i < calls; ++i) client.value()->chat(solver_call(i), [&](ChatOutcome o) { got.add(std::move(o)); });
  REQUIRE(got.wait_for(calls, 25));
  for (const auto& o : got.outcomes) CHECK(o.ok);
  auto s = sim.stats();
  CHECK(s["outcomes"]["429"].get<int>() > 0);
  CHECK(s["early_retries"] == 0);
}

TEST_CASE("a server asking to wait longer than retry_after_max_s fails the call at once, naming the wait") {
  Simulator sim({"--p429", "1", "--retry-after", "300"});
  EndpointConfig e;
  e.base_url = sim.base_url();
  e.model = "m";
  auto options = fast_retries({e});
  REQUIRE(options.backoff.retry_after_max_s == 120);  // OpenAI's client's rule
  auto client = ModelClient::create(options);
  REQUIRE(client);
  Collector got;
  client.value()->chat(solver_call(1), [&](ChatOutcome o) { got.add(std::move(o)); });
  REQUIRE(got.wait_for(1, 30));
  CHECK_FALSE(got.outcomes[0].ok);
  CHECK(got.outcomes[0].attempts == 1);
  CHECK(got.outcomes[0].error.find("retry after 300 s") != std::string::npos);
  CHECK(got.outcomes[0].error.find("retry_after_max_s") != std::string::npos);
}
