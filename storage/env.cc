#include "storage/env.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>

namespace vf {
namespace {

std::string errno_text() { return std::strerror(errno); }

Status sync_folder_of(const std::string& path) {
  auto dir = std::filesystem::path(path).parent_path().string();
  int fd = ::open(dir.empty() ? "." : dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return io_error("cannot open the folder of " + path + ": " + errno_text());
  int rc = ::fsync(fd);
  int e = errno;
  ::close(fd);
  if (rc != 0) return io_error("cannot sync the folder of " + path + ": " + std::strerror(e));
  return {};
}

class PosixWritableFile final : public WritableFile {
 public:
  PosixWritableFile(std::string path, int fd) : path_(std::move(path)), fd_(fd) {}
  ~PosixWritableFile() override { ::close(fd_); }

  Status append(std::string_view data) override {
    while (!data.empty()) {
      ssize_t n = ::write(fd_, data.data(), data.size());
      if (n < 0) {
        if (errno == EINTR) continue;
        return io_error("cannot write " + path_ + ": " + errno_text());
      }
      data.remove_prefix(static_cast<size_t>(n));
    }
    return {};
  }
  Status sync() override {
    if (::fdatasync(fd_) != 0) return io_error("cannot sync " + path_ + ": " + errno_text());
    return {};
  }
  const std::string& path() const override { return path_; }

 private:
  std::string path_;
  int fd_;
};

class PosixEnv final : public Env {
 public:
  Expected<std::unique_ptr<WritableFile>> open_appendable(const std::string& path) override {
    struct stat st {};
    bool existed = ::stat(path.c_str(), &st) == 0;
    int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (fd < 0) return io_error("cannot open " + path + ": " + errno_text());
    if (!existed)
      if (auto s = sync_folder_of(path); !s) {
        ::close(fd);
        return s.failure();
      }
    return std::unique_ptr<WritableFile>(new PosixWritableFile(path, fd));
  }

  Expected<uint64_t> file_size(const std::string& path) override {
    struct stat st {};
    if (::stat(path.c_str(), &st) != 0) {
      if (errno == ENOENT) return not_found(path + ": no such file");
      return io_error("cannot stat " + path + ": " + errno_text());
    }
    return static_cast<uint64_t>(st.st_size);
  }

  Status truncate(const std::string& path, uint64_t size) override {
    if (::truncate(path.c_str(), static_cast<off_t>(size)) != 0)
      return io_error("cannot truncate " + path + ": " + errno_text());
    return {};
  }

  Expected<std::string> read(const std::string& path, uint64_t offset, uint64_t n) override {
    int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return io_error("cannot read " + path + ": " + errno_text());
    std::string out(n, '\0');
    uint64_t got = 0;
    while (got < n) {
      ssize_t r = ::pread(fd, out.data() + got, n - got, static_cast<off_t>(offset + got));
      if (r < 0) {
        if (errno == EINTR) continue;
        int e = errno;
        ::close(fd);
        return io_error("cannot read " + path + ": " + std::strerror(e));
      }
      if (r == 0) break;
      got += static_cast<uint64_t>(r);
    }
    ::close(fd);
    out.resize(got);
    return out;
  }
};

}  // namespace

Env* Env::posix() {
  static Env* env = new PosixEnv();  // never destroyed: outlives every static user
  return env;
}

}  // namespace vf
