/* tuya: the Tuya cloud (IoT Core OpenAPI) behind meter_provider. Every call
 * is signed (tuya_sign); one access token is
 * cached per provider state under a mutex until a minute before it expires,
 * and a "token expired/invalid" answer (1010, and its siblings 1011/1012)
 * renews it once and retries the call once. Tuya answers errors with HTTP
 * 200 and {"success":false,"code":N,"msg":"..."}. */
#include "meter/meter.h"

#include "util/buf.h"
#include "util/crypto.h"
#include "util/httpc.h"
#include "util/log.h"
#include "util/metrics.h"
#include "util/str.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TUYA_RENEW_EARLY_MS 60000
#define TUYA_DEFAULT_EXPIRY_S 7200
#define TUYA_TOKEN_PATH "/v1.0/token?grant_type=1"
#define TUYA_DEVICE_ID_MAX 64
#define TUYA_CHARGE_MAX 99999999 /* hundredths of a kWh: 999999.99 kWh */

struct tuya {
    char *base, *client_id, *secret;
    long timeout_ms;
    pthread_mutex_t mu;       /* guards token and renew_at_ms */
    char token[256];
    int64_t renew_at_ms;
};

/* One answer, as far as it could be read. */
struct treply {
    bool no_token;            /* the token step failed: msg says why */
    bool sent;                /* the request went out (it may have arrived) */
    long status;              /* 0: no HTTP answer */
    json_t *json;
    bool success;
    int64_t code;             /* Tuya code when success is false, else 0 */
    char msg[200];
};

static void treply_free(struct treply *r)
{
    json_decref(r->json);
    memset(r, 0, sizeof *r);
}

void tuya_sign(const char *client_id, const char *secret, const char *access_token,
               const char *t, const char *nonce, const char *method, const char *body,
               const char *sig_headers, const char *url, char out[65])
{
    uint8_t h[32];
    char body_hex[65];
    struct buf s;
    body = body ? body : "";
    crypto_sha256(body, strlen(body), h);
    crypto_hex(h, sizeof h, body_hex, false);
    buf_init(&s, 1u << 16);
    buf_printf(&s, "%s%s%s%s%s\n%s\n%s\n%s", client_id, access_token ? access_token : "", t, nonce,
               method, body_hex, sig_headers ? sig_headers : "", url);
    if (s.over || !s.data) {
        out[0] = 0;
    } else {
        crypto_hmac_sha256(secret, strlen(secret), s.data, s.len, h);
        crypto_hex(h, sizeof h, out, true);
    }
    buf_free(&s);
}

static void tuya_destroy(void *st)
{
    struct tuya *tu = st;
    if (!tu)
        return;
    pthread_mutex_destroy(&tu->mu);
    free(tu->base), free(tu->client_id), free(tu->secret);
    explicit_bzero(tu->token, sizeof tu->token);
    free(tu);
}

static void *tuya_create(const struct config *cfg)
{
    struct tuya *tu = calloc(1, sizeof *tu);
    if (!tu)
        return NULL;
    tu->base = strdup(cfg->tuya_url ? cfg->tuya_url : "");
    tu->client_id = strdup(cfg->tuya_client_id ? cfg->tuya_client_id : "");
    tu->secret = strdup(cfg->tuya_secret ? cfg->tuya_secret : "");
    tu->timeout_ms = cfg->http_timeout_ms > 0 ? (long)cfg->http_timeout_ms : 10000;
    if (!tu->base || !tu->client_id || !tu->secret || pthread_mutex_init(&tu->mu, NULL)) {
        free(tu->base), free(tu->client_id), free(tu->secret);
        free(tu);
        return NULL;
    }
    return tu;
}

/* A code member: number or digit string. */
static int64_t code_of(const json_t *v)
{
    int64_t n = 0;
    if (json_is_integer(v))
        return (int64_t)json_integer_value(v);
    if (json_is_string(v) && str_to_i64(json_string_value(v), -999999999, 999999999, &n))
        return n;
    return 0;
}

/* One signed request; path holds the query, already sorted by key. */
static void tuya_request(struct tuya *tu, const char *method, const char *path, const char *body,
                         const char *token, struct treply *r)
{
    char url[768], t[24], nonce[33], sign[65];
    char h_client[160], h_sign[80], h_t[40], h_nonce[48], h_token[300];
    uint8_t rnd[16];
    struct httpc_resp hr;

    memset(r, 0, sizeof *r);
    if ((size_t)snprintf(url, sizeof url, "%s%s", tu->base, path) >= sizeof url) {
        str_copy(r->msg, sizeof r->msg, "URL too long");
        return;
    }
    if (!crypto_random(rnd, sizeof rnd)) {
        str_copy(r->msg, sizeof r->msg, "no random bytes for the nonce");
        return;
    }
    crypto_hex(rnd, sizeof rnd, nonce, false);
    snprintf(t, sizeof t, "%lld", (long long)now_ms());
    tuya_sign(tu->client_id, tu->secret, token, t, nonce, method, body, "", path, sign);

    snprintf(h_client, sizeof h_client, "client_id: %s", tu->client_id);
    snprintf(h_sign, sizeof h_sign, "sign: %s", sign);
    snprintf(h_t, sizeof h_t, "t: %s", t);
    snprintf(h_nonce, sizeof h_nonce, "nonce: %s", nonce);
    snprintf(h_token, sizeof h_token, "access_token: %s", token ? token : "");
    const char *headers[9];
    size_t nh = 0;
    headers[nh++] = h_client;
    headers[nh++] = h_sign;
    headers[nh++] = h_t;
    headers[nh++] = "sign_method: HMAC-SHA256";
    headers[nh++] = h_nonce;
    if (token)
        headers[nh++] = h_token;
    if (body)
        headers[nh++] = "Content-Type: application/json";
    headers[nh++] = "Accept: application/json";
    headers[nh] = NULL;
    struct httpc_req req = {.method = method, .url = url, .headers = headers, .body = body,
                            .body_len = body ? strlen(body) : 0, .timeout_ms = tu->timeout_ms};
    r->sent = true;
    int64_t t0 = metrics_clock_us();
    httpc_do(&req, &hr);
    metrics_provider_time(MP_TUYA, t0);
    explicit_bzero(h_token, sizeof h_token);
    r->status = hr.status;
    if (!hr.status) {
        snprintf(r->msg, sizeof r->msg, "transport: %.150s", hr.error);
    } else if (hr.body.len) {
        r->json = json_loadb(hr.body.data, hr.body.len, 0, NULL);
        r->success = json_is_true(json_object_get(r->json, "success"));
        if (!r->success)
            r->code = code_of(json_object_get(r->json, "code"));
        const char *m = json_string_value(json_object_get(r->json, "msg"));
        if (m)
            snprintf(r->msg, sizeof r->msg, "%.150s", m);
    }
    httpc_resp_free(&hr);
}

/* Fetches a token into tu (mutex held); false with r explaining. */
static bool token_fetch(struct tuya *tu, struct treply *r)
{
    struct treply got;
    bool ok = false;
    tuya_request(tu, "GET", TUYA_TOKEN_PATH, NULL, NULL, &got);
    const json_t *res = json_object_get(got.json, "result");
    const char *tok = json_string_value(json_object_get(res, "access_token"));
    if (got.status == 200 && got.success && tok && *tok && strlen(tok) < sizeof tu->token) {
        const json_t *e = json_object_get(res, "expire_time");
        int64_t exp = json_is_integer(e) ? (int64_t)json_integer_value(e) : code_of(e);
        if (exp <= 0)
            exp = TUYA_DEFAULT_EXPIRY_S;
        str_copy(tu->token, sizeof tu->token, tok);
        tu->renew_at_ms = now_ms() + exp * 1000 - TUYA_RENEW_EARLY_MS;
        log_info("tuya.token", "result=ok expire_time=%lld", (long long)exp);
        ok = true;
    } else {
        r->status = got.status;
        r->code = got.code;
        if (got.status && got.status != 200)
            snprintf(r->msg, sizeof r->msg, "token: HTTP %ld %.150s", got.status, got.msg);
        else if (got.code)
            snprintf(r->msg, sizeof r->msg, "token: code %lld: %.150s", (long long)got.code, got.msg);
        else
            snprintf(r->msg, sizeof r->msg, "token: %.180s", got.msg[0] ? got.msg : "unreadable answer");
        log_warn("tuya.token", "result=failed http=%ld code=%lld", got.status, (long long)got.code);
    }
    treply_free(&got);
    return ok;
}

/* Lends a current token into out; stale is a token Tuya just refused. */
static bool token_get(struct tuya *tu, const char *stale, char *out, size_t outsz, struct treply *r)
{
    bool ok = true;
    pthread_mutex_lock(&tu->mu);
    if (stale && !strcmp(tu->token, stale))
        tu->token[0] = 0;
    if (!tu->token[0] || now_ms() >= tu->renew_at_ms)
        ok = token_fetch(tu, r);
    if (ok)
        str_copy(out, outsz, tu->token);
    pthread_mutex_unlock(&tu->mu);
    if (!ok)
        r->no_token = true;
    return ok;
}

static bool token_refused(const struct treply *r)
{
    return !r->success && (r->code == 1010 || r->code == 1011 || r->code == 1012);
}

/* A business call with the token dance; r is filled either way. */
static void tuya_call(struct tuya *tu, const char *method, const char *path, const char *body,
                      struct treply *r)
{
    char tok[256], tok2[256];
    memset(r, 0, sizeof *r);
    if (!token_get(tu, NULL, tok, sizeof tok, r))
        goto out;
    tuya_request(tu, method, path, body, tok, r);
    if (!token_refused(r))
        goto out;
    log_warn("tuya.token_refused", "code=%lld action=renew", (long long)r->code);
    treply_free(r);
    if (!token_get(tu, tok, tok2, sizeof tok2, r))
        goto out;
    tuya_request(tu, method, path, body, tok2, r);
    explicit_bzero(tok2, sizeof tok2);
out:
    explicit_bzero(tok, sizeof tok);
}

/* Business codes worth another try later: system error, busy, rate limits,
 * clock skew, device offline. */
static bool code_transient(int64_t code)
{
    return code == 500 || code == 1013 || code == 1110 || code == 1111 || code == 1199 ||
           code == 2001;
}

/* Whether a failed call may still have done its work: the request went
 * out and nothing readable said it was refused. A gateway's 5xx or a
 * timeout says nothing about the cloud behind it; nor does Tuya's own
 * "system error" (code 500). A 429 or a business code is a refusal. */
static bool unsure(const struct treply *r)
{
    if (r->no_token || !r->sent)
        return false;
    if (r->status == 0 || r->status >= 500)
        return true;
    if (r->json && !r->success && r->code)
        return r->code == 500;
    return r->status != 429 && r->status < 400;
}

static void classify(const struct treply *r, struct meter_res *res)
{
    res->http_status = (int)r->status;
    res->unsure = false;
    if (r->no_token || r->status == 0) {
        res->outcome = METER_RETRY;
        str_copy(res->detail, sizeof res->detail, r->msg);
    } else if (r->status >= 500 || r->status == 429) {
        res->outcome = METER_RETRY;
        snprintf(res->detail, sizeof res->detail, "HTTP %ld", r->status);
    } else if (r->json && r->success) {
        res->outcome = METER_OK;
        str_copy(res->detail, sizeof res->detail, "ok");
    } else if (r->json && r->code) {
        res->outcome = token_refused(r) || code_transient(r->code) ? METER_RETRY : METER_REJECT;
        snprintf(res->detail, sizeof res->detail, "code %lld: %.200s", (long long)r->code, r->msg);
    } else if (r->status >= 400) {
        res->outcome = METER_REJECT;
        snprintf(res->detail, sizeof res->detail, "HTTP %ld", r->status);
    } else {
        res->outcome = METER_RETRY; /* an answer we cannot read: unknown outcome */
        snprintf(res->detail, sizeof res->detail, "HTTP %ld without a readable answer", r->status);
    }
    if (res->outcome == METER_RETRY)
        res->unsure = unsure(r);
}

/* Device ids travel in the path: only [A-Za-z0-9_-], 1..64 characters. */
static bool device_id_ok(const char *id)
{
    size_t n = 0;
    if (!id)
        return false;
    for (; id[n]; n++) {
        char c = id[n];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '-') || n >= TUYA_DEVICE_ID_MAX)
            return false;
    }
    return n > 0;
}

static const char *outcome_name(enum meter_outcome o)
{
    return o == METER_OK ? "ok" : o == METER_RETRY ? "retry" : "reject";
}

static void count(enum meter_outcome o)
{
    metrics_provider_call(MP_TUYA, o == METER_OK ? MO_OK : o == METER_RETRY ? MO_RETRY : MO_REFUSED);
}

static void reject(struct meter_res *res, const char *why)
{
    res->outcome = METER_REJECT;
    res->http_status = 0;
    str_copy(res->detail, sizeof res->detail, why);
}

/* POSTs {"commands":[{"code":code,"value":value}]} to the device. */
static void send_command(struct tuya *tu, const char *op, const char *device_id, const char *code,
                         json_t *value, struct meter_res *res)
{
    char path[160];
    char *body = NULL;
    struct treply r = {0};
    json_t *j = NULL;

    memset(res, 0, sizeof *res);
    if (!device_id_ok(device_id)) {
        reject(res, "device id: only letters, digits, '_' and '-', at most 64");
        goto out;
    }
    if (!code || !*code || strlen(code) > 64 || !value) {
        reject(res, "command: missing or overlong code, or no value");
        goto out;
    }
    snprintf(path, sizeof path, "/v1.0/iot-03/devices/%s/commands", device_id);
    j = json_pack("{s:[{s:s, s:O}]}", "commands", "code", code, "value", value);
    /* a money value goes as the decimal it is (12.35, not
     * 12.349999999999999), as the REST replies print it (http/api.h) */
    body = j ? json_dumps(j, JSON_COMPACT | JSON_REAL_PRECISION(15)) : NULL;
    if (!body) {
        reject(res, "command: cannot encode (code not UTF-8?)");
        goto out;
    }
    tuya_call(tu, "POST", path, body, &r);
    classify(&r, res);
out:
    count(res->outcome);
    log_event(res->outcome == METER_OK ? LOG_DEBUG : LOG_WARN, "meter.call",
              "provider=tuya op=%s device=%s outcome=%s http=%d detail=\"%.80s\"", op,
              device_id_ok(device_id) ? device_id : "-", outcome_name(res->outcome),
              res->http_status, res->detail);
    treply_free(&r);
    json_decref(j);
    free(body);
}

static void tuya_topup(void *st, const char *device_id, int64_t kwh_hundredths, struct meter_res *res)
{
    if (kwh_hundredths < 1 || kwh_hundredths > TUYA_CHARGE_MAX) {
        memset(res, 0, sizeof *res);
        reject(res, "charge_energy: out of range");
        return;
    }
    json_t *v = json_integer((json_int_t)kwh_hundredths);
    send_command(st, "topup", device_id, "charge_energy", v, res);
    json_decref(v);
}

static void tuya_command(void *st, const char *device_id, const char *code, json_t *value,
                         struct meter_res *res)
{
    send_command(st, "command", device_id, code, value, res);
}

static void tuya_status(void *st, const char *device_id, json_t **out, struct meter_res *res)
{
    struct tuya *tu = st;
    struct treply r = {0};
    char path[160];

    *out = NULL;
    memset(res, 0, sizeof *res);
    if (!device_id_ok(device_id)) {
        reject(res, "device id: only letters, digits, '_' and '-', at most 64");
        goto out;
    }
    snprintf(path, sizeof path, "/v1.0/iot-03/devices/%s/status", device_id);
    tuya_call(tu, "GET", path, NULL, &r);
    classify(&r, res);
    if (res->outcome == METER_OK) {
        json_t *list = json_object_get(r.json, "result");
        if (json_is_array(list)) {
            *out = json_incref(list);
        } else {
            res->outcome = METER_RETRY;
            str_copy(res->detail, sizeof res->detail, "answer without a status list");
        }
    }
out:
    count(res->outcome);
    log_event(res->outcome == METER_OK ? LOG_DEBUG : LOG_WARN, "meter.call",
              "provider=tuya op=status device=%s outcome=%s http=%d",
              device_id_ok(device_id) ? device_id : "-", outcome_name(res->outcome),
              res->http_status);
    treply_free(&r);
}

/* One function of a specification as the devices face shows it; NULL for
 * an entry without a code. Tuya writes values as JSON text ("{}" for a
 * Boolean); an object given instead is written as that text. */
static json_t *function_of(const json_t *f)
{
    const char *code = json_string_value(json_object_get(f, "code"));
    const char *type = json_string_value(json_object_get(f, "type"));
    const json_t *v = json_object_get(f, "values");
    if (!code || !*code)
        return NULL;
    char *text = json_is_object(v) ? json_dumps(v, JSON_COMPACT) : NULL;
    const char *values = json_is_string(v) ? json_string_value(v) : text ? text : "{}";
    json_t *o = json_pack("{s:s, s:s, s:s}", "code", code, "type", type ? type : "", "values", values);
    free(text);
    return o;
}

/* GET /v1.2/iot-03/devices/{id}/specification: result {category,
 * functions, status}; only the functions (what the device can be told)
 * are kept. */
static void tuya_functions(void *st, const char *device_id, json_t **out, struct meter_res *res)
{
    struct tuya *tu = st;
    struct treply r = {0};
    char path[160];
    json_t *all = NULL;

    *out = NULL;
    memset(res, 0, sizeof *res);
    if (!device_id_ok(device_id)) {
        reject(res, "device id: only letters, digits, '_' and '-', at most 64");
        goto out;
    }
    snprintf(path, sizeof path, "/v1.2/iot-03/devices/%s/specification", device_id);
    tuya_call(tu, "GET", path, NULL, &r);
    classify(&r, res);
    if (res->outcome != METER_OK)
        goto out;
    json_t *list = json_object_get(json_object_get(r.json, "result"), "functions");
    size_t i;
    json_t *f;
    if (list && !json_is_array(list)) {
        res->outcome = METER_RETRY;
        str_copy(res->detail, sizeof res->detail, "specification: functions is not a list");
        goto out;
    }
    if (!(all = json_array())) {
        res->outcome = METER_RETRY;
        str_copy(res->detail, sizeof res->detail, "out of memory");
        goto out;
    }
    json_array_foreach(list, i, f) {
        json_t *o = function_of(f);
        if (o)
            json_array_append_new(all, o);
    }
    *out = all;
out:
    count(res->outcome);
    log_event(res->outcome == METER_OK ? LOG_DEBUG : LOG_WARN, "meter.call",
              "provider=tuya op=specification device=%s outcome=%s http=%d",
              device_id_ok(device_id) ? device_id : "-", outcome_name(res->outcome), res->http_status);
    treply_free(&r);
}

/* Device listing (GET /v1.3/iot-03/devices) pages through last_row_key;
 * the cap stops a cloud that never says has_more:false. */
#define TUYA_LIST_PAGE 100
#define TUYA_LIST_PAGES_MAX 200
#define TUYA_ROW_KEY_MAX 128

/* A last_row_key goes back in the query as is, so only [A-Za-z0-9_-]. */
static bool row_key_ok(const char *k)
{
    size_t n = 0;
    if (!k)
        return false;
    for (; k[n]; n++) {
        char c = k[n];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '-') || n >= TUYA_ROW_KEY_MAX)
            return false;
    }
    return n > 0;
}

static void list_fail(struct meter_res *res, const char *why)
{
    res->outcome = METER_RETRY;
    str_copy(res->detail, sizeof res->detail, why);
}

/* Appends the usable devices of one page to all; counts the others. */
static void list_page(json_t *list, json_t *all, size_t *skipped)
{
    size_t i;
    json_t *d;
    json_array_foreach(list, i, d) {
        const char *id = json_string_value(json_object_get(d, "id"));
        const char *name = json_string_value(json_object_get(d, "name"));
        const char *product = json_string_value(json_object_get(d, "product_name"));
        json_t *o = device_id_ok(id) ? json_pack("{s:s, s:s, s:s, s:b}", "id", id, "name", name ? name : "",
                                                 "product_name", product ? product : "", "online",
                                                 json_is_true(json_object_get(d, "online")))
                                     : NULL;
        if (!o || json_array_append_new(all, o))
            (*skipped)++;
    }
}

static void tuya_list(void *st, json_t **out, struct meter_res *res)
{
    struct tuya *tu = st;
    struct treply r = {0};
    char path[256], key[TUYA_ROW_KEY_MAX + 1] = "";
    json_t *all = json_array();
    size_t skipped = 0;
    int pages = 0;

    *out = NULL;
    memset(res, 0, sizeof *res);
    if (!all) {
        list_fail(res, "out of memory");
        goto out;
    }
    for (;;) {
        /* the query is signed as written: keys in order */
        if (key[0])
            snprintf(path, sizeof path, "/v1.3/iot-03/devices?last_row_key=%s&page_size=%d", key, TUYA_LIST_PAGE);
        else
            snprintf(path, sizeof path, "/v1.3/iot-03/devices?page_size=%d", TUYA_LIST_PAGE);
        treply_free(&r);
        tuya_call(tu, "GET", path, NULL, &r);
        classify(&r, res);
        if (res->outcome != METER_OK)
            goto out;
        json_t *result = json_object_get(r.json, "result");
        json_t *list = json_object_get(result, "list");
        if (!json_is_array(list)) {
            list_fail(res, "answer without a device list");
            goto out;
        }
        list_page(list, all, &skipped);
        pages++;
        if (!json_is_true(json_object_get(result, "has_more")))
            break;
        const char *next = json_string_value(json_object_get(result, "last_row_key"));
        if (!row_key_ok(next) || !strcmp(next, key)) {
            list_fail(res, "paging: has_more without a usable new last_row_key");
            goto out;
        }
        if (pages >= TUYA_LIST_PAGES_MAX) {
            list_fail(res, "paging: more than 200 pages");
            goto out;
        }
        str_copy(key, sizeof key, next);
    }
    *out = all;
    all = NULL;
out:
    count(res->outcome);
    log_event(res->outcome == METER_OK ? LOG_DEBUG : LOG_WARN, "meter.call",
              "provider=tuya op=list outcome=%s http=%d pages=%d devices=%zu skipped=%zu detail=\"%.80s\"",
              outcome_name(res->outcome), res->http_status, pages, *out ? json_array_size(*out) : 0, skipped,
              res->detail);
    treply_free(&r);
    json_decref(all);
}

/* ---- the device log ----
 * GET /v1.0/devices/{id}/logs?type=5 lists the commands the cloud issued
 * to a device, newest first, a page at a time: has_next and next_row_key,
 * which goes back as start_row_key. The cap stops a cloud that never says
 * has_next:false; a log cut short is a failure, never a smaller count. */
#define TUYA_LOG_PAGE 100
#define TUYA_LOG_PAGES_MAX 20
#define TUYA_LOG_TYPE_COMMANDS 5

bool tuya_logs_path(const char *device_id, const char *code, int64_t from_ms, int64_t to_ms,
                    const char *start_row_key, char *out, size_t outsz)
{
    int n;
    /* keys in order, as the query is signed as written */
    if (start_row_key && *start_row_key)
        n = snprintf(out, outsz, "/v1.0/devices/%s/logs?codes=%s&end_time=%lld&size=%d&start_row_key=%s"
                                 "&start_time=%lld&type=%d",
                     device_id, code, (long long)to_ms, TUYA_LOG_PAGE, start_row_key, (long long)from_ms,
                     TUYA_LOG_TYPE_COMMANDS);
    else
        n = snprintf(out, outsz, "/v1.0/devices/%s/logs?codes=%s&end_time=%lld&size=%d&start_time=%lld&type=%d",
                     device_id, code, (long long)to_ms, TUYA_LOG_PAGE, (long long)from_ms,
                     TUYA_LOG_TYPE_COMMANDS);
    return n > 0 && (size_t)n < outsz;
}

/* A log value as text: Tuya sends a string, but a number is read too. */
static bool value_text(const json_t *v, char *out, size_t n)
{
    if (json_is_string(v))
        return json_string_length(v) < n && str_copy(out, n, json_string_value(v));
    if (json_is_integer(v))
        return (size_t)snprintf(out, n, "%lld", (long long)json_integer_value(v)) < n;
    if (json_is_boolean(v))
        return str_copy(out, n, json_is_true(v) ? "true" : "false");
    return false;
}

bool tuya_logs_page(const json_t *answer, const char *code, struct meter_log *log, char *next, size_t nextsz,
                    char *why, size_t whysz)
{
    const json_t *result = json_object_get(answer, "result");
    const json_t *logs = json_object_get(result, "logs");
    size_t i;
    const json_t *e;
    next[0] = 0;
    if (!json_is_true(json_object_get(answer, "success")) || !json_is_object(result)) {
        str_copy(why, whysz, "log: not a successful answer");
        return false;
    }
    if (logs && !json_is_array(logs)) {
        str_copy(why, whysz, "log: logs is not a list");
        return false;
    }
    json_array_foreach(logs, i, e) {
        const char *c = json_string_value(json_object_get(e, "code"));
        const json_t *t = json_object_get(e, "event_time");
        int64_t at = 0;
        if (!c || strcmp(c, code))
            continue; /* another data point: the query asked for one, a cloud may send more */
        if (!(json_is_integer(t) ? (at = (int64_t)json_integer_value(t)) > 0
                                 : json_is_string(t) && str_to_i64(json_string_value(t), 1, INT64_MAX / 2, &at))) {
            str_copy(why, whysz, "log: an entry without a readable event_time");
            return false;
        }
        if (log->n >= METER_LOG_MAX) {
            snprintf(why, whysz, "log: more than %d entries", METER_LOG_MAX);
            return false;
        }
        if (!value_text(json_object_get(e, "value"), log->e[log->n].value, sizeof log->e[log->n].value)) {
            str_copy(why, whysz, "log: an entry without a readable value");
            return false;
        }
        log->e[log->n++].at = at;
    }
    if (!json_is_true(json_object_get(result, "has_next")))
        return true;
    const char *key = json_string_value(json_object_get(result, "next_row_key"));
    if (!row_key_ok(key) || strlen(key) >= nextsz) {
        str_copy(why, whysz, "log: has_next without a usable next_row_key");
        return false;
    }
    str_copy(next, nextsz, key);
    return true;
}

static void tuya_logs(void *st, const char *device_id, const char *code, int64_t from_ms, int64_t to_ms,
                      struct meter_log *log, struct meter_res *res)
{
    struct tuya *tu = st;
    struct treply r = {0};
    char path[512], key[TUYA_ROW_KEY_MAX + 1] = "", next[TUYA_ROW_KEY_MAX + 1];
    int pages = 0;

    memset(res, 0, sizeof *res);
    log->n = 0;
    log->cloud_ms = log->asked_ms = log->answered_ms = 0;
    if (!device_id_ok(device_id)) {
        reject(res, "device id: only letters, digits, '_' and '-', at most 64");
        goto out;
    }
    if (!code || !*code || strlen(code) > 64 || strspn(code, "abcdefghijklmnopqrstuvwxyz0123456789_") != strlen(code) ||
        from_ms < 0 || to_ms < from_ms) {
        reject(res, "log: a code of [a-z0-9_] and a window from <= to");
        goto out;
    }
    for (;;) {
        if (!tuya_logs_path(device_id, code, from_ms, to_ms, key, path, sizeof path)) {
            list_fail(res, "log: query too long");
            goto out;
        }
        treply_free(&r);
        int64_t asked = now_ms();
        tuya_call(tu, "GET", path, NULL, &r);
        int64_t answered = now_ms();
        classify(&r, res);
        if (res->outcome != METER_OK)
            goto out;
        if (!pages) { /* the cloud's clock, for the caller's skew check */
            const json_t *t = json_object_get(r.json, "t");
            log->cloud_ms = json_is_integer(t) ? (int64_t)json_integer_value(t) : 0;
            log->asked_ms = asked;
            log->answered_ms = answered;
        }
        pages++;
        if (!tuya_logs_page(r.json, code, log, next, sizeof next, res->detail, sizeof res->detail)) {
            res->outcome = METER_RETRY;
            goto out;
        }
        if (!next[0])
            break;
        if (!strcmp(next, key)) {
            list_fail(res, "log: paging: the same next_row_key again");
            goto out;
        }
        if (pages >= TUYA_LOG_PAGES_MAX) {
            list_fail(res, "log: paging: more than 20 pages");
            goto out;
        }
        str_copy(key, sizeof key, next);
    }
out:
    count(res->outcome);
    log_event(res->outcome == METER_OK ? LOG_DEBUG : LOG_WARN, "meter.call",
              "provider=tuya op=logs device=%s outcome=%s http=%d pages=%d entries=%zu detail=\"%.80s\"",
              device_id_ok(device_id) ? device_id : "-", outcome_name(res->outcome), res->http_status, pages,
              log->n, res->detail);
    treply_free(&r);
}

const struct meter_provider meter_tuya = {
    .name = "tuya",
    .create = tuya_create,
    .destroy = tuya_destroy,
    .topup = tuya_topup,
    .command = tuya_command,
    .status = tuya_status,
    .functions = tuya_functions,
    .list = tuya_list,
    .logs = tuya_logs,
};
