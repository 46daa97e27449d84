/* pay/prompts_impl: the two keepings of pay/prompts.h, chosen by
 * prompts_new: in memory for a lipad alone on its database (prompts_mem.c:
 * no write per push; after a restart Daraja's refusal, retried with
 * backoff, covers what it forgot), in the database when other lipads share
 * it (prompts_db.c: one prompt per phone across them). Private to pay/. */
#ifndef LIPA_PAY_PROMPTS_IMPL_H
#define LIPA_PAY_PROMPTS_IMPL_H

#include "pay/prompts.h"

struct prompts_ops {
    void *(*new)(struct store *st, int64_t reserve_ms);
    void (*free)(void *impl);
    bool (*hold)(void *impl, const char *phone, int64_t payment_id, int64_t now_ms);
    void (*open)(void *impl, const char *phone, int64_t payment_id, int64_t now_ms, int64_t until_ms);
    bool (*waiting)(void *impl, const char *phone, int64_t now_ms);
    int64_t (*close)(void *impl, const char *phone, int64_t payment_id, int64_t now_ms);
};
extern const struct prompts_ops prompts_mem, prompts_db;

#endif
