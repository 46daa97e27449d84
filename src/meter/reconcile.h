/* meter/reconcile: deciding, from the meter cloud's own log, whether
 * top-ups whose answer lipa never recorded reached the cloud. Pure: no
 * store, no network, no clock of its own; the top-up worker (pay/topup.c)
 * fetches the rows and the log and applies the verdict.
 *
 * The cloud has no idempotency key, so its log of commands issued is the
 * only witness. A log entry names a device, a code, a value and a time,
 * not a purchase: two top-ups of the same energy on the same meter look
 * alike. So the question is asked of every such top-up near in time (a
 * "cluster"), not of one: each one the cloud answered ok ("done") has a
 * log entry for sure; the entries left over belong to top-ups whose fate
 * is unknown ("open"), each to one whose time span holds it.
 *
 * Time spans. A command sent at lipa's time s reaches the cloud, if ever,
 * by s + timeout (lipa gives up then) + late (a request the cloud took in
 * but processed late, and the time its log takes to show it). The cloud's
 * clock may differ from lipa's by up to skew either way. So its entry lies
 * in [s - timeout - skew, s + timeout + late + skew] on the cloud's clock.
 * The low end has a timeout too: rows stored before lipa recorded send
 * times carry the time their answer was stored, up to a timeout after the
 * send. Spans that overlap form a cluster; a cluster's span is the union.
 *
 * Thread-safe (no state). */
#ifndef LIPA_METER_RECONCILE_H
#define LIPA_METER_RECONCILE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define RECONCILE_ROWS_MAX 64      /* top-ups in one cluster; more: undecided */

struct reconcile_window {
    int64_t timeout_ms;            /* the provider call's timeout */
    int64_t late_ms;               /* how late a command may still show */
    int64_t skew_ms;               /* the largest clock difference allowed */
};

/* One top-up of the meter with the same energy and a command on record. */
struct reconcile_row {
    int64_t id;
    int64_t sent_at;               /* lipa's clock, ms */
    bool done;                     /* the cloud answered ok */
    bool reached;                  /* out (open rows): a log entry is theirs */
};

enum reconcile_verdict {
    RECONCILE_DECIDED,             /* every open row has .reached set */
    RECONCILE_WAIT,                /* an open row may still show: ask at *until */
    RECONCILE_INCOMPLETE,          /* the log lacks an entry of a done row */
};

/* The span of a command sent at sent_at, on the cloud's clock. */
void reconcile_span(const struct reconcile_window *w, int64_t sent_at, int64_t *lo, int64_t *hi);
/* When an open row sent at sent_at may be decided: once nothing it sent
 * can still arrive (lipa's clock). */
int64_t reconcile_due(const struct reconcile_window *w, int64_t sent_at);
/* The sent_at range of rows whose spans overlap [lo, hi]. */
void reconcile_reach(const struct reconcile_window *w, int64_t lo, int64_t hi, int64_t *from, int64_t *to);
/* Widens [lo, hi] by the spans of rows that overlap it; true when it grew
 * (then fetch the rows of the wider range and call again). */
bool reconcile_grow(const struct reconcile_window *w, const struct reconcile_row *rows, size_t n, int64_t *lo,
                    int64_t *hi);
/* Decides a cluster: rows (at most RECONCILE_ROWS_MAX) are every top-up
 * whose span overlaps the cluster's, done and open; at are the times of
 * the log entries with the same code and value (any order). An entry
 * belongs to at most one row whose span holds it; done rows are matched
 * first, then open rows oldest first, so an open row is reached only when
 * an entry is left for it whatever the done rows take. *unexplained gets
 * the entries no row could take (another sender: logged, not used). */
enum reconcile_verdict reconcile_decide(const struct reconcile_window *w, struct reconcile_row *rows, size_t n,
                                        const int64_t *at, size_t nat, int64_t now, int64_t *until,
                                        size_t *unexplained);

#endif
