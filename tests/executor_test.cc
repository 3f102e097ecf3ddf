#include <doctest/doctest.h>

#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <filesystem>
#include <mutex>
#include <thread>

#include "sandbox/fresh_interpreter.h"

using namespace vf::sandbox;

namespace {
const std::string kPython = "/usr/bin/python3";
RunResult run(const std::string& code, double timeout = 10.0, uint64_t max_output = 1 << 20) {
  RunRequest r;
  r.code = code;
  r.limits.wall_timeout_s = timeout;
  r.limits.max_output_bytes = max_output;
  return run_python(kPython, r);
}
}  // namespace

TEST_CASE("a snippet's stdout is its answer") {
  auto r = run("print(6 * 7)\n");
  CHECK(r.status == RunStatus::kOk);
  CHECK(r.output == "42");
}

TEST_CASE("an exception is an error with the last lines of stderr") {
  auto r = run("raise ValueError('bad seed')\n");
  CHECK(r.status == RunStatus::kError);
  CHECK(r.exit_code == 1);
  CHECK(r.error_tail.find("ValueError: bad seed") != std::string::npos);
}

TEST_CASE("a missing module is named") {
  auto r = run("import constraint_not_installed_xyz.sub\n");
  CHECK(r.status == RunStatus::kMissingDependency);
  CHECK(r.detail == "constraint_not_installed_xyz");
}

TEST_CASE("the wall timeout kills the snippet and its process group") {
  auto start = std::chrono::steady_clock::now();
  auto r = run("import subprocess, time\nsubprocess.Popen(['sleep', '60'])\ntime.sleep(60)\n", 1.0);
  double took = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  CHECK(r.status == RunStatus::kTimeout);
  CHECK(took < 10.0);
}

TEST_CASE("a snippet that closes its output and lingers still times out") {
  auto r = run("import os, time\nos.close(1)\nos.close(2)\ntime.sleep(30)\n", 1.0);
  CHECK(r.status == RunStatus::kTimeout);
}

TEST_CASE("output beyond the cap is classified, not buffered without bound") {
  auto r = run("import sys\nwhile True: sys.stdout.write('x' * 65536)\n", 10.0, 100000);
  CHECK(r.status == RunStatus::kOutputTooLarge);
  CHECK(r.output.size() <= 256);
}

TEST_CASE("the environment is clean and hashing is stable across runs") {
  setenv("VERIFORGE_TEST_SECRET", "hunter2", 1);
  auto r = run("import os\nprint(os.environ.get('VERIFORGE_TEST_SECRET', 'none'))\n");
  CHECK(r.output == "none");
  auto a = run("print({'apple', 'banana', 'cherry', 'date', 'elderberry'})\n");
  auto b = run("print({'apple', 'banana', 'cherry', 'date', 'elderberry'})\n");
  CHECK(a.output == b.output);
}

TEST_CASE("each snippet runs in a private working folder that is removed afterwards") {
  auto r = run("import os\nopen('scratch.txt', 'w').write('x')\nprint(os.getcwd())\n");
  REQUIRE(r.status == RunStatus::kOk);
  CHECK(r.output.rfind("/tmp/veriforge-snippet-", 0) == 0);
  CHECK_FALSE(std::filesystem::exists(r.output));
}

TEST_CASE("a missing interpreter is a sandbox failure, not the snippet's fault") {
  RunRequest req;
  req.code = "print(1)";
  auto r = run_python("/nonexistent/python3", req);
  CHECK(r.status == RunStatus::kSandboxFailure);
}

TEST_CASE("the pool runs snippets concurrently and calls back exactly once each") {
  FreshInterpreterExecutor pool({kPython, 2});
  std::mutex mu;
  std::condition_variable cv;
  std::vector<std::string> outputs;
  const int n = 12;
  for (int i = 0; i < n; ++i) {
    pool.submit({"print(" + std::to_string(i) + " * 2)", {}, {}}, [&](RunResult r) {
      std::lock_guard<std::mutex> lock(mu);
      outputs.push_back(r.output);
      cv.notify_all();
    });
  }
  std::unique_lock<std::mutex> lock(mu);
  REQUIRE(cv.wait_for(lock, std::chrono::seconds(60), [&] { return outputs.size() == n; }));
  std::sort(outputs.begin(), outputs.end());
  std::vector<std::string> want;
  for (int i = 0; i < n; ++i) want.push_back(std::to_string(i * 2));
  std::sort(want.begin(), want.end());
  CHECK(outputs == want);
}

TEST_CASE("destroying the pool fails queued snippets instead of dropping them") {
  std::atomic<int> failed{0}, total{0};
  {
    FreshInterpreterExecutor pool({kPython, 1});
    for (int i = 0; i < 5; ++i)
      pool.submit({"import time\ntime.sleep(0.2)\nprint(1)", {}, {}}, [&](RunResult r) {
        ++total;
        if (r.status == RunStatus::kSandboxFailure) ++failed;
      });
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  CHECK(total == 5);
  CHECK(failed >= 3);
}
