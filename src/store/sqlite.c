/* store/sqlite: the SQLite backend (struct st_backend, store_int.h). One
 * database file in WAL mode; the only file of lipa that includes
 * sqlite3.h. */
#include "store/store_int.h"

#include "util/log.h"
#include "util/str.h"

#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct st_conn {
    sqlite3 *db;
};

struct lite_stmt {
    struct st_stmt base;
    sqlite3_stmt *s;
};

#define LITE(x) ((struct lite_stmt *)(x))

static const char BEGIN_SQL[] = "BEGIN IMMEDIATE";

/* SQLite's process-wide settings, once, before its first use: no memory
 * statistics (they take a global mutex on every allocation SQLite makes,
 * on every thread: the committer's hottest lock under the benchmark). */
static void lite_setup(void)
{
    sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);
}

static void lite_close(struct st_conn *c)
{
    if (!c)
        return;
    sqlite3_close(c->db);
    free(c);
}

static struct st_conn *lite_open(const char *path, char *err, size_t errsz)
{
    struct st_conn *c = calloc(1, sizeof *c);
    if (!c)
        return NULL;
    int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX;
    if (sqlite3_open_v2(path, &c->db, flags, NULL) != SQLITE_OK) {
        snprintf(err, errsz, "cannot open %s: %s", path, sqlite3_errmsg(c->db));
        lite_close(c);
        return NULL;
    }
    sqlite3_busy_timeout(c->db, 5000);
    char *msg = NULL;
    /* 1 KB pages for a new database (an existing one keeps its own): a
     * commit writes each page it touched whole to the WAL, and a purchase
     * touches a few index pages at scattered places, so smaller pages are
     * fewer bytes to the disk for the same rows. Under make bench lipad
     * wrote about half the bytes it wrote with SQLite's default of 4 KB,
     * at the same CPU per stored purchase (docs/performance.md). */
    if (sqlite3_exec(c->db, "PRAGMA page_size=1024; PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; "
                            "PRAGMA foreign_keys=ON; PRAGMA temp_store=MEMORY; "
                            /* checkpoints run in upkeep, off the hop path */
                            "PRAGMA wal_autocheckpoint=0; PRAGMA journal_size_limit=67108864;",
                     NULL, NULL, &msg) != SQLITE_OK) {
        snprintf(err, errsz, "cannot configure %s: %s", path, msg ? msg : "?");
        sqlite3_free(msg);
        lite_close(c);
        return NULL;
    }
    return c;
}

static bool lite_migrate(struct st_conn *c, const char *dir, char *err, size_t errsz)
{
    sqlite3 *db = c->db;
    char *msg = NULL;
    if (sqlite3_exec(db, "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, "
                         "name TEXT NOT NULL, applied_at INTEGER NOT NULL)",
                     NULL, NULL, &msg) != SQLITE_OK) {
        snprintf(err, errsz, "migrations: %s", msg ? msg : "?");
        sqlite3_free(msg);
        return false;
    }
    char *names[ST_MIGRATIONS_MAX];
    int n = st_migration_files(dir, names, err, errsz);
    if (n < 0)
        return false;
    bool ok = true;
    sqlite3_stmt *has = NULL, *rec = NULL;
    sqlite3_prepare_v2(db, "SELECT 1 FROM schema_migrations WHERE version = ?", -1, &has, NULL);
    sqlite3_prepare_v2(db, "INSERT INTO schema_migrations (version, name, applied_at) VALUES (?,?,?)", -1,
                       &rec, NULL);
    for (int i = 0; ok && i < n; i++) {
        long version = strtol(names[i], NULL, 10);
        sqlite3_bind_int64(has, 1, version);
        bool applied = sqlite3_step(has) == SQLITE_ROW;
        sqlite3_reset(has);
        if (applied)
            continue;
        char path[1200];
        snprintf(path, sizeof path, "%s/%s", dir, names[i]);
        char *sql = st_file_text(path);
        if (!sql) {
            snprintf(err, errsz, "migrations: cannot read %s", path);
            ok = false;
            break;
        }
        if (sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK ||
            sqlite3_exec(db, sql, NULL, NULL, &msg) != SQLITE_OK) {
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
        free(sql);
    }
    sqlite3_finalize(has);
    sqlite3_finalize(rec);
    for (int i = 0; i < n; i++)
        free(names[i]);
    return ok;
}

static struct st_stmt *lite_prepare(struct st_conn *c, const char *sql)
{
    struct lite_stmt *s = calloc(1, sizeof *s);
    if (!s)
        return NULL;
    s->base.be = &st_sqlite;
    if (sqlite3_prepare_v3(c->db, sql, -1, SQLITE_PREPARE_PERSISTENT, &s->s, NULL) != SQLITE_OK) {
        log_error("store.prepare", "error=\"%s\"", sqlite3_errmsg(c->db));
        sqlite3_finalize(s->s);
        free(s);
        return NULL;
    }
    return &s->base;
}

static void lite_finalize(struct st_stmt *s)
{
    if (s) {
        sqlite3_finalize(LITE(s)->s);
        free(s);
    }
}

static void lite_reset(struct st_stmt *s)
{
    sqlite3_reset(LITE(s)->s);
    sqlite3_clear_bindings(LITE(s)->s);
}

static void lite_bind_i64(struct st_stmt *s, int i, int64_t v)
{
    sqlite3_bind_int64(LITE(s)->s, i, v);
}

static void lite_bind_text(struct st_stmt *s, int i, const char *v)
{
    sqlite3_bind_text(LITE(s)->s, i, v, -1, SQLITE_TRANSIENT);
}

static void lite_bind_null(struct st_stmt *s, int i)
{
    sqlite3_bind_null(LITE(s)->s, i);
}

static int lite_step(struct st_stmt *s)
{
    int rc = sqlite3_step(LITE(s)->s);
    return rc == SQLITE_ROW ? ST_ROW : rc == SQLITE_DONE ? ST_DONE : (rc & 0xff) == SQLITE_CONSTRAINT ? ST_CONSTRAINT
                                                                                                      : ST_FAILED;
}

static int64_t lite_col_i64(struct st_stmt *s, int i)
{
    return sqlite3_column_int64(LITE(s)->s, i);
}

static const char *lite_col_text(struct st_stmt *s, int i)
{
    const unsigned char *v = sqlite3_column_text(LITE(s)->s, i);
    return v ? (const char *)v : "";
}

static bool lite_col_null(struct st_stmt *s, int i)
{
    return sqlite3_column_type(LITE(s)->s, i) == SQLITE_NULL;
}

static int lite_ncols(struct st_stmt *s)
{
    return sqlite3_column_count(LITE(s)->s);
}

static const char *lite_col_name(struct st_stmt *s, int i)
{
    const char *n = sqlite3_column_name(LITE(s)->s, i);
    return n ? n : "";
}

static const char *lite_errmsg(struct st_stmt *s)
{
    return sqlite3_errmsg(sqlite3_db_handle(LITE(s)->s));
}

static int lite_changes(struct st_conn *c)
{
    return sqlite3_changes(c->db);
}

static bool lite_in_tx(struct st_conn *c)
{
    return !sqlite3_get_autocommit(c->db);
}

/* Connections do not checkpoint on commit (that fsync would land on a USSD
 * hop): the WAL is copied back here. PASSIVE never waits for readers or
 * writers; after a complete checkpoint the next writer starts the WAL
 * over, so it stays bounded, and journal_size_limit trims the file then. */
static void lite_upkeep(struct st_conn *c)
{
    sqlite3_wal_checkpoint_v2(c->db, NULL, SQLITE_CHECKPOINT_PASSIVE, NULL, NULL);
}

/* The first row of sql's answer on db as text into out; false when it
 * gave none. */
static bool lite_first(sqlite3 *db, const char *sql, char *out, size_t n)
{
    sqlite3_stmt *s = NULL;
    bool ok = sqlite3_prepare_v2(db, sql, -1, &s, NULL) == SQLITE_OK && sqlite3_step(s) == SQLITE_ROW;
    if (ok)
        str_copy(out, n, (const char *)sqlite3_column_text(s, 0) ? (const char *)sqlite3_column_text(s, 0) : "");
    sqlite3_finalize(s);
    return ok;
}

/* store_backup's database part. The source is opened read-write without
 * create (a WAL reader may need to write the -shm; a missing file is an
 * error, not a new database), and copied in one step: one read
 * transaction, a snapshot lipad's commits do not disturb. Copied page by
 * page in several steps instead, every commit of lipad's would restart the
 * copy from its first page. */
static bool lite_backup(const char *target, const char *to, struct store_backup *b, char *err, size_t errsz)
{
    sqlite3 *src = NULL, *dst = NULL;
    sqlite3_backup *bk = NULL;
    bool ok = false;
    if (sqlite3_open_v2(target, &src, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, NULL) != SQLITE_OK) {
        snprintf(err, errsz, "cannot open %s: %s", target, sqlite3_errmsg(src));
        goto out;
    }
    sqlite3_busy_timeout(src, 5000);
    if (sqlite3_open_v2(to, &dst, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL) !=
        SQLITE_OK) {
        snprintf(err, errsz, "cannot create %s: %s", to, sqlite3_errmsg(dst));
        goto out;
    }
    sqlite3_busy_timeout(dst, 5000);
    if (!(bk = sqlite3_backup_init(dst, "main", src, "main"))) {
        snprintf(err, errsz, "cannot back up %s: %s", target, sqlite3_errmsg(dst));
        goto out;
    }
    int rc;
    /* BUSY: a checkpoint or a writer held the file for longer than the
     * busy timeout (rare in WAL mode): tried again, a few times */
    for (int tries = 0; (rc = sqlite3_backup_step(bk, -1)) == SQLITE_BUSY || rc == SQLITE_LOCKED; tries++) {
        if (tries == 5)
            break;
        sqlite3_sleep(200);
    }
    b->pages = sqlite3_backup_pagecount(bk);
    if (sqlite3_backup_finish(bk) != SQLITE_OK || rc != SQLITE_DONE) {
        bk = NULL;
        snprintf(err, errsz, "cannot back up %s: %s", target, sqlite3_errstr(rc));
        goto out;
    }
    bk = NULL;
    /* the copy as one file (no -wal beside it), like a database just made */
    char mode[32];
    if (!lite_first(dst, "PRAGMA journal_mode=DELETE", mode, sizeof mode) || strcmp(mode, "delete")) {
        snprintf(err, errsz, "cannot finish %s: %s", to, sqlite3_errmsg(dst));
        goto out;
    }
    if (!lite_first(dst, "PRAGMA integrity_check(1)", b->integrity, sizeof b->integrity)) {
        snprintf(err, errsz, "cannot check %s: %s", to, sqlite3_errmsg(dst));
        goto out;
    }
    char v[32] = "";
    if (!lite_first(dst, "SELECT max(version) FROM schema_migrations", v, sizeof v) || !*v) {
        snprintf(err, errsz, "%s is not a lipa database (no schema_migrations)", target);
        goto out;
    }
    b->schema = strtoll(v, NULL, 10);
    char size[32] = "";
    lite_first(dst, "SELECT page_count * page_size FROM pragma_page_count(), pragma_page_size()", size, sizeof size);
    b->bytes = strtoll(size, NULL, 10);
    ok = true;
out:
    if (bk)
        sqlite3_backup_finish(bk);
    if (dst && sqlite3_close(dst) != SQLITE_OK && ok) {
        snprintf(err, errsz, "cannot close %s", to);
        ok = false;
    }
    sqlite3_close(src);
    return ok;
}

const struct st_backend st_sqlite = {
    .name = "sqlite",
    .begin_sql = BEGIN_SQL,
    /* One writer at a time inside the process: SQLite would otherwise
     * answer SQLITE_BUSY and its busy handler sleeps in whole
     * milliseconds, which is what a USSD hop cannot afford. */
    .one_writer = true,
    .local = true,
    .migrations = "",
    .setup = lite_setup,
    .open = lite_open,
    .close = lite_close,
    .migrate = lite_migrate,
    .prepare = lite_prepare,
    .finalize = lite_finalize,
    .reset = lite_reset,
    .bind_i64 = lite_bind_i64,
    .bind_text = lite_bind_text,
    .bind_null = lite_bind_null,
    .step = lite_step,
    .col_i64 = lite_col_i64,
    .col_text = lite_col_text,
    .col_null = lite_col_null,
    .ncols = lite_ncols,
    .col_name = lite_col_name,
    .errmsg = lite_errmsg,
    .changes = lite_changes,
    .in_tx = lite_in_tx,
    .upkeep = lite_upkeep,
    .reconnects = NULL, /* a file does not go away */
    .backup = lite_backup,
};
