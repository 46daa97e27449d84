/* fuzz target api_parse: the declared field checks every REST handler runs
 * on a JSON body before it acts (api_parse in src/http/api.c), and the 400
 * replies they write in each route's envelope.
 *
 * Input: a first line naming one of the field tables below (copies of the
 * shapes the handlers declare: strings with length bounds, whole numbers,
 * ids given as number or digit string, decimals, booleans; required and
 * optional), then the body. An unknown name picks a table by its first
 * byte.
 *
 * Checks, against a second, plain reading of the same table: the body is
 * accepted exactly when every field is well-formed; a refusal is a 400
 * whose JSON reply, in the route's envelope, names the first bad field
 * ("body:" when the body is no JSON object). */
#include "fuzz.h"

#include "http/api.h"
#include "util/str.h"

#include <math.h>
#include <string.h>

struct table {
    const char *name;
    int envelope;
    struct field f[8];
};

static const struct table tables[] = {
    {"users", ENV_PLAIN,
     {{"phoneNumber", F_STRING, F_REQUIRED, 9, 20},
      {"firstName", F_STRING, 0, 0, 64},
      {"email", F_STRING, 0, 0, 254},
      {"language", F_STRING, 0, 0, 2},
      {NULL, 0, 0, 0, 0}}},
    {"payment", ENV_PLAIN,
     {{"amount", F_INT, F_REQUIRED, 1, 150000},
      {"phoneNumber", F_STRING, F_REQUIRED, 9, 20},
      {"meterId", F_STRING, F_REQUIRED, 1, 64},
      {"userId", F_ID, F_REQUIRED, 1, 0},
      {"accountReference", F_STRING, 0, 0, 12},
      {NULL, 0, 0, 0, 0}}},
    {"devices", ENV_DEVICE,
     {{"id", F_STRING, 0, 1, 64},
      {"deviceId", F_STRING, F_REQUIRED, 1, 64},
      {"active", F_BOOL, 0, 0, 0},
      {"pricePerKwh", F_NUMBER, 0, 0, 100000},
      {NULL, 0, 0, 0, 0}}},
    {"assign", ENV_PLAIN,
     {{"meterId", F_STRING, F_REQUIRED, 1, 64}, {"userId", F_ID, F_REQUIRED, 1, 0},
      {"isAssigned", F_BOOL, 0, 0, 0}, {NULL, 0, 0, 0, 0}}},
    {"dispensed", ENV_DATA,
     {{"transactionReference", F_STRING, F_REQUIRED, 1, 64},
      {"litersDispensed", F_NUMBER, F_REQUIRED, 0, 1000000},
      {"pulsesPerLiter", F_INT, 0, 1, 1000000},
      {NULL, 0, 0, 0, 0}}},
    {"preview", ENV_DATA, {{"amount", F_INT, F_REQUIRED, 1, 1000000000}, {NULL, 0, 0, 0, 0}}},
    {"ids", ENV_DATA,
     {{"a", F_ID, 0, 0, 0}, {"b", F_ID, 0, -5, 5}, {"c", F_INT, 0, -9000000000000000, 0},
      {"d", F_NUMBER, 0, -3, 0}, {NULL, 0, 0, 0, 0}}},
};
#define NTABLES (sizeof tables / sizeof tables[0])

/* The plain reading: true when v is a well-formed value for f. */
static bool whole(json_t *v, int64_t *out)
{
    if (json_is_integer(v)) {
        *out = json_integer_value(v);
        return true;
    }
    if (!json_is_real(v))
        return false;
    double d = json_real_value(v);
    if (d != floor(d) || fabs(d) > 9e15)
        return false;
    *out = (int64_t)d;
    return true;
}

static bool in_bounds(const struct field *f, int64_t n) { return n >= f->min && (!f->max || n <= f->max); }

static bool field_ok(const struct field *f, json_t *v)
{
    int64_t n;
    switch (f->type) {
    case F_STRING: {
        if (!json_is_string(v))
            return false;
        size_t len = json_string_length(v);
        return in_bounds(f, (int64_t)len) && strlen(json_string_value(v)) == len &&
               str_is_clean_utf8(json_string_value(v), len);
    }
    case F_ID:
        if (json_is_string(v)) {
            const char *s = json_string_value(v);
            if (str_to_i64(s, f->min, f->max ? f->max : INT64_MAX, &n))
                return true;
        }
        return whole(v, &n) && in_bounds(f, n);
    case F_INT:
        return whole(v, &n) && in_bounds(f, n);
    case F_NUMBER:
        return json_is_number(v) && json_number_value(v) >= (double)f->min &&
               (!f->max || json_number_value(v) <= (double)f->max);
    case F_BOOL:
        return json_is_boolean(v);
    }
    return false;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const uint8_t *nl = memchr(data, '\n', size);
    size_t head = nl ? (size_t)(nl - data) : 0;
    const struct table *t = &tables[size ? data[0] % NTABLES : 0];
    for (size_t i = 0; i < NTABLES; i++)
        if (strlen(tables[i].name) == head && !memcmp(tables[i].name, data, head))
            t = &tables[i];
    const uint8_t *body = nl ? nl + 1 : data;
    size_t body_len = size - (size_t)(body - data);

    struct http_route route = {"POST", "/fuzz", NULL, t->envelope, 0};
    char *copy = fuzz_strdup(body, body_len);
    struct http_req req = {.method = "POST", .path = "/fuzz", .body = copy, .body_len = body_len, .route = &route};
    struct http_resp resp = {.status = 0};
    buf_init(&resp.body, 0);

    /* the plain reading: the first bad field, "body" for no object */
    const char *bad = NULL;
    json_t *mine = json_loadb(copy, body_len, JSON_REJECT_DUPLICATES, NULL);
    if (!json_is_object(mine))
        bad = "body";
    for (const struct field *f = t->f; !bad && f->name; f++) {
        json_t *v = json_object_get(mine, f->name);
        if (!v || json_is_null(v)) {
            if (f->flags & F_REQUIRED)
                bad = f->name;
        } else if (!field_ok(f, v)) {
            bad = f->name;
        }
    }

    json_t *got = api_parse(&req, &resp, t->f);
    if (got) {
        FUZZ_CHECK(!bad, "accepted, but %s is bad", bad);
        FUZZ_CHECK(json_equal(got, mine), "accepted a different object");
        FUZZ_CHECK(resp.status == 0 && resp.body.len == 0, "answered %d on success", resp.status);
        json_decref(got);
    } else {
        FUZZ_CHECK(bad, "refused a good body: %s", resp.body.data ? resp.body.data : "");
        FUZZ_CHECK(resp.status == 400, "status %d", resp.status);
        json_t *r = json_loadb(resp.body.data ? resp.body.data : "", resp.body.len, 0, NULL);
        FUZZ_CHECK(json_is_object(r), "reply is no JSON object: %s", resp.body.data ? resp.body.data : "");
        const char *msg = json_string_value(json_object_get(r, "message"));
        const char *err = json_string_value(json_object_get(r, "error"));
        FUZZ_CHECK(msg && err, "reply without message and error: %s", resp.body.data);
        FUZZ_CHECK(!strncmp(msg, bad, strlen(bad)) && msg[strlen(bad)] == ':', "'%s' does not name %s", msg, bad);
        if (t->envelope == ENV_DEVICE) {
            FUZZ_CHECK(json_object_size(r) == 2, "device envelope: %s", resp.body.data);
            for (const char *p = err; *p; p++)
                FUZZ_CHECK(!(*p >= 'A' && *p <= 'Z'), "device codes are lower case: %s", err);
        } else {
            FUZZ_CHECK(json_is_false(json_object_get(r, "success")) && json_object_size(r) == 3, "envelope: %s",
                       resp.body.data);
        }
        json_decref(r);
    }
    json_decref(mine);
    buf_free(&resp.body);
    free(copy);
    return 0;
}
