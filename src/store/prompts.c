/* store/prompts: the prompts table (store/prompts.h). */
#include "store/prompts.h"

#include "store/store_int.h"

static const char SQL_TAKE[] =
    "INSERT INTO prompts (phone, payment_id, until_at) VALUES (?1, ?2, ?4) ON CONFLICT(phone) DO UPDATE SET "
    "payment_id = excluded.payment_id, until_at = excluded.until_at WHERE prompts.until_at <= ?3 OR "
    "prompts.payment_id = excluded.payment_id";
static const char SQL_GET[] = "SELECT 1 FROM prompts WHERE phone = ?1 AND until_at > ?2";
static const char SQL_END[] = "DELETE FROM prompts WHERE phone = ? AND payment_id = ?";
static const char SQL_PASS[] = "UPDATE prompts SET payment_id = ?3, until_at = ?4 WHERE phone = ?1 AND payment_id = ?2";
static const char SQL_NEXT[] =
    "SELECT id FROM payments WHERE phone = ?1 AND status = 'pending' AND provider = 'mpesa' AND next_at > ?2 "
    "AND id <> ?3 ORDER BY created_at, id LIMIT 1";

enum store_rc store_prompt_get(struct store *st, const char *phone, int64_t now)
{
    struct st_stmt *s = st_stmt(st, SQL_GET);
    if (!s)
        return ST_ERROR;
    st_bind_text(s, 1, phone);
    st_bind_i64(s, 2, now);
    int rc = st_step(s);
    st_done(s);
    return st_row_rc(rc);
}

enum store_rc store_prompt_take(struct store *st, const char *phone, int64_t payment_id, int64_t now,
                                int64_t until_at)
{
    struct st_stmt *s = st_stmt(st, SQL_TAKE);
    if (!s)
        return ST_ERROR;
    st_bind_text(s, 1, phone);
    st_bind_i64(s, 2, payment_id);
    st_bind_i64(s, 3, now);
    st_bind_i64(s, 4, until_at);
    enum store_rc rc = st_step_write(st, s, "prompt_take");
    if (rc != ST_OK)
        return rc;
    return st_changes(st) == 1 ? ST_OK : ST_CONFLICT; /* conflict: held by another purchase */
}

enum store_rc store_prompt_end(struct store *st, const char *phone, int64_t payment_id)
{
    struct st_stmt *s = st_stmt(st, SQL_END);
    if (!s)
        return ST_ERROR;
    st_bind_text(s, 1, phone);
    st_bind_i64(s, 2, payment_id);
    return st_step_write(st, s, "prompt_end");
}

enum store_rc store_prompt_pass(struct store *st, const char *phone, int64_t payment_id, int64_t next_id,
                                int64_t until_at)
{
    struct st_stmt *s = st_stmt(st, SQL_PASS);
    if (!s)
        return ST_ERROR;
    st_bind_text(s, 1, phone);
    st_bind_i64(s, 2, payment_id);
    st_bind_i64(s, 3, next_id);
    st_bind_i64(s, 4, until_at);
    enum store_rc rc = st_step_write(st, s, "prompt_pass");
    return st_changed_one(st, rc);
}

int64_t store_prompt_next(struct store *st, const char *phone, int64_t now, int64_t except)
{
    struct st_stmt *s = st_stmt(st, SQL_NEXT);
    if (!s)
        return 0;
    st_bind_text(s, 1, phone);
    st_bind_i64(s, 2, now);
    st_bind_i64(s, 3, except);
    int64_t id = st_step(s) == ST_ROW ? st_col_i64(s, 0) : 0;
    st_done(s);
    return id;
}
