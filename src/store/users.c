/* store/users: the users table (store.h, users). */
#include "store/store.h"

#include "store/store_int.h"
#include "store/users.h"
#include "util/str.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define USER_COLS "id, phone, first_name, last_name, email, role, language, created_at, updated_at"


static const char SQL_USERS_LIST[] = "SELECT " USER_COLS " FROM users ORDER BY id";
static const char SQL_USER_BY_PHONE[] = "SELECT " USER_COLS " FROM users WHERE phone = ?";
static const char SQL_USER_GET[] = "SELECT " USER_COLS " FROM users WHERE id = ?";
static const char SQL_USER_INSERT[] = "INSERT INTO users (phone, first_name, last_name, email, role, language, "
        "created_at, updated_at) VALUES (?,?,?,?,?,?,?,?) RETURNING id";
static const char SQL_USER_SET_LANG[] = "UPDATE users SET language = ?, updated_at = ? WHERE id = ?";

void st_read_user(struct st_stmt *s, struct user *u)
{
    memset(u, 0, sizeof *u);
    u->id = st_col_i64(s, 0);
    ST_COPY(s, 1, u->phone);
    ST_COPY(s, 2, u->first_name);
    ST_COPY(s, 3, u->last_name);
    ST_COPY(s, 4, u->email);
    ST_COPY(s, 5, u->role);
    ST_COPY(s, 6, u->language);
    u->created_at = st_col_i64(s, 7);
    u->updated_at = st_col_i64(s, 8);
}

/* ---- users ---- */

enum store_rc store_user_create(struct store *st, struct user *u)
{
    struct st_stmt *s = st_stmt(st, SQL_USER_INSERT);
    if (!s)
        return ST_ERROR;
    u->created_at = u->updated_at = now_ms();
    st_bind_text(s, 1, u->phone);
    st_bind_text(s, 2, u->first_name);
    st_bind_text(s, 3, u->last_name);
    st_bind_text(s, 4, u->email);
    st_bind_text(s, 5, u->role[0] ? u->role : "USER");
    st_bind_text(s, 6, u->language[0] ? u->language : "en");
    st_bind_i64(s, 7, u->created_at);
    st_bind_i64(s, 8, u->updated_at);
    enum store_rc rc = st_step_write(st, s, "user_insert");
    if (rc == ST_OK)
        u->id = st_last_id(st);
    st_bump(st);
    return rc;
}

static enum store_rc user_one(struct store *st, struct st_stmt *s, struct user *u)
{
    int rc = st_step(s);
    if (rc == ST_ROW)
        st_read_user(s, u);
    st_done(s);
    return st_row_rc(rc);
}

enum store_rc store_user_get(struct store *st, int64_t id, struct user *u)
{
    struct st_stmt *s = st_stmt(st, SQL_USER_GET);
    if (!s)
        return ST_ERROR;
    st_bind_i64(s, 1, id);
    return user_one(st, s, u);
}

enum store_rc store_user_by_phone(struct store *st, const char *phone, struct user *u)
{
    struct st_stmt *s = st_stmt(st, SQL_USER_BY_PHONE);
    if (!s)
        return ST_ERROR;
    st_bind_text(s, 1, phone);
    return user_one(st, s, u);
}

enum store_rc store_user_set_language(struct store *st, int64_t id, const char *lang)
{
    struct st_stmt *s = st_stmt(st, SQL_USER_SET_LANG);
    if (!s)
        return ST_ERROR;
    st_bind_text(s, 1, lang);
    st_bind_i64(s, 2, now_ms());
    st_bind_i64(s, 3, id);
    enum store_rc rc = st_step_write(st, s, "user_set_lang");
    st_bump(st);
    return st_changed_one(st, rc);
}

enum store_rc store_users_list(struct store *st, void (*fn)(void *, const struct user *), void *ctx)
{
    struct st_stmt *s = st_stmt(st, SQL_USERS_LIST);
    if (!s)
        return ST_ERROR;
    struct user u;
    int rc;
    while ((rc = st_step(s)) == ST_ROW) {
        st_read_user(s, &u);
        fn(ctx, &u);
    }
    st_done(s);
    return rc == ST_DONE ? ST_OK : ST_ERROR;
}

