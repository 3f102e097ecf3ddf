#include "dataflow/config.h"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <sstream>
#include <type_traits>

#include <toml++/toml.h>

namespace vf {
namespace fs = std::filesystem;

namespace {

enum class Kind { kInt, kNumber, kBool, kString, kStringList };

const char* kind_name(Kind k) {
  switch (k) {
    case Kind::kInt: return "integer";
    case Kind::kNumber: return "number";
    case Kind::kBool: return "boolean";
    case Kind::kString: return "string";
    case Kind::kStringList: return "list of strings";
  }
  return "value";
}

struct Value {
  int64_t i = 0;
  double d = 0;
  bool b = false;
  std::string s;
  std::vector<std::string> list;
};

struct Field {
  std::string key;
  Kind kind;
  KeyEffect effect;
  std::string description;
  int64_t min = 0;  // for integers
  int64_t max = INT64_MAX;
  std::function<void(JobConfig&, const Value&)> set;
  std::function<std::string(const JobConfig&)> get;
};

template <class T>
std::string str(const T& v) {
  std::ostringstream os;
  os << v;
  return os.str();
}

std::string join(const std::vector<std::string>& v) {
  std::string out = "[";
  for (size_t i = 0; i < v.size(); ++i) out += (i ? ", \"" : "\"") + v[i] + "\"";
  return out + "]";
}

template <class T>
constexpr Kind kind_of() {
  if constexpr (std::is_same_v<T, bool>) return Kind::kBool;
  else if constexpr (std::is_integral_v<T>) return Kind::kInt;
  else if constexpr (std::is_floating_point_v<T>) return Kind::kNumber;
  else if constexpr (std::is_same_v<T, std::string>) return Kind::kString;
  else return Kind::kStringList;
}

// One schema row: `access` names the member the key sets (config.SECTION.member).
template <class Access>
Field field(std::string key, KeyEffect effect, Access access, std::string description, int64_t min = 0,
            int64_t max = INT64_MAX) {
  using T = std::remove_reference_t<decltype(access(std::declval<JobConfig&>()))>;
  Field f{std::move(key), kind_of<T>(), effect, std::move(description), min, max, {}, {}};
  f.set = [access](JobConfig& c, const Value& v) {
    auto& m = access(c);
    if constexpr (std::is_same_v<T, bool>) m = v.b;
    else if constexpr (std::is_integral_v<T>) m = static_cast<T>(v.i);
    else if constexpr (std::is_floating_point_v<T>) m = v.d;
    else if constexpr (std::is_same_v<T, std::string>) m = v.s;
    else m = v.list;
  };
  f.get = [access](const JobConfig& c) -> std::string {
    const auto& m = access(const_cast<JobConfig&>(c));
    if constexpr (std::is_same_v<T, bool>) return m ? "true" : "false";
    else if constexpr (std::is_same_v<T, std::string>) return m;
    else if constexpr (std::is_same_v<T, std::vector<std::string>>) return join(m);
    else return str(m);
  };
  return f;
}

#define VF_KEY(MEMBER) [](JobConfig& c) -> auto& { return c.MEMBER; }
constexpr KeyEffect R = KeyEffect::kResults;
constexpr KeyEffect O = KeyEffect::kOperational;

const std::vector<Field>& fields() {
  static const std::vector<Field> f = {
      field("name", R, VF_KEY(job.name), "Job name, written into outputs and job metadata."),
      field("seeds", R, VF_KEY(job.seeds),
            "Seed files or folders (Loong format: JSON array or JSON Lines). Relative paths in a config file are "
            "relative to that file."),
      field("target_accepted", R, VF_KEY(job.target_accepted), "Accepted items the job produces, then stops.", 1),
      field("max_generated", R, VF_KEY(job.max_generated),
            "Stop after this many generated items even if the target is not met (0: 20 x target_accepted)."),
      field("random_seed", R, VF_KEY(job.random_seed), "Seed of the generator's random choices; same seed, same items."),
      field("skip_invalid_seeds", R, VF_KEY(job.skip_invalid_seeds),
            "Skip invalid seed items (reported) instead of refusing to start."),
      field("out_dir", O, VF_KEY(job.out_dir), "Output folder (the --out option takes precedence)."),
      field("progress_interval_ms", O, VF_KEY(job.progress_interval_ms), "How often the progress line refreshes.", 50,
            3600000),
      field("generator.kind", R, VF_KEY(generator.kind),
            "Generator: \"variant\" (offline constant variants of seeds), \"few-shot\", \"self-instruct\", "
            "\"evol-instruct\" (an LLM writes new problems)."),
      field("generator.attempts_per_slot", R, VF_KEY(generator.attempts_per_slot),
            "Tries per seed turn before the variant generator moves on when it repeats a question.", 1, 1000),
      field("generator.examples", R, VF_KEY(generator.examples), "LLM generators: seed examples per request (k).", 1, 32),
      field("generator.prompt", R, VF_KEY(generator.prompt),
            "LLM generators: prompt template file (relative to the config); empty: the built-in template "
            "(configs/prompts/ holds editable copies)."),
      field("generator.temperature", R, VF_KEY(generator.temperature), "LLM generators: sampling temperature."),
      field("generator.top_p", R, VF_KEY(generator.top_p), "LLM generators: nucleus sampling top_p.", 1),
      field("generator.stop", R, VF_KEY(generator.stop), "LLM generators: stop sequences."),
      field("generator.max_tokens", R, VF_KEY(generator.max_tokens), "LLM generators: max_tokens per reply.", 16,
            1 << 20),
      field("generator.similarity_threshold", R, VF_KEY(generator.similarity_threshold),
            "LLM generators: reject a new question whose ROUGE-L against the seeds or an earlier generated "
            "question reaches this (Self-Instruct uses 0.7); 0: off."),
      field("solver.enabled", R, VF_KEY(solver.enabled),
            "Solve every executed item by chain of thought and accept by agreement (always on with an LLM "
            "generator)."),
      field("solver.samples", R, VF_KEY(solver.samples),
            "Chain-of-thought samples per item (k); the pass rate is over k.", 1, 64),
      field("solver.use_n", R, VF_KEY(solver.use_n), "Ask for the k samples in one request (n = k); off: k requests."),
      field("solver.prompt", R, VF_KEY(solver.prompt), "Solver prompt template file; empty: built-in."),
      field("solver.system_prompts", R, VF_KEY(solver.system_prompts),
            "System prompt files; one is sampled per request for variety; empty: the built-in ones."),
      field("solver.temperature", R, VF_KEY(solver.temperature), "Solver sampling temperature."),
      field("solver.top_p", R, VF_KEY(solver.top_p), "Solver nucleus sampling top_p.", 1),
      field("solver.stop", R, VF_KEY(solver.stop), "Solver stop sequences."),
      field("solver.max_tokens", R, VF_KEY(solver.max_tokens), "Solver max_tokens per sample.", 16, 1 << 20),
      field("solver.extract_fallback", R, VF_KEY(solver.extract_fallback),
            "A response without \\boxed{} or 'final answer': none (no answer), last-line, whole."),
      field("verifier.agreement", R, VF_KEY(verifier.agreement),
            "\"majority\": accept when the code's answer equals the solvers' majority answer; \"any\": when at "
            "least one sample agrees."),
      field("verifier.drop_all_solved", R, VF_KEY(verifier.drop_all_solved),
            "Reject items every sample solves (too easy; no RL signal). Off: keep them, tagged easy."),
      field("verifier.drop_none_solved", R, VF_KEY(verifier.drop_none_solved),
            "Reject items no sample solves (zero advantage). Off: keep them, tagged unsolved."),
      field("verifier.max_answer_chars", R, VF_KEY(verifier.max_answer_chars),
            "Longest answer the verifier accepts as well-formed.", 1, 1 << 24),
      field("model.max_attempts", R, VF_KEY(model.max_attempts), "Attempts per model call, the first included.", 1, 100),
      field("model.backoff_base_s", R, VF_KEY(model.backoff_base_s), "First retry delay; doubles per attempt, with jitter."),
      field("model.backoff_max_s", R, VF_KEY(model.backoff_max_s),
            "Longest retry delay of the client's own backoff (a server's Retry-After is honoured as asked).", 1),
      field("model.retry_after_max_s", R, VF_KEY(model.retry_after_max_s),
            "Longest Retry-After (or retry-after-ms) the client waits; a server asking for longer fails the call "
            "instead (as OpenAI's client does).",
            1),
      field("executor.python", R, VF_KEY(executor.python),
            "Interpreter for rationale code (Debian's /usr/bin/python3 sees the python3-* packages)."),
      field("executor.workers", O, VF_KEY(executor.workers), "Snippets run at once (0: one per core).", 0, 1024),
      field("executor.timeout_s", R, VF_KEY(executor.timeout_s), "Wall-clock limit per snippet run, in seconds.", 1),
      field("executor.memory_mb", R, VF_KEY(executor.memory_mb), "Address-space limit per snippet, in MiB.", 64, 1 << 20),
      field("executor.max_output_bytes", R, VF_KEY(executor.max_output_bytes), "Largest stdout a snippet may print.", 1,
            1LL << 30),
      field("executor.runs", R, VF_KEY(executor.runs),
            "Runs per item; answers must agree across runs (2 detects non-determinism).", 1, 8),
      field("executor.cpu_s", R, VF_KEY(executor.cpu_s),
            "CPU-time limit per snippet run, in seconds (0: timeout_s + 1).", 0, 86400),
      field("executor.max_file_mb", R, VF_KEY(executor.max_file_mb), "Largest file a snippet may write, in MiB.", 1,
            1 << 20),
      field("sandbox.mode", R, VF_KEY(sandbox.mode),
            "\"fork-server\": contained fork servers that pre-import modules (default); \"fresh-interpreter\": "
            "one new interpreter per snippet, no namespaces (the slow baseline)."),
      field("sandbox.contain", R, VF_KEY(sandbox.contain),
            "Namespaces (no network, read-only filesystem, private /tmp, own PID space) and an unprivileged uid per "
            "worker; needs root. Off: rlimits and process groups only."),
      field("sandbox.preimport", R, VF_KEY(sandbox.preimport),
            "Modules every fork server imports once, besides those the seeds declare in required_dependencies."),
      field("sandbox.import_aliases", R, VF_KEY(sandbox.import_aliases),
            "\"name=installed\": `import name` loads `installed` (Debian's pycryptodome is Cryptodome, seeds import "
            "Crypto)."),
      field("sandbox.distribution_modules", R, VF_KEY(sandbox.distribution_modules),
            "\"distribution=module\" entries that map required_dependencies to import names, on top of the "
            "built-in ones (pycryptodome=Crypto, python-constraint=constraint, scikit-learn=sklearn, ...)."),
      field("sandbox.max_processes", R, VF_KEY(sandbox.max_processes), "Processes and threads one snippet may have.", 1,
            1 << 20),
      field("sandbox.uid_base", O, VF_KEY(sandbox.uid_base),
            "Snippets of fork server i run as uid_base + i (unused uids; each worker has its own).", 1000, 1 << 30),
      field("sandbox.tmp_mb", R, VF_KEY(sandbox.tmp_mb), "Size of each fork server's private /tmp, in MiB.", 16,
            1 << 20),
      field("equivalence.float_noise_rel", R, VF_KEY(equivalence.float_noise_rel),
            "Relative difference allowed between an exact gold (integer, fraction) and a float-printed "
            "prediction: 299.999999999999 equals 300, 41.999 does not equal 42."),
      field("equivalence.symbolic_rel", R, VF_KEY(equivalence.symbolic_rel),
            "Relative difference allowed between a symbolic gold (pi, sqrt(2)) and a decimal prediction."),
      field("equivalence.exact_rel", R, VF_KEY(equivalence.exact_rel),
            "Relative difference below which two exact forms evaluated numerically are the same number."),
      field("equivalence.integer_gold", R, VF_KEY(equivalence.integer_gold),
            "\"exact\": an integer gold means exactly that integer; \"significant-figures\": \"51\" means 51 to "
            "two significant figures. Science domains (physics, chemistry, engineering, ... by name) and golds with a "
            "physical unit read significant figures whatever this says, unless a domain rule sets integer_gold or "
            "sig_figs_with_units=false. Decimal golds always accept values that round to them."),
      field("equivalence.percent_as_fraction", R, VF_KEY(equivalence.percent_as_fraction),
            "A percentage gold (25%) also accepts its fraction (0.25)."),
      field("equivalence.require_units", R, VF_KEY(equivalence.require_units),
            "A gold with a unit (51 atm) needs a prediction with a compatible unit; off: a bare number is compared."),
      field("equivalence.domains", R, VF_KEY(equivalence.domains),
            "Per-domain policies, matched to metadata.domain case-insensitively: "
            "\"Physics: integer_gold=significant-figures, symbolic_rel=1e-3\"."),
      field("pipeline.executor_credits", O, VF_KEY(pipeline.executor_credits),
            "Items the executor stage may hold (credit granted to the stage before it).", 1, 1 << 20),
      field("pipeline.verifier_credits", O, VF_KEY(pipeline.verifier_credits),
            "Items the verifier stage may hold (credit granted to the stage before it).", 1, 1 << 20),
      field("pipeline.writer_credits", O, VF_KEY(pipeline.writer_credits),
            "Items the writer may hold (credit granted to the verifier).", 1, 1 << 20),
      field("pipeline.llm_credits", O, VF_KEY(pipeline.llm_credits),
            "Items an LLM stage may hold; bounds requests in flight together with each endpoint's max_in_flight.", 1,
            1 << 20),
      field("pipeline.batch_size", O, VF_KEY(pipeline.batch_size), "Most items per message between stages.", 1, 4096),
      field("pipeline.threads", O, VF_KEY(pipeline.threads),
            "Threads that run the actors (0: one per core; the sandbox, the model client and the log have their "
            "own).",
            0, 1024),
      field("checkpoint.log", R, VF_KEY(checkpoint.log),
            "Log every stage result to DIR/db before it moves on, so a killed job resumes without losing or "
            "repeating work. false: only the writer's progress is kept and the job cannot resume (a benchmark "
            "baseline)."),
      field("checkpoint.sync", O, VF_KEY(checkpoint.sync),
            "When a log write is durable: \"batch\" (fsync every write batch before its items move on; safe "
            "against a machine crash), \"interval\" (fsync every checkpoint.sync_interval_ms; a machine crash "
            "loses at most that interval, a process crash nothing), \"none\" (the OS decides; safe against a "
            "process crash only)."),
      field("checkpoint.sync_interval_ms", O, VF_KEY(checkpoint.sync_interval_ms),
            "Interval of checkpoint.sync = \"interval\".", 1, 60000),
      field("console.listen", O, VF_KEY(console.listen),
            "Serve the operator console at HOST:PORT (port 0: any free port; the URL goes to DIR/console.url). "
            "A non-loopback address needs VERIFORGE_CONSOLE_TOKEN."),
      field("console.read_only", O, VF_KEY(console.read_only),
            "Serve the console's page and API but refuse every control."),
      field("cluster.local_workers", O, VF_KEY(cluster.local_workers),
            "With run --listen: whether the coordinator's own process also does stage work (false: only the "
            "workers that join)."),
      field("cluster.token_file", O, VF_KEY(cluster.token_file),
            "File holding the cluster token (else the VERIFORGE_CLUSTER_TOKEN environment variable); nodes prove "
            "they hold it by challenge-response, it never crosses the network."),
      field("cluster.heartbeat_interval_ms", O, VF_KEY(cluster.heartbeat_interval_ms),
            "How often nodes send heartbeats (CAF middleman.heartbeat-interval and the node's own).", 50, 600000),
      field("cluster.heartbeat_timeout_ms", O, VF_KEY(cluster.heartbeat_timeout_ms),
            "A node silent this long (frozen, cut off) is dropped and its leases go to other workers "
            "(CAF middleman.connection-timeout).",
            100, 3600000),
      field("cluster.worker_failure_limit", O, VF_KEY(cluster.worker_failure_limit),
            "A joined worker whose last this many items in a row ended in a sandbox failure or a model error "
            "(a broken sandbox or endpoint on its node) gets no work for cluster.quarantine_s; status shows it "
            "failing.",
            1, 1000000),
      field("cluster.quarantine_s", O, VF_KEY(cluster.quarantine_s), "How long a failing worker gets no work.", 1,
            86400),
      field("cluster.lease_mb_per_node", O, VF_KEY(cluster.lease_mb_per_node),
            "MiB of leased items (estimated from their text) one stage may have at one node at once: bounds what "
            "waits in the one connection CAF keeps per node pair.",
            1, 65536),
      field("cluster.tls.certificate", O, VF_KEY(cluster.tls_certificate),
            "TLS between nodes: this node's certificate chain (PEM). With cluster.tls.key and cluster.tls.ca_file; "
            "every node must use TLS when one does."),
      field("cluster.tls.key", O, VF_KEY(cluster.tls_key), "TLS between nodes: this node's private key (PEM)."),
      field("cluster.tls.ca_file", O, VF_KEY(cluster.tls_ca_file),
            "TLS between nodes: the CA certificate (PEM) every node's certificate is verified against."),
      field("cluster.tls.passphrase", O, VF_KEY(cluster.tls_passphrase),
            "TLS between nodes: the private key's passphrase, if it has one."),
      field("writer.curriculum", R, VF_KEY(writer.curriculum),
            "When items carry pass rates: also write rl.curriculum.jsonl, the RL export from easy to hard with "
            "domains interleaved round-robin (every batch mixes domains evenly)."),
      field("writer.delay_ms", O, VF_KEY(writer.delay_ms),
            "Testing knob: sleep this long per written item (shows backpressure).", 0, 60000),
  };
  return f;
}
#undef VF_KEY

std::string suggestion(const std::string& key) {
  // Closest known key by edit distance, for typos.
  auto distance = [](const std::string& a, const std::string& b) {
    std::vector<size_t> prev(b.size() + 1), cur(b.size() + 1);
    for (size_t j = 0; j <= b.size(); ++j) prev[j] = j;
    for (size_t i = 1; i <= a.size(); ++i) {
      cur[0] = i;
      for (size_t j = 1; j <= b.size(); ++j)
        cur[j] = std::min({prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (a[i - 1] != b[j - 1])});
      std::swap(prev, cur);
    }
    return prev[b.size()];
  };
  std::string best;
  size_t best_d = 4;
  for (const auto& f : fields()) {
    size_t d = distance(key, f.key);
    // also match on the last component ("timeout_s" -> "executor.timeout_s")
    auto dot = f.key.rfind('.');
    if (dot != std::string::npos) d = std::min(d, distance(key, f.key.substr(dot + 1)) + 1);
    if (d < best_d) {
      best_d = d;
      best = f.key;
    }
  }
  return best.empty() ? "" : " (did you mean '" + best + "'?)";
}

const Field* find_field(const std::string& key) {
  for (const auto& f : fields())
    if (f.key == key) return &f;
  return nullptr;
}

// Converts a TOML node to the field's kind; empty string on success.
std::string convert(const Field& f, const toml::node& n, Value& v) {
  std::string got = std::string(toml::impl::node_type_friendly_names[static_cast<size_t>(n.type())]);
  auto wrong = [&] { return std::string("expected ") + kind_name(f.kind) + ", got " + got; };
  switch (f.kind) {
    case Kind::kInt:
      if (!n.is_integer()) return wrong();
      v.i = n.as_integer()->get();
      if (v.i < f.min || v.i > f.max)
        return "must be between " + std::to_string(f.min) + " and " + std::to_string(f.max) + ", got " +
               std::to_string(v.i);
      return {};
    case Kind::kNumber:
      if (n.is_integer()) v.d = static_cast<double>(n.as_integer()->get());
      else if (n.is_floating_point()) v.d = n.as_floating_point()->get();
      else return wrong();
      // Numbers are never negative; min = 1 marks those that must be positive.
      if (f.min > 0 && !(v.d > 0)) return "must be positive, got " + str(v.d);
      if (!(v.d >= 0)) return "must not be negative, got " + str(v.d);
      return {};
    case Kind::kBool:
      if (!n.is_boolean()) return wrong();
      v.b = n.as_boolean()->get();
      return {};
    case Kind::kString:
      if (!n.is_string()) return wrong();
      v.s = n.as_string()->get();
      return {};
    case Kind::kStringList:
      if (n.is_string()) {
        v.list = {n.as_string()->get()};
        return {};
      }
      if (!n.is_array()) return wrong();
      for (const auto& e : *n.as_array()) {
        if (!e.is_string()) return "expected a list of strings, found a non-string element";
        v.list.push_back(e.as_string()->get());
      }
      return {};
  }
  return "unsupported";
}

void collect_leaves(const toml::table& t, const std::string& prefix,
                    std::vector<std::pair<std::string, const toml::node*>>& out) {
  for (const auto& [k, node] : t) {
    std::string key = prefix.empty() ? std::string(k.str()) : prefix + "." + std::string(k.str());
    if (node.is_table() && !find_field(key)) {
      collect_leaves(*node.as_table(), key, out);
    } else {
      out.emplace_back(key, &node);
    }
  }
}

// [[endpoints]] tables: each field checked, errors name file, line, entry and field.
Status read_endpoints(const std::string& path, const toml::node& node, std::vector<EndpointSpec>& out) {
  const toml::array* arr = node.as_array();
  auto where = [&](const toml::node& n, size_t i, const std::string& field) {
    return path + ":" + std::to_string(n.source().begin.line) + ": endpoints[" + std::to_string(i) + "]" +
           (field.empty() ? "" : "." + field);
  };
  if (!arr) return Error{where(node, 0, "") + ": expected [[endpoints]] tables"};
  for (size_t i = 0; i < arr->size(); ++i) {
    const toml::table* t = (*arr)[i].as_table();
    if (!t) return Error{where((*arr)[i], i, "") + ": expected a table"};
    EndpointSpec e;
    for (const auto& [k, v] : *t) {
      std::string key(k.str());
      auto str = [&](std::string& dst) -> Status {
        if (!v.is_string()) return Error{where(v, i, key) + ": expected a string"};
        dst = v.as_string()->get();
        return {};
      };
      auto num = [&](double& dst) -> Status {
        if (v.is_integer()) dst = static_cast<double>(v.as_integer()->get());
        else if (v.is_floating_point()) dst = v.as_floating_point()->get();
        else return Error{where(v, i, key) + ": expected a number"};
        if (dst < 0) return Error{where(v, i, key) + ": must not be negative"};
        return {};
      };
      Status s;
      double d = 0;
      if (key == "role") s = str(e.role);
      else if (key == "name") s = str(e.name);
      else if (key == "base_url") s = str(e.base_url);
      else if (key == "model") s = str(e.model);
      else if (key == "api_key_env") s = str(e.api_key_env);
      else if (key == "max_in_flight") {
        s = num(d);
        e.max_in_flight = static_cast<int64_t>(d);
        if (s && e.max_in_flight < 1) s = Error{where(v, i, key) + ": must be at least 1"};
      } else if (key == "requests_per_minute") s = num(e.requests_per_minute);
      else if (key == "tokens_per_minute") s = num(e.tokens_per_minute);
      else if (key == "timeout_s") s = num(e.timeout_s);
      else if (key == "prompt_price_per_mtok") s = num(e.prompt_price_per_mtok);
      else if (key == "completion_price_per_mtok") s = num(e.completion_price_per_mtok);
      else if (key == "shared") {
        if (!v.is_boolean()) s = Error{where(v, i, key) + ": expected true or false"};
        else e.shared = v.as_boolean()->get();
      } else
        s = Error{where(v, i, key) + ": unknown field (known: role, name, base_url, model, api_key_env, "
                                     "max_in_flight, requests_per_minute, tokens_per_minute, timeout_s, shared, "
                                     "prompt_price_per_mtok, completion_price_per_mtok)"};
      if (!s) return s;
    }
    if (e.role != "generator" && e.role != "solver" && e.role != "both")
      return Error{where(*t, i, "role") + ": must be generator, solver or both, got '" + e.role + "'"};
    if (e.base_url.empty()) return Error{where(*t, i, "base_url") + ": missing"};
    if (e.model.empty()) return Error{where(*t, i, "model") + ": missing"};
    if (e.name.empty()) e.name = "endpoint-" + std::to_string(i + 1);
    out.push_back(e);
  }
  return {};
}

std::string resolve(const std::string& base, const std::string& p) {
  if (p.empty() || fs::path(p).is_absolute() || base.empty()) return p;
  return (fs::path(base) / p).lexically_normal().string();
}

}  // namespace

const std::vector<ConfigKey>& config_keys() {
  static const std::vector<ConfigKey> keys = [] {
    std::vector<ConfigKey> out;
    JobConfig defaults;
    for (const auto& f : fields())
      out.push_back({f.key, kind_name(f.kind), f.get(defaults), f.description, f.effect});
    return out;
  }();
  return keys;
}

namespace {

// Cross-key rules, after every value is in.
Status validate(const JobConfig& c) {
  if (c.sandbox.mode != "fork-server" && c.sandbox.mode != "fresh-interpreter")
    return invalid_input("key 'sandbox.mode': unknown mode '" + c.sandbox.mode +
                         "' (available: fork-server, fresh-interpreter)");
  for (const auto* list : {&c.sandbox.import_aliases, &c.sandbox.distribution_modules})
    for (const auto& entry : *list)
      if (entry.find('=') == std::string::npos || entry.front() == '=' || entry.back() == '=')
        return invalid_input("'" + entry + "': expected name=module in sandbox." +
                             std::string(list == &c.sandbox.import_aliases ? "import_aliases" : "distribution_modules"));
  {
    int tls_keys = !c.cluster.tls_certificate.empty() + !c.cluster.tls_key.empty() + !c.cluster.tls_ca_file.empty();
    if (tls_keys != 0 && tls_keys != 3)
      return invalid_input(
          "cluster.tls: set cluster.tls.certificate, cluster.tls.key and cluster.tls.ca_file together (without a CA "
          "file CAF would accept any peer; without a certificate it would use an anonymous cipher)");
  }
  if (c.cluster.heartbeat_timeout_ms <= c.cluster.heartbeat_interval_ms)
    return invalid_input("cluster.heartbeat_timeout_ms (" + std::to_string(c.cluster.heartbeat_timeout_ms) +
                         ") must be longer than cluster.heartbeat_interval_ms (" +
                         std::to_string(c.cluster.heartbeat_interval_ms) + ")");
  if (c.checkpoint.sync != "batch" && c.checkpoint.sync != "interval" && c.checkpoint.sync != "none")
    return invalid_input("key 'checkpoint.sync': must be batch, interval or none, got '" + c.checkpoint.sync + "'");
  static const std::vector<std::string> kGenerators = {"variant", "few-shot", "self-instruct", "evol-instruct"};
  if (std::find(kGenerators.begin(), kGenerators.end(), c.generator.kind) == kGenerators.end())
    return invalid_input("key 'generator.kind': unknown generator '" + c.generator.kind +
                         "' (available: variant, few-shot, self-instruct, evol-instruct)");
  if (!(c.generator.similarity_threshold >= 0 && c.generator.similarity_threshold <= 1))
    return invalid_input("key 'generator.similarity_threshold': must be in [0, 1]");
  if (c.verifier.agreement != "majority" && c.verifier.agreement != "any")
    return invalid_input("key 'verifier.agreement': must be majority or any, got '" + c.verifier.agreement + "'");
  if (c.solver.extract_fallback != "none" && c.solver.extract_fallback != "last-line" &&
      c.solver.extract_fallback != "whole")
    return invalid_input("key 'solver.extract_fallback': must be none, last-line or whole, got '" +
                         c.solver.extract_fallback + "'");
  auto has_role = [&](const char* role) {
    for (const auto& e : c.endpoints)
      if (e.role == role || e.role == "both") return true;
    return false;
  };
  if (c.generator.uses_model() && !has_role("generator"))
    return invalid_input("generator.kind = \"" + c.generator.kind +
                         "\" needs an [[endpoints]] table with role \"generator\" or \"both\"");
  if (c.solves() && !has_role("solver"))
    return invalid_input("the solver stage needs an [[endpoints]] table with role \"solver\" or \"both\"");
  if (auto p = equivalence_policies(c.equivalence); !p) return p.failure();
  return {};
}

}  // namespace

Expected<JobConfig> parse_config(std::string_view text, const std::string& origin, const std::string& base_dir,
                                 const std::vector<std::string>& overrides) {
  JobConfig c;
  if (!text.empty()) {
    toml::table doc;
    try {
      doc = toml::parse(text, origin);
    } catch (const toml::parse_error& e) {
      const auto& where = e.source().begin;
      return invalid_input(origin + ":" + std::to_string(where.line) + ":" + std::to_string(where.column) + ": " +
                           std::string(e.description()));
    }
    if (auto* eps = doc.get("endpoints")) {
      if (auto s = read_endpoints(origin, *eps, c.endpoints); !s) return invalid_input(s.error());
      doc.erase("endpoints");
    }
    std::vector<std::pair<std::string, const toml::node*>> leaves;
    collect_leaves(doc, "", leaves);
    for (const auto& [key, node] : leaves) {
      const Field* f = find_field(key);
      if (!f) return invalid_input(origin + ": unknown key '" + key + "'" + suggestion(key));
      Value v;
      if (auto err = convert(*f, *node, v); !err.empty()) {
        auto line = node->source().begin.line;
        return invalid_input(origin + ":" + std::to_string(line) + ": key '" + key + "': " + err);
      }
      f->set(c, v);
    }
    std::string base = base_dir.empty() ? "." : base_dir;
    for (auto& s : c.job.seeds) s = resolve(base, s);
    for (auto* file : {&c.generator.prompt, &c.solver.prompt})
      if (!file->empty()) *file = resolve(base, *file);
    for (auto& s : c.solver.system_prompts) s = resolve(base, s);
    if (!c.job.out_dir.empty()) c.job.out_dir = resolve(base, c.job.out_dir);
    for (auto* file : {&c.cluster.token_file, &c.cluster.tls_certificate, &c.cluster.tls_key, &c.cluster.tls_ca_file})
      if (!file->empty()) *file = resolve(base, *file);
  }
  for (const auto& o : overrides) {
    auto eq = o.find('=');
    if (eq == std::string::npos || eq == 0) return invalid_input("--set '" + o + "': expected key=value");
    std::string key = o.substr(0, eq), value_text = o.substr(eq + 1);
    const Field* f = find_field(key);
    if (!f) return invalid_input("--set: unknown key '" + key + "'" + suggestion(key));
    // Values are TOML (5, 2.5, true, "x", ["a","b"]); bare words are strings.
    toml::table t;
    try {
      t = toml::parse("v = " + value_text);
    } catch (const toml::parse_error&) {
      t = toml::table{};
      if (f->kind == Kind::kStringList) {
        toml::array a;
        std::stringstream ss(value_text);
        std::string part;
        while (std::getline(ss, part, ',')) a.push_back(part);
        t.insert("v", a);
      } else {
        t.insert("v", value_text);
      }
    }
    Value v;
    if (auto err = convert(*f, *t.get("v"), v); !err.empty())
      return invalid_input("--set " + key + "=" + value_text + ": " + err);
    f->set(c, v);
  }
  if (auto s = validate(c); !s) return s.failure();
  return c;
}

Expected<JobConfig> load_config(const std::string& path, const std::vector<std::string>& overrides) {
  if (path.empty()) return parse_config("", "", "", overrides);
  std::ifstream in(path, std::ios::binary);
  if (!in) return invalid_input(path + ": cannot be read");
  std::stringstream text;
  text << in.rdbuf();
  std::string contents = text.str();
  if (contents.find_first_not_of(" \t\r\n") == std::string::npos) contents.clear();
  // An empty file is a config with every default.
  return parse_config(contents, path, fs::path(path).parent_path().string(), overrides);
}

Expected<equiv::PolicySet> equivalence_policies(const EquivalenceSection& e) {
  equiv::Policy base;
  std::pair<const char*, double> numbers[] = {
      {"float_noise_rel", e.float_noise_rel}, {"symbolic_rel", e.symbolic_rel}, {"exact_rel", e.exact_rel}};
  for (auto [key, value] : numbers) {
    if (!(value >= 0 && value < 1))
      return invalid_input(std::string("key 'equivalence.") + key + "': must be in [0, 1), got " + str(value));
  }
  base.float_noise_rel = e.float_noise_rel;
  base.symbolic_rel = e.symbolic_rel;
  base.exact_rel = e.exact_rel;
  base.percent_as_fraction = e.percent_as_fraction;
  base.require_units = e.require_units;
  if (auto s = equiv::set_policy_field(base, "integer_gold", e.integer_gold); !s)
    return invalid_input("key 'equivalence.integer_gold': " + s.error());
  equiv::PolicySet set(base);
  for (const auto& rule : e.domains)
    if (auto s = set.add_domain_rule(rule); !s) return invalid_input("key 'equivalence.domains': " + s.error());
  return set;
}

std::string describe(const JobConfig& config) {
  std::string out;
  for (const auto& f : fields()) {
    if (f.key == "out_dir" || f.key == "progress_interval_ms") continue;  // where and how it reports, not what
    if (f.key == "seeds") {
      // The files, however the path was spelled (relative to another folder, or absolute).
      JobConfig canonical;
      std::error_code ec;
      for (const auto& p : config.job.seeds)
        canonical.job.seeds.push_back(std::filesystem::weakly_canonical(p, ec).string());
      out += f.key + " = " + f.get(canonical) + "\n";
      continue;
    }
    out += f.key + " = " + f.get(config) + "\n";
  }
  return out;
}

KeyEffect key_effect(const std::string& key) {
  const Field* f = find_field(key);
  return f ? f->effect : KeyEffect::kResults;
}

std::vector<std::string> config_differences(const std::string& logged, const std::string& current) {
  auto parse = [](const std::string& text) {
    std::map<std::string, std::string> out;
    size_t pos = 0;
    while (pos < text.size()) {
      size_t end = text.find('\n', pos);
      if (end == std::string::npos) end = text.size();
      std::string line = text.substr(pos, end - pos);
      pos = end + 1;
      auto eq = line.find(" = ");
      if (eq != std::string::npos) out[line.substr(0, eq)] = line.substr(eq + 3);
    }
    return out;
  };
  auto a = parse(logged), b = parse(current);
  std::vector<std::string> diffs;
  for (const auto& [k, v] : b) {
    if (key_effect(k) != KeyEffect::kResults) continue;
    auto it = a.find(k);
    if (it == a.end()) diffs.push_back(k + ": (not in the logged config) -> '" + v + "'");
    else if (it->second != v) diffs.push_back(k + ": '" + it->second + "' -> '" + v + "'");
  }
  for (const auto& [k, v] : a)
    if (key_effect(k) == KeyEffect::kResults && !b.count(k)) diffs.push_back(k + ": '" + v + "' -> (no longer a key)");
  return diffs;
}

}  // namespace vf
