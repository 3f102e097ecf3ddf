// ForkServerPool: the production executor. Long-lived Python fork servers
// (one per core by default) pre-import the job's modules once and fork a
// fresh, contained child per snippet (sandbox/forkserver.py):
//   - namespaces: no network (own, empty network namespace), own PID
//     namespace (the server is its PID 1 and kills every process a snippet
//     left, setsid or not), own mount namespace with the whole filesystem
//     read-only, a private tmpfs /tmp, and hidden paths (the job's database,
//     /root, /home, /etc/shadow);
//   - per snippet: a private working folder, an unprivileged uid of the
//     worker's own (uid_base + worker index, so process-count limits are not
//     shared between concurrent snippets), CPU-time, address-space, file-size,
//     open-file and process/thread rlimits, a wall timeout, an output cap, a
//     clean environment.
// Namespaces need root (or CAP_SYS_ADMIN); without them the pool still runs,
// says so in warnings(), and snippets keep only the rlimits and process group.
//
// Each worker slot has its own thread that talks to its server over a socket
// (requests; a dead server gives EPIPE, not SIGPIPE) and a pipe (answers)
// with length-prefixed msgpack frames; actors only submit() and get a
// callback. A server that dies or stops answering is killed and replaced; the
// snippet it held is retried once on the fresh server, then reported as
// sandbox-failure. Thread-safe. Destruction fails queued snippets, waits for
// running ones, and kills the servers.
#pragma once

#include <atomic>
#include <mutex>
#include <thread>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "base/status.h"
#include "sandbox/run.h"

namespace vf::sandbox {

class RunQueue;

struct SandboxOptions {
  std::string python = "/usr/bin/python3";
  unsigned workers = 0;                          // 0: one per core
  bool contain = true;                           // namespaces + privilege drop
  std::vector<std::string> preimport;            // module names to import once
  std::map<std::string, std::string> aliases;    // import name -> installed name
  std::vector<std::string> hide_paths;           // invisible to snippets
  uint32_t uid_base = 61000;                     // worker i runs snippets as uid_base + i
  uint32_t tmp_mb = 512;                         // size of each server's private /tmp
  double start_timeout_s = 120;                  // pre-importing scipy takes a while
  double wedged_after_s = 10;                    // no answer this long past a snippet's timeout: replace the server
};

// What the servers reported when they started.
struct ModuleReport {
  std::vector<std::string> imported;
  std::map<std::string, std::string> missing;    // module -> import error
  bool contained = false;
  std::vector<std::string> warnings;
};

class ForkServerPool final : public Executor {
 public:
  // Starts every server and waits until each has pre-imported its modules.
  static Expected<std::unique_ptr<ForkServerPool>> start(SandboxOptions options);
  ~ForkServerPool() override;

  void submit(RunRequest request, Callback done) override;
  unsigned workers() const override { return static_cast<unsigned>(slots_.size()); }

  const ModuleReport& modules() const { return report_; }
  uint64_t restarts() const { return restarts_.load(); }
  // Process ids of the running servers (for tests and `status`).
  std::vector<int> server_pids() const;

  class Slot;  // one server process and the thread that talks to it

 private:
  explicit ForkServerPool(SandboxOptions options);
  void serve(Slot& slot);
  RunResult run_with_retry(Slot& slot, const RunRequest& request);
  std::string missing_required(const RunRequest& request);

  // Set before the worker threads start, read-only afterwards.
  SandboxOptions options_;
  ModuleReport report_;
  std::vector<std::unique_ptr<Slot>> slots_;  // slot i is touched only by threads_[i]
  std::vector<std::thread> threads_;
  std::unique_ptr<RunQueue> queue_;            // thread-safe itself
  std::mutex missing_mu_;                      // guards reported_missing_
  std::set<std::string> reported_missing_;     // log each missing module once per job
  std::atomic<uint64_t> restarts_{0};
  std::atomic<uint64_t> next_id_{1};
};

enum class SandboxMode { kForkServer, kFreshInterpreter };

// The executor a job runs with: the fork-server pool (default), or the
// fresh-interpreter-per-snippet baseline (no namespaces; for comparison).
Expected<std::unique_ptr<Executor>> make_executor(SandboxMode mode, const SandboxOptions& options);

// The default for SandboxOptions::aliases (Debian's pycryptodome installs as Cryptodome).
std::map<std::string, std::string> default_import_aliases();

}  // namespace vf::sandbox
