/* sms/outbox: the durable SMS outbox. outbox_queue writes a row (call it
 * inside the transaction of the change that causes the message); the
 * outbox worker sends due rows through the SMS provider, retrying with
 * exponential backoff (5xx, timeouts, AT 405/5xx statuses; the delay
 * doubles from LIPA_RETRY_BASE_MS up to 10 minutes, at most
 * OUTBOX_MAX_ATTEMPTS tries) and giving up on refusals (AT 403, 404, 406, a
 * bad key), keeping AT's messageId. It sends at most LIPA_SMS_RATE messages
 * a second (a token bucket holding one second's worth).
 *
 * A message's status: queued -> sending -> sent -> delivered | failed, or
 * failed straight from sending (refused, retries used up, or a notice to a
 * number that texted STOP); last_error says why. Delivery reports
 * (outbox_report) move a sent message to delivered or failed.
 *
 * kind: "answer" (a reply to a texted command), "receipt" (the outcome of a
 * payment), "notice" (anything else: held back from numbers that texted
 * STOP, see store/sms.h).
 *
 * Secrets never rest in the outbox: a body holds placeholders ("{token}",
 * "{code}"), rendered at send time by the modules that own the secret
 * (struct outbox_placeholder, listed in app.c). Thread-safe. */
#ifndef LIPA_OUTBOX_H
#define LIPA_OUTBOX_H

#include "app/app.h"
#include "store/sms.h"

#define OUTBOX_MAX_ATTEMPTS 10
#define OUTBOX_BACKOFF_CAP_MS 600000
#define OUTBOX_BODY_MAX 1023 /* bytes of a body (struct outbox_msg) */

/* A placeholder of message bodies: its name ("{token}"), a sample as wide
 * as what it becomes (parts are counted with it), and how it is rendered
 * for message m into out (false: it cannot be now; the message waits). A
 * table of them ends with a NULL name. */
struct outbox_placeholder {
    const char *name, *sample;
    bool (*render)(struct app *a, const struct outbox_msg *m, char *out, size_t n);
};

/* Queues body for phone. A body longer than LIPA_SMS_MAX_PARTS parts
 * (counting each placeholder at its rendered width) or OUTBOX_BODY_MAX bytes is cut
 * with outbox_fit. Encoding (GSM-7 or UCS-2) and part count are recorded. */
enum store_rc outbox_queue(struct app *a, const char *phone, const char *body, const char *kind,
                           int64_t payment_id);
/* The same, giving the new row's id. */
enum store_rc outbox_queue_id(struct app *a, const char *phone, const char *body, const char *kind,
                              int64_t payment_id, int64_t *id);
/* Copies body into out (outsz bytes), cut when it would take more than
 * max_parts SMS parts (placeholders of ph counted at their width) or not
 * fit: then it ends "..." after the last whole character that fits, never
 * inside a placeholder. true when it was cut. Pure. */
bool outbox_fit(const struct outbox_placeholder *ph, const char *body, int max_parts, char *out, size_t outsz);
/* Applies a delivery report (AT's id, status, failureReason): recorded
 * once; Success makes a sent message delivered; Failed, Rejected and
 * Expired make it failed with the reason; other statuses are noted only.
 * ST_CONFLICT for a repeated report, ST_NOT_FOUND when no message has that
 * id yet (the report waits and is applied when the send is recorded). */
enum store_rc outbox_report(struct app *a, const struct sms_report *r);
/* One pass: sends what is due; returns how many rows it touched. */
int outbox_work(struct app *a);

#endif
