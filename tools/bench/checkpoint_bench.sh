#!/usr/bin/env bash
# Checkpoint-log benchmark.
#  1. Pipeline throughput with the checkpoint log on (each sync policy) against
#     the same job with it off (checkpoint.log = false), measured in the same
#     run, alternating, ROUNDS times each: the offline job (configs/local.toml)
#     and an LLM job (variant generator + LLM solver served by llm-sim).
#  2. build/checkpoint_bench: resume time and peak RSS from a log of 1,000,000
#     items against 1,000, and the log's size on disk per item.
#   tools/bench/checkpoint_bench.sh [ROUNDS [PARTS]]   (about 10 minutes with 3 rounds)
#   PARTS: any of "local llm resume" (default: all three)
set -euo pipefail
cd "$(dirname "$0")/../.."
ROUNDS=${1:-3}
PARTS=${2:-local llm resume}
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo > /dev/null
cmake --build build --target veriforge llm-sim checkpoint_bench > /dev/null
WORK=$(mktemp -d /tmp/veriforge-ckbench-XXXXXX)
SIM_PID=
trap '[ -n "$SIM_PID" ] && kill $SIM_PID 2>/dev/null; rm -rf "$WORK"' EXIT

build/llm-sim --port 0 --seeds configs/seeds --latency-ms 50 --latency-jitter-ms 20 --solver-accuracy 0.8 \
  --solve-variants > "$WORK/sim.out" 2> "$WORK/sim.err" &
SIM_PID=$!
for _ in $(seq 1 100); do grep -q listening "$WORK/sim.out" 2>/dev/null && break; sleep 0.1; done
PORT=$(awk '/listening/ {print $4}' "$WORK/sim.out")
cat > "$WORK/llm.toml" <<T
name = "llm-bench"
seeds = ["$PWD/configs/seeds/examples.jsonl"]
target_accepted = 600
max_generated = 800
random_seed = 5
[generator]
kind = "variant"
[solver]
enabled = true
samples = 4
[pipeline]
llm_credits = 128
[[endpoints]]
role = "solver"
name = "sim"
base_url = "http://127.0.0.1:$PORT/v1"
model = "sim"
max_in_flight = 64
T

rate() {  # rate NAME CONFIG SETTINGS...: one run, prints accepted/s
  local name=$1 config=$2; shift 2
  local out="$WORK/$name"
  rm -rf "$out"
  local args=()
  for s in "$@"; do args+=(--set "$s"); done
  build/veriforge run "$config" --out "$out" --no-progress "${args[@]}" > /dev/null 2>&1 || true
  /usr/bin/python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['accepted_per_s'])" "$out/summary.json"
}

for job in local llm; do
  case " $PARTS " in *" $job "*) ;; *) continue ;; esac
  if [ $job = local ]; then config=configs/local.toml; base=(target_accepted=600); else config=$WORK/llm.toml; base=(); fi
  declare -A runs=()
  # Warm-up (discarded): the simulator caches the answers it computes, the OS the seeds and Python.
  rate "$job-warmup" "$config" "${base[@]}" > /dev/null
  for r in $(seq 1 "$ROUNDS"); do
    for mode in off batch interval none; do
      if [ $mode = off ]; then set_mode=(checkpoint.log=false); else set_mode=(checkpoint.log=true checkpoint.sync=$mode); fi
      runs[$mode]+="$(rate "$job-$mode-$r" "$config" "${base[@]}" "${set_mode[@]}") "
    done
  done
  /usr/bin/python3 - "$job" "${runs[off]}" "${runs[batch]}" "${runs[interval]}" "${runs[none]}" <<'PY'
import statistics, sys
job, off, *modes = sys.argv[1], [float(x) for x in sys.argv[2].split()], *[[float(x) for x in a.split()] for a in sys.argv[3:]]
base = statistics.median(off)
print(f"{job} job, accepted/s (median of {len(off)}): log off {base:.1f}  runs {' '.join(f'{x:.1f}' for x in off)}")
for name, rates in zip(("batch (default)", "interval", "none"), modes):
    m = statistics.median(rates)
    print(f"  log on, sync {name:16s} {m:6.1f}  ratio {m / base:.3f}  runs {' '.join(f'{x:.1f}' for x in rates)}")
PY
  unset runs
done

case " $PARTS " in *" resume "*) build/checkpoint_bench --items 1000000 --small 1000 --dir "$WORK/ckpt" ;; esac
