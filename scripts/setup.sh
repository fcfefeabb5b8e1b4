#!/usr/bin/env bash
# Installs what a fresh Debian 12 machine lacks to build, run and test CXR Gate.
# Idempotent: packages already present are skipped, so it is cheap to call before every run.
#
#   bash scripts/setup.sh              # build, run and test on Linux
#   bash scripts/setup.sh --windows    # also the Windows cross-build and wine kit (scripts/setup-windows.sh)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
windows=0
for a in "$@"; do
  case "$a" in
    --windows) windows=1 ;;
    *)
      echo "setup: unknown option $a (--windows)" >&2
      exit 2
      ;;
  esac
done

want=(
  build-essential pkg-config curl file
  libwebkit2gtk-4.1-dev libayatana-appindicator3-dev librsvg2-dev libxdo-dev libssl-dev
  xvfb xauth dbus-x11 libglib2.0-bin webkit2gtk-driver fonts-dejavu-core
  chromium chromium-driver
  openssl libnss3-tools
  haproxy
  iproute2
  # A fake adb server is checked against Debian's adb client; mksh (Android's /system/bin/sh)
  # splits the command lines it receives, as a headset's shell would.
  adb mksh
)
missing=()
for p in "${want[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  sudo=""; [ "$(id -u)" = 0 ] || sudo="sudo"
  echo "setup: installing ${missing[*]}"
  $sudo apt-get update -q
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q --no-install-recommends "${missing[@]}"
fi
# The Debian haproxy package starts a system service on :80-less default config; we only need the binary.
if command -v systemctl >/dev/null 2>&1; then systemctl disable --now haproxy >/dev/null 2>&1 || true; fi

if [ "${CXR_SKIP_TAURI_DRIVER:-0}" != 1 ] && ! command -v tauri-driver >/dev/null 2>&1; then
  echo "setup: installing tauri-driver"
  cargo install tauri-driver --locked
fi

if [ "$windows" = 1 ]; then
  bash scripts/setup-windows.sh
fi
