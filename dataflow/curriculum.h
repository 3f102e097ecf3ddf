// Curriculum export: the RL records of a job reordered from easy to hard
// (difficulty buckets easy, medium, hard, unsolved, then items without a pass
// rate), with domains interleaved round-robin inside each bucket so every
// batch of the export mixes domains evenly.
//
// Streams: records are spread over one temporary file per (bucket, domain)
// and read back in turn, so memory holds one line per domain, not the export.
// Not thread-safe; errors name the file.
#pragma once

#include <string>

#include "base/status.h"

namespace vf {

// Reads `rl_path` (JSON lines with "difficulty" and "domain"), writes
// `out_path`; temporary files live in `scratch_dir` and are removed.
Status write_curriculum(const std::string& rl_path, const std::string& out_path, const std::string& scratch_dir);

}  // namespace vf
