/* app/health: GET /api/health (the water face's shape, with lipa's database,
 * provider and outbox facts) and GET /metrics (Prometheus text). */
#include "app/app.h"
#include "app/routes.h"
#include "http/api.h"
#include "store/payments.h"
#include "store/sms.h"
#include "util/metrics.h"
#include "util/str.h"

#include <stdio.h>

static const char *const provider_names[PROV_COUNT] = {"daraja", "africastalking", "tuya"};

/* The rule of "degraded" (docs/operations.md, section 5): a provider
 * whose last call failed, that call made within LIPA_HEALTH_WINDOW
 * seconds. One success clears it; a failure older than the window no
 * longer counts, as nothing has tried the provider since. */
static bool provider_degraded(const struct provider_health *h, int64_t now, int64_t window_ms)
{
    return h->known && !h->ok && now - h->at <= window_ms;
}

static void app_health(void *ctx, struct http_req *req, struct http_resp *resp)
{
    struct app *a = ctx;
    struct store_db sd;
    store_db_state(a->store, &sd);
    bool db = sd.up;
    int64_t depth = db ? store_outbox_depth(a->store) : -1;
    json_t *providers = json_object(), *degraded = json_array();
    int64_t now = now_ms(), window_ms = a->cfg.health_window * 1000;
    pthread_mutex_lock(&a->health_lock);
    for (int i = 0; i < PROV_COUNT; i++) {
        const struct provider_health *h = &a->health[i];
        json_t *p;
        if (!h->known) {
            p = json_pack("{s:s}", "status", "unknown");
        } else {
            char at[32];
            str_iso_time(h->at, at);
            p = json_pack("{s:s, s:s, s:s}", "status", h->ok ? "ok" : "failing", "detail", h->detail, "at", at);
            if (!h->ok) {
                char since[32];
                str_iso_time(h->failing_since, since);
                json_object_set_new(p, "failures", json_integer((json_int_t)h->failures));
                json_object_set_new(p, "failingSince", json_string(since));
            }
        }
        json_object_set_new(providers, provider_names[i], p);
        if (provider_degraded(h, now, window_ms))
            json_array_append_new(degraded, json_string(provider_names[i]));
    }
    pthread_mutex_unlock(&a->health_lock);
    const char *status = !db ? "unhealthy" : json_array_size(degraded) ? "degraded" : "healthy";
    char ts[32];
    str_iso_time(now, ts);
    json_t *data = json_pack("{s:s, s:o, s:s, s:{s:s, s:b, s:I}, s:o, s:{s:I}, s:s, s:I}", "status", status,
                             "degraded", degraded, "database", db ? "connected" : "disconnected", "store",
                             "backend", sd.backend, "up", db, "reconnects", (json_int_t)sd.reconnects, "providers",
                             providers, "outbox", "depth", (json_int_t)depth, "timestamp", ts, "uptimeSeconds",
                             (json_int_t)((now - a->started_at) / 1000));
    if (!db) {
        json_t *env = json_pack("{s:b, s:s, s:s, s:o}", "success", 0, "message", "Database unavailable", "error",
                                "SERVICE_UNAVAILABLE", "data", data);
        api_json(resp, 503, env);
    } else if (json_array_size(degraded)) {
        /* still 200: the instance answers USSD and queues what a provider
         * refuses, so a load balancer keeps sending it traffic */
        api_ok(req, resp, 200, "Service is degraded", data);
    } else {
        api_ok(req, resp, 200, "Service is healthy", data);
    }
}

/* One metric's HELP and TYPE lines, then its sample. */
static void one(struct buf *b, const char *name, const char *type, const char *help, long long v)
{
    buf_printf(b, "# HELP %s %s\n# TYPE %s %s\n%s %lld\n", name, help, name, type, name, v);
}

static void app_metrics(void *ctx, struct http_req *req, struct http_resp *resp)
{
    struct app *a = ctx;
    struct store_memory m;
    struct store_db sd;
    int64_t oldest_ms;
    (void)req;
    store_memory(a->store, &m);
    store_db_state(a->store, &sd);
    int64_t depth = store_outbox_queue(a->store, &oldest_ms);
    /* 0 with nothing queued (or a row from a lipad whose clock is ahead);
     * -1, as the depth, when the database did not answer */
    int64_t now = now_ms(), age_ms = depth < 0 ? -1000 : 0;
    if (depth > 0 && oldest_ms > 0 && now > oldest_ms)
        age_ms = now - oldest_ms;
    resp->status = 200;
    resp->content_type = "text/plain; version=0.0.4";
    struct buf *b = &resp->body;
    buf_reset(b);
    one(b, "lipa_ussd_hops_total", "counter", "USSD hops with a valid sessionId and a Kenyan number.",
        (long long)atomic_load(&a->hops));
    one(b, "lipa_purchases_total", "counter", "Purchases and water orders newly stored.",
        (long long)atomic_load(&a->purchases));
    one(b, "lipa_mpesa_callbacks_total", "counter", "M-Pesa callbacks with the right secret and a readable body.",
        (long long)atomic_load(&a->callbacks));
    one(b, "lipa_sms_sent_total", "counter", "SMS the SMS provider accepted.", (long long)atomic_load(&a->sms_sent));
    one(b, "lipa_sms_failed_total", "counter", "SMS given up (refused, or out of retries).",
        (long long)atomic_load(&a->sms_failed));
    one(b, "lipa_topups_total", "counter", "Meter top-ups done.", (long long)atomic_load(&a->topups_done));
    one(b, "lipa_outbox_depth", "gauge", "SMS queued or sending (-1: the database did not answer).",
        (long long)depth);
    buf_printf(b, "# HELP lipa_outbox_oldest_age_seconds Age of the oldest SMS queued or sending (0: none).\n"
                  "# TYPE lipa_outbox_oldest_age_seconds gauge\nlipa_outbox_oldest_age_seconds %lld.%03lld\n",
               (long long)(age_ms / 1000), (long long)(age_ms < 0 ? 0 : age_ms % 1000)); /* -1.000 or s.ms */
    struct store_queue q[STORE_QUEUES];
    bool queues = store_queues(a->store, q);
    buf_puts(b, "# HELP lipa_queue_depth Rows waiting in a work queue (-1: the database did not answer).\n"
                "# TYPE lipa_queue_depth gauge\n");
    for (int i = 0; i < STORE_QUEUES; i++)
        buf_printf(b, "lipa_queue_depth{queue=\"%s\"} %lld\n", store_queue_names[i],
                   queues ? (long long)q[i].depth : -1LL);
    buf_puts(b, "# HELP lipa_queue_oldest_age_seconds Age of the oldest row waiting in a work queue (0: none; "
                "-1: the database did not answer).\n"
                "# TYPE lipa_queue_oldest_age_seconds gauge\n");
    for (int i = 0; i < STORE_QUEUES; i++) {
        int64_t age = !queues ? -1000 : q[i].depth > 0 && q[i].oldest_ms > 0 && now > q[i].oldest_ms
                                             ? now - q[i].oldest_ms : 0;
        buf_printf(b, "lipa_queue_oldest_age_seconds{queue=\"%s\"} %lld.%03lld\n", store_queue_names[i],
                   (long long)(age / 1000), (long long)(age < 0 ? 0 : age % 1000));
    }
    one(b, "lipa_purchases_waiting", "gauge", "USSD purchases the database refused, waiting in the intake.",
        store_take_waiting(a->store));
    one(b, "lipa_ussd_sessions_held", "gauge", "USSD sessions held in memory.", (long long)m.sessions);
    one(b, "lipa_callers_held", "gauge", "Callers' profiles held in memory.", (long long)m.callers);
    one(b, "lipa_memory_tables_bytes", "gauge", "Bytes of the sessions and callers held in memory.",
        (long long)m.bytes);
    one(b, "lipa_ussd_sessions_dropped_total", "counter", "USSD sessions pushed out of memory by the cap.",
        (long long)m.sessions_dropped);
    one(b, "lipa_callers_dropped_total", "counter", "Callers' profiles pushed out of memory by the cap.",
        (long long)m.callers_dropped);
    buf_printf(b, "# HELP lipa_database_up 1 when the database answered a read at the scrape.\n"
                  "# TYPE lipa_database_up gauge\nlipa_database_up{backend=\"%s\"} %d\n",
               sd.backend, sd.up ? 1 : 0);
    one(b, "lipa_database_reconnects_total", "counter", "Connections to PostgreSQL opened again after one broke.",
        (long long)sd.reconnects);
    metrics_render(b);
}

const struct http_route ops_routes[] = {
    {"GET", "/api/health", app_health, ENV_DATA, 0},
    {"GET", "/metrics", app_metrics, ENV_PLAIN, 0},
    {NULL, NULL, NULL, 0, 0},
};
