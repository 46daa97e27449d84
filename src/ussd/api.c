/* ussd/api: one USSD hop against the store; see api.h. */
#include "ussd/api.h"

#include "app/app.h"
#include "http/api.h"
#include "otp/otp.h"
#include "pay/purchase.h"
#include "store/meters.h"
#include "store/payments.h"
#include "store/users.h"
#include "store/ussd.h"
#include "ussd/ussd.h"
#include "util/form.h"
#include "util/log.h"
#include "util/metrics.h"
#include "util/phone.h"
#include "util/str.h"
#include "water/water.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TEXT_MAX 200   /* AT's joined inputs; a session is short */
#define REPLAY_MAX 16  /* inputs of a rebuilt session; more: the main menu */

/* A confirming hop on a store that keeps nothing outside the database
 * (PostgreSQL: purchase_take_waits): the caller may hear "enter your PIN"
 * only once the purchase is committed. The request is parked (http_defer)
 * until the group commit has it; the two halves, the reply the hop
 * composed and the commit's word, meet here, and the second to come
 * answers. A purchase the database refused gets the error screen (and the
 * session keeps that answer, for a repeated hop). */
struct parked {
    pthread_mutex_t lock;
    struct app *a;
    struct http_deferred *d;
    int halves;                /* of 2 */
    int64_t t0_us;             /* the hop's arrival (metrics_clock_us): timed to its answer */
    bool stored;
    char sid[128], phone[PHONE_MAX];
    struct ussd_row row;       /* the session as the hop left it, its reply in last_reply */
    char failed[USSD_REPLY_MAX];
};

static void parked_half(struct parked *p)
{
    pthread_mutex_lock(&p->lock);
    bool last = ++p->halves == 2;
    pthread_mutex_unlock(&p->lock);
    if (!last)
        return;
    if (!p->stored)
        str_copy(p->row.last_reply, sizeof p->row.last_reply, p->failed);
    /* the session is stored only now: a repeat of the hop meanwhile went
     * through it again and met the first purchase's idem_key */
    if (p->sid[0] && store_session_put(p->a->store, p->sid, p->phone, &p->row) != ST_OK)
        log_error("ussd.session_not_saved", "session=%s", p->sid);
    struct http_resp *resp = http_defer_claim(p->d);
    if (resp)
        http_resp_text(resp, 200, "text/plain; charset=utf-8", p->row.last_reply);
    http_defer_done(p->d);
    metrics_hop_time(p->t0_us);
    pthread_mutex_destroy(&p->lock);
    free(p);
}

/* The commit's half (on the store's committer thread). */
static void parked_taken(void *arg, bool stored)
{
    struct parked *p = arg;
    p->stored = stored;
    if (!stored)
        log_warn("ussd.purchase_not_stored", "session=%s reason=\"the database refused it; the caller is told to try again\"",
                 p->sid);
    parked_half(p);
}

/* What one hop knows about the caller (user and meters, from the store's
 * memory), loaded on first need. */
struct hop {
    struct app *a;
    struct http_req *req;
    struct parked *park;       /* the hop waits for the commit (see struct parked) */
    int64_t t0_us;             /* its arrival (metrics_clock_us) */
    const char *phone;
    const char *lang;          /* the session's, for list labels */
    bool looked_up, failed;
    /* a late hop's screen rebuilt aside: every check runs, but the actions
     * that act (buy, resend a code, set the language) answer as done and
     * do nothing, since the session did them when it went through there */
    bool dry;
    struct store_caller c;
};

static bool caller(struct hop *h)
{
    if (!h->looked_up) {
        h->looked_up = true;
        h->failed = store_caller(h->a->store, h->phone, &h->c) != ST_OK;
    }
    return !h->failed && h->c.registered;
}

/* The caller's water codes that may be resent: id = reference, label
 * without the digits. */
static int list_codes(struct hop *h, struct ussd_item *items, int max)
{
    struct otp_code *codes = malloc((size_t)max * sizeof *codes);
    int n = codes ? otp_live_codes(h->a, h->phone, codes, max) : -1;
    int64_t now = now_ms();
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
    struct hop *h = ctx;
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

static const struct store_caller_meter *callers_meter(struct hop *h, const char *id)
{
    for (int i = 0; id && caller(h) && i < h->c.nmeters; i++)
        if (!strcmp(h->c.meters[i].id, id))
            return &h->c.meters[i];
    return NULL;
}

static void set_num(struct ussd_session *s, const char *key, int64_t v)
{
    char t[24];
    snprintf(t, sizeof t, "%lld", (long long)v);
    ussd_var_set(s, key, t);
}

static const char *validate_amount(struct hop *h, struct ussd_session *s)
{
    int64_t amount;
    set_num(s, "min", h->a->cfg.min_amount);
    set_num(s, "max", h->a->cfg.max_amount);
    if (!str_to_i64(ussd_var(s, "amount"), 0, 999999999, &amount))
        return "amount_invalid";
    if (amount < h->a->cfg.min_amount || amount > h->a->cfg.max_amount)
        return "amount_range";
    const struct store_caller_meter *m = callers_meter(h, ussd_var(s, "meter"));
    if (!m)
        return "amount_invalid";
    char kwh[24];
    purchase_kwh_text(purchase_energy(amount, m->price_per_kwh), kwh);
    ussd_var_set(s, "kwh", kwh);
    return NULL;
}

static const char *buy(struct hop *h, const char *session_id, struct ussd_session *s)
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
    /* on SQLite written to the store's intake before the hop is answered;
     * on PostgreSQL the hop is answered after the commit (struct parked);
     * the STK push follows (purchase_take) */
    struct parked *park = NULL;
    if (purchase_take_waits(h->a) && !h->park) {
        if (!(park = calloc(1, sizeof *park)) || !(park->d = http_defer(h->req))) {
            free(park);
            return "purchase_failed";
        }
        pthread_mutex_init(&park->lock, NULL);
        park->a = h->a;
        park->t0_us = h->t0_us;
        park->stored = true; /* until the commit says otherwise */
    }
    enum purchase_refusal why = purchase_take(h->a, &r, park ? parked_taken : NULL, park);
    if (park) {
        h->park = park;
        if (why != PR_NONE)
            park->halves++; /* refused before the store: the reply says so, nothing to wait for */
    }
    switch (why) {
    case PR_NONE:
        return NULL;
    case PR_NOT_ASSIGNED:
    case PR_NO_METER:
        return "not_assigned";
    default:
        return "purchase_failed";
    }
}

/* Litres typed in: their price (amount), and the litre bounds a range
 * message shows. wq records which litres were priced. */
static const char *validate_water(struct hop *h, struct ussd_session *s)
{
    const struct config *cfg = &h->a->cfg;
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
static bool water_requote(struct hop *h, struct ussd_session *s)
{
    const char *l = ussd_var(s, "liters"), *wq = ussd_var(s, "wq");
    int64_t liters;
    struct water_quote q;
    char why[160];
    if (!l || (wq && !strcmp(l, wq)))
        return false;
    ussd_var_set(s, "wq", l);
    if (str_to_i64(l, 1, 99999, &liters) && water_quote_liters(&h->a->cfg, liters, &q, why, sizeof why))
        set_num(s, "amount", q.amount);
    else
        ussd_var_set(s, "amount", "?"); /* buy_water refuses it with its message */
    return true;
}

static const char *buy_water(struct hop *h, const char *session_id, struct ussd_session *s)
{
    int64_t liters;
    struct water_quote q;
    struct payment p;
    char why[160], idem[PURCHASE_IDEM_SIZE];
    /* priced again from the litres: the amount shown is never trusted */
    if (!str_to_i64(ussd_var(s, "liters"), 1, 99999, &liters) ||
        !water_quote_liters(&h->a->cfg, liters, &q, why, sizeof why))
        return "water_failed";
    set_num(s, "amount", q.amount);
    if (h->dry)
        return NULL;
    purchase_idem_key(idem, "ussd", session_id);
    if (!water_start_mpesa(h->a, "ussd", idem, NULL, h->phone, caller(h) ? h->c.user.id : 0, &q, &p, why,
                           sizeof why)) {
        log_warn("ussd.water_refused", "session=%s why=\"%s\"", session_id, why);
        return "water_failed";
    }
    return NULL;
}

static const char *resend_code(struct hop *h, struct ussd_session *s)
{
    const char *ref = ussd_var(s, "wref");
    if (h->dry)
        return NULL;
    switch (otp_resend(h->a, h->phone, ref ? ref : "")) {
    case OTP_OK: return NULL;
    case OTP_LIMIT: return "code_limit";
    case OTP_STORE: return "code_failed";
    default: return "code_gone";
    }
}

static const char *host_action(void *ctx, const char *name, const char *phone, const char *session_id,
                               struct ussd_session *s)
{
    struct hop *h = ctx;
    (void)phone;
    if (!strcmp(name, "electricity_amount"))
        return validate_amount(h, s);
    if (!strcmp(name, "buy_electricity"))
        return buy(h, session_id, s);
    if (!strcmp(name, "water_amount"))
        return validate_water(h, s);
    if (!strcmp(name, "buy_water"))
        return buy_water(h, session_id, s);
    if (!strcmp(name, "resend_code"))
        return resend_code(h, s);
    if (!strcmp(name, "set_language")) {
        const char *lang = ussd_var(s, "lang");
        if (lang && !h->dry && caller(h))
            store_user_set_language(h->a->store, h->c.user.id, lang);
        return NULL;
    }
    log_error("ussd.unknown_action", "action=%s", name);
    return "system_error";
}

/* ---- resume after a drop (ussd.h; store/ussd.h) ----
 * When the resumable point is recorded: a hop of a session this lipad
 * follows (the next input of one it holds, or a session's first hop) that
 * lands on a resumable screen keeps the session there as the phone's live
 * point in memory, and the hop that leaves it (another screen, an END: a
 * purchase made) drops it; neither writes to the database. The point is
 * written when the session is over without END: AT's end-of-session
 * notice, a minute without a hop (store_maintain), lipad stopping. A
 * session's first hop reads memory (SQLite: it holds every point;
 * PostgreSQL: then the database); when it offers a point it writes that
 * the point is taken by it, so no other session is offered it and its own
 * later hops, rebuilt from AT's text on any lipad or after a restart,
 * replay from the offer. */

_Static_assert(sizeof ((struct ussd_point *)0)->idem_key == PURCHASE_IDEM_SIZE, "a point holds a purchase key");

/* The point session sid was offered (*taken), or, on its first hop
 * (may_open), one it may be offered; malloc'ed, NULL when none. */
static struct ussd_point *point_for(struct hop *h, const char *sid, bool may_open, bool *taken)
{
    struct ussd_point *p = malloc(sizeof *p);
    if (p && store_point_for(h->a->store, h->phone, sid, may_open, p, taken) == ST_OK)
        return p;
    free(p);
    return NULL;
}

/* The session a hop left as the phone's point: kept live when it waits on
 * a resumable screen (or on the offer of one: the screen behind it), and
 * dropped when it left one. follows: this lipad stepped the hop in the
 * session it holds (a rebuilt session may be followed by another lipad,
 * whose own memory keeps the point); was: it was on a resumable screen. */
static void point_note(struct hop *h, const struct ussd_menus *m, const char *sid, const struct ussd_session *s,
                       const char *state, bool end, bool follows, bool was)
{
    if (!end && follows && ussd_resumable(m, s)) {
        struct ussd_point *p = calloc(1, sizeof *p);
        struct ussd_session *behind = s->offer ? malloc(sizeof *behind) : NULL;
        bool ok = p && (!s->offer || behind);
        if (ok && behind) {
            *behind = *s;
            behind->offer = false;
            ok = ussd_session_encode(behind, p->state, sizeof p->state);
        } else if (ok) {
            str_copy(p->state, sizeof p->state, state);
        }
        if (ok) {
            str_copy(p->session_id, sizeof p->session_id, sid);
            purchase_idem_key(p->idem_key, "ussd", sid);
            p->at = now_ms();
            store_point_live(h->a->store, h->phone, p);
        }
        free(behind);
        free(p);
    } else if (was) {
        store_point_left(h->a->store, h->phone, sid);
    }
}

/* A fresh session in lang with the values prompts show before any input. */
static void fresh(struct app *a, struct ussd_session *s, const char *lang)
{
    ussd_session_init(s, lang);
    set_num(s, "min", a->cfg.min_amount);
    set_num(s, "max", a->cfg.max_amount);
}

/* Walks s, fresh, through the inputs of text from the start screen as if
 * they came one hop at a time (what ussd-menu-builder does for a session it
 * does not know) and answers the screen the last one leads to. Screens
 * before it are walked, not composed: nobody sees them. Inputs that end the
 * session before the last one, or lead nowhere (the menus changed), leave
 * the caller where they stopped; more than REPLAY_MAX inputs are not a path
 * anyone typed, so they get the start screen. */
static bool replay(const struct ussd_menus *m, const struct ussd_host *host, struct hop *h, const char *sid,
                   struct ussd_session *s, const char *text, struct buf *reply, bool first)
{
    char inputs[TEXT_MAX + 1];
    char *in[REPLAY_MAX];
    str_copy(inputs, sizeof inputs, text);
    int n = ussd_text_split(inputs, in, REPLAY_MAX);
    /* a caller who dropped is offered to go on at the first hop; a session
     * that was offered a point replays its inputs from the offer */
    bool taken = false;
    struct ussd_point *p = n >= 0 ? point_for(h, sid, first, &taken) : NULL;
    bool end = false;
    if (p) {
        struct ussd_session *saved = malloc(sizeof *saved);
        bool shown = saved && ussd_session_decode(saved, p->state) && ussd_offer(m, saved, reply, n > 0);
        if (shown)
            *s = *saved;
        free(saved);
        if (shown && !taken && !h->dry) {
            char masked[20];
            str_copy(p->taken_by, sizeof p->taken_by, sid);
            enum store_rc rc = store_point_take(h->a->store, h->phone, p);
            if (rc != ST_OK) {
                /* not recorded: the caller could be offered it twice */
                if (rc != ST_CONFLICT)
                    log_warn("ussd.resume_not_taken", "session=%s phone=%s", sid, log_phone(h->phone, masked));
                shown = false;
            } else {
                log_info("ussd.resume_offered", "session=%s phone=%s from=%s screen=%s", sid,
                         log_phone(h->phone, masked), p->session_id, s->screen);
            }
        }
        if (!shown) {
            char lang[sizeof s->lang];
            str_copy(lang, sizeof lang, s->lang);
            fresh(h->a, s, lang);
            free(p);
            p = NULL;
        }
    }
    if (!p) {
        if (n <= 0)
            return ussd_step(m, host, h->phone, sid, s, NULL, reply);
        end = ussd_walk(m, host, h->phone, sid, s, NULL, reply);
    }
    for (int i = 0; i < n && !end; i++) {
        bool seen = i == n - 1;
        end = seen ? ussd_step(m, host, h->phone, sid, s, in[i], reply)
                   : ussd_walk(m, host, h->phone, sid, s, in[i], reply);
        if (!end && water_requote(h, s))
            ussd_show(m, host, h->phone, sid, s, s->screen, reply, !seen, &end);
    }
    free(p);
    return end;
}

static void answer(struct http_resp *resp, const char *text)
{
    http_resp_text(resp, 200, "text/plain; charset=utf-8", text);
}

/* The hop's answer: now, or, when it waits for the commit, handed to its
 * parked request with the session as stored and the error screen to give
 * instead should the database refuse the purchase (true then: the parked
 * request is answered, and its time taken, when both halves are in). */
static bool reply_hop(struct hop *h, struct http_resp *resp, const char *text, const char *sid,
                      const struct ussd_row *row, const struct ussd_menus *menus, const char *lang)
{
    struct parked *p = h->park;
    if (!p) {
        answer(resp, text);
        return false;
    }
    if (row)
        p->row = *row;
    str_copy(p->row.last_reply, sizeof p->row.last_reply, text);
    str_copy(p->sid, sizeof p->sid, row ? sid : "");
    str_copy(p->phone, sizeof p->phone, h->phone);
    struct buf err;
    buf_init(&err, USSD_REPLY_MAX);
    ussd_error_end(menus, lang, &err);
    str_copy(p->failed, sizeof p->failed, err.data ? err.data : "END");
    buf_free(&err);
    h->park = NULL;
    parked_half(p);
    return true;
}

static void ussd_hop(void *ctx, struct http_req *req, struct http_resp *resp)
{
    struct app *a = ctx;
    struct form f;
    char bad[48];
    int64_t t0 = metrics_clock_us();
    bool deferred = false; /* answered, and timed, by its parked request */
    if (!form_parse(&f, req->body, req->body_len, bad, sizeof bad)) {
        http_resp_text(resp, 400, "text/plain", "END Bad request: malformed form field");
        log_warn("ussd.bad_form", "field=\"%s\"", bad);
        metrics_hop_time(t0);
        return;
    }
    const char *sid = form_get(&f, "sessionId"), *rawphone = form_get(&f, "phoneNumber"),
               *text = form_get(&f, "text");
    char phone[PHONE_MAX], masked[20];
    struct ussd_menus *menus = NULL;
    struct ussd_row row;
    struct buf reply;
    buf_init(&reply, USSD_REPLY_MAX);
    if (!text)
        text = "";
    if (!sid || !*sid || strlen(sid) > 120) {
        http_resp_text(resp, 400, "text/plain", "END Bad request: sessionId is required (at most 120 characters)");
        goto out;
    }
    if (!rawphone || !*rawphone) {
        http_resp_text(resp, 400, "text/plain", "END Bad request: phoneNumber is required");
        goto out;
    }
    if (!phone_normalize(rawphone, phone)) {
        answer(resp, "END Sorry, this service is for Kenyan mobile numbers.");
        goto out;
    }
    atomic_fetch_add(&a->hops, 1);
    if (strlen(text) > TEXT_MAX) {
        struct hop lh = {.a = a, .phone = phone};
        answer(resp, caller(&lh) && !strcmp(lh.c.user.language, "sw") ? "END Maingizo ni mengi mno. Tafadhali piga tena."
                                                                       : "END Too many entries. Please dial again.");
        goto out;
    }

    /* Hops follow AT's text, never the order they arrive in: a hop acts
     * only when its text is the session's plus exactly one input. The same
     * text again gets the answer stored for it; an older one (a hop that
     * came late, or again after the session went on) gets the screen it
     * leads to, rebuilt aside from the stored session without running any
     * action (struct hop's dry), and the session stays as it is; any other
     * text (more than one input ahead, or a different path) is what the
     * caller typed as far as AT knows, so the session is rebuilt from it,
     * as when lipad does not know the session: a purchase it repeats is
     * the session's one purchase (its idem_key). */
    enum store_rc rc = store_session_get(a->store, sid, &row);
    const char *input = NULL;
    enum ussd_text_rel rel = rc == ST_OK ? ussd_text_relate(row.last_text, text, &input) : USSD_TEXT_OTHER;
    if (rel == USSD_TEXT_SAME) {
        /* the same request again (AT or Safaricom repeating a hop) */
        answer(resp, row.last_reply);
        log_info("ussd.repeat", "session=%s phone=%s", sid, log_phone(phone, masked));
        goto out;
    }
    struct hop h = {.a = a, .req = req, .phone = phone, .t0_us = t0};
    struct ussd_session s;
    struct ussd_host host = {.ctx = &h, .list = host_list, .action = host_action};
    bool end, known = rc == ST_OK && ussd_session_decode(&s, row.state);
    menus = app_menus(a);
    if (rel == USSD_TEXT_OLDER) {
        char lang[sizeof s.lang];
        str_copy(lang, sizeof lang, known ? s.lang : caller(&h) ? h.c.user.language : "en");
        h.dry = true;
        fresh(a, &s, lang);
        h.lang = s.lang;
        end = replay(menus, &host, &h, sid, &s, text, &reply, false);
        answer(resp, reply.data ? reply.data : "END");
        log_info("ussd.late_hop", "session=%s phone=%s end=%d", sid, log_phone(phone, masked), end);
        goto out;
    }
    bool first = rc != ST_OK && !text[0], follows = first;
    bool was_resumable = rc == ST_OK; /* a session held here may have had a live point */
    if (rel == USSD_TEXT_NEXT && known) {
        h.lang = s.lang;
        follows = true;
        was_resumable = ussd_resumable(menus, &s);
        if (!(end = ussd_step(menus, &host, phone, sid, &s, input, &reply)) && water_requote(&h, &s))
            ussd_show(menus, &host, phone, sid, &s, s.screen, &reply, false, &end);
    } else {
        /* a new session, one whose state is gone, or a text that is not
         * the next one */
        if (rc == ST_OK)
            log_info("ussd.rebuilt", "session=%s phone=%s", sid, log_phone(phone, masked));
        fresh(a, &s, caller(&h) ? h.c.user.language : "en");
        h.lang = s.lang;
        end = replay(menus, &host, &h, sid, &s, text, &reply, first);
    }
    str_copy(row.last_text, sizeof row.last_text, text);
    str_copy(row.last_reply, sizeof row.last_reply, reply.data ? reply.data : "END");
    bool encoded = ussd_session_encode(&s, row.state, sizeof row.state);
    if (encoded)
        point_note(&h, menus, sid, &s, row.state, end, follows, was_resumable);
    if (encoded && h.park) { /* answered, and the session stored, after the commit */
        deferred = reply_hop(&h, resp, row.last_reply, sid, &row, menus, s.lang);
        goto out;
    }
    if (!encoded || store_session_put(a->store, sid, phone, &row) != ST_OK) {
        log_error("ussd.session_not_saved", "session=%s", sid);
        ussd_error_end(menus, s.lang, &reply);
        deferred = reply_hop(&h, resp, reply.data ? reply.data : "END", sid, NULL, menus, s.lang);
        goto out;
    }
    deferred = reply_hop(&h, resp, row.last_reply, sid, &row, menus, s.lang);
    log_debug("ussd.hop", "session=%s phone=%s screen=%s end=%d", sid, log_phone(phone, masked), s.screen, end);
out:
    ussd_menus_unref(menus);
    buf_free(&reply);
    form_free(&f);
    if (!deferred)
        metrics_hop_time(t0);
}

/* AT says a session ended: a caller who stopped on a resumable screen
 * gets their point saved now, so the next dial finds it on any lipad and
 * after a restart. The session is rebuilt from the notice's inputs when
 * this lipad does not hold its point (another lipad had its hops, or this
 * one restarted), dry: nothing it passes through acts. */
static void resume_after_end(struct app *a, const struct ussd_event *e)
{
    bool finished = !strcmp(e->status, "Success");
    char masked[20];
    if (!e->phone[0] || strlen(e->input) > TEXT_MAX)
        return;
    enum store_rc rc = store_point_ended(a->store, e->phone, e->session_id, finished);
    if (rc != ST_NOT_FOUND || finished)
        return;
    struct ussd_menus *menus = app_menus(a);
    struct hop h = {.a = a, .phone = e->phone, .dry = true};
    struct ussd_host host = {.ctx = &h, .list = host_list, .action = host_action};
    struct ussd_session *s = malloc(sizeof *s);
    struct ussd_point *p = calloc(1, sizeof *p);
    struct buf reply;
    buf_init(&reply, USSD_REPLY_MAX);
    if (!s || !p)
        goto out;
    fresh(a, s, caller(&h) ? h.c.user.language : "en");
    h.lang = s->lang;
    bool end = replay(menus, &host, &h, e->session_id, s, e->input, &reply, false);
    s->offer = false; /* dropped on an offer: the screen behind it */
    if (end || !ussd_resumable(menus, s) || !ussd_session_encode(s, p->state, sizeof p->state))
        goto out;
    str_copy(p->session_id, sizeof p->session_id, e->session_id);
    purchase_idem_key(p->idem_key, "ussd", e->session_id);
    p->at = now_ms();
    if (store_point_save(a->store, e->phone, p) == ST_OK)
        log_info("ussd.resume_saved", "session=%s phone=%s screen=%s", e->session_id, log_phone(e->phone, masked),
                 s->screen);
out:
    buf_free(&reply);
    free(s);
    free(p);
    ussd_menus_unref(menus);
}

static void ussd_event(void *ctx, struct http_req *req, struct http_resp *resp)
{
    struct app *a = ctx;
    struct form f;
    char bad[48];
    if (!form_parse(&f, req->body, req->body_len, bad, sizeof bad)) {
        http_resp_text(resp, 400, "text/plain", "Bad request: malformed form field");
        return;
    }
    struct ussd_event e;
    memset(&e, 0, sizeof e);
    const char *sid = form_get(&f, "sessionId");
    if (!sid || !*sid || strlen(sid) > 120) {
        http_resp_text(resp, 400, "text/plain", "sessionId: required (at most 120 characters)");
        form_free(&f);
        return;
    }
    str_copy(e.session_id, sizeof e.session_id, sid);
    if (!phone_normalize(form_get(&f, "phoneNumber"), e.phone))
        e.phone[0] = 0;
    str_copy(e.service_code, sizeof e.service_code, form_get(&f, "serviceCode"));
    str_copy(e.network_code, sizeof e.network_code, form_get(&f, "networkCode"));
    str_copy(e.status, sizeof e.status, form_get(&f, "status"));
    str_copy(e.cost, sizeof e.cost, form_get(&f, "cost"));
    str_copy(e.input, sizeof e.input, form_get(&f, "input"));
    str_copy(e.error, sizeof e.error, form_get(&f, "errorMessage"));
    str_copy(e.date, sizeof e.date, form_get(&f, "date"));
    int64_t v;
    e.duration_ms = str_to_i64(form_get(&f, "durationInMillis"), 0, INT64_MAX, &v) ? v : -1;
    e.hops = str_to_i64(form_get(&f, "hopsCount"), 0, 100000, &v) ? v : -1;
    enum store_rc rc = store_ussd_event_add(a->store, &e);
    char masked[20];
    if (rc == ST_OK || rc == ST_CONFLICT) {
        log_info("ussd.session_ended", "session=%s phone=%s status=%s hops=%lld", e.session_id,
                 log_phone(e.phone, masked), e.status, (long long)e.hops);
        if (rc == ST_OK)
            resume_after_end(a, &e);
        http_resp_text(resp, 200, "text/plain", "OK");
    } else {
        http_resp_text(resp, 500, "text/plain", "Try again");
    }
    form_free(&f);
}

const struct http_route ussd_routes[] = {
    {"POST", "/api/ussd", ussd_hop, ENV_PLAIN, 0},
    {"POST", "/api/ussd/events", ussd_event, ENV_PLAIN, 0},
    {NULL, NULL, NULL, 0, 0},
};
