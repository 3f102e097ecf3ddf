#include "storage/output_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace vf {

OutputFile::~OutputFile() {
  if (f_) std::fclose(f_);
}

Expected<OutputFile::Repair> OutputFile::open(const std::string& path, uint64_t committed) {
  path_ = path;
  Repair repair;
  struct stat st {};
  if (::stat(path.c_str(), &st) == 0) {
    uint64_t size = static_cast<uint64_t>(st.st_size);
    if (size < committed)
      return Error{path + ": holds " + std::to_string(size) + " bytes but the checkpoint log committed " +
                   std::to_string(committed) + ": committed records were lost outside veriforge (file replaced "
                   "or truncated); restore the file or start a new job"};
    if (size > committed) {
      repair.cut_bytes = size - committed;
      if (committed > 0 || size > 0) {
        // The cut is torn unless the committed prefix ends exactly at the file's last newline.
        int fd = ::open(path.c_str(), O_RDONLY);
        if (fd >= 0) {
          char last = '\n';
          if (::pread(fd, &last, 1, static_cast<off_t>(size - 1)) == 1) repair.torn_line = last != '\n';
          ::close(fd);
        }
      }
      if (::truncate(path.c_str(), static_cast<off_t>(committed)) != 0)
        return Error{"cannot repair " + path + " (cut to its committed " + std::to_string(committed) +
                     " bytes): " + std::strerror(errno)};
    }
  } else if (errno != ENOENT) {
    return Error{"cannot open " + path + ": " + std::strerror(errno)};
  }
  f_ = std::fopen(path.c_str(), "a");
  if (!f_) return Error{"cannot open " + path + ": " + std::strerror(errno)};
  length_ = committed;
  return repair;
}

Status OutputFile::append_line(const std::string& line) {
  if (std::fwrite(line.data(), 1, line.size(), f_) != line.size() || std::fputc('\n', f_) == EOF)
    return Error{"cannot write " + path_ + ": " + std::strerror(errno)};
  length_ += line.size() + 1;
  unsynced_ = true;
  return {};
}

Status OutputFile::flush(bool sync) {
  if (std::fflush(f_) != 0) return Error{"cannot write " + path_ + ": " + std::strerror(errno)};
  if (sync && unsynced_) {
    if (::fsync(fileno(f_)) != 0) return Error{"cannot sync " + path_ + ": " + std::strerror(errno)};
    unsynced_ = false;
  }
  return {};
}

}  // namespace vf
