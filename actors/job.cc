#include "actors/job.h"

#include <spdlog/spdlog.h>

namespace vf {

JobOutcome run_job(JobSpec spec) {
  JobOutcome outcome;
  caf::actor_system_config cfg;
  wire::register_wire_types(cfg);
  if (spec.scheduler_threads) cfg.set("scheduler.max-threads", static_cast<size_t>(spec.scheduler_threads));
  caf::actor_system sys{cfg};
  {
    caf::scoped_actor self{sys};
    auto monitor = caf::actor_cast<wire::monitor_actor>(self);
    auto writer = spawn_writer(sys, spec.writer, monitor);
    auto verifier = spawn_verifier(sys, spec.check, spec.verifier, writer, monitor);
    auto executor = spawn_executor_stage(sys, spec.executor, verifier, monitor);
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
