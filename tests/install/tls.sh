#!/usr/bin/env bash
# tests/install/tls.sh: the TLS sample, docs/nginx-tls.conf, in front of a
# real lipad. Part of make check (and make check-install); every failure
# stops it with the reason. LIPA_TEST_BIN names the folder of lipad, the
# sandbox and the seeder (bin).
#
# The sample is used as it is but for what a machine of its own changes:
# its ports (loopback ones free now), the certificate (self-signed, made
# here for localhost), the log's path, and the upstream's port. Then:
#   1. nginx -t accepts it;
#   2. through nginx's TLS, a caller's whole USSD purchase is answered,
#      screen after screen, to the M-Pesa PIN screen, with the certificate
#      checked;
#   3. plain HTTP answers only a redirect to https://, and the
#      certificate's ACME challenges;
#   4. a caller from another address (127.0.0.2) is refused the Africa's
#      Talking paths (403) and still gets /api/health;
#   5. the M-Pesa callback's secret, sent in its query string, is not in
#      the access log, and the path is;
#   6. the water payment endpoints' per-address limit holds however the
#      client forges X-Forwarded-For: past the burst, 429.
set -euo pipefail
cd "$(dirname "$0")/../.."
tree=$PWD
bindir=$tree/${LIPA_TEST_BIN:-bin}
sample=docs/nginx-tls.conf
tmp=$(mktemp -d "${TMPDIR:-/tmp}/lipa-tls-XXXXXX")
pids=()
nginx=$(command -v nginx || echo /usr/sbin/nginx)
nginx_up=""
cleanup() {
  local p
  if [ -n "$nginx_up" ]; then "$nginx" -p "$tmp/" -c "$tmp/nginx.conf" -e "$tmp/error.log" -s stop 2>/dev/null || true; fi
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  # nginx's master leaves once its workers have; give it a moment
  for _ in $(seq 50); do [ -e "$tmp/nginx.pid" ] || break; sleep 0.1; done
  rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
started=$(date +%s%N)

die() {
  echo "tls: $*" >&2
  exit 1
}
logs() {
  local f
  for f in "$@"; do
    [ -s "$tmp/$f" ] || continue
    echo "--- $f (last lines)" >&2
    tail -n 20 "$tmp/$f" >&2
  done
}

[ -x "$nginx" ] || die "no nginx; run make deps (Debian package nginx)"
command -v openssl >/dev/null || die "no openssl; run make deps"
command -v curl >/dev/null || die "no curl; run make deps"

. tests/install/ports.sh # free_port, wait_http (the cwd is the tree's top)
ports=()
while [ ${#ports[@]} -lt 4 ]; do
  port=$(free_port)
  [[ " ${ports[*]} " == *" $port "* ]] || ports+=("$port")
done
https_port=${ports[0]} http_port=${ports[1]} lipa_port=${ports[2]} sandbox_port=${ports[3]}

# ---- the certificate and the configuration ----

openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=localhost \
  -addext "subjectAltName=DNS:localhost" -keyout "$tmp/key.pem" -out "$tmp/cert.pem" > "$tmp/openssl.log" 2>&1 ||
  { logs openssl.log; die "openssl could not make a self-signed certificate"; }

sed -e "s|^\( *listen\) 443 ssl;|\1 127.0.0.1:$https_port ssl;|" \
    -e "s|^\( *listen\) 80;|\1 127.0.0.1:$http_port;|" \
    -e "/^ *listen \[::\]:/d" \
    -e "s|^\( *server\) 127.0.0.1:8080;|\1 127.0.0.1:$lipa_port;|" \
    -e "s|^\( *ssl_certificate\) /etc/letsencrypt/.*|\1 $tmp/cert.pem;|" \
    -e "s|^\( *ssl_certificate_key\) /etc/letsencrypt/.*|\1 $tmp/key.pem;|" \
    -e "s|/var/log/nginx/lipa.access.log|$tmp/access.log|" \
    -e "s|^\( *root\) /var/www/html;|\1 $tmp/www;|" \
    "$sample" > "$tmp/lipa.conf"
# every substitution took: the sample changed otherwise, and this test with it
for want in "listen 127.0.0.1:$https_port ssl;" "listen 127.0.0.1:$http_port;" "server 127.0.0.1:$lipa_port;" \
            "ssl_certificate $tmp/cert.pem;" "ssl_certificate_key $tmp/key.pem;" "access_log $tmp/access.log lipa_tls buffer" \
            "root $tmp/www;"; do
  grep -qF -- "$want" "$tmp/lipa.conf" || die "$sample changed: no '$want' after the substitutions"
done
! grep -v '^ *#' "$tmp/lipa.conf" | grep -E '/etc/|/var/|:8080|listen +(80|443)' || die "$sample: a path or port left unsubstituted (above)"

# the sample is an http-level file: nginx.conf around it, as Debian's
# /etc/nginx/nginx.conf includes conf.d/*.conf
cat > "$tmp/nginx.conf" <<CONF
worker_processes 1;
pid $tmp/nginx.pid;
error_log $tmp/error.log;
events { worker_connections 256; }
http {
    client_body_temp_path $tmp/body;
    proxy_temp_path $tmp/proxy;
    fastcgi_temp_path $tmp/fastcgi;
    uwsgi_temp_path $tmp/uwsgi;
    scgi_temp_path $tmp/scgi;
    include $tmp/lipa.conf;
}
CONF
# nginx's workers run as an unprivileged user when it is started as root
chmod 755 "$tmp"

"$nginx" -t -q -p "$tmp/" -c "$tmp/nginx.conf" -e "$tmp/error.log" > "$tmp/nginx-t.log" 2>&1 ||
  { logs nginx-t.log error.log; die "nginx -t refuses $sample"; }

# ---- lipad and the sandbox behind it ----

sandbox=http://127.0.0.1:$sandbox_port
providers=(
  LIPA_DARAJA_URL="$sandbox" LIPA_AT_URL="$sandbox" LIPA_TUYA_URL="$sandbox" LIPA_PAYSTACK_URL="$sandbox"
  LIPA_DARAJA_KEY=sandbox-key LIPA_DARAJA_SECRET=sandbox-secret
  LIPA_AT_USERNAME=sandbox LIPA_AT_APIKEY=sandbox-at-key LIPA_TUYA_CLIENT_ID=sandbox-tuya-id
  LIPA_TUYA_SECRET=sandbox-tuya-secret LIPA_PAYSTACK_SECRET=sk_test_sandbox
)
env "${providers[@]}" "$bindir/lipa-sandbox" --port "$sandbox_port" --tuya-any-device > "$tmp/sandbox.log" 2>&1 &
pids+=($!)
wait_http "$sandbox/sandbox/health" || { logs sandbox.log; die "the sandbox did not come up"; }

secret() { od -An -N24 -tx1 /dev/urandom | tr -d ' \n'; }
lipad_env=(
  "${providers[@]}" LIPA_DB="$tmp/lipa.db" LIPA_MIGRATIONS="$tree/db" LIPA_MENUS="$tree/menus"
  LIPA_PORT="$lipa_port" LIPA_ADMIN_KEY="$(secret)" LIPA_PEPPER="$(secret)"
  LIPA_PUBLIC_URL="https://localhost:$https_port" LIPA_CONNECTIONS_PER_IP=0 LIPA_RATE_LIMIT=0
)
env -i PATH="$PATH" ASAN_OPTIONS="${ASAN_OPTIONS:-}" LIPA_DB="$tmp/lipa.db" LIPA_MIGRATIONS="$tree/db" \
  "$bindir/lipa-seed" demo > "$tmp/seed.log" 2>&1 || { logs seed.log; die "lipa-seed demo failed"; }
env -i PATH="$PATH" ASAN_OPTIONS="${ASAN_OPTIONS:-}" UBSAN_OPTIONS="${UBSAN_OPTIONS:-}" "${lipad_env[@]}" \
  "$bindir/lipad" > "$tmp/lipad.log" 2>&1 &
lipad=$!
pids+=($lipad)
wait_http "http://127.0.0.1:$lipa_port/api/health" || { logs lipad.log; die "lipad did not come up"; }

"$nginx" -p "$tmp/" -c "$tmp/nginx.conf" -e "$tmp/error.log" > "$tmp/nginx.log" 2>&1 ||
  { logs nginx.log error.log; die "nginx did not start"; }
nginx_up=1

# ---- 2. a purchase through TLS ----

base=https://localhost:$https_port
tls=(--cacert "$tmp/cert.pem" --resolve "localhost:$https_port:127.0.0.1")
wait_http_tls() {
  for _ in $(seq 100); do curl -sf -o /dev/null "${tls[@]}" "$base/api/health" && return 0; sleep 0.1; done
  return 1
}
wait_http_tls || { logs error.log; die "nginx did not answer /api/health over TLS"; }
session=ATUid_tls_$$
phone=+254712345678
hop() {
  curl -sf "${tls[@]}" -X POST "$base/api/ussd" --data-urlencode "sessionId=$session" \
    --data-urlencode "serviceCode=*384*1234#" --data-urlencode "phoneNumber=$phone" \
    --data-urlencode "networkCode=63902" --data-urlencode "text=$1" || echo "(no answer)"
}
screen=$(hop "")
grep -q "^CON Welcome to lipa" <<<"$screen" || { logs error.log lipad.log; die "first USSD hop through TLS answered: $screen"; }
for text in 1 1*1 1*1*100; do
  screen=$(hop "$text")
  [[ $screen == CON* ]] || { logs error.log lipad.log; die "hop '$text' through TLS answered: $screen"; }
done
screen=$(hop "1*1*100*1")
grep -q "^END .*M-Pesa PIN" <<<"$screen" || { logs error.log lipad.log; die "the confirming hop through TLS answered: $screen"; }
# the certificate is checked: a client that does not trust it gets nothing
if curl -sf -o /dev/null --resolve "localhost:$https_port:127.0.0.1" "$base/api/health" 2>/dev/null; then
  die "curl took the self-signed certificate without --cacert: the hops above did not prove TLS"
fi

# ---- 3. plain HTTP redirects ----

out=$(curl -s -o /dev/null -w '%{http_code} %{redirect_url}' "http://127.0.0.1:$http_port/api/ussd")
[[ $out == "301 https://127.0.0.1/api/ussd" ]] || die "plain HTTP answered '$out', not a 301 to https://"

# the certificate's renewal reads its challenge over plain HTTP
mkdir -p "$tmp/www/.well-known/acme-challenge"
echo "challenge-$$" > "$tmp/www/.well-known/acme-challenge/token-$$"
chmod -R a+rX "$tmp/www"
out=$(curl -sf "http://127.0.0.1:$http_port/.well-known/acme-challenge/token-$$" || echo "(no answer)")
[ "$out" = "challenge-$$" ] || die "the ACME challenge over plain HTTP answered '$out'"

# ---- 4. Africa's Talking's paths from another address ----

other=(--interface 127.0.0.2 "${tls[@]}")
code=$(curl -s -o /dev/null -w '%{http_code}' "${other[@]}" -X POST "$base/api/ussd" --data "sessionId=x&text=")
[ "$code" = 403 ] || die "a USSD hop from 127.0.0.2 answered $code, not 403 (the allow-list)"
code=$(curl -s -o /dev/null -w '%{http_code}' "${other[@]}" -X POST "$base/api/sms/inbound" --data "from=x")
[ "$code" = 403 ] || die "an inbound SMS from 127.0.0.2 answered $code, not 403"
code=$(curl -s -o /dev/null -w '%{http_code}' "${other[@]}" "$base/api/health")
[ "$code" = 200 ] || die "/api/health from 127.0.0.2 answered $code, not 200"

# ---- 5. the callback's secret stays out of the access log ----

planted=s3cr3t-in-the-query-$$
curl -s -o /dev/null "${tls[@]}" -X POST "$base/mpesa/callback?secret=$planted" \
  -H 'Content-Type: application/json' --data '{"Body":{}}' || true
"$nginx" -p "$tmp/" -c "$tmp/nginx.conf" -e "$tmp/error.log" -s reopen # flushes the log buffer
for _ in $(seq 50); do grep -q '/mpesa/callback' "$tmp/access.log" 2>/dev/null && break; sleep 0.1; done
grep -q '"POST /mpesa/callback" 401' "$tmp/access.log" || { logs access.log; die "the refused callback is not in the access log"; }
! grep -q "$planted" "$tmp/access.log" || die "the callback's secret is in the access log"

# ---- 6. the per-address limit, whatever X-Forwarded-For says ----

# one curl, one connection, each request with a different forged address
args=()
for i in $(seq 105); do
  [ "$i" -gt 1 ] && args+=(--next)
  args+=(-s "${tls[@]}" -X POST -H 'Content-Type: application/json' -H "X-Forwarded-For: 198.51.100.$i"
         --data '{}' -o /dev/null -w '%{http_code}\n' "$base/api/payments/preview")
done
codes=$(curl "${args[@]}" || true)
[ "$(wc -l <<<"$codes")" = 105 ] || die "105 requests, $(wc -l <<<"$codes") answers: $codes"
first=$(head -n 100 <<<"$codes" | grep -c '^429$' || true)
limited=$(grep -c '^429$' <<<"$codes" || true)
[ "$first" = 0 ] || die "the burst of 100 was not let through ($first of the first 100 answered 429)"
[ "$limited" -ge 4 ] || die "past the burst, $limited of 105 answered 429 (forged X-Forwarded-For escaped the limit?)"

# lipad behind the proxy stops cleanly (under the sanitizers: no leak)
kill -TERM "$lipad"
set +e
wait "$lipad"
rc=$?
set -e
[ "$rc" -eq 0 ] || { logs lipad.log; die "lipad exited $rc after SIGTERM, not 0"; }

took=$(( ($(date +%s%N) - started) / 1000000 ))
echo "tls: $sample: nginx -t, a USSD purchase through TLS, the HTTP redirect, the Africa's Talking allow-list," \
     "no secret in the access log, the per-address limit past a forged X-Forwarded-For (${took} ms)"
