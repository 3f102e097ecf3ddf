#!/usr/bin/env python3
"""Cluster chaos test: a job over several worker nodes while nodes fail.

Runs one job twice, each with its own LLM simulator (tools/llm-sim):

  reference  a single process, uninterrupted
  cluster    a coordinator (`run --listen`, no local workers) and worker nodes
             (`veriforge worker --join`), each its own process with its own
             sandbox pool, over loopback TCP; while it runs the tool injects
             --faults faults at random, one every 0.5-2.5 s:
               kill      SIGKILL a worker
               freeze    SIGSTOP a worker past the heartbeat timeout, then SIGCONT
               join      start a new worker
               leave     SIGTERM a worker (it leaves; its leases go back)
               coord     SIGKILL the coordinator and start it again with the same
                         command (it resumes from its log; the workers reconnect)
               partition (with --netns) cut a worker's network for longer than
                         the heartbeat timeout, then heal it
             keeping at least two workers alive.

With --netns (root, `ip netns`) every worker is its own host: a network
namespace joined to the coordinator's by a veth pair, its own address
(10.213.N.2), and its own simulator on its own loopback, as each GPU node
serves its own model on localhost. The coordinator listens on 0.0.0.0 (the
token is required off loopback). A partition drops every packet both ways
(a `pfifo limit 0` queue on each end of the pair; netem is not needed): the
coordinator cannot tell it from a freeze, and nothing tells the worker.

The job: the offline variant generator feeding the sandbox and an LLM solver
(3 samples, majority) served by the simulator, as in tools/crash-test.py.
Verdict, against the reference: the same accepted records (by id, measured
timings aside), 0 lost, 0 duplicated, 0 both accepted and rejected,
`veriforge check` consistent, a reader following accepted.jsonl never sees a
line taken back, and 0 finished code runs or model calls made again (from
the audit trail all processes append to). Prints one verdict line; exit 0
pass, 1 violation, 2 could not run.

  tools/cluster-chaos.py --build build --items 5000 --faults 50 [--netns [auto]]
"""
import argparse
import importlib.util
import json
import os
import random
import signal
import socket
import subprocess
import sys
import tempfile
import time

SRC = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
spec = importlib.util.spec_from_file_location("crash_test", os.path.join(SRC, "tools", "crash-test.py"))
crash = importlib.util.module_from_spec(spec)
spec.loader.exec_module(crash)

HEARTBEAT_MS = 200
TIMEOUT_MS = 1500


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


class Netns:
    """Worker hosts as network namespaces, each joined to this one by a veth pair."""

    def __init__(self, seed):
        self.tag = "%04x" % ((os.getpid() ^ seed) & 0xffff)
        self.names = []
        self.why = ""

    def ns(self, n):
        return "vfc%s-%d" % (self.tag, n)

    def host_address(self, n):
        return "10.213.%d.1" % n

    def _run(self, *cmds):
        for c in cmds:
            subprocess.run(c, shell=True, check=True, capture_output=True, text=True)

    def usable(self):
        probe = "vfc%s-probe" % self.tag
        try:
            self._run("ip netns add %s" % probe)
            try:
                # What add_host and a partition need: a veth pair across
                # namespaces and a queue on it.
                self._run("ip link add vfc%sph type veth peer name vfc%spw" % (self.tag, self.tag),
                          "ip link set vfc%spw netns %s" % (self.tag, probe),
                          "tc qdisc add dev vfc%sph root pfifo limit 0" % self.tag)
            finally:
                subprocess.run("ip link del vfc%sph" % self.tag, shell=True, capture_output=True)
                subprocess.run("ip netns del %s" % probe, shell=True, capture_output=True)
            return True
        except (subprocess.CalledProcessError, FileNotFoundError) as e:
            self.why = getattr(e, "stderr", "") or str(e)
            return False

    def add_host(self, n):
        if n > 250:
            raise RuntimeError("more than 250 worker hosts")
        ns, h, w = self.ns(n), "vfc%sh%d" % (self.tag, n), "vfc%sw%d" % (self.tag, n)
        self._run("ip netns add %s" % ns,
                  "ip link add %s type veth peer name %s" % (h, w),
                  "ip link set %s netns %s" % (w, ns),
                  "ip addr add %s/24 dev %s" % (self.host_address(n), h),
                  "ip link set %s up" % h,
                  "ip -n %s addr add 10.213.%d.2/24 dev %s" % (ns, n, w),
                  "ip -n %s link set %s up" % (ns, w),
                  "ip -n %s link set lo up" % ns)
        self.names.append((n, ns, h, w))
        return ns

    def start_sim(self, ns, build, work, name, seed, port):
        # The node's own model server on its own loopback, on the port the
        # job's [[endpoints]] names (each namespace has its own ports).
        out = open(os.path.join(work, name + ".sim.out"), "w+")
        err = open(os.path.join(work, name + ".sim.err"), "w")
        proc = subprocess.Popen(
            ["ip", "netns", "exec", ns, os.path.join(build, "llm-sim"), "--port", str(port), "--seeds",
             os.path.join(SRC, "configs/seeds"), "--seed", str(seed), "--latency-ms", "5", "--latency-jitter-ms", "4",
             "--solver-accuracy", "0.8", "--solve-variants"], stdout=out, stderr=err)
        for _ in range(600):
            out.seek(0)
            if "listening on" in out.read():
                return proc
            if proc.poll() is not None:
                break
            time.sleep(0.1)
        raise RuntimeError("llm-sim did not start in %s: %s" % (ns, open(err.name).read()))

    def _ends(self, ns):
        for n, name, h, w in self.names:
            if name == ns:
                return h, w
        raise KeyError(ns)

    def cut(self, ns):
        h, w = self._ends(ns)
        # A queue of length 0 on each end drops every packet, silently.
        self._run("tc qdisc add dev %s root pfifo limit 0" % h,
                  "ip netns exec %s tc qdisc add dev %s root pfifo limit 0" % (ns, w))

    def heal(self, ns):
        h, w = self._ends(ns)
        self._run("tc qdisc del dev %s root" % h, "ip netns exec %s tc qdisc del dev %s root" % (ns, w))

    def remove_all(self):
        for n, ns, h, w in self.names:
            subprocess.run("ip netns pids %s | xargs -r kill -9" % ns, shell=True, capture_output=True)
            subprocess.run(["ip", "link", "del", h], capture_output=True)
            subprocess.run(["ip", "netns", "del", ns], capture_output=True)
        self.names = []


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default=os.path.join(SRC, "build"))
    ap.add_argument("--items", type=int, default=600)
    ap.add_argument("--faults", type=int, default=10)
    ap.add_argument("--workers", type=int, default=3)
    ap.add_argument("--seed", type=int, default=int(time.time()))
    ap.add_argument("--keep", action="store_true", help="keep the work folder")
    ap.add_argument("--netns", nargs="?", const="yes", choices=["yes", "auto"],
                    help="each worker in its own network namespace; adds partitions "
                         "(auto: only where namespaces are usable, else loopback)")
    a = ap.parse_args()
    net = Netns(a.seed) if a.netns else None
    if net and not net.usable() and a.netns == "auto":
        print("cluster-chaos: network namespaces are not available here (%s): workers on loopback, no partitions"
              % net.why)
        net = None
    if net and not net.usable():
        print("cluster-chaos: SKIP network namespaces are not available here (needs root and `ip netns`):",
              net.why)
        return 77
    rng = random.Random(a.seed)
    exe = os.path.join(a.build, "veriforge")
    work = tempfile.mkdtemp(prefix="veriforge-chaos-")
    procs = []
    sims = []
    try:
        # Reference: one process, uninterrupted.
        sim, sim_port = crash.start_sim(a.build, work, "reference", a.seed)
        sims.append(sim)
        ref_cfg = os.path.join(work, "reference.toml")
        crash.write_config(ref_cfg, sim_port, a.items, a.seed)
        t0 = time.time()
        ref = subprocess.run([exe, "run", ref_cfg, "--out", os.path.join(work, "ref"), "--no-progress"],
                             capture_output=True, text=True, timeout=3600)
        ref_s = time.time() - t0
        if ref.returncode not in (0, 3):
            print("could not run the reference:", ref.stderr[-2000:])
            return 2

        sim, sim_port = crash.start_sim(a.build, work, "cluster", a.seed)
        sims.append(sim)
        cfg = os.path.join(work, "cluster.toml")
        crash.write_config(cfg, sim_port, a.items, a.seed)
        audit = os.path.join(work, "audit.log")
        token = os.urandom(16).hex()
        env = dict(os.environ, VERIFORGE_CLUSTER_TOKEN=token, VERIFORGE_AUDIT_FILE=audit)
        port = free_port()
        job = os.path.join(work, "job")
        keys = ["--set", "cluster.heartbeat_interval_ms=%d" % HEARTBEAT_MS,
                "--set", "cluster.heartbeat_timeout_ms=%d" % TIMEOUT_MS]
        listen_host = "0.0.0.0" if net else "127.0.0.1"
        coord_cmd = [exe, "run", cfg, "--out", job, "--no-progress", "--listen", "%s:%d" % (listen_host, port),
                     "--set", "cluster.local_workers=false"] + keys
        logs = {"n": 0}

        def spawn(cmd, name):
            logs["n"] += 1
            f = open(os.path.join(work, "%s.%d.err" % (name, logs["n"])), "w")
            p = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=f, env=env)
            procs.append(p)
            return p

        def start_coordinator():
            p = spawn(coord_cmd, "coordinator")
            for _ in range(300):  # the port is free again once the old process is gone
                try:
                    socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                    return p
                except OSError:
                    if p.poll() is not None:
                        return p
                    time.sleep(0.05)
            return p

        workers = {}
        next_worker = [1]

        hosts = {}  # worker name -> its namespace (with --netns)

        def start_worker():
            n = next_worker[0]
            name = "w%d" % n
            next_worker[0] += 1
            cmd = [exe, "worker", "--join", "127.0.0.1:%d" % port, "--name", name,
                   "--set", "executor.workers=1", "--give-up-after", "10"] + keys
            if net:
                ns = net.add_host(n)
                hosts[name] = ns
                sims.append(net.start_sim(ns, a.build, work, name, a.seed, sim_port))
                cmd = ["ip", "netns", "exec", ns] + cmd
                cmd[cmd.index("--join") + 1] = "%s:%d" % (net.host_address(n), port)
            workers[name] = spawn(cmd, name)

        coord = start_coordinator()
        for _ in range(a.workers):
            start_worker()
        follower = crash.Follower(os.path.join(job, "accepted.jsonl"))
        follower.start()
        faults = {"kill": 0, "freeze": 0, "join": 0, "leave": 0, "coord": 0}
        if net:
            faults["partition"] = 0
        frozen = []
        cut = []  # (namespace, heal at)
        done_faults = 0
        exits = []
        deadline = time.time() + max(1800, 20 * ref_s)
        while time.time() < deadline:
            code = coord.poll()
            if code is not None:
                if code == 0 or code == 3:
                    exits.append(code)
                    break
                if code != -signal.SIGKILL:
                    print("FAIL the coordinator exited %d" % code)
                    return 1
            time.sleep(rng.uniform(0.5, 2.5))
            for p, until in list(frozen):
                if time.time() >= until:
                    p.send_signal(signal.SIGCONT)
                    frozen.remove((p, until))
            for ns, until in list(cut):
                if time.time() >= until:
                    net.heal(ns)
                    cut.remove((ns, until))
            if done_faults >= a.faults or coord.poll() is not None:
                continue
            alive = [n for n, p in workers.items() if p.poll() is None and all(p is not f for f, _ in frozen)
                     and all(hosts.get(n) != ns for ns, _ in cut)]
            kinds = ["kill", "freeze", "join", "leave", "coord", "kill", "join"]
            if net:
                kinds += ["partition", "partition"]
            kind = rng.choice(kinds)
            if kind in ("kill", "freeze", "leave", "partition") and len(alive) <= 2:
                kind = "join"
            if kind == "kill":
                workers[rng.choice(alive)].send_signal(signal.SIGKILL)
            elif kind == "freeze":
                p = workers[rng.choice(alive)]
                p.send_signal(signal.SIGSTOP)
                frozen.append((p, time.time() + TIMEOUT_MS / 1000.0 + 1.0))
            elif kind == "partition":
                ns = hosts[rng.choice(alive)]
                net.cut(ns)
                cut.append((ns, time.time() + TIMEOUT_MS / 1000.0 + 1.0))
            elif kind == "join":
                start_worker()
            elif kind == "leave":
                workers[rng.choice(alive)].send_signal(signal.SIGTERM)
            elif kind == "coord":
                coord.send_signal(signal.SIGKILL)
                coord.wait()
                with open(audit, "a") as f:
                    f.write("kill %d\n" % done_faults)
                coord = start_coordinator()
            faults[kind] += 1
            done_faults += 1
        # A worker frozen when the job ended missed the end: on thawing it
        # finds no coordinator and keeps trying to reconnect (the coordinator
        # might be restarting) until --give-up-after; it is not waited for.
        missed_end = set()
        for p, _ in frozen:
            p.send_signal(signal.SIGCONT)
            missed_end.add(p.pid)
        for ns, _ in cut:
            net.heal(ns)
            missed_end.update(workers[n].pid for n, h in hosts.items() if h == ns)
        if coord.poll() is None:
            print("FAIL the job did not finish in time")
            return 1
        time.sleep(1.0)
        follower.stopping.set()
        follower.join(timeout=5)
        problems = []
        for name, p in workers.items():
            if p.pid in missed_end:
                p.kill()
                continue
            try:
                c = p.wait(timeout=30)
                errs = sorted(f for f in os.listdir(work) if f.startswith(name + ".") and ".sim." not in f)
                tail = open(os.path.join(work, errs[-1])).read()[-800:] if errs else ""
                # A worker that was still joining when the job ended missed the
                # news; it finds no coordinator and gives up (exit 2) after
                # --give-up-after, as it must when a coordinator is gone for good.
                if c == 2 and "giving up" in tail:
                    continue
                if c not in (0, -signal.SIGKILL):
                    problems.append("worker %s exit %d: %s" % (name, c, tail))
            except subprocess.TimeoutExpired:
                problems.append("worker %s did not exit when the job ended" % name)

        want, _, _ = crash.load_records(os.path.join(work, "ref", "accepted.jsonl"))
        got, ids, dupes = crash.load_records(os.path.join(job, "accepted.jsonl"))
        rejected, _, _ = crash.load_records(os.path.join(job, "rejected.jsonl"))
        lost = len(set(want) - set(got))
        extra = len(set(got) - set(want))
        differing = sum(1 for k in got if k in want and got[k] != want[k])
        both = len(set(got) & set(rejected))
        check = subprocess.run([exe, "check", job], capture_output=True, text=True)
        repeated, redone, in_flight = crash.audit_analysis(audit)
        follower_dupes = len(follower.ids) - len(set(follower.ids))
        for what, n in (("lost", lost), ("extra", extra), ("duplicated", dupes), ("differing", differing),
                        ("both accepted and rejected", both), ("finished calls made again", repeated["call"]),
                        ("finished runs made again", repeated["run"]), ("lines a reader saw twice", follower_dupes),
                        ("bytes taken back under a reader", follower.retracted)):
            if n:
                problems.append("%d %s" % (n, what))
        if check.returncode != 0:
            problems.append("veriforge check: " + check.stdout[-1000:])
        if done_faults < a.faults:
            problems.append("only %d of %d faults landed before the job ended" % (done_faults, a.faults))
        log = open(os.path.join(job, "veriforge.log")).read()
        requeued = sum(int(l.split("leases_requeued=")[1].split()[0]) for l in log.splitlines()
                       if "event=worker-lost" in l)
        verdict = "PASS" if not problems else "FAIL"
        for p in problems:
            print("FAIL", p)
        print("cluster-chaos: %s faults=%d (%s) items=%d accepted=%d (reference %d) lost=%d duplicated=%d "
              "differing=%d both=%d repeated_finished_calls=%d repeated_finished_runs=%d requeued_leases=%d "
              "reader_retracted_bytes=%d reference_s=%.1f seed=%d" %
              (verdict, done_faults, " ".join("%s=%d" % kv for kv in faults.items()), a.items, len(got), len(want),
               lost, dupes, differing, both, repeated["call"], repeated["run"], requeued, follower.retracted, ref_s,
               a.seed))
        return 0 if not problems else 1
    finally:
        for p in procs + sims:
            if p.poll() is None:
                try:
                    p.send_signal(signal.SIGCONT)
                    p.kill()
                except ProcessLookupError:
                    pass
        if net:
            net.remove_all()
        if not a.keep:
            subprocess.run(["rm", "-rf", work])
        else:
            print("work folder:", work)


if __name__ == "__main__":
    sys.exit(main())
