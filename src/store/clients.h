/* store/clients: integrators (clients), their packages (db/012_clients.sql).
 * A client's API key is kept only as key_hmac and its webhook secret only
 * sealed (client/client.h makes both). Same thread rules as store.h. */
#ifndef LIPA_STORE_CLIENTS_H
#define LIPA_STORE_CLIENTS_H

#include "store/store.h"

#include <stdbool.h>
#include <stdint.h>

#define CLIENT_NAME_MAX 128
#define CLIENT_URL_MAX 512

struct client {
    char id[37];                       /* UUID */
    char name[CLIENT_NAME_MAX + 1];
    bool active;
    char callback_url[CLIENT_URL_MAX + 1]; /* "" for none */
    char key_hmac[65];
    char secret_sealed[256];
    int64_t created_at, updated_at;
};

struct package {
    char id[37], client_id[37];
    char name[CLIENT_NAME_MAX + 1];
    int64_t amount;                    /* whole KES */
    char description[257];
    bool active;
    int64_t created_at, updated_at;
};

/* Inserts c (every field but the times, which it sets). */
enum store_rc store_client_create(struct store *st, struct client *c);
enum store_rc store_client_get(struct store *st, const char *id, struct client *c);
/* The client whose key_hmac is this (ST_NOT_FOUND when none). */
enum store_rc store_client_by_key(struct store *st, const char *key_hmac, struct client *c);
/* Every client, oldest first. */
enum store_rc store_clients_list(struct store *st, void (*fn)(void *, const struct client *), void *ctx);
/* Writes name, active and callback_url of c->id (and updated_at). */
enum store_rc store_client_update(struct store *st, struct client *c);
/* Replaces the key: the old one stops working with this commit. */
enum store_rc store_client_set_key(struct store *st, const char *id, const char *key_hmac);

/* Inserts pk; ST_NOT_FOUND when its client does not exist. */
enum store_rc store_package_create(struct store *st, struct package *pk);
enum store_rc store_package_get(struct store *st, const char *id, struct package *pk);
/* A client's packages, oldest first. */
enum store_rc store_packages_list(struct store *st, const char *client_id,
                                  void (*fn)(void *, const struct package *), void *ctx);
/* Writes name, amount, description and active of pk->id. */
enum store_rc store_package_update(struct store *st, struct package *pk);

#endif
