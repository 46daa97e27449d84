#!/usr/bin/env bash
# make bench-migrate: how long bin/lipa-migrate takes to move a SQLite
# database into PostgreSQL. The file: 1 000 callers (lipa-seed bench) and
# N (10 000) purchases stored through the group commit (lipa-storebench),
# then made completed, each with its receipt SMS and its M-Pesa callback
# (sqlite3), so three rows a purchase. The target: a fresh database of a
# throwaway cluster on this machine (tools/pg.sh). Prints the file's size,
# lipa-migrate's closing line (rows, tables, seconds) and that of a second
# comparison alone. Figures go to docs/performance.md by hand.
set -euo pipefail
cd "$(dirname "$0")/.."
n=${N:-10000}
dir=$(mktemp -d "${TMPDIR:-/tmp}/lipa-bench-migrate-XXXXXX")
pgdir=$(mktemp -d "${TMPDIR:-/tmp}/lipa-pg-XXXXXX") # its own: tools/pg.sh hands it to the server's user
trap 'tools/pg.sh stop "$pgdir" >/dev/null 2>&1 || true; rm -rf "$dir"' EXIT
export LIPA_MIGRATIONS=${LIPA_MIGRATIONS:-db}
db=$dir/lipa.db
LIPA_DB=$db bin/lipa-seed bench 1000 >/dev/null 2>&1
LIPA_DB=$db bin/lipa-storebench "$n" 16 >/dev/null 2>&1
sqlite3 "$db" "
UPDATE payments SET status = 'completed', result_code = 0, paid_amount = amount, topup_status = 'done',
  result_desc = 'The service request is processed successfully.', mpesa_receipt = printf('NLJ%07d', id),
  merchant_request_id = 'mr-' || id, checkout_request_id = 'ws_CO_' || id;
INSERT INTO outbox (phone, body, kind, payment_id, status, attempts, next_at, provider_id, created_at, updated_at)
  SELECT phone, 'lipa: Paid KES ' || amount || ' for meter ' || meter_id || ', 4.0 kWh. M-Pesa ' ||
    mpesa_receipt || '. Token: {token}', 'receipt', id, 'delivered', 1, 0, 'ATXid_' || id, created_at, created_at
  FROM payments;
INSERT INTO mpesa_callbacks (checkout_request_id, result_code, body, applied, received_at)
  SELECT checkout_request_id, 0, '{\"Body\":{\"stkCallback\":{\"MerchantRequestID\":\"' || merchant_request_id ||
    '\",\"CheckoutRequestID\":\"' || checkout_request_id || '\",\"ResultCode\":0}}}', 1, created_at FROM payments;"
uri=$(tools/pg.sh start "$pgdir")
echo "bench-migrate: $n purchases, a file of $(du -k "$db" | cut -f1) KB"
bin/lipa-migrate "$db" "$uri" 2>"$dir/err" | tail -n 1 || { cat "$dir/err" >&2; exit 1; }
echo -n "compared again: "
bin/lipa-migrate --compare "$db" "$uri" 2>"$dir/err" | tail -n 1 || { cat "$dir/err" >&2; exit 1; }
