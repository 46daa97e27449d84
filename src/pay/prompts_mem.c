/* pay/prompts_mem: the prompts kept in memory, for a lipad alone on its
 * database (prompts_impl.h). An open-addressing table of phones: a slot is
 * free when its phone is empty or its prompt has ended (until_ms in the
 * past); a phone is looked for in the PROBE slots after its hash. A slot
 * names the purchase holding its phone (a push about to go, for
 * reserve_ms, or its prompt out) and keeps the ids held behind it, up to
 * HELD_MAX (more wait for their own next_at). A full table holds nothing. */
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
    int64_t holder; /* the purchase whose push or prompt holds the phone */
    int64_t until_ms;
    int64_t held[HELD_MAX];
    int nheld;
};

struct mem {
    pthread_mutex_t lock;
    int64_t reserve_ms;
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
    struct mem *pr = calloc(1, sizeof *pr);
    if (pr) {
        pthread_mutex_init(&pr->lock, NULL);
        pr->reserve_ms = reserve_ms;
    }
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

/* phone's slot: found, its own already (it keeps the ids held behind it,
 * their purchases still waiting), or else a free one made its own (empty,
 * or another phone's whose prompt has ended: cleared); NULL when none is
 * free. Locked. */
static struct slot *own(struct mem *pr, struct slot *found, const char *phone, int64_t now_ms)
{
    if (found)
        return found;
    struct slot *s = NULL;
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
    return s;
}

static void mem_open(void *impl, const char *phone, int64_t payment_id, int64_t now_ms, int64_t until_ms)
{
    struct mem *pr = impl;
    if (strlen(phone) >= sizeof pr->slots[0].phone)
        return;
    pthread_mutex_lock(&pr->lock);
    struct slot *s = own(pr, find(pr, phone), phone, now_ms);
    if (s) {
        s->holder = payment_id;
        s->until_ms = until_ms;
    }
    pthread_mutex_unlock(&pr->lock);
}

static bool mem_waiting(void *impl, const char *phone, int64_t now_ms)
{
    struct mem *pr = impl;
    pthread_mutex_lock(&pr->lock);
    struct slot *s = find(pr, phone);
    bool out = s && s->until_ms > now_ms;
    pthread_mutex_unlock(&pr->lock);
    return out;
}

static bool mem_hold(void *impl, const char *phone, int64_t payment_id, int64_t now_ms)
{
    struct mem *pr = impl;
    bool out = false;
    if (strlen(phone) >= sizeof pr->slots[0].phone)
        return false;
    pthread_mutex_lock(&pr->lock);
    struct slot *s = find(pr, phone);
    if (s && s->until_ms > now_ms && s->holder != payment_id) { /* another's */
        out = true;
        bool known = false;
        for (int i = 0; i < s->nheld; i++)
            known |= s->held[i] == payment_id;
        if (!known && s->nheld < HELD_MAX)
            s->held[s->nheld++] = payment_id;
    } else if ((s = own(pr, s, phone, now_ms))) { /* free or its own: reserved for its push */
        int n = 0;
        for (int i = 0; i < s->nheld; i++) /* no longer behind anyone */
            if (s->held[i] != payment_id)
                s->held[n++] = s->held[i];
        s->nheld = n;
        s->holder = payment_id;
        if (s->until_ms < now_ms + pr->reserve_ms)
            s->until_ms = now_ms + pr->reserve_ms;
    }
    pthread_mutex_unlock(&pr->lock);
    return out;
}

/* payment_id's prompt ended (or its push did not go): its holder hands the
 * phone on to the first purchase held behind it, reserved for its push,
 * so that purchases made before that push wait behind it too; or frees
 * it. Anyone else's end changes nothing. */
static int64_t mem_close(void *impl, const char *phone, int64_t payment_id, int64_t now_ms)
{
    struct mem *pr = impl;
    int64_t next = 0;
    pthread_mutex_lock(&pr->lock);
    struct slot *s = find(pr, phone);
    if (s && s->holder == payment_id && !s->nheld) {
        memset(s, 0, sizeof *s);
    } else if (s && s->holder == payment_id) {
        next = s->held[0];
        memmove(s->held, s->held + 1, (size_t)(s->nheld - 1) * sizeof s->held[0]);
        s->nheld--;
        s->holder = next;
        s->until_ms = now_ms + pr->reserve_ms;
    }
    pthread_mutex_unlock(&pr->lock);
    return next;
}

const struct prompts_ops prompts_mem = {
    .new = mem_new, .free = mem_free, .hold = mem_hold, .open = mem_open,
    .waiting = mem_waiting, .close = mem_close,
};
