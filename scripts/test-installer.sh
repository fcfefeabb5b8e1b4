#!/usr/bin/env bash
# The installer under wine, as a person and as IT use it (the `installer` step of
# scripts/test-windows.sh builds the two setup.exe and calls this inside `unshare -n`, a
# loopback-only network namespace, with a wine prefix and an X display of its own). Every step is
# judged by what is on disk and in the registry, never by an exit code: a wrong NSIS stub exits 0
# and installs nothing. The NSIS uninstaller copies itself to %TEMP% and returns at once, so each
# run is followed by `wineserver -w`.
#
#   1. the wizard (no /S): its first page, saved as a PNG and checked not blank
#   2. an older version (signed with a throwaway certificate) installed with /S /AUTOSTART=1, then
#      started as a user starts it: the installed uninstall.exe carries the signature
#   3. the current version installed over it with /S: the running app was closed (its process
#      gone), one Apps & features entry at the new version, the CA unchanged, the files, the
#      Start-menu shortcut's target, the autostart entry as the app writes it, the install log's
#      firewall line (wine cannot create firewall rules: the step fails, the install completes)
#   4. the installed cxr-gate.exe serving a wss:// echo (tests/tests/no_window.rs, CXR_GATE_APP)
#   5. uninstall.exe /S: program, shortcuts, Uninstall key, autostart entry gone; data kept
#   6. install again and uninstall.exe /S /REMOVEDATA: the certificates and settings gone too
#
#   bash scripts/test-installer.sh DISPLAY NEW_SETUP OLD_SETUP NO_WINDOW_TEST CA_PEM PICTURE
set -euo pipefail
display="$1" new_setup="$2" old_setup="$3" testbin="$4" ca_pem="$5" picture="$6"
: "${WINEPREFIX:?a throwaway WINEPREFIX}"
# winemenubuilder would write desktop entries outside the prefix.
export WINEDLLOVERRIDES="winemenubuilder.exe=d;${WINEDLLOVERRIDES:-}"
export WINEDEBUG=-all DISPLAY="$display"

ip link set lo up
Xvfb "$display" -nolisten tcp -screen 0 1024x768x24 >/dev/null 2>&1 &
xvfb=$!
app_pid=""
cleanup() {
  [ -z "$app_pid" ] || kill "$app_pid" 2>/dev/null || true
  wineserver -k 2>/dev/null || true
  kill "$xvfb" 2>/dev/null || true
}
trap cleanup EXIT
for _ in $(seq 200); do [ -e "/tmp/.X11-unix/X${display#:}" ] && break; sleep 0.1; done

t0=$SECONDS
part() { printf -- '-- installer: %s   [+%ds]\n' "$*" $((SECONDS - t0)); }
fail() {
  echo "FAILED: $*" >&2
  exit 1
}
ok() { echo "ok: $*"; }

# Wine 8's prefixes say Windows 7; the installer wants 10 or 11 (and says so on 7).
wine winecfg -v win10 >/dev/null 2>&1 || fail "could not set the prefix to Windows 10"

winpath() { winepath -u "$1" 2>/dev/null; }
winenv() { wine cmd /c "echo %$1%" 2>/dev/null | tr -d '\r' | tail -n1; }
pf="$(winpath "$(winenv ProgramFiles)")/CXR Gate"
appdata="$(winpath "$(winenv APPDATA)")"
programdata="$(winpath "$(winenv ProgramData)")"
public="$(winpath "$(winenv PUBLIC)")"
if [ -z "$pf" ] || [ ! -d "$appdata" ]; then fail "could not read the prefix's folders ($pf, $appdata)"; fi
data="$appdata/CXR Gate"
settings="$appdata/io.cxrgate.desktop"
startmenu="$programdata/Microsoft/Windows/Start Menu/Programs/CXR Gate.lnk"
desktop="$public/Desktop/CXR Gate.lnk"
uninst_key='HKLM\Software\Microsoft\Windows\CurrentVersion\Uninstall\CXR Gate'
run_key='HKCU\Software\Microsoft\Windows\CurrentVersion\Run'
want_version="$(basename "$new_setup" | sed -n 's/^cxr-gate_\(.*\)_x64-setup\.exe$/\1/p')"
old_version="$(basename "$old_setup" | sed -n 's/^cxr-gate_\(.*\)_x64-setup\.exe$/\1/p')"

# A registry value's data ("" when absent): wine's reg.exe prints "    NAME    REG_SZ    DATA".
reg_value() {
  wine reg query "$1" /v "$2" 2>/dev/null | tr -d '\r' |
    sed -n "s/^ *$(printf '%s' "$2" | sed 's/[][\.*^$/]/\\&/g') *REG_[A-Z_]* *//p" | head -n1
}
reg_has_key() { wine reg query "$1" >/dev/null 2>&1; }
# How many Apps & features entries are called CXR Gate (per machine, 32-bit view, per user).
entries() {
  local k n=0
  for k in 'HKLM\Software\Microsoft\Windows\CurrentVersion\Uninstall' \
    'HKLM\Software\WOW6432Node\Microsoft\Windows\CurrentVersion\Uninstall' \
    'HKCU\Software\Microsoft\Windows\CurrentVersion\Uninstall'; do
    n=$((n + $(wine reg query "$k" /s 2>/dev/null | tr -d '\r' | grep -cE '^ *DisplayName +REG_SZ +CXR Gate$' || true)))
  done
  echo "$n"
}
# The target path of a .lnk (MS-SHLLINK: the LinkInfo's local base path).
lnk_target() {
  python3 - "$1" <<'PY'
import struct, sys
b = open(sys.argv[1], "rb").read()
assert struct.unpack_from("<I", b, 0)[0] == 0x4C, "not a shell link"
flags = struct.unpack_from("<I", b, 0x14)[0]
pos = 0x4C
if flags & 0x1:  # HasLinkTargetIDList
    pos += 2 + struct.unpack_from("<H", b, pos)[0]
if not flags & 0x2:  # HasLinkInfo
    sys.exit("no LinkInfo in the shortcut")
size, header, info_flags, _vol, base = struct.unpack_from("<IIIII", b, pos)
if header >= 0x24:
    ubase = struct.unpack_from("<I", b, pos + 0x1C)[0]
    s = b[pos + ubase:]
    print(s[: s.index(b"\0\0") + 1].decode("utf-16-le").rstrip("\0"))
else:
    s = b[pos + base:]
    print(s[: s.index(b"\0")].decode("latin-1"))
PY
}
install_log() { iconv -f UTF-16 -t UTF-8 "$pf/install.log" | tr -d '\r'; }
ca_fingerprint() { openssl x509 -in "$data/ca.pem" -noout -fingerprint -sha256 | cut -d= -f2; }
# Runs a setup or uninstall.exe and waits for every program of the prefix to end (the uninstaller
# goes on from a copy in %TEMP%).
run_wait() {
  local started=$SECONDS
  timeout 300 wine "$@" </dev/null >/dev/null 2>&1 || true
  timeout 120 wineserver -w || fail "$(basename "$1") ${*:2}: programs still running after it"
  echo "   ($(basename "$1") ${*:2}: $((SECONDS - started)) s)"
}

# ---- 1. the wizard's first page
part "the wizard's first page (setup.exe without /S) under Xvfb"
wine "$new_setup" </dev/null >/dev/null 2>&1 &
wizard=$!
# Debian's Python: python3-pil (scripts/setup-windows.sh) is installed for it.
/usr/bin/python3 - "$display" "$picture" <<'PY'
import sys, time
from PIL import ImageGrab, ImageStat
display, out = sys.argv[1], sys.argv[2]
deadline, last, same = time.time() + 90, None, 0
while time.time() < deadline:
    time.sleep(1)
    im = ImageGrab.grab(xdisplay=display)
    box = im.convert("L").point(lambda v: 255 if v else 0).getbbox()  # the window on a black root
    if not box or (box[2] - box[0]) < 300 or (box[3] - box[1]) < 200:
        continue
    shot = im.crop(box)
    # Drawn completely once two grabs a second apart are the same.
    same = same + 1 if last is not None and last.size == shot.size and list(last.getdata()) == list(shot.getdata()) else 0
    last = shot
    if same >= 1:
        break
else:
    sys.exit("the wizard did not show within 90 s")
stat = ImageStat.Stat(last.convert("L"))
colours = len(last.convert("RGB").getcolors(1 << 20) or [])
print(f"wizard page {last.size[0]}x{last.size[1]}, {colours} colours, grey level stddev {stat.stddev[0]:.1f}")
if colours < 16 or stat.stddev[0] < 10:
    sys.exit("the picture is blank")
last.save(out, optimize=True)
PY
kill "$wizard" 2>/dev/null || true
wineserver -k 2>/dev/null || true
wineserver -w 2>/dev/null || true
[ ! -e "$pf" ] || fail "the wizard, closed on its first page, installed something: $pf"
ok "first page saved: $picture"

# ---- 2. an older version, then started as a user starts it
part "install $old_version silently (/S /AUTOSTART=1), signed with a throwaway certificate"
run_wait "$old_setup" /S /AUTOSTART=1
[ "$(reg_value "$uninst_key" DisplayVersion)" = "$old_version" ] || fail "the Uninstall key does not say $old_version"
[ -f "$pf/uninstall.exe" ] || fail "no uninstall.exe in $pf"
osslsigncode verify -CAfile "$ca_pem" -in "$pf/uninstall.exe" >/dev/null || fail "the installed uninstall.exe is not signed"
ok "$old_version installed; its uninstall.exe (written by makensis) carries the signature"

part "start the installed $old_version as a user does (no flags; its own data directory)"
wine "$pf/cxr-gate.exe" </dev/null >/dev/null 2>&1 &
app_pid=$!
for _ in $(seq 240); do
  grep -q "tray: CXR Gate" "$data/cxr-gate.log" 2>/dev/null && [ -f "$data/ca.pem" ] && break
  kill -0 "$app_pid" 2>/dev/null || fail "the installed app exited: $(tail -n 20 "$data/cxr-gate.log" 2>/dev/null)"
  sleep 0.5
done
[ -f "$data/ca.pem" ] || fail "the app made no CA in $data: $(tail -n 20 "$data/cxr-gate.log" 2>/dev/null)"
fp_before="$(ca_fingerprint)"
ok "running (pid $app_pid), CA $fp_before"
# The installer's start-at-login entry is the app's own: its Settings toggle now says "on".
for _ in $(seq 40); do grep -q '"start_at_login": true' "$settings/settings.json" 2>/dev/null && break; sleep 0.25; done
grep -q '"start_at_login": true' "$settings/settings.json" 2>/dev/null ||
  fail "the app's Start at login setting does not follow the installer's entry: $(cat "$settings/settings.json" 2>/dev/null)"
ok "the app's Start at login setting follows the installer's entry (settings.json)"

# ---- 3. the current version over it
part "install $want_version silently over the running $old_version"
run_wait "$new_setup" /S
for _ in $(seq 40); do kill -0 "$app_pid" 2>/dev/null || break; sleep 0.25; done
kill -0 "$app_pid" 2>/dev/null && fail "the running $old_version was not closed"
wait "$app_pid" 2>/dev/null || true
app_pid=""
grep -q "CXR Gate was started with --quit" "$data/cxr-gate.log" || fail "the app was not closed by --quit: $(tail -n 5 "$data/cxr-gate.log")"
grep -q "CXR Gate stopped" "$data/cxr-gate.log" || fail "the app did not stop cleanly"
ok "the running app was closed cleanly by the installer's --quit (process gone)"
n="$(entries)"
[ "$n" = 1 ] || fail "$n Apps & features entries called CXR Gate (want 1)"
for v in DisplayName DisplayVersion Publisher UninstallString QuietUninstallString DisplayIcon EstimatedSize InstallLocation; do
  val="$(reg_value "$uninst_key" "$v")"
  [ -n "$val" ] || fail "the Uninstall key has no $v"
  echo "   $v = $val"
done
[ "$(reg_value "$uninst_key" DisplayVersion)" = "$want_version" ] || fail "DisplayVersion is not $want_version"
[ "$(reg_value "$uninst_key" QuietUninstallString)" = "\"C:\\Program Files\\CXR Gate\\uninstall.exe\" /S" ] ||
  fail "QuietUninstallString is not the uninstaller with /S"
ok "one Apps & features entry, at $want_version"
[ "$(ca_fingerprint)" = "$fp_before" ] || fail "the CA changed in the upgrade"
ok "the data directory's CA is unchanged"
for f in cxr-gate.exe WebView2Loader.dll cxr-gate-proxy.exe uninstall.exe install.log; do
  [ -f "$pf/$f" ] || fail "no $f in $pf"
done
cmp -s "$pf/cxr-gate.exe" "$(dirname "$new_setup")/stage-debug-$want_version/cxr-gate.exe" ||
  fail "$pf/cxr-gate.exe is not the $want_version build"
ok "program files: $(find "$pf" -mindepth 1 -printf '%f ')"
target="$(lnk_target "$startmenu")" || fail "no Start-menu shortcut at $startmenu"
[ "$target" = 'C:\Program Files\CXR Gate\cxr-gate.exe' ] || fail "the Start-menu shortcut points at '$target'"
[ -f "$desktop" ] || fail "no desktop shortcut at $desktop"
ok "Start-menu and desktop shortcuts point at $target"
run="$(reg_value "$run_key" "CXR Gate")"
[ "$run" = 'C:\Program Files\CXR Gate\cxr-gate.exe --minimized' ] || fail "the autostart entry reads '$run'"
ok "autostart entry kept by the upgrade, as the app writes it: $run"
install_log | sed 's/^/   install.log: /'
install_log | grep -q '^Firewall: NOT changed: ' || fail "the install log has no firewall line"
install_log | grep -q '^WebView2 Runtime: not found' || fail "the install log does not name the missing WebView2"
install_log | grep -q 'Done\.$' || fail "the install did not complete"
ok "the firewall step failed (wine) and said so; the install completed"

# ---- 4. the installed exe serves wss://
part "the installed cxr-gate.exe --demo serves a wss:// echo (tests/tests/no_window.rs)"
out="$(CXR_GATE_APP='C:\Program Files\CXR Gate\cxr-gate.exe' timeout 300 wine "$testbin" --exact \
  without_its_window_the_app_keeps_serving_explains_and_stops_cleanly --nocapture 2>&1 | tr -d '\r')" || true
grep -E '^(test |app under test|log: |test result)' <<<"$out" | sed 's/^/   /'
# Judged by the test's own report (a wine run's exit code alone is not enough).
grep -q '^test result: ok. 1 passed' <<<"$out" || fail "the installed app did not pass the no-window test:
$out"
timeout 120 wineserver -w || true

# ---- 5. uninstall, keeping the data
part "uninstall.exe /S: program, shortcuts, Uninstall key and autostart entry gone; data kept"
run_wait "$pf/uninstall.exe" /S
[ ! -e "$pf" ] || fail "$pf is still there: $(ls "$pf")"
if [ -e "$startmenu" ] || [ -e "$desktop" ]; then fail "a shortcut is left"; fi
reg_has_key "$uninst_key" && fail "the Uninstall key is left"
[ -z "$(reg_value "$run_key" "CXR Gate")" ] || fail "the autostart entry is left"
[ "$(ca_fingerprint)" = "$fp_before" ] || fail "the CA was not kept"
[ -d "$settings" ] || fail "the settings folder was not kept"
iconv -f UTF-16 -t UTF-8 "$(winpath "$(winenv TEMP)")/cxr-gate-uninstall.log" | tr -d '\r' | sed 's/^/   uninstall log: /'
ok "uninstalled; the certificates and settings are kept"

# ---- 6. with the remove-data flag
part "install again, then uninstall.exe /S /REMOVEDATA: the certificates and settings go too"
run_wait "$new_setup" /S
[ -f "$pf/cxr-gate.exe" ] || fail "the second install wrote nothing"
run_wait "$pf/uninstall.exe" /S /REMOVEDATA
[ ! -e "$pf" ] || fail "$pf is still there"
if [ -e "$data" ] || [ -e "$settings" ]; then fail "the data ($data) or the settings ($settings) are left"; fi
entries_left="$(entries)"
[ "$entries_left" = 0 ] || fail "$entries_left Apps & features entries left"
ok "uninstalled with /REMOVEDATA: nothing of CXR Gate is left"
part "done"
