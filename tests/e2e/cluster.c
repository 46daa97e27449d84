/* e2e: several lipads on one PostgreSQL (run only when the suite runs on
 * PostgreSQL: LIPA_TEST_PG). Two lipads share one database, as behind a
 * load balancer: a session's hops alternate between them, one is killed
 * with SIGKILL while callers are buying, and every purchase a caller was
 * told to pay for settles once, through the survivor. And the database
 * restarting under a lipad costs the callers in flight a "try again"
 * screen, never a purchase: lipad reconnects by itself. */
#include "harness.h"

#include <check.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define CALLERS 16
#define AMOUNT "100"
#define ENERGY_HUNDREDTHS 400 /* KES 100 at KES 25 a kWh: 4 kWh */

/* A lipad on the same database as with (its db-target copied), on port,
 * with extra settings (NULL-terminated). */
static void start_sharing(struct lipad *l, const struct lipad *with, int port, const char *name,
                          const char *const *extra)
{
    char dir[128], keep[200];
    h_dir_fresh(dir, sizeof dir, name);
    snprintf(keep, sizeof keep, "%s/db-target", dir);
    FILE *f = fopen(keep, "w");
    ck_assert_ptr_nonnull(f);
    fprintf(f, "%s\n", with->db);
    fclose(f);
    ck_assert_msg(h_lipad_start(l, port, dir, extra), "lipad on port %d started", port);
}

/* One hop to l; the answer, or NULL when l did not answer (dead). */
static char *hop(struct lipad *l, const char *sid, const char *phone, const char *text)
{
    char body[512];
    snprintf(body, sizeof body, "sessionId=%s&serviceCode=%%2A384%%2A1234%%23&phoneNumber=%%2B%s&text=%s", sid,
             phone + 1, text);
    struct http_result r = h_req_within(5000, l->port, "POST", "/api/ussd", "application/x-www-form-urlencoded", body,
                                        0, NULL, NULL);
    char *out = r.status == 200 ? strdup(r.body) : NULL;
    h_free(&r);
    return out;
}

struct buyer {
    struct lipad *a, *b;       /* the session alternates: a, b, a, b, a */
    char phone[24], device[32];
    char answer[200];          /* what the confirming hop said */
    bool confirmed, moved;     /* told to pay; a hop went to a after b died */
};

/* The balancer's part: a hop b does not answer goes to a. */
static char *route(struct buyer *c, struct lipad *to, const char *sid, const char *text)
{
    char *r = hop(to, sid, c->phone, text);
    if (!r && to == c->b) {
        c->moved = true;
        r = hop(c->a, sid, c->phone, text);
    }
    return r;
}

static atomic_int finished; /* callers through their confirming hop */

static void *buy_all(void *arg)
{
    struct buyer *cs = arg;
    for (int i = 0; i < CALLERS / 2; i++) {
        struct buyer *c = &cs[i];
        char sid[48];
        snprintf(sid, sizeof sid, "cluster-%s", c->phone + 1);
        const char *steps[] = {"", "1", "1*1", "1*1*" AMOUNT, "1*1*" AMOUNT "*1"};
        for (int k = 0; k < 5; k++) {
            char *r = route(c, k % 2 ? c->b : c->a, sid, steps[k]);
            if (k == 4 && r) {
                snprintf(c->answer, sizeof c->answer, "%s", r);
                c->confirmed = strstr(r, "PIN") != NULL;
            }
            free(r);
            h_sleep_ms(30); /* a caller reads the screen */
        }
        atomic_fetch_add(&finished, 1);
    }
    return NULL;
}

static int count_of(const char *path)
{
    struct http_result r = h_req(h_sandbox_port, "GET", path, NULL, NULL, 0, NULL);
    int n = r.status == 200 ? (int)json_array_size(json_object_get(r.json, "stk")) : -1;
    h_free(&r);
    return n;
}

START_TEST(two_lipads_one_killed_every_confirmed_purchase_once)
{
    char dir[128];
    struct lipad a, b;
    int base = h_main.port + 70;
    /* both answer M-Pesa at a's address, as both would at the balancer's;
     * short leases so a dead instance's claims pass within the test */
    char cb[128];
    snprintf(cb, sizeof cb, "LIPA_PUBLIC_URL=http://127.0.0.1:%d", base);
    const char *extra[] = {cb, "LIPA_LEASE_MS=4000", NULL};
    h_dir_fresh(dir, sizeof dir, "cluster-a");
    ck_assert(h_lipad_start(&a, base, dir, extra));
    start_sharing(&b, &a, base + 1, "cluster-b", extra);

    static struct buyer cs[CALLERS];
    memset(cs, 0, sizeof cs);
    for (int i = 0; i < CALLERS; i++) {
        struct buyer *c = &cs[i];
        c->a = &a;
        c->b = &b;
        snprintf(c->phone, sizeof c->phone, "+25471770%04d", i);
        snprintf(c->device, sizeof c->device, "clusterdev%02d", i);
        char meter[32];
        snprintf(meter, sizeof meter, "CL%04d", i);
        /* setup through either: one database */
        struct lipad *via = i % 2 ? &b : &a;
        long long uid = h_user(via, c->phone, "en");
        h_meter(via, meter, c->device, "Home");
        h_assign(via, uid, meter);
    }
    /* two streams of callers, each session's hops alternating a and b;
     * b is killed while they buy */
    pthread_t t1, t2;
    atomic_store(&finished, 0);
    pthread_create(&t1, NULL, buy_all, cs);
    pthread_create(&t2, NULL, buy_all, cs + CALLERS / 2);
    while (atomic_load(&finished) < 3) /* some have bought, the rest are under way */
        h_sleep_ms(10);
    h_lipad_stop(&b, SIGKILL);
    pthread_join(t1, NULL);
    pthread_join(t2, NULL);

    int confirmed = 0, moved = 0;
    for (int i = 0; i < CALLERS; i++) {
        struct buyer *c = &cs[i];
        /* every caller reached the end (the balancer moved b's hops to a) */
        ck_assert_msg(c->answer[0], "%s got an answer to the confirming hop", c->phone);
        confirmed += c->confirmed;
        moved += c->moved;
    }
    ck_assert_msg(moved > 0, "b died while callers were buying (no hop was moved: the kill came too late)");
    for (int i = 0; i < CALLERS; i++) {
        struct buyer *c = &cs[i];
        if (!c->confirmed) /* told something went wrong: nothing may happen */
            continue;
        json_t *p = h_wait_payment(&a, c->phone, "completed", 40000);
        ck_assert_msg(p && !strcmp(json_string_value(json_object_get(p, "status")), "completed"),
                      "%s: the purchase completes through the survivor", c->phone);
        json_decref(p);
    }
    h_sleep_ms(1500); /* anything sent twice would be here by now */
    for (int i = 0; i < CALLERS; i++) {
        struct buyer *c = &cs[i];
        char path[96];
        snprintf(path, sizeof path, "/sandbox/stk?phone=%s", c->phone + 1);
        int want = c->confirmed ? 1 : 0;
        ck_assert_msg(h_purchases(&a, c->phone) == want, "%s: %d purchase(s)", c->phone, h_purchases(&a, c->phone));
        ck_assert_msg(count_of(path) == want, "%s: %d STK push(es)", c->phone, count_of(path));
        json_t *sms = h_sms(c->phone);
        ck_assert_msg(json_array_size(sms) == (size_t)want, "%s: %zu token SMS", c->phone, json_array_size(sms));
        json_decref(sms);
        if (want)
            ck_assert_msg(h_balance(c->device) == ENERGY_HUNDREDTHS, "%s: one top-up (balance %lld)", c->phone,
                          h_balance(c->device));
    }
    ck_assert_msg(confirmed >= CALLERS / 2, "most callers were told to pay (%d of %d)", confirmed, CALLERS);
    ck_assert_int_eq(h_lipad_stop(&a, SIGTERM), 0);
}
END_TEST

/* The database restarts (a fast stop: sessions cut, as in a failover)
 * while a caller buys: hops meanwhile get an answer, a screen, never a
 * crash; lipad reconnects by itself (health says so), and purchases
 * confirmed before and after settle once. */
START_TEST(database_restart_loses_nothing)
{
    const char *pgdir = getenv("LIPA_TEST_PG_DIR");
    ck_assert_msg(pgdir && *pgdir, "LIPA_TEST_PG_DIR names the test cluster (tools/run-tests.sh sets it)");
    char dir[128];
    struct lipad l;
    h_dir_fresh(dir, sizeof dir, "pg-restart");
    ck_assert(h_lipad_start(&l, h_main.port + 75, dir, NULL));
    const char *before = "+254717800001", *after = "+254717800002";
    const char *phones[] = {before, after};
    for (int i = 0; i < 2; i++) {
        char meter[32], device[32];
        snprintf(meter, sizeof meter, "RS%d", i);
        snprintf(device, sizeof device, "restartdev%d", i);
        long long uid = h_user(&l, phones[i], "en");
        h_meter(&l, meter, device, "Home");
        h_assign(&l, uid, meter);
    }
    const char *steps[] = {"", "1", "1*1", "1*1*" AMOUNT, "1*1*" AMOUNT "*1"};
    for (int k = 0; k < 5; k++) {
        char *r = hop(&l, "pg-restart-1", before, steps[k]);
        ck_assert_msg(r && (k < 4 || strstr(r, "PIN")), "hop %d before the restart: %s", k, r ? r : "(none)");
        free(r);
    }
    char cmd[600];
    snprintf(cmd, sizeof cmd, "tools/pg.sh restart '%s' &", pgdir);
    ck_assert_int_eq(system(cmd), 0);
    /* hops while it restarts: each answered (a screen or "try again") */
    int answered = 0;
    for (int k = 0; k < 20; k++) {
        char sid[32];
        snprintf(sid, sizeof sid, "pg-during-%d", k);
        char *r = hop(&l, sid, after, "");
        answered += r != NULL;
        free(r);
        h_sleep_ms(100);
    }
    ck_assert_int_eq(answered, 20);
    /* after it: lipad took a new connection and the next caller buys */
    char *last = NULL;
    for (int tries = 0; tries < 50; tries++) {
        free(last);
        last = NULL;
        for (int k = 0; k < 5; k++) {
            char sid[32];
            snprintf(sid, sizeof sid, "pg-after-%d", tries);
            free(last);
            last = hop(&l, sid, after, steps[k]);
        }
        if (last && strstr(last, "PIN"))
            break;
        h_sleep_ms(200);
    }
    ck_assert_msg(last && strstr(last, "PIN"), "a purchase after the restart: %s", last ? last : "(none)");
    free(last);
    for (int i = 0; i < 2; i++) {
        json_t *p = h_wait_payment(&l, phones[i], "completed", 30000);
        ck_assert_msg(p && !strcmp(json_string_value(json_object_get(p, "status")), "completed"), "%s completes",
                      phones[i]);
        json_decref(p);
        ck_assert_int_eq(h_purchases(&l, phones[i]), 1);
    }
    struct http_result r = h_req(l.port, "GET", "/api/health", NULL, NULL, 0, NULL);
    json_t *store = json_object_get(json_object_get(r.json, "data"), "store");
    ck_assert_msg(r.status == 200 && json_integer_value(json_object_get(store, "reconnects")) >= 1,
                  "health shows the reconnect: %s", r.body);
    h_free(&r);
    ck_assert_int_eq(h_lipad_stop(&l, SIGTERM), 0);
}
END_TEST

/* A meter assigned through one lipad is in the other's meter list at
 * once, though that one had the caller in memory (each lipad caches its
 * callers; a change anywhere is told to all). */
START_TEST(a_change_on_one_lipad_reaches_the_others_callers)
{
    char dir[128];
    struct lipad a, b;
    int base = h_main.port + 80;
    h_dir_fresh(dir, sizeof dir, "cache-a");
    ck_assert(h_lipad_start(&a, base, dir, NULL));
    start_sharing(&b, &a, base + 1, "cache-b", NULL);
    const char *phone = "+254717900001";
    long long uid = h_user(&a, phone, "en");
    h_meter(&a, "CC0001", "cachedev1", "Home");
    h_assign(&a, uid, "CC0001");
    char *r = hop(&a, "cache-1", phone, "1"); /* a now holds the caller */
    ck_assert_msg(r && strstr(r, "Home") && !strstr(r, "Shop"), "one meter: %s", r ? r : "");
    free(r);
    h_meter(&b, "CC0002", "cachedev2", "Shop");
    h_assign(&b, uid, "CC0002");
    bool seen = false;
    for (int i = 0; i < 20 && !seen; i++) { /* told within moments, not after the cache's minute */
        char sid[32];
        snprintf(sid, sizeof sid, "cache-2-%d", i);
        r = hop(&a, sid, phone, "1");
        seen = r && strstr(r, "Shop");
        free(r);
        if (!seen)
            h_sleep_ms(100);
    }
    ck_assert_msg(seen, "the meter assigned through b is in a's list");
    ck_assert_int_eq(h_lipad_stop(&b, SIGTERM), 0);
    ck_assert_int_eq(h_lipad_stop(&a, SIGTERM), 0);
}
END_TEST

Suite *suite_cluster(void)
{
    Suite *s = suite_create("cluster");
    TCase *t = tcase_create("postgresql");
    tcase_set_timeout(t, 180);
    if (h_on_pg()) { /* several lipads need a database they can share */
        tcase_add_test(t, two_lipads_one_killed_every_confirmed_purchase_once);
        tcase_add_test(t, database_restart_loses_nothing);
        tcase_add_test(t, a_change_on_one_lipad_reaches_the_others_callers);
    }
    suite_add_tcase(s, t);
    return s;
}
