/* meter/api_devices: the /devices endpoints (registry, assignment); see api.h. */
#include "meter/api.h"

#include "app/app.h"
#include "app/routes.h"
#include "http/api.h"
#include "meter/meter.h"
#include "store/meters.h"
#include "store/users.h"
#include "store/ussd.h"
#include "user/api.h"
#include "util/phone.h"
#include "util/str.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

json_t *meter_json(const struct meter *m, bool personal)
{
    char created[32], updated[32];
    str_iso_time(m->created_at, created);
    str_iso_time(m->updated_at, updated);
    json_t *j = json_pack("{s:s, s:s, s:s, s:s, s:s, s:b, s:o, s:s, s:s}", "id", m->id, "deviceId", m->device_id,
                          "name", m->name, "productName", m->product_name, "description", m->description, "active",
                          m->active, "pricePerKwh", api_decimal((double)m->price_per_kwh / 100.0, 2), "createdAt",
                          created, "updatedAt", updated);
    if (personal) {
        json_object_set_new(j, "location", json_string(m->location));
        json_object_set_new(j, "ownerPhone", json_string(m->owner_phone));
    }
    return j;
}

/* A meter or device id: what Tuya and meter numbers use, nothing else. */
static bool valid_id(const char *s)
{
    size_t n = strlen(s);
    if (!n || n > 64)
        return false;
    for (; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') ||
              *s == '-' || *s == '_'))
            return false;
    return true;
}

/* KES per kWh (a JSON number, at most two decimals) into cents. */
static bool price_cents(json_t *v, int64_t *out)
{
    double d = json_number_value(v) * 100.0;
    double r = round(d);
    if (!json_is_number(v) || fabs(d - r) > 1e-6 || r < 1 || r > 10000000)
        return false;
    *out = (int64_t)r;
    return true;
}

static const struct field device_fields[] = {
    {"id", F_STRING, 0, 1, 64},
    {"deviceId", F_STRING, F_REQUIRED, 1, 64},
    {"name", F_STRING, 0, 0, 64},
    {"productName", F_STRING, 0, 0, 128},
    {"description", F_STRING, 0, 0, 256},
    {"location", F_STRING, 0, 0, 128},
    {"active", F_BOOL, 0, 0, 0},
    {"pricePerKwh", F_NUMBER, 0, 0, 100000},
    {"ownerPhone", F_STRING, 0, 0, 20},
    {NULL, 0, 0, 0, 0},
};

/* Applies the optional fields of body to m; false after replying 400. */
static bool apply_fields(struct http_req *req, struct http_resp *resp, json_t *body, struct meter *m)
{
    const char *v;
    if ((v = api_str(body, "name")))
        str_copy(m->name, sizeof m->name, v);
    if ((v = api_str(body, "productName")))
        str_copy(m->product_name, sizeof m->product_name, v);
    if ((v = api_str(body, "description")))
        str_copy(m->description, sizeof m->description, v);
    if ((v = api_str(body, "location")))
        str_copy(m->location, sizeof m->location, v);
    json_t *act = json_object_get(body, "active");
    if (json_is_boolean(act))
        m->active = json_is_true(act);
    json_t *price = json_object_get(body, "pricePerKwh");
    if (price && !json_is_null(price) && !price_cents(price, &m->price_per_kwh)) {
        api_error(req, resp, ERR_VALIDATION, "validation_error",
                  "pricePerKwh: KES per kWh, above 0, at most two decimals");
        return false;
    }
    if ((v = api_str(body, "ownerPhone"))) {
        if (*v && !phone_normalize(v, m->owner_phone)) {
            api_error(req, resp, ERR_VALIDATION, "validation_error", "ownerPhone: not a Kenyan mobile number");
            return false;
        }
        if (!*v)
            m->owner_phone[0] = 0;
    }
    return true;
}

static void devices_create(void *ctx, struct http_req *req, struct http_resp *resp)
{
    struct app *a = ctx;
    if (!api_require_admin(req, resp, a->cfg.admin_key))
        return;
    json_t *body = api_parse(req, resp, device_fields);
    if (!body)
        return;
    struct meter m;
    memset(&m, 0, sizeof m);
    const char *dev = api_str(body, "deviceId"), *id = api_str(body, "id");
    if (!valid_id(dev)) {
        api_error(req, resp, ERR_VALIDATION, "validation_error", "deviceId: letters, digits, - and _ only");
        goto out;
    }
    if (id && !valid_id(id)) {
        api_error(req, resp, ERR_VALIDATION, "validation_error", "id: letters, digits, - and _ only");
        goto out;
    }
    str_copy(m.device_id, sizeof m.device_id, dev);
    str_copy(m.id, sizeof m.id, id ? id : dev);
    m.active = true;
    m.price_per_kwh = a->cfg.price_per_kwh_cents;
    if (!apply_fields(req, resp, body, &m))
        goto out;
    switch (store_meter_create(a->store, &m)) {
    case ST_OK:
        api_ok(req, resp, 201, NULL, meter_json(&m, true));
        break;
    case ST_CONFLICT:
        api_error(req, resp, ERR_CONFLICT, "device_exists", "A device with this id or deviceId exists");
        break;
    default:
        api_error(req, resp, ERR_INTERNAL, "internal_error", "could not store the device");
    }
out:
    json_decref(body);
}

struct listing {
    json_t *arr;
    bool personal;
};

static void add_meter(void *ctx, const struct meter *m)
{
    struct listing *l = ctx;
    json_array_append_new(l->arr, meter_json(m, l->personal));
}

/* Public: anyone may list the devices; owners' numbers and locations only
 * with the admin key. */
static void devices_list(void *ctx, struct http_req *req, struct http_resp *resp)
{
    struct app *a = ctx;
    json_t *arr = json_array();
    struct listing l = {arr, api_is_admin(req, a->cfg.admin_key)};
    if (store_meters_list(a->store, add_meter, &l) != ST_OK) {
        json_decref(arr);
        api_error(req, resp, ERR_INTERNAL, "internal_error", "could not list devices");
        return;
    }
    api_ok(req, resp, 200, NULL, json_pack("{s:I, s:o}", "count", (json_int_t)json_array_size(arr), "devices", arr));
}

bool meter_api_load(struct app *a, struct http_req *req, struct http_resp *resp, struct meter *m)
{
    enum store_rc rc = store_meter_get(a->store, req->params[0], m);
    if (rc == ST_OK)
        return true;
    if (rc == ST_NOT_FOUND)
        api_error(req, resp, ERR_NOT_FOUND, "device_not_found", "The requested device does not exist");
    else
        api_error(req, resp, ERR_INTERNAL, "internal_error", "could not read the device");
    return false;
}

bool meter_api_dp(json_t *status, const char *code, double scale, double *out)
{
    size_t i;
    json_t *it;
    json_array_foreach(status, i, it) {
        const char *c = json_string_value(json_object_get(it, "code"));
        json_t *v = json_object_get(it, "value");
        if (c && !strcmp(c, code) && json_is_number(v)) {
            *out = json_number_value(v) / scale;
            return true;
        }
    }
    return false;
}

bool meter_api_money(json_t *status, double *out)
{
    /* vendor codes, most specific first; not in Tuya's standard set, and
     * sent as plain money units (charge_money 500.0), so read without a
     * scale */
    static const char *const codes[] = {"balance_money", "money_balance", "charge_money", NULL};
    for (size_t i = 0; codes[i]; i++)
        if (meter_api_dp(status, codes[i], 1.0, out))
            return true;
    return false;
}

/* Below these a meter's credit and battery show as low: 5 kWh is a few
 * days of a household's lights and fridge; 20 % is where battery devices
 * commonly warn. */
#define CREDIT_LOW_KWH 5.0
#define BATTERY_LOW_PCT 20.0

/* The summary of GET /devices/{id}. Figures come from the meter's status
 * (Tuya's standard codes: forward_energy_total and balance_energy in
 * hundredths of a kWh, battery_percentage) and, for the energy bought,
 * from lipa's own completed purchases for the meter (tenths of a kWh).
 * A figure the meter does not report is null, not 0: a mains-powered
 * meter has no battery, and a meter without a money data point keeps no
 * money balance; 0 would read as "empty". The statuses follow their
 * figure and are null with it. */
static json_t *summary_json(json_t *status, int64_t bought_tenths)
{
    double used, credit, money, battery;
    bool has_used = meter_api_dp(status, "forward_energy_total", 100.0, &used);
    bool has_credit = meter_api_dp(status, "balance_energy", 100.0, &credit);
    bool has_money = meter_api_money(status, &money);
    bool has_battery = meter_api_dp(status, "battery_percentage", 1.0, &battery) && battery >= 0 && battery <= 100;
    json_t *j = json_object();
    json_object_set_new(j, "totalConsumption", has_used ? api_decimal(used, 2) : json_null());
    json_object_set_new(j, "creditRemaining", has_credit ? api_decimal(credit, 2) : json_null());
    json_object_set_new(j, "balance", has_money ? api_decimal(money, 2) : json_null());
    json_object_set_new(j, "totalEnergyPurchased", api_decimal((double)bought_tenths / 10.0, 1));
    json_object_set_new(j, "creditStatus", !has_credit ? json_null()
                                           : json_string(credit < CREDIT_LOW_KWH ? "Credit Level Low"
                                                                                 : "Credit Level Good"));
    json_object_set_new(j, "batteryLevel", has_battery ? json_integer((json_int_t)llround(battery)) : json_null());
    json_object_set_new(j, "batteryStatus", !has_battery ? json_null()
                                            : json_string(battery < BATTERY_LOW_PCT ? "Battery Level Low"
                                                                                    : "Battery Level Good"));
    return j;
}

/* A device with what the meter cloud says of it: its status, the
 * functions of its specification, and the summary. Public; the owner's
 * number and location only for the admin. Without the cloud's answer
 * there is nothing to show: 502 connection_error, as for every other
 * read of the meter. */
static void devices_get(void *ctx, struct http_req *req, struct http_resp *resp)
{
    struct app *a = ctx;
    struct meter m;
    json_t *status = NULL, *functions = NULL;
    struct meter_res res = {0};
    const char *what = "the status read";
    int64_t bought = 0;
    if (!meter_api_load(a, req, resp, &m))
        return;
    a->meter->status(a->meter_st, m.device_id, &status, &res);
    if (res.outcome == METER_OK && json_is_array(status)) {
        what = "the specification read";
        a->meter->functions(a->meter_st, m.device_id, &functions, &res);
    }
    app_health_set(a, PROV_TUYA, res.outcome != METER_RETRY, res.outcome == METER_OK ? "status read" : res.detail);
    if (res.outcome != METER_OK || !json_is_array(status) || !json_is_array(functions)) {
        api_error(req, resp, ERR_PROVIDER, "connection_error", "Failed to get the device from the meter cloud (%s): %s",
                  what, res.outcome != METER_OK && res.detail[0] ? res.detail : "no usable answer");
        goto out;
    }
    if (store_meter_energy_bought(a->store, m.id, 0, &bought) != ST_OK) {
        api_error(req, resp, ERR_INTERNAL, "internal_error", "could not sum the device's purchases");
        goto out;
    }
    json_t *device = meter_json(&m, api_is_admin(req, a->cfg.admin_key));
    json_object_set_new(device, "online", json_true()); /* the cloud answered for it */
    api_ok(req, resp, 200, NULL,
           json_pack("{s:o, s:O, s:{s:O}, s:o}", "device", device, "status", status, "specifications", "functions",
                     functions, "summary", summary_json(status, bought)));
out:
    json_decref(status);
    json_decref(functions);
}

static void devices_update(void *ctx, struct http_req *req, struct http_resp *resp)
{
    struct app *a = ctx;
    struct meter m;
    if (!api_require_admin(req, resp, a->cfg.admin_key))
        return;
    json_t *body = api_parse(req, resp, device_fields + 2); /* id/deviceId are fixed */
    if (!body)
        return;
    if (meter_api_load(a, req, resp, &m) && apply_fields(req, resp, body, &m)) {
        if (store_meter_update(a->store, &m) == ST_OK && store_meter_get(a->store, m.id, &m) == ST_OK)
            api_ok(req, resp, 200, NULL, meter_json(&m, true));
        else
            api_error(req, resp, ERR_INTERNAL, "internal_error", "could not update the device");
    }
    json_decref(body);
}

static void devices_delete(void *ctx, struct http_req *req, struct http_resp *resp)
{
    struct app *a = ctx;
    struct meter m;
    if (!api_require_admin(req, resp, a->cfg.admin_key) || !meter_api_load(a, req, resp, &m))
        return;
    enum store_rc rc = store_meter_delete(a->store, m.id);
    if (rc == ST_OK)
        api_ok(req, resp, 200, NULL, json_pack("{s:s}", "message", "Device deleted"));
    else if (rc == ST_CONFLICT)
        api_error(req, resp, ERR_CONFLICT, "device_in_use",
                  "The device has payments on record; set active to false instead");
    else
        api_error(req, resp, ERR_INTERNAL, "internal_error", "could not delete the device");
}

static void devices_assign(void *ctx, struct http_req *req, struct http_resp *resp)
{
    struct app *a = ctx;
    static const struct field fields[] = {{"userId", F_ID, F_REQUIRED, 1, 0}, {NULL, 0, 0, 0, 0}};
    struct meter m;
    if (!api_require_admin(req, resp, a->cfg.admin_key) || !meter_api_load(a, req, resp, &m))
        return;
    json_t *body = api_parse(req, resp, fields);
    if (!body)
        return;
    int64_t uid = user_id_of(json_object_get(body, "userId")), at = 0;
    enum store_rc rc = store_assign(a->store, uid, m.id, &at);
    if (rc == ST_OK) {
        char when[32], idtxt[24];
        str_iso_time(at, when);
        snprintf(idtxt, sizeof idtxt, "%lld", (long long)uid);
        api_ok(req, resp, 200, NULL, json_pack("{s:s, s:s, s:s}", "userId", idtxt, "meterId", m.id, "assignedAt", when));
    } else if (rc == ST_NOT_FOUND) {
        api_error(req, resp, ERR_NOT_FOUND, "user_not_found", "User %lld does not exist", (long long)uid);
    } else if (rc == ST_CONFLICT) {
        api_error(req, resp, ERR_CONFLICT, "too_many_devices",
                  "userId: user %lld has %d devices, the most one caller can use by USSD and SMS", (long long)uid,
                  STORE_CALLER_METERS);
    } else {
        api_error(req, resp, ERR_INTERNAL, "internal_error", "could not assign the device");
    }
    json_decref(body);
}

static void devices_unassign(void *ctx, struct http_req *req, struct http_resp *resp)
{
    struct app *a = ctx;
    struct meter m;
    int64_t uid;
    if (!api_require_admin(req, resp, a->cfg.admin_key) || !meter_api_load(a, req, resp, &m))
        return;
    if (!str_to_i64(req->params[1], 1, INT64_MAX, &uid)) {
        api_error(req, resp, ERR_VALIDATION, "validation_error", "userId: must be a positive whole number");
        return;
    }
    enum store_rc rc = store_unassign(a->store, uid, m.id);
    if (rc == ST_OK)
        api_ok(req, resp, 200, NULL, json_pack("{s:s}", "message", "Device unassigned from user"));
    else if (rc == ST_NOT_FOUND)
        api_error(req, resp, ERR_NOT_FOUND, "assignment_not_found", "The device is not assigned to that user");
    else
        api_error(req, resp, ERR_INTERNAL, "internal_error", "could not unassign the device");
}

/* A user as the devices face lists them: the id is a string there. */
static void add_user(void *arr, const struct user *u)
{
    char id[24];
    json_t *j = user_json(u);
    snprintf(id, sizeof id, "%lld", (long long)u->id);
    json_object_set_new(j, "id", json_string(id));
    json_array_append_new(arr, j);
}

static void devices_users(void *ctx, struct http_req *req, struct http_resp *resp)
{
    struct app *a = ctx;
    struct meter m;
    if (!api_require_admin(req, resp, a->cfg.admin_key) || !meter_api_load(a, req, resp, &m))
        return;
    json_t *arr = json_array();
    if (store_meter_users_each(a->store, m.id, add_user, arr) != ST_OK) {
        json_decref(arr);
        api_error(req, resp, ERR_INTERNAL, "internal_error", "could not list users");
        return;
    }
    api_ok(req, resp, 200, NULL, arr);
}

const struct http_route device_routes[] = {
    {"GET", "/devices", devices_list, ENV_DEVICE, 0},
    {"POST", "/devices", devices_create, ENV_DEVICE, 0},
    {"GET", "/devices/{id}", devices_get, ENV_DEVICE, LANE_METER},
    {"PUT", "/devices/{id}", devices_update, ENV_DEVICE, 0},
    {"DELETE", "/devices/{id}", devices_delete, ENV_DEVICE, 0},
    {"POST", "/devices/{id}/assign", devices_assign, ENV_DEVICE, 0},
    {"DELETE", "/devices/{id}/assign/{userId}", devices_unassign, ENV_DEVICE, 0},
    {"GET", "/devices/{id}/users", devices_users, ENV_DEVICE, 0},
    {NULL, NULL, NULL, 0, 0},
};
