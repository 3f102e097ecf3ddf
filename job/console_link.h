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
#include "base/status.h"
#include "console/server.h"
#include "dataflow/config.h"
#include "storage/job_store.h"

namespace prometheus {
class Registry;
}

namespace vf {

// Meta keys of the console's records in the checkpoint log.
namespace meta {
inline constexpr const char* kConsolePaused = "console.paused";    // "1" while an operator's pause holds
inline constexpr const char* kConsoleControls = "console.controls"; // JSON array: what, when, from where
}  // namespace meta

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
  std::string url() const;

  void update(const std::map<std::string, wire::StageReport>& stages);
  // The Prometheus text exposition of the job's metrics (veriforge_ prefix).
  std::string metrics() const;
  void finished(bool ok, const std::string& error);

 private:
  ConsoleLink();
  nlohmann::json snapshot() const;
  console::Reply control(const console::ControlRequest& c);
  Status record(const console::ControlRequest& c, const std::string& outcome);

  std::shared_ptr<JobStore> store_;
  std::string job_name_;
  uint64_t target_ = 0;
  std::string out_dir_;
  std::chrono::steady_clock::time_point started_ = std::chrono::steady_clock::now();
  std::atomic<bool> paused_{false};
  std::atomic<bool> stop_now_{false};
  mutable std::mutex mu_;  // guards everything below
  std::map<std::string, wire::StageReport> stages_;
  std::map<std::string, std::pair<double, uint64_t>> last_in_;   // stage -> (seconds, received) a tick ago
  std::map<std::string, std::pair<double, uint64_t>> last_out_;  // stage -> (seconds, sent) a tick ago
  std::map<std::string, double> in_rate_, out_rate_;
  std::string end_state_;  // "finished" / "failed" once the run returned
  std::string end_error_;
  std::shared_ptr<prometheus::Registry> registry_;  // thread-safe itself
  struct Metrics;
  std::unique_ptr<Metrics> metrics_;  // under mu_
  std::unique_ptr<console::ConsoleServer> server_;  // last: stopped first
};

}  // namespace vf
