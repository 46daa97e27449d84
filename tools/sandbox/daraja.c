/* sandbox/daraja: a fake Safaricom Daraja M-Pesa Express (STK push) as
 * strict as the live API (as Safaricom documents it): OAuth with one live token at a
 * time, every push field checked and a rejection naming the field, one
 * unanswered push per subscriber, a simulated customer who answers after
 * --callback-delay-ms, the callback POSTed by worker threads, and the query.
 *
 * The customer's answer depends on Amount: exactly 1 -> ResultCode 1
 * (insufficient balance); last digit 2 -> 1032 (cancelled); last digit 7 ->
 * 1037 (unreachable) with no callback at all, so only a query settles it;
 * anything else -> 0, paid. Callbacks go out once, never retried, and only
 * to loopback hosts (this sandbox never reaches past the machine). A
 * subscriber made quiet (POST /sandbox/quiet, sb_daraja_quiet) gets no
 * callback for its next pushes whatever the outcome, as when Safaricom's
 * callback is lost: only a query tells the answer then.
 *
 * Pushes live in one array in creation order. Since every push waits the
 * same delay, due times rise with the index: the records from next_due on
 * are the unanswered ones, and the answered ones with a callback still to
 * post lie between next_post and next_due. */
#include "sandbox.h"

#include "http/api.h"
#include "store/users.h"
#include "util/crypto.h"
#include "util/gsm.h"
#include "util/httpc.h"
#include "util/log.h"
#include "util/phone.h"
#include "util/str.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define TOKEN_TTL_S 3599
#define STK_MAX 50000           /* records kept; the oldest answered go first */
#define AMOUNT_MAX 250000       /* M-Pesa's per-transaction ceiling, KES */
#define TIMESTAMP_SLACK_S 600   /* Timestamp must be within 10 min of now */
#define CALLBACK_TIMEOUT_MS 5000
#define URL_MAX 512
#define QUIET_MAX 64            /* subscribers made quiet at a time */

struct stk {
    uint64_t seq;
    char checkout_id[48], merchant_id[32];
    char phone[PHONE_MAX];      /* 2547XXXXXXXX, as PhoneNumber */
    int64_t amount;
    char type[32];
    char account_ref[64];
    char callback_url[URL_MAX];
    int64_t created_ms;         /* wall clock, for listing */
    int64_t due_mono;           /* when the customer answers */
    bool answered;
    bool post;                  /* a callback goes out on answer (not 1037) */
    int result_code;
    const char *result_desc;
    char receipt[16];
    int callback_status;        /* lipad's last HTTP answer, 0 none/failed */
    int callbacks_sent;          /* posts tried, automatic and resent */
    char *callback_body;        /* what was (or would be) posted */
};

struct sb_daraja {
    char token[48];
    bool have_token;
    int64_t token_exp_mono;
    int64_t oauth_issued;       /* tokens issued (GET /sandbox/daraja) */
    int64_t tokens_refused;     /* calls refused with 404.001.03 */
    uint64_t next_seq;
    struct stk **v;
    size_t n, cap;
    size_t next_due;            /* v[next_due..n) are unanswered */
    size_t next_post;           /* v[next_post..next_due) may need a post */
    struct {
        char phone[PHONE_MAX];  /* 2547XXXXXXXX */
        int count;              /* pushes still to answer without a callback */
    } quiet[QUIET_MAX];
};

/* ---- small helpers ---- */

static void random_digits(char *out, size_t n)
{
    if (!crypto_random_chars(out, n, "0123456789"))
        memset(out, '0', n), out[n] = 0;
}

static void request_id(char out[32])
{
    char a[6], b[9];
    random_digits(a, 5);
    random_digits(b, 8);
    snprintf(out, 32, "%s-%s-1", a, b);
}

static void daraja_error(struct http_resp *resp, int status, const char *code, const char *msg)
{
    char rid[32];
    request_id(rid);
    api_json(resp, status, json_pack("{s:s, s:s, s:s}", "requestId", rid, "errorCode", code,
                                     "errorMessage", msg));
}

/* Answers an injected fault; true when one was armed. */
static bool fault(struct sandbox *sb, struct http_resp *resp)
{
    int st = sb_fail_take(sb, SB_DARAJA);
    if (!st)
        return false;
    char code[24];
    snprintf(code, sizeof code, "%d.003.01", st);
    daraja_error(resp, st, code, sb_reason(st));
    return true;
}

/* YYYYMMDDHHmmss in Nairobi time (UTC+3, no DST). */
static void nairobi_stamp(int64_t unix_s, char out[15])
{
    time_t t = (time_t)(unix_s + 3 * 3600);
    struct tm tm;
    gmtime_r(&t, &tm);
    if (!strftime(out, 15, "%Y%m%d%H%M%S", &tm))
        str_copy(out, 15, "00000000000000");
}

/* A real Nairobi-time YYYYMMDDHHmmss within the slack of now. */
static bool timestamp_ok(const char *s, const char **reason)
{
    if (!s || strlen(s) != 14 || !str_is_digits(s)) {
        *reason = "not YYYYMMDDHHmmss";
        return false;
    }
    int f[6], w[6] = {4, 2, 2, 2, 2, 2};
    const char *p = s;
    for (int i = 0; i < 6; p += w[i], i++) {
        f[i] = 0;
        for (int j = 0; j < w[i]; j++)
            f[i] = f[i] * 10 + (p[j] - '0');
    }
    struct tm tm = {0};
    tm.tm_year = f[0] - 1900, tm.tm_mon = f[1] - 1, tm.tm_mday = f[2];
    tm.tm_hour = f[3], tm.tm_min = f[4], tm.tm_sec = f[5];
    time_t t = timegm(&tm);
    struct tm back;
    gmtime_r(&t, &back);
    if (back.tm_year != f[0] - 1900 || back.tm_mon != f[1] - 1 || back.tm_mday != f[2] ||
        back.tm_hour != f[3] || back.tm_min != f[4] || back.tm_sec != f[5]) {
        *reason = "not a calendar date and time";
        return false;
    }
    int64_t unix_s = (int64_t)t - 3 * 3600, d = unix_s - now_s();
    if (d > TIMESTAMP_SLACK_S || d < -TIMESTAMP_SLACK_S) {
        *reason = "more than 10 minutes from Nairobi time now";
        return false;
    }
    return true;
}

static bool password_ok(const struct sandbox *sb, const char *timestamp, const char *password)
{
    char raw[SB_CRED_MAX * 2 + 16];
    snprintf(raw, sizeof raw, "%s%s%s", sb->cred.daraja_shortcode, sb->cred.daraja_passkey, timestamp);
    char *want = crypto_base64(raw, strlen(raw));
    bool ok = want && crypto_streq(want, password);
    free(want);
    return ok;
}

/* obj[name] as text: a JSON string, or (numeric fields) a non-negative
 * integer as Daraja takes both. False when absent, mistyped or too long. */
static bool field_text(json_t *o, const char *name, bool allow_int, char *out, size_t outsz)
{
    json_t *v = json_object_get(o, name);
    if (json_is_string(v))
        return str_copy(out, outsz, json_string_value(v));
    if (allow_int && json_is_integer(v) && json_integer_value(v) >= 0) {
        int n = snprintf(out, outsz, "%lld", (long long)json_integer_value(v));
        return n > 0 && (size_t)n < outsz;
    }
    return false;
}

/* Amount: whole shillings >= 1, as a number or a digit string. */
static bool field_amount(json_t *o, int64_t *out)
{
    json_t *v = json_object_get(o, "Amount");
    if (json_is_integer(v)) {
        *out = json_integer_value(v);
    } else if (json_is_real(v)) {
        double d = json_real_value(v);
        if (d < 1 || d > AMOUNT_MAX || d != (double)(int64_t)d)
            return false;
        *out = (int64_t)d;
    } else if (json_is_string(v)) {
        if (!str_to_i64(json_string_value(v), 1, AMOUNT_MAX, out))
            return false;
    } else {
        return false;
    }
    return *out >= 1 && *out <= AMOUNT_MAX;
}

static bool shortcode_ok(const struct sandbox *sb, const char *s, const char **reason)
{
    size_t n = strlen(s);
    if (n < 5 || n > 7 || !str_is_digits(s)) {
        *reason = "not 5 to 7 digits";
        return false;
    }
    if (strcmp(s, sb->cred.daraja_shortcode)) {
        *reason = "not the configured shortcode";
        return false;
    }
    return true;
}

/* 2547XXXXXXXX or 2541XXXXXXXX. */
static bool msisdn_ok(const char *s)
{
    return strlen(s) == 12 && str_is_digits(s) && !strncmp(s, "254", 3) && (s[3] == '7' || s[3] == '1');
}

static bool url_ok(const char *s)
{
    const char *h = !strncmp(s, "https://", 8) ? s + 8 : !strncmp(s, "http://", 7) ? s + 7 : NULL;
    if (!h || !*h || *h == '/' || *h == ':' || *h == '?')
        return false;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++)
        if (*p <= ' ' || *p == 0x7f)
            return false;
    return true;
}

static bool text_ok(const char *s, size_t max_chars)
{
    size_t n = gsm_chars(s);
    return n >= 1 && n <= max_chars && str_is_clean_utf8(s, strlen(s));
}


/* POSTs a callback body; returns lipad's HTTP status, 0 on failure. */
static int post_callback(const char *url, const char *body, char *err, size_t errsz)
{
    if (!sb_url_is_loopback(url)) {
        snprintf(err, errsz, "CallBackURL host is not loopback; the sandbox posts only there");
        return 0;
    }
    static const char *const headers[] = {"Content-Type: application/json", NULL};
    struct httpc_req rq = {.method = "POST", .url = url, .headers = headers, .body = body,
                           .body_len = strlen(body), .timeout_ms = CALLBACK_TIMEOUT_MS};
    struct httpc_resp rs;
    bool got = httpc_do(&rq, &rs);
    int status = got ? (int)rs.status : 0;
    if (!got)
        snprintf(err, errsz, "%s", rs.error);
    httpc_resp_free(&rs);
    return status;
}

static const char *result_desc(int code)
{
    switch (code) {
    case 0: return "The service request is processed successfully.";
    case 1: return "The balance is insufficient for the transaction.";
    case 1032: return "Request cancelled by user";
    case 1037: return "DS timeout user cannot be reached";
    default: return "Unknown result";
    }
}

static int outcome_of(int64_t amount)
{
    if (amount == 1)
        return 1;
    if (amount % 10 == 2)
        return 1032;
    if (amount % 10 == 7)
        return 1037;
    return 0;
}

/* Builds the callback body by hand: Amount must read 100.00, which jansson
 * would print as 100.0. Every interpolated string is ours and JSON-safe. */
static char *callback_body(const struct stk *s, int64_t answer_unix_s)
{
    struct buf b;
    buf_init(&b, 4096);
    buf_printf(&b, "{\"Body\":{\"stkCallback\":{\"MerchantRequestID\":\"%s\",\"CheckoutRequestID\":\"%s\","
                   "\"ResultCode\":%d,\"ResultDesc\":\"%s\"",
               s->merchant_id, s->checkout_id, s->result_code, s->result_desc);
    if (s->result_code == 0) {
        char date[15];
        nairobi_stamp(answer_unix_s, date);
        buf_printf(&b, ",\"CallbackMetadata\":{\"Item\":[{\"Name\":\"Amount\",\"Value\":%lld.00},"
                       "{\"Name\":\"MpesaReceiptNumber\",\"Value\":\"%s\"},{\"Name\":\"Balance\"},"
                       "{\"Name\":\"TransactionDate\",\"Value\":%s},"
                       "{\"Name\":\"PhoneNumber\",\"Value\":%s}]}",
                   (long long)s->amount, s->receipt, date, s->phone);
    }
    buf_puts(&b, "}}}");
    if (b.over) {
        buf_free(&b);
        return NULL;
    }
    return buf_steal(&b);
}

static void stk_free(struct stk *s)
{
    if (s) {
        free(s->callback_body);
        free(s);
    }
}

/* The push with this sequence number, or NULL (evicted). Caller holds mu. */
static struct stk *find_seq(struct sb_daraja *d, uint64_t seq)
{
    size_t lo = 0, hi = d->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (d->v[mid]->seq < seq)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < d->n && d->v[lo]->seq == seq ? d->v[lo] : NULL;
}

/* The push with this CheckoutRequestID, or NULL. Caller holds mu.
 * Ids are ws_CO_ + DDMMYYYYHHmmss + the sequence number. */
static struct stk *find_id(struct sb_daraja *d, const char *id)
{
    int64_t seq;
    if (!id || strlen(id) < 21 || strncmp(id, "ws_CO_", 6) || !str_to_i64(id + 20, 1, INT64_MAX, &seq))
        return NULL;
    struct stk *s = find_seq(d, (uint64_t)seq);
    return s && !strcmp(s->checkout_id, id) ? s : NULL;
}

/* Drops the oldest answered, already handled pushes. Caller holds mu. */
static void evict(struct sb_daraja *d)
{
    size_t k = STK_MAX / 10;
    if (k > d->next_post)
        k = d->next_post;
    for (size_t i = 0; i < k; i++)
        stk_free(d->v[i]);
    memmove(d->v, d->v + k, (d->n - k) * sizeof *d->v);
    d->n -= k, d->next_due -= k, d->next_post -= k;
}

/* ---- OAuth ---- */

json_t *sb_daraja_counts(struct sandbox *sb)
{
    pthread_mutex_lock(&sb->mu);
    json_t *o = json_pack("{s:I, s:I}", "oauthIssued", (json_int_t)sb->daraja->oauth_issued, "tokensRefused",
                          (json_int_t)sb->daraja->tokens_refused);
    pthread_mutex_unlock(&sb->mu);
    return o;
}

static void h_oauth(void *ctx, struct http_req *req, struct http_resp *resp)
{
    struct sandbox *sb = ctx;
    if (fault(sb, resp))
        return;
    const char *auth = http_header(req, "Authorization");
    char creds[SB_CRED_MAX * 2 + 2];
    snprintf(creds, sizeof creds, "%s:%s", sb->cred.daraja_key, sb->cred.daraja_secret);
    char *want = crypto_base64(creds, strlen(creds));
    bool ok = false;
    if (want && auth && strlen(auth) > 6 && !strncasecmp(auth, "Basic ", 6)) {
        const char *given = auth + 6;
        while (*given == ' ')
            given++;
        ok = crypto_streq(given, want);
    }
    free(want);
    if (!ok) {
        log_warn("daraja.oauth_rejected", "reason=\"%s\"",
                 auth ? "wrong credentials" : "no Authorization header");
        daraja_error(resp, 400, "400.008.01", "Invalid Authentication passed");
        return;
    }
    const char *gt = http_query(req, "grant_type");
    if (!gt || strcmp(gt, "client_credentials")) {
        log_warn("daraja.oauth_rejected", "reason=\"grant_type must be client_credentials\"");
        daraja_error(resp, 400, "400.008.02", "Invalid grant type passed");
        return;
    }
    char tok[29];
    if (!crypto_random_chars(tok, 28, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789")) {
        daraja_error(resp, 500, "500.003.1001", "Internal Server Error");
        return;
    }
    pthread_mutex_lock(&sb->mu);
    str_copy(sb->daraja->token, sizeof sb->daraja->token, tok);
    sb->daraja->have_token = true;
    sb->daraja->token_exp_mono = sb_mono_ms() + TOKEN_TTL_S * 1000LL;
    sb->daraja->oauth_issued++;
    pthread_mutex_unlock(&sb->mu);
    log_info("daraja.oauth_issued", "expires_in=%d previous=invalidated", TOKEN_TTL_S);
    api_json(resp, 200, json_pack("{s:s, s:s}", "access_token", tok, "expires_in", "3599"));
}

/* Bearer check; when it fails, answers 404.001.04 (no Bearer header) or
 * 404.001.03 (unknown, superseded or expired token) and returns false. */
static bool bearer(struct sandbox *sb, struct http_req *req, struct http_resp *resp)
{
    const char *auth = http_header(req, "Authorization");
    if (!auth || strlen(auth) <= 7 || strncasecmp(auth, "Bearer ", 7)) {
        log_warn("daraja.auth_rejected", "path=%s reason=\"no Bearer token\"", req->path);
        daraja_error(resp, 404, "404.001.04", "Invalid Authentication Header");
        return false;
    }
    const char *given = auth + 7;
    while (*given == ' ')
        given++;
    pthread_mutex_lock(&sb->mu);
    struct sb_daraja *d = sb->daraja;
    bool live = d->have_token && sb_mono_ms() < d->token_exp_mono;
    bool ok = live && crypto_streq(given, d->token);
    if (!ok)
        d->tokens_refused++;
    pthread_mutex_unlock(&sb->mu);
    if (!ok) {
        log_warn("daraja.auth_rejected", "path=%s reason=\"%s\"", req->path,
                 live ? "unknown or superseded token" : "no live token");
        daraja_error(resp, 404, "404.001.03", "Invalid Access Token");
    }
    return ok;
}

static json_t *parse_body(struct http_req *req, struct http_resp *resp)
{
    json_error_t je;
    json_t *o = json_loadb(req->body, req->body_len, JSON_REJECT_DUPLICATES, &je);
    if (!json_is_object(o)) {
        log_warn("daraja.request_rejected", "path=%s reason=\"body is not a JSON object\"", req->path);
        daraja_error(resp, 400, "400.002.05", "Invalid Request Payload");
        json_decref(o);
        return NULL;
    }
    return o;
}

static void reject_field(struct http_req *req, struct http_resp *resp, const char *field,
                         const char *reason)
{
    char msg[96];
    snprintf(msg, sizeof msg, "Bad Request - Invalid %s", field);
    log_warn("daraja.request_rejected", "path=%s field=%s reason=\"%s\"", req->path, field, reason);
    daraja_error(resp, 400, "400.002.02", msg);
}

/* ---- STK push ---- */

struct push {
    char shortcode[16], password[768], timestamp[16], type[32];
    char party_a[16], party_b[16], phone[16];
    char url[URL_MAX], ref[64], desc[64];
    int64_t amount;
};

/* Checks every field in Daraja's documented order (but Timestamp before the
 * Password made from it); returns the first bad field and why. */
static const char *check_push(const struct sandbox *sb, json_t *o, struct push *p, const char **why)
{
    *why = "missing or not a string";
    if (!field_text(o, "BusinessShortCode", true, p->shortcode, sizeof p->shortcode) ||
        !shortcode_ok(sb, p->shortcode, why))
        return "BusinessShortCode";
    *why = "missing or not a string";
    if (!field_text(o, "Timestamp", false, p->timestamp, sizeof p->timestamp) ||
        !timestamp_ok(p->timestamp, why))
        return "Timestamp";
    *why = "missing or not a string";
    if (!field_text(o, "Password", false, p->password, sizeof p->password))
        return "Password";
    if (!password_ok(sb, p->timestamp, p->password)) {
        *why = "not base64(shortcode + passkey + Timestamp)";
        return "Password";
    }
    *why = "not CustomerPayBillOnline or CustomerBuyGoodsOnline";
    if (!field_text(o, "TransactionType", false, p->type, sizeof p->type) ||
        (strcmp(p->type, "CustomerPayBillOnline") && strcmp(p->type, "CustomerBuyGoodsOnline")))
        return "TransactionType";
    *why = "not a whole number of shillings from 1 to 250000";
    if (!field_amount(o, &p->amount))
        return "Amount";
    *why = "not 2547XXXXXXXX or 2541XXXXXXXX";
    if (!field_text(o, "PartyA", true, p->party_a, sizeof p->party_a) || !msisdn_ok(p->party_a))
        return "PartyA";
    *why = "not the configured shortcode";
    if (!field_text(o, "PartyB", true, p->party_b, sizeof p->party_b) ||
        strcmp(p->party_b, sb->cred.daraja_shortcode))
        return "PartyB";
    *why = "not 2547XXXXXXXX or 2541XXXXXXXX";
    if (!field_text(o, "PhoneNumber", true, p->phone, sizeof p->phone) || !msisdn_ok(p->phone))
        return "PhoneNumber";
    *why = "not an http(s) URL without spaces";
    if (!field_text(o, "CallBackURL", false, p->url, sizeof p->url) || !url_ok(p->url))
        return "CallBackURL";
    *why = "missing, empty or over 12 characters";
    if (!field_text(o, "AccountReference", false, p->ref, sizeof p->ref) || !text_ok(p->ref, 12))
        return "AccountReference";
    *why = "missing, empty or over 13 characters";
    if (!field_text(o, "TransactionDesc", false, p->desc, sizeof p->desc) || !text_ok(p->desc, 13))
        return "TransactionDesc";
    return NULL;
}

/* A push record from checked fields; ids and body come in stk_store. */
static struct stk *stk_new(const struct sandbox *sb, const struct push *p)
{
    struct stk *s = calloc(1, sizeof *s);
    if (!s)
        return NULL;
    s->amount = p->amount;
    str_copy(s->phone, sizeof s->phone, p->phone);
    str_copy(s->type, sizeof s->type, p->type);
    str_copy(s->account_ref, sizeof s->account_ref, p->ref);
    str_copy(s->callback_url, sizeof s->callback_url, p->url);
    s->result_code = outcome_of(p->amount);
    s->result_desc = result_desc(s->result_code);
    s->post = s->result_code != 1037;
    s->created_ms = now_ms();
    s->due_mono = sb_mono_ms() + sb->callback_delay_ms;
    if (!crypto_random_chars(s->receipt, 10, "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789")) {
        free(s);
        return NULL;
    }
    return s;
}

enum store_res { STORED, LOCKED, NO_MEMORY };

/* Takes s into the table unless a push to the same subscriber is still
 * unanswered; gives it its ids (copied to cid and mid) and callback body.
 * On STORED the table owns s (and may free it any time after), else the
 * caller still does. */
static enum store_res stk_store(struct sandbox *sb, struct stk *s, char cid[48], char mid[32])
{
    char mr[6], stamp[15];
    random_digits(mr, 5);
    nairobi_stamp(s->created_ms / 1000, stamp);
    enum store_res r = NO_MEMORY;
    pthread_mutex_lock(&sb->mu);
    struct sb_daraja *d = sb->daraja;
    for (size_t i = d->next_due; i < d->n; i++)
        if (!strcmp(d->v[i]->phone, s->phone)) {
            r = LOCKED;
            goto out;
        }
    if (d->n >= STK_MAX)
        evict(d);
    if (d->n == d->cap) {
        size_t cap = d->cap ? d->cap * 2 : 256;
        struct stk **v = realloc(d->v, cap * sizeof *v);
        if (!v)
            goto out;
        d->v = v, d->cap = cap;
    }
    for (size_t i = 0; i < QUIET_MAX; i++)
        if (d->quiet[i].count > 0 && !strcmp(d->quiet[i].phone, s->phone)) {
            d->quiet[i].count--;
            s->post = false;
            break;
        }
    s->seq = d->next_seq++;
    /* ws_CO_ + DDMMYYYYHHmmss as live ids have it, + our sequence number */
    snprintf(s->checkout_id, sizeof s->checkout_id, "ws_CO_%.2s%.2s%.4s%.6s%04llu", stamp + 6, stamp + 4,
             stamp, stamp + 8, (unsigned long long)s->seq);
    snprintf(s->merchant_id, sizeof s->merchant_id, "%s-%08llu-1", mr, (unsigned long long)s->seq);
    s->callback_body = callback_body(s, (s->created_ms + sb->callback_delay_ms) / 1000);
    if (!s->callback_body)
        goto out;
    d->v[d->n++] = s;
    str_copy(cid, 48, s->checkout_id);
    str_copy(mid, 32, s->merchant_id);
    r = STORED;
    pthread_cond_signal(&sb->cv);
out:
    pthread_mutex_unlock(&sb->mu);
    return r;
}

static void h_push(void *ctx, struct http_req *req, struct http_resp *resp)
{
    struct sandbox *sb = ctx;
    if (fault(sb, resp) || !bearer(sb, req, resp))
        return;
    json_t *o = parse_body(req, resp);
    if (!o)
        return;
    struct push p;
    const char *why;
    const char *bad = check_push(sb, o, &p, &why);
    json_decref(o);
    if (bad) {
        reject_field(req, resp, bad, why);
        return;
    }
    char masked[20], cid[48], mid[32];
    log_phone(p.phone, masked);
    struct stk *s = stk_new(sb, &p);
    enum store_res r = s ? stk_store(sb, s, cid, mid) : NO_MEMORY;
    if (r != STORED) {
        stk_free(s);
        if (r == LOCKED) {
            log_warn("daraja.stk_rejected", "phone=%s reason=\"a push to this subscriber is unanswered\"",
                     masked);
            daraja_error(resp, 500, "500.001.1001", "Unable to lock subscriber, a transaction is already "
                                                    "in process for the current subscriber");
        } else {
            daraja_error(resp, 500, "500.003.1001", "Internal Server Error");
        }
        return;
    }
    log_info("daraja.stk_accepted", "checkout=%s phone=%s amount=%lld outcome=%d answer_in_ms=%lld", cid,
             masked, (long long)p.amount, outcome_of(p.amount), (long long)sb->callback_delay_ms);
    const char *ok = "Success. Request accepted for processing";
    api_json(resp, 200, json_pack("{s:s, s:s, s:s, s:s, s:s}", "MerchantRequestID", mid,
                                  "CheckoutRequestID", cid, "ResponseCode", "0",
                                  "ResponseDescription", ok, "CustomerMessage", ok));
}

/* ---- STK query ---- */

/* BusinessShortCode, Timestamp, Password, CheckoutRequestID; returns the
 * first bad field. */
static const char *check_query(const struct sandbox *sb, json_t *o, char *cid, size_t cidsz,
                               const char **why)
{
    char shortcode[16], timestamp[16], password[768];
    *why = "missing or not a string";
    if (!field_text(o, "BusinessShortCode", true, shortcode, sizeof shortcode) ||
        !shortcode_ok(sb, shortcode, why))
        return "BusinessShortCode";
    *why = "missing or not a string";
    if (!field_text(o, "Timestamp", false, timestamp, sizeof timestamp) || !timestamp_ok(timestamp, why))
        return "Timestamp";
    *why = "not base64(shortcode + passkey + Timestamp)";
    if (!field_text(o, "Password", false, password, sizeof password) || !password_ok(sb, timestamp, password))
        return "Password";
    *why = "missing or not a string";
    if (!field_text(o, "CheckoutRequestID", false, cid, cidsz) || !*cid)
        return "CheckoutRequestID";
    return NULL;
}

static void h_query(void *ctx, struct http_req *req, struct http_resp *resp)
{
    struct sandbox *sb = ctx;
    if (fault(sb, resp) || !bearer(sb, req, resp))
        return;
    json_t *o = parse_body(req, resp);
    if (!o)
        return;
    char cid[64];
    const char *why;
    const char *bad = check_query(sb, o, cid, sizeof cid, &why);
    json_decref(o);
    if (bad) {
        reject_field(req, resp, bad, why);
        return;
    }

    pthread_mutex_lock(&sb->mu);
    struct stk *s = find_id(sb->daraja, cid);
    bool found = s != NULL, answered = s && s->answered;
    int code = s ? s->result_code : 0;
    const char *desc = s ? s->result_desc : "";
    char mid[32] = "";
    if (s)
        str_copy(mid, sizeof mid, s->merchant_id);
    pthread_mutex_unlock(&sb->mu);

    if (!found) {
        reject_field(req, resp, "CheckoutRequestID", "no such push");
        return;
    }
    if (!answered) {
        log_info("daraja.query", "checkout=%s state=waiting", cid);
        daraja_error(resp, 500, "500.001.1001", "The transaction is being processed");
        return;
    }
    char rc[16];
    snprintf(rc, sizeof rc, "%d", code);
    log_info("daraja.query", "checkout=%s state=answered result=%d", cid, code);
    api_json(resp, 200, json_pack("{s:s, s:s, s:s, s:s, s:s, s:s}", "ResponseCode", "0",
                                  "ResponseDescription",
                                  "The service request has been accepted successsfully", /* sic */
                                  "MerchantRequestID", mid, "CheckoutRequestID", cid, "ResultCode", rc,
                                  "ResultDesc", desc));
}

/* ---- the simulated customer and the callback poster ---- */

void *sb_daraja_worker(void *arg)
{
    struct sandbox *sb = arg;
    struct sb_daraja *d = sb->daraja;
    pthread_mutex_lock(&sb->mu);
    while (!sb->stopping) {
        int64_t now = sb_mono_ms();
        bool answered_any = false;
        while (d->next_due < d->n && d->v[d->next_due]->due_mono <= now) {
            struct stk *s = d->v[d->next_due++];
            char masked[20];
            s->answered = true;
            answered_any = true;
            log_info("daraja.stk_answered", "checkout=%s phone=%s result=%d callback=%s", s->checkout_id,
                     log_phone(s->phone, masked), s->result_code, s->post ? "due" : "none");
        }
        if (answered_any)
            pthread_cond_broadcast(&sb->cv); /* other workers may post too */
        while (d->next_post < d->next_due && !d->v[d->next_post]->post)
            d->next_post++;
        if (d->next_post < d->next_due) {
            struct stk *s = d->v[d->next_post++];
            uint64_t seq = s->seq;
            char cid[48], url[URL_MAX], err[256] = "";
            str_copy(cid, sizeof cid, s->checkout_id);
            str_copy(url, sizeof url, s->callback_url);
            char *body = strdup(s->callback_body);
            pthread_mutex_unlock(&sb->mu);
            int status = body ? post_callback(url, body, err, sizeof err) : 0;
            free(body);
            if (status)
                log_info("daraja.callback_posted", "checkout=%s status=%d", cid, status);
            else
                log_warn("daraja.callback_failed", "checkout=%s error=\"%s\" retry=no", cid,
                         body ? err : "out of memory");
            pthread_mutex_lock(&sb->mu);
            struct stk *back = find_seq(d, seq);
            if (back) {
                back->callback_status = status;
                back->callbacks_sent++;
            }
            continue;
        }
        if (d->next_due < d->n) {
            int64_t due = d->v[d->next_due]->due_mono;
            struct timespec ts = {(time_t)(due / 1000), (long)(due % 1000) * 1000000L};
            pthread_cond_timedwait(&sb->cv, &sb->mu, &ts);
        } else {
            pthread_cond_wait(&sb->cv, &sb->mu);
        }
    }
    pthread_mutex_unlock(&sb->mu);
    return NULL;
}

/* ---- inspection for control.c ---- */

json_t *sb_daraja_stk_list(struct sandbox *sb, const char *phone, int64_t limit)
{
    char want[PHONE_MAX] = "", e164[PHONE_MAX];
    if (phone && *phone) {
        if (phone_normalize(phone, e164))
            phone_msisdn(e164, want);
        else
            str_copy(want, sizeof want, "-"); /* matches nothing */
    }
    json_t *list = json_array();
    if (!list)
        return NULL;
    pthread_mutex_lock(&sb->mu);
    struct sb_daraja *d = sb->daraja;
    size_t start = d->n, taken = 0;
    while (start > 0 && taken < (size_t)limit) {
        start--;
        if (!*want || !strcmp(d->v[start]->phone, want))
            taken++;
    }
    for (size_t i = start; i < d->n; i++) {
        const struct stk *s = d->v[i];
        if (*want && strcmp(s->phone, want))
            continue;
        char at[32];
        str_iso_time(s->created_ms, at);
        json_t *o = json_pack("{s:s, s:s, s:s, s:I, s:s, s:s, s:s, s:s, s:s, s:i, s:s, s:b, s:i, s:i, s:s}",
                              "checkoutRequestId", s->checkout_id, "merchantRequestId", s->merchant_id,
                              "phone", s->phone, "amount", (json_int_t)s->amount,
                              "transactionType", s->type, "accountReference", s->account_ref,
                              "callbackUrl", s->callback_url, "createdAt", at,
                              "state", s->answered ? "answered" : "waiting", "resultCode", s->result_code,
                              "resultDesc", s->result_desc, "autoCallback", s->post,
                              "callbackStatus", s->callback_status, "callbackAttempts", s->callbacks_sent,
                              "callback", s->callback_body);
        if (o)
            json_array_append_new(list, o);
    }
    pthread_mutex_unlock(&sb->mu);
    return list;
}

enum sb_resend sb_daraja_stk_resend(struct sandbox *sb, const char *checkout_id, int *status,
                                    char *err, size_t errsz)
{
    pthread_mutex_lock(&sb->mu);
    struct stk *s = find_id(sb->daraja, checkout_id);
    enum sb_resend r = !s ? SB_RESEND_UNKNOWN : !s->answered ? SB_RESEND_WAITING : SB_RESEND_OK;
    uint64_t seq = s ? s->seq : 0;
    char url[URL_MAX] = "";
    char *body = NULL;
    if (r == SB_RESEND_OK) {
        str_copy(url, sizeof url, s->callback_url);
        body = strdup(s->callback_body);
    }
    pthread_mutex_unlock(&sb->mu);
    *status = 0;
    if (r != SB_RESEND_OK)
        return r;
    if (body)
        *status = post_callback(url, body, err, errsz);
    else
        snprintf(err, errsz, "out of memory");
    free(body);
    log_info("daraja.callback_resent", "checkout=%s status=%d", checkout_id, *status);
    pthread_mutex_lock(&sb->mu);
    struct stk *back = find_seq(sb->daraja, seq);
    if (back) {
        back->callback_status = *status;
        back->callbacks_sent++;
    }
    pthread_mutex_unlock(&sb->mu);
    return r;
}

bool sb_daraja_quiet(struct sandbox *sb, const char *phone, int count)
{
    char e164[PHONE_MAX], msisdn[PHONE_MAX];
    if (!phone_normalize(phone, e164))
        return false;
    phone_msisdn(e164, msisdn);
    bool ok = false;
    pthread_mutex_lock(&sb->mu);
    struct sb_daraja *d = sb->daraja;
    for (size_t i = 0; i < QUIET_MAX && !ok; i++) /* the phone's entry, else a free one */
        if (!strcmp(d->quiet[i].phone, msisdn)) {
            d->quiet[i].count = count;
            ok = true;
        }
    for (size_t i = 0; i < QUIET_MAX && !ok; i++)
        if (d->quiet[i].count <= 0) {
            str_copy(d->quiet[i].phone, sizeof d->quiet[i].phone, msisdn);
            d->quiet[i].count = count;
            ok = true;
        }
    pthread_mutex_unlock(&sb->mu);
    char masked[20];
    log_info("daraja.quiet", "phone=%s count=%d armed=%s", log_phone(msisdn, masked), count, ok ? "yes" : "no");
    return ok;
}

/* ---- life cycle ---- */

bool sb_daraja_init(struct sandbox *sb)
{
    sb->daraja = calloc(1, sizeof *sb->daraja);
    if (!sb->daraja)
        return false;
    sb->daraja->next_seq = 1;
    return true;
}

void sb_daraja_free(struct sandbox *sb)
{
    struct sb_daraja *d = sb->daraja;
    if (!d)
        return;
    for (size_t i = 0; i < d->n; i++)
        stk_free(d->v[i]);
    free(d->v);
    free(d);
    sb->daraja = NULL;
}

const struct http_route sb_daraja_routes[] = {
    {"GET", "/oauth/v1/generate", h_oauth, 0, 0},
    {"POST", "/mpesa/stkpush/v1/processrequest", h_push, 0, 0},
    {"POST", "/mpesa/stkpushquery/v1/query", h_query, 0, 0},
    {NULL, NULL, NULL, 0, 0},
};
