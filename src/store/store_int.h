/* store/store_int.h: internals shared by the files of src/store only (no
 * other folder includes this). A domain's queries live in their own file
 * (src/store/<domain>.c, declared in src/store/<domain>.h) as static const
 * SQL strings; st_stmt prepares each once per connection, keyed by the
 * string's address. Writes go through st_step_write, which takes the
 * process writer lock (store.c). Same thread rules as store.h. */
#ifndef LIPA_STORE_INT_H
#define LIPA_STORE_INT_H

#include "store/store.h"

#include <sqlite3.h>

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
/* Rows changed by the last write, and the last inserted rowid, of this
 * thread's connection. */
int st_changes(struct store *st);
int64_t st_last_id(struct store *st);
/* After writing users, meters or assignments: cached callers are stale. */
void st_bump(struct store *st);

#endif
