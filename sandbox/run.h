// What running rationale code means, for every executor: the request
// (code, limits, declared modules), the result and its classification
// (RunStatus), and the asynchronous Executor interface the pipeline uses.
// Two executors implement it: ForkServerPool (sandbox/fork_server.h, the
// production one) and FreshInterpreterExecutor (sandbox/fresh_interpreter.h,
// the baseline).
// Independent of dataflow/ and CAF. Values here need no locking; each
// Executor states its own thread-safety.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

namespace vf::sandbox {

enum class RunStatus : uint8_t {
  kOk = 0,
  kError = 1,              // non-zero exit or uncaught exception
  kTimeout = 2,            // wall deadline passed
  kMissingDependency = 3,  // imported a module that is not installed
  kOutputTooLarge = 4,
  kKilledByLimit = 5,      // CPU time or memory limit (detail says which)
  kSandboxFailure = 6,     // our fault: could not start or supervise the child
};

std::string_view to_string(RunStatus s);

struct RunLimits {
  double wall_timeout_s = 10.0;
  uint32_t cpu_seconds = 0;          // 0: wall timeout rounded up, plus one
  uint64_t address_space_mb = 4096;  // numpy/OpenBLAS reserve a lot of virtual memory
  uint64_t max_output_bytes = 1 << 20;
  uint64_t max_file_bytes = 64ull << 20;
  uint32_t max_processes = 64;       // processes + threads of one snippet (fork server)

  uint32_t effective_cpu_seconds() const;
};

struct RunResult {
  RunStatus status = RunStatus::kSandboxFailure;
  int exit_code = -1;
  int term_signal = 0;
  std::string output;       // stdout, trailing whitespace trimmed
  std::string error_tail;   // last lines of stderr
  std::string detail;       // missing module, limit name, failure reason
  double wall_ms = 0;
};

struct RunRequest {
  std::string code;
  RunLimits limits;
  // Modules the seed declares; a missing one is reported without running.
  std::vector<std::string> required_modules;
};

// The environment snippets (and fork servers) run with: nothing inherited but
// what numerical libraries need on this CPU, stable hashing, one BLAS thread.
std::vector<std::string> snippet_environment(const std::string& home);

// Parses a status name ("ok", "timeout", ...) as printed by to_string().
RunStatus parse_status(std::string_view name);

// Classifies a finished process from its exit and stderr (exposed for tests).
void classify_exit(RunResult& r, bool timed_out, bool output_overflow);

// What every executor offers: asynchronous snippet runs.
class Executor {
 public:
  using Callback = std::function<void(RunResult)>;
  virtual ~Executor() = default;
  // Queues a snippet; never blocks. `done` runs on a pool thread, exactly
  // once (with kSandboxFailure if the pool shuts down first).
  virtual void submit(RunRequest request, Callback done) = 0;
  virtual unsigned workers() const = 0;
};

}  // namespace vf::sandbox
