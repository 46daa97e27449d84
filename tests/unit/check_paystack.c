/* check_paystack: the Paystack client. The webhook signature against a
 * vector computed outside lipa (openssl), the reference alphabets, webhook
 * events read from Paystack's published shapes, and every call (initialize,
 * verify, M-Pesa charges and their checks, the bank list, recipients,
 * transfers and their verification) against a fake Paystack on 127.0.0.1:
 * what arrives (Bearer secret, JSON body with the amount in subunits, the
 * phone in the form Paystack wants) and how each answer (200, 200 with
 * "status":false, 400, 401, 404, 429, 5xx, garbage, no answer, too slow,
 * a duplicate reference) is classified. */
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
#define CHARGE_PATH "/charge"
#define CHECK_PATH "/charge/" REF
#define BANK_PATH "/bank"
#define RECIPIENT_PATH "/transferrecipient"
#define TRANSFER_PATH "/transfer"
#define TREF "esc-0f9c2d4e-7a1b-4c3d-9e8f-3a5b7c9d1e2f"
#define TVERIFY_PATH "/transfer/verify/" TREF
#define RCP "RCP_gd9vgag7n5lr5ix"

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
    if (!strcmp(rq->method, "POST") && !strcmp(rq->path, CHARGE_PATH)) {
        http_resp_text(resp, 200, "application/json",
                       "{\"status\":true,\"message\":\"Charge attempted\",\"data\":{\"reference\":\"" REF "\","
                       "\"status\":\"pay_offline\",\"display_text\":\"Please complete authorization process "
                       "on your mobile phone\"}}");
        return;
    }
    if (!strcmp(rq->path, CHECK_PATH)) {
        http_resp_text(resp, 200, "application/json",
                       "{\"status\":true,\"message\":\"Reference check successful\",\"data\":"
                       "{\"reference\":\"" REF "\",\"status\":\"pending\"}}");
        return;
    }
    if (!strcmp(rq->path, BANK_PATH)) {
        /* an inactive M-PESA first: it must be passed over */
        http_resp_text(resp, 200, "application/json",
                       "{\"status\":true,\"message\":\"Banks retrieved\",\"data\":["
                       "{\"name\":\"M-PESA\",\"slug\":\"mpesa-old\",\"code\":\"OLDMPESA\",\"active\":false,"
                       "\"currency\":\"KES\",\"type\":\"mobile_money\"},"
                       "{\"name\":\"Airtel Money\",\"slug\":\"airtel-money-ke\",\"code\":\"AIRTEL\",\"active\":true,"
                       "\"currency\":\"KES\",\"type\":\"mobile_money\"},"
                       "{\"name\":\"M-PESA\",\"slug\":\"mpesa\",\"code\":\"MPESA\",\"longcode\":\"\",\"gateway\":null,"
                       "\"pay_with_bank\":false,\"active\":true,\"is_deleted\":null,\"country\":\"Kenya\","
                       "\"currency\":\"KES\",\"type\":\"mobile_money\",\"id\":281}]}");
        return;
    }
    if (!strcmp(rq->path, RECIPIENT_PATH)) {
        http_resp_text(resp, 200, "application/json",
                       "{\"status\":true,\"message\":\"Transfer recipient created successfully\",\"data\":"
                       "{\"active\":true,\"currency\":\"KES\",\"domain\":\"test\",\"id\":25753454,\"name\":\"Amina "
                       "Wanjiku\",\"recipient_code\":\"" RCP "\",\"type\":\"mobile_money\",\"details\":"
                       "{\"account_number\":\"0712345678\",\"bank_code\":\"MPESA\",\"bank_name\":\"M-PESA\"}}}");
        return;
    }
    if (!strcmp(rq->path, TRANSFER_PATH)) {
        http_resp_text(resp, 200, "application/json",
                       "{\"status\":true,\"message\":\"Transfer has been queued\",\"data\":{\"domain\":\"test\","
                       "\"amount\":250000,\"currency\":\"KES\",\"reference\":\"" TREF "\",\"source\":\"balance\","
                       "\"reason\":\"Lesson fees\",\"status\":\"pending\",\"failures\":null,"
                       "\"transfer_code\":\"TRF_v5tip3zx8nna9o78\",\"transferred_at\":null,\"id\":860703114,"
                       "\"recipient\":56824902}}");
        return;
    }
    if (!strcmp(rq->path, TVERIFY_PATH)) {
        http_resp_text(resp, 200, "application/json",
                       "{\"status\":true,\"message\":\"Transfer retrieved\",\"data\":{\"amount\":250000,"
                       "\"currency\":\"KES\",\"reference\":\"" TREF "\",\"status\":\"success\","
                       "\"transfer_code\":\"TRF_v5tip3zx8nna9o78\",\"transferred_at\":\"2025-08-04T10:33:02.000Z\","
                       "\"gateway_response\":null,\"recipient\":{\"recipient_code\":\"" RCP "\",\"type\":"
                       "\"mobile_money\",\"details\":{\"account_number\":\"0712345678\",\"bank_code\":\"MPESA\"}}}}");
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
    {"POST", CHARGE_PATH, fake_dispatch, 0, 0},
    {"GET", "/charge/{reference}", fake_dispatch, 0, 0},
    {"GET", BANK_PATH, fake_dispatch, 0, 0},
    {"POST", RECIPIENT_PATH, fake_dispatch, 0, 0},
    {"POST", TRANSFER_PATH, fake_dispatch, 0, 0},
    {"GET", "/transfer/verify/{reference}", fake_dispatch, 0, 0},
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
    ck_assert(v.not_found); /* Paystack never had it */

    answer(502, "");
    paystack_verify(ps, REF, &v);
    ck_assert_int_eq(v.outcome, PAY_RETRY);
    ck_assert_int_eq(v.http_status, 502);
    ck_assert(!v.not_found);

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

/* ---- M-Pesa charges ---- */

/* The request's JSON body (caller json_decref). */
static json_t *sent_body(const char *method, const char *path)
{
    const struct fake_req *rq = fake_last(&fk, method, path);
    ck_assert_ptr_nonnull(rq);
    ck_assert_str_eq(fake_hdr(rq, "Authorization"), "Bearer " SECRET);
    ck_assert_ptr_nonnull(strstr(fake_hdr(rq, "Content-Type"), "application/json"));
    json_t *b = json_loads(rq->body, 0, NULL);
    ck_assert_ptr_nonnull(b);
    return b;
}

static const char *jget(const json_t *o, const char *path)
{
    return json_string_value(json_object_get(o, path));
}

static void charge_default(struct paystack_charge_res *r)
{
    paystack_charge_mobile(ps, "customer@example.com", 5000, "KES", REF, "+254712345678", NULL, NULL, r);
}

START_TEST(charge_ok)
{
    json_t *md = json_pack("{s:s, s:s}", "order", "ord_42", "client", "school-a");
    struct paystack_charge_res r;
    /* the caller's local form goes out as +254... */
    paystack_charge_mobile(ps, "customer@example.com", 5000, "KES", REF, "0712 345 678", NULL, md, &r);
    ck_assert_int_eq(r.outcome, PAY_OK);
    ck_assert_int_eq(r.http_status, 200);
    ck_assert_str_eq(r.status, "pay_offline");
    ck_assert_str_eq(r.reference, REF);
    ck_assert_str_eq(r.display_text, "Please complete authorization process on your mobile phone");
    ck_assert_str_eq(r.message, "Charge attempted");
    ck_assert(!r.duplicate && !r.not_found);
    ck_assert_int_eq(r.amount, -1);
    ck_assert_int_eq(md->refcount, 1);

    json_t *b = sent_body("POST", CHARGE_PATH);
    ck_assert_str_eq(jget(b, "email"), "customer@example.com");
    ck_assert(json_is_integer(json_object_get(b, "amount")));
    ck_assert_int_eq(json_integer_value(json_object_get(b, "amount")), 5000);
    ck_assert_str_eq(jget(b, "currency"), "KES");
    ck_assert_str_eq(jget(b, "reference"), REF);
    const json_t *mm = json_object_get(b, "mobile_money");
    ck_assert_str_eq(jget(mm, "phone"), "+254712345678");
    ck_assert_str_eq(jget(mm, "provider"), "mpesa");
    ck_assert_uint_eq(json_object_size(mm), 2);
    ck_assert(json_equal(json_object_get(b, "metadata"), md));
    ck_assert_uint_eq(json_object_size(b), 6);
    json_decref(b);
    json_decref(md);
}
END_TEST

START_TEST(charge_defaults_and_paybill)
{
    struct paystack_charge_res r;
    answer(200, "{\"status\":true,\"message\":\"Charge attempted\",\"data\":{\"reference\":\"" REF "\","
                "\"status\":\"pay_offline\",\"display_text\":\"Please complete authorization process on your "
                "mobile phone\",\"account_number\":\"4084333\",\"account_reference\":1234567}}");
    paystack_charge_mobile(ps, "a@b.co", 100, NULL, REF, "254110000001", "mpesa_offline", NULL, &r);
    ck_assert_int_eq(r.outcome, PAY_OK);
    ck_assert_str_eq(r.account_number, "4084333");
    ck_assert_str_eq(r.account_reference, "1234567");
    json_t *b = sent_body("POST", CHARGE_PATH);
    ck_assert_str_eq(jget(b, "currency"), "KES");
    ck_assert_str_eq(jget(json_object_get(b, "mobile_money"), "phone"), "+254110000001");
    ck_assert_str_eq(jget(json_object_get(b, "mobile_money"), "provider"), "mpesa_offline");
    ck_assert_ptr_null(json_object_get(b, "metadata"));
    ck_assert_uint_eq(json_object_size(b), 5);
    json_decref(b);
}
END_TEST

START_TEST(charge_refused_unsent)
{
    struct paystack_charge_res r;
    char longref[80];
    memset(longref, 'R', 64);
    longref[64] = 0;
    paystack_charge_mobile(ps, "nobody", 5000, "KES", REF, "+254712345678", NULL, NULL, &r);
    ck_assert_int_eq(r.outcome, PAY_REJECT);
    ck_assert_ptr_nonnull(strstr(r.message, "email"));
    paystack_charge_mobile(ps, "a@b.co", 0, "KES", REF, "+254712345678", NULL, NULL, &r);
    ck_assert_ptr_nonnull(strstr(r.message, "amount"));
    paystack_charge_mobile(ps, "a@b.co", 5000, "kes", REF, "+254712345678", NULL, NULL, &r);
    ck_assert_ptr_nonnull(strstr(r.message, "currency"));
    paystack_charge_mobile(ps, "a@b.co", 5000, "KES", "WS_1", "+254712345678", NULL, NULL, &r);
    ck_assert_ptr_nonnull(strstr(r.message, "reference"));
    paystack_charge_mobile(ps, "a@b.co", 5000, "KES", longref, "+254712345678", NULL, NULL, &r);
    ck_assert_ptr_nonnull(strstr(r.message, "reference"));
    const char *phones[] = {NULL, "", "12345", "+255712345678", "+2547123456789", "07123456ab"};
    for (size_t i = 0; i < sizeof phones / sizeof *phones; i++) {
        paystack_charge_mobile(ps, "a@b.co", 5000, "KES", REF, phones[i], NULL, NULL, &r);
        ck_assert_int_eq(r.outcome, PAY_REJECT);
        ck_assert_ptr_nonnull(strstr(r.message, "phone"));
    }
    const char *providers[] = {"MPESA", "m-pesa", "mpesa_offline_but_longer_than_twenty"};
    for (size_t i = 0; i < sizeof providers / sizeof *providers; i++) {
        paystack_charge_mobile(ps, "a@b.co", 5000, "KES", REF, "0712345678", providers[i], NULL, &r);
        ck_assert_int_eq(r.outcome, PAY_REJECT);
        ck_assert_ptr_nonnull(strstr(r.message, "provider"));
    }
    ck_assert_int_eq(r.http_status, 0);
    ck_assert_int_eq(fake_count(&fk, "POST", CHARGE_PATH), 0);
}
END_TEST

START_TEST(charge_answers_classified)
{
    struct paystack_charge_res r;

    /* a retry of a charge that reached Paystack: taken, not refused */
    answer(400, "{\"status\":false,\"message\":\"Duplicate Transaction Reference\"}");
    charge_default(&r);
    ck_assert_int_eq(r.outcome, PAY_REJECT);
    ck_assert(r.duplicate && !r.not_found);
    ck_assert_str_eq(r.reference, REF);

    answer(400, "{\"status\":false,\"message\":\"Invalid phone number\"}");
    charge_default(&r);
    ck_assert_int_eq(r.outcome, PAY_REJECT);
    ck_assert(!r.duplicate && !r.not_found);
    ck_assert_str_eq(r.message, "Invalid phone number");

    /* a refusal that still reports the charge's state */
    answer(400, "{\"status\":false,\"message\":\"Charge attempted\",\"data\":{\"reference\":\"" REF "\","
                "\"status\":\"failed\",\"message\":\"Insufficient funds\"}}");
    charge_default(&r);
    ck_assert_int_eq(r.outcome, PAY_REJECT);
    ck_assert_str_eq(r.status, "failed");
    ck_assert_str_eq(r.gateway_response, "Insufficient funds");

    answer(502, "<html>Bad gateway: duplicate</html>");
    charge_default(&r);
    ck_assert_int_eq(r.outcome, PAY_RETRY);
    ck_assert(!r.duplicate);

    answer(429, "{\"status\":false,\"message\":\"Too many requests\"}");
    charge_default(&r);
    ck_assert_int_eq(r.outcome, PAY_RETRY);

    /* accepted, but what happens next is unreadable: check, do not resend */
    answer(200, "{\"status\":true,\"message\":\"Charge attempted\",\"data\":{\"reference\":\"" REF "\"}}");
    charge_default(&r);
    ck_assert_int_eq(r.outcome, PAY_RETRY);
    ck_assert_str_eq(r.status, "");

    /* no reference sent and none answered: nothing to check later */
    answer(200, "{\"status\":true,\"message\":\"Charge attempted\",\"data\":{\"status\":\"pay_offline\"}}");
    paystack_charge_mobile(ps, "a@b.co", 5000, "KES", NULL, "0712345678", NULL, NULL, &r);
    ck_assert_int_eq(r.outcome, PAY_RETRY);
    ck_assert_ptr_nonnull(strstr(r.message, "reference"));

    /* a reference Paystack made up is taken from the answer */
    answer(200, "{\"status\":true,\"message\":\"Charge attempted\",\"data\":{\"status\":\"pay_offline\","
                "\"reference\":\"jq3psd5n96sprwl\"}}");
    paystack_charge_mobile(ps, "a@b.co", 5000, "KES", NULL, "0712345678", NULL, NULL, &r);
    ck_assert_int_eq(r.outcome, PAY_OK);
    ck_assert_str_eq(r.reference, "jq3psd5n96sprwl");
    ck_assert_int_eq(fake_count(&fk, "POST", CHARGE_PATH), 8);
}
END_TEST

START_TEST(charge_check_states)
{
    struct paystack_charge_res r;
    paystack_charge_check(ps, REF, &r);
    ck_assert_int_eq(r.outcome, PAY_OK);
    ck_assert_str_eq(r.status, "pending");
    ck_assert_str_eq(r.reference, REF);
    ck_assert_str_eq(r.message, "Reference check successful");
    const struct fake_req *rq = fake_last(&fk, "GET", CHECK_PATH);
    ck_assert_ptr_nonnull(rq);
    ck_assert_str_eq(fake_hdr(rq, "Authorization"), "Bearer " SECRET);
    ck_assert_uint_eq(rq->body_len, 0);

    answer(200, "{\"status\":true,\"message\":\"Charge attempted\",\"data\":{\"amount\":5000,\"currency\":\"KES\","
                "\"transaction_date\":\"2024-08-22T09:14:24.000Z\",\"status\":\"success\",\"reference\":\"" REF "\","
                "\"domain\":\"test\",\"gateway_response\":\"Approved\",\"message\":\"madePayment\","
                "\"channel\":\"mobile_money\",\"paid_at\":\"2024-08-22T09:15:02.000Z\"}}");
    paystack_charge_check(ps, REF, &r);
    ck_assert_int_eq(r.outcome, PAY_OK);
    ck_assert_str_eq(r.status, "success");
    ck_assert_int_eq(r.amount, 5000);
    ck_assert_str_eq(r.currency, "KES");
    ck_assert_str_eq(r.channel, "mobile_money");
    ck_assert_str_eq(r.paid_at, "2024-08-22T09:15:02.000Z");
    ck_assert_str_eq(r.gateway_response, "Approved");

    answer(200, "{\"status\":true,\"message\":\"Reference check successful\",\"data\":{\"reference\":\"" REF "\","
                "\"status\":\"failed\",\"message\":\"Insufficient funds\"}}");
    paystack_charge_check(ps, REF, &r);
    ck_assert_int_eq(r.outcome, PAY_OK);
    ck_assert_str_eq(r.status, "failed");
    ck_assert_str_eq(r.gateway_response, "Insufficient funds");

    /* never arrived: safe to charge again under the same reference */
    answer(400, "{\"status\":false,\"message\":\"Transaction reference not found\"}");
    paystack_charge_check(ps, REF, &r);
    ck_assert_int_eq(r.outcome, PAY_REJECT);
    ck_assert(r.not_found && !r.duplicate);
    /* a 404 that is not Paystack's own answer proves nothing */
    answer(404, "<html>Not Found</html>");
    paystack_charge_check(ps, REF, &r);
    ck_assert_int_eq(r.outcome, PAY_REJECT);
    ck_assert(!r.not_found);

    paystack_charge_check(ps, "../bank", &r);
    ck_assert_int_eq(r.outcome, PAY_REJECT);
    ck_assert_int_eq(r.http_status, 0);
    paystack_charge_check(ps, NULL, &r);
    ck_assert_int_eq(r.outcome, PAY_REJECT);
    ck_assert_int_eq(fake_count(&fk, "GET", CHECK_PATH), 5);
}
END_TEST

/* ---- payouts ---- */

START_TEST(bank_found_and_cached)
{
    char code[PAYSTACK_CODE_MAX];
    ck_assert_int_eq(paystack_mobile_money_bank(ps, "M-PESA", code), PAY_OK);
    ck_assert_str_eq(code, "MPESA");
    const struct fake_req *rq = fake_last(&fk, "GET", BANK_PATH);
    ck_assert_ptr_nonnull(rq);
    ck_assert_str_eq(rq->query, "currency=KES&type=mobile_money");
    ck_assert_str_eq(fake_hdr(rq, "Authorization"), "Bearer " SECRET);

    /* the same wallet in other spellings: from the cache */
    ck_assert_int_eq(paystack_mobile_money_bank(ps, "mpesa", code), PAY_OK);
    ck_assert_str_eq(code, "MPESA");
    ck_assert_int_eq(paystack_mobile_money_bank(ps, "M-Pesa", code), PAY_OK);
    ck_assert_int_eq(fake_count(&fk, "GET", BANK_PATH), 1);

    /* another wallet asks again */
    ck_assert_int_eq(paystack_mobile_money_bank(ps, "Airtel Money", code), PAY_OK);
    ck_assert_str_eq(code, "AIRTEL");
    ck_assert_int_eq(fake_count(&fk, "GET", BANK_PATH), 2);

    ck_assert_int_eq(paystack_mobile_money_bank(ps, "T-Kash", code), PAY_REJECT);
    ck_assert_str_eq(code, "");
    ck_assert_int_eq(paystack_mobile_money_bank(ps, "", code), PAY_REJECT);
    ck_assert_int_eq(paystack_mobile_money_bank(ps, NULL, code), PAY_REJECT);
    ck_assert_int_eq(paystack_mobile_money_bank(ps, "--", code), PAY_REJECT);
    ck_assert_int_eq(fake_count(&fk, "GET", BANK_PATH), 3);
}
END_TEST

START_TEST(bank_answers_classified)
{
    char code[PAYSTACK_CODE_MAX];
    answer(500, "{\"status\":false,\"message\":\"Server error\"}");
    ck_assert_int_eq(paystack_mobile_money_bank(ps, "M-PESA", code), PAY_RETRY);
    answer(200, "{\"status\":true,\"message\":\"Banks retrieved\",\"data\":{}}");
    ck_assert_int_eq(paystack_mobile_money_bank(ps, "M-PESA", code), PAY_RETRY);
    answer(200, "{\"status\":true,\"message\":\"Banks retrieved\",\"data\":[{\"name\":\"M-PESA\","
                "\"code\":\"MP ESA\",\"active\":true}]}");
    ck_assert_int_eq(paystack_mobile_money_bank(ps, "M-PESA", code), PAY_REJECT);
    ck_assert_str_eq(code, "");
    /* failures are not cached */
    answer(0, NULL);
    ck_assert_int_eq(paystack_mobile_money_bank(ps, "M-PESA", code), PAY_OK);
    ck_assert_int_eq(fake_count(&fk, "GET", BANK_PATH), 4);
}
END_TEST

static void *bank_thread(void *arg)
{
    char code[PAYSTACK_CODE_MAX];
    int *ok = arg;
    for (int i = 0; i < 20; i++)
        if (paystack_mobile_money_bank(ps, "M-PESA", code) != PAY_OK || strcmp(code, "MPESA"))
            return NULL;
    *ok = 1;
    httpc_thread_done();
    return NULL;
}

START_TEST(bank_cache_shared_by_threads)
{
    pthread_t t[4];
    int ok[4] = {0};
    for (int i = 0; i < 4; i++)
        ck_assert_int_eq(pthread_create(&t[i], NULL, bank_thread, &ok[i]), 0);
    for (int i = 0; i < 4; i++) {
        pthread_join(t[i], NULL);
        ck_assert(ok[i]);
    }
    /* at most one request per thread before the first answer is cached */
    ck_assert_int_le(fake_count(&fk, "GET", BANK_PATH), 4);
}
END_TEST

START_TEST(recipient_ok)
{
    struct paystack_recipient_res r;
    paystack_recipient(ps, "Amina Wanjiku", "+254712345678", "MPESA", NULL, &r);
    ck_assert_int_eq(r.outcome, PAY_OK);
    ck_assert_int_eq(r.http_status, 200);
    ck_assert_str_eq(r.recipient_code, RCP);
    ck_assert_str_eq(r.message, "Transfer recipient created successfully");
    json_t *b = sent_body("POST", RECIPIENT_PATH);
    ck_assert_str_eq(jget(b, "type"), "mobile_money");
    ck_assert_str_eq(jget(b, "name"), "Amina Wanjiku");
    ck_assert_str_eq(jget(b, "account_number"), "0712345678");
    ck_assert_str_eq(jget(b, "bank_code"), "MPESA");
    ck_assert_str_eq(jget(b, "currency"), "KES");
    ck_assert_uint_eq(json_object_size(b), 5);
    json_decref(b);

    paystack_recipient(ps, "Mwalimu Ochieng'", "254110000001", "MPESA", "KES", &r);
    ck_assert_int_eq(r.outcome, PAY_OK);
    b = sent_body("POST", RECIPIENT_PATH);
    ck_assert_str_eq(jget(b, "account_number"), "0110000001");
    json_decref(b);
}
END_TEST

START_TEST(recipient_refused_and_classified)
{
    struct paystack_recipient_res r;
    char longname[128];
    memset(longname, 'n', 101);
    longname[101] = 0;
    paystack_recipient(ps, "", "+254712345678", "MPESA", NULL, &r);
    ck_assert_ptr_nonnull(strstr(r.message, "name"));
    paystack_recipient(ps, longname, "+254712345678", "MPESA", NULL, &r);
    ck_assert_ptr_nonnull(strstr(r.message, "name"));
    paystack_recipient(ps, "Amina\nX", "+254712345678", "MPESA", NULL, &r);
    ck_assert_ptr_nonnull(strstr(r.message, "name"));
    paystack_recipient(ps, "Amina", "0812345678", "MPESA", NULL, &r);
    ck_assert_ptr_nonnull(strstr(r.message, "account_number"));
    paystack_recipient(ps, "Amina", "0712345678", "MP ESA", NULL, &r);
    ck_assert_ptr_nonnull(strstr(r.message, "bank_code"));
    paystack_recipient(ps, "Amina", "0712345678", "MPESA", "Ksh", &r);
    ck_assert_ptr_nonnull(strstr(r.message, "currency"));
    ck_assert_int_eq(r.outcome, PAY_REJECT);
    ck_assert_int_eq(fake_count(&fk, "POST", RECIPIENT_PATH), 0);

    answer(400, "{\"status\":false,\"message\":\"Account number is invalid\"}");
    paystack_recipient(ps, "Amina", "0712345678", "MPESA", NULL, &r);
    ck_assert_int_eq(r.outcome, PAY_REJECT);
    ck_assert_str_eq(r.message, "Account number is invalid");
    answer(200, "{\"status\":true,\"message\":\"Transfer recipient created successfully\",\"data\":"
                "{\"recipient_code\":\"XYZ_1\"}}");
    paystack_recipient(ps, "Amina", "0712345678", "MPESA", NULL, &r);
    ck_assert_int_eq(r.outcome, PAY_RETRY);
    ck_assert_str_eq(r.recipient_code, "");
}
END_TEST

START_TEST(transfer_reference_alphabet)
{
    ck_assert(paystack_transfer_reference_ok(TREF));
    ck_assert(paystack_transfer_reference_ok("abcdefghij-_0123"));
    char r[64];
    memset(r, 'a', 50);
    r[50] = 0;
    ck_assert(paystack_transfer_reference_ok(r));
    r[50] = 'a', r[51] = 0;
    ck_assert(!paystack_transfer_reference_ok(r));
    ck_assert(!paystack_transfer_reference_ok("abcdefghij-_012")); /* 15 */
    ck_assert(!paystack_transfer_reference_ok("ABCDEFGHIJ-_0123"));
    ck_assert(!paystack_transfer_reference_ok("abcdefghij.-0123"));
    ck_assert(!paystack_transfer_reference_ok("abcdefghij -0123"));
    ck_assert(!paystack_transfer_reference_ok(""));
    ck_assert(!paystack_transfer_reference_ok(NULL));
}
END_TEST

START_TEST(transfer_ok)
{
    struct paystack_transfer_res r;
    paystack_transfer(ps, 250000, RCP, TREF, "Lesson fees", &r);
    ck_assert_int_eq(r.outcome, PAY_OK);
    ck_assert_int_eq(r.http_status, 200);
    ck_assert_str_eq(r.status, "pending");
    ck_assert_str_eq(r.transfer_code, "TRF_v5tip3zx8nna9o78");
    ck_assert_str_eq(r.reference, TREF);
    ck_assert_int_eq(r.amount, 250000);
    ck_assert_str_eq(r.currency, "KES");
    ck_assert_str_eq(r.transferred_at, "");
    ck_assert_str_eq(r.recipient_code, "");
    ck_assert_str_eq(r.message, "Transfer has been queued");
    ck_assert(!r.duplicate && !r.not_found);
    json_t *b = sent_body("POST", TRANSFER_PATH);
    ck_assert_str_eq(jget(b, "source"), "balance");
    ck_assert(json_is_integer(json_object_get(b, "amount")));
    ck_assert_int_eq(json_integer_value(json_object_get(b, "amount")), 250000);
    ck_assert_str_eq(jget(b, "recipient"), RCP);
    ck_assert_str_eq(jget(b, "reference"), TREF);
    ck_assert_str_eq(jget(b, "reason"), "Lesson fees");
    ck_assert_uint_eq(json_object_size(b), 5);
    json_decref(b);

    paystack_transfer(ps, 1, RCP, TREF, NULL, &r);
    ck_assert_int_eq(r.outcome, PAY_OK);
    b = sent_body("POST", TRANSFER_PATH);
    ck_assert_uint_eq(json_object_size(b), 4);
    json_decref(b);
}
END_TEST

START_TEST(transfer_repeat_is_flagged)
{
    struct paystack_transfer_res r;
    const char *dups[] = {
        "{\"status\":false,\"message\":\"Duplicate Transfer Reference\"}",
        "{\"status\":false,\"message\":\"Transfer reference already exists - duplicate\"}",
        "{\"status\":false,\"message\":\"This reference has already been used on a prior transfer\"}",
        "{\"status\":false,\"message\":\"Invalid request\",\"type\":\"validation_error\","
        "\"code\":\"duplicate_reference\"}",
    };
    for (size_t i = 0; i < sizeof dups / sizeof *dups; i++) {
        answer(400, dups[i]);
        paystack_transfer(ps, 250000, RCP, TREF, "Lesson fees", &r);
        ck_assert_int_eq(r.outcome, PAY_REJECT);
        ck_assert_msg(r.duplicate, "%s", dups[i]);
        ck_assert_str_eq(r.reference, TREF);
    }
    answer(400, "{\"status\":false,\"message\":\"Recipient specified is invalid\",\"type\":\"validation_error\","
                "\"code\":\"invalid_transfer_recipient\"}");
    paystack_transfer(ps, 250000, RCP, TREF, "Lesson fees", &r);
    ck_assert_int_eq(r.outcome, PAY_REJECT);
    ck_assert(!r.duplicate);
    ck_assert_str_eq(r.message, "Recipient specified is invalid");
    answer(400, "{\"status\":false,\"message\":\"Your balance is not enough to fulfil this request\"}");
    paystack_transfer(ps, 250000, RCP, TREF, "Lesson fees", &r);
    ck_assert(!r.duplicate);
    /* a proxy's words are not Paystack's */
    answer(409, "<html>duplicate request</html>");
    paystack_transfer(ps, 250000, RCP, TREF, "Lesson fees", &r);
    ck_assert_int_eq(r.outcome, PAY_REJECT);
    ck_assert(!r.duplicate);
    answer(503, "{\"status\":false,\"message\":\"Duplicate Transfer Reference\"}");
    paystack_transfer(ps, 250000, RCP, TREF, "Lesson fees", &r);
    ck_assert_int_eq(r.outcome, PAY_RETRY);
    ck_assert(!r.duplicate);
    /* accepted but unreadable: verify, do not resend */
    answer(200, "{\"status\":true,\"message\":\"Transfer has been queued\",\"data\":{\"status\":42}}");
    paystack_transfer(ps, 250000, RCP, TREF, "Lesson fees", &r);
    ck_assert_int_eq(r.outcome, PAY_RETRY);
    answer(200, "{\"status\":true,\"message\":\"Transfer requires OTP to continue\",\"data\":{\"reference\":"
                "\"" TREF "\",\"status\":\"otp\",\"transfer_code\":\"TRF_1aqrqhoomp0rjro\"}}");
    paystack_transfer(ps, 250000, RCP, TREF, "Lesson fees", &r);
    ck_assert_int_eq(r.outcome, PAY_OK);
    ck_assert_str_eq(r.status, "otp");
    ck_assert_int_eq(fake_count(&fk, "POST", TRANSFER_PATH), 10);
}
END_TEST

START_TEST(transfer_refused_unsent)
{
    struct paystack_transfer_res r;
    paystack_transfer(ps, 0, RCP, TREF, NULL, &r);
    ck_assert_ptr_nonnull(strstr(r.message, "amount"));
    paystack_transfer(ps, 250000, "RCP_", TREF, NULL, &r);
    ck_assert_ptr_nonnull(strstr(r.message, "recipient"));
    paystack_transfer(ps, 250000, "TRF_abc", TREF, NULL, &r);
    ck_assert_ptr_nonnull(strstr(r.message, "recipient"));
    paystack_transfer(ps, 250000, NULL, TREF, NULL, &r);
    ck_assert_ptr_nonnull(strstr(r.message, "recipient"));
    paystack_transfer(ps, 250000, RCP, "ESC-0F9C2D4E-7A1B-4C3D", NULL, &r);
    ck_assert_ptr_nonnull(strstr(r.message, "reference"));
    paystack_transfer(ps, 250000, RCP, NULL, NULL, &r);
    ck_assert_ptr_nonnull(strstr(r.message, "reference"));
    paystack_transfer(ps, 250000, RCP, TREF, "fees\r\nX-Evil: 1", &r);
    ck_assert_ptr_nonnull(strstr(r.message, "reason"));
    ck_assert_int_eq(r.outcome, PAY_REJECT);
    ck_assert_int_eq(r.http_status, 0);
    ck_assert_int_eq(fake_count(&fk, "POST", TRANSFER_PATH), 0);
}
END_TEST

START_TEST(transfer_verify_states)
{
    struct paystack_transfer_res r;
    paystack_transfer_verify(ps, TREF, &r);
    ck_assert_int_eq(r.outcome, PAY_OK);
    ck_assert_str_eq(r.status, "success");
    ck_assert_str_eq(r.recipient_code, RCP);
    ck_assert_str_eq(r.transfer_code, "TRF_v5tip3zx8nna9o78");
    ck_assert_str_eq(r.transferred_at, "2025-08-04T10:33:02.000Z");
    ck_assert_int_eq(r.amount, 250000);
    ck_assert_str_eq(r.message, "Transfer retrieved");
    const struct fake_req *rq = fake_last(&fk, "GET", TVERIFY_PATH);
    ck_assert_ptr_nonnull(rq);
    ck_assert_uint_eq(rq->body_len, 0);

    answer(200, "{\"status\":true,\"message\":\"Transfer retrieved\",\"data\":{\"reference\":\"" TREF "\","
                "\"status\":\"reversed\",\"failures\":\"Recipient wallet is not registered\"}}");
    paystack_transfer_verify(ps, TREF, &r);
    ck_assert_str_eq(r.status, "reversed");
    ck_assert_str_eq(r.gateway_response, "Recipient wallet is not registered");

    /* the first attempt never arrived: the same reference may go again */
    answer(404, "{\"status\":false,\"message\":\"Transfer not found\"}");
    paystack_transfer_verify(ps, TREF, &r);
    ck_assert_int_eq(r.outcome, PAY_REJECT);
    ck_assert(r.not_found && !r.duplicate);
    answer(404, "Not Found");
    paystack_transfer_verify(ps, TREF, &r);
    ck_assert(!r.not_found);
    answer(500, "{\"status\":false,\"message\":\"Transfer not found\"}");
    paystack_transfer_verify(ps, TREF, &r);
    ck_assert_int_eq(r.outcome, PAY_RETRY);
    ck_assert(!r.not_found);
    answer(401, "{\"status\":false,\"message\":\"Invalid key\"}");
    paystack_transfer_verify(ps, TREF, &r);
    ck_assert(!r.not_found);

    paystack_transfer_verify(ps, "../transfer", &r);
    ck_assert_int_eq(r.outcome, PAY_REJECT);
    ck_assert_int_eq(r.http_status, 0);
    ck_assert_int_eq(fake_count(&fk, "GET", TVERIFY_PATH), 6);
}
END_TEST

START_TEST(payouts_without_answer_retry)
{
    char dead[64], code[PAYSTACK_CODE_MAX];
    fake_dead_base(dead);
    memset(&cfg, 0, sizeof cfg);
    cfg.paystack_url = dead;
    cfg.paystack_secret = (char *)SECRET;
    cfg.http_timeout_ms = 2000;
    struct paystack *d = paystack_new(&cfg);
    ck_assert_ptr_nonnull(d);
    struct paystack_charge_res c;
    paystack_charge_mobile(d, "a@b.co", 5000, "KES", REF, "0712345678", NULL, NULL, &c);
    ck_assert_int_eq(c.outcome, PAY_RETRY);
    ck_assert(!c.duplicate && !c.not_found);
    ck_assert_int_eq(paystack_mobile_money_bank(d, "M-PESA", code), PAY_RETRY);
    struct paystack_recipient_res rr;
    paystack_recipient(d, "Amina", "0712345678", "MPESA", NULL, &rr);
    ck_assert_int_eq(rr.outcome, PAY_RETRY);
    struct paystack_transfer_res t;
    paystack_transfer(d, 250000, RCP, TREF, NULL, &t);
    ck_assert_int_eq(t.outcome, PAY_RETRY);
    ck_assert_int_eq(t.http_status, 0);
    paystack_transfer_verify(d, TREF, &t);
    ck_assert_int_eq(t.outcome, PAY_RETRY);
    ck_assert(!t.not_found);
    paystack_free(d);
}
END_TEST

/* ---- webhook events ---- */

/* charge.success for an M-Pesa charge, in Paystack's published shape */
#define EV_CHARGE                                                                                   \
    "{\"event\":\"charge.success\",\"data\":{\"id\":4099260516,\"domain\":\"live\",\"status\":"     \
    "\"success\",\"reference\":\"" REF "\",\"amount\":5000,\"message\":null,\"gateway_response\":"   \
    "\"Approved\",\"paid_at\":\"2024-08-22T09:15:02.000Z\",\"created_at\":\"2024-08-22T09:14:24.000Z\"," \
    "\"channel\":\"mobile_money\",\"currency\":\"KES\",\"ip_address\":\"18.130.236.148, 141.101.99.73\"," \
    "\"metadata\":\"\",\"log\":null,\"fees\":153,\"authorization\":{\"authorization_code\":"       \
    "\"AUTH_0aqm8ddx6s\",\"channel\":\"mobile_money\",\"bank\":\"M-PESA\"},\"customer\":{\"id\":16678," \
    "\"email\":\"customer@email.com\"},\"plan\":{},\"paidAt\":\"2024-08-22T09:15:02.000Z\"}}"

START_TEST(event_charge_success)
{
    struct paystack_event ev;
    ck_assert(paystack_event_parse(EV_CHARGE, strlen(EV_CHARGE), &ev));
    ck_assert_int_eq(ev.kind, PAYSTACK_EV_CHARGE_SUCCESS);
    ck_assert_str_eq(ev.event, "charge.success");
    ck_assert_str_eq(ev.reference, REF);
    ck_assert_str_eq(ev.status, "success");
    ck_assert_int_eq(ev.amount, 5000);
    ck_assert_str_eq(ev.currency, "KES");
    ck_assert_str_eq(ev.id, "4099260516");
    ck_assert_str_eq(ev.paid_at, "2024-08-22T09:15:02.000Z");
    ck_assert_str_eq(ev.channel, "mobile_money");
    ck_assert_str_eq(ev.gateway_response, "Approved");
    ck_assert_str_eq(ev.transfer_code, "");
    ck_assert_str_eq(ev.error, "");
}
END_TEST

START_TEST(event_transfers)
{
    struct paystack_event ev;
    const char *ok = "{\"event\":\"transfer.success\",\"data\":{\"amount\":\"250000\",\"createdAt\":"
                     "\"2025-08-04T10:32:40.000Z\",\"currency\":\"KES\",\"domain\":\"test\",\"failures\":null,"
                     "\"id\":860703114,\"integration\":{\"id\":463433,\"is_live\":true},\"reason\":\"Lesson fees\","
                     "\"reference\":\"" TREF "\",\"source\":\"balance\",\"status\":\"success\",\"titan_code\":null,"
                     "\"transfer_code\":\"TRF_v5tip3zx8nna9o78\",\"transferred_at\":\"2025-08-04T10:33:02.000Z\","
                     "\"recipient\":{\"recipient_code\":\"" RCP "\"},\"gateway_response\":null}}";
    ck_assert(paystack_event_parse(ok, strlen(ok), &ev));
    ck_assert_int_eq(ev.kind, PAYSTACK_EV_TRANSFER_SUCCESS);
    ck_assert_str_eq(ev.reference, TREF);
    ck_assert_int_eq(ev.amount, 250000);
    ck_assert_str_eq(ev.transfer_code, "TRF_v5tip3zx8nna9o78");
    ck_assert_str_eq(ev.paid_at, "2025-08-04T10:33:02.000Z");
    ck_assert_str_eq(ev.gateway_response, "");

    const char *rev = "{\"event\":\"transfer.reversed\",\"data\":{\"amount\":10000,\"currency\":\"KES\","
                      "\"reference\":\"jvrjckwenm\",\"status\":\"reversed\",\"transfer_code\":\"TRF_js075pj9u07f34l\","
                      "\"transferred_at\":null,\"id\":20615868}}";
    ck_assert(paystack_event_parse(rev, strlen(rev), &ev));
    ck_assert_int_eq(ev.kind, PAYSTACK_EV_TRANSFER_REVERSED);
    ck_assert_str_eq(ev.paid_at, "");
    const char *failed = "{\"event\":\"transfer.failed\",\"data\":{\"reference\":\"" TREF "\",\"status\":\"failed\"}}";
    ck_assert(paystack_event_parse(failed, strlen(failed), &ev));
    ck_assert_int_eq(ev.kind, PAYSTACK_EV_TRANSFER_FAILED);
    ck_assert_int_eq(ev.amount, -1);
    const char *cf = "{\"event\":\"charge.failed\",\"data\":{\"reference\":\"" REF "\",\"status\":\"failed\","
                     "\"id\":\"abc-1\",\"gateway_response\":\"Insufficient funds\"}}";
    ck_assert(paystack_event_parse(cf, strlen(cf), &ev));
    ck_assert_int_eq(ev.kind, PAYSTACK_EV_CHARGE_FAILED);
    ck_assert_str_eq(ev.id, "abc-1");
    /* events this service does not act on need no reference */
    const char *other = "{\"event\":\"refund.processed\",\"data\":{\"status\":\"processed\",\"amount\":100}}";
    ck_assert(paystack_event_parse(other, strlen(other), &ev));
    ck_assert_int_eq(ev.kind, PAYSTACK_EV_OTHER);
    ck_assert_str_eq(ev.event, "refund.processed");
}
END_TEST

START_TEST(event_refusals)
{
    struct paystack_event ev;
    static const struct {
        const char *body, *field;
    } bad[] = {
        {"", "body"},
        {"not json", "body"},
        {"[1,2]", "body"},
        {"{\"data\":{}}", "event"},
        {"{\"event\":\"\",\"data\":{}}", "event"},
        {"{\"event\":\"Charge.Success\",\"data\":{}}", "event"},
        {"{\"event\":\"charge success\",\"data\":{}}", "event"},
        {"{\"event\":7,\"data\":{}}", "event"},
        {"{\"event\":\"charge.success\"}", "data"},
        {"{\"event\":\"charge.success\",\"data\":[]}", "data"},
        {"{\"event\":\"charge.success\",\"data\":{\"amount\":5000}}", "data.reference"},
        {"{\"event\":\"charge.success\",\"data\":{\"reference\":\"a b\"}}", "data.reference"},
        {"{\"event\":\"charge.success\",\"data\":{\"reference\":\"a\\u0000b\"}}", "body"},
        {"{\"event\":\"charge.success\",\"data\":{\"reference\":42}}", "data.reference"},
        {"{\"event\":\"charge.success\",\"data\":{\"reference\":\"r1\",\"amount\":-1}}", "data.amount"},
        {"{\"event\":\"charge.success\",\"data\":{\"reference\":\"r1\",\"amount\":\"50a\"}}", "data.amount"},
        {"{\"event\":\"charge.success\",\"data\":{\"reference\":\"r1\",\"amount\":50.5}}", "data.amount"},
        {"{\"event\":\"charge.success\",\"data\":{\"reference\":\"r1\",\"status\":\"success\\n\"}}", "data.status"},
        {"{\"event\":\"charge.success\",\"data\":{\"reference\":\"r1\",\"currency\":\"K-S\"}}", "data.currency"},
        {"{\"event\":\"charge.success\",\"data\":{\"reference\":\"r1\",\"id\":{}}}", "data.id"},
        {"{\"event\":\"charge.success\",\"data\":{\"reference\":\"r1\",\"gateway_response\":1}}",
         "data.gateway_response"},
        {"{\"event\":\"charge.success\",\"data\":{\"reference\":\"r1\",\"paid_at\":\"<script>\"}}", "data.paid_at"},
        /* two readers of one body must not see two references */
        {"{\"event\":\"charge.success\",\"data\":{\"reference\":\"r1\",\"reference\":\"r2\"}}", "body"},
        {"{\"event\":\"charge.success\",\"event\":\"transfer.success\",\"data\":{\"reference\":\"r1\"}}", "body"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        ck_assert_msg(!paystack_event_parse(bad[i].body, strlen(bad[i].body), &ev), "%s", bad[i].body);
        ck_assert_msg(!strncmp(ev.error, bad[i].field, strlen(bad[i].field)), "%s: %s", bad[i].body, ev.error);
        ck_assert_int_eq(ev.kind, PAYSTACK_EV_OTHER);
        ck_assert_str_eq(ev.reference, "");
        ck_assert_int_eq(ev.amount, -1);
    }
    ck_assert(!paystack_event_parse(NULL, 0, &ev));
    /* only the bytes given count */
    ck_assert(!paystack_event_parse(EV_CHARGE, strlen(EV_CHARGE) - 1, &ev));

    /* a reference of 101 characters is not Paystack's; 100 is */
    char body[512], ref[128];
    memset(ref, 'r', 101);
    ref[101] = 0;
    snprintf(body, sizeof body, "{\"event\":\"charge.success\",\"data\":{\"reference\":\"%s\"}}", ref);
    ck_assert(!paystack_event_parse(body, strlen(body), &ev));
    ref[100] = 0;
    snprintf(body, sizeof body, "{\"event\":\"charge.success\",\"data\":{\"reference\":\"%s\"}}", ref);
    ck_assert(paystack_event_parse(body, strlen(body), &ev));
    ck_assert_uint_eq(strlen(ev.reference), 100);

    /* too big to be an event */
    size_t big = PAYSTACK_EVENT_BODY_MAX + 1;
    char *huge = malloc(big);
    ck_assert_ptr_nonnull(huge);
    memset(huge, ' ', big);
    memcpy(huge, EV_CHARGE, strlen(EV_CHARGE));
    ck_assert(!paystack_event_parse(huge, big, &ev));
    ck_assert_ptr_nonnull(strstr(ev.error, "body"));
    ck_assert(paystack_event_parse(huge, big - 1, &ev));
    free(huge);
}
END_TEST

START_TEST(event_free_text_cut)
{
    /* a long gateway_response is cut whole characters at a time, and its
     * control characters do not survive */
    char body[1024], text[512];
    for (int i = 0; i < 70; i++)
        memcpy(text + 6 * i, "\\u00e9", 6); /* é: two bytes each */
    text[6 * 70] = 0;
    snprintf(body, sizeof body,
             "{\"event\":\"charge.success\",\"data\":{\"reference\":\"r1\",\"gateway_response\":\"\\t%s\"}}", text);
    struct paystack_event ev;
    ck_assert(paystack_event_parse(body, strlen(body), &ev));
    size_t n = strlen(ev.gateway_response);
    ck_assert_uint_le(n, 127);
    ck_assert_int_eq(ev.gateway_response[0], ' ');
    ck_assert_int_eq((unsigned char)ev.gateway_response[n - 1], 0xa9); /* ends on a whole é */
}
END_TEST

/* Paystack's word, decided once for every face: paid only for the amount
 * and currency asked. */
START_TEST(outcome_of_paystacks_word)
{
    char why[256];
    ck_assert_str_eq(paystack_outcome("success", 10000, "KES", "", 100, "KES", false, "late", why, sizeof why),
                     "completed");
    ck_assert_str_eq(why, "Approved");
    ck_assert_str_eq(paystack_outcome("success", 10000, "KES", "Successful", 100, "KES", false, "late", why, sizeof why),
                     "completed");
    ck_assert_str_eq(why, "Successful");
    ck_assert_str_eq(paystack_outcome("success", 5000, "KES", "", 100, "KES", false, "late", why, sizeof why), "failed");
    ck_assert_str_eq(why, "amount mismatch: paid 5000 KES subunits, expected 10000 KES");
    ck_assert_str_eq(paystack_outcome("success", 10000, "NGN", "", 100, "KES", false, "late", why, sizeof why), "failed");
    ck_assert_str_eq(paystack_outcome("success", 10000, NULL, "", 100, "KES", false, "late", why, sizeof why), "failed");
    ck_assert_str_eq(why, "amount mismatch: paid 10000 ? subunits, expected 10000 KES");
    ck_assert_str_eq(paystack_outcome("failed", -1, NULL, "Declined", 100, "KES", false, "late", why, sizeof why), "failed");
    ck_assert_str_eq(why, "Paystack: failed: Declined");
    ck_assert_str_eq(paystack_outcome("reversed", -1, NULL, NULL, 100, "KES", false, "late", why, sizeof why), "failed");
    ck_assert_str_eq(why, "Paystack: reversed");
    ck_assert_ptr_null(paystack_outcome("abandoned", -1, NULL, NULL, 100, "KES", false, "late", why, sizeof why));
    ck_assert_str_eq(paystack_outcome("abandoned", -1, NULL, NULL, 100, "KES", true, "late", why, sizeof why), "timeout");
    ck_assert_str_eq(why, "late");
    const char *open[] = {"ongoing", "pending", "processing", "queued", "", NULL};
    for (int i = 0; open[i]; i++)
        ck_assert_ptr_null(paystack_outcome(open[i], 10000, "KES", "", 100, "KES", true, "late", why, sizeof why));
    ck_assert_ptr_null(paystack_outcome(NULL, 10000, "KES", "", 100, "KES", true, "late", why, sizeof why));
}
END_TEST

Suite *test_suite(void)
{
    Suite *s = suite_create("paystack");
    TCase *pure = tcase_create("pure");
    tcase_add_test(pure, signature_vector);
    tcase_add_test(pure, signature_refusals);
    tcase_add_test(pure, reference_alphabet);
    tcase_add_test(pure, outcome_of_paystacks_word);
    tcase_add_test(pure, transfer_reference_alphabet);
    tcase_add_test(pure, event_charge_success);
    tcase_add_test(pure, event_transfers);
    tcase_add_test(pure, event_refusals);
    tcase_add_test(pure, event_free_text_cut);
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

    TCase *mm = tcase_create("fake-paystack-mpesa");
    tcase_add_checked_fixture(mm, setup, teardown);
    tcase_set_timeout(mm, 30);
    tcase_add_test(mm, charge_ok);
    tcase_add_test(mm, charge_defaults_and_paybill);
    tcase_add_test(mm, charge_refused_unsent);
    tcase_add_test(mm, charge_answers_classified);
    tcase_add_test(mm, charge_check_states);
    tcase_add_test(mm, bank_found_and_cached);
    tcase_add_test(mm, bank_answers_classified);
    tcase_add_test(mm, bank_cache_shared_by_threads);
    tcase_add_test(mm, recipient_ok);
    tcase_add_test(mm, recipient_refused_and_classified);
    tcase_add_test(mm, transfer_ok);
    tcase_add_test(mm, transfer_repeat_is_flagged);
    tcase_add_test(mm, transfer_refused_unsent);
    tcase_add_test(mm, transfer_verify_states);
    tcase_add_test(mm, payouts_without_answer_retry);
    suite_add_tcase(s, mm);
    return s;
}
