/* store/payments: payments of every kind, the raw M-Pesa callbacks, and
 * the top-ups and settling the workers take from them (store.h, payments). */
#include "store/store.h"

#include "store/payments.h"
#include "store/store_int.h"
#include "util/aside.h"
#include "util/log.h"
#include "util/str.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PAY_COLS "id, kind, origin, COALESCE(idem_key,''), COALESCE(user_id,0), phone, COALESCE(meter_id,''), " \
                 "amount, energy, account_reference, description, status, COALESCE(result_code,-1), "   \
                 "result_desc, COALESCE(merchant_request_id,''), COALESCE(checkout_request_id,''), "   \
                 "response_code, response_description, customer_message, mpesa_receipt, "              \
                 "COALESCE(paid_amount,-1), attempts, next_at, last_error, topup_status, "              \
                 "topup_attempts, topup_next_at, topup_error, COALESCE(token_minute,-1), version, "     \
                 "created_at, updated_at, provider, COALESCE(reference,''), liters, currency, topup_sent_at, " \
                 "COALESCE(idem_fp,''), COALESCE(client_id,''), COALESCE(package_id,''), "        \
                 "COALESCE(transaction_id,''), note, transaction_at"


static const char SQL_CB_APPLIED[] = "UPDATE mpesa_callbacks SET applied = 1 WHERE checkout_request_id = ?";
static const char SQL_CB_INSERT[] = "INSERT INTO mpesa_callbacks (checkout_request_id, result_code, body, received_at) VALUES (?,?,?,?) RETURNING id";
static const char SQL_CB_NEW[] = "SELECT id, body FROM mpesa_callbacks WHERE applied = 0 ORDER BY id LIMIT ?";
static const char SQL_CB_PENDING[] = "SELECT body FROM mpesa_callbacks WHERE checkout_request_id = ? AND applied IN "
        "(0,2) ORDER BY id LIMIT 1";
static const char SQL_CB_WAITING[] = "UPDATE mpesa_callbacks SET applied = 2 WHERE id = ? AND applied = 0";
static const char SQL_PAY_BY_REF[] = "SELECT " PAY_COLS " FROM payments WHERE reference = ?";
static const char SQL_PAY_BY_CHECKOUT[] = "SELECT " PAY_COLS " FROM payments WHERE checkout_request_id = ?";
static const char SQL_PAY_BY_TRANSACTION[] = "SELECT " PAY_COLS " FROM payments WHERE transaction_id = ?";
static const char SQL_PAY_BY_IDEM[] = "SELECT " PAY_COLS " FROM payments WHERE idem_key = ?";
static const char SQL_PAY_DUE[] = "SELECT " PAY_COLS
        " FROM payments WHERE status IN ('pending','processing') AND provider = ?3 AND "
        "next_at <= ?1 ORDER BY next_at LIMIT ?2";
static const char SQL_PAY_DUE_KIND[] = "SELECT " PAY_COLS
        " FROM payments WHERE status IN ('pending','processing') AND provider = ?3 AND kind = ?4 AND "
        "next_at <= ?1 ORDER BY next_at LIMIT ?2";
static const char SQL_TOPUP_DUE[] = "SELECT " PAY_COLS
        " FROM payments WHERE topup_status IN ('queued','sending','checking') AND "
        "topup_next_at <= ? ORDER BY topup_next_at LIMIT ?";
/* a payment due already keeps its next_at and version (no save of the
 * payment worker's is refused for it), but is counted: it is pending */
static const char SQL_PAY_DUE_NOW[] = "UPDATE payments SET version = version + CASE WHEN next_at > ?1 THEN 1 ELSE 0 END, "
        "next_at = CASE WHEN next_at > ?1 THEN ?1 ELSE next_at END WHERE id = ?2 AND status = 'pending'";
static const char SQL_PAY_FINISH[] = "UPDATE payments SET status=?, result_code=?, result_desc=?, mpesa_receipt=?, "
        "paid_amount=NULLIF(CAST(? AS BIGINT),-1), last_error=?, topup_status=?, topup_next_at=?, "
        "token_minute=NULLIF(CAST(? AS BIGINT),-1), transaction_at=?, updated_at=?, version=version+1 WHERE id=? AND "
        "status IN ('pending','processing')";
static const char SQL_PAY_GET[] = "SELECT " PAY_COLS " FROM payments WHERE id = ?";
static const char SQL_PAY_INSERT[] = "INSERT INTO payments (kind, origin, idem_key, user_id, phone, meter_id, "
        "amount, energy, account_reference, description, status, next_at, created_at, "
        "updated_at, provider, reference, liters, currency, idem_fp, client_id, package_id, transaction_id, "
        "note) VALUES (?,?,?,?,?,?,?,?,?,?,'pending',?,?,?,?,NULLIF(?,''),?,?,NULLIF(?,''),NULLIF(?,''),"
        "NULLIF(?,''),NULLIF(?,''),?) ON CONFLICT(idem_key) DO NOTHING RETURNING " PAY_COLS;
static const char SQL_PAY_LIST[] = "SELECT " PAY_COLS " FROM payments WHERE kind = ? ORDER BY id DESC";
static const char SQL_PAY_SAVE[] = "UPDATE payments SET status=?, result_code=?, result_desc=?, "
        "merchant_request_id=NULLIF(?,''), checkout_request_id=NULLIF(?,''), "
        "response_code=?, response_description=?, customer_message=?, mpesa_receipt=?, "
        "paid_amount=NULLIF(CAST(? AS BIGINT),-1), attempts=?, next_at=?, last_error=?, topup_status=?, "
        "topup_attempts=?, topup_next_at=?, topup_error=?, token_minute=NULLIF(CAST(? AS BIGINT),-1), "
        "energy=?, topup_sent_at=?, transaction_at=?, updated_at=?, topup_by=?, version=version+1 WHERE id=? AND "
        "version=?";
static const char SQL_TOPUP_RECOVER[] = "UPDATE payments SET topup_status = 'checking', topup_error = ?1, version = "
        "version + 1 WHERE topup_status IN ('queued','sending','checking') AND topup_status = 'sending' AND "
        "(?2 = 1 OR topup_by = ?3)";
static const char SQL_TOPUP_TRIES[] = "SELECT " PAY_COLS
        " FROM payments WHERE meter_id = ?1 AND status = 'completed' AND created_at <= "
        "?4 AND energy = ?2 AND topup_status IN ('done','sending','checking') AND "
        "topup_sent_at BETWEEN ?3 AND ?4 ORDER BY topup_sent_at, id LIMIT ?5";

void st_read_payment(struct st_stmt *s, struct payment *p)
{
    memset(p, 0, sizeof *p);
    int i = 0;
    p->id = st_col_i64(s, i++);
    ST_COPY(s, i++, p->kind);
    ST_COPY(s, i++, p->origin);
    ST_COPY(s, i++, p->idem_key);
    p->user_id = st_col_i64(s, i++);
    ST_COPY(s, i++, p->phone);
    ST_COPY(s, i++, p->meter_id);
    p->amount = st_col_i64(s, i++);
    p->energy = st_col_i64(s, i++);
    ST_COPY(s, i++, p->account_reference);
    ST_COPY(s, i++, p->description);
    ST_COPY(s, i++, p->status);
    p->result_code = st_col_i64(s, i++);
    ST_COPY(s, i++, p->result_desc);
    ST_COPY(s, i++, p->merchant_request_id);
    ST_COPY(s, i++, p->checkout_request_id);
    ST_COPY(s, i++, p->response_code);
    ST_COPY(s, i++, p->response_description);
    ST_COPY(s, i++, p->customer_message);
    ST_COPY(s, i++, p->mpesa_receipt);
    p->paid_amount = st_col_i64(s, i++);
    p->attempts = st_col_i64(s, i++);
    p->next_at = st_col_i64(s, i++);
    ST_COPY(s, i++, p->last_error);
    ST_COPY(s, i++, p->topup_status);
    p->topup_attempts = st_col_i64(s, i++);
    p->topup_next_at = st_col_i64(s, i++);
    ST_COPY(s, i++, p->topup_error);
    p->token_minute = st_col_i64(s, i++);
    p->version = st_col_i64(s, i++);
    p->created_at = st_col_i64(s, i++);
    p->updated_at = st_col_i64(s, i++);
    ST_COPY(s, i++, p->provider);
    ST_COPY(s, i++, p->reference);
    p->liters = st_col_i64(s, i++);
    ST_COPY(s, i++, p->currency);
    p->topup_sent_at = st_col_i64(s, i++);
    ST_COPY(s, i++, p->idem_fp);
    ST_COPY(s, i++, p->client_id);
    ST_COPY(s, i++, p->package_id);
    ST_COPY(s, i++, p->transaction_id);
    ST_COPY(s, i++, p->note);
    p->transaction_at = st_col_i64(s, i++);
}

/* ---- payments ---- */

static void read_payment(struct st_stmt *s, void *row)
{
    st_read_payment(s, row);
}

static enum store_rc payment_one(struct st_stmt *s, struct payment *p)
{
    int rc = st_step(s);
    if (rc == ST_ROW)
        st_read_payment(s, p);
    st_done(s);
    return st_row_rc(rc);
}

/* The parameters of SQL_PAY_INSERT for p, numbered from base + 1 (one
 * tuple of a many-row INSERT: st_payments_create_many). */
#define PAY_INSERT_PARAMS 22
static void bind_new(struct st_stmt *s, int base, const struct payment *p, int64_t now)
{
    st_bind_text(s, base + 1, p->kind[0] ? p->kind : "electricity");
    st_bind_text(s, base + 2, p->origin);
    if (p->idem_key[0])
        st_bind_text(s, base + 3, p->idem_key);
    else
        st_bind_null(s, base + 3);
    if (p->user_id)
        st_bind_i64(s, base + 4, p->user_id);
    else
        st_bind_null(s, base + 4);
    st_bind_text(s, base + 5, p->phone);
    if (p->meter_id[0])
        st_bind_text(s, base + 6, p->meter_id);
    else
        st_bind_null(s, base + 6);
    st_bind_i64(s, base + 7, p->amount);
    st_bind_i64(s, base + 8, p->energy);
    st_bind_text(s, base + 9, p->account_reference);
    st_bind_text(s, base + 10, p->description);
    int64_t created = p->created_at > 0 ? p->created_at : now; /* taken in earlier: store_take_payment */
    st_bind_i64(s, base + 11, p->next_at ? p->next_at : created);
    st_bind_i64(s, base + 12, created);
    st_bind_i64(s, base + 13, created);
    st_bind_text(s, base + 14, p->provider[0] ? p->provider : "mpesa");
    st_bind_text(s, base + 15, p->reference);
    st_bind_i64(s, base + 16, p->liters);
    st_bind_text(s, base + 17, p->currency[0] ? p->currency : "KES");
    st_bind_text(s, base + 18, p->idem_fp);
    st_bind_text(s, base + 19, p->client_id);
    st_bind_text(s, base + 20, p->package_id);
    st_bind_text(s, base + 21, p->transaction_id);
    st_bind_text(s, base + 22, p->note);
}

enum store_rc store_payment_create(struct store *st, struct payment *p)
{
    struct st_stmt *s = st_stmt(st, SQL_PAY_INSERT);
    if (!s)
        return ST_ERROR;
    bind_new(s, 0, p, now_ms());
    /* the stored row comes back whole into p: no SELECT by id after it
     * (p is left as it was when no row came back) */
    bool got = false;
    enum store_rc rc = st_step_write_row(st, s, "payment_insert", read_payment, p, &got);
    if (rc != ST_OK) /* a constraint here is a foreign key or CHECK, not the idem_key */
        return rc == ST_CONFLICT ? ST_NOT_FOUND : rc;
    if (got)
        return ST_OK;
    /* idem_key seen before: hand back that row */
    s = st_stmt(st, SQL_PAY_BY_IDEM);
    if (!s)
        return ST_ERROR;
    st_bind_text(s, 1, p->idem_key);
    rc = payment_one(s, p);
    return rc == ST_OK ? ST_CONFLICT : rc;
}

/* Many rows in one INSERT: SQL_PAY_INSERT with MANY_SIZES[z] tuples,
 * built once; a connection prepares two statements more, not one per
 * batch size. At most four rows a statement: on SQLite a row costs the
 * committer 15 - 25 us, and it steps aside between statements (util/aside.h)
 * as it did between purchases; statements of 64 rows held a core for a
 * millisecond and more, in front of the hops (make bench: p99 3.5 - 5.9 ms
 * against 2.4 - 3.8, three alternating pairs). */
#define MANY_MAX 4
static const int MANY_SIZES[] = {MANY_MAX, 2};
#define NSIZES (int)(sizeof MANY_SIZES / sizeof MANY_SIZES[0])
static char *many_sql[NSIZES];
static pthread_once_t many_once = PTHREAD_ONCE_INIT;

static void many_build(void)
{
    const char *values = strstr(SQL_PAY_INSERT, " VALUES (") + 8; /* at its "(" */
    const char *tail = strstr(values, ") ON CONFLICT") + 1;
    size_t head = (size_t)(values - SQL_PAY_INSERT), tuple = (size_t)(tail - values), rest = strlen(tail);
    for (int z = 0; z < NSIZES; z++) {
        size_t k = (size_t)MANY_SIZES[z];
        char *q = malloc(head + k * (tuple + 1) + rest + 1);
        if (!q)
            continue; /* left NULL: the rows go one by one */
        char *w = q;
        memcpy(w, SQL_PAY_INSERT, head);
        w += head;
        for (size_t i = 0; i < k; i++) {
            if (i)
                *w++ = ',';
            memcpy(w, values, tuple);
            w += tuple;
        }
        memcpy(w, tail, rest + 1);
        many_sql[z] = q;
    }
}

/* rows[0..k) in one statement of k tuples; each row stored comes back
 * whole into its payment, found by its key (the order of RETURNING is
 * not promised). */
static enum store_rc create_k(struct store *st, const char *sql, struct payment **rows, int k, int64_t now)
{
    struct st_stmt *s = st_stmt(st, sql);
    if (!s)
        return ST_ERROR;
    for (int r = 0; r < k; r++)
        bind_new(s, r * PAY_INSERT_PARAMS, rows[r], now);
    bool read[MANY_MAX] = {false};
    int got = 0, rc;
    while ((rc = st_step(s)) == ST_ROW) {
        char key[sizeof rows[0]->idem_key];
        ST_COPY(s, 3, key);
        int at = -1;
        for (int r = 0; at < 0 && r < k; r++)
            if (!read[r] && !strcmp(rows[r]->idem_key, key))
                at = r;
        if (at < 0) {
            rc = 0; /* a key not asked for: cannot be */
            break;
        }
        st_read_payment(s, rows[at]);
        read[at] = true;
        got++;
    }
    enum store_rc out = ST_OK;
    if (rc == ST_CONSTRAINT) {
        out = ST_NOT_FOUND; /* a foreign key or CHECK, as store_payment_create says */
    } else if (rc != ST_DONE) {
        log_error("store.write", "what=payment_insert_many error=\"%s\"",
                  rc ? s->be->errmsg(s) : "a row came back for a key not asked for");
        out = ST_ERROR;
    } else if (got < k) {
        out = ST_CONFLICT; /* a key seen before (or twice in rows) */
    }
    st_done(s);
    return out;
}

enum store_rc st_payments_create_many(struct store *st, struct payment **rows, int n)
{
    pthread_once(&many_once, many_build);
    int64_t now = now_ms();
    for (int i = 0; i < n;) {
        int z = 0;
        while (z < NSIZES && (MANY_SIZES[z] > n - i || !many_sql[z]))
            z++;
        enum store_rc rc;
        if (z == NSIZES) {
            rc = store_payment_create(st, rows[i]);
            i++;
        } else {
            rc = create_k(st, many_sql[z], rows + i, MANY_SIZES[z], now);
            i += MANY_SIZES[z];
        }
        if (rc != ST_OK)
            return rc;
        step_aside(); /* holding the writer lock only */
    }
    return ST_OK;
}

enum store_rc store_payment_get(struct store *st, int64_t id, struct payment *p)
{
    struct st_stmt *s = st_stmt(st, SQL_PAY_GET);
    if (!s)
        return ST_ERROR;
    st_bind_i64(s, 1, id);
    return payment_one(s, p);
}

enum store_rc store_payment_by_reference(struct store *st, const char *ref, struct payment *p)
{
    struct st_stmt *s = st_stmt(st, SQL_PAY_BY_REF);
    if (!s)
        return ST_ERROR;
    st_bind_text(s, 1, ref);
    return payment_one(s, p);
}

enum store_rc store_payment_by_checkout(struct store *st, const char *checkout_id, struct payment *p)
{
    struct st_stmt *s = st_stmt(st, SQL_PAY_BY_CHECKOUT);
    if (!s)
        return ST_ERROR;
    st_bind_text(s, 1, checkout_id);
    return payment_one(s, p);
}

enum store_rc store_payment_by_transaction(struct store *st, const char *transaction_id, struct payment *p)
{
    struct st_stmt *s = st_stmt(st, SQL_PAY_BY_TRANSACTION);
    if (!s)
        return ST_ERROR;
    st_bind_text(s, 1, transaction_id);
    return payment_one(s, p);
}

enum store_rc store_payments_list(struct store *st, const char *kind,
                                  void (*fn)(void *, const struct payment *), void *ctx)
{
    struct st_stmt *s = st_stmt(st, SQL_PAY_LIST);
    if (!s)
        return ST_ERROR;
    st_bind_text(s, 1, kind);
    struct payment *p = malloc(sizeof *p);
    int rc = ST_FAILED;
    while (p && (rc = st_step(s)) == ST_ROW) {
        st_read_payment(s, p);
        fn(ctx, p);
    }
    free(p);
    st_done(s);
    return rc == ST_DONE ? ST_OK : ST_ERROR;
}

/* Rows of a due-work query: ?1 now, ?2 the limit, ?3 the provider and ?4
 * the kind (when the query has them). */
static int payments_due(struct store *st, const char *sql, const char *provider, const char *kind, int64_t now,
                        struct payment *out, int max)
{
    struct st_stmt *s = st_stmt(st, sql);
    if (!s)
        return -1;
    st_bind_i64(s, 1, now);
    st_bind_i64(s, 2, max);
    if (provider)
        st_bind_text(s, 3, provider);
    if (kind)
        st_bind_text(s, 4, kind);
    int n = 0;
    while (n < max && st_step(s) == ST_ROW)
        st_read_payment(s, &out[n++]);
    st_done(s);
    return n;
}

int store_payments_due(struct store *st, const char *provider, int64_t now, struct payment *out, int max)
{
    return payments_due(st, SQL_PAY_DUE, provider, NULL, now, out, max);
}

int store_payments_due_kind(struct store *st, const char *provider, const char *kind, int64_t now,
                            struct payment *out, int max)
{
    return payments_due(st, SQL_PAY_DUE_KIND, provider, kind, now, out, max);
}

int store_topups_due(struct store *st, int64_t now, struct payment *out, int max)
{
    return payments_due(st, SQL_TOPUP_DUE, NULL, NULL, now, out, max);
}

enum store_rc store_topups_recover(struct store *st, const char *why)
{
    /* On a database other lipads share, a row 'sending' may be another
     * instance's call in flight: only this instance's own are taken
     * (topup_by). One whose instance died comes due when a lost answer may
     * be checked (topup_next_at), and the worker checks a due 'sending'
     * row against the cloud's log as it does a 'checking' one. */
    struct st_stmt *s = st_stmt(st, SQL_TOPUP_RECOVER);
    if (!s)
        return ST_ERROR;
    st_bind_text(s, 1, why);
    st_bind_i64(s, 2, st->be->local);
    st_bind_text(s, 3, st->instance);
    return st_step_write(st, s, "topups_recover");
}

int store_topup_tries(struct store *st, const char *meter_id, int64_t energy, int64_t from, int64_t to,
                      struct payment *out, int max)
{
    struct st_stmt *s = st_stmt(st, SQL_TOPUP_TRIES);
    if (!s)
        return -1;
    st_bind_text(s, 1, meter_id);
    st_bind_i64(s, 2, energy);
    st_bind_i64(s, 3, from);
    st_bind_i64(s, 4, to);
    st_bind_i64(s, 5, max);
    int n = 0, rc = ST_DONE;
    while (n < max && (rc = st_step(s)) == ST_ROW)
        st_read_payment(s, &out[n++]);
    bool failed = n < max && rc != ST_DONE;
    st_done(s);
    return failed ? -1 : n;
}

enum store_rc store_payment_due_now(struct store *st, int64_t id, int64_t now)
{
    struct st_stmt *s = st_stmt(st, SQL_PAY_DUE_NOW);
    if (!s)
        return ST_ERROR;
    st_bind_i64(s, 1, now);
    st_bind_i64(s, 2, id);
    enum store_rc rc = st_step_write(st, s, "payment_due_now");
    return st_changed_one(st, rc);
}

enum store_rc store_payment_save(struct store *st, struct payment *p)
{
    struct st_stmt *s = st_stmt(st, SQL_PAY_SAVE);
    if (!s)
        return ST_ERROR;
    int i = 1;
    st_bind_text(s, i++, p->status);
    if (p->result_code >= 0)
        st_bind_i64(s, i++, p->result_code);
    else
        st_bind_null(s, i++);
    st_bind_text(s, i++, p->result_desc);
    st_bind_text(s, i++, p->merchant_request_id);
    st_bind_text(s, i++, p->checkout_request_id);
    st_bind_text(s, i++, p->response_code);
    st_bind_text(s, i++, p->response_description);
    st_bind_text(s, i++, p->customer_message);
    st_bind_text(s, i++, p->mpesa_receipt);
    st_bind_i64(s, i++, p->paid_amount);
    st_bind_i64(s, i++, p->attempts);
    st_bind_i64(s, i++, p->next_at);
    st_bind_text(s, i++, p->last_error);
    st_bind_text(s, i++, p->topup_status);
    st_bind_i64(s, i++, p->topup_attempts);
    st_bind_i64(s, i++, p->topup_next_at);
    st_bind_text(s, i++, p->topup_error);
    st_bind_i64(s, i++, p->token_minute);
    st_bind_i64(s, i++, p->energy);
    st_bind_i64(s, i++, p->topup_sent_at);
    st_bind_i64(s, i++, p->transaction_at);
    st_bind_i64(s, i++, now_ms());
    st_bind_text(s, i++, !strcmp(p->topup_status, "sending") ? st->instance : ""); /* whose call is in flight */
    st_bind_i64(s, i++, p->id);
    st_bind_i64(s, i++, p->version);
    enum store_rc rc = st_step_write(st, s, "payment_save");
    if (rc == ST_OK && st_changes(st) == 0)
        return ST_CONFLICT;
    if (rc == ST_OK)
        p->version++;
    return rc;
}

enum store_rc store_payment_finish(struct store *st, struct payment *p)
{
    struct st_stmt *s = st_stmt(st, SQL_PAY_FINISH);
    if (!s)
        return ST_ERROR;
    int i = 1;
    st_bind_text(s, i++, p->status);
    st_bind_i64(s, i++, p->result_code);
    st_bind_text(s, i++, p->result_desc);
    st_bind_text(s, i++, p->mpesa_receipt);
    st_bind_i64(s, i++, p->paid_amount);
    st_bind_text(s, i++, p->last_error);
    st_bind_text(s, i++, p->topup_status);
    st_bind_i64(s, i++, p->topup_next_at);
    st_bind_i64(s, i++, p->token_minute);
    st_bind_i64(s, i++, p->transaction_at);
    st_bind_i64(s, i++, now_ms());
    st_bind_i64(s, i++, p->id);
    enum store_rc rc = st_step_write(st, s, "payment_finish");
    if (rc == ST_OK && st_changes(st) == 0)
        return ST_CONFLICT;
    if (rc == ST_OK)
        p->version++;
    return rc;
}

/* ---- raw callbacks ---- */

enum store_rc store_callback_add(struct store *st, const char *checkout_id, int64_t result_code,
                                 const char *body, int64_t *id)
{
    struct st_stmt *s = st_stmt(st, SQL_CB_INSERT);
    if (!s)
        return ST_ERROR;
    st_bind_text(s, 1, checkout_id);
    st_bind_i64(s, 2, result_code);
    st_bind_text(s, 3, body);
    st_bind_i64(s, 4, now_ms());
    enum store_rc rc = st_step_write(st, s, "callback_insert");
    if (rc == ST_OK && id)
        *id = st_last_id(st);
    return rc;
}

enum store_rc store_callback_pending(struct store *st, const char *checkout_id, char *body, size_t bodysz)
{
    struct st_stmt *s = st_stmt(st, SQL_CB_PENDING);
    if (!s)
        return ST_ERROR;
    st_bind_text(s, 1, checkout_id);
    int rc = st_step(s);
    if (rc == ST_ROW)
        st_col_text(s, 0, body, bodysz);
    st_done(s);
    return st_row_rc(rc);
}

enum store_rc store_callback_applied(struct store *st, const char *checkout_id)
{
    struct st_stmt *s = st_stmt(st, SQL_CB_APPLIED);
    if (!s)
        return ST_ERROR;
    st_bind_text(s, 1, checkout_id);
    return st_step_write(st, s, "callback_applied");
}

int store_callbacks_new(struct store *st, struct store_callback *out, int max)
{
    struct st_stmt *s = st_stmt(st, SQL_CB_NEW);
    if (!s)
        return -1;
    st_bind_i64(s, 1, max);
    int n = 0;
    while (n < max && st_step(s) == ST_ROW) {
        out[n].id = st_col_i64(s, 0);
        ST_COPY(s, 1, out[n].body);
        n++;
    }
    st_done(s);
    return n;
}

enum store_rc store_callback_waiting(struct store *st, int64_t id)
{
    struct st_stmt *s = st_stmt(st, SQL_CB_WAITING);
    if (!s)
        return ST_ERROR;
    st_bind_i64(s, 1, id);
    return st_step_write(st, s, "callback_waiting");
}

