#!/usr/bin/env bash
# Runs every check CXR Gate has, on a fresh Debian 12 machine, doing all set-up itself:
#   setup (apt packages, Rust, tauri-driver, Node for the Tauri CLI, the Windows cross kit and wine)
#   → rustfmt → Markdown links → clippy → build →
#   cargo test --workspace (unit, integration, reliability and abuse, Chromium headset flow, desktop
#   e2e under Xvfb) → the engine's black-box tests again against cxr-gate-proxy built alone (its
#   released features, not the test build's) → TLS scan with testssl.sh → the container image (podman: build, a wss://
#   session through it, podman stop) → the Helm chart (lint, render, validate; no cluster) →
#   Linux .deb built with the Tauri CLI, installed with dpkg, `cxr-gate --version` run →
#   Windows (scripts/test-windows.sh): clippy for x86_64-pc-windows-gnu, the tests under wine, the
#   release cxr-gate-proxy.exe serving a wss:// session under wine, cxr-gate.exe's resources and --version,
#   the app without WebView2, and the installer (built with makensis, installed, upgraded, uninstalled).
# Stops at the first failure. This is also what CI runs (.ci/run).
#
#   bash scripts/test.sh
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

export CARGO_TERM_COLOR=never
export RUST_BACKTRACE=1
# The end-to-end tests fail (rather than skip) when their browser/driver is missing under CI.
export CI="${CI:-true}"
export DEBIAN_FRONTEND=noninteractive
export NPM_CONFIG_UPDATE_NOTIFIER=false NPM_CONFIG_FUND=false NPM_CONFIG_AUDIT=false
# Every build here is a one-off: incremental caches only cost disk (about 3 GB for the test build).
export CARGO_INCREMENTAL=0

# A run needs about 13 GB beside the sources (the target directory's size is printed at the end);
# a full disk shows up as a linker error deep in a stage, so every stage reports what is left.
disk_free() { df -h --output=avail . 2>/dev/null | tail -n1 | tr -d ' ' || echo "?"; }

started=$SECONDS
section_started=$SECONDS
section=""
banner() {
  if [ -n "$section" ]; then
    printf '==== done: %s (%ds; %s free on disk)\n' "$section" $((SECONDS - section_started)) "$(disk_free)"
  fi
  section="$*"
  section_started=$SECONDS
  printf '\n==================================================================\n'
  printf '==== %s   [%s, +%ds]\n' "$section" "$(date -u +%H:%M:%S)" $((SECONDS - started))
  printf '==================================================================\n'
}
on_exit() {
  local rc=$?
  if [ "$rc" -ne 0 ]; then
    printf '\n==== FAILED in: %s (exit %d, after %ds)\n' "${section:-start}" "$rc" $((SECONDS - started)) >&2
  fi
}
trap on_exit EXIT

# shellcheck source=scripts/common.sh
. scripts/common.sh

# ------------------------------------------------------------------------------------------------
banner "set-up: apt packages, Rust toolchain, tauri-driver, Node.js"
ensure_base
if command -v rustup >/dev/null 2>&1; then
  cargo fmt --version >/dev/null 2>&1 || rustup component add rustfmt
  cargo clippy --version >/dev/null 2>&1 || rustup component add clippy
fi
bash scripts/setup.sh --windows
if ! command -v npx >/dev/null 2>&1; then
  echo "installing Node.js and npm (for the Tauri CLI, which builds the .deb)"
  apt_get update -q
  apt_get install -y -q --no-install-recommends nodejs npm
fi
dbus=()
command -v dbus-run-session >/dev/null 2>&1 && dbus=(dbus-run-session --)
echo "rustc:    $(rustc --version)"
echo "node:     $(node --version 2>/dev/null || echo none)"
echo "chromium: $(chromium --version 2>/dev/null || echo none)"
echo "drivers:  $(command -v chromedriver || echo 'no chromedriver'), $(command -v tauri-driver || echo 'no tauri-driver'), $(command -v WebKitWebDriver || echo 'no WebKitWebDriver')"
echo "haproxy:  $(haproxy -v 2>/dev/null | head -n1 || echo none)"
echo "disk:     $(disk_free) free"

# ------------------------------------------------------------------------------------------------
banner "cargo fmt --all -- --check"
cargo fmt --all -- --check

# ------------------------------------------------------------------------------------------------
banner "links: every relative link and #anchor in the Markdown files (scripts/check-links.py)"
python3 scripts/check-links.py

# ------------------------------------------------------------------------------------------------
banner "cargo clippy --workspace --all-targets -- -D warnings"
cargo clippy --workspace --all-targets -- -D warnings

# ------------------------------------------------------------------------------------------------
banner "cargo build -p cxr-gate -p cxr-gate-core (the binaries the end-to-end tests start)"
cargo build -p cxr-gate -p cxr-gate-core

# ------------------------------------------------------------------------------------------------
banner "cargo test --workspace (unit, integration, Chromium headset flow, desktop e2e; under Xvfb)"
# The desktop and Chromium tests also redraw the README's pictures, docs/screenshot.png and
# docs/trust-page.png (scripts/screenshots.sh makes only those).
CXR_GATE_SCREENSHOTS=docs xvfb-run -a --server-args="-screen 0 1400x1000x24" "${dbus[@]}" \
  cargo test --workspace --no-fail-fast

# ------------------------------------------------------------------------------------------------
# `cargo test --workspace` builds cxr-gate-proxy with the features of every test crate unified into
# its dependencies (dev-dependencies included). Users run it built alone, with its default features:
# the engine's black-box tests run again against exactly that binary, copied aside so the test
# builds below cannot relink it.
banner "engine black-box tests (cli, engine, security, webapp) against cxr-gate-proxy built alone"
target_dir="$(cargo metadata --format-version 1 --no-deps |
  sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p')"
target_dir="${target_dir:-$PWD/target}"
cargo build -p cxr-gate-core --bin cxr-gate-proxy
released="$target_dir/as-released/cxr-gate-proxy"
mkdir -p "$(dirname "$released")"
cp -f "$target_dir/debug/cxr-gate-proxy" "$released"
echo "binary under test: $released ($("$released" --version); default features, built alone)"
CXR_GATE_PROXY_BIN="$released" cargo test -p cxr-gate-core --test cli
CXR_GATE_PROXY_BIN="$released" cargo test -p cxr-gate-tests --test engine --test security --test webapp
echo "tested: $released"

# ------------------------------------------------------------------------------------------------
banner "TLS scan: testssl.sh against the running proxy, checked against the policy (docs/SECURITY.md)"
bash scripts/tls-scan.sh

# ------------------------------------------------------------------------------------------------
banner "container image: static cxr-gate-proxy FROM scratch (podman), wss:// through it, podman stop"
bash scripts/container-test.sh

# ------------------------------------------------------------------------------------------------
banner "Helm chart: helm lint --strict, helm template = deploy/k8s/, kubernetes-validate --strict"
bash scripts/k8s-check.sh

# ------------------------------------------------------------------------------------------------
banner "Linux .deb: build with the Tauri CLI, install with dpkg, run --version"
deb_dir="$target_dir/debug/bundle/deb"
rm -rf "$deb_dir"
(cd src-tauri && npx --yes @tauri-apps/cli@2 build --debug --bundles deb --ci)
deb="$(find "$deb_dir" -maxdepth 1 -name '*.deb' -print | head -n1)"
[ -n "$deb" ] || {
  echo "no .deb in $deb_dir" >&2
  exit 1
}
pkg="$(dpkg-deb -f "$deb" Package)"
want_version="$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -n1)"
echo "package: $deb ($pkg $(dpkg-deb -f "$deb" Version))"
dpkg-deb -c "$deb"
if ! $sudo dpkg -i "$deb"; then
  echo "dpkg -i left dependencies missing: apt-get install -f"
  apt_get update -q
  apt_get install -f -y -q
fi
dpkg-query -W -f='${Status}\n' "$pkg" | grep -q "install ok installed"
bin="$(dpkg -L "$pkg" | grep -E '^/usr/bin/[^/]+$' | head -n1)"
[ -n "$bin" ] || {
  echo "the package installs nothing in /usr/bin" >&2
  exit 1
}
out="$(timeout 60 "$bin" --version 2>&1)" || {
  echo "$bin --version failed: $out" >&2
  exit 1
}
echo "$bin --version: $out"
case "$out" in
  *"$want_version"*) ;;
  *)
    echo "expected version $want_version in: $out" >&2
    exit 1
    ;;
esac

# ------------------------------------------------------------------------------------------------
# Windows: cross-built with Debian's Rust and mingw-w64, run under wine (scripts/test-windows.sh).
windows_started=$SECONDS
banner "Windows: the release workflow (.github/workflows/release.yml) checked with actionlint"
bash scripts/lint-workflows.sh

banner "Windows: clippy -D warnings for x86_64-pc-windows-gnu (every crate, all targets)"
bash scripts/test-windows.sh clippy

banner "Windows: unit and black-box tests under wine"
bash scripts/test-windows.sh tests

banner "Windows: the firewall read through COM under wine (a view or a clear error, timed), firewall-fix refusing bad arguments"
bash scripts/test-windows.sh firewall

banner "Windows: release cxr-gate-proxy.exe under wine, a wss:// session through it"
bash scripts/test-windows.sh proxy

banner "Windows: cxr-gate.exe (icon, version info, manifest), --version under wine"
bash scripts/test-windows.sh desktop

banner "Windows: cxr-gate.exe --demo without WebView2 under wine: serves wss://, says why, keeps running, stops on Ctrl-C"
bash scripts/test-windows.sh gui

banner "Windows: the installer (makensis): built, signed with a throwaway certificate, installed, upgraded over a running copy, uninstalled, under wine"
# Its first page is the README's picture, docs/installer.png.
CXR_GATE_SCREENSHOTS=docs bash scripts/test-windows.sh installer
windows_took=$((SECONDS - windows_started))

banner "all checks passed"
printf '==== the target directory takes %s; %s free on disk\n' "$(du -sh "$target_dir" 2>/dev/null | cut -f1)" "$(disk_free)"
printf '==== Windows stage %dm%02ds\n' $((windows_took / 60)) $((windows_took % 60))
printf '==== total %dm%02ds\n' $(((SECONDS - started) / 60)) $(((SECONDS - started) % 60))
