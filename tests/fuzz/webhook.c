/* fuzz target webhook: Paystack's webhook (POST
 * /api/payments/paystack/webhook), the real handler (charge/api.c, the one
 * behind both webhook paths) on
 * a real app (store on a temporary database, the shipped menus, provider
 * clients whose requests get the answers of fuzz.c), so what a webhook
 * does to a water order is checked, not only how its body is read.
 *
 * Each input gets a fresh order of KES 100 (10000 subunits) paid by
 * Paystack, open ("processing"), and sends one webhook for it, then the
 * same webhook again. The orders stay in the database: about 200 MB after
 * four minutes, in TMPDIR, removed at exit.
 *
 * Input: a first line with the x-paystack-signature value ("=" for the
 * right one, empty for no header), then the raw body, in which "{ref}"
 * stands for the order's reference.
 *
 * Checks, against a plain reading of the event: a missing or wrong
 * signature is 401 and changes nothing; a body that is no event (not an
 * object with an "event" string and a "data" object) is 400; an event the
 * event reader refuses (paystack_event_parse, fuzzed on its own), an event
 * other than charge.success and charge.failed, or one for another
 * reference, is 200 and changes nothing; charge.failed for the order fails
 * it; charge.success for the order completes it exactly when its status is
 * success (or absent) and it paid 10000 KES, fails it when it paid
 * otherwise or its status is failed or reversed, and leaves it open for
 * anything else. Every reply is a JSON object in the envelope
 * of the /api routes ({success, message, ...}); the repeated webhook
 * changes nothing more. */
#include "fuzz_app.c"

#include "http/api.h"
#include "pay/paystack.h"
#include "store/payments.h"
#include "store/water.h"
#include "util/crypto.h"
#include "util/str.h"
#include "water/water.h"

#include <string.h>

#define PATH "/api/payments/paystack/webhook"

static const struct http_route *route;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc, (void)argv;
    fuzz_app_start("webhook");
    route = fuzz_app_route("POST", PATH);
    return 0;
}

/* A new open Paystack order of KES 100. */
static void new_order(struct payment *p)
{
    struct water_quote q;
    char why[256];
    FUZZ_CHECK(water_quote(&app.cfg, 100, &q, why, sizeof why) && q.amount == 100, "quote: %s", why);
    static const char ok[] = "{\"status\":true,\"message\":\"Authorization URL created\",\"data\":{"
                             "\"authorization_url\":\"https://checkout.paystack.com/x\",\"access_code\":\"x\","
                             "\"reference\":\"x\"}}";
    fuzz_http_reset();
    fuzz_http_answer(200, ok, sizeof ok - 1);
    FUZZ_CHECK(water_start_paystack(&app, "buyer@example.com", "+254712345678", &q, NULL, p, why, sizeof why) ==
                   ERR_OK,
               "order: %s", why);
    fuzz_http_reset();
    FUZZ_CHECK(!strcmp(p->status, "processing"), "order %s", p->status);
}

static const char *order_status(const char *ref)
{
    static struct payment p;
    FUZZ_CHECK(store_payment_by_reference(app.store, ref, &p) == ST_OK, "order %s gone", ref);
    return p.status;
}

/* The plain reading: what the webhook should leave the order as ("" for
 * unchanged), and the HTTP status. */
static const char *expect(const char *body, size_t len, const char *ref, bool signed_ok, int *status)
{
    if (!signed_ok) {
        *status = 401;
        return "";
    }
    json_t *ev = json_loadb(body, len, 0, NULL);
    json_t *d = json_object_get(ev, "data");
    const char *event = json_string_value(json_object_get(ev, "event"));
    const char *out = "";
    *status = 200;
    if (!json_is_object(ev) || !event || !json_is_object(d)) {
        *status = 400;
        goto out;
    }
    struct paystack_event pe;
    if (!paystack_event_parse(body, len, &pe))
        goto out; /* recorded as unreadable, answered 200 */
    json_t *r = json_object_get(d, "reference");
    bool failed = !strcmp(event, "charge.failed");
    if ((strcmp(event, "charge.success") && !failed) || !json_is_string(r) || strcmp(json_string_value(r), ref))
        goto out;
    if (failed) {
        out = "failed";
        goto out;
    }
    const char *st = json_string_value(json_object_get(d, "status"));
    json_t *a = json_object_get(d, "amount");
    int64_t amount = -1;
    if (json_is_integer(a))
        amount = json_integer_value(a);
    else if (json_is_string(a) && !str_to_i64(json_string_value(a), 0, INT64_MAX / 2, &amount))
        amount = -1;
    const char *cur = json_string_value(json_object_get(d, "currency"));
    if (!st || !strcmp(st, "success"))
        out = amount == 10000 && cur && !strcmp(cur, "KES") ? "completed" : "failed";
    else if (!strcmp(st, "failed") || !strcmp(st, "reversed"))
        out = "failed";
out:
    json_decref(ev);
    return out;
}

static int call(const char *body, size_t len, const char *sig)
{
    struct http_req req = {.method = "POST", .path = PATH, .body = body, .body_len = len, .route = route};
    struct http_resp resp = {.status = 200};
    str_copy(req.client_ip, sizeof req.client_ip, "52.31.139.75");
    buf_init(&resp.body, 0);
    fuzz_http_header("x-paystack-signature", sig);
    route->fn(&app, &req, &resp);
    fuzz_http_header(NULL, NULL);
    json_t *r = json_loadb(resp.body.data ? resp.body.data : "", resp.body.len, 0, NULL);
    FUZZ_CHECK(json_is_object(r) && json_is_string(json_object_get(r, "message")), "reply %d: %s", resp.status,
               resp.body.data ? resp.body.data : "");
    FUZZ_CHECK(json_is_boolean(json_object_get(r, "success")) &&
                   json_is_true(json_object_get(r, "success")) == (resp.status == 200),
               "reply %d: %s", resp.status, resp.body.data);
    json_decref(r);
    buf_free(&resp.body);
    return resp.status;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_app_tick();
    struct payment p;
    new_order(&p);

    struct fuzz_in in = {data, size};
    char sig[300];
    fuzz_field(&in, '\n', sig, sizeof sig);
    /* the body, each {ref} the order's reference */
    size_t reflen = strlen(p.reference), cap = in.n * (reflen + 1) + 1, len = 0;
    char *body = malloc(cap);
    FUZZ_CHECK(body, "out of memory");
    for (size_t i = 0; i < in.n;) {
        if (in.n - i >= 5 && !memcmp(in.p + i, "{ref}", 5)) {
            memcpy(body + len, p.reference, reflen);
            len += reflen, i += 5;
        } else {
            body[len++] = (char)in.p[i++];
        }
    }
    body[len] = 0;

    char right[129];
    uint8_t mac[64];
    crypto_hmac_sha512(FUZZ_PAYSTACK_SECRET, strlen(FUZZ_PAYSTACK_SECRET), body, len, mac);
    crypto_hex(mac, sizeof mac, right, false);
    const char *header = !strcmp(sig, "=") ? right : *sig ? sig : NULL;
    bool signed_ok = header && !strcmp(header, right);

    int want_status;
    const char *want = expect(body, len, p.reference, signed_ok, &want_status);
    int got = call(body, len, header);
    FUZZ_CHECK(got == want_status, "HTTP %d, want %d", got, want_status);
    const char *now = order_status(p.reference);
    FUZZ_CHECK(!strcmp(now, *want ? want : "processing"), "order %s, want %s", now, *want ? want : "processing");
    char first[16];
    str_copy(first, sizeof first, now);
    got = call(body, len, header);
    FUZZ_CHECK(got == want_status, "again: HTTP %d, want %d", got, want_status);
    FUZZ_CHECK(!strcmp(order_status(p.reference), first), "the same webhook again moved the order");
    free(body);
    return 0;
}
