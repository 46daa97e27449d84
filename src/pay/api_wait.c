/* pay/api_wait: REST requests parked until their STK push; see api_wait.h. */
#include "pay/api_wait.h"

#include "store/payments.h"
#include "util/log.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#define BUCKETS 256

struct waiter {
    struct waiter *next;
    uint64_t seq;
    int64_t payment_id;
    struct http_deferred *d;
    const struct http_route *route;
    pushwait_answer_fn answer;
};

struct pushwait {
    pthread_mutex_t mu;
    struct waiter *bucket[BUCKETS];
    atomic_uint n;
    uint64_t seq;
};

/* What the deadline's answer needs; owned by the deferral. */
struct late {
    struct app *a;
    uint64_t seq;
    const struct http_route *route;
    pushwait_answer_fn answer;
    struct payment p;          /* as it was parked: the answer if the store cannot be read */
};

static size_t bucket_of(int64_t id) { return (size_t)((uint64_t)id % BUCKETS); }

struct pushwait *pushwait_new(void)
{
    struct pushwait *w = calloc(1, sizeof *w);
    if (w)
        pthread_mutex_init(&w->mu, NULL);
    return w;
}

void pushwait_free(struct pushwait *w)
{
    if (!w)
        return;
    for (size_t b = 0; b < BUCKETS; b++)
        for (struct waiter *x = w->bucket[b], *n; x; x = n) { /* answered at the server's stop */
            n = x->next;
            http_defer_done(x->d);
            free(x);
        }
    pthread_mutex_destroy(&w->mu);
    free(w);
}

unsigned pushwait_count(struct pushwait *w) { return atomic_load(&w->n); }

/* Takes the waiter seq off its payment's list (under mu); NULL when the
 * payment worker took it first. */
static struct waiter *take_seq(struct pushwait *w, int64_t payment_id, uint64_t seq)
{
    for (struct waiter **pp = &w->bucket[bucket_of(payment_id)]; *pp; pp = &(*pp)->next) {
        if ((*pp)->seq == seq) {
            struct waiter *x = *pp;
            *pp = x->next;
            atomic_fetch_sub(&w->n, 1);
            return x;
        }
    }
    return NULL;
}

/* Takes every waiter of payment_id off the list (under mu). */
static struct waiter *take_payment(struct pushwait *w, int64_t payment_id)
{
    struct waiter *out = NULL;
    for (struct waiter **pp = &w->bucket[bucket_of(payment_id)]; *pp;) {
        struct waiter *x = *pp;
        if (x->payment_id == payment_id) {
            *pp = x->next;
            x->next = out;
            out = x;
            atomic_fetch_sub(&w->n, 1);
        } else {
            pp = &x->next;
        }
    }
    return out;
}

/* Answers the waiters in list with p and lets their requests go. */
static void answer_all(struct app *a, struct waiter *list, const struct payment *p)
{
    while (list) {
        struct waiter *x = list;
        list = x->next;
        struct http_resp *out = http_defer_claim(x->d); /* NULL: its deadline answered first */
        if (out)
            x->answer(a, x->route, p, out);
        http_defer_done(x->d);
        free(x);
    }
}

/* The deadline passed before the push: the payment as stored now. Runs
 * on the server's timer thread. */
static void late_answer(void *arg, struct http_resp *resp)
{
    struct late *l = arg;
    struct pushwait *w = l->a->pushwait;
    pthread_mutex_lock(&w->mu);
    struct waiter *x = take_seq(w, l->p.id, l->seq);
    pthread_mutex_unlock(&w->mu);
    struct payment now;
    bool fresh = store_payment_get(l->a->store, l->p.id, &now) == ST_OK;
    l->answer(l->a, l->route, fresh ? &now : &l->p, resp);
    if (x) { /* the request is answered: the waiter's hold on it ends */
        http_defer_done(x->d);
        free(x);
    }
}

void pushwait_park(struct app *a, struct http_req *req, struct http_resp *resp, const struct payment *p,
                   int64_t wait_ms, pushwait_answer_fn answer)
{
    struct pushwait *w = a->pushwait;
    if (strcmp(p->status, "pending") || atomic_load(&w->n) >= PUSHWAIT_MAX) {
        answer(a, req->route, p, resp);
        return;
    }
    struct late *l = calloc(1, sizeof *l);
    struct waiter *x = calloc(1, sizeof *x);
    if (!l || !x) {
        free(l);
        free(x);
        answer(a, req->route, p, resp);
        return;
    }
    pthread_mutex_lock(&w->mu);
    uint64_t seq = ++w->seq;
    pthread_mutex_unlock(&w->mu);
    *l = (struct late){.a = a, .seq = seq, .route = req->route, .answer = answer, .p = *p};
    struct http_deferred *d = http_defer_until(req, wait_ms, late_answer, l, free);
    if (!d) { /* l is freed with the failed deferral */
        free(x);
        answer(a, req->route, p, resp);
        return;
    }
    *x = (struct waiter){.seq = seq, .payment_id = p->id, .d = d, .route = req->route, .answer = answer};
    pthread_mutex_lock(&w->mu);
    size_t b = bucket_of(p->id);
    x->next = w->bucket[b];
    w->bucket[b] = x;
    atomic_fetch_add(&w->n, 1);
    pthread_mutex_unlock(&w->mu);
    /* the worker may have pushed it between the store and the list: look */
    struct payment now;
    if (store_payment_get(a->store, p->id, &now) == ST_OK && strcmp(now.status, "pending"))
        pushwait_pushed(a, &now);
}

void pushwait_pushed(struct app *a, const struct payment *p)
{
    struct pushwait *w = a->pushwait;
    if (!w || atomic_load(&w->n) == 0)
        return;
    pthread_mutex_lock(&w->mu);
    struct waiter *list = take_payment(w, p->id);
    pthread_mutex_unlock(&w->mu);
    answer_all(a, list, p);
}
