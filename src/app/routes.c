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
    {"POST", "/api/ussd", ussd_hop, ENV_PLAIN},
    {"POST", "/api/ussd/events", ussd_event, ENV_PLAIN},
    /* operations */
    {"GET", "/api/health", app_health, ENV_DATA},
    {"GET", "/metrics", app_metrics, ENV_PLAIN},
    /* lipa's users */
    {"POST", "/users", user_create, ENV_PLAIN},
    {"GET", "/users", user_list, ENV_PLAIN},
    {"GET", "/users/{id}", user_get, ENV_PLAIN},
    /* document 002: devices */
    {"GET", "/devices", devices_list, ENV_DEVICE},
    {"POST", "/devices", devices_create, ENV_DEVICE},
    {"GET", "/devices/{id}", devices_get, ENV_DEVICE},
    {"PUT", "/devices/{id}", devices_update, ENV_DEVICE},
    {"DELETE", "/devices/{id}", devices_delete, ENV_DEVICE},
    {"POST", "/devices/{id}/assign", devices_assign, ENV_DEVICE},
    {"DELETE", "/devices/{id}/assign/{userId}", devices_unassign, ENV_DEVICE},
    {"GET", "/devices/{id}/users", devices_users, ENV_DEVICE},
    {"POST", "/devices/refresh", devices_refresh, ENV_DEVICE},
    {"POST", "/devices/{id}/add-balance", devices_add_balance, ENV_DEVICE},
    {"POST", "/devices/{id}/add-token", devices_add_token, ENV_DEVICE},
    {"GET", "/devices/{id}/balance", devices_balance, ENV_DEVICE},
    {"GET", "/devices/{id}/usage", devices_usage, ENV_DEVICE},
    {"POST", "/devices/{id}/set-price", devices_set_price, ENV_DEVICE},
    {"POST", "/devices/{id}/reset-balance", devices_reset_balance, ENV_DEVICE},
    {"POST", "/devices/{id}/prepayment-mode", devices_prepayment_mode, ENV_DEVICE},
    /* document 000: assignments and M-Pesa */
    {"POST", "/meter-user/assign", mu_assign, ENV_PLAIN},
    {"POST", "/meter-user/unassign", mu_unassign, ENV_PLAIN},
    {"GET", "/meter-user/user/{userId}/meters", mu_user_meters, ENV_PLAIN},
    {"GET", "/meter-user/meter/{meterId}/users", mu_meter_users, ENV_PLAIN},
    {"GET", "/meter-user/is-assigned", mu_is_assigned, ENV_PLAIN},
    {"POST", "/meter-user/generate-assignments", mu_generate, ENV_PLAIN},
    {"POST", "/mpesa/payment", mpesa_payment, ENV_PLAIN},
    {"GET", "/mpesa/status/{checkoutRequestId}", mpesa_status, ENV_PLAIN},
    {"POST", "/mpesa/callback", mpesa_callback, ENV_PLAIN},
    {"GET", "/mpesa/transactions", mpesa_transactions, ENV_PLAIN},
    {NULL, NULL, NULL, 0},
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
    all_routes[n] = (struct http_route){NULL, NULL, NULL, 0};
}

const struct http_route *app_routes(void)
{
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once(&once, build);
    return all_routes;
}

void app_on_error(void *ctx, const struct http_req *req, struct http_resp *resp, int status)
{
    (void)ctx;
    struct http_req r = *req;
    struct http_route fake = {NULL, NULL, NULL, ENV_PLAIN};
    if (!strncmp(req->path, "/devices", 8))
        fake.envelope = ENV_DEVICE;
    else if (!strncmp(req->path, "/api/", 5))
        fake.envelope = ENV_DATA;
    r.route = &fake;
    if (status == 404)
        api_error(&r, resp, ERR_NOT_FOUND, fake.envelope == ENV_DEVICE ? "not_found" : "NOT_FOUND",
                  "No endpoint %s %.100s", req->method, req->path);
    else if (status == 405)
        api_error(&r, resp, ERR_METHOD, NULL, "Method %s is not allowed on %.100s", req->method, req->path);
    else if (status == 413)
        api_error(&r, resp, ERR_TOO_LARGE, NULL, "body: larger than the limit");
}
