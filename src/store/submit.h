/* store/submit: the group-commit queue behind store_submit (store.h),
 * private to src/store. */
#ifndef LIPA_STORE_SUBMIT_H
#define LIPA_STORE_SUBMIT_H

#include "store/store.h"

struct submit;

struct submit *submit_new(struct store *st);
bool submit_queue(struct submit *b, store_write_fn write, store_done_fn done, void *arg);
/* The most jobs one call of a submit_many_fn gets. */
#define SUBMIT_MANY_MAX 64
/* Writes the jobs args[0..n) (2 <= n <= SUBMIT_MANY_MAX) of one kind
 * together, as their write would one by one: ST_OK when each did what its
 * write answers ST_OK for, else anything else (the batch is then rolled
 * back and run again a write at a time, with a savepoint each). */
typedef enum store_rc (*submit_many_fn)(struct store *st, void **args, int n);
/* submit_queue for a job that consecutive jobs of the same many may be
 * written with, in one call of many. */
bool submit_queue_many(struct submit *b, store_write_fn write, submit_many_fn many, store_done_fn done, void *arg);
/* Writes queued and not yet taken by the committer. */
int submit_queued(struct submit *b);
/* Runs what is queued, then stops the committer thread. */
void submit_free(struct submit *b);

#endif
