/* paystack: the Paystack client (see paystack.h). Each call is one request
 * with the secret key as a Bearer token; the only state kept between calls
 * is the mobile-money bank code, behind the struct's mutex. Paystack
 * answers {"status":bool,"message":"...","data":{...}} for success and
 * failure alike: the HTTP status and the "status" flag together decide the
 * outcome. Webhook signatures and events are read here too, so one file
 * holds every Paystack fact the service relies on. */
#include "pay/paystack.h"

#include "util/crypto.h"
#include "util/httpc.h"
#include "util/log.h"
#include "util/metrics.h"
#include "util/phone.h"
#include "util/str.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PS_DEFAULT_TIMEOUT_MS 10000
#define PS_AMOUNT_MAX 999999999999LL  /* subunits; far above any real charge */
#define PS_EMAIL_MAX 254
#define PS_URL_MAX 1024

#define PS_NAME_MAX 100          /* recipient names and transfer reasons, characters */
#define PS_PROVIDER_MAX 20

struct paystack {
    char *base;                 /* no trailing '/' */
    char *secret;
    long timeout_ms;
    pthread_mutex_t mu;         /* guards the two below */
    char bank_key[48];          /* provider name, folded (fold_name); "" until a success */
    char bank_code[PAYSTACK_CODE_MAX];
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

static void count(enum pay_outcome o)
{
    metrics_provider_call(MP_PAYSTACK, o == PAY_OK ? MO_OK : o == PAY_RETRY ? MO_RETRY : MO_REFUSED);
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

const char *paystack_outcome(const char *status, int64_t paid_subunits, const char *paid_currency,
                             const char *gateway_response, int64_t amount, const char *currency, bool time_over,
                             const char *abandoned_why, char *reason, size_t reasonsz)
{
    const char *st = status ? status : "", *gw = gateway_response ? gateway_response : "";
    reason[0] = '\0';
    if (!strcmp(st, "success")) {
        if (paid_subunits == amount * 100 && paid_currency && !strcmp(paid_currency, currency)) {
            snprintf(reason, reasonsz, "%s", *gw ? gw : "Approved");
            return "completed";
        }
        /* paid something else than asked: nothing is delivered; kept for review */
        snprintf(reason, reasonsz, "amount mismatch: paid %lld %s subunits, expected %lld %s", (long long)paid_subunits,
                 paid_currency && *paid_currency ? paid_currency : "?", (long long)(amount * 100), currency);
        return "failed";
    }
    if (!strcmp(st, "failed") || !strcmp(st, "reversed")) {
        snprintf(reason, reasonsz, "Paystack: %s%s%s", st, *gw ? ": " : "", gw);
        return "failed";
    }
    if (!strcmp(st, "abandoned") && time_over) {
        snprintf(reason, reasonsz, "%s", abandoned_why);
        return "timeout";
    }
    return NULL;
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
    pthread_mutex_init(&ps->mu, NULL);
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
    pthread_mutex_destroy(&ps->mu);
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
    int64_t t0 = metrics_clock_us();
    httpc_do(&req, &hr);
    metrics_provider_time(MP_PAYSTACK, t0);
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
    count(res->outcome);
    log_event(res->outcome == PAY_OK ? LOG_DEBUG : LOG_WARN, "paystack.initialize",
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

/* A refusal because Paystack knows no such reference: its 404 ("Transfer
 * not found") or its 400 "Transaction reference not found". */
static bool says_not_found(const struct reply *r)
{
    if (classify(r) != PAY_REJECT || !r->status || r->flag != 0 || r->status == 401)
        return false;
    return r->status == 404 || strcasestr(r->message, "not found");
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
    res->not_found = says_not_found(&r);
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
    count(res->outcome);
    log_event(res->outcome == PAY_OK ? LOG_DEBUG : LOG_WARN, "paystack.verify",
              "outcome=%s http=%d reference=%s status=%s amount=%lld currency=%s message=\"%s\"",
              outcome_name(res->outcome), res->http_status,
              paystack_reference_ok(reference) ? reference : "-", res->status[0] ? res->status : "-",
              (long long)res->amount, res->currency[0] ? res->currency : "-",
              log_text(res->message, logmsg, sizeof logmsg));
    reply_free(&r);
}

/* ---- shared by charges, payouts and events ---- */

/* s is min to max bytes, each a letter, a digit or one of extra. */
static bool token_ok(const char *s, size_t min, size_t max, const char *extra)
{
    size_t n = 0;
    if (!s)
        return false;
    for (const char *p = s; *p; p++, n++) {
        char c = *p;
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                  (extra && strchr(extra, c));
        if (!ok || n >= max)
            return false;
    }
    return n >= min;
}

/* 1 to max_chars characters of valid UTF-8 without control characters. */
static bool text_ok(const char *s, size_t max_chars)
{
    size_t chars = 0;
    if (!s || !*s || !str_is_clean_utf8(s, strlen(s)) || strchr(s, '\n'))
        return false;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++)
        if ((*p & 0xC0) != 0x80)
            chars++;
    return chars <= max_chars;
}

/* dst gets s when it is a whole token (token_ok with dst's room), else "". */
static void copy_token(char *dst, size_t dstsz, const char *s, const char *extra)
{
    dst[0] = 0;
    if (token_ok(s, 1, dstsz - 1, extra))
        str_copy(dst, dstsz, s);
}

/* dst gets free text from Paystack, cut to fit on a character boundary,
 * control characters turned to spaces (it may reach a customer's screen). */
static void copy_text(char *dst, size_t dstsz, const char *s)
{
    str_copy_chars(dst, dstsz, s, SIZE_MAX);
    for (char *p = dst; *p; p++)
        if ((unsigned char)*p < 0x20 || *p == 0x7f)
            *p = ' ';
}

static int set_str(json_t *o, const char *key, const char *value)
{
    return json_object_set_new(o, key, json_string(value)); /* NULL (bad UTF-8) fails too */
}

/* A refusal because the reference was used before. Paystack words it
 * "Duplicate Transaction Reference" for transactions; for transfers its
 * error guide says the reference "has already been used on a prior
 * transfer", and answers seen in the wild say "Duplicate Transfer
 * Reference" or "Transfer reference already exists". Only a Paystack-shaped
 * refusal ("status":false) counts, never a proxy's bare 4xx. */
static bool says_duplicate(const struct reply *r)
{
    if (classify(r) != PAY_REJECT || !r->status || r->flag != 0)
        return false;
    const char *code = jstr(r->json, "code");
    return strcasestr(r->message, "duplicate") || strcasestr(r->message, "already exist") ||
           strcasestr(r->message, "already been used") || (code && strcasestr(code, "duplicate"));
}

static bool reference_keep(const char *ref)
{
    return paystack_reference_ok(ref) && strlen(ref) <= PAYSTACK_REF_KEEP;
}

/* A number or a string as text (Paystack's account_reference comes as
 * either). */
static void copy_scalar(char *dst, size_t dstsz, const json_t *v, const char *extra)
{
    dst[0] = 0;
    if (json_is_integer(v) && json_integer_value(v) >= 0)
        snprintf(dst, dstsz, "%lld", (long long)json_integer_value(v));
    else if (json_is_string(v))
        copy_token(dst, dstsz, json_string_value(v), extra);
}

/* ---- M-Pesa charges ---- */

static bool provider_ok(const char *s)
{
    size_t n = 0;
    for (; s[n]; n++)
        if (!((s[n] >= 'a' && s[n] <= 'z') || s[n] == '_') || n >= PS_PROVIDER_MAX)
            return false;
    return n >= 1;
}

static void charge_res_init(struct paystack_charge_res *res)
{
    memset(res, 0, sizeof *res);
    res->outcome = PAY_REJECT;
    res->amount = -1;
}

/* The fields of a charge answer's data, as far as they read well. */
static void charge_fill(const json_t *d, struct paystack_charge_res *res)
{
    copy_token(res->status, sizeof res->status, jstr(d, "status"), "_");
    const char *ref = jstr(d, "reference");
    if (ref && reference_keep(ref))
        str_copy(res->reference, sizeof res->reference, ref);
    copy_text(res->display_text, sizeof res->display_text, jstr(d, "display_text"));
    copy_scalar(res->account_number, sizeof res->account_number, json_object_get(d, "account_number"), NULL);
    copy_scalar(res->account_reference, sizeof res->account_reference, json_object_get(d, "account_reference"),
                "-_.");
    res->amount = json_amount(json_object_get(d, "amount"));
    copy_token(res->currency, sizeof res->currency, jstr(d, "currency"), NULL);
    copy_token(res->channel, sizeof res->channel, jstr(d, "channel"), "_");
    const char *paid = jstr(d, "paid_at");
    copy_text(res->paid_at, sizeof res->paid_at, paid ? paid : jstr(d, "paidAt"));
    const char *gw = jstr(d, "gateway_response");
    copy_text(res->gateway_response, sizeof res->gateway_response, gw && *gw ? gw : jstr(d, "message"));
}

/* res from a charge or check answer; sent is the reference asked about. */
static void charge_answer(const struct reply *r, const char *sent, struct paystack_charge_res *res)
{
    res->http_status = (int)r->status;
    res->outcome = classify(r);
    str_copy(res->message, sizeof res->message, r->message);
    res->duplicate = says_duplicate(r);
    res->not_found = !res->duplicate && says_not_found(r);
    const json_t *d = json_object_get(r->json, "data");
    if (json_is_object(d))
        charge_fill(d, res);
    if (!res->reference[0] && sent && reference_keep(sent))
        str_copy(res->reference, sizeof res->reference, sent);
    if (res->outcome != PAY_OK)
        return;
    if (!res->status[0] || !res->reference[0]) {
        /* the charge may exist: a check of the reference (if any) will tell */
        res->outcome = PAY_RETRY;
        str_copy(res->message, sizeof res->message,
                 !res->status[0] ? "answer without a readable data.status"
                                 : "accepted without a reference to check");
    }
}

/* The charge request body (malloc'ed), or NULL. */
static char *charge_body(const char *email, int64_t amount, const char *currency, const char *reference,
                         const char *phone, const char *provider, json_t *metadata)
{
    char *out = NULL;
    json_t *j = json_object(), *mm = json_object();
    if (!j || !mm || set_str(j, "email", email) ||
        json_object_set_new(j, "amount", json_integer((json_int_t)amount)) || set_str(j, "currency", currency) ||
        (reference && *reference && set_str(j, "reference", reference)) || set_str(mm, "phone", phone) ||
        set_str(mm, "provider", provider) || json_object_set(j, "mobile_money", mm) ||
        (metadata && json_object_set(j, "metadata", metadata)))
        goto out;
    out = json_dumps(j, JSON_COMPACT);
out:
    json_decref(mm);
    json_decref(j);
    return out;
}

static void charge_log(bool check, const struct paystack_charge_res *res, const char *reference,
                       const char *masked, int64_t amount)
{
    char logmsg[160];
    count(res->outcome);
    log_event(res->outcome == PAY_OK ? LOG_DEBUG : LOG_WARN, check ? "paystack.charge_check" : "paystack.charge",
              "outcome=%s http=%d reference=%s phone=%s amount=%lld status=%s duplicate=%d not_found=%d "
              "message=\"%s\"",
              outcome_name(res->outcome), res->http_status,
              res->reference[0] ? res->reference : reference && reference_keep(reference) ? reference : "-",
              masked, (long long)amount, res->status[0] ? res->status : "-", res->duplicate, res->not_found,
              log_text(res->message, logmsg, sizeof logmsg));
}

void paystack_charge_mobile(struct paystack *ps, const char *email, int64_t amount_subunits,
                            const char *currency, const char *reference, const char *phone,
                            const char *provider, json_t *metadata, struct paystack_charge_res *res)
{
    struct reply r = {0};
    char *body = NULL, e164[PHONE_MAX], masked[20] = "-";
    const char *why = NULL;

    charge_res_init(res);
    if (!currency || !*currency)
        currency = "KES";
    if (!provider || !*provider)
        provider = PAYSTACK_MPESA_PROVIDER;
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
    if (!currency_ok(currency)) {
        why = "currency: not a three-letter code";
        goto refused;
    }
    if (reference && *reference && (why = reference_problem(reference)))
        goto refused;
    if (!phone || !phone_normalize(phone, e164)) {
        why = "phone: not a Kenyan mobile number";
        goto refused;
    }
    log_phone(e164, masked);
    if (!provider_ok(provider)) {
        why = "provider: 1 to 20 of a-z and '_'";
        goto refused;
    }
    body = charge_body(email, amount_subunits, currency, reference, e164, provider, metadata);
    if (!body) {
        why = "email or metadata: cannot be encoded as JSON";
        goto refused;
    }
    call(ps, "POST", "/charge", body, &r);
    charge_answer(&r, reference, res);
    goto out;
refused:
    str_copy(res->message, sizeof res->message, why);
out:
    charge_log(false, res, reference, masked, amount_subunits);
    reply_free(&r);
    free(body);
}

void paystack_charge_check(struct paystack *ps, const char *reference, struct paystack_charge_res *res)
{
    struct reply r = {0};
    const char *why = NULL;
    char path[128];

    charge_res_init(res);
    if ((why = secret_problem(ps)) || (why = reference_problem(reference))) {
        str_copy(res->message, sizeof res->message, why);
        goto out;
    }
    snprintf(path, sizeof path, "/charge/%s", reference);
    call(ps, "GET", path, NULL, &r);
    charge_answer(&r, reference, res);
out:
    charge_log(true, res, reference, "-", res->amount);
    reply_free(&r);
}

/* ---- payouts ---- */

/* Letters and digits of s, lowercased, for comparing wallet names. */
static void fold_name(const char *s, char *out, size_t outsz)
{
    size_t k = 0;
    for (; s && *s && k + 1 < outsz; s++) {
        char c = *s;
        if (c >= 'A' && c <= 'Z')
            out[k++] = (char)(c - 'A' + 'a');
        else if ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'))
            out[k++] = c;
    }
    out[k] = 0;
}

static bool same_name(const char *key, const char *s)
{
    char f[48];
    if (!s || strlen(s) >= 64)
        return false;
    fold_name(s, f, sizeof f);
    return !strcmp(key, f);
}

enum pay_outcome paystack_mobile_money_bank(struct paystack *ps, const char *provider_name,
                                            char code_out[PAYSTACK_CODE_MAX])
{
    struct reply r = {0};
    char key[48] = "", logmsg[160];
    const char *why = NULL;
    enum pay_outcome out = PAY_REJECT;
    bool cached = false;

    code_out[0] = 0;
    if (provider_name && strlen(provider_name) <= 40)
        fold_name(provider_name, key, sizeof key);
    if (!key[0]) {
        why = "provider_name: 1 to 40 characters with a letter or digit";
        goto out;
    }
    if ((why = secret_problem(ps)))
        goto out;
    pthread_mutex_lock(&ps->mu);
    cached = ps->bank_key[0] && !strcmp(ps->bank_key, key);
    if (cached)
        str_copy(code_out, PAYSTACK_CODE_MAX, ps->bank_code);
    pthread_mutex_unlock(&ps->mu);
    if (cached) {
        out = PAY_OK;
        why = "cached";
        goto out;
    }

    call(ps, "GET", "/bank?currency=KES&type=mobile_money", NULL, &r);
    out = classify(&r);
    why = r.message;
    if (out != PAY_OK)
        goto out;
    const json_t *list = json_object_get(r.json, "data"), *b;
    size_t i;
    if (!json_is_array(list)) {
        out = PAY_RETRY;
        why = "answer without a data list";
        goto out;
    }
    json_array_foreach(list, i, b) {
        const char *code = jstr(b, "code");
        if (json_is_false(json_object_get(b, "active")) || json_is_true(json_object_get(b, "is_deleted")) ||
            !token_ok(code, 1, PAYSTACK_CODE_MAX - 1, "-_"))
            continue;
        if (same_name(key, jstr(b, "name")) || same_name(key, jstr(b, "slug")) || same_name(key, code)) {
            str_copy(code_out, PAYSTACK_CODE_MAX, code);
            break;
        }
    }
    if (!code_out[0]) {
        out = PAY_REJECT;
        why = "no active mobile-money wallet of that name in Paystack's KES list";
        goto out;
    }
    pthread_mutex_lock(&ps->mu);
    str_copy(ps->bank_key, sizeof ps->bank_key, key);
    str_copy(ps->bank_code, sizeof ps->bank_code, code_out);
    pthread_mutex_unlock(&ps->mu);
out:
    count(out);
    log_event(out == PAY_OK ? LOG_DEBUG : LOG_WARN, "paystack.bank",
              "outcome=%s http=%ld provider=%s code=%s message=\"%s\"", outcome_name(out), r.status,
              key[0] ? key : "-", code_out[0] ? code_out : "-", log_text(why, logmsg, sizeof logmsg));
    reply_free(&r);
    return out;
}

static bool recipient_code_ok(const char *s)
{
    return s && !strncmp(s, "RCP_", 4) && token_ok(s + 4, 1, PAYSTACK_CODE_MAX - 5, NULL);
}

static char *recipient_body(const char *name, const char *account, const char *bank_code, const char *currency)
{
    char *out = NULL;
    json_t *j = json_object();
    if (j && !set_str(j, "type", "mobile_money") && !set_str(j, "name", name) &&
        !set_str(j, "account_number", account) && !set_str(j, "bank_code", bank_code) &&
        !set_str(j, "currency", currency))
        out = json_dumps(j, JSON_COMPACT);
    json_decref(j);
    return out;
}

void paystack_recipient(struct paystack *ps, const char *name, const char *account_number_phone,
                        const char *bank_code, const char *currency, struct paystack_recipient_res *res)
{
    struct reply r = {0};
    char *body = NULL, e164[PHONE_MAX], local[PHONE_MAX], masked[20] = "-", logmsg[160];
    const char *why = NULL;

    memset(res, 0, sizeof *res);
    res->outcome = PAY_REJECT;
    if (!currency || !*currency)
        currency = "KES";
    if ((why = secret_problem(ps)))
        goto refused;
    if (!text_ok(name, PS_NAME_MAX)) {
        why = "name: 1 to 100 characters, no control characters";
        goto refused;
    }
    if (!account_number_phone || !phone_normalize(account_number_phone, e164)) {
        why = "account_number: not a Kenyan mobile number";
        goto refused;
    }
    log_phone(e164, masked);
    /* "+254712345678" -> "0712345678" */
    snprintf(local, sizeof local, "0%s", e164 + 4);
    if (!token_ok(bank_code, 1, PAYSTACK_CODE_MAX - 1, "-_")) {
        why = "bank_code: 1 to 63 letters, digits, '-' or '_'";
        goto refused;
    }
    if (!currency_ok(currency)) {
        why = "currency: not a three-letter code";
        goto refused;
    }
    body = recipient_body(name, local, bank_code, currency);
    if (!body) {
        why = "out of memory";
        goto refused;
    }
    call(ps, "POST", "/transferrecipient", body, &r);
    res->http_status = (int)r.status;
    res->outcome = classify(&r);
    str_copy(res->message, sizeof res->message, r.message);
    if (res->outcome != PAY_OK)
        goto out;
    const char *code = jstr(json_object_get(r.json, "data"), "recipient_code");
    if (!recipient_code_ok(code)) {
        /* creating it again gives the same code */
        res->outcome = PAY_RETRY;
        str_copy(res->message, sizeof res->message, "accepted without a usable recipient_code");
        goto out;
    }
    str_copy(res->recipient_code, sizeof res->recipient_code, code);
    goto out;
refused:
    str_copy(res->message, sizeof res->message, why);
out:
    count(res->outcome);
    log_event(res->outcome == PAY_OK ? LOG_DEBUG : LOG_WARN, "paystack.recipient",
              "outcome=%s http=%d phone=%s bank=%s recipient=%s message=\"%s\"", outcome_name(res->outcome),
              res->http_status, masked, token_ok(bank_code, 1, PAYSTACK_CODE_MAX - 1, "-_") ? bank_code : "-",
              res->recipient_code[0] ? res->recipient_code : "-", log_text(res->message, logmsg, sizeof logmsg));
    reply_free(&r);
    free(body);
}

bool paystack_transfer_reference_ok(const char *ref)
{
    size_t n = 0;
    if (!ref)
        return false;
    for (; ref[n]; n++) {
        char c = ref[n];
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_') ||
            n >= PAYSTACK_TRANSFER_REF_MAX)
            return false;
    }
    return n >= PAYSTACK_TRANSFER_REF_MIN;
}

static void transfer_res_init(struct paystack_transfer_res *res)
{
    memset(res, 0, sizeof *res);
    res->outcome = PAY_REJECT;
    res->amount = -1;
}

static void transfer_fill(const json_t *d, struct paystack_transfer_res *res)
{
    copy_token(res->status, sizeof res->status, jstr(d, "status"), "_");
    const char *tc = jstr(d, "transfer_code");
    if (tc && !strncmp(tc, "TRF_", 4))
        copy_token(res->transfer_code, sizeof res->transfer_code, tc, "_");
    copy_token(res->reference, sizeof res->reference, jstr(d, "reference"), "-_.=");
    const json_t *rc = json_object_get(d, "recipient");
    const char *code = json_is_object(rc) ? jstr(rc, "recipient_code") : json_string_value(rc);
    if (recipient_code_ok(code))
        str_copy(res->recipient_code, sizeof res->recipient_code, code);
    res->amount = json_amount(json_object_get(d, "amount"));
    copy_token(res->currency, sizeof res->currency, jstr(d, "currency"), NULL);
    copy_text(res->transferred_at, sizeof res->transferred_at, jstr(d, "transferred_at"));
    const char *gw = jstr(d, "gateway_response");
    copy_text(res->gateway_response, sizeof res->gateway_response, gw && *gw ? gw : jstr(d, "failures"));
}

static void transfer_answer(const struct reply *r, const char *sent, struct paystack_transfer_res *res)
{
    res->http_status = (int)r->status;
    res->outcome = classify(r);
    str_copy(res->message, sizeof res->message, r->message);
    res->duplicate = says_duplicate(r);
    res->not_found = !res->duplicate && says_not_found(r);
    const json_t *d = json_object_get(r->json, "data");
    if (json_is_object(d))
        transfer_fill(d, res);
    if (!res->reference[0] && paystack_transfer_reference_ok(sent))
        str_copy(res->reference, sizeof res->reference, sent);
    if (res->outcome == PAY_OK && !res->status[0]) {
        /* the transfer may exist: verifying the reference will tell */
        res->outcome = PAY_RETRY;
        str_copy(res->message, sizeof res->message, "answer without a readable data.status");
    }
}

static void transfer_log(bool verify, const struct paystack_transfer_res *res, const char *reference)
{
    char logmsg[160];
    count(res->outcome);
    log_event(res->outcome == PAY_OK ? LOG_DEBUG : LOG_WARN, verify ? "paystack.transfer_verify" : "paystack.transfer",
              "outcome=%s http=%d reference=%s status=%s transfer=%s amount=%lld duplicate=%d not_found=%d "
              "message=\"%s\"",
              outcome_name(res->outcome), res->http_status,
              paystack_transfer_reference_ok(reference) ? reference : "-", res->status[0] ? res->status : "-",
              res->transfer_code[0] ? res->transfer_code : "-", (long long)res->amount, res->duplicate,
              res->not_found, log_text(res->message, logmsg, sizeof logmsg));
}

void paystack_transfer(struct paystack *ps, int64_t amount_subunits, const char *recipient_code,
                       const char *reference, const char *reason, struct paystack_transfer_res *res)
{
    struct reply r = {0};
    char *body = NULL;
    const char *why = NULL;
    json_t *j = NULL;

    transfer_res_init(res);
    if ((why = secret_problem(ps)))
        goto refused;
    if (amount_subunits < 1 || amount_subunits > PS_AMOUNT_MAX) {
        why = "amount: not a whole number of subunits >= 1";
        goto refused;
    }
    if (!recipient_code_ok(recipient_code)) {
        why = "recipient: not a recipient code (RCP_...)";
        goto refused;
    }
    if (!paystack_transfer_reference_ok(reference)) {
        why = "reference: 16 to 50 lowercase letters, digits, '-' or '_'";
        goto refused;
    }
    if (reason && *reason && !text_ok(reason, PS_NAME_MAX)) {
        why = "reason: at most 100 characters, no control characters";
        goto refused;
    }
    why = "out of memory";
    j = json_object();
    if (!j || set_str(j, "source", "balance") ||
        json_object_set_new(j, "amount", json_integer((json_int_t)amount_subunits)) ||
        set_str(j, "recipient", recipient_code) || set_str(j, "reference", reference) ||
        (reason && *reason && set_str(j, "reason", reason)) || !(body = json_dumps(j, JSON_COMPACT)))
        goto refused;
    call(ps, "POST", "/transfer", body, &r);
    transfer_answer(&r, reference, res);
    goto out;
refused:
    str_copy(res->message, sizeof res->message, why);
out:
    transfer_log(false, res, reference);
    json_decref(j);
    reply_free(&r);
    free(body);
}

void paystack_transfer_verify(struct paystack *ps, const char *reference, struct paystack_transfer_res *res)
{
    struct reply r = {0};
    const char *why = NULL;
    char path[96];

    transfer_res_init(res);
    if ((why = secret_problem(ps)))
        goto refused;
    if (!paystack_transfer_reference_ok(reference)) {
        why = "reference: 16 to 50 lowercase letters, digits, '-' or '_'";
        goto refused;
    }
    snprintf(path, sizeof path, "/transfer/verify/%s", reference);
    call(ps, "GET", path, NULL, &r);
    transfer_answer(&r, reference, res);
    goto out;
refused:
    str_copy(res->message, sizeof res->message, why);
out:
    transfer_log(true, res, reference);
    reply_free(&r);
}

/* ---- webhook events ---- */

static const struct {
    const char *name;
    enum paystack_event_kind kind;
} event_kinds[] = {
    {"charge.success", PAYSTACK_EV_CHARGE_SUCCESS},     {"charge.failed", PAYSTACK_EV_CHARGE_FAILED},
    {"transfer.success", PAYSTACK_EV_TRANSFER_SUCCESS}, {"transfer.failed", PAYSTACK_EV_TRANSFER_FAILED},
    {"transfer.reversed", PAYSTACK_EV_TRANSFER_REVERSED},
};

/* data[key] into out when it is a token; NULL, or why (naming the field)
 * when it is there but not one. Absent, null and "" leave out "". */
static const char *event_token(const json_t *d, const char *key, char *out, size_t outsz, const char *extra,
                               const char *why)
{
    const json_t *v = json_object_get(d, key);
    out[0] = 0;
    if (!v || json_is_null(v) || (json_is_string(v) && !*json_string_value(v)))
        return NULL;
    if (!json_is_string(v) || !token_ok(json_string_value(v), 1, outsz - 1, extra))
        return why;
    str_copy(out, outsz, json_string_value(v));
    return NULL;
}

static const char *event_fields(const json_t *d, struct paystack_event *ev)
{
    const char *why;
    const json_t *v;
    if ((why = event_token(d, "reference", ev->reference, sizeof ev->reference, "-.=_",
                           "data.reference: not 1 to 100 letters, digits, '-', '.', '=' or '_'")) ||
        (why = event_token(d, "status", ev->status, sizeof ev->status, "_",
                           "data.status: not a word of at most 23 characters")) ||
        (why = event_token(d, "currency", ev->currency, sizeof ev->currency, NULL,
                           "data.currency: not a currency code")) ||
        (why = event_token(d, "channel", ev->channel, sizeof ev->channel, "_",
                           "data.channel: not a word of at most 31 characters")) ||
        (why = event_token(d, "transfer_code", ev->transfer_code, sizeof ev->transfer_code, "_",
                           "data.transfer_code: not a code of at most 63 characters")))
        return why;
    /* timestamps: 2024-08-22T09:15:02.000Z */
    const char *ts_why = "data.paid_at: not a timestamp";
    if ((why = event_token(d, "paid_at", ev->paid_at, sizeof ev->paid_at, "-:.+ ", ts_why)))
        return why;
    if (!ev->paid_at[0] && (why = event_token(d, "paidAt", ev->paid_at, sizeof ev->paid_at, "-:.+ ", ts_why)))
        return why;
    if (!ev->paid_at[0] &&
        (why = event_token(d, "transferred_at", ev->paid_at, sizeof ev->paid_at, "-:.+ ",
                           "data.transferred_at: not a timestamp")))
        return why;

    v = json_object_get(d, "id");
    if (json_is_integer(v) && json_integer_value(v) >= 0)
        snprintf(ev->id, sizeof ev->id, "%lld", (long long)json_integer_value(v));
    else if (v && !json_is_null(v) &&
             (why = event_token(d, "id", ev->id, sizeof ev->id, "-_", "data.id: not a number or a short code")))
        return why;

    v = json_object_get(d, "amount");
    if (v && !json_is_null(v) && (ev->amount = json_amount(v)) < 0)
        return "data.amount: not a whole number of subunits";

    v = json_object_get(d, "gateway_response");
    if (v && !json_is_null(v) && !json_is_string(v))
        return "data.gateway_response: not a string";
    copy_text(ev->gateway_response, sizeof ev->gateway_response, json_string_value(v));
    return NULL;
}

bool paystack_event_parse(const char *body, size_t len, struct paystack_event *ev)
{
    json_t *j = NULL;
    const char *why = NULL;

    memset(ev, 0, sizeof *ev);
    ev->amount = -1;
    if (!body) {
        why = "body: missing";
        goto out;
    }
    if (len > PAYSTACK_EVENT_BODY_MAX) {
        why = "body: larger than 256 KiB";
        goto out;
    }
    /* a repeated key would let two readers of one body see two events */
    j = json_loadb(body, len, JSON_REJECT_DUPLICATES, NULL);
    if (!json_is_object(j)) {
        why = "body: not a JSON object";
        goto out;
    }
    const char *name = jstr(j, "event");
    if (!token_ok(name, 1, sizeof ev->event - 1, "._") || strpbrk(name, "ABCDEFGHIJKLMNOPQRSTUVWXYZ")) {
        why = "event: missing or not 1 to 39 of a-z, 0-9, '.' and '_'";
        goto out;
    }
    str_copy(ev->event, sizeof ev->event, name);
    for (size_t i = 0; i < sizeof event_kinds / sizeof *event_kinds; i++)
        if (!strcmp(name, event_kinds[i].name))
            ev->kind = event_kinds[i].kind;
    const json_t *d = json_object_get(j, "data");
    if (!json_is_object(d)) {
        why = "data: missing or not an object";
        goto out;
    }
    if ((why = event_fields(d, ev)))
        goto out;
    if (ev->kind != PAYSTACK_EV_OTHER && !ev->reference[0])
        why = "data.reference: missing";
out:
    json_decref(j);
    if (why) {
        memset(ev, 0, sizeof *ev);
        ev->amount = -1;
        str_copy(ev->error, sizeof ev->error, why);
    }
    return !why;
}
