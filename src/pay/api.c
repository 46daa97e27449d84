/* pay/api: the /mpesa REST face; see api.h. */
#include "pay/api.h"

#include "app/app.h"
#include "http/api.h"
#include "pay/idem.h"
#include "pay/purchase.h"
#include "pay/api_wait.h"
#include "store/meters.h"
#include "store/payments.h"
#include "store/users.h"
#include "user/api.h"
#include "util/crypto.h"
#include "util/log.h"
#include "util/metrics.h"
#include "util/phone.h"
#include "util/str.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

json_t *payment_json(const struct payment *p, bool personal)
{
    char created[32], updated[32], kwh[24];
    str_iso_time(p->created_at, created);
    str_iso_time(p->updated_at, updated);
    purchase_kwh_text(p->energy, kwh);
    json_t *j = json_pack("{s:I, s:I, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s}", "id", (json_int_t)p->id,
                          "amount", (json_int_t)p->amount, "merchantRequestId", p->merchant_request_id,
                          "checkoutRequestId", p->checkout_request_id, "responseCode", p->response_code,
                          "responseDescription", p->response_description, "customerMessage", p->customer_message,
                          "status", p->status, "createdAt", created, "updatedAt", updated, "resultDesc",
                          p->result_desc, "topupStatus", p->topup_status);
    if (personal) {
        json_object_set_new(j, "phoneNumber", json_string(p->phone));
        json_object_set_new(j, "userId", p->user_id ? json_integer(p->user_id) : json_null());
        json_object_set_new(j, "meterId", json_string(p->meter_id));
        json_object_set_new(j, "mpesaReceiptNumber", json_string(p->mpesa_receipt));
    }
    json_object_set_new(j, "resultCode", p->result_code >= 0 ? json_integer(p->result_code) : json_null());
    json_object_set_new(j, "energyKwh", api_decimal((double)p->energy / 10.0, 1));
    json_object_set_new(j, "origin", json_string(p->origin));
    if (p->last_error[0])
        json_object_set_new(j, "lastError", json_string(p->last_error));
    if (p->topup_error[0])
        json_object_set_new(j, "topupError", json_string(p->topup_error));
    return j;
}

/* The answer of POST /mpesa/payment once the push went out, was refused,
 * failed and waits for its retry, or is still queued at the deadline. */
static void payment_pushed_answer(struct app *a, const struct http_route *route, const struct payment *p,
                                  struct http_resp *resp)
{
    (void)a, (void)route;
    if (!strcmp(p->status, "pending")) {
        /* M-Pesa is slow or down, or a prompt is out on that phone: the
         * push stays queued and is retried */
        json_t *j = json_pack("{s:b, s:s, s:n, s:n, s:I}", "success", 1, "message", "STK push queued",
                              "merchantRequestId", "checkoutRequestId", "mpesaTransactionId", (json_int_t)p->id);
        api_json(resp, 202, j);
    } else if (p->checkout_request_id[0]) {
        api_json(resp, 200, json_pack("{s:b, s:s, s:s, s:s, s:I}", "success", 1, "message", "STK push sent",
                                      "merchantRequestId", p->merchant_request_id, "checkoutRequestId",
                                      p->checkout_request_id, "mpesaTransactionId", (json_int_t)p->id));
    } else {
        api_json(resp, 502, json_pack("{s:b, s:s, s:s, s:I}", "success", 0, "message",
                                      p->last_error[0] ? p->last_error : "M-Pesa refused the request", "error",
                                      "STK_PUSH_FAILED", "mpesaTransactionId", (json_int_t)p->id));
    }
}

/* The payment's Idempotency-Key: the admin is this face's one caller, so
 * the key is not scoped further; bound to every field that makes the
 * payment. False with why when the header is malformed. */
static bool payment_idem(struct http_req *req, json_t *body, int64_t uid, const char *phone, struct idem *id,
                         char *why, size_t whysz)
{
    if (!idem_begin(id, "api", NULL, http_header(req, "Idempotency-Key"), why, whysz))
        return false;
    idem_int(id, "userId", uid);
    idem_text(id, "phoneNumber", phone);
    idem_text(id, "meterId", api_str(body, "meterId"));
    idem_int(id, "amount", api_int(body, "amount", 0));
    idem_text(id, "accountReference", api_str(body, "accountReference"));
    idem_text(id, "description", api_str(body, "description"));
    return true;
}

static void mpesa_payment(void *ctx, struct http_req *req, struct http_resp *resp)
{
    struct app *a = ctx;
    static const struct field fields[] = {
        {"amount", F_INT, F_REQUIRED, 1, 150000},
        {"phoneNumber", F_STRING, F_REQUIRED, 9, 20},
        {"meterId", F_STRING, F_REQUIRED, 1, 64},
        {"userId", F_ID, F_REQUIRED, 1, 0},
        {"accountReference", F_STRING, 0, 0, 12},
        {"description", F_STRING, 0, 0, 13},
        {NULL, 0, 0, 0, 0},
    };
    if (!api_require_admin(req, resp, a->cfg.admin_key))
        return;
    json_t *body = api_parse(req, resp, fields);
    if (!body)
        return;
    char phone[PHONE_MAX], why[200];
    struct user u;
    struct payment p;
    struct idem id;
    int64_t uid = user_id_of(json_object_get(body, "userId"));
    if (!phone_normalize(api_str(body, "phoneNumber"), phone)) {
        api_error(req, resp, ERR_VALIDATION, NULL, "phoneNumber: not a Kenyan mobile number");
        goto out;
    }
    if (store_user_get(a->store, uid, &u) != ST_OK) {
        api_error(req, resp, ERR_NOT_FOUND, "USER_NOT_FOUND", "userId: user %lld does not exist", (long long)uid);
        goto out;
    }
    if (!payment_idem(req, body, uid, phone, &id, why, sizeof why)) {
        api_error(req, resp, ERR_VALIDATION, NULL, "%s", why);
        goto out;
    }
    struct purchase_req pr = {
        .origin = "api", .idem_key = id.key, .idem_fp = id.fp, .user_id = uid, .phone = phone,
        .meter_id = api_str(body, "meterId"), .amount = api_int(body, "amount", 0),
        .account_ref = api_str(body, "accountReference"), .description = api_str(body, "description"),
    };
    switch (purchase_start(a, &pr, &p)) {
    case PR_NONE:
        break;
    case PR_AMOUNT_RANGE:
        api_error(req, resp, ERR_VALIDATION, "INVALID_AMOUNT", "amount: must be whole KES from %lld to %lld",
                  (long long)a->cfg.min_amount, (long long)a->cfg.max_amount);
        goto out;
    case PR_NO_METER:
        api_error(req, resp, ERR_NOT_FOUND, "METER_NOT_FOUND", "meterId: meter does not exist");
        goto out;
    case PR_NOT_ASSIGNED:
        api_error(req, resp, ERR_FORBIDDEN, "METER_NOT_ASSIGNED", "meterId: meter is not assigned to this user");
        goto out;
    case PR_METER_INACTIVE:
        api_error(req, resp, ERR_FORBIDDEN, "METER_INACTIVE", "meterId: meter is not active");
        goto out;
    case PR_STORE:
        api_error(req, resp, ERR_INTERNAL, NULL, "could not store the payment");
        goto out;
    }
    if (idem_conflicts(&id, &p)) {
        api_error(req, resp, ERR_UNPROCESSABLE, "IDEMPOTENCY_KEY_REUSED",
                  "Idempotency-Key: already used for a different request");
        goto out;
    }
    /* answered once the payment worker has pushed it, with no thread
     * waiting meanwhile (pay/api_wait.h) */
    pushwait_park(a, req, resp, &p, a->cfg.push_wait_ms, payment_pushed_answer);
out:
    json_decref(body);
}

static void mpesa_status(void *ctx, struct http_req *req, struct http_resp *resp)
{
    struct app *a = ctx;
    struct payment p;
    if (strlen(req->params[0]) > 63) {
        api_error(req, resp, ERR_VALIDATION, NULL, "checkoutRequestId: too long");
        return;
    }
    enum store_rc rc = store_payment_by_checkout(a->store, req->params[0], &p);
    if (rc == ST_NOT_FOUND)
        api_error(req, resp, ERR_NOT_FOUND, "TRANSACTION_NOT_FOUND", "No transaction with that checkoutRequestId");
    else if (rc != ST_OK)
        api_error(req, resp, ERR_INTERNAL, NULL, "could not read the transaction");
    else /* how it went, to anyone; who paid, only to the admin: checkout ids are guessable */
        api_ok(req, resp, 200, NULL, payment_json(&p, api_is_admin(req, a->cfg.admin_key)));
}

static void add_payment(void *arr, const struct payment *p) { json_array_append_new(arr, payment_json(p, true)); }

static void mpesa_transactions(void *ctx, struct http_req *req, struct http_resp *resp)
{
    struct app *a = ctx;
    if (!api_require_admin(req, resp, a->cfg.admin_key))
        return;
    json_t *arr = json_array();
    if (store_payments_list(a->store, "electricity", add_payment, arr) != ST_OK) {
        json_decref(arr);
        api_error(req, resp, ERR_INTERNAL, NULL, "could not list transactions");
        return;
    }
    api_ok(req, resp, 200, NULL, arr);
}

/* A callback parked until the store has it: who answers, and how. */
struct parked_callback {
    struct http_deferred *d;
    const struct http_route *route;
    pay_callback_reply_fn reply;
};

static void callback_recorded(void *arg, enum err e)
{
    struct parked_callback *pc = arg;
    struct http_resp *out = http_defer_claim(pc->d); /* NULL: lipad is stopping and answered it */
    if (out)
        pc->reply(pc->route, out, e, "");
    http_defer_done(pc->d);
    free(pc);
}

void pay_callback_face(struct app *a, struct http_req *req, struct http_resp *resp, pay_callback_reply_fn reply)
{
    const char *secret = http_query(req, "secret");
    if (!secret || !crypto_streq(secret, a->callback_secret)) {
        log_warn("mpesa.callback_refused", "ip=%s path=%s reason=secret", req->client_ip, req->path);
        metrics_callback(MC_REJECTED);
        reply(req->route, resp, ERR_UNAUTHORIZED, "secret: missing or wrong");
        return;
    }
    char why[200] = "";
    /* stored through the group commit, answered when stored: the HTTP
     * thread goes on serving USSD hops meanwhile */
    struct parked_callback *pc = malloc(sizeof *pc);
    if (!pc || !(pc->d = http_defer(req))) { /* out of memory: "try again"; the STK query settles it */
        free(pc);
        reply(req->route, resp, ERR_INTERNAL, "");
        return;
    }
    pc->route = req->route;
    pc->reply = reply;
    enum err e = purchase_callback_queue(a, req->body, req->body_len, why, sizeof why, callback_recorded, pc);
    if (e == ERR_OK)
        return; /* answered by callback_recorded */
    if (e == ERR_VALIDATION) {
        log_warn("mpesa.callback_malformed", "ip=%s reason=\"%s\"", req->client_ip, why);
        metrics_callback(MC_REJECTED);
    }
    struct http_resp *out = http_defer_claim(pc->d); /* not answered by anyone else yet: no deadline */
    if (out)
        reply(req->route, out, e, why);
    http_defer_done(pc->d);
    free(pc);
}

/* Daraja's own answer shape: {ResultCode, ResultDesc}. */
static void daraja_reply(const struct http_route *route, struct http_resp *resp, enum err e, const char *why)
{
    (void)route;
    if (e == ERR_OK)
        api_json(resp, 200, json_pack("{s:i, s:s}", "ResultCode", 0, "ResultDesc", "Success"));
    else if (e == ERR_UNAUTHORIZED)
        api_json(resp, 401, json_pack("{s:i, s:s}", "ResultCode", 1, "ResultDesc", "Unauthorized"));
    else if (e == ERR_VALIDATION)
        api_json(resp, 400, json_pack("{s:i, s:s}", "ResultCode", 1, "ResultDesc", why));
    else
        api_json(resp, 500, json_pack("{s:i, s:s}", "ResultCode", 1, "ResultDesc", "Try again"));
}

static void mpesa_callback(void *ctx, struct http_req *req, struct http_resp *resp)
{
    pay_callback_face(ctx, req, resp, daraja_reply);
}

const struct http_route mpesa_routes[] = {
    {"POST", "/mpesa/payment", mpesa_payment, ENV_PLAIN, 0},
    {"GET", "/mpesa/status/{checkoutRequestId}", mpesa_status, ENV_PLAIN, 0},
    {"POST", "/mpesa/callback", mpesa_callback, ENV_PLAIN, 0},
    {"GET", "/mpesa/transactions", mpesa_transactions, ENV_PLAIN, 0},
    {NULL, NULL, NULL, 0, 0},
};
