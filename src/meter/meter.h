/* meter: the meter-cloud interface. One provider per file fills a
 * `const struct meter_provider` (meter/tuya.c). Calls block and run on
 * worker threads. A provider state is thread-safe (it guards its token). */
#ifndef LIPA_METER_H
#define LIPA_METER_H

#include "util/config.h"

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

enum meter_outcome {
    METER_OK = 0,
    METER_RETRY,    /* transport error, timeout, 5xx: try later */
    METER_REJECT,   /* refused for good: unknown device, bad request */
};

struct meter_res {
    enum meter_outcome outcome;
    int http_status;
    char detail[256];
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
    /* Every device the cloud account holds, as [{id, name, product_name,
     * online}] (all pages); *out is new (caller json_decref), NULL unless
     * res->outcome is METER_OK. */
    void (*list)(void *st, json_t **out, struct meter_res *res);
};

extern const struct meter_provider meter_tuya;

/* Tuya request signature (protocols.md), exposed for the vector test.
 * access_token NULL or "" for the token call; sig_headers is the already
 * joined "name:value\n..." block ("" without Signature-Headers); url is the
 * path with its query sorted by key. out gets 64 upper-case hex + NUL. */
void tuya_sign(const char *client_id, const char *secret, const char *access_token,
               const char *t, const char *nonce, const char *method, const char *body,
               const char *sig_headers, const char *url, char out[65]);

#endif
