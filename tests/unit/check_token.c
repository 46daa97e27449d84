/* check_token: lipa's own 20-digit token: it round-trips, is bound to its
 * meter and pepper, any single changed digit is caught, and malformed input
 * is refused. */
#include "runner.h"
#include "meter/token.h"

#include "util/crypto.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PEPPER "pepper-0123456789abcdef"
#define METER "bf1234567890abcdefgh"
#define MINUTE_MAX ((INT64_C(1) << 24) - 1)
#define UNITS_MAX ((INT64_C(1) << 16) - 1)

START_TEST(round_trip)
{
    const int64_t cases[][2] = {{0, 0}, {1, 1}, {525600, 125}, {MINUTE_MAX, UNITS_MAX}, {123456, 65000}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char tok[21];
        int64_t m = -1, u = -1;
        ck_assert(token_issue(PEPPER, METER, cases[i][0], cases[i][1], tok));
        ck_assert_uint_eq(strlen(tok), 20);
        for (int k = 0; k < 20; k++)
            ck_assert(tok[k] >= '0' && tok[k] <= '9');
        ck_assert_msg(token_verify(PEPPER, METER, tok, &m, &u), "case %zu: %s", i, tok);
        ck_assert_int_eq(m, cases[i][0]);
        ck_assert_int_eq(u, cases[i][1]);
    }
}
END_TEST

START_TEST(deterministic_and_distinct)
{
    char a[21], b[21], c[21], d[21];
    ck_assert(token_issue(PEPPER, METER, 1000, 50, a));
    ck_assert(token_issue(PEPPER, METER, 1000, 50, b));
    ck_assert_str_eq(a, b); /* re-derivable from the payment */
    ck_assert(token_issue(PEPPER, METER, 1001, 50, c));
    ck_assert(token_issue(PEPPER, "other-meter", 1000, 50, d));
    ck_assert_str_ne(a, c);
    ck_assert_str_ne(a, d);
}
END_TEST

START_TEST(bound_to_meter_and_pepper)
{
    char tok[21];
    int64_t m, u;
    ck_assert(token_issue(PEPPER, METER, 777777, 300, tok));
    ck_assert(!token_verify(PEPPER, "bf1234567890abcdefgi", tok, &m, &u));
    ck_assert(!token_verify(PEPPER, "other", tok, &m, &u));
    ck_assert(!token_verify("another-pepper-0123456789", METER, tok, &m, &u));
    ck_assert(token_verify(PEPPER, METER, tok, NULL, NULL));
}
END_TEST

START_TEST(every_single_digit_change_fails)
{
    char tok[21], bad[21];
    ck_assert(token_issue(PEPPER, METER, 4242424, 1234, tok));
    int tried = 0;
    for (int i = 0; i < 20; i++)
        for (char c = '0'; c <= '9'; c++) {
            if (c == tok[i])
                continue;
            memcpy(bad, tok, sizeof bad);
            bad[i] = c;
            ck_assert_msg(!token_verify(PEPPER, METER, bad, NULL, NULL), "accepted %s (from %s)", bad, tok);
            tried++;
        }
    ck_assert_int_eq(tried, 180);
    /* swapping two different neighbouring digits too */
    for (int i = 0; i < 19; i++) {
        if (tok[i] == tok[i + 1])
            continue;
        memcpy(bad, tok, sizeof bad);
        bad[i] = tok[i + 1];
        bad[i + 1] = tok[i];
        ck_assert_msg(!token_verify(PEPPER, METER, bad, NULL, NULL), "accepted swap %s", bad);
    }
}
END_TEST

START_TEST(issue_range)
{
    char tok[21];
    ck_assert(!token_issue(PEPPER, METER, -1, 10, tok));
    ck_assert(!token_issue(PEPPER, METER, MINUTE_MAX + 1, 10, tok));
    ck_assert(!token_issue(PEPPER, METER, 10, -1, tok));
    ck_assert(!token_issue(PEPPER, METER, 10, UNITS_MAX + 1, tok));
    ck_assert(!token_issue(PEPPER, "", 10, 10, tok));
    ck_assert(!token_issue(PEPPER, NULL, 10, 10, tok));
    ck_assert(!token_issue("", METER, 10, 10, tok));
    ck_assert(!token_issue(NULL, METER, 10, 10, tok));
    /* the largest fields still fit below 2^66 = 73786976294838206464 */
    ck_assert(token_issue(PEPPER, METER, MINUTE_MAX, UNITS_MAX, tok));
    ck_assert_int_lt(strcmp(tok, "73786976294838206464"), 0);
}
END_TEST

START_TEST(verify_refuses_malformed)
{
    char tok[21], s[64];
    int64_t m = 99, u = 99;
    ck_assert(token_issue(PEPPER, METER, 100, 100, tok));
    const char *bad[] = {"", "1234", "1234567890123456789", "123456789012345678901",
                         "1234 5678 9012 3456 7890", "1234567890123456789a", "-1234567890123456789",
                         "+1234567890123456789", "73786976294838206464", "99999999999999999999"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        ck_assert_msg(!token_verify(PEPPER, METER, bad[i], &m, &u), "accepted '%s'", bad[i]);
    ck_assert_int_eq(m, 99); /* outputs untouched on failure */
    ck_assert_int_eq(u, 99);
    snprintf(s, sizeof s, "%s0", tok);
    ck_assert(!token_verify(PEPPER, METER, s, NULL, NULL));
    snprintf(s, sizeof s, " %s", tok);
    ck_assert(!token_verify(PEPPER, METER, s, NULL, NULL));
    ck_assert(!token_verify(PEPPER, METER, NULL, NULL, NULL));
}
END_TEST

/* Packs a token the way token.h documents it, for any field values. */
static void forge(int64_t minute, int64_t units, char out[21])
{
    char msg[128];
    uint8_t h[32];
    int n = snprintf(msg, sizeof msg, "lipa-token-v1|%s|%lld|%lld", METER, (long long)minute, (long long)units);
    crypto_hmac_sha256(PEPPER, strlen(PEPPER), msg, (size_t)n, h);
    uint32_t mac = ((uint32_t)h[0] << 24 | (uint32_t)h[1] << 16 | (uint32_t)h[2] << 8 | h[3]) >> 6;
    unsigned __int128 v = (unsigned __int128)minute << 42 | (unsigned __int128)units << 26 | mac;
    for (int i = 19; i >= 0; i--) {
        out[i] = (char)('0' + (int)(v % 10));
        v /= 10;
    }
    out[20] = 0;
}

START_TEST(layout_and_66_bit_limit)
{
    char tok[21], mine[21];
    /* the documented layout is what token_issue writes */
    forge(MINUTE_MAX, 777, mine);
    ck_assert(token_issue(PEPPER, METER, MINUTE_MAX, 777, tok));
    ck_assert_str_eq(tok, mine);
    /* a correctly keyed value with a 25-bit minute is still refused */
    forge(MINUTE_MAX + 1, 5, mine);
    ck_assert(!token_verify(PEPPER, METER, mine, NULL, NULL));
}
END_TEST

START_TEST(grouping)
{
    char out[25];
    token_group("12345678901234567890", out);
    ck_assert_str_eq(out, "1234 5678 9012 3456 7890");
    char tok[21];
    ck_assert(token_issue(PEPPER, METER, 5, 5, tok));
    token_group(tok, out);
    ck_assert_uint_eq(strlen(out), 24);
    ck_assert(out[4] == ' ' && out[9] == ' ' && out[14] == ' ' && out[19] == ' ');
    token_group("123456", out);
    ck_assert_str_eq(out, "1234 56");
}
END_TEST

START_TEST(minute_field)
{
    ck_assert_int_eq(token_minute(TOKEN_EPOCH_S), 0);
    ck_assert_int_eq(token_minute(TOKEN_EPOCH_S + 59), 0);
    ck_assert_int_eq(token_minute(TOKEN_EPOCH_S + 60), 1);
    ck_assert_int_eq(token_minute(TOKEN_EPOCH_S + 86400), 1440);
    ck_assert_int_lt(token_minute(TOKEN_EPOCH_S - 1), 0);
    char tok[21];
    ck_assert(!token_issue(PEPPER, METER, token_minute(TOKEN_EPOCH_S - 1), 1, tok));
}
END_TEST

Suite *test_suite(void)
{
    Suite *s = suite_create("token");
    TCase *tc = tcase_create("token");
    tcase_add_test(tc, round_trip);
    tcase_add_test(tc, deterministic_and_distinct);
    tcase_add_test(tc, bound_to_meter_and_pepper);
    tcase_add_test(tc, every_single_digit_change_fails);
    tcase_add_test(tc, issue_range);
    tcase_add_test(tc, verify_refuses_malformed);
    tcase_add_test(tc, layout_and_66_bit_limit);
    tcase_add_test(tc, grouping);
    tcase_add_test(tc, minute_field);
    suite_add_tcase(s, tc);
    return s;
}
