// Seed datasets in the Loong format: a JSON array, or JSON Lines, of
//   {question, final_answer, rationale, metadata{license, domain, ...}}.
//
// Strict only where the pipeline reads a field (question, final_answer,
// rationale, metadata.license, metadata.domain, required_dependencies,
// answer_tolerance), as Loong's own schema check is: other metadata
// (date_created as a list, contributor lists, numbers, nulls) loads, with a
// warning when a documented field has an unexpected type. Exact duplicates
// (same question, answer and rationale) are dropped with a warning.
//
// load_seeds() reads any number of files and folders (folders: every *.json
// and *.jsonl inside, recursively, in sorted order) and validates each item.
// Every problem is reported with its file, item index (and line for JSON
// Lines) and field; nothing is thrown. The caller decides whether problems
// are fatal (the default) or whether invalid items are skipped.
// Pure: reads files, holds no global state. Thread-safety: none needed.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "base/text.h"

namespace vf {

struct Seed {
  std::string file;
  uint32_t index = 0;            // position in its file
  std::string question;
  std::string final_answer;
  std::string rationale;
  nlohmann::json metadata;       // kept whole: exports carry it
  std::string domain;
  std::string license;
  std::string name;
  std::vector<std::string> required_dependencies;
  // metadata.answer_tolerance: an absolute tolerance, element by element, as
  // Loong's execute_and_compare.py applies it. Negative: none given.
  double answer_tolerance = -1;
};

struct SeedProblem {
  std::string file;
  int64_t index = -1;            // -1: the file as a whole
  int64_t line = 0;              // 1-based line, 0 when unknown
  std::string field;             // "" for file-level problems
  std::string message;
  std::string to_string() const; // "FILE: item 3 (line 4), field 'metadata.license': missing"
};

struct SeedSet {
  std::vector<Seed> seeds;       // valid seeds only
  std::vector<SeedProblem> problems;  // items that cannot be used: fatal unless skipping
  // Loaded anyway: metadata the pipeline does not read in another type, a
  // missing metadata.source, exact duplicates (dropped; both places named).
  std::vector<SeedProblem> warnings;
  size_t duplicates_dropped = 0;
  std::vector<std::string> files;
  size_t items_read = 0;         // valid + invalid items
  uint64_t content_hash = 0;     // FNV-1a over the files' bytes, in order
};

SeedSet load_seeds(const std::vector<std::string>& paths);

// Python distribution names (as seeds declare them in required_dependencies)
// to the names their modules are imported by.
using DistributionModules = std::map<std::string, std::string>;
// The built-in map ("pycryptodome" -> "Crypto", "scikit-learn" -> "sklearn", ...).
DistributionModules default_distribution_modules();
// Import name for a requirement ("pycryptodome==3.2" -> "Crypto",
// "networkx==3.4" -> "networkx"; unknown names: '-' becomes '_').
std::string module_for_distribution(const std::string& requirement, const DistributionModules& distribution_modules);
// Import names of the modules a seed declares.
std::vector<std::string> required_modules(const Seed& seed, const DistributionModules& map);

}  // namespace vf
