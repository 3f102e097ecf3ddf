#!/usr/bin/env python3
"""Checks that every folder includes headers only from the layers below it.

The layers, lowest first (README "Layout"):

  0  base/                                   errors, text, hashing
  1  storage/  sandbox/  model/  console/  dataflow/equiv/   each on its own, on base
  2  dataflow/                               pure pipeline logic
  3  actors/                                 CAF shells around it
  4  job/                                    a job's lifecycle
  5  tools/                                  the binary, benchmarks, simulator

A file may include headers of its own folder and of lower layers; a header
of a higher layer, or of another folder of the same layer, is a violation.
tests/ may include anything. Generated headers (outside these folders) are
not checked.

  tools/check-layering.py [SOURCE_DIR]     exit 0: clean; 1: violations (each printed)
"""
import os
import re
import sys

LAYERS = [  # (folder prefix, rank); the longest matching prefix wins
    ("base/", 0),
    ("storage/", 1),
    ("sandbox/", 1),
    ("model/", 1),
    ("console/", 1),
    ("dataflow/equiv/", 1),
    ("dataflow/", 2),
    ("actors/", 3),
    ("job/", 4),
    ("tools/", 5),
]
INCLUDE = re.compile(r'^\s*#\s*include\s+"([^"]+)"')


def folder_of(path):
    best = None
    for prefix, rank in LAYERS:
        if path.startswith(prefix) and (best is None or len(prefix) > len(best[0])):
            best = (prefix, rank)
    return best


def main():
    root = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), ".."))
    violations, checked = [], 0
    for prefix, _ in LAYERS:
        top = os.path.join(root, prefix)
        for dirpath, _, files in os.walk(top):
            for name in files:
                if not name.endswith((".h", ".cc")):
                    continue
                path = os.path.relpath(os.path.join(dirpath, name), root)
                own = folder_of(path)
                if own[0] != prefix:
                    continue  # a subfolder with its own layer is walked as such
                checked += 1
                with open(os.path.join(root, path), encoding="utf-8") as f:
                    for line_no, line in enumerate(f, 1):
                        m = INCLUDE.match(line)
                        if not m:
                            continue
                        target = folder_of(m.group(1))
                        if target is None:
                            continue  # generated or local to the build
                        if target[0] == own[0]:
                            continue
                        if target[1] < own[1]:
                            continue
                        why = "a higher layer" if target[1] > own[1] else "another folder of the same layer"
                        violations.append("%s:%d: includes %s (%s: %s is layer %d, %s is layer %d)" %
                                          (path, line_no, m.group(1), why, target[0], target[1], own[0], own[1]))
    for v in violations:
        print(v)
    print("layering: %d files checked, %d violation(s)" % (checked, len(violations)))
    return 1 if violations else 0


if __name__ == "__main__":
    sys.exit(main())
