/* client/api_v1: the integrators' public payments; see api_v1.h.
 *
 * Bodies are snake_case JSON as integrators write them; answers are the
 * objects themselves and errors {"error": "..."} (ENV_BARE), including the
 * 404/405/413/503/504 lipad answers itself under /api/v1/ (app/routes.c).
 * No key: the body's client_id names the integrator, and an unknown or
 * inactive one is 403 "Invalid or inactive client". Each active client
 * has its own budget of requests (LIPA_CLIENT_RATE_LIMIT per
 * LIPA_CLIENT_RATE_WINDOW s, 429 with Retry-After), counted once the
 * client is known, so made-up ids cannot crowd real clients out of the
 * budget table; the water face's per-address limit does not apply (an
 * integrator's back-end sends every customer's requests from one
 * address). Browsers may call both endpoints from the origins in
 * LIPA_CORS_ORIGINS (http/cors.h).
 *
 * Choices where integrators were not told:
 *  - package_id: a malformed one is 400 "Invalid package_id format"; an
 *    unknown one, another client's and an inactive one are all 404
 *    "Package not found" (another client's packages are not revealed, and
 *    an inactive package is not for sale).
 *  - phone_number: any form phone.h reads (0712..., 254712..., +254712...);
 *    answered as +254712345678.
 *  - description: 1 to 255 bytes of text; it is the payment's note (M-Pesa's
 *    prompt shows the reference, PKG-<6 characters>).
 *  - initiate answers once the payment worker has pushed (no thread
 *    waits: pay/api_wait.h). Pushed: 200 with the push's CheckoutRequestID
 *    as checkout_id. Not pushed within LIPA_REST_WAIT_MS (M-Pesa slow, or
 *    a prompt already out on that phone, which holds the push back): 200,
 *    status pending, checkout_id null; the push follows, and status takes
 *    the transaction_id until the checkout_id is known. Refused by M-Pesa
 *    (or M-Pesa unreachable until lipa gave up): 500 "failed to initiate
 *    STK push: <why>".
 *  - status accepts transaction_id in place of checkout_id. A payment of
 *    another client is 404 "Payment not found", as an unknown one. An open
 *    payment with a checkout is asked of M-Pesa (the answer is stored);
 *    when M-Pesa cannot be reached the stored status (pending) is
 *    answered. A final one is answered from the store.
 *  - Idempotency-Key on initiate, scoped to the client and bound to
 *    client_id, package_id, phone_number and description (pay/idem.h): the
 *    same key again answers the same payment; with other fields, 422. */
#include "client/api_v1.h"

#include "app/app.h"
#include "app/routes.h"
#include "client/payment.h"
#include "http/api.h"
#include "http/cors.h"
#include "http/ratelimit.h"
#include "pay/api_wait.h"
#include "pay/idem.h"
#include "pay/pay.h"
#include "pay/purchase.h"
#include "store/clients.h"
#include "store/payments.h"
#include "util/crypto.h"
#include "util/log.h"
#include "util/phone.h"
#include "util/str.h"

#include <stdio.h>
#include <string.h>

#define CORS_METHODS "POST, OPTIONS"
#define CORS_HEADERS "Content-Type, Idempotency-Key"
#define CORS_MAX_AGE_S 600
#define CHECKOUT_ID_MAX 63

/* A UUID of body[name] in lower case into out; false when it is not one. */
static bool uuid_of(json_t *body, const char *name, char out[37])
{
    const char *s = api_str(body, name);
    if (!s || !crypto_uuid_ok(s))
        return false;
    for (int i = 0; i < 36; i++)
        out[i] = (char)(s[i] >= 'A' && s[i] <= 'F' ? s[i] + 32 : s[i]);
    out[36] = 0;
    return true;
}

/* The request's client, known and active; false after replying 400, 403
 * or 500. */
static bool client_of(struct app *a, struct http_req *req, struct http_resp *resp, json_t *body, struct client *c)
{
    char id[37];
    if (!uuid_of(body, "client_id", id)) {
        api_error(req, resp, ERR_VALIDATION, NULL, "Invalid client_id format");
        return false;
    }
    enum store_rc rc = store_client_get(a->store, id, c);
    if (rc == ST_ERROR) {
        api_error(req, resp, ERR_INTERNAL, NULL, "could not read the client; try again");
        return false;
    }
    if (rc == ST_NOT_FOUND || !c->active) {
        api_error(req, resp, ERR_FORBIDDEN, NULL, "Invalid or inactive client");
        return false;
    }
    return true;
}

/* Counts the request against c's budget; over it, answers 429 with
 * Retry-After and returns false. */
bool client_within_budget(struct app *a, struct http_req *req, struct http_resp *resp, const struct client *c)
{
    struct ratelimit_verdict v;
    if (!a->client_limit)
        return true;
    int64_t now = now_ms();
    ratelimit_take_key(a->client_limit, c->id, now, &v);
    char num[24];
    snprintf(num, sizeof num, "%lld", (long long)v.limit);
    http_resp_header(resp, "X-RateLimit-Limit", num);
    snprintf(num, sizeof num, "%lld", (long long)v.remaining);
    http_resp_header(resp, "X-RateLimit-Remaining", num);
    snprintf(num, sizeof num, "%lld", (long long)((v.reset_ms + 999) / 1000));
    http_resp_header(resp, "X-RateLimit-Reset", num);
    if (v.allowed)
        return true;
    snprintf(num, sizeof num, "%lld", (long long)((v.reset_ms - now + 999) / 1000));
    http_resp_header(resp, "Retry-After", num);
    log_info("client.rate_limited", "client=%s limit=%lld", c->id, (long long)v.limit);
    api_error(req, resp, ERR_RATE_LIMIT, NULL, "Rate limit exceeded: %lld requests per %lld s for this client; "
              "try again in %s s", (long long)v.limit, (long long)a->cfg.client_rate_window, num);
    return false;
}

/* Counts one payment request for phone against its budget (an M-Pesa
 * prompt rings someone's phone); over it, answers 429 and returns false. */
bool client_payer_within_budget(struct app *a, struct http_req *req, struct http_resp *resp, const char *phone)
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
    api_error(req, resp, ERR_RATE_LIMIT, NULL,
              "Too many payment requests for this phone number; try again in %s s", num);
    return false;
}

/* The client's active package named by body; false after replying 400,
 * 404 or 500. */
static bool package_of(struct app *a, struct http_req *req, struct http_resp *resp, json_t *body,
                       const struct client *c, struct package *pk)
{
    char id[37];
    if (!uuid_of(body, "package_id", id)) {
        api_error(req, resp, ERR_VALIDATION, NULL, "Invalid package_id format");
        return false;
    }
    enum store_rc rc = store_package_get(a->store, id, pk);
    if (rc == ST_ERROR) {
        api_error(req, resp, ERR_INTERNAL, NULL, "could not read the package; try again");
        return false;
    }
    /* another client's package, or one not for sale, is as unknown as a
     * missing one */
    if (rc == ST_NOT_FOUND || strcmp(pk->client_id, c->id) || !pk->active) {
        api_error(req, resp, ERR_NOT_FOUND, NULL, "Package not found");
        return false;
    }
    return true;
}

/* The answer of initiate once the push went out, was refused, or is still
 * queued at the deadline. */
static void initiate_answer(struct app *a, const struct http_route *route, const struct payment *p,
                            struct http_resp *resp)
{
    (void)a;
    struct http_req r = {.route = route}; /* api_error reads the envelope only */
    const char *status = client_payment_status(p);
    if (!strcmp(status, "pending") || p->checkout_request_id[0]) {
        const char *msg = p->checkout_request_id[0] ? "Payment initiated successfully"
                                                    : "Payment queued: the M-Pesa prompt will follow shortly";
        if (strcmp(status, "pending")) /* a repeat (Idempotency-Key) of a settled payment */
            msg = !strcmp(status, "completed") ? "Payment completed"
                : !strcmp(status, "cancelled") ? "Payment cancelled" : "Payment failed";
        json_t *j = json_object();
        json_object_set_new(j, "transaction_id", json_string(p->transaction_id));
        json_object_set_new(j, "checkout_id", api_str_or_null(p->checkout_request_id));
        json_object_set_new(j, "message", json_string(msg));
        json_object_set_new(j, "status", json_string(status));
        api_json(resp, 200, j);
        return;
    }
    api_error(&r, resp, ERR_INTERNAL, NULL, "failed to initiate STK push: %.300s",
              p->last_error[0] ? p->last_error : p->result_desc[0] ? p->result_desc : "refused by M-Pesa");
}

/* The Idempotency-Key of an initiate: the client is the caller (its id's
 * first 20 hex digits name it within the key, and the whole id is in the
 * fingerprint, so no two clients' keys ever meet); bound to every field
 * that makes the payment. False with why when the header is malformed. */
static bool initiate_idem(struct http_req *req, const struct client *c, const struct package *pk,
                          const char *phone, const char *description, struct idem *id, char *why, size_t whysz)
{
    char scope[IDEM_SCOPE_MAX + 1];
    size_t n = 0;
    for (const char *s = c->id; *s && n < IDEM_SCOPE_MAX; s++)
        if (*s != '-')
            scope[n++] = *s;
    scope[n] = 0;
    if (!idem_begin(id, "pkg", scope, http_header(req, "Idempotency-Key"), why, whysz))
        return false;
    idem_text(id, "client_id", c->id);
    idem_text(id, "package_id", pk->id);
    idem_text(id, "phone_number", phone);
    idem_text(id, "description", description);
    return true;
}

static void initiate(void *ctx, struct http_req *req, struct http_resp *resp)
{
    struct app *a = ctx;
    static const char *const required[] = {"client_id", "package_id", "phone_number", "description", NULL};
    http_cors(req, resp, a->cfg.cors_origins);
    json_t *body = api_parse(req, resp, NULL);
    if (!body)
        return;
    char missing[128], phone[PHONE_MAX], why[200];
    struct client c;
    struct package pk;
    struct payment p;
    struct idem id;
    if (client_missing_fields(body, required, missing, sizeof missing)) {
        api_error(req, resp, ERR_VALIDATION, NULL, "Missing required fields: %s", missing);
        goto out;
    }
    if (!client_of(a, req, resp, body, &c) || !client_within_budget(a, req, resp, &c) ||
        !package_of(a, req, resp, body, &c, &pk))
        goto out;
    const char *ph = api_str(body, "phone_number"), *desc = api_str(body, "description");
    if (!ph || !phone_normalize(ph, phone)) {
        api_error(req, resp, ERR_VALIDATION, NULL,
                  "Invalid phone_number: must be a Kenyan mobile number, +254XXXXXXXXX");
        goto out;
    }
    if (!desc || strlen(desc) > CLIENT_NOTE_MAX || !str_is_clean_utf8(desc, strlen(desc))) {
        api_error(req, resp, ERR_VALIDATION, NULL, "Invalid description: text of at most %d bytes",
                  CLIENT_NOTE_MAX);
        goto out;
    }
    if (!client_payer_within_budget(a, req, resp, phone))
        goto out;
    if (!initiate_idem(req, &c, &pk, phone, desc, &id, why, sizeof why)) {
        api_error(req, resp, ERR_VALIDATION, NULL, "%s", why);
        goto out;
    }
    enum store_rc rc = client_payment_start(a, &c, &pk, phone, desc, id.key, id.fp, &p);
    if (rc != ST_OK && rc != ST_CONFLICT) {
        api_error(req, resp, ERR_INTERNAL, NULL, "could not store the payment; try again");
        goto out;
    }
    if (idem_conflicts(&id, &p)) {
        api_error(req, resp, ERR_UNPROCESSABLE, NULL, "Idempotency-Key: already used for a different request");
        goto out;
    }
    /* answered once the payment worker has pushed it, with no thread
     * waiting meanwhile */
    pushwait_park(a, req, resp, &p, a->cfg.push_wait_ms, initiate_answer);
out:
    json_decref(body);
}

/* The payment named by body's checkout_id (or transaction_id) that
 * belongs to c; false after replying 400, 404 or 500. */
static bool payment_of(struct app *a, struct http_req *req, struct http_resp *resp, json_t *body,
                       const struct client *c, bool by_transaction, struct payment *p)
{
    enum store_rc rc;
    if (by_transaction) {
        char tid[37];
        if (!uuid_of(body, "transaction_id", tid)) {
            api_error(req, resp, ERR_VALIDATION, NULL, "Invalid transaction_id format");
            return false;
        }
        rc = store_payment_by_transaction(a->store, tid, p);
    } else {
        const char *cid = api_str(body, "checkout_id");
        if (!cid || strlen(cid) > CHECKOUT_ID_MAX || !str_is_clean_utf8(cid, strlen(cid))) {
            api_error(req, resp, ERR_VALIDATION, NULL, "Invalid checkout_id format");
            return false;
        }
        rc = store_payment_by_checkout(a->store, cid, p);
    }
    if (rc == ST_ERROR) {
        api_error(req, resp, ERR_INTERNAL, NULL, "could not read the payment; try again");
        return false;
    }
    /* another client's payment (or one no integrator made here) is as
     * unknown as a missing one */
    if (rc == ST_NOT_FOUND || strcmp(p->client_id, c->id) || strcmp(p->kind, "package")) {
        api_error(req, resp, ERR_NOT_FOUND, NULL, "Payment not found");
        return false;
    }
    return true;
}

/* Runs on the payment lane: it may ask M-Pesa. */
static void status(void *ctx, struct http_req *req, struct http_resp *resp)
{
    struct app *a = ctx;
    static const char *const by_checkout[] = {"client_id", "checkout_id", NULL};
    static const char *const by_transaction[] = {"client_id", "transaction_id", NULL};
    http_cors(req, resp, a->cfg.cors_origins);
    json_t *body = api_parse(req, resp, NULL);
    if (!body)
        return;
    char missing[64];
    struct client c;
    struct payment p;
    static const char *const checkout[] = {"checkout_id", NULL}, *const transaction[] = {"transaction_id", NULL};
    /* checkout_id is the name integrators are given; transaction_id
     * stands in for it only when it is missing (a push still queued) */
    bool by_tx = client_missing_fields(body, checkout, missing, sizeof missing) &&
                 !client_missing_fields(body, transaction, missing, sizeof missing);
    if (client_missing_fields(body, by_tx ? by_transaction : by_checkout, missing, sizeof missing)) {
        api_error(req, resp, ERR_VALIDATION, NULL, "Missing required fields: %s", missing);
        goto out;
    }
    if (!client_of(a, req, resp, body, &c) || !client_within_budget(a, req, resp, &c) ||
        !payment_of(a, req, resp, body, &c, by_tx, &p))
        goto out;
    if (!strcmp(client_payment_status(&p), "pending") && p.checkout_request_id[0]) {
        struct pay_query_res res;
        purchase_query(a, &p, &res); /* a final answer is stored, and p re-read */
        if (res.outcome != PAY_OK)
            log_warn("package.query_failed", "payment=%lld client=%s error=\"%s\"", (long long)p.id, c.id,
                     res.error);
    }
    api_json(resp, 200, client_payment_json(&p));
out:
    json_decref(body);
}

static void preflight(void *ctx, struct http_req *req, struct http_resp *resp)
{
    struct app *a = ctx;
    http_cors_preflight(req, resp, a->cfg.cors_origins, CORS_METHODS, CORS_HEADERS, CORS_MAX_AGE_S);
}

const struct http_route client_v1_routes[] = {
    {"POST", "/api/v1/payments/initiate", initiate, ENV_BARE, 0},
    {"POST", "/api/v1/payments/status", status, ENV_BARE, LANE_PAYMENT},
    {"OPTIONS", "/api/v1/payments/initiate", preflight, ENV_BARE, 0},
    {"OPTIONS", "/api/v1/payments/status", preflight, ENV_BARE, 0},
    {NULL, NULL, NULL, 0, 0},
};
