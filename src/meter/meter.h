/* meter: the meter-cloud interface. One provider per file fills a
 * `const struct meter_provider` (meter/tuya.c). Calls block and run on
 * worker threads. A provider state is thread-safe (it guards its token). */
#ifndef LIPA_METER_H
#define LIPA_METER_H

#include "util/config.h"

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum meter_outcome {
    METER_OK = 0,
    METER_RETRY,    /* transport error, timeout, 5xx: try later */
    METER_REJECT,   /* refused for good: unknown device, bad request */
};

struct meter_res {
    enum meter_outcome outcome;
    /* With METER_RETRY from a command: the command may have reached the
     * cloud (no answer, a timeout, a 5xx, an answer that says nothing), so
     * sending it again could apply it twice. False when the cloud said it
     * refused (or nothing was sent). */
    bool unsure;
    int http_status;
    char detail[256];
};

/* What the cloud logged as issued to a device, one code, as far as a
 * query reached. Fixed size (about 40 KiB): allocate it, not on a stack. */
#define METER_LOG_MAX 1000
struct meter_log {
    size_t n;
    struct {
        int64_t at;            /* event time, the cloud's clock (ms) */
        char value[32];        /* the value as text ("400") */
    } e[METER_LOG_MAX];
    int64_t cloud_ms;          /* the cloud's clock in its first answer */
    int64_t asked_ms, answered_ms; /* lipa's clock around that answer */
};

struct meter_provider {
    const char *name;
    void *(*create)(const struct config *cfg);
    void (*destroy)(void *st);
    /* Credits energy: hundredths of a kWh (Tuya charge_energy, scale 2). */
    void (*topup)(void *st, const char *device_id, int64_t kwh_hundredths, struct meter_res *res);
    /* Sends one data-point command {code, value}; value is borrowed. */
    void (*command)(void *st, const char *device_id, const char *code, json_t *value, struct meter_res *res);
    /* Current status as [{code, value}]; *out is new (caller json_decref). */
    void (*status)(void *st, const char *device_id, json_t **out, struct meter_res *res);
    /* The commands the device takes, from the cloud's specification of it,
     * as [{code, type, values}] (values: the cloud's JSON text of the value
     * range, "{}" for none); *out is new (caller json_decref), NULL unless
     * res->outcome is METER_OK. */
    void (*functions)(void *st, const char *device_id, json_t **out, struct meter_res *res);
    /* Every device the cloud account holds, as [{id, name, product_name,
     * online}] (all pages); *out is new (caller json_decref), NULL unless
     * res->outcome is METER_OK. */
    void (*list)(void *st, json_t **out, struct meter_res *res);
    /* The commands with this code the cloud issued to the device between
     * from_ms and to_ms (the cloud's clock), every page; log is filled
     * (overwritten). METER_OK only when the whole window was read: a
     * partial log must never look like "the command is not there". */
    void (*logs)(void *st, const char *device_id, const char *code, int64_t from_ms, int64_t to_ms,
                 struct meter_log *log, struct meter_res *res);
};

extern const struct meter_provider meter_tuya;

/* Tuya request signature, exposed for the vector test.
 * access_token NULL or "" for the token call; sig_headers is the already
 * joined "name:value\n..." block ("" without Signature-Headers); url is the
 * path with its query sorted by key. out gets 64 upper-case hex + NUL. */
void tuya_sign(const char *client_id, const char *secret, const char *access_token,
               const char *t, const char *nonce, const char *method, const char *body,
               const char *sig_headers, const char *url, char out[65]);

/* The device-log query (commands issued, type 5) as Tuya signs it: the
 * path with its query sorted by key; start_row_key "" for the first page.
 * False when it does not fit in out. Exposed for the unit test. */
bool tuya_logs_path(const char *device_id, const char *code, int64_t from_ms, int64_t to_ms,
                    const char *start_row_key, char *out, size_t outsz);
/* One page of a device-log answer: appends its entries with code to log,
 * sets next to the start_row_key of the next page ("" when it was the
 * last). False with why when the page cannot be trusted (not an answer,
 * an entry without a time, more than METER_LOG_MAX entries, more pages
 * without a key). Exposed for the unit test. */
bool tuya_logs_page(const json_t *answer, const char *code, struct meter_log *log, char *next, size_t nextsz,
                    char *why, size_t whysz);

#endif
