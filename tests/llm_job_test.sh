#!/usr/bin/env bash
# LLM generation end to end: the real veriforge binary runs a few-shot job
# against a real llm-sim process over HTTP (generator -> sandbox -> solver ->
# agreement -> writer), first clean, then with 20% injected faults.
#   tests/llm_job_test.sh BUILD/veriforge BUILD/llm-sim SOURCE_DIR
set -u
VF=$1
SIM=$2
SRC=$(cd "$3" && pwd)
WORK=$(mktemp -d /tmp/veriforge-llm-XXXXXX)
SIM_PID=
trap '[ -n "$SIM_PID" ] && kill -9 $SIM_PID 2>/dev/null; rm -rf "$WORK"' EXIT
pass=0
fail=0
check() {  # check NAME COMMAND...
  local name=$1; shift
  if "$@"; then pass=$((pass + 1)); echo "ok   $name"; else fail=$((fail + 1)); echo "FAIL $name"; fi
}

start_sim() {  # start_sim ARGS...: sets SIM_PID and PORT
  [ -n "$SIM_PID" ] && kill -9 $SIM_PID 2>/dev/null && wait $SIM_PID 2>/dev/null
  "$SIM" --port 0 --seeds "$SRC/configs/seeds" "$@" > "$WORK/sim.out" 2> "$WORK/sim.err" &
  SIM_PID=$!
  for _ in $(seq 1 50); do grep -q listening "$WORK/sim.out" 2>/dev/null && break; sleep 0.1; done
  PORT=$(awk '/listening/ {print $4}' "$WORK/sim.out")
}

write_config() {  # write_config FILE TIMEOUT_S [KIND]
  cat > "$1" <<T
name = "llm"
seeds = ["$SRC/configs/seeds/examples.jsonl"]
target_accepted = 8
random_seed = 11
[generator]
kind = "${3:-few-shot}"
examples = 1
# The simulator writes numeric variants of its seeds, which the default 0.7 would rightly call copies.
similarity_threshold = 0.98
[solver]
samples = 4
[model]
max_attempts = 12
backoff_base_s = 0.05
backoff_max_s = 0.5
[[endpoints]]
role = "both"
name = "sim"
base_url = "http://127.0.0.1:$PORT/v1"
model = "sim"
max_in_flight = 16
timeout_s = $2
T
}

# The records must account for every generated item exactly once.
accounting() {  # accounting OUT_DIR
  /usr/bin/python3 - "$1" <<'P'
import json, sys
out = sys.argv[1]
s = json.load(open(out + "/summary.json"))
acc = [json.loads(l) for l in open(out + "/accepted.jsonl")]
rej = [json.loads(l) for l in open(out + "/rejected.jsonl")]
ids = [r["item_id"] for r in acc + rej]
assert len(ids) == len(set(ids)), "an item was written twice"
assert s["accepted"] == len(acc) and s["rejected"] == len(rej), (s["accepted"], len(acc), s["rejected"], len(rej))
assert s["accepted"] + s["rejected"] + s["surplus"] == s["generated"], s
known = {"unparseable-reply", "model-error", "too-similar", "evolution-failed", "execution-error", "empty-output", "no-majority", "solver-disagrees",
         "nondeterministic", "timeout", "too-easy", "malformed-answer", "answer-too-long"}
for r in rej:
    assert r["reason"] in known and r["detail"], r
for a in acc:
    assert 0 < a["pass_rate"] <= 1 and a["difficulty"] in ("easy", "medium", "hard"), a
    assert len(a["solver_samples"]) == 4 and a["conditioned_on"] and a["license"], a
    assert sum(x["agrees"] for x in a["solver_samples"]) * 2 > len([x for x in a["solver_samples"] if x["answer"]]) - sum(x["agrees"] for x in a["solver_samples"]) - 1
P
}

# --- a clean run ---------------------------------------------------------------
start_sim --seed 5 --latency-ms 20 --solver-accuracy 0.75 --gen-broken 0.15
check "llm-sim starts and prints its port" test -n "$PORT"
write_config "$WORK/llm.toml" 10
"$VF" run "$WORK/llm.toml" --out "$WORK/out1" --no-progress > "$WORK/run1.out" 2> "$WORK/run1.err"
rc=$?
cat "$WORK/run1.out"
check "few-shot job against the simulator finishes (exit 0 or 3)" test $rc -eq 0 -o $rc -eq 3
check "few-shot job accepts items" test "$(wc -l < "$WORK/out1/accepted.jsonl")" -ge 1
check "every generated item is accepted, rejected with a reason, or surplus; none twice" accounting "$WORK/out1"
check "an unparseable reply is rejected with the raw reply kept" /usr/bin/python3 -c "
import json, sys
rs = [json.loads(l) for l in open('$WORK/out1/rejected.jsonl')]
u = [r for r in rs if r['reason'] == 'unparseable-reply']
assert u and all(r.get('generator_reply') for r in u)"
check "SFT (ShareGPT, OpenAI messages) and RL exports hold every accepted item" test "$(wc -l < "$WORK/out1/sft.sharegpt.jsonl")" -eq "$(wc -l < "$WORK/out1/accepted.jsonl")" -a "$(wc -l < "$WORK/out1/sft.openai.jsonl")" -eq "$(wc -l < "$WORK/out1/accepted.jsonl")" -a "$(wc -l < "$WORK/out1/rl.jsonl")" -eq "$(wc -l < "$WORK/out1/accepted.jsonl")"
check "RL records carry prompt, ground truth, pass rate and license" /usr/bin/python3 -c "
import json
for l in open('$WORK/out1/rl.jsonl'):
    r = json.loads(l)
    assert r['prompt'][0]['role'] == 'user' and r['ground_truth'] and 0 < r['pass_rate'] <= 1 and r['license']"
check "rl.curriculum.jsonl holds the RL export ordered easy to hard" /usr/bin/python3 -c "
import json
rl = [json.loads(l) for l in open('$WORK/out1/rl.jsonl')]
cur = [json.loads(l) for l in open('$WORK/out1/rl.curriculum.jsonl')]
assert sorted(r['id'] for r in rl) == sorted(r['id'] for r in cur)
rank = {'easy': 0, 'medium': 1, 'hard': 2, 'unsolved': 3}
ranks = [rank[r['difficulty']] for r in cur]
assert ranks == sorted(ranks), ranks"
stats=$(curl -s "http://127.0.0.1:$PORT/stats")
check "the simulator answered no finished call twice" test "$(echo "$stats" | /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["repeated_ok"])')" -eq 0

# --- 20% injected faults -------------------------------------------------------
start_sim --seed 9 --latency-ms 10 --p429 0.05 --retry-after 0 --p500 0.05 --pdrop 0.03 --ptimeout 0.03 \
  --pmalformed 0.02 --ptruncated 0.02 --solver-accuracy 0.75 --gen-broken 0.15
write_config "$WORK/faults.toml" 3  # long enough that a loaded machine does not time out answered calls
"$VF" run "$WORK/faults.toml" --out "$WORK/out2" --no-progress > "$WORK/run2.out" 2> "$WORK/run2.err"
rc=$?
cat "$WORK/run2.out"
check "with 20% faults the job finishes (exit 0 or 3)" test $rc -eq 0 -o $rc -eq 3
check "with 20% faults every item is accounted for exactly once" accounting "$WORK/out2"
stats=$(curl -s "http://127.0.0.1:$PORT/stats")
echo "simulator: $stats"
check "faults were injected" /usr/bin/python3 -c "
import json; s = json.loads('''$stats'''); o = s['outcomes']
assert o.get('429', 0) + o.get('500', 0) + o.get('drop', 0) + o.get('timeout', 0) > 0"
check "with faults no finished call was repeated" test "$(echo "$stats" | /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["repeated_ok"])')" -eq 0

# --- self-instruct and evol-instruct: pools grow with accepted items -------------
start_sim --seed 13 --latency-ms 5 --solver-accuracy 0.8 --gen-broken 0.1
for kind in self-instruct evol-instruct; do
  write_config "$WORK/$kind.toml" 10 $kind
  "$VF" run "$WORK/$kind.toml" --out "$WORK/out-$kind" --no-progress > "$WORK/$kind.out" 2> "$WORK/$kind.err"
  rc=$?
  cat "$WORK/$kind.out"
  check "$kind job reaches its target (exit 0)" test $rc -eq 0
  check "$kind: every item accounted for exactly once" accounting "$WORK/out-$kind"
done
check "self-instruct records name their generator and the pool entries they were shown" /usr/bin/python3 -c "
import json
rs = [json.loads(l) for l in open('$WORK/out-self-instruct/accepted.jsonl')]
assert rs and all(r['generator'] == 'self-instruct' and r['conditioned_on'] for r in rs)"
check "evol-instruct records name the operation and what they evolved from" /usr/bin/python3 -c "
import json
rs = [json.loads(l) for l in open('$WORK/out-evol-instruct/accepted.jsonl')]
assert rs and all(r.get('evolution') and r.get('evolved_from') for r in rs)"

# --- killed and resumed: LLM generators pick up their progress, pools and logged calls --
start_sim --seed 17 --latency-ms 40 --solver-accuracy 0.8 --gen-broken 0.1
# Waits until the audit's current session (since its last "kill" line) has
# logged a model call and has calls in flight; exit 1 after 60 s without.
in_flight_and_logged() {
  /usr/bin/python3 - "$1" <<'PY'
import sys, time
for _ in range(1200):
    started, logged = set(), set()
    try:
        for line in open(sys.argv[1]):
            p = line.split()
            if p and p[0] == "kill": started, logged = set(), set()
            elif len(p) == 3 and p[1] == "call": (started if p[0] == "start" else logged).add(p[2])
    except FileNotFoundError:
        pass
    if logged and started - logged:
        sys.exit(0)
    time.sleep(0.05)
sys.exit(1)
PY
}
for kind in few-shot self-instruct; do
  write_config "$WORK/kill-$kind.toml" 10 $kind
  for round in 1 2; do
    VERIFORGE_AUDIT_FILE="$WORK/kill-$kind.audit" "$VF" run "$WORK/kill-$kind.toml" --out "$WORK/kill-$kind" --no-progress > /dev/null 2>&1 &
    pid=$!
    # Kill only once calls were logged in this session and others are in flight:
    # the resume must then skip the first and redo only the second.
    in_flight_and_logged "$WORK/kill-$kind.audit"
    landed=$?
    kill -9 $pid 2>/dev/null
    wait $pid 2>/dev/null
    echo "kill" >> "$WORK/kill-$kind.audit"
    check "$kind kill $round landed with model calls logged and others in flight" test $landed -eq 0
  done
  VERIFORGE_AUDIT_FILE="$WORK/kill-$kind.audit" "$VF" run "$WORK/kill-$kind.toml" --out "$WORK/kill-$kind" --no-progress > "$WORK/kill-$kind.out" 2>&1
  rc=$?
  check "$kind job killed twice finishes on the same command" test $rc -eq 0 -o $rc -eq 3
  check "$kind killed twice: every item accounted for exactly once" accounting "$WORK/kill-$kind"
  "$VF" check "$WORK/kill-$kind" > "$WORK/kill-$kind.check"
  check "$kind killed twice: log and outputs agree" test $? -eq 0
  check "$kind killed twice: no model call whose reply was logged was made again" /usr/bin/python3 -c "
import sys
logged, bad = set(), 0
for line in open(sys.argv[1]):
    p = line.split()
    if len(p) == 3 and p[0] == 'start' and (p[1], p[2]) in logged: bad += 1
    if len(p) == 3 and p[0] == 'logged': logged.add((p[1], p[2]))
assert bad == 0, bad" "$WORK/kill-$kind.audit"
done

# --- configuration errors -------------------------------------------------------
printf 'seeds = ["%s/configs/seeds"]\n[generator]\nkind = "few-shot"\n' "$SRC" > "$WORK/noep.toml"
"$VF" run "$WORK/noep.toml" --out "$WORK/out3" --no-progress 2> "$WORK/noep.err"
check "an LLM generator without endpoints is a config error" test $? -eq 1 -a -n "$(grep 'needs an \[\[endpoints\]\] table' "$WORK/noep.err")"
printf 'seeds = ["%s/configs/seeds"]\n[generator]\nkind = "few-shot"\n[[endpoints]]\nbase_url = "http://x/v1"\nmodle = "m"\n' "$SRC" > "$WORK/badep.toml"
"$VF" run "$WORK/badep.toml" --out "$WORK/out4" --no-progress 2> "$WORK/badep.err"
check "a misspelt endpoint field is named with its line" test $? -eq 1 -a -n "$(grep 'badep.toml:6: endpoints\[0\].modle: unknown field' "$WORK/badep.err")"

echo "$pass passed, $fail failed"
[ $fail -eq 0 ]
