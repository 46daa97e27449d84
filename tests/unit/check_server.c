/* check_server: the HTTP server's promises that no thread waits (parked
 * requests with deadlines, lanes for handlers that call providers) and its
 * connection guard (http/guard.h). The guard's rules are driven with an
 * explicit clock and socket pairs; the server runs for real on 127.0.0.1
 * and is spoken to with raw HTTP/1.0. */
#include "runner.h"
#include "http/guard.h"
#include "http/server.h"

#include <check.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>

static struct sockaddr_in v4(const char *ip)
{
    struct sockaddr_in a = {.sin_family = AF_INET};
    inet_pton(AF_INET, ip, &a.sin_addr);
    return a;
}

static struct sockaddr_in6 v6(const char *ip)
{
    struct sockaddr_in6 a = {.sin6_family = AF_INET6};
    inet_pton(AF_INET6, ip, &a.sin6_addr);
    return a;
}

/* True when the other end of a socket pair was shut down. */
static bool peer_shut(int fd)
{
    struct pollfd p = {.fd = fd, .events = POLLIN};
    char c;
    return poll(&p, 1, 0) == 1 && recv(fd, &c, 1, MSG_DONTWAIT) == 0;
}

START_TEST(guard_caps_each_address)
{
    struct guard_opts o = {.max_conns = 100, .per_ip = 2, .header_ms = 1000, .body_ms = 1000, .no_thread = true};
    struct guard *g = guard_new(&o);
    struct sockaddr_in a = v4("10.0.0.1"), b = v4("10.0.0.2");
    struct guard_conn *c[3];
    ck_assert(guard_admit(g, (struct sockaddr *)&a));
    c[0] = guard_open(g, -1, (struct sockaddr *)&a);
    ck_assert(guard_admit(g, (struct sockaddr *)&a));
    c[1] = guard_open(g, -1, (struct sockaddr *)&a);
    ck_assert(!guard_admit(g, (struct sockaddr *)&a)); /* a third from the same address */
    ck_assert(guard_admit(g, (struct sockaddr *)&b));  /* another address is not affected */
    c[2] = guard_open(g, -1, (struct sockaddr *)&b);
    ck_assert_uint_eq(guard_open_count(g), 3);
    ck_assert_uint_eq(guard_ip_count(g, (struct sockaddr *)&a), 2);
    guard_close(g, c[0]);
    ck_assert(guard_admit(g, (struct sockaddr *)&a)); /* room again once one closed */
    guard_close(g, c[1]);
    guard_close(g, c[2]);
    ck_assert_uint_eq(guard_ip_count(g, (struct sockaddr *)&a), 0);
    ck_assert_uint_eq(guard_open_count(g), 0);
    guard_free(g);
}
END_TEST

START_TEST(guard_counts_ipv6_per_64)
{
    struct guard_opts o = {.max_conns = 100, .per_ip = 1, .header_ms = 1000, .body_ms = 1000, .no_thread = true};
    struct guard *g = guard_new(&o);
    struct sockaddr_in6 a = v6("2001:db8:1:2::1"), same64 = v6("2001:db8:1:2:ffff::9"), other = v6("2001:db8:1:3::1");
    struct sockaddr_in6 mapped = v6("::ffff:10.0.0.7");
    struct sockaddr_in plain = v4("10.0.0.7");
    struct guard_conn *c1 = guard_open(g, -1, (struct sockaddr *)&a);
    ck_assert(!guard_admit(g, (struct sockaddr *)&same64)); /* one host holds a whole /64 */
    ck_assert(guard_admit(g, (struct sockaddr *)&other));
    struct guard_conn *c2 = guard_open(g, -1, (struct sockaddr *)&mapped);
    ck_assert(!guard_admit(g, (struct sockaddr *)&plain)); /* the same IPv4 client either way */
    guard_close(g, c1);
    guard_close(g, c2);
    guard_free(g);
}
END_TEST

START_TEST(guard_drops_what_is_late)
{
    struct guard_opts o = {.max_conns = 100, .per_ip = 0, .header_ms = 1000, .body_ms = 500, .no_thread = true};
    struct guard *g = guard_new(&o);
    struct sockaddr_in a = v4("10.0.0.1");
    int idle[2], body[2], busy[2];
    ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, idle), 0);
    ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, body), 0);
    ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, busy), 0);
    int64_t t = guard_now();
    struct guard_conn *ci = guard_open(g, idle[0], (struct sockaddr *)&a);
    struct guard_conn *cb = guard_open(g, body[0], (struct sockaddr *)&a);
    struct guard_conn *cx = guard_open(g, busy[0], (struct sockaddr *)&a);
    guard_phase_body(cb);
    guard_phase_busy(cx);
    ck_assert_int_eq(guard_reap(g, t + 400), 0);  /* nobody is late yet */
    ck_assert_int_eq(guard_reap(g, t + 700), 1);  /* the body's deadline (500 ms) */
    ck_assert(peer_shut(body[1]));
    ck_assert(!peer_shut(idle[1]));
    ck_assert_int_eq(guard_reap(g, t + 1200), 1); /* the headers' (1 s) */
    ck_assert(peer_shut(idle[1]));
    ck_assert_int_eq(guard_reap(g, t + 60000), 0); /* a request being handled is not the guard's */
    ck_assert(!peer_shut(busy[1]));
    guard_phase_idle(cx); /* answered: the next request's headers are due in 1 s */
    ck_assert_int_eq(guard_reap(g, guard_now() + 900), 0);
    ck_assert_int_eq(guard_reap(g, guard_now() + 1100), 1);
    ck_assert(peer_shut(busy[1]));
    guard_close(g, ci);
    guard_close(g, cb);
    guard_close(g, cx);
    for (int i = 0; i < 2; i++) {
        close(idle[i]);
        close(body[i]);
        close(busy[i]);
    }
    guard_free(g);
}
END_TEST

START_TEST(guard_under_pressure_makes_room)
{
    struct guard_opts o = {.max_conns = 4, .per_ip = 0, .header_ms = 30000, .body_ms = 30000, .no_thread = true};
    struct guard *g = guard_new(&o);
    struct sockaddr_in a = v4("10.0.0.1");
    int sp[4][2];
    struct guard_conn *c[4];
    int64_t t = guard_now();
    for (int i = 0; i < 3; i++) {
        ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sp[i]), 0);
        c[i] = guard_open(g, sp[i][0], (struct sockaddr *)&a);
    }
    ck_assert_int_eq(guard_reap(g, t + GUARD_PRESSURE_MS + 100), 0); /* 3 of 4: no pressure yet */
    ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sp[3]), 0);
    c[3] = guard_open(g, sp[3][0], (struct sockaddr *)&a);
    guard_phase_busy(c[3]);
    /* all 4 open: idle ones get a second, not 30 */
    ck_assert_int_eq(guard_reap(g, t + GUARD_PRESSURE_MS + 100), 3);
    for (int i = 0; i < 4; i++) {
        guard_close(g, c[i]);
        close(sp[i][0]);
        close(sp[i][1]);
    }
    guard_free(g);
}
END_TEST

/* ---- the server ---- */

static atomic_int lane_running;

static void h_fast(void *ctx, struct http_req *req, struct http_resp *resp)
{
    (void)ctx, (void)req;
    http_resp_text(resp, 200, "text/plain", "fast");
}

/* A provider call that takes 400 ms, on a lane: it sees its request's
 * path parameter, query and headers, copied off the HTTP thread. */
static void h_slow(void *ctx, struct http_req *req, struct http_resp *resp)
{
    (void)ctx;
    atomic_fetch_add(&lane_running, 1);
    usleep(400 * 1000);
    char out[200];
    const char *h = http_header(req, "X-Who");
    snprintf(out, sizeof out, "slow %s %s %s", req->params[0], http_query(req, "q") ? http_query(req, "q") : "-",
             h ? h : "-");
    http_resp_text(resp, 200, "text/plain", out);
    atomic_fetch_sub(&lane_running, 1);
}

static void late_202(void *arg, struct http_resp *resp)
{
    http_resp_text(resp, 202, "text/plain", arg);
}

/* Parks with a 200 ms deadline; a thread answers after ?after= ms. */
struct answerer {
    struct http_deferred *d;
    int after_ms;
};

static void *answer_later(void *arg)
{
    struct answerer *w = arg;
    usleep((useconds_t)w->after_ms * 1000);
    struct http_resp *r = http_defer_claim(w->d);
    if (r)
        http_resp_text(r, 200, "text/plain", "owner");
    http_defer_done(w->d);
    free(w);
    return NULL;
}

static void h_park(void *ctx, struct http_req *req, struct http_resp *resp)
{
    (void)ctx;
    struct answerer *w = malloc(sizeof *w);
    w->after_ms = (int)strtol(http_query(req, "after") ? http_query(req, "after") : "0", NULL, 10);
    http_resp_header(resp, "X-Kept", "set before parking"); /* goes out with the parked answer */
    w->d = http_defer_until(req, 200, late_202, strdup("late"), free);
    if (!w->d) {
        free(w);
        http_resp_text(resp, 500, "text/plain", "could not park");
        return;
    }
    pthread_t t;
    pthread_create(&t, NULL, answer_later, w);
    pthread_detach(t);
}

/* Parks with no deadline and nobody to answer: only the stop will. */
static struct http_deferred *forgotten;
static void h_forgotten(void *ctx, struct http_req *req, struct http_resp *resp)
{
    (void)ctx, (void)resp;
    forgotten = http_defer(req);
}

/* Answers the address the request came from, as handlers see it. */
static void h_ip(void *ctx, struct http_req *req, struct http_resp *resp)
{
    (void)ctx;
    http_resp_text(resp, 200, "text/plain", req->client_ip);
}

static const struct http_route routes[] = {
    {"GET", "/fast", h_fast, 0, 0},
    {"GET", "/ip", h_ip, 0, 0},
    {"GET", "/slow/{id}", h_slow, 0, 1},
    {"GET", "/park", h_park, 0, 0},
    {"GET", "/forgotten", h_forgotten, 0, 0},
    {NULL, NULL, NULL, 0, 0},
};

static void on_error(void *ctx, const struct http_req *req, struct http_resp *resp, int status)
{
    (void)ctx;
    char t[160];
    const char *origin = http_header(req, "Origin");
    snprintf(t, sizeof t, "error %d %s%s%s", status, req->route ? req->route->pattern : "-", origin ? " from " : "",
             origin ? origin : "");
    http_resp_text(resp, status, "text/plain", t);
}

static struct http_server *start(unsigned *port, int64_t deadline_ms)
{
    static struct http_lane lane = {.name = "test", .threads = 1, .queue_max = 1};
    lane.deadline_ms = deadline_ms;
    for (int tries = 0; tries < 20; tries++) {
        *port = 30000 + (unsigned)((getpid() * 11 + tries * 131) % 20000);
        struct http_server_opts o = {.port = *port, .threads = 1, .body_max = 4096, .routes = routes,
                                     .on_error = on_error, .loopback_only = true, .lanes = &lane, .nlanes = 1};
        struct http_server *s = http_server_start(&o);
        if (s)
            return s;
    }
    ck_abort_msg("cannot listen");
    return NULL;
}

/* The whole of the last answer get() read, head and body. */
static char last_answer[2048];

/* One raw HTTP/1.0 exchange: the body into out, the status returned, the
 * time it took in *ms. */
static long get(unsigned port, const char *path, const char *extra, char *out, size_t n, int64_t *ms)
{
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ck_assert_int_eq(connect(fd, (struct sockaddr *)&a, sizeof a), 0);
    char rq[256], ans[2048];
    int len = snprintf(rq, sizeof rq, "GET %s HTTP/1.0\r\nHost: x\r\n%s\r\n", path, extra ? extra : "");
    ck_assert_int_eq(write(fd, rq, (size_t)len), len);
    size_t got = 0;
    ssize_t k;
    while (got + 1 < sizeof ans && (k = read(fd, ans + got, sizeof ans - 1 - got)) > 0)
        got += (size_t)k;
    ans[got] = 0;
    memcpy(last_answer, ans, got + 1);
    close(fd);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    if (ms)
        *ms = (t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000;
    const char *b = strstr(ans, "\r\n\r\n");
    snprintf(out, n, "%s", b ? b + 4 : "");
    return got > 12 ? strtol(ans + 9, NULL, 10) : 0;
}

struct getter {
    unsigned port;
    const char *path;
    long status;
    char body[256];
    int64_t ms;
};

static void *get_main(void *arg)
{
    struct getter *g = arg;
    g->status = get(g->port, g->path, "X-Who: tester\r\n", g->body, sizeof g->body, &g->ms);
    return NULL;
}

struct getter_from {
    struct getter g;
    const char *extra;
};

static void *get_from_main(void *arg)
{
    struct getter_from *f = arg;
    f->g.status = get(f->g.port, f->g.path, f->extra, f->g.body, sizeof f->g.body, &f->g.ms);
    return NULL;
}

START_TEST(lane_late_answer_knows_the_origin)
{
    /* a face that browsers call answers its 504 with cross-origin headers
     * too, so on_error must still see the request's Origin then */
    unsigned port;
    struct http_server *s = start(&port, 150);
    struct getter_from f = {.g = {.port = port, .path = "/slow/o"}, .extra = "Origin: https://shop.example\r\n"};
    pthread_t t;
    pthread_create(&t, NULL, get_from_main, &f);
    pthread_join(t, NULL);
    ck_assert_int_eq(f.g.status, 504);
    ck_assert_str_eq(f.g.body, "error 504 /slow/{id} from https://shop.example");
    usleep(400 * 1000); /* the handler finishes; its answer is dropped */
    http_server_stop(s, 1000);
}
END_TEST

START_TEST(lane_runs_off_the_http_thread)
{
    unsigned port;
    struct http_server *s = start(&port, 5000);
    struct getter g = {.port = port, .path = "/slow/m1?q=7"};
    pthread_t t;
    pthread_create(&t, NULL, get_main, &g);
    while (!atomic_load(&lane_running))
        usleep(1000);
    /* the one HTTP thread answers others while the lane works */
    char body[256];
    int64_t ms;
    ck_assert_int_eq(get(port, "/fast", NULL, body, sizeof body, &ms), 200);
    ck_assert_msg(ms < 200, "a plain request waited %lld ms behind a lane", (long long)ms);
    pthread_join(t, NULL);
    ck_assert_int_eq(g.status, 200);
    ck_assert_str_eq(g.body, "slow m1 7 tester"); /* params, query and headers reached the lane */
    http_server_stop(s, 1000);
}
END_TEST

START_TEST(lane_full_and_late)
{
    unsigned port;
    struct http_server *s = start(&port, 250);
    struct getter g[3] = {{.port = port, .path = "/slow/a"}, {.port = port, .path = "/slow/b"},
                          {.port = port, .path = "/slow/c"}};
    pthread_t t[3];
    for (int i = 0; i < 3; i++) {
        pthread_create(&t[i], NULL, get_main, &g[i]);
        usleep(50 * 1000);
    }
    for (int i = 0; i < 3; i++)
        pthread_join(t[i], NULL);
    /* one runs, one queues (the queue holds one), the third is turned away
     * at once; the first two meet their 250 ms deadline first */
    int late = 0, busy = 0;
    for (int i = 0; i < 3; i++) {
        if (g[i].status == 504) {
            late++;
            ck_assert_str_eq(g[i].body, "error 504 /slow/{id}");
            ck_assert_msg(g[i].ms >= 200 && g[i].ms < 400, "504 after %lld ms", (long long)g[i].ms);
        } else {
            ck_assert_int_eq(g[i].status, 503);
            ck_assert_msg(g[i].ms < 100, "503 after %lld ms", (long long)g[i].ms);
            busy++;
        }
    }
    ck_assert_int_eq(late, 2);
    ck_assert_int_eq(busy, 1);
    http_server_stop(s, 1000);
}
END_TEST

START_TEST(parked_answered_by_owner_or_deadline)
{
    unsigned port;
    struct http_server *s = start(&port, 5000);
    char body[256];
    int64_t ms;
    ck_assert_int_eq(get(port, "/park?after=20", NULL, body, sizeof body, &ms), 200);
    ck_assert_str_eq(body, "owner");
    ck_assert_ptr_nonnull(strstr(last_answer, "X-Kept: set before parking\r\n"));
    ck_assert_int_eq(get(port, "/park?after=500", NULL, body, sizeof body, &ms), 202);
    ck_assert_str_eq(body, "late");
    ck_assert_ptr_nonnull(strstr(last_answer, "X-Kept: set before parking\r\n"));
    ck_assert_msg(ms >= 180 && ms < 450, "late answer after %lld ms", (long long)ms);
    ck_assert_int_eq(get(port, "/park?after=0", NULL, body, sizeof body, &ms), 200); /* before it parked */
    ck_assert_str_eq(body, "owner");
    usleep(600 * 1000); /* the 500 ms owner let go after its deadline answered */
    http_server_stop(s, 1000);
}
END_TEST

static void *stop_later(void *arg)
{
    usleep(200 * 1000);
    http_server_stop(arg, 100);
    return NULL;
}

START_TEST(stop_answers_what_is_parked)
{
    unsigned port;
    struct http_server *s = start(&port, 5000);
    pthread_t t;
    pthread_create(&t, NULL, stop_later, s);
    char body[256];
    ck_assert_int_eq(get(port, "/forgotten", NULL, body, sizeof body, NULL), 503);
    pthread_join(t, NULL);
    /* its owner lets go after the server is gone: nothing to answer */
    ck_assert_ptr_null(http_defer_claim(forgotten));
    http_defer_done(forgotten);
}
END_TEST

/* GET /ip from a socket bound to src (an address of 127/8). */
static void ip_from(unsigned port, const char *src, char *out, size_t n)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in me = {.sin_family = AF_INET}, a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    ck_assert_int_eq(inet_pton(AF_INET, src, &me.sin_addr), 1);
    ck_assert_int_eq(bind(fd, (struct sockaddr *)&me, sizeof me), 0);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ck_assert_int_eq(connect(fd, (struct sockaddr *)&a, sizeof a), 0);
    const char rq[] = "GET /ip HTTP/1.0\r\nHost: x\r\n\r\n";
    ck_assert_int_eq(write(fd, rq, sizeof rq - 1), (ssize_t)sizeof rq - 1);
    char ans[1024];
    size_t got = 0;
    ssize_t k;
    while (got + 1 < sizeof ans && (k = read(fd, ans + got, sizeof ans - 1 - got)) > 0)
        got += (size_t)k;
    ans[got] = 0;
    close(fd);
    const char *b = strstr(ans, "\r\n\r\n");
    snprintf(out, n, "%s", b ? b + 4 : "");
}

/* The client's IPv4 address, written by hand: every octet width. */
START_TEST(client_address_as_written)
{
    unsigned port;
    struct http_server *s = start(&port, 5000);
    const char *srcs[] = {"127.0.0.1", "127.10.200.3", "127.255.99.100", "127.1.20.254"};
    char got[64];
    for (size_t i = 0; i < sizeof srcs / sizeof srcs[0]; i++) {
        ip_from(port, srcs[i], got, sizeof got);
        ck_assert_str_eq(got, srcs[i]);
    }
    http_server_stop(s, 0);
}
END_TEST

Suite *test_suite(void)
{
    Suite *s = suite_create("server");
    TCase *tc = tcase_create("guard");
    tcase_add_test(tc, guard_caps_each_address);
    tcase_add_test(tc, guard_counts_ipv6_per_64);
    tcase_add_test(tc, guard_drops_what_is_late);
    tcase_add_test(tc, guard_under_pressure_makes_room);
    suite_add_tcase(s, tc);
    tc = tcase_create("waiting");
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, lane_runs_off_the_http_thread);
    tcase_add_test(tc, lane_full_and_late);
    tcase_add_test(tc, lane_late_answer_knows_the_origin);
    tcase_add_test(tc, parked_answered_by_owner_or_deadline);
    tcase_add_test(tc, stop_answers_what_is_parked);
    tcase_add_test(tc, client_address_as_written);
    suite_add_tcase(s, tc);
    return s;
}
