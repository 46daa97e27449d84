/* user/api: the /users REST face (POST /users, GET /users/{id},
 * GET /users?phone=) and the user's JSON shape the other faces show.
 * Handlers run on HTTP threads; all state is in the store. */
#ifndef LIPA_USER_API_H
#define LIPA_USER_API_H

#include "http/server.h"
#include "store/store.h"
#include "store/users.h"

#include <jansson.h>
#include <stdint.h>

/* A user as the faces show it (phone, names, role, language, times); new
 * reference. */
json_t *user_json(const struct user *u);
/* The caller's user id from a JSON value that may be a number or a digit
 * string ("userId": "12"): every form an F_ID field check takes, 2.0
 * included, reads as that number; 0 if none. */
int64_t user_id_of(json_t *v);

extern const struct http_route user_routes[];

#endif
