/* check_metrics: util/metrics' text as Prometheus reads it: an observation
 * in the one bucket its time falls in and every bucket above it, +Inf equal
 * to _count, the sum in seconds, every label value shown from the start,
 * and a state outside the fixed set not counted. Check forks each test, so
 * every test starts from zero. */
#include "runner.h"
#include "util/buf.h"
#include "util/metrics.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char *render(void)
{
    struct buf b;
    buf_init(&b, 0);
    metrics_render(&b);
    ck_assert_ptr_nonnull(b.data);
    char *s = strdup(b.data);
    buf_free(&b);
    return s;
}

static bool has_line(const char *text, const char *line)
{
    char key[300];
    snprintf(key, sizeof key, "\n%s\n", line);
    return strstr(text, key) != NULL;
}

START_TEST(every_label_value_from_the_start)
{
    char *t = render();
    ck_assert(has_line(t, "lipa_stk_pushes_total{outcome=\"accepted\"} 0"));
    ck_assert(has_line(t, "lipa_stk_pushes_total{outcome=\"refused\"} 0"));
    ck_assert(has_line(t, "lipa_provider_calls_total{provider=\"paystack\",outcome=\"retry\"} 0"));
    ck_assert(has_line(t, "lipa_purchases_finished_total{state=\"timeout\"} 0"));
    ck_assert(has_line(t, "lipa_ussd_hop_duration_seconds_bucket{le=\"+Inf\"} 0"));
    ck_assert(has_line(t, "lipa_ussd_hop_duration_seconds_sum 0.000000"));
    ck_assert(has_line(t, "lipa_provider_request_duration_seconds_count{provider=\"tuya\"} 0"));
    ck_assert(has_line(t, "# TYPE lipa_ussd_hop_duration_seconds histogram"));
    free(t);
}
END_TEST

START_TEST(observations_land_in_their_buckets)
{
    /* 30 ms ago: above 25 ms, within 50 ms (20 ms to spare for a slow run) */
    metrics_hop_time(metrics_clock_us() - 30000);
    metrics_hop_time(metrics_clock_us() - 30000);
    /* 2 s ago, for a provider: above 1 s, within 2.5 s */
    metrics_provider_time(MP_DARAJA, metrics_clock_us() - 2000000);
    char *t = render();
    ck_assert_msg(has_line(t, "lipa_ussd_hop_duration_seconds_bucket{le=\"0.025\"} 0"), "%s", t);
    ck_assert(has_line(t, "lipa_ussd_hop_duration_seconds_bucket{le=\"0.05\"} 2"));
    ck_assert(has_line(t, "lipa_ussd_hop_duration_seconds_bucket{le=\"2.5\"} 2"));
    ck_assert(has_line(t, "lipa_ussd_hop_duration_seconds_bucket{le=\"+Inf\"} 2"));
    ck_assert(has_line(t, "lipa_ussd_hop_duration_seconds_count 2"));
    const char *sum = strstr(t, "\nlipa_ussd_hop_duration_seconds_sum ");
    ck_assert_ptr_nonnull(sum);
    double s = strtod(sum + strlen("\nlipa_ussd_hop_duration_seconds_sum "), NULL);
    ck_assert_msg(s >= 0.06 && s < 0.1, "sum %g", s);
    ck_assert(has_line(t, "lipa_provider_request_duration_seconds_bucket{provider=\"daraja\",le=\"1\"} 0"));
    ck_assert(has_line(t, "lipa_provider_request_duration_seconds_bucket{provider=\"daraja\",le=\"2.5\"} 1"));
    ck_assert(has_line(t, "lipa_provider_request_duration_seconds_count{provider=\"daraja\"} 1"));
    ck_assert(has_line(t, "lipa_provider_request_duration_seconds_count{provider=\"africastalking\"} 0"));
    free(t);
}
END_TEST

START_TEST(counters_by_label)
{
    metrics_push(MO_OK);
    metrics_push(MO_OK);
    metrics_push(MO_REFUSED);
    metrics_provider_call(MP_AFRICASTALKING, MO_RETRY);
    metrics_provider_call(MP_COUNT, MO_OK);       /* out of the set: ignored */
    metrics_provider_call(MP_TUYA, MO_COUNT);
    metrics_purchase_finished("cancelled");
    metrics_purchase_finished("processing");     /* not a final state */
    metrics_purchase_finished(NULL);
    char *t = render();
    ck_assert(has_line(t, "lipa_stk_pushes_total{outcome=\"accepted\"} 2"));
    ck_assert(has_line(t, "lipa_stk_pushes_total{outcome=\"retry\"} 0"));
    ck_assert(has_line(t, "lipa_stk_pushes_total{outcome=\"refused\"} 1"));
    ck_assert(has_line(t, "lipa_provider_calls_total{provider=\"africastalking\",outcome=\"retry\"} 1"));
    ck_assert(has_line(t, "lipa_provider_calls_total{provider=\"tuya\",outcome=\"ok\"} 0"));
    ck_assert(has_line(t, "lipa_purchases_finished_total{state=\"cancelled\"} 1"));
    ck_assert(has_line(t, "lipa_purchases_finished_total{state=\"completed\"} 0"));
    free(t);
}
END_TEST

START_TEST(outcomes_by_label)
{
    metrics_callback(MC_REJECTED);
    metrics_callback_status("completed");
    metrics_callback_status("timeout");
    metrics_callback_status("processing");    /* not what a callback settles to */
    metrics_callback(MC_COUNT);
    metrics_topup(MT_UNSURE);
    metrics_topup(MT_COUNT);
    metrics_sms_report("delivered");
    metrics_sms_report("");                   /* noted only: not final */
    char *t = render();
    ck_assert(has_line(t, "lipa_mpesa_callback_outcomes_total{outcome=\"rejected\"} 1"));
    ck_assert(has_line(t, "lipa_mpesa_callback_outcomes_total{outcome=\"success\"} 1"));
    ck_assert(has_line(t, "lipa_mpesa_callback_outcomes_total{outcome=\"timeout\"} 1"));
    ck_assert(has_line(t, "lipa_mpesa_callback_outcomes_total{outcome=\"duplicate\"} 0"));
    ck_assert(has_line(t, "lipa_topup_outcomes_total{outcome=\"unsure\"} 1"));
    ck_assert(has_line(t, "lipa_topup_outcomes_total{outcome=\"done\"} 0"));
    ck_assert(has_line(t, "lipa_sms_reports_total{outcome=\"delivered\"} 1"));
    ck_assert(has_line(t, "lipa_sms_reports_total{outcome=\"failed\"} 0"));
    free(t);
}
END_TEST

/* Wall-clock milliseconds, as the callback's arrival is stored. */
START_TEST(callback_to_sms_in_its_bucket)
{
    metrics_callback_to_sms(1000000, 1000000 + 3500); /* 3.5 s: above 2, within 5 */
    metrics_callback_to_sms(0, 5000);                 /* no callback time: not counted */
    char *t = render();
    ck_assert(has_line(t, "lipa_callback_to_sms_seconds_bucket{le=\"2\"} 0"));
    ck_assert(has_line(t, "lipa_callback_to_sms_seconds_bucket{le=\"5\"} 1"));
    ck_assert(has_line(t, "lipa_callback_to_sms_seconds_bucket{le=\"+Inf\"} 1"));
    ck_assert(has_line(t, "lipa_callback_to_sms_seconds_sum 3.500000"));
    ck_assert(has_line(t, "lipa_callback_to_sms_seconds_count 1"));
    free(t);
}
END_TEST

/* A slot per menu and screen, the same one asked again; a name with
 * characters a label cannot hold plainly shows them as _; a full table
 * counts nothing more. */
START_TEST(funnel_slots_and_counts)
{
    int confirm = metrics_screen_slot("electricity", "elec_confirm");
    ck_assert_int_eq(metrics_screen_slot("electricity", "elec_confirm"), confirm);
    int odd = metrics_screen_slot("my \"menu\"\n", "main");
    ck_assert_int_ne(odd, confirm);
    metrics_screen(confirm, MS_ENTERED);
    metrics_screen(confirm, MS_ENTERED);
    metrics_screen(confirm, MS_ABANDONED);
    metrics_screen(-1, MS_ENTERED);
    metrics_screen(odd, MS_COUNT);
    char *t = render();
    ck_assert(has_line(t, "# TYPE lipa_ussd_screen_total counter"));
    ck_assert(has_line(t, "lipa_ussd_screen_total{menu=\"electricity\",screen=\"elec_confirm\",event=\"entered\"} 2"));
    ck_assert(has_line(t, "lipa_ussd_screen_total{menu=\"electricity\",screen=\"elec_confirm\",event=\"abandoned\"} 1"));
    ck_assert(has_line(t, "lipa_ussd_screen_total{menu=\"electricity\",screen=\"elec_confirm\",event=\"timed_out\"} 0"));
    ck_assert(has_line(t, "lipa_ussd_screen_total{menu=\"my__menu__\",screen=\"main\",event=\"entered\"} 0"));
    free(t);
    char name[32];
    int last = -1;
    for (int i = 0; i < METRICS_SCREENS_MAX + 5; i++) {
        snprintf(name, sizeof name, "s%d", i);
        last = metrics_screen_slot("many", name);
    }
    ck_assert_int_eq(last, -1);
    ck_assert_int_eq(metrics_screen_slot("electricity", "elec_confirm"), confirm); /* still found */
}
END_TEST

Suite *test_suite(void)
{
    Suite *s = suite_create("metrics");
    TCase *tc = tcase_create("metrics");
    tcase_add_test(tc, every_label_value_from_the_start);
    tcase_add_test(tc, observations_land_in_their_buckets);
    tcase_add_test(tc, counters_by_label);
    tcase_add_test(tc, outcomes_by_label);
    tcase_add_test(tc, callback_to_sms_in_its_bucket);
    tcase_add_test(tc, funnel_slots_and_counts);
    suite_add_tcase(s, tc);
    return s;
}
