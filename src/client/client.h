/* client: integrators. A client is another company's back-end or web page
 * that sells its own packages and takes payment through lipa's integrator
 * faces. It holds an API key (shown once, stored as HMAC-SHA256 with the
 * pepper, so a copy of the database opens nothing) and a webhook secret
 * with which lipa signs the notices it posts to the client's callback URL
 * (shown once, stored sealed under a key derived from the pepper, because
 * lipa must read it back to sign).
 *
 * Owner: src/client. Thread-safe: all state is in the store. */
#ifndef LIPA_CLIENT_H
#define LIPA_CLIENT_H

#include "app/app.h"
#include "store/clients.h"
#include "store/payments.h"
#include "store/store.h"

#include <stdbool.h>
#include <stddef.h>

/* "lk_" and 40 letters and digits (about 238 bits). */
#define CLIENT_KEY_LEN 43
/* "whsec_" and 40 letters and digits. */
#define CLIENT_SECRET_LEN 46
/* The header of a signed notice: lower-case hex HMAC-SHA256 of the raw
 * body keyed with the webhook secret. */
#define CLIENT_SIGNATURE_HEADER "X-Lipa-Signature"

/* The stored form of an API key. Pure. */
void client_key_hmac(const char *pepper, const char *key, char hex[65]);

/* A new client named c->name with c->callback_url ("" for none), active:
 * fills c (id, times, the stored forms) and hands out the key and the
 * webhook secret once. ST_OK, or ST_ERROR (nothing shown then). */
enum store_rc client_create(struct app *a, struct client *c, char key[CLIENT_KEY_LEN + 1],
                            char secret[CLIENT_SECRET_LEN + 1]);
/* A new key for client id; the old one stops working at once. ST_NOT_FOUND
 * for an unknown client. */
enum store_rc client_new_key(struct app *a, const char *id, char key[CLIENT_KEY_LEN + 1]);
/* The client a presented key belongs to, active or not (the caller decides
 * what an inactive one may do); false for a key of nobody's. The work is
 * the same for any key. */
bool client_by_key(struct app *a, const char *key, struct client *c);
/* The key of an "Authorization: Bearer <key>" header value; NULL when the
 * value is not of that form. Pure; the result points into value. */
const char *client_bearer(const char *value);

/* c's webhook secret into out (CLIENT_SECRET_LEN + 1 bytes); false if the
 * sealed form does not open (the pepper changed, or the row was altered). */
bool client_secret(const struct app *a, const struct client *c, char out[CLIENT_SECRET_LEN + 1]);
/* The signature of body under secret: lower-case hex HMAC-SHA256. Pure. */
void client_sign(const char *secret, const char *body, size_t len, char hex[65]);

/* The finish of a client's payment (pay/purchase.h's kinds): runs inside
 * the finishing transaction. */
bool client_payment_finished(struct app *a, struct payment *p);

/* A new package of pk->client_id (id and times filled; active).
 * ST_NOT_FOUND when the client does not exist. */
enum store_rc client_package_create(struct app *a, struct package *pk);

#endif
