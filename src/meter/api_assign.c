/* meter/api_assign: the /meter-user endpoints on the same
 * assignments as /devices/{id}/assign; see api.h. */
#include "meter/api.h"

#include "app/app.h"
#include "http/api.h"
#include "store/meters.h"
#include "store/users.h"
#include "store/ussd.h"
#include "user/api.h"
#include "util/str.h"

#include <string.h>

static const struct field assign_fields[] = {
    {"meterId", F_STRING, F_REQUIRED, 1, 64},
    {"userId", F_ID, F_REQUIRED, 1, 0},
    {"isAssigned", F_BOOL, 0, 0, 0},
    {NULL, 0, 0, 0, 0},
};

/* Checks that both sides exist; replies 404 naming the missing one. */
static bool both_exist(struct app *a, struct http_req *req, struct http_resp *resp, int64_t uid, const char *meter)
{
    struct user u;
    struct meter m;
    if (store_user_get(a->store, uid, &u) != ST_OK) {
        api_error(req, resp, ERR_NOT_FOUND, "USER_NOT_FOUND", "userId: user %lld does not exist", (long long)uid);
        return false;
    }
    if (store_meter_get(a->store, meter, &m) != ST_OK) {
        api_error(req, resp, ERR_NOT_FOUND, "METER_NOT_FOUND", "meterId: meter %s does not exist", meter);
        return false;
    }
    return true;
}

static void change(struct app *a, struct http_req *req, struct http_resp *resp, bool assign_default)
{
    if (!api_require_admin(req, resp, a->cfg.admin_key))
        return;
    json_t *body = api_parse(req, resp, assign_fields);
    if (!body)
        return;
    const char *meter = api_str(body, "meterId");
    int64_t uid = user_id_of(json_object_get(body, "userId"));
    json_t *flag = json_object_get(body, "isAssigned");
    bool assign = json_is_boolean(flag) ? json_is_true(flag) : assign_default;
    if (both_exist(a, req, resp, uid, meter)) {
        enum store_rc rc = assign ? store_assign(a->store, uid, meter, NULL) : store_unassign(a->store, uid, meter);
        if (rc == ST_OK || (!assign && rc == ST_NOT_FOUND)) /* unassigning twice is fine */
            api_ok(req, resp, 200, NULL, json_pack("{s:b}", "success", 1));
        else if (assign && rc == ST_CONFLICT)
            api_error(req, resp, ERR_CONFLICT, "TOO_MANY_METERS",
                      "userId: user %lld has %d meters, the most one caller can use by USSD and SMS",
                      (long long)uid, STORE_CALLER_METERS);
        else
            api_error(req, resp, ERR_INTERNAL, NULL, "could not change the assignment");
    }
    json_decref(body);
}

static void mu_assign(void *ctx, struct http_req *req, struct http_resp *resp) { change(ctx, req, resp, true); }
static void mu_unassign(void *ctx, struct http_req *req, struct http_resp *resp) { change(ctx, req, resp, false); }

static void add_meter(void *arr, const struct meter *m) { json_array_append_new(arr, meter_json(m, true)); }
static void add_user(void *arr, const struct user *u) { json_array_append_new(arr, user_json(u)); }

static void mu_user_meters(void *ctx, struct http_req *req, struct http_resp *resp)
{
    struct app *a = ctx;
    int64_t uid;
    struct user u;
    if (!api_require_admin(req, resp, a->cfg.admin_key))
        return;
    if (!str_to_i64(req->params[0], 1, INT64_MAX, &uid)) {
        api_error(req, resp, ERR_VALIDATION, NULL, "userId: must be a positive whole number");
        return;
    }
    if (store_user_get(a->store, uid, &u) != ST_OK) {
        api_error(req, resp, ERR_NOT_FOUND, "USER_NOT_FOUND", "userId: user %lld does not exist", (long long)uid);
        return;
    }
    json_t *arr = json_array();
    if (store_user_meters_each(a->store, uid, add_meter, arr) != ST_OK) {
        json_decref(arr);
        api_error(req, resp, ERR_INTERNAL, NULL, "could not list meters");
        return;
    }
    api_ok(req, resp, 200, NULL, arr);
}

static void mu_meter_users(void *ctx, struct http_req *req, struct http_resp *resp)
{
    struct app *a = ctx;
    struct meter m;
    if (!api_require_admin(req, resp, a->cfg.admin_key))
        return;
    if (store_meter_get(a->store, req->params[0], &m) != ST_OK) {
        api_error(req, resp, ERR_NOT_FOUND, "METER_NOT_FOUND", "meterId: meter does not exist");
        return;
    }
    json_t *arr = json_array();
    if (store_meter_users_each(a->store, m.id, add_user, arr) != ST_OK) {
        json_decref(arr);
        api_error(req, resp, ERR_INTERNAL, NULL, "could not list users");
        return;
    }
    api_ok(req, resp, 200, NULL, arr);
}

static void mu_is_assigned(void *ctx, struct http_req *req, struct http_resp *resp)
{
    struct app *a = ctx;
    const char *meter = http_query(req, "meterId"), *user = http_query(req, "userId");
    int64_t uid;
    if (!api_require_admin(req, resp, a->cfg.admin_key))
        return;
    if (!meter || !*meter || strlen(meter) > 64) {
        api_error(req, resp, ERR_VALIDATION, NULL, "meterId: required");
        return;
    }
    if (!user || !str_to_i64(user, 1, INT64_MAX, &uid)) {
        api_error(req, resp, ERR_VALIDATION, NULL, "userId: required, a positive whole number");
        return;
    }
    api_ok(req, resp, 200, NULL, json_pack("{s:b}", "isAssigned", store_is_assigned(a->store, uid, meter)));
}

static void mu_generate(void *ctx, struct http_req *req, struct http_resp *resp)
{
    struct app *a = ctx;
    int made = 0, users = 0;
    if (!api_require_admin(req, resp, a->cfg.admin_key))
        return;
    if (store_generate_assignments(a->store, &made, &users) != ST_OK) {
        api_error(req, resp, ERR_INTERNAL, NULL, "could not generate assignments");
        return;
    }
    api_ok(req, resp, 200, NULL,
           json_pack("{s:b, s:i, s:i}", "success", 1, "assignmentsCreated", made, "usersCreated", users));
}

const struct http_route meter_user_routes[] = {
    {"POST", "/meter-user/assign", mu_assign, ENV_PLAIN, 0},
    {"POST", "/meter-user/unassign", mu_unassign, ENV_PLAIN, 0},
    {"GET", "/meter-user/user/{userId}/meters", mu_user_meters, ENV_PLAIN, 0},
    {"GET", "/meter-user/meter/{meterId}/users", mu_meter_users, ENV_PLAIN, 0},
    {"GET", "/meter-user/is-assigned", mu_is_assigned, ENV_PLAIN, 0},
    {"POST", "/meter-user/generate-assignments", mu_generate, ENV_PLAIN, 0},
    {NULL, NULL, NULL, 0, 0},
};
