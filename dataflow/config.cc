#include "dataflow/config.h"

#include <algorithm>
#include <filesystem>
#include <functional>
#include <sstream>

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

#define VF_INT(KEY, MEMBER, MIN, MAX, DESC)                                                      \
  Field {                                                                                        \
    KEY, Kind::kInt, DESC, MIN, MAX,                                                             \
        [](JobConfig& c, const Value& v) { c.MEMBER = static_cast<decltype(c.MEMBER)>(v.i); }, \
        [](const JobConfig& c) { return str(c.MEMBER); }                                         \
  }

#define VF_NUM(KEY, MEMBER, DESC)                                                       \
  Field {                                                                               \
    KEY, Kind::kNumber, DESC, 0, 0, [](JobConfig& c, const Value& v) { c.MEMBER = v.d; }, \
        [](const JobConfig& c) { return str(c.MEMBER); }                                \
  }

#define VF_STR(KEY, MEMBER, DESC)                                                       \
  Field {                                                                               \
    KEY, Kind::kString, DESC, 0, 0, [](JobConfig& c, const Value& v) { c.MEMBER = v.s; }, \
        [](const JobConfig& c) { return c.MEMBER; }                                     \
  }
#define VF_BOOL(KEY, MEMBER, DESC)                                                      \
  Field {                                                                               \
    KEY, Kind::kBool, DESC, 0, 0, [](JobConfig& c, const Value& v) { c.MEMBER = v.b; }, \
        [](const JobConfig& c) { return std::string(c.MEMBER ? "true" : "false"); }    \
  }
#define VF_LIST(KEY, MEMBER, DESC)                                                            \
  Field {                                                                                     \
    KEY, Kind::kStringList, DESC, 0, 0, [](JobConfig& c, const Value& v) { c.MEMBER = v.list; }, \
        [](const JobConfig& c) { return join(c.MEMBER); }                                     \
  }

const std::vector<Field>& fields() {
  static const std::vector<Field> f = {
      {"name", Kind::kString, "Job name, written into outputs and job metadata.", 0, 0,
       [](JobConfig& c, const Value& v) { c.name = v.s; }, [](const JobConfig& c) { return c.name; }},
      {"seeds", Kind::kStringList,
       "Seed files or folders (Loong format: JSON array or JSON Lines). Relative paths in a config file are "
       "relative to that file.",
       0, 0, [](JobConfig& c, const Value& v) { c.seeds = v.list; },
       [](const JobConfig& c) { return join(c.seeds); }},
      VF_INT("target_accepted", target_accepted, 1, INT64_MAX, "Accepted items the job produces, then stops."),
      VF_INT("max_generated", max_generated, 0, INT64_MAX,
             "Stop after this many generated items even if the target is not met (0: 20 x target_accepted)."),
      VF_INT("random_seed", random_seed, 0, INT64_MAX,
             "Seed of the generator's random choices; same seed, same items."),
      {"skip_invalid_seeds", Kind::kBool, "Skip invalid seed items (reported) instead of refusing to start.", 0, 0,
       [](JobConfig& c, const Value& v) { c.skip_invalid_seeds = v.b; },
       [](const JobConfig& c) { return std::string(c.skip_invalid_seeds ? "true" : "false"); }},
      {"out_dir", Kind::kString, "Output folder (the --out option takes precedence).", 0, 0,
       [](JobConfig& c, const Value& v) { c.out_dir = v.s; }, [](const JobConfig& c) { return c.out_dir; }},
      {"generator.kind", Kind::kString, "Generator: \"variant\" (offline constant variants of seeds).", 0, 0,
       [](JobConfig& c, const Value& v) { c.generator = v.s; }, [](const JobConfig& c) { return c.generator; }},
      VF_INT("generator.attempts_per_slot", attempts_per_slot, 1, 1000,
             "Tries per seed turn before the variant generator moves on when it repeats a question."),
      VF_INT("generator.examples", generator_examples, 1, 32, "LLM generators: seed examples per request (k)."),
      VF_STR("generator.prompt", generator_prompt,
             "LLM generators: prompt template file (relative to the config); empty: the built-in template "
             "(configs/prompts/ holds editable copies)."),
      VF_NUM("generator.temperature", generator_temperature, "LLM generators: sampling temperature."),
      VF_NUM("generator.top_p", generator_top_p, "LLM generators: nucleus sampling top_p."),
      VF_LIST("generator.stop", generator_stop, "LLM generators: stop sequences."),
      VF_INT("generator.max_tokens", generator_max_tokens, 16, 1 << 20, "LLM generators: max_tokens per reply."),
      VF_NUM("generator.similarity_threshold", similarity_threshold,
             "LLM generators: reject a new question whose ROUGE-L against the seeds or an earlier generated "
             "question reaches this (Self-Instruct uses 0.7); 0: off."),
      VF_BOOL("solver.enabled", solver_enabled,
              "Solve every executed item by chain of thought and accept by agreement (always on with an LLM "
              "generator)."),
      VF_INT("solver.samples", solver_samples, 1, 64, "Chain-of-thought samples per item (k); the pass rate is over k."),
      VF_BOOL("solver.use_n", solver_use_n, "Ask for the k samples in one request (n = k); off: k requests."),
      VF_STR("solver.prompt", solver_prompt, "Solver prompt template file; empty: built-in."),
      VF_LIST("solver.system_prompts", solver_system_prompts,
              "System prompt files; one is sampled per request for variety; empty: the built-in ones."),
      VF_NUM("solver.temperature", solver_temperature, "Solver sampling temperature."),
      VF_NUM("solver.top_p", solver_top_p, "Solver nucleus sampling top_p."),
      VF_LIST("solver.stop", solver_stop, "Solver stop sequences."),
      VF_INT("solver.max_tokens", solver_max_tokens, 16, 1 << 20, "Solver max_tokens per sample."),
      VF_STR("solver.extract_fallback", extract_fallback,
             "A response without \\boxed{} or 'final answer': none (no answer), last-line, whole."),
      VF_STR("verifier.agreement", agreement,
             "\"majority\": accept when the code's answer equals the solvers' majority answer; \"any\": when "
             "at least one sample agrees."),
      VF_BOOL("verifier.drop_all_solved", drop_all_solved,
              "Reject items every sample solves (too easy; no RL signal). Off: keep them, tagged easy."),
      VF_BOOL("verifier.drop_none_solved", drop_none_solved,
              "Reject items no sample solves (zero advantage). Off: keep them, tagged unsolved."),
      VF_INT("model.max_attempts", model_max_attempts, 1, 100, "Attempts per model call, the first included."),
      VF_NUM("model.backoff_base_s", model_backoff_base_s, "First retry delay; doubles per attempt, with jitter."),
      VF_NUM("model.backoff_max_s", model_backoff_max_s, "Longest retry delay (Retry-After may ask for more)."),
      VF_INT("pipeline.llm_credits", llm_credits, 1, 1 << 20,
             "Items an LLM stage may hold; bounds requests in flight together with each endpoint's max_in_flight."),
      {"executor.python", Kind::kString,
       "Interpreter for rationale code (Debian's /usr/bin/python3 sees the python3-* packages).", 0, 0,
       [](JobConfig& c, const Value& v) { c.python = v.s; }, [](const JobConfig& c) { return c.python; }},
      VF_INT("executor.workers", executor_workers, 0, 1024, "Snippets run at once (0: one per core)."),
      {"executor.timeout_s", Kind::kNumber, "Wall-clock limit per snippet run, in seconds.", 0, 0,
       [](JobConfig& c, const Value& v) { c.timeout_s = v.d; }, [](const JobConfig& c) { return str(c.timeout_s); }},
      VF_INT("executor.memory_mb", memory_mb, 64, 1 << 20, "Address-space limit per snippet, in MiB."),
      VF_INT("executor.max_output_bytes", max_output_bytes, 1, 1LL << 30, "Largest stdout a snippet may print."),
      VF_INT("executor.runs", runs_per_item, 1, 8,
             "Runs per item; answers must agree across runs (2 detects non-determinism)."),
      VF_INT("executor.cpu_s", cpu_seconds, 0, 86400, "CPU-time limit per snippet run, in seconds (0: timeout_s + 1)."),
      VF_INT("executor.max_file_mb", max_file_mb, 1, 1 << 20, "Largest file a snippet may write, in MiB."),
      {"sandbox.mode", Kind::kString,
       "\"fork-server\": contained fork servers that pre-import modules (default); \"fresh-interpreter\": "
       "one new interpreter per snippet, no namespaces (the slow baseline).",
       0, 0, [](JobConfig& c, const Value& v) { c.sandbox_mode = v.s; }, [](const JobConfig& c) { return c.sandbox_mode; }},
      {"sandbox.contain", Kind::kBool,
       "Namespaces (no network, read-only filesystem, private /tmp, own PID space) and an unprivileged uid per "
       "worker; needs root. Off: rlimits and process groups only.",
       0, 0, [](JobConfig& c, const Value& v) { c.contain = v.b; },
       [](const JobConfig& c) { return std::string(c.contain ? "true" : "false"); }},
      {"sandbox.preimport", Kind::kStringList,
       "Modules every fork server imports once, besides those the seeds declare in required_dependencies.", 0, 0,
       [](JobConfig& c, const Value& v) { c.preimport = v.list; }, [](const JobConfig& c) { return join(c.preimport); }},
      {"sandbox.import_aliases", Kind::kStringList,
       "\"name=installed\": `import name` loads `installed` (Debian's pycryptodome is Cryptodome, seeds import Crypto).",
       0, 0, [](JobConfig& c, const Value& v) { c.import_aliases = v.list; },
       [](const JobConfig& c) { return join(c.import_aliases); }},
      {"sandbox.distribution_modules", Kind::kStringList,
       "\"distribution=module\" entries that map required_dependencies to import names, on top of the built-in "
       "ones (pycryptodome=Crypto, python-constraint=constraint, scikit-learn=sklearn, ...).",
       0, 0, [](JobConfig& c, const Value& v) { c.distribution_modules = v.list; },
       [](const JobConfig& c) { return join(c.distribution_modules); }},
      VF_INT("sandbox.max_processes", max_processes, 1, 1 << 20, "Processes and threads one snippet may have."),
      VF_INT("sandbox.uid_base", uid_base, 1000, 1 << 30,
             "Snippets of fork server i run as uid_base + i (unused uids; each worker has its own)."),
      VF_INT("sandbox.tmp_mb", tmp_mb, 16, 1 << 20, "Size of each fork server's private /tmp, in MiB."),
      VF_INT("verifier.max_answer_chars", max_answer_chars, 1, 1 << 24,
             "Longest answer the verifier accepts as well-formed."),
      VF_NUM("equivalence.float_noise_rel", equiv_float_noise_rel,
             "Relative difference allowed between an exact gold (integer, fraction) and a float-printed "
             "prediction: 299.999999999999 equals 300, 41.999 does not equal 42."),
      VF_NUM("equivalence.symbolic_rel", equiv_symbolic_rel,
             "Relative difference allowed between a symbolic gold (pi, sqrt(2)) and a decimal prediction."),
      VF_NUM("equivalence.exact_rel", equiv_exact_rel,
             "Relative difference below which two exact forms evaluated numerically are the same number."),
      {"equivalence.integer_gold", Kind::kString,
       "\"exact\": an integer gold means exactly that integer; \"significant-figures\": \"51\" means 51 to two "
       "significant figures (physics, chemistry). Decimal golds always accept values that round to them.",
       0, 0, [](JobConfig& c, const Value& v) { c.equiv_integer_gold = v.s; },
       [](const JobConfig& c) { return c.equiv_integer_gold; }},
      {"equivalence.percent_as_fraction", Kind::kBool, "A percentage gold (25%) also accepts its fraction (0.25).",
       0, 0, [](JobConfig& c, const Value& v) { c.equiv_percent_as_fraction = v.b; },
       [](const JobConfig& c) { return std::string(c.equiv_percent_as_fraction ? "true" : "false"); }},
      {"equivalence.require_units", Kind::kBool,
       "A gold with a unit (51 atm) needs a prediction with a compatible unit; off: a bare number is compared.", 0, 0,
       [](JobConfig& c, const Value& v) { c.equiv_require_units = v.b; },
       [](const JobConfig& c) { return std::string(c.equiv_require_units ? "true" : "false"); }},
      {"equivalence.domains", Kind::kStringList,
       "Per-domain policies, matched to metadata.domain case-insensitively: "
       "\"Physics: integer_gold=significant-figures, symbolic_rel=1e-3\".",
       0, 0, [](JobConfig& c, const Value& v) { c.equiv_domains = v.list; },
       [](const JobConfig& c) { return join(c.equiv_domains); }},
      VF_INT("pipeline.executor_credits", executor_credits, 1, 1 << 20,
             "Items the executor stage may hold (credit granted to the generator)."),
      VF_INT("pipeline.verifier_credits", verifier_credits, 1, 1 << 20,
             "Items the verifier stage may hold (credit granted to the executor stage)."),
      VF_INT("pipeline.writer_credits", writer_credits, 1, 1 << 20,
             "Items the writer may hold (credit granted to the verifier)."),
      VF_INT("pipeline.batch_size", batch_size, 1, 4096, "Most items per message between stages."),
      VF_BOOL("checkpoint.log", checkpoint_log,
              "Log every stage result to DIR/db before it moves on, so a killed job resumes without losing or "
              "repeating work. false: only the writer's progress is kept and the job cannot resume (a benchmark "
              "baseline)."),
      VF_STR("checkpoint.sync", checkpoint_sync,
             "When a log write is durable: \"batch\" (fsync every write batch before its items move on; safe "
             "against a machine crash), \"interval\" (group commit: fsync every checkpoint.sync_interval_ms; a "
             "machine crash loses at most that interval, a process crash nothing), \"none\" (the OS decides; safe "
             "against a process crash only)."),
      VF_INT("checkpoint.sync_interval_ms", checkpoint_sync_interval_ms, 1, 60000,
             "Group-commit interval of checkpoint.sync = \"interval\"."),
      VF_BOOL("writer.curriculum", curriculum,
              "When items carry pass rates: also write rl.curriculum.jsonl, the RL export from easy to hard with "
              "domains interleaved round-robin (every batch mixes domains evenly)."),
      VF_INT("writer.delay_ms", writer_delay_ms, 0, 60000,
             "Testing knob: sleep this long per written item (shows backpressure)."),
      VF_INT("progress_interval_ms", progress_interval_ms, 50, 3600000, "How often the progress line refreshes."),
  };
  return f;
}
#undef VF_INT

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
      if (!(v.d > 0)) return "must be positive, got " + str(v.d);
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
      else
        s = Error{where(v, i, key) + ": unknown field (known: role, name, base_url, model, api_key_env, "
                                     "max_in_flight, requests_per_minute, tokens_per_minute, timeout_s)"};
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
    for (const auto& f : fields()) out.push_back({f.key, kind_name(f.kind), f.get(defaults), f.description});
    return out;
  }();
  return keys;
}

Expected<JobConfig> load_config(const std::string& path, const std::vector<std::string>& overrides) {
  JobConfig c;
  if (!path.empty()) {
    toml::table doc;
    try {
      doc = toml::parse_file(path);
    } catch (const toml::parse_error& e) {
      const auto& where = e.source().begin;
      return Error{path + ":" + std::to_string(where.line) + ":" + std::to_string(where.column) + ": " +
                   std::string(e.description())};
    }
    if (auto* eps = doc.get("endpoints")) {
      if (auto s = read_endpoints(path, *eps, c.endpoints); !s) return Error{s.error()};
      doc.erase("endpoints");
    }
    std::vector<std::pair<std::string, const toml::node*>> leaves;
    collect_leaves(doc, "", leaves);
    for (const auto& [key, node] : leaves) {
      const Field* f = find_field(key);
      if (!f) return Error{path + ": unknown key '" + key + "'" + suggestion(key)};
      Value v;
      if (auto err = convert(*f, *node, v); !err.empty()) {
        auto line = node->source().begin.line;
        return Error{path + ":" + std::to_string(line) + ": key '" + key + "': " + err};
      }
      f->set(c, v);
    }
    std::string base = fs::path(path).parent_path().string();
    for (auto& s : c.seeds) s = resolve(base.empty() ? "." : base, s);
    for (auto* file : {&c.generator_prompt, &c.solver_prompt})
      if (!file->empty()) *file = resolve(base.empty() ? "." : base, *file);
    for (auto& s : c.solver_system_prompts) s = resolve(base.empty() ? "." : base, s);
    if (!c.out_dir.empty()) c.out_dir = resolve(base.empty() ? "." : base, c.out_dir);
  }
  for (const auto& o : overrides) {
    auto eq = o.find('=');
    if (eq == std::string::npos || eq == 0) return Error{"--set '" + o + "': expected key=value"};
    std::string key = o.substr(0, eq), text = o.substr(eq + 1);
    const Field* f = find_field(key);
    if (!f) return Error{"--set: unknown key '" + key + "'" + suggestion(key)};
    // Values are TOML (5, 2.5, true, "x", ["a","b"]); bare words are strings.
    toml::table t;
    try {
      t = toml::parse("v = " + text);
    } catch (const toml::parse_error&) {
      t = toml::table{};
      if (f->kind == Kind::kStringList) {
        toml::array a;
        std::stringstream ss(text);
        std::string part;
        while (std::getline(ss, part, ',')) a.push_back(part);
        t.insert("v", a);
      } else {
        t.insert("v", text);
      }
    }
    Value v;
    if (auto err = convert(*f, *t.get("v"), v); !err.empty())
      return Error{"--set " + key + "=" + text + ": " + err};
    f->set(c, v);
  }
  if (c.sandbox_mode != "fork-server" && c.sandbox_mode != "fresh-interpreter")
    return Error{"key 'sandbox.mode': unknown mode '" + c.sandbox_mode + "' (available: fork-server, fresh-interpreter)"};
  for (const auto* list : {&c.import_aliases, &c.distribution_modules})
    for (const auto& entry : *list)
      if (entry.find('=') == std::string::npos || entry.front() == '=' || entry.back() == '=')
        return Error{"'" + entry + "': expected name=module in sandbox." +
                     std::string(list == &c.import_aliases ? "import_aliases" : "distribution_modules")};
  if (c.checkpoint_sync != "batch" && c.checkpoint_sync != "interval" && c.checkpoint_sync != "none")
    return Error{"key 'checkpoint.sync': must be batch, interval or none, got '" + c.checkpoint_sync + "'"};
  static const std::vector<std::string> kGenerators = {"variant", "few-shot", "self-instruct", "evol-instruct"};
  if (std::find(kGenerators.begin(), kGenerators.end(), c.generator) == kGenerators.end())
    return Error{"key 'generator.kind': unknown generator '" + c.generator +
                 "' (available: variant, few-shot, self-instruct, evol-instruct)"};
  if (!(c.similarity_threshold >= 0 && c.similarity_threshold <= 1))
    return Error{"key 'generator.similarity_threshold': must be in [0, 1]"};
  if (c.agreement != "majority" && c.agreement != "any")
    return Error{"key 'verifier.agreement': must be majority or any, got '" + c.agreement + "'"};
  if (c.extract_fallback != "none" && c.extract_fallback != "last-line" && c.extract_fallback != "whole")
    return Error{"key 'solver.extract_fallback': must be none, last-line or whole, got '" + c.extract_fallback + "'"};
  bool llm = c.generator != "variant";
  auto has_role = [&](const char* role) {
    for (const auto& e : c.endpoints)
      if (e.role == role || e.role == "both") return true;
    return false;
  };
  if (llm && !has_role("generator"))
    return Error{"generator.kind = \"" + c.generator + "\" needs an [[endpoints]] table with role \"generator\" or \"both\""};
  if ((llm || c.solver_enabled) && !has_role("solver"))
    return Error{"the solver stage needs an [[endpoints]] table with role \"solver\" or \"both\""};
  if (auto p = equivalence_policies(c); !p) return Error{p.error()};
  return c;
}

Expected<equiv::PolicySet> equivalence_policies(const JobConfig& c) {
  equiv::Policy base;
  std::pair<const char*, double> numbers[] = {{"float_noise_rel", c.equiv_float_noise_rel},
                                              {"symbolic_rel", c.equiv_symbolic_rel},
                                              {"exact_rel", c.equiv_exact_rel}};
  for (auto [key, value] : numbers) {
    if (!(value >= 0 && value < 1))
      return Error{std::string("key 'equivalence.") + key + "': must be in [0, 1), got " + str(value)};
  }
  base.float_noise_rel = c.equiv_float_noise_rel;
  base.symbolic_rel = c.equiv_symbolic_rel;
  base.exact_rel = c.equiv_exact_rel;
  base.percent_as_fraction = c.equiv_percent_as_fraction;
  base.require_units = c.equiv_require_units;
  if (auto s = equiv::set_policy_field(base, "integer_gold", c.equiv_integer_gold); !s)
    return Error{"key 'equivalence.integer_gold': " + s.error()};
  equiv::PolicySet set(base);
  for (const auto& rule : c.equiv_domains)
    if (auto s = set.add_domain_rule(rule); !s) return Error{"key 'equivalence.domains': " + s.error()};
  return set;
}

std::string describe(const JobConfig& config) {
  std::string out;
  for (const auto& f : fields()) {
    if (f.key == "out_dir" || f.key == "progress_interval_ms") continue;  // do not change results
    if (f.key == "seeds") {
      // The files, however the path was spelled (relative to another folder, or absolute).
      JobConfig canonical;
      std::error_code ec;
      for (const auto& p : config.seeds) canonical.seeds.push_back(std::filesystem::weakly_canonical(p, ec).string());
      out += f.key + " = " + f.get(canonical) + "\n";
      continue;
    }
    out += f.key + " = " + f.get(config) + "\n";
  }
  return out;
}

bool key_changes_results(const std::string& key) {
  static const std::vector<std::string> kOperational = {
      "pipeline.",          "executor.workers",          "checkpoint.sync", "checkpoint.sync_interval_ms",
      "writer.delay_ms",    "progress_interval_ms",      "out_dir",         "sandbox.uid_base"};
  for (const auto& k : kOperational)
    if (key == k || (k.back() == '.' && key.rfind(k, 0) == 0)) return false;
  return true;
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
    if (!key_changes_results(k)) continue;
    auto it = a.find(k);
    if (it == a.end()) diffs.push_back(k + ": (not in the logged config) -> '" + v + "'");
    else if (it->second != v) diffs.push_back(k + ": '" + it->second + "' -> '" + v + "'");
  }
  for (const auto& [k, v] : a)
    if (key_changes_results(k) && !b.count(k)) diffs.push_back(k + ": '" + v + "' -> (no longer a key)");
  return diffs;
}

}  // namespace vf
