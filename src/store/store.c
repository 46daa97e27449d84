/* store: a database behind prepared statements, one connection per
 * thread; see store.h for the contract. The backend (store/sqlite.c or
 * store/pg.c) is chosen here, by the target's form. */
#include "store/store.h"

#include "store/submit.h"
#include "store/hop.h"
#include "store/intake.h"
#include "store/store_int.h"

#include "util/log.h"
#include "util/str.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char SQL_COMMIT[] = "COMMIT";
static const char SQL_PING[] = "SELECT 1";
static const char SQL_ROLLBACK[] = "ROLLBACK";
/* each count reads a partial index (db/): only the rows that wait */
static const char SQL_QUEUES[] =
    "SELECT 0, COUNT(*), COALESCE(MIN(created_at),0) FROM payments WHERE status IN ('pending','processing') "
    "UNION ALL SELECT 1, COUNT(*), COALESCE(MIN(created_at),0) FROM payments "
    "WHERE topup_status IN ('queued','sending','checking') "
    "UNION ALL SELECT 2, COUNT(*), COALESCE(MIN(received_at),0) FROM sms_inbound WHERE status = 'queued' "
    "UNION ALL SELECT 3, COUNT(*), COALESCE(MIN(created_at),0) FROM client_notices WHERE status = 'queued' "
    "UNION ALL SELECT 4, COUNT(*), COALESCE(MIN(created_at),0) FROM escrow_releases "
    "WHERE status IN ('queued','pending')";

#define STMT_SLOTS 512 /* prepared statements a connection keeps, by SQL address */

struct conn {
    const struct st_backend *be;
    struct st_conn *db;
    struct {
        const char *sql;
        struct st_stmt *stmt;
    } stmt[STMT_SLOTS];
    int64_t last_id;           /* what the last write's RETURNING id gave */
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
    if (c && c->be->changed) /* and the other lipads' */
        c->be->changed(c->db);
}

void st_point_changed(struct store *st, const char *phone)
{
    struct conn *c = pthread_getspecific(st->key);
    if (c && c->be->point_changed)
        c->be->point_changed(c->db, phone);
}

static void heard(void *ctx)
{
    struct store *st = ctx;
    atomic_fetch_add(&st->gen, 1);
}

static void heard_point(void *ctx, const char *phone)
{
    st_points_heard(ctx, phone);
}

static void *listener(void *arg)
{
    struct store *st = arg;
    pthread_setname_np(pthread_self(), "store-listen");
    st->be->listen(st->path, heard, heard_point, st, &st->stop);
    return NULL;
}

static void conn_close(struct conn *c)
{
    if (!c)
        return;
    for (int i = 0; i < STMT_SLOTS; i++)
        if (c->stmt[i].stmt)
            c->be->finalize(c->stmt[i].stmt);
    c->be->close(c->db);
    free(c);
}

static struct conn *conn_open(const struct st_backend *be, const char *target, char *err, size_t errsz)
{
    struct conn *c = calloc(1, sizeof *c);
    if (!c)
        return NULL;
    c->be = be;
    if (!(c->db = be->open(target, err, errsz))) {
        free(c);
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
    c = conn_open(st->be, st->path, err, sizeof err);
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

void st_done(struct st_stmt *s)
{
    if (s)
        s->be->reset(s);
}

/* Text is stored as UTF-8 on both backends (PostgreSQL refuses anything
 * else): a byte that is not part of a valid sequence (hostile input; a
 * real phone sends UTF-8) is stored as U+FFFD. */
char *st_utf8_repaired(const char *v, bool *oom)
{
    uint32_t cp;
    size_t n = strlen(v), at = 0;
    int k;
    *oom = false;
    while (at < n && (k = str_utf8_next(v + at, n - at, &cp)) > 0)
        at += (size_t)k;
    if (at == n)
        return NULL;
    char *clean = malloc(n * 3 + 1), *o = clean;
    if (!clean) {
        *oom = true;
        return NULL;
    }
    for (at = 0; at < n;) {
        k = str_utf8_next(v + at, n - at, &cp);
        if (k > 0) {
            memcpy(o, v + at, (size_t)k);
            o += k;
            at += (size_t)k;
        } else {
            memcpy(o, "\xEF\xBF\xBD", 3);
            o += 3;
            at++;
        }
    }
    *o = '\0';
    return clean;
}

void st_bind_text(struct st_stmt *s, int i, const char *v)
{
    bool oom;
    char *clean = st_utf8_repaired(v ? v : "", &oom);
    /* out of memory: the write stores less, never bytes PostgreSQL refuses */
    s->be->bind_text(s, i, clean ? clean : oom ? "" : v ? v : "");
    free(clean);
}

void st_col_text(struct st_stmt *s, int i, char *dst, size_t n)
{
    str_copy(dst, n, s->be->col_text(s, i));
}

/* st_step_write, and st_step_write_row when read is set */
static enum store_rc step_write(struct store *st, struct st_stmt *s, const char *what,
                                void (*read)(struct st_stmt *s, void *row), void *row, bool *got)
{
    struct conn *c = pthread_getspecific(st->key);
    bool lock = st->be->one_writer && !(c && c->in_tx);
    if (lock)
        pthread_mutex_lock(&st->wlock);
    int rc = st_step(s);
    if (lock)
        pthread_mutex_unlock(&st->wlock);
    if (c)
        c->last_id = rc == ST_ROW ? st_col_i64(s, 0) : 0;
    if (got)
        *got = rc == ST_ROW;
    if (read && rc == ST_ROW)
        read(s, row);
    enum store_rc out = ST_OK;
    if (rc == ST_CONSTRAINT) {
        out = ST_CONFLICT;
    } else if (rc != ST_DONE && rc != ST_ROW) {
        log_error("store.write", "what=%s error=\"%s\"", what, s->be->errmsg(s));
        out = ST_ERROR;
    }
    st_done(s);
    return out;
}

enum store_rc st_step_write(struct store *st, struct st_stmt *s, const char *what)
{
    return step_write(st, s, what, NULL, NULL, NULL);
}

enum store_rc st_step_write_row(struct store *st, struct st_stmt *s, const char *what,
                                void (*read)(struct st_stmt *s, void *row), void *row, bool *got)
{
    return step_write(st, s, what, read, row, got);
}

bool st_in_tx(struct store *st)
{
    struct conn *c = pthread_getspecific(st->key);
    return c && c->in_tx;
}

int st_changes(struct store *st)
{
    struct conn *c = conn_get(st);
    return c ? c->be->changes(c->db) : 0;
}

/* ---- migrations (for the backends) ---- */

static int cmp_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

int st_migration_files(const char *dir, char **names, char *err, size_t errsz)
{
    DIR *d = opendir(dir);
    if (!d) {
        snprintf(err, errsz, "migrations: cannot open directory %s", dir);
        return -1;
    }
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) && n < ST_MIGRATIONS_MAX) {
        size_t len = strlen(e->d_name);
        if (len > 4 && !strcmp(e->d_name + len - 4, ".sql") && e->d_name[0] >= '0' && e->d_name[0] <= '9' &&
            (names[n] = strdup(e->d_name)))
            n++;
    }
    closedir(d);
    qsort(names, (size_t)n, sizeof names[0], cmp_names);
    return n;
}

char *st_file_text(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    char *p = NULL;
    if (fseek(f, 0, SEEK_END) == 0) {
        long len = ftell(f);
        if (len >= 0 && fseek(f, 0, SEEK_SET) == 0 && (p = calloc(1, (size_t)len + 1)) &&
            fread(p, 1, (size_t)len, f) != (size_t)len) {
            free(p);
            p = NULL;
        }
    }
    fclose(f);
    return p;
}

const struct st_backend *st_backend_of(const char *target)
{
    if (!strncmp(target, "postgresql://", 13) || !strncmp(target, "postgres://", 11))
        return &st_pg;
    /* a keyword string starts with a keyword and '=' ("host=/run/x
     * dbname=lipa"); a path never does in practice */
    size_t k = strspn(target, "abcdefghijklmnopqrstuvwxyz_");
    if (k > 0 && target[k] == '=')
        return &st_pg;
    return &st_sqlite;
}

struct store *store_open(const char *path, const char *migrations_dir, char *err, size_t errsz)
{
    static pthread_once_t once_lite = PTHREAD_ONCE_INIT, once_pg = PTHREAD_ONCE_INIT;
    if (!path || !*path) {
        /* SQLite would open a private temporary database, and the intake
         * would be "-intake.N" in the working directory: nothing kept */
        snprintf(err, errsz, "LIPA_DB: empty; name a SQLite file or a PostgreSQL URI");
        return NULL;
    }
    const struct st_backend *be = st_backend_of(path);
    if (be->setup)
        pthread_once(be == &st_pg ? &once_pg : &once_lite, be->setup);
    struct store *st = calloc(1, sizeof *st);
    if (!st)
        return NULL;
    st->be = be;
    st->path = strdup(path);
    st->lease_ms = 60000;
    pthread_key_create(&st->key, NULL);
    pthread_mutex_init(&st->lock, NULL);
    pthread_mutex_init(&st->wlock, NULL);
    pthread_mutex_init(&st->retry_lock, NULL);
    st->hop = hop_new(STORE_SESSIONS_MAX, STORE_CALLERS_MAX);
    st->submit = submit_new(st);
    char dir[1100];
    snprintf(dir, sizeof dir, "%s%s%s", migrations_dir, *be->migrations ? "/" : "", be->migrations);
    struct conn *c = st->hop && st->submit ? conn_open(be, path, err, errsz) : NULL;
    if (!c || !be->migrate(c->db, dir, err, errsz)) {
        conn_close(c);
        store_close(st);
        return NULL;
    }
    conn_close(c);
    if (be->listen && pthread_create(&st->listener, NULL, listener, st) == 0)
        st->listening = true;
    if ((be->local && !(st->intake = intake_open(path, err, errsz))) || !st_take_restore(st, err, errsz)) {
        store_close(st);
        return NULL;
    }
    return st;
}

void store_close(struct store *st)
{
    if (!st)
        return;
    st_points_flush(st); /* the sessions still on a resumable screen survive the restart */
    submit_free(st->submit); /* runs what is queued; refusals join the retry list */
    st_take_forget(st); /* their lines stay for the next start */
    if (st->intake)
        intake_tidy(st->intake); /* a clean stop leaves nothing to restore */
    intake_close(st->intake);
    if (st->listening) {
        atomic_store(&st->stop, true);
        pthread_join(st->listener, NULL);
    }
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

/* ---- backups (store.h) ---- */

bool store_backup(const char *path, const char *out, struct store_backup *b, char *err, size_t errsz)
{
    memset(b, 0, sizeof *b);
    const struct st_backend *be = st_backend_of(path);
    if (!be->backup) {
        snprintf(err, errsz, "a PostgreSQL database is backed up with its own tools (pg_dump, or a base backup)");
        return false;
    }
    if (!*out || st_backend_of(out) != be) {
        snprintf(err, errsz, "the copy must be a file");
        return false;
    }
    if (strlen(path) > 1024 || strlen(out) > 1024) {
        snprintf(err, errsz, "a path longer than 1024 bytes");
        return false;
    }
    char part[1100], intake0[1100], intake1[1100];
    snprintf(part, sizeof part, "%s.part", out);
    snprintf(intake0, sizeof intake0, "%s-intake.0", out);
    snprintf(intake1, sizeof intake1, "%s-intake.1", out);
    const char *taken[] = {out, intake0, intake1};
    for (size_t i = 0; i < sizeof taken / sizeof taken[0]; i++) {
        if (access(taken[i], F_OK) == 0) {
            snprintf(err, errsz, "%s exists: a backup never overwrites a file", taken[i]);
            return false;
        }
    }
    /* a backup stopped half-way leaves only this; the copy is made
     * readable by its owner only, as lipad's own files are under its unit
     * (it holds phone numbers) */
    unlink(part);
    int fd = open(part, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0) {
        snprintf(err, errsz, "cannot create %s: %s", part, strerror(errno));
        return false;
    }
    close(fd);
    /* The intake before the database: a purchase leaves the intake only
     * once the database has it, so one told before this began is in the
     * intake as copied or, committed by then, in the database as copied
     * after. The other way round, a purchase stored and let go from the
     * intake between the two copies would be in neither. */
    if (!intake_copy(path, part, &b->intake_lines, err, errsz)) {
        intake_copy_remove(part);
        return false;
    }
    bool ok = be->backup(path, part, b, err, errsz);
    if (ok && strcmp(b->integrity, "ok") != 0) {
        snprintf(err, errsz, "the copy failed its integrity check: %s", b->integrity);
        ok = false;
    }
    /* the intake files follow the database's name: renamed first, so out
     * never stands without them */
    char from[1200];
    for (int i = 0; ok && i < 2; i++) {
        snprintf(from, sizeof from, "%s-intake.%d", part, i);
        if (rename(from, i ? intake1 : intake0) != 0 && errno != ENOENT) {
            snprintf(err, errsz, "cannot rename %s: %s", from, strerror(errno));
            ok = false;
        }
    }
    if (ok && rename(part, out) != 0) {
        snprintf(err, errsz, "cannot rename %s to %s: %s", part, out, strerror(errno));
        ok = false;
    }
    if (!ok) {
        unlink(part);
        intake_copy_remove(part);
        intake_copy_remove(out);
    }
    return ok;
}

/* ---- claims (store_int.h, store.h) ---- */

void store_claims_as(struct store *st, const char *instance, int64_t lease_ms)
{
    str_copy(st->instance, sizeof st->instance, instance);
    st->lease_ms = lease_ms;
}

int st_claim(struct store *st, const char *sql, int64_t now, int max, void *out, size_t size,
             void (*read)(struct st_stmt *s, void *row))
{
    struct st_stmt *s = st_stmt(st, sql);
    if (!s)
        return -1;
    st_bind_i64(s, 1, now);
    st_bind_i64(s, 2, max);
    st_bind_i64(s, 3, now + st->lease_ms);
    st_bind_text(s, 4, st->instance);
    struct conn *c = pthread_getspecific(st->key);
    bool lock = st->be->one_writer && !(c && c->in_tx);
    if (lock)
        pthread_mutex_lock(&st->wlock);
    int n = 0, rc;
    while ((rc = st_step(s)) == ST_ROW)
        if (n < max)
            read(s, (char *)out + (size_t)n++ * size);
    if (rc != ST_DONE)
        log_error("store.claim", "error=\"%s\"", s->be->errmsg(s));
    st_done(s);
    if (lock)
        pthread_mutex_unlock(&st->wlock);
    return rc == ST_DONE ? n : -1;
}

/* What this instance held when it stopped is due again now. */
static const char *const SQL_RECLAIM[] = {
    "UPDATE outbox SET next_at = ?1, status = 'queued', claimed_by = '' WHERE claimed_by = ?2 "
    "AND status IN ('queued','sending')",
    "UPDATE sms_inbound SET next_at = ?1, claimed_by = '' WHERE claimed_by = ?2 AND status = 'queued'",
    "UPDATE client_notices SET next_at = ?1, claimed_by = '' WHERE claimed_by = ?2 AND status = 'queued'",
    "UPDATE escrow_releases SET next_at = ?1, claimed_by = '' WHERE claimed_by = ?2 AND status IN ('queued','pending')",
};

enum store_rc store_claims_recover(struct store *st)
{
    enum store_rc out = ST_OK;
    int64_t now = now_ms();
    if (!st->instance[0])
        return ST_OK; /* no name: nothing was claimed under it */
    for (size_t i = 0; i < sizeof SQL_RECLAIM / sizeof SQL_RECLAIM[0]; i++) {
        struct st_stmt *s = st_stmt(st, SQL_RECLAIM[i]);
        if (!s)
            return ST_ERROR;
        st_bind_i64(s, 1, now);
        st_bind_text(s, 2, st->instance);
        enum store_rc rc = st_step_write(st, s, "claims_recover");
        if (rc != ST_OK)
            out = rc;
    }
    return out;
}

bool store_shared(struct store *st)
{
    return !st->be->local;
}

bool store_take_keeps(struct store *st)
{
    return st->intake != NULL;
}

bool store_is_file(const char *target)
{
    return st_backend_of(target)->local;
}

void store_target_shown(const char *target, char *out, size_t n)
{
    /* a URI's password, or a keyword string's, is not for the log */
    str_copy(out, n, target);
    char *at = strchr(out, '@'), *scheme = strstr(out, "://");
    if (scheme && at && at > scheme) {
        char *colon = memchr(scheme + 3, ':', (size_t)(at - scheme - 3));
        if (colon) {
            char rest[1024];
            str_copy(rest, sizeof rest, at);
            snprintf(colon, n - (size_t)(colon - out), ":***%s", rest);
        }
    }
    char *pw = strstr(out, "password=");
    if (pw) {
        char *end = pw + 9;
        while (*end && *end != ' ' && *end != '&')
            end++;
        char rest[1024];
        str_copy(rest, sizeof rest, end);
        snprintf(pw + 9, n - (size_t)(pw + 9 - out), "***%s", rest);
    }
}

bool store_submit(struct store *st, store_write_fn write, store_done_fn finished, void *arg)
{
    return submit_queue(st->submit, write, finished, arg);
}

void store_db_state(struct store *st, struct store_db *d)
{
    d->backend = st->be->name;
    d->up = store_ping(st);
    d->reconnects = st->be->reconnects ? st->be->reconnects() : 0;
}

bool store_ping(struct store *st)
{
    struct st_stmt *s = st_stmt(st, SQL_PING);
    bool ok = s && st_step(s) == ST_ROW;
    st_done(s);
    return ok;
}

enum store_rc store_begin(struct store *st)
{
    struct conn *c = conn_get(st);
    struct st_stmt *s = st_stmt(st, st->be->begin_sql);
    if (!c || !s || c->in_tx)
        return ST_ERROR;
    /* one transaction at a time in the process, on both backends: on
     * SQLite it is the one writer; on PostgreSQL it keeps this process's
     * check-then-write transactions apart (see docs/postgresql.md for what
     * that leaves between lipads) */
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
    if (c && c->in_tx && !c->be->in_tx(c->db)) {
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
    struct st_stmt *s = st_stmt(st, SQL_COMMIT);
    enum store_rc rc = s ? st_step_write(st, s, "commit") : ST_ERROR;
    tx_end(st, c);
    return rc;
}

void store_rollback(struct store *st)
{
    struct conn *c = conn_get(st);
    if (c && c->be->in_tx(c->db)) {
        struct st_stmt *s = st_stmt(st, SQL_ROLLBACK);
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

const char *const store_queue_names[STORE_QUEUES] = {"payments", "topups", "texts", "notices", "releases"};

bool store_queues(struct store *st, struct store_queue q[STORE_QUEUES])
{
    memset(q, 0, STORE_QUEUES * sizeof *q);
    struct st_stmt *s = st_stmt(st, SQL_QUEUES);
    if (!s)
        return false;
    int rc, rows = 0;
    while ((rc = st_step(s)) == ST_ROW) {
        int64_t i = st_col_i64(s, 0);
        if (i >= 0 && i < STORE_QUEUES) {
            q[i].depth = st_col_i64(s, 1);
            q[i].oldest_ms = st_col_i64(s, 2);
            rows++;
        }
    }
    st_done(s);
    return rc == ST_DONE && rows == STORE_QUEUES;
}

void store_maintain(struct store *st)
{
    int64_t now = now_ms();
    st_take_retry(st, now);
    if (now - atomic_load(&st->evicted_at) > 5000) {
        atomic_store(&st->evicted_at, now);
        hop_evict(st->hop, now - SESSION_MEMORY_MS);
        /* a session that stopped on a resumable screen and has had no
         * hop for as long as its memory lasts is over: its point is saved */
        st_points_upkeep(st, now, now - SESSION_MEMORY_MS);
        int64_t t0 = now_ms();
        if (hop_trim(st->hop, t0)) { /* a burst expired: its memory goes back */
            struct hop_stats m;
            hop_stats(st->hop, &m);
            log_info("store.memory_returned", "took_ms=%lld sessions=%zu callers=%zu held_kb=%zu",
                     (long long)(now_ms() - t0), m.sessions, m.callers, m.bytes / 1024);
        }
    }
    /* the backend's upkeep (SQLite: copies the WAL back) */
    if (now - atomic_load(&st->checkpointed_at) < 1000)
        return; /* workers are woken by every purchase: once a second is plenty */
    atomic_store(&st->checkpointed_at, now);
    struct conn *c = conn_get(st);
    if (c && c->be->upkeep)
        c->be->upkeep(c->db);
}

/* On a miss, one statement (one read transaction) reads the user and
 * their meters: a caller seen for the first time costs a few b-tree
 * lookups, and a number nobody registered only the phone index's. */
/* ---- the statement cache and helpers of every store file (store_int.h) ---- */

struct st_stmt *st_stmt(struct store *st, const char *sql)
{
    struct conn *c = conn_get(st);
    if (!c)
        return NULL;
    size_t h = ((uintptr_t)sql >> 4) % STMT_SLOTS;
    for (size_t k = 0; k < STMT_SLOTS; k++, h = (h + 1) % STMT_SLOTS) {
        if (c->stmt[h].sql == sql)
            return c->stmt[h].stmt;
        if (!c->stmt[h].sql) {
            if (!(c->stmt[h].stmt = c->be->prepare(c->db, sql)))
                return NULL; /* logged */
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
    return c ? c->last_id : 0;
}

enum store_rc st_row_rc(int step_rc)
{
    return step_rc == ST_ROW ? ST_OK : step_rc == ST_DONE ? ST_NOT_FOUND : ST_ERROR;
}

enum store_rc st_changed_one(struct store *st, enum store_rc rc)
{
    return rc == ST_OK && st_changes(st) == 0 ? ST_NOT_FOUND : rc;
}
