/* store/otp: the rows of one-time water codes and of stations
 * (db/005_otp.sql). Plain reads and writes; what a state means and which
 * change is allowed is src/otp's business. Writes that must see and change
 * a code atomically are made inside store_begin/store_commit by the
 * caller (the process writer lock then serializes them). Same thread rules
 * as store.h. */
#ifndef LIPA_STORE_OTP_H
#define LIPA_STORE_OTP_H

#include "store/store.h"

struct otp_code {
    int64_t id, payment_id;
    char reference[40];
    int64_t liters;
    char code_hmac[65];        /* "" while pending */
    char status[12];           /* as stored: see db/005_otp.sql */
    int64_t attempts, max_attempts;
    int64_t expires_at;        /* ms; 0 while pending */
    char station_id[65];       /* "" when not verified */
    int64_t verified_at, lock_until, completed_at; /* ms; 0 when none */
    int64_t dispensed_ml;      /* -1 when not reported */
    char completion[8];
    char origin[8];
    char phone[16];            /* the payment's phone (read only) */
    int64_t created_at, updated_at;
};

struct otp_station {
    char id[65], name[129], location[129];
    int64_t pulses_per_liter;
    char key_hmac[65];
    int64_t created_at, updated_at;
};

/* The id of the payment with this reference (any kind). */
enum store_rc store_otp_payment_id(struct store *st, const char *reference, int64_t *id);

/* The current code (newest row not 'void') of a reference / a payment. */
enum store_rc store_otp_current(struct store *st, const char *reference, struct otp_code *c);
enum store_rc store_otp_current_of(struct store *st, int64_t payment_id, struct otp_code *c);
enum store_rc store_otp_get(struct store *st, int64_t id, struct otp_code *c);
/* How many codes the payment ever had (void ones included). */
int64_t store_otp_count(struct store *st, int64_t payment_id);

/* Inserts c (payment_id, reference, liters, code_hmac or "", status,
 * max_attempts, expires_at, origin); sets c->id. */
enum store_rc store_otp_insert(struct store *st, struct otp_code *c);
/* Voids the payment's codes that may still be handed out or retried
 * (pending, active, expired, blocked); in_progress and used stay. */
enum store_rc store_otp_void_live(struct store *st, int64_t payment_id);
/* pending -> active with its HMAC and expiry; ST_CONFLICT when the row was
 * no longer pending. */
enum store_rc store_otp_fill(struct store *st, int64_t id, const char *code_hmac, int64_t expires_at);
/* Writes what time made of a code: active past expires_at -> expired,
 * in_progress past lock_until -> used (completion 'lapsed'). *changed
 * tells whether the row moved. */
enum store_rc store_otp_settle(struct store *st, int64_t id, int64_t now, bool *changed);
/* One wrong code on an active row: attempts + 1, and blocked when that
 * reaches max_attempts. ST_CONFLICT when the row was not active. */
enum store_rc store_otp_fail(struct store *st, int64_t id);
/* active (and unexpired at now) -> in_progress for station until
 * lock_until; ST_CONFLICT when another change came first. */
enum store_rc store_otp_lock(struct store *st, int64_t id, const char *station_id, int64_t now,
                             int64_t lock_until);
/* The station's report: in_progress (or used with nothing reported, after
 * a lapse) -> used with dispensed_ml; completion names which. ST_CONFLICT
 * when the row was in neither state or is bound to another station. */
enum store_rc store_otp_complete(struct store *st, int64_t id, const char *station_id, int64_t dispensed_ml,
                                 const char *completion, int64_t now);
/* A phone's codes that may be resent (pending, active, expired, blocked),
 * created at or after since (ms), newest first. Returns the count (<= max)
 * or -1 on error. */
int store_otp_live_for_phone(struct store *st, const char *phone, int64_t since, struct otp_code *out, int max);

/* ---- stations ---- */
/* ST_CONFLICT when the id (or, vanishingly, the key) exists. */
enum store_rc store_station_create(struct store *st, struct otp_station *s);
enum store_rc store_station_get(struct store *st, const char *id, struct otp_station *s);
enum store_rc store_stations_list(struct store *st, void (*fn)(void *, const struct otp_station *), void *ctx);
/* Failures (wrong or unknown codes) of a station in a fixed window that
 * opens with the first one: counts one at now; and whether max were
 * counted in the window that is open at now. */
enum store_rc store_station_failed(struct store *st, const char *id, int64_t now, int64_t window_ms);
bool store_station_throttled(struct store *st, const char *id, int64_t now, int64_t window_ms, int64_t max);

#endif
