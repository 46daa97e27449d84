/* check_shared_token: a provider's token shared through the database
 * (store/tokens.c, pay/shared_token.c). Two "lipads" are two store handles
 * on one fresh database (a SQLite file, or a PostgreSQL database when
 * LIPA_TEST_PG is set), each with its own shared_token; the provider is a
 * fetch function that counts its calls and hands out tok-1, tok-2, ...
 * What an operator would notice: one fetch serves both lipads, a token
 * refused as invalid is renewed once whoever notices, a lipad waits for
 * another's renewal instead of fetching too, and the token is never in the
 * database in clear. */
#include "runner.h"
#include "pay/shared_token.h"
#include "store/store.h"
#include "store/tokens.h"
#include "../support/testdb.h"

#include "util/str.h"

#include <check.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define MIGRATIONS "db"
#define PEPPER "unit-pepper-0123456789abcdef"
#define LEASE_MS 2000

static char rootdir[256];
static char tmpdir[320];
static char target[400];
static struct store *sa, *sb;          /* two lipads' stores on one database */
static struct shared_token *ta, *tb;

/* The provider: a new token per call; delay_ms before answering; fail
 * refuses. Calls may come from two threads. */
static atomic_int fetches;
static int delay_ms, renew_in_s = 3600;
static bool fail;

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static bool fetch(void *fctx, char *token, size_t n, int64_t *renew_at)
{
    (void)fctx;
    sleep_ms(delay_ms);
    if (fail)
        return false;
    int k = atomic_fetch_add(&fetches, 1) + 1;
    snprintf(token, n, "tok-%d", k);
    *renew_at = now_s() + renew_in_s;
    return true;
}

static struct store *open_db(void)
{
    char err[512] = "";
    struct store *s = store_open(target, MIGRATIONS, err, sizeof err);
    ck_assert_msg(s != NULL, "store_open(%s): %s", target, err);
    return s;
}

static void root_setup(void)
{
    const char *base = getenv("TMPDIR");
    snprintf(rootdir, sizeof rootdir, "%s/lipa-tokens-XXXXXX", base && *base ? base : "/tmp");
    if (!mkdtemp(rootdir)) {
        perror("mkdtemp");
        exit(EXIT_FAILURE);
    }
}

static void root_teardown(void) { test_tmp_remove(rootdir); }

static void setup(void)
{
    snprintf(tmpdir, sizeof tmpdir, "%s/t-XXXXXX", rootdir);
    ck_assert_msg(mkdtemp(tmpdir) != NULL, "mkdtemp %s", tmpdir);
    char file[400];
    snprintf(file, sizeof file, "%s/lipa.db", tmpdir);
    ck_assert(testdb_target(file, target, sizeof target));
    sa = open_db();
    sb = open_db();
    ta = shared_token_new(sa, "daraja", PEPPER, LEASE_MS);
    tb = shared_token_new(sb, "daraja", PEPPER, LEASE_MS);
    ck_assert(ta && tb);
    atomic_store(&fetches, 0);
    delay_ms = 0;
    renew_in_s = 3600;
    fail = false;
}

static void teardown(void)
{
    shared_token_free(ta);
    shared_token_free(tb);
    store_close(sa);
    store_close(sb);
}

/* One lipad's renewal: the token it is to use. */
static bool current(struct shared_token *t, const char *stale, char *tok, size_t n, int64_t *renew_at)
{
    return shared_token_current(t, stale, fetch, NULL, tok, n, renew_at);
}

/* ---------- the store's part ---------- */

START_TEST(row_made_claimed_stored_released)
{
    struct provider_token row;
    ck_assert_int_eq(store_token_get(sa, "daraja", &row), ST_NOT_FOUND);
    ck_assert_int_eq(store_token_claim(sa, "daraja", 5), ST_NOT_FOUND); /* no row to claim */
    ck_assert_int_eq(store_token_add(sa, "daraja"), ST_OK);
    ck_assert_int_eq(store_token_add(sb, "daraja"), ST_OK); /* there already: nothing changes */
    ck_assert_int_eq(store_token_get(sb, "daraja", &row), ST_OK);
    ck_assert_str_eq(row.token_sealed, "");
    ck_assert_int_eq(row.renew_at, 0);
    ck_assert_int_eq(row.renewing_until, 0);
    ck_assert_int_eq(store_token_claim(sa, "daraja", 1234), ST_OK);
    ck_assert_int_eq(store_token_get(sb, "daraja", &row), ST_OK);
    ck_assert_int_eq(row.renewing_until, 1234);
    ck_assert_int_eq(store_token_put(sa, "daraja", "abcdef", 99000), ST_OK);
    ck_assert_int_eq(store_token_get(sb, "daraja", &row), ST_OK);
    ck_assert_str_eq(row.token_sealed, "abcdef");
    ck_assert_int_eq(row.renew_at, 99000);
    ck_assert_int_eq(row.renewing_until, 0); /* stored: the renewal is over */
    ck_assert_int_eq(store_token_claim(sb, "daraja", 777), ST_OK);
    ck_assert_int_eq(store_token_release(sb, "daraja"), ST_OK);
    ck_assert_int_eq(store_token_get(sa, "daraja", &row), ST_OK);
    ck_assert_int_eq(row.renewing_until, 0);
    ck_assert_str_eq(row.token_sealed, "abcdef"); /* a release keeps the token */
    ck_assert_int_eq(store_token_put(sa, "other", "x", 1), ST_NOT_FOUND);
}
END_TEST

struct locker {
    atomic_int locked;         /* 1: the row is locked; 2: committed */
    int64_t committed_at;
};

static void *lock_and_hold(void *arg)
{
    struct locker *l = arg;
    struct provider_token row;
    ck_assert_int_eq(store_begin(sa), ST_OK);
    ck_assert_int_eq(store_token_lock(sa, "daraja", &row), ST_OK);
    atomic_store(&l->locked, 1);
    sleep_ms(400);
    ck_assert_int_eq(store_token_claim(sa, "daraja", 4242), ST_OK);
    l->committed_at = now_ms();
    ck_assert_int_eq(store_commit(sa), ST_OK);
    atomic_store(&l->locked, 2);
    return NULL;
}

/* store_token_lock holds the row for the transaction (FOR UPDATE on
 * PostgreSQL, the write transaction on SQLite): the other lipad's lock
 * waits for the commit and then reads what it wrote. Without the lock
 * the second read would come at once, with the row as it was. */
START_TEST(lock_waits_for_the_other_transaction)
{
    ck_assert_int_eq(store_token_add(sa, "daraja"), ST_OK);
    struct locker l = {0};
    pthread_t th;
    ck_assert_int_eq(pthread_create(&th, NULL, lock_and_hold, &l), 0);
    while (atomic_load(&l.locked) == 0)
        sleep_ms(5);
    struct provider_token row;
    ck_assert_int_eq(store_begin(sb), ST_OK);
    ck_assert_int_eq(store_token_lock(sb, "daraja", &row), ST_OK);
    int64_t got_at = now_ms();
    store_rollback(sb);
    pthread_join(th, NULL);
    ck_assert_int_eq(atomic_load(&l.locked), 2);
    ck_assert_int_eq(row.renewing_until, 4242);
    ck_assert_int_ge(got_at, l.committed_at);
}
END_TEST

/* ---------- the shared token ---------- */

/* The second lipad takes the first one's token: one fetch for both, and
 * the token is sealed in the row, not in clear. */
START_TEST(second_lipad_takes_the_first_ones_token)
{
    char a[64], b[64];
    int64_t ra = 0, rb = 0;
    ck_assert(current(ta, NULL, a, sizeof a, &ra));
    ck_assert_str_eq(a, "tok-1");
    ck_assert(ra > now_s() + 3500);
    ck_assert(current(tb, NULL, b, sizeof b, &rb));
    ck_assert_str_eq(b, "tok-1");
    ck_assert_int_eq(rb, ra);
    ck_assert_int_eq(atomic_load(&fetches), 1);
    struct provider_token row;
    ck_assert_int_eq(store_token_get(sa, "daraja", &row), ST_OK);
    ck_assert_ptr_null(strstr(row.token_sealed, "tok-1"));
    ck_assert_int_eq(strlen(row.token_sealed), (size_t)CRYPTO_SEALED_SIZE(5) - 1);
    ck_assert_int_eq(row.renew_at, ra * 1000);
    ck_assert_int_eq(row.renewing_until, 0);
    char rows[2048];
    ck_assert(testdb_sql(target, "SELECT token_sealed FROM provider_tokens", rows, sizeof rows));
    ck_assert_ptr_null(strstr(rows, "tok-1"));
    /* and a lipad started later takes it too */
    struct store *sc = open_db();
    struct shared_token *tc = shared_token_new(sc, "daraja", PEPPER, LEASE_MS);
    ck_assert(current(tc, NULL, b, sizeof b, &rb));
    ck_assert_str_eq(b, "tok-1");
    ck_assert_int_eq(atomic_load(&fetches), 1);
    shared_token_free(tc);
    store_close(sc);
}
END_TEST

/* A token the provider refused as invalid is renewed only if the row
 * still holds it: the first lipad to be refused renews, the second one,
 * refused for the same old token, takes the new one. */
START_TEST(refused_token_renewed_once)
{
    char a[64], b[64];
    int64_t r;
    ck_assert(current(ta, NULL, a, sizeof a, &r));
    ck_assert(current(tb, NULL, b, sizeof b, &r));
    ck_assert_str_eq(b, "tok-1");
    ck_assert(current(ta, "tok-1", a, sizeof a, &r)); /* A's push was refused */
    ck_assert_str_eq(a, "tok-2");
    ck_assert_int_eq(atomic_load(&fetches), 2);
    ck_assert(current(tb, "tok-1", b, sizeof b, &r)); /* B, refused for the same token */
    ck_assert_str_eq(b, "tok-2");
    ck_assert_int_eq(atomic_load(&fetches), 2);
    /* a token refused again (another party fetched one) is renewed again */
    ck_assert(current(tb, "tok-2", b, sizeof b, &r));
    ck_assert_str_eq(b, "tok-3");
    ck_assert_int_eq(atomic_load(&fetches), 3);
}
END_TEST

/* A stored token whose renew_at has come is renewed, once. */
START_TEST(expired_token_renewed_once)
{
    char a[64], b[64];
    int64_t r;
    renew_in_s = 1;
    ck_assert(current(ta, NULL, a, sizeof a, &r));
    ck_assert_str_eq(a, "tok-1");
    renew_in_s = 3600;
    sleep_ms(1100);
    ck_assert(current(tb, NULL, b, sizeof b, &r));
    ck_assert_str_eq(b, "tok-2");
    ck_assert(current(ta, NULL, a, sizeof a, &r));
    ck_assert_str_eq(a, "tok-2");
    ck_assert_int_eq(atomic_load(&fetches), 2);
}
END_TEST

struct call {
    struct shared_token *t;
    char tok[64];
    int64_t renew_at;
    bool ok;
    int64_t took_ms;
};

static void *call_main(void *arg)
{
    struct call *c = arg;
    int64_t t0 = now_ms();
    c->ok = current(c->t, NULL, c->tok, sizeof c->tok, &c->renew_at);
    c->took_ms = now_ms() - t0;
    return NULL;
}

/* Both lipads renew at once while the provider is slow: one fetches, the
 * other waits for it and takes its token, and no transaction is held
 * while the provider is called (the other store writes meanwhile). */
START_TEST(renewing_together_fetches_once)
{
    delay_ms = 1000;
    struct call ca = {.t = ta}, cb = {.t = tb};
    pthread_t th;
    ck_assert_int_eq(pthread_create(&th, NULL, call_main, &ca), 0);
    sleep_ms(100); /* A has claimed the renewal and is fetching */
    /* A's process is not held up: its other transactions go on (a
     * transaction open across the fetch would keep them out for 900 ms) */
    int64_t t0 = now_ms();
    ck_assert_int_eq(store_begin(sa), ST_OK);
    ck_assert_int_eq(store_token_add(sa, "tuya"), ST_OK);
    ck_assert_int_eq(store_commit(sa), ST_OK);
    ck_assert_int_lt(now_ms() - t0, 500);
    call_main(&cb);
    pthread_join(th, NULL);
    ck_assert(ca.ok && cb.ok);
    ck_assert_str_eq(ca.tok, "tok-1");
    ck_assert_str_eq(cb.tok, "tok-1");
    ck_assert_int_eq(atomic_load(&fetches), 1);
    ck_assert_int_ge(cb.took_ms, 500); /* it waited */
}
END_TEST

/* A lipad that died while renewing holds the others up until its mark
 * runs out, no longer; then one of them renews. */
START_TEST(dead_renewer_holds_up_until_its_mark)
{
    ck_assert_int_eq(store_token_add(sa, "daraja"), ST_OK);
    ck_assert_int_eq(store_token_claim(sa, "daraja", now_ms() + 600), ST_OK);
    struct call cb = {.t = tb};
    call_main(&cb);
    ck_assert(cb.ok);
    ck_assert_str_eq(cb.tok, "tok-1");
    ck_assert_int_ge(cb.took_ms, 450);
    ck_assert_int_lt(cb.took_ms, LEASE_MS);
    ck_assert_int_eq(atomic_load(&fetches), 1);
}
END_TEST

/* The provider gives no token: the renewal ends at once (nobody waits
 * for it) and the stored token stays as it was. */
START_TEST(failed_fetch_ends_the_renewal)
{
    char a[64];
    int64_t r;
    ck_assert(current(ta, NULL, a, sizeof a, &r));
    fail = true;
    ck_assert(!current(tb, "tok-1", a, sizeof a, &r));
    struct provider_token row;
    ck_assert_int_eq(store_token_get(sa, "daraja", &row), ST_OK);
    ck_assert_int_eq(row.renewing_until, 0);
    fail = false;
    struct call ca = {.t = ta};
    int64_t t0 = now_ms();
    ca.ok = current(ta, "tok-1", ca.tok, sizeof ca.tok, &ca.renew_at);
    ck_assert(ca.ok);
    ck_assert_str_eq(ca.tok, "tok-2");
    ck_assert_int_lt(now_ms() - t0, 500);
}
END_TEST

/* A lipad with another pepper cannot open the stored token: it renews
 * (and says so in its log) rather than use what it cannot read. */
START_TEST(another_pepper_cannot_read_it)
{
    char a[64];
    int64_t r;
    ck_assert(current(ta, NULL, a, sizeof a, &r));
    struct shared_token *other = shared_token_new(sb, "daraja", "another-pepper-0123456789", LEASE_MS);
    ck_assert(current(other, NULL, a, sizeof a, &r));
    ck_assert_str_eq(a, "tok-2");
    ck_assert_int_eq(atomic_load(&fetches), 2);
    shared_token_free(other);
}
END_TEST

/* The database gone: a lipad fetches a token of its own, as one alone. */
START_TEST(no_database_fetches_alone)
{
    char a[64];
    int64_t r;
    ck_assert(testdb_sql(target, "DROP TABLE provider_tokens", NULL, 0));
    ck_assert(current(ta, NULL, a, sizeof a, &r));
    ck_assert_str_eq(a, "tok-1");
    ck_assert(current(tb, NULL, a, sizeof a, &r));
    ck_assert_str_eq(a, "tok-2");
}
END_TEST

Suite *test_suite(void)
{
    Suite *s = suite_create("shared_token");
    TCase *tc = tcase_create("store");
    tcase_add_unchecked_fixture(tc, root_setup, root_teardown);
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, row_made_claimed_stored_released);
    tcase_add_test(tc, lock_waits_for_the_other_transaction);
    suite_add_tcase(s, tc);
    tc = tcase_create("shared");
    tcase_add_unchecked_fixture(tc, root_setup, root_teardown);
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, second_lipad_takes_the_first_ones_token);
    tcase_add_test(tc, refused_token_renewed_once);
    tcase_add_test(tc, expired_token_renewed_once);
    tcase_add_test(tc, renewing_together_fetches_once);
    tcase_add_test(tc, dead_renewer_holds_up_until_its_mark);
    tcase_add_test(tc, failed_fetch_ends_the_renewal);
    tcase_add_test(tc, another_pepper_cannot_read_it);
    tcase_add_test(tc, no_database_fetches_alone);
    suite_add_tcase(s, tc);
    return s;
}
