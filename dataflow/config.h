// JobConfig: everything a job needs, as TOML sections mirrored by C++
// sections (`[executor] timeout_s` is `config.executor.timeout_s`), validated
// against one schema table that documents every key (`veriforge config-keys`,
// `veriforge run --help`) and says whether a key changes a job's results
// (a resumed job may change only keys that do not).
//
// Unknown keys, wrong types and out-of-range values are errors that name the
// file (or "--set"), the line and the key, with a suggestion for typos.
// Relative paths in a file (seeds, prompt templates) are resolved against the
// file's folder; on the command line, against the working folder.
// parse_config() is pure (TOML text in, config out); load_config() reads the
// file and calls it. Values; thread-safety: none needed.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include <msgpack.hpp>

#include "base/status.h"
#include "dataflow/equiv/policy.h"

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
  // One service for the whole cluster (a hosted API): its requests_per_minute
  // and tokens_per_minute are for every node together, and the coordinator
  // splits them among the nodes that call it. false: each node applies them
  // on its own (a node's local vLLM).
  bool shared = false;
  // Prices per million tokens (any currency; 0: not configured): the console
  // shows the cost so far. Operational only.
  double prompt_price_per_mtok = 0;
  double completion_price_per_mtok = 0;
};

// Top-level keys.
struct JobSection {
  std::string name = "veriforge-job";
  std::vector<std::string> seeds;
  uint64_t target_accepted = 200;
  uint64_t max_generated = 0;  // 0: 20 x target_accepted
  uint64_t random_seed = 1;
  bool skip_invalid_seeds = false;
  std::string out_dir;  // --out wins
  uint32_t progress_interval_ms = 500;

  uint64_t effective_max_generated() const { return max_generated ? max_generated : target_accepted * 20; }
};

struct GeneratorSection {  // [generator]
  std::string kind = "variant";  // variant | few-shot | self-instruct | evol-instruct
  uint32_t attempts_per_slot = 8;
  uint32_t examples = 3;  // LLM generators: k seed examples per request
  std::string prompt;     // template file; empty: the built-in one
  double temperature = 0.8;
  double top_p = 1.0;
  std::vector<std::string> stop;
  uint32_t max_tokens = 1536;
  double similarity_threshold = 0.7;

  bool uses_model() const { return kind != "variant"; }
};

struct SolverSection {  // [solver] (on with any LLM generator, or when enabled)
  bool enabled = false;
  uint32_t samples = 4;  // k
  bool use_n = true;     // one request with n = k, else k requests
  std::string prompt;
  std::vector<std::string> system_prompts;
  double temperature = 0.7;
  double top_p = 1.0;
  std::vector<std::string> stop;
  uint32_t max_tokens = 1536;
  std::string extract_fallback = "none";  // none | last-line | whole
};

struct VerifierSection {  // [verifier]
  std::string agreement = "majority";  // majority | any
  bool drop_all_solved = false;
  bool drop_none_solved = true;
  uint64_t max_answer_chars = 2000;
};

struct ModelSection {  // [model]
  uint32_t max_attempts = 6;
  double backoff_base_s = 0.5;
  double backoff_max_s = 30;
  double retry_after_max_s = 120;
};

struct ExecutorSection {  // [executor]
  std::string python = "/usr/bin/python3";
  uint32_t workers = 0;  // 0: one per core
  double timeout_s = 10.0;
  uint64_t memory_mb = 4096;
  uint64_t max_output_bytes = 1 << 20;
  uint32_t runs = 2;       // determinism check
  uint32_t cpu_s = 0;      // 0: timeout_s + 1
  uint64_t max_file_mb = 64;
};

struct SandboxSection {  // [sandbox]
  std::string mode = "fork-server";  // fork-server | fresh-interpreter
  bool contain = true;
  std::vector<std::string> preimport;
  std::vector<std::string> import_aliases = {"Crypto=Cryptodome"};
  std::vector<std::string> distribution_modules;  // extra "dist=module" entries
  uint32_t max_processes = 64;
  uint32_t uid_base = 61000;
  uint32_t tmp_mb = 512;
};

struct EquivalenceSection {  // [equivalence]: defaults for every domain
  double float_noise_rel = 1e-9;
  double symbolic_rel = 1e-6;
  double exact_rel = 1e-18;
  std::string integer_gold = "exact";
  bool percent_as_fraction = true;
  bool require_units = false;
  std::vector<std::string> domains;  // "Physics: integer_gold=significant-figures, ..."
  MSGPACK_DEFINE(float_noise_rel, symbolic_rel, exact_rel, integer_gold, percent_as_fraction, require_units, domains)
};

struct PipelineSection {  // [pipeline]: credits = items a stage may hold
  uint32_t executor_credits = 16;
  uint32_t verifier_credits = 32;
  uint32_t writer_credits = 32;
  uint32_t llm_credits = 256;
  uint32_t batch_size = 8;
  uint32_t threads = 0;  // actor threads; 0: one per core
};

struct ClusterSection {  // [cluster]: a coordinator (run --listen) and the workers that join it
  bool local_workers = true;            // the coordinator's own process also does stage work
  std::string token_file;               // the cluster token (else VERIFORGE_CLUSTER_TOKEN)
  uint32_t heartbeat_interval_ms = 1000;
  uint32_t heartbeat_timeout_ms = 5000; // a silent peer's connection is dropped after this
  uint32_t worker_failure_limit = 10;   // failures in a row that take a joined worker out of rotation
  uint32_t quarantine_s = 60;           // for this long
  uint64_t lease_mb_per_node = 64;      // leased item bytes per stage per node
  // TLS between nodes (CAF's OpenSSL module): all three or none.
  std::string tls_certificate;          // this node's certificate chain (PEM)
  std::string tls_key;                  // its private key (PEM)
  std::string tls_ca_file;              // the CA that signed every node's certificate: peers are verified against it
  std::string tls_passphrase;           // of the key, if it has one
  bool tls() const { return !tls_certificate.empty(); }
};

struct ConsoleSection {  // [console]: the operator console served by the running job
  std::string listen;      // HOST:PORT (port 0: any free port); empty: no console (run --console sets it)
  bool read_only = false;  // serve the page and the API, refuse every control
};

struct CheckpointSection {  // [checkpoint]
  bool log = true;              // false: no stage logging; the job cannot resume
  std::string sync = "batch";   // batch | interval | none
  uint32_t sync_interval_ms = 50;
};

struct WriterSection {  // [writer]
  bool curriculum = true;
  uint32_t delay_ms = 0;  // testing knob: slows the writer
};

struct JobConfig {
  JobSection job;
  GeneratorSection generator;
  SolverSection solver;
  VerifierSection verifier;
  ModelSection model;
  ExecutorSection executor;
  SandboxSection sandbox;
  EquivalenceSection equivalence;
  PipelineSection pipeline;
  CheckpointSection checkpoint;
  ClusterSection cluster;
  ConsoleSection console;
  WriterSection writer;
  std::vector<EndpointSpec> endpoints;

  // A solve stage runs (LLM generators always solve; the variant generator when solver.enabled).
  bool solves() const { return generator.uses_model() || solver.enabled; }
};

// Whether a different value of a key changes what a job produces. A job
// resumes only under the same values of the kResults keys.
enum class KeyEffect { kResults, kOperational };

struct ConfigKey {
  std::string key;
  std::string type;  // "integer", "number", "boolean", "string", "list of strings"
  std::string default_value;
  std::string description;
  KeyEffect effect = KeyEffect::kResults;
};

// Every key the config accepts, in documentation order.
const std::vector<ConfigKey>& config_keys();

// Parses TOML `text` (`origin` names it in errors, `base_dir` resolves its
// relative paths) and applies overrides ("key=value", TOML values or bare
// words). Pure.
Expected<JobConfig> parse_config(std::string_view text, const std::string& origin, const std::string& base_dir,
                                 const std::vector<std::string>& overrides);

// Reads the file at `path` (empty: defaults only) and parses it.
Expected<JobConfig> load_config(const std::string& path, const std::vector<std::string>& overrides);

// The equivalence policies the config describes (default + per-domain rules).
Expected<equiv::PolicySet> equivalence_policies(const EquivalenceSection& equivalence);

// Stable text of the effective config, one "key = value" line per key (for
// job metadata, hashing and the resume check). Seed paths are canonical.
std::string describe(const JobConfig& config);

// KeyEffect of a key (kResults for keys this build does not know).
KeyEffect key_effect(const std::string& key);

// "key: 'old' -> 'new'" for every kResults key whose value differs between
// two describe() texts.
std::vector<std::string> config_differences(const std::string& logged, const std::string& current);

}  // namespace vf
