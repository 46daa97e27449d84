/* store/prompts: the phones with an M-Pesa prompt open (db/019_prompts.sql),
 * shared by every lipad on the database (pay/prompts.h says why and how
 * they are used). Same rules as store.h. */
#ifndef LIPA_STORE_PROMPTS_H
#define LIPA_STORE_PROMPTS_H

#include "store/store.h"

#include <stdint.h>

/* Takes phone's prompt for payment_id until until_at, unless another
 * purchase holds it at now: ST_OK (taken, or payment_id held it already:
 * its end moves to until_at), ST_CONFLICT (held by another), or
 * ST_ERROR. */
enum store_rc store_prompt_take(struct store *st, const char *phone, int64_t payment_id, int64_t now,
                                int64_t until_at);
/* ST_OK when a prompt is open on phone at now, else ST_NOT_FOUND (or
 * ST_ERROR). */
enum store_rc store_prompt_get(struct store *st, const char *phone, int64_t now);
/* Ends payment_id's prompt on phone (answered, or its push did not go);
 * another purchase's prompt stays. */
enum store_rc store_prompt_end(struct store *st, const char *phone, int64_t payment_id);
/* Hands phone's prompt from payment_id to next_id, reserved until
 * until_at: ST_OK, ST_NOT_FOUND when payment_id does not hold it, or
 * ST_ERROR. */
enum store_rc store_prompt_pass(struct store *st, const char *phone, int64_t payment_id, int64_t next_id,
                                int64_t until_at);
/* The oldest M-Pesa purchase of phone still pending and waiting (due
 * after now), other than except: its id, or 0. */
int64_t store_prompt_next(struct store *st, const char *phone, int64_t now, int64_t except);

#endif
