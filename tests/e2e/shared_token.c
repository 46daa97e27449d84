/* e2e shared_token: Daraja invalidates its previous OAuth token each time
 * it issues one, so lipads on one database share theirs through it
 * (pay/shared_token.c). Each test has a sandbox of its own for Daraja, to
 * count the tokens it issued (GET /sandbox/daraja) and the calls it
 * refused for a stale one; SMS and meters stay on the suite's sandbox.
 * Ports: h_main.port + 90..95. */
#include "harness.h"

#include <check.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define LIPAD_A 90
#define LIPAD_B 91
#define SANDBOX_TWO 92
#define LIPAD_ALONE 94
#define SANDBOX_ALONE 95

/* What the test's Daraja issued and refused so far. */
static void daraja_counts(int port, long long *issued, long long *refused)
{
    struct http_result r = h_req(port, "GET", "/sandbox/daraja", NULL, NULL, 0, NULL);
    ck_assert_msg(r.status == 200, "sandbox counts: %ld %s", r.status, r.body);
    *issued = json_integer_value(json_object_get(r.json, "oauthIssued"));
    *refused = json_integer_value(json_object_get(r.json, "tokensRefused"));
    h_free(&r);
}

/* A caller of l's database with one meter (the device on the suite's
 * sandbox). */
static void caller_on(struct lipad *l, const char *phone, const char *meter, const char *device)
{
    long long uid = h_user(l, phone, "en");
    h_meter(l, meter, device, "Home");
    h_assign(l, uid, meter);
}

/* Buys through l's USSD and waits for the purchase to complete: its STK
 * push was accepted and M-Pesa's callback applied. */
static void buy_on(struct lipad *l, const char *session, const char *phone, const char *amount)
{
    char confirm[64], pay[64];
    snprintf(confirm, sizeof confirm, "1*1*%s", amount);
    snprintf(pay, sizeof pay, "1*1*%s*1", amount);
    const char *steps[] = {"", "1", "1*1", confirm, pay};
    for (int i = 0; i < 5; i++) {
        char *a = h_ussd(l, session, phone, steps[i]);
        ck_assert_msg(i == 4 ? strstr(a, "PIN") != NULL : !strncmp(a, "CON ", 4), "%s hop %d: %s", phone, i, a);
        free(a);
    }
    json_t *p = h_wait_payment(l, phone, "completed", 20000);
    ck_assert_msg(p && !strcmp(json_string_value(json_object_get(p, "status")), "completed"),
                  "%s: the purchase completes (pushed and paid)", phone);
    json_decref(p);
}

/* Two lipads on one PostgreSQL, purchases through each in turn: Daraja
 * issues one token, which both use, and refuses no call. Alone, each
 * lipad would fetch its own and break the other's at every turn. */
START_TEST(two_lipads_on_one_database_share_one_token)
{
    int sb_port = h_main.port + SANDBOX_TWO;
    pid_t sb = h_sandbox_spawn(sb_port, 300, NULL, "build/e2e/sandbox-token-two.log");
    ck_assert(sb > 0);
    static char daraja[64];
    snprintf(daraja, sizeof daraja, "LIPA_DARAJA_URL=http://127.0.0.1:%d", sb_port);
    const char *extra[] = {daraja, NULL};
    struct lipad a, b;
    char dir_a[128], dir_b[128];
    h_dir_fresh(dir_a, sizeof dir_a, "token-a");
    h_dir_fresh(dir_b, sizeof dir_b, "token-b");
    ck_assert_msg(h_lipad_start(&a, h_main.port + LIPAD_A, dir_a, extra), "lipad A did not start (%s)", dir_a);
    ck_assert(h_dir_same_db(dir_b, &a));
    ck_assert_msg(h_lipad_start(&b, h_main.port + LIPAD_B, dir_b, extra), "lipad B did not start (%s)", dir_b);
    ck_assert_str_eq(a.db, b.db);

    enum { N = 6 };
    char phone[N][24], meter[N][24], device[N][24], session[N][32];
    for (int i = 0; i < N; i++) {
        snprintf(phone[i], sizeof phone[i], "+2547190000%02d", i);
        snprintf(meter[i], sizeof meter[i], "E2ETOK%02d", i);
        snprintf(device[i], sizeof device[i], "e2etokdev%02d", i);
        snprintf(session[i], sizeof session[i], "s-token-two-%d", i);
        caller_on(&a, phone[i], meter[i], device[i]);
    }
    for (int i = 0; i < N; i++)
        buy_on(i % 2 ? &b : &a, session[i], phone[i], "150");
    long long issued, refused;
    daraja_counts(sb_port, &issued, &refused);
    fprintf(stderr, "e2e shared_token: %d purchases through two lipads: %lld OAuth tokens issued, %lld calls "
                    "refused for a stale token\n", N, issued, refused);
    int rc_b = h_lipad_stop(&b, SIGTERM), rc_a = h_lipad_stop(&a, SIGTERM);
    h_sandbox_kill(sb);
    ck_assert_msg(issued == 1 && refused == 0, "OAuth tokens issued %lld (want 1), calls refused %lld (want 0)",
                  issued, refused);
    ck_assert_int_eq(rc_a, 0);
    ck_assert_int_eq(rc_b, 0);
}
END_TEST

/* The token outlives the process: a restarted lipad (or one more started
 * on the database) takes the stored one instead of fetching. */
START_TEST(restarted_lipad_keeps_its_token)
{
    int sb_port = h_main.port + SANDBOX_ALONE;
    pid_t sb = h_sandbox_spawn(sb_port, 300, NULL, "build/e2e/sandbox-token-alone.log");
    ck_assert(sb > 0);
    static char daraja[64];
    snprintf(daraja, sizeof daraja, "LIPA_DARAJA_URL=http://127.0.0.1:%d", sb_port);
    const char *extra[] = {daraja, NULL};
    struct lipad l;
    char dir[128];
    h_dir_fresh(dir, sizeof dir, "token-alone");
    ck_assert_msg(h_lipad_start(&l, h_main.port + LIPAD_ALONE, dir, extra), "lipad did not start (%s)", dir);
    caller_on(&l, "+254719000090", "E2ETOK90", "e2etokdev90");
    caller_on(&l, "+254719000091", "E2ETOK91", "e2etokdev91");
    buy_on(&l, "s-token-alone-1", "+254719000090", "150");
    ck_assert_int_eq(h_lipad_stop(&l, SIGTERM), 0);
    ck_assert(h_lipad_start(&l, h_main.port + LIPAD_ALONE, dir, extra));
    buy_on(&l, "s-token-alone-2", "+254719000091", "150");
    long long issued, refused;
    daraja_counts(sb_port, &issued, &refused);
    fprintf(stderr, "e2e shared_token: 2 purchases around a restart: %lld OAuth tokens issued, %lld refused\n",
            issued, refused);
    int rc = h_lipad_stop(&l, SIGTERM);
    h_sandbox_kill(sb);
    ck_assert_msg(issued == 1 && refused == 0, "OAuth tokens issued %lld (want 1), calls refused %lld (want 0)",
                  issued, refused);
    ck_assert_int_eq(rc, 0);
}
END_TEST

Suite *suite_shared_token(void)
{
    Suite *s = suite_create("shared_token");
    TCase *t = tcase_create("shared_token");
    tcase_set_timeout(t, 90);
    if (h_on_pg()) /* one SQLite file is one lipad's */
        tcase_add_test(t, two_lipads_on_one_database_share_one_token);
    tcase_add_test(t, restarted_lipad_keeps_its_token);
    suite_add_tcase(s, t);
    return s;
}
