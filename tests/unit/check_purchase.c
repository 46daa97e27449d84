/* pay/purchase: the pure parts of a purchase: its idempotency key, whole
 * for ids of any length, and the energy an amount buys. */
#include "runner.h"
#include "pay/purchase.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

START_TEST(short_ids_are_kept_as_they_are)
{
    char key[PURCHASE_IDEM_SIZE];
    purchase_idem_key(key, "ussd", "ATUid_8f1c2d");
    ck_assert_str_eq(key, "ussd:ATUid_8f1c2d");
    char id[128];
    memset(id, 'a', 90); /* "ussd:" + 90 fills the key to its last byte */
    id[90] = 0;
    purchase_idem_key(key, "ussd", id);
    ck_assert_int_eq(strlen(key), 95);
    ck_assert(!strncmp(key, "ussd:", 5) && !strcmp(key + 5, id));
}
END_TEST

START_TEST(long_ids_keep_a_key_of_their_own)
{
    char a[128], b[128], ka[PURCHASE_IDEM_SIZE], kb[PURCHASE_IDEM_SIZE];
    memset(a, 'S', 110);
    snprintf(a + 110, sizeof a - 110, "-0");
    memcpy(b, a, sizeof b);
    b[111] = '1';
    purchase_idem_key(ka, "ussd", a);
    purchase_idem_key(kb, "ussd", b);
    ck_assert_str_eq(ka, "ussd#387674eb1c6fc44c4fddbd4c95736bfd7a4009a3e32e76937d2b8b346298e674");
    ck_assert_str_ne(ka, kb);
    ck_assert_int_eq(strlen(kb), 69);
    /* one character over the verbatim room is hashed too */
    memset(a, 'a', 91);
    a[91] = 0;
    purchase_idem_key(ka, "ussd", a);
    ck_assert(!strncmp(ka, "ussd#", 5) && strlen(ka) == 69);
    /* an id that looks like a hashed key stays verbatim: never the same key */
    purchase_idem_key(kb, "ussd", ka + 5);
    ck_assert(!strncmp(kb, "ussd:", 5));
    ck_assert_str_ne(ka, kb);
    /* ids far longer than any face takes today */
    char *huge = malloc(5001);
    memset(huge, 'x', 5000);
    huge[5000] = 0;
    purchase_idem_key(ka, "sms", huge);
    ck_assert(!strncmp(ka, "sms#", 4) && strlen(ka) == 68);
    free(huge);
}
END_TEST

START_TEST(energy_of_an_amount)
{
    char t[24];
    ck_assert_int_eq(purchase_energy(100, 2500), 40);
    ck_assert_int_eq(purchase_energy(0, 2500), 0);
    ck_assert_int_eq(purchase_energy(100, 0), 0);
    purchase_kwh_text(123, t);
    ck_assert_str_eq(t, "12.3");
    purchase_kwh_text(5, t);
    ck_assert_str_eq(t, "0.5");
    purchase_kwh_text(-15, t); /* a meter in debt */
    ck_assert_str_eq(t, "-1.5");
}
END_TEST

Suite *test_suite(void)
{
    Suite *s = suite_create("purchase");
    TCase *tc = tcase_create("purchase");
    tcase_add_test(tc, short_ids_are_kept_as_they_are);
    tcase_add_test(tc, long_ids_keep_a_key_of_their_own);
    tcase_add_test(tc, energy_of_an_amount);
    suite_add_tcase(s, tc);
    return s;
}
