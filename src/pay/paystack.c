/* paystack: the Paystack client (see paystack.h). Each call is one request
 * with the secret key as a Bearer token; no state is shared between calls,
 * so the struct is read-only after paystack_new. Paystack answers
 * {"status":bool,"message":"...","data":{...}} for success and failure
 * alike: the HTTP status and the "status" flag together decide the outcome.
 * Webhook signatures are checked here too, so one file holds every Paystack
 * fact the service relies on. */
#include "pay/paystack.h"

#include "util/crypto.h"
#include "util/httpc.h"
#include "util/log.h"
#include "util/str.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PS_DEFAULT_TIMEOUT_MS 10000
#define PS_AMOUNT_MAX 999999999999LL  /* subunits; far above any real charge */
#define PS_EMAIL_MAX 254
#define PS_URL_MAX 1024

struct paystack {
    char *base;                 /* no trailing '/' */
    char *secret;
    long timeout_ms;
};

/* One Paystack answer, as far as it could be read. */
struct reply {
    long status;                /* 0: no HTTP answer */
    json_t *json;               /* the parsed body, or NULL */
    int flag;                   /* "status": 1 true, 0 false, -1 absent or not a boolean */
    char message[256];          /* Paystack's message, or why there is no answer */
};

static const char *outcome_name(enum pay_outcome o)
{
    return o == PAY_OK ? "ok" : o == PAY_RETRY ? "retry" : "reject";
}

/* A copy of s fit for a quoted log value: no quotes, backslashes or
 * control characters. */
static const char *log_text(const char *s, char *out, size_t outsz)
{
    str_copy_chars(out, outsz, s && *s ? s : "-", SIZE_MAX);
    for (char *p = out; *p; p++)
        if ((unsigned char)*p < 0x20 || *p == '"' || *p == '\\' || *p == 0x7f)
            *p = ' ';
    return out;
}

static const char *jstr(const json_t *o, const char *key)
{
    return json_string_value(json_object_get(o, key));
}

bool paystack_reference_ok(const char *ref)
{
    size_t n = 0;
    if (!ref)
        return false;
    for (const char *p = ref; *p; p++, n++) {
        char c = *p;
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                  c == '-' || c == '.' || c == '=';
        if (!ok || n >= PAYSTACK_REF_MAX)
            return false;
    }
    return n >= 1;
}

bool paystack_signature_ok(const char *secret, const char *body, size_t len, const char *signature)
{
    uint8_t mac[64];
    char want[129];
    if (!secret || !*secret || !body || !signature)
        return false;
    crypto_hmac_sha512(secret, strlen(secret), body, len, mac);
    crypto_hex(mac, sizeof mac, want, false);
    bool ok = crypto_eq(want, 128, signature, strlen(signature));
    explicit_bzero(mac, sizeof mac);
    explicit_bzero(want, sizeof want);
    return ok;
}

struct paystack *paystack_new(const struct config *cfg)
{
    struct paystack *ps = calloc(1, sizeof *ps);
    if (!ps)
        return NULL;
    ps->base = strdup(cfg->paystack_url ? cfg->paystack_url : "");
    ps->secret = strdup(cfg->paystack_secret ? cfg->paystack_secret : "");
    ps->timeout_ms = cfg->http_timeout_ms > 0 ? (long)cfg->http_timeout_ms : PS_DEFAULT_TIMEOUT_MS;
    if (!ps->base || !ps->secret) {
        paystack_free(ps);
        return NULL;
    }
    size_t n = strlen(ps->base);
    while (n && ps->base[n - 1] == '/')
        ps->base[--n] = 0;
    return ps;
}

void paystack_free(struct paystack *ps)
{
    if (!ps)
        return;
    if (ps->secret)
        explicit_bzero(ps->secret, strlen(ps->secret));
    free(ps->secret);
    free(ps->base);
    free(ps);
}

/* Why the secret setting cannot be sent, or NULL when it can. */
static const char *secret_problem(const struct paystack *ps)
{
    if (!ps->secret[0])
        return "LIPA_PAYSTACK_SECRET is not set";
    for (const unsigned char *p = (const unsigned char *)ps->secret; *p; p++)
        if (*p < 0x21 || *p == 0x7f)
            return "LIPA_PAYSTACK_SECRET has spaces or control characters";
    return NULL;
}

/* One request to base+path; r is filled either way (caller reply_free). */
static void call(struct paystack *ps, const char *method, const char *path, const char *body,
                 struct reply *r)
{
    char url[PS_URL_MAX], auth[320];
    struct httpc_resp hr;
    memset(r, 0, sizeof *r);
    r->flag = -1;
    if ((size_t)snprintf(url, sizeof url, "%s%s", ps->base, path) >= sizeof url) {
        str_copy(r->message, sizeof r->message, "URL too long");
        return;
    }
    if ((size_t)snprintf(auth, sizeof auth, "Authorization: Bearer %s", ps->secret) >= sizeof auth) {
        str_copy(r->message, sizeof r->message, "LIPA_PAYSTACK_SECRET too long");
        explicit_bzero(auth, sizeof auth);
        return;
    }
    const char *headers[] = {auth, "Accept: application/json",
                             body ? "Content-Type: application/json" : NULL, NULL};
    struct httpc_req req = {.method = method, .url = url, .headers = headers, .body = body,
                            .body_len = body ? strlen(body) : 0, .timeout_ms = ps->timeout_ms};
    httpc_do(&req, &hr);
    explicit_bzero(auth, sizeof auth);
    r->status = hr.status;
    if (!hr.status) {
        snprintf(r->message, sizeof r->message, "transport: %.200s", hr.error);
        goto out;
    }
    if (hr.body.len)
        r->json = json_loadb(hr.body.data, hr.body.len, 0, NULL);
    const json_t *flag = json_object_get(r->json, "status");
    if (json_is_boolean(flag))
        r->flag = json_is_true(flag) ? 1 : 0;
    str_copy_chars(r->message, sizeof r->message, jstr(r->json, "message"), SIZE_MAX);
    if (!r->message[0])
        snprintf(r->message, sizeof r->message, "HTTP %ld", r->status);
out:
    httpc_resp_free(&hr);
}

static void reply_free(struct reply *r)
{
    json_decref(r->json);
    r->json = NULL;
}

/* The outcome an answer means, before its data is looked at. */
static enum pay_outcome classify(const struct reply *r)
{
    if (r->status >= 200 && r->status < 300)
        return r->flag == 1 ? PAY_OK : r->flag == 0 ? PAY_REJECT : PAY_RETRY;
    if (r->status == 0 || r->status == 429 || r->status >= 500)
        return PAY_RETRY;
    if (r->status >= 400)
        return PAY_REJECT;
    return PAY_RETRY; /* 1xx/3xx: what happened is unknown */
}

static bool email_ok(const char *s)
{
    if (!s || !*s || strlen(s) > PS_EMAIL_MAX)
        return false;
    const char *at = strchr(s, '@');
    if (!at || at == s || !at[1] || strchr(at + 1, '@'))
        return false;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++)
        if (*p <= ' ' || *p == 0x7f)
            return false;
    return true;
}

static bool currency_ok(const char *s)
{
    return strlen(s) == 3 && s[0] >= 'A' && s[0] <= 'Z' && s[1] >= 'A' && s[1] <= 'Z' &&
           s[2] >= 'A' && s[2] <= 'Z';
}

static bool url_text_ok(const char *s)
{
    for (const unsigned char *p = (const unsigned char *)s; *p; p++)
        if (*p <= ' ' || *p == 0x7f)
            return false;
    return strlen(s) < PS_URL_MAX;
}

/* Why a reference cannot be sent, or NULL when it can. */
static const char *reference_problem(const char *ref)
{
    if (!paystack_reference_ok(ref))
        return "reference: 1 to 100 letters, digits, '-', '.' or '='";
    if (strlen(ref) > PAYSTACK_REF_KEEP)
        return "reference: longer than 63 characters";
    return NULL;
}

/* The initialize request body (malloc'ed), or NULL with why set. */
static char *init_body(const char *email, int64_t amount, const char *currency, const char *reference,
                       const char *callback_url, json_t *metadata, const char **why)
{
    char *out = NULL;
    json_t *j = json_object();
    *why = "email: not valid UTF-8";
    if (!j || json_object_set_new(j, "email", json_string(email)) ||
        json_object_set_new(j, "amount", json_integer((json_int_t)amount)))
        goto out;
    if (currency && *currency && json_object_set_new(j, "currency", json_string(currency)))
        goto out;
    if (reference && *reference && json_object_set_new(j, "reference", json_string(reference)))
        goto out;
    if (callback_url && *callback_url) {
        *why = "callback_url: not valid UTF-8";
        if (json_object_set_new(j, "callback_url", json_string(callback_url)))
            goto out;
    }
    *why = "out of memory";
    if (metadata && json_object_set(j, "metadata", metadata))
        goto out;
    *why = "metadata: cannot be encoded";
    out = json_dumps(j, JSON_COMPACT);
out:
    json_decref(j);
    if (out)
        *why = NULL;
    return out;
}

void paystack_initialize(struct paystack *ps, const char *email, int64_t amount_subunits,
                         const char *currency, const char *reference, const char *callback_url,
                         json_t *metadata, struct paystack_init_res *res)
{
    struct reply r = {0};
    char *body = NULL;
    const char *why = NULL;
    char logmsg[160];

    memset(res, 0, sizeof *res);
    res->outcome = PAY_REJECT;
    if ((why = secret_problem(ps)))
        goto refused;
    if (!email_ok(email)) {
        why = "email: not an address";
        goto refused;
    }
    if (amount_subunits < 1 || amount_subunits > PS_AMOUNT_MAX) {
        why = "amount: not a whole number of subunits >= 1";
        goto refused;
    }
    if (currency && *currency && !currency_ok(currency)) {
        why = "currency: not a three-letter code";
        goto refused;
    }
    if (reference && *reference && (why = reference_problem(reference)))
        goto refused;
    if (callback_url && *callback_url && !url_text_ok(callback_url)) {
        why = "callback_url: has spaces or control characters";
        goto refused;
    }
    body = init_body(email, amount_subunits, currency, reference, callback_url, metadata, &why);
    if (!body)
        goto refused;

    call(ps, "POST", "/transaction/initialize", body, &r);
    res->http_status = (int)r.status;
    res->outcome = classify(&r);
    str_copy(res->message, sizeof res->message, r.message);
    if (res->outcome != PAY_OK)
        goto out;
    const json_t *d = json_object_get(r.json, "data");
    const char *url = jstr(d, "authorization_url"), *code = jstr(d, "access_code");
    const char *ref = jstr(d, "reference");
    if (!url || !*url || !code || !*code || !ref || !*ref ||
        !str_copy(res->authorization_url, sizeof res->authorization_url, url) ||
        !str_copy(res->access_code, sizeof res->access_code, code) ||
        !str_copy(res->reference, sizeof res->reference, ref)) {
        /* the transaction may exist; a verify of the reference will tell */
        res->outcome = PAY_RETRY;
        res->authorization_url[0] = res->access_code[0] = res->reference[0] = 0;
        str_copy(res->message, sizeof res->message,
                 "accepted without a usable authorization_url, access_code or reference");
    }
    goto out;
refused:
    str_copy(res->message, sizeof res->message, why);
out:
    log_event(res->outcome == PAY_OK ? LOG_DEBUG : LOG_WARN, "paystack_initialize",
              "outcome=%s http=%d reference=%s amount=%lld currency=%s message=\"%s\"",
              outcome_name(res->outcome), res->http_status,
              res->reference[0] ? res->reference
              : reference && *reference && paystack_reference_ok(reference) ? reference : "-",
              (long long)amount_subunits,
              currency && *currency && currency_ok(currency) ? currency : "-",
              log_text(res->message, logmsg, sizeof logmsg));
    reply_free(&r);
    free(body);
}

/* An amount in subunits from an integer or a digit string; -1 otherwise. */
static int64_t json_amount(const json_t *v)
{
    int64_t n;
    if (json_is_integer(v))
        return json_integer_value(v) >= 0 ? (int64_t)json_integer_value(v) : -1;
    if (json_is_string(v) && str_to_i64(json_string_value(v), 0, PS_AMOUNT_MAX, &n))
        return n;
    return -1;
}

void paystack_verify(struct paystack *ps, const char *reference, struct paystack_verify_res *res)
{
    struct reply r = {0};
    const char *why = NULL;
    char path[128], logmsg[160];

    memset(res, 0, sizeof *res);
    res->outcome = PAY_REJECT;
    res->amount = -1;
    if ((why = secret_problem(ps)) || (why = reference_problem(reference))) {
        str_copy(res->message, sizeof res->message, why);
        goto out;
    }
    /* the alphabet needs no escaping in a path */
    snprintf(path, sizeof path, "/transaction/verify/%s", reference);
    call(ps, "GET", path, NULL, &r);
    res->http_status = (int)r.status;
    res->outcome = classify(&r);
    str_copy(res->message, sizeof res->message, r.message);
    if (res->outcome != PAY_OK)
        goto out;

    const json_t *d = json_object_get(r.json, "data");
    const char *st = jstr(d, "status");
    if (!st || !*st || !str_copy(res->status, sizeof res->status, st)) {
        res->outcome = PAY_RETRY;
        res->status[0] = 0;
        str_copy(res->message, sizeof res->message, "answer without a readable data.status");
        goto out;
    }
    res->amount = json_amount(json_object_get(d, "amount"));
    str_copy_chars(res->currency, sizeof res->currency, jstr(d, "currency"), SIZE_MAX);
    str_copy_chars(res->channel, sizeof res->channel, jstr(d, "channel"), SIZE_MAX);
    const char *paid = jstr(d, "paid_at");
    str_copy_chars(res->paid_at, sizeof res->paid_at, paid ? paid : jstr(d, "paidAt"), SIZE_MAX);
    str_copy_chars(res->gateway_response, sizeof res->gateway_response, jstr(d, "gateway_response"), SIZE_MAX);
    const char *ref = jstr(d, "reference");
    str_copy(res->reference, sizeof res->reference, ref && *ref ? ref : reference);
out:
    log_event(res->outcome == PAY_OK ? LOG_DEBUG : LOG_WARN, "paystack_verify",
              "outcome=%s http=%d reference=%s status=%s amount=%lld currency=%s message=\"%s\"",
              outcome_name(res->outcome), res->http_status,
              paystack_reference_ok(reference) ? reference : "-", res->status[0] ? res->status : "-",
              (long long)res->amount, res->currency[0] ? res->currency : "-",
              log_text(res->message, logmsg, sizeof logmsg));
    reply_free(&r);
}
