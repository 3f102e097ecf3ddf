// veriforge: command-line entry point. Parses arguments, calls the job
// library (job/), prints. Nothing here decides how a job runs.
//
//   veriforge run CONFIG --out DIR [--set key=value]... [--force]   (resumes the job in DIR)
//   veriforge resume DIR | status DIR | check DIR
//   veriforge console DIR [--listen HOST:PORT]   (read-only console of a job that ended)
//   veriforge ctl --console URL | --dir DIR COMMAND
//   veriforge verify-seeds FILE_OR_DIR... [--out FILE] [--mismatches FILE] [--config CONFIG] [--set key=value]...
//   veriforge equiv --gold G --pred P | --cases FILE.jsonl
//   veriforge config-keys
//
// Exit codes: 0 success; 1 invalid input (seeds, config, arguments, a job
// folder that holds another job); 2 the job failed (storage, sandbox,
// internal error); 3 the job ended before reaching target_accepted (seeds
// exhausted or max_generated hit); 130 interrupted (SIGINT/SIGTERM).
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <thread>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <filesystem>

#include <CLI/CLI.hpp>
#include <spdlog/spdlog.h>

#include "actors/wire.h"
#include "dataflow/config.h"
#include "job/cluster.h"
#include "job/job.h"
#include "job/logging.h"
#include "job/seed_check.h"
#include "tools/cli/ctl_cmd.h"
#include "job/console_link.h"
#include "tools/cli/equiv_cmd.h"
#include "tools/cli/job_cmds.h"

namespace fs = std::filesystem;
using namespace vf;

namespace {

std::atomic<bool> g_interrupted{false};

void on_signal(int) { g_interrupted = true; }

std::string keys_help() {
  std::string out = "Config keys (TOML; override any with --set key=value):\n";
  for (const auto& k : config_keys()) {
    out += "  " + k.key + " (" + k.type + ", default " + (k.default_value.empty() ? "\"\"" : k.default_value) +
           (k.effect == KeyEffect::kOperational ? "; may change when resuming" : "") + ")\n      " + k.description +
           "\n";
  }
  return out;
}

// 1 for what the user must fix, 2 for what failed underneath.
int exit_code(ErrorCode code) {
  switch (code) {
    case ErrorCode::kInvalidInput:
    case ErrorCode::kUnsupported:
    case ErrorCode::kNotFound:
      return 1;
    default:
      return 2;
  }
}

void print_notes(const std::vector<std::string>& notes) {
  for (const auto& n : notes) {
    bool seed_line = n.rfind("seed error:", 0) == 0;
    std::fprintf(stderr, "%s%s\n", seed_line ? "" : "veriforge: ", n.c_str());
  }
}

class ProgressLine {
 public:
  explicit ProgressLine(bool enabled) : enabled_(enabled), start_(std::chrono::steady_clock::now()) {}
  void update(const std::map<std::string, wire::StageReport>& stages, bool seed_check) {
    if (!enabled_) return;
    auto get = [&](const char* s) {
      auto it = stages.find(s);
      return it == stages.end() ? wire::StageReport{} : it->second;
    };
    double t = std::max(1e-3, std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count());
    auto g = get("generator"), w = get("writer"), e = get("executor");
    if (seed_check) {
      std::fprintf(stderr, "\r[%6.1fs] executed %llu (%.1f/s)   ", t, (unsigned long long)w.received, w.received / t);
    } else {
      std::fprintf(stderr,
                   "\r[%6.1fs] generated %llu (%.1f/s)  executing %u  accepted %llu (%.1f/s)  rejected %llu (%.1f/s)   ",
                   t, (unsigned long long)g.sent, g.sent / t, e.held, (unsigned long long)w.accepted, w.accepted / t,
                   (unsigned long long)w.rejected, w.rejected / t);
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

// Progress on a terminal, and Ctrl-C / SIGTERM stopping the job cleanly.
RunControl run_control(ProgressLine& progress, bool seed_check) {
  RunControl control;
  control.on_progress = [&progress, seed_check](const auto& stages) { progress.update(stages, seed_check); };
  control.interrupt = &g_interrupted;
  std::signal(SIGINT, on_signal);
  std::signal(SIGTERM, on_signal);
  return control;
}

int cmd_worker(const std::string& join, const std::string& config, const std::vector<std::string>& overrides,
               const std::string& name, uint32_t give_up_s, const std::string& log_level) {
  auto address = parse_listen_address(join);
  if (!address) {
    std::fprintf(stderr, "veriforge worker: --join %s\n", address.error().c_str());
    return 1;
  }
  WorkerRequest r;
  r.coordinator = address.value();
  r.config_path = config;
  r.overrides = overrides;
  r.name = name;
  r.give_up_after_s = give_up_s;
  r.stop = &g_interrupted;
  std::signal(SIGINT, on_signal);
  std::signal(SIGTERM, on_signal);
  setup_worker_logging(log_level, name.empty() ? "worker-" + std::to_string(getpid()) : name);
  return run_worker(r);
}

int cmd_run(JobRequest request, bool no_progress, const std::string& log_level) {
  if (!request.listen.empty()) {
    std::string host = request.listen.substr(0, request.listen.rfind(':'));
    request.on_listening = [host](uint16_t port) {
      std::fprintf(stderr, "veriforge: coordinator listening on %s:%u\n", host.c_str(), port);
      std::fflush(stderr);
    };
  }
  std::vector<std::string> notes;
  auto prepared = Job::prepare(request, notes);
  print_notes(notes);
  if (!prepared) {
    std::fprintf(stderr, "veriforge: %s\n", prepared.error().c_str());
    return exit_code(prepared.code());
  }
  Job& job = *prepared.value();
  if (auto s = job.open(); !s) {
    const char* prefix = s.code() == ErrorCode::kInvalidInput || s.code() == ErrorCode::kUnsupported
                             ? ""
                             : "cannot open the job: ";
    std::fprintf(stderr, "veriforge: %s%s\n", prefix, s.error().c_str());
    return exit_code(s.code());
  }
  const JobConfig& c = job.config();
  const std::string& out = job.out_dir();
  setup_logging(out + "/veriforge.log", log_level, request.listen.empty() ? "" : "coordinator");
  const auto& state = job.state();
  if (state.finished) {
    auto summary = job.finished_summary();
    if (!summary) {
      std::fprintf(stderr, "veriforge: %s\n", summary.error().c_str());
      return 2;
    }
    std::printf("job %s already finished: %llu accepted, %llu rejected; outputs in %s (nothing to do)\n",
                c.job.name.c_str(), (unsigned long long)state.accepted, (unsigned long long)state.rejected,
                out.c_str());
    return summary->value("target_met", true) ? 0 : 3;
  }
  if (!state.fresh) {
    std::fprintf(stderr, "veriforge: resuming job %s: %llu generated, %zu in flight, %llu accepted so far\n",
                 c.job.name.c_str(), (unsigned long long)state.issued, state.in_flight,
                 (unsigned long long)state.accepted);
    spdlog::info("event=job-resume job={} generated={} in_flight={} accepted={} rejected={}", c.job.name,
                 state.issued, state.in_flight, state.accepted, state.rejected);
  } else {
    spdlog::info("event=job-start job={} generator={} seeds={} target_accepted={} out={}", c.job.name,
                 c.generator.kind, job.seed_count(), c.job.target_accepted, out);
  }
  ProgressLine progress(!no_progress && isatty(STDERR_FILENO));
  JobResult result = job.run(run_control(progress, false));
  progress.finish();
  if (!result.ok && result.interrupted) {
    std::fprintf(stderr,
                 "veriforge: interrupted; the records written so far are in %s, and the same command resumes the "
                 "job\n",
                 out.c_str());
    return 130;
  }
  if (!result.ok) {
    std::fprintf(stderr,
                 "veriforge: job failed: %s (details in %s/veriforge.log; what was committed is kept, and the same "
                 "command resumes the job once the cause is fixed)\n",
                 result.error.c_str(), out.c_str());
    return 2;
  }
  const auto& s = result.summary;
  if (s.contains("model_usage"))
    std::printf("model usage: %llu prompt + %llu completion tokens\n",
                (unsigned long long)s["model_usage"]["total"].value("prompt_tokens", 0ull),
                (unsigned long long)s["model_usage"]["total"].value("completion_tokens", 0ull));
  std::printf("job %s: %llu accepted, %llu rejected, %llu generated in %.1f s (%.1f accepted/s)\n", c.job.name.c_str(),
              (unsigned long long)s.value("accepted", 0ull), (unsigned long long)s.value("rejected", 0ull),
              (unsigned long long)s.value("generated", 0ull), s.value("elapsed_s", 0.0),
              s.value("accepted_per_s", 0.0));
  if (s.contains("rejection_reasons") && !s["rejection_reasons"].empty()) {
    std::printf("rejections:");
    for (auto& [r, n] : s["rejection_reasons"].items())
      std::printf(" %s=%llu", r.c_str(), (unsigned long long)n.get<uint64_t>());
    std::printf("\n");
  }
  std::printf("outputs: %s/accepted.jsonl, %s/rejected.jsonl, %s/summary.json\n", out.c_str(), out.c_str(),
              out.c_str());
  if (!result.target_met()) {
    std::fprintf(stderr, "veriforge: the job ended (%s) before reaching target_accepted = %llu\n",
                 s.value("end_reason", std::string("unknown")).c_str(), (unsigned long long)c.job.target_accepted);
    return 3;
  }
  return 0;
}

// `veriforge resume DIR`: the run command the job in DIR was started with,
// from the folder it was started in.
int cmd_resume(const std::string& dir, bool no_progress, const std::string& log_level, bool force) {
  auto request = logged_request(dir);
  if (!request) {
    std::fprintf(stderr, "veriforge resume: %s\n", request.error().c_str());
    return 1;
  }
  JobRequest& r = request.value();
  std::error_code ec;
  if (!r.cwd.empty()) fs::current_path(r.cwd, ec);
  if (ec) {
    std::fprintf(stderr, "veriforge resume: the job was started in %s, which is gone: %s\n", r.cwd.c_str(),
                 ec.message().c_str());
    return 1;
  }
  if (!fs::exists(r.config_path, ec)) {
    std::fprintf(stderr, "veriforge resume: the job's config %s (in %s) is gone; run `veriforge run CONFIG --out %s`\n",
                 r.config_path.c_str(), r.cwd.c_str(), dir.c_str());
    return 1;
  }
  std::string shown = "veriforge run " + r.config_path + " --out " + r.out_dir;
  for (const auto& o : r.overrides) shown += " --set " + o;
  std::printf("resuming: %s (in %s)\n", shown.c_str(), r.cwd.c_str());
  std::fflush(stdout);
  r.force = force;
  return cmd_run(r, no_progress, log_level);
}

int cmd_verify_seeds(const SeedCheckRequest& request, bool no_progress, const std::string& log_level) {
  setup_logging("", log_level);
  std::vector<std::string> notes;
  ProgressLine progress(!no_progress && isatty(STDERR_FILENO));
  auto summary = run_seed_check(request, run_control(progress, true), notes);
  progress.finish();
  print_notes(notes);
  if (!summary) {
    if (summary.code() == ErrorCode::kInvalidInput) {
      std::fprintf(stderr, "veriforge: %s\n", summary.error().c_str());
      return 1;
    }
    std::fprintf(stderr, "veriforge: verify-seeds failed: %s\n", summary.error().c_str());
    return 2;
  }
  std::printf("%s", summary->value("table", std::string()).c_str());
  std::printf("%llu items in %.1f s\n", (unsigned long long)summary->value("items", 0ull),
              summary->value("elapsed_s", 0.0));
  if (!request.results_file.empty()) std::printf("results: %s\n", request.results_file.c_str());
  if (!request.mismatches_file.empty()) std::printf("mismatches: %s\n", request.mismatches_file.c_str());
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
  app.set_version_flag("--version",
                       std::string("veriforge ") + VF_VERSION + " (cluster protocol " +
                           std::to_string(wire::kClusterProtocol) + ", wire format " + std::to_string(kFormatVersion) +
                           ")");
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
  std::string listen;
  run->add_option("--listen", listen,
                  "Coordinate a cluster: accept worker nodes on HOST:PORT (they join with 'veriforge worker "
                  "--join'); beyond loopback it needs VERIFORGE_CLUSTER_TOKEN or cluster.token_file");
  std::string console_listen;
  run->add_option("--console", console_listen,
                  "Serve the operator console at HOST:PORT (port 0: any free port); the URL is printed and written "
                  "to DIR/console.url, the token for controls is VERIFORGE_CONSOLE_TOKEN or DIR/console.token");
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
  CtlRequest ctl_request;
  auto* ctl = app.add_subcommand("ctl", "Control a running job through its console: pause, resume, drain, stop, "
                                        "stop-now, status, set KEY=VALUE, node ID cordon|uncordon|drain|remove.");
  ctl->add_option("--console", ctl_request.console_url, "The console's URL (printed at start, in DIR/console.url)");
  ctl->add_option("--dir", ctl_request.dir, "A job folder: its console.url and console.token");
  ctl->add_option("--token", ctl_request.token, "The console token (else VERIFORGE_CONSOLE_TOKEN, else DIR/console.token)");
  ctl->add_option("command", ctl_request.command,
                  "pause | resume | drain | stop | stop-now | status | set KEY=VALUE | node ID ACTION")
      ->required();
  std::string review_listen = "127.0.0.1:0";
  auto* review = app.add_subcommand("console", "Serve the console, read-only, for a job that has ended or crashed "
                                               "(from its checkpoint log and outputs).");
  review->add_option("dir", job_dir, "The job's output folder")->required();
  review->add_option("--listen", review_listen, "HOST:PORT to serve on (port 0: any free port)");
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

  auto* worker = app.add_subcommand(
      "worker", "Join a coordinator (run --listen) as a worker node: execute, solve, verify for its job.");
  std::string join, worker_config, node_name;
  uint32_t give_up_s = 600;
  worker->add_option("--join", join, "The coordinator's HOST:PORT")->required();
  worker->add_option("--config", worker_config,
                     "This node's settings (TOML): [worker] name, stages; [[endpoints]], [executor], [sandbox], "
                     "[model], [cluster]")
      ->check(CLI::ExistingFile);
  worker->add_option("--set", overrides, "Override one of this node's keys, e.g. --set executor.workers=8");
  worker->add_option("--name", node_name, "This node's name in status and logs (default host:pid)");
  worker->add_option("--give-up-after", give_up_s, "Exit 2 when no coordinator answered for this many seconds");
  worker->add_option("--log-level", log_level, "Log level on stderr (trace, debug, info, warn, error)");

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
  if (*run) {
    JobRequest r;
    r.config_path = config_path;
    r.out_dir = out_dir;
    r.overrides = overrides;
    r.skip_invalid_seeds = skip_invalid;
    r.force = force;
    r.listen = listen;
    r.console = console_listen;
    std::error_code ec;
    r.cwd = fs::current_path(ec).string();
    return cmd_run(r, no_progress, log_level);
  }
  if (*resume) return cmd_resume(job_dir, no_progress, log_level, force);
  if (*status) return cmd_status(job_dir, as_json);
  if (*check) return cmd_check(job_dir, as_json);
  if (*ctl) return cmd_ctl(ctl_request);
  if (*review) {
    std::signal(SIGINT, on_signal);
    std::signal(SIGTERM, on_signal);
    auto server = serve_ended_job(job_dir, review_listen);
    if (!server) {
      std::fprintf(stderr, "veriforge: %s\n", server.error().c_str());
      return 1;
    }
    std::printf("veriforge: console of %s (read-only) at %s\n", job_dir.c_str(), server.value()->url().c_str());
    std::fflush(stdout);
    while (!g_interrupted) std::this_thread::sleep_for(std::chrono::milliseconds(200));
    return 0;
  }
  if (*verify)
    return cmd_verify_seeds({seed_paths, results_file, mismatches_file, verify_config, overrides, skip_invalid},
                            no_progress, log_level);
  if (*equiv) return cmd_equiv(eq);
  if (*worker) return cmd_worker(join, worker_config, overrides, node_name, give_up_s, log_level);
  return 1;
}
