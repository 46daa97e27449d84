/* store/batch: the group-commit queue behind store_submit (store.h),
 * private to src/store. */
#ifndef LIPA_STORE_BATCH_H
#define LIPA_STORE_BATCH_H

#include "store/store.h"

struct batch;

struct batch *batch_new(struct store *st);
bool batch_submit(struct batch *b, store_write_fn write, store_done_fn done, void *arg);
/* Runs what is queued, then stops the committer thread. */
void batch_free(struct batch *b);

#endif
