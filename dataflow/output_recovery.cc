#include "dataflow/output_recovery.h"

#include <set>

#include <nlohmann/json.hpp>

#include "dataflow/commit_gate.h"
#include "dataflow/records.h"
#include "storage/codec.h"

namespace vf {
namespace {

const char* const kRejected = "rejected.jsonl";
const char* const kAccepted = "accepted.jsonl";
const std::vector<std::string> kExports = {"sft.sharegpt.jsonl", "sft.openai.jsonl", "rl.jsonl"};

struct Tail {
  std::vector<std::string> lines;  // complete lines, without '\n'
  uint64_t torn = 0;               // bytes of an unfinished last line
};

Tail split(const std::string& bytes) {
  Tail t;
  size_t start = 0;
  for (size_t nl; (nl = bytes.find('\n', start)) != std::string::npos; start = nl + 1)
    t.lines.push_back(bytes.substr(start, nl - start));
  t.torn = bytes.size() - start;
  return t;
}

// The item id a record's "id" names, when it is this job's.
std::optional<uint64_t> record_id(const std::string& line, const std::string& job_name) {
  auto j = nlohmann::json::parse(line, nullptr, false);
  if (!j.is_object() || !j.contains("id") || !j["id"].is_string()) return std::nullopt;
  const std::string key = j["id"].get<std::string>();
  auto dash = key.rfind('-');
  if (dash == std::string::npos) return std::nullopt;
  char* end = nullptr;
  uint64_t id = std::strtoull(key.c_str() + dash + 1, &end, 10);
  if (*end != '\0' || item_key(job_name, id) != key) return std::nullopt;
  return id;
}

std::string export_line(const std::string& file, const Item& item, const std::string& job) {
  if (file == "sft.sharegpt.jsonl") return sharegpt_record(item, job).dump();
  if (file == "sft.openai.jsonl") return openai_sft_record(item, job).dump();
  return rl_record(item, job).dump();
}

uint64_t bytes_of(const std::vector<std::string>& lines, size_t n) {
  uint64_t b = 0;
  for (size_t i = 0; i < n && i < lines.size(); ++i) b += lines[i].size() + 1;
  return b;
}

struct Logged {
  Item item;
};

}  // namespace

const std::vector<std::string>& output_file_names() {
  static const std::vector<std::string> names = {kRejected, kAccepted, kExports[0], kExports[1], kExports[2]};
  return names;
}

Expected<OutputRecoveryPlan> plan_output_recovery(const std::optional<WriterCheckpoint>& committed,
                                                  const OutputTails& tails, const LoggedItemLookup& lookup,
                                                  const std::string& job_name, uint64_t target, bool feedback) {
  OutputRecoveryPlan plan;
  WriterCheckpoint cp = committed ? *committed : WriterCheckpoint{};
  std::map<std::string, Tail> tail;
  for (const auto& name : output_file_names()) {
    auto it = tails.past_committed.find(name);
    tail[name] = it == tails.past_committed.end() ? Tail{} : split(it->second);
    plan.new_lengths[name] = cp.file_lengths[name];
  }
  // Which logged item, in which state, each line names; nullopt ends the adoptable prefix.
  std::map<uint64_t, Logged> items;
  auto logged = [&](uint64_t id) -> const Logged* {
    if (auto it = items.find(id); it != items.end()) return &it->second;
    auto item = lookup(id);
    if (!item || item->id != id) return nullptr;
    return &items.emplace(id, Logged{std::move(*item)}).first->second;
  };

  // Rejected lines: the log must hold the item rejected, and the line must be its record.
  std::vector<uint64_t> rejected;
  for (const auto& line : tail[kRejected].lines) {
    auto id = record_id(line, job_name);
    const Logged* l = id ? logged(*id) : nullptr;
    if (!l || l->item.item_state() != ItemState::kRejected || rejected_record(l->item, job_name).dump() != line) break;
    rejected.push_back(*id);
  }
  std::vector<uint64_t> accepted;
  for (const auto& line : tail[kAccepted].lines) {
    auto id = record_id(line, job_name);
    const Logged* l = id ? logged(*id) : nullptr;
    if (!l || l->item.item_state() != ItemState::kAccepted || accepted_record(l->item, job_name).dump() != line) break;
    accepted.push_back(*id);
  }

  // The gate decides as the lost batches did: the accepted prefix whose items it releases is adopted.
  auto base_gate = committed ? CommitGate::restore(cp.gate) : CommitGate(target ? target : CommitGate::kUnlimited);
  std::set<uint64_t> released, surplus, decided_now;
  CommitGate gate = base_gate;
  for (;;) {
    gate = base_gate;
    released.clear();
    surplus.clear();
    decided_now.clear();
    auto take = [&](const CommitGate::Outcome& o) {
      released.insert(o.release.begin(), o.release.end());
      surplus.insert(o.surplus.begin(), o.surplus.end());
    };
    for (uint64_t id : rejected)
      if (!gate.decided(id)) {
        decided_now.insert(id);
        take(gate.on_decided(id, false));
      }
    for (uint64_t id : accepted)
      if (!gate.decided(id)) {
        decided_now.insert(id);
        take(gate.on_decided(id, true));
      }
    size_t ok = 0;
    while (ok < accepted.size() && released.count(accepted[ok])) ++ok;
    if (ok == accepted.size()) break;
    accepted.resize(ok);  // cut from the first line the gate would not release
  }

  // Nothing past the committed lengths can be kept: cut it all, as before.
  uint64_t tail_bytes = 0;
  for (const auto& [name, t] : tail) tail_bytes += bytes_of(t.lines, t.lines.size()) + t.torn;
  if (rejected.empty() && accepted.empty()) {
    plan.cut_bytes = tail_bytes;
    if (tail_bytes) plan.notes.push_back("nothing past the committed lengths could be adopted; cut " +
                                         std::to_string(tail_bytes) + " bytes");
    return plan;
  }

  Tally tally = cp.tally;
  LogBatch& log = plan.log;
  // Decided now: no longer in flight (i/) nor parked (p/), whichever it was.
  auto leave_flight = [&](uint64_t id) {
    log.erase_item(id);
    log.unpark(id);
  };
  for (uint64_t id : rejected) {
    const Item& item = logged(id)->item;
    tally.rejected(item.provenance.domain, item.reject_reason);
    tally.tokens(item.prompt_tokens, item.completion_tokens);
    log.put_state(id, {static_cast<uint8_t>(*next_state(ItemState::kRejected, ItemEvent::kWriteRejected)),
                       item.reject_reason});
    leave_flight(id);
    cp.max_id_seen = std::max(cp.max_id_seen, id + 1);
  }
  plan.adopted_rejected = rejected.size();
  plan.new_lengths[kRejected] += bytes_of(tail[kRejected].lines, rejected.size());

  // Accepted: adopted lines first, then items the adopted rejections released that have no line yet.
  std::vector<uint64_t> written(accepted.begin(), accepted.end());
  std::set<uint64_t> adopted(accepted.begin(), accepted.end());
  for (uint64_t id : released)
    if (!adopted.count(id)) written.push_back(id);
  for (uint64_t id : written) {
    const Logged* l = logged(id);
    if (!l) return corruption("output recovery: item " + std::to_string(id) + " was released but the log holds no record of it");
    const Item& item = l->item;
    tally.accepted(item.provenance.domain);
    if (decided_now.count(id)) tally.tokens(item.prompt_tokens, item.completion_tokens);
    log.put_state(id, {static_cast<uint8_t>(*next_state(ItemState::kAccepted, ItemEvent::kWriteAccepted)), ""});
    leave_flight(id);
    if (feedback)
      log.put_feedback(id, encode(Feedback{item.id, item.question, item.rationale, item.answer, item.provenance}));
    cp.max_id_seen = std::max(cp.max_id_seen, id + 1);
    if (!adopted.count(id)) {
      plan.append[kAccepted].push_back(accepted_record(item, job_name).dump());
      ++plan.written_now;
    }
  }
  plan.adopted_accepted = accepted.size();
  plan.new_lengths[kAccepted] += bytes_of(tail[kAccepted].lines, accepted.size());
  for (const auto& file : kExports) {
    // Each export's lines past its committed length are a prefix of the same items, in the same order.
    const auto& lines = tail[file].lines;
    size_t kept = 0;
    while (kept < lines.size() && kept < written.size() && lines[kept] == export_line(file, logged(written[kept])->item, job_name))
      ++kept;
    plan.new_lengths[file] += bytes_of(lines, kept);
    for (size_t i = kept; i < written.size(); ++i)
      plan.append[file].push_back(export_line(file, logged(written[i])->item, job_name));
  }
  for (uint64_t id : surplus) {
    tally.surplus();
    log.put_state(id, {static_cast<uint8_t>(*next_state(ItemState::kAccepted, ItemEvent::kMarkSurplus)), ""});
    leave_flight(id);
  }
  for (const auto& [name, t] : tail) {
    uint64_t kept = plan.new_lengths[name] - cp.file_lengths[name];
    uint64_t have = bytes_of(t.lines, t.lines.size()) + t.torn;
    if (have > kept) {
      plan.cut_bytes += have - kept;
      plan.notes.push_back(name + ": cut " + std::to_string(have - kept) + " bytes past what could be adopted");
    }
  }
  for (auto& [name, lines] : plan.append)
    for (const auto& line : lines) plan.new_lengths[name] += line.size() + 1;
  cp.gate = gate.snapshot();
  cp.tally = tally;
  cp.received += decided_now.size();
  cp.file_lengths = plan.new_lengths;
  cp.finished = false;
  log.put_meta(meta::kWriter, encode(cp));
  return plan;
}

}  // namespace vf
