#include "actors/registry.h"

#include <chrono>
#include <set>

#include <spdlog/spdlog.h>

#include "base/token.h"
#include "dataflow/checkpoint.h"
#include "dataflow/node_table.h"
#include "storage/codec.h"

namespace vf {
namespace {

int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

class Registry : public wire::registry_actor::base {
 public:
  Registry(caf::actor_config& cfg, RegistrySetup setup) : wire::registry_actor::base(cfg), setup_(std::move(setup)) {}

  behavior_type make_behavior() override {
    set_down_handler([this](caf::down_msg& d) { on_down(d); });
    schedule_report();
    return {
        [this](wire::hello_msg& m) -> wire::challenge_msg { return on_hello(m); },
        [this](wire::proof_msg& m) -> wire::welcome_msg { return on_proof(m); },
        [this](wire::join_msg& m, std::vector<caf::actor>& actors) { on_join(m, actors); },
        [this](wire::node_beat_msg& m) -> wire::node_beat_msg {
          // The answer is the node's proof of contact (it fences itself without it).
          auto node = authenticated(m.ok() ? m.value.node_id : 0, "node_beat");
          if (!node) return wire::pack(wire::NodeBeat{});
          auto before = table_.find(node)->state;
          table_.beat(node, m.value.leases_held, m.value.items_done, m.value.failures, m.value.failures_in_a_row,
                      setup_.failure_limit, now_ms());
          if (table_.find(node)->state != before) {
            changed_ = true;
            spdlog::warn("event=node-state node={} state={} failures_in_a_row={}", node, table_.find(node)->state,
                         m.value.failures_in_a_row);
          }
          beats_changed_ = true;
          // A node an operator drains leaves once its last lease came back.
          if (draining_.count(node) && m.value.leases_held == 0) remove_node(node, "drained", "drained by an operator");
          return wire::pack(wire::NodeBeat{node, 0, 0, 0, 0});
        },
        [this](wire::leave_msg& m) -> wire::leave_msg { return on_leave(m); },
        [this](wire::node_control_atom, uint32_t id, std::string& action) { on_node_control(id, action); },
        [this](wire::report_due_msg&) {
          if (table_.age(now_ms(), setup_.heartbeat_ms, 2 * int64_t{setup_.heartbeat_timeout_ms})) changed_ = true;
          // A challenge never answered is forgotten: peers that say hello and
          // go away cannot grow this map.
          for (auto p = peers_.begin(); p != peers_.end();)
            p = now_ms() - p->second.challenged_ms > 2 * int64_t{setup_.heartbeat_timeout_ms} ? peers_.erase(p)
                                                                                              : std::next(p);
          // Counters reach the log every 2 s: status shows them while the job runs.
          if (beats_changed_ && now_ms() - counters_logged_ms_ >= 2000) {
            changed_ = true;
            beats_changed_ = false;
            counters_logged_ms_ = now_ms();
          }
          log_nodes();
          schedule_report();
        },
    };
  }

  void on_exit() override {
    setup_.stages.clear();
    controls_.clear();
  }

 private:
  struct Peer {
    std::string nonce;        // the challenge we sent
    std::string hello_nonce;  // theirs, answered in the Welcome
    std::string name;
    int64_t challenged_ms = 0;
  };

  std::string peer_address() {
    auto s = current_sender();
    return s ? caf::to_string(s->node()) : std::string("unknown");
  }

  wire::challenge_msg on_hello(wire::hello_msg& m) {
    wire::Challenge c;
    auto sender = current_sender();
    if (!sender) {
      c.ok = false;
      c.reason = "anonymous hello";
      return wire::pack(c);
    }
    if (!m.ok()) {
      c.ok = false;
      c.reason = "cannot read the hello (" + m.decode_error + "); the coordinator speaks protocol " +
                 std::to_string(wire::kClusterProtocol) + ", format " + std::to_string(kFormatVersion);
      table_.refuse("?", peer_address(), c.reason, now_ms());
      changed_ = true;
      spdlog::warn("event=node-refused address={} reason=\"{}\"", peer_address(), c.reason);
      return wire::pack(c);
    }
    if (m.value.protocol != wire::kClusterProtocol || m.value.format != kFormatVersion) {
      c.ok = false;
      c.reason = "wire version mismatch: the worker speaks protocol " + std::to_string(m.value.protocol) +
                 ", format " + std::to_string(m.value.format) + "; the coordinator protocol " +
                 std::to_string(wire::kClusterProtocol) + ", format " + std::to_string(kFormatVersion);
      table_.refuse(m.value.node_name, peer_address(), c.reason, now_ms());
      changed_ = true;
      spdlog::warn("event=node-refused name={} address={} reason=\"{}\"", m.value.node_name, peer_address(), c.reason);
      return wire::pack(c);
    }
    Peer p{random_nonce(), m.value.nonce, m.value.node_name, now_ms()};
    c.nonce = p.nonce;
    peers_[sender->node()] = std::move(p);
    return wire::pack(c);
  }

  wire::welcome_msg on_proof(wire::proof_msg& m) {
    wire::Welcome w;
    auto sender = current_sender();
    auto peer = sender ? peers_.find(sender->node()) : peers_.end();
    if (!m.ok() || peer == peers_.end()) {
      w.reason = "no challenge was sent to this node: send a hello first";
      return wire::pack(w);
    }
    Peer p = std::move(peer->second);
    peers_.erase(peer);
    if (!equal_in_constant_time(m.value.mac, token_mac(setup_.token, "worker", p.nonce))) {
      w.reason = "wrong cluster token";
      table_.refuse(p.name, peer_address(), w.reason, now_ms());
      changed_ = true;
      ++refused_;
      spdlog::warn("event=node-refused name={} address={} reason=wrong-token", p.name, peer_address());
      return wire::pack(w);
    }
    w = setup_.job;
    w.ok = true;
    w.node_id = table_.admit(p.name, peer_address(), m.value.cores, now_ms());
    w.mac = token_mac(setup_.token, "coordinator", p.hello_nonce);
    w.heartbeat_ms = setup_.heartbeat_ms;
    nodes_by_peer_[sender->node()] = w.node_id;
    changed_ = true;
    spdlog::info("event=node-admitted node={} name={} address={}", w.node_id, p.name, peer_address());
    return wire::pack(w);
  }

  // The node id a message may speak for: the one its sender's node proved.
  uint32_t authenticated(uint32_t claimed, const char* what) {
    auto sender = current_sender();
    auto it = sender ? nodes_by_peer_.find(sender->node()) : nodes_by_peer_.end();
    if (it == nodes_by_peer_.end() || it->second != claimed) {
      spdlog::warn("event=refused type={} address={} reason=not-authenticated", what, peer_address());
      return 0;
    }
    return claimed;
  }

  void on_join(wire::join_msg& m, std::vector<caf::actor>& actors) {
    if (!m.ok()) return;
    uint32_t node = authenticated(m.value.node_id, "join");
    if (!node) return;
    if (m.value.stages.size() != actors.size()) {
      spdlog::warn("event=refused type=join node={} reason=\"{} stages for {} actors\"", node, m.value.stages.size(),
                   actors.size());
      return;
    }
    controls_[node] = caf::actor_cast<caf::actor>(current_sender());
    std::set<std::string> roles;
    uint32_t capacity = 0;
    for (size_t i = 0; i < actors.size(); ++i) {
      auto stage = setup_.stages.find(m.value.stages[i]);
      if (stage == setup_.stages.end() || !actors[i]) continue;
      roles.insert(m.value.stages[i]);
      if (i < m.value.capacities.size()) capacity += m.value.capacities[i];
      actor_nodes_[actors[i].address()] = node;
      monitor(actors[i]);
      send(stage->second, wire::add_worker_atom::value, actors[i], node);
    }
    table_.joined(node, {roles.begin(), roles.end()}, capacity);
    changed_ = true;
    spdlog::info("event=node-joined node={} actors={} capacity={}", node, actors.size(), capacity);
    share_budgets();
  }

  // Splits each shared endpoint's budget among the nodes that call it now
  // (joined ones not lost or gone, and this process when it works too), and
  // tells each its share.
  void share_budgets() {
    if (setup_.shared_endpoints.empty()) return;
    std::vector<uint32_t> callers;
    for (const auto& [id, control] : controls_) {
      const NodeInfo* n = table_.find(id);
      if (n && n->state != "lost" && n->state != "left") callers.push_back(id);
    }
    size_t nodes = callers.size() + (setup_.local_workers ? 1 : 0);
    auto shares = split_rate_budget(setup_.shared_endpoints, nodes);
    for (uint32_t id : callers) caf::anon_send(controls_[id], wire::pack(wire::Budget{shares}));
    if (setup_.local_workers && setup_.apply_locally) setup_.apply_locally(shares);
    for (const auto& s : shares)
      spdlog::info("event=rate-shares endpoint={} nodes={} rpm_each={:.1f} tpm_each={:.0f}", s.endpoint, nodes,
                   s.requests_per_minute, s.tokens_per_minute);
  }

  wire::leave_msg on_leave(wire::leave_msg& m) {
    auto sender = current_sender();
    if (sender && sender->node() == node() && m.ok() && m.value.node_id == 0) {
      // The job ended: every node leaves.
      for (auto& [id, control] : controls_) {
        caf::anon_send(control, wire::pack(wire::Leave{id, m.value.reason}));
        table_.set_state(id, "left", m.value.reason);
      }
      changed_ = true;
      log_nodes();
      return wire::pack(wire::Leave{0, m.value.reason});
    }
    uint32_t id = authenticated(m.ok() ? m.value.node_id : 0, "leave");
    if (!id) return wire::pack(wire::Leave{0, "refused"});
    table_.set_state(id, "draining", m.value.reason);
    for (auto& [_, stage] : setup_.stages) send(stage, wire::drop_node_atom::value, id);
    table_.set_state(id, "left", m.value.reason);
    changed_ = true;
    spdlog::info("event=node-left node={} reason={}", id, m.value.reason);
    controls_.erase(id);
    share_budgets();
    return wire::pack(wire::Leave{id, "ok"});
  }

  // An operator's control of a node (the console, in this process only: the
  // registry is published, and no peer may cordon or remove another).
  void on_node_control(uint32_t id, const std::string& action) {
    auto sender = current_sender();
    if (!sender || sender->node() != node()) {
      spdlog::warn("event=refused type=node-control reason=from-another-node");
      return;
    }
    const NodeInfo* n = table_.find(id);
    if (!n || n->state == "left" || n->state == "lost" || n->state == "removed" || n->state == "refused") {
      spdlog::warn("event=node-control-ignored node={} action={} state={}", id, action, n ? n->state : "unknown");
      return;
    }
    if (action == "cordon" || action == "drain") {
      for (auto& [_, stage] : setup_.stages) send(stage, wire::cordon_atom::value, id, true);
      if (action == "drain") draining_.insert(id);
      table_.set_state(id, action == "drain" ? "draining" : "cordoned", "by an operator");
      if (action == "drain" && n->leases_held == 0) remove_node(id, "drained", "drained by an operator");
    } else if (action == "uncordon") {
      for (auto& [_, stage] : setup_.stages) send(stage, wire::cordon_atom::value, id, false);
      draining_.erase(id);
      table_.set_state(id, "active", "uncordoned by an operator");
    } else if (action == "remove") {
      remove_node(id, "removed", "removed by an operator");
    } else {
      return;
    }
    spdlog::warn("event=node-control node={} action={}", id, action);
    changed_ = true;
    log_nodes();
  }

  // Takes a node out of the job: its leases go back to their dispatchers
  // (handed to other workers), and the node is told to leave (it exits).
  void remove_node(uint32_t id, const std::string& state, const std::string& why) {
    for (auto& [_, stage] : setup_.stages) send(stage, wire::drop_node_atom::value, id);
    if (auto c = controls_.find(id); c != controls_.end()) {
      caf::anon_send(c->second, wire::pack(wire::Leave{id, why}));
      controls_.erase(c);
    }
    draining_.erase(id);
    table_.set_state(id, state, why);
    changed_ = true;
    spdlog::warn("event=node-{} node={}", state, id);
    share_budgets();
  }

  void on_down(caf::down_msg& d) {
    auto it = actor_nodes_.find(d.source);
    if (it == actor_nodes_.end()) return;
    uint32_t node = it->second;
    actor_nodes_.erase(it);
    // A work actor that ended normally was told to by its stage (the job
    // ended): the node is not lost, and still hears that the job ended.
    if (d.reason == caf::exit_reason::normal || d.reason == caf::exit_reason::user_shutdown) return;
    const NodeInfo* n = table_.find(node);
    if (n && n->state != "left" && n->state != "lost" && n->state != "removed" && n->state != "drained") {
      table_.set_state(node, "lost", caf::to_string(d.reason));
      changed_ = true;
      spdlog::warn("event=node-lost node={} name={} reason=\"{}\"", node, n->name, caf::to_string(d.reason));
    }
    for (auto p = nodes_by_peer_.begin(); p != nodes_by_peer_.end();)
      p = p->second == node ? nodes_by_peer_.erase(p) : std::next(p);
    if (controls_.erase(node)) share_budgets();
  }

  void log_nodes() {
    if (!changed_ || !setup_.log) return;
    changed_ = false;
    LogBatch b;
    b.put_meta(meta::kNodes, encode(table_.nodes()));
    setup_.log->commit(std::move(b), [](Status s) {
      if (!s) spdlog::warn("event=nodes-not-logged error=\"{}\"", s.error());
    });
  }

  void schedule_report() {
    delayed_send(caf::actor_cast<wire::registry_actor>(this), std::chrono::milliseconds(setup_.heartbeat_ms),
                 wire::pack(wire::ReportDue{}));
  }

  RegistrySetup setup_;
  NodeTable table_;
  std::map<caf::node_id, Peer> peers_;              // challenged, not yet proved
  std::map<caf::node_id, uint32_t> nodes_by_peer_;  // proved: CAF node -> node id
  std::map<caf::actor_addr, uint32_t> actor_nodes_; // work actors we watch
  std::map<uint32_t, caf::actor> controls_;         // whom to tell the job ended
  std::set<uint32_t> draining_;                     // nodes an operator drains: removed once they hold no lease
  uint64_t refused_ = 0;
  bool changed_ = false;        // a state changed: log the table now
  bool beats_changed_ = false;  // only counters changed: log them now and then
  int64_t counters_logged_ms_ = 0;
};

}  // namespace

wire::registry_actor spawn_registry(caf::actor_system& sys, RegistrySetup setup) {
  return sys.spawn<Registry>(std::move(setup));
}

}  // namespace vf
