/* paystack: the one Paystack client (its REST API, amounts in subunits): start a
 * hosted checkout (POST /transaction/initialize), read a transaction's state
 * (GET /transaction/verify/:reference), and check a webhook's
 * x-paystack-signature. Amounts are integers in the currency's subunit
 * (KES 50 is 5000).
 *
 * Outcomes (pay.h): a 2xx answer with "status":true is PAY_OK; no answer, a
 * timeout, a 5xx, a 429 or a 2xx that cannot be read is PAY_RETRY; any other
 * 4xx or "status":false is PAY_REJECT, with Paystack's message. A request
 * this client refuses before sending (bad reference, amount, email or
 * secret setting) is PAY_REJECT too.
 *
 * Retrying initialize with the same reference after PAY_RETRY may get
 * PAY_REJECT "Duplicate Transaction Reference": the first attempt reached
 * Paystack; verify the reference to learn its state.
 *
 * Ownership: paystack_new copies what it needs from the config; the caller
 * frees it with paystack_free (NULL is fine). Results are filled in place.
 * Thread-safety: a struct paystack is immutable after paystack_new, so any
 * number of threads may call it at once (httpc_global_init must have run).
 * Calls block for up to the configured timeout: worker threads only, never
 * on a USSD hop. */
#ifndef LIPA_PAYSTACK_H
#define LIPA_PAYSTACK_H

#include "pay/pay.h"

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define PAYSTACK_REF_MAX 100  /* Paystack's limit */
#define PAYSTACK_REF_KEEP 63  /* this client's: the result fields hold 63 */

struct paystack_init_res {
    enum pay_outcome outcome;
    int http_status;            /* 0 when no HTTP answer came */
    char authorization_url[512];
    char access_code[128];
    char reference[64];         /* as Paystack answered it (PAYSTACK_REF_KEEP max) */
    char message[256];          /* Paystack's message, or why the call failed */
};

struct paystack_verify_res {
    enum pay_outcome outcome;   /* PAY_OK: status and the fields below are Paystack's */
    int http_status;
    char status[24];            /* abandoned|failed|ongoing|pending|processing|queued|reversed|success */
    int64_t amount;             /* subunits; -1 when absent */
    char currency[8];
    char channel[32];
    char paid_at[40];           /* "" when not paid */
    char gateway_response[128];
    char reference[64];
    char message[256];
};

struct paystack;

/* Reads cfg->paystack_url, cfg->paystack_secret, cfg->http_timeout_ms
 * (10 s when not positive). NULL on out of memory. */
struct paystack *paystack_new(const struct config *cfg);
void paystack_free(struct paystack *ps);

/* POST /transaction/initialize {email, amount, currency, reference,
 * callback_url, metadata}. currency, reference, callback_url and metadata
 * may be NULL (or "") to leave them out: Paystack then uses the merchant's
 * default currency and makes up a reference. A reference must pass
 * paystack_reference_ok and be at most PAYSTACK_REF_KEEP characters. metadata is borrowed, not
 * stolen, and only read. */
void paystack_initialize(struct paystack *ps, const char *email, int64_t amount_subunits,
                         const char *currency, const char *reference, const char *callback_url,
                         json_t *metadata, struct paystack_init_res *res);

/* GET /transaction/verify/:reference (at most PAYSTACK_REF_KEEP
 * characters, else refused unsent). An unknown reference is PAY_REJECT
 * ("Transaction reference not found"). Callers check amount and currency
 * against what was asked before crediting. */
void paystack_verify(struct paystack *ps, const char *reference, struct paystack_verify_res *res);

/* The webhook's x-paystack-signature: lowercase hex HMAC-SHA512 keyed with
 * the secret over the raw body, compared in constant time. False when any
 * argument is NULL, the secret is empty, or the signature is not exactly
 * that lowercase hex. Pure. */
bool paystack_signature_ok(const char *secret, const char *body, size_t len, const char *signature);

/* Paystack's reference alphabet: letters, digits, '-', '.', '='; 1 to
 * PAYSTACK_REF_MAX characters. Pure. */
bool paystack_reference_ok(const char *ref);

#endif
