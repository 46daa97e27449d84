/* pay/idem: Idempotency-Key on the REST faces that start payments.
 *
 * The key is the client's choice, so two rules keep it from reaching
 * anyone else's payment:
 *
 *   - scoped to its caller: the key stored (payments.idem_key) is
 *     "<face>:<scope>:<key>", where the face names who calls (the public
 *     water checkout, the admin, an integrator) and the scope the caller
 *     within it (the payer's phone number, a client id); a face with one
 *     caller (the admin) has no scope: "<face>:<key>". The same key from
 *     two callers is two keys.
 *   - bound to its request: the fingerprint of the request's meaningful
 *     fields (each face adds its own with idem_text/idem_int) is stored with
 *     the payment (payments.idem_fp). The same key again with the same
 *     fields is the same payment; with other fields it is refused
 *     (idem_conflicts; the faces answer 422 naming Idempotency-Key), never
 *     answered with the payment the key first made.
 *
 * A payment stored before fingerprints existed has none and matches any
 * request under its key (only the admin face's keys are spelt as before).
 * Pure functions on the caller's struct; thread-safe. */
#ifndef LIPA_PAY_IDEM_H
#define LIPA_PAY_IDEM_H

#include "store/store.h"
#include "store/payments.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define IDEM_VALUE_MAX 64  /* characters of the header's value */
#define IDEM_FACE_MAX 8    /* a face's name */
#define IDEM_SCOPE_MAX 20  /* a caller within a face: an E.164 number, a client id */

struct idem {
    char key[96];          /* payments.idem_key; "" when the request had no key */
    char fp[65];           /* the request's fingerprint (hex), as fields are added */
    unsigned char state[32];
};

/* Starts id for a request of face (a constant) by the caller scope (NULL
 * for a face with one caller) carrying header, the Idempotency-Key value
 * (NULL or "": no key, and every request is new). False, with why naming
 * Idempotency-Key, when the value is longer than IDEM_VALUE_MAX or holds
 * anything but letters, digits and - _ . + / = ; also false (why says so)
 * when scope is longer than IDEM_SCOPE_MAX or holds anything else. */
bool idem_begin(struct idem *id, const char *face, const char *scope, const char *header, char *why,
                size_t whysz);
/* Adds one meaningful field to the fingerprint; name is a constant. A
 * NULL value differs from "". Order matters: a face adds its fields in
 * one fixed order. */
void idem_text(struct idem *id, const char *name, const char *value);
void idem_int(struct idem *id, const char *name, int64_t value);
/* True when p, the payment id's key found (store_payment_create's row),
 * was made by a different request: the caller refuses this one. False
 * for a request without a key, for the same request, and for a payment
 * stored without a fingerprint. */
bool idem_conflicts(const struct idem *id, const struct payment *p);

#endif
