#!/usr/bin/env bash
# The Windows stage of scripts/test.sh, on Debian 12 (see scripts/setup-windows.sh for the kit):
# cross-builds for x86_64-pc-windows-gnu and runs the Windows build under wine.
#
#   bash scripts/test-windows.sh            # every step below, in order
#   bash scripts/test-windows.sh STEP...    # clippy | tests | firewall | proxy | desktop | gui | installer | release
#
#   clippy   clippy -D warnings for the Windows target, every crate, all targets
#   tests    under wine: the unit tests of core, the desktop crate and the test library, and the
#            black-box tests that make sense on Windows (list and exclusions below)
#   firewall the Windows Firewall read through COM and IP Helper (a view, or "could not read the
#            firewall", and how long it took; under wine the service is a stub), a socket found with
#            its owning program, the ACL read, and `cxr-gate.exe firewall-fix` (the elevated fix,
#            the installer's call) refusing bad arguments with exit 2 and the reason, and under
#            wine failing a change with exit 1 and a result file that says why
#   proxy    the release cxr-gate-proxy.exe: --version, and a wss:// session through it end to end
#            on loopback (the cli test's session, pointed at the release binary)
#   desktop  cxr-gate.exe (the debug build, which reuses the test build): the resources the
#            installers ship it with (icon, version info, manifest), and `--version` under wine
#   gui      cxr-gate.exe as a user runs it, where its window cannot open: wine has no WebView2.
#            tests/tests/no_window.rs under wine, in a loopback-only network namespace with an Xvfb
#            and a wine prefix of its own: a wss:// session through the app, the log naming the
#            missing WebView2, still running 10 s later, a clean stop on a console Ctrl-C
#   installer the Windows installer (scripts/build-installer.sh: makensis, from the debug cxr-gate.exe
#            and the release cxr-gate-proxy.exe): PE32+ with the crate's version, signing with a
#            throwaway certificate, then under wine in a loopback-only namespace with a prefix and
#            an Xvfb of its own (scripts/test-installer.sh): the wizard's first page as a picture,
#            silent install, upgrade over a running older version, the installed app serving
#            wss://, silent uninstall with and without the remove-data flag
#   release  (not in the default list; scripts/build-windows.sh) the release cxr-gate-proxy.exe and
#            cxr-gate.exe in one build, with the GUI subsystem checked too
#
# Wine runs Windows programs on Linux's network stack: Windows-only socket behaviour does not show
# here (the engine's tests cover it by design, see core/src/connector.rs and core/src/net/ports.rs).
#
# On Windows itself (Git Bash, as in .github/workflows/release.yml) the same steps run natively:
# no cross kit, no wine, the host toolchain; `desktop` is left to the installer build there.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
export CI="${CI:-true}"
case "$(uname -s)" in
  MINGW* | MSYS* | CYGWIN*)
    native=1
    TARGET=()
    OUT="${CARGO_TARGET_DIR:-target}"
    RUN=()
    CLIPPY=(cargo clippy)
    winpath() { cygpath -w "$1"; }
    ;;
  *)
    native=0
    # shellcheck source=scripts/windows-env.sh
    . scripts/windows-env.sh
    # No debug info for the dependencies either (windows-env.sh turns it off for the workspace):
    # Cargo.toml's line tables for them are a package override, which no environment variable reaches.
    TARGET=(--target "$WIN_TARGET" --config 'profile.dev.package."*".debug=false')
    OUT="$CARGO_TARGET_DIR/$WIN_TARGET"
    RUN=(wine)
    # Debian's clippy: the cargo-clippy that `cargo clippy` would find first is rustup's.
    CLIPPY=(/usr/bin/cargo-clippy clippy)
    winpath() { winepath -w "$1"; }
    ;;
esac

# Black-box tests run under wine (tests/tests/*.rs and core/tests/cli.rs). webapp makes its link
# cases as junctions (cmd /c mklink /J) and file symlinks; where it cannot (wine 8's cmd makes
# neither), it prints that it skips those cases, which core's unit tests check as plain functions.
BLACK_BOX=(--test engine --test netcheck --test fuzz_regressions --test faults --test abuse --test security --test webapp)
# Excluded by name, each with its reason. Never a silent pass: these are not run on Windows here.
SKIP=(
  # Timing bounds (every tunnel closed within fall x interval + 1 s, 20 SIGKILL restarts of a
  # runtime under 200 tunnels): a timing scenario, and killing/restarting a process under wine
  # measures wine. Runs on Linux in the Linux stage.
  --skip runtime_restarts_close_every_tunnel_and_recover_without_leaks
  # Timing bound (shutdown with 500 tunnels under 2 s): a timing scenario. Linux stage.
  --skip shutdown_with_500_open_tunnels_is_quick
  # Timing bounds (500 slow connections closed at the 10 s head timeout, +/- 250 ms). Linux stage.
  --skip slowloris_gets_408_at_the_head_timeout_while_others_are_served
  # Timing and memory bounds under 2000 connections (p99 < 2.5 s, RSS growth): a timing scenario.
  --skip a_connection_flood_is_answered_fast_with_bounded_memory_and_service_resumes
  # Timing bounds (the 10 s TLS handshake deadline counted from the accept: closed at 9.5-12.5 s).
  # Linux stage.
  --skip the_tls_handshake_has_one_deadline_first_byte_included
)
# Not run on Windows (clippy above still compiles them for it): browser, browser_netcheck,
# browser_ca and browser_webapp (Debian's Chromium and chromedriver, and Linux's NSS database),
# desktop (the Linux app through tauri-driver and WebKitWebDriver; the Windows app needs the
# WebView2 runtime, which wine lacks), trust (checks the served chain with Debian's openssl, a Linux
# program), container (podman), lan_netns (Linux
# network namespaces; it compiles to nothing elsewhere), check_health and manifests (the container's
# probe and the Kubernetes manifests: Linux deployments), adb (its fake adb server splits each
# command line with mksh, as a headset's shell would), browser_adb (Debian's Chromium behind the
# fake's forward) and installer (the .nsi's firewall-fix lines against the parser: plain text, the
# same on every platform; the `installer` step runs the real setup.exe). no_window runs in the
# `gui` step (it needs an X display and a network namespace of its own).

# A console control event (the cli test's clean stop) needs a console, which wine gives a program
# whose stdin is a terminal: `script` provides one; the output goes to a log, printed afterwards.
with_console() {
  if [ "$native" = 1 ]; then
    "$@"
    return
  fi
  local log cmd rc=0
  log="$(mktemp)"
  cmd="$(mktemp)"
  # script(1) runs its command with $SHELL, which CI leaves unset (so /bin/sh, dash): printf %q
  # quotes a multi-line argument as $'…', which only bash reads. So bash runs it from a file.
  { printf '%q ' "$@"; printf '>%q 2>&1\n' "$log"; } >"$cmd"
  script -qec "/bin/bash $cmd" /dev/null </dev/null || rc=$?
  cat "$log"
  rm -f "$log" "$cmd"
  return "$rc"
}

step() { printf '\n---- windows: %s   [+%ds]\n' "$*" "$SECONDS"; }

do_clippy() {
  step "clippy ${TARGET[*]} --workspace --all-targets -D warnings"
  "${CLIPPY[@]}" "${TARGET[@]}" --workspace --all-targets -- -D warnings
}

# The desktop crate's test binary loads WebView2Loader.dll, which its build leaves one level up
# (windows-gnu; the MSVC build links the loader statically).
copy_webview_loader() {
  local dll
  dll="$(find "$OUT/debug" -maxdepth 1 -name WebView2Loader.dll -print -quit 2>/dev/null || true)"
  if [ -n "$dll" ]; then
    cp -f "$dll" "$OUT/debug/deps/"
  elif [ "$native" = 0 ]; then
    echo "WebView2Loader.dll not found in $OUT/debug" >&2
    return 1
  fi
}

# One package and target selection for building and running (and the debug cxr-gate.exe): cargo
# picks dependency features per invocation, dev-dependencies included, so a single selection
# builds each dependency once.
PKGS=(-p cxr-gate-core -p cxr-gate -p cxr-gate-tests)
SEL=("${PKGS[@]}" --lib --bins --test cli "${BLACK_BOX[@]}")

do_tests() {
  step "build the test binaries"
  cargo test "${TARGET[@]}" "${SEL[@]}" --no-run
  copy_webview_loader
  local more_skips=()
  # Wine's GetProcessHandleCount is a stub (0 handles), which sys.rs reports as "not measurable";
  # the handle count is checked on Windows itself (the release workflow runs this natively).
  [ "$native" = 1 ] || more_skips=(--skip sys::tests::handles_are_counted_and_move)
  step "under wine: unit tests (core, desktop, test library) and black-box tests (cli, ${BLACK_BOX[*]//--test /}) minus the timing scenarios"
  with_console cargo test "${TARGET[@]}" "${SEL[@]}" --no-fail-fast -- "${SKIP[@]}" "${more_skips[@]}"
}

do_firewall() {
  step "the firewall read (COM, the network list, adapters, socket tables), timed; a socket found with its program; the ACL read"
  # The read test prints the figure (20 s is only its hang guard); the listener test binds a TCP
  # and a UDP socket and finds this test program as their owner, as the Runtime's would be found.
  # The desktop crate's test binary needs WebView2Loader.dll beside it (when `tests` did not run first).
  cargo test "${TARGET[@]}" "${SEL[@]}" --no-run
  copy_webview_loader
  cargo test "${TARGET[@]}" "${SEL[@]}" -- --exact --nocapture \
    firewall::tests::the_firewall_read_answers_or_says_why_without_hanging \
    firewall::winnet::tests::a_listener_is_found_with_its_program \
    firewall::elevation::tests::the_acl_read_answers_for_this_program
  step "cxr-gate.exe firewall-fix refuses bad arguments: exit 2 and the reason, nothing changed"
  cargo build "${TARGET[@]}" "${PKGS[@]}" --bins --test cli "${BLACK_BOX[@]}"
  local exe="$OUT/debug/cxr-gate.exe" args out rc
  for args in "firewall-fix" "firewall-fix --add proxy=0" "firewall-fix --add signaling=49100" \
    "firewall-fix --install-rules --remove-rules" "firewall-fix --allow X=tcp:1"; do
    rc=0
    # shellcheck disable=SC2086 # the words of each case are its arguments
    out="$("${RUN[@]}" "$exe" $args </dev/null 2>&1 | tr -d '\r')" || rc=$?
    echo "cxr-gate.exe $args -> exit $rc: $out"
    [ "$rc" = 2 ] && grep -q "^cxr-gate firewall-fix: " <<<"$out" || {
      echo "expected exit 2 and a 'cxr-gate firewall-fix: ' message" >&2
      return 1
    }
  done
  # The installer's call and the window's fix: wine cannot create firewall rules, so the change
  # fails (exit 1), and the result file (what the window shows) says so with the exact error.
  step "cxr-gate.exe firewall-fix --install-rules / --add: exit 1 under wine, the result file names the error; a refusal's too"
  local res
  res="$(mktemp -d)"
  for args in "--install-rules --media" "--add proxy=48322 --add media=47998-48012" "--remove-rules --media"; do
    rc=0
    # shellcheck disable=SC2086 # the words of each case are its arguments
    out="$("${RUN[@]}" "$exe" firewall-fix $args --result "$(winpath "$res")\\result.txt" </dev/null 2>&1 | tr -d '\r')" || rc=$?
    echo "cxr-gate.exe firewall-fix $args -> exit $rc: $out"
    [ -f "$res/result.txt" ] || {
      echo "no result file was written" >&2
      return 1
    }
    sed 's/^/  result file: /' "$res/result.txt"
    if [ "$args" = "--remove-rules --media" ]; then
      # A refusal reaches the caller's result file too.
      [ "$rc" = 2 ] && head -n1 "$res/result.txt" | grep -qx "CXR Gate firewall-fix: refused (exit 2)" || {
        echo "expected exit 2 and a result file saying the arguments were refused" >&2
        return 1
      }
    elif [ "$native" = 0 ]; then
      [ "$rc" = 1 ] && head -n1 "$res/result.txt" | grep -qx "CXR Gate firewall-fix: failed (exit 1)" &&
        grep -q "^cxr-gate firewall-fix: could not change the firewall (" "$res/result.txt" || {
        echo "expected exit 1 and a result file saying the change failed, with the error" >&2
        return 1
      }
    fi
    rm -f "$res/result.txt"
  done
  rm -rf "$res"
}

do_proxy() {
  step "release cxr-gate-proxy.exe"
  cargo build --release "${TARGET[@]}" -p cxr-gate-core --bin cxr-gate-proxy
  local exe="$OUT/release/cxr-gate-proxy.exe"
  local want
  want="$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -n1)"
  local got
  got="$("${RUN[@]}" "$exe" --version | tr -d '\r')"
  echo "wine cxr-gate-proxy.exe --version: $got"
  [ "$got" = "cxr-gate-proxy $want" ] || {
    echo "expected cxr-gate-proxy $want" >&2
    return 1
  }
  step "a wss:// session through the release cxr-gate-proxy.exe, stopped by a console event"
  # The cli test's end-to-end session (a real TLS WebSocket client, an echo backend, a clean stop),
  # with the release binary instead of the debug one; all of it on 127.0.0.1.
  CXR_GATE_PROXY_BIN="$(winpath "$exe")" with_console cargo test "${TARGET[@]}" "${SEL[@]}" -- \
    --exact serves_a_real_wss_client_end_to_end_and_stops_cleanly_when_asked --nocapture
}

# Checks a built cxr-gate.exe: the resources tauri-build embeds (icon, version info, manifest),
# optionally the GUI subsystem (release builds), and `--version` under wine.
check_desktop_exe() {
  local exe="$1" gui="$2" want types strings8 strings16 got
  want="$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -n1)"
  file "$exe"
  if [ "$gui" = gui ] && ! file "$exe" | grep -q "(GUI)"; then
    echo "$exe is not a GUI-subsystem program" >&2
    return 1
  fi
  # The resource types at the top of .rsrc: 3 icon, 0xe group icon, 0x10 version, 0x18 manifest.
  types="$(x86_64-w64-mingw32-objdump -x "$exe" | sed -n 's/^0[0-9a-f][0-9a-f]   Entry: ID: 0x\([0-9a-f]*\),.*/\1/p')"
  for t in 000003:icon 00000e:group-icon 000010:version-info 000018:manifest; do
    grep -qx "${t%%:*}" <<<"$types" || {
      echo "$exe has no ${t#*:} resource (types: $(echo "$types" | tr '\n' ' '))" >&2
      return 1
    }
  done
  strings8="$(strings "$exe")"
  strings16="$(strings -el "$exe")"
  grep -q 'name="Microsoft.Windows.Common-Controls"' <<<"$strings8" || {
    echo "the manifest lacks the Common-Controls v6 dependency (Tauri's dialogs need it)" >&2
    return 1
  }
  for s in ProductName "CXR Gate" FileVersion "$want"; do
    grep -qF "$s" <<<"$strings16" || {
      echo "the version info lacks '$s'" >&2
      return 1
    }
  done
  echo "resources: icon, version info (CXR Gate $want), manifest (Common-Controls v6)"
  # --version needs no WebView (WebView2Loader.dll is beside it all the same).
  got="$(wine "$exe" --version </dev/null 2>&1 | tr -d '\r' | grep -v '^$' | tail -n1)"
  echo "wine $(basename "$exe") --version: $got"
  [ "$got" = "cxr-gate $want" ] || {
    echo "expected cxr-gate $want" >&2
    return 1
  }
}

do_desktop() {
  [ "$native" = 0 ] || {
    echo "desktop: on Windows the installer build makes and checks cxr-gate.exe" >&2
    return 2
  }
  # The debug build shares every dependency with the test build: only the link is new. The
  # release build (GUI subsystem) is `release` below, in scripts/build-windows.sh.
  step "cxr-gate.exe: icon, version info, manifest; --version under wine"
  cargo build "${TARGET[@]}" "${PKGS[@]}" --bins --test cli "${BLACK_BOX[@]}"
  check_desktop_exe "$OUT/debug/cxr-gate.exe" console
}

# The no_window test binary (built by the gui and installer steps' selection), by cargo's report.
no_window_binary() {
  local bin
  bin="$(cargo test "${TARGET[@]}" "${PKGS[@]}" --bins --test cli "${BLACK_BOX[@]}" --test no_window --no-run \
    --message-format=json 2>/dev/null | python3 -c '
import json, sys
for line in sys.stdin:
    m = json.loads(line)
    if m.get("target", {}).get("name") == "no_window" and m.get("executable"):
        print(m["executable"])')"
  [ -f "$bin" ] || {
    echo "the no_window test binary was not found" >&2
    return 1
  }
  echo "$bin"
}

# A prefix of its own, so that its wineserver (which makes wine's sockets) starts inside the
# namespace: one another run shares would make them outside; and what a test installs stays in it.
# Hard links except the registry (wine writes files anew; the registry it rewrites in place).
own_prefix() {
  cp -al "$WINEPREFIX" "$1"
  for f in "$WINEPREFIX"/*.reg; do cp --remove-destination "$f" "$1/"; done
}

# An X display number nobody uses.
free_display() {
  local i
  for i in $(seq 150 250); do
    [ -e "/tmp/.X11-unix/X$i" ] || [ -e "/tmp/.X$i-lock" ] || {
      echo ":$i"
      return
    }
  done
  echo "no free X display in :150-:250" >&2
  return 1
}

# The GUI exe without WebView2 (tests/tests/no_window.rs says what it checks). Its message box
# stays open on a thread of its own while the test goes on; the stop ends the process with it.
do_gui() {
  [ "$native" = 0 ] || {
    echo "gui: on Windows, run tests/tests/no_window.rs with cargo test (it injects the failure there)" >&2
    return 2
  }
  step "cxr-gate.exe without WebView2 under wine: serves wss://, explains, keeps running, stops on Ctrl-C"
  cargo build "${TARGET[@]}" "${PKGS[@]}" --bins --test cli "${BLACK_BOX[@]}" --test no_window
  local exe="$OUT/debug/cxr-gate.exe" testbin tmp display rc=0
  [ -f "$OUT/debug/WebView2Loader.dll" ] || {
    echo "WebView2Loader.dll is not beside $exe" >&2
    return 1
  }
  testbin="$(no_window_binary)" || return 1
  tmp="$(mktemp -d)"
  own_prefix "$tmp/prefix"
  display="$(free_display)"
  CXR_GATE_APP="$(winpath "$exe")" WINEPREFIX="$tmp/prefix" with_console unshare -n bash -c '
    set -u
    ip link set lo up
    Xvfb "$1" -nolisten tcp >/dev/null 2>&1 &
    x=$!
    for _ in $(seq 200); do [ -e "/tmp/.X11-unix/X${1#:}" ] && break; sleep 0.1; done
    rc=0
    DISPLAY="$1" wine "$2" --nocapture || rc=$?
    wineserver -k 2>/dev/null || true
    kill "$x" 2>/dev/null || true
    exit "$rc"' gui "$display" "$testbin" || rc=$?
  rm -rf "$tmp"
  return "$rc"
}

# The installer (installer/windows/cxr-gate.nsi), built and then used under wine by
# scripts/test-installer.sh (which says what it checks).
do_installer() {
  [ "$native" = 0 ] || {
    echo "installer: on Windows the release workflow installs the published setup.exe natively" >&2
    return 2
  }
  step "installer: setup.exe (makensis) from the debug cxr-gate.exe and the release cxr-gate-proxy.exe"
  # The desktop/gui and proxy steps' builds: nothing is compiled again after them.
  cargo build "${TARGET[@]}" "${PKGS[@]}" --bins --test cli "${BLACK_BOX[@]}" --test no_window
  cargo build --release "${TARGET[@]}" -p cxr-gate-core --bin cxr-gate-proxy
  local testbin version tmp new old built picture display rc=0 f
  testbin="$(no_window_binary)" || return 1
  version="$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -n1)"
  [ "$version" != 0.0.0 ] || {
    echo "installer: the crate version is 0.0.0; the upgrade test needs a lower one" >&2
    return 1
  }
  tmp="$(mktemp -d)"
  # Uncompressed: the debug cxr-gate.exe is 136 MB, which zlib packs in about a minute (lzma in
  # several) into a file nobody downloads; stored, it takes 2 s (the release's installer is lzma).
  built="$(CXR_INSTALLER_COMPRESSION=none bash scripts/build-installer.sh --app debug)"
  echo "$built"
  grep -q "^build-installer: UNSIGNED" <<<"$built" || {
    echo "installer: an unsigned build does not say so" >&2
    return 1
  }
  new="$(tail -n1 <<<"$built")"
  if [ "$new" != "$CARGO_TARGET_DIR/installer/cxr-gate_${version}_x64-setup.exe" ] || [ ! -f "$new" ]; then
    echo "installer: the script's last line is not target/windows/installer/cxr-gate_${version}_x64-setup.exe: $new" >&2
    return 1
  fi
  file "$new"
  file "$new" | grep -q "PE32+ executable (GUI) x86-64" || {
    echo "installer: $new is not a 64-bit Windows program" >&2
    return 1
  }
  # The installer's own version resource (in its .rsrc section, not in the programs it carries).
  python3 - "$new" "$version" <<'PY' || return 1
import re, struct, sys
b = open(sys.argv[1], "rb").read()
pe = struct.unpack_from("<I", b, 0x3C)[0]
count, opt = struct.unpack_from("<H", b, pe + 6)[0], struct.unpack_from("<H", b, pe + 20)[0]
for i in range(count):
    s = pe + 24 + opt + 40 * i
    if b[s:s + 8].rstrip(b"\0") == b".rsrc":
        size, offset = struct.unpack_from("<II", b, s + 16)
        rsrc = b[offset:offset + size].decode("utf-16-le", "replace")
        break
else:
    sys.exit("installer: no .rsrc section")
for key in ("FileVersion", "ProductVersion"):
    m = re.search(key + "\0+([^\0]*)", rsrc)
    if not m or m.group(1) != sys.argv[2]:
        sys.exit(f"installer: its version resource's {key} is {m.group(1) if m else None!r}, not {sys.argv[2]!r}")
PY
  echo "setup.exe: PE32+, version resource $version, $(du -h "$new" | cut -f1)"

  step "installer: an older version (0.0.0) signed with a throwaway certificate (osslsigncode)"
  openssl req -x509 -newkey rsa:2048 -nodes -keyout "$tmp/sign.key" -out "$tmp/sign.pem" -days 1 \
    -subj "/CN=CXR Gate test signing" -addext "extendedKeyUsage=codeSigning" 2>/dev/null
  openssl pkcs12 -export -inkey "$tmp/sign.key" -in "$tmp/sign.pem" -out "$tmp/sign.pfx" -passout pass:throwaway
  built="$(CXR_INSTALLER_VERSION=0.0.0 CXR_INSTALLER_COMPRESSION=none CXR_SIGN_PFX="$tmp/sign.pfx" \
    CXR_SIGN_PASSWORD=throwaway bash scripts/build-installer.sh --app debug)"
  echo "$built"
  old="$(tail -n1 <<<"$built")"
  for f in "$old" "$CARGO_TARGET_DIR"/installer/stage-debug-0.0.0/*; do
    osslsigncode verify -CAfile "$tmp/sign.pem" -in "$f" >/dev/null || {
      echo "installer: $f is not signed" >&2
      return 1
    }
  done
  echo "signed and verified: $(basename "$old") and $(find "$CARGO_TARGET_DIR/installer/stage-debug-0.0.0" -type f -printf '%f ')"
  if osslsigncode verify -CAfile "$tmp/sign.pem" -in "$new" >/dev/null 2>&1; then
    echo "installer: the unsigned build verifies as signed" >&2
    return 1
  fi

  step "installer: under wine (scripts/test-installer.sh), loopback-only namespace, own prefix and Xvfb"
  picture="$CARGO_TARGET_DIR/installer/installer.png"
  [ "${CXR_GATE_SCREENSHOTS:-}" != docs ] || picture="$PWD/docs/installer.png"
  own_prefix "$tmp/prefix"
  display="$(free_display)"
  WINEPREFIX="$tmp/prefix" with_console unshare -n bash scripts/test-installer.sh \
    "$display" "$new" "$old" "$testbin" "$tmp/sign.pem" "$picture" || rc=$?
  # The older version was for this test only (each build takes about 300 MB with its stage).
  rm -rf "$tmp" "$old" "$CARGO_TARGET_DIR/installer/stage-debug-0.0.0"
  return "$rc"
}

do_release() {
  [ "$native" = 0 ] || {
    echo "release: on Windows the installer build makes the release binaries" >&2
    return 2
  }
  step "release cxr-gate-proxy.exe and cxr-gate.exe (one build, shared dependencies)"
  cargo build --release "${TARGET[@]}" -p cxr-gate-core --bin cxr-gate-proxy -p cxr-gate --bin cxr-gate
  check_desktop_exe "$OUT/release/cxr-gate.exe" gui
  local want got
  want="$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -n1)"
  got="$(wine "$OUT/release/cxr-gate-proxy.exe" --version </dev/null | tr -d '\r')"
  echo "wine cxr-gate-proxy.exe --version: $got"
  [ "$got" = "cxr-gate-proxy $want" ]
}

steps=("$@")
if [ ${#steps[@]} -eq 0 ]; then
  steps=(clippy tests firewall proxy)
  [ "$native" = 1 ] || steps+=(desktop gui installer)
fi
for s in "${steps[@]}"; do
  case "$s" in
    clippy) do_clippy ;;
    tests) do_tests ;;
    firewall) do_firewall ;;
    proxy) do_proxy ;;
    desktop) do_desktop ;;
    gui) do_gui ;;
    installer) do_installer ;;
    release) do_release ;;
    *)
      echo "unknown step '$s' (clippy, tests, firewall, proxy, desktop, gui, installer, release)" >&2
      exit 2
      ;;
  esac
done
[ "$native" = 1 ] || wineserver -k 2>/dev/null || true
