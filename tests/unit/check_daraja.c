/* check_daraja: the Daraja client. Pure parts against the published vector
 * and Daraja's published callback samples; the calls against a fake Daraja
 * on 127.0.0.1 that issues a new token per OAuth call and, like the real
 * one, refuses any token but the newest with 404.001.03; and two lipads'
 * clients against that fake, sharing their token through one database
 * (pay/shared_token.c) or not. */
#include "runner.h"
#include "pay/pay.h"
#include "pay/shared_token.h"
#include "store/store.h"
#include "../support/testdb.h"

#include "util/crypto.h"
#include "util/httpc.h"
#include "util/str.h"

#include "fake.h"

#include <check.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define SANDBOX_PASSKEY "bfb279f9aa9bdbcf158e97dd71a467cd2e0c893059b10f78e6b72ada1ed2c919"
#define OAUTH_PATH "/oauth/v1/generate"
#define PUSH_PATH "/mpesa/stkpush/v1/processrequest"
#define QUERY_PATH "/mpesa/stkpushquery/v1/query"

/* ---------- pure helpers ---------- */

START_TEST(password_vector)
{
    char *p = daraja_password("174379", SANDBOX_PASSKEY, "20210628092408");
    ck_assert_ptr_nonnull(p);
    ck_assert_str_eq(p, "MTc0Mzc5YmZiMjc5ZjlhYTliZGJjZjE1OGU5N2RkNzFhNDY3Y2QyZTBjODkzMDU5YjEwZjc4ZT"
                        "ZiNzJhZGExZWQyYzkxOTIwMjEwNjI4MDkyNDA4");
    free(p);
}
END_TEST

static int64_t utc(int y, int mo, int d, int h, int mi, int s)
{
    struct tm tm = {.tm_year = y - 1900, .tm_mon = mo - 1, .tm_mday = d, .tm_hour = h, .tm_min = mi, .tm_sec = s};
    return (int64_t)timegm(&tm);
}

START_TEST(timestamp_nairobi)
{
    char ts[15];
    daraja_timestamp(utc(2021, 6, 28, 6, 24, 8), ts);
    ck_assert_str_eq(ts, "20210628092408");
    /* 23:30 UTC is already the next day (and here the next year) in Nairobi */
    daraja_timestamp(utc(2023, 12, 31, 23, 30, 0), ts);
    ck_assert_str_eq(ts, "20240101023000");
    daraja_timestamp(utc(2024, 2, 28, 21, 0, 5), ts);
    ck_assert_str_eq(ts, "20240229000005");
}
END_TEST

/* ---------- parse_callback ---------- */

static const char success_sample[] =
    "{\"Body\":{\"stkCallback\":{\"MerchantRequestID\":\"29115-34620561-1\","
    "\"CheckoutRequestID\":\"ws_CO_191220191020363925\",\"ResultCode\":0,"
    "\"ResultDesc\":\"The service request is processed successfully.\","
    "\"CallbackMetadata\":{\"Item\":[{\"Name\":\"Amount\",\"Value\":1.00},"
    "{\"Name\":\"MpesaReceiptNumber\",\"Value\":\"NLJ7RT61SV\"},"
    "{\"Name\":\"Balance\"},"
    "{\"Name\":\"TransactionDate\",\"Value\":20191219102115},"
    "{\"Name\":\"PhoneNumber\",\"Value\":254708374149}]}}}}";

static const char failure_sample[] =
    "{\"Body\":{\"stkCallback\":{\"MerchantRequestID\":\"29115-34620561-1\","
    "\"CheckoutRequestID\":\"ws_CO_191220191020363925\",\"ResultCode\":1032,"
    "\"ResultDesc\":\"Request cancelled by user\"}}}";

static bool parse(const char *body, struct pay_callback *cb, char *err, size_t errsz)
{
    return pay_daraja.parse_callback(body, strlen(body), cb, err, errsz);
}

START_TEST(callback_success_sample)
{
    struct pay_callback cb;
    char err[128];
    ck_assert(parse(success_sample, &cb, err, sizeof err));
    ck_assert_str_eq(cb.merchant_request_id, "29115-34620561-1");
    ck_assert_str_eq(cb.checkout_request_id, "ws_CO_191220191020363925");
    ck_assert_int_eq(cb.result_code, 0);
    ck_assert_str_eq(cb.result_desc, "The service request is processed successfully.");
    ck_assert_int_eq(cb.amount, 1);
    ck_assert_str_eq(cb.receipt, "NLJ7RT61SV");
    ck_assert_str_eq(cb.phone, "254708374149");
    ck_assert_int_eq(cb.transaction_date, 20191219102115LL);
    ck_assert_int_eq(cb.transaction_at, 1576740075000LL); /* 2019-12-19T07:21:15Z */
}
END_TEST

/* A callback's TransactionDate is Nairobi time (UTC+3): 10:21:15 there is
 * 07:21:15 UTC. Anything that is not a date and time is no date. */
START_TEST(transaction_time_nairobi)
{
    int64_t ms = 0;
    ck_assert(daraja_transaction_time(20191219102115LL, &ms));
    ck_assert_int_eq(ms, 1576740075000LL);
    ck_assert(daraja_transaction_time(20240201120000LL, &ms));
    ck_assert_int_eq(ms, 1706778000000LL); /* 2024-02-01T09:00:00Z */
    ck_assert(daraja_transaction_time(20240229235959LL, &ms));
    ck_assert_int_eq(ms, 1709240399000LL);
    ck_assert(daraja_transaction_time(20000101000000LL, &ms));
    ck_assert_int_eq(ms, 946674000000LL); /* the previous day, 21:00 UTC */
    const int64_t bad[] = {20230229120000LL, 20240230120000LL, 20241301120000LL, 20240001120000LL,
                           20240100120000LL, 20240101240000LL, 20240101126000LL, 20240101120060LL,
                           19991231235959LL, 2024020112000LL, 1, 0};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
        ck_assert_msg(!daraja_transaction_time(bad[i], &ms), "%lld is not a date", (long long)bad[i]);
    /* no time in a callback: kept as sent, and no date */
    struct pay_callback cb;
    char err[128];
    ck_assert(parse("{\"Body\":{\"stkCallback\":{\"CheckoutRequestID\":\"ws_CO_1\",\"ResultCode\":0,"
                    "\"CallbackMetadata\":{\"Item\":[{\"Name\":\"Amount\",\"Value\":5},"
                    "{\"Name\":\"TransactionDate\",\"Value\":20241399000000}]}}}}",
                    &cb, err, sizeof err));
    ck_assert_int_eq(cb.transaction_date, 20241399000000LL);
    ck_assert_int_eq(cb.transaction_at, 0);
}
END_TEST

START_TEST(callback_failure_sample)
{
    struct pay_callback cb;
    char err[128];
    ck_assert(parse(failure_sample, &cb, err, sizeof err));
    ck_assert_str_eq(cb.checkout_request_id, "ws_CO_191220191020363925");
    ck_assert_int_eq(cb.result_code, 1032);
    ck_assert_str_eq(cb.result_desc, "Request cancelled by user");
    ck_assert_int_eq(cb.amount, -1);
    ck_assert_str_eq(cb.receipt, "");
    ck_assert_str_eq(cb.phone, "");
    ck_assert_int_eq(cb.transaction_date, 0);
}
END_TEST

START_TEST(callback_string_result_code)
{
    struct pay_callback cb;
    char err[128];
    ck_assert(parse("{\"Body\":{\"stkCallback\":{\"CheckoutRequestID\":\"ws_CO_1\",\"ResultCode\":\"1037\"}}}",
                    &cb, err, sizeof err));
    ck_assert_int_eq(cb.result_code, 1037);
    ck_assert(parse("{\"Body\":{\"stkCallback\":{\"CheckoutRequestID\":\"ws_CO_1\",\"ResultCode\":\"0\"}}}",
                    &cb, err, sizeof err));
    ck_assert_int_eq(cb.result_code, 0);
    ck_assert(!parse("{\"Body\":{\"stkCallback\":{\"CheckoutRequestID\":\"ws_CO_1\",\"ResultCode\":\"zero\"}}}",
                     &cb, err, sizeof err));
    ck_assert_ptr_nonnull(strstr(err, "ResultCode"));
    ck_assert(!parse("{\"Body\":{\"stkCallback\":{\"CheckoutRequestID\":\"ws_CO_1\"}}}", &cb, err, sizeof err));
    ck_assert_ptr_nonnull(strstr(err, "ResultCode"));
}
END_TEST

/* A paid callback whose Amount item's Value is the given JSON text. */
static bool parse_amount(const char *value_json, struct pay_callback *cb, char *err, size_t errsz)
{
    char body[512];
    snprintf(body, sizeof body,
             "{\"Body\":{\"stkCallback\":{\"CheckoutRequestID\":\"ws_CO_9\",\"ResultCode\":0,"
             "\"CallbackMetadata\":{\"Item\":[{\"Name\":\"Amount\",\"Value\":%s}]}}}}", value_json);
    return parse(body, cb, err, errsz);
}

START_TEST(callback_amount_forms)
{
    struct pay_callback cb;
    char err[128];
    const char *whole[] = {"1", "1.00", "1.0", "\"1\"", "\"1.00\"", "1e0"};
    for (size_t i = 0; i < sizeof whole / sizeof whole[0]; i++) {
        ck_assert_msg(parse_amount(whole[i], &cb, err, sizeof err), "%s: %s", whole[i], err);
        ck_assert_int_eq(cb.amount, 1);
    }
    ck_assert(parse_amount("150000", &cb, err, sizeof err));
    ck_assert_int_eq(cb.amount, 150000);
    const char *fractional[] = {"1.50", "\"1.5\"", "0.99"};
    for (size_t i = 0; i < sizeof fractional / sizeof fractional[0]; i++) {
        ck_assert_msg(!parse_amount(fractional[i], &cb, err, sizeof err), "%s accepted", fractional[i]);
        ck_assert_str_eq(err, "Amount: not whole shillings");
    }
    ck_assert(!parse_amount("\"ten\"", &cb, err, sizeof err));
    ck_assert_ptr_nonnull(strstr(err, "Amount"));
    ck_assert(!parse_amount("-5", &cb, err, sizeof err));
}
END_TEST

START_TEST(callback_items_out_of_order_and_strings)
{
    struct pay_callback cb;
    char err[128];
    const char *body =
        "{\"Body\":{\"stkCallback\":{\"MerchantRequestID\":\"m-1\",\"CheckoutRequestID\":\"ws_CO_2\","
        "\"ResultCode\":0,\"ResultDesc\":\"ok\",\"CallbackMetadata\":{\"Item\":["
        "{\"Name\":\"PhoneNumber\",\"Value\":\"254712345678\"},"
        "{\"Name\":\"Balance\"},"
        "{\"Name\":\"SomethingNew\",\"Value\":{\"x\":1}},"
        "{\"Name\":\"TransactionDate\",\"Value\":\"20240102030405\"},"
        "{\"Name\":\"MpesaReceiptNumber\",\"Value\":\"SAB1CD2EF3\"},"
        "{\"Value\":7},"
        "{\"Name\":\"Amount\",\"Value\":250}]}}}}";
    ck_assert_msg(parse(body, &cb, err, sizeof err), "%s", err);
    ck_assert_int_eq(cb.amount, 250);
    ck_assert_str_eq(cb.receipt, "SAB1CD2EF3");
    ck_assert_str_eq(cb.phone, "254712345678");
    ck_assert_int_eq(cb.transaction_date, 20240102030405LL);
    ck_assert_str_eq(cb.merchant_request_id, "m-1");
}
END_TEST

START_TEST(callback_missing_fields)
{
    struct pay_callback cb;
    char err[128];
    ck_assert(!parse("{\"Body\":{\"stkCallback\":{\"MerchantRequestID\":\"m\",\"ResultCode\":0}}}",
                     &cb, err, sizeof err));
    ck_assert_ptr_nonnull(strstr(err, "CheckoutRequestID"));
    ck_assert(!parse("{\"Body\":{\"stkCallback\":{\"CheckoutRequestID\":\"\",\"ResultCode\":0}}}",
                     &cb, err, sizeof err));
    ck_assert_ptr_nonnull(strstr(err, "CheckoutRequestID"));
    ck_assert(!parse("{\"Body\":{}}", &cb, err, sizeof err));
    ck_assert_ptr_nonnull(strstr(err, "stkCallback"));
    ck_assert(!parse("{\"body\":{\"stkCallback\":{}}}", &cb, err, sizeof err));
    ck_assert_ptr_nonnull(strstr(err, "Body"));
    ck_assert(!parse("[]", &cb, err, sizeof err));
    ck_assert_ptr_nonnull(strstr(err, "Body"));
    ck_assert(!parse("{\"Body\":{\"stkCallback\":{\"CheckoutRequestID\":\"ws\",\"ResultCode\":0,"
                     "\"CallbackMetadata\":{\"Item\":{}}}}}", &cb, err, sizeof err));
    ck_assert_ptr_nonnull(strstr(err, "Item"));
}
END_TEST

START_TEST(callback_garbage)
{
    struct pay_callback cb;
    char err[128];
    const char *bad[] = {"", "not json", "{\"Body\":", "{\"Body\":{\"stkCallback\":{}}", "null"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        err[0] = 0;
        ck_assert_msg(!parse(bad[i], &cb, err, sizeof err), "accepted '%s'", bad[i]);
        ck_assert_msg(err[0], "no reason for '%s'", bad[i]);
    }
    /* a NUL byte inside the declared length is not hidden by the C string */
    char nul[] = "{\"Body\":1}\0{}";
    ck_assert(!pay_daraja.parse_callback(nul, sizeof nul - 1, &cb, err, sizeof err));
    ck_assert(!pay_daraja.parse_callback(NULL, 0, &cb, err, sizeof err));
}
END_TEST

START_TEST(callback_caps_lengths)
{
    struct pay_callback cb;
    char err[128], id[200], desc[1200], body[2048];
    memset(id, 'A', sizeof id - 1);
    id[sizeof id - 1] = 0;
    snprintf(body, sizeof body, "{\"Body\":{\"stkCallback\":{\"CheckoutRequestID\":\"%s\",\"ResultCode\":0}}}", id);
    ck_assert(!parse(body, &cb, err, sizeof err));
    ck_assert_ptr_nonnull(strstr(err, "CheckoutRequestID"));
    memset(desc, 'd', sizeof desc - 1);
    desc[sizeof desc - 1] = 0;
    snprintf(body, sizeof body,
             "{\"Body\":{\"stkCallback\":{\"CheckoutRequestID\":\"ws_1\",\"ResultCode\":1,\"ResultDesc\":\"%s\"}}}", desc);
    ck_assert(parse(body, &cb, err, sizeof err));
    ck_assert_uint_lt(strlen(cb.result_desc), sizeof cb.result_desc);
    ck_assert_uint_gt(strlen(cb.result_desc), 100);
    ck_assert(!parse("{\"Body\":{\"stkCallback\":{\"CheckoutRequestID\":\"ws_1\",\"ResultCode\":0,"
                     "\"CallbackMetadata\":{\"Item\":[{\"Name\":\"MpesaReceiptNumber\",\"Value\":"
                     "\"0123456789012345678901234567890123456789\"}]}}}}", &cb, err, sizeof err));
    ck_assert_ptr_nonnull(strstr(err, "MpesaReceiptNumber"));
}
END_TEST

/* ---------- the fake Daraja ---------- */

struct dstate {
    int serial;                /* tokens issued */
    char current[32];          /* the only token the fake accepts */
    const char *expires_in;    /* JSON text for expires_in */
    bool refuse_all_tokens;
    int oauth_status;          /* when non-zero, answer OAuth with this (no token) */
    int push_status;           /* when non-zero, answer pushes with this */
    const char *push_ctype, *push_body;
    int query_status;
    const char *query_body;
};

static void reply(struct http_resp *resp, int status, const char *ctype, const char *body)
{
    http_resp_text(resp, status, ctype ? ctype : "application/json", body);
}

static void daraja_fake(struct fake *f, const struct fake_req *rq, struct http_resp *resp)
{
    struct dstate *s = f->ud;
    char buf[512];
    if (!strcmp(rq->path, OAUTH_PATH)) {
        const char *auth = fake_hdr(rq, "Authorization");
        char *b64 = crypto_base64("ckey:csecret", 12);
        snprintf(buf, sizeof buf, "Basic %s", b64);
        free(b64);
        if (!auth || strcmp(auth, buf) || strcmp(rq->query, "grant_type=client_credentials")) {
            reply(resp, 400, NULL, "{\"requestId\":\"x\",\"errorCode\":\"400.008.01\",\"errorMessage\":\"Invalid Authentication passed\"}");
            return;
        }
        if (s->oauth_status) {
            reply(resp, s->oauth_status, NULL, "{\"requestId\":\"x\",\"errorCode\":\"503.001.01\",\"errorMessage\":\"Service Unavailable\"}");
            return;
        }
        s->serial++;
        snprintf(s->current, sizeof s->current, "tok-%d", s->serial);
        snprintf(buf, sizeof buf, "{\"access_token\":\"%s\",\"expires_in\":%s}", s->current,
                 s->expires_in ? s->expires_in : "\"3599\"");
        reply(resp, 200, NULL, buf);
        return;
    }
    const char *auth = fake_hdr(rq, "Authorization");
    snprintf(buf, sizeof buf, "Bearer %s", s->current);
    if (s->refuse_all_tokens || !auth || strcmp(auth, buf)) {
        reply(resp, 404, NULL, "{\"requestId\":\"r-1\",\"errorCode\":\"404.001.03\",\"errorMessage\":\"Invalid Access Token\"}");
        return;
    }
    if (!strcmp(rq->path, PUSH_PATH)) {
        if (s->push_status) {
            reply(resp, s->push_status, s->push_ctype, s->push_body);
            return;
        }
        snprintf(buf, sizeof buf,
                 "{\"MerchantRequestID\":\"m-%zu\",\"CheckoutRequestID\":\"ws_CO_%zu\",\"ResponseCode\":\"0\","
                 "\"ResponseDescription\":\"Success. Request accepted for processing\","
                 "\"CustomerMessage\":\"Success. Request accepted for processing\"}",
                 f->n, f->n);
        reply(resp, 200, NULL, buf);
        return;
    }
    if (s->query_status) {
        reply(resp, s->query_status, NULL, s->query_body);
        return;
    }
    reply(resp, 200, NULL,
          "{\"ResponseCode\":\"0\",\"ResponseDescription\":\"The service request has been accepted successsfully\","
          "\"MerchantRequestID\":\"m-1\",\"CheckoutRequestID\":\"ws_CO_1\",\"ResultCode\":\"1032\","
          "\"ResultDesc\":\"Request cancelled by user\"}");
}

static const struct http_route daraja_routes[] = {
    {"GET", OAUTH_PATH, fake_dispatch, 0, 0},
    {"POST", PUSH_PATH, fake_dispatch, 0, 0},
    {"POST", QUERY_PATH, fake_dispatch, 0, 0},
    {NULL, NULL, NULL, 0, 0},
};

static struct fake fk;
static struct dstate ds;
static struct config cfg;
static void *st;

static void start_with(const char *type)
{
    memset(&ds, 0, sizeof ds);
    ck_assert(fake_start(&fk, daraja_routes, daraja_fake, &ds));
    memset(&cfg, 0, sizeof cfg);
    cfg.daraja_url = fk.base;
    cfg.daraja_key = "ckey";
    cfg.daraja_secret = "csecret";
    cfg.daraja_shortcode = "174379";
    cfg.daraja_passkey = SANDBOX_PASSKEY;
    cfg.daraja_type = (char *)type;
    cfg.http_timeout_ms = 2000;
    st = pay_daraja.create(&cfg);
    ck_assert_ptr_nonnull(st);
}

static void setup(void) { start_with("paybill"); }

static void teardown(void)
{
    pay_daraja.destroy(st);
    st = NULL;
    fake_stop(&fk);
}

static const struct pay_stk_req req1 = {
    .phone = "+254712345678", .amount = 50, .account_ref = "METER-1234567890",
    .description = "Electricity token purchase", .callback_url = "https://lipa.example/mpesa/cb/s3cr3t",
};

static void push(struct pay_stk_res *res) { pay_daraja.stk_push(st, &req1, res); }

START_TEST(token_cached_across_pushes)
{
    struct pay_stk_res a, b;
    push(&a);
    push(&b);
    ck_assert_int_eq(a.outcome, PAY_OK);
    ck_assert_int_eq(b.outcome, PAY_OK);
    ck_assert_int_eq(a.http_status, 200);
    ck_assert_str_ne(a.checkout_request_id, b.checkout_request_id);
    ck_assert_str_eq(a.response_code, "0");
    ck_assert_str_eq(a.customer_message, "Success. Request accepted for processing");
    ck_assert_int_eq(fake_count(&fk, "GET", OAUTH_PATH), 1);
    ck_assert_int_eq(fake_count(&fk, "POST", PUSH_PATH), 2);
}
END_TEST

START_TEST(token_numeric_expiry_cached)
{
    ds.expires_in = "3599";
    struct pay_stk_res a;
    push(&a);
    push(&a);
    ck_assert_int_eq(a.outcome, PAY_OK);
    ck_assert_int_eq(fake_count(&fk, "GET", OAUTH_PATH), 1);
}
END_TEST

/* An expiry no token has (here INT64_MAX seconds) is taken as the usual
 * hour: adding it to the clock overflowed (undefined behaviour, which this
 * sanitized build stops at), and a token must never live for ever. */
START_TEST(token_expiry_out_of_range)
{
    ds.expires_in = "9223372036854775807";
    struct pay_stk_res a;
    push(&a);
    ck_assert_int_eq(a.outcome, PAY_OK);
    push(&a);
    ck_assert_int_eq(a.outcome, PAY_OK);
    ck_assert_int_eq(fake_count(&fk, "GET", OAUTH_PATH), 1);
}
END_TEST

START_TEST(token_renewed_before_expiry)
{
    /* a token that lives 60 s is inside the renewal margin at once */
    ds.expires_in = "\"60\"";
    struct pay_stk_res a;
    push(&a);
    ck_assert_int_eq(a.outcome, PAY_OK);
    push(&a);
    ck_assert_int_eq(a.outcome, PAY_OK);
    ck_assert_int_eq(fake_count(&fk, "GET", OAUTH_PATH), 2);
}
END_TEST

START_TEST(token_renewed_on_invalid)
{
    struct pay_stk_res a;
    push(&a);
    ck_assert_int_eq(a.outcome, PAY_OK);
    pthread_mutex_lock(&fk.mu);
    snprintf(ds.current, sizeof ds.current, "issued-elsewhere"); /* our token is now stale */
    pthread_mutex_unlock(&fk.mu);
    push(&a);
    ck_assert_int_eq(a.outcome, PAY_OK);
    ck_assert_int_eq(fake_count(&fk, "GET", OAUTH_PATH), 2);
    ck_assert_int_eq(fake_count(&fk, "POST", PUSH_PATH), 3);
    /* and the new token is then kept */
    push(&a);
    ck_assert_int_eq(a.outcome, PAY_OK);
    ck_assert_int_eq(fake_count(&fk, "GET", OAUTH_PATH), 2);
}
END_TEST

START_TEST(token_invalid_retried_once_only)
{
    ds.refuse_all_tokens = true;
    struct pay_stk_res a;
    push(&a);
    ck_assert_int_eq(a.outcome, PAY_RETRY);
    ck_assert_str_eq(a.error_code, "404.001.03");
    ck_assert_int_eq(fake_count(&fk, "GET", OAUTH_PATH), 2);
    ck_assert_int_eq(fake_count(&fk, "POST", PUSH_PATH), 2);
}
END_TEST

START_TEST(push_body_fields)
{
    struct pay_stk_res a;
    int64_t before = now_s();
    push(&a);
    ck_assert_int_eq(a.outcome, PAY_OK);
    const struct fake_req *rq = fake_last(&fk, "POST", PUSH_PATH);
    ck_assert_ptr_nonnull(rq);
    ck_assert_str_eq(fake_hdr(rq, "Content-Type"), "application/json");
    json_t *j = json_loads(rq->body, 0, NULL);
    ck_assert_ptr_nonnull(j);
    const char *ts = json_string_value(json_object_get(j, "Timestamp"));
    ck_assert_ptr_nonnull(ts);
    ck_assert_uint_eq(strlen(ts), 14);
    char lo[15], hi[15];
    daraja_timestamp(before, lo);
    daraja_timestamp(now_s(), hi);
    ck_assert(strcmp(ts, lo) >= 0 && strcmp(ts, hi) <= 0);
    char *pw = daraja_password("174379", SANDBOX_PASSKEY, ts);
    ck_assert_str_eq(json_string_value(json_object_get(j, "Password")), pw);
    free(pw);
    ck_assert_str_eq(json_string_value(json_object_get(j, "BusinessShortCode")), "174379");
    ck_assert_str_eq(json_string_value(json_object_get(j, "TransactionType")), "CustomerPayBillOnline");
    ck_assert(json_is_integer(json_object_get(j, "Amount")));
    ck_assert_int_eq(json_integer_value(json_object_get(j, "Amount")), 50);
    ck_assert_str_eq(json_string_value(json_object_get(j, "PartyA")), "254712345678");
    ck_assert_str_eq(json_string_value(json_object_get(j, "PhoneNumber")), "254712345678");
    ck_assert_str_eq(json_string_value(json_object_get(j, "PartyB")), "174379");
    ck_assert_str_eq(json_string_value(json_object_get(j, "CallBackURL")), "https://lipa.example/mpesa/cb/s3cr3t");
    ck_assert_str_eq(json_string_value(json_object_get(j, "AccountReference")), "METER-123456");
    ck_assert_str_eq(json_string_value(json_object_get(j, "TransactionDesc")), "Electricity t");
    ck_assert_uint_eq(json_object_size(j), 11);
    json_decref(j);
}
END_TEST

START_TEST(push_till_type)
{
    teardown();
    start_with("till");
    struct pay_stk_res a;
    push(&a);
    ck_assert_int_eq(a.outcome, PAY_OK);
    json_t *j = json_loads(fake_last(&fk, "POST", PUSH_PATH)->body, 0, NULL);
    ck_assert_str_eq(json_string_value(json_object_get(j, "TransactionType")), "CustomerBuyGoodsOnline");
    ck_assert_str_eq(json_string_value(json_object_get(j, "PartyB")), "174379");
    json_decref(j);
}
END_TEST

START_TEST(push_server_errors_retry)
{
    struct pay_stk_res a;
    ds.push_status = 503;
    ds.push_ctype = "text/html";
    ds.push_body = "<html>Service Unavailable</html>";
    push(&a);
    ck_assert_int_eq(a.outcome, PAY_RETRY);
    ck_assert_int_eq(a.http_status, 503);

    ds.push_status = 500;
    ds.push_ctype = NULL;
    ds.push_body = "{\"requestId\":\"r\",\"errorCode\":\"500.003.02\",\"errorMessage\":\"Spike arrest violation\"}";
    push(&a);
    ck_assert_int_eq(a.outcome, PAY_RETRY);
    ck_assert_str_eq(a.error_code, "500.003.02");

    ds.push_body = "{\"requestId\":\"r\",\"errorCode\":\"500.001.1001\",\"errorMessage\":\"Unable to lock subscriber, a transaction is already in process for the current subscriber\"}";
    push(&a);
    ck_assert_int_eq(a.outcome, PAY_RETRY);
    ck_assert_str_eq(a.error_code, "500.001.1001");

    /* 200 with something that is not Daraja's answer: outcome unknown */
    ds.push_status = 200;
    ds.push_body = "<html>proxy</html>";
    ds.push_ctype = "text/html";
    push(&a);
    ck_assert_int_eq(a.outcome, PAY_RETRY);
}
END_TEST

START_TEST(push_client_error_rejects)
{
    struct pay_stk_res a;
    ds.push_status = 400;
    ds.push_body = "{\"requestId\":\"r-9\",\"errorCode\":\"400.002.02\",\"errorMessage\":\"Bad Request - Invalid PhoneNumber\"}";
    push(&a);
    ck_assert_int_eq(a.outcome, PAY_REJECT);
    ck_assert_int_eq(a.http_status, 400);
    ck_assert_str_eq(a.error_code, "400.002.02");
    ck_assert_str_eq(a.error_message, "Bad Request - Invalid PhoneNumber");
    ck_assert_str_eq(a.checkout_request_id, "");
}
END_TEST

START_TEST(push_bad_input_not_sent)
{
    struct pay_stk_res a;
    struct pay_stk_req r = req1;
    r.amount = 0;
    pay_daraja.stk_push(st, &r, &a);
    ck_assert_int_eq(a.outcome, PAY_REJECT);
    r = req1;
    r.phone = "+254202345678"; /* a Nairobi landline */
    pay_daraja.stk_push(st, &r, &a);
    ck_assert_int_eq(a.outcome, PAY_REJECT);
    r = req1;
    r.callback_url = "";
    pay_daraja.stk_push(st, &r, &a);
    ck_assert_int_eq(a.outcome, PAY_REJECT);
    ck_assert_int_eq(fake_count(&fk, "POST", PUSH_PATH), 0);
}
END_TEST

START_TEST(push_transport_error_and_timeout)
{
    char dead[64];
    struct config c2 = cfg;
    fake_dead_base(dead);
    c2.daraja_url = dead;
    void *s2 = pay_daraja.create(&c2);
    struct pay_stk_res a;
    pay_daraja.stk_push(s2, &req1, &a);
    ck_assert_int_eq(a.outcome, PAY_RETRY);
    ck_assert_int_eq(a.http_status, 0);
    ck_assert_ptr_nonnull(strstr(a.error_message, "OAuth"));
    pay_daraja.destroy(s2);

    c2 = cfg;
    c2.http_timeout_ms = 300;
    s2 = pay_daraja.create(&c2);
    fk.delay_ms = 1200;
    pay_daraja.stk_push(s2, &req1, &a);
    ck_assert_int_eq(a.outcome, PAY_RETRY);
    pay_daraja.destroy(s2);
}
END_TEST

START_TEST(oauth_refused_is_not_a_push)
{
    struct config c2 = cfg;
    c2.daraja_secret = "wrong";
    void *s2 = pay_daraja.create(&c2);
    struct pay_stk_res a;
    pay_daraja.stk_push(s2, &req1, &a);
    ck_assert_int_eq(a.outcome, PAY_RETRY);
    ck_assert_str_eq(a.error_code, "400.008.01");
    ck_assert_int_eq(fake_count(&fk, "POST", PUSH_PATH), 0);
    pay_daraja.destroy(s2);
}
END_TEST

static void *push_thread(void *arg)
{
    struct pay_stk_res *res = arg;
    push(res);
    return NULL;
}

START_TEST(concurrent_pushes_share_one_token)
{
    enum { N = 8 };
    pthread_t th[N];
    struct pay_stk_res res[N];
    for (int i = 0; i < N; i++)
        ck_assert_int_eq(pthread_create(&th[i], NULL, push_thread, &res[i]), 0);
    for (int i = 0; i < N; i++)
        pthread_join(th[i], NULL);
    for (int i = 0; i < N; i++)
        ck_assert_int_eq(res[i].outcome, PAY_OK);
    ck_assert_int_eq(fake_count(&fk, "GET", OAUTH_PATH), 1);
    ck_assert_int_eq(fake_count(&fk, "POST", PUSH_PATH), N);
}
END_TEST

START_TEST(query_final_and_body)
{
    struct pay_query_res q;
    pay_daraja.stk_query(st, "ws_CO_191220191020363925", &q);
    ck_assert_int_eq(q.outcome, PAY_OK);
    ck_assert_int_eq(q.state, PAYQ_FINAL);
    ck_assert_int_eq(q.result_code, 1032);
    ck_assert_str_eq(q.result_desc, "Request cancelled by user");
    json_t *j = json_loads(fake_last(&fk, "POST", QUERY_PATH)->body, 0, NULL);
    ck_assert_ptr_nonnull(j);
    ck_assert_str_eq(json_string_value(json_object_get(j, "CheckoutRequestID")), "ws_CO_191220191020363925");
    ck_assert_str_eq(json_string_value(json_object_get(j, "BusinessShortCode")), "174379");
    char *pw = daraja_password("174379", SANDBOX_PASSKEY, json_string_value(json_object_get(j, "Timestamp")));
    ck_assert_str_eq(json_string_value(json_object_get(j, "Password")), pw);
    free(pw);
    json_decref(j);

    ds.query_status = 200;
    ds.query_body = "{\"ResponseCode\":\"0\",\"ResultCode\":0,\"ResultDesc\":\"The service request is processed successfully.\"}";
    pay_daraja.stk_query(st, "ws_CO_1", &q);
    ck_assert_int_eq(q.outcome, PAY_OK);
    ck_assert_int_eq(q.state, PAYQ_FINAL);
    ck_assert_int_eq(q.result_code, 0);
}
END_TEST

START_TEST(query_pending)
{
    struct pay_query_res q;
    ds.query_status = 500;
    ds.query_body = "{\"requestId\":\"r\",\"errorCode\":\"500.001.1001\",\"errorMessage\":\"The transaction is being processed\"}";
    pay_daraja.stk_query(st, "ws_CO_1", &q);
    ck_assert_int_eq(q.outcome, PAY_OK);
    ck_assert_int_eq(q.state, PAYQ_PENDING);
    ds.query_status = 200; /* same code with another status */
    pay_daraja.stk_query(st, "ws_CO_1", &q);
    ck_assert_int_eq(q.outcome, PAY_OK);
    ck_assert_int_eq(q.state, PAYQ_PENDING);
}
END_TEST

START_TEST(query_errors)
{
    struct pay_query_res q;
    ds.query_status = 502;
    ds.query_body = "bad gateway";
    pay_daraja.stk_query(st, "ws_CO_1", &q);
    ck_assert_int_eq(q.outcome, PAY_RETRY);
    ds.query_status = 400;
    ds.query_body = "{\"requestId\":\"r\",\"errorCode\":\"400.002.02\",\"errorMessage\":\"Bad Request - Invalid CheckoutRequestID\"}";
    pay_daraja.stk_query(st, "ws_CO_1", &q);
    ck_assert_int_eq(q.outcome, PAY_REJECT);
    ck_assert_ptr_nonnull(strstr(q.error, "400.002.02"));
    ds.query_status = 200;
    ds.query_body = "{\"ResponseCode\":\"0\"}";
    pay_daraja.stk_query(st, "ws_CO_1", &q);
    ck_assert_int_eq(q.outcome, PAY_RETRY);
    int before = fake_count(&fk, "POST", QUERY_PATH);
    pay_daraja.stk_query(st, "", &q);
    ck_assert_int_eq(q.outcome, PAY_REJECT);
    ck_assert_int_eq(fake_count(&fk, "POST", QUERY_PATH), before);
}
END_TEST

/* ---------- two lipads: the token shared through the database ---------- */

#define PEPPER "unit-pepper-0123456789abcdef"

static char rootdir[256];
static struct store *store_a, *store_b;   /* two lipads' stores on one database */
static struct shared_token *share_a, *share_b;
static void *st_a, *st_b;                 /* their Daraja clients */

static void root_setup(void)
{
    const char *base = getenv("TMPDIR");
    snprintf(rootdir, sizeof rootdir, "%s/lipa-daraja-XXXXXX", base && *base ? base : "/tmp");
    if (!mkdtemp(rootdir)) {
        perror("mkdtemp");
        exit(EXIT_FAILURE);
    }
}

static void root_teardown(void) { test_tmp_remove(rootdir); }

static struct store *open_db(const char *target)
{
    char err[512] = "";
    struct store *s = store_open(target, "db", err, sizeof err);
    ck_assert_msg(s != NULL, "store_open(%s): %s", target, err);
    return s;
}

/* Two lipads on one fresh database, each with a Daraja client that shares
 * its token through it. */
static void two_setup(void)
{
    setup();
    char dir[320], file[400], target[400];
    snprintf(dir, sizeof dir, "%s/t-XXXXXX", rootdir);
    ck_assert(mkdtemp(dir) != NULL);
    snprintf(file, sizeof file, "%s/lipa.db", dir);
    ck_assert(testdb_target(file, target, sizeof target));
    store_a = open_db(target);
    store_b = open_db(target);
    share_a = shared_token_new(store_a, "daraja", PEPPER, 5000);
    share_b = shared_token_new(store_b, "daraja", PEPPER, 5000);
    ck_assert(share_a && share_b);
    st_a = st; /* the fixture's client is lipad A's */
    st_b = pay_daraja.create(&cfg);
    ck_assert_ptr_nonnull(st_b);
    pay_daraja.share_token(st_a, &(struct pay_token_cache){shared_token_current, share_a});
    pay_daraja.share_token(st_b, &(struct pay_token_cache){shared_token_current, share_b});
}

static void two_teardown(void)
{
    pay_daraja.destroy(st_b);
    teardown();
    shared_token_free(share_a);
    shared_token_free(share_b);
    store_close(store_a);
    store_close(store_b);
}

static void push_on(void *client, struct pay_stk_res *res) { pay_daraja.stk_push(client, &req1, res); }

/* Pushes through A, B, A, B, ...: n in all, each accepted. */
static void alternate(void *a, void *b, int n)
{
    struct pay_stk_res res;
    for (int i = 0; i < n; i++) {
        push_on(i % 2 ? b : a, &res);
        ck_assert_msg(res.outcome == PAY_OK, "push %d: %s %s", i, res.error_code, res.error_message);
    }
}

/* Why the token is shared: two lipads each with their own token break
 * each other's at every turn: each fetches one at its first push, and
 * from the third push on each one is refused once (the other lipad's
 * fetch made its token stale), renewed and sent again. */
START_TEST(two_lipads_alone_break_each_others_token)
{
    void *b = pay_daraja.create(&cfg);
    alternate(st, b, 6);
    ck_assert_int_eq(fake_count(&fk, "GET", OAUTH_PATH), 6);
    ck_assert_int_eq(fake_count(&fk, "POST", PUSH_PATH), 6 + 4);
    pay_daraja.destroy(b);
}
END_TEST

/* Shared, the second lipad takes the first one's token: one OAuth call
 * for both, and no push refused. */
START_TEST(two_lipads_share_one_token)
{
    alternate(st_a, st_b, 6);
    ck_assert_int_eq(fake_count(&fk, "GET", OAUTH_PATH), 1);
    ck_assert_int_eq(fake_count(&fk, "POST", PUSH_PATH), 6);
}
END_TEST

/* A token refused as invalid (here another party fetched one) is renewed
 * by the lipad refused first; the other one, refused for the same old
 * token, takes the new one instead of fetching again. */
START_TEST(refused_token_renewed_once_for_both)
{
    alternate(st_a, st_b, 2);
    pthread_mutex_lock(&fk.mu);
    snprintf(ds.current, sizeof ds.current, "issued-elsewhere");
    pthread_mutex_unlock(&fk.mu);
    alternate(st_a, st_b, 4);
    ck_assert_int_eq(fake_count(&fk, "GET", OAUTH_PATH), 2);
    ck_assert_int_eq(fake_count(&fk, "POST", PUSH_PATH), 2 + 4 + 2); /* A's and B's refused once each */
}
END_TEST

/* A refused token whose renewal failed (Daraja's OAuth down) is not taken
 * back from the database at the next push, though the row still holds
 * it: the next push renews first, and is sent once. */
START_TEST(refused_token_not_taken_back)
{
    struct pay_stk_res res;
    alternate(st_a, st_b, 2);
    pthread_mutex_lock(&fk.mu);
    snprintf(ds.current, sizeof ds.current, "issued-elsewhere");
    ds.oauth_status = 503;
    pthread_mutex_unlock(&fk.mu);
    push_on(st_a, &res);
    ck_assert_int_eq(res.outcome, PAY_RETRY);
    ck_assert_int_eq(fake_count(&fk, "POST", PUSH_PATH), 3);
    pthread_mutex_lock(&fk.mu);
    ds.oauth_status = 0;
    pthread_mutex_unlock(&fk.mu);
    push_on(st_a, &res);
    ck_assert_int_eq(res.outcome, PAY_OK);
    ck_assert_int_eq(fake_count(&fk, "POST", PUSH_PATH), 4);
    ck_assert_int_eq(fake_count(&fk, "GET", OAUTH_PATH), 3); /* tok-1, the failed one, tok-2 */
}
END_TEST

struct pusher {
    void *client;
    struct pay_stk_res res;
};

static void *pusher_main(void *arg)
{
    struct pusher *p = arg;
    push_on(p->client, &p->res);
    return NULL;
}

/* Both lipads push at once from their start, a slow Daraja making them
 * meet in the renewal: one OAuth call still. */
START_TEST(two_lipads_at_once_fetch_once)
{
    enum { N = 8 };
    fk.delay_ms = 150;
    pthread_t th[N];
    struct pusher p[N];
    for (int i = 0; i < N; i++) {
        p[i].client = i % 2 ? st_b : st_a;
        ck_assert_int_eq(pthread_create(&th[i], NULL, pusher_main, &p[i]), 0);
    }
    for (int i = 0; i < N; i++)
        pthread_join(th[i], NULL);
    for (int i = 0; i < N; i++)
        ck_assert_msg(p[i].res.outcome == PAY_OK, "push %d: %s", i, p[i].res.error_message);
    ck_assert_int_eq(fake_count(&fk, "GET", OAUTH_PATH), 1);
    ck_assert_int_eq(fake_count(&fk, "POST", PUSH_PATH), N);
}
END_TEST

Suite *test_suite(void)
{
    Suite *s = suite_create("daraja");
    TCase *pure = tcase_create("pure");
    tcase_add_test(pure, password_vector);
    tcase_add_test(pure, timestamp_nairobi);
    tcase_add_test(pure, callback_success_sample);
    tcase_add_test(pure, callback_failure_sample);
    tcase_add_test(pure, transaction_time_nairobi);
    tcase_add_test(pure, callback_string_result_code);
    tcase_add_test(pure, callback_amount_forms);
    tcase_add_test(pure, callback_items_out_of_order_and_strings);
    tcase_add_test(pure, callback_missing_fields);
    tcase_add_test(pure, callback_garbage);
    tcase_add_test(pure, callback_caps_lengths);
    suite_add_tcase(s, pure);

    TCase *net = tcase_create("fake-daraja");
    tcase_add_checked_fixture(net, setup, teardown);
    tcase_set_timeout(net, 30);
    tcase_add_test(net, token_cached_across_pushes);
    tcase_add_test(net, token_numeric_expiry_cached);
    tcase_add_test(net, token_expiry_out_of_range);
    tcase_add_test(net, token_renewed_before_expiry);
    tcase_add_test(net, token_renewed_on_invalid);
    tcase_add_test(net, token_invalid_retried_once_only);
    tcase_add_test(net, push_body_fields);
    tcase_add_test(net, push_till_type);
    tcase_add_test(net, push_server_errors_retry);
    tcase_add_test(net, push_client_error_rejects);
    tcase_add_test(net, push_bad_input_not_sent);
    tcase_add_test(net, push_transport_error_and_timeout);
    tcase_add_test(net, oauth_refused_is_not_a_push);
    tcase_add_test(net, concurrent_pushes_share_one_token);
    tcase_add_test(net, query_final_and_body);
    tcase_add_test(net, query_pending);
    tcase_add_test(net, query_errors);
    tcase_add_test(net, two_lipads_alone_break_each_others_token);
    suite_add_tcase(s, net);

    TCase *two = tcase_create("shared-token");
    tcase_add_unchecked_fixture(two, root_setup, root_teardown);
    tcase_add_checked_fixture(two, two_setup, two_teardown);
    tcase_set_timeout(two, 30);
    tcase_add_test(two, two_lipads_share_one_token);
    tcase_add_test(two, refused_token_renewed_once_for_both);
    tcase_add_test(two, refused_token_not_taken_back);
    tcase_add_test(two, two_lipads_at_once_fetch_once);
    suite_add_tcase(s, two);
    return s;
}
