/* sms/outbox: the durable SMS outbox. outbox_queue writes a row (call it
 * inside the transaction of the change that causes the message); the
 * outbox worker sends due rows through the SMS provider, retrying with
 * exponential backoff (5xx, timeouts, AT 405/5xx statuses) and giving up on
 * refusals (AT 403, 404, 406, a bad key), keeping AT's messageId.
 * A body may hold "{token}": it is rendered at send time from the payment
 * with the pepper, so no token rests in the database. Thread-safe. */
#ifndef LIPA_OUTBOX_H
#define LIPA_OUTBOX_H

#include "app/app.h"

#define OUTBOX_MAX_ATTEMPTS 10

enum store_rc outbox_queue(struct app *a, const char *phone, const char *body, const char *kind,
                           int64_t payment_id);
/* One pass: sends what is due; returns how many rows it touched. */
int outbox_work(struct app *a);

#endif
