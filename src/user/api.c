/* user/api: the /users REST face; see api.h. */
#include "user/api.h"

#include "app/app.h"
#include "http/api.h"
#include "store/users.h"
#include "util/phone.h"
#include "util/str.h"

#include <math.h>
#include <string.h>

json_t *user_json(const struct user *u)
{
    char created[32], updated[32];
    str_iso_time(u->created_at, created);
    str_iso_time(u->updated_at, updated);
    return json_pack("{s:I, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s}", "id", (json_int_t)u->id,
                     "phoneNumber", u->phone, "firstName", u->first_name, "lastName", u->last_name,
                     "email", u->email, "role", u->role, "language", u->language, "createdAt", created,
                     "updatedAt", updated);
}

int64_t user_id_of(json_t *v)
{
    int64_t id;
    if (json_is_integer(v))
        return json_integer_value(v) > 0 ? json_integer_value(v) : 0;
    if (json_is_real(v)) { /* 2.0: the field check takes it as the whole number it is */
        double d = json_real_value(v);
        return d >= 1 && d <= 9e15 && d == floor(d) ? (int64_t)d : 0;
    }
    if (json_is_string(v) && str_to_i64(json_string_value(v), 1, INT64_MAX, &id))
        return id;
    return 0;
}

static bool valid_email(const char *e)
{
    const char *at = strchr(e, '@');
    return at && at != e && strchr(at, '.') && !strchr(e, ' ') && !strchr(at + 1, '@');
}

static void user_create(void *ctx, struct http_req *req, struct http_resp *resp)
{
    struct app *a = ctx;
    static const struct field fields[] = {
        {"phoneNumber", F_STRING, F_REQUIRED, 9, 20},
        {"firstName", F_STRING, 0, 0, 64},
        {"lastName", F_STRING, 0, 0, 64},
        {"email", F_STRING, 0, 0, 254},
        {"role", F_STRING, 0, 0, 8},
        {"language", F_STRING, 0, 0, 2},
        {NULL, 0, 0, 0, 0},
    };
    if (!api_require_admin(req, resp, a->cfg.admin_key))
        return;
    json_t *body = api_parse(req, resp, fields);
    if (!body)
        return;
    struct user u;
    memset(&u, 0, sizeof u);
    const char *role = api_str(body, "role"), *lang = api_str(body, "language"),
               *email = api_str(body, "email");
    if (!phone_normalize(api_str(body, "phoneNumber"), u.phone)) {
        api_error(req, resp, ERR_VALIDATION, NULL,
                  "phoneNumber: not a Kenyan mobile number (0712345678, +254712345678, 254712345678 or 712345678)");
        goto out;
    }
    if (role && strcmp(role, "USER") && strcmp(role, "ADMIN")) {
        api_error(req, resp, ERR_VALIDATION, NULL, "role: must be USER or ADMIN");
        goto out;
    }
    if (lang && strcmp(lang, "en") && strcmp(lang, "sw")) {
        api_error(req, resp, ERR_VALIDATION, NULL, "language: must be en or sw");
        goto out;
    }
    if (email && *email && !valid_email(email)) {
        api_error(req, resp, ERR_VALIDATION, NULL, "email: not an email address");
        goto out;
    }
    str_copy(u.first_name, sizeof u.first_name, api_str(body, "firstName"));
    str_copy(u.last_name, sizeof u.last_name, api_str(body, "lastName"));
    str_copy(u.email, sizeof u.email, email);
    str_copy(u.role, sizeof u.role, role ? role : "USER");
    str_copy(u.language, sizeof u.language, lang ? lang : "en");
    switch (store_user_create(a->store, &u)) {
    case ST_OK:
        api_ok(req, resp, 201, "User created", user_json(&u));
        break;
    case ST_CONFLICT:
        api_error(req, resp, ERR_CONFLICT, "USER_EXISTS", "phoneNumber: a user with this number exists");
        break;
    default:
        api_error(req, resp, ERR_INTERNAL, NULL, "could not store the user");
    }
out:
    json_decref(body);
}

static void user_get(void *ctx, struct http_req *req, struct http_resp *resp)
{
    struct app *a = ctx;
    int64_t id;
    struct user u;
    if (!api_require_admin(req, resp, a->cfg.admin_key))
        return;
    if (!str_to_i64(req->params[0], 1, INT64_MAX, &id)) {
        api_error(req, resp, ERR_VALIDATION, NULL, "id: must be a positive whole number");
        return;
    }
    enum store_rc rc = store_user_get(a->store, id, &u);
    if (rc == ST_NOT_FOUND)
        api_error(req, resp, ERR_NOT_FOUND, "USER_NOT_FOUND", "User %lld not found", (long long)id);
    else if (rc != ST_OK)
        api_error(req, resp, ERR_INTERNAL, NULL, "could not read the user");
    else
        api_ok(req, resp, 200, NULL, user_json(&u));
}

static void add_user(void *arr, const struct user *u) { json_array_append_new(arr, user_json(u)); }

static void user_list(void *ctx, struct http_req *req, struct http_resp *resp)
{
    struct app *a = ctx;
    if (!api_require_admin(req, resp, a->cfg.admin_key))
        return;
    const char *phone = http_query(req, "phone");
    if (phone) {
        char norm[PHONE_MAX];
        struct user u;
        if (!phone_normalize(phone, norm)) {
            api_error(req, resp, ERR_VALIDATION, NULL, "phone: not a Kenyan mobile number");
            return;
        }
        enum store_rc rc = store_user_by_phone(a->store, norm, &u);
        if (rc == ST_NOT_FOUND)
            api_error(req, resp, ERR_NOT_FOUND, "USER_NOT_FOUND", "No user with that phone number");
        else if (rc != ST_OK)
            api_error(req, resp, ERR_INTERNAL, NULL, "could not read the user");
        else
            api_ok(req, resp, 200, NULL, user_json(&u));
        return;
    }
    json_t *arr = json_array();
    if (store_users_list(a->store, add_user, arr) != ST_OK) {
        json_decref(arr);
        api_error(req, resp, ERR_INTERNAL, NULL, "could not list users");
        return;
    }
    api_ok(req, resp, 200, NULL, arr);
}

const struct http_route user_routes[] = {
    {"POST", "/users", user_create, ENV_PLAIN, 0},
    {"GET", "/users", user_list, ENV_PLAIN, 0},
    {"GET", "/users/{id}", user_get, ENV_PLAIN, 0},
    {NULL, NULL, NULL, 0, 0},
};
