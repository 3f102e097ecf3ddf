// What the console shows of a job's outputs, read from its files (never from
// the pipeline's memory, so serving costs the pipeline nothing): rejections
// by reason with a few example records each, and accepted items by page.
// Files are read incrementally: each call reads only the lines appended
// since the last one, and only whole lines (a line being written is left for
// the next call).
//
// Thread-safety: every method may be called from any thread; `mu_` guards the
// read positions and what was gathered. Used on the console's thread.
#pragma once

#include <cstdint>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace vf {

class OutputViews {
 public:
  static constexpr size_t kExamplesPerReason = 3;
  explicit OutputViews(std::string out_dir) : out_dir_(std::move(out_dir)) {}

  // {"total": N, "reasons": [{"reason", "count", "examples": [{id, question, detail}]}]}, most frequent first.
  nlohmann::json rejections();
  // {"total": N, "offset", "items": [record without its chat messages]}: `limit` (at most 100) from `offset`.
  nlohmann::json accepted(uint64_t offset, uint64_t limit);

 private:
  std::string out_dir_;
  std::mutex mu_;  // guards everything below
  uint64_t rejected_read_ = 0;  // bytes of rejected.jsonl consumed
  uint64_t rejected_total_ = 0;
  std::map<std::string, uint64_t> by_reason_;
  std::map<std::string, std::vector<nlohmann::json>> examples_;
  uint64_t accepted_read_ = 0;  // bytes of accepted.jsonl indexed
  std::vector<uint64_t> accepted_lines_;  // start offset of each whole line
};

// The effective config (describe()'s "key = value" lines) as a JSON object,
// with anything secret hidden: values of keys naming a key, token, secret or
// password (but not the *_env keys, which name a variable), and passwords in URLs.
nlohmann::json redacted_config(const std::string& described);

}  // namespace vf
