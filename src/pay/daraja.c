/* daraja: Safaricom Daraja M-Pesa Express (STK push) behind pay_provider.
 * One OAuth token is cached per provider state under a mutex, because each
 * new token invalidates the previous one: concurrent callers share it, it is
 * renewed 60 s before expiry, and an "invalid access token" answer
 * (404.001.03) renews it once and retries the call once. Given a
 * pay_token_cache (share_token), a renewal goes through it, so that the
 * lipads on one database use one token instead of invalidating each
 * other's; without one, the state fetches its own. The callback parser
 * is pure and tolerant of the typing quirks Daraja is known for (numbers as strings and back). */
#include "pay/pay.h"

#include "util/crypto.h"
#include "util/httpc.h"
#include "util/log.h"
#include "util/metrics.h"
#include "util/phone.h"
#include "util/str.h"

#include <jansson.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define DARAJA_RENEW_EARLY_S 60
#define DARAJA_DEFAULT_EXPIRY_S 3599
#define DARAJA_MAX_EXPIRY_S 86400 /* longer is no token Daraja issues: taken as the default */
#define DARAJA_REF_MAX 12
#define DARAJA_DESC_MAX 13

#define EC_BAD_TOKEN "404.001.03"
#define EC_IN_PROCESS "500.001.1001"
#define EC_SPIKE "500.003.02"

struct daraja {
    char *base, *key, *secret, *shortcode, *passkey;
    const char *txn_type;
    long timeout_ms;
    pthread_mutex_t mu;       /* guards token, renew_at and cache */
    char token[512];
    int64_t renew_at;         /* unix s from which the token is renewed */
    struct pay_token_cache cache; /* current NULL: the token is this state's own */
    char refused[512];        /* the token Daraja last refused, until one replaces it: the
                                 cache must not hand it back */
};

/* One provider answer, as far as it could be read. */
struct reply {
    bool no_token;            /* the OAuth step failed: error_* say why */
    long status;              /* 0: no HTTP answer (error_message says why) */
    json_t *json;             /* the parsed body, or NULL */
    char error_code[32];      /* errorCode from the body, "" when none */
    char error_message[256];
};

static void reply_free(struct reply *r)
{
    json_decref(r->json);
    memset(r, 0, sizeof *r);
}

static void set_err(char *err, size_t errsz, const char *msg)
{
    if (err && errsz)
        snprintf(err, errsz, "%s", msg);
}

/* A string member, or NULL. */
static const char *jstr(const json_t *o, const char *key)
{
    return json_string_value(json_object_get(o, key));
}

/* Reads a whole number from an integer, a real without a fraction, or a
 * decimal string like "1" or "1.00". 1: ok; -1: a number with a fraction;
 * 0: not a number at all. */
static int json_whole(const json_t *v, int64_t *out)
{
    if (json_is_integer(v)) {
        *out = (int64_t)json_integer_value(v);
        return 1;
    }
    if (json_is_real(v)) {
        double x = json_real_value(v);
        if (!isfinite(x) || fabs(x) > 9e15)
            return 0;
        if (x != floor(x))
            return -1;
        *out = (int64_t)x;
        return 1;
    }
    const char *s = json_string_value(v);
    if (!s)
        return 0;
    char whole[24];
    size_t n = strcspn(s, ".");
    if (n == 0 || n >= sizeof whole)
        return 0;
    memcpy(whole, s, n);
    whole[n] = 0;
    int64_t w;
    if (!str_to_i64(whole, -999999999999999, 999999999999999, &w))
        return 0;
    if (s[n] == '.') {
        const char *f = s + n + 1;
        if (!*f || !str_is_digits(f))
            return 0;
        for (; *f; f++)
            if (*f != '0')
                return -1;
    }
    *out = w;
    return 1;
}

char *daraja_password(const char *shortcode, const char *passkey, const char *timestamp)
{
    struct buf b;
    if (!shortcode || !passkey || !timestamp)
        return NULL;
    buf_init(&b, 4096);
    buf_puts(&b, shortcode);
    buf_puts(&b, passkey);
    buf_puts(&b, timestamp);
    char *out = b.over || !b.data ? NULL : crypto_base64(b.data, b.len);
    buf_free(&b);
    return out;
}

void daraja_timestamp(int64_t unix_s, char out[15])
{
    time_t t = (time_t)(unix_s + 3 * 3600); /* Nairobi: UTC+3, no DST */
    struct tm tm;
    gmtime_r(&t, &tm);
    if (strftime(out, 15, "%Y%m%d%H%M%S", &tm) != 14)
        out[0] = 0;
}

/* Days from 1970-01-01 to y-m-d of the proleptic Gregorian calendar
 * (H. Hinnant's days_from_civil): no time zone, no mktime. */
static int64_t days_from_civil(int64_t y, int64_t m, int64_t d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

bool daraja_transaction_time(int64_t stamp, int64_t *unix_ms)
{
    static const int mdays[] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    int64_t s = stamp % 100, mi = stamp / 100 % 100, h = stamp / 10000 % 100;
    int64_t d = stamp / 1000000 % 100, mo = stamp / 100000000 % 100, y = stamp / 10000000000LL;
    if (y < 2000 || y > 2999 || mo < 1 || mo > 12 || d < 1 || d > mdays[mo - 1] || h > 23 || mi > 59 || s > 59)
        return false;
    if (mo == 2 && d == 29 && !(y % 4 == 0 && (y % 100 != 0 || y % 400 == 0)))
        return false;
    /* Nairobi is UTC+3 all year */
    *unix_ms = (days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + s - 3 * 3600) * 1000;
    return true;
}

static void *daraja_create(const struct config *cfg)
{
    struct daraja *d = calloc(1, sizeof *d);
    if (!d)
        return NULL;
    d->base = strdup(cfg->daraja_url ? cfg->daraja_url : "");
    d->key = strdup(cfg->daraja_key ? cfg->daraja_key : "");
    d->secret = strdup(cfg->daraja_secret ? cfg->daraja_secret : "");
    d->shortcode = strdup(cfg->daraja_shortcode ? cfg->daraja_shortcode : "");
    d->passkey = strdup(cfg->daraja_passkey ? cfg->daraja_passkey : "");
    d->txn_type = cfg->daraja_type && !strcmp(cfg->daraja_type, "till") ? "CustomerBuyGoodsOnline"
                                                                         : "CustomerPayBillOnline";
    d->timeout_ms = cfg->http_timeout_ms > 0 ? (long)cfg->http_timeout_ms : 10000;
    if (!d->base || !d->key || !d->secret || !d->shortcode || !d->passkey ||
        pthread_mutex_init(&d->mu, NULL)) {
        free(d->base), free(d->key), free(d->secret), free(d->shortcode), free(d->passkey);
        free(d);
        return NULL;
    }
    return d;
}

static void daraja_share_token(void *st, const struct pay_token_cache *cache)
{
    struct daraja *d = st;
    pthread_mutex_lock(&d->mu);
    d->cache = *cache;
    pthread_mutex_unlock(&d->mu);
}

static void daraja_destroy(void *st)
{
    struct daraja *d = st;
    if (!d)
        return;
    pthread_mutex_destroy(&d->mu);
    free(d->base), free(d->key), free(d->secret), free(d->shortcode), free(d->passkey);
    explicit_bzero(d->token, sizeof d->token);
    explicit_bzero(d->refused, sizeof d->refused);
    free(d);
}

/* Reads errorCode/errorMessage (and the body) into r. */
static void reply_read(struct reply *r, const struct httpc_resp *hr)
{
    r->status = hr->status;
    if (!hr->status) {
        snprintf(r->error_message, sizeof r->error_message, "transport: %.200s", hr->error);
        return;
    }
    if (hr->body.len)
        r->json = json_loadb(hr->body.data, hr->body.len, 0, NULL);
    const json_t *ec = json_object_get(r->json, "errorCode");
    if (json_is_string(ec))
        str_copy(r->error_code, sizeof r->error_code, json_string_value(ec));
    else if (json_is_integer(ec))
        snprintf(r->error_code, sizeof r->error_code, "%lld", (long long)json_integer_value(ec));
    const char *em = jstr(r->json, "errorMessage");
    if (em)
        str_copy_chars(r->error_message, sizeof r->error_message, em, 200);
}

/* Fetches a new token into token (n bytes) and when to renew it (unix s)
 * into *renew_at (mutex held). false with r explaining. */
static bool oauth_fetch(struct daraja *d, char *token, size_t n, int64_t *renew_at, struct reply *r)
{
    bool ok = false;
    char *cred = NULL, *b64 = NULL;
    char url[640], auth[700];
    struct httpc_resp hr;
    struct reply got = {0};

    size_t kl = strlen(d->key), sl = strlen(d->secret);
    cred = malloc(kl + sl + 2);
    if (!cred)
        goto oom;
    memcpy(cred, d->key, kl);
    cred[kl] = ':';
    memcpy(cred + kl + 1, d->secret, sl + 1);
    b64 = crypto_base64(cred, kl + sl + 1);
    if (!b64)
        goto oom;
    if ((size_t)snprintf(auth, sizeof auth, "Authorization: Basic %s", b64) >= sizeof auth ||
        (size_t)snprintf(url, sizeof url, "%s/oauth/v1/generate?grant_type=client_credentials",
                         d->base) >= sizeof url) {
        str_copy(r->error_message, sizeof r->error_message, "OAuth: credentials or URL too long");
        goto out;
    }
    const char *headers[] = {auth, "Accept: application/json", NULL};
    struct httpc_req req = {.method = "GET", .url = url, .headers = headers, .timeout_ms = d->timeout_ms};
    int64_t t0 = metrics_clock_us();
    httpc_do(&req, &hr);
    metrics_provider_time(MP_DARAJA, t0);
    reply_read(&got, &hr);
    httpc_resp_free(&hr);

    const char *tok = got.status == 200 ? jstr(got.json, "access_token") : NULL;
    if (tok && *tok && strlen(tok) < n) {
        int64_t exp = DARAJA_DEFAULT_EXPIRY_S;
        if (json_whole(json_object_get(got.json, "expires_in"), &exp) != 1 || exp <= 0 ||
            exp > DARAJA_MAX_EXPIRY_S)
            exp = DARAJA_DEFAULT_EXPIRY_S;
        str_copy(token, n, tok);
        *renew_at = now_s() + exp - DARAJA_RENEW_EARLY_S;
        log_info("daraja.oauth", "result=ok expires_in=%lld", (long long)exp);
        ok = true;
        goto out;
    }
    str_copy(r->error_code, sizeof r->error_code, got.error_code);
    if (!got.status)
        snprintf(r->error_message, sizeof r->error_message, "OAuth %.200s", got.error_message);
    else
        snprintf(r->error_message, sizeof r->error_message, "OAuth: HTTP %ld%s%.200s", got.status,
                 got.error_message[0] ? ": " : "", got.error_message);
    log_warn("daraja.oauth", "result=failed http=%ld error_code=%s", got.status,
             got.error_code[0] ? got.error_code : "-");
    goto out;
oom:
    str_copy(r->error_message, sizeof r->error_message, "OAuth: out of memory");
out:
    reply_free(&got);
    if (cred)
        explicit_bzero(cred, kl + sl + 2);
    free(cred);
    free(b64);
    return ok;
}

/* What the shared cache's fetch needs: the state, and where to say why
 * it failed. */
struct fetch_ctx {
    struct daraja *d;
    struct reply *r;
};

static bool cache_fetch(void *fctx, char *token, size_t n, int64_t *renew_at)
{
    struct fetch_ctx *fc = fctx;
    return oauth_fetch(fc->d, token, n, renew_at, fc->r);
}

/* A new token into d (mutex held): its own, or through the shared cache,
 * which may hand over one another holder fetched. stale: the token the
 * provider refused, or NULL when d's has run out. */
static bool renew(struct daraja *d, const char *stale, struct reply *r)
{
    char tok[sizeof d->token];
    int64_t at = 0;
    struct fetch_ctx fc = {d, r};
    bool ok = d->cache.current ? d->cache.current(d->cache.ctx, stale, cache_fetch, &fc, tok, sizeof tok, &at)
                               : oauth_fetch(d, tok, sizeof tok, &at, r);
    if (ok) {
        str_copy(d->token, sizeof d->token, tok);
        d->renew_at = at;
        explicit_bzero(d->refused, sizeof d->refused);
    } else if (!r->error_message[0]) {
        str_copy(r->error_message, sizeof r->error_message, "OAuth: no shared token could be had");
    }
    explicit_bzero(tok, sizeof tok);
    return ok;
}

/* Lends a current token into out. stale, when given, is a token the provider
 * just refused: it is dropped unless another caller already replaced it. */
static bool token_get(struct daraja *d, const char *stale, char *out, size_t outsz, struct reply *r)
{
    bool ok = true;
    pthread_mutex_lock(&d->mu);
    if (stale && !strcmp(d->token, stale)) {
        str_copy(d->refused, sizeof d->refused, d->token);
        d->token[0] = 0;
    }
    if (!d->token[0] || now_s() >= d->renew_at)
        ok = renew(d, d->refused[0] ? d->refused : NULL, r);
    if (ok)
        str_copy(out, outsz, d->token);
    pthread_mutex_unlock(&d->mu);
    if (!ok)
        r->no_token = true;
    return ok;
}

static void post_once(struct daraja *d, const char *url, const char *body, const char *token,
                      struct reply *r)
{
    char auth[560];
    struct httpc_resp hr;
    snprintf(auth, sizeof auth, "Authorization: Bearer %s", token);
    const char *headers[] = {auth, "Content-Type: application/json", "Accept: application/json", NULL};
    struct httpc_req req = {.method = "POST", .url = url, .headers = headers, .body = body,
                            .body_len = strlen(body), .timeout_ms = d->timeout_ms};
    int64_t t0 = metrics_clock_us();
    httpc_do(&req, &hr);
    metrics_provider_time(MP_DARAJA, t0);
    reply_read(r, &hr);
    httpc_resp_free(&hr);
    explicit_bzero(auth, sizeof auth);
}

/* POSTs body to base+path with a bearer token; on 404.001.03 renews the
 * token once and retries once. r is filled either way. */
static void post_json(struct daraja *d, const char *path, const char *body, struct reply *r)
{
    char url[640], tok[512], tok2[512];
    memset(r, 0, sizeof *r);
    if ((size_t)snprintf(url, sizeof url, "%s%s", d->base, path) >= sizeof url) {
        r->no_token = true;
        str_copy(r->error_message, sizeof r->error_message, "URL too long");
        return;
    }
    if (!token_get(d, NULL, tok, sizeof tok, r))
        goto out;
    post_once(d, url, body, tok, r);
    if (strcmp(r->error_code, EC_BAD_TOKEN))
        goto out;
    log_warn("daraja.token_refused", "path=%s action=renew", path);
    reply_free(r);
    if (!token_get(d, tok, tok2, sizeof tok2, r))
        goto out;
    post_once(d, url, body, tok2, r);
    explicit_bzero(tok2, sizeof tok2);
out:
    explicit_bzero(tok, sizeof tok);
}

/* Password and Timestamp for a request made now. */
static bool credentials_now(struct daraja *d, char ts[15], char **password)
{
    daraja_timestamp(now_s(), ts);
    *password = daraja_password(d->shortcode, d->passkey, ts);
    return ts[0] && *password;
}

/* An errorCode-level or status-level failure: retry or refuse for good. */
static enum pay_outcome classify_failure(const struct reply *r)
{
    if (r->no_token || r->status == 0)
        return PAY_RETRY;
    if (!strcmp(r->error_code, EC_SPIKE) || !strcmp(r->error_code, EC_BAD_TOKEN))
        return PAY_RETRY;
    if (r->status == 429 || r->status >= 500) {
        /* a client-error code sent with a server status is a definite refusal */
        if (!strncmp(r->error_code, "400.", 4) || !strncmp(r->error_code, "401.", 4) ||
            !strncmp(r->error_code, "403.", 4))
            return PAY_REJECT;
        return PAY_RETRY;
    }
    if (r->status >= 400)
        return PAY_REJECT;
    return PAY_RETRY; /* 2xx we could not read, 3xx: the outcome is unknown */
}

static const char *outcome_name(enum pay_outcome o)
{
    return o == PAY_OK ? "ok" : o == PAY_RETRY ? "retry" : "reject";
}

static void count(enum pay_outcome o)
{
    metrics_provider_call(MP_DARAJA, o == PAY_OK ? MO_OK : o == PAY_RETRY ? MO_RETRY : MO_REFUSED);
}

static void daraja_stk_push(void *st, const struct pay_stk_req *req, struct pay_stk_res *res)
{
    struct daraja *d = st;
    struct reply r = {0};
    char *password = NULL, *body = NULL;
    json_t *j = NULL;
    char ts[15], e164[PHONE_MAX], msisdn[PHONE_MAX], ref[64], desc[64], masked[20];

    memset(res, 0, sizeof *res);
    res->outcome = PAY_REJECT;
    if (!req->phone || !phone_normalize(req->phone, e164)) {
        str_copy(res->error_message, sizeof res->error_message, "invalid phone number");
        goto out;
    }
    if (req->amount < 1 || req->amount > 999999999) {
        str_copy(res->error_message, sizeof res->error_message,
                 "Amount: not a whole number of shillings >= 1");
        goto out;
    }
    if (!req->callback_url || !*req->callback_url || strchr(req->callback_url, ' ')) {
        str_copy(res->error_message, sizeof res->error_message, "CallBackURL: missing or has spaces");
        goto out;
    }
    phone_msisdn(e164, msisdn);
    str_copy_chars(ref, sizeof ref, req->account_ref ? req->account_ref : "", DARAJA_REF_MAX);
    str_copy_chars(desc, sizeof desc, req->description ? req->description : "", DARAJA_DESC_MAX);
    if (!credentials_now(d, ts, &password)) {
        res->outcome = PAY_RETRY;
        str_copy(res->error_message, sizeof res->error_message, "cannot build Password");
        goto out;
    }
    j = json_pack("{s:s, s:s, s:s, s:s, s:I, s:s, s:s, s:s, s:s, s:s, s:s}",
                  "BusinessShortCode", d->shortcode, "Password", password, "Timestamp", ts,
                  "TransactionType", d->txn_type, "Amount", (json_int_t)req->amount,
                  "PartyA", msisdn, "PartyB", d->shortcode, "PhoneNumber", msisdn,
                  "CallBackURL", req->callback_url, "AccountReference", ref, "TransactionDesc", desc);
    body = j ? json_dumps(j, JSON_COMPACT) : NULL;
    if (!body) {
        str_copy(res->error_message, sizeof res->error_message, "request text is not valid UTF-8");
        goto out;
    }

    post_json(d, "/mpesa/stkpush/v1/processrequest", body, &r);
    res->http_status = (int)r.status;
    str_copy(res->error_code, sizeof res->error_code, r.error_code);
    str_copy(res->error_message, sizeof res->error_message, r.error_message);

    const json_t *rc = json_object_get(r.json, "ResponseCode");
    int64_t rcv = -1;
    bool answered = r.status == 200 && json_whole(rc, &rcv) == 1;
    if (answered && rcv == 0) {
        const char *cid = jstr(r.json, "CheckoutRequestID");
        if (!cid || !*cid || strlen(cid) >= sizeof res->checkout_request_id) {
            res->outcome = PAY_RETRY;
            str_copy(res->error_message, sizeof res->error_message,
                     "accepted without a usable CheckoutRequestID");
            goto out;
        }
        res->outcome = PAY_OK;
        str_copy(res->checkout_request_id, sizeof res->checkout_request_id, cid);
        str_copy(res->merchant_request_id, sizeof res->merchant_request_id,
                 jstr(r.json, "MerchantRequestID"));
        str_copy(res->response_code, sizeof res->response_code, "0");
        str_copy_chars(res->response_description, sizeof res->response_description,
                       jstr(r.json, "ResponseDescription"), 200);
        str_copy_chars(res->customer_message, sizeof res->customer_message,
                       jstr(r.json, "CustomerMessage"), 200);
    } else if (answered && !r.error_code[0]) {
        /* a definite answer that is not an acceptance */
        res->outcome = PAY_REJECT;
        snprintf(res->response_code, sizeof res->response_code, "%lld", (long long)rcv);
        str_copy(res->error_code, sizeof res->error_code, res->response_code);
        str_copy_chars(res->error_message, sizeof res->error_message,
                       jstr(r.json, "ResponseDescription"), 200);
    } else if (!strcmp(r.error_code, EC_IN_PROCESS)) {
        res->outcome = PAY_RETRY; /* a push is already in process for this subscriber */
    } else {
        res->outcome = classify_failure(&r);
        if (!res->error_message[0])
            snprintf(res->error_message, sizeof res->error_message, "HTTP %ld", r.status);
    }
out:
    count(res->outcome);
    log_event(res->outcome == PAY_OK ? LOG_DEBUG : LOG_WARN, "daraja.push",
              "outcome=%s http=%d phone=%s amount=%lld checkout=%s error_code=%s",
              outcome_name(res->outcome), res->http_status, log_phone(req->phone, masked),
              (long long)req->amount, res->checkout_request_id[0] ? res->checkout_request_id : "-",
              res->error_code[0] ? res->error_code : "-");
    reply_free(&r);
    json_decref(j);
    free(body);
    free(password);
}

static void daraja_stk_query(void *st, const char *checkout_request_id, struct pay_query_res *res)
{
    struct daraja *d = st;
    struct reply r = {0};
    char *password = NULL, *body = NULL;
    json_t *j = NULL;
    char ts[15];

    memset(res, 0, sizeof *res);
    res->outcome = PAY_REJECT;
    res->state = PAYQ_PENDING;
    if (!checkout_request_id || !*checkout_request_id || strlen(checkout_request_id) > 63) {
        str_copy(res->error, sizeof res->error, "CheckoutRequestID: missing or too long");
        goto out;
    }
    if (!credentials_now(d, ts, &password)) {
        res->outcome = PAY_RETRY;
        str_copy(res->error, sizeof res->error, "cannot build Password");
        goto out;
    }
    j = json_pack("{s:s, s:s, s:s, s:s}", "BusinessShortCode", d->shortcode, "Password", password,
                  "Timestamp", ts, "CheckoutRequestID", checkout_request_id);
    body = j ? json_dumps(j, JSON_COMPACT) : NULL;
    if (!body) {
        str_copy(res->error, sizeof res->error, "CheckoutRequestID: not valid UTF-8");
        goto out;
    }

    post_json(d, "/mpesa/stkpushquery/v1/query", body, &r);
    int64_t code;
    if (!strcmp(r.error_code, EC_IN_PROCESS)) {
        res->outcome = PAY_OK;
        res->state = PAYQ_PENDING;
        str_copy_chars(res->result_desc, sizeof res->result_desc, r.error_message, 200);
    } else if (r.status == 200 && json_whole(json_object_get(r.json, "ResultCode"), &code) == 1 &&
               code >= -2147483647 && code <= 2147483647) {
        res->outcome = PAY_OK;
        res->state = PAYQ_FINAL;
        res->result_code = (int)code;
        str_copy_chars(res->result_desc, sizeof res->result_desc, jstr(r.json, "ResultDesc"), 200);
    } else {
        res->outcome = classify_failure(&r);
        if (r.status == 200 && !r.error_code[0])
            str_copy(res->error, sizeof res->error, "answer without a readable ResultCode");
        else if (r.error_code[0])
            snprintf(res->error, sizeof res->error, "%s: %.200s", r.error_code, r.error_message);
        else if (r.error_message[0])
            str_copy(res->error, sizeof res->error, r.error_message);
        else
            snprintf(res->error, sizeof res->error, "HTTP %ld", r.status);
    }
out:
    count(res->outcome);
    log_event(res->outcome == PAY_OK ? LOG_DEBUG : LOG_WARN, "daraja.query",
              "outcome=%s http=%ld checkout=%s state=%s result_code=%d error_code=%s",
              outcome_name(res->outcome), r.status,
              checkout_request_id && *checkout_request_id ? checkout_request_id : "-",
              res->outcome != PAY_OK ? "-" : res->state == PAYQ_FINAL ? "final" : "pending",
              res->result_code, r.error_code[0] ? r.error_code : "-");
    reply_free(&r);
    json_decref(j);
    free(body);
    free(password);
}

/* Copies a string member that must fit; false (with err) when it does not. */
static bool take_id(const json_t *o, const char *key, char *dst, size_t dstsz, bool required,
                    char *err, size_t errsz)
{
    const char *s = jstr(o, key);
    char msg[96];
    dst[0] = 0;
    if (!s || !*s) {
        if (!required)
            return true;
        snprintf(msg, sizeof msg, "%s: missing", key);
        set_err(err, errsz, msg);
        return false;
    }
    if (!str_copy(dst, dstsz, s)) {
        dst[0] = 0;
        snprintf(msg, sizeof msg, "%s: too long", key);
        set_err(err, errsz, msg);
        return false;
    }
    return true;
}

/* One CallbackMetadata item into out; false (with err) when malformed. */
static bool take_item(const char *name, const json_t *value, struct pay_callback *out, char *err,
                      size_t errsz)
{
    int64_t n;
    if (!strcmp(name, "Amount")) {
        int w = value ? json_whole(value, &n) : 0;
        if (w < 0) {
            set_err(err, errsz, "Amount: not whole shillings");
            return false;
        }
        if (w == 0 || n < 0) {
            set_err(err, errsz, "Amount: not a number");
            return false;
        }
        out->amount = n;
    } else if (!strcmp(name, "MpesaReceiptNumber")) {
        const char *s = json_string_value(value);
        if (s && !str_copy(out->receipt, sizeof out->receipt, s)) {
            out->receipt[0] = 0;
            set_err(err, errsz, "MpesaReceiptNumber: too long");
            return false;
        }
    } else if (!strcmp(name, "TransactionDate")) {
        if (value && json_whole(value, &n) == 1 && n > 0) {
            out->transaction_date = n;
            if (!daraja_transaction_time(n, &out->transaction_at))
                out->transaction_at = 0; /* kept as sent, shown as no date */
        }
    } else if (!strcmp(name, "PhoneNumber")) {
        const char *s = json_string_value(value);
        if (s) {
            if (*s == '+')
                s++;
            /* a masked number ("2547***149") is kept out, not refused */
            if (str_is_digits(s) && strlen(s) < sizeof out->phone)
                str_copy(out->phone, sizeof out->phone, s);
        } else if (value && json_whole(value, &n) == 1 && n > 0) {
            snprintf(out->phone, sizeof out->phone, "%lld", (long long)n);
        }
    }
    return true; /* Balance and unknown items carry nothing we keep */
}

static bool daraja_parse_callback(const char *body, size_t len, struct pay_callback *out, char *err,
                                  size_t errsz)
{
    bool ok = false;
    json_error_t jerr;
    char msg[192];
    memset(out, 0, sizeof *out);
    out->amount = -1;
    set_err(err, errsz, "");

    json_t *root = body ? json_loadb(body, len, 0, &jerr) : NULL;
    if (!root) {
        snprintf(msg, sizeof msg, "not JSON: %.120s", body ? jerr.text : "no body");
        set_err(err, errsz, msg);
        return false;
    }
    const json_t *b = json_object_get(root, "Body");
    if (!json_is_object(b)) {
        set_err(err, errsz, "Body: missing");
        goto out;
    }
    const json_t *cb = json_object_get(b, "stkCallback");
    if (!json_is_object(cb)) {
        set_err(err, errsz, "Body.stkCallback: missing");
        goto out;
    }
    if (!take_id(cb, "CheckoutRequestID", out->checkout_request_id, sizeof out->checkout_request_id,
                 true, err, errsz) ||
        !take_id(cb, "MerchantRequestID", out->merchant_request_id, sizeof out->merchant_request_id,
                 false, err, errsz))
        goto out;
    int64_t rc;
    const json_t *rcj = json_object_get(cb, "ResultCode");
    if (!rcj) {
        set_err(err, errsz, "ResultCode: missing");
        goto out;
    }
    if (json_whole(rcj, &rc) != 1 || rc < -2147483647 || rc > 2147483647) {
        set_err(err, errsz, "ResultCode: not a whole number");
        goto out;
    }
    out->result_code = (int)rc;
    str_copy_chars(out->result_desc, sizeof out->result_desc, jstr(cb, "ResultDesc"), 200);

    const json_t *md = json_object_get(cb, "CallbackMetadata");
    if (md && !json_is_null(md)) {
        const json_t *items = json_object_get(md, "Item");
        if (!json_is_array(items)) {
            set_err(err, errsz, "CallbackMetadata.Item: not a list");
            goto out;
        }
        size_t i;
        const json_t *it;
        json_array_foreach(items, i, it) {
            const char *name = jstr(it, "Name");
            if (name && !take_item(name, json_object_get(it, "Value"), out, err, errsz))
                goto out;
        }
    }
    ok = true;
out:
    json_decref(root);
    return ok;
}

const struct pay_provider pay_daraja = {
    .name = "daraja",
    .create = daraja_create,
    .destroy = daraja_destroy,
    .share_token = daraja_share_token,
    .stk_push = daraja_stk_push,
    .stk_query = daraja_stk_query,
    .parse_callback = daraja_parse_callback,
};
