#!/usr/bin/env bash
# make bench: lipad against the sandbox with LIPA_BENCH_CALLERS callers
# (default 1000: +254700000000 to +254700000999), one meter each, driven by
# the benchmark's run.sh (in LIPA_BENCH_DIR) side by side with the Node.js
# anchor; the sessions are spread over all those callers. Figures go to
# docs/performance.md by hand, with the date.
set -euo pipefail
cd "$(dirname "$0")/.."
bench_dir=${LIPA_BENCH_DIR:-../shared/bench}
[ -x "$bench_dir/run.sh" ] || { echo "bench: $bench_dir/run.sh not found (set LIPA_BENCH_DIR)" >&2; exit 2; }
. tools/bench-start.sh
echo "callers: $NPHONES"
"$bench_dir/run.sh" "http://127.0.0.1:$LIPA_PORT" | tee var/bench-run.txt
# The script draws fresh session ids each round, so every hop is a new
# session; round 1 is the one that starts with lipad's memory empty.
awk '/^round 1:/ {s=$4} /^median:/ {a=$(NF-4)} END {if (s && a) printf "round 1 / anchor median: %.2f\n", s/a}' var/bench-run.txt
echo "hops answered as repeats: $(grep -c 'ussd.repeat' var/bench-lipad.log || true)"
echo "lipad VmHWM (peak RSS): $(awk '/^VmHWM/ {print $2, $3}' /proc/$lp/status)"
