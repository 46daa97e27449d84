#!/usr/bin/env bash
# Runs every test binary of a build (unit runners, the replay of every kept
# fuzz input, then the end-to-end suite against the real lipad and sandbox,
# whose answers are then checked against the OpenAPI document),
# on SQLite and then on PostgreSQL, and prints one closing line.
set -uo pipefail
cd "$(dirname "$0")/.."
build=${1:-build/san}
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
export LIPA_TEST_BIN=${LIPA_TEST_BIN:-$build/bin}
passed=0 failed=0
pg_mode=${LIPA_TEST_PG:-}
unset LIPA_TEST_PG # the first pass is on SQLite
# run NAME COMMAND...: one runner that ends with a Check summary line
run() {
  local name=$1
  shift
  echo "== $name"
  out=$("$@" 2>&1); rc=$?
  echo "$out" | grep -vE '^[^:]+:[0-9]+:P:' | tail -n 40
  line=$(echo "$out" | grep -E '^[0-9]+%: Checks: ' | tail -n 1)
  checks=$(echo "$line" | sed -E 's/.*Checks: ([0-9]+).*/\1/'); fails=$(echo "$line" | sed -E 's/.*Failures: ([0-9]+), Errors: ([0-9]+).*/\1+\2/')
  if [ -z "$line" ]; then failed=$((failed + 1)); echo "!! $name printed no Check summary (exit $rc)"; return; fi
  nf=$((fails)); passed=$((passed + checks - nf)); failed=$((failed + nf))
  [ "$rc" -ne 0 ] && [ "$nf" -eq 0 ] && { failed=$((failed + 1)); echo "!! $name exited $rc"; }
}
for t in "$build"/tests/check_*; do
  [ -x "$t" ] && run "$(basename "$t")" "$t"
done
# the fuzz targets' kept inputs (tests/fuzz/): every corpus and crash file
for t in "$build"/tests/fuzz_*; do
  [ -x "$t" ] || continue
  n=${t##*/fuzz_}
  dirs=(tests/fuzz/corpus/"$n")
  [ -d tests/fuzz/crashes/"$n" ] && dirs+=(tests/fuzz/crashes/"$n")
  run "$(basename "$t")" "$t" "${dirs[@]}"
done
# The journeys on SQLite record every answer lipad gives them, and the
# answers are then held against docs/openapi.json's schemas (a real JSON
# Schema validator, tools/openapi/check-responses.mjs): one check more.
if [ -x "$build/tests/run_e2e" ]; then
  record=$PWD/$build/e2e-record
  rm -rf "$record" && mkdir -p "$record"
  LIPA_TEST_RECORD=$record run run_e2e "$build/tests/run_e2e"
  echo "== openapi responses"
  if out=$(tools/openapi/npm.sh 2>&1 && node tools/openapi/check-responses.mjs "$record" 2>&1); then
    passed=$((passed + 1))
  else
    failed=$((failed + 1))
  fi
  echo "$out" | tail -n 40
fi
# Once more on PostgreSQL: the unit runners that open a store (their
# source uses tests/support/testdb.h) and every journey, against a
# throwaway cluster (tools/pg.sh) that is removed afterwards; each test
# gets a database of its own in it. LIPA_TEST_PG=skip leaves this out.
if [ "$pg_mode" != skip ]; then
  pgdir=$(mktemp -d "${TMPDIR:-/tmp}/lipa-pg-XXXXXX")
  trap 'tools/pg.sh stop "$pgdir" >/dev/null 2>&1 || true' EXIT
  if uri=$(tools/pg.sh start "$pgdir"); then
    export LIPA_TEST_PG=$uri LIPA_TEST_PG_DIR=$pgdir # the dir: for the test that restarts the server
    for src in tests/unit/check_*.c; do
      grep -q 'support/testdb.h' "$src" || continue
      t=$build/tests/$(basename "$src" .c)
      [ -x "$t" ] && run "$(basename "$t") on postgresql" "$t"
    done
    [ -x "$build/tests/run_e2e" ] && run "run_e2e on postgresql" "$build/tests/run_e2e"
  else
    failed=$((failed + 1))
    echo "!! no PostgreSQL for the second pass (tools/pg.sh start failed)"
  fi
fi
echo "tests: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
