#include "job/job.h"

#include <algorithm>

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include <spdlog/spdlog.h>

#include "dataflow/checkpoint.h"
#include "job/cluster.h"
#include "job/console_link.h"
#include "sandbox/metered.h"
#include "dataflow/output_recovery.h"
#include "model/client.h"
#include "storage/codec.h"
#include "storage/group_commit.h"
#include "storage/job_log.h"

namespace vf {
namespace fs = std::filesystem;

namespace {

std::string invocation_json(const JobRequest& r, const std::string& out_dir) {
  return nlohmann::json{{"cwd", r.cwd},
                        {"config", r.config_path},
                        {"out", out_dir},
                        {"set", r.overrides},
                        {"skip_invalid_seeds", r.skip_invalid_seeds},
                        {"listen", r.listen}}
      .dump();
}

// Compares the logged job with this run's config and seeds; ok when they
// match (or `force`, which logs what changed), else kInvalidInput naming each change.
Status compare_with_log(JobStore& store, const std::string& config_text, uint64_t seed_hash, bool force) {
  auto logged_config = store.get_meta(meta::kConfig);
  if (!logged_config) return logged_config.failure();
  auto logged_seeds = store.get_meta(meta::kSeedHash);
  if (!logged_seeds) return logged_seeds.failure();
  std::vector<std::string> changes;
  if (logged_config.value()) changes = config_differences(*logged_config.value(), config_text);
  if (logged_seeds.value() && *logged_seeds.value() != std::to_string(seed_hash))
    changes.push_back("seeds: the seed files' content differs from the job's (content hash " + *logged_seeds.value() +
                      " -> " + std::to_string(seed_hash) + ")");
  if (changes.empty()) return {};
  std::string msg;
  for (const auto& c : changes) msg += "\n  " + c;
  if (force) {
    spdlog::warn("event=forced-resume changes=\"{}\"", msg);
    std::fprintf(stderr, "veriforge: --force: resuming under a changed config or seed set:%s\n", msg.c_str());
    return {};
  }
  return invalid_input("the job in this folder was started with a different config or seed set:" + msg +
                       "\nRun it with the config it started with, choose a new --out folder, or pass --force to "
                       "continue under the new settings (items already decided stay as they are).");
}

}  // namespace

Expected<JobRequest> logged_request(const std::string& dir) {
  std::string invocation;
  {
    auto store = JobStore::open_read_only(dir + "/db");
    if (!store) return store.failure();
    auto inv = store.value()->get_meta(meta::kInvocation);
    if (!inv) return inv.failure();
    if (!inv.value()) return not_found(dir + "/db does not say how the job was started");
    invocation = *inv.value();
  }
  auto j = nlohmann::json::parse(invocation, nullptr, false);
  if (!j.is_object()) return corruption(dir + "/db: the logged invocation does not parse");
  JobRequest r;
  r.cwd = j.value("cwd", std::string());
  r.config_path = j.value("config", std::string());
  r.out_dir = j.value("out", std::string());
  r.overrides = j.value("set", std::vector<std::string>{});
  r.skip_invalid_seeds = j.value("skip_invalid_seeds", false);
  r.listen = j.value("listen", std::string());
  return r;
}

std::vector<std::string> seed_problem_lines(const SeedSet& seeds, size_t limit) {
  std::vector<std::string> out;
  for (size_t i = 0; i < seeds.problems.size() && i < limit; ++i)
    out.push_back("seed error: " + seeds.problems[i].to_string());
  if (seeds.problems.size() > limit)
    out.push_back("seed error: ... and " + std::to_string(seeds.problems.size() - limit) + " more");
  return out;
}

std::vector<std::string> seed_warning_lines(const SeedSet& seeds, size_t limit) {
  // One line per file, field and message, naming the items it concerns.
  struct Group {
    const SeedProblem* first;
    std::vector<int64_t> items;
  };
  std::vector<Group> groups;
  for (const auto& w : seeds.warnings) {
    bool duplicate = w.message.rfind("duplicate of ", 0) == 0;  // each names its own pair
    auto it = std::find_if(groups.begin(), groups.end(), [&](const Group& g) {
      return !duplicate && g.first->file == w.file && g.first->field == w.field && g.first->message == w.message;
    });
    if (it == groups.end()) groups.push_back(Group{&w, {w.index}});
    else it->items.push_back(w.index);
  }
  std::vector<std::string> out;
  for (size_t i = 0; i < groups.size() && i < limit; ++i) {
    const Group& g = groups[i];
    std::string line = "seed warning: " + g.first->to_string();
    if (g.items.size() > 1) {
      line += " (" + std::to_string(g.items.size()) + " items: ";
      for (size_t k = 0; k < g.items.size() && k < 8; ++k) line += (k ? ", " : "") + std::to_string(g.items[k]);
      line += g.items.size() > 8 ? ", ...)" : ")";
    }
    out.push_back(std::move(line));
  }
  if (groups.size() > limit) out.push_back("seed warning: ... and " + std::to_string(groups.size() - limit) + " more");
  if (seeds.duplicates_dropped > 0)
    out.push_back("seed warning: " + std::to_string(seeds.duplicates_dropped) +
                  " exact duplicate item(s) dropped; " + std::to_string(seeds.seeds.size()) + " items kept");
  return out;
}

Expected<std::unique_ptr<Job>> Job::prepare(const JobRequest& request, std::vector<std::string>& notes) {
  std::unique_ptr<Job> job(new Job());
  job->request_ = request;
  auto config = load_config(request.config_path, request.overrides);
  if (!config) return invalid_input("config error: " + config.error());
  JobConfig& c = job->config_ = std::move(config.value());
  if (request.skip_invalid_seeds) c.job.skip_invalid_seeds = true;
  job->out_dir_ = request.out_dir.empty() ? c.job.out_dir : request.out_dir;
  if (job->out_dir_.empty()) return invalid_input("no output folder: pass --out DIR (or set out_dir in the config)");

  job->seeds_ = load_seeds(c.job.seeds);
  const SeedSet& seeds = job->seeds_;
  for (auto& line : seed_warning_lines(seeds)) notes.push_back(std::move(line));
  if (!seeds.problems.empty()) {
    for (auto& line : seed_problem_lines(seeds)) notes.push_back(std::move(line));
    if (!c.job.skip_invalid_seeds)
      return invalid_input(std::to_string(seeds.problems.size()) +
                           " problem(s) in the seeds; nothing was written. Fix them, or pass --skip-invalid-seeds "
                           "(or set skip_invalid_seeds = true) to run on the " +
                           std::to_string(seeds.seeds.size()) + " valid items.");
    notes.push_back("skipping invalid seed items; " + std::to_string(seeds.seeds.size()) + " valid of " +
                    std::to_string(seeds.items_read) + " read");
    if (seeds.seeds.empty()) return invalid_input("no valid seed items to run on");
  }

  std::error_code ec;
  const std::string& out = job->out_dir_;
  if (!fs::exists(out + "/db/CURRENT", ec) &&
      (fs::exists(out + "/accepted.jsonl", ec) || fs::exists(out + "/rejected.jsonl", ec)))
    return invalid_input(out + " holds job outputs but no checkpoint log (" + out +
                         "/db); it cannot be resumed. Choose a new --out folder (nothing was changed)");

  if (!request.listen.empty()) {
    auto address = parse_listen_address(request.listen);
    if (!address) return invalid_input("--listen " + address.error());
    auto token = cluster_token(c.cluster);
    if (!token) return invalid_input(token.error());
    if (token.value().empty() && !is_loopback(address.value().host))
      return invalid_input("--listen " + request.listen +
                           ": listening beyond loopback needs a cluster token (VERIFORGE_CLUSTER_TOKEN or "
                           "cluster.token_file); nothing was written");
    job->cluster_token_ = std::move(token.value());
  }

  job->plan_ = make_plan(c, JobKind::kGenerate);
  if (!request.listen.empty() && !c.cluster.local_workers)
    for (auto& stage : job->plan_.stages) stage.local_workers = 0;
  auto work = make_work_spec(c, seeds.seeds, JobKind::kGenerate);
  if (!work) return invalid_input("config error: " + work.error());
  job->work_ = std::move(work.value());
  auto local = make_model_clients(c, job->plan_);
  if (!local) return invalid_input("config error: " + local.error());
  job->local_ = std::move(local.value());
  auto source = make_source(c, seeds.seeds, JobKind::kGenerate);
  if (!source) return source.failure();
  job->source_ = std::move(source.value());
  job->similarity_ = make_similarity_filter(c, seeds.seeds);
  return job;
}

Job::~Job() = default;

Status Job::open() {
  std::error_code ec;
  bool has_log = fs::exists(out_dir_ + "/db/CURRENT", ec);
  fs::create_directories(out_dir_, ec);
  if (ec) return io_error("cannot create " + out_dir_ + ": " + ec.message());
  if (::access(out_dir_.c_str(), W_OK) != 0) return io_error("cannot write to " + out_dir_ + ": " + std::strerror(errno));

  JobStoreOptions options;
  // A job without the stage log cannot resume: nothing it writes needs to be durable.
  options.sync = config_.checkpoint.log ? *parse_sync_policy(config_.checkpoint.sync) : SyncPolicy::kNone;
  options.sync_interval_ms = config_.checkpoint.sync_interval_ms;
  options.env = request_.env;
  auto opened = JobStore::open(out_dir_ + "/db", options);
  if (!opened) return opened.failure();
  store_ = std::move(opened.value());
  std::string config_text = describe(config_);
  if (has_log) {
    auto version = store_->get_meta(meta::kFormatVersion);
    if (version && version.value() && *version.value() != std::to_string(kFormatVersion))
      return Error{out_dir_ + "/db was written by log format " + *version.value() + "; this build reads format " +
                       std::to_string(kFormatVersion),
                   ErrorCode::kUnsupported};
    auto mode = store_->get_meta(meta::kCheckpointLog);
    if (mode && mode.value() && *mode.value() == "false")
      return invalid_input("the job in " + out_dir_ +
                           " ran without a checkpoint log (checkpoint.log = false) and cannot be resumed; choose a "
                           "new --out folder");
    if (auto s = compare_with_log(*store_, config_text, seeds_.content_hash, request_.force); !s) return s;
  }
  LogBatch metadata;
  for (auto [k, v] : std::initializer_list<std::pair<const char*, std::string>>{
           {meta::kFormatVersion, std::to_string(kFormatVersion)},
           {meta::kJobName, config_.job.name},
           {meta::kConfig, config_text},
           {meta::kSeedHash, std::to_string(seeds_.content_hash)},
           {meta::kTargetAccepted, std::to_string(config_.job.target_accepted)},
           {meta::kCheckpointLog, config_.checkpoint.log ? "true" : "false"},
           {meta::kInvocation, invocation_json(request_, out_dir_)}})
    metadata.put_meta(k, v);
  if (auto s = store_->write(metadata); !s) return s;

  // The lines a crash left past the committed lengths: adopted where the log
  // stands behind them (a reader may have seen them), cut where it does not.
  if (has_log && config_.checkpoint.log)
    if (auto s = recover_outputs(); !s) return s;

  // Recovery: the source continues from its logged progress, the similarity
  // pool from its logged questions, the generator re-sends the in-flight items.
  if (config_.checkpoint.log) {
    if (auto s = source_->bind(*store_); !s) return s;
    if (similarity_)
      if (auto s = similarity_->load(*store_); !s) return s;
  }
  auto r = recover(*store_);
  if (!r) return r.failure();
  state_.fresh = r->fresh;
  state_.issued = r->generator.issued;
  state_.in_flight = r->in_flight.size();
  if (r->writer) {
    state_.finished = r->writer->finished;
    state_.accepted = r->writer->tally.total_accepted();
    state_.rejected = r->writer->tally.total_rejected();
    target_covered_ = r->writer->gate.accepted_known >= config_.job.target_accepted;
  }
  resume_from_ = r->generator;
  in_flight_ = std::move(r->in_flight);
  return {};
}

Status Job::recover_outputs() {
  auto logged = store_->get_meta(meta::kWriter);
  if (!logged) return logged.failure();
  std::optional<WriterCheckpoint> committed;
  if (logged.value()) {
    auto c = decode<WriterCheckpoint>(*logged.value(), "writer checkpoint (m/writer)");
    if (!c) return corruption("job store " + store_->path() + ": " + c.error());
    committed = std::move(c.value());
  }
  Env* env = request_.env;
  OutputTails tails;
  bool any = false;
  for (const auto& name : output_file_names()) {
    std::string path = out_dir_ + "/" + name;
    uint64_t length = committed ? committed->file_lengths[name] : 0;
    auto size = env->file_size(path);
    if (!size) {
      if (size.code() != ErrorCode::kNotFound) return size.failure();
      if (length > 0)
        return corruption(path + ": missing, but the checkpoint log committed " + std::to_string(length) +
                          " bytes of it: committed records were lost outside veriforge; restore the file or start a "
                          "new job");
      continue;
    }
    if (*size < length) continue;  // the writer reports a file shorter than committed, naming it
    if (*size == length) continue;
    auto bytes = env->read(path, length, *size - length);
    if (!bytes) return bytes.failure();
    tails.past_committed[name] = std::move(bytes.value());
    any = true;
  }
  if (!any) return {};
  auto lookup = [&](uint64_t id) -> std::optional<Item> {
    for (auto read : {&JobStore::item, &JobStore::parked}) {
      auto bytes = ((*store_).*read)(id);
      if (!bytes || !bytes.value()) continue;
      auto item = decode<Item>(**bytes, "logged item");
      if (item) return std::move(item.value());
    }
    return std::nullopt;
  };
  auto plan = plan_output_recovery(committed, tails, lookup, config_.job.name, config_.job.target_accepted,
                                   source_->wants_feedback());
  if (!plan) return plan.failure();
  for (const auto& note : plan->notes) spdlog::warn("event=output-recovery note=\"{}\"", note);
  if (plan->log.empty()) return {};  // nothing adopted: the writer cuts the tails when it opens the files
  // Cut what cannot be kept, append what is missing, make it durable, then commit.
  for (const auto& name : output_file_names()) {
    std::string path = out_dir_ + "/" + name;
    uint64_t appended = 0;
    for (const auto& line : plan->append[name]) appended += line.size() + 1;
    uint64_t keep = plan->new_lengths[name] - appended;
    auto size = env->file_size(path);
    if (size && *size > keep)
      if (auto s = env->truncate(path, keep); !s) return s;
    if (appended == 0) continue;
    auto file = env->open_appendable(path);
    if (!file) return file.failure();
    std::string text;
    for (const auto& line : plan->append[name]) text += line + "\n";
    if (auto s = (*file)->append(text); !s) return s;
    if (store_->sync_policy() != SyncPolicy::kNone)
      if (auto s = (*file)->sync(); !s) return s;
  }
  if (auto s = store_->write(plan->log); !s) return s;
  spdlog::info("event=outputs-adopted accepted={} rejected={} written_now={} cut_bytes={}", plan->adopted_accepted,
               plan->adopted_rejected, plan->written_now, plan->cut_bytes);
  return {};
}

Expected<nlohmann::json> Job::finished_summary() {
  auto logged = store_->get_meta(meta::kSummary);
  if (!logged) return logged.failure();
  nlohmann::json summary =
      logged.value() ? nlohmann::json::parse(*logged.value(), nullptr, false) : nlohmann::json::object();
  if (!summary.is_object()) return corruption("job store " + store_->path() + ": the logged summary does not parse");
  std::error_code ec;
  if (!fs::exists(out_dir_ + "/summary.json", ec))
    if (auto s = write_file_atomically(out_dir_ + "/summary.json", summary.dump(2) + "\n"); !s) return s.failure();
  return summary;
}

JobResult Job::run(const RunControl& control) {
  JobResult result;
  if (auto s = start_sandbox(local_, config_, work_, {out_dir_}); !s) {
    result.error = s.error();
    return result;
  }
  CoordinatorParts parts;
  // One committer for every stage: their commits share fsyncs.
  auto log = std::make_shared<GroupCommitLog>(store_);
  if (config_.checkpoint.log) parts.stage_log = log;
  parts.writer_log = log;
  parts.source = source_;
  parts.resume_from = resume_from_;
  parts.in_flight = std::move(in_flight_);
  parts.target_covered = target_covered_;
  parts.similarity = similarity_;
  parts.audit = local_.audit;
  parts.dataset.out_dir = out_dir_;
  parts.dataset.job_name = config_.job.name;
  parts.dataset.target = config_.job.target_accepted;
  parts.dataset.sync = config_.checkpoint.log && config_.checkpoint.sync != "none";
  parts.dataset.delay_ms = config_.writer.delay_ms;
  parts.dataset.curriculum = config_.writer.curriculum && config_.solves();
  parts.dataset.env = request_.env;
  LocalWork local = local_;
  local_.executor.reset();  // the workers own the pool; it goes with the actor system
  RunControl with_threads = control;
  if (!with_threads.scheduler_threads) with_threads.scheduler_threads = config_.pipeline.threads;
  // Limits operators changed from a console in earlier sessions hold again,
  // with or without a console now.
  ConsoleSources sources;
  sources.generator_client = local.generator_client;
  sources.solver_client = local.solver_client;
  sources.executor = std::dynamic_pointer_cast<sandbox::MeteredExecutor>(local.executor);
  const nlohmann::json logged_settings = logged_console_settings(*store_);
  for (const auto& [key, value] : logged_settings.items()) {
    if (key == "target_accepted") {
      uint64_t raised = value.get<uint64_t>();
      if (raised > parts.dataset.target) {
        parts.dataset.target = raised;
        if (!config_.job.max_generated) plan_.max_items = raised * 20;
      }
    } else {
      apply_live_setting(sources, key, value);
    }
    spdlog::info("component=console event=setting-reapplied key={} value={}", key, value.dump());
  }
  std::shared_ptr<NodeCommands> node_commands;
  if (!request_.listen.empty()) {
    node_commands = std::make_shared<NodeCommands>();
    sources.node_control = [node_commands](uint32_t node, const std::string& action) {
      node_commands->push(node, action);
    };
  }
  std::unique_ptr<ConsoleLink> console;
  std::string console_listen = request_.console.empty() ? config_.console.listen : request_.console;
  if (console_listen.empty()) {
    // Paused from a console, restarted without one: nothing could resume it,
    // so the pause is lifted, said and logged rather than left to hang.
    auto logged = store_->get_meta(meta::kConsolePaused);
    if (logged && logged.value() && *logged.value() == "1") {
      LogBatch lift;
      lift.put_meta(meta::kConsolePaused, "0");
      if (auto s = store_->write(lift); !s) {
        result.error = s.error();
        return result;
      }
      spdlog::warn("component=console event=pause-lifted reason=\"restarted without --console\"");
      std::fprintf(stderr,
                   "veriforge: this job was paused from its console; restarted without --console it runs (add "
                   "--console HOST:PORT to keep control)\n");
    }
  }
  if (!console_listen.empty()) {
    auto started = ConsoleLink::start({console_listen, config_.console.read_only}, store_, config_, out_dir_);
    if (!started) {
      result.error = started.error();
      return result;
    }
    console = std::move(started.value());
    std::fprintf(stderr, "veriforge: console at %s (token: VERIFORGE_CONSOLE_TOKEN or %s/console.token)\n",
                 console->url().c_str(), out_dir_.c_str());
    parts.start_paused = console->paused();
    if (console->paused())
      std::fprintf(stderr,
                   "veriforge: this job was paused from its console and stays paused: resume it there or with "
                   "'veriforge ctl --dir %s resume'\n",
                   out_dir_.c_str());
    with_threads.pause = console->pause_flag();
    with_threads.stop_now = console->stop_flag();
    with_threads.drain = console->drain_flag();
    with_threads.target = console->target_flag();
    with_threads.max_items = console->max_items_flag();
    console->attach(sources);
    console->reapply_settings();
    auto outer = control.on_progress;
    ConsoleLink* link = console.get();
    with_threads.on_progress = [outer, link](const std::map<std::string, wire::StageReport>& stages) {
      link->update(stages);
      if (outer) outer(stages);
    };
  }
  PipelineOutcome outcome;
  if (request_.listen.empty()) {
    outcome = run_pipeline(plan_, work_, std::move(parts), std::move(local), with_threads);
  } else {
    auto coordinated = run_coordinator(std::move(parts), std::move(local), with_threads, log, node_commands);
    if (!coordinated) {
      result.error = coordinated.error();
      return result;
    }
    outcome = std::move(coordinated.value());
  }
  result.ok = outcome.ok;
  result.error = outcome.error;
  result.interrupted = ((control.interrupt && control.interrupt->load()) ||
                        (console && (console->stop_flag()->load() || console->drain_flag()->load()))) &&
                       !outcome.ok;
  if (console) console->finished(outcome.ok, outcome.error);
  result.stages = std::move(outcome.stages);
  result.summary = std::move(outcome.summary);
  if (result.ok) {
    if (local_.generator_client || local_.solver_client)
      result.summary["model_usage"] = model_usage(local_.generator_client.get(), local_.solver_client.get());
    if (auto s = write_summary(result.summary); !s) {
      result.ok = false;
      result.error = s.error();
    }
  }
  return result;
}

Expected<PipelineOutcome> Job::run_coordinator(CoordinatorParts parts, LocalWork local, const RunControl& control,
                                               std::shared_ptr<JobLog> log,
                                               std::shared_ptr<NodeCommands> node_commands) {
  auto address = parse_listen_address(request_.listen);
  if (!address) return address.failure();
  CoordinatorOptions o;
  o.listen = address.value();
  o.token = cluster_token_;
  o.cluster = config_.cluster;
  o.on_listening = request_.on_listening;
  o.node_commands = std::move(node_commands);
  for (const auto& e : config_.endpoints)
    if (e.shared) o.shared_endpoints.push_back({e.name, e.requests_per_minute, e.tokens_per_minute});
  if (config_.cluster.local_workers) {
    o.local_clients.generator_client = local.generator_client;
    o.local_clients.solver_client = local.solver_client;
  }
  o.job.job_name = config_.job.name;
  std::ifstream in(request_.config_path);
  std::stringstream text;
  text << in.rdbuf();
  o.job.config_text = text.str();
  o.job.config_origin = request_.config_path;
  o.job.config_base = fs::absolute(fs::path(request_.config_path).parent_path()).string();
  o.job.overrides = request_.overrides;
  return vf::run_coordinator(plan_, work_, std::move(parts), std::move(local), control, std::move(log), std::move(o));
}

Status Job::write_summary(nlohmann::json& summary) {
  if (auto s = write_file_atomically(out_dir_ + "/summary.json", summary.dump(2) + "\n"); !s) return s;
  LogBatch b;
  b.put_meta(meta::kSummary, summary.dump());
  return store_->write(b);
}

nlohmann::json model_usage(const model::ModelClient* generator, const model::ModelClient* solver) {
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
    usage[stage] = {{"calls", s.calls},         {"completed", s.completed},     {"failed", s.failed},
                    {"prompt_tokens", sp},      {"completion_tokens", sc},      {"endpoints", endpoints}};
    prompt += sp;
    completion += sc;
  }
  usage["total"] = {{"prompt_tokens", prompt}, {"completion_tokens", completion}};
  return usage;
}

Status write_file_atomically(const std::string& path, const std::string& text) {
  std::string tmp = path + ".tmp";
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return io_error("cannot write " + tmp + ": " + std::strerror(errno));
  size_t done = 0;
  while (done < text.size()) {
    ssize_t n = ::write(fd, text.data() + done, text.size() - done);
    if (n < 0) {
      if (errno == EINTR) continue;
      int e = errno;
      ::close(fd);
      return io_error("cannot write " + tmp + ": " + std::strerror(e));
    }
    done += static_cast<size_t>(n);
  }
  if (::fsync(fd) != 0) {
    int e = errno;
    ::close(fd);
    return io_error("cannot sync " + tmp + ": " + std::strerror(e));
  }
  ::close(fd);
  if (::rename(tmp.c_str(), path.c_str()) != 0)
    return io_error("cannot rename " + tmp + " to " + path + ": " + std::strerror(errno));
  // The rename is durable once the folder is.
  auto dir = fs::path(path).parent_path().string();
  int dfd = ::open(dir.empty() ? "." : dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd >= 0) {
    ::fsync(dfd);
    ::close(dfd);
  }
  return {};
}

}  // namespace vf
