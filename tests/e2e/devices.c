/* End-to-end: the device endpoints beyond registration: the
 * billing commands (add-balance, add-token, set-price, reset-balance,
 * prepayment-mode), balance and usage, and the sync from the meter cloud.
 * Every meter and device id starts with "DEV" so no other test sees them;
 * each test checks what reached the sandbox's meter, not only the reply.
 * The refresh test runs last: it renames known devices to their cloud names. */
#include "harness.h"

#include "meter/token.h"
#include "util/str.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- helpers ---- */

static const char *jstr(json_t *o, const char *k) { return json_string_value(json_object_get(o, k)); }

static double jnum(json_t *o, const char *k) { return json_number_value(json_object_get(o, k)); }

static struct http_result post_admin(const char *path, const char *json)
{
    return h_json_admin(&h_main, "POST", path, json ? json : "{}");
}

/* The sandbox's view of a device: balance, vendor data points, commands. */
static json_t *cloud_device(const char *device)
{
    char path[160];
    snprintf(path, sizeof path, "/sandbox/tuya/devices/%s", device);
    struct http_result r = h_req(h_sandbox_port, "GET", path, NULL, NULL, 0, NULL);
    ck_assert_msg(r.status == 200, "sandbox device %s: %ld %s", device, r.status, r.body);
    json_t *d = json_incref(r.json);
    h_free(&r);
    return d;
}

/* The value of the newest command the sandbox meter got with this code. */
static json_t *last_command(const char *device, const char *code)
{
    json_t *d = cloud_device(device), *found = NULL, *c;
    size_t i;
    json_array_foreach(json_object_get(d, "commands"), i, c)
        if (!strcmp(jstr(c, "code"), code))
            found = json_object_get(c, "value");
    json_incref(found);
    json_decref(d);
    return found;
}

static size_t command_count(const char *device)
{
    json_t *d = cloud_device(device);
    size_t n = json_array_size(json_object_get(d, "commands"));
    json_decref(d);
    return n;
}

/* A device known to the sandbox only, with a name and a balance. */
static void cloud_only(const char *device, const char *name, long long balance_hundredths)
{
    char body[256];
    snprintf(body, sizeof body, "{\"id\":\"%s\",\"name\":\"%s\",\"product_name\":\"Prepaid Meter X\",\"balance_energy\":%lld}",
             device, name, balance_hundredths);
    struct http_result r = h_req(h_sandbox_port, "POST", "/sandbox/tuya/devices", "application/json", body, 0, NULL);
    ck_assert_msg(r.status == 200 || r.status == 201, "sandbox register %s: %ld %s", device, r.status, r.body);
    h_free(&r);
}

/* The next Tuya call (token or business) answers HTTP 500. */
static void tuya_fails_once(void)
{
    struct http_result r = h_req(h_sandbox_port, "POST", "/sandbox/fail", "application/json",
                                 "{\"service\":\"tuya\",\"count\":1,\"status\":500}", 0, NULL);
    ck_assert_int_eq(r.status, 200);
    h_free(&r);
}

static void faults_cleared(void)
{
    struct http_result r = h_req(h_sandbox_port, "POST", "/sandbox/reset", "application/json", "{}", 0, NULL);
    ck_assert_int_eq(r.status, 200);
    h_free(&r);
}

/* An error reply in the devices face's envelope: status, code, and a message
 * that mentions `names` (NULL: anything). */
static void expect_error(struct http_result *r, long status, const char *code, const char *names)
{
    ck_assert_msg(r->status == status, "want %ld, got %ld %s", status, r->status, r->body);
    ck_assert_msg(json_is_object(r->json) && jstr(r->json, "error") && jstr(r->json, "message"),
                  "{error, message} envelope: %s", r->body);
    ck_assert_msg(!json_object_get(r->json, "success"), "device envelope has no success: %s", r->body);
    ck_assert_msg(str_ieq(jstr(r->json, "error"), code), "want error %s: %s", code, r->body);
    if (names)
        ck_assert_msg(strstr(jstr(r->json, "message"), names), "message names %s: %s", names, r->body);
    h_free(r);
}

/* Without the admin key: 401; on an unknown device: 404 device_not_found;
 * when the meter cloud fails: 502 connection_error and nothing sent. */
static void common_errors(const char *method, const char *action, const char *json, const char *meter,
                          const char *device, bool admin)
{
    char path[160];
    struct http_result r;
    if (admin) {
        snprintf(path, sizeof path, "/devices/%s/%s", meter, action);
        r = h_req(h_main.port, method, path, json ? "application/json" : NULL, json, 0, NULL);
        expect_error(&r, 401, "UNAUTHORIZED", NULL);
        r = h_req(h_main.port, method, path, json ? "application/json" : NULL, json, 0, "not-the-key");
        expect_error(&r, 401, "UNAUTHORIZED", NULL);
    }
    snprintf(path, sizeof path, "/devices/DEVNOSUCH/%s", action);
    r = h_json_admin(&h_main, method, path, json);
    expect_error(&r, 404, "device_not_found", NULL);
    size_t before = command_count(device);
    tuya_fails_once();
    snprintf(path, sizeof path, "/devices/%s/%s", meter, action);
    r = h_json_admin(&h_main, method, path, json);
    faults_cleared();
    expect_error(&r, 502, "connection_error", NULL);
    ck_assert_int_eq(command_count(device), before);
}

/* ---- tests ---- */

START_TEST(add_balance_sends_charge_money)
{
    h_meter(&h_main, "DEVBAL1", "DEVBAL1dev", "Kiosk One");
    struct http_result r = post_admin("/devices/DEVBAL1/add-balance", "{\"amount\":500.0}");
    ck_assert_msg(r.status == 200, "%ld %s", r.status, r.body);
    ck_assert(json_is_true(json_object_get(r.json, "success")));
    ck_assert_str_eq(jstr(r.json, "message"), "Added 500.0 money units to Kiosk One");
    ck_assert_str_eq(jstr(r.json, "deviceId"), "DEVBAL1dev");
    ck_assert_str_eq(jstr(r.json, "command"), "charge_money");
    ck_assert(json_is_number(json_object_get(r.json, "value")) && jnum(r.json, "value") == 500.0);
    ck_assert_msg(strstr(r.body, "\"value\":500.0"), "value written as the document does: %s", r.body);
    h_free(&r);
    json_t *v = last_command("DEVBAL1dev", "charge_money");
    ck_assert_msg(json_is_number(v) && json_number_value(v) == 500.0, "the meter got charge_money 500");
    json_decref(v);

    r = post_admin("/devices/DEVBAL1/add-balance", "{\"amount\":12.35}");
    ck_assert_int_eq(r.status, 200);
    ck_assert_str_eq(jstr(r.json, "message"), "Added 12.35 money units to Kiosk One");
    h_free(&r);

    const char *bad[] = {"{\"amount\":0}", "{\"amount\":-5}", "{\"amount\":1000000.01}", "{\"amount\":1000001}",
                         "{\"amount\":1.234}", "{\"amount\":\"500\"}", "{}", "{\"amount\":null}", NULL};
    size_t before = command_count("DEVBAL1dev");
    for (int i = 0; bad[i]; i++) {
        r = post_admin("/devices/DEVBAL1/add-balance", bad[i]);
        expect_error(&r, 400, "validation_error", "amount");
    }
    r = post_admin("/devices/DEVBAL1/add-balance", "{\"amount\":");
    ck_assert_int_eq(r.status, 400);
    h_free(&r);
    ck_assert_int_eq(command_count("DEVBAL1dev"), before);
    r = post_admin("/devices/DEVBAL1/add-balance", "{\"amount\":1000000}");
    ck_assert_int_eq(r.status, 200);
    h_free(&r);
    common_errors("POST", "add-balance", "{\"amount\":10}", "DEVBAL1", "DEVBAL1dev", true);
}
END_TEST

START_TEST(add_token_applies_once)
{
    h_meter(&h_main, "DEVTOK1", "DEVTOK1dev", "Flat 4");
    h_meter(&h_main, "DEVTOK2", "DEVTOK2dev", "Flat 5");
    char t1[21], t2[21], t3[21], other[21], grouped[25], body[128];
    int64_t minute = token_minute(now_s());
    ck_assert(token_issue(PEPPER, "DEVTOK1", minute, 40, t1));
    ck_assert(token_issue(PEPPER, "DEVTOK1", minute, 55, t2));
    ck_assert(token_issue(PEPPER, "DEVTOK1", minute - 1, 40, t3));
    ck_assert(token_issue(PEPPER, "DEVTOK2", minute, 40, other));

    snprintf(body, sizeof body, "{\"token\":\"%s\"}", t1);
    struct http_result r = post_admin("/devices/DEVTOK1/add-token", body);
    ck_assert_msg(r.status == 200, "%ld %s", r.status, r.body);
    ck_assert(json_is_true(json_object_get(r.json, "success")));
    ck_assert_str_eq(jstr(r.json, "message"), "Token applied successfully to Flat 4");
    ck_assert_str_eq(jstr(r.json, "deviceId"), "DEVTOK1dev");
    ck_assert_str_eq(jstr(r.json, "command"), "charge_token");
    ck_assert_str_eq(jstr(r.json, "value"), t1);
    h_free(&r);
    json_t *v = last_command("DEVTOK1dev", "charge_token");
    ck_assert_msg(json_is_string(v) && !strcmp(json_string_value(v), t1), "the meter got the digits");
    json_decref(v);

    /* the same token again, plain or grouped: refused, nothing sent */
    size_t before = command_count("DEVTOK1dev");
    r = post_admin("/devices/DEVTOK1/add-token", body);
    expect_error(&r, 409, "billing_error", "already applied");
    token_group(t1, grouped);
    snprintf(body, sizeof body, "{\"token\":\"%s\"}", grouped);
    r = post_admin("/devices/DEVTOK1/add-token", body);
    expect_error(&r, 409, "billing_error", NULL);
    ck_assert_int_eq(command_count("DEVTOK1dev"), before);

    /* another meter's token, a forged one, junk: 400 naming token */
    char forged[21];
    str_copy(forged, sizeof forged, t2);
    forged[19] = forged[19] == '9' ? '0' : (char)(forged[19] + 1);
    const char *bad[] = {other, forged, "12345", "abcdefghijklmnopqrst", "123456789012345678901", NULL};
    for (int i = 0; bad[i]; i++) {
        snprintf(body, sizeof body, "{\"token\":\"%s\"}", bad[i]);
        r = post_admin("/devices/DEVTOK1/add-token", body);
        expect_error(&r, 400, "validation_error", "token");
    }
    r = post_admin("/devices/DEVTOK1/add-token", "{\"token\":1234}");
    expect_error(&r, 400, "validation_error", "token");
    r = post_admin("/devices/DEVTOK1/add-token", "{}");
    expect_error(&r, 400, "validation_error", "token");
    ck_assert_int_eq(command_count("DEVTOK1dev"), before);

    /* a token whose send failed can be applied once the cloud is back */
    snprintf(body, sizeof body, "{\"token\":\"%s\"}", t2);
    common_errors("POST", "add-token", body, "DEVTOK1", "DEVTOK1dev", true);
    token_group(t2, grouped);
    snprintf(body, sizeof body, "{\"token\":\"%s\"}", grouped);
    r = post_admin("/devices/DEVTOK1/add-token", body);
    ck_assert_msg(r.status == 200, "grouped token after a failed send: %ld %s", r.status, r.body);
    ck_assert_str_eq(jstr(r.json, "value"), t2);
    h_free(&r);
    r = post_admin("/devices/DEVTOK1/add-token", body);
    expect_error(&r, 409, "billing_error", NULL);

    /* the other meter's token works on the other meter, once */
    snprintf(body, sizeof body, "{\"token\":\"%s\"}", other);
    r = post_admin("/devices/DEVTOK2/add-token", body);
    ck_assert_int_eq(r.status, 200);
    h_free(&r);
    r = post_admin("/devices/DEVTOK2/add-token", body);
    expect_error(&r, 409, "billing_error", NULL);
    snprintf(body, sizeof body, "{\"token\":\"%s\"}", t3);
    r = post_admin("/devices/DEVTOK1/add-token", body);
    ck_assert_int_eq(r.status, 200);
    h_free(&r);
}
END_TEST

START_TEST(balance_reads_the_meter)
{
    h_meter(&h_main, "DEVBAL2", "DEVBAL2dev", "Shop");
    cloud_only("DEVBAL2dev", "meter", 1234);
    struct http_result r = h_req(h_main.port, "GET", "/devices/DEVBAL2/balance", NULL, NULL, 0, NULL);
    ck_assert_msg(r.status == 200, "public read: %ld %s", r.status, r.body);
    ck_assert(json_is_true(json_object_get(r.json, "success")));
    ck_assert_str_eq(jstr(r.json, "deviceId"), "DEVBAL2dev");
    ck_assert_msg(jnum(r.json, "energyBalance") == 12.34, "balance_energy 1234 is 12.34 kWh: %s", r.body);
    ck_assert(json_is_number(json_object_get(r.json, "moneyBalance")) && jnum(r.json, "moneyBalance") == 0);
    h_free(&r);
    r = post_admin("/devices/DEVBAL2/add-balance", "{\"amount\":250}");
    ck_assert_int_eq(r.status, 200);
    h_free(&r);
    r = h_req(h_main.port, "GET", "/devices/DEVBAL2/balance", NULL, NULL, 0, NULL);
    ck_assert_int_eq(r.status, 200);
    ck_assert_msg(jnum(r.json, "moneyBalance") == 250.0, "money balance after charge_money: %s", r.body);
    h_free(&r);
    common_errors("GET", "balance", NULL, "DEVBAL2", "DEVBAL2dev", false);
}
END_TEST

/* A device registered in the sandbox's cloud with a battery level (null:
 * mains powered, as the others). */
static void cloud_battery(const char *device, const char *battery)
{
    char body[256];
    snprintf(body, sizeof body, "{\"id\":\"%s\",\"battery_percentage\":%s}", device, battery);
    struct http_result r = h_req(h_sandbox_port, "POST", "/sandbox/tuya/devices", "application/json", body, 0, NULL);
    ck_assert_msg(r.status == 200 || r.status == 201, "sandbox battery %s: %ld %s", device, r.status, r.body);
    h_free(&r);
}

/* GET /devices/{id}, 200 expected; the body. */
static struct http_result device_read(const char *meter)
{
    char path[96];
    snprintf(path, sizeof path, "/devices/%s", meter);
    struct http_result r = h_req(h_main.port, "GET", path, NULL, NULL, 0, NULL);
    ck_assert_msg(r.status == 200, "%s: %ld %s", path, r.status, r.body);
    return r;
}

/* A device read shows the meter's credit, money balance, energy used and
 * bought, battery, and the commands its specification lists; without
 * the meter cloud it is an error, not a device without status. */
START_TEST(device_read_summary_and_functions)
{
    h_meter(&h_main, "DEVSUM1", "DEVSUM1dev", "Summary");
    cloud_only("DEVSUM1dev", "meter", 1234);
    cloud_battery("DEVSUM1dev", "80");
    struct http_result r = post_admin("/devices/DEVSUM1/add-balance", "{\"amount\":250}");
    ck_assert_int_eq(r.status, 200);
    h_free(&r);

    r = device_read("DEVSUM1");
    json_t *sum = json_object_get(r.json, "summary");
    ck_assert_msg(jnum(sum, "creditRemaining") == 12.34, "balance_energy 1234: %s", r.body);
    ck_assert_msg(jnum(sum, "balance") == 250.0, "money balance after charge_money 250: %s", r.body);
    ck_assert_msg(json_is_number(json_object_get(sum, "totalConsumption")), "%s", r.body);
    ck_assert_msg(json_is_number(json_object_get(sum, "totalEnergyPurchased")) && jnum(sum, "totalEnergyPurchased") == 0,
                  "nothing bought yet: %s", r.body);
    ck_assert_str_eq(jstr(sum, "creditStatus"), "Credit Level Good");
    ck_assert_msg(json_integer_value(json_object_get(sum, "batteryLevel")) == 80, "%s", r.body);
    ck_assert_str_eq(jstr(sum, "batteryStatus"), "Battery Level Good");
    ck_assert_msg(!json_object_get(r.json, "statusError"), "%s", r.body);
    /* the specification's functions: what the meter takes, as code, type and values */
    json_t *fns = json_object_get(json_object_get(r.json, "specifications"), "functions"), *f, *charge = NULL;
    size_t i;
    ck_assert_msg(json_array_size(fns) > 0, "functions from the meter cloud: %s", r.body);
    json_array_foreach(fns, i, f) {
        ck_assert_msg(json_object_size(f) == 3 && jstr(f, "code") && jstr(f, "type") && jstr(f, "values"),
                      "{code, type, values}: %s", r.body);
        if (!strcmp(jstr(f, "code"), "charge_energy"))
            charge = f;
    }
    ck_assert_msg(charge && !strcmp(jstr(charge, "type"), "Integer") && strstr(jstr(charge, "values"), "\"scale\":2"),
                  "charge_energy, an Integer of scale 2: %s", r.body);
    h_free(&r);

    /* low credit, low battery; a meter without a battery shows none */
    cloud_only("DEVSUM1dev", "meter", 300);
    cloud_battery("DEVSUM1dev", "10");
    r = device_read("DEVSUM1");
    sum = json_object_get(r.json, "summary");
    ck_assert_msg(jnum(sum, "creditRemaining") == 3.0, "%s", r.body);
    ck_assert_str_eq(jstr(sum, "creditStatus"), "Credit Level Low");
    ck_assert_str_eq(jstr(sum, "batteryStatus"), "Battery Level Low");
    h_free(&r);
    cloud_battery("DEVSUM1dev", "null");
    r = device_read("DEVSUM1");
    sum = json_object_get(r.json, "summary");
    ck_assert_msg(json_is_null(json_object_get(sum, "batteryLevel")) && json_is_null(json_object_get(sum, "batteryStatus")),
                  "no battery, no battery figures: %s", r.body);
    h_free(&r);

    /* the meter cloud down, or not knowing the device: connection_error */
    tuya_fails_once();
    r = h_req(h_main.port, "GET", "/devices/DEVSUM1", NULL, NULL, 0, NULL);
    faults_cleared();
    expect_error(&r, 502, "connection_error", NULL);
    r = post_admin("/devices", "{\"id\":\"DEVSUM2\",\"deviceId\":\"DEVSUM2ghost\"}");
    ck_assert_int_eq(r.status, 201);
    h_free(&r);
    r = h_req(h_main.port, "GET", "/devices/DEVSUM2", NULL, NULL, 0, NULL);
    expect_error(&r, 502, "connection_error", "device not exist");
    r = h_req(h_main.port, "GET", "/devices/DEVNOSUCH", NULL, NULL, 0, NULL);
    expect_error(&r, 404, "device_not_found", NULL);
}
END_TEST

/* The users of a device carry their id as a string, as the devices face writes it. */
/* A new user with a new meter (device id: the meter's with "dev" after it)
 * assigned to them through the devices face, the userId sent as a digit
 * string; the user's id. */
static long long assigned_user(const char *phone, const char *meter, const char *name)
{
    char device[64], body[64], path[96];
    long long uid = h_user(&h_main, phone, "en");
    snprintf(device, sizeof device, "%sdev", meter);
    h_meter(&h_main, meter, device, name);
    snprintf(body, sizeof body, "{\"userId\":\"%lld\"}", uid);
    snprintf(path, sizeof path, "/devices/%s/assign", meter);
    struct http_result r = post_admin(path, body);
    ck_assert_msg(r.status == 200, "%ld %s", r.status, r.body);
    h_free(&r);
    return uid;
}

START_TEST(device_users_ids_are_strings)
{
    long long uid = assigned_user("+254700700709", "DEVUSR1", "Users");
    char want[24];
    struct http_result r = h_json_admin(&h_main, "GET", "/devices/DEVUSR1/users", NULL);
    ck_assert_msg(r.status == 200 && json_array_size(r.json) == 1, "%ld %s", r.status, r.body);
    snprintf(want, sizeof want, "%lld", uid);
    json_t *u = json_array_get(r.json, 0);
    ck_assert_msg(json_is_string(json_object_get(u, "id")) && !strcmp(jstr(u, "id"), want), "id \"%s\": %s", want,
                  r.body);
    ck_assert_str_eq(jstr(u, "role"), "USER");
    h_free(&r);
}
END_TEST

/* A device taken from its user leaves the user's list, a second unassign
 * is 404, and a deleted device is gone from the list and its reads; the
 * user stays. */
START_TEST(unassign_then_delete)
{
    long long uid = assigned_user("+254700700711", "DEVDEL1", "Gone soon");
    char path[96];
    snprintf(path, sizeof path, "/devices/DEVDEL1/assign/%lld", uid);
    struct http_result r = h_json_admin(&h_main, "DELETE", path, NULL);
    ck_assert_msg(r.status == 200 && jstr(r.json, "message"), "%ld %s", r.status, r.body);
    h_free(&r);
    r = h_json_admin(&h_main, "GET", "/devices/DEVDEL1/users", NULL);
    ck_assert_msg(r.status == 200 && json_array_size(r.json) == 0, "%ld %s", r.status, r.body);
    h_free(&r);
    r = h_json_admin(&h_main, "DELETE", path, NULL);
    ck_assert_msg(r.status == 404 && !strcmp(jstr(r.json, "error"), "assignment_not_found"), "%ld %s", r.status, r.body);
    h_free(&r);
    r = h_json_admin(&h_main, "DELETE", "/devices/DEVDEL1", NULL);
    ck_assert_msg(r.status == 200 && !strcmp(jstr(r.json, "message"), "Device deleted"), "%ld %s", r.status, r.body);
    h_free(&r);
    r = h_json_admin(&h_main, "GET", "/devices/DEVDEL1", NULL);
    ck_assert_msg(r.status == 404 && !strcmp(jstr(r.json, "error"), "device_not_found"), "%ld %s", r.status, r.body);
    h_free(&r);
    r = h_json_admin(&h_main, "GET", "/devices", NULL);
    ck_assert_msg(r.status == 200 && !strstr(r.body, "\"DEVDEL1\""), "still listed: %s", r.body);
    h_free(&r);
    snprintf(path, sizeof path, "/users/%lld", uid);
    r = h_json_admin(&h_main, "GET", path, NULL);
    ck_assert_msg(r.status == 200 && !strcmp(jstr(r.json, "phoneNumber"), "+254700700711"), "%ld %s", r.status, r.body);
    h_free(&r);
}
END_TEST

/* Energy and money print as the decimals a person would write: a meter
 * with 5.10 kWh shows 5.1, not 5.0999999999999996. */
START_TEST(numbers_print_as_decimals)
{
    h_meter(&h_main, "DEVNUM1", "DEVNUM1dev", "Decimals");
    cloud_only("DEVNUM1dev", "meter", 510);
    struct http_result r = h_req(h_main.port, "GET", "/devices/DEVNUM1/balance", NULL, NULL, 0, NULL);
    ck_assert_msg(r.status == 200 && strstr(r.body, "\"energyBalance\":5.1,"), "%ld %s", r.status, r.body);
    h_free(&r);
    r = post_admin("/devices/DEVNUM1/set-price", "{\"price\":20.1}");
    ck_assert_msg(r.status == 200 && strstr(r.body, "\"value\":20.1}"), "%ld %s", r.status, r.body);
    h_free(&r);
    r = h_req(h_main.port, "GET", "/devices/DEVNUM1", NULL, NULL, 0, NULL);
    ck_assert_msg(r.status == 200 && strstr(r.body, "\"pricePerKwh\":20.1,") &&
                      strstr(r.body, "\"creditRemaining\":5.1,"),
                  "%ld %s", r.status, r.body);
    h_free(&r);
    r = post_admin("/devices/DEVNUM1/add-balance", "{\"amount\":12.35}");
    ck_assert_msg(r.status == 200 && strstr(r.body, "\"value\":12.35}"), "%ld %s", r.status, r.body);
    h_free(&r);
}
END_TEST

START_TEST(usage_counts_purchases)
{
    const char *phone = "+254700700701";
    long long uid = h_user(&h_main, phone, "en");
    h_meter(&h_main, "DEVUSE1", "DEVUSE1dev", "Home");
    h_assign(&h_main, uid, "DEVUSE1");
    struct http_result r = h_req(h_main.port, "GET", "/devices/DEVUSE1/usage", NULL, NULL, 0, NULL);
    ck_assert_msg(r.status == 200, "%ld %s", r.status, r.body);
    ck_assert(json_is_true(json_object_get(r.json, "success")));
    ck_assert_str_eq(jstr(r.json, "deviceId"), "DEVUSE1dev");
    ck_assert(jnum(r.json, "totalEnergyPurchased") == 0 && jnum(r.json, "dailyEnergy") == 0);
    ck_assert(json_is_number(json_object_get(r.json, "totalEnergyUsed")));
    h_free(&r);

    /* KES 100 at KES 25 per kWh: 4 kWh */
    char body[200];
    snprintf(body, sizeof body, "{\"amount\":100,\"phoneNumber\":\"0700700701\",\"meterId\":\"DEVUSE1\",\"userId\":%lld}", uid);
    r = post_admin("/mpesa/payment", body);
    ck_assert_msg(r.status == 200, "%ld %s", r.status, r.body);
    h_free(&r);
    json_t *p = h_wait_payment(&h_main, phone, "completed", 20000);
    ck_assert_msg(p && !strcmp(jstr(p, "status"), "completed"), "payment completed");
    json_decref(p);
    r = h_req(h_main.port, "GET", "/devices/DEVUSE1/usage", NULL, NULL, 0, NULL);
    ck_assert_int_eq(r.status, 200);
    ck_assert_msg(jnum(r.json, "totalEnergyPurchased") == 4.0, "%s", r.body);
    ck_assert_msg(jnum(r.json, "monthlyEnergy") == 4.0, "%s", r.body);
    ck_assert_msg(jnum(r.json, "dailyEnergy") == 4.0, "%s", r.body);
    h_free(&r);
    r = device_read("DEVUSE1");
    ck_assert_msg(jnum(json_object_get(r.json, "summary"), "totalEnergyPurchased") == 4.0, "%s", r.body);
    h_free(&r);
    /* the same energy reached the meter */
    for (int i = 0; i < 100 && h_balance("DEVUSE1dev") != 400; i++)
        h_sleep_ms(100);
    r = h_req(h_main.port, "GET", "/devices/DEVUSE1/balance", NULL, NULL, 0, NULL);
    ck_assert_msg(jnum(r.json, "energyBalance") == 4.0, "%s", r.body);
    h_free(&r);
    common_errors("GET", "usage", NULL, "DEVUSE1", "DEVUSE1dev", false);
}
END_TEST

START_TEST(set_price_reaches_meter_and_store)
{
    h_meter(&h_main, "DEVPRI1", "DEVPRI1dev", "Plot 9");
    struct http_result r = post_admin("/devices/DEVPRI1/set-price", "{\"price\":30.5,\"currencySymbol\":\"Ksh\"}");
    ck_assert_msg(r.status == 200, "%ld %s", r.status, r.body);
    ck_assert(json_is_true(json_object_get(r.json, "success")));
    ck_assert_str_eq(jstr(r.json, "message"), "Command 'goods_price' sent successfully to Plot 9");
    ck_assert_str_eq(jstr(r.json, "command"), "goods_price");
    ck_assert(jnum(r.json, "value") == 30.5);
    h_free(&r);
    json_t *v = last_command("DEVPRI1dev", "goods_price");
    ck_assert_msg(json_is_number(v) && json_number_value(v) == 30.5, "the meter got goods_price 30.5");
    json_decref(v);
    r = h_json_admin(&h_main, "GET", "/devices/DEVPRI1", NULL);
    ck_assert_msg(jnum(json_object_get(r.json, "device"), "pricePerKwh") == 30.5, "store has the price: %s", r.body);
    h_free(&r);

    r = post_admin("/devices/DEVPRI1/set-price", "{\"price\":20}");
    ck_assert_int_eq(r.status, 200);
    h_free(&r);
    const char *bad[] = {"{\"price\":0}", "{\"price\":-1}", "{\"price\":1.234}", "{\"price\":\"20\"}", "{}",
                         "{\"price\":100000.01}", NULL};
    for (int i = 0; bad[i]; i++) {
        r = post_admin("/devices/DEVPRI1/set-price", bad[i]);
        expect_error(&r, 400, "validation_error", "price");
    }
    r = post_admin("/devices/DEVPRI1/set-price", "{\"price\":20,\"currencySymbol\":\"USD\"}");
    expect_error(&r, 400, "validation_error", "currencySymbol");
    r = post_admin("/devices/DEVPRI1/set-price", "{\"price\":20,\"currencySymbol\":7}");
    expect_error(&r, 400, "validation_error", "currencySymbol");
    /* a price the meter never got is not stored either */
    common_errors("POST", "set-price", "{\"price\":99}", "DEVPRI1", "DEVPRI1dev", true);
    r = h_json_admin(&h_main, "GET", "/devices/DEVPRI1", NULL);
    ck_assert_msg(jnum(json_object_get(r.json, "device"), "pricePerKwh") == 20.0, "price unchanged: %s", r.body);
    h_free(&r);
}
END_TEST

/* The new price is what a USSD caller is quoted. */
START_TEST(set_price_changes_ussd_quote)
{
    const char *phone = "+254700700702";
    long long uid = h_user(&h_main, phone, "en");
    h_meter(&h_main, "DEVPRI2", "DEVPRI2dev", "Quote");
    h_assign(&h_main, uid, "DEVPRI2");
    struct http_result r = post_admin("/devices/DEVPRI2/set-price", "{\"price\":50,\"currencySymbol\":\"KES\"}");
    ck_assert_int_eq(r.status, 200);
    h_free(&r);
    char *a = h_ussd(&h_main, "s-dev-pri2", phone, "");
    free(a);
    a = h_ussd(&h_main, "s-dev-pri2", phone, "1");
    free(a);
    a = h_ussd(&h_main, "s-dev-pri2", phone, "1*1");
    free(a);
    a = h_ussd(&h_main, "s-dev-pri2", phone, "1*1*100");
    ck_assert_msg(strstr(a, "KES 100, about 2.0 kWh"), "KES 100 at KES 50 per kWh is 2 kWh: %s", a);
    free(a);
}
END_TEST

START_TEST(reset_balance_clears_energy)
{
    h_meter(&h_main, "DEVRST1", "DEVRST1dev", "Stall");
    cloud_only("DEVRST1dev", "meter", 5000);
    ck_assert_int_eq(h_balance("DEVRST1dev"), 5000);
    struct http_result r = post_admin("/devices/DEVRST1/reset-balance", NULL);
    ck_assert_msg(r.status == 200, "%ld %s", r.status, r.body);
    ck_assert(json_is_true(json_object_get(r.json, "success")));
    ck_assert_str_eq(jstr(r.json, "message"), "Command 'clear_energy' sent successfully to Stall");
    ck_assert_str_eq(jstr(r.json, "command"), "clear_energy");
    ck_assert(json_is_true(json_object_get(r.json, "value")));
    ck_assert_str_eq(jstr(r.json, "deviceId"), "DEVRST1dev");
    h_free(&r);
    ck_assert_int_eq(h_balance("DEVRST1dev"), 0);
    cloud_only("DEVRST1dev", "meter", 700);
    common_errors("POST", "reset-balance", NULL, "DEVRST1", "DEVRST1dev", true);
    ck_assert_int_eq(h_balance("DEVRST1dev"), 700);
}
END_TEST

START_TEST(prepayment_mode_switches)
{
    h_meter(&h_main, "DEVPRE1", "DEVPRE1dev", "Gate");
    struct http_result r = post_admin("/devices/DEVPRE1/prepayment-mode?enable=false", NULL);
    ck_assert_msg(r.status == 200, "%ld %s", r.status, r.body);
    ck_assert_str_eq(jstr(r.json, "message"), "Command 'prepayment_switch' sent successfully to Gate");
    ck_assert_str_eq(jstr(r.json, "command"), "prepayment_switch");
    ck_assert(json_is_false(json_object_get(r.json, "value")));
    h_free(&r);
    json_t *v = last_command("DEVPRE1dev", "prepayment_switch");
    ck_assert(json_is_false(v));
    json_decref(v);
    r = post_admin("/devices/DEVPRE1/prepayment-mode", NULL); /* default: true */
    ck_assert_int_eq(r.status, 200);
    ck_assert(json_is_true(json_object_get(r.json, "value")));
    h_free(&r);
    v = last_command("DEVPRE1dev", "prepayment_switch");
    ck_assert(json_is_true(v));
    json_decref(v);
    r = post_admin("/devices/DEVPRE1/prepayment-mode?enable=true", NULL);
    ck_assert(json_is_true(json_object_get(r.json, "value")));
    h_free(&r);
    r = post_admin("/devices/DEVPRE1/prepayment-mode?enable=maybe", NULL);
    expect_error(&r, 400, "validation_error", "enable");
    common_errors("POST", "prepayment-mode?enable=false", NULL, "DEVPRE1", "DEVPRE1dev", true);
}
END_TEST

START_TEST(refresh_syncs_from_cloud)
{
    /* one device only the cloud knows, one lipad knows under another id */
    cloud_only("DEVSYNC1", "Sync Meter", 0);
    struct http_result r = post_admin("/devices", "{\"id\":\"DEVSYNC2\",\"deviceId\":\"DEVSYNC2dev\",\"name\":\"Old name\"}");
    ck_assert_int_eq(r.status, 201);
    h_free(&r);
    cloud_only("DEVSYNC2dev", "Cloud name", 0);
    /* more devices than one page of the cloud's list (100) */
    for (int i = 0; i < 120; i++) {
        char id[32];
        snprintf(id, sizeof id, "DEVPG%03d", i);
        cloud_only(id, "Paged", 0);
    }

    r = h_json_admin(&h_main, "GET", "/devices/DEVSYNC1", NULL);
    expect_error(&r, 404, "device_not_found", NULL);
    r = post_admin("/devices/refresh", NULL);
    ck_assert_msg(r.status == 200, "%ld %s", r.status, r.body);
    ck_assert_str_eq(jstr(r.json, "message"), "Device sync completed");
    long long total = json_integer_value(json_object_get(r.json, "total"));
    long long added = json_integer_value(json_object_get(r.json, "new"));
    long long updated = json_integer_value(json_object_get(r.json, "updated"));
    ck_assert_msg(added >= 122 && updated >= 1 && total >= added + updated && total > 100, "%s", r.body);
    h_free(&r);
    r = h_json_admin(&h_main, "GET", "/devices/DEVPG000", NULL);
    ck_assert_int_eq(r.status, 200);
    h_free(&r);
    r = h_json_admin(&h_main, "GET", "/devices/DEVPG119", NULL);
    ck_assert_msg(r.status == 200, "the last page was read too: %ld %s", r.status, r.body);
    h_free(&r);

    r = h_json_admin(&h_main, "GET", "/devices/DEVSYNC1", NULL);
    ck_assert_msg(r.status == 200, "the new device is in lipa: %ld %s", r.status, r.body);
    json_t *d = json_object_get(r.json, "device");
    ck_assert_str_eq(jstr(d, "deviceId"), "DEVSYNC1");
    ck_assert_str_eq(jstr(d, "name"), "Sync Meter");
    ck_assert_str_eq(jstr(d, "productName"), "Prepaid Meter X");
    ck_assert_msg(jnum(d, "pricePerKwh") == 25.0, "default price (LIPA_PRICE_PER_KWH): %s", r.body);
    h_free(&r);
    r = h_json_admin(&h_main, "GET", "/devices/DEVSYNC2", NULL);
    ck_assert_str_eq(jstr(json_object_get(r.json, "device"), "name"), "Cloud name");
    ck_assert_str_eq(jstr(json_object_get(r.json, "device"), "deviceId"), "DEVSYNC2dev");
    h_free(&r);
    r = h_json_admin(&h_main, "GET", "/devices/DEVSYNC2dev", NULL);
    expect_error(&r, 404, "device_not_found", NULL); /* no second meter for a known device */

    /* the new device is usable at once, and a second sync adds nothing */
    r = post_admin("/devices/DEVSYNC1/add-balance", "{\"amount\":5}");
    ck_assert_int_eq(r.status, 200);
    ck_assert_str_eq(jstr(r.json, "message"), "Added 5.0 money units to Sync Meter");
    h_free(&r);
    r = post_admin("/devices/refresh", NULL);
    ck_assert_int_eq(r.status, 200);
    ck_assert_int_eq(json_integer_value(json_object_get(r.json, "new")), 0);
    ck_assert_int_eq(json_integer_value(json_object_get(r.json, "total")), total);
    h_free(&r);

    r = h_req(h_main.port, "POST", "/devices/refresh", NULL, NULL, 0, NULL);
    expect_error(&r, 401, "UNAUTHORIZED", NULL);
    cloud_only("DEVSYNC3", "Late", 0);
    tuya_fails_once();
    r = post_admin("/devices/refresh", NULL);
    faults_cleared();
    expect_error(&r, 502, "connection_error", NULL);
    r = h_json_admin(&h_main, "GET", "/devices/DEVSYNC3", NULL);
    expect_error(&r, 404, "device_not_found", NULL);
}
END_TEST

Suite *suite_devices(void)
{
    Suite *s = suite_create("devices");
    TCase *t = tcase_create("devices");
    tcase_set_timeout(t, 60);
    tcase_add_test(t, add_balance_sends_charge_money);
    tcase_add_test(t, add_token_applies_once);
    tcase_add_test(t, balance_reads_the_meter);
    tcase_add_test(t, numbers_print_as_decimals);
    tcase_add_test(t, device_read_summary_and_functions);
    tcase_add_test(t, device_users_ids_are_strings);
    tcase_add_test(t, unassign_then_delete);
    tcase_add_test(t, usage_counts_purchases);
    tcase_add_test(t, set_price_reaches_meter_and_store);
    tcase_add_test(t, set_price_changes_ussd_quote);
    tcase_add_test(t, reset_balance_clears_energy);
    tcase_add_test(t, prepayment_mode_switches);
    tcase_add_test(t, refresh_syncs_from_cloud); /* last: renames devices to their cloud names */
    suite_add_tcase(s, t);
    return s;
}
