/* e2e hardening: what callers notice while others abuse lipad or a
 * provider is slow or fails. Each journey runs its own lipad (settings of
 * its own), against the suite's sandbox made slow or failing for the
 * occasion. */
#include "harness.h"

#include "util/str.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static int64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void sandbox_post(const char *path, const char *json)
{
    struct http_result r = h_req(h_sandbox_port, "POST", path, "application/json", json, 0, NULL);
    ck_assert_msg(r.status == 200, "%s: %ld %s", path, r.status, r.body);
    h_free(&r);
}

/* Undoes what a journey did to the shared sandbox, even when it failed. */
static void sandbox_calm(void) { sandbox_post("/sandbox/reset", "{}"); }

/* A lipad of the journey's own, standing in for h_main until own_end. */
static struct lipad *own_start(int offset, const char *name, const char *const *extra)
{
    char dir[128];
    struct lipad l;
    h_dir_fresh(dir, sizeof dir, name);
    ck_assert_msg(h_lipad_start(&l, h_main.port + offset, dir, extra), "lipad %s did not start (%s)", name, dir);
    struct lipad *saved = malloc(sizeof *saved);
    ck_assert_ptr_nonnull(saved);
    *saved = h_main;
    h_main = l;
    return saved;
}

static void own_end(struct lipad *saved)
{
    ck_assert_int_eq(h_lipad_stop(&h_main, SIGTERM), 0);
    h_main = *saved;
    free(saved);
}

/* ---- flooding the REST faces against slow providers ---- */

struct flood {
    int port;
    atomic_bool stop;
    atomic_int sent, slow;     /* requests, and answers later than allowed */
    atomic_int bad;            /* answers with a status they may not have */
    atomic_int waited;         /* answers that show the provider was slow: 202, 502, 504 */
    int64_t allowed_ms;
    int kind;                  /* 0: public M-Pesa initiates, 1: device reads */
    int id;
};

static void *flood_main(void *arg)
{
    struct flood *f = arg;
    for (int i = 0; !atomic_load(&f->stop); i++) {
        char body[200], path[96];
        int64_t t0 = mono_ms();
        struct http_result r;
        if (f->kind == 0) {
            /* a different phone each time: no per-phone limit saves lipad here */
            snprintf(body, sizeof body, "{\"phoneNumber\":\"2547%02d%06d\",\"amount\":50}", 20 + f->id, i);
            r = h_req(f->port, "POST", "/api/payments/mpesa/initiate", "application/json", body, 0, NULL);
        } else {
            static const char *const reads[] = {"", "/balance", "/usage"};
            snprintf(path, sizeof path, "/devices/HRD001%s", reads[i % 3]);
            r = h_req(f->port, "GET", path, NULL, NULL, 0, NULL);
        }
        int64_t took = mono_ms() - t0;
        atomic_fetch_add(&f->sent, 1);
        if (took > f->allowed_ms)
            atomic_fetch_add(&f->slow, 1);
        bool ok = f->kind == 0 ? (r.status == 201 || r.status == 202)
                               : (r.status == 200 || r.status == 502 || r.status == 503 || r.status == 504);
        if (r.status == 202 || r.status == 502 || r.status == 504)
            atomic_fetch_add(&f->waited, 1);
        if (!ok) {
            fprintf(stderr, "flood %d: %ld %s\n", f->kind, r.status, r.body);
            atomic_fetch_add(&f->bad, 1);
        }
        h_free(&r);
    }
    return NULL;
}

/* The meter cloud and M-Pesa answer in 8 s; 16 clients flood the public
 * M-Pesa initiate and the public device reads (which need the meter
 * cloud). Before, each of those held one of lipad's HTTP threads for as
 * long as the provider took, and a USSD hop waited 11 s. Now hops are
 * answered at once throughout, the initiates answer 202 (queued) at their
 * deadline, and the reads answer at theirs (504), when the meter cloud's
 * own timeout comes first (502), or at once when their lane is full
 * (503). */
START_TEST(flood_with_slow_providers_keeps_hops_fast)
{
    const char *extra[] = {"LIPA_RATE_LIMIT=0", "LIPA_PHONE_RATE_LIMIT=0", "LIPA_REST_WAIT_MS=3000",
                           "LIPA_PUSH_WAIT_MS=3000", "LIPA_LANE_THREADS=2", "LIPA_LANE_QUEUE=8", "LIPA_THREADS=2",
                           NULL};
    struct lipad *saved = own_start(61, "flood", extra);
    const char *phone = "+254711000161";
    long long uid = h_user(&h_main, phone, "en");
    h_meter(&h_main, "HRD001", "hrddev001", "Home");
    h_assign(&h_main, uid, "HRD001");
    sandbox_post("/sandbox/slow", "{\"service\":\"tuya\",\"ms\":8000}");
    sandbox_post("/sandbox/slow", "{\"service\":\"daraja\",\"ms\":8000}");

    struct flood f[16];
    pthread_t th[16];
    for (int i = 0; i < 16; i++) {
        f[i] = (struct flood){.port = h_main.port, .allowed_ms = 3000 + 2500, .kind = i % 2, .id = i};
        atomic_init(&f[i].stop, false);
        ck_assert_int_eq(pthread_create(&th[i], NULL, flood_main, &f[i]), 0);
    }
    h_sleep_ms(1000); /* the flood is on: every lane busy, every thread tempted */
    /* to the confirm screen, and "2. No" (a caller who stopped there would
     * be offered to go on at the next dial) */
    static const char *const path[] = {"", "1", "1*1", "1*1*20", "1*1*20*2"};
    int64_t worst = 0;
    int hops = 0;
    for (int64_t until = mono_ms() + 6000; mono_ms() < until;) {
        char sid[64];
        snprintf(sid, sizeof sid, "hrd-flood-%d", hops);
        for (int k = 0; k < 5; k++, hops++) {
            int64_t t0 = mono_ms();
            char *s = h_ussd(&h_main, sid, phone, path[k]);
            int64_t took = mono_ms() - t0;
            ck_assert_msg(!strncmp(s, k < 4 ? "CON" : "END", 3), "hop %d: %s", k, s);
            free(s);
            if (took > worst)
                worst = took;
        }
    }
    for (int i = 0; i < 16; i++)
        atomic_store(&f[i].stop, true);
    int sent = 0, slow = 0, bad = 0, waited[2] = {0, 0};
    for (int i = 0; i < 16; i++) {
        pthread_join(th[i], NULL);
        sent += atomic_load(&f[i].sent);
        slow += atomic_load(&f[i].slow);
        bad += atomic_load(&f[i].bad);
        waited[f[i].kind] += atomic_load(&f[i].waited);
    }
    sandbox_calm();
    fprintf(stderr, "flood: %d hops, slowest %lld ms; %d flood requests, %d late, %d unexpected\n", hops,
            (long long)worst, sent, slow, bad);
    /* a caller notices seconds; AT gives up at 10 */
    ck_assert_msg(worst < 2000, "a USSD hop took %lld ms during the flood", (long long)worst);
    ck_assert_int_gt(hops, 40);
    ck_assert_int_eq(slow, 0);
    ck_assert_int_eq(bad, 0);
    /* the providers really were slow, and the flood waited on them */
    ck_assert_int_gt(waited[0], 0);
    ck_assert_int_gt(waited[1], 0);
    own_end(saved);
}
END_TEST

/* An M-Pesa prompt rings a phone: the public initiate lets nobody ring one
 * phone without end, from however many addresses. */
START_TEST(public_initiate_budget_per_phone)
{
    const char *extra[] = {"LIPA_PHONE_RATE_LIMIT=3", "LIPA_PHONE_RATE_WINDOW=600", NULL};
    struct lipad *saved = own_start(63, "phonebudget", extra);
    const char *body = "{\"phoneNumber\":\"254711000163\",\"amount\":50}";
    for (int i = 0; i < 3; i++) {
        struct http_result r = h_req(h_main.port, "POST", "/api/payments/mpesa/initiate", "application/json", body,
                                     0, NULL);
        ck_assert_msg(r.status == 201 || r.status == 202, "initiate %d: %ld %s", i, r.status, r.body);
        h_free(&r);
    }
    struct http_result r = h_req(h_main.port, "POST", "/api/payments/mpesa/initiate", "application/json", body, 0,
                                 NULL);
    ck_assert_msg(r.status == 429, "fourth initiate: %ld %s", r.status, r.body);
    ck_assert_str_eq(json_string_value(json_object_get(r.json, "error")), "PHONE_RATE_LIMIT_EXCEEDED");
    ck_assert_msg(strstr(json_string_value(json_object_get(r.json, "message")), "phoneNumber"), "%s", r.body);
    h_free(&r);
    /* another payer is not affected */
    r = h_req(h_main.port, "POST", "/api/payments/mpesa/initiate", "application/json",
              "{\"phoneNumber\":\"254711000164\",\"amount\":50}", 0, NULL);
    ck_assert_msg(r.status == 201 || r.status == 202, "other phone: %ld %s", r.status, r.body);
    h_free(&r);
    own_end(saved);
}
END_TEST

/* ---- health while a provider fails ---- */

/* GET /api/health until its data.status is want (or ms pass): the last
 * answer, whatever it said. */
static struct http_result health_until(const char *want, int ms)
{
    struct http_result r = {0};
    for (int64_t until = mono_ms() + ms;;) {
        r = h_req(h_main.port, "GET", "/api/health", NULL, NULL, 0, NULL);
        const char *st = json_string_value(json_object_get(json_object_get(r.json, "data"), "status"));
        if ((st && !strcmp(st, want)) || mono_ms() > until)
            return r;
        h_free(&r);
        h_sleep_ms(100);
    }
}

/* The degraded list as "a,b" ("" when empty, "?" when missing). */
static void degraded_list(const struct http_result *r, char *out, size_t n)
{
    json_t *d = json_object_get(json_object_get(r->json, "data"), "degraded");
    snprintf(out, n, "%s", json_is_array(d) ? "" : "?");
    size_t i;
    json_t *v;
    json_array_foreach(d, i, v)
    {
        size_t used = strlen(out);
        snprintf(out + used, n - used, "%s%s", i ? "," : "", json_string_value(v));
    }
}

/* M-Pesa answers 503 to everything: health says "degraded" (still 200,
 * so a load balancer keeps the instance) and names daraja, with how many
 * calls failed in a row; once M-Pesa answers again, the queued push goes
 * out and health is "healthy" again. */
START_TEST(health_degraded_while_mpesa_fails)
{
    struct lipad *saved = own_start(64, "health", NULL);
    char list[128];
    struct http_result r = health_until("healthy", 5000);
    degraded_list(&r, list, sizeof list);
    ck_assert_msg(r.status == 200 && !list[0], "a fresh lipad: %ld %s", r.status, r.body);
    h_free(&r);

    sandbox_post("/sandbox/fail", "{\"service\":\"daraja\",\"count\":100000,\"status\":503}");
    r = h_req(h_main.port, "POST", "/api/payments/mpesa/initiate", "application/json",
              "{\"phoneNumber\":\"254711000165\",\"amount\":50}", 0, NULL);
    ck_assert_msg(r.status == 201 || r.status == 202, "initiate: %ld %s", r.status, r.body);
    h_free(&r);
    r = health_until("degraded", 15000);
    degraded_list(&r, list, sizeof list);
    json_t *data = json_object_get(r.json, "data"), *daraja = json_object_get(json_object_get(data, "providers"), "daraja");
    ck_assert_msg(r.status == 200, "degraded answers %ld, not 200: %s", r.status, r.body);
    ck_assert_msg(!strcmp(list, "daraja"), "degraded names '%s': %s", list, r.body);
    ck_assert_str_eq(json_string_value(json_object_get(r.json, "message")), "Service is degraded");
    ck_assert_str_eq(json_string_value(json_object_get(daraja, "status")), "failing");
    ck_assert_msg(json_integer_value(json_object_get(daraja, "failures")) >= 1 &&
                      json_is_string(json_object_get(daraja, "failingSince")),
                  "no failure count or start: %s", r.body);
    ck_assert_str_eq(json_string_value(json_object_get(data, "database")), "connected");
    h_free(&r);

    sandbox_calm(); /* M-Pesa is back: the retry of the push succeeds */
    r = health_until("healthy", 30000);
    degraded_list(&r, list, sizeof list);
    daraja = json_object_get(json_object_get(json_object_get(r.json, "data"), "providers"), "daraja");
    ck_assert_msg(r.status == 200 && !list[0], "after M-Pesa came back: %ld %s", r.status, r.body);
    ck_assert_str_eq(json_string_value(json_object_get(daraja, "status")), "ok");
    ck_assert_msg(!json_object_get(daraja, "failures"), "a provider that answered still counts failures: %s", r.body);
    ck_assert_str_eq(json_string_value(json_object_get(r.json, "message")), "Service is healthy");
    h_free(&r);
    own_end(saved);
}
END_TEST

/* ---- slow and greedy connections ---- */

/* A TCP connection to lipad from the loopback address src (127.0.0.x). */
static int connect_from(const char *src, int port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0)
        return -1;
    struct sockaddr_in a = {.sin_family = AF_INET};
    inet_pton(AF_INET, src, &a.sin_addr);
    struct sockaddr_in to = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    inet_pton(AF_INET, "127.0.0.1", &to.sin_addr);
    if (bind(fd, (struct sockaddr *)&a, sizeof a) != 0 || connect(fd, (struct sockaddr *)&to, sizeof to) != 0) {
        close(fd);
        return -1;
    }
    return fd;
}

/* True when the server closed fd (reads EOF or a reset) within ms. */
static bool closed_within(int fd, int ms)
{
    struct pollfd p = {.fd = fd, .events = POLLIN};
    if (poll(&p, 1, ms) <= 0)
        return false;
    char c;
    ssize_t n = recv(fd, &c, 1, MSG_DONTWAIT);
    return n == 0 || (n < 0 && errno == ECONNRESET);
}

struct trickle {
    int *fds;
    int n;
    atomic_bool stop;
};

/* Slowloris: one more byte of a request line on every socket, twice a second. */
static void *trickle_main(void *arg)
{
    struct trickle *t = arg;
    static const char line[] = "POST /api/ussd HTTP/1.1\r\nHost: lipa\r\nX-Slow: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
    for (size_t k = 0; !atomic_load(&t->stop); k = (k + 1) % (sizeof line - 1)) {
        for (int i = 0; i < t->n; i++)
            if (t->fds[i] >= 0)
                (void)send(t->fds[i], line + k, 1, MSG_NOSIGNAL | MSG_DONTWAIT);
        for (int w = 0; w < 5 && !atomic_load(&t->stop); w++)
            h_sleep_ms(100);
    }
    return NULL;
}

/* 2 000 connections from 20 addresses send their request one byte at a
 * time, and 200 more from one address simply sit there. Before, about
 * 1 000 such sockets left a caller with no answer at all. Now an address
 * gets at most LIPA_CONNECTIONS_PER_IP connections, a request must bring
 * its headers within LIPA_HEADER_TIMEOUT_MS, and a caller buys electricity
 * in the middle of it all. */
START_TEST(slow_connections_do_not_starve_callers)
{
    struct rlimit rl;
    ck_assert_int_eq(getrlimit(RLIMIT_NOFILE, &rl), 0);
    if (rl.rlim_cur < 3000) {
        rl.rlim_cur = rl.rlim_max == RLIM_INFINITY || rl.rlim_max > 3000 ? 3000 : rl.rlim_max;
        ck_assert_int_eq(setrlimit(RLIMIT_NOFILE, &rl), 0);
    }
    ck_assert_msg(rl.rlim_cur >= 2400, "this test needs 2 400 open files; the hard limit is %llu",
                  (unsigned long long)rl.rlim_max);
    const char *extra[] = {"LIPA_CONNECTIONS_PER_IP=100", "LIPA_HEADER_TIMEOUT_MS=4000",
                           "LIPA_MAX_CONNECTIONS=4096", NULL};
    struct lipad *saved = own_start(62, "slowloris", extra);
    const char *phone = "+254711000162";
    long long uid = h_user(&h_main, phone, "en");
    h_meter(&h_main, "HRD002", "hrddev002", "Home");
    h_assign(&h_main, uid, "HRD002");

    enum { ADDRS = 20, PER = 100, N = ADDRS * PER };
    int *fds = calloc(N, sizeof *fds);
    ck_assert_ptr_nonnull(fds);
    int opened = 0;
    for (int i = 0; i < N; i++) {
        char src[32];
        snprintf(src, sizeof src, "127.0.0.%d", 2 + i / PER);
        fds[i] = connect_from(src, h_main.port);
        opened += fds[i] >= 0;
    }
    ck_assert_int_eq(opened, N);
    struct trickle t = {.fds = fds, .n = N};
    atomic_init(&t.stop, false);
    pthread_t th;
    ck_assert_int_eq(pthread_create(&th, NULL, trickle_main, &t), 0);
    /* one address past its cap: the 101st connection is closed at once
     * (once lipad has taken the first 100 from the kernel's queue: a
     * connect() completes before lipad accepts it, so try a few times) */
    bool refused = false;
    for (int tries = 0; tries < 20 && !refused; tries++) {
        int extra_fd = connect_from("127.0.0.2", h_main.port);
        ck_assert_int_ge(extra_fd, 0);
        refused = closed_within(extra_fd, 500);
        close(extra_fd);
    }
    ck_assert_msg(refused, "a 101st connection from one address was kept");

    /* the caller, meanwhile */
    int64_t t0 = mono_ms();
    static const char *const path[] = {"", "1", "1*1", "1*1*30", "1*1*30*1"};
    for (int k = 0; k < 5; k++) {
        char *s = h_ussd(&h_main, "hrd-slowloris-1", phone, path[k]);
        ck_assert_msg(!strncmp(s, k < 4 ? "CON" : "END", 3), "hop %d: %s", k, s);
        free(s);
    }
    int64_t took = mono_ms() - t0;
    json_t *sms = h_wait_sms(phone, 1, 20000);
    ck_assert_msg(json_array_size(sms) == 1, "no receipt SMS during the flood");
    json_decref(sms);

    /* the tricklers never finish their headers: gone by the deadline */
    int kept = 0;
    h_sleep_ms(4000 + 1500);
    for (int i = 0; i < N; i++)
        if (!closed_within(fds[i], 0))
            kept++;
    atomic_store(&t.stop, true);
    pthread_join(th, NULL);
    for (int i = 0; i < N; i++)
        close(fds[i]);
    free(fds);
    fprintf(stderr, "slowloris: 5 hops in %lld ms among %d slow connections; %d still open after the deadline\n",
            (long long)took, N, kept);
    ck_assert_int_eq(kept, 0);
    /* and lipad serves new clients as before */
    struct http_result r = h_req(h_main.port, "GET", "/api/health", NULL, NULL, 0, NULL);
    ck_assert_int_eq(r.status, 200);
    h_free(&r);
    own_end(saved);
}
END_TEST

Suite *suite_hardening(void)
{
    Suite *s = suite_create("hardening");
    TCase *t = tcase_create("abuse");
    tcase_set_timeout(t, 120);
    tcase_add_checked_fixture(t, NULL, sandbox_calm);
    tcase_add_test(t, flood_with_slow_providers_keeps_hops_fast);
    tcase_add_test(t, slow_connections_do_not_starve_callers);
    tcase_add_test(t, public_initiate_budget_per_phone);
    suite_add_tcase(s, t);
    TCase *h = tcase_create("health");
    tcase_set_timeout(h, 90);
    tcase_add_checked_fixture(h, NULL, sandbox_calm);
    tcase_add_test(h, health_degraded_while_mpesa_fails);
    suite_add_tcase(s, h);
    return s;
}
