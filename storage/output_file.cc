#include "storage/output_file.h"

namespace vf {

Expected<OutputFile::Repair> OutputFile::open(const std::string& path, uint64_t committed) {
  path_ = path;
  Repair repair;
  auto size = env_->file_size(path);
  if (size) {
    if (*size < committed)
      return corruption(path + ": holds " + std::to_string(*size) + " bytes but the checkpoint log committed " +
                        std::to_string(committed) +
                        ": committed records were lost outside veriforge (file replaced or truncated); restore the "
                        "file or start a new job");
    if (*size > committed) {
      repair.cut_bytes = *size - committed;
      // The cut is torn unless the file's last byte ends a line.
      auto last = env_->read(path, *size - 1, 1);
      repair.torn_line = last && last->size() == 1 && (*last)[0] != '\n';
      if (auto s = env_->truncate(path, committed); !s)
        return io_error("cannot repair " + path + " (cut to its committed " + std::to_string(committed) +
                        " bytes): " + s.error());
    }
  } else if (size.code() != ErrorCode::kNotFound) {
    return size.failure();
  }
  auto file = env_->open_appendable(path);
  if (!file) return file.failure();
  file_ = std::move(file.value());
  length_ = committed;
  return repair;
}

Status OutputFile::append_line(const std::string& line) {
  buffer_ += line;
  buffer_ += '\n';
  length_ += line.size() + 1;
  unsynced_ = true;
  // Large batches go to the OS as they grow, not all at the flush.
  if (buffer_.size() >= (1 << 20)) {
    if (auto s = file_->append(buffer_); !s) return s;
    buffer_.clear();
  }
  return {};
}

std::shared_ptr<WritableFile> OutputFile::to_sync() {
  if (!unsynced_) return nullptr;
  unsynced_ = false;
  return file_;
}

Status OutputFile::flush(bool sync) {
  if (!buffer_.empty()) {
    if (auto s = file_->append(buffer_); !s) return s;
    buffer_.clear();
  }
  if (sync && unsynced_) {
    if (auto s = file_->sync(); !s) return s;
    unsynced_ = false;
  }
  return {};
}

}  // namespace vf
