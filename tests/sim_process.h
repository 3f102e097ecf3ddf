// The LLM simulator (tools/llm-sim) as a real process on a loopback port,
// for tests that talk to it over real HTTP. Killed when destroyed.
#pragma once

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <condition_variable>
#include <cstdio>
#include <mutex>
#include <string>
#include <vector>

#include <doctest/doctest.h>
#include <nlohmann/json.hpp>

#include "model/http_engine.h"
#include "tests/test_util.h"

namespace vf::test {

// The simulator as a real process on a loopback port.
class Simulator {
 public:
  explicit Simulator(std::vector<std::string> args) {
    int out[2];
    REQUIRE(pipe(out) == 0);
    pid_ = fork();
    REQUIRE(pid_ >= 0);
    if (pid_ == 0) {
      dup2(out[1], 1);
      close(out[0]);
      std::vector<std::string> all{LLM_SIM_PATH, "--port", "0", "--seeds", vf::test::source_dir() + "/configs/seeds"};
      all.insert(all.end(), args.begin(), args.end());
      std::vector<char*> argv;
      for (auto& a : all) argv.push_back(a.data());
      argv.push_back(nullptr);
      execv(argv[0], argv.data());
      _exit(127);
    }
    close(out[1]);
    FILE* f = fdopen(out[0], "r");
    // The simulator may log before it is ready (its fork server, with --solve-variants).
    char line[512] = {0};
    while (port_ <= 0 && std::fgets(line, sizeof line, f) != nullptr)
      std::sscanf(line, "llm-sim listening on %d", &port_);
    pipe_ = f;
    if (port_ <= 0) {
      kill(pid_, SIGKILL);
      waitpid(pid_, nullptr, 0);
      pid_ = -1;
    }
    REQUIRE_MESSAGE(port_ > 0, "llm-sim did not start");
  }
  ~Simulator() {
    if (pid_ > 0) {
      kill(pid_, SIGKILL);
      waitpid(pid_, nullptr, 0);
    }
    if (pipe_) std::fclose(pipe_);
  }
  std::string base_url() const { return "http://127.0.0.1:" + std::to_string(port_) + "/v1"; }
  nlohmann::json stats() const {
    model::HttpEngine engine;
    std::mutex mu;
    std::condition_variable cv;
    bool done = false;
    std::string body;
    engine.post([&] {
      engine.fetch(model::HttpRequest{"http://127.0.0.1:" + std::to_string(port_) + "/stats", "", {}, 10}, [&](model::HttpResponse r) {
        std::lock_guard<std::mutex> lock(mu);
        body = r.body;
        done = true;
        cv.notify_all();
      });
    });
    std::unique_lock<std::mutex> lock(mu);
    cv.wait(lock, [&] { return done; });
    return nlohmann::json::parse(body);
  }

 private:
  pid_t pid_ = -1;
  int port_ = 0;
  FILE* pipe_ = nullptr;
};


}  // namespace vf::test
