#include "dataflow/node_table.h"

#include <algorithm>

namespace vf {

uint32_t NodeTable::admit(std::string name, std::string address, uint32_t cores, int64_t now_ms) {
  NodeInfo n;
  n.id = next_id_++;
  n.name = std::move(name);
  n.address = std::move(address);
  n.state = "active";
  n.cores = cores;
  n.joined_ms = now_ms;
  n.last_beat_ms = now_ms;
  nodes_[n.id] = n;
  unjoined_.insert(n.id);
  return n.id;
}

void NodeTable::refuse(std::string name, std::string address, std::string why, int64_t now_ms) {
  NodeInfo n;
  n.name = std::move(name);
  n.address = std::move(address);
  n.state = "refused";
  n.note = std::move(why);
  n.joined_ms = now_ms;
  n.last_beat_ms = now_ms;
  refused_.push_back(std::move(n));
  if (refused_.size() > 20) refused_.erase(refused_.begin());
}

void NodeTable::joined(uint32_t id, std::vector<std::string> roles, uint32_t capacity) {
  auto it = nodes_.find(id);
  if (it == nodes_.end()) return;
  if (unjoined_.erase(id) && it->second.state == "lost") it->second.state = "active";
  it->second.roles = std::move(roles);
  it->second.capacity = capacity;
}

void NodeTable::beat(uint32_t id, uint64_t held, uint64_t done, uint64_t failures, uint64_t failures_in_a_row,
                     uint64_t failure_limit, int64_t now_ms) {
  auto it = nodes_.find(id);
  if (it == nodes_.end()) return;
  auto& n = it->second;
  if (n.state == "suspected") n.state = "active";
  if (n.state == "active" && failure_limit && failures_in_a_row >= failure_limit) n.state = "failing";
  if (n.state == "failing" && failures_in_a_row == 0) n.state = "active";
  n.leases_held = held;
  n.items_done = done;
  n.failures = failures;
  n.last_beat_ms = now_ms;
}

void NodeTable::set_state(uint32_t id, const std::string& state, const std::string& note) {
  auto it = nodes_.find(id);
  if (it == nodes_.end()) return;
  it->second.state = state;
  if (!note.empty()) it->second.note = note;
  if (state == "lost" || state == "left" || state == "removed" || state == "drained") it->second.leases_held = 0;
}

bool NodeTable::age(int64_t now_ms, int64_t heartbeat_ms, int64_t unjoined_lost_ms) {
  bool changed = false;
  for (auto& [id, n] : nodes_) {
    bool silent = now_ms - n.last_beat_ms > 3 * heartbeat_ms;
    if (unjoined_lost_ms > 0 && unjoined_.count(id) && (n.state == "active" || n.state == "suspected") &&
        now_ms - n.last_beat_ms > unjoined_lost_ms) {
      n.state = "lost";
      n.note = "admitted, never joined, silent";
      changed = true;
      continue;
    }
    if (n.state == "active" && silent) {
      n.state = "suspected";
      changed = true;
    } else if (n.state == "suspected" && !silent) {
      n.state = "active";
      changed = true;
    }
  }
  return changed;
}

const NodeInfo* NodeTable::find(uint32_t id) const {
  auto it = nodes_.find(id);
  return it == nodes_.end() ? nullptr : &it->second;
}

std::vector<NodeInfo> NodeTable::nodes() const {
  std::vector<NodeInfo> out;
  for (const auto& [_, n] : nodes_) out.push_back(n);
  out.insert(out.end(), refused_.begin(), refused_.end());
  return out;
}

size_t NodeTable::live() const {
  size_t n = 0;
  for (const auto& [_, x] : nodes_)
    if (x.state == "active" || x.state == "suspected" || x.state == "draining" || x.state == "failing") ++n;
  return n;
}

std::vector<EndpointShare> split_rate_budget(const std::vector<SharedEndpoint>& shared, size_t nodes) {
  double n = static_cast<double>(std::max<size_t>(1, nodes));
  std::vector<EndpointShare> out;
  for (const auto& e : shared) out.push_back({e.name, e.requests_per_minute / n, e.tokens_per_minute / n});
  return out;
}

nlohmann::json to_json(const NodeInfo& n) {
  return {{"id", n.id},
          {"name", n.name},
          {"address", n.address},
          {"state", n.state},
          {"roles", n.roles},
          {"capacity", n.capacity},
          {"cores", n.cores},
          {"leases_held", n.leases_held},
          {"items_done", n.items_done},
          {"failures", n.failures},
          {"joined_ms", n.joined_ms},
          {"last_heartbeat_ms", n.last_beat_ms},
          {"note", n.note}};
}

}  // namespace vf
