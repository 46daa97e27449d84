/* check_paystack: the Paystack client. The webhook signature against a
 * vector computed outside lipa (openssl), the reference alphabet, and
 * initialize/verify against a fake Paystack on 127.0.0.1: what arrives
 * (Bearer secret, JSON body with the amount in subunits) and how each answer
 * (200, 200 with "status":false, 400, 401, 429, 5xx, garbage, no answer,
 * too slow) is classified. */
#include "runner.h"
#include "pay/paystack.h"

#include "util/httpc.h"

#include "fake.h"

#include <check.h>
#include <stdlib.h>
#include <string.h>

#define SECRET "sk_test_0123456789abcdef"
#define INIT_PATH "/transaction/initialize"
#define REF "WS-1707123456789-ABCD1234"
#define VERIFY_PATH "/transaction/verify/" REF

/* Computed outside lipa:
 *   printf '%s' "$BODY" | openssl dgst -sha512 -hmac 'sk_test_0123456789abcdef'
 * with BODY the text of WEBHOOK_BODY, and for the empty body:
 *   printf '%s' '' | openssl dgst -sha512 -hmac 'sk_test_0123456789abcdef' */
#define WEBHOOK_BODY                                                                               \
    "{\"event\":\"charge.success\",\"data\":{\"reference\":\"WS-1707123456789-ABCD1234\","        \
    "\"amount\":5000,\"currency\":\"KES\",\"status\":\"success\"}}"
#define WEBHOOK_SIG                                                                                \
    "d5ee883a3674fb1a8dbf2b1b65761a850f737ed6c4ced07ab95ee443878ba172"                             \
    "425b3d3479f091471e16625f35e30db341c1541f872749bfa27be8ba62faade1"
#define EMPTY_SIG                                                                                  \
    "d6d388f683856761462807b22f4de0283bba895cecb9dddf61ce2225cf8b5348"                             \
    "266e94bea57d89441d002546b620d9014d26bcfc9e5fb057d129125e0951d369"

/* ---- pure functions ---- */

START_TEST(signature_vector)
{
    const char *b = WEBHOOK_BODY;
    ck_assert(paystack_signature_ok(SECRET, b, strlen(b), WEBHOOK_SIG));
    ck_assert(paystack_signature_ok(SECRET, "", 0, EMPTY_SIG));
}
END_TEST

START_TEST(signature_refusals)
{
    char body[256], sig[200];
    snprintf(body, sizeof body, "%s", WEBHOOK_BODY);
    size_t n = strlen(body);

    /* the amount changed in transit */
    char *five = strstr(body, "5000");
    five[0] = '9';
    ck_assert(!paystack_signature_ok(SECRET, body, n, WEBHOOK_SIG));
    five[0] = '5';
    /* only the bytes given count: a shorter length is another body */
    ck_assert(!paystack_signature_ok(SECRET, body, n - 1, WEBHOOK_SIG));
    ck_assert(!paystack_signature_ok("sk_test_other", body, n, WEBHOOK_SIG));
    ck_assert(!paystack_signature_ok("", body, n, WEBHOOK_SIG));
    ck_assert(!paystack_signature_ok(NULL, body, n, WEBHOOK_SIG));
    ck_assert(!paystack_signature_ok(SECRET, NULL, 0, EMPTY_SIG));
    ck_assert(!paystack_signature_ok(SECRET, body, n, NULL));
    ck_assert(!paystack_signature_ok(SECRET, body, n, ""));

    /* upper-case hex is not what Paystack sends */
    snprintf(sig, sizeof sig, "%s", WEBHOOK_SIG);
    for (char *p = sig; *p; p++)
        if (*p >= 'a' && *p <= 'f')
            *p = (char)(*p - 'a' + 'A');
    ck_assert(!paystack_signature_ok(SECRET, body, n, sig));

    /* one hex digit short, one too many, one wrong */
    snprintf(sig, sizeof sig, "%s", WEBHOOK_SIG);
    sig[127] = 0;
    ck_assert(!paystack_signature_ok(SECRET, body, n, sig));
    snprintf(sig, sizeof sig, "%s0", WEBHOOK_SIG);
    ck_assert(!paystack_signature_ok(SECRET, body, n, sig));
    snprintf(sig, sizeof sig, "%s", WEBHOOK_SIG);
    sig[0] = sig[0] == 'd' ? 'e' : 'd';
    ck_assert(!paystack_signature_ok(SECRET, body, n, sig));
    /* the SHA-256-sized prefix of the right answer */
    snprintf(sig, sizeof sig, "%.64s", WEBHOOK_SIG);
    ck_assert(!paystack_signature_ok(SECRET, body, n, sig));
}
END_TEST

START_TEST(reference_alphabet)
{
    char r[128];
    ck_assert(paystack_reference_ok(REF));
    ck_assert(paystack_reference_ok("a.b=c-D9"));
    ck_assert(paystack_reference_ok("x"));
    memset(r, 'a', 100);
    r[100] = 0;
    ck_assert(paystack_reference_ok(r));
    r[100] = 'a', r[101] = 0;
    ck_assert(!paystack_reference_ok(r));
    ck_assert(!paystack_reference_ok(""));
    ck_assert(!paystack_reference_ok(NULL));
    ck_assert(!paystack_reference_ok("WS_1"));
    ck_assert(!paystack_reference_ok("WS 1"));
    ck_assert(!paystack_reference_ok("../x"));
    ck_assert(!paystack_reference_ok("a?b"));
    ck_assert(!paystack_reference_ok("caf\xc3\xa9"));
}
END_TEST

/* ---- against a fake Paystack ---- */

struct psstate {
    int status;               /* 0: the default success answer */
    const char *body;
};

static void ps_fake(struct fake *f, const struct fake_req *rq, struct http_resp *resp)
{
    struct psstate *s = f->ud;
    const char *auth = fake_hdr(rq, "Authorization");
    if (!auth || strcmp(auth, "Bearer " SECRET)) {
        http_resp_text(resp, 401, "application/json", "{\"status\":false,\"message\":\"Invalid key\"}");
        return;
    }
    if (s->status) {
        http_resp_text(resp, s->status, "application/json", s->body);
        return;
    }
    if (!strcmp(rq->path, INIT_PATH)) {
        http_resp_text(resp, 200, "application/json",
                       "{\"status\":true,\"message\":\"Authorization URL created\",\"data\":"
                       "{\"authorization_url\":\"https://checkout.paystack.com/0peioxfhpn\","
                       "\"access_code\":\"0peioxfhpn\",\"reference\":\"" REF "\"}}");
        return;
    }
    http_resp_text(resp, 200, "application/json",
                   "{\"status\":true,\"message\":\"Verification successful\",\"data\":{\"id\":4099260516,"
                   "\"domain\":\"test\",\"status\":\"success\",\"reference\":\"" REF "\","
                   "\"amount\":5000,\"message\":null,\"gateway_response\":\"Successful\","
                   "\"paid_at\":\"2024-08-22T09:15:02.000Z\",\"created_at\":\"2024-08-22T09:14:24.000Z\","
                   "\"channel\":\"card\",\"currency\":\"KES\",\"metadata\":{\"liters\":10}}}");
}

static const struct http_route ps_routes[] = {
    {"POST", INIT_PATH, fake_dispatch, 0, 0},
    {"GET", "/transaction/verify/{reference}", fake_dispatch, 0, 0},
    {NULL, NULL, NULL, 0, 0},
};

static struct fake fk;
static struct psstate ps_state;
static struct config cfg;
static char base[80];
static struct paystack *ps;

static void start_with(const char *secret, const char *suffix, long timeout_ms)
{
    memset(&ps_state, 0, sizeof ps_state);
    ck_assert(fake_start(&fk, ps_routes, ps_fake, &ps_state));
    snprintf(base, sizeof base, "%s%s", fk.base, suffix);
    memset(&cfg, 0, sizeof cfg);
    cfg.paystack_url = base;
    cfg.paystack_secret = (char *)secret;
    cfg.http_timeout_ms = timeout_ms;
    ps = paystack_new(&cfg);
    ck_assert_ptr_nonnull(ps);
}

static void setup(void) { start_with(SECRET, "", 2000); }

static void teardown(void)
{
    paystack_free(ps);
    ps = NULL;
    httpc_thread_done(); /* drops kept-alive connections, so the fake stops at once */
    fake_stop(&fk);
}

static void restart(const char *secret, const char *suffix, long timeout_ms)
{
    teardown();
    start_with(secret, suffix, timeout_ms);
}

/* Answers the next calls with status and body. */
static void answer(int status, const char *body)
{
    pthread_mutex_lock(&fk.mu);
    ps_state.status = status;
    ps_state.body = body;
    pthread_mutex_unlock(&fk.mu);
}

static void init_default(struct paystack_init_res *r)
{
    paystack_initialize(ps, "customer@example.com", 5000, "KES", REF, "http://127.0.0.1:8080/cb", NULL, r);
}

START_TEST(initialize_ok)
{
    json_t *md = json_pack("{s:i, s:s}", "liters", 10, "phone", "+254712345678");
    struct paystack_init_res r;
    paystack_initialize(ps, "customer@example.com", 5000, "KES", REF,
                        "http://127.0.0.1:8080/api/payments/paystack/callback", md, &r);
    ck_assert_int_eq(r.outcome, PAY_OK);
    ck_assert_int_eq(r.http_status, 200);
    ck_assert_str_eq(r.authorization_url, "https://checkout.paystack.com/0peioxfhpn");
    ck_assert_str_eq(r.access_code, "0peioxfhpn");
    ck_assert_str_eq(r.reference, REF);
    ck_assert_str_eq(r.message, "Authorization URL created");
    /* borrowed, not stolen */
    ck_assert_int_eq(md->refcount, 1);

    const struct fake_req *rq = fake_last(&fk, "POST", INIT_PATH);
    ck_assert_ptr_nonnull(rq);
    ck_assert_str_eq(fake_hdr(rq, "Authorization"), "Bearer " SECRET);
    ck_assert_ptr_nonnull(strstr(fake_hdr(rq, "Content-Type"), "application/json"));
    json_t *b = json_loads(rq->body, 0, NULL);
    ck_assert_ptr_nonnull(b);
    ck_assert_str_eq(json_string_value(json_object_get(b, "email")), "customer@example.com");
    ck_assert(json_is_integer(json_object_get(b, "amount")));
    ck_assert_int_eq(json_integer_value(json_object_get(b, "amount")), 5000);
    ck_assert_str_eq(json_string_value(json_object_get(b, "currency")), "KES");
    ck_assert_str_eq(json_string_value(json_object_get(b, "reference")), REF);
    ck_assert_str_eq(json_string_value(json_object_get(b, "callback_url")),
                     "http://127.0.0.1:8080/api/payments/paystack/callback");
    ck_assert(json_equal(json_object_get(b, "metadata"), md));
    ck_assert_uint_eq(json_object_size(b), 6);
    json_decref(b);
    json_decref(md);
}
END_TEST

START_TEST(initialize_optional_left_out)
{
    struct paystack_init_res r;
    paystack_initialize(ps, "a@b.co", 1, NULL, "", NULL, NULL, &r);
    ck_assert_int_eq(r.outcome, PAY_OK);
    const struct fake_req *rq = fake_last(&fk, "POST", INIT_PATH);
    json_t *b = json_loads(rq->body, 0, NULL);
    ck_assert_ptr_nonnull(b);
    ck_assert_uint_eq(json_object_size(b), 2);
    ck_assert_int_eq(json_integer_value(json_object_get(b, "amount")), 1);
    json_decref(b);
}
END_TEST

START_TEST(trailing_slash_in_base)
{
    restart(SECRET, "/", 2000);
    struct paystack_init_res r;
    init_default(&r);
    ck_assert_int_eq(r.outcome, PAY_OK);
    ck_assert_int_eq(fake_count(&fk, "POST", INIT_PATH), 1);
}
END_TEST

START_TEST(initialize_refused_unsent)
{
    struct paystack_init_res r;
    char longref[80];
    memset(longref, 'R', 64);
    longref[64] = 0;
    paystack_initialize(ps, "not-an-address", 5000, "KES", REF, NULL, NULL, &r);
    ck_assert_int_eq(r.outcome, PAY_REJECT);
    ck_assert_ptr_nonnull(strstr(r.message, "email"));
    paystack_initialize(ps, "a b@c.d", 5000, "KES", REF, NULL, NULL, &r);
    ck_assert_int_eq(r.outcome, PAY_REJECT);
    paystack_initialize(ps, NULL, 5000, "KES", REF, NULL, NULL, &r);
    ck_assert_int_eq(r.outcome, PAY_REJECT);
    paystack_initialize(ps, "a@b.co", 0, "KES", REF, NULL, NULL, &r);
    ck_assert_int_eq(r.outcome, PAY_REJECT);
    ck_assert_ptr_nonnull(strstr(r.message, "amount"));
    paystack_initialize(ps, "a@b.co", -5000, "KES", REF, NULL, NULL, &r);
    ck_assert_int_eq(r.outcome, PAY_REJECT);
    paystack_initialize(ps, "a@b.co", 5000, "kes", REF, NULL, NULL, &r);
    ck_assert_int_eq(r.outcome, PAY_REJECT);
    ck_assert_ptr_nonnull(strstr(r.message, "currency"));
    paystack_initialize(ps, "a@b.co", 5000, "KES", "WS_1", NULL, NULL, &r);
    ck_assert_int_eq(r.outcome, PAY_REJECT);
    ck_assert_ptr_nonnull(strstr(r.message, "reference"));
    paystack_initialize(ps, "a@b.co", 5000, "KES", longref, NULL, NULL, &r);
    ck_assert_int_eq(r.outcome, PAY_REJECT);
    paystack_initialize(ps, "a@b.co", 5000, "KES", REF, "http://x/ cb", NULL, &r);
    ck_assert_int_eq(r.outcome, PAY_REJECT);
    ck_assert_int_eq(r.http_status, 0);
    ck_assert_int_eq(fake_count(&fk, "POST", INIT_PATH), 0);
}
END_TEST

START_TEST(initialize_answers_classified)
{
    struct paystack_init_res r;

    answer(400, "{\"status\":false,\"message\":\"Duplicate Transaction Reference\"}");
    init_default(&r);
    ck_assert_int_eq(r.outcome, PAY_REJECT);
    ck_assert_int_eq(r.http_status, 400);
    ck_assert_str_eq(r.message, "Duplicate Transaction Reference");
    ck_assert_str_eq(r.authorization_url, "");

    answer(200, "{\"status\":false,\"message\":\"Currency not supported by merchant\"}");
    init_default(&r);
    ck_assert_int_eq(r.outcome, PAY_REJECT);
    ck_assert_str_eq(r.message, "Currency not supported by merchant");

    answer(500, "{\"status\":false,\"message\":\"An error occurred\"}");
    init_default(&r);
    ck_assert_int_eq(r.outcome, PAY_RETRY);
    ck_assert_int_eq(r.http_status, 500);
    ck_assert_str_eq(r.message, "An error occurred");

    answer(503, "<html>upstream down</html>");
    init_default(&r);
    ck_assert_int_eq(r.outcome, PAY_RETRY);
    ck_assert_str_eq(r.message, "HTTP 503");

    answer(429, "{\"status\":false,\"message\":\"Too many requests\"}");
    init_default(&r);
    ck_assert_int_eq(r.outcome, PAY_RETRY);

    /* a 2xx nobody can read: the transaction may exist, so not a refusal */
    answer(200, "not json");
    init_default(&r);
    ck_assert_int_eq(r.outcome, PAY_RETRY);
    answer(200, "{\"status\":true,\"message\":\"Authorization URL created\",\"data\":{}}");
    init_default(&r);
    ck_assert_int_eq(r.outcome, PAY_RETRY);
    ck_assert_str_eq(r.reference, "");
    ck_assert_int_eq(fake_count(&fk, "POST", INIT_PATH), 7);
}
END_TEST

START_TEST(wrong_secret_rejected)
{
    restart("sk_test_wrong", "", 2000);
    struct paystack_init_res r;
    init_default(&r);
    ck_assert_int_eq(r.outcome, PAY_REJECT);
    ck_assert_int_eq(r.http_status, 401);
    ck_assert_str_eq(r.message, "Invalid key");
    struct paystack_verify_res v;
    paystack_verify(ps, REF, &v);
    ck_assert_int_eq(v.outcome, PAY_REJECT);
    ck_assert_int_eq(v.http_status, 401);
    ck_assert_str_eq(v.message, "Invalid key");
}
END_TEST

START_TEST(unusable_secret_unsent)
{
    struct paystack_init_res r;
    struct paystack_verify_res v;
    restart("", "", 2000);
    init_default(&r);
    ck_assert_int_eq(r.outcome, PAY_REJECT);
    ck_assert_ptr_nonnull(strstr(r.message, "LIPA_PAYSTACK_SECRET"));
    paystack_verify(ps, REF, &v);
    ck_assert_int_eq(v.outcome, PAY_REJECT);
    restart(SECRET "\r\nX-Evil: 1", "", 2000);
    init_default(&r);
    ck_assert_int_eq(r.outcome, PAY_REJECT);
    paystack_verify(ps, REF, &v);
    ck_assert_int_eq(v.outcome, PAY_REJECT);
    ck_assert_int_eq(fake_count(&fk, "POST", INIT_PATH), 0);
    ck_assert_int_eq(fake_count(&fk, "GET", VERIFY_PATH), 0);
}
END_TEST

START_TEST(no_answer_retries)
{
    char dead[64];
    fake_dead_base(dead);
    memset(&cfg, 0, sizeof cfg);
    cfg.paystack_url = dead;
    cfg.paystack_secret = (char *)SECRET;
    cfg.http_timeout_ms = 2000;
    struct paystack *d = paystack_new(&cfg);
    ck_assert_ptr_nonnull(d);
    struct paystack_init_res r;
    paystack_initialize(d, "a@b.co", 5000, "KES", REF, NULL, NULL, &r);
    ck_assert_int_eq(r.outcome, PAY_RETRY);
    ck_assert_int_eq(r.http_status, 0);
    ck_assert_ptr_nonnull(strstr(r.message, "transport"));
    struct paystack_verify_res v;
    paystack_verify(d, REF, &v);
    ck_assert_int_eq(v.outcome, PAY_RETRY);
    ck_assert_int_eq(v.http_status, 0);
    paystack_free(d);
}
END_TEST

START_TEST(too_slow_retries)
{
    restart(SECRET, "", 300);
    pthread_mutex_lock(&fk.mu);
    fk.delay_ms = 1200;
    pthread_mutex_unlock(&fk.mu);
    struct paystack_verify_res v;
    paystack_verify(ps, REF, &v);
    ck_assert_int_eq(v.outcome, PAY_RETRY);
    ck_assert_int_eq(v.http_status, 0);
}
END_TEST

START_TEST(verify_success)
{
    struct paystack_verify_res v;
    paystack_verify(ps, REF, &v);
    ck_assert_int_eq(v.outcome, PAY_OK);
    ck_assert_int_eq(v.http_status, 200);
    ck_assert_str_eq(v.status, "success");
    ck_assert_int_eq(v.amount, 5000);
    ck_assert_str_eq(v.currency, "KES");
    ck_assert_str_eq(v.channel, "card");
    ck_assert_str_eq(v.paid_at, "2024-08-22T09:15:02.000Z");
    ck_assert_str_eq(v.gateway_response, "Successful");
    ck_assert_str_eq(v.reference, REF);
    ck_assert_str_eq(v.message, "Verification successful");

    const struct fake_req *rq = fake_last(&fk, "GET", VERIFY_PATH);
    ck_assert_ptr_nonnull(rq);
    ck_assert_str_eq(fake_hdr(rq, "Authorization"), "Bearer " SECRET);
    ck_assert_uint_eq(rq->body_len, 0);
}
END_TEST

START_TEST(verify_other_states)
{
    struct paystack_verify_res v;
    answer(200, "{\"status\":true,\"message\":\"Verification successful\",\"data\":{\"status\":\"abandoned\","
                "\"reference\":\"" REF "\",\"amount\":\"5000\",\"paid_at\":null,\"currency\":\"KES\","
                "\"channel\":\"card\",\"gateway_response\":\"The transaction was not completed\"}}");
    paystack_verify(ps, REF, &v);
    ck_assert_int_eq(v.outcome, PAY_OK);
    ck_assert_str_eq(v.status, "abandoned");
    ck_assert_int_eq(v.amount, 5000);
    ck_assert_str_eq(v.paid_at, "");

    answer(200, "{\"status\":true,\"message\":\"Verification successful\",\"data\":{\"status\":\"failed\"}}");
    paystack_verify(ps, REF, &v);
    ck_assert_int_eq(v.outcome, PAY_OK);
    ck_assert_str_eq(v.status, "failed");
    ck_assert_int_eq(v.amount, -1);
    ck_assert_str_eq(v.reference, REF);

    /* accepted but no state: ask again later */
    answer(200, "{\"status\":true,\"message\":\"Verification successful\",\"data\":{\"amount\":5000}}");
    paystack_verify(ps, REF, &v);
    ck_assert_int_eq(v.outcome, PAY_RETRY);
    ck_assert_str_eq(v.status, "");
}
END_TEST

START_TEST(verify_answers_classified)
{
    struct paystack_verify_res v;
    answer(400, "{\"status\":false,\"message\":\"Transaction reference not found\"}");
    paystack_verify(ps, REF, &v);
    ck_assert_int_eq(v.outcome, PAY_REJECT);
    ck_assert_int_eq(v.http_status, 400);
    ck_assert_str_eq(v.message, "Transaction reference not found");
    ck_assert_str_eq(v.status, "");

    answer(502, "");
    paystack_verify(ps, REF, &v);
    ck_assert_int_eq(v.outcome, PAY_RETRY);
    ck_assert_int_eq(v.http_status, 502);

    answer(500, "{\"status\":false,\"message\":\"Server error\"}");
    paystack_verify(ps, REF, &v);
    ck_assert_int_eq(v.outcome, PAY_RETRY);
    ck_assert_str_eq(v.message, "Server error");
    ck_assert_int_eq(fake_count(&fk, "GET", VERIFY_PATH), 3);
}
END_TEST

START_TEST(verify_bad_reference_unsent)
{
    struct paystack_verify_res v;
    paystack_verify(ps, "../../transaction/initialize", &v);
    ck_assert_int_eq(v.outcome, PAY_REJECT);
    paystack_verify(ps, "a?b=c", &v);
    ck_assert_int_eq(v.outcome, PAY_REJECT);
    paystack_verify(ps, "", &v);
    ck_assert_int_eq(v.outcome, PAY_REJECT);
    paystack_verify(ps, NULL, &v);
    ck_assert_int_eq(v.outcome, PAY_REJECT);
    ck_assert_int_eq(v.http_status, 0);
    pthread_mutex_lock(&fk.mu);
    size_t seen = fk.n;
    pthread_mutex_unlock(&fk.mu);
    ck_assert_uint_eq(seen, 0);
}
END_TEST

Suite *test_suite(void)
{
    Suite *s = suite_create("paystack");
    TCase *pure = tcase_create("pure");
    tcase_add_test(pure, signature_vector);
    tcase_add_test(pure, signature_refusals);
    tcase_add_test(pure, reference_alphabet);
    suite_add_tcase(s, pure);

    TCase *tc = tcase_create("fake-paystack");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, initialize_ok);
    tcase_add_test(tc, initialize_optional_left_out);
    tcase_add_test(tc, trailing_slash_in_base);
    tcase_add_test(tc, initialize_refused_unsent);
    tcase_add_test(tc, initialize_answers_classified);
    tcase_add_test(tc, wrong_secret_rejected);
    tcase_add_test(tc, unusable_secret_unsent);
    tcase_add_test(tc, no_answer_retries);
    tcase_add_test(tc, too_slow_retries);
    tcase_add_test(tc, verify_success);
    tcase_add_test(tc, verify_other_states);
    tcase_add_test(tc, verify_answers_classified);
    tcase_add_test(tc, verify_bad_reference_unsent);
    suite_add_tcase(s, tc);
    return s;
}
