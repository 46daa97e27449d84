#!/usr/bin/env bash
# make run: the demo on a fresh machine. Seeds a few callers with meters,
# starts the bundled provider sandbox and lipad, prints the admin key and
# how to dial. Ctrl-C stops both.
set -euo pipefail
cd "$(dirname "$0")/.."
. tools/env.sh
bin/lipa-seed demo
bin/lipa-sandbox --port "$LIPA_SANDBOX_PORT" --tuya-any-device --paystack-settle-ms 5000 > var/sandbox.log 2>&1 &
sandbox_pid=$!
trap 'kill $sandbox_pid 2>/dev/null || true' EXIT
wait_http "$sandbox/sandbox/health"
bin/lipad 2> >(trap '' INT TERM; exec tee -a var/lipad.log >&2) &
lipad_pid=$!
trap 'kill $lipad_pid 2>/dev/null; wait $lipad_pid 2>/dev/null; kill $sandbox_pid 2>/dev/null || true' EXIT
wait_http "http://127.0.0.1:$LIPA_PORT/api/health"
cat <<MSG

  lipa is running on http://127.0.0.1:$LIPA_PORT (providers: sandbox on $sandbox)
  admin key:  $LIPA_ADMIN_KEY   (also in var/secrets.env)

  dial as a demo caller:   bin/lipa-dial +254712345678      (English, two meters)
                           bin/lipa-dial +254722000111      (Kiswahili)
  then: 1 (buy electricity), 1 (first meter), 100 (KES), 1 (confirm);
  the token SMS arrives in the dialer a few seconds later.

  try the API:  curl -H "Authorization: Bearer \$LIPA_ADMIN_KEY" http://127.0.0.1:$LIPA_PORT/devices
  logs: var/lipad.log, var/sandbox.log.  Ctrl-C stops.
MSG
wait $lipad_pid
