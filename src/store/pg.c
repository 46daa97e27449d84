/* store/pg: the PostgreSQL backend (struct st_backend, store_int.h), on
 * libpq; the only file of lipa that includes libpq-fe.h.
 *
 * The store's SQL is written once for both backends: a statement's `?` and
 * `?N` become `$N` here, at prepare (numbered as SQLite numbers them).
 * Parameters go as text and results come back as text; every integer
 * column is BIGINT, so col_i64 parses (and reads a boolean as 0 or 1).
 * A statement runs at its first step and its rows are read from the
 * result in memory.
 *
 * Statements whose answer nobody reads (BEGIN, SAVEPOINT x, RELEASE x)
 * are not sent at their step: they wait, a few at most, and go with the
 * next statement in one pipeline, so they cost no round trip of their
 * own. The purchases of a batch of the group commit (store/submit.c)
 * are INSERTs of up to four rows (one each, with a SAVEPOINT and a
 * RELEASE around it, when the batch is run again after a refusal), and
 * the batch's BEGIN rides with the first. One of
 * them that fails fails the statement it went with (with its own
 * message); inside a transaction everything after it fails until the
 * ROLLBACK, as it would have. A ROLLBACK drops what waits and goes alone.
 *
 * A connection that breaks (a restart, a failover) is opened again at the
 * next statement, and its statements are prepared again; the statement in
 * hand fails, so its caller answers "try again". Inside a transaction the
 * connection stays failed until the store ends the transaction (ROLLBACK
 * or COMMIT, the latter refused): a write after a lost one must not land
 * outside it. */
#include "store/store_int.h"

#include "util/log.h"
#include "util/str.h"

#include <ctype.h>
#include <libpq-fe.h>
#include <poll.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define PG_PARAMS_MAX 65535 /* the protocol's limit (store/move.c inserts rows many at a time) */
#define FOR_UPDATE_MARK "/*for update*/" /* ST_FOR_UPDATE, less its space */
#define PG_QUEUE_MAX 8
#define PG_NAME_MAX 24

struct st_conn {
    PGconn *pg;
    char *target;
    uint64_t epoch;            /* bumped each time the connection is opened again */
    unsigned named;            /* statements prepared, for their names */
    int changes;               /* rows the last statement changed */
    bool in_tx;                /* the last statement left a transaction open */
    bool lost_in_tx;           /* broke inside a transaction: fail until it ends */
    bool broken;               /* left in a state no statement can run in: open again */
    char queued[PG_QUEUE_MAX][PG_NAME_MAX]; /* statements waiting to go with the next */
    int nqueued;
    char err[256];
};

struct pg_stmt {
    struct st_stmt base;
    struct st_conn *c;
    char name[PG_NAME_MAX];
    char *sql;                 /* with $N */
    int nparams;
    uint64_t epoch;            /* prepared on this epoch of c (0: not yet) */
    char **vals;               /* nparams bound values, NULL for NULL */
    PGresult *res;
    int row, nrows;
    int failed;                /* 0, or ST_CONSTRAINT / ST_FAILED until reset */
    bool ran;
    bool ends_tx, is_rollback;
    bool deferred;             /* BEGIN, SAVEPOINT x, RELEASE x: goes with the next statement */
    bool is_begin;
};

#define PGS(x) ((struct pg_stmt *)(x))

static const char BEGIN_SQL[] = "BEGIN";

/* For /api/health and /metrics: connections opened again after a break. */
static atomic_llong reconnects;

static void quiet(void *arg, const char *message)
{
    /* NOTICEs ("relation already exists, skipping"): not for the log */
}

/* libpq's messages span lines and quote names: one line, no quotes, for
 * the log's quoted field and for store_open's err. */
static void one_line(char *s)
{
    for (; *s; s++)
        if (*s == '\n' || *s == '"')
            *s = ' ';
}

static bool connect_now(struct st_conn *c, char *err, size_t errsz)
{
    if (c->pg)
        PQfinish(c->pg);
    c->pg = PQconnectdb(c->target);
    if (!c->pg || PQstatus(c->pg) != CONNECTION_OK) {
        snprintf(err, errsz, "cannot connect to PostgreSQL: %s",
                 c->pg ? PQerrorMessage(c->pg) : "out of memory");
        one_line(err);
        return false;
    }
    PQsetNoticeProcessor(c->pg, quiet, NULL);
    PGresult *r = PQexec(c->pg, "SET client_min_messages = warning");
    PQclear(r);
    c->epoch++;
    c->in_tx = false;
    c->lost_in_tx = false;
    c->broken = false;
    c->nqueued = 0;
    return true;
}

static void pg_close(struct st_conn *c)
{
    if (!c)
        return;
    if (c->pg)
        PQfinish(c->pg);
    free(c->target);
    free(c);
}

static struct st_conn *pg_open(const char *target, char *err, size_t errsz)
{
    struct st_conn *c = calloc(1, sizeof *c);
    if (!c || !(c->target = strdup(target))) {
        free(c);
        snprintf(err, errsz, "out of memory");
        return NULL;
    }
    if (!connect_now(c, err, errsz)) {
        pg_close(c);
        return NULL;
    }
    return c;
}

static bool conn_up(struct st_conn *c)
{
    return !c->broken && PQstatus(c->pg) == CONNECTION_OK;
}

/* The connection, opened again if it broke; false (with c->err) if it
 * cannot be had now. */
static bool conn_ready(struct st_conn *c)
{
    bool gone = !conn_up(c);
    if (!gone && !c->in_tx && !c->nqueued) {
        /* between statements the server says nothing (these connections
         * do not LISTEN), unless it is going away (a restart, a failover:
         * "terminating connection", then the end of the stream): a
         * readable socket means the statement goes on a new connection
         * instead of failing on this one */
        struct pollfd p = {.fd = PQsocket(c->pg), .events = POLLIN};
        gone = poll(&p, 1, 0) > 0;
    }
    if (!gone)
        return true;
    if (c->lost_in_tx)
        return false;
    if (!connect_now(c, c->err, sizeof c->err)) {
        log_error("store.pg_reconnect", "error=\"%s\"", c->err);
        return false;
    }
    atomic_fetch_add(&reconnects, 1);
    log_info("store.pg_reconnected", "epoch=%llu", (unsigned long long)c->epoch);
    return true;
}

static bool exec_ok(struct st_conn *c, const char *sql, char *err, size_t errsz)
{
    PGresult *r = PQexec(c->pg, sql);
    ExecStatusType t = PQresultStatus(r);
    bool ok = t == PGRES_COMMAND_OK || t == PGRES_TUPLES_OK;
    if (!ok)
        snprintf(err, errsz, "%s", PQresultErrorMessage(r));
    PQclear(r);
    return ok;
}

static bool pg_migrate(struct st_conn *c, const char *dir, char *err, size_t errsz)
{
    char *names[ST_MIGRATIONS_MAX];
    int n = st_migration_files(dir, names, err, errsz);
    if (n < 0)
        return false;
    char msg[512] = "";
    /* two lipads starting at once: one migrates, the other waits and
     * then finds everything applied */
    bool ok = exec_ok(c, "SELECT pg_advisory_lock(7400101)", msg, sizeof msg) &&
              exec_ok(c, "CREATE TABLE IF NOT EXISTS schema_migrations (version BIGINT PRIMARY KEY, "
                         "name TEXT NOT NULL, applied_at BIGINT NOT NULL)", msg, sizeof msg);
    if (!ok)
        snprintf(err, errsz, "migrations: %s", msg);
    for (int i = 0; ok && i < n; i++) {
        char version[24], at[24];
        snprintf(version, sizeof version, "%ld", strtol(names[i], NULL, 10));
        const char *p1[] = {version};
        PGresult *r = PQexecParams(c->pg, "SELECT 1 FROM schema_migrations WHERE version = $1", 1, NULL, p1,
                                   NULL, NULL, 0);
        bool known = PQresultStatus(r) == PGRES_TUPLES_OK;
        bool applied = known && PQntuples(r) > 0;
        if (!known)
            snprintf(msg, sizeof msg, "%s", PQresultErrorMessage(r));
        PQclear(r);
        if (!known) {
            snprintf(err, errsz, "migrations: %s", msg);
            ok = false;
            break;
        }
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
        snprintf(at, sizeof at, "%lld", (long long)now_ms());
        const char *p3[] = {version, names[i], at};
        if (!exec_ok(c, "BEGIN", msg, sizeof msg) || !exec_ok(c, sql, msg, sizeof msg)) {
            snprintf(err, errsz, "migrations: %s: %s", names[i], msg);
            ok = false;
        } else {
            r = PQexecParams(c->pg, "INSERT INTO schema_migrations (version, name, applied_at) VALUES ($1,$2,$3)",
                             3, NULL, p3, NULL, NULL, 0);
            ok = PQresultStatus(r) == PGRES_COMMAND_OK && exec_ok(c, "COMMIT", msg, sizeof msg);
            PQclear(r);
            if (ok)
                log_info("store.migrated", "file=%s backend=postgresql", names[i]);
            else
                snprintf(err, errsz, "migrations: commit of %s failed", names[i]);
        }
        if (!ok)
            exec_ok(c, "ROLLBACK", msg, sizeof msg);
        free(sql);
    }
    exec_ok(c, "SELECT pg_advisory_unlock(7400101)", msg, sizeof msg);
    for (int i = 0; i < n; i++)
        free(names[i]);
    one_line(err);
    return ok;
}

/* SQLite's parameters in PostgreSQL's form: `?N` is $N, `?` is one more
 * than the largest number so far. Quoted text is left alone, and the
 * comments of ST_SKIP_LOCKED and ST_FOR_UPDATE become what they say. The
 * number of parameters in *n; NULL if over PG_PARAMS_MAX or out of memory. */
static char *dollar_sql(const char *sql, int *n)
{
    size_t len = strlen(sql);
    char *out = malloc(len * 6 + 1); /* a `?` may become $65535 */
    if (!out)
        return NULL;
    char *o = out;
    int max = 0;
    bool quoted = false;
    for (const char *p = sql; *p; p++) {
        if (*p == '\'')
            quoted = !quoted;
        static const char skip[] = "/*for update skip locked*/";
        if (!quoted && !strncmp(p, skip, sizeof skip - 1)) {
            memcpy(o, "FOR UPDATE SKIP LOCKED", 22);
            o += 22;
            p += sizeof skip - 2;
            continue;
        }
        if (!quoted && !strncmp(p, FOR_UPDATE_MARK, sizeof FOR_UPDATE_MARK - 1)) {
            memcpy(o, "FOR UPDATE", 10); /* shorter than the mark */
            o += 10;
            p += sizeof FOR_UPDATE_MARK - 2;
            continue;
        }
        if (quoted || *p != '?') {
            *o++ = *p;
            continue;
        }
        int k;
        if (isdigit((unsigned char)p[1])) {
            k = (int)strtol(p + 1, (char **)&p, 10);
            p--;
        } else {
            k = max + 1;
        }
        if (k > max)
            max = k;
        if (k < 1 || k > PG_PARAMS_MAX) {
            free(out);
            return NULL;
        }
        o += snprintf(o, 8, "$%d", k);
    }
    *o = '\0';
    *n = max;
    return out;
}

static struct st_stmt *pg_prepare(struct st_conn *c, const char *sql)
{
    struct pg_stmt *s = calloc(1, sizeof *s);
    if (!s)
        return NULL;
    s->base.be = &st_pg;
    s->c = c;
    if (!(s->sql = dollar_sql(sql, &s->nparams)) || !(s->vals = calloc((size_t)s->nparams + 1, sizeof *s->vals))) {
        log_error("store.prepare", "error=\"more than %d parameters, or out of memory\"", PG_PARAMS_MAX);
        free(s->sql);
        free(s);
        return NULL;
    }
    snprintf(s->name, sizeof s->name, "s%u", ++c->named);
    s->ends_tx = !strcmp(sql, "COMMIT") || !strcmp(sql, "ROLLBACK");
    s->is_rollback = !strcmp(sql, "ROLLBACK");
    s->is_begin = !strcmp(sql, BEGIN_SQL);
    s->deferred = s->nparams == 0 && (s->is_begin || !strncmp(sql, "SAVEPOINT ", 10) || !strncmp(sql, "RELEASE ", 8));
    return &s->base; /* prepared on the server at its first run */
}

static void pg_reset(struct st_stmt *x)
{
    struct pg_stmt *s = PGS(x);
    PQclear(s->res);
    s->res = NULL;
    s->ran = false;
    s->failed = 0;
    s->row = s->nrows = 0;
    for (int i = 0; i < s->nparams; i++) {
        free(s->vals[i]);
        s->vals[i] = NULL;
    }
}

static void pg_finalize(struct st_stmt *x)
{
    if (!x)
        return;
    pg_reset(x);
    free(PGS(x)->vals);
    free(PGS(x)->sql);
    free(x);
}

static void bind(struct st_stmt *x, int i, char *v)
{
    struct pg_stmt *s = PGS(x);
    if (i < 1 || i > s->nparams) {
        free(v);
        return;
    }
    free(s->vals[i - 1]);
    s->vals[i - 1] = v;
}

static void pg_bind_i64(struct st_stmt *x, int i, int64_t v)
{
    char b[24];
    snprintf(b, sizeof b, "%lld", (long long)v);
    bind(x, i, strdup(b));
}

static void pg_bind_text(struct st_stmt *x, int i, const char *v)
{
    bind(x, i, strdup(v));
}

static void pg_bind_null(struct st_stmt *x, int i)
{
    bind(x, i, NULL);
}

/* A statement's failure: a broken constraint (SQLSTATE class 23) or
 * anything else; a connection that broke inside a transaction stays
 * failed until the transaction ends. */
static int failure(struct pg_stmt *s, PGresult *r)
{
    struct st_conn *c = s->c;
    const char *state = r ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : NULL;
    snprintf(c->err, sizeof c->err, "%s", r ? PQresultErrorMessage(r) : PQerrorMessage(c->pg));
    one_line(c->err);
    if (!conn_up(c) && c->in_tx)
        c->lost_in_tx = true;
    s->failed = state && !strncmp(state, "23", 2) ? ST_CONSTRAINT : ST_FAILED;
    return s->failed;
}

/* The queued statements and then s, in one pipeline: s's result, or the
 * failed result of a queued one (s's dropped), or NULL when nothing came
 * back (the connection broke; its message is PQerrorMessage's). */
static PGresult *pipelined(struct pg_stmt *s)
{
    struct st_conn *c = s->c;
    int n = c->nqueued;
    c->nqueued = 0;
    bool sent = PQenterPipelineMode(c->pg);
    for (int i = 0; sent && i < n; i++)
        sent = PQsendQueryPrepared(c->pg, c->queued[i], 0, NULL, NULL, NULL, 0);
    sent = sent && PQsendQueryPrepared(c->pg, s->name, s->nparams, (const char *const *)s->vals, NULL, NULL, 0) &&
           PQpipelineSync(c->pg);
    PGresult *bad = NULL, *mine = NULL, *r;
    /* each statement's results end with a NULL; then the sync point */
    for (int i = 0; sent && i <= n; i++) {
        while ((r = PQgetResult(c->pg))) {
            ExecStatusType t = PQresultStatus(r);
            if (i == n && !mine)
                mine = r;
            else if (!bad && t != PGRES_COMMAND_OK && t != PGRES_TUPLES_OK)
                bad = r;
            else
                PQclear(r);
        }
    }
    while (sent && (r = PQgetResult(c->pg))) {
        bool sync = PQresultStatus(r) == PGRES_PIPELINE_SYNC;
        PQclear(r);
        if (sync)
            break;
    }
    if (!PQexitPipelineMode(c->pg) && PQstatus(c->pg) == CONNECTION_OK) {
        /* results left unread: nothing more can run on it; inside a
         * transaction, nothing more until the transaction ends */
        c->broken = true;
        if (c->in_tx)
            c->lost_in_tx = true;
        snprintf(c->err, sizeof c->err, "pipeline: %s", PQerrorMessage(c->pg));
    }
    if (bad) {
        PQclear(mine);
        return bad;
    }
    return mine;
}

static int run(struct pg_stmt *s)
{
    struct st_conn *c = s->c;
    s->ran = true;
    if (c->lost_in_tx && s->ends_tx) {
        /* the transaction died with the connection: ending it is all
         * that is left; a COMMIT of it fails */
        c->nqueued = 0;
        c->lost_in_tx = false;
        c->in_tx = false;
        if (s->is_rollback)
            return ST_DONE;
        snprintf(c->err, sizeof c->err, "the connection broke inside the transaction");
        return s->failed = ST_FAILED;
    }
    if (!conn_ready(c)) {
        if (c->lost_in_tx)
            snprintf(c->err, sizeof c->err, "the connection broke inside the transaction");
        return s->failed = ST_FAILED;
    }
    if (s->epoch != c->epoch) {
        PGresult *r = PQprepare(c->pg, s->name, s->sql, s->nparams, NULL);
        bool ok = PQresultStatus(r) == PGRES_COMMAND_OK;
        if (!ok) {
            int rc = failure(s, r);
            log_error("store.prepare", "error=\"%s\"", c->err);
            PQclear(r);
            return rc;
        }
        PQclear(r);
        s->epoch = c->epoch;
    }
    if (s->is_rollback) {
        /* nothing waiting matters now, and a failure among it would
         * skip the ROLLBACK (a pipeline stops at its first error); a
         * BEGIN never sent leaves nothing to roll back */
        c->nqueued = 0;
    } else if (s->deferred && c->nqueued < PG_QUEUE_MAX) {
        memcpy(c->queued[c->nqueued++], s->name, sizeof s->name);
        c->changes = 0;
        if (s->is_begin)
            c->in_tx = true;
        return 0; /* no result: ST_DONE */
    }
    if (c->nqueued)
        s->res = pipelined(s);
    else
        s->res = PQexecPrepared(c->pg, s->name, s->nparams, (const char *const *)s->vals, NULL, NULL, 0);
    ExecStatusType t = PQresultStatus(s->res);
    if (t != PGRES_COMMAND_OK && t != PGRES_TUPLES_OK) {
        int rc = failure(s, s->res);
        c->in_tx = conn_up(c) && PQtransactionStatus(c->pg) != PQTRANS_IDLE;
        return rc;
    }
    c->in_tx = PQtransactionStatus(c->pg) != PQTRANS_IDLE;
    if (s->ends_tx && !s->is_rollback && strcmp(PQcmdStatus(s->res), "COMMIT") != 0) {
        /* a COMMIT of a transaction a failed statement had spoiled: the
         * server rolled it back and says so only in the command tag */
        snprintf(c->err, sizeof c->err, "the transaction had failed: rolled back, not committed");
        return s->failed = ST_FAILED;
    }
    const char *n = PQcmdTuples(s->res);
    c->changes = n && *n ? (int)strtol(n, NULL, 10) : 0;
    s->nrows = t == PGRES_TUPLES_OK ? PQntuples(s->res) : 0;
    s->row = -1;
    return 0;
}

static int pg_step(struct st_stmt *x)
{
    struct pg_stmt *s = PGS(x);
    if (s->failed)
        return s->failed;
    if (!s->ran) {
        int rc = run(s);
        if (rc)
            return rc;
        if (!s->res)
            return ST_DONE;
    }
    if (s->row + 1 < s->nrows) {
        s->row++;
        return ST_ROW;
    }
    s->row = s->nrows;
    return ST_DONE;
}

static bool has_cell(struct pg_stmt *s, int i)
{
    return s->res && s->row >= 0 && s->row < s->nrows && i >= 0 && i < PQnfields(s->res) &&
           !PQgetisnull(s->res, s->row, i);
}

static int64_t pg_col_i64(struct st_stmt *x, int i)
{
    struct pg_stmt *s = PGS(x);
    if (!has_cell(s, i))
        return 0;
    const char *v = PQgetvalue(s->res, s->row, i);
    if (v[0] == 't' && !v[1])
        return 1;
    if (v[0] == 'f' && !v[1])
        return 0;
    return strtoll(v, NULL, 10);
}

static const char *pg_col_text(struct st_stmt *x, int i)
{
    struct pg_stmt *s = PGS(x);
    return has_cell(s, i) ? PQgetvalue(s->res, s->row, i) : "";
}

static bool pg_col_null(struct st_stmt *x, int i)
{
    return !has_cell(PGS(x), i);
}

static int pg_ncols(struct st_stmt *x)
{
    struct pg_stmt *s = PGS(x);
    return s->res ? PQnfields(s->res) : 0;
}

static const char *pg_col_name(struct st_stmt *x, int i)
{
    struct pg_stmt *s = PGS(x);
    const char *n = s->res && i >= 0 && i < PQnfields(s->res) ? PQfname(s->res, i) : NULL;
    return n ? n : "";
}

static const char *pg_errmsg(struct st_stmt *x)
{
    return PGS(x)->c->err;
}

static int pg_changes(struct st_conn *c)
{
    return c->changes;
}

static bool pg_in_tx(struct st_conn *c)
{
    return c->in_tx || c->lost_in_tx;
}

/* ---- other lipads' changes: LISTEN/NOTIFY on one channel ---- */

static void pg_changed(struct st_conn *c)
{
    if (PQstatus(c->pg) != CONNECTION_OK)
        return; /* the write failed too; nothing changed */
    PGresult *r = PQexec(c->pg, "NOTIFY lipa_callers"); /* inside a transaction: sent at its commit */
    PQclear(r);
}

/* Autocommit, after the write it tells of: sent at once. */
static void pg_point_changed(struct st_conn *c, const char *phone)
{
    if (PQstatus(c->pg) != CONNECTION_OK)
        return;
    const char *v[1] = {phone};
    PGresult *r = PQexecParams(c->pg, "SELECT pg_notify('lipa_points', $1)", 1, NULL, v, NULL, NULL, 0);
    PQclear(r);
}

static void pg_listen(const char *target, void (*heard)(void *ctx), void (*heard_point)(void *ctx, const char *phone),
                      void *ctx, atomic_bool *stop)
{
    PGconn *pg = NULL;
    while (!atomic_load(stop)) {
        if (!pg || PQstatus(pg) != CONNECTION_OK) {
            if (pg)
                PQfinish(pg);
            pg = PQconnectdb(target);
            PGresult *r = PQstatus(pg) == CONNECTION_OK ? PQexec(pg, "LISTEN lipa_callers; LISTEN lipa_points") : NULL;
            bool ok = r && PQresultStatus(r) == PGRES_COMMAND_OK;
            PQclear(r);
            if (!ok) { /* the database is away: try again in half a second */
                struct timespec ts = {0, 500 * 1000000L};
                nanosleep(&ts, NULL);
                continue;
            }
            heard(ctx); /* what changed while nobody listened */
            heard_point(ctx, NULL);
        }
        struct pollfd p = {.fd = PQsocket(pg), .events = POLLIN};
        if (poll(&p, 1, 250) > 0 && !PQconsumeInput(pg))
            continue; /* broken: connect again */
        PGnotify *n;
        bool any = false;
        while ((n = PQnotifies(pg))) {
            if (!strcmp(n->relname, "lipa_points"))
                heard_point(ctx, n->extra);
            else
                any = true;
            PQfreemem(n);
        }
        if (any)
            heard(ctx);
    }
    if (pg)
        PQfinish(pg);
}

static long long pg_reconnects(void)
{
    return atomic_load(&reconnects);
}

const struct st_backend st_pg = {
    .name = "postgresql",
    .begin_sql = BEGIN_SQL,
    /* PostgreSQL locks rows; a payment's version column keeps two writers
     * of one row apart, across processes as well as threads */
    .one_writer = false,
    .local = false,
    .migrations = "pg",
    .open = pg_open,
    .close = pg_close,
    .migrate = pg_migrate,
    .prepare = pg_prepare,
    .finalize = pg_finalize,
    .reset = pg_reset,
    .bind_i64 = pg_bind_i64,
    .bind_text = pg_bind_text,
    .bind_null = pg_bind_null,
    .step = pg_step,
    .col_i64 = pg_col_i64,
    .col_text = pg_col_text,
    .col_null = pg_col_null,
    .ncols = pg_ncols,
    .col_name = pg_col_name,
    .errmsg = pg_errmsg,
    .changes = pg_changes,
    .in_tx = pg_in_tx,
    .reconnects = pg_reconnects,
    .changed = pg_changed,
    .point_changed = pg_point_changed,
    .listen = pg_listen,
};
