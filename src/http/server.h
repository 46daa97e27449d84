/* http/server: the one module that touches libmicrohttpd. It runs a thread
 * pool, caps request bodies (413), routes by method and path pattern
 * ("/users/{id}"), answers 404 for an unknown path and 405 for a known path
 * with the wrong method, and hands each handler a parsed request and a
 * response to fill. Handlers run on pool threads, concurrently: what they
 * touch must be thread-safe. The sandbox tool serves through this too.
 *
 * No HTTP thread waits on a provider. A handler whose answer needs one
 * either parks its request (http_defer: the connection waits, not the
 * thread) or is declared on a lane: its route names the lane, and the
 * server runs it on that lane's own threads with a copy of the request,
 * parks the connection meanwhile, answers 503 at once when the lane's queue
 * is full and 504 when its deadline passes first (through on_error). So a
 * slow or abused provider fills its lane, never the threads that answer
 * USSD hops. Connections are guarded against slow and greedy clients
 * (http/guard.h). */
#ifndef LIPA_HTTP_SERVER_H
#define LIPA_HTTP_SERVER_H

#include "util/buf.h"
#include "util/form.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define HTTP_MAX_PARAMS 4
#define HTTP_MAX_RESP_HEADERS 8

struct http_route;
struct http_server;
struct ratelimit;

struct http_req {
    const char *method;
    const char *path;                 /* without the query string */
    const char *body;                 /* NUL-terminated copy; body_len bytes */
    size_t body_len;
    struct form query;
    const char *params[HTTP_MAX_PARAMS]; /* {name} segments, in order */
    size_t nparams;
    char client_ip[64];
    const struct http_route *route;
    void *conn;                       /* private; NULL on a lane */
    const struct form *headers;       /* private: the headers, on a lane */
    void *upload;                     /* private: per-request server state */
    struct http_server *server;       /* private */
    struct ratelimit *limiter;        /* private: for http_rate_limit (http/ratelimit.h) */
};

struct http_resp {
    int status;
    const char *content_type;         /* static string */
    struct buf body;
    size_t nheaders;
    char *hname[HTTP_MAX_RESP_HEADERS], *hvalue[HTTP_MAX_RESP_HEADERS];
};

typedef void (*http_handler)(void *ctx, struct http_req *req, struct http_resp *resp);

struct http_route {
    const char *method;               /* "GET", "POST", ... */
    const char *pattern;              /* "/devices/{id}/assign/{userId}" */
    http_handler fn;
    int envelope;                     /* opaque to the server: reply style */
    /* 0: the handler runs on the HTTP thread and must not wait on anything
     * slow. n > 0: it calls a provider and runs on http_server_opts.lanes[n - 1] */
    int lane;
};

/* Threads for handlers that call a provider. A laned handler may block on
 * its provider (bounded by the provider client's own timeout); it may not
 * http_defer. */
struct http_lane {
    const char *name;                 /* thread names ("lane-<name>"); for on_error */
    unsigned threads;                 /* 0: 2 */
    unsigned queue_max;               /* requests waiting for a thread (0: 64); more: 503 */
    int64_t deadline_ms;              /* from the request's arrival (0: 15 000); then 504 */
};

struct http_server_opts {
    unsigned port;
    unsigned threads;
    size_t body_max;
    const struct http_route *routes;  /* terminated by a NULL method */
    void *ctx;                        /* passed to every handler */
    /* Called for 404/405/413/400-before-routing, 503 (a lane's queue is
     * full) and 504 (a lane's deadline passed; the handler may still run,
     * and its answer is then dropped); req->route is set for 503/504. For
     * a lane's 504 the request's only header left to read is Origin. May
     * be NULL. */
    void (*on_error)(void *ctx, const struct http_req *req, struct http_resp *resp, int status);
    /* Where to listen: a listening fd from http_bind (listen_fd_set), or
     * else bind (a numeric IPv4 or IPv6 address; NULL: 127.0.0.1 when
     * loopback_only, 0.0.0.0 otherwise) and port (0: the kernel picks one,
     * http_server_port says which). */
    bool loopback_only;
    const char *bind;
    bool listen_fd_set;
    int listen_fd;                    /* the server's from then on, even when it fails to start */
    /* Budget per client IP for handlers that call http_rate_limit:
     * rate_limit requests per rate_window_s seconds; 0 turns it off. */
    int64_t rate_limit, rate_window_s;
    const struct http_lane *lanes;    /* routes' lane n is lanes[n - 1] */
    size_t nlanes;
    /* Connections (http/guard.h): the total (0: 4096; the process's file
     * limit is raised to fit), per client address (0: no cap), and the
     * deadlines for a request's headers and body (0: 15 000 ms each). */
    unsigned max_connections, per_ip_connections;
    int64_t header_timeout_ms, body_timeout_ms;
};

struct http_server;

/* A socket bound to host:port (host a numeric IPv4 or IPv6 address, "::"
 * taking IPv4 too), not listening yet: bound early, it reserves the port
 * against a second process before anything else is started, and fails
 * (-1, "cannot listen on ADDR:PORT: address in use ...") while another
 * process listens there. SO_REUSEADDR only: a restart need not wait out
 * the old connections; never SO_REUSEPORT, so no two processes share it. */
int http_bind(const char *host, unsigned port, char *err, size_t errsz);
struct http_server *http_server_start(const struct http_server_opts *opts);
/* Stops accepting, lets requests in flight finish (up to grace_ms), stops. */
void http_server_stop(struct http_server *s, int grace_ms);
unsigned http_server_port(const struct http_server *s);

/* Request helpers; the results are lent for the request's lifetime. */
const char *http_header(const struct http_req *req, const char *name);
const char *http_query(const struct http_req *req, const char *name);

/* Answering later. A handler whose answer waits on work done elsewhere (a
 * write queued for the store's group commit, an STK push the payment
 * worker sends) calls http_defer or http_defer_until and returns without
 * answering; the connection is parked, not a thread. Whoever finishes the
 * work claims the response (http_defer_claim), fills it and calls
 * http_defer_done, once, from any thread; the answer then goes out. With
 * a deadline, late(arg, resp) answers instead when wait_ms passes first,
 * on the server's timer thread: the owner's claim then returns NULL, and
 * it only calls http_defer_done. arg belongs to the deferral from then on:
 * arg_free(arg) (may be NULL) runs when both sides are done with it. An
 * owner that calls http_defer_done without claiming leaves the answer to
 * the deadline (or, without one, to a 500). Until answered, the request
 * counts as in flight; http_server_stop answers what is still parked
 * with 503 before it stops. Headers the handler set on its own response
 * before it parked (a rate limit's, a cross-origin one's) go out with the
 * parked answer, whoever writes it. NULL when out of memory, on a lane, or
 * when the request was deferred already. */
struct http_deferred;
typedef void (*http_late_fn)(void *arg, struct http_resp *resp);
struct http_deferred *http_defer(struct http_req *req);
struct http_deferred *http_defer_until(struct http_req *req, int64_t wait_ms, http_late_fn late, void *arg,
                                       void (*arg_free)(void *));
struct http_resp *http_defer_claim(struct http_deferred *d);
void http_defer_done(struct http_deferred *d);

/* Response helpers. */
void http_resp_header(struct http_resp *resp, const char *name, const char *value);
void http_resp_text(struct http_resp *resp, int status, const char *content_type, const char *text);

#endif
