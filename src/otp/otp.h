/* otp: one-time water codes and the stations that check them (document
 * 001). A code is 6 digits from the CSPRNG, made when its SMS is sent (the
 * outbox holds "{code}", never the digits) and stored only as
 * HMAC-SHA256(pepper, reference || code); valid LIPA_OTP_TTL seconds and
 * LIPA_OTP_ATTEMPTS wrong tries, then blocked. Verifying locks a code to
 * one station. Thread-safe (state in the store). Owner: src/otp. */
#ifndef LIPA_OTP_H
#define LIPA_OTP_H

#include "app/app.h"
#include "store/store.h"

/* The "water" purchase kind (see pay/purchase.h): finishing a completed
 * water payment creates its code record and queues the code SMS in the
 * same transaction; a failed one queues a short notice. */
void otp_water_prepare(struct app *a, struct payment *p);
bool otp_water_finish(struct app *a, struct payment *p);

/* The outbox's {code} placeholder: makes a fresh code for the message's
 * payment (voiding the previous one), stores its HMAC, and writes the
 * digits into out. */
bool otp_render_code(struct app *a, const struct outbox_msg *m, char *out, size_t n);

#endif
