/* at: Africa's Talking bulk SMS sending behind sms_provider. One POST per
 * message to {at_url}/version1/messaging; success is HTTP 201 and the first
 * recipient's statusCode says whether the message was taken, is worth
 * another try later, or was refused for good (Africa's Talking's bulk SMS API).
 * The state holds only copies of the settings, so it is thread-safe. */
#include "sms/sms.h"

#include "util/buf.h"
#include "util/form.h"
#include "util/httpc.h"
#include "util/log.h"
#include "util/metrics.h"
#include "util/str.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define AT_MESSAGE_MAX 4096 /* bytes of UTF-8; AT splits long texts itself */

struct at {
    char *url, *username, *apikey, *sender;
    long timeout_ms;
};

static void at_destroy(void *st)
{
    struct at *a = st;
    if (!a)
        return;
    free(a->url), free(a->username), free(a->apikey), free(a->sender);
    free(a);
}

static void *at_create(const struct config *cfg)
{
    struct at *a = calloc(1, sizeof *a);
    if (!a)
        return NULL;
    size_t n = strlen(cfg->at_url ? cfg->at_url : "") + sizeof "/version1/messaging";
    a->url = malloc(n);
    if (a->url)
        snprintf(a->url, n, "%s/version1/messaging", cfg->at_url ? cfg->at_url : "");
    a->username = strdup(cfg->at_username ? cfg->at_username : "");
    a->apikey = strdup(cfg->at_apikey ? cfg->at_apikey : "");
    a->sender = strdup(cfg->at_sender ? cfg->at_sender : "");
    a->timeout_ms = cfg->http_timeout_ms > 0 ? (long)cfg->http_timeout_ms : 10000;
    if (!a->url || !a->username || !a->apikey || !a->sender) {
        at_destroy(a);
        return NULL;
    }
    return a;
}

/* Appends name=encoded(value) to the form; false when out of memory. */
static bool form_add(struct buf *b, const char *name, const char *value)
{
    char *enc = form_encode(value);
    if (!enc)
        return false;
    buf_printf(b, "%s%s=%s", b->len ? "&" : "", name, enc);
    free(enc);
    return !b->over;
}

/* A short, single-line excerpt of a plain-text or unreadable body. */
static void body_excerpt(const struct buf *body, char *out, size_t outsz)
{
    size_t o = 0;
    for (size_t i = 0; i < body->len && o + 1 < outsz && o < 120; i++) {
        unsigned char c = (unsigned char)body->data[i];
        out[o++] = c < 0x20 || c == 0x7f ? ' ' : (char)c;
    }
    out[o] = 0;
    str_trim(out);
}

/* statusCode of a recipient: number or digit string; 0 when unreadable or
 * out of range (cut to an int, 2^32 + 101 would read as 101, "sent"). */
static int status_code_of(const json_t *v)
{
    if (json_is_integer(v))
        return json_integer_value(v) >= 0 && json_integer_value(v) <= 9999 ? (int)json_integer_value(v) : 0;
    int64_t n;
    if (json_is_string(v) && str_to_i64(json_string_value(v), 0, 9999, &n))
        return (int)n;
    return 0;
}

static enum sms_outcome recipient_outcome(int code)
{
    if (code >= 100 && code <= 102)
        return SMS_SENT;
    if (code == 405 || (code >= 500 && code <= 599))
        return SMS_RETRY; /* InsufficientBalance, gateway errors: later */
    return SMS_REJECT;    /* 401 RiskHold, 402 sender, 403 number, 404, 406, 407, 409, unknown */
}

/* Reads a 201 answer into res. */
static void read_created(const struct buf *body, struct sms_send_res *res)
{
    json_t *root = body->len ? json_loadb(body->data, body->len, 0, NULL) : NULL;
    const json_t *data = json_object_get(root, "SMSMessageData");
    const json_t *recips = json_object_get(data, "Recipients");
    const json_t *r0 = json_array_get(recips, 0);
    if (!json_is_object(r0)) {
        const char *m = json_string_value(json_object_get(data, "Message"));
        if (m) {
            /* nobody was sent to: AT names the reason (InvalidSenderId, ...) */
            res->outcome = SMS_REJECT;
            snprintf(res->detail, sizeof res->detail, "no recipient: %.200s", m);
        } else {
            /* a 201 we cannot read: the message may or may not be out */
            res->outcome = SMS_RETRY;
            str_copy(res->detail, sizeof res->detail, "HTTP 201 without readable Recipients");
        }
        goto out;
    }
    const char *status = json_string_value(json_object_get(r0, "status"));
    res->status_code = status_code_of(json_object_get(r0, "statusCode"));
    res->outcome = recipient_outcome(res->status_code);
    if (!res->status_code && status &&
        (!strcmp(status, "Success") || !strcmp(status, "Sent") || !strcmp(status, "Queued") ||
         !strcmp(status, "Processed")))
        res->outcome = SMS_SENT; /* no usable statusCode, but the status says taken */
    const char *mid = json_string_value(json_object_get(r0, "messageId"));
    if (mid && strcmp(mid, "None"))
        str_copy(res->message_id, sizeof res->message_id, mid);
    snprintf(res->detail, sizeof res->detail, "%d %.120s", res->status_code, status ? status : "");
    str_trim(res->detail);
out:
    json_decref(root);
}

static const char *outcome_name(enum sms_outcome o)
{
    return o == SMS_SENT ? "sent" : o == SMS_RETRY ? "retry" : "reject";
}

static void at_send(void *st, const char *phone_e164, const char *text, struct sms_send_res *res)
{
    struct at *a = st;
    struct buf form;
    struct httpc_resp hr;
    bool have_resp = false;
    char key_hdr[300], masked[20];

    memset(res, 0, sizeof *res);
    res->outcome = SMS_REJECT;
    buf_init(&form, 3 * AT_MESSAGE_MAX + 1024);
    if (!phone_e164 || !*phone_e164 || !text) {
        str_copy(res->detail, sizeof res->detail, "missing number or text");
        goto out;
    }
    if (strlen(text) > AT_MESSAGE_MAX) {
        str_copy(res->detail, sizeof res->detail, "message too long");
        goto out;
    }
    /* a CR or LF in the key would forge headers */
    if (strpbrk(a->apikey, "\r\n") ||
        (size_t)snprintf(key_hdr, sizeof key_hdr, "apiKey: %s", a->apikey) >= sizeof key_hdr) {
        str_copy(res->detail, sizeof res->detail, "unusable API key setting");
        goto out;
    }
    if (!form_add(&form, "username", a->username) || !form_add(&form, "to", phone_e164) ||
        !form_add(&form, "message", text) ||
        (a->sender[0] && !form_add(&form, "from", a->sender)) ||
        !form_add(&form, "bulkSMSMode", "1") || !form_add(&form, "enqueue", "1")) {
        res->outcome = SMS_RETRY;
        str_copy(res->detail, sizeof res->detail, "out of memory building the form");
        goto out;
    }
    const char *headers[] = {key_hdr, "Accept: application/json",
                             "Content-Type: application/x-www-form-urlencoded", NULL};
    struct httpc_req req = {.method = "POST", .url = a->url, .headers = headers, .body = form.data,
                            .body_len = form.len, .timeout_ms = a->timeout_ms};
    int64_t t0 = metrics_clock_us();
    httpc_do(&req, &hr);
    metrics_provider_time(MP_AFRICASTALKING, t0);
    have_resp = true;
    explicit_bzero(key_hdr, sizeof key_hdr);
    res->http_status = (int)hr.status;

    char excerpt[128];
    if (hr.status == 0) {
        res->outcome = SMS_RETRY;
        snprintf(res->detail, sizeof res->detail, "transport: %.200s", hr.error);
    } else if (hr.status == 201) {
        read_created(&hr.body, res);
    } else {
        /* 5xx, rate limits and timeouts are the provider's trouble: later.
         * 401 (bad key, plain text) and other 4xx are refusals. */
        bool later = hr.status >= 500 || hr.status == 429 || hr.status == 408 || hr.status < 400;
        res->outcome = later ? SMS_RETRY : SMS_REJECT;
        body_excerpt(&hr.body, excerpt, sizeof excerpt);
        snprintf(res->detail, sizeof res->detail, "HTTP %ld%s%s", hr.status, excerpt[0] ? ": " : "",
                 excerpt);
    }
out:
    metrics_provider_call(MP_AFRICASTALKING, res->outcome == SMS_SENT    ? MO_OK
                                             : res->outcome == SMS_RETRY ? MO_RETRY
                                                                         : MO_REFUSED);
    log_event(res->outcome == SMS_SENT ? LOG_DEBUG : LOG_WARN, "sms.send",
              "provider=at outcome=%s http=%d status_code=%d to=%s message_id=%s",
              outcome_name(res->outcome), res->http_status, res->status_code,
              log_phone(phone_e164, masked), res->message_id[0] ? res->message_id : "-");
    if (have_resp)
        httpc_resp_free(&hr);
    buf_free(&form);
}

const struct sms_provider sms_at = {
    .name = "africastalking",
    .create = at_create,
    .destroy = at_destroy,
    .send = at_send,
};
