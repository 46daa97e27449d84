/* e2e paystack: lipa's Paystack client (src/pay/paystack.c) against the
 * sandbox's Paystack, the pair the integrator face's M-Pesa charges and
 * teacher payouts stand on: what the client sends, the sandbox takes; what
 * the sandbox answers, the client reads; a webhook the sandbox signs, the
 * client's signature check and event reader accept, and a forged one they
 * do not. Webhooks go to a small listener inside the test.
 *
 * Cases: a charge from prompt to settled, with its duplicate; a charge on
 * an initialized reference; a payout from bank code to reversed transfer,
 * with its duplicate and an unknown reference; and a sandbox of the test's
 * own (h_main.port + 80) that settles by itself: charges by amount (paid,
 * failed with charge.failed, abandoned with no event) and transfers. */
#include "harness.h"

#include "http/server.h"
#include "pay/paystack.h"
#include "util/str.h"

#include <check.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SECRET "sk_test_sandbox"
#define HOOKS_MAX 32
#define OWN_SANDBOX_OFFSET 80

/* ---- the webhook listener ---- */

struct hooks {
    pthread_mutex_t mu;
    int n;
    char *body[HOOKS_MAX];
    char *sig[HOOKS_MAX];        /* x-paystack-signature, NULL when absent */
};

static struct hooks hk;
static struct http_server *hk_srv;
static char hk_url[64];

static void h_hook(void *ctx, struct http_req *req, struct http_resp *resp)
{
    struct hooks *h = ctx;
    const char *sig = http_header(req, "x-paystack-signature");
    pthread_mutex_lock(&h->mu);
    if (h->n < HOOKS_MAX) {
        h->body[h->n] = strndup(req->body, req->body_len);
        h->sig[h->n] = sig ? strdup(sig) : NULL;
        h->n++;
    }
    pthread_mutex_unlock(&h->mu);
    http_resp_text(resp, 200, "text/plain", "ok");
}

static const struct http_route hook_routes[] = {
    {"POST", "/hook", h_hook, 0, 0},
    {NULL, NULL, NULL, 0, 0},
};

/* Waits up to ms for the n-th webhook (1-based); its event, read and
 * checked against the signature (want_signed: a good one). */
static struct paystack_event wait_hook(int n, int ms, bool want_signed)
{
    struct paystack_event ev;
    char body[65536] = "", sig[200] = "";
    bool got = false, had_sig = false;
    for (int waited = 0; !got && waited <= ms; waited += 50) {
        pthread_mutex_lock(&hk.mu);
        if (hk.n >= n) {
            got = true;
            str_copy(body, sizeof body, hk.body[n - 1]);
            had_sig = hk.sig[n - 1] != NULL;
            str_copy(sig, sizeof sig, had_sig ? hk.sig[n - 1] : "");
        }
        pthread_mutex_unlock(&hk.mu);
        if (!got)
            h_sleep_ms(50);
    }
    ck_assert_msg(got, "webhook %d did not come within %d ms", n, ms);
    ck_assert_msg(paystack_signature_ok(SECRET, body, strlen(body), sig) == want_signed,
                  "webhook %d: signature %s", n, had_sig ? sig : "(none)");
    ck_assert_msg(paystack_event_parse(body, strlen(body), &ev), "webhook %d: %s", n, ev.error);
    return ev;
}

static int hooks_seen(void)
{
    pthread_mutex_lock(&hk.mu);
    int n = hk.n;
    pthread_mutex_unlock(&hk.mu);
    return n;
}

/* ---- fixture: a listener and a client of the shared sandbox ---- */

static struct paystack *ps;
static struct config cfg;
static char base[64];

static struct paystack *client_for(int port)
{
    snprintf(base, sizeof base, "http://127.0.0.1:%d", port);
    memset(&cfg, 0, sizeof cfg);
    cfg.paystack_url = base;
    cfg.paystack_secret = SECRET;
    cfg.http_timeout_ms = 5000;
    struct paystack *c = paystack_new(&cfg);
    ck_assert_ptr_nonnull(c);
    return c;
}

static void setup(void)
{
    memset(&hk, 0, sizeof hk);
    pthread_mutex_init(&hk.mu, NULL);
    struct http_server_opts o = {.port = 0, .threads = 2, .body_max = 1u << 20, .routes = hook_routes,
                                 .ctx = &hk, .loopback_only = true};
    hk_srv = http_server_start(&o);
    ck_assert_ptr_nonnull(hk_srv);
    snprintf(hk_url, sizeof hk_url, "http://127.0.0.1:%u/hook", http_server_port(hk_srv));
    ps = client_for(h_sandbox_port);
}

static void teardown(void)
{
    paystack_free(ps);
    ps = NULL;
    http_server_stop(hk_srv, 1000);
    for (int i = 0; i < hk.n; i++) {
        free(hk.body[i]);
        free(hk.sig[i]);
    }
    pthread_mutex_destroy(&hk.mu);
}

/* A reference no other run of the suite has used (the sandbox is shared). */
static void fresh_ref(char *out, size_t n, const char *prefix)
{
    static int seq;
    snprintf(out, n, "%s-%lld-%d", prefix, (long long)now_ms(), ++seq);
}

/* POST to a sandbox control endpoint; the answer's "status" (or the HTTP
 * status as text when it failed) into out. */
static long control(int port, const char *path, const char *body, char *out, size_t n)
{
    struct http_result r = h_req(port, "POST", path, "application/json", body, strlen(body), NULL);
    str_copy(out, n, json_string_value(json_object_get(r.json, "status")));
    long st = r.status;
    h_free(&r);
    return st;
}

/* ---- against the shared sandbox ---- */

START_TEST(charge_prompt_to_paid)
{
    char ref[64], body[512], st[32];
    fresh_ref(ref, sizeof ref, "ch");
    json_t *md = json_pack("{s:s}", "order", "ord-1");
    struct paystack_charge_res c;
    paystack_charge_mobile(ps, "parent@example.com", 25000, "KES", ref, "0712 000 801", NULL, md, &c);
    json_decref(md);
    ck_assert_msg(c.outcome == PAY_OK, "%s", c.message);
    ck_assert_str_eq(c.status, "pay_offline");
    ck_assert_str_eq(c.reference, ref);
    ck_assert_str_eq(c.display_text, "Please complete authorization process on your mobile phone");

    /* the prompt is out: nothing is settled yet */
    paystack_charge_check(ps, ref, &c);
    ck_assert_int_eq(c.outcome, PAY_OK);
    ck_assert_str_eq(c.status, "pending");
    struct paystack_verify_res v;
    paystack_verify(ps, ref, &v);
    ck_assert_int_eq(v.outcome, PAY_OK);
    ck_assert_str_eq(v.status, "pending");
    ck_assert_str_eq(v.channel, "mobile_money");

    /* a retry of the same charge is known to be the same */
    paystack_charge_mobile(ps, "parent@example.com", 25000, "KES", ref, "+254712000801", NULL, NULL, &c);
    ck_assert_int_eq(c.outcome, PAY_REJECT);
    ck_assert(c.duplicate);

    snprintf(body, sizeof body, "{\"reference\":\"%s\",\"outcome\":\"success\",\"webhook_url\":\"%s\"}", ref, hk_url);
    ck_assert_int_eq(control(h_sandbox_port, "/sandbox/paystack/pay", body, st, sizeof st), 200);
    struct paystack_event ev = wait_hook(1, 5000, true);
    ck_assert_int_eq(ev.kind, PAYSTACK_EV_CHARGE_SUCCESS);
    ck_assert_str_eq(ev.reference, ref);
    ck_assert_int_eq(ev.amount, 25000);
    ck_assert_str_eq(ev.currency, "KES");
    ck_assert_str_eq(ev.channel, "mobile_money");
    ck_assert(ev.paid_at[0] && ev.id[0]);

    paystack_charge_check(ps, ref, &c);
    ck_assert_str_eq(c.status, "success");
    ck_assert_int_eq(c.amount, 25000);
    paystack_verify(ps, ref, &v);
    ck_assert_str_eq(v.status, "success");
    ck_assert_int_eq(v.amount, 25000);
    ck_assert_str_eq(v.currency, "KES");

    /* the same event again (Paystack's retries), then a forged one */
    ck_assert_int_eq(control(h_sandbox_port, "/sandbox/paystack/pay", body, st, sizeof st), 200);
    ev = wait_hook(2, 5000, true);
    ck_assert_str_eq(ev.reference, ref);
    snprintf(body, sizeof body,
             "{\"reference\":\"%s\",\"outcome\":\"success\",\"webhook_url\":\"%s\",\"signature\":\"bad\"}", ref,
             hk_url);
    ck_assert_int_eq(control(h_sandbox_port, "/sandbox/paystack/pay", body, st, sizeof st), 200);
    wait_hook(3, 5000, false);
    /* a settled charge does not change */
    snprintf(body, sizeof body, "{\"reference\":\"%s\",\"outcome\":\"failed\"}", ref);
    ck_assert_int_eq(control(h_sandbox_port, "/sandbox/paystack/pay", body, st, sizeof st), 409);
}
END_TEST

START_TEST(charge_failed_and_refusals)
{
    char ref[64], body[512], st[32];
    fresh_ref(ref, sizeof ref, "cf");
    struct paystack_charge_res c;
    paystack_charge_mobile(ps, "parent@example.com", 5000, NULL, ref, "0110000802", "mpesa_offline", NULL, &c);
    ck_assert_msg(c.outcome == PAY_OK, "%s", c.message);
    ck_assert_str_eq(c.account_number, "4084333");
    ck_assert_uint_eq(strlen(c.account_reference), 7);

    snprintf(body, sizeof body, "{\"reference\":\"%s\",\"outcome\":\"failed\",\"webhook_url\":\"%s\"}", ref, hk_url);
    ck_assert_int_eq(control(h_sandbox_port, "/sandbox/paystack/pay", body, st, sizeof st), 200);
    struct paystack_event ev = wait_hook(1, 5000, true);
    ck_assert_int_eq(ev.kind, PAYSTACK_EV_CHARGE_FAILED);
    ck_assert_str_eq(ev.status, "failed");
    paystack_charge_check(ps, ref, &c);
    ck_assert_str_eq(c.status, "failed");
    ck_assert_str_eq(c.gateway_response, "Declined");

    /* what the sandbox refuses, as Paystack would */
    fresh_ref(ref, sizeof ref, "cr");
    paystack_charge_mobile(ps, "parent@example.com", 5000, "KES", ref, "0712000803", "mtn", NULL, &c);
    ck_assert_int_eq(c.outcome, PAY_REJECT);
    ck_assert_int_eq(c.http_status, 400);
    ck_assert(!c.duplicate);
    paystack_charge_mobile(ps, "parent@example.com", 5000, "NGN", ref, "0712000803", NULL, NULL, &c);
    ck_assert_int_eq(c.outcome, PAY_REJECT);
    paystack_charge_check(ps, ref, &c);
    ck_assert_int_eq(c.outcome, PAY_REJECT);
    ck_assert(c.not_found);
}
END_TEST

START_TEST(charge_on_initialized_reference)
{
    char ref[64];
    fresh_ref(ref, sizeof ref, "ini");
    struct paystack_init_res i;
    paystack_initialize(ps, "parent@example.com", 7000, "KES", ref, NULL, NULL, &i);
    ck_assert_msg(i.outcome == PAY_OK, "%s", i.message);
    struct paystack_charge_res c;
    paystack_charge_mobile(ps, "parent@example.com", 9000, "KES", ref, "0712000804", NULL, NULL, &c);
    ck_assert_int_eq(c.outcome, PAY_REJECT);
    ck_assert(!c.duplicate);
    paystack_charge_mobile(ps, "parent@example.com", 7000, "KES", ref, "0712000804", NULL, NULL, &c);
    ck_assert_msg(c.outcome == PAY_OK, "%s", c.message);
    ck_assert_str_eq(c.reference, ref);
    struct paystack_verify_res v;
    paystack_verify(ps, ref, &v);
    ck_assert_str_eq(v.status, "pending");
    /* charged once only */
    paystack_charge_mobile(ps, "parent@example.com", 7000, "KES", ref, "0712000804", NULL, NULL, &c);
    ck_assert(c.duplicate);
}
END_TEST

START_TEST(payout_to_reversal)
{
    char code[PAYSTACK_CODE_MAX], again[PAYSTACK_CODE_MAX], ref[64], body[512], st[32];
    ck_assert_int_eq(paystack_mobile_money_bank(ps, "M-PESA", code), PAY_OK);
    ck_assert_str_eq(code, "MPESA");
    struct paystack_recipient_res rr, rr2;
    paystack_recipient(ps, "Mwalimu Otieno", "+254712000805", code, NULL, &rr);
    ck_assert_msg(rr.outcome == PAY_OK, "%s", rr.message);
    /* the same wallet written otherwise is the same recipient */
    paystack_recipient(ps, "Mwalimu Otieno", "0712000805", code, "KES", &rr2);
    ck_assert_str_eq(rr.recipient_code, rr2.recipient_code);
    ck_assert_int_eq(paystack_mobile_money_bank(ps, "Airtel Money", again), PAY_OK);
    ck_assert_str_ne(again, code);

    snprintf(ref, sizeof ref, "esc-%lld-a", (long long)now_ms());
    struct paystack_transfer_res t;
    paystack_transfer(ps, 150000, rr.recipient_code, ref, "Lesson fees, week 3", &t);
    ck_assert_msg(t.outcome == PAY_OK, "%s", t.message);
    ck_assert_str_eq(t.status, "pending");
    ck_assert_msg(!strncmp(t.transfer_code, "TRF_", 4), "%s", t.transfer_code);
    ck_assert_int_eq(t.amount, 150000);
    /* a repeat pays nothing more */
    paystack_transfer(ps, 150000, rr.recipient_code, ref, "Lesson fees, week 3", &t);
    ck_assert_int_eq(t.outcome, PAY_REJECT);
    ck_assert(t.duplicate);
    paystack_transfer_verify(ps, ref, &t);
    ck_assert_int_eq(t.outcome, PAY_OK);
    ck_assert_str_eq(t.status, "pending");
    ck_assert_str_eq(t.recipient_code, rr.recipient_code);

    snprintf(body, sizeof body, "{\"reference\":\"%s\",\"outcome\":\"success\",\"webhook_url\":\"%s\"}", ref, hk_url);
    ck_assert_int_eq(control(h_sandbox_port, "/sandbox/paystack/transfer", body, st, sizeof st), 200);
    struct paystack_event ev = wait_hook(1, 5000, true);
    ck_assert_int_eq(ev.kind, PAYSTACK_EV_TRANSFER_SUCCESS);
    ck_assert_str_eq(ev.reference, ref);
    ck_assert_int_eq(ev.amount, 150000);
    ck_assert_msg(!strncmp(ev.transfer_code, "TRF_", 4), "%s", ev.transfer_code);
    ck_assert(ev.paid_at[0]);
    paystack_transfer_verify(ps, ref, &t);
    ck_assert_str_eq(t.status, "success");
    ck_assert(t.transferred_at[0]);

    snprintf(body, sizeof body, "{\"reference\":\"%s\",\"outcome\":\"reversed\",\"webhook_url\":\"%s\"}", ref, hk_url);
    ck_assert_int_eq(control(h_sandbox_port, "/sandbox/paystack/transfer", body, st, sizeof st), 200);
    ev = wait_hook(2, 5000, true);
    ck_assert_int_eq(ev.kind, PAYSTACK_EV_TRANSFER_REVERSED);
    paystack_transfer_verify(ps, ref, &t);
    ck_assert_str_eq(t.status, "reversed");
    ck_assert(t.gateway_response[0]);
    snprintf(body, sizeof body, "{\"reference\":\"%s\",\"outcome\":\"failed\"}", ref);
    ck_assert_int_eq(control(h_sandbox_port, "/sandbox/paystack/transfer", body, st, sizeof st), 409);

    /* never sent: safe to send under the same reference */
    snprintf(ref, sizeof ref, "esc-%lld-b", (long long)now_ms());
    paystack_transfer_verify(ps, ref, &t);
    ck_assert_int_eq(t.outcome, PAY_REJECT);
    ck_assert(t.not_found);
    paystack_transfer(ps, 150000, "RCP_unknown0000000", ref, NULL, &t);
    ck_assert_int_eq(t.outcome, PAY_REJECT);
    ck_assert(!t.duplicate);
    ck_assert_str_eq(t.message, "Recipient specified is invalid");
}
END_TEST

/* ---- a sandbox that settles by itself ---- */

START_TEST(settles_by_itself)
{
    char settle[] = "--paystack-settle-ms", ms[] = "300", hook[] = "--paystack-webhook";
    const char *args[] = {settle, ms, hook, hk_url, NULL};
    int port = h_main.port + OWN_SANDBOX_OFFSET;
    pid_t pid = h_sandbox_spawn(port, 300, args, "build/e2e/sandbox-settling.log");
    ck_assert(pid > 0);
    struct paystack *own = client_for(port);
    char paid[64], broke[64], silent[64], xref[64], code[PAYSTACK_CODE_MAX];
    struct paystack_charge_res c;
    fresh_ref(paid, sizeof paid, "auto-paid");
    fresh_ref(broke, sizeof broke, "auto-broke");
    fresh_ref(silent, sizeof silent, "auto-silent");
    /* KES 100 pays, KES 1 has no funds, KES 17 never answers */
    paystack_charge_mobile(own, "parent@example.com", 10000, "KES", paid, "0712000806", NULL, NULL, &c);
    ck_assert_int_eq(c.outcome, PAY_OK);
    paystack_charge_mobile(own, "parent@example.com", 100, "KES", broke, "0712000807", NULL, NULL, &c);
    ck_assert_int_eq(c.outcome, PAY_OK);
    paystack_charge_mobile(own, "parent@example.com", 1700, "KES", silent, "0712000808", NULL, NULL, &c);
    ck_assert_int_eq(c.outcome, PAY_OK);

    struct paystack_event ev = wait_hook(1, 10000, true);
    ck_assert_int_eq(ev.kind, PAYSTACK_EV_CHARGE_SUCCESS);
    ck_assert_str_eq(ev.reference, paid);
    ev = wait_hook(2, 10000, true);
    ck_assert_int_eq(ev.kind, PAYSTACK_EV_CHARGE_FAILED);
    ck_assert_str_eq(ev.reference, broke);
    ck_assert_str_eq(ev.gateway_response, "Insufficient funds");
    /* the unanswered prompt ends abandoned, with no event: only a check tells */
    for (int waited = 0; waited < 10000; waited += 100) {
        paystack_charge_check(own, silent, &c);
        if (strcmp(c.status, "pending"))
            break;
        h_sleep_ms(100);
    }
    ck_assert_str_eq(c.status, "abandoned");

    ck_assert_int_eq(paystack_mobile_money_bank(own, "mpesa", code), PAY_OK);
    struct paystack_recipient_res rr;
    paystack_recipient(own, "Mwalimu Achieng", "0712000809", code, NULL, &rr);
    ck_assert_int_eq(rr.outcome, PAY_OK);
    snprintf(xref, sizeof xref, "esc-%lld-auto", (long long)now_ms());
    struct paystack_transfer_res t;
    paystack_transfer(own, 50000, rr.recipient_code, xref, NULL, &t);
    ck_assert_int_eq(t.outcome, PAY_OK);
    ev = wait_hook(3, 10000, true);
    ck_assert_int_eq(ev.kind, PAYSTACK_EV_TRANSFER_SUCCESS);
    ck_assert_str_eq(ev.reference, xref);
    paystack_transfer_verify(own, xref, &t);
    ck_assert_str_eq(t.status, "success");
    h_sleep_ms(300);
    ck_assert_int_eq(hooks_seen(), 3);
    paystack_free(own);
    h_sandbox_kill(pid);
}
END_TEST

Suite *suite_paystack(void)
{
    Suite *s = suite_create("paystack");
    TCase *t = tcase_create("client-and-sandbox");
    tcase_add_checked_fixture(t, setup, teardown);
    tcase_set_timeout(t, 60);
    tcase_add_test(t, charge_prompt_to_paid);
    tcase_add_test(t, charge_failed_and_refusals);
    tcase_add_test(t, charge_on_initialized_reference);
    tcase_add_test(t, payout_to_reversal);
    tcase_add_test(t, settles_by_itself);
    suite_add_tcase(s, t);
    return s;
}
