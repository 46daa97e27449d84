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

#include <stdio.h>
#include <stdlib.h>
#include <string.h>


/* ---- purchases taken in (store_take_payment; the file is intake.c) ---- */

#define TAKE_RETRY_BASE_MS 1000
#define TAKE_RETRY_CAP_MS 60000

struct take {
    struct take *next;         /* on the retry list */
    struct store *st;
    struct payment p;          /* as written to the intake */
    struct payment row;        /* as stored */
    int ticket, tries;
    int64_t retry_at;
    store_taken_fn done;       /* NULL for one restored at start-up */
    void *arg;
};

static enum store_rc take_write(struct store *st, void *arg)
{
    struct take *t = arg;
    t->row = t->p; /* p stays the intake's purchase should this be tried again */
    return store_payment_create(st, &t->row);
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
    if (rc != ST_OK && rc != ST_CONFLICT && rc != ST_NOT_FOUND && !t->st->intake) {
        /* nothing kept here: the caller says "try again" */
        log_error("store.purchase_refused", "phone=%s meter=%s reason=\"the database refused it; not taken\"",
                  log_phone(t->p.phone, masked), t->p.meter_id);
        if (t->done)
            t->done(t->arg, ST_ERROR, &t->p);
        free(t);
        return;
    }
    if (rc != ST_OK && rc != ST_CONFLICT && rc != ST_NOT_FOUND) {
        log_error("store.purchase_refused", "phone=%s meter=%s tries=%d reason=\"kept in the intake, tried again\"",
                  log_phone(t->p.phone, masked), t->p.meter_id, t->tries + 1);
        take_later(t);
        return;
    }
    if (rc == ST_NOT_FOUND)
        log_dropped(&t->p);
    if (t->st->intake)
        intake_done(t->st->intake, t->ticket);
    if (t->done)
        t->done(t->arg, rc, rc == ST_NOT_FOUND ? &t->p : &t->row);
    free(t);
}

bool store_take_payment(struct store *st, const struct payment *p, store_taken_fn on_stored, void *arg)
{
    if (!p->idem_key[0])
        return false;
    struct take *t = calloc(1, sizeof *t);
    if (!t)
        return false;
    t->st = st;
    t->p = *p;
    t->done = on_stored;
    t->arg = arg;
    if (!t->p.created_at)
        t->p.created_at = now_ms();
    if (!st->intake) {
        t->ticket = -1;
        if (submit_queue(st->submit, take_write, take_done, t))
            return true;
        free(t);
        return false;
    }
    if ((t->ticket = intake_add(st->intake, &t->p)) < 0) {
        free(t);
        return false;
    }
    if (!submit_queue(st->submit, take_write, take_done, t))
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
        if (!submit_queue(st->submit, take_write, take_done, t))
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
    struct take *t = calloc(1, sizeof *t);
    if (!t) {
        r->failed = true;
        return;
    }
    t->st = r->st;
    t->p = *p;
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
        free(t);
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
            t->done(t->arg, ST_ERROR, &t->p);
        free(t);
    }
    st->retry = NULL;
}
