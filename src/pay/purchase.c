/* pay/purchase: electricity purchases from start to receipt; see purchase.h. */
#include "pay/purchase.h"

#include "client/payment.h"
#include "meter/token.h"
#include "otp/otp.h"
#include "pay/pay.h"
#include "pay/prompts.h"
#include "sms/outbox.h"
#include "store/meters.h"
#include "store/payments.h"
#include "store/sms.h"
#include "store/users.h"
#include "user/user.h"
#include "util/aside.h"
#include "util/crypto.h"
#include "util/log.h"
#include "util/metrics.h"
#include "util/str.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define QUERY_RETRY_MS 30000          /* between STK queries while pending */
#define PUSH_MAX_ATTEMPTS 6

int64_t purchase_energy(int64_t amount, int64_t price_cents)
{
    if (price_cents <= 0 || amount <= 0)
        return 0;
    return amount * 100 * 10 / price_cents; /* tenths of a kWh, rounded down */
}

void purchase_kwh_text(int64_t tenths, char out[24])
{
    /* one decimal everywhere a caller reads kWh (screens, SMS, receipts) */
    uint64_t t = tenths < 0 ? (uint64_t)0 - (uint64_t)tenths : (uint64_t)tenths;
    snprintf(out, 24, "%s%llu.%llu", tenths < 0 ? "-" : "", (unsigned long long)(t / 10),
             (unsigned long long)(t % 10));
}

void purchase_idem_key(char out[PURCHASE_IDEM_SIZE], const char *ns, const char *id)
{
    _Static_assert(PURCHASE_IDEM_SIZE == sizeof ((struct payment *)0)->idem_key, "the key is a payment's");
    int n = snprintf(out, PURCHASE_IDEM_SIZE, "%s:%s", ns, id);
    if (n >= 0 && n < PURCHASE_IDEM_SIZE)
        return;
    uint8_t md[32];
    char hex[65];
    crypto_sha256(id, strlen(id), md);
    crypto_hex(md, sizeof md, hex, false);
    snprintf(out, PURCHASE_IDEM_SIZE, "%s#%s", ns, hex);
}

const char *purchase_status_for(int64_t code)
{
    switch (code) {
    case 0: return "completed";
    case 1032: return "cancelled";
    case 1037:
    case 1019: return "timeout";
    default: return "failed";
    }
}

enum purchase_refusal purchase_check(const struct config *cfg, int64_t amount, bool active)
{
    if (amount < cfg->min_amount || amount > cfg->max_amount)
        return PR_AMOUNT_RANGE;
    return active ? PR_NONE : PR_METER_INACTIVE;
}

/* When the payment worker looks again at a purchase held behind its
 * phone's prompt: when any prompt out now has ended, at the latest
 * (a prompt lasts settle_after from its push). Answering the prompt hands
 * the purchase back sooner (prompts_close). Not the prompt's own end: that
 * differs from phone to phone, so held purchases' next_at would land all
 * over the workers' due index (payments_open): each group commit of make
 * bench wrote 7 of its pages, 3.5 since (the WAL by B-tree:
 * docs/performance.md). */
static int64_t held_until(const struct app *a, int64_t now)
{
    return now + a->cfg.settle_after * 1000;
}

/* Checks r and fills p for storing; PR_NONE when it may be stored. */
static enum purchase_refusal prepare(struct app *a, const struct purchase_req *r, struct payment *p)
{
    struct meter m;
    enum store_rc rc;
    if (purchase_check(&a->cfg, r->amount, true) != PR_NONE)
        return PR_AMOUNT_RANGE;
    if (r->known) {
        memset(&m, 0, sizeof m);
        str_copy(m.id, sizeof m.id, r->known->id);
        m.price_per_kwh = r->known->price_per_kwh;
        m.active = r->known->active;
    } else {
        rc = store_meter_get(a->store, r->meter_id, &m);
        if (rc == ST_NOT_FOUND)
            return PR_NO_METER;
        if (rc != ST_OK)
            return PR_STORE;
        if (!store_is_assigned(a->store, r->user_id, r->meter_id))
            return PR_NOT_ASSIGNED;
    }
    enum purchase_refusal why = purchase_check(&a->cfg, r->amount, m.active);
    if (why != PR_NONE)
        return why;
    memset(p, 0, sizeof *p);
    str_copy(p->kind, sizeof p->kind, "electricity");
    str_copy(p->origin, sizeof p->origin, r->origin);
    if (!str_copy(p->idem_key, sizeof p->idem_key, r->idem_key ? r->idem_key : "")) {
        /* cut, it could name another purchase: keys come from purchase_idem_key */
        log_error("purchase.idem_key_too_long", "origin=%s", r->origin);
        return PR_STORE;
    }
    str_copy(p->idem_fp, sizeof p->idem_fp, r->idem_fp ? r->idem_fp : "");
    p->user_id = r->user_id;
    str_copy(p->phone, sizeof p->phone, r->phone);
    str_copy(p->meter_id, sizeof p->meter_id, m.id);
    p->amount = r->amount;
    p->energy = purchase_energy(r->amount, m.price_per_kwh);
    /* Daraja caps: AccountReference 12, TransactionDesc 13 characters */
    str_copy(p->account_reference, 13, r->account_ref && *r->account_ref ? r->account_ref : m.id);
    str_copy(p->description, 14, r->description && *r->description ? r->description : "Electricity");
    /* a prompt is out for this phone: stored to wait behind it, so the
     * payment worker never has to look at it before then */
    int64_t now = now_ms();
    if (prompts_waiting(a->prompts, p->phone, now))
        p->next_at = held_until(a, now);
    return PR_NONE;
}

/* What storing p answered, as a refusal. */
static enum purchase_refusal stored(enum store_rc rc)
{
    if (rc == ST_OK || rc == ST_CONFLICT) /* conflict: the same request again, the same purchase */
        return PR_NONE;
    if (rc == ST_NOT_FOUND) /* the meter or user went away meanwhile */
        return PR_NO_METER;
    return PR_STORE;
}

/* After p is stored: count, log, wake the payment worker. */
static void started(struct app *a, const struct payment *p)
{
    atomic_fetch_add(&a->purchases, 1);
    char masked[20];
    log_info("purchase.created", "payment=%lld origin=%s phone=%s meter=%s amount=%lld",
             (long long)p->id, p->origin, log_phone(p->phone, masked), p->meter_id, (long long)p->amount);
    /* the phone is p's from now, reserved for its push, so that the
     * purchases made before it goes wait behind it; or p waits behind the
     * purchase holding it */
    int64_t now = now_ms();
    bool held = prompts_hold(a->prompts, p->phone, p->id, now);
    if (held && p->next_at > now) { /* stored to wait behind it (prepare) */
        log_info("mpesa.push_held", "payment=%lld phone=%s reason=\"a prompt is out for this phone\"",
                 (long long)p->id, masked);
        return;
    }
    if (p->next_at > now) /* the prompt was answered meanwhile */
        store_payment_due_now(a->store, p->id, now);
    app_wake(a, WORK_PAYMENTS);
}

enum purchase_refusal purchase_start(struct app *a, const struct purchase_req *r, struct payment *p)
{
    enum purchase_refusal why = prepare(a, r, p);
    if (why != PR_NONE)
        return why;
    enum store_rc rc = store_payment_create(a->store, p);
    if (rc == ST_OK)
        started(a, p);
    return stored(rc);
}

struct taking {
    struct app *a;
    purchase_taken_fn then;
    void *arg;
};

/* The store's side of a purchase taken in (on its committer thread). */
static void taken(void *arg, enum store_rc rc, const struct payment *row)
{
    struct taking *t = arg;
    /* the caller first: what starting it costs (its phone's prompt, a
     * round trip on PostgreSQL) is not the caller's wait, nor the wait of
     * the hops stored after it in the batch */
    if (t->then)
        t->then(t->arg, rc == ST_OK || rc == ST_CONFLICT);
    if (rc == ST_OK) /* ST_CONFLICT: the same purchase again, started already */
        started(t->a, row);
    free(t);
}

bool purchase_take_waits(struct app *a)
{
    return !store_take_keeps(a->store);
}

enum purchase_refusal purchase_take(struct app *a, const struct purchase_req *r, purchase_taken_fn then, void *arg)
{
    struct payment p;
    enum purchase_refusal why = prepare(a, r, &p);
    if (why != PR_NONE)
        return why;
    struct taking *t = malloc(sizeof *t);
    if (!t)
        return PR_STORE;
    *t = (struct taking){.a = a, .then = then, .arg = arg};
    if (store_take_payment(a->store, &p, taken, t))
        return PR_NONE;
    free(t);
    return PR_STORE;
}

/* ---- finishing ---- */

void purchase_finish_text(const struct payment *p, bool sw, char *out, size_t n)
{
    char kwh[24];
    purchase_kwh_text(p->energy, kwh);
    if (!strcmp(p->status, "completed"))
        snprintf(out, n, sw ? "lipa: Umelipa KES %lld kwa mita %s, kWh %s. M-Pesa %s. Tokeni: {token}"
                            : "lipa: Paid KES %lld for meter %s, %s kWh. M-Pesa %s. Token: {token}",
                 (long long)p->amount, p->meter_id, kwh, p->mpesa_receipt[0] ? p->mpesa_receipt : "-");
    else if (!strcmp(p->status, "cancelled"))
        snprintf(out, n, sw ? "lipa: Malipo ya KES %lld kwa mita %s yamesitishwa. Hukutozwa pesa."
                            : "lipa: Payment of KES %lld for meter %s was cancelled. You were not charged.",
                 (long long)p->amount, p->meter_id);
    else if (!strcmp(p->status, "timeout"))
        snprintf(out, n, sw ? "lipa: Malipo ya KES %lld kwa mita %s hayakukamilika kwa wakati. Hukutozwa pesa."
                            : "lipa: Payment of KES %lld for meter %s timed out. You were not charged.",
                 (long long)p->amount, p->meter_id);
    else
        snprintf(out, n, sw ? "lipa: Malipo ya KES %lld kwa mita %s hayakufaulu: %.60s"
                            : "lipa: Payment of KES %lld for meter %s failed: %.60s",
                 (long long)p->amount, p->meter_id, p->result_desc[0] ? p->result_desc : p->last_error);
}

/* holder's prompt ended, or its push did not go: the phone goes to the
 * next purchase held behind it, pushed now (or when the payment worker
 * meets it, if it is due already); one that finished meanwhile is passed
 * over, handing the phone on in its turn. */
static void hand_on(struct app *a, const char *phone, int64_t holder)
{
    for (int i = 0; i < 8; i++) {
        int64_t next = prompts_close(a->prompts, phone, holder, now_ms());
        if (!next)
            return;
        enum store_rc rc = store_payment_due_now(a->store, next, now_ms());
        if (rc == ST_OK) { /* still waiting for its push (due now, or already) */
            app_wake(a, WORK_PAYMENTS);
            return;
        }
        if (rc != ST_NOT_FOUND) /* the database: next keeps the phone while its reservation lasts */
            return;
        holder = next;
    }
}

/* ---- what finishing means per kind ---- */

/* Electricity: before the status change, queue the top-up and fix the
 * token's minute (payment columns); inside the transaction, the receipt. */
static void electricity_prepare(struct app *a, struct payment *p)
{
    (void)a;
    if (!strcmp(p->status, "completed")) {
        str_copy(p->topup_status, sizeof p->topup_status, "queued");
        p->topup_next_at = now_ms();
        p->token_minute = token_minute(now_s());
    } else {
        str_copy(p->topup_status, sizeof p->topup_status, "none");
        p->token_minute = -1;
    }
}

static bool electricity_finish(struct app *a, struct payment *p)
{
    char text[480];
    purchase_finish_text(p, user_speaks_sw(a->store, p->user_id, p->phone), text, sizeof text);
    return outbox_queue(a, p->phone, text, "receipt", p->id) == ST_OK;
}

bool purchase_render_token(struct app *a, const struct outbox_msg *m, char *out, size_t n)
{
    struct payment p;
    char digits[21];
    if (!m->payment_id || store_payment_get(a->store, m->payment_id, &p) != ST_OK || p.token_minute < 0 ||
        !token_issue(a->cfg.pepper, p.meter_id, p.token_minute, p.energy, digits) || n < 25)
        return false;
    token_group(digits, out);
    explicit_bzero(digits, sizeof digits);
    return true;
}

static const struct purchase_kind kinds[] = {
    {"electricity", electricity_prepare, electricity_finish},
    {"water", otp_water_prepare, otp_water_finish},
    {"package", client_package_prepare, client_package_finish},
    {"charge", client_charge_prepare, client_charge_finish},
};

const struct purchase_kind *purchase_kind_of(const char *kind)
{
    for (size_t i = 0; i < sizeof kinds / sizeof kinds[0]; i++)
        if (!strcmp(kinds[i].name, kind))
            return &kinds[i];
    return NULL;
}

bool purchase_finish(struct app *a, struct payment *p)
{
    bool ok = false;
    const struct purchase_kind *k = purchase_kind_of(p->kind);
    if (!k) {
        log_error("purchase.unknown_kind", "payment=%lld kind=%s", (long long)p->id, p->kind);
        return false;
    }
    if (k->prepare)
        k->prepare(a, p);
    if (store_begin(a->store) != ST_OK)
        return false;
    enum store_rc rc = store_payment_finish(a->store, p);
    if (rc != ST_OK)
        goto out;
    if (!k->finish(a, p))
        goto out;
    if (p->checkout_request_id[0] && store_callback_applied(a->store, p->checkout_request_id) != ST_OK)
        goto out;
    ok = store_commit(a->store) == ST_OK;
out:
    if (!ok)
        store_rollback(a->store);
    char masked[20];
    if (ok) {
        metrics_purchase_finished(p->status);
        log_info("purchase.finished", "payment=%lld kind=%s status=%s result=%lld phone=%s", (long long)p->id,
                 p->kind, p->status, (long long)p->result_code, log_phone(p->phone, masked));
    } else if (rc == ST_CONFLICT)
        log_info("purchase.duplicate", "payment=%lld", (long long)p->id);
    if (ok) /* what the outcome queued: a top-up, an SMS, a notice */
        app_wake(a, WORK_TOPUPS | WORK_OUTBOX | WORK_NOTICES);
    if (ok && p->checkout_request_id[0] && !strcmp(p->provider, "mpesa")) {
        hand_on(a, p->phone, p->id); /* its prompt is answered */
    }
    return ok;
}

/* Fills p's outcome from a parsed callback; the paid amount must match.
 * False, p untouched, for a success that does not say what was paid: it
 * completes nothing (query_soon). */
static bool outcome_from_callback(struct payment *p, const struct pay_callback *cb)
{
    if (cb->result_code == 0 && cb->amount < 0)
        return false;
    p->result_code = cb->result_code;
    str_copy(p->result_desc, sizeof p->result_desc, cb->result_desc);
    str_copy(p->status, sizeof p->status, purchase_status_for(cb->result_code));
    str_copy(p->mpesa_receipt, sizeof p->mpesa_receipt, cb->receipt);
    p->paid_amount = cb->amount;
    p->transaction_at = cb->transaction_at;
    if (cb->result_code == 0 && cb->amount >= 0 && cb->amount != p->amount) {
        /* paid something else than asked: no top-up; kept for review */
        str_copy(p->status, sizeof p->status, "failed");
        snprintf(p->last_error, sizeof p->last_error, "amount mismatch: paid %lld, expected %lld",
                 (long long)cb->amount, (long long)p->amount);
        snprintf(p->result_desc, sizeof p->result_desc, "Paid amount %lld does not match %lld",
                 (long long)cb->amount, (long long)p->amount);
    }
    return true;
}

/* A success callback without its amount: no amount, no check, so it
 * completes nothing. The purchase stays open and is made due now, so the
 * payment worker settles it by STK query (settle), M-Pesa's own answer
 * to lipa's question; the callback stays recorded. */
static void query_soon(struct app *a, struct payment *p)
{
    log_warn("mpesa.callback_without_amount", "payment=%lld checkout=%s reason=\"%s\"", (long long)p->id,
             p->checkout_request_id, "success without CallbackMetadata Amount; settled by STK query instead");
    str_copy(p->last_error, sizeof p->last_error, "success callback without its amount: settled by STK query");
    p->next_at = now_ms();
    if (store_payment_save(a->store, p) != ST_OK) /* changed meanwhile: it is settled or due anyway */
        log_info("mpesa.callback_without_amount_unsaved", "payment=%lld", (long long)p->id);
    store_callback_applied(a->store, p->checkout_request_id);
    app_wake(a, WORK_PAYMENTS);
}

struct queued_callback {
    struct app *a;
    struct pay_callback cb;
    char *body;
    purchase_recorded_fn done;
    void *arg;
};

static enum store_rc callback_write(struct store *st, void *arg)
{
    struct queued_callback *q = arg;
    return store_callback_add(st, q->cb.checkout_request_id, q->cb.result_code, q->body, NULL);
}

static void callback_done(void *arg, enum store_rc rc)
{
    struct queued_callback *q = arg;
    if (rc == ST_OK)
        app_wake(q->a, WORK_PAYMENTS);
    q->done(q->arg, rc == ST_OK ? ERR_OK : ERR_INTERNAL);
    free(q->body);
    free(q);
}

enum err purchase_callback_queue(struct app *a, const char *body, size_t len, char *why, size_t whysz,
                                 purchase_recorded_fn done, void *arg)
{
    struct queued_callback *q = calloc(1, sizeof *q);
    if (!q)
        return ERR_INTERNAL;
    if (!a->pay->parse_callback(body, len, &q->cb, why, whysz)) {
        free(q);
        return ERR_VALIDATION;
    }
    atomic_fetch_add(&a->callbacks, 1);
    q->a = a;
    q->done = done;
    q->arg = arg;
    if ((q->body = strndup(body, len)) && store_submit(a->store, callback_write, callback_done, q))
        return ERR_OK;
    free(q->body);
    free(q);
    return ERR_INTERNAL;
}

/* Applies one recorded callback; idempotent on CheckoutRequestID. */
static void apply_callback(struct app *a, const struct store_callback *rec)
{
    struct pay_callback cb;
    char why[128];
    struct payment p;
    if (!a->pay->parse_callback(rec->body, strlen(rec->body), &cb, why, sizeof why)) {
        store_callback_waiting(a->store, rec->id); /* checked on arrival; kept for audit */
        return;
    }
    enum store_rc rc = store_payment_by_checkout(a->store, cb.checkout_request_id, &p);
    if (rc == ST_NOT_FOUND) {
        /* the push answer is not stored yet: push() applies it then */
        log_warn("mpesa.callback_unmatched", "checkout=%s result=%d", cb.checkout_request_id, cb.result_code);
        store_callback_waiting(a->store, rec->id);
        return;
    }
    if (rc != ST_OK)
        return;
    if (!payment_open(&p)) {
        log_info("mpesa.callback_duplicate", "payment=%lld status=%s", (long long)p.id, p.status);
        metrics_callback(MC_DUPLICATE);
        store_callback_applied(a->store, cb.checkout_request_id);
        return;
    }
    if (!outcome_from_callback(&p, &cb)) {
        metrics_callback(MC_SUCCESS); /* what it said; the query settles the purchase */
        query_soon(a, &p);
    } else if (purchase_finish(a, &p)) {
        metrics_callback_status(purchase_status_for(cb.result_code));
    } else {
        metrics_callback(MC_DUPLICATE);
        store_callback_applied(a->store, cb.checkout_request_id); /* lost a race: already final */
    }
}

/* ---- the payment worker ---- */

static void give_up(struct app *a, struct payment *p, const char *status, const char *why)
{
    str_copy(p->status, sizeof p->status, status);
    str_copy(p->last_error, sizeof p->last_error, why);
    if (!p->result_desc[0])
        str_copy(p->result_desc, sizeof p->result_desc, why);
    purchase_finish(a, p);
    if (a->pushed) /* a REST request waiting for this push hears why */
        a->pushed(a, p);
}

/* A callback that arrived before the push answer was stored. */
static void apply_early_callback(struct app *a, struct payment *p)
{
    char body[8192];
    if (store_callback_pending(a->store, p->checkout_request_id, body, sizeof body) != ST_OK)
        return;
    struct pay_callback cb;
    char why[128];
    if (!a->pay->parse_callback(body, strlen(body), &cb, why, sizeof why))
        return;
    if (!outcome_from_callback(p, &cb)) {
        metrics_callback(MC_SUCCESS);
        query_soon(a, p);
    } else if (purchase_finish(a, p))
        metrics_callback_status(purchase_status_for(cb.result_code));
}

/* What one STK push came to (p holds the answer, not yet stored). */
enum pushed { PUSH_ACCEPTED, PUSH_RETRY, PUSH_GIVE_UP_UNREACHABLE, PUSH_GIVE_UP_REFUSED };

static enum pushed push_call(struct app *a, struct payment *p)
{
    char url[700];
    snprintf(url, sizeof url, "%s/mpesa/callback?secret=%s", a->cfg.public_url, a->callback_secret);
    struct pay_stk_req req = {
        .phone = p->phone, .amount = p->amount, .account_ref = p->account_reference,
        .description = p->description, .callback_url = url,
    };
    struct pay_stk_res res;
    a->pay->stk_push(a->pay_st, &req, &res);
    metrics_push(res.outcome == PAY_OK ? MO_OK : res.outcome == PAY_RETRY ? MO_RETRY : MO_REFUSED);
    switch (res.outcome) {
    case PAY_OK:
        app_health_set(a, PROV_DARAJA, true, "stk push accepted");
        str_copy(p->status, sizeof p->status, "processing");
        str_copy(p->merchant_request_id, sizeof p->merchant_request_id, res.merchant_request_id);
        str_copy(p->checkout_request_id, sizeof p->checkout_request_id, res.checkout_request_id);
        str_copy(p->response_code, sizeof p->response_code, res.response_code);
        str_copy(p->response_description, sizeof p->response_description, res.response_description);
        str_copy(p->customer_message, sizeof p->customer_message, res.customer_message);
        p->attempts = 0;
        p->next_at = now_ms() + a->cfg.settle_after * 1000;
        p->last_error[0] = 0;
        prompts_open(a->prompts, p->phone, p->id, now_ms(), p->next_at);
        return PUSH_ACCEPTED;
    case PAY_RETRY:
        app_health_set(a, PROV_DARAJA, false, res.error_message[0] ? res.error_message : "unreachable");
        snprintf(p->last_error, sizeof p->last_error, "push: %.200s", res.error_message[0] ? res.error_message : "retry");
        log_warn("mpesa.push_retry", "payment=%lld attempt=%lld http=%d error=\"%s\"", (long long)p->id,
                 (long long)p->attempts, res.http_status, res.error_message);
        if (p->attempts >= PUSH_MAX_ATTEMPTS || now_ms() - p->created_at > a->cfg.payment_timeout * 1000)
            return PUSH_GIVE_UP_UNREACHABLE;
        return PUSH_RETRY;
    case PAY_REJECT:
    default:
        app_health_set(a, PROV_DARAJA, true, "stk push refused");
        str_copy(p->response_code, sizeof p->response_code, res.error_code);
        str_copy(p->response_description, sizeof p->response_description, res.error_message);
        str_copy(p->last_error, sizeof p->last_error, res.error_message[0] ? res.error_message : "refused by M-Pesa");
        log_warn("mpesa.push_refused", "payment=%lld code=%s error=\"%s\"", (long long)p->id, res.error_code,
                 res.error_message);
        return PUSH_GIVE_UP_REFUSED;
    }
}

/* Saves the marked payments in one transaction (one commit for a batch);
 * clears ok[i] for a payment that could not be saved (changed meanwhile,
 * or the database refused). */
static void save_all(struct app *a, struct payment **ps, bool *ok, int n)
{
    bool any = false;
    for (int i = 0; i < n; i++)
        any |= ok[i];
    if (!any)
        return;
    if (store_begin(a->store) != ST_OK) {
        memset(ok, 0, (size_t)n * sizeof *ok);
        return;
    }
    for (int i = 0; i < n; i++)
        if (ok[i] && store_payment_save(a->store, ps[i]) != ST_OK)
            ok[i] = false;
    if (store_commit(a->store) != ST_OK) {
        store_rollback(a->store);
        memset(ok, 0, (size_t)n * sizeof *ok);
    }
}

/* True when p must wait for an earlier push to its phone to be answered
 * (Daraja refuses a second one meanwhile); sets p->next_at. Earlier
 * entries of the batch that are not held go first. */
static bool hold(struct app *a, struct payment **ps, const bool *held, int i, int64_t now)
{
    struct payment *p = ps[i];
    for (int j = 0; j < i; j++) {
        if (!held[j] && !strcmp(ps[j]->phone, p->phone)) {
            p->next_at = now + a->cfg.retry_base_ms; /* that push may be refused */
            return true;
        }
    }
    if (!prompts_hold(a->prompts, p->phone, p->id, now))
        return false;
    p->next_at = held_until(a, now); /* or sooner: answering the prompt hands p back */
    char masked[20];
    log_info("mpesa.push_held", "payment=%lld phone=%s reason=\"a prompt is out for this phone\"", (long long)p->id,
             log_phone(p->phone, masked));
    return true;
}

/* STK pushes for pending purchases, a batch at a time: the attempts are
 * counted and stored first (a crash mid-call must not hide one), then the
 * pushes go out, then their answers are stored, two commits in all. A
 * purchase whose phone has a prompt out is held back, without an attempt. */
static void push_all(struct app *a, struct payment **ps, int n)
{
    bool ok[8], called[8] = {false}, held[8] = {false};
    enum pushed out[8];
    int64_t now = now_ms();
    for (int i = 0; i < n; i++) {
        held[i] = hold(a, ps, held, i, now);
        if (!held[i]) {
            ps[i]->attempts++;
            ps[i]->next_at = now + backoff_ms(a->cfg.retry_base_ms, ps[i]->attempts, 60000);
        }
        ok[i] = true;
    }
    save_all(a, ps, ok, n);
    for (int i = 0; i < n; i++) {
        /* stopping: the rest waits for the next start */
        called[i] = ok[i] && !held[i] && !atomic_load(&a->stopping);
        out[i] = called[i] ? push_call(a, ps[i]) : PUSH_RETRY;
        ok[i] = called[i] && (out[i] == PUSH_ACCEPTED || out[i] == PUSH_RETRY);
    }
    save_all(a, ps, ok, n);
    for (int i = 0; i < n; i++) { /* a phone taken for a push that did not go is free again */
        if (held[i] || (called[i] && out[i] == PUSH_ACCEPTED))
            continue;
        hand_on(a, ps[i]->phone, ps[i]->id);
    }
    for (int i = 0; i < n; i++) {
        struct payment *p = ps[i];
        char why[sizeof p->last_error];
        step_aside();
        if (ok[i] && out[i] == PUSH_ACCEPTED) {
            log_info("mpesa.pushed", "payment=%lld checkout=%s", (long long)p->id, p->checkout_request_id);
            if (a->pushed)
                a->pushed(a, p);
            apply_early_callback(a, p);
        } else if (called[i] && out[i] == PUSH_RETRY) {
            /* M-Pesa failed; the retry waits its backoff, and a REST
             * request waiting for this push is answered now that it is
             * queued, not when its wait runs out */
            if (a->pushed)
                a->pushed(a, p);
        } else if (called[i] && out[i] == PUSH_GIVE_UP_UNREACHABLE) {
            give_up(a, p, "failed", "M-Pesa was unreachable; no payment was requested");
        } else if (called[i] && out[i] == PUSH_GIVE_UP_REFUSED) {
            str_copy(why, sizeof why, p->last_error);
            give_up(a, p, "failed", why);
        }
    }
}

static void settle(struct app *a, struct payment *p)
{
    struct pay_query_res res;
    int64_t now = now_ms();
    bool too_old = now - p->created_at > a->cfg.payment_timeout * 1000;
    a->pay->stk_query(a->pay_st, p->checkout_request_id, &res);
    p->attempts++;
    if (res.outcome == PAY_OK && res.state == PAYQ_FINAL) {
        app_health_set(a, PROV_DARAJA, true, "stk query answered");
        p->result_code = res.result_code;
        str_copy(p->result_desc, sizeof p->result_desc, res.result_desc);
        str_copy(p->status, sizeof p->status, purchase_status_for(res.result_code));
        log_info("mpesa.settled_by_query", "payment=%lld result=%d", (long long)p->id, res.result_code);
        purchase_finish(a, p);
        return;
    }
    if (res.outcome == PAY_OK)
        app_health_set(a, PROV_DARAJA, true, "stk query: still processing");
    else
        app_health_set(a, PROV_DARAJA, false, res.error[0] ? res.error : "query failed");
    if (too_old) {
        give_up(a, p, "timeout", "No result from M-Pesa within the time limit");
        return;
    }
    snprintf(p->last_error, sizeof p->last_error, "%s",
             res.outcome == PAY_OK ? "still processing" : res.error);
    /* ask again later, but no later than the deadline */
    int64_t deadline = p->created_at + a->cfg.payment_timeout * 1000;
    p->next_at = now + QUERY_RETRY_MS < deadline ? now + QUERY_RETRY_MS : deadline;
    store_payment_save(a->store, p);
}

void purchase_query(struct app *a, struct payment *p, struct pay_query_res *res)
{
    a->pay->stk_query(a->pay_st, p->checkout_request_id, res);
    if (res->outcome != PAY_OK) {
        app_health_set(a, PROV_DARAJA, false, res->error[0] ? res->error : "query failed");
        return;
    }
    app_health_set(a, PROV_DARAJA, true, "stk query answered");
    if (res->state == PAYQ_FINAL && payment_open(p)) {
        p->result_code = res->result_code;
        str_copy(p->result_desc, sizeof p->result_desc, res->result_desc);
        str_copy(p->status, sizeof p->status, purchase_status_for(res->result_code));
        if (strcmp(p->status, "completed"))
            str_copy(p->last_error, sizeof p->last_error, res->result_desc);
        if (purchase_finish(a, p)) /* false: settled meanwhile; the store has it */
            log_info("mpesa.settled_by_query", "payment=%lld result=%d asked=rest", (long long)p->id,
                     res->result_code);
    }
    store_payment_get(a->store, p->id, p);
}

int purchase_work(struct app *a)
{
    static __thread struct store_callback cbs[8]; /* 64 KiB: not on the stack */
    int k = store_callbacks_new(a->store, cbs, 8);
    for (int i = 0; i < k && !atomic_load(&a->stopping); i++) {
        apply_callback(a, &cbs[i]);
        step_aside(); /* a finish is a transaction: util/aside.h */
    }
    struct payment due[8], *pending[8];
    int n = store_payments_due(a->store, "mpesa", now_ms(), due, 8), np = 0;
    for (int i = 0; i < n && !atomic_load(&a->stopping); i++) {
        if (!strcmp(due[i].status, "pending"))
            pending[np++] = &due[i];
        else
            settle(a, &due[i]);
    }
    step_aside();
    if (np && !atomic_load(&a->stopping))
        push_all(a, pending, np);
    return (n < 0 ? 0 : n) + (k < 0 ? 0 : k);
}
