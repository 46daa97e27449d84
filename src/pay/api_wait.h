/* pay/api_wait: REST answers that carry an STK push's outcome (its
 * CheckoutRequestID, or M-Pesa's refusal), with no thread waiting for it.
 *
 * A face that starts an M-Pesa payment and answers with the push stores
 * the payment, then parks its request here (pushwait_park): the
 * connection waits, not an HTTP thread. The payment worker, once it has
 * stored the push's outcome (accepted, refused, or given up), or once a
 * push failed and waits for its retry, hands the payment back
 * (pushwait_pushed) and the face's answer function renders the reply from
 * it: still pending after a failure, the push is queued. When the push
 * takes longer than the wait (LIPA_PUSH_WAIT_MS: M-Pesa slow, or a prompt
 * already out on that phone, which holds the push back), the same function
 * renders the payment as stored at the deadline, still pending: the push
 * is queued and will follow, and the client can ask for the status. So a
 * client has its answer within the wait, whatever M-Pesa does.
 *
 * Every face present and to come that returns the push's id uses this one
 * mechanism. At most PUSHWAIT_MAX requests wait at a time; beyond that a
 * request is answered at once, as at its deadline. Thread-safe. */
#ifndef LIPA_PAY_PUSHWAIT_H
#define LIPA_PAY_PUSHWAIT_H

#include "app/app.h"
#include "http/server.h"
#include "store/payments.h"
#include "store/store.h"

#define PUSHWAIT_MAX 4096

struct pushwait;

/* Renders the reply for payment p (after its push, or as stored when the
 * wait ended first) under route's envelope into resp. Runs on the payment
 * worker, on the server's timer thread, or on the HTTP thread. */
typedef void (*pushwait_answer_fn)(struct app *a, const struct http_route *route, const struct payment *p,
                                   struct http_resp *resp);

struct pushwait *pushwait_new(void);
/* Every parked request must have been answered (the HTTP server stopped). */
void pushwait_free(struct pushwait *w);

/* Answers req with answer(p) once p's push outcome is stored, or after
 * wait_ms with p as stored then. A payment past pending already (a repeat
 * of an earlier request), or one that cannot wait, is answered now, into
 * resp. */
void pushwait_park(struct app *a, struct http_req *req, struct http_resp *resp, const struct payment *p,
                   int64_t wait_ms, pushwait_answer_fn answer);
/* The payment worker: p's push outcome is stored, or its push failed and
 * is queued for a retry (p still pending). Cheap when nobody waits. */
void pushwait_pushed(struct app *a, const struct payment *p);
/* Requests waiting now (for tests and metrics). */
unsigned pushwait_count(struct pushwait *w);

#endif
