/* app/routes: lipad's routes, joined from every face's own table, and
 * the operations faces (health, metrics) of app/health.c. */
#ifndef LIPA_ROUTES_H
#define LIPA_ROUTES_H

#include "http/server.h"

/* The lanes of handlers that call a provider (http/server.h): one per
 * provider family, so a slow or abused meter cloud fills its own lane and
 * nothing else. A route names its lane in its table. */
enum app_lane {
    LANE_METER = 1,   /* the meter cloud: live readings, commands, the device list */
    LANE_PAYMENT = 2, /* M-Pesa queries, Paystack checkouts and verifications */
    LANE_COUNT = 2,
};
struct app;
/* Filled from the configuration (LIPA_LANE_THREADS, LIPA_LANE_QUEUE,
 * LIPA_REST_WAIT_MS); lanes has room for LANE_COUNT. */
void app_lanes(const struct app *a, struct http_lane *lanes);

/* Every route of lipad, the faces' tables joined once (NULL when out of
 * memory at the first call). */
const struct http_route *app_routes(void);
/* GET /api/health and GET /metrics (app/health.c). */
extern const struct http_route ops_routes[];
/* Replies for 404/405/413, and 503/504 from a lane, in the envelope of the
 * route (or of the path's face when no route matched). */
void app_on_error(void *ctx, const struct http_req *req, struct http_resp *resp, int status);

#endif
