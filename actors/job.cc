#include "actors/job.h"

#include <filesystem>
#include <set>

#include <spdlog/spdlog.h>

namespace vf {

namespace {
std::map<std::string, std::string> parse_pairs(const std::vector<std::string>& entries,
                                               std::map<std::string, std::string> base = {}) {
  for (const auto& e : entries) {
    auto eq = e.find('=');
    if (eq != std::string::npos) base[e.substr(0, eq)] = e.substr(eq + 1);
  }
  return base;
}
}  // namespace

std::map<std::string, std::string> distribution_modules(const JobConfig& c) {
  return parse_pairs(c.distribution_modules, sandbox::default_distribution_modules());
}

sandbox::SandboxOptions sandbox_options(const JobConfig& c, const std::vector<Seed>& seeds,
                                        const std::vector<std::string>& hide_paths) {
  sandbox::SandboxOptions o;
  o.python = c.python;
  o.workers = c.executor_workers;
  o.contain = c.contain;
  o.aliases = parse_pairs(c.import_aliases);
  o.uid_base = c.uid_base;
  o.tmp_mb = c.tmp_mb;
  auto dist = distribution_modules(c);
  std::set<std::string> modules(c.preimport.begin(), c.preimport.end());
  for (const auto& s : seeds)
    for (const auto& m : required_modules(s, dist)) modules.insert(m);
  o.preimport.assign(modules.begin(), modules.end());
  o.hide_paths = {"/root", "/home", "/etc/shadow", "/etc/gshadow"};
  for (const auto& p : hide_paths) o.hide_paths.push_back(std::filesystem::absolute(p).lexically_normal().string());
  return o;
}

void apply_config(const JobConfig& c, const std::vector<Seed>& seeds, const std::vector<std::string>& hide_paths,
                  JobSpec& spec) {
  spec.generator.max_items = c.effective_max_generated();
  spec.generator.batch_size = c.batch_size;
  spec.generator.report_interval_ms = c.progress_interval_ms;
  spec.executor.mode =
      c.sandbox_mode == "fresh-interpreter" ? sandbox::SandboxMode::kFreshInterpreter : sandbox::SandboxMode::kForkServer;
  spec.executor.sandbox = sandbox_options(c, seeds, hide_paths);
  spec.executor.limits.wall_timeout_s = c.timeout_s;
  spec.executor.limits.cpu_seconds = c.cpu_seconds;
  spec.executor.limits.address_space_mb = c.memory_mb;
  spec.executor.limits.max_output_bytes = c.max_output_bytes;
  spec.executor.limits.max_file_bytes = c.max_file_mb << 20;
  spec.executor.limits.max_processes = c.max_processes;
  spec.executor.runs_per_item = c.runs_per_item;
  spec.executor.capacity = c.executor_credits;
  spec.executor.batch_size = c.batch_size;
  spec.executor.report_interval_ms = c.progress_interval_ms;
  spec.verifier.capacity = c.verifier_credits;
  spec.verifier.batch_size = c.batch_size;
  spec.verifier.report_interval_ms = c.progress_interval_ms;
  spec.writer.capacity = c.writer_credits;
  spec.writer.sync = c.sync_writes;
  spec.writer.delay_ms = c.writer_delay_ms;
  spec.writer.report_interval_ms = c.progress_interval_ms;
  spec.writer.job_name = c.name;
}

JobOutcome run_job(JobSpec spec) {
  JobOutcome outcome;
  caf::actor_system_config cfg;
  wire::register_wire_types(cfg);
  if (spec.scheduler_threads) cfg.set("scheduler.max-threads", static_cast<size_t>(spec.scheduler_threads));
  auto executor = sandbox::make_executor(spec.executor.mode, spec.executor.sandbox);
  if (!executor) {
    outcome.error = executor.error();
    return outcome;
  }
  std::shared_ptr<sandbox::Executor> pool = std::move(executor.value());
  caf::actor_system sys{cfg};
  {
    caf::scoped_actor self{sys};
    auto monitor = caf::actor_cast<wire::monitor_actor>(self);
    auto writer = spawn_writer(sys, spec.writer, monitor);
    auto verifier = spawn_verifier(sys, spec.check, spec.verifier, writer, monitor);
    auto executor = spawn_executor_stage(sys, spec.executor, std::move(pool), verifier, monitor);
    auto generator = spawn_generator(sys, spec.source, spec.generator, executor, monitor);
    spec.source.reset();  // the generator owns it now
    std::map<caf::actor_addr, std::string> names = {{writer.address(), "writer"},
                                                    {verifier.address(), "verifier"},
                                                    {executor.address(), "executor"},
                                                    {generator.address(), "generator"}};
    for (const auto& [addr, _] : names) self->monitor(caf::actor_cast<caf::actor>(addr));

    auto stop_all = [&](caf::exit_reason why) {
      self->send_exit(generator, why);
      self->send_exit(executor, why);
      self->send_exit(verifier, why);
      self->send_exit(writer, why);
    };
    bool done = false;
    self->receive_while([&] { return !done; })(
        [&](const wire::stage_report_msg& m) {
          if (auto r = wire::unpack(m)) {
            outcome.stages[r->stage] = *r;
            if (spec.on_progress) spec.on_progress(outcome.stages);
          }
        },
        [&](const wire::job_report_msg& m) {
          done = true;
          auto r = wire::unpack(m);
          if (!r) {
            outcome.error = r.error();
            return;
          }
          outcome.ok = r->ok;
          outcome.error = r->error;
          if (!r->summary_json.empty()) outcome.summary = nlohmann::json::parse(r->summary_json, nullptr, false);
        },
        [&](const caf::down_msg& d) {
          if (d.reason && d.reason != caf::exit_reason::normal) {
            outcome.error = "stage " + names[d.source] + " stopped: " + sys.render(d.reason);
            done = true;
          }
        },
        caf::after(std::chrono::milliseconds(200)) >>
            [&] {
              if (spec.interrupt && spec.interrupt->load()) {
                outcome.error = "interrupted";
                done = true;
              }
            });
    if (!outcome.ok) stop_all(caf::exit_reason::user_shutdown);
    // Drain the last reports that raced with the job report.
    bool draining = true;
    self->receive_while([&] { return draining; })(
        [&](const wire::stage_report_msg& m) {
          if (auto r = wire::unpack(m)) outcome.stages[r->stage] = *r;
        },
        [&](const caf::down_msg&) {}, caf::after(std::chrono::milliseconds(0)) >> [&] { draining = false; });
  }
  return outcome;
}

}  // namespace vf
