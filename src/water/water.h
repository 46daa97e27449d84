/* water: water orders (document 001): pricing from config, references
 * WS-<epoch ms>-<8 upper-case letters/digits>, and orders paid by M-Pesa
 * STK push or Paystack, stored as payments of kind "water". Thread-safe
 * (state in the store). Owner: the water module (src/water). */
#ifndef LIPA_WATER_H
#define LIPA_WATER_H

#include "app/app.h"
#include "store/store.h"

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
 * it). idem_key may be NULL. On success p holds the row (an existing one
 * for a repeated idem_key) and true is returned; else why names the field. */
bool water_start_mpesa(struct app *a, const char *origin, const char *idem_key, const char *phone,
                       int64_t user_id, const struct water_quote *q, struct payment *p, char *why, size_t whysz);

#endif
