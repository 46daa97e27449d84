/* store/sms: what texting needs from the database (db/006_sms.sql):
 * the outbox of messages to send, inbound SMS kept once per Africa's
 * Talking id and worked from a queue,
 * STOP/START opt-outs, delivery reports and what they did to outbox rows,
 * the admin's message list, and a sender's last token.
 *
 * Same rules as store.h: plain structs with fixed caps filled for the
 * caller, any function from any thread, writes serialized by the store. */
#ifndef LIPA_STORE_SMS_H
#define LIPA_STORE_SMS_H

#include "store/store.h"
#include "store/payments.h"

#include <stdbool.h>
#include <stdint.h>

/* ---- outbox ---- */
struct outbox_msg {
    int64_t id;
    char phone[16];
    char body[1024];
    char kind[12];
    int64_t payment_id;        /* 0 when none */
    char status[12];
    int64_t attempts, next_at;
    char last_error[256];
    char provider_id[96];
    char encoding[8];
    int64_t parts;
    int64_t created_at, updated_at;
};
/* Queues m (status queued, due now); part count and encoding are the
 * caller's. Call inside the transaction of the change that causes it. */
enum store_rc store_outbox_add(struct store *st, struct outbox_msg *m);
int store_outbox_due(struct store *st, int64_t now, struct outbox_msg *out, int max);
enum store_rc store_outbox_save(struct store *st, const struct outbox_msg *m);
enum store_rc store_outbox_list(struct store *st, const char *phone, const char *status, int64_t limit,
                                int64_t offset, void (*fn)(void *, const struct outbox_msg *), void *ctx);
/* queued + sending rows. */
int64_t store_outbox_depth(struct store *st);
/* The same count, and in *oldest_ms the created_at of the oldest of those
 * rows (0 when there is none), in one query; -1 when the database did not
 * answer. */
int64_t store_outbox_queue(struct store *st, int64_t *oldest_ms);
/* For message id of payment_id: when the first M-Pesa callback of that
 * payment arrived (ms), when the payment is completed and no earlier
 * receipt or code SMS of it exists (this is the payer's first); else
 * ST_NOT_FOUND. */
enum store_rc store_outbox_callback_at(struct store *st, int64_t id, int64_t payment_id, int64_t *at_ms);

/* ---- inbound ---- */
#define SMS_TEXT_MAX 1600 /* bytes of inbound text kept (AT joins up to ~10 parts) */

struct sms_inbound {
    int64_t id;
    char at_id[96];
    char phone[16];            /* E.164; "" when `from` is not a Kenyan mobile */
    char raw_from[40];
    char to[32];
    char text[SMS_TEXT_MAX + 1];
    char date[40], link_id[96], network_code[16];
    char status[8];            /* queued | done | failed */
    char outcome[32];
    char error[256];
    int64_t attempts, next_at, received_at, updated_at;
};
/* Inserts m as queued and due now (id set); ST_CONFLICT, writing nothing,
 * when a row with m->at_id exists (AT repeating its callback). */
enum store_rc store_sms_inbound_add(struct store *st, struct sms_inbound *m);
/* Queued rows due at now, oldest first; count written (<= max), -1 on error. */
int store_sms_inbound_due(struct store *st, int64_t now, struct sms_inbound *out, int max);
/* Final: status done or failed, with what happened. */
enum store_rc store_sms_inbound_finish(struct store *st, int64_t id, const char *status, const char *outcome,
                                       const char *error);
/* Not yet: stays queued, due again at next_at. */
enum store_rc store_sms_inbound_later(struct store *st, int64_t id, int64_t attempts, int64_t next_at,
                                      const char *error);
/* Inbound SMS from phone received at or after since, answered (done) with
 * this outcome; -1 on error. */
int64_t store_sms_inbound_count(struct store *st, const char *phone, const char *outcome, int64_t since);
enum store_rc store_sms_inbound_get(struct store *st, const char *at_id, struct sms_inbound *m);

/* ---- STOP / START ---- */
enum store_rc store_sms_set_opt_out(struct store *st, const char *phone, bool opted_out);
/* True after STOP (and no START since); false on any error. */
bool store_sms_opted_out(struct store *st, const char *phone);

/* ---- delivery reports ---- */
struct sms_report {
    char message_id[96];
    char status[24];           /* AT's: Sent, Submitted, Buffered, Success, Failed, Rejected, ... */
    char failure_reason[64];
    char phone[16];
    char network_code[16];
    int64_t retry_count;
};
/* Records a report as received; ST_CONFLICT when this message already had
 * a report with this status (AT repeating it). */
enum store_rc store_sms_report_add(struct store *st, const struct sms_report *r);
/* Applies a report to the outbox row whose provider_id is message_id:
 * records report_status; when new_status is "delivered" or "failed" and the
 * row is still "sent", moves it there (failed: last_error = error). Marks
 * the message's reports applied. ST_NOT_FOUND when no row has that id. */
enum store_rc store_sms_report_apply(struct store *st, const char *message_id, const char *report_status,
                                     const char *new_status, const char *error);
/* The newest report of message_id not yet applied; ST_NOT_FOUND if none. */
enum store_rc store_sms_report_pending(struct store *st, const char *message_id, struct sms_report *r);

/* ---- the admin's list ---- */
struct sms_message {
    struct outbox_msg m;
    char report_status[24];
    int64_t reported_at;       /* ms; 0 when no report came */
};
/* Newest first; phone and status "" for any. */
enum store_rc store_sms_messages(struct store *st, const char *phone, const char *status, int64_t limit,
                                 int64_t offset, void (*fn)(void *, const struct sms_message *), void *ctx);
/* How many rows that filter has; -1 on error. */
int64_t store_sms_messages_count(struct store *st, const char *phone, const char *status);
enum store_rc store_sms_message_get(struct store *st, int64_t id, struct sms_message *out);

/* ---- TOKEN ---- */
/* The newest completed electricity payment paid from phone that has a
 * token, for meter_id ("" or NULL: any meter). ST_NOT_FOUND if none. */
enum store_rc store_sms_last_token(struct store *st, const char *phone, const char *meter_id, struct payment *p);

#endif
