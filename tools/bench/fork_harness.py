# Minimal fork-after-import harness: the limit the sandbox benchmark compares
# veriforge's pool against. One parent imports the modules once, then forks a
# child per snippet, at most N at a time, and captures stdout. No containment:
# no namespaces, no uid switch, no rlimits, no private folder.
#   python3 fork_harness.py --modules sympy,networkx --workers 2 --timeout 120 < snippets.json > results.json
# Input: JSON list of code strings. Output: JSON list of {"status", "stdout"}.
import argparse
import importlib
import json
import os
import select
import signal
import sys
import time

ap = argparse.ArgumentParser()
ap.add_argument("--modules", default="")
ap.add_argument("--workers", type=int, default=os.cpu_count())
ap.add_argument("--timeout", type=float, default=120.0)
args = ap.parse_args()
snippets = json.load(sys.stdin)
for m in filter(None, args.modules.split(",")):
    try:
        importlib.import_module(m)
    except Exception:
        pass
results = [None] * len(snippets)
running = {}  # fd -> (index, pid, chunks, deadline)
next_item = 0
while next_item < len(snippets) or running:
    while next_item < len(snippets) and len(running) < args.workers:
        r, w = os.pipe()
        pid = os.fork()
        if pid == 0:
            os.close(r)
            os.dup2(w, 1)
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, 2)
            try:
                exec(compile(snippets[next_item], "snippet.py", "exec"), {"__name__": "__main__"})
                code = 0
            except SystemExit as e:
                code = e.code if isinstance(e.code, int) else 1
            except BaseException:
                code = 1
            sys.stdout.flush()
            os._exit(code)
        os.close(w)
        running[r] = (next_item, pid, [], time.monotonic() + args.timeout)
        next_item += 1
    ready, _, _ = select.select(list(running), [], [], 0.5)
    now = time.monotonic()
    for fd in list(running):
        index, pid, chunks, deadline = running[fd]
        done = False
        if fd in ready:
            data = os.read(fd, 65536)
            if data:
                chunks.append(data)
            else:
                done = True
        if not done and now > deadline:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            results[index] = {"status": "timeout", "stdout": ""}
            os.close(fd)
            del running[fd]
            continue
        if done:
            _, status = os.waitpid(pid, 0)
            ok = os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0
            results[index] = {"status": "ok" if ok else "error",
                              "stdout": b"".join(chunks).decode("utf-8", "replace").rstrip()}
            os.close(fd)
            del running[fd]
json.dump(results, sys.stdout)
