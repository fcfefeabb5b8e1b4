#!/usr/bin/env bash
# Builds the Windows binaries and the installer on Debian 12, for a person on Linux who wants the
# .exe files and for the release workflow: the release cxr-gate-proxy.exe (headless) and
# cxr-gate.exe (the desktop app, with its icon, version info and manifest), checked under wine
# (`--version`), then cxr-gate_<version>_x64-setup.exe from exactly those files
# (scripts/build-installer.sh: Debian's makensis; signed when CXR_SIGN_PFX is set). Installs the
# cross kit first (scripts/setup-windows.sh).
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
setup="$(bash scripts/build-installer.sh --app release | tee /dev/stderr | tail -n1)"
echo
echo "Windows binaries (x86_64):"
for f in cxr-gate-proxy.exe cxr-gate.exe WebView2Loader.dll; do
  ls -l "$out/$f"
done
echo "The installer (per machine, Program Files\\CXR Gate; the README's Windows section):"
ls -l "$setup"
echo "cxr-gate.exe needs WebView2Loader.dll beside it (the installer puts it there) and, for its window, the WebView2 Runtime (part of Windows 10/11)."
