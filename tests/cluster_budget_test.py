#!/usr/bin/env python3
"""Cluster-wide rate budget: an endpoint marked `shared = true` (a hosted API
the whole cluster calls) has its requests_per_minute split among the nodes
calling it, and split again when one leaves.

A coordinator (no local workers) and two workers against one llm-sim; the
shared endpoint has requests_per_minute = 6000. With both workers joined
each must be given 3000; after one leaves (SIGTERM) the other must be given
6000; the job must finish with the single-process run's accepted records.
Asserts the shares each node was told (from the node's log), not timings.

  tests/cluster_budget_test.py BUILD_DIR SOURCE_DIR
"""
import importlib.util
import json
import os
import signal
import subprocess
import sys
import tempfile
import time

SRC = os.path.abspath(sys.argv[2])
spec = importlib.util.spec_from_file_location("crash_test", os.path.join(SRC, "tools", "crash-test.py"))
crash = importlib.util.module_from_spec(spec)
spec.loader.exec_module(crash)


def config(path, port, items):
    with open(path, "w") as f:
        f.write("""name = "budget"
seeds = ["%s/configs/seeds/examples.jsonl"]
target_accepted = %d
max_generated = %d
random_seed = 5
[generator]
kind = "variant"
[solver]
enabled = true
samples = 2
[[endpoints]]
role = "solver"
name = "hosted"
base_url = "http://127.0.0.1:%d/v1"
model = "sim"
max_in_flight = 16
requests_per_minute = 6000
shared = true
""" % (SRC, items, items, port))


def shares(path):
    try:
        text = open(path).read()
    except FileNotFoundError:
        return []
    return [float(l.split("rpm=")[1].split()[0]) for l in text.splitlines() if "event=rate-share endpoint=hosted" in l]


def main():
    build = os.path.abspath(sys.argv[1])
    exe = os.path.join(build, "veriforge")
    work = tempfile.mkdtemp(prefix="veriforge-budget-")
    procs = []
    try:
        sim, port = crash.start_sim(build, work, "sim", 5)
        procs.append(sim)
        cfg = os.path.join(work, "job.toml")
        config(cfg, port, 200)
        ref = subprocess.run([exe, "run", cfg, "--out", os.path.join(work, "ref"), "--no-progress"],
                             capture_output=True, text=True, timeout=600)
        if ref.returncode not in (0, 3):
            print("could not run the reference:", ref.stderr[-1500:])
            return 2
        env = dict(os.environ, VERIFORGE_CLUSTER_TOKEN="budget-token")
        err = open(os.path.join(work, "coord.err"), "w")
        coord = subprocess.Popen([exe, "run", cfg, "--out", os.path.join(work, "job"), "--no-progress",
                                  "--listen", "127.0.0.1:0", "--set", "cluster.local_workers=false"],
                                 stdout=subprocess.DEVNULL, stderr=err, env=env)
        procs.append(coord)
        listen = None
        for _ in range(300):
            text = open(err.name).read()
            if "listening on" in text:
                listen = text.split("listening on")[1].split()[0]
                break
            time.sleep(0.1)
        if not listen:
            print("the coordinator did not listen")
            return 2
        logs = {}
        workers = {}
        for name in ("w1", "w2"):
            logs[name] = os.path.join(work, name + ".err")
            workers[name] = subprocess.Popen([exe, "worker", "--join", listen, "--name", name],
                                             stdout=subprocess.DEVNULL, stderr=open(logs[name], "w"), env=env)
            procs.append(workers[name])
        problems = []
        deadline = time.time() + 60
        while time.time() < deadline and not (3000.0 in shares(logs["w1"]) and 3000.0 in shares(logs["w2"])):
            time.sleep(0.1)
        if not (3000.0 in shares(logs["w1"]) and 3000.0 in shares(logs["w2"])):
            problems.append("with two workers each was not given 3000 rpm: w1 %s, w2 %s" %
                            (shares(logs["w1"]), shares(logs["w2"])))
        workers["w2"].send_signal(signal.SIGTERM)
        if workers["w2"].wait(timeout=30) != 0:
            problems.append("w2 did not leave with exit 0 on SIGTERM")
        deadline = time.time() + 30
        while time.time() < deadline and shares(logs["w1"])[-1:] != [6000.0]:
            time.sleep(0.1)
        if shares(logs["w1"])[-1:] != [6000.0]:
            problems.append("after w2 left, w1 was not given the whole 6000 rpm: %s" % shares(logs["w1"]))
        if coord.wait(timeout=600) not in (0, 3):
            problems.append("the coordinator failed: " + open(err.name).read()[-1500:])
        if workers["w1"].wait(timeout=30) != 0:
            problems.append("w1 did not exit 0 when the job ended")
        want, _, _ = crash.load_records(os.path.join(work, "ref", "accepted.jsonl"))
        got, _, dupes = crash.load_records(os.path.join(work, "job", "accepted.jsonl"))
        if got != want or dupes:
            problems.append("accepted records differ from the single-process run's (%d vs %d, %d twice)" %
                            (len(got), len(want), dupes))
        for p in problems:
            print("FAIL", p)
        if problems:
            return 1
        print("cluster-budget: PASS shares w1 %s, w2 %s; %d records equal the single-process run's" %
              (shares(logs["w1"]), shares(logs["w2"]), len(got)))
        return 0
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
        subprocess.run(["rm", "-rf", work])


if __name__ == "__main__":
    sys.exit(main())
