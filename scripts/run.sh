#!/usr/bin/env bash
# Runs the CXR Gate desktop app on a fresh Debian 12 machine: installs what is missing, builds, starts.
#
#   bash scripts/run.sh            # the app, proxying to the CloudXR Runtime on localhost:49100
#   bash scripts/run.sh --demo     # with a built-in echo server standing in for the runtime
#   bash scripts/run.sh --help     # every flag (the same as cxr-gate-proxy's: --listen, --backend, ...)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

sudo=""
[ "$(id -u)" = 0 ] || sudo="sudo"
apt_get() { $sudo env DEBIAN_FRONTEND=noninteractive apt-get "$@"; }

# HTTPS downloads (crates, npm) and the WebDriver clients need the system CA bundle, which a
# minimal Debian image lacks (and --no-install-recommends does not pull in).
if ! dpkg-query -W -f='${Status}' ca-certificates 2>/dev/null | grep -q "install ok installed"; then
  apt_get update -q
  apt_get install -y -q --no-install-recommends ca-certificates
fi
if ! command -v cargo >/dev/null 2>&1 && [ -f "$HOME/.cargo/env" ]; then
  # shellcheck disable=SC1091
  . "$HOME/.cargo/env"
fi
if ! command -v cargo >/dev/null 2>&1; then
  # Toolchains are not downloaded by this script: the machine's rustup toolchain is expected.
  echo "cargo not found: install the stable Rust toolchain (rustup) first" >&2
  exit 1
fi
bash scripts/setup.sh
exec cargo run -p cxr-gate -- "$@"
