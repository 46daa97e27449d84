/* fuzz target paystack: what Paystack sends lipad, through the real client
 * in src/pay/paystack.c: the answers to every call (handed over by the
 * wrapped HTTP client of fuzz.c), a webhook's signature, and the reference
 * alphabets.
 *
 * Input: a first line naming the mode, then:
 *   verify, initialize, charge, charge_check, bank, recipient, transfer,
 *   transfer_verify     the answer: "STATUS BODY" (three digits, a blank;
 *                       000 is no answer)
 *   signature           a line with the secret, a line with the header's
 *                       value ("=" for the right one), then the raw body
 *   reference           the reference (both alphabets)
 * An unknown mode picks one by its first byte.
 *
 * Checks: each call makes one request and gives one of the three
 * outcomes; PAY_OK only from a 2xx whose "status" is true, with the fields
 * a caller relies on (verify and charges: a status and a reference;
 * initialize: the checkout URL, access code and reference; bank: a code;
 * recipient: an RCP_ code; transfers: a status), an amount of -1 or more,
 * and every text field terminated. duplicate and not_found only come with
 * PAY_REJECT from an HTTP answer, never both. A signature is accepted
 * exactly when it is the lowercase hex HMAC-SHA512 of the body keyed with
 * a non-empty secret. A reference is accepted exactly when it is 1 to 100
 * of [A-Za-z0-9-.=]; a transfer reference when it is 16 to 50 of
 * [a-z0-9-_]. */
#include "fuzz.h"

#include "pay/paystack.h"
#include "util/crypto.h"

#include <string.h>

#define TERM(f) FUZZ_CHECK(memchr((f), 0, sizeof(f)), "%s unterminated", #f)

static struct paystack *ps;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc, (void)argv;
    struct config cfg = {.paystack_url = "http://paystack.invalid", .paystack_secret = "sk_test_fuzz",
                         .http_timeout_ms = 1000};
    ps = paystack_new(&cfg);
    FUZZ_CHECK(ps, "paystack_new");
    return 0;
}

static void answer(const char *p, size_t n)
{
    long status = 0;
    size_t i = 0;
    for (; i < 3 && i < n && p[i] >= '0' && p[i] <= '9'; i++)
        status = status * 10 + (p[i] - '0');
    if (i < n && p[i] == ' ')
        i++;
    fuzz_http_reset();
    fuzz_http_answer(status, p + i, n - i);
}

static void verify(const char *p, size_t n)
{
    struct paystack_verify_res res;
    answer(p, n);
    paystack_verify(ps, "WS-1764000000000-AB12CD34", &res);
    FUZZ_CHECK(fuzz_http_calls() == 1, "%d requests", fuzz_http_calls());
    TERM(res.status);
    TERM(res.currency);
    TERM(res.channel);
    TERM(res.paid_at);
    TERM(res.gateway_response);
    TERM(res.reference);
    TERM(res.message);
    FUZZ_CHECK(res.amount >= -1, "amount %lld", (long long)res.amount);
    if (res.outcome == PAY_OK) {
        FUZZ_CHECK(res.http_status >= 200 && res.http_status < 300, "ok from HTTP %d", res.http_status);
        FUZZ_CHECK(res.status[0] && res.reference[0], "ok without a status or reference");
    } else {
        FUZZ_CHECK(res.outcome == PAY_RETRY || res.outcome == PAY_REJECT, "outcome %d", res.outcome);
        FUZZ_CHECK(res.message[0], "failed without a message");
    }
    fuzz_http_reset();
}

static void initialize(const char *p, size_t n)
{
    struct paystack_init_res res;
    answer(p, n);
    json_t *meta = json_pack("{s:s, s:i}", "phone", "+254712345678", "liters", 20);
    paystack_initialize(ps, "buyer@example.com", 10000, "KES", "WS-1764000000000-AB12CD34",
                        "http://lipa.invalid/api/payments/paystack/callback", meta, &res);
    json_decref(meta);
    FUZZ_CHECK(fuzz_http_calls() == 1, "%d requests", fuzz_http_calls());
    TERM(res.authorization_url);
    TERM(res.access_code);
    TERM(res.reference);
    TERM(res.message);
    if (res.outcome == PAY_OK) {
        FUZZ_CHECK(res.http_status >= 200 && res.http_status < 300, "ok from HTTP %d", res.http_status);
        FUZZ_CHECK(res.authorization_url[0] && res.access_code[0] && res.reference[0], "ok without a checkout");
    } else {
        FUZZ_CHECK(res.outcome == PAY_RETRY || res.outcome == PAY_REJECT, "outcome %d", res.outcome);
        FUZZ_CHECK(!res.authorization_url[0], "a checkout URL on failure");
    }
    fuzz_http_reset();
}

/* The flags a refusal may carry. */
static void check_flags(enum pay_outcome o, int http, bool duplicate, bool not_found)
{
    FUZZ_CHECK(!(duplicate && not_found), "duplicate and not_found at once");
    if (duplicate || not_found)
        FUZZ_CHECK(o == PAY_REJECT && http > 0, "flag with outcome %d from HTTP %d", o, http);
}

static void check_outcome(enum pay_outcome o, int http, const char *message)
{
    if (o == PAY_OK)
        FUZZ_CHECK(http >= 200 && http < 300, "ok from HTTP %d", http);
    else
        FUZZ_CHECK((o == PAY_RETRY || o == PAY_REJECT) && message[0], "outcome %d, message '%s'", o, message);
}

static void charge_res_check(const struct paystack_charge_res *res)
{
    FUZZ_CHECK(fuzz_http_calls() == 1, "%d requests", fuzz_http_calls());
    TERM(res->status);
    TERM(res->reference);
    TERM(res->display_text);
    TERM(res->account_number);
    TERM(res->account_reference);
    TERM(res->currency);
    TERM(res->channel);
    TERM(res->paid_at);
    TERM(res->gateway_response);
    TERM(res->message);
    FUZZ_CHECK(res->amount >= -1, "amount %lld", (long long)res->amount);
    check_outcome(res->outcome, res->http_status, res->message);
    check_flags(res->outcome, res->http_status, res->duplicate, res->not_found);
    if (res->outcome == PAY_OK)
        FUZZ_CHECK(res->status[0] && paystack_reference_ok(res->reference), "ok without a status or reference");
    fuzz_http_reset();
}

static void charge(const char *p, size_t n)
{
    struct paystack_charge_res res;
    answer(p, n);
    json_t *meta = json_pack("{s:s}", "order", "ord_42");
    /* no reference: the answer's is the only one */
    paystack_charge_mobile(ps, "buyer@example.com", 10000, "KES", n % 2 ? NULL : "WS-1764000000000-AB12CD34",
                           "0712345678", NULL, meta, &res);
    json_decref(meta);
    charge_res_check(&res);
}

static void charge_check(const char *p, size_t n)
{
    struct paystack_charge_res res;
    answer(p, n);
    paystack_charge_check(ps, "WS-1764000000000-AB12CD34", &res);
    charge_res_check(&res);
}

static void bank(const char *p, size_t n)
{
    /* a client of its own: the cache must not answer for the next input */
    struct config cfg = {.paystack_url = "http://paystack.invalid", .paystack_secret = "sk_test_fuzz",
                         .http_timeout_ms = 1000};
    struct paystack *own = paystack_new(&cfg);
    char code[PAYSTACK_CODE_MAX], again[PAYSTACK_CODE_MAX];
    FUZZ_CHECK(own, "paystack_new");
    answer(p, n);
    enum pay_outcome o = paystack_mobile_money_bank(own, "M-PESA", code);
    FUZZ_CHECK(fuzz_http_calls() == 1, "%d requests", fuzz_http_calls());
    TERM(code);
    FUZZ_CHECK(o == PAY_OK || o == PAY_RETRY || o == PAY_REJECT, "outcome %d", o);
    if (o == PAY_OK) {
        FUZZ_CHECK(code[0] && !strpbrk(code, " \"\\/?&"), "ok with code '%s'", code);
        /* from the cache now */
        FUZZ_CHECK(paystack_mobile_money_bank(own, "mpesa", again) == PAY_OK && !strcmp(code, again) &&
                       fuzz_http_calls() == 1,
                   "the cache did not answer");
    } else {
        FUZZ_CHECK(!code[0], "a code on failure");
    }
    fuzz_http_reset();
    paystack_free(own);
}

static void recipient(const char *p, size_t n)
{
    struct paystack_recipient_res res;
    answer(p, n);
    paystack_recipient(ps, "Amina Wanjiku", "+254712345678", "MPESA", "KES", &res);
    FUZZ_CHECK(fuzz_http_calls() == 1, "%d requests", fuzz_http_calls());
    TERM(res.recipient_code);
    TERM(res.message);
    check_outcome(res.outcome, res.http_status, res.message);
    if (res.outcome == PAY_OK)
        FUZZ_CHECK(!strncmp(res.recipient_code, "RCP_", 4) && res.recipient_code[4], "ok with '%s'",
                   res.recipient_code);
    else
        FUZZ_CHECK(!res.recipient_code[0], "a code on failure");
    fuzz_http_reset();
}

static void transfer_res_check(const struct paystack_transfer_res *res)
{
    FUZZ_CHECK(fuzz_http_calls() == 1, "%d requests", fuzz_http_calls());
    TERM(res->status);
    TERM(res->transfer_code);
    TERM(res->reference);
    TERM(res->recipient_code);
    TERM(res->currency);
    TERM(res->transferred_at);
    TERM(res->gateway_response);
    TERM(res->message);
    FUZZ_CHECK(res->amount >= -1, "amount %lld", (long long)res->amount);
    check_outcome(res->outcome, res->http_status, res->message);
    check_flags(res->outcome, res->http_status, res->duplicate, res->not_found);
    if (res->outcome == PAY_OK)
        FUZZ_CHECK(res->status[0] && res->reference[0], "ok without a status or reference");
    fuzz_http_reset();
}

static void transfer(const char *p, size_t n)
{
    struct paystack_transfer_res res;
    answer(p, n);
    paystack_transfer(ps, 250000, "RCP_gd9vgag7n5lr5ix", "esc-0f9c2d4e-7a1b-4c3d-9e8f", "Lesson fees", &res);
    transfer_res_check(&res);
}

static void transfer_verify(const char *p, size_t n)
{
    struct paystack_transfer_res res;
    answer(p, n);
    paystack_transfer_verify(ps, "esc-0f9c2d4e-7a1b-4c3d-9e8f", &res);
    transfer_res_check(&res);
}

static void signature(const char *p, size_t n)
{
    char secret[128], sig[300];
    struct fuzz_in in = {(const uint8_t *)p, n};
    fuzz_field(&in, '\n', secret, sizeof secret);
    fuzz_field(&in, '\n', sig, sizeof sig);
    const char *body = (const char *)in.p;
    size_t len = in.n;

    char want[129] = "";
    if (*secret) {
        uint8_t mac[64];
        crypto_hmac_sha512(secret, strlen(secret), body, len, mac);
        crypto_hex(mac, sizeof mac, want, false);
    }
    if (!strcmp(sig, "="))
        memcpy(sig, want, sizeof want);
    bool ok = paystack_signature_ok(secret, body, len, sig);
    FUZZ_CHECK(ok == (*secret && !strcmp(sig, want)), "signature '%s' %s", sig, ok ? "accepted" : "refused");
    FUZZ_CHECK(!paystack_signature_ok(NULL, body, len, sig) && !paystack_signature_ok(secret, NULL, len, sig) &&
                   !paystack_signature_ok(secret, body, len, NULL),
               "a NULL accepted");
}

static void reference(const char *p, size_t n)
{
    char *ref = fuzz_strdup((const uint8_t *)p, n);
    size_t len = strlen(ref);
    bool want = len >= 1 && len <= PAYSTACK_REF_MAX;
    for (size_t i = 0; i < len && want; i++) {
        char c = ref[i];
        want = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
               c == '.' || c == '=';
    }
    FUZZ_CHECK(paystack_reference_ok(ref) == want, "'%s'", ref);
    want = len >= PAYSTACK_TRANSFER_REF_MIN && len <= PAYSTACK_TRANSFER_REF_MAX;
    for (size_t i = 0; i < len && want; i++) {
        char c = ref[i];
        want = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_';
    }
    FUZZ_CHECK(paystack_transfer_reference_ok(ref) == want, "transfer '%s'", ref);
    free(ref);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const struct {
        const char *name;
        void (*fn)(const char *, size_t);
    } modes[] = {{"verify", verify},         {"initialize", initialize},
                 {"signature", signature},   {"reference", reference},
                 {"charge", charge},         {"charge_check", charge_check},
                 {"bank", bank},             {"recipient", recipient},
                 {"transfer", transfer},     {"transfer_verify", transfer_verify}};
    const int nmodes = (int)(sizeof modes / sizeof *modes);
    const char *in = (const char *)data;
    const char *nl = memchr(in, '\n', size);
    size_t head = nl ? (size_t)(nl - in) : 0;
    int mode = size ? data[0] % nmodes : 0;
    for (int i = 0; i < nmodes; i++)
        if (strlen(modes[i].name) == head && !memcmp(modes[i].name, in, head))
            mode = i;
    const char *rest = nl ? nl + 1 : in;
    /* a copy of exactly the rest, so a read past it is caught */
    size_t n = size - (size_t)(rest - in);
    char *copy = malloc(n ? n : 1);
    FUZZ_CHECK(copy, "out of memory");
    memcpy(copy, rest, n);
    modes[mode].fn(copy, n);
    free(copy);
    return 0;
}
