// FreshInterpreterExecutor: the baseline executor, a fresh interpreter per
// snippet (what Loong's verifier does), without namespaces: its own process
// group (killed whole at the end), a private temporary working folder
// (removed afterwards), a clean environment, CPU-time / address-space /
// file-size rlimits, a wall timeout and an output cap. The benchmark compares
// the fork-server pool against it; `sandbox.mode = "fresh-interpreter"`
// selects it for a job.
//
// run_python() runs one snippet and blocks its calling thread until the
// snippet ends or its wall deadline passes. FreshInterpreterExecutor runs
// snippets on its own worker threads and reports each result through a
// callback on one of them. Thread-safe; destroying it fails queued snippets
// (kSandboxFailure) and waits for running ones, each bounded by its timeout.
#pragma once

#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "sandbox/run.h"

namespace vf::sandbox {

class RunQueue;

struct ExecutorOptions {
  std::string python = "/usr/bin/python3";
  unsigned workers = 0;     // 0: one per core
};

// Runs one snippet on the calling thread.
RunResult run_python(const std::string& python, const RunRequest& request);

// The baseline executor.
class FreshInterpreterExecutor final : public Executor {
 public:
  explicit FreshInterpreterExecutor(ExecutorOptions options);
  ~FreshInterpreterExecutor() override;
  FreshInterpreterExecutor(const FreshInterpreterExecutor&) = delete;
  FreshInterpreterExecutor& operator=(const FreshInterpreterExecutor&) = delete;

  void submit(RunRequest request, Callback done) override;

  unsigned workers() const override { return static_cast<unsigned>(threads_.size()); }
  size_t queued() const;

 private:
  void work();

  ExecutorOptions options_;
  std::unique_ptr<RunQueue> queue_;
  std::vector<std::thread> threads_;
};

}  // namespace vf::sandbox
