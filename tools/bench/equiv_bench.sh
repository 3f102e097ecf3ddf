#!/usr/bin/env bash
# Answer-equivalence benchmark: comparisons per second of `veriforge equiv`'s
# judge on one core, on the shared cases and on the advanced_math pairs
# (final_answer vs the rationale's printed output), each against baselines
# measured in the same run: Loong's string comparison (C++) and a Python
# sympy comparator.
#   tools/bench/equiv_bench.sh [SECONDS_PER_RATE]
set -euo pipefail
cd "$(dirname "$0")/../.."
SHARED=../shared
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo > /dev/null
cmake --build build --target veriforge equiv_bench > /dev/null
mkdir -p build/bench-data
PAIRS=build/bench-data/advanced_math.results.jsonl
if [ ! -s "$PAIRS" ]; then
  echo "executing the advanced_math rationales once for their outputs (about a minute)..."
  build/veriforge verify-seeds "$SHARED/seeds/loong/advanced_math.json" --out "$PAIRS" --no-progress > /dev/null
fi
SECONDS_PER_RATE=${1:-2}
native=$(build/equiv_bench --cases "$SHARED/equivalence/cases.jsonl" --pairs "$PAIRS" --seconds "$SECONDS_PER_RATE" --shuffled 3)
echo "$native"
echo "python sympy baseline (parse_expr + simplify; the same pairs, warm, over >= $SECONDS_PER_RATE s):"
py_cases=$(/usr/bin/python3 tools/bench/sympy_baseline.py "$SHARED/equivalence/cases.jsonl" --seconds "$SECONDS_PER_RATE")
py_pairs=$(/usr/bin/python3 tools/bench/sympy_baseline.py "$PAIRS" --seconds "$SECONDS_PER_RATE")
echo "  shared cases        $py_cases"
echo "  advanced_math pairs $py_pairs"
/usr/bin/python3 - "$native" "$py_cases" "$py_pairs" <<'PY'
import json, re, sys
rates = [float(x) for x in re.findall(r"equiv +([0-9.]+) cmp/s", sys.argv[1])]
for name, rate, py in zip(("shared cases", "advanced_math pairs"), rates, sys.argv[2:]):
    print(f"speed ratio judge/sympy, {name}: {rate / json.loads(py)['per_second']:.0f}x")
PY
