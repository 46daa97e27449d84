/* store/water: water orders' extra columns; see store/water.h. */
#include "store/water.h"

#include "store/payments.h"
#include "store/store_int.h"

#include <string.h>

static const char SQL_EXTRA_GET[] =
    "SELECT COALESCE(metadata,''), email, authorization_url, access_code, expires_at, provider_status, "
    "channel, provider_receipt, paid_at FROM payments WHERE id = ?";
static const char SQL_SET_ORDER[] = "UPDATE payments SET metadata = NULLIF(?,''), email = ? WHERE id = ?";
static const char SQL_SET_CHECKOUT[] =
    "UPDATE payments SET authorization_url = ?, access_code = ?, expires_at = ? WHERE id = ?";
static const char SQL_SET_PROVIDER[] =
    "UPDATE payments SET provider_status = ?, channel = CASE WHEN ?2 = '' THEN channel ELSE ?2 END, "
    "provider_receipt = CASE WHEN ?3 = '' THEN provider_receipt ELSE ?3 END, "
    "paid_at = CASE WHEN ?4 = '' THEN paid_at ELSE ?4 END WHERE id = ?5";

enum store_rc store_water_extra_get(struct store *st, int64_t id, struct water_extra *x)
{
    struct st_stmt *s = st_stmt(st, SQL_EXTRA_GET);
    if (!s)
        return ST_ERROR;
    st_bind_i64(s, 1, id);
    int rc = st_step(s);
    if (rc == ST_ROW) {
        memset(x, 0, sizeof *x);
        ST_COPY(s, 0, x->metadata);
        ST_COPY(s, 1, x->email);
        ST_COPY(s, 2, x->authorization_url);
        ST_COPY(s, 3, x->access_code);
        x->expires_at = st_col_i64(s, 4);
        ST_COPY(s, 5, x->provider_status);
        ST_COPY(s, 6, x->channel);
        ST_COPY(s, 7, x->provider_receipt);
        ST_COPY(s, 8, x->paid_at);
    }
    st_done(s);
    return st_row_rc(rc);
}

/* One UPDATE by id: ST_NOT_FOUND when no row has that id. */
static enum store_rc update_one(struct store *st, struct st_stmt *s, const char *what)
{
    enum store_rc rc = st_step_write(st, s, what);
    if (rc == ST_OK && st_changes(st) == 0)
        return ST_NOT_FOUND;
    return rc;
}

enum store_rc store_water_set_order(struct store *st, int64_t id, const char *metadata, const char *email)
{
    struct st_stmt *s = st_stmt(st, SQL_SET_ORDER);
    if (!s)
        return ST_ERROR;
    st_bind_text(s, 1, metadata);
    st_bind_text(s, 2, email);
    st_bind_i64(s, 3, id);
    return update_one(st, s, "water_set_order");
}

enum store_rc store_water_set_checkout(struct store *st, int64_t id, const char *authorization_url,
                                       const char *access_code, int64_t expires_at)
{
    struct st_stmt *s = st_stmt(st, SQL_SET_CHECKOUT);
    if (!s)
        return ST_ERROR;
    st_bind_text(s, 1, authorization_url);
    st_bind_text(s, 2, access_code);
    st_bind_i64(s, 3, expires_at);
    st_bind_i64(s, 4, id);
    return update_one(st, s, "water_set_checkout");
}

enum store_rc store_water_set_provider(struct store *st, int64_t id, const char *status, const char *channel,
                                       const char *receipt, const char *paid_at)
{
    struct st_stmt *s = st_stmt(st, SQL_SET_PROVIDER);
    if (!s)
        return ST_ERROR;
    st_bind_text(s, 1, status);
    st_bind_text(s, 2, channel);
    st_bind_text(s, 3, receipt);
    st_bind_text(s, 4, paid_at);
    st_bind_i64(s, 5, id);
    return update_one(st, s, "water_set_provider");
}
