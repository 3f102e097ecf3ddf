#include "sandbox/fork_server.h"
#include "sandbox/fresh_interpreter.h"

#include "sandbox/run_queue.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <thread>

#include <msgpack.hpp>
#include <spdlog/spdlog.h>

#include "sandbox/forkserver_script.h"  // generated from sandbox/forkserver.py

namespace vf::sandbox {
namespace {

using Clock = std::chrono::steady_clock;

// --- frames: 4-byte big-endian length + msgpack map -------------------------

// The request channel is a socket so that a server that died makes send()
// fail with EPIPE instead of killing this process with SIGPIPE.
bool write_all(int fd, const char* data, size_t size) {
  while (size > 0) {
    ssize_t n = ::send(fd, data, size, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    data += n;
    size -= static_cast<size_t>(n);
  }
  return true;
}

bool write_frame(int fd, const msgpack::sbuffer& body) {
  uint32_t n = static_cast<uint32_t>(body.size());
  unsigned char head[4] = {static_cast<unsigned char>(n >> 24), static_cast<unsigned char>(n >> 16),
                           static_cast<unsigned char>(n >> 8), static_cast<unsigned char>(n)};
  return write_all(fd, reinterpret_cast<const char*>(head), 4) && write_all(fd, body.data(), body.size());
}

// Reads exactly `size` bytes before `deadline`; false on EOF, error or timeout.
bool read_exact(int fd, char* out, size_t size, Clock::time_point deadline, std::string& why) {
  while (size > 0) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
    if (left <= 0) {
      why = "no answer before the deadline";
      return false;
    }
    pollfd p{fd, POLLIN, 0};
    int r = ::poll(&p, 1, static_cast<int>(std::min<long long>(left, 1000)));
    if (r < 0 && errno != EINTR) {
      why = std::string("poll: ") + std::strerror(errno);
      return false;
    }
    if (r <= 0) continue;
    ssize_t n = ::read(fd, out, size);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      why = "the server closed its pipe";
      return false;
    }
    out += n;
    size -= static_cast<size_t>(n);
  }
  return true;
}

bool read_frame(int fd, msgpack::object_handle& out, Clock::time_point deadline, std::string& why) {
  unsigned char head[4];
  if (!read_exact(fd, reinterpret_cast<char*>(head), 4, deadline, why)) return false;
  uint32_t n = (uint32_t{head[0]} << 24) | (uint32_t{head[1]} << 16) | (uint32_t{head[2]} << 8) | head[3];
  if (n > (64u << 20)) {
    why = "frame of " + std::to_string(n) + " bytes";
    return false;
  }
  std::string body(n, '\0');
  if (!read_exact(fd, body.data(), n, deadline, why)) return false;
  try {
    out = msgpack::unpack(body.data(), body.size());
  } catch (const std::exception& e) {
    why = std::string("malformed frame: ") + e.what();
    return false;
  }
  if (out.get().type != msgpack::type::MAP) {
    why = "frame is not a map";
    return false;
  }
  return true;
}

// Field access on a msgpack map.
const msgpack::object* field(const msgpack::object& map, std::string_view key) {
  for (uint32_t i = 0; i < map.via.map.size; ++i) {
    const auto& kv = map.via.map.ptr[i];
    if (kv.key.type == msgpack::type::STR && std::string_view(kv.key.via.str.ptr, kv.key.via.str.size) == key)
      return &kv.val;
  }
  return nullptr;
}

template <class T>
T get(const msgpack::object& map, std::string_view key, T fallback = T{}) {
  const msgpack::object* v = field(map, key);
  if (!v || v->type == msgpack::type::NIL) return fallback;
  try {
    return v->as<T>();
  } catch (const std::exception&) {
    return fallback;
  }
}

}  // namespace

// --- one server process ---------------------------------------------------------

class ForkServerPool::Slot {
 public:
  Slot(unsigned index, const SandboxOptions& options) : index_(index), options_(options) {}
  ~Slot() { stop(); }

  // Starts the server and waits for its "ready" frame.
  Status start(ModuleReport* report) {
    stop();
    int to[2], from[2], err[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, to) != 0 || pipe2(from, O_CLOEXEC) != 0 ||
        pipe2(err, O_CLOEXEC) != 0)
      return Error{std::string("pipe: ") + std::strerror(errno)};
    std::vector<std::string> env_strings = snippet_environment("/tmp");
    std::vector<char*> envp;
    for (auto& s : env_strings) envp.push_back(s.data());
    envp.push_back(nullptr);
    std::string a0 = options_.python, a1 = "-s", a2 = "-B", a3 = "-c", a4 = kForkServerScript;
    char* argv[] = {a0.data(), a1.data(), a2.data(), a3.data(), a4.data(), nullptr};
    pid_t pid = fork();
    if (pid < 0) return Error{std::string("fork: ") + std::strerror(errno)};
    if (pid == 0) {
      dup2(to[0], 0);
      dup2(from[1], 1);
      dup2(err[1], 2);
      setpgid(0, 0);
      execve(argv[0], argv, envp.data());
      _exit(127);
    }
    ::close(to[0]);
    ::close(from[1]);
    ::close(err[1]);
    pid_ = pid;
    to_ = to[1];
    from_ = from[0];
    err_ = err[0];
    fcntl(err_, F_SETFL, O_NONBLOCK);

    msgpack::sbuffer buf;
    msgpack::packer<msgpack::sbuffer> pk(buf);
    pk.pack_map(10);
    pk.pack("contain"), pk.pack(options_.contain);
    pk.pack("modules"), pk.pack(options_.preimport);
    pk.pack("aliases"), pk.pack(options_.aliases);
    pk.pack("hide"), pk.pack(options_.hide_paths);
    pk.pack("drop_to_uid"), pk.pack(static_cast<int64_t>(options_.uid_base + index_));
    pk.pack("drop_to_gid"), pk.pack(static_cast<int64_t>(options_.uid_base + index_));
    pk.pack("tmp_mb"), pk.pack(options_.tmp_mb);
    std::map<std::string, std::string> env;
    for (const auto& kv : snippet_environment("/tmp")) env[kv.substr(0, kv.find('='))] = kv.substr(kv.find('=') + 1);
    pk.pack("env"), pk.pack(env);
    pk.pack("index"), pk.pack(index_);
    pk.pack("version"), pk.pack(1);
    if (!write_frame(to_, buf)) return fail_start("cannot send setup");
    msgpack::object_handle ready;
    std::string why;
    auto deadline = Clock::now() + std::chrono::duration_cast<Clock::duration>(
                                       std::chrono::duration<double>(options_.start_timeout_s));
    if (!read_frame(from_, ready, deadline, why)) return fail_start(why);
    if (!get<bool>(ready.get(), "ready")) return fail_start("unexpected first frame");
    if (report) {
      report->imported = get<std::vector<std::string>>(ready.get(), "imported");
      report->missing = get<std::map<std::string, std::string>>(ready.get(), "missing");
      report->contained = get<bool>(ready.get(), "contained");
      report->warnings = get<std::vector<std::string>>(ready.get(), "warnings");
    }
    return {};
  }

  // Runs one snippet; an error means the server is lost (crashed, wedged or
  // answered garbage) and must be replaced.
  Expected<RunResult> run(const RunRequest& request, uint64_t id) {
    const auto& lim = request.limits;
    msgpack::sbuffer buf;
    msgpack::packer<msgpack::sbuffer> pk(buf);
    pk.pack_map(8);
    pk.pack("id"), pk.pack(id);
    pk.pack("code"), pk.pack(request.code);
    pk.pack("timeout_s"), pk.pack(lim.wall_timeout_s);
    pk.pack("cpu_s"), pk.pack(lim.effective_cpu_seconds());
    pk.pack("as_mb"), pk.pack(lim.address_space_mb);
    pk.pack("file_mb"), pk.pack(std::max<uint64_t>(1, lim.max_file_bytes >> 20));
    pk.pack("max_output"), pk.pack(lim.max_output_bytes);
    pk.pack("nproc"), pk.pack(lim.max_processes);
    if (!write_frame(to_, buf)) return Error{"cannot send the snippet: " + std::string(std::strerror(errno))};
    // The server enforces the wall timeout itself; allow it time to kill and
    // reap before declaring it wedged.
    auto deadline = Clock::now() + std::chrono::duration_cast<Clock::duration>(
                                       std::chrono::duration<double>(lim.wall_timeout_s + options_.wedged_after_s));
    msgpack::object_handle resp;
    std::string why;
    if (!read_frame(from_, resp, deadline, why)) return Error{why + stderr_tail()};
    const auto& m = resp.get();
    if (get<uint64_t>(m, "id") != id) return Error{"answer for another snippet"};
    RunResult r;
    r.status = parse_status(get<std::string>(m, "status", "sandbox-failure"));
    r.exit_code = get<int>(m, "exit_code", -1);
    r.term_signal = get<int>(m, "signal");
    r.output = get<std::string>(m, "stdout");
    r.error_tail = get<std::string>(m, "stderr_tail");
    r.detail = get<std::string>(m, "detail");
    r.wall_ms = get<double>(m, "wall_ms");
    return r;
  }

  // Ends the server: its namespace's PID 1 (the outer process's only child)
  // first, so the outer process reaps it and exits; then the outer process.
  // Killing only the outer one would leave the inner one to the host's init.
  void stop() {
    if (to_ >= 0) {
      ::close(to_);  // EOF: a healthy server exits by itself
      to_ = -1;
    }
    if (pid_ > 0) {
      std::string path = "/proc/" + std::to_string(pid_) + "/task/" + std::to_string(pid_) + "/children";
      if (std::FILE* f = std::fopen(path.c_str(), "r")) {
        long child;
        while (std::fscanf(f, "%ld", &child) == 1) ::kill(static_cast<pid_t>(child), SIGKILL);
        std::fclose(f);
      }
      int status;
      bool reaped = false;
      for (int i = 0; i < 200 && !reaped; ++i) {
        pid_t w = waitpid(pid_, &status, WNOHANG);
        reaped = w == pid_ || (w < 0 && errno == ECHILD);
        if (!reaped) std::this_thread::sleep_for(std::chrono::milliseconds(5));
      }
      if (!reaped) {
        ::kill(-pid_, SIGKILL);
        ::kill(pid_, SIGKILL);
        while (waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
        }
      }
    }
    for (int* fd : {&from_, &err_})
      if (*fd >= 0) {
        ::close(*fd);
        *fd = -1;
      }
    pid_ = -1;
  }

  bool alive() const { return pid_ > 0; }
  int pid() const { return pid_; }
  unsigned index() const { return index_; }

 private:
  Status fail_start(const std::string& why) {
    std::string tail = stderr_tail();
    stop();
    return Error{"fork server " + std::to_string(index_) + " did not start: " + why + tail};
  }

  std::string stderr_tail() {
    if (err_ < 0) return {};
    char buf[4096];
    std::string all;
    ssize_t n;
    while ((n = ::read(err_, buf, sizeof buf)) > 0) all.append(buf, static_cast<size_t>(n));
    if (all.size() > 2000) all.erase(0, all.size() - 2000);
    return all.empty() ? "" : " (server stderr: " + all + ")";
  }

  unsigned index_;
  const SandboxOptions& options_;
  pid_t pid_ = -1;
  int to_ = -1, from_ = -1, err_ = -1;
};

// --- the pool ---------------------------------------------------------------------

ForkServerPool::ForkServerPool(SandboxOptions options)
    : options_(std::move(options)), queue_(std::make_unique<RunQueue>()) {}

Expected<std::unique_ptr<ForkServerPool>> ForkServerPool::start(SandboxOptions options) {
  std::unique_ptr<ForkServerPool> pool(new ForkServerPool(std::move(options)));
  unsigned n = pool->options_.workers ? pool->options_.workers : std::max(1u, std::thread::hardware_concurrency());
  for (unsigned i = 0; i < n; ++i) pool->slots_.push_back(std::make_unique<Slot>(i, pool->options_));
  // Start the servers in parallel: each spends seconds importing modules.
  std::vector<Status> results(n);
  std::vector<ModuleReport> reports(n);
  {
    std::vector<std::thread> starters;
    for (unsigned i = 0; i < n; ++i)
      starters.emplace_back([&, i] { results[i] = pool->slots_[i]->start(&reports[i]); });
    for (auto& t : starters) t.join();
  }
  for (const auto& r : results)
    if (!r) return Error{r.error()};
  pool->report_ = reports[0];
  for (const auto& w : pool->report_.warnings) spdlog::warn("component=sandbox event=containment-warning detail=\"{}\"", w);
  if (!pool->report_.missing.empty()) {
    std::string names;
    for (const auto& [m, _] : pool->report_.missing) names += (names.empty() ? "" : ", ") + m;
    spdlog::warn("component=sandbox event=modules-missing modules=\"{}\"", names);
  }
  spdlog::info("component=sandbox event=started workers={} contained={} imported={}", n, pool->report_.contained,
               pool->report_.imported.size());
  for (unsigned i = 0; i < n; ++i) pool->threads_.emplace_back([p = pool.get(), i] { p->serve(*p->slots_[i]); });
  return pool;
}

ForkServerPool::~ForkServerPool() {
  queue_->shutdown();
  for (auto& t : threads_) t.join();
  for (auto& s : slots_) s->stop();
  queue_->fail_abandoned();
}

void ForkServerPool::submit(RunRequest request, Callback done) { queue_->push(std::move(request), std::move(done)); }

std::vector<int> ForkServerPool::server_pids() const {
  std::vector<int> out;
  for (const auto& s : slots_) out.push_back(s->pid());
  return out;
}

std::string ForkServerPool::missing_required(const RunRequest& request) {
  for (const auto& m : request.required_modules) {
    if (!report_.missing.count(m)) continue;
    std::lock_guard<std::mutex> lock(missing_mu_);
    if (reported_missing_.insert(m).second)
      spdlog::warn("component=sandbox event=missing-dependency module={} error=\"{}\"", m, report_.missing.at(m));
    return m;
  }
  return {};
}

RunResult ForkServerPool::run_with_retry(Slot& slot, const RunRequest& request) {
  std::string last_error;
  for (int attempt = 0; attempt < 2; ++attempt) {
    if (!slot.alive()) {
      if (auto s = slot.start(nullptr); !s) {
        last_error = s.error();
        spdlog::error("component=sandbox event=restart-failed worker={} error=\"{}\"", slot.index(), s.error());
        continue;
      }
    }
    auto r = slot.run(request, next_id_++);
    if (r) return std::move(r.value());
    last_error = r.error();
    ++restarts_;
    spdlog::warn("component=sandbox event=server-lost worker={} attempt={} error=\"{}\"", slot.index(), attempt + 1,
                 last_error);
    slot.stop();
  }
  RunResult failed;
  failed.detail = "fork server lost twice on this snippet: " + last_error;
  return failed;
}

void ForkServerPool::serve(Slot& slot) {
  RunQueue::Job job;
  while (queue_->take(job)) {
    RunResult result;
    if (std::string missing = missing_required(job.first); !missing.empty()) {
      result.status = RunStatus::kMissingDependency;
      result.detail = missing;
      result.error_tail = "declared dependency '" + missing + "' cannot be imported: " + report_.missing.at(missing);
    } else {
      result = run_with_retry(slot, job.first);
    }
    job.second(std::move(result));
  }
}

Expected<std::unique_ptr<Executor>> make_executor(SandboxMode mode, const SandboxOptions& options) {
  if (mode == SandboxMode::kFreshInterpreter)
    return std::unique_ptr<Executor>(new FreshInterpreterExecutor({options.python, options.workers}));
  auto pool = ForkServerPool::start(options);
  if (!pool) return Error{pool.error()};
  return std::unique_ptr<Executor>(std::move(pool.value()));
}

// --- dependency names -------------------------------------------------------------

std::map<std::string, std::string> default_import_aliases() { return {{"Crypto", "Cryptodome"}}; }

}  // namespace vf::sandbox
