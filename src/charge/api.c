/* charge/api: the integrators' Paystack face; see api.h.
 *
 * Choices where the face's own description is silent:
 * - Every reply is {success, message, data} or {success:false, message,
 *   error}; times are epoch milliseconds; amounts whole KES.
 * - Statuses as Paystack names them: pending, success, failed, cancelled,
 *   abandoned.
 * - A payment of another client is answered 404, as one that does not
 *   exist: a key never learns of another client's payments.
 * - A charge in the wrong state for cancel or retry is 400 with the state.
 * - Every request of a known, active client counts against its budget
 *   (LIPA_CLIENT_RATE_LIMIT, shared with the public payments); M-Pesa
 *   charges against the payer's phone too (LIPA_PHONE_RATE_LIMIT), except
 *   with test keys, when no phone rings.
 * - GET /status/:reference answers water orders as the water face does
 *   (no key), and this face's payments in this face's shape, with the key
 *   of the client that made them. */
#include "charge/api.h"

#include "app/app.h"
#include "app/routes.h"
#include "charge/charge.h"
#include "client/api_v1.h"
#include "client/client.h"
#include "client/payment.h"
#include "http/api.h"
#include "pay/paystack.h"
#include "store/charges.h"
#include "store/water.h"
#include "util/log.h"
#include "util/phone.h"
#include "util/str.h"
#include "water/api.h"

#include <string.h>

#define EMAIL_MAX 254
#define AMOUNT_MAX 250000      /* KES: what M-Pesa takes in one payment */
#define HISTORY_MAX 100

/* The calling client, or a reply: 401 without a key or with a key of
 * nobody's, 403 for a client that is inactive. */
static bool caller(struct app *a, struct http_req *req, struct http_resp *resp, struct client *c)
{
    const char *key = client_bearer(http_header(req, "Authorization"));
    if (!key || !client_by_key(a, key, c)) {
        log_warn("charge.bad_key", "ip=%s reason=%s", req->client_ip, key ? "unknown" : "missing");
        api_error(req, resp, ERR_UNAUTHORIZED, "INVALID_API_KEY", "Authorization: Bearer <API key> required");
        return false;
    }
    if (!c->active) {
        api_error(req, resp, ERR_FORBIDDEN, "CLIENT_INACTIVE", "This client is inactive");
        return false;
    }
    return client_within_budget(a, req, resp, c);
}

/* The calling client and the request's body checked against fields, or
 * NULL after a reply. No body at all reads as {}: cancel and retry have
 * only optional fields, and the others then name what is missing. */
static json_t *caller_body(struct app *a, struct http_req *req, struct http_resp *resp, const struct field *fields,
                           struct client *c)
{
    if (!caller(a, req, resp, c))
        return NULL;
    if (!req->body_len) {
        req->body = "{}";
        req->body_len = 2;
    }
    return api_parse(req, resp, fields);
}

/* The client's payment of this face named by the path's reference; 404
 * for an unknown one, another client's, or one of another face. */
static bool own_charge(struct app *a, struct http_req *req, struct http_resp *resp, const struct client *c,
                       struct payment *p)
{
    const char *ref = req->params[0];
    enum store_rc rc = paystack_reference_ok(ref) && strlen(ref) < CHARGE_REF_MAX
                           ? store_payment_by_reference(a->store, ref, p) : ST_NOT_FOUND;
    if (rc == ST_OK && (strcmp(p->kind, "charge") || strcmp(p->client_id, c->id)))
        rc = ST_NOT_FOUND;
    if (rc == ST_NOT_FOUND)
        api_error(req, resp, ERR_NOT_FOUND, "TRANSACTION_NOT_FOUND", "No transaction with reference %.60s", ref);
    else if (rc != ST_OK)
        api_error(req, resp, ERR_INTERNAL, NULL, "could not read the transaction");
    return rc == ST_OK;
}

static json_t *ms_or_null(int64_t ms) { return ms ? json_integer((json_int_t)ms) : json_null(); }

static json_t *charge_json(struct app *a, const struct payment *p)
{
    struct charge_extra x;
    struct water_extra w;
    if (store_charge_get(a->store, p->id, &x) != ST_OK)
        memset(&x, 0, sizeof x);
    if (store_water_extra_get(a->store, p->id, &w) != ST_OK)
        memset(&w, 0, sizeof w);
    char msisdn[PHONE_MAX] = "";
    if (p->phone[0])
        phone_msisdn(p->phone, msisdn);
    int64_t completed = !strcmp(p->status, "completed") ? (x.completed_at ? x.completed_at : p->updated_at) : 0;
    json_t *o = json_pack("{s:s, s:o, s:s, s:o, s:I, s:s, s:s, s:I, s:o, s:I}", "reference", p->reference, "bookingId",
                          api_str_or_null(x.booking_id), "email", w.email, "phone", api_str_or_null(msisdn),
                          "amount", (json_int_t)p->amount, "status", client_charge_status(p), "paymentMethod",
                          !strcmp(x.method, "card") ? "card" : "mpesa", "createdAt", (json_int_t)p->created_at,
                          "completedAt", ms_or_null(completed), "retryCount", (json_int_t)x.retry_count);
    if (x.cancelled_at)
        json_object_set_new(o, "cancelledAt", json_integer((json_int_t)x.cancelled_at));
    if (x.paid_after_cancel)
        json_object_set_new(o, "cancelTooLate", json_true());
    if (strcmp(p->status, "completed") && !payment_open(p))
        json_object_set_new(o, "reason", json_string(p->result_desc));
    if (w.metadata[0]) {
        json_t *m = json_loads(w.metadata, 0, NULL);
        if (m)
            json_object_set_new(o, "metadata", m);
    }
    return o;
}

/* ---- starting ---- */

static const struct field start_fields[] = {
    {"email", F_STRING, F_REQUIRED, 3, EMAIL_MAX},
    {"amount", F_INT, F_REQUIRED, 1, AMOUNT_MAX},
    {"phone", F_STRING, 0, 0, 20},
    {"bookingId", F_STRING, 0, 0, 64},
    {NULL, 0, 0, 0, 0},
};

static bool email_ok(const char *e)
{
    const char *at = strchr(e, '@');
    return at && at != e && at[1] && !strchr(at + 1, '@') && !strpbrk(e, " \t\r\n");
}

/* A Safaricom number in any of the four forms, or a reply naming field. */
static bool safaricom(struct http_req *req, struct http_resp *resp, const char *field, const char *in,
                      char out[PHONE_MAX])
{
    if (!in || !phone_normalize(in, out)) {
        api_error(req, resp, ERR_VALIDATION, "INVALID_PHONE",
                  "%s: not a Kenyan mobile number (0712345678, +254712345678, 254712345678 or 712345678)", field);
        return false;
    }
    const char *net = charge_network(out);
    if (!net || strcmp(net, "Safaricom")) {
        api_error(req, resp, ERR_VALIDATION, "NOT_MPESA", "%s: %s is not a Safaricom number; M-Pesa needs one", field,
                  net ? net : "this");
        return false;
    }
    return true;
}

static void start(struct app *a, struct http_req *req, struct http_resp *resp, enum charge_method method)
{
    struct client c;
    json_t *body = caller_body(a, req, resp, start_fields, &c);
    if (!body)
        return;
    struct charge_req r;
    memset(&r, 0, sizeof r);
    r.method = method;
    const char *email = api_str(body, "email"), *phone = api_str(body, "phone"), *booking = api_str(body, "bookingId");
    json_t *meta = json_object_get(body, "metadata");
    char why[320];
    struct payment p;
    struct charge_started out;
    if (!email_ok(email)) {
        api_error(req, resp, ERR_VALIDATION, "INVALID_EMAIL", "email: not an e-mail address");
        goto done;
    }
    if (meta && !json_is_object(meta) && !json_is_null(meta)) {
        api_error(req, resp, ERR_VALIDATION, NULL, "metadata: must be an object");
        goto done;
    }
    if (method != CHARGE_CARD && (!phone || !*phone)) {
        api_error(req, resp, ERR_VALIDATION, "INVALID_PHONE", "phone: required");
        goto done;
    }
    if (phone && *phone && !safaricom(req, resp, "phone", phone, r.phone))
        goto done;
    str_copy(r.email, sizeof r.email, email);
    str_copy(r.booking_id, sizeof r.booking_id, booking ? booking : "");
    r.amount = api_int(body, "amount", 0);
    r.metadata = json_is_object(meta) ? meta : NULL;
    /* the payer's budget is for a phone that would ring: with test keys
     * none does (every charge goes to Paystack's test phone) */
    if (method != CHARGE_CARD && !charge_test_mode(&a->cfg) && !client_payer_within_budget(a, req, resp, r.phone))
        goto done;
    if (!charge_test_rules(&a->cfg, &r, why, sizeof why)) {
        api_error(req, resp, ERR_VALIDATION, "INVALID_AMOUNT", "%s", why);
        goto done;
    }
    enum err e = charge_start(a, &c, &r, &p, &out, why, sizeof why);
    if (e != ERR_OK) {
        api_error(req, resp, e, e == ERR_PROVIDER ? "PAYSTACK_ERROR" : NULL, "%s", why);
        goto done;
    }
    if (method == CHARGE_CARD)
        api_ok(req, resp, 200, "Payment initialized successfully",
               json_pack("{s:s, s:s, s:s}", "reference", p.reference, "access_code", out.access_code,
                         "authorization_url", out.authorization_url));
    else
        api_ok(req, resp, 200,
               method == CHARGE_MPESA ? "MPesa STK push sent. Please check your phone to complete payment."
                                      : "MPesa payment initiated. Check your phone for the prompt.",
               json_pack("{s:s, s:s, s:s}", "reference", p.reference, "status", client_charge_status(&p), "display_text",
                         out.display_text[0] ? out.display_text
                         : method == CHARGE_MPESA ? "Check your phone for payment prompt"
                                                  : "Enter your MPesa PIN to complete"));
done:
    json_decref(body);
}

static void initialize_h(void *ctx, struct http_req *req, struct http_resp *resp) { start(ctx, req, resp, CHARGE_CARD); }
static void mpesa_h(void *ctx, struct http_req *req, struct http_resp *resp) { start(ctx, req, resp, CHARGE_MPESA); }
static void direct_h(void *ctx, struct http_req *req, struct http_resp *resp)
{
    start(ctx, req, resp, CHARGE_MPESA_DIRECT);
}

/* ---- reading ---- */

static void verify_h(void *ctx, struct http_req *req, struct http_resp *resp)
{
    struct app *a = ctx;
    struct client c;
    struct payment p;
    char why[300];
    if (!caller(a, req, resp, &c) || !own_charge(a, req, resp, &c, &p))
        return;
    if (!charge_verify(a, &p, why, sizeof why)) {
        api_error(req, resp, ERR_PROVIDER, "PAYSTACK_ERROR", "%s", why);
        return;
    }
    struct water_extra w;
    if (store_water_extra_get(a->store, p.id, &w) != ST_OK)
        memset(&w, 0, sizeof w);
    api_ok(req, resp, 200, "Payment verified successfully",
           json_pack("{s:s, s:I, s:s, s:o, s:o}", "status", client_charge_status(&p), "amount", (json_int_t)p.amount,
                     "reference", p.reference, "paid_at", api_str_or_null(w.paid_at), "channel",
                     api_str_or_null(w.channel)));
}

static void status_h(void *ctx, struct http_req *req, struct http_resp *resp)
{
    struct app *a = ctx;
    if (strncmp(req->params[0], "CH-", 3)) { /* a water order's, or nobody's */
        water_status(ctx, req, resp);
        return;
    }
    struct client c;
    struct payment p;
    if (caller(a, req, resp, &c) && own_charge(a, req, resp, &c, &p))
        api_ok(req, resp, 200, "Transaction status retrieved", charge_json(a, &p));
}

/* ---- changing ---- */

static void retry_h(void *ctx, struct http_req *req, struct http_resp *resp)
{
    struct app *a = ctx;
    static const struct field fields[] = {
        {"phone", F_STRING, 0, 0, 20},
        {"email", F_STRING, 0, 3, EMAIL_MAX},
        {NULL, 0, 0, 0, 0},
    };
    struct client c;
    struct payment p, np;
    json_t *body = caller_body(a, req, resp, fields, &c);
    if (!body)
        return;
    if (!own_charge(a, req, resp, &c, &p))
        goto done;
    struct charge_extra x;
    struct water_extra w;
    char why[320];
    if (store_charge_get(a->store, p.id, &x) != ST_OK || store_water_extra_get(a->store, p.id, &w) != ST_OK) {
        api_error(req, resp, ERR_INTERNAL, NULL, "could not read the transaction");
        goto done;
    }
    if (strcmp(p.status, "failed") && strcmp(p.status, "cancelled") && strcmp(p.status, "timeout")) {
        api_error(req, resp, ERR_VALIDATION, "NOT_RETRIABLE",
                  "Only a failed, cancelled or abandoned payment can be retried; this one is %s", client_charge_status(&p));
        goto done;
    }
    struct charge_req r;
    memset(&r, 0, sizeof r);
    const char *phone = api_str(body, "phone"), *email = api_str(body, "email");
    r.method = !strcmp(x.method, "card") ? CHARGE_CARD : !strcmp(x.method, "mpesa") ? CHARGE_MPESA : CHARGE_MPESA_DIRECT;
    if (phone && *phone) {
        if (!safaricom(req, resp, "phone", phone, r.phone))
            goto done;
    } else {
        str_copy(r.phone, sizeof r.phone, p.phone);
    }
    if (email && !email_ok(email)) {
        api_error(req, resp, ERR_VALIDATION, "INVALID_EMAIL", "email: not an e-mail address");
        goto done;
    }
    str_copy(r.email, sizeof r.email, email ? email : w.email);
    str_copy(r.booking_id, sizeof r.booking_id, x.booking_id);
    r.amount = p.amount;
    json_t *meta = w.metadata[0] ? json_loads(w.metadata, 0, NULL) : NULL;
    r.metadata = meta;
    /* the retries of a retry count towards its original's limit */
    r.retry_of = x.retry_of ? x.retry_of : p.id;
    struct charge_started started;
    bool ok = charge_test_rules(&a->cfg, &r, why, sizeof why);
    enum err e = ok ? charge_start(a, &c, &r, &np, &started, why, sizeof why) : ERR_VALIDATION;
    json_decref(meta);
    if (e == ERR_CONFLICT || e == ERR_UNPROCESSABLE) {
        api_error(req, resp, ERR_VALIDATION, e == ERR_CONFLICT ? "RETRY_LIMIT" : "RETRY_PENDING", "%s", why);
        goto done;
    }
    if (e != ERR_OK) {
        api_error(req, resp, e, e == ERR_PROVIDER ? "PAYSTACK_ERROR" : NULL, "%s", why);
        goto done;
    }
    api_ok(req, resp, 200, "Payment retry initiated",
           json_pack("{s:s, s:s, s:I}", "originalReference", p.reference, "newReference", np.reference, "retryCount",
                     (json_int_t)started.retry_count));
done:
    json_decref(body);
}

static void cancel_h(void *ctx, struct http_req *req, struct http_resp *resp)
{
    struct app *a = ctx;
    static const struct field fields[] = {
        {"reason", F_STRING, 0, 0, 256},
        {NULL, 0, 0, 0, 0},
    };
    struct client c;
    struct payment p;
    json_t *body = caller_body(a, req, resp, fields, &c);
    if (!body)
        return;
    if (own_charge(a, req, resp, &c, &p)) {
        const char *reason = api_str(body, "reason");
        enum err e = charge_cancel(a, &p, reason);
        struct charge_extra x;
        if (e == ERR_CONFLICT)
            api_error(req, resp, ERR_VALIDATION, "NOT_CANCELLABLE", "Only a pending payment can be cancelled; this one is %s",
                      client_charge_status(&p));
        else if (e != ERR_OK || store_charge_get(a->store, p.id, &x) != ST_OK)
            api_error(req, resp, ERR_INTERNAL, NULL, "could not cancel the payment");
        else
            api_ok(req, resp, 200, "Payment cancelled successfully",
                   json_pack("{s:s, s:I}", "reference", p.reference, "cancelledAt", (json_int_t)x.cancelled_at));
    }
    json_decref(body);
}

/* ---- history ---- */

static void add_row(void *arr, const struct payment *p)
{
    json_array_append_new(arr, json_pack("{s:s, s:I, s:s, s:I}", "reference", p->reference, "amount",
                                         (json_int_t)p->amount, "status", client_charge_status(p), "createdAt",
                                         (json_int_t)p->created_at));
}

static void history_h(void *ctx, struct http_req *req, struct http_resp *resp)
{
    struct app *a = ctx;
    struct client c;
    if (!caller(a, req, resp, &c))
        return;
    const char *user = req->params[0], *ql = http_query(req, "limit"), *qo = http_query(req, "offset"),
               *qs = http_query(req, "status");
    int64_t limit = 50, offset = 0;
    if (!*user || strlen(user) > 64) {
        api_error(req, resp, ERR_VALIDATION, NULL, "userId: 1 to 64 characters");
        return;
    }
    if (ql && !str_to_i64(ql, 1, INT64_MAX, &limit)) {
        api_error(req, resp, ERR_VALIDATION, NULL, "limit: a whole number from 1");
        return;
    }
    if (qo && !str_to_i64(qo, 0, 1000000000, &offset)) {
        api_error(req, resp, ERR_VALIDATION, NULL, "offset: a whole number from 0");
        return;
    }
    if (limit > HISTORY_MAX)
        limit = HISTORY_MAX;
    /* the face's statuses, in lipa's words */
    static const char *const pending[] = {"pending", "processing", NULL}, *const success[] = {"completed", NULL},
                             *const failed[] = {"failed", NULL}, *const cancelled[] = {"cancelled", NULL},
                             *const abandoned[] = {"timeout", NULL};
    const char *const *set = NULL;
    if (qs) {
        set = !strcmp(qs, "pending") ? pending : !strcmp(qs, "success") ? success : !strcmp(qs, "failed") ? failed
              : !strcmp(qs, "cancelled") ? cancelled : !strcmp(qs, "abandoned") ? abandoned : NULL;
        if (!set) {
            api_error(req, resp, ERR_VALIDATION, NULL, "status: one of pending, success, failed, cancelled, abandoned");
            return;
        }
    }
    json_t *arr = json_array();
    int64_t total = 0;
    if (store_charge_history(a->store, c.id, user, set, limit, offset, add_row, arr, &total) != ST_OK) {
        json_decref(arr);
        api_error(req, resp, ERR_INTERNAL, NULL, "could not read the history");
        return;
    }
    api_ok(req, resp, 200, NULL,
           json_pack("{s:o, s:I, s:I, s:I}", "transactions", arr, "total", (json_int_t)total, "limit",
                     (json_int_t)limit, "offset", (json_int_t)offset));
}

/* ---- phones ---- */

static void validate_phone_h(void *ctx, struct http_req *req, struct http_resp *resp)
{
    struct app *a = ctx;
    static const struct field fields[] = {
        {"phone", F_STRING, F_REQUIRED, 1, 20},
        {NULL, 0, 0, 0, 0},
    };
    struct client c;
    json_t *body = caller_body(a, req, resp, fields, &c);
    if (!body)
        return;
    const char *in = api_str(body, "phone");
    char e164[PHONE_MAX], msisdn[PHONE_MAX];
    const char *net = phone_normalize(in, e164) ? charge_network(e164) : NULL;
    if (!net) {
        api_error(req, resp, ERR_VALIDATION, "INVALID_PHONE",
                  "phone: not a Safaricom, Airtel or Telkom number (0712345678, +254712345678, 254712345678 or 712345678)");
    } else {
        phone_msisdn(e164, msisdn);
        const char *provider = !strcmp(net, "Safaricom") ? "Safaricom MPesa"
                               : !strcmp(net, "Airtel")  ? "Airtel Money" : "Telkom T-Kash";
        api_ok(req, resp, 200, "Phone number is valid",
               json_pack("{s:s, s:s, s:s, s:s, s:b}", "originalPhone", in, "formattedPhone", msisdn, "country", "Kenya",
                         "provider", provider, "mpesa", !strcmp(net, "Safaricom")));
    }
    json_decref(body);
}

/* ---- escrow ---- */

static void release_h(void *ctx, struct http_req *req, struct http_resp *resp)
{
    struct app *a = ctx;
    static const struct field fields[] = {
        {"bookingId", F_STRING, F_REQUIRED, 1, 64},
        {"teacherPhone", F_STRING, F_REQUIRED, 1, 20},
        {"amount", F_INT, F_REQUIRED, 1, AMOUNT_MAX},
        {NULL, 0, 0, 0, 0},
    };
    struct client c;
    json_t *body = caller_body(a, req, resp, fields, &c);
    if (!body)
        return;
    char phone[PHONE_MAX], why[320], msisdn[PHONE_MAX];
    const char *key = http_header(req, "Idempotency-Key");
    if (key && !*key) /* an empty header is no key, as on the payment faces */
        key = NULL;
    struct escrow_release r;
    if (key && ( strlen(key) > 128 || strspn(key, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.=+/") != strlen(key))) {
        api_error(req, resp, ERR_VALIDATION, NULL, "Idempotency-Key: at most 128 letters, digits or -_.=+/");
    } else if (safaricom(req, resp, "teacherPhone", api_str(body, "teacherPhone"), phone)) {
        enum err e = charge_release(a, &c, api_str(body, "bookingId"), phone, api_int(body, "amount", 0), key, &r, why,
                                    sizeof why);
        if (e != ERR_OK) {
            api_error(req, resp, e, e == ERR_UNPROCESSABLE ? "INSUFFICIENT_ESCROW" : NULL, "%s", why);
        } else if (!strcmp(r.status, "failed") || !strcmp(r.status, "reversed")) {
            api_error(req, resp, ERR_PROVIDER, "TRANSFER_FAILED", "%s", r.last_error);
        } else {
            phone_msisdn(r.phone, msisdn);
            api_ok(req, resp, 200,
                   !strcmp(r.status, "success") ? "Escrow payment released successfully"
                                                : "Escrow release accepted; the transfer is on its way",
                   json_pack("{s:s, s:I, s:s, s:o, s:s, s:s}", "bookingId", r.booking_id, "amount", (json_int_t)r.amount,
                             "teacherPhone", msisdn, "releasedAt", ms_or_null(r.released_at), "status", r.status,
                             "transferReference", r.reference));
        }
    }
    json_decref(body);
}

/* ---- the webhook ---- */

void charge_webhook(void *ctx, struct http_req *req, struct http_resp *resp)
{
    struct app *a = ctx;
    const char *sig = http_header(req, "x-paystack-signature");
    if (!sig || !paystack_signature_ok(a->cfg.paystack_secret, req->body, req->body_len, sig)) {
        log_warn("paystack.webhook_refused", "ip=%s reason=%s", req->client_ip, sig ? "signature" : "no_signature");
        api_error(req, resp, ERR_UNAUTHORIZED, "INVALID_SIGNATURE", "x-paystack-signature: missing or wrong");
        return;
    }
    switch (charge_event(a, req->body, req->body_len)) {
    case CEV_APPLIED:
        api_json(resp, 200, json_pack("{s:b, s:s}", "success", 1, "message", "Webhook processed"));
        break;
    case CEV_REPEAT:
        api_json(resp, 200, json_pack("{s:b, s:s}", "success", 1, "message", "Event already processed"));
        break;
    case CEV_UNKNOWN: /* answered 200 so Paystack stops sending it; it is recorded */
        api_json(resp, 200, json_pack("{s:b, s:s}", "success", 1, "message", "Unknown reference; recorded"));
        break;
    case CEV_IGNORED:
        api_json(resp, 200, json_pack("{s:b, s:s}", "success", 1, "message", "Event ignored"));
        break;
    case CEV_BAD:
        api_error(req, resp, ERR_BAD_JSON, NULL, "body: not a Paystack event");
        break;
    default:
        api_error(req, resp, ERR_INTERNAL, NULL, "could not record the event; send it again");
    }
}

const struct http_route charge_routes[] = {
    {"POST", "/api/payments/initialize", initialize_h, ENV_DATA, LANE_PAYMENT},
    {"POST", "/api/payments/mpesa", mpesa_h, ENV_DATA, LANE_PAYMENT},
    {"POST", "/api/payments/mpesa/direct", direct_h, ENV_DATA, LANE_PAYMENT},
    {"GET", "/api/payments/verify/{reference}", verify_h, ENV_DATA, LANE_PAYMENT},
    {"GET", "/api/payments/status/{reference}", status_h, ENV_DATA, 0},
    {"POST", "/api/payments/retry/{reference}", retry_h, ENV_DATA, LANE_PAYMENT},
    {"POST", "/api/payments/cancel/{reference}", cancel_h, ENV_DATA, 0},
    {"GET", "/api/payments/history/{userId}", history_h, ENV_DATA, 0},
    {"POST", "/api/payments/validate-phone", validate_phone_h, ENV_DATA, 0},
    {"POST", "/api/payments/release-escrow", release_h, ENV_DATA, LANE_PAYMENT},
    {"POST", "/api/payments/webhook", charge_webhook, ENV_DATA, 0},
    {NULL, NULL, NULL, 0, 0},
};
