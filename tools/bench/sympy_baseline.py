#!/usr/bin/python3
"""Python baseline for equiv_bench: the approach of the Python tools (parse both
answers into sympy, simplify the difference), measured in the same run.

Reads verify-seeds records (final_answer, output, status) or cases (gold, pred)
from a JSONL file; prints pairs/s and how many pairs it accepts. LaTeX needs
sympy's parse_latex, whose ANTLR runtime Debian does not package, so a LaTeX
answer counts as accepted only when the strings are equal (the baseline's
accuracy is not the point here; its speed is).
Measured as the judge is: on the same pairs, warm (one untimed pass first,
so imports and sympy's caches are in place), over at least --seconds.
usage: sympy_baseline.py FILE [--limit N] [--seconds S]
"""
import json
import sys
import time

import sympy
from sympy.parsing.sympy_parser import parse_expr, standard_transformations, implicit_multiplication_application

TRANSFORMS = standard_transformations + (implicit_multiplication_application,)


def same(gold, pred):
    try:
        g = parse_expr(gold, transformations=TRANSFORMS)
        p = parse_expr(pred, transformations=TRANSFORMS)
        return bool(sympy.simplify(g - p) == 0)
    except Exception:
        return gold.strip() == pred.strip()


def main():
    path = sys.argv[1]
    limit = int(sys.argv[sys.argv.index("--limit") + 1]) if "--limit" in sys.argv else 0
    seconds = float(sys.argv[sys.argv.index("--seconds") + 1]) if "--seconds" in sys.argv else 2.0
    pairs = []
    for line in open(path):
        r = json.loads(line)
        if "gold" in r:
            pairs.append((r["gold"], r["pred"]))
        elif r.get("status") == "ok":
            pairs.append((r["final_answer"], r["output"]))
    if limit:
        pairs = pairs[:limit]
    accepted = sum(1 for g, p in pairs if same(g, p))  # the warm-up pass
    done = 0
    start = time.perf_counter()
    while True:
        for g, p in pairs:
            same(g, p)
        done += len(pairs)
        elapsed = time.perf_counter() - start
        if elapsed >= seconds:
            break
    print(json.dumps({"pairs": len(pairs), "accepted": accepted, "seconds": elapsed,
                      "per_second": done / elapsed}))


if __name__ == "__main__":
    main()
