#!/usr/bin/env bash
# Fuzzes CXR Gate's request-head handling, path-routing parser, routing allowlist and WebSocket Close
# watcher with cargo-fuzz (libFuzzer + ASan)
# for a bounded time per target, then prints a summary. Everything runs in-process: no sockets.
#
#   bash scripts/fuzz.sh [seconds-per-target]      (default 300)
#   FUZZ_TARGETS="ws_close route" bash scripts/fuzz.sh 60    (only these targets)
#
# Targets (fuzz/fuzz_targets/, entry points in tests/fuzzing/src/lib.rs):
#   http_head  arbitrary bytes as one whole client connection through the real HTTP layer (head
#              deadline, hyper, CORS, pages, upgrade validation, routing, tunnel forward); checks no
#              panic, an HTTP/1.x answer, and no dial to a target outside the allowlist.
#   route      arbitrary request targets through the routing parser (classify/route) and its invariants.
#   allowlist  arbitrary allowlist entries and ip:port targets through the matcher (AllowedBackend)
#              and its invariants (normal form parses back; what it allows is in its network and ports).
#   ws_close   arbitrary bytes as one direction of a session through the tunnel's Close watcher
#              (proxy::wsclose), either side, each extension rule: the same verdict whole, byte by
#              byte and cut (wsclose::check_feeding); no panic.
#
# What it does:
#   1. installs cargo-fuzz from crates.io if missing (`cargo install cargo-fuzz --locked`) and a C++
#      compiler from Debian if missing (libFuzzer is C++);
#   2. builds with the machine's stable toolchain: cargo-fuzz passes nightly-only flags (-Zsanitizer,
#      -Cpasses=sancov), which RUSTC_BOOTSTRAP=1 lets stable rustc accept — no nightly is downloaded;
#   3. per target: fresh working corpus fuzz/corpus/<target> from fuzz/seeds/<target> and
#      fuzz/regressions/<target> (FUZZ_KEEP_CORPUS=1 keeps and extends the previous one), then
#      `-max_total_time=N -timeout=10 -rss_limit_mb=2048` with the dictionary fuzz/http.dict;
#      the full libFuzzer log goes to fuzz/artifacts/<target>.log;
#   4. prints executions, exec/s, coverage (edges) and features, corpus size, peak RSS and crashes per
#      target; exits non-zero if any target crashed, timed out or ran out of memory, naming the input
#      libFuzzer saved under fuzz/artifacts/<target>/. Reproduce one with
#      `RUSTC_BOOTSTRAP=1 cargo fuzz run --fuzz-dir fuzz <target> <file>`; keep it as a regression
#      test by copying it to fuzz/regressions/<target>/<descriptive-name> (tests/tests/fuzz_regressions.rs).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

secs="${1:-300}"
case "$secs" in
  '' | *[!0-9]*)
    echo "usage: bash scripts/fuzz.sh [seconds-per-target]" >&2
    exit 2
    ;;
esac
read -ra targets <<<"${FUZZ_TARGETS:-http_head route allowlist ws_close}"
# The fuzzed engine's data dir (its certificate) lives as long as the fuzzing process: sweep them.
trap 'rm -rf "${TMPDIR:-/tmp}"/cxr-gate-fuzz-*' EXIT

export CARGO_TERM_COLOR=never
# shellcheck source=scripts/common.sh
. scripts/common.sh
ensure_base

if ! command -v c++ >/dev/null 2>&1; then
  apt_get update -q
  apt_get install -y -q --no-install-recommends g++
fi
if ! cargo fuzz --version >/dev/null 2>&1; then
  cargo install cargo-fuzz --locked
fi
export RUSTC_BOOTSTRAP=1

cargo fuzz build --fuzz-dir fuzz

summary=()
failed=()
for t in "${targets[@]}"; do
  corpus="fuzz/corpus/$t"
  artifacts="fuzz/artifacts/$t"
  log="fuzz/artifacts/$t.log"
  [ "${FUZZ_KEEP_CORPUS:-0}" = 1 ] || rm -rf "$corpus"
  mkdir -p "$corpus" "$artifacts"
  cp fuzz/seeds/"$t"/* "$corpus"/
  find "fuzz/regressions/$t" -type f ! -name README.md -exec cp {} "$corpus"/ \;
  before=$(find "$artifacts" -type f | sort)

  echo "==== fuzzing $t for ${secs}s (log: $log)"
  rc=0
  cargo fuzz run --fuzz-dir fuzz "$t" "$corpus" -- \
    -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 -dict=fuzz/http.dict \
    -print_final_stats=1 -artifact_prefix="$artifacts/" >"$log" 2>&1 || rc=$?

  # The last status line ("#N DONE cov: E ft: F corp: C/S ...") holds the coverage figures.
  status=$(grep -E '^#[0-9]+' "$log" | tail -n 1 || true)
  field() { sed -nE "s/.* $1: ([^ ]+).*/\\1/p" <<<"$status"; }
  stat() { sed -nE "s/^stat::$1: *([0-9]+).*/\\1/p" "$log" | tail -n 1; }
  new_artifacts=$(comm -13 <(echo "$before") <(find "$artifacts" -type f | sort) | grep -v '^$' || true)
  crashes=$(grep -c . <<<"$new_artifacts" || true)
  summary+=("$(printf '%-10s execs %-10s exec/s %-6s cov %-6s ft %-7s corpus %-12s peak-rss %-6s crashes %s' \
    "$t" "$(stat number_of_executed_units)" "$(stat average_exec_per_sec)" "$(field cov)" "$(field ft)" \
    "$(field corp)" "$(stat peak_rss_mb)MB" "$crashes")")
  if [ "$rc" -ne 0 ] || [ "$crashes" -gt 0 ]; then
    failed+=("$t (exit $rc): ${new_artifacts:-no input saved, see $log}")
  fi
done

echo
echo "==== fuzz summary (${secs}s per target; corpus = inputs/bytes)"
printf '%s\n' "${summary[@]}"
if [ "${#failed[@]}" -gt 0 ]; then
  echo
  echo "FAILED — crashing inputs (full reports in fuzz/artifacts/<target>.log):" >&2
  printf '  %s\n' "${failed[@]}" >&2
  exit 1
fi
echo "no crashes"
