/* store/charges: what integrators' Paystack charges keep beyond a
 * payment's common columns and the water orders' Paystack ones
 * (store/water.h), their escrow releases and the Paystack events received
 * (db/014_charges.sql). These writes never bump a payment's version. Same
 * thread rules as store.h. */
#ifndef LIPA_STORE_CHARGES_H
#define LIPA_STORE_CHARGES_H

#include "store/payments.h"
#include "store/store.h"

#include <stdbool.h>
#include <stdint.h>

struct charge_extra {
    char booking_id[65], payer_ref[65], method[16];
    bool escrow;
    int64_t retry_of;              /* payment id; 0 for none */
    int64_t retry_count;
    int64_t cancelled_at;          /* ms; 0 for none */
    char cancel_reason[257];
    bool paid_after_cancel;
    int64_t completed_at;          /* ms; 0 for none */
};

/* At creation. */
enum store_rc store_charge_set(struct store *st, int64_t id, const struct charge_extra *x);
enum store_rc store_charge_get(struct store *st, int64_t id, struct charge_extra *x);
/* How many retries of original (a payment id) client_id made, and how
 * many of them are still open (pending or processing). Inside the
 * transaction that adds a retry: it locks the original's row until that
 * transaction ends, so two lipads adding retries at once count in turn. */
enum store_rc store_charge_retries(struct store *st, const char *client_id, int64_t original, int64_t *n,
                                   int64_t *open);
/* A cancel's time and reason (the status moves through purchase_finish). */
enum store_rc store_charge_cancelled(struct store *st, int64_t id, int64_t at, const char *reason);
enum store_rc store_charge_completed_at(struct store *st, int64_t id, int64_t at);
/* A success that came after the payment was cancelled, failed or
 * abandoned: it becomes completed, and after_cancel records that a cancel
 * came too late. ST_NOT_FOUND when it was in none of those states. */
enum store_rc store_charge_paid_late(struct store *st, int64_t id, int64_t paid_amount, const char *desc,
                                     int64_t at, bool after_cancel);
/* A client's charges of payer_ref, newest first: limit from offset, with
 * status one of statuses (NULL-ended, at most two; NULL for any); *total
 * gets how many match in all. */
enum store_rc store_charge_history(struct store *st, const char *client_id, const char *payer_ref,
                                   const char *const *statuses, int64_t limit, int64_t offset,
                                   void (*fn)(void *, const struct payment *), void *ctx, int64_t *total);

/* ---- escrow ---- */
struct escrow_release {
    int64_t id;
    char client_id[37], booking_id[65];
    int64_t amount;
    char phone[16];
    char idem_key[129], idem_fp[65], reference[64];
    char recipient_code[64], transfer_code[64];
    char status[12];
    int64_t attempts, next_at;
    char last_error[257];
    int64_t created_at, updated_at, released_at;
};
/* What a booking holds (completed escrow charges) and what is out of it
 * (releases queued, pending or done). */
enum store_rc store_escrow_balance(struct store *st, const char *client_id, const char *booking_id,
                                   int64_t *held, int64_t *out);
/* Inserts r as queued, due at r->next_at (now when that has passed), in
 * one statement that checks that the booking still holds r->amount, in a
 * transaction of its own (or the caller's, when inside one) that locks the
 * client's row first, so releases reserved at once are weighed one after
 * the other, across lipads too: ST_OK; ST_CONFLICT when the client used
 * r->idem_key before (r becomes that release: the caller compares
 * idem_fp); ST_NOT_FOUND when the booking does not hold enough. */
enum store_rc store_escrow_reserve(struct store *st, struct escrow_release *r);
enum store_rc store_escrow_by_reference(struct store *st, const char *ref, struct escrow_release *r);
/* Writes status, codes, attempts, next_at, last_error and released_at of
 * r->id. A release that is final (success, failed, reversed) changes only
 * to reversed (a success Paystack later reverses). */
enum store_rc store_escrow_save(struct store *st, struct escrow_release *r);
/* Releases queued (to send) or pending (to ask Paystack about) whose
 * next_at has come. */
int store_escrow_due(struct store *st, int64_t now, struct escrow_release *out, int max);

/* ---- Paystack events ---- */
/* Records an event once: ST_OK when new, ST_CONFLICT when event_key was
 * seen before (a retry: apply nothing). */
enum store_rc store_paystack_event_add(struct store *st, const char *event_key, const char *event,
                                       const char *reference, const char *body, int64_t *id);
enum store_rc store_paystack_event_outcome(struct store *st, int64_t id, const char *outcome);
/* Forgets an event (its application failed, so Paystack's retry must be
 * applied). */
enum store_rc store_paystack_event_drop(struct store *st, int64_t id);

#endif
