/* charge: the pure rules of the integrators' Paystack face (the network of
 * a number, test mode's rules, references Paystack takes), and, against a
 * database, how Paystack's word settles a charge whatever else happened
 * to it meanwhile. */
#include "runner.h"
#include "charge/charge.h"
#include "client/client.h"
#include "pay/paystack.h"
#include "store/charges.h"
#include "util/str.h"

#include "../support/testdb.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

START_TEST(networks_by_prefix)
{
    const char *saf[] = {"+254712345678", "+254722000000", "+254799999999", "+254740123456", "+254757123456",
                         "+254768123456", "+254110123456", "+254115000000", NULL};
    for (int i = 0; saf[i]; i++)
        ck_assert_msg(charge_network(saf[i]) && !strcmp(charge_network(saf[i]), "Safaricom"), "%s", saf[i]);
    const char *airtel[] = {"+254733123456", "+254780123456", "+254750123456", "+254762123456", "+254100123456", NULL};
    for (int i = 0; airtel[i]; i++)
        ck_assert_msg(charge_network(airtel[i]) && !strcmp(charge_network(airtel[i]), "Airtel"), "%s", airtel[i]);
    ck_assert_str_eq(charge_network("+254771234567"), "Telkom");
    ck_assert_ptr_null(charge_network("+254763123456")); /* none of the three */
    ck_assert_ptr_null(charge_network("254712345678"));  /* not E.164 */
    ck_assert_ptr_null(charge_network("+25471234567"));
    ck_assert_ptr_null(charge_network(NULL));
}
END_TEST

START_TEST(test_mode_rules)
{
    struct config cfg;
    memset(&cfg, 0, sizeof cfg);
    char live[] = "sk_live_abc", test[] = "sk_test_abc", why[200];
    struct charge_req r;
    memset(&r, 0, sizeof r);
    r.method = CHARGE_MPESA;
    r.amount = 150;
    snprintf(r.phone, sizeof r.phone, "+254712345678");
    snprintf(r.email, sizeof r.email, "parent@example.com");
    cfg.paystack_secret = live;
    ck_assert(!charge_test_mode(&cfg));
    ck_assert(charge_test_rules(&cfg, &r, why, sizeof why));
    ck_assert_str_eq(r.phone, "+254712345678");
    cfg.paystack_secret = test;
    ck_assert(charge_test_mode(&cfg));
    ck_assert(!charge_test_rules(&cfg, &r, why, sizeof why));
    ck_assert(!strncmp(why, "amount:", 7));
    for (int64_t amount = 100; amount <= 1000; amount += 100) {
        r.amount = amount;
        ck_assert(charge_test_rules(&cfg, &r, why, sizeof why));
    }
    ck_assert_str_eq(r.phone, CHARGE_TEST_PHONE);
    ck_assert_str_eq(r.email, CHARGE_TEST_EMAIL);
    r.amount = 1100;
    ck_assert(!charge_test_rules(&cfg, &r, why, sizeof why));
    r.amount = 0;
    ck_assert(!charge_test_rules(&cfg, &r, why, sizeof why));
    /* a card checkout without a phone gets none */
    memset(&r, 0, sizeof r);
    r.method = CHARGE_CARD;
    r.amount = 300;
    ck_assert(charge_test_rules(&cfg, &r, why, sizeof why));
    ck_assert_str_eq(r.phone, "");
}
END_TEST

START_TEST(references_are_paystacks)
{
    char a[CHARGE_REF_MAX], b[CHARGE_REF_MAX];
    ck_assert(charge_reference(1700000000000LL, a));
    ck_assert(charge_reference(1700000000000LL, b));
    ck_assert_str_ne(a, b);
    ck_assert(!strncmp(a, "CH-1700000000000-", 17));
    ck_assert_int_eq((int)strlen(a), 25);
    ck_assert(paystack_reference_ok(a));
}
END_TEST

/* ---- against a database ---- */

#define PEPPER "unit-test-pepper-0123456789abcdef"

static char tmpdir[256], dbpath[400];
static struct app A;

static void db_setup(void)
{
    const char *base = getenv("TMPDIR");
    snprintf(tmpdir, sizeof tmpdir, "%s/lipa-charge-XXXXXX", base && *base ? base : "/tmp");
    ck_assert_ptr_nonnull(mkdtemp(tmpdir));
    char file[300];
    snprintf(file, sizeof file, "%s/charge.db", tmpdir);
    ck_assert(testdb_target(file, dbpath, sizeof dbpath));
    memset(&A, 0, sizeof A);
    static char pepper[] = PEPPER;
    A.cfg.pepper = pepper;
    A.cfg.payment_timeout = 1800;
    char err[256] = "";
    A.store = store_open(dbpath, "db", err, sizeof err);
    ck_assert_msg(A.store != NULL, "store_open: %s", err);
}

static void db_teardown(void)
{
    store_close(A.store);
    test_tmp_remove(tmpdir);
}

/* An M-Pesa charge of a client of its own, out at Paystack (processing). */
static struct payment open_charge(int64_t amount)
{
    char key[CLIENT_KEY_LEN + 1], secret[CLIENT_SECRET_LEN + 1];
    struct client c;
    memset(&c, 0, sizeof c);
    str_copy(c.name, sizeof c.name, "Shule");
    ck_assert_int_eq(client_create(&A, &c, key, secret), ST_OK);
    struct payment p;
    memset(&p, 0, sizeof p);
    str_copy(p.kind, sizeof p.kind, "charge");
    str_copy(p.origin, sizeof p.origin, "api");
    str_copy(p.provider, sizeof p.provider, "paystack");
    str_copy(p.client_id, sizeof p.client_id, c.id);
    str_copy(p.phone, sizeof p.phone, "+254712345678");
    str_copy(p.currency, sizeof p.currency, "KES");
    ck_assert(charge_reference(now_ms(), p.reference));
    p.amount = amount;
    ck_assert_int_eq(store_payment_create(A.store, &p), ST_OK);
    struct charge_extra x;
    memset(&x, 0, sizeof x);
    str_copy(x.method, sizeof x.method, "mpesa");
    ck_assert_int_eq(store_charge_set(A.store, p.id, &x), ST_OK);
    ck_assert_int_eq(store_payment_get(A.store, p.id, &p), ST_OK);
    str_copy(p.status, sizeof p.status, "processing");
    ck_assert_int_eq(store_payment_save(A.store, &p), ST_OK);
    ck_assert_int_eq(store_payment_get(A.store, p.id, &p), ST_OK);
    return p;
}

/* Paystack's charge.success was read while the charge was open, and the
 * client's cancel was stored before the success could be: the success
 * still makes the payment paid (the money was taken) and records that the
 * cancel came too late. */
START_TEST(a_success_read_before_a_cancel_is_not_lost)
{
    struct payment p = open_charge(500), seen = p;
    ck_assert_int_eq(charge_cancel(&A, &p, "User requested cancellation"), ERR_OK);
    ck_assert_str_eq(p.status, "cancelled");
    struct charge_news n = {.status = "success", .amount = 50000, .currency = "KES", .channel = "mobile_money",
                            .receipt = "1000001", .paid_at = "2026-12-02T10:00:00.000Z", .gateway_response = "Approved"};
    ck_assert(charge_apply(&A, &seen, &n));
    ck_assert_str_eq(seen.status, "completed");
    struct payment now;
    ck_assert_int_eq(store_payment_get(A.store, p.id, &now), ST_OK);
    ck_assert_str_eq(now.status, "completed");
    struct charge_extra x;
    ck_assert_int_eq(store_charge_get(A.store, p.id, &x), ST_OK);
    ck_assert(x.paid_after_cancel);
    ck_assert(x.completed_at > 0);
}
END_TEST

/* The same with a failure read before the cancel: nothing to apply. */
START_TEST(a_failure_read_before_a_cancel_changes_nothing)
{
    struct payment p = open_charge(300), seen = p;
    ck_assert_int_eq(charge_cancel(&A, &p, NULL), ERR_OK);
    struct charge_news n = {.status = "failed", .amount = 30000, .currency = "KES"};
    ck_assert(charge_apply(&A, &seen, &n));
    ck_assert_str_eq(seen.status, "cancelled");
}
END_TEST

Suite *test_suite(void)
{
    Suite *s = suite_create("charge");
    TCase *tc = tcase_create("pure");
    tcase_add_test(tc, networks_by_prefix);
    tcase_add_test(tc, test_mode_rules);
    tcase_add_test(tc, references_are_paystacks);
    suite_add_tcase(s, tc);
    tc = tcase_create("settling");
    tcase_add_checked_fixture(tc, db_setup, db_teardown);
    tcase_add_test(tc, a_success_read_before_a_cancel_is_not_lost);
    tcase_add_test(tc, a_failure_read_before_a_cancel_changes_nothing);
    suite_add_tcase(s, tc);
    return s;
}
