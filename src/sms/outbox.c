/* sms/outbox: durable SMS queue and its sender; see outbox.h. */
#include "sms/outbox.h"

#include "sms/sms.h"
#include "store/sms.h"
#include "util/aside.h"
#include "util/gsm.h"
#include "util/log.h"
#include "util/metrics.h"
#include "util/str.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* body with every placeholder at its rendered width (its sample), for
 * counting parts; malloc'ed (NULL when out of memory). */
static char *sized_text(const struct outbox_placeholder *ph, const char *body, size_t len)
{
    size_t extra = 0;
    for (const struct outbox_placeholder *p = ph; p && p->name; p++) {
        size_t w = strlen(p->sample), nl = strlen(p->name);
        for (const char *t = body; (t = strstr(t, p->name)) && (size_t)(t - body) < len; t += nl)
            extra += w > nl ? w - nl : 0;
    }
    char *out = malloc(len + extra + 1);
    if (!out)
        return NULL;
    size_t o = 0;
    for (size_t i = 0; i < len;) {
        const struct outbox_placeholder *hit = NULL;
        for (const struct outbox_placeholder *p = ph; p && p->name && !hit; p++)
            if (i + strlen(p->name) <= len && !strncmp(body + i, p->name, strlen(p->name)))
                hit = p;
        if (hit) {
            memcpy(out + o, hit->sample, strlen(hit->sample));
            o += strlen(hit->sample);
            i += strlen(hit->name);
        } else {
            out[o++] = body[i++];
        }
    }
    out[o] = 0;
    return out;
}

/* Parts of body's first len bytes followed by tail, as sent; -1 when out
 * of memory. gp (may be NULL) gets the whole count. */
static int parts_of(const struct outbox_placeholder *ph, const char *body, size_t len, const char *tail,
                    struct gsm_parts *gp)
{
    size_t tl = strlen(tail);
    char *joined = malloc(len + tl + 1);
    if (!joined)
        return -1;
    memcpy(joined, body, len);
    memcpy(joined + len, tail, tl + 1);
    char *sized = sized_text(ph, joined, len + tl);
    free(joined);
    if (!sized)
        return -1;
    struct gsm_parts local;
    gsm_parts(sized, gp ? gp : &local);
    free(sized);
    return gp ? gp->parts : local.parts;
}

/* The largest cut <= k that is on a character boundary and not inside a
 * placeholder, with blanks before it dropped. */
static size_t cut_point(const char *body, size_t k)
{
    while (k > 0 && ((unsigned char)body[k] & 0xC0) == 0x80)
        k--;
    /* inside "{name}"? then cut before the brace */
    for (size_t i = k; i-- > 0;) {
        if (body[i] == '}')
            break;
        if (body[i] == '{') {
            const char *close = strchr(body + i, '}');
            if (close && (size_t)(close - body) >= k)
                k = i;
            break;
        }
    }
    while (k > 0 && (body[k - 1] == ' ' || body[k - 1] == '\n'))
        k--;
    return k;
}

bool outbox_fit(const struct outbox_placeholder *ph, const char *body, int max_parts, char *out, size_t outsz)
{
    static const char ellipsis[] = "...";
    size_t len = strlen(body), cap = outsz ? outsz - 1 : 0;
    if (max_parts < 1)
        max_parts = 1;
    if (!outsz)
        return false;
    int whole = parts_of(ph, body, len, "", NULL);
    if (len <= cap && whole >= 0 && whole <= max_parts) {
        memcpy(out, body, len + 1);
        return false;
    }
    /* the longest prefix that fits with "..." after it: fits() falls as
     * the prefix grows, so a binary search over the byte length finds it */
    size_t lo = 0, hi = len < cap - (sizeof ellipsis - 1) ? len : cap - (sizeof ellipsis - 1);
    if (cap < sizeof ellipsis - 1)
        hi = 0;
    while (lo < hi) {
        size_t mid = lo + (hi - lo + 1) / 2;
        int parts = parts_of(ph, body, cut_point(body, mid), ellipsis, NULL);
        if (parts >= 0 && parts <= max_parts)
            lo = mid;
        else
            hi = mid - 1;
    }
    size_t k = cut_point(body, lo);
    memcpy(out, body, k);
    out[k] = 0;
    if (k + sizeof ellipsis <= outsz)
        memcpy(out + k, ellipsis, sizeof ellipsis);
    return true;
}

enum store_rc outbox_queue(struct app *a, const char *phone, const char *body, const char *kind,
                           int64_t payment_id)
{
    return outbox_queue_id(a, phone, body, kind, payment_id, NULL);
}

enum store_rc outbox_queue_id(struct app *a, const char *phone, const char *body, const char *kind,
                              int64_t payment_id, int64_t *id)
{
    struct outbox_msg m;
    memset(&m, 0, sizeof m);
    str_copy(m.phone, sizeof m.phone, phone);
    if (outbox_fit(a->placeholders, body ? body : "", (int)a->cfg.sms_max_parts, m.body, sizeof m.body)) {
        char masked[20];
        log_warn("sms.cut", "phone=%s kind=%s bytes=%zu max_parts=%lld", log_phone(phone, masked), kind,
                 strlen(body), (long long)a->cfg.sms_max_parts);
    }
    str_copy(m.kind, sizeof m.kind, kind);
    m.payment_id = payment_id;
    struct gsm_parts gp;
    if (parts_of(a->placeholders, m.body, strlen(m.body), "", &gp) < 0)
        return ST_ERROR;
    str_copy(m.encoding, sizeof m.encoding, gp.ucs2 ? "UCS-2" : "GSM-7");
    m.parts = gp.parts;
    enum store_rc rc = store_outbox_add(a->store, &m);
    if (rc == ST_OK && id)
        *id = m.id;
    return rc;
}

/* Renders every placeholder of m's body into out; false if one cannot be. */
static bool render(struct app *a, const struct outbox_msg *m, char *out, size_t n)
{
    char cur[1200], next[1200], value[128];
    str_copy(cur, sizeof cur, m->body);
    for (const struct outbox_placeholder *p = a->placeholders; p && p->name; p++) {
        const char *at = strstr(cur, p->name);
        if (!at)
            continue;
        if (!p->render(a, m, value, sizeof value))
            return false;
        snprintf(next, sizeof next, "%.*s%s%s", (int)(at - cur), cur, value, at + strlen(p->name));
        str_copy(cur, sizeof cur, next);
        explicit_bzero(value, sizeof value);
    }
    str_copy(out, n, cur);
    explicit_bzero(cur, sizeof cur);
    explicit_bzero(next, sizeof next);
    return true;
}

/* ---- delivery reports ---- */

/* What an AT delivery status makes of a sent message: "delivered",
 * "failed", or "" (not final: noted only). */
static const char *report_outcome(const char *status)
{
    if (!strcmp(status, "Success"))
        return "delivered";
    if (!strcmp(status, "Failed") || !strcmp(status, "Rejected") || !strcmp(status, "Expired"))
        return "failed";
    return "";
}

static enum store_rc apply_report(struct app *a, const struct sms_report *r)
{
    char why[160];
    const char *to = report_outcome(r->status);
    snprintf(why, sizeof why, "not delivered: %.60s", r->failure_reason[0] ? r->failure_reason : r->status);
    enum store_rc rc = store_sms_report_apply(a->store, r->message_id, r->status, to, why);
    char masked[20];
    if (rc == ST_OK) {
        metrics_sms_report(to);
        log_info("sms.report", "message_id=%s status=%s means=%s phone=%s", r->message_id, r->status,
                 to[0] ? to : "noted", log_phone(r->phone, masked));
    }
    return rc;
}

enum store_rc outbox_report(struct app *a, const struct sms_report *r)
{
    enum store_rc rc = store_sms_report_add(a->store, r);
    if (rc != ST_OK)
        return rc; /* a repeat (ST_CONFLICT) changes nothing */
    rc = apply_report(a, r);
    if (rc == ST_NOT_FOUND)
        log_warn("sms.report_early", "message_id=%s status=%s", r->message_id, r->status);
    return rc;
}

/* A report that came before the send was recorded (AT answered us and
 * reported delivery before we saved its messageId). */
static void apply_early_report(struct app *a, const char *message_id)
{
    struct sms_report r;
    if (message_id[0] && store_sms_report_pending(a->store, message_id, &r) == ST_OK)
        apply_report(a, &r);
}

/* ---- the send rate ----
 * A token bucket holding one second's worth of LIPA_SMS_RATE. It lives with
 * the outbox worker's thread (the only one sending), so it needs no lock. */
struct bucket {
    bool ready;
    double tokens;
    int64_t at_ms;
};
static __thread struct bucket bucket;

static void sleep_ms(int64_t ms)
{
    struct timespec ts = {(time_t)(ms / 1000), (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* Waits until a message may go; false when lipad is stopping meanwhile. */
static bool rate_take(struct app *a)
{
    double rate = a->cfg.sms_rate > 0 ? (double)a->cfg.sms_rate : 1.0;
    for (;;) {
        int64_t now = now_ms();
        if (!bucket.ready) {
            bucket.ready = true;
            bucket.tokens = rate;
            bucket.at_ms = now;
        }
        bucket.tokens += (double)(now - bucket.at_ms) * rate / 1000.0;
        if (bucket.tokens > rate)
            bucket.tokens = rate;
        bucket.at_ms = now;
        if (bucket.tokens >= 1.0) {
            bucket.tokens -= 1.0;
            return true;
        }
        if (atomic_load(&a->stopping))
            return false;
        int64_t wait = (int64_t)((1.0 - bucket.tokens) * 1000.0 / rate) + 1;
        sleep_ms(wait < 100 ? wait : 100);
    }
}

/* ---- sending ---- */

/* A payer's first token or code SMS accepted: timed from the M-Pesa
 * callback that completed the purchase (one that settled by query, and a
 * code sent again, are not). */
static void callback_to_sms(struct app *a, const struct outbox_msg *m)
{
    int64_t at;
    if (m->payment_id && (!strcmp(m->kind, "receipt") || !strcmp(m->kind, "code")) &&
        store_outbox_callback_at(a->store, m->id, m->payment_id, &at) == ST_OK)
        metrics_callback_to_sms(at, now_ms());
}

static void send_one(struct app *a, struct outbox_msg *m)
{
    char text[1200];
    char masked[20];
    log_phone(m->phone, masked);
    if (!strcmp(m->kind, "notice") && store_sms_opted_out(a->store, m->phone)) {
        /* the number texted STOP: notices stay here (answers and receipts go) */
        str_copy(m->status, sizeof m->status, "failed");
        str_copy(m->last_error, sizeof m->last_error, "recipient opted out (STOP)");
        store_outbox_save(a->store, m);
        log_info("sms.opted_out", "outbox=%lld phone=%s", (long long)m->id, masked);
        return;
    }
    if (!rate_take(a))
        return; /* stopping: the row stays queued */
    m->attempts++;
    if (!render(a, m, text, sizeof text)) {
        str_copy(m->status, sizeof m->status, "failed");
        str_copy(m->last_error, sizeof m->last_error, "cannot render the message");
        store_outbox_save(a->store, m);
        log_error("sms.render_failed", "outbox=%lld phone=%s", (long long)m->id, masked);
        return;
    }
    str_copy(m->status, sizeof m->status, "sending");
    if (store_outbox_save(a->store, m) != ST_OK)
        return;
    struct sms_send_res res;
    memset(&res, 0, sizeof res);
    a->sms->send(a->sms_st, m->phone, text, &res);
    explicit_bzero(text, sizeof text); /* it may hold a token */
    str_copy(m->last_error, sizeof m->last_error, res.detail);
    switch (res.outcome) {
    case SMS_SENT:
        app_health_set(a, PROV_AT, true, "sms accepted");
        str_copy(m->status, sizeof m->status, "sent");
        str_copy(m->provider_id, sizeof m->provider_id, res.message_id);
        m->last_error[0] = 0;
        atomic_fetch_add(&a->sms_sent, 1);
        log_info("sms.sent", "outbox=%lld phone=%s message_id=%s parts=%lld", (long long)m->id, masked,
                 res.message_id, (long long)m->parts);
        break;
    case SMS_RETRY:
        app_health_set(a, PROV_AT, false, res.detail);
        if (m->attempts >= OUTBOX_MAX_ATTEMPTS) {
            str_copy(m->status, sizeof m->status, "failed");
            snprintf(m->last_error, sizeof m->last_error, "gave up after %lld attempts: %.200s",
                     (long long)m->attempts, res.detail);
            atomic_fetch_add(&a->sms_failed, 1);
            log_error("sms.gave_up", "outbox=%lld phone=%s attempts=%lld error=\"%s\"", (long long)m->id,
                      masked, (long long)m->attempts, res.detail);
        } else {
            str_copy(m->status, sizeof m->status, "queued");
            m->next_at = now_ms() + backoff_ms(a->cfg.retry_base_ms, m->attempts, OUTBOX_BACKOFF_CAP_MS);
            log_warn("sms.retry", "outbox=%lld phone=%s attempt=%lld http=%d error=\"%s\"", (long long)m->id,
                     masked, (long long)m->attempts, res.http_status, res.detail);
        }
        break;
    case SMS_REJECT:
        app_health_set(a, PROV_AT, true, "sms refused");
        str_copy(m->status, sizeof m->status, "failed");
        atomic_fetch_add(&a->sms_failed, 1);
        log_error("sms.refused", "outbox=%lld phone=%s status=%d error=\"%s\"", (long long)m->id, masked,
                  res.status_code, res.detail);
        break;
    }
    if (store_outbox_save(a->store, m) == ST_OK && res.outcome == SMS_SENT) {
        apply_early_report(a, m->provider_id);
        callback_to_sms(a, m);
    }
}

int outbox_work(struct app *a)
{
    struct outbox_msg due[8];
    int n = store_outbox_due(a->store, now_ms(), due, 8);
    for (int i = 0; i < n && !atomic_load(&a->stopping); i++) {
        send_one(a, &due[i]);
        step_aside();
    }
    return n < 0 ? 0 : n;
}
