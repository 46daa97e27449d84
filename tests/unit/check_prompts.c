/* Unit tests: pay/prompts (one M-Pesa prompt per phone). On SQLite (a
 * lipad alone) they are kept in memory; on PostgreSQL (make check's second
 * pass) in the database, shared by every lipad on it: each pass tests its
 * own keeping. */
#include "runner.h"

#include "pay/prompts.h"
#include "store/payments.h"
#include "util/str.h"
#include "../support/testdb.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char tmpdir[256], target[400];
static struct store *st;
static struct prompts *pr;

static struct store *open_store(void)
{
    char err[512] = "";
    struct store *s = store_open(target, "db", err, sizeof err);
    ck_assert_msg(s != NULL, "store_open: %s", err);
    return s;
}

static void setup(void)
{
    const char *base = getenv("TMPDIR");
    snprintf(tmpdir, sizeof tmpdir, "%s/lipa-prompts-XXXXXX", base && *base ? base : "/tmp");
    ck_assert_ptr_nonnull(mkdtemp(tmpdir));
    char file[300];
    snprintf(file, sizeof file, "%s/lipa.db", tmpdir);
    ck_assert(testdb_target(file, target, sizeof target));
    st = open_store();
    pr = prompts_new(st, 30000);
}

static void teardown(void)
{
    prompts_free(pr);
    store_close(st);
    test_tmp_remove(tmpdir);
}

/* phone's prompt (or the reservation for a push) lasts until end. */
static void ends_at(struct prompts *p, const char *phone, int64_t end)
{
    ck_assert(prompts_waiting(p, phone, end - 1));
    ck_assert(!prompts_waiting(p, phone, end));
}

/* A purchase of phone waiting until next_at (a stored M-Pesa purchase). */
static int64_t purchase(const char *phone, const char *key, int64_t next_at)
{
    struct payment p = {0};
    str_copy(p.origin, sizeof p.origin, "rest");
    str_copy(p.idem_key, sizeof p.idem_key, key);
    str_copy(p.phone, sizeof p.phone, phone);
    p.amount = 100;
    p.next_at = next_at;
    ck_assert_int_eq(store_payment_create(st, &p), ST_OK);
    return p.id;
}

/* The first purchase takes the phone; the others wait behind its prompt,
 * and finishing it hands the phone to the oldest still waiting, reserved
 * for its push: a purchase made before that push waits too. */
START_TEST(held_behind_an_open_prompt_one_at_a_time)
{
    const char *ph = "+254712000001";
    int64_t now = now_ms();
    int64_t p1 = purchase(ph, "k1", now), p2 = purchase(ph, "k2", now + 60000), p3 = purchase(ph, "k3", now + 60000);
    ck_assert(!prompts_waiting(pr, ph, now));
    ck_assert(!prompts_hold(pr, ph, p1, now)); /* p1 pushes */
    ck_assert(!prompts_hold(pr, ph, p1, now)); /* again: still its own */
    prompts_open(pr, ph, p1, now, now + 60000);        /* accepted */
    ends_at(pr, ph, now + 60000);
    ck_assert(prompts_hold(pr, ph, p2, now + 1));
    ck_assert(prompts_hold(pr, ph, p3, now + 2));
    ends_at(pr, ph, now + 60000); /* held ones move nothing */
    /* another phone is not held */
    ck_assert(!prompts_hold(pr, "+254712000002", 999, now));
    /* p1 answered: p2 (the oldest waiting) is next, then p3 */
    ck_assert_int_eq(prompts_close(pr, ph, p1, now + 10), p2);
    ends_at(pr, ph, now + 10 + 30000); /* reserved for p2's push */
    ck_assert(!prompts_hold(pr, ph, p2, now + 10));
    ck_assert(prompts_hold(pr, ph, p3, now + 11)); /* p2's push is about to go */
    /* an end from a purchase that does not hold the phone changes nothing */
    ck_assert_int_eq(prompts_close(pr, ph, p1, now + 12), 0);
    ck_assert(prompts_hold(pr, ph, p3, now + 13));
    /* p2's push did not go: the phone goes to p3 */
    ck_assert_int_eq(prompts_close(pr, ph, p2, now + 14), p3);
    ck_assert(!prompts_hold(pr, ph, p3, now + 15));
    /* p3 answered: p2, still waiting for a push that goes, is next again */
    ck_assert_int_eq(prompts_close(pr, ph, p3, now + 16), p2);
}
END_TEST

/* An unanswered prompt ends by itself when its purchase is due to be
 * settled; a push that did not go frees the phone at once; a lipad that
 * died while pushing frees it when its reservation ends. */
START_TEST(prompts_end_by_themselves_or_when_given_back)
{
    const char *ph = "+254712000003";
    int64_t now = now_ms();
    prompts_open(pr, ph, 1, now, now + 100);
    ck_assert(prompts_hold(pr, ph, 2, now + 50));
    ck_assert(!prompts_hold(pr, ph, 2, now + 150)); /* over: 2 takes it */
    ck_assert_int_eq(prompts_close(pr, ph, 2, now + 150), 0); /* 2's push did not go */
    ck_assert(!prompts_hold(pr, ph, 3, now + 151));
    /* 3's lipad dies mid-push: the phone is 3's for the reservation only */
    ck_assert(prompts_hold(pr, ph, 4, now + 152));
    ends_at(pr, ph, now + 151 + 30000);
    ck_assert(!prompts_hold(pr, ph, 4, now + 151 + 30000));
    /* giving back a prompt that is another's changes nothing */
    prompts_close(pr, ph, 3, now + 151 + 30000);
    ck_assert(prompts_hold(pr, ph, 5, now + 151 + 30001));
}
END_TEST

/* Two lipads on one database: one prompt per phone between them. */
START_TEST(one_prompt_per_phone_across_lipads)
{
    struct store *other = open_store();
    struct prompts *pr2 = prompts_new(other, 30000);
    const char *ph = "+254712000004";
    int64_t now = now_ms();
    ck_assert(!prompts_hold(pr, ph, 10, now));
    ck_assert(prompts_hold(pr2, ph, 11, now));
    prompts_open(pr, ph, 10, now, now + 5000);
    ends_at(pr2, ph, now + 5000);
    ck_assert_int_eq(prompts_close(pr, ph, 10, now + 2), 0); /* nobody stored waiting */
    ck_assert(!prompts_hold(pr2, ph, 11, now + 3));
    prompts_free(pr2);
    store_close(other);
}
END_TEST

/* ---- in memory: a lipad alone (SQLite) ---- */

START_TEST(mem_held_behind_an_open_prompt_one_at_a_time)
{
    const char *ph = "+254712345678";
    ck_assert(!prompts_hold(pr, ph, 7, 1000)); /* nothing out: push 7 */
    prompts_open(pr, ph, 7, 1000, 121000);
    ck_assert(prompts_hold(pr, ph, 8, 2000));
    ends_at(pr, ph, 121000);
    ck_assert(prompts_hold(pr, ph, 9, 2500));
    ck_assert(prompts_hold(pr, ph, 8, 3000)); /* asked again: kept once */
    ck_assert(!prompts_hold(pr, "+254722000111", 10, 3000)); /* another phone goes */
    ck_assert_int_eq(prompts_close(pr, ph, 7, 3100), 8); /* 7 answered: 8 is next */
    ends_at(pr, ph, 3100 + 30000); /* reserved for 8's push */
    ck_assert(prompts_hold(pr, ph, 12, 3200)); /* made meanwhile: behind 8 */
    ck_assert_int_eq(prompts_close(pr, ph, 7, 3300), 0); /* 7 no longer holds it */
    ck_assert(!prompts_hold(pr, ph, 8, 3500)); /* 8's own: push 8 */
    prompts_open(pr, ph, 8, 3600, 123600);
    ck_assert(prompts_hold(pr, ph, 9, 3700)); /* 9 still waits, now behind 8 */
    ends_at(pr, ph, 123600);
    ck_assert_int_eq(prompts_close(pr, ph, 8, 3750), 9);
    ck_assert(!prompts_hold(pr, ph, 9, 3800));
    prompts_open(pr, ph, 9, 3800, 123800);
    ck_assert_int_eq(prompts_close(pr, ph, 9, 3850), 12);
    ck_assert_int_eq(prompts_close(pr, ph, 12, 3860), 0); /* 12's push did not go; nobody waits */
    ck_assert(!prompts_waiting(pr, ph, 3860));
    ck_assert(!prompts_hold(pr, ph, 11, 3900));
    ck_assert(prompts_hold(pr, ph, 13, 3910)); /* 11's push is about to go */
    ck_assert_int_eq(prompts_close(pr, ph, 11, 3950), 13); /* 11's push did not go: 13's turn */
}
END_TEST

/* A purchase held behind a prompt that ended unanswered takes the phone
 * when the worker meets it again, and is no longer behind anyone. */
START_TEST(mem_a_held_purchase_takes_an_ended_prompt)
{
    const char *ph = "+254712345678";
    prompts_open(pr, ph, 1, 0, 100);
    ck_assert(prompts_hold(pr, ph, 2, 50));
    ck_assert(!prompts_hold(pr, ph, 2, 150)); /* 1's prompt is over */
    ck_assert(prompts_hold(pr, ph, 3, 160));
    ends_at(pr, ph, 150 + 30000);
    ck_assert_int_eq(prompts_close(pr, ph, 1, 170), 0); /* 1's late answer */
    ck_assert_int_eq(prompts_close(pr, ph, 2, 180), 3); /* not 2 itself */
}
END_TEST

START_TEST(mem_an_unanswered_prompt_ends_by_itself)
{
    ck_assert(!prompts_waiting(pr, "+254712345678", 1000));
    prompts_open(pr, "+254712345678", 1, 1000, 5000);
    ends_at(pr, "+254712345678", 5000);
    ck_assert(prompts_hold(pr, "+254712345678", 2, 4999));
    ck_assert(!prompts_hold(pr, "+254712345678", 2, 5000));
}
END_TEST

START_TEST(mem_held_ids_are_capped_and_bad_input)
{
    prompts_open(pr, "+254712345678", 1, 0, 100000);
    for (int i = 0; i < 16; i++)
        ck_assert(prompts_hold(pr, "+254712345678", 100 + i, 10)); /* held, remembered or not */
    int64_t holder = 1;
    for (int i = 0; i < 8; i++) {
        ck_assert_int_eq(prompts_close(pr, "+254712345678", holder, 20), 100 + i);
        holder = 100 + i;
    }
    ck_assert_int_eq(prompts_close(pr, "+254712345678", holder, 20), 0); /* the rest come due by their time */
    prompts_open(pr, "", 1, 0, 100000);
    prompts_open(pr, "+2547123456789012345", 1, 0, 100000); /* longer than any phone: ignored */
    ck_assert(!prompts_hold(pr, "+2547123456789012345", 2, 10));
    ck_assert(!prompts_hold(NULL, "+254712345678", 1, 10));
    ck_assert_int_eq(prompts_close(NULL, "+254712345678", 1, 10), 0);
}
END_TEST

Suite *test_suite(void)
{
    Suite *s = suite_create("prompts");
    TCase *tc = tcase_create("prompts");
    tcase_add_checked_fixture(tc, setup, teardown);
    if (testdb_pg()) { /* kept in the database */
        tcase_add_test(tc, held_behind_an_open_prompt_one_at_a_time);
        tcase_add_test(tc, prompts_end_by_themselves_or_when_given_back);
        tcase_add_test(tc, one_prompt_per_phone_across_lipads);
    } else { /* in memory */
        tcase_add_test(tc, mem_held_behind_an_open_prompt_one_at_a_time);
        tcase_add_test(tc, mem_an_unanswered_prompt_ends_by_itself);
        tcase_add_test(tc, mem_a_held_purchase_takes_an_ended_prompt);
        tcase_add_test(tc, mem_held_ids_are_capped_and_bad_input);
    }
    suite_add_tcase(s, tc);
    return s;
}
