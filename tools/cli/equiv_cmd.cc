#include "tools/cli/equiv_cmd.h"

#include <chrono>
#include <cstdio>
#include <fstream>

#include <nlohmann/json.hpp>

#include "dataflow/config.h"
#include "dataflow/equiv/judge.h"

namespace vf {

namespace {

using nlohmann::json;

json verdict_json(const equiv::Verdict& v) {
  json j = {{"equivalent", v.equivalent()},
            {"outcome", equiv::to_string(v.outcome)},
            {"reason", v.reason},
            {"gold_form", v.gold_form},
            {"pred_form", v.pred_form}};
  if (!v.extraction_method.empty()) {
    j["extracted"] = v.extracted;
    j["extraction"] = v.extraction_method;
  }
  return j;
}

Expected<equiv::PolicySet> build_policies(const EquivArgs& args) {
  auto config = load_config(args.config_path, args.overrides);
  if (!config) return Error{"config error: " + config.error()};
  auto set = equivalence_policies(config.value().equivalence);
  if (!set) return Error{set.error()};
  equiv::PolicySet policies = set.value();
  equiv::Policy& base = policies.default_policy();
  for (const auto& p : args.policy)
    if (auto s = equiv::apply_policy_settings(base, p); !s) return Error{"--policy: " + s.error()};
  if (auto s = equiv::set_policy_field(base, "extract", args.extract); !s) return Error{"--extract: " + s.error()};
  if (auto s = equiv::set_policy_field(base, "fallback", args.fallback); !s) return Error{"--fallback: " + s.error()};
  // Domain rules were built on the config's default; rebuild them on the final one.
  equiv::PolicySet final_set(base);
  for (const auto& rule : config.value().equivalence.domains)
    if (auto s = final_set.add_domain_rule(rule); !s) return Error{s.error()};
  return final_set;
}

int single(const EquivArgs& args, const equiv::PolicySet& policies) {
  auto v = equiv::judge(args.gold, args.pred, policies.for_domain(args.domain));
  if (args.json) {
    std::printf("%s\n", verdict_json(v).dump().c_str());
  } else {
    std::printf("%s: %s\n", equiv::to_string(v.outcome), v.reason.c_str());
    if (!v.extraction_method.empty())
      std::printf("  extracted (%s): %s\n", v.extraction_method.c_str(), v.extracted.c_str());
    if (!v.gold_form.empty()) std::printf("  gold: %s\n", v.gold_form.c_str());
    if (!v.pred_form.empty()) std::printf("  pred: %s\n", v.pred_form.c_str());
  }
  return v.equivalent() ? 0 : 3;
}

int cases(const EquivArgs& args, const equiv::PolicySet& policies) {
  std::ifstream in(args.cases_file);
  if (!in) {
    std::fprintf(stderr, "veriforge: cannot read %s\n", args.cases_file.c_str());
    return 1;
  }
  std::FILE* out = stdout;
  if (!args.out_file.empty()) {
    out = std::fopen(args.out_file.c_str(), "w");
    if (!out) {
      std::fprintf(stderr, "veriforge: cannot write %s\n", args.out_file.c_str());
      return 1;
    }
  }
  uint64_t records = 0, equivalent = 0, with_expected = 0, agree = 0, bad = 0;
  std::map<std::string, uint64_t> outcomes;
  std::vector<std::string> disagreements;
  double judge_seconds = 0;
  std::string line;
  for (uint64_t line_no = 1; std::getline(in, line); ++line_no) {
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    auto where = args.cases_file + ":" + std::to_string(line_no);
    json rec;
    try {
      rec = json::parse(line);
    } catch (const json::parse_error& e) {
      std::fprintf(stderr, "%s: invalid JSON: %s\n", where.c_str(), e.what());
      ++bad;
      continue;
    }
    if (!rec.is_object() || !rec.contains("gold") || !rec.contains("pred") || !rec["gold"].is_string() ||
        !rec["pred"].is_string()) {
      std::fprintf(stderr, "%s: a record needs string fields 'gold' and 'pred'\n", where.c_str());
      ++bad;
      continue;
    }
    if (rec.contains("expected") && !rec["expected"].is_boolean()) {
      std::fprintf(stderr, "%s: 'expected' must be true or false\n", where.c_str());
      ++bad;
      continue;
    }
    std::string domain = rec.contains("domain") && rec["domain"].is_string() ? rec["domain"].get<std::string>() : "";
    auto t0 = std::chrono::steady_clock::now();
    auto v = equiv::judge(rec["gold"].get<std::string>(), rec["pred"].get<std::string>(), policies.for_domain(domain));
    judge_seconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    ++records;
    ++outcomes[equiv::to_string(v.outcome)];
    if (v.equivalent()) ++equivalent;
    json o = {{"id", rec.contains("id") ? rec["id"] : json(line_no)}};
    o.update(verdict_json(v));
    if (rec.contains("expected")) {
      bool expected = rec["expected"].get<bool>();
      ++with_expected;
      o["expected"] = expected;
      o["agree"] = expected == v.equivalent();
      if (expected == v.equivalent()) ++agree;
      else disagreements.push_back(o["id"].dump());
    }
    std::fprintf(out, "%s\n", o.dump().c_str());
  }
  json summary = {{"records", records}, {"equivalent", equivalent}, {"outcomes", outcomes}, {"invalid_records", bad},
                  {"judge_seconds", judge_seconds}};
  if (with_expected) {
    summary["with_expected"] = with_expected;
    summary["agree"] = agree;
    summary["disagree"] = with_expected - agree;
    summary["disagreeing_ids"] = disagreements;
  }
  std::fprintf(out, "%s\n", json{{"summary", summary}}.dump().c_str());
  if (out != stdout) std::fclose(out);
  std::fprintf(stderr, "%llu records, %llu equivalent", (unsigned long long)records, (unsigned long long)equivalent);
  if (with_expected)
    std::fprintf(stderr, "; agreement with expected %llu/%llu", (unsigned long long)agree,
                 (unsigned long long)with_expected);
  if (bad) std::fprintf(stderr, "; %llu invalid records", (unsigned long long)bad);
  std::fprintf(stderr, "\n");
  if (bad) return 1;
  return with_expected && agree != with_expected ? 3 : 0;
}

}  // namespace

int cmd_equiv(const EquivArgs& args) {
  bool pair = args.have_gold || args.have_pred;
  if (pair == !args.cases_file.empty()) {
    std::fprintf(stderr, "veriforge equiv: give either --gold and --pred, or --cases FILE\n");
    return 1;
  }
  if (pair && !(args.have_gold && args.have_pred)) {
    std::fprintf(stderr, "veriforge equiv: --gold and --pred go together\n");
    return 1;
  }
  auto policies = build_policies(args);
  if (!policies) {
    std::fprintf(stderr, "veriforge equiv: %s\n", policies.error().c_str());
    return 1;
  }
  return pair ? single(args, policies.value()) : cases(args, policies.value());
}

}  // namespace vf
