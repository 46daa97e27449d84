/* sandbox: lipa-sandbox, one loopback process faking lipa's four providers
 * (Safaricom Daraja STK push, Africa's Talking SMS, the Tuya cloud,
 * Paystack) on one port, as strict as the real ones, plus unsigned
 * /sandbox/... control endpoints for tests and the terminal simulator. One
 * file per fake: daraja.c, at.c, tuya.c, paystack.c; control.c holds fault
 * injection, health and the STK inspection endpoints; main.c parses options
 * and runs the process.
 *
 * Ownership: main() owns the one struct sandbox; every fake keeps its state
 * behind an opaque pointer in it, created by sb_X_init and released by
 * sb_X_free. Threading: HTTP handlers run on the server's pool threads and
 * the STK workers on their own; all mutable state is guarded by sb->mu, and
 * no lock is held while a callback is posted. */
#ifndef LIPA_SANDBOX_H
#define LIPA_SANDBOX_H

#include "http/server.h"

#include <jansson.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

enum sb_service { SB_DARAJA = 0, SB_AT, SB_TUYA, SB_PAYSTACK, SB_NSERVICES };

#define SB_CRED_MAX 256

/* Credentials, from the environment (LIPA_* names shared with lipad). */
struct sb_creds {
    char daraja_key[SB_CRED_MAX], daraja_secret[SB_CRED_MAX];
    char daraja_shortcode[SB_CRED_MAX], daraja_passkey[SB_CRED_MAX];
    char at_username[SB_CRED_MAX], at_apikey[SB_CRED_MAX];
    char tuya_client_id[SB_CRED_MAX], tuya_secret[SB_CRED_MAX];
    char paystack_secret[SB_CRED_MAX];
};

struct sandbox {
    unsigned port;           /* the listening port once started (under mu) */
    int64_t callback_delay_ms;
    bool tuya_any_device;
    /* Paystack: where events go when a control request names no
     * webhook_url ("" nowhere), and after how long charges and transfers
     * settle by themselves (0: only through the control endpoints). Set
     * before the fakes start, read-only after. */
    char paystack_webhook[512];
    int64_t paystack_settle_ms;
    struct sb_creds cred;

    pthread_mutex_t mu;      /* guards everything below and the fakes' state */
    pthread_cond_t cv;       /* STK workers: a push arrived, or stopping */
    bool stopping;
    int fail_count[SB_NSERVICES];
    int fail_status[SB_NSERVICES];
    int64_t slow_ms[SB_NSERVICES];   /* answers held back this long (POST /sandbox/slow) */

    /* the joined route table, each route's own handler and its fake
     * (SB_NSERVICES: a control route); main.c serves every route through
     * sb_dispatch, which runs the handler and applies slow_ms */
    const struct http_route *routes;
    http_handler *route_fn;
    int *route_svc;

    struct sb_daraja *daraja;
    struct sb_at *at;
    struct sb_tuya *tuya;
    struct sb_paystack *paystack;
};

/* Route tables, each ended by a NULL method; main.c joins them. */
extern const struct http_route sb_daraja_routes[];
extern const struct http_route sb_at_routes[];
extern const struct http_route sb_tuya_routes[];
extern const struct http_route sb_paystack_routes[];
extern const struct http_route sb_control_routes[];

/* daraja.c. The workers run sb_daraja_worker(sb) until sb->stopping. */
bool sb_daraja_init(struct sandbox *sb);
void sb_daraja_free(struct sandbox *sb);
void *sb_daraja_worker(void *sb);

/* STK inspection for control.c. The list is new (caller json_decref):
 * the newest `limit` pushes, oldest first, for phone (any form) or all. */
json_t *sb_daraja_stk_list(struct sandbox *sb, const char *phone, int64_t limit);
enum sb_resend { SB_RESEND_OK, SB_RESEND_UNKNOWN, SB_RESEND_WAITING };
/* Posts the push's callback body again, blocking; *status gets lipad's
 * HTTP status (0 when the post failed, with the reason in err). */
enum sb_resend sb_daraja_stk_resend(struct sandbox *sb, const char *checkout_id, int *status,
                                    char *err, size_t errsz);

/* {"oauthIssued": tokens issued, "tokensRefused": calls refused for a
 * token that was not the newest live one} since the start (new ref). */
json_t *sb_daraja_counts(struct sandbox *sb);

/* The next count pushes to phone (any form) are answered without a
 * callback (the query still tells the outcome); 0 ends it. False for a
 * phone that is not one, or when QUIET_MAX phones are quiet already. */
bool sb_daraja_quiet(struct sandbox *sb, const char *phone, int count);

/* at.c */
bool sb_at_init(struct sandbox *sb);
void sb_at_free(struct sandbox *sb);

/* tuya.c. sb_tuya_init starts the thread that answers held commands;
 * sb_tuya_release answers every held one at once and stops that thread:
 * call it before stopping the server (a parked connection must be
 * answered while the server runs). sb_tuya_free releases too. */
bool sb_tuya_init(struct sandbox *sb);
void sb_tuya_release(struct sandbox *sb);
void sb_tuya_free(struct sandbox *sb);
/* The Tuya request signature, computed independently of lipa's client:
 * UPPER hex HMAC-SHA256(secret, client_id + access_token + t + nonce +
 * METHOD "\n" hex(sha256(body)) "\n" sig_headers "\n" url). access_token is
 * "" for the token call; sig_headers is the joined "name:value\n" block; url
 * is the path with its query sorted by key. Pure. */
void sb_tuya_sign(const char *client_id, const char *secret, const char *access_token,
                  const char *t, const char *nonce, const char *method, const char *body,
                  size_t body_len, const char *sig_headers, const char *url, char out[65]);

/* paystack.c. With paystack_settle_ms set, sb_paystack_init starts the
 * thread that settles charges and transfers; sb_paystack_free stops it. */
bool sb_paystack_init(struct sandbox *sb);
void sb_paystack_free(struct sandbox *sb);

/* control.c */
/* When a fault is armed for svc, consumes one and returns its HTTP status
 * (the caller answers it in its provider's error shape); else 0. */
int sb_fail_take(struct sandbox *sb, enum sb_service svc);
/* Reason phrase of an HTTP status, for fault bodies. */
const char *sb_reason(int status);
/* Monotonic milliseconds, for due times. */
int64_t sb_mono_ms(void);
/* Runs the route's own handler, then holds its answer back for the fake's
 * slow_ms (parked, not sleeping: other requests are served meanwhile). */
void sb_dispatch(void *ctx, struct http_req *req, struct http_resp *resp);
/* Answers a small JSON error {"ok":false,"error":msg} for control routes. */
void sb_control_error(struct http_resp *resp, int status, const char *msg);

/* The sandbox posts callbacks and reports only to this machine: true when
 * the host of an http(s) URL is loopback (127.x, localhost, [::1]). */
bool sb_url_is_loopback(const char *url);

#endif
