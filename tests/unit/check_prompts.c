/* pay/prompts: a purchase waits behind an unanswered M-Pesa prompt to the
 * same phone, and answering the prompt hands the waiting ones back. */
#include "runner.h"
#include "pay/prompts.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>

static struct prompts *pr;
static void setup(void) { pr = prompts_new(); }
static void teardown(void) { prompts_free(pr); }

START_TEST(held_behind_an_open_prompt_one_at_a_time)
{
    int64_t until = 0;
    const char *ph = "+254712345678";
    ck_assert(!prompts_hold(pr, ph, 7, 1000, &until)); /* nothing out: push 7 */
    prompts_open(pr, ph, 1000, 121000);
    ck_assert(prompts_hold(pr, ph, 8, 2000, &until));
    ck_assert_int_eq(until, 121000);
    ck_assert(prompts_hold(pr, ph, 9, 2500, &until));
    ck_assert(prompts_hold(pr, ph, 8, 3000, &until)); /* asked again: kept once */
    ck_assert(!prompts_hold(pr, "+254722000111", 10, 3000, &until)); /* another phone goes */
    ck_assert_int_eq(prompts_close(pr, ph), 8); /* 7 answered: 8 is next */
    ck_assert(!prompts_hold(pr, ph, 8, 3500, &until)); /* no prompt out: push 8 */
    prompts_open(pr, ph, 3600, 123600);
    ck_assert(prompts_hold(pr, ph, 9, 3700, &until)); /* 9 still waits, now behind 8 */
    ck_assert_int_eq(until, 123600);
    ck_assert_int_eq(prompts_close(pr, ph), 9);
    ck_assert(!prompts_hold(pr, ph, 9, 3800, &until));
    prompts_open(pr, ph, 3800, 123800);
    ck_assert_int_eq(prompts_close(pr, ph), 0); /* nobody waits */
    ck_assert(!prompts_hold(pr, ph, 11, 3900, &until));
}
END_TEST

START_TEST(an_unanswered_prompt_ends_by_itself)
{
    int64_t until = 0;
    ck_assert(!prompts_waiting(pr, "+254712345678", 1000, &until));
    prompts_open(pr, "+254712345678", 1000, 5000);
    ck_assert(prompts_waiting(pr, "+254712345678", 4999, &until));
    ck_assert_int_eq(until, 5000);
    ck_assert(!prompts_waiting(pr, "+254712345678", 5000, &until));
    ck_assert(prompts_hold(pr, "+254712345678", 1, 4999, &until));
    ck_assert(!prompts_hold(pr, "+254712345678", 1, 5000, &until));
    prompts_open(pr, "+254712345678", 6000, 9000); /* the next push opens it again */
    ck_assert(prompts_hold(pr, "+254712345678", 2, 6001, &until));
    ck_assert_int_eq(until, 9000);
}
END_TEST

START_TEST(held_ids_are_capped)
{
    int64_t until;
    prompts_open(pr, "+254712345678", 0, 100000);
    for (int i = 0; i < 2 * PROMPTS_HELD_MAX; i++)
        ck_assert(prompts_hold(pr, "+254712345678", 100 + i, 10, &until)); /* held, remembered or not */
    for (int i = 0; i < PROMPTS_HELD_MAX; i++)
        ck_assert_int_eq(prompts_close(pr, "+254712345678"), 100 + i);
    ck_assert_int_eq(prompts_close(pr, "+254712345678"), 0); /* the rest come due by their time */
}
END_TEST

START_TEST(thousands_of_phones_and_bad_input)
{
    char phone[16];
    int64_t until;
    for (int i = 0; i < 5000; i++) {
        snprintf(phone, sizeof phone, "+2547%08d", i);
        prompts_open(pr, phone, 0, 100000);
    }
    int out = 0;
    for (int i = 0; i < 5000; i++) {
        snprintf(phone, sizeof phone, "+2547%08d", i);
        out += prompts_hold(pr, phone, i, 10, &until);
    }
    ck_assert_int_eq(out, 5000);
    prompts_open(pr, "", 0, 100000);
    prompts_open(pr, "+2547123456789012345", 0, 100000); /* longer than any phone: ignored */
    ck_assert(!prompts_hold(pr, "+2547123456789012345", 1, 10, &until));
    ck_assert(!prompts_hold(NULL, "+254712345678", 1, 10, &until));
    prompts_open(NULL, "+254712345678", 0, 100000);
    ck_assert_int_eq(prompts_close(NULL, "+254712345678"), 0);
}
END_TEST

Suite *test_suite(void)
{
    Suite *s = suite_create("prompts");
    TCase *tc = tcase_create("prompts");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, held_behind_an_open_prompt_one_at_a_time);
    tcase_add_test(tc, an_unanswered_prompt_ends_by_itself);
    tcase_add_test(tc, held_ids_are_capped);
    tcase_add_test(tc, thousands_of_phones_and_bad_input);
    suite_add_tcase(s, tc);
    return s;
}
