/* pay/prompts: the subscribers with an M-Pesa prompt on their phone that is
 * not answered yet. Daraja refuses a second STK push to such a subscriber
 * ("a transaction is already in process", 500.001.1001), so the payment
 * worker holds a purchase back while its phone is here instead of spending
 * a push and an attempt on a refusal, and the purchase finishing the
 * prompt hands back the next one held behind it, to push at once: one
 * prompt at a time per phone, in the order the purchases were held.
 *
 * Memory only and best effort: after a restart the set is empty and
 * Daraja's refusal, retried with backoff, covers what it misses; a full
 * table just holds nothing. Thread-safe. */
#ifndef LIPA_PAY_PROMPTS_H
#define LIPA_PAY_PROMPTS_H

#include <stdbool.h>
#include <stdint.h>

#define PROMPTS_HELD_MAX 8 /* ids remembered behind one prompt */

struct prompts;

struct prompts *prompts_new(void);
void prompts_free(struct prompts *pr);
/* A push to phone was accepted at now_ms: its prompt is out until it is
 * closed or until_ms passes (when the purchase is settled by query). */
void prompts_open(struct prompts *pr, const char *phone, int64_t now_ms, int64_t until_ms);
/* True when a prompt is out for phone at now_ms, with *until_ms. */
bool prompts_waiting(struct prompts *pr, const char *phone, int64_t now_ms, int64_t *until_ms);
/* True when a prompt is out for phone at now_ms: the purchase payment_id
 * waits behind it (remembered, up to PROMPTS_HELD_MAX), and *until_ms says
 * how long at most. */
bool prompts_hold(struct prompts *pr, const char *phone, int64_t payment_id, int64_t now_ms, int64_t *until_ms);
/* The prompt for phone is answered (its purchase is final): the id of the
 * purchase to push next (the others stay held, behind its prompt), or 0. */
int64_t prompts_close(struct prompts *pr, const char *phone);

#endif
