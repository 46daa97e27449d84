/* client/api_v1: the integrators' public payments (/api/v1/payments/...):
 * an integrator's web page or back-end starts an M-Pesa payment for one of
 * its packages and asks for its status. Handlers run on HTTP threads,
 * except the status, which asks M-Pesa and runs on the payment lane. */
#ifndef LIPA_CLIENT_API_V1_H
#define LIPA_CLIENT_API_V1_H

#include "http/server.h"

#include <stdbool.h>

extern const struct http_route client_v1_routes[];

struct app;
struct client;
/* Every integrators' face counts a known, active client's requests
 * against one budget (LIPA_CLIENT_RATE_LIMIT per LIPA_CLIENT_RATE_WINDOW):
 * adds the X-RateLimit headers; over it, answers 429 with Retry-After in
 * the route's envelope and returns false. */
bool client_within_budget(struct app *a, struct http_req *req, struct http_resp *resp, const struct client *c);
/* One M-Pesa prompt more for phone (E.164; LIPA_PHONE_RATE_LIMIT): over
 * the budget, answers 429 and returns false. */
bool client_payer_within_budget(struct app *a, struct http_req *req, struct http_resp *resp, const char *phone);

#endif
