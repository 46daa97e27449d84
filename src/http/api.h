/* http/api: JSON replies for lipa's REST faces. One table maps each error
 * of util/err.h to its HTTP status and code string; the envelope of a
 * reply depends on which face owns the route, that is on who calls it:
 *
 *   ENV_PLAIN  (electricity front ends: /meter-user, /mpesa; lipa's own
 *              /users): bodies as shown; errors {success:false, message,
 *              error}
 *   ENV_DATA   (water front ends and stations: /api/...): {success,
 *              message, data}; errors {success:false, message, error}
 *   ENV_DEVICE (the devices face, /devices): bodies as shown; errors
 *              {error, message}
 *   ENV_BARE   (integrators' public payments, /api/v1/...): bodies as
 *              shown; errors {error: message}, the message alone
 *
 * Request bodies are checked against a declared field table before a
 * handler acts; a failure names the field. All functions are thread-safe. */
#ifndef LIPA_HTTP_API_H
#define LIPA_HTTP_API_H

#include "http/server.h"
#include "util/err.h"

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

enum envelope { ENV_PLAIN = 0, ENV_DATA, ENV_DEVICE, ENV_BARE };


int api_status(enum err e);
const char *api_code(enum err e);

/* Replies with body under the route's envelope; steals body (may be NULL).
 * For ENV_DATA, body becomes `data` and message the `message`. */
void api_ok(struct http_req *req, struct http_resp *resp, int status, const char *message, json_t *body);
/* Error reply; code NULL means the table's code for e. */
void api_error(struct http_req *req, struct http_resp *resp, enum err e, const char *code,
               const char *fmt, ...) __attribute__((format(printf, 5, 6)));
/* Serializes json (stolen) as the whole body, no envelope. Reals print
 * with at most API_REAL_DIGITS significant digits (see api_decimal). */
void api_json(struct http_resp *resp, int status, json_t *json);

/* Every money or energy figure a reply shows: value rounded to `places`
 * decimals (0..6, half away from zero), as a JSON real that prints as that
 * decimal and nothing more: 5.1, not 5.0999999999999996; 500.0 for a
 * whole one. Jansson prints a real with 17 significant digits unless told
 * otherwise, enough to tell any two doubles apart but showing the binary
 * error of most decimals; api_json asks for API_REAL_DIGITS (15, DBL_DIG),
 * the most digits every decimal keeps through a double, so a value this
 * function made (at most 15 significant digits) prints as its decimal. JSON
 * null for a value that is not finite or beyond 2^53 units. New reference. */
#define API_REAL_DIGITS 15
json_t *api_decimal(double value, int places);

/* Bearer admin key check (constant time); on failure writes the 401 reply. */
bool api_require_admin(struct http_req *req, struct http_resp *resp, const char *admin_key);
/* The same check without a reply, for public reads that show personal
 * data only to the admin. */
bool api_is_admin(struct http_req *req, const char *admin_key);

/* Declared request fields. */
enum ftype { F_STRING, F_INT, F_NUMBER, F_BOOL, F_ID /* int or digit string */ };
#define F_REQUIRED 1u
struct field {
    const char *name;
    enum ftype type;
    unsigned flags;
    int64_t min, max;   /* F_STRING: length bounds; F_INT/F_NUMBER: value bounds */
};

/* Parses req's body as a JSON object and checks it against fields (NULL
 * name ends the table). On failure replies 400 naming the field and
 * returns NULL; else returns the object (caller json_decref). */
json_t *api_parse(struct http_req *req, struct http_resp *resp, const struct field *fields);
/* JSON for optional values: null for a NULL or empty string, and for a
 * time of 0 (none); a time is ISO 8601 in UTC otherwise. */
json_t *api_str_or_null(const char *s);
json_t *api_time_or_null(int64_t ms);
/* Lent string of obj[name] or NULL; integer of obj[name] (number or digit
 * string) or def. */
const char *api_str(json_t *obj, const char *name);
int64_t api_int(json_t *obj, const char *name, int64_t def);

#endif
