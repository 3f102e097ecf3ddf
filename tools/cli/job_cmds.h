// `veriforge status DIR` and `veriforge check DIR`: print what job/inspect.h
// reads from a job's checkpoint log (read-only, so both work while the job
// runs in another process).
//
//   status  progress from the log: items issued, per state, in flight per
//           stage, accept rate, tokens, running time. Exit 0; 1 when DIR
//           holds no job.
//   check   consistency of log and outputs: every committed output length
//           present, each record once, no item both accepted and rejected,
//           output records agree with the logged states. Exit 0 consistent,
//           2 inconsistent or unreadable (each problem printed).
#pragma once

#include <string>

namespace vf {

int cmd_status(const std::string& dir, bool json);
int cmd_check(const std::string& dir, bool json);

}  // namespace vf
