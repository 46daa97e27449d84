/* store/hop: the store's in-memory layer for the USSD hop path, private to
 * src/store. Two striped hash tables:
 *   - sessions by sessionId, in memory only (a session lipad no longer
 *     has is rebuilt from AT's text: ussd/api.c);
 *   - callers by phone (user and assigned meters), valid while the entry's
 *     generation equals the store's, which every write to users, meters or
 *     assignments bumps.
 *
 * Both are capped: a table holds at most its cap (split evenly over the
 * stripes, so the cap holds per stripe, rounded up). Putting a new entry
 * into a full stripe first drops that stripe's least recently used entry:
 * for sessions the one written longest ago, for callers the one read or
 * written longest ago. Each entry is one allocation sized to what it
 * holds (a caller with no user is its phone and a byte). hop_evict drops
 * what has been idle too long, oldest first, without scanning the rest.
 *
 * All functions are thread-safe (a mutex per stripe, held for a lookup or
 * a few pointer moves; allocation and freeing happen outside it) except
 * hop_new and hop_free. */
#ifndef LIPA_STORE_HOP_H
#define LIPA_STORE_HOP_H

#include "store/store.h"
#include "store/ussd.h"

struct hop;

/* Tables capped at max_sessions and max_callers entries (each at least
 * one per stripe: HOP_STRIPES). NULL when out of memory. */
#define HOP_STRIPES 64
struct hop *hop_new(size_t max_sessions, size_t max_callers);
void hop_free(struct hop *h);

/* Copies a cached session into r; false when not cached. */
bool hop_session_get(struct hop *h, const char *id, struct ussd_row *r);
/* Caches r for id; false when out of memory. */
bool hop_session_put(struct hop *h, const char *id, const char *phone, const struct ussd_row *r);
/* Takes a cached session's waiting (struct ussd_row), leaving it 0;
 * 0 when not cached. */
int hop_session_end(struct hop *h, const char *id);
/* Drops sessions not written since before (ms) and callers unused since
 * then, oldest first, a slice at a time (the lock is let go and the core
 * offered to others between slices: util/aside.h). A session dropped so
 * while it waits on a screen counts timed_out there (util/metrics); one
 * pushed out by the cap counts nothing (it may come back, rebuilt). */
void hop_evict(struct hop *h, int64_t before);

/* Caller cache: copies the entry for phone into c when its generation is
 * gen; false on a miss or a stale entry. */
bool hop_caller_get(struct hop *h, const char *phone, int64_t gen, struct store_caller *c);
void hop_caller_put(struct hop *h, const char *phone, int64_t gen, const struct store_caller *c);

/* Resume points by phone (store/ussd.h: struct ussd_point), capped like
 * the callers. live: only this memory has it (not yet saved). The entry's
 * age, for hop_points_due and hop_points_forget, is from its last put. */
bool hop_point_put(struct hop *h, const char *phone, const struct ussd_point *p, bool live);
/* Whether any point is held (no lock: a hop with none to look up asks
 * nothing more). */
bool hop_points_any(struct hop *h);
/* Copies phone's point into p (and whether it is live); false when none. */
bool hop_point_get(struct hop *h, const char *phone, struct ussd_point *p, bool *live);
/* Drops phone's point when it is session sid's (any session's when sid
 * is NULL; and live, when only_live); true when it did. */
bool hop_point_drop(struct hop *h, const char *phone, const char *sid, bool only_live);
/* Phone's point is saved: no longer live, when it is still sid's of at. */
void hop_point_saved(struct hop *h, const char *phone, const char *sid, int64_t at);
/* Up to max phones whose live points were put before `before` (ms). */
#define HOP_PHONE_MAX 24
int hop_points_due(struct hop *h, int64_t before, char (*phones)[HOP_PHONE_MAX], int max);
/* Drops points put before `before`, live or not. */
void hop_points_forget(struct hop *h, int64_t before);
/* Drops the points whose key starts with prefix. */
void hop_points_drop_prefix(struct hop *h, const char *prefix);

/* Gives memory freed by the tables back to the operating system
 * (malloc_trim) when they have shrunk by a lot (their bytes fell by at
 * least 8 MiB and an eighth from the most that calls since the last trim
 * saw: a burst expired) and the last trim is at least 10 s before now
 * (ms): memory given back costs page faults when it is used again, and
 * the trim holds malloc's locks while it runs. Call it after hop_evict,
 * every few seconds. True when it trimmed. */
bool hop_trim(struct hop *h, int64_t now);

struct hop_stats {
    size_t sessions, callers, points;    /* entries held */
    size_t bytes;                        /* their allocations, as requested */
    size_t sessions_dropped, callers_dropped; /* made room for a new one: the cap was reached */
};
void hop_stats(struct hop *h, struct hop_stats *s);
/* The stripe key lives in (caps and order hold per stripe; for tests). */
unsigned hop_stripe(const char *key);

#endif
