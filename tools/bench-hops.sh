#!/usr/bin/env bash
# make bench-hops: the benchmark's sessions against a fresh lipad, with
# latency by hop (bin/lipa-hoplat), to see which hop makes the tail, and
# after each round where lipad spent it: CPU and run-queue wait per hop of
# each of its threads (from /proc/<pid>/task/*: utime + stime, schedstat),
# what it wrote to the disk (write_bytes of /proc/<pid>/io) and its RSS. A
# measurement aid, not the benchmark: `make bench` gives the figures that
# go to docs/performance.md. Env: CONNECTIONS (32), SECONDS_EACH (6),
# ROUNDS (3), PAUSE (0: seconds idle between rounds; make bench's rounds
# have the reference's round between them), LIPA_BENCH_CALLERS (1000: how
# many callers the sessions are spread over), HOPS (5; 4 leaves out the
# hop that buys).
set -euo pipefail
cd "$(dirname "$0")/.."
. tools/bench-start.sh
tck=$(getconf CLK_TCK)
# one line per lipad thread: name, CPU ticks, run-queue wait (ns)
threads() {
  local t
  for t in /proc/"$lp"/task/*; do
    printf '%s %s %s\n' "$(tr ' ' _ < "$t/comm")" "$(awk '{print $14 + $15}' "$t/stat")" \
      "$(awk '{print $2}' "$t/schedstat" 2>/dev/null || echo 0)"
  done
}
written() { awk '/^write_bytes/ {print $2}' /proc/"$lp"/io; }
for i in $(seq "${ROUNDS:-3}"); do
  [ "$i" -gt 1 ] && sleep "${PAUSE:-0}"
  before=$(threads) wb=$(written)
  out=$(bin/lipa-hoplat --port "$LIPA_PORT" --connections "${CONNECTIONS:-32}" --seconds "${SECONDS_EACH:-6}" \
    --callers "$NPHONES" --hops "${HOPS:-5}")
  after=$(threads) wa=$(written)
  echo "round $i:"
  echo "$out"
  n=$(echo "$out" | awk '$1 == "all" {sub("n=", "", $2); print $2}')
  echo "  lipad wrote $(( (wa - wb) / 1024 )) KiB to the disk; VmRSS $(awk '/^VmRSS/ {print $2, $3}' /proc/"$lp"/status)"
  # threads of the same name (the HTTP threads) are added up
  awk -v n="$n" -v t="$tck" '
    FNR == NR {c0[$1] += $2; w0[$1] += $3; next}
    {c1[$1] += $2; w1[$1] += $3}
    END {
      for (k in c1) {
        d = c1[k] - c0[k]
        if (d > 0) printf "  %-16s %6.1f us CPU a hop, %5.1f us waiting for a core\n", k, d / t * 1e6 / n, (w1[k] - w0[k]) / 1000 / n
      }
    }' <(echo "$before") <(echo "$after") | sort
done
