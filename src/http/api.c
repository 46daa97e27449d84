/* http/api: error table, envelopes, field checks; see api.h. */
#include "http/api.h"

#include "util/crypto.h"
#include "util/str.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static const struct {
    int status;
    const char *code;
} errs[] = {
    [ERR_OK] = {200, "OK"},
    [ERR_VALIDATION] = {400, "VALIDATION_ERROR"},
    [ERR_BAD_JSON] = {400, "INVALID_JSON"},
    [ERR_UNAUTHORIZED] = {401, "UNAUTHORIZED"},
    [ERR_FORBIDDEN] = {403, "FORBIDDEN"},
    [ERR_NOT_FOUND] = {404, "NOT_FOUND"},
    [ERR_METHOD] = {405, "METHOD_NOT_ALLOWED"},
    [ERR_CONFLICT] = {409, "CONFLICT"},
    [ERR_UNPROCESSABLE] = {422, "UNPROCESSABLE_ENTITY"},
    [ERR_TOO_LARGE] = {413, "PAYLOAD_TOO_LARGE"},
    [ERR_RATE_LIMIT] = {429, "RATE_LIMIT_EXCEEDED"},
    [ERR_INTERNAL] = {500, "INTERNAL_ERROR"},
    [ERR_PROVIDER] = {502, "PROVIDER_ERROR"},
    [ERR_UNAVAILABLE] = {503, "SERVICE_UNAVAILABLE"},
    [ERR_TIMEOUT] = {504, "PROVIDER_TIMEOUT"},
};

int api_status(enum err e) { return errs[e].status; }
const char *api_code(enum err e) { return errs[e].code; }

void api_json(struct http_resp *resp, int status, json_t *json)
{
    resp->status = status;
    resp->content_type = "application/json";
    buf_reset(&resp->body);
    char *s = json ? json_dumps(json, JSON_COMPACT | JSON_REAL_PRECISION(API_REAL_DIGITS)) : NULL;
    buf_puts(&resp->body, s ? s : "{}");
    free(s);
    json_decref(json);
}

json_t *api_decimal(double value, int places)
{
    static const double scale[] = {1, 10, 100, 1000, 1e4, 1e5, 1e6};
    places = places < 0 ? 0 : places > 6 ? 6 : places;
    double units = round(value * scale[places]) + 0.0; /* + 0.0: no "-0.0" */
    if (!isfinite(units) || fabs(units) > 9007199254740992.0)
        return json_null();
    /* both exact, so the quotient is the double nearest the decimal */
    return json_real(units / scale[places]);
}

static int envelope_of(const struct http_req *req)
{
    return req && req->route ? req->route->envelope : ENV_PLAIN;
}

void api_ok(struct http_req *req, struct http_resp *resp, int status, const char *message, json_t *body)
{
    if (envelope_of(req) == ENV_DATA) {
        json_t *env = json_pack("{s:b, s:s}", "success", 1, "message", message ? message : "OK");
        json_object_set_new(env, "data", body ? body : json_null());
        api_json(resp, status, env);
        return;
    }
    if (!body)
        body = envelope_of(req) == ENV_BARE ? json_object() : json_pack("{s:b}", "success", 1);
    api_json(resp, status, body);
}

/* Replaces each byte that starts no valid UTF-8 character by '?'. A message
 * may quote what the client sent (the JSON parser quotes the text near its
 * error, cut inside a character), and json_pack refuses text that is not
 * UTF-8: the reply would lose its envelope and be "{}". */
static void utf8_or_question(char *s)
{
    size_t n = strlen(s);
    for (size_t i = 0; i < n;) {
        uint32_t cp;
        int k = str_utf8_next(s + i, n - i, &cp);
        if (!k)
            s[i++] = '?';
        else
            i += (size_t)k;
    }
}

void api_error(struct http_req *req, struct http_resp *resp, enum err e, const char *code,
               const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    utf8_or_question(msg);
    json_t *j;
    if (envelope_of(req) == ENV_DEVICE) {
        /* the devices face spells its codes in lower case: device_not_found */
        char low[48];
        str_copy(low, sizeof low, code ? code : api_code(e));
        for (char *p = low; *p; p++)
            if (*p >= 'A' && *p <= 'Z')
                *p = (char)(*p + 32);
        j = json_pack("{s:s, s:s}", "error", low, "message", msg);
    } else if (envelope_of(req) == ENV_BARE) {
        /* the message alone: integrators read {"error": "..."} and nothing else */
        j = json_pack("{s:s}", "error", msg);
    } else {
        j = json_pack("{s:b, s:s, s:s}", "success", 0, "message", msg, "error",
                      code ? code : api_code(e));
    }
    api_json(resp, api_status(e), j);
}

bool api_is_admin(struct http_req *req, const char *admin_key)
{
    const char *h = http_header(req, "Authorization");
    return h && !strncmp(h, "Bearer ", 7) && crypto_streq(h + 7, admin_key);
}

bool api_require_admin(struct http_req *req, struct http_resp *resp, const char *admin_key)
{
    if (api_is_admin(req, admin_key))
        return true;
    api_error(req, resp, ERR_UNAUTHORIZED, NULL, "Authorization: Bearer <admin key> required");
    return false;
}

static bool is_int_value(json_t *v, int64_t *out)
{
    if (json_is_integer(v)) {
        *out = json_integer_value(v);
        return true;
    }
    if (json_is_real(v)) {
        double d = json_real_value(v);
        if (d != floor(d) || d < -9e15 || d > 9e15)
            return false;
        *out = (int64_t)d;
        return true;
    }
    return false;
}

json_t *api_parse(struct http_req *req, struct http_resp *resp, const struct field *fields)
{
    json_error_t je;
    json_t *obj = json_loadb(req->body, req->body_len, JSON_REJECT_DUPLICATES, &je);
    if (!obj) {
        api_error(req, resp, ERR_BAD_JSON, NULL, "body: malformed JSON at position %d: %s",
                  je.position, je.text);
        return NULL;
    }
    if (!json_is_object(obj)) {
        api_error(req, resp, ERR_BAD_JSON, NULL, "body: expected a JSON object");
        json_decref(obj);
        return NULL;
    }
    for (const struct field *f = fields; f && f->name; f++) {
        json_t *v = json_object_get(obj, f->name);
        if (!v || json_is_null(v)) {
            if (f->flags & F_REQUIRED) {
                api_error(req, resp, ERR_VALIDATION, NULL, "%s: required", f->name);
                goto bad;
            }
            continue;
        }
        int64_t n;
        switch (f->type) {
        case F_STRING: {
            if (!json_is_string(v)) {
                api_error(req, resp, ERR_VALIDATION, NULL, "%s: must be a string", f->name);
                goto bad;
            }
            size_t len = json_string_length(v);
            const char *s = json_string_value(v);
            if ((int64_t)len < f->min || (f->max && (int64_t)len > f->max)) {
                if (f->max)
                    api_error(req, resp, ERR_VALIDATION, NULL, "%s: length must be %lld..%lld",
                              f->name, (long long)f->min, (long long)f->max);
                else
                    api_error(req, resp, ERR_VALIDATION, NULL, "%s: at least %lld characters",
                              f->name, (long long)f->min);
                goto bad;
            }
            if (strlen(s) != len || !str_is_clean_utf8(s, len)) {
                api_error(req, resp, ERR_VALIDATION, NULL, "%s: contains control characters", f->name);
                goto bad;
            }
            break;
        }
        case F_ID:
            if (json_is_string(v) && str_to_i64(json_string_value(v), f->min, f->max ? f->max : INT64_MAX, &n))
                break;
            /* fall through */
        case F_INT:
            if (!is_int_value(v, &n)) {
                api_error(req, resp, ERR_VALIDATION, NULL, "%s: must be a whole number", f->name);
                goto bad;
            }
            if (n < f->min || (f->max && n > f->max)) {
                if (f->max) /* no max: any whole number from min on */
                    api_error(req, resp, ERR_VALIDATION, NULL, "%s: must be between %lld and %lld", f->name,
                              (long long)f->min, (long long)f->max);
                else
                    api_error(req, resp, ERR_VALIDATION, NULL, "%s: must be %lld or more", f->name,
                              (long long)f->min);
                goto bad;
            }
            break;
        case F_NUMBER:
            if (!json_is_number(v)) {
                api_error(req, resp, ERR_VALIDATION, NULL, "%s: must be a number", f->name);
                goto bad;
            }
            if (json_number_value(v) < (double)f->min || (f->max && json_number_value(v) > (double)f->max)) {
                api_error(req, resp, ERR_VALIDATION, NULL, "%s: must be between %lld and %lld",
                          f->name, (long long)f->min, (long long)f->max);
                goto bad;
            }
            break;
        case F_BOOL:
            if (!json_is_boolean(v)) {
                api_error(req, resp, ERR_VALIDATION, NULL, "%s: must be true or false", f->name);
                goto bad;
            }
            break;
        }
    }
    return obj;
bad:
    json_decref(obj);
    return NULL;
}

const char *api_str(json_t *obj, const char *name)
{
    json_t *v = json_object_get(obj, name);
    return json_is_string(v) ? json_string_value(v) : NULL;
}

int64_t api_int(json_t *obj, const char *name, int64_t def)
{
    json_t *v = json_object_get(obj, name);
    int64_t n;
    if (is_int_value(v, &n))
        return n;
    if (json_is_string(v) && str_to_i64(json_string_value(v), INT64_MIN + 1, INT64_MAX, &n))
        return n;
    return def;
}

json_t *api_str_or_null(const char *s)
{
    return s && *s ? json_string(s) : json_null();
}

json_t *api_time_or_null(int64_t ms)
{
    char iso[32];
    if (ms <= 0)
        return json_null();
    str_iso_time(ms, iso);
    return json_string(iso);
}
