/* store/hot: striped in-memory tables for sessions and callers; see hot.h. */
#include "store/hot.h"

#include "util/aside.h"
#include "util/str.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#define STRIPES 64
/* Buckets per stripe. Sessions: a million under the benchmark script (a
 * minute of new sessions), so about one a bucket; the arrays are calloc'ed,
 * so untouched pages cost nothing. Callers: one per phone seen lately. */
#define SESS_BUCKETS 16384
#define CALLER_BUCKETS 1024
_Static_assert(SESS_BUCKETS % CALLER_BUCKETS == 0, "eviction walks both tables in step");

struct sess {
    struct sess *next;
    char *phone, *state, *last_text, *last_reply; /* into data */
    char *data;                /* one block: phone, state, text, reply */
    int64_t updated_at;
    char id[];
};

struct caller_ent {
    struct caller_ent *next;
    char phone[16];
    int64_t gen, used_at;
    struct store_caller c;
};

struct stripe {
    pthread_mutex_t lock;
    struct sess *sess[SESS_BUCKETS];
    struct caller_ent *callers[CALLER_BUCKETS];
};

struct hot {
    struct stripe stripe[STRIPES];
};

static uint64_t hash(const char *s) { return str_fnv1a(s, strlen(s)); }

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
    free(e->data);
    free(e);
}

/* Replaces e's strings with copies of these, in one allocation; false
 * (e unchanged) when out of memory. */
static bool sess_fill(struct sess *e, const char *phone, const struct ussd_row *r)
{
    const char *v[4] = {phone ? phone : "", r->state, r->last_text, r->last_reply};
    size_t len[4], total = 0;
    for (int i = 0; i < 4; i++)
        total += (len[i] = strlen(v[i])) + 1;
    char *d = malloc(total), *p = d;
    if (!d)
        return false;
    char **slot[4] = {&e->phone, &e->state, &e->last_text, &e->last_reply};
    for (int i = 0; i < 4; i++) {
        memcpy(p, v[i], len[i] + 1);
        *slot[i] = p;
        p += len[i] + 1;
    }
    free(e->data);
    e->data = d;
    return true;
}

void hot_free(struct hot *h)
{
    if (!h)
        return;
    for (int i = 0; i < STRIPES; i++) {
        struct stripe *s = &h->stripe[i];
        for (int b = 0; b < SESS_BUCKETS; b++)
            for (struct sess *e = s->sess[b], *n; e; e = n) {
                n = e->next;
                sess_free(e);
            }
        for (int b = 0; b < CALLER_BUCKETS; b++)
            for (struct caller_ent *e = s->callers[b], *n; e; e = n) {
                n = e->next;
                free(e);
            }
        pthread_mutex_destroy(&s->lock);
    }
    free(h);
}

static struct stripe *stripe_of(struct hot *h, uint64_t hv) { return &h->stripe[hv % STRIPES]; }
static size_t bucket_of(uint64_t hv, size_t n) { return (size_t)((hv / STRIPES) % n); }

bool hot_session_get(struct hot *h, const char *id, struct ussd_row *r)
{
    uint64_t hv = hash(id);
    struct stripe *s = stripe_of(h, hv);
    bool hit = false;
    pthread_mutex_lock(&s->lock);
    for (struct sess *e = s->sess[bucket_of(hv, SESS_BUCKETS)]; e; e = e->next) {
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

bool hot_session_put(struct hot *h, const char *id, const char *phone, const struct ussd_row *r)
{
    uint64_t hv = hash(id);
    struct stripe *s = stripe_of(h, hv);
    size_t b = bucket_of(hv, SESS_BUCKETS);
    pthread_mutex_lock(&s->lock);
    struct sess *e = s->sess[b];
    while (e && strcmp(e->id, id))
        e = e->next;
    bool fresh = !e;
    if (fresh) {
        size_t n = strlen(id) + 1;
        if (!(e = calloc(1, sizeof *e + n))) {
            pthread_mutex_unlock(&s->lock);
            return false;
        }
        memcpy(e->id, id, n);
    }
    bool ok = sess_fill(e, phone, r);
    if (fresh && ok) {
        e->next = s->sess[b];
        s->sess[b] = e;
    } else if (fresh) {
        free(e);
    }
    if (ok)
        e->updated_at = now_ms();
    pthread_mutex_unlock(&s->lock);
    return ok;
}

void hot_evict(struct hot *h, int64_t before)
{
    /* a stripe holds tens of thousands of sessions under load: the lock is
     * taken per slice of buckets, so a hop on that stripe never waits long,
     * and the scan (milliseconds over a million sessions) steps aside after
     * each slice (util/aside.h) */
    enum { SLICE = 256, STEP = SESS_BUCKETS / CALLER_BUCKETS }; /* caller buckets: SLICE / STEP */
    for (int i = 0; i < STRIPES; i++) {
        struct stripe *s = &h->stripe[i];
        for (int b0 = 0; b0 < SESS_BUCKETS; b0 += SLICE) {
            struct sess *dead = NULL;
            pthread_mutex_lock(&s->lock);
            for (int b = b0; b < b0 + SLICE; b++) {
                for (struct sess **pp = &s->sess[b]; *pp;) {
                    struct sess *e = *pp;
                    if (e->updated_at < before) {
                        *pp = e->next;
                        e->next = dead;
                        dead = e;
                    } else {
                        pp = &e->next;
                    }
                }
                if (b % STEP)
                    continue;
                for (struct caller_ent **cp = &s->callers[b / STEP]; *cp;) {
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
            while (dead) { /* freed outside the lock */
                struct sess *n = dead->next;
                sess_free(dead);
                dead = n;
            }
            step_aside();
        }
    }
}

bool hot_caller_get(struct hot *h, const char *phone, int64_t gen, struct store_caller *c)
{
    uint64_t hv = hash(phone);
    struct stripe *s = stripe_of(h, hv);
    bool hit = false;
    pthread_mutex_lock(&s->lock);
    for (struct caller_ent *e = s->callers[bucket_of(hv, CALLER_BUCKETS)]; e; e = e->next) {
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
    size_t b = bucket_of(hv, CALLER_BUCKETS);
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
