/* fuzz target paystack: what Paystack sends lipad, through the real client
 * in src/pay/paystack.c: the answers to initialize and verify (handed over
 * by the wrapped HTTP client of fuzz.c), a webhook's signature, and the
 * reference alphabet.
 *
 * Input: a first line naming the mode, then:
 *   verify, initialize  the answer: "STATUS BODY" (three digits, a blank;
 *                       000 is no answer)
 *   signature           a line with the secret, a line with the header's
 *                       value ("=" for the right one), then the raw body
 *   reference           the reference
 * An unknown mode picks one by its first byte.
 *
 * Checks: verify and initialize make one request and give one of the
 * three outcomes; PAY_OK only from a 2xx whose "status" is true, with the
 * fields a caller relies on (verify: a status; initialize: the checkout
 * URL, access code and reference), an amount of -1 or more, and every text
 * field terminated. A signature is accepted exactly when it is the
 * lowercase hex HMAC-SHA512 of the body keyed with a non-empty secret. A
 * reference is accepted exactly when it is 1 to 100 of [A-Za-z0-9-.=]. */
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
    free(ref);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const struct {
        const char *name;
        void (*fn)(const char *, size_t);
    } modes[] = {{"verify", verify}, {"initialize", initialize}, {"signature", signature}, {"reference", reference}};
    const char *in = (const char *)data;
    const char *nl = memchr(in, '\n', size);
    size_t head = nl ? (size_t)(nl - in) : 0;
    int mode = size ? data[0] % 4 : 0;
    for (int i = 0; i < 4; i++)
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
