// The pipeline's wire protocol: message types and typed actor interfaces.
//
// Every message between stages is `Msg<Payload>`: a CAF-serializable struct
// holding one msgpack envelope (storage/codec.h) of its payload, so stages can
// live on different nodes and the bytes on the wire equal the bytes on disk.
// Every type is registered under a stable name by register_wire_types(); an
// unregistered or misnamed type is dropped silently by Debian's CAF build, so
// tests/wire_loopback_test.cc sends each of them between two processes.
//
// Credit protocol (dataflow/credit.h): a downstream stage answers an upstream's
// Attach with a Credit grant of its capacity; batches spend credit; each item
// leaving a stage returns one credit upstream. `Credit::stop` travels upstream
// along the same links to tell the generator the target is covered.
#pragma once

#include <cstdint>
#include <string>
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

// One code run of an item finished (executor pool thread -> executor stage).
struct RunDone {
  static constexpr const char* kWireName = "vf.run_done";
  uint64_t item = 0;
  Execution execution;
  MSGPACK_DEFINE(item, execution)
};

// One model call of an item finished (model client thread -> LLM stage).
struct CallDone {
  static constexpr const char* kWireName = "vf.call_done";
  uint64_t item = 0;
  uint32_t index = 0;  // the call's place in ModelTask::calls(item)
  LoggedCall outcome;
  MSGPACK_DEFINE(item, index, outcome)
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
  MSGPACK_DEFINE(stage, received, sent, accepted, rejected, held, peak_held, capacity, finished)
};

struct JobReport {
  static constexpr const char* kWireName = "vf.job_report";
  bool ok = true;
  std::string error;
  std::string summary_json;  // what the writer wrote as its summary
  MSGPACK_DEFINE(ok, error, summary_json)
};

// --- CAF envelope -------------------------------------------------------------

template <class Payload>
struct Msg {
  std::string bytes;  // encode<Payload>(...)
};

template <class Inspector, class Payload>
typename Inspector::result_type inspect(Inspector& f, Msg<Payload>& x) {
  return f(caf::meta::type_name(Payload::kWireName), x.bytes);
}

template <class Payload>
Msg<Payload> pack(const Payload& p) {
  return Msg<Payload>{encode(p)};
}

template <class Payload>
Expected<Payload> unpack(const Msg<Payload>& m) {
  return decode<Payload>(m.bytes, Payload::kWireName);
}

using attach_msg = Msg<Attach>;
using item_batch_msg = Msg<ItemBatch>;
using credit_msg = Msg<Credit>;
using eos_msg = Msg<EndOfStream>;
using run_done_msg = Msg<RunDone>;
using call_done_msg = Msg<CallDone>;
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
// A middle stage (verifier) is both.
using stage_actor = downstream_actor::extend_with<upstream_actor>;
// The executor stage also hears from its snippet pool.
using executor_actor = stage_actor::extend<caf::reacts_to<run_done_msg>>;
// LLM stages (generation, solving) hear from the model client.
using model_stage_actor = stage_actor::extend<caf::reacts_to<call_done_msg>>;
// The generator only sends items.
using generator_actor = upstream_actor;
// The writer only receives them.
using writer_actor = downstream_actor;
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
