/* sandbox/tuya: a fake Tuya cloud for prepaid electricity meters (category
 * zndb). Every call is signed and the sandbox checks the signature itself,
 * from Tuya's published recipe, without lipa's client code: sign = UPPER hex
 * HMAC-SHA256(secret, client_id [+ access_token] + t + nonce + stringToSign),
 * stringToSign = METHOD "\n" hex(sha256(body)) "\n" Signature-Headers block
 * "\n" path?query-sorted-by-key. Like the live cloud it answers HTTP 200 with
 * success:false and a code: 1004 sign invalid, 1005 clientId invalid, 1010
 * token invalid (unknown or expired), 1013 request time invalid (t more than
 * 15 minutes off), 1109 param is illegal, 2008 command or value not support,
 * 2010 device not exist (the code of Tuya's global error table). Up to eight
 * tokens are live at once, each for 7200 s.
 *
 * Devices are registered through the unsigned POST /sandbox/tuya/devices, or,
 * with --tuya-any-device, come into being the first time an id is used.
 * charge_energy (hundredths of a kWh, scale 2) adds to balance_energy;
 * clear_energy zeroes it; the vendor codes the devices face sends
 * (charge_money, goods_price, charge_token, prepayment_switch) are stored and
 * then reported in the status. A device registered with a
 * battery_percentage (0..100) reports it, in its status and specification;
 * the others are mains powered. GET /sandbox/tuya/devices/{id} shows a
 * device's balance and every command it received. The specification
 * (GET /v1.2/iot-03/devices/{id}/specification) is Tuya's version 1.2:
 * {category, functions, status}, each data point with code, type, name,
 * values (JSON text) and lang_config.
 *
 * The device log (GET /v1.0/devices/{id}/logs) answers as Tuya's does:
 * type 5 (commands issued) and 7 (data points reported: the balance after
 * a charge or a clear), a time window, newest first, pages of `size` with
 * has_next and next_row_key (sent back as start_row_key).
 *
 * POST /sandbox/tuya/hold {"count":N,"ms":M,"apply":true|false} holds the
 * answers to the next N commands that charge energy for M ms: with apply
 * the command is applied and logged at once and only the answer waits (a
 * reply lost on its way back); without, nothing is applied and the answer,
 * after the wait, is HTTP 504 (a request lost on its way in). GET
 * /sandbox/tuya/hold says how many holds are armed and held. The held
 * answers are parked connections (http_defer), answered by a thread of
 * this file, and all answered at once when the sandbox stops.
 *
 * POST /sandbox/tuya/clock {"offset_ms":N} sets the device log's clock N ms
 * ahead of this machine's (behind when negative): its answers' t and
 * event times, as a cloud whose clock is off would give them. */
#include "sandbox.h"

#include "http/api.h"
#include "util/crypto.h"
#include "util/log.h"
#include "util/str.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define TOKEN_TTL_S 7200
#define TOKENS 8                /* live tokens kept at once */
#define T_SLACK_MS (15 * 60 * 1000LL)
#define DEVICES_MAX 100000
#define COMMAND_LOG_MAX 500     /* per device; the oldest go first */
#define ENERGY_MAX 99999999     /* charge_energy bound, as the specification says */
#define PRODUCT_ID "sbxzndb0prepaid1"
#define HELD_MAX 64             /* answers held at once */
#define HOLD_MS_MAX 600000

struct tuya_token {
    char access[33], refresh[33];
    int64_t exp_mono;
    bool live;
};

struct device {
    char id[65], name[128], product[128];
    int64_t balance, last_charge, forward_total;
    int64_t battery;            /* battery_percentage, -1: none (mains powered) */
    bool prepay, sw;
    json_t *vendor;             /* code -> last value, vendor data points */
    json_t *commands;           /* [{code, value, t, seq, balance}], oldest first */
    int64_t seq;                /* the last command's number */
    int64_t created_s, updated_s;
};

/* A command's answer held back (see the top). */
struct held {
    struct http_deferred *d;
    int64_t due_mono;
    bool applied;
};

struct sb_tuya {
    struct tuya_token tok[TOKENS];
    size_t next_tok;
    char uid[24];
    struct device **dev;
    size_t n, cap;
    /* holds, under sb->mu; the holder thread waits on hold_cv */
    int64_t hold_count, hold_ms, hold_seen;
    int64_t clock_ms;           /* how far the log's clock is ahead of the machine's */
    bool hold_apply;
    struct held held[HELD_MAX];
    size_t nheld;
    pthread_cond_t hold_cv;
    pthread_t holder;
    bool holder_running, releasing;
};

/* ---- signing ---- */

void sb_tuya_sign(const char *client_id, const char *secret, const char *access_token,
                  const char *t, const char *nonce, const char *method, const char *body,
                  size_t body_len, const char *sig_headers, const char *url, char out[65])
{
    uint8_t h[32];
    char body_hex[65];
    crypto_sha256(body ? body : "", body ? body_len : 0, h);
    crypto_hex(h, sizeof h, body_hex, false);
    struct buf b;
    buf_init(&b, 64u << 10);
    buf_printf(&b, "%s%s%s%s%s\n%s\n%s\n%s", client_id, access_token ? access_token : "", t,
               nonce ? nonce : "", method, body_hex, sig_headers ? sig_headers : "", url);
    out[0] = 0;
    if (!b.over) {
        crypto_hmac_sha256(secret, strlen(secret), b.data, b.len, h);
        crypto_hex(h, sizeof h, out, true);
    }
    buf_free(&b);
}

/* The request's path with its query sorted by key, as Tuya signs it. */
static bool signed_url(const struct http_req *req, struct buf *out)
{
    size_t order[FORM_MAX_FIELDS], n = req->query.n;
    for (size_t i = 0; i < n; i++) {
        size_t j = i;
        while (j > 0 && strcmp(req->query.name[order[j - 1]], req->query.name[i]) > 0) {
            order[j] = order[j - 1];
            j--;
        }
        order[j] = i;
    }
    buf_puts(out, req->path);
    for (size_t i = 0; i < n; i++)
        buf_printf(out, "%c%s=%s", i ? '&' : '?', req->query.name[order[i]], req->query.value[order[i]]);
    return !out->over;
}

/* The "name:value\n" block for the names in Signature-Headers (a:b:c). */
static bool signed_headers(const struct http_req *req, struct buf *out)
{
    const char *names = http_header(req, "Signature-Headers");
    while (names && *names) {
        size_t len = strcspn(names, ":");
        char name[128];
        if (len && len < sizeof name) {
            memcpy(name, names, len);
            name[len] = 0;
            const char *v = http_header(req, name);
            buf_printf(out, "%s:%s\n", name, v ? v : "");
        }
        names += len;
        if (*names == ':')
            names++;
    }
    return !out->over;
}

/* ---- replies ---- */

static json_t *envelope(bool success)
{
    char tid[33];
    uint8_t raw[16];
    if (crypto_random(raw, sizeof raw))
        crypto_hex(raw, sizeof raw, tid, false);
    else
        str_copy(tid, sizeof tid, "0");
    return json_pack("{s:b, s:I, s:s}", "success", success, "t", (json_int_t)now_ms(), "tid", tid);
}

static void tuya_error(struct http_req *req, struct http_resp *resp, int code, const char *msg,
                       const char *why)
{
    log_warn("tuya.request_rejected", "path=%s code=%d reason=\"%s\"", req->path, code, why);
    json_t *o = envelope(false);
    if (o) {
        json_object_set_new(o, "code", json_integer(code));
        json_object_set_new(o, "msg", json_string(msg));
    }
    api_json(resp, 200, o);
}

static void tuya_ok(struct http_resp *resp, json_t *result)
{
    json_t *o = envelope(true);
    if (o)
        json_object_set_new(o, "result", result);
    else
        json_decref(result);
    api_json(resp, 200, o);
}

static bool fault(struct sandbox *sb, struct http_resp *resp)
{
    int st = sb_fail_take(sb, SB_TUYA);
    if (!st)
        return false;
    json_t *o = envelope(false);
    if (o) {
        json_object_set_new(o, "code", json_integer(500));
        json_object_set_new(o, "msg", json_string("system error, please contact the admin"));
    }
    api_json(resp, st, o);
    return true;
}

/* Checks the headers and the signature (and for business calls the token);
 * on failure answers the Tuya error and returns false. */
static bool tuya_auth(struct sandbox *sb, struct http_req *req, struct http_resp *resp, bool business)
{
    const char *cid = http_header(req, "client_id"), *sign = http_header(req, "sign");
    const char *t = http_header(req, "t"), *method = http_header(req, "sign_method");
    const char *nonce = http_header(req, "nonce"), *token = http_header(req, "access_token");
    int64_t tv;
    if (!cid || !crypto_streq(cid, sb->cred.tuya_client_id)) {
        tuya_error(req, resp, 1005, "clientId invalid", cid ? "wrong client_id" : "no client_id header");
        return false;
    }
    if (!t || !str_to_i64(t, 0, INT64_MAX / 2, &tv)) {
        tuya_error(req, resp, 1013, "request time is invalid", "t is not milliseconds");
        return false;
    }
    if (tv < now_ms() - T_SLACK_MS || tv > now_ms() + T_SLACK_MS) {
        tuya_error(req, resp, 1013, "request time is invalid", "t more than 15 minutes from now");
        return false;
    }
    if (!method || strcmp(method, "HMAC-SHA256")) {
        tuya_error(req, resp, 1004, "sign invalid", "sign_method is not HMAC-SHA256");
        return false;
    }
    if (business && (!token || !*token)) {
        tuya_error(req, resp, 1010, "token invalid", "no access_token header");
        return false;
    }
    struct buf url, hdrs;
    buf_init(&url, 8192);
    buf_init(&hdrs, 8192);
    char want[65] = "";
    if (signed_url(req, &url) && signed_headers(req, &hdrs))
        sb_tuya_sign(sb->cred.tuya_client_id, sb->cred.tuya_secret, business ? token : "", t, nonce,
                     req->method, req->body, req->body_len, hdrs.data ? hdrs.data : "", url.data, want);
    buf_free(&url);
    buf_free(&hdrs);
    if (!sign || !*want || !crypto_streq(sign, want)) {
        tuya_error(req, resp, 1004, "sign invalid", sign ? "signature does not match" : "no sign header");
        return false;
    }
    if (!business)
        return true;
    pthread_mutex_lock(&sb->mu);
    bool live = false;
    int64_t now = sb_mono_ms();
    for (size_t i = 0; i < TOKENS && !live; i++) {
        const struct tuya_token *k = &sb->tuya->tok[i];
        live = k->live && now < k->exp_mono && crypto_streq(token, k->access);
    }
    pthread_mutex_unlock(&sb->mu);
    if (!live)
        tuya_error(req, resp, 1010, "token invalid", "unknown or expired access_token");
    return live;
}

/* ---- tokens ---- */

static bool random_hex32(char out[33])
{
    uint8_t raw[16];
    if (!crypto_random(raw, sizeof raw))
        return false;
    crypto_hex(raw, sizeof raw, out, false);
    return true;
}

/* Issues a token: into the next ring slot, or for a refresh into the slot
 * of the token whose refresh_token it is (that token stops working). */
static void issue(struct sandbox *sb, struct http_req *req, struct http_resp *resp, const char *refresh)
{
    char access[33], fresh[33];
    if (!random_hex32(access) || !random_hex32(fresh)) {
        tuya_error(req, resp, 500, "system error, please contact the admin", "CSPRNG failed");
        return;
    }
    pthread_mutex_lock(&sb->mu);
    struct sb_tuya *ty = sb->tuya;
    struct tuya_token *slot = NULL;
    if (refresh) {
        for (size_t i = 0; i < TOKENS && !slot; i++)
            if (ty->tok[i].live && crypto_streq(refresh, ty->tok[i].refresh))
                slot = &ty->tok[i];
    } else {
        slot = &ty->tok[ty->next_tok];
        ty->next_tok = (ty->next_tok + 1) % TOKENS;
    }
    if (slot) {
        str_copy(slot->access, sizeof slot->access, access);
        str_copy(slot->refresh, sizeof slot->refresh, fresh);
        slot->exp_mono = sb_mono_ms() + TOKEN_TTL_S * 1000LL;
        slot->live = true;
    }
    char uid[24];
    str_copy(uid, sizeof uid, ty->uid);
    pthread_mutex_unlock(&sb->mu);
    if (!slot) {
        tuya_error(req, resp, 1012, "token status is invalid", "unknown refresh_token");
        return;
    }
    log_info("tuya.token_issued", "kind=%s expire_time=%d", refresh ? "refresh" : "new", TOKEN_TTL_S);
    tuya_ok(resp, json_pack("{s:s, s:i, s:s, s:s}", "access_token", access, "expire_time", TOKEN_TTL_S,
                            "refresh_token", fresh, "uid", uid));
}

/* GET /v1.0/token?grant_type=1 */
static void h_token(void *ctx, struct http_req *req, struct http_resp *resp)
{
    struct sandbox *sb = ctx;
    if (fault(sb, resp) || !tuya_auth(sb, req, resp, false))
        return;
    const char *gt = http_query(req, "grant_type");
    if (!gt || strcmp(gt, "1")) {
        tuya_error(req, resp, 1003, "grant type invalid", "grant_type must be 1");
        return;
    }
    issue(sb, req, resp, NULL);
}

/* GET /v1.0/token/{refresh_token}: a new token; the old one stops working. */
static void h_refresh(void *ctx, struct http_req *req, struct http_resp *resp)
{
    struct sandbox *sb = ctx;
    if (fault(sb, resp) || !tuya_auth(sb, req, resp, false))
        return;
    issue(sb, req, resp, req->params[0]);
}

/* ---- devices ---- */

static bool device_id_ok(const char *id)
{
    size_t n = strlen(id);
    if (!n || n > 64)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = id[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '-'))
            return false;
    }
    return true;
}

static void device_free(struct device *d)
{
    if (d) {
        json_decref(d->vendor);
        json_decref(d->commands);
        free(d);
    }
}

/* Caller holds mu. */
static struct device *find_device(struct sb_tuya *ty, const char *id)
{
    for (size_t i = 0; i < ty->n; i++)
        if (!strcmp(ty->dev[i]->id, id))
            return ty->dev[i];
    return NULL;
}

/* Adds a device; NULL when full or out of memory. Caller holds mu. */
static struct device *add_device(struct sb_tuya *ty, const char *id, const char *name, const char *product)
{
    if (ty->n >= DEVICES_MAX)
        return NULL;
    if (ty->n == ty->cap) {
        size_t cap = ty->cap ? ty->cap * 2 : 64;
        struct device **v = realloc(ty->dev, cap * sizeof *v);
        if (!v)
            return NULL;
        ty->dev = v, ty->cap = cap;
    }
    struct device *d = calloc(1, sizeof *d);
    if (!d)
        return NULL;
    d->vendor = json_object();
    d->commands = json_array();
    if (!d->vendor || !d->commands) {
        device_free(d);
        return NULL;
    }
    str_copy(d->id, sizeof d->id, id);
    str_copy(d->name, sizeof d->name, name);
    str_copy(d->product, sizeof d->product, product);
    d->prepay = d->sw = true;
    d->battery = -1;
    d->created_s = d->updated_s = now_s();
    ty->dev[ty->n++] = d;
    return d;
}

/* The device, created on first use with --tuya-any-device. Caller holds mu. */
static struct device *device_get(struct sandbox *sb, const char *id)
{
    if (!device_id_ok(id))
        return NULL;
    struct device *d = find_device(sb->tuya, id);
    if (!d && sb->tuya_any_device) {
        char name[128];
        snprintf(name, sizeof name, "Sandbox meter %.64s", id);
        d = add_device(sb->tuya, id, name, "Prepaid Energy Meter");
    }
    return d;
}

/* The device as the cloud describes it. Caller holds mu. */
static json_t *device_info(const struct device *d)
{
    return json_pack("{s:s, s:s, s:s, s:s, s:s, s:b, s:b, s:s, s:s, s:I, s:I, s:I}",
                     "id", d->id, "name", d->name, "product_name", d->product, "product_id", PRODUCT_ID,
                     "category", "zndb", "online", 1, "sub", 0, "uuid", d->id, "time_zone", "+03:00",
                     "active_time", (json_int_t)d->created_s, "create_time", (json_int_t)d->created_s,
                     "update_time", (json_int_t)d->updated_s);
}

/* The device's data points, standard ones first. Caller holds mu. */
static json_t *device_status(const struct device *d)
{
    json_t *list = json_pack("[{s:s, s:I}, {s:s, s:I}, {s:s, s:I}, {s:s, s:b}, {s:s, s:b}]",
                             "code", "balance_energy", "value", (json_int_t)d->balance,
                             "code", "charge_energy", "value", (json_int_t)d->last_charge,
                             "code", "forward_energy_total", "value", (json_int_t)d->forward_total,
                             "code", "switch_prepayment", "value", d->prepay,
                             "code", "switch", "value", d->sw);
    if (d->battery >= 0)
        json_array_append_new(list, json_pack("{s:s, s:I}", "code", "battery_percentage", "value",
                                               (json_int_t)d->battery));
    const char *code;
    json_t *v;
    json_object_foreach(d->vendor, code, v)
        json_array_append_new(list, json_pack("{s:s, s:o}", "code", code, "value", json_deep_copy(v)));
    return list;
}

/* One command's value checked against its code; NULL when fine. */
static const char *command_bad(const char *code, json_t *v)
{
    if (!strcmp(code, "charge_energy"))
        return json_is_integer(v) && json_integer_value(v) > 0 && json_integer_value(v) <= ENERGY_MAX
                   ? NULL : "charge_energy takes an integer 1..99999999 (hundredths of a kWh)";
    if (!strcmp(code, "clear_energy") || !strcmp(code, "switch_prepayment") || !strcmp(code, "switch") ||
        !strcmp(code, "prepayment_switch"))
        return json_is_boolean(v) ? NULL : "takes a boolean";
    if (!strcmp(code, "charge_money") || !strcmp(code, "goods_price"))
        return json_is_number(v) && json_number_value(v) >= 0 ? NULL : "takes a number >= 0";
    if (!strcmp(code, "charge_token"))
        return json_is_string(v) && json_string_length(v) >= 1 && json_string_length(v) <= 64
                   ? NULL : "takes a string of 1..64 characters";
    return "unknown code";
}

/* Applies one checked command. Caller holds mu. */
static void command_apply(struct device *d, const char *code, json_t *v)
{
    if (!strcmp(code, "charge_energy")) {
        d->last_charge = json_integer_value(v);
        d->balance += d->last_charge;
    } else if (!strcmp(code, "clear_energy")) {
        if (json_is_true(v))
            d->balance = 0;
    } else if (!strcmp(code, "switch_prepayment")) {
        d->prepay = json_is_true(v);
    } else if (!strcmp(code, "switch")) {
        d->sw = json_is_true(v);
    } else {
        json_object_set_new(d->vendor, code, json_deep_copy(v));
    }
    if (json_array_size(d->commands) >= COMMAND_LOG_MAX)
        json_array_remove(d->commands, 0);
    d->seq++;
    json_array_append_new(d->commands, json_pack("{s:s, s:o, s:I, s:I, s:I}", "code", code, "value",
                                                  json_deep_copy(v), "t", (json_int_t)now_ms(), "seq",
                                                  (json_int_t)d->seq, "balance", (json_int_t)d->balance));
    d->updated_s = now_s();
}

/* ---- held answers ---- */

/* The answer a held command gets when its time comes. */
static void held_answer(struct http_resp *resp, bool applied)
{
    if (applied) {
        tuya_ok(resp, json_true());
        return;
    }
    json_t *o = envelope(false);
    if (o) {
        json_object_set_new(o, "code", json_integer(504));
        json_object_set_new(o, "msg", json_string("gateway timeout"));
    }
    api_json(resp, 504, o);
}

/* Answers held commands when due (all of them once releasing). */
static void *holder(void *arg)
{
    struct sandbox *sb = arg;
    struct sb_tuya *ty = sb->tuya;
    pthread_mutex_lock(&sb->mu);
    for (;;) {
        int64_t now = sb_mono_ms(), next = -1;
        for (size_t i = 0; i < ty->nheld;) {
            if (!ty->releasing && ty->held[i].due_mono > now) {
                if (next < 0 || ty->held[i].due_mono < next)
                    next = ty->held[i].due_mono;
                i++;
                continue;
            }
            struct held h = ty->held[i];
            ty->held[i] = ty->held[--ty->nheld];
            pthread_mutex_unlock(&sb->mu); /* no lock while answering */
            struct http_resp *r = http_defer_claim(h.d); /* NULL: the server answered it at its stop */
            if (r)
                held_answer(r, h.applied);
            http_defer_done(h.d);
            log_info("tuya.hold_answered", "applied=%d", h.applied);
            pthread_mutex_lock(&sb->mu);
        }
        if (ty->releasing && !ty->nheld)
            break;
        if (next < 0) {
            pthread_cond_wait(&ty->hold_cv, &sb->mu);
        } else {
            struct timespec ts = {(time_t)(next / 1000), (long)(next % 1000) * 1000000L};
            pthread_cond_timedwait(&ty->hold_cv, &sb->mu, &ts);
        }
    }
    pthread_mutex_unlock(&sb->mu);
    return NULL;
}

/* Takes one armed hold for a command list that charges energy; false when
 * none is armed. Caller holds mu. */
static bool hold_take(struct sb_tuya *ty, json_t *cmds, bool *apply, int64_t *ms)
{
    size_t i;
    json_t *c;
    bool charges = false;
    json_array_foreach(cmds, i, c) charges |= !strcmp(json_string_value(json_object_get(c, "code")), "charge_energy");
    if (!charges || ty->hold_count <= 0 || ty->releasing || ty->nheld >= HELD_MAX)
        return false;
    ty->hold_count--;
    ty->hold_seen++;
    *apply = ty->hold_apply;
    *ms = ty->hold_ms;
    return true;
}

/* POST /v1.0/iot-03/devices/{id}/commands {"commands":[{code, value}]} */
static void h_commands(void *ctx, struct http_req *req, struct http_resp *resp)
{
    struct sandbox *sb = ctx;
    if (fault(sb, resp) || !tuya_auth(sb, req, resp, true))
        return;
    json_error_t je;
    json_t *o = json_loadb(req->body, req->body_len, 0, &je);
    json_t *cmds = json_object_get(o, "commands");
    size_t i;
    json_t *c;
    if (!json_is_array(cmds) || !json_array_size(cmds) || json_array_size(cmds) > 32) {
        tuya_error(req, resp, 1109, "param is illegal, please check it",
                   "body needs commands: [1..32 items]");
        goto out;
    }
    json_array_foreach(cmds, i, c) {
        const char *code = json_string_value(json_object_get(c, "code"));
        json_t *v = json_object_get(c, "value");
        const char *why = !code || !v ? "command without code or value" : command_bad(code, v);
        if (why) {
            char reason[160];
            snprintf(reason, sizeof reason, "%.40s: %s", code ? code : "?", why);
            tuya_error(req, resp, 2008, "command or value not support", reason);
            goto out;
        }
    }
    pthread_mutex_lock(&sb->mu);
    struct device *d = device_get(sb, req->params[0]);
    int64_t balance = 0, ms = 0;
    bool apply = true, held = d && hold_take(sb->tuya, cmds, &apply, &ms);
    if (d && apply) {
        json_array_foreach(cmds, i, c)
            command_apply(d, json_string_value(json_object_get(c, "code")), json_object_get(c, "value"));
        balance = d->balance;
    }
    pthread_mutex_unlock(&sb->mu);
    if (!d) {
        tuya_error(req, resp, 2010, "device not exist", "unknown device id");
        goto out;
    }
    log_info("tuya.commands", "device=%s count=%zu balance_energy=%lld applied=%d held_ms=%lld", req->params[0],
             json_array_size(cmds), (long long)balance, apply, (long long)(held ? ms : 0));
    struct http_deferred *df = held ? http_defer(req) : NULL;
    if (df) {
        pthread_mutex_lock(&sb->mu);
        struct sb_tuya *ty = sb->tuya;
        bool queued = !ty->releasing && ty->nheld < HELD_MAX;
        if (queued) {
            ty->held[ty->nheld++] = (struct held){df, sb_mono_ms() + ms, apply};
            pthread_cond_signal(&ty->hold_cv);
        }
        pthread_mutex_unlock(&sb->mu);
        if (!queued) { /* stopping meanwhile: answer at once */
            struct http_resp *r = http_defer_claim(df);
            if (r)
                held_answer(r, apply);
            http_defer_done(df);
        }
    } else if (held && !apply) {
        held_answer(resp, false);
    } else {
        tuya_ok(resp, json_true());
    }
out:
    json_decref(o);
}

/* ---- the device log ---- */

/* item is one of the comma-separated names in list. */
static bool in_list(const char *list, const char *item)
{
    size_t n = strlen(item);
    for (const char *p = list; *p;) {
        size_t len = strcspn(p, ",");
        if (len == n && !strncmp(p, item, n))
            return true;
        p += len;
        if (*p == ',')
            p++;
    }
    return false;
}

/* The types of a "5,7" list as bits; false when one is not 1..10. */
static bool types_of(const char *list, unsigned *bits)
{
    *bits = 0;
    for (const char *p = list; *p;) {
        char one[8];
        size_t len = strcspn(p, ",");
        int64_t t;
        if (!len || len >= sizeof one)
            return false;
        memcpy(one, p, len);
        one[len] = 0;
        if (!str_to_i64(one, 1, 10, &t))
            return false;
        *bits |= 1u << t;
        p += len;
        if (*p == ',')
            p++;
    }
    return *bits != 0;
}

/* A row key "s<seq>e<0|1>": the command's number, then 0 for its report,
 * 1 for the command itself (the order of the newest-first listing). */
static bool row_key_parse(const char *k, int64_t *seq, int *part)
{
    char digits[24];
    size_t n = strlen(k);
    if (n < 4 || n - 3 >= sizeof digits || k[0] != 's' || k[n - 2] != 'e' || (k[n - 1] != '0' && k[n - 1] != '1'))
        return false;
    memcpy(digits, k + 1, n - 3);
    digits[n - 3] = 0;
    *part = k[n - 1] - '0';
    return str_to_i64(digits, 1, INT64_MAX / 2, seq);
}

static void value_text(const json_t *v, char *out, size_t n)
{
    if (json_is_integer(v))
        snprintf(out, n, "%lld", (long long)json_integer_value(v));
    else if (json_is_boolean(v))
        snprintf(out, n, "%s", json_is_true(v) ? "true" : "false");
    else if (json_is_string(v))
        snprintf(out, n, "%s", json_string_value(v));
    else if (json_is_number(v))
        snprintf(out, n, "%g", json_number_value(v));
    else
        snprintf(out, n, "null");
}

/* GET /v1.0/devices/{id}/logs?type=5,7&start_time=&end_time=[&size=][&codes=][&start_row_key=] */
static void h_logs(void *ctx, struct http_req *req, struct http_resp *resp)
{
    struct sandbox *sb = ctx;
    if (fault(sb, resp) || !tuya_auth(sb, req, resp, true))
        return;
    const char *type = http_query(req, "type"), *st = http_query(req, "start_time");
    const char *et = http_query(req, "end_time"), *sz = http_query(req, "size");
    const char *codes = http_query(req, "codes"), *key = http_query(req, "start_row_key");
    int64_t from, to, size = 20, kseq = 0;
    int kpart = 0;
    unsigned types;
    if (!type || !types_of(type, &types)) {
        tuya_error(req, resp, 1109, "param is illegal, please check it", "type: a comma list of 1..10");
        return;
    }
    if (!st || strlen(st) != 13 || !str_to_i64(st, 0, INT64_MAX / 2, &from) || !et || strlen(et) != 13 ||
        !str_to_i64(et, 0, INT64_MAX / 2, &to) || to < from) {
        tuya_error(req, resp, 1109, "param is illegal, please check it",
                   "start_time and end_time: 13-digit milliseconds, start <= end");
        return;
    }
    if (sz && !str_to_i64(sz, 1, 100, &size)) {
        tuya_error(req, resp, 1109, "param is illegal, please check it", "size must be 1..100");
        return;
    }
    if (key && *key && !row_key_parse(key, &kseq, &kpart)) {
        tuya_error(req, resp, 1109, "param is illegal, please check it", "unknown start_row_key");
        return;
    }
    json_t *logs = json_array();
    char next[48] = "", cur[48] = "";
    pthread_mutex_lock(&sb->mu);
    int64_t off = sb->tuya->clock_ms;
    struct device *d = device_get(sb, req->params[0]);
    for (size_t k = d ? json_array_size(d->commands) : 0; logs && k-- > 0 && !next[0];) {
        json_t *cmd = json_array_get(d->commands, k);
        const char *code = json_string_value(json_object_get(cmd, "code"));
        int64_t t = json_integer_value(json_object_get(cmd, "t")) + off;
        int64_t seq = json_integer_value(json_object_get(cmd, "seq"));
        bool reports = !strcmp(code, "charge_energy") || !strcmp(code, "clear_energy");
        for (int part = 0; part < 2 && !next[0]; part++) {
            int ev = part ? 5 : 7;
            const char *ecode = part ? code : "balance_energy";
            char value[96], rk[48];
            if ((!part && !reports) || !(types & (1u << ev)) || t < from || t > to ||
                (codes && *codes && !in_list(codes, ecode)))
                continue;
            if (key && *key && (seq > kseq || (seq == kseq && part < kpart)))
                continue; /* before the page asked for */
            snprintf(rk, sizeof rk, "s%llde%d", (long long)seq, part);
            if ((int64_t)json_array_size(logs) == size) {
                str_copy(next, sizeof next, rk);
                break;
            }
            if (!cur[0])
                str_copy(cur, sizeof cur, rk);
            if (part)
                value_text(json_object_get(cmd, "value"), value, sizeof value);
            else
                snprintf(value, sizeof value, "%lld", (long long)json_integer_value(json_object_get(cmd, "balance")));
            json_array_append_new(logs, json_pack("{s:s, s:s, s:I, s:s, s:i}", "code", ecode, "value", value,
                                                  "event_time", (json_int_t)t, "event_from", part ? "3" : "1",
                                                  "event_id", ev));
        }
    }
    pthread_mutex_unlock(&sb->mu);
    if (!d) {
        json_decref(logs);
        tuya_error(req, resp, 2010, "device not exist", "unknown device id");
        return;
    }
    json_t *result = json_pack("{s:s, s:b, s:s, s:o}", "device_id", req->params[0], "has_next", next[0] != 0,
                               "current_row_key", cur, "logs", logs);
    if (result && next[0])
        json_object_set_new(result, "next_row_key", json_string(next));
    json_t *o = envelope(true);
    if (o) {
        json_object_set_new(o, "t", json_integer((json_int_t)(now_ms() + off)));
        json_object_set_new(o, "result", result);
    } else {
        json_decref(result);
    }
    api_json(resp, 200, o);
}

/* GET /v1.0/iot-03/devices/{id}/status */
static void h_status(void *ctx, struct http_req *req, struct http_resp *resp)
{
    struct sandbox *sb = ctx;
    if (fault(sb, resp) || !tuya_auth(sb, req, resp, true))
        return;
    pthread_mutex_lock(&sb->mu);
    struct device *d = device_get(sb, req->params[0]);
    json_t *st = d ? device_status(d) : NULL;
    pthread_mutex_unlock(&sb->mu);
    if (!d)
        tuya_error(req, resp, 2010, "device not exist", "unknown device id");
    else
        tuya_ok(resp, st);
}

/* GET /v1.0/iot-03/devices/{id} */
static void h_info(void *ctx, struct http_req *req, struct http_resp *resp)
{
    struct sandbox *sb = ctx;
    if (fault(sb, resp) || !tuya_auth(sb, req, resp, true))
        return;
    pthread_mutex_lock(&sb->mu);
    struct device *d = device_get(sb, req->params[0]);
    json_t *info = d ? device_info(d) : NULL;
    pthread_mutex_unlock(&sb->mu);
    if (!d)
        tuya_error(req, resp, 2010, "device not exist", "unknown device id");
    else
        tuya_ok(resp, info);
}

/* The data points of the sandbox's meter product (Tuya zndb): what the
 * specification lists as functions (commands) and as status. A device
 * registered with a battery_percentage reports that too. */
struct dp {
    const char *code, *type, *values, *name;
    bool function, status;
};

#define ENERGY_VALUES "{\"unit\":\"kW·h\",\"min\":0,\"max\":99999999,\"scale\":2,\"step\":1}"
static const struct dp zndb_dps[] = {
    {"forward_energy_total", "Integer", ENERGY_VALUES, "Total energy", false, true},
    {"switch_prepayment", "Boolean", "{}", "Prepayment", true, true},
    {"balance_energy", "Integer", ENERGY_VALUES, "Energy balance", false, true},
    {"charge_energy", "Integer", ENERGY_VALUES, "Energy top-up", true, true},
    {"clear_energy", "Boolean", "{}", "Clear balance", true, false},
    {"switch", "Boolean", "{}", "Switch", true, true},
};
static const struct dp battery_dp = {
    "battery_percentage", "Integer", "{\"unit\":\"%\",\"min\":0,\"max\":100,\"scale\":0,\"step\":1}",
    "Battery level", false, true};

/* One data point as version 1.2 of the specification call lists it:
 * code, type, name, values (JSON text), lang_config (names of a Boolean's
 * two values, or an Integer's unit). */
static json_t *dp_json(const struct dp *p)
{
    json_t *lang = !strcmp(p->type, "Boolean") ? json_pack("{s:s, s:s}", "false", "Off", "true", "On")
                   : !strcmp(p->code, "battery_percentage") ? json_pack("{s:s}", "unit", "%")
                   : json_pack("{s:s}", "unit", "kW·h");
    return json_pack("{s:s, s:s, s:s, s:s, s:o}", "code", p->code, "type", p->type, "name", p->name, "values",
                     p->values, "lang_config", lang);
}

/* GET /v1.2/iot-03/devices/{id}/specification: {category, functions, status} */
static void h_spec(void *ctx, struct http_req *req, struct http_resp *resp)
{
    struct sandbox *sb = ctx;
    if (fault(sb, resp) || !tuya_auth(sb, req, resp, true))
        return;
    pthread_mutex_lock(&sb->mu);
    struct device *d = device_get(sb, req->params[0]);
    bool known = d != NULL, battery = d && d->battery >= 0;
    pthread_mutex_unlock(&sb->mu);
    if (!known) {
        tuya_error(req, resp, 2010, "device not exist", "unknown device id");
        return;
    }
    json_t *functions = json_array(), *status = json_array();
    for (size_t i = 0; functions && status && i <= sizeof zndb_dps / sizeof *zndb_dps; i++) {
        const struct dp *p = i < sizeof zndb_dps / sizeof *zndb_dps ? &zndb_dps[i] : battery ? &battery_dp : NULL;
        if (!p)
            break;
        if (p->function)
            json_array_append_new(functions, dp_json(p));
        if (p->status)
            json_array_append_new(status, dp_json(p));
    }
    tuya_ok(resp, json_pack("{s:o, s:s, s:o}", "functions", functions, "category", "zndb", "status", status));
}

/* GET /v1.3/iot-03/devices?page_size=..&last_row_key=.. */
static void h_list(void *ctx, struct http_req *req, struct http_resp *resp)
{
    struct sandbox *sb = ctx;
    if (fault(sb, resp) || !tuya_auth(sb, req, resp, true))
        return;
    int64_t size = 20;
    const char *ps = http_query(req, "page_size"), *last = http_query(req, "last_row_key");
    if (ps && !str_to_i64(ps, 1, 100, &size)) {
        tuya_error(req, resp, 1109, "param is illegal, please check it", "page_size must be 1..100");
        return;
    }
    json_t *list = json_array();
    bool more = false, known = true;
    char last_id[65] = "";
    pthread_mutex_lock(&sb->mu);
    struct sb_tuya *ty = sb->tuya;
    size_t start = 0;
    if (last && *last) {
        known = false;
        for (size_t i = 0; i < ty->n && !known; i++)
            if (!strcmp(ty->dev[i]->id, last))
                start = i + 1, known = true;
    }
    for (size_t i = start; known && list && i < ty->n; i++) {
        if ((int64_t)json_array_size(list) == size) {
            more = true;
            break;
        }
        json_array_append_new(list, device_info(ty->dev[i]));
        str_copy(last_id, sizeof last_id, ty->dev[i]->id);
    }
    pthread_mutex_unlock(&sb->mu);
    if (!known) {
        json_decref(list);
        tuya_error(req, resp, 1109, "param is illegal, please check it", "unknown last_row_key");
        return;
    }
    tuya_ok(resp, json_pack("{s:o, s:b, s:s}", "list", list, "has_more", more, "last_row_key",
                            more ? last_id : ""));
}

/* ---- control (unsigned) ---- */

/* The device with its balance and command log, for tests. Caller holds mu. */
static json_t *device_control(const struct device *d)
{
    return json_pack("{s:s, s:s, s:s, s:I, s:I, s:I, s:b, s:b, s:o, s:o}", "id", d->id, "name", d->name,
                     "product_name", d->product, "balance_energy", (json_int_t)d->balance,
                     "charge_energy", (json_int_t)d->last_charge,
                     "forward_energy_total", (json_int_t)d->forward_total, "switch_prepayment", d->prepay,
                     "switch", d->sw, "vendor", json_deep_copy(d->vendor),
                     "commands", json_deep_copy(d->commands));
}

/* POST /sandbox/tuya/devices {"id","name","product_name"[,"balance_energy"][,"battery_percentage"]} */
static void h_register(void *ctx, struct http_req *req, struct http_resp *resp)
{
    struct sandbox *sb = ctx;
    json_error_t je;
    json_t *o = json_loadb(req->body, req->body_len, 0, &je);
    const char *id = json_string_value(json_object_get(o, "id"));
    const char *name = json_string_value(json_object_get(o, "name"));
    const char *product = json_string_value(json_object_get(o, "product_name"));
    json_t *bal = json_object_get(o, "balance_energy"), *bat = json_object_get(o, "battery_percentage");
    if (!json_is_object(o) || !id || !device_id_ok(id)) {
        sb_control_error(resp, 400, "id: 1..64 letters, digits, _ or -");
        goto out;
    }
    if (bal && (!json_is_integer(bal) || json_integer_value(bal) < 0)) {
        sb_control_error(resp, 400, "balance_energy: an integer >= 0 (hundredths of a kWh)");
        goto out;
    }
    if (bat && !json_is_null(bat) && (!json_is_integer(bat) || json_integer_value(bat) < 0 ||
                                      json_integer_value(bat) > 100)) {
        sb_control_error(resp, 400, "battery_percentage: an integer 0..100, or null for none");
        goto out;
    }
    pthread_mutex_lock(&sb->mu);
    struct device *d = find_device(sb->tuya, id);
    bool created = !d;
    if (!d)
        d = add_device(sb->tuya, id, name ? name : "Sandbox meter",
                       product ? product : "Prepaid Energy Meter");
    else {
        if (name)
            str_copy(d->name, sizeof d->name, name);
        if (product)
            str_copy(d->product, sizeof d->product, product);
    }
    if (d && bal)
        d->balance = json_integer_value(bal);
    if (d && bat)
        d->battery = json_is_null(bat) ? -1 : json_integer_value(bat);
    json_t *out = d ? device_control(d) : NULL;
    pthread_mutex_unlock(&sb->mu);
    if (!d) {
        sb_control_error(resp, 507, "device table full");
        goto out;
    }
    log_info("tuya.device_registered", "device=%s created=%d", id, created);
    api_json(resp, created ? 201 : 200, out);
out:
    json_decref(o);
}

/* GET /sandbox/tuya/devices/{id} */
static void h_control_get(void *ctx, struct http_req *req, struct http_resp *resp)
{
    struct sandbox *sb = ctx;
    pthread_mutex_lock(&sb->mu);
    struct device *d = device_get(sb, req->params[0]);
    json_t *out = d ? device_control(d) : NULL;
    pthread_mutex_unlock(&sb->mu);
    if (!d)
        sb_control_error(resp, 404, "unknown device");
    else
        api_json(resp, 200, out);
}

/* GET /sandbox/tuya/devices */
static void h_control_list(void *ctx, struct http_req *req, struct http_resp *resp)
{
    struct sandbox *sb = ctx;
    (void)req;
    json_t *list = json_array();
    pthread_mutex_lock(&sb->mu);
    for (size_t i = 0; list && i < sb->tuya->n; i++) {
        const struct device *d = sb->tuya->dev[i];
        json_array_append_new(list, json_pack("{s:s, s:s, s:s, s:I}", "id", d->id, "name", d->name,
                                              "product_name", d->product, "balance_energy",
                                              (json_int_t)d->balance));
    }
    pthread_mutex_unlock(&sb->mu);
    api_json(resp, 200, json_pack("{s:o}", "devices", list));
}

/* POST /sandbox/tuya/hold {"count":N,"ms":M,"apply":true|false} */
static void h_hold_set(void *ctx, struct http_req *req, struct http_resp *resp)
{
    struct sandbox *sb = ctx;
    json_error_t je;
    json_t *o = json_loadb(req->body, req->body_len, 0, &je);
    json_t *c = json_object_get(o, "count"), *ms = json_object_get(o, "ms"), *ap = json_object_get(o, "apply");
    if (!json_is_object(o) || !json_is_integer(c) || json_integer_value(c) < 0 || json_integer_value(c) > 1000) {
        sb_control_error(resp, 400, "count: an integer 0..1000");
        goto out;
    }
    if (!json_is_integer(ms) || json_integer_value(ms) < 0 || json_integer_value(ms) > HOLD_MS_MAX) {
        sb_control_error(resp, 400, "ms: an integer 0..600000");
        goto out;
    }
    if (ap && !json_is_boolean(ap)) {
        sb_control_error(resp, 400, "apply: true or false");
        goto out;
    }
    pthread_mutex_lock(&sb->mu);
    sb->tuya->hold_count = json_integer_value(c);
    sb->tuya->hold_ms = json_integer_value(ms);
    sb->tuya->hold_apply = !ap || json_is_true(ap);
    pthread_mutex_unlock(&sb->mu);
    log_info("tuya.hold_armed", "count=%lld ms=%lld apply=%d", (long long)json_integer_value(c),
             (long long)json_integer_value(ms), !ap || json_is_true(ap));
    api_json(resp, 200, json_pack("{s:b}", "ok", 1));
out:
    json_decref(o);
}

/* GET /sandbox/tuya/hold: armed holds left, answers held now, holds taken. */
static void h_hold_get(void *ctx, struct http_req *req, struct http_resp *resp)
{
    struct sandbox *sb = ctx;
    (void)req;
    pthread_mutex_lock(&sb->mu);
    json_t *o = json_pack("{s:I, s:I, s:b, s:I, s:I}", "count", (json_int_t)sb->tuya->hold_count, "ms",
                          (json_int_t)sb->tuya->hold_ms, "apply", sb->tuya->hold_apply, "held",
                          (json_int_t)sb->tuya->nheld, "seen", (json_int_t)sb->tuya->hold_seen);
    pthread_mutex_unlock(&sb->mu);
    api_json(resp, 200, o);
}

/* POST /sandbox/tuya/clock {"offset_ms":N} */
static void h_clock(void *ctx, struct http_req *req, struct http_resp *resp)
{
    struct sandbox *sb = ctx;
    json_error_t je;
    json_t *o = json_loadb(req->body, req->body_len, 0, &je);
    json_t *off = json_object_get(o, "offset_ms");
    if (!json_is_integer(off) || json_integer_value(off) < -86400000 || json_integer_value(off) > 86400000) {
        sb_control_error(resp, 400, "offset_ms: an integer within a day either way");
    } else {
        pthread_mutex_lock(&sb->mu);
        sb->tuya->clock_ms = json_integer_value(off);
        pthread_mutex_unlock(&sb->mu);
        log_info("tuya.clock", "offset_ms=%lld", (long long)json_integer_value(off));
        api_json(resp, 200, json_pack("{s:b}", "ok", 1));
    }
    json_decref(o);
}

/* ---- life cycle ---- */

bool sb_tuya_init(struct sandbox *sb)
{
    sb->tuya = calloc(1, sizeof *sb->tuya);
    if (!sb->tuya)
        return false;
    char digits[18];
    if (!crypto_random_chars(digits, 17, "0123456789"))
        return false;
    snprintf(sb->tuya->uid, sizeof sb->tuya->uid, "ay%s", digits);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC); /* due times are sb_mono_ms */
    bool cv = pthread_cond_init(&sb->tuya->hold_cv, &ca) == 0;
    pthread_condattr_destroy(&ca);
    if (!cv)
        return false;
    sb->tuya->holder_running = pthread_create(&sb->tuya->holder, NULL, holder, sb) == 0;
    return sb->tuya->holder_running;
}

void sb_tuya_release(struct sandbox *sb)
{
    struct sb_tuya *ty = sb->tuya;
    if (!ty || !ty->holder_running)
        return;
    pthread_mutex_lock(&sb->mu);
    ty->releasing = true;
    pthread_cond_signal(&ty->hold_cv);
    pthread_mutex_unlock(&sb->mu);
    pthread_join(ty->holder, NULL);
    ty->holder_running = false;
}

void sb_tuya_free(struct sandbox *sb)
{
    struct sb_tuya *ty = sb->tuya;
    if (!ty)
        return;
    sb_tuya_release(sb);
    pthread_cond_destroy(&ty->hold_cv);
    for (size_t i = 0; i < ty->n; i++)
        device_free(ty->dev[i]);
    free(ty->dev);
    free(ty);
    sb->tuya = NULL;
}

const struct http_route sb_tuya_routes[] = {
    {"GET", "/v1.0/token", h_token, 0, 0},
    {"GET", "/v1.0/token/{refresh}", h_refresh, 0, 0},
    {"POST", "/v1.0/iot-03/devices/{id}/commands", h_commands, 0, 0},
    {"GET", "/v1.0/iot-03/devices/{id}/status", h_status, 0, 0},
    {"GET", "/v1.0/iot-03/devices/{id}", h_info, 0, 0},
    {"GET", "/v1.2/iot-03/devices/{id}/specification", h_spec, 0, 0},
    {"GET", "/v1.3/iot-03/devices", h_list, 0, 0},
    {"GET", "/v1.0/devices/{id}/logs", h_logs, 0, 0},
    {"POST", "/sandbox/tuya/devices", h_register, 0, 0},
    {"GET", "/sandbox/tuya/devices", h_control_list, 0, 0},
    {"GET", "/sandbox/tuya/devices/{id}", h_control_get, 0, 0},
    {"POST", "/sandbox/tuya/hold", h_hold_set, 0, 0},
    {"GET", "/sandbox/tuya/hold", h_hold_get, 0, 0},
    {"POST", "/sandbox/tuya/clock", h_clock, 0, 0},
    {NULL, NULL, NULL, 0, 0},
};
