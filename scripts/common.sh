# Sourced by scripts/run.sh and scripts/test.sh: apt as root or through sudo, the CA bundle that
# HTTPS downloads (crates, npm) and the WebDriver clients need, and the Rust toolchain on PATH.
# Toolchains are never downloaded here: the machine's rustup toolchain is expected.

sudo=""
[ "$(id -u)" = 0 ] || sudo="sudo"
apt_get() { $sudo env DEBIAN_FRONTEND=noninteractive apt-get "$@"; }

ensure_base() {
  # A minimal Debian image lacks the CA bundle (and --no-install-recommends does not pull it in).
  if ! dpkg-query -W -f='${Status}' ca-certificates 2>/dev/null | grep -q "install ok installed"; then
    apt_get update -q
    apt_get install -y -q --no-install-recommends ca-certificates
  fi
  if ! command -v cargo >/dev/null 2>&1 && [ -f "$HOME/.cargo/env" ]; then
    # shellcheck disable=SC1091
    . "$HOME/.cargo/env"
  fi
  if ! command -v cargo >/dev/null 2>&1; then
    echo "cargo not found: install the stable Rust toolchain (rustup) first" >&2
    exit 1
  fi
}
