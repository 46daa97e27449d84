/* app/health: GET /api/health (the water face's shape, with lipa's database,
 * provider and outbox facts) and GET /metrics (Prometheus text). */
#include "app/app.h"
#include "app/routes.h"
#include "http/api.h"
#include "store/payments.h"
#include "store/sms.h"
#include "util/str.h"

#include <stdio.h>

static const char *const provider_names[PROV_COUNT] = {"daraja", "africastalking", "tuya"};

static void app_health(void *ctx, struct http_req *req, struct http_resp *resp)
{
    struct app *a = ctx;
    struct store_db sd;
    store_db_state(a->store, &sd);
    bool db = sd.up;
    int64_t depth = db ? store_outbox_depth(a->store) : -1;
    json_t *providers = json_object();
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
        }
        json_object_set_new(providers, provider_names[i], p);
    }
    pthread_mutex_unlock(&a->health_lock);
    char ts[32];
    str_iso_time(now_ms(), ts);
    json_t *data = json_pack("{s:s, s:s, s:{s:s, s:b, s:I}, s:o, s:{s:I}, s:s, s:I}", "status",
                             db ? "healthy" : "unhealthy", "database", db ? "connected" : "disconnected", "store",
                             "backend", sd.backend, "up", db, "reconnects", (json_int_t)sd.reconnects, "providers",
                             providers, "outbox", "depth", (json_int_t)depth, "timestamp", ts, "uptimeSeconds",
                             (json_int_t)((now_ms() - a->started_at) / 1000));
    if (db) {
        api_ok(req, resp, 200, "Service is healthy", data);
    } else {
        json_t *env = json_pack("{s:b, s:s, s:s, s:o}", "success", 0, "message", "Database unavailable", "error",
                                "SERVICE_UNAVAILABLE", "data", data);
        api_json(resp, 503, env);
    }
}

static void app_metrics(void *ctx, struct http_req *req, struct http_resp *resp)
{
    struct app *a = ctx;
    struct store_memory m;
    struct store_db sd;
    (void)req;
    store_memory(a->store, &m);
    store_db_state(a->store, &sd);
    resp->status = 200;
    resp->content_type = "text/plain; version=0.0.4";
    buf_reset(&resp->body);
    buf_printf(&resp->body,
               "# TYPE lipa_ussd_hops_total counter\nlipa_ussd_hops_total %lld\n"
               "# TYPE lipa_purchases_total counter\nlipa_purchases_total %lld\n"
               "# TYPE lipa_mpesa_callbacks_total counter\nlipa_mpesa_callbacks_total %lld\n"
               "# TYPE lipa_sms_sent_total counter\nlipa_sms_sent_total %lld\n"
               "# TYPE lipa_sms_failed_total counter\nlipa_sms_failed_total %lld\n"
               "# TYPE lipa_topups_total counter\nlipa_topups_total %lld\n"
               "# TYPE lipa_outbox_depth gauge\nlipa_outbox_depth %lld\n"
               "# TYPE lipa_purchases_waiting gauge\nlipa_purchases_waiting %d\n"
               "# TYPE lipa_ussd_sessions_held gauge\nlipa_ussd_sessions_held %lld\n"
               "# TYPE lipa_callers_held gauge\nlipa_callers_held %lld\n"
               "# TYPE lipa_memory_tables_bytes gauge\nlipa_memory_tables_bytes %lld\n"
               "# TYPE lipa_ussd_sessions_dropped_total counter\nlipa_ussd_sessions_dropped_total %lld\n"
               "# TYPE lipa_callers_dropped_total counter\nlipa_callers_dropped_total %lld\n"
               "# TYPE lipa_database_up gauge\nlipa_database_up{backend=\"%s\"} %d\n"
               "# TYPE lipa_database_reconnects_total counter\nlipa_database_reconnects_total %lld\n",
               (long long)atomic_load(&a->hops), (long long)atomic_load(&a->purchases),
               (long long)atomic_load(&a->callbacks), (long long)atomic_load(&a->sms_sent),
               (long long)atomic_load(&a->sms_failed), (long long)atomic_load(&a->topups_done),
               (long long)store_outbox_depth(a->store), store_take_waiting(a->store), (long long)m.sessions,
               (long long)m.callers, (long long)m.bytes, (long long)m.sessions_dropped, (long long)m.callers_dropped,
               sd.backend, sd.up ? 1 : 0, sd.reconnects);
}

const struct http_route ops_routes[] = {
    {"GET", "/api/health", app_health, ENV_DATA, 0},
    {"GET", "/metrics", app_metrics, ENV_PLAIN, 0},
    {NULL, NULL, NULL, 0, 0},
};
