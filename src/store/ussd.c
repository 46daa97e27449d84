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


/* ---- resume points (store/ussd.h) ----
 * Memory holds, per phone, its open point (live or saved) under the phone
 * number, and each taken point under "t:" and the session it was offered
 * to, so that a session's own live point never hides the point it was
 * offered. */

/* Kept past the window for the sessions that took them: a session lives
 * at most 180 s, and a hop of it may need rebuilding until then. */
#define POINT_KEEP_MS (5 * 60 * 1000)

static const char SQL_POINT_ROW[] = "SELECT r.session_id, r.idem_key, r.state, r.at, r.taken_by, CASE WHEN "
        "EXISTS (SELECT 1 FROM payments p WHERE p.idem_key = r.idem_key) THEN 1 ELSE 0 END FROM ussd_resume r "
        "WHERE r.phone = ?";
static const char SQL_POINT_BOUGHT[] = "SELECT 1 FROM payments WHERE idem_key = ?";
static const char SQL_POINT_LOAD[] = "SELECT r.phone, r.session_id, r.idem_key, r.state, r.at, r.taken_by FROM "
        "ussd_resume r WHERE r.at >= ? AND (r.taken_by <> '' OR NOT EXISTS (SELECT 1 FROM payments p WHERE "
        "p.idem_key = r.idem_key)) ORDER BY r.at";
/* a newer point replaces an older one, never one taken by the same
 * session (AT's notice rebuilding it after it was offered) */
static const char SQL_POINT_PUT[] = "INSERT INTO ussd_resume (phone, session_id, idem_key, state, at, taken_by) "
        "VALUES (?1,?2,?3,?4,?5,'') ON CONFLICT(phone) DO UPDATE SET session_id = excluded.session_id, "
        "idem_key = excluded.idem_key, state = excluded.state, at = excluded.at, taken_by = '' "
        "WHERE ussd_resume.at <= excluded.at AND (ussd_resume.session_id <> excluded.session_id OR "
        "ussd_resume.taken_by = '')";
/* an open point is taken, unless its session bought after all; a taken
 * one stays with its taker; a newer one (a live point) replaces an older
 * row, taken or not */
static const char SQL_POINT_TAKE[] = "INSERT INTO ussd_resume (phone, session_id, idem_key, state, at, taken_by) "
        "VALUES (?1,?2,?3,?4,?5,?6) ON CONFLICT(phone) DO UPDATE SET session_id = excluded.session_id, "
        "idem_key = excluded.idem_key, state = excluded.state, at = excluded.at, taken_by = excluded.taken_by "
        "WHERE (CASE WHEN ussd_resume.session_id = excluded.session_id THEN ussd_resume.taken_by = '' "
        "ELSE ussd_resume.at <= excluded.at END) AND NOT EXISTS (SELECT 1 FROM payments p WHERE "
        "p.idem_key = excluded.idem_key)";
static const char SQL_POINT_SWEEP[] = "DELETE FROM ussd_resume WHERE at < ?";

static void taken_key(char *k, size_t n, const char *sid) { snprintf(k, n, "t:%s", sid); }

/* On a database several lipads share, the phone's row as last read (or
 * none: an empty session_id) is kept under "d:" and the phone, until a
 * lipad tells of a change (st_points_heard). */
#define CACHE_KEY_MAX (HOP_PHONE_MAX + 2)
static void cache_key(char *k, size_t n, const char *phone) { snprintf(k, n, "d:%s", phone); }

void st_points_heard(struct store *st, const char *phone)
{
    atomic_fetch_add(&st->points_heard, 1);
    if (!st->hop)
        return;
    if (!phone) {
        hop_points_drop_prefix(st->hop, "d:");
        return;
    }
    char k[CACHE_KEY_MAX];
    cache_key(k, sizeof k, phone);
    hop_point_drop(st->hop, k, NULL, false);
}

static void read_point(struct st_stmt *s, int c, struct ussd_point *p)
{
    ST_COPY(s, c, p->session_id);
    ST_COPY(s, c + 1, p->idem_key);
    ST_COPY(s, c + 2, p->state);
    p->at = st_col_i64(s, c + 3);
    ST_COPY(s, c + 4, p->taken_by);
}

static enum store_rc point_write(struct store *st, const char *sql, const char *phone, const struct ussd_point *p)
{
    struct st_stmt *s = st_stmt(st, sql);
    if (!s)
        return ST_ERROR;
    st_bind_text(s, 1, phone);
    st_bind_text(s, 2, p->session_id);
    st_bind_text(s, 3, p->idem_key);
    st_bind_text(s, 4, p->state);
    st_bind_i64(s, 5, p->at);
    if (sql == SQL_POINT_TAKE)
        st_bind_text(s, 6, p->taken_by);
    enum store_rc rc = st_step_write(st, s, sql == SQL_POINT_TAKE ? "point_take" : "point_put");
    if (rc == ST_OK && st_changes(st) == 0)
        return ST_CONFLICT; /* a newer point, or this one taken (or bought) */
    if (rc == ST_OK && !st->be->local) {
        st_points_heard(st, phone); /* this lipad's cache at once */
        st_point_changed(st, phone);
    }
    return rc;
}

/* One row of sql bound to a and b (b may be NULL) into p: ST_OK, or
 * ST_NOT_FOUND, or ST_ERROR. */
static enum store_rc point_read(struct store *st, const char *sql, const char *a, const char *b, struct ussd_point *p)
{
    struct st_stmt *s = st_stmt(st, sql);
    if (!s)
        return ST_ERROR;
    st_bind_text(s, 1, a);
    if (b)
        st_bind_text(s, 2, b);
    int rc = st_step(s);
    if (rc == ST_ROW && p)
        read_point(s, 0, p);
    st_done(s);
    return rc == ST_ROW ? ST_OK : rc == ST_DONE ? ST_NOT_FOUND : ST_ERROR;
}

/* Memory learns a saved open point unless it holds a live or newer one. */
static void remember(struct store *st, const char *phone, const struct ussd_point *p)
{
    struct ussd_point *m = malloc(sizeof *m);
    bool live = false;
    if (m && hop_point_get(st->hop, phone, m, &live) && (live || m->at > p->at)) {
        free(m);
        return;
    }
    free(m);
    hop_point_put(st->hop, phone, p, false);
}

static void remember_taken(struct store *st, const struct ussd_point *p)
{
    char key[sizeof p->taken_by + 2];
    taken_key(key, sizeof key, p->taken_by);
    hop_point_put(st->hop, key, p, false);
}

enum store_rc store_points_window(struct store *st, int64_t window_ms)
{
    st->point_window_ms = window_ms > 0 ? window_ms : 0;
    if (!st->point_window_ms || !st->be->local)
        return ST_OK; /* shared: the database is read when memory has no live point */
    struct st_stmt *s = st_stmt(st, SQL_POINT_LOAD);
    struct ussd_point *p = malloc(sizeof *p);
    char phone[HOP_PHONE_MAX];
    int rc = ST_FAILED;
    if (s && p) {
        st_bind_i64(s, 1, now_ms() - st->point_window_ms - POINT_KEEP_MS);
        while ((rc = st_step(s)) == ST_ROW) {
            ST_COPY(s, 0, phone);
            read_point(s, 1, p);
            if (p->taken_by[0])
                remember_taken(st, p);
            else
                hop_point_put(st->hop, phone, p, false);
        }
    }
    if (s)
        st_done(s);
    free(p);
    return rc == ST_DONE ? ST_OK : ST_ERROR;
}

bool store_point_live(struct store *st, const char *phone, const struct ussd_point *p)
{
    return st->point_window_ms && hop_point_put(st->hop, phone, p, true);
}

void store_point_left(struct store *st, const char *phone, const char *sid)
{
    if (st->point_window_ms)
        hop_point_drop(st->hop, phone, sid, true);
}

static bool open_usable(const struct ussd_point *p, const char *sid, int64_t since)
{
    return !p->taken_by[0] && strcmp(p->session_id, sid) && p->at >= since;
}

enum store_rc store_point_for(struct store *st, const char *phone, const char *sid, bool may_open,
                              struct ussd_point *p, bool *taken)
{
    *taken = false;
    if (!st->point_window_ms || (st->be->local && !hop_points_any(st->hop)))
        return ST_NOT_FOUND; /* alone on its database, memory has every point: none */
    char key[sizeof p->taken_by + 2];
    taken_key(key, sizeof key, sid);
    if (hop_point_get(st->hop, key, p, NULL) && !strcmp(p->taken_by, sid)) {
        *taken = true;
        return ST_OK;
    }
    int64_t since = now_ms() - st->point_window_ms;
    bool live = false;
    if (may_open && hop_point_get(st->hop, phone, p, &live) && open_usable(p, sid, since)) {
        if (st->be->local)
            return ST_OK; /* memory has every point, and saw every purchase's END */
        /* shared: only this lipad's live points are its own to offer
         * (a saved one may have been taken elsewhere), and only when no
         * lipad had its session buy */
        enum store_rc rc = live ? point_read(st, SQL_POINT_BOUGHT, p->idem_key, NULL, NULL) : ST_OK;
        if (rc == ST_NOT_FOUND)
            return ST_OK;
        if (rc == ST_ERROR)
            return ST_ERROR;
    }
    if (st->be->local)
        return ST_NOT_FOUND;
    /* shared: the phone's row, cached until a lipad tells of a change */
    char ck[CACHE_KEY_MAX];
    cache_key(ck, sizeof ck, phone);
    if (!hop_point_get(st->hop, ck, p, NULL)) {
        long long heard = atomic_load(&st->points_heard);
        struct st_stmt *s = st_stmt(st, SQL_POINT_ROW);
        if (!s)
            return ST_ERROR;
        st_bind_text(s, 1, phone);
        int rc = st_step(s);
        bool bought = false;
        memset(p, 0, sizeof *p);
        if (rc == ST_ROW) {
            read_point(s, 0, p);
            bought = st_col_i64(s, 5) != 0;
        }
        st_done(s);
        if (rc != ST_ROW && rc != ST_DONE)
            return ST_ERROR;
        if (bought && !p->taken_by[0])
            memset(p, 0, sizeof *p); /* offered to nobody, ever */
        hop_point_put(st->hop, ck, p, false);
        if (atomic_load(&st->points_heard) != heard) /* a change told meanwhile: not kept */
            hop_point_drop(st->hop, ck, NULL, false);
    }
    if (!p->session_id[0])
        return ST_NOT_FOUND;
    if (!strcmp(p->taken_by, sid)) {
        remember_taken(st, p);
        *taken = true;
        return ST_OK;
    }
    return may_open && open_usable(p, sid, since) ? ST_OK : ST_NOT_FOUND;
}

enum store_rc store_point_take(struct store *st, const char *phone, const struct ussd_point *p)
{
    enum store_rc rc = point_write(st, SQL_POINT_TAKE, phone, p);
    if (rc != ST_OK)
        return rc;
    hop_point_drop(st->hop, phone, p->session_id, false);
    remember_taken(st, p);
    return ST_OK;
}

enum store_rc store_point_save(struct store *st, const char *phone, const struct ussd_point *p)
{
    enum store_rc rc = point_write(st, SQL_POINT_PUT, phone, p);
    if (rc == ST_OK)
        remember(st, phone, p);
    return rc;
}

/* Saves phone's live point, if it still has one; dropped when the
 * database refuses it (it is not tried again and again). */
static enum store_rc save_live(struct store *st, const char *phone, const char *sid)
{
    struct ussd_point *p = malloc(sizeof *p);
    bool live = false;
    enum store_rc rc = ST_NOT_FOUND;
    if (!p)
        return ST_ERROR;
    if (hop_point_get(st->hop, phone, p, &live) && live && (!sid || !strcmp(p->session_id, sid))) {
        rc = point_write(st, SQL_POINT_PUT, phone, p);
        if (rc == ST_OK)
            hop_point_saved(st->hop, phone, p->session_id, p->at);
        else
            hop_point_drop(st->hop, phone, p->session_id, true);
    }
    free(p);
    return rc;
}

enum store_rc store_point_ended(struct store *st, const char *phone, const char *sid, bool finished)
{
    if (!st->point_window_ms)
        return ST_OK;
    struct ussd_point *p = malloc(sizeof *p);
    bool live = false, mine = p && hop_point_get(st->hop, phone, p, &live) && !strcmp(p->session_id, sid);
    free(p);
    if (!mine)
        return ST_NOT_FOUND;
    if (!live)
        return ST_OK; /* saved already */
    if (finished) {
        hop_point_drop(st->hop, phone, sid, true);
        return ST_OK;
    }
    enum store_rc rc = save_live(st, phone, sid);
    return rc == ST_NOT_FOUND ? ST_OK : rc;
}

void st_points_upkeep(struct store *st, int64_t now, int64_t before)
{
    if (!st->point_window_ms || !st->hop)
        return;
    enum { SLICE = 64 };
    char phones[SLICE][HOP_PHONE_MAX];
    int n = hop_points_due(st->hop, before, phones, SLICE);
    for (int i = 0; i < n; i++)
        save_live(st, phones[i], NULL);
    int64_t gone = now - st->point_window_ms - POINT_KEEP_MS;
    hop_points_forget(st->hop, gone);
    if (now - atomic_load(&st->points_swept_at) < 60000)
        return;
    atomic_store(&st->points_swept_at, now);
    struct st_stmt *s = st_stmt(st, SQL_POINT_SWEEP);
    if (s) {
        st_bind_i64(s, 1, gone);
        st_step_write(st, s, "point_sweep");
    }
}

void st_points_flush(struct store *st)
{
    if (!st->point_window_ms || !st->hop)
        return;
    enum { SLICE = 64 };
    char phones[SLICE][HOP_PHONE_MAX];
    int n;
    /* each one saved (or dropped) is no longer live: the next round
     * finds the rest */
    while ((n = hop_points_due(st->hop, INT64_MAX, phones, SLICE)) > 0)
        for (int i = 0; i < n; i++)
            save_live(st, phones[i], NULL);
}
