/* store/ussd: what a USSD hop asks the store: its session (kept in
 * memory, store/hop.c), its caller (cached there), and the end-of-session
 * events (store.h, the caller of a USSD hop; USSD sessions and events). */
#include "store/store.h"

#include "store/hop.h"
#include "store/store_int.h"
#include "store/users.h"
#include "store/ussd.h"
#include "util/str.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char SQL_CALLER[] = "SELECT u.id, u.phone, u.first_name, u.last_name, u.email, u.role, u.language, "
        "u.created_at, u.updated_at, m.id, m.name, m.price_per_kwh, m.active FROM users "
        "u LEFT JOIN assignments a ON a.user_id = u.id LEFT JOIN meters m ON m.id = "
        "a.meter_id WHERE u.phone = ? ORDER BY a.assigned_at, a.seq";
static const char SQL_EVENT_INSERT[] = "INSERT INTO ussd_events (session_id, phone, service_code, network_code, "
        "status, cost, duration_ms, hops, input, error, date, received_at) VALUES "
        "(?,?,?,?,?,?,?,?,?,?,?,?) ON CONFLICT(session_id, status) DO NOTHING";

/* ---- USSD ---- */

enum store_rc store_session_get(struct store *st, const char *id, struct ussd_row *r)
{
    return hop_session_get(st->hop, id, r) ? ST_OK : ST_NOT_FOUND;
}

enum store_rc store_session_put(struct store *st, const char *id, const char *phone, const struct ussd_row *r)
{
    return hop_session_put(st->hop, id, phone, r) ? ST_OK : ST_ERROR;
}

int store_session_end(struct store *st, const char *id)
{
    return hop_session_end(st->hop, id) - 1;
}

/* Sessions stay in memory for a minute after their last hop (a caller has
 * about 30 s per screen), or until the cap makes them room for newer ones;
 * one no longer held is rebuilt from AT's text if it comes back
 * (ussd/api.c). Cached callers stay a minute after their last use. */
enum store_rc store_caller(struct store *st, const char *phone, struct store_caller *c)
{
    int64_t gen = atomic_load(&st->gen); /* read before loading: see hop.h */
    if (hop_caller_get(st->hop, phone, gen, c))
        return ST_OK;
    struct st_stmt *s = st_stmt(st, SQL_CALLER);
    if (!s)
        return ST_ERROR;
    st_bind_text(s, 1, phone);
    c->registered = false;
    c->nmeters = 0;
    memset(&c->user, 0, sizeof c->user);
    int rc;
    while ((rc = st_step(s)) == ST_ROW) {
        if (!c->registered)
            st_read_user(s, &c->user);
        c->registered = true;
        if (st_col_null(s, 9) || c->nmeters == STORE_CALLER_METERS)
            continue; /* no meters; or more than a caller is shown */
        struct store_caller_meter *m = &c->meters[c->nmeters++];
        ST_COPY(s, 9, m->id);
        ST_COPY(s, 10, m->name);
        m->price_per_kwh = st_col_i64(s, 11);
        m->active = st_col_i64(s, 12) != 0;
    }
    st_done(s);
    if (rc != ST_DONE)
        return ST_ERROR;
    hop_caller_put(st->hop, phone, gen, c);
    return ST_OK;
}

enum store_rc store_ussd_event_add(struct store *st, const struct ussd_event *e)
{
    struct st_stmt *s = st_stmt(st, SQL_EVENT_INSERT);
    if (!s)
        return ST_ERROR;
    st_bind_text(s, 1, e->session_id);
    st_bind_text(s, 2, e->phone);
    st_bind_text(s, 3, e->service_code);
    st_bind_text(s, 4, e->network_code);
    st_bind_text(s, 5, e->status);
    st_bind_text(s, 6, e->cost);
    st_bind_i64(s, 7, e->duration_ms);
    st_bind_i64(s, 8, e->hops);
    st_bind_text(s, 9, e->input);
    st_bind_text(s, 10, e->error);
    st_bind_text(s, 11, e->date);
    st_bind_i64(s, 12, now_ms());
    enum store_rc rc = st_step_write(st, s, "event_insert");
    return rc == ST_OK && st_changes(st) == 0 ? ST_CONFLICT : rc;
}

