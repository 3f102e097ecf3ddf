// Hostile snippets against the fork-server pool. Each case starts a pool of
// two servers, runs one hostile snippet while a benign one runs beside it,
// checks the hostile one is contained and classified and the benign one is
// served, then stops the pool and checks no process is left behind.
// Containment needs root (namespaces, uid switch): these tests require it.
#include <doctest/doctest.h>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <future>
#include <set>
#include <thread>

#include "sandbox/fork_server.h"

using namespace vf::sandbox;
namespace fs = std::filesystem;

namespace {

constexpr uint32_t kUidBase = 62000;
constexpr unsigned kWorkers = 2;

// Processes running under the sandbox uids, anywhere on the machine.
std::vector<int> sandbox_processes() {
  std::vector<int> out;
  for (const auto& e : fs::directory_iterator("/proc")) {
    std::string name = e.path().filename();
    if (name.find_first_not_of("0123456789") != std::string::npos) continue;
    std::ifstream status(e.path() / "status");
    for (std::string line; std::getline(status, line);) {
      if (line.rfind("Uid:", 0) != 0) continue;
      unsigned uid = std::stoul(line.substr(4));
      if (uid >= kUidBase && uid < kUidBase + kWorkers) out.push_back(std::stoi(name));
      break;
    }
  }
  return out;
}

bool process_exists(int pid) { return fs::exists("/proc/" + std::to_string(pid)); }

// Running, as opposed to gone or dead and not yet reaped (a zombie).
bool process_running(int pid) {
  std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
  std::string text((std::istreambuf_iterator<char>(stat)), {});
  auto close = text.rfind(')');
  return close != std::string::npos && close + 2 < text.size() && text[close + 2] != 'Z';
}

// Waits (up to a minute) until `ready()` holds; false if it never did.
template <class F>
bool wait_until(F ready) {
  for (int i = 0; i < 1200; ++i) {
    if (ready()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return ready();
}

struct Fixture {
  fs::path secret_dir;
  std::unique_ptr<ForkServerPool> pool;
  std::vector<int> servers;

  explicit Fixture(std::vector<std::string> preimport = {}, double wedged_after_s = 10) {
    REQUIRE_MESSAGE(geteuid() == 0, "the sandbox's containment tests need root");
    setenv("VERIFORGE_TEST_SECRET", "hunter2-secret", 1);
    // A stand-in for the job's RocksDB folder, outside /tmp.
    secret_dir = fs::current_path() / ("hostile-job-" + std::to_string(getpid()));
    fs::create_directories(secret_dir / "db");
    std::ofstream(secret_dir / "db" / "CURRENT") << "SECRET-ROCKSDB-CONTENT\n";
    SandboxOptions o;
    o.workers = kWorkers;
    o.uid_base = kUidBase;
    o.preimport = std::move(preimport);
    o.aliases = default_import_aliases();
    o.hide_paths = {"/root", "/home", "/etc/shadow", secret_dir.string()};
    o.wedged_after_s = wedged_after_s;
    auto p = ForkServerPool::start(o);
    REQUIRE_MESSAGE(p.ok(), p.error());
    pool = std::move(p.value());
    REQUIRE(pool->modules().contained);
    // Everything the pool was asked to hide is hidden: a warning here means a
    // snippet could see what it must not.
    for (const auto& w : pool->modules().warnings) CHECK_MESSAGE(false, "sandbox warning: " << w);
    servers = pool->server_pids();
  }

  ~Fixture() {
    pool.reset();
    for (int pid : servers) CHECK_MESSAGE(!process_exists(pid), "server " << pid << " survived its pool");
    auto left = sandbox_processes();
    CHECK_MESSAGE(left.empty(), left.size() << " sandbox process(es) left behind");
    std::error_code ec;
    fs::remove_all(secret_dir, ec);
  }

  std::future<RunResult> submit(const std::string& code, RunLimits limits = {}, std::vector<std::string> modules = {}) {
    auto promise = std::make_shared<std::promise<RunResult>>();
    auto f = promise->get_future();
    pool->submit({code, limits, std::move(modules)}, [promise](RunResult r) { promise->set_value(std::move(r)); });
    return f;
  }

  // Runs `code` with a benign snippet beside it; the benign one must succeed.
  RunResult hostile(const std::string& code, double timeout = 2.0, uint64_t memory_mb = 1024) {
    RunLimits limits;
    limits.wall_timeout_s = timeout;
    limits.address_space_mb = memory_mb;
    limits.max_output_bytes = 1 << 16;
    auto bad = submit(code, limits);
    auto good = submit("print(sum(range(10)))");
    REQUIRE(good.wait_for(std::chrono::seconds(60)) == std::future_status::ready);
    auto g = good.get();
    CHECK(g.status == RunStatus::kOk);
    CHECK(g.output == "45");
    REQUIRE(bad.wait_for(std::chrono::seconds(60)) == std::future_status::ready);
    auto r = bad.get();
    // The servers are still the same processes: nothing killed them.
    CHECK(pool->server_pids() == servers);
    CHECK(pool->restarts() == 0);
    // And they keep serving.
    auto after = submit("print('still serving')").get();
    CHECK(after.output == "still serving");
    return r;
  }
};

bool one_of(RunStatus s, std::initializer_list<RunStatus> allowed) {
  for (auto a : allowed)
    if (s == a) return true;
  return false;
}

}  // namespace

TEST_CASE("hostile: infinite loop") {
  Fixture f;
  auto r = f.hostile("while True:\n    pass\n");
  CHECK(one_of(r.status, {RunStatus::kTimeout, RunStatus::kKilledByLimit}));
}

TEST_CASE("hostile: busy loop in a thread") {
  Fixture f;
  auto r = f.hostile("import threading\ndef spin():\n    while True: pass\nthreading.Thread(target=spin).start()\nspin()\n");
  CHECK(one_of(r.status, {RunStatus::kTimeout, RunStatus::kKilledByLimit}));
}

TEST_CASE("hostile: a fork bomb ends at the process limit, not on the clock") {
  Fixture f;
  // A wall limit far beyond the bomb's life: a timeout would mean it was not caught.
  auto r = f.hostile("import os\nwhile True:\n    try:\n        os.fork()\n    except OSError:\n        pass\n", 30.0);
  CHECK(r.status == RunStatus::kKilledByLimit);
  CHECK(r.detail == "processes");
}

TEST_CASE("hostile: thread bomb") {
  Fixture f;
  auto r = f.hostile("import threading, time\nfor i in range(100000):\n    threading.Thread(target=time.sleep, args=(30,)).start()\n");
  CHECK(r.status == RunStatus::kKilledByLimit);
  CHECK(r.detail == "processes");
}

TEST_CASE("hostile: memory bomb, all at once") {
  Fixture f;
  auto r = f.hostile("x = bytearray(16 * 1024**3)\nprint(len(x))\n", 5.0, 512);
  CHECK(r.status == RunStatus::kKilledByLimit);
  CHECK(r.detail == "address-space");
}

TEST_CASE("hostile: memory bomb, growing") {
  Fixture f;
  auto r = f.hostile("chunks = []\nwhile True:\n    chunks.append(bytearray(50 * 1024**2))\n", 10.0, 512);
  CHECK(r.status == RunStatus::kKilledByLimit);
  CHECK(r.detail == "address-space");
}

TEST_CASE("hostile: runaway recursion ends at the stack limit") {
  Fixture f;
  auto r = f.hostile("def f(n):\n    return f(n + 1)\nf(0)\n");
  CHECK(r.status == RunStatus::kKilledByLimit);
  CHECK(r.detail == "stack");
  CHECK(r.error_tail.find("RecursionError") != std::string::npos);
}

TEST_CASE("hostile: C-stack recursion past the interpreter's guard ends at the stack limit") {
  Fixture f;
  // repr() of a deeply nested list recurses in C, not in Python frames.
  auto r = f.hostile("import sys\nsys.setrecursionlimit(10**8)\nx = []\nfor i in range(10**6):\n    x = [x]\nprint(len(repr(x)))\n", 30.0);
  CHECK(r.status == RunStatus::kKilledByLimit);
  CHECK(r.detail == "stack");
  CHECK(r.term_signal == 11);
  // Python-level runaway recursion with the guard lifted: the same, well before the clock.
  auto py = f.hostile("import sys\nsys.setrecursionlimit(10**8)\ndef f(n):\n    return f(n + 1)\nf(0)\n", 30.0, 256);
  CHECK(py.status == RunStatus::kKilledByLimit);
  CHECK((py.detail == "stack" || py.detail == "address-space"));
}

TEST_CASE("hostile: stdout flood") {
  Fixture f;
  auto r = f.hostile("import sys\nwhile True:\n    sys.stdout.write('x' * 65536)\n");
  CHECK(r.status == RunStatus::kOutputTooLarge);
  CHECK(r.output.size() <= 256);
}

TEST_CASE("hostile: stderr flood is bounded") {
  Fixture f;
  auto r = f.hostile("import sys\nwhile True:\n    sys.stderr.write('y' * 65536)\n");
  CHECK(r.status == RunStatus::kTimeout);
  CHECK(r.error_tail.size() <= 4096);
}

TEST_CASE("hostile: writing outside the private folder") {
  Fixture f;
  auto r = f.hostile("open('/usr/lib/veriforge-pwned', 'w').write('x')\n");
  CHECK(r.status == RunStatus::kError);
  CHECK(r.error_tail.find("Read-only file system") != std::string::npos);
  CHECK_FALSE(fs::exists("/usr/lib/veriforge-pwned"));
  auto etc = f.hostile("import os\nos.remove('/etc/hostname')\n");
  CHECK(etc.status == RunStatus::kError);
  CHECK(fs::exists("/etc/hostname"));
}

TEST_CASE("hostile: shared memory and other writable mounts are read-only") {
  Fixture f;
  auto r = f.hostile("open('/dev/shm/veriforge-pwned', 'w').write('x')\n");
  CHECK(r.status == RunStatus::kError);
  CHECK_FALSE(fs::exists("/dev/shm/veriforge-pwned"));
}

TEST_CASE("hostile: reading /etc/shadow") {
  Fixture f;
  auto r = f.hostile("print(open('/etc/shadow').read())\n");
  CHECK(r.output.find("root:") == std::string::npos);
}

TEST_CASE("hostile: home folders are hidden, not merely unreadable") {
  Fixture f;
  // Hidden, they are empty read-only folders; not hidden, /root refuses the
  // snippet's uid and /home shows the users' folders.
  auto r = f.hostile("import os\nprint(os.listdir('/root'), os.listdir('/home'))\n");
  CHECK(r.status == RunStatus::kOk);
  CHECK(r.output == "[] []");
}

TEST_CASE("hostile: opening files without end stops at the open-file limit") {
  Fixture f;
  auto r = f.hostile(
      "import os\nfds = []\ntry:\n    while True:\n        fds.append(os.open('/dev/null', os.O_RDONLY))\n"
      "except OSError as e:\n    print(len(fds), e.errno)\n");
  CHECK(r.status == RunStatus::kOk);
  auto space = r.output.find(' ');
  REQUIRE(space != std::string::npos);
  CHECK(std::stoi(r.output.substr(0, space)) < 256);  // RLIMIT_NOFILE = 256, a few already open
  CHECK(r.output.substr(space + 1) == "24");           // EMFILE
}

TEST_CASE("hostile: a crashing snippet may not write a core file") {
  Fixture f;
  auto r = f.hostile("import resource\nprint(resource.getrlimit(resource.RLIMIT_CORE))\n");
  CHECK(r.output == "(0, 0)");
}

TEST_CASE("hostile: reading the job's database files") {
  Fixture f;
  auto r = f.hostile("import os\nd = '" + f.secret_dir.string() + "/db'\nprint(os.listdir(d))\nprint(open(d + '/CURRENT').read())\n");
  CHECK(r.status == RunStatus::kError);
  CHECK(r.output.find("SECRET-ROCKSDB-CONTENT") == std::string::npos);
  CHECK(r.output.find("CURRENT") == std::string::npos);
}

TEST_CASE("hostile: opening a socket to a server on 127.0.0.1") {
  Fixture f;
  int srv = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  REQUIRE(bind(srv, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
  socklen_t len = sizeof addr;
  getsockname(srv, reinterpret_cast<sockaddr*>(&addr), &len);
  REQUIRE(listen(srv, 8) == 0);
  int port = ntohs(addr.sin_port);
  auto r = f.hostile("import socket\ns = socket.create_connection(('127.0.0.1', " + std::to_string(port) +
                     "), timeout=1)\ns.sendall(b'leak')\nprint('connected')\n");
  CHECK(r.status == RunStatus::kError);
  CHECK(r.output.find("connected") == std::string::npos);
  CHECK(accept(srv, nullptr, nullptr) < 0);  // nobody came
  close(srv);
}

TEST_CASE("hostile: killing the parent process") {
  Fixture f;
  auto r = f.hostile("import os, signal\nos.kill(os.getppid(), signal.SIGKILL)\nos.kill(1, signal.SIGKILL)\n");
  CHECK(r.status == RunStatus::kError);
  CHECK(r.error_tail.find("PermissionError") != std::string::npos);
}

TEST_CASE("hostile: killing every process it can see") {
  Fixture f;
  auto r = f.hostile("import os, signal\nos.kill(-1, signal.SIGKILL)\n");
  CHECK(r.status == RunStatus::kError);
}

TEST_CASE("hostile: closing the protocol pipe and every descriptor") {
  Fixture f;
  auto r = f.hostile("import os\nfor fd in range(0, 1024):\n    try:\n        os.close(fd)\n    except OSError:\n        pass\n");
  CHECK(r.status == RunStatus::kOk);
}

TEST_CASE("hostile: corrupting the protocol pipe") {
  Fixture f;
  auto r = f.hostile(
      "import os\nfor fd in range(3, 256):\n    try:\n        os.write(fd, b'\\xff' * 64)\n    except OSError:\n        pass\n"
      "open('/proc/1/fd/1', 'wb').write(b'\\x00\\x00\\x00\\x05garbage')\n");
  CHECK(r.status == RunStatus::kError);
  // Writing garbage to its own stdout is only its own answer.
  auto own = f.hostile("import os\nos.write(1, b'\\x00\\x00\\x00\\x10not a frame')\n");
  CHECK(own.status == RunStatus::kOk);
}

TEST_CASE("hostile: os._exit with odd codes") {
  Fixture f;
  auto r3 = f.hostile("import os\nprint('partial', flush=True)\nos._exit(3)\n");
  CHECK(r3.status == RunStatus::kError);
  CHECK(r3.exit_code == 3);
  auto r255 = f.hostile("import os\nos._exit(255)\n");
  CHECK(r255.exit_code == 255);
  auto r0 = f.hostile("import os\nos._exit(0)\n");
  CHECK(r0.status == RunStatus::kOk);
  auto text = f.hostile("raise SystemExit('bye')\n");
  CHECK(text.status == RunStatus::kError);
  CHECK(text.exit_code == 1);
}

TEST_CASE("hostile: signals to itself") {
  Fixture f;
  auto segv = f.hostile("import os, signal\nos.kill(os.getpid(), signal.SIGSEGV)\n");
  CHECK(segv.status == RunStatus::kError);
  CHECK(segv.term_signal == 11);
  auto stop = f.hostile("import os, signal\nos.kill(os.getpid(), signal.SIGSTOP)\n");
  CHECK(stop.status == RunStatus::kTimeout);
  auto null = f.hostile("import ctypes\nctypes.string_at(0)\n");
  CHECK(null.status == RunStatus::kError);
}

TEST_CASE("hostile: huge integers") {
  Fixture f;
  auto r = f.hostile("print(10**10**8)\n", 2.0);
  CHECK(one_of(r.status, {RunStatus::kTimeout, RunStatus::kKilledByLimit, RunStatus::kError}));
  CHECK(r.output.empty());
}

TEST_CASE("hostile: sleeping past the timeout") {
  Fixture f;
  auto r = f.hostile("import time\ntime.sleep(600)\n", 1.0);
  CHECK(r.status == RunStatus::kTimeout);
}

TEST_CASE("hostile: a grandchild left running after exit") {
  Fixture f;
  auto r = f.hostile("import subprocess\nsubprocess.Popen(['sleep', '600'])\nprint('bye')\n");
  CHECK(r.status == RunStatus::kOk);
  CHECK(r.output == "bye");
}

TEST_CASE("hostile: a grandchild that calls setsid") {
  Fixture f;
  auto r = f.hostile("import os, time\nif os.fork() == 0:\n    os.setsid()\n    time.sleep(600)\nprint('bye')\n");
  CHECK(r.status == RunStatus::kOk);
  CHECK(r.output == "bye");
}

TEST_CASE("hostile: a double-forked daemon") {
  Fixture f;
  auto r = f.hostile(
      "import os, time\nif os.fork() == 0:\n    os.setsid()\n    if os.fork() == 0:\n        os.chdir('/')\n"
      "        time.sleep(600)\n    os._exit(0)\nos.wait()\nprint('bye')\n");
  CHECK(r.status == RunStatus::kOk);
}

TEST_CASE("hostile: reading environment variables for secrets") {
  Fixture f;
  auto r = f.hostile("import os\nprint(dict(os.environ))\nprint(open('/proc/1/environ', 'rb').read())\n");
  CHECK(r.output.find("hunter2-secret") == std::string::npos);
}

TEST_CASE("hostile: regaining root or mounting") {
  Fixture f;
  auto r = f.hostile("import os\nos.setuid(0)\n");
  CHECK(r.status == RunStatus::kError);
  CHECK(r.error_tail.find("PermissionError") != std::string::npos);
  auto m = f.hostile("import subprocess\nprint(subprocess.run(['mount', '-t', 'tmpfs', 'x', '/mnt']).returncode)\n");
  CHECK(m.output != "0");
}

TEST_CASE("hostile: exhausting a process-count limit does not starve another snippet") {
  Fixture f;
  RunLimits limits;
  limits.wall_timeout_s = 4;
  auto hog = f.submit(
      "import os, time\nkids = 0\nwhile True:\n    try:\n        pid = os.fork()\n    except OSError:\n        break\n"
      "    if pid == 0:\n        time.sleep(600)\n        os._exit(0)\n    kids += 1\nprint(kids, flush=True)\ntime.sleep(600)\n",
      limits);
  // The hog holds (nearly) all the processes its uid may have before the other snippet starts.
  REQUIRE(wait_until([] { return sandbox_processes().size() >= 60; }));
  auto other = f.submit("import subprocess\nfor i in range(10):\n    subprocess.run(['true'], check=True)\nprint('forked 10')\n");
  auto o = other.get();
  CHECK(o.status == RunStatus::kOk);
  CHECK(o.output == "forked 10");
  // The hog holds the limit: ended on it, not on the clock.
  auto h = hog.get();
  CHECK(h.status == RunStatus::kKilledByLimit);
  CHECK(h.detail == "processes");
}

TEST_CASE("dependencies: a missing import is named; a declared missing module is reported without running") {
  Fixture f({"sympy", "constraint_not_installed"});
  CHECK(f.pool->modules().missing.count("constraint_not_installed") == 1);
  auto r = f.hostile("import constraint_not_installed\n");
  CHECK(r.status == RunStatus::kMissingDependency);
  CHECK(r.detail == "constraint_not_installed");
  auto declared = f.submit("print('ran')", {}, {"constraint_not_installed"}).get();
  CHECK(declared.status == RunStatus::kMissingDependency);
  CHECK(declared.output.empty());
}

TEST_CASE("dependencies: the Crypto alias loads Debian's Cryptodome") {
  Fixture f({"Crypto"});
  auto r = f.submit("from Crypto.Cipher import AES\nfrom Crypto.Util.number import getPrime\nprint(AES.block_size)\n").get();
  CHECK(r.status == RunStatus::kOk);
  CHECK(r.output == "16");
}

TEST_CASE("forked snippets do not share random state") {
  Fixture f({"random"});
  auto a = f.submit("import random\nprint(random.random())").get();
  auto b = f.submit("import random\nprint(random.random())").get();
  CHECK(a.status == RunStatus::kOk);
  CHECK(a.output != b.output);
}

TEST_CASE("a server killed from outside is replaced and the snippet retried") {
  Fixture f;
  RunLimits limits;
  limits.wall_timeout_s = 10;
  auto slow = f.submit("import time\ntime.sleep(1)\nprint('survived')\n", limits);
  REQUIRE(wait_until([] { return !sandbox_processes().empty(); }));  // the snippet is running
  for (int pid : f.servers) kill(pid, SIGKILL);
  auto r = slow.get();
  CHECK(r.status == RunStatus::kOk);
  CHECK(r.output == "survived");
  CHECK(f.pool->restarts() >= 1);
  CHECK(f.submit("print(2 + 2)").get().output == "4");
  // Servers killed while idle: the next request is written to a dead server
  // (EPIPE, not SIGPIPE for this process) and goes to a fresh one.
  auto idle = f.pool->server_pids();
  for (int pid : idle) kill(pid, SIGKILL);
  for (int pid : idle) REQUIRE(wait_until([pid] { return !process_running(pid); }));
  auto a = f.submit("print('a')"), b = f.submit("print('b')");
  CHECK(a.get().output == "a");
  CHECK(b.get().output == "b");
  f.servers = f.pool->server_pids();
}

TEST_CASE("a wedged server is replaced and the snippet retried") {
  Fixture f({}, 1.0);
  RunLimits limits;
  limits.wall_timeout_s = 1;
  for (int pid : f.servers) kill(-pid, SIGSTOP);  // the server and its namespace: no answer ever
  auto r = f.submit("print('answered')", limits).get();
  CHECK(r.status == RunStatus::kOk);
  CHECK(r.output == "answered");
  CHECK(f.pool->restarts() >= 1);
  f.servers = f.pool->server_pids();
}

TEST_CASE("limits: CPU time, file size and disk space are named") {
  Fixture f;
  RunLimits cpu;
  cpu.wall_timeout_s = 10;
  cpu.cpu_seconds = 1;
  auto r = f.submit("while True:\n    pass\n", cpu).get();
  CHECK(r.status == RunStatus::kKilledByLimit);
  CHECK(r.detail == "cpu-time");
  RunLimits file;
  file.max_file_bytes = 1 << 20;
  auto big = f.submit("open('big', 'wb').write(b'x' * (4 << 20))\n", file).get();
  CHECK(big.status == RunStatus::kKilledByLimit);
  CHECK(big.detail == "file-size");
  auto disk = f.submit("for i in range(10000):\n    open('f%d' % i, 'wb').write(b'x' * (32 << 20))\n").get();
  CHECK(disk.status == RunStatus::kKilledByLimit);
  CHECK(disk.detail == "disk-space");
}
