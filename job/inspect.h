// Looking at a job from outside: `veriforge status` and `veriforge check`
// (and, later, the console for a job that has ended). Both open the job's
// checkpoint log read-only, so they work while the job runs in another
// process, and never change anything.
//
//   job_status  progress from the log: items issued, decided, in flight per
//               state, accept rate, rejection reasons, tokens, running time.
//   check_job   consistency of log and outputs: every committed output length
//               present, each record once, no item both accepted and
//               rejected, records agree with the logged states, every issued
//               id accounted for.
#pragma once

#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "base/status.h"

namespace vf {

// The JSON `status --json` prints. kNotFound when DIR holds no job.
Expected<nlohmann::json> job_status(const std::string& dir);

struct CheckReport {
  std::string job;
  bool consistent = false;
  std::map<std::string, uint64_t> decided;  // by state name
  uint64_t in_flight = 0;
  uint64_t parked = 0;
  uint64_t issued = 0;
  std::vector<std::string> problems;  // each an inconsistency
  std::vector<std::string> notes;     // worth knowing, not wrong
  nlohmann::json to_json() const;
};

Expected<CheckReport> check_job(const std::string& dir);

}  // namespace vf
