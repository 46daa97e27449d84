/* ussd/host: the host of a hop (struct ussd_host) as lipad runs it, over a
 * world it reaches through struct ussd_world: lipad's store and providers
 * (ussd/api.c), or a dialogue's script (bin/lipa-menu walk and test). What
 * a caller sees (their meters, the price and kWh of an amount, the litre
 * bounds, a size picked from the water menu priced before its confirm
 * screen, a session rebuilt from Africa's Talking's text) is decided here
 * once for both; the world only looks things up and acts.
 *
 * Ownership and threads: a struct ussd_hop lives for one hop on one
 * thread; it borrows the config, the world and the phone. */
#ifndef LIPA_USSD_HOST_H
#define LIPA_USSD_HOST_H

#include "pay/purchase.h"
#include "store/otp.h"
#include "store/ussd.h"
#include "util/config.h"
#include "ussd/ussd.h"
#include "water/water.h"

struct ussd_world {
    void *ctx;
    /* The caller (registered or not) and their meters; false when they
     * could not be looked up (the caller sees system_error or not_assigned). */
    bool (*caller)(void *ctx, const char *phone, struct store_caller *c);
    /* The caller's water codes that may be resent, newest first: the count
     * (<= max) or -1. */
    int (*codes)(void *ctx, const char *phone, struct otp_code *out, int max);
    int64_t (*now_ms)(void *ctx);              /* for the codes' labels */
    /* The acts, never called on a dry hop (struct ussd_hop). NULL when done,
     * else the message key the caller sees. r->known and c are the
     * caller's, checked. */
    const char *(*buy)(void *ctx, const struct purchase_req *r);
    const char *(*buy_water)(void *ctx, const char *session_id, const char *phone, int64_t user_id,
                             const struct water_quote *q);
    const char *(*resend_code)(void *ctx, const char *phone, const char *reference);
    void (*set_language)(void *ctx, int64_t user_id, const char *lang);
    /* Resume after a drop (ussd.h), both NULL in a world without it: the
     * point session sid took, or on its first hop (may_open) one it may
     * be offered (store_point_for: true and *taken); and take: records
     * that sid is offered p (p->taken_by set), false when it is not to be
     * (recorded elsewhere first, or refused: then the start screen). */
    bool (*point)(void *ctx, const char *phone, const char *sid, bool may_open, struct ussd_point *p,
                  bool *taken);
    bool (*take)(void *ctx, const char *phone, struct ussd_point *p);
};

struct ussd_hop {
    const struct config *cfg;
    const struct ussd_world *w;
    const char *phone;
    const char *lang;          /* the session's, for list labels; set by ussd_hop_fresh */
    /* a late hop's screen rebuilt aside: every check runs, but the actions
     * that act (buy, resend a code, set the language) answer as done and
     * do nothing, since the session did them when it went through there */
    bool dry;
    /* the session's first hop (lipad does not hold it, AT's text is
     * empty): a caller who dropped may be offered their point */
    bool first;
    bool looked_up, failed;
    struct store_caller c;
};

/* A hop of phone over w; *h is ready for the functions below. */
void ussd_hop_init(struct ussd_hop *h, const struct config *cfg, const struct ussd_world *w, const char *phone);
/* The struct ussd_host to hand the engine for this hop (it points at h). */
struct ussd_host ussd_hop_host(struct ussd_hop *h);
/* The caller, looked up once per hop; NULL when unregistered or when the
 * look-up failed (*failed says which). */
const struct store_caller *ussd_hop_caller(struct ussd_hop *h, bool *failed);
/* A fresh session in lang (NULL: the caller's language, else English)
 * with the values prompts show before any input. */
void ussd_hop_fresh(struct ussd_hop *h, struct ussd_session *s, const char *lang);
/* The caller's next input on the session's screen (NULL: the first hop):
 * ussd_step, then the price of a size picked from a menu on the screen it
 * led to. Returns what ussd_step does (USSD_CON, or how the END ends it). */
enum ussd_end ussd_hop_step(struct ussd_hop *h, const struct ussd_menus *m, const char *sid,
                            struct ussd_session *s, const char *input, struct buf *reply);
/* Walks s (fresh) from the start screen through the inputs of AT's text as
 * if they came one hop at a time and answers the screen the last one leads
 * to (see ussd/api.c). A session that was offered a point (and, on its
 * first hop, one that may be: struct ussd_hop's first) starts from the
 * offer instead; a first hop that is not dry takes the point it shows. */
enum ussd_end ussd_hop_replay(struct ussd_hop *h, const struct ussd_menus *m, const char *sid,
                              struct ussd_session *s, const char *text, struct buf *reply);

#endif
