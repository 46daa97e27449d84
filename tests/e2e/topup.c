/* e2e topups: a meter is credited once whatever instant lipad dies. The
 * sandbox's Tuya holds the answer to a charge (POST /sandbox/tuya/hold),
 * either after applying it (the answer is lost on its way back) or
 * without (the request is lost on its way in); the test kills lipad while
 * it waits, restarts it on the same database, and counts the charges the
 * meter cloud received. */
#include "harness.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define KES "100"
#define CHARGE 400 /* KES 100 at KES 25 a kWh: 4.00 kWh, in hundredths */

/* A lipad of the test's own on h_main.port + offset, fresh database. */
static void own_start(struct lipad *l, int offset, const char *name, char *dir, size_t dirsz)
{
    h_dir_fresh(dir, dirsz, name);
    ck_assert(h_lipad_start(l, h_main.port + offset, dir, NULL));
}

static void caller(struct lipad *l, const char *phone, const char *meter, const char *device)
{
    long long uid = h_user(l, phone, "en");
    h_meter(l, meter, device, "Home");
    h_assign(l, uid, meter);
}

/* The USSD key path for KES 100 on the first meter. */
static void buy(struct lipad *l, const char *session, const char *phone)
{
    const char *steps[] = {"", "1", "1*1", "1*1*" KES, "1*1*" KES "*1"};
    for (size_t i = 0; i < sizeof steps / sizeof steps[0]; i++)
        free(h_ussd(l, session, phone, steps[i]));
}

static void hold(int count, int ms, bool apply)
{
    char body[96];
    snprintf(body, sizeof body, "{\"count\":%d,\"ms\":%d,\"apply\":%s}", count, ms, apply ? "true" : "false");
    struct http_result r = h_req(h_sandbox_port, "POST", "/sandbox/tuya/hold", "application/json", body, 0, NULL);
    ck_assert_msg(r.status == 200, "hold: %ld %s", r.status, r.body);
    h_free(&r);
}

/* Charges held so far (an earlier test's may still be held now). */
static long long holds_taken(void)
{
    struct http_result r = h_req(h_sandbox_port, "GET", "/sandbox/tuya/hold", NULL, NULL, 0, NULL);
    long long n = json_integer_value(json_object_get(r.json, "seen"));
    h_free(&r);
    return n;
}

/* The charge_energy commands the meter cloud received for device. */
static int charges(const char *device)
{
    char path[160];
    snprintf(path, sizeof path, "/sandbox/tuya/devices/%s", device);
    struct http_result r = h_req(h_sandbox_port, "GET", path, NULL, NULL, 0, NULL);
    int n = 0;
    size_t i;
    json_t *c;
    json_array_foreach(json_object_get(r.json, "commands"), i, c) {
        if (!strcmp(json_string_value(json_object_get(c, "code")), "charge_energy")) {
            ck_assert_int_eq(json_integer_value(json_object_get(c, "value")), CHARGE);
            n++;
        }
    }
    h_free(&r);
    return n;
}

/* topupStatus of phone's newest purchase ("" when none), into out. */
static void topup_status(struct lipad *l, const char *phone, char *out, size_t n)
{
    json_t *p = h_wait_payment(l, phone, "completed", 0);
    snprintf(out, n, "%s", p ? json_string_value(json_object_get(p, "topupStatus")) : "");
    json_decref(p);
}

static bool wait_topup(struct lipad *l, const char *phone, const char *status, int ms)
{
    char now[16];
    for (int waited = 0; waited <= ms; waited += 100, h_sleep_ms(100)) {
        topup_status(l, phone, now, sizeof now);
        if (!strcmp(now, status))
            return true;
    }
    return false;
}

/* Killed, restarted, and what the caller sees meanwhile: the purchase is
 * paid, its top-up "checking" until the cloud's log settles it, then the
 * meter holds one charge more. */
static void restart_and_settle(struct lipad *l, const char *dir, const char *phone, const char *device,
                               long long before)
{
    int port = l->port;
    char st[16];
    h_lipad_stop(l, SIGKILL);
    ck_assert(h_lipad_start(l, port, dir, NULL));
    topup_status(l, phone, st, sizeof st);
    ck_assert_msg(!strcmp(st, "checking"), "after the restart the top-up is checked, not sent: %s", st);
    ck_assert_msg(wait_topup(l, phone, "done", 20000), "the top-up is done after the check");
    ck_assert_int_eq(charges(device), 1);
    ck_assert_int_eq(h_balance(device), before + CHARGE);
    h_sleep_ms(1000); /* and nothing more follows */
    ck_assert_int_eq(charges(device), 1);
    ck_assert_int_eq(h_balance(device), before + CHARGE);
    json_t *sms = h_wait_sms(phone, 1, 10000);
    ck_assert_msg(json_array_size(sms) >= 1 && strstr(json_string_value(json_object_get(json_array_get(sms, 0),
                                                                                      "message")), "Token: "),
                  "the receipt with the token");
    json_decref(sms);
}

/* The cloud applied the charge; lipad died before its answer came back. */
START_TEST(killed_after_the_cloud_applied_credits_once)
{
    struct lipad l;
    char dir[128];
    const char *phone = "+254711000201", *device = "e2edev201";
    own_start(&l, 55, "applied", dir, sizeof dir);
    caller(&l, phone, "E2E201", device);
    long long before = h_balance(device);
    hold(1, 20000, true);
    buy(&l, "s-applied-1", phone);
    int n = 0;
    for (int i = 0; i < 400 && !n; i++, h_sleep_ms(50))
        n = charges(device);
    ck_assert_msg(n == 1, "the cloud recorded the charge");
    restart_and_settle(&l, dir, phone, device, before);
    hold(0, 0, true);
    ck_assert_int_eq(h_lipad_stop(&l, SIGTERM), 0);
}
END_TEST

/* The charge never reached the cloud; lipad died waiting: after the check
 * it is sent, once. */
START_TEST(killed_before_the_cloud_heard_sends_once)
{
    struct lipad l;
    char dir[128];
    const char *phone = "+254711000202", *device = "e2edev202";
    own_start(&l, 56, "unheard", dir, sizeof dir);
    caller(&l, phone, "E2E202", device);
    long long before = h_balance(device), taken = holds_taken();
    hold(1, 4000, false);
    buy(&l, "s-unheard-1", phone);
    long long held = 0;
    for (int i = 0; i < 400 && !held; i++, h_sleep_ms(50))
        held = holds_taken() - taken;
    ck_assert_msg(held == 1, "the charge is in flight");
    ck_assert_int_eq(charges(device), 0);
    restart_and_settle(&l, dir, phone, device, before);
    ck_assert_int_eq(h_lipad_stop(&l, SIGTERM), 0);
}
END_TEST

/* No kill: the cloud applies the charge but answers after lipad gave up
 * (LIPA_HTTP_TIMEOUT_MS is 3 s here). Sending it again would credit twice;
 * the log says it arrived. */
START_TEST(slow_answer_checked_not_sent_again)
{
    struct lipad l;
    char dir[128];
    const char *phone = "+254711000203", *device = "e2edev203";
    own_start(&l, 57, "slow", dir, sizeof dir);
    caller(&l, phone, "E2E203", device);
    long long before = h_balance(device);
    hold(1, 6000, true);
    buy(&l, "s-slow-1", phone);
    ck_assert_msg(wait_topup(&l, phone, "checking", 15000), "a timed-out top-up is checked");
    ck_assert_msg(wait_topup(&l, phone, "done", 20000), "then done");
    h_sleep_ms(3000); /* past the held answer */
    ck_assert_int_eq(charges(device), 1);
    ck_assert_int_eq(h_balance(device), before + CHARGE);
    ck_assert_int_eq(h_lipad_stop(&l, SIGTERM), 0);
}
END_TEST

static void cloud_clock(long long offset_ms)
{
    char body[64];
    snprintf(body, sizeof body, "{\"offset_ms\":%lld}", offset_ms);
    struct http_result r = h_req(h_sandbox_port, "POST", "/sandbox/tuya/clock", "application/json", body, 0, NULL);
    ck_assert_msg(r.status == 200, "clock: %ld %s", r.status, r.body);
    h_free(&r);
}

/* The cloud's clock five minutes off (LIPA_TOPUP_SKEW_MS is 60 s): its log
 * could hold the charge outside the window it is sought in, so the check
 * waits and says why; once the clocks agree it settles, with one charge. */
START_TEST(cloud_clock_off_check_waits)
{
    struct lipad l;
    char dir[128];
    const char *phone = "+254711000204", *device = "e2edev204";
    own_start(&l, 58, "skew", dir, sizeof dir);
    int port = l.port;
    caller(&l, phone, "E2E204", device);
    long long before = h_balance(device);
    hold(1, 20000, true);
    buy(&l, "s-skew-1", phone);
    int n = 0;
    for (int i = 0; i < 400 && !n; i++, h_sleep_ms(50))
        n = charges(device);
    ck_assert_int_eq(n, 1);
    h_lipad_stop(&l, SIGKILL);
    cloud_clock(-300000);
    ck_assert(h_lipad_start(&l, port, dir, NULL));
    h_sleep_ms(6000); /* past the check's first try */
    json_t *p = h_wait_payment(&l, phone, "completed", 0);
    const char *err = json_string_value(json_object_get(p, "topupError"));
    ck_assert_str_eq(json_string_value(json_object_get(p, "topupStatus")), "checking");
    ck_assert_msg(err && strstr(err, "clock"), "says why: %s", err ? err : "(none)");
    json_decref(p);
    ck_assert_int_eq(charges(device), 1);
    cloud_clock(0);
    ck_assert_msg(wait_topup(&l, phone, "done", 30000), "settled once the clocks agree");
    ck_assert_int_eq(charges(device), 1);
    ck_assert_int_eq(h_balance(device), before + CHARGE);
    hold(0, 0, true);
    ck_assert_int_eq(h_lipad_stop(&l, SIGTERM), 0);
}
END_TEST

Suite *suite_topups(void)
{
    Suite *s = suite_create("topups");
    TCase *t = tcase_create("topups");
    tcase_set_timeout(t, 90);
    tcase_add_test(t, killed_after_the_cloud_applied_credits_once);
    tcase_add_test(t, killed_before_the_cloud_heard_sends_once);
    tcase_add_test(t, slow_answer_checked_not_sent_again);
    tcase_add_test(t, cloud_clock_off_check_waits);
    suite_add_tcase(s, t);
    return s;
}
