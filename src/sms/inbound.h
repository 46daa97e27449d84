/* sms/inbound: answering texted commands. The AT callback (sms/api.c) only
 * stores an inbound SMS, once per AT id, and wakes the workers; the SMS
 * worker (sms_inbound_work) takes queued ones oldest first, matches the
 * text against the commands file (sms/commands.h), runs the action and
 * queues the answer in the outbox (kind "answer") in the same transaction
 * that marks the inbound SMS done. Provider calls (the meter cloud for BAL)
 * happen here, never on a request thread. A side effect is idempotent on
 * the AT id (BUY and WATER use idem key "sms:<id>"), so a crash between
 * acting and answering at worst answers twice.
 *
 * The commands in force live in struct app (sms_commands, swapped under
 * menus_lock with the menus; see app_reload_menus). Thread-safe. */
#ifndef LIPA_SMS_INBOUND_H
#define LIPA_SMS_INBOUND_H

#include "app/app.h"

struct sms_commands;

/* The commands in force with a reference (release with
 * sms_commands_unref), or NULL when texting commands are off. */
struct sms_commands *sms_commands_current(struct app *a);

/* One pass of the SMS worker: answers what is due; returns how many
 * inbound messages it touched. */
int sms_inbound_work(struct app *a);

#endif
