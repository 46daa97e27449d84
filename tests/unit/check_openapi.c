/* check_openapi: the OpenAPI document compiled into lipad (docs/openapi.json,
 * served at GET /openapi.json) describes exactly the routes lipad serves:
 * every route of app_routes() is an operation of the document, with its
 * method and path template, and every operation of the document is a
 * route. A route added without its description, or a description left
 * behind by a removed route, fails here, naming it. */
#include "runner.h"
#include "app/openapi.h"
#include "app/routes.h"

#include <check.h>
#include <ctype.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static json_t *document(void)
{
    json_error_t e;
    json_t *doc = json_loads(app_openapi_json, JSON_REJECT_DUPLICATES, &e);
    if (!doc)
        ck_abort_msg("docs/openapi.json: line %d: %s", e.line, e.text);
    return doc;
}

/* "METHOD /path" of every operation of doc, as the keys of an object. */
static json_t *operations(json_t *doc)
{
    static const char *const methods[] = {"get", "put", "post", "delete", "options", "head", "patch", "trace"};
    json_t *ops = json_object(), *paths = json_object_get(doc, "paths");
    ck_assert_msg(json_is_object(paths), "docs/openapi.json: no paths object");
    const char *path;
    json_t *item;
    json_object_foreach(paths, path, item) {
        for (size_t i = 0; i < sizeof methods / sizeof methods[0]; i++) {
            if (!json_object_get(item, methods[i]))
                continue;
            char key[300], up[16];
            size_t n = 0;
            for (; methods[i][n] && n + 1 < sizeof up; n++)
                up[n] = (char)toupper((unsigned char)methods[i][n]);
            up[n] = '\0';
            snprintf(key, sizeof key, "%s %s", up, path);
            json_object_set_new(ops, key, json_true());
        }
    }
    return ops;
}

static json_t *routes(void)
{
    json_t *set = json_object();
    const struct http_route *r = app_routes();
    ck_assert_ptr_nonnull(r);
    for (; r->method; r++) {
        char key[300];
        snprintf(key, sizeof key, "%s %s", r->method, r->pattern);
        ck_assert_msg(!json_object_get(set, key), "%s is routed twice", key);
        json_object_set_new(set, key, json_true());
    }
    return set;
}

START_TEST(every_route_is_documented_and_nothing_else)
{
    json_t *doc = document(), *ops = operations(doc), *rs = routes();
    const char *key;
    json_t *v;
    int missing = 0, extra = 0;
    json_object_foreach(rs, key, v) {
        if (!json_object_get(ops, key)) {
            fprintf(stderr, "check_openapi: route %s is not in docs/openapi.json\n", key);
            missing++;
        }
    }
    json_object_foreach(ops, key, v) {
        if (!json_object_get(rs, key)) {
            fprintf(stderr, "check_openapi: docs/openapi.json describes %s, which lipad does not route\n", key);
            extra++;
        }
    }
    ck_assert_msg(missing == 0 && extra == 0, "%d routes undocumented, %d operations not routed (listed above)",
                  missing, extra);
    /* the set is not empty by accident: lipad's routes number in the dozens */
    ck_assert_uint_gt(json_object_size(rs), 50);
    ck_assert_uint_eq(json_object_size(rs), json_object_size(ops));
    json_decref(rs);
    json_decref(ops);
    json_decref(doc);
}
END_TEST

START_TEST(the_document_is_openapi_3_1)
{
    json_t *doc = document();
    const char *v = json_string_value(json_object_get(doc, "openapi"));
    ck_assert_ptr_nonnull(v);
    ck_assert_msg(!strncmp(v, "3.1.", 4), "openapi is %s, not 3.1.x", v);
    ck_assert_ptr_nonnull(json_string_value(json_object_get(json_object_get(doc, "info"), "title")));
    json_decref(doc);
}
END_TEST

Suite *test_suite(void)
{
    Suite *s = suite_create("openapi");
    TCase *tc = tcase_create("openapi");
    tcase_add_test(tc, every_route_is_documented_and_nothing_else);
    tcase_add_test(tc, the_document_is_openapi_3_1);
    suite_add_tcase(s, tc);
    return s;
}
