/* store/payments: payments of every kind (electricity, water; M-Pesa,
 * Paystack), purchases taken in before the database has them, the raw
 * M-Pesa callbacks, and the due work the workers take from them.
 *
 * Same rules as store.h: plain structs with fixed caps filled for the
 * caller, any function from any thread, writes serialized by the store. */
#ifndef LIPA_STORE_PAYMENTS_H
#define LIPA_STORE_PAYMENTS_H

#include "store/store.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

/* ---- payments ---- */
struct payment {
    int64_t id;
    char kind[16], origin[8], idem_key[96];
    int64_t user_id;           /* 0 when none */
    char phone[16], meter_id[65];
    int64_t amount, energy;    /* KES; tenths of a kWh */
    char account_reference[16], description[16];
    char status[12];
    int64_t result_code;       /* -1 when none yet */
    char result_desc[256];
    char merchant_request_id[64], checkout_request_id[64];
    char response_code[16], response_description[256], customer_message[256];
    char mpesa_receipt[32];
    int64_t paid_amount;       /* -1 when none */
    int64_t attempts, next_at;
    char last_error[256];
    char topup_status[12];     /* none|queued|sending|checking|done|failed */
    int64_t topup_attempts, topup_next_at;
    char topup_error[256];
    int64_t token_minute;      /* -1 when no token */
    int64_t version;           /* bumped by every save/finish */
    int64_t created_at, updated_at;
    char provider[12];         /* mpesa | paystack ("" = mpesa on create) */
    char reference[40];        /* water orders: WS-<ms>-<8>; "" for none */
    int64_t liters;            /* water orders */
    char currency[4];          /* "" = KES on create */
    int64_t topup_sent_at;     /* when the last top-up attempt went out; 0: none out */
    char idem_fp[65];          /* fingerprint of the request that chose
                                  idem_key (pay/idem.h); "" for none. Not
                                  kept by the intake (store_take_payment):
                                  its purchases' keys are the server's */
    char client_id[37];        /* the integrator (store/clients.h) whose face
                                  made it; "" for lipa's own. Not kept by
                                  the intake either: no integrator buys
                                  through a USSD hop */
    int64_t transaction_at;    /* when M-Pesa says it was paid (its
                                  callback's TransactionDate), ms UTC; 0:
                                  M-Pesa gave none */
    /* a package bought through the integrators' public payments (kind
     * "package"); "" for others. Not kept by the intake. */
    char package_id[37];
    char transaction_id[37];   /* UUID the integrator knows the payment by */
    char note[256];            /* the integrator's description, whole */
};
/* p is still open: pending (not pushed or started yet) or processing. */
static inline bool payment_open(const struct payment *p)
{
    return !strcmp(p->status, "pending") || !strcmp(p->status, "processing");
}

/* Inserts p as pending, due now. With an idem_key that exists already,
 * fills p with the existing row and returns ST_CONFLICT (no second row);
 * the caller compares that row's idem_fp with its own request's. */
enum store_rc store_payment_create(struct store *st, struct payment *p);
/* Purchases taken in (store/intake.h): for a caller that must answer
 * before the database has the purchase, the USSD hop that confirms one.
 * store_take_payment writes p (which must have an idem_key: that is what
 * keeps a purchase stored twice from becoming two) to the intake, a file
 * next to the database, and queues it for the group commit. Once it has
 * returned true, p survives lipad being killed; false when nothing was
 * written. done(arg, rc, row) runs on the committer thread once p is in
 * the database (ST_OK; ST_CONFLICT: its idem_key was there already; row
 * is the stored row) or never can be (ST_NOT_FOUND: its user or meter went
 * away; row is p). A write the database refuses otherwise is tried again
 * by store_maintain, with backoff, until it goes in; store_close calls
 * done(arg, ST_ERROR, p) for one still waiting then (its line stays in
 * the intake for the next start). store_open stores what a killed or
 * stopped lipad left in the intake, and done is not called for those (the
 * payment worker finds them due). */
typedef void (*store_taken_fn)(void *arg, enum store_rc rc, const struct payment *row);
/* Purchases queued for the group commit, at most: about 400 bytes each,
 * 40 MB in all. They pile up when the database falls behind (a slow
 * disk, a saturated machine); past this, store_take_payment
 * returns false (the caller is asked to try again; the log says
 * store.intake_full, at most once a second) until it catches up. */
#define STORE_TAKE_QUEUE_MAX 100000
bool store_take_payment(struct store *st, const struct payment *p, store_taken_fn done, void *arg);
/* False on a database on another machine (PostgreSQL): there the intake
 * would keep a purchase on a machine that may be lost for good, so there
 * is none. store_take_payment then only queues p for the group commit,
 * and the caller may say "confirmed" only in done: ST_ERROR there means
 * p is not stored (nothing is tried again; the caller says "try again"). */
bool store_take_keeps(struct store *st);
/* Purchases taken in that the database refused, waiting to be tried again
 * (the /metrics gauge lipa_purchases_waiting). */
int store_take_waiting(struct store *st);
enum store_rc store_payment_get(struct store *st, int64_t id, struct payment *p);
/* The payment whose reference is ref (water orders, integrators'
 * charges and packages). */
enum store_rc store_payment_by_reference(struct store *st, const char *ref, struct payment *p);
enum store_rc store_payment_by_checkout(struct store *st, const char *checkout_id, struct payment *p);
enum store_rc store_payment_by_transaction(struct store *st, const char *transaction_id, struct payment *p);
enum store_rc store_payments_list(struct store *st, const char *kind,
                                  void (*fn)(void *, const struct payment *), void *ctx);
/* Due work: a provider's payments pending/processing with next_at <= now. */
int store_payments_due(struct store *st, const char *provider, int64_t now, struct payment *out, int max);
/* The same for one kind of payment (each Paystack kind has its own sweeper). */
int store_payments_due_kind(struct store *st, const char *provider, const char *kind, int64_t now,
                            struct payment *out, int max);
/* Top-ups to send (queued) or to check with the meter cloud (sending,
 * checking) whose topup_next_at has come. */
int store_topups_due(struct store *st, int64_t now, struct payment *out, int max);
/* At start-up: top-ups left 'sending' by a lipad that stopped before the
 * meter cloud answered become 'checking', with why as their topup_error. */
enum store_rc store_topups_recover(struct store *st, const char *why);
/* Completed purchases of meter_id with this energy whose top-up is done,
 * sending or checking with topup_sent_at in [from, to], oldest first (the
 * top-up check's cluster); the count (<= max) or -1 on error. */
int store_topup_tries(struct store *st, const char *meter_id, int64_t energy, int64_t from, int64_t to,
                      struct payment *out, int max);
/* Makes a pending payment due at now (one due already stays as it is):
 * ST_OK while it is pending, ST_NOT_FOUND when it is not (finished). */
enum store_rc store_payment_due_now(struct store *st, int64_t id, int64_t now);
/* Writes every mutable column of p (status, provider fields, scheduling,
 * top-up, token) by id, only if the row is still at p->version (then bumps
 * it); ST_CONFLICT when someone else changed the row since p was read. */
enum store_rc store_payment_save(struct store *st, struct payment *p);
/* Moves p from pending/processing to a final status, only if it is still
 * pending/processing (idempotence): ST_CONFLICT when it already was final. */
enum store_rc store_payment_finish(struct store *st, struct payment *p);

/* Raw callbacks: record one; fetch the oldest unapplied body for a
 * checkout id (ST_NOT_FOUND if none); mark all for it applied. */
enum store_rc store_callback_add(struct store *st, const char *checkout_id, int64_t result_code,
                                 const char *body, int64_t *id);
enum store_rc store_callback_pending(struct store *st, const char *checkout_id, char *body, size_t bodysz);
enum store_rc store_callback_applied(struct store *st, const char *checkout_id);
/* Callbacks not looked at yet (oldest first), and parking one whose
 * purchase is not known yet (store_callback_pending still finds it). */
struct store_callback {
    int64_t id;
    char body[8192];
};
int store_callbacks_new(struct store *st, struct store_callback *out, int max);
enum store_rc store_callback_waiting(struct store *st, int64_t id);

#endif
