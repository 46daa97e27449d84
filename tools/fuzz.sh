#!/usr/bin/env bash
# Runs each fuzz target of a FUZZ=1 build (make fuzz) for FUZZ_SECONDS
# seconds, one after the other, at nice 10, and prints libFuzzer's own
# figures for each: executions per second, coverage (cov: edges, ft:
# features) and the corpus size.
#
#   tools/fuzz.sh build/fuzz form phone ...
#
# Inputs: the kept corpus tests/fuzz/corpus/NAME/ (seeds and merged units)
# and the kept crashes tests/fuzz/crashes/NAME/, both read only. What the
# fuzzer finds goes to a scratch corpus, build/fuzz/corpus/NAME/, which
# persists between runs (git ignores build/). A crash, leak, timeout or
# out-of-memory input lands in build/fuzz/artifacts/NAME/ and fails the
# run; once the bug is fixed, move that file to tests/fuzz/crashes/NAME/,
# where make check replays it forever.
#
# FUZZ_MERGE=1 then folds the scratch corpus into the kept one with
# libFuzzer's -merge=1, kept small: the hand-written seeds (seed-*) stay,
# and only units that reach code beyond them are kept besides. The merge
# counts edges, not how often each ran (-use_counters=0): with hit counts a
# target keeps several hundred units, without them a few dozen, which is
# what make check replays.
set -uo pipefail
cd "$(dirname "$0")/.."
build=${1:-build/fuzz}
shift
secs=${FUZZ_SECONDS:-30}
merge=${FUZZ_MERGE:-0}
failed=()
mkdir -p "$build/logs"
# the targets' temporary databases: a crash leaves its directory behind,
# here rather than in /tmp, and the next run clears them
TMPDIR=$(cd "$build" && pwd)/tmp
export TMPDIR
rm -rf "$TMPDIR"
mkdir -p "$TMPDIR"
for t in "$@"; do
  bin=$build/fuzzers/$t
  kept=tests/fuzz/corpus/$t
  crashes=tests/fuzz/crashes/$t
  scratch=$build/corpus/$t
  art=$build/artifacts/$t
  log=$build/logs/$t.log
  mkdir -p "$scratch" "$art"
  inputs=("$scratch")
  [ -d "$kept" ] && inputs+=("$kept")
  [ -d "$crashes" ] && inputs+=("$crashes")
  opts=(-max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 -artifact_prefix="$art/")
  [ -f "tests/fuzz/$t.dict" ] && opts+=(-dict="tests/fuzz/$t.dict")
  echo "== $t: ${secs}s (log: $log)"
  nice -n 10 "$bin" "${opts[@]}" "${inputs[@]}" >"$log" 2>&1
  rc=$?
  # libFuzzer's last status line: "#runs DONE cov: N ft: N corp: N/size ... exec/s: N"
  grep -E '^#[0-9]+' "$log" | tail -n 1
  if [ "$rc" -ne 0 ]; then
    failed+=("$t")
    grep -E '^(==[0-9]+==ERROR|SUMMARY|fuzz: )' "$log" | head -n 5
    echo "!! $t failed (exit $rc); the input is in $art/:"
    ls -1 "$art"
    echo "   reproduce: $bin $art/<file>; fix the bug, then move the file to $crashes/"
    continue
  fi
  if [ "$merge" = 1 ]; then
    tmp=$build/merge/$t
    rm -rf "$tmp"
    mkdir -p "$tmp" "$kept"
    cp "$kept"/seed-* "$tmp"/ 2>/dev/null
    if nice -n 10 "$bin" -merge=1 -use_counters=0 -timeout=10 -rss_limit_mb=2048 "$tmp" "$kept" "$scratch" \
      >"$log.merge" 2>&1; then
      find "$kept" -maxdepth 1 -type f ! -name '.*' -delete
      cp "$tmp"/* "$kept"/
      echo "   kept corpus: $(find "$kept" -maxdepth 1 -type f ! -name '.*' | wc -l) files"
    else
      echo "!! $t: merge failed (log: $log.merge); kept corpus unchanged"
      failed+=("$t")
    fi
  fi
done
if [ ${#failed[@]} -gt 0 ]; then
  echo "fuzz: failed: ${failed[*]}"
  exit 1
fi
echo "fuzz: ${#@} targets, no crash"
