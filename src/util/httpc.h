/* httpc: the one module that touches libcurl; a blocking HTTP client for
 * provider calls, used only from worker threads (never on a USSD hop).
 * Thread-safe after httpc_global_init(). Responses are capped at 1 MiB.
 * Each thread keeps one curl handle, so connections to a provider are
 * reused between calls (keep-alive). */
#ifndef LIPA_HTTPC_H
#define LIPA_HTTPC_H

#include "util/buf.h"

#include <stdbool.h>

struct httpc_req {
    const char *method;            /* "GET", "POST" */
    const char *url;
    const char *const *headers;    /* "Name: value", NULL-terminated; may be NULL */
    const char *body;              /* may be NULL */
    size_t body_len;
    long timeout_ms;
};

struct httpc_resp {
    long status;                   /* 0 when no HTTP answer came */
    struct buf body;
    char content_type[128];        /* the answer's Content-Type, "" when none */
    char error[256];               /* transport error, when status is 0 */
};

void httpc_global_init(void);
/* Performs req; true when an HTTP answer (any status) arrived. The caller
 * frees resp with httpc_resp_free either way. */
bool httpc_do(const struct httpc_req *req, struct httpc_resp *resp);
void httpc_resp_free(struct httpc_resp *resp);
/* Frees the calling thread's handle (and its open connections) now rather
 * than at thread exit; the main thread calls it before exiting. */
void httpc_thread_done(void);

#endif
