/* fake: the provider stand-in of the unit tests; see fake.h. */
#include "fake.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static const char *const fake_hdr_names[FAKE_NHDR] = {
    "Authorization", "apiKey", "Accept", "Content-Type", "client_id",
    "access_token", "sign", "t", "nonce", "sign_method",
};

static char *fake_dup(const char *s)
{
    return s ? strdup(s) : NULL;
}

/* The route handler: records the request, then lets the test answer. */
void fake_dispatch(void *ctx, struct http_req *req, struct http_resp *resp)
{
    struct fake *f = ctx;
    pthread_mutex_lock(&f->mu);
    struct fake_req *rq = f->n < FAKE_MAX_REQS ? &f->reqs[f->n++] : NULL;
    if (rq) {
        snprintf(rq->method, sizeof rq->method, "%s", req->method);
        snprintf(rq->path, sizeof rq->path, "%s", req->path);
        size_t o = 0;
        for (size_t i = 0; i < req->query.n && o < sizeof rq->query; i++) {
            int w = snprintf(rq->query + o, sizeof rq->query - o, "%s%s=%s", i ? "&" : "",
                             req->query.name[i], req->query.value[i]);
            if (w < 0)
                break;
            o += (size_t)w;
        }
        rq->body = malloc(req->body_len + 1);
        if (rq->body) {
            memcpy(rq->body, req->body, req->body_len);
            rq->body[req->body_len] = 0;
        }
        rq->body_len = req->body_len;
        for (int i = 0; i < FAKE_NHDR; i++)
            rq->hdr[i] = fake_dup(http_header(req, fake_hdr_names[i]));
    }
    int delay = f->delay_ms;
    pthread_mutex_unlock(&f->mu);
    if (delay > 0) {
        struct timespec ts = {delay / 1000, (long)(delay % 1000) * 1000000L};
        nanosleep(&ts, NULL);
    }
    pthread_mutex_lock(&f->mu);
    if (rq && f->fn)
        f->fn(f, rq, resp);
    else
        http_resp_text(resp, 500, "text/plain", "fake: too many requests recorded");
    pthread_mutex_unlock(&f->mu);
}

/* True when nobody holds 127.0.0.1:port (the server sets SO_REUSEPORT, so
 * a plain bind is the honest probe). */
static bool fake_port_free(unsigned port)
{
    int s = socket(AF_INET, SOCK_STREAM, 0);
    if (s < 0)
        return false;
    struct sockaddr_in a = {0};
    a.sin_family = AF_INET;
    a.sin_port = htons((uint16_t)port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    bool ok = bind(s, (struct sockaddr *)&a, sizeof a) == 0;
    close(s);
    return ok;
}

/* Starts the fake; routes name fake_dispatch as their handler. */
bool fake_start(struct fake *f, const struct http_route *routes, fake_fn fn, void *ud)
{
    static unsigned attempt;
    memset(f, 0, sizeof *f);
    pthread_mutex_init(&f->mu, NULL);
    f->fn = fn;
    f->ud = ud;
    for (int i = 0; i < 200 && !f->srv; i++, attempt++) {
        unsigned port = 20000u + ((unsigned)getpid() * 131u + attempt * 7919u) % 20000u;
        if (!fake_port_free(port))
            continue;
        struct http_server_opts o = {.port = port, .threads = 4, .body_max = 1u << 20,
                                     .routes = routes, .ctx = f, .loopback_only = true};
        f->srv = http_server_start(&o);
        if (f->srv)
            f->port = port;
    }
    if (!f->srv)
        return false;
    snprintf(f->base, sizeof f->base, "http://127.0.0.1:%u", f->port);
    return true;
}

void fake_stop(struct fake *f)
{
    http_server_stop(f->srv, 2000);
    f->srv = NULL;
    for (size_t i = 0; i < f->n; i++) {
        free(f->reqs[i].body);
        for (int j = 0; j < FAKE_NHDR; j++)
            free(f->reqs[i].hdr[j]);
    }
    f->n = 0;
    pthread_mutex_destroy(&f->mu);
}

/* Requests seen for method and path. */
int fake_count(struct fake *f, const char *method, const char *path)
{
    int n = 0;
    pthread_mutex_lock(&f->mu);
    for (size_t i = 0; i < f->n; i++)
        if (!strcmp(f->reqs[i].method, method) && !strcmp(f->reqs[i].path, path))
            n++;
    pthread_mutex_unlock(&f->mu);
    return n;
}

/* The last request for method and path, or NULL; lent until fake_stop. */
const struct fake_req *fake_last(struct fake *f, const char *method, const char *path)
{
    const struct fake_req *hit = NULL;
    pthread_mutex_lock(&f->mu);
    for (size_t i = 0; i < f->n; i++)
        if (!strcmp(f->reqs[i].method, method) && !strcmp(f->reqs[i].path, path))
            hit = &f->reqs[i];
    pthread_mutex_unlock(&f->mu);
    return hit;
}

/* A recorded header (one of fake_hdr_names), or NULL. */
const char *fake_hdr(const struct fake_req *rq, const char *name)
{
    for (int i = 0; i < FAKE_NHDR; i++)
        if (!strcmp(fake_hdr_names[i], name))
            return rq->hdr[i];
    return NULL;
}

/* A base URL where nothing listens (transport errors). */
void fake_dead_base(char out[64])
{
    for (unsigned p = 20000u + (unsigned)getpid() % 19000u; p < 40000u; p++)
        if (fake_port_free(p)) {
            snprintf(out, 64, "http://127.0.0.1:%u", p);
            return;
        }
    snprintf(out, 64, "http://127.0.0.1:1");
}
