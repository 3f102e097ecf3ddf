#include "dataflow/records.h"

#include <cstdio>

#include "dataflow/checks.h"

namespace vf {
using nlohmann::json;

std::string item_key(const std::string& job_name, uint64_t id) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%012llu", static_cast<unsigned long long>(id));
  return job_name + "-" + buf;
}

namespace {

json source_json(const Provenance& p) {
  if (p.source.empty()) return nullptr;
  return json::parse(p.source, nullptr, false);
}

json seed_json(const Item& item) {
  const auto& p = item.provenance;
  return {{"file", p.seed_file}, {"index", p.seed_index}, {"name", p.seed_name},
          {"source", source_json(p)}, {"license", p.license}};
}

json substitutions_json(const Item& item) {
  json subs = json::array();
  for (const auto& s : item.substitutions) subs.push_back({{"from", s.from}, {"to", s.to}});
  return subs;
}

json executions_json(const Item& item) {
  json runs = json::array();
  for (const auto& e : item.executions) {
    json r = {{"status", to_string(e.exec_status())},
              {"exit_code", e.exit_code},
              {"wall_ms", e.wall_ms}};
    if (!e.output.empty()) r["output"] = e.output.substr(0, 2000);
    if (!e.error_tail.empty()) r["stderr_tail"] = e.error_tail;
    if (!e.detail.empty()) r["detail"] = e.detail;
    runs.push_back(std::move(r));
  }
  return runs;
}

json provenance_json(const Provenance& p) {
  return {{"file", p.seed_file}, {"index", p.seed_index}, {"name", p.seed_name},
          {"domain", p.domain},  {"source", source_json(p)}, {"license", p.license}};
}

// LLM items: what the solvers said, the pass rate, the tokens spent, the
// seeds the generator was shown (each with its license).
void add_llm_fields(const Item& item, json& r) {
  if (!item.conditioned_on.empty()) {
    json seeds = json::array();
    for (const auto& p : item.conditioned_on) seeds.push_back(provenance_json(p));
    r["conditioned_on"] = seeds;
  }
  if (!item.solver_samples.empty()) {
    json samples = json::array();
    for (const auto& s : item.solver_samples)
      samples.push_back({{"answer", s.answer}, {"extraction", s.extraction}, {"agrees", s.agrees}});
    r["solver_samples"] = samples;
  }
  if (item.pass_rate >= 0) {
    r["pass_rate"] = item.pass_rate;
    r["difficulty"] = item.difficulty;
  }
  if (item.prompt_tokens || item.completion_tokens)
    r["tokens"] = {{"prompt", item.prompt_tokens}, {"completion", item.completion_tokens}};
  if (!item.evolution.empty()) {
    r["evolution"] = item.evolution;
    r["evolved_from"] = item.evolved_from;
  }
}

// The assistant turn for SFT: an agreeing chain of thought when the solvers
// gave one, else the program of thought.
std::string sft_answer(const Item& item) {
  for (const auto& s : item.solver_samples)
    if (s.agrees) return s.response;
  std::string assistant = "```python\n" + item.rationale;
  if (assistant.back() != '\n') assistant += '\n';
  assistant += "```\nRunning this program prints the answer.\n\nFinal answer: \\boxed{" + item.answer + "}";
  return assistant;
}

}  // namespace

json sharegpt_record(const Item& item, const std::string& job_name) {
  return {{"id", item_key(job_name, item.id)},
          {"conversations", json::array({{{"from", "human"}, {"value", item.question}},
                                         {{"from", "gpt"}, {"value", sft_answer(item)}}})},
          {"domain", item.provenance.domain},
          {"license", item.provenance.license}};
}

json openai_sft_record(const Item& item, const std::string& job_name) {
  return {{"id", item_key(job_name, item.id)},
          {"messages", json::array({{{"role", "user"}, {"content", item.question}},
                                    {{"role", "assistant"}, {"content", sft_answer(item)}}})},
          {"domain", item.provenance.domain},
          {"license", item.provenance.license}};
}

json rl_record(const Item& item, const std::string& job_name) {
  json r = {{"id", item_key(job_name, item.id)},
            {"prompt", json::array({{{"role", "user"}, {"content", item.question}}})},
            {"ground_truth", item.answer},
            {"reward", "answer-equivalence"},
            {"domain", item.provenance.domain},
            {"license", item.provenance.license},
            {"seed", seed_json(item)}};
  if (item.pass_rate >= 0) {
    r["pass_rate"] = item.pass_rate;
    r["difficulty"] = item.difficulty;
  }
  return r;
}

json accepted_record(const Item& item, const std::string& job_name) {
  std::string assistant = sft_answer(item);
  json r = {
      {"id", item_key(job_name, item.id)},
      {"item_id", item.id},
      {"question", item.question},
      {"rationale", item.rationale},
      {"answer", item.answer},
      {"domain", item.provenance.domain},
      {"license", item.provenance.license},
      {"generator", item.generator},
      {"seed", seed_json(item)},
      {"seed_answer", item.reference_answer},
      {"substitutions", substitutions_json(item)},
      {"messages", json::array({{{"role", "user"}, {"content", item.question}},
                                {{"role", "assistant"}, {"content", assistant}}})},
  };
  add_llm_fields(item, r);
  return r;
}

json rejected_record(const Item& item, const std::string& job_name) {
  json r = {
      {"id", item_key(job_name, item.id)},
      {"item_id", item.id},
      {"reason", item.reject_reason},
      {"detail", item.reject_detail},
      {"question", item.question},
      {"rationale", item.rationale},
      {"domain", item.provenance.domain},
      {"license", item.provenance.license},
      {"generator", item.generator},
      {"seed", seed_json(item)},
      {"substitutions", substitutions_json(item)},
      {"executions", executions_json(item)},
  };
  add_llm_fields(item, r);
  if (!item.generator_reply.empty()) r["generator_reply"] = item.generator_reply;  // kept raw for audit
  return r;
}

json seed_check_record(const Item& item) {
  std::string status = "sandbox-failure";
  std::string output, detail;
  if (!item.executions.empty()) {
    const auto& e = item.executions.front();
    status = std::string(to_string(e.exec_status()));
    output = e.output;
    detail = e.detail;
    if (detail.empty() && !e.error_tail.empty()) detail = e.error_tail;
  }
  bool match = item.item_state() == ItemState::kAccepted || item.item_state() == ItemState::kWritten;
  json r = {{"file", item.provenance.seed_file},
            {"index", item.provenance.seed_index},
            {"domain", item.provenance.domain},
            {"status", status},
            {"output", output.substr(0, 4000)},
            {"final_answer", item.reference_answer},
            {"match", match}};
  if (!detail.empty()) r["detail"] = detail;
  if (!item.reject_reason.empty()) r["reason"] = item.reject_reason;
  if (!item.verdict_note.empty()) r["equivalence"] = item.verdict_note;
  if (!item.executions.empty()) r["wall_ms"] = item.executions.front().wall_ms;
  return r;
}

void Tally::accepted(const std::string& domain) {
  ++domains_[domain].accepted;
  ++accepted_;
}

void Tally::rejected(const std::string& domain, const std::string& reason) {
  auto& d = domains_[domain];
  ++d.rejected;
  ++d.reasons[reason];
  ++rejected_;
}

std::map<std::string, uint64_t> Tally::reasons() const {
  std::map<std::string, uint64_t> out;
  for (const auto& [_, d] : domains_)
    for (const auto& [r, n] : d.reasons) out[r] += n;
  return out;
}

json Tally::to_json() const {
  json domains = json::object();
  for (const auto& [name, d] : domains_)
    domains[name] = {{"accepted", d.accepted}, {"rejected", d.rejected}, {"rejection_reasons", d.reasons}};
  return {{"accepted", accepted_},
          {"rejected", rejected_},
          {"surplus", surplus_},
          {"rejection_reasons", reasons()},
          {"tokens", {{"prompt", prompt_tokens_}, {"completion", completion_tokens_}}},
          {"domains", domains}};
}

void SeedCheckTally::add(const Item& item) {
  auto& d = domains_[item.provenance.domain];
  ++d.items;
  std::string status = "sandbox-failure";
  if (!item.executions.empty()) {
    const auto& e = item.executions.front();
    status = std::string(to_string(e.exec_status()));
    if (e.ok()) ++d.executed_ok;
    if (e.exec_status() == ExecStatus::kMissingDependency) ++d.missing_modules[e.detail];
  }
  ++d.statuses[status];
  if (item.reject_reason.empty()) ++d.matched;
}

uint64_t SeedCheckTally::items() const {
  uint64_t n = 0;
  for (const auto& [_, d] : domains_) n += d.items;
  return n;
}

std::string SeedCheckTally::table() const {
  std::string out;
  char line[512];
  std::snprintf(line, sizeof line, "%-32s %7s %9s %8s %9s %8s\n", "domain", "items", "exec ok", "exec %",
                "matched", "match %");
  out += line;
  SeedDomainStats all;
  auto row = [&](const std::string& name, const SeedDomainStats& d) {
    double exec_pct = d.items ? 100.0 * d.executed_ok / d.items : 0;
    // Match rate over executed items, as Loong reports it.
    double match_pct = d.executed_ok ? 100.0 * d.matched / d.executed_ok : 0;
    std::snprintf(line, sizeof line, "%-32s %7llu %9llu %7.1f%% %9llu %7.1f%%\n", name.substr(0, 32).c_str(),
                  (unsigned long long)d.items, (unsigned long long)d.executed_ok, exec_pct,
                  (unsigned long long)d.matched, match_pct);
    out += line;
  };
  for (const auto& [name, d] : domains_) {
    row(name, d);
    all.items += d.items;
    all.executed_ok += d.executed_ok;
    all.matched += d.matched;
    for (const auto& [s, n] : d.statuses) all.statuses[s] += n;
    for (const auto& [m, n] : d.missing_modules) all.missing_modules[m] += n;
  }
  if (domains_.size() > 1) row("all", all);
  out += "statuses:";
  for (const auto& [s, n] : all.statuses) out += " " + s + "=" + std::to_string(n);
  out += "\n";
  if (!all.missing_modules.empty()) {
    out += "missing modules:";
    for (const auto& [m, n] : all.missing_modules) out += " " + m + " (" + std::to_string(n) + " items)";
    out += "\n";
  }
  return out;
}

json SeedCheckTally::to_json() const {
  json out = json::object();
  for (const auto& [name, d] : domains_)
    out[name] = {{"items", d.items},
                 {"executed_ok", d.executed_ok},
                 {"matched", d.matched},
                 {"statuses", d.statuses},
                 {"missing_modules", d.missing_modules}};
  return out;
}

}  // namespace vf
