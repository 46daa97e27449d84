/* e2e metrics: GET /metrics is what Prometheus can read (promtool check
 * metrics finds nothing to say, before and after traffic), and its labelled
 * counters and histograms move with a purchase the way an operator reads
 * them; the USSD funnel shows where sessions ended. h_main is shared with
 * the other suites, so every check is on a difference, never on a total. */
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

/* Runs promtool with args (from the repo root, where the suite runs);
 * fails the test, with what promtool said, unless it exits 0. */
static void promtool_ok(const char *args, const char *what)
{
    const char *tool = promtool();
    ck_assert_msg(tool, "promtool is not on PATH: install it with make deps (tools/deps.sh, Debian's prometheus)");
    char out[400], cmd[1600];
    snprintf(out, sizeof out, "%s/promtool-%s.txt", h_main.dir, what);
    snprintf(cmd, sizeof cmd, "'%s' %s > '%s' 2>&1", tool, args, out);
    int rc = system(cmd);
    char said[4000] = "";
    FILE *f = fopen(out, "r");
    if (f) {
        size_t n = fread(said, 1, sizeof said - 1, f);
        said[n] = 0;
        fclose(f);
    }
    ck_assert_msg(rc == 0, "promtool %s: exit %d: %s", args, rc, said);
}

/* A whole file (malloc'ed). */
static char *slurp(const char *path)
{
    FILE *f = fopen(path, "rb");
    ck_assert_msg(f, "cannot open %s", path);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *text = malloc((size_t)n + 1);
    ck_assert_ptr_nonnull(text);
    ck_assert_int_eq(fread(text, 1, (size_t)n, f), n);
    text[n] = 0;
    fclose(f);
    return text;
}

/* Asserts that every metric name in text (each lipa_... word: the file's
 * queries, and whatever else names a metric) has a sample in the /metrics
 * text scraped; returns how many different names it checked. */
static int names_exist(const char *text, const char *scraped, const char *file)
{
    char seen[64][64];
    int nseen = 0;
    for (const char *p = text; (p = strstr(p, "lipa_"));) {
        if (p > text && ((p[-1] >= 'a' && p[-1] <= 'z') || p[-1] == '_')) {
            p++;
            continue; /* inside a longer word */
        }
        size_t n = strspn(p, "abcdefghijklmnopqrstuvwxyz0123456789_");
        char name[64];
        ck_assert_msg(n < sizeof name, "%s: a name too long at %.40s", file, p);
        memcpy(name, p, n);
        name[n] = 0;
        p += n;
        bool dup = false;
        for (int i = 0; i < nseen && !dup; i++)
            dup = !strcmp(seen[i], name);
        if (dup)
            continue;
        char with_labels[80], bare[80];
        snprintf(with_labels, sizeof with_labels, "\n%s{", name);
        snprintf(bare, sizeof bare, "\n%s ", name);
        ck_assert_msg(strstr(scraped, with_labels) || strstr(scraped, bare), "%s uses %s, which /metrics does not show",
                      file, name);
        ck_assert_int_lt(nseen, 64);
        snprintf(seen[nseen++], sizeof seen[0], "%s", name);
    }
    return nseen;
}

/* Every "expr" in the dashboard (j and below) into rules as a recording
 * rule, Grafana's variables given values, so promtool parses it. */
static int dashboard_exprs(json_t *j, FILE *rules, int n)
{
    const char *k;
    json_t *v;
    size_t i;
    if (json_is_object(j)) {
        json_object_foreach(j, k, v)
        {
            if (!strcmp(k, "expr") && json_is_string(v)) {
                char e[2000], *at;
                snprintf(e, sizeof e, "%s", json_string_value(v));
                static const char *const vars[][2] = {
                    {"$__rate_interval", "5m"}, {"$__range", "6h"}, {"$instance", ".*"}, {"$menu", ".*"}};
                for (size_t x = 0; x < sizeof vars / sizeof vars[0]; x++)
                    while ((at = strstr(e, vars[x][0]))) {
                        char rest[2000];
                        snprintf(rest, sizeof rest, "%s", at + strlen(vars[x][0]));
                        snprintf(at, sizeof e - (size_t)(at - e), "%s%s", vars[x][1], rest);
                    }
                ck_assert_msg(!strchr(e, '$'), "a Grafana variable the test does not know: %s", e);
                fprintf(rules, "      - record: dashboard:expr_%d\n        expr: |\n          %s\n", n++, e);
            } else {
                n = dashboard_exprs(v, rules, n);
            }
        }
    } else if (json_is_array(j)) {
        json_array_foreach(j, i, v)
            n = dashboard_exprs(v, rules, n);
    }
    return n;
}

/* The example alert rules (docs/alerts.yml) are rules Prometheus loads,
 * and each alert fires on the series it is for and not on a healthy
 * lipad (tests/alerts/alerts_test.yml). */
START_TEST(alert_rules_load_and_fire)
{
    promtool_ok("check rules docs/alerts.yml", "check-rules");
    promtool_ok("test rules tests/alerts/alerts_test.yml", "test-rules");
}
END_TEST

/* The dashboard (docs/grafana-lipa.json) is JSON Grafana reads, with a
 * query in every panel that is PromQL, and every metric name it and the
 * alert rules use is one a real lipad shows. */
START_TEST(dashboard_and_alerts_name_real_metrics)
{
    char *scraped = scrape();
    json_error_t err;
    json_t *dash = json_load_file("docs/grafana-lipa.json", 0, &err);
    ck_assert_msg(dash, "docs/grafana-lipa.json: line %d: %s", err.line, err.text);
    json_t *panels = json_object_get(dash, "panels");
    ck_assert(json_array_size(panels) >= 10);
    size_t i;
    json_t *p;
    json_array_foreach(panels, i, p)
    {
        const char *type = json_string_value(json_object_get(p, "type"));
        ck_assert_ptr_nonnull(type);
        ck_assert_msg(!strcmp(type, "row") || json_array_size(json_object_get(p, "targets")) > 0,
                      "panel %zu has no query", i);
    }
    char path[400];
    snprintf(path, sizeof path, "%s/dashboard-rules.yml", h_main.dir);
    FILE *rules = fopen(path, "w");
    ck_assert_ptr_nonnull(rules);
    fputs("groups:\n  - name: dashboard\n    rules:\n", rules);
    int nexpr = dashboard_exprs(dash, rules, 0);
    fclose(rules);
    json_decref(dash);
    ck_assert_int_ge(nexpr, 20);
    char args[500];
    snprintf(args, sizeof args, "check rules '%s'", path);
    promtool_ok(args, "dashboard");

    char *text = slurp("docs/grafana-lipa.json");
    ck_assert_int_ge(names_exist(text, scraped, "docs/grafana-lipa.json"), 20);
    free(text);
    text = slurp("docs/alerts.yml");
    ck_assert_int_ge(names_exist(text, scraped, "docs/alerts.yml"), 10);
    free(text);
    free(scraped);
}
END_TEST

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
    DARAJA_REQS, AT_REQS, TUYA_REQS, SMS_SENT, CB_SUCCESS, CB_CANCELLED, TOPUP_DONE, CB_SMS_COUNT, CB_SMS_INF,
    IN_MAIN, IN_METER, IN_AMOUNT, IN_CONFIRM, IN_BUY, DONE_BUY, LEFT_CONFIRM, NSAMPLES
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
    "lipa_mpesa_callback_outcomes_total{outcome=\"success\"}",
    "lipa_mpesa_callback_outcomes_total{outcome=\"cancelled\"}",
    "lipa_topup_outcomes_total{outcome=\"done\"}",
    "lipa_callback_to_sms_seconds_count",
    "lipa_callback_to_sms_seconds_bucket{le=\"+Inf\"}",
    "lipa_ussd_screen_total{menu=\"main\",screen=\"main\",event=\"entered\"}",
    "lipa_ussd_screen_total{menu=\"electricity\",screen=\"elec_meter\",event=\"entered\"}",
    "lipa_ussd_screen_total{menu=\"electricity\",screen=\"elec_amount\",event=\"entered\"}",
    "lipa_ussd_screen_total{menu=\"electricity\",screen=\"elec_confirm\",event=\"entered\"}",
    "lipa_ussd_screen_total{menu=\"electricity\",screen=\"elec_buy\",event=\"entered\"}",
    "lipa_ussd_screen_total{menu=\"electricity\",screen=\"elec_buy\",event=\"completed\"}",
    "lipa_ussd_screen_total{menu=\"electricity\",screen=\"elec_confirm\",event=\"abandoned\"}",
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
    /* what the two callbacks said; the top-up; the token SMS timed from
     * its callback (the cancellation notice is not a token) */
    ck_assert_int_eq(after[CB_SUCCESS] - before[CB_SUCCESS], 1);
    ck_assert_int_eq(after[CB_CANCELLED] - before[CB_CANCELLED], 1);
    ck_assert_int_eq(after[TOPUP_DONE] - before[TOPUP_DONE], 1);
    ck_assert_int_eq(after[CB_SMS_COUNT] - before[CB_SMS_COUNT], 1);
    ck_assert(after[CB_SMS_INF] == after[CB_SMS_COUNT]);
    /* the funnel: both walked main -> meter -> amount -> confirm -> buy,
     * and ended there, done */
    for (int i = IN_MAIN; i <= IN_BUY; i++)
        ck_assert_msg(after[i] - before[i] == 2, "%s: %g -> %g", followed[i], before[i], after[i]);
    ck_assert_int_eq(after[DONE_BUY] - before[DONE_BUY], 2);
    ck_assert_int_eq(after[LEFT_CONFIRM] - before[LEFT_CONFIRM], 0);

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

/* AT's end-of-session notification for session sid. */
static void session_ended(const char *sid, const char *phone, const char *status)
{
    char body[300];
    snprintf(body, sizeof body, "sessionId=%s&phoneNumber=%%2B%s&status=%s&hopsCount=4", sid, phone + 1, status);
    struct http_result r = h_req(h_main.port, "POST", "/api/ussd/events", "application/x-www-form-urlencoded", body,
                                 strlen(body), NULL);
    ck_assert_msg(r.status == 200, "POST /api/ussd/events: %ld", r.status);
    h_free(&r);
}

/* The funnel counter of an electricity screen and event, at one scrape. */
static double funnel(const char *text, const char *menu, const char *screen, const char *event)
{
    char name[200];
    snprintf(name, sizeof name, "lipa_ussd_screen_total{menu=\"%s\",screen=\"%s\",event=\"%s\"}", menu, screen,
             event);
    double v = sample(text, name);
    ck_assert_msg(v >= 0, "/metrics has no %s", name);
    return v;
}

/* Where sessions end, as the funnel shows it: a caller who reaches the
 * confirm screen and hangs up (AT's notification) is abandoned there; one
 * who answers No ends on the cancelled screen, abandoned (they chose to
 * leave); a repeated hop or a wrong entry enters nothing again; AT's
 * notification of a session lipad ended itself counts nothing more. */
START_TEST(funnel_shows_where_sessions_end)
{
    const char *phone = "+254711000904";
    long long uid = h_user(&h_main, phone, "en");
    h_meter(&h_main, "E2EM04", "e2edevm04", "Home");
    h_assign(&h_main, uid, "E2EM04");
    static const char *const points[][3] = {
        {"main", "main", "entered"},
        {"electricity", "elec_amount", "entered"},
        {"electricity", "elec_confirm", "entered"},
        {"electricity", "elec_confirm", "abandoned"},
        {"electricity", "elec_cancelled", "entered"},
        {"electricity", "elec_cancelled", "abandoned"},
        {"electricity", "elec_cancelled", "completed"},
        {"electricity", "elec_buy", "entered"},
    };
    enum { N = sizeof points / sizeof points[0] };
    double before[N], after[N];
    char *text = scrape();
    for (int i = 0; i < N; i++)
        before[i] = funnel(text, points[i][0], points[i][1], points[i][2]);
    free(text);

    /* left on the confirm screen: the caller hung up */
    const char *const walk[] = {"", "1", "1*1", "1*1*100"};
    for (int i = 0; i < 4; i++)
        free(h_ussd(&h_main, "s-funnel-left", phone, walk[i]));
    free(h_ussd(&h_main, "s-funnel-left", phone, "1*1*100")); /* AT repeating the hop */
    session_ended("s-funnel-left", phone, "Incomplete");
    session_ended("s-funnel-left", phone, "Incomplete"); /* and its notification */
    /* No on the confirm screen, after a wrong amount (another caller: the
     * first, dialling again, would be offered to resume the dropped one) */
    const char *other = "+254711000905";
    long long uid2 = h_user(&h_main, other, "en");
    h_meter(&h_main, "E2EM05", "e2edevm05", "Home");
    h_assign(&h_main, uid2, "E2EM05");
    const char *const no[] = {"", "1", "1*1", "1*1*abc", "1*1*abc*100", "1*1*abc*100*2"};
    for (int i = 0; i < 6; i++) {
        char *a = h_ussd(&h_main, "s-funnel-no", other, no[i]);
        ck_assert_msg(!strncmp(a, i < 5 ? "CON " : "END Purchase cancelled", i < 5 ? 4 : 22), "hop %d: %s", i, a);
        free(a);
    }
    session_ended("s-funnel-no", other, "Success");

    text = scrape();
    for (int i = 0; i < N; i++)
        after[i] = funnel(text, points[i][0], points[i][1], points[i][2]);
    free(text);
    static const int moved[N] = {2, 2, 2, 1, 1, 1, 0, 0};
    for (int i = 0; i < N; i++)
        ck_assert_msg(after[i] - before[i] == moved[i], "%s %s: %g -> %g, expected +%d", points[i][1],
                      points[i][2], before[i], after[i], moved[i]);
}
END_TEST

Suite *suite_metrics(void)
{
    Suite *s = suite_create("metrics");
    TCase *t = tcase_create("metrics");
    tcase_set_timeout(t, 90);
    tcase_add_test(t, metrics_pass_promtool_and_move_with_purchases);
    tcase_add_test(t, oldest_queued_sms_age);
    tcase_add_test(t, funnel_shows_where_sessions_end);
    tcase_add_test(t, alert_rules_load_and_fire);
    tcase_add_test(t, dashboard_and_alerts_name_real_metrics);
    suite_add_tcase(s, t);
    return s;
}
