/* store/meters: meters (the devices face's devices), their assignment
 * to users, and the tokens applied to them.
 *
 * Same rules as store.h: plain structs with fixed caps filled for the
 * caller, any function from any thread, writes serialized by the store. */
#ifndef LIPA_STORE_METERS_H
#define LIPA_STORE_METERS_H

#include "store/store.h"
#include "store/users.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* ---- meters (devices) ---- */
struct meter {
    char id[65];
    char device_id[65];
    char name[65], product_name[129], description[257], location[129];
    bool active;
    int64_t price_per_kwh;   /* KES cents */
    char owner_phone[16];    /* E.164 or ""; see store_generate_assignments */
    int64_t created_at, updated_at;
};
enum store_rc store_meter_create(struct store *st, struct meter *m);
enum store_rc store_meter_get(struct store *st, const char *id, struct meter *m);
enum store_rc store_meter_update(struct store *st, const struct meter *m);
enum store_rc store_meter_delete(struct store *st, const char *id);
enum store_rc store_meters_list(struct store *st, void (*fn)(void *, const struct meter *), void *ctx);

/* ---- assignments ---- */
/* Assigning twice is fine (ST_OK); ST_NOT_FOUND if user or meter is missing;
 * ST_CONFLICT when the user has STORE_CALLER_METERS meters already: a caller
 * can use no more by USSD or SMS (store_caller), so no more are taken. */
enum store_rc store_assign(struct store *st, int64_t user_id, const char *meter_id, int64_t *assigned_at);
/* ST_NOT_FOUND when there was no such assignment. */
enum store_rc store_unassign(struct store *st, int64_t user_id, const char *meter_id);
bool store_is_assigned(struct store *st, int64_t user_id, const char *meter_id);
/* A user's meters in assignment order (oldest first); returns the count
 * written (<= max), or -1 on error. */
int store_user_meters(struct store *st, int64_t user_id, struct meter *out, int max);
enum store_rc store_user_meters_each(struct store *st, int64_t user_id,
                                     void (*fn)(void *, const struct meter *), void *ctx);
enum store_rc store_meter_users_each(struct store *st, const char *meter_id,
                                     void (*fn)(void *, const struct user *), void *ctx);
/* For every meter with an owner phone: makes sure a user with that phone
 * exists (creating it, language en) and the meter is assigned to them
 * (unless they have STORE_CALLER_METERS already: then it is left, and
 * logged). One transaction; counts what it created. */
enum store_rc store_generate_assignments(struct store *st, int *assignments, int *users);

/* ---- applied tokens ----
 * Tokens applied through POST /devices/{id}/add-token, so a token applies
 * once per meter. The caller passes an HMAC of the token (hex), never its
 * digits. */
/* ST_CONFLICT when this token was recorded for the meter before (also when
 * the meter was deleted meanwhile: the foreign key refuses the row). */
enum store_rc store_token_record(struct store *st, const char *meter_id, const char *token_hmac);
/* Drops a record again (its send failed); ST_NOT_FOUND when there was none. */
enum store_rc store_token_forget(struct store *st, const char *meter_id, const char *token_hmac);
/* Energy (tenths of a kWh) of the meter's completed payments created at or
 * after since_ms (0: all of them) into *tenths. */
enum store_rc store_meter_energy_bought(struct store *st, const char *meter_id, int64_t since_ms, int64_t *tenths);
/* The meter whose meter-cloud device id is device_id. */
enum store_rc store_meter_by_device(struct store *st, const char *device_id, struct meter *m);

#endif
