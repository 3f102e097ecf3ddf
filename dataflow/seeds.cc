#include "dataflow/seeds.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <unordered_map>

namespace vf {
namespace fs = std::filesystem;
using nlohmann::json;

std::string SeedProblem::to_string() const {
  std::ostringstream os;
  os << file << ":";
  if (index >= 0) os << " item " << index;
  if (line > 0) os << (index >= 0 ? " (line " : " line ") << line << (index >= 0 ? ")" : "");
  if (!field.empty()) os << ", field '" << field << "'";
  os << ": " << message;
  return os.str();
}

std::map<std::string, std::string> default_distribution_modules() {
  return {{"pycryptodome", "Crypto"},     {"pycryptodomex", "Cryptodome"},
          {"python-constraint", "constraint"}, {"scikit-learn", "sklearn"},
          {"beautifulsoup4", "bs4"},      {"pyyaml", "yaml"},
          {"pillow", "PIL"},              {"opencv-python", "cv2"},
          {"gurobi-machinelearning", "gurobi_ml"}, {"ipython", "IPython"},
          {"quantlib", "QuantLib"},       {"quantlib-python", "QuantLib"},
          {"z3-solver", "z3"},            {"rdkit-pypi", "rdkit"},
          {"python-dateutil", "dateutil"}, {"scikit-image", "skimage"},
          {"gurobipy", "gurobipy"},       {"PyQt5", "PyQt5"}};
}

std::string module_for_distribution(const std::string& requirement, const DistributionModules& distribution_modules) {
  size_t end = requirement.find_first_of("=<>!~[; ");
  std::string name = requirement.substr(0, end);
  std::string lower = name;
  std::transform(lower.begin(), lower.end(), lower.begin(), ::tolower);
  for (const auto& [dist, module] : distribution_modules) {
    std::string d = dist;
    std::transform(d.begin(), d.end(), d.begin(), ::tolower);
    if (d == lower) return module;
  }
  // Import names are lower case where the distribution's is not ("PuLP",
  // "NumPy", "SymPy"); the exceptions are in the map ("QuantLib").
  std::replace(lower.begin(), lower.end(), '-', '_');
  return lower;
}

std::vector<std::string> required_modules(const Seed& seed, const DistributionModules& map) {
  std::vector<std::string> out;
  for (const auto& d : seed.required_dependencies) out.push_back(module_for_distribution(d, map));
  return out;
}

namespace {

const char* type_name(const json& v) {
  switch (v.type()) {
    case json::value_t::null: return "null";
    case json::value_t::object: return "object";
    case json::value_t::array: return "array";
    case json::value_t::string: return "string";
    case json::value_t::boolean: return "boolean";
    case json::value_t::number_integer:
    case json::value_t::number_unsigned: return "integer";
    case json::value_t::number_float: return "number";
    default: return "value";
  }
}

void line_col(const std::string& text, size_t byte, int64_t& line, int64_t& col) {
  line = 1;
  col = 1;
  for (size_t i = 0; i < byte && i < text.size(); ++i) {
    if (text[i] == '\n') {
      ++line;
      col = 1;
    } else {
      ++col;
    }
  }
}

struct Validator {
  SeedSet& set;
  std::unordered_map<std::string, std::string> seen_items;  // normalized item -> "file item N"

  void problem(const std::string& file, int64_t index, int64_t line, std::string field,
               std::string message) {
    set.problems.push_back({file, index, line, std::move(field), std::move(message)});
  }

  // Validates one item; appends a Seed when it is valid.
  void warning(const std::string& file, int64_t index, int64_t line, std::string field, std::string message) {
    set.warnings.push_back({file, index, line, std::move(field), std::move(message)});
  }

  void item(const std::string& file, uint32_t index, int64_t line, const json& v) {
    ++set.items_read;
    size_t before = set.problems.size();
    if (!v.is_object()) {
      problem(file, index, line, "", std::string("item is a ") + type_name(v) + ", expected an object");
      return;
    }
    auto required_string = [&](const json& obj, const std::string& key, const std::string& path,
                               bool non_empty) -> std::string {
      auto it = obj.find(key);
      if (it == obj.end()) {
        problem(file, index, line, path, "missing");
        return {};
      }
      if (!it->is_string()) {
        problem(file, index, line, path, std::string("is a ") + type_name(*it) + ", expected a string");
        return {};
      }
      std::string s = it->get<std::string>();
      if (non_empty && collapse_whitespace(s).empty()) problem(file, index, line, path, "is empty");
      return s;
    };
    Seed seed;
    seed.file = file;
    seed.index = index;
    seed.question = required_string(v, "question", "question", true);
    seed.final_answer = required_string(v, "final_answer", "final_answer", true);
    seed.rationale = required_string(v, "rationale", "rationale", true);
    auto meta = v.find("metadata");
    if (meta == v.end()) {
      problem(file, index, line, "metadata", "missing");
    } else if (!meta->is_object()) {
      problem(file, index, line, "metadata", std::string("is a ") + type_name(*meta) + ", expected an object");
    } else {
      seed.metadata = *meta;
      seed.license = required_string(*meta, "license", "metadata.license", true);
      seed.domain = required_string(*meta, "domain", "metadata.domain", true);
      // Documented fields the pipeline does not read: another type is a warning.
      auto string_or_list = [&](const char* key) {
        auto it = meta->find(key);
        if (it == meta->end() || it->is_string()) return;
        if (it->is_array() && std::all_of(it->begin(), it->end(), [](const json& e) { return e.is_string(); }))
          return;
        warning(file, index, line, std::string("metadata.") + key,
                std::string("is a ") + type_name(*it) + ", expected a string or a list of strings; loaded as is");
      };
      if (meta->find("source") == meta->end())
        warning(file, index, line, "metadata.source", "missing (Loong's schema requires it); loaded");
      string_or_list("source");
      string_or_list("contributor");
      string_or_list("date_created");
      for (const char* key : {"name", "python_version"}) {
        auto it = meta->find(key);
        if (it != meta->end() && !it->is_string())
          warning(file, index, line, std::string("metadata.") + key,
                  std::string("is a ") + type_name(*it) + ", expected a string; loaded as is");
      }
      if (auto it = meta->find("name"); it != meta->end() && it->is_string()) seed.name = it->get<std::string>();
      if (auto it = meta->find("answer_tolerance"); it != meta->end() && !it->is_null()) {
        double tolerance = -1;
        if (it->is_number()) {
          tolerance = it->get<double>();
        } else if (it->is_string()) {
          // "1e-6" written as text: accepted when the whole text is a number.
          const std::string text = it->get<std::string>();
          char* end = nullptr;
          tolerance = std::strtod(text.c_str(), &end);
          if (text.empty() || end != text.c_str() + text.size()) tolerance = -2;
        } else {
          tolerance = -2;
        }
        if (!(tolerance >= 0) || !std::isfinite(tolerance))
          problem(file, index, line, "metadata.answer_tolerance",
                  "is " + it->dump() + ", expected a non-negative number");
        else
          seed.answer_tolerance = tolerance;
      }
      if (auto it = meta->find("required_dependencies"); it != meta->end()) {
        if (!it->is_array()) {
          problem(file, index, line, "metadata.required_dependencies",
                  std::string("is a ") + type_name(*it) + ", expected a list of strings");
        } else {
          for (size_t k = 0; k < it->size(); ++k) {
            if (!(*it)[k].is_string()) {
              problem(file, index, line, "metadata.required_dependencies[" + std::to_string(k) + "]",
                      std::string("is a ") + type_name((*it)[k]) + ", expected a string");
            } else {
              seed.required_dependencies.push_back((*it)[k].get<std::string>());
            }
          }
        }
      }
    }
    if (set.problems.size() != before) return;
    // A duplicate item repeats question, answer and rationale. The same
    // question solved by different code is a distinct item (Loong's graph
    // seeds solve one max-flow question with several algorithms).
    std::string key = collapse_whitespace(seed.question) + '\x1f' + collapse_whitespace(seed.final_answer) +
                      '\x1f' + seed.rationale;
    auto [it, fresh] = seen_items.emplace(key, file + " item " + std::to_string(index));
    if (!fresh) {
      ++set.duplicates_dropped;
      warning(file, index, line, "", "duplicate of " + it->second + " (same question, answer and rationale); dropped");
      return;
    }
    set.seeds.push_back(std::move(seed));
  }

  void file_contents(const std::string& file, const std::string& text) {
    set.content_hash = fnv1a64(text.data(), text.size(), set.content_hash);
    size_t first = text.find_first_not_of(" \t\r\n");
    if (first == std::string::npos) {
      problem(file, -1, 0, "", "file is empty");
      return;
    }
    if (text[first] == '[') {
      json doc;
      try {
        doc = json::parse(text);
      } catch (const json::parse_error& e) {
        int64_t line = 0, col = 0;
        line_col(text, e.byte > 0 ? e.byte - 1 : 0, line, col);
        std::string what = e.what();
        // nlohmann's message starts with "[json.exception.parse_error.101] parse error at ...".
        auto pos = what.find("] ");
        (void)col;  // nlohmann's message carries line and column already
        problem(file, -1, line, "", "invalid JSON: " + (pos == std::string::npos ? what : what.substr(pos + 2)));
        return;
      }
      for (size_t i = 0; i < doc.size(); ++i) item(file, static_cast<uint32_t>(i), 0, doc[i]);
      return;
    }
    // JSON Lines: one item per non-blank line.
    std::istringstream in(text);
    std::string line_text;
    int64_t line_no = 0;
    uint32_t index = 0;
    while (std::getline(in, line_text)) {
      ++line_no;
      if (line_text.find_first_not_of(" \t\r") == std::string::npos) continue;
      json v;
      try {
        v = json::parse(line_text);
      } catch (const json::parse_error& e) {
        ++set.items_read;
        std::string what = e.what();
        auto pos = what.find("] ");
        problem(file, index, line_no, "",
                "invalid JSON: " + (pos == std::string::npos ? what : what.substr(pos + 2)));
        ++index;
        continue;
      }
      item(file, index, line_no, v);
      ++index;
    }
  }
};

bool is_seed_file(const fs::path& p) {
  auto ext = p.extension().string();
  return ext == ".json" || ext == ".jsonl";
}

}  // namespace

SeedSet load_seeds(const std::vector<std::string>& paths) {
  SeedSet set;
  Validator v{set, {}};
  if (paths.empty()) v.problem("(seeds)", -1, 0, "", "no seed files or folders given");
  for (const auto& path : paths) {
    std::error_code ec;
    std::vector<std::string> files;
    if (fs::is_directory(path, ec)) {
      for (auto it = fs::recursive_directory_iterator(path, ec); !ec && it != fs::recursive_directory_iterator();
           it.increment(ec)) {
        if (it->is_regular_file() && is_seed_file(it->path())) files.push_back(it->path().string());
      }
      std::sort(files.begin(), files.end());
      if (files.empty()) v.problem(path, -1, 0, "", "folder holds no .json or .jsonl seed file");
    } else if (fs::exists(path, ec)) {
      files.push_back(path);
    } else {
      v.problem(path, -1, 0, "", "no such file or folder");
    }
    for (const auto& file : files) {
      std::ifstream in(file, std::ios::binary);
      if (!in) {
        v.problem(file, -1, 0, "", "cannot be read");
        continue;
      }
      std::stringstream buf;
      buf << in.rdbuf();
      set.files.push_back(file);
      v.file_contents(file, buf.str());
    }
  }
  return set;
}

}  // namespace vf
