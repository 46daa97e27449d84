/* store/hop: striped, capped in-memory tables for sessions and callers;
 * see hop.h. */
#include "store/hop.h"

#include "store/users.h"
#include "store/ussd.h"
#include "util/aside.h"
#include "util/metrics.h"
#include "util/str.h"

#include <malloc.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

/* One allocation per entry: this header, the key and its NUL, then what
 * the entry holds (sessions: phone, state, last text, last reply, each
 * with its NUL; callers: the packed caller, see caller_pack). */
struct ring {
    struct ring *newer, *older;
};

struct ent {
    struct ring order;            /* first: the table's use order, a ring through its head */
    struct ent *hnext, **hprev;   /* bucket chain; hprev points at what points here */
    uint64_t hv;
    int64_t at;                   /* sessions: last written; callers: last used */
    int64_t gen;                  /* callers: the store generation read at; points: their at */
    uint32_t size;                /* of the allocation */
    int32_t waiting;              /* sessions: struct ussd_row's waiting */
    uint16_t len[4];              /* sessions and points: lengths of the four strings */
    bool live;                    /* points: not saved yet */
    char key[];
};

struct table {
    struct ent **bucket;
    size_t mask;                  /* buckets - 1 */
    struct ring head;             /* head.older is the newest entry, head.newer the oldest */
    size_t n, max, dropped;
    atomic_size_t *count;         /* points: the hop's count of them all, kept with n */
};

/* n changed by d (the stripe's lock is held). */
static void n_add(struct table *t, int d)
{
    t->n += (size_t)(ptrdiff_t)d;
    if (t->count)
        atomic_fetch_add(t->count, (size_t)(ptrdiff_t)d);
}

struct stripe {
    pthread_mutex_t lock;
    struct table sess, callers, points;
};

struct hop {
    struct stripe stripe[HOP_STRIPES];
    atomic_size_t bytes;          /* sum of the entries' sizes */
    atomic_size_t points;         /* resume points held, all stripes */
    pthread_mutex_t trim_lock;    /* guards the two below */
    size_t trim_peak;             /* bytes at their highest since the last trim */
    int64_t trimmed_at;
};

static uint64_t hash(const char *s) { return str_fnv1a(s, strlen(s)); }
static struct stripe *stripe_of(struct hop *h, uint64_t hv) { return &h->stripe[hv % HOP_STRIPES]; }
unsigned hop_stripe(const char *key) { return (unsigned)(hash(key) % HOP_STRIPES); }

static bool table_init(struct table *t, size_t max)
{
    size_t per = (max + HOP_STRIPES - 1) / HOP_STRIPES, n = 16;
    while (n < per) /* at most one entry a bucket on average when full */
        n *= 2;
    t->max = per ? per : 1;
    t->mask = n - 1;
    t->head.newer = t->head.older = &t->head;
    return (t->bucket = calloc(n, sizeof *t->bucket)) != NULL;
}

static struct ent *ent_of(struct ring *r) { return (struct ent *)r; }

static void table_free(struct table *t)
{
    if (!t->bucket)
        return; /* never initialized */
    for (struct ring *r = t->head.newer, *n; r != &t->head; r = n) {
        n = r->newer;
        free(ent_of(r));
    }
    free(t->bucket);
}

struct hop *hop_new(size_t max_sessions, size_t max_callers)
{
    struct hop *h = calloc(1, sizeof *h);
    if (!h)
        return NULL;
    pthread_mutex_init(&h->trim_lock, NULL);
    bool ok = true;
    for (int i = 0; i < HOP_STRIPES; i++) {
        pthread_mutex_init(&h->stripe[i].lock, NULL);
        ok = table_init(&h->stripe[i].sess, max_sessions) && table_init(&h->stripe[i].callers, max_callers) &&
             table_init(&h->stripe[i].points, max_callers) && ok;
        h->stripe[i].points.count = &h->points;
    }
    if (!ok) {
        hop_free(h);
        return NULL;
    }
    return h;
}

void hop_free(struct hop *h)
{
    if (!h)
        return;
    for (int i = 0; i < HOP_STRIPES; i++) {
        table_free(&h->stripe[i].sess);
        table_free(&h->stripe[i].callers);
        table_free(&h->stripe[i].points);
        pthread_mutex_destroy(&h->stripe[i].lock);
    }
    pthread_mutex_destroy(&h->trim_lock);
    free(h);
}

/* ---- a table: hash chains and use order, all O(1); the stripe's lock is held ---- */

static struct ent *find(struct table *t, uint64_t hv, const char *key)
{
    struct ent *e = t->bucket[(hv / HOP_STRIPES) & t->mask];
    while (e && (e->hv != hv || strcmp(e->key, key)))
        e = e->hnext;
    return e;
}

static void order_unlink(struct ent *e)
{
    e->order.newer->older = e->order.older;
    e->order.older->newer = e->order.newer;
}

/* Puts e at the newest end of the use order. */
static void order_push(struct table *t, struct ent *e)
{
    e->order.older = t->head.older;
    e->order.newer = &t->head;
    t->head.older->newer = &e->order;
    t->head.older = &e->order;
}

static void touch(struct table *t, struct ent *e)
{
    order_unlink(e);
    order_push(t, e);
}

static void chain_unlink(struct ent *e)
{
    *e->hprev = e->hnext;
    if (e->hnext)
        e->hnext->hprev = e->hprev;
}

static void chain_push(struct table *t, struct ent *e)
{
    struct ent **b = &t->bucket[(e->hv / HOP_STRIPES) & t->mask];
    e->hnext = *b;
    e->hprev = b;
    if (*b)
        (*b)->hprev = &e->hnext;
    *b = e;
}

/* Takes the oldest entry out of t (the caller frees it); NULL when empty. */
static struct ent *take_oldest(struct table *t)
{
    if (t->head.newer == &t->head)
        return NULL;
    struct ent *e = ent_of(t->head.newer);
    chain_unlink(e);
    order_unlink(e);
    n_add(t, -1);
    return e;
}

/* Puts fresh (not in t) in place of old (NULL: a new key) as the newest
 * entry. Returns what the caller must free: old, or the oldest entry when
 * a new key found the table full. */
static struct ent *install(struct table *t, struct ent *old, struct ent *fresh)
{
    if (old) {
        chain_unlink(old);
        order_unlink(old);
        n_add(t, -1);
    }
    struct ent *gone = old;
    if (!old && t->n >= t->max && (gone = take_oldest(t)))
        t->dropped++;
    chain_push(t, fresh);
    order_push(t, fresh);
    n_add(t, 1);
    return gone;
}

static struct ent *ent_new(struct hop *h, const char *key, uint64_t hv, size_t payload)
{
    size_t klen = strlen(key), size = sizeof(struct ent) + klen + 1 + payload;
    struct ent *e = malloc(size);
    if (!e)
        return NULL;
    memset(e, 0, sizeof *e);
    e->hv = hv;
    e->size = (uint32_t)size;
    memcpy(e->key, key, klen + 1);
    atomic_fetch_add(&h->bytes, size);
    return e;
}

static void ent_free(struct hop *h, struct ent *e)
{
    if (e) {
        atomic_fetch_sub(&h->bytes, e->size);
        free(e);
    }
}

/* ---- sessions ---- */

bool hop_session_get(struct hop *h, const char *id, struct ussd_row *r)
{
    uint64_t hv = hash(id);
    struct stripe *s = stripe_of(h, hv);
    pthread_mutex_lock(&s->lock);
    struct ent *e = find(&s->sess, hv, id);
    if (e) {
        const char *p = e->key + strlen(e->key) + 1 + e->len[0] + 1;
        char *dst[3] = {r->state, r->last_text, r->last_reply};
        size_t cap[3] = {sizeof r->state, sizeof r->last_text, sizeof r->last_reply};
        for (int i = 0; i < 3; i++) {
            size_t n = e->len[i + 1] < cap[i] ? e->len[i + 1] : cap[i] - 1;
            memcpy(dst[i], p, n);
            dst[i][n] = 0;
            p += e->len[i + 1] + 1;
        }
        r->updated_at = e->at;
        r->waiting = e->waiting;
    }
    pthread_mutex_unlock(&s->lock);
    return e != NULL;
}

bool hop_session_put(struct hop *h, const char *id, const char *phone, const struct ussd_row *r)
{
    uint64_t hv = hash(id);
    const char *v[4] = {phone ? phone : "", r->state, r->last_text, r->last_reply};
    size_t len[4], payload = 0;
    for (int i = 0; i < 4; i++) {
        len[i] = strnlen(v[i], UINT16_MAX); /* the row's fields are far shorter */
        payload += len[i] + 1;
    }
    struct ent *e = ent_new(h, id, hv, payload);
    if (!e)
        return false;
    char *p = e->key + strlen(id) + 1;
    for (int i = 0; i < 4; i++) {
        memcpy(p, v[i], len[i]);
        p[len[i]] = 0;
        p += len[i] + 1;
        e->len[i] = (uint16_t)len[i];
    }
    e->at = now_ms();
    e->waiting = r->waiting;
    struct stripe *s = stripe_of(h, hv);
    pthread_mutex_lock(&s->lock);
    struct ent *gone = install(&s->sess, find(&s->sess, hv, id), e);
    pthread_mutex_unlock(&s->lock);
    ent_free(h, gone);
    return true;
}

int hop_session_end(struct hop *h, const char *id)
{
    uint64_t hv = hash(id);
    struct stripe *s = stripe_of(h, hv);
    pthread_mutex_lock(&s->lock);
    struct ent *e = find(&s->sess, hv, id);
    int w = e ? e->waiting : 0;
    if (e)
        e->waiting = 0;
    pthread_mutex_unlock(&s->lock);
    return w;
}

/* ---- callers, packed: a byte for registered; then, when registered, the
 * user's numbers and strings and each meter's price, active flag, id and
 * name (strings with their NUL, numbers unaligned, hence memcpy) ---- */

struct packer {
    char *out;                    /* NULL: only count */
    size_t n;
};

static void pack(struct packer *p, const void *v, size_t len)
{
    if (p->out)
        memcpy(p->out + p->n, v, len);
    p->n += len;
}

static void pack_str(struct packer *p, const char *s) { pack(p, s, strlen(s) + 1); }

/* Writes c at out (or only measures it, out NULL); returns its size. */
static size_t caller_pack(const struct store_caller *c, char *out)
{
    struct packer p = {out, 0};
    const struct user *u = &c->user;
    unsigned char reg = c->registered;
    pack(&p, &reg, 1);
    if (!reg)
        return p.n;
    int32_t nm = c->nmeters;
    pack(&p, &u->id, sizeof u->id);
    pack(&p, &u->created_at, sizeof u->created_at);
    pack(&p, &u->updated_at, sizeof u->updated_at);
    pack(&p, &nm, sizeof nm);
    const char *s[] = {u->phone, u->first_name, u->last_name, u->email, u->role, u->language};
    for (size_t i = 0; i < sizeof s / sizeof s[0]; i++)
        pack_str(&p, s[i]);
    for (int i = 0; i < c->nmeters; i++) {
        const struct store_caller_meter *m = &c->meters[i];
        unsigned char active = m->active;
        pack(&p, &m->price_per_kwh, sizeof m->price_per_kwh);
        pack(&p, &active, 1);
        pack_str(&p, m->id);
        pack_str(&p, m->name);
    }
    return p.n;
}

static const char *unpack(const char *p, void *v, size_t len)
{
    memcpy(v, p, len);
    return p + len;
}

static const char *unpack_str(const char *p, char *dst, size_t cap)
{
    str_copy(dst, cap, p);
    return p + strlen(p) + 1;
}

static void caller_unpack(const char *p, struct store_caller *c)
{
    struct user *u = &c->user;
    unsigned char reg;
    p = unpack(p, &reg, 1);
    c->registered = reg;
    c->nmeters = 0;
    if (!reg) {
        memset(u, 0, sizeof *u);
        return;
    }
    int32_t nm;
    p = unpack(p, &u->id, sizeof u->id);
    p = unpack(p, &u->created_at, sizeof u->created_at);
    p = unpack(p, &u->updated_at, sizeof u->updated_at);
    p = unpack(p, &nm, sizeof nm);
    p = unpack_str(p, u->phone, sizeof u->phone);
    p = unpack_str(p, u->first_name, sizeof u->first_name);
    p = unpack_str(p, u->last_name, sizeof u->last_name);
    p = unpack_str(p, u->email, sizeof u->email);
    p = unpack_str(p, u->role, sizeof u->role);
    p = unpack_str(p, u->language, sizeof u->language);
    for (int i = 0; i < nm; i++) {
        struct store_caller_meter *m = &c->meters[i];
        unsigned char active;
        p = unpack(p, &m->price_per_kwh, sizeof m->price_per_kwh);
        p = unpack(p, &active, 1);
        m->active = active;
        p = unpack_str(p, m->id, sizeof m->id);
        p = unpack_str(p, m->name, sizeof m->name);
    }
    c->nmeters = nm;
}

bool hop_caller_get(struct hop *h, const char *phone, int64_t gen, struct store_caller *c)
{
    uint64_t hv = hash(phone);
    struct stripe *s = stripe_of(h, hv);
    int64_t now = now_ms();
    pthread_mutex_lock(&s->lock);
    struct ent *e = find(&s->callers, hv, phone);
    bool hit = e && e->gen == gen;
    if (hit) {
        e->at = now;
        touch(&s->callers, e);
        caller_unpack(e->key + strlen(e->key) + 1, c);
    }
    pthread_mutex_unlock(&s->lock);
    return hit;
}

void hop_caller_put(struct hop *h, const char *phone, int64_t gen, const struct store_caller *c)
{
    uint64_t hv = hash(phone);
    struct ent *e = ent_new(h, phone, hv, caller_pack(c, NULL));
    if (!e)
        return; /* not cached: the next hop reads the store again */
    caller_pack(c, e->key + strlen(phone) + 1);
    e->gen = gen;
    e->at = now_ms();
    struct stripe *s = stripe_of(h, hv);
    pthread_mutex_lock(&s->lock);
    struct ent *old = find(&s->callers, hv, phone), *gone = e;
    if (!old || old->gen <= gen) /* never an older read over a newer one */
        gone = install(&s->callers, old, e);
    pthread_mutex_unlock(&s->lock);
    ent_free(h, gone);
}

/* ---- resume points: the four strings (session, purchase key, state,
 * taken by) after the key, their at in gen ---- */

bool hop_point_put(struct hop *h, const char *phone, const struct ussd_point *p, bool live)
{
    uint64_t hv = hash(phone);
    const char *v[4] = {p->session_id, p->idem_key, p->state, p->taken_by};
    size_t len[4], payload = 0;
    for (int i = 0; i < 4; i++) {
        len[i] = strnlen(v[i], UINT16_MAX);
        payload += len[i] + 1;
    }
    struct ent *e = ent_new(h, phone, hv, payload);
    if (!e)
        return false;
    char *q = e->key + strlen(phone) + 1;
    for (int i = 0; i < 4; i++) {
        memcpy(q, v[i], len[i]);
        q[len[i]] = 0;
        q += len[i] + 1;
        e->len[i] = (uint16_t)len[i];
    }
    e->gen = p->at;
    e->live = live;
    e->at = now_ms();
    struct stripe *s = stripe_of(h, hv);
    pthread_mutex_lock(&s->lock);
    struct ent *gone = install(&s->points, find(&s->points, hv, phone), e);
    pthread_mutex_unlock(&s->lock);
    ent_free(h, gone);
    return true;
}

bool hop_points_any(struct hop *h) { return atomic_load_explicit(&h->points, memory_order_relaxed) != 0; }

static const char *point_sid(const struct ent *e) { return e->key + strlen(e->key) + 1; }

bool hop_point_get(struct hop *h, const char *phone, struct ussd_point *p, bool *live)
{
    uint64_t hv = hash(phone);
    struct stripe *s = stripe_of(h, hv);
    pthread_mutex_lock(&s->lock);
    struct ent *e = find(&s->points, hv, phone);
    if (e) {
        const char *q = point_sid(e);
        char *dst[4] = {p->session_id, p->idem_key, p->state, p->taken_by};
        size_t cap[4] = {sizeof p->session_id, sizeof p->idem_key, sizeof p->state, sizeof p->taken_by};
        for (int i = 0; i < 4; i++) {
            size_t n = e->len[i] < cap[i] ? e->len[i] : cap[i] - 1;
            memcpy(dst[i], q, n);
            dst[i][n] = 0;
            q += e->len[i] + 1;
        }
        p->at = e->gen;
        if (live)
            *live = e->live;
    }
    pthread_mutex_unlock(&s->lock);
    return e != NULL;
}

bool hop_point_drop(struct hop *h, const char *phone, const char *sid, bool only_live)
{
    uint64_t hv = hash(phone);
    struct stripe *s = stripe_of(h, hv);
    pthread_mutex_lock(&s->lock);
    struct ent *e = find(&s->points, hv, phone);
    if (e && ((sid && strcmp(point_sid(e), sid)) || (only_live && !e->live)))
        e = NULL;
    if (e) {
        chain_unlink(e);
        order_unlink(e);
        n_add(&s->points, -1);
    }
    pthread_mutex_unlock(&s->lock);
    ent_free(h, e);
    return e != NULL;
}

void hop_point_saved(struct hop *h, const char *phone, const char *sid, int64_t at)
{
    uint64_t hv = hash(phone);
    struct stripe *s = stripe_of(h, hv);
    pthread_mutex_lock(&s->lock);
    struct ent *e = find(&s->points, hv, phone);
    if (e && e->gen == at && !strcmp(point_sid(e), sid))
        e->live = false;
    pthread_mutex_unlock(&s->lock);
}

int hop_points_due(struct hop *h, int64_t before, char (*phones)[HOP_PHONE_MAX], int max)
{
    int n = 0;
    for (int i = 0; i < HOP_STRIPES && n < max; i++) {
        struct stripe *s = &h->stripe[i];
        pthread_mutex_lock(&s->lock);
        for (struct ring *r = s->points.head.newer; r != &s->points.head && n < max; r = r->newer) {
            struct ent *e = ent_of(r);
            if (e->at >= before)
                break; /* the rest are newer */
            if (e->live && strlen(e->key) < HOP_PHONE_MAX)
                str_copy(phones[n++], HOP_PHONE_MAX, e->key);
        }
        pthread_mutex_unlock(&s->lock);
    }
    return n;
}

/* ---- upkeep ---- */

/* Drops t's entries older than before, a slice at a time. */
static void expire(struct hop *h, struct stripe *s, struct table *t, int64_t before)
{
    enum { SLICE = 256 };
    for (;;) {
        struct ent *dead = NULL, *e;
        int n = 0;
        pthread_mutex_lock(&s->lock);
        while (n < SLICE && t->head.newer != &t->head && ent_of(t->head.newer)->at < before) {
            e = take_oldest(t);
            e->hnext = dead;
            dead = e;
            n++;
        }
        pthread_mutex_unlock(&s->lock);
        while (dead) { /* freed outside the lock */
            e = dead->hnext;
            if (t == &s->sess && dead->waiting > 0) /* idle while it waited: AT gave up on it long ago */
                metrics_screen(dead->waiting - 1, MS_TIMED_OUT);
            ent_free(h, dead);
            dead = e;
        }
        if (n < SLICE)
            return;
        step_aside();
    }
}

void hop_points_drop_prefix(struct hop *h, const char *prefix)
{
    size_t n = strlen(prefix);
    for (int i = 0; i < HOP_STRIPES; i++) {
        struct stripe *s = &h->stripe[i];
        struct ent *dead = NULL;
        pthread_mutex_lock(&s->lock);
        for (struct ring *r = s->points.head.newer, *next; r != &s->points.head; r = next) {
            next = r->newer;
            struct ent *e = ent_of(r);
            if (strncmp(e->key, prefix, n))
                continue;
            chain_unlink(e);
            order_unlink(e);
            n_add(&s->points, -1);
            e->hnext = dead;
            dead = e;
        }
        pthread_mutex_unlock(&s->lock);
        while (dead) {
            struct ent *e = dead->hnext;
            ent_free(h, dead);
            dead = e;
        }
    }
}

void hop_points_forget(struct hop *h, int64_t before)
{
    for (int i = 0; i < HOP_STRIPES; i++)
        expire(h, &h->stripe[i], &h->stripe[i].points, before);
}

void hop_evict(struct hop *h, int64_t before)
{
    for (int i = 0; i < HOP_STRIPES; i++) {
        expire(h, &h->stripe[i], &h->stripe[i].sess, before);
        expire(h, &h->stripe[i], &h->stripe[i].callers, before);
    }
}

bool hop_trim(struct hop *h, int64_t now)
{
    enum { MIN_BYTES = 8 << 20, EVERY_MS = 10000 };
    if (pthread_mutex_trylock(&h->trim_lock))
        return false; /* another thread is at it */
    size_t bytes = atomic_load(&h->bytes);
    if (bytes > h->trim_peak)
        h->trim_peak = bytes;
    size_t fell = h->trim_peak - bytes;
    bool trim = fell >= MIN_BYTES && fell >= h->trim_peak / 8 && now - h->trimmed_at >= EVERY_MS;
    if (trim) {
        malloc_trim(0);
        h->trim_peak = bytes;
        h->trimmed_at = now;
    }
    pthread_mutex_unlock(&h->trim_lock);
    return trim;
}

void hop_stats(struct hop *h, struct hop_stats *st)
{
    memset(st, 0, sizeof *st);
    for (int i = 0; i < HOP_STRIPES; i++) {
        struct stripe *s = &h->stripe[i];
        pthread_mutex_lock(&s->lock);
        st->sessions += s->sess.n;
        st->callers += s->callers.n;
        st->points += s->points.n;
        st->sessions_dropped += s->sess.dropped;
        st->callers_dropped += s->callers.dropped;
        pthread_mutex_unlock(&s->lock);
    }
    st->bytes = atomic_load(&h->bytes);
}
