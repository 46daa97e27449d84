/* store/notices: the notices lipa posts to integrators' callback URLs and
 * every attempt to post them (db/013_client_payments.sql). What a notice
 * says and when it is sent is client/notice.h's; here are the rows. Same
 * thread rules as store.h: plain structs with fixed caps filled for the
 * caller, any function from any thread, writes serialized by the store. */
#ifndef LIPA_STORE_NOTICES_H
#define LIPA_STORE_NOTICES_H

#include "store/store.h"

#include <stdint.h>

#define NOTICE_BODY_MAX 8192
#define NOTICE_EVENT_MAX 40

struct client_notice {
    int64_t id;
    char client_id[37];
    int64_t payment_id;
    char event[NOTICE_EVENT_MAX + 1];
    char body[NOTICE_BODY_MAX + 1];
    char status[12];                   /* queued | delivered | failed */
    int64_t attempts, next_at;
    int64_t last_status;               /* HTTP status of the last attempt; 0: none */
    char last_error[256];
    int64_t created_at, updated_at, delivered_at;
};

struct client_notice_attempt {
    int64_t id, notice_id, at;
    int64_t http_status;               /* 0: no HTTP answer */
    char error[256];
    int64_t took_ms;
};

/* Inserts n (client_id, payment_id, event, body, next_at) as queued and
 * sets its id and times. A payment's second notice of the same event is
 * not added: ST_CONFLICT, and nothing changes. */
enum store_rc store_notice_add(struct store *st, struct client_notice *n);
enum store_rc store_notice_get(struct store *st, int64_t id, struct client_notice *n);
/* Queued notices whose next_at has come, the earliest first; the count
 * (<= max) or -1 on error. */
int store_notices_due(struct store *st, int64_t now, struct client_notice *out, int max);
/* Writes n's status, attempts, next_at, last_status, last_error and
 * delivered_at (and updated_at) by id. */
enum store_rc store_notice_save(struct store *st, struct client_notice *n);
/* An attempt of notice_id starting at `at`, its outcome not known yet
 * (error says so until store_notice_attempt_end); *id gets its id. */
enum store_rc store_notice_attempt_add(struct store *st, int64_t notice_id, int64_t at, int64_t *id);
enum store_rc store_notice_attempt_end(struct store *st, int64_t id, int64_t http_status, const char *error,
                                       int64_t took_ms);
/* A client's notices, newest first, at most max. */
enum store_rc store_notices_list(struct store *st, const char *client_id, int max,
                                 void (*fn)(void *, const struct client_notice *), void *ctx);
/* A notice's attempts, oldest first. */
enum store_rc store_notice_attempts(struct store *st, int64_t notice_id,
                                    void (*fn)(void *, const struct client_notice_attempt *), void *ctx);

#endif
