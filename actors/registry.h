// The registry: the coordinator's door for worker nodes (published on
// `run --listen`). It proves each node holds the cluster token before the
// node learns anything about the job (wire.h: Hello, Challenge, Proof,
// Welcome), hands the work actors a node offers (Join) to the dispatchers
// of their stages, and keeps the node table (dataflow/node_table.h) that
// `veriforge status` shows, logged as m/nodes whenever it changes.
//
// Hello and Proof are the only messages taken from a node that has not
// proved the token; Join, NodeBeat and Leave from any other peer are
// refused and logged. A node is lost when one of its actors goes down
// (killed: at once; frozen or cut off: when the middleman's heartbeat
// timeout breaks the connection); its dispatchers requeue its leases
// themselves. A Leave from this process (node 0) means the job ended: every
// node is told to leave.
//
// State lives in the actor; the handle must be kept until the job ends.
#pragma once

#include <functional>
#include <map>
#include <vector>
#include <memory>
#include <string>

#include <caf/all.hpp>

#include "actors/wire.h"
#include "dataflow/node_table.h"
#include "storage/job_log.h"

namespace vf {

struct RegistrySetup {
  std::string token;                                  // the cluster token ("" on loopback without one)
  std::map<std::string, wire::stage_actor> stages;    // dispatcher per stage name
  wire::Welcome job;                                  // what a welcomed node is told (ok, mac, node_id filled per node)
  std::shared_ptr<JobLog> log;                        // m/nodes goes here (null: not logged)
  uint32_t heartbeat_ms = 1000;
  uint32_t heartbeat_timeout_ms = 5000;  // an admitted node silent 2x this without joining is lost
  uint32_t failure_limit = 10;  // failures in a row that show a node failing
  // Shared endpoints' budgets, split among the nodes calling them (the
  // coordinator's own process counts when it has local workers: then
  // `apply_locally` gives it its share).
  std::vector<SharedEndpoint> shared_endpoints;
  bool local_workers = false;
  std::function<void(const std::vector<EndpointShare>&)> apply_locally;
};

wire::registry_actor spawn_registry(caf::actor_system& sys, RegistrySetup setup);

}  // namespace vf
