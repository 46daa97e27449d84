/* otp: water codes from payment to dispensing; see otp.h. Every change of
 * a code happens inside one store transaction (the process writer lock),
 * and the transitions that must happen once are conditional UPDATEs whose
 * row count is checked, so concurrent callers cannot both win. */
#include "otp/otp.h"

#include "sms/outbox.h"
#include "store/payments.h"
#include "store/sms.h"
#include "store/users.h"
#include "user/user.h"
#include "util/crypto.h"
#include "util/log.h"
#include "util/str.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

#define EAT_OFFSET_S (3 * 3600) /* East Africa Time, UTC+3, no daylight saving */

static const char *const verdict_names[] = {
    [OTP_OK] = "OK",
    [OTP_NOT_FOUND] = "OTP_NOT_FOUND",
    [OTP_PENDING] = "OTP_PENDING",
    [OTP_INVALID] = "OTP_INVALID",
    [OTP_EXPIRED] = "OTP_EXPIRED",
    [OTP_BLOCKED] = "OTP_BLOCKED",
    [OTP_USED] = "OTP_USED",
    [OTP_LOCKED] = "OTP_LOCKED",
    [OTP_IN_USE] = "OTP_IN_USE",
    [OTP_NOT_VERIFIED] = "OTP_NOT_VERIFIED",
    [OTP_NOT_COMPLETED] = "TRANSACTION_NOT_COMPLETED",
    [OTP_BAD_LITERS] = "INVALID_LITERS",
    [OTP_LIMIT] = "OTP_LIMIT",
    [OTP_THROTTLED] = "TOO_MANY_ATTEMPTS",
    [OTP_STORE] = "INTERNAL_ERROR",
};

const char *otp_verdict_name(enum otp_verdict v)
{
    return (unsigned)v < sizeof verdict_names / sizeof verdict_names[0] ? verdict_names[v] : "INTERNAL_ERROR";
}

/* ---- pure parts ---- */

void otp_code_hmac(const char *pepper, const char *reference, const char *code, char hex[65])
{
    char msg[80];
    uint8_t mac[32];
    int n = snprintf(msg, sizeof msg, "%s%s", reference, code);
    if (n < 0 || (size_t)n >= sizeof msg)
        n = (int)sizeof msg - 1; /* a reference is 30-odd characters; never reached */
    crypto_hmac_sha256(pepper, strlen(pepper), msg, (size_t)n, mac);
    crypto_hex(mac, sizeof mac, hex, false);
    explicit_bzero(msg, sizeof msg);
}

const char *otp_status_at(const struct otp_code *c, int64_t now)
{
    if (!strcmp(c->status, "active") && c->expires_at <= now)
        return "expired";
    if (!strcmp(c->status, "in_progress") && c->lock_until <= now)
        return "used";
    return c->status;
}

int64_t otp_remaining(const struct otp_code *c, int64_t now)
{
    const char *s = otp_status_at(c, now);
    if (strcmp(s, "active") && strcmp(s, "pending"))
        return 0;
    int64_t r = c->max_attempts - c->attempts;
    return r > 0 ? r : 0;
}

enum otp_verdict otp_judge(const struct otp_code *c, const char *station_id, bool code_ok, int64_t now)
{
    const char *s = otp_status_at(c, now);
    bool other = c->station_id[0] && strcmp(c->station_id, station_id);
    if (!strcmp(s, "in_progress"))
        return OTP_IN_USE;
    if (!strcmp(s, "used"))
        return other ? OTP_LOCKED : OTP_USED;
    if (!strcmp(s, "pending"))
        return OTP_PENDING;
    if (!strcmp(s, "expired"))
        return OTP_EXPIRED;
    if (!strcmp(s, "blocked"))
        return OTP_BLOCKED;
    if (!strcmp(s, "active"))
        return code_ok ? OTP_OK : OTP_INVALID;
    return OTP_NOT_FOUND; /* void: never a current code */
}

/* "10 min" / "dakika 10" for the TTL. */
static void ttl_text(int64_t ttl_s, bool sw, char *out, size_t n)
{
    if (ttl_s % 60 == 0)
        snprintf(out, n, sw ? "dakika %lld" : "%lld min", (long long)(ttl_s / 60));
    else
        snprintf(out, n, sw ? "sekunde %lld" : "%lld s", (long long)ttl_s);
}

/* The last four characters of a reference: what tells codes apart on a
 * handset. */
static const char *ref_tail(const char *ref)
{
    size_t n = strlen(ref);
    return n > 4 ? ref + n - 4 : ref;
}

void otp_code_label(const struct otp_code *c, const char *lang, int64_t now, char *out, size_t n)
{
    bool sw = lang && !strcmp(lang, "sw");
    const char *s = otp_status_at(c, now);
    if (!strcmp(s, "active")) {
        time_t t = (time_t)(c->expires_at / 1000 + EAT_OFFSET_S);
        struct tm tm;
        gmtime_r(&t, &tm);
        snprintf(out, n, "%lldL %s %02d:%02d", (long long)c->liters, ref_tail(c->reference), tm.tm_hour, tm.tm_min);
        return;
    }
    const char *word = !strcmp(s, "pending") ? (sw ? "inatumwa" : "sending")
                       : !strcmp(s, "expired") ? (sw ? "imeisha" : "expired")
                       : !strcmp(s, "blocked") ? (sw ? "imefungwa" : "blocked")
                                               : s;
    snprintf(out, n, "%lldL %s %s", (long long)c->liters, ref_tail(c->reference), word);
}

/* ---- helpers over the store ---- */

/* The completed water payment with this reference. */
static enum otp_verdict water_payment(struct app *a, const char *reference, struct payment *p)
{
    int64_t id;
    enum store_rc rc = store_otp_payment_id(a->store, reference, &id);
    if (rc == ST_OK)
        rc = store_payment_get(a->store, id, p);
    if (rc == ST_NOT_FOUND || (rc == ST_OK && strcmp(p->kind, "water")))
        return OTP_NOT_FOUND;
    if (rc != ST_OK)
        return OTP_STORE;
    return strcmp(p->status, "completed") ? OTP_NOT_COMPLETED : OTP_OK;
}

/* Re-reads c after writing what time made of it; logs a lapsed lock. In a
 * transaction. */
static bool settle(struct app *a, struct otp_code *c, int64_t now)
{
    bool changed;
    if (store_otp_settle(a->store, c->id, now, &changed) != ST_OK)
        return false;
    if (!changed)
        return true;
    bool was_locked = !strcmp(c->status, "in_progress");
    if (store_otp_get(a->store, c->id, c) != ST_OK)
        return false;
    if (was_locked)
        log_warn("otp.lock_lapsed", "reference=%s station=%s liters=%lld", c->reference, c->station_id,
                 (long long)c->liters);
    return true;
}

/* Six digits from the CSPRNG and their HMAC. */
static bool new_code(struct app *a, const char *reference, char code[OTP_DIGITS + 1], char hex[65])
{
    if (!crypto_random_chars(code, OTP_DIGITS, "0123456789"))
        return false;
    otp_code_hmac(a->cfg.pepper, reference, code, hex);
    return true;
}

/* Voids the payment's live codes and inserts a fresh one: active with the
 * given HMAC, or pending when hex is "". In a transaction. */
static enum store_rc replace_code(struct app *a, const struct payment *p, int64_t liters, const char *hex,
                                  const char *origin, struct otp_code *out)
{
    enum store_rc rc = store_otp_void_live(a->store, p->id);
    if (rc != ST_OK)
        return rc;
    memset(out, 0, sizeof *out);
    out->payment_id = p->id;
    str_copy(out->reference, sizeof out->reference, p->reference);
    out->liters = liters;
    str_copy(out->code_hmac, sizeof out->code_hmac, hex);
    str_copy(out->status, sizeof out->status, hex[0] ? "active" : "pending");
    out->max_attempts = a->cfg.otp_attempts;
    out->expires_at = hex[0] ? now_ms() + a->cfg.otp_ttl * 1000 : 0;
    str_copy(out->origin, sizeof out->origin, origin);
    rc = store_otp_insert(a->store, out);
    if (rc == ST_OK)
        rc = store_otp_get(a->store, out->id, out);
    return rc;
}

/* ---- the "water" purchase kind ---- */

void otp_water_prepare(struct app *a, struct payment *p)
{
    (void)a;
    /* nothing to top up and no token: the code is the product */
    str_copy(p->topup_status, sizeof p->topup_status, "none");
    p->token_minute = -1;
}

void otp_code_text(const struct config *cfg, const struct payment *p, bool sw, bool resend, char *out, size_t n)
{
    char ttl[24];
    ttl_text(cfg->otp_ttl, sw, ttl, sizeof ttl);
    long long tries = (long long)cfg->otp_attempts, liters = (long long)p->liters;
    if (resend)
        snprintf(out, n,
                 sw ? "lipa: Nambari mpya ya maji {code} kwa lita %lld, inatumika %s, majaribio %lld. "
                      "Nambari za zamani hazifanyi kazi. Kumb. %s"
                    : "lipa: New water code {code} for %lld L, valid %s, %lld tries. "
                      "Older codes no longer work. Ref %s",
                 liters, ttl, tries, p->reference);
    else
        snprintf(out, n,
                 sw ? "lipa: Umelipa %s %lld kwa lita %lld za maji. Nambari {code}, inatumika %s, majaribio %lld. "
                      "Itumie kituoni tu. Kumb. %s"
                    : "lipa: Paid %s %lld for %lld L of water. Code {code}, valid %s, %lld tries. "
                      "Use it only at the station. Ref %s",
                 p->currency[0] ? p->currency : "KES", (long long)p->amount, liters, ttl, tries, p->reference);
}

void otp_notice_text(const struct payment *p, bool sw, char *out, size_t n)
{
    long long amount = (long long)p->amount, liters = (long long)p->liters;
    const char *cur = p->currency[0] ? p->currency : "KES", *ref = p->reference;
    if (!strcmp(p->status, "cancelled"))
        snprintf(out, n, sw ? "lipa: Malipo ya %s %lld kwa lita %lld za maji yamesitishwa. Hukutozwa pesa. Kumb. %s"
                            : "lipa: Payment of %s %lld for %lld L of water was cancelled. You were not charged. Ref %s",
                 cur, amount, liters, ref);
    else if (!strcmp(p->status, "timeout"))
        snprintf(out, n, sw ? "lipa: Malipo ya %s %lld kwa lita %lld za maji hayakukamilika kwa wakati. Hukutozwa pesa. Kumb. %s"
                            : "lipa: Payment of %s %lld for %lld L of water timed out. You were not charged. Ref %s",
                 cur, amount, liters, ref);
    else
        snprintf(out, n, sw ? "lipa: Malipo ya %s %lld kwa lita %lld za maji hayakufaulu: %.60s (Kumb. %s)"
                            : "lipa: Payment of %s %lld for %lld L of water failed: %.60s (Ref %s)",
                 cur, amount, liters, p->result_desc[0] ? p->result_desc : p->last_error, ref);
}

bool otp_water_finish(struct app *a, struct payment *p)
{
    char text[480];
    if (!p->phone[0]) {
        /* a Paystack order without a phone: nobody to text; an admin
         * issues its code with POST /api/otp/generate */
        if (!strcmp(p->status, "completed"))
            log_warn("otp.no_phone", "payment=%lld reference=%s", (long long)p->id, p->reference);
        return true;
    }
    if (strcmp(p->status, "completed")) {
        otp_notice_text(p, user_speaks_sw(a->store, p->user_id, p->phone), text, sizeof text);
        return outbox_queue(a, p->phone, text, "receipt", p->id) == ST_OK;
    }
    if (p->liters <= 0 || !p->reference[0]) {
        log_error("otp.bad_order", "payment=%lld liters=%lld", (long long)p->id, (long long)p->liters);
        return true; /* nothing to dispense; refusing would undo the payment's outcome */
    }
    struct otp_code c;
    if (replace_code(a, p, p->liters, "", "payment", &c) != ST_OK)
        return false;
    otp_code_text(&a->cfg, p, user_speaks_sw(a->store, p->user_id, p->phone), false, text, sizeof text);
    return outbox_queue(a, p->phone, text, "code", p->id) == ST_OK;
}

/* Ends the transaction a verdict was reached in: committed (a refusal may
 * still have written what time made of the code) unless the store failed. */
static enum otp_verdict end_tx(struct app *a, enum otp_verdict v)
{
    if (v != OTP_STORE && store_commit(a->store) == ST_OK)
        return v;
    store_rollback(a->store);
    return OTP_STORE;
}

/* The current code of a reference / payment, settled at now. */
static enum otp_verdict current(struct app *a, const char *reference, int64_t payment_id, int64_t now,
                                struct otp_code *c)
{
    enum store_rc rc = reference ? store_otp_current(a->store, reference, c)
                                 : store_otp_current_of(a->store, payment_id, c);
    if (rc == ST_NOT_FOUND)
        return OTP_NOT_FOUND;
    return rc == ST_OK && settle(a, c, now) ? OTP_OK : OTP_STORE;
}

/* ---- the {code} placeholder ---- */

static enum otp_verdict render_tx(struct app *a, const struct payment *p, const char *hex)
{
    struct otp_code c;
    int64_t now = now_ms();
    enum otp_verdict v = current(a, NULL, p->id, now, &c);
    if (v != OTP_OK)
        return v;
    const char *s = otp_status_at(&c, now);
    if (!strcmp(s, "pending"))
        return store_otp_fill(a->store, c.id, hex, now + a->cfg.otp_ttl * 1000) == ST_OK ? OTP_OK : OTP_STORE;
    if (!strcmp(s, "active") || !strcmp(s, "expired"))
        /* the message is sent again (a retry, or after a crash): the code
         * it carried before may never have arrived, so a new one */
        return replace_code(a, p, c.liters, hex, "retry", &c) == ST_OK ? OTP_OK : OTP_STORE;
    /* blocked, being dispensed or dispensed: this message is stale */
    log_warn("otp.render_refused", "payment=%lld status=%s", (long long)p->id, s);
    return otp_judge(&c, "", false, now);
}

bool otp_render_code(struct app *a, const struct outbox_msg *m, char *out, size_t n)
{
    struct payment p;
    char code[OTP_DIGITS + 1], hex[65];
    if (n < OTP_DIGITS + 1 || !m->payment_id || store_payment_get(a->store, m->payment_id, &p) != ST_OK ||
        strcmp(p.kind, "water") || strcmp(p.status, "completed") || !new_code(a, p.reference, code, hex))
        return false;
    enum otp_verdict v = store_begin(a->store) == ST_OK ? end_tx(a, render_tx(a, &p, hex)) : OTP_STORE;
    if (v == OTP_OK)
        str_copy(out, n, code);
    explicit_bzero(code, sizeof code);
    return v == OTP_OK;
}

/* ---- station side ---- */

static enum otp_verdict verify_tx(struct app *a, const char *reference, const char *hex,
                                  const struct otp_station *st, struct otp_code *c)
{
    int64_t now = now_ms(), window = a->cfg.rate_window * 1000;
    /* a station guessing codes (or references) is stopped for a while */
    if (store_station_throttled(a->store, st->id, now, window, OTP_STATION_FAILS))
        return OTP_THROTTLED;
    enum otp_verdict v = current(a, reference, 0, now, c);
    if (v == OTP_NOT_FOUND)
        return store_station_failed(a->store, st->id, now, window) == ST_OK ? v : OTP_STORE;
    if (v != OTP_OK)
        return v;
    bool code_ok = c->code_hmac[0] && crypto_eq(hex, 64, c->code_hmac, strlen(c->code_hmac));
    v = otp_judge(c, st->id, code_ok, now);
    if (v == OTP_INVALID)
        return store_otp_fail(a->store, c->id) == ST_OK && store_otp_get(a->store, c->id, c) == ST_OK &&
                       store_station_failed(a->store, st->id, now, window) == ST_OK
                   ? v
                   : OTP_STORE;
    if (v != OTP_OK)
        return v;
    /* the one change that must happen once: active -> in_progress,
     * conditional on the row still being active */
    enum store_rc rc = store_otp_lock(a->store, c->id, st->id, now, now + a->cfg.station_lock * 1000);
    if ((rc != ST_OK && rc != ST_CONFLICT) || store_otp_get(a->store, c->id, c) != ST_OK)
        return OTP_STORE;
    return rc == ST_OK ? OTP_OK : otp_judge(c, st->id, code_ok, now);
}

enum otp_verdict otp_verify(struct app *a, const char *reference, const char *code, const struct otp_station *st,
                            struct otp_code *out)
{
    char hex[65];
    otp_code_hmac(a->cfg.pepper, reference, code, hex);
    memset(out, 0, sizeof *out);
    enum otp_verdict v = store_begin(a->store) == ST_OK ? end_tx(a, verify_tx(a, reference, hex, st, out)) : OTP_STORE;
    explicit_bzero(hex, sizeof hex);
    log_info("otp.verify", "reference=%s station=%s outcome=%s attempts=%lld", reference, st->id,
             otp_verdict_name(v), (long long)out->attempts);
    return v;
}

static enum otp_verdict complete_tx(struct app *a, const char *reference, const struct otp_station *st,
                                    int64_t dispensed_ml, struct otp_code *c, bool *wrote)
{
    int64_t now = now_ms();
    enum otp_verdict v = current(a, reference, 0, now, c);
    if (v != OTP_OK)
        return v;
    const char *s = otp_status_at(c, now);
    if (c->station_id[0] && strcmp(c->station_id, st->id))
        return OTP_LOCKED;
    if (strcmp(s, "in_progress") && strcmp(s, "used"))
        return OTP_NOT_VERIFIED;
    if (dispensed_ml > c->liters * 1000)
        return OTP_BAD_LITERS;
    if (!strcmp(s, "used") && c->dispensed_ml >= 0) /* reported before */
        return c->dispensed_ml == dispensed_ml ? OTP_OK : OTP_USED;
    const char *how = !strcmp(s, "in_progress") ? "station" : "late";
    if (store_otp_complete(a->store, c->id, st->id, dispensed_ml, how, now) != ST_OK ||
        store_otp_get(a->store, c->id, c) != ST_OK)
        return OTP_STORE;
    *wrote = true;
    return OTP_OK;
}

enum otp_verdict otp_complete(struct app *a, const char *reference, const struct otp_station *st,
                              int64_t dispensed_ml, struct otp_code *out)
{
    bool wrote = false;
    memset(out, 0, sizeof *out);
    enum otp_verdict v = store_begin(a->store) == ST_OK
                             ? end_tx(a, complete_tx(a, reference, st, dispensed_ml, out, &wrote))
                             : OTP_STORE;
    if (v == OTP_OK && wrote && dispensed_ml < out->liters * 1000)
        log_warn("otp.short_dispense", "reference=%s station=%s liters=%lld dispensed_ml=%lld", reference,
                 st->id, (long long)out->liters, (long long)dispensed_ml);
    else if (v == OTP_OK && wrote)
        log_info("otp.dispensed", "reference=%s station=%s liters=%lld completion=%s", reference, st->id,
                 (long long)out->liters, out->completion);
    else if (v != OTP_OK)
        log_info("otp.complete_refused", "reference=%s station=%s outcome=%s", reference, st->id,
                 otp_verdict_name(v));
    return v;
}

/* ---- fresh codes ---- */

static enum otp_verdict generate_tx(struct app *a, const struct payment *p, int64_t liters, const char *hex,
                                    struct otp_code *out)
{
    struct otp_code c;
    int64_t now = now_ms();
    enum otp_verdict v = current(a, NULL, p->id, now, &c);
    if (v == OTP_STORE)
        return v;
    if (v == OTP_OK && !strcmp(otp_status_at(&c, now), "in_progress"))
        return OTP_IN_USE; /* a station is dispensing it right now */
    return replace_code(a, p, liters, hex, "admin", out) == ST_OK ? OTP_OK : OTP_STORE;
}

enum otp_verdict otp_generate(struct app *a, const char *reference, int64_t liters, char code[OTP_DIGITS + 1],
                              struct otp_code *out)
{
    struct payment p;
    char hex[65];
    code[0] = 0;
    memset(out, 0, sizeof *out);
    enum otp_verdict v = water_payment(a, reference, &p);
    if (v == OTP_OK && liters == 0)
        liters = p.liters;
    if (v == OTP_OK && (liters < 1 || liters > p.liters))
        v = OTP_BAD_LITERS;
    if (v == OTP_OK && !new_code(a, p.reference, code, hex))
        v = OTP_STORE;
    if (v == OTP_OK)
        v = store_begin(a->store) == ST_OK ? end_tx(a, generate_tx(a, &p, liters, hex, out)) : OTP_STORE;
    if (v != OTP_OK)
        explicit_bzero(code, OTP_DIGITS + 1);
    log_info("otp.generated", "reference=%s liters=%lld outcome=%s", reference, (long long)liters,
             otp_verdict_name(v));
    return v;
}

static enum otp_verdict resend_tx(struct app *a, const struct payment *p)
{
    struct otp_code c;
    char text[480];
    int64_t now = now_ms();
    enum otp_verdict v = current(a, NULL, p->id, now, &c);
    if (v == OTP_STORE)
        return v;
    const char *s = v == OTP_OK ? otp_status_at(&c, now) : "none";
    if (!strcmp(s, "in_progress"))
        return OTP_IN_USE;
    if (!strcmp(s, "used"))
        return OTP_USED;
    if (store_otp_count(a->store, p->id) >= OTP_MAX_CODES)
        return OTP_LIMIT;
    if (replace_code(a, p, v == OTP_OK ? c.liters : p->liters, "", "resend", &c) != ST_OK)
        return OTP_STORE;
    otp_code_text(&a->cfg, p, user_speaks_sw(a->store, p->user_id, p->phone), true, text, sizeof text);
    return outbox_queue(a, p->phone, text, "code", p->id) == ST_OK ? OTP_OK : OTP_STORE;
}

enum otp_verdict otp_resend(struct app *a, const char *phone, const char *reference)
{
    struct payment p;
    enum otp_verdict v = water_payment(a, reference, &p);
    if (v == OTP_NOT_COMPLETED || (v == OTP_OK && strcmp(p.phone, phone)))
        v = OTP_NOT_FOUND; /* only the buyer's own paid orders */
    if (v == OTP_OK)
        v = store_begin(a->store) == ST_OK ? end_tx(a, resend_tx(a, &p)) : OTP_STORE;
    if (v == OTP_OK)
        app_wake(a, WORK_OUTBOX);
    char masked[20];
    log_info("otp.resend", "reference=%s phone=%s outcome=%s", reference, log_phone(phone, masked),
             otp_verdict_name(v));
    return v;
}

int otp_live_codes(struct app *a, const char *phone, struct otp_code *out, int max)
{
    return store_otp_live_for_phone(a->store, phone, now_ms() - (int64_t)OTP_LIST_DAYS * 86400 * 1000, out, max);
}
