// NodeTable: the coordinator's view of the worker nodes of a job, as the
// registry keeps it and `veriforge status` shows it (logged as m/nodes).
//
// A node's state follows from what was last heard of it:
//   active     heartbeats arrive
//   suspected  no heartbeat for more than 3 intervals (frozen, or the link is slow)
//   lost       its connection broke (killed, cut off and noticed by the middleman's
//              heartbeat timeout): its leases went back to the queue
//   failing    its last cluster.worker_failure_limit items failed (sandbox, endpoint)
//   draining   it announced it leaves (SIGTERM), or an operator drains it: it gets no new work
//   cordoned   an operator cordoned it: no new work until uncordoned
//   drained    an operator drained it and its last lease came back: it was told to leave
//   removed    an operator removed it: its leases went back to the queue, it was told to leave
//   left       it left, or the job ended
//   refused    it could not prove the cluster token, or spoke another wire version
// Pure; not thread-safe (lives inside the registry actor).
#pragma once

#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <vector>

#include <msgpack.hpp>
#include <nlohmann/json.hpp>

namespace vf {

struct NodeInfo {
  uint32_t id = 0;
  std::string name;     // what the worker calls itself (host:pid by default)
  std::string address;  // CAF node id (host hash and pid)
  std::string state;    // see above
  std::vector<std::string> roles;  // stage names it works for
  uint32_t capacity = 0;           // items it may hold, all roles
  uint32_t cores = 0;
  uint64_t leases_held = 0;
  uint64_t items_done = 0;
  uint64_t failures = 0;
  int64_t joined_ms = 0;      // wall clock, ms since the epoch
  int64_t last_beat_ms = 0;
  std::string note;           // why it was lost or refused
  MSGPACK_DEFINE(id, name, address, state, roles, capacity, cores, leases_held, items_done, failures, joined_ms,
                 last_beat_ms, note)
};

class NodeTable {
 public:
  // A node that proved the token; returns its id (1, 2, ...).
  uint32_t admit(std::string name, std::string address, uint32_t cores, int64_t now_ms);
  // A node refused before it got an id (kept, last 20, for status).
  void refuse(std::string name, std::string address, std::string why, int64_t now_ms);
  void joined(uint32_t id, std::vector<std::string> roles, uint32_t capacity);
  // A node whose failures in a row reach `failure_limit` is shown failing
  // (its dispatchers have taken it out of rotation), and active again once
  // it succeeds.
  void beat(uint32_t id, uint64_t held, uint64_t done, uint64_t failures, uint64_t failures_in_a_row,
            uint64_t failure_limit, int64_t now_ms);
  void set_state(uint32_t id, const std::string& state, const std::string& note = "");
  // Marks active nodes silent for more than 3 intervals suspected, and
  // suspected ones heard again active. A node admitted but never joined
  // (cut off between the welcome and its join: no work actor of it exists
  // to be watched) is lost once silent for `unjoined_lost_ms` (0: never);
  // should its join still arrive, joined() makes it active again.
  // True when a state changed.
  bool age(int64_t now_ms, int64_t heartbeat_ms, int64_t unjoined_lost_ms = 0);

  const NodeInfo* find(uint32_t id) const;
  std::vector<NodeInfo> nodes() const;  // admitted ones by id, then the refused
  size_t live() const;                  // active or suspected or draining

 private:
  std::map<uint32_t, NodeInfo> nodes_;
  std::vector<NodeInfo> refused_;
  std::set<uint32_t> unjoined_;  // admitted, no join yet
  uint32_t next_id_ = 1;
};

nlohmann::json to_json(const NodeInfo& n);

// One node's share of a shared endpoint's rate budget.
struct EndpointShare {
  std::string endpoint;
  double requests_per_minute = 0;  // 0: unlimited
  double tokens_per_minute = 0;
  MSGPACK_DEFINE(endpoint, requests_per_minute, tokens_per_minute)
};

// A shared endpoint's budget split evenly among the nodes that call it:
//   sum over nodes of a share == the endpoint's budget (never more), and a
// limit of 0 (unlimited) stays 0. `nodes` == 0 gives the whole budget.
struct SharedEndpoint {
  std::string name;
  double requests_per_minute = 0;
  double tokens_per_minute = 0;
};
std::vector<EndpointShare> split_rate_budget(const std::vector<SharedEndpoint>& shared, size_t nodes);

}  // namespace vf
