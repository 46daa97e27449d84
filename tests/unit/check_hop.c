/* check_hop: the store's memory tables (store/hop.h) on their own, without
 * a database. What an operator would notice: a table never holds more than
 * its cap, a full one gives up the entry least recently used (sessions: the
 * one written longest ago; callers: the one read or written longest ago),
 * a caller nobody registered costs a few dozen bytes and a registered one
 * what it holds, idle entries leave oldest first, and memory goes back to
 * the system after a burst, not on every upkeep pass; a session dropped
 * idle while it waits on a screen shows in the funnel as timed out there,
 * once. */
#include "runner.h"
#include "store/hop.h"

#include "store/meters.h"
#include "store/users.h"
#include "store/ussd.h"
#include "util/buf.h"
#include "util/metrics.h"
#include "util/str.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* n keys in stripe 0 from the pattern (one %d), into keys[i][32]. */
static void keys_in_stripe0(const char *pattern, char keys[][32], int n)
{
    for (int i = 0, k = 0; k < n; i++) {
        snprintf(keys[k], sizeof keys[k], pattern, i);
        if (hop_stripe(keys[k]) == 0)
            k++;
    }
}

static struct ussd_row row_of(const char *text)
{
    struct ussd_row r;
    memset(&r, 0, sizeof r);
    snprintf(r.state, sizeof r.state, "{\"screen\":\"%s\"}", text);
    str_copy(r.last_text, sizeof r.last_text, text);
    str_copy(r.last_reply, sizeof r.last_reply, "CON Hi");
    return r;
}

static bool has_session(struct hop *h, const char *id)
{
    struct ussd_row r;
    return hop_session_get(h, id, &r);
}

START_TEST(sessions_capped_oldest_written_leaves)
{
    struct hop *h = hop_new(3 * HOP_STRIPES, HOP_STRIPES); /* three sessions a stripe */
    ck_assert_ptr_nonnull(h);
    char k[5][32];
    keys_in_stripe0("ATUid_cap_%d", k, 5);
    for (int i = 0; i < 3; i++) {
        struct ussd_row r = row_of(k[i]);
        ck_assert(hop_session_put(h, k[i], "+254700000001", &r));
    }
    struct ussd_row r = row_of("1*1");
    ck_assert(hop_session_put(h, k[0], "+254700000001", &r)); /* a hop: k[0] is now the newest */
    ck_assert(has_session(h, k[1]));                      /* a read is no write: k[1] stays oldest */
    r = row_of(k[3]);
    ck_assert(hop_session_put(h, k[3], "+254700000001", &r));
    ck_assert(!has_session(h, k[1]));
    ck_assert(has_session(h, k[0]) && has_session(h, k[2]) && has_session(h, k[3]));
    r = row_of(k[4]);
    ck_assert(hop_session_put(h, k[4], "+254700000001", &r));
    ck_assert(!has_session(h, k[2]));
    struct ussd_row g;
    ck_assert(hop_session_get(h, k[0], &g));
    ck_assert_str_eq(g.last_text, "1*1"); /* what was written last */
    ck_assert_str_eq(g.state, "{\"screen\":\"1*1\"}");
    ck_assert_str_eq(g.last_reply, "CON Hi");
    ck_assert(hop_session_get(h, k[4], &g));
    ck_assert_str_eq(g.last_text, k[4]);

    struct hop_stats s;
    hop_stats(h, &s);
    ck_assert_int_eq(s.sessions, 3);
    ck_assert_int_eq(s.sessions_dropped, 2);
    /* a flood over every stripe: never more than the cap */
    char id[48];
    for (int i = 0; i < 20000; i++) {
        snprintf(id, sizeof id, "ATUid_flood_%d", i);
        r = row_of("");
        ck_assert(hop_session_put(h, id, "+254700000002", &r));
    }
    hop_stats(h, &s);
    ck_assert_int_eq(s.sessions, 3 * HOP_STRIPES); /* 20 000 over 64 stripes fill each */
    ck_assert_int_eq(s.sessions_dropped, 2 + 20000 + 3 - 3 * HOP_STRIPES);
    hop_free(h);
}
END_TEST

static struct store_caller *registered(int64_t id, int nmeters)
{
    static struct store_caller c;
    memset(&c, 0, sizeof c);
    c.registered = true;
    c.user.id = id;
    c.user.created_at = 1700000000000 + id;
    c.user.updated_at = 1700000000999 + id;
    snprintf(c.user.phone, sizeof c.user.phone, "+2547%08lld", (long long)id);
    str_copy(c.user.first_name, sizeof c.user.first_name, "Wanjiru");
    str_copy(c.user.last_name, sizeof c.user.last_name, "Kamau");
    str_copy(c.user.email, sizeof c.user.email, "wanjiru@example.com");
    str_copy(c.user.role, sizeof c.user.role, "USER");
    str_copy(c.user.language, sizeof c.user.language, "sw");
    c.nmeters = nmeters;
    for (int i = 0; i < nmeters; i++) {
        snprintf(c.meters[i].id, sizeof c.meters[i].id, "MTR%lld-%d", (long long)id, i);
        snprintf(c.meters[i].name, sizeof c.meters[i].name, "Meter %d", i);
        c.meters[i].price_per_kwh = 2500 + i;
        c.meters[i].active = i % 2 == 0;
    }
    return &c;
}

START_TEST(callers_capped_least_recently_used_leaves)
{
    struct hop *h = hop_new(HOP_STRIPES, 3 * HOP_STRIPES);
    ck_assert_ptr_nonnull(h);
    char k[5][32];
    keys_in_stripe0("+2547%08d", k, 5);
    struct store_caller c, unknown = {0};
    for (int i = 0; i < 3; i++)
        hop_caller_put(h, k[i], 1, &unknown);
    ck_assert(hop_caller_get(h, k[0], 1, &c)); /* a hop reads k[0]: now k[1] is the oldest */
    ck_assert(!hop_caller_get(h, k[1], 2, &c)); /* a stale read is no use */
    hop_caller_put(h, k[3], 1, &unknown);
    ck_assert(!hop_caller_get(h, k[1], 1, &c));
    ck_assert(hop_caller_get(h, k[2], 1, &c)); /* k[0] is the oldest now */
    ck_assert(hop_caller_get(h, k[3], 1, &c));
    hop_caller_put(h, k[4], 1, &unknown);
    ck_assert(!hop_caller_get(h, k[0], 1, &c));
    ck_assert(hop_caller_get(h, k[2], 1, &c) && hop_caller_get(h, k[3], 1, &c) && hop_caller_get(h, k[4], 1, &c));
    /* replacing an entry (the store changed: a newer generation) keeps the count */
    hop_caller_put(h, k[2], 5, registered(2, 1));
    ck_assert(hop_caller_get(h, k[2], 5, &c) && c.registered);
    hop_caller_put(h, k[2], 4, &unknown); /* an older read never wins */
    ck_assert(hop_caller_get(h, k[2], 5, &c) && c.registered);
    struct hop_stats s;
    hop_stats(h, &s);
    ck_assert_int_eq(s.callers, 3);
    ck_assert_int_eq(s.callers_dropped, 2);
    char phone[24];
    for (int i = 0; i < 20000; i++) {
        snprintf(phone, sizeof phone, "+2547%08d", 10000000 + i);
        hop_caller_put(h, phone, 1, &unknown);
    }
    hop_stats(h, &s);
    ck_assert_int_eq(s.callers, 3 * HOP_STRIPES);
    hop_free(h);
}
END_TEST

START_TEST(callers_sized_to_what_they_hold)
{
    enum { N = 1000 };
    struct hop *h = hop_new(HOP_STRIPES, 4 * N);
    ck_assert_ptr_nonnull(h);
    struct store_caller unknown = {0}, c;
    char phone[24];
    for (int i = 0; i < N; i++) {
        snprintf(phone, sizeof phone, "+2547%08d", i);
        hop_caller_put(h, phone, 1, &unknown);
    }
    struct hop_stats s;
    hop_stats(h, &s);
    ck_assert_int_eq(s.callers, N);
    size_t unknown_size = s.bytes / N; /* all the same: their numbers are as long */
    ck_assert_msg(unknown_size <= 112, "an unknown caller takes %zu bytes", unknown_size);
    ck_assert(hop_caller_get(h, "+254700000007", 1, &c));
    ck_assert(!c.registered);
    ck_assert_int_eq(c.nmeters, 0);

    /* registered: its user and exactly its meters, every field back as put */
    size_t before = s.bytes;
    hop_caller_put(h, "+254711000001", 1, registered(1, 1));
    hop_stats(h, &s);
    size_t one = s.bytes - before;
    ck_assert_msg(one <= 256, "a caller with one meter takes %zu bytes", one);
    before = s.bytes;
    hop_caller_put(h, "+254711000032", 1, registered(32, 32));
    hop_stats(h, &s);
    size_t many = s.bytes - before;
    ck_assert_msg(many > one + 31 * 16 && many <= one + 31 * 48, "32 meters take %zu bytes, one %zu", many, one);

    struct store_caller *want = registered(32, 32);
    memset(&c, 0xab, sizeof c);
    ck_assert(hop_caller_get(h, "+254711000032", 1, &c));
    ck_assert(c.registered);
    ck_assert_int_eq(c.user.id, 32);
    ck_assert_int_eq(c.user.created_at, want->user.created_at);
    ck_assert_int_eq(c.user.updated_at, want->user.updated_at);
    ck_assert_str_eq(c.user.phone, want->user.phone);
    ck_assert_str_eq(c.user.first_name, "Wanjiru");
    ck_assert_str_eq(c.user.last_name, "Kamau");
    ck_assert_str_eq(c.user.email, "wanjiru@example.com");
    ck_assert_str_eq(c.user.role, "USER");
    ck_assert_str_eq(c.user.language, "sw");
    ck_assert_int_eq(c.nmeters, 32);
    for (int i = 0; i < 32; i++) {
        ck_assert_str_eq(c.meters[i].id, want->meters[i].id);
        ck_assert_str_eq(c.meters[i].name, want->meters[i].name);
        ck_assert_int_eq(c.meters[i].price_per_kwh, 2500 + i);
        ck_assert_int_eq(c.meters[i].active, i % 2 == 0);
    }
    /* a caller who lost their registration shrinks back */
    hop_caller_put(h, "+254711000032", 2, &unknown);
    hop_stats(h, &s);
    ck_assert_int_eq(s.bytes, before + unknown_size);
    hop_free(h);
}
END_TEST

/* Idle entries leave oldest first; a caller read since stays. */
START_TEST(idle_entries_leave_and_used_ones_stay)
{
    struct hop *h = hop_new(1000, 1000);
    ck_assert_ptr_nonnull(h);
    struct store_caller unknown = {0}, c;
    struct ussd_row r = row_of("");
    char id[32];
    for (int i = 0; i < 200; i++) {
        snprintf(id, sizeof id, "ATUid_idle_%d", i);
        ck_assert(hop_session_put(h, id, "+254700000001", &r));
        snprintf(id, sizeof id, "+2547%08d", i);
        hop_caller_put(h, id, 1, &unknown);
    }
    int64_t last = now_ms();
    while (now_ms() <= last)
        ;
    int64_t cut = now_ms();
    while (now_ms() <= cut)
        ;
    ck_assert(hop_caller_get(h, "+254700000005", 1, &c)); /* used after the cut */
    ck_assert(hop_session_put(h, "ATUid_idle_7", "+254700000001", &r)); /* written after it */
    hop_evict(h, cut);
    struct hop_stats s;
    hop_stats(h, &s);
    ck_assert_int_eq(s.sessions, 1);
    ck_assert_int_eq(s.callers, 1);
    ck_assert(has_session(h, "ATUid_idle_7"));
    ck_assert(hop_caller_get(h, "+254700000005", 1, &c));
    ck_assert_int_eq(s.sessions_dropped + s.callers_dropped, 0); /* idle, not crowded out */
    hop_free(h);
}
END_TEST

/* Puts n sessions of some 700 bytes (n = 30 000: 20 MB). */
static void burst(struct hop *h, int round, int n)
{
    static struct ussd_row r;
    memset(r.state, 'x', 600);
    char id[32];
    for (int i = 0; i < n; i++) {
        snprintf(id, sizeof id, "ATUid_burst_%d_%d", round, i);
        ck_assert(hop_session_put(h, id, "+254700000001", &r));
    }
}

static struct ussd_point point_of(const char *sid, int64_t at)
{
    struct ussd_point p;
    memset(&p, 0, sizeof p);
    str_copy(p.session_id, sizeof p.session_id, sid);
    snprintf(p.idem_key, sizeof p.idem_key, "ussd:%s", sid);
    snprintf(p.state, sizeof p.state, "{\"s\":\"elec_confirm\",\"at\":%lld}", (long long)at);
    p.at = at;
    return p;
}

/* Resume points, one per phone: the newest put wins; the hop that leaves a
 * resumable screen drops only its own session's live point; a saved point
 * is no longer due for saving; points idle past their time are due, then
 * forgotten. */
START_TEST(resume_points_one_per_phone)
{
    struct hop *h = hop_new(HOP_STRIPES, HOP_STRIPES);
    ck_assert_ptr_nonnull(h);
    const char *a = "+254700000101", *b = "+254700000102";
    struct ussd_point p = point_of("ATUid_r1", 1000), got;
    bool live = false;
    ck_assert(!hop_point_get(h, a, &got, &live));
    ck_assert(!hop_points_any(h));
    ck_assert(hop_point_put(h, a, &p, true));
    ck_assert(hop_points_any(h));
    p = point_of("ATUid_r2", 2000);
    ck_assert(hop_point_put(h, a, &p, true));
    ck_assert(hop_point_get(h, a, &got, &live) && live);
    ck_assert_str_eq(got.session_id, "ATUid_r2");
    ck_assert_str_eq(got.idem_key, "ussd:ATUid_r2");
    ck_assert_str_eq(got.state, p.state);
    ck_assert_str_eq(got.taken_by, "");
    ck_assert_int_eq(got.at, 2000);
    ck_assert(!hop_point_drop(h, a, "ATUid_r1", true)); /* not its session's any more */
    ck_assert(hop_point_get(h, a, &got, NULL));
    p = point_of("ATUid_r3", 3000);
    str_copy(p.taken_by, sizeof p.taken_by, "ATUid_r4");
    ck_assert(hop_point_put(h, b, &p, false));
    ck_assert(!hop_point_drop(h, b, "ATUid_r3", true)); /* saved: a hop leaving it does not drop it */
    ck_assert(hop_point_get(h, b, &got, &live) && !live && !strcmp(got.taken_by, "ATUid_r4"));
    struct hop_stats st;
    hop_stats(h, &st);
    ck_assert_uint_eq(st.points, 2);

    /* due: the live ones put before the time given */
    char phones[4][HOP_PHONE_MAX];
    ck_assert_int_eq(hop_points_due(h, now_ms() - 60000, phones, 4), 0);
    ck_assert_int_eq(hop_points_due(h, now_ms() + 1, phones, 4), 1);
    ck_assert_str_eq(phones[0], a);
    hop_point_saved(h, a, "ATUid_r1", 2000); /* another session's: stays live */
    ck_assert_int_eq(hop_points_due(h, now_ms() + 1, phones, 4), 1);
    hop_point_saved(h, a, "ATUid_r2", 2000);
    ck_assert_int_eq(hop_points_due(h, now_ms() + 1, phones, 4), 0);
    ck_assert(hop_point_get(h, a, &got, &live) && !live);
    ck_assert(hop_point_drop(h, a, "ATUid_r2", false));
    ck_assert(!hop_point_get(h, a, &got, NULL));
    hop_points_forget(h, now_ms() - 60000);
    ck_assert(hop_point_get(h, b, &got, NULL));
    hop_points_forget(h, now_ms() + 1);
    ck_assert(!hop_point_get(h, b, &got, NULL));
    hop_stats(h, &st);
    ck_assert_uint_eq(st.points, 0);
    ck_assert(!hop_points_any(h));
    ck_assert_uint_eq(st.bytes, 0);
    hop_free(h);
}
END_TEST

/* The sample of the funnel counter (menu "t", screen, event) in /metrics. */
static long long funnel(const char *screen, const char *event)
{
    struct buf b;
    buf_init(&b, 0);
    metrics_render(&b);
    char key[160];
    snprintf(key, sizeof key, "lipa_ussd_screen_total{menu=\"t\",screen=\"%s\",event=\"%s\"} ", screen, event);
    const char *at = b.data ? strstr(b.data, key) : NULL;
    long long v = at ? strtoll(at + strlen(key), NULL, 10) : -1;
    buf_free(&b);
    return v;
}

START_TEST(idle_waiting_sessions_time_out_once)
{
    struct hop *h = hop_new(1000, 100);
    ck_assert_ptr_nonnull(h);
    int confirm = metrics_screen_slot("t", "confirm"), amount = metrics_screen_slot("t", "amount");
    struct ussd_row waits = row_of("1*1*100"), ended = row_of("1*1*100*1"), left = row_of("1*1");
    waits.waiting = confirm + 1;
    ended.waiting = 0;
    left.waiting = amount + 1;
    ck_assert(hop_session_put(h, "ATUid_waits", "+254700000001", &waits));
    ck_assert(hop_session_put(h, "ATUid_ended", "+254700000002", &ended));
    ck_assert(hop_session_put(h, "ATUid_left", "+254700000003", &left));
    struct ussd_row got;
    ck_assert(hop_session_get(h, "ATUid_waits", &got));
    ck_assert_int_eq(got.waiting, confirm + 1);
    /* AT said the session ended: taken once, then it waits on nothing */
    ck_assert_int_eq(hop_session_end(h, "ATUid_left"), amount + 1);
    ck_assert_int_eq(hop_session_end(h, "ATUid_left"), 0);
    ck_assert_int_eq(hop_session_end(h, "ATUid_nobody"), 0);
    hop_evict(h, now_ms() - 60000); /* nobody idle that long */
    ck_assert_int_eq(funnel("confirm", "timed_out"), 0);
    hop_evict(h, now_ms() + 1);
    ck_assert(!has_session(h, "ATUid_waits"));
    ck_assert_int_eq(funnel("confirm", "timed_out"), 1);
    ck_assert_int_eq(funnel("amount", "timed_out"), 0);
    hop_evict(h, now_ms() + 1);
    ck_assert_int_eq(funnel("confirm", "timed_out"), 1);
    hop_free(h);
}
END_TEST

/* After a burst has expired, memory goes back; not again while nothing
 * more fell, not while the tables only churn at their cap, and at most
 * once in 10 s. */
START_TEST(memory_returned_after_a_burst_only)
{
    enum { N = 30000 };
    struct hop *h = hop_new(N, HOP_STRIPES);
    ck_assert_ptr_nonnull(h);
    int64_t t0 = 1000000;
    burst(h, 0, N);
    ck_assert(!hop_trim(h, t0));
    burst(h, 1, N);
    ck_assert(!hop_trim(h, t0 + 1)); /* full, and churning at the cap, is not a burst gone */
    struct hop_stats s;
    hop_stats(h, &s);
    ck_assert_uint_gt(s.bytes, 16 << 20);
    hop_evict(h, now_ms() + 1);
    ck_assert(hop_trim(h, t0 + 2));
    ck_assert(!hop_trim(h, t0 + 20000)); /* nothing fell since */
    burst(h, 2, N);
    ck_assert(!hop_trim(h, t0 + 20001)); /* upkeep sees the tables grow */
    hop_evict(h, now_ms() + 1);
    ck_assert(hop_trim(h, t0 + 25000));
    burst(h, 3, N);
    ck_assert(!hop_trim(h, t0 + 25001));
    hop_evict(h, now_ms() + 1);
    ck_assert(!hop_trim(h, t0 + 26000)); /* 10 s between trims */
    ck_assert(hop_trim(h, t0 + 35000));
    hop_free(h);
}
END_TEST

Suite *test_suite(void)
{
    Suite *s = suite_create("hot");
    TCase *tc = tcase_create("caps");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, sessions_capped_oldest_written_leaves);
    tcase_add_test(tc, callers_capped_least_recently_used_leaves);
    tcase_add_test(tc, callers_sized_to_what_they_hold);
    tcase_add_test(tc, idle_entries_leave_and_used_ones_stay);
    tcase_add_test(tc, memory_returned_after_a_burst_only);
    tcase_add_test(tc, resume_points_one_per_phone);
    tcase_add_test(tc, idle_waiting_sessions_time_out_once);
    suite_add_tcase(s, tc);
    return s;
}
