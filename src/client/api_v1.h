/* client/api_v1: the integrators' public payments (/api/v1/payments/...):
 * an integrator's web page or back-end starts an M-Pesa payment for one of
 * its packages and asks for its status. Handlers run on HTTP threads,
 * except the status, which asks M-Pesa and runs on the payment lane. */
#ifndef LIPA_CLIENT_API_V1_H
#define LIPA_CLIENT_API_V1_H

#include "http/server.h"

extern const struct http_route client_v1_routes[];

#endif
