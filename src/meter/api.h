/* meter/api: the REST faces of meters: document 002's /devices and
 * document 000's /meter-user. One data model: a device's `id` is the
 * `meterId` of document 000. Handlers run on HTTP threads; state is in the
 * store; GET /devices/{id} asks the meter cloud for live status (a REST
 * call, never on a USSD hop). */
#ifndef LIPA_METER_API_H
#define LIPA_METER_API_H

#include "http/server.h"
#include "store/store.h"

#include <jansson.h>

/* A device as the /devices faces show it; the owner's phone number and the
 * location are personal data, included only when personal (the admin asks). */
json_t *meter_json(const struct meter *m, bool personal);

void devices_create(void *ctx, struct http_req *req, struct http_resp *resp);
void devices_list(void *ctx, struct http_req *req, struct http_resp *resp);
void devices_get(void *ctx, struct http_req *req, struct http_resp *resp);
void devices_update(void *ctx, struct http_req *req, struct http_resp *resp);
void devices_delete(void *ctx, struct http_req *req, struct http_resp *resp);
void devices_assign(void *ctx, struct http_req *req, struct http_resp *resp);
void devices_unassign(void *ctx, struct http_req *req, struct http_resp *resp);
void devices_users(void *ctx, struct http_req *req, struct http_resp *resp);

void mu_assign(void *ctx, struct http_req *req, struct http_resp *resp);
void mu_unassign(void *ctx, struct http_req *req, struct http_resp *resp);
void mu_user_meters(void *ctx, struct http_req *req, struct http_resp *resp);
void mu_meter_users(void *ctx, struct http_req *req, struct http_resp *resp);
void mu_is_assigned(void *ctx, struct http_req *req, struct http_resp *resp);
void mu_generate(void *ctx, struct http_req *req, struct http_resp *resp);

/* meter/billing.c: document 002's billing and maintenance endpoints. The
 * commands, GET balance and GET usage call the meter cloud; refresh lists
 * its devices into the store. Changes need the admin key. */
void devices_add_balance(void *ctx, struct http_req *req, struct http_resp *resp);
void devices_add_token(void *ctx, struct http_req *req, struct http_resp *resp);
void devices_balance(void *ctx, struct http_req *req, struct http_resp *resp);
void devices_usage(void *ctx, struct http_req *req, struct http_resp *resp);
void devices_set_price(void *ctx, struct http_req *req, struct http_resp *resp);
void devices_reset_balance(void *ctx, struct http_req *req, struct http_resp *resp);
void devices_prepayment_mode(void *ctx, struct http_req *req, struct http_resp *resp);
void devices_refresh(void *ctx, struct http_req *req, struct http_resp *resp);

#endif
