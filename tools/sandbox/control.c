/* sandbox/control: the unsigned /sandbox/... endpoints tests drive the fakes
 * with: fault injection (the next N requests to one fake answer an HTTP
 * error, as when the provider is down), health, and the STK inspection and
 * duplicate-callback endpoints. Also the small helpers the fakes share. */
#include "sandbox.h"

#include "http/api.h"
#include "util/log.h"
#include "util/str.h"

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
    log_info("sandbox.fail.armed", "service=%s count=%lld status=%lld", service_names[svc],
             (long long)count, (long long)status);
    api_json(resp, 200, json_pack("{s:b, s:s, s:I, s:I}", "ok", 1, "service", service_names[svc],
                                  "count", (json_int_t)count, "status", (json_int_t)status));
out:
    if (bad)
        sb_control_error(resp, 400, bad);
    json_decref(o);
}

/* POST /sandbox/reset: clears the fault counters, keeps the data. */
static void h_reset(void *ctx, struct http_req *req, struct http_resp *resp)
{
    struct sandbox *sb = ctx;
    (void)req;
    pthread_mutex_lock(&sb->mu);
    for (int i = 0; i < SB_NSERVICES; i++)
        sb->fail_count[i] = sb->fail_status[i] = 0;
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

const struct http_route sb_control_routes[] = {
    {"POST", "/sandbox/fail", h_fail, 0},
    {"POST", "/sandbox/reset", h_reset, 0},
    {"GET", "/sandbox/health", h_health, 0},
    {"GET", "/sandbox/stk", h_stk_list, 0},
    {"POST", "/sandbox/stk/{id}/resend", h_stk_resend, 0},
    {NULL, NULL, NULL, 0},
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
