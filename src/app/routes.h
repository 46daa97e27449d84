/* app/routes: lipad's route table and the app-level handlers (health,
 * metrics). Every endpoint lipad serves is listed in routes.c. */
#ifndef LIPA_ROUTES_H
#define LIPA_ROUTES_H

#include "http/server.h"

/* Every route of lipad: the domain tables below, joined once. */
const struct http_route *app_routes(void);
/* Domain route tables (each ends with a NULL method). */
extern const struct http_route water_routes[]; /* src/water/api.c: document 001 payments */
extern const struct http_route otp_routes[];   /* src/otp/api.c: document 001 OTPs, stations */
extern const struct http_route sms_routes[];   /* src/sms/api.c: inbound SMS, reports */

void app_health(void *ctx, struct http_req *req, struct http_resp *resp);
void app_metrics(void *ctx, struct http_req *req, struct http_resp *resp);
/* Replies for 404/405/413 in the envelope of the path's document. */
void app_on_error(void *ctx, const struct http_req *req, struct http_resp *resp, int status);

#endif
