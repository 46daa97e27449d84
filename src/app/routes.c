/* app/routes: every endpoint lipad serves, with the envelope of the seed
 * document that owns it (see http/api.h). */
#include "app/routes.h"

#include "app/app.h"
#include "http/api.h"
#include "meter/api.h"
#include "pay/api.h"
#include "user/user.h"
#include "ussd/handler.h"

#include <pthread.h>
#include <string.h>

static const struct http_route core_routes[] = {
    /* Africa's Talking */
    {"POST", "/api/ussd", ussd_hop, ENV_PLAIN, 0},
    {"POST", "/api/ussd/events", ussd_event, ENV_PLAIN, 0},
    /* operations */
    {"GET", "/api/health", app_health, ENV_DATA, 0},
    {"GET", "/metrics", app_metrics, ENV_PLAIN, 0},
    /* lipa's users */
    {"POST", "/users", user_create, ENV_PLAIN, 0},
    {"GET", "/users", user_list, ENV_PLAIN, 0},
    {"GET", "/users/{id}", user_get, ENV_PLAIN, 0},
    /* document 002: devices */
    {"GET", "/devices", devices_list, ENV_DEVICE, 0},
    {"POST", "/devices", devices_create, ENV_DEVICE, 0},
    {"GET", "/devices/{id}", devices_get, ENV_DEVICE, LANE_METER},
    {"PUT", "/devices/{id}", devices_update, ENV_DEVICE, 0},
    {"DELETE", "/devices/{id}", devices_delete, ENV_DEVICE, 0},
    {"POST", "/devices/{id}/assign", devices_assign, ENV_DEVICE, 0},
    {"DELETE", "/devices/{id}/assign/{userId}", devices_unassign, ENV_DEVICE, 0},
    {"GET", "/devices/{id}/users", devices_users, ENV_DEVICE, 0},
    {"POST", "/devices/refresh", devices_refresh, ENV_DEVICE, LANE_METER},
    {"POST", "/devices/{id}/add-balance", devices_add_balance, ENV_DEVICE, LANE_METER},
    {"POST", "/devices/{id}/add-token", devices_add_token, ENV_DEVICE, LANE_METER},
    {"GET", "/devices/{id}/balance", devices_balance, ENV_DEVICE, LANE_METER},
    {"GET", "/devices/{id}/usage", devices_usage, ENV_DEVICE, LANE_METER},
    {"POST", "/devices/{id}/set-price", devices_set_price, ENV_DEVICE, LANE_METER},
    {"POST", "/devices/{id}/reset-balance", devices_reset_balance, ENV_DEVICE, LANE_METER},
    {"POST", "/devices/{id}/prepayment-mode", devices_prepayment_mode, ENV_DEVICE, LANE_METER},
    /* document 000: assignments and M-Pesa */
    {"POST", "/meter-user/assign", mu_assign, ENV_PLAIN, 0},
    {"POST", "/meter-user/unassign", mu_unassign, ENV_PLAIN, 0},
    {"GET", "/meter-user/user/{userId}/meters", mu_user_meters, ENV_PLAIN, 0},
    {"GET", "/meter-user/meter/{meterId}/users", mu_meter_users, ENV_PLAIN, 0},
    {"GET", "/meter-user/is-assigned", mu_is_assigned, ENV_PLAIN, 0},
    {"POST", "/meter-user/generate-assignments", mu_generate, ENV_PLAIN, 0},
    {"POST", "/mpesa/payment", mpesa_payment, ENV_PLAIN, 0},
    {"GET", "/mpesa/status/{checkoutRequestId}", mpesa_status, ENV_PLAIN, 0},
    {"POST", "/mpesa/callback", mpesa_callback, ENV_PLAIN, 0},
    {"GET", "/mpesa/transactions", mpesa_transactions, ENV_PLAIN, 0},
    {NULL, NULL, NULL, 0, 0},
};

/* Each domain keeps its own table; lipad serves them in this order (the
 * first match wins, so a document's specific paths come before patterns
 * of another that could shadow them). */
static const struct http_route *const tables[] = {
    core_routes, water_routes, otp_routes, sms_routes,
};

static struct http_route all_routes[256];

static void build(void)
{
    size_t n = 0;
    for (size_t t = 0; t < sizeof tables / sizeof tables[0]; t++)
        for (const struct http_route *r = tables[t]; r->method && n + 1 < sizeof all_routes / sizeof all_routes[0]; r++)
            all_routes[n++] = *r;
    all_routes[n] = (struct http_route){NULL, NULL, NULL, 0, 0};
}

const struct http_route *app_routes(void)
{
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once(&once, build);
    return all_routes;
}

void app_lanes(const struct app *a, struct http_lane *lanes)
{
    static const char *const names[LANE_COUNT] = {"meter", "payment"};
    for (int i = 0; i < LANE_COUNT; i++)
        lanes[i] = (struct http_lane){
            .name = names[i], .threads = (unsigned)a->cfg.lane_threads, .queue_max = (unsigned)a->cfg.lane_queue,
            .deadline_ms = a->cfg.rest_wait_ms,
        };
}

/* What a lane's provider is called in its error messages. */
static const char *lane_provider(int lane)
{
    return lane == LANE_METER ? "the meter cloud" : lane == LANE_PAYMENT ? "the payment provider" : "a provider";
}

void app_on_error(void *ctx, const struct http_req *req, struct http_resp *resp, int status)
{
    (void)ctx;
    struct http_req r = *req;
    struct http_route fake = {NULL, NULL, NULL, ENV_PLAIN, 0};
    if (req->route) /* a lane's 503/504: the route's own envelope */
        fake.envelope = req->route->envelope;
    else if (!strncmp(req->path, "/devices", 8))
        fake.envelope = ENV_DEVICE;
    else if (!strncmp(req->path, "/api/", 5))
        fake.envelope = ENV_DATA;
    r.route = &fake;
    int lane = req->route ? req->route->lane : 0;
    if (status == 503)
        api_error(&r, resp, ERR_UNAVAILABLE, NULL, "Too many requests are waiting for %s; try again shortly",
                  lane_provider(lane));
    else if (status == 504)
        api_error(&r, resp, ERR_TIMEOUT, NULL,
                  "No answer in time from %s; the outcome is not known yet, so check before trying again",
                  lane_provider(lane));
    else if (status == 500)
        api_error(&r, resp, ERR_INTERNAL, NULL, "the request could not be answered");
    if (status == 404)
        api_error(&r, resp, ERR_NOT_FOUND, fake.envelope == ENV_DEVICE ? "not_found" : "NOT_FOUND",
                  "No endpoint %s %.100s", req->method, req->path);
    else if (status == 405)
        api_error(&r, resp, ERR_METHOD, NULL, "Method %s is not allowed on %.100s", req->method, req->path);
    else if (status == 413)
        api_error(&r, resp, ERR_TOO_LARGE, NULL, "body: larger than the limit");
}
