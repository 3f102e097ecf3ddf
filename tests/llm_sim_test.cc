// The LLM simulator is the oracle of every LLM test and of the crash test:
// its answers, its fault injection and its counters are tested here
// directly, over real HTTP.
#include <doctest/doctest.h>

#include <chrono>
#include <condition_variable>
#include <mutex>
#include <thread>

#include <nlohmann/json.hpp>

#include "model/http_engine.h"
#include "tests/sim_process.h"

using namespace vf::model;
using vf::test::Simulator;

namespace {

// One blocking POST of `body` to the simulator's chat endpoint.
HttpResponse post(const Simulator& sim, const std::string& body) {
  HttpEngine engine;
  std::mutex mu;
  std::condition_variable cv;
  bool done = false;
  HttpResponse out;
  engine.post([&] {
    engine.fetch(HttpRequest{sim.base_url() + "/chat/completions", body, {"Content-Type: application/json"}, 10},
                 [&](HttpResponse r) {
                   std::lock_guard<std::mutex> lock(mu);
                   out = std::move(r);
                   done = true;
                   cv.notify_all();
                 });
  });
  std::unique_lock<std::mutex> lock(mu);
  cv.wait(lock, [&] { return done; });
  return out;
}

std::string solver_body(const std::string& question, int seed) {
  return nlohmann::json{{"model", "m"},
                        {"seed", seed},
                        {"messages", {{{"role", "user"}, {"content", "Solve: " + question}}}}}
      .dump();
}

std::string content(const HttpResponse& r) {
  auto j = nlohmann::json::parse(r.body);
  return j["choices"][0]["message"]["content"].get<std::string>();
}

const std::string kBankQuestion = "How many edges does the complete graph on 9 vertices have?";

}  // namespace

TEST_CASE("llm-sim: a request with a sampling seed gets the same answer again, and the repeat is counted") {
  Simulator sim({"--seed", "9", "--latency-ms", "1"});
  auto a = post(sim, solver_body("What is 2 + 2?", 5));
  auto b = post(sim, solver_body("What is 2 + 2?", 5));
  REQUIRE(a.status == 200);
  REQUIRE(b.status == 200);
  CHECK(content(a) == content(b));
  auto s = sim.stats();
  CHECK(s["requests"] == 2);
  CHECK(s["solver_ok"] == 2);
  CHECK(s["repeated_ok"] == 1);  // a client repeating a finished call shows up here
  CHECK(s["distinct_bodies"] == 1);
}

TEST_CASE("llm-sim: faults are a function of its seed and the request, so two servers fail alike") {
  Simulator one({"--seed", "21", "--p500", "0.5"}), two({"--seed", "21", "--p500", "0.5"});
  int failures = 0;
  for (int i = 0; i < 20; ++i) {
    auto body = solver_body("Question " + std::to_string(i), i);
    auto a = post(one, body), b = post(two, body);
    CHECK(a.status == b.status);
    failures += a.status == 500;
  }
  CHECK(failures > 0);
  CHECK(failures < 20);
}

TEST_CASE("llm-sim: a 429 says how long to wait, and a resend before that is counted as early") {
  Simulator sim({"--seed", "1", "--p429", "1", "--retry-after", "2"});
  auto body = solver_body("What is 3 + 3?", 1);
  auto first = post(sim, body);
  CHECK(first.status == 429);
  CHECK(first.retry_after == "2");
  post(sim, body);  // at once: two seconds too early
  CHECK(sim.stats()["early_retries"] == 1);
  Simulator patient({"--seed", "1", "--p429", "1", "--retry-after", "0", "--retry-after-ms", "100"});
  auto r = post(patient, body);
  CHECK(r.retry_after_ms == "100");
  std::this_thread::sleep_for(std::chrono::milliseconds(150));  // the wait it asked for, and more
  post(patient, body);
  CHECK(patient.stats()["early_retries"] == 0);
}

TEST_CASE("llm-sim: with accuracy 1 the solver's answer to a bank question is the bank's answer") {
  Simulator sim({"--seed", "3", "--solver-accuracy", "1"});
  auto r = post(sim, solver_body(kBankQuestion, 1));
  REQUIRE(r.status == 200);
  CHECK(content(r).find("36") != std::string::npos);
}

TEST_CASE("llm-sim: a request for a new problem is answered with a question and code") {
  Simulator sim({"--seed", "4", "--gen-broken", "0"});
  auto body = nlohmann::json{{"model", "m"},
                             {"messages",
                              {{{"role", "user"},
                                {"content", "Write a new problem like this one.\nQuestion: " + kBankQuestion}}}}}
                  .dump();
  auto r = post(sim, body);
  REQUIRE(r.status == 200);
  auto text = content(r);
  CHECK(text.find("```") != std::string::npos);  // rationale code in a fence
  CHECK(text.find("print") != std::string::npos);
  CHECK(sim.stats()["generator_ok"] == 1);
}

TEST_CASE("llm-sim: a body that is not a chat request is a 400 with an OpenAI-style error") {
  Simulator sim({});
  auto r = post(sim, "{\"nothing\": true}");
  CHECK(r.status == 400);
  CHECK(nlohmann::json::parse(r.body)["error"]["type"] == "invalid_request_error");
}
