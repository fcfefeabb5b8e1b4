#!/usr/bin/env bash
# TLS scan of the gateway's listener with Debian's testssl.sh, checked against CXR Gate's TLS policy.
#
#   bash scripts/tls-scan.sh            (as root, or a user with sudo, on Debian 12)
#
# What it does, all on loopback (no packet leaves the machine: testssl runs without --phone-out, so it
# contacts no CRL/OCSP server, and with --nodns none and NXCONNECT=127.0.0.1:0, so no resolver):
#   1. installs testssl.sh from Debian if `testssl` is missing (it pulls openssl, dnsutils, procps,
#      bsdextrautils as its own dependencies), and python3 for the checker if missing;
#   2. builds the headless binary (cargo build -p cxr-gate-core --bin cxr-gate-proxy; honours
#      CARGO_TARGET_DIR) and starts it on 127.0.0.1:<free port> with a fresh temporary data dir (so a
#      freshly generated self-signed certificate is served, as on first start);
#   3. runs testssl: protocols, cipher categories, every cipher per protocol, forward secrecy, server
#      preference and defaults (certificate), HTTP headers, all vulnerability checks (about 45 s on
#      loopback); TLS_SCAN_CLIENT_SIM=1 adds testssl's client simulation (-c, about 25 s more);
#   4. checks testssl's JSON with scripts/tls-scan-check.py (policy and accepted exceptions are listed
#      there) and prints a summary table; exits non-zero on any violation.
#
# Output (text log + JSON) is kept in $TLS_SCAN_OUT (default: a new directory under /tmp), printed at
# the end. The proxy is stopped on exit, whatever happens.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

export CARGO_TERM_COLOR=never
export DEBIAN_FRONTEND=noninteractive
# Every testssl start probes its local openssl with `s_client -curves X -connect invalid.`, one
# resolver query per curve (30); 127.0.0.1:0 (testssl's own WSL setting) keeps those on loopback.
export NXCONNECT=127.0.0.1:0
started=$SECONDS

# shellcheck source=scripts/common.sh
. scripts/common.sh

# ---- 1. tools ------------------------------------------------------------------------------------
ensure_base
missing=()
command -v testssl >/dev/null 2>&1 || missing+=(testssl.sh)
command -v python3 >/dev/null 2>&1 || missing+=(python3)
if [ "${#missing[@]}" -gt 0 ]; then
  echo "installing ${missing[*]}"
  apt_get update -q
  apt_get install -y -q --no-install-recommends "${missing[@]}"
fi

# ---- 2. build and start the proxy on loopback ----------------------------------------------------
cargo build -q -p cxr-gate-core --bin cxr-gate-proxy
target_dir="$(cargo metadata --format-version 1 --no-deps |
  sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p')"
target_dir="${target_dir:-$PWD/target}"
proxy="$target_dir/debug/cxr-gate-proxy"
[ -x "$proxy" ] || {
  echo "no proxy binary at $proxy" >&2
  exit 1
}

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}
port="$(free_port)"
backend_port="$(free_port)" # nothing listens there: the backend stays DOWN, which TLS does not care about

out="${TLS_SCAN_OUT:-$(mktemp -d /tmp/cxr-gate-tls-scan.XXXXXX)}"
mkdir -p "$out"
data_dir="$(mktemp -d /tmp/cxr-gate-tls-scan-data.XXXXXX)"
proxy_pid=""
cleanup() {
  if [ -n "$proxy_pid" ] && kill -0 "$proxy_pid" 2>/dev/null; then
    kill "$proxy_pid" 2>/dev/null || true
    wait "$proxy_pid" 2>/dev/null || true
  fi
  rm -rf "$data_dir"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# The HAProxy-style variables (PROXY_PORT, BACKEND_HOST, CERT_HOSTNAMES, ...) of the caller's
# environment must not change what is scanned: unset them for the proxy.
env -u PROXY_PORT -u BACKEND_HOST -u BACKEND_PORT -u CERT_HOSTNAMES -u DATA_DIR -u ALLOWED_BACKENDS \
  -u HEALTH_CHECK_INTERVAL -u HEALTH_CHECK_RISE -u HEALTH_CHECK_FALL -u RUST_LOG \
  "$proxy" --listen "127.0.0.1:$port" --backend "127.0.0.1:$backend_port" --data-dir "$data_dir" \
  --log warn >"$out/proxy.log" 2>&1 &
proxy_pid=$!

for _ in $(seq 1 100); do
  if ! kill -0 "$proxy_pid" 2>/dev/null; then
    echo "cxr-gate-proxy exited before listening:" >&2
    cat "$out/proxy.log" >&2
    exit 1
  fi
  if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
    break
  fi
  sleep 0.1
done
(exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null || {
  echo "cxr-gate-proxy does not listen on 127.0.0.1:$port after 10 s" >&2
  cat "$out/proxy.log" >&2
  exit 1
}
echo "cxr-gate-proxy $("$proxy" --version | awk '{print $2}') listening on 127.0.0.1:$port (pid $proxy_pid)"

# ---- 3. testssl ----------------------------------------------------------------------------------
# -p protocols, -s cipher categories, -E each cipher per protocol, -f forward secrecy,
# -P server preference, -S server defaults (certificate), -h HTTP headers, -U all vulnerabilities
# (+ -c client simulation on request). --nodns none: no resolver queries at all (the target is an IP).
checks=(-p -s -E -f -P -S -h -U)
[ "${TLS_SCAN_CLIENT_SIM:-0}" = 1 ] && checks+=(-c)
json="$out/testssl.json"
log="$out/testssl.log"
rm -f "$json" "$log"
echo "testssl ${checks[*]} 127.0.0.1:$port ..."
scan_started=$SECONDS
set +e
testssl --quiet --color 0 --warnings off --nodns none \
  --connect-timeout 5 --openssl-timeout 5 \
  "${checks[@]}" \
  --jsonfile "$json" --logfile "$log" \
  "127.0.0.1:$port" >/dev/null 2>&1
testssl_rc=$?
set -e
scan_secs=$((SECONDS - scan_started))
# testssl's exit code counts findings/errors rather than signalling success; the checker judges.
[ -s "$json" ] || {
  echo "testssl produced no JSON (exit $testssl_rc); its log:" >&2
  cat "$log" >&2 || true
  exit 1
}

# ---- 4. check --------------------------------------------------------------------------------------
testssl_version="$(sed -n 's/^## version testssl: *\([^ ]*\).*/\1/p' "$log" | head -n1)"
openssl_version="$(sed -n 's/^## version openssl: *"\([^"]*\)".*/\1/p' "$log" | head -n1)"
echo "testssl ${testssl_version:-?} ($(command -v testssl)), openssl ${openssl_version:-?} ($(openssl version))"
echo "scan took ${scan_secs}s (testssl exit $testssl_rc)"
python3 scripts/tls-scan-check.py "$json"
echo "output: $out (testssl.log, testssl.json, proxy.log)"
printf 'tls-scan: total %ds\n' $((SECONDS - started))
