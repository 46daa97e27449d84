/* water: pricing, references and starting/settling water orders; see
 * water.h. The M-Pesa side only stores the order: the payment worker
 * (pay/purchase.c) pushes, settles and times it out like any purchase. */
#include "water/water.h"

#include "pay/paystack.h"
#include "pay/purchase.h"
#include "store/payments.h"
#include "store/users.h"
#include "store/water.h"
#include "util/crypto.h"
#include "util/log.h"
#include "util/str.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CREATE_TRIES 3       /* a reference clash (same ms, same 8 of 36^8) is retried */

/* ---- pricing ---- */

/* Whole KES for litres at price (cents a litre), rounded up: a price that
 * is not whole shillings never undercharges by a fraction of a shilling. */
static int64_t amount_of(int64_t liters, int64_t price_cents)
{
    return (liters * price_cents + 99) / 100;
}

/* Fills the parts common to both quotes and checks the charged amount;
 * field names what the caller asked in. */
static bool finish_quote(const struct config *cfg, const char *field, struct water_quote *q, char *why,
                         size_t whysz)
{
    q->price_cents = cfg->water_price_cents;
    q->rounding = cfg->water_rounding;
    q->currency = cfg->water_currency;
    if (q->liters < 1) {
        snprintf(why, whysz, "%s: buys less than one litre at %lld.%02lld %s a litre", field,
                 (long long)(q->price_cents / 100), (long long)(q->price_cents % 100), q->currency);
        return false;
    }
    q->amount = amount_of(q->liters, q->price_cents);
    q->difference = q->amount - q->requested;
    if (q->amount < cfg->water_min_amount || q->amount > cfg->water_max_amount) {
        snprintf(why, whysz, "%s: %lld litres cost %lld %s, outside %lld to %lld", field, (long long)q->liters,
                 (long long)q->amount, q->currency, (long long)cfg->water_min_amount,
                 (long long)cfg->water_max_amount);
        return false;
    }
    return true;
}

bool water_quote(const struct config *cfg, int64_t requested, struct water_quote *q, char *why, size_t whysz)
{
    memset(q, 0, sizeof *q);
    q->requested = requested;
    if (requested < cfg->water_min_amount || requested > cfg->water_max_amount) {
        snprintf(why, whysz, "amount: must be whole %s from %lld to %lld", cfg->water_currency,
                 (long long)cfg->water_min_amount, (long long)cfg->water_max_amount);
        return false;
    }
    int64_t cents = requested * 100, price = cfg->water_price_cents;
    if (!strcmp(cfg->water_rounding, "down"))
        q->liters = cents / price;
    else if (!strcmp(cfg->water_rounding, "up"))
        q->liters = (cents + price - 1) / price;
    else /* nearest; a half litre goes up */
        q->liters = (2 * cents + price) / (2 * price);
    return finish_quote(cfg, "amount", q, why, whysz);
}

bool water_quote_liters(const struct config *cfg, int64_t liters, struct water_quote *q, char *why, size_t whysz)
{
    memset(q, 0, sizeof *q);
    q->liters = liters;
    if (liters > 1000000000) { /* far above any maximum amount; keeps the products small */
        snprintf(why, whysz, "liters: too many");
        return false;
    }
    if (liters > 0)
        q->requested = amount_of(liters, cfg->water_price_cents);
    return finish_quote(cfg, "liters", q, why, whysz);
}

/* ---- references ---- */

bool water_reference(int64_t ms, char out[WATER_REF_MAX]) { return crypto_reference("WS", ms, out, WATER_REF_MAX); }

bool water_reference_ok(const char *ref)
{
    if (!ref || strncmp(ref, "WS-", 3))
        return false;
    const char *p = ref + 3, *dash = strchr(p, '-');
    if (!dash || dash == p || dash - p > 15)
        return false;
    for (const char *d = p; d < dash; d++)
        if (*d < '0' || *d > '9')
            return false;
    if (strlen(dash + 1) != CRYPTO_REF_RANDOM)
        return false;
    for (const char *c = dash + 1; *c; c++)
        if (!strchr(CRYPTO_REF_ALPHABET, *c))
            return false;
    return true;
}

/* ---- starting orders ---- */

/* Fills the columns every water order has and stores p (pending). Daraja
 * shows AccountReference (12 characters at most) to the payer: the whole
 * reference does not fit, so it gets "WS-" and the reference's 8 random
 * characters, which are what tells one order from another on a
 * statement. */
static enum store_rc create_order(struct app *a, struct payment *p)
{
    enum store_rc rc = ST_ERROR;
    for (int i = 0; i < CREATE_TRIES; i++) {
        if (!water_reference(now_ms(), p->reference))
            return ST_ERROR;
        if (!strcmp(p->provider, "mpesa"))
            snprintf(p->account_reference, 13, "WS-%s", strrchr(p->reference, '-') + 1);
        rc = store_payment_create(a->store, p);
        /* ST_NOT_FOUND is a constraint: the unique reference (or a user
         * that went away, for which trying again is harmless) */
        if (rc != ST_NOT_FOUND)
            return rc;
    }
    return rc;
}

/* How often an open Paystack order is verified by the sweeper: like an
 * M-Pesa purchase with no callback, after LIPA_SETTLE_AFTER seconds. */
#define PAYSTACK_RECHECK_MS (a->cfg.settle_after * 1000)

static void order_base(struct payment *p, const char *origin, const char *provider, const char *phone,
                       int64_t user_id, const struct water_quote *q)
{
    memset(p, 0, sizeof *p);
    str_copy(p->kind, sizeof p->kind, "water");
    str_copy(p->origin, sizeof p->origin, origin);
    str_copy(p->provider, sizeof p->provider, provider);
    str_copy(p->phone, sizeof p->phone, phone ? phone : "");
    p->user_id = user_id;
    p->amount = q->amount;
    p->liters = q->liters;
    str_copy(p->currency, sizeof p->currency, q->currency);
    /* TransactionDesc on the M-Pesa prompt (13 characters at most) */
    str_copy(p->description, sizeof p->description, "Water");
}

bool water_start_mpesa(struct app *a, const char *origin, const char *idem_key, const char *idem_fp,
                       const char *phone, int64_t user_id, const struct water_quote *q, struct payment *p,
                       char *why, size_t whysz)
{
    if (strcmp(q->currency, "KES")) {
        snprintf(why, whysz, "currency: M-Pesa charges KES only, the water price is in %s", q->currency);
        return false;
    }
    if (!phone || strncmp(phone, "+254", 4) || strlen(phone) != 13) {
        snprintf(why, whysz, "phoneNumber: not a Kenyan mobile number");
        return false;
    }
    order_base(p, origin ? origin : "api", "mpesa", phone, user_id, q);
    if (!str_copy(p->idem_key, sizeof p->idem_key, idem_key ? idem_key : "")) {
        /* cut, it could name another order: keys come from purchase_idem_key */
        snprintf(why, whysz, "could not store the order (idempotency key too long)");
        return false;
    }
    str_copy(p->idem_fp, sizeof p->idem_fp, idem_fp ? idem_fp : "");
    enum store_rc rc = create_order(a, p);
    if (rc == ST_CONFLICT) /* the same request again: the same order */
        return true;
    if (rc == ST_NOT_FOUND && user_id) {
        snprintf(why, whysz, "userId: user %lld does not exist", (long long)user_id);
        return false;
    }
    if (rc != ST_OK) {
        snprintf(why, whysz, "could not store the order");
        return false;
    }
    atomic_fetch_add(&a->purchases, 1);
    char masked[20];
    log_info("water.order", "payment=%lld reference=%s provider=mpesa origin=%s phone=%s amount=%lld liters=%lld",
             (long long)p->id, p->reference, p->origin, log_phone(p->phone, masked), (long long)p->amount,
             (long long)p->liters);
    app_wake(a, WORK_PAYMENTS);
    return true;
}

/* Marks an order whose checkout never opened as failed: the buyer learns
 * it from the reply, so no notice is sent (no finishing). */
static void checkout_failed(struct app *a, struct payment *p, const char *why)
{
    str_copy(p->status, sizeof p->status, "failed");
    p->result_code = 1;
    str_copy(p->result_desc, sizeof p->result_desc, why);
    str_copy(p->last_error, sizeof p->last_error, why);
    if (store_payment_save(a->store, p) != ST_OK)
        log_error("water.save_failed", "payment=%lld", (long long)p->id);
}

enum err water_start_paystack(struct app *a, const char *email, const char *phone, const struct water_quote *q,
                              json_t *metadata, struct payment *p, char *why, size_t whysz)
{
    char meta_text[2048] = "", url[700];
    if (metadata) {
        char *t = json_dumps(metadata, JSON_COMPACT);
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
    order_base(p, "api", "paystack", phone, 0, q);
    /* the sweeper first looks a minute on, after this checkout is set up */
    p->next_at = now_ms() + PAYSTACK_RECHECK_MS;
    if (create_order(a, p) != ST_OK || store_water_set_order(a->store, p->id, meta_text, email) != ST_OK) {
        snprintf(why, whysz, "could not store the order");
        return ERR_INTERNAL;
    }
    atomic_fetch_add(&a->purchases, 1);

    /* Paystack keeps the litres and phone with its transaction too */
    json_t *ps_meta = json_is_object(metadata) ? json_deep_copy(metadata) : json_object();
    json_object_set_new(ps_meta, "liters", json_integer((json_int_t)p->liters));
    json_object_set_new(ps_meta, "transactionReference", json_string(p->reference));
    if (p->phone[0])
        json_object_set_new(ps_meta, "phoneNumber", json_string(p->phone));
    snprintf(url, sizeof url, "%s/api/payments/paystack/callback", a->cfg.public_url);
    struct paystack_init_res res;
    paystack_initialize(a->paystack, email, p->amount * 100, p->currency, p->reference, url, ps_meta, &res);
    json_decref(ps_meta);

    char masked[20];
    if (res.outcome != PAY_OK) {
        snprintf(why, whysz, "Paystack %s: %.200s", res.outcome == PAY_RETRY ? "is unreachable" : "refused",
                 res.message[0] ? res.message : "no reason given");
        checkout_failed(a, p, why);
        log_warn("water.checkout_failed", "payment=%lld reference=%s http=%d", (long long)p->id, p->reference,
                 res.http_status);
        return ERR_PROVIDER;
    }
    int64_t expires = p->created_at + a->cfg.payment_timeout * 1000;
    if (store_water_set_checkout(a->store, p->id, res.authorization_url, res.access_code, expires) != ST_OK) {
        snprintf(why, whysz, "could not store the checkout");
        return ERR_INTERNAL;
    }
    str_copy(p->status, sizeof p->status, "processing");
    enum store_rc rc = store_payment_save(a->store, p);
    if (rc == ST_CONFLICT) /* a webhook was quicker: p is final already */
        rc = store_payment_get(a->store, p->id, p);
    if (rc != ST_OK) {
        snprintf(why, whysz, "could not store the order");
        return ERR_INTERNAL;
    }
    log_info("water.order", "payment=%lld reference=%s provider=paystack phone=%s amount=%lld liters=%lld",
             (long long)p->id, p->reference, p->phone[0] ? log_phone(p->phone, masked) : "-",
             (long long)p->amount, (long long)p->liters);
    return ERR_OK;
}

/* ---- settling ---- */

bool water_paystack_apply(struct app *a, struct payment *p, const struct water_paystack_news *n)
{
    if (!payment_open(p))
        return true;
    const char *st = n->status ? n->status : "";
    if (store_water_set_provider(a->store, p->id, st, n->channel, n->receipt, n->paid_at) != ST_OK)
        return false;
    struct water_extra x;
    bool expired = store_water_extra_get(a->store, p->id, &x) == ST_OK && x.expires_at && now_ms() > x.expires_at;
    char reason[256];
    const char *final = paystack_outcome(st, n->amount, n->currency, n->gateway_response, p->amount, p->currency,
                                         expired, "No payment before the checkout expired", reason, sizeof reason);
    bool completed = final && !strcmp(final, "completed");
    p->result_code = completed ? 0 : 1;
    if (completed) {
        p->paid_amount = n->amount / 100;
    } else if (final && !strcmp(st, "success")) { /* paid another amount: no water; kept for review */
        if (n->currency && !strcmp(n->currency, p->currency) && n->amount >= 0)
            p->paid_amount = n->amount / 100;
        str_copy(p->last_error, sizeof p->last_error, reason);
    }
    if (final) {
        str_copy(p->status, sizeof p->status, final);
        str_copy(p->result_desc, sizeof p->result_desc, reason);
        if (strcmp(final, "completed") && !p->last_error[0])
            str_copy(p->last_error, sizeof p->last_error, reason);
        if (!purchase_finish(a, p))
            log_info("water.paystack_duplicate", "payment=%lld", (long long)p->id);
    }
    return store_payment_get(a->store, p->id, p) == ST_OK;
}

int water_paystack_work(struct app *a)
{
    struct payment due[8];
    int n = store_payments_due_kind(a->store, "paystack", "water", now_ms(), due, 8);
    for (int i = 0; i < n && !atomic_load(&a->stopping); i++) {
        struct payment *p = &due[i];
        struct paystack_verify_res res;
        paystack_verify(a->paystack, p->reference, &res);
        if (res.outcome == PAY_OK) {
            struct water_paystack_news news = {
                .status = res.status, .amount = res.amount, .currency = res.currency, .channel = res.channel,
                .receipt = NULL, .paid_at = res.paid_at, .gateway_response = res.gateway_response,
            };
            if (!water_paystack_apply(a, p, &news))
                continue;
        }
        if (!payment_open(p))
            continue;
        /* still open (or Paystack unreachable): never guessed, asked again */
        p->attempts++;
        p->next_at = now_ms() + PAYSTACK_RECHECK_MS;
        if (res.outcome != PAY_OK)
            snprintf(p->last_error, sizeof p->last_error, "verify: %.200s", res.message);
        store_payment_save(a->store, p);
    }
    return n < 0 ? 0 : n;
}
