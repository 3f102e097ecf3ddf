#!/usr/bin/env bash
# Builds the Debian package (CPack) and checks what can be checked here:
#  * the package installs into a clean, empty root (dpkg --root) and the
#    installed binary runs (`veriforge --version`, `llm-sim --help`);
#  * its Depends resolve against this machine's Debian (apt-get -s install);
#  * the deployment recipes parse: Kubernetes manifests (YAML), systemd
#    units (systemd-analyze verify against the installed root), the Slurm
#    script (bash -n), the worker config (`veriforge worker` reads it).
#   tools/package.sh [BUILD_DIR]      prints the package's path last
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${1:-build}
[ -f "$BUILD/CMakeCache.txt" ] || cmake -S . -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo > /dev/null
cmake --build "$BUILD" --target veriforge llm-sim > /dev/null
(cd "$BUILD" && cpack -G DEB > cpack.log) || { cat "$BUILD/cpack.log"; exit 1; }
DEB=$(ls -t "$BUILD"/veriforge_*.deb | head -n 1)
echo "package: $DEB ($(du -h "$DEB" | cut -f1))"
dpkg-deb -f "$DEB" Package Version Architecture Depends

ROOT=$(mktemp -d /tmp/veriforge-root-XXXXXX)
trap 'rm -rf "$ROOT" "$ROOT.dpkg.log"' EXIT
mkdir -p "$ROOT/var/lib/dpkg/info" "$ROOT/var/lib/dpkg/updates"
touch "$ROOT/var/lib/dpkg/status" "$ROOT/var/lib/dpkg/available"
# A clean root has none of the dependencies: they are checked below against apt.
dpkg --root="$ROOT" --force-depends --force-not-root --force-script-chrootless -i "$DEB" > "$ROOT.dpkg.log" 2>&1 \
  || { cat "$ROOT.dpkg.log"; exit 1; }
"$ROOT/usr/bin/veriforge" --version
"$ROOT/usr/bin/llm-sim" --help > /dev/null 2>&1 || [ $? -eq 1 ]
test -f "$ROOT/usr/share/veriforge/configs/local.toml"
apt-get install -s "$(readlink -f "$DEB")" 2>&1 | grep -E "^Inst veriforge|is already the newest" \
  || { apt-get install -s "$(readlink -f "$DEB")"; echo "package: its Depends do not resolve"; exit 1; }

python3 - configs/deploy/k8s/*.yaml <<'PY'
import sys, yaml
for path in sys.argv[1:]:
    docs = [d for d in yaml.safe_load_all(open(path)) if d]
    for d in docs:
        assert "apiVersion" in d and "kind" in d and "metadata" in d, path
    print("manifest ok: %s (%s)" % (path, ", ".join(d["kind"] for d in docs)))
PY
for unit in configs/deploy/systemd/*.service; do
  cp "$unit" "$ROOT/"
  # ExecStart must point at the installed binary: verify against the root it was installed into.
  sed "s#/usr/bin/veriforge#$ROOT/usr/bin/veriforge#" "$unit" > "$ROOT/$(basename "$unit")"
  systemd-analyze verify "$ROOT/$(basename "$unit")" 2>&1 | grep -v "^$" | grep -iv "network-online\|Failed to prepare\|System has not been booted" \
    && { echo "unit: $unit does not verify"; exit 1; } || echo "unit ok: $unit"
done
bash -n configs/deploy/slurm/veriforge.sbatch && echo "slurm script ok: configs/deploy/slurm/veriforge.sbatch"
# The example worker config must be readable (its token file need not exist here).
out=$("$ROOT/usr/bin/veriforge" worker --join 127.0.0.1:1 --config configs/worker.toml \
      --set cluster.token_file= --give-up-after 0 2>&1 || true)
if echo "$out" | grep -q "unknown key\|expected\|cannot be read"; then echo "worker config: $out"; exit 1; fi
echo "worker config ok: configs/worker.toml"
echo "$DEB"
