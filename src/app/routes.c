/* app/routes: every endpoint lipad serves. Each face keeps its own table
 * of its own (static) handlers, with the envelope of its replies and the
 * lane of the handlers that call a provider; this file joins them. */
#include "app/routes.h"

#include "app/app.h"
#include "app/openapi.h"
#include "charge/api.h"
#include "client/api.h"
#include "client/api_v1.h"
#include "http/cors.h"
#include "http/api.h"
#include "meter/api.h"
#include "otp/api.h"
#include "pay/api.h"
#include "sms/api.h"
#include "user/api.h"
#include "ussd/api.h"
#include "water/api.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

/* lipad serves the tables in this order; the first match wins, so a face's
 * specific paths come before another's patterns that could shadow them */
static const struct http_route *const tables[] = {
    ussd_routes, ops_routes, user_routes, device_routes, billing_routes, meter_user_routes, mpesa_routes,
    charge_routes, water_routes, otp_routes, sms_routes, client_routes, client_v1_routes, openapi_routes,
};

static struct http_route *all_routes;

static void build(void)
{
    size_t n = 0;
    for (size_t t = 0; t < sizeof tables / sizeof tables[0]; t++)
        for (const struct http_route *r = tables[t]; r->method; r++)
            n++;
    all_routes = calloc(n + 1, sizeof *all_routes); /* the NULL method ends it */
    if (!all_routes)
        return;
    n = 0;
    for (size_t t = 0; t < sizeof tables / sizeof tables[0]; t++)
        for (const struct http_route *r = tables[t]; r->method; r++)
            all_routes[n++] = *r;
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
    struct app *a = ctx;
    struct http_req r = *req;
    struct http_route fake = {NULL, NULL, NULL, ENV_PLAIN, 0};
    if (req->route) /* a lane's 503/504: the route's own envelope */
        fake.envelope = req->route->envelope;
    else if (!strncmp(req->path, "/devices", 8))
        fake.envelope = ENV_DEVICE;
    else if (!strncmp(req->path, "/api/v1/", 8))
        fake.envelope = ENV_BARE;
    else if (!strncmp(req->path, "/api/", 5))
        fake.envelope = ENV_DATA;
    r.route = &fake;
    /* the integrators' face is called from web pages: its errors too must
     * be readable by the page that asked */
    if (!strncmp(req->path, "/api/v1/", 8))
        http_cors(req, resp, a->cfg.cors_origins);
    int lane = req->route ? req->route->lane : 0;
    if (status == 503 && !req->route) /* answered as lipad stops */
        api_error(&r, resp, ERR_UNAVAILABLE, NULL, "The service is restarting; try again shortly");
    else if (status == 503)
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
