/* store/hot: striped in-memory tables for sessions and callers; see hot.h. */
#include "store/hot.h"

#include "util/str.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#define STRIPES 64
#define BUCKETS 4096 /* per stripe */

struct sess {
    struct sess *next;
    struct sess *dirty_next;   /* on the stripe's dirty list while dirty */
    char *id, *phone, *state, *last_text, *last_reply;
    int64_t updated_at;
    bool dirty;
    bool persisted;            /* SQLite has some state of this session */
};

struct caller_ent {
    struct caller_ent *next;
    char phone[16];
    int64_t gen, used_at;
    struct store_caller c;
};

struct stripe {
    pthread_mutex_t lock;
    struct sess *dirty;        /* sessions to write, newest first */
    struct sess *sess[BUCKETS];
    struct caller_ent *callers[BUCKETS];
};

struct hot {
    struct stripe stripe[STRIPES];
};

static uint64_t hash(const char *s)
{
    uint64_t h = 1469598103934665603ull; /* FNV-1a */
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ull;
    return h;
}

struct hot *hot_new(void)
{
    struct hot *h = calloc(1, sizeof *h);
    if (!h)
        return NULL;
    for (int i = 0; i < STRIPES; i++)
        pthread_mutex_init(&h->stripe[i].lock, NULL);
    return h;
}

static void sess_free(struct sess *e)
{
    free(e->id);
    free(e->phone);
    free(e->state);
    free(e->last_text);
    free(e->last_reply);
    free(e);
}

void hot_free(struct hot *h)
{
    if (!h)
        return;
    for (int i = 0; i < STRIPES; i++) {
        struct stripe *s = &h->stripe[i];
        for (int b = 0; b < BUCKETS; b++) {
            for (struct sess *e = s->sess[b], *n; e; e = n) {
                n = e->next;
                sess_free(e);
            }
            for (struct caller_ent *e = s->callers[b], *n; e; e = n) {
                n = e->next;
                free(e);
            }
        }
        pthread_mutex_destroy(&s->lock);
    }
    free(h);
}

static struct stripe *stripe_of(struct hot *h, uint64_t hv) { return &h->stripe[hv % STRIPES]; }
static size_t bucket_of(uint64_t hv) { return (size_t)((hv / STRIPES) % BUCKETS); }

bool hot_session_get(struct hot *h, const char *id, struct ussd_row *r)
{
    uint64_t hv = hash(id);
    struct stripe *s = stripe_of(h, hv);
    bool hit = false;
    pthread_mutex_lock(&s->lock);
    for (struct sess *e = s->sess[bucket_of(hv)]; e; e = e->next) {
        if (!strcmp(e->id, id)) {
            str_copy(r->state, sizeof r->state, e->state);
            str_copy(r->last_text, sizeof r->last_text, e->last_text);
            str_copy(r->last_reply, sizeof r->last_reply, e->last_reply);
            r->updated_at = e->updated_at;
            hit = true;
            break;
        }
    }
    pthread_mutex_unlock(&s->lock);
    return hit;
}

/* Replaces *slot with a copy of v; false when out of memory. */
static bool set_str(char **slot, const char *v)
{
    char *p = strdup(v ? v : "");
    if (!p)
        return false;
    free(*slot);
    *slot = p;
    return true;
}

bool hot_session_put(struct hot *h, const char *id, const char *phone, const struct ussd_row *r, bool dirty)

{
    uint64_t hv = hash(id);
    struct stripe *s = stripe_of(h, hv);
    size_t b = bucket_of(hv);
    bool ok = true;
    pthread_mutex_lock(&s->lock);
    struct sess *e = s->sess[b];
    while (e && strcmp(e->id, id))
        e = e->next;
    if (!e) {
        e = calloc(1, sizeof *e);
        if (!e || !(e->id = strdup(id))) {
            free(e);
            pthread_mutex_unlock(&s->lock);
            return false;
        }
        e->next = s->sess[b];
        s->sess[b] = e;
    }
    ok = set_str(&e->phone, phone) && set_str(&e->state, r->state) && set_str(&e->last_text, r->last_text) &&
         set_str(&e->last_reply, r->last_reply);
    e->updated_at = now_ms();
    if (!dirty) /* loaded from SQLite */
        e->persisted = true;
    if (dirty && !e->dirty) {
        e->dirty = true;
        e->dirty_next = s->dirty;
        s->dirty = e;
    }
    pthread_mutex_unlock(&s->lock);
    return ok;
}

void hot_dirty_free(struct hot_dirty *list)
{
    while (list) {
        struct hot_dirty *n = list->next;
        free(list->id);
        free(list->phone);
        free(list->state);
        free(list->last_text);
        free(list->last_reply);
        free(list);
        list = n;
    }
}

/* Copies e out (caller holds its stripe lock); NULL when out of memory. */
static struct hot_dirty *copy_out(const struct sess *e)
{
    struct hot_dirty *d = calloc(1, sizeof *d);
    if (d && (d->id = strdup(e->id)) && (d->phone = strdup(e->phone)) && (d->state = strdup(e->state)) &&
        (d->last_text = strdup(e->last_text)) && (d->last_reply = strdup(e->last_reply))) {
        d->updated_at = e->updated_at;
        return d;
    }
    hot_dirty_free(d);
    return NULL;
}

struct hot_dirty *hot_session_collect(struct hot *h)
{
    /* The flusher runs as background work: it must never hold a stripe lock
     * for long, or a hop on that stripe waits behind a preempted thread.
     * So the lock is taken per entry: detach one, copy it, let go. */
    struct hot_dirty *list = NULL;
    for (int i = 0; i < STRIPES; i++) {
        struct stripe *s = &h->stripe[i];
        for (;;) {
            pthread_mutex_lock(&s->lock);
            struct sess *e = s->dirty;
            if (!e) {
                pthread_mutex_unlock(&s->lock);
                break;
            }
            if (!e->persisted && !strncmp(e->last_reply, "END", 3)) {
                /* ended before it was ever written: a restart has nothing
                 * to resume, so it never costs a write */
                s->dirty = e->dirty_next;
                e->dirty = false;
                e->dirty_next = NULL;
                pthread_mutex_unlock(&s->lock);
                continue;
            }
            struct hot_dirty *d = copy_out(e);
            if (d) {
                s->dirty = e->dirty_next;
                e->dirty = false;
                e->persisted = true;
                e->dirty_next = NULL;
            }
            pthread_mutex_unlock(&s->lock);
            if (!d)
                break; /* out of memory: the rest stays dirty for next time */
            d->next = list;
            list = d;
        }
    }
    return list;
}

void hot_evict(struct hot *h, int64_t before)
{
    for (int i = 0; i < STRIPES; i++) {
        struct stripe *s = &h->stripe[i];
        pthread_mutex_lock(&s->lock);
        for (int b = 0; b < BUCKETS; b++) {
            for (struct sess **pp = &s->sess[b]; *pp;) {
                struct sess *e = *pp;
                if (!e->dirty && e->updated_at < before) {
                    *pp = e->next;
                    sess_free(e);
                } else {
                    pp = &e->next;
                }
            }
            for (struct caller_ent **cp = &s->callers[b]; *cp;) {
                struct caller_ent *e = *cp;
                if (e->used_at < before) {
                    *cp = e->next;
                    free(e);
                } else {
                    cp = &e->next;
                }
            }
        }
        pthread_mutex_unlock(&s->lock);
    }
}

void hot_session_redirty(struct hot *h, const struct hot_dirty *list)
{
    for (; list; list = list->next) {
        uint64_t hv = hash(list->id);
        struct stripe *s = stripe_of(h, hv);
        pthread_mutex_lock(&s->lock);
        for (struct sess *e = s->sess[bucket_of(hv)]; e; e = e->next)
            if (!strcmp(e->id, list->id) && !e->dirty) {
                e->dirty = true;
                e->dirty_next = s->dirty;
                s->dirty = e;
            }
        pthread_mutex_unlock(&s->lock);
    }
}

bool hot_caller_get(struct hot *h, const char *phone, int64_t gen, struct store_caller *c)
{
    uint64_t hv = hash(phone);
    struct stripe *s = stripe_of(h, hv);
    bool hit = false;
    pthread_mutex_lock(&s->lock);
    for (struct caller_ent *e = s->callers[bucket_of(hv)]; e; e = e->next) {
        if (!strcmp(e->phone, phone)) {
            if (e->gen == gen) {
                e->used_at = now_ms();
                c->registered = e->c.registered;
                c->user = e->c.user;
                c->nmeters = e->c.nmeters;
                memcpy(c->meters, e->c.meters, (size_t)e->c.nmeters * sizeof c->meters[0]);
                hit = true;
            }
            break;
        }
    }
    pthread_mutex_unlock(&s->lock);
    return hit;
}

void hot_caller_put(struct hot *h, const char *phone, int64_t gen, const struct store_caller *c)
{
    uint64_t hv = hash(phone);
    struct stripe *s = stripe_of(h, hv);
    size_t b = bucket_of(hv);
    pthread_mutex_lock(&s->lock);
    struct caller_ent *e = s->callers[b];
    while (e && strcmp(e->phone, phone))
        e = e->next;
    if (!e && (e = calloc(1, sizeof *e))) {
        str_copy(e->phone, sizeof e->phone, phone);
        e->next = s->callers[b];
        s->callers[b] = e;
    }
    if (e && e->gen <= gen) {
        e->gen = gen;
        e->used_at = now_ms();
        e->c = *c;
    }
    pthread_mutex_unlock(&s->lock);
}
