/* store: SQLite behind prepared statements, one connection per thread;
 * see store.h for the contract. */
#include "store/store.h"

#include "store/batch.h"
#include "store/hot.h"
#include "store/intake.h"
#include "store/store_int.h"

#include "util/log.h"
#include "util/str.h"

#include <dirent.h>
#include <pthread.h>
#include <stdatomic.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define USER_COLS "id, phone, first_name, last_name, email, role, language, created_at, updated_at"
#define METER_COLS "id, device_id, name, product_name, description, location, active, price_per_kwh, " \
                   "owner_phone, created_at, updated_at"
#define PAY_COLS "id, kind, origin, COALESCE(idem_key,''), COALESCE(user_id,0), phone, COALESCE(meter_id,''), " \
                 "amount, energy, account_reference, description, status, COALESCE(result_code,-1), "   \
                 "result_desc, COALESCE(merchant_request_id,''), COALESCE(checkout_request_id,''), "   \
                 "response_code, response_description, customer_message, mpesa_receipt, "              \
                 "COALESCE(paid_amount,-1), attempts, next_at, last_error, topup_status, "              \
                 "topup_attempts, topup_next_at, topup_error, COALESCE(token_minute,-1), version, "     \
                 "created_at, updated_at, provider, COALESCE(reference,''), liters, currency, topup_sent_at, " \
                 "COALESCE(idem_fp,'')"
#define OUTBOX_COLS "id, phone, body, kind, COALESCE(payment_id,0), status, attempts, next_at, last_error, " \
                    "COALESCE(provider_id,''), encoding, parts, created_at, updated_at"

/* Every statement the store runs, prepared once per connection. */
#define STATEMENTS(X)                                                                              \
    X(BEGIN, "BEGIN IMMEDIATE")                                                                    \
    X(COMMIT, "COMMIT")                                                                            \
    X(ROLLBACK, "ROLLBACK")                                                                        \
    X(PING, "SELECT 1")                                                                            \
    X(USER_INSERT, "INSERT INTO users (phone, first_name, last_name, email, role, language, "      \
                   "created_at, updated_at) VALUES (?,?,?,?,?,?,?,?)")                             \
    X(USER_GET, "SELECT " USER_COLS " FROM users WHERE id = ?")                                    \
    X(USER_BY_PHONE, "SELECT " USER_COLS " FROM users WHERE phone = ?")                            \
    X(USER_SET_LANG, "UPDATE users SET language = ?, updated_at = ? WHERE id = ?")                 \
    X(USERS_LIST, "SELECT " USER_COLS " FROM users ORDER BY id")                                   \
    X(METER_INSERT, "INSERT INTO meters (id, device_id, name, product_name, description, "         \
                    "location, active, price_per_kwh, owner_phone, created_at, updated_at) "       \
                    "VALUES (?,?,?,?,?,?,?,?,?,?,?)")                                              \
    X(METER_GET, "SELECT " METER_COLS " FROM meters WHERE id = ?")                                 \
    X(METER_UPDATE, "UPDATE meters SET name=?, product_name=?, description=?, location=?, "        \
                    "active=?, price_per_kwh=?, owner_phone=?, updated_at=? WHERE id=?")           \
    X(METER_DELETE, "DELETE FROM meters WHERE id = ?")                                             \
    X(METERS_LIST, "SELECT " METER_COLS " FROM meters ORDER BY created_at, id")                    \
    X(ASSIGN, "INSERT INTO assignments (user_id, meter_id, assigned_at) SELECT ?1, ?2, ?3 "        \
              "WHERE (SELECT COUNT(*) FROM assignments WHERE user_id = ?1) < ?4 "                  \
              "ON CONFLICT(user_id, meter_id) DO NOTHING")                                         \
    X(ASSIGNED_AT, "SELECT assigned_at FROM assignments WHERE user_id = ? AND meter_id = ?")       \
    X(UNASSIGN, "DELETE FROM assignments WHERE user_id = ? AND meter_id = ?")                      \
    X(USER_METERS, "SELECT m.id, m.device_id, m.name, m.product_name, m.description, m.location, " \
                   "m.active, m.price_per_kwh, m.owner_phone, m.created_at, m.updated_at "         \
                   "FROM assignments a JOIN meters m ON m.id = a.meter_id WHERE a.user_id = ? "    \
                   "ORDER BY a.assigned_at, a.rowid")                                              \
    X(CALLER, "SELECT u.id, u.phone, u.first_name, u.last_name, u.email, u.role, u.language, "     \
              "u.created_at, u.updated_at, m.id, m.name, m.price_per_kwh, m.active FROM users u "  \
              "LEFT JOIN assignments a ON a.user_id = u.id LEFT JOIN meters m ON m.id = a.meter_id " \
              "WHERE u.phone = ? ORDER BY a.assigned_at, a.rowid")                                 \
    X(METER_USERS, "SELECT u.id, u.phone, u.first_name, u.last_name, u.email, u.role, "            \
                   "u.language, u.created_at, u.updated_at FROM assignments a JOIN users u "       \
                   "ON u.id = a.user_id WHERE a.meter_id = ? ORDER BY a.assigned_at, a.rowid")        \
    X(OWNED_METERS, "SELECT id, owner_phone FROM meters WHERE owner_phone <> '' ORDER BY id")      \
    X(PAY_INSERT, "INSERT INTO payments (kind, origin, idem_key, user_id, phone, meter_id, amount, " \
                  "energy, account_reference, description, status, next_at, created_at, "         \
                  "updated_at, provider, reference, liters, currency, idem_fp) "                   \
                  "VALUES (?,?,?,?,?,?,?,?,?,?,'pending',?,?,?,?,NULLIF(?,''),?,?,NULLIF(?,'')) "  \
                  "ON CONFLICT(idem_key) DO NOTHING")                                              \
    X(PAY_BY_IDEM, "SELECT " PAY_COLS " FROM payments WHERE idem_key = ?")                         \
    X(PAY_GET, "SELECT " PAY_COLS " FROM payments WHERE id = ?")                                   \
    X(PAY_BY_CHECKOUT, "SELECT " PAY_COLS " FROM payments WHERE checkout_request_id = ?")          \
    X(PAY_LIST, "SELECT " PAY_COLS " FROM payments WHERE kind = ? ORDER BY id DESC")               \
    X(PAY_DUE, "SELECT " PAY_COLS " FROM payments WHERE status IN ('pending','processing') "       \
               "AND provider = ?3 AND next_at <= ?1 ORDER BY next_at LIMIT ?2")                    \
    X(PAY_DUE_NOW, "UPDATE payments SET next_at = ?1, version = version + 1 "                       \
                   "WHERE id = ?2 AND status = 'pending' AND next_at > ?1")                        \
    X(TOPUP_DUE, "SELECT " PAY_COLS " FROM payments WHERE topup_status IN ('queued','sending','checking') " \
                 "AND topup_next_at <= ? ORDER BY topup_next_at LIMIT ?")                          \
    /* the queue's partial index holds every 'sending' row, and only a   \
     * query that repeats the index's condition may use it */             \
    X(TOPUP_RECOVER, "UPDATE payments SET topup_status = 'checking', topup_error = ?, "            \
                     "version = version + 1 WHERE topup_status IN ('queued','sending','checking') " \
                     "AND topup_status = 'sending'")                                               \
    /* through the meter's index of completed purchases: rare, and a     \
     * meter's purchases are few */                                       \
    X(TOPUP_TRIES, "SELECT " PAY_COLS " FROM payments WHERE meter_id = ?1 AND status = 'completed' " \
                   "AND created_at <= ?4 AND energy = ?2 AND topup_status IN ('done','sending','checking') " \
                   "AND topup_sent_at BETWEEN ?3 AND ?4 ORDER BY topup_sent_at, id LIMIT ?5")   \
    X(PAY_SAVE, "UPDATE payments SET status=?, result_code=?, result_desc=?, "                     \
                "merchant_request_id=NULLIF(?,''), checkout_request_id=NULLIF(?,''), "             \
                "response_code=?, response_description=?, customer_message=?, mpesa_receipt=?, "   \
                "paid_amount=NULLIF(?,-1), attempts=?, next_at=?, last_error=?, topup_status=?, "  \
                "topup_attempts=?, topup_next_at=?, topup_error=?, token_minute=NULLIF(?,-1), "    \
                "energy=?, topup_sent_at=?, updated_at=?, version=version+1 WHERE id=? AND version=?")                                               \
    X(PAY_FINISH, "UPDATE payments SET status=?, result_code=?, result_desc=?, mpesa_receipt=?, "  \
                  "paid_amount=NULLIF(?,-1), last_error=?, topup_status=?, topup_next_at=?, "      \
                  "token_minute=NULLIF(?,-1), updated_at=?, version=version+1 "                    \
                  "WHERE id=? AND status IN ('pending','processing')")                             \
    X(CB_INSERT, "INSERT INTO mpesa_callbacks (checkout_request_id, result_code, body, received_at) " \
                 "VALUES (?,?,?,?)")                                                               \
    X(CB_PENDING, "SELECT body FROM mpesa_callbacks WHERE checkout_request_id = ? AND applied IN (0,2) " \
                  "ORDER BY id LIMIT 1")                                                           \
    X(CB_APPLIED, "UPDATE mpesa_callbacks SET applied = 1 WHERE checkout_request_id = ?")          \
    X(CB_NEW, "SELECT id, body FROM mpesa_callbacks WHERE applied = 0 ORDER BY id LIMIT ?")       \
    X(CB_WAITING, "UPDATE mpesa_callbacks SET applied = 2 WHERE id = ? AND applied = 0")           \
    X(OUTBOX_INSERT, "INSERT INTO outbox (phone, body, kind, payment_id, status, next_at, "        \
                     "encoding, parts, created_at, updated_at) "                                   \
                     "VALUES (?,?,?,NULLIF(?,0),'queued',?,?,?,?,?)")                              \
    X(OUTBOX_DUE, "SELECT " OUTBOX_COLS " FROM outbox WHERE status = 'queued' AND next_at <= ? "   \
                  "ORDER BY next_at, id LIMIT ?")                                                  \
    X(OUTBOX_SAVE, "UPDATE outbox SET status=?, attempts=?, next_at=?, last_error=?, "             \
                   "provider_id=NULLIF(?,''), updated_at=? WHERE id=?")                            \
    X(OUTBOX_LIST, "SELECT " OUTBOX_COLS " FROM outbox WHERE (?1 = '' OR phone = ?1) "             \
                   "AND (?2 = '' OR status = ?2) ORDER BY id DESC LIMIT ?3 OFFSET ?4")             \
    X(OUTBOX_DEPTH, "SELECT COUNT(*) FROM outbox WHERE status IN ('queued','sending')")            \
    X(OUTBOX_RECOVER, "UPDATE outbox SET status='queued' WHERE status='sending'")                  \
    X(EVENT_INSERT, "INSERT INTO ussd_events (session_id, phone, service_code, network_code, "     \
                    "status, cost, duration_ms, hops, input, error, date, received_at) "           \
                    "VALUES (?,?,?,?,?,?,?,?,?,?,?,?) ON CONFLICT(session_id, status) DO NOTHING") \
    X(TOKEN_RECORD, "INSERT INTO applied_tokens (meter_id, token_hmac, applied_at) VALUES (?,?,?)") \
    X(TOKEN_FORGET, "DELETE FROM applied_tokens WHERE meter_id = ? AND token_hmac = ?")            \
    X(METER_BOUGHT, "SELECT COALESCE(SUM(energy), 0) FROM payments WHERE meter_id = ? "            \
                    "AND status = 'completed' AND created_at >= ?")                                \
    X(METER_BY_DEVICE, "SELECT " METER_COLS " FROM meters WHERE device_id = ?")

#define AS_ENUM(name, sql) S_##name,
#define AS_SQL(name, sql) [S_##name] = sql,
enum stmt_id { STATEMENTS(AS_ENUM) S_COUNT };
static const char *const sql_text[] = {STATEMENTS(AS_SQL)};

#define DYN_SLOTS 256 /* statements of the other store files, by SQL address */

struct conn {
    sqlite3 *db;
    sqlite3_stmt *stmt[S_COUNT];
    struct {
        const char *sql;
        sqlite3_stmt *stmt;
    } dyn[DYN_SLOTS];
    bool in_tx;                /* this thread holds wlock for a transaction */
    bool bump_at_end;          /* the transaction wrote users/meters/assignments */
};

struct store {
    char *path;
    /* One writer at a time inside the process: SQLite would otherwise
     * answer SQLITE_BUSY and its busy handler sleeps in whole milliseconds,
     * which is what a USSD hop cannot afford. Readers never take it. */
    pthread_mutex_t wlock;
    pthread_key_t key;
    pthread_mutex_t lock;      /* guards the list of connections */
    struct conn **all;
    size_t nall, capall;
    struct hot *hot;           /* sessions and callers in memory */
    struct batch *batch;       /* group commit (batch.c) */
    struct intake *intake;     /* purchases before the database (intake.c) */
    pthread_mutex_t retry_lock;
    struct take *retry;        /* taken-in purchases the database refused */
    atomic_llong gen;          /* bumped by writes to users, meters, assignments */
    atomic_llong evicted_at;   /* last eviction scan of the memory tables */
    atomic_llong checkpointed_at;
};

/* Callers cached before this are stale. */
static void bump(struct store *st)
{
    atomic_fetch_add(&st->gen, 1);
    struct conn *c = pthread_getspecific(st->key);
    if (c && c->in_tx) /* readers may cache the pre-commit rows meanwhile */
        c->bump_at_end = true;
}

static void conn_close(struct conn *c)
{
    if (!c)
        return;
    for (int i = 0; i < S_COUNT; i++)
        sqlite3_finalize(c->stmt[i]);
    for (int i = 0; i < DYN_SLOTS; i++)
        sqlite3_finalize(c->dyn[i].stmt);
    sqlite3_close(c->db);
    free(c);
}

static struct conn *conn_open(const char *path, char *err, size_t errsz)
{
    struct conn *c = calloc(1, sizeof *c);
    if (!c)
        return NULL;
    int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX;
    if (sqlite3_open_v2(path, &c->db, flags, NULL) != SQLITE_OK) {
        snprintf(err, errsz, "cannot open %s: %s", path, sqlite3_errmsg(c->db));
        conn_close(c);
        return NULL;
    }
    sqlite3_busy_timeout(c->db, 5000);
    char *msg = NULL;
    if (sqlite3_exec(c->db, "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; "
                            "PRAGMA foreign_keys=ON; PRAGMA temp_store=MEMORY; "
                            /* checkpoints run in store_maintain, off the hop path */
                            "PRAGMA wal_autocheckpoint=0; PRAGMA journal_size_limit=67108864;",
                     NULL, NULL, &msg) != SQLITE_OK) {
        snprintf(err, errsz, "cannot configure %s: %s", path, msg ? msg : "?");
        sqlite3_free(msg);
        conn_close(c);
        return NULL;
    }
    return c;
}

/* The calling thread's connection, opened on first use. */
static struct conn *conn_get(struct store *st)
{
    struct conn *c = pthread_getspecific(st->key);
    if (c)
        return c;
    char err[256];
    c = conn_open(st->path, err, sizeof err);
    if (!c) {
        log_error("store.open", "error=\"%s\"", err);
        return NULL;
    }
    pthread_mutex_lock(&st->lock);
    if (st->nall == st->capall) {
        size_t cap = st->capall ? st->capall * 2 : 16;
        struct conn **p = realloc(st->all, cap * sizeof *p);
        if (!p) {
            pthread_mutex_unlock(&st->lock);
            conn_close(c);
            return NULL;
        }
        st->all = p;
        st->capall = cap;
    }
    st->all[st->nall++] = c;
    pthread_mutex_unlock(&st->lock);
    pthread_setspecific(st->key, c);
    return c;
}

/* A reset statement of this thread's connection, or NULL (logged). */
static sqlite3_stmt *prep(struct store *st, enum stmt_id id)
{
    struct conn *c = conn_get(st);
    if (!c)
        return NULL;
    if (!c->stmt[id] &&
        sqlite3_prepare_v3(c->db, sql_text[id], -1, SQLITE_PREPARE_PERSISTENT, &c->stmt[id], NULL) != SQLITE_OK) {
        log_error("store.prepare", "stmt=%d error=\"%s\"", (int)id, sqlite3_errmsg(c->db));
        return NULL;
    }
    return c->stmt[id];
}

static void done(sqlite3_stmt *s)
{
    if (s) {
        sqlite3_reset(s);
        sqlite3_clear_bindings(s);
    }
}

static void bind_text(sqlite3_stmt *s, int i, const char *v)
{
    sqlite3_bind_text(s, i, v ? v : "", -1, SQLITE_TRANSIENT);
}

static void col_text(sqlite3_stmt *s, int i, char *dst, size_t n)
{
    const unsigned char *v = sqlite3_column_text(s, i);
    str_copy(dst, n, v ? (const char *)v : "");
}

#define COPY(s, i, field) col_text(s, i, field, sizeof field)

static void read_user(sqlite3_stmt *s, struct user *u)
{
    memset(u, 0, sizeof *u);
    u->id = sqlite3_column_int64(s, 0);
    COPY(s, 1, u->phone);
    COPY(s, 2, u->first_name);
    COPY(s, 3, u->last_name);
    COPY(s, 4, u->email);
    COPY(s, 5, u->role);
    COPY(s, 6, u->language);
    u->created_at = sqlite3_column_int64(s, 7);
    u->updated_at = sqlite3_column_int64(s, 8);
}

static void read_meter(sqlite3_stmt *s, struct meter *m)
{
    memset(m, 0, sizeof *m);
    COPY(s, 0, m->id);
    COPY(s, 1, m->device_id);
    COPY(s, 2, m->name);
    COPY(s, 3, m->product_name);
    COPY(s, 4, m->description);
    COPY(s, 5, m->location);
    m->active = sqlite3_column_int(s, 6) != 0;
    m->price_per_kwh = sqlite3_column_int64(s, 7);
    COPY(s, 8, m->owner_phone);
    m->created_at = sqlite3_column_int64(s, 9);
    m->updated_at = sqlite3_column_int64(s, 10);
}

static void read_payment(sqlite3_stmt *s, struct payment *p)
{
    memset(p, 0, sizeof *p);
    int i = 0;
    p->id = sqlite3_column_int64(s, i++);
    COPY(s, i++, p->kind);
    COPY(s, i++, p->origin);
    COPY(s, i++, p->idem_key);
    p->user_id = sqlite3_column_int64(s, i++);
    COPY(s, i++, p->phone);
    COPY(s, i++, p->meter_id);
    p->amount = sqlite3_column_int64(s, i++);
    p->energy = sqlite3_column_int64(s, i++);
    COPY(s, i++, p->account_reference);
    COPY(s, i++, p->description);
    COPY(s, i++, p->status);
    p->result_code = sqlite3_column_int64(s, i++);
    COPY(s, i++, p->result_desc);
    COPY(s, i++, p->merchant_request_id);
    COPY(s, i++, p->checkout_request_id);
    COPY(s, i++, p->response_code);
    COPY(s, i++, p->response_description);
    COPY(s, i++, p->customer_message);
    COPY(s, i++, p->mpesa_receipt);
    p->paid_amount = sqlite3_column_int64(s, i++);
    p->attempts = sqlite3_column_int64(s, i++);
    p->next_at = sqlite3_column_int64(s, i++);
    COPY(s, i++, p->last_error);
    COPY(s, i++, p->topup_status);
    p->topup_attempts = sqlite3_column_int64(s, i++);
    p->topup_next_at = sqlite3_column_int64(s, i++);
    COPY(s, i++, p->topup_error);
    p->token_minute = sqlite3_column_int64(s, i++);
    p->version = sqlite3_column_int64(s, i++);
    p->created_at = sqlite3_column_int64(s, i++);
    p->updated_at = sqlite3_column_int64(s, i++);
    COPY(s, i++, p->provider);
    COPY(s, i++, p->reference);
    p->liters = sqlite3_column_int64(s, i++);
    COPY(s, i++, p->currency);
    p->topup_sent_at = sqlite3_column_int64(s, i++);
    COPY(s, i++, p->idem_fp);
}

static void read_outbox(sqlite3_stmt *s, struct outbox_msg *m)
{
    memset(m, 0, sizeof *m);
    m->id = sqlite3_column_int64(s, 0);
    COPY(s, 1, m->phone);
    COPY(s, 2, m->body);
    COPY(s, 3, m->kind);
    m->payment_id = sqlite3_column_int64(s, 4);
    COPY(s, 5, m->status);
    m->attempts = sqlite3_column_int64(s, 6);
    m->next_at = sqlite3_column_int64(s, 7);
    COPY(s, 8, m->last_error);
    COPY(s, 9, m->provider_id);
    COPY(s, 10, m->encoding);
    m->parts = sqlite3_column_int64(s, 11);
    m->created_at = sqlite3_column_int64(s, 12);
    m->updated_at = sqlite3_column_int64(s, 13);
}

/* Steps a write statement (under the writer lock unless this thread is in
 * a transaction, which holds it already); maps constraint failures to
 * ST_CONFLICT. */
static enum store_rc step_write(struct store *st, sqlite3_stmt *s, const char *what)
{
    struct conn *c = pthread_getspecific(st->key);
    bool lock = !(c && c->in_tx);
    if (lock)
        pthread_mutex_lock(&st->wlock);
    int rc = sqlite3_step(s);
    if (lock)
        pthread_mutex_unlock(&st->wlock);
    enum store_rc out = ST_OK;
    if (rc == SQLITE_CONSTRAINT) {
        out = ST_CONFLICT;
    } else if (rc != SQLITE_DONE && rc != SQLITE_ROW) {
        log_error("store.write", "what=%s error=\"%s\"", what, sqlite3_errmsg(sqlite3_db_handle(s)));
        out = ST_ERROR;
    }
    done(s);
    return out;
}

static int changes(struct store *st)
{
    struct conn *c = conn_get(st);
    return c ? sqlite3_changes(c->db) : 0;
}

/* ---- migrations ---- */

static int cmp_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static bool migrate(sqlite3 *db, const char *dir, char *err, size_t errsz)
{
    char *msg = NULL;
    if (sqlite3_exec(db, "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, "
                         "name TEXT NOT NULL, applied_at INTEGER NOT NULL)",
                     NULL, NULL, &msg) != SQLITE_OK) {
        snprintf(err, errsz, "migrations: %s", msg ? msg : "?");
        sqlite3_free(msg);
        return false;
    }
    DIR *d = opendir(dir);
    if (!d) {
        snprintf(err, errsz, "migrations: cannot open directory %s", dir);
        return false;
    }
    char *names[256];
    size_t n = 0;
    struct dirent *e;
    while ((e = readdir(d)) && n < 256) {
        size_t len = strlen(e->d_name);
        if (len > 4 && !strcmp(e->d_name + len - 4, ".sql") && e->d_name[0] >= '0' && e->d_name[0] <= '9')
            names[n++] = strdup(e->d_name);
    }
    closedir(d);
    qsort(names, n, sizeof names[0], cmp_names);
    bool ok = true;
    sqlite3_stmt *has = NULL, *rec = NULL;
    sqlite3_prepare_v2(db, "SELECT 1 FROM schema_migrations WHERE version = ?", -1, &has, NULL);
    sqlite3_prepare_v2(db, "INSERT INTO schema_migrations (version, name, applied_at) VALUES (?,?,?)", -1,
                       &rec, NULL);
    for (size_t i = 0; ok && i < n; i++) {
        long version = strtol(names[i], NULL, 10);
        sqlite3_bind_int64(has, 1, version);
        bool applied = sqlite3_step(has) == SQLITE_ROW;
        sqlite3_reset(has);
        if (applied)
            continue;
        char path[1200];
        snprintf(path, sizeof path, "%s/%s", dir, names[i]);
        FILE *f = fopen(path, "rb");
        struct { char *p; size_t n; } sql = {0};
        if (f) {
            fseek(f, 0, SEEK_END);
            long len = ftell(f);
            fseek(f, 0, SEEK_SET);
            sql.p = len >= 0 ? calloc(1, (size_t)len + 1) : NULL;
            if (sql.p)
                sql.n = fread(sql.p, 1, (size_t)len, f);
            fclose(f);
        }
        if (!sql.p) {
            snprintf(err, errsz, "migrations: cannot read %s", path);
            ok = false;
            break;
        }
        if (sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK ||
            sqlite3_exec(db, sql.p, NULL, NULL, &msg) != SQLITE_OK) {
            snprintf(err, errsz, "migrations: %s: %s", names[i], msg ? msg : sqlite3_errmsg(db));
            sqlite3_free(msg);
            msg = NULL;
            sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
            ok = false;
        } else {
            sqlite3_bind_int64(rec, 1, version);
            sqlite3_bind_text(rec, 2, names[i], -1, SQLITE_TRANSIENT);
            sqlite3_bind_int64(rec, 3, now_ms());
            sqlite3_step(rec);
            sqlite3_reset(rec);
            ok = sqlite3_exec(db, "COMMIT", NULL, NULL, NULL) == SQLITE_OK;
            if (ok)
                log_info("store.migrated", "file=%s", names[i]);
            else
                snprintf(err, errsz, "migrations: commit of %s failed", names[i]);
        }
        free(sql.p);
    }
    sqlite3_finalize(has);
    sqlite3_finalize(rec);
    for (size_t i = 0; i < n; i++)
        free(names[i]);
    return ok;
}

/* ---- purchases taken in (store_take_payment; the file is intake.c) ---- */

#define TAKE_RETRY_BASE_MS 1000
#define TAKE_RETRY_CAP_MS 60000

struct take {
    struct take *next;         /* on the retry list */
    struct store *st;
    struct payment p;          /* as written to the intake */
    struct payment row;        /* as stored */
    int ticket, tries;
    int64_t retry_at;
    store_taken_fn done;       /* NULL for one restored at start-up */
    void *arg;
};

static enum store_rc take_write(struct store *st, void *arg)
{
    struct take *t = arg;
    t->row = t->p; /* p stays the intake's purchase should this be tried again */
    return store_payment_create(st, &t->row);
}

/* A taken-in purchase the database can never have. */
static void log_dropped(const struct payment *p)
{
    char masked[20];
    log_error("store.purchase_dropped", "phone=%s meter=%s reason=\"its user or meter went away\"",
              log_phone(p->phone, masked), p->meter_id);
}

static void take_later(struct take *t)
{
    t->tries++;
    t->retry_at = now_ms() + backoff_ms(TAKE_RETRY_BASE_MS, t->tries, TAKE_RETRY_CAP_MS);
    pthread_mutex_lock(&t->st->retry_lock);
    t->next = t->st->retry;
    t->st->retry = t;
    pthread_mutex_unlock(&t->st->retry_lock);
}

static void take_done(void *arg, enum store_rc rc)
{
    struct take *t = arg;
    char masked[20];
    if (rc != ST_OK && rc != ST_CONFLICT && rc != ST_NOT_FOUND) {
        log_error("store.purchase_refused", "phone=%s meter=%s tries=%d reason=\"kept in the intake, tried again\"",
                  log_phone(t->p.phone, masked), t->p.meter_id, t->tries + 1);
        take_later(t);
        return;
    }
    if (rc == ST_NOT_FOUND)
        log_dropped(&t->p);
    intake_done(t->st->intake, t->ticket);
    if (t->done)
        t->done(t->arg, rc, rc == ST_NOT_FOUND ? &t->p : &t->row);
    free(t);
}

bool store_take_payment(struct store *st, const struct payment *p, store_taken_fn on_stored, void *arg)
{
    if (!p->idem_key[0])
        return false;
    struct take *t = calloc(1, sizeof *t);
    if (!t)
        return false;
    t->st = st;
    t->p = *p;
    t->done = on_stored;
    t->arg = arg;
    if (!t->p.created_at)
        t->p.created_at = now_ms();
    if ((t->ticket = intake_add(st->intake, &t->p)) < 0) {
        free(t);
        return false;
    }
    if (!batch_submit(st->batch, take_write, take_done, t))
        take_later(t); /* written: it is stored later, or at the next start */
    return true;
}

int store_take_waiting(struct store *st)
{
    int n = 0;
    pthread_mutex_lock(&st->retry_lock);
    for (struct take *t = st->retry; t; t = t->next)
        n++;
    pthread_mutex_unlock(&st->retry_lock);
    return n;
}

/* store_maintain: the refused purchases whose time has come go back to
 * the group commit. */
static void take_retry(struct store *st, int64_t now)
{
    pthread_mutex_lock(&st->retry_lock);
    struct take *due = NULL, **pp = &st->retry;
    while (*pp) {
        struct take *t = *pp;
        if (t->retry_at <= now) {
            *pp = t->next;
            t->next = due;
            due = t;
        } else {
            pp = &t->next;
        }
    }
    pthread_mutex_unlock(&st->retry_lock);
    for (struct take *t = due, *n; t; t = n) {
        n = t->next;
        if (!batch_submit(st->batch, take_write, take_done, t))
            take_later(t);
    }
}

struct restore {
    struct store *st;
    int stored, dropped, kept;
    bool failed;
    struct take *settled;      /* tickets to hand back after the commit */
};

static void restore_one(void *ctx, struct payment *p, int ticket)
{
    struct restore *r = ctx;
    struct take *t = calloc(1, sizeof *t);
    if (!t) {
        r->failed = true;
        return;
    }
    t->st = r->st;
    t->p = *p;
    t->ticket = ticket;
    enum store_rc rc = r->failed ? ST_ERROR : take_write(r->st, t);
    if (rc == ST_OK || rc == ST_CONFLICT || rc == ST_NOT_FOUND) {
        r->stored += rc == ST_OK;
        r->dropped += rc == ST_NOT_FOUND;
        if (rc == ST_NOT_FOUND)
            log_dropped(p);
        t->next = r->settled;
        r->settled = t;
    } else {
        r->kept++;
        take_later(t);
    }
}

/* store_open: what a killed lipad left in the intake goes into the
 * database (most of it is there already: the same idem_key is a
 * conflict, not a second purchase), in one transaction. */
static bool intake_restore(struct store *st, char *err, size_t errsz)
{
    struct restore r = {.st = st};
    int skipped = 0;
    if (store_begin(st) != ST_OK) {
        snprintf(err, errsz, "intake: the database refused a transaction");
        return false;
    }
    int n = intake_replay(st->intake, restore_one, &r, &skipped);
    bool ok = n >= 0 && !r.failed && store_commit(st) == ST_OK;
    if (!ok)
        store_rollback(st);
    for (struct take *t = r.settled, *next; t; t = next) {
        next = t->next;
        if (ok)
            intake_done(st->intake, t->ticket);
        free(t);
    }
    if (!ok) {
        snprintf(err, errsz, "intake: cannot move the purchases in %s-intake.0 and .1 into the database", st->path);
        return false;
    }
    intake_tidy(st->intake);
    if (n > 0 || skipped > 0)
        log_info("store.intake_restored", "lines=%d stored=%d dropped=%d kept=%d skipped=%d", n, r.stored, r.dropped,
                 r.kept, skipped);
    return true;
}

/* SQLite's process-wide settings, once, before its first use: no memory
 * statistics (they take a global mutex on every allocation SQLite makes,
 * on every thread: the committer's hottest lock under the benchmark). */
static void sqlite_setup(void)
{
    sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);
}

struct store *store_open(const char *path, const char *migrations_dir, char *err, size_t errsz)
{
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once(&once, sqlite_setup);
    struct store *st = calloc(1, sizeof *st);
    if (!st)
        return NULL;
    st->path = strdup(path);
    pthread_key_create(&st->key, NULL);
    pthread_mutex_init(&st->lock, NULL);
    pthread_mutex_init(&st->wlock, NULL);
    pthread_mutex_init(&st->retry_lock, NULL);
    st->hot = hot_new(STORE_SESSIONS_MAX, STORE_CALLERS_MAX);
    st->batch = batch_new(st);
    struct conn *c = st->hot && st->batch ? conn_open(path, err, errsz) : NULL;
    if (!c || !migrate(c->db, migrations_dir, err, errsz)) {
        conn_close(c);
        store_close(st);
        return NULL;
    }
    conn_close(c);
    if (!(st->intake = intake_open(path, err, errsz)) || !intake_restore(st, err, errsz)) {
        store_close(st);
        return NULL;
    }
    return st;
}

void store_close(struct store *st)
{
    if (!st)
        return;
    batch_free(st->batch); /* runs what is queued; refusals join the retry list */
    for (struct take *t = st->retry, *n; t; t = n) { /* their lines stay for the next start */
        n = t->next;
        free(t);
    }
    if (st->intake)
        intake_tidy(st->intake); /* a clean stop leaves nothing to restore */
    intake_close(st->intake);
    hot_free(st->hot);
    for (size_t i = 0; i < st->nall; i++)
        conn_close(st->all[i]);
    free(st->all);
    pthread_key_delete(st->key);
    pthread_mutex_destroy(&st->lock);
    pthread_mutex_destroy(&st->wlock);
    pthread_mutex_destroy(&st->retry_lock);
    free(st->path);
    free(st);
}

bool store_submit(struct store *st, store_write_fn write, store_done_fn finished, void *arg)
{
    return batch_submit(st->batch, write, finished, arg);
}

bool store_ping(struct store *st)
{
    sqlite3_stmt *s = prep(st, S_PING);
    bool ok = s && sqlite3_step(s) == SQLITE_ROW;
    done(s);
    return ok;
}

enum store_rc store_begin(struct store *st)
{
    struct conn *c = conn_get(st);
    sqlite3_stmt *s = prep(st, S_BEGIN);
    if (!c || !s || c->in_tx)
        return ST_ERROR;
    pthread_mutex_lock(&st->wlock);
    c->in_tx = true;
    enum store_rc rc = step_write(st, s, "begin");
    if (rc != ST_OK) {
        c->in_tx = false;
        pthread_mutex_unlock(&st->wlock);
    }
    return rc;
}

/* Ends this thread's transaction and releases the writer lock. */
static void tx_end(struct store *st, struct conn *c)
{
    if (c && c->in_tx && sqlite3_get_autocommit(c->db)) {
        c->in_tx = false;
        pthread_mutex_unlock(&st->wlock);
        if (c->bump_at_end) {
            c->bump_at_end = false;
            bump(st);
        }
    }
}

enum store_rc store_commit(struct store *st)
{
    struct conn *c = conn_get(st);
    sqlite3_stmt *s = prep(st, S_COMMIT);
    enum store_rc rc = s ? step_write(st, s, "commit") : ST_ERROR;
    tx_end(st, c);
    return rc;
}

void store_rollback(struct store *st)
{
    struct conn *c = conn_get(st);
    if (c && !sqlite3_get_autocommit(c->db)) {
        sqlite3_stmt *s = prep(st, S_ROLLBACK);
        if (s)
            step_write(st, s, "rollback");
    }
    tx_end(st, c);
}

/* ---- users ---- */

enum store_rc store_user_create(struct store *st, struct user *u)
{
    sqlite3_stmt *s = prep(st, S_USER_INSERT);
    if (!s)
        return ST_ERROR;
    u->created_at = u->updated_at = now_ms();
    bind_text(s, 1, u->phone);
    bind_text(s, 2, u->first_name);
    bind_text(s, 3, u->last_name);
    bind_text(s, 4, u->email);
    bind_text(s, 5, u->role[0] ? u->role : "USER");
    bind_text(s, 6, u->language[0] ? u->language : "en");
    sqlite3_bind_int64(s, 7, u->created_at);
    sqlite3_bind_int64(s, 8, u->updated_at);
    enum store_rc rc = step_write(st, s, "user_insert");
    if (rc == ST_OK)
        u->id = sqlite3_last_insert_rowid(conn_get(st)->db);
    bump(st);
    return rc;
}

static enum store_rc user_one(struct store *st, sqlite3_stmt *s, struct user *u)
{
    int rc = sqlite3_step(s);
    if (rc == SQLITE_ROW)
        read_user(s, u);
    done(s);
    return rc == SQLITE_ROW ? ST_OK : rc == SQLITE_DONE ? ST_NOT_FOUND : ST_ERROR;
}

enum store_rc store_user_get(struct store *st, int64_t id, struct user *u)
{
    sqlite3_stmt *s = prep(st, S_USER_GET);
    if (!s)
        return ST_ERROR;
    sqlite3_bind_int64(s, 1, id);
    return user_one(st, s, u);
}

enum store_rc store_user_by_phone(struct store *st, const char *phone, struct user *u)
{
    sqlite3_stmt *s = prep(st, S_USER_BY_PHONE);
    if (!s)
        return ST_ERROR;
    bind_text(s, 1, phone);
    return user_one(st, s, u);
}

enum store_rc store_user_set_language(struct store *st, int64_t id, const char *lang)
{
    sqlite3_stmt *s = prep(st, S_USER_SET_LANG);
    if (!s)
        return ST_ERROR;
    bind_text(s, 1, lang);
    sqlite3_bind_int64(s, 2, now_ms());
    sqlite3_bind_int64(s, 3, id);
    enum store_rc rc = step_write(st, s, "user_set_lang");
    bump(st);
    return rc == ST_OK && changes(st) == 0 ? ST_NOT_FOUND : rc;
}

enum store_rc store_users_list(struct store *st, void (*fn)(void *, const struct user *), void *ctx)
{
    sqlite3_stmt *s = prep(st, S_USERS_LIST);
    if (!s)
        return ST_ERROR;
    struct user u;
    int rc;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        read_user(s, &u);
        fn(ctx, &u);
    }
    done(s);
    return rc == SQLITE_DONE ? ST_OK : ST_ERROR;
}

/* ---- meters ---- */

enum store_rc store_meter_create(struct store *st, struct meter *m)
{
    sqlite3_stmt *s = prep(st, S_METER_INSERT);
    if (!s)
        return ST_ERROR;
    m->created_at = m->updated_at = now_ms();
    bind_text(s, 1, m->id);
    bind_text(s, 2, m->device_id);
    bind_text(s, 3, m->name);
    bind_text(s, 4, m->product_name);
    bind_text(s, 5, m->description);
    bind_text(s, 6, m->location);
    sqlite3_bind_int(s, 7, m->active ? 1 : 0);
    sqlite3_bind_int64(s, 8, m->price_per_kwh);
    bind_text(s, 9, m->owner_phone);
    sqlite3_bind_int64(s, 10, m->created_at);
    sqlite3_bind_int64(s, 11, m->updated_at);
    enum store_rc rc = step_write(st, s, "meter_insert");
    bump(st);
    return rc;
}

enum store_rc store_meter_get(struct store *st, const char *id, struct meter *m)
{
    sqlite3_stmt *s = prep(st, S_METER_GET);
    if (!s)
        return ST_ERROR;
    bind_text(s, 1, id);
    int rc = sqlite3_step(s);
    if (rc == SQLITE_ROW)
        read_meter(s, m);
    done(s);
    return rc == SQLITE_ROW ? ST_OK : rc == SQLITE_DONE ? ST_NOT_FOUND : ST_ERROR;
}

enum store_rc store_meter_update(struct store *st, const struct meter *m)
{
    sqlite3_stmt *s = prep(st, S_METER_UPDATE);
    if (!s)
        return ST_ERROR;
    bind_text(s, 1, m->name);
    bind_text(s, 2, m->product_name);
    bind_text(s, 3, m->description);
    bind_text(s, 4, m->location);
    sqlite3_bind_int(s, 5, m->active ? 1 : 0);
    sqlite3_bind_int64(s, 6, m->price_per_kwh);
    bind_text(s, 7, m->owner_phone);
    sqlite3_bind_int64(s, 8, now_ms());
    bind_text(s, 9, m->id);
    enum store_rc rc = step_write(st, s, "meter_update");
    bump(st);
    return rc == ST_OK && changes(st) == 0 ? ST_NOT_FOUND : rc;
}

enum store_rc store_meter_delete(struct store *st, const char *id)
{
    sqlite3_stmt *s = prep(st, S_METER_DELETE);
    if (!s)
        return ST_ERROR;
    bind_text(s, 1, id);
    enum store_rc rc = step_write(st, s, "meter_delete");
    bump(st);
    return rc == ST_OK && changes(st) == 0 ? ST_NOT_FOUND : rc;
}

static enum store_rc meters_each(sqlite3_stmt *s, void (*fn)(void *, const struct meter *), void *ctx)
{
    struct meter m;
    int rc;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        read_meter(s, &m);
        fn(ctx, &m);
    }
    done(s);
    return rc == SQLITE_DONE ? ST_OK : ST_ERROR;
}

enum store_rc store_meters_list(struct store *st, void (*fn)(void *, const struct meter *), void *ctx)
{
    sqlite3_stmt *s = prep(st, S_METERS_LIST);
    return s ? meters_each(s, fn, ctx) : ST_ERROR;
}

/* ---- assignments ---- */

enum store_rc store_assign(struct store *st, int64_t user_id, const char *meter_id, int64_t *assigned_at)
{
    sqlite3_stmt *s = prep(st, S_ASSIGN);
    if (!s)
        return ST_ERROR;
    sqlite3_bind_int64(s, 1, user_id);
    bind_text(s, 2, meter_id);
    sqlite3_bind_int64(s, 3, now_ms());
    sqlite3_bind_int64(s, 4, STORE_CALLER_METERS);
    enum store_rc rc = step_write(st, s, "assign");
    bump(st);
    if (rc == ST_CONFLICT) /* foreign key: no such user or meter */
        return ST_NOT_FOUND;
    if (rc != ST_OK)
        return rc;
    s = prep(st, S_ASSIGNED_AT);
    if (!s)
        return ST_ERROR;
    sqlite3_bind_int64(s, 1, user_id);
    bind_text(s, 2, meter_id);
    bool assigned = sqlite3_step(s) == SQLITE_ROW;
    if (assigned && assigned_at)
        *assigned_at = sqlite3_column_int64(s, 0);
    done(s);
    return assigned ? ST_OK : ST_CONFLICT; /* not there: the user had their most already */
}

enum store_rc store_unassign(struct store *st, int64_t user_id, const char *meter_id)
{
    sqlite3_stmt *s = prep(st, S_UNASSIGN);
    if (!s)
        return ST_ERROR;
    sqlite3_bind_int64(s, 1, user_id);
    bind_text(s, 2, meter_id);
    enum store_rc rc = step_write(st, s, "unassign");
    bump(st);
    return rc == ST_OK && changes(st) == 0 ? ST_NOT_FOUND : rc;
}

bool store_is_assigned(struct store *st, int64_t user_id, const char *meter_id)
{
    sqlite3_stmt *s = prep(st, S_ASSIGNED_AT);
    if (!s)
        return false;
    sqlite3_bind_int64(s, 1, user_id);
    bind_text(s, 2, meter_id);
    bool yes = sqlite3_step(s) == SQLITE_ROW;
    done(s);
    return yes;
}

int store_user_meters(struct store *st, int64_t user_id, struct meter *out, int max)
{
    sqlite3_stmt *s = prep(st, S_USER_METERS);
    if (!s)
        return -1;
    sqlite3_bind_int64(s, 1, user_id);
    int n = 0, rc;
    while (n < max && (rc = sqlite3_step(s)) == SQLITE_ROW)
        read_meter(s, &out[n++]);
    done(s);
    return n;
}

enum store_rc store_user_meters_each(struct store *st, int64_t user_id,
                                     void (*fn)(void *, const struct meter *), void *ctx)
{
    sqlite3_stmt *s = prep(st, S_USER_METERS);
    if (!s)
        return ST_ERROR;
    sqlite3_bind_int64(s, 1, user_id);
    return meters_each(s, fn, ctx);
}

enum store_rc store_meter_users_each(struct store *st, const char *meter_id,
                                     void (*fn)(void *, const struct user *), void *ctx)
{
    sqlite3_stmt *s = prep(st, S_METER_USERS);
    if (!s)
        return ST_ERROR;
    bind_text(s, 1, meter_id);
    struct user u;
    int rc;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        read_user(s, &u);
        fn(ctx, &u);
    }
    done(s);
    return rc == SQLITE_DONE ? ST_OK : ST_ERROR;
}

enum store_rc store_generate_assignments(struct store *st, int *assignments, int *users)
{
    *assignments = *users = 0;
    if (store_begin(st) != ST_OK)
        return ST_ERROR;
    /* collect first: the cursor must be done before we write */
    struct pair { char meter[65], phone[16]; } *pairs = NULL;
    size_t n = 0, cap = 0;
    sqlite3_stmt *s = prep(st, S_OWNED_METERS);
    enum store_rc out = s ? ST_OK : ST_ERROR;
    while (s && sqlite3_step(s) == SQLITE_ROW) {
        if (n == cap) {
            cap = cap ? cap * 2 : 64;
            struct pair *p = realloc(pairs, cap * sizeof *p);
            if (!p) {
                out = ST_ERROR;
                break;
            }
            pairs = p;
        }
        col_text(s, 0, pairs[n].meter, sizeof pairs[n].meter);
        col_text(s, 1, pairs[n].phone, sizeof pairs[n].phone);
        n++;
    }
    done(s);
    for (size_t i = 0; out == ST_OK && i < n; i++) {
        struct user u;
        enum store_rc rc = store_user_by_phone(st, pairs[i].phone, &u);
        if (rc == ST_NOT_FOUND) {
            memset(&u, 0, sizeof u);
            str_copy(u.phone, sizeof u.phone, pairs[i].phone);
            rc = store_user_create(st, &u);
            if (rc == ST_OK)
                (*users)++;
        }
        if (rc != ST_OK) {
            out = ST_ERROR;
            break;
        }
        if (!store_is_assigned(st, u.id, pairs[i].meter)) {
            rc = store_assign(st, u.id, pairs[i].meter, NULL);
            if (rc == ST_OK)
                (*assignments)++;
            else if (rc == ST_CONFLICT) /* the owner has their most meters: left unassigned */
                log_warn("store.assignment_skipped", "meter=%s user=%lld reason=\"the most meters a caller can use\"",
                         pairs[i].meter, (long long)u.id);
            else
                out = ST_ERROR;
        }
    }
    free(pairs);
    if (out == ST_OK)
        out = store_commit(st);
    bump(st);
    if (out != ST_OK) {
        store_rollback(st);
        *assignments = *users = 0;
    }
    return out;
}

/* ---- payments ---- */

static enum store_rc payment_one(sqlite3_stmt *s, struct payment *p)
{
    int rc = sqlite3_step(s);
    if (rc == SQLITE_ROW)
        read_payment(s, p);
    done(s);
    return rc == SQLITE_ROW ? ST_OK : rc == SQLITE_DONE ? ST_NOT_FOUND : ST_ERROR;
}

enum store_rc store_payment_create(struct store *st, struct payment *p)
{
    sqlite3_stmt *s = prep(st, S_PAY_INSERT);
    if (!s)
        return ST_ERROR;
    int64_t now = now_ms();
    bind_text(s, 1, p->kind[0] ? p->kind : "electricity");
    bind_text(s, 2, p->origin);
    if (p->idem_key[0])
        bind_text(s, 3, p->idem_key);
    else
        sqlite3_bind_null(s, 3);
    if (p->user_id)
        sqlite3_bind_int64(s, 4, p->user_id);
    else
        sqlite3_bind_null(s, 4);
    bind_text(s, 5, p->phone);
    if (p->meter_id[0])
        bind_text(s, 6, p->meter_id);
    else
        sqlite3_bind_null(s, 6);
    sqlite3_bind_int64(s, 7, p->amount);
    sqlite3_bind_int64(s, 8, p->energy);
    bind_text(s, 9, p->account_reference);
    bind_text(s, 10, p->description);
    int64_t created = p->created_at > 0 ? p->created_at : now; /* taken in earlier: store_take_payment */
    sqlite3_bind_int64(s, 11, p->next_at ? p->next_at : created);
    sqlite3_bind_int64(s, 12, created);
    sqlite3_bind_int64(s, 13, created);
    bind_text(s, 14, p->provider[0] ? p->provider : "mpesa");
    bind_text(s, 15, p->reference);
    sqlite3_bind_int64(s, 16, p->liters);
    bind_text(s, 17, p->currency[0] ? p->currency : "KES");
    bind_text(s, 18, p->idem_fp);
    enum store_rc rc = step_write(st, s, "payment_insert");
    if (rc != ST_OK) /* a constraint here is a foreign key or CHECK, not the idem_key */
        return rc == ST_CONFLICT ? ST_NOT_FOUND : rc;
    if (changes(st) == 0) { /* idem_key seen before: hand back that row */
        s = prep(st, S_PAY_BY_IDEM);
        if (!s)
            return ST_ERROR;
        bind_text(s, 1, p->idem_key);
        rc = payment_one(s, p);
        return rc == ST_OK ? ST_CONFLICT : rc;
    }
    return store_payment_get(st, sqlite3_last_insert_rowid(conn_get(st)->db), p);
}

enum store_rc store_payment_get(struct store *st, int64_t id, struct payment *p)
{
    sqlite3_stmt *s = prep(st, S_PAY_GET);
    if (!s)
        return ST_ERROR;
    sqlite3_bind_int64(s, 1, id);
    return payment_one(s, p);
}

enum store_rc store_payment_by_checkout(struct store *st, const char *checkout_id, struct payment *p)
{
    sqlite3_stmt *s = prep(st, S_PAY_BY_CHECKOUT);
    if (!s)
        return ST_ERROR;
    bind_text(s, 1, checkout_id);
    return payment_one(s, p);
}

enum store_rc store_payments_list(struct store *st, const char *kind,
                                  void (*fn)(void *, const struct payment *), void *ctx)
{
    sqlite3_stmt *s = prep(st, S_PAY_LIST);
    if (!s)
        return ST_ERROR;
    bind_text(s, 1, kind);
    struct payment *p = malloc(sizeof *p);
    int rc = SQLITE_ERROR;
    while (p && (rc = sqlite3_step(s)) == SQLITE_ROW) {
        read_payment(s, p);
        fn(ctx, p);
    }
    free(p);
    done(s);
    return rc == SQLITE_DONE ? ST_OK : ST_ERROR;
}

/* Rows of a due-work query: ?1 now, ?2 the limit, ?3 the provider (when
 * the query has one). */
static int payments_due(struct store *st, enum stmt_id id, const char *provider, int64_t now,
                        struct payment *out, int max)
{
    sqlite3_stmt *s = prep(st, id);
    if (!s)
        return -1;
    sqlite3_bind_int64(s, 1, now);
    sqlite3_bind_int64(s, 2, max);
    if (provider)
        bind_text(s, 3, provider);
    int n = 0;
    while (n < max && sqlite3_step(s) == SQLITE_ROW)
        read_payment(s, &out[n++]);
    done(s);
    return n;
}

int store_payments_due(struct store *st, const char *provider, int64_t now, struct payment *out, int max)
{
    return payments_due(st, S_PAY_DUE, provider, now, out, max);
}

int store_topups_due(struct store *st, int64_t now, struct payment *out, int max)
{
    return payments_due(st, S_TOPUP_DUE, NULL, now, out, max);
}

enum store_rc store_topups_recover(struct store *st, const char *why)
{
    sqlite3_stmt *s = prep(st, S_TOPUP_RECOVER);
    if (!s)
        return ST_ERROR;
    bind_text(s, 1, why);
    return step_write(st, s, "topups_recover");
}

int store_topup_tries(struct store *st, const char *meter_id, int64_t energy, int64_t from, int64_t to,
                      struct payment *out, int max)
{
    sqlite3_stmt *s = prep(st, S_TOPUP_TRIES);
    if (!s)
        return -1;
    bind_text(s, 1, meter_id);
    sqlite3_bind_int64(s, 2, energy);
    sqlite3_bind_int64(s, 3, from);
    sqlite3_bind_int64(s, 4, to);
    sqlite3_bind_int64(s, 5, max);
    int n = 0, rc = SQLITE_DONE;
    while (n < max && (rc = sqlite3_step(s)) == SQLITE_ROW)
        read_payment(s, &out[n++]);
    bool failed = n < max && rc != SQLITE_DONE;
    done(s);
    return failed ? -1 : n;
}

enum store_rc store_payment_due_now(struct store *st, int64_t id, int64_t now)
{
    sqlite3_stmt *s = prep(st, S_PAY_DUE_NOW);
    if (!s)
        return ST_ERROR;
    sqlite3_bind_int64(s, 1, now);
    sqlite3_bind_int64(s, 2, id);
    enum store_rc rc = step_write(st, s, "payment_due_now");
    return rc == ST_OK && changes(st) == 0 ? ST_NOT_FOUND : rc;
}

enum store_rc store_payment_save(struct store *st, struct payment *p)
{
    sqlite3_stmt *s = prep(st, S_PAY_SAVE);
    if (!s)
        return ST_ERROR;
    int i = 1;
    bind_text(s, i++, p->status);
    if (p->result_code >= 0)
        sqlite3_bind_int64(s, i++, p->result_code);
    else
        sqlite3_bind_null(s, i++);
    bind_text(s, i++, p->result_desc);
    bind_text(s, i++, p->merchant_request_id);
    bind_text(s, i++, p->checkout_request_id);
    bind_text(s, i++, p->response_code);
    bind_text(s, i++, p->response_description);
    bind_text(s, i++, p->customer_message);
    bind_text(s, i++, p->mpesa_receipt);
    sqlite3_bind_int64(s, i++, p->paid_amount);
    sqlite3_bind_int64(s, i++, p->attempts);
    sqlite3_bind_int64(s, i++, p->next_at);
    bind_text(s, i++, p->last_error);
    bind_text(s, i++, p->topup_status);
    sqlite3_bind_int64(s, i++, p->topup_attempts);
    sqlite3_bind_int64(s, i++, p->topup_next_at);
    bind_text(s, i++, p->topup_error);
    sqlite3_bind_int64(s, i++, p->token_minute);
    sqlite3_bind_int64(s, i++, p->energy);
    sqlite3_bind_int64(s, i++, p->topup_sent_at);
    sqlite3_bind_int64(s, i++, now_ms());
    sqlite3_bind_int64(s, i++, p->id);
    sqlite3_bind_int64(s, i++, p->version);
    enum store_rc rc = step_write(st, s, "payment_save");
    if (rc == ST_OK && changes(st) == 0)
        return ST_CONFLICT;
    if (rc == ST_OK)
        p->version++;
    return rc;
}

enum store_rc store_payment_finish(struct store *st, struct payment *p)
{
    sqlite3_stmt *s = prep(st, S_PAY_FINISH);
    if (!s)
        return ST_ERROR;
    int i = 1;
    bind_text(s, i++, p->status);
    sqlite3_bind_int64(s, i++, p->result_code);
    bind_text(s, i++, p->result_desc);
    bind_text(s, i++, p->mpesa_receipt);
    sqlite3_bind_int64(s, i++, p->paid_amount);
    bind_text(s, i++, p->last_error);
    bind_text(s, i++, p->topup_status);
    sqlite3_bind_int64(s, i++, p->topup_next_at);
    sqlite3_bind_int64(s, i++, p->token_minute);
    sqlite3_bind_int64(s, i++, now_ms());
    sqlite3_bind_int64(s, i++, p->id);
    enum store_rc rc = step_write(st, s, "payment_finish");
    if (rc == ST_OK && changes(st) == 0)
        return ST_CONFLICT;
    if (rc == ST_OK)
        p->version++;
    return rc;
}

/* ---- raw callbacks ---- */

enum store_rc store_callback_add(struct store *st, const char *checkout_id, int64_t result_code,
                                 const char *body, int64_t *id)
{
    sqlite3_stmt *s = prep(st, S_CB_INSERT);
    if (!s)
        return ST_ERROR;
    bind_text(s, 1, checkout_id);
    sqlite3_bind_int64(s, 2, result_code);
    bind_text(s, 3, body);
    sqlite3_bind_int64(s, 4, now_ms());
    enum store_rc rc = step_write(st, s, "callback_insert");
    if (rc == ST_OK && id)
        *id = sqlite3_last_insert_rowid(conn_get(st)->db);
    return rc;
}

enum store_rc store_callback_pending(struct store *st, const char *checkout_id, char *body, size_t bodysz)
{
    sqlite3_stmt *s = prep(st, S_CB_PENDING);
    if (!s)
        return ST_ERROR;
    bind_text(s, 1, checkout_id);
    int rc = sqlite3_step(s);
    if (rc == SQLITE_ROW)
        col_text(s, 0, body, bodysz);
    done(s);
    return rc == SQLITE_ROW ? ST_OK : rc == SQLITE_DONE ? ST_NOT_FOUND : ST_ERROR;
}

enum store_rc store_callback_applied(struct store *st, const char *checkout_id)
{
    sqlite3_stmt *s = prep(st, S_CB_APPLIED);
    if (!s)
        return ST_ERROR;
    bind_text(s, 1, checkout_id);
    return step_write(st, s, "callback_applied");
}

int store_callbacks_new(struct store *st, struct store_callback *out, int max)
{
    sqlite3_stmt *s = prep(st, S_CB_NEW);
    if (!s)
        return -1;
    sqlite3_bind_int64(s, 1, max);
    int n = 0;
    while (n < max && sqlite3_step(s) == SQLITE_ROW) {
        out[n].id = sqlite3_column_int64(s, 0);
        COPY(s, 1, out[n].body);
        n++;
    }
    done(s);
    return n;
}

enum store_rc store_callback_waiting(struct store *st, int64_t id)
{
    sqlite3_stmt *s = prep(st, S_CB_WAITING);
    if (!s)
        return ST_ERROR;
    sqlite3_bind_int64(s, 1, id);
    return step_write(st, s, "callback_waiting");
}

/* ---- outbox ---- */

enum store_rc store_outbox_add(struct store *st, struct outbox_msg *m)
{
    sqlite3_stmt *s = prep(st, S_OUTBOX_INSERT);
    if (!s)
        return ST_ERROR;
    int64_t now = now_ms();
    bind_text(s, 1, m->phone);
    bind_text(s, 2, m->body);
    bind_text(s, 3, m->kind[0] ? m->kind : "receipt");
    sqlite3_bind_int64(s, 4, m->payment_id);
    sqlite3_bind_int64(s, 5, m->next_at ? m->next_at : now);
    bind_text(s, 6, m->encoding[0] ? m->encoding : "GSM-7");
    sqlite3_bind_int64(s, 7, m->parts ? m->parts : 1);
    sqlite3_bind_int64(s, 8, now);
    sqlite3_bind_int64(s, 9, now);
    enum store_rc rc = step_write(st, s, "outbox_insert");
    if (rc == ST_OK)
        m->id = sqlite3_last_insert_rowid(conn_get(st)->db);
    return rc;
}

int store_outbox_due(struct store *st, int64_t now, struct outbox_msg *out, int max)
{
    sqlite3_stmt *s = prep(st, S_OUTBOX_DUE);
    if (!s)
        return -1;
    sqlite3_bind_int64(s, 1, now);
    sqlite3_bind_int64(s, 2, max);
    int n = 0;
    while (n < max && sqlite3_step(s) == SQLITE_ROW)
        read_outbox(s, &out[n++]);
    done(s);
    return n;
}

enum store_rc store_outbox_save(struct store *st, const struct outbox_msg *m)
{
    sqlite3_stmt *s = prep(st, S_OUTBOX_SAVE);
    if (!s)
        return ST_ERROR;
    bind_text(s, 1, m->status);
    sqlite3_bind_int64(s, 2, m->attempts);
    sqlite3_bind_int64(s, 3, m->next_at);
    bind_text(s, 4, m->last_error);
    bind_text(s, 5, m->provider_id);
    sqlite3_bind_int64(s, 6, now_ms());
    sqlite3_bind_int64(s, 7, m->id);
    enum store_rc rc = step_write(st, s, "outbox_save");
    return rc == ST_OK && changes(st) == 0 ? ST_NOT_FOUND : rc;
}

enum store_rc store_outbox_list(struct store *st, const char *phone, const char *status, int64_t limit,
                                int64_t offset, void (*fn)(void *, const struct outbox_msg *), void *ctx)
{
    sqlite3_stmt *s = prep(st, S_OUTBOX_LIST);
    if (!s)
        return ST_ERROR;
    bind_text(s, 1, phone);
    bind_text(s, 2, status);
    sqlite3_bind_int64(s, 3, limit);
    sqlite3_bind_int64(s, 4, offset);
    struct outbox_msg *m = malloc(sizeof *m);
    int rc = SQLITE_ERROR;
    while (m && (rc = sqlite3_step(s)) == SQLITE_ROW) {
        read_outbox(s, m);
        fn(ctx, m);
    }
    free(m);
    done(s);
    return rc == SQLITE_DONE ? ST_OK : ST_ERROR;
}

int64_t store_outbox_depth(struct store *st)
{
    sqlite3_stmt *s = prep(st, S_OUTBOX_DEPTH);
    if (!s)
        return -1;
    int64_t n = sqlite3_step(s) == SQLITE_ROW ? sqlite3_column_int64(s, 0) : -1;
    done(s);
    return n;
}

enum store_rc store_outbox_recover(struct store *st)
{
    sqlite3_stmt *s = prep(st, S_OUTBOX_RECOVER);
    return s ? step_write(st, s, "outbox_recover") : ST_ERROR;
}

/* ---- USSD ---- */

enum store_rc store_session_get(struct store *st, const char *id, struct ussd_row *r)
{
    return hot_session_get(st->hot, id, r) ? ST_OK : ST_NOT_FOUND;
}

enum store_rc store_session_put(struct store *st, const char *id, const char *phone, const struct ussd_row *r)
{
    return hot_session_put(st->hot, id, phone, r) ? ST_OK : ST_ERROR;
}

/* Sessions stay in memory for a minute after their last hop (a caller has
 * about 30 s per screen), or until the cap makes them room for newer ones;
 * one no longer held is rebuilt from AT's text if it comes back
 * (ussd/handler.c). Cached callers stay a minute after their last use. */
#define SESSION_MEMORY_MS (60 * 1000)

bool store_memory_caps(struct store *st, size_t max_sessions, size_t max_callers)
{
    struct hot *h = hot_new(max_sessions, max_callers);
    if (!h)
        return false;
    hot_free(st->hot);
    st->hot = h;
    return true;
}

void store_memory(struct store *st, struct store_memory *m)
{
    struct hot_stats s;
    hot_stats(st->hot, &s);
    m->sessions = (int64_t)s.sessions;
    m->callers = (int64_t)s.callers;
    m->bytes = (int64_t)s.bytes;
    m->sessions_dropped = (int64_t)s.sessions_dropped;
    m->callers_dropped = (int64_t)s.callers_dropped;
}

void store_maintain(struct store *st)
{
    int64_t now = now_ms();
    take_retry(st, now);
    if (now - atomic_load(&st->evicted_at) > 5000) {
        atomic_store(&st->evicted_at, now);
        hot_evict(st->hot, now - SESSION_MEMORY_MS);
        int64_t t0 = now_ms();
        if (hot_trim(st->hot, t0)) { /* a burst expired: its memory goes back */
            struct hot_stats m;
            hot_stats(st->hot, &m);
            log_info("store.memory_returned", "took_ms=%lld sessions=%zu callers=%zu held_kb=%zu",
                     (long long)(now_ms() - t0), m.sessions, m.callers, m.bytes / 1024);
        }
    }
    /* Connections do not checkpoint on commit (that fsync would land on a
     * USSD hop): the WAL is copied back here. PASSIVE never waits for
     * readers or writers; after a complete checkpoint the next writer
     * starts the WAL over, so it stays bounded, and journal_size_limit
     * trims the file then. */
    if (now - atomic_load(&st->checkpointed_at) < 1000)
        return; /* workers are woken by every purchase: once a second is plenty */
    atomic_store(&st->checkpointed_at, now);
    struct conn *c = conn_get(st);
    if (c)
        sqlite3_wal_checkpoint_v2(c->db, NULL, SQLITE_CHECKPOINT_PASSIVE, NULL, NULL);
}

/* On a miss, one statement (one read transaction) reads the user and
 * their meters: a caller seen for the first time costs a few b-tree
 * lookups, and a number nobody registered only the phone index's. */
enum store_rc store_caller(struct store *st, const char *phone, struct store_caller *c)
{
    int64_t gen = atomic_load(&st->gen); /* read before loading: see hot.h */
    if (hot_caller_get(st->hot, phone, gen, c))
        return ST_OK;
    sqlite3_stmt *s = prep(st, S_CALLER);
    if (!s)
        return ST_ERROR;
    bind_text(s, 1, phone);
    c->registered = false;
    c->nmeters = 0;
    memset(&c->user, 0, sizeof c->user);
    int rc;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        if (!c->registered)
            read_user(s, &c->user);
        c->registered = true;
        if (sqlite3_column_type(s, 9) == SQLITE_NULL || c->nmeters == STORE_CALLER_METERS)
            continue; /* no meters; or more than a caller is shown */
        struct store_caller_meter *m = &c->meters[c->nmeters++];
        COPY(s, 9, m->id);
        COPY(s, 10, m->name);
        m->price_per_kwh = sqlite3_column_int64(s, 11);
        m->active = sqlite3_column_int(s, 12) != 0;
    }
    done(s);
    if (rc != SQLITE_DONE)
        return ST_ERROR;
    hot_caller_put(st->hot, phone, gen, c);
    return ST_OK;
}

enum store_rc store_ussd_event_add(struct store *st, const struct ussd_event *e)
{
    sqlite3_stmt *s = prep(st, S_EVENT_INSERT);
    if (!s)
        return ST_ERROR;
    bind_text(s, 1, e->session_id);
    bind_text(s, 2, e->phone);
    bind_text(s, 3, e->service_code);
    bind_text(s, 4, e->network_code);
    bind_text(s, 5, e->status);
    bind_text(s, 6, e->cost);
    sqlite3_bind_int64(s, 7, e->duration_ms);
    sqlite3_bind_int64(s, 8, e->hops);
    bind_text(s, 9, e->input);
    bind_text(s, 10, e->error);
    bind_text(s, 11, e->date);
    sqlite3_bind_int64(s, 12, now_ms());
    enum store_rc rc = step_write(st, s, "event_insert");
    return rc == ST_OK && changes(st) == 0 ? ST_CONFLICT : rc;
}

/* ---- applied tokens ---- */

enum store_rc store_token_record(struct store *st, const char *meter_id, const char *token_hmac)
{
    sqlite3_stmt *s = prep(st, S_TOKEN_RECORD);
    if (!s)
        return ST_ERROR;
    bind_text(s, 1, meter_id);
    bind_text(s, 2, token_hmac);
    sqlite3_bind_int64(s, 3, now_ms());
    return step_write(st, s, "token_record");
}

enum store_rc store_token_forget(struct store *st, const char *meter_id, const char *token_hmac)
{
    sqlite3_stmt *s = prep(st, S_TOKEN_FORGET);
    if (!s)
        return ST_ERROR;
    bind_text(s, 1, meter_id);
    bind_text(s, 2, token_hmac);
    enum store_rc rc = step_write(st, s, "token_forget");
    return rc == ST_OK && changes(st) == 0 ? ST_NOT_FOUND : rc;
}

enum store_rc store_meter_energy_bought(struct store *st, const char *meter_id, int64_t since_ms, int64_t *tenths)
{
    sqlite3_stmt *s = prep(st, S_METER_BOUGHT);
    if (!s)
        return ST_ERROR;
    bind_text(s, 1, meter_id);
    sqlite3_bind_int64(s, 2, since_ms);
    int rc = sqlite3_step(s);
    if (rc == SQLITE_ROW)
        *tenths = sqlite3_column_int64(s, 0);
    done(s);
    return rc == SQLITE_ROW ? ST_OK : ST_ERROR;
}

enum store_rc store_meter_by_device(struct store *st, const char *device_id, struct meter *m)
{
    sqlite3_stmt *s = prep(st, S_METER_BY_DEVICE);
    if (!s)
        return ST_ERROR;
    bind_text(s, 1, device_id);
    int rc = sqlite3_step(s);
    if (rc == SQLITE_ROW)
        read_meter(s, m);
    done(s);
    return rc == SQLITE_ROW ? ST_OK : rc == SQLITE_DONE ? ST_NOT_FOUND : ST_ERROR;
}

/* ---- internals for the other files of src/store (store_int.h) ---- */

sqlite3_stmt *st_stmt(struct store *st, const char *sql)
{
    struct conn *c = conn_get(st);
    if (!c)
        return NULL;
    size_t h = ((uintptr_t)sql >> 4) % DYN_SLOTS;
    for (size_t k = 0; k < DYN_SLOTS; k++, h = (h + 1) % DYN_SLOTS) {
        if (c->dyn[h].sql == sql)
            return c->dyn[h].stmt;
        if (!c->dyn[h].sql) {
            if (sqlite3_prepare_v3(c->db, sql, -1, SQLITE_PREPARE_PERSISTENT, &c->dyn[h].stmt, NULL) != SQLITE_OK) {
                log_error("store.prepare", "error=\"%s\"", sqlite3_errmsg(c->db));
                c->dyn[h].stmt = NULL;
                return NULL;
            }
            c->dyn[h].sql = sql;
            return c->dyn[h].stmt;
        }
    }
    log_error("store.prepare", "error=\"statement cache full\"");
    return NULL;
}

void st_done(sqlite3_stmt *s) { done(s); }
void st_bind_text(sqlite3_stmt *s, int i, const char *v) { bind_text(s, i, v); }
void st_col_text(sqlite3_stmt *s, int i, char *dst, size_t n) { col_text(s, i, dst, n); }
enum store_rc st_step_write(struct store *st, sqlite3_stmt *s, const char *what) { return step_write(st, s, what); }
int st_changes(struct store *st) { return changes(st); }
int64_t st_last_id(struct store *st)
{
    struct conn *c = conn_get(st);
    return c ? sqlite3_last_insert_rowid(c->db) : 0;
}
void st_bump(struct store *st) { bump(st); }
