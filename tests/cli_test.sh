#!/usr/bin/env bash
# End-to-end checks of the veriforge binary as a user runs it: real files,
# real subprocesses, exit codes and messages.
#   tests/cli_test.sh BUILD/veriforge SOURCE_DIR
set -u
VF=$1
SRC=$2
WORK=$(mktemp -d /tmp/veriforge-cli-XXXXXX)
trap 'rm -rf "$WORK"' EXIT
pass=0
fail=0
check() {  # check NAME COMMAND...
  local name=$1; shift
  if "$@"; then pass=$((pass + 1)); echo "ok   $name"; else fail=$((fail + 1)); echo "FAIL $name"; fi
}
contains() { grep -qF -- "$2" "$1"; }

# --- broken seeds: clear errors naming the place, non-zero exit, no output ---
printf '[\n{"question": "What is 3 + 4?", "final_answer": "7",\n "rationale": "print(3 + 4)", "metadata": {"license": "CC0", "domain"' > "$WORK/truncated.json"
printf 'name = "broken"\nseeds = ["truncated.json"]\n' > "$WORK/truncated.toml"
"$VF" run "$WORK/truncated.toml" --out "$WORK/out-truncated" --no-progress 2> "$WORK/err1"
rc=$?
check "truncated seed file exits 1" test $rc -eq 1
check "truncated seed file error names the file and line" contains "$WORK/err1" "truncated.json: line 3: invalid JSON"
check "truncated seed file writes no output" test ! -e "$WORK/out-truncated"

cat > "$WORK/fields.jsonl" <<'J'
{"question": "What is 3 + 4?", "final_answer": "7", "rationale": "print(3 + 4)", "metadata": {"license": "CC0", "domain": "Arithmetic"}}
{"question": "What is 5 + 6?", "rationale": "print(5 + 6)", "metadata": {"license": "CC0", "domain": "Arithmetic"}}
{"question": "What is 7 + 8?", "final_answer": 15, "rationale": "print(7 + 8)", "metadata": {"license": "CC0", "domain": "Arithmetic"}}
{"question": "What is 9 + 10?", "final_answer": "19", "rationale": "print(9 + 10)", "metadata": {"domain": "Arithmetic", "contributor": 5}}
J
printf 'seeds = ["fields.jsonl"]\n' > "$WORK/fields.toml"
"$VF" run "$WORK/fields.toml" --out "$WORK/out-fields" --no-progress 2> "$WORK/err2"
rc=$?
check "invalid seed items exit 1" test $rc -eq 1
check "missing field named with item and line" contains "$WORK/err2" "fields.jsonl: item 1 (line 2), field 'final_answer': missing"
check "wrong type named" contains "$WORK/err2" "item 2 (line 3), field 'final_answer': is a integer, expected a string"
check "missing license named" contains "$WORK/err2" "item 3 (line 4), field 'metadata.license': missing"
check "wrong metadata type named" contains "$WORK/err2" "field 'metadata.contributor': is a integer"
check "invalid seed items write no output" test ! -e "$WORK/out-fields"

# --- config errors -----------------------------------------------------------
printf 'seeds = ["fields.jsonl"]\ntarget_acepted = 5\n' > "$WORK/typo.toml"
"$VF" run "$WORK/typo.toml" --out "$WORK/out-typo" 2> "$WORK/err3"
check "config typo exits 1" test $? -eq 1
check "config typo names key and suggestion" contains "$WORK/err3" "unknown key 'target_acepted' (did you mean 'target_accepted'?)"
"$VF" run "$SRC/configs/local.toml" --out "$WORK/out-bad" --set executor.timeout_s=fast 2> "$WORK/err4"
check "bad --set value exits 1" test $? -eq 1
check "bad --set value is explained" contains "$WORK/err4" "executor.timeout_s=fast: expected number, got string"
"$VF" run --help > "$WORK/help" 2>&1
check "--help documents config keys" contains "$WORK/help" "pipeline.writer_credits"

# --- the embedded default job, smaller ---------------------------------------
"$VF" run "$SRC/configs/local.toml" --out "$WORK/job" --set target_accepted=40 --no-progress > "$WORK/run.out" 2> "$WORK/run.err"
rc=$?
check "run exits 0" test $rc -eq 0
[ $rc -eq 0 ] || cat "$WORK/run.err"
check "run prints a summary" contains "$WORK/run.out" "40 accepted"
check "run writes the job database" test -d "$WORK/job/db"
check "a fresh job logs no error-level line" bash -c "! grep -E '^[0-9-]+T[0-9:.]+ (error|critical) ' '$WORK/job/veriforge.log'"
check "a fresh job prints no RocksDB complaint" bash -c "! grep -F 'event=rocksdb' '$WORK/run.err'"
check "run writes a log" contains "$WORK/job/veriforge.log" "event=job-start"
/usr/bin/python3 - "$WORK/job" <<'PY' > "$WORK/verify.out" 2>&1
import json, subprocess, sys
d = sys.argv[1]
acc = [json.loads(l) for l in open(d + "/accepted.jsonl")]
rej = [json.loads(l) for l in open(d + "/rejected.jsonl")]
summary = json.load(open(d + "/summary.json"))
assert len(acc) == 40, len(acc)
assert len({a["question"] for a in acc}) == 40, "duplicate questions"
assert len({a["item_id"] for a in acc}) == 40, "duplicate ids"
assert not ({a["item_id"] for a in acc} & {r["item_id"] for r in rej}), "an item both accepted and rejected"
for a in acc:
    for key in ("question", "rationale", "answer", "domain", "license", "seed", "messages"):
        assert key in a, key
    assert a["messages"][0]["role"] == "user" and a["messages"][0]["content"] == a["question"]
    assert a["answer"] in a["messages"][1]["content"]
    assert a["answer"] != a["seed_answer"]
# A reader can check every answer by running its rationale.
for a in acc:
    out = subprocess.run(["/usr/bin/python3", "-c", a["rationale"]], capture_output=True, text=True, timeout=60).stdout.strip()
    assert out == a["answer"], (a["id"], out, a["answer"])
for r in rej:
    assert r["reason"] and r["detail"]
assert summary["accepted"] == 40 and summary["target_met"]
assert sum(v["accepted"] for v in summary["domains"].values()) == 40
print("verified", len(acc), "accepted,", len(rej), "rejected")
PY
rc=$?
cat "$WORK/verify.out"
check "accepted records are complete, unique and reproducible" test $rc -eq 0

# --- resuming, status, check (issue 6) ----------------------------------------
md5sum "$WORK"/job/*.jsonl > "$WORK/job.md5"
"$VF" run "$SRC/configs/local.toml" --out "$WORK/job" --set target_accepted=40 --no-progress > "$WORK/again.out" 2>&1
check "rerunning a finished job exits 0" test $? -eq 0
check "rerunning a finished job says so" contains "$WORK/again.out" "already finished"
check "rerunning a finished job leaves its outputs byte-identical" md5sum --quiet -c "$WORK/job.md5"
"$VF" run "$SRC/configs/local.toml" --out "$WORK/job" --no-progress 2> "$WORK/err5"
check "a changed config is refused" test $? -eq 1
check "the refusal names the changed key and values" contains "$WORK/err5" "target_accepted: '40' -> '250'"
check "the refusal offers --force" contains "$WORK/err5" "--force"
"$VF" status "$WORK/job" > "$WORK/status.out"
check "status exits 0" test $? -eq 0
check "status shows accepted of target" contains "$WORK/status.out" "accepted    40 of target 40"
"$VF" status "$WORK/job" --json > "$WORK/status.json"
check "status --json counts" /usr/bin/python3 -c "import json,sys; s=json.load(open(sys.argv[1])); assert s['accepted']==40 and s['state']=='finished' and s['in_flight']==0, s" "$WORK/status.json"
"$VF" check "$WORK/job" > "$WORK/check.out"
check "check finds log and outputs consistent" test $? -eq 0
check "check says so" contains "$WORK/check.out" "consistent: log and outputs agree"
# Tampering with an output is caught: a record written twice.
cp -r "$WORK/job" "$WORK/tampered"
tail -n 1 "$WORK/tampered/accepted.jsonl" >> "$WORK/tampered/accepted.jsonl"
head -c -1 "$WORK/tampered/rejected.jsonl" > "$WORK/tampered/r" && mv "$WORK/tampered/r" "$WORK/tampered/rejected.jsonl"
"$VF" check "$WORK/tampered" > "$WORK/check2.out"
check "check flags an inconsistent job (exit 2)" test $? -eq 2
check "check names the missing committed bytes" contains "$WORK/check2.out" "rejected.jsonl"
check "check notes the uncommitted tail" contains "$WORK/check2.out" "past the committed length"
mkdir -p "$WORK/nolog" && echo '{}' > "$WORK/nolog/accepted.jsonl"
"$VF" run "$SRC/configs/local.toml" --out "$WORK/nolog" --no-progress 2> "$WORK/err6"
check "outputs without a log are refused" test $? -eq 1
check "that refusal explains why" contains "$WORK/err6" "no checkpoint log"
"$VF" status "$WORK/nothing-here" 2> "$WORK/err7"
check "status of a folder without a job exits 1" test $? -eq 1

# kill -9 at random moments, then the same command: the job's accepted records equal the uninterrupted run's.
same_accepted() {  # same_accepted DIR_A DIR_B: ids and records equal (measured wall_ms aside), none twice
  /usr/bin/python3 - "$1" "$2" <<'PY'
import json, sys
def load(d):
    out = {}
    for line in open(d + "/accepted.jsonl"):
        r = json.loads(line)
        for e in r.get("executions", []): e.pop("wall_ms", None)
        r.pop("wall_ms", None)
        assert r["item_id"] not in out, "written twice: %s" % r["item_id"]
        out[r["item_id"]] = r
    return out
a, b = load(sys.argv[1]), load(sys.argv[2])
assert a == b, "accepted sets differ: %d vs %d records" % (len(a), len(b))
PY
}
for delay in 0.7 1.1 0.4; do
  # writer.delay_ms slows the job so the kills land mid-run; it does not change results.
  "$VF" run "$SRC/configs/local.toml" --out "$WORK/killed" --set target_accepted=40 --set writer.delay_ms=20 --no-progress > /dev/null 2>&1 &
  pid=$!
  sleep $delay
  [ -e "$WORK/live.status" ] || "$VF" status "$WORK/killed" > "$WORK/live.status" 2>&1
  kill -9 $pid 2>/dev/null
  wait $pid 2>/dev/null
done
check "status reads the log while the job runs" contains "$WORK/live.status" "unfinished"
"$VF" status "$WORK/killed" > "$WORK/killed.status" 2>&1
check "status reads a killed job's log" contains "$WORK/killed.status" "unfinished"
"$VF" resume "$WORK/killed" --no-progress > "$WORK/resume.out" 2> "$WORK/resume.err"
check "veriforge resume DIR finishes a killed job" test $? -eq 0
check "resume reruns the job's own command" contains "$WORK/resume.out" "resuming: veriforge run"
check "after three kills the accepted records equal the uninterrupted run's" same_accepted "$WORK/job" "$WORK/killed"
"$VF" check "$WORK/killed" > /dev/null
check "a killed and resumed job is consistent" test $? -eq 0

# Determinism: parallelism, batching and credits do not change the accepted set.
"$VF" run "$SRC/configs/local.toml" --out "$WORK/serial" --set target_accepted=40 --set executor.workers=1 \
  --set pipeline.batch_size=3 --set pipeline.executor_credits=4 --set pipeline.writer_credits=5 --no-progress > /dev/null 2>&1
check "one worker, small batches and credits: the same accepted records" same_accepted "$WORK/job" "$WORK/serial"

# A write that fails mid-job (file-size limit: what a full disk looks like to a process): a clear error, exit 2;
# the same command, once space is back, resumes and loses nothing.
( ulimit -S -f 40; "$VF" run "$SRC/configs/local.toml" --out "$WORK/full" --set target_accepted=40 --no-progress > /dev/null 2> "$WORK/full.err" )
check "a failing write stops the job with exit 2" test $? -eq 2
check "the error names the job store and the cause" contains "$WORK/full.err" "File too large"
check "the error says the same command resumes" contains "$WORK/full.err" "resumes the job"
"$VF" check "$WORK/full" > /dev/null
check "nothing half-written after the failed write" test $? -eq 0
"$VF" run "$SRC/configs/local.toml" --out "$WORK/full" --set target_accepted=40 --no-progress > /dev/null 2>&1
check "the job resumes once writes succeed" test $? -eq 0
check "and its accepted records equal the uninterrupted run's" same_accepted "$WORK/job" "$WORK/full"

# A damaged log: a clear error naming it, outputs untouched.
cp -r "$WORK/killed" "$WORK/damaged"
for m in "$WORK"/damaged/db/MANIFEST-*; do head -c 40 "$m" > "$m.cut" && mv "$m.cut" "$m"; done
md5sum "$WORK"/damaged/*.jsonl > "$WORK/damaged.md5"
"$VF" run "$SRC/configs/local.toml" --out "$WORK/damaged" --set target_accepted=40 --no-progress 2> "$WORK/damaged.err"
check "a damaged log stops the run with exit 2" test $? -eq 2
check "the error names the log and says it is damaged" contains "$WORK/damaged.err" "damaged"
check "a damaged log leaves the outputs untouched" md5sum --quiet -c "$WORK/damaged.md5"
"$VF" check "$WORK/damaged" > /dev/null 2>&1
check "check reports the damaged log (exit 2)" test $? -eq 2
"$VF" run "$SRC/configs/local.toml" --out /proc/veriforge-out --no-progress 2> "$WORK/err8"
check "an unwritable output folder exits 2" test $? -eq 2
check "and names it" contains "$WORK/err8" "/proc/veriforge-out"

# --- verify-seeds on the bundled examples ------------------------------------
"$VF" verify-seeds "$SRC/configs/seeds" --out "$WORK/seeds.jsonl" --no-progress > "$WORK/vs.out" 2> "$WORK/vs.err"
check "verify-seeds exits 0" test $? -eq 0
cat "$WORK/vs.out"
n=$(wc -l < "$WORK/seeds.jsonl")
check "verify-seeds writes one line per seed" test "$n" -eq "$(wc -l < "$SRC/configs/seeds/examples.jsonl")"
# Every domain row's last column (match % of the executed seeds) is 100.0%, and every seed executed.
check "verify-seeds: every example seed matches" /usr/bin/python3 -c "
import sys
rows = [l.split() for l in open(sys.argv[1]) if l.strip() and not l.startswith(('domain', 'statuses', 'missing', 'results:', 'mismatches:')) and ' items in ' not in l]
assert rows, 'no domain rows'
for r in rows:
    assert r[-1] == '100.0%' and r[-3] == '100.0%' and r[-4] == r[-5] == r[-2], r
" "$WORK/vs.out"
printf '{"question": "q", "final_answer": "1", "rationale": "import constraint_missing_mod\\nprint(1)", "metadata": {"license": "x", "domain": "Logic"}}\n{"question": "q2", "final_answer": "2", "rationale": "print(3)", "metadata": {"license": "x", "domain": "Logic"}}\n' > "$WORK/dep.jsonl"
"$VF" verify-seeds "$WORK/dep.jsonl" --out "$WORK/dep.out.jsonl" --no-progress > "$WORK/dep.out" 2>&1
check "verify-seeds names missing modules" contains "$WORK/dep.out" "missing modules: constraint_missing_mod (1 items)"
check "verify-seeds records the mismatch" contains "$WORK/dep.out.jsonl" '"match":false'

# --- verify-seeds on seed files of the sciences, as public ones are written ----
# Physics golds with units and 1-3 significant figures, outputs in other units
# (sympy's printed units, symbolic factors); finance with QuantLib, pandas,
# statsmodels, PuLP, float prints and metadata.answer_tolerance; metadata of
# other types (lists, numbers, nulls) and one exact duplicate. No options.
"$VF" verify-seeds "$SRC/tests/data/seeds" --out "$WORK/sci.jsonl" --no-progress > "$WORK/sci.out" 2> "$WORK/sci.err"
check "verify-seeds: science seed files load and run (exit 0)" test $? -eq 0
cat "$WORK/sci.out"
check "verify-seeds: extra metadata types are a warning, not an error" contains "$WORK/sci.err" "field 'metadata.contributor': is a array, expected a string or a list of strings; loaded as is"
check "verify-seeds: the duplicate is dropped naming both places" contains "$WORK/sci.err" "physics_units.json: item 24: duplicate of $SRC/tests/data/seeds/physics_units.json item 3"
check "verify-seeds: the duplicate count is reported" contains "$WORK/sci.err" "1 exact duplicate item(s) dropped"
check "verify-seeds: every physics and finance seed executes and matches" /usr/bin/python3 -c "
import sys
rows = [l.split() for l in open(sys.argv[1]) if l.startswith(('Physics', 'Finance'))]
assert len(rows) == 2, rows
for r in rows:
    assert r[-1] == '100.0%' and r[-3] == '100.0%' and r[-4] == r[-5] == r[-2], r
" "$WORK/sci.out"
check "verify-seeds: the seed's answer_tolerance decided a match" contains "$WORK/sci.jsonl" "within the seed's answer_tolerance"
check "verify-seeds: a value in other units is judged as a quantity" contains "$WORK/sci.jsonl" 'gold 1.5 [h] | output 5400 [s]'

# --- verify-seeds judges by equivalence and lists mismatches -------------------
cat > "$WORK/notation.jsonl" <<'J'
{"question": "Half of one?", "final_answer": "\\frac{1}{2}", "rationale": "print(0.5)", "metadata": {"license": "CC0", "domain": "Algebra"}}
{"question": "Golden ratio?", "final_answer": "\\frac{1 + \\sqrt{5}}{2}", "rationale": "import sympy\nprint(sympy.Rational(1,2) + sympy.sqrt(5)/2)", "metadata": {"license": "CC0", "domain": "Algebra"}}
{"question": "Open interval?", "final_answer": "(-4,4)", "rationale": "import sympy\nprint(sympy.Interval.open(-4, 4))", "metadata": {"license": "CC0", "domain": "Algebra"}}
{"question": "Wrong seed?", "final_answer": "7", "rationale": "print(8)", "metadata": {"license": "CC0", "domain": "Algebra"}}
J
"$VF" verify-seeds "$WORK/notation.jsonl" --out "$WORK/notation.out.jsonl" --mismatches "$WORK/notation.mism.jsonl" --no-progress > "$WORK/notation.out" 2>&1
check "verify-seeds: notations of one value match (3 of 4)" contains "$WORK/notation.out" "3    75.0%"
check "verify-seeds: the mismatches file holds exactly the mismatch" test "$(wc -l < "$WORK/notation.mism.jsonl")" -eq 1
check "verify-seeds: the mismatch says why" contains "$WORK/notation.mism.jsonl" 'different exact values: 7 vs 8'
check "verify-seeds: matches carry the equivalence reason" contains "$WORK/notation.out.jsonl" 'same set of reals'

# --- veriforge equiv --------------------------------------------------------
"$VF" equiv --gold '\frac{1 + \sqrt{5}}{2}' --pred '1/2 + sqrt(5)/2' > "$WORK/eq1.out"
check "equiv: equivalent pair exits 0" test $? -eq 0
check "equiv: prints the verdict and forms" contains "$WORK/eq1.out" "equivalent: "
"$VF" equiv --gold '\pi' --pred '3.14' > "$WORK/eq2.out"
check "equiv: different pair exits 3" test $? -eq 3
check "equiv: says why" contains "$WORK/eq2.out" "not-equivalent: different values"
"$VF" equiv --gold 12 --pred 'We get 3 groups of 4, so 13 remain, clearly.' --json > "$WORK/eq3.out"
check "equiv: prose without a marker is no-answer" contains "$WORK/eq3.out" '"outcome":"no-answer"'
"$VF" equiv --cases "$SRC/../shared/equivalence/cases.jsonl" --out "$WORK/cases.out.jsonl" 2> "$WORK/cases.err"
check "equiv --cases: all shared cases agree (exit 0)" test $? -eq 0
check "equiv --cases: one line per record plus a summary" test "$(wc -l < "$WORK/cases.out.jsonl")" -eq $(( $(wc -l < "$SRC/../shared/equivalence/cases.jsonl") + 1 ))
check "equiv --cases: summary reports agreement" contains "$WORK/cases.out.jsonl" '"disagree":0'
"$VF" equiv --cases "$SRC/tests/data/equiv_unseen.jsonl" --out "$WORK/unseen.out.jsonl" 2> "$WORK/unseen.err"
check "equiv --cases: units, mixed numbers, false-accept traps, everyday notations all agree" test $? -eq 0
printf '{"id": "a", "gold": "1", "pred": "1", "expected": false}\n{"id": "b", "gold": "1"}\nnot json\n' > "$WORK/badcases.jsonl"
"$VF" equiv --cases "$WORK/badcases.jsonl" > "$WORK/badcases.out" 2> "$WORK/badcases.err"
check "equiv --cases: invalid records exit 1" test $? -eq 1
check "equiv --cases: missing field named with file:line" contains "$WORK/badcases.err" "badcases.jsonl:2: a record needs string fields 'gold' and 'pred'"
check "equiv --cases: invalid JSON named with file:line" contains "$WORK/badcases.err" "badcases.jsonl:3: invalid JSON"
check "equiv --cases: valid records still judged" contains "$WORK/badcases.out" '"agree":false'
"$VF" equiv --gold 51 --pred 51.3 --policy 'integer_gold=significant-figures' > /dev/null
check "equiv --policy changes the tolerance" test $? -eq 0
"$VF" equiv --gold 51 --pred 51.3 --policy 'integer_gold=roughly' 2> "$WORK/pol.err"
check "equiv: a bad policy exits 1 naming the key" test $? -eq 1 -a -n "$(grep integer_gold "$WORK/pol.err")"
printf '[equivalence]\ndomains = ["Physics: integer_gold=significant-figures"]\n' > "$WORK/eq.toml"
"$VF" equiv --config "$WORK/eq.toml" --domain physics --gold '51 atm' --pred '51.3 atm' > /dev/null
check "equiv --config: per-domain policy applies" test $? -eq 0
printf '[equivalence]\ndomains = ["Physics integer_gold=significant-figures"]\n' > "$WORK/badeq.toml"
"$VF" equiv --config "$WORK/badeq.toml" --gold 1 --pred 1 2> "$WORK/badeq.err"
check "equiv: a bad domain rule is a config error naming the key" contains "$WORK/badeq.err" "equivalence.domains"

# --- a seed set too small for the target ends with exit 3, outputs intact ----
printf '{"question": "What is 3 + 4?", "final_answer": "7", "rationale": "print(3 + 4)", "metadata": {"license": "CC0", "domain": "Arithmetic"}}\n' > "$WORK/small.jsonl"
printf 'seeds = ["small.jsonl"]\ntarget_accepted = 500\n[executor]\nruns = 1\n' > "$WORK/small.toml"
"$VF" run "$WORK/small.toml" --out "$WORK/small" --no-progress > /dev/null 2> "$WORK/small.err"
check "an exhausted generator exits 3" test $? -eq 3
check "exhaustion is explained" contains "$WORK/small.err" "ended (exhausted) before reaching target_accepted = 500"
check "exhausted job still writes its summary" contains "$WORK/small/summary.json" '"end_reason": "exhausted"'

# --- SIGINT stops the job cleanly: every written line is whole ---------------
"$VF" run "$SRC/configs/local.toml" --out "$WORK/intr" --set writer.delay_ms=100 --no-progress > /dev/null 2> "$WORK/intr.err" &
pid=$!
# Interrupt once some records are out (at most 60 s), mid-job.
for i in $(seq 600); do
  [ -s "$WORK/intr/accepted.jsonl" ] && break
  sleep 0.1
done
kill -INT $pid
wait $pid
check "SIGINT exits 130" test $? -eq 130
check "SIGINT is reported" contains "$WORK/intr.err" "interrupted; the records written so far are in"
/usr/bin/python3 -c "
import json, sys
n = 0
for line in open(sys.argv[1]):
    json.loads(line); n += 1
assert n > 0
" "$WORK/intr/accepted.jsonl"
check "records written before SIGINT are whole JSON lines" test $? -eq 0

echo "$pass passed, $fail failed"
[ $fail -eq 0 ]
