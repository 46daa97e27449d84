/* End-to-end: the water suite. */
#include "harness.h"

#include <check.h>

/* ==== the water payment endpoints (tcase "payments") ====
 * Orders paid by M-Pesa (the sandbox's Daraja) and Paystack (the
 * sandbox's Paystack), their status, the provider callbacks and the rate
 * limit. The tests run against their own lipad (pay_lipad), priced at
 * 1 KES a litre so an amount can pick the sandbox customer's answer (last
 * digit 2: cancelled; 7: no callback at all), with Paystack pointed at the
 * sandbox and a budget of requests no test exhausts; the rate-limit test
 * starts one more with a budget of 3. Phones: +2547120009NN. */

#include "util/str.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define PAY_PORT_OFFSET 60     /* pay_lipad: h_main.port + 60; rate-limit lipad: + 61 */
#define PAYSTACK_SECRET "sk_test_sandbox"

static struct lipad pay_lipad;
static char pay_dir[128];

static void pay_setup(void)
{
    static char url[64], port_env[32];
    snprintf(url, sizeof url, "LIPA_PAYSTACK_URL=http://127.0.0.1:%d", h_sandbox_port);
    h_dir_fresh(pay_dir, sizeof pay_dir, "water-pay");
    snprintf(port_env, sizeof port_env, "LIPA_RATE_LIMIT=%d", 100000);
    const char *extra[] = {url, "LIPA_PAYSTACK_SECRET=" PAYSTACK_SECRET, "LIPA_WATER_PRICE_CENTS=100",
                           port_env, NULL};
    if (!h_lipad_start(&pay_lipad, h_main.port + PAY_PORT_OFFSET, pay_dir, extra)) {
        fprintf(stderr, "e2e: the payments lipad did not start (see %s/lipad.log)\n", pay_dir);
        pay_lipad.pid = 0;
    }
}

static void pay_teardown(void)
{
    if (pay_lipad.pid > 0) {
        int rc = h_lipad_stop(&pay_lipad, SIGTERM);
        if (rc != 0)
            fprintf(stderr, "e2e: the payments lipad exited %d (sanitizer report? see %s/lipad.log)\n", rc, pay_dir);
    }
}

/* A JSON request to a lipad; body may be NULL. */
static struct http_result pay_req(struct lipad *l, const char *method, const char *path, const char *body)
{
    ck_assert_msg(l->pid > 0, "lipad is not running");
    return h_req(l->port, method, path, body ? "application/json" : NULL, body, 0, NULL);
}

static json_t *pay_data(struct http_result *r) { return json_object_get(r->json, "data"); }

static const char *pay_str(json_t *o, const char *k) { return json_string_value(json_object_get(o, k)); }

static long long pay_int(json_t *o, const char *k) { return (long long)json_integer_value(json_object_get(o, k)); }

/* An error reply of the water face: {success:false, message, error:code}. */
static void pay_assert_error(struct http_result *r, long status, const char *code)
{
    ck_assert_msg(r->status == status, "want %ld, got %ld: %s", status, r->status, r->body);
    ck_assert_msg(json_is_false(json_object_get(r->json, "success")), "success:false: %s", r->body);
    ck_assert_msg(pay_str(r->json, "message") && *pay_str(r->json, "message"), "a message: %s", r->body);
    if (code)
        ck_assert_msg(pay_str(r->json, "error") && !strcmp(pay_str(r->json, "error"), code), "error %s: %s", code,
                      r->body);
    else
        ck_assert_msg(pay_str(r->json, "error") && *pay_str(r->json, "error"), "an error code: %s", r->body);
}

static bool pay_ref_shape(const char *ref)
{
    if (!ref || strncmp(ref, "WS-", 3) || strlen(ref) != 3 + 13 + 1 + 8 || ref[16] != '-')
        return false;
    for (int i = 3; i < 16; i++)
        if (ref[i] < '0' || ref[i] > '9')
            return false;
    for (int i = 17; i < 25; i++)
        if (!((ref[i] >= 'A' && ref[i] <= 'Z') || (ref[i] >= '0' && ref[i] <= '9')))
            return false;
    return true;
}

/* The order's status reply data (a new reference), polled until its
 * status is want or ms passed. */
static json_t *pay_wait_status(const char *ref, const char *want, int ms)
{
    char path[128];
    snprintf(path, sizeof path, "/api/payments/status/%s", ref);
    for (int waited = 0;; waited += 100) {
        struct http_result r = pay_req(&pay_lipad, "GET", path, NULL);
        ck_assert_msg(r.status == 200, "status: %ld %s", r.status, r.body);
        json_t *d = json_incref(pay_data(&r));
        h_free(&r);
        if (!strcmp(pay_str(d, "status"), want) || waited >= ms)
            return d;
        json_decref(d);
        h_sleep_ms(100);
    }
}

/* Starts an M-Pesa order; returns the 201 reply's data (new reference). */
static json_t *pay_mpesa(const char *phone, int amount, const char *metadata)
{
    char body[512];
    snprintf(body, sizeof body, "{\"phoneNumber\":\"%s\",\"amount\":%d%s%s}", phone, amount,
             metadata ? ",\"metadata\":" : "", metadata ? metadata : "");
    struct http_result r = pay_req(&pay_lipad, "POST", "/api/payments/mpesa/initiate", body);
    ck_assert_msg(r.status == 201, "initiate: %ld %s", r.status, r.body);
    ck_assert(json_is_true(json_object_get(r.json, "success")));
    ck_assert_str_eq(pay_str(r.json, "message"), "M-Pesa payment initiated. Please enter your PIN.");
    json_t *d = json_incref(pay_data(&r));
    h_free(&r);
    ck_assert_msg(pay_ref_shape(pay_str(d, "transactionReference")), "reference WS-<ms>-<8>: %s",
                  pay_str(d, "transactionReference"));
    ck_assert_msg(pay_str(d, "checkoutRequestId") && *pay_str(d, "checkoutRequestId"), "checkout id");
    return d;
}

/* Starts a Paystack order; returns the 201 reply's data (new reference). */
static json_t *pay_paystack(const char *phone, int amount)
{
    char body[512];
    snprintf(body, sizeof body, "{\"email\":\"buyer@example.com\",\"amount\":%d%s%s%s,\"metadata\":{\"k\":\"v\"}}",
             amount, phone ? ",\"phoneNumber\":\"" : "", phone ? phone : "", phone ? "\"" : "");
    struct http_result r = pay_req(&pay_lipad, "POST", "/api/payments/paystack/initialize", body);
    ck_assert_msg(r.status == 201, "initialize: %ld %s", r.status, r.body);
    ck_assert_str_eq(pay_str(r.json, "message"),
                     "Payment checkout initialized successfully. Redirect customer to authorizationUrl.");
    json_t *d = json_incref(pay_data(&r));
    h_free(&r);
    ck_assert_msg(pay_ref_shape(pay_str(d, "transactionReference")), "reference");
    ck_assert_str_eq(pay_str(d, "status"), "processing");
    ck_assert_msg(pay_str(d, "authorizationUrl") && !strncmp(pay_str(d, "authorizationUrl"), "http", 4), "url");
    ck_assert_msg(pay_str(d, "accessCode") && *pay_str(d, "accessCode"), "access code");
    ck_assert_msg(pay_str(d, "expiresAt") && strlen(pay_str(d, "expiresAt")) == 24, "expiresAt ISO");
    return d;
}

/* The sandbox customer pays (or not) at the Paystack checkout; returns
 * the sandbox's answer (webhook.status is what lipad answered). */
static json_t *pay_at_checkout(const char *ref, const char *outcome, long long amount, const char *signature)
{
    char body[512], extra[160] = "", hook[160] = "";
    if (amount)
        snprintf(extra, sizeof extra, ",\"amount\":%lld", amount);
    if (signature)
        snprintf(hook, sizeof hook,
                 ",\"webhook_url\":\"http://127.0.0.1:%d/api/payments/paystack/webhook\",\"signature\":\"%s\"",
                 pay_lipad.port, signature);
    snprintf(body, sizeof body, "{\"reference\":\"%s\",\"outcome\":\"%s\"%s%s}", ref, outcome, extra, hook);
    struct http_result r = h_req(h_sandbox_port, "POST", "/sandbox/paystack/pay", "application/json", body, 0, NULL);
    ck_assert_msg(r.status == 200, "sandbox pay: %ld %s", r.status, r.body);
    json_t *j = json_incref(r.json);
    h_free(&r);
    return j;
}

static void pay_header(const char *answer, const char *name, char *out, size_t n);

/* A raw HTTP/1.0 exchange with lipad (h_req keeps no response headers);
 * the whole answer goes to out; returns the status. */
static long pay_raw(int port, const char *method, const char *path, const char *body, char *out, size_t n)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ck_assert_int_eq(connect(fd, (struct sockaddr *)&a, sizeof a), 0);
    char rq[1024];
    int len = snprintf(rq, sizeof rq, "%s %s HTTP/1.0\r\nHost: x\r\nContent-Type: application/json\r\n"
                       "Content-Length: %zu\r\n\r\n%s", method, path, body ? strlen(body) : 0, body ? body : "");
    ck_assert_int_eq(write(fd, rq, (size_t)len), len);
    size_t got = 0;
    ssize_t k;
    while (got + 1 < n && (k = read(fd, out + got, n - 1 - got)) > 0)
        got += (size_t)k;
    out[got] = 0;
    close(fd);
    long status = got > 12 ? strtol(out + 9, NULL, 10) : 0;
    const char *sep = strstr(out, "\r\n\r\n");
    if (status && sep && got < n - 1) { /* whole answers only */
        char ctype[128];
        pay_header(out, "Content-Type", ctype, sizeof ctype);
        h_record(port, method, path, "application/json", body ? body : "", status, ctype, sep + 4, strlen(sep + 4));
    }
    return status;
}

static void pay_header(const char *answer, const char *name, char *out, size_t n)
{
    out[0] = 0;
    size_t nl = strlen(name);
    for (const char *p = answer; *p && strncmp(p, "\r\n", 2);) {
        const char *e = strstr(p, "\r\n");
        size_t len = e ? (size_t)(e - p) : strlen(p);
        if (len > nl + 1 && !strncasecmp(p, name, nl) && p[nl] == ':') {
            const char *v = p + nl + 1 + (p[nl + 1] == ' ');
            snprintf(out, n, "%.*s", (int)(len - (size_t)(v - p)), v);
            return;
        }
        p += len + (e ? 2 : 0);
    }
}

/* The water face's worked example, under the default prices (h_main). */
START_TEST(pay_preview_document_example)
{
    struct http_result r = h_req(h_main.port, "POST", "/api/payments/preview", "application/json",
                                 "{\"amount\":52}", 0, NULL);
    ck_assert_msg(r.status == 200, "%ld %s", r.status, r.body);
    ck_assert(json_is_true(json_object_get(r.json, "success")));
    ck_assert_str_eq(pay_str(r.json, "message"), "Payment preview generated");
    json_t *d = pay_data(&r);
    ck_assert_int_eq(pay_int(d, "requestedAmount"), 52);
    ck_assert_int_eq(pay_int(d, "amount"), 50);
    ck_assert_int_eq(pay_int(d, "liters"), 10);
    ck_assert_int_eq(pay_int(d, "pricePerLiter"), 5);
    ck_assert_str_eq(pay_str(d, "currency"), "KES");
    ck_assert_str_eq(pay_str(d, "roundingStrategy"), "nearest");
    ck_assert_int_eq(pay_int(d, "difference"), -2);
    h_free(&r);
}
END_TEST

START_TEST(pay_preview_refuses_bad_amounts)
{
    const char *bodies[] = {"{\"amount\":5}", "{\"amount\":10001}", "{\"amount\":0}", "{\"amount\":\"lots\"}",
                            "{\"amount\":12.5}", "{}", "{not json", NULL};
    const char *codes[] = {"INVALID_AMOUNT", "INVALID_AMOUNT", "VALIDATION_ERROR", "VALIDATION_ERROR",
                           "VALIDATION_ERROR", "VALIDATION_ERROR", "INVALID_JSON"};
    for (int i = 0; bodies[i]; i++) {
        struct http_result r = pay_req(&pay_lipad, "POST", "/api/payments/preview", bodies[i]);
        pay_assert_error(&r, 400, codes[i]);
        ck_assert_msg(strstr(pay_str(r.json, "message"), i < 6 ? "amount" : "body"), "names the field: %s", r.body);
        h_free(&r);
    }
}
END_TEST

/* The document's M-Pesa journey: initiate, the customer pays, the status
 * says completed with the receipt, and the code SMS arrives. */
START_TEST(pay_mpesa_paid)
{
    const char *phone = "+254712000901";
    json_t *d = pay_mpesa("254712000901", 50, "{\"customerName\":\"John Doe\",\"location\":\"Station 1\"}");
    ck_assert_int_eq(pay_int(d, "amount"), 50);
    ck_assert_int_eq(pay_int(d, "liters"), 50);
    ck_assert_str_eq(pay_str(d, "phoneNumber"), "254712000901");
    ck_assert_str_eq(pay_str(d, "status"), "processing");
    ck_assert(json_is_true(json_object_get(d, "success")));
    char ref[40];
    str_copy(ref, sizeof ref, pay_str(d, "transactionReference"));
    json_decref(d);

    d = pay_wait_status(ref, "completed", 10000);
    ck_assert_str_eq(pay_str(d, "status"), "completed");
    ck_assert_str_eq(pay_str(d, "transactionReference"), ref);
    ck_assert_str_eq(pay_str(d, "phoneNumber"), "254712000901");
    ck_assert_int_eq(pay_int(d, "amount"), 50);
    ck_assert_int_eq(pay_int(d, "liters"), 50);
    ck_assert_str_eq(pay_str(d, "currency"), "KES");
    ck_assert_int_eq(pay_int(d, "resultCode"), 0);
    ck_assert_msg(pay_str(d, "mpesaReceiptNumber") && strlen(pay_str(d, "mpesaReceiptNumber")) >= 8, "receipt");
    ck_assert_msg(pay_str(d, "checkoutRequestId") && pay_str(d, "merchantRequestId"), "Daraja ids");
    ck_assert_msg(pay_str(d, "transactionDate") && pay_str(d, "createdAt") && pay_str(d, "updatedAt"), "dates");
    ck_assert_str_eq(pay_str(json_object_get(d, "metadata"), "customerName"), "John Doe");
    json_decref(d);

    json_t *sms = h_wait_sms(phone, 1, 10000);
    ck_assert_msg(json_array_size(sms) == 1, "one code SMS");
    const char *text = json_string_value(json_object_get(json_array_get(sms, 0), "message"));
    ck_assert_msg(text && strstr(text, ref), "the SMS names the order: %s", text);
    json_decref(sms);
}
END_TEST

/* A station retrying its request with the same Idempotency-Key gets the
 * same order back, and the customer is asked to pay and texted once. */
START_TEST(pay_mpesa_idempotent_retry)
{
    const char *body = "{\"phoneNumber\":\"254712000931\",\"amount\":40}";
    char refs[2][40];
    for (int k = 0; k < 2; k++) {
        struct http_result r = h_req_h(pay_lipad.port, "POST", "/api/payments/mpesa/initiate", "application/json",
                                       body, 0, NULL, "Idempotency-Key: station-7-order-1");
        ck_assert_msg(r.status == 201, "try %d: %ld %s", k, r.status, r.body);
        str_copy(refs[k], sizeof refs[k], pay_str(pay_data(&r), "transactionReference"));
        h_free(&r);
    }
    ck_assert_str_eq(refs[0], refs[1]);
    json_t *d = pay_wait_status(refs[0], "completed", 10000);
    ck_assert_str_eq(pay_str(d, "status"), "completed");
    json_decref(d);
    json_t *sms = h_wait_sms("+254712000931", 1, 10000);
    h_sleep_ms(1000);
    json_decref(sms);
    sms = h_sms("+254712000931");
    ck_assert_msg(json_array_size(sms) == 1, "one code SMS, got %zu", json_array_size(sms));
    json_decref(sms);
}
END_TEST

/* The checkout's POST with an Idempotency-Key header. */
static struct http_result pay_keyed(const char *body, const char *key)
{
    char header[128];
    snprintf(header, sizeof header, "Idempotency-Key: %s", key);
    ck_assert_msg(pay_lipad.pid > 0, "lipad is not running");
    return h_req_h(pay_lipad.port, "POST", "/api/payments/mpesa/initiate", "application/json", body, 0, NULL,
                   header);
}

/* An Idempotency-Key belongs to the payer and to its order: another
 * caller sending the same key (another phone, another amount) gets an
 * order of their own and nothing of the first buyer's; the payer reusing
 * the key for a different order is refused, naming the key; the same
 * order again (spelt differently) is the same order, prompted once. */
START_TEST(pay_mpesa_key_is_the_payers)
{
    const char *first = "{\"phoneNumber\":\"254712000932\",\"amount\":40,"
                        "\"metadata\":{\"customerName\":\"Jane Buyer\",\"stall\":\"B7\"}}";
    struct http_result r = pay_keyed(first, "shared-key-1");
    ck_assert_msg(r.status == 201, "first: %ld %s", r.status, r.body);
    char ref[40];
    str_copy(ref, sizeof ref, pay_str(pay_data(&r), "transactionReference"));
    h_free(&r);

    r = pay_keyed("{\"phoneNumber\":\"254712000933\",\"amount\":50}", "shared-key-1");
    ck_assert_msg(r.status == 201, "another caller: %ld %s", r.status, r.body);
    ck_assert_str_ne(pay_str(pay_data(&r), "transactionReference"), ref);
    ck_assert_str_eq(pay_str(pay_data(&r), "phoneNumber"), "254712000933");
    ck_assert_int_eq(pay_int(pay_data(&r), "amount"), 50);
    ck_assert_msg(!strstr(r.body, "254712000932") && !strstr(r.body, "Jane") && !strstr(r.body, ref),
                  "nothing of the first order: %s", r.body);
    h_free(&r);

    const char *other[] = {
        "{\"phoneNumber\":\"0712000932\",\"amount\":60}",
        "{\"phoneNumber\":\"254712000932\",\"amount\":40,\"metadata\":{\"customerName\":\"Someone Else\"}}",
        "{\"phoneNumber\":\"254712000932\",\"amount\":40}",
    };
    for (int i = 0; i < 3; i++) {
        r = pay_keyed(other[i], "shared-key-1");
        pay_assert_error(&r, 422, "IDEMPOTENCY_KEY_REUSED");
        ck_assert_msg(strstr(pay_str(r.json, "message"), "Idempotency-Key"), "names the key: %s", r.body);
        ck_assert_msg(!strstr(r.body, ref) && !strstr(r.body, "Jane"), "nothing of the order: %s", r.body);
        h_free(&r);
    }

    r = pay_keyed("{\"metadata\":{\"stall\":\"B7\",\"customerName\":\"Jane Buyer\"},\"amount\":40,"
                  "\"phoneNumber\":\"+254712000932\"}", "shared-key-1");
    ck_assert_msg(r.status == 201, "the same order: %ld %s", r.status, r.body);
    ck_assert_str_eq(pay_str(pay_data(&r), "transactionReference"), ref);
    h_free(&r);

    const char *bad[] = {"has space", "semi;colon", "caf\xc3\xa9",
                         "k1234567890123456789012345678901234567890123456789012345678901234"}; /* 65 */
    for (int i = 0; i < 4; i++) {
        r = pay_keyed("{\"phoneNumber\":\"254712000934\",\"amount\":40}", bad[i]);
        pay_assert_error(&r, 400, NULL);
        ck_assert_msg(strstr(pay_str(r.json, "message"), "Idempotency-Key"), "names the key: %s", r.body);
        h_free(&r);
    }

    json_t *d = pay_wait_status(ref, "completed", 10000);
    ck_assert_str_eq(pay_str(d, "status"), "completed");
    json_decref(d);
    r = h_req(h_sandbox_port, "GET", "/sandbox/stk?phone=254712000932", NULL, NULL, 0, NULL);
    json_t *stk = json_object_get(r.json, "stk");
    ck_assert_msg(json_array_size(stk) == 1, "one prompt: %s", r.body);
    ck_assert_int_eq(json_integer_value(json_object_get(json_array_get(stk, 0), "amount")), 40);
    h_free(&r);
    r = h_req(h_sandbox_port, "GET", "/sandbox/stk?phone=254712000934", NULL, NULL, 0, NULL);
    ck_assert_msg(json_array_size(json_object_get(r.json, "stk")) == 0, "no prompt for refused keys: %s", r.body);
    h_free(&r);
}
END_TEST

START_TEST(pay_mpesa_refuses_bad_input)
{
    struct http_result r = pay_req(&pay_lipad, "POST", "/api/payments/mpesa/initiate",
                                   "{\"phoneNumber\":\"12345678901\",\"amount\":50}");
    pay_assert_error(&r, 400, "INVALID_PHONE");
    ck_assert(strstr(pay_str(r.json, "message"), "phoneNumber"));
    h_free(&r);
    r = pay_req(&pay_lipad, "POST", "/api/payments/mpesa/initiate", "{\"phoneNumber\":\"254712000902\",\"amount\":5}");
    pay_assert_error(&r, 400, "INVALID_AMOUNT");
    h_free(&r);
    r = pay_req(&pay_lipad, "POST", "/api/payments/mpesa/initiate", "{\"amount\":50}");
    pay_assert_error(&r, 400, "VALIDATION_ERROR");
    ck_assert(strstr(pay_str(r.json, "message"), "phoneNumber"));
    h_free(&r);
    r = pay_req(&pay_lipad, "POST", "/api/payments/mpesa/initiate",
                "{\"phoneNumber\":\"254712000902\",\"amount\":50,\"metadata\":\"x\"}");
    pay_assert_error(&r, 400, "VALIDATION_ERROR");
    ck_assert(strstr(pay_str(r.json, "message"), "metadata"));
    h_free(&r);
    /* nothing was pushed to that phone */
    r = h_req(h_sandbox_port, "GET", "/sandbox/stk?phone=254712000902", NULL, NULL, 0, NULL);
    ck_assert_msg(r.status == 200 && json_array_size(json_object_get(r.json, "stk")) == 0, "no push: %s", r.body);
    h_free(&r);
}
END_TEST

/* The customer cancels at the PIN prompt (sandbox: amount ending in 2). */
START_TEST(pay_mpesa_cancelled)
{
    json_t *d = pay_mpesa("254712000903", 52, NULL);
    char ref[40];
    str_copy(ref, sizeof ref, pay_str(d, "transactionReference"));
    json_decref(d);
    d = pay_wait_status(ref, "cancelled", 10000);
    ck_assert_str_eq(pay_str(d, "status"), "cancelled");
    ck_assert_int_eq(pay_int(d, "resultCode"), 1032);
    json_decref(d);
}
END_TEST

/* M-Pesa answers 5xx: the order is answered at once, 202 and pending, not
 * when its wait for the push runs out (15 s in these tests); the push is
 * retried and the order completes once M-Pesa is back. */
START_TEST(pay_mpesa_queued_while_mpesa_fails)
{
    struct http_result r = h_req(h_sandbox_port, "POST", "/sandbox/fail", "application/json",
                                 "{\"service\":\"daraja\",\"count\":1000,\"status\":503}", 0, NULL);
    ck_assert_int_eq(r.status, 200);
    h_free(&r);
    /* a client that gives up after 5 s */
    r = h_req_within(5000, pay_lipad.port, "POST", "/api/payments/mpesa/initiate", "application/json",
                     "{\"phoneNumber\":\"254712000908\",\"amount\":50}", 0, NULL, NULL);
    /* M-Pesa is back: the push has 6 attempts, over 6 s here */
    struct http_result back = h_req(h_sandbox_port, "POST", "/sandbox/reset", "application/json", "{}", 0, NULL);
    ck_assert_int_eq(back.status, 200);
    h_free(&back);
    ck_assert_msg(r.status == 202, "queued while M-Pesa fails (0: no answer within 5 s): %ld %s", r.status, r.body);
    ck_assert(json_is_true(json_object_get(r.json, "success")));
    json_t *d = pay_data(&r);
    ck_assert_str_eq(pay_str(d, "status"), "pending");
    ck_assert(json_is_null(json_object_get(d, "checkoutRequestId")));
    ck_assert_int_eq(pay_int(d, "amount"), 50);
    char ref[40];
    str_copy(ref, sizeof ref, pay_str(d, "transactionReference"));
    ck_assert_msg(pay_ref_shape(ref), "%s", r.body);
    h_free(&r);
    d = pay_wait_status(ref, "completed", 30000);
    ck_assert_msg(!strcmp(pay_str(d, "status"), "completed"), "the push went through: %s", pay_str(d, "status"));
    ck_assert_msg(pay_str(d, "checkoutRequestId") && *pay_str(d, "checkoutRequestId"), "pushed");
    json_decref(d);
}
END_TEST

/* Daraja's callback at the water face's path: guarded by the secret, applied
 * like /mpesa/callback, once. The sandbox never calls back for an amount
 * ending in 7, so the callback posted here is the only one. */
START_TEST(pay_mpesa_callback_endpoint)
{
    json_t *d = pay_mpesa("254712000904", 107, NULL);
    char ref[40], checkout[64], cb[1024];
    str_copy(ref, sizeof ref, pay_str(d, "transactionReference"));
    str_copy(checkout, sizeof checkout, pay_str(d, "checkoutRequestId"));
    json_decref(d);
    snprintf(cb, sizeof cb,
             "{\"Body\":{\"stkCallback\":{\"MerchantRequestID\":\"29115-1\",\"CheckoutRequestID\":\"%s\","
             "\"ResultCode\":0,\"ResultDesc\":\"The service request is processed successfully.\","
             "\"CallbackMetadata\":{\"Item\":[{\"Name\":\"Amount\",\"Value\":107},"
             "{\"Name\":\"MpesaReceiptNumber\",\"Value\":\"WSE2E00904\"},{\"Name\":\"Balance\"},"
             "{\"Name\":\"TransactionDate\",\"Value\":20240201120000},"
             "{\"Name\":\"PhoneNumber\",\"Value\":254712000904}]}}}}",
             checkout);

    struct http_result r = pay_req(&pay_lipad, "POST", "/api/payments/mpesa/callback?secret=wrong", cb);
    pay_assert_error(&r, 401, "UNAUTHORIZED");
    h_free(&r);
    r = pay_req(&pay_lipad, "POST", "/api/payments/mpesa/callback", cb);
    pay_assert_error(&r, 401, "UNAUTHORIZED");
    h_free(&r);
    r = pay_req(&pay_lipad, "POST", "/api/payments/mpesa/callback?secret=" CB_SECRET, "{\"Body\":{}}");
    pay_assert_error(&r, 400, NULL);
    h_free(&r);
    h_sleep_ms(300);
    d = pay_wait_status(ref, "processing", 0);
    ck_assert_msg(!strcmp(pay_str(d, "status"), "processing"), "refused callbacks change nothing");
    json_decref(d);

    r = pay_req(&pay_lipad, "POST", "/api/payments/mpesa/callback?secret=" CB_SECRET, cb);
    ck_assert_msg(r.status == 200, "%ld %s", r.status, r.body);
    ck_assert(json_is_true(json_object_get(r.json, "success")));
    ck_assert_str_eq(pay_str(r.json, "message"), "Callback processed successfully");
    h_free(&r);
    d = pay_wait_status(ref, "completed", 5000);
    ck_assert_str_eq(pay_str(d, "status"), "completed");
    ck_assert_str_eq(pay_str(d, "mpesaReceiptNumber"), "WSE2E00904");
    /* when M-Pesa says it was paid: 12:00 in Nairobi is 09:00 UTC */
    ck_assert_str_eq(pay_str(d, "transactionDate"), "2024-02-01T09:00:00.000Z");
    char updated[40];
    str_copy(updated, sizeof updated, pay_str(d, "updatedAt"));
    json_decref(d);

    /* Daraja sends it again: answered, applied once */
    r = pay_req(&pay_lipad, "POST", "/api/payments/mpesa/callback?secret=" CB_SECRET, cb);
    ck_assert_int_eq(r.status, 200);
    h_free(&r);
    h_sleep_ms(400);
    d = pay_wait_status(ref, "completed", 0);
    ck_assert_str_eq(pay_str(d, "updatedAt"), updated);
    json_decref(d);
    json_t *sms = h_wait_sms("+254712000904", 2, 1500);
    ck_assert_msg(json_array_size(sms) == 1, "one code SMS, not two: %zu", json_array_size(sms));
    json_decref(sms);
}
END_TEST

/* GET /api/payments/mpesa/query/:ref asks M-Pesa now: still being
 * processed, then (the sandbox customer never answers: 1037) final, which
 * settles the order as timeout. */
START_TEST(pay_mpesa_query)
{
    json_t *d = pay_mpesa("254712000905", 117, NULL);
    char ref[40], path[128];
    str_copy(ref, sizeof ref, pay_str(d, "transactionReference"));
    json_decref(d);
    snprintf(path, sizeof path, "/api/payments/mpesa/query/%s", ref);
    struct http_result r = pay_req(&pay_lipad, "GET", path, NULL);
    ck_assert_msg(r.status == 200, "%ld %s", r.status, r.body);
    ck_assert_str_eq(pay_str(r.json, "message"), "Payment status verified from M-Pesa");
    ck_assert_str_eq(pay_str(pay_data(&r), "transactionReference"), ref);
    ck_assert_str_eq(pay_str(pay_data(&r), "status"), "processing");
    ck_assert_str_eq(pay_str(json_object_get(pay_data(&r), "mpesaQuery"), "state"), "pending");
    h_free(&r);
    h_sleep_ms(600); /* the sandbox customer's time is up */
    r = pay_req(&pay_lipad, "GET", path, NULL);
    ck_assert_msg(r.status == 200, "%ld %s", r.status, r.body);
    json_t *q = json_object_get(pay_data(&r), "mpesaQuery");
    ck_assert_str_eq(pay_str(q, "state"), "final");
    ck_assert_int_eq(pay_int(q, "resultCode"), 1037);
    ck_assert_str_eq(pay_str(pay_data(&r), "status"), "timeout");
    ck_assert_int_eq(pay_int(pay_data(&r), "resultCode"), 1037);
    h_free(&r);
    d = pay_wait_status(ref, "timeout", 0);
    ck_assert_str_eq(pay_str(d, "status"), "timeout");
    json_decref(d);

    r = pay_req(&pay_lipad, "GET", "/api/payments/mpesa/query/WS-1700000000000-AAAAAAAA", NULL);
    pay_assert_error(&r, 404, "TRANSACTION_NOT_FOUND");
    h_free(&r);
    d = pay_paystack(NULL, 30);
    snprintf(path, sizeof path, "/api/payments/mpesa/query/%s", pay_str(d, "transactionReference"));
    json_decref(d);
    r = pay_req(&pay_lipad, "GET", path, NULL);
    pay_assert_error(&r, 400, "NO_CHECKOUT_REQUEST_ID");
    h_free(&r);
}
END_TEST

START_TEST(pay_status_unknown)
{
    const char *paths[] = {"/api/payments/status/WS-1700000000000-AAAAAAAA", "/api/payments/status/nonsense",
                           "/api/payments/paystack/verify/WS-1700000000000-AAAAAAAA", NULL};
    for (int i = 0; paths[i]; i++) {
        struct http_result r = pay_req(&pay_lipad, "GET", paths[i], NULL);
        pay_assert_error(&r, 404, "TRANSACTION_NOT_FOUND");
        h_free(&r);
    }
    struct http_result r = pay_req(&pay_lipad, "DELETE", "/api/payments/status/WS-1700000000000-AAAAAAAA", NULL);
    pay_assert_error(&r, 405, NULL);
    h_free(&r);
}
END_TEST

/* Paystack: the checkout opens, the customer pays, the signed webhook
 * completes the order and the code SMS goes out; Paystack's retry of the
 * same event changes nothing; verify agrees. */
START_TEST(pay_paystack_paid_by_webhook)
{
    const char *phone = "+254712000906";
    json_t *d = pay_paystack("254712000906", 60);
    ck_assert_int_eq(pay_int(d, "amount"), 60);
    ck_assert_int_eq(pay_int(d, "liters"), 60);
    char ref[40], path[128], updated[40];
    str_copy(ref, sizeof ref, pay_str(d, "transactionReference"));
    json_decref(d);

    json_t *ans = pay_at_checkout(ref, "success", 0, "good");
    ck_assert_int_eq(pay_int(json_object_get(ans, "webhook"), "status"), 200);
    json_decref(ans);
    d = pay_wait_status(ref, "completed", 0);
    ck_assert_msg(!strcmp(pay_str(d, "status"), "completed"), "completed at once: %s", pay_str(d, "status"));
    ck_assert_str_eq(pay_str(d, "paymentMethod"), "paystack");
    ck_assert_str_eq(pay_str(d, "paystackStatus"), "success");
    ck_assert_int_eq(pay_int(d, "resultCode"), 0);
    ck_assert_str_eq(pay_str(json_object_get(d, "metadata"), "k"), "v");
    str_copy(updated, sizeof updated, pay_str(d, "updatedAt"));
    json_decref(d);
    json_t *sms = h_wait_sms(phone, 1, 10000);
    ck_assert_msg(json_array_size(sms) == 1, "the code SMS");
    json_decref(sms);

    /* the same event again (Paystack retries) */
    ans = pay_at_checkout(ref, "success", 0, "good");
    ck_assert_int_eq(pay_int(json_object_get(ans, "webhook"), "status"), 200);
    json_decref(ans);
    h_sleep_ms(300);
    d = pay_wait_status(ref, "completed", 0);
    ck_assert_str_eq(pay_str(d, "updatedAt"), updated);
    json_decref(d);
    sms = h_wait_sms(phone, 2, 1500);
    ck_assert_msg(json_array_size(sms) == 1, "still one SMS: %zu", json_array_size(sms));
    json_decref(sms);

    snprintf(path, sizeof path, "/api/payments/paystack/verify/%s", ref);
    struct http_result r = pay_req(&pay_lipad, "GET", path, NULL);
    ck_assert_msg(r.status == 200, "%ld %s", r.status, r.body);
    ck_assert_str_eq(pay_str(r.json, "message"), "Payment verified successfully");
    ck_assert_str_eq(pay_str(pay_data(&r), "status"), "completed");
    ck_assert_str_eq(pay_str(pay_data(&r), "paystackStatus"), "success");
    ck_assert_str_eq(pay_str(pay_data(&r), "currency"), "KES");
    ck_assert_int_eq(pay_int(pay_data(&r), "amount"), 60);
    h_free(&r);
}
END_TEST

/* A webhook without the right signature is refused and changes nothing;
 * verify then finds the payment (amount and currency checked) and
 * completes the order. */
START_TEST(pay_paystack_forged_webhook)
{
    json_t *d = pay_paystack(NULL, 40);
    char ref[40], path[128];
    str_copy(ref, sizeof ref, pay_str(d, "transactionReference"));
    json_decref(d);
    json_t *ans = pay_at_checkout(ref, "success", 0, "bad");
    ck_assert_int_eq(pay_int(json_object_get(ans, "webhook"), "status"), 401);
    json_decref(ans);
    ans = pay_at_checkout(ref, "success", 0, "none");
    ck_assert_int_eq(pay_int(json_object_get(ans, "webhook"), "status"), 401);
    json_decref(ans);
    d = pay_wait_status(ref, "processing", 0);
    ck_assert_str_eq(pay_str(d, "status"), "processing");
    json_decref(d);

    snprintf(path, sizeof path, "/api/payments/paystack/verify/%s", ref);
    struct http_result r = pay_req(&pay_lipad, "GET", path, NULL);
    ck_assert_msg(r.status == 200, "%ld %s", r.status, r.body);
    ck_assert_str_eq(pay_str(pay_data(&r), "status"), "completed");
    ck_assert_str_eq(pay_str(pay_data(&r), "paystackChannel"), "card");
    ck_assert_int_eq(pay_int(pay_data(&r), "resultCode"), 0);
    h_free(&r);
}
END_TEST

/* The customer paid but no webhook ever got through, and nobody calls
 * verify: the sweeper asks Paystack after LIPA_SETTLE_AFTER, completes the
 * order and the code SMS still arrives. */
START_TEST(pay_paystack_settled_without_webhook)
{
    const char *phone = "+254712000907";
    json_t *d = pay_paystack("254712000907", 50);
    char ref[40];
    str_copy(ref, sizeof ref, pay_str(d, "transactionReference"));
    json_decref(d);
    json_t *ans = pay_at_checkout(ref, "success", 0, "none");
    ck_assert_int_eq(pay_int(json_object_get(ans, "webhook"), "status"), 401);
    json_decref(ans);
    d = pay_wait_status(ref, "completed", 15000);
    ck_assert_str_eq(pay_str(d, "status"), "completed");
    json_decref(d);
    json_t *sms = h_wait_sms(phone, 1, 10000);
    ck_assert_msg(json_array_size(sms) == 1, "the code SMS");
    json_decref(sms);
}
END_TEST

/* The customer paid less than asked: verify refuses to credit it. */
START_TEST(pay_paystack_amount_mismatch)
{
    json_t *d = pay_paystack(NULL, 70);
    char ref[40], path[128];
    str_copy(ref, sizeof ref, pay_str(d, "transactionReference"));
    json_decref(d);
    json_decref(pay_at_checkout(ref, "success", 6000, NULL));
    snprintf(path, sizeof path, "/api/payments/paystack/verify/%s", ref);
    struct http_result r = pay_req(&pay_lipad, "GET", path, NULL);
    ck_assert_msg(r.status == 200, "%ld %s", r.status, r.body);
    ck_assert_str_eq(pay_str(pay_data(&r), "status"), "failed");
    ck_assert_msg(strstr(pay_str(pay_data(&r), "lastError"), "mismatch"), "%s", r.body);
    h_free(&r);
    /* and it stays refused */
    r = pay_req(&pay_lipad, "GET", path, NULL);
    ck_assert_str_eq(pay_str(pay_data(&r), "status"), "failed");
    h_free(&r);
}
END_TEST

START_TEST(pay_paystack_declined_and_open)
{
    json_t *d = pay_paystack(NULL, 80);
    char ref[40], path[128];
    str_copy(ref, sizeof ref, pay_str(d, "transactionReference"));
    json_decref(d);
    snprintf(path, sizeof path, "/api/payments/paystack/verify/%s", ref);
    /* not paid yet: verify leaves it open */
    struct http_result r = pay_req(&pay_lipad, "GET", path, NULL);
    ck_assert_msg(r.status == 200, "%ld %s", r.status, r.body);
    ck_assert_str_eq(pay_str(pay_data(&r), "status"), "processing");
    ck_assert_str_eq(pay_str(r.json, "message"), "Payment not completed yet");
    h_free(&r);
    json_decref(pay_at_checkout(ref, "failed", 0, NULL));
    r = pay_req(&pay_lipad, "GET", path, NULL);
    ck_assert_str_eq(pay_str(pay_data(&r), "status"), "failed");
    ck_assert_str_eq(pay_str(pay_data(&r), "paystackStatus"), "failed");
    h_free(&r);
}
END_TEST

START_TEST(pay_paystack_refuses_bad_input)
{
    const char *bodies[] = {
        "{\"amount\":50}",
        "{\"email\":\"not-an-address\",\"amount\":50}",
        "{\"email\":\"buyer@example.com\",\"amount\":50,\"currency\":\"NGN\"}",
        "{\"email\":\"buyer@example.com\",\"amount\":5}",
        "{\"email\":\"buyer@example.com\",\"amount\":50,\"phoneNumber\":\"999\"}",
        NULL};
    const char *codes[] = {"VALIDATION_ERROR", "INVALID_EMAIL", "INVALID_CURRENCY", "INVALID_AMOUNT", "INVALID_PHONE"};
    const char *fields[] = {"email", "email", "currency", "amount", "phoneNumber"};
    for (int i = 0; bodies[i]; i++) {
        struct http_result r = pay_req(&pay_lipad, "POST", "/api/payments/paystack/initialize", bodies[i]);
        pay_assert_error(&r, 400, codes[i]);
        ck_assert_msg(strstr(pay_str(r.json, "message"), fields[i]), "names %s: %s", fields[i], r.body);
        h_free(&r);
    }
}
END_TEST

/* The browser comes back from the checkout. */
START_TEST(pay_paystack_browser_callback)
{
    struct http_result r = pay_req(&pay_lipad, "GET",
                                   "/api/payments/paystack/callback?trxref=WS-1700000000000-ABCD1234"
                                   "&reference=WS-1700000000000-ABCD1234", NULL);
    ck_assert_msg(r.status == 200, "%ld %s", r.status, r.body);
    ck_assert_str_eq(pay_str(r.json, "message"), "Payment callback received. Verify payment to confirm final status.");
    ck_assert_str_eq(pay_str(pay_data(&r), "reference"), "WS-1700000000000-ABCD1234");
    ck_assert_str_eq(pay_str(pay_data(&r), "verifyUrl"), "/api/payments/paystack/verify/WS-1700000000000-ABCD1234");
    h_free(&r);
    r = pay_req(&pay_lipad, "GET", "/api/payments/paystack/callback", NULL);
    pay_assert_error(&r, 400, NULL);
    h_free(&r);
}
END_TEST

/* /api/health in the water face's shape (lipa has no Redis). */
START_TEST(pay_health_shape)
{
    struct http_result r = pay_req(&pay_lipad, "GET", "/api/health", NULL);
    ck_assert_msg(r.status == 200, "%ld %s", r.status, r.body);
    ck_assert(json_is_true(json_object_get(r.json, "success")));
    ck_assert_str_eq(pay_str(pay_data(&r), "status"), "healthy");
    ck_assert_str_eq(pay_str(pay_data(&r), "database"), "connected");
    ck_assert_msg(pay_str(pay_data(&r), "timestamp") && strlen(pay_str(pay_data(&r), "timestamp")) == 24, "ts");
    h_free(&r);
}
END_TEST

/* 3 requests per 2 s: the budget shows in the headers, the fourth gets the
 * document's 429, provider callbacks and health are never counted, and the
 * next window starts afresh. */
START_TEST(pay_rate_limit)
{
    struct lipad l;
    char dir[128], ans[8192], v[64];
    h_dir_fresh(dir, sizeof dir, "water-rate");
    const char *extra[] = {"LIPA_RATE_LIMIT=3", "LIPA_RATE_WINDOW=2", NULL};
    ck_assert(h_lipad_start(&l, h_main.port + PAY_PORT_OFFSET + 1, dir, extra));
    for (int i = 0; i < 3; i++) {
        long st = pay_raw(l.port, "POST", "/api/payments/preview", "{\"amount\":52}", ans, sizeof ans);
        ck_assert_msg(st == 200, "%ld %s", st, ans);
        pay_header(ans, "X-RateLimit-Limit", v, sizeof v);
        ck_assert_str_eq(v, "3");
        pay_header(ans, "X-RateLimit-Remaining", v, sizeof v);
        ck_assert_int_eq(strtol(v, NULL, 10), 2 - i);
        pay_header(ans, "X-RateLimit-Reset", v, sizeof v);
        ck_assert_msg(strtoll(v, NULL, 10) >= (long long)time(NULL), "reset %s", v);
    }
    long st = pay_raw(l.port, "GET", "/api/payments/status/WS-1700000000000-AAAAAAAA", NULL, ans, sizeof ans);
    ck_assert_msg(st == 429, "%ld %s", st, ans);
    json_t *j = json_loads(strstr(ans, "\r\n\r\n") + 4, 0, NULL);
    ck_assert_str_eq(pay_str(j, "message"), "Too many requests from this IP, please try again later.");
    ck_assert(json_is_false(json_object_get(j, "success")));
    ck_assert_str_eq(pay_str(j, "error"), "RATE_LIMIT_EXCEEDED");
    json_decref(j);
    /* exempt: provider callbacks answer on their own terms, health is up */
    st = pay_raw(l.port, "POST", "/api/payments/mpesa/callback?secret=wrong", "{}", ans, sizeof ans);
    ck_assert_msg(st == 401, "M-Pesa callback not limited: %ld", st);
    st = pay_raw(l.port, "POST", "/api/payments/paystack/webhook", "{}", ans, sizeof ans);
    ck_assert_msg(st == 401, "webhook not limited: %ld", st);
    st = pay_raw(l.port, "GET", "/api/payments/paystack/callback?reference=WS-1700000000000-AAAAAAAA", NULL, ans,
                 sizeof ans);
    ck_assert_msg(st == 200, "browser callback not limited: %ld", st);
    st = pay_raw(l.port, "GET", "/api/health", NULL, ans, sizeof ans);
    ck_assert_msg(st == 200, "health not limited: %ld", st);
    h_sleep_ms(2100);
    st = pay_raw(l.port, "POST", "/api/payments/preview", "{\"amount\":52}", ans, sizeof ans);
    ck_assert_msg(st == 200, "a new window: %ld", st);
    ck_assert_int_eq(h_lipad_stop(&l, SIGTERM), 0);
}
END_TEST

static TCase *tcase_payments(void)
{
    TCase *t = tcase_create("payments");
    tcase_add_unchecked_fixture(t, pay_setup, pay_teardown);
    tcase_set_timeout(t, 60);
    tcase_add_test(t, pay_preview_document_example);
    tcase_add_test(t, pay_preview_refuses_bad_amounts);
    tcase_add_test(t, pay_mpesa_paid);
    tcase_add_test(t, pay_mpesa_idempotent_retry);
    tcase_add_test(t, pay_mpesa_key_is_the_payers);
    tcase_add_test(t, pay_mpesa_refuses_bad_input);
    tcase_add_test(t, pay_mpesa_cancelled);
    tcase_add_test(t, pay_mpesa_callback_endpoint);
    tcase_add_test(t, pay_mpesa_queued_while_mpesa_fails);
    tcase_add_test(t, pay_mpesa_query);
    tcase_add_test(t, pay_status_unknown);
    tcase_add_test(t, pay_paystack_paid_by_webhook);
    tcase_add_test(t, pay_paystack_forged_webhook);
    tcase_add_test(t, pay_paystack_settled_without_webhook);
    tcase_add_test(t, pay_paystack_amount_mismatch);
    tcase_add_test(t, pay_paystack_declined_and_open);
    tcase_add_test(t, pay_paystack_refuses_bad_input);
    tcase_add_test(t, pay_paystack_browser_callback);
    tcase_add_test(t, pay_health_shape);
    tcase_add_test(t, pay_rate_limit);
    return t;
}

/* ==== end of the payments tcase ==== */

/* ==== codes and stations (tcase "codes") ====
 * One-time water codes from a USSD purchase to the station: menu 2 buys,
 * the sandbox pays, the code comes by SMS (read from the text the sandbox
 * received), stations registered here verify and complete it. Runs on
 * h_main (KES 5 a litre, codes valid 10 minutes, 3 attempts), except the
 * expiry test: its lipad (codes_lipad: 30-second codes, KES 1 a litre so
 * 12 L is an amount the sandbox customer cancels) is started, and bought
 * from, when the tcase starts, so the test waits only what is left of the
 * 30 s. Phones: +25471300NNNN; stations E2E-*. */

#include "util/form.h"
#include "util/httpc.h"

#include <pthread.h>

#define CODES_PORT_OFFSET 70   /* codes_lipad: h_main.port + 70 */

static struct lipad codes_lipad;
static char codes_dir[128];

static const char *codes_str(json_t *o, const char *k) { return json_string_value(json_object_get(o, k)); }
static long long codes_int(json_t *o, const char *k) { return (long long)json_integer_value(json_object_get(o, k)); }
static json_t *codes_data(struct http_result *r) { return json_object_get(r->json, "data"); }

/* One USSD hop without asserting (the fixture runs outside a test). */
static void codes_hop(struct lipad *l, const char *session, const char *phone, const char *text)
{
    char *p = form_encode(phone), *t = form_encode(text), *s = form_encode(session), body[512];
    snprintf(body, sizeof body, "sessionId=%s&serviceCode=%%2A384%%2A1234%%23&phoneNumber=%s&networkCode=63902&text=%s",
             s, p, t);
    free(p);
    free(t);
    free(s);
    struct http_result r = h_req(l->port, "POST", "/api/ussd", "application/x-www-form-urlencoded", body, 0, NULL);
    h_free(&r);
}

static void codes_setup(void)
{
    static char port_env[32];
    h_dir_fresh(codes_dir, sizeof codes_dir, "water-codes");
    snprintf(port_env, sizeof port_env, "LIPA_RATE_LIMIT=%d", 100000);
    const char *extra[] = {"LIPA_OTP_TTL=30", "LIPA_WATER_PRICE_CENTS=100", port_env, NULL};
    if (!h_lipad_start(&codes_lipad, h_main.port + CODES_PORT_OFFSET, codes_dir, extra)) {
        fprintf(stderr, "e2e: the codes lipad did not start (see %s/lipad.log)\n", codes_dir);
        codes_lipad.pid = 0;
        return;
    }
    /* 20 L (KES 20, paid) and 12 L (KES 12: the sandbox customer cancels) */
    const char *paid[] = {"", "2", "2*1", "2*1*1", NULL};
    const char *cancelled[] = {"", "2", "2*3", "2*3*12", "2*3*12*1", NULL};
    for (int i = 0; paid[i]; i++)
        codes_hop(&codes_lipad, "s-codes-exp-1", "+254713000090", paid[i]);
    for (int i = 0; cancelled[i]; i++)
        codes_hop(&codes_lipad, "s-codes-exp-2", "+254713000091", cancelled[i]);
}

static void codes_teardown(void)
{
    if (codes_lipad.pid > 0) {
        int rc = h_lipad_stop(&codes_lipad, SIGTERM);
        if (rc != 0)
            fprintf(stderr, "e2e: the codes lipad exited %d (sanitizer report? see %s/lipad.log)\n", rc, codes_dir);
    }
}

/* A water face error: {success:false, message, error:code}. */
static void codes_error(struct http_result *r, long status, const char *code)
{
    ck_assert_msg(r->status == status, "want %ld, got %ld: %s", status, r->status, r->body);
    ck_assert_msg(json_is_false(json_object_get(r->json, "success")), "success:false: %s", r->body);
    ck_assert_msg(codes_str(r->json, "message") && *codes_str(r->json, "message"), "a message: %s", r->body);
    ck_assert_msg(codes_str(r->json, "error") && !strcmp(codes_str(r->json, "error"), code), "error %s: %s", code,
                  r->body);
}

/* The code in an SMS: its one run of exactly six digits. */
static bool codes_digits(const char *text, char out[7])
{
    for (const char *p = text; p && *p; p++) {
        if (*p < '0' || *p > '9' || (p > text && p[-1] >= '0' && p[-1] <= '9'))
            continue;
        size_t n = strspn(p, "0123456789");
        if (n == 6) {
            memcpy(out, p, 6);
            out[6] = 0;
            return true;
        }
    }
    return false;
}

/* The phone's n-th SMS (1-based, waiting for it): its code and the order's
 * reference; the text goes to text when given. */
static void codes_wait_code(const char *phone, size_t n, char code[7], char ref[40], char *text, size_t textsz)
{
    json_t *sms = h_wait_sms(phone, n, 20000);
    ck_assert_msg(json_array_size(sms) >= n, "SMS %zu for %s: %zu arrived", n, phone, json_array_size(sms));
    const char *t = codes_str(json_array_get(sms, n - 1), "message");
    ck_assert_msg(t && codes_digits(t, code), "a 6-digit code in: %s", t ? t : "(none)");
    const char *w = strstr(t, "WS-");
    ck_assert_msg(w, "the reference in: %s", t);
    size_t k = strspn(w, "WS-0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ");
    ck_assert_int_lt(k, 40);
    memcpy(ref, w, k);
    ref[k] = 0;
    if (text)
        str_copy(text, textsz, t);
    json_decref(sms);
}

/* Walks the USSD hops (AT's joined texts, one per entry) and returns the
 * last answer; every screen fits 160 characters. */
static char *codes_walk(struct lipad *l, const char *session, const char *phone, const char *const *texts)
{
    char *last = NULL;
    for (int i = 0; texts[i]; i++) {
        free(last);
        last = h_ussd(l, session, phone, texts[i]);
        ck_assert_msg(strlen(last) <= 160, "screen over 160: %s", last);
    }
    return last;
}

/* Registers a station on h_main; its key goes to key. */
static void codes_station(const char *id, int pulses, char key[64])
{
    char body[256];
    if (pulses)
        snprintf(body, sizeof body, "{\"stationId\":\"%s\",\"name\":\"Kiosk %s\",\"location\":\"Kibera\","
                 "\"pulsesPerLiter\":%d}", id, id, pulses);
    else
        snprintf(body, sizeof body, "{\"stationId\":\"%s\",\"name\":\"Kiosk %s\",\"location\":\"Kibera\"}", id, id);
    struct http_result r = h_json_admin(&h_main, "POST", "/api/stations", body);
    ck_assert_msg(r.status == 201, "register %s: %ld %s", id, r.status, r.body);
    json_t *d = codes_data(&r);
    ck_assert_str_eq(codes_str(d, "stationId"), id);
    ck_assert_int_eq(codes_int(d, "pulsesPerLiter"), pulses ? pulses : 1000);
    ck_assert_msg(codes_str(d, "apiKey") && strlen(codes_str(d, "apiKey")) >= 32, "an apiKey: %s", r.body);
    str_copy(key, 64, codes_str(d, "apiKey"));
    h_free(&r);
}

static struct http_result codes_verify(struct lipad *l, const char *key, const char *ref, const char *otp,
                                       const char *station)
{
    char body[256];
    snprintf(body, sizeof body, "{\"transactionReference\":\"%s\",\"otp\":\"%s\",\"stationId\":\"%s\"}", ref, otp,
             station);
    return h_req(l->port, "POST", "/api/stations/otp/verify", "application/json", body, 0, key);
}

static struct http_result codes_complete(const char *key, const char *ref, const char *station, const char *liters)
{
    char body[256];
    snprintf(body, sizeof body, "{\"transactionReference\":\"%s\",\"stationId\":\"%s\",\"litersDispensed\":%s}", ref,
             station, liters);
    return h_req(h_main.port, "POST", "/api/stations/otp/complete", "application/json", body, 0, key);
}

static struct http_result codes_status(struct lipad *l, const char *ref)
{
    char path[128];
    snprintf(path, sizeof path, "/api/otp/status/%s", ref);
    return h_json_admin(l, "GET", path, NULL);
}

static struct http_result codes_station_status(const char *ref, const char *station, const char *key)
{
    char path[192];
    snprintf(path, sizeof path, "/api/stations/otp/status/%s?stationId=%s", ref, station);
    return h_req(h_main.port, "GET", path, NULL, NULL, 0, key);
}

/* A code one digit off the right one. */
static void codes_wrong(const char *code, int i, char out[7])
{
    str_copy(out, 7, code);
    out[i % 6] = (char)('0' + (out[i % 6] - '0' + 1 + i / 6) % 10);
}

/* The whole water journey by USSD: buy 20 L from menu 2, the
 * code SMS, a station checks and dispenses it. */
START_TEST(codes_ussd_to_station)
{
    const char *phone = "+254713000001";
    char *a = h_ussd(&h_main, "s-codes-1", phone, "");
    ck_assert_msg(strstr(a, "2. Buy water"), "%s", a);
    free(a);
    a = h_ussd(&h_main, "s-codes-1", phone, "2");
    ck_assert_msg(!strncmp(a, "CON ", 4) && strstr(a, "20 L") && strstr(a, "40 L") && strstr(a, "Other amount") &&
                      strstr(a, "My water codes"), "water menu: %s", a);
    free(a);
    a = h_ussd(&h_main, "s-codes-1", phone, "2*1");
    ck_assert_msg(!strncmp(a, "CON ", 4) && strstr(a, "20 L of water") && strstr(a, "KES 100") && strstr(a, "1. Yes"),
                  "confirm shows litres and price: %s", a);
    free(a);
    a = h_ussd(&h_main, "s-codes-1", phone, "2*1*1");
    ck_assert_msg(!strncmp(a, "END ", 4) && strstr(a, "PIN") && strstr(a, "KES 100"), "%s", a);
    free(a);

    char code[7], ref[40], text[400];
    codes_wait_code(phone, 1, code, ref, text, sizeof text);
    ck_assert_msg(strstr(text, "Paid KES 100 for 20 L of water") && strstr(text, "valid 10 min"), "%s", text);
    ck_assert_int_eq(strlen(ref), 25);

    char key[64], key2[64];
    codes_station("E2E-ST-01", 0, key);
    codes_station("E2E-ST-02", 0, key2);
    struct http_result r = h_json_admin(&h_main, "GET", "/api/stations", NULL);
    ck_assert_msg(r.status == 200 && json_is_array(codes_data(&r)), "%ld %s", r.status, r.body);
    ck_assert_msg(strstr(r.body, "E2E-ST-01") && !strstr(r.body, "apiKey") && !strstr(r.body, key),
                  "listed, key never shown again: %s", r.body);
    h_free(&r);

    r = codes_status(&h_main, ref);
    ck_assert_msg(r.status == 200, "%ld %s", r.status, r.body);
    json_t *d = codes_data(&r);
    ck_assert(json_is_true(json_object_get(d, "exists")));
    ck_assert_str_eq(codes_str(d, "status"), "active");
    ck_assert_int_eq(codes_int(d, "attempts"), 0);
    ck_assert_int_eq(codes_int(d, "maxAttempts"), 3);
    ck_assert_int_eq(codes_int(d, "remainingAttempts"), 3);
    ck_assert_int_eq(codes_int(d, "liters"), 20);
    ck_assert_msg(codes_str(d, "expiresAt") && strlen(codes_str(d, "expiresAt")) == 24, "expiresAt: %s", r.body);
    ck_assert_msg(!strstr(r.body, code), "never the digits: %s", r.body);
    h_free(&r);

    r = codes_station_status(ref, "E2E-ST-01", key);
    ck_assert_msg(r.status == 200, "%ld %s", r.status, r.body);
    d = codes_data(&r);
    ck_assert(json_is_true(json_object_get(d, "canUse")));
    ck_assert(json_is_false(json_object_get(d, "isLockedToDifferentStation")));
    ck_assert_int_eq(codes_int(d, "pulses"), 20000);
    ck_assert(json_is_null(json_object_get(d, "stationId")));
    h_free(&r);

    r = codes_verify(&h_main, key, ref, code, "E2E-ST-01");
    ck_assert_msg(r.status == 200, "%ld %s", r.status, r.body);
    ck_assert(json_is_true(json_object_get(r.json, "success")));
    ck_assert_str_eq(codes_str(r.json, "message"), "OTP verified successfully. Dispensing authorized.");
    d = codes_data(&r);
    ck_assert_str_eq(codes_str(d, "transactionReference"), ref);
    ck_assert_str_eq(codes_str(d, "stationId"), "E2E-ST-01");
    ck_assert_int_eq(codes_int(d, "liters"), 20);
    ck_assert_int_eq(codes_int(d, "pulses"), 20000);
    ck_assert_str_eq(codes_str(d, "status"), "in_progress");
    ck_assert_msg(codes_str(d, "verifiedAt") && strlen(codes_str(d, "verifiedAt")) == 24, "%s", r.body);
    h_free(&r);

    r = codes_station_status(ref, "E2E-ST-02", key2);
    d = codes_data(&r);
    ck_assert_str_eq(codes_str(d, "status"), "in_progress");
    ck_assert(json_is_true(json_object_get(d, "isLockedToDifferentStation")));
    ck_assert(json_is_false(json_object_get(d, "canUse")));
    ck_assert_str_eq(codes_str(d, "stationId"), "E2E-ST-01");
    h_free(&r);

    r = codes_complete(key, ref, "E2E-ST-01", "20");
    ck_assert_msg(r.status == 200, "%ld %s", r.status, r.body);
    d = codes_data(&r);
    ck_assert_str_eq(codes_str(d, "status"), "used");
    ck_assert_int_eq(codes_int(d, "litersDispensed"), 20);
    ck_assert(json_is_false(json_object_get(d, "short")));
    h_free(&r);

    r = codes_status(&h_main, ref);
    d = codes_data(&r);
    ck_assert_str_eq(codes_str(d, "status"), "used");
    ck_assert_int_eq(codes_int(d, "litersDispensed"), 20);
    ck_assert_str_eq(codes_str(d, "stationId"), "E2E-ST-01");
    h_free(&r);

    /* a used code is not offered for resending */
    const char *mine[] = {"", "2", "2*4", NULL};
    a = codes_walk(&h_main, "s-codes-1b", phone, mine);
    ck_assert_msg(!strncmp(a, "END ", 4) && strstr(a, "no water codes"), "%s", a);
    free(a);
}
END_TEST

/* Other amount, in Swahili, a station with its own pulse rate, and a
 * short dispense. */
START_TEST(codes_other_amount_short_dispense)
{
    const char *phone = "+254713000002";
    h_user(&h_main, phone, "sw");
    const char *steps[] = {"", "2", "2*3", NULL};
    char *a = codes_walk(&h_main, "s-codes-2", phone, steps);
    ck_assert_msg(!strncmp(a, "CON ", 4) && strstr(a, "lita"), "%s", a);
    free(a);
    a = h_ussd(&h_main, "s-codes-2", phone, "2*3*1"); /* KES 5: under the minimum */
    ck_assert_msg(!strncmp(a, "CON ", 4) && strstr(a, "Lita lazima ziwe kati ya 2 na 2000"), "%s", a);
    free(a);
    a = h_ussd(&h_main, "s-codes-2", phone, "2*3*1*25");
    ck_assert_msg(strstr(a, "Lita 25 za maji") && strstr(a, "KES 125") && strstr(a, "1. Ndiyo"), "%s", a);
    free(a);
    a = h_ussd(&h_main, "s-codes-2", phone, "2*3*1*25*1");
    ck_assert_msg(!strncmp(a, "END ", 4) && strstr(a, "PIN"), "%s", a);
    free(a);

    char code[7], ref[40], text[400];
    codes_wait_code(phone, 1, code, ref, text, sizeof text);
    ck_assert_msg(strstr(text, "Umelipa KES 125 kwa lita 25") && strstr(text, "Nambari"), "Swahili: %s", text);

    char key[64], other[64];
    codes_station("E2E-ST-03", 450, key);
    codes_station("E2E-ST-04", 0, other);
    struct http_result r = codes_verify(&h_main, key, ref, code, "E2E-ST-03");
    ck_assert_msg(r.status == 200, "%ld %s", r.status, r.body);
    ck_assert_int_eq(codes_int(codes_data(&r), "pulses"), 25 * 450);
    h_free(&r);

    r = codes_complete(other, ref, "E2E-ST-04", "25");
    codes_error(&r, 403, "OTP_LOCKED");
    h_free(&r);
    r = codes_complete(key, ref, "E2E-ST-03", "26");
    codes_error(&r, 400, "INVALID_LITERS");
    h_free(&r);
    r = codes_complete(key, ref, "E2E-ST-03", "17.5");
    ck_assert_msg(r.status == 200, "%ld %s", r.status, r.body);
    ck_assert_str_eq(codes_str(r.json, "message"), "Short dispense recorded");
    json_t *d = codes_data(&r);
    ck_assert(json_is_true(json_object_get(d, "short")));
    ck_assert(json_real_value(json_object_get(d, "litersDispensed")) == 17.5);
    ck_assert(json_real_value(json_object_get(d, "shortfallLiters")) == 7.5);
    h_free(&r);
    r = codes_complete(key, ref, "E2E-ST-03", "17.5"); /* the station retries its report */
    ck_assert_msg(r.status == 200, "%ld %s", r.status, r.body);
    h_free(&r);
    r = codes_complete(key, ref, "E2E-ST-03", "25");
    codes_error(&r, 409, "OTP_USED");
    h_free(&r);

    r = codes_verify(&h_main, key, ref, code, "E2E-ST-03");
    codes_error(&r, 400, "OTP_USED");
    h_free(&r);
    r = codes_verify(&h_main, other, ref, code, "E2E-ST-04");
    codes_error(&r, 403, "OTP_LOCKED");
    h_free(&r);
    r = codes_status(&h_main, ref);
    ck_assert(json_real_value(json_object_get(codes_data(&r), "litersDispensed")) == 17.5);
    h_free(&r);
}
END_TEST

/* Who may verify, what is refused, and the fourth attempt; then the
 * caller gets a fresh code from "My water codes". */
START_TEST(codes_refusals_block_and_resend)
{
    const char *phone = "+254713000003";
    const char *steps[] = {"", "2", "2*2", "2*2*1", NULL};
    free(codes_walk(&h_main, "s-codes-3", phone, steps));
    char code[7], ref[40], wrong[7];
    codes_wait_code(phone, 1, code, ref, NULL, 0);
    char key[64], key2[64];
    codes_station("E2E-ST-05", 0, key);
    codes_station("E2E-ST-06", 0, key2);

    struct http_result r = codes_verify(&h_main, NULL, ref, code, "E2E-ST-05");
    codes_error(&r, 401, "UNAUTHORIZED");
    h_free(&r);
    r = codes_verify(&h_main, key2, ref, code, "E2E-ST-05"); /* one station's key, another's id */
    codes_error(&r, 401, "UNAUTHORIZED");
    h_free(&r);
    r = codes_verify(&h_main, key, ref, code, "E2E-NO-SUCH");
    codes_error(&r, 401, "UNAUTHORIZED");
    h_free(&r);
    r = codes_verify(&h_main, key, ref, "12345", "E2E-ST-05");
    codes_error(&r, 400, "VALIDATION_ERROR");
    ck_assert(strstr(codes_str(r.json, "message"), "otp"));
    h_free(&r);
    r = h_req(h_main.port, "POST", "/api/stations/otp/verify", "application/json",
              "{\"otp\":\"123456\",\"stationId\":\"E2E-ST-05\"}", 0, key);
    codes_error(&r, 400, "VALIDATION_ERROR");
    ck_assert(strstr(codes_str(r.json, "message"), "transactionReference"));
    h_free(&r);
    r = codes_verify(&h_main, key, "WS-1700000000000-NOSUCH00", code, "E2E-ST-05");
    codes_error(&r, 404, "OTP_NOT_FOUND");
    h_free(&r);
    r = codes_complete(key, ref, "E2E-ST-05", "40");
    codes_error(&r, 409, "OTP_NOT_VERIFIED");
    h_free(&r);

    const char *left[] = {"2 attempts left", "1 attempt left", "blocked"};
    for (int i = 0; i < 3; i++) {
        codes_wrong(code, i, wrong);
        r = codes_verify(&h_main, key, ref, wrong, "E2E-ST-05");
        codes_error(&r, 400, "OTP_INVALID");
        ck_assert_msg(strstr(codes_str(r.json, "message"), left[i]), "%s", r.body);
        h_free(&r);
    }
    r = codes_verify(&h_main, key, ref, code, "E2E-ST-05"); /* the fourth, even right, is blocked */
    codes_error(&r, 400, "OTP_BLOCKED");
    h_free(&r);
    r = codes_status(&h_main, ref);
    ck_assert_str_eq(codes_str(codes_data(&r), "status"), "blocked");
    ck_assert_int_eq(codes_int(codes_data(&r), "remainingAttempts"), 0);
    h_free(&r);

    /* My water codes: the blocked code is listed (never its digits), and
     * resending issues a fresh one by SMS */
    char *a = h_ussd(&h_main, "s-codes-3b", phone, "");
    free(a);
    a = h_ussd(&h_main, "s-codes-3b", phone, "2");
    free(a);
    a = h_ussd(&h_main, "s-codes-3b", phone, "2*4");
    ck_assert_msg(!strncmp(a, "CON ", 4) && strstr(a, "1. 40L ") && strstr(a, ref + 21) && strstr(a, "blocked") &&
                      !strstr(a, code), "list: %s", a);
    free(a);
    a = h_ussd(&h_main, "s-codes-3b", phone, "2*4*1");
    ck_assert_msg(strstr(a, "Send a new code for 40L") && strstr(a, "1. Yes"), "%s", a);
    free(a);
    a = h_ussd(&h_main, "s-codes-3b", phone, "2*4*1*1");
    ck_assert_msg(!strncmp(a, "END ", 4) && strstr(a, "on its way"), "%s", a);
    free(a);
    char fresh[7], ref2[40], text[400];
    codes_wait_code(phone, 2, fresh, ref2, text, sizeof text);
    ck_assert_str_eq(ref2, ref);
    ck_assert_msg(strstr(text, "New water code"), "%s", text);
    if (strcmp(fresh, code)) { /* equal once in a million */
        r = codes_verify(&h_main, key, ref, code, "E2E-ST-05");
        codes_error(&r, 400, "OTP_INVALID");
        h_free(&r);
    }
    r = codes_verify(&h_main, key, ref, fresh, "E2E-ST-05");
    ck_assert_msg(r.status == 200, "%ld %s", r.status, r.body);
    ck_assert_int_eq(codes_int(codes_data(&r), "liters"), 40);
    h_free(&r);
}
END_TEST

struct codes_racer {
    int port;
    const char *ref, *code;
    char station[32], key[64];
    bool header_key;            /* X-Station-Key instead of Authorization */
    pthread_barrier_t *go;
    long status;
};

static void *codes_race(void *arg)
{
    struct codes_racer *r = arg;
    char url[128], body[256], auth[128];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/api/stations/otp/verify", r->port);
    snprintf(body, sizeof body, "{\"transactionReference\":\"%s\",\"otp\":\"%s\",\"stationId\":\"%s\"}", r->ref,
             r->code, r->station);
    snprintf(auth, sizeof auth, r->header_key ? "X-Station-Key: %s" : "Authorization: Bearer %s", r->key);
    const char *headers[] = {"Content-Type: application/json", auth, NULL};
    struct httpc_req rq = {.method = "POST", .url = url, .headers = headers, .body = body,
                           .body_len = strlen(body), .timeout_ms = 20000};
    struct httpc_resp rs;
    pthread_barrier_wait(r->go);
    httpc_do(&rq, &rs);
    r->status = rs.status;
    httpc_resp_free(&rs);
    httpc_thread_done();
    return NULL;
}

/* 50 verifies of one code at once, from five stations: exactly one wins. */
START_TEST(codes_fifty_parallel_verifies)
{
    enum { N = 50, STATIONS = 5 };
    const char *phone = "+254713000004";
    const char *steps[] = {"", "2", "2*1", "2*1*1", NULL};
    free(codes_walk(&h_main, "s-codes-4", phone, steps));
    char code[7], ref[40];
    codes_wait_code(phone, 1, code, ref, NULL, 0);
    char keys[STATIONS][64];
    for (int i = 0; i < STATIONS; i++) {
        char id[32];
        snprintf(id, sizeof id, "E2E-PAR-%d", i);
        codes_station(id, 0, keys[i]);
    }
    static struct codes_racer racers[N];
    pthread_t t[N];
    pthread_barrier_t go;
    pthread_barrier_init(&go, NULL, N);
    for (int i = 0; i < N; i++) {
        racers[i] = (struct codes_racer){.port = h_main.port, .ref = ref, .code = code, .header_key = i % 2,
                                         .go = &go};
        snprintf(racers[i].station, sizeof racers[i].station, "E2E-PAR-%d", i % STATIONS);
        str_copy(racers[i].key, sizeof racers[i].key, keys[i % STATIONS]);
        ck_assert_int_eq(pthread_create(&t[i], NULL, codes_race, &racers[i]), 0);
    }
    int ok = 0, busy = 0, winner = -1;
    for (int i = 0; i < N; i++) {
        pthread_join(t[i], NULL);
        if (racers[i].status == 200) {
            ok++;
            winner = i;
        } else if (racers[i].status == 409)
            busy++;
    }
    pthread_barrier_destroy(&go);
    ck_assert_int_eq(ok, 1);
    ck_assert_int_eq(busy, N - 1);
    struct http_result r = codes_status(&h_main, ref);
    ck_assert_str_eq(codes_str(codes_data(&r), "status"), "in_progress");
    ck_assert_str_eq(codes_str(codes_data(&r), "stationId"), racers[winner].station);
    h_free(&r);
}
END_TEST

/* POST /api/otp/generate: admin only, shown once, voids the old code, no
 * SMS; refused while the water is flowing. */
START_TEST(codes_admin_generate)
{
    const char *phone = "+254713000005";
    const char *steps[] = {"", "2", "2*1", "2*1*1", NULL};
    free(codes_walk(&h_main, "s-codes-5", phone, steps));
    char code[7], ref[40], body[160];
    codes_wait_code(phone, 1, code, ref, NULL, 0);
    char key[64];
    codes_station("E2E-ST-07", 0, key);

    snprintf(body, sizeof body, "{\"transactionReference\":\"%s\",\"liters\":20}", ref);
    struct http_result r = h_req(h_main.port, "POST", "/api/otp/generate", "application/json", body, 0, NULL);
    codes_error(&r, 401, "UNAUTHORIZED");
    h_free(&r);
    r = h_json_admin(&h_main, "POST", "/api/otp/generate", "{\"transactionReference\":\"WS-1700000000000-NOSUCH00\"}");
    codes_error(&r, 404, "TRANSACTION_NOT_FOUND");
    h_free(&r);
    snprintf(body, sizeof body, "{\"transactionReference\":\"%s\",\"liters\":21}", ref);
    r = h_json_admin(&h_main, "POST", "/api/otp/generate", body);
    codes_error(&r, 400, "INVALID_LITERS");
    h_free(&r);

    snprintf(body, sizeof body, "{\"transactionReference\":\"%s\",\"liters\":20}", ref);
    r = h_json_admin(&h_main, "POST", "/api/otp/generate", body);
    ck_assert_msg(r.status == 201, "%ld %s", r.status, r.body);
    ck_assert_str_eq(codes_str(r.json, "message"), "OTP generated successfully");
    json_t *d = codes_data(&r);
    char fresh[7];
    ck_assert_msg(codes_str(d, "otp") && strlen(codes_str(d, "otp")) == 6 && codes_digits(codes_str(d, "otp"), fresh),
                  "%s", r.body);
    ck_assert_str_eq(codes_str(d, "transactionReference"), ref);
    ck_assert_int_eq(codes_int(d, "liters"), 20);
    ck_assert_int_eq(codes_int(d, "expiresInMinutes"), 10);
    ck_assert_msg(codes_str(d, "expiresAt") && strlen(codes_str(d, "expiresAt")) == 24, "%s", r.body);
    h_free(&r);
    r = codes_status(&h_main, ref);
    ck_assert_msg(!strstr(r.body, fresh), "shown once: %s", r.body);
    h_free(&r);
    json_t *sms = h_wait_sms(phone, 2, 1000);
    ck_assert_int_eq(json_array_size(sms), 1); /* no SMS for an admin's code */
    json_decref(sms);

    if (strcmp(fresh, code)) {
        r = codes_verify(&h_main, key, ref, code, "E2E-ST-07");
        codes_error(&r, 400, "OTP_INVALID");
        h_free(&r);
    }
    r = codes_verify(&h_main, key, ref, fresh, "E2E-ST-07");
    ck_assert_msg(r.status == 200, "%ld %s", r.status, r.body);
    h_free(&r);
    r = h_json_admin(&h_main, "POST", "/api/otp/generate", body);
    codes_error(&r, 409, "OTP_IN_USE");
    h_free(&r);
}
END_TEST

START_TEST(codes_station_admin_and_status_errors)
{
    const char *good = "{\"stationId\":\"E2E-ST-08\",\"name\":\"Kiosk\"}";
    struct http_result r = h_req(h_main.port, "POST", "/api/stations", "application/json", good, 0, NULL);
    codes_error(&r, 401, "UNAUTHORIZED");
    h_free(&r);
    r = h_req(h_main.port, "GET", "/api/stations", NULL, NULL, 0, NULL);
    codes_error(&r, 401, "UNAUTHORIZED");
    h_free(&r);
    char key[64];
    codes_station("E2E-ST-08", 0, key);
    r = h_json_admin(&h_main, "POST", "/api/stations", good);
    codes_error(&r, 409, "STATION_EXISTS");
    h_free(&r);
    const char *bad[] = {"{\"stationId\":\"bad id!\",\"name\":\"x\"}", "{\"stationId\":\"E2E-ST-09\"}",
                         "{\"stationId\":\"E2E-ST-09\",\"name\":\"x\",\"pulsesPerLiter\":0}", NULL};
    const char *field[] = {"stationId", "name", "pulsesPerLiter"};
    for (int i = 0; bad[i]; i++) {
        r = h_json_admin(&h_main, "POST", "/api/stations", bad[i]);
        codes_error(&r, 400, "VALIDATION_ERROR");
        ck_assert_msg(strstr(codes_str(r.json, "message"), field[i]), "names %s: %s", field[i], r.body);
        h_free(&r);
    }
    r = codes_status(&h_main, "WS-1700000000000-NOSUCH00");
    codes_error(&r, 404, "TRANSACTION_NOT_FOUND");
    h_free(&r);
    r = h_req(h_main.port, "GET", "/api/otp/status/WS-1700000000000-NOSUCH00", NULL, NULL, 0, NULL);
    codes_error(&r, 401, "UNAUTHORIZED");
    h_free(&r);
    r = h_req(h_main.port, "GET", "/api/stations/otp/status/WS-1700000000000-NOSUCH00", NULL, NULL, 0, key);
    codes_error(&r, 400, "VALIDATION_ERROR");
    h_free(&r);
    r = codes_station_status("WS-1700000000000-NOSUCH00", "E2E-ST-08", "wrong-key");
    codes_error(&r, 401, "UNAUTHORIZED");
    h_free(&r);
    r = codes_station_status("WS-1700000000000-NOSUCH00", "E2E-ST-08", key);
    codes_error(&r, 404, "TRANSACTION_NOT_FOUND");
    h_free(&r);

    /* a station guessing references is stopped for the window (20 misses) */
    for (int i = 0; i < 20; i++) {
        char ref[40];
        snprintf(ref, sizeof ref, "WS-1700000000000-GUESS%03d", i);
        r = codes_verify(&h_main, key, ref, "123456", "E2E-ST-08");
        codes_error(&r, 404, "OTP_NOT_FOUND");
        h_free(&r);
    }
    r = codes_verify(&h_main, key, "WS-1700000000000-GUESS999", "123456", "E2E-ST-08");
    codes_error(&r, 429, "TOO_MANY_ATTEMPTS");
    h_free(&r);
}
END_TEST

/* Runs last: the codes lipad's 30-second code, bought when the tcase
 * started, has expired by now (or soon); and its cancelled order has no
 * code to issue. */
START_TEST(codes_expired_code_fails)
{
    ck_assert_msg(codes_lipad.pid > 0, "the codes lipad is running");
    char code[7], ref[40];
    codes_wait_code("+254713000090", 1, code, ref, NULL, 0);
    char key[64];
    struct http_result r = h_json_admin(&codes_lipad, "POST", "/api/stations",
                                        "{\"stationId\":\"E2E-EXP-1\",\"name\":\"Kiosk\"}");
    ck_assert_msg(r.status == 201, "%ld %s", r.status, r.body);
    str_copy(key, sizeof key, codes_str(codes_data(&r), "apiKey"));
    h_free(&r);
    const char *status = "";
    for (int waited = 0; waited < 40000; waited += 500) {
        r = codes_status(&codes_lipad, ref);
        ck_assert_msg(r.status == 200, "%ld %s", r.status, r.body);
        bool expired = !strcmp(codes_str(codes_data(&r), "status"), "expired");
        h_free(&r);
        if (expired) {
            status = "expired";
            break;
        }
        h_sleep_ms(500);
    }
    ck_assert_str_eq(status, "expired");
    r = codes_verify(&codes_lipad, key, ref, code, "E2E-EXP-1");
    codes_error(&r, 400, "OTP_EXPIRED");
    h_free(&r);

    /* the cancelled 12 L order: told by SMS; there is no code to issue */
    json_t *sms = h_wait_sms("+254713000091", 1, 10000);
    const char *text = codes_str(json_array_get(sms, 0), "message");
    ck_assert_msg(text && strstr(text, "12 L of water was cancelled") && !codes_digits(text, code),
                  "%s", text ? text : "(no SMS)");
    const char *w = strstr(text, "WS-");
    ck_assert_msg(w, "the notice names the order: %s", text);
    char body[160];
    snprintf(body, sizeof body, "{\"transactionReference\":\"%.25s\"}", w);
    json_decref(sms);
    r = h_json_admin(&codes_lipad, "POST", "/api/otp/generate", body);
    codes_error(&r, 400, "TRANSACTION_NOT_COMPLETED");
    h_free(&r);
}
END_TEST

static TCase *tcase_codes(void)
{
    TCase *t = tcase_create("codes");
    tcase_add_unchecked_fixture(t, codes_setup, codes_teardown);
    tcase_set_timeout(t, 90);
    tcase_add_test(t, codes_ussd_to_station);
    tcase_add_test(t, codes_other_amount_short_dispense);
    tcase_add_test(t, codes_refusals_block_and_resend);
    tcase_add_test(t, codes_fifty_parallel_verifies);
    tcase_add_test(t, codes_admin_generate);
    tcase_add_test(t, codes_station_admin_and_status_errors);
    tcase_add_test(t, codes_expired_code_fails);
    return t;
}

/* ==== end of the codes tcase ==== */

Suite *suite_water(void)
{
    Suite *s = suite_create("water");
    suite_add_tcase(s, tcase_payments());
    suite_add_tcase(s, tcase_codes());
    return s;
}
