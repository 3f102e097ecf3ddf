// `verify-seeds`: runs every seed's rationale once and judges its output
// against the seed's own final_answer (answer equivalence under the domain's
// policy), through the same pipeline as a job: seeds -> execute -> verify
// (seed-match) -> one result line per seed and a per-domain tally.
// Writes only the files it is asked to (results, mismatches), each afresh.
#pragma once

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "actors/pipeline.h"
#include "base/status.h"

namespace vf {

struct SeedCheckRequest {
  std::vector<std::string> seed_paths;
  std::string results_file;     // one JSON line per seed (empty: none)
  std::string mismatches_file;  // executed seeds whose output did not match (empty: none)
  std::string config_path;      // executor and equivalence settings (empty: defaults)
  std::vector<std::string> overrides;
  bool skip_invalid_seeds = false;
};

// The summary: {"items", "domains", "table" (the printed per-domain table),
// "elapsed_s"}. Invalid input (config, seeds, unwritable report files) is
// kInvalidInput; `notes` receives the seed problems.
Expected<nlohmann::json> run_seed_check(const SeedCheckRequest& request, const RunControl& control,
                                        std::vector<std::string>& notes);

}  // namespace vf
