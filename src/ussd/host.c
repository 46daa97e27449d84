/* ussd/host: a hop's host over its world; see host.h. */
#include "ussd/host.h"

#include "otp/otp.h"
#include "util/log.h"
#include "util/str.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define REPLAY_MAX 16      /* inputs of a rebuilt session; more: the main menu */
#define REPLAY_TEXT 256    /* bytes of AT's text a replay reads (lipad takes 200) */

void ussd_hop_init(struct ussd_hop *h, const struct config *cfg, const struct ussd_world *w, const char *phone)
{
    memset(h, 0, sizeof *h);
    h->cfg = cfg;
    h->w = w;
    h->phone = phone;
    h->lang = "en";
}

const struct store_caller *ussd_hop_caller(struct ussd_hop *h, bool *failed)
{
    if (!h->looked_up) {
        h->looked_up = true;
        h->failed = !h->w->caller(h->w->ctx, h->phone, &h->c);
    }
    if (failed)
        *failed = h->failed;
    return !h->failed && h->c.registered ? &h->c : NULL;
}

static bool caller(struct ussd_hop *h) { return ussd_hop_caller(h, NULL) != NULL; }

/* The caller's water codes that may be resent: id = reference, label
 * without the digits. */
static int list_codes(struct ussd_hop *h, struct ussd_item *items, int max)
{
    struct otp_code *codes = malloc((size_t)max * sizeof *codes);
    int n = codes ? h->w->codes(h->w->ctx, h->phone, codes, max) : -1;
    int64_t now = h->w->now_ms(h->w->ctx);
    for (int i = 0; i < n; i++) {
        str_copy(items[i].id, sizeof items[i].id, codes[i].reference);
        otp_code_label(&codes[i], h->lang, now, items[i].label, sizeof items[i].label);
    }
    free(codes);
    return n;
}

/* every meter id and name a caller may have, and every water reference,
 * fits a list item whole */
_Static_assert(sizeof ((struct ussd_item *)0)->id >= sizeof ((struct store_caller_meter *)0)->id &&
                   sizeof ((struct ussd_item *)0)->label >= sizeof ((struct store_caller_meter *)0)->name &&
                   sizeof ((struct ussd_item *)0)->id >= sizeof ((struct otp_code *)0)->reference,
               "list items hold meter ids, meter names and references whole");

static int host_list(void *ctx, const char *source, const char *phone, struct ussd_item *items, int max)
{
    struct ussd_hop *h = ctx;
    (void)phone;
    if (!strcmp(source, "codes"))
        return list_codes(h, items, max);
    if (strcmp(source, "meters"))
        return -1;
    if (!caller(h))
        return h->failed ? -1 : 0;
    int n = 0;
    for (int i = 0; i < h->c.nmeters && n < max; i++) {
        const struct store_caller_meter *m = &h->c.meters[i];
        if (!m->active)
            continue;
        str_copy(items[n].id, sizeof items[n].id, m->id);
        str_copy(items[n].label, sizeof items[n].label, m->name[0] ? m->name : m->id);
        n++;
    }
    return n;
}

static const struct store_caller_meter *callers_meter(struct ussd_hop *h, const char *id)
{
    for (int i = 0; id && caller(h) && i < h->c.nmeters; i++)
        if (!strcmp(h->c.meters[i].id, id))
            return &h->c.meters[i];
    return NULL;
}

static void set_num(struct ussd_session *s, const char *key, int64_t v)
{
    char t[STR_I64_MAX];
    str_from_i64(v, t);
    ussd_var_set(s, key, t);
}

static const char *validate_amount(struct ussd_hop *h, struct ussd_session *s)
{
    int64_t amount;
    set_num(s, "min", h->cfg->min_amount);
    set_num(s, "max", h->cfg->max_amount);
    if (!str_to_i64(ussd_var(s, "amount"), 0, 999999999, &amount))
        return "amount_invalid";
    if (amount < h->cfg->min_amount || amount > h->cfg->max_amount)
        return "amount_range";
    const struct store_caller_meter *m = callers_meter(h, ussd_var(s, "meter"));
    if (!m)
        return "amount_invalid";
    char kwh[24];
    purchase_kwh_text(purchase_energy(amount, m->price_per_kwh), kwh);
    ussd_var_set(s, "kwh", kwh);
    return NULL;
}

static const char *buy(struct ussd_hop *h, const char *session_id, struct ussd_session *s)
{
    int64_t amount;
    if (!caller(h))
        return "not_assigned";
    if (!str_to_i64(ussd_var(s, "amount"), 1, 999999999, &amount))
        return "purchase_failed";
    const struct store_caller_meter *m = callers_meter(h, ussd_var(s, "meter"));
    if (!m)
        return "not_assigned"; /* not (or no longer) one of the caller's meters */
    if (h->dry)
        return NULL;
    char idem[PURCHASE_IDEM_SIZE];
    purchase_idem_key(idem, "ussd", session_id);
    struct purchase_req r = {
        .origin = "ussd", .idem_key = idem, .user_id = h->c.user.id, .phone = h->phone,
        .meter_id = m->id, .amount = amount, .known = m,
    };
    return h->w->buy(h->w->ctx, &r);
}

/* Litres typed in: their price (amount), and the litre bounds a range
 * message shows. wq records which litres were priced. */
static const char *validate_water(struct ussd_hop *h, struct ussd_session *s)
{
    const struct config *cfg = h->cfg;
    const char *l = ussd_var(s, "liters");
    int64_t liters;
    struct water_quote q;
    char why[160];
    set_num(s, "wmin", (cfg->water_min_amount - 1) * 100 / cfg->water_price_cents + 1);
    set_num(s, "wmax", cfg->water_max_amount * 100 / cfg->water_price_cents);
    ussd_var_set(s, "wq", l ? l : "");
    if (!str_to_i64(l, 1, 99999, &liters))
        return "water_invalid";
    if (!water_quote_liters(cfg, liters, &q, why, sizeof why))
        return "water_range";
    set_num(s, "amount", q.amount);
    return NULL;
}

/* A size picked from the water menu sets only litres, and the engine has
 * shown the next screen before anything priced it: price it here. True
 * when the screen must be shown again with the price. */
static bool water_requote(struct ussd_hop *h, struct ussd_session *s)
{
    const char *l = ussd_var(s, "liters"), *wq = ussd_var(s, "wq");
    int64_t liters;
    struct water_quote q;
    char why[160];
    if (!l || (wq && !strcmp(l, wq)))
        return false;
    ussd_var_set(s, "wq", l);
    if (str_to_i64(l, 1, 99999, &liters) && water_quote_liters(h->cfg, liters, &q, why, sizeof why))
        set_num(s, "amount", q.amount);
    else
        ussd_var_set(s, "amount", "?"); /* buy_water refuses it with its message */
    return true;
}

static const char *buy_water(struct ussd_hop *h, const char *session_id, struct ussd_session *s)
{
    int64_t liters;
    struct water_quote q;
    char why[160];
    /* priced again from the litres: the amount shown is never trusted */
    if (!str_to_i64(ussd_var(s, "liters"), 1, 99999, &liters) ||
        !water_quote_liters(h->cfg, liters, &q, why, sizeof why))
        return "water_failed";
    set_num(s, "amount", q.amount);
    if (h->dry)
        return NULL;
    return h->w->buy_water(h->w->ctx, session_id, h->phone, caller(h) ? h->c.user.id : 0, &q);
}

static const char *host_action(void *ctx, const char *name, const char *phone, const char *session_id,
                               struct ussd_session *s)
{
    struct ussd_hop *h = ctx;
    (void)phone;
    if (!strcmp(name, "electricity_amount"))
        return validate_amount(h, s);
    if (!strcmp(name, "buy_electricity"))
        return buy(h, session_id, s);
    if (!strcmp(name, "water_amount"))
        return validate_water(h, s);
    if (!strcmp(name, "buy_water"))
        return buy_water(h, session_id, s);
    if (!strcmp(name, "resend_code")) {
        const char *ref = ussd_var(s, "wref");
        return h->dry ? NULL : h->w->resend_code(h->w->ctx, h->phone, ref ? ref : "");
    }
    if (!strcmp(name, "set_language")) {
        const char *lang = ussd_var(s, "lang");
        if (lang && !h->dry && caller(h))
            h->w->set_language(h->w->ctx, h->c.user.id, lang);
        return NULL;
    }
    log_error("ussd.unknown_action", "action=%s", name);
    return "system_error";
}

struct ussd_host ussd_hop_host(struct ussd_hop *h)
{
    return (struct ussd_host){.ctx = h, .list = host_list, .action = host_action};
}

void ussd_hop_fresh(struct ussd_hop *h, struct ussd_session *s, const char *lang)
{
    if (!lang)
        lang = caller(h) ? h->c.user.language : "en";
    ussd_session_init(s, lang);
    h->lang = s->lang;
    set_num(s, "min", h->cfg->min_amount);
    set_num(s, "max", h->cfg->max_amount);
}

/* Shows s's screen again once water_requote priced it. */
static enum ussd_end requote_show(struct ussd_hop *h, const struct ussd_menus *m, const struct ussd_host *host,
                                  const char *sid, struct ussd_session *s, struct buf *reply, bool quiet)
{
    bool end = false;
    ussd_show(m, host, h->phone, sid, s, s->screen, reply, quiet, &end);
    return end ? USSD_END_DONE : USSD_CON;
}

enum ussd_end ussd_hop_step(struct ussd_hop *h, const struct ussd_menus *m, const char *sid,
                            struct ussd_session *s, const char *input, struct buf *reply)
{
    struct ussd_host host = ussd_hop_host(h);
    h->lang = s->lang;
    enum ussd_end end = ussd_step(m, &host, h->phone, sid, s, input, reply);
    if (!end && water_requote(h, s))
        end = requote_show(h, m, &host, sid, s, reply, false);
    return end;
}

/* A caller who dropped is offered to go on at the first hop; a session
 * that was offered a point replays its inputs from the offer. True when s
 * is on the offer (composed unless quiet). */
static bool resume_offer(struct ussd_hop *h, const struct ussd_menus *m, const char *sid, struct ussd_session *s,
                         struct buf *reply, bool quiet)
{
    if (!h->w->point)
        return false;
    bool taken = false;
    struct ussd_point p; /* on the stack, as saved: a hop's two large mallocs cost more */
    struct ussd_session saved;
    if (!h->w->point(h->w->ctx, h->phone, sid, h->first, &p, &taken))
        return false;
    if (!ussd_session_decode(&saved, p.state) || !ussd_offer(m, &saved, reply, quiet))
        return false;
    if (!taken && h->dry)
        return false; /* never: a dry hop is never a first */
    if (!taken) {
        str_copy(p.taken_by, sizeof p.taken_by, sid);
        if (!h->w->take || !h->w->take(h->w->ctx, h->phone, &p))
            return false;
    }
    *s = saved;
    h->lang = s->lang;
    return true;
}

/* Screens before the last are walked, not composed: nobody sees them.
 * Inputs that end the session before the last one, or lead nowhere (the
 * menus changed), leave the caller where they stopped; more than
 * REPLAY_MAX inputs are not a path anyone typed, so they get the start
 * screen. */
enum ussd_end ussd_hop_replay(struct ussd_hop *h, const struct ussd_menus *m, const char *sid,
                              struct ussd_session *s, const char *text, struct buf *reply)
{
    char inputs[REPLAY_TEXT];
    char *in[REPLAY_MAX];
    struct ussd_host host = ussd_hop_host(h);
    h->lang = s->lang;
    str_copy(inputs, sizeof inputs, text);
    int n = ussd_text_split(inputs, in, REPLAY_MAX);
    enum ussd_end end = USSD_CON;
    if (!(n >= 0 && resume_offer(h, m, sid, s, reply, n > 0))) {
        if (n <= 0)
            return ussd_step(m, &host, h->phone, sid, s, NULL, reply);
        end = ussd_walk(m, &host, h->phone, sid, s, NULL, reply);
    }
    for (int i = 0; i < n && !end; i++) {
        bool seen = i == n - 1;
        end = seen ? ussd_step(m, &host, h->phone, sid, s, in[i], reply)
                   : ussd_walk(m, &host, h->phone, sid, s, in[i], reply);
        if (!end && water_requote(h, s))
            end = requote_show(h, m, &host, sid, s, reply, !seen);
    }
    return end;
}
