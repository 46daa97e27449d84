/* water/api: the water faces (/api/payments/...): the price preview,
 * orders paid by M-Pesa (STK push) or Paystack (hosted checkout), their
 * status, the M-Pesa callback, and Paystack's callback and webhook. */
#ifndef LIPA_WATER_API_H
#define LIPA_WATER_API_H

#include "http/server.h"

extern const struct http_route water_routes[];

#endif
