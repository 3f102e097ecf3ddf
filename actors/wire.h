// The pipeline's wire protocol: message types and typed actor interfaces.
//
// Every message between actors is `Msg<Payload>`. In one process it carries
// the payload itself (CAF moves it, nothing is encoded); when CAF serializes
// it for another node, the payload travels as one versioned msgpack envelope
// (storage/codec.h), the same encoding as the checkpoint log. A payload that
// does not decode on arrival is still delivered, with decode_error set, so
// the receiver can log and refuse it (CAF would otherwise drop it silently).
// Every type is registered under a stable name by register_wire_types(); an
// unregistered or misnamed type is dropped silently by Debian's CAF build, so
// tests/wire_loopback_test.cc sends each of them between two processes.
//
// Credit protocol (dataflow/credit.h): an upstream attaches to a downstream
// (Attach), which answers with a Credit grant of its capacity; batches spend
// credit; each item leaving a stage returns one credit upstream.
// `Credit::stop` travels upstream along the same links to tell the generator
// the target is covered, and accepted items travel with it (Feedback) to
// sources that learn from them.
//
// Work protocol: a stage's dispatcher (on the coordinator) hands items to its
// workers as leases; a worker attaches like a downstream (its Credit is its
// capacity), reports each finished part of an item's work (a code run, a
// model call) and the finished item in WorkReports, and a finished lease
// returns its credit. A report for a lease the dispatcher no longer holds is
// discarded (fencing).
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include <caf/all.hpp>
#include <spdlog/spdlog.h>

#include "dataflow/checkpoint.h"
#include "dataflow/item.h"
#include "dataflow/node_table.h"
#include "storage/codec.h"

namespace vf::wire {

// --- payloads (msgpack) -----------------------------------------------------

struct Attach {
  static constexpr const char* kWireName = "vf.attach";
  std::string stage;  // name of the upstream stage, for logs
  MSGPACK_DEFINE(stage)
};

struct ItemBatch {
  static constexpr const char* kWireName = "vf.item_batch";
  std::vector<Item> items;
  MSGPACK_DEFINE(items)
};

struct Credit {
  static constexpr const char* kWireName = "vf.credit";
  uint32_t credits = 0;
  bool stop = false;                // downstream needs no new items
  std::vector<Feedback> accepted;   // travels upstream to the generator, like `stop`
  MSGPACK_DEFINE(credits, stop, accepted)
};

struct EndOfStream {
  static constexpr const char* kWireName = "vf.end_of_stream";
  uint64_t items = 0;  // items this link carried
  std::string reason;  // "target-covered", "exhausted", "max-generated", "seeds-done"
  MSGPACK_DEFINE(items, reason)
};

// A finished part of an item's work, as the dispatcher logs it (r/ entry).
struct WorkPart {
  uint32_t index = 0;  // the part's place (run number, call number)
  std::string bytes;   // encoded Execution or LoggedCall
  MSGPACK_DEFINE(index, bytes)
};

// An item handed to a worker. `parts` are the parts of this stage's work the
// log already holds (a resumed or re-dispatched item): the worker does only
// the others.
struct Lease {
  uint64_t lease = 0;    // unique per dispatcher session
  uint32_t attempt = 1;  // 1 + times this item was leased before in this session
  Item item;
  std::vector<WorkPart> parts;
  MSGPACK_DEFINE(lease, attempt, item, parts)
};

struct LeaseBatch {
  static constexpr const char* kWireName = "vf.lease_batch";
  std::vector<Lease> leases;
  MSGPACK_DEFINE(leases)
};

struct PartDone {
  uint64_t lease = 0;
  uint64_t item = 0;
  WorkPart part;
  MSGPACK_DEFINE(lease, item, part)
};

struct LeaseDone {
  uint64_t lease = 0;
  Item item;           // the item with this stage's work applied
  uint32_t parts = 0;  // parts of this stage's work it has in all (their r/ entries are dropped)
  MSGPACK_DEFINE(lease, item, parts)
};

// Worker -> dispatcher: finished parts and finished items.
struct WorkReport {
  static constexpr const char* kWireName = "vf.work_report";
  std::vector<PartDone> parts;
  std::vector<LeaseDone> done;
  MSGPACK_DEFINE(parts, done)
};

// One code run of an item finished (sandbox thread -> execute worker).
struct RunDone {
  static constexpr const char* kWireName = "vf.run_done";
  uint64_t lease = 0;
  Execution execution;
  MSGPACK_DEFINE(lease, execution)
};

// One model call of an item finished (model client thread -> model worker).
struct CallDone {
  static constexpr const char* kWireName = "vf.call_done";
  uint64_t lease = 0;
  uint32_t index = 0;  // the call's place in ModelTask::calls(item)
  LoggedCall outcome;
  MSGPACK_DEFINE(lease, index, outcome)
};

// A log batch a stage committed is durable (or failed) (job log -> stage).
struct LogDone {
  static constexpr const char* kWireName = "vf.log_done";
  uint64_t ticket = 0;
  bool ok = true;
  std::string error;
  MSGPACK_DEFINE(ticket, ok, error)
};

// An actor's note to itself: do the work collected so far (sent to itself,
// it arrives after the messages already waiting, so under load one tick
// covers many of them, and at once when idle).
struct Tick {
  static constexpr const char* kWireName = "vf.tick";
  uint64_t n = 0;
  MSGPACK_DEFINE(n)
};

// A stage's timer: time to report, whether anything moved or not (a stalled
// stage must still be seen, with what it holds).
// An operator's pause (true) or resume (false): the generator issues no new
// item while paused; what is in flight finishes.
struct Pause {
  static constexpr const char* kWireName = "vf.pause";
  bool paused = false;
  MSGPACK_DEFINE(paused)
};

// An operator's new target (the console's set target_accepted): only ever
// raised, and only before the old one is covered. max_items is the new
// generation ceiling (0: unchanged).
struct SetTarget {
  static constexpr const char* kWireName = "vf.set_target";
  uint64_t target = 0;
  uint64_t max_items = 0;
  MSGPACK_DEFINE(target, max_items)
};

struct ReportDue {
  static constexpr const char* kWireName = "vf.report_due";
  uint64_t n = 0;
  MSGPACK_DEFINE(n)
};

struct StageReport {
  static constexpr const char* kWireName = "vf.stage_report";
  std::string stage;
  uint64_t received = 0;
  uint64_t sent = 0;
  uint64_t accepted = 0;
  uint64_t rejected = 0;
  uint32_t held = 0;
  uint32_t peak_held = 0;
  uint32_t capacity = 0;
  bool finished = false;
  uint64_t fenced = 0;    // work reports discarded for a lease no longer held
  uint32_t workers = 0;   // work actors attached (dispatchers)
  uint64_t credit_overruns = 0;  // batches that came beyond the credit granted (a protocol bug upstream)
  uint64_t requeued = 0;  // leases given back by workers that went away, dispatched again
  uint64_t quarantines = 0;  // times a failing worker was taken out of rotation
  // Shares of the time since the previous report (dataflow/stage_time.h).
  double busy = 0, idle = 0, backpressured = 0;
  // Items that left the stage since the previous report, by the seconds each
  // spent in it (counts per bucket of Histogram::seconds_bounds(), the last
  // one above them; empty when none left), and the sum of those seconds.
  std::vector<uint64_t> latency_counts;
  double latency_sum = 0;
  MSGPACK_DEFINE(stage, received, sent, accepted, rejected, held, peak_held, capacity, finished, fenced, workers,
                 credit_overruns, requeued, quarantines, busy, idle, backpressured, latency_counts, latency_sum)
};

struct JobReport {
  static constexpr const char* kWireName = "vf.job_report";
  bool ok = true;
  std::string error;
  std::string summary_json;  // the writer's summary
  MSGPACK_DEFINE(ok, error, summary_json)
};

// --- cluster: joining, proof of the token, node life -------------------------
//
// A worker node connects to the coordinator's registry and proves it holds
// the cluster token without sending it: Hello (its nonce) -> Challenge (the
// registry's nonce) -> Proof (HMAC of the registry's nonce) -> Welcome (HMAC
// of the worker's nonce, so the worker knows the coordinator holds it too,
// and the job). Only then does the worker offer its work actors (Join); the
// dispatchers take work reports from those actors alone.

// Bumped whenever a message's meaning changes; nodes of different versions
// refuse each other with a message naming both.
constexpr uint32_t kClusterProtocol = 1;

struct Hello {
  static constexpr const char* kWireName = "vf.hello";
  uint32_t protocol = kClusterProtocol;
  uint32_t format = kFormatVersion;
  std::string node_name;
  std::string nonce;  // hex
  MSGPACK_DEFINE(protocol, format, node_name, nonce)
};

struct Challenge {
  static constexpr const char* kWireName = "vf.challenge";
  bool ok = true;
  std::string reason;  // why the node is refused (ok = false)
  uint32_t protocol = kClusterProtocol;
  uint32_t format = kFormatVersion;
  std::string nonce;   // hex; the worker answers with its HMAC
  MSGPACK_DEFINE(ok, reason, protocol, format, nonce)
};

struct Proof {
  static constexpr const char* kWireName = "vf.proof";
  std::string node_name;
  std::string mac;  // hex HMAC-SHA256(token, "worker|" + challenge nonce)
  uint32_t cores = 0;
  MSGPACK_DEFINE(node_name, mac, cores)
};

struct Welcome {
  static constexpr const char* kWireName = "vf.welcome";
  bool ok = false;
  std::string reason;
  uint32_t node_id = 0;
  std::string mac;            // hex HMAC-SHA256(token, "coordinator|" + hello nonce)
  std::string job_name;
  std::string config_text;    // the job's config file, as the coordinator read it
  std::string config_origin;  // its path there (for messages)
  std::string config_base;    // where its relative paths point
  std::vector<std::string> overrides;
  std::string plan;           // encoded PipelinePlan
  std::string work;           // encoded WorkSpec
  uint32_t heartbeat_ms = 1000;
  MSGPACK_DEFINE(ok, reason, node_id, mac, job_name, config_text, config_origin, config_base, overrides, plan, work,
                 heartbeat_ms)
};

// The worker's actors follow this message, one per entry of `stages`.
struct Join {
  static constexpr const char* kWireName = "vf.join";
  uint32_t node_id = 0;
  std::vector<std::string> stages;      // stage name per actor
  std::vector<uint32_t> capacities;     // items per actor
  MSGPACK_DEFINE(node_id, stages, capacities)
};

// A worker node's heartbeat with its counters (every Welcome::heartbeat_ms).
struct NodeBeat {
  static constexpr const char* kWireName = "vf.node_beat";
  uint32_t node_id = 0;
  uint64_t leases_held = 0;
  uint64_t items_done = 0;
  uint64_t failures = 0;
  uint64_t failures_in_a_row = 0;  // since its last success: a broken sandbox or endpoint shows here
  MSGPACK_DEFINE(node_id, leases_held, items_done, failures, failures_in_a_row)
};

// The node's share of each shared endpoint's rate budget (registry ->
// worker, again whenever the nodes change).
struct Budget {
  static constexpr const char* kWireName = "vf.budget";
  std::vector<EndpointShare> shares;
  MSGPACK_DEFINE(shares)
};

// A node leaving (worker -> registry: draining) or told to (registry ->
// worker: the job ended, or the node was refused).
struct Leave {
  static constexpr const char* kWireName = "vf.leave";
  uint32_t node_id = 0;
  std::string reason;  // "sigterm", "job-finished", "job-failed", ...
  MSGPACK_DEFINE(node_id, reason)
};

// --- CAF envelope -------------------------------------------------------------

// The largest payload taken from a peer (a lease batch of big items is far
// below it). CAF 0.17 itself reads a whole BASP frame before handing it
// over; this bounds what is decoded, not what CAF buffers.
inline constexpr size_t kMaxPayloadBytes = 64u << 20;

template <class Payload>
struct Msg {
  Payload value;
  std::string decode_error;  // set when the bytes from a peer did not decode
  bool ok() const { return decode_error.empty(); }
};

template <class Inspector, class Payload>
typename Inspector::result_type inspect(Inspector& f, Msg<Payload>& x) {
  std::string bytes;
  auto save = [&]() -> caf::error {
    bytes = encode(x.value);
    return caf::none;
  };
  auto load = [&]() -> caf::error {
    // A peer's payload is refused by size before msgpack looks at it.
    if (bytes.size() > kMaxPayloadBytes) {
      x.decode_error = std::string(Payload::kWireName) + ": " + std::to_string(bytes.size()) +
                       " bytes, more than the limit of " + std::to_string(kMaxPayloadBytes);
      bytes.clear();
      return caf::none;
    }
    auto v = decode<Payload>(bytes, Payload::kWireName);
    if (v) x.value = std::move(v.value());
    else x.decode_error = v.error();
    return caf::none;
  };
  return f(caf::meta::type_name(Payload::kWireName), caf::meta::save_callback(save), bytes,
           caf::meta::load_callback(load));
}

template <class Payload>
Msg<Payload> pack(Payload p) {
  return Msg<Payload>{std::move(p), {}};
}

using attach_msg = Msg<Attach>;
using item_batch_msg = Msg<ItemBatch>;
using credit_msg = Msg<Credit>;
using eos_msg = Msg<EndOfStream>;
using lease_batch_msg = Msg<LeaseBatch>;
using work_report_msg = Msg<WorkReport>;
using run_done_msg = Msg<RunDone>;
using call_done_msg = Msg<CallDone>;
using log_done_msg = Msg<LogDone>;
using tick_msg = Msg<Tick>;
using report_due_msg = Msg<ReportDue>;
using pause_msg = Msg<Pause>;
using set_target_msg = Msg<SetTarget>;
using stage_report_msg = Msg<StageReport>;
using job_report_msg = Msg<JobReport>;
using hello_msg = Msg<Hello>;
using challenge_msg = Msg<Challenge>;
using proof_msg = Msg<Proof>;
using welcome_msg = Msg<Welcome>;
using join_msg = Msg<Join>;
using node_beat_msg = Msg<NodeBeat>;
using leave_msg = Msg<Leave>;
using budget_msg = Msg<Budget>;

// Local only (coordinator): the registry hands a joined node's work actor to
// its stage's dispatcher, and takes a node's actors back.
using add_worker_atom = caf::atom_constant<caf::atom("addworker")>;
using drop_node_atom = caf::atom_constant<caf::atom("dropnode")>;
// Local only (coordinator): an operator's cordon (true) or uncordon (false)
// of a node: its work actors get no new leases; and the operator's node
// control (cordon, uncordon, drain, remove) handed to the registry.
using cordon_atom = caf::atom_constant<caf::atom("cordon")>;
using node_control_atom = caf::atom_constant<caf::atom("nodectl")>;

// Registers every wire type on `cfg` (every node must do the same).
void register_wire_types(caf::actor_system_config& cfg);
// The names registered, for tests that must cover each of them.
std::vector<std::string> wire_type_names();

// --- typed interfaces: the protocol ------------------------------------------

// What a stage that receives items understands.
using downstream_actor =
    caf::typed_actor<caf::reacts_to<attach_msg>, caf::reacts_to<item_batch_msg>, caf::reacts_to<eos_msg>>;
// What a stage that sends items understands.
using upstream_actor = caf::typed_actor<caf::reacts_to<credit_msg>>;
// The generator: sends items, logs them first.
using generator_actor = upstream_actor::extend<caf::reacts_to<log_done_msg>, caf::reacts_to<report_due_msg>,
                                               caf::reacts_to<pause_msg>, caf::reacts_to<set_target_msg>>;
// A stage's dispatcher: receives and sends items, leases work to workers,
// logs their results.
using stage_actor = downstream_actor::extend_with<upstream_actor>::extend<
    caf::reacts_to<work_report_msg>, caf::reacts_to<log_done_msg>, caf::reacts_to<tick_msg>,
    caf::reacts_to<report_due_msg>, caf::reacts_to<add_worker_atom, caf::actor, uint32_t>,
    caf::reacts_to<drop_node_atom, uint32_t>, caf::reacts_to<cordon_atom, uint32_t, bool>>;
// The writer: receives items, logs its commits.
using writer_actor = downstream_actor::extend<caf::reacts_to<log_done_msg>, caf::reacts_to<report_due_msg>,
                                              caf::reacts_to<set_target_msg>>;
// What a worker sends its dispatcher (the dispatcher's side of the work protocol).
using dispatcher_actor = caf::typed_actor<caf::reacts_to<credit_msg>, caf::reacts_to<work_report_msg>>;
// What every worker understands (the dispatcher's side of the work protocol).
using worker_actor =
    caf::typed_actor<caf::reacts_to<attach_msg>, caf::reacts_to<lease_batch_msg>, caf::reacts_to<eos_msg>>;
// The execute worker also hears from its sandbox pool.
using execute_worker_actor = worker_actor::extend<caf::reacts_to<run_done_msg>, caf::reacts_to<tick_msg>>;
// The model workers (generate, solve) hear from the model client.
using model_worker_actor = worker_actor::extend<caf::reacts_to<call_done_msg>, caf::reacts_to<tick_msg>>;
// The coordinator's registry of worker nodes (published with --listen).
using registry_actor =
    caf::typed_actor<caf::replies_to<hello_msg>::with<challenge_msg>, caf::replies_to<proof_msg>::with<welcome_msg>,
                     caf::reacts_to<join_msg, std::vector<caf::actor>>, caf::replies_to<node_beat_msg>::with<node_beat_msg>,
                     caf::replies_to<leave_msg>::with<leave_msg>, caf::reacts_to<report_due_msg>,
                     caf::reacts_to<node_control_atom, uint32_t, std::string>>;
// Whoever watches a job (the CLI, a test, later the admin console).
using monitor_actor = caf::typed_actor<caf::reacts_to<stage_report_msg>, caf::reacts_to<job_report_msg>>;

// Ends a stage because the job cannot go on (a log write failed, a file
// cannot be written): logs it, tells the monitor, and quits with the error.
// What was committed before stays; the same command resumes the job.
template <class Self>
void stop_job(Self* self, const monitor_actor& monitor, const std::string& stage, const std::string& error) {
  spdlog::error("stage={} event=failed error=\"{}\"", stage, error);
  self->send(monitor, pack(JobReport{false, error, ""}));
  self->quit(caf::make_error(caf::sec::runtime_error, error));
}

}  // namespace vf::wire
