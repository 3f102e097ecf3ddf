#!/usr/bin/env bash
# TLS between nodes (cluster.tls.*): certificates from a throwaway CA made
# with the openssl CLI. A worker with a certificate from the cluster's CA
# joins and the job finishes with the single-process run's records; a worker
# without TLS and a worker whose certificate another CA signed cannot join
# (and the job is not disturbed); half a TLS configuration is refused.
#   tests/cluster_tls_test.sh VERIFORGE SOURCE_DIR
set -euo pipefail
VF=$1
SRC=$2
W=$(mktemp -d /tmp/veriforge-tls-XXXXXX)
pids=()
cleanup() { for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null || true; done; rm -rf "$W"; }
trap cleanup EXIT
fail() { echo "FAIL: $*"; for f in "$W"/*.err; do echo "--- $f"; tail -5 "$f"; done; exit 1; }

make_ca() {  # NAME
  openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=$1" -keyout "$W/$1.key" -out "$W/$1.pem" 2>/dev/null
}
make_cert() {  # NAME CA
  openssl req -newkey rsa:2048 -nodes -subj "/CN=$1" -keyout "$W/$1.key" -out "$W/$1.csr" 2>/dev/null
  printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\n' > "$W/$1.ext"
  openssl x509 -req -in "$W/$1.csr" -CA "$W/$2.pem" -CAkey "$W/$2.key" -CAcreateserial -days 2 \
    -extfile "$W/$1.ext" -out "$W/$1.pem" 2>/dev/null
}
make_ca cluster-ca
make_ca other-ca
make_cert coordinator cluster-ca
make_cert worker cluster-ca
make_cert stranger other-ca
tls() {  # NAME CA
  echo --set "cluster.tls.certificate=$W/$1.pem" --set "cluster.tls.key=$W/$1.key" --set "cluster.tls.ca_file=$W/$2.pem"
}
export VERIFORGE_CLUSTER_TOKEN=tls-test-token
TARGET=(--set target_accepted=60)

# Half a TLS configuration is a config error, before anything is written.
if "$VF" run "$SRC/configs/local.toml" --out "$W/half" --no-progress --listen 127.0.0.1:0 \
     --set "cluster.tls.certificate=$W/coordinator.pem" 2> "$W/half.err"; then fail "half a TLS config was accepted"; fi
grep -q "cluster.tls" "$W/half.err" || fail "the error does not name cluster.tls: $(cat "$W/half.err")"
[ ! -e "$W/half/db" ] || fail "a refused config wrote a log"

"$VF" run "$SRC/configs/local.toml" --out "$W/ref" --no-progress "${TARGET[@]}" > /dev/null

# shellcheck disable=SC2046
"$VF" run "$SRC/configs/local.toml" --out "$W/job" --no-progress --listen 127.0.0.1:0 "${TARGET[@]}" \
  --set cluster.local_workers=false $(tls coordinator cluster-ca) > "$W/coord.out" 2> "$W/coord.err" &
pids+=($!)
coord=$!
for _ in $(seq 1 100); do grep -q "listening on" "$W/coord.err" 2>/dev/null && break; sleep 0.1; done
PORT=$(grep -o "listening on 127.0.0.1:[0-9]*" "$W/coord.err" | cut -d: -f2)
[ -n "$PORT" ] || fail "the coordinator did not listen"

# Without TLS, and with another CA's certificate: no way in.
"$VF" worker --join "127.0.0.1:$PORT" --name plain --give-up-after 3 > /dev/null 2> "$W/plain.err" &
pids+=($!)
plain=$!
# shellcheck disable=SC2046
"$VF" worker --join "127.0.0.1:$PORT" --name stranger --give-up-after 3 $(tls stranger other-ca) \
  > /dev/null 2> "$W/stranger.err" &
pids+=($!)
stranger=$!
wait "$plain" && fail "a worker without TLS joined (exit 0)"
wait "$stranger" && fail "a worker with another CA's certificate joined (exit 0)"
grep -q "event=admitted" "$W/plain.err" "$W/stranger.err" && fail "a worker without the cluster's certificate was admitted"

# shellcheck disable=SC2046
"$VF" worker --join "127.0.0.1:$PORT" --name good $(tls worker cluster-ca) > /dev/null 2> "$W/good.err" &
pids+=($!)
good=$!
wait "$coord" || fail "the coordinator failed"
wait "$good" || fail "the TLS worker did not exit 0"
grep -q "tls=on" "$W/job/veriforge.log" || fail "the coordinator did not log tls=on"
grep -q "event=admitted" "$W/good.err" || fail "the TLS worker was not admitted"
python3 - "$W/ref/accepted.jsonl" "$W/job/accepted.jsonl" <<'PY' || fail "records differ from the single-process run"
import json, sys
def load(p):
    out = {}
    for line in open(p):
        r = json.loads(line); r.pop("wall_ms", None)
        for e in r.get("executions", []): e.pop("wall_ms", None)
        out[r["item_id"]] = r
    return out
a, b = load(sys.argv[1]), load(sys.argv[2])
sys.exit(0 if a == b and len(a) == 60 else 1)
PY
echo "cluster-tls: PASS (60 records over TLS equal the single-process run's; plain and foreign-CA workers kept out)"
