/* store/hot: the store's in-memory layer for the USSD hop path, private to
 * src/store. Two striped hash tables:
 *   - sessions by sessionId, written behind: a put marks the entry dirty and
 *     store_flush writes dirty entries to SQLite in one transaction;
 *   - callers by phone (user and assigned meters), valid while the entry's
 *     generation equals the store's, which every write to users, meters or
 *     assignments bumps.
 * All functions are thread-safe (a mutex per stripe). */
#ifndef LIPA_STORE_HOT_H
#define LIPA_STORE_HOT_H

#include "store/store.h"

struct hot;

struct hot *hot_new(void);
void hot_free(struct hot *h);

/* Copies a cached session into r; false when not cached. */
bool hot_session_get(struct hot *h, const char *id, struct ussd_row *r);
/* Caches r for id; dirty entries wait for hot_session_drain. */
bool hot_session_put(struct hot *h, const char *id, const char *phone, const struct ussd_row *r, bool dirty);
/* A dirty session copied out for writing. A session that reached END
 * ("END ..." reply) before it was ever written is never written: only
 * open sessions matter to a restart. */
struct hot_dirty {
    struct hot_dirty *next;
    char *id, *phone, *state, *last_text, *last_reply;
    int64_t updated_at;
};
/* Takes every dirty session out (marking it clean) as a list the caller
 * frees with hot_dirty_free; O(dirty sessions). Holds one stripe lock at a
 * time, never a store lock. */
struct hot_dirty *hot_session_collect(struct hot *h);
/* Drops clean sessions not updated since before (ms) and callers unused
 * since then; scans everything, so call it now and then. */
void hot_evict(struct hot *h, int64_t before);
/* After a failed write: marks these sessions dirty again. */
void hot_session_redirty(struct hot *h, const struct hot_dirty *list);
void hot_dirty_free(struct hot_dirty *list);

/* Caller cache: copies the entry for phone into c when its generation is
 * gen; false on a miss or a stale entry. */
bool hot_caller_get(struct hot *h, const char *phone, int64_t gen, struct store_caller *c);
void hot_caller_put(struct hot *h, const char *phone, int64_t gen, const struct store_caller *c);

#endif
