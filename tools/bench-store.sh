#!/usr/bin/env bash
# make bench-store: CPU per stored purchase through the group commit, for
# group sizes 1, 4, 8 and 16, each on a freshly seeded database of 1 000
# callers (bin/lipa-storebench). Figures go to docs/performance.md by hand.
set -euo pipefail
cd "$(dirname "$0")/.."
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
export LIPA_MIGRATIONS=${LIPA_MIGRATIONS:-db}
LIPA_DB=$dir/seed.db bin/lipa-seed bench 1000 >/dev/null 2>&1
for per in 1 4 8 16; do
  rm -f "$dir"/run.db*
  cp "$dir/seed.db" "$dir/run.db"
  LIPA_DB=$dir/run.db bin/lipa-storebench "${N:-20000}" "$per" 2>/dev/null
done
