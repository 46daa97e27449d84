/* End-to-end: texting commands, the outbox and delivery reports, against
 * the real lipad and the sandbox's Africa's Talking. A customer texts the
 * shortcode (POST /api/sms/inbound, as AT does) and what they notice is
 * the SMS the sandbox receives; an operator notices GET /api/sms/messages.
 * Phone numbers +25471400xxxx and meters 714xxxxxxxx are this suite's
 * only; extra lipad instances use ports h_main.port + 70..72. */
#include "harness.h"

#include "util/form.h"
#include "util/httpc.h"
#include "util/str.h"

#include <check.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* ---------- helpers ---------- */

/* Texts the shortcode as phone (AT's inbound callback); returns lipad's
 * HTTP status. id must be unique unless a repeat is meant. */
static long text_as(struct lipad *l, const char *id, const char *phone, const char *text)
{
    char *p = form_encode(phone), *t = form_encode(text), *i = form_encode(id);
    size_t n = strlen(t) + 512;
    char *body = malloc(n);
    snprintf(body, n, "from=%s&to=40404&text=%s&date=2026-11-24%%2010%%3A00%%3A00&id=%s&linkId="
             "&networkCode=99999", p, t, i);
    free(p), free(t), free(i);
    struct http_result r =
        h_req(l->port, "POST", "/api/sms/inbound", "application/x-www-form-urlencoded", body, 0, NULL);
    free(body);
    long st = r.status;
    h_free(&r);
    return st;
}

static const char *sms_text(json_t *arr, size_t i)
{
    const char *t = json_string_value(json_object_get(json_array_get(arr, i), "message"));
    return t ? t : "";
}

/* Texts and waits for the answer (the phone's SMS number `nth`, from 1);
 * returns it (malloc'ed). */
static char *ask(const char *id, const char *phone, const char *text, size_t nth)
{
    ck_assert_int_eq(text_as(&h_main, id, phone, text), 200);
    json_t *all = h_wait_sms(phone, nth, 10000);
    ck_assert_msg(json_array_size(all) >= nth, "no answer to '%s' (%zu SMS)", text, json_array_size(all));
    char *out = strdup(sms_text(all, nth - 1));
    json_decref(all);
    return out;
}

static void answer_has(const char *id, const char *phone, const char *text, size_t nth, const char *want)
{
    char *a = ask(id, phone, text, nth);
    ck_assert_msg(strstr(a, want) != NULL, "'%s' answered \"%s\"; want \"%s\"", text, a, want);
    free(a);
}

static size_t sms_count(const char *phone)
{
    json_t *all = h_sms(phone);
    size_t n = json_array_size(all);
    json_decref(all);
    return n;
}

/* GET /api/sms/messages?phone=..[&status=..] on l (admin); new ref. */
static json_t *messages(struct lipad *l, const char *phone, const char *extra)
{
    char path[256];
    char *p = form_encode(phone);
    snprintf(path, sizeof path, "/api/sms/messages?phone=%s%s", p, extra ? extra : "");
    free(p);
    struct http_result r = h_json_admin(l, "GET", path, NULL);
    ck_assert_msg(r.status == 200, "messages: %ld %s", r.status, r.body);
    json_t *d = json_incref(json_object_get(r.json, "data"));
    h_free(&r);
    return d;
}

/* Waits until the newest message of phone has status; returns it (new ref). */
static json_t *wait_message(struct lipad *l, const char *phone, const char *status, int ms)
{
    for (int waited = 0;; waited += 100) {
        json_t *d = messages(l, phone, "&limit=1");
        json_t *m = json_array_get(json_object_get(d, "messages"), 0);
        const char *st = json_string_value(json_object_get(m, "status"));
        if ((st && !strcmp(st, status)) || waited >= ms) {
            json_incref(m);
            json_decref(d);
            ck_assert_msg(st && !strcmp(st, status), "message of %s is %s, want %s", phone, st ? st : "(none)",
                          status);
            return m;
        }
        json_decref(d);
        h_sleep_ms(100);
    }
}

static void sandbox_post(const char *path, const char *json)
{
    struct http_result r = h_req(h_sandbox_port, "POST", path, "application/json", json, 0, NULL);
    ck_assert_msg(r.status == 200, "%s: %ld %s", path, r.status, r.body);
    h_free(&r);
}

static void behaviour(const char *phone, const char *rule)
{
    char body[512];
    snprintf(body, sizeof body, "{\"phone\":\"%s\",%s}", phone, rule);
    sandbox_post("/sandbox/sms/behaviour", body);
}

/* The sandbox posts a delivery report for the newest SMS of phone. */
static void report_newest(struct lipad *l, const char *phone, const char *status, const char *reason)
{
    json_t *all = h_sms(phone);
    json_t *newest = json_array_get(all, json_array_size(all) - 1);
    const char *mid = json_string_value(json_object_get(newest, "messageId"));
    ck_assert_ptr_nonnull(mid);
    char path[160], body[400];
    snprintf(path, sizeof path, "/sandbox/sms/%s/report", mid);
    snprintf(body, sizeof body,
             "{\"status\":\"%s\",\"failureReason\":\"%s\",\"url\":\"http://127.0.0.1:%d/api/sms/delivery-reports\"}",
             status, reason ? reason : "", l->port);
    struct http_result r = h_req(h_sandbox_port, "POST", path, "application/json", body, 0, NULL);
    ck_assert_msg(r.status == 200 && json_integer_value(json_object_get(r.json, "callbackStatus")) == 200,
                  "report: %ld %s", r.status, r.body);
    h_free(&r);
    json_decref(all);
}

static void notice(struct lipad *l, const char *phone, const char *text, long want)
{
    char body[600];
    snprintf(body, sizeof body, "{\"phoneNumber\":\"%s\",\"message\":\"%s\"}", phone, text);
    struct http_result r = h_json_admin(l, "POST", "/api/sms/messages", body);
    ck_assert_msg(r.status == want, "notice: %ld %s", r.status, r.body);
    h_free(&r);
}

/* The 20 digits after "prefix" in text, grouped as sent. */
static bool token_after(const char *text, const char *prefix, char out[25])
{
    const char *t = strstr(text, prefix);
    if (!t)
        return false;
    t += strlen(prefix);
    for (int i = 0; i < 24; i++)
        if (!((i % 5 == 4) ? t[i] == ' ' : (t[i] >= '0' && t[i] <= '9')))
            return false;
    memcpy(out, t, 24);
    out[24] = 0;
    return true;
}

static int stk_count(const char *phone)
{
    char path[128];
    char *p = form_encode(phone);
    snprintf(path, sizeof path, "/sandbox/stk?phone=%s", p);
    free(p);
    struct http_result r = h_req(h_sandbox_port, "GET", path, NULL, NULL, 0, NULL);
    int n = (int)json_array_size(json_object_get(r.json, "stk"));
    h_free(&r);
    return n;
}

/* ---------- every command, both languages ---------- */

START_TEST(every_command_in_english)
{
    const char *ph = "+254714000101";
    long long uid = h_user(&h_main, ph, "en");
    h_meter(&h_main, "71410100001", "sms-dev-101a", "Nyumba A");
    h_meter(&h_main, "71410100002", "sms-dev-101b", "Duka");
    h_assign(&h_main, uid, "71410100001");
    h_assign(&h_main, uid, "71410100002");
    size_t n = 0;
    /* two meters and none named: which one? */
    char *a = ask("en-1", ph, "BAL", ++n);
    ck_assert_msg(strstr(a, "Which meter?") && strstr(a, "1. Nyumba A (71410100001)") &&
                      strstr(a, "2. Duka (71410100002)"), "%s", a);
    free(a);
    answer_has("en-2", ph, "bal 2", ++n, "Meter 71410100002 (Duka) has 0.0 kWh left.");
    /* BUY: the STK push, then the token SMS as by USSD */
    answer_has("en-3", ph, "Buy Nyumba A 100", ++n,
               "approve the M-Pesa request of KES 100 for meter 71410100001 (Nyumba A), 4.0 kWh");
    json_t *p = h_wait_payment(&h_main, ph, "completed", 15000);
    ck_assert_ptr_nonnull(p);
    ck_assert_str_eq(json_string_value(json_object_get(p, "meterId")), "71410100001");
    json_decref(p);
    json_t *all = h_wait_sms(ph, ++n, 10000);
    char receipt_token[25], resent[25];
    ck_assert_msg(token_after(sms_text(all, n - 1), "Token: ", receipt_token), "receipt: %s", sms_text(all, n - 1));
    json_decref(all);
    for (int i = 0; i < 100 && h_balance("sms-dev-101a") != 400; i++)
        h_sleep_ms(100);
    answer_has("en-4", ph, "BAL 1", ++n, "Meter 71410100001 (Nyumba A) has 4.0 kWh left.");
    answer_has("en-5", ph, "bal. 71410100001", ++n, "has 4.0 kWh left.");
    a = ask("en-6", ph, "my meters", ++n);
    ck_assert_msg(strstr(a, "Your meters (2):") && strstr(a, "1. Nyumba A (71410100001)\n2. Duka (71410100002)"),
                  "%s", a);
    free(a);
    /* TOKEN: the same token again */
    a = ask("en-7", ph, "token", ++n);
    ck_assert_msg(strstr(a, "Your last token for meter 71410100001 (Nyumba A), 4.0 kWh, KES 100"), "%s", a);
    ck_assert_msg(token_after(a, ": ", resent) || (strrchr(a, ':') && token_after(strrchr(a, ':'), ": ", resent)),
                  "%s", a);
    ck_assert_str_eq(resent, receipt_token);
    free(a);
    answer_has("en-8", ph, "TOKEN Duka", ++n, "No token yet");
    answer_has("en-9", ph, "help", ++n, "Text BAL for balance");
    /* WATER: the STK push for 20 litres at KES 5 */
    int pushes = stk_count(ph);
    answer_has("en-10", ph, "water 20L", ++n, "approve the M-Pesa request of KES 100 for 20 litres of water");
    /* the payment worker pushes; the reply may go out first */
    for (int i = 0; i < 100 && stk_count(ph) < pushes + 1; i++)
        h_sleep_ms(50);
    ck_assert_int_eq(stk_count(ph), pushes + 1);
    all = h_wait_sms(ph, n + 1, 10000); /* the water code follows the payment */
    ck_assert_uint_eq(json_array_size(all), n + 1);
    n = json_array_size(all);
    json_decref(all);
    answer_has("en-11", ph, "WATER 1", ++n, "Water is sold for KES 10 to 10000");
    answer_has("en-12", ph, "stop", ++n, "You will get no more notices");
    answer_has("en-13", ph, "start", ++n, "Notices from lipa are on again");
}
END_TEST

START_TEST(every_command_in_swahili)
{
    const char *ph = "+254714000102";
    long long uid = h_user(&h_main, ph, "sw");
    h_meter(&h_main, "71410200001", "sms-dev-102", "Duka Kuu");
    h_assign(&h_main, uid, "71410200001");
    size_t n = 0;
    /* one meter: it may be left out */
    answer_has("sw-1", ph, "SALIO", ++n, "Mita 71410200001 (Duka Kuu) ina kWh 0.0 zilizobaki.");
    answer_has("sw-2", ph, "nunua 50", ++n,
               "kubali ombi la M-Pesa la KES 50 kwa mita 71410200001 (Duka Kuu), kWh 2.0");
    json_t *p = h_wait_payment(&h_main, ph, "completed", 15000);
    ck_assert_ptr_nonnull(p);
    json_decref(p);
    json_t *all = h_wait_sms(ph, ++n, 10000);
    char receipt_token[25], resent[25];
    ck_assert_msg(token_after(sms_text(all, n - 1), "Tokeni: ", receipt_token), "%s", sms_text(all, n - 1));
    json_decref(all);
    answer_has("sw-3", ph, "mita", ++n, "Mita zako (1):\n1. Duka Kuu (71410200001)");
    char *a = ask("sw-4", ph, "RISITI", ++n);
    ck_assert_msg(strstr(a, "Tokeni yako ya mwisho ya mita 71410200001 (Duka Kuu), kWh 2.0, KES 50"), "%s", a);
    ck_assert_msg(strrchr(a, ':') && token_after(strrchr(a, ':'), ": ", resent), "%s", a);
    ck_assert_str_eq(resent, receipt_token);
    free(a);
    answer_has("sw-5", ph, "msaada", ++n, "Tuma SALIO kwa salio");
    answer_has("sw-6", ph, "maji 20 lita", ++n, "kubali ombi la M-Pesa la KES 100 kwa lita 20 za maji");
    all = h_wait_sms(ph, n + 1, 10000); /* the water code */
    ck_assert_uint_eq(json_array_size(all), n + 1);
    n = json_array_size(all);
    json_decref(all);
    answer_has("sw-7", ph, "MAJI 1", ++n, "Maji huuzwa kwa KES 10 hadi 10000");
    answer_has("sw-8", ph, "nunua 1 100000", ++n, "Kiasi kiwe kati ya KES 1 na 10000");
    answer_has("sw-9", ph, "acha", ++n, "Hutapokea tena matangazo");
    answer_has("sw-10", ph, "anza", ++n, "Matangazo ya lipa yamerudi");
    /* an English keyword from a Swahili speaker: the answer in their language */
    answer_has("sw-11", ph, "BAL", ++n, "Mita 71410200001 (Duka Kuu) ina kWh");
    answer_has("sw-12", ph, "habari yako", ++n, "Tuma SALIO kwa salio");
}
END_TEST

/* ---------- AT retrying its callback ---------- */

START_TEST(repeated_inbound_id_does_nothing_twice)
{
    const char *ph = "+254714000103";
    long long uid = h_user(&h_main, ph, "en");
    h_meter(&h_main, "71410300001", "sms-dev-103", "Home");
    h_assign(&h_main, uid, "71410300001");
    for (int i = 0; i < 3; i++) {
        char *p = form_encode(ph);
        char body[300];
        snprintf(body, sizeof body, "from=%s&to=40404&text=BUY%%20200&id=rep-buy-1", p);
        free(p);
        struct http_result r = h_req(h_main.port, "POST", "/api/sms/inbound", "application/x-www-form-urlencoded",
                                     body, 0, NULL);
        ck_assert_int_eq(r.status, 200);
        ck_assert(json_is_true(json_object_get(json_object_get(r.json, "data"), "duplicate")) == (i > 0));
        h_free(&r);
    }
    json_t *p = h_wait_payment(&h_main, ph, "completed", 15000);
    ck_assert_ptr_nonnull(p);
    json_decref(p);
    h_sleep_ms(1000);
    ck_assert_int_eq(stk_count(ph), 1);              /* one push */
    ck_assert_uint_eq(sms_count(ph), 2);             /* one answer, one receipt */
    /* the same text under a new id is a new message */
    ck_assert_int_eq(text_as(&h_main, "rep-help-1", ph, "help"), 200);
    ck_assert_int_eq(text_as(&h_main, "rep-help-1", ph, "help"), 200);
    ck_assert_int_eq(text_as(&h_main, "rep-help-2", ph, "help"), 200);
    json_t *all = h_wait_sms(ph, 4, 10000);
    ck_assert_uint_eq(json_array_size(all), 4);
    json_decref(all);
    h_sleep_ms(700);
    ck_assert_uint_eq(sms_count(ph), 4);
}
END_TEST

/* ---------- who may do what ---------- */

START_TEST(unknown_number_is_told_how_to_register)
{
    const char *ph = "+254714000199";
    answer_has("unk-1", ph, "BAL", 1, "This number is not registered");
    answer_has("unk-2", ph, "SALIO", 2, "Nambari hii haijasajiliwa"); /* the language they texted in */
    answer_has("unk-3", ph, "nunua 1 100", 3, "Nambari hii haijasajiliwa");
    answer_has("unk-4", ph, "hello there", 4, "This number is not registered");
    answer_has("unk-5", ph, "HELP", 5, "Text BAL for balance");
    answer_has("unk-6", ph, "STOP", 6, "You will get no more notices"); /* opting out needs no account */
    ck_assert_int_eq(stk_count(ph), 0);
    /* water needs no account either (the water face sells to any number) */
    answer_has("unk-6b", ph, "maji 20L", 7, "kubali ombi la M-Pesa la KES 100 kwa lita 20 za maji");
    for (int i = 0; i < 100 && stk_count(ph) < 1; i++) /* the worker pushes; the reply may go first */
        h_sleep_ms(50);
    ck_assert_int_eq(stk_count(ph), 1);
    /* a sender that is no Kenyan mobile: stored, nobody answered */
    ck_assert_int_eq(text_as(&h_main, "unk-7", "+447700900123", "BAL"), 200);
    ck_assert_int_eq(text_as(&h_main, "unk-8", "ACME", "BAL"), 200);
    h_sleep_ms(500);
    char cmd[400];
    snprintf(cmd, sizeof cmd, "test $(grep -c 'sms.inbound_ignored.*reason=not_kenyan_mobile' %s) -ge 2", h_main.log);
    ck_assert_msg(system(cmd) == 0, "foreign senders are stored and not answered");
}
END_TEST

START_TEST(someone_elses_meter_is_refused)
{
    const char *owner = "+254714000104", *other = "+254714000105";
    long long u1 = h_user(&h_main, owner, "en");
    long long u2 = h_user(&h_main, other, "en");
    h_meter(&h_main, "71410400001", "sms-dev-104", "Owner Home");
    h_meter(&h_main, "71410500001", "sms-dev-105", "Mine");
    h_assign(&h_main, u1, "71410400001");
    h_assign(&h_main, u2, "71410500001");
    answer_has("oth-1", other, "BAL 71410400001", 1, "Meter 71410400001 is not on your account.");
    answer_has("oth-2", other, "buy 71410400001 100", 2, "Meter 71410400001 is not on your account.");
    answer_has("oth-3", other, "bal owner home", 3, "Meter OWNER HOME is not on your account.");
    /* a meter that does not exist gets the same words */
    answer_has("oth-4", other, "BAL 71499999999", 4, "Meter 71499999999 is not on your account.");
    answer_has("oth-5", other, "TOKEN 71410400001", 5, "is not on your account");
    answer_has("oth-6", other, "BUY 2 100", 6, "Meter 2 is not on your account."); /* one meter: no 2nd */
    ck_assert_int_eq(stk_count(other), 0);
    ck_assert_uint_eq(sms_count(owner), 0);
    /* their own meter by position, name or number */
    answer_has("oth-7", other, "bal 1", 7, "Meter 71410500001 (Mine) has");
    answer_has("oth-8", other, "bal mine", 8, "Meter 71410500001 (Mine) has");
}
END_TEST

/* ---------- unknown and hostile text ---------- */

START_TEST(unknown_and_hostile_text)
{
    const char *ph = "+254714000106";
    long long uid = h_user(&h_main, ph, "en");
    h_meter(&h_main, "71410600001", "sms-dev-106", "Home");
    h_assign(&h_main, uid, "71410600001");
    size_t n = 0;
    answer_has("hos-1", ph, "what is this", ++n, "Text BAL for balance");
    /* very long: no command, help */
    char *big = malloc(20001);
    memset(big, 'B', 20000);
    big[20000] = 0;
    answer_has("hos-2", ph, big, ++n, "Text BAL for balance");
    memcpy(big, "BAL ", 4);
    answer_has("hos-3", ph, big, ++n, "Text BAL for balance");
    free(big);
    /* binary and broken UTF-8 */
    char *p = form_encode(ph);
    char body[600];
    snprintf(body, sizeof body, "from=%s&text=%%01%%02%%FF%%FE%%C0BAL%%1B%%7F&id=hos-4", p);
    free(p);
    struct http_result r =
        h_req(h_main.port, "POST", "/api/sms/inbound", "application/x-www-form-urlencoded", body, 0, NULL);
    ck_assert_int_eq(r.status, 200);
    h_free(&r);
    json_t *all = h_wait_sms(ph, ++n, 10000);
    ck_assert_msg(strstr(sms_text(all, n - 1), "Meter 71410600001 (Home) has"), "%s", sms_text(all, n - 1));
    json_decref(all);
    /* unicode: emoji and look-alike letters are no command (from another
     * number: one sender gets LIPA_SMS_UNKNOWN_REPLIES such answers a day) */
    const char *ph2 = "+254714000186";
    h_user(&h_main, ph2, "en");
    answer_has("hos-5", ph2, "\xf0\x9f\x92\xa1\xf0\x9f\x92\xa1", 1, "Text BAL for balance");
    answer_has("hos-6", ph2, "\xd0\x92\xd0\x90L", 2, "Text BAL for balance");
    answer_has("hos-7", ph, "\xe2\x80\x9c" "bal" "\xe2\x80\x9d", ++n, "Meter 71410600001 (Home) has");
    /* SQL and format strings: refused as a meter name, echoed cut and tame */
    char *a = ask("hos-8", ph, "BAL 1'; DROP TABLE users; --", ++n);
    ck_assert_msg(strstr(a, "Meter 1 DROP TABLE USERS is not on your account."), "%s", a);
    free(a);
    a = ask("hos-9", ph, "bal %s%s%n%x {token} ${x}", ++n);
    ck_assert_msg(strstr(a, "Meter S S N X TOKEN X is not on") && !strchr(a, '{') && !strchr(a, '%'), "%s", a);
    free(a);
    a = ask("hos-10", ph, "BUY 1 100; DELETE FROM payments", ++n);
    ck_assert_msg(strstr(a, "Text BAL for balance"), "%s", a);
    free(a);
    /* the data is all still there */
    r = h_json_admin(&h_main, "GET", "/users?phone=%2B254714000106", NULL);
    ck_assert_int_eq(r.status, 200);
    h_free(&r);
    ck_assert_int_eq(stk_count(ph), 0);
    /* malformed callbacks: 400 naming the field; nothing stored */
    r = h_req(h_main.port, "POST", "/api/sms/inbound", "application/x-www-form-urlencoded", "from=%zz&id=x", 0, NULL);
    ck_assert_int_eq(r.status, 400);
    h_free(&r);
    r = h_req(h_main.port, "POST", "/api/sms/inbound", "application/x-www-form-urlencoded",
              "from=%2B254714000106&text=BAL", 0, NULL);
    ck_assert_msg(r.status == 400 && strstr(r.body, "id"), "%ld %s", r.status, r.body);
    h_free(&r);
    r = h_req(h_main.port, "POST", "/api/sms/inbound", "application/x-www-form-urlencoded", "id=hos-x&text=BAL", 0,
              NULL);
    ck_assert_msg(r.status == 400 && strstr(r.body, "from"), "%ld %s", r.status, r.body);
    h_free(&r);
    h_sleep_ms(300);
    ck_assert_uint_eq(sms_count(ph), n);
}
END_TEST

/* ---------- outbox: retries, giving up, reports ---------- */

START_TEST(retry_then_delivered)
{
    const char *ph = "+254714000107";
    h_user(&h_main, ph, "en");
    behaviour(ph, "\"statusCode\":500,\"count\":2"); /* AT InternalServerError twice */
    answer_has("rty-1", ph, "help", 1, "Text BAL");
    json_t *m = wait_message(&h_main, ph, "sent", 5000);
    ck_assert_int_eq(json_integer_value(json_object_get(m, "attempts")), 3);
    ck_assert_str_eq(json_string_value(json_object_get(m, "kind")), "answer");
    ck_assert_str_eq(json_string_value(json_object_get(m, "encoding")), "GSM-7");
    ck_assert_int_eq(json_integer_value(json_object_get(m, "parts")), 1); /* the help fits one part */
    json_decref(m);
    report_newest(&h_main, ph, "Buffered", NULL);
    m = wait_message(&h_main, ph, "sent", 2000);
    ck_assert_str_eq(json_string_value(json_object_get(m, "deliveryStatus")), "Buffered");
    json_decref(m);
    report_newest(&h_main, ph, "Success", NULL);
    m = wait_message(&h_main, ph, "delivered", 2000);
    ck_assert_str_eq(json_string_value(json_object_get(m, "deliveryStatus")), "Success");
    json_decref(m);
    /* HTTP 503 from AT twice, then through */
    behaviour(ph, "\"httpStatus\":503,\"count\":2");
    answer_has("rty-2", ph, "msaada", 2, "Text BAL");
    m = wait_message(&h_main, ph, "sent", 5000);
    ck_assert_int_eq(json_integer_value(json_object_get(m, "attempts")), 3);
    json_decref(m);
    /* a failed delivery keeps its reason */
    report_newest(&h_main, ph, "Failed", "UserInBlackList");
    m = wait_message(&h_main, ph, "failed", 2000);
    ck_assert_str_eq(json_string_value(json_object_get(m, "error")), "not delivered: UserInBlackList");
    json_decref(m);
}
END_TEST

START_TEST(refusal_gives_up_at_once)
{
    const char *ph = "+254714000108";
    h_user(&h_main, ph, "en");
    behaviour(ph, "\"statusCode\":406,\"count\":1"); /* UserInBlacklist */
    ck_assert_int_eq(text_as(&h_main, "ref-1", ph, "help"), 200);
    json_t *m = wait_message(&h_main, ph, "failed", 5000);
    ck_assert_int_eq(json_integer_value(json_object_get(m, "attempts")), 1);
    const char *err = json_string_value(json_object_get(m, "error"));
    ck_assert_msg(err && strstr(err, "406") && strstr(err, "UserInBlacklist"), "%s", err ? err : "-");
    json_decref(m);
    ck_assert_uint_eq(sms_count(ph), 0);
}
END_TEST

START_TEST(delivery_reports_callback)
{
    const char *ph = "+254714000109";
    h_user(&h_main, ph, "en");
    answer_has("dlr-1", ph, "start", 1, "Notices from lipa are on again");
    json_t *m = wait_message(&h_main, ph, "sent", 5000);
    const char *mid = json_string_value(json_object_get(m, "messageId"));
    ck_assert_ptr_nonnull(mid);
    char body[300];
    snprintf(body, sizeof body, "id=%s&status=Success&phoneNumber=%%2B254714000109&networkCode=63902&retryCount=0", mid);
    json_decref(m);
    struct http_result r = h_req(h_main.port, "POST", "/api/sms/delivery-reports", "application/x-www-form-urlencoded",
                                 body, 0, NULL);
    ck_assert_msg(r.status == 200 && json_is_true(json_object_get(json_object_get(r.json, "data"), "applied")), "%s",
                  r.body);
    h_free(&r);
    /* AT repeating the report: 200, nothing changes */
    r = h_req(h_main.port, "POST", "/api/sms/delivery-reports", "application/x-www-form-urlencoded", body, 0, NULL);
    ck_assert_msg(r.status == 200 && json_is_false(json_object_get(json_object_get(r.json, "data"), "applied")), "%s",
                  r.body);
    h_free(&r);
    m = wait_message(&h_main, ph, "delivered", 1000);
    json_decref(m);
    /* an unknown id: 200 (kept for later), a report without id or status: 400 */
    r = h_req(h_main.port, "POST", "/api/sms/delivery-reports", "application/x-www-form-urlencoded",
              "id=ATXid_nobody&status=Success", 0, NULL);
    ck_assert_int_eq(r.status, 200);
    h_free(&r);
    r = h_req(h_main.port, "POST", "/api/sms/delivery-reports", "application/x-www-form-urlencoded", "status=Success",
              0, NULL);
    ck_assert_int_eq(r.status, 400);
    h_free(&r);
    r = h_req(h_main.port, "POST", "/api/sms/delivery-reports", "application/x-www-form-urlencoded", "id=x", 0, NULL);
    ck_assert_int_eq(r.status, 400);
    h_free(&r);
    /* a report that overtakes the send (AT reports before lipad stored the
     * messageId): kept, then applied */
    char rule[200];
    snprintf(rule, sizeof rule, "\"report\":{\"status\":\"Success\",\"url\":\"http://127.0.0.1:%d/api/sms/delivery-reports\"}",
             h_main.port);
    behaviour(ph, rule);
    answer_has("dlr-2", ph, "help", 2, "Text BAL");
    m = wait_message(&h_main, ph, "delivered", 5000);
    json_decref(m);
}
END_TEST

START_TEST(stop_and_start_are_honoured)
{
    const char *ph = "+254714000110";
    h_user(&h_main, ph, "en");
    notice(&h_main, ph, "Power maintenance on Sunday 9-12.", 201);
    json_t *all = h_wait_sms(ph, 1, 5000);
    ck_assert_str_eq(sms_text(all, 0), "Power maintenance on Sunday 9-12.");
    json_decref(all);
    answer_has("stp-1", ph, "STOP", 2, "You will get no more notices");
    notice(&h_main, ph, "Second notice.", 201);
    json_t *m = wait_message(&h_main, ph, "failed", 5000);
    ck_assert_str_eq(json_string_value(json_object_get(m, "kind")), "notice");
    ck_assert_str_eq(json_string_value(json_object_get(m, "error")), "recipient opted out (STOP)");
    json_decref(m);
    /* answers still come */
    answer_has("stp-2", ph, "help", 3, "Text BAL");
    answer_has("stp-3", ph, "START", 4, "Notices from lipa are on again");
    notice(&h_main, ph, "Third notice.", 201);
    all = h_wait_sms(ph, 5, 5000);
    ck_assert_str_eq(sms_text(all, 4), "Third notice.");
    json_decref(all);
    ck_assert_uint_eq(sms_count(ph), 5);
    /* a notice with a placeholder or for a foreign number is refused */
    notice(&h_main, ph, "Your {token}", 400);
    notice(&h_main, "+4477009001", "Hi", 400);
}
END_TEST

START_TEST(messages_list_pages_and_filters)
{
    const char *ph = "+254714000111";
    h_user(&h_main, ph, "en");
    for (int i = 0; i < 3; i++) {
        char id[32];
        snprintf(id, sizeof id, "lst-%d", i);
        ck_assert_int_eq(text_as(&h_main, id, ph, "help"), 200);
    }
    json_decref(h_wait_sms(ph, 3, 10000));
    json_decref(wait_message(&h_main, ph, "sent", 3000));
    json_t *d = messages(&h_main, ph, "&limit=2&page=2");
    ck_assert_int_eq(json_integer_value(json_object_get(d, "total")), 3);
    ck_assert_int_eq(json_integer_value(json_object_get(d, "pages")), 2);
    ck_assert_uint_eq(json_array_size(json_object_get(d, "messages")), 1);
    json_decref(d);
    d = messages(&h_main, ph, "&status=failed");
    ck_assert_int_eq(json_integer_value(json_object_get(d, "total")), 0);
    json_decref(d);
    d = messages(&h_main, ph, "&status=sent");
    ck_assert_int_eq(json_integer_value(json_object_get(d, "total")), 3);
    json_t *first = json_array_get(json_object_get(d, "messages"), 0);
    ck_assert_str_eq(json_string_value(json_object_get(first, "phoneNumber")), ph);
    ck_assert(json_is_string(json_object_get(first, "messageId")));
    json_decref(d);
    struct http_result r = h_req(h_main.port, "GET", "/api/sms/messages", NULL, NULL, 0, NULL);
    ck_assert_int_eq(r.status, 401);
    h_free(&r);
    r = h_json_admin(&h_main, "GET", "/api/sms/messages?status=lost", NULL);
    ck_assert_msg(r.status == 400 && strstr(r.body, "status"), "%s", r.body);
    h_free(&r);
    r = h_json_admin(&h_main, "GET", "/api/sms/messages?phone=12", NULL);
    ck_assert_msg(r.status == 400 && strstr(r.body, "phone"), "%s", r.body);
    h_free(&r);
    r = h_json_admin(&h_main, "GET", "/api/sms/messages?limit=0", NULL);
    ck_assert_int_eq(r.status, 400);
    h_free(&r);
}
END_TEST

START_TEST(long_answers_stay_within_parts)
{
    const char *ph = "+254714000112";
    long long uid = h_user(&h_main, ph, "en");
    for (int i = 0; i < 14; i++) {
        char id[32], dev[32], name[48];
        snprintf(id, sizeof id, "714112000%02d", i);
        snprintf(dev, sizeof dev, "sms-dev-112-%02d", i);
        snprintf(name, sizeof name, "Plot %02d Riverside Court", i);
        h_meter(&h_main, id, dev, name);
        h_assign(&h_main, uid, id);
    }
    char *a = ask("lng-1", ph, "meters", 1);
    ck_assert_msg(strstr(a, "Your meters (14):") && !strcmp(a + strlen(a) - 3, "..."), "%s", a);
    ck_assert_uint_le(strlen(a), 3 * 153);
    free(a);
    json_t *m = wait_message(&h_main, ph, "sent", 3000);
    ck_assert_int_eq(json_integer_value(json_object_get(m, "parts")), 3); /* LIPA_SMS_MAX_PARTS default */
    json_decref(m);
    /* a notice that needs UCS-2 says so */
    notice(&h_main, ph, "Habari \xe2\x80\x94 karibu", 201);
    m = wait_message(&h_main, ph, "sent", 3000);
    ck_assert_str_eq(json_string_value(json_object_get(m, "encoding")), "UCS-2");
    json_decref(m);
}
END_TEST

/* ---------- with their own lipad ---------- */

static void own_lipad(struct lipad *l, int offset, const char *name, const char *const *extra)
{
    char dir[128], fresh[64];
    snprintf(fresh, sizeof fresh, "sms-%s", name);
    h_dir_fresh(dir, sizeof dir, fresh);
    ck_assert(h_lipad_start(l, h_main.port + offset, dir, extra));
}

/* Stops an own lipad at once: our kept-alive connection would hold its
 * graceful stop for the full grace period. */
static void stop_own(struct lipad *l)
{
    httpc_thread_done();
    ck_assert_int_eq(h_lipad_stop(l, SIGTERM), 0);
}

START_TEST(gives_up_after_retries_with_backoff)
{
    struct lipad l;
    const char *extra[] = {"LIPA_RETRY_BASE_MS=10", NULL};
    own_lipad(&l, 70, "giveup", extra);
    const char *ph = "+254714000113";
    behaviour(ph, "\"httpStatus\":503,\"count\":-1");
    int64_t t0 = now_ms();
    notice(&l, ph, "This will not get through.", 201);
    json_t *m = wait_message(&l, ph, "failed", 20000);
    int64_t took = now_ms() - t0;
    behaviour(ph, "\"count\":0");
    ck_assert_int_eq(json_integer_value(json_object_get(m, "attempts")), 10);
    const char *err = json_string_value(json_object_get(m, "error"));
    ck_assert_msg(err && strstr(err, "gave up after 10 attempts") && strstr(err, "503"), "%s", err ? err : "-");
    json_decref(m);
    /* delays 10, 20, 40 ... 2560 ms: about 5.1 s in all */
    ck_assert_msg(took >= 4500, "gave up after %lld ms: no backoff", (long long)took);
    ck_assert_uint_eq(sms_count(ph), 0);
    stop_own(&l);
}
END_TEST

static int64_t iso_ms(const char *iso)
{
    struct tm tm = {0};
    int ms = 0;
    if (!iso || sscanf(iso, "%d-%d-%dT%d:%d:%d.%dZ", &tm.tm_year, &tm.tm_mon, &tm.tm_mday, &tm.tm_hour, &tm.tm_min,
                       &tm.tm_sec, &ms) != 7)
        return 0;
    tm.tm_year -= 1900;
    tm.tm_mon -= 1;
    return (int64_t)timegm(&tm) * 1000 + ms;
}

START_TEST(send_rate_is_configurable)
{
    struct lipad l;
    const char *extra[] = {"LIPA_SMS_RATE=2", NULL};
    own_lipad(&l, 71, "rate", extra);
    const char *ph = "+254714000114";
    for (int i = 0; i < 6; i++)
        notice(&l, ph, "Rate test.", 201);
    json_t *all = h_wait_sms(ph, 6, 15000);
    ck_assert_uint_eq(json_array_size(all), 6);
    int64_t first = iso_ms(json_string_value(json_object_get(json_array_get(all, 0), "at")));
    int64_t last = iso_ms(json_string_value(json_object_get(json_array_get(all, 5), "at")));
    json_decref(all);
    /* two at once (a second's worth), then two a second: 4 more take 2 s */
    ck_assert_msg(last - first >= 1800, "6 SMS in %lld ms at 2 a second", (long long)(last - first));
    stop_own(&l);
}
END_TEST

START_TEST(commands_reload_on_sighup)
{
    struct lipad l;
    char dir[128], menus[160], cmd[600], env[200];
    h_dir_fresh(dir, sizeof dir, "sms-hup-menus"); /* own_lipad empties sms-hup */
    snprintf(menus, sizeof menus, "%s/menus", dir);
    snprintf(cmd, sizeof cmd, "cp -r menus %s", menus);
    ck_assert_int_eq(system(cmd), 0);
    snprintf(env, sizeof env, "LIPA_MENUS=%s", menus);
    const char *extra[] = {env, NULL};
    own_lipad(&l, 72, "hup", extra);
    const char *ph = "+254714000115";
    ck_assert_int_eq(text_as(&l, "hup-1", ph, "help"), 200);
    json_t *all = h_wait_sms(ph, 1, 5000);
    ck_assert_msg(strstr(sms_text(all, 0), "Text BAL for balance"), "%s", sms_text(all, 0));
    json_decref(all);
    /* an admin rewords the help */
    snprintf(cmd, sizeof cmd, "sed -i 's/lipa: Text BAL for balance/lipa: Send BAL for the balance/' %s/sms.yaml", menus);
    ck_assert_int_eq(system(cmd), 0);
    kill(l.pid, SIGHUP);
    h_sleep_ms(500);
    ck_assert_int_eq(text_as(&l, "hup-2", ph, "help"), 200);
    all = h_wait_sms(ph, 2, 5000);
    ck_assert_msg(strstr(sms_text(all, 1), "Send BAL for the balance"), "%s", sms_text(all, 1));
    json_decref(all);
    /* a broken edit (two commands that can match "STOP") is refused whole */
    snprintf(cmd, sizeof cmd, "sed -i \"s/sw: 'ACHA|SITISHA'/sw: 'ACHA|SITISHA|START'/; s/Send BAL for the balance/Broken/\" %s/sms.yaml",
             menus);
    ck_assert_int_eq(system(cmd), 0);
    kill(l.pid, SIGHUP);
    h_sleep_ms(500);
    ck_assert_int_eq(text_as(&l, "hup-3", ph, "help"), 200);
    all = h_wait_sms(ph, 3, 5000);
    ck_assert_msg(strstr(sms_text(all, 2), "Send BAL for the balance"), "old commands still serve: %s", sms_text(all, 2));
    json_decref(all);
    snprintf(cmd, sizeof cmd,
             "grep -q 'menus.problem file=[^ ]*/sms.yaml line=[0-9]* what=\"commands start and stop can match the same text' %s",
             l.log);
    ck_assert_msg(system(cmd) == 0, "the refusal names file:line in the log");
    /* both or neither: a good sms.yaml edit waits while the USSD menus have
     * a mistake, and lands with them once they are fixed */
    snprintf(cmd, sizeof cmd,
             "sed -i \"s/sw: 'ACHA|SITISHA|START'/sw: 'ACHA|SITISHA'/; s/Broken/Send BAL now/\" %s/sms.yaml && "
             "printf 'screens:\\n  broken:\\n    kind: menu\\n    text: {en: Hi}\\n' > %s/zz-broken.yaml",
             menus, menus);
    ck_assert_int_eq(system(cmd), 0);
    kill(l.pid, SIGHUP);
    snprintf(cmd, sizeof cmd, "grep -q 'menus.problem file=[^ ]*/zz-broken.yaml line=[0-9]* ' %s", l.log);
    for (int waited = 0; system(cmd) != 0 && waited < 5000; waited += 100)
        h_sleep_ms(100); /* the refusal is logged: the reload has run */
    ck_assert_msg(system(cmd) == 0, "the menu mistake refused the reload");
    ck_assert_int_eq(text_as(&l, "hup-4", ph, "help"), 200);
    all = h_wait_sms(ph, 4, 5000);
    ck_assert_msg(strstr(sms_text(all, 3), "Send BAL for the balance"), "refused with the menus: %s", sms_text(all, 3));
    json_decref(all);
    snprintf(cmd, sizeof cmd, "rm %s/zz-broken.yaml", menus);
    ck_assert_int_eq(system(cmd), 0);
    kill(l.pid, SIGHUP);
    h_sleep_ms(500);
    ck_assert_int_eq(text_as(&l, "hup-5", ph, "help"), 200);
    all = h_wait_sms(ph, 5, 5000);
    ck_assert_msg(strstr(sms_text(all, 4), "Send BAL now"), "landed with the fixed menus: %s", sms_text(all, 4));
    json_decref(all);
    stop_own(&l);
}
END_TEST

/* Replies that do nothing (help to unknown text, how to register) are
 * limited per sender: an autoresponder or a prankster costs a few SMS a
 * day, not one per text; a command is still answered. */
START_TEST(unknown_text_replies_are_limited_per_sender)
{
    const char *ph = "+254714000187"; /* no account */
    char id[32];
    for (int i = 1; i <= 5; i++) { /* LIPA_SMS_UNKNOWN_REPLIES: 5 */
        snprintf(id, sizeof id, "lim-%d", i);
        answer_has(id, ph, i % 2 ? "hello?" : "BAL", (size_t)i, "This number is not registered");
    }
    ck_assert_int_eq(text_as(&h_main, "lim-6", ph, "are you there"), 200);
    ck_assert_int_eq(text_as(&h_main, "lim-7", ph, "SALIO"), 200);
    /* a command still gets its answer; the two above none, ever */
    answer_has("lim-8", ph, "HELP", 6, "Text BAL for balance");
    h_sleep_ms(700);
    ck_assert_uint_eq(sms_count(ph), 6);
    char cmd[400];
    snprintf(cmd, sizeof cmd, "test $(grep -c 'sms.answered.*outcome=unanswered' %s) -ge 2", h_main.log);
    ck_assert_msg(system(cmd) == 0, "the unanswered texts are logged as such");
}
END_TEST

Suite *suite_sms(void)
{
    Suite *s = suite_create("sms");
    TCase *t = tcase_create("commands");
    tcase_set_timeout(t, 60);
    tcase_add_test(t, every_command_in_english);
    tcase_add_test(t, every_command_in_swahili);
    tcase_add_test(t, repeated_inbound_id_does_nothing_twice);
    tcase_add_test(t, unknown_number_is_told_how_to_register);
    tcase_add_test(t, someone_elses_meter_is_refused);
    tcase_add_test(t, unknown_and_hostile_text);
    tcase_add_test(t, unknown_text_replies_are_limited_per_sender);
    suite_add_tcase(s, t);
    t = tcase_create("outbox");
    tcase_set_timeout(t, 60);
    tcase_add_test(t, retry_then_delivered);
    tcase_add_test(t, refusal_gives_up_at_once);
    tcase_add_test(t, delivery_reports_callback);
    tcase_add_test(t, stop_and_start_are_honoured);
    tcase_add_test(t, messages_list_pages_and_filters);
    tcase_add_test(t, long_answers_stay_within_parts);
    tcase_add_test(t, gives_up_after_retries_with_backoff);
    tcase_add_test(t, send_rate_is_configurable);
    tcase_add_test(t, commands_reload_on_sighup);
    suite_add_tcase(s, t);
    return s;
}
