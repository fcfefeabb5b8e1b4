#!/usr/bin/env bash
# Builds CXR Gate's Windows installer (installer/windows/cxr-gate.nsi) with Debian's makensis from
# the cross-built cxr-gate.exe, WebView2Loader.dll and cxr-gate-proxy.exe: exactly the files the
# Windows stage tests under wine (scripts/test-windows.sh). It builds no Rust itself:
#   --app release (default)  target/windows/x86_64-pc-windows-gnu/release/cxr-gate.exe, from
#                            scripts/build-windows.sh (which then calls this script);
#   --app debug              .../debug/cxr-gate.exe, the one CI's desktop and gui steps test
#                            (the installer step of scripts/test-windows.sh uses it).
# cxr-gate-proxy.exe is always the release build (the proxy step's).
# Writes target/windows/installer/cxr-gate_<version>_x64-setup.exe and prints that path last.
#
# Version, product name, publisher, identifier, description, exe name, icon, ports and the login
# item's flag are read from Cargo.toml, src-tauri/tauri.conf.json, core/src/config.rs,
# src-tauri/src/lib.rs and icons/: the .nsi types none of them.
#
# Environment:
#   CXR_INSTALLER_VERSION=1.2.3   build as another version (the upgrade test's older installer)
#   CXR_INSTALLER_COMPRESSION=lzma|zlib|none   lzma (default: the smallest download), zlib, or none
#                                          (the fastest build: CI's test installers)
#   CXR_SIGN_PFX, CXR_SIGN_PASSWORD        sign the exes, the uninstaller and setup.exe with this
#   [CXR_SIGN_TIMESTAMP_URL]               certificate (scripts/sign-windows.sh); without a PFX
#                                          the files are unsigned, and this script says so.
#
#   bash scripts/build-installer.sh [--app release|debug]
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
root="$PWD"

app=release
while [ $# -gt 0 ]; do
  case "$1" in
    --app)
      app="${2:-}"
      shift 2 || true
      ;;
    *)
      echo "build-installer: unknown option $1 (--app release|debug)" >&2
      exit 2
      ;;
  esac
done
case "$app" in
  release | debug) ;;
  *)
    echo "build-installer: --app wants release or debug, not '$app'" >&2
    exit 2
    ;;
esac
command -v makensis >/dev/null || {
  echo "build-installer: makensis is missing (apt-get install nsis; scripts/setup.sh --windows does)" >&2
  exit 1
}

# shellcheck source=scripts/windows-env.sh
. scripts/windows-env.sh
out="$CARGO_TARGET_DIR/$WIN_TARGET"

# The names and numbers, each from where it is defined.
version="${CXR_INSTALLER_VERSION:-$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -n1)}"
numeric="${version%%[-+]*}"
[[ "$numeric" =~ ^[0-9]+\.[0-9]+\.[0-9]+$ ]] || {
  echo "build-installer: version '$version' is not MAJOR.MINOR.PATCH[-pre]" >&2
  exit 2
}
conf() {
  python3 -c 'import json, sys
c = json.load(open(sys.argv[1]))
for k in sys.argv[2].split("."):
    c = c[k]
print(c)' src-tauri/tauri.conf.json "$1"
}
product="$(conf productName)"
publisher="$(conf bundle.publisher)"
identifier="$(conf identifier)"
description="$(conf bundle.shortDescription)"
exe="$(conf mainBinaryName).exe"
rust_const() { sed -n "s/^pub const $1: [^=]* = \(.*\);/\1/p" core/src/config.rs; }
proxy_port="$(rust_const DEFAULT_PROXY_PORT)"
backend_port="$(rust_const DEFAULT_BACKEND_PORT)"
media="$(rust_const MEDIA_PORTS | sed 's/\.\.=/-/')"
autostart_arg="$(sed -n 's/^const AUTOSTART_ARG: &str = "\(.*\)";/\1/p' src-tauri/src/lib.rs)"
for v in product publisher identifier description proxy_port backend_port media autostart_arg; do
  [ -n "${!v}" ] || {
    echo "build-installer: could not read $v from its source" >&2
    exit 1
  }
done
[[ "$media" =~ ^[0-9]+-[0-9]+$ ]] || {
  echo "build-installer: MEDIA_PORTS in core/src/config.rs read as '$media'" >&2
  exit 1
}

dir="$CARGO_TARGET_DIR/installer"
stage="$dir/stage-$app-$version"
setup="$dir/cxr-gate_${version}_x64-setup.exe"
rm -rf "$stage"
mkdir -p "$stage"
for f in "$out/$app/$exe" "$out/$app/WebView2Loader.dll" "$out/release/cxr-gate-proxy.exe"; do
  [ -f "$f" ] || {
    echo "build-installer: $f is missing; build it first (scripts/build-windows.sh, or scripts/test-windows.sh desktop proxy for --app debug)" >&2
    exit 1
  }
  cp "$f" "$stage/"
done

sign=()
if [ -n "${CXR_SIGN_PFX:-}" ]; then
  for f in "$stage"/*.exe "$stage"/*.dll; do
    bash scripts/sign-windows.sh "$f"
  done
  sign=("-DSIGN_COMMAND=bash $(printf '%q' "$root/scripts/sign-windows.sh")")
fi

compression="${CXR_INSTALLER_COMPRESSION:-lzma}"
case "$compression" in
  lzma | zlib | none) ;;
  *)
    echo "build-installer: CXR_INSTALLER_COMPRESSION is lzma, zlib or none, not '$compression'" >&2
    exit 2
    ;;
esac

started=$SECONDS
makensis -V2 -INPUTCHARSET UTF8 \
  "-DVERSION=$version" "-DVIVERSION=$numeric.0" \
  "-DPRODUCT=$product" "-DPUBLISHER=$publisher" "-DIDENTIFIER=$identifier" "-DDESCRIPTION=$description" \
  "-DEXE=$exe" "-DPROXY_EXE=cxr-gate-proxy.exe" "-DAUTOSTART_ARG=$autostart_arg" \
  "-DPROXY_PORT=$proxy_port" "-DMEDIA_PORTS=$media" "-DBACKEND_PORT=$backend_port" \
  "-DSRCDIR=$stage" "-DOUTFILE=$setup" "-DICON=$root/icons/icon.ico" \
  "-DWIZARD_BMP=$root/installer/windows/wizard.bmp" "-DCOMPRESSOR=$compression" \
  "${sign[@]}" installer/windows/cxr-gate.nsi
if [ -n "${CXR_SIGN_PFX:-}" ]; then
  bash scripts/sign-windows.sh "$setup"
  echo "build-installer: signed: $exe, WebView2Loader.dll, cxr-gate-proxy.exe, uninstall.exe and setup.exe"
else
  echo "build-installer: UNSIGNED (no CXR_SIGN_PFX): Windows SmartScreen warns before setup runs"
fi
echo "build-installer: $product $version ($app $exe, $compression) in $((SECONDS - started)) s, $(du -h "$setup" | cut -f1)"
echo "$setup"
