# Sourced by bench.sh, bench-hops.sh, bench-instr.sh and bench-memory.sh: a
# fresh lipad (one HTTP thread) and sandbox on loopback, with
# LIPA_BENCH_CALLERS callers (default 1000: +254700000000 to
# +254700000999), one meter each, stopped when the sourcing script exits.
# Sets lp, sp and NPHONES (exported: the benchmark script spreads its
# sessions over that many callers).
LIPA_BENCH_DEPS=1 tools/deps.sh
export LIPA_PORT=${LIPA_PORT:-8181} LIPA_SANDBOX_PORT=${LIPA_SANDBOX_PORT:-9191}
. tools/env.sh
# One HTTP thread: on 2 cores that share with wrk and the anchor, a second
# thread adds contention, not throughput (measured; docs/performance.md).
export LIPA_DB=var/bench.db LIPA_THREADS=${LIPA_THREADS:-1}
rm -f var/bench.db var/bench.db-wal var/bench.db-shm var/bench.db-intake.0 var/bench.db-intake.1
export NPHONES=${LIPA_BENCH_CALLERS:-1000}
bin/lipa-seed bench "$NPHONES"
# the sandbox stands in for remote providers: it only gets idle CPU
chrt -i 0 bin/lipa-sandbox --port "$LIPA_SANDBOX_PORT" --tuya-any-device --callback-delay-ms 2000 > var/bench-sandbox.log 2>&1 &
sp=$!
# LIPA_BENCH_WRAP: a command lipad runs under (make bench-instr: valgrind)
${LIPA_BENCH_WRAP:-} bin/lipad 2> var/bench-lipad.log &
lp=$!
# a lipad that does not stop on SIGTERM is killed, and said so (so a run
# of benchmarks does not hang on it)
running() { local s; s=$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null) && [ -n "$s" ] && [ "$s" != Z ]; }
stop_bench() {
  kill $lp $sp 2>/dev/null || true
  for _ in $(seq 100); do running $lp || break; sleep 0.1; done
  if running $lp; then echo "bench: lipad did not stop within 10 s of SIGTERM; killed" >&2; kill -9 $lp; fi
  wait 2>/dev/null
}
trap stop_bench EXIT
wait_http "$sandbox/sandbox/health"
wait_http "http://127.0.0.1:$LIPA_PORT/api/health" "${LIPA_BENCH_WRAP:+600}"
