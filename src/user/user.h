/* user: lipa's users (a phone number with a name and a language) and their
 * REST face: POST /users, GET /users/{id}, GET /users?phone=. Handlers run
 * on HTTP threads; all state is in the store. */
#ifndef LIPA_USER_H
#define LIPA_USER_H

#include "http/server.h"
#include "store/store.h"

#include <jansson.h>

/* The Profile shape of documents 000/002 plus lipa's fields; new reference. */
json_t *user_json(const struct user *u);
/* The caller's user id from a JSON value that may be a number or a digit
 * string (document 002 sends "userId": "string"): every form an F_ID field
 * check takes, 2.0 included, reads as that number; 0 if none. */
int64_t user_id_of(json_t *v);
/* Whether texts to a buyer go in Swahili: the language of user id, else of
 * the user with this phone; English when neither is known. */
bool user_speaks_sw(struct store *st, int64_t id, const char *phone);

void user_create(void *ctx, struct http_req *req, struct http_resp *resp);
void user_get(void *ctx, struct http_req *req, struct http_resp *resp);
void user_list(void *ctx, struct http_req *req, struct http_resp *resp);

#endif
