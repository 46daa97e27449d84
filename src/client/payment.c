/* client/payment: packages bought through the integrators' public
 * payments; see payment.h. Only stores: the payment worker
 * (pay/purchase.c) pushes, settles and times them out. */
#include "client/payment.h"

#include "client/notice.h"
#include "store/charges.h"
#include "util/phone.h"
#include "util/crypto.h"
#include "util/log.h"
#include "util/str.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

#define REF_ALPHABET "abcdefghijklmnopqrstuvwxyz0123456789"
#define REF_RANDOM 6
#define NAIROBI_OFFSET_S (3 * 3600) /* EAT, UTC+3, no daylight saving */
#define CREATE_TRIES 3              /* a reference clash (same second, same 6 of 36^6) is retried */

bool client_reference(int64_t ms, char out[CLIENT_REF_MAX])
{
    char rnd[REF_RANDOM + 1];
    if (!crypto_random_chars(rnd, REF_RANDOM, REF_ALPHABET))
        return false;
    time_t t = (time_t)(ms / 1000 + NAIROBI_OFFSET_S);
    struct tm tm;
    gmtime_r(&t, &tm);
    char ref[64]; /* room for any int the compiler can imagine; a real one fits CLIENT_REF_MAX */
    snprintf(ref, sizeof ref, "PKG-%04d%02d%02d%02d%02d%02d-%s", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
             tm.tm_hour, tm.tm_min, tm.tm_sec, rnd);
    return str_copy(out, CLIENT_REF_MAX, ref);
}

bool client_reference_ok(const char *ref)
{
    if (!ref || strlen(ref) != 4 + 14 + 1 + REF_RANDOM || strncmp(ref, "PKG-", 4) || ref[18] != '-')
        return false;
    for (int i = 4; i < 18; i++)
        if (ref[i] < '0' || ref[i] > '9')
            return false;
    for (const char *c = ref + 19; *c; c++)
        if (!strchr(REF_ALPHABET, *c))
            return false;
    return true;
}

static bool blank(const char *s)
{
    for (; *s; s++)
        if (*s != ' ' && *s != '\t' && *s != '\r' && *s != '\n')
            return false;
    return true;
}

int client_missing_fields(const json_t *body, const char *const *names, char *out, size_t n)
{
    int missing = 0;
    size_t used = 0;
    out[0] = 0;
    for (int i = 0; names[i]; i++) {
        json_t *v = json_object_get(body, names[i]);
        if (v && !json_is_null(v) && !(json_is_string(v) && blank(json_string_value(v))))
            continue;
        int k = snprintf(out + used, n - used, "%s%s", missing ? ", " : "", names[i]);
        if (k > 0 && (size_t)k < n - used)
            used += (size_t)k;
        missing++;
    }
    return missing;
}

const char *client_payment_status(const struct payment *p)
{
    if (payment_open(p))
        return "pending";
    if (!strcmp(p->status, "completed") || !strcmp(p->status, "cancelled"))
        return p->status;
    return "failed";
}

json_t *client_payment_json(const struct payment *p)
{
    json_t *j = json_object();
    json_object_set_new(j, "transaction_id", json_string(p->transaction_id));
    json_object_set_new(j, "checkout_id", p->checkout_request_id[0] ? json_string(p->checkout_request_id) : json_null());
    json_object_set_new(j, "status", json_string(client_payment_status(p)));
    json_object_set_new(j, "amount", json_integer((json_int_t)p->amount));
    json_object_set_new(j, "reference", json_string(p->reference));
    json_object_set_new(j, "phone_number", json_string(p->phone));
    return j;
}

json_t *client_payment_notice(const struct payment *p, int64_t now)
{
    char event[40], at[32];
    const char *status = client_payment_status(p);
    snprintf(event, sizeof event, "payment.%s", status);
    str_iso_time(now, at);
    json_t *j = client_payment_json(p);
    json_object_set_new(j, "event", json_string(event));
    json_object_set_new(j, "timestamp", json_string(at));
    json_object_set_new(j, "client_id", json_string(p->client_id));
    json_object_set_new(j, "package_id", json_string(p->package_id));
    json_object_set_new(j, "description", json_string(p->note));
    json_object_set_new(j, "mpesa_receipt",
                        !strcmp(status, "completed") && p->mpesa_receipt[0] ? json_string(p->mpesa_receipt)
                                                                            : json_null());
    json_object_set_new(j, "result_desc", json_string(p->result_desc[0] ? p->result_desc : p->last_error));
    return j;
}

enum store_rc client_payment_start(struct app *a, const struct client *c, const struct package *pk,
                                   const char *phone, const char *description, const char *idem_key,
                                   const char *idem_fp, struct payment *p)
{
    memset(p, 0, sizeof *p);
    str_copy(p->kind, sizeof p->kind, "package");
    str_copy(p->origin, sizeof p->origin, "api");
    str_copy(p->provider, sizeof p->provider, "mpesa");
    str_copy(p->currency, sizeof p->currency, "KES");
    str_copy(p->client_id, sizeof p->client_id, c->id);
    str_copy(p->package_id, sizeof p->package_id, pk->id);
    str_copy(p->phone, sizeof p->phone, phone);
    p->amount = pk->amount;
    /* TransactionDesc (13 characters at most on M-Pesa's side); the
     * integrator's description, whole, is the note */
    str_copy(p->description, sizeof p->description, "Package");
    if (!str_copy(p->note, sizeof p->note, description ? description : "") ||
        !str_copy(p->idem_key, sizeof p->idem_key, idem_key ? idem_key : "")) {
        log_error("package.start_refused", "client=%s reason=\"description or idempotency key too long\"", c->id);
        return ST_ERROR; /* the face caps both: a cut one would be another */
    }
    str_copy(p->idem_fp, sizeof p->idem_fp, idem_fp ? idem_fp : "");
    enum store_rc rc = ST_ERROR;
    for (int i = 0; i < CREATE_TRIES; i++) {
        if (!crypto_uuid4(p->transaction_id) || !client_reference(now_ms(), p->reference))
            return ST_ERROR;
        /* AccountReference, shown on the prompt (12 characters at most):
         * the reference's random part tells one purchase from another */
        snprintf(p->account_reference, sizeof p->account_reference, "PKG-%s", strrchr(p->reference, '-') + 1);
        rc = store_payment_create(a->store, p);
        /* ST_NOT_FOUND is a constraint: the unique reference, most likely */
        if (rc != ST_NOT_FOUND)
            break;
    }
    if (rc == ST_NOT_FOUND)
        rc = ST_ERROR;
    if (rc != ST_OK)
        return rc;
    atomic_fetch_add(&a->purchases, 1);
    char masked[20];
    log_info("package.order", "payment=%lld client=%s package=%s transaction=%s reference=%s phone=%s amount=%lld",
             (long long)p->id, p->client_id, p->package_id, p->transaction_id, p->reference,
             log_phone(p->phone, masked), (long long)p->amount);
    app_wake(a, WORK_PAYMENTS);
    return ST_OK;
}

void client_package_prepare(struct app *a, struct payment *p)
{
    (void)a;
    if (!strcmp(p->status, "timeout"))
        str_copy(p->status, sizeof p->status, "failed");
    /* nothing to top up and no token: the integrator delivers the package */
    str_copy(p->topup_status, sizeof p->topup_status, "none");
    p->token_minute = -1;
}

bool client_package_finish(struct app *a, struct payment *p)
{
    json_t *body = client_payment_notice(p, now_ms());
    bool ok = body && client_notice_queue(a, p, body);
    json_decref(body);
    return ok;
}

/* ---- Paystack charges ---- */

const char *client_charge_status(const struct payment *p)
{
    if (!strcmp(p->status, "completed"))
        return "success";
    if (payment_open(p))
        return "pending";
    if (!strcmp(p->status, "timeout"))
        return "abandoned";
    return p->status; /* failed, cancelled */
}

json_t *client_charge_notice(struct app *a, const struct payment *p, int64_t now)
{
    char event[40], at[32], msisdn[PHONE_MAX] = "";
    struct charge_extra x;
    const char *status = client_charge_status(p);
    snprintf(event, sizeof event, "payment.%s", status);
    str_iso_time(now, at);
    if (p->phone[0])
        phone_msisdn(p->phone, msisdn);
    json_t *j = json_pack("{s:s, s:s, s:s, s:s, s:I, s:s, s:s, s:s, s:s}", "event", event, "timestamp", at,
                          "client_id", p->client_id, "reference", p->reference, "amount", (json_int_t)p->amount,
                          "currency", p->currency, "status", status, "phone", msisdn, "result_desc",
                          p->result_desc[0] ? p->result_desc : p->last_error);
    if (j && store_charge_get(a->store, p->id, &x) == ST_OK && x.booking_id[0])
        json_object_set_new(j, "bookingId", json_string(x.booking_id));
    return j;
}

void client_charge_prepare(struct app *a, struct payment *p)
{
    (void)a;
    str_copy(p->topup_status, sizeof p->topup_status, "none");
    p->token_minute = -1;
}

bool client_charge_finish(struct app *a, struct payment *p)
{
    json_t *body = client_charge_notice(a, p, now_ms());
    bool ok = body && client_notice_queue(a, p, body);
    json_decref(body);
    return ok;
}
