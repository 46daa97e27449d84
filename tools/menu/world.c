/* lipa-menu's world: a scripted caller behind lipad's own interfaces; see
 * world.h. */
#include "world.h"

#include "otp/otp.h"
#include "pay/purchase.h"
#include "util/str.h"

#include <jansson.h>
#include <stdio.h>
#include <string.h>

/* 2026-01-05 09:00 East Africa Time: codes' labels show times of day */
#define WORLD_NOW 1767592800000LL

/* ---- settings: config_load reads them through a getenv of ours ---- */

static const char *const *cur_settings;
static int cur_nsettings;

static const char *world_getenv(const char *name)
{
    size_t n = strlen(name);
    for (int i = 0; i < cur_nsettings; i++)
        if (!strncmp(cur_settings[i], name, n) && cur_settings[i][n] == '=')
            return cur_settings[i] + n + 1;
    /* what config_load requires or would look for on disk */
    if (!strcmp(name, "LIPA_ADMIN_KEY") || !strcmp(name, "LIPA_PEPPER"))
        return "lipa-menu-not-a-secret";
    if (!strcmp(name, "LIPA_MIGRATIONS") || !strcmp(name, "LIPA_MENUS"))
        return ".";
    return NULL;
}

/* ---- the caller ---- */

static int meter_index(const struct world *w, const char *id)
{
    for (int i = 0; i < w->c.nmeters; i++)
        if (!strcmp(w->c.meters[i].id, id))
            return i;
    return -1;
}

static bool lookup_caller(void *ctx, const char *phone, struct store_caller *c)
{
    struct world *w = ctx;
    if (strcmp(phone, w->phone)) {
        memset(c, 0, sizeof *c);
        return true;
    }
    *c = w->c;
    return true;
}

static bool take_fail(struct world *w, const char *action, const char **key)
{
    for (int i = 0; i < w->nfails; i++)
        if (!strcmp(w->fail_action[i], action)) {
            static char k[32];
            str_copy(k, sizeof k, w->fail_key[i]);
            *key = k;
            w->nfails--;
            memmove(w->fail_action[i], w->fail_action[i + 1], (size_t)(w->nfails - i) * sizeof w->fail_action[0]);
            memmove(w->fail_key[i], w->fail_key[i + 1], (size_t)(w->nfails - i) * sizeof w->fail_key[0]);
            return true;
        }
    return false;
}

static bool speaks_sw(const struct world *w) { return w->c.registered && !strcmp(w->c.user.language, "sw"); }

static void send(struct world *w, const char *text)
{
    if (w->nsent < WORLD_SENT)
        str_copy(w->sent[w->nsent++], sizeof w->sent[0], text);
}

static void start_electricity(struct world *w, const struct purchase_req *r, struct payment *p)
{
    memset(p, 0, sizeof *p);
    str_copy(p->kind, sizeof p->kind, "electricity");
    str_copy(p->origin, sizeof p->origin, r->origin);
    str_copy(p->status, sizeof p->status, "pending");
    str_copy(p->phone, sizeof p->phone, r->phone);
    str_copy(p->meter_id, sizeof p->meter_id, r->meter_id);
    p->user_id = r->user_id;
    p->amount = r->amount;
    p->energy = purchase_energy(r->amount, r->known ? r->known->price_per_kwh : w->cfg.price_per_kwh_cents);
    w->pending = *p;
    w->has_pending = true;
}

static void start_water(struct world *w, const char *phone, int64_t user_id, const struct water_quote *q,
                        struct payment *p)
{
    memset(p, 0, sizeof *p);
    str_copy(p->kind, sizeof p->kind, "water");
    str_copy(p->status, sizeof p->status, "pending");
    str_copy(p->phone, sizeof p->phone, phone);
    str_copy(p->currency, sizeof p->currency, "KES");
    p->user_id = user_id;
    p->amount = q->amount;
    p->liters = q->liters;
    snprintf(p->reference, sizeof p->reference, "WS-%lld-DIALOG%02d", (long long)w->now, ++w->nrefs % 100);
    w->pending = *p;
    w->has_pending = true;
}

/* ---- struct ussd_world ---- */

static int ussd_codes(void *ctx, const char *phone, struct otp_code *out, int max)
{
    struct world *w = ctx;
    int n = 0;
    for (int i = 0; !strcmp(phone, w->phone) && i < w->ncodes && n < max; i++)
        out[n++] = w->codes[i];
    return n;
}

static int64_t ussd_now(void *ctx) { return ((struct world *)ctx)->now; }

static const char *ussd_buy(void *ctx, const struct purchase_req *r)
{
    struct world *w = ctx;
    const char *key;
    struct payment p;
    if (take_fail(w, "buy_electricity", &key))
        return key;
    start_electricity(w, r, &p);
    return NULL;
}

static const char *ussd_buy_water(void *ctx, const char *session_id, const char *phone, int64_t user_id,
                                  const struct water_quote *q)
{
    struct world *w = ctx;
    const char *key;
    struct payment p;
    (void)session_id;
    if (take_fail(w, "buy_water", &key))
        return key;
    start_water(w, phone, user_id, q, &p);
    return NULL;
}

static const char *ussd_resend(void *ctx, const char *phone, const char *reference)
{
    struct world *w = ctx;
    const char *key;
    if (take_fail(w, "resend_code", &key))
        return key;
    for (int i = 0; i < w->ncodes; i++)
        if (!strcmp(w->codes[i].reference, reference)) {
            struct payment p = {.liters = w->codes[i].liters};
            char text[WORLD_SMS_MAX];
            str_copy(p.reference, sizeof p.reference, reference);
            str_copy(p.phone, sizeof p.phone, phone);
            otp_code_text(&w->cfg, &p, speaks_sw(w), true, text, sizeof text);
            send(w, text);
            return NULL;
        }
    return "code_gone";
}

static void ussd_set_language(void *ctx, int64_t user_id, const char *lang)
{
    struct world *w = ctx;
    (void)user_id;
    str_copy(w->c.user.language, sizeof w->c.user.language, lang);
}

/* ---- struct text_world ---- */

static bool text_meter_status(void *ctx, const char *meter_id, json_t **status, struct meter_res *res)
{
    struct world *w = ctx;
    int i = meter_index(w, meter_id);
    memset(res, 0, sizeof *res);
    *status = NULL;
    if (i < 0 || !w->has_reading[i]) {
        res->outcome = METER_RETRY;
        str_copy(res->detail, sizeof res->detail, "no reading in the dialogue");
        return true;
    }
    *status = json_pack("[{s:s, s:I}]", "code", "balance_energy", "value", (json_int_t)w->reading[i]);
    res->outcome = *status ? METER_OK : METER_RETRY;
    return true;
}

static enum purchase_refusal text_buy(void *ctx, const struct purchase_req *r, struct payment *p)
{
    struct world *w = ctx;
    const char *key;
    if (take_fail(w, "buy", &key))
        return !strcmp(key, "amount_range") ? PR_AMOUNT_RANGE
               : !strcmp(key, "inactive")   ? PR_METER_INACTIVE
               : !strcmp(key, "not_yours")  ? PR_NOT_ASSIGNED
                                            : PR_STORE;
    enum purchase_refusal why = purchase_check(&w->cfg, r->amount, r->known ? r->known->active : true);
    if (why != PR_NONE)
        return why;
    start_electricity(w, r, p);
    return PR_NONE;
}

static enum store_rc text_last_token(void *ctx, const char *phone, const char *meter_id, struct payment *p)
{
    struct world *w = ctx;
    if (!w->has_token || strcmp(phone, w->phone) || (meter_id[0] && strcmp(meter_id, w->token.meter_id)))
        return ST_NOT_FOUND;
    *p = w->token;
    return ST_OK;
}

static bool text_water(void *ctx, const char *idem, const char *phone, int64_t user_id, const struct water_quote *q,
                       struct payment *p, char *why, size_t whysz)
{
    struct world *w = ctx;
    const char *key;
    (void)idem;
    if (take_fail(w, "water", &key)) {
        str_copy(why, whysz, key);
        return false;
    }
    start_water(w, phone, user_id, q, p);
    return true;
}

static bool text_opt_out(void *ctx, const char *phone, bool out)
{
    struct world *w = ctx;
    (void)phone;
    w->opted_out = out;
    return true;
}

static int64_t text_idle_replies(void *ctx, const char *phone, int64_t since)
{
    struct world *w = ctx;
    (void)phone, (void)since; /* one sender, and the dialogue is within any window */
    return w->idle_replies;
}

/* ---- public ---- */

bool world_init(struct world *w, const char *const *settings, int nsettings, char *err, size_t errsz)
{
    memset(w, 0, sizeof *w);
    cur_settings = settings;
    cur_nsettings = nsettings;
    bool ok = config_load(&w->cfg, world_getenv, err, errsz);
    cur_settings = NULL;
    cur_nsettings = 0;
    if (!ok)
        return false;
    w->now = WORLD_NOW;
    str_copy(w->phone, sizeof w->phone, "+254700000000");
    w->uw = (struct ussd_world){
        .ctx = w, .caller = lookup_caller, .codes = ussd_codes, .now_ms = ussd_now, .buy = ussd_buy,
        .buy_water = ussd_buy_water, .resend_code = ussd_resend, .set_language = ussd_set_language,
    };
    w->tw = (struct text_world){
        .ctx = w, .caller = lookup_caller, .meter_status = text_meter_status, .buy = text_buy,
        .last_token = text_last_token, .water = text_water, .opt_out = text_opt_out,
        .idle_replies = text_idle_replies,
    };
    return true;
}

void world_free(struct world *w) { config_free(&w->cfg); }

void world_caller(struct world *w, const char *phone, const char *lang)
{
    str_copy(w->phone, sizeof w->phone, phone);
    w->c.registered = true;
    w->c.user.id = 1;
    str_copy(w->c.user.phone, sizeof w->c.user.phone, phone);
    str_copy(w->c.user.language, sizeof w->c.user.language, lang);
}

bool world_meter(struct world *w, const char *id, const char *name)
{
    if (w->c.nmeters == STORE_CALLER_METERS || meter_index(w, id) >= 0)
        return false;
    struct store_caller_meter *m = &w->c.meters[w->c.nmeters];
    if (!str_copy(m->id, sizeof m->id, id) || !str_copy(m->name, sizeof m->name, name))
        return false;
    m->price_per_kwh = w->cfg.price_per_kwh_cents;
    m->active = true;
    w->c.nmeters++;
    return true;
}

bool world_reading(struct world *w, const char *id, int64_t hundredths)
{
    int i = meter_index(w, id);
    if (i < 0)
        return false;
    w->has_reading[i] = true;
    w->reading[i] = hundredths;
    return true;
}

bool world_code(struct world *w, const char *reference, int64_t liters, const char *status)
{
    if (w->ncodes == WORLD_CODES)
        return false;
    struct otp_code *c = &w->codes[w->ncodes];
    memset(c, 0, sizeof *c);
    if (!str_copy(c->reference, sizeof c->reference, reference) || !str_copy(c->status, sizeof c->status, status))
        return false;
    c->liters = liters;
    c->max_attempts = w->cfg.otp_attempts;
    c->expires_at = strcmp(status, "expired") ? w->now + w->cfg.otp_ttl * 1000 : w->now - 1000;
    if (!strcmp(status, "expired"))
        str_copy(c->status, sizeof c->status, "active"); /* stored active, read expired */
    w->ncodes++;
    return true;
}

bool world_fail_next(struct world *w, const char *action, const char *key)
{
    if (w->nfails == WORLD_FAILS || !str_copy(w->fail_action[w->nfails], sizeof w->fail_action[0], action) ||
        !str_copy(w->fail_key[w->nfails], sizeof w->fail_key[0], key))
        return false;
    w->nfails++;
    return true;
}

bool world_payment_ends(struct world *w, const char *status, const char *detail, char *out, size_t n)
{
    if (!w->has_pending)
        return false;
    struct payment *p = &w->pending;
    str_copy(p->status, sizeof p->status, status);
    if (!strcmp(status, "completed"))
        str_copy(p->mpesa_receipt, sizeof p->mpesa_receipt, detail);
    else
        str_copy(p->result_desc, sizeof p->result_desc, detail);
    bool water = !strcmp(p->kind, "water");
    if (water && !strcmp(status, "completed"))
        otp_code_text(&w->cfg, p, speaks_sw(w), false, out, n);
    else if (water)
        otp_notice_text(p, speaks_sw(w), out, n);
    else
        purchase_finish_text(p, speaks_sw(w), out, n);
    if (!water && !strcmp(status, "completed")) {
        w->token = *p;
        w->has_token = true;
    }
    w->has_pending = false;
    return true;
}

void world_sample(struct world *w)
{
    world_caller(w, "+254700000000", "en");
    world_meter(w, "37000000001", "Nyumba A");
    world_meter(w, "37000000002", "Duka Kuu");
    world_reading(w, "37000000001", 1234);
    world_code(w, "WS-1767592000000-K7Q2ZC4D", 20, "active");
}
