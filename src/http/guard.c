/* http/guard: connection caps and deadlines; see guard.h. */
#include "http/guard.h"

#include "util/str.h"

#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define IP_BUCKETS 4096
#define REAP_EVERY_MS 100

enum phase { PH_IDLE, PH_BODY, PH_BUSY };

/* A client address as counted: IPv4, or the first 8 bytes of IPv6. */
struct ip_key {
    uint8_t family;            /* 4 or 6; 0: not countable (no cap) */
    uint8_t addr[8];
};

struct ip_count {
    struct ip_count *next;
    struct ip_key key;
    unsigned n;
};

struct guard_conn {
    struct guard_conn *prev, *next;
    int fd;
    struct ip_key key;
    atomic_int phase;
    atomic_llong since;        /* when the phase began (guard_now) */
    bool shut;                 /* shut down once; under the guard's mutex */
};

struct guard {
    struct guard_opts o;
    pthread_mutex_t mu;
    struct guard_conn *conns;  /* every open connection */
    unsigned open;
    struct ip_count *ips[IP_BUCKETS];
    pthread_t reaper;
    bool has_reaper;
    pthread_cond_t cv;
    bool stopping;
};

int64_t guard_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static struct ip_key key_of(const struct sockaddr *sa)
{
    struct ip_key k;
    memset(&k, 0, sizeof k);
    if (!sa)
        return k;
    if (sa->sa_family == AF_INET) {
        const struct sockaddr_in *v4 = (const struct sockaddr_in *)sa;
        k.family = 4;
        memcpy(k.addr, &v4->sin_addr, 4);
    } else if (sa->sa_family == AF_INET6) {
        const struct sockaddr_in6 *v6 = (const struct sockaddr_in6 *)sa;
        const uint8_t *b = v6->sin6_addr.s6_addr;
        static const uint8_t mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
        if (!memcmp(b, mapped, 12)) { /* an IPv4 client on a dual-stack socket */
            k.family = 4;
            memcpy(k.addr, b + 12, 4);
        } else {
            k.family = 6;
            memcpy(k.addr, b, 8);
        }
    }
    return k;
}

static size_t bucket(const struct ip_key *k) { return (size_t)(str_fnv1a((const char *)k, sizeof *k) % IP_BUCKETS); }

/* The count of k (under mu); NULL when none. */
static struct ip_count *count_of(struct guard *g, const struct ip_key *k)
{
    for (struct ip_count *c = g->ips[bucket(k)]; c; c = c->next)
        if (!memcmp(&c->key, k, sizeof *k))
            return c;
    return NULL;
}

static void *reaper_main(void *arg);

struct guard *guard_new(const struct guard_opts *opts)
{
    struct guard *g = calloc(1, sizeof *g);
    if (!g)
        return NULL;
    g->o = *opts;
    pthread_mutex_init(&g->mu, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&g->cv, &ca);
    pthread_condattr_destroy(&ca);
    if (!opts->no_thread) {
        if (pthread_create(&g->reaper, NULL, reaper_main, g) != 0) {
            guard_free(g);
            return NULL;
        }
        g->has_reaper = true;
    }
    return g;
}

void guard_free(struct guard *g)
{
    if (!g)
        return;
    if (g->has_reaper) {
        pthread_mutex_lock(&g->mu);
        g->stopping = true;
        pthread_cond_signal(&g->cv);
        pthread_mutex_unlock(&g->mu);
        pthread_join(g->reaper, NULL);
    }
    /* connections still listed were never closed: the server is gone */
    for (struct guard_conn *c = g->conns, *n; c; c = n) {
        n = c->next;
        free(c);
    }
    for (size_t b = 0; b < IP_BUCKETS; b++)
        for (struct ip_count *c = g->ips[b], *n; c; c = n) {
            n = c->next;
            free(c);
        }
    pthread_cond_destroy(&g->cv);
    pthread_mutex_destroy(&g->mu);
    free(g);
}

bool guard_admit(struct guard *g, const struct sockaddr *sa)
{
    if (!g->o.per_ip)
        return true;
    struct ip_key k = key_of(sa);
    if (!k.family)
        return true;
    pthread_mutex_lock(&g->mu);
    struct ip_count *c = count_of(g, &k);
    bool ok = !c || c->n < g->o.per_ip;
    pthread_mutex_unlock(&g->mu);
    return ok;
}

struct guard_conn *guard_open(struct guard *g, int fd, const struct sockaddr *sa)
{
    struct guard_conn *c = calloc(1, sizeof *c);
    if (!c)
        return NULL;
    c->fd = fd;
    c->key = key_of(sa);
    atomic_init(&c->phase, PH_IDLE);
    atomic_init(&c->since, guard_now());
    pthread_mutex_lock(&g->mu);
    if (c->key.family) {
        struct ip_count *ic = count_of(g, &c->key);
        if (!ic && (ic = calloc(1, sizeof *ic))) {
            ic->key = c->key;
            size_t b = bucket(&c->key);
            ic->next = g->ips[b];
            g->ips[b] = ic;
        }
        if (ic)
            ic->n++;
        else
            c->key.family = 0; /* not counted, so never uncounted */
    }
    c->next = g->conns;
    if (g->conns)
        g->conns->prev = c;
    g->conns = c;
    g->open++;
    pthread_mutex_unlock(&g->mu);
    return c;
}

void guard_close(struct guard *g, struct guard_conn *c)
{
    if (!c)
        return;
    pthread_mutex_lock(&g->mu);
    if (c->prev)
        c->prev->next = c->next;
    else
        g->conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    g->open--;
    if (c->key.family) {
        size_t b = bucket(&c->key);
        for (struct ip_count **pp = &g->ips[b]; *pp; pp = &(*pp)->next) {
            if (!memcmp(&(*pp)->key, &c->key, sizeof c->key)) {
                struct ip_count *ic = *pp;
                if (--ic->n == 0) {
                    *pp = ic->next;
                    free(ic);
                }
                break;
            }
        }
    }
    pthread_mutex_unlock(&g->mu);
    free(c);
}

static void set_phase(struct guard_conn *c, enum phase p)
{
    if (!c)
        return;
    atomic_store(&c->since, guard_now());
    atomic_store(&c->phase, p);
}

void guard_phase_body(struct guard_conn *c) { set_phase(c, PH_BODY); }
void guard_phase_busy(struct guard_conn *c) { set_phase(c, PH_BUSY); }
void guard_phase_idle(struct guard_conn *c) { set_phase(c, PH_IDLE); }

int guard_reap(struct guard *g, int64_t now)
{
    int n = 0;
    pthread_mutex_lock(&g->mu);
    bool pressed = g->o.max_conns && g->open > g->o.max_conns / 4 * 3;
    int64_t idle_ms = pressed && g->o.header_ms > GUARD_PRESSURE_MS ? GUARD_PRESSURE_MS : g->o.header_ms;
    for (struct guard_conn *c = g->conns; c; c = c->next) {
        int ph = atomic_load(&c->phase);
        int64_t age = now - atomic_load(&c->since);
        bool late = (ph == PH_IDLE && age > idle_ms) || (ph == PH_BODY && age > g->o.body_ms);
        if (late && !c->shut) {
            /* the descriptor is the server's until guard_close, which
             * waits for this lock: it is still open here */
            shutdown(c->fd, SHUT_RDWR);
            c->shut = true;
            n++;
        }
    }
    pthread_mutex_unlock(&g->mu);
    return n;
}

unsigned guard_open_count(struct guard *g)
{
    pthread_mutex_lock(&g->mu);
    unsigned n = g->open;
    pthread_mutex_unlock(&g->mu);
    return n;
}

unsigned guard_ip_count(struct guard *g, const struct sockaddr *sa)
{
    struct ip_key k = key_of(sa);
    pthread_mutex_lock(&g->mu);
    struct ip_count *c = count_of(g, &k);
    unsigned n = c ? c->n : 0;
    pthread_mutex_unlock(&g->mu);
    return n;
}

static void *reaper_main(void *arg)
{
    struct guard *g = arg;
    pthread_setname_np(pthread_self(), "http-guard");
    pthread_mutex_lock(&g->mu);
    while (!g->stopping) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        ts.tv_nsec += REAP_EVERY_MS * 1000000L;
        if (ts.tv_nsec >= 1000000000L) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000L;
        }
        pthread_cond_timedwait(&g->cv, &g->mu, &ts);
        if (g->stopping)
            break;
        pthread_mutex_unlock(&g->mu);
        guard_reap(g, guard_now());
        pthread_mutex_lock(&g->mu);
    }
    pthread_mutex_unlock(&g->mu);
    return NULL;
}
