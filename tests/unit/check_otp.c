/* check_otp: one-time water codes. Pure parts against fixed vectors (the
 * HMACs were computed with `openssl dgst -sha256 -hmac`), the state table a
 * station meets, and then the life of a code against a fresh database with
 * the real migrations: a paid order queues "{code}" and no digits rest
 * anywhere, the third wrong code blocks, a code expires, exactly one of
 * many concurrent verifies wins, a lock that lapses counts as dispensed,
 * and a station's report is recorded once. */
#include "runner.h"
#include "otp/otp.h"

#include "pay/purchase.h"
#include "store/payments.h"
#include "store/sms.h"
#include "ussd/ussd.h"
#include "util/log.h"
#include "util/str.h"

#include <check.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define PEPPER "unit-pepper-0123456789"
#define REF "WS-1707123456789-ABCD1234"
#define PHONE "+254713000001"

/* ---- pure parts ---- */

START_TEST(code_hmac_vector)
{
    char hex[65], other[65];
    otp_code_hmac(PEPPER, REF, "123456", hex);
    ck_assert_str_eq(hex, "4f3c7c2c580cef7e32ea91b221416e2c4b06cf6d27910f7d70faaab802aa0fd1");
    otp_code_hmac(PEPPER, REF, "123457", other);
    ck_assert_str_ne(hex, other);
    otp_code_hmac(PEPPER, "WS-1707123456789-ABCD1235", "123456", other);
    ck_assert_str_ne(hex, other); /* bound to the reference */
    otp_code_hmac("another-pepper-0123456789", REF, "123456", other);
    ck_assert_str_ne(hex, other); /* and to the pepper */
}
END_TEST

START_TEST(station_key_hmac_vector)
{
    char hex[65];
    otp_station_key_hmac(PEPPER, "station-key-abc", hex);
    ck_assert_str_eq(hex, "615c3b82ac2160853878864cf7c4792df72a1a9043c09059dd96784f1ac360c4");
}
END_TEST

static struct otp_code code_in(const char *status, const char *station)
{
    struct otp_code c;
    memset(&c, 0, sizeof c);
    str_copy(c.reference, sizeof c.reference, REF);
    str_copy(c.status, sizeof c.status, status);
    str_copy(c.station_id, sizeof c.station_id, station);
    c.liters = 20;
    c.max_attempts = 3;
    c.expires_at = 10000;
    c.lock_until = 20000;
    c.dispensed_ml = -1;
    return c;
}

START_TEST(time_moves_codes)
{
    struct otp_code c = code_in("active", "");
    ck_assert_str_eq(otp_status_at(&c, 9999), "active");
    ck_assert_str_eq(otp_status_at(&c, 10000), "expired");
    ck_assert_int_eq(otp_remaining(&c, 9999), 3);
    ck_assert_int_eq(otp_remaining(&c, 10000), 0);
    c = code_in("in_progress", "S1");
    ck_assert_str_eq(otp_status_at(&c, 19999), "in_progress");
    ck_assert_str_eq(otp_status_at(&c, 20000), "used"); /* the lock lapsed: counted as dispensed */
    c = code_in("blocked", "");
    ck_assert_str_eq(otp_status_at(&c, 99999999), "blocked");
}
END_TEST

START_TEST(what_a_station_meets)
{
    static const struct {
        const char *status, *bound, *asking;
        bool code_ok;
        int64_t now;
        enum otp_verdict want;
    } cases[] = {
        {"active", "", "S1", true, 5000, OTP_OK},
        {"active", "", "S1", false, 5000, OTP_INVALID},
        {"active", "", "S1", true, 10000, OTP_EXPIRED},   /* right code, too late */
        {"pending", "", "S1", true, 5000, OTP_PENDING},
        {"blocked", "", "S1", true, 5000, OTP_BLOCKED},   /* even the right code */
        {"expired", "", "S1", true, 5000, OTP_EXPIRED},
        {"in_progress", "S1", "S2", true, 5000, OTP_IN_USE},
        {"in_progress", "S1", "S1", true, 5000, OTP_IN_USE}, /* once per code */
        {"in_progress", "S1", "S2", true, 20000, OTP_LOCKED}, /* lapsed: used at S1 */
        {"used", "S1", "S2", true, 5000, OTP_LOCKED},
        {"used", "S1", "S1", true, 5000, OTP_USED},
        {"void", "", "S1", true, 5000, OTP_NOT_FOUND},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct otp_code c = code_in(cases[i].status, cases[i].bound);
        enum otp_verdict v = otp_judge(&c, cases[i].asking, cases[i].code_ok, cases[i].now);
        ck_assert_msg(v == cases[i].want, "case %zu (%s): got %s, want %s", i, cases[i].status,
                      otp_verdict_name(v), otp_verdict_name(cases[i].want));
    }
}
END_TEST

START_TEST(labels_never_show_digits)
{
    char label[64];
    struct otp_code c = code_in("active", "");
    c.expires_at = INT64_C(1700000000000); /* 22:13:20 UTC = 01:13 EAT */
    otp_code_label(&c, "en", INT64_C(1699999999000), label, sizeof label);
    ck_assert_str_eq(label, "20L 1234 01:13");
    ck_assert_int_le(strlen(label), USSD_ITEM_WIDTH);
    otp_code_label(&c, "sw", INT64_C(1700000000000), label, sizeof label);
    ck_assert_str_eq(label, "20L 1234 imeisha");
    c = code_in("blocked", "");
    otp_code_label(&c, "en", 0, label, sizeof label);
    ck_assert_str_eq(label, "20L 1234 blocked");
    c = code_in("pending", "");
    otp_code_label(&c, "sw", 0, label, sizeof label);
    ck_assert_str_eq(label, "20L 1234 inatumwa");
}
END_TEST

/* ---- against a database ---- */

static char tmpdir[256], dbpath[320];
static struct app A;

static void db_setup(void)
{
    const char *base = getenv("TMPDIR");
    snprintf(tmpdir, sizeof tmpdir, "%s/lipa-otp-XXXXXX", base && *base ? base : "/tmp");
    ck_assert_ptr_nonnull(mkdtemp(tmpdir));
    snprintf(dbpath, sizeof dbpath, "%s/otp.db", tmpdir);
    memset(&A, 0, sizeof A);
    static char pepper[] = PEPPER;
    A.cfg.pepper = pepper;
    A.cfg.otp_ttl = 600;
    A.cfg.otp_attempts = 3;
    A.cfg.station_lock = 1800;
    A.cfg.pulses_per_liter = 1000;
    A.cfg.rate_window = 900;
    A.cfg.sms_max_parts = 3;
    pthread_mutex_init(&A.wake_lock, NULL);
    char err[256] = "";
    A.store = store_open(dbpath, "db", err, sizeof err);
    ck_assert_msg(A.store != NULL, "store_open: %s", err);
}

static void db_teardown(void)
{
    store_close(A.store);
    pthread_mutex_destroy(&A.wake_lock);
    test_tmp_remove(tmpdir);
}

/* A water order of liters for PHONE, paid: finished through the kind table
 * like the payment worker does. Returns the payment. */
static struct payment paid_order(const char *ref, int64_t liters)
{
    struct payment p;
    memset(&p, 0, sizeof p);
    str_copy(p.kind, sizeof p.kind, "water");
    str_copy(p.origin, sizeof p.origin, "ussd");
    str_copy(p.phone, sizeof p.phone, PHONE);
    str_copy(p.reference, sizeof p.reference, ref);
    p.amount = liters * 5;
    p.liters = liters;
    ck_assert_int_eq(store_payment_create(A.store, &p), ST_OK);
    str_copy(p.status, sizeof p.status, "completed");
    p.result_code = 0;
    p.paid_amount = p.amount;
    ck_assert(purchase_finish(&A, &p));
    return p;
}

struct outbox_seen {
    int n;
    struct outbox_msg last;
};

static void seen_one(void *ctx, const struct outbox_msg *m)
{
    struct outbox_seen *s = ctx;
    if (!s->n++)
        s->last = *m; /* newest first */
}

/* The digits the outbox would send now for p. */
static void send_code(const struct payment *p, char code[OTP_DIGITS + 1])
{
    struct outbox_msg m;
    memset(&m, 0, sizeof m);
    m.payment_id = p->id;
    char out[16];
    ck_assert(otp_render_code(&A, &m, out, sizeof out));
    ck_assert_uint_eq(strlen(out), OTP_DIGITS);
    ck_assert(str_is_digits(out));
    str_copy(code, OTP_DIGITS + 1, out);
}

static struct otp_station station(const char *id)
{
    struct otp_station s;
    char key[OTP_STATION_KEY_LEN + 1];
    memset(&s, 0, sizeof s);
    str_copy(s.id, sizeof s.id, id);
    str_copy(s.name, sizeof s.name, id);
    ck_assert_int_eq(otp_station_register(&A, &s, key), ST_OK);
    ck_assert_uint_eq(strlen(key), OTP_STATION_KEY_LEN);
    struct otp_station back;
    ck_assert(otp_station_auth(&A, id, key, &back));
    ck_assert_int_eq(back.pulses_per_liter, 1000);
    return back;
}

START_TEST(paid_order_queues_code_without_digits)
{
    struct payment p = paid_order(REF, 20);
    struct outbox_seen seen = {0};
    ck_assert_int_eq(store_outbox_list(A.store, PHONE, "", 10, 0, seen_one, &seen), ST_OK);
    ck_assert_int_eq(seen.n, 1);
    ck_assert_msg(strstr(seen.last.body, "{code}") && strstr(seen.last.body, "20 L") && strstr(seen.last.body, REF),
                  "%s", seen.last.body);
    ck_assert_str_eq(seen.last.kind, "code");
    struct otp_code c;
    ck_assert_int_eq(store_otp_current(A.store, REF, &c), ST_OK);
    ck_assert_str_eq(c.status, "pending");
    ck_assert_str_eq(c.code_hmac, "");

    char code[OTP_DIGITS + 1], hex[65];
    send_code(&p, code);
    ck_assert_int_eq(store_otp_current(A.store, REF, &c), ST_OK);
    ck_assert_str_eq(c.status, "active");
    otp_code_hmac(PEPPER, REF, code, hex);
    ck_assert_str_eq(c.code_hmac, hex); /* only the HMAC is kept */
    ck_assert_int_gt(c.expires_at, now_ms() + 590 * 1000);
    ck_assert_int_le(c.expires_at, now_ms() + 600 * 1000);
}
END_TEST

START_TEST(fourth_attempt_is_blocked)
{
    struct payment p = paid_order(REF, 20);
    struct otp_station s1 = station("S1");
    char code[OTP_DIGITS + 1], wrong[OTP_DIGITS + 1];
    send_code(&p, code);
    str_copy(wrong, sizeof wrong, code);
    wrong[0] = wrong[0] == '9' ? '0' : (char)(wrong[0] + 1);
    struct otp_code c;
    for (int i = 1; i <= 3; i++) {
        ck_assert_int_eq(otp_verify(&A, REF, wrong, &s1, &c), OTP_INVALID);
        ck_assert_int_eq(c.attempts, i);
    }
    ck_assert_str_eq(c.status, "blocked");
    ck_assert_int_eq(otp_verify(&A, REF, code, &s1, &c), OTP_BLOCKED); /* even the right code */
    ck_assert_int_eq(c.attempts, 3);
}
END_TEST

START_TEST(right_code_after_two_wrong_still_works)
{
    struct payment p = paid_order(REF, 20);
    struct otp_station s1 = station("S1");
    char code[OTP_DIGITS + 1];
    send_code(&p, code);
    struct otp_code c;
    for (int i = 1; i <= 2; i++) {
        char wrong[OTP_DIGITS + 1];
        str_copy(wrong, sizeof wrong, code);
        wrong[i] = (char)('0' + (wrong[i] - '0' + i) % 10);
        ck_assert_int_eq(otp_verify(&A, REF, wrong, &s1, &c), OTP_INVALID);
    }
    ck_assert_int_eq(c.attempts, 2);
    ck_assert_int_eq(otp_verify(&A, REF, code, &s1, &c), OTP_OK);
    ck_assert_str_eq(c.status, "in_progress");
    ck_assert_str_eq(c.station_id, "S1");
}
END_TEST

START_TEST(code_expires)
{
    A.cfg.otp_ttl = 1;
    struct payment p = paid_order(REF, 20);
    struct otp_station s1 = station("S1");
    char code[OTP_DIGITS + 1];
    send_code(&p, code);
    usleep(1100 * 1000);
    struct otp_code c;
    ck_assert_int_eq(otp_verify(&A, REF, code, &s1, &c), OTP_EXPIRED);
    ck_assert_str_eq(c.status, "expired"); /* written, not only read so */
    ck_assert_int_eq(c.attempts, 0);
}
END_TEST

START_TEST(verify_then_complete_short)
{
    struct payment p = paid_order(REF, 20);
    struct otp_station s1 = station("S1"), s2 = station("S2");
    char code[OTP_DIGITS + 1];
    send_code(&p, code);
    struct otp_code c;
    ck_assert_int_eq(otp_complete(&A, REF, &s1, 20000, &c), OTP_NOT_VERIFIED);
    ck_assert_int_eq(otp_verify(&A, REF, code, &s1, &c), OTP_OK);
    ck_assert_int_eq(otp_pulses(&s1, c.liters), 20000);
    ck_assert_int_eq(otp_verify(&A, REF, code, &s2, &c), OTP_IN_USE);
    ck_assert_int_eq(otp_complete(&A, REF, &s2, 20000, &c), OTP_LOCKED);
    ck_assert_int_eq(otp_complete(&A, REF, &s1, 20001, &c), OTP_BAD_LITERS);
    ck_assert_int_eq(otp_complete(&A, REF, &s1, 17500, &c), OTP_OK);
    ck_assert_str_eq(c.status, "used");
    ck_assert_int_eq(c.dispensed_ml, 17500); /* the short dispense is recorded */
    ck_assert_str_eq(c.completion, "station");
    ck_assert_int_eq(otp_complete(&A, REF, &s1, 17500, &c), OTP_OK); /* a retried report */
    ck_assert_int_eq(otp_complete(&A, REF, &s1, 20000, &c), OTP_USED);
    ck_assert_int_eq(otp_verify(&A, REF, code, &s1, &c), OTP_USED);
    ck_assert_int_eq(otp_verify(&A, REF, code, &s2, &c), OTP_LOCKED);
    /* nothing left to resend */
    ck_assert_int_eq(otp_resend(&A, PHONE, REF), OTP_USED);
}
END_TEST

START_TEST(lapsed_lock_counts_as_dispensed)
{
    A.cfg.station_lock = 1;
    struct payment p = paid_order(REF, 20);
    struct otp_station s1 = station("S1"), s2 = station("S2");
    char code[OTP_DIGITS + 1];
    send_code(&p, code);
    struct otp_code c;
    ck_assert_int_eq(otp_verify(&A, REF, code, &s1, &c), OTP_OK);
    usleep(1100 * 1000);
    ck_assert_int_eq(otp_verify(&A, REF, code, &s2, &c), OTP_LOCKED);
    ck_assert_str_eq(c.status, "used");
    ck_assert_str_eq(c.completion, "lapsed");
    ck_assert_int_eq(c.dispensed_ml, -1);
    ck_assert_int_eq(otp_resend(&A, PHONE, REF), OTP_USED); /* the caller cannot get more */
    ck_assert_int_eq(otp_complete(&A, REF, &s1, 20000, &c), OTP_OK); /* a late report is kept */
    ck_assert_str_eq(c.completion, "late");
    ck_assert_int_eq(c.dispensed_ml, 20000);
}
END_TEST

struct race {
    const char *code;
    struct otp_station st;
    pthread_barrier_t *go;
    atomic_int *wins, *in_use;
};

static void *racer(void *arg)
{
    struct race *r = arg;
    struct otp_code c;
    pthread_barrier_wait(r->go);
    enum otp_verdict v = otp_verify(&A, REF, r->code, &r->st, &c);
    if (v == OTP_OK)
        atomic_fetch_add(r->wins, 1);
    else if (v == OTP_IN_USE)
        atomic_fetch_add(r->in_use, 1);
    return NULL;
}

START_TEST(one_of_many_concurrent_verifies_wins)
{
    enum { N = 16 };
    struct payment p = paid_order(REF, 20);
    char code[OTP_DIGITS + 1];
    send_code(&p, code);
    struct otp_station st[4] = {station("S1"), station("S2"), station("S3"), station("S4")};
    pthread_barrier_t go;
    pthread_barrier_init(&go, NULL, N);
    atomic_int wins = 0, in_use = 0;
    struct race r[N];
    pthread_t t[N];
    for (int i = 0; i < N; i++) {
        r[i] = (struct race){code, st[i % 4], &go, &wins, &in_use};
        ck_assert_int_eq(pthread_create(&t[i], NULL, racer, &r[i]), 0);
    }
    for (int i = 0; i < N; i++)
        pthread_join(t[i], NULL);
    pthread_barrier_destroy(&go);
    ck_assert_int_eq(atomic_load(&wins), 1);
    ck_assert_int_eq(atomic_load(&in_use), N - 1);
}
END_TEST

START_TEST(resend_and_generate_replace_the_code)
{
    struct payment p = paid_order(REF, 20);
    struct otp_station s1 = station("S1");
    char first[OTP_DIGITS + 1], second[OTP_DIGITS + 1], admin[OTP_DIGITS + 1];
    send_code(&p, first);
    ck_assert_int_eq(otp_resend(&A, "+254713000099", REF), OTP_NOT_FOUND); /* not the buyer */
    ck_assert_int_eq(otp_resend(&A, PHONE, REF), OTP_OK);
    struct otp_code c;
    ck_assert_int_eq(store_otp_current(A.store, REF, &c), ST_OK);
    ck_assert_str_eq(c.status, "pending");
    ck_assert_str_eq(c.origin, "resend");
    send_code(&p, second);
    if (strcmp(first, second)) /* one chance in a million that they are equal */
        ck_assert_int_eq(otp_verify(&A, REF, first, &s1, &c), OTP_INVALID);
    struct otp_code g;
    ck_assert_int_eq(otp_generate(&A, REF, 21, admin, &g), OTP_BAD_LITERS);
    ck_assert_int_eq(otp_generate(&A, "WS-1-NOSUCHREF", 0, admin, &g), OTP_NOT_FOUND);
    ck_assert_int_eq(otp_generate(&A, REF, 5, admin, &g), OTP_OK);
    ck_assert_int_eq(g.liters, 5);
    ck_assert_int_eq(g.attempts, 0);
    ck_assert_int_eq(otp_verify(&A, REF, admin, &s1, &c), OTP_OK);
    ck_assert_int_eq(c.liters, 5);
    ck_assert_int_eq(otp_generate(&A, REF, 0, admin, &g), OTP_IN_USE); /* while dispensing */
    /* resends are capped per payment */
    struct payment q = paid_order("WS-1707123456789-ZZZZ0001", 40);
    int ok = 0;
    enum otp_verdict v;
    while ((v = otp_resend(&A, PHONE, q.reference)) == OTP_OK)
        ok++;
    ck_assert_int_eq(v, OTP_LIMIT);
    ck_assert_int_eq(ok, OTP_MAX_CODES - 1);
    struct otp_code live[8];
    ck_assert_int_eq(otp_live_codes(&A, PHONE, live, 8), 1); /* REF's code is in progress */
    ck_assert_str_eq(live[0].reference, q.reference);
}
END_TEST

/* A station that keeps entering wrong or unknown codes is stopped for the
 * rest of the window; other stations are not. */
START_TEST(guessing_station_is_throttled)
{
    A.cfg.rate_window = 1;
    struct payment p = paid_order(REF, 20);
    struct otp_station s1 = station("S1"), s2 = station("S2");
    char code[OTP_DIGITS + 1], ref[40];
    send_code(&p, code);
    struct otp_code c;
    for (int i = 0; i < OTP_STATION_FAILS; i++) {
        snprintf(ref, sizeof ref, "WS-1707123456789-GUESS%03d", i);
        ck_assert_int_eq(otp_verify(&A, ref, "123456", &s1, &c), OTP_NOT_FOUND);
    }
    ck_assert_int_eq(otp_verify(&A, REF, code, &s1, &c), OTP_THROTTLED); /* even the right one */
    ck_assert_int_eq(otp_verify(&A, "WS-1707123456789-GUESSXXX", "123456", &s2, &c), OTP_NOT_FOUND);
    usleep(1100 * 1000); /* the window closes */
    ck_assert_int_eq(otp_verify(&A, REF, code, &s1, &c), OTP_OK);
}
END_TEST

START_TEST(unpaid_order_has_no_code)
{
    struct payment p;
    memset(&p, 0, sizeof p);
    str_copy(p.kind, sizeof p.kind, "water");
    str_copy(p.origin, sizeof p.origin, "ussd");
    str_copy(p.phone, sizeof p.phone, PHONE);
    str_copy(p.reference, sizeof p.reference, REF);
    p.amount = 100;
    p.liters = 20;
    ck_assert_int_eq(store_payment_create(A.store, &p), ST_OK);
    str_copy(p.status, sizeof p.status, "cancelled");
    p.result_code = 1032;
    ck_assert(purchase_finish(&A, &p));
    struct otp_code c;
    ck_assert_int_eq(store_otp_current(A.store, REF, &c), ST_NOT_FOUND);
    struct outbox_seen seen = {0};
    store_outbox_list(A.store, PHONE, "", 10, 0, seen_one, &seen);
    ck_assert_int_eq(seen.n, 1);
    ck_assert_msg(strstr(seen.last.body, "cancelled") && !strstr(seen.last.body, "{code}"), "%s", seen.last.body);
    char code[OTP_DIGITS + 1];
    ck_assert_int_eq(otp_generate(&A, REF, 0, code, &c), OTP_NOT_COMPLETED);
    struct outbox_msg m = {.payment_id = p.id};
    char out[16];
    ck_assert(!otp_render_code(&A, &m, out, sizeof out));
}
END_TEST

Suite *test_suite(void)
{
    log_set_level(LOG_WARN); /* the store's info lines are noise here */
    Suite *s = suite_create("otp");
    TCase *t = tcase_create("pure");
    tcase_add_test(t, code_hmac_vector);
    tcase_add_test(t, station_key_hmac_vector);
    tcase_add_test(t, time_moves_codes);
    tcase_add_test(t, what_a_station_meets);
    tcase_add_test(t, labels_never_show_digits);
    suite_add_tcase(s, t);
    t = tcase_create("store");
    tcase_add_checked_fixture(t, db_setup, db_teardown);
    tcase_set_timeout(t, 30);
    tcase_add_test(t, paid_order_queues_code_without_digits);
    tcase_add_test(t, fourth_attempt_is_blocked);
    tcase_add_test(t, right_code_after_two_wrong_still_works);
    tcase_add_test(t, code_expires);
    tcase_add_test(t, verify_then_complete_short);
    tcase_add_test(t, lapsed_lock_counts_as_dispensed);
    tcase_add_test(t, one_of_many_concurrent_verifies_wins);
    tcase_add_test(t, resend_and_generate_replace_the_code);
    tcase_add_test(t, guessing_station_is_throttled);
    tcase_add_test(t, unpaid_order_has_no_code);
    suite_add_tcase(s, t);
    return s;
}
