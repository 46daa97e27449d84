/* pay/prompts: the subscribers with an M-Pesa prompt on their phone that is
 * not answered yet. Daraja refuses a second STK push to such a subscriber
 * ("a transaction is already in process", 500.001.1001), so the payment
 * worker holds a purchase back while its phone has a prompt open instead
 * of spending a push and an attempt on a refusal, and the purchase
 * finishing the prompt hands the phone to the next one held behind it, to
 * push at once: one prompt at a time per phone, in the order the purchases
 * were made.
 *
 * Kept in the database (store/prompts.h), so it holds across every lipad
 * on one database and across restarts: a push about to go first takes the
 * phone (for reserve_ms: a lipad that dies then frees it by itself), an
 * accepted push keeps it until its purchase is due to be settled by query,
 * and its end (or a push that did not go) hands it to the next purchase
 * waiting, reserved for that one's push. A database error holds
 * nothing (Daraja's refusal, retried with backoff, covers it). */
#ifndef LIPA_PAY_PROMPTS_H
#define LIPA_PAY_PROMPTS_H

#include "store/store.h"

#include <stdbool.h>
#include <stdint.h>

struct prompts;

/* reserve_ms: how long a push about to go holds its phone, longer than
 * the push can take. */
struct prompts *prompts_new(struct store *st, int64_t reserve_ms);
void prompts_free(struct prompts *pr);
/* True when payment_id must wait: another purchase holds phone's prompt
 * at now_ms. False when payment_id may push: the phone is its own now,
 * for reserve_ms. */
bool prompts_hold(struct prompts *pr, const char *phone, int64_t payment_id, int64_t now_ms);
/* payment_id's push was accepted at now_ms: its prompt is out until it is
 * closed or until_ms passes (when the purchase is settled by query). */
void prompts_open(struct prompts *pr, const char *phone, int64_t payment_id, int64_t now_ms, int64_t until_ms);
/* True when a prompt is out for phone at now_ms (or reserved for a push). */
bool prompts_waiting(struct prompts *pr, const char *phone, int64_t now_ms);
/* payment_id's prompt is answered (its purchase is final), or its push
 * did not go: if payment_id holds phone, it goes to the purchase to push
 * next (the oldest still waiting behind it), reserved for reserve_ms so
 * that purchases made before that push wait behind it too: its id; 0 when
 * nobody waits (the phone is free) or payment_id did not hold it. */
int64_t prompts_close(struct prompts *pr, const char *phone, int64_t payment_id, int64_t now_ms);

#endif
