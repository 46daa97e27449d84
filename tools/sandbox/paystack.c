/* sandbox/paystack: a fake Paystack (its REST API as documented by
 * Paystack) behind `Authorization: Bearer LIPA_PAYSTACK_SECRET` (401
 * "Invalid key"), with Paystack's answer shape {"status":bool,
 * "message":"...","data":{...}}:
 *
 *   POST /transaction/initialize, GET /transaction/verify/:reference: the
 *     hosted checkout. Checks: an email with '@', an integer amount > 0 in
 *     subunits (a digit string is taken too, as Paystack does), a currency
 *     this merchant takes (KES, NGN, GHS, ZAR, USD; NGN when absent, as for
 *     a Nigerian merchant), and a unique reference of letters, digits, '-',
 *     '.', '=' (made up when absent). A new transaction verifies as
 *     "ongoing" until the customer acts.
 *   POST /charge, GET /charge/:reference: M-Pesa charges, mobile_money
 *     {phone, provider} only. provider "mpesa" (the STK prompt) or
 *     "mpesa_offline" (the paybill: the answer adds account_number and
 *     account_reference), currency KES, phone +2547XXXXXXXX, 2547XXXXXXXX
 *     (or 2541...) as Paystack's samples write it; anything else is 400. A
 *     reference initialize made may be charged once, as that transaction,
 *     with the same email, amount and currency; any other reference already
 *     used is 400 "Duplicate Transaction Reference"; a new one (or none)
 *     makes a new transaction. The answer is "pay_offline" with its
 *     display_text; the transaction then verifies as "pending" and the
 *     check answers "pending" until the customer acts.
 *   GET /bank?currency=&type=: a fixed list (KES: M-PESA "MPESA" and Airtel
 *     Money "AIRTEL" of type mobile_money, M-PESA Till "MPTILL" of type
 *     mobile_money_business; GHS: MTN, ATL, VOD; NGN: two banks).
 *   POST /transferrecipient: type mobile_money, a name, a bank_code from
 *     that list for the currency, and an account number of the wallet
 *     (07XXXXXXXX, 01XXXXXXXX, 254..., +254... for KES). The same wallet
 *     gets the same recipient_code again, as on Paystack.
 *   POST /transfer {source:"balance", amount, recipient, reference,
 *     reason}: a known RCP_ code, a reference of 16 to 50 of [a-z0-9_-]
 *     (made up when absent); a reference used before is 400 "Duplicate
 *     Transfer Reference", so a repeat never pays twice. The transfer is
 *     "pending" until settled. GET /transfer/verify/:reference; unknown is
 *     404 "Transfer not found".
 *
 * The customer and the payout network are played through unsigned control
 * endpoints:
 *   GET  /sandbox/paystack/checkout/<access_code>  the authorization URL: a
 *        small text page naming the transaction.
 *   POST /sandbox/paystack/pay {"reference", "outcome":"success|failed|
 *        abandoned", "amount":N (optional: what the customer paid, to test a
 *        mismatch), "webhook_url" (optional, loopback only), "signature":
 *        "bad"|"none" (optional: forge or leave out x-paystack-signature)}.
 *        A success POSTs a charge.success event (data as verify shows it),
 *        signed with lowercase hex HMAC-SHA512(secret, raw body), before
 *        answering. For an M-Pesa charge a failure POSTs charge.failed the
 *        same way (Paystack's published event list has no charge.failed:
 *        lipa must not count on it and still checks; the sandbox sends it so
 *        that a handler for it is exercised); checkout failures and any
 *        abandonment send nothing. Paying a settled transaction again with
 *        the same outcome sends the same event again (Paystack's retries);
 *        a successful one cannot change, nor a settled charge (409), while
 *        a failed checkout may still be paid. The answer says what the
 *        webhook answered and where the browser would be redirected
 *        (callback_url?trxref=REF&reference=REF).
 *   POST /sandbox/paystack/transfer {"reference", "outcome":"success|failed|
 *        reversed", "webhook_url", "signature"}: settles a transfer and
 *        POSTs transfer.success, transfer.failed or transfer.reversed, signed
 *        the same way. A success may later be reversed; anything else once
 *        settled is 409, but the same outcome again sends the event again.
 * Events go to webhook_url, else to the default webhook URL
 * (--paystack-webhook, or LIPA_SANDBOX_PAYSTACK_WEBHOOK; loopback only),
 * else nowhere.
 *
 * With --paystack-settle-ms N the sandbox settles by itself, N ms after a
 * charge or a transfer, as the Daraja fake's customer answers a push, by
 * the charge's amount in whole shillings (amount / 100): exactly 1 fails
 * ("Insufficient funds", charge.failed), a last digit 2 fails ("Declined by
 * the customer", charge.failed), a last digit 7 is abandoned with no event
 * at all (only a verify or check tells), anything else succeeds
 * (charge.success). Transfers succeed (transfer.success). Events go to the
 * default webhook URL. A charge or transfer settled through a control
 * endpoint first is left alone.
 *
 * Transactions and transfers are kept in creation order, the oldest dropped
 * past TXN_MAX and XFER_MAX (a dropped reference may then be used again);
 * recipients past RCP_MAX. */
#include "sandbox.h"

#include "http/api.h"
#include "util/crypto.h"
#include "util/httpc.h"
#include "util/log.h"
#include "util/phone.h"
#include "util/str.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#define TXN_MAX 20000
#define XFER_MAX 20000
#define RCP_MAX 10000
#define REF_MAX 100
#define XREF_MIN 16             /* transfer references */
#define XREF_MAX 50
#define EMAIL_MAX 254
#define NAME_MAX_CHARS 100
#define REASON_MAX_CHARS 200
#define URL_MAX 512
#define AMOUNT_MAX 1000000000000LL      /* subunits */
#define WEBHOOK_TIMEOUT_MS 5000
#define ALNUM_LOWER "abcdefghijklmnopqrstuvwxyz0123456789"
#define INTEGRATION_ID 100001
#define PAYBILL "4084333"       /* the paybill mpesa_offline answers name */

struct txn {
    int64_t id;
    char reference[REF_MAX + 1];
    char access_code[16];
    char email[EMAIL_MAX + 1];
    int64_t amount;             /* asked, subunits */
    int64_t paid;               /* what verify shows: amount, or the pay override */
    char currency[4];
    char callback_url[URL_MAX];
    json_t *metadata;           /* owned; NULL when none was sent */
    const char *status;         /* ongoing | pending | success | failed | abandoned */
    const char *gateway_response;
    int64_t created_ms, paid_ms;
    bool charged;               /* an M-Pesa charge was made on it */
    char phone[PHONE_MAX];      /* the charge's, as sent */
    char provider[16];
    char account_reference[8];  /* mpesa_offline */
};

struct rcp {
    int64_t id;
    char code[24];              /* RCP_ + 15 */
    char name[NAME_MAX_CHARS * 4 + 1];
    char account[16];
    char bank_code[16];
    const char *bank_name;
    char currency[4];
    int64_t created_ms, updated_ms;
};

struct xfer {
    int64_t id;
    char reference[XREF_MAX + 1];
    char code[24];              /* TRF_ + 16 */
    int64_t amount;
    char currency[4];
    char reason[REASON_MAX_CHARS * 4 + 1];
    int64_t recipient_id;
    const char *status;         /* pending | success | failed | reversed */
    const char *failure;        /* NULL, or why it failed or was reversed */
    int64_t created_ms, updated_ms, transferred_ms;
};

/* A charge or transfer the sandbox settles by itself at `at` (sb_mono_ms). */
struct due {
    int64_t id;
    int64_t at;
    bool xfer;
};

struct sb_paystack {
    struct txn **v;
    size_t n, cap;
    int64_t next_id;
    struct xfer **x;
    size_t xn, xcap;
    int64_t next_xid;
    struct rcp **r;
    size_t rn, rcap;
    int64_t next_rid;
    /* due times rise with the index (one delay for all): q[qhead..qn) wait */
    struct due *q;
    size_t qhead, qn, qcap;
    pthread_cond_t cv;          /* with sb->mu: something was queued, or stop */
    pthread_t settler;
    bool settler_running, stop;
};

static const char *const currencies[] = {"KES", "NGN", "GHS", "ZAR", "USD"};

/* What the customer can do, and what verify then says. */
static const struct outcome {
    const char *status, *gateway_response;
} outcomes[] = {
    {"success", "Successful"},
    {"failed", "Declined"},
    {"abandoned", "The transaction was not completed"},
};

/* What the settling customer of an M-Pesa charge does (by amount). */
static const struct outcome charge_paid = {"success", "Approved"};
static const struct outcome charge_no_funds = {"failed", "Insufficient funds"};
static const struct outcome charge_declined = {"failed", "Declined by the customer"};
static const struct outcome charge_unanswered = {"abandoned", "The customer did not answer the prompt"};

/* What the payout network does to a transfer. */
static const struct outcome xfer_outcomes[] = {
    {"success", NULL},
    {"failed", "The wallet could not be reached"},
    {"reversed", "The wallet refused the transfer; the amount is back in the balance"},
};

/* Paystack's list of banks, as GET /bank gives it. */
static const struct bank {
    const char *name, *slug, *code, *currency, *type, *country;
    int id;
} banks[] = {
    {"M-PESA", "mpesa", "MPESA", "KES", "mobile_money", "Kenya", 281},
    {"Airtel Money", "airtel-money-ke", "AIRTEL", "KES", "mobile_money", "Kenya", 282},
    {"M-PESA Till", "mpesa-till", "MPTILL", "KES", "mobile_money_business", "Kenya", 283},
    {"AirtelTigo", "atl-mobile-money", "ATL", "GHS", "mobile_money", "Ghana", 29},
    {"MTN", "mtn-mobile-money", "MTN", "GHS", "mobile_money", "Ghana", 28},
    {"Vodafone", "vod-mobile-money", "VOD", "GHS", "mobile_money", "Ghana", 66},
    {"Access Bank", "access-bank", "044", "NGN", "nuban", "Nigeria", 1},
    {"Guaranty Trust Bank", "guaranty-trust-bank", "058", "NGN", "nuban", "Nigeria", 9},
};

/* ---- small helpers ---- */

static void ps_error(struct http_resp *resp, int status, const char *msg)
{
    api_json(resp, status, json_pack("{s:b, s:s}", "status", 0, "message", msg));
}

/* Answers an injected fault; true when one was armed. */
static bool fault(struct sandbox *sb, struct http_resp *resp)
{
    int st = sb_fail_take(sb, SB_PAYSTACK);
    if (!st)
        return false;
    ps_error(resp, st, sb_reason(st));
    return true;
}

static bool bearer(struct sandbox *sb, struct http_req *req, struct http_resp *resp)
{
    const char *auth = http_header(req, "Authorization");
    bool ok = false;
    if (auth && strlen(auth) > 7 && !strncasecmp(auth, "Bearer ", 7)) {
        const char *given = auth + 7;
        while (*given == ' ')
            given++;
        ok = crypto_streq(given, sb->cred.paystack_secret);
    }
    if (!ok) {
        log_warn("paystack.auth_rejected", "path=%s reason=\"%s\"", req->path,
                 auth ? "wrong key" : "no Authorization header");
        ps_error(resp, 401, "Invalid key");
    }
    return ok;
}

/* The request body as a JSON object, or NULL after answering 400. */
static json_t *body_object(struct http_req *req, struct http_resp *resp)
{
    json_t *o = json_loadb(req->body, req->body_len, 0, NULL);
    if (json_is_object(o))
        return o;
    json_decref(o);
    ps_error(resp, 400, "Invalid request body: a JSON object is expected");
    return NULL;
}

static bool reference_ok(const char *s)
{
    size_t n = strlen(s);
    if (n < 1 || n > REF_MAX)
        return false;
    for (; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') ||
              *s == '-' || *s == '.' || *s == '='))
            return false;
    return true;
}

/* A transfer reference: lowercase letters, digits, '-' and '_'. */
static bool xref_ok(const char *s)
{
    size_t n = strlen(s);
    if (n < XREF_MIN || n > XREF_MAX)
        return false;
    for (; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') || *s == '-' || *s == '_'))
            return false;
    return true;
}

static bool email_ok(const char *s)
{
    const char *at = strchr(s, '@');
    if (!at || at == s || !at[1] || strlen(s) > EMAIL_MAX)
        return false;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++)
        if (*p <= ' ' || *p == 0x7f)
            return false;
    return true;
}

/* 1 to max characters of clean UTF-8, no newline. */
static bool text_ok(const char *s, size_t max_chars)
{
    size_t chars = 0;
    if (!s || !*s || !str_is_clean_utf8(s, strlen(s)) || strchr(s, '\n'))
        return false;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++)
        if ((*p & 0xC0) != 0x80)
            chars++;
    return chars <= max_chars;
}

/* amount: an integer or a digit string, 1..AMOUNT_MAX subunits. */
static bool amount_of(const json_t *v, int64_t *out)
{
    if (json_is_integer(v))
        *out = json_integer_value(v);
    else if (!json_is_string(v) || !str_to_i64(json_string_value(v), 1, AMOUNT_MAX, out))
        return false;
    return *out >= 1 && *out <= AMOUNT_MAX;
}

/* currency, or the merchant's NGN when absent; NULL when not taken. */
static const char *currency_of(const json_t *cur)
{
    if (!cur || json_is_null(cur))
        return "NGN";
    for (size_t i = 0; json_is_string(cur) && i < sizeof currencies / sizeof *currencies; i++)
        if (!strcmp(json_string_value(cur), currencies[i]))
            return currencies[i];
    return NULL;
}

/* A Kenyan mobile number in a form Paystack's samples write it: +2547...,
 * 2547... (or 1 for the 01 ranges). */
static bool charge_phone_ok(const char *s)
{
    if (*s == '+')
        s++;
    return strlen(s) == 12 && str_is_digits(s) && !strncmp(s, "254", 3) && (s[3] == '7' || s[3] == '1');
}

/* A wallet's number as a mobile-money recipient: 07..., 01..., 254...,
 * +254... */
static bool wallet_number_ok(const char *s)
{
    char e164[PHONE_MAX];
    size_t n = strlen(s);
    bool form = (n == 10 && s[0] == '0') || (n == 12 && s[0] == '2') || (n == 13 && s[0] == '+');
    return form && str_is_digits(s + (s[0] == '+')) && phone_normalize(s, e164);
}

static void iso_or_null(json_t *o, const char *key, int64_t ms)
{
    char t[32];
    str_iso_time(ms, t);
    json_object_set_new(o, key, ms ? json_string(t) : json_null());
}

static void txn_free(struct txn *t)
{
    if (t) {
        json_decref(t->metadata);
        free(t);
    }
}

/* Newest first; the transaction or NULL. Caller holds mu. */
static struct txn *find_ref(struct sb_paystack *p, const char *ref)
{
    for (size_t i = p->n; i-- > 0;)
        if (!strcmp(p->v[i]->reference, ref))
            return p->v[i];
    return NULL;
}

static struct txn *find_code(struct sb_paystack *p, const char *code)
{
    for (size_t i = p->n; i-- > 0;)
        if (!strcmp(p->v[i]->access_code, code))
            return p->v[i];
    return NULL;
}

/* By id (ids rise with the index); NULL once dropped. Caller holds mu. */
static struct txn *find_id(struct sb_paystack *p, int64_t id)
{
    size_t lo = 0, hi = p->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (p->v[mid]->id < id)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < p->n && p->v[lo]->id == id ? p->v[lo] : NULL;
}

/* Room for one more pointer in *v (n of cap), dropping the oldest tenth
 * past max. False on out of memory. */
static bool make_room(void ***v, size_t *n, size_t *cap, size_t max, void (*drop)(void *))
{
    if (*n >= max) {
        size_t k = max / 10;
        for (size_t i = 0; i < k; i++)
            drop((*v)[i]);
        memmove(*v, *v + k, (*n - k) * sizeof **v);
        *n -= k;
    }
    if (*n == *cap) {
        size_t c = *cap ? *cap * 2 : 256;
        void **nv = realloc(*v, c * sizeof *nv);
        if (!nv)
            return false;
        *v = nv, *cap = c;
    }
    return true;
}

static void drop_txn(void *t) { txn_free(t); }
static void drop_plain(void *x) { free(x); }

/* Stores t (taking it); false on out of memory. Caller holds mu. */
static bool txn_add(struct sb_paystack *p, struct txn *t)
{
    if (!make_room((void ***)&p->v, &p->n, &p->cap, TXN_MAX, drop_txn))
        return false;
    t->id = p->next_id++;
    p->v[p->n++] = t;
    return true;
}

/* The transaction as verify and the webhook show it (new). Caller holds mu. */
static json_t *txn_data(const struct txn *t)
{
    char created[32];
    str_iso_time(t->created_ms, created);
    json_t *md = t->metadata ? json_deep_copy(t->metadata) : json_null();
    json_t *d = json_pack("{s:I, s:s, s:s, s:s, s:I, s:I, s:n, s:s, s:s, s:s, s:s, s:s, s:o, s:n, "
                          "s:{s:s}}",
                          "id", (json_int_t)t->id, "domain", "test", "status", t->status,
                          "reference", t->reference, "amount", (json_int_t)t->paid,
                          "requested_amount", (json_int_t)t->amount, "message",
                          "gateway_response", t->gateway_response, "created_at", created,
                          "channel", t->charged ? "mobile_money" : "card", "currency", t->currency,
                          "ip_address", "127.0.0.1", "metadata", md, "fees",
                          "customer", "email", t->email);
    if (d)
        iso_or_null(d, "paid_at", t->paid_ms);
    if (d && t->charged)
        json_object_set_new(d, "authorization",
                            json_pack("{s:s, s:s, s:s, s:s, s:b}", "channel", "mobile_money", "bank",
                                      "M-PESA", "brand", "M-PESA", "country_code", "KE", "reusable", 0));
    return d;
}

/* The port lipad reaches us on, for authorization URLs. */
static unsigned our_port(struct sandbox *sb, struct http_req *req)
{
    pthread_mutex_lock(&sb->mu);
    unsigned port = sb->port;
    pthread_mutex_unlock(&sb->mu);
    const char *host = port ? NULL : http_header(req, "Host");
    const char *colon = host ? strrchr(host, ':') : NULL;
    int64_t p;
    if (colon && str_to_i64(colon + 1, 1, 65535, &p))
        port = (unsigned)p;
    return port;
}

/* Queues a charge (xfer false) or transfer to settle by itself; a no-op
 * without --paystack-settle-ms. Caller holds mu. */
static void settle_later(struct sandbox *sb, int64_t id, bool xfer)
{
    struct sb_paystack *p = sb->paystack;
    if (sb->paystack_settle_ms <= 0 || !p->settler_running)
        return;
    if (p->qhead > 0 && p->qn == p->qcap) {
        memmove(p->q, p->q + p->qhead, (p->qn - p->qhead) * sizeof *p->q);
        p->qn -= p->qhead, p->qhead = 0;
    }
    if (p->qn == p->qcap) {
        size_t c = p->qcap ? p->qcap * 2 : 256;
        struct due *nq = c <= TXN_MAX + XFER_MAX ? realloc(p->q, c * sizeof *nq) : NULL;
        if (!nq) {
            log_warn("paystack.settle_dropped", "id=%lld reason=\"queue full\"", (long long)id);
            return;
        }
        p->q = nq, p->qcap = c;
    }
    p->q[p->qn++] = (struct due){.id = id, .at = sb_mono_ms() + sb->paystack_settle_ms, .xfer = xfer};
    pthread_cond_signal(&p->cv);
}

/* ---- webhooks ---- */

/* POSTs a signed event; returns the receiver's HTTP status, 0 on failure. */
static int post_webhook(const char *secret, const char *url, const char *body, const char *how,
                        char *err, size_t errsz)
{
    uint8_t mac[64];
    char hex[129], sig_hdr[160];
    const char *key = strcmp(how, "bad") ? secret : "sk_test_forged_by_the_sandbox";
    crypto_hmac_sha512(key, strlen(key), body, strlen(body), mac);
    crypto_hex(mac, sizeof mac, hex, false);
    snprintf(sig_hdr, sizeof sig_hdr, "x-paystack-signature: %s", hex);
    const char *headers[] = {"Content-Type: application/json", strcmp(how, "none") ? sig_hdr : NULL,
                             NULL};
    struct httpc_req rq = {.method = "POST", .url = url, .headers = headers, .body = body,
                           .body_len = strlen(body), .timeout_ms = WEBHOOK_TIMEOUT_MS};
    struct httpc_resp rs;
    bool got = httpc_do(&rq, &rs);
    int status = got ? (int)rs.status : 0;
    if (!got)
        snprintf(err, errsz, "%s", rs.error);
    httpc_resp_free(&rs);
    return status;
}

/* {"event":name,"data":data} as text (malloc'ed), stealing data; NULL on
 * out of memory. */
static char *event_text(const char *name, json_t *data)
{
    json_t *ev = data ? json_pack("{s:s, s:o}", "event", name, "data", data) : NULL;
    char *text = ev ? json_dumps(ev, JSON_COMPACT) : NULL;
    json_decref(ev);
    return text;
}

/* The webhook_url of a control request (or the default); false after
 * answering 400 when it is there but not loopback http. */
static bool webhook_of(struct sandbox *sb, json_t *o, const char **url, struct http_resp *resp)
{
    const json_t *wu = json_object_get(o, "webhook_url");
    if (wu && !json_is_null(wu) &&
        (!json_is_string(wu) || strlen(json_string_value(wu)) >= URL_MAX ||
         !sb_url_is_loopback(json_string_value(wu)))) {
        sb_control_error(resp, 400, "webhook_url must be an http URL on a loopback host");
        return false;
    }
    *url = json_is_string(wu) ? json_string_value(wu) : sb->paystack_webhook[0] ? sb->paystack_webhook : NULL;
    return true;
}

/* The signature choice of a control request; NULL after answering 400. */
static const char *signature_of(json_t *o, struct http_resp *resp)
{
    const char *how = json_string_value(json_object_get(o, "signature"));
    if (how && strcmp(how, "good") && strcmp(how, "bad") && strcmp(how, "none")) {
        sb_control_error(resp, 400, "signature must be good, bad or none");
        return NULL;
    }
    return how ? how : "good";
}

/* Posts event to url (when both are there), logs it and adds what happened
 * to the control answer ans. */
static void deliver(struct sandbox *sb, json_t *ans, const char *url, const char *event, const char *how,
                    const char *ref, bool again)
{
    char err[256] = "";
    if (!event || !url)
        return;
    int status = post_webhook(sb->cred.paystack_secret, url, event, how, err, sizeof err);
    if (status)
        log_info("paystack.webhook_posted", "reference=%s status=%d signature=%s repeat=%s", ref, status, how,
                 again ? "yes" : "no");
    else
        log_warn("paystack.webhook_failed", "reference=%s error=\"%s\" retry=no", ref, err);
    if (!ans)
        return;
    json_t *w = json_pack("{s:s, s:i, s:s, s:s}", "url", url, "status", status, "signature", how, "body", event);
    if (w && !status)
        json_object_set_new(w, "error", json_string(err));
    json_object_set_new(ans, "webhook", w ? w : json_null());
}

/* ---- the hosted checkout ---- */

static void h_initialize(void *ctx, struct http_req *req, struct http_resp *resp)
{
    struct sandbox *sb = ctx;
    struct txn *t = NULL;
    json_t *o = NULL;
    if (fault(sb, resp) || !bearer(sb, req, resp) || !(o = body_object(req, resp)))
        return;
    const char *email = json_string_value(json_object_get(o, "email"));
    const json_t *ref = json_object_get(o, "reference");
    const json_t *cb = json_object_get(o, "callback_url"), *md = json_object_get(o, "metadata");
    int64_t amount;
    const char *currency = currency_of(json_object_get(o, "currency"));
    if (!email || !email_ok(email)) {
        ps_error(resp, 400, "Invalid Email Address Passed");
        goto out;
    }
    if (!amount_of(json_object_get(o, "amount"), &amount)) {
        ps_error(resp, 400, "Invalid Amount Sent");
        goto out;
    }
    if (!currency) {
        ps_error(resp, 400, "Currency not supported by merchant");
        goto out;
    }
    if (ref && !json_is_null(ref) && (!json_is_string(ref) || !reference_ok(json_string_value(ref)))) {
        ps_error(resp, 400, "Invalid transaction reference: use only -, ., = and alphanumeric "
                            "characters, at most 100");
        goto out;
    }
    if (cb && !json_is_null(cb) &&
        (!json_is_string(cb) || strlen(json_string_value(cb)) >= URL_MAX ||
         (strncmp(json_string_value(cb), "http://", 7) && strncmp(json_string_value(cb), "https://", 8)))) {
        ps_error(resp, 400, "Invalid callback_url");
        goto out;
    }

    t = calloc(1, sizeof *t);
    if (!t || !crypto_random_chars(t->access_code, 15, ALNUM_LOWER)) {
        ps_error(resp, 500, "Internal Server Error");
        goto out;
    }
    if (json_is_string(ref))
        str_copy(t->reference, sizeof t->reference, json_string_value(ref));
    else if (!crypto_random_chars(t->reference, 10, ALNUM_LOWER)) {
        ps_error(resp, 500, "Internal Server Error");
        goto out;
    }
    str_copy(t->email, sizeof t->email, email);
    t->amount = t->paid = amount;
    str_copy(t->currency, sizeof t->currency, currency);
    if (json_is_string(cb))
        str_copy(t->callback_url, sizeof t->callback_url, json_string_value(cb));
    if (md && !json_is_null(md) && !(t->metadata = json_deep_copy(md))) {
        ps_error(resp, 500, "Internal Server Error");
        goto out;
    }
    t->status = "ongoing";
    t->gateway_response = "Awaiting payment";
    t->created_ms = now_ms();
    /* what the answer needs: once stored, t may be dropped by another thread */
    char code[sizeof t->access_code], reference[sizeof t->reference];
    str_copy(code, sizeof code, t->access_code);
    str_copy(reference, sizeof reference, t->reference);

    pthread_mutex_lock(&sb->mu);
    bool dup = find_ref(sb->paystack, t->reference) != NULL;
    bool added = !dup && txn_add(sb->paystack, t);
    pthread_mutex_unlock(&sb->mu);
    if (dup) {
        log_info("paystack.initialize_rejected", "reference=%s reason=duplicate", reference);
        ps_error(resp, 400, "Duplicate Transaction Reference");
        goto out;
    }
    if (!added) {
        ps_error(resp, 500, "Internal Server Error");
        goto out;
    }
    t = NULL; /* the store owns it */
    char url[160];
    snprintf(url, sizeof url, "http://127.0.0.1:%u/sandbox/paystack/checkout/%s", our_port(sb, req), code);
    log_info("paystack.initialize", "reference=%s amount=%lld currency=%s", reference, (long long)amount,
             currency);
    api_json(resp, 200, json_pack("{s:b, s:s, s:{s:s, s:s, s:s}}", "status", 1, "message",
                                  "Authorization URL created", "data", "authorization_url", url,
                                  "access_code", code, "reference", reference));
out:
    txn_free(t);
    json_decref(o);
}

static void h_verify(void *ctx, struct http_req *req, struct http_resp *resp)
{
    struct sandbox *sb = ctx;
    if (fault(sb, resp) || !bearer(sb, req, resp))
        return;
    const char *ref = req->params[0];
    pthread_mutex_lock(&sb->mu);
    struct txn *t = find_ref(sb->paystack, ref);
    json_t *data = t ? txn_data(t) : NULL;
    const char *status = t ? t->status : "-";
    pthread_mutex_unlock(&sb->mu);
    if (!t) {
        log_info("paystack.verify", "reference=%s found=no", reference_ok(ref) ? ref : "-");
        ps_error(resp, 400, "Transaction reference not found");
        return;
    }
    if (!data) {
        ps_error(resp, 500, "Internal Server Error");
        return;
    }
    log_info("paystack.verify", "reference=%s status=%s", ref, status);
    api_json(resp, 200, json_pack("{s:b, s:s, s:o}", "status", 1, "message", "Verification successful",
                                  "data", data));
}

/* ---- M-Pesa charges ---- */

/* The checked fields of a charge request. */
struct charge_req {
    const char *email, *currency, *phone, *provider;
    int64_t amount;
    const json_t *ref, *md;
};

/* Paystack's first complaint about a charge request, or NULL. */
static const char *charge_problem(json_t *o, struct charge_req *c)
{
    const json_t *mm = json_object_get(o, "mobile_money");
    c->email = json_string_value(json_object_get(o, "email"));
    c->ref = json_object_get(o, "reference");
    c->md = json_object_get(o, "metadata");
    c->currency = currency_of(json_object_get(o, "currency"));
    c->phone = json_string_value(json_object_get(mm, "phone"));
    c->provider = json_string_value(json_object_get(mm, "provider"));
    if (!c->email || !email_ok(c->email))
        return "Invalid Email Address Passed";
    if (!amount_of(json_object_get(o, "amount"), &c->amount))
        return "Invalid Amount Sent";
    if (!c->currency)
        return "Currency not supported by merchant";
    if (!json_is_object(mm))
        return "This sandbox charges mobile_money only: send mobile_money {phone, provider}";
    if (!c->provider || (strcmp(c->provider, "mpesa") && strcmp(c->provider, "mpesa_offline")))
        return "Invalid mobile money provider: mpesa or mpesa_offline";
    if (strcmp(c->currency, "KES"))
        return "M-PESA charges are in KES only";
    if (!c->phone || !charge_phone_ok(c->phone))
        return "Invalid phone number";
    if (c->ref && !json_is_null(c->ref) && (!json_is_string(c->ref) || !reference_ok(json_string_value(c->ref))))
        return "Invalid transaction reference: use only -, ., = and alphanumeric characters, at most 100";
    return NULL;
}

/* Makes t the charge c asks for. Caller holds mu (or owns t alone). */
static void charge_apply(struct txn *t, const struct charge_req *c)
{
    t->charged = true;
    t->status = "pending";
    t->gateway_response = "Awaiting the customer's M-PESA PIN";
    str_copy(t->phone, sizeof t->phone, c->phone);
    str_copy(t->provider, sizeof t->provider, c->provider);
    if (!strcmp(c->provider, "mpesa_offline") && !crypto_random_chars(t->account_reference, 7, "0123456789"))
        str_copy(t->account_reference, sizeof t->account_reference, "1234567");
}

static void h_charge(void *ctx, struct http_req *req, struct http_resp *resp)
{
    struct sandbox *sb = ctx;
    struct txn *t = NULL;
    json_t *o = NULL;
    struct charge_req c;
    const char *why, *refused = NULL;
    char masked[20] = "-", reference[REF_MAX + 1], account_ref[8] = "";
    if (fault(sb, resp) || !bearer(sb, req, resp) || !(o = body_object(req, resp)))
        return;
    if ((why = charge_problem(o, &c))) {
        log_info("paystack.charge_rejected", "reason=\"%s\"", why);
        ps_error(resp, 400, why);
        goto out;
    }
    log_phone(c.phone, masked);
    if (json_is_string(c.ref))
        str_copy(reference, sizeof reference, json_string_value(c.ref));
    else if (!crypto_random_chars(reference, 15, ALNUM_LOWER)) {
        ps_error(resp, 500, "Internal Server Error");
        goto out;
    }

    /* a new transaction, unless initialize made this reference */
    t = calloc(1, sizeof *t);
    if (!t || (c.md && !json_is_null(c.md) && !(t->metadata = json_deep_copy(c.md)))) {
        ps_error(resp, 500, "Internal Server Error");
        goto out;
    }
    str_copy(t->reference, sizeof t->reference, reference);
    str_copy(t->email, sizeof t->email, c.email);
    str_copy(t->currency, sizeof t->currency, c.currency);
    t->amount = t->paid = c.amount;
    t->created_ms = now_ms();
    charge_apply(t, &c);

    pthread_mutex_lock(&sb->mu);
    struct txn *old = find_ref(sb->paystack, reference);
    if (old && (old->charged || strcmp(old->status, "ongoing")))
        refused = "Duplicate Transaction Reference";
    else if (old && (old->amount != c.amount || strcmp(old->currency, c.currency) || strcasecmp(old->email, c.email)))
        refused = "The amount, currency and email must be those the transaction was initialized with";
    else if (old) {
        charge_apply(old, &c);
        if (t->metadata && !old->metadata)
            old->metadata = json_incref(t->metadata);
        str_copy(account_ref, sizeof account_ref, old->account_reference);
        settle_later(sb, old->id, false);
    } else if (txn_add(sb->paystack, t)) {
        str_copy(account_ref, sizeof account_ref, t->account_reference);
        settle_later(sb, t->id, false);
        t = NULL; /* the store owns it */
    } else {
        refused = "Internal Server Error";
    }
    pthread_mutex_unlock(&sb->mu);
    if (refused) {
        log_info("paystack.charge_rejected", "reference=%s reason=\"%s\"", reference, refused);
        ps_error(resp, strcmp(refused, "Internal Server Error") ? 400 : 500, refused);
        goto out;
    }
    log_info("paystack.charge", "reference=%s phone=%s amount=%lld provider=%s initialized=%s settle_in_ms=%lld",
             reference, masked, (long long)c.amount, c.provider, old ? "yes" : "no",
             (long long)sb->paystack_settle_ms);
    json_t *data = json_pack("{s:s, s:s, s:s}", "reference", reference, "status", "pay_offline", "display_text",
                             "Please complete authorization process on your mobile phone");
    if (data && account_ref[0]) {
        json_object_set_new(data, "account_number", json_string(PAYBILL));
        json_object_set_new(data, "account_reference", json_string(account_ref));
    }
    api_json(resp, 200, data ? json_pack("{s:b, s:s, s:o}", "status", 1, "message", "Charge attempted", "data", data)
                             : NULL);
out:
    txn_free(t);
    json_decref(o);
}

static void h_charge_check(void *ctx, struct http_req *req, struct http_resp *resp)
{
    struct sandbox *sb = ctx;
    if (fault(sb, resp) || !bearer(sb, req, resp))
        return;
    const char *ref = req->params[0];
    json_t *ans = NULL;
    pthread_mutex_lock(&sb->mu);
    struct txn *t = find_ref(sb->paystack, ref);
    const char *status = t ? t->status : "-";
    if (t && !strcmp(t->status, "success"))
        ans = json_pack("{s:b, s:s, s:o}", "status", 1, "message", "Charge attempted", "data", txn_data(t));
    else if (t && (!strcmp(t->status, "failed") || !strcmp(t->status, "abandoned")))
        ans = json_pack("{s:b, s:s, s:{s:s, s:s, s:s}}", "status", 1, "message", "Reference check successful",
                        "data", "reference", t->reference, "status", t->status, "message", t->gateway_response);
    else if (t)
        ans = json_pack("{s:b, s:s, s:{s:s, s:s}}", "status", 1, "message", "Reference check successful", "data",
                        "reference", t->reference, "status", "pending");
    pthread_mutex_unlock(&sb->mu);
    log_info("paystack.charge_check", "reference=%s status=%s", reference_ok(ref) ? ref : "-", status);
    if (!t)
        ps_error(resp, 400, "Transaction reference not found");
    else
        api_json(resp, 200, ans);
}

/* ---- payouts ---- */

static const struct bank *bank_find(const char *code, const char *currency)
{
    for (size_t i = 0; i < sizeof banks / sizeof *banks; i++)
        if (!strcmp(banks[i].code, code) && !strcmp(banks[i].currency, currency) &&
            !strcmp(banks[i].type, "mobile_money"))
            return &banks[i];
    return NULL;
}

static void h_banks(void *ctx, struct http_req *req, struct http_resp *resp)
{
    struct sandbox *sb = ctx;
    if (fault(sb, resp) || !bearer(sb, req, resp))
        return;
    const char *currency = http_query(req, "currency"), *type = http_query(req, "type");
    json_t *list = json_array();
    for (size_t i = 0; list && i < sizeof banks / sizeof *banks; i++) {
        const struct bank *b = &banks[i];
        if (strcmp(b->currency, currency && *currency ? currency : "NGN") || (type && *type && strcmp(b->type, type)))
            continue;
        json_array_append_new(list, json_pack("{s:s, s:s, s:s, s:s, s:n, s:b, s:b, s:n, s:s, s:s, s:s, s:i, "
                                              "s:s, s:s}",
                                              "name", b->name, "slug", b->slug, "code", b->code, "longcode", "",
                                              "gateway", "pay_with_bank", 0, "active", 1, "is_deleted",
                                              "country", b->country, "currency", b->currency, "type", b->type,
                                              "id", b->id, "createdAt", "2023-07-03T12:00:00.000Z", "updatedAt",
                                              "2023-07-03T12:00:00.000Z"));
    }
    log_info("paystack.banks", "currency=%s type=%s found=%zu", currency && *currency ? currency : "NGN",
             type && *type ? type : "-", list ? json_array_size(list) : 0);
    api_json(resp, 200, list ? json_pack("{s:b, s:s, s:o, s:{s:n, s:n, s:i}}", "status", 1, "message",
                                         "Banks retrieved", "data", list, "meta", "next", "previous", "perPage", 50)
                             : NULL);
}

static struct rcp *rcp_by_code(struct sb_paystack *p, const char *code)
{
    for (size_t i = p->rn; i-- > 0;)
        if (!strcmp(p->r[i]->code, code))
            return p->r[i];
    return NULL;
}

static struct rcp *rcp_by_id(struct sb_paystack *p, int64_t id)
{
    for (size_t i = p->rn; i-- > 0;)
        if (p->r[i]->id == id)
            return p->r[i];
    return NULL;
}

/* The recipient as Paystack shows it (new). Caller holds mu. */
static json_t *rcp_data(const struct rcp *r)
{
    char created[32], updated[32];
    str_iso_time(r->created_ms, created);
    str_iso_time(r->updated_ms, updated);
    return json_pack("{s:b, s:s, s:s, s:s, s:s, s:n, s:I, s:i, s:n, s:s, s:s, s:s, s:s, s:b, s:b, "
                     "s:{s:n, s:s, s:n, s:s, s:s}}",
                     "active", 1, "createdAt", created, "currency", r->currency, "description", "", "domain",
                     "test", "email", "id", (json_int_t)r->id, "integration", INTEGRATION_ID, "metadata", "name",
                     r->name, "recipient_code", r->code, "type", "mobile_money", "updatedAt", updated,
                     "is_deleted", 0, "isDeleted", 0, "details", "authorization_code", "account_number",
                     r->account, "account_name", "bank_code", r->bank_code, "bank_name", r->bank_name);
}

static void h_recipient(void *ctx, struct http_req *req, struct http_resp *resp)
{
    struct sandbox *sb = ctx;
    json_t *o = NULL, *data = NULL;
    struct rcp *r = NULL;
    char masked[20] = "-";
    if (fault(sb, resp) || !bearer(sb, req, resp) || !(o = body_object(req, resp)))
        return;
    const char *type = json_string_value(json_object_get(o, "type"));
    const char *name = json_string_value(json_object_get(o, "name"));
    const char *account = json_string_value(json_object_get(o, "account_number"));
    const char *code = json_string_value(json_object_get(o, "bank_code"));
    const char *currency = currency_of(json_object_get(o, "currency"));
    const struct bank *b = NULL;
    const char *why = NULL;
    if (!type || strcmp(type, "mobile_money"))
        why = "This sandbox takes mobile_money recipients only";
    else if (!text_ok(name, NAME_MAX_CHARS))
        why = "Name is required: 1 to 100 characters";
    else if (!currency)
        why = "Currency not supported by merchant";
    else if (!code || !(b = bank_find(code, currency)))
        why = "Invalid bank code";
    else if (!account || (!strcmp(currency, "KES") && !wallet_number_ok(account)) || strlen(account) >= 16)
        why = "Account number is invalid";
    if (why) {
        log_info("paystack.recipient_rejected", "reason=\"%s\"", why);
        ps_error(resp, 400, why);
        goto out;
    }
    /* one wallet, one recipient, however its number is written */
    char wallet[16], e164[PHONE_MAX];
    if (!strcmp(currency, "KES") && phone_normalize(account, e164))
        snprintf(wallet, sizeof wallet, "0%s", e164 + 4);
    else
        str_copy(wallet, sizeof wallet, account);
    account = wallet;
    log_phone(account, masked);
    pthread_mutex_lock(&sb->mu);
    struct sb_paystack *p = sb->paystack;
    for (size_t i = p->rn; !r && i-- > 0;)
        if (!strcmp(p->r[i]->account, account) && !strcmp(p->r[i]->bank_code, b->code) &&
            !strcmp(p->r[i]->currency, currency))
            r = p->r[i];
    bool existed = r != NULL;
    if (!r && (r = calloc(1, sizeof *r)) &&
        (!crypto_random_chars(r->code + 4, 15, ALNUM_LOWER) ||
         !make_room((void ***)&p->r, &p->rn, &p->rcap, RCP_MAX, drop_plain))) {
        free(r);
        r = NULL;
    }
    if (r && !existed) {
        memcpy(r->code, "RCP_", 4);
        r->id = p->next_rid++;
        str_copy(r->account, sizeof r->account, account);
        str_copy(r->bank_code, sizeof r->bank_code, b->code);
        r->bank_name = b->name;
        str_copy(r->currency, sizeof r->currency, currency);
        r->created_ms = now_ms();
        p->r[p->rn++] = r;
    }
    if (r) {
        str_copy(r->name, sizeof r->name, name);
        r->updated_ms = now_ms();
        data = rcp_data(r);
        log_info("paystack.recipient", "code=%s account=%s bank=%s existed=%s", r->code, masked, r->bank_code,
                 existed ? "yes" : "no");
    }
    pthread_mutex_unlock(&sb->mu);
    api_json(resp, data ? 200 : 500,
             data ? json_pack("{s:b, s:s, s:o}", "status", 1, "message", "Transfer recipient created successfully",
                              "data", data)
                  : json_pack("{s:b, s:s}", "status", 0, "message", "Internal Server Error"));
out:
    json_decref(o);
}

static struct xfer *xfer_by_ref(struct sb_paystack *p, const char *ref)
{
    for (size_t i = p->xn; i-- > 0;)
        if (!strcmp(p->x[i]->reference, ref))
            return p->x[i];
    return NULL;
}

static struct xfer *xfer_by_id(struct sb_paystack *p, int64_t id)
{
    size_t lo = 0, hi = p->xn;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (p->x[mid]->id < id)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < p->xn && p->x[lo]->id == id ? p->x[lo] : NULL;
}

/* The transfer as Paystack shows it (new): the initiate answer names the
 * recipient by id, verify and the webhook show it whole. Caller holds mu. */
static json_t *xfer_data(struct sb_paystack *p, const struct xfer *x, bool whole)
{
    char created[32], updated[32];
    str_iso_time(x->created_ms, created);
    str_iso_time(x->updated_ms, updated);
    const struct rcp *r = whole ? rcp_by_id(p, x->recipient_id) : NULL;
    json_t *d = json_pack("{s:I, s:s, s:s, s:s, s:o, s:I, s:i, s:s, s:s, s:s, s:n, s:s, s:n, s:s, s:s, s:s?, s:n, "
                          "s:{s:n, s:n}}",
                          "amount", (json_int_t)x->amount, "createdAt", created, "currency", x->currency, "domain",
                          "test", "failures", x->failure ? json_string(x->failure) : json_null(), "id",
                          (json_int_t)x->id, "integration", INTEGRATION_ID, "reason", x->reason, "reference",
                          x->reference, "source", "balance", "source_details", "status", x->status, "titan_code",
                          "transfer_code", x->code, "updatedAt", updated, "gateway_response", x->failure,
                          "fees_breakdown", "session", "provider", "id");
    if (!d)
        return NULL;
    iso_or_null(d, "transferred_at", x->transferred_ms);
    json_object_set_new(d, "recipient", r ? rcp_data(r) : json_integer((json_int_t)x->recipient_id));
    return d;
}

static void h_transfer(void *ctx, struct http_req *req, struct http_resp *resp)
{
    struct sandbox *sb = ctx;
    json_t *o = NULL, *data = NULL;
    struct xfer *x = NULL;
    if (fault(sb, resp) || !bearer(sb, req, resp) || !(o = body_object(req, resp)))
        return;
    const char *source = json_string_value(json_object_get(o, "source"));
    const char *code = json_string_value(json_object_get(o, "recipient"));
    const json_t *ref = json_object_get(o, "reference"), *rs = json_object_get(o, "reason");
    const json_t *cur = json_object_get(o, "currency");
    int64_t amount;
    const char *why = NULL;
    int status = 400;
    if (!source || strcmp(source, "balance"))
        why = "Invalid source: only balance is supported";
    else if (!amount_of(json_object_get(o, "amount"), &amount))
        why = "Invalid Amount Sent";
    else if (ref && !json_is_null(ref) && (!json_is_string(ref) || !xref_ok(json_string_value(ref))))
        why = "Invalid transfer reference: 16 to 50 lowercase letters, digits, - and _";
    else if (rs && !json_is_null(rs) && (!json_is_string(rs) || (*json_string_value(rs) &&
                                                              !text_ok(json_string_value(rs), REASON_MAX_CHARS))))
        why = "Invalid reason: at most 200 characters";
    if (why)
        goto refuse;
    x = calloc(1, sizeof *x);
    if (!x || (json_is_string(ref) ? !str_copy(x->reference, sizeof x->reference, json_string_value(ref))
                                   : !crypto_random_chars(x->reference, 16, ALNUM_LOWER)) ||
        !crypto_random_chars(x->code + 4, 16, ALNUM_LOWER)) {
        why = "Internal Server Error", status = 500;
        goto refuse;
    }
    memcpy(x->code, "TRF_", 4);
    x->amount = amount;
    if (json_is_string(rs))
        str_copy(x->reason, sizeof x->reason, json_string_value(rs));
    x->status = "pending";
    x->created_ms = x->updated_ms = now_ms();

    pthread_mutex_lock(&sb->mu);
    struct sb_paystack *p = sb->paystack;
    const struct rcp *r = code ? rcp_by_code(p, code) : NULL;
    if (!r)
        why = "Recipient specified is invalid";
    else if (cur && !json_is_null(cur) && (!json_is_string(cur) || strcmp(json_string_value(cur), r->currency)))
        why = "Currency does not match the recipient's";
    else if (xfer_by_ref(p, x->reference))
        why = "Duplicate Transfer Reference";
    else if (!make_room((void ***)&p->x, &p->xn, &p->xcap, XFER_MAX, drop_plain))
        why = "Internal Server Error", status = 500;
    if (!why) {
        str_copy(x->currency, sizeof x->currency, r->currency);
        x->recipient_id = r->id;
        x->id = p->next_xid++;
        p->x[p->xn++] = x;
        data = xfer_data(p, x, false);
        settle_later(sb, x->id, true);
        log_info("paystack.transfer", "reference=%s amount=%lld recipient=%s settle_in_ms=%lld", x->reference,
                 (long long)amount, r->code, (long long)sb->paystack_settle_ms);
        x = NULL; /* the store owns it */
    }
    pthread_mutex_unlock(&sb->mu);
    if (why)
        goto refuse;
    api_json(resp, 200, data ? json_pack("{s:b, s:s, s:o}", "status", 1, "message", "Transfer has been queued",
                                         "data", data)
                             : NULL);
    goto out;
refuse:
    log_info("paystack.transfer_rejected", "reference=%s reason=\"%s\"",
             json_is_string(ref) && xref_ok(json_string_value(ref)) ? json_string_value(ref) : "-", why);
    if (!strcmp(why, "Recipient specified is invalid"))
        api_json(resp, 400, json_pack("{s:b, s:s, s:{s:s}, s:s, s:s}", "status", 0, "message", why, "meta",
                                      "nextStep", "Provide a valid recipient. Ensure you are passing the recipient "
                                                  "code in the recipient param",
                                      "type", "validation_error", "code", "invalid_transfer_recipient"));
    else
        ps_error(resp, status, why);
out:
    free(x);
    json_decref(o);
}

static void h_transfer_verify(void *ctx, struct http_req *req, struct http_resp *resp)
{
    struct sandbox *sb = ctx;
    if (fault(sb, resp) || !bearer(sb, req, resp))
        return;
    const char *ref = req->params[0];
    pthread_mutex_lock(&sb->mu);
    struct xfer *x = xfer_by_ref(sb->paystack, ref);
    json_t *data = x ? xfer_data(sb->paystack, x, true) : NULL;
    const char *status = x ? x->status : "-";
    pthread_mutex_unlock(&sb->mu);
    log_info("paystack.transfer_verify", "reference=%s status=%s", xref_ok(ref) ? ref : "-", status);
    if (!x)
        ps_error(resp, 404, "Transfer not found");
    else
        api_json(resp, 200, data ? json_pack("{s:b, s:s, s:o}", "status", 1, "message", "Transfer retrieved",
                                             "data", data)
                                 : NULL);
}

/* ---- the customer and the payout network (control endpoints) ---- */

static void h_checkout(void *ctx, struct http_req *req, struct http_resp *resp)
{
    struct sandbox *sb = ctx;
    char text[768];
    pthread_mutex_lock(&sb->mu);
    const struct txn *t = find_code(sb->paystack, req->params[0]);
    if (t)
        snprintf(text, sizeof text,
                 "Paystack sandbox checkout for %s\n"
                 "Amount: %lld %s (subunits)\nStatus: %s\n"
                 "Pay with: POST /sandbox/paystack/pay "
                 "{\"reference\":\"%s\",\"outcome\":\"success\",\"webhook_url\":\"...\"}\n",
                 t->reference, (long long)t->amount, t->currency, t->status, t->reference);
    pthread_mutex_unlock(&sb->mu);
    if (!t) {
        http_resp_text(resp, 404, "text/plain", "Paystack sandbox: no transaction has this access code\n");
        return;
    }
    http_resp_text(resp, 200, "text/plain; charset=utf-8", text);
}

static bool waiting(const struct txn *t)
{
    return !strcmp(t->status, "ongoing") || !strcmp(t->status, "pending");
}

/* Settles t as oc says (paid: what the customer paid, 0 for the amount
 * asked). Caller holds mu. */
static void txn_settle(struct txn *t, const struct outcome *oc, int64_t paid)
{
    t->status = oc->status;
    t->gateway_response = oc->gateway_response;
    t->paid = paid ? paid : t->amount;
    t->paid_ms = !strcmp(oc->status, "success") ? now_ms() : 0;
}

/* The event a settled transaction sends (malloc'ed), or NULL when it sends
 * none: charge.success for any success, charge.failed for a failed M-Pesa
 * charge. Caller holds mu. */
static char *txn_event(const struct txn *t)
{
    if (!strcmp(t->status, "success"))
        return event_text("charge.success", txn_data(t));
    if (t->charged && !strcmp(t->status, "failed"))
        return event_text("charge.failed", txn_data(t));
    return NULL;
}

static void h_pay(void *ctx, struct http_req *req, struct http_resp *resp)
{
    struct sandbox *sb = ctx;
    char *event = NULL, ref[REF_MAX + 1], redirect[URL_MAX + 2 * REF_MAX + 32] = "";
    const char *final = NULL, *webhook = NULL, *how;
    json_t *o = json_loadb(req->body, req->body_len, 0, NULL);
    if (!json_is_object(o)) {
        sb_control_error(resp, 400, "body must be a JSON object");
        goto out;
    }
    const char *r = json_string_value(json_object_get(o, "reference"));
    const char *asked = json_string_value(json_object_get(o, "outcome"));
    const struct outcome *oc = NULL;
    for (size_t i = 0; asked && i < sizeof outcomes / sizeof *outcomes; i++)
        if (!strcmp(asked, outcomes[i].status))
            oc = &outcomes[i];
    const json_t *am = json_object_get(o, "amount");
    int64_t amount = 0;
    if (!r || !str_copy(ref, sizeof ref, r)) {
        sb_control_error(resp, 400, "reference: missing or too long");
        goto out;
    }
    if (!oc) {
        sb_control_error(resp, 400, "outcome must be success, failed or abandoned");
        goto out;
    }
    if (am && !json_is_null(am) && !amount_of(am, &amount)) {
        sb_control_error(resp, 400, "amount must be an integer > 0 (subunits)");
        goto out;
    }
    if (!webhook_of(sb, o, &webhook, resp) || !(how = signature_of(o, resp)))
        goto out;

    pthread_mutex_lock(&sb->mu);
    struct txn *t = find_ref(sb->paystack, ref);
    bool found = t != NULL, open = t && waiting(t);
    bool again = t && !open && !strcmp(t->status, oc->status);
    /* a success stays; a settled charge stays; a failed checkout may be paid */
    bool conflict = t && !open && !again && (!strcmp(t->status, "success") || t->charged);
    if (found && !again && !conflict)
        txn_settle(t, oc, amount);
    if (found && !conflict) {
        final = t->status;
        if (t->callback_url[0])
            snprintf(redirect, sizeof redirect, "%s%strxref=%s&reference=%s", t->callback_url,
                     strchr(t->callback_url, '?') ? "&" : "?", t->reference, t->reference);
        event = webhook ? txn_event(t) : NULL;
    }
    bool wants_event = found && !conflict && webhook && (!strcmp(final, "success") ||
                                                         (t->charged && !strcmp(final, "failed")));
    pthread_mutex_unlock(&sb->mu);
    if (!found) {
        sb_control_error(resp, 404, "unknown reference");
        goto out;
    }
    if (conflict) {
        sb_control_error(resp, 409, "the transaction is settled already");
        goto out;
    }
    if (wants_event && !event) {
        sb_control_error(resp, 500, "out of memory");
        goto out;
    }
    log_info("paystack.pay", "reference=%s outcome=%s repeat=%s", ref, final, again ? "yes" : "no");
    json_t *ans = json_pack("{s:b, s:s, s:s}", "ok", 1, "reference", ref, "status", final);
    if (ans && redirect[0])
        json_object_set_new(ans, "redirect", json_string(redirect));
    deliver(sb, ans, webhook, event, how, ref, again);
    api_json(resp, 200, ans);
out:
    free(event);
    json_decref(o);
}

/* Settles x as oc says. Caller holds mu. */
static void xfer_settle(struct xfer *x, const struct outcome *oc)
{
    x->status = oc->status;
    x->failure = oc->gateway_response;
    x->updated_ms = now_ms();
    if (!strcmp(oc->status, "success"))
        x->transferred_ms = x->updated_ms;
}

static void h_transfer_control(void *ctx, struct http_req *req, struct http_resp *resp)
{
    struct sandbox *sb = ctx;
    char *event = NULL, ref[XREF_MAX + 1], name[32];
    const char *webhook = NULL, *how, *final = NULL;
    json_t *o = json_loadb(req->body, req->body_len, 0, NULL);
    if (!json_is_object(o)) {
        sb_control_error(resp, 400, "body must be a JSON object");
        goto out;
    }
    const char *r = json_string_value(json_object_get(o, "reference"));
    const char *asked = json_string_value(json_object_get(o, "outcome"));
    const struct outcome *oc = NULL;
    for (size_t i = 0; asked && i < sizeof xfer_outcomes / sizeof *xfer_outcomes; i++)
        if (!strcmp(asked, xfer_outcomes[i].status))
            oc = &xfer_outcomes[i];
    if (!r || !str_copy(ref, sizeof ref, r)) {
        sb_control_error(resp, 400, "reference: missing or too long");
        goto out;
    }
    if (!oc) {
        sb_control_error(resp, 400, "outcome must be success, failed or reversed");
        goto out;
    }
    if (!webhook_of(sb, o, &webhook, resp) || !(how = signature_of(o, resp)))
        goto out;

    pthread_mutex_lock(&sb->mu);
    struct xfer *x = xfer_by_ref(sb->paystack, ref);
    bool found = x != NULL, open = x && !strcmp(x->status, "pending");
    bool again = x && !open && !strcmp(x->status, oc->status);
    bool reversal = x && !strcmp(x->status, "success") && !strcmp(oc->status, "reversed");
    bool conflict = x && !open && !again && !reversal;
    if (found && !conflict) {
        if (!again)
            xfer_settle(x, oc);
        final = x->status;
        snprintf(name, sizeof name, "transfer.%s", x->status);
        event = webhook ? event_text(name, xfer_data(sb->paystack, x, true)) : NULL;
    }
    pthread_mutex_unlock(&sb->mu);
    if (!found) {
        sb_control_error(resp, 404, "unknown transfer reference");
        goto out;
    }
    if (conflict) {
        sb_control_error(resp, 409, "the transfer is settled already");
        goto out;
    }
    if (webhook && !event) {
        sb_control_error(resp, 500, "out of memory");
        goto out;
    }
    log_info("paystack.transfer_settled", "reference=%s outcome=%s repeat=%s", ref, final, again ? "yes" : "no");
    json_t *ans = json_pack("{s:b, s:s, s:s}", "ok", 1, "reference", ref, "status", final);
    deliver(sb, ans, webhook, event, how, ref, again);
    api_json(resp, 200, ans);
out:
    free(event);
    json_decref(o);
}

/* ---- settling by itself (--paystack-settle-ms) ---- */

/* What the customer does with an M-Pesa charge, by its amount in whole
 * shillings: the Daraja fake's rule. */
static const struct outcome *charge_outcome(int64_t subunits)
{
    int64_t kes = subunits / 100;
    if (kes == 1)
        return &charge_no_funds;
    if (kes % 10 == 2)
        return &charge_declined;
    if (kes % 10 == 7)
        return &charge_unanswered;
    return &charge_paid;
}

/* Settles what d names if it still waits; returns the event to post
 * (malloc'ed) or NULL, with the reference in ref. Caller holds mu. */
static char *settle_due(struct sandbox *sb, const struct due *d, char *ref, size_t refsz)
{
    struct sb_paystack *p = sb->paystack;
    bool hook = sb->paystack_webhook[0];
    if (d->xfer) {
        struct xfer *x = xfer_by_id(p, d->id);
        if (!x || strcmp(x->status, "pending"))
            return NULL;
        xfer_settle(x, &xfer_outcomes[0]);
        str_copy(ref, refsz, x->reference);
        log_info("paystack.transfer_settled", "reference=%s outcome=%s by=sandbox", x->reference, x->status);
        return hook ? event_text("transfer.success", xfer_data(p, x, true)) : NULL;
    }
    struct txn *t = find_id(p, d->id);
    if (!t || strcmp(t->status, "pending"))
        return NULL;
    txn_settle(t, charge_outcome(t->amount), 0);
    str_copy(ref, refsz, t->reference);
    log_info("paystack.charge_settled", "reference=%s outcome=%s by=sandbox reason=\"%s\"", t->reference,
             t->status, t->gateway_response);
    return hook ? txn_event(t) : NULL;
}

static void *settler(void *arg)
{
    struct sandbox *sb = arg;
    struct sb_paystack *p = sb->paystack;
    pthread_mutex_lock(&sb->mu);
    while (!p->stop) {
        if (p->qhead == p->qn) {
            p->qhead = p->qn = 0;
            pthread_cond_wait(&p->cv, &sb->mu);
            continue;
        }
        struct due d = p->q[p->qhead];
        if (d.at > sb_mono_ms()) {
            struct timespec ts = {(time_t)(d.at / 1000), (long)(d.at % 1000) * 1000000L};
            pthread_cond_timedwait(&p->cv, &sb->mu, &ts);
            continue;
        }
        p->qhead++;
        char ref[REF_MAX + 1] = "";
        char *event = settle_due(sb, &d, ref, sizeof ref);
        if (!event)
            continue;
        pthread_mutex_unlock(&sb->mu);
        deliver(sb, NULL, sb->paystack_webhook, event, "good", ref, false);
        free(event);
        pthread_mutex_lock(&sb->mu);
    }
    pthread_mutex_unlock(&sb->mu);
    return NULL;
}

/* ---- life cycle ---- */

bool sb_paystack_init(struct sandbox *sb)
{
    struct sb_paystack *p = sb->paystack = calloc(1, sizeof *sb->paystack);
    if (!p)
        return false;
    p->next_id = 1000001;
    p->next_xid = 860000001;
    p->next_rid = 25000001;
    if (sb->paystack_settle_ms <= 0)
        return true;
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC); /* due times are sb_mono_ms */
    bool cv = pthread_cond_init(&p->cv, &ca) == 0;
    pthread_condattr_destroy(&ca);
    if (!cv)
        return false;
    p->settler_running = pthread_create(&p->settler, NULL, settler, sb) == 0;
    if (!p->settler_running)
        pthread_cond_destroy(&p->cv);
    return p->settler_running;
}

void sb_paystack_free(struct sandbox *sb)
{
    struct sb_paystack *p = sb->paystack;
    if (!p)
        return;
    if (p->settler_running) {
        pthread_mutex_lock(&sb->mu);
        p->stop = true;
        pthread_cond_signal(&p->cv);
        pthread_mutex_unlock(&sb->mu);
        pthread_join(p->settler, NULL);
        pthread_cond_destroy(&p->cv);
    }
    for (size_t i = 0; i < p->n; i++)
        txn_free(p->v[i]);
    for (size_t i = 0; i < p->xn; i++)
        free(p->x[i]);
    for (size_t i = 0; i < p->rn; i++)
        free(p->r[i]);
    free(p->v);
    free(p->x);
    free(p->r);
    free(p->q);
    free(p);
    sb->paystack = NULL;
}

const struct http_route sb_paystack_routes[] = {
    {"POST", "/transaction/initialize", h_initialize, 0, 0},
    {"GET", "/transaction/verify/{reference}", h_verify, 0, 0},
    {"POST", "/charge", h_charge, 0, 0},
    {"GET", "/charge/{reference}", h_charge_check, 0, 0},
    {"GET", "/bank", h_banks, 0, 0},
    {"POST", "/transferrecipient", h_recipient, 0, 0},
    {"POST", "/transfer", h_transfer, 0, 0},
    {"GET", "/transfer/verify/{reference}", h_transfer_verify, 0, 0},
    {"GET", "/sandbox/paystack/checkout/{code}", h_checkout, 0, 0},
    {"POST", "/sandbox/paystack/pay", h_pay, 0, 0},
    {"POST", "/sandbox/paystack/transfer", h_transfer_control, 0, 0},
    {NULL, NULL, NULL, 0, 0},
};
