/* check_move: a lipa database moved whole into another (store/move.h,
 * bin/lipa-migrate). FROM is a SQLite file with a row or more in every
 * table, NULLs next to empty text, a value that is not UTF-8 and tables
 * longer than a page; TO is a second SQLite file, or on the PostgreSQL
 * pass (LIPA_TEST_PG) a fresh PostgreSQL database. What an operator would
 * notice: every table is moved, ids and all, and lipa goes on numbering
 * after them; the comparison sees any changed value, NULL for '', a
 * missing row; a database not empty, a newer schema, a missing file or a
 * row TO refuses moves nothing. */
#include "runner.h"
#include "store/meters.h"
#include "store/move.h"
#include "store/payments.h"
#include "store/store.h"
#include "store/users.h"
#include "util/str.h"
#include "../support/testdb.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MIGRATIONS "db"
#define PAGE_AND_MORE 2100 /* rows of the long tables: more than move.c reads at once */

static char rootdir[256], tmpdir[320], from[400], to[400];

static void root_setup(void)
{
    const char *base = getenv("TMPDIR");
    snprintf(rootdir, sizeof rootdir, "%s/lipa-move-XXXXXX", base && *base ? base : "/tmp");
    if (!mkdtemp(rootdir)) {
        perror("mkdtemp");
        exit(EXIT_FAILURE);
    }
}

static void root_teardown(void)
{
    test_tmp_remove(rootdir);
}

/* A target of this pass's backend, not made yet (a fresh database). */
static void new_target(char *out, size_t n, const char *name)
{
    char file[400];
    snprintf(file, sizeof file, "%s/%s", tmpdir, name);
    ck_assert(testdb_target(file, out, n));
}

static void setup(void)
{
    snprintf(tmpdir, sizeof tmpdir, "%s/t-XXXXXX", rootdir);
    ck_assert_msg(mkdtemp(tmpdir) != NULL, "mkdtemp %s", tmpdir);
    snprintf(from, sizeof from, "%s/from.db", tmpdir);
    char err[512] = "";
    struct store *st = store_open(from, MIGRATIONS, err, sizeof err);
    ck_assert_msg(st != NULL, "store_open: %s", err);
    store_close(st);
    new_target(to, sizeof to, "to.db");
}

static void sql(const char *target, const char *text)
{
    ck_assert_msg(testdb_sql(target, text, NULL, 0), "refused: %s", text);
}

static long long number(const char *target, const char *text)
{
    char out[64] = "";
    ck_assert_msg(testdb_sql(target, text, out, sizeof out), "refused: %s", text);
    return strtoll(out, NULL, 10);
}

/* A row or more in every table, through the sqlite3 shell (foreign keys
 * off there: the order of these inserts does not matter). */
static const char SEED[] =
    "INSERT INTO users (id, phone, first_name, last_name, email, role, language, created_at, updated_at) VALUES "
    "(1, '+254711000001', 'Amina', '', 'amina@example.com', 'USER', 'sw', 1700000000001, 1700000000002),"
    "(5, '+254711000005', CAST(x'41ff42' AS TEXT), 'Ot''ieno', '', 'ADMIN', 'en', 1700000000003, 1700000000004);"
    "INSERT INTO meters (id, device_id, name, price_per_kwh, owner_phone, created_at, updated_at) VALUES "
    "('M-1', 'dev-1', 'Nyumba \xE2\x80\x94 A', 2500, '+254711000001', 1, 2), ('M-2', 'dev-2', '', 2500, '', 3, 4);"
    "INSERT INTO assignments (user_id, meter_id, assigned_at, seq) VALUES (1, 'M-2', 10, 1), (1, 'M-1', 10, 2),"
    "(5, 'M-1', 11, 3);"
    "INSERT INTO applied_tokens VALUES ('M-1', 'aa', 5);"
    "INSERT INTO clients (id, name, key_hmac, secret_sealed, created_at, updated_at) VALUES "
    "('0b7a2d8e-0000-4000-8000-000000000001', 'Shule', 'kh', 'sealed', 1, 2);"
    "INSERT INTO packages (id, client_id, name, amount, created_at, updated_at) VALUES "
    "('0b7a2d8e-0000-4000-8000-000000000002', '0b7a2d8e-0000-4000-8000-000000000001', 'Term', 500, 1, 2);"
    "INSERT INTO stations (id, pulses_per_liter, key_hmac, created_at, updated_at) VALUES ('ST-1', 1000, 'sk', 1, 2);"
    "INSERT INTO payments (id, origin, idem_key, user_id, phone, meter_id, amount, status, result_code, paid_amount,"
    " next_at, token_minute, metadata, created_at, updated_at, client_id, package_id, retry_of, reference) VALUES "
    "(1, 'ussd', 'ussd:s-1', 1, '+254711000001', 'M-1', 100, 'completed', 0, 100, 0, 28333333, '', 5, 6,"
    " NULL, NULL, NULL, NULL),"
    "(2, 'sms', NULL, 5, '+254711000005', NULL, 50, 'pending', NULL, NULL, 7, NULL, NULL, 7, 7, NULL, NULL, NULL,"
    " 'WS-1-ABCDEFGH'),"
    "(9, 'api', 'k-9', NULL, '+254711000009', NULL, 500, 'failed', 1032, NULL, 8, NULL, '{\"a\":1}', 8, 9,"
    " '0b7a2d8e-0000-4000-8000-000000000001', '0b7a2d8e-0000-4000-8000-000000000002', 2, NULL);"
    "INSERT INTO prompts (phone, payment_id, until_at) VALUES ('+254711000005', 2, 9);"
    "INSERT INTO provider_tokens (provider, token_sealed, renew_at, renewing_until, updated_at) VALUES "
    "('daraja', 'sealed', 10, 0, 11);"
    "INSERT INTO outbox (id, phone, body, payment_id, next_at, provider_id, created_at, updated_at) VALUES "
    "(3, '+254711000001', 'Token: {token}', 1, 0, NULL, 5, 6), (4, '+254711000001', 'Habari', NULL, 0, 'ATX', 5, 6);"
    "INSERT INTO otp_codes (payment_id, reference, liters, status, max_attempts, station_id, origin, created_at,"
    " updated_at) VALUES (2, 'WS-1-ABCDEFGH', 20, 'pending', 3, 'ST-1', 'payment', 1, 2);"
    "INSERT INTO client_notices (id, client_id, payment_id, event, body, next_at, created_at, updated_at) VALUES "
    "(1, '0b7a2d8e-0000-4000-8000-000000000001', 9, 'payment.failed', '{}', 0, 1, 2);"
    "INSERT INTO client_notice_attempts (notice_id, at, http_status) VALUES (1, 3, 500);"
    "INSERT INTO escrow_releases (client_id, booking_id, amount, phone, idem_key, idem_fp, reference, created_at,"
    " updated_at) VALUES ('0b7a2d8e-0000-4000-8000-000000000001', 'bk', 100, '+254711000001', 'i', 'f', 'TR-1', 1, 2);"
    "INSERT INTO paystack_events (event_key, event, body, received_at) VALUES ('charge.success:1', 'charge.success',"
    " '{}', 1);"
    "INSERT INTO mpesa_callbacks (checkout_request_id, result_code, body, received_at) VALUES ('ws_CO_1', 0, '{}', 1);"
    "INSERT INTO sms_inbound (at_id, text, next_at, received_at, updated_at) VALUES ('at-1', 'BAL', 0, 1, 2);"
    "INSERT INTO sms_optouts VALUES ('+254711000005', 1, 3);"
    "INSERT INTO sms_reports (message_id, status, received_at) VALUES ('ATX', 'Success', 4);"
    "INSERT INTO ussd_resume (phone, session_id, idem_key, state, at, taken_by) VALUES ('+254711000001', 's-7',"
    " 'ussd:s-7', '{\"s\":\"elec_confirm\",\"l\":\"en\",\"p\":0,\"t\":[],\"v\":{}}', 12, '');"
    /* longer than a page: one key column, and two whose first repeats */
    "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 2100)"
    " INSERT INTO ussd_events (session_id, status, duration_ms, received_at)"
    " SELECT 's-' || i, 'Success', CASE WHEN i % 3 = 0 THEN NULL ELSE i END, i FROM n;"
    "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 2100)"
    " INSERT INTO meters (id, device_id, price_per_kwh, created_at, updated_at)"
    " SELECT printf('L-%05d', i), 'ldev-' || i, 2500, i, i FROM n;"
    "INSERT INTO assignments (user_id, meter_id, assigned_at, seq) SELECT 5, id, 20, 100 + created_at FROM meters"
    " WHERE id LIKE 'L-%';";

/* What the move reported, table by table. */
struct seen {
    int n, different;
    const char *name[32];
    long long rows_from[32], rows_to[32], repaired[32];
};

static void collect(void *ctx, const struct store_move_table *t)
{
    struct seen *s = ctx;
    ck_assert_int_lt(s->n, 32);
    s->name[s->n] = t->name;
    s->rows_from[s->n] = t->rows_from;
    s->rows_to[s->n] = t->rows_to;
    s->repaired[s->n] = t->repaired;
    ck_assert_int_eq(strlen(t->sha_from), 64);
    ck_assert_int_eq(t->same, t->rows_from == t->rows_to && !strcmp(t->sha_from, t->sha_to));
    s->different += !t->same;
    s->n++;
}

static int table_index(const char *name)
{
    for (int i = 0; store_move_table_name((size_t)i); i++)
        if (!strcmp(store_move_table_name((size_t)i), name))
            return i;
    return -1;
}

static void move_ok(struct seen *s)
{
    char err[1024] = "";
    memset(s, 0, sizeof *s);
    ck_assert_msg(store_move(from, to, MIGRATIONS, collect, s, err, sizeof err), "move: %s", err);
    ck_assert_int_eq(s->different, 0);
}

static bool compare(struct seen *s, char *err, size_t n)
{
    memset(s, 0, sizeof *s);
    return store_move_compare(from, to, collect, s, err, n);
}

/* The tables of the migrations are the list's, and each comes after the
 * tables its foreign keys name: a table added to db/ and not to move.c
 * fails here. */
START_TEST(every_table_is_moved)
{
    char names[4096];
    ck_assert(testdb_sql(from,
                         "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite%' "
                         "AND name != 'schema_migrations' ORDER BY name",
                         names, sizeof names));
    int in_db = 0;
    for (char *line = names, *next; *line; line = next) {
        next = line + strcspn(line, "\n");
        if (*next)
            *next++ = '\0';
        ck_assert_msg(table_index(line) >= 0, "table %s is not moved (src/store/move.c)", line);
        in_db++;
        char q[256], refs[1024];
        snprintf(q, sizeof q, "SELECT \"table\" FROM pragma_foreign_key_list('%.64s')", line);
        ck_assert(testdb_sql(from, q, refs, sizeof refs));
        for (char *r = refs, *end; *r; r = end + (*end != '\0')) {
            end = r + strcspn(r, "\n");
            char parent[64];
            snprintf(parent, sizeof parent, "%.*s", (int)(end - r), r);
            ck_assert_msg(table_index(parent) >= 0 && table_index(parent) <= table_index(line),
                          "%s names %s, which is moved after it", line, parent);
        }
    }
    int listed = 0;
    while (store_move_table_name((size_t)listed))
        listed++;
    ck_assert_int_eq(in_db, listed);
}
END_TEST

struct order {
    int n;
    char id[8][65];
};

static void meter_order(void *ctx, const struct meter *m)
{
    struct order *o = ctx;
    if (o->n < 8)
        str_copy(o->id[o->n++], sizeof o->id[0], m->id);
}

START_TEST(moves_every_row_and_ids_go_on)
{
    sql(from, SEED);
    struct seen s;
    move_ok(&s);
    /* every table, in the list's order, with its rows */
    for (int i = 0; store_move_table_name((size_t)i); i++)
        ck_assert_str_eq(s.name[i], store_move_table_name((size_t)i));
    ck_assert_int_eq(s.n, table_index("sms_reports") + 1);
    for (int i = 0; i < s.n; i++)
        ck_assert_msg(s.rows_from[i] >= 1 && s.rows_from[i] == s.rows_to[i], "%s: %lld rows", s.name[i],
                      s.rows_from[i]);
    ck_assert_int_eq(s.rows_from[table_index("ussd_events")], PAGE_AND_MORE);
    ck_assert_int_eq(s.rows_from[table_index("assignments")], PAGE_AND_MORE + 3);
    ck_assert_int_eq(s.rows_from[table_index("payments")], 3);
    ck_assert_int_eq(s.repaired[table_index("users")], 1); /* x'41ff42' */
    /* NULL stayed NULL and '' stayed '' */
    ck_assert_int_eq(number(to, "SELECT COUNT(*) FROM payments WHERE metadata IS NULL"), 1);
    ck_assert_int_eq(number(to, "SELECT COUNT(*) FROM payments WHERE metadata = ''"), 1);
    ck_assert_int_eq(number(to, "SELECT COUNT(*) FROM ussd_events WHERE duration_ms IS NULL"), PAGE_AND_MORE / 3);
    ck_assert_int_eq(number(to, "SELECT retry_of FROM payments WHERE id = 9"), 2);

    /* lipa on TO reads what it read on FROM */
    char err[512] = "";
    struct store *a = store_open(from, MIGRATIONS, err, sizeof err), *b = store_open(to, MIGRATIONS, err, sizeof err);
    ck_assert_msg(a && b, "open: %s", err);
    struct user ua, ub;
    ck_assert_int_eq(store_user_by_phone(b, "+254711000001", &ub), ST_OK);
    ck_assert_int_eq(store_user_by_phone(a, "+254711000001", &ua), ST_OK);
    ck_assert_int_eq(ub.id, 1);
    ck_assert_str_eq(ub.language, "sw");
    ck_assert_str_eq(ub.email, ua.email);
    ck_assert_int_eq(ub.created_at, ua.created_at);
    ck_assert_int_eq(store_user_get(b, 5, &ub), ST_OK);
    ck_assert_str_eq(ub.first_name, "A\xEF\xBF\xBD" "B");
    ck_assert_str_eq(ub.last_name, "Ot'ieno");
    struct payment pa, pb;
    for (int64_t id = 1; id <= 9; id += 8) {
        ck_assert_int_eq(store_payment_get(a, id, &pa), ST_OK);
        ck_assert_int_eq(store_payment_get(b, id, &pb), ST_OK);
        ck_assert_str_eq(pb.idem_key, pa.idem_key);
        ck_assert_int_eq(pb.result_code, pa.result_code);
        ck_assert_int_eq(pb.paid_amount, pa.paid_amount);
        ck_assert_int_eq(pb.token_minute, pa.token_minute);
        ck_assert_str_eq(pb.client_id, pa.client_id);
        ck_assert_str_eq(pb.status, pa.status);
    }
    struct order oa = {0}, ob = {0};
    ck_assert_int_eq(store_user_meters_each(a, 1, meter_order, &oa), ST_OK);
    ck_assert_int_eq(store_user_meters_each(b, 1, meter_order, &ob), ST_OK);
    ck_assert_int_eq(ob.n, 2);
    ck_assert_str_eq(ob.id[0], "M-2"); /* assigned first */
    ck_assert_str_eq(ob.id[1], oa.id[1]);
    /* new rows get ids after the moved ones */
    struct user nu = {0};
    str_copy(nu.phone, sizeof nu.phone, "+254711000077");
    ck_assert_int_eq(store_user_create(b, &nu), ST_OK);
    ck_assert_int_eq(nu.id, 6);
    struct payment np = {0};
    str_copy(np.origin, sizeof np.origin, "api");
    str_copy(np.phone, sizeof np.phone, "+254711000077");
    str_copy(np.status, sizeof np.status, "pending");
    np.amount = 10;
    np.result_code = np.paid_amount = np.token_minute = -1;
    ck_assert_int_eq(store_payment_create(b, &np), ST_OK);
    ck_assert_int_eq(np.id, 10);
    store_close(a);
    store_close(b);
}
END_TEST

START_TEST(compare_sees_every_difference)
{
    sql(from, SEED);
    struct seen s;
    move_ok(&s);
    char err[512] = "";
    ck_assert_msg(compare(&s, err, sizeof err), "%s", err);
    ck_assert_int_eq(s.different, 0);
    /* NULL is not '' */
    sql(to, "UPDATE payments SET metadata = '' WHERE id = 2");
    ck_assert(!compare(&s, err, sizeof err));
    ck_assert_str_eq(err, "table payments differs");
    ck_assert_int_eq(s.different, 1);
    ck_assert_int_eq(s.rows_to[table_index("payments")], s.rows_from[table_index("payments")]);
    sql(to, "UPDATE payments SET metadata = NULL WHERE id = 2");
    ck_assert_msg(compare(&s, err, sizeof err), "%s", err);
    /* one number, far down the second page */
    sql(to, "UPDATE ussd_events SET received_at = received_at + 1 WHERE session_id = 's-2099'");
    ck_assert(!compare(&s, err, sizeof err));
    ck_assert_str_eq(err, "table ussd_events differs");
    sql(to, "UPDATE ussd_events SET received_at = received_at - 1 WHERE session_id = 's-2099'");
    /* a row gone */
    sql(to, "DELETE FROM sms_reports");
    ck_assert(!compare(&s, err, sizeof err));
    ck_assert_int_eq(s.rows_from[table_index("sms_reports")], 1);
    ck_assert_int_eq(s.rows_to[table_index("sms_reports")], 0);
    ck_assert_int_eq(s.different, 1);
}
END_TEST

START_TEST(refuses_a_database_not_empty)
{
    sql(from, SEED);
    struct seen s;
    move_ok(&s);
    sql(from, "INSERT INTO users (phone, created_at, updated_at) VALUES ('+254711000099', 1, 1)");
    char err[1024] = "";
    ck_assert(!store_move(from, to, MIGRATIONS, collect, &s, err, sizeof err));
    ck_assert_msg(strstr(err, "TO is not empty: table users has rows") && strstr(err, "nothing was copied"), "%s", err);
    ck_assert_int_eq(number(to, "SELECT COUNT(*) FROM users"), 2);
    ck_assert_int_eq(number(to, "SELECT COUNT(*) FROM payments"), 3);
    /* the first table with a row is named, whichever it is */
    char other[400];
    new_target(other, sizeof other, "other.db");
    struct store *st = store_open(other, MIGRATIONS, err, sizeof err);
    ck_assert_msg(st != NULL, "%s", err);
    store_close(st);
    sql(other, "INSERT INTO sms_reports (message_id, status, received_at) VALUES ('ATX', 'Failed', 1)");
    ck_assert(!store_move(from, other, MIGRATIONS, NULL, NULL, err, sizeof err));
    ck_assert_msg(strstr(err, "table sms_reports has rows"), "%s", err);
    ck_assert_int_eq(number(other, "SELECT COUNT(*) FROM users"), 0);
}
END_TEST

/* TO is left as it was: on SQLite no file, on PostgreSQL no table. */
static void to_untouched(void)
{
    if (testdb_pg())
        ck_assert_int_eq(number(to, "SELECT COUNT(*) FROM information_schema.tables "
                                    "WHERE table_schema = current_schema()"),
                         0);
    else
        ck_assert_int_ne(access(to, F_OK), 0);
}

START_TEST(refuses_a_newer_schema_or_no_database)
{
    char err[1024] = "", missing[400];
    snprintf(missing, sizeof missing, "%s/missing.db", tmpdir);
    ck_assert(!store_move(missing, to, MIGRATIONS, NULL, NULL, err, sizeof err));
    ck_assert_msg(strstr(err, "FROM: no such file"), "%s", err);
    ck_assert_int_ne(access(missing, F_OK), 0);
    to_untouched();
    sql(from, "INSERT INTO schema_migrations (version, name, applied_at) VALUES (999, '999_later.sql', 1)");
    ck_assert(!store_move(from, to, MIGRATIONS, NULL, NULL, err, sizeof err));
    ck_assert_msg(strstr(err, "FROM is at schema version 999, which this lipa does not know"), "%s", err);
    to_untouched();
    ck_assert(!store_move(from, from, MIGRATIONS, NULL, NULL, err, sizeof err));
    ck_assert_msg(strstr(err, "the same database"), "%s", err);
}
END_TEST

/* A row TO refuses (here an assignment of a user that does not exist,
 * which SQLite took with its foreign keys off) undoes the whole copy. */
START_TEST(refused_row_moves_nothing)
{
    sql(from, SEED);
    sql(from, "INSERT INTO assignments (user_id, meter_id, assigned_at, seq) VALUES (4040, 'M-1', 1, 9)");
    char err[1024] = "";
    struct seen s = {0};
    ck_assert(!store_move(from, to, MIGRATIONS, collect, &s, err, sizeof err));
    ck_assert_msg(strstr(err, "writing table assignments") && strstr(err, "nothing was copied"), "%s", err);
    ck_assert_int_eq(s.n, 0);
    ck_assert_int_eq(number(to, "SELECT COUNT(*) FROM users"), 0);
    ck_assert_int_eq(number(to, "SELECT COUNT(*) FROM meters"), 0);
    /* and once FROM is mended, the same TO takes the move */
    sql(from, "DELETE FROM assignments WHERE user_id = 4040");
    move_ok(&s);
}
END_TEST

Suite *test_suite(void)
{
    Suite *s = suite_create("move");
    TCase *tc = tcase_create("move");
    tcase_add_unchecked_fixture(tc, root_setup, root_teardown);
    tcase_add_checked_fixture(tc, setup, NULL);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, every_table_is_moved);
    tcase_add_test(tc, moves_every_row_and_ids_go_on);
    tcase_add_test(tc, compare_sees_every_difference);
    tcase_add_test(tc, refuses_a_database_not_empty);
    tcase_add_test(tc, refuses_a_newer_schema_or_no_database);
    tcase_add_test(tc, refused_row_moves_nothing);
    suite_add_tcase(s, tc);
    return s;
}
