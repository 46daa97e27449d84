/* sandbox/control: the unsigned /sandbox/... endpoints tests drive the fakes
 * with: fault injection (the next N requests to one fake answer an HTTP
 * error, as when the provider is down), health, the STK inspection and
 * duplicate-callback endpoints, and lost callbacks (a quiet subscriber). Also the small helpers the fakes share. */
#include "sandbox.h"

#include "http/api.h"
#include "util/log.h"
#include "util/str.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

static const char *const service_names[SB_NSERVICES] = {"daraja", "at", "tuya", "paystack"};

int64_t sb_mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

const char *sb_reason(int status)
{
    switch (status) {
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 408: return "Request Timeout";
    case 409: return "Conflict";
    case 429: return "Too Many Requests";
    case 500: return "Internal Server Error";
    case 502: return "Bad Gateway";
    case 503: return "Service Unavailable";
    case 504: return "Gateway Timeout";
    default: return status >= 500 ? "Server Error" : "Client Error";
    }
}

void sb_control_error(struct http_resp *resp, int status, const char *msg)
{
    api_json(resp, status, json_pack("{s:b, s:s}", "ok", 0, "error", msg));
}

int sb_fail_take(struct sandbox *sb, enum sb_service svc)
{
    int status = 0;
    pthread_mutex_lock(&sb->mu);
    if (sb->fail_count[svc] > 0) {
        sb->fail_count[svc]--;
        status = sb->fail_status[svc];
    }
    pthread_mutex_unlock(&sb->mu);
    if (status)
        log_info("sandbox.fault", "service=%s status=%d", service_names[svc], status);
    return status;
}

/* POST /sandbox/fail {"service":"daraja"|"at"|"tuya"|"paystack","count":N,"status":503} */
static void h_fail(void *ctx, struct http_req *req, struct http_resp *resp)
{
    struct sandbox *sb = ctx;
    json_error_t je;
    json_t *o = json_loadb(req->body, req->body_len, 0, &je);
    int svc = -1;
    int64_t count = 1, status = 503;
    const char *bad = NULL;
    if (!json_is_object(o)) {
        bad = "body must be a JSON object";
        goto out;
    }
    const char *name = json_string_value(json_object_get(o, "service"));
    for (int i = 0; name && i < SB_NSERVICES; i++)
        if (!strcmp(name, service_names[i]))
            svc = i;
    if (svc < 0) {
        bad = "service must be daraja, at, tuya or paystack";
        goto out;
    }
    json_t *c = json_object_get(o, "count"), *s = json_object_get(o, "status");
    if (c && (!json_is_integer(c) || json_integer_value(c) < 0 || json_integer_value(c) > 1000000)) {
        bad = "count must be an integer 0..1000000";
        goto out;
    }
    if (s && (!json_is_integer(s) || json_integer_value(s) < 400 || json_integer_value(s) > 599)) {
        bad = "status must be an integer 400..599";
        goto out;
    }
    if (c)
        count = json_integer_value(c);
    if (s)
        status = json_integer_value(s);
    pthread_mutex_lock(&sb->mu);
    sb->fail_count[svc] = (int)count;
    sb->fail_status[svc] = (int)status;
    pthread_mutex_unlock(&sb->mu);
    log_info("sandbox.fail_armed", "service=%s count=%lld status=%lld", service_names[svc],
             (long long)count, (long long)status);
    api_json(resp, 200, json_pack("{s:b, s:s, s:I, s:I}", "ok", 1, "service", service_names[svc],
                                  "count", (json_int_t)count, "status", (json_int_t)status));
out:
    if (bad)
        sb_control_error(resp, 400, bad);
    json_decref(o);
}

/* A held-back answer: a copy of the response, sent at the deadline. */
static void snapshot_free(void *arg)
{
    struct http_resp *r = arg;
    buf_free(&r->body);
    for (size_t i = 0; i < r->nheaders; i++) {
        free(r->hname[i]);
        free(r->hvalue[i]);
    }
    free(r);
}

static void snapshot_send(void *arg, struct http_resp *resp)
{
    struct http_resp *r = arg;
    resp->status = r->status;
    resp->content_type = r->content_type;
    buf_reset(&resp->body);
    buf_append(&resp->body, r->body.data ? r->body.data : "", r->body.len);
    for (size_t i = 0; i < r->nheaders; i++)
        http_resp_header(resp, r->hname[i], r->hvalue[i]);
}

void sb_dispatch(void *ctx, struct http_req *req, struct http_resp *resp)
{
    struct sandbox *sb = ctx;
    size_t i = (size_t)(req->route - sb->routes);
    sb->route_fn[i](ctx, req, resp);
    int svc = sb->route_svc[i];
    if (svc >= SB_NSERVICES)
        return;
    pthread_mutex_lock(&sb->mu);
    int64_t ms = sb->slow_ms[svc];
    pthread_mutex_unlock(&sb->mu);
    if (ms <= 0)
        return;
    struct http_resp *snap = calloc(1, sizeof *snap);
    if (!snap)
        return; /* answered at once */
    *snap = *resp; /* the response moves into the snapshot */
    memset(resp, 0, sizeof *resp);
    buf_init(&resp->body, 0);
    struct http_deferred *d = http_defer_until(req, ms, snapshot_send, snap, snapshot_free);
    if (!d) { /* snap was freed: say what went wrong rather than nothing */
        http_resp_text(resp, 500, "text/plain", "sandbox: could not hold the answer back");
        return;
    }
    http_defer_done(d); /* unclaimed: the deadline answers */
}

/* POST /sandbox/slow {"service":"daraja"|"at"|"tuya"|"paystack","ms":N}:
 * that fake's answers come N ms late (0: at once again). */
static void h_slow(void *ctx, struct http_req *req, struct http_resp *resp)
{
    struct sandbox *sb = ctx;
    json_t *o = json_loadb(req->body, req->body_len, 0, NULL);
    const char *name = json_string_value(json_object_get(o, "service"));
    json_t *ms = json_object_get(o, "ms");
    int svc = -1;
    for (int i = 0; name && i < SB_NSERVICES; i++)
        if (!strcmp(name, service_names[i]))
            svc = i;
    if (svc < 0 || !json_is_integer(ms) || json_integer_value(ms) < 0 || json_integer_value(ms) > 600000) {
        sb_control_error(resp, 400, "want {\"service\": daraja|at|tuya|paystack, \"ms\": 0..600000}");
    } else {
        pthread_mutex_lock(&sb->mu);
        sb->slow_ms[svc] = json_integer_value(ms);
        pthread_mutex_unlock(&sb->mu);
        log_info("sandbox.slow", "service=%s ms=%lld", service_names[svc], (long long)json_integer_value(ms));
        api_json(resp, 200, json_pack("{s:b, s:s, s:I}", "ok", 1, "service", service_names[svc], "ms",
                                      (json_int_t)json_integer_value(ms)));
    }
    json_decref(o);
}

/* POST /sandbox/reset: clears the fault counters and delays, keeps the data. */
static void h_reset(void *ctx, struct http_req *req, struct http_resp *resp)
{
    struct sandbox *sb = ctx;
    (void)req;
    pthread_mutex_lock(&sb->mu);
    for (int i = 0; i < SB_NSERVICES; i++) {
        sb->fail_count[i] = sb->fail_status[i] = 0;
        sb->slow_ms[i] = 0;
    }
    pthread_mutex_unlock(&sb->mu);
    log_info("sandbox.reset", "faults=cleared");
    api_json(resp, 200, json_pack("{s:b}", "ok", 1));
}

static void h_health(void *ctx, struct http_req *req, struct http_resp *resp)
{
    (void)ctx, (void)req;
    api_json(resp, 200, json_pack("{s:b}", "ok", 1));
}

/* GET /sandbox/stk[?phone=..][&limit=N]: the pushes, oldest first. */
static void h_stk_list(void *ctx, struct http_req *req, struct http_resp *resp)
{
    struct sandbox *sb = ctx;
    int64_t limit = 1000;
    const char *l = http_query(req, "limit");
    if (l && !str_to_i64(l, 1, 5000, &limit)) {
        sb_control_error(resp, 400, "limit must be 1..5000");
        return;
    }
    json_t *list = sb_daraja_stk_list(sb, http_query(req, "phone"), limit);
    if (!list) {
        sb_control_error(resp, 500, "out of memory");
        return;
    }
    api_json(resp, 200, json_pack("{s:o}", "stk", list));
}

/* POST /sandbox/stk/{checkoutRequestId}/resend: the same callback again. */
static void h_stk_resend(void *ctx, struct http_req *req, struct http_resp *resp)
{
    struct sandbox *sb = ctx;
    int status = 0;
    char err[256] = "";
    switch (sb_daraja_stk_resend(sb, req->params[0], &status, err, sizeof err)) {
    case SB_RESEND_UNKNOWN:
        sb_control_error(resp, 404, "unknown CheckoutRequestID");
        return;
    case SB_RESEND_WAITING:
        sb_control_error(resp, 409, "the customer has not answered yet");
        return;
    case SB_RESEND_OK:
        break;
    }
    json_t *o = json_pack("{s:b, s:s, s:i}", "ok", 1, "checkoutRequestId", req->params[0],
                          "callbackStatus", status);
    if (o && !status)
        json_object_set_new(o, "error", json_string(err));
    api_json(resp, 200, o);
}

/* GET /sandbox/daraja: how many OAuth tokens were issued, and how many
 * calls were refused for a superseded or unknown token. */
static void h_daraja_counts(void *ctx, struct http_req *req, struct http_resp *resp)
{
    json_t *o = sb_daraja_counts(ctx);
    if (!o)
        sb_control_error(resp, 500, "out of memory");
    else
        api_json(resp, 200, o);
}

/* POST /sandbox/quiet {"phone":"+2547...","count":N}: the next N pushes to
 * that phone get no callback (count 0 ends it). */
static void h_quiet(void *ctx, struct http_req *req, struct http_resp *resp)
{
    struct sandbox *sb = ctx;
    json_t *o = json_loadb(req->body, req->body_len, 0, NULL);
    const char *phone = json_string_value(json_object_get(o, "phone"));
    json_t *c = json_object_get(o, "count");
    int64_t count = c ? (json_is_integer(c) ? json_integer_value(c) : -1) : 1;
    if (!phone || count < 0 || count > 1000000)
        sb_control_error(resp, 400, "want {\"phone\": a Kenyan mobile number, \"count\": 0..1000000}");
    else if (!sb_daraja_quiet(sb, phone, (int)count))
        sb_control_error(resp, 400, "not a Kenyan mobile number, or too many quiet phones");
    else
        api_json(resp, 200, json_pack("{s:b, s:I}", "ok", 1, "count", (json_int_t)count));
    json_decref(o);
}

const struct http_route sb_control_routes[] = {
    {"POST", "/sandbox/fail", h_fail, 0, 0},
    {"POST", "/sandbox/reset", h_reset, 0, 0},
    {"POST", "/sandbox/slow", h_slow, 0, 0},
    {"GET", "/sandbox/health", h_health, 0, 0},
    {"GET", "/sandbox/stk", h_stk_list, 0, 0},
    {"POST", "/sandbox/stk/{id}/resend", h_stk_resend, 0, 0},
    {"POST", "/sandbox/quiet", h_quiet, 0, 0},
    {"GET", "/sandbox/daraja", h_daraja_counts, 0, 0},
    {NULL, NULL, NULL, 0, 0},
};

/* Host of an http(s) URL is this machine. */
bool sb_url_is_loopback(const char *url)
{
    const char *h = strstr(url, "://");
    if (!h)
        return false;
    h += 3;
    const char *at = strpbrk(h, "@/?#");
    if (at && *at == '@')
        h = at + 1;
    if (!strncmp(h, "[::1]", 5))
        return true;
    size_t n = strcspn(h, ":/?#");
    if (n == 9 && !strncmp(h, "localhost", 9))
        return true;
    if (strncmp(h, "127.", 4))
        return false;
    for (size_t i = 4; i < n; i++)
        if (!((h[i] >= '0' && h[i] <= '9') || h[i] == '.'))
            return false;
    return true;
}
