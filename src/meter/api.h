/* meter/api: the REST faces of meters: /devices (devices and billing)
 * and /meter-user (assignments). One data model: a device's `id` is the
 * `meterId` that /meter-user and /mpesa speak of. Handlers run on HTTP threads; state is in the
 * store; GET /devices/{id} asks the meter cloud for live status (a REST
 * call, never on a USSD hop). */
#ifndef LIPA_METER_API_H
#define LIPA_METER_API_H

#include "http/server.h"
#include "store/meters.h"
#include "store/store.h"

#include <jansson.h>

/* A device as the /devices faces show it; the owner's phone number and the
 * location are personal data, included only when personal (the admin asks). */
json_t *meter_json(const struct meter *m, bool personal);

/* For the faces of this folder: loads the meter named by the request's
 * first path parameter into m, or answers 404 device_not_found (500 when
 * the store fails) and returns false. */
struct app;
bool meter_api_load(struct app *a, struct http_req *req, struct http_resp *resp, struct meter *m);

/* From a meter's status list [{code, value}]: the number reported for
 * code, divided by scale (100 for Tuya's scale-2 energy codes); false
 * when the meter does not report it as a number. */
bool meter_api_dp(json_t *status, const char *code, double scale, double *out);
/* The money balance (money units, as the meter keeps them) from the
 * vendor data points that carry it; false when the meter reports none. */
bool meter_api_money(json_t *status, double *out);

/* /devices (api_devices.c), its billing and maintenance commands, which
 * call the meter cloud on its lane (api_billing.c), and /meter-user
 * (api_assign.c). */
extern const struct http_route device_routes[];
extern const struct http_route billing_routes[];
extern const struct http_route meter_user_routes[];

#endif
