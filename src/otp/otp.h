/* otp: one-time water codes and the stations that check them (the water
 * face). A code is 6 digits from the CSPRNG, made when its SMS is sent (the
 * outbox holds "{code}", never the digits) and stored only as
 * HMAC-SHA256(pepper, reference || code); valid LIPA_OTP_TTL seconds and
 * LIPA_OTP_ATTEMPTS wrong tries, then blocked. Verifying locks a code to
 * one station. Thread-safe (state in the store). Owner: src/otp.
 *
 * Life of a code (db/005_otp.sql has the stored states):
 *
 *   payment completed -> pending (SMS queued) -> active (SMS sent: digits
 *   made, expiry starts) -> in_progress (a station verified it; bound to
 *   that station for LIPA_STATION_LOCK s) -> used (the station reported
 *   the litres that flowed)
 *
 * active turns expired after LIPA_OTP_TTL s, blocked after
 * LIPA_OTP_ATTEMPTS wrong codes. A resend (USSD) or POST /api/otp/generate
 * voids the payment's code and issues a fresh one. A station that verified
 * a code and never reports within LIPA_STATION_LOCK s: the code is counted
 * as dispensed (used, completion "lapsed", litres unknown) because the
 * station held the authorization for the whole amount; the station may
 * still report late (completion "late"), and an admin who finds the water
 * never flowed issues a fresh code with POST /api/otp/generate. */
#ifndef LIPA_OTP_H
#define LIPA_OTP_H

#include "app/app.h"
#include "store/otp.h"
#include "store/payments.h"
#include "store/sms.h"
#include "store/store.h"

#define OTP_DIGITS 6
#define OTP_MAX_CODES 10        /* codes a caller may have made for one payment (resends) */
#define OTP_LIST_DAYS 7         /* how far back "My water codes" looks */
#define OTP_STATION_KEY_LEN 40  /* characters of a station's API key */
#define OTP_STATION_FAILS 20    /* wrong or unknown codes a station may enter per LIPA_RATE_WINDOW */

/* The "water" purchase kind (see pay/purchase.h): finishing a completed
 * water payment creates its code record and queues the code SMS in the
 * same transaction; a failed one queues a short notice. */
void otp_water_prepare(struct app *a, struct payment *p);
bool otp_water_finish(struct app *a, struct payment *p);

/* The outbox's {code} placeholder: makes a fresh code for the message's
 * payment (voiding the previous one), stores its HMAC, and writes the
 * digits into out. */
bool otp_render_code(struct app *a, const struct outbox_msg *m, char *out, size_t n);

/* ---- pure parts (no store, no clock) ---- */

/* hex = HMAC-SHA256(pepper, reference || code), lower-case. */
void otp_code_hmac(const char *pepper, const char *reference, const char *code, char hex[65]);
/* The status c has at now: as stored, except that active past its expiry
 * reads "expired" and in_progress past its lock reads "used". */
const char *otp_status_at(const struct otp_code *c, int64_t now);
/* Wrong codes the caller may still enter. */
int64_t otp_remaining(const struct otp_code *c, int64_t now);

/* What a code operation came to. The API maps each to a status. */
enum otp_verdict {
    OTP_OK = 0,
    OTP_NOT_FOUND,      /* no such payment / code (or not the caller's) */
    OTP_PENDING,        /* the code SMS has not been sent yet */
    OTP_INVALID,        /* wrong code */
    OTP_EXPIRED,
    OTP_BLOCKED,
    OTP_USED,           /* dispensed already (by the asking station) */
    OTP_LOCKED,         /* bound to another station */
    OTP_IN_USE,         /* being dispensed (verify) */
    OTP_NOT_VERIFIED,   /* complete before verify */
    OTP_NOT_COMPLETED,  /* the payment is not completed */
    OTP_BAD_LITERS,     /* more litres than paid for / than authorized */
    OTP_LIMIT,          /* OTP_MAX_CODES reached (resend) */
    OTP_THROTTLED,      /* the station entered OTP_STATION_FAILS wrong codes */
    OTP_STORE,
};
const char *otp_verdict_name(enum otp_verdict v);
/* What verifying c as station_id at now answers before anything changes;
 * code_ok says whether the code matched. State errors come before the
 * code check, so only an active code counts attempts. */
enum otp_verdict otp_judge(const struct otp_code *c, const char *station_id, bool code_ok, int64_t now);

/* ---- codes ---- */

/* Checks code for reference as station st, atomically: a wrong code on an
 * active one counts an attempt (blocking at the limit); the right one
 * moves it to in_progress for st. A station that entered
 * OTP_STATION_FAILS wrong or unknown codes within LIPA_RATE_WINDOW s is
 * refused (OTP_THROTTLED) until the window closes. Of any number of concurrent calls for
 * one code, exactly one gets OTP_OK. out gets the code after the call
 * (when one exists). */
enum otp_verdict otp_verify(struct app *a, const char *reference, const char *code, const struct otp_station *st,
                            struct otp_code *out);
/* The station's report of what flowed (millilitres, at most the code's
 * litres): the code becomes used. A repeat with the same figure is OTP_OK
 * again; a different one OTP_USED. */
enum otp_verdict otp_complete(struct app *a, const char *reference, const struct otp_station *st,
                              int64_t dispensed_ml, struct otp_code *out);
/* Admin: a fresh active code for a completed water payment (liters 0: as
 * paid; else at most that), voiding the old; the digits go to code (shown
 * once, never stored). Refused while the code is being dispensed. */
enum otp_verdict otp_generate(struct app *a, const char *reference, int64_t liters, char code[OTP_DIGITS + 1],
                              struct otp_code *out);
/* USSD: a fresh code by SMS for the caller's own payment, voiding the old
 * one (the outbox makes the digits when it sends). */
enum otp_verdict otp_resend(struct app *a, const char *phone, const char *reference);
/* The caller's codes that may be resent (OTP_LIST_DAYS back), newest
 * first; the count or -1. */
int otp_live_codes(struct app *a, const char *phone, struct otp_code *out, int max);
/* A list label for c, never the digits: "20L CD12 14:05" (litres, the
 * reference's last four, valid until, East Africa Time) or the state
 * in lang. */
void otp_code_label(const struct otp_code *c, const char *lang, int64_t now, char *out, size_t n);

/* The SMS of a water payment, in Swahili when sw: the code's (resend: a
 * fresh code for a paid one; {code} is the outbox's), and the notice of
 * one that did not complete (cancelled, timeout, failed). Pure. */
void otp_code_text(const struct config *cfg, const struct payment *p, bool sw, bool resend, char *out, size_t n);
void otp_notice_text(const struct payment *p, bool sw, char *out, size_t n);

/* ---- stations (station.c) ---- */

/* hex = HMAC-SHA256(pepper, key). */
void otp_station_key_hmac(const char *pepper, const char *key, char hex[65]);
/* Registers s (id, name, location, pulses_per_liter; 0 pulses: the
 * LIPA_PULSES_PER_LITER default) with a new key, written to key (shown
 * once; only its HMAC is stored). ST_CONFLICT when the id exists. */
enum store_rc otp_station_register(struct app *a, struct otp_station *s, char key[OTP_STATION_KEY_LEN + 1]);
/* True when key is station_id's key (constant time); out gets the station. */
bool otp_station_auth(struct app *a, const char *station_id, const char *key, struct otp_station *out);
/* Pulses the station's meter counts for litres. */
int64_t otp_pulses(const struct otp_station *s, int64_t liters);

#endif
