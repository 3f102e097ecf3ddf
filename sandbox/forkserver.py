# veriforge fork server: one long-lived Python process per worker slot.
#
# It enters its own mount, network, PID, IPC and UTS namespaces (when it may),
# makes the whole filesystem read-only except a private tmpfs on /tmp, hides
# configured paths (the job's database, home folders, /etc/shadow),
# pre-imports the heavy modules once, and then forks a fresh child per
# snippet. The child drops to the worker's own unprivileged uid, takes its
# rlimits and a private working folder, and runs the code. After every
# snippet the server, as PID 1 of its namespace, kills every process left in
# it, so nothing a snippet started (setsid, double fork) survives.
#
# Protocol on fd 0 (requests) and fd 1 (responses): frames of a 4-byte
# big-endian length followed by a msgpack map. The first request is the
# setup; the server answers {"ready": true, ...}; then one response per
# snippet request, in order. EOF on fd 0 ends the server.
#
# The C++ side embeds this file (sandbox/fork_server.cc) and runs it with
# /usr/bin/python3 -c; it is not imported as a module.
import ctypes
import gc
import importlib
import importlib.machinery
import importlib.util
import os
import resource
import select
import shutil
import signal
import struct
import sys
import time
import traceback

import msgpack

PROTO_IN, PROTO_OUT = 0, 1
CLONE_NEWNS, CLONE_NEWUTS, CLONE_NEWIPC = 0x00020000, 0x04000000, 0x08000000
CLONE_NEWPID, CLONE_NEWNET = 0x20000000, 0x40000000
MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC = 1, 2, 4, 8
MS_REMOUNT, MS_NOATIME, MS_NODIRATIME, MS_BIND = 32, 1024, 2048, 4096
MS_REC, MS_PRIVATE, MS_RELATIME, MS_STRICTATIME = 16384, 1 << 18, 1 << 21, 1 << 24
PR_SET_PDEATHSIG = 1
STDERR_KEEP = 4096

libc = ctypes.CDLL(None, use_errno=True)


def read_exact(n):
    buf = b""
    while len(buf) < n:
        chunk = os.read(PROTO_IN, n - len(buf))
        if not chunk:
            return None
        buf += chunk
    return buf


def read_frame():
    head = read_exact(4)
    if head is None:
        return None
    (n,) = struct.unpack(">I", head)
    if n > 64 << 20:
        raise ValueError("frame too large: %d" % n)
    body = read_exact(n)
    if body is None:
        return None
    return msgpack.unpackb(body, raw=False)


def write_frame(obj):
    body = msgpack.packb(obj, use_bin_type=True)
    data = struct.pack(">I", len(body)) + body
    while data:
        n = os.write(PROTO_OUT, data)
        data = data[n:]


def sys_mount(source, target, fstype, flags, data=None):
    enc = lambda s: None if s is None else s.encode()
    if libc.mount(enc(source), enc(target), enc(fstype), ctypes.c_ulong(flags), enc(data)) != 0:
        e = ctypes.get_errno()
        raise OSError(e, "mount %s: %s" % (target, os.strerror(e)))


def mount_flags(options):
    flags = 0
    for opt in options.split(","):
        flags |= {"nosuid": MS_NOSUID, "nodev": MS_NODEV, "noexec": MS_NOEXEC, "noatime": MS_NOATIME,
                  "nodiratime": MS_NODIRATIME, "relatime": MS_RELATIME}.get(opt, 0)
    return flags


def make_readonly():
    """Remounts every mount read-only (deepest first does not matter for remount)."""
    failed = []
    with open("/proc/self/mountinfo") as f:
        mounts = [line.split() for line in f]
    for fields in mounts:
        target = fields[4].replace("\\040", " ")
        if target.startswith("/proc") or target.startswith("/sys"):
            continue
        try:
            sys_mount(None, target, None, MS_REMOUNT | MS_BIND | MS_RDONLY | mount_flags(fields[5]))
        except OSError as e:
            failed.append("%s (%s)" % (target, e.strerror))
    return failed


def hide(path):
    if os.path.isdir(path):
        sys_mount("tmpfs", path, "tmpfs", MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, "size=4k,mode=555")
    elif os.path.exists(path):
        sys_mount("/dev/null", path, None, MS_BIND)


def contain(cfg):
    """Enters namespaces; returns in the PID-1 process of the new PID namespace."""
    if libc.unshare(CLONE_NEWNS | CLONE_NEWNET | CLONE_NEWPID | CLONE_NEWIPC | CLONE_NEWUTS) != 0:
        e = ctypes.get_errno()
        raise OSError(e, "unshare: %s" % os.strerror(e))
    sys_mount(None, "/", None, MS_REC | MS_PRIVATE)
    warnings = ["not read-only: " + f for f in make_readonly()]
    sys_mount("tmpfs", "/tmp", "tmpfs", MS_NOSUID | MS_NODEV, "size=%dm,mode=1777" % cfg["tmp_mb"])
    for path in cfg.get("hide", []):
        try:
            hide(path)
        except OSError as e:
            warnings.append("cannot hide %s: %s" % (path, e.strerror))
    pid = os.fork()
    if pid:
        # Outside the PID namespace: live exactly as long as the server.
        while True:
            try:
                _, status = os.waitpid(pid, 0)
                os._exit(os.waitstatus_to_exitcode(status) & 0xFF)
            except InterruptedError:
                continue
    libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    sys_mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC)
    return warnings


class ModuleAlias:
    """Meta-path finder: `import Crypto.Cipher` loads `Cryptodome.Cipher`."""

    def __init__(self, aliases):
        self.aliases = aliases

    def find_spec(self, name, path=None, target=None):
        head = name.split(".")[0]
        if head not in self.aliases:
            return None
        real = self.aliases[head] + name[len(head):]
        spec = importlib.util.find_spec(real)
        if spec is None:
            return None
        return importlib.machinery.ModuleSpec(name, _AliasLoader(real), is_package=spec.submodule_search_locations is not None)


class _AliasLoader:
    def __init__(self, real):
        self.real = real

    def create_module(self, spec):
        return importlib.import_module(self.real)

    def exec_module(self, module):
        pass


def preimport(modules):
    imported, missing = [], {}
    for name in modules:
        try:
            importlib.import_module(name)
            imported.append(name)
        except ImportError as e:
            missing[name] = str(e)
        except Exception as e:  # a module that fails on import is as good as missing
            missing[name] = "%s: %s" % (type(e).__name__, e)
    if "pulp" in sys.modules:
        use_system_cbc(sys.modules["pulp"])
    return imported, missing


def use_system_cbc(pulp):
    """Debian's PuLP ships without the CBC binary PULP_CBC_CMD bundles; the
    same solver is /usr/bin/cbc (coinor-cbc), which COIN_CMD runs. Seeds that
    name PULP_CBC_CMD get COIN_CMD, so they solve instead of failing."""
    try:
        if not pulp.PULP_CBC_CMD().available() and pulp.COIN_CMD().available():
            pulp.PULP_CBC_CMD = pulp.COIN_CMD
            pulp.apis.PULP_CBC_CMD = pulp.COIN_CMD
    except Exception:
        pass


def kill_everything_else(contained, pid):
    """Kills every process a snippet left behind."""
    if contained:
        # PID 1 of the namespace: kill(-1) reaches every other process in it.
        try:
            os.kill(-1, signal.SIGKILL)
        except ProcessLookupError:
            pass
    else:
        try:
            os.killpg(pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass


def reap_all():
    usage = None
    while True:
        try:
            pid, status, ru = os.wait4(-1, 0)
        except ChildProcessError:
            return
        except InterruptedError:
            continue


def child(req, cfg, workdir, out_w, err_w, devnull):
    try:
        os.dup2(devnull, 0)
        os.dup2(out_w, 1)
        os.dup2(err_w, 2)
        os.closerange(3, 1 << 16)
        os.setsid()
        os.chdir(workdir)
        cpu = int(req["cpu_s"])
        resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 1))
        resource.setrlimit(resource.RLIMIT_AS, (req["as_mb"] << 20, req["as_mb"] << 20))
        resource.setrlimit(resource.RLIMIT_FSIZE, (req["file_mb"] << 20, req["file_mb"] << 20))
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
        resource.setrlimit(resource.RLIMIT_NOFILE, (256, 256))
        # An unlimited stack (ulimit -s unlimited) lets runaway C recursion
        # eat all memory before anything stops it; 8 MiB is the usual default.
        resource.setrlimit(resource.RLIMIT_STACK, (8 << 20, 8 << 20))
        if cfg["drop_to_uid"] >= 0:
            resource.setrlimit(resource.RLIMIT_NPROC, (req["nproc"], req["nproc"]))
            os.setgroups([])
            os.setgid(cfg["drop_to_gid"])
            os.setuid(cfg["drop_to_uid"])
        # The server was started with the clean snippet environment (the C++
        # side execs it with nothing else), so only the folders change here.
        os.environ["HOME"] = workdir
        os.environ["TMPDIR"] = workdir
        # Forked children share the server's random state: reseed so that a
        # snippet using unseeded randomness differs between runs, as it would
        # in a fresh interpreter (the verifier's determinism check relies on it).
        entropy = os.urandom(8)
        if "random" in sys.modules:
            sys.modules["random"].seed(entropy)
        if "numpy" in sys.modules:
            # An integer seed: numpy's entropy-gathering seed() costs ~0.5 ms
            # in a freshly forked child.
            sys.modules["numpy"].random.seed(int.from_bytes(entropy[:4], "little"))
        # Runaway recursion must end on a limit in a second or two: past the
        # cap, unwinding (and printing) the frames alone takes longer than that.
        real_setrecursionlimit = sys.setrecursionlimit

        def capped_setrecursionlimit(limit):
            real_setrecursionlimit(min(int(limit), RECURSION_CAP))

        sys.setrecursionlimit = capped_setrecursionlimit
        sys.argv = ["snippet.py"]
        code = compile(req["code"], "snippet.py", "exec")
        scope = {"__name__": "__main__", "__builtins__": __builtins__, "__file__": "snippet.py"}
        exec(code, scope)
        status = 0
    except SystemExit as e:
        status = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
        if not isinstance(e.code, int) and e.code is not None:
            print(e.code, file=sys.stderr)
    except BaseException:
        traceback.print_exc(limit=-TRACEBACK_FRAMES)  # the innermost frames: only the tail is kept
        status = 1
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except BaseException:
        pass
    os._exit(status & 0xFF)


PROCESS_CHECK_S = 0.25
RECURSION_CAP = 100000   # sys.setrecursionlimit() above this is lowered to it
TRACEBACK_FRAMES = 30


def session_size(sid):
    """Processes in the session a snippet leads (its fork children included)."""
    n = 0
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % name, "rb") as f:
                stat = f.read()
        except OSError:
            continue
        fields = stat[stat.rfind(b")") + 2:].split()
        if len(fields) > 3 and int(fields[3]) == sid:
            n += 1
    return n


def classify(exit_code, sig, timed_out, overflow, stderr_tail, cpu_used, cpu_limit, code=""):
    if timed_out:
        return "timeout", ""
    if overflow:
        return "output-too-large", ""
    if sig == signal.SIGXCPU or (sig == signal.SIGKILL and cpu_used >= cpu_limit):
        return "killed-by-limit", "cpu-time"
    if sig == signal.SIGXFSZ:
        return "killed-by-limit", "file-size"
    if exit_code == 0 and sig == 0:
        return "ok", ""
    marker = "ModuleNotFoundError: No module named '"
    pos = stderr_tail.rfind(marker)
    if pos >= 0:
        module = stderr_tail[pos + len(marker):].split("'")[0]
        return "missing-dependency", module.split(".")[0]
    if "MemoryError" in stderr_tail:
        return "killed-by-limit", "address-space"
    # With Python's depth guard in place a snippet cannot overflow the C stack;
    # with it lifted, a fault is the stack limit (C-level recursion: repr,
    # pickle, deepcopy of deep nesting). Other faults stay errors.
    if sig == signal.SIGSEGV and "setrecursionlimit" in code:
        return "killed-by-limit", "stack"
    if "RecursionError: maximum recursion depth exceeded" in stderr_tail:
        return "killed-by-limit", "stack"
    if "File too large" in stderr_tail:  # Python ignores SIGXFSZ; the write fails with EFBIG
        return "killed-by-limit", "file-size"
    if "No space left on device" in stderr_tail:
        return "killed-by-limit", "disk-space"
    if "BlockingIOError" in stderr_tail or "can't start new thread" in stderr_tail:
        return "killed-by-limit", "processes"
    if sig:
        return "error", "killed by signal %d" % sig
    return "error", ""


def last_lines(text, n=8):
    lines = text.rstrip().splitlines()
    return "\n".join(lines[-n:])


def run(req, cfg, contained, devnull):
    start = time.monotonic()
    workdir = "/tmp/snippet-%d-%d" % (os.getpid(), req["id"])
    os.mkdir(workdir, 0o700)
    if cfg["drop_to_uid"] >= 0:
        os.chown(workdir, cfg["drop_to_uid"], cfg["drop_to_gid"])
    out_r, out_w = os.pipe()
    err_r, err_w = os.pipe()
    pid = os.fork()
    if pid == 0:
        child(req, cfg, workdir, out_w, err_w, devnull)
    os.close(out_w)
    os.close(err_w)
    deadline = start + float(req["timeout_s"])
    max_out = int(req["max_output"])
    out, err = [], b""
    out_size = 0
    timed_out = overflow = process_limit = False
    status = ru = None
    # The pidfd becomes readable when the snippet exits: no polling, and a
    # process it left behind holding the pipes open cannot delay the answer.
    pidfd = os.pidfd_open(pid)
    open_fds = [out_r, err_r]

    def read_ready(fds):
        nonlocal out_size, err, overflow
        for fd in fds:
            data = os.read(fd, 65536)
            if not data:
                open_fds.remove(fd)
                os.close(fd)
            elif fd == out_r:
                out.append(data)
                out_size += len(data)
                overflow = overflow or out_size > max_out
            else:
                err = (err + data)[-2 * STDERR_KEEP:]

    # A fork bomb keeps retrying at the process limit rather than dying: when
    # the snippet's session has held the limit for two checks running, it is
    # ended as killed-by-limit (processes) instead of waiting out the clock.
    nproc = int(req.get("nproc", 0)) if cfg["drop_to_uid"] >= 0 else 0
    at_limit = 0
    next_count = start + PROCESS_CHECK_S
    while True:
        now = time.monotonic()
        left = deadline - now
        if left <= 0:
            timed_out = True
            break
        if nproc and now >= next_count:
            next_count = now + PROCESS_CHECK_S
            at_limit = at_limit + 1 if session_size(pid) >= nproc - 1 else 0
            if at_limit >= 2:
                process_limit = True
                break
        wait = min(left, PROCESS_CHECK_S) if nproc else left
        ready, _, _ = select.select(open_fds + [pidfd], [], [], wait)
        if pidfd in ready:
            wpid, status, ru = os.wait4(pid, 0)
            # Exited: take what it wrote just before; anything later comes
            # from a straggler and is not the snippet's answer.
            while open_fds and not overflow:
                more, _, _ = select.select(open_fds, [], [], 0)
                if not more:
                    break
                read_ready(more)
            break
        read_ready([fd for fd in ready if fd != pidfd])
        if overflow:
            break
    os.close(pidfd)
    for fd in open_fds:
        os.close(fd)
    kill_everything_else(contained, pid)
    if status is None:
        while True:
            try:
                _, status, ru = os.wait4(pid, 0)
                break
            except InterruptedError:
                continue
    reap_all()
    exit_code = os.WEXITSTATUS(status) if os.WIFEXITED(status) else -1
    sig = os.WTERMSIG(status) if os.WIFSIGNALED(status) else 0
    cpu_used = (ru.ru_utime + ru.ru_stime) if ru else 0.0
    stderr_text = err[-STDERR_KEEP:].decode("utf-8", "replace")
    stdout_bytes = b"".join(out)
    if overflow:
        stdout_bytes = stdout_bytes[:256]
    if process_limit:
        state, detail = "killed-by-limit", "processes"
    else:
        state, detail = classify(exit_code, sig, timed_out, overflow, stderr_text, cpu_used, int(req["cpu_s"]),
                                 req["code"])
    remove_tree(workdir)
    return {
        "id": req["id"],
        "status": state,
        "exit_code": exit_code,
        "signal": sig,
        "stdout": stdout_bytes.decode("utf-8", "replace").rstrip(),
        "stderr_tail": last_lines(stderr_text),
        "detail": detail,
        "wall_ms": (time.monotonic() - start) * 1000.0,
        "cpu_ms": cpu_used * 1000.0,
    }


def remove_tree(path):
    try:
        os.rmdir(path)  # the usual case: the snippet wrote nothing
    except OSError:
        shutil.rmtree(path, ignore_errors=True)


def main():
    cfg = read_frame()
    if cfg is None:
        return
    warnings = []
    contained = False
    if cfg.get("contain", True):
        try:
            warnings += contain(cfg)
            contained = True
        except OSError as e:
            warnings.append("no namespaces (%s): snippets share this host's network and filesystem view" % e)
    else:
        warnings.append("containment disabled by configuration")
    if not contained:
        cfg["drop_to_uid"] = -1
    os.environ.update(cfg["env"])
    if cfg.get("aliases"):
        sys.meta_path.insert(0, ModuleAlias(cfg["aliases"]))
    imported, missing = preimport(cfg.get("modules", []))
    devnull = os.open("/dev/null", os.O_RDONLY)
    # The imported modules' objects move to a generation no collection walks:
    # a collection in a forked child would otherwise write to every object's
    # header and copy every page of them (copy-on-write), which on a guest with
    # costly page-table updates is most of a snippet's cost.
    gc.freeze()
    write_frame({"ready": True, "pid": os.getpid(), "contained": contained, "imported": imported,
                 "missing": missing, "warnings": warnings})
    while True:
        req = read_frame()
        if req is None:
            return
        try:
            resp = run(req, cfg, contained, devnull)
        except Exception as e:
            resp = {"id": req.get("id", 0), "status": "sandbox-failure", "exit_code": -1, "signal": 0,
                    "stdout": "", "stderr_tail": traceback.format_exc()[-STDERR_KEEP:],
                    "detail": "fork server: %s" % e, "wall_ms": 0.0, "cpu_ms": 0.0}
        write_frame(resp)


if __name__ == "__main__":
    main()
