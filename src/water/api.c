/* water/api: the water face's payment endpoints (/api/payments/...): the
 * price preview, orders paid by M-Pesa (STK push) or Paystack (hosted
 * checkout), their status, the M-Pesa callback, and Paystack's callback
 * and webhook. Replies use the water face's envelope {success, message,
 * data}; errors {success:false, message, error}. Every endpoint but the
 * provider callbacks counts against the client's rate limit.
 *
 * Choices where the face is silent: an M-Pesa order whose push failed (it
 * is retried) or is not out within LIPA_PUSH_WAIT_MS answers 202 (status
 * pending), a refused one 500 STK_PUSH_FAILED; a Paystack checkout
 * that could not be opened answers 500 PAYSTACK_INIT_FAILED; Paystack
 * orders are charged in LIPA_WATER_CURRENCY only (the litre price is in
 * it). */
#include "water/api.h"

#include "app/app.h"
#include "app/routes.h"
#include "charge/api.h"
#include "http/api.h"
#include "http/ratelimit.h"
#include "pay/api.h"
#include "pay/idem.h"
#include "pay/paystack.h"
#include "pay/purchase.h"
#include "pay/api_wait.h"
#include "store/payments.h"
#include "store/water.h"
#include "util/crypto.h"
#include "util/log.h"
#include "util/phone.h"
#include "util/str.h"
#include "water/water.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define EMAIL_MAX 254
#define META_MAX 2047

/* ---- JSON ---- */


/* KES (or the water currency) from cents: 5 for 500, 2.5 for 250. */
static json_t *money(int64_t cents)
{
    return cents % 100 ? api_decimal((double)cents / 100.0, 2) : json_integer((json_int_t)(cents / 100));
}

/* The phone as the water face writes it, 254XXXXXXXXX. */
static json_t *phone_json(const char *e164)
{
    char msisdn[PHONE_MAX];
    if (!e164 || !*e164)
        return json_null();
    phone_msisdn(e164, msisdn);
    return json_string(msisdn);
}

/* A water order as the status endpoint shows it. */
static json_t *order_json(struct app *a, const struct payment *p)
{
    struct water_extra x;
    if (store_water_extra_get(a->store, p->id, &x) != ST_OK)
        memset(&x, 0, sizeof x);
    json_t *meta = x.metadata[0] ? json_loads(x.metadata, 0, NULL) : NULL;
    bool done = !strcmp(p->status, "completed");
    json_t *j = json_object();
    json_object_set_new(j, "id", json_integer((json_int_t)p->id));
    json_object_set_new(j, "transactionReference", json_string(p->reference));
    json_object_set_new(j, "paymentMethod", json_string(p->provider));
    json_object_set_new(j, "phoneNumber", phone_json(p->phone));
    json_object_set_new(j, "amount", json_integer((json_int_t)p->amount));
    json_object_set_new(j, "liters", json_integer((json_int_t)p->liters));
    json_object_set_new(j, "currency", json_string(p->currency));
    json_object_set_new(j, "status", json_string(p->status));
    json_object_set_new(j, "resultCode", p->result_code >= 0 ? json_integer(p->result_code) : json_null());
    json_object_set_new(j, "resultDesc", api_str_or_null(p->result_desc));
    /* M-Pesa's time of the payment (its callback's TransactionDate), null
     * when it gave none (not paid, or settled by STK query); Paystack's
     * orders keep the time lipa learnt they were paid */
    bool mpesa = strcmp(p->provider, "paystack") != 0;
    json_object_set_new(j, "transactionDate", mpesa ? api_time_or_null(p->transaction_at)
                                              : done ? api_time_or_null(p->updated_at) : json_null());
    json_object_set_new(j, "metadata", json_is_object(meta) ? json_incref(meta) : json_object());
    json_decref(meta);
    if (!strcmp(p->provider, "paystack")) {
        json_object_set_new(j, "email", api_str_or_null(x.email));
        json_object_set_new(j, "authorizationUrl", api_str_or_null(x.authorization_url));
        json_object_set_new(j, "accessCode", api_str_or_null(x.access_code));
        json_object_set_new(j, "expiresAt", api_time_or_null(x.expires_at));
        json_object_set_new(j, "paystackStatus", api_str_or_null(x.provider_status));
        json_object_set_new(j, "paystackChannel", api_str_or_null(x.channel));
        json_object_set_new(j, "paystackReceiptNumber", api_str_or_null(x.provider_receipt));
        json_object_set_new(j, "paidAt", api_str_or_null(x.paid_at));
    } else {
        json_object_set_new(j, "checkoutRequestId", api_str_or_null(p->checkout_request_id));
        json_object_set_new(j, "merchantRequestId", api_str_or_null(p->merchant_request_id));
        json_object_set_new(j, "mpesaReceiptNumber", api_str_or_null(p->mpesa_receipt));
    }
    if (p->last_error[0] && strcmp(p->status, "completed"))
        json_object_set_new(j, "lastError", json_string(p->last_error));
    json_object_set_new(j, "createdAt", api_time_or_null(p->created_at));
    json_object_set_new(j, "updatedAt", api_time_or_null(p->updated_at));
    return j;
}

/* ---- shared request pieces ---- */

/* The optional "metadata" object as compact JSON in out ("" when absent);
 * false after replying 400. */
static bool metadata_of(struct http_req *req, struct http_resp *resp, json_t *body, char *out, size_t n)
{
    json_t *m = json_object_get(body, "metadata");
    out[0] = 0;
    if (!m || json_is_null(m))
        return true;
    if (!json_is_object(m)) {
        api_error(req, resp, ERR_VALIDATION, NULL, "metadata: must be an object");
        return false;
    }
    char *t = json_dumps(m, JSON_COMPACT | JSON_SORT_KEYS); /* one text per object: see order_idem */
    bool fits = t && str_copy(out, n, t);
    free(t);
    if (!fits) {
        api_error(req, resp, ERR_VALIDATION, NULL, "metadata: at most %zu bytes as JSON", n - 1);
        return false;
    }
    return true;
}

/* The quote for body's amount; false after replying 400. */
static bool quote_of(struct app *a, struct http_req *req, struct http_resp *resp, json_t *body,
                     struct water_quote *q)
{
    char why[200];
    if (water_quote(&a->cfg, api_int(body, "amount", 0), q, why, sizeof why))
        return true;
    api_error(req, resp, ERR_VALIDATION, "INVALID_AMOUNT", "%s", why);
    return false;
}

/* The order named by the path's reference; false after replying 404/500. */
static bool order_of(struct app *a, struct http_req *req, struct http_resp *resp, struct payment *p)
{
    const char *ref = req->params[0];
    enum store_rc rc = water_reference_ok(ref) ? store_payment_by_reference(a->store, ref, p) : ST_NOT_FOUND;
    if (rc == ST_OK)
        return true;
    if (rc == ST_NOT_FOUND)
        api_error(req, resp, ERR_NOT_FOUND, "TRANSACTION_NOT_FOUND", "No transaction with reference %.60s", ref);
    else
        api_error(req, resp, ERR_INTERNAL, NULL, "could not read the transaction");
    return false;
}

/* ---- preview ---- */

static void preview(void *ctx, struct http_req *req, struct http_resp *resp)
{
    struct app *a = ctx;
    static const struct field fields[] = {
        {"amount", F_INT, F_REQUIRED, 1, 1000000000},
        {NULL, 0, 0, 0, 0},
    };
    if (!http_rate_limit(req, resp))
        return;
    json_t *body = api_parse(req, resp, fields);
    if (!body)
        return;
    struct water_quote q;
    if (quote_of(a, req, resp, body, &q)) {
        json_t *d = json_pack("{s:I, s:I, s:I, s:o, s:s, s:s, s:I}", "requestedAmount", (json_int_t)q.requested,
                              "amount", (json_int_t)q.amount, "liters", (json_int_t)q.liters, "pricePerLiter",
                              money(q.price_cents), "currency", q.currency, "roundingStrategy", q.rounding,
                              "difference", (json_int_t)q.difference);
        api_ok(req, resp, 200, "Payment preview generated", d);
    }
    json_decref(body);
}

/* ---- M-Pesa ---- */

/* The order's Idempotency-Key: the checkout is public, so the only caller
 * a key can belong to is the payer, named by the (normalized) phone
 * number the prompt goes to; bound to what makes the order. False with why
 * when the header is malformed. */
static bool order_idem(struct http_req *req, json_t *body, const char *phone, const char *meta, struct idem *id,
                       char *why, size_t whysz)
{
    if (!idem_begin(id, "water", phone, http_header(req, "Idempotency-Key"), why, whysz))
        return false;
    idem_text(id, "phoneNumber", phone);
    idem_int(id, "amount", api_int(body, "amount", 0));
    idem_text(id, "metadata", meta);
    return true;
}

/* Counts one payment request for phone against its budget; over it,
 * answers 429 naming phoneNumber and returns false. */
static bool payer_within_budget(struct app *a, struct http_req *req, struct http_resp *resp, const char *phone)
{
    struct ratelimit_verdict v;
    if (!a->phone_limit)
        return true;
    int64_t now = now_ms();
    ratelimit_take_phone(a->phone_limit, phone, now, &v);
    if (v.allowed)
        return true;
    char num[24];
    snprintf(num, sizeof num, "%lld", (long long)((v.reset_ms - now + 999) / 1000));
    http_resp_header(resp, "Retry-After", num);
    api_error(req, resp, ERR_RATE_LIMIT, "PHONE_RATE_LIMIT_EXCEEDED",
              "phoneNumber: %lld payment requests for this phone already; try again in %s s", (long long)v.limit,
              num);
    return false;
}

/* The answer of an M-Pesa order once its push went out (201), was refused
 * (500), failed and waits for its retry, or is still queued at the
 * deadline (202). */
static void initiate_answer(struct app *a, const struct http_route *route, const struct payment *p,
                            struct http_resp *resp)
{
    struct http_req r = {.route = route}; /* api_ok reads the envelope only */
    (void)a;
    if (p->checkout_request_id[0] || !strcmp(p->status, "pending")) {
        bool pushed = p->checkout_request_id[0] != 0;
        json_t *d = json_pack("{s:b, s:s, s:o, s:I, s:I, s:o, s:s, s:s}", "success", 1, "transactionReference",
                              p->reference, "checkoutRequestId", api_str_or_null(p->checkout_request_id), "amount",
                              (json_int_t)p->amount, "liters", (json_int_t)p->liters, "phoneNumber",
                              phone_json(p->phone), "status", p->status, "message",
                              !pushed ? "The PIN prompt will follow shortly"
                              : p->customer_message[0] ? p->customer_message : "Please enter your M-Pesa PIN");
        json_object_set_new(d, "merchantRequestId", api_str_or_null(p->merchant_request_id));
        json_object_set_new(d, "currency", json_string(p->currency));
        if (pushed)
            api_ok(&r, resp, 201, "M-Pesa payment initiated. Please enter your PIN.", d);
        else /* M-Pesa is slow or down, or a prompt is out on that phone: the push follows */
            api_ok(&r, resp, 202, "M-Pesa payment queued: the PIN prompt will follow.", d);
    } else {
        char msg[400];
        snprintf(msg, sizeof msg, "STK Push initiation failed: %.300s",
                 p->last_error[0] ? p->last_error : "refused by M-Pesa");
        json_t *env = json_pack("{s:b, s:s, s:s, s:{s:s, s:s}}", "success", 0, "message", msg, "error",
                                "STK_PUSH_FAILED", "data", "transactionReference", p->reference, "status", p->status);
        api_json(resp, 500, env);
    }
}

static void mpesa_initiate(void *ctx, struct http_req *req, struct http_resp *resp)
{
    struct app *a = ctx;
    static const struct field fields[] = {
        {"phoneNumber", F_STRING, F_REQUIRED, 9, 20},
        {"amount", F_INT, F_REQUIRED, 1, 1000000000},
        {NULL, 0, 0, 0, 0},
    };
    if (!http_rate_limit(req, resp))
        return;
    json_t *body = api_parse(req, resp, fields);
    if (!body)
        return;
    char phone[PHONE_MAX], meta[META_MAX + 1], why[200];
    struct water_quote q;
    struct payment p;
    struct idem id;
    if (!phone_normalize(api_str(body, "phoneNumber"), phone)) {
        api_error(req, resp, ERR_VALIDATION, "INVALID_PHONE", "phoneNumber: must be a Kenyan mobile number, 254XXXXXXXXX");
        goto out;
    }
    if (!quote_of(a, req, resp, body, &q) || !metadata_of(req, resp, body, meta, sizeof meta) ||
        !payer_within_budget(a, req, resp, phone))
        goto out;
    if (!order_idem(req, body, phone, meta, &id, why, sizeof why)) {
        api_error(req, resp, ERR_VALIDATION, NULL, "%s", why);
        goto out;
    }
    if (!water_start_mpesa(a, "api", id.key, id.fp, phone, 0, &q, &p, why, sizeof why)) {
        if (!strncmp(why, "could not", 9))
            api_error(req, resp, ERR_INTERNAL, NULL, "%s", why);
        else
            api_error(req, resp, ERR_VALIDATION, NULL, "%s", why);
        goto out;
    }
    if (idem_conflicts(&id, &p)) {
        api_error(req, resp, ERR_UNPROCESSABLE, "IDEMPOTENCY_KEY_REUSED",
                  "Idempotency-Key: already used for a different request");
        goto out;
    }
    if (meta[0] && store_water_set_order(a->store, p.id, meta, "") != ST_OK)
        log_warn("water.metadata_lost", "payment=%lld", (long long)p.id);
    /* answered once the payment worker has pushed it, with no thread
     * waiting meanwhile (pay/api_wait.h) */
    pushwait_park(a, req, resp, &p, a->cfg.push_wait_ms, initiate_answer);
out:
    json_decref(body);
}

/* The reply to Daraja's callback in the water face's envelope. */
static void callback_reply(const struct http_route *route, struct http_resp *resp, enum err e, const char *why)
{
    struct http_req r = {.route = route}; /* api_error reads the envelope only */
    if (e == ERR_UNAUTHORIZED)
        api_error(&r, resp, ERR_UNAUTHORIZED, NULL, "%s", why);
    else if (e == ERR_VALIDATION)
        api_error(&r, resp, ERR_VALIDATION, "INVALID_CALLBACK", "%s", why);
    else if (e != ERR_OK)
        api_error(&r, resp, ERR_INTERNAL, NULL, "could not record the callback; try again");
    else
        api_json(resp, 200, json_pack("{s:b, s:s}", "success", 1, "message", "Callback processed successfully"));
}

/* Daraja's callback, also accepted at /mpesa/callback: the same guard
 * and the same recording (pay/api.h), answered in this face's envelope. */
static void mpesa_callback(void *ctx, struct http_req *req, struct http_resp *resp)
{
    pay_callback_face(ctx, req, resp, callback_reply);
}

static void mpesa_query(void *ctx, struct http_req *req, struct http_resp *resp)
{
    struct app *a = ctx;
    struct payment p;
    if (!http_rate_limit(req, resp) || !order_of(a, req, resp, &p))
        return;
    if (strcmp(p.provider, "mpesa") || !p.checkout_request_id[0]) {
        api_error(req, resp, ERR_VALIDATION, "NO_CHECKOUT_REQUEST_ID",
                  "transactionReference: %s has no M-Pesa checkout request to query",
                  strcmp(p.provider, "mpesa") ? "a Paystack payment" : "this payment");
        return;
    }
    struct pay_query_res res;
    purchase_query(a, &p, &res);
    if (res.outcome != PAY_OK) {
        api_error(req, resp, ERR_INTERNAL, "MPESA_QUERY_FAILED", "M-Pesa query failed: %.200s",
                  res.error[0] ? res.error : "no answer");
        return;
    }
    json_t *d = order_json(a, &p);
    bool final = res.state == PAYQ_FINAL;
    json_object_set_new(d, "mpesaQuery", json_pack("{s:s, s:o, s:s}", "state", final ? "final" : "pending",
                                                   "resultCode", final ? json_integer(res.result_code) : json_null(),
                                                   "resultDesc", final ? res.result_desc
                                                                       : "The transaction is being processed"));
    api_ok(req, resp, 200, "Payment status verified from M-Pesa", d);
}

/* ---- status ---- */

void water_status(void *ctx, struct http_req *req, struct http_resp *resp)
{
    struct app *a = ctx;
    struct payment p;
    if (!http_rate_limit(req, resp) || !order_of(a, req, resp, &p))
        return;
    api_ok(req, resp, 200, "Transaction status retrieved", order_json(a, &p));
}

/* ---- Paystack ---- */

static void paystack_initialize_h(void *ctx, struct http_req *req, struct http_resp *resp)
{
    struct app *a = ctx;
    static const struct field fields[] = {
        {"email", F_STRING, F_REQUIRED, 3, EMAIL_MAX},
        {"amount", F_INT, F_REQUIRED, 1, 1000000000},
        {"phoneNumber", F_STRING, 0, 0, 20},
        {"currency", F_STRING, 0, 0, 3},
        {NULL, 0, 0, 0, 0},
    };
    if (!http_rate_limit(req, resp))
        return;
    json_t *body = api_parse(req, resp, fields);
    if (!body)
        return;
    char phone[PHONE_MAX] = "", meta[META_MAX + 1], why[300];
    struct water_quote q;
    struct payment p;
    const char *email = api_str(body, "email"), *ph = api_str(body, "phoneNumber"), *cur = api_str(body, "currency");
    const char *at = strchr(email, '@');
    if (!at || at == email || !at[1] || strchr(at + 1, '@') || strpbrk(email, " \t\r\n")) {
        api_error(req, resp, ERR_VALIDATION, "INVALID_EMAIL", "email: not an e-mail address");
        goto out;
    }
    if (ph && *ph && !phone_normalize(ph, phone)) {
        api_error(req, resp, ERR_VALIDATION, "INVALID_PHONE", "phoneNumber: must be a Kenyan mobile number, 254XXXXXXXXX");
        goto out;
    }
    if (cur && *cur && !str_ieq(cur, a->cfg.water_currency)) {
        api_error(req, resp, ERR_VALIDATION, "INVALID_CURRENCY", "currency: water is priced in %s only",
                  a->cfg.water_currency);
        goto out;
    }
    if (!quote_of(a, req, resp, body, &q) || !metadata_of(req, resp, body, meta, sizeof meta))
        goto out;
    json_t *m = json_object_get(body, "metadata");
    switch (water_start_paystack(a, email, phone, &q, json_is_object(m) ? m : NULL, &p, why, sizeof why)) {
    case ERR_OK:
        break;
    case ERR_VALIDATION:
        api_error(req, resp, ERR_VALIDATION, NULL, "%s", why);
        goto out;
    case ERR_PROVIDER: {
        char msg[400];
        snprintf(msg, sizeof msg, "Paystack checkout initialization failed: %.300s", why);
        api_json(resp, 500, json_pack("{s:b, s:s, s:s, s:{s:s, s:s}}", "success", 0, "message", msg, "error",
                                      "PAYSTACK_INIT_FAILED", "data", "transactionReference", p.reference,
                                      "status", p.status));
        goto out;
    }
    default:
        api_error(req, resp, ERR_INTERNAL, NULL, "%s", why);
        goto out;
    }
    struct water_extra x;
    if (store_water_extra_get(a->store, p.id, &x) != ST_OK) {
        api_error(req, resp, ERR_INTERNAL, NULL, "could not read the order back");
        goto out;
    }
    json_t *d = json_pack("{s:s, s:s, s:s, s:s, s:o, s:I, s:I, s:s}", "transactionReference", p.reference,
                          "authorizationUrl", x.authorization_url, "accessCode", x.access_code, "status", p.status,
                          "expiresAt", api_time_or_null(x.expires_at), "amount", (json_int_t)p.amount, "liters",
                          (json_int_t)p.liters, "currency", p.currency);
    api_ok(req, resp, 201, "Payment checkout initialized successfully. Redirect customer to authorizationUrl.", d);
out:
    json_decref(body);
}

static void paystack_verify_h(void *ctx, struct http_req *req, struct http_resp *resp)
{
    struct app *a = ctx;
    struct payment p;
    if (!http_rate_limit(req, resp) || !order_of(a, req, resp, &p))
        return;
    if (strcmp(p.provider, "paystack")) {
        api_error(req, resp, ERR_VALIDATION, "NOT_A_PAYSTACK_PAYMENT",
                  "transactionReference: an M-Pesa payment; see /api/payments/mpesa/query");
        return;
    }
    struct paystack_verify_res res;
    paystack_verify(a->paystack, p.reference, &res);
    if (res.outcome != PAY_OK) {
        api_error(req, resp, ERR_INTERNAL, "PAYSTACK_VERIFY_FAILED", "Paystack verification failed: %.200s",
                  res.message[0] ? res.message : "no answer");
        return;
    }
    struct water_paystack_news n = {
        .status = res.status, .amount = res.amount, .currency = res.currency, .channel = res.channel,
        .receipt = "", .paid_at = res.paid_at, .gateway_response = res.gateway_response,
    };
    if (!water_paystack_apply(a, &p, &n)) {
        api_error(req, resp, ERR_INTERNAL, NULL, "could not record the verification");
        return;
    }
    json_t *d = order_json(a, &p);
    /* what Paystack said now, even for an order that was final before */
    json_object_set_new(d, "paystackStatus", json_string(res.status));
    const char *msg = !strcmp(p.status, "completed") ? "Payment verified successfully"
                    : payment_open(&p) ? "Payment not completed yet"
                    : "Payment was not successful";
    api_ok(req, resp, 200, msg, d);
}

/* Paystack sends the buyer's browser here after the checkout. */
static void paystack_callback(void *ctx, struct http_req *req, struct http_resp *resp)
{
    (void)ctx;
    const char *ref = http_query(req, "reference");
    if (!ref || !*ref)
        ref = http_query(req, "trxref");
    if (!ref || !*ref) {
        api_error(req, resp, ERR_VALIDATION, NULL, "reference: required");
        return;
    }
    if (!water_reference_ok(ref)) {
        api_error(req, resp, ERR_VALIDATION, "INVALID_REFERENCE", "reference: not a transaction reference");
        return;
    }
    char url[128];
    snprintf(url, sizeof url, "/api/payments/paystack/verify/%s", ref);
    api_ok(req, resp, 200, "Payment callback received. Verify payment to confirm final status.",
           json_pack("{s:s, s:s}", "reference", ref, "verifyUrl", url));
}

const struct http_route water_routes[] = {
    {"POST", "/api/payments/preview", preview, ENV_DATA, 0},
    {"POST", "/api/payments/mpesa/initiate", mpesa_initiate, ENV_DATA, 0},
    {"POST", "/api/payments/mpesa/callback", mpesa_callback, ENV_DATA, 0},
    {"GET", "/api/payments/mpesa/query/{reference}", mpesa_query, ENV_DATA, LANE_PAYMENT},
    {"POST", "/api/payments/paystack/initialize", paystack_initialize_h, ENV_DATA, LANE_PAYMENT},
    {"GET", "/api/payments/paystack/verify/{reference}", paystack_verify_h, ENV_DATA, LANE_PAYMENT},
    {"GET", "/api/payments/paystack/callback", paystack_callback, ENV_DATA, 0},
    {"POST", "/api/payments/paystack/webhook", charge_webhook, ENV_DATA, 0},
    {NULL, NULL, NULL, 0, 0},
};
