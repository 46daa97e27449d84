/* lipa-hoplat: the benchmark's USSD sessions with latency by hop.
 *
 *   lipa-hoplat [--port 8181] [--connections 32] [--seconds 6] [--callers 1000] [--hops 5]
 *   lipa-hoplat --sweep N [--first 10000000] [--hops 2] [--port ...] [--connections ...]
 *
 * Drives lipad on 127.0.0.1 in a closed loop the way the benchmark's wrk
 * script does (five hops per session: "", 1, 1*1, 1*1*100, 1*1*100*1;
 * callers +254700000000 onwards, --callers of them; a new random sessionId
 * on every hop, drawn afresh each run) and prints hops per second and
 * latency percentiles for each hop of the session, then for all hops. wrk
 * reports one distribution for all hops; this shows which hop makes the
 * tail. --hops 4 leaves out the hop that buys (and all the work a purchase
 * brings: the M-Pesa prompt, its callback, the top-up, the SMS), to
 * measure the hops alone. Measurement only: `make bench-hops` runs it
 * against a fresh lipad and sandbox.
 *
 * --sweep N: N sessions of the first --hops hops, each from a caller number
 * never used before in the run (+2547 followed by --first, --first + 1, ...
 * as eight digits; the default range is never seeded by `lipa-seed bench`,
 * so those are unknown numbers), then stop: a flood of distinct callers,
 * for measuring lipad's memory (tools/bench-memory.sh). */
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
    unsigned phone;            /* the caller's eight digits after +2547 */
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

/* What the run drives: a closed loop for some seconds over ncallers
 * callers, or a sweep of distinct callers. */
struct plan {
    unsigned ncallers;
    long sweep, first, hops;   /* sweep 0: the closed loop */
    long started;              /* sweep: sessions begun */
    long run;                  /* this run's part of every sessionId */
};

/* Starts the connection's next session; false when a sweep is complete. */
static bool next_session(struct plan *p, struct conn *c, unsigned id)
{
    c->sess++;
    if (!p->sweep) {
        c->phone = (id * 7919u + c->sess) % p->ncallers;
        return true;
    }
    if (p->started == p->sweep)
        return false;
    c->phone = (unsigned)(p->first + p->started++);
    return true;
}

static bool send_hop(const struct plan *p, struct conn *c, unsigned id)
{
    char body[512], req[1024];
    int bl = snprintf(body, sizeof body,
                      "sessionId=HOPLAT_%ld_%u_%u_%ld&serviceCode=%%2A384%%2A1234%%23&phoneNumber=%%2B2547%08u"
                      "&networkCode=63902&text=%s",
                      p->run, id, c->sess, random(), c->phone, hop_text[c->hop]);
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

#define PHONES 100000000L /* eight digits after +2547 */

int main(int argc, char **argv)
{
    long port = 8181, nconn = 32, secs = 6, ncallers = 1000;
    struct plan plan = {.first = 10000000};
    static const struct {
        const char *name;
        long lo, hi;
    } opt[] = {{"--port", 1, 65535},        {"--connections", 1, MAX_CONNS}, {"--seconds", 1, 3600},
               {"--callers", 1, PHONES},    {"--sweep", 1, PHONES},          {"--first", 0, PHONES - 1},
               {"--hops", 1, HOPS}};
    long *dst[] = {&port, &nconn, &secs, &ncallers, &plan.sweep, &plan.first, &plan.hops};
    for (int i = 1; i < argc; i++) {
        size_t k = 0;
        while (k < sizeof opt / sizeof opt[0] && strcmp(argv[i], opt[k].name))
            k++;
        if (k == sizeof opt / sizeof opt[0] || i + 1 >= argc || !parse_int(argv[++i], opt[k].lo, opt[k].hi, dst[k])) {
            fprintf(stderr,
                    "usage: lipa-hoplat [--port 1-65535] [--connections 1-%d] [--seconds 1-3600] [--callers 1-%ld]"
                    " [--hops 1-%d]\n"
                    "       lipa-hoplat --sweep N [--first 0-%ld] [--hops 1-%d] [--port ...] [--connections ...]\n",
                    MAX_CONNS, PHONES, HOPS, PHONES - 1, HOPS);
            return 2;
        }
    }
    if (plan.sweep && plan.first + plan.sweep > PHONES) {
        fprintf(stderr, "lipa-hoplat: --first + --sweep must stay within %ld numbers\n", PHONES);
        return 2;
    }
    plan.ncallers = (unsigned)ncallers;
    if (!plan.hops)
        plan.hops = plan.sweep ? 2 : HOPS;
    /* ids differ from run to run, as the benchmark script's do: a run
     * never repeats a hop an earlier one left in lipad's memory */
    srandom((unsigned)now_us() ^ (unsigned)getpid());
    plan.run = random();
    struct samples per[HOPS], all = {0};
    for (int h = 0; h < HOPS; h++) {
        per[h].n = 0;
        if (!(per[h].us = malloc(MAX_SAMPLES * sizeof *per[h].us)))
            return 1;
    }
    int ep = epoll_create1(0);
    long busy = 0; /* connections with a hop in flight */
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
        if (epoll_ctl(ep, EPOLL_CTL_ADD, cs[i].fd, &ev) != 0)
            return 1;
        if (next_session(&plan, &cs[i], (unsigned)i)) {
            busy++;
            if (!send_hop(&plan, &cs[i], (unsigned)i))
                return 1;
        }
    }
    int64_t start = now_us(), end = plan.sweep ? INT64_MAX : start + secs * 1000000;
    size_t answered = 0;
    struct epoll_event evs[64];
    while (busy && now_us() < end) {
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
            c->hop = (c->hop + 1) % (int)plan.hops;
            if (c->hop == 0 && !next_session(&plan, c, id)) {
                busy--; /* the sweep is done with this connection */
                continue;
            }
            if (!send_hop(&plan, c, id))
                return 1;
        }
    }
    printf("%.0f hops/s over %.1f s, %ld connections, ", (double)answered * 1e6 / (double)(now_us() - start),
           (double)(now_us() - start) / 1e6, nconn);
    if (plan.sweep)
        printf("%ld callers from +2547%08ld, %ld hops each\n", plan.sweep, plan.first, plan.hops);
    else
        printf("%ld callers, %ld hops a session\n", ncallers, plan.hops);
    size_t total = 0;
    for (int h = 0; h < HOPS; h++)
        total += per[h].n;
    if (!(all.us = malloc((total ? total : 1) * sizeof *all.us)))
        return 1;
    for (int h = 0; h < HOPS; h++) {
        memcpy(all.us + all.n, per[h].us, per[h].n * sizeof *all.us);
        all.n += per[h].n;
        char name[16];
        snprintf(name, sizeof name, "hop %d", h + 1);
        if (h < plan.hops)
            report(name, &per[h]);
    }
    report("all", &all);
    return 0;
}
