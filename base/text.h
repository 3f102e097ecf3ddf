// Small text and hashing helpers shared by every layer.
// Pure functions; thread-safe.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace vf {

// Trimmed, with every run of whitespace collapsed to one space.
std::string collapse_whitespace(const std::string& s);

// 64-bit FNV-1a; `seed` continues an earlier hash (hash of a concatenation).
uint64_t fnv1a64(const void* data, size_t size, uint64_t seed = 1469598103934665603ULL);

// "name=value" entries as a map, over `base` (later entries win). Entries
// without '=' are skipped: callers validate them where they are read.
std::map<std::string, std::string> parse_name_pairs(const std::vector<std::string>& entries,
                                                    std::map<std::string, std::string> base = {});

}  // namespace vf
