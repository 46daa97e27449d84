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

struct text_commands;

/* The commands in force with a reference (release with
 * text_commands_unref), or NULL when texting commands are off. */
struct text_commands *text_commands_current(struct app *a);

/* One pass of the SMS worker: answers what is due; returns how many
 * inbound messages it touched. */
int text_work(struct app *a);

#endif
