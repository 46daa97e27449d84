/* store/intake: purchases written to a file before the database has them,
 * private to src/store (the API is store_take_payment in store.h).
 *
 * Two append-only files, PATH-intake.0 and PATH-intake.1, one line per
 * purchase: "P1", a tab, an FNV-1a hash of the rest in hex, a tab, then
 * the purchase's fields separated by tabs (text %-escaped). One file takes
 * the new lines; a file whose every line is in the database is emptied,
 * and when the current one passes a megabyte the empty one takes over, so
 * neither grows without bound while purchases keep coming.
 *
 * A line is written with one write() before the caller is answered: like
 * a SQLite commit in WAL mode with synchronous=NORMAL (store.c), it then
 * survives lipad being killed, not the machine losing power. */
#ifndef LIPA_STORE_INTAKE_H
#define LIPA_STORE_INTAKE_H

#include "store/store.h"
#include "store/payments.h"

#include <stdbool.h>
#include <stddef.h>

struct intake;

/* Opens (creates) both files; NULL with the reason in err. */
struct intake *intake_open(const char *db_path, char *err, size_t errsz);
void intake_close(struct intake *in);

/* Writes p's line; returns the ticket to hand to intake_done, or -1 when
 * nothing was written (the file is left as it was). */
int intake_add(struct intake *in, const struct payment *p);
/* The same for a line intake_encode made (n bytes, ending in a newline). */
int intake_add_line(struct intake *in, const char *line, size_t n);
/* p (of that ticket) is in the database, or never can be. */
void intake_done(struct intake *in, int ticket);

/* Start-up, before any intake_add: calls each for every purchase in the
 * files with its ticket; the caller hands every ticket back to
 * intake_done once that purchase is in the database (or never can be),
 * then calls intake_tidy. Returns how many, or -1 when a file could not
 * be read. *skipped counts lines that are not whole purchases (a line a
 * killed writer never finished, or damage). */
int intake_replay(struct intake *in, void (*each)(void *ctx, struct payment *p, int ticket), void *ctx, int *skipped);
/* Empties every file whose purchases are all settled. */
void intake_tidy(struct intake *in);

/* For a backup (store_backup): copies db_path's two files to out_path's
 * (out_path-intake.0 and .1, mode 0600, made anew: false when one
 * exists), whole lines only (a line still being written is left out: its
 * caller was not answered yet), synced to disk. A file that does not
 * exist is not copied. *lines counts the purchases copied. False with the
 * reason in err. */
bool intake_copy(const char *db_path, const char *out_path, int64_t *lines, char *err, size_t errsz);
/* Removes out_path's intake files (a failed backup's). */
void intake_copy_remove(const char *out_path);

/* The line for p, and back (for the unit tests, intake.c and take.c,
 * which keeps a purchase waiting for the group commit as its line).
 * INTAKE_LINE_MAX bytes hold any line. */
#define INTAKE_LINE_MAX 2048
size_t intake_encode(const struct payment *p, char *out, size_t n);
bool intake_decode(const char *line, size_t len, struct payment *p);

#endif
