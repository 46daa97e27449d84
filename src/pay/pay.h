/* pay: the payment-provider interface. One provider per file fills a
 * `const struct pay_provider` (pay/daraja.c today); the service talks only to
 * this struct, so the sandbox or a second provider is a new file. Provider
 * calls block and run on worker threads only, never on a USSD hop.
 * A provider state from new() is safe to use from several threads (it guards
 * its own token cache, which may be shared: struct pay_token_cache). */
#ifndef LIPA_PAY_H
#define LIPA_PAY_H

#include "util/config.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* What a call's failure means for the caller. */
enum pay_outcome {
    PAY_OK = 0,     /* accepted / answered */
    PAY_RETRY,      /* transport error, timeout, 5xx, spike arrest: try later */
    PAY_REJECT,     /* the provider refused this request for good (4xx) */
};

struct pay_stk_req {
    const char *phone;          /* E.164 "+2547..."; the provider converts */
    int64_t amount;             /* whole KES, >= 1 */
    const char *account_ref;    /* <= 12 chars (truncated if longer) */
    const char *description;    /* <= 13 chars (truncated if longer) */
    const char *callback_url;
};

struct pay_stk_res {
    enum pay_outcome outcome;
    int http_status;
    char merchant_request_id[64];
    char checkout_request_id[64];
    char response_code[16];
    char response_description[256];
    char customer_message[256];
    char error_code[32];        /* provider's errorCode when refused */
    char error_message[256];
};

enum pay_query_state {
    PAYQ_PENDING,               /* still being processed (500.001.1001) */
    PAYQ_FINAL,                 /* result_code tells the outcome */
};

struct pay_query_res {
    enum pay_outcome outcome;   /* PAY_OK means state/result are valid */
    enum pay_query_state state;
    int result_code;
    char result_desc[256];
    char error[256];
};

/* A parsed STK callback. */
struct pay_callback {
    char merchant_request_id[64];
    char checkout_request_id[64];
    int result_code;
    char result_desc[256];
    int64_t amount;             /* whole KES; -1 when absent */
    char receipt[32];           /* MpesaReceiptNumber, "" when absent */
    char phone[20];             /* as sent, digits */
    int64_t transaction_date;   /* 20191219102115, 0 when absent */
    int64_t transaction_at;     /* transaction_date as an instant, ms since
                                   the epoch (UTC); 0 when absent or not a
                                   real date and time */
};

/* A provider's access token shared with other holders of the same
 * credentials (the other lipads on one database: app.c wires it to
 * pay/shared_token.c), for a provider whose every new token invalidates
 * the previous one. The provider keeps its copy in memory until its
 * renew_at and calls current only to renew it, under its own lock (one
 * call at a time per provider state).
 *
 * fetch asks the provider for a new token: into token (n bytes), with the
 * time from which it is to be renewed (unix s); false when it gave none
 * (fctx then says why). */
typedef bool (*pay_token_fetch)(void *fctx, char *token, size_t n, int64_t *renew_at);
struct pay_token_cache {
    /* A token to use into token (n bytes), with its renew_at (unix s): the
     * shared one if it is current (renew_at to come) and is not stale,
     * else a new one from fetch, which is then shared. stale, when given,
     * is a token the provider refused as invalid: a shared token
     * equal to it is renewed, another one is taken. False when none could
     * be had (fetch failed, or another holder kept renewing too long). */
    bool (*current)(void *ctx, const char *stale, pay_token_fetch fetch, void *fctx, char *token, size_t n,
                    int64_t *renew_at);
    void *ctx;
};

struct pay_provider {
    const char *name;
    void *(*create)(const struct config *cfg);
    void (*destroy)(void *st);
    /* Shares st's token through cache (copied), before st is used from
     * other threads; NULL for a provider without such a token. Without a
     * call, st keeps its token to itself. */
    void (*share_token)(void *st, const struct pay_token_cache *cache);
    void (*stk_push)(void *st, const struct pay_stk_req *req, struct pay_stk_res *res);
    void (*stk_query)(void *st, const char *checkout_request_id, struct pay_query_res *res);
    /* Parses a callback body; false with a reason in err when malformed. Pure. */
    bool (*parse_callback)(const char *body, size_t len, struct pay_callback *out, char *err, size_t errsz);
};

extern const struct pay_provider pay_daraja;

/* Daraja helpers, exposed for the unit tests (Daraja's published password and timestamp examples). */
/* base64(shortcode + passkey + timestamp) into a malloc'ed string. */
char *daraja_password(const char *shortcode, const char *passkey, const char *timestamp);
/* YYYYMMDDHHmmss in Nairobi time (UTC+3, no DST) for the given instant. */
void daraja_timestamp(int64_t unix_s, char out[15]);
/* The reverse, for a callback's TransactionDate (the number 20191219102115,
 * Nairobi time): the instant in ms since the epoch, UTC. False for a
 * number that is not a date and time of the years 2000-2999. */
bool daraja_transaction_time(int64_t stamp, int64_t *unix_ms);

#endif
