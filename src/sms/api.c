/* sms/api: Africa's Talking's SMS callbacks and the admin's message list,
 * under the /api prefix and envelope of the water face (ENV_DATA: {success,
 * message, data}).
 *
 *   POST /api/sms/inbound           AT inbound SMS (form: from, to, text,
 *                                   date, id, linkId, networkCode); stored
 *                                   once per id and answered 200 at once,
 *                                   the SMS worker replies (text/inbound.h)
 *   POST /api/sms/delivery-reports  AT delivery reports (form: id, status,
 *                                   phoneNumber, networkCode,
 *                                   failureReason, retryCount); 200
 *   GET  /api/sms/messages          admin: the outbox, newest first;
 *                                   ?phone= &status= &page= (from 1)
 *                                   &limit= (1..200, default 50)
 *   POST /api/sms/messages          admin: queue a notice
 *                                   {phoneNumber, message} (kind "notice":
 *                                   held back from numbers that texted STOP)
 *
 * The two callbacks carry no secret (AT signs nothing): anyone who can
 * reach them can make lipad answer a number or mark a message delivered.
 * Answers only ever go to the number in `from`, and a BUY only asks that
 * number's owner for their PIN. A malformed callback gets 400 naming the
 * field; a store failure 500, so AT tries again. */
#include "sms/api.h"

#include "app/app.h"
#include "http/api.h"
#include "sms/outbox.h"
#include "store/sms.h"
#include "util/form.h"
#include "util/gsm.h"
#include "util/log.h"
#include "util/phone.h"
#include "util/str.h"

#include <stdlib.h>
#include <string.h>

#define AT_ID_MAX 90          /* idem key "sms:<id>" must fit 96 bytes */
#define LIST_LIMIT_MAX 200
#define NOTICE_MAX 1000       /* bytes of an admin notice */

/* Parses the form body; on failure answers 400 and returns false. */
static bool parse_form(struct http_req *req, struct http_resp *resp, struct form *f)
{
    char bad[64] = "";
    if (form_parse(f, req->body ? req->body : "", req->body_len, bad, sizeof bad))
        return true;
    api_error(req, resp, ERR_VALIDATION, NULL, "malformed form body (field '%.40s')", bad);
    return false;
}

static void sms_inbound(void *ctx, struct http_req *req, struct http_resp *resp)
{
    struct app *a = ctx;
    struct form f;
    struct sms_inbound *m = NULL;
    if (!parse_form(req, resp, &f))
        return;
    const char *id = form_get(&f, "id"), *from = form_get(&f, "from");
    if (!id || !*id || strlen(id) > AT_ID_MAX) {
        api_error(req, resp, ERR_VALIDATION, NULL, "id: required, at most %d characters", AT_ID_MAX);
        goto out;
    }
    if (!from || !*from) {
        api_error(req, resp, ERR_VALIDATION, NULL, "from: required");
        goto out;
    }
    m = calloc(1, sizeof *m);
    if (!m) {
        api_error(req, resp, ERR_INTERNAL, NULL, "out of memory");
        goto out;
    }
    str_copy(m->at_id, sizeof m->at_id, id);
    str_copy_chars(m->raw_from, sizeof m->raw_from, from, SIZE_MAX);
    if (!phone_normalize(from, m->phone))
        m->phone[0] = 0; /* kept; the worker answers no one */
    str_copy_chars(m->to, sizeof m->to, form_get(&f, "to"), SIZE_MAX);
    str_copy_chars(m->text, sizeof m->text, form_get(&f, "text"), SIZE_MAX);
    str_copy_chars(m->date, sizeof m->date, form_get(&f, "date"), SIZE_MAX);
    str_copy_chars(m->link_id, sizeof m->link_id, form_get(&f, "linkId"), SIZE_MAX);
    str_copy_chars(m->network_code, sizeof m->network_code, form_get(&f, "networkCode"), SIZE_MAX);
    enum store_rc rc = store_sms_inbound_add(a->store, m);
    char masked[20];
    if (rc == ST_OK) {
        app_wake(a, WORK_TEXT);
        log_info("sms.inbound", "inbound=%lld phone=%s bytes=%zu", (long long)m->id,
                 log_phone(m->phone[0] ? m->phone : m->raw_from, masked), strlen(m->text));
        api_ok(req, resp, 200, "received", json_pack("{s:s, s:b}", "id", id, "duplicate", 0));
    } else if (rc == ST_CONFLICT) {
        log_info("sms.inbound_repeat", "phone=%s", log_phone(m->phone[0] ? m->phone : m->raw_from, masked));
        api_ok(req, resp, 200, "already received", json_pack("{s:s, s:b}", "id", id, "duplicate", 1));
    } else {
        api_error(req, resp, ERR_INTERNAL, NULL, "could not store the message; try again");
    }
out:
    free(m);
    form_free(&f);
}

static void sms_delivery_report(void *ctx, struct http_req *req, struct http_resp *resp)
{
    struct app *a = ctx;
    struct form f;
    if (!parse_form(req, resp, &f))
        return;
    struct sms_report r;
    memset(&r, 0, sizeof r);
    const char *id = form_get(&f, "id"), *status = form_get(&f, "status");
    int64_t retries = 0;
    if (!id || !*id || strlen(id) >= sizeof r.message_id) {
        api_error(req, resp, ERR_VALIDATION, NULL, "id: required, at most %zu characters", sizeof r.message_id - 1);
        goto out;
    }
    if (!status || !*status || strlen(status) >= sizeof r.status) {
        api_error(req, resp, ERR_VALIDATION, NULL, "status: required, at most %zu characters", sizeof r.status - 1);
        goto out;
    }
    str_copy(r.message_id, sizeof r.message_id, id);
    str_copy(r.status, sizeof r.status, status);
    str_copy_chars(r.failure_reason, sizeof r.failure_reason, form_get(&f, "failureReason"), SIZE_MAX);
    if (!phone_normalize(form_get(&f, "phoneNumber"), r.phone))
        r.phone[0] = 0;
    str_copy_chars(r.network_code, sizeof r.network_code, form_get(&f, "networkCode"), SIZE_MAX);
    if (str_to_i64(form_get(&f, "retryCount"), 0, 1000000, &retries))
        r.retry_count = retries;
    switch (outbox_report(a, &r)) {
    case ST_OK:
        api_ok(req, resp, 200, "applied", json_pack("{s:s, s:s, s:b}", "id", id, "status", status, "applied", 1));
        break;
    case ST_CONFLICT:
        api_ok(req, resp, 200, "already received",
               json_pack("{s:s, s:s, s:b}", "id", id, "status", status, "applied", 0));
        break;
    case ST_NOT_FOUND: /* kept: applied when the send is recorded */
        api_ok(req, resp, 200, "no message with this id yet; kept",
               json_pack("{s:s, s:s, s:b}", "id", id, "status", status, "applied", 0));
        break;
    default:
        api_error(req, resp, ERR_INTERNAL, NULL, "could not record the report; try again");
        break;
    }
out:
    form_free(&f);
}

/* A JSON string of text that may not be valid UTF-8 (a cut or a stored
 * oddity): invalid bytes become '?'. */
static json_t *safe_string(const char *s)
{
    json_t *j = json_string(s);
    if (j)
        return j;
    char clean[1100];
    gsm_sanitize(s, clean, sizeof clean);
    return json_string(clean);
}

static json_t *message_json(const struct sms_message *x)
{
    const struct outbox_msg *m = &x->m;
    json_t *o = json_pack("{s:I, s:s, s:o, s:s, s:s, s:I, s:s, s:I}", "id", (json_int_t)m->id, "phoneNumber",
                          m->phone, "message", safe_string(m->body), "kind", m->kind, "status", m->status,
                          "attempts", (json_int_t)m->attempts, "encoding", m->encoding, "parts",
                          (json_int_t)m->parts);
    if (!o)
        return NULL;
    json_object_set_new(o, "error", m->last_error[0] ? safe_string(m->last_error) : json_null());
    json_object_set_new(o, "messageId", m->provider_id[0] ? json_string(m->provider_id) : json_null());
    json_object_set_new(o, "deliveryStatus", x->report_status[0] ? json_string(x->report_status) : json_null());
    json_object_set_new(o, "paymentId", m->payment_id ? json_integer(m->payment_id) : json_null());
    json_object_set_new(o, "reportedAt", api_time_or_null(x->reported_at));
    json_object_set_new(o, "nextAttemptAt", api_time_or_null(!strcmp(m->status, "queued") ? m->next_at : 0));
    json_object_set_new(o, "createdAt", api_time_or_null(m->created_at));
    json_object_set_new(o, "updatedAt", api_time_or_null(m->updated_at));
    return o;
}

static void add_message(void *ctx, const struct sms_message *x)
{
    json_t *o = message_json(x);
    if (o)
        json_array_append_new(ctx, o);
}

static bool status_known(const char *s)
{
    static const char *const states[] = {"queued", "sending", "sent", "delivered", "failed"};
    for (size_t i = 0; i < sizeof states / sizeof states[0]; i++)
        if (!strcmp(s, states[i]))
            return true;
    return false;
}

static void sms_messages(void *ctx, struct http_req *req, struct http_resp *resp)
{
    struct app *a = ctx;
    if (!api_require_admin(req, resp, a->cfg.admin_key))
        return;
    const char *qp = http_query(req, "phone"), *qs = http_query(req, "status"), *qpage = http_query(req, "page"),
               *qlimit = http_query(req, "limit");
    char phone[PHONE_MAX] = "";
    int64_t page = 1, limit = 50;
    if (qp && *qp && !phone_normalize(qp, phone)) {
        api_error(req, resp, ERR_VALIDATION, NULL, "phone: not a Kenyan mobile number");
        return;
    }
    if (qs && *qs && !status_known(qs)) {
        api_error(req, resp, ERR_VALIDATION, NULL, "status: one of queued, sending, sent, delivered, failed");
        return;
    }
    if (qpage && !str_to_i64(qpage, 1, 1000000, &page)) {
        api_error(req, resp, ERR_VALIDATION, NULL, "page: a whole number from 1");
        return;
    }
    if (qlimit && !str_to_i64(qlimit, 1, LIST_LIMIT_MAX, &limit)) {
        api_error(req, resp, ERR_VALIDATION, NULL, "limit: a whole number from 1 to %d", LIST_LIMIT_MAX);
        return;
    }
    const char *status = qs ? qs : "";
    int64_t total = store_sms_messages_count(a->store, phone, status);
    json_t *arr = json_array();
    if (total < 0 || !arr ||
        store_sms_messages(a->store, phone, status, limit, (page - 1) * limit, add_message, arr) != ST_OK) {
        json_decref(arr);
        api_error(req, resp, ERR_INTERNAL, NULL, "could not list messages");
        return;
    }
    api_ok(req, resp, 200, NULL,
           json_pack("{s:o, s:I, s:I, s:I, s:I}", "messages", arr, "page", (json_int_t)page, "limit",
                     (json_int_t)limit, "total", (json_int_t)total, "pages",
                     (json_int_t)((total + limit - 1) / limit)));
}

static const struct field notice_fields[] = {
    {"phoneNumber", F_STRING, F_REQUIRED, 1, 20},
    {"message", F_STRING, F_REQUIRED, 1, NOTICE_MAX},
    {NULL, 0, 0, 0, 0},
};

static void sms_notice(void *ctx, struct http_req *req, struct http_resp *resp)
{
    struct app *a = ctx;
    if (!api_require_admin(req, resp, a->cfg.admin_key))
        return;
    json_t *body = api_parse(req, resp, notice_fields);
    if (!body)
        return;
    char phone[PHONE_MAX];
    const char *text = api_str(body, "message");
    struct sms_message x;
    if (!phone_normalize(api_str(body, "phoneNumber"), phone)) {
        api_error(req, resp, ERR_VALIDATION, NULL, "phoneNumber: not a Kenyan mobile number");
        goto out;
    }
    if (!str_is_clean_utf8(text, strlen(text))) {
        api_error(req, resp, ERR_VALIDATION, NULL, "message: control characters are not allowed");
        goto out;
    }
    if (strstr(text, "{token}")) {
        api_error(req, resp, ERR_VALIDATION, NULL, "message: {token} is only for receipts");
        goto out;
    }
    int64_t id = 0;
    if (outbox_queue_id(a, phone, text, "notice", 0, &id) != ST_OK ||
        store_sms_message_get(a->store, id, &x) != ST_OK) {
        api_error(req, resp, ERR_INTERNAL, NULL, "could not queue the message");
        goto out;
    }
    app_wake(a, WORK_OUTBOX);
    api_ok(req, resp, 201, "queued", message_json(&x));
out:
    json_decref(body);
}

const struct http_route sms_routes[] = {
    {"POST", "/api/sms/inbound", sms_inbound, ENV_DATA, 0},
    {"POST", "/api/sms/delivery-reports", sms_delivery_report, ENV_DATA, 0},
    {"GET", "/api/sms/messages", sms_messages, ENV_DATA, 0},
    {"POST", "/api/sms/messages", sms_notice, ENV_DATA, 0},
    {NULL, NULL, NULL, 0, 0},
};
