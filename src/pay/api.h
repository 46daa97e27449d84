/* pay/api: the /mpesa endpoints of the meter-purchase face on lipa's payments: start a
 * meter purchase, read its status, list transactions, and the Daraja
 * callback (guarded by the per-deployment secret in its query string). */
#ifndef LIPA_PAY_API_H
#define LIPA_PAY_API_H

#include "http/server.h"
#include "store/payments.h"
#include "store/store.h"
#include "util/err.h"

#include <jansson.h>

/* The MpesaTransaction shape plus lipa's fields. The payer's phone number,
 * user, meter and M-Pesa receipt are personal data, included only when
 * personal (the admin asks). */
json_t *payment_json(const struct payment *p, bool personal);

/* Daraja's callback, at whichever path a face registered with Daraja:
 * checks the per-deployment secret in the query, then records the body
 * through the store's group commit and answers once it is stored (the
 * connection parked meanwhile, not a thread), in the face's own words:
 * reply(route, resp, e, why) with ERR_OK, ERR_UNAUTHORIZED, ERR_VALIDATION
 * (why says what is malformed) or ERR_INTERNAL (try again). */
typedef void (*pay_callback_reply_fn)(const struct http_route *route, struct http_resp *resp, enum err e,
                                      const char *why);
struct app;
void pay_callback_face(struct app *a, struct http_req *req, struct http_resp *resp, pay_callback_reply_fn reply);

extern const struct http_route mpesa_routes[];

#endif
