/* store/clients: integrators and their packages; see store/clients.h. */
#include "store/clients.h"

#include "store/store_int.h"
#include "util/str.h"

#include <stdlib.h>
#include <string.h>

#define CLIENT_COLS "id, name, active, callback_url, key_hmac, secret_sealed, created_at, updated_at"
#define PACKAGE_COLS "id, client_id, name, amount, description, active, created_at, updated_at"

static const char SQL_CLIENT_INSERT[] = "INSERT INTO clients (" CLIENT_COLS ") VALUES (?,?,?,?,?,?,?,?)";
static const char SQL_CLIENT_GET[] = "SELECT " CLIENT_COLS " FROM clients WHERE id = ?";
static const char SQL_CLIENT_BY_KEY[] = "SELECT " CLIENT_COLS " FROM clients WHERE key_hmac = ?";
static const char SQL_CLIENTS[] = "SELECT " CLIENT_COLS " FROM clients ORDER BY created_at, id";
static const char SQL_CLIENT_UPDATE[] =
    "UPDATE clients SET name = ?, active = ?, callback_url = ?, updated_at = ? WHERE id = ?";
static const char SQL_CLIENT_KEY[] = "UPDATE clients SET key_hmac = ?, updated_at = ? WHERE id = ?";
static const char SQL_PACKAGE_INSERT[] = "INSERT INTO packages (" PACKAGE_COLS ") VALUES (?,?,?,?,?,?,?,?)";
static const char SQL_PACKAGE_GET[] = "SELECT " PACKAGE_COLS " FROM packages WHERE id = ?";
static const char SQL_PACKAGES[] = "SELECT " PACKAGE_COLS " FROM packages WHERE client_id = ? ORDER BY created_at, id";
static const char SQL_PACKAGE_UPDATE[] =
    "UPDATE packages SET name = ?, amount = ?, description = ?, active = ?, updated_at = ? WHERE id = ?";

static void read_client(struct st_stmt *s, struct client *c)
{
    memset(c, 0, sizeof *c);
    ST_COPY(s, 0, c->id);
    ST_COPY(s, 1, c->name);
    c->active = st_col_i64(s, 2) != 0;
    ST_COPY(s, 3, c->callback_url);
    ST_COPY(s, 4, c->key_hmac);
    ST_COPY(s, 5, c->secret_sealed);
    c->created_at = st_col_i64(s, 6);
    c->updated_at = st_col_i64(s, 7);
}

static void read_package(struct st_stmt *s, struct package *pk)
{
    memset(pk, 0, sizeof *pk);
    ST_COPY(s, 0, pk->id);
    ST_COPY(s, 1, pk->client_id);
    ST_COPY(s, 2, pk->name);
    pk->amount = st_col_i64(s, 3);
    ST_COPY(s, 4, pk->description);
    pk->active = st_col_i64(s, 5) != 0;
    pk->created_at = st_col_i64(s, 6);
    pk->updated_at = st_col_i64(s, 7);
}

static enum store_rc one_client(struct st_stmt *s, struct client *c)
{
    int rc = st_step(s);
    if (rc == ST_ROW)
        read_client(s, c);
    st_done(s);
    return st_row_rc(rc);
}

enum store_rc store_client_create(struct store *st, struct client *c)
{
    struct st_stmt *s = st_stmt(st, SQL_CLIENT_INSERT);
    if (!s)
        return ST_ERROR;
    c->created_at = c->updated_at = now_ms();
    st_bind_text(s, 1, c->id);
    st_bind_text(s, 2, c->name);
    st_bind_i64(s, 3, c->active);
    st_bind_text(s, 4, c->callback_url);
    st_bind_text(s, 5, c->key_hmac);
    st_bind_text(s, 6, c->secret_sealed);
    st_bind_i64(s, 7, c->created_at);
    st_bind_i64(s, 8, c->updated_at);
    return st_step_write(st, s, "client_insert");
}

enum store_rc store_client_get(struct store *st, const char *id, struct client *c)
{
    struct st_stmt *s = st_stmt(st, SQL_CLIENT_GET);
    if (!s)
        return ST_ERROR;
    st_bind_text(s, 1, id);
    return one_client(s, c);
}

enum store_rc store_client_by_key(struct store *st, const char *key_hmac, struct client *c)
{
    struct st_stmt *s = st_stmt(st, SQL_CLIENT_BY_KEY);
    if (!s)
        return ST_ERROR;
    st_bind_text(s, 1, key_hmac);
    return one_client(s, c);
}

enum store_rc store_clients_list(struct store *st, void (*fn)(void *, const struct client *), void *ctx)
{
    struct st_stmt *s = st_stmt(st, SQL_CLIENTS);
    if (!s)
        return ST_ERROR;
    struct client *c = malloc(sizeof *c);
    int rc = ST_FAILED;
    while (c && (rc = st_step(s)) == ST_ROW) {
        read_client(s, c);
        fn(ctx, c);
    }
    free(c);
    st_done(s);
    return rc == ST_DONE ? ST_OK : ST_ERROR;
}

enum store_rc store_client_update(struct store *st, struct client *c)
{
    struct st_stmt *s = st_stmt(st, SQL_CLIENT_UPDATE);
    if (!s)
        return ST_ERROR;
    c->updated_at = now_ms();
    st_bind_text(s, 1, c->name);
    st_bind_i64(s, 2, c->active);
    st_bind_text(s, 3, c->callback_url);
    st_bind_i64(s, 4, c->updated_at);
    st_bind_text(s, 5, c->id);
    return st_changed_one(st, st_step_write(st, s, "client_update"));
}

enum store_rc store_client_set_key(struct store *st, const char *id, const char *key_hmac)
{
    struct st_stmt *s = st_stmt(st, SQL_CLIENT_KEY);
    if (!s)
        return ST_ERROR;
    st_bind_text(s, 1, key_hmac);
    st_bind_i64(s, 2, now_ms());
    st_bind_text(s, 3, id);
    return st_changed_one(st, st_step_write(st, s, "client_key"));
}

enum store_rc store_package_create(struct store *st, struct package *pk)
{
    struct st_stmt *s = st_stmt(st, SQL_PACKAGE_INSERT);
    if (!s)
        return ST_ERROR;
    pk->created_at = pk->updated_at = now_ms();
    st_bind_text(s, 1, pk->id);
    st_bind_text(s, 2, pk->client_id);
    st_bind_text(s, 3, pk->name);
    st_bind_i64(s, 4, pk->amount);
    st_bind_text(s, 5, pk->description);
    st_bind_i64(s, 6, pk->active);
    st_bind_i64(s, 7, pk->created_at);
    st_bind_i64(s, 8, pk->updated_at);
    enum store_rc rc = st_step_write(st, s, "package_insert");
    return rc == ST_CONFLICT ? ST_NOT_FOUND : rc; /* the foreign key: no such client */
}

enum store_rc store_package_get(struct store *st, const char *id, struct package *pk)
{
    struct st_stmt *s = st_stmt(st, SQL_PACKAGE_GET);
    if (!s)
        return ST_ERROR;
    st_bind_text(s, 1, id);
    int rc = st_step(s);
    if (rc == ST_ROW)
        read_package(s, pk);
    st_done(s);
    return st_row_rc(rc);
}

enum store_rc store_packages_list(struct store *st, const char *client_id,
                                  void (*fn)(void *, const struct package *), void *ctx)
{
    struct st_stmt *s = st_stmt(st, SQL_PACKAGES);
    if (!s)
        return ST_ERROR;
    st_bind_text(s, 1, client_id);
    struct package pk;
    int rc;
    while ((rc = st_step(s)) == ST_ROW) {
        read_package(s, &pk);
        fn(ctx, &pk);
    }
    st_done(s);
    return rc == ST_DONE ? ST_OK : ST_ERROR;
}

enum store_rc store_package_update(struct store *st, struct package *pk)
{
    struct st_stmt *s = st_stmt(st, SQL_PACKAGE_UPDATE);
    if (!s)
        return ST_ERROR;
    pk->updated_at = now_ms();
    st_bind_text(s, 1, pk->name);
    st_bind_i64(s, 2, pk->amount);
    st_bind_text(s, 3, pk->description);
    st_bind_i64(s, 4, pk->active);
    st_bind_i64(s, 5, pk->updated_at);
    st_bind_text(s, 6, pk->id);
    return st_changed_one(st, st_step_write(st, s, "package_update"));
}
