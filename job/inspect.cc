#include "job/inspect.h"

#include <sys/stat.h>

#include <algorithm>
#include <fstream>
#include <set>
#include <vector>

#include "dataflow/checkpoint.h"
#include "dataflow/node_table.h"
#include "storage/codec.h"
#include "storage/codec.h"

namespace vf {
namespace {

using nlohmann::json;

struct JobView {
  std::unique_ptr<JobStore> store;
  std::string name;
  bool stage_log = true;  // checkpoint.log; without it only the writer's progress is logged
  std::optional<WriterCheckpoint> writer;
  GeneratorCheckpoint generator;
  uint64_t target = 0;
};

Expected<JobView> open_job(const std::string& dir) {
  JobView v;
  auto store = JobStore::open_read_only(dir + "/db");
  if (!store) return store.failure();
  v.store = std::move(store.value());
  auto name = v.store->get_meta(meta::kJobName);
  if (!name) return name.failure();
  if (!name.value()) return not_found(dir + "/db holds no veriforge job (no job metadata)");
  v.name = *name.value();
  if (auto t = v.store->get_meta(meta::kTargetAccepted); t && t.value()) v.target = std::stoull(*t.value());
  auto r = recover(*v.store);
  if (!r) return r.failure();
  v.writer = r->writer;
  v.generator = r->generator;
  if (auto m = v.store->get_meta(meta::kCheckpointLog); m && m.value()) v.stage_log = *m.value() != "false";
  // Without the stage log the generator's progress is not logged; the writer knows the ids it saw.
  if (!v.stage_log && v.writer) v.generator.issued = std::max(v.generator.issued, v.writer->max_id_seen);
  return v;
}

uint64_t file_size(const std::string& path, bool& exists) {
  struct stat st {};
  exists = ::stat(path.c_str(), &st) == 0;
  return exists ? static_cast<uint64_t>(st.st_size) : 0;
}

}  // namespace

Expected<nlohmann::json> job_status(const std::string& dir) {
  auto job = open_job(dir);
  if (!job) return job.failure();
  auto counts = count_log(*job->store, false);
  if (!counts) return counts.failure();
  Tally tally;
  double active_s = 0;
  bool finished = false;
  std::string end_reason;
  if (job->writer) {
    tally = job->writer->tally;
    active_s = job->writer->active_s;
    finished = job->writer->finished;
    end_reason = job->writer->end_reason;
  }
  uint64_t in_flight = 0;
  for (const auto& [_, n] : counts->in_flight) in_flight += n;
  uint64_t decided = tally.total_accepted() + tally.total_rejected();
  double accept_rate = decided ? double(tally.total_accepted()) / double(decided) : 0.0;
  json j = {{"job", job->name},
            {"state", finished ? "finished" : "unfinished"},
            {"end_reason", end_reason},
            {"target_accepted", job->target},
            {"generated", job->generator.issued},
            {"accepted", tally.total_accepted()},
            {"rejected", tally.total_rejected()},
            {"surplus", tally.total_surplus()},
            {"parked", counts->parked},
            {"in_flight", in_flight},
            {"in_flight_by_state", counts->in_flight},
            {"accept_rate", accept_rate},
            {"rejection_reasons", tally.reasons()},
            {"tokens", {{"prompt", tally.prompt_tokens()}, {"completion", tally.completion_tokens()}}},
            {"running_s", active_s},
            {"log_bytes", job->store->disk_bytes()}};
  // The cluster's nodes, as the coordinator last logged them.
  j["nodes"] = nlohmann::json::array();
  if (auto nodes = job->store->get_meta(meta::kNodes); nodes && nodes.value()) {
    auto table = decode<std::vector<NodeInfo>>(*nodes.value(), "node table");
    if (!table) return corruption(dir + "/db: " + table.error());
    for (const auto& n : table.value()) j["nodes"].push_back(to_json(n));
  }
  return j;
}

Expected<CheckReport> check_job(const std::string& dir) {
  auto job = open_job(dir);
  if (!job) return job.failure();
  CheckReport report;
  report.job = job->name;
  auto& problems = report.problems;
  auto& notes = report.notes;
  // Logged states of decided items, and ids still in flight.
  std::map<uint64_t, uint8_t> states;
  auto s = job->store->for_each_state([&](uint64_t id, const StoredState& st) -> Status {
    states[id] = st.state;
    return {};
  });
  if (!s) problems.push_back(s.error());
  std::set<uint64_t> in_flight;
  s = job->store->for_each_item(0, [&](uint64_t id, std::string_view) -> Status {
    in_flight.insert(id);
    if (states.count(id)) problems.push_back("item " + std::to_string(id) + " is both decided and in flight");
    return {};
  });
  if (!s) problems.push_back(s.error());
  std::map<std::string, uint64_t> by_state;
  for (const auto& [_, st] : states) ++by_state[std::string(to_string(static_cast<ItemState>(st)))];

  // Each output file against its committed length, each record once.
  auto lengths = job->writer ? job->writer->file_lengths : std::map<std::string, uint64_t>{};
  std::map<std::string, std::set<uint64_t>> ids_in;
  for (const char* name : {"accepted.jsonl", "rejected.jsonl", "sft.sharegpt.jsonl", "sft.openai.jsonl", "rl.jsonl"}) {
    std::string path = dir + "/" + name;
    bool exists = false;
    uint64_t size = file_size(path, exists);
    uint64_t committed = lengths.count(name) ? lengths[name] : 0;
    if (size < committed) {
      problems.push_back(std::string(name) + ": " + std::to_string(size) + " bytes, the log committed " +
                         std::to_string(committed) + " (committed records are missing)");
      continue;
    }
    if (size > committed)
      notes.push_back(std::string(name) + ": " + std::to_string(size - committed) +
                      " bytes past the committed length (a batch cut short by a crash; the next run cuts and "
                      "rewrites them)");
    std::ifstream in(path, std::ios::binary);
    std::string line;
    uint64_t offset = 0, line_no = 0;
    auto& ids = ids_in[name];
    while (offset < committed && std::getline(in, line)) {
      ++line_no;
      offset += line.size() + 1;
      auto j = json::parse(line, nullptr, false);
      if (j.is_discarded() || !j.is_object()) {
        problems.push_back(std::string(name) + ":" + std::to_string(line_no) + ": not a JSON object");
        continue;
      }
      std::string key = j.value("id", std::string());
      auto dash = key.rfind('-');
      if (key.empty() || dash == std::string::npos) {
        // sft.openai.jsonl holds bare conversations: count lines only.
        if (std::string(name) != "sft.openai.jsonl")
          problems.push_back(std::string(name) + ":" + std::to_string(line_no) + ": no record id");
        ids.insert(line_no - 1);
        continue;
      }
      uint64_t id = std::stoull(key.substr(dash + 1));
      if (!ids.insert(id).second)
        problems.push_back(std::string(name) + ":" + std::to_string(line_no) + ": item " + std::to_string(id) +
                           " written twice");
    }
    if (offset != committed)
      problems.push_back(std::string(name) + ": the committed length " + std::to_string(committed) +
                         " does not end at a line boundary");
  }
  uint64_t written = by_state["written"], reject_written = by_state["reject-written"];
  for (const char* name : {"accepted.jsonl", "sft.sharegpt.jsonl", "sft.openai.jsonl", "rl.jsonl"})
    if (ids_in[name].size() != written)
      problems.push_back(std::string(name) + ": " + std::to_string(ids_in[name].size()) + " records, the log has " +
                         std::to_string(written) + " items written");
  if (ids_in["rejected.jsonl"].size() != reject_written)
    problems.push_back("rejected.jsonl: " + std::to_string(ids_in["rejected.jsonl"].size()) +
                       " records, the log has " + std::to_string(reject_written) + " items reject-written");
  for (uint64_t id : ids_in["accepted.jsonl"]) {
    if (ids_in["rejected.jsonl"].count(id))
      problems.push_back("item " + std::to_string(id) + " is both accepted and rejected");
    auto st = states.find(id);
    if (st == states.end() || st->second != static_cast<uint8_t>(ItemState::kWritten))
      problems.push_back("item " + std::to_string(id) + " is in accepted.jsonl but the log does not say written");
  }
  if (job->writer && job->writer->tally.total_accepted() != written)
    problems.push_back("the writer's tally counts " + std::to_string(job->writer->tally.total_accepted()) +
                       " accepted, the log " + std::to_string(written));
  // Ids are dense: every issued id is decided, parked or in flight.
  uint64_t parked = 0;
  s = job->store->for_each_parked([&](uint64_t, std::string_view) -> Status {
    ++parked;
    return {};
  });
  if (!s) problems.push_back(s.error());
  uint64_t accounted = states.size() + in_flight.size() + parked;
  if (!job->stage_log)
    notes.push_back("the job ran without a stage log (checkpoint.log = false): items in flight are not accounted for");
  else if (accounted != job->generator.issued)
    problems.push_back("the generator issued " + std::to_string(job->generator.issued) + " items, the log accounts for " +
                       std::to_string(accounted) + " (decided + in flight + parked)");
  report.consistent = problems.empty();
  report.decided = by_state;
  report.in_flight = in_flight.size();
  report.parked = parked;
  report.issued = job->generator.issued;
  return report;
}

nlohmann::json CheckReport::to_json() const {
  return {{"job", job},           {"consistent", consistent}, {"decided", decided}, {"in_flight", in_flight},
          {"parked", parked},     {"issued", issued},         {"problems", problems}, {"notes", notes}};
}

}  // namespace vf
