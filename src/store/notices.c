/* store/notices: integrators' notices and their attempts; see
 * store/notices.h. */
#include "store/notices.h"

#include "store/store_int.h"
#include "util/str.h"

#include <stdlib.h>
#include <string.h>

#define NOTICE_COLS "id, client_id, payment_id, event, body, status, attempts, next_at, last_status, " \
                    "last_error, created_at, updated_at, delivered_at"

static const char SQL_NOTICE_INSERT[] = "INSERT INTO client_notices (client_id, payment_id, event, body, status, "
        "next_at, created_at, updated_at) VALUES (?,?,?,?,'queued',?,?,?) ON CONFLICT(payment_id, event) DO NOTHING RETURNING id";
static const char SQL_NOTICE_GET[] = "SELECT " NOTICE_COLS " FROM client_notices WHERE id = ?";
static const char SQL_NOTICES_DUE[] = "UPDATE client_notices SET next_at = ?3, claimed_by = ?4 WHERE id IN (SELECT id "
        "FROM client_notices WHERE status = 'queued' AND next_at <= ?1 ORDER BY next_at, id LIMIT ?2" ST_SKIP_LOCKED
        ") RETURNING " NOTICE_COLS;
static const char SQL_NOTICE_SAVE[] = "UPDATE client_notices SET status = ?, attempts = ?, next_at = ?, "
        "last_status = ?, last_error = ?, delivered_at = ?, updated_at = ?, claimed_by = '' WHERE id = ?";
static const char SQL_NOTICES_OF[] = "SELECT " NOTICE_COLS " FROM client_notices WHERE client_id = ? "
        "ORDER BY id DESC LIMIT ?";
static const char SQL_ATTEMPT_INSERT[] = "INSERT INTO client_notice_attempts (notice_id, at, error) VALUES "
        "(?, ?, 'interrupted: lipad stopped before the answer was recorded') RETURNING id";
static const char SQL_ATTEMPT_END[] = "UPDATE client_notice_attempts SET http_status = ?, error = ?, took_ms = ? "
        "WHERE id = ?";
static const char SQL_ATTEMPTS_OF[] = "SELECT id, notice_id, at, http_status, error, took_ms FROM "
        "client_notice_attempts WHERE notice_id = ? ORDER BY id";

static void read_notice(struct st_stmt *s, struct client_notice *n)
{
    memset(n, 0, sizeof *n);
    int i = 0;
    n->id = st_col_i64(s, i++);
    ST_COPY(s, i++, n->client_id);
    n->payment_id = st_col_i64(s, i++);
    ST_COPY(s, i++, n->event);
    ST_COPY(s, i++, n->body);
    ST_COPY(s, i++, n->status);
    n->attempts = st_col_i64(s, i++);
    n->next_at = st_col_i64(s, i++);
    n->last_status = st_col_i64(s, i++);
    ST_COPY(s, i++, n->last_error);
    n->created_at = st_col_i64(s, i++);
    n->updated_at = st_col_i64(s, i++);
    n->delivered_at = st_col_i64(s, i++);
}

enum store_rc store_notice_add(struct store *st, struct client_notice *n)
{
    struct st_stmt *s = st_stmt(st, SQL_NOTICE_INSERT);
    if (!s)
        return ST_ERROR;
    n->created_at = n->updated_at = now_ms();
    st_bind_text(s, 1, n->client_id);
    st_bind_i64(s, 2, n->payment_id);
    st_bind_text(s, 3, n->event);
    st_bind_text(s, 4, n->body);
    st_bind_i64(s, 5, n->next_at);
    st_bind_i64(s, 6, n->created_at);
    st_bind_i64(s, 7, n->updated_at);
    enum store_rc rc = st_step_write(st, s, "notice_insert");
    if (rc != ST_OK)
        return rc;
    if (st_changes(st) == 0)
        return ST_CONFLICT;
    n->id = st_last_id(st);
    str_copy(n->status, sizeof n->status, "queued");
    return ST_OK;
}

enum store_rc store_notice_get(struct store *st, int64_t id, struct client_notice *n)
{
    struct st_stmt *s = st_stmt(st, SQL_NOTICE_GET);
    if (!s)
        return ST_ERROR;
    st_bind_i64(s, 1, id);
    int rc = st_step(s);
    if (rc == ST_ROW)
        read_notice(s, n);
    st_done(s);
    return st_row_rc(rc);
}

static void read_notice_row(struct st_stmt *s, void *row)
{
    read_notice(s, row);
}

static int notice_by_id(const void *a, const void *b)
{
    int64_t x = ((const struct client_notice *)a)->id, y = ((const struct client_notice *)b)->id;
    return (x > y) - (x < y);
}

int store_notices_due(struct store *st, int64_t now, struct client_notice *out, int max)
{
    int n = st_claim(st, SQL_NOTICES_DUE, now, max, out, sizeof *out, read_notice_row);
    if (n > 1) /* a client hears of its payments in the order they happened */
        qsort(out, (size_t)n, sizeof *out, notice_by_id);
    return n;
}

enum store_rc store_notice_save(struct store *st, struct client_notice *n)
{
    struct st_stmt *s = st_stmt(st, SQL_NOTICE_SAVE);
    if (!s)
        return ST_ERROR;
    n->updated_at = now_ms();
    st_bind_text(s, 1, n->status);
    st_bind_i64(s, 2, n->attempts);
    st_bind_i64(s, 3, n->next_at);
    st_bind_i64(s, 4, n->last_status);
    st_bind_text(s, 5, n->last_error);
    st_bind_i64(s, 6, n->delivered_at);
    st_bind_i64(s, 7, n->updated_at);
    st_bind_i64(s, 8, n->id);
    enum store_rc rc = st_step_write(st, s, "notice_save");
    return st_changed_one(st, rc);
}

enum store_rc store_notice_attempt_add(struct store *st, int64_t notice_id, int64_t at, int64_t *id)
{
    struct st_stmt *s = st_stmt(st, SQL_ATTEMPT_INSERT);
    if (!s)
        return ST_ERROR;
    st_bind_i64(s, 1, notice_id);
    st_bind_i64(s, 2, at);
    enum store_rc rc = st_step_write(st, s, "notice_attempt_insert");
    if (rc == ST_OK)
        *id = st_last_id(st);
    return rc;
}

enum store_rc store_notice_attempt_end(struct store *st, int64_t id, int64_t http_status, const char *error,
                                       int64_t took_ms)
{
    struct st_stmt *s = st_stmt(st, SQL_ATTEMPT_END);
    if (!s)
        return ST_ERROR;
    st_bind_i64(s, 1, http_status);
    st_bind_text(s, 2, error);
    st_bind_i64(s, 3, took_ms);
    st_bind_i64(s, 4, id);
    return st_step_write(st, s, "notice_attempt_end");
}

enum store_rc store_notices_list(struct store *st, const char *client_id, int max,
                                 void (*fn)(void *, const struct client_notice *), void *ctx)
{
    struct st_stmt *s = st_stmt(st, SQL_NOTICES_OF);
    if (!s)
        return ST_ERROR;
    st_bind_text(s, 1, client_id);
    st_bind_i64(s, 2, max);
    struct client_notice *n = malloc(sizeof *n); /* 8 KiB: not on the stack */
    int rc = ST_FAILED;
    while (n && (rc = st_step(s)) == ST_ROW) {
        read_notice(s, n);
        fn(ctx, n);
    }
    free(n);
    st_done(s);
    return rc == ST_DONE ? ST_OK : ST_ERROR;
}

enum store_rc store_notice_attempts(struct store *st, int64_t notice_id,
                                    void (*fn)(void *, const struct client_notice_attempt *), void *ctx)
{
    struct st_stmt *s = st_stmt(st, SQL_ATTEMPTS_OF);
    if (!s)
        return ST_ERROR;
    st_bind_i64(s, 1, notice_id);
    struct client_notice_attempt at;
    int rc;
    while ((rc = st_step(s)) == ST_ROW) {
        memset(&at, 0, sizeof at);
        at.id = st_col_i64(s, 0);
        at.notice_id = st_col_i64(s, 1);
        at.at = st_col_i64(s, 2);
        at.http_status = st_col_i64(s, 3);
        ST_COPY(s, 4, at.error);
        at.took_ms = st_col_i64(s, 5);
        fn(ctx, &at);
    }
    st_done(s);
    return rc == ST_DONE ? ST_OK : ST_ERROR;
}
