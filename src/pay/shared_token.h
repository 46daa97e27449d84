/* pay/shared_token: a provider's access token shared by every lipad on one
 * database (struct pay_token_cache, pay/pay.h), kept sealed in the table
 * provider_tokens (store/tokens.h): AES-256-GCM under a key derived from
 * the pepper, so the lipads must share LIPA_PEPPER (as they must for
 * clients' secrets and codes anyway).
 *
 * A lipad uses its copy in memory until the copy's renew_at. To renew, it
 * takes the stored token if that one is current and is not the one it
 * knows to be stale; else one lipad renews while the others wait for it.
 * Which one is decided under the row's lock, in one short transaction
 * (SELECT ... FOR UPDATE): it marks the row as being renewed by it
 * (renewing_until, now + lease_ms) and commits, then fetches from the
 * provider with no transaction open, and stores the new token, sealed.
 * The provider is never called inside a transaction: a process's store
 * transactions wait for each other (store_begin), the group commit of
 * USSD purchases among them, and a provider call may last its whole HTTP
 * timeout. A lipad that dies while renewing holds the others up until its
 * mark runs out, no longer.
 *
 * When the database cannot be used, a lipad fetches a token of its own,
 * as a lone lipad would (a broken database stops the rest of its work
 * anyway). Thread-safe: what it keeps is read-only after new. */
#ifndef LIPA_PAY_SHARED_TOKEN_H
#define LIPA_PAY_SHARED_TOKEN_H

#include "pay/pay.h"
#include "store/store.h"

struct shared_token;

/* The token of provider (its name in provider_tokens), sealed under a key
 * derived from pepper; a renewal is marked as under way for lease_ms,
 * which must be longer than a fetch may take. NULL when out of memory or
 * the name is too long. */
struct shared_token *shared_token_new(struct store *st, const char *provider, const char *pepper, int64_t lease_ms);
void shared_token_free(struct shared_token *t);
/* pay_token_cache's current (pay/pay.h); ctx is a struct shared_token. */
bool shared_token_current(void *ctx, const char *stale, pay_token_fetch fetch, void *fctx, char *token, size_t n,
                          int64_t *renew_at);

#endif
