/* water/api: the water faces (/api/payments/...): the price preview,
 * orders paid by M-Pesa (STK push) or Paystack (hosted checkout), their
 * status, the M-Pesa callback, and Paystack's callback. Paystack's webhook
 * is one for the whole account: charge/api.h handles it on both paths. */
#ifndef LIPA_WATER_API_H
#define LIPA_WATER_API_H

#include "http/server.h"

extern const struct http_route water_routes[];
/* GET /api/payments/status/:reference for a water order (the integrators'
 * Paystack face serves that path and hands water references here). */
void water_status(void *ctx, struct http_req *req, struct http_resp *resp);

#endif
