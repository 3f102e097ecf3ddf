// veriforge's log: spdlog lines of key=value fields (`stage=writer
// event=end accepted=40`), warnings and errors on stderr, everything at
// `level` and above in `log_file` (the job's DIR/veriforge.log; empty: none).
// Call once per process before the job starts; replaces the default logger.
#pragma once

#include <string>
#include <vector>

namespace vf {

// `node`: this process's name in a cluster ("coordinator", a worker's
// name), on every line as node=NAME (empty: single process, not shown).
void setup_logging(const std::string& log_file, const std::string& level, const std::string& node = "");

// The last warnings and errors this process logged (at most 100, oldest
// first, formatted as in the log file), for the console. Empty before
// setup_logging(). Thread-safe.
std::vector<std::string> recent_warnings();

// A worker node: everything at `level` and above on stderr, each line with node=NAME.
void setup_worker_logging(const std::string& level, const std::string& node);

}  // namespace vf
