#include "dataflow/similarity.h"

#include <algorithm>
#include <cctype>
#include <cstdint>

namespace vf {
namespace {
std::vector<std::string> words(const std::string& s) {
  std::vector<std::string> out;
  std::string cur;
  for (char ch : s) {
    if (std::isalnum(static_cast<unsigned char>(ch))) cur += static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
    else if (!cur.empty()) out.push_back(std::move(cur)), cur.clear();
  }
  if (!cur.empty()) out.push_back(cur);
  return out;
}

double rouge_l_tokens(const std::vector<std::string>& a, const std::vector<std::string>& b) {
  if (a.empty() || b.empty()) return 0;
  std::vector<uint32_t> prev(b.size() + 1, 0), cur(b.size() + 1, 0);
  for (size_t i = 1; i <= a.size(); ++i) {
    for (size_t j = 1; j <= b.size(); ++j)
      cur[j] = a[i - 1] == b[j - 1] ? prev[j - 1] + 1 : std::max(prev[j], cur[j - 1]);
    std::swap(prev, cur);
  }
  double lcs = prev[b.size()];
  double p = lcs / static_cast<double>(b.size()), r = lcs / static_cast<double>(a.size());
  return p + r == 0 ? 0 : 2 * p * r / (p + r);
}
}  // namespace

double rouge_l(const std::string& a, const std::string& b) { return rouge_l_tokens(words(a), words(b)); }

void SimilarityPool::add(const std::string& question) {
  tokens_.push_back(words(question));
  questions_.push_back(question);
}

std::pair<double, std::string> SimilarityPool::closest(const std::string& question) const {
  auto q = words(question);
  double best = 0;
  size_t at = 0;
  for (size_t i = 0; i < tokens_.size(); ++i) {
    double r = rouge_l_tokens(q, tokens_[i]);
    if (r > best) {
      best = r;
      at = i;
    }
  }
  return {best, tokens_.empty() ? std::string() : questions_[at]};
}

SimilarityFilter::SimilarityFilter(double threshold, const std::vector<std::string>& initial) : threshold_(threshold) {
  for (const auto& q : initial) pool_.add(q);
}

Status SimilarityFilter::load(const JobStore& store) {
  return store.for_each_pool_question([&](uint64_t, std::string_view q) -> Status {
    pool_.add(std::string(q));
    return {};
  });
}

void SimilarityFilter::apply(Item& item, LogBatch* log) {
  if (threshold_ <= 0 || item.item_state() == ItemState::kRejected || item.question.empty()) return;
  auto [score, closest] = pool_.closest(item.question);
  if (score >= threshold_) {
    reject(item, "too-similar",
           "ROUGE-L " + std::to_string(score).substr(0, 4) + " against '" + closest.substr(0, 160) + "'");
    return;
  }
  pool_.add(item.question);
  if (log) log->put_pool_question(item.id, item.question);
}

}  // namespace vf
