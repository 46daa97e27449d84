/* check_api: the HTTP face helpers end to end on 127.0.0.1. A small route
 * table of test handlers runs in the real server (http/server.h); they
 * validate bodies with api_parse against a declared field table and reply
 * with api_ok/api_error under each envelope. Requests go out through
 * util/httpc.h (and one raw socket for a chunked upload), and the tests
 * assert what a client sees: status, envelope, which field is named. */
#include "runner.h"
#include "http/api.h"
#include "http/cors.h"
#include "http/server.h"

#include "user/api.h"
#include "util/httpc.h"
#include "util/str.h"

#include <arpa/inet.h>
#include <check.h>
#include <jansson.h>
#include <netinet/in.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#define ADMIN_KEY "lipa-test-admin-key-0123456789"
#define BODY_MAX 256

/* ---------- the server under test ---------- */

static const struct field person_fields[] = {
    {"name", F_STRING, F_REQUIRED, 1, 10},
    {"temp", F_INT, 0, -10, 40},
    {"id", F_ID, 0, 1, 1000},
    {"score", F_NUMBER, 0, 0, 100},
    {"ok", F_BOOL, 0, 0, 0},
    {NULL, F_STRING, 0, 0, 0},
};

/* Echoes the checked object (plus api_int's and user_id_of's readings of
 * "id"). */
static void h_parse(void *ctx, struct http_req *req, struct http_resp *resp)
{
    (void)ctx;
    json_t *o = api_parse(req, resp, person_fields);
    if (!o)
        return;
    json_object_set_new(o, "id_int", json_integer(api_int(o, "id", -1)));
    json_object_set_new(o, "id_user", json_integer(user_id_of(json_object_get(o, "id"))));
    api_ok(req, resp, 200, "parsed", o);
}

static void h_empty(void *ctx, struct http_req *req, struct http_resp *resp)
{
    (void)ctx;
    api_ok(req, resp, 201, "created", NULL);
}

static void h_fail(void *ctx, struct http_req *req, struct http_resp *resp)
{
    (void)ctx;
    api_error(req, resp, ERR_NOT_FOUND, NULL, "meter %s: not found", "MTR-9");
}

static void h_conflict(void *ctx, struct http_req *req, struct http_resp *resp)
{
    (void)ctx;
    api_error(req, resp, ERR_CONFLICT, "DUPLICATE_PHONE", "phone: already registered");
}

static void h_admin(void *ctx, struct http_req *req, struct http_resp *resp)
{
    (void)ctx;
    if (!api_require_admin(req, resp, ADMIN_KEY))
        return;
    api_ok(req, resp, 200, "ok", json_pack("{s:b}", "admin", 1));
}

static json_t *str_or_null(const char *s)
{
    return s ? json_string(s) : json_null();
}

static void h_params(void *ctx, struct http_req *req, struct http_resp *resp)
{
    (void)ctx;
    json_t *o = json_object();
    json_object_set_new(o, "n", json_integer((json_int_t)req->nparams));
    json_object_set_new(o, "a", str_or_null(req->nparams > 0 ? req->params[0] : NULL));
    json_object_set_new(o, "b", str_or_null(req->nparams > 1 ? req->params[1] : NULL));
    json_object_set_new(o, "q", str_or_null(http_query(req, "q")));
    json_object_set_new(o, "page", str_or_null(http_query(req, "page")));
    json_object_set_new(o, "method", json_string(req->method));
    json_object_set_new(o, "ip", json_string(req->client_ip));
    api_ok(req, resp, 200, NULL, o);
}

static const struct http_route routes[] = {
    {"POST", "/plain/parse", h_parse, ENV_PLAIN, 0},
    {"POST", "/data/parse", h_parse, ENV_DATA, 0},
    {"POST", "/dev/parse", h_parse, ENV_DEVICE, 0},
    {"GET", "/plain/empty", h_empty, ENV_PLAIN, 0},
    {"GET", "/data/empty", h_empty, ENV_DATA, 0},
    {"GET", "/plain/fail", h_fail, ENV_PLAIN, 0},
    {"GET", "/data/fail", h_fail, ENV_DATA, 0},
    {"GET", "/dev/fail", h_fail, ENV_DEVICE, 0},
    {"GET", "/dev/conflict", h_conflict, ENV_DEVICE, 0},
    {"POST", "/bare/parse", h_parse, ENV_BARE, 0},
    {"GET", "/bare/fail", h_fail, ENV_BARE, 0},
    {"GET", "/bare/empty", h_empty, ENV_BARE, 0},
    {"GET", "/admin", h_admin, ENV_PLAIN, 0},
    {"GET", "/x/{a}/y/{b}", h_params, ENV_PLAIN, 0},
    {"GET", "/only-get", h_empty, ENV_PLAIN, 0},
    {"DELETE", "/items/{id}", h_params, ENV_PLAIN, 0},
    {NULL, NULL, NULL, 0, 0},
};

static struct http_server *srv;
static unsigned port;
static atomic_int last_error_status;

static void on_error(void *ctx, const struct http_req *req, struct http_resp *resp, int status)
{
    (void)ctx, (void)req, (void)resp;
    atomic_store(&last_error_status, status);
}

/* Nobody holds 127.0.0.1:p (a plain bind is the honest probe: the server
 * asks for address reuse). */
static bool port_free(unsigned p)
{
    int s = socket(AF_INET, SOCK_STREAM, 0);
    if (s < 0)
        return false;
    struct sockaddr_in a = {0};
    a.sin_family = AF_INET;
    a.sin_port = htons((uint16_t)p);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    bool ok = bind(s, (struct sockaddr *)&a, sizeof a) == 0;
    close(s);
    return ok;
}

static void setup(void)
{
    atomic_store(&last_error_status, 0);
    srv = NULL;
    for (unsigned attempt = 0; attempt < 200 && !srv; attempt++) {
        unsigned p = 20000u + ((unsigned)getpid() * 131u + attempt * 7919u) % 20000u;
        if (!port_free(p))
            continue;
        struct http_server_opts o = {.port = p, .threads = 4, .body_max = BODY_MAX, .routes = routes,
                                     .on_error = on_error, .loopback_only = true};
        srv = http_server_start(&o);
        if (srv)
            port = p;
    }
    ck_assert_msg(srv != NULL, "no loopback port for the test server");
    ck_assert_uint_eq(http_server_port(srv), port);
}

static void teardown(void)
{
    http_server_stop(srv, 2000);
    srv = NULL;
}

/* ---------- the client side ---------- */

/* Sends one request; returns the status (0: no answer) and the body parsed
 * as JSON in *out (NULL when it is not JSON; caller json_decref). */
static long call(const char *method, const char *path, const char *body, const char *const *headers,
                 json_t **out)
{
    char url[512];
    snprintf(url, sizeof url, "http://127.0.0.1:%u%s", port, path);
    struct httpc_req rq = {.method = method, .url = url, .headers = headers, .body = body,
                           .body_len = body ? strlen(body) : 0, .timeout_ms = 5000};
    struct httpc_resp rs;
    bool got = httpc_do(&rq, &rs);
    long status = rs.status;
    if (out) {
        json_error_t je;
        *out = got && rs.body.len ? json_loadb(rs.body.data, rs.body.len, 0, &je) : NULL;
    }
    ck_assert_msg(got, "%s %s: no answer: %s", method, path, rs.error);
    httpc_resp_free(&rs);
    return status;
}

static long post(const char *path, const char *body, json_t **out)
{
    static const char *const json_ct[] = {"Content-Type: application/json", NULL};
    return call("POST", path, body, json_ct, out);
}

static const char *jstr(json_t *o, const char *name)
{
    json_t *v = json_object_get(o, name);
    return json_is_string(v) ? json_string_value(v) : NULL;
}

/* Asserts a PLAIN/DATA error reply: status, {success:false, message, error}
 * with error == code and the message naming what (when what != NULL). */
static void expect_err(const char *path, const char *body, long want_status, const char *code,
                       const char *what)
{
    json_t *o = NULL;
    long st = post(path, body, &o);
    ck_assert_msg(st == want_status, "POST %s %s: status %ld, want %ld", path, body, st, want_status);
    ck_assert_msg(o != NULL, "POST %s %s: reply is not JSON", path, body);
    ck_assert_msg(json_is_false(json_object_get(o, "success")), "POST %s %s: success not false", path, body);
    ck_assert_str_eq(jstr(o, "error"), code);
    const char *msg = jstr(o, "message");
    ck_assert_ptr_nonnull(msg);
    if (what)
        ck_assert_msg(strstr(msg, what) != NULL, "POST %s %s: message \"%s\" does not name %s", path, body,
                      msg, what);
    json_decref(o);
}

static void expect_field_err(const char *body, const char *field)
{
    expect_err("/plain/parse", body, 400, "VALIDATION_ERROR", field);
}

static void expect_bad_json(const char *body)
{
    expect_err("/plain/parse", body, 400, "INVALID_JSON", NULL);
}

/* Asserts 200 on /plain/parse and returns the echoed object. */
static json_t *expect_ok(const char *body)
{
    json_t *o = NULL;
    long st = post("/plain/parse", body, &o);
    ck_assert_msg(st == 200, "POST %s: status %ld, want 200 (%s)", body, st,
                  o && jstr(o, "message") ? jstr(o, "message") : "");
    ck_assert_ptr_nonnull(o);
    return o;
}

/* ---------- field validation ---------- */

START_TEST(parse_required_field)
{
    expect_field_err("{}", "name");
    expect_field_err("{\"name\":null}", "name");
    expect_field_err("{\"temp\":5,\"id\":3}", "name");
    json_t *o = expect_ok("{\"name\":\"Amina\"}");
    ck_assert_str_eq(jstr(o, "name"), "Amina");
    ck_assert_int_eq(json_integer_value(json_object_get(o, "id_int")), -1);
    json_decref(o);
}
END_TEST

START_TEST(parse_wrong_type_names_field)
{
    expect_field_err("{\"name\":5}", "name");
    expect_field_err("{\"name\":[\"a\"]}", "name");
    expect_field_err("{\"name\":\"a\",\"temp\":\"x\"}", "temp");
    expect_field_err("{\"name\":\"a\",\"temp\":\"5\"}", "temp"); /* F_INT is not F_ID */
    expect_field_err("{\"name\":\"a\",\"temp\":2.5}", "temp");
    expect_field_err("{\"name\":\"a\",\"temp\":true}", "temp");
    expect_field_err("{\"name\":\"a\",\"ok\":\"yes\"}", "ok");
    expect_field_err("{\"name\":\"a\",\"ok\":1}", "ok");
    expect_field_err("{\"name\":\"a\",\"score\":\"x\"}", "score");
    json_t *o = expect_ok("{\"name\":\"a\",\"ok\":false,\"score\":12.5,\"temp\":7}");
    ck_assert(json_is_false(json_object_get(o, "ok")));
    json_decref(o);
}
END_TEST

START_TEST(parse_string_length)
{
    json_decref(expect_ok("{\"name\":\"0123456789\"}")); /* 10: the max */
    expect_field_err("{\"name\":\"0123456789A\"}", "name");
    expect_field_err("{\"name\":\"\"}", "name"); /* min 1 */
    json_decref(expect_ok("{\"name\":\"x\"}"));
}
END_TEST

START_TEST(parse_integer_bounds)
{
    json_decref(expect_ok("{\"name\":\"a\",\"temp\":-10}"));
    json_decref(expect_ok("{\"name\":\"a\",\"temp\":40}"));
    json_decref(expect_ok("{\"name\":\"a\",\"temp\":0}"));
    expect_field_err("{\"name\":\"a\",\"temp\":-11}", "temp");
    expect_field_err("{\"name\":\"a\",\"temp\":41}", "temp");
    expect_field_err("{\"name\":\"a\",\"temp\":9223372036854775807}", "temp");
    json_decref(expect_ok("{\"name\":\"a\",\"score\":100}"));
    json_decref(expect_ok("{\"name\":\"a\",\"score\":0}"));
    expect_field_err("{\"name\":\"a\",\"score\":100.5}", "score");
    expect_field_err("{\"name\":\"a\",\"score\":-0.5}", "score");
}
END_TEST

START_TEST(parse_id_number_or_digits)
{
    json_t *o = expect_ok("{\"name\":\"a\",\"id\":5}");
    ck_assert_int_eq(json_integer_value(json_object_get(o, "id_int")), 5);
    json_decref(o);
    o = expect_ok("{\"name\":\"a\",\"id\":\"5\"}");
    ck_assert_str_eq(jstr(o, "id"), "5");
    ck_assert_int_eq(json_integer_value(json_object_get(o, "id_int")), 5);
    json_decref(o);
    json_decref(expect_ok("{\"name\":\"a\",\"id\":\"1000\"}"));
    /* every form the check takes names the same user for the handlers */
    const char *good[] = {"5", "\"5\"", "5.0", "\"0005\"", "1000", "1e3"};
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
        char b[64];
        snprintf(b, sizeof b, "{\"name\":\"a\",\"id\":%s}", good[i]);
        o = expect_ok(b);
        ck_assert_msg(json_integer_value(json_object_get(o, "id_user")) ==
                          json_integer_value(json_object_get(o, "id_int")),
                      "id %s: user_id_of %lld, api_int %lld", good[i],
                      (long long)json_integer_value(json_object_get(o, "id_user")),
                      (long long)json_integer_value(json_object_get(o, "id_int")));
        json_decref(o);
    }

    const char *bad[] = {"\"x\"", "\"5x\"", "\" 5\"", "\"\"", "0", "\"0\"", "1001", "\"1001\"",
                         "\"-3\"", "5.5", "true", "{}"};
    char body[64];
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        snprintf(body, sizeof body, "{\"name\":\"a\",\"id\":%s}", bad[i]);
        expect_field_err(body, "id");
    }
}
END_TEST

START_TEST(parse_malformed_json)
{
    expect_bad_json("{\"name\":");
    expect_bad_json("");
    expect_bad_json("{name:\"a\"}");
    expect_bad_json("{\"name\":\"a\"} trailing");
    expect_bad_json("{\"name\":\"a\",\"name\":\"b\"}"); /* duplicate keys */
    expect_bad_json("{\"name\":\"\xff\"}");              /* not UTF-8 */
    expect_bad_json("{\"name\":\"\xc3");                  /* cut inside a character */
    expect_bad_json("{\"name\":\x7f}");
    expect_bad_json("{\"name\":\"\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9");
    /* the parser's message quotes the body up to a broken escape, here the
     * first byte of a two-byte character: the reply is still the envelope
     * (found by the api_parse fuzzer) */
    expect_bad_json("{\"name\":\"a\\u000\xcf\x9d\"}");
    expect_bad_json("{\"name\":\"\\u\xe2\x82\xac\"}");
}
END_TEST

START_TEST(parse_non_object)
{
    expect_bad_json("[1,2]");
    expect_bad_json("[]");
    expect_bad_json("\"name\"");
    expect_bad_json("5");
    expect_bad_json("null");
}
END_TEST

START_TEST(parse_control_characters)
{
    expect_field_err("{\"name\":\"a\\u0001b\"}", "name");
    expect_field_err("{\"name\":\"a\\u001bb\"}", "name");
    expect_field_err("{\"name\":\"a\\u007fb\"}", "name");
    expect_field_err("{\"name\":\"a\\tb\"}", "name");
    /* raw control bytes or NUL are not JSON at all */
    json_t *o = NULL;
    ck_assert_int_eq(post("/plain/parse", "{\"name\":\"a\x01z\"}", &o), 400);
    json_decref(o);
    ck_assert_int_eq(post("/plain/parse", "{\"name\":\"a\\u0000z\"}", &o), 400);
    json_decref(o);
    /* a newline is text (str.h), as is any other script */
    json_decref(expect_ok("{\"name\":\"a\\nb\"}"));
    json_decref(expect_ok("{\"name\":\"Nyeri \xc3\xa9\"}"));
}
END_TEST

/* ---------- numbers ---------- */

/* What api_json writes for {"x": v}. */
static char *dumped(json_t *v)
{
    struct http_resp resp = {0};
    buf_init(&resp.body, 4096);
    api_json(&resp, 200, json_pack("{s:o}", "x", v));
    char *out = strdup(resp.body.data ? resp.body.data : "");
    buf_free(&resp.body);
    return out;
}

static void prints(double value, int places, const char *want)
{
    char *got = dumped(api_decimal(value, places));
    ck_assert_msg(!strcmp(got, want), "%.17g to %d places: want %s, got %s", value, places, want, got);
    free(got);
}

/* Money and energy print as the decimals they are, rounded to their unit. */
START_TEST(decimals_print_short)
{
    prints(510 / 100.0, 2, "{\"x\":5.1}");
    prints(1234 / 100.0, 2, "{\"x\":12.34}");
    prints(33 / 10.0, 1, "{\"x\":3.3}");
    prints(500, 2, "{\"x\":500.0}");
    prints(12.345678, 2, "{\"x\":12.35}");
    prints(0.1 + 0.2, 2, "{\"x\":0.3}");
    prints(-0.001, 2, "{\"x\":0.0}");
    prints(99999999.99, 2, "{\"x\":99999999.99}");
    prints(1.0 / 0.0, 2, "{\"x\":null}");
    prints(17500 / 1000.0, 3, "{\"x\":17.5}");
}
END_TEST

/* ---------- envelopes ---------- */

START_TEST(envelope_success_shapes)
{
    json_t *o = NULL;
    ck_assert_int_eq(post("/data/parse", "{\"name\":\"Amina\",\"id\":\"7\"}", &o), 200);
    ck_assert_ptr_nonnull(o);
    ck_assert(json_is_true(json_object_get(o, "success")));
    ck_assert_str_eq(jstr(o, "message"), "parsed");
    json_t *d = json_object_get(o, "data");
    ck_assert(json_is_object(d));
    ck_assert_str_eq(jstr(d, "name"), "Amina");
    ck_assert_int_eq(json_integer_value(json_object_get(d, "id_int")), 7);
    ck_assert_int_eq(json_object_size(o), 3);
    json_decref(o);

    /* plain and device: the body as the handler built it */
    ck_assert_int_eq(post("/plain/parse", "{\"name\":\"Amina\"}", &o), 200);
    ck_assert_str_eq(jstr(o, "name"), "Amina");
    ck_assert_ptr_null(json_object_get(o, "success"));
    ck_assert_ptr_null(json_object_get(o, "data"));
    json_decref(o);
    ck_assert_int_eq(post("/dev/parse", "{\"name\":\"Amina\"}", &o), 200);
    ck_assert_str_eq(jstr(o, "name"), "Amina");
    ck_assert_ptr_null(json_object_get(o, "success"));
    json_decref(o);

    /* no body */
    ck_assert_int_eq(call("GET", "/plain/empty", NULL, NULL, &o), 201);
    ck_assert(json_is_true(json_object_get(o, "success")));
    json_decref(o);
    ck_assert_int_eq(call("GET", "/data/empty", NULL, NULL, &o), 201);
    ck_assert(json_is_true(json_object_get(o, "success")));
    ck_assert_str_eq(jstr(o, "message"), "created");
    ck_assert(json_is_null(json_object_get(o, "data")));
    json_decref(o);
}
END_TEST

START_TEST(envelope_error_shapes)
{
    json_t *o = NULL;
    const char *const plainish[] = {"/plain/fail", "/data/fail"};
    for (int i = 0; i < 2; i++) {
        ck_assert_int_eq(call("GET", plainish[i], NULL, NULL, &o), 404);
        ck_assert_ptr_nonnull(o);
        ck_assert(json_is_false(json_object_get(o, "success")));
        ck_assert_str_eq(jstr(o, "message"), "meter MTR-9: not found");
        ck_assert_str_eq(jstr(o, "error"), "NOT_FOUND");
        ck_assert_int_eq(json_object_size(o), 3);
        json_decref(o);
    }
    expect_err("/data/parse", "{}", 400, "VALIDATION_ERROR", "name");

    /* the devices face spells codes in lower case */
    ck_assert_int_eq(call("GET", "/dev/fail", NULL, NULL, &o), 404);
    ck_assert_str_eq(jstr(o, "error"), "not_found");
    ck_assert_str_eq(jstr(o, "message"), "meter MTR-9: not found");
    ck_assert_int_eq(json_object_size(o), 2);
    json_decref(o);
    ck_assert_int_eq(call("GET", "/dev/conflict", NULL, NULL, &o), 409);
    ck_assert_str_eq(jstr(o, "error"), "duplicate_phone");
    ck_assert_int_eq(json_object_size(o), 2);
    json_decref(o);
    ck_assert_int_eq(post("/dev/parse", "{\"name\":7}", &o), 400);
    ck_assert_str_eq(jstr(o, "error"), "validation_error");
    ck_assert_ptr_nonnull(strstr(jstr(o, "message"), "name"));
    ck_assert_ptr_null(json_object_get(o, "success"));
    json_decref(o);
    ck_assert_int_eq(post("/dev/parse", "[", &o), 400);
    ck_assert_str_eq(jstr(o, "error"), "invalid_json");
    json_decref(o);

    /* bare (integrators): {"error": message}, nothing else */
    ck_assert_int_eq(call("GET", "/bare/fail", NULL, NULL, &o), 404);
    ck_assert_str_eq(jstr(o, "error"), "meter MTR-9: not found");
    ck_assert_int_eq(json_object_size(o), 1);
    json_decref(o);
    ck_assert_int_eq(post("/bare/parse", "{\"name\":7}", &o), 400);
    ck_assert_ptr_nonnull(strstr(jstr(o, "error"), "name"));
    ck_assert_int_eq(json_object_size(o), 1);
    json_decref(o);
    ck_assert_int_eq(post("/bare/parse", "{\"name\":\"Amina\"}", &o), 200);
    ck_assert_str_eq(jstr(o, "name"), "Amina");
    ck_assert_ptr_null(json_object_get(o, "success"));
    json_decref(o);
    ck_assert_int_eq(call("GET", "/bare/empty", NULL, NULL, &o), 201);
    ck_assert(json_is_object(o) && json_object_size(o) == 0);
    json_decref(o);
}
END_TEST

/* ---------- cross-origin answers ---------- */

START_TEST(cors_origins)
{
    /* any: "*", with or without an Origin */
    ck_assert_str_eq(cors_allow_origin("*", "https://shop.example"), "*");
    ck_assert_str_eq(cors_allow_origin("*", NULL), "*");
    ck_assert_str_eq(cors_allow_origin(" https://a.example , * ", "https://b.example"), "*");
    /* a list: the origin itself when listed, in any case, a trailing slash ignored */
    const char *list = "https://shop.example, http://localhost:3000/,https://pay.example";
    ck_assert_str_eq(cors_allow_origin(list, "https://shop.example"), "https://shop.example");
    ck_assert_str_eq(cors_allow_origin(list, "HTTPS://Pay.Example"), "HTTPS://Pay.Example");
    ck_assert_str_eq(cors_allow_origin(list, "http://localhost:3000"), "http://localhost:3000");
    /* anything else: no header */
    ck_assert_ptr_null(cors_allow_origin(list, "https://evil.example"));
    ck_assert_ptr_null(cors_allow_origin(list, "https://shop.example.evil.example"));
    ck_assert_ptr_null(cors_allow_origin(list, "https://shop.exampl"));
    ck_assert_ptr_null(cors_allow_origin(list, "http://shop.example"));
    ck_assert_ptr_null(cors_allow_origin(list, "null"));
    ck_assert_ptr_null(cors_allow_origin(list, ""));
    ck_assert_ptr_null(cors_allow_origin(list, NULL));
    ck_assert_ptr_null(cors_allow_origin("", "https://shop.example"));
    /* the setting's shape */
    ck_assert(cors_setting_ok("*"));
    ck_assert(cors_setting_ok(list));
    ck_assert(cors_setting_ok("https://a.example:8443"));
    ck_assert(!cors_setting_ok(""));
    ck_assert(!cors_setting_ok("shop.example"));
    ck_assert(!cors_setting_ok("https://shop.example/path"));
    ck_assert(!cors_setting_ok("https://a.example,,https://b.example"));
    ck_assert(!cors_setting_ok("https://user@a.example"));
    ck_assert(!cors_setting_ok("https://"));
}
END_TEST

START_TEST(error_table)
{
    static const struct {
        enum err e;
        int status;
        const char *code;
    } want[] = {
        {ERR_OK, 200, "OK"},
        {ERR_VALIDATION, 400, "VALIDATION_ERROR"},
        {ERR_BAD_JSON, 400, "INVALID_JSON"},
        {ERR_UNAUTHORIZED, 401, "UNAUTHORIZED"},
        {ERR_FORBIDDEN, 403, "FORBIDDEN"},
        {ERR_NOT_FOUND, 404, "NOT_FOUND"},
        {ERR_METHOD, 405, "METHOD_NOT_ALLOWED"},
        {ERR_CONFLICT, 409, "CONFLICT"},
        {ERR_TOO_LARGE, 413, "PAYLOAD_TOO_LARGE"},
        {ERR_RATE_LIMIT, 429, "RATE_LIMIT_EXCEEDED"},
        {ERR_INTERNAL, 500, "INTERNAL_ERROR"},
        {ERR_PROVIDER, 502, "PROVIDER_ERROR"},
        {ERR_UNAVAILABLE, 503, "SERVICE_UNAVAILABLE"},
    };
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
        ck_assert_int_eq(api_status(want[i].e), want[i].status);
        ck_assert_str_eq(api_code(want[i].e), want[i].code);
    }
}
END_TEST

/* ---------- admin key ---------- */

static long admin_with(const char *header, json_t **o)
{
    const char *const h[] = {header, NULL};
    return call("GET", "/admin", NULL, header ? h : NULL, o);
}

START_TEST(admin_key_required)
{
    json_t *o = NULL;
    ck_assert_int_eq(admin_with(NULL, &o), 401);
    ck_assert(json_is_false(json_object_get(o, "success")));
    ck_assert_str_eq(jstr(o, "error"), "UNAUTHORIZED");
    json_decref(o);
    const char *const bad[] = {
        "Authorization: Bearer wrong-key",
        "Authorization: Basic " ADMIN_KEY,
        "Authorization: " ADMIN_KEY,
        "Authorization: Bearer" ADMIN_KEY,
        "Authorization: Bearer " ADMIN_KEY "x",
        "Authorization: Bearer lipa-test-admin-key-012345678",
        "Authorization: Bearer ",
        "X-Admin-Key: " ADMIN_KEY,
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        ck_assert_msg(admin_with(bad[i], &o) == 401, "accepted \"%s\"", bad[i]);
        json_decref(o);
    }
    ck_assert_int_eq(admin_with("Authorization: Bearer " ADMIN_KEY, &o), 200);
    ck_assert(json_is_true(json_object_get(o, "admin")));
    json_decref(o);
    ck_assert_int_eq(admin_with("authorization: Bearer " ADMIN_KEY, &o), 200); /* names are case-blind */
    json_decref(o);
}
END_TEST

/* ---------- router ---------- */

START_TEST(router_404_405_trailing_slash)
{
    json_t *o = NULL;
    ck_assert_int_eq(call("GET", "/nope", NULL, NULL, &o), 404);
    ck_assert(json_is_false(json_object_get(o, "success")));
    json_decref(o);
    ck_assert_int_eq(atomic_load(&last_error_status), 404);

    ck_assert_int_eq(post("/only-get", "{}", &o), 405);
    ck_assert(json_is_false(json_object_get(o, "success")));
    json_decref(o);
    ck_assert_int_eq(atomic_load(&last_error_status), 405);
    ck_assert_int_eq(call("PUT", "/items/5", "{}", NULL, &o), 405);
    json_decref(o);

    ck_assert_int_eq(call("GET", "/only-get", NULL, NULL, &o), 201);
    json_decref(o);
    ck_assert_int_eq(call("GET", "/only-get/", NULL, NULL, &o), 201);
    json_decref(o);
    ck_assert_int_eq(call("GET", "/only-get//", NULL, NULL, &o), 404);
    json_decref(o);
    ck_assert_int_eq(call("GET", "/only-get/more", NULL, NULL, &o), 404);
    json_decref(o);
    ck_assert_int_eq(call("GET", "/only", NULL, NULL, &o), 404);
    json_decref(o);
    ck_assert_int_eq(call("GET", "/", NULL, NULL, &o), 404);
    json_decref(o);
}
END_TEST

START_TEST(router_path_params)
{
    json_t *o = NULL;
    ck_assert_int_eq(call("GET", "/x/MTR-1/y/42", NULL, NULL, &o), 200);
    ck_assert_int_eq(json_integer_value(json_object_get(o, "n")), 2);
    ck_assert_str_eq(jstr(o, "a"), "MTR-1");
    ck_assert_str_eq(jstr(o, "b"), "42");
    ck_assert_str_eq(jstr(o, "method"), "GET");
    ck_assert_str_eq(jstr(o, "ip"), "127.0.0.1");
    ck_assert(json_is_null(json_object_get(o, "q")));
    json_decref(o);

    ck_assert_int_eq(call("GET", "/x/a/y/b/", NULL, NULL, &o), 200);
    ck_assert_str_eq(jstr(o, "a"), "a");
    ck_assert_str_eq(jstr(o, "b"), "b");
    json_decref(o);

    const char *const miss[] = {"/x//y/2", "/x/1/y", "/x/1/y/", "/x/1/y/2/z", "/x/1/z/2", "/x/1"};
    for (size_t i = 0; i < sizeof miss / sizeof miss[0]; i++) {
        ck_assert_msg(call("GET", miss[i], NULL, NULL, &o) == 404, "%s routed", miss[i]);
        json_decref(o);
    }

    ck_assert_int_eq(call("GET", "/x/MTR%201/y/%C3%A9", NULL, NULL, &o), 200);
    ck_assert_str_eq(jstr(o, "a"), "MTR 1");
    ck_assert_str_eq(jstr(o, "b"), "\xc3\xa9");
    json_decref(o);

    ck_assert_int_eq(call("DELETE", "/items/u-77", NULL, NULL, &o), 200);
    ck_assert_int_eq(json_integer_value(json_object_get(o, "n")), 1);
    ck_assert_str_eq(jstr(o, "a"), "u-77");
    ck_assert_str_eq(jstr(o, "method"), "DELETE");
    json_decref(o);
}
END_TEST

START_TEST(router_query_string)
{
    json_t *o = NULL;
    ck_assert_int_eq(call("GET", "/x/1/y/2?q=hello%20world&page=3&q=second", NULL, NULL, &o), 200);
    ck_assert_str_eq(jstr(o, "q"), "hello world");
    ck_assert_str_eq(jstr(o, "page"), "3");
    ck_assert_str_eq(jstr(o, "a"), "1"); /* the query is not part of the path */
    ck_assert_str_eq(jstr(o, "b"), "2");
    json_decref(o);
    ck_assert_int_eq(call("GET", "/x/1/y/2/?page=", NULL, NULL, &o), 200);
    ck_assert_str_eq(jstr(o, "page"), "");
    ck_assert(json_is_null(json_object_get(o, "q")));
    json_decref(o);
}
END_TEST

/* ---------- body cap ---------- */

/* A valid body for /plain/parse of exactly n bytes. */
static char *body_of_size(size_t n)
{
    static const char head[] = "{\"name\":\"Amina\",\"pad\":\"";
    size_t h = sizeof head - 1;
    ck_assert_uint_ge(n, h + 2);
    char *b = malloc(n + 1);
    ck_assert_ptr_nonnull(b);
    memcpy(b, head, h);
    memset(b + h, 'x', n - h - 2);
    memcpy(b + n - 2, "\"}", 2);
    b[n] = 0;
    return b;
}

START_TEST(body_cap_content_length)
{
    json_t *o = NULL;
    char *b = body_of_size(BODY_MAX);
    ck_assert_int_eq(post("/plain/parse", b, &o), 200);
    ck_assert_str_eq(jstr(o, "name"), "Amina");
    json_decref(o);
    free(b);

    b = body_of_size(BODY_MAX + 1);
    ck_assert_int_eq(post("/plain/parse", b, &o), 413);
    json_decref(o);
    free(b);
    ck_assert_int_eq(atomic_load(&last_error_status), 413);

    b = body_of_size(64 * 1024);
    ck_assert_int_eq(post("/plain/parse", b, &o), 413);
    json_decref(o);
    free(b);

    /* an unknown path with a big body is still 413, before routing */
    b = body_of_size(4 * BODY_MAX);
    ck_assert_int_eq(post("/nope", b, &o), 413);
    json_decref(o);
    free(b);
}
END_TEST

/* Sends raw bytes to the server and returns the status of the answer. */
static int raw_status(const char *req, size_t len)
{
    int s = socket(AF_INET, SOCK_STREAM, 0);
    ck_assert_int_ge(s, 0);
    struct sockaddr_in a = {0};
    a.sin_family = AF_INET;
    a.sin_port = htons((uint16_t)port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    struct timeval tv = {5, 0};
    setsockopt(s, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    ck_assert_int_eq(connect(s, (struct sockaddr *)&a, sizeof a), 0);
    size_t off = 0;
    while (off < len) {
        ssize_t w = send(s, req + off, len - off, MSG_NOSIGNAL);
        if (w <= 0)
            break; /* the server may answer and close early */
        off += (size_t)w;
    }
    char resp[1024];
    size_t got = 0;
    while (got < sizeof resp - 1) {
        ssize_t r = recv(s, resp + got, sizeof resp - 1 - got, 0);
        if (r <= 0)
            break;
        got += (size_t)r;
    }
    resp[got] = 0;
    close(s);
    int status = 0;
    if (!strncmp(resp, "HTTP/1.1 ", 9) || !strncmp(resp, "HTTP/1.0 ", 9)) {
        char code[4] = {resp[9], resp[10], resp[11], 0};
        int64_t v;
        if (str_to_i64(code, 100, 599, &v))
            status = (int)v;
    }
    return status;
}

/* A chunked POST of /plain/parse whose body is `total` bytes in chunks. */
static int chunked_post(size_t total, size_t chunk)
{
    char *body = body_of_size(total);
    struct buf b;
    buf_init(&b, 1u << 20);
    buf_printf(&b, "POST /plain/parse HTTP/1.1\r\nHost: 127.0.0.1:%u\r\nContent-Type: application/json\r\n"
                   "Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n", port);
    for (size_t off = 0; off < total; off += chunk) {
        size_t n = total - off < chunk ? total - off : chunk;
        buf_printf(&b, "%zx\r\n", n);
        buf_append(&b, body + off, n);
        buf_puts(&b, "\r\n");
    }
    buf_puts(&b, "0\r\n\r\n");
    ck_assert(!b.over);
    int status = raw_status(b.data, b.len);
    buf_free(&b);
    free(body);
    return status;
}

START_TEST(body_cap_chunked)
{
    ck_assert_int_eq(chunked_post(100, 30), 200);
    ck_assert_int_eq(chunked_post(BODY_MAX, 64), 200);
    ck_assert_int_eq(chunked_post(BODY_MAX + 1, 64), 413);
    ck_assert_int_eq(chunked_post(8 * BODY_MAX, 100), 413);
    ck_assert_int_eq(atomic_load(&last_error_status), 413);
}
END_TEST

Suite *test_suite(void)
{
    Suite *s = suite_create("api");
    TCase *tc = tcase_create("parse");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, parse_required_field);
    tcase_add_test(tc, parse_wrong_type_names_field);
    tcase_add_test(tc, parse_string_length);
    tcase_add_test(tc, parse_integer_bounds);
    tcase_add_test(tc, parse_id_number_or_digits);
    tcase_add_test(tc, parse_malformed_json);
    tcase_add_test(tc, parse_non_object);
    tcase_add_test(tc, parse_control_characters);
    suite_add_tcase(s, tc);

    tc = tcase_create("envelopes");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, envelope_success_shapes);
    tcase_add_test(tc, envelope_error_shapes);
    tcase_add_test(tc, error_table);
    tcase_add_test(tc, cors_origins);
    tcase_add_test(tc, admin_key_required);
    tcase_add_test(tc, decimals_print_short);
    suite_add_tcase(s, tc);

    tc = tcase_create("router");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, router_404_405_trailing_slash);
    tcase_add_test(tc, router_path_params);
    tcase_add_test(tc, router_query_string);
    tcase_add_test(tc, body_cap_content_length);
    tcase_add_test(tc, body_cap_chunked);
    suite_add_tcase(s, tc);
    return s;
}
