#!/usr/bin/env bash
# Builds the container image localhost/cxr-gate:<version> (the workspace version) from
# deploy/Containerfile with podman: a statically linked cxr-gate-proxy (glibc with
# -C target-feature=+crt-static; musl is not needed) in a FROM scratch image. Nothing is pulled
# (--pull=never) and every timestamp is 0 (--timestamp 0), so the same binary gives the same image.
# Docker format, because the OCI format has no HEALTHCHECK.
#
#   bash scripts/container.sh                        # build; prints the image, its ID and size
#   bash scripts/container.sh --verify-reproducible  # then build again without cache and compare
#
# Run it (see docs/HEADLESS.md, "Containers"):
#   podman run -d --name cxr-gate --network host -v cxr-gate-data:/data localhost/cxr-gate:<version>
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
# shellcheck source=scripts/common.sh
. scripts/common.sh
ensure_base

verify=0
case "${1:-}" in
  "") ;;
  --verify-reproducible) verify=1 ;;
  *)
    echo "usage: bash scripts/container.sh [--verify-reproducible]" >&2
    exit 2
    ;;
esac

command -v podman >/dev/null 2>&1 || bash scripts/setup-container.sh podman

version="$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -n1)"
image="localhost/cxr-gate:$version"
triple="x86_64-unknown-linux-gnu"

# An explicit --target keeps RUSTFLAGS off build scripts and proc macros (they stay dynamic).
echo "building a static cxr-gate-proxy for $triple (release)"
RUSTFLAGS="-C target-feature=+crt-static -C strip=symbols" \
  cargo build --release --locked -p cxr-gate-core --bin cxr-gate-proxy --target "$triple"
target_dir="$(cargo metadata --format-version 1 --no-deps | sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p')"
bin="${target_dir:-$PWD/target}/$triple/release/cxr-gate-proxy"
kind="$(file -b "$bin")"
echo "binary: $bin ($(stat -c %s "$bin") bytes): $kind"
case "$kind" in
  *"static-pie linked"* | *"statically linked"*) ;;
  *)
    echo "cxr-gate-proxy is not statically linked: a FROM scratch image cannot run it" >&2
    exit 1
    ;;
esac

ctx="$(mktemp -d)"
trap 'rm -rf "$ctx"' EXIT
install -m 0755 "$bin" "$ctx/cxr-gate-proxy"
mkdir "$ctx/data" # becomes /data, owned by the image's user (COPY --chown)

build() { # tag, extra podman build flags...
  local tag="$1"
  shift
  podman build --quiet --pull=never --timestamp 0 --format docker --layers=false "$@" \
    --build-arg "VERSION=$version" -f deploy/Containerfile -t "$tag" "$ctx" >/dev/null
  podman image inspect --format '{{.Id}}' "$tag"
}

previous="$(podman image inspect --format '{{.Id}}' "$image" 2>/dev/null || true)"
id="$(build "$image")"
# The tag moved to the new build: drop the image it left behind, unless something else uses it.
if [ -n "$previous" ] && [ "$previous" != "$id" ]; then
  podman rmi "$previous" >/dev/null 2>&1 || true
fi
size="$(podman image inspect --format '{{.Size}}' "$image")"
echo "image: $image"
echo "image ID: $id"
echo "image size: $size bytes ($(awk -v s="$size" 'BEGIN { printf "%.1f MiB", s / 1048576 }'))"

if [ "$verify" = 1 ]; then
  again="localhost/cxr-gate:reproducibility-check"
  id2="$(build "$again" --no-cache)"
  echo "rebuilt without cache: $id2"
  # The docker format's config carries two fields the builder fills per build (the build
  # container's ID and its hostname), so the image IDs differ; everything else must not.
  dirs="$(mktemp -d)"
  podman save --quiet --format docker-dir -o "$dirs/a" "$image"
  podman save --quiet --format docker-dir -o "$dirs/b" "$again"
  podman rmi --force "$again" >/dev/null
  python3 - "$dirs/a" "$dirs/b" <<'PY'
import json, sys
def load(d):
    m = json.load(open(f"{d}/manifest.json"))
    c = json.load(open(f"{d}/{m['config']['digest'].split(':')[1]}"))
    c.pop("container", None)
    for k in ("config", "container_config"):
        c.get(k, {}).pop("Hostname", None)
    return [l["digest"] for l in m["layers"]], c
(la, ca), (lb, cb) = load(sys.argv[1]), load(sys.argv[2])
if la != lb:
    sys.exit(f"not reproducible: layers differ: {la} vs {lb}")
if ca != cb:
    diff = [k for k in set(ca) | set(cb) if ca.get(k) != cb.get(k)]
    sys.exit(f"not reproducible: the image configs differ in {diff}")
print(f"reproducible: same layer {la[0]} and the same config except the builder's container ID and hostname")
PY
  rm -rf "$dirs"
fi
