/* lipa-backup: a copy of lipa's SQLite database, taken while lipad runs
 * (store_backup in store.h).
 *
 *   lipa-backup DB OUT
 *
 * DB as LIPA_DB names it; OUT a new file (never overwritten). Writes OUT
 * and, beside it, OUT-intake.0 and OUT-intake.1: the purchases callers
 * were told to pay for that the database did not hold yet. A lipad
 * started on OUT (with those files beside it) has everything that was
 * committed or told before the backup began. Prints one line: the copy's
 * size, its schema version, the purchases from the intake, and the
 * integrity check's answer. Exit 0 when the copy is whole and checked, 1
 * otherwise (the reason on stderr, no file left), 2 for a wrong command
 * line. A PostgreSQL database is refused: pg_dump or a base backup copy
 * it (docs/postgresql.md). */
#include "store/store.h"
#include "util/version.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

#define BACKUP_USAGE                                                                                           \
    "usage: lipa-backup DB OUT\n"                                                                               \
    "  DB: lipa's SQLite file (LIPA_DB), lipad may be running on it\n"                                          \
    "  OUT: a new file for the copy; OUT-intake.0 and OUT-intake.1 are written beside it\n"

int main(int argc, char **argv)
{
    int asked = version_args(argc, argv, "lipa-backup", BACKUP_USAGE);
    if (asked >= 0)
        return asked;
    if (argc != 3 || !*argv[1] || !*argv[2]) {
        fputs(BACKUP_USAGE, stderr);
        return 2;
    }
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    struct store_backup b;
    char err[1400] = "";
    if (!store_backup(argv[1], argv[2], &b, err, sizeof err)) {
        fprintf(stderr, "lipa-backup: %s\n", err);
        return 1;
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double took = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
    printf("lipa-backup: %s: %lld bytes (%lld pages), schema %lld, %lld purchase%s from the intake, integrity %s "
           "(%.2f s)\n",
           argv[2], (long long)b.bytes, (long long)b.pages, (long long)b.schema, (long long)b.intake_lines,
           b.intake_lines == 1 ? "" : "s", b.integrity, took);
    return 0;
}
