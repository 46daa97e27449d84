/* store/ussd: what a USSD hop asks the store: its session and its caller
 * (both held in memory, store/hop.c) and the end-of-session events.
 *
 * Same rules as store.h: plain structs with fixed caps filled for the
 * caller, any function from any thread, writes serialized by the store. */
#ifndef LIPA_STORE_USSD_H
#define LIPA_STORE_USSD_H

#include "store/store.h"
#include "store/users.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* ---- the caller of a USSD hop (cached; see store/hop.h) ---- */
#define STORE_CALLER_METERS 32
struct store_caller_meter {
    char id[65], name[65];
    int64_t price_per_kwh;
    bool active;
};
struct store_caller {
    bool registered;
    struct user user;
    int nmeters;             /* the first STORE_CALLER_METERS assigned meters */
    struct store_caller_meter meters[STORE_CALLER_METERS];
};
/* The user with this phone and their meters, from memory when nothing
 * about users, meters or assignments changed since it was cached. */
enum store_rc store_caller(struct store *st, const char *phone, struct store_caller *c);

/* ---- USSD sessions and events ----
 * Sessions live in the store's memory only, for a minute after their last
 * hop. A session lipad does not have (after a restart, or a sessionId AT
 * changed) is rebuilt from AT's text by ussd/api.c, so writing them to
 * SQLite would buy nothing; purchases they start are rows like any other. */
struct ussd_row {
    char state[4096];
    char last_text[256];
    char last_reply[512];
    int64_t updated_at;
    /* 1 + the funnel slot (util/metrics) of the screen the session waits
     * on; 0 when it waits on none (it ended, or its screen is not counted).
     * A session dropped for being idle while it waits counts timed_out
     * there (store_maintain); store_session_end takes it. */
    int waiting;
};
enum store_rc store_session_get(struct store *st, const char *id, struct ussd_row *r);
enum store_rc store_session_put(struct store *st, const char *id, const char *phone, const struct ussd_row *r);
/* The session ended (AT said so): returns the funnel slot it waited on
 * and marks it waiting on none, so that it is counted once; -1 when it
 * waited on none or is not held. */
int store_session_end(struct store *st, const char *id);
struct ussd_event {
    char session_id[128], phone[16], service_code[32], network_code[16], status[16];
    char cost[32], input[256], error[256], date[32];
    int64_t duration_ms, hops;
};
/* A repeated notification (same session, same status) is ST_CONFLICT. */
enum store_rc store_ussd_event_add(struct store *st, const struct ussd_event *e);

/* ---- where a caller who dropped may resume (db/023_ussd_resume.sql) ----
 * One point per phone in the database: a session that stopped on a screen
 * the menus let a caller come back to (ussd/api.c decides which), its
 * state and its last hop; taken_by names the session it was offered to.
 * A point is live while only this lipad's memory holds it: the hops that
 * reach or leave such a screen keep it there, so a hop never writes it to
 * the database. It is saved when the session ends without END (AT's
 * end-of-session notice: store_point_ended), after a minute without a hop
 * (store_maintain), or when lipad stops (store_close); and it is taken,
 * written, when a session's first hop offers it (store_point_take). Points
 * are kept for the window given to store_points_window (0: none are, and
 * nothing is offered) and some minutes more, for the sessions that took
 * them, whose later hops may need rebuilding through the offer. */
struct ussd_point {
    char session_id[128];      /* the session that stopped */
    char idem_key[96];         /* the purchase key it would have bought with */
    char state[4096];          /* its ussd session text */
    int64_t at;                /* its last hop, ms */
    char taken_by[128];        /* the session it was offered to; "" while open */
};
/* Sets the window (ms) and, on a database lipad alone uses (SQLite),
 * loads the points still of use into memory. */
enum store_rc store_points_window(struct store *st, int64_t window_ms);
/* Keeps p (its taken_by "") as phone's live point; memory only. */
bool store_point_live(struct store *st, const char *phone, const struct ussd_point *p);
/* Session sid left its resumable screen (another screen, or END): its
 * live point goes. Memory only. */
void store_point_left(struct store *st, const char *phone, const char *sid);
/* The point of phone for session sid into p: the one sid was offered
 * (*taken true: its later hops replay from the offer), else, when
 * may_open (sid's first hop), an open one it may be offered: of another
 * session, no older than the window, whose purchase key bought nothing.
 * SQLite: from memory alone, which holds every point. PostgreSQL: memory,
 * then the database (other lipads save theirs there); a live point of
 * this lipad's memory is offered once the database shows no purchase of
 * its session (another lipad may have had the confirming hop). */
enum store_rc store_point_for(struct store *st, const char *phone, const char *sid, bool may_open,
                              struct ussd_point *p, bool *taken);
/* Records that p is offered to session p->taken_by (written, also when
 * it was live); from then on no other session is offered it.
 * ST_CONFLICT, recording nothing, when the database has it taken by
 * another session, has a newer point, or shows a purchase of its
 * session: it is not to be offered. */
enum store_rc store_point_take(struct store *st, const char *phone, const struct ussd_point *p);
/* Writes p as phone's point (a session rebuilt from AT's notice), unless
 * the database has a newer one or this one was taken. */
enum store_rc store_point_save(struct store *st, const char *phone, const struct ussd_point *p);
/* AT says session sid ended, finished (END) or not: a live point of it is
 * dropped or saved. ST_NOT_FOUND when memory holds none of sid. */
enum store_rc store_point_ended(struct store *st, const char *phone, const char *sid, bool finished);

#endif
