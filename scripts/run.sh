#!/usr/bin/env bash
# Runs the CXR Gate desktop app on a fresh Debian 12 machine: installs what is missing, builds, starts.
#
#   bash scripts/run.sh            # the app, proxying to the CloudXR Runtime on localhost:49100
#   bash scripts/run.sh --demo     # with a built-in echo server standing in for the runtime
#   bash scripts/run.sh --help     # every flag (the same as cxr-gate-proxy's: --listen, --backend, ...)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

# shellcheck source=scripts/common.sh
. scripts/common.sh

ensure_base
bash scripts/setup.sh
exec cargo run -p cxr-gate -- "$@"
