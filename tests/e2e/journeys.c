/* End-to-end journeys: the real lipad and lipa-sandbox on loopback, walked
 * the way a caller, an integrator and an operator would. Each test uses its
 * own phone numbers and meters so tests never see each other's data. */
#include "harness.h"

#include "store/meters.h"
#include "store/payments.h"
#include "store/users.h"
#include "util/form.h"
#include "util/str.h"

#include <check.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

struct lipad h_main;

/* A caller with one assigned meter, ready to buy. */
static long long caller(const char *phone, const char *meter, const char *device, const char *lang)
{
    long long uid = h_user(&h_main, phone, lang);
    h_meter(&h_main, meter, device, "Home");
    h_assign(&h_main, uid, meter);
    return uid;
}

/* Walks "", 1, 1*1, 1*1*AMOUNT, 1*1*AMOUNT*1 and returns the last answer. */
static char *buy(const char *session, const char *phone, const char *amount)
{
    const char *steps[] = {"", "1", "1*1", NULL, NULL};
    char confirm[64], pay[64];
    snprintf(confirm, sizeof confirm, "1*1*%s", amount);
    snprintf(pay, sizeof pay, "1*1*%s*1", amount);
    steps[3] = confirm;
    steps[4] = pay;
    char *last = NULL;
    for (int i = 0; i < 5; i++) {
        free(last);
        last = h_ussd(&h_main, session, phone, steps[i]);
        ck_assert_msg(strlen(last) <= 160, "screen over 160: %s", last);
        if (i < 4)
            ck_assert_msg(!strncmp(last, "CON ", 4), "hop %d: %s", i, last);
    }
    return last;
}

static const char *sms_text(json_t *arr, size_t i)
{
    return json_string_value(json_object_get(json_array_get(arr, i), "message"));
}

static bool has_token(const char *text)
{
    const char *t = strstr(text, "Token: ");
    if (!t)
        t = strstr(text, "Tokeni: ");
    if (!t)
        return false;
    t = strchr(t, ' ') + 1;
    for (int g = 0; g < 5; g++) {
        for (int d = 0; d < 4; d++)
            if (t[g * 5 + d] < '0' || t[g * 5 + d] > '9')
                return false;
        if (g < 4 && t[g * 5 + 4] != ' ')
            return false;
    }
    return true;
}

START_TEST(key_path_buys_and_texts_token)
{
    const char *phone = "+254711000001";
    caller(phone, "E2E001", "e2edev001", "en");
    char *a = h_ussd(&h_main, "s-key-1", phone, "");
    ck_assert_msg(!strncmp(a, "CON ", 4) && strstr(a, "Buy electricity"), "%s", a);
    free(a);
    char *b = h_ussd(&h_main, "s-key-1", phone, "1");
    ck_assert_msg(strstr(b, "Home"), "meter list: %s", b);
    free(b);
    char *c = h_ussd(&h_main, "s-key-1", phone, "1*1");
    ck_assert_msg(!strncmp(c, "CON ", 4), "%s", c);
    free(c);
    char *d = h_ussd(&h_main, "s-key-1", phone, "1*1*100");
    ck_assert_msg(strstr(d, "100") && strstr(d, "4.0"), "confirm shows amount and kWh: %s", d);
    free(d);
    char *e = h_ussd(&h_main, "s-key-1", phone, "1*1*100*1");
    ck_assert_msg(!strncmp(e, "END ", 4) && strstr(e, "PIN"), "%s", e);
    free(e);

    json_t *sms = h_wait_sms(phone, 1, 20000);
    ck_assert_int_eq(json_array_size(sms), 1);
    const char *text = sms_text(sms, 0);
    ck_assert_msg(has_token(text), "receipt has a 20-digit token in groups of four: %s", text);
    ck_assert_msg(strstr(text, "100") && strstr(text, "4.0 kWh") && strstr(text, "E2E001"), "%s", text);
    json_decref(sms);

    json_t *p = h_wait_payment(&h_main, phone, "completed", 5000);
    ck_assert_ptr_nonnull(p);
    ck_assert_str_eq(json_string_value(json_object_get(p, "status")), "completed");
    ck_assert_int_eq(strlen(json_string_value(json_object_get(p, "mpesaReceiptNumber"))), 10);
    json_decref(p);
    long long bal = -1;
    for (int i = 0; i < 100 && bal != 400; i++, h_sleep_ms(100))
        bal = h_balance("e2edev001");
    ck_assert_int_eq(bal, 400); /* 4.0 kWh credited, scale 2 */
}
END_TEST

START_TEST(swahili_caller_gets_swahili)
{
    const char *phone = "+254711000002";
    caller(phone, "E2E002", "e2edev002", "sw");
    char *a = h_ussd(&h_main, "s-sw-1", phone, "");
    ck_assert_msg(strstr(a, "umeme"), "Swahili main menu: %s", a);
    free(a);
    free(buy("s-sw-2", phone, "50"));
    json_t *sms = h_wait_sms(phone, 1, 20000);
    ck_assert_msg(json_array_size(sms) == 1 && strstr(sms_text(sms, 0), "Tokeni"), "Swahili receipt");
    json_decref(sms);
}
END_TEST

START_TEST(repeated_hop_charges_once)
{
    const char *phone = "+254711000003";
    caller(phone, "E2E003", "e2edev003", "en");
    char *first = buy("s-rep-1", phone, "100");
    char *again = h_ussd(&h_main, "s-rep-1", phone, "1*1*100*1");
    ck_assert_str_eq(first, again);
    free(first);
    free(again);
    json_t *sms = h_wait_sms(phone, 1, 20000);
    h_sleep_ms(1500);
    json_decref(sms);
    sms = h_sms(phone);
    ck_assert_int_eq(json_array_size(sms), 1);
    json_decref(sms);
    struct http_result r = h_json_admin(&h_main, "GET", "/mpesa/transactions", NULL);
    int n = 0;
    size_t i;
    json_t *it;
    json_array_foreach(r.json, i, it) n += !strcmp(json_string_value(json_object_get(it, "phoneNumber")), phone);
    ck_assert_int_eq(n, 1);
    h_free(&r);
}
END_TEST

static int purchases_of(const char *phone)
{
    return h_purchases(&h_main, phone);
}

/* Many callers confirm at once and AT sends each confirming hop twice at
 * the same time: every caller is told to enter their PIN, and each session
 * makes one purchase. (That a purchase is kept from the moment END is
 * sent, even if lipad is killed then: killed_before_purchase_in_database.) */
#define PAR 12
struct confirm_arg {
    const char *sid, *phone;
    pthread_barrier_t *go;
    char *reply;
};

static void *confirm_main(void *arg)
{
    struct confirm_arg *c = arg;
    pthread_barrier_wait(c->go);
    c->reply = h_ussd(&h_main, c->sid, c->phone, "1*1*20*1");
    return NULL;
}

START_TEST(confirms_answered_once_stored)
{
    char phones[PAR][24], sids[PAR][32], meter[24], dev[24];
    struct confirm_arg args[2 * PAR];
    pthread_t t[2 * PAR];
    pthread_barrier_t go;
    pthread_barrier_init(&go, NULL, 2 * PAR);
    for (int i = 0; i < PAR; i++) {
        snprintf(phones[i], sizeof phones[i], "+2547115000%02d", i);
        snprintf(sids[i], sizeof sids[i], "s-par-%d", i);
        snprintf(meter, sizeof meter, "E2EP%02d", i);
        snprintf(dev, sizeof dev, "e2edevp%02d", i);
        caller(phones[i], meter, dev, "en");
        const char *steps[] = {"", "1", "1*1", "1*1*20"};
        for (int k = 0; k < 4; k++)
            free(h_ussd(&h_main, sids[i], phones[i], steps[k]));
        for (int k = 0; k < 2; k++)
            args[2 * i + k] = (struct confirm_arg){.sid = sids[i], .phone = phones[i], .go = &go};
    }
    for (int i = 0; i < 2 * PAR; i++)
        ck_assert_int_eq(pthread_create(&t[i], NULL, confirm_main, &args[i]), 0);
    for (int i = 0; i < 2 * PAR; i++)
        pthread_join(t[i], NULL);
    pthread_barrier_destroy(&go);
    for (int i = 0; i < PAR; i++) {
        for (int k = 0; k < 2; k++) {
            char *e = args[2 * i + k].reply;
            ck_assert_msg(e && !strncmp(e, "END ", 4) && strstr(e, "PIN"), "caller %d: %s", i, e ? e : "(none)");
            free(e);
        }
    }
    /* the database has them a moment after the answers */
    int stored = 0;
    for (int tries = 0; tries < 50 && stored < PAR; tries++, h_sleep_ms(100)) {
        stored = 0;
        for (int i = 0; i < PAR; i++)
            stored += purchases_of(phones[i]) > 0;
    }
    h_sleep_ms(300);
    for (int i = 0; i < PAR; i++)
        ck_assert_msg(purchases_of(phones[i]) == 1, "caller %d: %d purchases", i, purchases_of(phones[i]));
}
END_TEST


/* The database refuses the confirming hop's purchase (here a trigger that
 * fails, standing in for a full disk or a broken file). The caller was
 * already told to expect the prompt: the purchase waits in the store's
 * intake, is tried again, and once the database takes it the prompt, the
 * payment and the receipt follow, once, without the caller dialling again. */
START_TEST(store_refusal_after_confirm_is_stored_later)
{
    const char *phone = "+254711000090", *sid = "s-refused-1";
    caller(phone, "E2E090", "e2edev090", "en");
    const char *steps[] = {"", "1", "1*1", "1*1*100"};
    for (int k = 0; k < 4; k++)
        free(h_ussd(&h_main, sid, phone, steps[k]));
    /* json() of a non-JSON text is an error when the row is written */
    ck_assert(h_sql(&h_main, "CREATE TRIGGER refuse_payment BEFORE INSERT ON payments "
                             "WHEN NEW.phone = '+254711000090' BEGIN SELECT json('refused'); END;"));
    char *e = h_ussd(&h_main, sid, phone, "1*1*100*1");
    ck_assert_msg(e && !strncmp(e, "END ", 4) && strstr(e, "PIN"), "confirmed: %s", e ? e : "");
    free(e);
    h_sleep_ms(1500); /* the first try and a second one are refused */
    ck_assert_int_eq(purchases_of(phone), 0);
    char cmd[400];
    snprintf(cmd, sizeof cmd, "grep -q 'store.purchase_refused.*tries=2' %s", h_main.log);
    ck_assert_msg(system(cmd) == 0, "the refusal and the second try are logged");
    struct http_result m = h_req(h_main.port, "GET", "/metrics", NULL, NULL, 0, NULL);
    ck_assert_msg(m.status == 200 && strstr(m.body, "\nlipa_purchases_waiting 1\n"), "metrics: %s", m.body);
    h_free(&m);
    ck_assert(h_sql(&h_main, "DROP TRIGGER refuse_payment;"));
    json_t *p = h_wait_payment(&h_main, phone, "completed", 20000);
    ck_assert_msg(p && !strcmp(json_string_value(json_object_get(p, "status")), "completed"), "the purchase completes");
    json_decref(p);
    json_t *sms = h_wait_sms(phone, 1, 10000);
    ck_assert_msg(json_array_size(sms) == 1 && has_token(sms_text(sms, 0)), "one receipt with a token");
    json_decref(sms);
    m = h_req(h_main.port, "GET", "/metrics", NULL, NULL, 0, NULL);
    ck_assert_msg(m.status == 200 && strstr(m.body, "\nlipa_purchases_waiting 0\n"), "metrics after: %s", m.body);
    h_free(&m);
    e = h_ussd(&h_main, sid, phone, "1*1*100*1"); /* AT sends the hop again */
    ck_assert_msg(e && strstr(e, "PIN"), "repeat: %s", e ? e : "");
    free(e);
    h_sleep_ms(300);
    ck_assert_int_eq(purchases_of(phone), 1);
}
END_TEST

/* What goes wrong outside the menus is said in the caller's language too:
 * entries past AT's length. */
START_TEST(swahili_caller_told_in_swahili_when_things_fail)
{
    const char *phone = "+254711000092";
    caller(phone, "E2E092", "e2edev092", "sw");
    char text[260] = "1";
    for (size_t n = 1; n < 240; n += 2)
        memcpy(text + n, "*1", 3);
    char *e = h_ussd(&h_main, "s-sw-long", phone, text);
    ck_assert_msg(e && !strcmp(e, "END Maingizo ni mengi mno. Tafadhali piga tena."), "too long: %s", e ? e : "");
    free(e);
}
END_TEST

/* A caller buys twice before answering the first prompt. Daraja refuses a
 * second push to a phone with a prompt out, so lipad holds the second
 * purchase back until the first prompt is answered and pushes it then:
 * both complete, two receipts arrive, and no push is spent on a refusal. */
START_TEST(second_purchase_waits_for_the_first_prompt)
{
    const char *phone = "+254711000091";
    caller(phone, "E2E091", "e2edev091", "en");
    char *a = buy("s-twice-1", phone, "100");
    char *b = buy("s-twice-2", phone, "200");
    ck_assert_msg(!strncmp(a, "END ", 4) && strstr(a, "PIN") && !strncmp(b, "END ", 4) && strstr(b, "PIN"),
                  "%s | %s", a, b);
    free(a);
    free(b);
    json_t *p = h_wait_payment(&h_main, phone, "completed", 20000); /* the newer one */
    ck_assert_msg(p && !strcmp(json_string_value(json_object_get(p, "status")), "completed"), "second completes");
    long long second = (long long)json_integer_value(json_object_get(p, "id"));
    json_decref(p);
    json_t *sms = h_wait_sms(phone, 2, 10000);
    ck_assert_int_eq(json_array_size(sms), 2);
    for (size_t i = 0; i < 2; i++) { /* two receipts, each with a token */
        const char *t = sms_text(sms, i);
        ck_assert_msg(t && strstr(t, "Paid KES") && has_token(t), "receipt %zu: %s", i, t ? t : "");
    }
    json_decref(sms);
    char cmd[600];
    snprintf(cmd, sizeof cmd, "grep -q 'mpesa.push_held payment=%lld ' %s", second, h_main.log);
    ck_assert_msg(system(cmd) == 0, "payment %lld was held behind the first prompt", second);
    snprintf(cmd, sizeof cmd, "grep -q 'mpesa.push_retry payment=%lld ' %s", second, h_main.log);
    ck_assert_msg(system(cmd) != 0, "no push of payment %lld was refused", second);
}
END_TEST

/* lipad does not know the session (it restarted, or AT's sessionId
 * changed): it is rebuilt from AT's text, every input so far, so the caller
 * goes on where they were; the purchase still happens once. */
START_TEST(lost_session_rebuilt_from_text)
{
    const char *phone = "+254711000014";
    caller(phone, "E2E014", "e2edev014", "en");
    char *a = h_ussd(&h_main, "s-lost-1", phone, "1*1*100");
    ck_assert_msg(!strncmp(a, "CON ", 4) && strstr(a, "4.0"), "the confirm screen: %s", a);
    free(a);
    char *b = h_ussd(&h_main, "s-lost-2", phone, "1*1*100*1");
    ck_assert_msg(!strncmp(b, "END ", 4) && strstr(b, "PIN"), "bought: %s", b);
    free(b);
    char *c = h_ussd(&h_main, "s-lost-2", phone, "1*1*100*1"); /* AT repeats it */
    ck_assert_msg(!strncmp(c, "END ", 4), "%s", c);
    free(c);
    json_t *sms = h_wait_sms(phone, 1, 20000);
    h_sleep_ms(1000);
    json_decref(sms);
    sms = h_sms(phone);
    ck_assert_int_eq(json_array_size(sms), 1);
    json_decref(sms);
    /* more than 16 entries in a session lipad does not know are not a
     * path anyone typed: the main menu, and nothing bought */
    char *many = h_ussd(&h_main, "s-lost-4", phone, "1*1*100*1*1*1*1*1*1*1*1*1*1*1*1*1*1");
    ck_assert_msg(!strncmp(many, "CON ", 4) && strstr(many, "Welcome to lipa"), "%s", many);
    free(many);
    ck_assert_int_eq(purchases_of(phone), 1);
    /* inputs that lead nowhere end up wherever they stop, never an error */
    char *d = h_ussd(&h_main, "s-lost-3", phone, "9*9*9");
    ck_assert_msg(!strncmp(d, "CON ", 4), "%s", d);
    free(d);
}
END_TEST

/* STK pushes the sandbox received for phone (E.164). */
static int pushes_to(const char *phone)
{
    char path[96];
    snprintf(path, sizeof path, "/sandbox/stk?phone=%s", phone + 1);
    struct http_result r = h_req(h_sandbox_port, "GET", path, NULL, NULL, 0, NULL);
    ck_assert_msg(r.status == 200, "sandbox stk: %ld", r.status);
    int n = (int)json_array_size(json_object_get(r.json, "stk"));
    h_free(&r);
    return n;
}

/* A hop that arrives late (AT's text behind the session's) acts on nothing:
 * it gets the screen its text leads to, and the caller's session stays
 * where they are. Here hop 2 arrives again after the confirm screen: it
 * must not confirm the purchase on it. */
START_TEST(late_hop_changes_nothing)
{
    const char *phone = "+254711000094", *sid = "s-late-1";
    caller(phone, "E2E094", "e2edev094", "en");
    const char *steps[] = {"", "1", "1*1", "1*1*250"};
    for (int k = 0; k < 4; k++)
        free(h_ussd(&h_main, sid, phone, steps[k]));
    char *late = h_ussd(&h_main, sid, phone, "1*1"); /* hop 2 again, late */
    ck_assert_msg(!strncmp(late, "CON ", 4) && strstr(late, "Enter amount"), "the amount screen: %s", late);
    free(late);
    late = h_ussd(&h_main, sid, phone, ""); /* the first hop again */
    ck_assert_msg(!strncmp(late, "CON ", 4) && strstr(late, "Welcome to lipa"), "the main menu: %s", late);
    free(late);
    h_sleep_ms(1500);
    ck_assert_int_eq(purchases_of(phone), 0);
    ck_assert_int_eq(pushes_to(phone), 0);
    /* the session is where the caller left it: confirming buys, once */
    char *e = h_ussd(&h_main, sid, phone, "1*1*250*1");
    ck_assert_msg(!strncmp(e, "END ", 4) && strstr(e, "PIN") && strstr(e, "KES 250"), "confirmed: %s", e);
    free(e);
    json_t *p = h_wait_payment(&h_main, phone, "completed", 20000);
    ck_assert_msg(p && json_integer_value(json_object_get(p, "amount")) == 250, "KES 250 completes");
    json_decref(p);
    /* the confirm screen arriving late after the purchase: shown, not bought again */
    late = h_ussd(&h_main, sid, phone, "1*1*250");
    ck_assert_msg(!strncmp(late, "CON ", 4) && strstr(late, "KES 250"), "the confirm screen: %s", late);
    free(late);
    h_sleep_ms(500);
    ck_assert_int_eq(purchases_of(phone), 1);
    ck_assert_int_eq(pushes_to(phone), 1);
}
END_TEST

/* A late hop whose text leads through an action answers as the action did
 * then, and does nothing again: here a late "4*2" (Kiswahili) after the
 * caller went back to English in another session leaves them English. */
START_TEST(late_hop_runs_no_action)
{
    const char *phone = "+254711000087";
    h_user(&h_main, phone, "en");
    const char *a_steps[] = {"", "4", "4*2"};
    char *a = NULL;
    for (int k = 0; k < 3; k++) {
        free(a);
        a = h_ussd(&h_main, "s-lang-a", phone, a_steps[k]);
    }
    ck_assert_msg(!strncmp(a, "END ", 4) && strstr(a, "Kiswahili"), "switched: %s", a);
    free(a);
    free(h_ussd(&h_main, "s-lang-a", phone, "4*2*1")); /* the session goes on */
    const char *b_steps[] = {"", "4", "4*1"};
    for (int k = 0; k < 3; k++)
        free(h_ussd(&h_main, "s-lang-b", phone, b_steps[k]));
    a = h_ussd(&h_main, "s-lang-a", phone, "4*2"); /* late */
    ck_assert_msg(!strncmp(a, "END ", 4) && strstr(a, "Kiswahili"), "the answer it got then: %s", a);
    free(a);
    a = h_ussd(&h_main, "s-lang-c", phone, "");
    ck_assert_msg(strstr(a, "Welcome to lipa"), "still English: %s", a);
    free(a);
}
END_TEST

/* A hop whose text is not the session's plus one input (a hop in between
 * was lost, or the text took another path) is what AT says the caller
 * typed: the session is rebuilt from it. 0 (back) and 00 (home) are
 * inputs like any other in AT's text. */
START_TEST(hop_not_next_is_rebuilt_from_text)
{
    const char *phone = "+254711000095", *sid = "s-skip-1";
    caller(phone, "E2E095", "e2edev095", "en");
    free(h_ussd(&h_main, sid, phone, ""));
    free(h_ussd(&h_main, sid, phone, "1"));
    char *a = h_ussd(&h_main, sid, phone, "1*1*100"); /* "1*1" never came */
    ck_assert_msg(!strncmp(a, "CON ", 4) && strstr(a, "KES 100") && strstr(a, "1. Yes"), "the confirm screen: %s", a);
    free(a);
    a = h_ussd(&h_main, sid, phone, "2"); /* another path: the water menu, not "No" */
    ck_assert_msg(!strncmp(a, "CON ", 4) && strstr(a, "20 L"), "the water menu: %s", a);
    free(a);
    a = h_ussd(&h_main, sid, phone, "2*0"); /* back */
    ck_assert_msg(!strncmp(a, "CON ", 4) && strstr(a, "Welcome to lipa"), "back to the main menu: %s", a);
    free(a);
    a = h_ussd(&h_main, sid, phone, "2*0*1*1*00"); /* two ahead, through home */
    ck_assert_msg(!strncmp(a, "CON ", 4) && strstr(a, "Welcome to lipa"), "home: %s", a);
    free(a);
    a = h_ussd(&h_main, sid, phone, "2*0*1"); /* late: the meter list, and the session stays home */
    ck_assert_msg(!strncmp(a, "CON ", 4) && strstr(a, "1. Home"), "the meter list: %s", a);
    free(a);
    a = h_ussd(&h_main, sid, phone, "2*0*1*1*00*3");
    ck_assert_msg(!strncmp(a, "CON ", 4) && strstr(a, "- Home"), "from home, my meters: %s", a);
    free(a);
    h_sleep_ms(300);
    ck_assert_int_eq(purchases_of(phone), 0);
}
END_TEST

/* Session ids are whole in a purchase's key, however long: sessions whose
 * ids (120 characters, the most a hop takes) share their first 118 buy
 * apart, electricity and water alike. */
START_TEST(long_session_ids_keep_purchases_apart)
{
    char sids[4][136];
    const char *phones[4] = {"+254711000096", "+254711000097", "+254711000098", "+254711000099"};
    for (int i = 0; i < 4; i++) {
        memset(sids[i], 'S', 118);
        snprintf(sids[i] + 118, sizeof sids[i] - 118, "-%d", i); /* 120 characters */
    }
    caller(phones[0], "E2E096", "e2edev096", "en");
    caller(phones[1], "E2E097", "e2edev097", "en");
    for (int i = 0; i < 2; i++) {
        char *e = buy(sids[i], phones[i], "100");
        ck_assert_msg(strstr(e, "PIN"), "caller %d told to pay: %s", i, e);
        free(e);
    }
    for (int i = 2; i < 4; i++) {
        const char *steps[] = {"", "2", "2*1", "2*1*1"};
        char *e = NULL;
        for (int k = 0; k < 4; k++) {
            free(e);
            e = h_ussd(&h_main, sids[i], phones[i], steps[k]);
        }
        ck_assert_msg(!strncmp(e, "END ", 4) && strstr(e, "PIN"), "water caller %d told to pay: %s", i, e);
        free(e);
    }
    for (int i = 0; i < 2; i++) {
        json_t *p = h_wait_payment(&h_main, phones[i], "completed", 20000);
        ck_assert_msg(p != NULL, "caller %d's purchase completes", i);
        json_decref(p);
        ck_assert_int_eq(purchases_of(phones[i]), 1);
    }
    for (int i = 0; i < 4; i++) {
        int n = 0;
        for (int t = 0; t < 100 && !n; t++, h_sleep_ms(100))
            n = pushes_to(phones[i]);
        ck_assert_msg(n == 1, "caller %d: %d pushes", i, n);
    }
    /* one character more is refused, naming the field */
    char longer[160];
    snprintf(longer, sizeof longer, "%sX", sids[0]);
    char *p = form_encode(longer), body[512];
    snprintf(body, sizeof body, "sessionId=%s&phoneNumber=%%2B254711000096&text=", p);
    free(p);
    struct http_result r = h_req(h_main.port, "POST", "/api/ussd", "application/x-www-form-urlencoded", body, 0, NULL);
    ck_assert_msg(r.status == 400 && strstr(r.body, "sessionId"), "%ld %s", r.status, r.body);
    h_free(&r);
}
END_TEST

/* The longest ids each face takes are usable by every other face: a meter
 * whose id, device id and name are 64 characters (the most POST /devices
 * takes) is bought by USSD, by SMS (with the longest SMS id AT may send)
 * and over REST, and its meter is credited; one character more is refused
 * where it comes in, naming the field. */
START_TEST(longest_ids_usable_everywhere)
{
    const char *phone = "+254711000089";
    char meter[65], dev[65], name[65], body[512];
    memset(meter, 'M', 64);
    memcpy(meter, "E2E-LONG-", 9);
    meter[64] = 0;
    memset(dev, 'd', 64);
    memcpy(dev, "e2edev-long-", 12);
    dev[64] = 0;
    memset(name, 'n', 64);
    memcpy(name, "Nyumba ", 7);
    name[64] = 0;
    long long uid = h_user(&h_main, phone, "en");
    h_meter(&h_main, meter, dev, name);
    h_assign(&h_main, uid, meter);
    /* USSD */
    char *e = buy("s-long-ids-1", phone, "100");
    ck_assert_msg(!strncmp(e, "END ", 4) && strstr(e, "PIN"), "bought by USSD: %s", e);
    free(e);
    json_t *p = h_wait_payment(&h_main, phone, "completed", 20000);
    ck_assert_msg(p && !strcmp(json_string_value(json_object_get(p, "meterId")), meter), "the USSD purchase is for it");
    json_decref(p);
    long long bal = -1;
    for (int i = 0; i < 100 && bal != 400; i++, h_sleep_ms(100))
        bal = h_balance(dev);
    ck_assert_int_eq(bal, 400);
    json_decref(h_wait_sms(phone, 1, 10000)); /* the receipt */
    /* SMS, with an SMS id of 90 characters */
    char at_id[92], *t;
    memset(at_id, 'i', 90);
    at_id[90] = 0;
    char text[128];
    snprintf(text, sizeof text, "BUY %s 50", meter);
    for (int k = 0; k < 2; k++) {
        t = form_encode(text);
        snprintf(body, sizeof body, "from=%%2B254711000089&to=40404&text=%s&date=2026-11-24&id=%s%s", t, at_id,
                 k ? "x" : "");
        free(t);
        struct http_result r =
            h_req(h_main.port, "POST", "/api/sms/inbound", "application/x-www-form-urlencoded", body, 0, NULL);
        if (k)
            ck_assert_msg(r.status == 400 && strstr(r.body, "id:"), "a 91-character SMS id: %ld %s", r.status, r.body);
        else
            ck_assert_msg(r.status == 200, "the SMS is taken: %ld %s", r.status, r.body);
        h_free(&r);
    }
    json_t *sms = h_wait_sms(phone, 2, 10000);
    ck_assert_msg(json_array_size(sms) >= 2 && strstr(sms_text(sms, 1), "KES 50 for meter E2E-LONG-"),
                  "the SMS answer: %s", json_array_size(sms) >= 2 ? sms_text(sms, 1) : "(none)");
    json_decref(sms);
    /* REST */
    snprintf(body, sizeof body, "{\"amount\":20,\"phoneNumber\":\"0711000089\",\"meterId\":\"%s\",\"userId\":%lld}",
             meter, uid);
    struct http_result r = h_json_admin(&h_main, "POST", "/mpesa/payment", body);
    ck_assert_msg(r.status == 200, "bought over REST: %ld %s", r.status, r.body);
    h_free(&r);
    int n = 0;
    for (int i = 0; i < 100 && n < 3; i++, h_sleep_ms(100))
        n = purchases_of(phone);
    ck_assert_int_eq(n, 3);
    /* one character more: refused at the door */
    snprintf(body, sizeof body, "{\"id\":\"%sX\",\"deviceId\":\"e2edev-long-2\"}", meter);
    r = h_json_admin(&h_main, "POST", "/devices", body);
    ck_assert_msg(r.status == 400 && strstr(r.body, "id"), "a 65-character meter id: %ld %s", r.status, r.body);
    h_free(&r);
}
END_TEST

/* A caller can use 32 meters by USSD and SMS: a 33rd is refused when it
 * is assigned, naming userId, on both assignment faces; the 32 are all in
 * the caller's USSD list. */
START_TEST(meters_beyond_what_a_caller_can_use_refused)
{
    const char *phone = "+254711000088";
    long long uid = h_user(&h_main, phone, "en");
    char id[24], dev[24], path[64], body[128];
    for (int i = 0; i <= 32; i++) {
        snprintf(id, sizeof id, "E2ECAP%02d", i);
        snprintf(dev, sizeof dev, "e2edevcap%02d", i);
        h_meter(&h_main, id, dev, id);
        if (i < 32)
            h_assign(&h_main, uid, id);
    }
    snprintf(body, sizeof body, "{\"meterId\":\"E2ECAP32\",\"userId\":%lld}", uid);
    struct http_result r = h_json_admin(&h_main, "POST", "/meter-user/assign", body);
    ck_assert_msg(r.status == 409 && strstr(r.body, "userId"), "a 33rd meter: %ld %s", r.status, r.body);
    h_free(&r);
    snprintf(path, sizeof path, "/devices/E2ECAP32/assign");
    snprintf(body, sizeof body, "{\"userId\":%lld}", uid);
    r = h_json_admin(&h_main, "POST", path, body);
    ck_assert_msg(r.status == 409 && strstr(r.body, "userId"), "a 33rd device: %ld %s", r.status, r.body);
    h_free(&r);
    /* the 32nd is on the last page of the caller's list, and can be picked */
    char *a = h_ussd(&h_main, "s-cap-1", phone, "1*32");
    ck_assert_msg(!strncmp(a, "CON ", 4) && strstr(a, "Meter: E2ECAP31"), "the 32nd meter: %s", a);
    free(a);
}
END_TEST

/* An empty entry is an input too: AT's text then holds an empty segment
 * ("1*1*99999*"), and a rebuilt session replays it as the hop it was, so the
 * caller sees what stepping showed them (found by the ussd_hop fuzzer:
 * the replay dropped empty inputs and showed the note of the one before). */
START_TEST(rebuilt_session_replays_empty_inputs)
{
    const char *phone = "+254711000216";
    caller(phone, "E2E216", "e2edev216", "en");
    static const char *const hops[] = {"", "1", "1*1", "1*1*99999", "1*1*99999*"};
    char *stepped = NULL;
    for (size_t i = 0; i < sizeof hops / sizeof hops[0]; i++) {
        free(stepped);
        stepped = h_ussd(&h_main, "s-empty-1", phone, hops[i]);
    }
    ck_assert_msg(strstr(stepped, "Use digits only"), "the empty entry: %s", stepped);
    char *rebuilt = h_ussd(&h_main, "s-empty-2", phone, "1*1*99999*");
    ck_assert_str_eq(rebuilt, stepped);
    free(rebuilt);
    free(stepped);
}
END_TEST

START_TEST(cancelled_payment_texts_and_no_topup)
{
    const char *phone = "+254711000004";
    caller(phone, "E2E004", "e2edev004", "en");
    free(buy("s-can-1", phone, "102"));
    json_t *p = h_wait_payment(&h_main, phone, "cancelled", 20000);
    ck_assert_ptr_nonnull(p);
    ck_assert_str_eq(json_string_value(json_object_get(p, "status")), "cancelled");
    ck_assert_int_eq(json_integer_value(json_object_get(p, "resultCode")), 1032);
    json_decref(p);
    json_t *sms = h_wait_sms(phone, 1, 10000);
    ck_assert_msg(json_array_size(sms) == 1 && strstr(sms_text(sms, 0), "cancelled") &&
                  !strstr(sms_text(sms, 0), "Token"), "cancel notice");
    json_decref(sms);
    ck_assert_int_eq(h_balance("e2edev004"), 0);
}
END_TEST

START_TEST(insufficient_funds_fails)
{
    const char *phone = "+254711000005";
    caller(phone, "E2E005", "e2edev005", "en");
    free(buy("s-ins-1", phone, "1"));
    json_t *p = h_wait_payment(&h_main, phone, "failed", 20000);
    ck_assert_ptr_nonnull(p);
    ck_assert_str_eq(json_string_value(json_object_get(p, "status")), "failed");
    ck_assert_int_eq(json_integer_value(json_object_get(p, "resultCode")), 1);
    json_decref(p);
    json_t *sms = h_wait_sms(phone, 1, 10000);
    ck_assert_msg(json_array_size(sms) == 1 && strstr(sms_text(sms, 0), "failed"), "failure notice");
    json_decref(sms);
}
END_TEST

START_TEST(no_callback_settled_by_query)
{
    const char *phone = "+254711000006";
    caller(phone, "E2E006", "e2edev006", "en");
    free(buy("s-noc-1", phone, "107"));
    json_t *p = h_wait_payment(&h_main, phone, "timeout", 30000);
    ck_assert_ptr_nonnull(p);
    ck_assert_str_eq(json_string_value(json_object_get(p, "status")), "timeout");
    ck_assert_int_eq(json_integer_value(json_object_get(p, "resultCode")), 1037);
    json_decref(p);
}
END_TEST

START_TEST(duplicate_callback_changes_nothing)
{
    const char *phone = "+254711000007";
    caller(phone, "E2E007", "e2edev007", "en");
    free(buy("s-dup-1", phone, "200"));
    json_t *p = h_wait_payment(&h_main, phone, "completed", 20000);
    ck_assert_ptr_nonnull(p);
    char path[160];
    snprintf(path, sizeof path, "/sandbox/stk/%s/resend", json_string_value(json_object_get(p, "checkoutRequestId")));
    json_decref(p);
    json_t *sms = h_wait_sms(phone, 1, 10000);
    json_decref(sms);
    long long bal = -1;
    for (int i = 0; i < 100 && bal != 800; i++, h_sleep_ms(100))
        bal = h_balance("e2edev007");
    ck_assert_int_eq(bal, 800);
    struct http_result r = h_req(h_sandbox_port, "POST", path, "application/json", "{}", 0, NULL);
    ck_assert_msg(r.status == 200, "resend: %ld %s", r.status, r.body);
    h_free(&r);
    h_sleep_ms(1500);
    sms = h_sms(phone);
    ck_assert_int_eq(json_array_size(sms), 1);
    json_decref(sms);
    ck_assert_int_eq(h_balance("e2edev007"), 800);
}
END_TEST

START_TEST(providers_down_then_back)
{
    const char *phone = "+254711000008";
    caller(phone, "E2E008", "e2edev008", "en");
    const char *fails[] = {"{\"service\":\"daraja\",\"count\":2,\"status\":503}",
                           "{\"service\":\"at\",\"count\":2,\"status\":503}",
                           "{\"service\":\"tuya\",\"count\":2,\"status\":500}"};
    for (int i = 0; i < 3; i++) {
        struct http_result r = h_req(h_sandbox_port, "POST", "/sandbox/fail", "application/json", fails[i], 0, NULL);
        ck_assert_int_eq(r.status, 200);
        h_free(&r);
    }
    free(buy("s-down-1", phone, "100"));
    json_t *sms = h_wait_sms(phone, 1, 30000);
    ck_assert_msg(json_array_size(sms) == 1 && has_token(sms_text(sms, 0)), "token SMS arrives after retries");
    json_decref(sms);
    long long bal = -1;
    for (int i = 0; i < 200 && bal != 400; i++, h_sleep_ms(100))
        bal = h_balance("e2edev008");
    ck_assert_int_eq(bal, 400);
    struct http_result r = h_req(h_main.port, "GET", "/api/health", NULL, NULL, 0, NULL);
    ck_assert_int_eq(r.status, 200);
    ck_assert_str_eq(json_string_value(json_object_get(json_object_get(json_object_get(json_object_get(r.json, "data"),
                                                                         "providers"), "daraja"), "status")), "ok");
    h_free(&r);
}
END_TEST

START_TEST(malformed_and_forged_callbacks)
{
    const char *ct = "application/json";
    struct http_result r = h_req(h_main.port, "POST", "/mpesa/callback?secret=" CB_SECRET, ct, "{not json", 0, NULL);
    ck_assert_int_eq(r.status, 400);
    h_free(&r);
    r = h_req(h_main.port, "POST", "/mpesa/callback?secret=" CB_SECRET, ct,
              "{\"Body\":{\"stkCallback\":{\"ResultCode\":0}}}", 0, NULL);
    ck_assert_int_eq(r.status, 400);
    ck_assert_msg(strstr(r.body, "CheckoutRequestID"), "names the missing field: %s", r.body);
    h_free(&r);
    r = h_req(h_main.port, "POST", "/mpesa/callback?secret=wrong", ct,
              "{\"Body\":{\"stkCallback\":{\"CheckoutRequestID\":\"ws_CO_x\",\"ResultCode\":0}}}", 0, NULL);
    ck_assert_int_eq(r.status, 401);
    h_free(&r);
    r = h_req(h_main.port, "POST", "/mpesa/callback", ct, "{}", 0, NULL);
    ck_assert_int_eq(r.status, 401);
    h_free(&r);
}
END_TEST

START_TEST(unassigned_and_unknown_callers)
{
    const char *phone = "+254711000009";
    h_user(&h_main, phone, "en");
    char *a = h_ussd(&h_main, "s-un-1", phone, "");
    free(a);
    char *b = h_ussd(&h_main, "s-un-1", phone, "1");
    ck_assert_msg(!strncmp(b, "END ", 4), "no meters ends the session: %s", b);
    free(b);
    char *c = h_ussd(&h_main, "s-un-2", "+254799999999", "");
    ck_assert_msg(!strncmp(c, "CON ", 4), "unknown caller still sees the menu: %s", c);
    free(c);
    char *d = h_ussd(&h_main, "s-un-2", "+254799999999", "1");
    ck_assert_msg(!strncmp(d, "END ", 4), "%s", d);
    free(d);
    /* someone else's meter over REST: 403 */
    long long other = h_user(&h_main, "+254711000010", "en");
    (void)other;
    h_meter(&h_main, "E2E010", "e2edev010", "Shop");
    struct http_result r = h_json_admin(&h_main, "POST", "/mpesa/payment",
        "{\"amount\":100,\"phoneNumber\":\"0711000010\",\"meterId\":\"E2E010\",\"userId\":\"1\"}");
    ck_assert_msg(r.status == 403 || r.status == 404, "unassigned meter refused: %ld %s", r.status, r.body);
    h_free(&r);
}
END_TEST

START_TEST(bad_requests_are_named)
{
    char *big = malloc(200000);
    memset(big, 'a', 199999);
    big[199999] = 0;
    struct http_result r = h_req(h_main.port, "POST", "/api/ussd", "application/x-www-form-urlencoded", big, 0, NULL);
    ck_assert_int_eq(r.status, 413);
    h_free(&r);
    /* headers get a 16 KiB connection pool (http/server.c): 12 000 bytes of
     * them pass, 20 000 are refused as too large, not dropped */
    for (int k = 0; k < 2; k++) {
        size_t pad = k ? 20000 : 12000;
        memcpy(big, "X-Pad: ", 7);
        memset(big + 7, 'a', pad);
        big[7 + pad] = 0;
        r = h_req_h(h_main.port, "GET", "/api/health", NULL, NULL, 0, NULL, big);
        ck_assert_int_eq(r.status, k ? 431 : 200);
        h_free(&r);
    }
    free(big);
    r = h_req(h_main.port, "GET", "/nope", NULL, NULL, 0, NULL);
    ck_assert_int_eq(r.status, 404);
    h_free(&r);
    r = h_req(h_main.port, "DELETE", "/api/ussd", NULL, NULL, 0, NULL);
    ck_assert_int_eq(r.status, 405);
    h_free(&r);
    r = h_json_admin(&h_main, "POST", "/users", "{\"phoneNumber\":\"12345\"}");
    ck_assert_int_eq(r.status, 400);
    ck_assert_msg(strstr(r.body, "phoneNumber"), "%s", r.body);
    h_free(&r);
    r = h_json_admin(&h_main, "POST", "/users", "{\"phoneNumber\":");
    ck_assert_int_eq(r.status, 400);
    h_free(&r);
    r = h_req(h_main.port, "POST", "/users", "application/json", "{\"phoneNumber\":\"0711000099\"}", 0, "wrong-key");
    ck_assert_int_eq(r.status, 401);
    h_free(&r);
    r = h_req(h_main.port, "POST", "/api/ussd", "application/x-www-form-urlencoded", "phoneNumber=%2B254711000001&text=", 0, NULL);
    ck_assert_int_eq(r.status, 400);
    ck_assert_msg(strstr(r.body, "sessionId"), "%s", r.body);
    h_free(&r);
}
END_TEST

/* Africa's Talking's end-of-session notice is taken once per session and
 * status (its retries are answered OK and stored once), and one without a
 * sessionId is refused. */
START_TEST(ussd_end_of_session_recorded_once)
{
    const char *form = "sessionId=ev-once-1&phoneNumber=%2B254711000077&serviceCode=*384*1234%23&status=Success"
                       "&cost=KES+0.00&durationInMillis=5400&hopsCount=3&input=1*1&date=2026-01-31+09%3A15%3A02";
    for (int k = 0; k < 2; k++) {
        struct http_result r = h_req(h_main.port, "POST", "/api/ussd/events", "application/x-www-form-urlencoded",
                                     form, 0, NULL);
        ck_assert_msg(r.status == 200 && !strcmp(r.body, "OK"), "%ld %s", r.status, r.body);
        h_free(&r);
    }
    char rows[256];
    ck_assert(h_sql_rows(&h_main, "SELECT status, hops, duration_ms FROM ussd_events WHERE session_id = 'ev-once-1'",
                         rows, sizeof rows));
    const char *nl = strchr(rows, '\n'); /* one row: the retry stored nothing */
    ck_assert_msg(!strncmp(rows, "Success|3|5400", 14) && (!nl || !nl[1]), "stored: [%s]", rows);
    struct http_result r = h_req(h_main.port, "POST", "/api/ussd/events", "application/x-www-form-urlencoded",
                                 "status=Success", 0, NULL);
    ck_assert_msg(r.status == 400 && strstr(r.body, "sessionId"), "%ld %s", r.status, r.body);
    h_free(&r);
}
END_TEST

START_TEST(users_devices_assignments_api)
{
    struct http_result r = h_json_admin(&h_main, "POST", "/users",
        "{\"phoneNumber\":\"0722 111 222\",\"firstName\":\"Wanjiku\",\"lastName\":\"K\",\"email\":\"w@example.com\",\"role\":\"USER\",\"language\":\"sw\"}");
    ck_assert_int_eq(r.status, 201);
    ck_assert_str_eq(json_string_value(json_object_get(r.json, "phoneNumber")), "+254722111222");
    long long uid = json_integer_value(json_object_get(r.json, "id"));
    h_free(&r);
    r = h_json_admin(&h_main, "POST", "/users", "{\"phoneNumber\":\"254722111222\"}");
    ck_assert_int_eq(r.status, 409);
    h_free(&r);
    r = h_json_admin(&h_main, "GET", "/users?phone=722111222", NULL);
    ck_assert_int_eq(r.status, 200);
    ck_assert_int_eq(json_integer_value(json_object_get(r.json, "id")), uid);
    h_free(&r);
    h_meter(&h_main, "E2E020", "e2edev020", "Kiosk");
    char path[128], body[128];
    snprintf(path, sizeof path, "/devices/E2E020/assign");
    snprintf(body, sizeof body, "{\"userId\":\"%lld\"}", uid);
    r = h_json_admin(&h_main, "POST", path, body);
    ck_assert_int_eq(r.status, 200);
    ck_assert_str_eq(json_string_value(json_object_get(r.json, "meterId")), "E2E020");
    h_free(&r);
    snprintf(path, sizeof path, "/meter-user/is-assigned?meterId=E2E020&userId=%lld", uid);
    r = h_json_admin(&h_main, "GET", path, NULL);
    ck_assert(json_is_true(json_object_get(r.json, "isAssigned")));
    h_free(&r);
    snprintf(path, sizeof path, "/meter-user/user/%lld/meters", uid);
    r = h_json_admin(&h_main, "GET", path, NULL);
    ck_assert_int_eq(json_array_size(r.json), 1);
    ck_assert_str_eq(json_string_value(json_object_get(json_array_get(r.json, 0), "id")), "E2E020");
    h_free(&r);
    r = h_json_admin(&h_main, "GET", "/meter-user/meter/E2E020/users", NULL);
    ck_assert_int_eq(json_array_size(r.json), 1);
    h_free(&r);
    r = h_json_admin(&h_main, "GET", "/devices/E2E020", NULL);
    ck_assert_int_eq(r.status, 200);
    ck_assert(json_is_true(json_object_get(json_object_get(r.json, "device"), "online")));
    h_free(&r);
    r = h_json_admin(&h_main, "GET", "/devices/NOPE", NULL);
    ck_assert_int_eq(r.status, 404);
    ck_assert_str_eq(json_string_value(json_object_get(r.json, "error")), "device_not_found");
    h_free(&r);
    snprintf(body, sizeof body, "{\"meterId\":\"E2E020\",\"userId\":%lld,\"isAssigned\":false}", uid);
    r = h_json_admin(&h_main, "POST", "/meter-user/unassign", body);
    ck_assert_int_eq(r.status, 200);
    h_free(&r);
    snprintf(path, sizeof path, "/meter-user/is-assigned?meterId=E2E020&userId=%lld", uid);
    r = h_json_admin(&h_main, "GET", path, NULL);
    ck_assert(json_is_false(json_object_get(r.json, "isAssigned")));
    h_free(&r);
    /* generate-assignments: a device with an owner phone gets its owner */
    r = h_json_admin(&h_main, "POST", "/devices", "{\"id\":\"E2E021\",\"deviceId\":\"e2edev021\",\"ownerPhone\":\"0733999001\"}");
    ck_assert_int_eq(r.status, 201);
    h_free(&r);
    r = h_json_admin(&h_main, "POST", "/meter-user/generate-assignments", NULL);
    ck_assert_int_eq(r.status, 200);
    ck_assert_int_ge(json_integer_value(json_object_get(r.json, "assignmentsCreated")), 1);
    h_free(&r);
    r = h_json_admin(&h_main, "GET", "/users?phone=0733999001", NULL);
    ck_assert_int_eq(r.status, 200);
    h_free(&r);
}
END_TEST

START_TEST(rest_payment_with_status)
{
    const char *phone = "+254711000011";
    long long uid = caller(phone, "E2E011", "e2edev011", "en");
    char body[256];
    snprintf(body, sizeof body, "{\"amount\":150.0,\"phoneNumber\":\"0711000011\",\"meterId\":\"E2E011\",\"userId\":%lld}", uid);
    struct http_result r = h_json_admin(&h_main, "POST", "/mpesa/payment", body);
    ck_assert_msg(r.status == 200, "%ld %s", r.status, r.body);
    ck_assert_str_eq(json_string_value(json_object_get(r.json, "message")), "STK push sent");
    char path[160];
    snprintf(path, sizeof path, "/mpesa/status/%s", json_string_value(json_object_get(r.json, "checkoutRequestId")));
    h_free(&r);
    const char *st = "";
    for (int i = 0; i < 200; i++, h_sleep_ms(100)) {
        r = h_req(h_main.port, "GET", path, NULL, NULL, 0, NULL);
        ck_assert_int_eq(r.status, 200);
        if (!strcmp(json_string_value(json_object_get(r.json, "status")), "completed")) {
            st = "completed";
            h_free(&r);
            break;
        }
        h_free(&r);
    }
    ck_assert_str_eq(st, "completed");
    json_t *sms = h_wait_sms(phone, 1, 10000);
    ck_assert_int_eq(json_array_size(sms), 1);
    json_decref(sms);
    /* a client retrying with the same Idempotency-Key gets the same
     * payment back, and the caller is asked to pay once */
    snprintf(body, sizeof body, "{\"amount\":200,\"phoneNumber\":\"0711000011\",\"meterId\":\"E2E011\",\"userId\":%lld}", uid);
    char ids[2][64];
    for (int k = 0; k < 2; k++) {
        r = h_req_h(h_main.port, "POST", "/mpesa/payment", "application/json", body, 0, ADMIN_KEY,
                    "Idempotency-Key: rest-retry-1");
        ck_assert_msg(r.status == 200, "try %d: %ld %s", k, r.status, r.body);
        snprintf(ids[k], sizeof ids[k], "%s", json_string_value(json_object_get(r.json, "checkoutRequestId")));
        h_free(&r);
    }
    ck_assert_str_eq(ids[0], ids[1]);
    ck_assert_int_eq(purchases_of(phone), 2);
    sms = h_wait_sms(phone, 2, 10000);
    h_sleep_ms(1000);
    json_decref(sms);
    sms = h_sms(phone);
    ck_assert_int_eq(json_array_size(sms), 2);
    json_decref(sms);
}
END_TEST

/* M-Pesa answers 5xx: a REST purchase is answered at once, queued, not
 * when its wait for the push runs out (15 s in these tests); the push is
 * retried in the background and goes through once M-Pesa is back. */
START_TEST(rest_payment_queued_while_mpesa_fails)
{
    const char *phone = "+254711000031";
    long long uid = caller(phone, "E2E031", "e2edev031", "en");
    struct http_result r = h_req(h_sandbox_port, "POST", "/sandbox/fail", "application/json",
                                 "{\"service\":\"daraja\",\"count\":1000,\"status\":503}", 0, NULL);
    ck_assert_int_eq(r.status, 200);
    h_free(&r);
    char body[256];
    snprintf(body, sizeof body, "{\"amount\":100,\"phoneNumber\":\"0711000031\",\"meterId\":\"E2E031\",\"userId\":%lld}",
             uid);
    /* a client that gives up after 5 s */
    r = h_req_within(5000, h_main.port, "POST", "/mpesa/payment", "application/json", body, 0, ADMIN_KEY, NULL);
    /* M-Pesa is back: the push has 6 attempts, over 6 s here */
    struct http_result back = h_req(h_sandbox_port, "POST", "/sandbox/reset", "application/json", "{}", 0, NULL);
    ck_assert_int_eq(back.status, 200);
    h_free(&back);
    ck_assert_msg(r.status == 202, "queued while M-Pesa fails (0: no answer within 5 s): %ld %s", r.status, r.body);
    ck_assert(json_is_true(json_object_get(r.json, "success")));
    ck_assert_str_eq(json_string_value(json_object_get(r.json, "message")), "STK push queued");
    ck_assert(json_is_null(json_object_get(r.json, "checkoutRequestId")));
    ck_assert(json_is_null(json_object_get(r.json, "merchantRequestId")));
    long long id = (long long)json_integer_value(json_object_get(r.json, "mpesaTransactionId"));
    ck_assert_int_gt(id, 0);
    h_free(&r);
    /* retried until M-Pesa takes it, paid, credited */
    json_t *p = h_wait_payment(&h_main, phone, "completed", 30000);
    ck_assert_msg(p && !strcmp(json_string_value(json_object_get(p, "status")), "completed"), "the push went through");
    ck_assert_int_eq(json_integer_value(json_object_get(p, "id")), id);
    json_decref(p);
    char cmd[600];
    snprintf(cmd, sizeof cmd, "grep -q 'mpesa.push_retry payment=%lld ' %s", id, h_main.log);
    ck_assert_msg(system(cmd) == 0, "payment %lld was retried", id);
    json_t *sms = h_wait_sms(phone, 1, 10000);
    ck_assert_int_eq(json_array_size(sms), 1);
    json_decref(sms);
}
END_TEST

/* The admin's Idempotency-Key is bound to the payment it made: the same
 * key with another amount or meter is refused naming the key, and makes
 * no second purchase; a malformed key is refused too. */
START_TEST(rest_key_bound_to_its_payment)
{
    const char *phone = "+254711000016";
    long long uid = caller(phone, "E2E016", "e2edev016", "en");
    char body[256];
    snprintf(body, sizeof body, "{\"amount\":100,\"phoneNumber\":\"0711000016\",\"meterId\":\"E2E016\",\"userId\":%lld}",
             uid);
    struct http_result r = h_req_h(h_main.port, "POST", "/mpesa/payment", "application/json", body, 0, ADMIN_KEY,
                                   "Idempotency-Key: admin-key-16");
    ck_assert_msg(r.status == 200, "%ld %s", r.status, r.body);
    h_free(&r);
    snprintf(body, sizeof body, "{\"amount\":300,\"phoneNumber\":\"0711000016\",\"meterId\":\"E2E016\",\"userId\":%lld}",
             uid);
    r = h_req_h(h_main.port, "POST", "/mpesa/payment", "application/json", body, 0, ADMIN_KEY,
                "Idempotency-Key: admin-key-16");
    ck_assert_msg(r.status == 422, "%ld %s", r.status, r.body);
    ck_assert_str_eq(json_string_value(json_object_get(r.json, "error")), "IDEMPOTENCY_KEY_REUSED");
    ck_assert_msg(strstr(json_string_value(json_object_get(r.json, "message")), "Idempotency-Key"), "%s", r.body);
    ck_assert_ptr_null(json_object_get(r.json, "checkoutRequestId"));
    h_free(&r);
    r = h_req_h(h_main.port, "POST", "/mpesa/payment", "application/json", body, 0, ADMIN_KEY,
                "Idempotency-Key: admin key 16");
    ck_assert_msg(r.status == 400 && strstr(r.body, "Idempotency-Key"), "%ld %s", r.status, r.body);
    h_free(&r);
    ck_assert_int_eq(purchases_of(phone), 1);
}
END_TEST

/* Whether obj (a device or a payment) shows any of the personal fields. */
static bool shows_personal(json_t *obj)
{
    const char *keys[] = {"ownerPhone", "location", "phoneNumber", "userId", "meterId", "mpesaReceiptNumber"};
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++)
        if (json_object_get(obj, keys[i]))
            return true;
    return false;
}

/* Without the admin key, the public reads show no one's personal data: a
 * device's owner number and location, a payment's payer, user, meter and
 * receipt. With the key, the same reads show them. */
START_TEST(public_reads_hide_personal_data)
{
    const char *phone = "+254711000017";
    caller(phone, "E2E017", "e2edev017", "en");
    struct http_result r = h_json_admin(&h_main, "PUT", "/devices/E2E017",
                                        "{\"ownerPhone\":\"0733999017\",\"location\":\"Plot 17, Kisumu\"}");
    ck_assert_msg(r.status == 200 && !strcmp(json_string_value(json_object_get(r.json, "ownerPhone")), "+254733999017"),
                  "%ld %.300s", r.status, r.body);
    h_free(&r);

    r = h_req(h_main.port, "GET", "/devices", NULL, NULL, 0, NULL);
    ck_assert_int_eq(r.status, 200);
    ck_assert_msg(strstr(r.body, "E2E017") && !strstr(r.body, "733999017") && !strstr(r.body, "Plot 17"), "%.300s", r.body);
    json_t *it;
    size_t i;
    json_array_foreach(json_object_get(r.json, "devices"), i, it)
        ck_assert_msg(!shows_personal(it), "public list: %s", json_string_value(json_object_get(it, "id")));
    h_free(&r);
    r = h_req(h_main.port, "GET", "/devices/E2E017", NULL, NULL, 0, NULL);
    ck_assert_int_eq(r.status, 200);
    ck_assert_msg(!shows_personal(json_object_get(r.json, "device")) && !strstr(r.body, "733999017") &&
                  !strstr(r.body, "Plot 17"), "%.300s", r.body);
    h_free(&r);
    const char *reads[] = {"/devices/E2E017/balance", "/devices/E2E017/usage"};
    for (int k = 0; k < 2; k++) {
        r = h_req(h_main.port, "GET", reads[k], NULL, NULL, 0, NULL);
        ck_assert_msg(r.status == 200 && !strstr(r.body, "733999017") && !strstr(r.body, "711000017"), "%s: %.300s",
                      reads[k], r.body);
        h_free(&r);
    }
    r = h_json_admin(&h_main, "GET", "/devices/E2E017", NULL);
    json_t *dev = json_object_get(r.json, "device");
    ck_assert_str_eq(json_string_value(json_object_get(dev, "ownerPhone")), "+254733999017");
    ck_assert_str_eq(json_string_value(json_object_get(dev, "location")), "Plot 17, Kisumu");
    h_free(&r);
    r = h_json_admin(&h_main, "GET", "/devices", NULL);
    ck_assert_msg(strstr(r.body, "+254733999017") && strstr(r.body, "Plot 17"), "admin list: %.300s", r.body);
    h_free(&r);

    free(buy("s-pub-1", phone, "100"));
    json_t *p = h_wait_payment(&h_main, phone, "completed", 20000);
    ck_assert_ptr_nonnull(p);
    char path[160];
    snprintf(path, sizeof path, "/mpesa/status/%s", json_string_value(json_object_get(p, "checkoutRequestId")));
    char receipt[32];
    str_copy(receipt, sizeof receipt, json_string_value(json_object_get(p, "mpesaReceiptNumber")));
    json_decref(p);
    r = h_req(h_main.port, "GET", path, NULL, NULL, 0, NULL);
    ck_assert_int_eq(r.status, 200);
    ck_assert_str_eq(json_string_value(json_object_get(r.json, "status")), "completed");
    ck_assert_int_eq(json_integer_value(json_object_get(r.json, "amount")), 100);
    ck_assert_msg(!shows_personal(r.json) && !strstr(r.body, "711000017") && !strstr(r.body, receipt), "%.300s", r.body);
    h_free(&r);
    r = h_req(h_main.port, "GET", path, NULL, NULL, 0, ADMIN_KEY);
    ck_assert_str_eq(json_string_value(json_object_get(r.json, "phoneNumber")), phone);
    ck_assert_str_eq(json_string_value(json_object_get(r.json, "meterId")), "E2E017");
    h_free(&r);
}
END_TEST

/* A lipad of the test's own (restarted or killed by it), on h_main.port +
 * offset with a fresh database in build/e2e/NAME-PID (into dir); the
 * helpers talk to h_main, so it stands in for h_main until
 * own_lipad_end(saved). */
static struct lipad *own_lipad(int offset, const char *name, char *dir, size_t dirsz)
{
    struct lipad l;
    h_dir_fresh(dir, dirsz, name);
    ck_assert(h_lipad_start(&l, h_main.port + offset, dir, NULL));
    struct lipad *saved = malloc(sizeof *saved);
    ck_assert_ptr_nonnull(saved);
    *saved = h_main;
    h_main = l;
    return saved;
}

static void own_lipad_end(struct lipad *saved)
{
    ck_assert_int_eq(h_lipad_stop(&h_main, SIGTERM), 0);
    h_main = *saved;
    free(saved);
}

/* On PostgreSQL nothing is kept outside the database, so the confirming
 * hop is answered after the commit: when the database refuses the purchase
 * (here a trigger that raises, standing in for a database that fails),
 * the caller is told something went wrong, never to enter their PIN; no
 * purchase and no prompt follow, and a repeat of that hop gets the same
 * answer. Once the database takes writes again, dialling again buys,
 * once. */
START_TEST(store_refusal_on_pg_is_try_again)
{
    const char *phone = "+254716000091";
    caller(phone, "E2E6091", "e2edev6091", "en");
    ck_assert(h_sql(&h_main, "CREATE FUNCTION refuse_payment() RETURNS trigger AS $$ BEGIN "
                             "RAISE EXCEPTION 'refused'; END $$ LANGUAGE plpgsql; "
                             "CREATE TRIGGER refuse_payment BEFORE INSERT ON payments FOR EACH ROW "
                             "WHEN (NEW.phone = '+254716000091') EXECUTE FUNCTION refuse_payment();"));
    char *e = buy("s-pg-refused-1", phone, "100");
    ck_assert_msg(e && !strncmp(e, "END ", 4) && !strstr(e, "PIN") && strstr(e, "went wrong"), "refused: %s",
                  e ? e : "");
    char *again = h_ussd(&h_main, "s-pg-refused-1", phone, "1*1*100*1");
    ck_assert_str_eq(again, e);
    free(again);
    free(e);
    h_sleep_ms(500);
    ck_assert_int_eq(purchases_of(phone), 0);
    ck_assert(h_sql(&h_main, "DROP TRIGGER refuse_payment ON payments; DROP FUNCTION refuse_payment();"));
    e = buy("s-pg-refused-2", phone, "100");
    ck_assert_msg(e && strstr(e, "PIN"), "told to pay: %s", e ? e : "");
    free(e);
    json_t *p = h_wait_payment(&h_main, phone, "completed", 20000);
    ck_assert_msg(p && json_integer_value(json_object_get(p, "amount")) == 100, "the purchase completes");
    json_decref(p);
    ck_assert_int_eq(purchases_of(phone), 1);
}
END_TEST

/* lipad is killed after telling the caller to enter their PIN but before
 * the purchase reached the database (a trigger holds it back, so the
 * moment is not left to chance): the next start finds it in the intake and
 * the purchase goes through, once. */
START_TEST(killed_before_purchase_in_database)
{
    char dir[128];
    struct lipad *saved = own_lipad(53, "intake", dir, sizeof dir);
    int port = h_main.port;
    const char *phone = "+254711000093";
    caller(phone, "E2E093", "e2edev093", "en");
    ck_assert(h_sql(&h_main, "CREATE TRIGGER refuse_payment BEFORE INSERT ON payments "
                             "BEGIN SELECT json('refused'); END;"));
    char *e = buy("s-intake-1", phone, "200");
    ck_assert_msg(e && strstr(e, "PIN"), "told to pay: %s", e ? e : "");
    free(e);
    h_sleep_ms(200);
    ck_assert_int_eq(purchases_of(phone), 0);
    h_lipad_stop(&h_main, SIGKILL);
    ck_assert(h_sql(&h_main, "DROP TRIGGER refuse_payment;"));
    ck_assert(h_lipad_start(&h_main, port, dir, NULL));
    json_t *p = h_wait_payment(&h_main, phone, "completed", 20000);
    ck_assert_msg(p && json_integer_value(json_object_get(p, "amount")) == 200, "the purchase completes after the restart");
    json_decref(p);
    json_t *sms = h_wait_sms(phone, 1, 10000);
    ck_assert_msg(json_array_size(sms) == 1 && has_token(sms_text(sms, 0)), "token after restart");
    json_decref(sms);
    ck_assert_int_eq(purchases_of(phone), 1);
    ck_assert_int_eq(h_lipad_stop(&h_main, SIGTERM), 0);
    /* a clean start again: the intake holds nothing more to store */
    ck_assert(h_lipad_start(&h_main, port, dir, NULL));
    h_sleep_ms(300);
    ck_assert_int_eq(purchases_of(phone), 1);
    own_lipad_end(saved);
}
END_TEST

/* lipad killed while the customer pays: the callback finds nobody home;
 * after a restart the purchase is settled by STK query. */
START_TEST(killed_midway_settles_after_restart)
{
    char dir[128];
    struct lipad *saved = own_lipad(50, "restart", dir, sizeof dir);
    int port = h_main.port;
    const char *phone = "+254711000012";
    caller(phone, "E2E012", "e2edev012", "en");
    free(buy("s-kill-1", phone, "300"));
    json_t *p = h_wait_payment(&h_main, phone, "processing", 10000);
    ck_assert_ptr_nonnull(p);
    json_decref(p);
    h_lipad_stop(&h_main, SIGKILL);
    h_sleep_ms(1500); /* the sandbox's callback fails meanwhile */
    ck_assert(h_lipad_start(&h_main, port, dir, NULL));
    p = h_wait_payment(&h_main, phone, "completed", 20000);
    ck_assert_ptr_nonnull(p);
    ck_assert_str_eq(json_string_value(json_object_get(p, "status")), "completed");
    json_decref(p);
    json_t *sms = h_wait_sms(phone, 1, 10000);
    ck_assert_msg(json_array_size(sms) == 1 && has_token(sms_text(sms, 0)), "token after restart");
    json_decref(sms);
    own_lipad_end(saved);
}
END_TEST

/* M-Pesa never says how it ended (no callback, every query fails): after
 * LIPA_PAYMENT_TIMEOUT the purchase is timeout and the caller is told. */
START_TEST(no_result_times_out)
{
    struct lipad l;
    char dir[128];
    h_dir_fresh(dir, sizeof dir, "timeout");
    const char *extra[] = {"LIPA_PAYMENT_TIMEOUT=10", "LIPA_SETTLE_AFTER=1", NULL};
    ck_assert(h_lipad_start(&l, h_main.port + 52, dir, extra));
    struct lipad saved = h_main;
    h_main = l;
    const char *phone = "+254711000015";
    caller(phone, "E2E015", "e2edev015", "en");
    free(buy("s-tmo-1", phone, "107")); /* the sandbox never calls back for ...7 */
    json_t *p = h_wait_payment(&h_main, phone, "processing", 10000);
    ck_assert_ptr_nonnull(p);
    json_decref(p);
    struct http_result r = h_req(h_sandbox_port, "POST", "/sandbox/fail", "application/json",
                                 "{\"service\":\"daraja\",\"count\":1000,\"status\":503}", 0, NULL);
    ck_assert_int_eq(r.status, 200);
    h_free(&r);
    p = h_wait_payment(&h_main, phone, "timeout", 30000);
    r = h_req(h_sandbox_port, "POST", "/sandbox/reset", "application/json", "{}", 0, NULL);
    h_free(&r);
    ck_assert_ptr_nonnull(p);
    ck_assert_str_eq(json_string_value(json_object_get(p, "status")), "timeout");
    json_decref(p);
    json_t *sms = h_wait_sms(phone, 1, 10000);
    ck_assert_msg(json_array_size(sms) == 1 && strstr(sms_text(sms, 0), "timed out"), "timeout notice");
    json_decref(sms);
    ck_assert_int_eq(h_lipad_stop(&h_main, SIGTERM), 0);
    h_main = saved;
}
END_TEST

/* A success callback that does not say what was paid completes nothing:
 * the purchase stays open and is settled by STK query, M-Pesa's answer to
 * lipa's own question. This lipad's callback address leads nowhere, so
 * the sandbox's real callback never arrives, and it would wait 600 s
 * before querying on its own. */
START_TEST(success_callback_without_amount_settled_by_query)
{
    struct lipad l;
    char dir[128], nowhere[80];
    h_dir_fresh(dir, sizeof dir, "noamount");
    snprintf(nowhere, sizeof nowhere, "LIPA_PUBLIC_URL=http://127.0.0.1:%d", h_main.port + 55);
    const char *extra[] = {nowhere, "LIPA_SETTLE_AFTER=600", NULL};
    ck_assert(h_lipad_start(&l, h_main.port + 54, dir, extra));
    struct lipad saved = h_main;
    h_main = l;
    const char *phone = "+254711000018";
    caller(phone, "E2E018", "e2edev018", "en");
    free(buy("s-noamt-1", phone, "100"));
    json_t *p = h_wait_payment(&h_main, phone, "processing", 10000);
    ck_assert_ptr_nonnull(p);
    char body[512];
    snprintf(body, sizeof body,
             "{\"Body\":{\"stkCallback\":{\"MerchantRequestID\":\"%s\",\"CheckoutRequestID\":\"%s\","
             "\"ResultCode\":0,\"ResultDesc\":\"Paid, no amount given\"}}}",
             json_string_value(json_object_get(p, "merchantRequestId")),
             json_string_value(json_object_get(p, "checkoutRequestId")));
    json_decref(p);
    h_sleep_ms(1000); /* the customer has answered; the sandbox's callback went nowhere */
    struct http_result r = h_req(h_main.port, "POST", "/mpesa/callback?secret=" CB_SECRET, "application/json", body,
                                 0, NULL);
    ck_assert_msg(r.status == 200, "recorded: %ld %s", r.status, r.body);
    h_free(&r);
    p = h_wait_payment(&h_main, phone, "completed", 15000);
    ck_assert_ptr_nonnull(p);
    ck_assert_str_eq(json_string_value(json_object_get(p, "status")), "completed");
    ck_assert_msg(strcmp(json_string_value(json_object_get(p, "resultDesc")), "Paid, no amount given"),
                  "completed by the callback, not the query");
    ck_assert_msg(strstr(json_string_value(json_object_get(p, "lastError")), "without its amount"), "why: %s",
                  json_string_value(json_object_get(p, "lastError")));
    json_decref(p);
    char cmd[800];
    snprintf(cmd, sizeof cmd, "grep -q 'mpesa.callback_without_amount payment=' %s && grep -q 'mpesa.settled_by_query' %s",
             h_main.log, h_main.log);
    ck_assert_msg(system(cmd) == 0, "the log says why and how it was settled");
    json_t *sms = h_wait_sms(phone, 1, 10000);
    ck_assert_msg(json_array_size(sms) == 1 && has_token(sms_text(sms, 0)), "token after the query");
    json_decref(sms);
    ck_assert_int_eq(h_lipad_stop(&h_main, SIGTERM), 0);
    h_main = saved;
}
END_TEST

/* A number in lipad's /metrics text, -1 when missing. */
static long long metric(struct lipad *l, const char *name)
{
    struct http_result m = h_req(l->port, "GET", "/metrics", NULL, NULL, 0, NULL);
    char key[96];
    snprintf(key, sizeof key, "\n%s ", name);
    const char *at = m.status == 200 && m.body ? strstr(m.body, key) : NULL;
    long long v = at ? strtoll(at + strlen(key), NULL, 10) : -1;
    h_free(&m);
    return v;
}

/* A flood of sessions and callers far over the memory caps: lipad holds no
 * more than its caps, and a caller whose session and profile were pushed
 * out in the meantime goes on where they were (the session is rebuilt from
 * AT's text, the profile read again) and buys once. */
START_TEST(memory_caps_hold_and_sessions_go_on)
{
    struct lipad l;
    char dir[128];
    h_dir_fresh(dir, sizeof dir, "caps");
    const char *extra[] = {"LIPA_SESSIONS_MAX=64", "LIPA_CALLERS_MAX=64", NULL};
    ck_assert(h_lipad_start(&l, h_main.port + 57, dir, extra));
    struct lipad saved = h_main;
    h_main = l;
    const char *phone = "+254711000057";
    caller(phone, "E2E057", "e2edev057", "en");
    char *a = h_ussd(&h_main, "s-caps-1", phone, "");
    free(a);
    char *b = h_ussd(&h_main, "s-caps-1", phone, "1");
    ck_assert_msg(strstr(b, "Home"), "meter list: %s", b);
    free(b);
    /* one session a stripe: 1 000 others leave this one's out with odds of
     * a million to one (fixed ids, so the same every run) */
    char sid[32], other[24];
    for (int i = 0; i < 1000; i++) {
        snprintf(sid, sizeof sid, "s-caps-flood-%d", i);
        snprintf(other, sizeof other, "+2547120%05d", i);
        free(h_ussd(&h_main, sid, other, ""));
    }
    long long sessions = metric(&h_main, "lipa_ussd_sessions_held"), callers = metric(&h_main, "lipa_callers_held");
    ck_assert_msg(sessions >= 32 && sessions <= 64, "sessions held: %lld", sessions);
    ck_assert_msg(callers >= 32 && callers <= 64, "callers held: %lld", callers);
    ck_assert_int_ge(metric(&h_main, "lipa_ussd_sessions_dropped_total"), 1001 - 64);
    ck_assert_int_ge(metric(&h_main, "lipa_callers_dropped_total"), 1001 - 64);
    char *c = h_ussd(&h_main, "s-caps-1", phone, "1*1");
    ck_assert_msg(!strncmp(c, "CON ", 4) && strstr(c, "Meter: Home") && strstr(c, "amount"), "the amount prompt: %s", c);
    free(c);
    char *d = h_ussd(&h_main, "s-caps-1", phone, "1*1*100");
    ck_assert_msg(strstr(d, "100") && strstr(d, "4.0"), "confirm shows amount and kWh: %s", d);
    free(d);
    char *e = h_ussd(&h_main, "s-caps-1", phone, "1*1*100*1");
    ck_assert_msg(!strncmp(e, "END ", 4) && strstr(e, "PIN"), "%s", e);
    free(e);
    json_t *p = h_wait_payment(&h_main, phone, "completed", 20000);
    ck_assert_msg(p && json_integer_value(json_object_get(p, "amount")) == 100, "bought");
    json_decref(p);
    ck_assert_int_eq(purchases_of(phone), 1);
    ck_assert_int_eq(h_lipad_stop(&h_main, SIGTERM), 0);
    h_main = saved;
}
END_TEST

/* An admin's broken menu edit is refused on SIGHUP; callers keep the old set. */
START_TEST(bad_menu_reload_keeps_serving)
{
    struct lipad l;
    char dir[128], menus[160], cmd[512], env[200];
    h_dir_fresh(dir, sizeof dir, "hup");
    snprintf(menus, sizeof menus, "%s/menus", dir);
    snprintf(cmd, sizeof cmd, "cp -r menus %s", menus);
    ck_assert_int_eq(system(cmd), 0);
    snprintf(env, sizeof env, "LIPA_MENUS=%s", menus);
    const char *extra[] = {env, NULL};
    ck_assert(h_lipad_start(&l, h_main.port + 51, dir, extra));
    snprintf(cmd, sizeof cmd, "printf 'screens:\\n  broken:\\n    kind: menu\\n    text: {en: Hi}\\n' > %s/zz-broken.yaml", menus);
    ck_assert_int_eq(system(cmd), 0);
    kill(l.pid, SIGHUP);
    h_sleep_ms(500);
    char *a = h_ussd(&l, "s-hup-1", "+254711000013", "");
    ck_assert_msg(!strncmp(a, "CON ", 4) && strstr(a, "Buy electricity"), "old menus still serve: %s", a);
    free(a);
    snprintf(cmd, sizeof cmd, "grep -q ' ERROR menus.problem file=[^ ]*/zz-broken.yaml line=[0-9]* what=\"' %s", l.log);
    ck_assert_msg(system(cmd) == 0, "the refusal names file and line in the log");
    snprintf(cmd, sizeof cmd, "grep -q ' ERROR menus.refused dir=[^ ]* count=[1-9][0-9]*$' %s", l.log);
    ck_assert_msg(system(cmd) == 0, "the refusal counts its problems");
    /* every line of the log is an event line: nothing free-form */
    snprintf(cmd, sizeof cmd, "grep -qvE '^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:.]{12}Z [A-Z]+ [a-z0-9_]+\\.[a-z0-9_]+ ' %s", l.log);
    ck_assert_msg(system(cmd) != 0, "a line of %s is not an event line", l.log);
    ck_assert_int_eq(h_lipad_stop(&l, SIGTERM), 0);
}
END_TEST

/* ---------- the dialer (lipa-dial) ---------- */

/* Runs lipa-dial for phone with inputs (one per line); its output in out
 * (cut to outsz), the milliseconds it took; its exit status. */
static int dial(const char *phone, const char *inputs, char *out, size_t outsz, long long *ms)
{
    const char *bin = getenv("LIPA_TEST_BIN");
    char cmd[1024], outf[] = "/tmp/lipa-dial-XXXXXX";
    int fd = mkstemp(outf);
    ck_assert_int_ge(fd, 0);
    close(fd);
    snprintf(cmd, sizeof cmd,
             "printf '%s' | '%s/lipa-dial' --url http://127.0.0.1:%d --sandbox http://127.0.0.1:%d '%s' >'%s' 2>&1",
             inputs, bin && *bin ? bin : "bin", h_main.port, h_sandbox_port, phone, outf);
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    int st = system(cmd);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    *ms = (t1.tv_sec - t0.tv_sec) * 1000LL + (t1.tv_nsec - t0.tv_nsec) / 1000000;
    FILE *f = fopen(outf, "r");
    size_t n = f ? fread(out, 1, outsz - 1, f) : 0;
    out[n] = 0;
    if (f)
        fclose(f);
    unlink(outf);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* Every line of the dialer's boxes fits the box, and no word is split. */
static void box_lines_whole(const char *out, const char *const *words)
{
    for (const char *p = out; (p = strstr(p, "\n| ")); p++) {
        const char *e = strchr(p + 1, '\n');
        int chars = 0;
        for (const char *q = p + 1; q < (e ? e : p + strlen(p)); q++)
            chars += ((unsigned char)*q & 0xC0) != 0x80;
        ck_assert_msg(chars == 42, "a box line of %d characters: %.*s", chars, (int)(e ? e - p : 60), p);
    }
    for (int i = 0; words[i]; i++)
        ck_assert_msg(strstr(out, words[i]), "a word split across lines (%s):\n%s", words[i], out);
}

START_TEST(dialer_waits_only_for_a_promised_sms)
{
    const char *phone = "+254711000189";
    long long uid = h_user(&h_main, phone, "en");
    h_meter(&h_main, "E2E189", "e2edev189", "Nyumba A");
    h_assign(&h_main, uid, "E2E189");
    static char out[16384];
    long long ms;
    /* My meters: names with the numbers receipts use */
    ck_assert_int_eq(dial(phone, "3\n", out, sizeof out, &ms), 0);
    ck_assert_msg(strstr(out, "- Nyumba A E2E189"), "%s", out);
    /* a last screen that promises no SMS: the dialer ends at once */
    ck_assert_int_eq(dial(phone, "1\n1\n100\n2\n", out, sizeof out, &ms), 0);
    ck_assert_msg(strstr(out, "Purchase cancelled.") && !strstr(out, "waiting"), "%s", out);
    ck_assert_msg(ms < 5000, "took %lld ms after a screen that promised no SMS", ms);
    /* a purchase: it waits for the token SMS and stops when it has come */
    ck_assert_int_eq(dial(phone, "1\n1\n100\n1\n", out, sizeof out, &ms), 0);
    ck_assert_msg(strstr(out, "[SMS from") && strstr(out, "Token"), "%s", out);
    ck_assert_msg(ms < 15000, "took %lld ms: it waited past the SMS", ms);
    box_lines_whole(out, (const char *const[]){"M-Pesa", "prompt", "electricity", NULL});
}
END_TEST

Suite *suite_journeys(void)
{
    Suite *s = suite_create("journeys");
    TCase *t = tcase_create("journeys");
    tcase_set_timeout(t, 90);
    tcase_add_test(t, key_path_buys_and_texts_token);
    tcase_add_test(t, swahili_caller_gets_swahili);
    tcase_add_test(t, repeated_hop_charges_once);
    tcase_add_test(t, confirms_answered_once_stored);
    if (!h_on_pg()) /* the intake is SQLite's */
        tcase_add_test(t, store_refusal_after_confirm_is_stored_later);
    else
        tcase_add_test(t, store_refusal_on_pg_is_try_again);
    tcase_add_test(t, swahili_caller_told_in_swahili_when_things_fail);
    tcase_add_test(t, second_purchase_waits_for_the_first_prompt);
    tcase_add_test(t, lost_session_rebuilt_from_text);
    tcase_add_test(t, rebuilt_session_replays_empty_inputs);
    tcase_add_test(t, cancelled_payment_texts_and_no_topup);
    tcase_add_test(t, insufficient_funds_fails);
    tcase_add_test(t, no_callback_settled_by_query);
    tcase_add_test(t, duplicate_callback_changes_nothing);
    tcase_add_test(t, providers_down_then_back);
    tcase_add_test(t, malformed_and_forged_callbacks);
    tcase_add_test(t, success_callback_without_amount_settled_by_query);
    tcase_add_test(t, unassigned_and_unknown_callers);
    tcase_add_test(t, bad_requests_are_named);
    tcase_add_test(t, ussd_end_of_session_recorded_once);
    tcase_add_test(t, users_devices_assignments_api);
    tcase_add_test(t, rest_payment_with_status);
    tcase_add_test(t, rest_payment_queued_while_mpesa_fails);
    tcase_add_test(t, rest_key_bound_to_its_payment);
    tcase_add_test(t, public_reads_hide_personal_data);
    tcase_add_test(t, killed_midway_settles_after_restart);
    if (!h_on_pg())
        tcase_add_test(t, killed_before_purchase_in_database);
    tcase_add_test(t, bad_menu_reload_keeps_serving);
    tcase_add_test(t, no_result_times_out);
    tcase_add_test(t, memory_caps_hold_and_sessions_go_on);
    tcase_add_test(t, dialer_waits_only_for_a_promised_sms);
    suite_add_tcase(s, t);
    /* hops against AT's text, and the ids a hop carries */
    TCase *h = tcase_create("hops");
    tcase_set_timeout(h, 90);
    tcase_add_test(h, late_hop_changes_nothing);
    tcase_add_test(h, late_hop_runs_no_action);
    tcase_add_test(h, hop_not_next_is_rebuilt_from_text);
    tcase_add_test(h, long_session_ids_keep_purchases_apart);
    tcase_add_test(h, longest_ids_usable_everywhere);
    tcase_add_test(h, meters_beyond_what_a_caller_can_use_refused);
    suite_add_tcase(s, h);
    return s;
}

int main(void)
{
    /* below Linux's ephemeral ports (32768 up), which outgoing connections
     * take: a test lipad at base + 72 once found its port so taken */
    int base = 20000 + (int)(getpid() % 12000);
    h_sandbox_start(base + 1, 300);
    char dir[128];
    h_dir_fresh(dir, sizeof dir, "main");
    if (!h_lipad_start(&h_main, base, dir, NULL)) {
        fprintf(stderr, "e2e: lipad did not start (see %s/lipad.log)\n", dir);
        h_sandbox_stop();
        return 1;
    }
    SRunner *sr = srunner_create(suite_journeys());
    srunner_add_suite(sr, suite_water());
    srunner_add_suite(sr, suite_resume());
    srunner_add_suite(sr, suite_clients());
    srunner_add_suite(sr, suite_integrators());
    srunner_add_suite(sr, suite_charges());
    srunner_add_suite(sr, suite_sms());
    srunner_add_suite(sr, suite_hardening());
    srunner_add_suite(sr, suite_startup());
    srunner_add_suite(sr, suite_topups());
    srunner_add_suite(sr, suite_paystack());
    srunner_add_suite(sr, suite_cluster());
    srunner_add_suite(sr, suite_migrate());
    srunner_add_suite(sr, suite_shared_token());
    srunner_add_suite(sr, suite_metrics());
    srunner_add_suite(sr, suite_backup());
    srunner_add_suite(sr, suite_devices());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    int rc = h_lipad_stop(&h_main, SIGTERM);
    if (rc != 0) {
        fprintf(stderr, "e2e: lipad exited %d on SIGTERM (sanitizer report? see %s/lipad.log)\n", rc, dir);
        failed++;
    }
    h_sandbox_stop();
    return failed ? 1 : 0;
}
