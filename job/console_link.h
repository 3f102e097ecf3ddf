// The running job's side of the operator console: turns the pipeline's
// progress reports into the snapshot the console serves, and the console's
// controls into what the pipeline obeys (RunControl::pause, ::stop_now),
// recording each control in the checkpoint log so it survives a restart.
//
//   ConsoleLink link(settings, store, config, out_dir);  // starts the server, writes console.url / console.token
//   control.pause = link.pause_flag(); control.stop_now = link.stop_flag();
//   control.on_progress = [&](auto& stages) { link.update(stages); };
//
// Threads: update() on the job's thread; the server's hooks on the console's
// thread; `mu_` guards the snapshot. The flags are atomics the pipeline polls.
// Lifetime: outlives the run; the destructor stops the server.
#pragma once

#include <atomic>
#include <chrono>
#include <map>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>

#include "actors/wire.h"
#include "base/histogram.h"
#include "base/status.h"
#include "console/server.h"
#include "dataflow/config.h"
#include "job/console_views.h"
#include "storage/job_store.h"

namespace vf::model {
class ModelClient;
}
namespace vf::sandbox {
class MeteredExecutor;
}

namespace prometheus {
class Registry;
}

namespace vf {

// Meta keys of the console's records in the checkpoint log.
namespace meta {
inline constexpr const char* kConsolePaused = "console.paused";    // "1" while an operator's pause holds
inline constexpr const char* kConsoleControls = "console.controls"; // JSON array: what, when, from where
inline constexpr const char* kConsoleSettings = "console.settings"; // JSON object: key -> value set while running
}  // namespace meta

// The limits an operator may change while the job runs (POST /api/v1/job/set),
// each checked and recorded, and applied again when the job restarts:
//   target_accepted                        raise only, before the target is covered
//   endpoints.NAME.max_in_flight           >= 1: the ceiling of its adaptive limit
//   endpoints.NAME.requests_per_minute     >= 0 (0: unlimited)
//   endpoints.NAME.tokens_per_minute       >= 0 (0: unlimited)
//   executor.concurrency                   1 .. the sandbox's workers
// Returns the value to record, or an error naming the key or the value.
struct SettingTargets {
  uint64_t target = 0;      // the current target
  bool covered = false;     // the writer already saw it covered
  std::map<std::string, int> endpoints;  // endpoint name -> its current max_in_flight (known endpoints)
  unsigned executor_workers = 0;         // 0: no sandbox here
};
Expected<nlohmann::json> check_setting(const std::string& key, const nlohmann::json& value, const SettingTargets& t);

// What the console reads besides the stage reports (all optional).
struct ConsoleSources {
  std::shared_ptr<model::ModelClient> generator_client;
  std::shared_ptr<model::ModelClient> solver_client;
  std::weak_ptr<sandbox::MeteredExecutor> executor;
  std::vector<EndpointSpec> endpoints;  // for prices and the config view
  std::string described_config;         // describe(config)
  std::function<nlohmann::json()> nodes;  // the cluster's node table (coordinator)
  // Hands a node control (cordon, uncordon, drain, remove) to the
  // coordinator; null in a single-process job.
  std::function<void(uint32_t node, const std::string& action)> node_control;
};

struct ConsoleLinkSettings {
  std::string listen;  // HOST:PORT (port 0: any free port)
  bool read_only = false;
};

class ConsoleLink {
 public:
  // Starts the console. The token: VERIFORGE_CONSOLE_TOKEN, else DIR/console.token
  // (made with 32 random bytes, mode 0600, when absent). Writes DIR/console.url.
  static Expected<std::unique_ptr<ConsoleLink>> start(const ConsoleLinkSettings& settings,
                                                      std::shared_ptr<JobStore> store, const JobConfig& config,
                                                      const std::string& out_dir);
  ~ConsoleLink();

  // Whether the log holds an operator's pause (the job restarts paused).
  bool paused() const { return paused_.load(); }
  const std::atomic<bool>* pause_flag() const { return &paused_; }
  const std::atomic<bool>* stop_flag() const { return &stop_now_; }
  const std::atomic<bool>* drain_flag() const { return &drain_; }
  const std::atomic<uint64_t>* target_flag() const { return &target_raised_; }
  const std::atomic<uint64_t>* max_items_flag() const { return &max_items_; }
  std::string url() const;

  // Where the views read from; call before the run starts.
  void attach(ConsoleSources sources);
  // Takes up a target an operator raised in an earlier session (the log's
  // console.settings; the job applies them all, apply_logged_settings()).
  void reapply_settings();

  void update(const std::map<std::string, wire::StageReport>& stages);
  // The Prometheus text exposition of the job's metrics (veriforge_ prefix).
  std::string metrics() const;
  void finished(bool ok, const std::string& error);

 private:
  ConsoleLink();
  nlohmann::json snapshot() const;
  ConsoleSources current_sources() const;  // a copy, under mu_
  console::Reply view(const std::string& name, const std::string& query);
  nlohmann::json endpoints_view() const;
  nlohmann::json sandbox_view() const;
  nlohmann::json config_view() const;
  console::Reply control(const console::ControlRequest& c);
  console::Reply set(const console::ControlRequest& c);
  console::Reply node_control(const console::ControlRequest& c);
  bool apply_setting(const std::string& key, const nlohmann::json& value);
  Status record(const console::ControlRequest& c, const std::string& outcome,
                const nlohmann::json& setting = nullptr);

  std::shared_ptr<JobStore> store_;
  std::string job_name_;
  uint64_t target_ = 0;
  std::string out_dir_;
  std::chrono::steady_clock::time_point started_ = std::chrono::steady_clock::now();
  std::atomic<bool> paused_{false};
  std::atomic<bool> stop_now_{false};
  std::atomic<bool> drain_{false};
  std::atomic<uint64_t> target_raised_{0};
  std::atomic<uint64_t> max_items_{0};
  uint64_t max_generated_ = 0;  // configured (0: derived from the target, x20)
  std::unique_ptr<OutputViews> outputs_;
  mutable std::mutex mu_;  // guards everything below
  ConsoleSources sources_;  // attach() may race the first requests
  std::map<std::string, wire::StageReport> stages_;
  std::map<std::string, std::pair<double, uint64_t>> last_in_;   // stage -> (seconds, received) a tick ago
  std::map<std::string, std::pair<double, uint64_t>> last_out_;  // stage -> (seconds, sent) a tick ago
  std::map<std::string, double> in_rate_, out_rate_;
  std::string end_state_;  // "finished" / "failed" once the run returned
  std::map<std::string, double> latency_sum_seen_;  // stage -> the last report's latency sum (counted once)
  std::string end_error_;
  std::shared_ptr<prometheus::Registry> registry_;  // thread-safe itself
  struct Metrics;
  std::unique_ptr<Metrics> metrics_;  // under mu_
  std::unique_ptr<console::ConsoleServer> server_;  // last: stopped first
};

// The settings operators made while the job ran (console.settings), as logged.
nlohmann::json logged_console_settings(JobStore& store);
// Applies one setting other than target_accepted to the clients and the
// executor in `sources`; false when nothing here takes it.
bool apply_live_setting(const ConsoleSources& sources, const std::string& key, const nlohmann::json& value);

// `veriforge console DIR`: the same page and API, read-only, for a job that
// ended or crashed, from its checkpoint log (opened read-only) and its output
// files. The job snapshot is job_status(DIR) (taken at most once a second);
// the warnings are the last warning and error lines of DIR/veriforge.log.
// Every control is refused (403, read-only).
Expected<std::unique_ptr<console::ConsoleServer>> serve_ended_job(const std::string& dir, const std::string& listen);

}  // namespace vf
