/* store: the one module that touches SQLite. One database file in WAL mode,
 * schema from numbered migration files (db/NNN_*.sql) applied at start-up,
 * prepared statements only (cached per connection). This header opens and
 * closes the store and holds what every domain's part shares
 * (transactions, the group commit, upkeep, memory caps); each domain's
 * tables have their own header: store/users.h, meters.h, payments.h,
 * sms.h, ussd.h, otp.h, water.h.
 *
 * Threads: every thread gets its own connection on first use (a thread-local
 * held through a pthread key), so any function may be called from any
 * thread; writers serialize inside SQLite (busy timeout 5 s). Transactions
 * (store_begin/commit/rollback) are per thread.
 *
 * Structs are plain data with fixed caps; functions fill the caller's
 * struct. List functions call fn once per row (rows are lent for the call). */
#ifndef LIPA_STORE_H
#define LIPA_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum store_rc { ST_OK = 0, ST_NOT_FOUND, ST_CONFLICT, ST_ERROR };

struct store;

/* Opens the database path names, applies the migrations found in
 * migrations_dir, and NULL with a message in err on failure. A PostgreSQL
 * connection URI (postgresql://, postgres://) or libpq keyword string
 * (host=... dbname=...) opens PostgreSQL (migrations_dir/pg); anything else
 * is a SQLite file, created if missing (migrations_dir). */
struct store *store_open(const char *path, const char *migrations_dir, char *err, size_t errsz);
void store_close(struct store *st);
/* Whether target names a file (SQLite) rather than a server; target as it
 * may be logged (a password shown as ***). */
bool store_is_file(const char *target);
/* Whether other lipads may work on this store's database (PostgreSQL):
 * what is shared between them must then be kept in it, not in memory. */
bool store_shared(struct store *st);
void store_target_shown(const char *target, char *out, size_t n);
/* Cheap liveness probe for /api/health. */
bool store_ping(struct store *st);
/* The database, for /api/health and /metrics: which backend, whether it
 * answers now, and how often a broken connection was opened again. */
struct store_db {
    const char *backend;       /* "sqlite" or "postgresql" */
    bool up;
    long long reconnects;
};
void store_db_state(struct store *st, struct store_db *d);

enum store_rc store_begin(struct store *st);
enum store_rc store_commit(struct store *st);
void store_rollback(struct store *st);

/* Group commit. store_submit queues write for the store's committer
 * thread, which runs all queued writes in one transaction, commits once,
 * and then calls each done(arg, rc) in queue order on that thread: rc is
 * what the write returned, or ST_ERROR for every write of a batch whose
 * commit failed. One refusal spoils nothing else: a batch in which a write
 * answers anything but ST_OK is rolled back and run again with each write
 * in its own savepoint. So write may run twice, the first run rolled
 * back: it must do the same from arg again (not count, or change arg in
 * a way its second run would see; a write error the store logs is logged
 * at each run). write must only use store functions (it runs inside the
 * transaction). False when nothing could be queued (out of memory, or the
 * store is closing). store_close runs what is queued before it returns.
 * For a caller that must not wait while the write is stored: M-Pesa's
 * callback, answered once it is stored. */
typedef enum store_rc (*store_write_fn)(struct store *st, void *arg);
typedef void (*store_done_fn)(void *arg, enum store_rc rc);
bool store_submit(struct store *st, store_write_fn write, store_done_fn done, void *arg);

/* Work claimed by this lipad (db/017_claims.sql): instance names it in the
 * rows its workers claim (unique among the lipads on one database: lipad
 * uses LIPA_INSTANCE, by default host:port); a claim holds for lease_ms,
 * longer than any provider call. Call right after store_open, before the
 * workers start. store_claims_recover then takes back, due now, the rows
 * this instance held when it last stopped (a crash leaves its claims; a
 * claim of an instance that never comes back ends with its lease). */
void store_claims_as(struct store *st, const char *instance, int64_t lease_ms);
enum store_rc store_claims_recover(struct store *st);

/* Now and then (a worker, every poll): drops sessions and cached callers
 * idle over a minute from memory (and gives the memory back to the system
 * after a burst), and copies the WAL back into the database. */
void store_maintain(struct store *st);

/* Memory caps: sessions and cached callers held at most (defaults below;
 * lipad sets LIPA_SESSIONS_MAX and LIPA_CALLERS_MAX). When a table is full,
 * a new entry takes the place of the least recently used one: a session
 * dropped early is rebuilt from AT's text on its next hop, a caller is
 * read from the database again. Call store_memory_caps right after
 * store_open, before any other thread uses st (it replaces the tables,
 * empty then); false when out of memory (the old ones stay). */
#define STORE_SESSIONS_MAX 100000
#define STORE_CALLERS_MAX 100000
bool store_memory_caps(struct store *st, size_t max_sessions, size_t max_callers);
struct store_memory {
    int64_t sessions, callers;     /* held now */
    int64_t bytes;                 /* their entries' allocations */
    int64_t sessions_dropped, callers_dropped; /* to make room: a cap was reached */
};
void store_memory(struct store *st, struct store_memory *m);

/* The work queues (for /metrics), in one statement: how many rows wait
 * and when the oldest of them was created (ms; 0 when none wait):
 *   payments  purchases open: waiting for their STK push, or for the
 *             payer and M-Pesa's word (pending, processing)
 *   topups    purchases whose meter top-up is not settled (queued,
 *             sending, checking), aged from the purchase's creation
 *   texts     incoming SMS not answered yet
 *   notices   integrators' notices not delivered yet
 *   releases  escrow releases not settled at Paystack yet
 * false when the database did not answer. */
enum { STORE_QUEUES = 5 };
extern const char *const store_queue_names[STORE_QUEUES];
struct store_queue {
    int64_t depth, oldest_ms;
};
bool store_queues(struct store *st, struct store_queue q[STORE_QUEUES]);

/* Backup of a SQLite database while lipad may be running on it
 * (bin/lipa-backup). Copies path's intake files first (purchases callers
 * were told to pay for that the database may not hold yet) to
 * out-intake.0 and .1, whole lines only; then the database through
 * SQLite's online backup, in one read transaction, so the copy is the
 * database as it stood when that began, whatever lipad writes meanwhile;
 * then checks the copy (PRAGMA integrity_check). A purchase told before
 * the backup began is in the copied database or in the copied intake
 * (lipad stores it at its first start on the copy). The database is
 * written as out.part and renamed to out once checked, so out exists only
 * complete. out and its intake files must not exist. Does not open a
 * store (nothing is migrated or restored in path). False with the reason
 * in err (a PostgreSQL target included: its own tools back it up); no
 * file of out is left then. Thread-safe (it shares nothing). */
struct store_backup {
    int64_t pages, bytes;          /* the copied database */
    int64_t intake_lines;          /* whole purchases copied from the intake */
    int64_t schema;                /* the copy's latest migration */
    char integrity[160];           /* "ok", or SQLite's first complaint */
};
bool store_backup(const char *path, const char *out, struct store_backup *b, char *err, size_t errsz);
#endif
