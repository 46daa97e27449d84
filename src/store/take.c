/* store/take: purchases taken in (store_take_payment): written to the
 * intake file (intake.c) before the caller is answered, then stored by the
 * group commit (submit.c), tried again while the database refuses, and
 * restored from the file when lipad starts (store.h, payments). On a
 * database of its own machine (PostgreSQL) there is no intake: the group
 * commit stores the purchase and the caller answers after it. */
#include "store/store.h"

#include "store/submit.h"
#include "store/intake.h"
#include "store/meters.h"
#include "store/payments.h"
#include "store/store_int.h"
#include "store/users.h"
#include "util/log.h"
#include "util/str.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>


/* ---- purchases taken in (store_take_payment; the file is intake.c) ---- */

#define TAKE_RETRY_BASE_MS 1000
#define TAKE_RETRY_CAP_MS 60000

/* A purchase waiting for the group commit is kept as its intake line
 * (about 200 bytes, where a struct payment is 2.4 KB): when the database
 * falls behind, tens of thousands may wait for it. It is decoded into row
 * for its write, and row is dropped again when the write has to be tried
 * later. What is stored is therefore what the intake holds: the same row
 * whether lipad lives or restarts. */
struct take {
    struct take *next;         /* on the retry list */
    struct store *st;
    struct payment *row;       /* decoded for the write, then as stored */
    int ticket, tries;
    int64_t retry_at;
    store_taken_fn done;       /* NULL for one restored at start-up */
    void *arg;
    size_t len;
    char line[];               /* intake_encode's line, NUL-terminated */
};

static struct take *take_new(struct store *st, const struct payment *p)
{
    char line[INTAKE_LINE_MAX];
    size_t n = intake_encode(p, line, sizeof line);
    struct take *t = n ? calloc(1, sizeof *t + n + 1) : NULL;
    if (!t)
        return NULL;
    t->st = st;
    t->len = n;
    memcpy(t->line, line, n + 1);
    return t;
}

static void take_free(struct take *t)
{
    free(t->row);
    free(t);
}

/* The purchase, decoded from its line into row. */
static bool take_decode(struct take *t)
{
    if (!t->row && !(t->row = malloc(sizeof *t->row)))
        return false;
    return intake_decode(t->line, t->len, t->row);
}

/* The purchase for logs and callbacks: row as decoded or stored, decoded
 * now when it is not; an empty one when memory ran out. */
static const struct payment *take_row(struct take *t)
{
    static const struct payment none;
    return t->row || take_decode(t) ? t->row : &none;
}

static enum store_rc take_write(struct store *st, void *arg)
{
    struct take *t = arg;
    if (!take_decode(t))
        return ST_ERROR; /* out of memory: tried again */
    return store_payment_create(st, t->row); /* row becomes the stored row */
}

/* Purchases of one batch of the group commit, in INSERTs of several rows
 * (st_payments_create_many): a statement's fixed cost, and on PostgreSQL
 * its round trip, shared. */
static enum store_rc take_write_many(struct store *st, void **args, int n)
{
    struct payment *rows[SUBMIT_MANY_MAX];
    for (int i = 0; i < n; i++) {
        struct take *t = args[i];
        if (!take_decode(t))
            return ST_ERROR;
        rows[i] = t->row;
    }
    return st_payments_create_many(st, rows, n);
}

/* A taken-in purchase the database can never have. */
static void log_dropped(const struct payment *p)
{
    char masked[20];
    log_error("store.purchase_dropped", "phone=%s meter=%s reason=\"its user or meter went away\"",
              log_phone(p->phone, masked), p->meter_id);
}

static void take_later(struct take *t)
{
    free(t->row); /* decoded again at the next try */
    t->row = NULL;
    t->tries++;
    t->retry_at = now_ms() + backoff_ms(TAKE_RETRY_BASE_MS, t->tries, TAKE_RETRY_CAP_MS);
    pthread_mutex_lock(&t->st->retry_lock);
    t->next = t->st->retry;
    t->st->retry = t;
    pthread_mutex_unlock(&t->st->retry_lock);
}

static void take_done(void *arg, enum store_rc rc)
{
    struct take *t = arg;
    char masked[20];
    const struct payment *row = take_row(t);
    if (rc != ST_OK && rc != ST_CONFLICT && rc != ST_NOT_FOUND && !t->st->intake) {
        /* nothing kept here: the caller says "try again" */
        log_error("store.purchase_refused", "phone=%s meter=%s reason=\"the database refused it; not taken\"",
                  log_phone(row->phone, masked), row->meter_id);
        if (t->done)
            t->done(t->arg, ST_ERROR, row);
        take_free(t);
        return;
    }
    if (rc != ST_OK && rc != ST_CONFLICT && rc != ST_NOT_FOUND) {
        log_error("store.purchase_refused", "phone=%s meter=%s tries=%d reason=\"kept in the intake, tried again\"",
                  log_phone(row->phone, masked), row->meter_id, t->tries + 1);
        take_later(t);
        return;
    }
    if (rc == ST_NOT_FOUND)
        log_dropped(row); /* the purchase as taken */
    if (t->st->intake)
        intake_done(t->st->intake, t->ticket);
    if (t->done)
        t->done(t->arg, rc, row);
    take_free(t);
}

bool store_take_payment(struct store *st, const struct payment *p, store_taken_fn on_stored, void *arg)
{
    if (!p->idem_key[0])
        return false;
    int queued = submit_queued(st->submit);
    if (queued >= STORE_TAKE_QUEUE_MAX) {
        static _Atomic int64_t said_ms;
        int64_t now = now_ms(), said = atomic_load(&said_ms);
        if (now - said >= 1000 && atomic_compare_exchange_strong(&said_ms, &said, now))
            log_warn("store.intake_full", "queued=%d max=%d reason=\"the group commit is behind; purchases refused\"",
                     queued, STORE_TAKE_QUEUE_MAX);
        return false;
    }
    struct payment taken = *p;
    if (!taken.created_at)
        taken.created_at = now_ms();
    struct take *t = take_new(st, &taken);
    if (!t)
        return false;
    t->done = on_stored;
    t->arg = arg;
    if (!st->intake) {
        t->ticket = -1;
        if (submit_queue_many(st->submit, take_write, take_write_many, take_done, t))
            return true;
        take_free(t);
        return false;
    }
    if ((t->ticket = intake_add_line(st->intake, t->line, t->len)) < 0) {
        take_free(t);
        return false;
    }
    if (!submit_queue_many(st->submit, take_write, take_write_many, take_done, t))
        take_later(t); /* written: it is stored later, or at the next start */
    return true;
}

int store_take_waiting(struct store *st)
{
    int n = 0;
    pthread_mutex_lock(&st->retry_lock);
    for (struct take *t = st->retry; t; t = t->next)
        n++;
    pthread_mutex_unlock(&st->retry_lock);
    return n;
}

/* store_maintain: the refused purchases whose time has come go back to
 * the group commit. */
void st_take_retry(struct store *st, int64_t now)
{
    pthread_mutex_lock(&st->retry_lock);
    struct take *due = NULL, **pp = &st->retry;
    while (*pp) {
        struct take *t = *pp;
        if (t->retry_at <= now) {
            *pp = t->next;
            t->next = due;
            due = t;
        } else {
            pp = &t->next;
        }
    }
    pthread_mutex_unlock(&st->retry_lock);
    for (struct take *t = due, *n; t; t = n) {
        n = t->next;
        if (!submit_queue_many(st->submit, take_write, take_write_many, take_done, t))
            take_later(t);
    }
}

struct restore {
    struct store *st;
    int stored, dropped, kept;
    bool failed;
    struct take *settled;      /* tickets to hand back after the commit */
};

static void restore_one(void *ctx, struct payment *p, int ticket)
{
    struct restore *r = ctx;
    struct take *t = take_new(r->st, p);
    if (!t) {
        r->failed = true;
        return;
    }
    t->ticket = ticket;
    enum store_rc rc = r->failed ? ST_ERROR : take_write(r->st, t);
    if (rc == ST_OK || rc == ST_CONFLICT || rc == ST_NOT_FOUND) {
        r->stored += rc == ST_OK;
        r->dropped += rc == ST_NOT_FOUND;
        if (rc == ST_NOT_FOUND)
            log_dropped(p);
        t->next = r->settled;
        r->settled = t;
    } else {
        r->kept++;
        take_later(t);
    }
}

/* store_open: what a killed lipad left in the intake goes into the
 * database (most of it is there already: the same idem_key is a
 * conflict, not a second purchase), in one transaction. */
bool st_take_restore(struct store *st, char *err, size_t errsz)
{
    struct restore r = {.st = st};
    int skipped = 0;
    if (!st->intake)
        return true; /* nothing kept outside the database */
    if (store_begin(st) != ST_OK) {
        snprintf(err, errsz, "intake: the database refused a transaction");
        return false;
    }
    int n = intake_replay(st->intake, restore_one, &r, &skipped);
    bool ok = n >= 0 && !r.failed && store_commit(st) == ST_OK;
    if (!ok)
        store_rollback(st);
    for (struct take *t = r.settled, *next; t; t = next) {
        next = t->next;
        if (ok)
            intake_done(st->intake, t->ticket);
        take_free(t);
    }
    if (!ok) {
        snprintf(err, errsz, "intake: cannot move the purchases in %s-intake.0 and .1 into the database", st->path);
        return false;
    }
    intake_tidy(st->intake);
    if (n > 0 || skipped > 0)
        log_info("store.intake_restored", "lines=%d stored=%d dropped=%d kept=%d skipped=%d", n, r.stored, r.dropped,
                 r.kept, skipped);
    return true;
}

void st_take_forget(struct store *st)
{
    for (struct take *t = st->retry, *n; t; t = n) {
        n = t->next;
        if (t->done) /* its caller's argument is freed there */
            t->done(t->arg, ST_ERROR, take_row(t));
        take_free(t);
    }
    st->retry = NULL;
}
