/* e2e: the integrators' Paystack face (/api/payments/... with a client's
 * key) against the sandbox's Paystack: M-Pesa charges settled by webhook
 * and by the verify sweep, retry, cancel and the late success, escrow held,
 * released, failed and given back, forged and replayed webhooks, and one
 * client's key against another's payments. The sandbox's Paystack secret
 * is a test key, so test mode's rules hold throughout (Paystack's test
 * phone, amounts of 100 to 1000 KES). */
#include "harness.h"

#include "util/crypto.h"

#include <check.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PORT_OFFSET 83
#define SECRET "sk_test_sandbox"

static struct lipad L;
static char dir[128];
static char key_a[64], key_b[64];

static const char *jstr(json_t *o, const char *k) { return json_string_value(json_object_get(o, k)); }
static json_t *data(struct http_result *r) { return json_object_get(r->json, "data"); }

/* A client made by the admin; its key into key. */
static void new_client(const char *name, char key[64], char id[40])
{
    char body[128];
    snprintf(body, sizeof body, "{\"name\":\"%s\"}", name);
    struct http_result r = h_json_admin(&L, "POST", "/api/clients", body);
    ck_assert_msg(r.status == 201, "client: %ld %s", r.status, r.body);
    snprintf(key, 64, "%s", jstr(r.json, "apiKey"));
    if (id)
        snprintf(id, 40, "%s", jstr(r.json, "clientId"));
    h_free(&r);
}

static void setup(void)
{
    static char url[64], settle[32];
    snprintf(url, sizeof url, "LIPA_PAYSTACK_URL=http://127.0.0.1:%d", h_sandbox_port);
    snprintf(settle, sizeof settle, "LIPA_SETTLE_AFTER=%d", 1);
    h_dir_fresh(dir, sizeof dir, "charges");
    const char *extra[] = {url, "LIPA_PAYSTACK_SECRET=" SECRET, settle, "LIPA_RATE_LIMIT=100000",
                           "LIPA_CLIENT_RATE_LIMIT=100000", NULL};
    ck_assert_msg(h_lipad_start(&L, h_main.port + PORT_OFFSET, dir, extra), "lipad did not start (see %s)", dir);
    new_client("Shule", key_a, NULL);
    new_client("Other", key_b, NULL);
}

static void teardown(void)
{
    if (L.pid > 0) {
        int rc = h_lipad_stop(&L, SIGTERM);
        if (rc != 0)
            fprintf(stderr, "e2e: the charges lipad exited %d (sanitizer report? see %s/lipad.log)\n", rc, dir);
    }
}

/* A request with a client's key ("" for none); header may be NULL. */
static struct http_result call(const char *key, const char *method, const char *path, const char *body,
                               const char *header)
{
    return h_req_h(L.port, method, path, body ? "application/json" : NULL, body, 0, key && *key ? key : NULL, header);
}

/* Starts an M-Pesa charge for client key; returns its reference (static). */
static const char *charge(const char *key, int amount, const char *booking, const char *type, const char *user)
{
    static char ref[64];
    char body[400];
    snprintf(body, sizeof body,
             "{\"phone\":\"0712345678\",\"amount\":%d,\"email\":\"parent@example.com\",\"bookingId\":\"%s\","
             "\"metadata\":{\"payment_type\":\"%s\",\"user_id\":\"%s\"}}",
             amount, booking, type, user);
    struct http_result r = call(key, "POST", "/api/payments/mpesa", body, NULL);
    ck_assert_msg(r.status == 200, "mpesa: %ld %s", r.status, r.body);
    ck_assert(json_is_true(json_object_get(r.json, "success")));
    ck_assert_str_eq(jstr(r.json, "message"), "MPesa STK push sent. Please check your phone to complete payment.");
    ck_assert_str_eq(jstr(data(&r), "status"), "pending");
    ck_assert_ptr_nonnull(jstr(data(&r), "display_text"));
    snprintf(ref, sizeof ref, "%s", jstr(data(&r), "reference"));
    h_free(&r);
    ck_assert(!strncmp(ref, "CH-", 3));
    return ref;
}

/* The sandbox's customer acts on a charge; hook: send Paystack's event to
 * lipad's webhook (else none comes). */
static void customer(const char *ref, const char *outcome, bool hook)
{
    char body[300], h[120] = "";
    if (hook)
        snprintf(h, sizeof h, ",\"webhook_url\":\"http://127.0.0.1:%d/api/payments/webhook\"", L.port);
    snprintf(body, sizeof body, "{\"reference\":\"%s\",\"outcome\":\"%s\"%s}", ref, outcome, h);
    struct http_result r = h_req(h_sandbox_port, "POST", "/sandbox/paystack/pay", "application/json", body, 0, NULL);
    ck_assert_msg(r.status == 200, "sandbox pay: %ld %s", r.status, r.body);
    h_free(&r);
}

/* The status of a charge as its client sees it (new reference). */
static json_t *status_of(const char *key, const char *ref)
{
    char path[128];
    snprintf(path, sizeof path, "/api/payments/status/%s", ref);
    struct http_result r = call(key, "GET", path, NULL, NULL);
    ck_assert_msg(r.status == 200, "status: %ld %s", r.status, r.body);
    json_t *d = json_incref(data(&r));
    h_free(&r);
    return d;
}

static json_t *wait_status(const char *ref, const char *want, int ms)
{
    for (int t = 0;; t += 100) {
        json_t *d = status_of(key_a, ref);
        if (!strcmp(jstr(d, "status"), want) || t >= ms)
            return d;
        json_decref(d);
        h_sleep_ms(100);
    }
}

/* Posts body to lipad's webhook signed with secret ("" for no signature). */
static long webhook(const char *body, const char *secret)
{
    char sig[160] = "";
    if (*secret) {
        uint8_t mac[64];
        char hex[129];
        crypto_hmac_sha512(secret, strlen(secret), body, strlen(body), mac);
        crypto_hex(mac, sizeof mac, hex, false);
        snprintf(sig, sizeof sig, "x-paystack-signature: %s", hex);
    }
    struct http_result r = h_req_h(L.port, "POST", "/api/payments/webhook", "application/json", body, 0, NULL,
                                   *sig ? sig : NULL);
    long st = r.status;
    h_free(&r);
    return st;
}

START_TEST(mpesa_charge_settled_by_webhook)
{
    const char *ref = charge(key_a, 500, "booking_1", "booking_fee", "user_456");
    char mine[64];
    snprintf(mine, sizeof mine, "%s", ref);
    json_t *d = status_of(key_a, mine);
    ck_assert_str_eq(jstr(d, "status"), "pending");
    ck_assert_str_eq(jstr(d, "phone"), "254708374176"); /* test mode: Paystack's test phone */
    ck_assert_str_eq(jstr(d, "email"), "test@example.com");
    ck_assert_str_eq(jstr(d, "bookingId"), "booking_1");
    ck_assert_str_eq(jstr(d, "paymentMethod"), "mpesa");
    ck_assert_int_eq(json_integer_value(json_object_get(d, "amount")), 500);
    ck_assert(json_is_integer(json_object_get(d, "createdAt")));
    ck_assert(json_is_null(json_object_get(d, "completedAt")));
    json_decref(d);

    customer(mine, "success", true);
    d = status_of(key_a, mine);
    ck_assert_str_eq(jstr(d, "status"), "success");
    ck_assert(json_integer_value(json_object_get(d, "completedAt")) >=
              json_integer_value(json_object_get(d, "createdAt")));
    json_decref(d);

    /* Paystack sends it again: applied once, answered 200 */
    customer(mine, "success", true);
    d = status_of(key_a, mine);
    ck_assert_str_eq(jstr(d, "status"), "success");
    json_decref(d);

    /* verify asks Paystack and agrees */
    char path[128];
    snprintf(path, sizeof path, "/api/payments/verify/%s", mine);
    struct http_result r = call(key_a, "GET", path, NULL, NULL);
    ck_assert_msg(r.status == 200, "%ld %s", r.status, r.body);
    ck_assert_str_eq(jstr(r.json, "message"), "Payment verified successfully");
    ck_assert_str_eq(jstr(data(&r), "status"), "success");
    ck_assert_int_eq(json_integer_value(json_object_get(data(&r), "amount")), 500);
    ck_assert_str_eq(jstr(data(&r), "reference"), mine);
    h_free(&r);

    /* the history of that user: this client's only */
    r = call(key_a, "GET", "/api/payments/history/user_456", NULL, NULL);
    ck_assert_int_eq(r.status, 200);
    ck_assert_int_eq(json_integer_value(json_object_get(data(&r), "total")), 1);
    ck_assert_int_eq(json_integer_value(json_object_get(data(&r), "limit")), 50);
    json_t *t = json_array_get(json_object_get(data(&r), "transactions"), 0);
    ck_assert_str_eq(jstr(t, "reference"), mine);
    ck_assert_str_eq(jstr(t, "status"), "success");
    h_free(&r);
    r = call(key_b, "GET", "/api/payments/history/user_456", NULL, NULL);
    ck_assert_int_eq(r.status, 200);
    ck_assert_int_eq(json_integer_value(json_object_get(data(&r), "total")), 0);
    h_free(&r);
    r = call(key_a, "GET", "/api/payments/history/user_456?status=pending&limit=500", NULL, NULL);
    ck_assert_int_eq(r.status, 200);
    ck_assert_int_eq(json_integer_value(json_object_get(data(&r), "total")), 0);
    ck_assert_int_eq(json_integer_value(json_object_get(data(&r), "limit")), 100);
    h_free(&r);
}
END_TEST

START_TEST(a_charge_without_webhook_is_settled_by_verifying)
{
    char mine[64];
    snprintf(mine, sizeof mine, "%s", charge(key_a, 300, "", "booking_fee", "user_9"));
    customer(mine, "success", false); /* no event comes */
    json_t *d = wait_status(mine, "success", 15000);
    ck_assert_str_eq(jstr(d, "status"), "success");
    json_decref(d);
}
END_TEST

START_TEST(forged_replayed_and_unknown_webhooks)
{
    char mine[64];
    snprintf(mine, sizeof mine, "%s", charge(key_a, 200, "", "booking_fee", "user_7"));
    char body[400];
    snprintf(body, sizeof body,
             "{\"event\":\"charge.success\",\"data\":{\"id\":990001,\"reference\":\"%s\",\"status\":\"success\","
             "\"amount\":20000,\"currency\":\"KES\",\"channel\":\"mobile_money\",\"paid_at\":\"2026-12-02T10:00:00.000Z\"}}",
             mine);
    ck_assert_int_eq(webhook(body, ""), 401);
    ck_assert_int_eq(webhook(body, "sk_test_forged"), 401);
    json_t *d = status_of(key_a, mine);
    ck_assert_str_eq(jstr(d, "status"), "pending"); /* nothing changed */
    json_decref(d);
    ck_assert_int_eq(webhook(body, SECRET), 200);
    ck_assert_int_eq(webhook(body, SECRET), 200); /* replayed: applied once */
    d = status_of(key_a, mine);
    ck_assert_str_eq(jstr(d, "status"), "success");
    json_decref(d);
    /* a success for another amount pays nothing */
    snprintf(mine, sizeof mine, "%s", charge(key_a, 400, "", "booking_fee", "user_7"));
    snprintf(body, sizeof body,
             "{\"event\":\"charge.success\",\"data\":{\"id\":990002,\"reference\":\"%s\",\"status\":\"success\","
             "\"amount\":100,\"currency\":\"KES\"}}", mine);
    ck_assert_int_eq(webhook(body, SECRET), 200);
    d = status_of(key_a, mine);
    ck_assert_str_eq(jstr(d, "status"), "failed");
    json_decref(d);
    /* nobody's reference: recorded, answered 200 */
    ck_assert_int_eq(webhook("{\"event\":\"charge.success\",\"data\":{\"id\":5,\"reference\":\"CH-1-NOBODY00\","
                             "\"status\":\"success\",\"amount\":100,\"currency\":\"KES\"}}", SECRET), 200);
    ck_assert_int_eq(webhook("not json", SECRET), 400);
}
END_TEST

START_TEST(retry_cancel_and_the_late_success)
{
    char first[64], second[64], path[128];
    snprintf(first, sizeof first, "%s", charge(key_a, 700, "booking_r", "booking_fee", "user_r"));
    snprintf(path, sizeof path, "/api/payments/retry/%s", first);
    struct http_result r = call(key_a, "POST", path, "{}", NULL);
    ck_assert_int_eq(r.status, 400); /* still pending: nothing to retry */
    h_free(&r);

    customer(first, "failed", true);
    json_t *d = status_of(key_a, first);
    ck_assert_str_eq(jstr(d, "status"), "failed");
    json_decref(d);

    r = call(key_a, "POST", path, "{\"phone\":\"0712345678\"}", NULL);
    ck_assert_msg(r.status == 200, "%ld %s", r.status, r.body);
    ck_assert_str_eq(jstr(r.json, "message"), "Payment retry initiated");
    ck_assert_str_eq(jstr(data(&r), "originalReference"), first);
    ck_assert_int_eq(json_integer_value(json_object_get(data(&r), "retryCount")), 1);
    snprintf(second, sizeof second, "%s", jstr(data(&r), "newReference"));
    h_free(&r);
    ck_assert_str_ne(first, second);

    snprintf(path, sizeof path, "/api/payments/cancel/%s", second);
    r = call(key_a, "POST", path, "{\"reason\":\"User requested cancellation\"}", NULL);
    ck_assert_msg(r.status == 200, "%ld %s", r.status, r.body);
    ck_assert_str_eq(jstr(r.json, "message"), "Payment cancelled successfully");
    ck_assert(json_integer_value(json_object_get(data(&r), "cancelledAt")) > 0);
    h_free(&r);
    r = call(key_a, "POST", path, NULL, NULL); /* no body: as {} */
    ck_assert_int_eq(r.status, 400); /* cancelled already */
    ck_assert_str_eq(jstr(r.json, "error"), "NOT_CANCELLABLE");
    h_free(&r);

    /* the customer had paid after all: the money is not lost */
    customer(second, "success", true);
    d = status_of(key_a, second);
    ck_assert_str_eq(jstr(d, "status"), "success");
    ck_assert(json_is_true(json_object_get(d, "cancelTooLate")));
    ck_assert(json_integer_value(json_object_get(d, "cancelledAt")) > 0);
    json_decref(d);
}
END_TEST

/* Retries of one original, whichever payment of its line is retried, and
 * however many requests come at once: at most CHARGE_RETRY_MAX (3), each
 * numbered. */
struct retrier {
    pthread_barrier_t *go;
    const char *path;
    long status;
};

static void *retrier_main(void *arg)
{
    struct retrier *r = arg;
    pthread_barrier_wait(r->go);
    struct http_result h = h_req_within(20000, L.port, "POST", r->path, "application/json", "{}", 0, key_a, NULL);
    r->status = h.status;
    h_free(&h);
    return NULL;
}

START_TEST(retries_are_limited_per_original)
{
    char first[64], path[128];
    snprintf(first, sizeof first, "%s", charge(key_a, 500, "booking_lim", "booking_fee", "user_lim"));
    customer(first, "failed", true);
    snprintf(path, sizeof path, "/api/payments/retry/%s", first);
    for (int i = 1; i <= 3; i++) {
        struct http_result r = call(key_a, "POST", path, "{}", NULL);
        ck_assert_msg(r.status == 200, "retry %d: %ld %s", i, r.status, r.body);
        ck_assert_int_eq(json_integer_value(json_object_get(data(&r), "retryCount")), i);
        char next[64];
        snprintf(next, sizeof next, "%s", jstr(data(&r), "newReference"));
        h_free(&r);
        customer(next, "failed", true);
    }
    struct http_result r = call(key_a, "POST", path, "{}", NULL);
    ck_assert_msg(r.status == 400, "a 4th retry of the original: %ld %s", r.status, r.body);
    ck_assert_str_eq(jstr(r.json, "error"), "RETRY_LIMIT");
    h_free(&r);

    /* while a retry is open, no second one: the payer could pay both */
    snprintf(first, sizeof first, "%s", charge(key_a, 500, "booking_lim3", "booking_fee", "user_lim3"));
    customer(first, "failed", true);
    snprintf(path, sizeof path, "/api/payments/retry/%s", first);
    r = call(key_a, "POST", path, "{}", NULL);
    ck_assert_int_eq(r.status, 200);
    h_free(&r);
    r = call(key_a, "POST", path, "{}", NULL);
    ck_assert_msg(r.status == 400, "a retry beside an open one: %ld %s", r.status, r.body);
    ck_assert_str_eq(jstr(r.json, "error"), "RETRY_PENDING");
    h_free(&r);

    /* ten retries of one failed payment at once: one charge */
    snprintf(first, sizeof first, "%s", charge(key_a, 500, "booking_lim2", "booking_fee", "user_lim2"));
    customer(first, "failed", true);
    snprintf(path, sizeof path, "/api/payments/retry/%s", first);
    pthread_barrier_t go;
    pthread_barrier_init(&go, NULL, 10);
    struct retrier rs[10];
    pthread_t th[10];
    for (int i = 0; i < 10; i++) {
        rs[i] = (struct retrier){.go = &go, .path = path};
        ck_assert_int_eq(pthread_create(&th[i], NULL, retrier_main, &rs[i]), 0);
    }
    int ok = 0;
    for (int i = 0; i < 10; i++) {
        pthread_join(th[i], NULL);
        ok += rs[i].status == 200;
        ck_assert_msg(rs[i].status == 200 || rs[i].status == 400, "%ld", rs[i].status);
    }
    pthread_barrier_destroy(&go);
    ck_assert_int_eq(ok, 1);
    r = call(key_a, "GET", "/api/payments/history/user_lim2", NULL, NULL);
    ck_assert_int_eq(json_integer_value(json_object_get(data(&r), "total")), 2); /* the original and one retry */
    h_free(&r);
}
END_TEST

/* Releases amount of booking with an Idempotency-Key; returns the status. */
static long release(const char *key, const char *booking, int amount, const char *idem, char *ref, size_t refsz)
{
    char body[200], header[160];
    snprintf(body, sizeof body, "{\"bookingId\":\"%s\",\"teacherPhone\":\"254712345678\",\"amount\":%d}", booking, amount);
    snprintf(header, sizeof header, "Idempotency-Key: %s", idem);
    struct http_result r = call(key, "POST", "/api/payments/release-escrow", body, header);
    long st = r.status;
    if (ref) {
        ref[0] = 0;
        if (st == 200) {
            snprintf(ref, refsz, "%s", jstr(data(&r), "transferReference"));
            ck_assert_str_eq(jstr(data(&r), "bookingId"), booking);
            ck_assert_str_eq(jstr(data(&r), "teacherPhone"), "254712345678");
        }
    }
    h_free(&r);
    return st;
}

/* The status of the release made with idem (repeating its request). */
static const char *release_status(const char *key, const char *booking, int amount, const char *idem)
{
    static char st[16];
    char body[200], header[160];
    snprintf(body, sizeof body, "{\"bookingId\":\"%s\",\"teacherPhone\":\"254712345678\",\"amount\":%d}", booking, amount);
    snprintf(header, sizeof header, "Idempotency-Key: %s", idem);
    struct http_result r = call(key, "POST", "/api/payments/release-escrow", body, header);
    ck_assert_msg(r.status == 200, "%ld %s", r.status, r.body);
    snprintf(st, sizeof st, "%s", jstr(data(&r), "status"));
    h_free(&r);
    return st;
}

/* Paystack settles a transfer and sends no event. */
static void transfer_outcome_quietly(const char *ref, const char *outcome)
{
    char body[200];
    snprintf(body, sizeof body, "{\"reference\":\"%s\",\"outcome\":\"%s\"}", ref, outcome);
    struct http_result r = h_req(h_sandbox_port, "POST", "/sandbox/paystack/transfer", "application/json", body, 0, NULL);
    ck_assert_msg(r.status == 200, "sandbox transfer: %ld %s", r.status, r.body);
    h_free(&r);
}

static void transfer_outcome(const char *ref, const char *outcome)
{
    char body[300];
    snprintf(body, sizeof body, "{\"reference\":\"%s\",\"outcome\":\"%s\",\"webhook_url\":\"http://127.0.0.1:%d/api/payments/webhook\"}",
             ref, outcome, L.port);
    struct http_result r = h_req(h_sandbox_port, "POST", "/sandbox/paystack/transfer", "application/json", body, 0, NULL);
    ck_assert_msg(r.status == 200, "sandbox transfer: %ld %s", r.status, r.body);
    h_free(&r);
}

START_TEST(escrow_held_released_failed_and_given_back)
{
    char ref1[64], ref1b[64], ref3[64];
    ck_assert_int_eq(release(key_a, "booking_e", 100, "k0", NULL, 0), 422); /* nothing held yet */
    char paid[64];
    snprintf(paid, sizeof paid, "%s", charge(key_a, 1000, "booking_e", "escrow", "parent_1"));
    ck_assert_int_eq(release(key_a, "booking_e", 100, "k0", NULL, 0), 422); /* held once paid, not before */
    customer(paid, "success", true);

    ck_assert_int_eq(release(key_a, "booking_e", 600, "k1", ref1, sizeof ref1), 200);
    ck_assert_int_eq(release(key_a, "booking_e", 600, "k1", ref1b, sizeof ref1b), 200); /* the same release */
    ck_assert_str_eq(ref1, ref1b);
    ck_assert_int_eq(release(key_a, "booking_e", 500, "k1", NULL, 0), 409); /* the key, for another amount */
    ck_assert_int_eq(release(key_a, "booking_e", 600, "k2", NULL, 0), 422); /* 1000 held, 600 out */
    ck_assert_int_eq(release(key_b, "booking_e", 100, "k9", NULL, 0), 422); /* another client holds nothing there */

    transfer_outcome(ref1, "failed"); /* the 600 come back */
    ck_assert_int_eq(release(key_a, "booking_e", 1000, "k3", ref3, sizeof ref3), 200);
    transfer_outcome(ref3, "success");
    ck_assert_int_eq(release(key_a, "booking_e", 1, "k4", NULL, 0), 422); /* all released */
    /* the same key after the transfer succeeded: still that release */
    char again[64];
    ck_assert_int_eq(release(key_a, "booking_e", 1000, "k3", again, sizeof again), 200);
    ck_assert_str_eq(again, ref3);
    /* Paystack reverses the paid transfer: the 1000 are held again */
    transfer_outcome(ref3, "reversed");
    char ref5[64];
    ck_assert_int_eq(release(key_a, "booking_e", 1000, "k5", ref5, sizeof ref5), 200);
    ck_assert_int_eq(release(key_a, "booking_e", 1, "k6", NULL, 0), 422);
    ck_assert_str_eq(release_status(key_a, "booking_e", 1000, "k5"), "pending");
    /* its transfer succeeds and no event comes: lipa asks Paystack */
    transfer_outcome_quietly(ref5, "success");
    const char *st = "";
    for (int i = 0; i < 100 && strcmp(st, "success"); i++) {
        h_sleep_ms(100);
        st = release_status(key_a, "booking_e", 1000, "k5");
    }
    ck_assert_str_eq(st, "success");
}
END_TEST

/* Many release requests at once against one booking, as a client's
 * retrying back-end or a double click sends them. */
struct racer {
    pthread_barrier_t *go;
    const char *booking, *idem;
    int amount;
    long status;
    char ref[64];
};

static void *racer_main(void *arg)
{
    struct racer *r = arg;
    char body[200], header[160];
    snprintf(body, sizeof body, "{\"bookingId\":\"%s\",\"teacherPhone\":\"254712345678\",\"amount\":%d}", r->booking,
             r->amount);
    snprintf(header, sizeof header, "Idempotency-Key: %s", r->idem);
    pthread_barrier_wait(r->go);
    struct http_result h = h_req_within(20000, L.port, "POST", "/api/payments/release-escrow", "application/json", body,
                                        0, key_a, header);
    r->status = h.status;
    const char *ref = h.status == 200 ? jstr(data(&h), "transferReference") : NULL;
    snprintf(r->ref, sizeof r->ref, "%s", ref ? ref : "");
    h_free(&h);
    return NULL;
}

#define RACERS 20

/* Runs RACERS release requests at once, all under one Idempotency-Key or
 * each under its own. Counts the 200s and the 422s. */
static void race(const char *booking, int amount, bool one_key, struct racer rs[RACERS], int *ok, int *short_of)
{
    static char keys[RACERS][32];
    pthread_barrier_t go;
    pthread_t th[RACERS];
    pthread_barrier_init(&go, NULL, RACERS);
    for (int i = 0; i < RACERS; i++) {
        snprintf(keys[i], sizeof keys[i], one_key ? "%s-same" : "%s-%d", booking, i);
        rs[i] = (struct racer){.go = &go, .booking = booking, .idem = keys[i], .amount = amount};
        ck_assert_int_eq(pthread_create(&th[i], NULL, racer_main, &rs[i]), 0);
    }
    *ok = *short_of = 0;
    for (int i = 0; i < RACERS; i++) {
        pthread_join(th[i], NULL);
        *ok += rs[i].status == 200;
        *short_of += rs[i].status == 422;
    }
    pthread_barrier_destroy(&go);
}

/* One Idempotency-Key sent 20 times at once is one release, and every
 * request is answered with it, even when that release takes all the
 * booking holds; 20 different keys at once never take more than it holds. */
START_TEST(releases_at_once_never_take_more_than_held)
{
    struct racer rs[RACERS];
    int ok, short_of;
    for (int round = 0; round < 6; round++) {
        char booking[32];
        snprintf(booking, sizeof booking, "booking_same%d", round);
        char paid[64];
        snprintf(paid, sizeof paid, "%s", charge(key_a, 1000, booking, "escrow", "parent_s"));
        customer(paid, "success", true);
        race(booking, 1000, true, rs, &ok, &short_of);
        for (int i = 0; i < RACERS; i++)
            ck_assert_msg(rs[i].status == 200, "round %d, request %d: %ld (the same key is the same release)", round, i,
                          rs[i].status);
        for (int i = 1; i < RACERS; i++)
            ck_assert_str_eq(rs[i].ref, rs[0].ref);
    }
    char paid[64];
    snprintf(paid, sizeof paid, "%s", charge(key_a, 1000, "booking_many", "escrow", "parent_s"));
    customer(paid, "success", true);
    race("booking_many", 150, false, rs, &ok, &short_of);
    ck_assert_int_eq(ok, 6); /* 6 x 150 of 1000 */
    ck_assert_int_eq(short_of, RACERS - 6);
    ck_assert_int_eq(release(key_a, "booking_many", 100, "many-last", NULL, 0), 200);
    ck_assert_int_eq(release(key_a, "booking_many", 1, "many-more", NULL, 0), 422);
}
END_TEST

/* Lines of the shared sandbox's log holding needle. */
static int sandbox_log_count(const char *needle)
{
    FILE *f = fopen("build/e2e/sandbox.log", "r");
    ck_assert_msg(f != NULL, "no build/e2e/sandbox.log");
    char line[2048];
    int n = 0;
    while (fgets(line, sizeof line, f))
        n += strstr(line, needle) != NULL;
    fclose(f);
    return n;
}

/* A release is sent to Paystack once, by the request that made it, even
 * when Paystack takes longer than the Paystack worker's pass: the worker
 * sends only a release whose sender is gone (lipad killed meanwhile). */
START_TEST(a_release_is_sent_once)
{
    char paid[64], ref[64], needle[128];
    snprintf(paid, sizeof paid, "%s", charge(key_a, 1000, "booking_once", "escrow", "parent_o"));
    customer(paid, "success", true);
    struct http_result r = h_req(h_sandbox_port, "POST", "/sandbox/slow", "application/json",
                                 "{\"service\":\"paystack\",\"ms\":700}", 0, NULL);
    ck_assert_int_eq(r.status, 200);
    h_free(&r);
    long st = release(key_a, "booking_once", 1000, "once-1", ref, sizeof ref);
    h_sleep_ms(1500); /* a worker that took it too would be at Paystack by now */
    r = h_req(h_sandbox_port, "POST", "/sandbox/slow", "application/json", "{\"service\":\"paystack\",\"ms\":0}", 0,
              NULL);
    h_free(&r);
    ck_assert_int_eq(st, 200);
    h_sleep_ms(1000);
    snprintf(needle, sizeof needle, "paystack.transfer reference=%s ", ref);
    ck_assert_int_eq(sandbox_log_count(needle), 1);
    snprintf(needle, sizeof needle, "paystack.transfer_rejected reference=%s ", ref);
    ck_assert_msg(sandbox_log_count(needle) == 0, "the transfer %s was sent again", ref);
}
END_TEST

START_TEST(keys_and_clients_are_kept_apart)
{
    char mine[64], path[128];
    snprintf(mine, sizeof mine, "%s", charge(key_a, 100, "", "booking_fee", "user_k"));
    snprintf(path, sizeof path, "/api/payments/status/%s", mine);
    struct http_result r = call(key_b, "GET", path, NULL, NULL);
    ck_assert_int_eq(r.status, 404); /* another client's: as if it did not exist */
    h_free(&r);
    r = call("", "GET", path, NULL, NULL);
    ck_assert_int_eq(r.status, 401);
    ck_assert(json_is_false(json_object_get(r.json, "success")));
    h_free(&r);
    r = call("lk_wrongwrongwrongwrongwrongwrongwrongwrong1", "GET", path, NULL, NULL);
    ck_assert_int_eq(r.status, 401);
    h_free(&r);
    snprintf(path, sizeof path, "/api/payments/cancel/%s", mine);
    r = call(key_b, "POST", path, "{}", NULL);
    ck_assert_int_eq(r.status, 404);
    h_free(&r);
    snprintf(path, sizeof path, "/api/payments/verify/%s", mine);
    r = call(key_b, "GET", path, NULL, NULL);
    ck_assert_int_eq(r.status, 404);
    h_free(&r);

    /* a deactivated client starts nothing */
    char id_c[40], key_c[64];
    new_client("Gone", key_c, id_c);
    snprintf(path, sizeof path, "/api/clients/%s", id_c);
    r = h_json_admin(&L, "PUT", path, "{\"active\":false}");
    ck_assert_int_eq(r.status, 200);
    h_free(&r);
    r = call(key_c, "POST", "/api/payments/mpesa", "{\"phone\":\"0712345678\",\"amount\":100,\"email\":\"a@b.co\"}", NULL);
    ck_assert_int_eq(r.status, 403);
    h_free(&r);

    /* a replaced key stops working at once */
    char id_d[40], key_d[64];
    new_client("Rotated", key_d, id_d);
    r = call(key_d, "POST", "/api/payments/validate-phone", "{\"phone\":\"0712345678\"}", NULL);
    ck_assert_int_eq(r.status, 200);
    h_free(&r);
    snprintf(path, sizeof path, "/api/clients/%s/keys", id_d);
    r = h_json_admin(&L, "POST", path, "{}");
    ck_assert_int_eq(r.status, 201);
    char fresh[64];
    snprintf(fresh, sizeof fresh, "%s", jstr(r.json, "apiKey"));
    h_free(&r);
    r = call(key_d, "POST", "/api/payments/validate-phone", "{\"phone\":\"0712345678\"}", NULL);
    ck_assert_int_eq(r.status, 401);
    h_free(&r);
    r = call(fresh, "POST", "/api/payments/validate-phone", "{\"phone\":\"0712345678\"}", NULL);
    ck_assert_int_eq(r.status, 200);
    h_free(&r);
}
END_TEST

START_TEST(requests_are_checked)
{
    /* the four forms of a number, and the network by its prefix */
    const char *forms[] = {"0712345678", "+254712345678", "254712345678", "712345678"};
    for (int i = 0; i < 4; i++) {
        char body[64];
        snprintf(body, sizeof body, "{\"phone\":\"%s\"}", forms[i]);
        struct http_result r = call(key_a, "POST", "/api/payments/validate-phone", body, NULL);
        ck_assert_msg(r.status == 200, "%s: %ld", forms[i], r.status);
        ck_assert_str_eq(jstr(data(&r), "formattedPhone"), "254712345678");
        ck_assert_str_eq(jstr(data(&r), "originalPhone"), forms[i]);
        ck_assert_str_eq(jstr(data(&r), "provider"), "Safaricom MPesa");
        ck_assert_str_eq(jstr(data(&r), "country"), "Kenya");
        h_free(&r);
    }
    struct http_result r = call(key_a, "POST", "/api/payments/validate-phone", "{\"phone\":\"0733123456\"}", NULL);
    ck_assert_int_eq(r.status, 200);
    ck_assert_str_eq(jstr(data(&r), "provider"), "Airtel Money");
    h_free(&r);
    r = call(key_a, "POST", "/api/payments/validate-phone", "{\"phone\":\"12345\"}", NULL);
    ck_assert_int_eq(r.status, 400);
    h_free(&r);
    /* M-Pesa needs a Safaricom number */
    r = call(key_a, "POST", "/api/payments/mpesa/direct", "{\"phone\":\"0733123456\",\"amount\":100,\"email\":\"a@b.co\"}", NULL);
    ck_assert_int_eq(r.status, 400);
    ck_assert(strstr(r.body, "phone") != NULL);
    h_free(&r);
    /* an empty phone is no phone: an M-Pesa charge needs one */
    const char *paths[] = {"/api/payments/mpesa", "/api/payments/mpesa/direct"};
    for (int i = 0; i < 2; i++) {
        r = call(key_a, "POST", paths[i], "{\"phone\":\"\",\"amount\":100,\"email\":\"a@b.co\"}", NULL);
        ck_assert_msg(r.status == 400, "%s: %ld %s", paths[i], r.status, r.body);
        ck_assert(!strncmp(jstr(r.json, "message"), "phone:", 6));
        h_free(&r);
    }
    /* test keys take 100, 200, ... 1000 only */
    r = call(key_a, "POST", "/api/payments/mpesa/direct", "{\"phone\":\"0712345678\",\"amount\":150,\"email\":\"a@b.co\"}", NULL);
    ck_assert_int_eq(r.status, 400);
    ck_assert(strstr(r.body, "amount") != NULL);
    h_free(&r);
    r = call(key_a, "POST", "/api/payments/mpesa/direct", "{\"phone\":\"0712345678\",\"amount\":100}", NULL);
    ck_assert_int_eq(r.status, 400);
    ck_assert(strstr(r.body, "email") != NULL);
    h_free(&r);
    r = call(key_a, "POST", "/api/payments/mpesa/direct", "{\"phone\":\"0712345678\",\"amount\":100,\"email\":\"a@b.co\"}", NULL);
    ck_assert_msg(r.status == 200, "%ld %s", r.status, r.body);
    ck_assert_str_eq(jstr(r.json, "message"), "MPesa payment initiated. Check your phone for the prompt.");
    h_free(&r);
    /* a card checkout */
    r = call(key_a, "POST", "/api/payments/initialize",
             "{\"email\":\"user@example.com\",\"amount\":1000,\"bookingId\":\"booking_123\","
             "\"metadata\":{\"payment_type\":\"booking_fee\",\"user_id\":\"user_456\"}}", NULL);
    ck_assert_msg(r.status == 200, "%ld %s", r.status, r.body);
    ck_assert_str_eq(jstr(r.json, "message"), "Payment initialized successfully");
    ck_assert(!strncmp(jstr(data(&r), "authorization_url"), "http", 4));
    ck_assert(*jstr(data(&r), "access_code"));
    h_free(&r);
    /* a user_id may be a number: its history finds it */
    r = call(key_a, "POST", "/api/payments/mpesa",
             "{\"phone\":\"0712345678\",\"amount\":200,\"email\":\"a@b.co\",\"metadata\":{\"user_id\":4567}}", NULL);
    ck_assert_msg(r.status == 200, "%ld %s", r.status, r.body);
    h_free(&r);
    r = call(key_a, "GET", "/api/payments/history/4567", NULL, NULL);
    ck_assert_int_eq(r.status, 200);
    ck_assert_int_eq(json_integer_value(json_object_get(data(&r), "total")), 1);
    h_free(&r);
    /* one longer than a history can name (64) is refused, naming it */
    r = call(key_a, "POST", "/api/payments/mpesa",
             "{\"phone\":\"0712345678\",\"amount\":200,\"email\":\"a@b.co\",\"metadata\":{\"user_id\":"
             "\"u1234567890123456789012345678901234567890123456789012345678901234\"}}", NULL);
    ck_assert_msg(r.status == 400, "%ld %s", r.status, r.body);
    ck_assert(!strncmp(jstr(r.json, "message"), "metadata.user_id:", 17));
    h_free(&r);
    r = call(key_a, "GET", "/api/payments/history/user_456?limit=abc", NULL, NULL);
    ck_assert_int_eq(r.status, 400);
    h_free(&r);
}
END_TEST

/* A client with a callback URL hears of its charges: the notice is queued
 * with the outcome, signed like the public payments' (nothing listens at
 * that URL here: the attempts are recorded and it stays queued). */
START_TEST(a_settled_charge_is_noticed)
{
    char body[200], id[40], key[64], path[128];
    snprintf(body, sizeof body, "{\"name\":\"Hears\",\"callbackUrl\":\"http://127.0.0.1:%d/hook\"}", L.port + 7);
    struct http_result r = h_json_admin(&L, "POST", "/api/clients", body);
    ck_assert_int_eq(r.status, 201);
    snprintf(id, sizeof id, "%s", jstr(r.json, "clientId"));
    snprintf(key, sizeof key, "%s", jstr(r.json, "apiKey"));
    h_free(&r);
    char mine[64];
    snprintf(mine, sizeof mine, "%s", charge(key, 600, "booking_n", "booking_fee", "user_n"));
    customer(mine, "success", true);
    snprintf(path, sizeof path, "/api/clients/%s/notices", id);
    json_t *n = NULL;
    for (int i = 0; i < 50 && !n; i++) {
        r = h_json_admin(&L, "GET", path, NULL);
        ck_assert_int_eq(r.status, 200);
        json_t *first = json_array_get(r.json, 0);
        if (first && json_integer_value(json_object_get(first, "attempts")) >= 1)
            n = json_incref(first);
        h_free(&r);
        if (!n)
            h_sleep_ms(100);
    }
    ck_assert_msg(n != NULL, "no notice attempted");
    ck_assert_str_eq(jstr(n, "event"), "payment.success");
    json_t *b = json_object_get(n, "body");
    ck_assert_str_eq(jstr(b, "reference"), mine);
    ck_assert_str_eq(jstr(b, "status"), "success");
    ck_assert_str_eq(jstr(b, "bookingId"), "booking_n");
    ck_assert_int_eq(json_integer_value(json_object_get(b, "amount")), 600);
    ck_assert_str_eq(jstr(n, "status"), "queued"); /* nobody answered: tried again later */
    json_decref(n);
}
END_TEST

/* A direct M-Pesa charge whose request never reached Paystack (its answer
 * a 503) is kept open and verified, not failed on a guess; once its time
 * is over and Paystack still knows nothing of it, it is abandoned (and may
 * be retried), not pending forever. A lipad of its own with a 10 s
 * payment time. */
START_TEST(a_charge_paystack_never_got_is_abandoned_in_time)
{
    /* a sandbox of its own: the fault below is for this lipad's charge */
    int sb_port = h_main.port + PORT_OFFSET + 3;
    pid_t sb = h_sandbox_spawn(sb_port, 300, NULL, "build/e2e/sandbox-charges-lost.log");
    ck_assert(sb > 0);
    static char url[64];
    snprintf(url, sizeof url, "LIPA_PAYSTACK_URL=http://127.0.0.1:%d", sb_port);
    struct lipad own;
    char own_dir[128];
    h_dir_fresh(own_dir, sizeof own_dir, "charges-lost");
    const char *extra[] = {url, "LIPA_PAYSTACK_SECRET=" SECRET, "LIPA_PAYMENT_TIMEOUT=10", "LIPA_SETTLE_AFTER=1", NULL};
    ck_assert(h_lipad_start(&own, h_main.port + PORT_OFFSET + 2, own_dir, extra));
    struct http_result r = h_json_admin(&own, "POST", "/api/clients", "{\"name\":\"Lost\"}");
    ck_assert_int_eq(r.status, 201);
    char key[64], ref[64], path[128];
    snprintf(key, sizeof key, "%s", jstr(r.json, "apiKey"));
    h_free(&r);
    r = h_req(sb_port, "POST", "/sandbox/fail", "application/json",
              "{\"service\":\"paystack\",\"count\":1,\"status\":503}", 0, NULL);
    ck_assert_int_eq(r.status, 200);
    h_free(&r);
    r = h_req_h(own.port, "POST", "/api/payments/mpesa/direct", "application/json",
                "{\"phone\":\"0712345678\",\"amount\":200,\"email\":\"a@b.co\",\"metadata\":{\"user_id\":\"lost\"}}", 0,
                key, NULL);
    ck_assert_msg(r.status == 502, "%ld %s", r.status, r.body);
    h_free(&r);
    r = h_req_h(own.port, "GET", "/api/payments/history/lost", NULL, NULL, 0, key, NULL);
    ck_assert_int_eq(json_integer_value(json_object_get(data(&r), "total")), 1);
    json_t *t = json_array_get(json_object_get(data(&r), "transactions"), 0);
    snprintf(ref, sizeof ref, "%s", jstr(t, "reference"));
    ck_assert_str_eq(jstr(t, "status"), "pending"); /* it may have reached Paystack */
    h_free(&r);
    h_sleep_ms(11000);
    snprintf(path, sizeof path, "/api/payments/verify/%s", ref);
    r = h_req_h(own.port, "GET", path, NULL, NULL, 0, key, NULL);
    ck_assert_msg(r.status == 200, "%ld %s", r.status, r.body);
    ck_assert_str_eq(jstr(data(&r), "status"), "abandoned");
    h_free(&r);
    snprintf(path, sizeof path, "/api/payments/retry/%s", ref);
    r = h_req_h(own.port, "POST", path, "application/json", "{}", 0, key, NULL);
    ck_assert_msg(r.status == 200, "%ld %s", r.status, r.body);
    h_free(&r);
    ck_assert_int_eq(h_lipad_stop(&own, SIGTERM), 0);
    h_sandbox_kill(sb);
}
END_TEST

/* The client's budget counts on this face as on the public payments: a
 * lipad of its own with a budget of 3 a minute. */
START_TEST(the_client_budget_counts_here_too)
{
    static char url[64];
    snprintf(url, sizeof url, "LIPA_PAYSTACK_URL=http://127.0.0.1:%d", h_sandbox_port);
    struct lipad own;
    char own_dir[128];
    h_dir_fresh(own_dir, sizeof own_dir, "charges-budget");
    const char *extra[] = {url, "LIPA_PAYSTACK_SECRET=" SECRET, "LIPA_CLIENT_RATE_LIMIT=3", NULL};
    ck_assert(h_lipad_start(&own, h_main.port + PORT_OFFSET + 1, own_dir, extra));
    struct http_result r = h_json_admin(&own, "POST", "/api/clients", "{\"name\":\"Busy\"}");
    ck_assert_int_eq(r.status, 201);
    char key[64];
    snprintf(key, sizeof key, "%s", jstr(r.json, "apiKey"));
    h_free(&r);
    r = h_json_admin(&own, "POST", "/api/clients", "{\"name\":\"Calm\"}");
    char calm[64];
    snprintf(calm, sizeof calm, "%s", jstr(r.json, "apiKey"));
    h_free(&r);
    for (int i = 0; i < 4; i++) {
        r = h_req_h(own.port, "POST", "/api/payments/validate-phone", "application/json", "{\"phone\":\"0712345678\"}",
                    0, key, NULL);
        ck_assert_msg(r.status == (i < 3 ? 200 : 429), "request %d: %ld", i + 1, r.status);
        if (i == 3)
            ck_assert(json_is_false(json_object_get(r.json, "success")));
        h_free(&r);
    }
    /* another client's budget is its own */
    r = h_req_h(own.port, "POST", "/api/payments/validate-phone", "application/json", "{\"phone\":\"0712345678\"}", 0,
                calm, NULL);
    ck_assert_int_eq(r.status, 200);
    h_free(&r);
    ck_assert_int_eq(h_lipad_stop(&own, SIGTERM), 0);
}
END_TEST

Suite *suite_charges(void)
{
    Suite *s = suite_create("charges");
    TCase *t = tcase_create("paystack");
    tcase_set_timeout(t, 90);
    tcase_add_unchecked_fixture(t, setup, teardown);
    tcase_add_test(t, mpesa_charge_settled_by_webhook);
    tcase_add_test(t, a_charge_without_webhook_is_settled_by_verifying);
    tcase_add_test(t, a_charge_paystack_never_got_is_abandoned_in_time);
    tcase_add_test(t, forged_replayed_and_unknown_webhooks);
    tcase_add_test(t, retry_cancel_and_the_late_success);
    tcase_add_test(t, retries_are_limited_per_original);
    tcase_add_test(t, escrow_held_released_failed_and_given_back);
    tcase_add_test(t, releases_at_once_never_take_more_than_held);
    tcase_add_test(t, a_release_is_sent_once);
    tcase_add_test(t, keys_and_clients_are_kept_apart);
    tcase_add_test(t, requests_are_checked);
    tcase_add_test(t, a_settled_charge_is_noticed);
    tcase_add_test(t, the_client_budget_counts_here_too);
    suite_add_tcase(s, t);
    return s;
}
