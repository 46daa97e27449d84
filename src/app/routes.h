/* app/routes: lipad's route table and the app-level handlers (health,
 * metrics). Every endpoint lipad serves is listed in routes.c. */
#ifndef LIPA_ROUTES_H
#define LIPA_ROUTES_H

#include "http/server.h"

void app_health(void *ctx, struct http_req *req, struct http_resp *resp);
void app_metrics(void *ctx, struct http_req *req, struct http_resp *resp);
/* Replies for 404/405/413 in the envelope of the path's document. */
void app_on_error(void *ctx, const struct http_req *req, struct http_resp *resp, int status);

#endif
