/* store/move: a database copied into another and compared; see move.h.
 * Works on the backends' own connections (struct st_backend), not through
 * the store's statement cache: its SQL names tables and columns read from
 * the databases themselves, and the cache keeps static strings only. */
#include "store/move.h"

#include "store/store_int.h"

#include "util/crypto.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* Every table of the migrations (db/NNN_name.sql) but schema_migrations,
 * each after the tables its foreign keys name, with its primary key (the
 * order rows are read and compared in). A table a database has and this
 * list lacks stops a move and a comparison, so a new one cannot be left
 * behind (check_move's every_table_is_moved names it). payments.retry_of
 * names an older payment, which has the smaller id and is copied first. */
static const struct table {
    const char *name;
    const char *key;
} tables[] = {
    {"users", "id"},
    {"meters", "id"},
    {"assignments", "user_id, meter_id"},
    {"applied_tokens", "meter_id, token_hmac"},
    {"clients", "id"},
    {"packages", "id"},
    {"stations", "id"},
    {"payments", "id"},
    {"prompts", "phone"},
    {"provider_tokens", "provider"},
    {"outbox", "id"},
    {"otp_codes", "id"},
    {"client_notices", "id"},
    {"client_notice_attempts", "id"},
    {"escrow_releases", "id"},
    {"paystack_events", "id"},
    {"mpesa_callbacks", "id"},
    {"ussd_events", "id"},
    {"ussd_resume", "phone"},
    {"sms_inbound", "id"},
    {"sms_optouts", "phone"},
    {"sms_reports", "id"},
};
#define NTABLES (sizeof tables / sizeof tables[0])
#define KEYS_MAX 4
#define COLS_MAX 256
/* Rows one SELECT reads: PostgreSQL's backend holds a statement's rows in
 * memory, so a big table is read a page at a time, by key. */
#define PAGE 2000
/* Rows one INSERT writes (a round trip each on PostgreSQL), within the
 * values a statement may bind: SQLite takes 32766, PostgreSQL 65535. */
#define BATCH_ROWS 256
#define BATCH_VALUES 8000

const char *store_move_table_name(size_t i)
{
    return i < NTABLES ? tables[i].name : NULL;
}

/* ---- one database ---- */

struct side {
    const char *label;         /* "FROM" or "TO", for messages */
    const struct st_backend *be;
    struct st_conn *c;
};

static bool side_open(struct side *s, const char *target, const char *label, char *err, size_t errsz)
{
    char why[400] = "";
    s->label = label;
    s->be = st_backend_of(target);
    if (!(s->c = s->be->open(target, why, sizeof why)))
        snprintf(err, errsz, "%s: %s", label, why);
    return s->c != NULL;
}

static void side_close(struct side *s)
{
    if (s->c)
        s->be->close(s->c);
    s->c = NULL;
}

static struct st_stmt *prep(struct side *s, const char *sql, char *err, size_t errsz)
{
    struct st_stmt *st = s->be->prepare(s->c, sql);
    if (!st)
        snprintf(err, errsz, "%s: cannot prepare: %.200s", s->label, sql);
    return st;
}

/* Runs sql (no parameters) to its end; with first, the first column of
 * its first row (0 without one). */
static bool run(struct side *s, const char *sql, int64_t *first, char *err, size_t errsz)
{
    struct st_stmt *st = prep(s, sql, err, errsz);
    if (!st)
        return false;
    int rc, n = 0;
    if (first)
        *first = 0;
    while ((rc = s->be->step(st)) == ST_ROW)
        if (first && n++ == 0)
            *first = s->be->col_i64(st, 0);
    if (rc != ST_DONE)
        snprintf(err, errsz, "%s: %.200s: %s", s->label, sql, s->be->errmsg(st));
    s->be->finalize(st);
    return rc == ST_DONE;
}

/* A name that goes into SQL as it is: lower-case letters, digits, '_'. */
static bool plain_name(const char *n)
{
    if (!*n || strlen(n) > 63)
        return false;
    for (; *n; n++)
        if (!((*n >= 'a' && *n <= 'z') || (*n >= '0' && *n <= '9') || *n == '_'))
            return false;
    return true;
}

static const struct table *table_named(const char *name)
{
    for (size_t i = 0; i < NTABLES; i++)
        if (!strcmp(tables[i].name, name))
            return &tables[i];
    return NULL;
}

/* The database's tables are exactly the list's (and schema_migrations). */
static bool tables_known(struct side *s, char *err, size_t errsz)
{
    const char *sql = s->be == &st_pg ? "SELECT table_name FROM information_schema.tables "
                                        "WHERE table_schema = current_schema() AND table_type = 'BASE TABLE'"
                                      : "SELECT name FROM sqlite_master WHERE type = 'table' "
                                        "AND name NOT LIKE 'sqlite^_%' ESCAPE '^'";
    struct st_stmt *st = prep(s, sql, err, errsz);
    if (!st)
        return false;
    bool seen[NTABLES] = {false}, ok = true;
    int rc = ST_DONE;
    while (ok && (rc = s->be->step(st)) == ST_ROW) {
        const char *name = s->be->col_text(st, 0);
        const struct table *t = table_named(name);
        if (t) {
            seen[t - tables] = true;
        } else if (strcmp(name, "schema_migrations")) {
            snprintf(err, errsz, "%s has a table this lipa does not move: %.64s", s->label, name);
            ok = false;
        }
    }
    if (ok && rc != ST_DONE) {
        snprintf(err, errsz, "%s: cannot list its tables: %s", s->label, s->be->errmsg(st));
        ok = false;
    }
    s->be->finalize(st);
    for (size_t i = 0; ok && i < NTABLES; i++)
        if (!seen[i]) {
            snprintf(err, errsz, "%s has no table %s", s->label, tables[i].name);
            ok = false;
        }
    return ok;
}

/* Byte-by-byte text order, as SQLite's: rows are compared in key order,
 * and a database sorting by a locale would put text keys in another. */
static bool sorts_bytewise(struct side *s, char *err, size_t errsz)
{
    int64_t yes;
    if (!run(s, "SELECT CASE WHEN 'B' < 'a' AND 'Z' < '_' THEN 1 ELSE 0 END", &yes, err, errsz))
        return false;
    if (!yes)
        snprintf(err, errsz,
                 "%s sorts text by a locale, not byte by byte as lipa needs: create its database with "
                 "TEMPLATE template0 ENCODING 'UTF8' LC_COLLATE 'C' LC_CTYPE 'C'",
                 s->label);
    return yes == 1;
}

/* The versions in schema_migrations, ascending; -1 on error. */
static int versions_of(struct side *s, int64_t *v, char *err, size_t errsz)
{
    struct st_stmt *st = prep(s, "SELECT version FROM schema_migrations ORDER BY version", err, errsz);
    if (!st)
        return -1;
    int n = 0, rc;
    while ((rc = s->be->step(st)) == ST_ROW)
        if (n < ST_MIGRATIONS_MAX)
            v[n++] = s->be->col_i64(st, 0);
    if (rc != ST_DONE) {
        snprintf(err, errsz, "%s is not a lipa database (%s)", s->label, s->be->errmsg(st));
        n = -1;
    }
    s->be->finalize(st);
    return n;
}

/* s's schema is this lipa's own: the versions of the migration files
 * (migrations_dir, or its pg/ for PostgreSQL), no more. */
static bool versions_known(struct side *s, const char *migrations_dir, char *err, size_t errsz)
{
    char dir[1100], *names[ST_MIGRATIONS_MAX];
    snprintf(dir, sizeof dir, "%s%s%s", migrations_dir, *s->be->migrations ? "/" : "", s->be->migrations);
    int nf = st_migration_files(dir, names, err, errsz);
    if (nf < 0)
        return false;
    int64_t known[ST_MIGRATIONS_MAX], have[ST_MIGRATIONS_MAX];
    for (int i = 0; i < nf; i++) {
        known[i] = strtol(names[i], NULL, 10);
        free(names[i]);
    }
    int nh = versions_of(s, have, err, errsz);
    if (nh < 0)
        return false;
    for (int i = 0; i < nh; i++) {
        bool found = false;
        for (int k = 0; k < nf && !found; k++)
            found = known[k] == have[i];
        if (!found) {
            snprintf(err, errsz,
                     "%s is at schema version %lld, which this lipa does not know (a newer lipa made it): "
                     "move it with that lipa",
                     s->label, (long long)have[i]);
            return false;
        }
    }
    if (nh != nf) { /* store_open applied them all; a file came meanwhile? */
        snprintf(err, errsz, "%s has %d migrations applied, this lipa has %d", s->label, nh, nf);
        return false;
    }
    return true;
}

/* ---- columns ---- */

struct cols {
    int n;
    char *name[COLS_MAX];
};

static void cols_free(struct cols *c)
{
    for (int i = 0; i < c->n; i++)
        free(c->name[i]);
    c->n = 0;
}

static bool cols_of(struct side *s, const struct table *t, struct cols *c, char *err, size_t errsz)
{
    char sql[160];
    snprintf(sql, sizeof sql, "SELECT * FROM %s LIMIT 0", t->name);
    struct st_stmt *st = prep(s, sql, err, errsz);
    if (!st)
        return false;
    c->n = 0;
    int rc = s->be->step(st);
    bool ok = rc == ST_DONE;
    if (!ok)
        snprintf(err, errsz, "%s: table %s: %s", s->label, t->name, s->be->errmsg(st));
    int n = ok ? s->be->ncols(st) : 0;
    if (ok && (n < 1 || n > COLS_MAX)) {
        snprintf(err, errsz, "%s: table %s has %d columns", s->label, t->name, n);
        ok = false;
    }
    for (int i = 0; ok && i < n; i++) {
        const char *name = s->be->col_name(st, i);
        if (!plain_name(name)) {
            snprintf(err, errsz, "%s: table %s has a column named %.64s", s->label, t->name, name);
            ok = false;
        } else if (!(c->name[c->n++] = strdup(name))) {
            snprintf(err, errsz, "out of memory");
            ok = false;
        }
    }
    s->be->finalize(st);
    if (!ok)
        cols_free(c);
    return ok;
}

/* FROM's columns of t, all of them in TO and no more, as a SQL list in
 * FROM's order (to free); NULL with the reason in err. */
static char *cols_list(struct side *from, struct side *to, const struct table *t, int *n, char *err, size_t errsz)
{
    struct cols a, b;
    if (!cols_of(from, t, &a, err, errsz))
        return NULL;
    if (!cols_of(to, t, &b, err, errsz)) {
        cols_free(&a);
        return NULL;
    }
    bool ok = a.n == b.n;
    if (!ok)
        snprintf(err, errsz, "table %s has %d columns in FROM, %d in TO", t->name, a.n, b.n);
    size_t len = 1;
    for (int i = 0; ok && i < a.n; i++) {
        bool found = false;
        for (int k = 0; k < b.n && !found; k++)
            found = !strcmp(a.name[i], b.name[k]);
        if (!found) {
            snprintf(err, errsz, "column %s.%s is in FROM, not in TO", t->name, a.name[i]);
            ok = false;
        }
        len += strlen(a.name[i]) + 2;
    }
    char *list = ok ? malloc(len) : NULL;
    if (list) {
        list[0] = '\0';
        for (int i = 0; i < a.n; i++) {
            if (i)
                strncat(list, ", ", len - strlen(list) - 1);
            strncat(list, a.name[i], len - strlen(list) - 1);
        }
        *n = a.n;
    } else if (ok) {
        snprintf(err, errsz, "out of memory");
    }
    cols_free(&a);
    cols_free(&b);
    return list;
}

/* ---- reading a table in key order ---- */

typedef bool (*row_fn)(void *ctx, struct side *s, struct st_stmt *st, char *err, size_t errsz);

static int key_count(const struct table *t)
{
    int n = 1;
    for (const char *p = t->key; *p; p++)
        n += *p == ',';
    return n;
}

/* Calls fn for every row of t in key order, PAGE rows a statement; a row
 * holds t's key columns, then cols. */
static bool scan(struct side *s, const struct table *t, const char *cols, row_fn fn, void *ctx, char *err,
                 size_t errsz)
{
    int nk = key_count(t);
    size_t n = strlen(cols) + 4 * strlen(t->key) + 200;
    char *first_sql = malloc(n), *next_sql = malloc(n), *last[KEYS_MAX] = {NULL};
    size_t cap[KEYS_MAX] = {0};
    struct st_stmt *first = NULL, *next = NULL;
    bool ok = first_sql && next_sql && nk <= KEYS_MAX;
    if (ok) {
        snprintf(first_sql, n, "SELECT %s, %s FROM %s ORDER BY %s LIMIT %d", t->key, cols, t->name, t->key, PAGE);
        snprintf(next_sql, n, "SELECT %s, %s FROM %s WHERE (%s) > (%s) ORDER BY %s LIMIT %d", t->key, cols, t->name,
                 t->key, nk == 1 ? "?" : nk == 2 ? "?, ?" : nk == 3 ? "?, ?, ?" : "?, ?, ?, ?", t->key, PAGE);
        ok = (first = prep(s, first_sql, err, errsz)) && (next = prep(s, next_sql, err, errsz));
    } else {
        snprintf(err, errsz, "out of memory");
    }
    struct st_stmt *st = first;
    while (ok) {
        int got = 0, rc = ST_DONE;
        while (ok && (rc = s->be->step(st)) == ST_ROW) {
            got++;
            ok = fn(ctx, s, st, err, errsz);
            for (int k = 0; ok && k < nk; k++) { /* the key the next page starts after */
                const char *v = s->be->col_text(st, k);
                size_t len = strlen(v) + 1;
                if (len > cap[k]) {
                    char *p = realloc(last[k], len * 2);
                    if (!p) {
                        snprintf(err, errsz, "out of memory");
                        ok = false;
                        break;
                    }
                    last[k] = p;
                    cap[k] = len * 2;
                }
                memcpy(last[k], v, len);
            }
        }
        if (ok && rc != ST_DONE) {
            snprintf(err, errsz, "%s: reading table %s: %s", s->label, t->name, s->be->errmsg(st));
            ok = false;
        }
        s->be->reset(st);
        if (got < PAGE)
            break;
        st = next;
        for (int k = 0; k < nk; k++)
            s->be->bind_text(st, k + 1, last[k]); /* as read: not repaired */
    }
    if (first)
        s->be->finalize(first);
    if (next)
        s->be->finalize(next);
    for (int k = 0; k < KEYS_MAX; k++)
        free(last[k]);
    free(first_sql);
    free(next_sql);
    return ok;
}

/* ---- the comparison ---- */

struct digest {
    struct crypto_sha256 *h;
    int nk, ncols;
    int64_t rows, repaired;
};

static bool digest_row(void *ctx, struct side *s, struct st_stmt *st, char *err, size_t errsz)
{
    struct digest *d = ctx;
    for (int i = d->nk; i < d->nk + d->ncols; i++) {
        if (s->be->col_null(st, i)) {
            crypto_sha256_add(d->h, "-", 1);
            continue;
        }
        bool oom;
        const char *v = s->be->col_text(st, i);
        char *fixed = st_utf8_repaired(v, &oom), head[32];
        if (oom) {
            snprintf(err, errsz, "out of memory");
            return false;
        }
        if (fixed) {
            d->repaired++;
            v = fixed;
        }
        size_t len = strlen(v);
        int hn = snprintf(head, sizeof head, "'%zu:", len);
        crypto_sha256_add(d->h, head, (size_t)hn);
        crypto_sha256_add(d->h, v, len);
        free(fixed);
    }
    crypto_sha256_add(d->h, "\n", 1);
    d->rows++;
    return true;
}

/* t's rows in s: how many, their hash (hex), and text values repaired. */
static bool digest(struct side *s, const struct table *t, const char *cols, int ncols, int64_t *rows,
                   char sha[65], int64_t *repaired, char *err, size_t errsz)
{
    struct digest d = {.h = crypto_sha256_begin(), .nk = key_count(t), .ncols = ncols};
    if (!d.h) {
        snprintf(err, errsz, "out of memory");
        return false;
    }
    bool ok = scan(s, t, cols, digest_row, &d, err, errsz);
    uint8_t h[32];
    crypto_sha256_end(d.h, h);
    crypto_hex(h, 32, sha, false);
    /* every row once: a key that is not one would skip rows */
    char sql[160];
    int64_t counted = 0;
    snprintf(sql, sizeof sql, "SELECT COUNT(*) FROM %s", t->name);
    if (ok && run(s, sql, &counted, err, errsz) && counted != d.rows) {
        snprintf(err, errsz, "%s: table %s: %lld rows, %lld read by its key (%s)", s->label, t->name,
                 (long long)counted, (long long)d.rows, t->key);
        ok = false;
    }
    *rows = d.rows;
    *repaired = d.repaired;
    return ok;
}

/* A read transaction that sees one moment of the whole database. */
static bool read_begin(struct side *s, char *err, size_t errsz)
{
    return run(s, s->be == &st_pg ? "BEGIN ISOLATION LEVEL REPEATABLE READ" : "BEGIN", NULL, err, errsz);
}

static bool compare_open(struct side *from, struct side *to, store_move_report_fn report, void *ctx, char *err,
                         size_t errsz)
{
    if (!tables_known(from, err, errsz) || !tables_known(to, err, errsz) || !sorts_bytewise(from, err, errsz) ||
        !sorts_bytewise(to, err, errsz) || !read_begin(from, err, errsz) || !read_begin(to, err, errsz))
        return false;
    bool ok = true;
    const char *differs = NULL;
    for (size_t i = 0; ok && i < NTABLES; i++) {
        const struct table *t = &tables[i];
        struct store_move_table r = {.name = t->name};
        int ncols = 0;
        char *cols = cols_list(from, to, t, &ncols, err, errsz);
        int64_t repaired_to = 0;
        ok = cols && digest(from, t, cols, ncols, &r.rows_from, r.sha_from, &r.repaired, err, errsz) &&
             digest(to, t, cols, ncols, &r.rows_to, r.sha_to, &repaired_to, err, errsz);
        free(cols);
        if (!ok)
            break;
        r.same = r.rows_from == r.rows_to && !strcmp(r.sha_from, r.sha_to);
        if (!r.same && !differs)
            differs = t->name;
        if (report)
            report(ctx, &r);
    }
    char end[8];
    run(from, "COMMIT", NULL, end, sizeof end);
    run(to, "COMMIT", NULL, end, sizeof end);
    if (ok && differs) {
        snprintf(err, errsz, "table %s differs", differs);
        ok = false;
    }
    return ok;
}

bool store_move_compare(const char *from, const char *to, store_move_report_fn report, void *ctx, char *err,
                        size_t errsz)
{
    struct side a = {0}, b = {0};
    bool ok = side_open(&a, from, "FROM", err, errsz) && side_open(&b, to, "TO", err, errsz) &&
              compare_open(&a, &b, report, ctx, err, errsz);
    side_close(&a);
    side_close(&b);
    return ok;
}

/* ---- the copy ---- */

struct copy {
    struct side *to;
    const struct table *t;
    const char *cols;
    int ncols, batch, rows;
    char **vals;               /* rows * ncols values held, NULL for NULL */
    struct st_stmt *full;      /* the INSERT of batch rows */
};

static char *insert_sql(const struct copy *c, int rows)
{
    size_t n = strlen(c->cols) + strlen(c->t->name) + 40 + (size_t)rows * ((size_t)c->ncols * 3 + 4);
    char *sql = malloc(n);
    if (!sql)
        return NULL;
    size_t at = (size_t)snprintf(sql, n, "INSERT INTO %s (%s) VALUES ", c->t->name, c->cols);
    for (int r = 0; r < rows; r++) {
        sql[at++] = r ? ',' : ' ';
        sql[at++] = '(';
        for (int i = 0; i < c->ncols; i++) {
            if (i)
                sql[at++] = ',';
            sql[at++] = '?';
        }
        sql[at++] = ')';
    }
    sql[at] = '\0';
    return sql;
}

static void held_free(struct copy *c)
{
    for (int i = 0; i < c->rows * c->ncols; i++) {
        free(c->vals[i]);
        c->vals[i] = NULL;
    }
    c->rows = 0;
}

/* Writes the rows held in one INSERT. */
static bool flush(struct copy *c, char *err, size_t errsz)
{
    if (!c->rows)
        return true;
    struct side *to = c->to;
    struct st_stmt *st = c->rows == c->batch ? c->full : NULL;
    if (!st) {
        char *sql = insert_sql(c, c->rows);
        st = sql ? prep(to, sql, err, errsz) : NULL;
        if (!sql)
            snprintf(err, errsz, "out of memory");
        free(sql);
        if (!st) {
            held_free(c);
            return false;
        }
        if (c->rows == c->batch)
            c->full = st;
    }
    for (int i = 0; i < c->rows * c->ncols; i++) {
        if (c->vals[i])
            st_bind_text(st, i + 1, c->vals[i]); /* as lipad stores text: valid UTF-8 */
        else
            to->be->bind_null(st, i + 1);
    }
    int rc = to->be->step(st);
    if (rc != ST_DONE)
        snprintf(err, errsz, "TO: writing table %s: %s", c->t->name, to->be->errmsg(st));
    to->be->reset(st);
    if (st != c->full)
        to->be->finalize(st);
    held_free(c);
    return rc == ST_DONE;
}

static bool copy_row(void *ctx, struct side *s, struct st_stmt *st, char *err, size_t errsz)
{
    struct copy *c = ctx;
    int nk = key_count(c->t);
    char **row = c->vals + (size_t)c->rows * (size_t)c->ncols;
    for (int i = 0; i < c->ncols; i++)
        if (!s->be->col_null(st, nk + i) && !(row[i] = strdup(s->be->col_text(st, nk + i)))) {
            c->rows++; /* what was held is freed */
            held_free(c);
            snprintf(err, errsz, "out of memory");
            return false;
        }
    return ++c->rows < c->batch || flush(c, err, errsz);
}

static bool copy_table(struct side *from, struct side *to, const struct table *t, char *err, size_t errsz)
{
    struct copy c = {.to = to, .t = t};
    char *cols = cols_list(from, to, t, &c.ncols, err, errsz);
    if (!cols)
        return false;
    c.cols = cols;
    c.batch = BATCH_VALUES / c.ncols;
    if (c.batch > BATCH_ROWS)
        c.batch = BATCH_ROWS;
    if (c.batch < 1)
        c.batch = 1;
    c.vals = calloc((size_t)c.batch * (size_t)c.ncols, sizeof *c.vals);
    bool ok = c.vals != NULL;
    if (!ok)
        snprintf(err, errsz, "out of memory");
    ok = ok && scan(from, t, cols, copy_row, &c, err, errsz) && flush(&c, err, errsz);
    if (c.vals)
        held_free(&c);
    if (c.full)
        to->be->finalize(c.full);
    free(c.vals);
    free(cols);
    return ok;
}

/* PostgreSQL's identity columns, each set past the largest id it holds,
 * so the next row gets a new one (an explicit id does not move them). */
static bool identities_past(struct side *to, char *err, size_t errsz)
{
    if (to->be != &st_pg)
        return true; /* SQLite's next rowid is past the largest by itself */
    struct st_stmt *st = prep(to,
                              "SELECT table_name, column_name FROM information_schema.columns "
                              "WHERE table_schema = current_schema() AND is_identity = 'YES' ORDER BY table_name",
                              err, errsz);
    if (!st)
        return false;
    char sql[NTABLES + 1][400];
    int n = 0, rc = ST_DONE;
    bool ok = true;
    while (ok && (rc = to->be->step(st)) == ST_ROW) {
        const char *t = to->be->col_text(st, 0), *col = to->be->col_text(st, 1);
        if (!plain_name(t) || !plain_name(col) || n == (int)NTABLES + 1) {
            snprintf(err, errsz, "TO: an identity column this lipa does not know: %.64s.%.64s", t, col);
            ok = false;
        } else {
            snprintf(sql[n++], sizeof sql[0],
                     "SELECT setval(pg_get_serial_sequence('%s', '%s'), COALESCE(MAX(%s), 1), MAX(%s) IS NOT NULL) "
                     "FROM %s",
                     t, col, col, col, t);
        }
    }
    if (ok && rc != ST_DONE) {
        snprintf(err, errsz, "TO: cannot list its identity columns: %s", to->be->errmsg(st));
        ok = false;
    }
    to->be->finalize(st);
    for (int i = 0; ok && i < n; i++)
        ok = run(to, sql[i], NULL, err, errsz);
    return ok;
}

/* The target's tables hold nothing: a move goes into a new database. */
static bool empty(struct side *to, char *err, size_t errsz)
{
    for (size_t i = 0; i < NTABLES; i++) {
        char sql[160];
        int64_t any;
        snprintf(sql, sizeof sql, "SELECT 1 FROM %s LIMIT 1", tables[i].name);
        if (!run(to, sql, &any, err, errsz))
            return false;
        if (any) {
            snprintf(err, errsz, "TO is not empty: table %s has rows (a move goes into a new database only)",
                     tables[i].name);
            return false;
        }
    }
    return true;
}

/* The copy itself, on open connections: everything or nothing. */
static bool copy_all(struct side *from, struct side *to, char *err, size_t errsz)
{
    int64_t va[ST_MIGRATIONS_MAX], vb[ST_MIGRATIONS_MAX];
    int na = versions_of(from, va, err, errsz), nb = na < 0 ? -1 : versions_of(to, vb, err, errsz);
    if (nb < 0)
        return false;
    if (na != nb || memcmp(va, vb, (size_t)na * sizeof va[0])) {
        snprintf(err, errsz, "FROM and TO are at different schema versions (%lld and %lld)",
                 (long long)(na ? va[na - 1] : 0), (long long)(nb ? vb[nb - 1] : 0));
        return false;
    }
    if (!tables_known(from, err, errsz) || !tables_known(to, err, errsz) || !sorts_bytewise(from, err, errsz) ||
        !sorts_bytewise(to, err, errsz) || !read_begin(from, err, errsz))
        return false;
    bool ok = run(to, to->be->begin_sql, NULL, err, errsz);
    bool began = ok;
    ok = ok && empty(to, err, errsz);
    for (size_t i = 0; ok && i < NTABLES; i++)
        ok = copy_table(from, to, &tables[i], err, errsz);
    ok = ok && identities_past(to, err, errsz) && run(to, "COMMIT", NULL, err, errsz);
    char end[8];
    if (!ok && began)
        run(to, "ROLLBACK", NULL, end, sizeof end);
    run(from, "COMMIT", NULL, end, sizeof end);
    return ok;
}

/* target brought to this lipa's schema, as lipad's start would. */
static bool migrate(const char *target, const char *label, const char *migrations_dir, char *err, size_t errsz)
{
    char why[400] = "";
    struct store *st = store_open(target, migrations_dir, why, sizeof why);
    if (!st) {
        snprintf(err, errsz, "%s: %s", label, why);
        return false;
    }
    store_close(st);
    return true;
}

bool store_move(const char *from, const char *to, const char *migrations_dir, store_move_report_fn report, void *ctx,
                char *err, size_t errsz)
{
    struct stat sb;
    if (!strcmp(from, to)) {
        snprintf(err, errsz, "FROM and TO are the same database");
        return false;
    }
    if (st_backend_of(from)->local && stat(from, &sb) != 0) {
        snprintf(err, errsz, "FROM: no such file: %.200s", from);
        return false;
    }
    /* FROM is lipa's before store_open makes it so, and at no version this
     * lipa does not know; only then is TO touched */
    struct side a = {0}, b = {0};
    int64_t v[ST_MIGRATIONS_MAX];
    bool ok = side_open(&a, from, "FROM", err, errsz) && versions_of(&a, v, err, errsz) >= 0;
    side_close(&a);
    ok = ok && migrate(from, "FROM", migrations_dir, err, errsz) && side_open(&a, from, "FROM", err, errsz) &&
         versions_known(&a, migrations_dir, err, errsz) && migrate(to, "TO", migrations_dir, err, errsz) &&
         side_open(&b, to, "TO", err, errsz) && versions_known(&b, migrations_dir, err, errsz) &&
         copy_all(&a, &b, err, errsz);
    if (!ok) {
        size_t n = strlen(err);
        snprintf(err + n, errsz - n, "; nothing was copied");
    } else {
        char why[512] = "";
        if (!(ok = compare_open(&a, &b, report, ctx, why, sizeof why)))
            snprintf(err, errsz, "copied, but %s", why);
    }
    side_close(&a);
    side_close(&b);
    return ok;
}
