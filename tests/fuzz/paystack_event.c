/* fuzz target paystack_event: a webhook body read by paystack_event_parse
 * (src/pay/paystack.c), which the integrator face runs on every event
 * Paystack posts once its signature checks out.
 *
 * Input: the raw body.
 *
 * Checks: the same body reads the same way twice; every text field is
 * terminated; a body read as an event has a name of [a-z0-9._] whose kind
 * matches it, a reference whenever the kind is one lipa acts on, a
 * reference, status, currency, id and codes of letters, digits and their
 * few marks only (they go to logs and the database), an amount of -1 or
 * more, and no error; and what it read agrees with jansson's own reading of
 * the body (event name, data.reference, an integer data.amount). A body
 * refused has an error naming why and nothing else. A body over
 * PAYSTACK_EVENT_BODY_MAX is always refused. */
#include "fuzz.h"

#include "pay/paystack.h"

#include <jansson.h>
#include <string.h>

#define TERM(f) FUZZ_CHECK(memchr((f), 0, sizeof(f)), "%s unterminated", #f)

static bool only(const char *s, const char *extra)
{
    for (; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') ||
              strchr(extra, *s)))
            return false;
    return true;
}

static void check_read(const char *body, size_t n, const struct paystack_event *ev)
{
    static const char *const names[] = {"", "charge.success", "charge.failed", "transfer.success",
                                        "transfer.failed", "transfer.reversed"};
    FUZZ_CHECK(!ev->error[0], "read with error '%s'", ev->error);
    FUZZ_CHECK(ev->event[0] && only(ev->event, "._") && !strpbrk(ev->event, "ABCDEFGHIJKLMNOPQRSTUVWXYZ"),
               "event name '%s'", ev->event);
    FUZZ_CHECK((int)ev->kind >= 0 && (int)ev->kind <= PAYSTACK_EV_TRANSFER_REVERSED, "kind %d", ev->kind);
    if (ev->kind != PAYSTACK_EV_OTHER) {
        FUZZ_CHECK(!strcmp(ev->event, names[ev->kind]), "kind %d for '%s'", ev->kind, ev->event);
        FUZZ_CHECK(ev->reference[0], "%s without a reference", ev->event);
    } else {
        for (size_t i = 1; i < sizeof names / sizeof *names; i++)
            FUZZ_CHECK(strcmp(ev->event, names[i]), "'%s' read as another kind", ev->event);
    }
    FUZZ_CHECK(only(ev->reference, "-.=_") && only(ev->status, "_") && only(ev->currency, "") &&
                   only(ev->id, "-_") && only(ev->channel, "_") && only(ev->transfer_code, "_") &&
                   only(ev->paid_at, "-:.+ "),
               "a field with a stray character");
    FUZZ_CHECK(ev->amount >= -1, "amount %lld", (long long)ev->amount);
    for (const unsigned char *p = (const unsigned char *)ev->gateway_response; *p; p++)
        FUZZ_CHECK(*p >= 0x20 && *p != 0x7f, "control character in gateway_response");

    /* what jansson reads from the same bytes */
    json_t *j = json_loadb(body, n, JSON_REJECT_DUPLICATES, NULL);
    FUZZ_CHECK(json_is_object(j), "read an event jansson does not read");
    FUZZ_CHECK(!strcmp(json_string_value(json_object_get(j, "event")), ev->event), "event name differs");
    const json_t *d = json_object_get(j, "data");
    const char *ref = json_string_value(json_object_get(d, "reference"));
    FUZZ_CHECK(!strcmp(ref ? ref : "", ev->reference), "reference '%s' read as '%s'", ref ? ref : "",
               ev->reference);
    const json_t *am = json_object_get(d, "amount");
    if (json_is_integer(am))
        FUZZ_CHECK(json_integer_value(am) == ev->amount, "amount %lld read as %lld",
                   (long long)json_integer_value(am), (long long)ev->amount);
    else if (!am || json_is_null(am))
        FUZZ_CHECK(ev->amount == -1, "no amount read as %lld", (long long)ev->amount);
    json_decref(j);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct paystack_event a, b;
    const char *body = (const char *)data;
    bool ok = paystack_event_parse(body, size, &a);
    bool again = paystack_event_parse(body, size, &b);
    FUZZ_CHECK(ok == again && !memcmp(&a, &b, sizeof a), "two readings differ");
    TERM(a.event);
    TERM(a.reference);
    TERM(a.status);
    TERM(a.currency);
    TERM(a.id);
    TERM(a.paid_at);
    TERM(a.channel);
    TERM(a.gateway_response);
    TERM(a.transfer_code);
    TERM(a.error);
    if (ok) {
        check_read(body, size, &a);
    } else {
        FUZZ_CHECK(a.error[0], "refused without a reason");
        FUZZ_CHECK(a.kind == PAYSTACK_EV_OTHER && !a.event[0] && !a.reference[0] && a.amount == -1,
                   "refused but fields kept");
    }
    FUZZ_CHECK(!paystack_event_parse(body, PAYSTACK_EVENT_BODY_MAX + 1, &b), "an oversized body read");
    return 0;
}
