/* e2e harness: starts the real lipad and lipa-sandbox on loopback, speaks
 * HTTP to both, waits for things a user would notice (an SMS, a status).
 * Binaries come from $LIPA_TEST_BIN (default bin). Not thread-safe; one
 * test process at a time per instance. */
#ifndef LIPA_E2E_HARNESS_H
#define LIPA_E2E_HARNESS_H

#include <jansson.h>
#include <stdbool.h>
#include <sys/types.h>

#define ADMIN_KEY "e2e-admin-key-0123456789"
#define PEPPER "e2e-pepper-abcdefghijklmnop"
#define CB_SECRET "e2e-callback-secret"

struct lipad {
    pid_t pid;
    int port;
    char dir[256];     /* its database and logs */
    char log[300];
    char db[400];      /* LIPA_DB: dir/lipa.db, or a PostgreSQL database's URI */
};

struct http_result {
    long status;
    char *body;        /* malloc'ed, NUL-terminated */
    json_t *json;      /* parsed body or NULL */
};

/* Sandbox shared by the suite (started once in main). */
extern int h_sandbox_port;
extern struct lipad h_main;

void h_sandbox_start(int port, int callback_delay_ms);
void h_sandbox_stop(void);
/* Another sandbox of a test's own on port, with extra options (a
 * NULL-terminated list, may be NULL), logging to log; waits until it
 * answers. Its pid, or 0 (said on stderr) when it did not start. */
pid_t h_sandbox_spawn(int port, int callback_delay_ms, const char *const *extra_args, const char *log);
/* Stops a sandbox from h_sandbox_spawn and waits for it (0 is fine). */
void h_sandbox_kill(pid_t pid);
/* Names dir build/e2e/NAME-PID and makes it an empty directory: a pid
 * comes round again over many runs, and its old database must not. */
void h_dir_fresh(char *dir, size_t dirsz, const char *name);
/* Starts lipad on port with its database in dir (created if missing; a
 * restart keeps it); extra_env is a NULL-terminated list of "NAME=value"
 * added to the defaults. */
bool h_lipad_start(struct lipad *l, int port, const char *dir, const char *const *extra_env);
/* More say over how h_lipad_spawn starts lipad: from the directory cwd
 * (NULL: this one; the binary and dir are then given by absolute paths),
 * and without the harness's defaults that drop names (a NULL-terminated
 * list of names, may be NULL), so lipad's own default applies. */
struct h_how {
    const char *cwd;
    const char *const *drop;
};
/* Starts lipad as h_lipad_start does (how may be NULL) but does not wait
 * for it to answer: its pid (also in l->pid), or 0. */
pid_t h_lipad_spawn(struct lipad *l, int port, const char *dir, const char *const *extra, const struct h_how *how);
/* Makes a lipad started in dir (a fresh one, h_dir_fresh) use other's
 * database, as a second lipad on one PostgreSQL does; false when dir
 * cannot be written. */
bool h_dir_same_db(const char *dir, const struct lipad *other);
/* Sends sig and waits; returns the exit status (or 128+signal). */
int h_lipad_stop(struct lipad *l, int sig);

/* One request. base is "lipad" or "sandbox"-port number; auth may be NULL. */
struct http_result h_req(int port, const char *method, const char *path, const char *ctype,
                         const char *body, size_t len, const char *auth);
/* The same with one more header line ("Name: value"; NULL for none). */
struct http_result h_req_h(int port, const char *method, const char *path, const char *ctype,
                           const char *body, size_t len, const char *auth, const char *header);
/* The same, given up after timeout_ms (status 0 then); the others wait 20 s. */
struct http_result h_req_within(int timeout_ms, int port, const char *method, const char *path, const char *ctype,
                                const char *body, size_t len, const char *auth, const char *header);
void h_free(struct http_result *r);
/* With LIPA_TEST_RECORD=dir, h_req and its kin record every exchange with a
 * lipad (not with a sandbox) in dir/PID.jsonl, for the check of requests and
 * answers against docs/openapi.json; a test that speaks HTTP on its own
 * socket records its exchanges with this. req_ctype and req_body: the
 * request's Content-Type and body (NULL: none); ctype is the answer's
 * Content-Type ("" for none). */
void h_record(int port, const char *method, const char *path, const char *req_ctype, const char *req_body,
              long status, const char *ctype, const char *body, size_t len);
/* Shorthands on a lipad instance. */
struct http_result h_json_admin(struct lipad *l, const char *method, const char *path, const char *json);
/* One USSD hop; returns the answer text (malloc'ed). */
char *h_ussd(struct lipad *l, const char *session, const char *phone, const char *text);

/* Setup helpers (admin API): returns the user id. */
long long h_user(struct lipad *l, const char *phone, const char *lang);
void h_meter(struct lipad *l, const char *id, const char *device, const char *name);
void h_assign(struct lipad *l, long long user, const char *meter);
void h_sandbox_device(const char *device);

/* The SMS the sandbox received for phone (E.164), as a JSON array (new ref). */
json_t *h_sms(const char *phone);
/* Waits up to ms for phone to have at least n SMS; returns the array. */
json_t *h_wait_sms(const char *phone, size_t n, int ms);
/* Purchases (M-Pesa transactions) of phone stored, as l's admin API lists them. */
int h_purchases(struct lipad *l, const char *phone);
/* Waits up to ms for the newest payment of phone to reach status. */
json_t *h_wait_payment(struct lipad *l, const char *phone, const char *status, int ms);
/* Sandbox Tuya balance of a device (hundredths of a kWh), -1 if unknown. */
long long h_balance(const char *device);
void h_sleep_ms(int ms);
/* Runs sql on lipad's database behind its back (to make the store refuse
 * a write, say); false with the error printed when the database refuses
 * it. h_sql_rows also hands back what it printed (rows a line each,
 * columns joined by '|'). */
bool h_sql(struct lipad *l, const char *sql);
bool h_sql_rows(struct lipad *l, const char *sql, char *out, size_t n);
/* Whether this run's lipads are on PostgreSQL (LIPA_TEST_PG). */
bool h_on_pg(void);

/* Suites, one per file; main() in journeys.c runs them all against h_main. */
#include <check.h>
Suite *suite_journeys(void);
Suite *suite_devices(void);   /* runs last: its refresh test renames devices */
Suite *suite_water(void);
Suite *suite_charges(void); /* tests/e2e/charges.c: the integrators' Paystack face */
Suite *suite_clients(void); /* tests/e2e/clients.c: integrators, their keys and packages */     /* tests/e2e/water.c: water payments, codes, stations, USSD water */
Suite *suite_sms(void);       /* tests/e2e/sms.c: texting commands, outbox, delivery reports */
Suite *suite_hardening(void); /* tests/e2e/hardening.c: floods, slow providers, slow clients */
Suite *suite_topups(void);    /* tests/e2e/topup.c: a meter credited once, whenever lipad dies */
Suite *suite_paystack(void);  /* tests/e2e/paystack_sandbox.c: the Paystack client against the sandbox */
Suite *suite_cluster(void);   /* tests/e2e/cluster.c: several lipads on one PostgreSQL */
Suite *suite_integrators(void); /* tests/e2e/integrators.c: the integrators' public payments and notices */
Suite *suite_migrate(void);   /* tests/e2e/migrate.c: SQLite moved to PostgreSQL (lipa-migrate) */
Suite *suite_startup(void);   /* tests/e2e/startup.c: arguments, the port, LIPA_BIND, paths */
Suite *suite_shared_token(void); /* tests/e2e/shared_token.c: one Daraja token for the lipads on one database */
Suite *suite_metrics(void);   /* tests/e2e/metrics.c: /metrics read by promtool, moving with purchases */
Suite *suite_resume(void);   /* tests/e2e/resume.c: a caller who dropped goes on where they were */
Suite *suite_backup(void);    /* tests/e2e/backup.c: lipa-backup while lipad sells, a lipad on the copy */

#endif
