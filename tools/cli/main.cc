// veriforge: command-line entry point.
//
//   veriforge run CONFIG --out DIR [--set key=value]... [--force]   (resumes the job in DIR)
//   veriforge resume DIR | status DIR | check DIR
//   veriforge verify-seeds FILE_OR_DIR... [--out FILE] [--mismatches FILE] [--config CONFIG] [--set key=value]...
//   veriforge equiv --gold G --pred P | --cases FILE.jsonl
//   veriforge config-keys
//
// Exit codes: 0 success; 1 invalid input (seeds, config, arguments);
// 2 the job failed (storage, sandbox, internal error); 3 the job ended
// before reaching target_accepted (seeds exhausted or max_generated hit);
// 130 interrupted (SIGINT/SIGTERM).
#include <unistd.h>

#include <atomic>
#include <csignal>
#include <cstring>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>

#include <CLI/CLI.hpp>
#include <spdlog/sinks/basic_file_sink.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include "actors/job.h"
#include "dataflow/config.h"
#include "dataflow/seeds.h"
#include "tools/cli/equiv_cmd.h"
#include "tools/cli/job_cmds.h"

namespace fs = std::filesystem;
using namespace vf;

namespace {

std::atomic<bool> g_interrupted{false};

void on_signal(int) { g_interrupted = true; }

void setup_logging(const std::string& log_file, const std::string& level) {
  std::vector<spdlog::sink_ptr> sinks;
  auto console = std::make_shared<spdlog::sinks::stderr_color_sink_mt>();
  console->set_level(spdlog::level::warn);
  sinks.push_back(console);
  if (!log_file.empty()) {
    auto file = std::make_shared<spdlog::sinks::basic_file_sink_mt>(log_file);
    file->set_level(spdlog::level::from_str(level));
    sinks.push_back(file);
  }
  auto logger = std::make_shared<spdlog::logger>("veriforge", sinks.begin(), sinks.end());
  logger->set_level(spdlog::level::from_str(level));
  logger->set_pattern("%Y-%m-%dT%H:%M:%S.%e %l %v");
  logger->flush_on(spdlog::level::warn);
  spdlog::set_default_logger(logger);
}

std::string keys_help() {
  std::string out = "Config keys (TOML; override any with --set key=value):\n";
  for (const auto& k : config_keys()) {
    out += "  " + k.key + " (" + k.type + ", default " + (k.default_value.empty() ? "\"\"" : k.default_value) +
           ")\n      " + k.description + "\n";
  }
  return out;
}

// Loads seeds and prints every problem; false when the job must not start.
bool load_and_check_seeds(const std::vector<std::string>& paths, bool skip_invalid, SeedSet& set) {
  set = load_seeds(paths);
  if (set.problems.empty()) return true;
  const size_t show = 50;
  for (size_t i = 0; i < set.problems.size() && i < show; ++i)
    std::fprintf(stderr, "seed error: %s\n", set.problems[i].to_string().c_str());
  if (set.problems.size() > show)
    std::fprintf(stderr, "seed error: ... and %zu more\n", set.problems.size() - show);
  if (!skip_invalid) {
    std::fprintf(stderr,
                 "veriforge: %zu problem(s) in the seeds; nothing was written. Fix them, or pass "
                 "--skip-invalid-seeds (or set skip_invalid_seeds = true) to run on the %zu valid items.\n",
                 set.problems.size(), set.seeds.size());
    return false;
  }
  std::fprintf(stderr, "veriforge: skipping invalid seed items; %zu valid of %zu read\n", set.seeds.size(),
               set.items_read);
  return !set.seeds.empty();
}

class ProgressLine {
 public:
  explicit ProgressLine(bool enabled) : enabled_(enabled), start_(std::chrono::steady_clock::now()) {}
  void update(const std::map<std::string, wire::StageReport>& stages, bool seed_check) {
    if (!enabled_) return;
    auto get = [&](const char* s) { auto it = stages.find(s); return it == stages.end() ? wire::StageReport{} : it->second; };
    double t = std::max(1e-3, std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count());
    auto g = get("generator"), w = get("writer"), e = get("executor");
    if (seed_check) {
      std::fprintf(stderr, "\r[%6.1fs] executed %llu (%.1f/s)   ", t, (unsigned long long)w.received,
                   w.received / t);
    } else {
      std::fprintf(stderr,
                   "\r[%6.1fs] generated %llu (%.1f/s)  executing %u  accepted %llu (%.1f/s)  rejected %llu (%.1f/s)   ",
                   t, (unsigned long long)g.sent, g.sent / t, e.held, (unsigned long long)w.accepted,
                   w.accepted / t, (unsigned long long)w.rejected, w.rejected / t);
    }
    std::fflush(stderr);
    drawn_ = true;
  }
  void finish() {
    if (drawn_) std::fprintf(stderr, "\n");
  }

 private:
  bool enabled_;
  bool drawn_ = false;
  std::chrono::steady_clock::time_point start_;
};

// Runs the job with a progress line on a terminal and Ctrl-C handling.
JobOutcome run_with_progress(JobSpec spec, bool no_progress, bool seed_check) {
  ProgressLine progress(!no_progress && isatty(STDERR_FILENO));
  spec.on_progress = [&](const auto& stages) { progress.update(stages, seed_check); };
  spec.interrupt = &g_interrupted;
  std::signal(SIGINT, on_signal);
  std::signal(SIGTERM, on_signal);
  JobOutcome outcome = run_job(std::move(spec));
  progress.finish();
  return outcome;
}

// Token usage and call counts per stage and endpoint (model), and the job's
// totals, added to summary.json and printed.
void add_model_usage(const std::string& out_dir, const model::ModelClient* generator, const model::ModelClient* solver,
                     JobOutcome& outcome) {
  nlohmann::json usage = nlohmann::json::object();
  uint64_t prompt = 0, completion = 0;
  for (auto [stage, client] : {std::pair{"generate", generator}, std::pair{"solve", solver}}) {
    if (!client) continue;
    auto s = client->stats();
    nlohmann::json endpoints = nlohmann::json::object();
    uint64_t sp = 0, sc = 0;
    for (const auto& [name, e] : s.endpoints) {
      endpoints[name] = {{"requests", e.requests}, {"successes", e.successes}, {"retries", e.retries},
                         {"failures", e.failures}, {"prompt_tokens", e.prompt_tokens},
                         {"completion_tokens", e.completion_tokens}, {"in_flight_limit", e.limit}};
      sp += e.prompt_tokens;
      sc += e.completion_tokens;
    }
    usage[stage] = {{"calls", s.calls}, {"completed", s.completed}, {"failed", s.failed},
                    {"prompt_tokens", sp}, {"completion_tokens", sc}, {"endpoints", endpoints}};
    prompt += sp;
    completion += sc;
  }
  usage["total"] = {{"prompt_tokens", prompt}, {"completion_tokens", completion}};
  outcome.summary["model_usage"] = usage;
  std::string path = out_dir + "/summary.json";
  std::ifstream in(path);
  auto written = nlohmann::json::parse(in, nullptr, false);
  if (written.is_object()) {
    written["model_usage"] = usage;
    std::string tmp = path + ".tmp";
    std::ofstream(tmp) << written.dump(2) << "\n";
    std::error_code ec;
    fs::rename(tmp, path, ec);
  }
  std::printf("model usage: %llu prompt + %llu completion tokens\n", (unsigned long long)prompt,
              (unsigned long long)completion);
}

// How the job in a folder was started, so `veriforge resume DIR` can start it again.
// Paths as the user spelled them, and the folder they were relative to.
struct Invocation {
  std::string cwd;
  std::string config_path;
  std::string out_dir;
  std::vector<std::string> overrides;
  bool skip_invalid = false;
};

std::string to_json(const Invocation& inv) {
  return nlohmann::json{{"cwd", inv.cwd},
                        {"config", inv.config_path},
                        {"out", inv.out_dir},
                        {"set", inv.overrides},
                        {"skip_invalid_seeds", inv.skip_invalid}}
      .dump();
}

// Compares the logged job with this run's config and seeds; empty when they
// match (or --force), else the message naming what changed.
std::string compare_with_log(JobStore& store, const std::string& config_text, uint64_t seed_hash, bool force) {
  auto logged_config = store.get_meta("config");
  auto logged_seeds = store.get_meta("seed_hash");
  if (!logged_config || !logged_seeds) return !logged_config ? logged_config.error() : logged_seeds.error();
  std::vector<std::string> changes;
  if (logged_config.value()) changes = config_differences(*logged_config.value(), config_text);
  if (logged_seeds.value() && *logged_seeds.value() != std::to_string(seed_hash))
    changes.push_back("seeds: the seed files' content differs from the job's (content hash " + *logged_seeds.value() +
                      " -> " + std::to_string(seed_hash) + ")");
  if (changes.empty()) return {};
  std::string msg;
  for (const auto& c : changes) msg += "\n  " + c;
  if (force) {
    std::fprintf(stderr, "veriforge: --force: resuming under a changed config or seed set:%s\n", msg.c_str());
    return {};
  }
  return "the job in this folder was started with a different config or seed set:" + msg +
         "\nRun it with the config it started with, choose a new --out folder, or pass --force to continue "
         "under the new settings (items already decided stay as they are).";
}

int cmd_run(const std::string& config_arg, std::string out_dir, const std::vector<std::string>& overrides,
            bool skip_invalid, bool no_progress, const std::string& log_level, bool force) {
  auto config = load_config(config_arg, overrides);
  if (!config) {
    std::fprintf(stderr, "veriforge: config error: %s\n", config.error().c_str());
    return 1;
  }
  JobConfig& c = config.value();
  if (skip_invalid) c.skip_invalid_seeds = true;
  if (out_dir.empty()) out_dir = c.out_dir;
  if (out_dir.empty()) {
    std::fprintf(stderr, "veriforge: no output folder: pass --out DIR (or set out_dir in the config)\n");
    return 1;
  }
  SeedSet seeds;
  if (!load_and_check_seeds(c.seeds, c.skip_invalid_seeds, seeds)) return 1;

  std::error_code ec;
  bool has_log = fs::exists(out_dir + "/db/CURRENT", ec);
  if (!has_log && (fs::exists(out_dir + "/accepted.jsonl", ec) || fs::exists(out_dir + "/rejected.jsonl", ec))) {
    std::fprintf(stderr,
                 "veriforge: %s holds job outputs but no checkpoint log (%s/db); it cannot be resumed. Choose a new "
                 "--out folder (nothing was changed)\n",
                 out_dir.c_str(), out_dir.c_str());
    return 1;
  }
  JobSpec spec;
  if (auto s = apply_llm_config(c, seeds.seeds, spec); !s) {
    std::fprintf(stderr, "veriforge: config error: %s\n", s.error().c_str());
    return 1;
  }
  std::shared_ptr<VariantSource> source;
  if (c.generator == "variant")
    source = std::make_shared<VariantSource>(seeds.seeds, c.random_seed, VariantOptions{c.attempts_per_slot},
                                             distribution_modules(c));
  if (source && source->eligible_seeds() == 0) {
    std::fprintf(stderr,
                 "veriforge: none of the %zu seeds is eligible for the variant generator (a seed needs a "
                 "numeric constant that appears in both its question and its rationale code, and no other "
                 "constant in the code)\n",
                 seeds.seeds.size());
    return 1;
  }
  fs::create_directories(out_dir, ec);
  if (ec) {
    std::fprintf(stderr, "veriforge: cannot create %s: %s\n", out_dir.c_str(), ec.message().c_str());
    return 2;
  }
  if (::access(out_dir.c_str(), W_OK) != 0) {
    std::fprintf(stderr, "veriforge: cannot write to %s: %s\n", out_dir.c_str(), std::strerror(errno));
    return 2;
  }

  // The checkpoint log: a new job records what it is; a logged one must match it.
  JobStoreOptions store_options;
  store_options.sync = *parse_sync_policy(c.checkpoint_sync);
  store_options.sync_interval_ms = c.checkpoint_sync_interval_ms;
  auto opened = JobStore::open(out_dir + "/db", store_options);
  if (!opened) {
    std::fprintf(stderr, "veriforge: %s\n", opened.error().c_str());
    return 2;
  }
  std::shared_ptr<JobStore> store = std::move(opened.value());
  std::string config_text = describe(c);
  if (has_log) {
    auto logged_version = store->get_meta("format_version");
    if (logged_version && logged_version.value() && *logged_version.value() != std::to_string(kFormatVersion)) {
      std::fprintf(stderr, "veriforge: %s/db was written by log format %s; this build reads format %u\n",
                   out_dir.c_str(), logged_version.value()->c_str(), kFormatVersion);
      return 1;
    }
    auto logged_mode = store->get_meta("checkpoint_log");
    if (logged_mode && logged_mode.value() && *logged_mode.value() == "false") {
      std::fprintf(stderr,
                   "veriforge: the job in %s ran without a checkpoint log (checkpoint.log = false) and cannot be "
                   "resumed; choose a new --out folder\n",
                   out_dir.c_str());
      return 1;
    }
    if (auto why = compare_with_log(*store, config_text, seeds.content_hash, force); !why.empty()) {
      std::fprintf(stderr, "veriforge: %s\n", why.c_str());
      return 1;
    }
  }
  Invocation inv{fs::current_path(ec).string(), config_arg, out_dir, overrides, skip_invalid};
  LogBatch meta;
  for (auto [k, v] : std::initializer_list<std::pair<std::string, std::string>>{
           {"format_version", std::to_string(kFormatVersion)},
           {"job_name", c.name},
           {"config", config_text},
           {"seed_hash", std::to_string(seeds.content_hash)},
           {"target_accepted", std::to_string(c.target_accepted)},
           {"checkpoint_log", c.checkpoint_log ? "true" : "false"},
           {"invocation", to_json(inv)}})
    meta.put_meta(k, v);
  if (auto s = store->write(meta); !s) {
    std::fprintf(stderr, "veriforge: %s\n", s.error().c_str());
    return 2;
  }

  setup_logging(out_dir + "/veriforge.log", log_level);
  apply_config(c, seeds.seeds, {out_dir}, spec);
  if (source) spec.source = std::move(source);
  if (!spec.check) {
    auto policies = equivalence_policies(c);  // validated by load_config
    spec.check = make_check("execution", {c.max_answer_chars, policies.value()});
  }
  spec.writer.mode = WriterMode::kDataset;
  spec.writer.out_dir = out_dir;
  spec.writer.target = c.target_accepted;
  spec.store = store;
  if (!c.checkpoint_log) spec.store = nullptr;  // the writer still keeps its progress in `store`
  spec.writer.store = store;
  spec.audit = AuditTrail::from_env();
  auto resume = prepare_resume(spec);
  if (!resume) {
    std::fprintf(stderr, "veriforge: cannot resume the job in %s: %s\n", out_dir.c_str(), resume.error().c_str());
    return 2;
  }
  if (resume->finished) {
    auto summary = store->get_meta("summary");
    auto s = summary && summary.value() ? nlohmann::json::parse(*summary.value(), nullptr, false) : nlohmann::json();
    std::printf("job %s already finished: %llu accepted, %llu rejected; outputs in %s (nothing to do)\n",
                c.name.c_str(), (unsigned long long)resume->accepted, (unsigned long long)resume->rejected,
                out_dir.c_str());
    return s.is_object() && !s.value("target_met", true) ? 3 : 0;
  }
  if (!resume->fresh) {
    std::fprintf(stderr, "veriforge: resuming job %s: %llu generated, %zu in flight, %llu accepted so far\n",
                 c.name.c_str(), (unsigned long long)resume->issued, resume->in_flight,
                 (unsigned long long)resume->accepted);
    spdlog::info("event=job-resume job={} generated={} in_flight={} accepted={} rejected={}", c.name, resume->issued,
                 resume->in_flight, resume->accepted, resume->rejected);
  } else {
    spdlog::info("event=job-start job={} generator={} seeds={} target_accepted={} out={}", c.name, c.generator,
                 seeds.seeds.size(), c.target_accepted, out_dir);
  }
  store.reset();  // the job's stages hold it from here on
  auto generator_client = spec.generator_client;  // kept to read their usage after the job
  auto solver_client = spec.solver_client;
  JobOutcome outcome = run_with_progress(std::move(spec), no_progress, false);
  if (generator_client || solver_client) add_model_usage(out_dir, generator_client.get(), solver_client.get(), outcome);
  if (!outcome.ok && g_interrupted) {
    std::fprintf(stderr,
                 "veriforge: interrupted; the records written so far are in %s, and the same command resumes the "
                 "job\n",
                 out_dir.c_str());
    return 130;
  }
  if (!outcome.ok) {
    std::fprintf(stderr,
                 "veriforge: job failed: %s (details in %s/veriforge.log; what was committed is kept, and the same "
                 "command resumes the job once the cause is fixed)\n",
                 outcome.error.c_str(), out_dir.c_str());
    return 2;
  }
  const auto& s = outcome.summary;
  std::printf("job %s: %llu accepted, %llu rejected, %llu generated in %.1f s (%.1f accepted/s)\n", c.name.c_str(),
              (unsigned long long)s.value("accepted", 0ull), (unsigned long long)s.value("rejected", 0ull),
              (unsigned long long)s.value("generated", 0ull), s.value("elapsed_s", 0.0),
              s.value("accepted_per_s", 0.0));
  if (s.contains("rejection_reasons") && !s["rejection_reasons"].empty()) {
    std::printf("rejections:");
    for (auto& [r, n] : s["rejection_reasons"].items()) std::printf(" %s=%llu", r.c_str(), (unsigned long long)n.get<uint64_t>());
    std::printf("\n");
  }
  std::printf("outputs: %s/accepted.jsonl, %s/rejected.jsonl, %s/summary.json\n", out_dir.c_str(), out_dir.c_str(),
              out_dir.c_str());
  if (!s.value("target_met", false)) {
    std::fprintf(stderr, "veriforge: the job ended (%s) before reaching target_accepted = %llu\n",
                 s.value("end_reason", std::string("unknown")).c_str(), (unsigned long long)c.target_accepted);
    return 3;
  }
  return 0;
}

// `veriforge resume DIR`: the run command the job in DIR was started with.
int cmd_resume(const std::string& dir, bool no_progress, const std::string& log_level, bool force) {
  std::string invocation;
  {
    auto store = JobStore::open_read_only(dir + "/db");
    if (!store) {
      std::fprintf(stderr, "veriforge resume: %s\n", store.error().c_str());
      return 1;
    }
    auto inv = store.value()->get_meta("invocation");
    if (!inv || !inv.value()) {
      std::fprintf(stderr, "veriforge resume: %s/db does not say how the job was started\n", dir.c_str());
      return 1;
    }
    invocation = *inv.value();
  }
  auto j = nlohmann::json::parse(invocation, nullptr, false);
  if (!j.is_object()) {
    std::fprintf(stderr, "veriforge resume: %s/db: the logged invocation does not parse\n", dir.c_str());
    return 1;
  }
  // The same command, from the same folder: relative paths mean what they meant.
  std::string cwd = j.value("cwd", std::string()), config_path = j.value("config", std::string()),
              out = j.value("out", std::string());
  std::error_code ec;
  if (!cwd.empty()) fs::current_path(cwd, ec);
  if (ec) {
    std::fprintf(stderr, "veriforge resume: the job was started in %s, which is gone: %s\n", cwd.c_str(),
                 ec.message().c_str());
    return 1;
  }
  if (!fs::exists(config_path, ec)) {
    std::fprintf(stderr, "veriforge resume: the job's config %s (in %s) is gone; run `veriforge run CONFIG --out %s`\n",
                 config_path.c_str(), cwd.c_str(), dir.c_str());
    return 1;
  }
  std::string shown = "veriforge run " + config_path + " --out " + out;
  for (const auto& o : j.value("set", std::vector<std::string>{})) shown += " --set " + o;
  std::printf("resuming: %s (in %s)\n", shown.c_str(), cwd.c_str());
  std::fflush(stdout);
  return cmd_run(config_path, out, j.value("set", std::vector<std::string>{}), j.value("skip_invalid_seeds", false),
                 no_progress, log_level, force);
}

int cmd_verify_seeds(const std::vector<std::string>& paths, const std::string& out_file,
                     const std::string& mismatches_file, const std::string& config_path, const std::vector<std::string>& overrides, bool skip_invalid,
                     bool no_progress, const std::string& log_level) {
  auto config = load_config(config_path, overrides);
  if (!config) {
    std::fprintf(stderr, "veriforge: config error: %s\n", config.error().c_str());
    return 1;
  }
  JobConfig& c = config.value();
  SeedSet seeds;
  if (!load_and_check_seeds(paths, skip_invalid || c.skip_invalid_seeds, seeds)) return 1;
  setup_logging("", log_level);
  for (const auto* file : {&out_file, &mismatches_file}) {
    if (file->empty()) continue;
    std::error_code ec;
    auto parent = fs::path(*file).parent_path();
    if (!parent.empty()) fs::create_directories(parent, ec);
    std::FILE* f = std::fopen(file->c_str(), "w");  // a fresh report each run
    if (!f) {
      std::fprintf(stderr, "veriforge: cannot write %s: %s\n", file->c_str(), std::strerror(errno));
      return 1;
    }
    std::fclose(f);
  }
  JobSpec spec;
  std::vector<std::string> hide;
  if (!out_file.empty()) hide.push_back(out_file);
  if (!mismatches_file.empty()) hide.push_back(mismatches_file);
  apply_config(c, seeds.seeds, hide, spec);
  spec.generator.max_items = 0;
  spec.executor.runs_per_item = 1;
  spec.source = std::make_shared<SeedSource>(seeds.seeds, distribution_modules(c));
  auto policies = equivalence_policies(c);  // validated by load_config
  spec.check = make_check("seed-match", {c.max_answer_chars, policies.value()});
  spec.writer.mode = WriterMode::kSeedCheck;
  spec.writer.results_file = out_file;
  spec.writer.mismatches_file = mismatches_file;
  JobOutcome outcome = run_with_progress(std::move(spec), no_progress, true);
  if (!outcome.ok) {
    std::fprintf(stderr, "veriforge: verify-seeds failed: %s\n", outcome.error.c_str());
    return 2;
  }
  std::printf("%s", outcome.summary.value("table", std::string()).c_str());
  std::printf("%llu items in %.1f s\n", (unsigned long long)outcome.summary.value("items", 0ull),
              outcome.summary.value("elapsed_s", 0.0));
  if (!out_file.empty()) std::printf("results: %s\n", out_file.c_str());
  if (!mismatches_file.empty()) std::printf("mismatches: %s\n", mismatches_file.c_str());
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  // A file-size limit (or a full quota) must fail a write with an error we
  // report, not kill the process mid-record.
  std::signal(SIGXFSZ, SIG_IGN);
  CLI::App app{"veriforge: turns a small vetted seed dataset into a large verified synthetic dataset.\n"};
  app.require_subcommand(1);
  app.footer("Run 'veriforge SUBCOMMAND --help' for a subcommand's options.");
  std::string log_level = "info";
  bool no_progress = false;

  auto* run = app.add_subcommand("run", "Run a generation job: seeds -> generator -> executor -> verifier -> writer.");
  std::string config_path, out_dir;
  std::vector<std::string> overrides;
  bool skip_invalid = false;
  run->add_option("config", config_path, "Job config (TOML), e.g. configs/local.toml")->required()->check(CLI::ExistingFile);
  run->add_option("--out", out_dir, "Output folder: accepted.jsonl, rejected.jsonl, summary.json, db/, veriforge.log");
  run->add_option("--set", overrides, "Override a config key, e.g. --set target_accepted=500 (repeatable)");
  run->add_flag("--skip-invalid-seeds", skip_invalid, "Run on the valid seed items, reporting the invalid ones");
  run->add_flag("--no-progress", no_progress, "No progress line on the terminal");
  run->add_option("--log-level", log_level, "Log level of DIR/veriforge.log (trace, debug, info, warn, error)");
  bool force = false;
  run->add_flag("--force", force, "Resume the job in --out even though its config or seeds changed");
  run->footer(keys_help());

  auto* resume = app.add_subcommand("resume", "Resume the job in DIR with the command it was started with.");
  std::string job_dir;
  resume->add_option("dir", job_dir, "The job's output folder")->required();
  resume->add_flag("--force", force, "Resume even though the job's config file or seeds changed");
  resume->add_flag("--no-progress", no_progress, "No progress line on the terminal");
  resume->add_option("--log-level", log_level, "Log level of DIR/veriforge.log");

  bool as_json = false;
  auto* status = app.add_subcommand("status", "Print a job's progress from its checkpoint log (also while it runs).");
  status->add_option("dir", job_dir, "The job's output folder")->required();
  status->add_flag("--json", as_json, "One JSON object instead of the table");
  auto* check = app.add_subcommand("check", "Check that a job's checkpoint log and output files agree.");
  check->add_option("dir", job_dir, "The job's output folder")->required();
  check->add_flag("--json", as_json, "One JSON object instead of text");

  auto* verify = app.add_subcommand(
      "verify-seeds", "Execute every seed's rationale, compare with its final_answer, print a per-domain table.");
  std::vector<std::string> seed_paths;
  std::string results_file, mismatches_file, verify_config;
  verify->add_option("seeds", seed_paths, "Seed files or folders (JSON array or JSON Lines)")->required();
  verify->add_option("--out", results_file, "Write one JSON line per seed here: status, output, match, equivalence");
  verify->add_option("--mismatches", mismatches_file,
                     "Write the executed seeds whose output is not equivalent to final_answer here (JSON lines)");
  verify->add_option("--config", verify_config, "Take executor settings from this config")->check(CLI::ExistingFile);
  verify->add_option("--set", overrides, "Override a config key, e.g. --set executor.timeout_s=30");
  verify->add_flag("--skip-invalid-seeds", skip_invalid, "Check the valid items, reporting the invalid ones");
  verify->add_flag("--no-progress", no_progress, "No progress line on the terminal");
  verify->add_option("--log-level", log_level, "Log level on the terminal");

  auto* equiv = app.add_subcommand(
      "equiv", "Judge whether answers are equivalent: one pair (--gold/--pred) or a JSONL file of cases (--cases).");
  EquivArgs eq;
  equiv->add_option("--gold", eq.gold, "Reference answer (LaTeX, sympy output, plain text)")
      ->each([&](const std::string&) { eq.have_gold = true; });
  equiv->add_option("--pred", eq.pred, "Predicted answer, or a chain-of-thought response to extract it from")
      ->each([&](const std::string&) { eq.have_pred = true; });
  equiv->add_option("--cases", eq.cases_file, "JSONL records {id, gold, pred[, expected][, domain]}")
      ->check(CLI::ExistingFile);
  equiv->add_option("--out", eq.out_file, "With --cases: write the JSON lines here instead of stdout");
  equiv->add_option("--config", eq.config_path, "Take equivalence policies from this job config")
      ->check(CLI::ExistingFile);
  equiv->add_option("--set", eq.overrides, "Override a config key, e.g. --set equivalence.symbolic_rel=1e-4");
  equiv->add_option("--policy", eq.policy, "Default policy settings, e.g. \"integer_gold=significant-figures\"");
  equiv->add_option("--domain", eq.domain, "With --gold/--pred: apply this domain's policy");
  equiv->add_option("--extract", eq.extract, "Reading the prediction: auto (default), always (chain of thought), never");
  equiv->add_option("--fallback", eq.fallback, "With --extract always and no marker: none (default), last-line, whole");
  equiv->add_flag("--json", eq.json, "With --gold/--pred: print the verdict as one JSON line");

  auto* keys = app.add_subcommand("config-keys", "List every config key with its type, default and meaning.");

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? 0 : 1;
  }
  if (*keys) {
    std::printf("%s", keys_help().c_str());
    return 0;
  }
  if (*run) return cmd_run(config_path, out_dir, overrides, skip_invalid, no_progress, log_level, force);
  if (*resume) return cmd_resume(job_dir, no_progress, log_level, force);
  if (*status) return cmd_status(job_dir, as_json);
  if (*check) return cmd_check(job_dir, as_json);
  if (*verify)
    return cmd_verify_seeds(seed_paths, results_file, mismatches_file, verify_config, overrides, skip_invalid,
                            no_progress, log_level);
  if (*equiv) return cmd_equiv(eq);
  return 1;
}
