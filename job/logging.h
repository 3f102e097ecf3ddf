// veriforge's log: spdlog lines of key=value fields (`stage=writer
// event=end accepted=40`), warnings and errors on stderr, everything at
// `level` and above in `log_file` (the job's DIR/veriforge.log; empty: none).
// Call once per process before the job starts; replaces the default logger.
#pragma once

#include <string>

namespace vf {

void setup_logging(const std::string& log_file, const std::string& level);

}  // namespace vf
