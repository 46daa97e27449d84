/* http/server: libmicrohttpd glue and the router; see server.h. */
#include "http/server.h"

#include "http/ratelimit.h"
#include "util/log.h"

#include <microhttpd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct http_server {
    struct MHD_Daemon *d;
    atomic_int in_flight;      /* requests begun and not yet completed */
    struct http_server_opts opts;
    struct ratelimit *limiter;        /* NULL when opts.rate_limit is 0 */
};

/* A parked request: RUNNING while its handler runs, PARKED once the
 * connection is suspended, DONE when the answer is in resp, GONE when the
 * connection ended first (only at shutdown). Whichever of
 * http_defer_done and on_completed comes second frees it. */
enum { DEF_RUNNING, DEF_PARKED, DEF_DONE, DEF_GONE };
struct http_deferred {
    struct MHD_Connection *conn;
    atomic_int state;
    struct http_resp resp;
};

/* per-connection upload state */
struct upload {
    struct buf body;
    bool too_big;
    struct http_deferred *def;         /* set by http_defer */
};

static const char *seg_end(const char *p)
{
    while (*p && *p != '/')
        p++;
    return p;
}

/* Matches path against pattern; fills params (pointers into a copy). */
static bool match(const char *pattern, const char *path, char *copy, size_t copysz,
                  const char **params, size_t *nparams)
{
    size_t np = 0, used = 0;
    const char *a = pattern, *b = path;
    while (*a && *b) {
        if (*a != '/' || *b != '/')
            return false;
        a++, b++;
        const char *ae = seg_end(a), *be = seg_end(b);
        size_t bl = (size_t)(be - b);
        if (*a == '{') {
            if (!bl || np >= HTTP_MAX_PARAMS || used + bl + 1 > copysz)
                return false;
            memcpy(copy + used, b, bl);
            copy[used + bl] = 0;
            params[np++] = copy + used;
            used += bl + 1;
        } else if ((size_t)(ae - a) != bl || memcmp(a, b, bl)) {
            return false;
        }
        a = ae, b = be;
    }
    if (*b == '/' && !b[1] && *a == 0) /* tolerate one trailing slash */
        b++;
    *nparams = np;
    return !*a && !*b;
}

static void send_resp(struct MHD_Connection *c, struct http_resp *r)
{
    struct MHD_Response *mr = MHD_create_response_from_buffer(
        r->body.len, r->body.len ? r->body.data : (void *)"", MHD_RESPMEM_MUST_COPY);
    MHD_add_response_header(mr, "Content-Type", r->content_type ? r->content_type : "application/json");
    for (size_t i = 0; i < r->nheaders; i++)
        MHD_add_response_header(mr, r->hname[i], r->hvalue[i]);
    MHD_queue_response(c, (unsigned)r->status, mr);
    MHD_destroy_response(mr);
}

static void resp_free(struct http_resp *r)
{
    buf_free(&r->body);
    for (size_t i = 0; i < r->nheaders; i++) {
        free(r->hname[i]);
        free(r->hvalue[i]);
    }
}

static void default_error(struct http_resp *resp, int status)
{
    const char *msg = status == 404 ? "Not found" : status == 405 ? "Method not allowed"
                    : status == 413 ? "Request body too large" : "Bad request";
    buf_reset(&resp->body);
    buf_printf(&resp->body, "{\"success\":false,\"message\":\"%s\"}", msg);
    resp->status = status;
    resp->content_type = "application/json";
}

static void client_ip(struct MHD_Connection *c, char *out, size_t n)
{
    const union MHD_ConnectionInfo *ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    out[0] = 0;
    if (!ci || !ci->client_addr)
        return;
    const struct sockaddr *sa = ci->client_addr;
    if (sa->sa_family == AF_INET)
        inet_ntop(AF_INET, &((const struct sockaddr_in *)sa)->sin_addr, out, (socklen_t)n);
    else if (sa->sa_family == AF_INET6)
        inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)sa)->sin6_addr, out, (socklen_t)n);
}

static enum MHD_Result collect_arg(void *cls, enum MHD_ValueKind kind, const char *key,
                                   const char *value)
{
    struct form *f = cls;
    (void)kind;
    if (f->n >= FORM_MAX_FIELDS || !key)
        return MHD_NO;
    f->name[f->n] = strdup(key);
    f->value[f->n] = strdup(value ? value : "");
    f->n++;
    return MHD_YES;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url,
                                  const char *method, const char *version,
                                  const char *data, size_t *size, void **state)
{
    struct http_server *s = cls;
    struct upload *up = *state;
    if (up && up->def) { /* resumed: the deferred answer is ready */
        send_resp(c, &up->def->resp);
        return MHD_YES;
    }
    if (!up) {
        up = calloc(1, sizeof *up);
        if (!up)
            return MHD_NO;
        buf_init(&up->body, s->opts.body_max);
        *state = up;
        atomic_fetch_add(&s->in_flight, 1);
        const char *cl = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Content-Length");
        if (cl && strtoull(cl, NULL, 10) > s->opts.body_max)
            up->too_big = true;
        else
            return MHD_YES;
    }
    if (*size) {
        if (!up->too_big && !buf_append(&up->body, data, *size))
            up->too_big = true;
        *size = 0;
        if (!up->too_big)
            return MHD_YES;
    }

    struct http_req req = {0};
    struct http_resp resp = {0};
    buf_init(&resp.body, 8u << 20);
    resp.status = 200;
    req.method = method;
    req.path = url;
    req.body = up->body.data ? up->body.data : "";
    req.body_len = up->body.len;
    req.conn = c;
    req.upload = up;
    req.limiter = s->limiter;
    client_ip(c, req.client_ip, sizeof req.client_ip);
    (void)version;

    char copy[512];
    const struct http_route *hit = NULL;
    bool path_known = false;
    int status = 0;
    if (up->too_big) {
        status = 413;
    } else {
        for (const struct http_route *r = s->opts.routes; r->method; r++) {
            size_t np;
            const char *params[HTTP_MAX_PARAMS];
            if (!match(r->pattern, url, copy, sizeof copy, params, &np))
                continue;
            path_known = true;
            if (strcmp(r->method, method))
                continue;
            hit = r;
            memcpy(req.params, params, sizeof params);
            req.nparams = np;
            break;
        }
        if (!hit)
            status = path_known ? 405 : 404;
    }
    if (hit)
        MHD_get_connection_values(c, MHD_GET_ARGUMENT_KIND, collect_arg, &req.query);
    if (status) {
        default_error(&resp, status);
        if (s->opts.on_error)
            s->opts.on_error(s->opts.ctx, &req, &resp, status);
    } else {
        req.route = hit;
        hit->fn(s->opts.ctx, &req, &resp);
    }
    form_free(&req.query);
    if (up->def) {
        resp_free(&resp);
        /* park the connection; if the answer came while the handler was
         * still running, wake it at once (it is answered above) */
        MHD_suspend_connection(c);
        int expect = DEF_RUNNING;
        if (!atomic_compare_exchange_strong(&up->def->state, &expect, DEF_PARKED))
            MHD_resume_connection(c);
        return MHD_YES;
    }
    send_resp(c, &resp);
    resp_free(&resp);
    return MHD_YES;
}

struct http_deferred *http_defer(struct http_req *req)
{
    struct upload *up = req->upload;
    if (!up || up->def)
        return NULL;
    struct http_deferred *d = calloc(1, sizeof *d);
    if (!d)
        return NULL;
    d->conn = req->conn;
    atomic_init(&d->state, DEF_RUNNING);
    buf_init(&d->resp.body, 8u << 20);
    d->resp.status = 200;
    up->def = d;
    return d;
}

struct http_resp *http_deferred_resp(struct http_deferred *d) { return &d->resp; }

void http_defer_done(struct http_deferred *d)
{
    int was = atomic_exchange(&d->state, DEF_DONE);
    if (was == DEF_PARKED) {
        MHD_resume_connection(d->conn);
    } else if (was == DEF_GONE) {
        resp_free(&d->resp);
        free(d);
    }
}

static void on_completed(void *cls, struct MHD_Connection *c, void **state,
                         enum MHD_RequestTerminationCode toe)
{
    struct upload *up = *state;
    struct http_server *s = cls;
    (void)c, (void)toe;
    if (up) {
        atomic_fetch_sub(&s->in_flight, 1);
        if (up->def && atomic_exchange(&up->def->state, DEF_GONE) == DEF_DONE) {
            resp_free(&up->def->resp);
            free(up->def);
        }
        buf_free(&up->body);
        free(up);
        *state = NULL;
    }
}

struct http_server *http_server_start(const struct http_server_opts *opts)
{
    struct http_server *s = calloc(1, sizeof *s);
    if (!s)
        return NULL;
    s->opts = *opts;
    if (opts->rate_limit > 0 && !(s->limiter = ratelimit_new(opts->rate_limit, opts->rate_window_s, 0))) {
        free(s);
        return NULL;
    }
    struct sockaddr_in addr = {0};
    addr.sin_family = AF_INET;
    addr.sin_port = htons((uint16_t)opts->port);
    addr.sin_addr.s_addr = htonl(opts->loopback_only ? INADDR_LOOPBACK : INADDR_ANY);
    /* poll(), not epoll: libmicrohttpd 0.9.75's MHD_quiesce_daemon races its
     * own pool threads when both take the listening socket out of their
     * epoll sets, and the loser aborts the process ("Failed to remove listen
     * FD from epoll set", daemon.c:5531; seen once at SIGTERM in the e2e
     * suite). With poll it only raises a flag and wakes them. Throughput
     * and p99 were the same under the benchmark script (three 6 s rounds of
     * new sessions each way, 2026-11-24). */
    s->d = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_POLL | MHD_USE_ERROR_LOG | MHD_USE_ITC |
                                MHD_ALLOW_SUSPEND_RESUME,
                            (uint16_t)opts->port, NULL, NULL, on_request, s,
                            MHD_OPTION_THREAD_POOL_SIZE, (unsigned)(opts->threads ? opts->threads : 2),
                            MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&addr,
                            MHD_OPTION_NOTIFY_COMPLETED, on_completed, s,
                            MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)30,
                            MHD_OPTION_LISTENING_ADDRESS_REUSE, (unsigned)1,
                            /* libmicrohttpd zeroes a connection's whole pool
                             * before each request on it; 16 KiB (not its 32)
                             * holds any request line and headers a client
                             * of ours sends (bodies stream past it); a larger
                             * header block is answered 431 */
                            MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)16384,
                            MHD_OPTION_END);
    if (!s->d) {
        ratelimit_free(s->limiter);
        free(s);
        return NULL;
    }
    return s;
}

unsigned http_server_port(const struct http_server *s)
{
    const union MHD_DaemonInfo *di = MHD_get_daemon_info(s->d, MHD_DAEMON_INFO_BIND_PORT);
    return di ? di->port : s->opts.port;
}

void http_server_stop(struct http_server *s, int grace_ms)
{
    if (!s)
        return;
    MHD_quiesce_daemon(s->d);
    /* wait for requests in flight only: an idle keep-alive connection
     * (AT, a provider, a test) must not hold the stop */
    for (int waited = 0; waited < grace_ms; waited += 20) {
        if (atomic_load(&s->in_flight) == 0)
            break;
        struct timespec ts = {0, 20 * 1000000};
        nanosleep(&ts, NULL);
    }
    MHD_stop_daemon(s->d);
    ratelimit_free(s->limiter);
    free(s);
}

const char *http_header(const struct http_req *req, const char *name)
{
    return MHD_lookup_connection_value(req->conn, MHD_HEADER_KIND, name);
}

const char *http_query(const struct http_req *req, const char *name)
{
    return form_get(&req->query, name);
}

void http_resp_header(struct http_resp *resp, const char *name, const char *value)
{
    if (resp->nheaders >= HTTP_MAX_RESP_HEADERS)
        return;
    resp->hname[resp->nheaders] = strdup(name);
    resp->hvalue[resp->nheaders] = strdup(value);
    resp->nheaders++;
}

void http_resp_text(struct http_resp *resp, int status, const char *content_type, const char *text)
{
    resp->status = status;
    resp->content_type = content_type;
    buf_reset(&resp->body);
    buf_puts(&resp->body, text);
}
