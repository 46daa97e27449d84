/* user: what the rest of lipa asks of a user (a phone number with a name
 * and a language). Users are rows of the store (store_user_*); their REST
 * face is user/api.h. Thread-safe: all state is in the store. */
#ifndef LIPA_USER_H
#define LIPA_USER_H

#include "store/store.h"

#include <stdbool.h>
#include <stdint.h>

/* Whether texts to a buyer go in Swahili: the language of user id, else of
 * the user with this phone; English when neither is known. */
bool user_speaks_sw(struct store *st, int64_t id, const char *phone);

#endif
