#!/usr/bin/env bash
# The container image as CI checks it (a stage of scripts/test.sh; runs on its own too):
#   1. builds localhost/cxr-gate:<version> with scripts/container.sh and checks that a rebuild
#      without cache gives the same image;
#   2. runs it with podman (runc, --network host, listening on 127.0.0.1 only) in front of the
#      tests crate's echo-server on loopback, waits for its HEALTHCHECK (`--check-health`) and for
#      `--check-health --ready`;
#   3. runs a second one with a certificate mounted read-only like a Kubernetes TLS Secret and the
#      default BACKEND_HOST=localhost;
#   4. runs tests/tests/container.rs against both: a real wss:// session through the image, trusting
#      only the certificate it serves; the last session stays open, and then
#   5. times `podman stop` (must be under 2 s: PID 1 is the binary and handles SIGTERM), checks that
#      the open session ended, that the log says "(closed by the gate: shutting down)" and that the exit code is 0.
# Prints the image size and the proxy's memory in the container. Only loopback is ever contacted.
#
#   bash scripts/container-test.sh
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
# shellcheck source=scripts/common.sh
. scripts/common.sh
ensure_base
bash scripts/setup-container.sh podman

version="$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -n1)"
image="localhost/cxr-gate:$version"
uid=65532 # the image's USER

bash scripts/container.sh --verify-reproducible

# podman's settings that work on these machines (see shared/containers/README.md); the healthcheck
# timer needs systemd, so the HEALTHCHECK is run explicitly with `podman healthcheck run` instead.
# (podman 4.3 still logs that it cannot reach systemd for the timer: noise, kept out of the output.)
pod() { podman --cgroup-manager=cgroupfs --events-backend=file "$@"; }
start() { # podman run arguments...
  pod run -d "$@" >"$work/run.log" 2>&1 || {
    cat "$work/run.log" >&2
    return 1
  }
}
run_flags=(--runtime runc --network host --ulimit nofile=20000:20000 --ulimit nproc=4096:4096 --health-interval disable)

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

work="$(mktemp -d)"
gate="cxr-gate-ci-$$"
gate2="cxr-gate-ci-custom-$$"
echo_pid=""
test_pid=""
cleanup() {
  pod rm --force --ignore --volumes "$gate" "$gate2" >/dev/null 2>&1 || true
  if [ -n "$test_pid" ]; then kill "$test_pid" 2>/dev/null || true; fi
  if [ -n "$echo_pid" ]; then kill "$echo_pid" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT

echo "building the echo server and the container test"
cargo build -q -p cxr-gate-tests --bin echo-server
cargo test -q -p cxr-gate-tests --test container --no-run
target_dir="$(cargo metadata --format-version 1 --no-deps | sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p')"

# The stand-in for the CloudXR Runtime, on loopback; it prints "listening on ADDR".
"${target_dir:-target}/debug/echo-server" --listen 127.0.0.1:0 >"$work/echo.log" 2>&1 &
echo_pid=$!
for _ in $(seq 100); do
  grep -q '^listening on ' "$work/echo.log" && break
  sleep 0.1
done
backend="$(sed -n 's/^listening on //p' "$work/echo.log")"
[ -n "$backend" ] || {
  echo "echo-server did not start: $(cat "$work/echo.log")" >&2
  exit 1
}
echo_port="${backend##*:}"
echo "echo backend: $backend"

wait_healthy() { # container, extra --check-health flags...
  local name="$1" out=""
  shift
  for _ in $(seq 150); do
    if [ $# -eq 0 ]; then
      out="$(pod healthcheck run "$name" 2>&1)" && {
        echo "$name: podman healthcheck run: healthy"
        return 0
      }
    else
      out="$(pod exec "$name" /cxr-gate-proxy --check-health "$@" 2>&1)" && {
        echo "$name: --check-health $*: $out"
        return 0
      }
    fi
    sleep 0.2
  done
  echo "$name never became healthy ($*): $out" >&2
  pod logs "$name" >&2 || true
  return 1
}

# 1: the generated certificate in a /data volume (a host directory owned by the image's user).
port="$(free_port)"
mkdir -p "$work/data"
chown "$uid:$uid" "$work/data"
start --name "$gate" "${run_flags[@]}" -v "$work/data:/data" \
  -e BACKEND_HOST=127.0.0.1 -e BACKEND_PORT="$echo_port" -e PROXY_PORT="$port" \
  -e HEALTH_CHECK_INTERVAL=200ms "$image" --listen "127.0.0.1:$port"
echo "container $gate: $image on 127.0.0.1:$port → $backend"
wait_healthy "$gate"
wait_healthy "$gate" --ready

# 2: a certificate mounted read-only like a TLS Secret (here: the first container's own, which
# covers 127.0.0.1), the default BACKEND_HOST (localhost) and an anonymous /data volume.
port2="$(free_port)"
mkdir -p "$work/tls"
cp "$work/data/cert.pem" "$work/tls/tls.crt"
cp "$work/data/key.pem" "$work/tls/tls.key"
chown -R "$uid:$uid" "$work/tls"
start --name "$gate2" "${run_flags[@]}" -v "$work/tls:/etc/cxr-gate/tls:ro" \
  -e BACKEND_PORT="$echo_port" -e PROXY_PORT="$port2" -e HEALTH_CHECK_INTERVAL=200ms \
  "$image" --listen "127.0.0.1:$port2" --cert /etc/cxr-gate/tls/tls.crt --key /etc/cxr-gate/tls/tls.key
echo "container $gate2: $image on 127.0.0.1:$port2 with /etc/cxr-gate/tls/tls.crt → localhost:$echo_port"
wait_healthy "$gate2" --ready

# The tests: real wss:// sessions through both; the first test holds one open for `podman stop`.
CXR_GATE_CONTAINER_PORT="$port" CXR_GATE_CONTAINER_CERT="$work/data/cert.pem" CXR_GATE_CONTAINER_BACKEND="$backend" \
  CXR_GATE_CONTAINER_CUSTOM_PORT="$port2" CXR_GATE_CONTAINER_CUSTOM_CERT="$work/tls/tls.crt" \
  cargo test -q -p cxr-gate-tests --test container -- --ignored --nocapture >"$work/test.log" 2>&1 &
test_pid=$!
ready=0
for _ in $(seq 600); do
  if grep -q 'CONTAINER-TEST: session open' "$work/test.log"; then
    ready=1
    break
  fi
  kill -0 "$test_pid" 2>/dev/null || break
  sleep 0.1
done
if [ "$ready" != 1 ]; then
  cat "$work/test.log" >&2
  echo "the container test did not reach its held session" >&2
  exit 1
fi

pid="$(pod inspect --format '{{.State.Pid}}' "$gate")"
echo "proxy memory in the container, one session open: $(grep -E '^VmRSS' "/proc/$pid/status" | tr -s ' \t' ' ')"
pod image inspect --format 'image size: {{.Size}} bytes' "$image"

started="$(date +%s%N)"
pod stop --time 10 "$gate" >"$work/stop.log" 2>&1 || {
  cat "$work/stop.log" >&2
  exit 1
}
stop_ms=$((($(date +%s%N) - started) / 1000000))
echo "podman stop took ${stop_ms} ms"

test_rc=0
wait "$test_pid" || test_rc=$?
test_pid=""
cat "$work/test.log"
[ "$test_rc" = 0 ] || {
  echo "the container test failed (exit $test_rc)" >&2
  exit 1
}

pod logs "$gate" >"$work/gate.log" 2>&1
code="$(pod inspect --format '{{.State.ExitCode}}' "$gate")"
echo "--- container log ($gate), without the banner's QR code:"
grep -v '█\|▀\|▄' "$work/gate.log" || true
echo "---"
fail=0
[ "$stop_ms" -lt 2000 ] || {
  echo "podman stop took ${stop_ms} ms, expected under 2000 ms" >&2
  fail=1
}
[ "$code" = 0 ] || {
  echo "the container exited with $code, expected 0 (a clean SIGTERM shutdown)" >&2
  fail=1
}
grep -q 'closed after .*(closed by the gate: shutting down)' "$work/gate.log" || {
  echo "the container log shows no session ended by the shutdown" >&2
  fail=1
}
grep -q 'shutting down' "$work/gate.log" || {
  echo "the container log shows no shutdown" >&2
  fail=1
}

pod stop --time 10 "$gate2" >"$work/stop.log" 2>&1 || cat "$work/stop.log" >&2
code2="$(pod inspect --format '{{.State.ExitCode}}' "$gate2")"
[ "$code2" = 0 ] || {
  echo "$gate2 exited with $code2, expected 0" >&2
  pod logs "$gate2" >&2 || true
  fail=1
}
[ "$fail" = 0 ] || exit 1
echo "container image checks passed: $image (podman stop ${stop_ms} ms, exit code 0, session ended by the shutdown)"
