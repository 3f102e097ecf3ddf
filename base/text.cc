#include "base/text.h"

#include <cctype>

namespace vf {

std::string collapse_whitespace(const std::string& s) {
  std::string out;
  bool space = false;
  for (char c : s) {
    if (std::isspace(static_cast<unsigned char>(c))) {
      space = !out.empty();
    } else {
      if (space) out.push_back(' ');
      space = false;
      out.push_back(c);
    }
  }
  return out;
}

uint64_t fnv1a64(const void* data, size_t size, uint64_t h) {
  auto p = static_cast<const unsigned char*>(data);
  for (size_t i = 0; i < size; ++i) {
    h ^= p[i];
    h *= 1099511628211ULL;
  }
  return h;
}

std::map<std::string, std::string> parse_name_pairs(const std::vector<std::string>& entries,
                                                    std::map<std::string, std::string> base) {
  for (const auto& e : entries) {
    auto eq = e.find('=');
    if (eq != std::string::npos) base[e.substr(0, eq)] = e.substr(eq + 1);
  }
  return base;
}

}  // namespace vf
