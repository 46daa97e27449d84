/* lipa-migrate: moves a lipa database into a new, empty one (a SQLite file
 * into PostgreSQL, when one machine is no longer enough), then reads both
 * back and proves they hold the same rows (store/move.h).
 *
 *   lipa-migrate FROM TO              copies, then compares
 *   lipa-migrate --compare FROM TO    compares only
 *
 * FROM and TO as LIPA_DB takes them: a SQLite file, or a PostgreSQL URI or
 * keyword string. Migrations from LIPA_MIGRATIONS (default db), like
 * lipad. lipad must be stopped first.
 *
 * Prints one line per table: its name, its rows, the SHA-256 of its rows
 * in FROM and in TO, and ok or DIFFERENT; then a line of totals. Exit 0
 * when every table is the same in both, 1 otherwise (the reason on
 * stderr), 2 for a wrong command line. A URI's password is never
 * printed. */
#include "store/store.h"
#include "store/move.h"
#include "util/version.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct totals {
    int tables, different;
    long long rows;
};

static void line(void *ctx, const struct store_move_table *t)
{
    struct totals *s = ctx;
    char rows[48];
    if (t->rows_from == t->rows_to)
        snprintf(rows, sizeof rows, "%lld", (long long)t->rows_from);
    else
        snprintf(rows, sizeof rows, "%lld/%lld", (long long)t->rows_from, (long long)t->rows_to);
    printf("%-24s %9s %s %s %s", t->name, rows, t->sha_from, t->sha_to, t->same ? "ok" : "DIFFERENT");
    if (t->repaired)
        printf("  (%lld value%s of FROM not UTF-8: stored with U+FFFD)", (long long)t->repaired,
               t->repaired == 1 ? "" : "s");
    putchar('\n');
    fflush(stdout);
    s->tables++;
    s->different += !t->same;
    s->rows += t->rows_from;
}

static double now_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

#define MIGRATE_USAGE                                                                                          \
    "usage: lipa-migrate FROM TO | lipa-migrate --compare FROM TO\n"                                            \
    "  FROM, TO: a SQLite file or a PostgreSQL URI (as LIPA_DB); TO must be empty\n"

int main(int argc, char **argv)
{
    int asked = version_args(argc, argv, "lipa-migrate", MIGRATE_USAGE);
    if (asked >= 0)
        return asked;
    bool compare = argc == 4 && !strcmp(argv[1], "--compare");
    if (argc != 3 && !compare) {
        fputs(MIGRATE_USAGE, stderr);
        return 2;
    }
    const char *from = argv[argc - 2], *to = argv[argc - 1], *mig = getenv("LIPA_MIGRATIONS");
    if (!mig || !*mig)
        mig = "db";
    char from_shown[1024], to_shown[1024], err[1024] = "";
    store_target_shown(from, from_shown, sizeof from_shown);
    store_target_shown(to, to_shown, sizeof to_shown);
    fprintf(stderr, "lipa-migrate: %s %s %s %s\n", compare ? "comparing" : "moving", from_shown,
            compare ? "with" : "into", to_shown);
    struct totals s = {0};
    double t0 = now_s();
    bool ok = compare ? store_move_compare(from, to, line, &s, err, sizeof err)
                      : store_move(from, to, mig, line, &s, err, sizeof err);
    double took = now_s() - t0;
    if (s.tables)
        printf("total %lld rows in %d tables: %s (%.1f s)\n", s.rows, s.tables,
               s.different ? "DIFFERENT" : "all ok", took);
    if (!ok) {
        fprintf(stderr, "lipa-migrate: %s\n", err);
        return 1;
    }
    return 0;
}
