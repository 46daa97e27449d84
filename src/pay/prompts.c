/* pay/prompts: see prompts.h; the table is store/prompts.h. */
#include "pay/prompts.h"

#include "store/prompts.h"

#include <stdlib.h>

struct prompts {
    struct store *st;
    int64_t reserve_ms;
};

struct prompts *prompts_new(struct store *st, int64_t reserve_ms)
{
    struct prompts *pr = calloc(1, sizeof *pr);
    if (pr) {
        pr->st = st;
        pr->reserve_ms = reserve_ms;
    }
    return pr;
}

void prompts_free(struct prompts *pr)
{
    free(pr);
}

bool prompts_hold(struct prompts *pr, const char *phone, int64_t payment_id, int64_t now_ms, int64_t *until_ms)
{
    if (!pr || !phone || !*phone)
        return false;
    return store_prompt_take(pr->st, phone, payment_id, now_ms, now_ms + pr->reserve_ms, until_ms) == ST_CONFLICT;
}

void prompts_open(struct prompts *pr, const char *phone, int64_t payment_id, int64_t now_ms, int64_t until_ms)
{
    int64_t held;
    if (pr && phone && *phone)
        store_prompt_take(pr->st, phone, payment_id, now_ms, until_ms, &held);
}

bool prompts_waiting(struct prompts *pr, const char *phone, int64_t now_ms, int64_t *until_ms)
{
    return pr && phone && *phone && store_prompt_get(pr->st, phone, now_ms, until_ms, NULL) == ST_OK;
}

int64_t prompts_close(struct prompts *pr, const char *phone, int64_t payment_id, int64_t now_ms)
{
    if (!pr || !phone || !*phone)
        return 0;
    store_prompt_end(pr->st, phone, payment_id);
    return store_prompt_next(pr->st, phone, now_ms, payment_id);
}

int64_t prompts_release(struct prompts *pr, const char *phone, int64_t payment_id, int64_t now_ms)
{
    return prompts_close(pr, phone, payment_id, now_ms);
}
