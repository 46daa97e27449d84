/* charge: integrators' Paystack payments and escrow; see charge.h. */
#include "charge/charge.h"

#include "client/client.h"
#include "client/notice.h"
#include "client/payment.h"
#include "pay/pay.h"
#include "pay/paystack.h"
#include "pay/purchase.h"
#include "store/water.h"
#include "util/crypto.h"
#include "util/log.h"
#include "util/phone.h"
#include "util/str.h"
#include "water/water.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define RECHECK_MS 60000
/* a transfer Paystack did not answer is tried again after this, then
 * twice as long each time, up to an hour */
#define RELEASE_RETRY_MS 10000
#define RELEASE_RETRY_MAX_MS 3600000
/* A new release is sent by the request that made it; the sweeper takes it
 * only once that request could no longer be sending it (lipad died
 * meanwhile): after as many HTTP timeouts as a send makes calls (bank,
 * recipient, transfer, verify), and RELEASE_RETRY_MS for the writes
 * between them. Sooner, the sweeper would send it a second time beside
 * the first whenever Paystack is slower than its pass. */
#define RELEASE_SEND_CALLS 4

bool charge_test_mode(const struct config *cfg)
{
    return cfg->paystack_secret && !strncmp(cfg->paystack_secret, "sk_test_", 8);
}

bool charge_test_rules(const struct config *cfg, struct charge_req *r, char *why, size_t whysz)
{
    if (!charge_test_mode(cfg))
        return true;
    if (r->amount < 100 || r->amount > 1000 || r->amount % 100) {
        snprintf(why, whysz, "amount: with Paystack's test keys it must be one of 100, 200, ... 1000 KES");
        return false;
    }
    if (r->method != CHARGE_CARD || r->phone[0])
        str_copy(r->phone, sizeof r->phone, CHARGE_TEST_PHONE);
    str_copy(r->email, sizeof r->email, CHARGE_TEST_EMAIL);
    return true;
}

const char *charge_network(const char *e164)
{
    /* the Communications Authority's allocations: +2547NN and +2541NN */
    if (!e164 || strlen(e164) != 13 || strncmp(e164, "+254", 4))
        return NULL;
    int p3 = (e164[4] - '0') * 100 + (e164[5] - '0') * 10 + (e164[6] - '0');
    int p2 = p3 / 10;
    if (p2 == 70 || p2 == 71 || p2 == 72 || p2 == 79 || (p3 >= 740 && p3 <= 743) || p3 == 745 || p3 == 746 ||
        p3 == 748 || (p3 >= 757 && p3 <= 759) || p3 == 768 || p3 == 769 || (p3 >= 110 && p3 <= 115))
        return "Safaricom";
    if (p2 == 73 || p2 == 78 || (p3 >= 750 && p3 <= 756) || p3 == 762 || (p3 >= 100 && p3 <= 102))
        return "Airtel";
    if (p2 == 77)
        return "Telkom";
    return NULL;
}

bool charge_reference(int64_t ms, char out[CHARGE_REF_MAX]) { return crypto_reference("CH", ms, out, CHARGE_REF_MAX); }

static void mark_failed(struct app *a, struct payment *p, const char *why)
{
    str_copy(p->status, sizeof p->status, "failed");
    p->result_code = 1;
    str_copy(p->result_desc, sizeof p->result_desc, why);
    str_copy(p->last_error, sizeof p->last_error, why);
    if (!purchase_finish(a, p))
        log_error("charge.save_failed", "payment=%lld", (long long)p->id);
}

enum err charge_start(struct app *a, const struct client *c, const struct charge_req *r, struct payment *p,
                      struct charge_started *out, char *why, size_t whysz)
{
    memset(out, 0, sizeof *out);
    char meta_text[2048] = "";
    if (r->metadata) {
        char *t = json_dumps(r->metadata, JSON_COMPACT);
        bool fits = t && str_copy(meta_text, sizeof meta_text, t);
        free(t);
        if (!fits) {
            snprintf(why, whysz, "metadata: at most %zu bytes as JSON", sizeof meta_text - 1);
            return ERR_VALIDATION;
        }
    }
    if (!a->paystack) {
        snprintf(why, whysz, "Paystack is not available");
        return ERR_INTERNAL;
    }
    memset(p, 0, sizeof *p);
    str_copy(p->kind, sizeof p->kind, "charge");
    str_copy(p->origin, sizeof p->origin, "api");
    str_copy(p->provider, sizeof p->provider, "paystack");
    str_copy(p->client_id, sizeof p->client_id, c->id);
    str_copy(p->phone, sizeof p->phone, r->phone);
    str_copy(p->currency, sizeof p->currency, "KES");
    p->amount = r->amount;
    p->next_at = now_ms() + a->cfg.settle_after * 1000;
    if (!charge_reference(now_ms(), p->reference)) {
        snprintf(why, whysz, "could not make a reference");
        return ERR_INTERNAL;
    }
    struct charge_extra x;
    memset(&x, 0, sizeof x);
    str_copy(x.booking_id, sizeof x.booking_id, r->booking_id);
    /* the payer a history names: a string or a whole number */
    json_t *user = json_object_get(r->metadata, "user_id");
    bool user_ok = !user || json_is_null(user) ||
                   (json_is_string(user) && str_copy(x.payer_ref, sizeof x.payer_ref, json_string_value(user)));
    if (json_is_integer(user)) {
        snprintf(x.payer_ref, sizeof x.payer_ref, "%lld", (long long)json_integer_value(user));
        user_ok = true;
    }
    if (!user_ok) {
        snprintf(why, whysz, "metadata.user_id: a string of at most %zu bytes or a whole number",
                 sizeof x.payer_ref - 1);
        return ERR_VALIDATION;
    }
    const char *type = json_string_value(json_object_get(r->metadata, "payment_type"));
    x.escrow = type && !strcmp(type, "escrow");
    str_copy(x.method, sizeof x.method, r->method == CHARGE_CARD ? "card" : r->method == CHARGE_MPESA ? "mpesa" : "mpesa_direct");
    x.retry_of = r->retry_of;
    /* one transaction: a charge is stored whole (a kill cannot leave an
     * escrow charge without its booking), and the retries of an original
     * are counted and added one at a time, however many come at once */
    if (store_begin(a->store) != ST_OK) {
        snprintf(why, whysz, "could not store the payment");
        return ERR_INTERNAL;
    }
    int64_t made = 0, open = 0;
    enum err e = ERR_OK;
    if (r->retry_of && store_charge_retries(a->store, c->id, r->retry_of, &made, &open) != ST_OK)
        e = ERR_INTERNAL;
    else if (r->retry_of && made >= CHARGE_RETRY_MAX)
        e = ERR_CONFLICT;
    else if (open) /* two open charges for one thing: the payer could pay both */
        e = ERR_UNPROCESSABLE;
    x.retry_count = r->retry_of ? made + 1 : 0;
    if (e == ERR_OK && (store_payment_create(a->store, p) != ST_OK ||
                        store_water_set_order(a->store, p->id, meta_text, r->email) != ST_OK ||
                        store_charge_set(a->store, p->id, &x) != ST_OK || store_commit(a->store) != ST_OK))
        e = ERR_INTERNAL;
    if (e != ERR_OK) {
        store_rollback(a->store);
        if (e == ERR_CONFLICT)
            snprintf(why, whysz, "The original of this payment was retried %lld times already, the most allowed",
                     (long long)made);
        else if (e == ERR_UNPROCESSABLE)
            snprintf(why, whysz, "A retry of this payment is still pending: cancel it or wait for its outcome");
        else
            snprintf(why, whysz, "could not store the payment");
        return e;
    }
    out->retry_count = x.retry_count;
    atomic_fetch_add(&a->purchases, 1);

    json_t *ps_meta = json_is_object(r->metadata) ? json_deep_copy(r->metadata) : json_object();
    json_object_set_new(ps_meta, "client_id", json_string(c->id));
    if (r->booking_id[0])
        json_object_set_new(ps_meta, "bookingId", json_string(r->booking_id));
    char masked[20];
    bool ok = true;
    if (r->method != CHARGE_MPESA_DIRECT) {
        struct paystack_init_res res;
        paystack_initialize(a->paystack, r->email, p->amount * 100, "KES", p->reference, NULL, ps_meta, &res);
        if (res.outcome != PAY_OK) {
            snprintf(why, whysz, "Paystack %s: %.200s", res.outcome == PAY_RETRY ? "did not answer" : "refused",
                     res.message[0] ? res.message : "no reason given");
            mark_failed(a, p, why);
            ok = false;
        } else {
            str_copy(out->authorization_url, sizeof out->authorization_url, res.authorization_url);
            str_copy(out->access_code, sizeof out->access_code, res.access_code);
            store_water_set_checkout(a->store, p->id, res.authorization_url, res.access_code,
                                     p->created_at + a->cfg.payment_timeout * 1000);
        }
    }
    if (ok && r->method != CHARGE_CARD) {
        struct paystack_charge_res res;
        paystack_charge_mobile(a->paystack, r->email, p->amount * 100, "KES", p->reference, p->phone, PAYSTACK_MPESA_PROVIDER,
                               ps_meta, &res);
        if (res.outcome == PAY_REJECT) {
            snprintf(why, whysz, "Paystack refused: %.200s", res.message[0] ? res.message : "no reason given");
            mark_failed(a, p, why);
            ok = false;
        } else if (res.outcome == PAY_RETRY) {
            /* it may have reached Paystack: the sweeper verifies it */
            snprintf(why, whysz, "Paystack did not answer; the payment %s will be verified", p->reference);
            ok = false;
        } else {
            str_copy(out->display_text, sizeof out->display_text, res.display_text);
            store_water_set_provider(a->store, p->id, res.status, "mobile_money", "", "");
        }
    }
    json_decref(ps_meta);
    if (!ok) {
        log_warn("charge.start_failed", "payment=%lld reference=%s client=%s", (long long)p->id, p->reference, c->id);
        store_payment_get(a->store, p->id, p);
        return ERR_PROVIDER;
    }
    if (payment_open(p)) {
        str_copy(p->status, sizeof p->status, "processing");
        if (store_payment_save(a->store, p) == ST_CONFLICT) /* an event was quicker */
            store_payment_get(a->store, p->id, p);
    }
    log_info("charge.started", "payment=%lld reference=%s client=%s method=%s phone=%s amount=%lld", (long long)p->id,
             p->reference, c->id, x.method, p->phone[0] ? log_phone(p->phone, masked) : "-", (long long)p->amount);
    return ERR_OK;
}

/* ---- settling ---- */

bool charge_apply(struct app *a, struct payment *p, const struct charge_news *n)
{
    const char *st = n->status ? n->status : "";
    int64_t now = now_ms();
    char reason[256];
    const char *final = paystack_outcome(st, n->amount, n->currency, n->gateway_response, p->amount, p->currency,
                                         now > p->created_at + a->cfg.payment_timeout * 1000,
                                         "Abandoned: no payment in time", reason, sizeof reason);
    bool paid = final && !strcmp(final, "completed");
    if (!payment_open(p) && !(paid && strcmp(p->status, "completed")))
        return true; /* final, and nothing that changes it */
    if (store_water_set_provider(a->store, p->id, st, n->channel, n->receipt, n->paid_at) != ST_OK)
        return false;
    if (paid && !payment_open(p)) {
        /* paid after a cancel, a failure or abandonment: the money was
         * taken, so the payment is paid */
        char was[sizeof p->status];
        str_copy(was, sizeof was, p->status);
        bool was_cancel = !strcmp(was, "cancelled");
        /* the client hears of it like of any outcome: the notice is stored
         * with the status */
        if (store_begin(a->store) != ST_OK)
            return false;
        bool ok = store_charge_paid_late(a->store, p->id, p->amount, reason, now, was_cancel) == ST_OK &&
                  store_payment_get(a->store, p->id, p) == ST_OK;
        json_t *body = ok ? client_charge_notice(a, p, now) : NULL;
        ok = ok && body && client_notice_queue(a, p, body);
        json_decref(body);
        if (!ok || store_commit(a->store) != ST_OK) {
            store_rollback(a->store);
            return false;
        }
        app_wake(a, WORK_NOTICES);
        log_warn("charge.paid_late", "payment=%lld reference=%s was=%s", (long long)p->id, p->reference, was);
        return store_payment_get(a->store, p->id, p) == ST_OK;
    }
    if (final) {
        p->result_code = paid ? 0 : 1;
        if (paid)
            p->paid_amount = p->amount;
        str_copy(p->status, sizeof p->status, final);
        str_copy(p->result_desc, sizeof p->result_desc, reason);
        if (!paid)
            str_copy(p->last_error, sizeof p->last_error, reason);
        if (!purchase_finish(a, p)) {
            /* finished meanwhile (a cancel stored between our read and
             * this write): the news applies to what it is now, so a
             * success after a cancel is not lost; still open means the
             * store failed, and the caller tries again */
            if (store_payment_get(a->store, p->id, p) != ST_OK || payment_open(p))
                return false;
            return charge_apply(a, p, n);
        }
        if (paid)
            store_charge_completed_at(a->store, p->id, now);
    }
    return store_payment_get(a->store, p->id, p) == ST_OK;
}

bool charge_verify(struct app *a, struct payment *p, char *why, size_t whysz)
{
    struct paystack_verify_res res;
    paystack_verify(a->paystack, p->reference, &res);
    if (res.outcome == PAY_REJECT && res.not_found && payment_open(p) &&
        now_ms() > p->created_at + a->cfg.payment_timeout * 1000) {
        /* its start never reached Paystack, and its time is over: nobody
         * can pay it now (a success that comes after all still pays it) */
        struct charge_news n = {.status = "abandoned", .amount = -1, .gateway_response = res.message};
        if (!charge_apply(a, p, &n)) {
            snprintf(why, whysz, "could not store Paystack's answer");
            return false;
        }
        return true;
    }
    if (res.outcome != PAY_OK) {
        snprintf(why, whysz, "Paystack %s: %.200s", res.outcome == PAY_RETRY ? "did not answer" : "refused",
                 res.message[0] ? res.message : "no reason given");
        return false;
    }
    struct charge_news n = {.status = res.status, .amount = res.amount, .currency = res.currency,
                            .channel = res.channel, .receipt = NULL, .paid_at = res.paid_at,
                            .gateway_response = res.gateway_response};
    if (!charge_apply(a, p, &n)) {
        snprintf(why, whysz, "could not store Paystack's answer");
        return false;
    }
    return true;
}

enum err charge_cancel(struct app *a, struct payment *p, const char *reason)
{
    if (!payment_open(p))
        return ERR_CONFLICT;
    str_copy(p->status, sizeof p->status, "cancelled");
    p->result_code = 1032; /* M-Pesa's "cancelled": the same meaning */
    str_copy(p->result_desc, sizeof p->result_desc, reason && *reason ? reason : "Cancelled by the client");
    str_copy(p->last_error, sizeof p->last_error, p->result_desc);
    int64_t now = now_ms();
    if (!purchase_finish(a, p)) {
        store_payment_get(a->store, p->id, p);
        return payment_open(p) ? ERR_INTERNAL : ERR_CONFLICT;
    }
    store_charge_cancelled(a->store, p->id, now, p->result_desc);
    log_info("charge.cancelled", "payment=%lld reference=%s", (long long)p->id, p->reference);
    store_payment_get(a->store, p->id, p);
    return ERR_OK;
}

/* ---- escrow ---- */

/* The transfer's reference, from the release's key: Paystack's transfer
 * references are lower-case letters, digits, '-' and '_'. */
static void release_reference(const char *client_id, const char *key, char out[64])
{
    uint8_t h[32];
    char hex[65], msg[256];
    int n = snprintf(msg, sizeof msg, "%s:%s", client_id, key);
    crypto_sha256(msg, (size_t)n, h);
    crypto_hex(h, sizeof h, hex, false);
    snprintf(out, 64, "esc-%.40s", hex);
}

static void release_fp(const char *booking, const char *phone, int64_t amount, char out[65])
{
    uint8_t h[32];
    char msg[160];
    int n = snprintf(msg, sizeof msg, "%s|%s|%lld", booking, phone, (long long)amount);
    crypto_sha256(msg, (size_t)n, h);
    crypto_hex(h, sizeof h, out, false);
}

/* Sends r's transfer (or learns its state when Paystack has it already)
 * and stores what came of it. */
static void release_send(struct app *a, struct escrow_release *r)
{
    char bank[PAYSTACK_CODE_MAX] = "", msg[256] = "";
    enum pay_outcome o = PAY_OK;
    r->attempts++;
    if (!r->recipient_code[0]) {
        o = paystack_mobile_money_bank(a->paystack, "M-PESA", bank);
        if (o != PAY_OK)
            snprintf(msg, sizeof msg, "no M-Pesa bank code from Paystack");
        if (o == PAY_OK) {
            struct paystack_recipient_res rr;
            paystack_recipient(a->paystack, r->booking_id, r->phone, bank, "KES", &rr);
            o = rr.outcome;
            str_copy(msg, sizeof msg, rr.message);
            if (o == PAY_OK)
                str_copy(r->recipient_code, sizeof r->recipient_code, rr.recipient_code);
        }
    }
    struct paystack_transfer_res tr;
    memset(&tr, 0, sizeof tr);
    if (o == PAY_OK) {
        char reason[128];
        snprintf(reason, sizeof reason, "Escrow release, booking %.60s", r->booking_id);
        paystack_transfer(a->paystack, r->amount * 100, r->recipient_code, r->reference, reason, &tr);
        if (tr.duplicate) /* an earlier attempt got there: ask what became of it */
            paystack_transfer_verify(a->paystack, r->reference, &tr);
        o = tr.outcome;
        str_copy(msg, sizeof msg, tr.message);
    }
    int64_t now = now_ms();
    if (o == PAY_OK) {
        str_copy(r->transfer_code, sizeof r->transfer_code, tr.transfer_code);
        if (!strcmp(tr.status, "success")) {
            str_copy(r->status, sizeof r->status, "success");
            r->released_at = now;
        } else if (!strcmp(tr.status, "failed") || !strcmp(tr.status, "reversed")) {
            str_copy(r->status, sizeof r->status, tr.status);
            snprintf(r->last_error, sizeof r->last_error, "Paystack: transfer %s", tr.status);
        } else { /* pending, processing, queued, otp: its event will say,
                    * or the sweeper asks (release_check) */
            str_copy(r->status, sizeof r->status, "pending");
            r->next_at = now + a->cfg.settle_after * 1000;
        }
    } else if (o == PAY_REJECT) {
        str_copy(r->status, sizeof r->status, "failed");
        snprintf(r->last_error, sizeof r->last_error, "Paystack refused: %.200s", msg[0] ? msg : "no reason given");
    } else {
        int64_t wait = RELEASE_RETRY_MS;
        for (int64_t i = 1; i < r->attempts && wait < RELEASE_RETRY_MAX_MS; i++)
            wait *= 2;
        r->next_at = now + (wait < RELEASE_RETRY_MAX_MS ? wait : RELEASE_RETRY_MAX_MS);
        snprintf(r->last_error, sizeof r->last_error, "Paystack did not answer: %.200s", msg);
    }
    if (store_escrow_save(a->store, r) != ST_OK)
        log_error("escrow.save_failed", "release=%lld", (long long)r->id);
    char masked[20];
    log_info("escrow.sent", "release=%lld booking=%.64s phone=%s amount=%lld status=%s attempts=%lld", (long long)r->id,
             r->booking_id, log_phone(r->phone, masked), (long long)r->amount, r->status, (long long)r->attempts);
}

/* A pending transfer whose event has not come: Paystack is asked, and a
 * final answer settles it as the event would; anything else is asked
 * again a minute on. The amount stays out of the booking meanwhile. */
static void release_check(struct app *a, struct escrow_release *r)
{
    struct paystack_transfer_res tr;
    paystack_transfer_verify(a->paystack, r->reference, &tr);
    int64_t now = now_ms();
    const char *st = tr.outcome == PAY_OK ? tr.status : "";
    if (!strcmp(st, "success")) {
        str_copy(r->status, sizeof r->status, "success");
        r->released_at = now;
    } else if (!strcmp(st, "failed") || !strcmp(st, "reversed")) {
        str_copy(r->status, sizeof r->status, st);
        snprintf(r->last_error, sizeof r->last_error, "Paystack: transfer %s", st);
    } else {
        r->next_at = now + RECHECK_MS;
        if (tr.outcome != PAY_OK)
            snprintf(r->last_error, sizeof r->last_error, "verify: %.200s", tr.message);
    }
    if (store_escrow_save(a->store, r) != ST_OK)
        log_error("escrow.save_failed", "release=%lld", (long long)r->id);
    if (strcmp(r->status, "pending"))
        log_info("escrow.settled", "release=%lld booking=%.64s status=%s by=verify", (long long)r->id, r->booking_id,
                 r->status);
}

enum err charge_release(struct app *a, const struct client *c, const char *booking_id, const char *phone,
                        int64_t amount, const char *idem_key, struct escrow_release *r, char *why,
                        size_t whysz)
{
    memset(r, 0, sizeof *r);
    str_copy(r->client_id, sizeof r->client_id, c->id);
    str_copy(r->booking_id, sizeof r->booking_id, booking_id);
    str_copy(r->phone, sizeof r->phone, phone);
    r->amount = amount;
    if (idem_key && *idem_key) {
        str_copy(r->idem_key, sizeof r->idem_key, idem_key);
    } else { /* no key: a new release each time, still bounded by what is held */
        char rnd[33];
        if (!crypto_random_chars(rnd, 32, "abcdefghijklmnopqrstuvwxyz0123456789")) {
            snprintf(why, whysz, "could not make a key");
            return ERR_INTERNAL;
        }
        snprintf(r->idem_key, sizeof r->idem_key, "lipa-%s", rnd);
    }
    release_fp(booking_id, phone, amount, r->idem_fp);
    char fp[65];
    str_copy(fp, sizeof fp, r->idem_fp);
    release_reference(c->id, r->idem_key, r->reference);
    r->next_at = now_ms() + RELEASE_SEND_CALLS * a->cfg.http_timeout_ms + RELEASE_RETRY_MS;
    enum store_rc rc = store_escrow_reserve(a->store, r);
    if (rc == ST_CONFLICT) {
        if (!crypto_streq(fp, r->idem_fp)) {
            snprintf(why, whysz, "Idempotency-Key: already used for another release");
            return ERR_CONFLICT;
        }
        return ERR_OK; /* the same release, as it stands */
    }
    if (rc == ST_NOT_FOUND) {
        int64_t held = 0, out = 0;
        store_escrow_balance(a->store, c->id, booking_id, &held, &out);
        snprintf(why, whysz, "amount: booking %.64s holds %lld KES, of which %lld are released or on their way",
                 booking_id, (long long)held, (long long)out);
        return ERR_UNPROCESSABLE;
    }
    if (rc != ST_OK) {
        snprintf(why, whysz, "could not store the release");
        return ERR_INTERNAL;
    }
    release_send(a, r);
    return ERR_OK;
}

int charge_work(struct app *a)
{
    struct payment due[8];
    char why[300];
    int n = store_payments_due_kind(a->store, "paystack", "charge", now_ms(), due, 8);
    for (int i = 0; i < n && !atomic_load(&a->stopping); i++) {
        struct payment *p = &due[i];
        bool answered = charge_verify(a, p, why, sizeof why);
        if (!payment_open(p))
            continue;
        /* still open (or Paystack did not answer): never guessed */
        p->attempts++;
        p->next_at = now_ms() + RECHECK_MS;
        if (!answered)
            str_copy(p->last_error, sizeof p->last_error, why);
        store_payment_save(a->store, p);
    }
    struct escrow_release rel[8];
    int m = store_escrow_due(a->store, now_ms(), rel, 8);
    for (int i = 0; i < m && !atomic_load(&a->stopping); i++) {
        if (!strcmp(rel[i].status, "pending"))
            release_check(a, &rel[i]);
        else
            release_send(a, &rel[i]);
    }
    return (n < 0 ? 0 : n) + (m < 0 ? 0 : m);
}

/* ---- events ---- */

static enum charge_event_rc charge_event_apply(struct app *a, const struct paystack_event *ev, const char **what)
{
    if (ev->kind == PAYSTACK_EV_CHARGE_SUCCESS || ev->kind == PAYSTACK_EV_CHARGE_FAILED) {
        struct payment p;
        enum store_rc rc = store_payment_by_reference(a->store, ev->reference, &p);
        if (rc == ST_NOT_FOUND || (rc == ST_OK && strcmp(p.provider, "paystack"))) {
            *what = "unknown reference";
            return CEV_UNKNOWN;
        }
        if (rc != ST_OK)
            return CEV_ERROR;
        /* a charge.failed fails, whatever its data says; a charge.success
         * is what its data.status says (success when absent) */
        const char *status = ev->kind == PAYSTACK_EV_CHARGE_FAILED ? "failed" : ev->status[0] ? ev->status : "success";
        if (!strcmp(p.kind, "water")) {
            struct water_paystack_news n = {.status = status, .amount = ev->amount, .currency = ev->currency,
                                            .channel = ev->channel, .receipt = ev->id, .paid_at = ev->paid_at,
                                            .gateway_response = ev->gateway_response};
            *what = "water order";
            return water_paystack_apply(a, &p, &n) ? CEV_APPLIED : CEV_ERROR;
        }
        struct charge_news n = {.status = status, .amount = ev->amount, .currency = ev->currency,
                                .channel = ev->channel, .receipt = ev->id, .paid_at = ev->paid_at,
                                .gateway_response = ev->gateway_response};
        *what = "charge";
        return charge_apply(a, &p, &n) ? CEV_APPLIED : CEV_ERROR;
    }
    if (ev->kind == PAYSTACK_EV_TRANSFER_SUCCESS || ev->kind == PAYSTACK_EV_TRANSFER_FAILED ||
        ev->kind == PAYSTACK_EV_TRANSFER_REVERSED) {
        struct escrow_release r;
        enum store_rc rc = store_escrow_by_reference(a->store, ev->reference, &r);
        if (rc == ST_NOT_FOUND) {
            *what = "unknown reference";
            return CEV_UNKNOWN;
        }
        if (rc != ST_OK)
            return CEV_ERROR;
        const char *to = ev->kind == PAYSTACK_EV_TRANSFER_SUCCESS  ? "success"
                         : ev->kind == PAYSTACK_EV_TRANSFER_FAILED ? "failed" : "reversed";
        str_copy(r.status, sizeof r.status, to);
        if (ev->transfer_code[0])
            str_copy(r.transfer_code, sizeof r.transfer_code, ev->transfer_code);
        if (!strcmp(to, "success"))
            r.released_at = now_ms();
        else
            snprintf(r.last_error, sizeof r.last_error, "Paystack: transfer %s", to);
        rc = store_escrow_save(a->store, &r);
        *what = rc == ST_NOT_FOUND ? "release already final" : "release";
        if (rc == ST_OK)
            log_info("escrow.settled", "release=%lld booking=%.64s status=%s", (long long)r.id, r.booking_id, to);
        return rc == ST_ERROR ? CEV_ERROR : CEV_APPLIED;
    }
    *what = "event not acted on";
    return CEV_IGNORED;
}

enum charge_event_rc charge_event(struct app *a, const char *body, size_t len)
{
    struct paystack_event ev;
    char key[200];
    int64_t id = 0;
    if (!paystack_event_parse(body, len, &ev)) {
        /* signed, so Paystack's: an event lipa cannot read is recorded
         * for the operator and answered 200, since Paystack sending it
         * again for 72 hours would not make it readable; a body that is
         * no event at all is refused */
        json_t *j = json_loadb(body, len, 0, NULL);
        const char *name = json_string_value(json_object_get(j, "event"));
        bool event = json_is_object(j) && name && json_is_object(json_object_get(j, "data"));
        char nm[40];
        str_copy(nm, sizeof nm, event ? name : "");
        json_decref(j);
        if (!event)
            return CEV_BAD;
        uint8_t h[32];
        char hex[65];
        crypto_sha256(body, len, h);
        crypto_hex(h, sizeof h, hex, false);
        snprintf(key, sizeof key, "unreadable:%s", hex);
        enum store_rc rc = store_paystack_event_add(a->store, key, nm, "", body, &id);
        if (rc == ST_OK)
            store_paystack_event_outcome(a->store, id, ev.error);
        log_warn("paystack.event_unreadable", "error=\"%.100s\"", ev.error);
        return rc == ST_ERROR ? CEV_ERROR : CEV_IGNORED;
    }
    /* Paystack sends the same event again until it gets a 2xx: the event,
     * its object's id and the reference name it (without an id, the
     * status too) */
    snprintf(key, sizeof key, "%s:%s:%s", ev.event, ev.id, ev.reference);
    if (!ev.id[0])
        snprintf(key + strlen(key), sizeof key - strlen(key), ":%s", ev.status);
    enum store_rc rc = store_paystack_event_add(a->store, key, ev.event, ev.reference, body, &id);
    if (rc == ST_CONFLICT) {
        log_info("paystack.event_repeat", "event=%s reference=%s", ev.event, ev.reference);
        return CEV_REPEAT;
    }
    if (rc != ST_OK)
        return CEV_ERROR;
    const char *what = "";
    enum charge_event_rc out = charge_event_apply(a, &ev, &what);
    if (out == CEV_ERROR)
        store_paystack_event_drop(a->store, id); /* so Paystack's next try is applied */
    else
        store_paystack_event_outcome(a->store, id, what);
    log_info("paystack.event", "event=%s reference=%s outcome=\"%s\"", ev.event, ev.reference,
             out == CEV_ERROR ? "error" : what);
    return out;
}
