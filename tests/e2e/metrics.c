/* e2e metrics: GET /metrics is what Prometheus can read (promtool check
 * metrics finds nothing to say, before and after traffic), and its labelled
 * counters and histograms move with a purchase the way an operator reads
 * them. h_main is shared with the other suites, so every check is on a
 * difference, never on a total. */
#include "harness.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* The promtool on PATH, or NULL. */
static const char *promtool(void)
{
    static char path[512];
    FILE *p = popen("command -v promtool", "r");
    if (!p)
        return NULL;
    bool got = fgets(path, sizeof path, p) != NULL;
    pclose(p);
    if (!got)
        return NULL;
    path[strcspn(path, "\n")] = 0;
    return path[0] ? path : NULL;
}

/* lipad's /metrics text (malloc'ed). */
static char *scrape(void)
{
    struct http_result m = h_req(h_main.port, "GET", "/metrics", NULL, NULL, 0, NULL);
    ck_assert_msg(m.status == 200 && m.body, "GET /metrics: %ld", m.status);
    char *body = m.body;
    m.body = NULL;
    h_free(&m);
    return body;
}

/* Fails the test unless promtool finds nothing to say about text. A
 * missing promtool fails too: the check must not pass unseen. */
static void promtool_clean(const char *text, const char *when)
{
    const char *tool = promtool();
    ck_assert_msg(tool, "promtool is not on PATH: install it with make deps (tools/deps.sh, Debian's prometheus)");
    char in[400], out[400], cmd[1400];
    snprintf(in, sizeof in, "%s/metrics-%s.txt", h_main.dir, when);
    snprintf(out, sizeof out, "%s/promtool-%s.txt", h_main.dir, when);
    FILE *f = fopen(in, "w");
    ck_assert_ptr_nonnull(f);
    fputs(text, f);
    fclose(f);
    snprintf(cmd, sizeof cmd, "'%s' check metrics < '%s' > '%s' 2>&1", tool, in, out);
    int rc = system(cmd);
    char said[2000] = "";
    f = fopen(out, "r");
    if (f) {
        size_t n = fread(said, 1, sizeof said - 1, f);
        said[n] = 0;
        fclose(f);
    }
    ck_assert_msg(rc == 0 && !said[0], "promtool check metrics (%s, %s): exit %d: %s", when, in, rc, said);
}

/* The value of the sample named exactly so (labels included), -1 when
 * the text has none. */
static double sample(const char *text, const char *name)
{
    char key[256];
    snprintf(key, sizeof key, "\n%s ", name);
    const char *at = strstr(text, key);
    return at ? strtod(at + strlen(key), NULL) : -1;
}

/* Every sample the test follows, at one scrape. */
enum {
    HOPS, HOP_COUNT, HOP_SUM, HOP_INF, PUSH_OK, FIN_DONE, FIN_CANCELLED, DARAJA_OK, AT_OK, TUYA_OK,
    DARAJA_REQS, AT_REQS, TUYA_REQS, SMS_SENT, NSAMPLES
};
static const char *const followed[NSAMPLES] = {
    "lipa_ussd_hops_total",
    "lipa_ussd_hop_duration_seconds_count",
    "lipa_ussd_hop_duration_seconds_sum",
    "lipa_ussd_hop_duration_seconds_bucket{le=\"+Inf\"}",
    "lipa_stk_pushes_total{outcome=\"accepted\"}",
    "lipa_purchases_finished_total{state=\"completed\"}",
    "lipa_purchases_finished_total{state=\"cancelled\"}",
    "lipa_provider_calls_total{provider=\"daraja\",outcome=\"ok\"}",
    "lipa_provider_calls_total{provider=\"africastalking\",outcome=\"ok\"}",
    "lipa_provider_calls_total{provider=\"tuya\",outcome=\"ok\"}",
    "lipa_provider_request_duration_seconds_count{provider=\"daraja\"}",
    "lipa_provider_request_duration_seconds_count{provider=\"africastalking\"}",
    "lipa_provider_request_duration_seconds_count{provider=\"tuya\"}",
    "lipa_sms_sent_total",
};

static void read_all(double *v)
{
    char *text = scrape();
    for (int i = 0; i < NSAMPLES; i++) {
        v[i] = sample(text, followed[i]);
        ck_assert_msg(v[i] >= 0, "/metrics has no %s", followed[i]);
    }
    free(text);
}

/* Walks a purchase of amount through its five hops (the sandbox answers
 * 100 with a payment, 102 with a cancellation). */
static void buy(const char *session, const char *phone, const char *amount)
{
    char steps[5][64];
    snprintf(steps[0], sizeof steps[0], "%s", "");
    snprintf(steps[1], sizeof steps[1], "1");
    snprintf(steps[2], sizeof steps[2], "1*1");
    snprintf(steps[3], sizeof steps[3], "1*1*%s", amount);
    snprintf(steps[4], sizeof steps[4], "1*1*%s*1", amount);
    for (int i = 0; i < 5; i++) {
        char *a = h_ussd(&h_main, session, phone, steps[i]);
        ck_assert_msg(!strncmp(a, i < 4 ? "CON " : "END ", 4), "hop %d: %s", i, a);
        free(a);
    }
}

START_TEST(metrics_pass_promtool_and_move_with_purchases)
{
    char *text = scrape();
    promtool_clean(text, "before");
    free(text);
    double before[NSAMPLES], after[NSAMPLES];
    read_all(before);

    const char *phone = "+254711000901", *other = "+254711000902";
    long long uid = h_user(&h_main, phone, "en");
    h_meter(&h_main, "E2EM01", "e2edevm01", "Home");
    h_assign(&h_main, uid, "E2EM01");
    long long uid2 = h_user(&h_main, other, "en");
    h_meter(&h_main, "E2EM02", "e2edevm02", "Home");
    h_assign(&h_main, uid2, "E2EM02");

    buy("s-metrics-1", phone, "100");
    json_t *p = h_wait_payment(&h_main, phone, "completed", 20000);
    ck_assert_msg(p, "the purchase completed");
    json_decref(p);
    json_t *sms = h_wait_sms(phone, 1, 20000);
    ck_assert_int_eq(json_array_size(sms), 1);
    json_decref(sms);
    long long bal = -1;
    for (int i = 0; i < 100 && bal != 400; i++, h_sleep_ms(100))
        bal = h_balance("e2edevm01");
    ck_assert_int_eq(bal, 400);

    buy("s-metrics-2", other, "102");
    p = h_wait_payment(&h_main, other, "cancelled", 20000);
    ck_assert_msg(p, "the second purchase was cancelled");
    json_decref(p);
    sms = h_wait_sms(other, 1, 20000);
    json_decref(sms);
    /* the counters are bumped just after what the test waited for shows */
    for (int i = 0; i < 50; i++, h_sleep_ms(100)) {
        read_all(after);
        if (after[SMS_SENT] >= before[SMS_SENT] + 2 && after[FIN_CANCELLED] >= before[FIN_CANCELLED] + 1)
            break;
    }

    /* ten hops: counted, and each timed once, in the right bucket sum */
    ck_assert_int_ge(after[HOPS] - before[HOPS], 10);
    ck_assert_int_ge(after[HOP_COUNT] - before[HOP_COUNT], 10);
    ck_assert_msg(after[HOP_INF] == after[HOP_COUNT], "+Inf bucket %g, count %g", after[HOP_INF], after[HOP_COUNT]);
    ck_assert_msg(after[HOP_SUM] > before[HOP_SUM], "hop time sum %g -> %g", before[HOP_SUM], after[HOP_SUM]);
    ck_assert_int_ge(after[PUSH_OK] - before[PUSH_OK], 2);
    ck_assert_int_ge(after[FIN_DONE] - before[FIN_DONE], 1);
    ck_assert_int_ge(after[FIN_CANCELLED] - before[FIN_CANCELLED], 1);
    ck_assert_int_ge(after[DARAJA_OK] - before[DARAJA_OK], 2);  /* the pushes */
    ck_assert_int_ge(after[AT_OK] - before[AT_OK], 2);          /* receipt and cancel notice */
    ck_assert_int_ge(after[TUYA_OK] - before[TUYA_OK], 1);      /* the top-up */
    ck_assert_int_ge(after[DARAJA_REQS] - before[DARAJA_REQS], 2);
    ck_assert_int_ge(after[AT_REQS] - before[AT_REQS], 2);
    ck_assert_int_ge(after[TUYA_REQS] - before[TUYA_REQS], 1);
    ck_assert_int_ge(after[SMS_SENT] - before[SMS_SENT], 2);

    text = scrape();
    promtool_clean(text, "after");
    free(text);
}
END_TEST

/* An SMS held in the outbox shows as the oldest queued one's age. */
START_TEST(oldest_queued_sms_age)
{
    long long now = (long long)time(NULL) * 1000;
    char sql[600];
    /* due in an hour: the outbox worker leaves it be while the test reads */
    snprintf(sql, sizeof sql,
             "INSERT INTO outbox (phone, body, kind, status, next_at, created_at, updated_at) VALUES "
             "('+254711000903', 'metrics-held', 'answer', 'queued', %lld, %lld, %lld);",
             now + 3600000, now - 90000, now - 90000);
    ck_assert(h_sql(&h_main, sql));
    char *text = scrape();
    double age = sample(text, "lipa_outbox_oldest_age_seconds"), depth = sample(text, "lipa_outbox_depth");
    free(text);
    ck_assert(h_sql(&h_main, "UPDATE outbox SET status = 'failed' WHERE body = 'metrics-held';"));
    ck_assert_msg(depth >= 1, "depth %g", depth);
    ck_assert_msg(age >= 89 && age < 3600, "the held SMS is 90 s old: %g", age);
}
END_TEST

Suite *suite_metrics(void)
{
    Suite *s = suite_create("metrics");
    TCase *t = tcase_create("metrics");
    tcase_set_timeout(t, 90);
    tcase_add_test(t, metrics_pass_promtool_and_move_with_purchases);
    tcase_add_test(t, oldest_queued_sms_age);
    suite_add_tcase(s, t);
    return s;
}
