/* pay/purchase: the life of an electricity purchase, whatever face starts
 * it (USSD, REST, SMS):
 *
 *   pending --push accepted--> processing --callback/query--> completed |
 *   failed | cancelled | timeout
 *
 * purchase_start validates and stores the purchase (no provider call); the
 * payment worker sends the STK push, settles purchases whose callback never
 * came by STK query after LIPA_SETTLE_AFTER s, and times them out after
 * LIPA_PAYMENT_TIMEOUT s. Finishing a purchase queues, in the same
 * transaction, the top-up and the receipt SMS. All functions are
 * thread-safe (state lives in the store). */
#ifndef LIPA_PURCHASE_H
#define LIPA_PURCHASE_H

#include "app/app.h"
#include "store/payments.h"
#include "store/sms.h"
#include "store/store.h"
#include "store/ussd.h"
#include "util/err.h"

struct purchase_req {
    const char *origin;        /* ussd | api | sms */
    const char *idem_key;      /* "" or NULL for none */
    const char *idem_fp;       /* the request's fingerprint (pay/idem.h); "" or NULL for none */
    int64_t user_id;
    const char *phone;         /* E.164 the STK push goes to */
    const char *meter_id;
    int64_t amount;            /* whole KES */
    const char *account_ref;   /* NULL: the meter id */
    const char *description;   /* NULL: "Electricity" */
    /* The meter as the caller's cached profile has it (store_caller): when
     * set, existence and assignment were checked from memory already. */
    const struct store_caller_meter *known;
};

/* Why a purchase was refused, for the caller's own wording. */
enum purchase_refusal {
    PR_NONE = 0,
    PR_AMOUNT_RANGE,
    PR_NO_METER,
    PR_NOT_ASSIGNED,
    PR_METER_INACTIVE,
    PR_STORE,
};

/* The idempotency key of the purchase a face makes for one of its ids (a
 * USSD sessionId): "ns:id" when that fits a payment's idem_key, else "ns#"
 * and the SHA-256 of id in hex. So an id of any length keeps a key of its
 * own (two ids that share a prefix never meet), and a hashed key never
 * equals a verbatim one. ns is a fixed word without ':' or '#' ("ussd";
 * the "sms:", "api:" and "water:" keys are built from ids capped where
 * they come in, short enough to fit verbatim). */
#define PURCHASE_IDEM_SIZE 96
void purchase_idem_key(char out[PURCHASE_IDEM_SIZE], const char *ns, const char *id);

/* What purchase_start refuses of a known meter before the store: the
 * amount out of LIPA_MIN_AMOUNT..LIPA_MAX_AMOUNT, then an inactive meter.
 * Pure. */
enum purchase_refusal purchase_check(const struct config *cfg, int64_t amount, bool active);

/* The SMS a finished electricity purchase sends (completed, cancelled,
 * timeout or failed), in Swahili when sw; {token} is the outbox's. Pure. */
void purchase_finish_text(const struct payment *p, bool sw, char *out, size_t n);

/* Tenths of a kWh that amount KES buys at price (cents per kWh). */
int64_t purchase_energy(int64_t amount, int64_t price_cents);
/* "12.3" for 123 tenths. */
void purchase_kwh_text(int64_t tenths, char out[24]);

/* Validates and stores; p gets the row (an existing one for a repeated
 * idem_key, with the idem_fp it was stored with: the caller compares).
 * Returns PR_NONE on success. Wakes the payment worker. */
enum purchase_refusal purchase_start(struct app *a, const struct purchase_req *r, struct payment *p);
/* The same without waiting for the database, for the USSD hop: validates
 * r (a refusal comes back at once) and hands the purchase to the store's
 * group commit (store_take_payment), which then stores it and wakes the
 * payment worker. r needs an idem_key (the USSD session's: a purchase
 * taken in twice is stored once). PR_STORE when nothing could be queued.
 * On SQLite the store writes it to its intake first, a file it survives a
 * restart in, so the hop may say "enter your PIN" at once (then may be
 * NULL). On PostgreSQL (purchase_take_waits) nothing is kept outside the
 * database: the hop says so only once then(arg, true) runs, on the
 * committer thread; then(arg, false) means not stored (say "try again").
 * then runs only when PR_NONE is returned. */
typedef void (*purchase_taken_fn)(void *arg, bool stored);
enum purchase_refusal purchase_take(struct app *a, const struct purchase_req *r, purchase_taken_fn then, void *arg);
bool purchase_take_waits(struct app *a);

/* Checks a callback body (as received) and queues it for the store's
 * group commit, to be recorded for the payment worker to apply
 * (idempotently, on CheckoutRequestID). The HTTP handler answers Daraja
 * once it is stored. A malformed body is ERR_VALIDATION at once (why says
 * what; nothing recorded, done never runs); ERR_INTERNAL when it could not
 * be queued; ERR_OK means queued, and done(arg, ERR_OK or ERR_INTERNAL)
 * then runs on the store's committer thread. */
typedef void (*purchase_recorded_fn)(void *arg, enum err e);
enum err purchase_callback_queue(struct app *a, const char *body, size_t len, char *why, size_t whysz,
                                 purchase_recorded_fn done, void *arg);

/* What finishing a purchase means for its kind (payments.kind): prepare
 * sets payment columns before the status change (may be NULL); finish runs
 * inside the finishing transaction and queues what the outcome causes (an
 * SMS, a code, ...); false rolls the whole finish back. The table is in
 * purchase.c: a new kind is one line there and two functions in its own
 * module. */
struct purchase_kind {
    const char *name;
    void (*prepare)(struct app *a, struct payment *p);
    bool (*finish)(struct app *a, struct payment *p);
};
const struct purchase_kind *purchase_kind_of(const char *kind);

/* Moves p (carrying its final status, result and receipt) to that final
 * status, once: false when it was final already (a duplicate) or on
 * error. Used by the M-Pesa path here and by other payment providers. */
bool purchase_finish(struct app *a, struct payment *p);

/* Asks M-Pesa about p (an M-Pesa payment with its CheckoutRequestID) now:
 * an STK query, blocking, for handlers on the payment lane. A final answer
 * for a p still open finishes it as the payment worker would (the kind's
 * finish, in the one finishing transaction). res gets the answer; p is
 * read again afterwards (as stored, whoever settled it). */
struct pay_query_res;
void purchase_query(struct app *a, struct payment *p, struct pay_query_res *res);

/* {token} of an SMS body (sms/outbox.h): the 20-digit token of the
 * message's purchase, re-derived with the pepper, grouped by four. */
bool purchase_render_token(struct app *a, const struct outbox_msg *m, char *out, size_t n);

/* One pass of the payment worker; returns how many purchases it touched.
 * (The top-up worker is pay/topup.h.) */
int purchase_work(struct app *a);

/* Status text of a Daraja result code. */
const char *purchase_status_for(int64_t result_code);

#endif
