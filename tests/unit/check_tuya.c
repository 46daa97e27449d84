/* check_tuya: Tuya request signing against the two published vectors, and
 * the meter client against a fake Tuya cloud on 127.0.0.1 that checks every
 * signature, issues a new token per token call and answers 1010 for any
 * token but the newest; the device-log query (request, paging, parsing)
 * and the top-up check's decision (meter/reconcile.h). */
#include "runner.h"
#include "meter/meter.h"
#include "meter/reconcile.h"

#include "util/httpc.h"
#include "util/str.h"

#include "fake.h"

#include <check.h>
#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#define CLIENT_ID "1KAD46OrT9HafiKdsXeg"
#define SECRET "4OHBOnWOqaEC1mWXOpVL3yV50s0qGSRC"
#define TOKEN_PATH "/v1.0/token"
#define DEVICE "bf1234567890abcdefgh"
#define CMD_PATH "/v1.0/iot-03/devices/" DEVICE "/commands"
#define STATUS_PATH "/v1.0/iot-03/devices/" DEVICE "/status"
#define LOGS_PATH "/v1.0/devices/" DEVICE "/logs"

/* ---------- signing vectors ---------- */

#define VEC_HEADERS "area_id:29a33e8796834b1efa6\ncall_id:8afdb70ab2ed11eb85290242ac130003\n"

START_TEST(vector_token_call)
{
    char sign[65];
    tuya_sign(CLIENT_ID, SECRET, NULL, "1588925778000", "5138cc3a9033d69856923fd07b491173", "GET", "",
              VEC_HEADERS, "/v1.0/token?grant_type=1", sign);
    ck_assert_str_eq(sign, "9E48A3E93B302EEECC803C7241985D0A34EB944F40FB573C7B5C2A82158AF13E");
    /* "" and NULL mean the same: no access token */
    tuya_sign(CLIENT_ID, SECRET, "", "1588925778000", "5138cc3a9033d69856923fd07b491173", "GET", NULL,
              VEC_HEADERS, "/v1.0/token?grant_type=1", sign);
    ck_assert_str_eq(sign, "9E48A3E93B302EEECC803C7241985D0A34EB944F40FB573C7B5C2A82158AF13E");
}
END_TEST

START_TEST(vector_business_call)
{
    char sign[65];
    tuya_sign(CLIENT_ID, SECRET, "3f4eda2bdec17232f67c0b188af3eec1", "1588925778000",
              "5138cc3a9033d69856923fd07b491173", "GET", "", VEC_HEADERS,
              "/v2.0/apps/schema/users?page_no=1&page_size=50", sign);
    ck_assert_str_eq(sign, "AE4481C692AA80B25F3A7E12C3A5FD9BBF6251539DD78E565A1A72A508A88784");
    /* any change in what is signed changes the signature */
    tuya_sign(CLIENT_ID, SECRET, "3f4eda2bdec17232f67c0b188af3eec1", "1588925778000",
              "5138cc3a9033d69856923fd07b491173", "GET", "", "",
              "/v2.0/apps/schema/users?page_no=1&page_size=50", sign);
    ck_assert_str_ne(sign, "AE4481C692AA80B25F3A7E12C3A5FD9BBF6251539DD78E565A1A72A508A88784");
}
END_TEST

/* ---------- the fake Tuya cloud ---------- */

struct tstate {
    int serial;
    char current[32];
    bool refuse_all_tokens;
    int status;                 /* when non-zero, business calls get this */
    const char *body;
    int sign_failures;
    int log_pages;              /* pages the log has; -1: endless */
};

static bool sign_ok(const struct fake_req *rq, const char *token)
{
    const char *cid = fake_hdr(rq, "client_id"), *t = fake_hdr(rq, "t"), *nonce = fake_hdr(rq, "nonce");
    const char *sign = fake_hdr(rq, "sign"), *method = fake_hdr(rq, "sign_method");
    if (!cid || !t || !nonce || !sign || !method || strcmp(method, "HMAC-SHA256") || strcmp(cid, CLIENT_ID))
        return false;
    char url[800], want[65];
    snprintf(url, sizeof url, "%s%s%s", rq->path, rq->query[0] ? "?" : "", rq->query);
    tuya_sign(CLIENT_ID, SECRET, token, t, nonce, rq->method, rq->body, "", url, want);
    return !strcmp(sign, want);
}

/* The decimal number at the start of s (the fake's own row keys). */
static int atoi_free(const char *s)
{
    int n = 0;
    while (*s >= '0' && *s <= '9' && n < 100000)
        n = n * 10 + (*s++ - '0');
    return n;
}

static void tuya_fake(struct fake *f, const struct fake_req *rq, struct http_resp *resp)
{
    struct tstate *s = f->ud;
    char buf[512];
    if (!strcmp(rq->path, TOKEN_PATH)) {
        if (!sign_ok(rq, NULL) || strcmp(rq->query, "grant_type=1")) {
            s->sign_failures++;
            http_resp_text(resp, 200, "application/json", "{\"success\":false,\"code\":1004,\"msg\":\"sign invalid\",\"t\":1}");
            return;
        }
        s->serial++;
        snprintf(s->current, sizeof s->current, "at-%d", s->serial);
        snprintf(buf, sizeof buf,
                 "{\"success\":true,\"t\":1588925778000,\"result\":{\"access_token\":\"%s\",\"expire_time\":7200,"
                 "\"refresh_token\":\"rt-%d\",\"uid\":\"bay1\"}}", s->current, s->serial);
        http_resp_text(resp, 200, "application/json", buf);
        return;
    }
    const char *tok = fake_hdr(rq, "access_token");
    if (s->refuse_all_tokens || !tok || strcmp(tok, s->current)) {
        http_resp_text(resp, 200, "application/json", "{\"success\":false,\"code\":1010,\"msg\":\"token invalid\",\"t\":1}");
        return;
    }
    if (!sign_ok(rq, tok)) {
        s->sign_failures++;
        http_resp_text(resp, 200, "application/json", "{\"success\":false,\"code\":1004,\"msg\":\"sign invalid\",\"t\":1}");
        return;
    }
    if (s->status) {
        http_resp_text(resp, s->status, "application/json", s->body);
        return;
    }
    if (!strcmp(rq->path, LOGS_PATH)) {
        /* page k (k = 1 + the number in start_row_key) holds two charges
         * and a data point of another code */
        const char *k = strstr(rq->query, "start_row_key=p");
        int page = k ? atoi_free(k + 15) : 1;
        bool more = s->log_pages < 0 || page < s->log_pages;
        snprintf(buf, sizeof buf,
                 "{\"success\":true,\"t\":%lld,\"result\":{\"device_id\":\"" DEVICE "\",\"has_next\":%s,"
                 "\"next_row_key\":\"p%d\",\"logs\":[{\"code\":\"charge_energy\",\"value\":\"%d\","
                 "\"event_time\":%d,\"event_from\":\"3\",\"event_id\":5},{\"code\":\"switch\",\"value\":\"true\","
                 "\"event_time\":2,\"event_id\":5},{\"code\":\"charge_energy\",\"value\":%d,\"event_time\":\"%d\","
                 "\"event_id\":5}]}}",
                 (long long)now_ms(), more ? "true" : "false", page + 1, 100 * page, 1000 + page, 200 * page,
                 2000 + page);
        http_resp_text(resp, 200, "application/json", buf);
        return;
    }
    if (strstr(rq->path, "/specification")) {
        /* version 1.2's shape: values as JSON text, lang_config beside; one
         * cloud writes values as an object, one entry has no code */
        http_resp_text(resp, 200, "application/json",
                       "{\"success\":true,\"t\":1,\"result\":{\"functions\":[{\"code\":\"switch\",\"values\":\"{}\","
                       "\"lang_config\":{\"false\":\"Off\",\"true\":\"On\"},\"type\":\"Boolean\",\"name\":\"Switch\"},"
                       "{\"code\":\"charge_energy\",\"values\":{\"min\":0,\"scale\":2},\"type\":\"Integer\"},"
                       "{\"type\":\"Boolean\",\"values\":\"{}\"}],\"category\":\"zndb\",\"status\":[{\"code\":"
                       "\"balance_energy\",\"values\":\"{}\",\"type\":\"Integer\"}]}}");
        return;
    }
    if (!strcmp(rq->method, "GET"))
        http_resp_text(resp, 200, "application/json",
                       "{\"success\":true,\"t\":1,\"result\":[{\"code\":\"balance_energy\",\"value\":1234},"
                       "{\"code\":\"switch\",\"value\":true}]}");
    else
        http_resp_text(resp, 200, "application/json", "{\"result\":true,\"success\":true,\"t\":1}");
}

static const struct http_route tuya_routes[] = {
    {"GET", TOKEN_PATH, fake_dispatch, 0, 0},
    {"POST", "/v1.0/iot-03/devices/{id}/commands", fake_dispatch, 0, 0},
    {"GET", "/v1.0/iot-03/devices/{id}/status", fake_dispatch, 0, 0},
    {"GET", "/v1.0/devices/{id}/logs", fake_dispatch, 0, 0},
    {"GET", "/v1.2/iot-03/devices/{id}/specification", fake_dispatch, 0, 0},
    {NULL, NULL, NULL, 0, 0},
};

static struct fake fk;
static struct tstate ts;
static struct config cfg;
static void *st;

static void setup(void)
{
    memset(&ts, 0, sizeof ts);
    ck_assert(fake_start(&fk, tuya_routes, tuya_fake, &ts));
    memset(&cfg, 0, sizeof cfg);
    cfg.tuya_url = fk.base;
    cfg.tuya_client_id = CLIENT_ID;
    cfg.tuya_secret = SECRET;
    cfg.http_timeout_ms = 2000;
    st = meter_tuya.create(&cfg);
    ck_assert_ptr_nonnull(st);
}

static void teardown(void)
{
    meter_tuya.destroy(st);
    st = NULL;
    fake_stop(&fk);
}

START_TEST(token_fetched_once_and_reused)
{
    struct meter_res r;
    json_t *list = NULL;
    meter_tuya.topup(st, DEVICE, 1250, &r);
    ck_assert_int_eq(r.outcome, METER_OK);
    ck_assert_int_eq(r.http_status, 200);
    meter_tuya.status(st, DEVICE, &list, &r);
    ck_assert_int_eq(r.outcome, METER_OK);
    json_decref(list);
    meter_tuya.topup(st, DEVICE, 100, &r);
    ck_assert_int_eq(r.outcome, METER_OK);
    ck_assert_int_eq(fake_count(&fk, "GET", TOKEN_PATH), 1);
    ck_assert_int_eq(fake_count(&fk, "POST", CMD_PATH), 2);
    ck_assert_int_eq(ts.sign_failures, 0);
}
END_TEST

START_TEST(signed_headers_sent)
{
    struct meter_res r;
    int64_t before = now_ms();
    meter_tuya.topup(st, DEVICE, 1250, &r);
    ck_assert_int_eq(r.outcome, METER_OK);
    const struct fake_req *rq = fake_last(&fk, "POST", CMD_PATH);
    ck_assert_ptr_nonnull(rq);
    ck_assert_str_eq(fake_hdr(rq, "client_id"), CLIENT_ID);
    ck_assert_str_eq(fake_hdr(rq, "sign_method"), "HMAC-SHA256");
    ck_assert_str_eq(fake_hdr(rq, "access_token"), "at-1");
    ck_assert_str_eq(fake_hdr(rq, "Content-Type"), "application/json");
    const char *nonce = fake_hdr(rq, "nonce");
    ck_assert_uint_eq(strlen(nonce), 32);
    for (const char *p = nonce; *p; p++)
        ck_assert(isxdigit((unsigned char)*p));
    int64_t t;
    ck_assert(str_to_i64(fake_hdr(rq, "t"), 0, INT64_MAX, &t));
    ck_assert(t >= before && t <= now_ms());
    const char *sign = fake_hdr(rq, "sign");
    ck_assert_uint_eq(strlen(sign), 64);
    /* the token call carries no access_token */
    const struct fake_req *tq = fake_last(&fk, "GET", TOKEN_PATH);
    ck_assert_ptr_null(fake_hdr(tq, "access_token"));
    ck_assert_str_ne(fake_hdr(tq, "nonce"), nonce);
}
END_TEST

START_TEST(topup_body)
{
    struct meter_res r;
    meter_tuya.topup(st, DEVICE, 1250, &r);
    ck_assert_int_eq(r.outcome, METER_OK);
    json_t *j = json_loads(fake_last(&fk, "POST", CMD_PATH)->body, 0, NULL);
    ck_assert_ptr_nonnull(j);
    json_t *cmds = json_object_get(j, "commands");
    ck_assert_uint_eq(json_array_size(cmds), 1);
    json_t *c = json_array_get(cmds, 0);
    ck_assert_str_eq(json_string_value(json_object_get(c, "code")), "charge_energy");
    ck_assert(json_is_integer(json_object_get(c, "value")));
    ck_assert_int_eq(json_integer_value(json_object_get(c, "value")), 1250);
    ck_assert_uint_eq(json_object_size(j), 1);
    json_decref(j);
}
END_TEST

START_TEST(command_arbitrary)
{
    struct meter_res r;
    json_t *v = json_integer(3);
    meter_tuya.command(st, DEVICE, "mode", v, &r);
    ck_assert_int_eq(r.outcome, METER_OK);
    ck_assert_int_eq(v->refcount, 1); /* borrowed, not stolen */
    json_decref(v);
    json_t *j = json_loads(fake_last(&fk, "POST", CMD_PATH)->body, 0, NULL);
    json_t *c = json_array_get(json_object_get(j, "commands"), 0);
    ck_assert_str_eq(json_string_value(json_object_get(c, "code")), "mode");
    ck_assert_int_eq(json_integer_value(json_object_get(c, "value")), 3);
    json_decref(j);
}
END_TEST

START_TEST(status_list)
{
    struct meter_res r;
    json_t *list = NULL;
    meter_tuya.status(st, DEVICE, &list, &r);
    ck_assert_int_eq(r.outcome, METER_OK);
    ck_assert(json_is_array(list));
    ck_assert_uint_eq(json_array_size(list), 2);
    ck_assert_str_eq(json_string_value(json_object_get(json_array_get(list, 0), "code")), "balance_energy");
    ck_assert_int_eq(json_integer_value(json_object_get(json_array_get(list, 0), "value")), 1234);
    json_decref(list);
}
END_TEST

/* The specification's functions as {code, type, values}, values as text. */
START_TEST(specification_functions)
{
    struct meter_res r;
    json_t *fns = NULL;
    meter_tuya.functions(st, DEVICE, &fns, &r);
    ck_assert_int_eq(r.outcome, METER_OK);
    ck_assert_uint_eq(json_array_size(fns), 2);
    char *text = json_dumps(fns, JSON_COMPACT);
    ck_assert_str_eq(text, "[{\"code\":\"switch\",\"type\":\"Boolean\",\"values\":\"{}\"},"
                           "{\"code\":\"charge_energy\",\"type\":\"Integer\",\"values\":\"{\\\"min\\\":0,\\\"scale\\\":2}\"}]");
    free(text);
    json_decref(fns);
    ts.status = 503;
    ts.body = "{}";
    meter_tuya.functions(st, DEVICE, &fns, &r);
    ck_assert_int_eq(r.outcome, METER_RETRY);
    ck_assert_ptr_null(fns);
}
END_TEST

START_TEST(token_invalid_renewed_and_retried_once)
{
    struct meter_res r;
    meter_tuya.topup(st, DEVICE, 100, &r);
    ck_assert_int_eq(r.outcome, METER_OK);
    pthread_mutex_lock(&fk.mu);
    snprintf(ts.current, sizeof ts.current, "elsewhere");
    pthread_mutex_unlock(&fk.mu);
    meter_tuya.topup(st, DEVICE, 100, &r);
    ck_assert_int_eq(r.outcome, METER_OK);
    ck_assert_int_eq(fake_count(&fk, "GET", TOKEN_PATH), 2);
    ck_assert_int_eq(fake_count(&fk, "POST", CMD_PATH), 3);
}
END_TEST

START_TEST(token_always_invalid_one_retry)
{
    struct meter_res r;
    ts.refuse_all_tokens = true;
    meter_tuya.topup(st, DEVICE, 100, &r);
    ck_assert_int_eq(r.outcome, METER_RETRY);
    ck_assert_ptr_nonnull(strstr(r.detail, "1010"));
    ck_assert_int_eq(fake_count(&fk, "GET", TOKEN_PATH), 2);
    ck_assert_int_eq(fake_count(&fk, "POST", CMD_PATH), 2);
}
END_TEST

START_TEST(server_errors_retry)
{
    struct meter_res r;
    ts.status = 503;
    ts.body = "upstream down";
    meter_tuya.topup(st, DEVICE, 100, &r);
    ck_assert_int_eq(r.outcome, METER_RETRY);
    ck_assert_int_eq(r.http_status, 503);
    ts.status = 200;
    ts.body = "{\"success\":false,\"code\":2001,\"msg\":\"device is offline\"}";
    meter_tuya.topup(st, DEVICE, 100, &r);
    ck_assert_int_eq(r.outcome, METER_RETRY);
    ts.body = "{\"success\":false,\"code\":500,\"msg\":\"system error, please contact the admin\"}";
    meter_tuya.topup(st, DEVICE, 100, &r);
    ck_assert_int_eq(r.outcome, METER_RETRY);
}
END_TEST

START_TEST(refusals_reject)
{
    struct meter_res r;
    ts.status = 200;
    ts.body = "{\"success\":false,\"code\":2008,\"msg\":\"command or value not support\",\"t\":1}";
    meter_tuya.topup(st, DEVICE, 100, &r);
    ck_assert_int_eq(r.outcome, METER_REJECT);
    ck_assert_ptr_nonnull(strstr(r.detail, "command or value not support"));
    ck_assert_ptr_nonnull(strstr(r.detail, "2008"));
    ck_assert_int_eq(fake_count(&fk, "POST", CMD_PATH), 1);
}
END_TEST

START_TEST(bad_device_id_not_sent)
{
    struct meter_res r;
    json_t *list = (json_t *)1;
    const char *bad[] = {"", "../token", "a b", "dev/1", "dev?x=1", "dev%2F", "é"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        meter_tuya.topup(st, bad[i], 100, &r);
        ck_assert_msg(r.outcome == METER_REJECT, "'%s' accepted", bad[i]);
    }
    meter_tuya.topup(st, NULL, 100, &r);
    ck_assert_int_eq(r.outcome, METER_REJECT);
    meter_tuya.status(st, "a/b", &list, &r);
    ck_assert_int_eq(r.outcome, METER_REJECT);
    ck_assert_ptr_null(list);
    char longid[80];
    memset(longid, 'a', sizeof longid - 1);
    longid[sizeof longid - 1] = 0;
    meter_tuya.topup(st, longid, 100, &r);
    ck_assert_int_eq(r.outcome, METER_REJECT);
    meter_tuya.topup(st, DEVICE, 0, &r);
    ck_assert_int_eq(r.outcome, METER_REJECT);
    meter_tuya.topup(st, DEVICE, -5, &r);
    ck_assert_int_eq(r.outcome, METER_REJECT);
    ck_assert_int_eq(fk.n, 0);
}
END_TEST

START_TEST(token_refused_retries_later)
{
    struct config c2 = cfg;
    c2.tuya_secret = "not-the-secret";
    void *s2 = meter_tuya.create(&c2);
    struct meter_res r;
    meter_tuya.topup(s2, DEVICE, 100, &r);
    ck_assert_int_eq(r.outcome, METER_RETRY);
    ck_assert_ptr_nonnull(strstr(r.detail, "token"));
    ck_assert_int_eq(fake_count(&fk, "POST", CMD_PATH), 0);
    meter_tuya.destroy(s2);
}
END_TEST

START_TEST(no_answer_retries)
{
    char dead[64];
    struct config c2 = cfg;
    fake_dead_base(dead);
    c2.tuya_url = dead;
    void *s2 = meter_tuya.create(&c2);
    struct meter_res r;
    meter_tuya.topup(s2, DEVICE, 100, &r);
    ck_assert_int_eq(r.outcome, METER_RETRY);
    ck_assert_int_eq(r.http_status, 0);
    meter_tuya.destroy(s2);
}
END_TEST

/* ---------- the device log ---------- */

START_TEST(logs_query_signed_and_sorted)
{
    char path[512];
    ck_assert(tuya_logs_path(DEVICE, "charge_energy", 1700000000000, 1700000300000, "", path, sizeof path));
    ck_assert_str_eq(path, "/v1.0/devices/" DEVICE "/logs?codes=charge_energy&end_time=1700000300000&size=100"
                           "&start_time=1700000000000&type=5");
    ck_assert(tuya_logs_path(DEVICE, "charge_energy", 1, 2, "p2", path, sizeof path));
    ck_assert_str_eq(path, "/v1.0/devices/" DEVICE "/logs?codes=charge_energy&end_time=2&size=100"
                           "&start_row_key=p2&start_time=1&type=5");
    ck_assert(!tuya_logs_path(DEVICE, "charge_energy", 1, 2, "", path, 40));
    /* the fake checks the signature over the query as it arrives */
    struct meter_log *log = calloc(1, sizeof *log);
    struct meter_res r;
    ts.log_pages = 1;
    meter_tuya.logs(st, DEVICE, "charge_energy", 1700000000000, 1700000300000, log, &r);
    ck_assert_msg(r.outcome == METER_OK, "%s", r.detail);
    ck_assert_int_eq(ts.sign_failures, 0);
    const struct fake_req *rq = fake_last(&fk, "GET", LOGS_PATH);
    ck_assert_ptr_nonnull(rq);
    ck_assert_str_eq(rq->query, "codes=charge_energy&end_time=1700000300000&size=100&start_time=1700000000000&type=5");
    ck_assert_str_eq(fake_hdr(rq, "access_token"), "at-1");
    free(log);
}
END_TEST

START_TEST(logs_pages_read_to_the_end)
{
    struct meter_log *log = calloc(1, sizeof *log);
    struct meter_res r;
    ts.log_pages = 3;
    int64_t before = now_ms();
    meter_tuya.logs(st, DEVICE, "charge_energy", 1, 5000, log, &r);
    ck_assert_msg(r.outcome == METER_OK, "%s", r.detail);
    ck_assert_int_eq(fake_count(&fk, "GET", LOGS_PATH), 3);
    ck_assert_str_eq(fake_last(&fk, "GET", LOGS_PATH)->query,
                     "codes=charge_energy&end_time=5000&size=100&start_row_key=p3&start_time=1&type=5");
    /* two charges a page, the other code left out; strings and numbers */
    ck_assert_uint_eq(log->n, 6);
    ck_assert_str_eq(log->e[0].value, "100");
    ck_assert_int_eq(log->e[0].at, 1001);
    ck_assert_str_eq(log->e[1].value, "200");
    ck_assert_int_eq(log->e[1].at, 2001);
    ck_assert_str_eq(log->e[5].value, "600");
    ck_assert_int_eq(log->e[5].at, 2003);
    /* the cloud's clock and lipa's around it, for the skew check */
    ck_assert(log->asked_ms >= before && log->asked_ms <= log->answered_ms);
    ck_assert(log->cloud_ms >= log->asked_ms && log->cloud_ms <= log->answered_ms);
    free(log);
}
END_TEST

START_TEST(logs_endless_paging_is_a_failure)
{
    struct meter_log *log = calloc(1, sizeof *log);
    struct meter_res r;
    ts.log_pages = -1;
    meter_tuya.logs(st, DEVICE, "charge_energy", 1, 5000, log, &r);
    ck_assert_int_eq(r.outcome, METER_RETRY);
    ck_assert_ptr_nonnull(strstr(r.detail, "pages"));
    ck_assert_int_eq(fake_count(&fk, "GET", LOGS_PATH), 20);
    /* and a cloud that fails is a failure, never an empty log */
    ts.status = 503;
    ts.body = "busy";
    meter_tuya.logs(st, DEVICE, "charge_energy", 1, 5000, log, &r);
    ck_assert_int_eq(r.outcome, METER_RETRY);
    meter_tuya.logs(st, "a/b", "charge_energy", 1, 5000, log, &r);
    ck_assert_int_eq(r.outcome, METER_REJECT);
    meter_tuya.logs(st, DEVICE, "charge_energy&x=1", 1, 5000, log, &r);
    ck_assert_int_eq(r.outcome, METER_REJECT);
    free(log);
}
END_TEST

/* tuya_logs_page on answers as text */
static bool page_of(const char *text, struct meter_log *log, char *next, char *why)
{
    json_t *j = json_loads(text, 0, NULL);
    ck_assert_ptr_nonnull(j);
    bool ok = tuya_logs_page(j, "charge_energy", log, next, 64, why, 128);
    json_decref(j);
    return ok;
}

START_TEST(logs_page_parsing)
{
    struct meter_log *log = calloc(1, sizeof *log);
    char next[64], why[128];
    ck_assert(page_of("{\"success\":true,\"t\":5,\"result\":{\"has_next\":false,\"logs\":[]}}", log, next, why));
    ck_assert_uint_eq(log->n, 0);
    ck_assert_str_eq(next, "");
    ck_assert(page_of("{\"success\":true,\"result\":{\"has_next\":true,\"next_row_key\":\"AbC_9-x\",\"logs\":["
                      "{\"code\":\"charge_energy\",\"value\":\"400\",\"event_time\":1700000000123},"
                      "{\"code\":\"clear_energy\",\"value\":\"true\",\"event_time\":1700000000124}]}}",
                      log, next, why));
    ck_assert_uint_eq(log->n, 1);
    ck_assert_str_eq(log->e[0].value, "400");
    ck_assert_int_eq(log->e[0].at, 1700000000123);
    ck_assert_str_eq(next, "AbC_9-x");
    /* answers that cannot be trusted */
    ck_assert(!page_of("{\"success\":false,\"code\":1106,\"msg\":\"permission deny\"}", log, next, why));
    ck_assert(!page_of("{\"success\":true,\"result\":{\"logs\":[{\"code\":\"charge_energy\",\"value\":\"4\"}]}}", log,
                       next, why));
    ck_assert_ptr_nonnull(strstr(why, "event_time"));
    ck_assert(!page_of("{\"success\":true,\"result\":{\"logs\":[{\"code\":\"charge_energy\",\"event_time\":9}]}}", log,
                       next, why));
    ck_assert(!page_of("{\"success\":true,\"result\":{\"has_next\":true,\"logs\":[]}}", log, next, why));
    ck_assert(!page_of("{\"success\":true,\"result\":{\"has_next\":true,\"next_row_key\":\"a&b=c\",\"logs\":[]}}", log,
                       next, why));
    ck_assert(!page_of("{\"success\":true,\"result\":{\"logs\":{}}}", log, next, why));
    log->n = METER_LOG_MAX;
    ck_assert(!page_of("{\"success\":true,\"result\":{\"logs\":[{\"code\":\"charge_energy\",\"value\":\"4\","
                       "\"event_time\":9}]}}", log, next, why));
    free(log);
}
END_TEST

/* A failed command says whether it may have been applied. */
START_TEST(unclear_answers_are_unsure)
{
    struct meter_res r;
    ts.status = 504;
    ts.body = "gateway timeout";
    meter_tuya.topup(st, DEVICE, 100, &r);
    ck_assert(r.outcome == METER_RETRY && r.unsure);
    ts.status = 200;
    ts.body = "{\"success\":false,\"code\":500,\"msg\":\"system error, please contact the admin\"}";
    meter_tuya.topup(st, DEVICE, 100, &r);
    ck_assert(r.outcome == METER_RETRY && r.unsure);
    ts.body = "not json";
    meter_tuya.topup(st, DEVICE, 100, &r);
    ck_assert(r.outcome == METER_RETRY && r.unsure);
    /* refusals the cloud said: nothing was applied */
    ts.body = "{\"success\":false,\"code\":2001,\"msg\":\"device is offline\"}";
    meter_tuya.topup(st, DEVICE, 100, &r);
    ck_assert(r.outcome == METER_RETRY && !r.unsure);
    ts.status = 429;
    ts.body = "{}";
    meter_tuya.topup(st, DEVICE, 100, &r);
    ck_assert(r.outcome == METER_RETRY && !r.unsure);
    /* no token: the command never went out */
    ts.status = 0;
    ts.refuse_all_tokens = true;
    meter_tuya.topup(st, DEVICE, 100, &r);
    ck_assert(r.outcome == METER_RETRY && !r.unsure);
    /* nobody answering: it may have arrived */
    char dead[64];
    struct config c2 = cfg;
    fake_dead_base(dead);
    c2.tuya_url = dead;
    void *s2 = meter_tuya.create(&c2);
    meter_tuya.topup(s2, DEVICE, 100, &r);
    ck_assert_int_eq(r.outcome, METER_RETRY);
    meter_tuya.destroy(s2);
}
END_TEST

/* ---------- the top-up check's decision ---------- */

/* timeout 10 s, late 60 s, skew 60 s: a command sent at s shows in
 * [s - 70 s, s + 130 s]; it may be decided from s + 70 s */
static const struct reconcile_window W = {10000, 60000, 60000};
#define S0 1700000000000LL
#define NOW (S0 + 3600000)

static struct reconcile_row open_row(int64_t id, int64_t at) { return (struct reconcile_row){id, at, false, false}; }
static struct reconcile_row done_row(int64_t id, int64_t at) { return (struct reconcile_row){id, at, true, false}; }

static enum reconcile_verdict decide(struct reconcile_row *rows, size_t n, const int64_t *at, size_t nat,
                                     size_t *unexplained)
{
    int64_t until;
    return reconcile_decide(&W, rows, n, at, nat, NOW, &until, unexplained);
}

START_TEST(reconcile_spans)
{
    int64_t lo, hi, from, to;
    reconcile_span(&W, S0, &lo, &hi);
    ck_assert_int_eq(lo, S0 - 70000);
    ck_assert_int_eq(hi, S0 + 130000);
    ck_assert_int_eq(reconcile_due(&W, S0), S0 + 70000);
    /* rows whose spans touch [lo, hi]: sent from lo - 130 s to hi + 70 s */
    reconcile_reach(&W, lo, hi, &from, &to);
    ck_assert_int_eq(from, S0 - 200000);
    ck_assert_int_eq(to, S0 + 200000);
    /* a chain widens the cluster; a row far off does not */
    struct reconcile_row rows[] = {open_row(1, S0), done_row(2, S0 + 150000), done_row(3, S0 + 299000),
                                   done_row(4, S0 + 900000)};
    ck_assert(reconcile_grow(&W, rows, 4, &lo, &hi));
    ck_assert_int_eq(hi, S0 + 299000 + 130000);
    ck_assert(!reconcile_grow(&W, rows, 4, &lo, &hi));
    ck_assert_int_eq(lo, S0 - 70000);
}
END_TEST

START_TEST(reconcile_one_open_row)
{
    size_t unexplained;
    struct reconcile_row r[1] = {open_row(1, S0)};
    int64_t in = S0 + 500, out = S0 + 200000;
    ck_assert_int_eq(decide(r, 1, &in, 1, &unexplained), RECONCILE_DECIDED);
    ck_assert(r[0].reached);
    ck_assert_uint_eq(unexplained, 0);
    ck_assert_int_eq(decide(r, 1, NULL, 0, &unexplained), RECONCILE_DECIDED);
    ck_assert(!r[0].reached);
    /* an entry outside its span is not its: someone else's, counted */
    ck_assert_int_eq(decide(r, 1, &out, 1, &unexplained), RECONCILE_DECIDED);
    ck_assert(!r[0].reached);
    ck_assert_uint_eq(unexplained, 1);
    /* the clocks may differ by the skew either way */
    int64_t early = S0 - 69000;
    ck_assert_int_eq(decide(r, 1, &early, 1, &unexplained), RECONCILE_DECIDED);
    ck_assert(r[0].reached);
}
END_TEST

/* Two purchases of the same amount on one meter close together: the one
 * the cloud answered ok owns an entry, whatever the other did. */
START_TEST(reconcile_same_amount_close_together)
{
    size_t unexplained;
    struct reconcile_row r[2] = {done_row(1, S0), open_row(2, S0 + 2000)};
    int64_t one = S0 + 100, two[2] = {S0 + 100, S0 + 2100};
    ck_assert_int_eq(decide(r, 2, &one, 1, &unexplained), RECONCILE_DECIDED);
    ck_assert(!r[1].reached);
    ck_assert_int_eq(decide(r, 2, two, 2, &unexplained), RECONCILE_DECIDED);
    ck_assert(r[1].reached);
    ck_assert_uint_eq(unexplained, 0);
    /* the open row first in time: the done row still owns one entry */
    struct reconcile_row q[2] = {open_row(1, S0), done_row(2, S0 + 2000)};
    ck_assert_int_eq(decide(q, 2, &one, 1, &unexplained), RECONCILE_DECIDED);
    ck_assert(!q[0].reached);
}
END_TEST

/* The matching is a maximum one: a done row takes the entry an open row
 * cannot take, not the first one it sees. */
START_TEST(reconcile_matching_is_maximum)
{
    size_t unexplained;
    /* open row at S0 (span to S0 + 130 s), done row at S0 + 100 s (span
     * from S0 + 30 s); entries at S0 + 50 s (both) and S0 + 200 s (the
     * done row's only) */
    struct reconcile_row r[2] = {open_row(1, S0), done_row(2, S0 + 100000)};
    int64_t at[2] = {S0 + 200000, S0 + 50000};
    ck_assert_int_eq(decide(r, 2, at, 2, &unexplained), RECONCILE_DECIDED);
    ck_assert(r[0].reached);
    ck_assert_uint_eq(unexplained, 0);
    /* two open rows, one entry both could own: exactly one is reached
     * (the older), so the meter gets what was paid for, once */
    struct reconcile_row q[2] = {open_row(7, S0 + 1000), open_row(3, S0)};
    int64_t e = S0 + 5000;
    ck_assert_int_eq(decide(q, 2, &e, 1, &unexplained), RECONCILE_DECIDED);
    ck_assert(!q[0].reached && q[1].reached);
}
END_TEST

START_TEST(reconcile_waits_and_distrusts)
{
    size_t unexplained;
    int64_t until;
    /* an open row that may still show: wait until it cannot */
    struct reconcile_row r[2] = {open_row(1, S0), open_row(2, NOW - 1000)};
    ck_assert_int_eq(reconcile_decide(&W, r, 2, NULL, 0, NOW, &until, &unexplained), RECONCILE_WAIT);
    ck_assert_int_eq(until, NOW - 1000 + 70000);
    /* a log without the entry of a top-up the cloud accepted is behind
     * or cut: no decision */
    struct reconcile_row q[2] = {done_row(1, S0), open_row(2, S0 + 1000)};
    ck_assert_int_eq(decide(q, 2, NULL, 0, &unexplained), RECONCILE_INCOMPLETE);
    struct reconcile_row many[RECONCILE_ROWS_MAX + 1];
    for (size_t i = 0; i < RECONCILE_ROWS_MAX + 1; i++)
        many[i] = open_row((int64_t)i, S0);
    ck_assert_int_eq(decide(many, RECONCILE_ROWS_MAX + 1, NULL, 0, &unexplained), RECONCILE_INCOMPLETE);
}
END_TEST

Suite *test_suite(void)
{
    Suite *s = suite_create("tuya");
    TCase *pure = tcase_create("vectors");
    tcase_add_test(pure, vector_token_call);
    tcase_add_test(pure, vector_business_call);
    tcase_add_test(pure, logs_page_parsing);
    tcase_add_test(pure, reconcile_spans);
    tcase_add_test(pure, reconcile_one_open_row);
    tcase_add_test(pure, reconcile_same_amount_close_together);
    tcase_add_test(pure, reconcile_matching_is_maximum);
    tcase_add_test(pure, reconcile_waits_and_distrusts);
    suite_add_tcase(s, pure);

    TCase *net = tcase_create("fake-tuya");
    tcase_add_checked_fixture(net, setup, teardown);
    tcase_set_timeout(net, 30);
    tcase_add_test(net, token_fetched_once_and_reused);
    tcase_add_test(net, signed_headers_sent);
    tcase_add_test(net, topup_body);
    tcase_add_test(net, command_arbitrary);
    tcase_add_test(net, status_list);
    tcase_add_test(net, specification_functions);
    tcase_add_test(net, token_invalid_renewed_and_retried_once);
    tcase_add_test(net, token_always_invalid_one_retry);
    tcase_add_test(net, server_errors_retry);
    tcase_add_test(net, refusals_reject);
    tcase_add_test(net, bad_device_id_not_sent);
    tcase_add_test(net, token_refused_retries_later);
    tcase_add_test(net, no_answer_retries);
    tcase_add_test(net, logs_query_signed_and_sorted);
    tcase_add_test(net, logs_pages_read_to_the_end);
    tcase_add_test(net, logs_endless_paging_is_a_failure);
    tcase_add_test(net, unclear_answers_are_unsure);
    suite_add_tcase(s, net);
    return s;
}
