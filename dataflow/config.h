// JobConfig: everything a job needs, loaded from a TOML file plus
// `--set key=value` overrides, validated against one schema table that also
// documents every key (`veriforge run --help`, `veriforge config-keys`).
//
// Unknown keys, wrong types and out-of-range values are errors that name the
// file (or "--set") and the key. Relative seed paths in a file are resolved
// against the file's folder; on the command line, against the working folder.
// Pure; no globals. Thread-safety: none needed (values).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "dataflow/equiv/equivalence.h"
#include "dataflow/expected.h"

namespace vf {

// One OpenAI-compatible endpoint ([[endpoints]] tables in the config).
struct EndpointSpec {
  std::string role = "both";  // "generator", "solver" or "both"
  std::string name;
  std::string base_url;
  std::string model;
  std::string api_key_env;
  int64_t max_in_flight = 64;
  double requests_per_minute = 0;
  double tokens_per_minute = 0;
  double timeout_s = 120;
};

struct JobConfig {
  // job
  std::string name = "veriforge-job";
  std::vector<std::string> seeds;
  uint64_t target_accepted = 200;
  uint64_t max_generated = 0;          // 0: 20 x target_accepted
  uint64_t random_seed = 1;
  bool skip_invalid_seeds = false;
  std::string out_dir;                 // --out wins
  // generator
  std::string generator = "variant";
  uint32_t attempts_per_slot = 8;
  // LLM generators ("few-shot", "self-instruct", "evol-instruct")
  double similarity_threshold = 0.7;
  uint32_t generator_examples = 3;           // k seed examples per request
  std::string generator_prompt;              // template file; empty: the built-in one
  double generator_temperature = 0.8;
  double generator_top_p = 1.0;
  std::vector<std::string> generator_stop;
  uint32_t generator_max_tokens = 1536;
  // solver stage (runs with any LLM generator, or when solver.enabled)
  bool solver_enabled = false;
  uint32_t solver_samples = 4;               // k
  bool solver_use_n = true;                  // one request with n = k, else k requests
  std::string solver_prompt;                 // template file; empty: built-in
  std::vector<std::string> solver_system_prompts;  // files; one is sampled per request; empty: built-in ones
  double solver_temperature = 0.7;
  double solver_top_p = 1.0;
  std::vector<std::string> solver_stop;
  uint32_t solver_max_tokens = 1536;
  std::string extract_fallback = "none";     // none | last-line | whole
  // verification by agreement
  std::string agreement = "majority";        // the code's answer must equal the solvers' majority ("any": one)
  bool drop_all_solved = false;              // every sample right: too easy for RL
  bool drop_none_solved = true;              // no sample right: zero advantage
  // model client
  std::vector<EndpointSpec> endpoints;
  uint32_t model_max_attempts = 6;
  double model_backoff_base_s = 0.5;
  double model_backoff_max_s = 30;
  uint32_t llm_credits = 256;                // items an LLM stage may hold (its requests in flight)
  // executor
  std::string python = "/usr/bin/python3";
  uint32_t executor_workers = 0;       // 0: one per core
  double timeout_s = 10.0;
  uint64_t memory_mb = 4096;
  uint64_t max_output_bytes = 1 << 20;
  uint32_t runs_per_item = 2;          // determinism check
  uint32_t cpu_seconds = 0;            // 0: timeout_s + 1
  uint64_t max_file_mb = 64;
  // sandbox
  std::string sandbox_mode = "fork-server";
  bool contain = true;
  std::vector<std::string> preimport;
  std::vector<std::string> import_aliases = {"Crypto=Cryptodome"};
  std::vector<std::string> distribution_modules;  // extra "dist=module" entries
  uint32_t max_processes = 64;
  uint32_t uid_base = 61000;
  uint32_t tmp_mb = 512;
  // verifier
  uint64_t max_answer_chars = 2000;
  // answer equivalence (dataflow/equiv), defaults for every domain
  double equiv_float_noise_rel = 1e-9;
  double equiv_symbolic_rel = 1e-6;
  double equiv_exact_rel = 1e-12;
  std::string equiv_integer_gold = "exact";
  bool equiv_percent_as_fraction = true;
  bool equiv_require_units = false;
  std::vector<std::string> equiv_domains;  // "Physics: integer_gold=significant-figures, ..."

  // pipeline (credits = items a stage may hold)
  uint32_t executor_credits = 16;
  uint32_t verifier_credits = 32;
  uint32_t writer_credits = 32;
  uint32_t batch_size = 8;
  // checkpoint log (DIR/db)
  bool checkpoint_log = true;          // false: no stage logging, the job cannot resume (benchmark baseline)
  std::string checkpoint_sync = "batch";  // batch | interval | none
  uint32_t checkpoint_sync_interval_ms = 50;
  // writer
  bool curriculum = true;              // rl.curriculum.jsonl at the end of a job with pass rates
  uint32_t writer_delay_ms = 0;        // testing knob: slows the writer
  uint32_t progress_interval_ms = 500;

  uint64_t effective_max_generated() const {
    return max_generated ? max_generated : target_accepted * 20;
  }
};

struct ConfigKey {
  std::string key;
  std::string type;         // "integer", "number", "boolean", "string", "list of strings"
  std::string default_value;
  std::string description;
};

// Every key the config accepts, in documentation order.
const std::vector<ConfigKey>& config_keys();

// Loads `path` (may be empty: defaults only) and applies overrides ("key=value").
Expected<JobConfig> load_config(const std::string& path, const std::vector<std::string>& overrides);

// The equivalence policies the config describes (default + per-domain rules).
Expected<equiv::PolicySet> equivalence_policies(const JobConfig& config);

// Stable text of the effective config (for job metadata and hashing).
std::string describe(const JobConfig& config);

// Keys whose change does not change a job's results (parallelism, credits,
// durability, reporting): a job may resume under new values of these.
bool key_changes_results(const std::string& key);

// "key: 'old' -> 'new'" for every key whose value differs between two
// describe() texts, skipping keys that do not change results.
std::vector<std::string> config_differences(const std::string& logged, const std::string& current);

}  // namespace vf
