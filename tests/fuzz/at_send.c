/* fuzz target at_send: Africa's Talking's answer to sending an SMS, read by
 * the real client in src/sms/at.c (the wrapped HTTP client of fuzz.c hands
 * it over). AT's callbacks to lipad (inbound SMS, delivery reports) are
 * form bodies read by form_parse and phone_normalize in their handlers:
 * the form and phone targets cover that reading.
 *
 * Input: "STATUS BODY": three digits (000: no answer), a blank, the body.
 *
 * Checks, against a plain reading of the answer: the message counts as
 * sent only on a 201 whose first recipient has statusCode 100, 101 or 102
 * (a number or digit string), or no statusCode at all and a status of
 * Success, Sent, Queued or Processed; the recorded statusCode is the
 * answer's or 0; a refusal or retry says why; every field is terminated. */
#include "fuzz.h"

#include "sms/sms.h"
#include "util/str.h"

#include <jansson.h>
#include <string.h>

static void *at;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc, (void)argv;
    struct config cfg = {.at_url = "http://at.invalid/version1/messaging", .at_username = "sandbox",
                         .at_apikey = "atsk_fuzz", .at_sender = "40404", .http_timeout_ms = 1000};
    at = sms_at.create(&cfg);
    FUZZ_CHECK(at, "create");
    return 0;
}

/* The plain reading of a 201: the statusCode it gives (0 for none or not
 * one), and whether it says the message went. */
static bool plain_sent(const char *body, size_t len, int *code)
{
    json_t *root = json_loadb(body, len, 0, NULL);
    json_t *r0 = json_array_get(json_object_get(json_object_get(root, "SMSMessageData"), "Recipients"), 0);
    json_t *sc = json_object_get(r0, "statusCode");
    const char *status = json_string_value(json_object_get(r0, "status"));
    int64_t n = 0;
    *code = 0;
    if (json_is_integer(sc) && json_integer_value(sc) >= 0 && json_integer_value(sc) <= 9999)
        *code = (int)json_integer_value(sc);
    else if (json_is_string(sc) && str_to_i64(json_string_value(sc), 0, 9999, &n))
        *code = (int)n;
    bool sent = json_is_object(r0) &&
                ((*code >= 100 && *code <= 102) ||
                 (!*code && status &&
                  (!strcmp(status, "Success") || !strcmp(status, "Sent") || !strcmp(status, "Queued") ||
                   !strcmp(status, "Processed"))));
    json_decref(root);
    return sent;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    long status = 0;
    size_t i = 0;
    for (; i < 3 && i < size && data[i] >= '0' && data[i] <= '9'; i++)
        status = status * 10 + (data[i] - '0');
    if (i < size && data[i] == ' ')
        i++;
    fuzz_http_reset();
    fuzz_http_answer(status, (const char *)data + i, size - i);

    struct sms_send_res res;
    sms_at.send(at, "+254712345678", "lipa: Your token is {token}", &res);
    FUZZ_CHECK(fuzz_http_calls() == 1, "%d requests", fuzz_http_calls());
    FUZZ_CHECK(memchr(res.message_id, 0, sizeof res.message_id) && memchr(res.detail, 0, sizeof res.detail),
               "unterminated");
    FUZZ_CHECK(res.http_status == (int)status, "http %d", res.http_status);
    int code = 0;
    bool sent = status == 201 && plain_sent((const char *)data + i, size - i, &code);
    FUZZ_CHECK((res.outcome == SMS_SENT) == sent, "outcome %d, the answer says %s", res.outcome,
               sent ? "sent" : "not sent");
    if (status == 201)
        FUZZ_CHECK(res.status_code == code, "statusCode %d, the answer says %d", res.status_code, code);
    if (res.outcome != SMS_SENT)
        FUZZ_CHECK(res.detail[0], "not sent, without a reason");
    fuzz_http_reset();
    return 0;
}
