#include "job/console_views.h"

#include <algorithm>
#include <fstream>
#include <regex>

namespace vf {

using nlohmann::json;

namespace {

// Whole lines appended to `path` since byte `from`; advances `from` past them.
// `starts` (when given) receives each line's start offset.
std::vector<std::string> new_lines(const std::string& path, uint64_t& from, std::vector<uint64_t>* starts) {
  std::vector<std::string> lines;
  std::ifstream in(path, std::ios::binary);
  if (!in) return lines;
  in.seekg(static_cast<std::streamoff>(from));
  std::string chunk((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  size_t pos = 0;
  while (true) {
    size_t nl = chunk.find('\n', pos);
    if (nl == std::string::npos) break;
    if (starts) starts->push_back(from + pos);
    lines.push_back(chunk.substr(pos, nl - pos));
    pos = nl + 1;
  }
  from += pos;
  return lines;
}

std::string clip(const std::string& s, size_t n) { return s.size() <= n ? s : s.substr(0, n) + "…"; }

}  // namespace

json OutputViews::rejections() {
  std::lock_guard<std::mutex> lock(mu_);
  for (const auto& line : new_lines(out_dir_ + "/rejected.jsonl", rejected_read_, nullptr)) {
    json r = json::parse(line, nullptr, false);
    if (!r.is_object()) continue;
    ++rejected_total_;
    std::string reason = r.value("reason", std::string("unknown"));
    ++by_reason_[reason];
    auto& ex = examples_[reason];
    if (ex.size() < kExamplesPerReason)
      ex.push_back({{"id", r.value("id", std::string())},
                    {"question", clip(r.value("question", std::string()), 400)},
                    {"detail", clip(r.value("detail", std::string()), 600)}});
  }
  std::vector<std::pair<std::string, uint64_t>> order(by_reason_.begin(), by_reason_.end());
  std::sort(order.begin(), order.end(), [](auto& a, auto& b) { return a.second > b.second || (a.second == b.second && a.first < b.first); });
  json reasons = json::array();
  for (const auto& [reason, count] : order)
    reasons.push_back({{"reason", reason}, {"count", count}, {"examples", examples_[reason]}});
  return {{"total", rejected_total_}, {"reasons", reasons}};
}

json OutputViews::accepted(uint64_t offset, uint64_t limit) {
  std::lock_guard<std::mutex> lock(mu_);
  std::string path = out_dir_ + "/accepted.jsonl";
  new_lines(path, accepted_read_, &accepted_lines_);
  limit = std::min<uint64_t>(limit ? limit : 20, 100);
  json items = json::array();
  std::ifstream in(path, std::ios::binary);
  for (uint64_t i = offset; in && i < accepted_lines_.size() && i < offset + limit; ++i) {
    in.seekg(static_cast<std::streamoff>(accepted_lines_[i]));
    std::string line;
    std::getline(in, line);
    json r = json::parse(line, nullptr, false);
    if (!r.is_object()) continue;
    r.erase("messages");  // the same text again, in chat form
    items.push_back(std::move(r));
  }
  return {{"total", accepted_lines_.size()}, {"offset", offset}, {"items", items}};
}

json redacted_config(const std::string& described) {
  static const std::regex secret_key(R"((^|[._])(api_?key|token|secret|password)([._]|$))", std::regex::icase);
  static const std::regex url_password(R"(://([^:/@\s]+):[^@/\s]+@)");
  json out = json::object();
  size_t pos = 0;
  while (pos < described.size()) {
    size_t nl = described.find('\n', pos);
    std::string line = described.substr(pos, nl == std::string::npos ? std::string::npos : nl - pos);
    pos = nl == std::string::npos ? described.size() : nl + 1;
    auto eq = line.find(" = ");
    if (eq == std::string::npos) continue;
    std::string key = line.substr(0, eq), value = line.substr(eq + 3);
    bool names_variable = key.size() > 4 && key.compare(key.size() - 4, 4, "_env") == 0;
    if (!names_variable && std::regex_search(key, secret_key)) value = "(hidden)";
    value = std::regex_replace(value, url_password, "://$1:(hidden)@");
    out[key] = value;
  }
  return out;
}

}  // namespace vf
