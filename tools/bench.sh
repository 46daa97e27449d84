#!/usr/bin/env bash
# make bench: lipad against the sandbox with callers +254700000000 to
# +254700000999 (one meter each), driven by the side-by-side USSD benchmark
# kit (its run.sh, against the usual Node.js way) found in LIPA_BENCH_DIR.
# Today's figures go to docs/performance.md by hand.
set -euo pipefail
cd "$(dirname "$0")/.."
bench_dir=${LIPA_BENCH_DIR:-}
[ -n "$bench_dir" ] && [ -x "$bench_dir/run.sh" ] ||
  { echo "bench: set LIPA_BENCH_DIR to the benchmark kit's folder (the one with run.sh)" >&2; exit 2; }
. tools/bench-start.sh
"$bench_dir/run.sh" "http://127.0.0.1:$LIPA_PORT" | tee var/bench-run.txt
# The script's random numbers are never seeded, so rounds 2 and 3 repeat
# round 1's requests and lipad answers those as repeats (README, Speed):
# round 1 alone is the figure for new sessions.
awk '/^round 1:/ {s=$4} /^median:/ {a=$(NF-4)} END {if (s && a) printf "round 1 (new sessions only) / anchor median: %.2f\n", s/a}' var/bench-run.txt
echo "hops answered as repeats: $(grep -c 'ussd.repeat' var/bench-lipad.log || true)"
