/* pay/prompts_mem: the prompts kept in memory, for a lipad alone on its
 * database (prompts_impl.h). An open-addressing table of phones: a slot is
 * free when its phone is empty or its prompt has ended (until_ms in the
 * past, or 0 once answered); a phone is looked for in the PROBE slots after
 * its hash. A slot keeps the ids held behind its phone's prompt, up to
 * HELD_MAX (more wait for their own next_at). A full table holds nothing.
 * Alone, a lipad needs no reservation before a push: its payment worker
 * pushes one phone's purchases one at a time. */
#include "pay/prompts_impl.h"

#include "util/str.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#define SLOTS 8192 /* a power of two */
#define PROBE 32
#define HELD_MAX 8 /* ids remembered behind one prompt */

struct slot {
    char phone[16];
    int64_t until_ms;
    int64_t held[HELD_MAX];
    int nheld;
};

struct mem {
    pthread_mutex_t lock;
    struct slot slots[SLOTS];
};

static unsigned hash(const char *s)
{
    unsigned h = 2166136261u; /* FNV-1a */
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 16777619u;
    return h;
}

/* The slot holding phone, or NULL. */
static struct slot *find(struct mem *pr, const char *phone)
{
    unsigned h = hash(phone);
    for (unsigned i = 0; i < PROBE; i++) {
        struct slot *s = &pr->slots[(h + i) & (SLOTS - 1)];
        if (s->phone[0] && !strcmp(s->phone, phone))
            return s;
    }
    return NULL;
}

static void *mem_new(struct store *st, int64_t reserve_ms)
{
    (void)st;
    (void)reserve_ms;
    struct mem *pr = calloc(1, sizeof *pr);
    if (pr)
        pthread_mutex_init(&pr->lock, NULL);
    return pr;
}

static void mem_free(void *impl)
{
    struct mem *pr = impl;
    if (!pr)
        return;
    pthread_mutex_destroy(&pr->lock);
    free(pr);
}

static void mem_open(void *impl, const char *phone, int64_t payment_id, int64_t now_ms, int64_t until_ms)
{
    struct mem *pr = impl;
    (void)payment_id;
    if (strlen(phone) >= sizeof pr->slots[0].phone)
        return;
    pthread_mutex_lock(&pr->lock);
    struct slot *s = find(pr, phone);
    if (!s) { /* a free slot: empty, or its prompt has ended */
        unsigned h = hash(phone);
        for (unsigned i = 0; i < PROBE && !s; i++) {
            struct slot *c = &pr->slots[(h + i) & (SLOTS - 1)];
            if (!c->phone[0] || c->until_ms <= now_ms)
                s = c;
        }
        if (s) {
            memset(s, 0, sizeof *s);
            str_copy(s->phone, sizeof s->phone, phone);
        }
    }
    if (s)
        s->until_ms = until_ms;
    pthread_mutex_unlock(&pr->lock);
}

static bool mem_waiting(void *impl, const char *phone, int64_t now_ms, int64_t *until_ms)
{
    struct mem *pr = impl;
    pthread_mutex_lock(&pr->lock);
    struct slot *s = find(pr, phone);
    bool out = s && s->until_ms > now_ms;
    if (out)
        *until_ms = s->until_ms;
    pthread_mutex_unlock(&pr->lock);
    return out;
}

static bool mem_hold(void *impl, const char *phone, int64_t payment_id, int64_t now_ms, int64_t *until_ms)
{
    struct mem *pr = impl;
    bool out = false;
    pthread_mutex_lock(&pr->lock);
    struct slot *s = find(pr, phone);
    if (s && s->until_ms > now_ms) {
        out = true;
        *until_ms = s->until_ms;
        bool known = false;
        for (int i = 0; i < s->nheld; i++)
            known |= s->held[i] == payment_id;
        if (!known && s->nheld < HELD_MAX)
            s->held[s->nheld++] = payment_id;
    }
    pthread_mutex_unlock(&pr->lock);
    return out;
}

static int64_t mem_close(void *impl, const char *phone, int64_t payment_id, int64_t now_ms)
{
    struct mem *pr = impl;
    (void)payment_id;
    (void)now_ms;
    int64_t next = 0;
    pthread_mutex_lock(&pr->lock);
    struct slot *s = find(pr, phone);
    if (s && s->nheld) {
        next = s->held[0];
        memmove(s->held, s->held + 1, (size_t)(s->nheld - 1) * sizeof s->held[0]);
        s->nheld--;
        s->until_ms = 0; /* no prompt out until next's push opens one */
    } else if (s) {
        memset(s, 0, sizeof *s);
    }
    pthread_mutex_unlock(&pr->lock);
    return next;
}

/* A push that did not go opened no prompt; nobody waits behind it. */
static int64_t mem_release(void *impl, const char *phone, int64_t payment_id, int64_t now_ms)
{
    (void)impl;
    (void)phone;
    (void)payment_id;
    (void)now_ms;
    return 0;
}

const struct prompts_ops prompts_mem = {
    .new = mem_new, .free = mem_free, .hold = mem_hold, .open = mem_open,
    .release = mem_release, .waiting = mem_waiting, .close = mem_close,
};
