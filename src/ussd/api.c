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

/* ---- resume after a drop (ussd.h; store/ussd.h) ----
 * When the resumable point is recorded: a hop of a session this lipad
 * follows (the next input of one it holds, or a session's first hop) that
 * lands on a resumable screen keeps the session there as the phone's live
 * point in memory, and the hop that leaves it (another screen, an END: a
 * purchase made) drops it; neither writes to the database. The point is
 * written when the session is over without END: AT's end-of-session
 * notice, a minute without a hop (store_maintain), lipad stopping. A
 * session's first hop reads memory (SQLite: it holds every point;
 * PostgreSQL: a phone's row is read once and kept until a lipad tells of
 * a change); when it offers a point it writes that the point is taken by
 * it, so no other session is offered it and its own later hops, rebuilt
 * from AT's text on any lipad or after a restart, replay from the offer
 * (ussd_hop_replay). */

_Static_assert(sizeof ((struct ussd_point *)0)->idem_key == PURCHASE_IDEM_SIZE, "a point holds a purchase key");

static bool world_point(void *ctx, const char *phone, const char *sid, bool may_open, struct ussd_point *p,
                        bool *taken)
{
    struct hop *h = ctx;
    return store_point_for(h->a->store, phone, sid, may_open, p, taken) == ST_OK;
}

static bool world_take(void *ctx, const char *phone, struct ussd_point *p)
{
    struct hop *h = ctx;
    char masked[20];
    enum store_rc rc = store_point_take(h->a->store, phone, p);
    if (rc == ST_OK)
        log_info("ussd.resume_offered", "session=%s phone=%s from=%s", p->taken_by, log_phone(phone, masked),
                 p->session_id);
    else if (rc != ST_CONFLICT) /* not recorded: the caller could be offered it twice */
        log_warn("ussd.resume_not_taken", "session=%s phone=%s", p->taken_by, log_phone(phone, masked));
    return rc == ST_OK;
}

/* The session a hop left as the phone's point: kept live when it waits on
 * a resumable screen (or on the offer of one: the screen behind it), and
 * dropped when it left one. follows: this lipad stepped the hop in the
 * session it holds (a rebuilt session may be followed by another lipad,
 * whose own memory keeps the point); was: it was on a resumable screen. */
static void point_note(struct app *a, const char *phone, const struct ussd_menus *m, const char *sid,
                       const struct ussd_session *s, const char *state, bool end, bool follows, bool was)
{
    if (!end && follows && ussd_resumable(m, s)) {
        struct ussd_point p; /* on the stack, each field set: a calloc of 4 KiB a hop cost more */
        bool ok = true;
        p.taken_by[0] = 0;
        if (s->offer) {
            struct ussd_session behind = *s;
            behind.offer = false;
            ok = ussd_session_encode(&behind, p.state, sizeof p.state);
        } else {
            str_copy(p.state, sizeof p.state, state);
        }
        if (ok) {
            str_copy(p.session_id, sizeof p.session_id, sid);
            purchase_idem_key(p.idem_key, "ussd", sid);
            p.at = now_ms();
            store_point_live(a->store, phone, &p);
        }
    } else if (was) {
        store_point_left(a->store, phone, sid);
    }
}

/* h of phone with its world in w (both live as long as the hop). */
static void hop_init(struct hop *h, struct ussd_world *w, struct app *a, struct http_req *req, const char *phone,
                     int64_t t0)
{
    *h = (struct hop){.a = a, .req = req, .t0_us = t0};
    *w = (struct ussd_world){
        .ctx = h, .caller = world_caller, .codes = world_codes, .now_ms = world_now, .buy = world_buy,
        .buy_water = world_buy_water, .resend_code = world_resend, .set_language = world_set_language,
        .point = world_point, .take = world_take,
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
    /* resume: a session's first hop may offer a point; the hops of the
     * sessions this lipad follows keep theirs (point_note) */
    bool first = rc != ST_OK && !text[0], follows = first;
    bool was_resumable = rc == ST_OK; /* a session held here may have had a live point */
    if (rel == USSD_TEXT_NEXT && known) {
        follows = true;
        was_resumable = ussd_resumable(menus, &s);
        end = ussd_hop_step(&h.h, menus, sid, &s, input, &reply);
    } else {
        /* a new session, one whose state is gone, or a text that is not
         * the next one */
        if (rc == ST_OK)
            log_info("ussd.rebuilt", "session=%s phone=%s", sid, log_phone(phone, masked));
        ussd_hop_fresh(&h.h, &s, NULL);
        h.h.first = first;
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
    if (encoded)
        point_note(a, phone, menus, sid, &s, row.state, end != USSD_CON, follows, was_resumable);
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
    struct hop h;
    struct ussd_world w;
    hop_init(&h, &w, a, NULL, e->phone, 0);
    h.h.dry = true;
    struct ussd_session *s = malloc(sizeof *s);
    struct ussd_point *p = calloc(1, sizeof *p);
    struct buf reply;
    buf_init(&reply, USSD_REPLY_MAX);
    if (!s || !p)
        goto out;
    ussd_hop_fresh(&h.h, s, NULL);
    enum ussd_end end = ussd_hop_replay(&h.h, menus, e->session_id, s, e->input, &reply);
    s->offer = false; /* dropped on an offer: the screen behind it */
    if (end != USSD_CON || !ussd_resumable(menus, s) || !ussd_session_encode(s, p->state, sizeof p->state))
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
    /* a session lipad's last answer left waiting: the caller left (or the
     * network gave up) there; one lipad ended with END is already counted */
    metrics_screen(store_session_end(a->store, e.session_id), MS_ABANDONED);
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
