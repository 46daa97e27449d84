#!/usr/bin/env bash
# make run: the demo on a fresh machine. Seeds a few callers with meters,
# starts the bundled provider sandbox and lipad, prints the admin key and
# how to dial. Ctrl-C stops both.
set -euo pipefail
cd "$(dirname "$0")/.."
. tools/env.sh

# The demo integrator: a client, its key and a package, made once per
# database and kept in var/demo-client.env (a key is shown only once).
demo_client() {
  local api=http://127.0.0.1:$LIPA_PORT auth="Authorization: Bearer $LIPA_ADMIN_KEY"
  if [ -f var/demo-client.env ]; then
    . var/demo-client.env
    curl -sf -o /dev/null -H "$auth" "$api/api/clients/$DEMO_CLIENT_ID" && return 0
  fi
  local c p
  c=$(curl -sf -H "$auth" -H 'Content-Type: application/json' -d '{"name":"Demo ISP"}' "$api/api/clients")
  DEMO_CLIENT_ID=$(printf '%s' "$c" | sed -n 's/.*"clientId": *"\([^"]*\)".*/\1/p')
  DEMO_API_KEY=$(printf '%s' "$c" | sed -n 's/.*"apiKey": *"\([^"]*\)".*/\1/p')
  p=$(curl -sf -H "$auth" -H 'Content-Type: application/json' \
        -d '{"name":"Demo plan","amount":100,"description":"30 days"}' "$api/api/clients/$DEMO_CLIENT_ID/packages")
  DEMO_PACKAGE_ID=$(printf '%s' "$p" | sed -n 's/.*"packageId": *"\([^"]*\)".*/\1/p')
  (umask 077; printf 'DEMO_CLIENT_ID=%s\nDEMO_API_KEY=%s\nDEMO_PACKAGE_ID=%s\n' \
     "$DEMO_CLIENT_ID" "$DEMO_API_KEY" "$DEMO_PACKAGE_ID" > var/demo-client.env)
}
bin/lipa-seed demo
bin/lipa-sandbox --port "$LIPA_SANDBOX_PORT" --tuya-any-device --paystack-settle-ms 5000 > var/sandbox.log 2>&1 &
sandbox_pid=$!
trap 'kill $sandbox_pid 2>/dev/null || true' EXIT
wait_http "$sandbox/sandbox/health"
bin/lipad 2> >(trap '' INT TERM; exec tee -a var/lipad.log >&2) &
lipad_pid=$!
trap 'kill $lipad_pid 2>/dev/null; wait $lipad_pid 2>/dev/null; kill $sandbox_pid 2>/dev/null || true' EXIT
wait_http "http://127.0.0.1:$LIPA_PORT/api/health"
demo_client
cat <<MSG

  lipa is running on http://127.0.0.1:$LIPA_PORT (providers: sandbox on $sandbox)
  admin key:  $LIPA_ADMIN_KEY   (also in var/secrets.env)

  dial as a demo caller:   bin/lipa-dial +254712345678      (English, two meters)
                           bin/lipa-dial +254722000111      (Kiswahili)
  then: 1 (buy electricity), 1 (first meter), 100 (KES), 1 (confirm);
  the token SMS arrives in the dialer a few seconds later.

  try the API:  curl -H "Authorization: Bearer \$LIPA_ADMIN_KEY" http://127.0.0.1:$LIPA_PORT/devices

  an integrator (demo client $DEMO_CLIENT_ID, key in var/demo-client.env):
    public payments:  curl -X POST http://127.0.0.1:$LIPA_PORT/api/v1/payments/initiate -H 'Content-Type: application/json' \\
        -d '{"client_id":"$DEMO_CLIENT_ID","package_id":"$DEMO_PACKAGE_ID","phone_number":"+254712345678","description":"Demo plan"}'
    Paystack M-Pesa:  curl -X POST http://127.0.0.1:$LIPA_PORT/api/payments/mpesa -H "Authorization: Bearer $DEMO_API_KEY" \\
        -H 'Content-Type: application/json' -d '{"phone":"0712345678","amount":500,"email":"parent@example.com"}'
  logs: var/lipad.log, var/sandbox.log.  Ctrl-C stops.
MSG
wait $lipad_pid
