#include "dataflow/curriculum.h"

#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <vector>

#include <nlohmann/json.hpp>

namespace vf {

namespace fs = std::filesystem;

Status write_curriculum(const std::string& rl_path, const std::string& out_path, const std::string& scratch_dir) {
  static const std::vector<std::string> kBuckets = {"easy", "medium", "hard", "unsolved", ""};
  std::ifstream in(rl_path);
  if (!in) return Error{"curriculum: cannot read " + rl_path};
  std::error_code ec;
  fs::create_directories(scratch_dir, ec);
  if (ec) return Error{"curriculum: cannot create " + scratch_dir + ": " + ec.message()};
  // bucket index -> domain -> scratch file
  std::vector<std::map<std::string, std::string>> files(kBuckets.size());
  std::map<std::string, std::unique_ptr<std::ofstream>> open;
  std::string line;
  size_t line_no = 0;
  while (std::getline(in, line)) {
    ++line_no;
    if (line.empty()) continue;
    auto j = nlohmann::json::parse(line, nullptr, false);
    if (j.is_discarded()) return Error{rl_path + ":" + std::to_string(line_no) + ": not JSON"};
    std::string difficulty = j.value("difficulty", "");
    std::string domain = j.value("domain", "");
    size_t b = 0;
    while (b + 1 < kBuckets.size() && kBuckets[b] != difficulty) ++b;
    auto& path = files[b][domain];
    if (path.empty()) path = scratch_dir + "/" + std::to_string(b) + "-" + std::to_string(files[b].size()) + ".jsonl";
    auto& f = open[path];
    if (!f) f = std::make_unique<std::ofstream>(path);
    *f << line << "\n";
    if (!*f) return Error{"curriculum: cannot write " + path};
  }
  open.clear();  // flush and close
  std::ofstream out(out_path + ".tmp");
  if (!out) return Error{"curriculum: cannot write " + out_path};
  for (const auto& bucket : files) {
    std::vector<std::unique_ptr<std::ifstream>> readers;
    for (const auto& [domain, path] : bucket) readers.push_back(std::make_unique<std::ifstream>(path));
    bool any = true;
    while (any) {
      any = false;
      for (auto& r : readers)
        if (std::getline(*r, line)) {
          out << line << "\n";
          any = true;
        }
    }
  }
  out.close();
  if (!out) return Error{"curriculum: cannot write " + out_path};
  fs::rename(out_path + ".tmp", out_path, ec);
  if (ec) return Error{"curriculum: cannot rename into " + out_path + ": " + ec.message()};
  fs::remove_all(scratch_dir, ec);
  return {};
}

}  // namespace vf
