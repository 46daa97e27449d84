/* store/store_int.h: internals shared by the files of src/store only (no
 * other folder includes this). A domain's queries live in their own file
 * (src/store/<domain>.c, declared in src/store/<domain>.h) as static const
 * SQL strings; st_stmt prepares each once per connection, keyed by the
 * string's address. Writes go through st_step_write, which takes the
 * process writer lock (store.c). Same thread rules as store.h. */
#ifndef LIPA_STORE_INT_H
#define LIPA_STORE_INT_H

#include "store/store.h"
#include "store/meters.h"
#include "store/payments.h"
#include "store/users.h"

#include <pthread.h>
#include <sqlite3.h>
#include <stdatomic.h>

struct conn;

/* The store: what its files share (store.c opens and closes it). */
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
    struct hop *hop;           /* sessions and callers in memory (hop.c) */
    struct submit *submit;     /* the group commit (submit.c) */
    struct intake *intake;     /* purchases before the database (intake.c) */
    pthread_mutex_t retry_lock;
    struct take *retry;        /* taken-in purchases the database refused */
    atomic_llong gen;          /* bumped by writes to users, meters, assignments */
    atomic_llong evicted_at;   /* last eviction scan of the memory tables */
    atomic_llong checkpointed_at;
};

/* The calling thread's prepared statement for sql (a static string), reset
 * and ready to bind; NULL on error (logged). Call st_done after use. */
sqlite3_stmt *st_stmt(struct store *st, const char *sql);
void st_done(sqlite3_stmt *s);
void st_bind_text(sqlite3_stmt *s, int i, const char *v);
/* Copies column i (NULL as "") into dst, truncating to n-1 bytes. */
void st_col_text(sqlite3_stmt *s, int i, char *dst, size_t n);
#define ST_COPY(s, i, field) st_col_text(s, i, field, sizeof field)
/* Steps a write (under the writer lock unless in a transaction) and resets
 * it; a constraint violation is ST_CONFLICT. */
enum store_rc st_step_write(struct store *st, sqlite3_stmt *s, const char *what);
/* A step that reads one row: ST_OK (a row), ST_NOT_FOUND (none) or
 * ST_ERROR. */
enum store_rc st_row_rc(int step_rc);
/* A write meant to change one row: ST_NOT_FOUND when rc is ST_OK but it
 * changed none, else rc. */
enum store_rc st_changed_one(struct store *st, enum store_rc rc);
/* Rows changed by the last write, and the last inserted rowid, of this
 * thread's connection. */
int st_changes(struct store *st);
int64_t st_last_id(struct store *st);
/* Rows read into their structs, for every file that selects them (the
 * column lists of users.c, meters.c, payments.c). */
void st_read_user(sqlite3_stmt *s, struct user *u);
void st_read_meter(sqlite3_stmt *s, struct meter *m);
void st_read_payment(sqlite3_stmt *s, struct payment *p);
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
