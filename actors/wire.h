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
  MSGPACK_DEFINE(stage, received, sent, accepted, rejected, held, peak_held, capacity, finished, fenced, workers,
                 credit_overruns)
};

struct JobReport {
  static constexpr const char* kWireName = "vf.job_report";
  bool ok = true;
  std::string error;
  std::string summary_json;  // the writer's summary
  MSGPACK_DEFINE(ok, error, summary_json)
};

// --- CAF envelope -------------------------------------------------------------

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
using stage_report_msg = Msg<StageReport>;
using job_report_msg = Msg<JobReport>;

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
using generator_actor = upstream_actor::extend<caf::reacts_to<log_done_msg>, caf::reacts_to<report_due_msg>>;
// A stage's dispatcher: receives and sends items, leases work to workers,
// logs their results.
using stage_actor = downstream_actor::extend_with<upstream_actor>::extend<
    caf::reacts_to<work_report_msg>, caf::reacts_to<log_done_msg>, caf::reacts_to<tick_msg>,
    caf::reacts_to<report_due_msg>>;
// The writer: receives items, logs its commits.
using writer_actor = downstream_actor::extend<caf::reacts_to<log_done_msg>, caf::reacts_to<report_due_msg>>;
// What a worker sends its dispatcher (the dispatcher's side of the work protocol).
using dispatcher_actor = caf::typed_actor<caf::reacts_to<credit_msg>, caf::reacts_to<work_report_msg>>;
// What every worker understands (the dispatcher's side of the work protocol).
using worker_actor =
    caf::typed_actor<caf::reacts_to<attach_msg>, caf::reacts_to<lease_batch_msg>, caf::reacts_to<eos_msg>>;
// The execute worker also hears from its sandbox pool.
using execute_worker_actor = worker_actor::extend<caf::reacts_to<run_done_msg>, caf::reacts_to<tick_msg>>;
// The model workers (generate, solve) hear from the model client.
using model_worker_actor = worker_actor::extend<caf::reacts_to<call_done_msg>, caf::reacts_to<tick_msg>>;
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
