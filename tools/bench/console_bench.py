#!/usr/bin/env python3
"""What the console costs a running job (issue 15's goal: throughput with a
page open >= 0.98 of the same job without a console; /api/v1/job under
50 ms at p99 while the job runs).

Runs the same offline job (configs/local.toml) alternately without a console
and with one that a simulated open page keeps busy: the page's event stream
(one snapshot a second), its polls of the other views every 3 s (endpoints,
sandbox, rejections, warnings, nodes, a page of accepted items), and on top
of that GET /api/v1/job twice a second, timed (the client's own CPU
counts against the job too: the machine is shared). Throughput is accepted
items per second of the job's own summary (elapsed_s), so process start-up
and the sandbox's warm-up are not counted. Prints both medians, their ratio,
and the latency percentiles of /api/v1/job.

  tools/bench/console_bench.py [--build build] [--target 400] [--rounds 3]
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

SRC = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def page_load(url, stop, latencies):
    """Does what an open console page does, plus a timed 2 Hz /api/v1/job."""
    def stream():
        try:
            with urllib.request.urlopen(url + "api/v1/events", timeout=30) as r:
                while not stop.is_set():
                    if not r.readline():
                        return
        except Exception:
            return

    def views():
        while not stop.is_set():
            for v in ("endpoints", "sandbox", "rejections", "warnings", "nodes", "accepted?offset=0&limit=5"):
                try:
                    urllib.request.urlopen(url + "api/v1/" + v, timeout=10).read()
                except Exception:
                    pass
            stop.wait(3.0)

    def timed():
        while not stop.is_set():
            t0 = time.perf_counter()
            try:
                urllib.request.urlopen(url + "api/v1/job", timeout=10).read()
                latencies.append(time.perf_counter() - t0)
            except Exception:
                pass
            stop.wait(0.5)

    threads = [threading.Thread(target=f, daemon=True) for f in (stream, views, timed)]
    for t in threads:
        t.start()
    return threads


def run_once(exe, target, console):
    work = tempfile.mkdtemp(prefix="veriforge-console-bench-")
    out = os.path.join(work, "job")
    cmd = [exe, "run", os.path.join(SRC, "configs/local.toml"), "--out", out, "--no-progress",
           "--set", "target_accepted=%d" % target]
    if console:
        cmd += ["--console", "127.0.0.1:0"]
    latencies, stop = [], threading.Event()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    threads = []
    if console:
        url_file = os.path.join(out, "console.url")
        while not (os.path.exists(url_file) and open(url_file).read().strip()):
            if proc.poll() is not None:
                sys.exit("the job ended before its console started")
            time.sleep(0.05)
        threads = page_load(open(url_file).read().strip(), stop, latencies)
    code = proc.wait()
    stop.set()
    if code != 0:
        sys.exit("the job failed (exit %d)" % code)
    summary = json.load(open(os.path.join(out, "summary.json")))
    elapsed = summary.get("elapsed_s") or summary.get("writer", {}).get("elapsed_s")
    accepted = summary.get("accepted", target)
    subprocess.run(["rm", "-rf", work])
    return accepted / elapsed, latencies


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--build", default=os.path.join(SRC, "build"))
    ap.add_argument("--target", type=int, default=400)
    ap.add_argument("--rounds", type=int, default=4)
    a = ap.parse_args()
    exe = os.path.join(a.build, "veriforge")
    without, with_page, lat = [], [], []
    for i in range(a.rounds):
        # Alternating, so a drift of the machine's speed hits both alike.
        r0, _ = run_once(exe, a.target, False)
        r1, l1 = run_once(exe, a.target, True)
        without.append(r0)
        with_page.append(r1)
        lat += l1
        print("round %d: without console %.2f accepted/s, with a page open %.2f (%d timed requests)" %
              (i + 1, r0, r1, len(l1)), flush=True)
    m0, m1 = statistics.median(without), statistics.median(with_page)
    lat.sort()
    pct = lambda q: lat[min(len(lat) - 1, int(q * len(lat)))] * 1000 if lat else float("nan")
    print("console bench: target %d, %d rounds" % (a.target, a.rounds))
    print("  throughput without console   %.2f accepted/s (median)" % m0)
    print("  throughput with a page open  %.2f accepted/s (median)" % m1)
    print("  ratio with/without = %.3f  (goal >= 0.98)" % (m1 / m0))
    print("  GET /api/v1/job while running: %d requests, p50 %.1f ms, p99 %.1f ms, max %.1f ms (goal p99 < 50 ms)" %
          (len(lat), pct(0.5), pct(0.99), lat[-1] * 1000 if lat else float("nan")))


if __name__ == "__main__":
    main()
