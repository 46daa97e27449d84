/* store/store_int.h: internals shared by the files of src/store only (no
 * other folder includes this). A domain's queries live in their own file
 * (src/store/<domain>.c, declared in src/store/<domain>.h) as static const
 * SQL strings, in the SQL both backends speak; st_stmt prepares each once
 * per connection, keyed by the string's address. Domain files bind, step
 * and read through the st_* functions below and never see the backend:
 * store/sqlite.c (SQLite) and store/pg.c (PostgreSQL, libpq) implement
 * struct st_backend, and store.c picks one at store_open. Writes go
 * through st_step_write, which on SQLite takes the process writer lock.
 * Same thread rules as store.h. */
#ifndef LIPA_STORE_INT_H
#define LIPA_STORE_INT_H

#include "store/store.h"
#include "store/meters.h"
#include "store/payments.h"
#include "store/users.h"

#include <pthread.h>
#include <stdatomic.h>

struct conn;
struct st_conn;            /* a backend's connection */

/* A prepared statement of one connection; each backend's statement starts
 * with this. */
struct st_stmt {
    const struct st_backend *be;
};

/* What st_step answers: a row to read, the end, or a failure (a broken
 * constraint, or anything else). */
enum { ST_ROW = 100, ST_DONE = 101, ST_CONSTRAINT = 19, ST_FAILED = 1 };

/* A database behind the store. Parameters are numbered from 1, columns
 * from 0; text is never NULL (NULL reads as ""), a NULL integer reads as 0.
 * A statement runs at its first step; reset drops its rows and bindings. */
struct st_backend {
    const char *name;          /* "sqlite" or "postgresql", for logs and health */
    const char *begin_sql;     /* a static string: the statement that opens a write transaction */
    bool one_writer;           /* writes take the process writer lock (SQLite) */
    bool local;                /* a file of this machine: purchases may wait in the intake */
    const char *migrations;    /* under the migrations directory: "" or "pg" */
    void (*setup)(void);       /* once per process, before the first open; or NULL */
    struct st_conn *(*open)(const char *target, char *err, size_t errsz);
    void (*close)(struct st_conn *c);
    /* Applies the numbered .sql files of dir not yet applied, each in its
     * own transaction, recorded in schema_migrations. */
    bool (*migrate)(struct st_conn *c, const char *dir, char *err, size_t errsz);
    struct st_stmt *(*prepare)(struct st_conn *c, const char *sql);
    void (*finalize)(struct st_stmt *s);
    void (*reset)(struct st_stmt *s);
    void (*bind_i64)(struct st_stmt *s, int i, int64_t v);
    void (*bind_text)(struct st_stmt *s, int i, const char *v);
    void (*bind_null)(struct st_stmt *s, int i);
    int (*step)(struct st_stmt *s);
    int64_t (*col_i64)(struct st_stmt *s, int i);
    const char *(*col_text)(struct st_stmt *s, int i);
    bool (*col_null)(struct st_stmt *s, int i);
    /* The columns of its rows and their names (for store/move.c, which
     * copies tables it does not know column by column); valid after the
     * first step, also when it found no row. */
    int (*ncols)(struct st_stmt *s);
    const char *(*col_name)(struct st_stmt *s, int i);
    const char *(*errmsg)(struct st_stmt *s);
    int (*changes)(struct st_conn *c);        /* rows the last write changed */
    bool (*in_tx)(struct st_conn *c);         /* a transaction is open */
    void (*upkeep)(struct st_conn *c);        /* now and then, off the hop path; or NULL */
    long long (*reconnects)(void);            /* connections opened again after a break; or NULL */
    /* Other lipads on the database, for their cached callers (or NULL: a
     * file has no others): changed tells them that users, meters or
     * assignments changed (at the commit of the transaction in hand);
     * listen runs on a thread of its own until *stop, calling heard(ctx)
     * for each change told by any instance, and also after it had to
     * connect again (it may have missed one). */
    void (*changed)(struct st_conn *c);
    /* ...and that phone's resume point changed (store/ussd.c), told to
     * listen's heard_point(ctx, phone); heard_point(ctx, NULL) after
     * listen had to connect again: any may have */
    void (*point_changed)(struct st_conn *c, const char *phone);
    void (*listen)(const char *target, void (*heard)(void *ctx), void (*heard_point)(void *ctx, const char *phone),
                   void *ctx, atomic_bool *stop);
    /* The database at target copied into a new file to, as store_backup
     * says (b's pages, bytes, schema and integrity filled in); NULL when
     * the database's own tools do it (PostgreSQL). */
    bool (*backup)(const char *target, const char *to, struct store_backup *b, char *err, size_t errsz);
};
/* Migrations, for the backends' migrate: the numbered .sql files of dir
 * (at most ST_MIGRATIONS_MAX), sorted, as strings the caller frees; -1
 * with a message in err when dir cannot be read. The text of a file
 * (to free), or NULL. */
#define ST_MIGRATIONS_MAX 256
int st_migration_files(const char *dir, char **names, char *err, size_t errsz);
char *st_file_text(const char *path);
extern const struct st_backend st_sqlite;
extern const struct st_backend st_pg;
/* The backend a target names: a PostgreSQL connection URI (postgresql://,
 * postgres://) or libpq keyword string ("host=... dbname=..."), else a
 * SQLite file. */
const struct st_backend *st_backend_of(const char *target);
/* Text as both backends store it: v with every byte that is not part of a
 * valid UTF-8 sequence as U+FFFD (PostgreSQL refuses anything else), in a
 * string to free; NULL when v is valid UTF-8 already, or out of memory
 * (*oom set). */
char *st_utf8_repaired(const char *v, bool *oom);

/* The store: what its files share (store.c opens and closes it). */
struct store {
    char *path;
    const struct st_backend *be;
    /* One writer at a time inside the process: SQLite would otherwise
     * answer SQLITE_BUSY and its busy handler sleeps in whole milliseconds,
     * which is what a USSD hop cannot afford. Readers never take it. */
    pthread_mutex_t wlock;
    pthread_key_t key;
    pthread_mutex_t lock;      /* guards the list of connections */
    struct conn **all;
    size_t nall, capall;
    struct hop *hop;           /* sessions and callers in memory (hop.c) */
    struct submit *submit;     /* the group commit (submit.c) */
    struct intake *intake;     /* purchases before the database (intake.c) */
    pthread_mutex_t retry_lock;
    struct take *retry;        /* taken-in purchases the database refused */
    atomic_llong gen;          /* bumped by writes to users, meters, assignments */
    atomic_llong evicted_at;   /* last eviction scan of the memory tables */
    atomic_llong checkpointed_at;
    char instance[96];         /* this lipad, in claimed_by (store_claims_as) */
    pthread_t listener;        /* other lipads' changes (st_backend.listen) */
    bool listening;
    atomic_bool stop;
    int64_t lease_ms;          /* how long a claim holds */
    int64_t point_window_ms;   /* resume points offered this long (store_points_window) */
    atomic_llong points_swept_at;
    atomic_llong points_heard; /* other lipads' point changes heard (store/ussd.c's cache) */
};

/* Resume points (store/ussd.c): saves the live ones idle since before
 * and forgets (memory and database) those past their use; all of the
 * live ones when lipad stops. */
void st_points_upkeep(struct store *st, int64_t now, int64_t before);
void st_points_flush(struct store *st);
/* Tells the other lipads on the database that phone's point changed
 * (st_backend.point_changed). */
void st_point_changed(struct store *st, const char *phone);
/* A lipad on the database changed phone's point (NULL: any phone's). */
void st_points_heard(struct store *st, const char *phone);

/* Claims (db/017_claims.sql). ST_SKIP_LOCKED ends the subquery that picks
 * the rows to claim: PostgreSQL's backend makes it FOR UPDATE SKIP LOCKED
 * (two instances never wait for, nor take, each other's rows); to SQLite,
 * whose one writer needs no skipping, it is a comment. */
#define ST_SKIP_LOCKED " /*for update skip locked*/"
/* Runs a claim: sql is an UPDATE ... RETURNING whose parameters are ?1
 * now, ?2 at most this many rows, ?3 the lease's end, ?4 this instance;
 * read(s, row) reads each returned row into out (rows of size bytes).
 * Returns how many, or -1 on error. Rows come back in no set order. */
int st_claim(struct store *st, const char *sql, int64_t now, int max, void *out, size_t size,
             void (*read)(struct st_stmt *s, void *row));
/* Ends a SELECT whose rows the same transaction is going to change, so
 * that no other transaction changes them meanwhile: PostgreSQL locks them
 * until the transaction ends (store/pg.c writes FOR UPDATE in place of the
 * comment); SQLite reads a comment, and needs nothing more, since its
 * write transaction (BEGIN IMMEDIATE) keeps every other writer out. */
#define ST_FOR_UPDATE " /*for update*/"

/* The calling thread's prepared statement for sql (a static string), reset
 * and ready to bind; NULL on error (logged). Call st_done after use. */
struct st_stmt *st_stmt(struct store *st, const char *sql);
void st_done(struct st_stmt *s);
static inline void st_bind_i64(struct st_stmt *s, int i, int64_t v) { s->be->bind_i64(s, i, v); }
static inline void st_bind_null(struct st_stmt *s, int i) { s->be->bind_null(s, i); }
/* NULL binds "". */
void st_bind_text(struct st_stmt *s, int i, const char *v);
/* ST_ROW, ST_DONE, ST_CONSTRAINT or ST_FAILED. */
static inline int st_step(struct st_stmt *s) { return s->be->step(s); }
static inline int64_t st_col_i64(struct st_stmt *s, int i) { return s->be->col_i64(s, i); }
static inline bool st_col_null(struct st_stmt *s, int i) { return s->be->col_null(s, i); }
/* Copies column i (NULL as "") into dst, truncating to n-1 bytes. */
void st_col_text(struct st_stmt *s, int i, char *dst, size_t n);
#define ST_COPY(s, i, field) st_col_text(s, i, field, sizeof field)
/* Steps a write (under the writer lock unless in a transaction, on SQLite)
 * and resets it; a constraint violation is ST_CONFLICT. An INSERT that
 * ends in RETURNING id keeps that id for st_last_id. */
enum store_rc st_step_write(struct store *st, struct st_stmt *s, const char *what);
/* st_step_write for a write whose RETURNING gives a whole row (its first
 * column the id): read(s, row) reads it, and *got says whether there was
 * one (an INSERT ... DO NOTHING that did nothing returns none). Saves the
 * SELECT by id after the write, a round trip on PostgreSQL. */
enum store_rc st_step_write_row(struct store *st, struct st_stmt *s, const char *what,
                                void (*read)(struct st_stmt *s, void *row), void *row, bool *got);
/* A step that reads one row: ST_OK (a row), ST_NOT_FOUND (none) or
 * ST_ERROR. */
enum store_rc st_row_rc(int step_rc);
/* A write meant to change one row: ST_NOT_FOUND when rc is ST_OK but it
 * changed none, else rc. */
enum store_rc st_changed_one(struct store *st, enum store_rc rc);
/* Rows changed by the last write of this thread's connection; the id the
 * last st_step_write of this thread read from its RETURNING id (0 when it
 * returned none, as an INSERT ... DO NOTHING that did nothing). */
int st_changes(struct store *st);
/* Whether this thread is inside a store transaction (store_begin). */
bool st_in_tx(struct store *st);
int64_t st_last_id(struct store *st);
/* Rows read into their structs, for every file that selects them (the
 * column lists of users.c, meters.c, payments.c). */
void st_read_user(struct st_stmt *s, struct user *u);
void st_read_meter(struct st_stmt *s, struct meter *m);
void st_read_payment(struct st_stmt *s, struct payment *p);
/* The group commit's purchases (take.c): rows[0..n) stored as
 * store_payment_create stores each, in statements of several rows, each
 * row stored read back into its payment. Inside a transaction, which the
 * caller rolls back unless ST_OK: every row stored; else the first that
 * was not (ST_CONFLICT: a key seen before; ST_NOT_FOUND: its user or
 * meter is gone; ST_ERROR). A batch whose rows are not all new is stored
 * again row by row (store/submit.c). */
enum store_rc st_payments_create_many(struct store *st, struct payment **rows, int n);
/* Purchases taken in (take.c): stores what a killed lipad left in the
 * intake, before anything else runs (store_open); tries again what the
 * database refused, when due (store_maintain). */
bool st_take_restore(struct store *st, char *err, size_t errsz);
void st_take_retry(struct store *st, int64_t now);
/* At store_close: drops the purchases still waiting to be tried again (their
 * intake lines stay, for the next start). */
void st_take_forget(struct store *st);
/* After writing users, meters or assignments: cached callers are stale. */
void st_bump(struct store *st);

#endif
