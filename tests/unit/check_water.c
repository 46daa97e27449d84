/* check_water: water pricing and order references (src/water/water.c),
 * pure code. Prices come from the real configuration table (config_load
 * with a fake environment), so the defaults are the ones lipad runs with:
 * they must reproduce the water face's worked example (52 KES -> 10 litres, 50 KES,
 * difference -2). */
#include "runner.h"
#include "water/water.h"

#include "util/config.h"

#include <check.h>
#include <stdlib.h>
#include <string.h>

static const char *env[16][2];

static const char *fake_getenv(const char *name)
{
    for (int i = 0; i < 16 && env[i][0]; i++)
        if (!strcmp(env[i][0], name))
            return env[i][1];
    return NULL;
}

/* Loads the configuration with the required secrets and the given extra
 * NAME, value pairs (NULL-terminated). */
static void load(struct config *c, const char *const *extra)
{
    char err[256] = "";
    int n = 0;
    memset(env, 0, sizeof env);
    env[n][0] = "LIPA_ADMIN_KEY", env[n++][1] = "admin-key-0123456789";
    env[n][0] = "LIPA_PEPPER", env[n++][1] = "pepper-0123456789abcdef";
    for (int i = 0; extra && extra[i]; i += 2)
        env[n][0] = extra[i], env[n++][1] = extra[i + 1];
    ck_assert_msg(config_load(c, fake_getenv, err, sizeof err), "config: %s", err);
}

START_TEST(defaults_reproduce_the_document)
{
    struct config c;
    struct water_quote q;
    char why[160];
    load(&c, NULL);
    ck_assert_msg(water_quote(&c, 52, &q, why, sizeof why), "%s", why);
    ck_assert_int_eq(q.requested, 52);
    ck_assert_int_eq(q.amount, 50);
    ck_assert_int_eq(q.liters, 10);
    ck_assert_int_eq(q.price_cents, 500);
    ck_assert_int_eq(q.difference, -2);
    ck_assert_str_eq(q.rounding, "nearest");
    ck_assert_str_eq(q.currency, "KES");
    /* 53 is nearer 55 than 50 */
    ck_assert(water_quote(&c, 53, &q, why, sizeof why));
    ck_assert_int_eq(q.amount, 55);
    ck_assert_int_eq(q.liters, 11);
    ck_assert_int_eq(q.difference, 2);
    config_free(&c);
}
END_TEST

START_TEST(rounding_strategies)
{
    struct config c;
    struct water_quote q;
    char why[160];
    const char *down[] = {"LIPA_WATER_ROUNDING", "down", NULL};
    load(&c, down);
    ck_assert(water_quote(&c, 54, &q, why, sizeof why));
    ck_assert_int_eq(q.liters, 10);
    ck_assert_int_eq(q.amount, 50);
    ck_assert_int_eq(q.difference, -4);
    ck_assert_str_eq(q.rounding, "down");
    config_free(&c);

    const char *up[] = {"LIPA_WATER_ROUNDING", "up", NULL};
    load(&c, up);
    ck_assert(water_quote(&c, 51, &q, why, sizeof why));
    ck_assert_int_eq(q.liters, 11);
    ck_assert_int_eq(q.amount, 55);
    ck_assert_int_eq(q.difference, 4);
    ck_assert(water_quote(&c, 50, &q, why, sizeof why)); /* exact stays */
    ck_assert_int_eq(q.liters, 10);
    ck_assert_int_eq(q.difference, 0);
    config_free(&c);

    /* a half litre goes up under nearest: 6 KES at 4 KES a litre */
    const char *four[] = {"LIPA_WATER_PRICE_CENTS", "400", NULL};
    load(&c, four);
    ck_assert(water_quote(&c, 10, &q, why, sizeof why)); /* 2.5 L -> 3 L */
    ck_assert_int_eq(q.liters, 3);
    ck_assert_int_eq(q.amount, 12);
    config_free(&c);
}
END_TEST

START_TEST(bounds_and_zero_litres)
{
    struct config c;
    struct water_quote q;
    char why[160];
    load(&c, NULL);
    ck_assert(!water_quote(&c, 9, &q, why, sizeof why));
    ck_assert_msg(!strncmp(why, "amount:", 7), "why names the field: %s", why);
    ck_assert(!water_quote(&c, 10001, &q, why, sizeof why));
    ck_assert(!water_quote(&c, 0, &q, why, sizeof why));
    ck_assert(!water_quote(&c, -5, &q, why, sizeof why));
    ck_assert(water_quote(&c, 10, &q, why, sizeof why));
    ck_assert(water_quote(&c, 10000, &q, why, sizeof why));
    ck_assert_int_eq(q.liters, 2000);
    config_free(&c);

    /* rounding up past the maximum is refused, not charged */
    const char *up[] = {"LIPA_WATER_ROUNDING", "up", "LIPA_WATER_PRICE_CENTS", "700", NULL};
    load(&c, up);
    ck_assert(!water_quote(&c, 9999, &q, why, sizeof why)); /* 1429 L cost 10003 */
    ck_assert_msg(strstr(why, "10003"), "%s", why);
    config_free(&c);

    /* an amount that buys no whole litre under "down" */
    const char *dear[] = {"LIPA_WATER_ROUNDING", "down", "LIPA_WATER_PRICE_CENTS", "2000", NULL};
    load(&c, dear);
    ck_assert(!water_quote(&c, 15, &q, why, sizeof why));
    ck_assert_msg(strstr(why, "less than one litre"), "%s", why);
    config_free(&c);
}
END_TEST

START_TEST(price_not_whole_shillings)
{
    struct config c;
    struct water_quote q;
    char why[160];
    const char *p[] = {"LIPA_WATER_PRICE_CENTS", "250", NULL};
    load(&c, p);
    ck_assert(water_quote(&c, 11, &q, why, sizeof why)); /* 4.4 L -> 4 L = 10 KES */
    ck_assert_int_eq(q.liters, 4);
    ck_assert_int_eq(q.amount, 10);
    ck_assert(water_quote_liters(&c, 5, &q, why, sizeof why)); /* 12.50 -> 13 KES, never less */
    ck_assert_int_eq(q.amount, 13);
    ck_assert_int_eq(q.liters, 5);
    ck_assert_int_eq(q.difference, 0);
    config_free(&c);
}
END_TEST

START_TEST(quote_by_liters)
{
    struct config c;
    struct water_quote q;
    char why[160];
    load(&c, NULL);
    ck_assert(water_quote_liters(&c, 20, &q, why, sizeof why));
    ck_assert_int_eq(q.amount, 100);
    ck_assert_int_eq(q.requested, 100);
    ck_assert_int_eq(q.liters, 20);
    ck_assert(!water_quote_liters(&c, 0, &q, why, sizeof why));
    ck_assert_msg(!strncmp(why, "liters:", 7), "%s", why);
    ck_assert(!water_quote_liters(&c, 1, &q, why, sizeof why)); /* 5 KES < minimum 10 */
    ck_assert(!water_quote_liters(&c, 2001, &q, why, sizeof why)); /* 10005 > 10000 */
    ck_assert(!water_quote_liters(&c, (int64_t)1 << 60, &q, why, sizeof why));
    config_free(&c);
}
END_TEST

START_TEST(references)
{
    char a[WATER_REF_MAX], b[WATER_REF_MAX];
    ck_assert(water_reference(1707123456789, a));
    ck_assert_int_eq(strlen(a), strlen("WS-1707123456789-ABCD1234"));
    ck_assert(!strncmp(a, "WS-1707123456789-", 17));
    for (const char *p = a + 17; *p; p++)
        ck_assert_msg((*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9'), "%s", a);
    ck_assert(water_reference_ok(a));
    ck_assert(water_reference(1707123456789, b));
    ck_assert_str_ne(a, b); /* 36^8 choices: a repeat here means no randomness */
    ck_assert(water_reference_ok("WS-1707123456789-ABCD1234"));
    ck_assert(!water_reference_ok("WS-1707123456789-abcd1234"));
    ck_assert(!water_reference_ok("WS-1707123456789-ABCD123"));
    ck_assert(!water_reference_ok("WS-1707123456789-ABCD12345"));
    ck_assert(!water_reference_ok("WS--ABCD1234"));
    ck_assert(!water_reference_ok("WS-17071x3456789-ABCD1234"));
    ck_assert(!water_reference_ok("XS-1707123456789-ABCD1234"));
    ck_assert(!water_reference_ok("WS-1707123456789-ABCD/234"));
    ck_assert(!water_reference_ok(""));
    ck_assert(!water_reference_ok(NULL));
}
END_TEST

Suite *test_suite(void)
{
    Suite *s = suite_create("water");
    TCase *tc = tcase_create("pricing");
    tcase_add_test(tc, defaults_reproduce_the_document);
    tcase_add_test(tc, rounding_strategies);
    tcase_add_test(tc, bounds_and_zero_litres);
    tcase_add_test(tc, price_not_whole_shillings);
    tcase_add_test(tc, quote_by_liters);
    suite_add_tcase(s, tc);
    tc = tcase_create("references");
    tcase_add_test(tc, references);
    suite_add_tcase(s, tc);
    return s;
}
