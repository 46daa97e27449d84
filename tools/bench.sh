#!/usr/bin/env bash
# make bench: lipad against the sandbox with callers +254700000000 to
# +254700000999 (one meter each), driven by shared/bench/run.sh side by side
# with the Node.js anchor. Figures go to README.md by hand, with the date.
set -euo pipefail
cd "$(dirname "$0")/.."
LIPA_BENCH_DEPS=1 tools/deps.sh
bench_dir=${LIPA_BENCH_DIR:-../shared/bench}
[ -x "$bench_dir/run.sh" ] || { echo "bench: $bench_dir/run.sh not found (set LIPA_BENCH_DIR)" >&2; exit 2; }
export LIPA_PORT=${LIPA_PORT:-8181} LIPA_SANDBOX_PORT=${LIPA_SANDBOX_PORT:-9191}
. tools/env.sh
# One HTTP thread: on 2 cores that share with wrk and the anchor, a second
# thread adds contention, not throughput (measured; see README).
export LIPA_DB=var/bench.db LIPA_THREADS=${LIPA_THREADS:-1}
rm -f var/bench.db var/bench.db-wal var/bench.db-shm
bin/lipa-seed bench 1000
# the sandbox stands in for remote providers: it only gets idle CPU
chrt -i 0 bin/lipa-sandbox --port "$LIPA_SANDBOX_PORT" --tuya-any-device --callback-delay-ms 2000 > var/bench-sandbox.log 2>&1 &
sp=$!
bin/lipad 2> var/bench-lipad.log &
lp=$!
trap 'kill $lp $sp 2>/dev/null || true; wait 2>/dev/null' EXIT
wait_http "$sandbox/sandbox/health"
wait_http "http://127.0.0.1:$LIPA_PORT/api/health"
"$bench_dir/run.sh" "http://127.0.0.1:$LIPA_PORT" | tee var/bench-run.txt
# The script's random numbers are never seeded, so rounds 2 and 3 repeat
# round 1's requests and lipad answers those as repeats (README, Speed):
# round 1 alone is the figure for new sessions.
awk '/^round 1:/ {s=$4} /^median:/ {a=$(NF-4)} END {if (s && a) printf "round 1 (new sessions only) / anchor median: %.2f\n", s/a}' var/bench-run.txt
echo "hops answered as repeats: $(grep -c 'ussd.repeat' var/bench-lipad.log || true)"
