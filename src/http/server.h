/* http/server: the one module that touches libmicrohttpd. It runs a thread
 * pool, caps request bodies (413), routes by method and path pattern
 * ("/users/{id}"), answers 404 for an unknown path and 405 for a known path
 * with the wrong method, and hands each handler a parsed request and a
 * response to fill. Handlers run on pool threads, concurrently: what they
 * touch must be thread-safe. The sandbox tool serves through this too. */
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
    void *conn;                       /* private */
    void *upload;                     /* private: per-request server state */
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
};

struct http_server_opts {
    unsigned port;
    unsigned threads;
    size_t body_max;
    const struct http_route *routes;  /* terminated by a NULL method */
    void *ctx;                        /* passed to every handler */
    /* Called for 404/405/413/400-before-routing; may be NULL. */
    void (*on_error)(void *ctx, const struct http_req *req, struct http_resp *resp, int status);
    bool loopback_only;
    /* Budget per client IP for handlers that call http_rate_limit:
     * rate_limit requests per rate_window_s seconds; 0 turns it off. */
    int64_t rate_limit, rate_window_s;
};

struct http_server;

struct http_server *http_server_start(const struct http_server_opts *opts);
/* Stops accepting, lets requests in flight finish (up to grace_ms), stops. */
void http_server_stop(struct http_server *s, int grace_ms);
unsigned http_server_port(const struct http_server *s);

/* Request helpers; the results are lent for the request's lifetime. */
const char *http_header(const struct http_req *req, const char *name);
const char *http_query(const struct http_req *req, const char *name);

/* Answering later. A handler whose answer waits on work done elsewhere (a
 * write queued for the store's group commit) calls http_defer and returns
 * without answering; the connection is parked, not a thread. Whoever
 * finishes the work fills http_deferred_resp and calls http_defer_done,
 * once, from any thread; the response then goes out. Until then the
 * request counts as in flight (http_server_stop waits for it). */
struct http_deferred;
struct http_deferred *http_defer(struct http_req *req);
struct http_resp *http_deferred_resp(struct http_deferred *d);
void http_defer_done(struct http_deferred *d);

/* Response helpers. */
void http_resp_header(struct http_resp *resp, const char *name, const char *value);
void http_resp_text(struct http_resp *resp, int status, const char *content_type, const char *text);

#endif
