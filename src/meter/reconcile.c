/* meter/reconcile: whether unrecorded top-ups reached the meter cloud;
 * see reconcile.h. */
#include "meter/reconcile.h"

#include <stdlib.h>
#include <string.h>

void reconcile_span(const struct reconcile_window *w, int64_t sent_at, int64_t *lo, int64_t *hi)
{
    *lo = sent_at - w->timeout_ms - w->skew_ms;
    *hi = sent_at + w->timeout_ms + w->late_ms + w->skew_ms;
}

int64_t reconcile_due(const struct reconcile_window *w, int64_t sent_at)
{
    return sent_at + w->timeout_ms + w->late_ms;
}

void reconcile_reach(const struct reconcile_window *w, int64_t lo, int64_t hi, int64_t *from, int64_t *to)
{
    /* span(s) overlaps [lo, hi] iff s - timeout - skew <= hi and
     * s + timeout + late + skew >= lo */
    *from = lo - w->timeout_ms - w->late_ms - w->skew_ms;
    *to = hi + w->timeout_ms + w->skew_ms;
}

bool reconcile_grow(const struct reconcile_window *w, const struct reconcile_row *rows, size_t n, int64_t *lo,
                    int64_t *hi)
{
    bool grew = false;
    for (size_t i = 0; i < n; i++) {
        int64_t a, b;
        reconcile_span(w, rows[i].sent_at, &a, &b);
        if (b < *lo || a > *hi)
            continue; /* not (yet) touching the cluster */
        if (a < *lo)
            *lo = a, grew = true;
        if (b > *hi)
            *hi = b, grew = true;
    }
    return grew;
}

/* Matching log entries to rows (Kuhn's augmenting paths). A row once
 * matched stays matched while later rows re-route entries, so the order
 * rows are tried in is their priority. */
struct match {
    const struct reconcile_window *w;
    const struct reconcile_row *rows;
    const int64_t *at;
    size_t nat;
    int *owner;                    /* per entry: row index or -1 */
    bool *seen;                    /* per entry, for one search */
};

static bool holds(const struct match *m, size_t row, size_t entry)
{
    int64_t lo, hi;
    reconcile_span(m->w, m->rows[row].sent_at, &lo, &hi);
    return m->at[entry] >= lo && m->at[entry] <= hi;
}

static bool augment(struct match *m, size_t row)
{
    for (size_t j = 0; j < m->nat; j++) {
        if (m->seen[j] || !holds(m, row, j))
            continue;
        m->seen[j] = true;
        if (m->owner[j] < 0 || augment(m, (size_t)m->owner[j])) {
            m->owner[j] = (int)row;
            return true;
        }
    }
    return false;
}

/* Done rows first, then open rows oldest first (ties by id). */
static int priority_cmp(const struct reconcile_row *a, const struct reconcile_row *b)
{
    if (a->done != b->done)
        return a->done ? -1 : 1;
    if (a->sent_at != b->sent_at)
        return a->sent_at < b->sent_at ? -1 : 1;
    return a->id < b->id ? -1 : a->id > b->id;
}

enum reconcile_verdict reconcile_decide(const struct reconcile_window *w, struct reconcile_row *rows, size_t n,
                                        const int64_t *at, size_t nat, int64_t now, int64_t *until,
                                        size_t *unexplained)
{
    enum reconcile_verdict v = RECONCILE_INCOMPLETE;
    size_t order[RECONCILE_ROWS_MAX];
    bool matched[RECONCILE_ROWS_MAX] = {false};
    struct match m = {w, rows, at, nat, NULL, NULL};

    *until = 0;
    *unexplained = 0;
    if (n > RECONCILE_ROWS_MAX)
        return RECONCILE_INCOMPLETE;
    for (size_t i = 0; i < n; i++) {
        if (!rows[i].done && reconcile_due(w, rows[i].sent_at) > now && reconcile_due(w, rows[i].sent_at) > *until)
            *until = reconcile_due(w, rows[i].sent_at);
        rows[i].reached = false;
    }
    if (*until)
        return RECONCILE_WAIT; /* its command may still show: counting now could miss it */
    for (size_t i = 0; i < n; i++) { /* insertion sort: n is small */
        size_t j = i;
        while (j > 0 && priority_cmp(&rows[order[j - 1]], &rows[i]) > 0) {
            order[j] = order[j - 1];
            j--;
        }
        order[j] = i;
    }
    m.owner = malloc((nat ? nat : 1) * sizeof *m.owner);
    m.seen = malloc((nat ? nat : 1) * sizeof *m.seen);
    if (!m.owner || !m.seen)
        goto out;
    for (size_t j = 0; j < nat; j++)
        m.owner[j] = -1;
    for (size_t k = 0; k < n; k++) {
        memset(m.seen, 0, (nat ? nat : 1) * sizeof *m.seen);
        matched[order[k]] = augment(&m, order[k]);
        if (rows[order[k]].done && !matched[order[k]])
            goto out; /* the cloud said ok, yet its log has no entry: behind, or cut */
    }
    for (size_t i = 0; i < n; i++)
        rows[i].reached = !rows[i].done && matched[i];
    for (size_t j = 0; j < nat; j++)
        *unexplained += m.owner[j] < 0;
    v = RECONCILE_DECIDED;
out:
    free(m.owner);
    free(m.seen);
    return v;
}
