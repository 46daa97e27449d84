#!/usr/bin/env bash
# make bench-instr: instructions per hop, counted rather than timed. lipad
# runs under valgrind's callgrind (one count per thread) while
# bin/lipa-hoplat sends the benchmark's sessions; counting starts after a
# warm-up round, so callers are cached and the tables full as in make
# bench. A count does not move with the VM's speed, which swings by a fifth
# from one quarter hour to the next: this compares two builds where timing
# cannot tell them apart (docs/performance.md); the HTTP thread's count is
# the steady one, the workers' follow what reached them in the counted
# window (M-Pesa's callbacks come 2 s after a push). It says nothing of the
# kernel's share (system calls, TCP), about half of the HTTP thread's time.
# Under callgrind lipad is some 50 times slower, hence few connections.
# Env: CONNECTIONS (4), WARM (6: seconds before counting), SECONDS_EACH
# (12: seconds counted), LIPA_BENCH_CALLERS (1000), HOPS (5), TOP (15:
# functions listed, by their own instructions).
set -euo pipefail
cd "$(dirname "$0")/.."
LIPA_INSTR_DEPS=1 tools/deps.sh
out=$(mktemp -d) # callgrind writes a file per thread here
export LIPA_BENCH_WRAP="valgrind --tool=callgrind --separate-threads=yes --instr-atstart=no --callgrind-out-file=$out/cg"
. tools/bench-start.sh
trap 'stop_bench; rm -rf "$out"' EXIT
hoplat() {
  bin/lipa-hoplat --port "$LIPA_PORT" --connections "${CONNECTIONS:-4}" --seconds "$1" --callers "$NPHONES" \
    --hops "${HOPS:-5}"
}
hoplat "${WARM:-6}" > /dev/null
callgrind_control -i on "$lp" > /dev/null 2>&1
res=$(hoplat "${SECONDS_EACH:-12}")
callgrind_control -i off "$lp" > /dev/null 2>&1
# stopped here, not by bench-start's trap: callgrind writes its counts at exit
kill "$lp"
wait "$lp" 2>/dev/null || true
hops=$(awk '$1 == "all" {sub("n=", "", $2); print $2}' <<< "$res")
[ -n "$hops" ] && [ "$hops" -gt 0 ] || { echo "bench-instr: no hop answered" >&2; exit 1; }
head -1 <<< "$res"
echo "hops counted: $hops (lipad under callgrind, ${CONNECTIONS:-4} connections)"
# a thread is named by the first of these functions its counts hold
names="on_request:HTTP committer:committer purchase_work:w-payments topup_work:w-topups outbox_work:w-outbox
       text_work:w-text maintain_work:w-maintain paystack_work:w-paystack client_notice_work:w-notices"
total=0 http="" each=""
for f in "$out"/cg-*; do
  n=$(awk '/^totals:/ {print $2}' "$f")
  total=$((total + ${n:-0}))
  label=other
  for nm in $names; do
    if grep -q "${nm%%:*}\$" "$f"; then label=${nm#*:}; break; fi
  done
  [ "$label" = HTTP ] && http=$f
  each+="$label ${n:-0}"$'\n'
done
printf 'all threads: %d instructions per hop; by thread:\n' $((total / hops))
awk -v h="$hops" 'NF == 2 {c[$1] += $2} END {for (k in c) if (c[k] / h >= 100) printf "  %8.0f  %s\n", c[k] / h, k}' \
  <<< "$each" | sort -rn
[ -n "$http" ] || { echo "bench-instr: no HTTP thread in the counts" >&2; exit 1; }
n=$(awk '/^totals:/ {print $2}' "$http")
# libmicrohttpd zeroes each connection's pool before a request (memset,
# counted a byte at a time under valgrind): shown apart from the rest
ms=$(callgrind_annotate "$http" 2>/dev/null | awk '/memset/ && !m {gsub(",", "", $1); m = $1} END {print m + 0}')
printf 'HTTP thread: %d instructions per hop, %d of them libmicrohttpd'"'"'s memset of its pool\n' \
  $((n / hops)) $((${ms:-0} / hops))
echo "its costliest functions, own instructions per hop:"
callgrind_annotate "$http" 2>/dev/null | awk -v h="$hops" -v top="${TOP:-15}" '
  /^-+$/ {dash++; next} dash >= 3 && NF >= 3 && $1 ~ /^[0-9,]+$/ {
    gsub(",", "", $1); fn = $NF; if (fn ~ /^\[/) fn = $(NF - 1)
    sub(/.*\//, "", fn); if (fn != "TOTALS" && k++ < top) printf "  %8.0f  %s\n", $1 / h, fn }'
