/* charge: the pure rules of the integrators' Paystack face: the network of
 * a number, test mode's rules, references Paystack takes. */
#include "runner.h"
#include "charge/charge.h"
#include "pay/paystack.h"

#include <check.h>
#include <stdio.h>
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

Suite *test_suite(void)
{
    Suite *s = suite_create("charge");
    TCase *tc = tcase_create("pure");
    tcase_add_test(tc, networks_by_prefix);
    tcase_add_test(tc, test_mode_rules);
    tcase_add_test(tc, references_are_paystacks);
    suite_add_tcase(s, tc);
    return s;
}
