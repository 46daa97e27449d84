/* pay/topup: crediting the meter once a purchase is paid, exactly once
 * whatever instant lipad stops.
 *
 *   queued --attempt committed--> sending --cloud: ok--> done
 *                                         --cloud: refused--> failed
 *                                         --cloud: busy, said so--> queued (backoff)
 *                                         --no clear answer--> checking
 *   sending (lipad stopped meanwhile) --next start--> checking
 *   checking --the cloud's log has it--> done
 *            --the log has it not--> queued (sent again at once)
 *            --the log cannot be read or trusted--> checking (backoff)
 *
 * The meter cloud has no idempotency key, so an attempt is committed
 * ('sending', with its time) before the cloud hears of it, and an attempt
 * whose answer was lost is never sent again blind: once nothing it sent can
 * still arrive (the provider timeout plus LIPA_TOPUP_LATE_MS after it went
 * out), the cloud's log of commands issued to the device is read and
 * matched against the top-ups lipa has on record (meter/reconcile.h).
 * The attempt's record shares its commit with the previous attempt's
 * answer, so a pass over n top-ups takes n + 1 commits, not 2n.
 *
 * Runs on the top-up worker's thread only. */
#ifndef LIPA_PAY_TOPUP_H
#define LIPA_PAY_TOPUP_H

#include "app/app.h"

/* At start-up, before the workers: top-ups a stopped lipad left 'sending'
 * become 'checking'. */
void topup_recover(struct app *a);
/* One pass of the top-up worker; returns how many top-ups it looked at. */
int topup_work(struct app *a);

#endif
