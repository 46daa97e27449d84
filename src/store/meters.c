/* store/meters: meters, their assignment to users, and the tokens applied
 * to them (store.h, meters, assignments, applied tokens). */
#include "store/store.h"

#include "store/meters.h"
#include "store/store_int.h"
#include "store/users.h"
#include "store/ussd.h"
#include "util/log.h"
#include "util/str.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define METER_COLS "id, device_id, name, product_name, description, location, active, price_per_kwh, " \
                   "owner_phone, created_at, updated_at"


static const char SQL_ASSIGN[] = "INSERT INTO assignments (user_id, meter_id, assigned_at, seq) SELECT ?1, ?2, ?3, "
        "(SELECT COALESCE(MAX(seq), 0) + 1 FROM assignments WHERE user_id = ?1) WHERE (SELECT COUNT(*) FROM assignments WHERE user_id = ?1) < ?4 ON "
        "CONFLICT(user_id, meter_id) DO NOTHING";
static const char SQL_ASSIGNED_AT[] = "SELECT assigned_at FROM assignments WHERE user_id = ? AND meter_id = ?";
static const char SQL_METERS_LIST[] = "SELECT " METER_COLS " FROM meters ORDER BY created_at, id";
static const char SQL_METER_BOUGHT[] = "SELECT COALESCE(SUM(energy), 0) FROM payments WHERE meter_id = ? AND status = "
        "'completed' AND created_at >= ?";
static const char SQL_METER_BY_DEVICE[] = "SELECT " METER_COLS " FROM meters WHERE device_id = ?";
static const char SQL_METER_DELETE[] = "DELETE FROM meters WHERE id = ?";
static const char SQL_METER_GET[] = "SELECT " METER_COLS " FROM meters WHERE id = ?";
static const char SQL_METER_INSERT[] = "INSERT INTO meters (id, device_id, name, product_name, description, location, "
        "active, price_per_kwh, owner_phone, created_at, updated_at) VALUES " "(?,?,?,?,?,?,?,?,?,?,?)";
static const char SQL_METER_UPDATE[] = "UPDATE meters SET name=?, product_name=?, description=?, location=?, active=?, "
        "price_per_kwh=?, owner_phone=?, updated_at=? WHERE id=?";
static const char SQL_METER_USERS[] = "SELECT u.id, u.phone, u.first_name, u.last_name, u.email, u.role, u.language, "
        "u.created_at, u.updated_at FROM assignments a JOIN users u ON u.id = a.user_id "
        "WHERE a.meter_id = ? ORDER BY a.assigned_at, a.user_id";
static const char SQL_OWNED_METERS[] = "SELECT id, owner_phone FROM meters WHERE owner_phone <> '' ORDER BY id";
static const char SQL_TOKEN_FORGET[] = "DELETE FROM applied_tokens WHERE meter_id = ? AND token_hmac = ?";
static const char SQL_TOKEN_RECORD[] = "INSERT INTO applied_tokens (meter_id, token_hmac, applied_at) VALUES (?,?,?)";
static const char SQL_UNASSIGN[] = "DELETE FROM assignments WHERE user_id = ? AND meter_id = ?";
static const char SQL_USER_METERS[] = "SELECT m.id, m.device_id, m.name, m.product_name, m.description, m.location, "
        "m.active, m.price_per_kwh, m.owner_phone, m.created_at, m.updated_at FROM "
        "assignments a JOIN meters m ON m.id = a.meter_id WHERE a.user_id = ? ORDER BY "
        "a.assigned_at, a.seq";

void st_read_meter(struct st_stmt *s, struct meter *m)
{
    memset(m, 0, sizeof *m);
    ST_COPY(s, 0, m->id);
    ST_COPY(s, 1, m->device_id);
    ST_COPY(s, 2, m->name);
    ST_COPY(s, 3, m->product_name);
    ST_COPY(s, 4, m->description);
    ST_COPY(s, 5, m->location);
    m->active = st_col_i64(s, 6) != 0;
    m->price_per_kwh = st_col_i64(s, 7);
    ST_COPY(s, 8, m->owner_phone);
    m->created_at = st_col_i64(s, 9);
    m->updated_at = st_col_i64(s, 10);
}

/* ---- meters ---- */

enum store_rc store_meter_create(struct store *st, struct meter *m)
{
    struct st_stmt *s = st_stmt(st, SQL_METER_INSERT);
    if (!s)
        return ST_ERROR;
    m->created_at = m->updated_at = now_ms();
    st_bind_text(s, 1, m->id);
    st_bind_text(s, 2, m->device_id);
    st_bind_text(s, 3, m->name);
    st_bind_text(s, 4, m->product_name);
    st_bind_text(s, 5, m->description);
    st_bind_text(s, 6, m->location);
    st_bind_i64(s, 7, m->active ? 1 : 0);
    st_bind_i64(s, 8, m->price_per_kwh);
    st_bind_text(s, 9, m->owner_phone);
    st_bind_i64(s, 10, m->created_at);
    st_bind_i64(s, 11, m->updated_at);
    enum store_rc rc = st_step_write(st, s, "meter_insert");
    st_bump(st);
    return rc;
}

enum store_rc store_meter_get(struct store *st, const char *id, struct meter *m)
{
    struct st_stmt *s = st_stmt(st, SQL_METER_GET);
    if (!s)
        return ST_ERROR;
    st_bind_text(s, 1, id);
    int rc = st_step(s);
    if (rc == ST_ROW)
        st_read_meter(s, m);
    st_done(s);
    return st_row_rc(rc);
}

enum store_rc store_meter_update(struct store *st, const struct meter *m)
{
    struct st_stmt *s = st_stmt(st, SQL_METER_UPDATE);
    if (!s)
        return ST_ERROR;
    st_bind_text(s, 1, m->name);
    st_bind_text(s, 2, m->product_name);
    st_bind_text(s, 3, m->description);
    st_bind_text(s, 4, m->location);
    st_bind_i64(s, 5, m->active ? 1 : 0);
    st_bind_i64(s, 6, m->price_per_kwh);
    st_bind_text(s, 7, m->owner_phone);
    st_bind_i64(s, 8, now_ms());
    st_bind_text(s, 9, m->id);
    enum store_rc rc = st_step_write(st, s, "meter_update");
    st_bump(st);
    return st_changed_one(st, rc);
}

enum store_rc store_meter_delete(struct store *st, const char *id)
{
    struct st_stmt *s = st_stmt(st, SQL_METER_DELETE);
    if (!s)
        return ST_ERROR;
    st_bind_text(s, 1, id);
    enum store_rc rc = st_step_write(st, s, "meter_delete");
    st_bump(st);
    return st_changed_one(st, rc);
}

static enum store_rc meters_each(struct st_stmt *s, void (*fn)(void *, const struct meter *), void *ctx)
{
    struct meter m;
    int rc;
    while ((rc = st_step(s)) == ST_ROW) {
        st_read_meter(s, &m);
        fn(ctx, &m);
    }
    st_done(s);
    return rc == ST_DONE ? ST_OK : ST_ERROR;
}

enum store_rc store_meters_list(struct store *st, void (*fn)(void *, const struct meter *), void *ctx)
{
    struct st_stmt *s = st_stmt(st, SQL_METERS_LIST);
    return s ? meters_each(s, fn, ctx) : ST_ERROR;
}

/* ---- assignments ---- */

enum store_rc store_assign(struct store *st, int64_t user_id, const char *meter_id, int64_t *assigned_at)
{
    struct st_stmt *s = st_stmt(st, SQL_ASSIGN);
    if (!s)
        return ST_ERROR;
    st_bind_i64(s, 1, user_id);
    st_bind_text(s, 2, meter_id);
    st_bind_i64(s, 3, now_ms());
    st_bind_i64(s, 4, STORE_CALLER_METERS);
    enum store_rc rc = st_step_write(st, s, "assign");
    st_bump(st);
    if (rc == ST_CONFLICT) /* foreign key: no such user or meter */
        return ST_NOT_FOUND;
    if (rc != ST_OK)
        return rc;
    s = st_stmt(st, SQL_ASSIGNED_AT);
    if (!s)
        return ST_ERROR;
    st_bind_i64(s, 1, user_id);
    st_bind_text(s, 2, meter_id);
    bool assigned = st_step(s) == ST_ROW;
    if (assigned && assigned_at)
        *assigned_at = st_col_i64(s, 0);
    st_done(s);
    return assigned ? ST_OK : ST_CONFLICT; /* not there: the user had their most already */
}

enum store_rc store_unassign(struct store *st, int64_t user_id, const char *meter_id)
{
    struct st_stmt *s = st_stmt(st, SQL_UNASSIGN);
    if (!s)
        return ST_ERROR;
    st_bind_i64(s, 1, user_id);
    st_bind_text(s, 2, meter_id);
    enum store_rc rc = st_step_write(st, s, "unassign");
    st_bump(st);
    return st_changed_one(st, rc);
}

bool store_is_assigned(struct store *st, int64_t user_id, const char *meter_id)
{
    struct st_stmt *s = st_stmt(st, SQL_ASSIGNED_AT);
    if (!s)
        return false;
    st_bind_i64(s, 1, user_id);
    st_bind_text(s, 2, meter_id);
    bool yes = st_step(s) == ST_ROW;
    st_done(s);
    return yes;
}

int store_user_meters(struct store *st, int64_t user_id, struct meter *out, int max)
{
    struct st_stmt *s = st_stmt(st, SQL_USER_METERS);
    if (!s)
        return -1;
    st_bind_i64(s, 1, user_id);
    int n = 0, rc;
    while (n < max && (rc = st_step(s)) == ST_ROW)
        st_read_meter(s, &out[n++]);
    st_done(s);
    return n;
}

enum store_rc store_user_meters_each(struct store *st, int64_t user_id,
                                     void (*fn)(void *, const struct meter *), void *ctx)
{
    struct st_stmt *s = st_stmt(st, SQL_USER_METERS);
    if (!s)
        return ST_ERROR;
    st_bind_i64(s, 1, user_id);
    return meters_each(s, fn, ctx);
}

enum store_rc store_meter_users_each(struct store *st, const char *meter_id,
                                     void (*fn)(void *, const struct user *), void *ctx)
{
    struct st_stmt *s = st_stmt(st, SQL_METER_USERS);
    if (!s)
        return ST_ERROR;
    st_bind_text(s, 1, meter_id);
    struct user u;
    int rc;
    while ((rc = st_step(s)) == ST_ROW) {
        st_read_user(s, &u);
        fn(ctx, &u);
    }
    st_done(s);
    return rc == ST_DONE ? ST_OK : ST_ERROR;
}

enum store_rc store_generate_assignments(struct store *st, int *assignments, int *users)
{
    *assignments = *users = 0;
    if (store_begin(st) != ST_OK)
        return ST_ERROR;
    /* collect first: the cursor must be done before we write */
    struct pair { char meter[65], phone[16]; } *pairs = NULL;
    size_t n = 0, cap = 0;
    struct st_stmt *s = st_stmt(st, SQL_OWNED_METERS);
    enum store_rc out = s ? ST_OK : ST_ERROR;
    while (s && st_step(s) == ST_ROW) {
        if (n == cap) {
            cap = cap ? cap * 2 : 64;
            struct pair *p = realloc(pairs, cap * sizeof *p);
            if (!p) {
                out = ST_ERROR;
                break;
            }
            pairs = p;
        }
        st_col_text(s, 0, pairs[n].meter, sizeof pairs[n].meter);
        st_col_text(s, 1, pairs[n].phone, sizeof pairs[n].phone);
        n++;
    }
    st_done(s);
    for (size_t i = 0; out == ST_OK && i < n; i++) {
        struct user u;
        enum store_rc rc = store_user_by_phone(st, pairs[i].phone, &u);
        if (rc == ST_NOT_FOUND) {
            memset(&u, 0, sizeof u);
            str_copy(u.phone, sizeof u.phone, pairs[i].phone);
            rc = store_user_create(st, &u);
            if (rc == ST_OK)
                (*users)++;
        }
        if (rc != ST_OK) {
            out = ST_ERROR;
            break;
        }
        if (!store_is_assigned(st, u.id, pairs[i].meter)) {
            rc = store_assign(st, u.id, pairs[i].meter, NULL);
            if (rc == ST_OK)
                (*assignments)++;
            else if (rc == ST_CONFLICT) /* the owner has their most meters: left unassigned */
                log_warn("store.assignment_skipped", "meter=%s user=%lld reason=\"the most meters a caller can use\"",
                         pairs[i].meter, (long long)u.id);
            else
                out = ST_ERROR;
        }
    }
    free(pairs);
    if (out == ST_OK)
        out = store_commit(st);
    st_bump(st);
    if (out != ST_OK) {
        store_rollback(st);
        *assignments = *users = 0;
    }
    return out;
}

/* ---- applied tokens ---- */

enum store_rc store_token_record(struct store *st, const char *meter_id, const char *token_hmac)
{
    struct st_stmt *s = st_stmt(st, SQL_TOKEN_RECORD);
    if (!s)
        return ST_ERROR;
    st_bind_text(s, 1, meter_id);
    st_bind_text(s, 2, token_hmac);
    st_bind_i64(s, 3, now_ms());
    return st_step_write(st, s, "token_record");
}

enum store_rc store_token_forget(struct store *st, const char *meter_id, const char *token_hmac)
{
    struct st_stmt *s = st_stmt(st, SQL_TOKEN_FORGET);
    if (!s)
        return ST_ERROR;
    st_bind_text(s, 1, meter_id);
    st_bind_text(s, 2, token_hmac);
    enum store_rc rc = st_step_write(st, s, "token_forget");
    return st_changed_one(st, rc);
}

enum store_rc store_meter_energy_bought(struct store *st, const char *meter_id, int64_t since_ms, int64_t *tenths)
{
    struct st_stmt *s = st_stmt(st, SQL_METER_BOUGHT);
    if (!s)
        return ST_ERROR;
    st_bind_text(s, 1, meter_id);
    st_bind_i64(s, 2, since_ms);
    int rc = st_step(s);
    if (rc == ST_ROW)
        *tenths = st_col_i64(s, 0);
    st_done(s);
    return rc == ST_ROW ? ST_OK : ST_ERROR;
}

enum store_rc store_meter_by_device(struct store *st, const char *device_id, struct meter *m)
{
    struct st_stmt *s = st_stmt(st, SQL_METER_BY_DEVICE);
    if (!s)
        return ST_ERROR;
    st_bind_text(s, 1, device_id);
    int rc = st_step(s);
    if (rc == ST_ROW)
        st_read_meter(s, m);
    st_done(s);
    return st_row_rc(rc);
}

