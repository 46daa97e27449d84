/* pay/prompts: see prompts.h; the keepings are prompts_mem.c and
 * prompts_db.c (prompts_impl.h). */
#include "pay/prompts.h"

#include "pay/prompts_impl.h"

#include <stdlib.h>

struct prompts {
    const struct prompts_ops *ops;
    void *impl;
};

struct prompts *prompts_new(struct store *st, int64_t reserve_ms)
{
    struct prompts *pr = calloc(1, sizeof *pr);
    if (!pr)
        return NULL;
    pr->ops = store_shared(st) ? &prompts_db : &prompts_mem;
    if (!(pr->impl = pr->ops->new(st, reserve_ms))) {
        free(pr);
        return NULL;
    }
    return pr;
}

void prompts_free(struct prompts *pr)
{
    if (pr)
        pr->ops->free(pr->impl);
    free(pr);
}

bool prompts_hold(struct prompts *pr, const char *phone, int64_t payment_id, int64_t now_ms)
{
    return pr && phone && *phone && pr->ops->hold(pr->impl, phone, payment_id, now_ms);
}

void prompts_open(struct prompts *pr, const char *phone, int64_t payment_id, int64_t now_ms, int64_t until_ms)
{
    if (pr && phone && *phone)
        pr->ops->open(pr->impl, phone, payment_id, now_ms, until_ms);
}

bool prompts_waiting(struct prompts *pr, const char *phone, int64_t now_ms)
{
    return pr && phone && *phone && pr->ops->waiting(pr->impl, phone, now_ms);
}

int64_t prompts_close(struct prompts *pr, const char *phone, int64_t payment_id, int64_t now_ms)
{
    return pr && phone && *phone ? pr->ops->close(pr->impl, phone, payment_id, now_ms) : 0;
}
