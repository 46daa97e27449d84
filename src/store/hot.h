/* store/hot: the store's in-memory layer for the USSD hop path, private to
 * src/store. Two striped hash tables:
 *   - sessions by sessionId, in memory only (a session lipad no longer
 *     has is rebuilt from AT's text: ussd/handler.c);
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
/* Caches r for id; false when out of memory. */
bool hot_session_put(struct hot *h, const char *id, const char *phone, const struct ussd_row *r);
/* Drops sessions not updated since before (ms) and callers unused since
 * then; scans everything, so call it now and then. */
void hot_evict(struct hot *h, int64_t before);

/* Caller cache: copies the entry for phone into c when its generation is
 * gen; false on a miss or a stale entry. */
bool hot_caller_get(struct hot *h, const char *phone, int64_t gen, struct store_caller *c);
void hot_caller_put(struct hot *h, const char *phone, int64_t gen, const struct store_caller *c);

#endif
