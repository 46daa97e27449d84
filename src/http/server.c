/* http/server: libmicrohttpd glue and the router; see server.h. */
#include "http/server.h"

#include "http/guard.h"
#include "http/ratelimit.h"
#include "util/log.h"
#include "util/str.h"

#include <microhttpd.h>
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <strings.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

struct lane;

struct http_server {
    struct MHD_Daemon *d;
    int fd;                    /* the listening socket: ours to close after MHD_stop_daemon */
    unsigned port;             /* the port it is bound to (opts.port, or the kernel's for 0) */
    atomic_int in_flight;      /* requests begun and not yet completed */
    struct http_server_opts opts;
    struct ratelimit *limiter;        /* NULL when opts.rate_limit is 0 */
    struct guard *guard;

    /* parked requests: every deferral not answered yet, and the timer
     * thread that answers those whose deadline passes (park_mu below) */
    pthread_cond_t park_cv;
    struct http_deferred *parked;
    int64_t next_deadline;     /* the earliest deadline in parked (0: none) */
    bool timer_started, stopping;
    pthread_t timer;

    struct lane *lanes;
    size_t nlanes;
};

/* Guards every server's parked list and every deferral's state. Static,
 * not the server's: an owner may let go of its deferral (a committer
 * callback, a payment waiter) after the server that parked it is gone,
 * and a deferral is only on a server's list while that server lives. */
static pthread_mutex_t park_mu = PTHREAD_MUTEX_INITIALIZER;

/* A parked request. Its references: the connection (until on_completed)
 * and the owner (until http_defer_done); the timer thread holds one while
 * it answers. `answered` says the response is spoken for (claimed by the
 * owner or by the timer); `ready` that it is complete and may be sent. */
struct http_deferred {
    struct http_deferred *prev, *next;  /* in parked while !answered */
    struct http_server *s;
    struct MHD_Connection *conn;
    int refs;
    bool suspended, answered, ready, owner_claimed;
    int64_t deadline;                   /* monotonic ms; 0: none */
    http_late_fn late;
    void *arg;
    void (*arg_free)(void *);
    struct http_resp resp;
};

/* per-connection upload state */
struct upload {
    struct buf body;
    bool too_big;
    struct http_deferred *def;         /* set by http_defer */
    struct guard_conn *gc;             /* the connection's guard entry */
    /* the handler's response while its handler runs on the HTTP thread:
     * the headers it set before parking go out with the parked answer */
    const struct http_resp *handler_resp;
};

/* A request run on a lane: a copy that outlives the HTTP thread's call. */
struct lane_job {
    struct lane_job *next;
    struct http_deferred *d;
    struct http_req req;
    char *path;
    struct form headers;
    struct buf body;
    char params[512];
};

struct lane {
    struct http_server *s;
    struct http_lane cfg;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    struct lane_job *head, *tail;
    unsigned queued;
    bool stopping;
    pthread_t *threads;
    unsigned nthreads;
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
                    : status == 413 ? "Request body too large" : status == 500 ? "Internal error"
                    : status == 503 ? "Busy; try again" : status == 504 ? "Timed out" : "Bad request";
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
    if (sa->sa_family == AF_INET) {
        /* not inet_ntop: it goes through sprintf, 1 700 instructions on
         * every request (callgrind) */
        const uint8_t *b = (const uint8_t *)&((const struct sockaddr_in *)sa)->sin_addr;
        char ip[4 * STR_I64_MAX], *o = ip;
        for (int i = 0; i < 4; i++) {
            o += str_from_i64(b[i], o);
            *o++ = '.';
        }
        o[-1] = 0;
        str_copy(out, n, ip);
    } else if (sa->sa_family == AF_INET6) {
        inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)sa)->sin6_addr, out, (socklen_t)n);
    }
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

/* ---- parked requests ---- */

static int64_t mono_ms(void) { return guard_now(); }

/* Under park_mu. */
static void unlink_parked(struct http_server *s, struct http_deferred *d)
{
    if (d->prev)
        d->prev->next = d->next;
    else if (s->parked == d)
        s->parked = d->next;
    if (d->next)
        d->next->prev = d->prev;
    d->prev = d->next = NULL;
}

/* Under park_mu: drops one reference; true when d must be freed (by the
 * caller, after unlocking). */
static bool unref_locked(struct http_deferred *d) { return --d->refs == 0; }

static void deferred_free(struct http_deferred *d)
{
    if (d->arg_free)
        d->arg_free(d->arg);
    resp_free(&d->resp);
    free(d);
}

/* Drops one reference, freeing d with the last. Takes park_mu. */
static void release(struct http_deferred *d)
{
    pthread_mutex_lock(&park_mu);
    bool last = unref_locked(d);
    pthread_mutex_unlock(&park_mu);
    if (last)
        deferred_free(d);
}

/* The response is complete: it goes out now if the connection is parked,
 * or when the handler returns (on_request sees ready). Takes park_mu. */
static void make_ready(struct http_deferred *d)
{
    pthread_mutex_lock(&park_mu);
    d->ready = true;
    bool resume = d->suspended;
    d->suspended = false;
    pthread_mutex_unlock(&park_mu);
    if (resume)
        MHD_resume_connection(d->conn);
}

static struct http_deferred *defer_new(struct http_server *s, struct upload *up, struct MHD_Connection *c,
                                       int64_t wait_ms, http_late_fn late, void *arg, void (*arg_free)(void *))
{
    struct http_deferred *d = calloc(1, sizeof *d);
    if (!d)
        return NULL;
    d->s = s;
    d->conn = c;
    d->refs = 2;
    d->late = late;
    d->arg = arg;
    d->arg_free = arg_free;
    buf_init(&d->resp.body, 8u << 20);
    d->resp.status = 200;
    /* before d is on the list, so nobody else writes d->resp yet */
    for (size_t i = 0; up->handler_resp && i < up->handler_resp->nheaders; i++)
        http_resp_header(&d->resp, up->handler_resp->hname[i], up->handler_resp->hvalue[i]);
    if (late)
        d->deadline = mono_ms() + (wait_ms > 0 ? wait_ms : 0);
    pthread_mutex_lock(&park_mu);
    d->next = s->parked;
    if (s->parked)
        s->parked->prev = d;
    s->parked = d;
    if (d->deadline && (!s->next_deadline || d->deadline < s->next_deadline)) {
        s->next_deadline = d->deadline;
        pthread_cond_signal(&s->park_cv);
    }
    pthread_mutex_unlock(&park_mu);
    up->def = d;
    return d;
}

struct http_deferred *http_defer(struct http_req *req) { return http_defer_until(req, 0, NULL, NULL, NULL); }

struct http_deferred *http_defer_until(struct http_req *req, int64_t wait_ms, http_late_fn late, void *arg,
                                       void (*arg_free)(void *))
{
    struct upload *up = req->upload;
    struct http_deferred *d = NULL;
    if (up && !up->def && req->conn)
        d = defer_new(req->server, up, req->conn, wait_ms, late, arg, arg_free);
    if (!d && arg_free)
        arg_free(arg);
    return d;
}

struct http_resp *http_defer_claim(struct http_deferred *d)
{
    struct http_server *s = d->s;
    struct http_resp *r = NULL;
    pthread_mutex_lock(&park_mu);
    if (!d->answered) {
        d->answered = d->owner_claimed = true;
        unlink_parked(s, d);
        r = &d->resp;
    }
    pthread_mutex_unlock(&park_mu);
    return r;
}

void http_defer_done(struct http_deferred *d)
{
    struct http_server *s = d->s;
    pthread_mutex_lock(&park_mu);
    bool ours = d->owner_claimed, orphan = !d->answered && !d->deadline;
    if (orphan) { /* nobody will answer it: say so rather than hang */
        d->answered = true;
        unlink_parked(s, d);
        default_error(&d->resp, 500);
    }
    pthread_mutex_unlock(&park_mu);
    if (ours || orphan)
        make_ready(d);
    release(d);
}

/* Takes every parked request whose deadline passed at now (all of them
 * when everything is true) off the list, answered, with a reference for
 * the caller; sets next_deadline. Under park_mu. */
static struct http_deferred *take_due(struct http_server *s, int64_t now, bool everything)
{
    struct http_deferred *due = NULL;
    int64_t next = 0;
    for (struct http_deferred *d = s->parked, *n; d; d = n) {
        n = d->next;
        if (everything || (d->deadline && d->deadline <= now)) {
            unlink_parked(s, d);
            d->answered = true;
            d->refs++;
            d->next = due; /* reused as the list of due ones */
            due = d;
        } else if (d->deadline && (!next || d->deadline < next)) {
            next = d->deadline;
        }
    }
    s->next_deadline = next;
    return due;
}

/* Answers due requests with their late answer (or status when they have
 * none), outside park_mu. */
static void answer_due(struct http_server *s, struct http_deferred *due, int status)
{
    while (due) {
        struct http_deferred *d = due;
        due = d->next;
        d->next = NULL;
        buf_reset(&d->resp.body);
        d->resp.status = 200;
        if (d->late && !status) {
            d->late(d->arg, &d->resp);
        } else {
            default_error(&d->resp, status ? status : 504);
            if (s->opts.on_error) {
                struct http_req r = {.method = "", .path = ""};
                s->opts.on_error(s->opts.ctx, &r, &d->resp, status ? status : 504);
            }
        }
        make_ready(d);
        release(d);
    }
}

static void *timer_main(void *arg)
{
    struct http_server *s = arg;
    pthread_setname_np(pthread_self(), "http-timer");
    pthread_mutex_lock(&park_mu);
    while (!s->stopping) {
        int64_t now = mono_ms();
        if (s->next_deadline && s->next_deadline <= now) {
            struct http_deferred *due = take_due(s, now, false);
            pthread_mutex_unlock(&park_mu);
            answer_due(s, due, 0);
            pthread_mutex_lock(&park_mu);
            continue;
        }
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        int64_t wait = s->next_deadline ? s->next_deadline - now : 1000;
        ts.tv_sec += (time_t)(wait / 1000);
        ts.tv_nsec += (long)(wait % 1000) * 1000000L;
        if (ts.tv_nsec >= 1000000000L) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000L;
        }
        pthread_cond_timedwait(&s->park_cv, &park_mu, &ts);
    }
    pthread_mutex_unlock(&park_mu);
    return NULL;
}

/* ---- lanes ---- */

/* What a lane's late answer needs: the route (its envelope), the path,
 * and the request's Origin (a face that browsers call answers even its
 * 504 with its cross-origin headers, http/cors.h). */
struct lane_late {
    struct http_server *s;
    const struct http_route *route;
    char method[8], path[160];
    char origin[257];          /* "" when none (or too long to be allowed) */
};

static void lane_late_answer(void *arg, struct http_resp *resp)
{
    struct lane_late *ll = arg;
    struct http_server *s = ll->s;
    default_error(resp, 504);
    if (s->opts.on_error) {
        /* the job (and its headers) may be gone by now: only the Origin,
         * copied at submission, is there to read */
        struct form h = {.n = ll->origin[0] ? 1 : 0};
        h.name[0] = (char *)"Origin";
        h.value[0] = ll->origin;
        struct http_req r = {.method = ll->method, .path = ll->path, .route = ll->route, .headers = &h};
        s->opts.on_error(s->opts.ctx, &r, resp, 504);
    }
}

static void job_free(struct lane_job *j)
{
    form_free(&j->req.query);
    form_free(&j->headers);
    buf_free(&j->body);
    free(j->path);
    free(j);
}

static void *lane_main(void *arg)
{
    struct lane *l = arg;
    struct http_server *s = l->s;
    char tname[16];
    snprintf(tname, sizeof tname, "lane-%s", l->cfg.name ? l->cfg.name : "?");
    pthread_setname_np(pthread_self(), tname);
    for (;;) {
        pthread_mutex_lock(&l->mu);
        while (!l->head && !l->stopping)
            pthread_cond_wait(&l->cv, &l->mu);
        struct lane_job *j = l->head;
        if (!j) { /* stopping, and nothing left */
            pthread_mutex_unlock(&l->mu);
            break;
        }
        l->head = j->next;
        if (!l->head)
            l->tail = NULL;
        l->queued--;
        bool stopping = l->stopping;
        pthread_mutex_unlock(&l->mu);

        pthread_mutex_lock(&park_mu);
        bool late = j->d->answered; /* its deadline passed while it queued */
        pthread_mutex_unlock(&park_mu);
        if (!late && !stopping) {
            struct http_resp resp = {0};
            buf_init(&resp.body, 8u << 20);
            resp.status = 200;
            j->req.route->fn(s->opts.ctx, &j->req, &resp);
            struct http_resp *out = http_defer_claim(j->d);
            if (out) {
                resp_free(out);
                *out = resp;
            } else {
                resp_free(&resp);
            }
        }
        http_defer_done(j->d);
        job_free(j);
    }
    return NULL;
}

static bool lanes_start(struct http_server *s)
{
    if (!s->opts.nlanes)
        return true;
    s->lanes = calloc(s->opts.nlanes, sizeof *s->lanes);
    if (!s->lanes)
        return false;
    s->nlanes = s->opts.nlanes;
    for (size_t i = 0; i < s->nlanes; i++) {
        struct lane *l = &s->lanes[i];
        l->s = s;
        l->cfg = s->opts.lanes[i];
        if (!l->cfg.threads)
            l->cfg.threads = 2;
        if (!l->cfg.queue_max)
            l->cfg.queue_max = 64;
        if (l->cfg.deadline_ms <= 0)
            l->cfg.deadline_ms = 15000;
        pthread_mutex_init(&l->mu, NULL);
        pthread_cond_init(&l->cv, NULL);
        if (!(l->threads = calloc(l->cfg.threads, sizeof *l->threads)))
            return false;
        for (unsigned t = 0; t < l->cfg.threads; t++) {
            if (pthread_create(&l->threads[t], NULL, lane_main, l) != 0)
                return false;
            l->nthreads++;
        }
    }
    return true;
}

/* Stops the lanes: queued requests are not run (they were answered before
 * this, or their connections are gone); running ones finish. */
static void lanes_stop(struct http_server *s)
{
    for (size_t i = 0; i < s->nlanes; i++) {
        struct lane *l = &s->lanes[i];
        pthread_mutex_lock(&l->mu);
        l->stopping = true;
        pthread_cond_broadcast(&l->cv);
        pthread_mutex_unlock(&l->mu);
        for (unsigned t = 0; t < l->nthreads; t++)
            pthread_join(l->threads[t], NULL);
        free(l->threads);
        pthread_mutex_destroy(&l->mu);
        pthread_cond_destroy(&l->cv);
    }
    free(s->lanes);
    s->lanes = NULL;
    s->nlanes = 0;
}

/* Copies the request for lane ln and queues it, parking the connection:
 * false (nothing queued) when the lane is full or memory ran out. */
static bool lane_submit(struct http_server *s, struct lane *l, struct MHD_Connection *c, struct upload *up,
                        struct http_req *req)
{
    pthread_mutex_lock(&l->mu);
    bool full = l->queued >= l->cfg.queue_max || l->stopping;
    pthread_mutex_unlock(&l->mu);
    if (full)
        return false;
    struct lane_job *j = calloc(1, sizeof *j);
    struct lane_late *ll = calloc(1, sizeof *ll);
    if (!j || !ll || !(j->path = strdup(req->path))) {
        free(ll);
        if (j)
            job_free(j);
        return false;
    }
    j->req = *req;
    j->req.method = req->route->method; /* static, unlike libmicrohttpd's copy */
    j->req.path = j->path;
    j->body = up->body; /* the body moves to the job */
    buf_init(&up->body, s->opts.body_max);
    j->req.body = j->body.data ? j->body.data : "";
    j->req.query = req->query; /* the parsed query moves too */
    memset(&req->query, 0, sizeof req->query);
    size_t used = 0; /* the params came from a buffer of the same size: they fit */
    for (size_t i = 0; i < req->nparams; i++) {
        size_t n = strlen(req->params[i]) + 1;
        if (used + n > sizeof j->params) {
            j->req.params[i] = "";
            continue;
        }
        memcpy(j->params + used, req->params[i], n);
        j->req.params[i] = j->params + used;
        used += n;
    }
    MHD_get_connection_values(c, MHD_HEADER_KIND, collect_arg, &j->headers);
    j->req.headers = &j->headers;
    j->req.conn = NULL;
    j->req.upload = NULL;
    ll->s = s;
    ll->route = req->route;
    str_copy(ll->method, sizeof ll->method, req->method);
    str_copy(ll->path, sizeof ll->path, req->path);
    const char *origin = http_header(req, "Origin");
    if (origin && strlen(origin) < sizeof ll->origin)
        str_copy(ll->origin, sizeof ll->origin, origin);
    j->d = defer_new(s, up, c, l->cfg.deadline_ms, lane_late_answer, ll, free);
    if (!j->d) {
        free(ll);
        job_free(j);
        return false;
    }
    pthread_mutex_lock(&l->mu);
    if (l->tail)
        l->tail->next = j;
    else
        l->head = j;
    l->tail = j;
    l->queued++;
    pthread_cond_signal(&l->cv);
    pthread_mutex_unlock(&l->mu);
    return true;
}

/* ---- the request callback ---- */

static struct guard_conn *guard_of(struct MHD_Connection *c)
{
    const union MHD_ConnectionInfo *ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
    return ci ? ci->socket_context : NULL;
}

/* After the handler deferred its answer: parks the connection unless the
 * answer is ready already. */
static void park(struct MHD_Connection *c, struct http_deferred *d)
{
    pthread_mutex_lock(&park_mu);
    bool ready = d->ready;
    pthread_mutex_unlock(&park_mu);
    if (ready) {
        send_resp(c, &d->resp);
        return;
    }
    /* suspended before it is marked, so a resume never precedes it */
    MHD_suspend_connection(c);
    pthread_mutex_lock(&park_mu);
    ready = d->ready;
    d->suspended = !ready;
    pthread_mutex_unlock(&park_mu);
    if (ready)
        MHD_resume_connection(c);
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
        up->gc = guard_of(c);
        guard_phase_body(up->gc);
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
    guard_phase_busy(up->gc);

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
    req.server = s;
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
    req.route = hit;
    if (!status && hit->lane > 0 && (size_t)hit->lane <= s->nlanes &&
        !lane_submit(s, &s->lanes[hit->lane - 1], c, up, &req))
        status = 503; /* the lane is full: say so now rather than queue without bound */
    if (status) {
        default_error(&resp, status);
        if (s->opts.on_error)
            s->opts.on_error(s->opts.ctx, &req, &resp, status);
    } else if (!up->def) {
        up->handler_resp = &resp;
        hit->fn(s->opts.ctx, &req, &resp);
        up->handler_resp = NULL;
    }
    form_free(&req.query);
    if (up->def && !status) {
        resp_free(&resp);
        park(c, up->def);
        return MHD_YES;
    }
    send_resp(c, &resp);
    resp_free(&resp);
    return MHD_YES;
}

static void on_completed(void *cls, struct MHD_Connection *c, void **state,
                         enum MHD_RequestTerminationCode toe)
{
    struct upload *up = *state;
    struct http_server *s = cls;
    (void)toe;
    if (!up)
        return;
    atomic_fetch_sub(&s->in_flight, 1);
    guard_phase_idle(up->gc);
    (void)c;
    if (up->def) {
        struct http_deferred *d = up->def;
        pthread_mutex_lock(&park_mu);
        if (!d->answered) { /* the connection went first: nobody is waiting for it */
            d->answered = true;
            unlink_parked(s, d);
        }
        bool last = unref_locked(d);
        pthread_mutex_unlock(&park_mu);
        if (last)
            deferred_free(d);
    }
    buf_free(&up->body);
    free(up);
    *state = NULL;
}

static void on_connection(void *cls, struct MHD_Connection *c, void **socket_context,
                          enum MHD_ConnectionNotificationCode code)
{
    struct http_server *s = cls;
    if (code == MHD_CONNECTION_NOTIFY_STARTED) {
        const union MHD_ConnectionInfo *fi = MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);
        const union MHD_ConnectionInfo *ai = MHD_get_connection_info(c, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
        *socket_context = guard_open(s->guard, fi ? fi->connect_fd : -1, ai ? ai->client_addr : NULL);
    } else {
        guard_close(s->guard, *socket_context);
        *socket_context = NULL;
    }
}

static enum MHD_Result on_accept(void *cls, const struct sockaddr *addr, socklen_t addrlen)
{
    struct http_server *s = cls;
    (void)addrlen;
    return guard_admit(s->guard, addr) ? MHD_YES : MHD_NO;
}

/* Raises the soft limit on open files to hold want connections, as far as
 * the hard limit allows; returns how many connections fit. */
static unsigned files_for(unsigned want)
{
    enum { SPARE = 256 }; /* the database, logs, provider connections */
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
        return want;
    rlim_t need = (rlim_t)want + SPARE;
    if (rl.rlim_cur < need) {
        rl.rlim_cur = rl.rlim_max == RLIM_INFINITY || rl.rlim_max >= need ? need : rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
        getrlimit(RLIMIT_NOFILE, &rl);
    }
    if (rl.rlim_cur >= need)
        return want;
    return rl.rlim_cur > 2 * SPARE ? (unsigned)(rl.rlim_cur - SPARE) : SPARE;
}

static void server_free(struct http_server *s)
{
    if (s->timer_started) {
        pthread_mutex_lock(&park_mu);
        s->stopping = true;
        pthread_cond_signal(&s->park_cv);
        pthread_mutex_unlock(&park_mu);
        pthread_join(s->timer, NULL);
    }
    lanes_stop(s);
    guard_free(s->guard);
    ratelimit_free(s->limiter);
    pthread_cond_destroy(&s->park_cv);
    free(s);
}

/* A failed start before libmicrohttpd has the socket: the socket goes too. */
static struct http_server *start_failed(struct http_server *s)
{
    close(s->fd);
    server_free(s);
    return NULL;
}

struct http_server *http_server_start(const struct http_server_opts *opts)
{
    int fd = opts->listen_fd_set ? opts->listen_fd : -1;
    if (fd < 0) {
        const char *host = opts->bind ? opts->bind : opts->loopback_only ? "127.0.0.1" : "0.0.0.0";
        char why[160];
        if ((fd = http_bind(host, opts->port, why, sizeof why)) < 0) {
            log_error("http.listen_failed", "problem=\"%s\"", why);
            return NULL;
        }
    }
    if (listen(fd, 1024) != 0) { /* two started at once: both bound, the second to listen loses */
        log_error("http.listen_failed", "port=%u problem=\"%s\"", opts->port,
                  errno == EADDRINUSE ? "address in use" : strerror(errno));
        close(fd);
        return NULL;
    }
    struct http_server *s = calloc(1, sizeof *s);
    if (!s) {
        close(fd);
        return NULL;
    }
    s->fd = fd;
    s->opts = *opts;
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&s->park_cv, &ca);
    pthread_condattr_destroy(&ca);
    unsigned max_conns = files_for(opts->max_connections ? opts->max_connections : 4096);
    if (max_conns < (opts->max_connections ? opts->max_connections : 4096))
        log_warn("http.connections_capped", "max_connections=%u reason=\"the open-file limit\"", max_conns);
    struct guard_opts go = {
        .max_conns = max_conns, .per_ip = opts->per_ip_connections,
        .header_ms = opts->header_timeout_ms > 0 ? opts->header_timeout_ms : 15000,
        .body_ms = opts->body_timeout_ms > 0 ? opts->body_timeout_ms : 15000,
    };
    if ((opts->rate_limit > 0 && !(s->limiter = ratelimit_new(opts->rate_limit, opts->rate_window_s, 0))) ||
        !(s->guard = guard_new(&go)) || !lanes_start(s))
        return start_failed(s);
    if (pthread_create(&s->timer, NULL, timer_main, s) != 0)
        return start_failed(s);
    s->timer_started = true;
    struct sockaddr_storage at;
    socklen_t atlen = sizeof at;
    s->port = opts->port;
    if (getsockname(s->fd, (struct sockaddr *)&at, &atlen) == 0)
        s->port = ntohs(at.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&at)->sin6_port
                                                 : ((struct sockaddr_in *)&at)->sin_port);
    /* an answer being written to a client that stops reading: libmicrohttpd's
     * inactivity timeout, the header deadline rounded up to seconds */
    unsigned idle_s = (unsigned)((go.header_ms + 999) / 1000);
    /* one thread is libmicrohttpd's own polling thread, not a pool of one */
    unsigned pool = opts->threads ? opts->threads : 2;
    struct MHD_OptionItem o[] = {
        /* our own socket (http_bind): SO_REUSEADDR only, so a restart binds
         * at once past the old connections' TIME_WAIT, but a second process
         * cannot share the port with a live one (as SO_REUSEPORT, which
         * libmicrohttpd's LISTENING_ADDRESS_REUSE sets, would let it) */
        {MHD_OPTION_LISTEN_SOCKET, s->fd, NULL},
        {MHD_OPTION_NOTIFY_COMPLETED, (intptr_t)on_completed, s},
        {MHD_OPTION_NOTIFY_CONNECTION, (intptr_t)on_connection, s},
        {MHD_OPTION_CONNECTION_TIMEOUT, idle_s, NULL},
        {MHD_OPTION_CONNECTION_LIMIT, max_conns, NULL},
        /* libmicrohttpd zeroes a connection's whole pool before each
         * request on it; 16 KiB (not its 32) holds any request line and
         * headers a client of ours sends (bodies stream past it); a larger
         * header block is answered 431 */
        {MHD_OPTION_CONNECTION_MEMORY_LIMIT, 16384, NULL},
        {pool > 1 ? MHD_OPTION_THREAD_POOL_SIZE : MHD_OPTION_END, pool, NULL},
        {MHD_OPTION_END, 0, NULL},
    };
    /* poll(), not epoll: libmicrohttpd 0.9.75's MHD_quiesce_daemon races its
     * own pool threads when both take the listening socket out of their
     * epoll sets, and the loser aborts the process ("Failed to remove listen
     * FD from epoll set", daemon.c:5531; seen once at SIGTERM in the e2e
     * suite). With poll it only raises a flag and wakes them; throughput
     * and p99 were the same under the benchmark script. */
    s->d = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_POLL | MHD_USE_ERROR_LOG | MHD_USE_ITC |
                                MHD_ALLOW_SUSPEND_RESUME,
                            (uint16_t)opts->port, on_accept, s, on_request, s, MHD_OPTION_ARRAY, o,
                            MHD_OPTION_END);
    if (!s->d) {
        /* the socket is left open: whether a failed start closed it is
         * libmicrohttpd's to say, and a second close could hit a reused fd */
        server_free(s);
        return NULL;
    }
    return s;
}

unsigned http_server_port(const struct http_server *s)
{
    return s->port;
}

int http_bind(const char *host, unsigned port, char *err, size_t errsz)
{
    struct sockaddr_storage ss = {0};
    socklen_t len;
    struct sockaddr_in *v4 = (struct sockaddr_in *)&ss;
    struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)&ss;
    char shown[80];
    if (inet_pton(AF_INET, host, &v4->sin_addr) == 1) {
        v4->sin_family = AF_INET;
        v4->sin_port = htons((uint16_t)port);
        len = sizeof *v4;
        snprintf(shown, sizeof shown, "%s:%u", host, port);
    } else if (inet_pton(AF_INET6, host, &v6->sin6_addr) == 1) {
        v6->sin6_family = AF_INET6;
        v6->sin6_port = htons((uint16_t)port);
        len = sizeof *v6;
        snprintf(shown, sizeof shown, "[%s]:%u", host, port);
    } else {
        snprintf(err, errsz, "cannot listen on %.60s: not a numeric IPv4 or IPv6 address", host);
        return -1;
    }
    int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0) {
        snprintf(err, errsz, "cannot listen on %s: %s", shown, strerror(errno));
        return -1;
    }
    int on = 1, off = 0;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on);
    /* "::" takes IPv4 too (dual stack), whatever the system's default */
    if (ss.ss_family == AF_INET6)
        setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &off, sizeof off);
    if (bind(fd, (struct sockaddr *)&ss, len) != 0) {
        int e = errno;
        close(fd);
        snprintf(err, errsz, "cannot listen on %s: %s", shown,
                 e == EADDRINUSE ? "address in use"
                 : e == EADDRNOTAVAIL ? "no such address on this machine"
                 : strerror(e));
        return -1;
    }
    return fd;
}

static void wait_in_flight(struct http_server *s, int ms)
{
    for (int waited = 0; waited < ms; waited += 20) {
        if (atomic_load(&s->in_flight) == 0)
            break;
        struct timespec ts = {0, 20 * 1000000};
        nanosleep(&ts, NULL);
    }
}

void http_server_stop(struct http_server *s, int grace_ms)
{
    if (!s)
        return;
    MHD_socket quiet = MHD_quiesce_daemon(s->d);
    /* wait for requests in flight only: an idle keep-alive connection
     * (AT, a provider, a test) must not hold the stop */
    wait_in_flight(s, grace_ms);
    /* what is still parked is answered now: libmicrohttpd cannot stop with
     * a connection suspended */
    pthread_mutex_lock(&park_mu);
    struct http_deferred *due = take_due(s, 0, true);
    pthread_mutex_unlock(&park_mu);
    answer_due(s, due, 503);
    wait_in_flight(s, 500);
    MHD_stop_daemon(s->d);
    /* a quiesced daemon leaves its listening socket open; closed now, the
     * port is free for the next server at once */
    if (quiet != MHD_INVALID_SOCKET)
        close(quiet);
    server_free(s);
}

const char *http_header(const struct http_req *req, const char *name)
{
    if (req->conn)
        return MHD_lookup_connection_value(req->conn, MHD_HEADER_KIND, name);
    for (size_t i = 0; req->headers && i < req->headers->n; i++) /* on a lane: the copy */
        if (!strcasecmp(req->headers->name[i], name))
            return req->headers->value[i];
    return NULL;
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
