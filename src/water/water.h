/* water: water orders: pricing from config, references
 * WS-<epoch ms>-<8 upper-case letters/digits>, and orders paid by M-Pesa
 * STK push or Paystack, stored as payments of kind "water". Thread-safe
 * (state in the store). Owner: the water module (src/water). */
#ifndef LIPA_WATER_H
#define LIPA_WATER_H

#include "app/app.h"
#include "pay/pay.h"
#include "store/payments.h"
#include "store/store.h"
#include "util/err.h"

#include <jansson.h>

struct water_quote {
    int64_t requested;     /* KES asked for */
    int64_t amount;        /* KES charged after rounding to whole litres */
    int64_t liters;
    int64_t price_cents;   /* per litre */
    int64_t difference;    /* amount - requested */
    const char *rounding;  /* nearest | down | up */
    const char *currency;
};

/* Prices requested KES per LIPA_WATER_*; false with a reason naming the
 * field ("amount: ...") when out of bounds or zero litres. Pure. */
bool water_quote(const struct config *cfg, int64_t requested, struct water_quote *q, char *why, size_t whysz);
/* Quote for a number of litres (USSD "20 L"): amount = litres x price. */
bool water_quote_liters(const struct config *cfg, int64_t liters, struct water_quote *q, char *why, size_t whysz);

/* Stores a water order paid by M-Pesa (pending; the payment worker pushes
 * it). idem_key and idem_fp (its request's fingerprint, pay/idem.h) may be
 * NULL. On success p holds the row (an existing one for a repeated
 * idem_key, with the idem_fp it was stored with: the caller compares) and
 * true is returned; else why names the field. */
bool water_start_mpesa(struct app *a, const char *origin, const char *idem_key, const char *idem_fp,
                       const char *phone, int64_t user_id, const struct water_quote *q, struct payment *p,
                       char *why, size_t whysz);

/* ---- references ---- */
#define WATER_REF_MAX 40
/* A new reference for the instant ms into out; false only when the CSPRNG
 * failed. */
bool water_reference(int64_t ms, char out[WATER_REF_MAX]);
/* ref has a reference's shape. Pure. */
bool water_reference_ok(const char *ref);

/* ---- Paystack ---- */
/* Stores a water order paid by Paystack and opens its hosted checkout: a
 * blocking provider call, for REST handlers only. phone (E.164) may be ""
 * (then no code SMS can follow); metadata (borrowed, may be NULL) is kept
 * with the order and sent to Paystack with the litres. Returns ERR_OK with
 * p processing and its checkout in the store (store/water.h);
 * ERR_VALIDATION (why names the field, nothing stored); ERR_PROVIDER
 * (Paystack refused or was unreachable: p is stored as failed, why says
 * why); ERR_INTERNAL. */
enum err water_start_paystack(struct app *a, const char *email, const char *phone, const struct water_quote *q,
                              json_t *metadata, struct payment *p, char *why, size_t whysz);

/* What Paystack says of a payment, from a verify answer or a webhook. */
struct water_paystack_news {
    const char *status;            /* success | failed | abandoned | ... */
    int64_t amount;                /* subunits; -1 when unknown */
    const char *currency, *channel, *receipt, *paid_at, *gateway_response;
};
/* Applies news to p (a Paystack water order), once: a success whose amount
 * (KES x 100) and currency match finishes p as completed (result 0); a
 * success that does not match, "failed" or "reversed" finish it as failed
 * with the reason; "abandoned" after the checkout expired finishes it as
 * timeout; anything else leaves it open. A final p is left alone (a
 * replay changes nothing). p is re-read afterwards. Returns false only on
 * a store error. */
bool water_paystack_apply(struct app *a, struct payment *p, const struct water_paystack_news *n);

/* The Paystack sweeper (a worker): verifies open Paystack orders that are
 * due (created, or last asked a minute ago) and applies what Paystack says
 * through water_paystack_apply, so an order whose webhook never came is
 * still settled; one Paystack does not confirm stays open and is asked
 * again. Returns how many it looked at. */
int water_paystack_work(struct app *a);

#endif
