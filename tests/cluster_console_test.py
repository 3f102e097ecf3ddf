#!/usr/bin/env python3
"""Node controls from the console on a real cluster (real processes, loopback TCP):

  a coordinator (--listen, --console, no local workers) and three workers on
  the offline job;
  - a node control without the token is refused (401); on a node that does
    not exist, 404;
  - cordon w1: it gets no new leases (its leases fall to 0 and its items done
    stay put for 3 s) while the job goes on; uncordon: it works again;
  - drain w2: once its leases are back it is told to leave and exits 0;
  - remove w3: its leases are handed to the others, it is told to leave and
    exits 0; a control on a removed node is refused (409);
  - the job finishes its target with no record written twice, and
    `veriforge check` finds the log and the outputs consistent;
  - every control is in the checkpoint log (GET /api/v1/controls).

  tests/cluster_console_test.py BUILD_DIR SOURCE_DIR
"""
import json
import os
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

TARGET = 400


def call(url, method="GET", token=None):
    req = urllib.request.Request(url, method=method, data=b"" if method == "POST" else None)
    if token:
        req.add_header("Authorization", "Bearer " + token)
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, json.loads(r.read() or b"{}")
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"{}")


def until(what, fn, timeout=90):
    end = time.time() + timeout
    while time.time() < end:
        v = fn()
        if v:
            return v
        time.sleep(0.2)
    raise AssertionError("timed out waiting for " + what)


def main():
    build, src = os.path.abspath(sys.argv[1]), os.path.abspath(sys.argv[2])
    exe = os.path.join(build, "veriforge")
    work = tempfile.mkdtemp(prefix="veriforge-cluster-console-")
    out = os.path.join(work, "job")
    token = os.urandom(16).hex()
    env = dict(os.environ, VERIFORGE_CLUSTER_TOKEN="cluster-" + token, VERIFORGE_CONSOLE_TOKEN=token)
    procs = []
    try:
        err = open(os.path.join(work, "coord.err"), "w")
        coord = subprocess.Popen([exe, "run", os.path.join(src, "configs/local.toml"), "--out", out, "--no-progress",
                                  "--listen", "127.0.0.1:0", "--console", "127.0.0.1:0",
                                  "--set", "cluster.local_workers=false", "--set", "target_accepted=%d" % TARGET,
                                  "--set", "cluster.heartbeat_interval_ms=200"],
                                 stdout=subprocess.DEVNULL, stderr=err, env=env)
        procs.append(coord)
        listen = until("the coordinator to listen", lambda: "listening on" in open(err.name).read() and
                       open(err.name).read().split("listening on")[1].split()[0])
        url = until("console.url", lambda: os.path.exists(os.path.join(out, "console.url")) and
                    open(os.path.join(out, "console.url")).read().strip())
        workers = {}
        for name in ("w1", "w2", "w3"):
            workers[name] = subprocess.Popen([exe, "worker", "--join", listen, "--name", name,
                                              "--set", "executor.workers=1"],
                                             stdout=subprocess.DEVNULL,
                                             stderr=open(os.path.join(work, name + ".err"), "w"), env=env)
            procs.append(workers[name])

        def nodes():
            return {n["name"]: n for n in call(url + "api/v1/nodes")[1]["nodes"]}

        ids = until("three working nodes", lambda: (lambda n: len(n) == 3 and
                                                   all(v["items_done"] > 0 for v in n.values()) and
                                                   {k: v["id"] for k, v in n.items()})(nodes()))
        status, _ = call(url + "api/v1/nodes/%d/cordon" % ids["w1"], "POST")
        assert status == 401, "a node control without the token answered %d" % status
        status, _ = call(url + "api/v1/nodes/99/cordon", "POST", token)
        assert status == 404, "cordon of node 99 answered %d" % status

        status, body = call(url + "api/v1/nodes/%d/cordon" % ids["w1"], "POST", token)
        assert status == 200, (status, body)
        until("w1 to hold no lease", lambda: nodes()["w1"]["leases_held"] == 0 and nodes()["w1"]["state"] == "cordoned")
        done_w1 = nodes()["w1"]["items_done"]
        accepted = call(url + "api/v1/job")[1]["accepted"]
        time.sleep(3)
        assert nodes()["w1"]["items_done"] == done_w1, "cordoned w1 kept working"
        assert call(url + "api/v1/job")[1]["accepted"] > accepted, "the job stalled while w1 was cordoned"
        print("cordon: w1 at %d items done for 3 s while the job went on" % done_w1)
        status, _ = call(url + "api/v1/nodes/%d/uncordon" % ids["w1"], "POST", token)
        assert status == 200
        until("w1 to work again", lambda: nodes()["w1"]["items_done"] > done_w1)
        print("uncordon: w1 works again")

        status, _ = call(url + "api/v1/nodes/%d/drain" % ids["w2"], "POST", token)
        assert status == 200
        code = workers["w2"].wait(timeout=60)
        assert code == 0, "drained w2 exit %d" % code
        until("w2 shown drained", lambda: nodes()["w2"]["state"] == "drained")
        print("drain: w2 left once its leases were back (exit 0)")

        status, _ = call(url + "api/v1/nodes/%d/remove" % ids["w3"], "POST", token)
        assert status == 200
        code = workers["w3"].wait(timeout=60)
        assert code == 0, "removed w3 exit %d" % code
        until("w3 shown removed", lambda: nodes()["w3"]["state"] == "removed")
        status, _ = call(url + "api/v1/nodes/%d/cordon" % ids["w3"], "POST", token)
        assert status == 409, "cordon of a removed node answered %d" % status
        print("remove: w3 left (exit 0); controls on it are refused (409)")

        controls = [c["action"] for c in call(url + "api/v1/controls")[1]["controls"]]
        for a in ("node-cordon", "node-uncordon", "node-drain", "node-remove"):
            assert a in controls, "%s is not in the log's control record: %s" % (a, controls)

        code = coord.wait(timeout=600)
        assert code == 0, "the coordinator exit %d: %s" % (code, open(err.name).read()[-1500:])
        ids_written = [json.loads(l)["id"] for l in open(os.path.join(out, "accepted.jsonl"))]
        assert len(ids_written) == TARGET, "accepted %d, want %d" % (len(ids_written), TARGET)
        assert len(set(ids_written)) == TARGET, "a record written twice"
        check = subprocess.run([exe, "check", out], capture_output=True, text=True)
        assert check.returncode == 0, "veriforge check: " + check.stdout + check.stderr
        print("cluster_console: PASS (cordon, uncordon, drain, remove; %d accepted once; check consistent)" % TARGET)
        return 0
    except Exception as e:
        print("FAIL", repr(e))
        print(open(os.path.join(work, "coord.err")).read()[-3000:])
        return 1
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
        subprocess.run(["rm", "-rf", work])


if __name__ == "__main__":
    sys.exit(main())
