#!/usr/bin/env bash
# The reliability and abuse suite with its figures: what docs/RELIABILITY.md reports, repeatable.
#
#   bash scripts/reliability.sh [--no-fuzz] [--no-tls-scan] [fuzz-seconds-per-target]   (default 300)
#
#   1. builds the headless binary (the flood test runs it as its own process), then runs the fault
#      and abuse tests (tests/tests/faults.rs, tests/tests/abuse.rs) one at a time with their output,
#      and collects every `FIGURE | scenario | figure` line they print;
#   2. the fuzz targets for a bounded time (scripts/fuzz.sh);
#   3. the TLS scan with testssl.sh (scripts/tls-scan.sh).
# The fault and abuse tests also run in `bash scripts/test.sh` (CI); fuzzing and the TLS scan take
# longer and run only here. Figures are written to target/reliability/figures.txt. Exits non-zero if
# any part fails.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

fuzz=1
scan=1
secs=300
for a in "$@"; do
  case "$a" in
    --no-fuzz) fuzz=0 ;;
    --no-tls-scan) scan=0 ;;
    [0-9]*) secs="$a" ;;
    *)
      echo "usage: bash scripts/reliability.sh [--no-fuzz] [--no-tls-scan] [fuzz-seconds-per-target]" >&2
      exit 2
      ;;
  esac
done

# shellcheck source=scripts/common.sh
. scripts/common.sh
ensure_base
export CARGO_TERM_COLOR=never RUST_BACKTRACE=1

target_dir="$(cargo metadata --format-version 1 --no-deps | sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p')"
out="${target_dir:-$PWD/target}/reliability"
mkdir -p "$out"
started=$SECONDS

echo "==== fault and abuse tests (one at a time, with figures)"
cargo build -p cxr-gate-core --bin cxr-gate-proxy
set +e
cargo test -p cxr-gate-tests --test faults --test abuse -- --nocapture --test-threads 1 2>&1 | tee "$out/tests.log"
tests_rc=${PIPESTATUS[0]}
set -e
{
  echo "# $(date -u +%Y-%m-%dT%H:%MZ) on $(nproc) cores, $(uname -r), $(rustc --version)"
  grep -o 'FIGURE | .*' "$out/tests.log" | sed 's/^FIGURE | //'
  grep -E '^test .* \.\.\. (ok|FAILED)$|^test result:' "$out/tests.log"
} >"$out/figures.txt"

fuzz_rc=0
if [ "$fuzz" = 1 ]; then
  echo "==== fuzzing, ${secs}s per target"
  bash scripts/fuzz.sh "$secs" || fuzz_rc=$?
fi

scan_rc=0
if [ "$scan" = 1 ]; then
  echo "==== TLS scan"
  bash scripts/tls-scan.sh || scan_rc=$?
fi

echo
echo "==== figures ($out/figures.txt)"
cat "$out/figures.txt"
printf '\n==== tests: %s, fuzzing: %s, TLS scan: %s; %dm%02ds\n' \
  "$([ "$tests_rc" = 0 ] && echo pass || echo FAIL)" \
  "$([ "$fuzz" = 0 ] && echo skipped || { [ "$fuzz_rc" = 0 ] && echo pass || echo FAIL; })" \
  "$([ "$scan" = 0 ] && echo skipped || { [ "$scan_rc" = 0 ] && echo pass || echo FAIL; })" \
  $(((SECONDS - started) / 60)) $(((SECONDS - started) % 60))
[ "$tests_rc" = 0 ] && [ "$fuzz_rc" = 0 ] && [ "$scan_rc" = 0 ]
