/* sandbox/paystack: a fake Paystack (its REST API as documented by Paystack) for the
 * hosted checkout: POST /transaction/initialize and GET
 * /transaction/verify/:reference, both behind `Authorization: Bearer
 * LIPA_PAYSTACK_SECRET` (401 "Invalid key"), with Paystack's answer shape
 * {"status":bool,"message":"...","data":{...}} and its checks: an email with
 * '@', an integer amount > 0 in subunits (a digit string is taken too, as
 * Paystack does), a currency this merchant takes (KES, NGN, GHS, ZAR, USD;
 * NGN when absent, as for a Nigerian merchant), and a unique reference of
 * letters, digits, '-', '.', '=' (made up when absent). A new transaction
 * verifies as "ongoing" until the customer acts.
 *
 * The customer is played through unsigned control endpoints:
 *   GET  /sandbox/paystack/checkout/<access_code>  the authorization URL: a
 *        small text page naming the transaction.
 *   POST /sandbox/paystack/pay {"reference", "outcome":"success|failed|
 *        abandoned", "amount":N (optional: what the customer paid, to test a
 *        mismatch), "webhook_url" (optional, loopback only), "signature":
 *        "bad"|"none" (optional: forge or leave out x-paystack-signature)}.
 *        A success POSTs a charge.success event (data as verify shows it) to
 *        webhook_url, signed with lowercase hex HMAC-SHA512(secret, raw
 *        body), before answering; failures and abandonment send nothing, as
 *        Paystack sends webhooks only for successful charges. Paying a
 *        successful transaction again sends the same event again (Paystack's
 *        retries); any other change to it is 409. The answer says what
 *        lipad's webhook answered and where the browser would be redirected
 *        (callback_url?trxref=REF&reference=REF).
 * Transactions are kept in creation order, the oldest dropped past
 * TXN_MAX (a dropped reference may then be used again). */
#include "sandbox.h"

#include "http/api.h"
#include "util/buf.h"
#include "util/crypto.h"
#include "util/httpc.h"
#include "util/log.h"
#include "util/str.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define TXN_MAX 20000
#define REF_MAX 100
#define EMAIL_MAX 254
#define URL_MAX 512
#define AMOUNT_MAX 1000000000000LL      /* subunits */
#define WEBHOOK_TIMEOUT_MS 5000
#define ALNUM_LOWER "abcdefghijklmnopqrstuvwxyz0123456789"

struct txn {
    int64_t id;
    char reference[REF_MAX + 1];
    char access_code[16];
    char email[EMAIL_MAX + 1];
    int64_t amount;             /* asked, subunits */
    int64_t paid;               /* what verify shows: amount, or the pay override */
    char currency[4];
    char callback_url[URL_MAX];
    json_t *metadata;           /* owned; NULL when none was sent */
    const char *status;         /* ongoing | success | failed | abandoned */
    const char *gateway_response;
    int64_t created_ms, paid_ms;
};

struct sb_paystack {
    struct txn **v;
    size_t n, cap;
    int64_t next_id;
};

static const char *const currencies[] = {"KES", "NGN", "GHS", "ZAR", "USD"};

/* What the customer can do at the checkout, and what verify then says. */
static const struct outcome {
    const char *status, *gateway_response;
} outcomes[] = {
    {"success", "Successful"},
    {"failed", "Declined"},
    {"abandoned", "The transaction was not completed"},
};

/* ---- small helpers ---- */

static void ps_error(struct http_resp *resp, int status, const char *msg)
{
    api_json(resp, status, json_pack("{s:b, s:s}", "status", 0, "message", msg));
}

/* Answers an injected fault; true when one was armed. */
static bool fault(struct sandbox *sb, struct http_resp *resp)
{
    int st = sb_fail_take(sb, SB_PAYSTACK);
    if (!st)
        return false;
    ps_error(resp, st, sb_reason(st));
    return true;
}

static bool bearer(struct sandbox *sb, struct http_req *req, struct http_resp *resp)
{
    const char *auth = http_header(req, "Authorization");
    bool ok = false;
    if (auth && strlen(auth) > 7 && !strncasecmp(auth, "Bearer ", 7)) {
        const char *given = auth + 7;
        while (*given == ' ')
            given++;
        ok = crypto_streq(given, sb->cred.paystack_secret);
    }
    if (!ok) {
        log_warn("paystack.auth.rejected", "path=%s reason=\"%s\"", req->path,
                 auth ? "wrong key" : "no Authorization header");
        ps_error(resp, 401, "Invalid key");
    }
    return ok;
}

static bool reference_ok(const char *s)
{
    size_t n = strlen(s);
    if (n < 1 || n > REF_MAX)
        return false;
    for (; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') ||
              *s == '-' || *s == '.' || *s == '='))
            return false;
    return true;
}

static bool email_ok(const char *s)
{
    const char *at = strchr(s, '@');
    if (!at || at == s || !at[1] || strlen(s) > EMAIL_MAX)
        return false;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++)
        if (*p <= ' ' || *p == 0x7f)
            return false;
    return true;
}

/* amount: an integer or a digit string, 1..AMOUNT_MAX subunits. */
static bool amount_of(const json_t *v, int64_t *out)
{
    if (json_is_integer(v))
        *out = json_integer_value(v);
    else if (!json_is_string(v) || !str_to_i64(json_string_value(v), 1, AMOUNT_MAX, out))
        return false;
    return *out >= 1 && *out <= AMOUNT_MAX;
}

static void txn_free(struct txn *t)
{
    if (t) {
        json_decref(t->metadata);
        free(t);
    }
}

/* Newest first; the transaction or NULL. Caller holds mu. */
static struct txn *find_ref(struct sb_paystack *p, const char *ref)
{
    for (size_t i = p->n; i-- > 0;)
        if (!strcmp(p->v[i]->reference, ref))
            return p->v[i];
    return NULL;
}

static struct txn *find_code(struct sb_paystack *p, const char *code)
{
    for (size_t i = p->n; i-- > 0;)
        if (!strcmp(p->v[i]->access_code, code))
            return p->v[i];
    return NULL;
}

/* Stores t (taking it); false on out of memory. Caller holds mu. */
static bool txn_add(struct sb_paystack *p, struct txn *t)
{
    if (p->n >= TXN_MAX) {
        size_t k = TXN_MAX / 10;
        for (size_t i = 0; i < k; i++)
            txn_free(p->v[i]);
        memmove(p->v, p->v + k, (p->n - k) * sizeof *p->v);
        p->n -= k;
    }
    if (p->n == p->cap) {
        size_t cap = p->cap ? p->cap * 2 : 256;
        struct txn **v = realloc(p->v, cap * sizeof *v);
        if (!v)
            return false;
        p->v = v, p->cap = cap;
    }
    t->id = p->next_id++;
    p->v[p->n++] = t;
    return true;
}

/* The transaction as verify and the webhook show it (new). Caller holds mu. */
static json_t *txn_data(const struct txn *t)
{
    char created[32], paid[32];
    str_iso_time(t->created_ms, created);
    str_iso_time(t->paid_ms, paid);
    json_t *md = t->metadata ? json_deep_copy(t->metadata) : json_null();
    return json_pack("{s:I, s:s, s:s, s:s, s:I, s:I, s:n, s:s, s:o, s:s, s:s, s:s, s:s, s:o, s:n, "
                     "s:{s:s}}",
                     "id", (json_int_t)t->id, "domain", "test", "status", t->status,
                     "reference", t->reference, "amount", (json_int_t)t->paid,
                     "requested_amount", (json_int_t)t->amount, "message",
                     "gateway_response", t->gateway_response,
                     "paid_at", t->paid_ms ? json_string(paid) : json_null(),
                     "created_at", created, "channel", "card", "currency", t->currency,
                     "ip_address", "127.0.0.1", "metadata", md, "fees",
                     "customer", "email", t->email);
}

/* The port lipad reaches us on, for authorization URLs. */
static unsigned our_port(struct sandbox *sb, struct http_req *req)
{
    pthread_mutex_lock(&sb->mu);
    unsigned port = sb->port;
    pthread_mutex_unlock(&sb->mu);
    const char *host = port ? NULL : http_header(req, "Host");
    const char *colon = host ? strrchr(host, ':') : NULL;
    int64_t p;
    if (colon && str_to_i64(colon + 1, 1, 65535, &p))
        port = (unsigned)p;
    return port;
}

/* ---- the API ---- */

static void h_initialize(void *ctx, struct http_req *req, struct http_resp *resp)
{
    struct sandbox *sb = ctx;
    struct txn *t = NULL;
    json_t *o = NULL;
    if (fault(sb, resp) || !bearer(sb, req, resp))
        return;
    o = json_loadb(req->body, req->body_len, 0, NULL);
    if (!json_is_object(o)) {
        ps_error(resp, 400, "Invalid request body: a JSON object is expected");
        goto out;
    }
    const char *email = json_string_value(json_object_get(o, "email"));
    const json_t *cur = json_object_get(o, "currency"), *ref = json_object_get(o, "reference");
    const json_t *cb = json_object_get(o, "callback_url"), *md = json_object_get(o, "metadata");
    int64_t amount;
    const char *currency = "NGN";
    if (!email || !email_ok(email)) {
        ps_error(resp, 400, "Invalid Email Address Passed");
        goto out;
    }
    if (!amount_of(json_object_get(o, "amount"), &amount)) {
        ps_error(resp, 400, "Invalid Amount Sent");
        goto out;
    }
    if (cur && !json_is_null(cur)) {
        currency = NULL;
        for (size_t i = 0; json_is_string(cur) && i < sizeof currencies / sizeof *currencies; i++)
            if (!strcmp(json_string_value(cur), currencies[i]))
                currency = currencies[i];
        if (!currency) {
            ps_error(resp, 400, "Currency not supported by merchant");
            goto out;
        }
    }
    if (ref && !json_is_null(ref) && (!json_is_string(ref) || !reference_ok(json_string_value(ref)))) {
        ps_error(resp, 400, "Invalid transaction reference: use only -, ., = and alphanumeric "
                            "characters, at most 100");
        goto out;
    }
    if (cb && !json_is_null(cb) &&
        (!json_is_string(cb) || strlen(json_string_value(cb)) >= URL_MAX ||
         (strncmp(json_string_value(cb), "http://", 7) && strncmp(json_string_value(cb), "https://", 8)))) {
        ps_error(resp, 400, "Invalid callback_url");
        goto out;
    }

    t = calloc(1, sizeof *t);
    if (!t || !crypto_random_chars(t->access_code, 15, ALNUM_LOWER)) {
        ps_error(resp, 500, "Internal Server Error");
        goto out;
    }
    if (json_is_string(ref))
        str_copy(t->reference, sizeof t->reference, json_string_value(ref));
    else if (!crypto_random_chars(t->reference, 10, ALNUM_LOWER)) {
        ps_error(resp, 500, "Internal Server Error");
        goto out;
    }
    str_copy(t->email, sizeof t->email, email);
    t->amount = t->paid = amount;
    str_copy(t->currency, sizeof t->currency, currency);
    if (json_is_string(cb))
        str_copy(t->callback_url, sizeof t->callback_url, json_string_value(cb));
    if (md && !json_is_null(md) && !(t->metadata = json_deep_copy(md))) {
        ps_error(resp, 500, "Internal Server Error");
        goto out;
    }
    t->status = "ongoing";
    t->gateway_response = "Awaiting payment";
    t->created_ms = now_ms();
    /* what the answer needs: once stored, t may be dropped by another thread */
    char code[sizeof t->access_code], reference[sizeof t->reference];
    str_copy(code, sizeof code, t->access_code);
    str_copy(reference, sizeof reference, t->reference);

    pthread_mutex_lock(&sb->mu);
    bool dup = find_ref(sb->paystack, t->reference) != NULL;
    bool added = !dup && txn_add(sb->paystack, t);
    pthread_mutex_unlock(&sb->mu);
    if (dup) {
        log_info("paystack.initialize.rejected", "reference=%s reason=duplicate", reference);
        ps_error(resp, 400, "Duplicate Transaction Reference");
        goto out;
    }
    if (!added) {
        ps_error(resp, 500, "Internal Server Error");
        goto out;
    }
    t = NULL; /* the store owns it */
    char url[160];
    snprintf(url, sizeof url, "http://127.0.0.1:%u/sandbox/paystack/checkout/%s", our_port(sb, req), code);
    log_info("paystack.initialize", "reference=%s amount=%lld currency=%s", reference, (long long)amount,
             currency);
    api_json(resp, 200, json_pack("{s:b, s:s, s:{s:s, s:s, s:s}}", "status", 1, "message",
                                  "Authorization URL created", "data", "authorization_url", url,
                                  "access_code", code, "reference", reference));
out:
    txn_free(t);
    json_decref(o);
}

static void h_verify(void *ctx, struct http_req *req, struct http_resp *resp)
{
    struct sandbox *sb = ctx;
    if (fault(sb, resp) || !bearer(sb, req, resp))
        return;
    const char *ref = req->params[0];
    pthread_mutex_lock(&sb->mu);
    struct txn *t = find_ref(sb->paystack, ref);
    json_t *data = t ? txn_data(t) : NULL;
    const char *status = t ? t->status : "-";
    pthread_mutex_unlock(&sb->mu);
    if (!t) {
        log_info("paystack.verify", "reference=%s found=no", reference_ok(ref) ? ref : "-");
        ps_error(resp, 400, "Transaction reference not found");
        return;
    }
    if (!data) {
        ps_error(resp, 500, "Internal Server Error");
        return;
    }
    log_info("paystack.verify", "reference=%s status=%s", ref, status);
    api_json(resp, 200, json_pack("{s:b, s:s, s:o}", "status", 1, "message", "Verification successful",
                                  "data", data));
}

/* ---- the customer (control endpoints) ---- */

static void h_checkout(void *ctx, struct http_req *req, struct http_resp *resp)
{
    struct sandbox *sb = ctx;
    char text[768];
    pthread_mutex_lock(&sb->mu);
    const struct txn *t = find_code(sb->paystack, req->params[0]);
    if (t)
        snprintf(text, sizeof text,
                 "Paystack sandbox checkout for %s\n"
                 "Amount: %lld %s (subunits)\nStatus: %s\n"
                 "Pay with: POST /sandbox/paystack/pay "
                 "{\"reference\":\"%s\",\"outcome\":\"success\",\"webhook_url\":\"...\"}\n",
                 t->reference, (long long)t->amount, t->currency, t->status, t->reference);
    pthread_mutex_unlock(&sb->mu);
    if (!t) {
        http_resp_text(resp, 404, "text/plain", "Paystack sandbox: no transaction has this access code\n");
        return;
    }
    http_resp_text(resp, 200, "text/plain; charset=utf-8", text);
}

/* POSTs a signed event; returns lipad's HTTP status, 0 on failure. */
static int post_webhook(const char *secret, const char *url, const char *body, const char *how,
                        char *err, size_t errsz)
{
    uint8_t mac[64];
    char hex[129], sig_hdr[160];
    const char *key = strcmp(how, "bad") ? secret : "sk_test_forged_by_the_sandbox";
    crypto_hmac_sha512(key, strlen(key), body, strlen(body), mac);
    crypto_hex(mac, sizeof mac, hex, false);
    snprintf(sig_hdr, sizeof sig_hdr, "x-paystack-signature: %s", hex);
    const char *headers[] = {"Content-Type: application/json", strcmp(how, "none") ? sig_hdr : NULL,
                             NULL};
    struct httpc_req rq = {.method = "POST", .url = url, .headers = headers, .body = body,
                           .body_len = strlen(body), .timeout_ms = WEBHOOK_TIMEOUT_MS};
    struct httpc_resp rs;
    bool got = httpc_do(&rq, &rs);
    int status = got ? (int)rs.status : 0;
    if (!got)
        snprintf(err, errsz, "%s", rs.error);
    httpc_resp_free(&rs);
    return status;
}

static void h_pay(void *ctx, struct http_req *req, struct http_resp *resp)
{
    struct sandbox *sb = ctx;
    char *event = NULL, ref[REF_MAX + 1], redirect[URL_MAX + 2 * REF_MAX + 32] = "", err[256] = "";
    const char *final = NULL;
    json_t *o = json_loadb(req->body, req->body_len, 0, NULL);
    if (!json_is_object(o)) {
        sb_control_error(resp, 400, "body must be a JSON object");
        goto out;
    }
    const char *r = json_string_value(json_object_get(o, "reference"));
    const char *asked = json_string_value(json_object_get(o, "outcome"));
    const struct outcome *oc = NULL;
    for (size_t i = 0; asked && i < sizeof outcomes / sizeof *outcomes; i++)
        if (!strcmp(asked, outcomes[i].status))
            oc = &outcomes[i];
    const json_t *am = json_object_get(o, "amount"), *wu = json_object_get(o, "webhook_url");
    const char *how = json_string_value(json_object_get(o, "signature"));
    int64_t amount = 0;
    if (!r || !str_copy(ref, sizeof ref, r)) {
        sb_control_error(resp, 400, "reference: missing or too long");
        goto out;
    }
    if (!oc) {
        sb_control_error(resp, 400, "outcome must be success, failed or abandoned");
        goto out;
    }
    if (am && !json_is_null(am) && !amount_of(am, &amount)) {
        sb_control_error(resp, 400, "amount must be an integer > 0 (subunits)");
        goto out;
    }
    if (wu && !json_is_null(wu) &&
        (!json_is_string(wu) || strlen(json_string_value(wu)) >= URL_MAX ||
         !sb_url_is_loopback(json_string_value(wu)))) {
        sb_control_error(resp, 400, "webhook_url must be an http URL on a loopback host");
        goto out;
    }
    if (how && strcmp(how, "good") && strcmp(how, "bad") && strcmp(how, "none")) {
        sb_control_error(resp, 400, "signature must be good, bad or none");
        goto out;
    }
    if (!how)
        how = "good";
    const char *webhook = json_string_value(wu);

    pthread_mutex_lock(&sb->mu);
    struct txn *t = find_ref(sb->paystack, ref);
    bool found = t != NULL, again = t && !strcmp(t->status, "success");
    bool conflict = again && oc != &outcomes[0];
    if (found && !again) {
        bool paid = oc == &outcomes[0];
        t->status = oc->status;
        t->gateway_response = oc->gateway_response;
        t->paid = amount ? amount : t->amount;
        t->paid_ms = paid ? now_ms() : 0;
    }
    if (found && !conflict) {
        final = t->status;
        if (t->callback_url[0])
            snprintf(redirect, sizeof redirect, "%s%strxref=%s&reference=%s", t->callback_url,
                     strchr(t->callback_url, '?') ? "&" : "?", t->reference, t->reference);
        if (!strcmp(t->status, "success") && webhook) {
            json_t *ev = json_pack("{s:s, s:o}", "event", "charge.success", "data", txn_data(t));
            event = ev ? json_dumps(ev, JSON_COMPACT) : NULL;
            json_decref(ev);
        }
    }
    pthread_mutex_unlock(&sb->mu);
    if (!found) {
        sb_control_error(resp, 404, "unknown reference");
        goto out;
    }
    if (conflict) {
        sb_control_error(resp, 409, "the transaction was paid already");
        goto out;
    }
    if (!strcmp(final, "success") && webhook && !event) {
        sb_control_error(resp, 500, "out of memory");
        goto out;
    }

    int wstatus = event ? post_webhook(sb->cred.paystack_secret, webhook, event, how, err, sizeof err) : 0;
    if (event && wstatus)
        log_info("paystack.webhook.posted", "reference=%s status=%d signature=%s repeat=%s", ref, wstatus,
                 how, again ? "yes" : "no");
    else if (event)
        log_warn("paystack.webhook.failed", "reference=%s error=\"%s\" retry=no", ref, err);
    log_info("paystack.pay", "reference=%s outcome=%s", ref, final);

    json_t *ans = json_pack("{s:b, s:s, s:s}", "ok", 1, "reference", ref, "status", final);
    if (ans && redirect[0])
        json_object_set_new(ans, "redirect", json_string(redirect));
    if (ans && event) {
        json_t *w = json_pack("{s:s, s:i, s:s, s:s}", "url", webhook, "status", wstatus, "signature", how,
                              "body", event);
        if (w && !wstatus)
            json_object_set_new(w, "error", json_string(err));
        json_object_set_new(ans, "webhook", w ? w : json_null());
    }
    api_json(resp, 200, ans);
out:
    free(event);
    json_decref(o);
}

/* ---- life cycle ---- */

bool sb_paystack_init(struct sandbox *sb)
{
    sb->paystack = calloc(1, sizeof *sb->paystack);
    if (!sb->paystack)
        return false;
    sb->paystack->next_id = 1000001;
    return true;
}

void sb_paystack_free(struct sandbox *sb)
{
    struct sb_paystack *p = sb->paystack;
    if (!p)
        return;
    for (size_t i = 0; i < p->n; i++)
        txn_free(p->v[i]);
    free(p->v);
    free(p);
    sb->paystack = NULL;
}

const struct http_route sb_paystack_routes[] = {
    {"POST", "/transaction/initialize", h_initialize, 0, 0},
    {"GET", "/transaction/verify/{reference}", h_verify, 0, 0},
    {"GET", "/sandbox/paystack/checkout/{code}", h_checkout, 0, 0},
    {"POST", "/sandbox/paystack/pay", h_pay, 0, 0},
    {NULL, NULL, NULL, 0, 0},
};
