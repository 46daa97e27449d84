/* store/water: the columns water orders (the water face) keep beyond a
 * payment's common ones (db/004_water.sql): the request's metadata and,
 * for Paystack, the buyer's e-mail, the hosted checkout and what Paystack
 * last said. The common columns stay with store.h (store_payment_*); these
 * writes never bump a payment's version, so they do not disturb the
 * payment worker's optimistic saves. Same thread rules as store.h. */
#ifndef LIPA_STORE_WATER_H
#define LIPA_STORE_WATER_H

#include "store/store.h"
#include "store/payments.h"

struct water_extra {
    char metadata[2048];          /* JSON object text, "" for none */
    char email[255];
    char authorization_url[512];
    char access_code[128];
    int64_t expires_at;           /* ms, 0 for none */
    char provider_status[24];     /* Paystack's data.status */
    char channel[32];
    char provider_receipt[64];
    char paid_at[40];
};

/* The extra columns of payment id. */
enum store_rc store_water_extra_get(struct store *st, int64_t id, struct water_extra *x);
/* At creation: metadata (JSON text, NULL or "" for none) and e-mail. */
enum store_rc store_water_set_order(struct store *st, int64_t id, const char *metadata, const char *email);
/* A Paystack checkout was opened. */
enum store_rc store_water_set_checkout(struct store *st, int64_t id, const char *authorization_url,
                                       const char *access_code, int64_t expires_at);
/* What Paystack last said about the payment (verify or webhook). */
enum store_rc store_water_set_provider(struct store *st, int64_t id, const char *status, const char *channel,
                                       const char *receipt, const char *paid_at);

#endif
