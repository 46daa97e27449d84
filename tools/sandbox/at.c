/* sandbox/at: a fake Africa's Talking bulk SMS endpoint (as documented by Africa's Talking),
 * strict about the apiKey header, username and form fields, answering the
 * live shapes: HTTP 201 with per-recipient statusCode 101 (sent) or 403
 * (InvalidPhoneNumber: not +2547/+2541 and eight digits), KES 0.80 per
 * 160-character GSM-7 part; a bad key or username is HTTP 401 plain text.
 *
 * Every message sent is recorded for tests: GET /sandbox/sms[?phone=..]
 * [&after=ID][&limit=N] lists them oldest first as
 * {"messages":[{"id","to","from","message","at","messageId"}]}. Ids are
 * JSON numbers, increasing from 1 within a run; `after` returns those with a
 * larger id, so a poller passes the last id it saw.
 *
 * Per-number behaviour for tests (lipad retrying and giving up):
 *   POST /sandbox/sms/behaviour {"phone":"+2547...", "statusCode":406 |
 *        "httpStatus":503 | "report":{"status":"Success","url":...},
 *        "count":N}
 * makes the next N messages to that number (count -1: until cleared,
 * count 0: clear) get that per-recipient statusCode (not sent), that HTTP
 * status for the whole request, or, sent normally, a delivery report
 * posted to url *before* the 201 answer (the report racing the send).
 *
 * Delivery reports (AT posts them form-encoded to the URL set in its
 * dashboard; here the test names it):
 *   POST /sandbox/sms/{messageId}/report {"status":"Success"|"Failed"|...,
 *        "failureReason":"UserInBlackList", "url":"http://127.0.0.1:P/..."}
 * posts id, status, phoneNumber, networkCode, failureReason, retryCount
 * and answers {"ok":true, "callbackStatus": lipad's HTTP status}. Only
 * loopback URLs are posted to. */
#include "sandbox.h"

#include "http/api.h"
#include "util/crypto.h"
#include "util/form.h"
#include "util/gsm.h"
#include "util/httpc.h"
#include "util/log.h"
#include "util/phone.h"
#include "util/str.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SMS_MAX 20000           /* messages kept; the oldest go first */
#define RECIPIENTS_MAX 1000
#define COST_PER_PART 8000      /* KES 0.8000, in 1/10000 KES */
#define AUTH_FAILED "The supplied authentication is invalid"
#define RULES_MAX 64
#define REPORT_TIMEOUT_MS 5000

struct sms_rec {
    int64_t id;
    char to[PHONE_MAX];
    char *from;                 /* "" when the request had none */
    char *message;
    int64_t at_ms;
    char message_id[48];
};

/* A per-number behaviour (POST /sandbox/sms/behaviour). */
struct rule {
    char phone[PHONE_MAX];
    int status_code;            /* per-recipient statusCode, 0 none */
    int http_status;            /* whole-request HTTP status, 0 none */
    char report_status[24];     /* delivery report before the 201, "" none */
    char report_url[256];
    int64_t left;               /* messages still affected; -1 forever */
};

struct sb_at {
    struct sms_rec *v;
    size_t n, cap;
    int64_t next_id;
    struct rule rules[RULES_MAX];
    size_t nrules;
};

static void rec_free(struct sms_rec *r)
{
    free(r->from);
    free(r->message);
}

/* +2547XXXXXXXX or +2541XXXXXXXX. */
static bool e164_ok(const char *s)
{
    return strlen(s) == 13 && s[0] == '+' && str_is_digits(s + 1) && !strncmp(s + 1, "254", 3) &&
           (s[4] == '7' || s[4] == '1');
}

static void kes(int64_t units, char *out, size_t n)
{
    snprintf(out, n, "KES %lld.%04lld", (long long)(units / 10000), (long long)(units % 10000));
}

/* Stores one sent message. Caller holds mu. */
static bool record(struct sb_at *a, const char *to, const char *from, const char *msg,
                   const char *message_id, int64_t *id)
{
    if (a->n >= SMS_MAX) {
        size_t k = SMS_MAX / 10;
        for (size_t i = 0; i < k; i++)
            rec_free(&a->v[i]);
        memmove(a->v, a->v + k, (a->n - k) * sizeof *a->v);
        a->n -= k;
    }
    if (a->n == a->cap) {
        size_t cap = a->cap ? a->cap * 2 : 256;
        struct sms_rec *v = realloc(a->v, cap * sizeof *v);
        if (!v)
            return false;
        a->v = v, a->cap = cap;
    }
    struct sms_rec *r = &a->v[a->n];
    memset(r, 0, sizeof *r);
    r->from = strdup(from);
    r->message = strdup(msg);
    if (!r->from || !r->message) {
        rec_free(r);
        return false;
    }
    str_copy(r->to, sizeof r->to, to);
    str_copy(r->message_id, sizeof r->message_id, message_id);
    r->at_ms = now_ms();
    r->id = *id = a->next_id++;
    a->n++;
    return true;
}

/* Valid UTF-8 (what JSON can carry back in the reply and the log). */
static bool utf8_ok(const char *s)
{
    json_t *probe = json_string(s);
    bool ok = probe != NULL;
    json_decref(probe);
    return ok;
}

static bool is_form(const char *ct)
{
    static const char want[] = "application/x-www-form-urlencoded";
    return ct && !strncasecmp(ct, want, sizeof want - 1) &&
           (ct[sizeof want - 1] == 0 || ct[sizeof want - 1] == ';' || ct[sizeof want - 1] == ' ');
}

/* AT's name of a per-recipient statusCode. */
static const char *status_name(int code)
{
    switch (code) {
    case 100: return "Processed";
    case 101: return "Success";
    case 102: return "Queued";
    case 401: return "RiskHold";
    case 402: return "InvalidSenderId";
    case 403: return "InvalidPhoneNumber";
    case 404: return "UnsupportedNumberType";
    case 405: return "InsufficientBalance";
    case 406: return "UserInBlacklist";
    case 407: return "CouldNotRoute";
    case 409: return "DoNotDisturbRejection";
    case 500: return "InternalServerError";
    case 501: return "GatewayError";
    case 502: return "RejectedByGateway";
    default: return "Failed";
    }
}

/* Takes one use of phone's rule into *out; false when it has none. Caller
 * holds mu. */
static bool rule_take(struct sb_at *a, const char *phone, struct rule *out)
{
    for (size_t i = 0; i < a->nrules; i++) {
        struct rule *r = &a->rules[i];
        if (strcmp(r->phone, phone))
            continue;
        *out = *r;
        if (r->left > 0 && --r->left == 0)
            a->rules[i] = a->rules[--a->nrules];
        return true;
    }
    return false;
}

/* Whether a rule of phone answers the whole request with an HTTP status
 * (taking one use). */
static int http_rule(struct sandbox *sb, const char *to)
{
    int status = 0;
    pthread_mutex_lock(&sb->mu);
    struct sb_at *a = sb->at;
    for (size_t i = 0; i < a->nrules && !status; i++) {
        struct rule *r = &a->rules[i];
        if (r->http_status && strstr(to, r->phone)) {
            struct rule taken;
            status = r->http_status;
            rule_take(a, r->phone, &taken);
        }
    }
    pthread_mutex_unlock(&sb->mu);
    return status;
}

/* Posts a delivery report as AT does (form-encoded); lipad's HTTP status,
 * 0 when the post failed (err says why). */
static int post_report(const char *url, const char *message_id, const char *phone, const char *status,
                       const char *reason, char *err, size_t errsz)
{
    struct buf form;
    buf_init(&form, 4096);
    const char *names[] = {"id", "status", "phoneNumber", "networkCode", "failureReason", "retryCount"};
    const char *values[] = {message_id, status, phone, "99999", reason ? reason : "", "0"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        if (i == 4 && !(reason && *reason))
            continue;
        char *enc = form_encode(values[i]);
        if (enc)
            buf_printf(&form, "%s%s=%s", form.len ? "&" : "", names[i], enc);
        free(enc);
    }
    static const char *const headers[] = {"Content-Type: application/x-www-form-urlencoded", NULL};
    struct httpc_req rq = {.method = "POST", .url = url, .headers = headers, .body = form.data,
                           .body_len = form.len, .timeout_ms = REPORT_TIMEOUT_MS};
    struct httpc_resp rs;
    bool got = httpc_do(&rq, &rs);
    int code = got ? (int)rs.status : 0;
    if (!got)
        snprintf(err, errsz, "%s", rs.error);
    httpc_resp_free(&rs);
    buf_free(&form);
    log_info("at.sms_report", "message_id=%s status=%s lipad=%d", message_id, status, code);
    return code;
}

/* POST /version1/messaging */
static void h_send(void *ctx, struct http_req *req, struct http_resp *resp)
{
    struct sandbox *sb = ctx;
    struct form f = {0};
    json_t *recips = NULL;
    char *list = NULL;
    int st = sb_fail_take(sb, SB_AT);
    if (st) {
        http_resp_text(resp, st, "text/plain", sb_reason(st));
        return;
    }
    const char *key = http_header(req, "apiKey");
    if (!key || !crypto_streq(key, sb->cred.at_apikey)) {
        log_warn("at.sms_rejected", "reason=\"%s\"", key ? "wrong apiKey" : "no apiKey header");
        http_resp_text(resp, 401, "text/plain", AUTH_FAILED);
        return;
    }
    if (!is_form(http_header(req, "Content-Type"))) {
        log_warn("at.sms_rejected", "reason=\"Content-Type is not application/x-www-form-urlencoded\"");
        http_resp_text(resp, 415, "text/plain", "Content-Type must be application/x-www-form-urlencoded");
        return;
    }
    char badname[64] = "";
    if (!form_parse(&f, req->body, req->body_len, badname, sizeof badname)) {
        log_warn("at.sms_rejected", "reason=\"malformed form\"");
        http_resp_text(resp, 400, "text/plain", "Malformed request body");
        goto out;
    }
    const char *user = form_get(&f, "username");
    if (!user || strcmp(user, sb->cred.at_username)) {
        log_warn("at.sms_rejected", "reason=\"%s\"", user ? "wrong username" : "no username");
        http_resp_text(resp, 401, "text/plain", AUTH_FAILED);
        goto out;
    }
    const char *to = form_get(&f, "to"), *msg = form_get(&f, "message"), *from = form_get(&f, "from");
    const char *missing = !to || !*to ? "to" : !msg || !*msg ? "message" : NULL;
    if (missing) {
        char text[96];
        snprintf(text, sizeof text, "Request is missing required form field '%s'", missing);
        log_warn("at.sms_rejected", "reason=\"no %s\"", missing);
        http_resp_text(resp, 400, "text/plain", text);
        goto out;
    }
    const char *bad = !utf8_ok(to) ? "to" : !utf8_ok(msg) ? "message"
                    : from && !utf8_ok(from) ? "from" : NULL;
    if (bad) {
        char text[96];
        snprintf(text, sizeof text, "Form field '%s' is not valid UTF-8", bad);
        log_warn("at.sms_rejected", "reason=\"%s is not UTF-8\"", bad);
        http_resp_text(resp, 400, "text/plain", text);
        goto out;
    }
    int hs = http_rule(sb, to);
    if (hs) {
        log_info("at.sms_behaviour", "http=%d", hs);
        http_resp_text(resp, hs, "text/plain", sb_reason(hs));
        goto out;
    }
    struct gsm_parts parts;
    gsm_parts(msg, &parts);
    int64_t unit_cost = (int64_t)parts.parts * COST_PER_PART, total = 0;
    int sent = 0, count = 0;
    recips = json_array();
    list = strdup(to);
    if (!recips || !list) {
        http_resp_text(resp, 500, "text/plain", "Internal Server Error");
        goto out;
    }
    char *save = NULL;
    for (char *tok = strtok_r(list, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        str_trim(tok);
        if (!*tok)
            continue;
        if (++count > RECIPIENTS_MAX) {
            http_resp_text(resp, 400, "text/plain", "Too many recipients");
            goto out;
        }
        char masked[20], cost[32], mid[48] = "None";
        json_t *r;
        struct rule rule = {0};
        pthread_mutex_lock(&sb->mu);
        bool ruled = e164_ok(tok) && rule_take(sb->at, tok, &rule);
        pthread_mutex_unlock(&sb->mu);
        if (ruled && rule.status_code) {
            r = json_pack("{s:i, s:s, s:s, s:s, s:s}", "statusCode", rule.status_code, "number", tok,
                          "status", status_name(rule.status_code), "cost", "0", "messageId", "None");
            log_info("at.sms_behaviour", "to=%s status_code=%d", log_phone(tok, masked), rule.status_code);
        } else if (!e164_ok(tok)) {
            r = json_pack("{s:i, s:s, s:s, s:s, s:s}", "statusCode", 403, "number", tok,
                          "status", "InvalidPhoneNumber", "cost", "0", "messageId", "None");
            log_warn("at.sms_recipient", "to=%s status=InvalidPhoneNumber", log_phone(tok, masked));
        } else {
            char hex[33];
            uint8_t raw[16];
            if (!crypto_random(raw, sizeof raw)) {
                http_resp_text(resp, 500, "text/plain", "Internal Server Error");
                goto out;
            }
            crypto_hex(raw, sizeof raw, hex, false);
            snprintf(mid, sizeof mid, "ATXid_%s", hex);
            int64_t id = 0;
            pthread_mutex_lock(&sb->mu);
            bool ok = record(sb->at, tok, from ? from : "", msg, mid, &id);
            pthread_mutex_unlock(&sb->mu);
            if (!ok) {
                http_resp_text(resp, 500, "text/plain", "Internal Server Error");
                goto out;
            }
            kes(unit_cost, cost, sizeof cost);
            r = json_pack("{s:i, s:s, s:s, s:s, s:s}", "statusCode", 101, "number", tok,
                          "status", "Success", "cost", cost, "messageId", mid);
            if (ruled && rule.report_status[0]) {
                char err[256] = "";
                post_report(rule.report_url, mid, tok, rule.report_status, NULL, err, sizeof err);
            }
            sent++;
            total += unit_cost;
            log_info("at.sms_sent", "id=%lld to=%s parts=%d encoding=%s", (long long)id,
                     log_phone(tok, masked), parts.parts, parts.ucs2 ? "UCS-2" : "GSM-7");
        }
        if (r)
            json_array_append_new(recips, r);
    }
    if (!count) {
        log_warn("at.sms_rejected", "reason=\"no recipient in to\"");
        http_resp_text(resp, 400, "text/plain", "Request is missing required form field 'to'");
        goto out;
    }
    char summary[96], tc[32];
    if (sent)
        kes(total, tc, sizeof tc);
    else
        str_copy(tc, sizeof tc, "0");
    snprintf(summary, sizeof summary, "Sent to %d/%d Total Cost: %s", sent, count, tc);
    api_json(resp, 201, json_pack("{s:{s:s, s:O}}", "SMSMessageData", "Message", summary,
                                  "Recipients", recips));
out:
    json_decref(recips);
    free(list);
    form_free(&f);
}

/* GET /sandbox/sms[?phone=..][&after=ID][&limit=N] */
static void h_list(void *ctx, struct http_req *req, struct http_resp *resp)
{
    struct sandbox *sb = ctx;
    int64_t after = 0, limit = 1000;
    const char *p = http_query(req, "phone"), *a = http_query(req, "after"), *l = http_query(req, "limit");
    if (a && !str_to_i64(a, 0, INT64_MAX, &after)) {
        sb_control_error(resp, 400, "after must be a message id");
        return;
    }
    if (l && !str_to_i64(l, 1, 5000, &limit)) {
        sb_control_error(resp, 400, "limit must be 1..5000");
        return;
    }
    char want[PHONE_MAX] = "";
    if (p && *p && !phone_normalize(p, want))
        str_copy(want, sizeof want, "-"); /* matches nothing */
    json_t *msgs = json_array();
    if (!msgs) {
        sb_control_error(resp, 500, "out of memory");
        return;
    }
    pthread_mutex_lock(&sb->mu);
    const struct sb_at *at = sb->at;
    for (size_t i = 0; i < at->n && (int64_t)json_array_size(msgs) < limit; i++) {
        const struct sms_rec *r = &at->v[i];
        if (r->id <= after || (*want && strcmp(r->to, want)))
            continue;
        char iso[32];
        str_iso_time(r->at_ms, iso);
        json_t *o = json_pack("{s:I, s:s, s:s, s:s, s:s, s:s}", "id", (json_int_t)r->id, "to", r->to,
                              "from", r->from, "message", r->message, "at", iso,
                              "messageId", r->message_id);
        if (o)
            json_array_append_new(msgs, o);
    }
    pthread_mutex_unlock(&sb->mu);
    api_json(resp, 200, json_pack("{s:o}", "messages", msgs));
}

/* POST /sandbox/sms/behaviour */
static void h_behaviour(void *ctx, struct http_req *req, struct http_resp *resp)
{
    struct sandbox *sb = ctx;
    json_t *o = json_loadb(req->body ? req->body : "", req->body_len, 0, NULL);
    const char *bad = NULL;
    struct rule r;
    memset(&r, 0, sizeof r);
    r.left = 1;
    if (!json_is_object(o)) {
        bad = "body must be a JSON object";
        goto out;
    }
    if (!phone_normalize(json_string_value(json_object_get(o, "phone")), r.phone)) {
        bad = "phone must be a Kenyan mobile number";
        goto out;
    }
    json_t *sc = json_object_get(o, "statusCode"), *hs = json_object_get(o, "httpStatus"),
           *rep = json_object_get(o, "report"), *c = json_object_get(o, "count");
    if (c && (!json_is_integer(c) || json_integer_value(c) < -1 || json_integer_value(c) > 1000000)) {
        bad = "count must be an integer -1..1000000";
        goto out;
    }
    if (c)
        r.left = json_integer_value(c);
    if (r.left != 0 && !!sc + !!hs + !!rep != 1) {
        bad = "give one of statusCode, httpStatus, report";
        goto out;
    }
    if (sc && (!json_is_integer(sc) || json_integer_value(sc) < 100 || json_integer_value(sc) > 599)) {
        bad = "statusCode must be an integer 100..599";
        goto out;
    }
    if (hs && (!json_is_integer(hs) || json_integer_value(hs) < 400 || json_integer_value(hs) > 599)) {
        bad = "httpStatus must be an integer 400..599";
        goto out;
    }
    if (rep) {
        const char *st = json_string_value(json_object_get(rep, "status")),
                   *url = json_string_value(json_object_get(rep, "url"));
        if (!st || !*st || !str_copy(r.report_status, sizeof r.report_status, st)) {
            bad = "report.status must be a short string";
            goto out;
        }
        if (!url || !sb_url_is_loopback(url) || !str_copy(r.report_url, sizeof r.report_url, url)) {
            bad = "report.url must be a loopback http URL";
            goto out;
        }
    }
    r.status_code = sc ? (int)json_integer_value(sc) : 0;
    r.http_status = hs ? (int)json_integer_value(hs) : 0;
    pthread_mutex_lock(&sb->mu);
    struct sb_at *a = sb->at;
    size_t i = 0;
    while (i < a->nrules && strcmp(a->rules[i].phone, r.phone))
        i++;
    if (r.left == 0) {
        if (i < a->nrules)
            a->rules[i] = a->rules[--a->nrules];
    } else if (i < a->nrules)
        a->rules[i] = r;
    else if (a->nrules < RULES_MAX)
        a->rules[a->nrules++] = r;
    else
        bad = "too many numbers with a behaviour";
    pthread_mutex_unlock(&sb->mu);
    if (!bad) {
        char masked[20];
        log_info("at.sms_behaviour_set", "phone=%s status_code=%d http=%d report=%s count=%lld",
                 log_phone(r.phone, masked), r.status_code, r.http_status,
                 r.report_status[0] ? r.report_status : "-", (long long)r.left);
        api_json(resp, 200, json_pack("{s:b, s:s, s:I}", "ok", 1, "phone", r.phone, "count", (json_int_t)r.left));
    }
out:
    if (bad)
        sb_control_error(resp, 400, bad);
    json_decref(o);
}

/* POST /sandbox/sms/{messageId}/report */
static void h_report(void *ctx, struct http_req *req, struct http_resp *resp)
{
    struct sandbox *sb = ctx;
    json_t *o = json_loadb(req->body ? req->body : "", req->body_len, 0, NULL);
    char phone[PHONE_MAX] = "", err[256] = "";
    const char *status = json_string_value(json_object_get(o, "status")),
               *reason = json_string_value(json_object_get(o, "failureReason")),
               *url = json_string_value(json_object_get(o, "url"));
    if (!status || !*status || strlen(status) > 32) {
        sb_control_error(resp, 400, "status is required (Success, Failed, Rejected, Buffered, ...)");
        goto out;
    }
    if (!url || !sb_url_is_loopback(url)) {
        sb_control_error(resp, 400, "url must be a loopback http URL");
        goto out;
    }
    pthread_mutex_lock(&sb->mu);
    const struct sb_at *at = sb->at;
    for (size_t i = 0; i < at->n && !phone[0]; i++)
        if (!strcmp(at->v[i].message_id, req->params[0]))
            str_copy(phone, sizeof phone, at->v[i].to);
    pthread_mutex_unlock(&sb->mu);
    if (!phone[0]) {
        sb_control_error(resp, 404, "unknown messageId");
        goto out;
    }
    int code = post_report(url, req->params[0], phone, status, reason, err, sizeof err);
    json_t *r = json_pack("{s:b, s:s, s:i}", "ok", 1, "messageId", req->params[0], "callbackStatus", code);
    if (r && !code)
        json_object_set_new(r, "error", json_string(err));
    api_json(resp, 200, r);
out:
    json_decref(o);
}

bool sb_at_init(struct sandbox *sb)
{
    sb->at = calloc(1, sizeof *sb->at);
    if (!sb->at)
        return false;
    sb->at->next_id = 1;
    return true;
}

void sb_at_free(struct sandbox *sb)
{
    struct sb_at *a = sb->at;
    if (!a)
        return;
    for (size_t i = 0; i < a->n; i++)
        rec_free(&a->v[i]);
    free(a->v);
    free(a);
    sb->at = NULL;
}

const struct http_route sb_at_routes[] = {
    {"POST", "/version1/messaging", h_send, 0, 0},
    {"GET", "/sandbox/sms", h_list, 0, 0},
    {"POST", "/sandbox/sms/behaviour", h_behaviour, 0, 0},
    {"POST", "/sandbox/sms/{id}/report", h_report, 0, 0},
    {NULL, NULL, NULL, 0, 0},
};
