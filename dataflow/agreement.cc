#include "dataflow/agreement.h"

#include "dataflow/equiv/judge.h"

namespace vf {

namespace {

class AgreementCheck final : public Check {
 public:
  explicit AgreementCheck(AgreementOptions o) : o_(std::move(o)) {}
  std::string name() const override { return "agreement"; }
  ItemVerdict check(const Item& item) const override {
    ItemVerdict v;
    if (!execution_criteria(item, o_.check, v)) return v;
    const std::string& code_answer = v.answer;
    if (item.solver_samples.empty()) {
      v.reason = "not-solved";
      v.detail = "no solver samples reached the verifier";
      return v;
    }
    equiv::Policy sample_policy = o_.check.policies.for_domain(item.provenance.domain);
    if (item.answer_tolerance >= 0) sample_policy.absolute_tolerance = item.answer_tolerance;
    sample_policy.extract = equiv::ExtractMode::kNever;  // answers were extracted by the solver stage
    size_t agree = 0, answered = 0;
    for (const auto& s : item.solver_samples) {
      bool ok = !s.answer.empty() && equiv::judge(code_answer, s.answer, sample_policy).equivalent();
      v.agrees.push_back(ok);
      agree += ok;
      answered += !s.answer.empty();
    }
    size_t k = item.solver_samples.size();
    v.pass_rate = static_cast<double>(agree) / static_cast<double>(k);
    v.difficulty = difficulty_bucket(v.pass_rate);
    // Majority: the code's class (the agreeing samples) must outnumber every
    // class of mutually equivalent disagreeing answers.
    size_t rival = 0;
    std::string rival_answer;
    for (size_t i = 0; i < k; ++i) {
      const auto& a = item.solver_samples[i].answer;
      if (a.empty() || v.agrees[i]) continue;
      size_t n = 0;
      for (size_t j = 0; j < k; ++j)
        n += !v.agrees[j] && !item.solver_samples[j].answer.empty() &&
             (i == j || equiv::judge(a, item.solver_samples[j].answer, sample_policy).equivalent());
      if (n > rival) {
        rival = n;
        rival_answer = a;
      }
    }
    v.note = "pass rate " + std::to_string(agree) + "/" + std::to_string(k) + ", " + std::to_string(answered) +
             " answered";
    if (rival) v.note += "; largest disagreeing answer '" + rival_answer.substr(0, 100) + "' (" + std::to_string(rival) + ")";
    if (agree == 0) {
      if (o_.drop_none_solved) {
        v.reason = "solver-disagrees";
        v.detail = "zero advantage: no sample agrees with the code's '" + code_answer.substr(0, 200) + "'; " + v.note;
        return v;
      }
    } else if (o_.majority && agree <= rival) {
      v.reason = "no-majority";
      v.detail = "the code printed '" + code_answer.substr(0, 200) + "'; " + v.note;
      return v;
    }
    if (agree == k && o_.drop_all_solved) {
      v.reason = "too-easy";
      v.detail = "every one of " + std::to_string(k) + " samples solved it";
      return v;
    }
    v.accepted = true;
    return v;
  }

 private:
  AgreementOptions o_;
};

}  // namespace

std::unique_ptr<Check> make_agreement_check(AgreementOptions options) {
  return std::make_unique<AgreementCheck>(std::move(options));
}

std::string difficulty_bucket(double pass_rate) {
  if (pass_rate >= 1.0) return "easy";
  if (pass_rate >= 0.5) return "medium";
  if (pass_rate > 0.0) return "hard";
  return "unsolved";
}

}  // namespace vf
