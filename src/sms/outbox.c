/* sms/outbox: durable SMS queue and its sender; see outbox.h. */
#include "sms/outbox.h"

#include "meter/token.h"
#include "util/gsm.h"
#include "util/log.h"
#include "util/str.h"

#include <stdio.h>
#include <string.h>

enum store_rc outbox_queue(struct app *a, const char *phone, const char *body, const char *kind,
                           int64_t payment_id)
{
    struct outbox_msg m;
    memset(&m, 0, sizeof m);
    str_copy(m.phone, sizeof m.phone, phone);
    str_copy(m.body, sizeof m.body, body);
    str_copy(m.kind, sizeof m.kind, kind);
    m.payment_id = payment_id;
    struct gsm_parts gp;
    /* count with a token's width in place of the placeholder */
    char sized[1100];
    str_copy(sized, sizeof sized, body);
    char *t = strstr(sized, "{token}");
    if (t) {
        char rest[1100];
        str_copy(rest, sizeof rest, t + 7);
        snprintf(t, sizeof sized - (size_t)(t - sized), "0000 0000 0000 0000 0000%s", rest);
    }
    gsm_parts(sized, &gp);
    str_copy(m.encoding, sizeof m.encoding, gp.ucs2 ? "UCS-2" : "GSM-7");
    m.parts = gp.parts;
    return store_outbox_add(a->store, &m);
}

/* {token}: the purchase's 20-digit token, re-derived with the pepper. */
static bool render_token(struct app *a, const struct outbox_msg *m, char *out, size_t n)
{
    struct payment p;
    char digits[21];
    if (!m->payment_id || store_payment_get(a->store, m->payment_id, &p) != ST_OK || p.token_minute < 0 ||
        !token_issue(a->cfg.pepper, p.meter_id, p.token_minute, p.energy, digits) || n < 25)
        return false;
    token_group(digits, out);
    return true;
}

/* Secrets never rest in the outbox: a body holds placeholders, rendered
 * at send time. A new kind of secret is one line here. */
static const struct {
    const char *name;
    bool (*render)(struct app *a, const struct outbox_msg *m, char *out, size_t n);
} placeholders[] = {
    {"{token}", render_token},
};

/* Renders every placeholder of m's body into out; false if one cannot be. */
static bool render(struct app *a, const struct outbox_msg *m, char *out, size_t n)
{
    char cur[1200], next[1200], value[128];
    str_copy(cur, sizeof cur, m->body);
    for (size_t i = 0; i < sizeof placeholders / sizeof placeholders[0]; i++) {
        const char *at = strstr(cur, placeholders[i].name);
        if (!at)
            continue;
        if (!placeholders[i].render(a, m, value, sizeof value))
            return false;
        snprintf(next, sizeof next, "%.*s%s%s", (int)(at - cur), cur, value, at + strlen(placeholders[i].name));
        str_copy(cur, sizeof cur, next);
        explicit_bzero(value, sizeof value);
    }
    str_copy(out, n, cur);
    explicit_bzero(cur, sizeof cur);
    explicit_bzero(next, sizeof next);
    return true;
}

static void send_one(struct app *a, struct outbox_msg *m)
{
    char text[1200];
    char masked[20];
    log_phone(m->phone, masked);
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
            atomic_fetch_add(&a->sms_failed, 1);
            log_error("sms.gave_up", "outbox=%lld phone=%s attempts=%lld error=\"%s\"", (long long)m->id,
                      masked, (long long)m->attempts, res.detail);
        } else {
            str_copy(m->status, sizeof m->status, "queued");
            m->next_at = now_ms() + backoff_ms(a->cfg.retry_base_ms, m->attempts, 600000);
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
    store_outbox_save(a->store, m);
}

int outbox_work(struct app *a)
{
    struct outbox_msg due[8];
    int n = store_outbox_due(a->store, now_ms(), due, 8);
    for (int i = 0; i < n && !atomic_load(&a->stopping); i++)
        send_one(a, &due[i]);
    return n < 0 ? 0 : n;
}
