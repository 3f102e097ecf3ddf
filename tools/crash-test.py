#!/usr/bin/env python3
"""Crash test: kill veriforge with SIGKILL at random moments, resume, compare.

Runs one job twice against the LLM simulator (tools/llm-sim), each run with
its own simulator so LLM calls are counted per run:

  reference  uninterrupted
  crashed    started, killed with SIGKILL after a random delay, started again
             with the same command, ... N times, then run to the end

and then checks the promise of the checkpoint log:

  * the crashed run's accepted items (ids and records) equal the reference's
    (records compared without measured timings: `wall_ms`);
  * no record is written twice, none lost, no item both accepted and rejected,
    every export holds the same items, and `veriforge check` agrees;
  * no finished unit of costly work (an LLM call or a code run whose result
    reached the log) was made again; work redone after a kill is at most what
    was in flight at that kill (from the audit trail, VERIFORGE_AUDIT_FILE);
  * the simulator saw no successful request twice beyond those in-flight calls;
  * a reader following accepted.jsonl and rejected.jsonl across the kills
    (as `tail -F` or a loader streaming into training would) sees every record
    exactly once and never sees a file shrink: lines it read are never taken back;
  * every kill counted hit work in flight: a kill whose session had no code
    run or model call started and not yet logged (during start-up, say) is
    not counted, and the run fails if fewer than --kills kills hit work.

The job: the offline variant generator (deterministic) feeding the sandbox
and an LLM solver (k samples, majority agreement) served by the simulator.

Prints one verdict line and exits 0 (pass), 1 (violation) or 2 (could not run).

  tools/crash-test.py --build build --items 5000 --kills 50
"""
import argparse
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

SRC = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def start_sim(build, work, name, seed):
    out = open(os.path.join(work, name + ".sim.out"), "w+")
    err = open(os.path.join(work, name + ".sim.err"), "w")
    proc = subprocess.Popen(
        [os.path.join(build, "llm-sim"), "--port", "0", "--seeds", os.path.join(SRC, "configs/seeds"),
         "--seed", str(seed), "--latency-ms", "5", "--latency-jitter-ms", "4", "--solver-accuracy", "0.8",
         "--solve-variants"], stdout=out, stderr=err)
    for _ in range(600):
        out.seek(0)
        text = out.read()
        if "listening on" in text:
            return proc, int(text.split("listening on")[1].split()[0])
        if proc.poll() is not None:
            break
        time.sleep(0.1)
    raise RuntimeError("llm-sim did not start: " + open(err.name).read())


def sim_stats(port):
    with urllib.request.urlopen("http://127.0.0.1:%d/stats" % port, timeout=10) as r:
        return json.loads(r.read())


def write_config(path, port, items, seed):
    with open(path, "w") as f:
        f.write("""name = "crash"
seeds = ["%s/configs/seeds/examples.jsonl"]
target_accepted = %d
max_generated = %d
random_seed = %d
[generator]
kind = "variant"
[solver]
enabled = true
samples = 3
use_n = true
[verifier]
agreement = "majority"
drop_none_solved = true
[executor]
runs = 2
[pipeline]
llm_credits = 64
[model]
max_attempts = 8
backoff_base_s = 0.05
[[endpoints]]
role = "solver"
name = "sim"
base_url = "http://127.0.0.1:%d/v1"
model = "sim"
max_in_flight = 32
timeout_s = 60
""" % (SRC, items, items, seed, port))


def run_job(build, config, out, audit, env_extra=None):
    env = dict(os.environ, VERIFORGE_AUDIT_FILE=audit)
    return subprocess.Popen([os.path.join(build, "veriforge"), "run", config, "--out", out, "--no-progress"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)


def load_records(path):
    records, ids, dupes = {}, [], 0
    if not os.path.exists(path):
        return records, ids, dupes
    with open(path) as f:
        for line in f:
            r = json.loads(line)
            key = r.get("item_id", r.get("id"))
            ids.append(key)
            if key in records:
                dupes += 1
            for e in r.get("executions", []):
                e.pop("wall_ms", None)
            r.pop("wall_ms", None)
            records[key] = r
    return records, ids, dupes


def audit_analysis(path):
    """Epochs are separated by 'kill N' lines the tool appends after each kill."""
    logged_before = set()  # keys whose result reached the log in an earlier epoch
    started_open = set()   # keys started in an earlier epoch and never logged
    repeated_finished = {"run": 0, "call": 0}
    redone = {"run": 0, "call": 0}
    in_flight_at_kills = {"run": 0, "call": 0}
    started, logged = set(), set()
    def close_epoch():
        for key in started - logged:
            in_flight_at_kills[key[0]] += 1
        logged_before.update(logged)
        started_open.update(started - logged)
        started_open.difference_update(logged)
    if os.path.exists(path):
        with open(path) as f:
            for line in f:
                parts = line.split()
                if not parts:
                    continue
                if parts[0] == "kill":
                    close_epoch()
                    started, logged = set(), set()
                    continue
                if len(parts) != 3:
                    continue  # a line torn by the kill
                event, kind, key = parts
                k = (kind, key)
                if event == "start":
                    if k in logged_before or k in logged:
                        repeated_finished[kind] += 1
                    elif k in started_open:
                        redone[kind] += 1
                    started.add(k)
                elif event == "logged":
                    logged.add(k)
    return repeated_finished, redone, in_flight_at_kills


class Follower(threading.Thread):
    """Reads a growing JSON Lines file as it grows, complete lines only."""

    def __init__(self, path):
        super().__init__(daemon=True)
        self.path, self.offset, self.ids, self.retracted = path, 0, [], 0
        self.last = b""  # the last line read, with its newline: still there at the next poll?
        self.stopping = threading.Event()

    def poll(self):
        try:
            with open(self.path, "rb") as f:
                size = os.fstat(f.fileno()).st_size
                if self.last:
                    f.seek(self.offset - len(self.last))
                    if size < self.offset or f.read(len(self.last)) != self.last:
                        # Cut (and perhaps written again) under the reader: bytes it had read, taken back.
                        self.retracted += len(self.last)
                        self.offset = min(size, self.offset - len(self.last))
                        self.last = b""
                if size <= self.offset:
                    return
                f.seek(self.offset)
                data = f.read(size - self.offset)
        except OSError:
            return
        end = data.rfind(b"\n")
        if end < 0:
            return
        lines = data[:end].split(b"\n")
        for line in lines:
            self.ids.append(json.loads(line).get("item_id"))
        self.offset += end + 1
        self.last = lines[-1] + b"\n"

    def run(self):
        while not self.stopping.is_set():
            self.poll()
            time.sleep(0.005)

    def finish(self):
        self.stopping.set()
        self.join()
        self.poll()


def wait_for_work(proc, audit, offset, limit_s=120):
    """Returns once the audit has a 'start' past `offset` (work began) or the process ended."""
    deadline = time.time() + limit_s
    while time.time() < deadline and proc.poll() is None:
        if os.path.exists(audit):
            with open(audit) as f:
                f.seek(offset)
                if any(line.startswith("start ") for line in f):
                    return
        time.sleep(0.02)


def epoch_in_flight(path):
    """Units started and not logged since the last 'kill' line of the audit."""
    started, logged = set(), set()
    if os.path.exists(path):
        with open(path) as f:
            for line in f:
                parts = line.split()
                if parts and parts[0] == "kill":
                    started, logged = set(), set()
                elif len(parts) == 3:
                    (started if parts[0] == "start" else logged).add((parts[1], parts[2]))
    return len(started - logged)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--build", default=os.path.join(SRC, "build"), help="folder with veriforge and llm-sim")
    ap.add_argument("--items", type=int, default=5000, help="items the job generates")
    ap.add_argument("--kills", type=int, default=50, help="SIGKILLs (at least 20 for the promise to mean much)")
    ap.add_argument("--seed", type=int, default=20261127, help="random seed of the job and of the kill times")
    ap.add_argument("--work", help="keep the runs here (default: a temporary folder, removed on success)")
    args = ap.parse_args()

    work = args.work or tempfile.mkdtemp(prefix="veriforge-crash-")
    os.makedirs(work, exist_ok=True)
    rng = random.Random(args.seed)
    sims = []
    try:
        # Reference run.
        sim, port = start_sim(args.build, work, "reference", args.seed)
        sims.append(sim)
        config = os.path.join(work, "reference.toml")
        write_config(config, port, args.items, args.seed)
        t0 = time.time()
        p = run_job(args.build, config, os.path.join(work, "reference"), os.path.join(work, "reference.audit"))
        out, err = p.communicate()
        reference_s = time.time() - t0
        if p.returncode not in (0, 3):
            print("crash-test: ERROR the reference run failed (exit %d): %s" % (p.returncode, err.decode()[-2000:]))
            return 2
        ref_stats = sim_stats(port)

        # Crashed run: kills at random moments, spread so the job is killed
        # throughout its life (including during start-up and near its end).
        sim, port = start_sim(args.build, work, "crashed", args.seed)
        sims.append(sim)
        config = os.path.join(work, "crashed.toml")
        write_config(config, port, args.items, args.seed)
        out_dir = os.path.join(work, "crashed")
        audit = os.path.join(work, "crashed.audit")
        followers = [Follower(os.path.join(out_dir, name)) for name in ("accepted.jsonl", "rejected.jsonl")]
        for f in followers:
            f.start()
        kills = 0       # kills that hit work in flight
        idle_kills = 0  # kills that found nothing in flight (start-up, say): not counted
        # Each session is killed a random time after its first unit of work
        # started (so not during start-up, which is not what resume is about);
        # the delays average 0.8 of the reference's working time spread over
        # the N sessions, so the job is still running at the N-th kill.
        mean_delay = max(0.05, 0.8 * reference_s / max(1, args.kills))
        while kills < args.kills and kills + idle_kills < 4 * args.kills:
            epoch_start = os.path.getsize(audit) if os.path.exists(audit) else 0
            p = run_job(args.build, config, out_dir, audit)
            wait_for_work(p, audit, epoch_start)
            delay = rng.uniform(0, 2 * mean_delay)
            try:
                p.wait(timeout=delay)
                # It finished (or failed) before the kill.
                if p.returncode not in (0, 3):
                    print("crash-test: ERROR a resumed run failed (exit %d): %s" %
                          (p.returncode, p.stderr.read().decode()[-2000:]))
                    return 2
                break
            except subprocess.TimeoutExpired:
                p.send_signal(signal.SIGKILL)
                p.wait()
                if epoch_in_flight(audit) > 0:
                    kills += 1
                else:
                    idle_kills += 1
                with open(audit, "a") as f:
                    f.write("kill %d\n" % (kills + idle_kills))
        p = run_job(args.build, config, out_dir, audit)
        out, err = p.communicate()
        if p.returncode not in (0, 3):
            print("crash-test: ERROR the final resume failed (exit %d): %s" % (p.returncode, err.decode()[-2000:]))
            return 2
        crash_stats = sim_stats(port)
        for f in followers:
            f.finish()

        # Compare.
        violations = []
        ref, ref_ids, _ = load_records(os.path.join(work, "reference", "accepted.jsonl"))
        got, got_ids, dupes = load_records(os.path.join(out_dir, "accepted.jsonl"))
        _, rej_ids, rej_dupes = load_records(os.path.join(out_dir, "rejected.jsonl"))
        lost = set(ref) - set(got)
        extra = set(got) - set(ref)
        differing = [k for k in set(ref) & set(got) if ref[k] != got[k]]
        both = set(got_ids) & set(rej_ids)
        if lost: violations.append("lost %d accepted items (e.g. %s)" % (len(lost), sorted(lost)[:3]))
        if extra: violations.append("%d accepted items the reference does not have (e.g. %s)" % (len(extra), sorted(extra)[:3]))
        if dupes or rej_dupes: violations.append("%d accepted and %d rejected records written twice" % (dupes, rej_dupes))
        if differing: violations.append("%d records differ from the reference (e.g. %s)" % (len(differing), differing[:3]))
        if both: violations.append("%d items both accepted and rejected" % len(both))
        for f, final_ids in zip(followers, (got_ids, rej_ids)):
            name = os.path.basename(f.path)
            if f.retracted:
                violations.append("%s shrank under its reader: %d bytes it had read were taken back" % (name, f.retracted))
            if f.ids != final_ids:
                dup = len(f.ids) - len(set(f.ids))
                violations.append("the reader of %s saw %d records (%d twice, %d not in the final file), the file "
                                  "ends with %d" % (name, len(f.ids), dup, len(set(f.ids) - set(final_ids)),
                                                    len(final_ids)))
        for export in ("rl.jsonl", "sft.sharegpt.jsonl", "sft.openai.jsonl"):
            n = sum(1 for _ in open(os.path.join(out_dir, export)))
            if n != len(got_ids):
                violations.append("%s holds %d records, accepted.jsonl %d" % (export, n, len(got_ids)))
        check = subprocess.run([os.path.join(args.build, "veriforge"), "check", out_dir], capture_output=True, text=True)
        if check.returncode != 0:
            violations.append("veriforge check: " + check.stdout.strip().replace("\n", "; "))
        repeated, redone, in_flight = audit_analysis(audit)
        ref_repeated, _, _ = audit_analysis(os.path.join(work, "reference.audit"))
        if repeated["call"] or repeated["run"]:
            violations.append("finished work made again: %d LLM calls, %d code runs" % (repeated["call"], repeated["run"]))
        for kind in ("call", "run"):
            if redone[kind] > in_flight[kind]:
                violations.append("%d %ss redone, more than the %d in flight at the kills" % (redone[kind], kind, in_flight[kind]))
        sim_repeats = crash_stats.get("repeated_ok", 0)
        if sim_repeats > in_flight["call"]:
            violations.append("the simulator answered %d requests twice, more than the %d calls in flight at kills" %
                              (sim_repeats, in_flight["call"]))
        if ref_stats.get("repeated_ok", 0):
            violations.append("the reference run repeated %d calls" % ref_stats["repeated_ok"])

        if kills < args.kills:
            violations.append("only %d of %d kills hit work in flight (%d more found none): the job finished first "
                              "or the kills came too early" % (kills, args.kills, idle_kills))
        if in_flight["call"] == 0 or in_flight["run"] == 0:
            violations.append("no %s was in flight at any kill: resume was not tested for it" %
                              ("LLM call" if in_flight["call"] == 0 else "code run"))
        verdict = "PASS" if not violations else "FAIL"
        print("crash-test: %s kills=%d (idle %d) items=%d accepted=%d (reference %d) lost=%d duplicated=%d differing=%d "
              "both=%d repeated_finished_calls=%d repeated_finished_runs=%d reader_retracted_bytes=%d "
              "redone_calls=%d/%d_in_flight "
              "redone_runs=%d/%d_in_flight sim_requests=%d (reference %d) sim_repeated_ok=%d reference_s=%.1f%s" %
              (verdict, kills, idle_kills, args.items, len(got), len(ref), len(lost), dupes + rej_dupes, len(differing), len(both),
               repeated["call"], repeated["run"], sum(f.retracted for f in followers), redone["call"], in_flight["call"],
               redone["run"], in_flight["run"],
               crash_stats.get("requests", 0), ref_stats.get("requests", 0), sim_repeats, reference_s,
               "" if not violations else " :: " + " | ".join(violations)))
        if not violations and not args.work:
            subprocess.run(["rm", "-rf", work])
        elif violations:
            print("crash-test: runs kept in " + work)
        return 0 if not violations else 1
    finally:
        for s in sims:
            s.kill()
            s.wait()


if __name__ == "__main__":
    sys.exit(main())
