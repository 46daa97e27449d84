/* util/metrics: see metrics.h. A histogram keeps one count per bucket (not
 * cumulative: an observation adds to one bucket only) and the sum in
 * microseconds; the cumulative counts Prometheus wants are added up at the
 * scrape, so the +Inf bucket and _count always agree. A scrape reads the
 * atomics one by one, not as one snapshot: a sample may be one observation
 * behind another, which Prometheus' rate() does not mind. */
#include "util/metrics.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#define MAX_BUCKETS 16

struct histogram {
    int n;                           /* finite bounds */
    const int64_t *bound_us;
    const char *const *bound_text;   /* the same bounds as Prometheus reads them */
    atomic_llong count[MAX_BUCKETS]; /* [i]: <= bound i, not <= bound i-1; [n]: above all */
    atomic_llong sum_us;
};

/* A USSD hop is answered from memory in well under a millisecond; a
 * purchase hop writes the intake (SQLite) or waits for a commit
 * (PostgreSQL); AT gives up on an answer after a few seconds. */
static const int64_t hop_us[] = {250, 500, 1000, 2500, 5000, 10000, 25000, 50000, 100000, 250000, 500000, 1000000,
                                 2500000};
static const char *const hop_text[] = {"0.00025", "0.0005", "0.001", "0.0025", "0.005", "0.01", "0.025",
                                       "0.05",    "0.1",    "0.25",  "0.5",    "1",     "2.5"};
/* A provider answers in tens or hundreds of milliseconds, or times out
 * after the adapter's timeout (seconds). */
static const int64_t prov_us[] = {10000, 25000, 50000, 100000, 250000, 500000, 1000000, 2500000, 5000000,
                                  10000000, 30000000};
static const char *const prov_text[] = {"0.01", "0.025", "0.05", "0.1", "0.25", "0.5",
                                        "1",    "2.5",   "5",    "10",  "30"};
/* From the callback to the SMS: the group commit, the payment worker, the
 * outbox worker and AT, seconds when all is well; the outbox retries for
 * up to ten minutes between tries when AT fails. */
static const int64_t sms_us[] = {500000, 1000000, 2000000, 5000000, 10000000, 30000000, 60000000, 120000000,
                                 300000000, 900000000, 3600000000};
static const char *const sms_text[] = {"0.5", "1", "2", "5", "10", "30", "60", "120", "300", "900", "3600"};
#define NB(a) ((int)(sizeof a / sizeof a[0]))

static struct histogram hops = {NB(hop_us), hop_us, hop_text, {0}, 0};
static struct histogram prov_time[MP_COUNT] = {
    {NB(prov_us), prov_us, prov_text, {0}, 0},
    {NB(prov_us), prov_us, prov_text, {0}, 0},
    {NB(prov_us), prov_us, prov_text, {0}, 0},
    {NB(prov_us), prov_us, prov_text, {0}, 0},
};
static atomic_llong prov_calls[MP_COUNT][MO_COUNT];
static atomic_llong pushes[MO_COUNT];
static struct histogram cb_sms = {NB(sms_us), sms_us, sms_text, {0}, 0};

static const char *const callback_names[MC_COUNT] = {"success", "cancelled", "failed", "timeout", "duplicate",
                                                      "rejected"};
static atomic_llong callbacks[MC_COUNT];
static const char *const topup_names[MT_COUNT] = {"done", "retry", "unsure", "failed"};
static atomic_llong topups[MT_COUNT];
static const char *const report_names[] = {"delivered", "failed"};
static atomic_llong reports[2];

/* The funnel: names written once, before n counts them in (release), so a
 * scrape reading n (acquire) sees whole names. */
struct screen_slot {
    char menu[48], screen[48];
    atomic_llong ev[MS_COUNT];
};
static struct screen_slot screens[METRICS_SCREENS_MAX];
static atomic_int nscreens;
static pthread_mutex_t screens_lock = PTHREAD_MUTEX_INITIALIZER;
static const char *const screen_event_names[MS_COUNT] = {"entered", "completed", "abandoned", "timed_out"};

static const char *const finished_names[] = {"completed", "failed", "cancelled", "timeout"};
#define FINISHED_COUNT NB(finished_names)
static atomic_llong finished[FINISHED_COUNT];

static const char *const provider_names[MP_COUNT] = {"daraja", "africastalking", "tuya", "paystack"};
static const char *const outcome_names[MO_COUNT] = {"ok", "retry", "refused"};
static const char *const push_names[MO_COUNT] = {"accepted", "retry", "refused"};

int64_t metrics_clock_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static void observe_us(struct histogram *h, int64_t us)
{
    if (us < 0)
        us = 0;
    int i = 0;
    while (i < h->n && us > h->bound_us[i])
        i++;
    atomic_fetch_add_explicit(&h->count[i], 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&h->sum_us, us, memory_order_relaxed);
}

static void observe(struct histogram *h, int64_t since_us)
{
    observe_us(h, metrics_clock_us() - since_us);
}

void metrics_provider_call(enum metric_provider p, enum metric_outcome o)
{
    if ((unsigned)p < MP_COUNT && (unsigned)o < MO_COUNT)
        atomic_fetch_add_explicit(&prov_calls[p][o], 1, memory_order_relaxed);
}

void metrics_provider_time(enum metric_provider p, int64_t since_us)
{
    if ((unsigned)p < MP_COUNT)
        observe(&prov_time[p], since_us);
}

void metrics_push(enum metric_outcome o)
{
    if ((unsigned)o < MO_COUNT)
        atomic_fetch_add_explicit(&pushes[o], 1, memory_order_relaxed);
}

void metrics_purchase_finished(const char *status)
{
    for (int i = 0; status && i < FINISHED_COUNT; i++)
        if (!strcmp(status, finished_names[i])) {
            atomic_fetch_add_explicit(&finished[i], 1, memory_order_relaxed);
            return;
        }
}

void metrics_hop_time(int64_t since_us)
{
    observe(&hops, since_us);
}

void metrics_callback(enum metric_callback c)
{
    if ((unsigned)c < MC_COUNT)
        atomic_fetch_add_explicit(&callbacks[c], 1, memory_order_relaxed);
}

void metrics_callback_status(const char *status)
{
    static const char *const st[] = {"completed", "cancelled", "failed", "timeout"};
    static const enum metric_callback as[] = {MC_SUCCESS, MC_CANCELLED, MC_FAILED, MC_TIMEOUT};
    for (int i = 0; status && i < NB(st); i++)
        if (!strcmp(status, st[i])) {
            metrics_callback(as[i]);
            return;
        }
}

void metrics_topup(enum metric_topup t)
{
    if ((unsigned)t < MT_COUNT)
        atomic_fetch_add_explicit(&topups[t], 1, memory_order_relaxed);
}

void metrics_sms_report(const char *outcome)
{
    for (int i = 0; outcome && i < NB(report_names); i++)
        if (!strcmp(outcome, report_names[i])) {
            atomic_fetch_add_explicit(&reports[i], 1, memory_order_relaxed);
            return;
        }
}

void metrics_callback_to_sms(int64_t callback_ms, int64_t now_ms)
{
    if (callback_ms > 0)
        observe_us(&cb_sms, (now_ms - callback_ms) * 1000);
}

/* Copies name into out (cap 48) with any character outside A-Z a-z 0-9 _ -
 * . made _, so a label value never needs escaping. */
static void label_copy(char out[48], const char *name)
{
    size_t i = 0;
    for (; name && name[i] && i < 47; i++) {
        char c = name[i];
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
                  c == '-' || c == '.';
        out[i] = ok ? c : '_';
    }
    out[i] = 0;
}

int metrics_screen_slot(const char *menu, const char *screen)
{
    char m[48], sc[48];
    label_copy(m, menu);
    label_copy(sc, screen);
    pthread_mutex_lock(&screens_lock);
    int n = atomic_load_explicit(&nscreens, memory_order_relaxed), slot = -1;
    for (int i = 0; i < n && slot < 0; i++)
        if (!strcmp(screens[i].menu, m) && !strcmp(screens[i].screen, sc))
            slot = i;
    if (slot < 0 && n < METRICS_SCREENS_MAX) {
        memcpy(screens[n].menu, m, sizeof m);
        memcpy(screens[n].screen, sc, sizeof sc);
        slot = n;
        atomic_store_explicit(&nscreens, n + 1, memory_order_release);
    }
    pthread_mutex_unlock(&screens_lock);
    return slot;
}

void metrics_screen(int slot, enum metric_screen_event e)
{
    if (slot >= 0 && slot < METRICS_SCREENS_MAX && (unsigned)e < MS_COUNT)
        atomic_fetch_add_explicit(&screens[slot].ev[e], 1, memory_order_relaxed);
}

/* label: "" or one `name="value"` pair the samples carry besides le. */
static void render_histogram(struct buf *out, const char *name, const char *label, struct histogram *h)
{
    const char *comma = *label ? "," : "", *open = *label ? "{" : "", *close = *label ? "}" : "";
    long long cum = 0;
    for (int i = 0; i <= h->n; i++) {
        cum += atomic_load_explicit(&h->count[i], memory_order_relaxed);
        buf_printf(out, "%s_bucket{%s%sle=\"%s\"} %lld\n", name, label, comma, i < h->n ? h->bound_text[i] : "+Inf",
                   cum);
    }
    long long sum = atomic_load_explicit(&h->sum_us, memory_order_relaxed);
    buf_printf(out, "%s_sum%s%s%s %lld.%06lld\n%s_count%s%s%s %lld\n", name, open, label, close, sum / 1000000,
               sum % 1000000, name, open, label, close, cum);
}

void metrics_render(struct buf *out)
{
    buf_puts(out, "# HELP lipa_stk_pushes_total M-Pesa STK pushes by what M-Pesa answered.\n"
                  "# TYPE lipa_stk_pushes_total counter\n");
    for (int o = 0; o < MO_COUNT; o++)
        buf_printf(out, "lipa_stk_pushes_total{outcome=\"%s\"} %lld\n", push_names[o],
                   (long long)atomic_load_explicit(&pushes[o], memory_order_relaxed));
    buf_puts(out, "# HELP lipa_provider_calls_total Provider operations (as logged: daraja_push, sms_send, "
                  "meter_call, paystack_*) by provider and outcome.\n"
                  "# TYPE lipa_provider_calls_total counter\n");
    for (int p = 0; p < MP_COUNT; p++)
        for (int o = 0; o < MO_COUNT; o++)
            buf_printf(out, "lipa_provider_calls_total{provider=\"%s\",outcome=\"%s\"} %lld\n", provider_names[p],
                       outcome_names[o], (long long)atomic_load_explicit(&prov_calls[p][o], memory_order_relaxed));
    buf_puts(out, "# HELP lipa_purchases_finished_total Purchases stored as finished, by final state.\n"
                  "# TYPE lipa_purchases_finished_total counter\n");
    for (int i = 0; i < FINISHED_COUNT; i++)
        buf_printf(out, "lipa_purchases_finished_total{state=\"%s\"} %lld\n", finished_names[i],
                   (long long)atomic_load_explicit(&finished[i], memory_order_relaxed));
    buf_puts(out, "# HELP lipa_ussd_hop_duration_seconds Time from a USSD hop's arrival to its answer.\n"
                  "# TYPE lipa_ussd_hop_duration_seconds histogram\n");
    render_histogram(out, "lipa_ussd_hop_duration_seconds", "", &hops);
    buf_puts(out, "# HELP lipa_provider_request_duration_seconds Time of one HTTP request to a provider, "
                  "answered or not.\n"
                  "# TYPE lipa_provider_request_duration_seconds histogram\n");
    for (int p = 0; p < MP_COUNT; p++) {
        char label[48];
        snprintf(label, sizeof label, "provider=\"%s\"", provider_names[p]);
        render_histogram(out, "lipa_provider_request_duration_seconds", label, &prov_time[p]);
    }
    buf_puts(out, "# HELP lipa_mpesa_callback_outcomes_total M-Pesa callbacks by what they came to: refused at "
                  "arrival, a duplicate, or what they said about an open purchase.\n"
                  "# TYPE lipa_mpesa_callback_outcomes_total counter\n");
    for (int i = 0; i < MC_COUNT; i++)
        buf_printf(out, "lipa_mpesa_callback_outcomes_total{outcome=\"%s\"} %lld\n", callback_names[i],
                   (long long)atomic_load_explicit(&callbacks[i], memory_order_relaxed));
    buf_puts(out, "# HELP lipa_topup_outcomes_total Meter top-up attempts and checks of the meter cloud's log, "
                  "by outcome.\n"
                  "# TYPE lipa_topup_outcomes_total counter\n");
    for (int i = 0; i < MT_COUNT; i++)
        buf_printf(out, "lipa_topup_outcomes_total{outcome=\"%s\"} %lld\n", topup_names[i],
                   (long long)atomic_load_explicit(&topups[i], memory_order_relaxed));
    buf_puts(out, "# HELP lipa_sms_reports_total SMS delivery reports that settled a sent message, by outcome.\n"
                  "# TYPE lipa_sms_reports_total counter\n");
    for (int i = 0; i < NB(report_names); i++)
        buf_printf(out, "lipa_sms_reports_total{outcome=\"%s\"} %lld\n", report_names[i],
                   (long long)atomic_load_explicit(&reports[i], memory_order_relaxed));
    buf_puts(out, "# HELP lipa_callback_to_sms_seconds Time from an M-Pesa callback's arrival to the payer's "
                  "token or code SMS accepted by the SMS provider.\n"
                  "# TYPE lipa_callback_to_sms_seconds histogram\n");
    render_histogram(out, "lipa_callback_to_sms_seconds", "", &cb_sms);
    buf_puts(out, "# HELP lipa_ussd_screen_total USSD sessions per menu screen: entered, and where they ended "
                  "(completed, abandoned, timed_out).\n"
                  "# TYPE lipa_ussd_screen_total counter\n");
    int n = atomic_load_explicit(&nscreens, memory_order_acquire);
    for (int i = 0; i < n; i++)
        for (int e = 0; e < MS_COUNT; e++)
            buf_printf(out, "lipa_ussd_screen_total{menu=\"%s\",screen=\"%s\",event=\"%s\"} %lld\n",
                       screens[i].menu, screens[i].screen, screen_event_names[e],
                       (long long)atomic_load_explicit(&screens[i].ev[e], memory_order_relaxed));
}
