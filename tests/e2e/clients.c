/* e2e: integrators as the admin sets them up (/api/clients): a client, its
 * key and webhook secret shown once, its packages, and nothing of one
 * client reachable through another's path. */
#include "harness.h"

#include <check.h>
#include <stdio.h>
#include <string.h>

static struct http_result admin(const char *method, const char *path, const char *json)
{
    return h_json_admin(&h_main, method, path, json);
}

static const char *jstr(json_t *o, const char *k) { return json_string_value(json_object_get(o, k)); }

START_TEST(admin_makes_a_client_and_its_packages)
{
    struct http_result r = admin("POST", "/api/clients", "{\"name\":\"Shule Pearl\",\"callbackUrl\":\"https://shule.example/notify\"}");
    ck_assert_int_eq(r.status, 201);
    char id[40], key[64], secret[64], path[200];
    snprintf(id, sizeof id, "%s", jstr(r.json, "clientId"));
    snprintf(key, sizeof key, "%s", jstr(r.json, "apiKey"));
    snprintf(secret, sizeof secret, "%s", jstr(r.json, "webhookSecret"));
    ck_assert_int_eq((int)strlen(id), 36);
    ck_assert(!strncmp(key, "lk_", 3));
    ck_assert(!strncmp(secret, "whsec_", 6));
    ck_assert(json_is_true(json_object_get(r.json, "active")));
    ck_assert_str_eq(jstr(r.json, "name"), "Shule Pearl");
    ck_assert_ptr_nonnull(jstr(r.json, "createdAt"));
    h_free(&r);

    /* shown once: no read shows the key or the secret again */
    r = admin("GET", "/api/clients", NULL);
    ck_assert_int_eq(r.status, 200);
    ck_assert(json_is_array(r.json));
    ck_assert(strstr(r.body, id) != NULL);
    ck_assert(strstr(r.body, key + 3) == NULL && strstr(r.body, secret + 6) == NULL);
    h_free(&r);
    snprintf(path, sizeof path, "/api/clients/%s", id);
    r = admin("GET", path, NULL);
    ck_assert_int_eq(r.status, 200);
    ck_assert_str_eq(jstr(r.json, "callbackUrl"), "https://shule.example/notify");
    ck_assert(strstr(r.body, key + 3) == NULL && strstr(r.body, secret + 6) == NULL);
    h_free(&r);

    /* a UUID in capitals is the same id, as on the public payments */
    char upper[40];
    for (size_t i = 0; i <= strlen(id); i++)
        upper[i] = (char)(id[i] >= 'a' && id[i] <= 'f' ? id[i] - 32 : id[i]);
    snprintf(path, sizeof path, "/api/clients/%s", upper);
    r = admin("GET", path, NULL);
    ck_assert_msg(r.status == 200, "%s: %ld %s", path, r.status, r.body);
    ck_assert_str_eq(jstr(r.json, "clientId"), id);
    h_free(&r);

    /* a new key */
    snprintf(path, sizeof path, "/api/clients/%s/keys", id);
    r = admin("POST", path, "{}");
    ck_assert_int_eq(r.status, 201);
    ck_assert(strncmp(jstr(r.json, "apiKey"), "lk_", 3) == 0);
    ck_assert_str_ne(jstr(r.json, "apiKey"), key);
    h_free(&r);

    /* packages */
    snprintf(path, sizeof path, "/api/clients/%s/packages", id);
    r = admin("POST", path, "{\"name\":\"Professional Plan\",\"amount\":1500,\"description\":\"30 days\"}");
    ck_assert_int_eq(r.status, 201);
    char pkg[40];
    snprintf(pkg, sizeof pkg, "%s", jstr(r.json, "packageId"));
    ck_assert_int_eq((int)strlen(pkg), 36);
    ck_assert_int_eq(json_integer_value(json_object_get(r.json, "amount")), 1500);
    h_free(&r);
    r = admin("POST", path, "{\"name\":\"Free\",\"amount\":0}");
    ck_assert_int_eq(r.status, 400);
    ck_assert(strstr(r.body, "amount") != NULL);
    h_free(&r);
    r = admin("POST", path, "{\"name\":\"Half\",\"amount\":10.5}");
    ck_assert_int_eq(r.status, 400);
    h_free(&r);
    r = admin("GET", path, NULL);
    ck_assert_int_eq(r.status, 200);
    ck_assert_int_eq((int)json_array_size(r.json), 1);
    h_free(&r);
    snprintf(path, sizeof path, "/api/clients/%s/packages/%s", id, pkg);
    r = admin("PUT", path, "{\"amount\":2000,\"active\":false}");
    ck_assert_int_eq(r.status, 200);
    ck_assert_int_eq(json_integer_value(json_object_get(r.json, "amount")), 2000);
    ck_assert(json_is_false(json_object_get(r.json, "active")));
    h_free(&r);

    for (size_t i = 0; i <= strlen(pkg); i++)
        upper[i] = (char)(pkg[i] >= 'a' && pkg[i] <= 'f' ? pkg[i] - 32 : pkg[i]);
    snprintf(path, sizeof path, "/api/clients/%s/packages/%s", id, upper);
    r = admin("PUT", path, "{\"amount\":2100}");
    ck_assert_msg(r.status == 200, "%s: %ld %s", path, r.status, r.body);
    ck_assert_str_eq(jstr(r.json, "packageId"), pkg);
    h_free(&r);

    /* another client's path does not reach this client's package */
    r = admin("POST", "/api/clients", "{\"name\":\"Other ISP\"}");
    ck_assert_int_eq(r.status, 201);
    ck_assert(json_is_null(json_object_get(r.json, "callbackUrl")));
    char other[40];
    snprintf(other, sizeof other, "%s", jstr(r.json, "clientId"));
    h_free(&r);
    snprintf(path, sizeof path, "/api/clients/%s/packages/%s", other, pkg);
    r = admin("PUT", path, "{\"amount\":1}");
    ck_assert_int_eq(r.status, 404);
    h_free(&r);

    /* deactivated */
    snprintf(path, sizeof path, "/api/clients/%s", id);
    r = admin("PUT", path, "{\"active\":false,\"name\":\"Shule\"}");
    ck_assert_int_eq(r.status, 200);
    ck_assert(json_is_false(json_object_get(r.json, "active")));
    ck_assert_str_eq(jstr(r.json, "name"), "Shule");
    h_free(&r);
}
END_TEST

START_TEST(client_requests_are_checked)
{
    struct http_result r = h_req(h_main.port, "POST", "/api/clients", "application/json", "{\"name\":\"x\"}", 12, NULL);
    ck_assert_int_eq(r.status, 401);
    h_free(&r);
    r = h_req(h_main.port, "GET", "/api/clients", NULL, NULL, 0, "Bearer wrong");
    ck_assert_int_eq(r.status, 401);
    h_free(&r);
    const char *bad[][2] = {
        {"{}", "name"},
        {"{\"name\":\"\"}", "name"},
        {"{\"name\":\"a\\nb\"}", "name"},
        {"{\"name\":\"ok\",\"callbackUrl\":\"ftp://x.example\"}", "callbackUrl"},
        {"{\"name\":\"ok\",\"callbackUrl\":\"https://x.example/a b\"}", "callbackUrl"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        r = admin("POST", "/api/clients", bad[i][0]);
        ck_assert_msg(r.status == 400, "%s: %ld", bad[i][0], r.status);
        ck_assert_msg(strstr(r.body, bad[i][1]) != NULL, "%s: %s", bad[i][0], r.body);
        h_free(&r);
    }
    r = admin("GET", "/api/clients/not-a-uuid", NULL);
    ck_assert_int_eq(r.status, 400);
    ck_assert(strstr(r.body, "clientId") != NULL);
    h_free(&r);
    r = admin("GET", "/api/clients/550e8400-e29b-41d4-a716-446655440000", NULL);
    ck_assert_int_eq(r.status, 404);
    h_free(&r);
    r = admin("POST", "/api/clients/550e8400-e29b-41d4-a716-446655440000/packages", "{\"name\":\"P\",\"amount\":5}");
    ck_assert_int_eq(r.status, 404);
    h_free(&r);
}
END_TEST

Suite *suite_clients(void)
{
    Suite *s = suite_create("clients");
    TCase *t = tcase_create("admin");
    tcase_add_test(t, admin_makes_a_client_and_its_packages);
    tcase_add_test(t, client_requests_are_checked);
    suite_add_tcase(s, t);
    return s;
}
