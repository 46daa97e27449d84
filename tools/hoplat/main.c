/* lipa-hoplat: the benchmark's USSD sessions with latency by hop.
 *
 *   lipa-hoplat [--port 8181] [--connections 32] [--seconds 6]
 *
 * Drives lipad on 127.0.0.1 in a closed loop the way shared/bench's wrk
 * script does (five hops per session: "", 1, 1*1, 1*1*100, 1*1*100*1;
 * callers +254700000000 to +254700000999; a new random sessionId on every
 * hop) and prints hops per second and latency percentiles for each hop of
 * the session, then for all hops. wrk reports one distribution for all
 * hops; this shows which hop makes the tail (the fifth, which stores a
 * purchase). Measurement only: `make bench-hops` runs it against a fresh
 * lipad and sandbox. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define HOPS 5
#define MAX_CONNS 1024
#define MAX_SAMPLES (1u << 22) /* per hop: 4 M, minutes of load */

static const char *const hop_text[HOPS] = {"", "1", "1%2A1", "1%2A1%2A100", "1%2A1%2A100%2A1"};

struct conn {
    int fd;
    int hop;
    unsigned sess;
    int64_t sent_us;
    size_t got;
    char buf[4096];
};

struct samples {
    uint32_t *us;
    size_t n;
};

static int64_t now_us(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (int64_t)t.tv_sec * 1000000 + t.tv_nsec / 1000;
}

static bool parse_int(const char *s, long lo, long hi, long *out)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end || v < lo || v > hi)
        return false;
    *out = v;
    return true;
}

static bool send_hop(struct conn *c, unsigned id)
{
    if (c->hop == 0)
        c->sess++;
    char body[512], req[1024];
    int bl = snprintf(body, sizeof body,
                      "sessionId=HOPLAT_%u_%u_%ld&serviceCode=%%2A384%%2A1234%%23&phoneNumber=%%2B2547%08u"
                      "&networkCode=63902&text=%s",
                      id, c->sess, random(), (id * 7919u + c->sess) % 1000u, hop_text[c->hop]);
    int rl = snprintf(req, sizeof req,
                      "POST /api/ussd HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                      "Content-Type: application/x-www-form-urlencoded\r\nContent-Length: %d\r\n\r\n%s",
                      bl, body);
    c->sent_us = now_us();
    c->got = 0;
    return write(c->fd, req, (size_t)rl) == rl;
}

/* True once buf holds a whole response (Content-Length or chunked). */
static bool complete(const struct conn *c)
{
    const char *end = strstr(c->buf, "\r\n\r\n");
    if (!end)
        return false;
    size_t head = (size_t)(end + 4 - c->buf);
    const char *cl = strcasestr(c->buf, "\r\nContent-Length:");
    if (cl && cl < end)
        return c->got >= head + strtoul(cl + 17, NULL, 10);
    return c->got >= 5 && !memcmp(c->buf + c->got - 5, "0\r\n\r\n", 5);
}

static int by_value(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return (x > y) - (x < y);
}

static void report(const char *name, struct samples *s)
{
    if (!s->n) {
        printf("%-6s no answers\n", name);
        return;
    }
    qsort(s->us, s->n, sizeof *s->us, by_value);
    static const double q[] = {0.50, 0.90, 0.95, 0.99, 0.999};
    printf("%-6s n=%-8zu", name, s->n);
    for (size_t i = 0; i < sizeof q / sizeof q[0]; i++)
        printf(" p%g=%.2f", q[i] * 100, s->us[(size_t)(q[i] * (double)(s->n - 1))] / 1000.0);
    printf(" max=%.2f ms\n", s->us[s->n - 1] / 1000.0);
}

int main(int argc, char **argv)
{
    long port = 8181, nconn = 32, secs = 6;
    for (int i = 1; i < argc; i++) {
        long *dst = !strcmp(argv[i], "--port") ? &port : !strcmp(argv[i], "--connections") ? &nconn
                  : !strcmp(argv[i], "--seconds") ? &secs : NULL;
        long hi = dst == &port ? 65535 : dst == &nconn ? MAX_CONNS : 3600;
        if (!dst || i + 1 >= argc || !parse_int(argv[++i], 1, hi, dst)) {
            fprintf(stderr, "usage: lipa-hoplat [--port 1-65535] [--connections 1-%d] [--seconds 1-3600]\n",
                    MAX_CONNS);
            return 2;
        }
    }
    struct samples per[HOPS], all = {0};
    for (int h = 0; h < HOPS; h++) {
        per[h].n = 0;
        if (!(per[h].us = malloc(MAX_SAMPLES * sizeof *per[h].us)))
            return 1;
    }
    int ep = epoll_create1(0);
    struct conn *cs = calloc((size_t)nconn, sizeof *cs);
    if (ep < 0 || !cs)
        return 1;
    for (long i = 0; i < nconn; i++) {
        struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        int one = 1;
        cs[i].fd = socket(AF_INET, SOCK_STREAM, 0);
        if (cs[i].fd < 0 || connect(cs[i].fd, (struct sockaddr *)&a, sizeof a) != 0) {
            fprintf(stderr, "lipa-hoplat: cannot connect to 127.0.0.1:%ld: %s\n", port, strerror(errno));
            return 1;
        }
        setsockopt(cs[i].fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        struct epoll_event ev = {.events = EPOLLIN, .data.u32 = (uint32_t)i};
        if (epoll_ctl(ep, EPOLL_CTL_ADD, cs[i].fd, &ev) != 0 || !send_hop(&cs[i], (unsigned)i))
            return 1;
    }
    int64_t start = now_us(), end = start + secs * 1000000;
    size_t answered = 0;
    struct epoll_event evs[64];
    while (now_us() < end) {
        int n = epoll_wait(ep, evs, 64, 100);
        for (int k = 0; k < n; k++) {
            unsigned id = evs[k].data.u32;
            struct conn *c = &cs[id];
            ssize_t r = read(c->fd, c->buf + c->got, sizeof c->buf - 1 - c->got);
            if (r <= 0) {
                fprintf(stderr, "lipa-hoplat: lipad closed a connection\n");
                return 1;
            }
            c->got += (size_t)r;
            c->buf[c->got] = 0;
            if (!complete(c))
                continue;
            if (strncmp(c->buf, "HTTP/1.1 200", 12)) {
                fprintf(stderr, "lipa-hoplat: hop %d answered %.12s\n", c->hop, c->buf);
                return 1;
            }
            int64_t d = now_us() - c->sent_us;
            if (per[c->hop].n < MAX_SAMPLES)
                per[c->hop].us[per[c->hop].n++] = (uint32_t)d;
            answered++;
            c->hop = (c->hop + 1) % HOPS;
            if (!send_hop(c, id))
                return 1;
        }
    }
    printf("%.0f hops/s over %.1f s, %ld connections\n", (double)answered * 1e6 / (double)(now_us() - start),
           (double)(now_us() - start) / 1e6, nconn);
    size_t total = 0;
    for (int h = 0; h < HOPS; h++)
        total += per[h].n;
    if (!(all.us = malloc((total ? total : 1) * sizeof *all.us)))
        return 1;
    for (int h = 0; h < HOPS; h++) {
        memcpy(all.us + all.n, per[h].us, per[h].n * sizeof *all.us);
        all.n += per[h].n;
        char name[8];
        snprintf(name, sizeof name, "hop %d", h + 1);
        report(name, &per[h]);
    }
    report("all", &all);
    return 0;
}
