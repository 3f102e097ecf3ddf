#!/usr/bin/env bash
# Installs everything veriforge needs to build, run and test, from Debian's
# packages only. Idempotent: packages already present are left alone, and
# `apt-get update` runs only when something is missing.
set -euo pipefail

packages=(
  # toolchain
  build-essential cmake ninja-build pkg-config git
  # fixed choices of the design card
  libcaf-dev libmsgpack-cxx-dev librocksdb-dev libspdlog-dev doctest-dev
  # JSON (seeds, outputs), TOML (job configs), CLI parsing
  nlohmann-json3-dev libtomlplusplus-dev libcli11-dev
  # exact rationals for answer equivalence
  libgmp-dev
  # model client (HTTP/HTTPS, asynchronous via curl multi); the LLM simulator's HTTP server
  libcurl4-openssl-dev libevent-dev
  # the cluster token's HMAC (OpenSSL's libcrypto; CAF's TLS module uses the same library)
  libssl-dev openssl
  # building the Debian package (dpkg-shlibdeps) and checking the deployment recipes (YAML)
  dpkg-dev file python3-yaml
  # network namespaces and traffic control for the cluster chaos test (separate hosts, partitions)
  iproute2
  # the console's /metrics (prometheus-cpp's registry and text exposition); promtool checks a scrape in the tests
  prometheus-cpp-dev prometheus
  # the console's browser test: Debian's Chromium, driven by playwright-core from npm (fonts for its screenshots)
  chromium fonts-liberation
  # the sandbox's interpreter and the modules seeds use
  python3 python3-msgpack python3-sympy python3-numpy python3-networkx python3-scipy
  python3-cryptography python3-gmpy2 python3-pycryptodome
  # modules public seed domains declare (finance: QuantLib, pandas, statsmodels;
  # optimisation: PuLP, CVXOPT, z3; statistics/ML: scikit-learn; physics units: pint)
  quantlib-python python3-pandas python3-statsmodels python3-pulp coinor-cbc python3-cvxopt python3-z3
  python3-sklearn python3-mpmath python3-pint
)

# Node.js and npm: the machine's own when present (the console's chart library
# and the browser test's driver come from npm at build/test time).
if ! command -v npm > /dev/null; then packages+=(nodejs npm); fi

# npm packages, pinned by their package-lock.json (installed again only when
# the lock changed): uPlot, built into the console's page; playwright-core,
# which drives the system Chromium (no browser download).
npm_install() {
  local dir=$1
  if [ ! -f "$dir/node_modules/.package-lock.json" ] || [ "$dir/package-lock.json" -nt "$dir/node_modules/.package-lock.json" ]; then
    echo "setup: npm ci in $dir"
    (cd "$dir" && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --no-audit --no-fund --loglevel=error)
  fi
}
here=$(cd "$(dirname "$0")/.." && pwd)

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  echo "setup: all ${#packages[@]} packages present"
  npm_install "$here/console"
  npm_install "$here/tests/browser"
  exit 0
fi

echo "setup: installing ${missing[*]}"
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
npm_install "$here/console"
npm_install "$here/tests/browser"
echo "setup: done"
