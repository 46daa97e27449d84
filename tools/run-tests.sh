#!/usr/bin/env bash
# Runs every test binary of a build (unit runners, then the end-to-end
# suite against the real lipad and sandbox) and prints one closing line.
set -uo pipefail
cd "$(dirname "$0")/.."
build=${1:-build/san}
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
export LIPA_TEST_BIN=${LIPA_TEST_BIN:-$build/bin}
passed=0 failed=0
for t in "$build"/tests/check_* "$build"/tests/run_e2e; do
  [ -x "$t" ] || continue
  echo "== $(basename "$t")"
  out=$("$t" 2>&1); rc=$?
  echo "$out" | grep -vE '^[^:]+:[0-9]+:P:' | tail -n 40
  line=$(echo "$out" | grep -E '^[0-9]+%: Checks: ' | tail -n 1)
  checks=$(echo "$line" | sed -E 's/.*Checks: ([0-9]+).*/\1/'); fails=$(echo "$line" | sed -E 's/.*Failures: ([0-9]+), Errors: ([0-9]+).*/\1+\2/')
  if [ -z "$line" ]; then failed=$((failed + 1)); echo "!! $(basename "$t") printed no Check summary (exit $rc)"; continue; fi
  nf=$((fails)); passed=$((passed + checks - nf)); failed=$((failed + nf))
  [ "$rc" -ne 0 ] && [ "$nf" -eq 0 ] && { failed=$((failed + 1)); echo "!! $(basename "$t") exited $rc"; }
done
echo "tests: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
