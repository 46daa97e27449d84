#!/usr/bin/env bash
# make bench-hops: the benchmark's sessions against a fresh lipad, with
# latency by hop (bin/lipa-hoplat), to see which hop makes the tail. A
# measurement aid, not the benchmark: `make bench` gives the figures that
# go to docs/performance.md. Env: CONNECTIONS (32), SECONDS_EACH (6),
# ROUNDS (3), LIPA_BENCH_CALLERS (1000: how many callers the sessions are
# spread over), HOPS (5; 4 leaves out the hop that buys).
set -euo pipefail
cd "$(dirname "$0")/.."
. tools/bench-start.sh
for i in $(seq "${ROUNDS:-3}"); do
  echo "round $i:"
  bin/lipa-hoplat --port "$LIPA_PORT" --connections "${CONNECTIONS:-32}" --seconds "${SECONDS_EACH:-6}" --callers "$NPHONES" --hops "${HOPS:-5}"
done
