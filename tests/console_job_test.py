#!/usr/bin/env python3
"""The console on a real job (`veriforge run --console`), over real HTTP:

  - DIR/console.url is written and the token file is mode 0600;
  - GET /api/v1/job answers with state, generated, accepted, rejected, target;
  - a pause without the token is refused (401) and changes nothing;
  - `veriforge ctl` without the token or with a wrong one is refused;
  - a pause with the token (`veriforge ctl --dir DIR pause`) stops new items: `generated` stays flat for 3 s;
  - stop-now ends the process resumable (exit 130);
  - the same command restarts the job still paused (the pause is in the log);
  - resume lets it issue again; set refuses unknown keys and a lower target
    (400, naming them) and a raise without the token (401), raises the
    target and caps the executor; drain exits resumable with nothing in
    flight, and the raise and the cap hold after the restart; paused and stopped once more, restarted
    without a console (nothing could resume it) it runs, says so, and
    finishes its target with no record written twice;
  - /metrics taken mid-job passes `promtool check metrics` and its counters
    agree with the API.

  tests/console_job_test.py VERIFORGE SOURCE_DIR
"""
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request


def call(url, method="GET", token=None, body=None):
    data = json.dumps(body).encode() if body is not None else (b"" if method == "POST" else None)
    req = urllib.request.Request(url, method=method, data=data)
    if token:
        req.add_header("Authorization", "Bearer " + token)
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, json.loads(r.read() or b"{}")
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"{}")


def wait_for(path, timeout=60):
    end = time.time() + timeout
    while time.time() < end:
        if os.path.exists(path) and open(path).read().strip():
            return open(path).read().strip()
        time.sleep(0.1)
    raise SystemExit("FAIL: %s did not appear" % path)


def main():
    exe, src = sys.argv[1], sys.argv[2]
    work = tempfile.mkdtemp(prefix="veriforge-console-")
    out = os.path.join(work, "job")
    env = dict(os.environ)
    env.pop("VERIFORGE_CONSOLE_TOKEN", None)
    cmd = [exe, "run", os.path.join(src, "configs/local.toml"), "--out", out, "--console", "127.0.0.1:0",
           "--set", "target_accepted=100", "--no-progress"]
    proc = subprocess.Popen(cmd, env=env, stderr=subprocess.PIPE, text=True)
    url = wait_for(os.path.join(out, "console.url"))
    token_path = os.path.join(out, "console.token")
    token = wait_for(token_path)
    assert oct(os.stat(token_path).st_mode & 0o777) == "0o600", "console.token is not 0600"

    status, job = call(url + "api/v1/job")
    assert status == 200, status
    for key in ("state", "generated", "accepted", "rejected", "target"):
        assert key in job, "GET /api/v1/job lacks %s: %s" % (key, job)
    assert job["target"] == 100, job

    with urllib.request.urlopen(url + "metrics", timeout=10) as r:
        scrape = r.read().decode()
    api = call(url + "api/v1/job")[1]
    for name in ("veriforge_items_generated_total", "veriforge_items_accepted_total",
                 "veriforge_stage_items_held", "veriforge_job_paused"):
        assert name in scrape, "/metrics lacks %s" % name
    counted = [float(l.split()[-1]) for l in scrape.splitlines() if l.startswith("veriforge_items_accepted_total ")]
    assert counted and counted[0] <= api["accepted"], (counted, api["accepted"])
    promtool = shutil.which("promtool")
    if promtool:
        check = subprocess.run([promtool, "check", "metrics"], input=scrape, capture_output=True, text=True)
        assert check.returncode == 0, "promtool check metrics: %s%s" % (check.stdout, check.stderr)
        print("metrics: promtool check metrics passes (%d lines)" % len(scrape.splitlines()))
    else:
        print("metrics: promtool not installed (Debian's prometheus package): format not checked")

    status, _ = call(url + "api/v1/job/pause", "POST")
    assert status == 401, "a pause without the token answered %d" % status
    assert call(url + "api/v1/job")[1]["state"] == "running"

    # The command-line client: refused without the token, obeyed with the job folder's.
    no_token = dict(env)
    ctl = subprocess.run([exe, "ctl", "--console", url, "pause"], env=no_token, capture_output=True, text=True)
    assert ctl.returncode == 2 and "token" in ctl.stderr, (ctl.returncode, ctl.stderr)
    ctl = subprocess.run([exe, "ctl", "--console", url, "--token", "wrong", "pause"], env=no_token,
                         capture_output=True, text=True)
    assert ctl.returncode == 1 and "wrong token" in ctl.stderr, (ctl.returncode, ctl.stderr)
    assert call(url + "api/v1/job")[1]["state"] == "running"
    ctl = subprocess.run([exe, "ctl", "--dir", out, "pause"], env=no_token, capture_output=True, text=True)
    assert ctl.returncode == 0, ctl.stderr
    body = json.loads(ctl.stdout)
    assert body["state"] == "paused", body
    time.sleep(1.0)  # what was being made when the pause came is issued
    before = call(url + "api/v1/job")[1]["generated"]
    time.sleep(3.0)
    after = call(url + "api/v1/job")[1]
    assert after["generated"] == before, "generated moved while paused: %d -> %d" % (before, after["generated"])
    assert after["state"] == "paused", after
    print("paused: generated flat at %d for 3 s" % before)

    status, _ = call(url + "api/v1/job/stop-now", "POST", token)
    assert status == 200
    code = proc.wait(timeout=60)
    assert code == 130, "stop-now exit %d (want 130, resumable): %s" % (code, proc.stderr.read()[-800:])

    os.remove(os.path.join(out, "console.url"))
    proc = subprocess.Popen(cmd, env=env, stderr=subprocess.PIPE, text=True)
    url = wait_for(os.path.join(out, "console.url"))
    time.sleep(2.0)
    job = call(url + "api/v1/job")[1]
    assert job["state"] == "paused", "the restarted job is not paused: %s" % job
    held_at = job["generated"]
    status, _ = call(url + "api/v1/job/resume", "POST", token)
    assert status == 200
    end = time.time() + 60
    while call(url + "api/v1/job")[1]["generated"] == held_at:
        assert time.time() < end, "generated did not move after resume"
        time.sleep(0.2)
    print("resumed: generated moved past %d" % held_at)

    # Limits while running: bad keys and values are refused naming them; the
    # target can only be raised; a raise holds across restarts.
    status, body = call(url + "api/v1/job/set", "POST", token, {"key": "generator.kind", "value": 1})
    assert status == 400 and "generator.kind" in body["error"], (status, body)
    status, body = call(url + "api/v1/job/set", "POST", token, {"key": "endpoints.nosuch.max_in_flight", "value": 4})
    assert status == 400 and "nosuch" in body["error"], (status, body)
    status, body = call(url + "api/v1/job/set", "POST", token, {"key": "target_accepted", "value": 50})
    assert status == 400 and "raised" in body["error"], (status, body)
    status, body = call(url + "api/v1/job/set", "POST", None, {"key": "target_accepted", "value": 120})
    assert status == 401, status
    status, body = call(url + "api/v1/job/set", "POST", token, {"key": "target_accepted", "value": 120})
    assert status == 200 and body["value"] == 120, (status, body)
    assert call(url + "api/v1/job")[1]["target"] == 120
    status, body = call(url + "api/v1/job/set", "POST", token, {"key": "executor.concurrency", "value": 1})
    assert status == 200, (status, body)
    assert call(url + "api/v1/sandbox")[1]["concurrency"] == 1
    print("set: refusals name the key or value; target raised to 120; executor concurrency 1")

    # Drain: no new items, the job exits resumable once nothing is in flight.
    status, body = call(url + "api/v1/job/drain", "POST", token)
    assert status == 200 and body["state"] == "draining", (status, body)
    code = proc.wait(timeout=120)
    assert code == 130, "drain exit %d (want 130, resumable): %s" % (code, proc.stderr.read()[-800:])
    status_out = subprocess.run([exe, "status", out, "--json"], capture_output=True, text=True)
    in_flight = json.loads(status_out.stdout)["in_flight"]
    assert in_flight == 0, "drained, yet %d items in flight in the log" % in_flight
    print("drained: exit 130 with nothing in flight")
    os.remove(os.path.join(out, "console.url"))
    proc = subprocess.Popen(cmd, env=env, stderr=subprocess.PIPE, text=True)
    url = wait_for(os.path.join(out, "console.url"))
    time.sleep(1.0)
    job = call(url + "api/v1/job")[1]
    assert job["target"] == 120, "the raised target did not survive the restart: %s" % job
    assert call(url + "api/v1/sandbox")[1]["concurrency"] == 1, "the executor cap did not survive the restart"

    # Paused again and stopped; restarted without a console nothing could
    # resume it, so it runs (and says so) and finishes.
    assert call(url + "api/v1/job/pause", "POST", token)[0] == 200
    assert call(url + "api/v1/job/stop-now", "POST", token)[0] == 200
    assert proc.wait(timeout=60) == 130
    plain = [c for c in cmd if c not in ("--console", "127.0.0.1:0")]
    done = subprocess.run(plain, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, "the job restarted without a console exit %d: %s" % (done.returncode, done.stderr[-800:])
    assert "restarted without --console" in done.stderr, done.stderr[-800:]

    ids = [json.loads(line)["id"] for line in open(os.path.join(out, "accepted.jsonl"))]
    assert len(ids) == 120, "accepted %d, want 120 (the raised target)" % len(ids)
    assert len(set(ids)) == len(ids), "a record written twice"
    print("console_job: PASS (paused, refused without the token, stopped, restarted paused, resumed, "
          "target raised, drained, restarted without a console, 120 accepted once)")


if __name__ == "__main__":
    main()
