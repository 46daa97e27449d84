/* pay/shared_token: a provider's token shared through the database; see
 * pay/shared_token.h. */
#include "pay/shared_token.h"

#include "store/tokens.h"
#include "util/crypto.h"
#include "util/log.h"
#include "util/str.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

/* What the sealing key is derived for (client.c's webhook secrets have
 * their own label: no two uses of the pepper share a key). */
#define SEAL_LABEL "lipa/provider-token/v1"
#define POLL_MS 100 /* how often a lipad waiting for another's renewal looks again */

struct shared_token {
    struct store *st;
    char provider[32];
    uint8_t key[32];
    int64_t lease_ms;
};

struct shared_token *shared_token_new(struct store *st, const char *provider, const char *pepper, int64_t lease_ms)
{
    struct shared_token *t = calloc(1, sizeof *t);
    if (!t || !str_copy(t->provider, sizeof t->provider, provider)) {
        free(t);
        return NULL;
    }
    t->st = st;
    t->lease_ms = lease_ms;
    crypto_hmac_sha256(pepper, strlen(pepper), SEAL_LABEL, strlen(SEAL_LABEL), t->key);
    return t;
}

void shared_token_free(struct shared_token *t)
{
    if (!t)
        return;
    explicit_bzero(t->key, sizeof t->key);
    free(t);
}

/* The row's token into token (n bytes) and its renew_at (unix s), when it
 * may be used: there is one, it opens under this pepper's key, its
 * renew_at is to come, and it is not the stale one. say: log a token
 * that does not open. */
static bool usable(struct shared_token *t, const struct provider_token *row, const char *stale, char *token,
                   size_t n, int64_t *renew_at, bool say)
{
    if (!row->token_sealed[0] || row->renew_at <= now_ms())
        return false;
    char tok[STORE_TOKEN_MAX + 1];
    if (!crypto_open(t->key, row->token_sealed, tok, sizeof tok)) {
        if (say)
            log_error("provider_token.unreadable", "provider=%s reason=\"not sealed under this pepper: does "
                      "LIPA_PEPPER differ between the lipads?\" action=renew", t->provider);
        return false;
    }
    bool ok = !(stale && !strcmp(tok, stale)) && strlen(tok) < n;
    if (ok) {
        str_copy(token, n, tok);
        *renew_at = row->renew_at / 1000;
    }
    explicit_bzero(tok, sizeof tok);
    return ok;
}

enum decision {
    TAKEN,          /* token holds the stored one */
    CLAIMED,        /* the renewal is this lipad's: fetch */
    WAIT,           /* another lipad is renewing */
    NO_DATABASE,    /* the database failed */
};

/* Takes the stored token, or decides who renews it. The row is read
 * without a lock first: most calls take a token another lipad stored. */
static enum decision decide(struct shared_token *t, const char *stale, char *token, size_t n, int64_t *renew_at)
{
    struct provider_token row;
    enum store_rc rc = store_token_get(t->st, t->provider, &row);
    if (rc == ST_OK && usable(t, &row, stale, token, n, renew_at, false))
        return TAKEN;
    if (rc == ST_NOT_FOUND) /* the first renewal ever: a row to lock */
        rc = store_token_add(t->st, t->provider);
    if (rc != ST_OK || store_begin(t->st) != ST_OK)
        return NO_DATABASE;
    enum decision d;
    int64_t now = now_ms();
    if (store_token_lock(t->st, t->provider, &row) != ST_OK)
        d = NO_DATABASE;
    else if (usable(t, &row, stale, token, n, renew_at, true)) /* renewed while this one looked */
        d = TAKEN;
    else if (row.renewing_until > now)
        d = WAIT;
    else
        d = store_token_claim(t->st, t->provider, now + t->lease_ms) == ST_OK ? CLAIMED : NO_DATABASE;
    if (d == CLAIMED && store_commit(t->st) != ST_OK)
        d = NO_DATABASE;
    if (d != CLAIMED) /* nothing written (or nothing kept) */
        store_rollback(t->st);
    return d;
}

/* This lipad's renewal: fetches and stores the token sealed, or ends the
 * renewal without one, so that a waiting lipad tries instead. */
static bool renew(struct shared_token *t, pay_token_fetch fetch, void *fctx, char *token, size_t n,
                  int64_t *renew_at)
{
    if (!fetch(fctx, token, n, renew_at)) {
        if (store_token_release(t->st, t->provider) != ST_OK)
            log_warn("provider_token.release_failed", "provider=%s", t->provider);
        return false;
    }
    char sealed[CRYPTO_SEALED_SIZE(STORE_TOKEN_MAX)];
    size_t len = strlen(token);
    if (len > STORE_TOKEN_MAX || !crypto_seal(t->key, token, len, sealed, sizeof sealed) ||
        store_token_put(t->st, t->provider, sealed, *renew_at * 1000) != ST_OK) {
        /* used here all the same; the others renew theirs when refused */
        log_warn("provider_token.not_stored", "provider=%s", t->provider);
        store_token_release(t->st, t->provider);
        return true;
    }
    log_info("provider_token.renewed", "provider=%s renew_in_s=%lld", t->provider,
             (long long)(*renew_at - now_s()));
    return true;
}

bool shared_token_current(void *ctx, const char *stale, pay_token_fetch fetch, void *fctx, char *token, size_t n,
                          int64_t *renew_at)
{
    struct shared_token *t = ctx;
    /* a renewal marked longer ago than lease_ms is over: by then this lipad
     * has claimed it, or another lipad keeps failing to renew */
    int64_t give_up = now_ms() + t->lease_ms + 1000;
    bool waited = false;
    for (;;) {
        switch (decide(t, stale, token, n, renew_at)) {
        case TAKEN:
            log_info("provider_token.taken", "provider=%s waited=%s", t->provider, waited ? "yes" : "no");
            return true;
        case CLAIMED:
            return renew(t, fetch, fctx, token, n, renew_at);
        case NO_DATABASE:
            log_warn("provider_token.store_failed", "provider=%s action=fetch_alone", t->provider);
            return fetch(fctx, token, n, renew_at);
        case WAIT:
            break;
        }
        if (now_ms() >= give_up) {
            log_warn("provider_token.wait_over", "provider=%s reason=\"another lipad keeps renewing\"", t->provider);
            return false;
        }
        waited = true;
        struct timespec ts = {0, POLL_MS * 1000000L};
        nanosleep(&ts, NULL);
    }
}
