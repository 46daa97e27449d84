/* End-to-end: a caller whose USSD session ends before its last screen (the
 * network dropped it, the screen timed out) is offered to go on where they
 * were when they dial again: the one-line summary of what they chose,
 * "1. Yes" lands on that screen with those choices, "2. No" on the main
 * menu. A finished purchase is never offered again; the offer survives a
 * restart of lipad; it lapses after LIPA_USSD_RESUME_WINDOW. Each test
 * has its own phone numbers and meters. */
#include "harness.h"

#include "util/form.h"

#include <check.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define WINDOW_OFFSET 120      /* a lipad whose window is 2 s */
#define RESTART_OFFSET 121     /* a lipad that is killed and started again */
#define PAIR_OFFSET 122        /* two lipads on one PostgreSQL: +122, +123 */

static void caller_on(struct lipad *l, const char *phone, const char *meter, const char *device, const char *lang)
{
    long long uid = h_user(l, phone, lang);
    h_meter(l, meter, device, "Home");
    h_assign(l, uid, meter);
    h_sandbox_device(device);
}

/* Hops of session sid, each answer a waiting screen within the budget;
 * the last answer is returned. */
static char *hops(struct lipad *l, const char *sid, const char *phone, const char *const *texts)
{
    char *last = NULL;
    for (int i = 0; texts[i]; i++) {
        free(last);
        last = h_ussd(l, sid, phone, texts[i]);
        ck_assert_msg(strlen(last) <= 160, "over 160 characters: %s", last);
        ck_assert_msg(!strncmp(last, "CON ", 4), "hop %d (%s): %s", i, texts[i], last);
    }
    return last;
}

/* A caller at the confirm screen of KES amount who goes no further. */
static void drop_at_confirm(struct lipad *l, const char *sid, const char *phone, const char *amount)
{
    char confirm[32];
    snprintf(confirm, sizeof confirm, "1*1*%s", amount);
    const char *texts[] = {"", "1", "1*1", confirm, NULL};
    char *c = hops(l, sid, phone, texts);
    ck_assert_msg(strstr(c, amount) && strstr(c, "1. "), "the confirm screen: %s", c);
    free(c);
}

/* Africa's Talking's end-of-session notice: the session is over. */
static void session_ended(struct lipad *l, const char *sid, const char *phone, const char *status, const char *input)
{
    char *p = form_encode(phone), *in = form_encode(input), body[512];
    snprintf(body, sizeof body,
             "date=2026-11-24+08%%3A00%%3A00&sessionId=%s&serviceCode=%%2A384%%2A1234%%23&networkCode=63902"
             "&phoneNumber=%s&status=%s&cost=KES+0.0&durationInMillis=40000&hopsCount=4&input=%s&lastAppResponse=CON",
             sid, p, status, in);
    free(p);
    free(in);
    struct http_result r = h_req(l->port, "POST", "/api/ussd/events", "application/x-www-form-urlencoded", body, 0,
                                 NULL);
    ck_assert_msg(r.status == 200, "the notice: %ld %s", r.status, r.body);
    h_free(&r);
}

static void assert_offer(const char *a, const char *summary)
{
    ck_assert_msg(!strncmp(a, "CON ", 4) && strstr(a, summary) && strlen(a) <= 160, "the offer: %s", a);
}

static void assert_main_menu(const char *a)
{
    ck_assert_msg(!strncmp(a, "CON ", 4) && strstr(a, "Welcome to lipa") && strstr(a, "1. Buy electricity"),
                  "the main menu: %s", a);
}

/* The drop the issue names: at the confirm screen. Dialling again offers
 * the purchase; "1" shows the confirm screen with the same meter and
 * amount; confirming buys once, and nothing is offered after. Hops of the
 * resumed session follow AT's text of the new session, from the offer: a
 * late first hop gets the offer again and changes nothing, a repeated
 * confirming hop buys nothing more. */
START_TEST(drop_at_confirm_continues_and_buys_once)
{
    const char *phone = "+254711000301";
    caller_on(&h_main, phone, "E2E301", "e2edev301", "en");
    drop_at_confirm(&h_main, "s-res-1a", phone, "150");
    char *a = h_ussd(&h_main, "s-res-1b", phone, "");
    assert_offer(a, "Electricity: KES 150 for Home");
    ck_assert_msg(strstr(a, "Continue?") && strstr(a, "1. Yes") && strstr(a, "2. No"), "%s", a);
    free(a);
    a = h_ussd(&h_main, "s-res-1b", phone, "7"); /* not an answer: asked again */
    ck_assert_msg(strstr(a, "Invalid choice") && strstr(a, "KES 150 for Home"), "asked again: %s", a);
    free(a);
    a = h_ussd(&h_main, "s-res-1b", phone, "7*1");
    ck_assert_msg(!strncmp(a, "CON ", 4) && strstr(a, "Confirm purchase") && strstr(a, "Meter: Home") &&
                      strstr(a, "KES 150") && strstr(a, "6.0 kWh"),
                  "the confirm screen again: %s", a);
    free(a);
    a = h_ussd(&h_main, "s-res-1b", phone, ""); /* the first hop, late */
    assert_offer(a, "KES 150 for Home");
    free(a);
    a = h_ussd(&h_main, "s-res-1b", phone, "7*1*1");
    ck_assert_msg(!strncmp(a, "END ", 4) && strstr(a, "PIN") && strstr(a, "KES 150"), "bought: %s", a);
    free(a);
    a = h_ussd(&h_main, "s-res-1b", phone, "7*1*1"); /* AT repeats it */
    ck_assert_msg(!strncmp(a, "END ", 4) && strstr(a, "KES 150"), "%s", a);
    free(a);
    json_t *p = h_wait_payment(&h_main, phone, "completed", 20000);
    ck_assert_msg(p && json_integer_value(json_object_get(p, "amount")) == 150, "KES 150 completes");
    json_decref(p);
    ck_assert_int_eq(h_purchases(&h_main, phone), 1);
    a = h_ussd(&h_main, "s-res-1c", phone, "");
    assert_main_menu(a);
    free(a);
    h_sleep_ms(300);
    ck_assert_int_eq(h_purchases(&h_main, phone), 1);
}
END_TEST

/* "2. No" starts afresh: the main menu, from which the caller goes
 * anywhere; the offer is not made again, and nothing was bought. AT's
 * notice of the first session's end changes none of it. */
/* A caller who drops again on the offer itself is offered the same
 * screen at the next dial. */
START_TEST(drop_on_the_offer_offered_again)
{
    const char *phone = "+254711000309";
    caller_on(&h_main, phone, "E2E309", "e2edev309", "en");
    drop_at_confirm(&h_main, "s-res-9a", phone, "90");
    char *a = h_ussd(&h_main, "s-res-9b", phone, "");
    assert_offer(a, "KES 90 for Home");
    free(a);
    session_ended(&h_main, "s-res-9b", phone, "Incomplete", "");
    a = h_ussd(&h_main, "s-res-9c", phone, "");
    assert_offer(a, "KES 90 for Home");
    free(a);
    a = h_ussd(&h_main, "s-res-9c", phone, "1");
    ck_assert_msg(strstr(a, "Confirm purchase") && strstr(a, "KES 90"), "the confirm screen: %s", a);
    free(a);
}
END_TEST

START_TEST(declining_starts_fresh)
{
    const char *phone = "+254711000302";
    caller_on(&h_main, phone, "E2E302", "e2edev302", "en");
    drop_at_confirm(&h_main, "s-res-2a", phone, "200");
    session_ended(&h_main, "s-res-2a", phone, "Incomplete", "1*1*200");
    char *a = h_ussd(&h_main, "s-res-2b", phone, "");
    assert_offer(a, "KES 200 for Home");
    free(a);
    a = h_ussd(&h_main, "s-res-2b", phone, "2");
    assert_main_menu(a);
    free(a);
    a = h_ussd(&h_main, "s-res-2b", phone, "2*1");
    ck_assert_msg(!strncmp(a, "CON ", 4) && strstr(a, "Choose a meter"), "the meter list: %s", a);
    free(a);
    a = h_ussd(&h_main, "s-res-2c", phone, "");
    assert_main_menu(a);
    free(a);
    h_sleep_ms(300);
    ck_assert_int_eq(h_purchases(&h_main, phone), 0);
}
END_TEST

/* A session that ended with END is never offered: a purchase made (AT's
 * notice says Success), or one the caller cancelled on the confirm
 * screen; nor one that stopped on a screen the menus do not mark (the
 * amount prompt). */
START_TEST(finished_session_not_offered)
{
    const char *phone = "+254711000303";
    caller_on(&h_main, phone, "E2E303", "e2edev303", "en");
    const char *buy[] = {"", "1", "1*1", "1*1*100", NULL};
    free(hops(&h_main, "s-res-3a", phone, buy));
    char *a = h_ussd(&h_main, "s-res-3a", phone, "1*1*100*1");
    ck_assert_msg(!strncmp(a, "END ", 4) && strstr(a, "PIN"), "bought: %s", a);
    free(a);
    session_ended(&h_main, "s-res-3a", phone, "Success", "1*1*100*1");
    a = h_ussd(&h_main, "s-res-3b", phone, "");
    assert_main_menu(a);
    free(a);
    free(hops(&h_main, "s-res-3c", phone, buy));
    a = h_ussd(&h_main, "s-res-3c", phone, "1*1*100*2");
    ck_assert_msg(!strncmp(a, "END ", 4) && strstr(a, "cancelled"), "cancelled: %s", a);
    free(a);
    a = h_ussd(&h_main, "s-res-3d", phone, "");
    assert_main_menu(a);
    free(a);
    const char *amount[] = {"", "1", "1*1", NULL};
    free(hops(&h_main, "s-res-3e", phone, amount));
    session_ended(&h_main, "s-res-3e", phone, "Incomplete", "1*1");
    a = h_ussd(&h_main, "s-res-3f", phone, "");
    assert_main_menu(a);
    free(a);
    json_t *p = h_wait_payment(&h_main, phone, "completed", 20000);
    json_decref(p);
    ck_assert_int_eq(h_purchases(&h_main, phone), 1);
}
END_TEST

/* The offer speaks the caller's language, within the budget, for water
 * too; going on shows the water confirm screen with its litres and price. */
START_TEST(offer_in_swahili)
{
    const char *phone = "+254711000304";
    caller_on(&h_main, phone, "E2E304", "e2edev304", "sw");
    drop_at_confirm(&h_main, "s-res-4a", phone, "50");
    char *a = h_ussd(&h_main, "s-res-4b", phone, "");
    assert_offer(a, "Umeme: KES 50 kwa Home");
    ck_assert_msg(strstr(a, "Hukumaliza") && strstr(a, "1. Ndiyo") && strstr(a, "2. Hapana"), "Swahili: %s", a);
    free(a);
    a = h_ussd(&h_main, "s-res-4b", phone, "1");
    ck_assert_msg(strstr(a, "Thibitisha ununuzi") && strstr(a, "KES 50"), "the confirm screen: %s", a);
    free(a);
    a = h_ussd(&h_main, "s-res-4b", phone, "1*2"); /* no: cancelled, offered no more */
    ck_assert_msg(!strncmp(a, "END ", 4), "cancelled: %s", a);
    free(a);
    /* water: dropped at its confirm screen, offered, and shown again */
    const char *water[] = {"", "2", "2*1", NULL};
    char *c = hops(&h_main, "s-res-4c", phone, water);
    ck_assert_msg(strstr(c, "Lita 20"), "the water confirm screen: %s", c);
    free(c);
    a = h_ussd(&h_main, "s-res-4d", phone, "");
    assert_offer(a, "Maji: lita 20 kwa KES");
    free(a);
    a = h_ussd(&h_main, "s-res-4d", phone, "1");
    ck_assert_msg(strstr(a, "Lita 20 za maji") && strstr(a, "1. Ndiyo"), "the water confirm screen: %s", a);
    free(a);
}
END_TEST

/* A caller who dials again after LIPA_USSD_RESUME_WINDOW gets the main
 * menu; within it, the offer. */
START_TEST(offer_lapses_after_the_window)
{
    struct lipad l = {0};
    char dir[256];
    h_dir_fresh(dir, sizeof dir, "resume-window");
    const char *extra[] = {"LIPA_USSD_RESUME_WINDOW=2", NULL};
    ck_assert_msg(h_lipad_start(&l, h_main.port + WINDOW_OFFSET, dir, extra), "lipad did not start (see %s)", dir);
    const char *late = "+254711000305", *soon = "+254711000306";
    caller_on(&l, late, "E2E305", "e2edev305", "en");
    caller_on(&l, soon, "E2E306", "e2edev306", "en");
    drop_at_confirm(&l, "s-res-5a", late, "100");
    drop_at_confirm(&l, "s-res-5b", soon, "100");
    char *a = h_ussd(&l, "s-res-5c", soon, "");
    assert_offer(a, "KES 100 for Home");
    free(a);
    h_sleep_ms(2500);
    a = h_ussd(&l, "s-res-5d", late, "");
    assert_main_menu(a);
    free(a);
    ck_assert_int_eq(h_lipad_stop(&l, SIGTERM), 0);
}
END_TEST

/* The offer is in the database, not only in lipad's memory: a caller
 * whose session AT says ended (after lipad was killed, so the session is
 * rebuilt from the notice's inputs) is offered after lipad was stopped
 * and started again; one whose session lipad held when it stopped is too.
 * A resumed session whose lipad restarted between its hops is rebuilt
 * from AT's text through the offer, and buys once. */
START_TEST(resume_survives_a_restart)
{
    struct lipad l = {0};
    char dir[256];
    h_dir_fresh(dir, sizeof dir, "resume-restart");
    int port = h_main.port + RESTART_OFFSET;
    ck_assert_msg(h_lipad_start(&l, port, dir, NULL), "lipad did not start (see %s)", dir);
    const char *told = "+254711000307", *held = "+254711000308";
    caller_on(&l, told, "E2E307", "e2edev307", "en");
    caller_on(&l, held, "E2E308", "e2edev308", "en");
    drop_at_confirm(&l, "s-res-7a", told, "120");
    h_lipad_stop(&l, SIGKILL); /* its memory gone: the notice is rebuilt from AT's inputs */
    ck_assert_msg(h_lipad_start(&l, port, dir, NULL), "lipad started again (see %s)", dir);
    session_ended(&l, "s-res-7a", told, "Incomplete", "1*1*120");
    drop_at_confirm(&l, "s-res-8a", held, "130");
    ck_assert_int_eq(h_lipad_stop(&l, SIGTERM), 0);
    ck_assert_msg(h_lipad_start(&l, port, dir, NULL), "lipad started again (see %s)", dir);

    char *a = h_ussd(&l, "s-res-8b", held, "");
    assert_offer(a, "KES 130 for Home");
    free(a);
    a = h_ussd(&l, "s-res-7b", told, "");
    assert_offer(a, "KES 120 for Home");
    free(a);
    a = h_ussd(&l, "s-res-7b", told, "1");
    ck_assert_msg(strstr(a, "Confirm purchase") && strstr(a, "KES 120"), "the confirm screen: %s", a);
    free(a);
    h_lipad_stop(&l, SIGKILL);
    ck_assert_msg(h_lipad_start(&l, port, dir, NULL), "lipad started again (see %s)", dir);
    a = h_ussd(&l, "s-res-7b", told, "1*1"); /* a session lipad no longer holds */
    ck_assert_msg(!strncmp(a, "END ", 4) && strstr(a, "PIN") && strstr(a, "KES 120"), "bought: %s", a);
    free(a);
    json_t *p = h_wait_payment(&l, told, "completed", 20000);
    ck_assert_msg(p && json_integer_value(json_object_get(p, "amount")) == 120, "KES 120 completes");
    json_decref(p);
    a = h_ussd(&l, "s-res-7c", told, "");
    assert_main_menu(a);
    free(a);
    ck_assert_int_eq(h_purchases(&l, told), 1);
    ck_assert_int_eq(h_purchases(&l, held), 0);
    ck_assert_int_eq(h_lipad_stop(&l, SIGTERM), 0);
}
END_TEST

/* Two lipads on one PostgreSQL, hops going to either. The second has
 * read that the caller has no point; the first saves one when AT's notice
 * comes, and tells the second, which offers it at the caller's next dial.
 * The resumed session's later hops, rebuilt through the offer on either
 * lipad, buy once; nobody is offered it again. */
START_TEST(resume_across_lipads)
{
    struct lipad a = {0}, b = {0};
    char da[256], db[256];
    int port = h_main.port + PAIR_OFFSET;
    h_dir_fresh(da, sizeof da, "resume-a");
    ck_assert_msg(h_lipad_start(&a, port, da, NULL), "lipad a did not start (see %s)", da);
    h_dir_fresh(db, sizeof db, "resume-b");
    ck_assert(h_dir_same_db(db, &a));
    ck_assert_msg(h_lipad_start(&b, port + 1, db, NULL), "lipad b did not start (see %s)", db);
    const char *phone = "+254711000310";
    caller_on(&a, phone, "E2E310", "e2edev310", "en");
    char *r = h_ussd(&b, "s-res-c0", phone, ""); /* b reads: no point */
    assert_main_menu(r);
    free(r);
    drop_at_confirm(&a, "s-res-ca", phone, "110");
    session_ended(&a, "s-res-ca", phone, "Incomplete", "1*1*110");
    h_sleep_ms(700); /* b hears of it (it listens, polling every 250 ms) */
    r = h_ussd(&b, "s-res-cb", phone, "");
    assert_offer(r, "KES 110 for Home");
    free(r);
    r = h_ussd(&a, "s-res-cb", phone, "1"); /* a never saw the session */
    ck_assert_msg(strstr(r, "Confirm purchase") && strstr(r, "KES 110"), "the confirm screen on a: %s", r);
    free(r);
    r = h_ussd(&b, "s-res-cb", phone, "1*1"); /* b saw only its first hop */
    ck_assert_msg(!strncmp(r, "END ", 4) && strstr(r, "PIN") && strstr(r, "KES 110"), "bought on b: %s", r);
    free(r);
    r = h_ussd(&a, "s-res-cc", phone, "");
    assert_main_menu(r);
    free(r);
    json_t *p = h_wait_payment(&a, phone, "completed", 20000);
    ck_assert_msg(p && json_integer_value(json_object_get(p, "amount")) == 110, "KES 110 completes");
    json_decref(p);
    ck_assert_int_eq(h_purchases(&a, phone), 1);
    ck_assert_int_eq(h_lipad_stop(&b, SIGTERM), 0);
    ck_assert_int_eq(h_lipad_stop(&a, SIGTERM), 0);
}
END_TEST

Suite *suite_resume(void)
{
    Suite *s = suite_create("resume");
    TCase *t = tcase_create("resume");
    tcase_set_timeout(t, 120);
    tcase_add_test(t, drop_at_confirm_continues_and_buys_once);
    tcase_add_test(t, declining_starts_fresh);
    tcase_add_test(t, drop_on_the_offer_offered_again);
    tcase_add_test(t, finished_session_not_offered);
    tcase_add_test(t, offer_in_swahili);
    tcase_add_test(t, offer_lapses_after_the_window);
    tcase_add_test(t, resume_survives_a_restart);
    if (h_on_pg())
        tcase_add_test(t, resume_across_lipads);
    suite_add_tcase(s, t);
    return s;
}
