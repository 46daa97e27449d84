/* app: the one context struct that travels to every handler and worker:
 * config, store, loaded menus, provider clients, provider health, metrics.
 * Nothing else in lipad is a mutable global. Thread-safety: config is
 * read-only after start; menus are swapped under a lock and handed out with
 * a reference; health and metrics use their own lock / atomics. */
#ifndef LIPA_APP_H
#define LIPA_APP_H

#include "store/store.h"
#include "util/buf.h"
#include "util/config.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>

struct meter_provider;
struct outbox_placeholder;
struct payment;
struct pay_provider;
struct sms_provider;
struct ussd_menus;
struct text_commands;
struct prompts;
struct pushwait;
struct ratelimit;
struct shared_token;

enum provider_id { PROV_DARAJA, PROV_AT, PROV_TUYA, PROV_COUNT };

struct provider_health {
    bool known, ok;
    int64_t at;            /* ms of the last call */
    int64_t failures;      /* failed calls in a row up to the last (0: it succeeded) */
    int64_t failing_since; /* ms of the first of them (0: none) */
    char detail[160];
};

struct app {
    struct config cfg;
    struct store *store;
    char callback_secret[65];   /* in the M-Pesa callback URL */

    pthread_mutex_t menus_lock;
    struct ussd_menus *menus;
    struct text_commands *text_commands; /* menus/sms.yaml; NULL: texting off (text/inbound.h) */

    const struct pay_provider *pay;
    void *pay_st;
    /* its access token, shared with the other lipads on the database
     * (pay/shared_token.h); NULL for a provider without one */
    struct shared_token *pay_token;
    const struct sms_provider *sms;
    void *sms_st;
    const struct meter_provider *meter;
    void *meter_st;
    void *paystack;             /* struct paystack (pay/paystack.h): water orders */
    struct prompts *prompts;    /* M-Pesa prompts awaiting an answer (pay/prompts.h) */
    /* the placeholders of SMS bodies and who renders them (sms/outbox.h),
     * ended by a NULL name */
    const struct outbox_placeholder *placeholders;
    struct pushwait *pushwait;  /* REST requests parked until their STK push (pay/api_wait.h) */
    /* the payment worker's word that p's push outcome is stored, or that
     * its push failed and is queued for a retry, for the REST requests
     * waiting for it (app.c sets pushwait_pushed; NULL: none) */
    void (*pushed)(struct app *a, const struct payment *p);
    /* payment requests a public face may start per payer phone
     * (LIPA_PHONE_RATE_LIMIT per LIPA_PHONE_RATE_WINDOW; NULL: no limit):
     * an M-Pesa prompt rings someone's phone, so nobody may ring it
     * without end from however many addresses */
    struct ratelimit *phone_limit;
    /* requests of the integrators' public payments per client id
     * (LIPA_CLIENT_RATE_LIMIT per LIPA_CLIENT_RATE_WINDOW; NULL: no limit) */
    struct ratelimit *client_limit;

    pthread_mutex_t health_lock;
    struct provider_health health[PROV_COUNT];

    /* each worker sleeps on its own condition and wakes early when work
     * of its kind is queued; a wake for a busy worker costs nothing (its
     * bit in asleep is clear) */
    pthread_mutex_t wake_lock;
    pthread_cond_t wake[8];
    atomic_uint asleep;         /* bit i: workers[i] is sleeping */
    atomic_bool stopping;
    pthread_t workers[8];
    int nworkers;

    atomic_llong hops, purchases, callbacks, sms_sent, sms_failed, topups_done;
    int64_t started_at;
};

/* Builds everything but the HTTP server and workers; false with a message
 * naming the setting or file in err. */
bool app_init(struct app *a, char *err, size_t errsz);
void app_free(struct app *a);

/* Menus: the current set with a reference (release with ussd_menus_unref),
 * and an atomic swap: a bad set is refused (errors appended) and the old
 * set keeps serving. */
struct ussd_menus *app_menus(struct app *a);
bool app_reload_menus(struct app *a, struct buf *errors);

void app_health_set(struct app *a, enum provider_id p, bool ok, const char *detail);
/* Wakes the workers that do what (after queuing that work). */
enum app_work {
    WORK_PAYMENTS = 1u << 0,   /* purchases to push, callbacks to apply */
    WORK_TOPUPS = 1u << 1,
    WORK_OUTBOX = 1u << 2,     /* SMS to send */
    WORK_TEXT = 1u << 3,        /* inbound SMS to answer */
    WORK_PAYSTACK = 1u << 4,
    WORK_NOTICES = 1u << 5,    /* notices to integrators' callback URLs */
};
void app_wake(struct app *a, unsigned what);

/* Workers: payment (STK push and settling), top-up, outbox, inbound SMS
 * (text/inbound.h), store upkeep, Paystack sweeper, integrators' notices
 * (client/notice.h). */
bool app_workers_start(struct app *a);
void app_workers_stop(struct app *a);


#endif
