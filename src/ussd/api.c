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
#include "ussd/host.h"
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
    int slot;                  /* the funnel: the screen the hop ended the session on, */
    enum metric_screen_event ended; /* and how (MS_COUNT: it did not), if it is stored */
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
    if (p->ended != MS_COUNT) /* the purchase refused: the caller heard the error */
        metrics_screen(p->slot, p->stored ? p->ended : MS_ABANDONED);
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

/* lipad's side of one hop: the world (struct ussd_world) is the store and
 * the providers, and a confirming hop may park its request (struct parked). */
struct hop {
    struct ussd_hop h;         /* first: the world's ctx is the hop */
    struct app *a;
    struct http_req *req;
    struct parked *park;       /* the hop waits for the commit (see struct parked) */
    int64_t t0_us;             /* its arrival (metrics_clock_us) */
};

static bool world_caller(void *ctx, const char *phone, struct store_caller *c)
{
    struct hop *h = ctx;
    return store_caller(h->a->store, phone, c) == ST_OK;
}

static int world_codes(void *ctx, const char *phone, struct otp_code *out, int max)
{
    struct hop *h = ctx;
    return otp_live_codes(h->a, phone, out, max);
}

static int64_t world_now(void *ctx)
{
    (void)ctx;
    return now_ms();
}

/* on SQLite written to the store's intake before the hop is answered; on
 * PostgreSQL the hop is answered after the commit (struct parked); the STK
 * push follows (purchase_take) */
static const char *world_buy(void *ctx, const struct purchase_req *r)
{
    struct hop *h = ctx;
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
    enum purchase_refusal why = purchase_take(h->a, r, park ? parked_taken : NULL, park);
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

static const char *world_buy_water(void *ctx, const char *session_id, const char *phone, int64_t user_id,
                                   const struct water_quote *q)
{
    struct hop *h = ctx;
    struct payment p;
    char why[160], idem[PURCHASE_IDEM_SIZE];
    purchase_idem_key(idem, "ussd", session_id);
    if (!water_start_mpesa(h->a, "ussd", idem, NULL, phone, user_id, q, &p, why, sizeof why)) {
        log_warn("ussd.water_refused", "session=%s why=\"%s\"", session_id, why);
        return "water_failed";
    }
    return NULL;
}

static const char *world_resend(void *ctx, const char *phone, const char *reference)
{
    struct hop *h = ctx;
    switch (otp_resend(h->a, phone, reference)) {
    case OTP_OK: return NULL;
    case OTP_LIMIT: return "code_limit";
    case OTP_STORE: return "code_failed";
    default: return "code_gone";
    }
}

static void world_set_language(void *ctx, int64_t user_id, const char *lang)
{
    struct hop *h = ctx;
    store_user_set_language(h->a->store, user_id, lang);
}

/* h of phone with its world in w (both live as long as the hop). */
static void hop_init(struct hop *h, struct ussd_world *w, struct app *a, struct http_req *req, const char *phone,
                     int64_t t0)
{
    *h = (struct hop){.a = a, .req = req, .t0_us = t0};
    *w = (struct ussd_world){
        .ctx = h, .caller = world_caller, .codes = world_codes, .now_ms = world_now, .buy = world_buy,
        .buy_water = world_buy_water, .resend_code = world_resend, .set_language = world_set_language,
    };
    ussd_hop_init(&h->h, &a->cfg, w, phone);
}

static void answer(struct http_resp *resp, const char *text)
{
    http_resp_text(resp, 200, "text/plain; charset=utf-8", text);
}

/* The hop's answer: now, or, when it waits for the commit, handed to its
 * parked request with the session as stored and the error screen to give
 * instead should the database refuse the purchase (true then: the parked
 * request is answered, and its time taken, when both halves are in).
 * ended (MS_COUNT: none) is how the answer ends the session on funnel
 * slot slot, counted once the caller is answered with it. */
static bool reply_hop(struct hop *h, struct http_resp *resp, const char *text, const char *sid,
                      const struct ussd_row *row, const struct ussd_menus *menus, const char *lang, int slot,
                      enum metric_screen_event ended)
{
    struct parked *p = h->park;
    if (!p) {
        answer(resp, text);
        if (ended != MS_COUNT)
            metrics_screen(slot, ended);
        return false;
    }
    p->slot = slot;
    p->ended = ended;
    if (row)
        p->row = *row;
    str_copy(p->row.last_reply, sizeof p->row.last_reply, text);
    str_copy(p->sid, sizeof p->sid, row ? sid : "");
    str_copy(p->phone, sizeof p->phone, h->h.phone);
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
        struct hop lh;
        struct ussd_world lw;
        hop_init(&lh, &lw, a, req, phone, t0);
        const struct store_caller *c = ussd_hop_caller(&lh.h, NULL);
        answer(resp, c && !strcmp(c->user.language, "sw") ? "END Maingizo ni mengi mno. Tafadhali piga tena."
                                                         : "END Too many entries. Please dial again.");
        goto out;
    }

    /* Hops follow AT's text, never the order they arrive in: a hop acts
     * only when its text is the session's plus exactly one input. The same
     * text again gets the answer stored for it; an older one (a hop that
     * came late, or again after the session went on) gets the screen it
     * leads to, rebuilt aside from the stored session without running any
     * action (struct ussd_hop's dry), and the session stays as it is; any other
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
    struct hop h;
    struct ussd_world w;
    hop_init(&h, &w, a, req, phone, t0);
    struct ussd_session s;
    enum ussd_end end;
    bool known = rc == ST_OK && ussd_session_decode(&s, row.state);
    menus = app_menus(a);
    /* the funnel: the screen the session waited on before this hop */
    char was[sizeof s.screen];
    str_copy(was, sizeof was, known ? s.screen : "");
    int was_waiting = known ? row.waiting : 0;
    if (rel == USSD_TEXT_OLDER) {
        char lang[sizeof s.lang];
        str_copy(lang, sizeof lang, known ? s.lang : "");
        h.h.dry = true;
        ussd_hop_fresh(&h.h, &s, lang[0] ? lang : NULL);
        end = ussd_hop_replay(&h.h, menus, sid, &s, text, &reply);
        answer(resp, reply.data ? reply.data : "END");
        log_info("ussd.late_hop", "session=%s phone=%s end=%d", sid, log_phone(phone, masked), end);
        goto out;
    }
    if (rel == USSD_TEXT_NEXT && known) {
        end = ussd_hop_step(&h.h, menus, sid, &s, input, &reply);
    } else {
        /* a new session, one whose state is gone, or a text that is not
         * the next one */
        if (rc == ST_OK)
            log_info("ussd.rebuilt", "session=%s phone=%s", sid, log_phone(phone, masked));
        ussd_hop_fresh(&h.h, &s, NULL);
        end = ussd_hop_replay(&h.h, menus, sid, &s, text, &reply);
    }
    /* The funnel (docs/operations.md, section 5): a hop that moves the
     * session onto another screen enters it; an END ends the session on
     * the screen it shows; a CON leaves it waiting there. The slot is
     * looked up only when the screen changed. */
    bool moved = strcmp(was, s.screen) != 0;
    int slot = moved || !was_waiting ? ussd_screen_slot(menus, s.screen) : was_waiting - 1;
    if (moved)
        metrics_screen(slot, MS_ENTERED);
    enum metric_screen_event ended = end == USSD_CON ? MS_COUNT : end == USSD_END_DONE ? MS_COMPLETED : MS_ABANDONED;
    row.waiting = end == USSD_CON && slot >= 0 ? slot + 1 : 0;
    str_copy(row.last_text, sizeof row.last_text, text);
    str_copy(row.last_reply, sizeof row.last_reply, reply.data ? reply.data : "END");
    bool encoded = ussd_session_encode(&s, row.state, sizeof row.state);
    if (encoded && h.park) { /* answered, and the session stored, after the commit */
        deferred = reply_hop(&h, resp, row.last_reply, sid, &row, menus, s.lang, slot, ended);
        goto out;
    }
    if (!encoded || store_session_put(a->store, sid, phone, &row) != ST_OK) {
        log_error("ussd.session_not_saved", "session=%s", sid);
        ussd_error_end(menus, s.lang, &reply);
        deferred = reply_hop(&h, resp, reply.data ? reply.data : "END", sid, NULL, menus, s.lang, slot,
                             MS_ABANDONED);
        goto out;
    }
    deferred = reply_hop(&h, resp, row.last_reply, sid, &row, menus, s.lang, slot, ended);
    log_debug("ussd.hop", "session=%s phone=%s screen=%s end=%d", sid, log_phone(phone, masked), s.screen, end);
out:
    ussd_menus_unref(menus);
    buf_free(&reply);
    form_free(&f);
    if (!deferred)
        metrics_hop_time(t0);
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
    /* a session lipad's last answer left waiting: the caller left (or the
     * network gave up) there; one lipad ended with END is already counted */
    metrics_screen(store_session_end(a->store, e.session_id), MS_ABANDONED);
    char masked[20];
    if (rc == ST_OK || rc == ST_CONFLICT) {
        log_info("ussd.session_ended", "session=%s phone=%s status=%s hops=%lld", e.session_id,
                 log_phone(e.phone, masked), e.status, (long long)e.hops);
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
