/* client/notice: signed notices to an integrator's callback URL, for every
 * integrators' face.
 *
 * When a payment an integrator started settles, its face's finish (the
 * purchase kind's finish, pay/purchase.h, which runs inside the
 * transaction that stores the final status) builds what the integrator
 * should hear, a JSON object whose "event" names what happened
 * ("payment.completed"), and queues it with client_notice_queue: the
 * notice is stored exactly when the status is, so no stop at any instant
 * loses it. The notice worker (client_notice_work) then POSTs it to the
 * client's callback URL with
 *
 *   Content-Type: application/json
 *   X-Lipa-Signature: <lower-case hex HMAC-SHA256 of the raw body, keyed
 *                      with the client's webhook secret>
 *   X-Lipa-Event: <the event>
 *   X-Lipa-Delivery: <the notice's id, the same on every attempt>
 *
 * Every attempt sends the same bytes with the same signature. A 2xx answer
 * delivers it. Anything else (no answer within LIPA_NOTICE_TIMEOUT_MS, a
 * refused connection, any other status) is tried again after
 * client_notice_delay_ms (by default 10 s, 1 min, 5 min, 30 min, then
 * hourly) until LIPA_NOTICE_MAX_AGE seconds (24 h) after it was queued;
 * then it is failed, and the integrator can still ask for the payment's
 * status. Delivery is at least once (an attempt cut short by a stop is
 * sent again): receivers tell repeats apart by X-Lipa-Delivery or by the
 * body's ids and event. Each attempt is recorded (store/notices.h: when,
 * the HTTP status or the error, how long it took).
 *
 * The URL and the secret are read when each attempt goes out: a callback
 * URL fixed meanwhile gets the retries; one removed fails the notice. A
 * client made inactive still hears about payments it started.
 *
 * Thread-safe (state in the store). Sending happens on the notice worker
 * only, never on an HTTP thread. */
#ifndef LIPA_CLIENT_NOTICE_H
#define LIPA_CLIENT_NOTICE_H

#include "app/app.h"
#include "store/payments.h"

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

/* Queues a notice of payment p (which names its client: p->client_id) with
 * body (borrowed, serialized compactly now: those bytes are what every
 * attempt posts and signs). Call it inside the transaction that finishes
 * p, so it commits or rolls back with the status; the caller wakes the
 * notice worker after the commit (purchase_finish does:
 * app_wake(a, WORK_NOTICES)). One notice per payment and event: a second
 * of the same event is not queued. Nothing is queued (true) when p has no
 * client, the client has no callback URL, or the body is over
 * NOTICE_BODY_MAX bytes (logged; the integrator can still ask for the
 * status). False only on a store error, which should roll the finish
 * back. */
bool client_notice_queue(struct app *a, const struct payment *p, const json_t *body);

/* The delay before trying a notice again after its attempts-th failed
 * attempt (1 for the first): base_ms times 1, 6, 30, 180, then 360 for
 * every later one (10 s, 1 min, 5 min, 30 min, hourly for a base of
 * 10 s). Pure. */
int64_t client_notice_delay_ms(int64_t base_ms, int64_t attempts);

/* One pass of the notice worker: sends the notices that are due, records
 * each attempt and its outcome; returns how many it looked at. */
int client_notice_work(struct app *a);

#endif
