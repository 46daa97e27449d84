# Sourced by run.sh and bench.sh: the sandbox credentials and provider URLs
# shared by lipad and lipa-sandbox, and the local secrets (made once, kept
# in var/secrets.env, never committed).
mkdir -p var
if [ ! -f var/secrets.env ]; then
  rnd() { od -An -N24 -tx1 /dev/urandom | tr -d ' \n'; }
  umask 077
  printf 'LIPA_ADMIN_KEY=%s\nLIPA_PEPPER=%s\n' "$(rnd)" "$(rnd)" > var/secrets.env
fi
set -a
. var/secrets.env
LIPA_PORT=${LIPA_PORT:-8080}
LIPA_SANDBOX_PORT=${LIPA_SANDBOX_PORT:-9090}
sandbox=http://127.0.0.1:$LIPA_SANDBOX_PORT
LIPA_DARAJA_URL=$sandbox LIPA_AT_URL=$sandbox LIPA_TUYA_URL=$sandbox
LIPA_DARAJA_KEY=sandbox-key LIPA_DARAJA_SECRET=sandbox-secret
LIPA_AT_USERNAME=sandbox LIPA_AT_APIKEY=sandbox-at-key LIPA_AT_SENDER=LIPA
LIPA_TUYA_CLIENT_ID=sandbox-tuya-id LIPA_TUYA_SECRET=sandbox-tuya-secret
# a Paystack test key: the sandbox's Paystack, under test mode's rules
LIPA_PAYSTACK_URL=$sandbox LIPA_PAYSTACK_SECRET=sk_test_sandbox
# the sandbox posts its Paystack events to lipad's webhook by itself
LIPA_SANDBOX_PAYSTACK_WEBHOOK=http://127.0.0.1:$LIPA_PORT/api/payments/webhook
set +a

wait_http() { # URL [tries]
  for _ in $(seq "${2:-100}"); do curl -sf -o /dev/null "$1" && return 0; sleep 0.1; done
  echo "$1 did not come up" >&2; return 1
}
