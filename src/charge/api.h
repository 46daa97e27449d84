/* charge/api: the integrators' Paystack face (/api/payments/... behind
 * "Authorization: Bearer <client API key>"): checkouts, M-Pesa charges,
 * verify, status, retry, cancel, history, phone validation, escrow release,
 * and Paystack's webhook (signed by Paystack, no key). Handlers that reach
 * Paystack run on the payment lane. */
#ifndef LIPA_CHARGE_API_H
#define LIPA_CHARGE_API_H

#include "http/server.h"

extern const struct http_route charge_routes[];

/* Applies a Paystack webhook (signature, then charge_event) and answers:
 * the one handler behind both webhook paths, since a Paystack account has
 * one webhook URL for all its payments. */
void charge_webhook(void *ctx, struct http_req *req, struct http_resp *resp);

#endif
