#!/usr/bin/env bash
# Quick start, part 1: install dependencies, build, and run the main job on the
# embedded default (offline variant generator, bundled example seeds, RocksDB
# in the output folder).
#   tools/run-local.sh [OUT_DIR]     (default: out/local-YYYYmmdd-HHMMSS)
set -euo pipefail
cd "$(dirname "$0")/.."
tools/setup.sh
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo > /dev/null
# The simulator is built too: the README's "try it without a model" runs it.
cmake --build build --target veriforge llm-sim
out=${1:-out/local-$(date +%Y%m%d-%H%M%S)}
exec build/veriforge run configs/local.toml --out "$out"
