/* store/sms: inbound SMS, opt-outs, delivery reports, the message list and
 * a sender's last token; see store/sms.h. */
#include "store/sms.h"

#include "store/payments.h"
#include "store/store_int.h"

#include "util/str.h"

#include <stdlib.h>
#include <string.h>

/* ---- inbound ---- */

#define INBOUND_COLS                                                                                 \
    "id, at_id, phone, raw_from, to_code, text, date, link_id, network_code, status, outcome, error, " \
    "attempts, next_at, received_at, updated_at"

static const char SQL_INBOUND_ADD[] =
    "INSERT INTO sms_inbound (at_id, phone, raw_from, to_code, text, date, link_id, network_code, "
    "status, next_at, received_at, updated_at) VALUES (?,?,?,?,?,?,?,?,'queued',?9,?9,?9) "
    "ON CONFLICT(at_id) DO NOTHING RETURNING id";
static const char SQL_INBOUND_DUE[] = "UPDATE sms_inbound SET next_at = ?3, claimed_by = ?4 WHERE id IN (SELECT id "
        "FROM sms_inbound WHERE status = 'queued' AND next_at <= ?1 ORDER BY next_at, id LIMIT ?2" ST_SKIP_LOCKED ") "
        "RETURNING " INBOUND_COLS;
static const char SQL_INBOUND_FINISH[] =
    "UPDATE sms_inbound SET status = ?, outcome = ?, error = ?, attempts = attempts + 1, updated_at = ?, "
    "claimed_by = '' WHERE id = ?";
static const char SQL_INBOUND_LATER[] =
    "UPDATE sms_inbound SET attempts = ?, next_at = ?, error = ?, updated_at = ?, claimed_by = '' WHERE id = ? AND "
    "status = 'queued'";
static const char SQL_INBOUND_GET[] = "SELECT " INBOUND_COLS " FROM sms_inbound WHERE at_id = ?";
static const char SQL_INBOUND_COUNT[] =
    "SELECT count(*) FROM sms_inbound WHERE phone = ?1 AND received_at >= ?2 AND status = 'done' AND outcome = ?3";

static void read_inbound(struct st_stmt *s, struct sms_inbound *m)
{
    memset(m, 0, sizeof *m);
    m->id = st_col_i64(s, 0);
    ST_COPY(s, 1, m->at_id);
    ST_COPY(s, 2, m->phone);
    ST_COPY(s, 3, m->raw_from);
    ST_COPY(s, 4, m->to);
    ST_COPY(s, 5, m->text);
    ST_COPY(s, 6, m->date);
    ST_COPY(s, 7, m->link_id);
    ST_COPY(s, 8, m->network_code);
    ST_COPY(s, 9, m->status);
    ST_COPY(s, 10, m->outcome);
    ST_COPY(s, 11, m->error);
    m->attempts = st_col_i64(s, 12);
    m->next_at = st_col_i64(s, 13);
    m->received_at = st_col_i64(s, 14);
    m->updated_at = st_col_i64(s, 15);
}

enum store_rc store_sms_inbound_add(struct store *st, struct sms_inbound *m)
{
    struct st_stmt *s = st_stmt(st, SQL_INBOUND_ADD);
    if (!s)
        return ST_ERROR;
    st_bind_text(s, 1, m->at_id);
    st_bind_text(s, 2, m->phone);
    st_bind_text(s, 3, m->raw_from);
    st_bind_text(s, 4, m->to);
    st_bind_text(s, 5, m->text);
    st_bind_text(s, 6, m->date);
    st_bind_text(s, 7, m->link_id);
    st_bind_text(s, 8, m->network_code);
    st_bind_i64(s, 9, now_ms());
    enum store_rc rc = st_step_write(st, s, "sms_inbound_add");
    if (rc != ST_OK)
        return rc;
    if (st_changes(st) == 0)
        return ST_CONFLICT; /* ON CONFLICT DO NOTHING: seen before */
    m->id = st_last_id(st);
    str_copy(m->status, sizeof m->status, "queued");
    return ST_OK;
}

static void read_inbound_row(struct st_stmt *s, void *row)
{
    read_inbound(s, row);
}

static int inbound_by_id(const void *a, const void *b)
{
    int64_t x = ((const struct sms_inbound *)a)->id, y = ((const struct sms_inbound *)b)->id;
    return (x > y) - (x < y);
}

int store_sms_inbound_due(struct store *st, int64_t now, struct sms_inbound *out, int max)
{
    int n = st_claim(st, SQL_INBOUND_DUE, now, max, out, sizeof *out, read_inbound_row);
    if (n > 1) /* a customer's texts are answered in the order they came */
        qsort(out, (size_t)n, sizeof *out, inbound_by_id);
    return n;
}

/* One UPDATE by id: ST_NOT_FOUND when no row changed. */
static enum store_rc update_one(struct store *st, struct st_stmt *s, const char *what)
{
    enum store_rc rc = st_step_write(st, s, what);
    return st_changed_one(st, rc);
}

enum store_rc store_sms_inbound_finish(struct store *st, int64_t id, const char *status, const char *outcome,
                                       const char *error)
{
    struct st_stmt *s = st_stmt(st, SQL_INBOUND_FINISH);
    if (!s)
        return ST_ERROR;
    st_bind_text(s, 1, status);
    st_bind_text(s, 2, outcome);
    st_bind_text(s, 3, error);
    st_bind_i64(s, 4, now_ms());
    st_bind_i64(s, 5, id);
    return update_one(st, s, "sms_inbound_finish");
}

enum store_rc store_sms_inbound_later(struct store *st, int64_t id, int64_t attempts, int64_t next_at,
                                      const char *error)
{
    struct st_stmt *s = st_stmt(st, SQL_INBOUND_LATER);
    if (!s)
        return ST_ERROR;
    st_bind_i64(s, 1, attempts);
    st_bind_i64(s, 2, next_at);
    st_bind_text(s, 3, error);
    st_bind_i64(s, 4, now_ms());
    st_bind_i64(s, 5, id);
    return update_one(st, s, "sms_inbound_later");
}

int64_t store_sms_inbound_count(struct store *st, const char *phone, const char *outcome, int64_t since)
{
    struct st_stmt *s = st_stmt(st, SQL_INBOUND_COUNT);
    if (!s)
        return -1;
    st_bind_text(s, 1, phone);
    st_bind_i64(s, 2, since);
    st_bind_text(s, 3, outcome);
    int64_t n = st_step(s) == ST_ROW ? st_col_i64(s, 0) : -1;
    st_done(s);
    return n;
}

enum store_rc store_sms_inbound_get(struct store *st, const char *at_id, struct sms_inbound *m)
{
    struct st_stmt *s = st_stmt(st, SQL_INBOUND_GET);
    if (!s)
        return ST_ERROR;
    st_bind_text(s, 1, at_id);
    int rc = st_step(s);
    if (rc == ST_ROW)
        read_inbound(s, m);
    st_done(s);
    return st_row_rc(rc);
}

/* ---- STOP / START ---- */

static const char SQL_OPT_SET[] =
    "INSERT INTO sms_optouts (phone, opted_out, updated_at) VALUES (?,?,?) "
    "ON CONFLICT(phone) DO UPDATE SET opted_out = excluded.opted_out, updated_at = excluded.updated_at";
static const char SQL_OPT_GET[] = "SELECT opted_out FROM sms_optouts WHERE phone = ?";

enum store_rc store_sms_set_opt_out(struct store *st, const char *phone, bool opted_out)
{
    struct st_stmt *s = st_stmt(st, SQL_OPT_SET);
    if (!s)
        return ST_ERROR;
    st_bind_text(s, 1, phone);
    st_bind_i64(s, 2, opted_out ? 1 : 0);
    st_bind_i64(s, 3, now_ms());
    return st_step_write(st, s, "sms_opt_out");
}

bool store_sms_opted_out(struct store *st, const char *phone)
{
    struct st_stmt *s = st_stmt(st, SQL_OPT_GET);
    if (!s)
        return false;
    st_bind_text(s, 1, phone);
    bool out = st_step(s) == ST_ROW && st_col_i64(s, 0) == 1;
    st_done(s);
    return out;
}

/* ---- delivery reports ---- */

static const char SQL_REPORT_ADD[] =
    "INSERT INTO sms_reports (message_id, status, failure_reason, phone, network_code, retry_count, "
    "received_at) VALUES (?,?,?,?,?,?,?) ON CONFLICT(message_id, status) DO NOTHING";
/* Only a message still "sent" moves: the first final report wins, and a
 * late intermediate one (Buffered after Success) changes nothing. */
static const char SQL_REPORT_APPLY[] =
    "UPDATE outbox SET report_status = ?2, reported_at = ?3, updated_at = ?3, "
    "status = CASE WHEN ?4 IN ('delivered', 'failed') THEN ?4 ELSE status END, "
    "last_error = CASE WHEN ?4 = 'failed' THEN ?5 ELSE last_error END "
    "WHERE provider_id = ?1 AND status = 'sent'";
static const char SQL_REPORT_KNOWN[] = "SELECT 1 FROM outbox WHERE provider_id = ?";
static const char SQL_REPORT_APPLIED[] = "UPDATE sms_reports SET applied = 1 WHERE message_id = ? AND applied = 0";
static const char SQL_REPORT_PENDING[] =
    "SELECT message_id, status, failure_reason, phone, network_code, retry_count FROM sms_reports "
    "WHERE message_id = ? AND applied = 0 ORDER BY id DESC LIMIT 1";

enum store_rc store_sms_report_add(struct store *st, const struct sms_report *r)
{
    struct st_stmt *s = st_stmt(st, SQL_REPORT_ADD);
    if (!s)
        return ST_ERROR;
    st_bind_text(s, 1, r->message_id);
    st_bind_text(s, 2, r->status);
    st_bind_text(s, 3, r->failure_reason);
    st_bind_text(s, 4, r->phone);
    st_bind_text(s, 5, r->network_code);
    st_bind_i64(s, 6, r->retry_count);
    st_bind_i64(s, 7, now_ms());
    enum store_rc rc = st_step_write(st, s, "sms_report_add");
    return rc == ST_OK && st_changes(st) == 0 ? ST_CONFLICT : rc;
}

enum store_rc store_sms_report_apply(struct store *st, const char *message_id, const char *report_status,
                                     const char *new_status, const char *error)
{
    struct st_stmt *s = st_stmt(st, SQL_REPORT_APPLY);
    if (!s)
        return ST_ERROR;
    st_bind_text(s, 1, message_id);
    st_bind_text(s, 2, report_status);
    st_bind_i64(s, 3, now_ms());
    st_bind_text(s, 4, new_status);
    st_bind_text(s, 5, error);
    enum store_rc rc = st_step_write(st, s, "sms_report_apply");
    if (rc != ST_OK)
        return rc;
    if (st_changes(st) == 0) {
        /* final already, or unknown (yet) */
        s = st_stmt(st, SQL_REPORT_KNOWN);
        if (!s)
            return ST_ERROR;
        st_bind_text(s, 1, message_id);
        int step = st_step(s);
        st_done(s);
        if (step == ST_DONE)
            return ST_NOT_FOUND;
        if (step != ST_ROW)
            return ST_ERROR;
    }
    s = st_stmt(st, SQL_REPORT_APPLIED);
    if (!s)
        return ST_ERROR;
    st_bind_text(s, 1, message_id);
    return st_step_write(st, s, "sms_report_applied");
}

enum store_rc store_sms_report_pending(struct store *st, const char *message_id, struct sms_report *r)
{
    struct st_stmt *s = st_stmt(st, SQL_REPORT_PENDING);
    if (!s)
        return ST_ERROR;
    st_bind_text(s, 1, message_id);
    int rc = st_step(s);
    if (rc == ST_ROW) {
        memset(r, 0, sizeof *r);
        ST_COPY(s, 0, r->message_id);
        ST_COPY(s, 1, r->status);
        ST_COPY(s, 2, r->failure_reason);
        ST_COPY(s, 3, r->phone);
        ST_COPY(s, 4, r->network_code);
        r->retry_count = st_col_i64(s, 5);
    }
    st_done(s);
    return st_row_rc(rc);
}

/* ---- the admin's list ---- */

#define MESSAGE_COLS                                                                                  \
    "id, phone, body, kind, COALESCE(payment_id,0), status, attempts, next_at, last_error, "         \
    "COALESCE(provider_id,''), encoding, parts, created_at, updated_at, report_status, reported_at"
#define MESSAGE_FILTER "(?1 = '' OR phone = ?1) AND (?2 = '' OR status = ?2)"

static const char SQL_MESSAGES[] =
    "SELECT " MESSAGE_COLS " FROM outbox WHERE " MESSAGE_FILTER " ORDER BY id DESC LIMIT ?3 OFFSET ?4";
static const char SQL_MESSAGES_COUNT[] = "SELECT COUNT(*) FROM outbox WHERE " MESSAGE_FILTER;
static const char SQL_MESSAGE_GET[] = "SELECT " MESSAGE_COLS " FROM outbox WHERE id = ?";

static void read_message(struct st_stmt *s, struct sms_message *x)
{
    memset(x, 0, sizeof *x);
    struct outbox_msg *m = &x->m;
    m->id = st_col_i64(s, 0);
    ST_COPY(s, 1, m->phone);
    ST_COPY(s, 2, m->body);
    ST_COPY(s, 3, m->kind);
    m->payment_id = st_col_i64(s, 4);
    ST_COPY(s, 5, m->status);
    m->attempts = st_col_i64(s, 6);
    m->next_at = st_col_i64(s, 7);
    ST_COPY(s, 8, m->last_error);
    ST_COPY(s, 9, m->provider_id);
    ST_COPY(s, 10, m->encoding);
    m->parts = st_col_i64(s, 11);
    m->created_at = st_col_i64(s, 12);
    m->updated_at = st_col_i64(s, 13);
    ST_COPY(s, 14, x->report_status);
    x->reported_at = st_col_i64(s, 15);
}

enum store_rc store_sms_messages(struct store *st, const char *phone, const char *status, int64_t limit,
                                 int64_t offset, void (*fn)(void *, const struct sms_message *), void *ctx)
{
    struct st_stmt *s = st_stmt(st, SQL_MESSAGES);
    if (!s)
        return ST_ERROR;
    st_bind_text(s, 1, phone);
    st_bind_text(s, 2, status);
    st_bind_i64(s, 3, limit);
    st_bind_i64(s, 4, offset);
    struct sms_message *x = malloc(sizeof *x); /* 1.5 KiB: keep it off small stacks */
    int rc = ST_FAILED;
    while (x && (rc = st_step(s)) == ST_ROW) {
        read_message(s, x);
        fn(ctx, x);
    }
    free(x);
    st_done(s);
    return rc == ST_DONE ? ST_OK : ST_ERROR;
}

int64_t store_sms_messages_count(struct store *st, const char *phone, const char *status)
{
    struct st_stmt *s = st_stmt(st, SQL_MESSAGES_COUNT);
    if (!s)
        return -1;
    st_bind_text(s, 1, phone);
    st_bind_text(s, 2, status);
    int64_t n = st_step(s) == ST_ROW ? st_col_i64(s, 0) : -1;
    st_done(s);
    return n;
}

enum store_rc store_sms_message_get(struct store *st, int64_t id, struct sms_message *out)
{
    struct st_stmt *s = st_stmt(st, SQL_MESSAGE_GET);
    if (!s)
        return ST_ERROR;
    st_bind_i64(s, 1, id);
    int rc = st_step(s);
    if (rc == ST_ROW)
        read_message(s, out);
    st_done(s);
    return st_row_rc(rc);
}

/* ---- TOKEN ---- */

static const char SQL_LAST_TOKEN[] =
    "SELECT id FROM payments WHERE phone = ?1 AND kind = 'electricity' AND status = 'completed' "
    "AND token_minute IS NOT NULL AND (?2 = '' OR meter_id = ?2) ORDER BY id DESC LIMIT 1";

enum store_rc store_sms_last_token(struct store *st, const char *phone, const char *meter_id, struct payment *p)
{
    struct st_stmt *s = st_stmt(st, SQL_LAST_TOKEN);
    if (!s)
        return ST_ERROR;
    st_bind_text(s, 1, phone);
    st_bind_text(s, 2, meter_id);
    int rc = st_step(s);
    int64_t id = rc == ST_ROW ? st_col_i64(s, 0) : 0;
    st_done(s);
    if (rc == ST_DONE)
        return ST_NOT_FOUND;
    if (rc != ST_ROW)
        return ST_ERROR;
    return store_payment_get(st, id, p);
}

/* ---- outbox ---- */

#define OUTBOX_COLS "id, phone, body, kind, COALESCE(payment_id,0), status, attempts, next_at, last_error, " \
                    "COALESCE(provider_id,''), encoding, parts, created_at, updated_at"



static const char SQL_OUTBOX_DEPTH[] = "SELECT COUNT(*) FROM outbox WHERE status IN ('queued','sending')";
static const char SQL_OUTBOX_QUEUE[] =
    "SELECT COUNT(*), COALESCE(MIN(created_at),0) FROM outbox WHERE status IN ('queued','sending')";
static const char SQL_OUTBOX_CALLBACK_AT[] =
    "SELECT MIN(c.received_at) FROM payments p JOIN mpesa_callbacks c ON c.checkout_request_id = "
    "p.checkout_request_id WHERE p.id = ?1 AND p.status = 'completed' AND NOT EXISTS (SELECT 1 FROM outbox o "
    "WHERE o.payment_id = ?1 AND o.id < ?2 AND o.kind IN ('receipt','code'))";
/* a row left 'sending' by an instance that died is due when its lease ends */
static const char SQL_OUTBOX_DUE[] = "UPDATE outbox SET next_at = ?3, claimed_by = ?4 WHERE id IN (SELECT id FROM outbox "
        "WHERE status IN ('queued','sending') AND next_at <= ?1 ORDER BY next_at, id LIMIT ?2" ST_SKIP_LOCKED ") "
        "RETURNING " OUTBOX_COLS;
static const char SQL_OUTBOX_INSERT[] = "INSERT INTO outbox (phone, body, kind, payment_id, status, next_at, encoding, "
        "parts, created_at, updated_at) VALUES (?,?,?,NULLIF(CAST(? AS BIGINT),0),'queued',?,?,?,?,?) RETURNING id";
static const char SQL_OUTBOX_LIST[] = "SELECT " OUTBOX_COLS
        " FROM outbox WHERE (?1 = '' OR phone = ?1) AND (?2 = '' OR status = ?2) ORDER "
        "BY id DESC LIMIT ?3 OFFSET ?4";
static const char SQL_OUTBOX_SAVE[] = "UPDATE outbox SET status=?1, attempts=?2, next_at=?3, last_error=?4, "
        "provider_id=NULLIF(?5,''), updated_at=?6, claimed_by = CASE WHEN ?1 = 'sending' THEN claimed_by ELSE '' END "
        "WHERE id=?7";

static void st_read_outbox(struct st_stmt *s, struct outbox_msg *m)
{
    memset(m, 0, sizeof *m);
    m->id = st_col_i64(s, 0);
    ST_COPY(s, 1, m->phone);
    ST_COPY(s, 2, m->body);
    ST_COPY(s, 3, m->kind);
    m->payment_id = st_col_i64(s, 4);
    ST_COPY(s, 5, m->status);
    m->attempts = st_col_i64(s, 6);
    m->next_at = st_col_i64(s, 7);
    ST_COPY(s, 8, m->last_error);
    ST_COPY(s, 9, m->provider_id);
    ST_COPY(s, 10, m->encoding);
    m->parts = st_col_i64(s, 11);
    m->created_at = st_col_i64(s, 12);
    m->updated_at = st_col_i64(s, 13);
}

/* Steps a write statement (under the writer lock unless this thread is in
 * a transaction, which holds it already); maps constraint failures to
 * ST_CONFLICT. */

enum store_rc store_outbox_add(struct store *st, struct outbox_msg *m)
{
    struct st_stmt *s = st_stmt(st, SQL_OUTBOX_INSERT);
    if (!s)
        return ST_ERROR;
    int64_t now = now_ms();
    st_bind_text(s, 1, m->phone);
    st_bind_text(s, 2, m->body);
    st_bind_text(s, 3, m->kind[0] ? m->kind : "receipt");
    st_bind_i64(s, 4, m->payment_id);
    st_bind_i64(s, 5, m->next_at ? m->next_at : now);
    st_bind_text(s, 6, m->encoding[0] ? m->encoding : "GSM-7");
    st_bind_i64(s, 7, m->parts ? m->parts : 1);
    st_bind_i64(s, 8, now);
    st_bind_i64(s, 9, now);
    enum store_rc rc = st_step_write(st, s, "outbox_insert");
    if (rc == ST_OK)
        m->id = st_last_id(st);
    return rc;
}

static void read_outbox_row(struct st_stmt *s, void *row)
{
    st_read_outbox(s, row);
}

static int outbox_by_id(const void *a, const void *b)
{
    int64_t x = ((const struct outbox_msg *)a)->id, y = ((const struct outbox_msg *)b)->id;
    return (x > y) - (x < y);
}

int store_outbox_due(struct store *st, int64_t now, struct outbox_msg *out, int max)
{
    int n = st_claim(st, SQL_OUTBOX_DUE, now, max, out, sizeof *out, read_outbox_row);
    if (n > 1) /* messages to one phone go in the order they were queued */
        qsort(out, (size_t)n, sizeof *out, outbox_by_id);
    return n;
}

enum store_rc store_outbox_save(struct store *st, const struct outbox_msg *m)
{
    struct st_stmt *s = st_stmt(st, SQL_OUTBOX_SAVE);
    if (!s)
        return ST_ERROR;
    st_bind_text(s, 1, m->status);
    st_bind_i64(s, 2, m->attempts);
    st_bind_i64(s, 3, m->next_at);
    st_bind_text(s, 4, m->last_error);
    st_bind_text(s, 5, m->provider_id);
    st_bind_i64(s, 6, now_ms());
    st_bind_i64(s, 7, m->id);
    enum store_rc rc = st_step_write(st, s, "outbox_save");
    return st_changed_one(st, rc);
}

enum store_rc store_outbox_list(struct store *st, const char *phone, const char *status, int64_t limit,
                                int64_t offset, void (*fn)(void *, const struct outbox_msg *), void *ctx)
{
    struct st_stmt *s = st_stmt(st, SQL_OUTBOX_LIST);
    if (!s)
        return ST_ERROR;
    st_bind_text(s, 1, phone);
    st_bind_text(s, 2, status);
    st_bind_i64(s, 3, limit);
    st_bind_i64(s, 4, offset);
    struct outbox_msg *m = malloc(sizeof *m);
    int rc = ST_FAILED;
    while (m && (rc = st_step(s)) == ST_ROW) {
        st_read_outbox(s, m);
        fn(ctx, m);
    }
    free(m);
    st_done(s);
    return rc == ST_DONE ? ST_OK : ST_ERROR;
}

int64_t store_outbox_depth(struct store *st)
{
    struct st_stmt *s = st_stmt(st, SQL_OUTBOX_DEPTH);
    if (!s)
        return -1;
    int64_t n = st_step(s) == ST_ROW ? st_col_i64(s, 0) : -1;
    st_done(s);
    return n;
}

int64_t store_outbox_queue(struct store *st, int64_t *oldest_ms)
{
    *oldest_ms = 0;
    struct st_stmt *s = st_stmt(st, SQL_OUTBOX_QUEUE);
    if (!s)
        return -1;
    int64_t n = -1;
    if (st_step(s) == ST_ROW) {
        n = st_col_i64(s, 0);
        *oldest_ms = st_col_i64(s, 1);
    }
    st_done(s);
    return n;
}

enum store_rc store_outbox_callback_at(struct store *st, int64_t id, int64_t payment_id, int64_t *at_ms)
{
    *at_ms = 0;
    struct st_stmt *s = st_stmt(st, SQL_OUTBOX_CALLBACK_AT);
    if (!s)
        return ST_ERROR;
    st_bind_i64(s, 1, payment_id);
    st_bind_i64(s, 2, id);
    enum store_rc rc = ST_ERROR;
    int step = st_step(s);
    if (step == ST_ROW) {
        bool none = st_col_null(s, 0);
        *at_ms = none ? 0 : st_col_i64(s, 0);
        rc = none ? ST_NOT_FOUND : ST_OK;
    }
    st_done(s);
    return rc;
}
