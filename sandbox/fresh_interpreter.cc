#include "sandbox/fresh_interpreter.h"

#include "sandbox/run_queue.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <regex>

#include <spdlog/spdlog.h>

namespace vf::sandbox {

namespace {

using Clock = std::chrono::steady_clock;
constexpr size_t kStderrKeep = 4096;

std::string rtrim(std::string s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.pop_back();
  return s;
}

// Last `n` lines of `s`.
std::string last_lines(const std::string& s, int n) {
  std::string t = rtrim(s);
  size_t pos = t.size();
  for (int found = 0; found < n; ++found) {
    if (pos == 0) return t;
    size_t nl = t.rfind('\n', pos - 1);
    if (nl == std::string::npos) return t;
    pos = nl;
  }
  return t.substr(pos + 1);
}

void set_limit(int resource, rlim_t value) {
  struct rlimit rl {value, value};
  setrlimit(resource, &rl);
}

}  // namespace

RunResult run_python(const std::string& python, const RunRequest& request) {
  RunResult r;
  const auto start = Clock::now();
  auto finish = [&](RunResult& res) -> RunResult& {
    res.wall_ms = std::chrono::duration<double, std::milli>(Clock::now() - start).count();
    return res;
  };

  char dir_template[] = "/tmp/veriforge-snippet-XXXXXX";
  if (!mkdtemp(dir_template)) {
    r.detail = std::string("mkdtemp: ") + std::strerror(errno);
    return finish(r);
  }
  const std::string dir = dir_template;
  struct DirGuard {
    std::string path;
    ~DirGuard() {
      std::error_code ec;
      std::filesystem::remove_all(path, ec);
    }
  } guard{dir};

  const std::string script = dir + "/snippet.py";
  {
    int fd = ::open(script.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0) {
      r.detail = std::string("write snippet: ") + std::strerror(errno);
      return finish(r);
    }
    size_t off = 0;
    while (off < request.code.size()) {
      ssize_t n = ::write(fd, request.code.data() + off, request.code.size() - off);
      if (n <= 0) break;
      off += static_cast<size_t>(n);
    }
    ::close(fd);
    if (off != request.code.size()) {
      r.detail = "write snippet: short write";
      return finish(r);
    }
  }

  // Everything the child needs is prepared before fork: after fork in a
  // multi-threaded process only async-signal-safe calls are allowed.
  std::vector<std::string> env_strings = snippet_environment(dir);
  std::vector<char*> envp;
  for (auto& s : env_strings) envp.push_back(s.data());
  envp.push_back(nullptr);
  std::string arg0 = python, arg_s = "-s", arg_b = "-B", arg_script = script;
  char* argv[] = {arg0.data(), arg_s.data(), arg_b.data(), arg_script.data(), nullptr};
  const auto& lim = request.limits;
  const rlim_t cpu = lim.effective_cpu_seconds();
  const rlim_t as = static_cast<rlim_t>(lim.address_space_mb) << 20;
  const rlim_t fsize = static_cast<rlim_t>(lim.max_file_bytes);

  int out_pipe[2], err_pipe[2];
  if (pipe2(out_pipe, O_CLOEXEC) != 0) {
    r.detail = std::string("pipe: ") + std::strerror(errno);
    return finish(r);
  }
  if (pipe2(err_pipe, O_CLOEXEC) != 0) {
    r.detail = std::string("pipe: ") + std::strerror(errno);
    ::close(out_pipe[0]);
    ::close(out_pipe[1]);
    return finish(r);
  }
  pid_t pid = fork();
  if (pid < 0) {
    r.detail = std::string("fork: ") + std::strerror(errno);
    for (int fd : {out_pipe[0], out_pipe[1], err_pipe[0], err_pipe[1]}) ::close(fd);
    return finish(r);
  }
  if (pid == 0) {
    setpgid(0, 0);
    int devnull = ::open("/dev/null", O_RDONLY);
    if (devnull >= 0) dup2(devnull, 0);
    dup2(out_pipe[1], 1);
    dup2(err_pipe[1], 2);
    set_limit(RLIMIT_CPU, cpu);
    set_limit(RLIMIT_AS, as);
    set_limit(RLIMIT_FSIZE, fsize);
    set_limit(RLIMIT_CORE, 0);
    if (chdir(dir_template) != 0) _exit(125);
    execve(argv[0], argv, envp.data());
    _exit(127);
  }
  setpgid(pid, pid);  // also from the parent: no race with an early kill
  ::close(out_pipe[1]);
  ::close(err_pipe[1]);

  const auto deadline = start + std::chrono::duration_cast<Clock::duration>(
                                    std::chrono::duration<double>(lim.wall_timeout_s));
  bool timed_out = false, overflow = false;
  std::string out, err;
  pollfd fds[2] = {{out_pipe[0], POLLIN, 0}, {err_pipe[0], POLLIN, 0}};
  int open_fds = 2;
  char buf[65536];
  while (open_fds > 0) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
    if (left <= 0) {
      timed_out = true;
      break;
    }
    int n = poll(fds, 2, static_cast<int>(std::min<long long>(left, 1000)));
    if (n < 0 && errno != EINTR) break;
    for (int i = 0; i < 2; ++i) {
      if (fds[i].fd < 0 || !(fds[i].revents & (POLLIN | POLLHUP | POLLERR))) continue;
      ssize_t got = ::read(fds[i].fd, buf, sizeof buf);
      if (got <= 0) {
        ::close(fds[i].fd);
        fds[i].fd = -1;
        --open_fds;
        continue;
      }
      if (i == 0) {
        out.append(buf, static_cast<size_t>(got));
        if (out.size() > lim.max_output_bytes) overflow = true;
      } else {
        err.append(buf, static_cast<size_t>(got));
        if (err.size() > 2 * kStderrKeep) err.erase(0, err.size() - kStderrKeep);
      }
    }
    if (overflow) break;
  }
  for (auto& f : fds)
    if (f.fd >= 0) ::close(f.fd);

  // The snippet may have closed its output and kept running: wait for it
  // until the deadline, then kill its whole process group.
  int status = 0;
  bool reaped = false;
  if (!timed_out && !overflow) {
    while (Clock::now() < deadline) {
      pid_t w = waitpid(pid, &status, WNOHANG);
      if (w == pid) {
        reaped = true;
        break;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    if (!reaped) timed_out = true;
  }
  kill(-pid, SIGKILL);  // grandchildren left in the group too
  if (!reaped) {
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
  }
  if (WIFEXITED(status)) r.exit_code = WEXITSTATUS(status);
  if (WIFSIGNALED(status)) r.term_signal = WTERMSIG(status);
  if (err.size() > kStderrKeep) err.erase(0, err.size() - kStderrKeep);
  r.error_tail = last_lines(err, 8);
  if (overflow) out.resize(std::min<size_t>(out.size(), 256));
  r.output = rtrim(std::move(out));
  if (!timed_out && !overflow && r.exit_code == 127 && r.term_signal == 0 && err.empty()) {
    r.status = RunStatus::kSandboxFailure;
    r.detail = "cannot execute " + python;
    return finish(r);
  }
  classify_exit(r, timed_out, overflow);
  return finish(r);
}

FreshInterpreterExecutor::FreshInterpreterExecutor(ExecutorOptions options)
    : options_(std::move(options)), queue_(std::make_unique<RunQueue>()) {
  unsigned n = options_.workers ? options_.workers : std::max(1u, std::thread::hardware_concurrency());
  for (unsigned i = 0; i < n; ++i) threads_.emplace_back([this] { work(); });
}

FreshInterpreterExecutor::~FreshInterpreterExecutor() {
  queue_->shutdown();
  for (auto& t : threads_) t.join();
  queue_->fail_abandoned();
}

void FreshInterpreterExecutor::submit(RunRequest request, Callback done) { queue_->push(std::move(request), std::move(done)); }

size_t FreshInterpreterExecutor::queued() const { return queue_->size(); }

void FreshInterpreterExecutor::work() {
  RunQueue::Job job;
  while (queue_->take(job)) {
    RunResult result;
    try {
      result = run_python(options_.python, job.first);
    } catch (const std::exception& e) {
      result = RunResult{};
      result.detail = std::string("supervisor error: ") + e.what();
      spdlog::error("component=sandbox event=supervisor-error error=\"{}\"", e.what());
    }
    job.second(std::move(result));
  }
}

}  // namespace vf::sandbox
