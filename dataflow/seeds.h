// Seed datasets in the Loong format: a JSON array, or JSON Lines, of
//   {question, final_answer, rationale, metadata{license, domain, ...}}.
//
// load_seeds() reads any number of files and folders (folders: every *.json
// and *.jsonl inside, recursively, in sorted order) and validates each item.
// Every problem is reported with its file, item index (and line for JSON
// Lines) and field; nothing is thrown. The caller decides whether problems
// are fatal (the default) or whether invalid items are skipped.
// Pure: reads files, holds no global state. Thread-safety: none needed.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

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
  std::vector<SeedProblem> problems;
  std::vector<std::string> files;
  size_t items_read = 0;         // valid + invalid items
  uint64_t content_hash = 0;     // FNV-1a over the files' bytes, in order
};

SeedSet load_seeds(const std::vector<std::string>& paths);

// Top-level module names a seed declares ("sympy==1.13.3" -> "sympy").
std::vector<std::string> module_names(const std::vector<std::string>& required_dependencies);

// Trimmed, with every run of whitespace collapsed to one space.
std::string collapse_whitespace(const std::string& s);

uint64_t fnv1a64(const void* data, size_t size, uint64_t seed = 1469598103934665603ULL);

}  // namespace vf
