/* lipa-menu's world: what lipad would look up and do for one caller (their
 * meters, their water codes, what the meter cloud reads, how a payment
 * ends), scripted by a dialogue or by the walker's sample, behind the same
 * interfaces lipad's store and providers fill (struct ussd_world for USSD
 * hops, struct text_world for texted commands). So a dialogue runs the
 * real engine, the real host and the real SMS answers. */
#ifndef LIPA_MENU_WORLD_H
#define LIPA_MENU_WORLD_H

#include "text/inbound.h"
#include "ussd/host.h"

#define WORLD_CODES 8
#define WORLD_FAILS 8
#define WORLD_SENT 4
#define WORLD_SMS_MAX 480

struct world {
    struct config cfg;
    char phone[16];
    struct store_caller c;            /* c.registered false: an unknown number */
    bool has_reading[STORE_CALLER_METERS];
    int64_t reading[STORE_CALLER_METERS]; /* hundredths of a kWh, as the meter cloud says */
    int ncodes;
    struct otp_code codes[WORLD_CODES];
    int nfails;                       /* "next ACTION returns KEY", each once */
    char fail_action[WORLD_FAILS][32], fail_key[WORLD_FAILS][32];
    bool has_pending;                 /* the last payment started, until it ends */
    struct payment pending;
    bool has_token;                   /* the last electricity purchase paid */
    struct payment token;
    bool opted_out;
    int64_t idle_replies;             /* replies that did nothing (help to nonsense, how to register) */
    int64_t now;                      /* ms; a fixed clock */
    int nrefs;
    int nsent;                        /* SMS sent as a side effect of the last step */
    char sent[WORLD_SENT][WORLD_SMS_MAX];
    struct ussd_world uw;
    struct text_world tw;
};

/* An unknown caller on the default settings with overrides (NAME=VALUE
 * each, may be NULL); false with err set when a setting is refused. */
bool world_init(struct world *w, const char *const *settings, int nsettings, char *err, size_t errsz);
void world_free(struct world *w);
/* The walker's sample: a registered English caller with two meters and
 * one water code, everything succeeding. */
void world_sample(struct world *w);
/* Registers the caller in lang ("en"/"sw"). */
void world_caller(struct world *w, const char *phone, const char *lang);
bool world_meter(struct world *w, const char *id, const char *name);
bool world_reading(struct world *w, const char *id, int64_t hundredths);
bool world_code(struct world *w, const char *reference, int64_t liters, const char *status);
bool world_fail_next(struct world *w, const char *action, const char *key);
/* Ends the pending payment with status (completed, cancelled, timeout,
 * failed; receipt or reason may be ""); the SMS lipad sends goes to out.
 * false when no payment is pending. */
bool world_payment_ends(struct world *w, const char *status, const char *detail, char *out, size_t n);

#endif
