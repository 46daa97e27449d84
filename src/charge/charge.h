/* charge: integrators' payments through Paystack (the Bearer-key face):
 * hosted checkouts, M-Pesa charges, their settling by webhook or by
 * verifying, cancel and retry, and escrow: money a booking holds until the
 * client releases it to the teacher by a Paystack transfer.
 *
 * A charge is a payment of kind "charge", provider "paystack", naming its
 * client; amounts are whole KES here and subunits at Paystack. Nothing is
 * marked paid on a guess: only Paystack's word (a signed event, or a
 * verify) with the amount and currency asked.
 *
 * Calls that reach Paystack block for up to its timeout: lane threads and
 * workers only, never a USSD hop. Thread-safe (state in the store). */
#ifndef LIPA_CHARGE_H
#define LIPA_CHARGE_H

#include "app/app.h"
#include "store/charges.h"
#include "store/clients.h"
#include "store/payments.h"
#include "util/config.h"
#include "util/err.h"

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* A failed, cancelled or abandoned charge may be tried again this many
 * times (the retries of a retry count towards its original's limit). */
#define CHARGE_RETRY_MAX 3
#define CHARGE_REF_MAX 40
/* Test keys ("sk_test_..."): Paystack's test M-Pesa takes these only. */
#define CHARGE_TEST_PHONE "+254708374176"
#define CHARGE_TEST_EMAIL "test@example.com"

enum charge_method { CHARGE_CARD, CHARGE_MPESA, CHARGE_MPESA_DIRECT };

struct charge_req {
    enum charge_method method;
    char email[255];
    int64_t amount;                 /* whole KES */
    char phone[16];                 /* E.164; "" for a card checkout without one */
    char booking_id[65];
    json_t *metadata;               /* borrowed; may be NULL */
    int64_t retry_of;               /* payment id of the original; 0 for none */
};

/* The Paystack secret is a test key. Pure. */
bool charge_test_mode(const struct config *cfg);
/* Test mode's rules, applied to r: the phone and e-mail become Paystack's
 * test ones and the amount must be 100, 200, ... 1000; false with why
 * (naming the field) otherwise. Outside test mode, true and r unchanged. */
bool charge_test_rules(const struct config *cfg, struct charge_req *r, char *why, size_t whysz);
/* The network of a Kenyan mobile number (E.164) by its prefix: "Safaricom",
 * "Airtel", "Telkom", or NULL when none of the three. Pure. */
const char *charge_network(const char *e164);
/* "CH-<epoch ms>-<8 upper-case letters and digits>": Paystack's alphabet. */
bool charge_reference(int64_t ms, char out[CHARGE_REF_MAX]);

/* What starting a charge gave: Paystack's checkout or its words for the
 * payer. */
struct charge_started {
    char authorization_url[512], access_code[128];
    char display_text[256];
    int64_t retry_count;            /* which retry of its original; 0 for none */
};
/* Stores a charge of client c and starts it at Paystack. ERR_OK with p
 * stored (processing); ERR_VALIDATION (why names the field; nothing
 * stored); ERR_CONFLICT for a retry (r->retry_of) of an original retried
 * CHARGE_RETRY_MAX times already, ERR_UNPROCESSABLE for one while an
 * earlier retry of it is still open (nothing stored); ERR_PROVIDER when
 * Paystack refused (p stored as failed) or did not answer (p stays open:
 * the sweeper verifies it, since the charge may have reached Paystack);
 * ERR_INTERNAL. */
enum err charge_start(struct app *a, const struct client *c, const struct charge_req *r, struct payment *p,
                      struct charge_started *out, char *why, size_t whysz);

/* What Paystack says of a charge (verify or event). */
struct charge_news {
    const char *status;              /* success | failed | abandoned | reversed | ... */
    int64_t amount;                  /* subunits; -1 when unknown */
    const char *currency, *channel, *receipt, *paid_at, *gateway_response;
};
/* Applies news to charge p, once. A success with the amount and currency
 * asked completes an open p, and also one that was cancelled, failed or
 * abandoned meanwhile (the money was taken: it is never lost; a cancel
 * that came too late is recorded); a success for another amount, "failed"
 * or "reversed" fail an open p; "abandoned" abandons an open p whose
 * checkout time is over. p is re-read. False only on a store error. */
bool charge_apply(struct app *a, struct payment *p, const struct charge_news *n);
/* Asks Paystack about p now and applies the answer; false when Paystack
 * did not answer (why says so). */
bool charge_verify(struct app *a, struct payment *p, char *why, size_t whysz);
/* Cancels p while it is open: ERR_OK; ERR_CONFLICT when it is final. */
enum err charge_cancel(struct app *a, struct payment *p, const char *reason);

/* The sweeper: verifies open charges LIPA_SETTLE_AFTER after they were
 * made, then every minute; sends the escrow releases Paystack did not
 * answer (again, with the same reference), and asks Paystack about
 * pending transfers whose event has not come (LIPA_SETTLE_AFTER after the
 * transfer, then every minute). Returns how many it looked at. */
int charge_work(struct app *a);

/* ---- escrow ---- */
/* Releases amount of booking's escrow to the teacher's phone (E.164,
 * Safaricom): idem_key (the client's Idempotency-Key; NULL or "" for a new
 * release every time) makes a repeat the same release; the same key for
 * another booking, phone or amount is ERR_CONFLICT. ERR_UNPROCESSABLE when
 * the booking does not hold that much (why says what it holds). Sends the
 * transfer once stored (the sweeper sends it again, with the same
 * reference, when Paystack did not answer). r gets the release. */
enum err charge_release(struct app *a, const struct client *c, const char *booking_id, const char *phone,
                        int64_t amount, const char *idem_key, struct escrow_release *r, char *why,
                        size_t whysz);

/* ---- Paystack's events ---- */
enum charge_event_rc {
    CEV_APPLIED,     /* applied now */
    CEV_REPEAT,      /* seen before: nothing applied again */
    CEV_UNKNOWN,     /* recorded; no payment or release of that reference */
    CEV_IGNORED,     /* recorded; an event lipa does not act on */
    CEV_BAD,         /* not a Paystack event */
    CEV_ERROR,       /* could not be applied: Paystack should send it again */
};
/* Applies one event whose signature the caller has checked: charges of
 * every kind (the integrators', water orders) and transfers. */
enum charge_event_rc charge_event(struct app *a, const char *body, size_t len);

#endif
