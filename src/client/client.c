/* client: integrators, their keys and webhook secrets; see client.h. */
#include "client/client.h"

#include "util/crypto.h"
#include "util/log.h"
#include "util/str.h"

#include <string.h>
#include <strings.h>

#define ALPHABET "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
/* What the sealing key is derived for: a new purpose gets a new label, so
 * no two uses of the pepper share a key. */
#define SEAL_LABEL "lipa/client/webhook-secret/v1"

void client_key_hmac(const char *pepper, const char *key, char hex[65])
{
    uint8_t mac[32];
    crypto_hmac_sha256(pepper, strlen(pepper), key, strlen(key), mac);
    crypto_hex(mac, sizeof mac, hex, false);
}

static void seal_key(const char *pepper, uint8_t key[32])
{
    crypto_hmac_sha256(pepper, strlen(pepper), SEAL_LABEL, strlen(SEAL_LABEL), key);
}

static bool new_key(char key[CLIENT_KEY_LEN + 1])
{
    memcpy(key, "lk_", 3);
    return crypto_random_chars(key + 3, CLIENT_KEY_LEN - 3, ALPHABET);
}

enum store_rc client_create(struct app *a, struct client *c, char key[CLIENT_KEY_LEN + 1],
                            char secret[CLIENT_SECRET_LEN + 1])
{
    uint8_t k[32];
    memcpy(secret, "whsec_", 6);
    bool ok = crypto_uuid4(c->id) && new_key(key) &&
              crypto_random_chars(secret + 6, CLIENT_SECRET_LEN - 6, ALPHABET);
    if (ok) {
        seal_key(a->cfg.pepper, k);
        ok = crypto_seal(k, secret, CLIENT_SECRET_LEN, c->secret_sealed, sizeof c->secret_sealed);
        explicit_bzero(k, sizeof k);
    }
    enum store_rc rc = ST_ERROR;
    if (ok) {
        client_key_hmac(a->cfg.pepper, key, c->key_hmac);
        c->active = true;
        rc = store_client_create(a->store, c);
    }
    if (rc != ST_OK) {
        explicit_bzero(key, CLIENT_KEY_LEN + 1);
        explicit_bzero(secret, CLIENT_SECRET_LEN + 1);
        return rc == ST_CONFLICT ? ST_ERROR : rc;
    }
    log_info("client.created", "client=%s", c->id);
    return ST_OK;
}

enum store_rc client_new_key(struct app *a, const char *id, char key[CLIENT_KEY_LEN + 1])
{
    char hex[65];
    if (!new_key(key))
        return ST_ERROR;
    client_key_hmac(a->cfg.pepper, key, hex);
    enum store_rc rc = store_client_set_key(a->store, id, hex);
    if (rc != ST_OK)
        explicit_bzero(key, CLIENT_KEY_LEN + 1);
    else
        log_info("client.key_replaced", "client=%s", id);
    return rc;
}

bool client_by_key(struct app *a, const char *key, struct client *c)
{
    if (!key || strlen(key) != CLIENT_KEY_LEN)
        return false;
    char hex[65];
    client_key_hmac(a->cfg.pepper, key, hex);
    /* the lookup is by the HMAC, which says nothing of the key's bytes; the
     * comparison after it is for form's sake */
    return store_client_by_key(a->store, hex, c) == ST_OK && crypto_eq(hex, 64, c->key_hmac, strlen(c->key_hmac));
}

const char *client_bearer(const char *value)
{
    if (!value || strncasecmp(value, "Bearer ", 7))
        return NULL;
    value += 7;
    while (*value == ' ')
        value++;
    return *value ? value : NULL;
}

bool client_secret(const struct app *a, const struct client *c, char out[CLIENT_SECRET_LEN + 1])
{
    uint8_t k[32];
    seal_key(a->cfg.pepper, k);
    bool ok = crypto_open(k, c->secret_sealed, out, CLIENT_SECRET_LEN + 1);
    explicit_bzero(k, sizeof k);
    return ok;
}

void client_sign(const char *secret, const char *body, size_t len, char hex[65])
{
    uint8_t mac[32];
    crypto_hmac_sha256(secret, strlen(secret), body, len, mac);
    crypto_hex(mac, sizeof mac, hex, false);
}

enum store_rc client_package_create(struct app *a, struct package *pk)
{
    if (!crypto_uuid4(pk->id))
        return ST_ERROR;
    pk->active = true;
    enum store_rc rc = store_package_create(a->store, pk);
    if (rc == ST_OK)
        log_info("package.created", "client=%s package=%s amount=%lld", pk->client_id, pk->id,
                 (long long)pk->amount);
    return rc;
}

bool client_payment_finished(struct app *a, struct payment *p)
{
    (void)a;
    (void)p;
    return true; /* TEMPORARY: the notice queue (client/notice.c) lands with the public payments face */
}
