#!/usr/bin/env bash
# Regenerates the README's pictures from the real app, not drawn:
#   docs/screenshot.png  the desktop window in demo mode, showing documentation addresses
#                        (192.0.2.x, CXR_GATE_FAKE_LAN_IPS) — tests/tests/desktop.rs
#   docs/trust-page.png  the headset's trust page in Chromium after "Proceed" — tests/tests/browser.rs
# The tests write them when CXR_GATE_SCREENSHOTS names a folder; scripts/test.sh sets it too, so
# every full test run refreshes them. Needs what those tests need (scripts/setup.sh installs it).
#
#   bash scripts/screenshots.sh
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

# A missing browser, driver or X server fails here rather than skipping the picture.
export CI="${CI:-true}"
cargo build -p cxr-gate-core -p cxr-gate
dbus=()
command -v dbus-run-session >/dev/null 2>&1 && dbus=(dbus-run-session --)
# Xvfb, as in scripts/test.sh: the same screen, whatever desktop this runs on.
CXR_GATE_SCREENSHOTS=docs xvfb-run -a --server-args="-screen 0 1400x1000x24" "${dbus[@]}" \
  cargo test -p cxr-gate-tests --test desktop --test browser -- \
  demo_window_with_documentation_addresses headset_trusts_certificate_and_connects_in_chromium
ls -l docs/screenshot.png docs/trust-page.png
