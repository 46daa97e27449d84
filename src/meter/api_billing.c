/* meter/api_billing: the devices face's billing and maintenance endpoints on a
 * device: money, tokens, price, balance reset and prepayment mode go to the
 * meter as data-point commands; balance and usage come from its live status
 * (and, for purchases, from the store); POST /devices/refresh copies the
 * meter cloud's device list into the store. Every meter-cloud call is a
 * blocking REST call on the HTTP thread, never on a USSD hop. See api.h. */
#include "meter/api.h"

#include "app/app.h"
#include "app/routes.h"
#include "http/api.h"
#include "meter/meter.h"
#include "meter/token.h"
#include "store/meters.h"
#include "util/crypto.h"
#include "util/log.h"
#include "util/str.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#define AMOUNT_MAX_CENTS 100000000LL /* 1,000,000 money units */
#define PRICE_MAX_CENTS 10000000LL   /* 100,000 KES per kWh, as devices.c allows */
#define DAY_MS (24LL * 3600 * 1000)
#define TOKEN_DIGITS 20

/* What the messages call a device: its name, else its id. */
static const char *label(const struct meter *m) { return m->name[0] ? m->name : m->id; }

/* A JSON number with at most two decimals in (0, max_cents / 100], as cents. */
static bool to_cents(json_t *v, int64_t max_cents, int64_t *out)
{
    if (!json_is_number(v))
        return false;
    double d = json_number_value(v) * 100.0, r = round(d);
    if (!isfinite(d) || fabs(d - r) > 1e-6 || r < 1 || r > (double)max_cents)
        return false;
    *out = (int64_t)r;
    return true;
}

/* Money the way the document writes it: 500.0, 12.5, 12.35. */
static void money_text(int64_t cents, char out[32])
{
    if (cents % 10)
        snprintf(out, 32, "%lld.%02lld", (long long)(cents / 100), (long long)(cents % 100));
    else
        snprintf(out, 32, "%lld.%lld", (long long)(cents / 100), (long long)(cents % 100 / 10));
}

/* Replies to a meter-cloud failure: 502 connection_error when the cloud
 * could not be reached or failed (worth another try), 409 billing_error
 * when it refused the operation, with the provider's detail. */
static void meter_failed(struct http_req *req, struct http_resp *resp, const char *what,
                         const struct meter_res *res)
{
    if (res->outcome == METER_RETRY)
        api_error(req, resp, ERR_PROVIDER, "connection_error", "Failed to reach the meter cloud (%s): %s", what,
                  res->detail[0] ? res->detail : "no answer");
    else
        api_error(req, resp, ERR_CONFLICT, "billing_error", "The meter cloud refused %s: %s", what,
                  res->detail[0] ? res->detail : "no reason given");
}

/* Sends {code, value} (borrowed) to m's device and records the cloud's health. */
static bool command_send(struct app *a, const struct meter *m, const char *code, json_t *value, struct meter_res *res)
{
    memset(res, 0, sizeof *res);
    a->meter->command(a->meter_st, m->device_id, code, value, res);
    app_health_set(a, PROV_TUYA, res->outcome != METER_RETRY, res->outcome == METER_OK ? "command sent" : res->detail);
    return res->outcome == METER_OK;
}

/* The document's answer to a command; value is borrowed; message NULL
 * means "Command '<code>' sent successfully to <name>". */
static void reply_sent(struct http_req *req, struct http_resp *resp, const struct meter *m, const char *code,
                       json_t *value, const char *message)
{
    char msg[200];
    if (!message) {
        snprintf(msg, sizeof msg, "Command '%s' sent successfully to %s", code, label(m));
        message = msg;
    }
    api_ok(req, resp, 200, NULL,
           json_pack("{s:b, s:s, s:s, s:s, s:O}", "success", 1, "message", message, "deviceId", m->device_id,
                     "command", code, "value", value));
}

/* Sends a command that needs nothing but the device, and answers. */
static void simple_command(struct app *a, struct http_req *req, struct http_resp *resp, const struct meter *m,
                           const char *code, json_t *value)
{
    struct meter_res res;
    char what[96];
    snprintf(what, sizeof what, "command %s", code);
    if (value && command_send(a, m, code, value, &res))
        reply_sent(req, resp, m, code, value, NULL);
    else if (value)
        meter_failed(req, resp, what, &res);
    else
        api_error(req, resp, ERR_INTERNAL, "internal_error", "out of memory");
    json_decref(value);
}

static void devices_add_balance(void *ctx, struct http_req *req, struct http_resp *resp)
{
    static const struct field fields[] = {{"amount", F_NUMBER, F_REQUIRED, 0, 1000000}, {NULL, 0, 0, 0, 0}};
    struct app *a = ctx;
    struct meter m;
    struct meter_res res;
    int64_t cents;
    json_t *value = NULL;
    if (!api_require_admin(req, resp, a->cfg.admin_key) || !meter_api_load(a, req, resp, &m))
        return;
    json_t *body = api_parse(req, resp, fields);
    if (!body)
        return;
    if (!to_cents(json_object_get(body, "amount"), AMOUNT_MAX_CENTS, &cents)) {
        api_error(req, resp, ERR_VALIDATION, "validation_error",
                  "amount: above 0, at most 1000000, at most two decimals");
        goto out;
    }
    value = api_decimal((double)cents / 100.0, 2);
    if (!value) {
        api_error(req, resp, ERR_INTERNAL, "internal_error", "out of memory");
    } else if (command_send(a, &m, "charge_money", value, &res)) {
        char amount[32], msg[160];
        money_text(cents, amount);
        snprintf(msg, sizeof msg, "Added %s money units to %s", amount, label(&m));
        log_info("meter.money_added", "meter=%s cents=%lld", m.id, (long long)cents);
        reply_sent(req, resp, &m, "charge_money", value, msg);
    } else {
        meter_failed(req, resp, "charge_money", &res);
    }
out:
    json_decref(value);
    json_decref(body);
}

/* The 20 digits of a token typed plain or grouped ("1234 5678 ..." or
 * with dashes); false for anything else. */
static bool token_digits(const char *in, char out[TOKEN_DIGITS + 1])
{
    size_t n = 0;
    for (; *in; in++) {
        if (*in == ' ' || *in == '-')
            continue;
        if (*in < '0' || *in > '9' || n == TOKEN_DIGITS)
            return false;
        out[n++] = *in;
    }
    out[n] = 0;
    return n == TOKEN_DIGITS;
}

/* What the store keeps of an applied token: hex HMAC-SHA256(pepper, ...). */
static void token_mark(const char *pepper, const char *digits, char out[65])
{
    char msg[64];
    uint8_t h[32];
    int n = snprintf(msg, sizeof msg, "lipa-applied-token-v1|%s", digits);
    crypto_hmac_sha256(pepper, strlen(pepper), msg, (size_t)n, h);
    crypto_hex(h, sizeof h, out, false);
    explicit_bzero(msg, sizeof msg);
}

static void devices_add_token(void *ctx, struct http_req *req, struct http_resp *resp)
{
    static const struct field fields[] = {{"token", F_STRING, F_REQUIRED, 1, 64}, {NULL, 0, 0, 0, 0}};
    struct app *a = ctx;
    struct meter m;
    struct meter_res res;
    char digits[TOKEN_DIGITS + 1] = "", mark[65];
    int64_t minute, units;
    json_t *value = NULL;
    if (!api_require_admin(req, resp, a->cfg.admin_key) || !meter_api_load(a, req, resp, &m))
        return;
    json_t *body = api_parse(req, resp, fields);
    if (!body)
        return;
    if (!token_digits(api_str(body, "token"), digits) ||
        !token_verify(a->cfg.pepper, m.id, digits, &minute, &units)) {
        api_error(req, resp, ERR_VALIDATION, "validation_error", "token: not a valid 20-digit token for this meter");
        goto out;
    }
    token_mark(a->cfg.pepper, digits, mark);
    /* recorded before the send, so two requests with one token cannot
     * both go through; a send that fails frees the token again */
    switch (store_token_record(a->store, m.id, mark)) {
    case ST_OK:
        break;
    case ST_CONFLICT:
        api_error(req, resp, ERR_CONFLICT, "billing_error", "token: already applied to %s", label(&m));
        goto out;
    default:
        api_error(req, resp, ERR_INTERNAL, "internal_error", "could not record the token");
        goto out;
    }
    value = json_string(digits);
    if (value && command_send(a, &m, "charge_token", value, &res)) {
        char msg[160];
        snprintf(msg, sizeof msg, "Token applied successfully to %s", label(&m));
        log_info("meter.token_applied", "meter=%s units_tenth_kwh=%lld", m.id, (long long)units);
        reply_sent(req, resp, &m, "charge_token", value, msg);
        goto out;
    }
    if (store_token_forget(a->store, m.id, mark) == ST_ERROR)
        log_error("meter.token_forget_failed", "meter=%s", m.id);
    if (value)
        meter_failed(req, resp, "charge_token", &res);
    else
        api_error(req, resp, ERR_INTERNAL, "internal_error", "out of memory");
out:
    explicit_bzero(digits, sizeof digits);
    json_decref(value);
    json_decref(body);
}

/* m's live status or, after replying the failure, NULL (caller json_decref). */
static json_t *live_status(struct app *a, struct http_req *req, struct http_resp *resp, const struct meter *m)
{
    json_t *status = NULL;
    struct meter_res res = {0};
    a->meter->status(a->meter_st, m->device_id, &status, &res);
    app_health_set(a, PROV_TUYA, res.outcome != METER_RETRY, res.outcome == METER_OK ? "status read" : res.detail);
    if (res.outcome == METER_OK && json_is_array(status))
        return status;
    json_decref(status);
    if (res.outcome == METER_OK) {
        res.outcome = METER_RETRY;
        str_copy(res.detail, sizeof res.detail, "answer without a status list");
    }
    meter_failed(req, resp, "the status read", &res);
    return NULL;
}

static void devices_balance(void *ctx, struct http_req *req, struct http_resp *resp)
{
    struct app *a = ctx;
    struct meter m;
    if (!meter_api_load(a, req, resp, &m))
        return;
    json_t *status = live_status(a, req, resp, &m);
    if (!status)
        return;
    double energy = 0, money = 0;
    meter_api_dp(status, "balance_energy", 100.0, &energy); /* scale 2: hundredths of a kWh */
    meter_api_money(status, &money);
    api_ok(req, resp, 200, NULL,
           json_pack("{s:b, s:s, s:o, s:o}", "success", 1, "deviceId", m.device_id, "energyBalance",
                     api_decimal(energy, 2), "moneyBalance", api_decimal(money, 2)));
    json_decref(status);
}

static void devices_usage(void *ctx, struct http_req *req, struct http_resp *resp)
{
    struct app *a = ctx;
    struct meter m;
    if (!meter_api_load(a, req, resp, &m))
        return;
    json_t *status = live_status(a, req, resp, &m);
    if (!status)
        return;
    double used = 0;
    meter_api_dp(status, "forward_energy_total", 100.0, &used); /* scale 2 */
    json_decref(status);
    /* lipa keeps no consumption history (the meter reports only its
     * running total), so the monthly and daily figures are the energy
     * bought for this meter in the last 30 days and the last 24 hours:
     * its completed purchases, by when they were made. */
    int64_t now = now_ms(), total = 0, month = 0, day = 0;
    if (store_meter_energy_bought(a->store, m.id, 0, &total) != ST_OK ||
        store_meter_energy_bought(a->store, m.id, now - 30 * DAY_MS, &month) != ST_OK ||
        store_meter_energy_bought(a->store, m.id, now - DAY_MS, &day) != ST_OK) {
        api_error(req, resp, ERR_INTERNAL, "internal_error", "could not sum the device's purchases");
        return;
    }
    api_ok(req, resp, 200, NULL,
           json_pack("{s:b, s:s, s:o, s:o, s:o, s:o}", "success", 1, "deviceId", m.device_id, "totalEnergyUsed",
                     api_decimal(used, 2), "totalEnergyPurchased", api_decimal((double)total / 10.0, 1),
                     "monthlyEnergy", api_decimal((double)month / 10.0, 1), "dailyEnergy",
                     api_decimal((double)day / 10.0, 1)));
}

/* lipa prices in Kenyan shillings only (price_per_kwh is KES cents). */
static bool shilling(const char *symbol)
{
    static const char *const ok[] = {"Ksh", "KES", "KShs", NULL};
    for (size_t i = 0; ok[i]; i++)
        if (str_ieq(symbol, ok[i]))
            return true;
    return false;
}

static void devices_set_price(void *ctx, struct http_req *req, struct http_resp *resp)
{
    static const struct field fields[] = {
        {"price", F_NUMBER, F_REQUIRED, 0, PRICE_MAX_CENTS / 100},
        {"currencySymbol", F_STRING, 0, 1, 8},
        {NULL, 0, 0, 0, 0},
    };
    struct app *a = ctx;
    struct meter m;
    struct meter_res res;
    int64_t cents;
    json_t *value = NULL;
    if (!api_require_admin(req, resp, a->cfg.admin_key) || !meter_api_load(a, req, resp, &m))
        return;
    json_t *body = api_parse(req, resp, fields);
    if (!body)
        return;
    const char *currency = api_str(body, "currencySymbol");
    if (!to_cents(json_object_get(body, "price"), PRICE_MAX_CENTS, &cents)) {
        api_error(req, resp, ERR_VALIDATION, "validation_error", "price: above 0, at most two decimals");
        goto out;
    }
    if (currency && !shilling(currency)) {
        api_error(req, resp, ERR_VALIDATION, "validation_error", "currencySymbol: lipa prices in Ksh (KES)");
        goto out;
    }
    value = api_decimal((double)cents / 100.0, 2);
    if (!value) {
        api_error(req, resp, ERR_INTERNAL, "internal_error", "out of memory");
        goto out;
    }
    if (!command_send(a, &m, "goods_price", value, &res)) {
        meter_failed(req, resp, "goods_price", &res);
        goto out;
    }
    /* the meter has the price now; USSD quotes take it from the store */
    m.price_per_kwh = cents;
    if (store_meter_update(a->store, &m) != ST_OK) {
        api_error(req, resp, ERR_INTERNAL, "internal_error", "price sent to the meter but not stored; send it again");
        goto out;
    }
    log_info("meter.price_set", "meter=%s price_cents=%lld", m.id, (long long)cents);
    reply_sent(req, resp, &m, "goods_price", value, NULL);
out:
    json_decref(value);
    json_decref(body);
}

static void devices_reset_balance(void *ctx, struct http_req *req, struct http_resp *resp)
{
    struct app *a = ctx;
    struct meter m;
    if (!api_require_admin(req, resp, a->cfg.admin_key) || !meter_api_load(a, req, resp, &m))
        return;
    simple_command(a, req, resp, &m, "clear_energy", json_true());
}

static void devices_prepayment_mode(void *ctx, struct http_req *req, struct http_resp *resp)
{
    struct app *a = ctx;
    struct meter m;
    const char *enable = http_query(req, "enable");
    if (!api_require_admin(req, resp, a->cfg.admin_key) || !meter_api_load(a, req, resp, &m))
        return;
    if (enable && !str_ieq(enable, "true") && !str_ieq(enable, "false")) {
        api_error(req, resp, ERR_VALIDATION, "validation_error", "enable: true or false");
        return;
    }
    simple_command(a, req, resp, &m, "prepayment_switch", json_boolean(!enable || str_ieq(enable, "true")));
}

/* Copies a cloud-given text into a store field: cut on a UTF-8 character
 * boundary, control characters made blanks (names reach USSD screens). */
static void copy_text(char *dst, size_t dstsz, const char *src)
{
    size_t n = str_copy_chars(dst, dstsz, src, SIZE_MAX);
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)dst[i] < 0x20 || dst[i] == 0x7f)
            dst[i] = ' ';
}

struct sync_counts {
    int added, updated, skipped;
};

/* Brings one cloud device {id, name, product_name} into the store: a known
 * device (by its cloud id) gets the cloud's name and product name; a new
 * one becomes a meter whose id is the device id, at the default price.
 * ST_ERROR only for a store failure. */
static enum store_rc sync_one(struct app *a, json_t *d, struct sync_counts *n)
{
    const char *id = json_string_value(json_object_get(d, "id"));
    const char *name = json_string_value(json_object_get(d, "name"));
    const char *product = json_string_value(json_object_get(d, "product_name"));
    struct meter m;
    char cname[sizeof m.name], cproduct[sizeof m.product_name];
    if (!id || !*id || strlen(id) >= sizeof m.device_id) {
        n->skipped++;
        return ST_OK;
    }
    copy_text(cname, sizeof cname, name ? name : "");
    copy_text(cproduct, sizeof cproduct, product ? product : "");
    enum store_rc rc = store_meter_by_device(a->store, id, &m);
    if (rc == ST_OK) {
        bool changed = false;
        if (cname[0] && strcmp(m.name, cname)) {
            str_copy(m.name, sizeof m.name, cname);
            changed = true;
        }
        if (cproduct[0] && strcmp(m.product_name, cproduct)) {
            str_copy(m.product_name, sizeof m.product_name, cproduct);
            changed = true;
        }
        rc = changed ? store_meter_update(a->store, &m) : ST_OK;
        if (rc == ST_OK)
            n->updated++;
        return rc;
    }
    if (rc != ST_NOT_FOUND)
        return rc;
    memset(&m, 0, sizeof m);
    str_copy(m.id, sizeof m.id, id);
    str_copy(m.device_id, sizeof m.device_id, id);
    str_copy(m.name, sizeof m.name, cname);
    str_copy(m.product_name, sizeof m.product_name, cproduct);
    m.active = true;
    m.price_per_kwh = a->cfg.price_per_kwh_cents;
    rc = store_meter_create(a->store, &m);
    if (rc == ST_CONFLICT) { /* a meter with this id stands for another device */
        log_warn("devices.sync_skipped", "device=%s reason=\"meter id taken by another device\"", id);
        n->skipped++;
        return ST_OK;
    }
    if (rc == ST_OK)
        n->added++;
    return rc;
}

static void devices_refresh(void *ctx, struct http_req *req, struct http_resp *resp)
{
    struct app *a = ctx;
    struct sync_counts n = {0, 0, 0};
    struct meter_res res = {0};
    json_t *list = NULL, *d;
    size_t i;
    if (!api_require_admin(req, resp, a->cfg.admin_key))
        return;
    if (!a->meter->list) {
        api_error(req, resp, ERR_INTERNAL, "internal_error", "the meter cloud provider cannot list devices");
        return;
    }
    a->meter->list(a->meter_st, &list, &res);
    app_health_set(a, PROV_TUYA, res.outcome != METER_RETRY, res.outcome == METER_OK ? "devices listed" : res.detail);
    if (res.outcome != METER_OK || !json_is_array(list)) {
        if (res.outcome == METER_OK) {
            res.outcome = METER_RETRY;
            str_copy(res.detail, sizeof res.detail, "no device list");
        }
        meter_failed(req, resp, "the device list", &res);
        goto out;
    }
    /* one transaction: a sync that fails halfway changes nothing */
    if (store_begin(a->store) != ST_OK) {
        api_error(req, resp, ERR_INTERNAL, "internal_error", "could not store the devices");
        goto out;
    }
    json_array_foreach(list, i, d) {
        if (sync_one(a, d, &n) != ST_OK) {
            store_rollback(a->store);
            api_error(req, resp, ERR_INTERNAL, "internal_error", "could not store the devices");
            goto out;
        }
    }
    if (store_commit(a->store) != ST_OK) {
        store_rollback(a->store);
        api_error(req, resp, ERR_INTERNAL, "internal_error", "could not store the devices");
        goto out;
    }
    /* total counts what the cloud listed; devices skipped (an id lipa
     * cannot use) are in neither new nor updated */
    log_info("devices.synced", "total=%zu new=%d updated=%d skipped=%d", json_array_size(list), n.added, n.updated,
             n.skipped);
    api_ok(req, resp, 200, NULL,
           json_pack("{s:s, s:I, s:i, s:i}", "message", "Device sync completed", "total",
                     (json_int_t)json_array_size(list), "new", n.added, "updated", n.updated));
out:
    json_decref(list);
}

const struct http_route billing_routes[] = {
    {"POST", "/devices/refresh", devices_refresh, ENV_DEVICE, LANE_METER},
    {"POST", "/devices/{id}/add-balance", devices_add_balance, ENV_DEVICE, LANE_METER},
    {"POST", "/devices/{id}/add-token", devices_add_token, ENV_DEVICE, LANE_METER},
    {"GET", "/devices/{id}/balance", devices_balance, ENV_DEVICE, LANE_METER},
    {"GET", "/devices/{id}/usage", devices_usage, ENV_DEVICE, LANE_METER},
    {"POST", "/devices/{id}/set-price", devices_set_price, ENV_DEVICE, LANE_METER},
    {"POST", "/devices/{id}/reset-balance", devices_reset_balance, ENV_DEVICE, LANE_METER},
    {"POST", "/devices/{id}/prepayment-mode", devices_prepayment_mode, ENV_DEVICE, LANE_METER},
    {NULL, NULL, NULL, 0, 0},
};
