/* config: the process configuration, declared once as a table of
 * {name, type, default, bounds, field} in config.c. Values come from an
 * optional KEY=VALUE file named by LIPA_CONFIG, then the environment (which
 * wins). An unknown LIPA_ key in the file, a malformed or out-of-range value
 * stops start-up with a message naming the variable. The struct is filled
 * once at start-up and read-only afterwards, so any thread may read it.
 *
 * LIPA_MIGRATIONS and LIPA_MENUS left at their defaults ("db", "menus")
 * are looked for in the working directory, then next to the executable:
 * <exe dir>/../share/lipa/NAME (an install: /usr/bin/lipad ->
 * /usr/share/lipa), then NAME in <exe dir>/.. up to three levels (the build
 * trees: bin/, build/san/bin/); found nowhere, start-up stops naming the
 * setting. A value that is set is taken as it is. */
#ifndef LIPA_CONFIG_H
#define LIPA_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

struct config {
    /* LIPA_MODE: "production" refuses to start without real provider
     * credentials or with an http:// LIPA_PUBLIC_URL (config_load);
     * "development" (the default) lets make run and the tests use the
     * sandboxes */
    char *mode;
    bool production;
    int64_t port;
    char *bind;                /* the address to listen on (numeric IPv4 or IPv6, no brackets) */
    char *instance;            /* this lipad among those on one database (its claims) */
    int64_t lease_ms;          /* how long a worker's claim on a row holds */
    char *db, *menus, *migrations, *public_url, *admin_key, *pepper, *callback_secret;
    int64_t threads, body_max, log_debug;
    int64_t sessions_max, callers_max;  /* USSD sessions and callers held in memory */
    int64_t ussd_resume_window;         /* s a dropped caller may resume in (0: off) */
    /* electricity */
    int64_t min_amount, max_amount, price_per_kwh_cents;
    int64_t settle_after, payment_timeout, worker_poll_ms, retry_base_ms;
    /* providers */
    char *pay_provider, *sms_provider, *meter_provider;
    char *daraja_url, *daraja_key, *daraja_secret, *daraja_shortcode, *daraja_passkey, *daraja_type;
    char *at_url, *at_username, *at_apikey, *at_sender;
    char *tuya_url, *tuya_client_id, *tuya_secret;
    int64_t http_timeout_ms;
    int64_t max_connections, connections_per_ip, header_timeout_ms, body_timeout_ms;
    int64_t lane_threads, lane_queue, rest_wait_ms, push_wait_ms, phone_rate_limit, phone_rate_window;
    /* checking an unanswered top-up with the meter cloud's log */
    int64_t topup_late_ms, topup_skew_ms;
    /* water */
    char *paystack_url, *paystack_secret, *water_rounding, *water_currency;
    int64_t water_price_cents, water_min_amount, water_max_amount;
    int64_t otp_ttl, otp_attempts, pulses_per_liter, station_lock;
    int64_t rate_limit, rate_window;
    /* SMS (issue 4) */
    int64_t sms_rate, sms_max_parts, sms_unknown_replies, sms_unknown_window;
    /* integrators: the public payments' budget per client and the web
     * pages allowed to call them; notices to their callback URLs */
    int64_t client_rate_limit, client_rate_window;
    char *cors_origins;
    int64_t notice_retry_ms, notice_max_age, notice_timeout_ms;
    /* GET /api/health: a provider whose last call failed less than this
     * many seconds ago makes the service "degraded" (app/health.c) */
    int64_t health_window;
};

/* Fills cfg; on error writes "LIPA_X: reason" into err and returns false.
 * getenv_fn is getenv in production; tests pass their own. */
bool config_load(struct config *cfg, const char *(*getenv_fn)(const char *),
                 char *err, size_t errsz);
void config_free(struct config *cfg);
/* The URL settings that point at a sandbox (Daraja's or Africa's
 * Talking's own, or a loopback address: the bundled sandbox): their names
 * into names (at most max), the count returned. lipad warns of each at
 * start, in either mode. */
size_t config_sandbox_urls(const struct config *cfg, const char **names, size_t max);
/* Prints every key with its default, one per line (for --help), to f. */
void config_usage(FILE *f);

#endif
