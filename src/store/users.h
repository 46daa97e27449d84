/* store/users: the users table.
 *
 * Same rules as store.h: plain structs with fixed caps filled for the
 * caller, any function from any thread, writes serialized by the store. */
#ifndef LIPA_STORE_USERS_H
#define LIPA_STORE_USERS_H

#include "store/store.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* ---- users ---- */
struct user {
    int64_t id;
    char phone[16];
    char first_name[65], last_name[65], email[255];
    char role[8];       /* USER | ADMIN */
    char language[3];   /* en | sw */
    int64_t created_at, updated_at;
};
/* Inserts u (id ignored, set on success); ST_CONFLICT when the phone exists. */
enum store_rc store_user_create(struct store *st, struct user *u);
enum store_rc store_user_get(struct store *st, int64_t id, struct user *u);
enum store_rc store_user_by_phone(struct store *st, const char *phone, struct user *u);
enum store_rc store_user_set_language(struct store *st, int64_t id, const char *lang);
enum store_rc store_users_list(struct store *st, void (*fn)(void *, const struct user *), void *ctx);

#endif
