#!/usr/bin/env bash
# Builds the Windows binaries on Debian 12, for a person on Linux who wants the .exe files:
# the release cxr-gate-proxy.exe (headless) and cxr-gate.exe (the desktop app, with its icon,
# version info and manifest), checked under wine (`--version`). Installs the cross kit first
# (scripts/setup-windows.sh).
# The installers (NSIS, MSI) are not built here: the Tauri bundler downloads NSIS plugins and the
# WebView2 bootstrapper, which needs the internet; .github/workflows/release.yml builds them.
#
#   bash scripts/build-windows.sh
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bash scripts/setup-windows.sh
# Builds both in one go and checks them: resources, GUI subsystem, --version under wine.
bash scripts/test-windows.sh release
# shellcheck source=scripts/windows-env.sh
. scripts/windows-env.sh
out="$CARGO_TARGET_DIR/$WIN_TARGET/release"
echo
echo "Windows binaries (x86_64):"
for f in cxr-gate-proxy.exe cxr-gate.exe WebView2Loader.dll; do
  ls -l "$out/$f"
done
echo "cxr-gate.exe needs WebView2Loader.dll beside it (the installers put it there) and the WebView2 runtime (part of Windows 10/11)."
