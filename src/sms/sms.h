/* sms: the SMS-provider interface. One provider per file fills a
 * `const struct sms_provider` (sms/at.c for Africa's Talking). Sending blocks
 * and runs on the outbox worker only. A provider state is thread-safe. */
#ifndef LIPA_SMS_H
#define LIPA_SMS_H

#include "util/config.h"

#include <stdbool.h>

enum sms_outcome {
    SMS_SENT = 0,   /* accepted by the provider (AT 100/101/102) */
    SMS_RETRY,      /* transport error, timeout, 5xx, AT 405/5xx status: later */
    SMS_REJECT,     /* refused for good (AT 401 key, 403/404/406...) */
};

struct sms_send_res {
    enum sms_outcome outcome;
    int http_status;
    int status_code;            /* per-recipient statusCode, 0 if none */
    char message_id[96];
    char detail[256];           /* status text or error, for the outbox row */
};

struct sms_provider {
    const char *name;
    void *(*create)(const struct config *cfg);
    void (*destroy)(void *st);
    void (*send)(void *st, const char *phone_e164, const char *text, struct sms_send_res *res);
};

extern const struct sms_provider sms_at;

#endif
