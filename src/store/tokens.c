/* store/tokens: providers' shared access tokens; see store/tokens.h. */
#include "store/tokens.h"

#include "store/store_int.h"
#include "util/str.h"

#include <string.h>

#define TOKEN_COLS "token_sealed, renew_at, renewing_until, updated_at"

static const char SQL_GET[] = "SELECT " TOKEN_COLS " FROM provider_tokens WHERE provider = ?";
static const char SQL_LOCK[] = "SELECT " TOKEN_COLS " FROM provider_tokens WHERE provider = ?" ST_FOR_UPDATE;
static const char SQL_ADD[] =
    "INSERT INTO provider_tokens (provider, token_sealed, renew_at, renewing_until, updated_at) "
    "VALUES (?, '', 0, 0, ?) ON CONFLICT (provider) DO NOTHING";
static const char SQL_CLAIM[] = "UPDATE provider_tokens SET renewing_until = ?, updated_at = ? WHERE provider = ?";
static const char SQL_PUT[] =
    "UPDATE provider_tokens SET token_sealed = ?, renew_at = ?, renewing_until = 0, updated_at = ? WHERE provider = ?";
static const char SQL_RELEASE[] = "UPDATE provider_tokens SET renewing_until = 0, updated_at = ? WHERE provider = ?";

static enum store_rc read_one(struct store *st, const char *sql, const char *provider, struct provider_token *t)
{
    struct st_stmt *s = st_stmt(st, sql);
    if (!s)
        return ST_ERROR;
    st_bind_text(s, 1, provider);
    int rc = st_step(s);
    if (rc == ST_ROW) {
        memset(t, 0, sizeof *t);
        ST_COPY(s, 0, t->token_sealed);
        t->renew_at = st_col_i64(s, 1);
        t->renewing_until = st_col_i64(s, 2);
        t->updated_at = st_col_i64(s, 3);
    }
    st_done(s);
    return st_row_rc(rc);
}

enum store_rc store_token_get(struct store *st, const char *provider, struct provider_token *t)
{
    return read_one(st, SQL_GET, provider, t);
}

enum store_rc store_token_lock(struct store *st, const char *provider, struct provider_token *t)
{
    return read_one(st, SQL_LOCK, provider, t);
}

enum store_rc store_token_add(struct store *st, const char *provider)
{
    struct st_stmt *s = st_stmt(st, SQL_ADD);
    if (!s)
        return ST_ERROR;
    st_bind_text(s, 1, provider);
    st_bind_i64(s, 2, now_ms());
    return st_step_write(st, s, "token_add");
}

enum store_rc store_token_claim(struct store *st, const char *provider, int64_t until)
{
    struct st_stmt *s = st_stmt(st, SQL_CLAIM);
    if (!s)
        return ST_ERROR;
    st_bind_i64(s, 1, until);
    st_bind_i64(s, 2, now_ms());
    st_bind_text(s, 3, provider);
    return st_changed_one(st, st_step_write(st, s, "token_claim"));
}

enum store_rc store_token_put(struct store *st, const char *provider, const char *sealed, int64_t renew_at)
{
    struct st_stmt *s = st_stmt(st, SQL_PUT);
    if (!s)
        return ST_ERROR;
    st_bind_text(s, 1, sealed);
    st_bind_i64(s, 2, renew_at);
    st_bind_i64(s, 3, now_ms());
    st_bind_text(s, 4, provider);
    return st_changed_one(st, st_step_write(st, s, "token_put"));
}

enum store_rc store_token_release(struct store *st, const char *provider)
{
    struct st_stmt *s = st_stmt(st, SQL_RELEASE);
    if (!s)
        return ST_ERROR;
    st_bind_i64(s, 1, now_ms());
    st_bind_text(s, 2, provider);
    return st_changed_one(st, st_step_write(st, s, "token_release"));
}
