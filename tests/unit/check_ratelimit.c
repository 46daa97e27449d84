/* check_ratelimit: the per-client request budget (http/ratelimit.h). The
 * counting is driven with explicit clocks; the HTTP face runs in the real
 * server on 127.0.0.1 (http_server_opts.rate_limit) with one handler that
 * calls http_rate_limit and one that does not, and asserts what a client
 * sees: the X-RateLimit-* headers, the 429 in the water face's envelope, and
 * the exempt route never refused. */
#include "runner.h"
#include "http/ratelimit.h"

#include "http/api.h"
#include "http/server.h"

#include <check.h>
#include <jansson.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

START_TEST(counts_within_a_window)
{
    struct ratelimit *rl = ratelimit_new(3, 60, 0);
    struct ratelimit_verdict v;
    ck_assert_ptr_nonnull(rl);
    int64_t t = 1700000000000;
    for (int i = 0; i < 3; i++) {
        ratelimit_take(rl, "10.0.0.1", t + i, &v);
        ck_assert(v.allowed);
        ck_assert_int_eq(v.limit, 3);
        ck_assert_int_eq(v.remaining, 2 - i);
        ck_assert_int_eq(v.reset_ms, t + 60000);
    }
    ratelimit_take(rl, "10.0.0.1", t + 10, &v);
    ck_assert(!v.allowed);
    ck_assert_int_eq(v.remaining, 0);
    /* another client has its own budget */
    ratelimit_take(rl, "10.0.0.2", t + 10, &v);
    ck_assert(v.allowed);
    ck_assert_int_eq(v.remaining, 2);
    /* still refused until the window closes, then a fresh budget */
    ratelimit_take(rl, "10.0.0.1", t + 59999, &v);
    ck_assert(!v.allowed);
    ratelimit_take(rl, "10.0.0.1", t + 60000, &v);
    ck_assert(v.allowed);
    ck_assert_int_eq(v.remaining, 2);
    ck_assert_int_eq(v.reset_ms, t + 120000);
    ratelimit_free(rl);
}
END_TEST

START_TEST(ipv6_counts_per_64)
{
    struct ratelimit *rl = ratelimit_new(2, 60, 0);
    struct ratelimit_verdict v;
    ratelimit_take(rl, "2001:db8:1:2::1", 1000, &v);
    ratelimit_take(rl, "2001:db8:1:2:ffff::9", 1001, &v);
    ck_assert(v.allowed);
    ratelimit_take(rl, "2001:db8:1:2:abcd::1", 1002, &v);
    ck_assert_msg(!v.allowed, "the same /64 shares a budget");
    ratelimit_take(rl, "2001:db8:1:3::1", 1003, &v);
    ck_assert(v.allowed);
    /* an IPv4-mapped address is its IPv4 address */
    ratelimit_take(rl, "192.0.2.7", 1004, &v);
    ratelimit_take(rl, "::ffff:192.0.2.7", 1005, &v);
    ck_assert(v.allowed);
    ratelimit_take(rl, "192.0.2.7", 1006, &v);
    ck_assert(!v.allowed);
    ratelimit_free(rl);
}
END_TEST

START_TEST(keys_count_apart)
{
    /* an integrator's client id: each has its own budget, whatever the
     * ids have in common */
    struct ratelimit *rl = ratelimit_new(2, 60, 0);
    struct ratelimit_verdict v;
    const char *a = "550e8400-e29b-41d4-a716-446655440000", *b = "550e8400-e29b-41d4-a716-446655440001";
    ratelimit_take_key(rl, a, 1000, &v);
    ratelimit_take_key(rl, a, 1001, &v);
    ck_assert(v.allowed);
    ck_assert_int_eq(v.remaining, 0);
    ratelimit_take_key(rl, a, 1002, &v);
    ck_assert(!v.allowed);
    ck_assert_int_eq(v.reset_ms, 61000);
    ratelimit_take_key(rl, b, 1003, &v);
    ck_assert(v.allowed);
    ck_assert_int_eq(v.remaining, 1);
    ratelimit_take_key(rl, a, 61000, &v); /* the window closed */
    ck_assert(v.allowed);
    ratelimit_free(rl);
}
END_TEST

START_TEST(bounded_memory_forgets_the_oldest)
{
    /* 16 slots: 2 sets of 8. 1000 distinct clients fit in no table this
     * small; each still gets an answer, and a client seen just now is
     * remembered while the flood goes on elsewhere. */
    struct ratelimit *rl = ratelimit_new(1, 3600, 16);
    struct ratelimit_verdict v;
    char ip[32];
    for (int i = 0; i < 1000; i++) {
        snprintf(ip, sizeof ip, "10.1.%d.%d", i / 250, i % 250 + 1);
        ratelimit_take(rl, ip, 1000 + i, &v);
        ck_assert(v.allowed);
        ratelimit_take(rl, ip, 1000 + i, &v);
        ck_assert_msg(!v.allowed, "%s: a second request right away is refused", ip);
    }
    /* the first client was pushed out long ago: it starts afresh */
    ratelimit_take(rl, "10.1.0.1", 2000, &v);
    ck_assert_msg(v.allowed, "the oldest client is forgotten");
    ratelimit_free(rl);
    ck_assert_ptr_null(ratelimit_new(0, 60, 0));
    ck_assert_ptr_null(ratelimit_new(10, 0, 0));
}
END_TEST

struct race {
    struct ratelimit *rl;
    atomic_int allowed;
};

static void *hammer(void *arg)
{
    struct race *r = arg;
    struct ratelimit_verdict v;
    for (int i = 0; i < 5000; i++) {
        ratelimit_take(r->rl, "198.51.100.1", 5000, &v);
        if (v.allowed)
            atomic_fetch_add(&r->allowed, 1);
    }
    return NULL;
}

START_TEST(exact_under_contention)
{
    struct race r = {.rl = ratelimit_new(1234, 60, 0)};
    pthread_t t[8];
    for (int i = 0; i < 8; i++)
        pthread_create(&t[i], NULL, hammer, &r);
    for (int i = 0; i < 8; i++)
        pthread_join(t[i], NULL);
    ck_assert_int_eq(atomic_load(&r.allowed), 1234);
    ratelimit_free(r.rl);
}
END_TEST

/* ---------- through the server ---------- */

static void h_limited(void *ctx, struct http_req *req, struct http_resp *resp)
{
    (void)ctx;
    if (!http_rate_limit(req, resp))
        return;
    api_ok(req, resp, 200, "fine", json_pack("{s:b}", "limited", 1));
}

static void h_free_route(void *ctx, struct http_req *req, struct http_resp *resp)
{
    (void)ctx;
    api_ok(req, resp, 200, "fine", NULL);
}

static const struct http_route routes[] = {
    {"GET", "/api/limited", h_limited, ENV_DATA, 0},
    {"POST", "/api/callback", h_free_route, ENV_DATA, 0},
    {NULL, NULL, NULL, 0, 0},
};

static struct http_server *start(unsigned *port, int64_t limit, int64_t window)
{
    for (int tries = 0; tries < 20; tries++) {
        *port = 30000 + (unsigned)((getpid() * 7 + tries * 131) % 20000);
        struct http_server_opts o = {.port = *port, .threads = 2, .body_max = 4096, .routes = routes,
                                     .loopback_only = true, .rate_limit = limit, .rate_window_s = window};
        struct http_server *s = http_server_start(&o);
        if (s)
            return s;
    }
    ck_abort_msg("cannot listen");
    return NULL;
}

/* A raw HTTP/1.0 exchange (httpc keeps no response headers): the whole
 * answer, headers and body, in out; returns the status. */
static long raw(unsigned port, const char *method, const char *path, char *out, size_t n)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ck_assert_int_eq(connect(fd, (struct sockaddr *)&a, sizeof a), 0);
    char rq[256];
    int len = snprintf(rq, sizeof rq, "%s %s HTTP/1.0\r\nHost: x\r\nContent-Length: 0\r\n\r\n", method, path);
    ck_assert_int_eq(write(fd, rq, (size_t)len), len);
    size_t got = 0;
    ssize_t k;
    while (got + 1 < n && (k = read(fd, out + got, n - 1 - got)) > 0)
        got += (size_t)k;
    out[got] = 0;
    close(fd);
    return strtol(out + 9, NULL, 10); /* "HTTP/1.x NNN" */
}

/* The value of header name in a raw answer, or "". */
static void header_of(const char *raw_answer, const char *name, char *out, size_t n)
{
    out[0] = 0;
    size_t nl = strlen(name);
    for (const char *p = raw_answer; *p && strncmp(p, "\r\n", 2);) {
        const char *e = strstr(p, "\r\n");
        size_t len = e ? (size_t)(e - p) : strlen(p);
        if (len > nl + 1 && !strncasecmp(p, name, nl) && p[nl] == ':') {
            const char *v = p + nl + 1;
            while (*v == ' ')
                v++;
            size_t vl = len - (size_t)(v - p);
            if (vl >= n)
                vl = n - 1;
            memcpy(out, v, vl);
            out[vl] = 0;
            return;
        }
        p += len + (e ? 2 : 0);
    }
}

static const char *body_of(const char *raw_answer)
{
    const char *b = strstr(raw_answer, "\r\n\r\n");
    return b ? b + 4 : "";
}

START_TEST(server_headers_and_429)
{
    unsigned port;
    struct http_server *s = start(&port, 3, 2);
    char ans[4096], v[64];
    for (int i = 0; i < 3; i++) {
        ck_assert_int_eq(raw(port, "GET", "/api/limited", ans, sizeof ans), 200);
        header_of(ans, "X-RateLimit-Limit", v, sizeof v);
        ck_assert_str_eq(v, "3");
        header_of(ans, "X-RateLimit-Remaining", v, sizeof v);
        ck_assert_int_eq(strtol(v, NULL, 10), 2 - i);
        header_of(ans, "X-RateLimit-Reset", v, sizeof v);
        long long reset = strtoll(v, NULL, 10);
        ck_assert_msg(reset >= time(NULL) && reset <= time(NULL) + 3, "reset %s", v);
    }
    ck_assert_int_eq(raw(port, "GET", "/api/limited", ans, sizeof ans), 429);
    json_t *j = json_loads(body_of(ans), 0, NULL);
    ck_assert_msg(j, "429 body is JSON: %s", ans);
    ck_assert(json_is_false(json_object_get(j, "success")));
    ck_assert_str_eq(json_string_value(json_object_get(j, "message")),
                     "Too many requests from this IP, please try again later.");
    ck_assert_str_eq(json_string_value(json_object_get(j, "error")), "RATE_LIMIT_EXCEEDED");
    json_decref(j);
    header_of(ans, "X-RateLimit-Remaining", v, sizeof v);
    ck_assert_str_eq(v, "0");
    header_of(ans, "Retry-After", v, sizeof v);
    ck_assert_msg(strtol(v, NULL, 10) >= 1 && strtol(v, NULL, 10) <= 2, "Retry-After %s", v);
    /* the route that does not ask is never counted nor refused */
    for (int i = 0; i < 5; i++) {
        ck_assert_int_eq(raw(port, "POST", "/api/callback", ans, sizeof ans), 200);
        header_of(ans, "X-RateLimit-Limit", v, sizeof v);
        ck_assert_str_eq(v, "");
    }
    /* after the window, a fresh budget */
    usleep(2100 * 1000);
    ck_assert_int_eq(raw(port, "GET", "/api/limited", ans, sizeof ans), 200);
    header_of(ans, "X-RateLimit-Remaining", v, sizeof v);
    ck_assert_str_eq(v, "2");
    http_server_stop(s, 1000);
}
END_TEST

START_TEST(server_without_limit)
{
    unsigned port;
    struct http_server *s = start(&port, 0, 900);
    char ans[4096], v[64];
    for (int i = 0; i < 20; i++) {
        ck_assert_int_eq(raw(port, "GET", "/api/limited", ans, sizeof ans), 200);
        header_of(ans, "X-RateLimit-Limit", v, sizeof v);
        ck_assert_str_eq(v, "");
    }
    http_server_stop(s, 1000);
}
END_TEST
Suite *test_suite(void)
{
    Suite *s = suite_create("ratelimit");
    TCase *tc = tcase_create("counting");
    tcase_add_test(tc, counts_within_a_window);
    tcase_add_test(tc, ipv6_counts_per_64);
    tcase_add_test(tc, keys_count_apart);
    tcase_add_test(tc, bounded_memory_forgets_the_oldest);
    tcase_add_test(tc, exact_under_contention);
    suite_add_tcase(s, tc);
    tc = tcase_create("http");
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, server_headers_and_429);
    tcase_add_test(tc, server_without_limit);
    suite_add_tcase(s, tc);
    return s;
}
