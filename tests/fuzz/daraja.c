/* fuzz target daraja: what M-Pesa (Daraja) sends lipad, through the real
 * client in src/pay/daraja.c: the STK callback body (parse_callback), and
 * the answers to an STK push and an STK query (OAuth token first), which
 * the wrapped HTTP client of fuzz.c hands over instead of the network.
 *
 * Input: a first line, "callback", "push" or "query" (anything else picks
 * by its first byte), then for a callback the body, for push and query the
 * answers in the order the client asks: each "STATUS BODY" (three digits,
 * one blank), separated by lines holding "@@". Status 000 is no answer.
 *
 * Checks: a parsed callback has a CheckoutRequestID, an amount that is -1
 * or whole and not negative, a description of at most 200 characters and
 * terminated fields; a refused one says why. A push accepted (PAY_OK) has
 * a CheckoutRequestID and "0" as its response code; a query answered
 * final came from an HTTP 200. The client never asks more than an OAuth
 * call, the call, and once more of each when the token is refused; and
 * nothing a provider can answer is undefined behaviour (UBSan). */
#include "fuzz.h"

#include "pay/pay.h"
#include "util/str.h"

#include <string.h>

static void check_term(const char *s, size_t size, const char *what)
{
    FUZZ_CHECK(memchr(s, 0, size), "%s unterminated", what);
}

static void callback(const char *body, size_t len)
{
    struct pay_callback cb;
    char err[160];
    memset(&cb, 0x5a, sizeof cb);
    memset(err, 'x', sizeof err);
    bool ok = pay_daraja.parse_callback(body, len, &cb, err, sizeof err);
    check_term(err, sizeof err, "err");
    check_term(cb.merchant_request_id, sizeof cb.merchant_request_id, "MerchantRequestID");
    check_term(cb.checkout_request_id, sizeof cb.checkout_request_id, "CheckoutRequestID");
    check_term(cb.result_desc, sizeof cb.result_desc, "ResultDesc");
    check_term(cb.receipt, sizeof cb.receipt, "receipt");
    check_term(cb.phone, sizeof cb.phone, "phone");
    if (!ok) {
        FUZZ_CHECK(err[0], "refused without a reason");
        return;
    }
    FUZZ_CHECK(!err[0], "accepted with '%s'", err);
    FUZZ_CHECK(cb.checkout_request_id[0], "no CheckoutRequestID");
    FUZZ_CHECK(cb.amount == -1 || cb.amount >= 0, "amount %lld", (long long)cb.amount);
    FUZZ_CHECK(cb.transaction_date >= 0, "date %lld", (long long)cb.transaction_date);
    size_t chars = 0;
    for (const char *p = cb.result_desc; *p; p++)
        chars += ((unsigned char)*p & 0xC0) != 0x80;
    FUZZ_CHECK(chars <= 200, "ResultDesc of %zu characters", chars);
    for (const char *p = cb.phone; *p; p++)
        FUZZ_CHECK(*p >= '0' && *p <= '9', "phone '%s'", cb.phone);
}

/* Queues the answers in [p, end). */
static void answers(const char *p, const char *end)
{
    while (p < end) {
        const char *sep = NULL;
        for (const char *q = p; q + 4 <= end && !sep; q++)
            if (!memcmp(q, "\n@@\n", 4))
                sep = q;
        const char *stop = sep ? sep : end;
        long status = 0;
        const char *b = p;
        for (int i = 0; i < 3 && b < stop && *b >= '0' && *b <= '9'; i++, b++)
            status = status * 10 + (*b - '0');
        if (b < stop && *b == ' ')
            b++;
        fuzz_http_answer(status, b, (size_t)(stop - b));
        p = sep ? sep + 4 : end;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char *const modes[] = {"callback", "push", "query"};
    const char *in = (const char *)data;
    const char *nl = memchr(in, '\n', size);
    size_t head = nl ? (size_t)(nl - in) : 0;
    int mode = size ? data[0] % 3 : 0;
    for (int i = 0; i < 3; i++)
        if (strlen(modes[i]) == head && !memcmp(modes[i], in, head))
            mode = i;
    const char *rest = nl ? nl + 1 : in;
    size_t rlen = size - (size_t)(rest - in);

    if (mode == 0) {
        char *body = fuzz_strdup((const uint8_t *)rest, rlen);
        callback(body, rlen);
        free(body);
        return 0;
    }

    /* an answer count the client could ever ask for: OAuth, call, and the
     * same again after a refused token */
    int n = 1;
    for (size_t i = 0; i + 4 <= rlen; i++)
        n += !memcmp(rest + i, "\n@@\n", 4);
    if (n > 6)
        return 0;
    fuzz_http_reset();
    answers(rest, rest + rlen);

    struct config cfg = {.daraja_url = "http://daraja.invalid", .daraja_key = "key", .daraja_secret = "secret",
                         .daraja_shortcode = "174379", .daraja_passkey = "passkey", .daraja_type = "paybill",
                         .http_timeout_ms = 1000};
    void *st = pay_daraja.create(&cfg);
    FUZZ_CHECK(st, "create");
    if (mode == 1) {
        struct pay_stk_req req = {.phone = "+254712345678", .amount = 100, .account_ref = "37000000001",
                                  .description = "Electricity", .callback_url = "http://lipa.invalid/cb"};
        struct pay_stk_res res;
        pay_daraja.stk_push(st, &req, &res);
        check_term(res.checkout_request_id, sizeof res.checkout_request_id, "CheckoutRequestID");
        check_term(res.merchant_request_id, sizeof res.merchant_request_id, "MerchantRequestID");
        check_term(res.response_code, sizeof res.response_code, "response_code");
        check_term(res.response_description, sizeof res.response_description, "response_description");
        check_term(res.customer_message, sizeof res.customer_message, "customer_message");
        check_term(res.error_code, sizeof res.error_code, "error_code");
        check_term(res.error_message, sizeof res.error_message, "error_message");
        FUZZ_CHECK(res.outcome == PAY_OK || res.outcome == PAY_RETRY || res.outcome == PAY_REJECT, "outcome");
        if (res.outcome == PAY_OK)
            FUZZ_CHECK(res.checkout_request_id[0] && !strcmp(res.response_code, "0") && res.http_status == 200,
                       "accepted without an id");
        else
            FUZZ_CHECK(!res.checkout_request_id[0], "refused with an id");
    } else {
        struct pay_query_res res;
        pay_daraja.stk_query(st, "ws_CO_191220191020363925", &res);
        check_term(res.result_desc, sizeof res.result_desc, "result_desc");
        check_term(res.error, sizeof res.error, "error");
        if (res.outcome != PAY_OK)
            FUZZ_CHECK(res.error[0], "failed without a reason");
        else if (res.state == PAYQ_FINAL)
            FUZZ_CHECK(fuzz_http_calls() >= 2, "final without an answer");
    }
    FUZZ_CHECK(fuzz_http_calls() <= 4, "%d requests", fuzz_http_calls());
    pay_daraja.destroy(st);
    fuzz_http_reset();
    return 0;
}
