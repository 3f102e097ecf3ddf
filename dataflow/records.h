// Output records: the JSON the writer appends for accepted, rejected and
// seed-check items, and the per-domain tallies behind the summaries.
// Pure; no I/O. Record builders are thread-safe; Tally and SeedCheckTally
// are not (one owner: the writer).
#pragma once

#include <cstdint>
#include <map>
#include <string>

#include <msgpack.hpp>
#include <nlohmann/json.hpp>

#include "dataflow/item.h"

namespace vf {

// One accepted item: question, rationale, answer, provenance, license, and an
// SFT-ready `messages` conversation (program-of-thought answer).
nlohmann::json accepted_record(const Item& item, const std::string& job_name);
nlohmann::json rejected_record(const Item& item, const std::string& job_name);
// Exports of accepted items: SFT in ShareGPT form, and RL (prompt + ground
// truth for a rule-based reward, with pass rate and difficulty).
nlohmann::json sharegpt_record(const Item& item, const std::string& job_name);
nlohmann::json openai_sft_record(const Item& item, const std::string& job_name);  // {"messages": [...]}
nlohmann::json rl_record(const Item& item, const std::string& job_name);
// verify-seeds: one line per seed with status, output and match.
nlohmann::json seed_check_record(const Item& item);

std::string item_key(const std::string& job_name, uint64_t id);  // "job-000000000042"

struct DomainTally {
  uint64_t accepted = 0;
  uint64_t rejected = 0;
  std::map<std::string, uint64_t> reasons;
  MSGPACK_DEFINE(accepted, rejected, reasons)
};

class Tally {
 public:
  void accepted(const std::string& domain);
  void rejected(const std::string& domain, const std::string& reason);
  void surplus() { ++surplus_; }
  void tokens(uint64_t prompt, uint64_t completion) {
    prompt_tokens_ += prompt;
    completion_tokens_ += completion;
  }
  uint64_t total_accepted() const { return accepted_; }
  uint64_t total_rejected() const { return rejected_; }
  uint64_t total_surplus() const { return surplus_; }
  const std::map<std::string, DomainTally>& domains() const { return domains_; }
  std::map<std::string, uint64_t> reasons() const;
  uint64_t prompt_tokens() const { return prompt_tokens_; }
  uint64_t completion_tokens() const { return completion_tokens_; }
  nlohmann::json to_json() const;

  // The writer's checkpoint carries it (a resumed job continues its counts).
  MSGPACK_DEFINE(domains_, accepted_, rejected_, surplus_, prompt_tokens_, completion_tokens_)

 private:
  std::map<std::string, DomainTally> domains_;
  uint64_t accepted_ = 0, rejected_ = 0, surplus_ = 0;
  uint64_t prompt_tokens_ = 0, completion_tokens_ = 0;  // of the items decided
};

// verify-seeds: per-domain execution success and match rate.
struct SeedDomainStats {
  uint64_t items = 0;
  uint64_t executed_ok = 0;
  uint64_t matched = 0;
  std::map<std::string, uint64_t> statuses;  // ok, error, timeout, missing-dependency, ...
  std::map<std::string, uint64_t> missing_modules;
};

class SeedCheckTally {
 public:
  void add(const Item& item);
  std::string table() const;  // the printed per-domain table
  nlohmann::json to_json() const;
  uint64_t items() const;

 private:
  std::map<std::string, SeedDomainStats> domains_;
};

}  // namespace vf
