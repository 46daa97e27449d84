/* ussd/handler: Africa's Talking's USSD callback (POST /api/ussd) and its
 * end-of-session notification (POST /api/ussd/events). A hop answers from
 * the store only: session state keyed by sessionId, the caller's meters,
 * and, on confirmation, the stored purchase; the STK push is the payment
 * worker's job. Runs on HTTP threads. */
#ifndef LIPA_USSD_HANDLER_H
#define LIPA_USSD_HANDLER_H

#include "http/server.h"

void ussd_hop(void *ctx, struct http_req *req, struct http_resp *resp);
void ussd_event(void *ctx, struct http_req *req, struct http_resp *resp);

#endif
