/* fake: a small HTTP server on 127.0.0.1 that plays a provider in the unit
 * tests of the provider clients (check_daraja.c, check_tuya.c,
 * check_at.c). It serves through src/http/server.h, records every request
 * (method, path, query, body and a fixed set of headers) and hands each
 * one to the test file's handler, which answers like the provider.
 * Handlers run one at a time under the fake's mutex; a test that changes
 * the handler's state while calls may be in flight takes the same mutex. */
#ifndef LIPA_TEST_FAKE_H
#define LIPA_TEST_FAKE_H

#include "http/server.h"

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>

#define FAKE_MAX_REQS 128
#define FAKE_NHDR 10

struct fake_req {
    char method[8];
    char path[256];
    char query[512];          /* decoded "k=v&k=v", in arrival order */
    char *body;               /* NUL-terminated copy */
    size_t body_len;
    char *hdr[FAKE_NHDR];     /* NULL when absent */
};

struct fake;
typedef void (*fake_fn)(struct fake *f, const struct fake_req *rq, struct http_resp *resp);

struct fake {
    struct http_server *srv;
    unsigned port;
    char base[64];            /* "http://127.0.0.1:PORT" */
    pthread_mutex_t mu;
    struct fake_req reqs[FAKE_MAX_REQS];
    size_t n;
    fake_fn fn;
    void *ud;                 /* the handler's state */
    int delay_ms;             /* sleep before answering (timeouts) */
};

/* The route handler: records the request, then lets the test answer.
 * Routes of a fake name it as their handler. */
void fake_dispatch(void *ctx, struct http_req *req, struct http_resp *resp);
/* Starts the fake on a free port (f->base says where). */
bool fake_start(struct fake *f, const struct http_route *routes, fake_fn fn, void *ud);
void fake_stop(struct fake *f);
/* Requests seen for method and path. */
int fake_count(struct fake *f, const char *method, const char *path);
/* The last request for method and path, or NULL; lent until fake_stop. */
const struct fake_req *fake_last(struct fake *f, const char *method, const char *path);
/* A recorded header (Authorization, apiKey, Accept, Content-Type, client_id,
 * access_token, sign, t, nonce, sign_method), or NULL. */
const char *fake_hdr(const struct fake_req *rq, const char *name);
/* A base URL where nothing listens (transport errors). */
void fake_dead_base(char out[64]);

#endif
