/* store/tokens: providers' access tokens shared by every lipad on one
 * database (db/018_provider_tokens.sql), one row per provider. Plain reads
 * and writes of sealed text; sealing, and when a token is taken or renewed,
 * is pay/shared_token.c's business. Same thread rules as store.h. */
#ifndef LIPA_STORE_TOKENS_H
#define LIPA_STORE_TOKENS_H

#include "store/store.h"
#include "util/crypto.h"

#define STORE_TOKEN_MAX 511     /* characters of a token that can be stored */

struct provider_token {
    char token_sealed[CRYPTO_SEALED_SIZE(STORE_TOKEN_MAX)]; /* "" while none was stored */
    int64_t renew_at;          /* ms: from then on the token is renewed */
    int64_t renewing_until;    /* ms: a lipad is fetching a new one until then; 0 none */
    int64_t updated_at;        /* ms */
};

/* The provider's row. */
enum store_rc store_token_get(struct store *st, const char *provider, struct provider_token *t);
/* The same inside the caller's transaction (store_begin), the row locked
 * until the transaction ends: another lipad's store_token_lock waits. */
enum store_rc store_token_lock(struct store *st, const char *provider, struct provider_token *t);
/* Makes the provider's row, with no token, unless it is there already
 * (then ST_OK too): store_token_lock has a row to lock. */
enum store_rc store_token_add(struct store *st, const char *provider);
/* Marks the row as being renewed until `until` (ms). */
enum store_rc store_token_claim(struct store *st, const char *provider, int64_t until);
/* Stores a new token and when to renew it (ms); the renewal is over. */
enum store_rc store_token_put(struct store *st, const char *provider, const char *sealed, int64_t renew_at);
/* The renewal is over without a new token (the provider gave none). */
enum store_rc store_token_release(struct store *st, const char *provider);

#endif
