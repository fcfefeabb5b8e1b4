#!/usr/bin/env bash
# Installs the Windows cross-build and test kit on Debian 12 (called by `scripts/setup.sh --windows`):
# Debian's Rust 1.96 (rustc-web, cargo-web, clippy, and the std sources that -Zbuild-std compiles for
# x86_64-pc-windows-gnu), mingw-w64 to link, wine 8 to run the .exe files, and NSIS and osslsigncode
# for the installer. Then a wine prefix with
# a ProcessPrng shim: wine 8 has no bcryptprimitives.dll, which the std of Rust >= 1.78 imports, so
# every Rust .exe fails to start (c0000135) without it. Idempotent: cheap when all is in place.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

sudo=""
[ "$(id -u)" = 0 ] || sudo="sudo"
apt_get() { $sudo env DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 "$@"; }
installed() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "install ok installed"; }

rust_pkgs=(rustc-web cargo-web rust-web-src libstd-rust-web-dev rust-web-clippy)
# The installer: makensis (nsis) builds it, osslsigncode signs it, Pillow (python3-pil) takes the
# picture of its first page under Xvfb (scripts/build-installer.sh, scripts/test-installer.sh).
other_pkgs=(gcc-mingw-w64-x86-64 g++-mingw-w64-x86-64 binutils-mingw-w64-x86-64 mingw-w64-x86-64-dev wine wine64
  nsis osslsigncode python3-pil)
missing=()
for p in "${rust_pkgs[@]}" "${other_pkgs[@]}"; do installed "$p" || missing+=("$p"); done
if ((${#missing[@]})); then
  echo "setup-windows: installing ${missing[*]}"
  apt_get update -q
  # The five Rust packages must be one version (bookworm-security's; bookworm's own 1.85 has no std sources).
  v="$(apt-cache policy rustc-web | sed -n 's/^ *Candidate: *//p')"
  case "$v" in
    "" | "(none)" | 1.[0-8]*)
      echo "setup-windows: rustc-web >= 1.90 is needed (bookworm-security); apt offers '${v:-nothing}'" >&2
      exit 1
      ;;
  esac
  apt_get install -y -q --no-install-recommends "${rust_pkgs[@]/%/=$v}" "${other_pkgs[@]}"
fi

# shellcheck source=scripts/windows-env.sh
. scripts/windows-env.sh
shim="$WINEPREFIX/drive_c/windows/system32/bcryptprimitives.dll"
if [ ! -f "$shim" ]; then
  echo "setup-windows: creating the wine prefix $WINEPREFIX"
  mkdir -p "$WINEPREFIX"
  wineboot -i >/dev/null 2>&1 || true
  wineserver -w || true
  d="$(mktemp -d)"
  cat >"$d/b.c" <<'C'
#include <windows.h>
/* wine 8 lacks bcryptprimitives.dll; Rust's std needs only ProcessPrng, which RtlGenRandom provides. */
BOOLEAN WINAPI SystemFunction036(PVOID buf, ULONG len);
__declspec(dllexport) BOOL WINAPI ProcessPrng(PBYTE data, SIZE_T len) {
    while (len > 0) {
        ULONG c = len > 0x10000000 ? 0x10000000 : (ULONG)len;
        if (!SystemFunction036(data, c)) return FALSE;
        data += c;
        len -= c;
    }
    return TRUE;
}
C
  printf 'LIBRARY bcryptprimitives.dll\nEXPORTS\nProcessPrng\n' >"$d/b.def"
  x86_64-w64-mingw32-gcc -O2 -shared -s -o "$d/bcryptprimitives.dll" "$d/b.c" "$d/b.def" -ladvapi32
  cp "$d/bcryptprimitives.dll" "$shim"
  rm -rf "$d"
fi
echo "setup-windows: $(rustc --version), $(x86_64-w64-mingw32-gcc --version | head -n1), $(wine --version)"
