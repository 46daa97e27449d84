#!/usr/bin/env bash
# make bench: lipad against the sandbox with LIPA_BENCH_CALLERS callers
# (default 1000: +254700000000 to +254700000999), one meter each, driven by
# the side-by-side USSD benchmark kit (its run.sh, against the usual Node.js
# way) found in LIPA_BENCH_DIR; the sessions are spread over all those
# callers. Today's figures go to docs/performance.md by hand.
set -euo pipefail
cd "$(dirname "$0")/.."
bench_dir=${LIPA_BENCH_DIR:-}
[ -n "$bench_dir" ] && [ -x "$bench_dir/run.sh" ] ||
  { echo "bench: set LIPA_BENCH_DIR to the benchmark kit's folder (the one with run.sh)" >&2; exit 2; }
. tools/bench-start.sh
echo "callers: $NPHONES"
"$bench_dir/run.sh" "http://127.0.0.1:$LIPA_PORT" | tee var/bench-run.txt
# The script draws fresh session ids each round, so every hop is a new
# session; round 1 is the one that starts with lipad's memory empty.
awk '/^round 1:/ {s=$4} /^median:/ {a=$(NF-4)} END {if (s && a) printf "round 1 / anchor median: %.2f\n", s/a}' var/bench-run.txt
echo "hops answered as repeats: $(grep -c 'ussd.repeat' var/bench-lipad.log || true)"
echo "lipad VmHWM (peak RSS): $(awk '/^VmHWM/ {print $2, $3}' /proc/$lp/status)"
# The floor, when the kit has it (floor.c): libmicrohttpd answering every
# hop with one fixed screen, no state, one thread like lipad's HTTP thread,
# through the same run.sh on the same machine right after, lipad stopped.
# It tells how fast this machine is this hour: a p99 the floor itself
# misses is not lipad's to meet. LIPA_BENCH_FLOOR=0 leaves it out.
if [ "${LIPA_BENCH_FLOOR:-1}" != 0 ] && [ -f "$bench_dir/floor.c" ]; then
  stop_bench
  # shellcheck disable=SC2046 # pkg-config's flags are separate words
  cc -O2 "$bench_dir/floor.c" $(pkg-config --cflags --libs libmicrohttpd) -o var/bench-floor
  fport=$((LIPA_PORT + 1))
  var/bench-floor "$fport" 1 & fp=$!
  trap 'kill $fp 2>/dev/null || true' EXIT
  wait_http "http://127.0.0.1:$fport/"
  echo "floor (the kit's floor.c, one thread), the same run.sh:"
  "$bench_dir/run.sh" "http://127.0.0.1:$fport" | sed 's/^/  /' | tee var/bench-floor.txt
  awk '/^median:/ && FNR == NR {l=$3} /median:/ && FNR != NR {f=$3} END {if (l && f) printf "lipad / floor (median hops/s): %.2f\n", l/f}' \
    var/bench-run.txt var/bench-floor.txt
fi
