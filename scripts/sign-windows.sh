#!/usr/bin/env bash
# Signs one Windows program (an .exe or .dll, setup.exe included) in place with Authenticode,
# using Debian's osslsigncode and the certificate in CXR_SIGN_PFX (a PKCS#12 file) with the
# password in CXR_SIGN_PASSWORD; CXR_SIGN_TIMESTAMP_URL, when set, adds a timestamp (needs that
# server). scripts/build-installer.sh calls it for each file, and makensis for the uninstaller.
#
#   CXR_SIGN_PFX=cert.pfx CXR_SIGN_PASSWORD=… bash scripts/sign-windows.sh FILE
set -euo pipefail
file="${1:?usage: sign-windows.sh FILE}"
: "${CXR_SIGN_PFX:?CXR_SIGN_PFX names the .pfx to sign with}"
[ -f "$CXR_SIGN_PFX" ] || {
  echo "sign-windows: CXR_SIGN_PFX=$CXR_SIGN_PFX does not exist" >&2
  exit 1
}
command -v osslsigncode >/dev/null || {
  echo "sign-windows: osslsigncode is missing (apt-get install osslsigncode)" >&2
  exit 1
}
ts=()
[ -z "${CXR_SIGN_TIMESTAMP_URL:-}" ] || ts=(-ts "$CXR_SIGN_TIMESTAMP_URL")
# osslsigncode writes a new file (it will not overwrite one); the signed bytes go back in place.
tmpdir="$(mktemp -d)"
tmp="$tmpdir/signed"
pass="$tmpdir/pass"
trap 'rm -rf "$tmpdir"' EXIT
# The password from a file, not the command line (which other users' ps can read).
(umask 077 && printf '%s' "${CXR_SIGN_PASSWORD:-}" >"$pass")
# The signature's program name: the product name, from where it is defined.
name="$(python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))["productName"])' \
  "$(dirname "${BASH_SOURCE[0]}")/../src-tauri/tauri.conf.json")"
osslsigncode sign -pkcs12 "$CXR_SIGN_PFX" -readpass "$pass" -h sha256 -n "$name" "${ts[@]}" \
  -in "$file" -out "$tmp" >/dev/null
cat "$tmp" >"$file"
echo "sign-windows: signed $file"
