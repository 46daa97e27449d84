/* store/otp: water codes and stations; see store/otp.h. */
#include "store/otp.h"

#include "store/store_int.h"
#include "util/str.h"

#include <string.h>

#define CODE_COLS                                                                                        \
    "c.id, c.payment_id, c.reference, c.liters, COALESCE(c.code_hmac,''), c.status, c.attempts, "       \
    "c.max_attempts, COALESCE(c.expires_at,0), COALESCE(c.station_id,''), COALESCE(c.verified_at,0), " \
    "COALESCE(c.lock_until,0), COALESCE(c.completed_at,0), COALESCE(c.dispensed_ml,-1), c.completion, " \
    "c.origin, COALESCE(p.phone,''), c.created_at, c.updated_at "                                        \
    "FROM otp_codes c LEFT JOIN payments p ON p.id = c.payment_id "
#define STATION_COLS "id, name, location, pulses_per_liter, key_hmac, created_at, updated_at"

static const char SQL_PAYMENT_ID[] = "SELECT id FROM payments WHERE reference = ?";
static const char SQL_CURRENT[] =
    "SELECT " CODE_COLS "WHERE c.reference = ? AND c.status <> 'void' ORDER BY c.id DESC LIMIT 1";
static const char SQL_CURRENT_OF[] =
    "SELECT " CODE_COLS "WHERE c.payment_id = ? AND c.status <> 'void' ORDER BY c.id DESC LIMIT 1";
static const char SQL_GET[] = "SELECT " CODE_COLS "WHERE c.id = ?";
static const char SQL_COUNT[] = "SELECT COUNT(*) FROM otp_codes WHERE payment_id = ?";
static const char SQL_INSERT[] =
    "INSERT INTO otp_codes (payment_id, reference, liters, code_hmac, status, max_attempts, expires_at, "
    "origin, created_at, updated_at) VALUES (?,?,?,NULLIF(?,''),?,?,NULLIF(CAST(? AS BIGINT),0),?,?,?) RETURNING id";
static const char SQL_VOID_LIVE[] =
    "UPDATE otp_codes SET status = 'void', updated_at = ? WHERE payment_id = ? "
    "AND status IN ('pending','active','expired','blocked')";
static const char SQL_FILL[] = "UPDATE otp_codes SET status = 'active', code_hmac = ?, expires_at = ?, "
                               "updated_at = ? WHERE id = ? AND status = 'pending'";
/* SET expressions read the row as it was before the update */
static const char SQL_SETTLE[] =
    "UPDATE otp_codes SET status = CASE WHEN status = 'active' THEN 'expired' ELSE 'used' END, "
    "completion = CASE WHEN status = 'in_progress' THEN 'lapsed' ELSE completion END, updated_at = ?2 "
    "WHERE id = ?1 AND ((status = 'active' AND expires_at <= ?2) OR (status = 'in_progress' AND lock_until <= ?2))";
static const char SQL_FAIL[] =
    "UPDATE otp_codes SET attempts = attempts + 1, "
    "status = CASE WHEN attempts + 1 >= max_attempts THEN 'blocked' ELSE status END, updated_at = ? "
    "WHERE id = ? AND status = 'active'";
static const char SQL_LOCK[] =
    "UPDATE otp_codes SET status = 'in_progress', station_id = ?1, verified_at = ?2, lock_until = ?3, "
    "updated_at = ?2 WHERE id = ?4 AND status = 'active' AND expires_at > ?2";
static const char SQL_COMPLETE[] =
    "UPDATE otp_codes SET status = 'used', dispensed_ml = ?1, completion = ?2, completed_at = ?3, "
    "updated_at = ?3 WHERE id = ?4 AND station_id = ?5 "
    "AND (status = 'in_progress' OR (status = 'used' AND dispensed_ml IS NULL))";
static const char SQL_LIVE_FOR_PHONE[] =
    "SELECT " CODE_COLS "WHERE p.phone = ? AND c.status IN ('pending','active','expired','blocked') "
    "AND c.created_at >= ? ORDER BY c.id DESC LIMIT ?";
static const char SQL_STATION_INSERT[] =
    "INSERT INTO stations (" STATION_COLS ") VALUES (?,?,?,?,?,?,?)";
static const char SQL_STATION_GET[] = "SELECT " STATION_COLS " FROM stations WHERE id = ?";
static const char SQL_STATIONS[] = "SELECT " STATION_COLS " FROM stations ORDER BY created_at, id";
static const char SQL_STATION_FAILED[] =
    "UPDATE stations SET fail_count = CASE WHEN fail_since > CAST(?2 AS BIGINT) - CAST(?3 AS BIGINT) THEN fail_count + 1 ELSE 1 END, "
    "fail_since = CASE WHEN fail_since > CAST(?2 AS BIGINT) - CAST(?3 AS BIGINT) THEN fail_since ELSE ?2 END WHERE id = ?1";
static const char SQL_STATION_THROTTLED[] =
    "SELECT fail_count >= ?4 AND fail_since > CAST(?2 AS BIGINT) - CAST(?3 AS BIGINT) FROM stations WHERE id = ?1";

static void read_code(struct st_stmt *s, struct otp_code *c)
{
    memset(c, 0, sizeof *c);
    int i = 0;
    c->id = st_col_i64(s, i++);
    c->payment_id = st_col_i64(s, i++);
    ST_COPY(s, i++, c->reference);
    c->liters = st_col_i64(s, i++);
    ST_COPY(s, i++, c->code_hmac);
    ST_COPY(s, i++, c->status);
    c->attempts = st_col_i64(s, i++);
    c->max_attempts = st_col_i64(s, i++);
    c->expires_at = st_col_i64(s, i++);
    ST_COPY(s, i++, c->station_id);
    c->verified_at = st_col_i64(s, i++);
    c->lock_until = st_col_i64(s, i++);
    c->completed_at = st_col_i64(s, i++);
    c->dispensed_ml = st_col_i64(s, i++);
    ST_COPY(s, i++, c->completion);
    ST_COPY(s, i++, c->origin);
    ST_COPY(s, i++, c->phone);
    c->created_at = st_col_i64(s, i++);
    c->updated_at = st_col_i64(s, i++);
}

static enum store_rc code_one(struct st_stmt *s, struct otp_code *c)
{
    int rc = st_step(s);
    if (rc == ST_ROW)
        read_code(s, c);
    st_done(s);
    return st_row_rc(rc);
}

enum store_rc store_otp_payment_id(struct store *st, const char *reference, int64_t *id)
{
    struct st_stmt *s = st_stmt(st, SQL_PAYMENT_ID);
    if (!s)
        return ST_ERROR;
    st_bind_text(s, 1, reference);
    int rc = st_step(s);
    if (rc == ST_ROW)
        *id = st_col_i64(s, 0);
    st_done(s);
    return st_row_rc(rc);
}

enum store_rc store_otp_current(struct store *st, const char *reference, struct otp_code *c)
{
    struct st_stmt *s = st_stmt(st, SQL_CURRENT);
    if (!s)
        return ST_ERROR;
    st_bind_text(s, 1, reference);
    return code_one(s, c);
}

enum store_rc store_otp_current_of(struct store *st, int64_t payment_id, struct otp_code *c)
{
    struct st_stmt *s = st_stmt(st, SQL_CURRENT_OF);
    if (!s)
        return ST_ERROR;
    st_bind_i64(s, 1, payment_id);
    return code_one(s, c);
}

enum store_rc store_otp_get(struct store *st, int64_t id, struct otp_code *c)
{
    struct st_stmt *s = st_stmt(st, SQL_GET);
    if (!s)
        return ST_ERROR;
    st_bind_i64(s, 1, id);
    return code_one(s, c);
}

int64_t store_otp_count(struct store *st, int64_t payment_id)
{
    struct st_stmt *s = st_stmt(st, SQL_COUNT);
    if (!s)
        return -1;
    st_bind_i64(s, 1, payment_id);
    int64_t n = st_step(s) == ST_ROW ? st_col_i64(s, 0) : -1;
    st_done(s);
    return n;
}

enum store_rc store_otp_insert(struct store *st, struct otp_code *c)
{
    struct st_stmt *s = st_stmt(st, SQL_INSERT);
    if (!s)
        return ST_ERROR;
    int64_t now = now_ms();
    st_bind_i64(s, 1, c->payment_id);
    st_bind_text(s, 2, c->reference);
    st_bind_i64(s, 3, c->liters);
    st_bind_text(s, 4, c->code_hmac);
    st_bind_text(s, 5, c->status);
    st_bind_i64(s, 6, c->max_attempts);
    st_bind_i64(s, 7, c->expires_at);
    st_bind_text(s, 8, c->origin);
    st_bind_i64(s, 9, now);
    st_bind_i64(s, 10, now);
    enum store_rc rc = st_step_write(st, s, "otp_insert");
    if (rc == ST_OK) {
        c->id = st_last_id(st);
        c->created_at = c->updated_at = now;
    }
    return rc;
}

enum store_rc store_otp_void_live(struct store *st, int64_t payment_id)
{
    struct st_stmt *s = st_stmt(st, SQL_VOID_LIVE);
    if (!s)
        return ST_ERROR;
    st_bind_i64(s, 1, now_ms());
    st_bind_i64(s, 2, payment_id);
    return st_step_write(st, s, "otp_void");
}

/* Steps a one-row conditional update: ST_CONFLICT when no row matched. */
static enum store_rc one_row(struct store *st, struct st_stmt *s, const char *what)
{
    enum store_rc rc = st_step_write(st, s, what);
    if (rc == ST_OK && st_changes(st) != 1)
        return ST_CONFLICT;
    return rc;
}

enum store_rc store_otp_fill(struct store *st, int64_t id, const char *code_hmac, int64_t expires_at)
{
    struct st_stmt *s = st_stmt(st, SQL_FILL);
    if (!s)
        return ST_ERROR;
    st_bind_text(s, 1, code_hmac);
    st_bind_i64(s, 2, expires_at);
    st_bind_i64(s, 3, now_ms());
    st_bind_i64(s, 4, id);
    return one_row(st, s, "otp_fill");
}

enum store_rc store_otp_settle(struct store *st, int64_t id, int64_t now, bool *changed)
{
    struct st_stmt *s = st_stmt(st, SQL_SETTLE);
    *changed = false;
    if (!s)
        return ST_ERROR;
    st_bind_i64(s, 1, id);
    st_bind_i64(s, 2, now);
    enum store_rc rc = st_step_write(st, s, "otp_settle");
    if (rc == ST_OK)
        *changed = st_changes(st) > 0;
    return rc;
}

enum store_rc store_otp_fail(struct store *st, int64_t id)
{
    struct st_stmt *s = st_stmt(st, SQL_FAIL);
    if (!s)
        return ST_ERROR;
    st_bind_i64(s, 1, now_ms());
    st_bind_i64(s, 2, id);
    return one_row(st, s, "otp_fail");
}

enum store_rc store_otp_lock(struct store *st, int64_t id, const char *station_id, int64_t now,
                             int64_t lock_until)
{
    struct st_stmt *s = st_stmt(st, SQL_LOCK);
    if (!s)
        return ST_ERROR;
    st_bind_text(s, 1, station_id);
    st_bind_i64(s, 2, now);
    st_bind_i64(s, 3, lock_until);
    st_bind_i64(s, 4, id);
    return one_row(st, s, "otp_lock");
}

enum store_rc store_otp_complete(struct store *st, int64_t id, const char *station_id, int64_t dispensed_ml,
                                 const char *completion, int64_t now)
{
    struct st_stmt *s = st_stmt(st, SQL_COMPLETE);
    if (!s)
        return ST_ERROR;
    st_bind_i64(s, 1, dispensed_ml);
    st_bind_text(s, 2, completion);
    st_bind_i64(s, 3, now);
    st_bind_i64(s, 4, id);
    st_bind_text(s, 5, station_id);
    return one_row(st, s, "otp_complete");
}

int store_otp_live_for_phone(struct store *st, const char *phone, int64_t since, struct otp_code *out, int max)
{
    struct st_stmt *s = st_stmt(st, SQL_LIVE_FOR_PHONE);
    if (!s)
        return -1;
    st_bind_text(s, 1, phone);
    st_bind_i64(s, 2, since);
    st_bind_i64(s, 3, max);
    int n = 0, rc = ST_DONE;
    while (n < max && (rc = st_step(s)) == ST_ROW)
        read_code(s, &out[n++]);
    if (n < max && rc != ST_DONE)
        n = -1;
    st_done(s);
    return n;
}

/* ---- stations ---- */

static void read_station(struct st_stmt *s, struct otp_station *o)
{
    memset(o, 0, sizeof *o);
    ST_COPY(s, 0, o->id);
    ST_COPY(s, 1, o->name);
    ST_COPY(s, 2, o->location);
    o->pulses_per_liter = st_col_i64(s, 3);
    ST_COPY(s, 4, o->key_hmac);
    o->created_at = st_col_i64(s, 5);
    o->updated_at = st_col_i64(s, 6);
}

enum store_rc store_station_create(struct store *st, struct otp_station *o)
{
    struct st_stmt *s = st_stmt(st, SQL_STATION_INSERT);
    if (!s)
        return ST_ERROR;
    int64_t now = now_ms();
    st_bind_text(s, 1, o->id);
    st_bind_text(s, 2, o->name);
    st_bind_text(s, 3, o->location);
    st_bind_i64(s, 4, o->pulses_per_liter);
    st_bind_text(s, 5, o->key_hmac);
    st_bind_i64(s, 6, now);
    st_bind_i64(s, 7, now);
    enum store_rc rc = st_step_write(st, s, "station_insert");
    if (rc == ST_OK)
        o->created_at = o->updated_at = now;
    return rc;
}

enum store_rc store_station_get(struct store *st, const char *id, struct otp_station *o)
{
    struct st_stmt *s = st_stmt(st, SQL_STATION_GET);
    if (!s)
        return ST_ERROR;
    st_bind_text(s, 1, id);
    int rc = st_step(s);
    if (rc == ST_ROW)
        read_station(s, o);
    st_done(s);
    return st_row_rc(rc);
}

enum store_rc store_stations_list(struct store *st, void (*fn)(void *, const struct otp_station *), void *ctx)
{
    struct st_stmt *s = st_stmt(st, SQL_STATIONS);
    if (!s)
        return ST_ERROR;
    struct otp_station o;
    int rc;
    while ((rc = st_step(s)) == ST_ROW) {
        read_station(s, &o);
        fn(ctx, &o);
    }
    st_done(s);
    return rc == ST_DONE ? ST_OK : ST_ERROR;
}

enum store_rc store_station_failed(struct store *st, const char *id, int64_t now, int64_t window_ms)
{
    struct st_stmt *s = st_stmt(st, SQL_STATION_FAILED);
    if (!s)
        return ST_ERROR;
    st_bind_text(s, 1, id);
    st_bind_i64(s, 2, now);
    st_bind_i64(s, 3, window_ms);
    return st_step_write(st, s, "station_failed");
}

bool store_station_throttled(struct store *st, const char *id, int64_t now, int64_t window_ms, int64_t max)
{
    struct st_stmt *s = st_stmt(st, SQL_STATION_THROTTLED);
    if (!s)
        return false;
    st_bind_text(s, 1, id);
    st_bind_i64(s, 2, now);
    st_bind_i64(s, 3, window_ms);
    st_bind_i64(s, 4, max);
    bool yes = st_step(s) == ST_ROW && st_col_i64(s, 0);
    st_done(s);
    return yes;
}
