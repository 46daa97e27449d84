/* testdb: the database a test opens, on whichever backend the run is for.
 * tools/run-tests.sh runs the suites once on SQLite and once more with
 * LIPA_TEST_PG set to the URI of a throwaway PostgreSQL (tools/pg.sh); then
 * every test gets a fresh database of its own in that cluster. */
#ifndef LIPA_TEST_TESTDB_H
#define LIPA_TEST_TESTDB_H

#include <stdbool.h>
#include <stddef.h>

/* Whether this run is on PostgreSQL. */
bool testdb_pg(void);
/* The target to open: file (a SQLite path in the test's directory) when
 * the run is on SQLite, else the URI of a database made now, empty and
 * named for nobody else. False (with a message on stderr) when it could
 * not be made. */
bool testdb_target(const char *file, char *out, size_t n);
/* Runs sql against target (a SQLite file through the sqlite3 shell, or a
 * PostgreSQL URI through psql); false when the shell refused it. With
 * rows, the output (at most n bytes, one row a line, columns joined by
 * '|') goes there. */
bool testdb_sql(const char *target, const char *sql, char *rows, size_t n);

#endif
