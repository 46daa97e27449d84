/* store/charges: integrators' Paystack charges, escrow, events; see
 * store/charges.h. */
#include "store/charges.h"

#include "store/store_int.h"
#include "util/str.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define EXTRA_COLS "booking_id, payer_ref, method, escrow, COALESCE(retry_of,0), retry_count, cancelled_at, " \
                   "cancel_reason, paid_after_cancel, completed_at"
#define ESCROW_COLS "id, client_id, booking_id, amount, phone, idem_key, idem_fp, reference, recipient_code, " \
                    "transfer_code, status, attempts, next_at, last_error, created_at, updated_at, released_at"
/* what a booking holds, and what is out of it; ?1 client, ?2 booking */
#define HELD "(SELECT COALESCE(SUM(amount),0) FROM payments WHERE client_id = ?1 AND booking_id = ?2 " \
             "AND escrow = 1 AND status = 'completed')"
#define OUT "(SELECT COALESCE(SUM(amount),0) FROM escrow_releases WHERE client_id = ?1 AND booking_id = ?2 " \
            "AND status IN ('queued','pending','success'))"

static const char SQL_SET[] = "UPDATE payments SET booking_id = ?, payer_ref = ?, method = ?, escrow = ?, "
                              "retry_of = NULLIF(CAST(? AS BIGINT),0), retry_count = ? WHERE id = ?";
static const char SQL_GET[] = "SELECT " EXTRA_COLS " FROM payments WHERE id = ?";
static const char SQL_LOCK_ORIGINAL[] = "SELECT id FROM payments WHERE id = ?" ST_FOR_UPDATE;
static const char SQL_RETRIES[] =
    "SELECT COUNT(*), COALESCE(SUM(CASE WHEN status IN ('pending','processing') THEN 1 ELSE 0 END),0) FROM payments "
    "WHERE client_id = ? AND retry_of = ?";
static const char SQL_CANCELLED[] = "UPDATE payments SET cancelled_at = ?, cancel_reason = ? WHERE id = ?";
static const char SQL_COMPLETED_AT[] = "UPDATE payments SET completed_at = ? WHERE id = ? AND completed_at = 0";
static const char SQL_PAID_LATE[] =
    "UPDATE payments SET status = 'completed', result_code = 0, result_desc = ?2, paid_amount = ?3, "
    "paid_after_cancel = ?5, completed_at = ?4, updated_at = ?4, version = version + 1 "
    "WHERE id = ?1 AND status IN ('cancelled','failed','timeout')";
static const char SQL_HISTORY_COUNT[] =
    "SELECT COUNT(*) FROM payments WHERE client_id = ?1 AND payer_ref = ?2 AND kind = 'charge' "
    "AND (?3 = 1 OR status IN (?4, ?5))";
static const char SQL_HISTORY[] =
    "SELECT id FROM payments WHERE client_id = ?1 AND payer_ref = ?2 AND kind = 'charge' "
    "AND (?3 = 1 OR status IN (?4, ?5)) ORDER BY created_at DESC, id DESC LIMIT ?6 OFFSET ?7";
static const char SQL_BALANCE[] = "SELECT " HELD ", " OUT;
/* A key used a moment ago (by a request that got in between our look-up
 * and this statement) still inserts, so that the key's uniqueness answers
 * it as a repeat, whatever the booking holds now. */
static const char SQL_LOCK_CLIENT[] = "SELECT id FROM clients WHERE id = ?" ST_FOR_UPDATE;
static const char SQL_RESERVE[] =
    "INSERT INTO escrow_releases (client_id, booking_id, amount, phone, idem_key, idem_fp, reference, status, "
    "next_at, created_at, updated_at) SELECT ?1, ?2, CAST(?3 AS BIGINT), ?4, ?5, ?6, ?7, 'queued', "
    "CAST(?9 AS BIGINT), CAST(?8 AS BIGINT), CAST(?8 AS BIGINT) WHERE " HELD " - " OUT " >= CAST(?3 AS BIGINT) "
    "OR EXISTS (SELECT 1 FROM escrow_releases WHERE client_id = ?1 AND idem_key = ?5)";
static const char SQL_ESCROW_BY_KEY[] = "SELECT " ESCROW_COLS " FROM escrow_releases WHERE client_id = ? AND idem_key = ?";
static const char SQL_ESCROW_BY_REF[] = "SELECT " ESCROW_COLS " FROM escrow_releases WHERE reference = ?";
static const char SQL_ESCROW_SAVE[] =
    "UPDATE escrow_releases SET status = ?2, recipient_code = ?3, transfer_code = ?4, attempts = ?5, next_at = ?6, "
    "last_error = ?7, released_at = ?8, updated_at = ?9, claimed_by = '' WHERE id = ?1 "
    "AND (status IN ('queued','pending') OR (status = 'success' AND ?2 = 'reversed'))";
static const char SQL_ESCROW_DUE[] =
    "UPDATE escrow_releases SET next_at = ?3, claimed_by = ?4 WHERE id IN (SELECT id FROM escrow_releases WHERE "
    "status IN ('queued','pending') AND next_at <= ?1 ORDER BY next_at, id LIMIT ?2" ST_SKIP_LOCKED ") "
    "RETURNING " ESCROW_COLS;
static const char SQL_EVENT_ADD[] = "INSERT INTO paystack_events (event_key, event, reference, body, received_at) "
                                    "VALUES (?,?,?,?,?) ON CONFLICT(event_key) DO NOTHING RETURNING id";
static const char SQL_EVENT_OUTCOME[] = "UPDATE paystack_events SET outcome = ? WHERE id = ?";
static const char SQL_EVENT_DROP[] = "DELETE FROM paystack_events WHERE id = ?";

enum store_rc store_charge_set(struct store *st, int64_t id, const struct charge_extra *x)
{
    struct st_stmt *s = st_stmt(st, SQL_SET);
    if (!s)
        return ST_ERROR;
    st_bind_text(s, 1, x->booking_id);
    st_bind_text(s, 2, x->payer_ref);
    st_bind_text(s, 3, x->method);
    st_bind_i64(s, 4, x->escrow);
    st_bind_i64(s, 5, x->retry_of);
    st_bind_i64(s, 6, x->retry_count);
    st_bind_i64(s, 7, id);
    return st_changed_one(st, st_step_write(st, s, "charge_set"));
}

enum store_rc store_charge_get(struct store *st, int64_t id, struct charge_extra *x)
{
    struct st_stmt *s = st_stmt(st, SQL_GET);
    if (!s)
        return ST_ERROR;
    st_bind_i64(s, 1, id);
    int rc = st_step(s);
    if (rc == ST_ROW) {
        memset(x, 0, sizeof *x);
        ST_COPY(s, 0, x->booking_id);
        ST_COPY(s, 1, x->payer_ref);
        ST_COPY(s, 2, x->method);
        x->escrow = st_col_i64(s, 3) != 0;
        x->retry_of = st_col_i64(s, 4);
        x->retry_count = st_col_i64(s, 5);
        x->cancelled_at = st_col_i64(s, 6);
        ST_COPY(s, 7, x->cancel_reason);
        x->paid_after_cancel = st_col_i64(s, 8) != 0;
        x->completed_at = st_col_i64(s, 9);
    }
    st_done(s);
    return st_row_rc(rc);
}

enum store_rc store_charge_retries(struct store *st, const char *client_id, int64_t original, int64_t *n,
                                   int64_t *open)
{
    /* the original's row locked first: retries counted and added by two
     * lipads at once wait for each other (PostgreSQL; SQLite's write
     * transaction keeps every other writer out already) */
    struct st_stmt *s = st_stmt(st, SQL_LOCK_ORIGINAL);
    if (!s)
        return ST_ERROR;
    st_bind_i64(s, 1, original);
    int lrc = st_step(s);
    st_done(s);
    if (lrc != ST_ROW && lrc != ST_DONE)
        return ST_ERROR;
    s = st_stmt(st, SQL_RETRIES);
    if (!s)
        return ST_ERROR;
    st_bind_text(s, 1, client_id);
    st_bind_i64(s, 2, original);
    int rc = st_step(s);
    *n = rc == ST_ROW ? st_col_i64(s, 0) : 0;
    *open = rc == ST_ROW ? st_col_i64(s, 1) : 0;
    st_done(s);
    return rc == ST_ROW ? ST_OK : ST_ERROR;
}

enum store_rc store_charge_cancelled(struct store *st, int64_t id, int64_t at, const char *reason)
{
    struct st_stmt *s = st_stmt(st, SQL_CANCELLED);
    if (!s)
        return ST_ERROR;
    st_bind_i64(s, 1, at);
    st_bind_text(s, 2, reason);
    st_bind_i64(s, 3, id);
    return st_changed_one(st, st_step_write(st, s, "charge_cancelled"));
}

enum store_rc store_charge_completed_at(struct store *st, int64_t id, int64_t at)
{
    struct st_stmt *s = st_stmt(st, SQL_COMPLETED_AT);
    if (!s)
        return ST_ERROR;
    st_bind_i64(s, 1, at);
    st_bind_i64(s, 2, id);
    return st_step_write(st, s, "charge_completed_at");
}

enum store_rc store_charge_paid_late(struct store *st, int64_t id, int64_t paid_amount, const char *desc,
                                     int64_t at, bool after_cancel)
{
    struct st_stmt *s = st_stmt(st, SQL_PAID_LATE);
    if (!s)
        return ST_ERROR;
    st_bind_i64(s, 1, id);
    st_bind_text(s, 2, desc);
    st_bind_i64(s, 3, paid_amount);
    st_bind_i64(s, 4, at);
    st_bind_i64(s, 5, after_cancel);
    return st_changed_one(st, st_step_write(st, s, "charge_paid_late"));
}

enum store_rc store_charge_history(struct store *st, const char *client_id, const char *payer_ref,
                                   const char *const *statuses, int64_t limit, int64_t offset,
                                   void (*fn)(void *, const struct payment *), void *ctx, int64_t *total)
{
    /* one or two statuses, bound as such: the same SQL on every backend */
    bool any = !statuses || !statuses[0];
    const char *s1 = any ? "" : statuses[0], *s2 = any || !statuses[1] ? s1 : statuses[1];
    if (!any && statuses[1] && statuses[2])
        return ST_ERROR;
    struct st_stmt *s = st_stmt(st, SQL_HISTORY_COUNT);
    if (!s)
        return ST_ERROR;
    st_bind_text(s, 1, client_id);
    st_bind_text(s, 2, payer_ref);
    st_bind_i64(s, 3, any);
    st_bind_text(s, 4, s1);
    st_bind_text(s, 5, s2);
    int rc = st_step(s);
    *total = rc == ST_ROW ? st_col_i64(s, 0) : 0;
    st_done(s);
    if (rc != ST_ROW)
        return ST_ERROR;
    s = st_stmt(st, SQL_HISTORY);
    if (!s)
        return ST_ERROR;
    st_bind_text(s, 1, client_id);
    st_bind_text(s, 2, payer_ref);
    st_bind_i64(s, 3, any);
    st_bind_text(s, 4, s1);
    st_bind_text(s, 5, s2);
    st_bind_i64(s, 6, limit);
    st_bind_i64(s, 7, offset);
    int64_t ids[200];
    int n = 0;
    while (n < 200 && (rc = st_step(s)) == ST_ROW)
        ids[n++] = st_col_i64(s, 0);
    st_done(s);
    if (n < 200 && rc != ST_DONE)
        return ST_ERROR;
    struct payment *p = malloc(sizeof *p);
    if (!p)
        return ST_ERROR;
    enum store_rc out = ST_OK;
    for (int i = 0; i < n && out == ST_OK; i++)
        if ((out = store_payment_get(st, ids[i], p)) == ST_OK)
            fn(ctx, p);
    free(p);
    return out;
}

/* ---- escrow ---- */

static void read_escrow(struct st_stmt *s, struct escrow_release *r)
{
    memset(r, 0, sizeof *r);
    int i = 0;
    r->id = st_col_i64(s, i++);
    ST_COPY(s, i++, r->client_id);
    ST_COPY(s, i++, r->booking_id);
    r->amount = st_col_i64(s, i++);
    ST_COPY(s, i++, r->phone);
    ST_COPY(s, i++, r->idem_key);
    ST_COPY(s, i++, r->idem_fp);
    ST_COPY(s, i++, r->reference);
    ST_COPY(s, i++, r->recipient_code);
    ST_COPY(s, i++, r->transfer_code);
    ST_COPY(s, i++, r->status);
    r->attempts = st_col_i64(s, i++);
    r->next_at = st_col_i64(s, i++);
    ST_COPY(s, i++, r->last_error);
    r->created_at = st_col_i64(s, i++);
    r->updated_at = st_col_i64(s, i++);
    r->released_at = st_col_i64(s, i++);
}

static enum store_rc one_escrow(struct st_stmt *s, struct escrow_release *r)
{
    int rc = st_step(s);
    if (rc == ST_ROW)
        read_escrow(s, r);
    st_done(s);
    return st_row_rc(rc);
}

enum store_rc store_escrow_balance(struct store *st, const char *client_id, const char *booking_id,
                                   int64_t *held, int64_t *out)
{
    struct st_stmt *s = st_stmt(st, SQL_BALANCE);
    if (!s)
        return ST_ERROR;
    st_bind_text(s, 1, client_id);
    st_bind_text(s, 2, booking_id);
    int rc = st_step(s);
    if (rc == ST_ROW) {
        *held = st_col_i64(s, 0);
        *out = st_col_i64(s, 1);
    }
    st_done(s);
    return rc == ST_ROW ? ST_OK : ST_ERROR;
}

static enum store_rc escrow_by_key(struct store *st, const char *client_id, const char *key,
                                   struct escrow_release *r)
{
    struct st_stmt *s = st_stmt(st, SQL_ESCROW_BY_KEY);
    if (!s)
        return ST_ERROR;
    st_bind_text(s, 1, client_id);
    st_bind_text(s, 2, key);
    return one_escrow(s, r);
}

enum store_rc store_escrow_reserve(struct store *st, struct escrow_release *r)
{
    /* the key first: a repeat is answered with its release even when the
     * booking holds nothing more now */
    enum store_rc rc = escrow_by_key(st, r->client_id, r->idem_key, r);
    if (rc != ST_NOT_FOUND)
        return rc == ST_OK ? ST_CONFLICT : rc;
    /* one transaction, the client's row locked first: releases of one
     * client reserved at once, by one lipad or several, are weighed
     * against what is held one after the other (PostgreSQL's snapshots
     * would otherwise let each see the booking as it was) */
    bool own = !st_in_tx(st); /* else the caller's transaction holds it all */
    if (own && store_begin(st) != ST_OK)
        return ST_ERROR;
    struct st_stmt *s = st_stmt(st, SQL_LOCK_CLIENT);
    int lrc = ST_FAILED;
    if (s) {
        st_bind_text(s, 1, r->client_id);
        lrc = st_step(s);
        st_done(s);
    }
    if ((lrc != ST_ROW && lrc != ST_DONE) || !(s = st_stmt(st, SQL_RESERVE))) {
        if (own)
            store_rollback(st);
        return ST_ERROR;
    }
    int64_t now = now_ms();
    st_bind_text(s, 1, r->client_id);
    st_bind_text(s, 2, r->booking_id);
    st_bind_i64(s, 3, r->amount);
    st_bind_text(s, 4, r->phone);
    st_bind_text(s, 5, r->idem_key);
    st_bind_text(s, 6, r->idem_fp);
    st_bind_text(s, 7, r->reference);
    st_bind_i64(s, 8, now);
    st_bind_i64(s, 9, r->next_at > now ? r->next_at : now);
    rc = st_step_write(st, s, "escrow_reserve");
    int changed = rc == ST_OK ? st_changes(st) : 0;
    if (own && rc != ST_OK) {
        store_rollback(st);
    } else if (own && store_commit(st) != ST_OK) {
        store_rollback(st);
        return ST_ERROR;
    }
    if (rc == ST_CONFLICT) /* the same key, a moment ago */
        return escrow_by_key(st, r->client_id, r->idem_key, r) == ST_OK ? ST_CONFLICT : ST_ERROR;
    if (rc != ST_OK)
        return rc;
    if (changed == 0)
        return ST_NOT_FOUND;
    return escrow_by_key(st, r->client_id, r->idem_key, r);
}

enum store_rc store_escrow_by_reference(struct store *st, const char *ref, struct escrow_release *r)
{
    struct st_stmt *s = st_stmt(st, SQL_ESCROW_BY_REF);
    if (!s)
        return ST_ERROR;
    st_bind_text(s, 1, ref);
    return one_escrow(s, r);
}

enum store_rc store_escrow_save(struct store *st, struct escrow_release *r)
{
    struct st_stmt *s = st_stmt(st, SQL_ESCROW_SAVE);
    if (!s)
        return ST_ERROR;
    r->updated_at = now_ms();
    st_bind_i64(s, 1, r->id);
    st_bind_text(s, 2, r->status);
    st_bind_text(s, 3, r->recipient_code);
    st_bind_text(s, 4, r->transfer_code);
    st_bind_i64(s, 5, r->attempts);
    st_bind_i64(s, 6, r->next_at);
    st_bind_text(s, 7, r->last_error);
    st_bind_i64(s, 8, r->released_at);
    st_bind_i64(s, 9, r->updated_at);
    return st_changed_one(st, st_step_write(st, s, "escrow_save"));
}

static void read_escrow_row(struct st_stmt *s, void *row)
{
    read_escrow(s, row);
}

int store_escrow_due(struct store *st, int64_t now, struct escrow_release *out, int max)
{
    return st_claim(st, SQL_ESCROW_DUE, now, max, out, sizeof *out, read_escrow_row);
}

/* ---- Paystack events ---- */

enum store_rc store_paystack_event_add(struct store *st, const char *event_key, const char *event,
                                       const char *reference, const char *body, int64_t *id)
{
    struct st_stmt *s = st_stmt(st, SQL_EVENT_ADD);
    if (!s)
        return ST_ERROR;
    st_bind_text(s, 1, event_key);
    st_bind_text(s, 2, event);
    st_bind_text(s, 3, reference);
    st_bind_text(s, 4, body);
    st_bind_i64(s, 5, now_ms());
    enum store_rc rc = st_step_write(st, s, "paystack_event");
    if (rc != ST_OK)
        return rc;
    if (st_changes(st) == 0)
        return ST_CONFLICT;
    *id = st_last_id(st);
    return ST_OK;
}

enum store_rc store_paystack_event_outcome(struct store *st, int64_t id, const char *outcome)
{
    struct st_stmt *s = st_stmt(st, SQL_EVENT_OUTCOME);
    if (!s)
        return ST_ERROR;
    st_bind_text(s, 1, outcome);
    st_bind_i64(s, 2, id);
    return st_step_write(st, s, "paystack_event_outcome");
}

enum store_rc store_paystack_event_drop(struct store *st, int64_t id)
{
    struct st_stmt *s = st_stmt(st, SQL_EVENT_DROP);
    if (!s)
        return ST_ERROR;
    st_bind_i64(s, 1, id);
    return st_step_write(st, s, "paystack_event_drop");
}
