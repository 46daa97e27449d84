/* paystack: the one Paystack client (its REST API, amounts in subunits): start a
 * hosted checkout (POST /transaction/initialize), read a transaction's state
 * (GET /transaction/verify/:reference), charge an M-Pesa wallet directly
 * (POST /charge, GET /charge/:reference), pay out to an M-Pesa wallet
 * (GET /bank, POST /transferrecipient, POST /transfer, GET
 * /transfer/verify/:reference), check a webhook's x-paystack-signature and
 * read a webhook's event. Amounts are integers in the currency's subunit
 * (KES 50 is 5000).
 *
 * Outcomes (pay.h): a 2xx answer with "status":true is PAY_OK; no answer, a
 * timeout, a 5xx, a 429 or a 2xx that cannot be read is PAY_RETRY; any other
 * 4xx or "status":false is PAY_REJECT, with Paystack's message. A request
 * this client refuses before sending (bad reference, amount, email, phone
 * or secret setting) is PAY_REJECT too, with the field named in the message
 * and http_status 0.
 *
 * Retrying initialize with the same reference after PAY_RETRY may get
 * PAY_REJECT "Duplicate Transaction Reference": the first attempt reached
 * Paystack; verify the reference to learn its state. Charges and transfers
 * say so in their result's `duplicate` flag (the reference is taken: fetch
 * it, do not send it again under a new one), and their checks say in
 * `not_found` that Paystack has never seen the reference (so the first
 * attempt never arrived and sending it again with the same reference is
 * safe).
 *
 * Ownership: paystack_new copies what it needs from the config; the caller
 * frees it with paystack_free (NULL is fine). Results are filled in place.
 * Thread-safety: any number of threads may call a struct paystack at once
 * (httpc_global_init must have run). It is read-only after paystack_new
 * except for the mobile-money bank code that paystack_mobile_money_bank
 * caches, which a mutex inside the struct guards. paystack_event_parse,
 * paystack_signature_ok and the *_ok checks are pure. Calls block for up
 * to the configured timeout: worker threads only, never on a USSD hop. */
#ifndef LIPA_PAYSTACK_H
#define LIPA_PAYSTACK_H

#include "pay/pay.h"

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define PAYSTACK_REF_MAX 100  /* Paystack's limit */
#define PAYSTACK_REF_KEEP 63  /* this client's: the result fields hold 63 */

struct paystack_init_res {
    enum pay_outcome outcome;
    int http_status;            /* 0 when no HTTP answer came */
    char authorization_url[512];
    char access_code[128];
    char reference[64];         /* as Paystack answered it (PAYSTACK_REF_KEEP max) */
    char message[256];          /* Paystack's message, or why the call failed */
};

struct paystack_verify_res {
    enum pay_outcome outcome;   /* PAY_OK: status and the fields below are Paystack's */
    int http_status;
    bool not_found;             /* PAY_REJECT: Paystack knows no such reference */
    char status[24];            /* abandoned|failed|ongoing|pending|processing|queued|reversed|success */
    int64_t amount;             /* subunits; -1 when absent */
    char currency[8];
    char channel[32];
    char paid_at[40];           /* "" when not paid */
    char gateway_response[128];
    char reference[64];
    char message[256];
};

struct paystack;

/* Reads cfg->paystack_url, cfg->paystack_secret, cfg->http_timeout_ms
 * (10 s when not positive). NULL on out of memory. */
struct paystack *paystack_new(const struct config *cfg);
void paystack_free(struct paystack *ps);

/* POST /transaction/initialize {email, amount, currency, reference,
 * callback_url, metadata}. currency, reference, callback_url and metadata
 * may be NULL (or "") to leave them out: Paystack then uses the merchant's
 * default currency and makes up a reference. A reference must pass
 * paystack_reference_ok and be at most PAYSTACK_REF_KEEP characters. metadata is borrowed, not
 * stolen, and only read. */
void paystack_initialize(struct paystack *ps, const char *email, int64_t amount_subunits,
                         const char *currency, const char *reference, const char *callback_url,
                         json_t *metadata, struct paystack_init_res *res);

/* GET /transaction/verify/:reference (at most PAYSTACK_REF_KEEP
 * characters, else refused unsent). An unknown reference is PAY_REJECT
 * ("Transaction reference not found"). Callers check amount and currency
 * against what was asked before crediting. */
void paystack_verify(struct paystack *ps, const char *reference, struct paystack_verify_res *res);

/* The webhook's x-paystack-signature: lowercase hex HMAC-SHA512 keyed with
 * the secret over the raw body, compared in constant time. False when any
 * argument is NULL, the secret is empty, or the signature is not exactly
 * that lowercase hex. Pure. */
bool paystack_signature_ok(const char *secret, const char *body, size_t len, const char *signature);

/* Paystack's reference alphabet: letters, digits, '-', '.', '='; 1 to
 * PAYSTACK_REF_MAX characters. Pure. */
bool paystack_reference_ok(const char *ref);

/* What Paystack's word on a transaction (its status, what was paid in
 * subunits, the currency, the gateway's response) makes of a payment of
 * amount whole units in currency: "completed" (a success for that amount
 * and currency), "failed" (a success for anything else, or failed or
 * reversed), "timeout" (abandoned, once time_over), or NULL (still open:
 * ongoing, pending, abandoned too early...). reason gets why: the
 * gateway's response for a success, the mismatch, Paystack's status, or
 * abandoned_why. Every face that takes Paystack's word decides the same
 * way. Pure. */
const char *paystack_outcome(const char *status, int64_t paid_subunits, const char *paid_currency,
                             const char *gateway_response, int64_t amount, const char *currency, bool time_over,
                             const char *abandoned_why, char *reason, size_t reasonsz);

/* ---- M-Pesa charges (POST /charge, GET /charge/:reference) ---- */

/* The provider for an M-Pesa prompt (STK push) through Paystack in Kenya:
 * "mpesa", with the phone as "+2547XXXXXXXX", as integrations of Paystack in
 * Kenya send it, quoting its payment-channel guide (test number
 * +254710000000); Paystack's own answer sample for M-Pesa is "pay_offline"
 * with "Please complete authorization process on your mobile phone". Its
 * code samples also show "mpesa_offline" (phone "254700000000"): the
 * paybill variant, whose answer carries a paybill number (account_number)
 * and account_reference for the customer to pay by hand, so no prompt is
 * sent. lipa wants the prompt, hence "mpesa"; either may be passed. Not yet
 * tried against a live Paystack account. */
#define PAYSTACK_MPESA_PROVIDER "mpesa"

/* What a charge, or a check of one, answered. Text fields are "" when the
 * answer had none. */
struct paystack_charge_res {
    enum pay_outcome outcome;   /* PAY_OK: status and reference are Paystack's */
    int http_status;            /* 0 when no HTTP answer came (or refused unsent) */
    bool duplicate;             /* PAY_REJECT: the reference is taken already (check it) */
    bool not_found;             /* PAY_REJECT: Paystack knows no such reference */
    char status[24];            /* pay_offline|pending|send_otp|success|failed|abandoned|... */
    char reference[64];         /* as Paystack answered it, else the one sent */
    char display_text[256];     /* what to tell the customer (pay_offline, send_otp) */
    char account_number[32];    /* mpesa_offline: the paybill to pay to */
    char account_reference[64]; /* mpesa_offline: the account to type in */
    int64_t amount;             /* subunits; -1 when the answer has none */
    char currency[8];
    char channel[32];
    char paid_at[40];
    char gateway_response[128]; /* why, from gateway_response or data.message */
    char message[256];          /* Paystack's message, or why the call failed */
};

/* POST /charge {email, amount, currency, reference, mobile_money:{phone,
 * provider}, metadata}: asks Paystack to prompt the customer's M-Pesa.
 * phone is any form of a Kenyan mobile number (phone.h) and is sent as
 * "+2547XXXXXXXX". currency NULL or "" is "KES"; provider NULL or "" is
 * PAYSTACK_MPESA_PROVIDER, else 1 to 20 of [a-z_]. reference must pass
 * paystack_reference_ok within PAYSTACK_REF_KEEP; a reference that
 * initialize made is charged as that transaction (send the amount,
 * currency and email initialize sent). Pass one always: NULL lets Paystack
 * make one up, and then a lost answer leaves nothing to check (such an
 * answer without a reference is PAY_RETRY). metadata may be NULL; borrowed, only read.
 * PAY_OK's status says what happens next: pay_offline or pending (the
 * prompt is on its way: check with paystack_charge_check or verify, or wait
 * for the webhook), send_otp, success, failed. */
void paystack_charge_mobile(struct paystack *ps, const char *email, int64_t amount_subunits,
                            const char *currency, const char *reference, const char *phone,
                            const char *provider, json_t *metadata, struct paystack_charge_res *res);

/* GET /charge/:reference: the state of a charge still in progress, filled
 * as paystack_charge_mobile fills it (a settled one also gives amount,
 * currency, channel, paid_at). */
void paystack_charge_check(struct paystack *ps, const char *reference, struct paystack_charge_res *res);

/* ---- payouts to M-Pesa (banks, recipients, transfers) ---- */

#define PAYSTACK_CODE_MAX 64                /* bank, recipient and transfer codes */
#define PAYSTACK_TRANSFER_REF_MIN 16
#define PAYSTACK_TRANSFER_REF_MAX 50

/* GET /bank?currency=KES&type=mobile_money: the bank code of the wallet
 * named provider_name ("M-PESA", "mpesa" or "M-Pesa" alike: compared on
 * letters and digits, without case, against each entry's name, slug and
 * code; inactive entries are skipped). PAY_OK with the code in code_out
 * ("" otherwise); PAY_REJECT when Paystack's list has no such wallet. The
 * first success is cached in ps (under its mutex): later calls for the same
 * name answer without a request. */
enum pay_outcome paystack_mobile_money_bank(struct paystack *ps, const char *provider_name,
                                            char code_out[PAYSTACK_CODE_MAX]);

struct paystack_recipient_res {
    enum pay_outcome outcome;
    int http_status;
    char recipient_code[PAYSTACK_CODE_MAX]; /* RCP_...; "" unless PAY_OK */
    char message[256];
};

/* POST /transferrecipient {type:"mobile_money", name, account_number,
 * bank_code, currency}. name: 1 to 100 characters, no control characters.
 * account_number_phone: any form of a Kenyan mobile number, sent in the
 * local form 07XXXXXXXX (or 01...), as Paystack's mobile-money recipient
 * sample writes its (Ghanaian) number; whether Paystack also takes 254...
 * for M-PESA is not confirmed. bank_code from paystack_mobile_money_bank.
 * currency NULL or "" is "KES". Paystack answers the same recipient_code
 * for the same wallet, so creating it again is harmless. */
void paystack_recipient(struct paystack *ps, const char *name, const char *account_number_phone,
                        const char *bank_code, const char *currency, struct paystack_recipient_res *res);

struct paystack_transfer_res {
    enum pay_outcome outcome;   /* PAY_OK: status is Paystack's */
    int http_status;
    bool duplicate;             /* PAY_REJECT: a transfer with this reference exists: verify it */
    bool not_found;             /* verify's PAY_REJECT: no transfer has this reference */
    char status[24];            /* pending|success|failed|otp|reversed|abandoned|blocked|rejected|received */
    char transfer_code[PAYSTACK_CODE_MAX];  /* TRF_... */
    char reference[64];
    char recipient_code[PAYSTACK_CODE_MAX]; /* verify only (the initiate answer names an id) */
    int64_t amount;             /* subunits; -1 when absent */
    char currency[8];
    char transferred_at[40];
    char gateway_response[128]; /* gateway_response or failures, when a string */
    char message[256];
};

/* POST /transfer {source:"balance", amount, recipient, reference, reason}.
 * The reference is the idempotency key and is required (it must pass
 * paystack_transfer_reference_ok): send a retry with the same one. A
 * repeat Paystack has seen is PAY_REJECT with `duplicate` set: nothing is
 * paid twice; paystack_transfer_verify tells the first one's state. A
 * status of "otp" means the account requires an OTP for transfers, which
 * this client does not finalize. reason may be NULL; at most 100
 * characters, no control characters. */
void paystack_transfer(struct paystack *ps, int64_t amount_subunits, const char *recipient_code,
                       const char *reference, const char *reason, struct paystack_transfer_res *res);

/* GET /transfer/verify/:reference. Unknown: PAY_REJECT with not_found. */
void paystack_transfer_verify(struct paystack *ps, const char *reference, struct paystack_transfer_res *res);

/* A transfer reference this client sends: PAYSTACK_TRANSFER_REF_MIN to
 * PAYSTACK_TRANSFER_REF_MAX of lowercase letters, digits, '-' and '_'.
 * Paystack asks for a unique reference in lowercase of '-', '_' and
 * alphanumerics (its examples are UUID-based, about 40 characters); the
 * length bounds are this client's own, kept well inside that. Pure. */
bool paystack_transfer_reference_ok(const char *ref);

/* ---- webhook events ---- */

enum paystack_event_kind {
    PAYSTACK_EV_OTHER = 0,      /* an event this service does not act on */
    PAYSTACK_EV_CHARGE_SUCCESS,
    PAYSTACK_EV_CHARGE_FAILED,
    PAYSTACK_EV_TRANSFER_SUCCESS,
    PAYSTACK_EV_TRANSFER_FAILED,
    PAYSTACK_EV_TRANSFER_REVERSED,
};

#define PAYSTACK_EVENT_BODY_MAX (256u << 10)

/* A webhook's event, as far as this service reads it. Text fields are ""
 * when the event had none. */
struct paystack_event {
    enum paystack_event_kind kind;
    char event[40];             /* the name as sent, e.g. "charge.success" */
    char reference[PAYSTACK_REF_MAX + 1]; /* data.reference */
    char status[24];            /* data.status */
    int64_t amount;             /* data.amount, subunits; -1 when absent */
    char currency[8];
    char id[32];                /* data.id as text (Paystack sends a number) */
    char paid_at[40];           /* paid_at or paidAt; transfers: transferred_at */
    char channel[32];
    char gateway_response[128]; /* cut to fit, never mid-character */
    char transfer_code[PAYSTACK_CODE_MAX]; /* transfers */
    char error[128];            /* why parsing failed, naming the field */
};

/* Reads a webhook's raw body (check its signature first): a JSON object
 * of at most PAYSTACK_EVENT_BODY_MAX bytes with "event" (1 to 39 of
 * [a-z0-9._]) and a "data" object. For the five kinds above data.reference
 * is required: 1 to PAYSTACK_REF_MAX of letters, digits, '-', '.', '=',
 * '_'. A field present with the wrong type, too long or with control
 * characters (reference, status, currency, id, codes) is an error, not
 * cut. data.amount is an integer or a digit string, >= 0. False when the
 * body is none of that: then ev holds only ev->error (and amount -1).
 * Pure. */
bool paystack_event_parse(const char *body, size_t len, struct paystack_event *ev);

#endif
