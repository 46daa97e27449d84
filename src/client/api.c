/* client/api: /api/clients and their packages; see api.h.
 *
 * A key and a webhook secret are in the answer that makes them and nowhere
 * else: no read shows them again. A callback URL must be http or https
 * (https in production: the notices carry payment results; plain http is
 * for a client on the same machine or a test). */
#include "client/api.h"

#include "app/app.h"
#include "client/client.h"
#include "http/api.h"
#include "store/clients.h"
#include "store/notices.h"
#include "util/crypto.h"
#include "util/str.h"

#include <string.h>

/* What M-Pesa takes in one payment. */
#define PACKAGE_AMOUNT_MAX 250000
/* Notices shown by one read, the newest. */
#define NOTICES_SHOWN 100

static json_t *client_json(const struct client *c)
{
    char created[32], updated[32];
    str_iso_time(c->created_at, created);
    str_iso_time(c->updated_at, updated);
    return json_pack("{s:s, s:s, s:b, s:o, s:s, s:s}", "clientId", c->id, "name", c->name, "active",
                     c->active, "callbackUrl", api_str_or_null(c->callback_url), "createdAt", created,
                     "updatedAt", updated);
}

static json_t *package_json(const struct package *pk)
{
    char created[32], updated[32];
    str_iso_time(pk->created_at, created);
    str_iso_time(pk->updated_at, updated);
    return json_pack("{s:s, s:s, s:s, s:I, s:s, s:b, s:s, s:s}", "packageId", pk->id, "clientId",
                     pk->client_id, "name", pk->name, "amount", (json_int_t)pk->amount, "description",
                     pk->description, "active", pk->active, "createdAt", created, "updatedAt", updated);
}

/* A name: 1 to CLIENT_NAME_MAX characters of clean UTF-8 on one line. */
static bool name_ok(const char *s)
{
    size_t n = s ? strlen(s) : 0;
    return n && n <= CLIENT_NAME_MAX && str_is_clean_utf8(s, n) && !strchr(s, '\n');
}

static bool url_ok(const char *s)
{
    if (!*s)
        return true;
    if (strncmp(s, "https://", 8) && strncmp(s, "http://", 7))
        return false;
    for (const char *p = s; *p; p++)
        if ((unsigned char)*p <= ' ' || (unsigned char)*p >= 0x7f)
            return false;
    return strlen(s) > 8;
}

/* A UUID in the form ids are stored in (lower case: a UUID's case means
 * nothing); false when in is not a UUID. */
static bool uuid_lower(const char *in, char out[37])
{
    if (!crypto_uuid_ok(in))
        return false;
    for (int i = 0; i < 36; i++)
        out[i] = (char)(in[i] >= 'A' && in[i] <= 'F' ? in[i] + 32 : in[i]);
    out[36] = 0;
    return true;
}

/* The client of the path's first parameter, or a reply: 400 for a
 * malformed id, 404 for an unknown one. */
static bool path_client(struct app *a, struct http_req *req, struct http_resp *resp, struct client *c)
{
    char id[37];
    if (!uuid_lower(req->params[0], id)) {
        api_error(req, resp, ERR_VALIDATION, NULL, "clientId: not a UUID");
        return false;
    }
    enum store_rc rc = store_client_get(a->store, id, c);
    if (rc == ST_NOT_FOUND)
        api_error(req, resp, ERR_NOT_FOUND, "CLIENT_NOT_FOUND", "No client %s", id);
    else if (rc != ST_OK)
        api_error(req, resp, ERR_INTERNAL, NULL, "could not read the client");
    return rc == ST_OK;
}

static void clients_create(void *ctx, struct http_req *req, struct http_resp *resp)
{
    struct app *a = ctx;
    static const struct field fields[] = {
        {"name", F_STRING, F_REQUIRED, 1, CLIENT_NAME_MAX},
        {"callbackUrl", F_STRING, 0, 0, CLIENT_URL_MAX},
        {NULL, 0, 0, 0, 0},
    };
    if (!api_require_admin(req, resp, a->cfg.admin_key))
        return;
    json_t *body = api_parse(req, resp, fields);
    if (!body)
        return;
    struct client c;
    memset(&c, 0, sizeof c);
    const char *name = api_str(body, "name"), *url = api_str(body, "callbackUrl");
    if (!name_ok(name)) {
        api_error(req, resp, ERR_VALIDATION, NULL, "name: 1 to %d characters on one line", CLIENT_NAME_MAX);
    } else if (url && !url_ok(url)) {
        api_error(req, resp, ERR_VALIDATION, NULL, "callbackUrl: an http or https URL without spaces");
    } else {
        char key[CLIENT_KEY_LEN + 1], secret[CLIENT_SECRET_LEN + 1];
        str_copy(c.name, sizeof c.name, name);
        str_copy(c.callback_url, sizeof c.callback_url, url ? url : "");
        if (client_create(a, &c, key, secret) != ST_OK) {
            api_error(req, resp, ERR_INTERNAL, NULL, "could not store the client");
        } else {
            json_t *out = client_json(&c);
            json_object_set_new(out, "apiKey", json_string(key));
            json_object_set_new(out, "webhookSecret", json_string(secret));
            explicit_bzero(key, sizeof key);
            explicit_bzero(secret, sizeof secret);
            api_ok(req, resp, 201, "Client created", out);
        }
    }
    json_decref(body);
}

static void add_client(void *arr, const struct client *c) { json_array_append_new(arr, client_json(c)); }

static void clients_list(void *ctx, struct http_req *req, struct http_resp *resp)
{
    struct app *a = ctx;
    if (!api_require_admin(req, resp, a->cfg.admin_key))
        return;
    json_t *arr = json_array();
    if (store_clients_list(a->store, add_client, arr) != ST_OK) {
        json_decref(arr);
        api_error(req, resp, ERR_INTERNAL, NULL, "could not list the clients");
        return;
    }
    api_ok(req, resp, 200, NULL, arr);
}

static void clients_get(void *ctx, struct http_req *req, struct http_resp *resp)
{
    struct app *a = ctx;
    struct client c;
    if (api_require_admin(req, resp, a->cfg.admin_key) && path_client(a, req, resp, &c))
        api_ok(req, resp, 200, NULL, client_json(&c));
}

static void clients_update(void *ctx, struct http_req *req, struct http_resp *resp)
{
    struct app *a = ctx;
    static const struct field fields[] = {
        {"name", F_STRING, 0, 1, CLIENT_NAME_MAX},
        {"active", F_BOOL, 0, 0, 0},
        {"callbackUrl", F_STRING, 0, 0, CLIENT_URL_MAX},
        {NULL, 0, 0, 0, 0},
    };
    struct client c;
    if (!api_require_admin(req, resp, a->cfg.admin_key))
        return;
    json_t *body = api_parse(req, resp, fields);
    if (!body)
        return;
    const char *name = api_str(body, "name"), *url = api_str(body, "callbackUrl");
    json_t *active = json_object_get(body, "active");
    if (name && !name_ok(name))
        api_error(req, resp, ERR_VALIDATION, NULL, "name: 1 to %d characters on one line", CLIENT_NAME_MAX);
    else if (url && !url_ok(url))
        api_error(req, resp, ERR_VALIDATION, NULL, "callbackUrl: an http or https URL without spaces");
    else if (path_client(a, req, resp, &c)) {
        if (name)
            str_copy(c.name, sizeof c.name, name);
        if (url)
            str_copy(c.callback_url, sizeof c.callback_url, url);
        if (json_is_boolean(active))
            c.active = json_is_true(active);
        if (store_client_update(a->store, &c) != ST_OK)
            api_error(req, resp, ERR_INTERNAL, NULL, "could not store the client");
        else
            api_ok(req, resp, 200, "Client updated", client_json(&c));
    }
    json_decref(body);
}

static void clients_new_key(void *ctx, struct http_req *req, struct http_resp *resp)
{
    struct app *a = ctx;
    struct client c;
    char key[CLIENT_KEY_LEN + 1];
    if (!api_require_admin(req, resp, a->cfg.admin_key) || !path_client(a, req, resp, &c))
        return;
    if (client_new_key(a, c.id, key) != ST_OK) {
        api_error(req, resp, ERR_INTERNAL, NULL, "could not store the key");
        return;
    }
    json_t *out = json_pack("{s:s, s:s}", "clientId", c.id, "apiKey", key);
    explicit_bzero(key, sizeof key);
    api_ok(req, resp, 201, "Key replaced; the previous key no longer works", out);
}

static const struct field package_fields[] = {
    {"name", F_STRING, F_REQUIRED, 1, CLIENT_NAME_MAX},
    {"amount", F_INT, F_REQUIRED, 1, PACKAGE_AMOUNT_MAX},
    {"description", F_STRING, 0, 0, 256},
    {NULL, 0, 0, 0, 0},
};

static void packages_create(void *ctx, struct http_req *req, struct http_resp *resp)
{
    struct app *a = ctx;
    struct client c;
    if (!api_require_admin(req, resp, a->cfg.admin_key))
        return;
    json_t *body = api_parse(req, resp, package_fields);
    if (!body)
        return;
    const char *name = api_str(body, "name"), *desc = api_str(body, "description");
    if (!name_ok(name))
        api_error(req, resp, ERR_VALIDATION, NULL, "name: 1 to %d characters on one line", CLIENT_NAME_MAX);
    else if (desc && !str_is_clean_utf8(desc, strlen(desc)))
        api_error(req, resp, ERR_VALIDATION, NULL, "description: not clean UTF-8 text");
    else if (path_client(a, req, resp, &c)) {
        struct package pk;
        memset(&pk, 0, sizeof pk);
        str_copy(pk.client_id, sizeof pk.client_id, c.id);
        str_copy(pk.name, sizeof pk.name, name);
        str_copy(pk.description, sizeof pk.description, desc ? desc : "");
        pk.amount = api_int(body, "amount", 0);
        if (client_package_create(a, &pk) != ST_OK)
            api_error(req, resp, ERR_INTERNAL, NULL, "could not store the package");
        else
            api_ok(req, resp, 201, "Package created", package_json(&pk));
    }
    json_decref(body);
}

static void add_package(void *arr, const struct package *pk) { json_array_append_new(arr, package_json(pk)); }

static void packages_list(void *ctx, struct http_req *req, struct http_resp *resp)
{
    struct app *a = ctx;
    struct client c;
    if (!api_require_admin(req, resp, a->cfg.admin_key) || !path_client(a, req, resp, &c))
        return;
    json_t *arr = json_array();
    if (store_packages_list(a->store, c.id, add_package, arr) != ST_OK) {
        json_decref(arr);
        api_error(req, resp, ERR_INTERNAL, NULL, "could not list the packages");
        return;
    }
    api_ok(req, resp, 200, NULL, arr);
}

static void packages_update(void *ctx, struct http_req *req, struct http_resp *resp)
{
    struct app *a = ctx;
    static const struct field fields[] = {
        {"name", F_STRING, 0, 1, CLIENT_NAME_MAX},
        {"amount", F_INT, 0, 1, PACKAGE_AMOUNT_MAX},
        {"description", F_STRING, 0, 0, 256},
        {"active", F_BOOL, 0, 0, 0},
        {NULL, 0, 0, 0, 0},
    };
    struct client c;
    struct package pk;
    char pkg_id[37];
    if (!api_require_admin(req, resp, a->cfg.admin_key))
        return;
    json_t *body = api_parse(req, resp, fields);
    if (!body)
        return;
    const char *name = api_str(body, "name"), *desc = api_str(body, "description");
    json_t *active = json_object_get(body, "active");
    if (name && !name_ok(name)) {
        api_error(req, resp, ERR_VALIDATION, NULL, "name: 1 to %d characters on one line", CLIENT_NAME_MAX);
    } else if (desc && !str_is_clean_utf8(desc, strlen(desc))) {
        api_error(req, resp, ERR_VALIDATION, NULL, "description: not clean UTF-8 text");
    } else if (!uuid_lower(req->params[1], pkg_id)) {
        api_error(req, resp, ERR_VALIDATION, NULL, "packageId: not a UUID");
    } else if (path_client(a, req, resp, &c)) {
        enum store_rc rc = store_package_get(a->store, pkg_id, &pk);
        /* another client's package is as unknown here as a missing one */
        if (rc == ST_NOT_FOUND || (rc == ST_OK && strcmp(pk.client_id, c.id))) {
            api_error(req, resp, ERR_NOT_FOUND, "PACKAGE_NOT_FOUND", "No package %s for this client",
                      pkg_id);
        } else if (rc != ST_OK) {
            api_error(req, resp, ERR_INTERNAL, NULL, "could not read the package");
        } else {
            if (name)
                str_copy(pk.name, sizeof pk.name, name);
            if (desc)
                str_copy(pk.description, sizeof pk.description, desc);
            if (json_object_get(body, "amount"))
                pk.amount = api_int(body, "amount", pk.amount);
            if (json_is_boolean(active))
                pk.active = json_is_true(active);
            if (store_package_update(a->store, &pk) != ST_OK)
                api_error(req, resp, ERR_INTERNAL, NULL, "could not store the package");
            else
                api_ok(req, resp, 200, "Package updated", package_json(&pk));
        }
    }
    json_decref(body);
}

static void add_attempt(void *arr, const struct client_notice_attempt *at)
{
    json_t *j = json_object();
    json_object_set_new(j, "at", api_time_or_null(at->at));
    json_object_set_new(j, "httpStatus", at->http_status ? json_integer(at->http_status) : json_null());
    json_object_set_new(j, "error", api_str_or_null(at->error));
    json_object_set_new(j, "tookMs", json_integer(at->took_ms));
    json_array_append_new(arr, j);
}

struct notices_read {
    struct app *a;
    json_t *arr;
    bool failed;
};

/* A notice as the admin reads it: what was sent (the body, as JSON), to
 * whom, and every attempt. */
static void add_notice(void *arg, const struct client_notice *n)
{
    struct notices_read *r = arg;
    json_t *j = json_object(), *attempts = json_array();
    json_object_set_new(j, "noticeId", json_integer(n->id));
    json_object_set_new(j, "paymentId", json_integer(n->payment_id));
    json_object_set_new(j, "event", json_string(n->event));
    json_object_set_new(j, "status", json_string(n->status));
    json_object_set_new(j, "attempts", json_integer(n->attempts));
    json_object_set_new(j, "nextAt", strcmp(n->status, "queued") ? json_null() : api_time_or_null(n->next_at));
    json_object_set_new(j, "lastStatus", n->last_status ? json_integer(n->last_status) : json_null());
    json_object_set_new(j, "lastError", api_str_or_null(n->last_error));
    json_object_set_new(j, "createdAt", api_time_or_null(n->created_at));
    json_object_set_new(j, "deliveredAt", api_time_or_null(n->delivered_at));
    json_t *body = json_loads(n->body, 0, NULL);
    json_object_set_new(j, "body", body ? body : json_string(n->body));
    if (store_notice_attempts(r->a->store, n->id, add_attempt, attempts) != ST_OK)
        r->failed = true;
    json_object_set_new(j, "attemptLog", attempts);
    json_array_append_new(r->arr, j);
}

/* A client's notices to its callback URL, the newest first (at most
 * NOTICES_SHOWN), with their attempts. */
static void notices_list(void *ctx, struct http_req *req, struct http_resp *resp)
{
    struct app *a = ctx;
    struct client c;
    if (!api_require_admin(req, resp, a->cfg.admin_key) || !path_client(a, req, resp, &c))
        return;
    struct notices_read r = {.a = a, .arr = json_array()};
    if (store_notices_list(a->store, c.id, NOTICES_SHOWN, add_notice, &r) != ST_OK || r.failed) {
        json_decref(r.arr);
        api_error(req, resp, ERR_INTERNAL, NULL, "could not list the notices");
        return;
    }
    api_ok(req, resp, 200, NULL, r.arr);
}

const struct http_route client_routes[] = {
    {"POST", "/api/clients", clients_create, ENV_PLAIN, 0},
    {"GET", "/api/clients", clients_list, ENV_PLAIN, 0},
    {"GET", "/api/clients/{clientId}", clients_get, ENV_PLAIN, 0},
    {"PUT", "/api/clients/{clientId}", clients_update, ENV_PLAIN, 0},
    {"POST", "/api/clients/{clientId}/keys", clients_new_key, ENV_PLAIN, 0},
    {"POST", "/api/clients/{clientId}/packages", packages_create, ENV_PLAIN, 0},
    {"GET", "/api/clients/{clientId}/packages", packages_list, ENV_PLAIN, 0},
    {"PUT", "/api/clients/{clientId}/packages/{packageId}", packages_update, ENV_PLAIN, 0},
    {"GET", "/api/clients/{clientId}/notices", notices_list, ENV_PLAIN, 0},
    {NULL, NULL, NULL, 0, 0},
};
