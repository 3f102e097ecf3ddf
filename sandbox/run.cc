#include "sandbox/run.h"

#include <signal.h>

#include <cmath>
#include <cstdlib>
#include <regex>

namespace vf::sandbox {

std::string_view to_string(RunStatus s) {
  switch (s) {
    case RunStatus::kOk: return "ok";
    case RunStatus::kError: return "error";
    case RunStatus::kTimeout: return "timeout";
    case RunStatus::kMissingDependency: return "missing-dependency";
    case RunStatus::kOutputTooLarge: return "output-too-large";
    case RunStatus::kKilledByLimit: return "killed-by-limit";
    case RunStatus::kSandboxFailure: return "sandbox-failure";
  }
  return "unknown";
}

std::vector<std::string> snippet_environment(const std::string& home) {
  std::vector<std::string> env = {
      "PATH=/usr/bin:/bin",
      "LANG=C.UTF-8",
      "HOME=" + home,
      "TMPDIR=" + home,
      // Stable str/bytes hashing, so printing a set is the same on every run.
      "PYTHONHASHSEED=0",
      "PYTHONDONTWRITEBYTECODE=1",
      "PYTHONIOENCODING=utf-8",
      "OMP_NUM_THREADS=1",
      "OPENBLAS_NUM_THREADS=1",
      "MKL_NUM_THREADS=1",
      "MPLBACKEND=Agg",
  };
  for (const char* keep : {"OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE"}) {
    if (const char* v = std::getenv(keep)) env.push_back(std::string(keep) + "=" + v);
  }
  return env;
}

uint32_t RunLimits::effective_cpu_seconds() const {
  return cpu_seconds ? cpu_seconds : static_cast<uint32_t>(std::ceil(wall_timeout_s)) + 1;
}

RunStatus parse_status(std::string_view name) {
  for (uint8_t s = 0; s <= static_cast<uint8_t>(RunStatus::kSandboxFailure); ++s)
    if (to_string(static_cast<RunStatus>(s)) == name) return static_cast<RunStatus>(s);
  return RunStatus::kSandboxFailure;
}

void classify_exit(RunResult& r, bool timed_out, bool output_overflow) {
  static const std::regex kMissing(R"(ModuleNotFoundError: No module named '([^']+)')");
  if (timed_out) {
    r.status = RunStatus::kTimeout;
    return;
  }
  if (output_overflow) {
    r.status = RunStatus::kOutputTooLarge;
    return;
  }
  if (r.term_signal == SIGXCPU) {
    r.status = RunStatus::kKilledByLimit;
    r.detail = "cpu-time";
    return;
  }
  if (r.term_signal == SIGXFSZ) {
    r.status = RunStatus::kKilledByLimit;
    r.detail = "file-size";
    return;
  }
  if (r.exit_code == 0 && r.term_signal == 0) {
    r.status = RunStatus::kOk;
    return;
  }
  std::smatch m;
  if (std::regex_search(r.error_tail, m, kMissing)) {
    std::string module = m[1].str();
    r.status = RunStatus::kMissingDependency;
    r.detail = module.substr(0, module.find('.'));
    return;
  }
  if (r.error_tail.find("MemoryError") != std::string::npos) {
    r.status = RunStatus::kKilledByLimit;
    r.detail = "address-space";
    return;
  }
  // Runaway recursion: Python's own depth guard. (A fault is left an error
  // here: without the snippet's code a stack overflow cannot be told apart.)
  if (r.error_tail.find("RecursionError: maximum recursion depth exceeded") != std::string::npos) {
    r.status = RunStatus::kKilledByLimit;
    r.detail = "stack";
    return;
  }
  r.status = RunStatus::kError;
  if (r.term_signal != 0) r.detail = "killed by signal " + std::to_string(r.term_signal);
}

}  // namespace vf::sandbox
