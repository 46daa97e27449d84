/* http/ratelimit: fixed-window request budgets per client; see
 * ratelimit.h. */
#include "http/ratelimit.h"

#include "http/api.h"
#include "util/crypto.h"
#include "util/str.h"

#include <arpa/inet.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define WAYS 8                  /* clients per set */
#define STRIPES 64              /* mutexes */
#define DEFAULT_SLOTS 16384     /* 512 KiB of entries */

struct entry {
    uint8_t key[16];            /* IPv6, or IPv4 mapped; zero: free */
    int64_t opened_ms;          /* window start */
    int64_t count;
};

struct ratelimit {
    int64_t limit, window_ms;
    uint64_t seed;              /* keyed set index: addresses cannot aim at one set */
    size_t nsets;
    struct entry *e;            /* nsets * WAYS */
    pthread_mutex_t mu[STRIPES];
};

struct ratelimit *ratelimit_new(int64_t limit, int64_t window_s, size_t slots)
{
    if (limit < 1 || window_s < 1)
        return NULL;
    struct ratelimit *rl = calloc(1, sizeof *rl);
    if (!rl)
        return NULL;
    rl->limit = limit;
    rl->window_ms = window_s * 1000;
    rl->nsets = ((slots ? slots : DEFAULT_SLOTS) + WAYS - 1) / WAYS;
    rl->e = calloc(rl->nsets * WAYS, sizeof *rl->e);
    if (!rl->e || !crypto_random(&rl->seed, sizeof rl->seed)) {
        free(rl->e);
        free(rl);
        return NULL;
    }
    for (int i = 0; i < STRIPES; i++)
        pthread_mutex_init(&rl->mu[i], NULL);
    return rl;
}

void ratelimit_free(struct ratelimit *rl)
{
    if (!rl)
        return;
    for (int i = 0; i < STRIPES; i++)
        pthread_mutex_destroy(&rl->mu[i]);
    free(rl->e);
    free(rl);
}

/* The client's key: 16 bytes, never all zero. IPv6 keeps its /64. */
static void key_of(const char *client, uint8_t key[16])
{
    struct in_addr v4;
    memset(key, 0, 16);
    if (client && inet_pton(AF_INET, client, &v4) == 1) {
        key[10] = key[11] = 0xff;
        memcpy(key + 12, &v4, 4);
    } else if (client && inet_pton(AF_INET6, client, key) == 1) {
        if (!memcmp(key, "\0\0\0\0\0\0\0\0\0\0\xff\xff", 12))
            return; /* IPv4-mapped: the whole address */
        memset(key + 8, 0, 8);
    }
    /* unknown forms (no address) share one key */
    bool zero = true;
    for (int i = 0; i < 16; i++)
        zero = zero && !key[i];
    if (zero)
        key[15] = 1;
}

static uint64_t set_of(const struct ratelimit *rl, const uint8_t key[16])
{
    uint64_t h = rl->seed ^ 0xcbf29ce484222325ULL;
    for (int i = 0; i < 16; i++) {
        h ^= key[i];
        h *= 0x100000001b3ULL;
    }
    /* splitmix64's finalizer spreads FNV's weak low bits */
    h ^= h >> 30;
    h *= 0xbf58476d1ce4e5b9ULL;
    h ^= h >> 27;
    h *= 0x94d049bb133111ebULL;
    h ^= h >> 31;
    return h % rl->nsets;
}

static void take(struct ratelimit *rl, const uint8_t key[16], int64_t now, struct ratelimit_verdict *v);

void ratelimit_take(struct ratelimit *rl, const char *client, int64_t now, struct ratelimit_verdict *v)
{
    uint8_t key[16];
    key_of(client, key);
    take(rl, key, now, v);
}

void ratelimit_take_phone(struct ratelimit *rl, const char *phone, int64_t now, struct ratelimit_verdict *v)
{
    /* 0xfe, then the digits two to a byte, 0xf padding: the key ends in
     * 0xff, which no address key does (their last bytes are the IPv4
     * address or the zeroed half of an IPv6 one) */
    uint8_t key[16];
    memset(key, 0xff, sizeof key);
    key[0] = 0xfe;
    int n = 0;
    for (const char *p = phone ? phone : ""; *p && n < 30; p++) {
        if (*p < '0' || *p > '9')
            continue;
        uint8_t d = (uint8_t)(*p - '0');
        uint8_t *b = &key[1 + n / 2];
        *b = n % 2 ? (uint8_t)((*b & 0xf0) | d) : (uint8_t)((d << 4) | 0x0f);
        n++;
    }
    take(rl, key, now, v);
}

void ratelimit_take_key(struct ratelimit *rl, const char *key, int64_t now, struct ratelimit_verdict *v)
{
    uint8_t md[32], k[16];
    const char *s = key ? key : "";
    crypto_sha256(s, strlen(s), md);
    memcpy(k, md, sizeof k);
    bool zero = true;
    for (int i = 0; i < 16; i++)
        zero = zero && !k[i];
    if (zero) /* an all-zero key marks a free entry */
        k[15] = 1;
    take(rl, k, now, v);
}

static void take(struct ratelimit *rl, const uint8_t key[16], int64_t now, struct ratelimit_verdict *v)
{
    uint64_t set = set_of(rl, key);
    struct entry *ways = &rl->e[set * WAYS], *hit = NULL, *victim = &ways[0];
    pthread_mutex_t *mu = &rl->mu[set % STRIPES];
    pthread_mutex_lock(mu);
    for (int i = 0; i < WAYS && !hit; i++) {
        if (!memcmp(ways[i].key, key, 16))
            hit = &ways[i];
        else if (ways[i].opened_ms < victim->opened_ms)
            victim = &ways[i]; /* free entries have 0: taken first */
    }
    if (!hit) {
        hit = victim;
        memcpy(hit->key, key, 16);
        hit->opened_ms = now;
        hit->count = 0;
    } else if (now - hit->opened_ms >= rl->window_ms || now < hit->opened_ms) {
        hit->opened_ms = now; /* a new window (or the clock went back) */
        hit->count = 0;
    }
    if (hit->count <= rl->limit) /* saturates at limit + 1: refused */
        hit->count++;
    v->allowed = hit->count <= rl->limit;
    v->limit = rl->limit;
    v->remaining = v->allowed ? rl->limit - hit->count : 0;
    v->reset_ms = hit->opened_ms + rl->window_ms;
    pthread_mutex_unlock(mu);
}

bool http_rate_limit(struct http_req *req, struct http_resp *resp)
{
    struct ratelimit *rl = req->limiter;
    if (!rl)
        return true;
    struct ratelimit_verdict v;
    int64_t now = now_ms();
    ratelimit_take(rl, req->client_ip, now, &v);
    char num[24];
    snprintf(num, sizeof num, "%lld", (long long)v.limit);
    http_resp_header(resp, "X-RateLimit-Limit", num);
    snprintf(num, sizeof num, "%lld", (long long)v.remaining);
    http_resp_header(resp, "X-RateLimit-Remaining", num);
    snprintf(num, sizeof num, "%lld", (long long)((v.reset_ms + 999) / 1000));
    http_resp_header(resp, "X-RateLimit-Reset", num);
    if (v.allowed)
        return true;
    snprintf(num, sizeof num, "%lld", (long long)((v.reset_ms - now + 999) / 1000));
    http_resp_header(resp, "Retry-After", num);
    api_error(req, resp, ERR_RATE_LIMIT, NULL, "Too many requests from this IP, please try again later.");
    return false;
}
