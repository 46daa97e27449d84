/* store/submit: the group-commit queue behind store_submit (store.h),
 * private to src/store. */
#ifndef LIPA_STORE_SUBMIT_H
#define LIPA_STORE_SUBMIT_H

#include "store/store.h"

struct submit;

struct submit *submit_new(struct store *st);
bool submit_queue(struct submit *b, store_write_fn write, store_done_fn done, void *arg);
/* Writes queued and not yet taken by the committer. */
int submit_queued(struct submit *b);
/* Runs what is queued, then stops the committer thread. */
void submit_free(struct submit *b);

#endif
