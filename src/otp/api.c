/* otp/api: the water face's code and station endpoints (/api/otp,
 * /api/stations), in its {success, message, data} envelope.
 *
 * Who may call: the admin key for issuing codes, code status and station
 * registration; a station's own key (Authorization: Bearer <apiKey> or
 * X-Station-Key: <apiKey>) for the station endpoints, and only for the
 * stationId the key was issued to (401 otherwise).
 *
 * Beyond the document: POST /api/stations/otp/complete reports what flowed
 * and marks the code used; POST /api/stations and GET /api/stations
 * register and list stations. */
#include "otp/api.h"

#include "app/app.h"
#include "http/api.h"
#include "otp/otp.h"
#include "store/payments.h"
#include "util/log.h"
#include "util/str.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

/* ---- shared pieces ---- */

/* Litres as a JSON number: whole when it is whole. */
static json_t *liters_json(int64_t ml)
{
    if (ml < 0)
        return json_null();
    if (ml % 1000 == 0)
        return json_integer(ml / 1000);
    return api_decimal((double)ml / 1000.0, 3);
}

/* A station id: 1-64 of [A-Za-z0-9_.-]. */
static bool station_id_ok(const char *id)
{
    size_t n = id ? strlen(id) : 0;
    if (n < 1 || n > 64)
        return false;
    for (const char *p = id; *p; p++)
        if (!((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '_' ||
              *p == '-' || *p == '.'))
            return false;
    return true;
}

/* The key a station sent, or NULL. */
static const char *station_key(const struct http_req *req)
{
    const char *h = http_header(req, "Authorization");
    if (h && !strncmp(h, "Bearer ", 7) && h[7])
        return h + 7;
    h = http_header(req, "X-Station-Key");
    return h && *h ? h : NULL;
}

/* Authenticates the caller as station_id; on failure writes the 401. */
static bool require_station(struct app *a, struct http_req *req, struct http_resp *resp, const char *station_id,
                            struct otp_station *st)
{
    if (otp_station_auth(a, station_id, station_key(req), st))
        return true;
    api_error(req, resp, ERR_UNAUTHORIZED, NULL,
              "station key required: Authorization: Bearer <apiKey> (or X-Station-Key) of station %.64s",
              station_id ? station_id : "");
    return false;
}

/* The reply for a refused code operation. */
static void verdict_error(struct http_req *req, struct http_resp *resp, enum otp_verdict v, const char *reference,
                          const struct otp_code *c, const char *station_id)
{
    const char *code = otp_verdict_name(v);
    switch (v) {
    case OTP_NOT_FOUND:
        api_error(req, resp, ERR_NOT_FOUND, code, "No code found for transaction %.64s", reference);
        return;
    case OTP_PENDING:
        api_error(req, resp, ERR_VALIDATION, code, "The code for this transaction has not been sent yet");
        return;
    case OTP_INVALID:
        if (!strcmp(c->status, "blocked"))
            api_error(req, resp, ERR_VALIDATION, code, "Invalid OTP. No attempts left: the code is now blocked");
        else
            api_error(req, resp, ERR_VALIDATION, code, "Invalid OTP. %lld attempt%s left",
                      (long long)(c->max_attempts - c->attempts), c->max_attempts - c->attempts == 1 ? "" : "s");
        return;
    case OTP_EXPIRED:
        api_error(req, resp, ERR_VALIDATION, code, "OTP has expired. Ask for a new code");
        return;
    case OTP_BLOCKED:
        api_error(req, resp, ERR_VALIDATION, code, "OTP is blocked after %lld wrong attempts",
                  (long long)c->max_attempts);
        return;
    case OTP_USED:
        api_error(req, resp, ERR_VALIDATION, code, "OTP has already been used");
        return;
    case OTP_LOCKED:
        api_error(req, resp, ERR_FORBIDDEN, code, "OTP is locked to a different station");
        return;
    case OTP_IN_USE:
        if (!strcmp(c->station_id, station_id))
            api_error(req, resp, ERR_CONFLICT, code, "OTP is already being dispensed at this station");
        else
            api_error(req, resp, ERR_CONFLICT, code, "OTP is in use at a different station");
        return;
    case OTP_NOT_COMPLETED:
        api_error(req, resp, ERR_VALIDATION, code, "Transaction %.64s is not completed", reference);
        return;
    case OTP_BAD_LITERS:
        api_error(req, resp, ERR_VALIDATION, code, "liters: more than the %lld litres paid for",
                  (long long)c->liters);
        return;
    case OTP_LIMIT:
        api_error(req, resp, ERR_CONFLICT, code, "Too many codes for this transaction");
        return;
    case OTP_THROTTLED:
        api_error(req, resp, ERR_RATE_LIMIT, code, "Too many wrong codes from this station; try again later");
        return;
    case OTP_NOT_VERIFIED:
        api_error(req, resp, ERR_CONFLICT, code, "OTP has not been verified at this station");
        return;
    case OTP_OK:
    case OTP_STORE:
        break;
    }
    api_error(req, resp, ERR_INTERNAL, NULL, "Could not process the code; please retry");
}

/* What the water face shows of a code, plus lipa's additions. */
static json_t *status_json(const struct otp_code *c, int64_t now)
{
    json_t *j = json_pack("{s:b, s:s, s:s, s:I, s:I, s:I, s:I}", "exists", 1, "transactionReference", c->reference,
                          "status", otp_status_at(c, now), "attempts", (json_int_t)c->attempts, "maxAttempts",
                          (json_int_t)c->max_attempts, "liters", (json_int_t)c->liters, "remainingAttempts",
                          (json_int_t)otp_remaining(c, now));
    json_object_set_new(j, "expiresAt", api_time_or_null(c->expires_at));
    json_object_set_new(j, "stationId", api_str_or_null(c->station_id));
    json_object_set_new(j, "verifiedAt", api_time_or_null(c->verified_at));
    json_object_set_new(j, "completedAt", api_time_or_null(c->completed_at));
    json_object_set_new(j, "litersDispensed", liters_json(c->dispensed_ml));
    json_object_set_new(j, "completion", api_str_or_null(c->completion));
    return j;
}

/* A reference with no code: 404 when no water payment has it, else
 * exists:false. */
static void no_code(struct app *a, struct http_req *req, struct http_resp *resp, const char *reference)
{
    int64_t id;
    struct payment p;
    if (store_otp_payment_id(a->store, reference, &id) != ST_OK || store_payment_get(a->store, id, &p) != ST_OK ||
        strcmp(p.kind, "water")) {
        api_error(req, resp, ERR_NOT_FOUND, "TRANSACTION_NOT_FOUND", "Transaction %.64s not found", reference);
        return;
    }
    json_t *j = json_pack("{s:b, s:s, s:n, s:s, s:I}", "exists", 0, "transactionReference", reference, "status",
                          "paymentStatus", p.status, "liters", (json_int_t)p.liters);
    api_ok(req, resp, 200, "No code for this transaction", j);
}

/* ---- /api/otp ---- */

static void h_generate(void *ctx, struct http_req *req, struct http_resp *resp)
{
    struct app *a = ctx;
    static const struct field fields[] = {
        {"transactionReference", F_STRING, F_REQUIRED, 1, 64},
        {"liters", F_INT, 0, 1, 1000000},
        {NULL, 0, 0, 0, 0},
    };
    if (!api_require_admin(req, resp, a->cfg.admin_key))
        return;
    json_t *body = api_parse(req, resp, fields);
    if (!body)
        return;
    const char *ref = api_str(body, "transactionReference");
    char code[OTP_DIGITS + 1];
    struct otp_code c;
    enum otp_verdict v = otp_generate(a, ref, api_int(body, "liters", 0), code, &c);
    if (v == OTP_BAD_LITERS) {
        int64_t id;
        struct payment p;
        c.liters = store_otp_payment_id(a->store, ref, &id) == ST_OK && store_payment_get(a->store, id, &p) == ST_OK
                       ? p.liters
                       : 0;
    }
    if (v == OTP_NOT_FOUND) {
        api_error(req, resp, ERR_NOT_FOUND, "TRANSACTION_NOT_FOUND", "Transaction %.64s not found", ref);
    } else if (v != OTP_OK) {
        verdict_error(req, resp, v, ref, &c, "");
    } else {
        json_t *j = json_pack("{s:s, s:s, s:I, s:I, s:I}", "otp", code, "transactionReference", c.reference,
                              "liters", (json_int_t)c.liters, "expiresInMinutes",
                              (json_int_t)((a->cfg.otp_ttl + 59) / 60), "maxAttempts", (json_int_t)c.max_attempts);
        json_object_set_new(j, "expiresAt", api_time_or_null(c.expires_at));
        http_resp_header(resp, "Cache-Control", "no-store");
        api_ok(req, resp, 201, "OTP generated successfully", j);
    }
    explicit_bzero(code, sizeof code);
    json_decref(body);
}

static void h_otp_status(void *ctx, struct http_req *req, struct http_resp *resp)
{
    struct app *a = ctx;
    if (!api_require_admin(req, resp, a->cfg.admin_key))
        return;
    const char *ref = req->params[0];
    struct otp_code c;
    enum store_rc rc = store_otp_current(a->store, ref, &c);
    if (rc == ST_NOT_FOUND)
        no_code(a, req, resp, ref);
    else if (rc != ST_OK)
        api_error(req, resp, ERR_INTERNAL, NULL, "Could not read the code; please retry");
    else
        api_ok(req, resp, 200, "OTP status", status_json(&c, now_ms()));
}

/* ---- /api/stations ---- */

static json_t *station_json(const struct otp_station *s)
{
    json_t *j = json_pack("{s:s, s:s, s:s, s:I}", "stationId", s->id, "name", s->name, "location", s->location,
                          "pulsesPerLiter", (json_int_t)s->pulses_per_liter);
    json_object_set_new(j, "createdAt", api_time_or_null(s->created_at));
    json_object_set_new(j, "updatedAt", api_time_or_null(s->updated_at));
    return j;
}

static void h_station_create(void *ctx, struct http_req *req, struct http_resp *resp)
{
    struct app *a = ctx;
    static const struct field fields[] = {
        {"stationId", F_STRING, F_REQUIRED, 1, 64},
        {"name", F_STRING, F_REQUIRED, 1, 128},
        {"location", F_STRING, 0, 0, 128},
        {"pulsesPerLiter", F_INT, 0, 1, 1000000},
        {NULL, 0, 0, 0, 0},
    };
    if (!api_require_admin(req, resp, a->cfg.admin_key))
        return;
    json_t *body = api_parse(req, resp, fields);
    if (!body)
        return;
    struct otp_station s;
    char key[OTP_STATION_KEY_LEN + 1] = "";
    memset(&s, 0, sizeof s);
    const char *id = api_str(body, "stationId");
    if (!station_id_ok(id)) {
        api_error(req, resp, ERR_VALIDATION, NULL, "stationId: letters, digits, '_', '-' and '.' only");
        goto out;
    }
    str_copy(s.id, sizeof s.id, id);
    str_copy(s.name, sizeof s.name, api_str(body, "name"));
    str_copy(s.location, sizeof s.location, api_str(body, "location") ? api_str(body, "location") : "");
    s.pulses_per_liter = api_int(body, "pulsesPerLiter", 0);
    enum store_rc rc = otp_station_register(a, &s, key);
    if (rc == ST_CONFLICT) {
        api_error(req, resp, ERR_CONFLICT, "STATION_EXISTS", "stationId: station %s exists already", s.id);
        goto out;
    }
    if (rc != ST_OK) {
        api_error(req, resp, ERR_INTERNAL, NULL, "Could not register the station; please retry");
        goto out;
    }
    json_t *j = station_json(&s);
    json_object_set_new(j, "apiKey", json_string(key));
    http_resp_header(resp, "Cache-Control", "no-store");
    api_ok(req, resp, 201, "Station registered. Keep the apiKey: it is shown only this once", j);
out:
    explicit_bzero(key, sizeof key);
    json_decref(body);
}

static void add_station(void *ctx, const struct otp_station *s)
{
    json_array_append_new(ctx, station_json(s));
}

static void h_stations(void *ctx, struct http_req *req, struct http_resp *resp)
{
    struct app *a = ctx;
    if (!api_require_admin(req, resp, a->cfg.admin_key))
        return;
    json_t *arr = json_array();
    if (store_stations_list(a->store, add_station, arr) != ST_OK) {
        json_decref(arr);
        api_error(req, resp, ERR_INTERNAL, NULL, "Could not list the stations; please retry");
        return;
    }
    api_ok(req, resp, 200, "Stations", arr);
}

/* ---- /api/stations/otp: the station side ---- */

static void h_verify(void *ctx, struct http_req *req, struct http_resp *resp)
{
    struct app *a = ctx;
    static const struct field fields[] = {
        {"transactionReference", F_STRING, F_REQUIRED, 1, 64},
        {"otp", F_STRING, F_REQUIRED, 1, 16},
        {"stationId", F_STRING, F_REQUIRED, 1, 64},
        {NULL, 0, 0, 0, 0},
    };
    struct otp_station st;
    if (!station_key(req)) {
        require_station(a, req, resp, NULL, &st);
        return;
    }
    json_t *body = api_parse(req, resp, fields);
    if (!body)
        return;
    const char *ref = api_str(body, "transactionReference"), *otp = api_str(body, "otp");
    if (!require_station(a, req, resp, api_str(body, "stationId"), &st))
        goto out;
    if (strlen(otp) != OTP_DIGITS || !str_is_digits(otp)) {
        api_error(req, resp, ERR_VALIDATION, NULL, "otp: must be %d digits", OTP_DIGITS);
        goto out;
    }
    struct otp_code c;
    enum otp_verdict v = otp_verify(a, ref, otp, &st, &c);
    if (v != OTP_OK) {
        verdict_error(req, resp, v, ref, &c, st.id);
        goto out;
    }
    json_t *j = json_pack("{s:s, s:s, s:I, s:I, s:I, s:s}", "transactionReference", c.reference, "stationId", st.id,
                          "liters", (json_int_t)c.liters, "pulses", (json_int_t)otp_pulses(&st, c.liters),
                          "pulsesPerLiter", (json_int_t)st.pulses_per_liter, "status", c.status);
    json_object_set_new(j, "verifiedAt", api_time_or_null(c.verified_at));
    json_object_set_new(j, "lockedUntil", api_time_or_null(c.lock_until));
    api_ok(req, resp, 200, "OTP verified successfully. Dispensing authorized.", j);
out:
    json_decref(body);
}

static void h_station_status(void *ctx, struct http_req *req, struct http_resp *resp)
{
    struct app *a = ctx;
    const char *ref = req->params[0], *sid = http_query(req, "stationId");
    struct otp_station st;
    if (station_key(req) && (!sid || !*sid)) {
        api_error(req, resp, ERR_VALIDATION, NULL, "stationId: required (query parameter)");
        return;
    }
    if (!require_station(a, req, resp, sid, &st))
        return;
    struct otp_code c;
    enum store_rc rc = store_otp_current(a->store, ref, &c);
    if (rc == ST_NOT_FOUND) {
        no_code(a, req, resp, ref);
        return;
    }
    if (rc != ST_OK) {
        api_error(req, resp, ERR_INTERNAL, NULL, "Could not read the code; please retry");
        return;
    }
    int64_t now = now_ms();
    const char *s = otp_status_at(&c, now);
    bool elsewhere = c.station_id[0] && strcmp(c.station_id, st.id);
    json_t *j = status_json(&c, now);
    json_object_set_new(j, "pulses", json_integer(otp_pulses(&st, c.liters)));
    json_object_set_new(j, "isLockedToDifferentStation", json_boolean(elsewhere));
    json_object_set_new(j, "canUse", json_boolean(!strcmp(s, "active") && !elsewhere && otp_remaining(&c, now) > 0));
    api_ok(req, resp, 200, "OTP status", j);
}

static void h_complete(void *ctx, struct http_req *req, struct http_resp *resp)
{
    struct app *a = ctx;
    static const struct field fields[] = {
        {"transactionReference", F_STRING, F_REQUIRED, 1, 64},
        {"stationId", F_STRING, F_REQUIRED, 1, 64},
        {"litersDispensed", F_NUMBER, F_REQUIRED, 0, 1000000},
        {NULL, 0, 0, 0, 0},
    };
    struct otp_station st;
    if (!station_key(req)) {
        require_station(a, req, resp, NULL, &st);
        return;
    }
    json_t *body = api_parse(req, resp, fields);
    if (!body)
        return;
    const char *ref = api_str(body, "transactionReference");
    if (!require_station(a, req, resp, api_str(body, "stationId"), &st))
        goto out;
    int64_t ml = (int64_t)llround(json_number_value(json_object_get(body, "litersDispensed")) * 1000.0);
    struct otp_code c;
    enum otp_verdict v = otp_complete(a, ref, &st, ml, &c);
    if (v == OTP_BAD_LITERS) {
        api_error(req, resp, ERR_VALIDATION, otp_verdict_name(v), "litersDispensed: more than the %lld litres authorized",
                  (long long)c.liters);
        goto out;
    }
    if (v == OTP_USED) {
        api_error(req, resp, ERR_CONFLICT, otp_verdict_name(v), "Dispensing was already reported for this code");
        goto out;
    }
    if (v != OTP_OK) {
        verdict_error(req, resp, v, ref, &c, st.id);
        goto out;
    }
    int64_t short_ml = c.liters * 1000 - c.dispensed_ml;
    json_t *j = json_pack("{s:s, s:s, s:I, s:s, s:s, s:b}", "transactionReference", c.reference, "stationId", st.id,
                          "liters", (json_int_t)c.liters, "status", c.status, "completion", c.completion, "short",
                          short_ml > 0);
    json_object_set_new(j, "litersDispensed", liters_json(c.dispensed_ml));
    json_object_set_new(j, "shortfallLiters", liters_json(short_ml > 0 ? short_ml : 0));
    json_object_set_new(j, "completedAt", api_time_or_null(c.completed_at));
    api_ok(req, resp, 200, short_ml > 0 ? "Short dispense recorded" : "Dispensing recorded", j);
out:
    json_decref(body);
}

const struct http_route otp_routes[] = {
    {"POST", "/api/otp/generate", h_generate, ENV_DATA, 0},
    {"GET", "/api/otp/status/{transactionReference}", h_otp_status, ENV_DATA, 0},
    {"POST", "/api/stations", h_station_create, ENV_DATA, 0},
    {"GET", "/api/stations", h_stations, ENV_DATA, 0},
    {"POST", "/api/stations/otp/verify", h_verify, ENV_DATA, 0},
    {"GET", "/api/stations/otp/status/{transactionReference}", h_station_status, ENV_DATA, 0},
    {"POST", "/api/stations/otp/complete", h_complete, ENV_DATA, 0},
    {NULL, NULL, NULL, 0, 0},
};
