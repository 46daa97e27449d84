/* store/move: a lipa database copied whole into another, empty one, and
 * the proof that both hold the same rows (bin/lipa-migrate: a SQLite file
 * moved into PostgreSQL when one machine is no longer enough).
 *
 * FROM and TO are targets as LIPA_DB takes them: a SQLite file, or a
 * PostgreSQL URI or keyword string. Both are brought to this lipa's schema
 * first (store_open: FROM's intake is stored too, as lipad's next start
 * would), and must then be at the same version. Every table but
 * schema_migrations is copied, parents before children, in one
 * transaction of TO, ids kept; PostgreSQL's identity columns are then set
 * past the largest id, so new rows get new ids. lipad must not run on
 * either database meanwhile. */
#ifndef LIPA_STORE_MOVE_H
#define LIPA_STORE_MOVE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* One table read back from both databases: its rows, and the SHA-256 of
 * its rows in primary-key order. A row is rendered as each of its columns
 * in turn: a NULL as "-", a value as "'", its length in bytes in decimal,
 * ":" and its text (integers in decimal; bytes that are not UTF-8 as
 * U+FFFD, as both backends store them); then "\n". */
struct store_move_table {
    const char *name;
    int64_t rows_from, rows_to;
    char sha_from[65], sha_to[65];
    int64_t repaired;      /* text values of FROM that were not UTF-8 */
    bool same;             /* rows and hashes equal */
};
typedef void (*store_move_report_fn)(void *ctx, const struct store_move_table *t);

/* Copies FROM into TO (migrations from migrations_dir, as store_open),
 * then compares them as store_move_compare does. False with the reason in
 * err, ending "; nothing was copied" when TO's transaction did not commit
 * (TO not empty, the versions differ, FROM missing, a row refused: TO
 * holds no row then), or starting "copied, but " when it did and the
 * comparison failed ("copied, but table T differs"). */
bool store_move(const char *from, const char *to, const char *migrations_dir, store_move_report_fn report, void *ctx,
                char *err, size_t errsz);
/* Reads every table of both databases and calls report once per table,
 * in the order of the move; true when every table has the same rows in
 * both. */
bool store_move_compare(const char *from, const char *to, store_move_report_fn report, void *ctx, char *err,
                        size_t errsz);
/* The tables a move copies, parents before children: the i-th, or NULL
 * past the last. */
const char *store_move_table_name(size_t i);

#endif
