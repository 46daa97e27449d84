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

#endif
