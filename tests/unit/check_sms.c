/* check_sms: what the outbox promises, as a customer or an admin would
 * notice it: long texts are cut to the configured parts; the store keeps
 * one inbound SMS per AT id, opt-outs, and delivery reports that move a
 * message once; a queued message records its encoding and parts. */
#include "runner.h"
#include "app/app.h"
#include "sms/outbox.h"
#include "store/sms.h"
#include "util/gsm.h"
#include "util/str.h"

#include "../support/testdb.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char tmpdir[256];

static void tmp_setup(void)
{
    const char *base = getenv("TMPDIR");
    snprintf(tmpdir, sizeof tmpdir, "%s/lipa-sms-XXXXXX", base && *base ? base : "/tmp");
    ck_assert_msg(mkdtemp(tmpdir) != NULL, "mkdtemp");
}

static void tmp_teardown(void)
{
    test_tmp_remove(tmpdir);
}

/* ---------- outbox: keeping texts within the parts ---------- */

/* the shipped placeholders' widths; never rendered here */
static const struct outbox_placeholder widths[] = {
    {"{token}", "0000 0000 0000 0000 0000", NULL},
    {"{code}", "000000", NULL},
    {NULL, NULL, NULL},
};

START_TEST(fit_cuts_to_parts)
{
    char out[1024], body[1000];
    struct gsm_parts gp;
    /* short: unchanged */
    ck_assert(!outbox_fit(widths, "hello", 1, out, sizeof out));
    ck_assert_str_eq(out, "hello");
    /* 400 GSM-7 characters into one part: 157 + "..." = 160 */
    memset(body, 'x', 400);
    body[400] = 0;
    ck_assert(outbox_fit(widths, body, 1, out, sizeof out));
    gsm_parts(out, &gp);
    ck_assert_int_eq(gp.parts, 1);
    ck_assert_int_eq(gp.units, 160);
    ck_assert(!strcmp(out + strlen(out) - 3, "..."));
    /* two parts: 306 septets */
    ck_assert(outbox_fit(widths, body, 2, out, sizeof out));
    gsm_parts(out, &gp);
    ck_assert_int_eq(gp.parts, 2);
    ck_assert_int_eq(gp.units, 306);
    /* UCS-2: 70 per single part, cut on a character boundary */
    for (int i = 0; i < 100; i++)
        memcpy(body + 2 * i, "\xd0\x96", 2); /* not GSM-7 */
    body[200] = 0;
    ck_assert(outbox_fit(widths, body, 1, out, sizeof out));
    gsm_parts(out, &gp);
    ck_assert(gp.ucs2);
    ck_assert_int_eq(gp.parts, 1);
    ck_assert_int_eq(gp.units, 70);
    ck_assert(str_is_clean_utf8(out, strlen(out)));
    /* a placeholder is counted at its rendered width and never cut */
    memset(body, 'y', 140);
    static const char tail[] = " {token} and more words here";
    memcpy(body + 140, tail, sizeof tail);
    ck_assert(outbox_fit(widths, body, 1, out, sizeof out));
    ck_assert_msg(!strstr(out, "{tok") || strstr(out, "{token}"), "%s", out);
    ck_assert_str_eq(out + 140, "...");
    /* the byte cap holds too */
    memset(body, 'z', 999);
    body[999] = 0;
    ck_assert(outbox_fit(widths, body, 10, out, 100));
    ck_assert_uint_eq(strlen(out), 99);
}
END_TEST

/* ---------- store: inbound, opt-outs, reports ---------- */

/* The test's database; again opens the one opened before. */
static struct store *open_store_again(bool again)
{
    static char path[400];
    char file[400], err[512] = "";
    snprintf(file, sizeof file, "%s/lipa.db", tmpdir);
    if (!again)
        ck_assert(testdb_target(file, path, sizeof path));
    struct store *st = store_open(path, "db", err, sizeof err);
    ck_assert_msg(st != NULL, "%s", err);
    return st;
}

static struct store *open_store(void)
{
    return open_store_again(false);
}

START_TEST(store_inbound_once_per_id)
{
    struct store *st = open_store();
    struct sms_inbound m = {0}, again = {0}, due[4];
    str_copy(m.at_id, sizeof m.at_id, "at-1");
    str_copy(m.phone, sizeof m.phone, "+254714000001");
    str_copy(m.text, sizeof m.text, "'); DROP TABLE sms_inbound; --");
    ck_assert_int_eq(store_sms_inbound_add(st, &m), ST_OK);
    again = m;
    str_copy(again.text, sizeof again.text, "other");
    ck_assert_int_eq(store_sms_inbound_add(st, &again), ST_CONFLICT);
    ck_assert_int_eq(store_sms_inbound_due(st, now_ms() + 1, due, 4), 1);
    ck_assert_str_eq(due[0].text, "'); DROP TABLE sms_inbound; --");
    ck_assert_int_eq(store_sms_inbound_later(st, m.id, 1, now_ms() + 60000, "busy"), ST_OK);
    ck_assert_int_eq(store_sms_inbound_due(st, now_ms(), due, 4), 0);
    ck_assert_int_eq(store_sms_inbound_finish(st, m.id, "done", "balance", ""), ST_OK);
    ck_assert_int_eq(store_sms_inbound_due(st, now_ms() + 120000, due, 4), 0);
    struct sms_inbound got;
    ck_assert_int_eq(store_sms_inbound_get(st, "at-1", &got), ST_OK);
    ck_assert_str_eq(got.status, "done");
    ck_assert_str_eq(got.outcome, "balance");
    /* after a restart the id is still known */
    store_close(st);
    st = open_store_again(true);
    ck_assert_int_eq(store_sms_inbound_add(st, &again), ST_CONFLICT);
    store_close(st);
}
END_TEST

START_TEST(store_opt_out)
{
    struct store *st = open_store();
    ck_assert(!store_sms_opted_out(st, "+254714000002"));
    ck_assert_int_eq(store_sms_set_opt_out(st, "+254714000002", true), ST_OK);
    ck_assert(store_sms_opted_out(st, "+254714000002"));
    ck_assert(!store_sms_opted_out(st, "+254714000003"));
    ck_assert_int_eq(store_sms_set_opt_out(st, "+254714000002", false), ST_OK);
    ck_assert(!store_sms_opted_out(st, "+254714000002"));
    store_close(st);
}
END_TEST

static int64_t sent_message(struct app *a, const char *phone, const char *body, const char *mid)
{
    int64_t id = 0;
    ck_assert_int_eq(outbox_queue_id(a, phone, body, "answer", 0, &id), ST_OK);
    struct sms_message x;
    ck_assert_int_eq(store_sms_message_get(a->store, id, &x), ST_OK);
    str_copy(x.m.status, sizeof x.m.status, "sent");
    str_copy(x.m.provider_id, sizeof x.m.provider_id, mid);
    x.m.attempts = 1;
    ck_assert_int_eq(store_outbox_save(a->store, &x.m), ST_OK);
    return id;
}

static void status_is(struct app *a, int64_t id, const char *status, const char *report, const char *error)
{
    struct sms_message x;
    ck_assert_int_eq(store_sms_message_get(a->store, id, &x), ST_OK);
    ck_assert_str_eq(x.m.status, status);
    ck_assert_str_eq(x.report_status, report);
    if (error)
        ck_assert_msg(strstr(x.m.last_error, error) != NULL, "error '%s'", x.m.last_error);
}

static struct sms_report report(const char *mid, const char *status, const char *reason)
{
    struct sms_report r;
    memset(&r, 0, sizeof r);
    str_copy(r.message_id, sizeof r.message_id, mid);
    str_copy(r.status, sizeof r.status, status);
    str_copy(r.failure_reason, sizeof r.failure_reason, reason ? reason : "");
    return r;
}

START_TEST(reports_move_a_message_once)
{
    struct app a;
    memset(&a, 0, sizeof a);
    a.cfg.sms_max_parts = 3;
    a.store = open_store();
    int64_t ok = sent_message(&a, "+254714000004", "one", "ATXid_ok");
    int64_t bad = sent_message(&a, "+254714000004", "two", "ATXid_bad");

    struct sms_report r = report("ATXid_ok", "Buffered", NULL);
    ck_assert_int_eq(outbox_report(&a, &r), ST_OK);
    status_is(&a, ok, "sent", "Buffered", NULL);
    r = report("ATXid_ok", "Success", NULL);
    ck_assert_int_eq(outbox_report(&a, &r), ST_OK);
    status_is(&a, ok, "delivered", "Success", NULL);
    ck_assert_int_eq(outbox_report(&a, &r), ST_CONFLICT); /* AT repeating itself */
    r = report("ATXid_ok", "Failed", "DeliveryFailure");
    ck_assert_int_eq(outbox_report(&a, &r), ST_OK);       /* recorded, changes nothing */
    status_is(&a, ok, "delivered", "Success", NULL);

    r = report("ATXid_bad", "Failed", "UserInBlackList");
    ck_assert_int_eq(outbox_report(&a, &r), ST_OK);
    status_is(&a, bad, "failed", "Failed", "UserInBlackList");
    r = report("ATXid_bad", "Success", NULL);
    ck_assert_int_eq(outbox_report(&a, &r), ST_OK);
    status_is(&a, bad, "failed", "Failed", "UserInBlackList");

    /* a report before its message's id is known waits for it */
    r = report("ATXid_early", "Success", NULL);
    ck_assert_int_eq(outbox_report(&a, &r), ST_NOT_FOUND);
    struct sms_report pending;
    ck_assert_int_eq(store_sms_report_pending(a.store, "ATXid_early", &pending), ST_OK);
    ck_assert_str_eq(pending.status, "Success");
    store_close(a.store);
}
END_TEST

START_TEST(queue_records_encoding_parts_and_cut)
{
    struct app a;
    memset(&a, 0, sizeof a);
    a.cfg.sms_max_parts = 1;
    a.store = open_store();
    char body[600];
    memset(body, 'a', 500);
    body[500] = 0;
    int64_t id = 0;
    ck_assert_int_eq(outbox_queue_id(&a, "+254714000005", body, "notice", 0, &id), ST_OK);
    struct sms_message x;
    ck_assert_int_eq(store_sms_message_get(a.store, id, &x), ST_OK);
    ck_assert_int_eq(x.m.parts, 1);
    ck_assert_str_eq(x.m.encoding, "GSM-7");
    ck_assert_uint_eq(strlen(x.m.body), 160);
    ck_assert_str_eq(x.m.status, "queued");
    ck_assert_int_eq(outbox_queue_id(&a, "+254714000005", "Habari \xf0\x9f\x98\x80", "notice", 0, &id), ST_OK);
    ck_assert_int_eq(store_sms_message_get(a.store, id, &x), ST_OK);
    ck_assert_str_eq(x.m.encoding, "UCS-2");
    ck_assert_int_eq(x.m.parts, 1);
    ck_assert_int_eq(store_sms_messages_count(a.store, "+254714000005", ""), 2);
    ck_assert_int_eq(store_sms_messages_count(a.store, "+254714000005", "sent"), 0);
    ck_assert_int_eq(store_sms_messages_count(a.store, "+254714000006", ""), 0);
    store_close(a.store);
}
END_TEST

Suite *test_suite(void)
{
    Suite *s = suite_create("sms");
    TCase *tc = tcase_create("outbox");
    tcase_add_checked_fixture(tc, tmp_setup, tmp_teardown);
    tcase_add_test(tc, fit_cuts_to_parts);
    tcase_add_test(tc, store_inbound_once_per_id);
    tcase_add_test(tc, store_opt_out);
    tcase_add_test(tc, reports_move_a_message_once);
    tcase_add_test(tc, queue_records_encoding_parts_and_cut);
    suite_add_tcase(s, tc);
    return s;
}
