// Helpers for tests: temporary folders that clean up after themselves.
#pragma once

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

namespace vf::test {

class TempDir {
 public:
  TempDir() {
    char tmpl[] = "/tmp/veriforge-test-XXXXXX";
    path_ = mkdtemp(tmpl);
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  const std::string& path() const { return path_; }
  std::string file(const std::string& name, const std::string& content) const {
    std::string p = path_ + "/" + name;
    std::filesystem::create_directories(std::filesystem::path(p).parent_path());
    std::ofstream(p, std::ios::binary) << content;
    return p;
  }

 private:
  std::string path_;
};

inline std::string source_dir() { return VF_SOURCE_DIR; }
inline std::string shared_dir() { return std::string(VF_SOURCE_DIR) + "/../shared"; }

}  // namespace vf::test
