#include <doctest/doctest.h>

#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sys/stat.h>
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

namespace {
// Whether process `pid` is still running (a zombie waiting to be reaped is not).
bool running(int pid) {
  std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
  std::string text((std::istreambuf_iterator<char>(stat)), {});
  auto close = text.rfind(')');
  return close != std::string::npos && close + 2 < text.size() && text[close + 2] != 'Z';
}
// Waits (up to a minute) for `pid` to be gone; false if it is still running then.
bool ends(int pid) {
  for (int i = 0; i < 600 && running(pid); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(100));
  return !running(pid);
}
}  // namespace

TEST_CASE("the wall timeout kills the snippet and its whole process group") {
  auto r = run("import subprocess, time\np = subprocess.Popen(['sleep', '600'])\nprint(p.pid, flush=True)\ntime.sleep(60)\n",
               1.0);
  CHECK(r.status == RunStatus::kTimeout);
  REQUIRE_FALSE(r.output.empty());
  int grandchild = std::stoi(r.output);
  CHECK_MESSAGE(ends(grandchild), "the snippet's child " << grandchild << " outlived the timeout");
}

TEST_CASE("a child a snippet leaves running when it exits is killed with it") {
  auto r = run("import subprocess\np = subprocess.Popen(['sleep', '600'], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)\nprint(p.pid)\n");
  CHECK(r.status == RunStatus::kOk);
  REQUIRE_FALSE(r.output.empty());
  int grandchild = std::stoi(r.output);
  CHECK_MESSAGE(ends(grandchild), "the snippet's child " << grandchild << " outlived it");
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

TEST_CASE("the pool runs snippets concurrently") {
  // Two snippets that each wait for the other's file: run one after the
  // other, the first would wait out its timeout alone.
  char tmpl[] = "/tmp/veriforge-rendezvous-XXXXXX";
  std::string dir = mkdtemp(tmpl);
  chmod(dir.c_str(), 0777);
  auto snippet = [&](const char* me, const char* other) {
    return "import os, time\nopen('" + dir + "/" + me + "', 'w').close()\nfor _ in range(2000):\n"
           "    if os.path.exists('" + dir + "/" + other + "'):\n        print('met')\n        break\n"
           "    time.sleep(0.01)\nelse:\n    print('alone')\n";
  };
  FreshInterpreterExecutor pool({kPython, 2});
  std::mutex mu;
  std::condition_variable cv;
  std::vector<RunResult> results;
  RunLimits limits;
  limits.wall_timeout_s = 60;
  for (auto [me, other] : {std::pair{"a", "b"}, std::pair{"b", "a"}})
    pool.submit({snippet(me, other), limits, {}}, [&](RunResult r) {
      std::lock_guard<std::mutex> lock(mu);
      results.push_back(std::move(r));
      cv.notify_all();
    });
  std::unique_lock<std::mutex> lock(mu);
  REQUIRE(cv.wait_for(lock, std::chrono::seconds(120), [&] { return results.size() == 2; }));
  for (const auto& r : results) {
    CHECK(r.status == RunStatus::kOk);
    CHECK(r.output == "met");
  }
  std::filesystem::remove_all(dir);
}

TEST_CASE("the pool calls back exactly once for each snippet") {
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
      pool.submit({"print(1)", {}, {}}, [&](RunResult r) {
        ++total;
        if (r.status == RunStatus::kSandboxFailure) ++failed;
      });
  }
  CHECK(total == 5);   // every callback ran, once
  CHECK(failed >= 4);  // one worker took at most one snippet before the pool went away
}
