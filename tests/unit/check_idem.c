/* pay/idem: an Idempotency-Key is checked, scoped to its caller and bound
 * to its request by a fingerprint of the request's fields. */
#include "runner.h"
#include "pay/idem.h"
#include "store/payments.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char why[200];

/* The public water checkout's key and fingerprint for one request. */
static void order(struct idem *id, const char *phone, const char *key, int64_t amount, const char *meta)
{
    ck_assert_msg(idem_begin(id, "water", phone, key, why, sizeof why), "%s", why);
    idem_text(id, "phoneNumber", phone);
    idem_int(id, "amount", amount);
    idem_text(id, "metadata", meta);
}

START_TEST(keys_are_checked_and_name_the_header)
{
    struct idem id;
    const char *good[] = {"3f2b9a1c-7d2e-4b8f-9a61-0c5e8f4d2b1a", "ord_01HZX.v2", "dGVzdA+/=", NULL, ""};
    for (int i = 0; i < 5; i++)
        ck_assert_msg(idem_begin(&id, "water", "+254712345678", good[i], why, sizeof why), "%d: %s", i, why);
    ck_assert_str_eq(id.key, ""); /* no key: every request is new */
    const char *bad[] = {"has space", "a:b", "semi;colon", "quo\"te", "new\nline", "caf\xc3\xa9", "tab\t"};
    for (int i = 0; i < 7; i++) {
        why[0] = 0;
        ck_assert_msg(!idem_begin(&id, "water", "+254712345678", bad[i], why, sizeof why), "%d accepted", i);
        ck_assert_msg(!strncmp(why, "Idempotency-Key: ", 17), "%d: %s", i, why);
    }
    char longest[IDEM_VALUE_MAX + 2];
    memset(longest, 'k', IDEM_VALUE_MAX);
    longest[IDEM_VALUE_MAX] = 0;
    ck_assert(idem_begin(&id, "water", "+254712345678", longest, why, sizeof why));
    ck_assert_str_eq(id.key + strlen(id.key) - IDEM_VALUE_MAX, longest);
    longest[IDEM_VALUE_MAX] = 'k';
    longest[IDEM_VALUE_MAX + 1] = 0;
    ck_assert(!idem_begin(&id, "water", "+254712345678", longest, why, sizeof why));
    ck_assert_str_eq(why, "Idempotency-Key: at most 64 characters");
    /* a scope that is no caller is refused, not stored */
    ck_assert(!idem_begin(&id, "water", "a:b", "k1", why, sizeof why));
    ck_assert(!idem_begin(&id, "water", "", "k1", why, sizeof why));
    ck_assert(!idem_begin(&id, "water", "client-0123456789abcdef", "k1", why, sizeof why));
    /* the longest face, scope and key fit the stored key */
    longest[IDEM_VALUE_MAX] = 0;
    ck_assert(idem_begin(&id, "integrat", "client-0123456789abc", longest, why, sizeof why));
    ck_assert_uint_eq(strlen(id.key), 8 + 1 + 20 + 1 + IDEM_VALUE_MAX);
}
END_TEST

START_TEST(keys_are_scoped_to_their_caller)
{
    struct idem a, b, admin;
    order(&a, "+254712345678", "k1", 40, "");
    order(&b, "+254722000111", "k1", 40, "");
    ck_assert_str_eq(a.key, "water:+254712345678:k1");
    ck_assert_str_ne(a.key, b.key);
    ck_assert(idem_begin(&admin, "api", NULL, "k1", why, sizeof why));
    ck_assert_str_eq(admin.key, "api:k1"); /* the admin's keys as before */
}
END_TEST

START_TEST(fingerprints_bind_the_request)
{
    struct idem a, same, other;
    order(&a, "+254712345678", "k1", 40, "{\"name\":\"Jane\"}");
    ck_assert_uint_eq(strlen(a.fp), 64);
    order(&same, "+254712345678", "k1", 40, "{\"name\":\"Jane\"}");
    ck_assert_str_eq(a.fp, same.fp);
    order(&other, "+254712345678", "k1", 41, "{\"name\":\"Jane\"}");
    ck_assert_str_ne(a.fp, other.fp);
    order(&other, "+254712345678", "k1", 40, "{\"name\":\"John\"}");
    ck_assert_str_ne(a.fp, other.fp);
    order(&other, "+254712345678", "k1", 40, "");
    ck_assert_str_ne(a.fp, other.fp);
    /* the same fields under another face are another request */
    ck_assert(idem_begin(&other, "api", NULL, "k1", why, sizeof why));
    idem_text(&other, "phoneNumber", "+254712345678");
    idem_int(&other, "amount", 40);
    idem_text(&other, "metadata", "{\"name\":\"Jane\"}");
    ck_assert_str_ne(a.fp, other.fp);
    /* field boundaries count: ("ab", "c") is not ("a", "bc"); NULL is not "" */
    struct idem x, y;
    idem_begin(&x, "api", NULL, "k", why, sizeof why);
    idem_begin(&y, "api", NULL, "k", why, sizeof why);
    idem_text(&x, "f", "ab");
    idem_text(&x, "g", "c");
    idem_text(&y, "f", "a");
    idem_text(&y, "g", "bc");
    ck_assert_str_ne(x.fp, y.fp);
    idem_begin(&x, "api", NULL, "k", why, sizeof why);
    idem_begin(&y, "api", NULL, "k", why, sizeof why);
    idem_text(&x, "f", NULL);
    idem_text(&y, "f", "");
    ck_assert_str_ne(x.fp, y.fp);
    /* long values (2 KiB of metadata) count whole */
    char big1[2048], big2[2048];
    memset(big1, 'm', sizeof big1 - 1);
    big1[sizeof big1 - 1] = 0;
    memcpy(big2, big1, sizeof big2);
    big2[sizeof big2 - 2] = 'n';
    order(&x, "+254712345678", "k1", 40, big1);
    order(&y, "+254712345678", "k1", 40, big2);
    ck_assert_str_ne(x.fp, y.fp);
    order(&y, "+254712345678", "k1", 40, big1);
    ck_assert_str_eq(x.fp, y.fp);
}
END_TEST

START_TEST(conflicts_only_for_another_request)
{
    struct idem a, b;
    struct payment p;
    memset(&p, 0, sizeof p);
    order(&a, "+254712345678", "k1", 40, "");
    order(&b, "+254712345678", "k1", 50, "");
    memcpy(p.idem_fp, a.fp, sizeof p.idem_fp); /* the row a made */
    ck_assert(!idem_conflicts(&a, &p));
    ck_assert(idem_conflicts(&b, &p));
    p.idem_fp[0] = 0; /* stored before fingerprints */
    ck_assert(!idem_conflicts(&b, &p));
    order(&b, "+254712345678", NULL, 50, ""); /* no key: never a hit */
    memcpy(p.idem_fp, a.fp, sizeof p.idem_fp);
    ck_assert(!idem_conflicts(&b, &p));
}
END_TEST

Suite *test_suite(void)
{
    Suite *s = suite_create("idem");
    TCase *tc = tcase_create("idem");
    tcase_add_test(tc, keys_are_checked_and_name_the_header);
    tcase_add_test(tc, keys_are_scoped_to_their_caller);
    tcase_add_test(tc, fingerprints_bind_the_request);
    tcase_add_test(tc, conflicts_only_for_another_request);
    suite_add_tcase(s, tc);
    return s;
}
