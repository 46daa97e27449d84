/* pay/topup: the top-up worker, sending and checking; see topup.h. */
#include "pay/topup.h"

#include "meter/meter.h"
#include "meter/reconcile.h"
#include "store/meters.h"
#include "store/payments.h"
#include "util/aside.h"
#include "util/log.h"
#include "util/metrics.h"
#include "util/str.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TOPUP_BACKOFF_CAP_MS 600000
#define GROW_MAX 8                 /* widenings of a cluster before giving up for now */
#define CHARGE_CODE "charge_energy"

static struct reconcile_window window(const struct app *a)
{
    return (struct reconcile_window){a->cfg.http_timeout_ms, a->cfg.topup_late_ms, a->cfg.topup_skew_ms};
}

void topup_recover(struct app *a)
{
    store_topups_recover(a->store, "lipad stopped before the meter cloud answered; checking its log before "
                                   "sending again");
}

/* Saves the given rows (NULL entries skipped) in one transaction; false
 * when nothing was saved. */
static bool save_rows(struct app *a, struct payment **ps, int n)
{
    if (store_begin(a->store) != ST_OK)
        return false;
    for (int i = 0; i < n; i++) {
        if (ps[i] && store_payment_save(a->store, ps[i]) != ST_OK) {
            store_rollback(a->store);
            return false;
        }
    }
    if (store_commit(a->store) == ST_OK)
        return true;
    store_rollback(a->store);
    return false;
}

/* ---- sending ---- */

/* p as the meter cloud's answer to its attempt leaves it (not stored). */
static void answered(struct app *a, struct payment *p, const struct meter_res *res)
{
    struct reconcile_window w = window(a);
    switch (res->outcome) {
    case METER_OK:
        app_health_set(a, PROV_TUYA, true, "top-up accepted");
        str_copy(p->topup_status, sizeof p->topup_status, "done");
        p->topup_error[0] = 0;
        atomic_fetch_add(&a->topups_done, 1);
        metrics_topup(MT_DONE);
        log_info("meter.topped_up", "payment=%lld meter=%s energy_tenths=%lld", (long long)p->id, p->meter_id,
                 (long long)p->energy);
        break;
    case METER_RETRY:
        app_health_set(a, PROV_TUYA, false, res->detail);
        if (res->unsure) {
            /* it may have been applied: the log decides, once nothing
             * sent can still arrive */
            str_copy(p->topup_status, sizeof p->topup_status, "checking");
            p->topup_next_at = reconcile_due(&w, p->topup_sent_at);
            snprintf(p->topup_error, sizeof p->topup_error,
                     "no clear answer from the meter cloud (%.150s); checking its log before sending again",
                     res->detail);
            metrics_topup(MT_UNSURE);
            log_warn("meter.topup_unsure", "payment=%lld attempt=%lld error=\"%s\"", (long long)p->id,
                     (long long)p->topup_attempts, res->detail);
        } else {
            str_copy(p->topup_status, sizeof p->topup_status, "queued");
            p->topup_sent_at = 0;
            p->topup_next_at = now_ms() + backoff_ms(a->cfg.retry_base_ms, p->topup_attempts, TOPUP_BACKOFF_CAP_MS);
            str_copy(p->topup_error, sizeof p->topup_error, res->detail);
            metrics_topup(MT_RETRY);
            log_warn("meter.topup_retry", "payment=%lld attempt=%lld error=\"%s\"", (long long)p->id,
                     (long long)p->topup_attempts, res->detail);
        }
        break;
    case METER_REJECT:
        app_health_set(a, PROV_TUYA, true, "top-up refused");
        str_copy(p->topup_status, sizeof p->topup_status, "failed");
        p->topup_sent_at = 0;
        str_copy(p->topup_error, sizeof p->topup_error, res->detail);
        metrics_topup(MT_FAILED);
        log_error("meter.topup_refused", "payment=%lld meter=%s error=\"%s\"", (long long)p->id, p->meter_id,
                  res->detail);
        break;
    }
}

/* Sends p's top-up. *last is the previous attempt, answered and not yet
 * stored: its answer and p's attempt are committed together, before the
 * call; *last becomes p. False when that commit failed (nothing sent; an
 * unstored answer leaves its row 'sending', to be checked). */
static bool send(struct app *a, struct payment *p, struct payment **last)
{
    struct reconcile_window w = window(a);
    struct meter m;
    struct payment *both[2] = {*last, p};
    bool gone = store_meter_get(a->store, p->meter_id, &m) != ST_OK;
    int64_t now = now_ms();
    if (gone) {
        str_copy(p->topup_status, sizeof p->topup_status, "failed");
        str_copy(p->topup_error, sizeof p->topup_error, "meter no longer registered");
        metrics_topup(MT_FAILED);
        log_error("meter.topup_refused", "payment=%lld meter=%s error=\"meter no longer registered\"",
                  (long long)p->id, p->meter_id);
    } else {
        p->topup_attempts++;
        str_copy(p->topup_status, sizeof p->topup_status, "sending");
        p->topup_sent_at = now;
        p->topup_next_at = reconcile_due(&w, now); /* when a lost answer may be checked */
        p->topup_error[0] = 0;
    }
    bool saved = save_rows(a, both, 2);
    *last = NULL;
    if (!saved || gone)
        return saved;
    struct meter_res res = {0};
    a->meter->topup(a->meter_st, m.device_id, p->energy * 10, &res);
    answered(a, p, &res);
    *last = p;
    return true;
}

/* ---- checking ---- */

/* Puts off p's check after a failure to read or trust what it needs. */
static void check_later(struct app *a, struct payment *p, const char *why)
{
    p->topup_attempts++;
    str_copy(p->topup_status, sizeof p->topup_status, "checking");
    p->topup_next_at = now_ms() + backoff_ms(a->cfg.retry_base_ms, p->topup_attempts, TOPUP_BACKOFF_CAP_MS);
    snprintf(p->topup_error, sizeof p->topup_error, "checking with the meter cloud: %.200s", why);
    log_warn("meter.topup_check_failed", "payment=%lld attempt=%lld error=\"%s\"", (long long)p->id,
             (long long)p->topup_attempts, why);
    store_payment_save(a->store, p);
}

/* The cluster around p: every top-up of p's meter and energy whose span
 * overlaps p's, transitively. rows gets them (up to RECONCILE_ROWS_MAX),
 * rr their reconcile view, [lo, hi] the cluster's span; the count, or -1
 * with why. */
static int cluster(struct app *a, const struct payment *p, struct payment *rows, struct reconcile_row *rr,
                   int64_t *lo, int64_t *hi, char *why, size_t whysz)
{
    struct reconcile_window w = window(a);
    int64_t from, to;
    reconcile_span(&w, p->topup_sent_at, lo, hi);
    for (int k = 0;; k++) {
        reconcile_reach(&w, *lo, *hi, &from, &to);
        int n = store_topup_tries(a->store, p->meter_id, p->energy, from, to, rows, RECONCILE_ROWS_MAX + 1);
        if (n < 0) {
            str_copy(why, whysz, "the database refused a read");
            return -1;
        }
        if (n > RECONCILE_ROWS_MAX) {
            snprintf(why, whysz, "more than %d top-ups of this energy on this meter close together",
                     RECONCILE_ROWS_MAX);
            return -1;
        }
        for (int i = 0; i < n; i++)
            rr[i] = (struct reconcile_row){rows[i].id, rows[i].topup_sent_at, !strcmp(rows[i].topup_status, "done"),
                                           false};
        if (!reconcile_grow(&w, rr, (size_t)n, lo, hi))
            return n;
        if (k >= GROW_MAX) {
            str_copy(why, whysz, "too many top-ups of this energy on this meter in a row");
            return -1;
        }
    }
}

/* The cloud's clock in the log's answer must be within the skew lipa's
 * windows allow, or a command could lie outside the window it is sought in. */
static bool clock_ok(const struct app *a, const struct meter_log *log, char *why, size_t whysz)
{
    int64_t s = a->cfg.topup_skew_ms;
    if (log->cloud_ms && log->cloud_ms >= log->asked_ms - s && log->cloud_ms <= log->answered_ms + s)
        return true;
    snprintf(why, whysz, "its clock (t=%lld) is more than %lld ms from lipa's (%lld)", (long long)log->cloud_ms,
             (long long)s, (long long)log->answered_ms);
    return false;
}

/* Applies a decided cluster: open rows reached are done, the others go
 * back to the queue, due now. One transaction. */
static void settle(struct app *a, struct payment *rows, const struct reconcile_row *rr, int n, size_t unexplained)
{
    struct payment *open[RECONCILE_ROWS_MAX];
    int nopen = 0, again = 0;
    int64_t now = now_ms();
    for (int i = 0; i < n; i++) {
        struct payment *q = &rows[i];
        if (rr[i].done)
            continue;
        if (rr[i].reached) {
            str_copy(q->topup_status, sizeof q->topup_status, "done");
            q->topup_error[0] = 0;
        } else {
            str_copy(q->topup_status, sizeof q->topup_status, "queued");
            q->topup_sent_at = 0;
            q->topup_next_at = now;
            str_copy(q->topup_error, sizeof q->topup_error,
                     "not in the meter cloud's log: the attempt never reached it; sending again");
            again++;
        }
        open[nopen++] = q;
    }
    if (!save_rows(a, open, nopen)) {
        log_warn("meter.topup_check_unsaved", "payment=%lld rows=%d", (long long)open[0]->id, nopen);
        return;
    }
    for (int i = 0; i < nopen; i++) {
        bool reached = !strcmp(open[i]->topup_status, "done");
        if (reached)
            atomic_fetch_add(&a->topups_done, 1);
        metrics_topup(reached ? MT_DONE : MT_RETRY);
        log_info("meter.topup_checked", "payment=%lld meter=%s energy_tenths=%lld outcome=%s cluster=%d",
                 (long long)open[i]->id, open[i]->meter_id, (long long)open[i]->energy,
                 reached ? "reached" : "not_reached", n);
    }
    if (unexplained)
        log_warn("meter.topup_log_unexplained", "meter=%s energy_tenths=%lld entries=%zu "
                 "reason=\"charges of this energy lipa did not send\"", rows[0].meter_id, (long long)rows[0].energy,
                 unexplained);
    if (again)
        app_wake(a, WORK_TOPUPS);
}

/* Checks p ('sending' or 'checking', due) against the cloud's log. */
static void check(struct app *a, struct payment *p)
{
    struct reconcile_window w = window(a);
    struct payment *rows = malloc((RECONCILE_ROWS_MAX + 1) * sizeof *rows);
    struct meter_log *log = malloc(sizeof *log);
    int64_t *at = malloc(METER_LOG_MAX * sizeof *at);
    struct reconcile_row rr[RECONCILE_ROWS_MAX + 1];
    struct meter m;
    struct meter_res res = {0};
    char why[256] = "", value[32];
    int64_t lo, hi, now = now_ms(), until = 0;
    size_t nat = 0, unexplained = 0;
    int n = -1, self = -1;

    if (!rows || !log || !at) {
        check_later(a, p, "out of memory");
        goto out;
    }
    if (store_meter_get(a->store, p->meter_id, &m) != ST_OK) {
        check_later(a, p, "its meter is not registered any more");
        goto out;
    }
    n = cluster(a, p, rows, rr, &lo, &hi, why, sizeof why);
    if (n < 0) {
        check_later(a, p, why);
        goto out;
    }
    for (int i = 0; i < n; i++) {
        if (rows[i].id == p->id)
            self = i;
        if (!rr[i].done && reconcile_due(&w, rr[i].sent_at) > until)
            until = reconcile_due(&w, rr[i].sent_at);
    }
    if (self < 0 || rows[self].version != p->version)
        goto out; /* changed meanwhile: the next pass sees it as it is now */
    if (until > now) { /* an attempt close by may still show: count once it cannot */
        str_copy(p->topup_status, sizeof p->topup_status, "checking");
        p->topup_next_at = until;
        store_payment_save(a->store, p);
        goto out;
    }
    /* nothing the cloud logged can be later than its own now */
    a->meter->logs(a->meter_st, m.device_id, CHARGE_CODE, lo, hi < now + w.skew_ms ? hi : now + w.skew_ms, log,
                   &res);
    if (res.outcome != METER_OK) {
        app_health_set(a, PROV_TUYA, false, res.detail);
        snprintf(why, sizeof why, "its log could not be read: %.200s", res.detail);
        check_later(a, p, why);
        goto out;
    }
    app_health_set(a, PROV_TUYA, true, "log read");
    if (!clock_ok(a, log, why, sizeof why)) {
        check_later(a, p, why);
        goto out;
    }
    snprintf(value, sizeof value, "%lld", (long long)(p->energy * 10));
    for (size_t i = 0; i < log->n; i++)
        if (!strcmp(log->e[i].value, value))
            at[nat++] = log->e[i].at;
    switch (reconcile_decide(&w, rr, (size_t)n, at, nat, now, &until, &unexplained)) {
    case RECONCILE_WAIT: /* not reached: every open row was due above */
        p->topup_next_at = until;
        store_payment_save(a->store, p);
        break;
    case RECONCILE_INCOMPLETE:
        check_later(a, p, "its log lacks a top-up it accepted (the log is behind?)");
        break;
    case RECONCILE_DECIDED:
        settle(a, rows, rr, n, unexplained);
        break;
    }
out:
    free(rows);
    free(log);
    free(at);
}

/* ---- the worker ---- */

int topup_work(struct app *a)
{
    struct payment due[8], *last = NULL;
    int n = store_topups_due(a->store, now_ms(), due, 8);
    for (int i = 0; i < n && !atomic_load(&a->stopping); i++) {
        struct payment *p = &due[i];
        if (!strcmp(p->topup_status, "queued")) {
            if (!send(a, p, &last))
                break;
        } else {
            if (last && !save_rows(a, &last, 1))
                log_warn("meter.topup_answer_unsaved", "payment=%lld", (long long)last->id);
            last = NULL;
            check(a, p);
        }
        step_aside();
    }
    if (last && !save_rows(a, &last, 1))
        log_warn("meter.topup_answer_unsaved", "payment=%lld", (long long)last->id); /* checked later */
    return n < 0 ? 0 : n;
}
