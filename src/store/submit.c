/* store/submit: group commit; see store_submit in store.h.
 *
 * One committer thread per store, started on the first submit. It lets
 * the oldest write wait up to LINGER_US for others, takes everything
 * queued (up to BATCH_MAX), runs each write in its own
 * savepoint inside one transaction, commits once, then calls every done
 * in queue order. A write that fails is rolled back to its savepoint and
 * reported alone; a failed commit reports ST_ERROR to the whole batch. */
#include "store/submit.h"

#include "store/store_int.h"
#include "util/aside.h"
#include "util/log.h"

#include <pthread.h>
#include <sched.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#define BATCH_MAX 256
/* How long a write may wait for others to share its commit. No USSD hop
 * waits for it (a purchase is answered once in the intake: store.h);
 * M-Pesa's callbacks are answered this much later at most, and an STK
 * push goes out this much later. At 500 us the committer used 12-13 us of
 * CPU per benchmark hop, at 2 000 us 9-11 (make bench-hops load,
 * 2026-11-24, /proc per-thread times; a noisy VM, so a range). */
#define LINGER_US 2000
/* How long the oldest write may wait while the committer gives way (see
 * committer()) before it is put back to the normal priority. */
#define BEHIND_US 50000

static int64_t mono_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

struct job {
    struct job *next;
    store_write_fn write;
    store_done_fn done;
    void *arg;
    enum store_rc rc;
    int64_t queued_us;
};

struct submit {
    struct store *st;
    pthread_mutex_t lock;
    pthread_cond_t cond;
    struct job *head, *tail;   /* queued, oldest first */
    int queued;                /* how many */
    bool stopping, started;
    bool background;           /* no hop waits for a commit (the intake) */
    bool may_idle;             /* background, and SCHED_IDLE can be left */
    bool idle;                 /* the committer is on SCHED_IDLE now */
    pid_t tid;                 /* the committer's, once it runs */
    int64_t running_us;        /* when the batch being run was first queued; 0: none */
    pthread_t thread;
};

static const char SQL_SAVEPOINT[] = "SAVEPOINT job";
static const char SQL_RELEASE[] = "RELEASE job";
static const char SQL_ROLLBACK_TO[] = "ROLLBACK TO job";

static enum store_rc exec(struct store *st, const char *sql)
{
    struct st_stmt *s = st_stmt(st, sql);
    return s ? st_step_write(st, s, sql) : ST_ERROR;
}

/* Runs the jobs of list in one transaction; sets each job's rc. */
static void run(struct store *st, struct job *list)
{
    if (store_begin(st) != ST_OK) {
        for (struct job *j = list; j; j = j->next)
            j->rc = ST_ERROR;
        return;
    }
    for (struct job *j = list; j; j = j->next) {
        if (exec(st, SQL_SAVEPOINT) != ST_OK) {
            j->rc = ST_ERROR;
            continue;
        }
        j->rc = j->write(st, j->arg);
        if (j->rc != ST_OK && exec(st, SQL_ROLLBACK_TO) != ST_OK)
            log_error("store.batch_rollback_to", "result=failed");
        exec(st, SQL_RELEASE);
        step_aside(); /* holding the writer lock only (util/aside.h) */
    }
    if (store_commit(st) != ST_OK) {
        store_rollback(st);
        for (struct job *j = list; j; j = j->next)
            j->rc = ST_ERROR;
    }
}

/* Whether a thread of this process may leave SCHED_IDLE once on it: an
 * unprivileged one may not, unless RLIMIT_NICE allows nice 0 (systemd:
 * LimitNICE=). Tried on a thread of its own. */
static void *try_idle(void *arg)
{
    struct sched_param sp = {0};
    *(bool *)arg = pthread_setschedparam(pthread_self(), SCHED_IDLE, &sp) == 0 &&
                   pthread_setschedparam(pthread_self(), SCHED_OTHER, &sp) == 0;
    return NULL;
}

static bool idle_reversible(void)
{
    bool ok = false;
    pthread_t t;
    if (pthread_create(&t, NULL, try_idle, &ok) != 0)
        return false;
    pthread_join(t, NULL);
    return ok;
}

/* b->lock held. The committer gives way to the hops (committer()), but
 * not for longer than BEHIND_US: a thread on SCHED_IDLE gets next to no
 * CPU while other programs keep the cores busy (two busy loops on this
 * 2-core machine: 2 - 3 purchases stored a second), and it holds the
 * store's writer lock, which the workers wait for, while it runs a
 * batch. So the threads that queue writes, and the upkeep worker once a
 * second, put it back to the normal priority when the oldest write has
 * waited that long; it gives way again once it has caught up. */
static void nudge(struct submit *b)
{
    if (!b->idle || !b->tid)
        return;
    int64_t oldest = b->running_us ? b->running_us : b->head ? b->head->queued_us : 0;
    if (!oldest || mono_us() - oldest < BEHIND_US)
        return;
    struct sched_param sp = {0};
    if (sched_setscheduler(b->tid, SCHED_OTHER, &sp) == 0)
        b->idle = false;
}

void submit_nudge(struct submit *b)
{
    pthread_mutex_lock(&b->lock);
    nudge(b);
    pthread_mutex_unlock(&b->lock);
}

static void *committer(void *arg)
{
    struct submit *b = arg;
    pthread_setname_np(pthread_self(), "committer");
    /* No hop waits for this thread's commits when it is in the
     * background (the intake answered them), so on a busy machine it runs
     * on the cores the hops leave idle: SCHED_IDLE whenever it has caught
     * up, back to normal when it falls BEHIND_US behind (nudge). make
     * bench, three runs each, alternating: p99 1.46 - 1.83 ms with it,
     * 1.83 - 7.46 ms without; nice 19 gave 1.75 - 1.87 ms in the same
     * per-thread runs where SCHED_IDLE gave 1.39 - 1.72
     * (docs/performance.md). Only where the thread may leave SCHED_IDLE
     * again; elsewhere it keeps the normal priority. On PostgreSQL the
     * confirming hop waits for the commit, so it stays normal there. */
    bool may_idle = b->background && idle_reversible();
    pthread_mutex_lock(&b->lock);
    b->tid = (pid_t)syscall(SYS_gettid);
    b->may_idle = may_idle;
    pthread_mutex_unlock(&b->lock);
    pthread_mutex_lock(&b->lock);
    for (;;) {
        if (!b->head && b->may_idle && !b->idle) { /* caught up: give way again */
            struct sched_param sp = {0};
            b->idle = pthread_setschedparam(pthread_self(), SCHED_IDLE, &sp) == 0;
        }
        while (!b->head && !b->stopping)
            pthread_cond_wait(&b->cond, &b->lock);
        if (!b->head)
            break; /* stopping, and everything queued is done */
        if (!b->stopping) {
            /* let company arrive: a commit costs about the same for one
             * write as for dozens (measured under make bench, round 1,
             * when hops still waited for their commit: without waiting the
             * committer used 44% of a core and p99 of all hops was 20 ms;
             * waiting 300 us, 32% and 4.8 ms; 1 000 us, 23% and 4.7 ms) */
            int64_t wait_us = b->head->queued_us + LINGER_US - mono_us();
            if (wait_us > 0) {
                pthread_mutex_unlock(&b->lock);
                struct timespec ts = {0, (long)wait_us * 1000};
                nanosleep(&ts, NULL);
                pthread_mutex_lock(&b->lock);
            }
        }
        struct job *list = b->head, *last = list;
        int taken = 1;
        for (; taken < BATCH_MAX && last->next; taken++)
            last = last->next;
        b->queued -= taken;
        b->running_us = list->queued_us;
        b->head = last->next;
        if (!b->head)
            b->tail = NULL;
        last->next = NULL;
        pthread_mutex_unlock(&b->lock);
        /* a batch is a millisecond of CPU or more: the committer steps
         * aside after each write and each done (util/aside.h) */
        run(b->st, list);
        for (struct job *j = list, *n; j; j = n) {
            n = j->next;
            j->done(j->arg, j->rc);
            free(j);
            step_aside();
        }
        pthread_mutex_lock(&b->lock);
        b->running_us = 0;
    }
    pthread_mutex_unlock(&b->lock);
    return NULL;
}

struct submit *submit_new(struct store *st, bool background)
{
    struct submit *b = calloc(1, sizeof *b);
    if (!b)
        return NULL;
    b->st = st;
    b->background = background;
    pthread_mutex_init(&b->lock, NULL);
    pthread_cond_init(&b->cond, NULL);
    return b;
}

bool submit_queue(struct submit *b, store_write_fn write, store_done_fn done, void *arg)
{
    struct job *j = calloc(1, sizeof *j);
    if (!j)
        return false;
    j->write = write;
    j->done = done;
    j->arg = arg;
    j->queued_us = mono_us();
    pthread_mutex_lock(&b->lock);
    if (b->stopping || (!b->started && pthread_create(&b->thread, NULL, committer, b) != 0)) {
        pthread_mutex_unlock(&b->lock);
        free(j);
        return false;
    }
    b->started = true;
    if (b->tail)
        b->tail->next = j;
    else
        b->head = j;
    b->tail = j;
    b->queued++;
    nudge(b);
    pthread_cond_signal(&b->cond);
    pthread_mutex_unlock(&b->lock);
    return true;
}

int submit_queued(struct submit *b)
{
    pthread_mutex_lock(&b->lock);
    int n = b->queued;
    pthread_mutex_unlock(&b->lock);
    return n;
}

void submit_free(struct submit *b)
{
    if (!b)
        return;
    pthread_mutex_lock(&b->lock);
    b->stopping = true;
    bool started = b->started;
    pthread_cond_signal(&b->cond);
    pthread_mutex_unlock(&b->lock);
    if (started)
        pthread_join(b->thread, NULL); /* drains what was queued first */
    pthread_mutex_destroy(&b->lock);
    pthread_cond_destroy(&b->cond);
    free(b);
}
