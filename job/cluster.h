// Cluster runs: the coordinator's side of `run --listen` and the worker
// node (`veriforge worker --join`).
//
// The coordinator is the usual job (Job::run) with the middleman loaded and
// a registry published (actors/registry.h): nodes that prove the cluster
// token get the job's plan and work spec and offer work actors, which the
// dispatchers lease to like their local ones. Durability does not change:
// every result is logged in the coordinator's log before its item moves on.
//
// A worker node holds nothing the job would lose: it connects, proves the
// token, builds its own sandbox pool and model clients (its [[endpoints]],
// e.g. its local vLLM), offers one work actor per stage it serves, and sends
// heartbeats with its counters. When the coordinator goes away it tears its
// actors down and reconnects with backoff (the restarted coordinator resumes
// from its log); when the job ends it exits 0; on SIGTERM it leaves (its
// leases go back to the coordinator's queue) and exits 0.
#pragma once

#include <mutex>
#include <utility>
#include <vector>

#include <atomic>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include <caf/all.hpp>

#include "actors/pipeline.h"
#include "actors/wire.h"
#include "base/status.h"
#include "dataflow/config.h"

namespace vf {

struct ListenAddress {
  std::string host;
  uint16_t port = 0;  // 0: any free port (printed)
};

// "HOST:PORT" (or "[V6]:PORT"); errors name the text.
Expected<ListenAddress> parse_listen_address(const std::string& text);
bool is_loopback(const std::string& host);

// The cluster token: cluster.token_file's content (trimmed), else
// VERIFORGE_CLUSTER_TOKEN; "" when neither. Errors name the file.
Expected<std::string> cluster_token(const ClusterSection& cluster);

// Loads the middleman with the heartbeat settings (CAF 0.17.6 ships both
// switched off, so a frozen peer would never be noticed).
void configure_middleman(caf::actor_system_config& cfg, const ClusterSection& cluster);

// An operator's node controls (from the console's thread), carried to the
// registry by the coordinator's wait loop. Thread-safe: `mu_` guards the queue.
class NodeCommands {
 public:
  void push(uint32_t node, std::string action) {
    std::lock_guard<std::mutex> lock(mu_);
    queue_.emplace_back(node, std::move(action));
  }
  std::vector<std::pair<uint32_t, std::string>> take() {
    std::lock_guard<std::mutex> lock(mu_);
    return std::exchange(queue_, {});
  }

 private:
  std::mutex mu_;
  std::vector<std::pair<uint32_t, std::string>> queue_;
};

struct CoordinatorOptions {
  ListenAddress listen;
  std::string token;
  ClusterSection cluster;
  // What a welcomed node is told about the job: its name and config (text,
  // origin, base folder, overrides); the plan and work spec are added here.
  wire::Welcome job;
  std::function<void(uint16_t)> on_listening;  // with the port it got
  // Endpoints whose rate budget is for the whole cluster ([[endpoints]] shared = true).
  std::vector<SharedEndpoint> shared_endpoints;
  // This process's model clients, when it works too (they get their share).
  LocalWork local_clients;
  // Node controls from the console (may be null).
  std::shared_ptr<NodeCommands> node_commands;
};

// The pipeline in an actor system with the middleman, its registry
// published on o.listen; when the job ends every node is told to leave.
// `log` also receives the node table (m/nodes).
Expected<PipelineOutcome> run_coordinator(const PipelinePlan& plan, const WorkSpec& work, CoordinatorParts parts,
                                          LocalWork local, const RunControl& control, std::shared_ptr<JobLog> log,
                                          CoordinatorOptions o);

struct WorkerRequest {
  ListenAddress coordinator;
  std::string config_path;             // the node's own settings (may be empty)
  std::vector<std::string> overrides;  // --set key=value for them
  std::string name;                    // empty: host:pid
  const std::atomic<bool>* stop = nullptr;  // SIGTERM/SIGINT: leave and exit
  uint32_t connect_timeout_ms = 5000;
  uint32_t max_backoff_ms = 8000;
  uint32_t give_up_after_s = 600;      // no coordinator for this long: exit 2
};

// Runs the worker node until the job ends (0), it is told it leaves or is
// stopped (0), it is refused (wrong token, wire version: 1, message
// printed), or no coordinator answers for give_up_after_s (2).
int run_worker(const WorkerRequest& request);

}  // namespace vf
