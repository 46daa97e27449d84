/* pay/api: document 000's /mpesa endpoints on lipa's payments: start a
 * meter purchase, read its status, list transactions, and the Daraja
 * callback (guarded by the per-deployment secret in its query string). */
#ifndef LIPA_PAY_API_H
#define LIPA_PAY_API_H

#include "http/server.h"
#include "store/store.h"

#include <jansson.h>

/* The MpesaTransaction shape plus lipa's fields. The payer's phone number,
 * user, meter and M-Pesa receipt are personal data, included only when
 * personal (the admin asks). */
json_t *payment_json(const struct payment *p, bool personal);

extern const struct http_route mpesa_routes[];

#endif
