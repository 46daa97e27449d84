#!/usr/bin/env bash
# make bench-memory: lipad's resident memory under a flood of distinct
# callers, and after it. A fresh lipad and sandbox (tools/bench-start.sh);
# bin/lipa-hoplat --sweep sends SWEEP sessions, each from a caller number
# not used before, of HOPS hops each (a new sessionId on every hop, as in
# the benchmark); then lipad's VmRSS is read from /proc right after, and
# every 15 s until WAIT seconds later, when the sessions and callers of the
# sweep have expired (both are kept a minute after their last use; the
# maintenance worker drops them every few seconds).
# Env: SWEEP (1000000), HOPS (2), FIRST (10000000: numbers from
# +254710000000, which no bench seed holds, so unknown callers; FIRST=0 with
# LIPA_BENCH_CALLERS=1000000 sweeps a million seeded callers), WAIT (75),
# CONNECTIONS (32), LIPA_BENCH_CALLERS (1000).
set -euo pipefail
cd "$(dirname "$0")/.."
. tools/bench-start.sh
wait_s=${WAIT:-75}
status() { awk -v k="$1" '$1 == k":" {print $2, $3}' "/proc/$lp/status"; }
echo "lipad VmRSS at start: $(status VmRSS) (anonymous: $(status RssAnon))"
bin/lipa-hoplat --port "$LIPA_PORT" --connections "${CONNECTIONS:-32}" --sweep "${SWEEP:-1000000}" \
  --first "${FIRST:-10000000}" --hops "${HOPS:-2}"
echo "lipad VmRSS after the sweep: $(status VmRSS) (anonymous: $(status RssAnon); peak VmHWM $(status VmHWM))"
curl -s "http://127.0.0.1:$LIPA_PORT/metrics" | grep -E '^lipa_(ussd_sessions|callers|memory)' || true
for t in $(seq 15 15 "$wait_s"); do
  sleep 15
  echo "lipad VmRSS ${t} s later: $(status VmRSS) (anonymous: $(status RssAnon))"
done
