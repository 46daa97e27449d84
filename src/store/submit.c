/* store/submit: group commit; see store_submit in store.h.
 *
 * One committer thread per store, started on the first submit. It lets
 * the oldest write wait up to LINGER_US for others, takes everything
 * queued (up to BATCH_MAX), runs the writes in one transaction, commits
 * once, then calls every done in queue order. A write that fails is
 * reported alone (the batch is run again with a savepoint per write: run
 * below); a failed commit reports ST_ERROR to the whole batch. */
#include "store/submit.h"

#include "store/store_int.h"
#include "util/aside.h"
#include "util/log.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <time.h>

#define BATCH_MAX 256
/* How long a write may wait for others to share its commit. No USSD hop
 * waits for it (a purchase is answered once in the intake: store.h);
 * M-Pesa's callbacks are answered this much later at most, and an STK
 * push goes out this much later. At 500 us the committer used 12-13 us of
 * CPU per benchmark hop, at 2 000 us 9-11 (make bench-hops load,
 * 2026-11-24, /proc per-thread times; a noisy VM, so a range). */
#define LINGER_US 2000

static int64_t mono_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

struct job {
    struct job *next;
    store_write_fn write;
    submit_many_fn many;       /* or NULL */
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
    _Atomic int queued;        /* how many; read without the lock */
    bool stopping, started;
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

/* Writes j and the jobs of the same many after it (SUBMIT_MANY_MAX at
 * most) in one call of many; *next is the job after them. False when the
 * call did not answer ST_OK. */
static bool write_many(struct store *st, struct job *j, struct job **next)
{
    void *args[SUBMIT_MANY_MAX];
    int n = 0;
    struct job *end = j;
    for (; end && end->many == j->many && n < SUBMIT_MANY_MAX; end = end->next)
        args[n++] = end->arg;
    *next = end;
    if (j->many(st, args, n) != ST_OK)
        return false;
    for (; j != end; j = j->next)
        j->rc = ST_OK;
    return true;
}

/* Runs the jobs of list in one transaction. Guarded, each job runs in a
 * savepoint, so one that fails is rolled back alone; unguarded, the first
 * job that does not answer ST_OK rolls the whole batch back and false is
 * answered (nothing is stored and no rc is final), and consecutive jobs of
 * one many are written together (write_many). Sets each job's rc. */
static bool run_batch(struct store *st, struct job *list, bool guarded)
{
    if (store_begin(st) != ST_OK) {
        for (struct job *j = list; j; j = j->next)
            j->rc = ST_ERROR;
        return true;
    }
    for (struct job *j = list, *next; j; j = next) {
        next = j->next;
        if (!guarded && j->many && next && next->many == j->many) {
            if (!write_many(st, j, &next)) {
                store_rollback(st);
                return false;
            }
        } else if (!guarded) {
            if ((j->rc = j->write(st, j->arg)) != ST_OK) {
                store_rollback(st);
                return false;
            }
        } else if (exec(st, SQL_SAVEPOINT) != ST_OK) {
            j->rc = ST_ERROR;
            continue;
        } else {
            j->rc = j->write(st, j->arg);
            if (j->rc != ST_OK && exec(st, SQL_ROLLBACK_TO) != ST_OK)
                log_error("store.batch_rollback_to", "result=failed");
            exec(st, SQL_RELEASE);
        }
        step_aside(); /* holding the writer lock only (util/aside.h) */
    }
    if (store_commit(st) != ST_OK) {
        store_rollback(st);
        for (struct job *j = list; j; j = j->next)
            j->rc = ST_ERROR;
    }
    return true;
}

/* Runs the jobs of list; sets each job's rc. Nearly every batch stores
 * all its writes, so it runs first without a savepoint per job (two
 * statements fewer per write: 4% of the committer's CPU on SQLite, and no
 * subtransaction per write on PostgreSQL). A batch in which one write
 * fails or finds its row there already is rolled back and run again
 * guarded: its writes are run twice, so each must be one that can run
 * again after a rollback (both kinds, take.c's and the callbacks', insert
 * from what they were queued with). */
static void run(struct store *st, struct job *list)
{
    if (!run_batch(st, list, false))
        run_batch(st, list, true);
}

static void *committer(void *arg)
{
    struct submit *b = arg;
    pthread_setname_np(pthread_self(), "committer");
    pthread_mutex_lock(&b->lock);
    for (;;) {
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
    }
    pthread_mutex_unlock(&b->lock);
    return NULL;
}

struct submit *submit_new(struct store *st)
{
    struct submit *b = calloc(1, sizeof *b);
    if (!b)
        return NULL;
    b->st = st;
    pthread_mutex_init(&b->lock, NULL);
    pthread_cond_init(&b->cond, NULL);
    return b;
}

bool submit_queue(struct submit *b, store_write_fn write, store_done_fn done, void *arg)
{
    return submit_queue_many(b, write, NULL, done, arg);
}

bool submit_queue_many(struct submit *b, store_write_fn write, submit_many_fn many, store_done_fn done, void *arg)
{
    struct job *j = calloc(1, sizeof *j);
    if (!j)
        return false;
    j->write = write;
    j->many = many;
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
    pthread_cond_signal(&b->cond);
    pthread_mutex_unlock(&b->lock);
    return true;
}

int submit_queued(struct submit *b)
{
    return atomic_load_explicit(&b->queued, memory_order_relaxed); /* a bound, not a count to the write */
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
