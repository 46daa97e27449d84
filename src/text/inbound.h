/* text/inbound: answering texted commands. The AT callback (sms/api.c) only
 * stores an inbound SMS, once per AT id, and wakes the workers; the SMS
 * worker (text_work) takes queued ones oldest first, matches the
 * text against the commands file (text/commands.h), runs the action and
 * queues the answer in the outbox (kind "answer") in the same transaction
 * that marks the inbound SMS done. Provider calls (the meter cloud for BAL)
 * happen here, never on a request thread. A side effect is idempotent on
 * the AT id (BUY and WATER use idem key "sms:<id>"), so a crash between
 * acting and answering at worst answers twice.
 *
 * The commands in force live in struct app (text_commands, swapped under
 * menus_lock with the menus; see app_reload_menus). Thread-safe. */
#ifndef LIPA_TEXT_INBOUND_H
#define LIPA_TEXT_INBOUND_H

#include "app/app.h"
#include "meter/meter.h"
#include "pay/purchase.h"
#include "store/ussd.h"
#include "text/commands.h"
#include "water/water.h"

#include <jansson.h>

/* The commands in force with a reference (release with
 * text_commands_unref), or NULL when texting commands are off. */
struct text_commands *text_commands_current(struct app *a);

/* What answering reaches outside the commands file: lipad's store and
 * providers (text_work), or a dialogue's script (bin/lipa-menu test). Each
 * returns false (or ST_ERR) on store trouble: the SMS is answered later. */
struct text_world {
    void *ctx;
    /* the sender, registered or not, and their meters */
    bool (*caller)(void *ctx, const char *phone, struct store_caller *c);
    /* the meter cloud's status of a meter (*status new, NULL unless
     * res->outcome is METER_OK) */
    bool (*meter_status)(void *ctx, const char *meter_id, json_t **status, struct meter_res *res);
    /* purchase_start */
    enum purchase_refusal (*buy)(void *ctx, const struct purchase_req *r, struct payment *p);
    /* the sender's last token (of meter_id, "" for any meter): ST_NOT_FOUND when none */
    enum store_rc (*last_token)(void *ctx, const char *phone, const char *meter_id, struct payment *p);
    /* water_start_mpesa for an SMS (idem "sms:<AT id>") */
    bool (*water)(void *ctx, const char *idem, const char *phone, int64_t user_id, const struct water_quote *q,
                  struct payment *p, char *why, size_t whysz);
    /* STOP (out) and START */
    bool (*opt_out)(void *ctx, const char *phone, bool out);
    /* replies that did nothing (outcomes unknown and unregistered) sent to
     * phone since (ms), for LIPA_SMS_UNKNOWN_REPLIES; -1 on store trouble
     * (the sender is answered) */
    int64_t (*idle_replies)(void *ctx, const char *phone, int64_t since);
};

#define TEXT_REPLY_MAX 1024
struct text_answer {
    char reply[TEXT_REPLY_MAX];
    int64_t payment_id;        /* for {token}, 0 when none */
    const char *outcome;       /* for the inbound row */
    const char *command;       /* the command that matched, NULL when none */
    enum text_lang lang;       /* of the reply */
    bool retry;                /* store trouble: try again later */
    bool quiet;                /* over the limit of replies that did nothing: no SMS */
};
/* The answer to in (its phone set) under cmds, acting through w. */
void text_answer_for(const struct text_world *w, const struct config *cfg, const struct text_commands *cmds,
                     const struct sms_inbound *in, struct text_answer *out);

/* One pass of the SMS worker: answers what is due; returns how many
 * inbound messages it touched. */
int text_work(struct app *a);

#endif
