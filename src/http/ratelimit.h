/* http/ratelimit: a request budget per client address: at most `limit`
 * requests in a fixed window of `window_s` seconds that opens with the
 * client's first request (the water face: 100 per 15 minutes per IP by
 * default; LIPA_RATE_LIMIT, LIPA_RATE_WINDOW). IPv6 clients are counted
 * per /64, since one host holds a whole /64. The same table counts per
 * payer phone or per any other key (an integrator's client id) instead.
 *
 * Memory is fixed at creation: a table of `slots` clients in 8-way sets.
 * When a set is full of clients whose windows are still open, the one
 * whose window opened first is forgotten and starts afresh: a flood from
 * more distinct addresses than slots loosens the limit rather than
 * refusing strangers or growing without bound.
 *
 * The HTTP server owns one limiter when http_server_opts.rate_limit > 0;
 * handlers of limited endpoints call http_rate_limit first (provider
 * callbacks and health probes do not). Thread-safe: sets are guarded by
 * striped mutexes. */
#ifndef LIPA_HTTP_RATELIMIT_H
#define LIPA_HTTP_RATELIMIT_H

#include "http/server.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct ratelimit;

struct ratelimit_verdict {
    bool allowed;
    int64_t limit;
    int64_t remaining;      /* after this request */
    int64_t reset_ms;       /* when the client's window closes (unix ms) */
};

/* NULL when limit < 1, window_s < 1 or out of memory. slots is rounded
 * up to a multiple of the set size (0: a default of 16384). */
struct ratelimit *ratelimit_new(int64_t limit, int64_t window_s, size_t slots);
void ratelimit_free(struct ratelimit *rl);

/* Counts one request of client (an IPv4 or IPv6 address as text; anything
 * else shares one budget) at now_ms and says whether it is within budget. */
void ratelimit_take(struct ratelimit *rl, const char *client, int64_t now_ms, struct ratelimit_verdict *v);

/* The same for a phone number (E.164, "+" and up to 15 digits) instead of
 * an address: a budget per payer, whichever address asks for them. */
void ratelimit_take_phone(struct ratelimit *rl, const char *phone, int64_t now_ms, struct ratelimit_verdict *v);

/* The same for any other key (a client id): a budget per key, counted
 * under the first 16 bytes of the key's SHA-256. Give such keys a limiter
 * of their own: a hash could, however unlikely, meet an address's key. */
void ratelimit_take_key(struct ratelimit *rl, const char *key, int64_t now_ms, struct ratelimit_verdict *v);

/* For handlers: counts req against the server's limiter (none: true, no
 * headers). Adds X-RateLimit-Limit, -Remaining and -Reset (unix seconds)
 * to resp; over budget, writes the 429 reply in the route's envelope with
 * Retry-After and returns false: the handler returns at once. */
bool http_rate_limit(struct http_req *req, struct http_resp *resp);

#endif
