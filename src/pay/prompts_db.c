/* pay/prompts_db: the prompts kept in the database (store/prompts.h), for
 * lipads sharing one; see prompts.h. */
#include "pay/prompts_impl.h"

#include "store/prompts.h"

#include <stdlib.h>

struct db {
    struct store *st;
    int64_t reserve_ms;
};

static void *db_new(struct store *st, int64_t reserve_ms)
{
    struct db *d = calloc(1, sizeof *d);
    if (d) {
        d->st = st;
        d->reserve_ms = reserve_ms;
    }
    return d;
}

static void db_free(void *impl)
{
    free(impl);
}

static bool db_hold(void *impl, const char *phone, int64_t payment_id, int64_t now_ms)
{
    struct db *d = impl;
    return store_prompt_take(d->st, phone, payment_id, now_ms, now_ms + d->reserve_ms) == ST_CONFLICT;
}

static void db_open(void *impl, const char *phone, int64_t payment_id, int64_t now_ms, int64_t until_ms)
{
    struct db *d = impl;
    store_prompt_take(d->st, phone, payment_id, now_ms, until_ms);
}

static bool db_waiting(void *impl, const char *phone, int64_t now_ms)
{
    struct db *d = impl;
    return store_prompt_get(d->st, phone, now_ms) == ST_OK;
}

/* Hands the phone on to the oldest purchase waiting, reserved for its
 * push, so that purchases made before that push wait behind it too; or
 * ends the prompt when nobody waits. Only its holder hands it on. */
static int64_t db_close(void *impl, const char *phone, int64_t payment_id, int64_t now_ms)
{
    struct db *d = impl;
    int64_t next = store_prompt_next(d->st, phone, now_ms, payment_id);
    if (!next) {
        store_prompt_end(d->st, phone, payment_id);
        return 0;
    }
    return store_prompt_pass(d->st, phone, payment_id, next, now_ms + d->reserve_ms) == ST_OK ? next : 0;
}

const struct prompts_ops prompts_db = {
    .new = db_new, .free = db_free, .hold = db_hold, .open = db_open,
    .waiting = db_waiting, .close = db_close,
};
