/* ussd/api: Africa's Talking's USSD callback (POST /api/ussd) and its
 * end-of-session notification (POST /api/ussd/events). A hop answers from
 * the store only: session state keyed by sessionId, the caller's meters,
 * and, on confirmation, the stored purchase; the STK push is the payment
 * worker's job. Runs on HTTP threads. */
#ifndef LIPA_USSD_API_H
#define LIPA_USSD_API_H

#include "http/server.h"

extern const struct http_route ussd_routes[];

#endif
