/* store: SQLite behind prepared statements, one connection per thread;
 * see store.h for the contract. */
#include "store/store.h"

#include "store/submit.h"
#include "store/hop.h"
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

static const char SQL_BEGIN[] = "BEGIN IMMEDIATE";
static const char SQL_COMMIT[] = "COMMIT";
static const char SQL_PING[] = "SELECT 1";
static const char SQL_ROLLBACK[] = "ROLLBACK";

#define STMT_SLOTS 512 /* prepared statements a connection keeps, by SQL address */

struct conn {
    sqlite3 *db;
    struct {
        const char *sql;
        sqlite3_stmt *stmt;
    } stmt[STMT_SLOTS];
    bool in_tx;                /* this thread holds wlock for a transaction */
    bool bump_at_end;          /* the transaction wrote users/meters/assignments */
};


/* Callers cached before this are stale. */
void st_bump(struct store *st)
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
    for (int i = 0; i < STMT_SLOTS; i++)
        sqlite3_finalize(c->stmt[i].stmt);
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

void st_done(sqlite3_stmt *s)
{
    if (s) {
        sqlite3_reset(s);
        sqlite3_clear_bindings(s);
    }
}

void st_bind_text(sqlite3_stmt *s, int i, const char *v)
{
    sqlite3_bind_text(s, i, v ? v : "", -1, SQLITE_TRANSIENT);
}

void st_col_text(sqlite3_stmt *s, int i, char *dst, size_t n)
{
    const unsigned char *v = sqlite3_column_text(s, i);
    str_copy(dst, n, v ? (const char *)v : "");
}

enum store_rc st_step_write(struct store *st, sqlite3_stmt *s, const char *what)
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
    st_done(s);
    return out;
}

int st_changes(struct store *st)
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
    st->hop = hop_new(STORE_SESSIONS_MAX, STORE_CALLERS_MAX);
    st->submit = submit_new(st);
    struct conn *c = st->hop && st->submit ? conn_open(path, err, errsz) : NULL;
    if (!c || !migrate(c->db, migrations_dir, err, errsz)) {
        conn_close(c);
        store_close(st);
        return NULL;
    }
    conn_close(c);
    if (!(st->intake = intake_open(path, err, errsz)) || !st_take_restore(st, err, errsz)) {
        store_close(st);
        return NULL;
    }
    return st;
}

void store_close(struct store *st)
{
    if (!st)
        return;
    submit_free(st->submit); /* runs what is queued; refusals join the retry list */
    st_take_forget(st); /* their lines stay for the next start */
    if (st->intake)
        intake_tidy(st->intake); /* a clean stop leaves nothing to restore */
    intake_close(st->intake);
    hop_free(st->hop);
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
    return submit_queue(st->submit, write, finished, arg);
}

bool store_ping(struct store *st)
{
    sqlite3_stmt *s = st_stmt(st, SQL_PING);
    bool ok = s && sqlite3_step(s) == SQLITE_ROW;
    st_done(s);
    return ok;
}

enum store_rc store_begin(struct store *st)
{
    struct conn *c = conn_get(st);
    sqlite3_stmt *s = st_stmt(st, SQL_BEGIN);
    if (!c || !s || c->in_tx)
        return ST_ERROR;
    pthread_mutex_lock(&st->wlock);
    c->in_tx = true;
    enum store_rc rc = st_step_write(st, s, "begin");
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
            st_bump(st);
        }
    }
}

enum store_rc store_commit(struct store *st)
{
    struct conn *c = conn_get(st);
    sqlite3_stmt *s = st_stmt(st, SQL_COMMIT);
    enum store_rc rc = s ? st_step_write(st, s, "commit") : ST_ERROR;
    tx_end(st, c);
    return rc;
}

void store_rollback(struct store *st)
{
    struct conn *c = conn_get(st);
    if (c && !sqlite3_get_autocommit(c->db)) {
        sqlite3_stmt *s = st_stmt(st, SQL_ROLLBACK);
        if (s)
            st_step_write(st, s, "rollback");
    }
    tx_end(st, c);
}

#define SESSION_MEMORY_MS (60 * 1000)

bool store_memory_caps(struct store *st, size_t max_sessions, size_t max_callers)
{
    struct hop *h = hop_new(max_sessions, max_callers);
    if (!h)
        return false;
    hop_free(st->hop);
    st->hop = h;
    return true;
}

void store_memory(struct store *st, struct store_memory *m)
{
    struct hop_stats s;
    hop_stats(st->hop, &s);
    m->sessions = (int64_t)s.sessions;
    m->callers = (int64_t)s.callers;
    m->bytes = (int64_t)s.bytes;
    m->sessions_dropped = (int64_t)s.sessions_dropped;
    m->callers_dropped = (int64_t)s.callers_dropped;
}

void store_maintain(struct store *st)
{
    int64_t now = now_ms();
    st_take_retry(st, now);
    if (now - atomic_load(&st->evicted_at) > 5000) {
        atomic_store(&st->evicted_at, now);
        hop_evict(st->hop, now - SESSION_MEMORY_MS);
        int64_t t0 = now_ms();
        if (hop_trim(st->hop, t0)) { /* a burst expired: its memory goes back */
            struct hop_stats m;
            hop_stats(st->hop, &m);
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
/* ---- the statement cache and helpers of every store file (store_int.h) ---- */

sqlite3_stmt *st_stmt(struct store *st, const char *sql)
{
    struct conn *c = conn_get(st);
    if (!c)
        return NULL;
    size_t h = ((uintptr_t)sql >> 4) % STMT_SLOTS;
    for (size_t k = 0; k < STMT_SLOTS; k++, h = (h + 1) % STMT_SLOTS) {
        if (c->stmt[h].sql == sql)
            return c->stmt[h].stmt;
        if (!c->stmt[h].sql) {
            if (sqlite3_prepare_v3(c->db, sql, -1, SQLITE_PREPARE_PERSISTENT, &c->stmt[h].stmt, NULL) != SQLITE_OK) {
                log_error("store.prepare", "error=\"%s\"", sqlite3_errmsg(c->db));
                c->stmt[h].stmt = NULL;
                return NULL;
            }
            c->stmt[h].sql = sql;
            return c->stmt[h].stmt;
        }
    }
    log_error("store.prepare", "error=\"statement cache full\"");
    return NULL;
}

int64_t st_last_id(struct store *st)
{
    struct conn *c = conn_get(st);
    return c ? sqlite3_last_insert_rowid(c->db) : 0;
}


enum store_rc st_row_rc(int step_rc)
{
    return step_rc == SQLITE_ROW ? ST_OK : step_rc == SQLITE_DONE ? ST_NOT_FOUND : ST_ERROR;
}

enum store_rc st_changed_one(struct store *st, enum store_rc rc)
{
    return rc == ST_OK && st_changes(st) == 0 ? ST_NOT_FOUND : rc;
}
