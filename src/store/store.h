/* store: the one module that touches SQLite. One database file in WAL mode,
 * schema from numbered migration files (db/NNN_*.sql) applied at start-up,
 * prepared statements only (cached per connection).
 *
 * Threads: every thread gets its own connection on first use (a thread-local
 * held through a pthread key), so any function may be called from any
 * thread; writers serialize inside SQLite (busy timeout 5 s). Transactions
 * (store_begin/commit/rollback) are per thread.
 *
 * Structs are plain data with fixed caps; functions fill the caller's
 * struct. List functions call fn once per row (rows are lent for the call). */
#ifndef LIPA_STORE_H
#define LIPA_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum store_rc { ST_OK = 0, ST_NOT_FOUND, ST_CONFLICT, ST_ERROR };

struct store;

/* Opens (creating) the database at path, applies the migrations found in
 * migrations_dir. NULL with a message in err on failure. */
struct store *store_open(const char *path, const char *migrations_dir, char *err, size_t errsz);
void store_close(struct store *st);
/* Cheap liveness probe for /api/health. */
bool store_ping(struct store *st);

enum store_rc store_begin(struct store *st);
enum store_rc store_commit(struct store *st);
void store_rollback(struct store *st);

/* Group commit. store_submit queues write for the store's committer
 * thread, which runs all queued writes in one transaction (each in its own
 * savepoint, so one refusal spoils nothing else), commits once, and then
 * calls each done(arg, rc) in queue order on that thread: rc is what the
 * write returned, or ST_ERROR for every write of a batch whose commit
 * failed. write must only use store functions (it runs inside the
 * transaction). False when nothing could be queued (out of memory, or the
 * store is closing). store_close runs what is queued before it returns.
 * For a caller that must not wait while the write is stored: M-Pesa's
 * callback, answered once it is stored. */
typedef enum store_rc (*store_write_fn)(struct store *st, void *arg);
typedef void (*store_done_fn)(void *arg, enum store_rc rc);
bool store_submit(struct store *st, store_write_fn write, store_done_fn done, void *arg);

/* ---- users ---- */
struct user {
    int64_t id;
    char phone[16];
    char first_name[65], last_name[65], email[255];
    char role[8];       /* USER | ADMIN */
    char language[3];   /* en | sw */
    int64_t created_at, updated_at;
};
/* Inserts u (id ignored, set on success); ST_CONFLICT when the phone exists. */
enum store_rc store_user_create(struct store *st, struct user *u);
enum store_rc store_user_get(struct store *st, int64_t id, struct user *u);
enum store_rc store_user_by_phone(struct store *st, const char *phone, struct user *u);
enum store_rc store_user_set_language(struct store *st, int64_t id, const char *lang);
enum store_rc store_users_list(struct store *st, void (*fn)(void *, const struct user *), void *ctx);

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

/* ---- payments ---- */
struct payment {
    int64_t id;
    char kind[16], origin[8], idem_key[96];
    int64_t user_id;           /* 0 when none */
    char phone[16], meter_id[65];
    int64_t amount, energy;    /* KES; tenths of a kWh */
    char account_reference[16], description[16];
    char status[12];
    int64_t result_code;       /* -1 when none yet */
    char result_desc[256];
    char merchant_request_id[64], checkout_request_id[64];
    char response_code[16], response_description[256], customer_message[256];
    char mpesa_receipt[32];
    int64_t paid_amount;       /* -1 when none */
    int64_t attempts, next_at;
    char last_error[256];
    char topup_status[12];     /* none|queued|sending|checking|done|failed */
    int64_t topup_attempts, topup_next_at;
    char topup_error[256];
    int64_t token_minute;      /* -1 when no token */
    int64_t version;           /* bumped by every save/finish */
    int64_t created_at, updated_at;
    char provider[12];         /* mpesa | paystack ("" = mpesa on create) */
    char reference[40];        /* water orders: WS-<ms>-<8>; "" for none */
    int64_t liters;            /* water orders */
    char currency[4];          /* "" = KES on create */
    int64_t topup_sent_at;     /* when the last top-up attempt went out; 0: none out */
    char idem_fp[65];          /* fingerprint of the request that chose
                                  idem_key (pay/idem.h); "" for none. Not
                                  kept by the intake (store_take_payment):
                                  its purchases' keys are the server's */
};
/* Inserts p as pending, due now. With an idem_key that exists already,
 * fills p with the existing row and returns ST_CONFLICT (no second row);
 * the caller compares that row's idem_fp with its own request's. */
enum store_rc store_payment_create(struct store *st, struct payment *p);
/* Purchases taken in (store/intake.h): for a caller that must answer
 * before the database has the purchase, the USSD hop that confirms one.
 * store_take_payment writes p (which must have an idem_key: that is what
 * keeps a purchase stored twice from becoming two) to the intake, a file
 * next to the database, and queues it for the group commit. Once it has
 * returned true, p survives lipad being killed; false when nothing was
 * written. done(arg, rc, row) runs on the committer thread once p is in
 * the database (ST_OK; ST_CONFLICT: its idem_key was there already; row
 * is the stored row) or never can be (ST_NOT_FOUND: its user or meter went
 * away; row is p). A write the database refuses otherwise is tried again
 * by store_maintain, with backoff, until it goes in; store_open stores
 * what a killed lipad left in the intake, and done is not called for
 * those (the payment worker finds them due). */
typedef void (*store_taken_fn)(void *arg, enum store_rc rc, const struct payment *row);
bool store_take_payment(struct store *st, const struct payment *p, store_taken_fn done, void *arg);
/* Purchases taken in that the database refused, waiting to be tried again
 * (the /metrics gauge lipa_purchases_waiting). */
int store_take_waiting(struct store *st);
enum store_rc store_payment_get(struct store *st, int64_t id, struct payment *p);
enum store_rc store_payment_by_checkout(struct store *st, const char *checkout_id, struct payment *p);
enum store_rc store_payments_list(struct store *st, const char *kind,
                                  void (*fn)(void *, const struct payment *), void *ctx);
/* Due work: a provider's payments pending/processing with next_at <= now. */
int store_payments_due(struct store *st, const char *provider, int64_t now, struct payment *out, int max);
/* Top-ups to send (queued) or to check with the meter cloud (sending,
 * checking) whose topup_next_at has come. */
int store_topups_due(struct store *st, int64_t now, struct payment *out, int max);
/* At start-up: top-ups left 'sending' by a lipad that stopped before the
 * meter cloud answered become 'checking', with why as their topup_error. */
enum store_rc store_topups_recover(struct store *st, const char *why);
/* Completed purchases of meter_id with this energy whose top-up is done,
 * sending or checking with topup_sent_at in [from, to], oldest first (the
 * top-up check's cluster); the count (<= max) or -1 on error. */
int store_topup_tries(struct store *st, const char *meter_id, int64_t energy, int64_t from, int64_t to,
                      struct payment *out, int max);
/* Makes a pending payment due at now; ST_NOT_FOUND when it is not pending
 * or was due already. */
enum store_rc store_payment_due_now(struct store *st, int64_t id, int64_t now);
/* Writes every mutable column of p (status, provider fields, scheduling,
 * top-up, token) by id, only if the row is still at p->version (then bumps
 * it); ST_CONFLICT when someone else changed the row since p was read. */
enum store_rc store_payment_save(struct store *st, struct payment *p);
/* Moves p from pending/processing to a final status, only if it is still
 * pending/processing (idempotence): ST_CONFLICT when it already was final. */
enum store_rc store_payment_finish(struct store *st, struct payment *p);

/* Raw callbacks: record one; fetch the oldest unapplied body for a
 * checkout id (ST_NOT_FOUND if none); mark all for it applied. */
enum store_rc store_callback_add(struct store *st, const char *checkout_id, int64_t result_code,
                                 const char *body, int64_t *id);
enum store_rc store_callback_pending(struct store *st, const char *checkout_id, char *body, size_t bodysz);
enum store_rc store_callback_applied(struct store *st, const char *checkout_id);
/* Callbacks not looked at yet (oldest first), and parking one whose
 * purchase is not known yet (store_callback_pending still finds it). */
struct store_callback {
    int64_t id;
    char body[8192];
};
int store_callbacks_new(struct store *st, struct store_callback *out, int max);
enum store_rc store_callback_waiting(struct store *st, int64_t id);

/* ---- outbox ---- */
struct outbox_msg {
    int64_t id;
    char phone[16];
    char body[1024];
    char kind[12];
    int64_t payment_id;        /* 0 when none */
    char status[12];
    int64_t attempts, next_at;
    char last_error[256];
    char provider_id[96];
    char encoding[8];
    int64_t parts;
    int64_t created_at, updated_at;
};
/* Queues m (status queued, due now); part count and encoding are the
 * caller's. Call inside the transaction of the change that causes it. */
enum store_rc store_outbox_add(struct store *st, struct outbox_msg *m);
int store_outbox_due(struct store *st, int64_t now, struct outbox_msg *out, int max);
enum store_rc store_outbox_save(struct store *st, const struct outbox_msg *m);
enum store_rc store_outbox_list(struct store *st, const char *phone, const char *status, int64_t limit,
                                int64_t offset, void (*fn)(void *, const struct outbox_msg *), void *ctx);
/* queued + sending rows. */
int64_t store_outbox_depth(struct store *st);
/* After a crash: rows left "sending" go back to queued. */
enum store_rc store_outbox_recover(struct store *st);

/* ---- the caller of a USSD hop (cached; see store/hot.h) ---- */
#define STORE_CALLER_METERS 32
struct store_caller_meter {
    char id[65], name[65];
    int64_t price_per_kwh;
    bool active;
};
struct store_caller {
    bool registered;
    struct user user;
    int nmeters;             /* the first STORE_CALLER_METERS assigned meters */
    struct store_caller_meter meters[STORE_CALLER_METERS];
};
/* The user with this phone and their meters, from memory when nothing
 * about users, meters or assignments changed since it was cached. */
enum store_rc store_caller(struct store *st, const char *phone, struct store_caller *c);

/* ---- USSD sessions and events ----
 * Sessions live in the store's memory only, for a minute after their last
 * hop. A session lipad does not have (after a restart, or a sessionId AT
 * changed) is rebuilt from AT's text by ussd/handler.c, so writing them to
 * SQLite would buy nothing; purchases they start are rows like any other. */
struct ussd_row {
    char state[4096];
    char last_text[256];
    char last_reply[512];
    int64_t updated_at;
};
enum store_rc store_session_get(struct store *st, const char *id, struct ussd_row *r);
enum store_rc store_session_put(struct store *st, const char *id, const char *phone, const struct ussd_row *r);
/* Now and then (a worker, every poll): drops sessions and cached callers
 * idle over a minute from memory (and gives the memory back to the system
 * after a burst), and copies the WAL back into the database. */
void store_maintain(struct store *st);

/* Memory caps: sessions and cached callers held at most (defaults below;
 * lipad sets LIPA_SESSIONS_MAX and LIPA_CALLERS_MAX). When a table is full,
 * a new entry takes the place of the least recently used one: a session
 * dropped early is rebuilt from AT's text on its next hop, a caller is
 * read from the database again. Call store_memory_caps right after
 * store_open, before any other thread uses st (it replaces the tables,
 * empty then); false when out of memory (the old ones stay). */
#define STORE_SESSIONS_MAX 100000
#define STORE_CALLERS_MAX 100000
bool store_memory_caps(struct store *st, size_t max_sessions, size_t max_callers);
struct store_memory {
    int64_t sessions, callers;     /* held now */
    int64_t bytes;                 /* their entries' allocations */
    int64_t sessions_dropped, callers_dropped; /* to make room: a cap was reached */
};
void store_memory(struct store *st, struct store_memory *m);
struct ussd_event {
    char session_id[128], phone[16], service_code[32], network_code[16], status[16];
    char cost[32], input[256], error[256], date[32];
    int64_t duration_ms, hops;
};
/* A repeated notification (same session, same status) is ST_CONFLICT. */
enum store_rc store_ussd_event_add(struct store *st, const struct ussd_event *e);

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
