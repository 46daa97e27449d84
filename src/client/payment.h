/* client/payment: packages bought through the integrators' public
 * payments (client/api_v1.c): an integrator names its package and the
 * payer's phone, and lipa asks the payer for the package's amount by
 * M-Pesa STK push.
 *
 * Such a purchase is a row of the one payments table: kind "package",
 * origin "api", provider "mpesa", client_id and package_id set, a
 * transaction_id (UUID) the integrator knows it by, a reference
 * PKG-<yyyymmddhhmmss>-<6 letters or digits> (the time in Nairobi, UTC+3,
 * where integrators and payers are; the same clock M-Pesa's statements
 * use) and the integrator's description, whole, as its note. The amount
 * is the package's at the request, never the request's. The payment worker
 * (pay/purchase.c) pushes, settles and times it out like any purchase; the
 * kind's finish queues a signed notice to the client's callback URL
 * (client/notice.h). The integrators' statuses are four: pending,
 * completed, failed (any result but success or a cancel, including no
 * answer in time), cancelled.
 *
 * Thread-safe (state in the store); the pure functions say so. */
#ifndef LIPA_CLIENT_PAYMENT_H
#define LIPA_CLIENT_PAYMENT_H

#include "app/app.h"
#include "store/clients.h"
#include "store/payments.h"
#include "store/store.h"

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define CLIENT_REF_MAX 32          /* PKG-20260128150605-abc123 and its NUL fit */
#define CLIENT_NOTE_MAX 255        /* bytes of the integrator's description */

/* A new reference for the instant ms into out; false only when the CSPRNG
 * failed. */
bool client_reference(int64_t ms, char out[CLIENT_REF_MAX]);
/* ref has a reference's shape. Pure. */
bool client_reference_ok(const char *ref);

/* The required fields missing from body (absent, null, or a string of
 * blanks only), named in the order of names (ended by NULL) and joined by
 * ", " into out; how many there are. Pure. */
int client_missing_fields(const json_t *body, const char *const *names, char *out, size_t n);

/* p's status as integrators see it: pending (still open), completed,
 * cancelled, or failed (every other end). Pure. */
const char *client_payment_status(const struct payment *p);
/* The status answer: transaction_id, checkout_id (null before the push),
 * status, amount, reference, phone_number (+254...). New reference. Pure. */
json_t *client_payment_json(const struct payment *p);
/* The notice of p's outcome: the status answer plus event
 * ("payment.completed", "payment.failed", "payment.cancelled"), timestamp
 * (now_ms, ISO 8601 UTC), client_id, package_id, description,
 * mpesa_receipt (null unless paid) and result_desc. New reference. Pure. */
json_t *client_payment_notice(const struct payment *p, int64_t now_ms);

/* Stores a purchase of package pk (of client c, both active: the caller
 * checked) for phone (E.164) with the integrator's description (at most
 * CLIENT_NOTE_MAX bytes), pending, and wakes the payment worker. idem_key
 * and idem_fp (pay/idem.h) may be NULL. ST_OK with p the new row;
 * ST_CONFLICT with p the row idem_key made before (the caller compares
 * its idem_fp); ST_ERROR. */
enum store_rc client_payment_start(struct app *a, const struct client *c, const struct package *pk,
                                   const char *phone, const char *description, const char *idem_key,
                                   const char *idem_fp, struct payment *p);

/* The kind "package" (pay/purchase.h's table): before the final status is
 * stored, an end without an answer ("timeout") becomes "failed", the
 * integrators' word for it; inside the finishing transaction, the notice
 * to the client's callback URL is queued. */
void client_package_prepare(struct app *a, struct payment *p);
bool client_package_finish(struct app *a, struct payment *p);

/* ---- Paystack charges (the integrators' Bearer-key face, src/charge) ---- */
/* A charge's status as that face names it, Paystack's words: pending,
 * success, failed, cancelled, abandoned. Pure. */
const char *client_charge_status(const struct payment *p);
/* The notice of a charge's outcome: event "payment.<status>", timestamp
 * (ISO 8601 UTC), client_id, reference, amount (KES), currency, status,
 * phone (2547...), result_desc; bookingId when the charge has one (read
 * from the store). New reference. */
json_t *client_charge_notice(struct app *a, const struct payment *p, int64_t now_ms);
/* The kind "charge" (pay/purchase.h's table): nothing to top up; the
 * finish queues the notice. */
void client_charge_prepare(struct app *a, struct payment *p);
bool client_charge_finish(struct app *a, struct payment *p);

#endif
