/* lipa-storebench: what storing a USSD purchase costs, in CPU time per
 * purchase, through the same group commit the confirming hop uses
 * (store_submit), so a change to the schema or the store can be measured
 * without the noise of a whole benchmark.
 *
 *   lipa-storebench N PER_COMMIT   stores N purchases of KES 100 for the
 *                                  callers lipa-seed bench made (1 000 of
 *                                  them), PER_COMMIT queued at a time
 *
 * Database and migrations from LIPA_DB / LIPA_MIGRATIONS like lipad;
 * `make bench-store` seeds a fresh database for each batch size. Prints
 * the CPU time of the whole process (the committer and this waiting
 * caller) per purchase. Measured here, never asserted in a test. */
#include "store/store.h"
#include "store/payments.h"
#include "store/users.h"
#include "util/str.h"
#include "util/version.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define CALLERS 1000

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cond = PTHREAD_COND_INITIALIZER;
static int stored, refused;

static enum store_rc write_one(struct store *st, void *arg) { return store_payment_create(st, arg); }

static void done(void *arg, enum store_rc rc)
{
    (void)arg;
    pthread_mutex_lock(&lock);
    stored++;
    refused += rc != ST_OK;
    pthread_cond_signal(&cond);
    pthread_mutex_unlock(&lock);
}

static double cpu_us(void)
{
    struct timespec t;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
    return (double)t.tv_sec * 1e6 + (double)t.tv_nsec / 1e3;
}

#define STOREBENCH_USAGE "usage: lipa-storebench N PER_COMMIT (after lipa-seed bench 1000)\n"

int main(int argc, char **argv)
{
    int asked = version_args(argc, argv, "lipa-storebench", STOREBENCH_USAGE);
    if (asked >= 0)
        return asked;
    int64_t n, per;
    if (argc != 3 || !str_to_i64(argv[1], 1, 10000000, &n) || !str_to_i64(argv[2], 1, 256, &per)) {
        fputs(STOREBENCH_USAGE, stderr);
        return 2;
    }
    const char *db = getenv("LIPA_DB"), *mig = getenv("LIPA_MIGRATIONS");
    char err[256];
    struct store *st = store_open(db && *db ? db : "var/lipa.db", mig && *mig ? mig : "db", err, sizeof err);
    if (!st) {
        fprintf(stderr, "lipa-storebench: %s\n", err);
        return 1;
    }
    int64_t users[CALLERS];
    for (int i = 0; i < CALLERS; i++) {
        char phone[24];
        struct user u;
        snprintf(phone, sizeof phone, "+254700000%03d", i);
        if (store_user_by_phone(st, phone, &u) != ST_OK) {
            fprintf(stderr, "lipa-storebench: no caller %s; run lipa-seed bench %d first\n", phone, CALLERS);
            store_close(st);
            return 1;
        }
        users[i] = u.id;
    }
    struct payment *p = calloc((size_t)n, sizeof *p);
    if (!p) {
        store_close(st);
        return 1;
    }
    srand(42); /* the same callers in the same order on every run */
    for (int64_t i = 0; i < n; i++) {
        int k = rand() % CALLERS;
        str_copy(p[i].origin, sizeof p[i].origin, "ussd");
        snprintf(p[i].idem_key, sizeof p[i].idem_key, "ussd:ATUid_bench_%lld_%d", (long long)i, rand());
        snprintf(p[i].phone, sizeof p[i].phone, "+254700000%03d", k);
        snprintf(p[i].meter_id, sizeof p[i].meter_id, "MTR%dA", k);
        p[i].user_id = users[k];
        p[i].amount = 100;
        p[i].energy = 40;
        str_copy(p[i].account_reference, sizeof p[i].account_reference, p[i].meter_id);
        str_copy(p[i].description, sizeof p[i].description, "Electricity");
    }
    double t0 = cpu_us();
    for (int64_t i = 0; i < n; i += per) {
        int64_t end = i + per < n ? i + per : n;
        for (int64_t j = i; j < end; j++)
            if (!store_submit(st, write_one, done, &p[j]))
                done(NULL, ST_ERROR);
        pthread_mutex_lock(&lock);
        while (stored < end)
            pthread_cond_wait(&cond, &lock);
        pthread_mutex_unlock(&lock);
    }
    double t1 = cpu_us();
    printf("%lld purchases, %lld per commit: %.1f us CPU each, %d refused\n", (long long)n, (long long)per,
           (t1 - t0) / (double)n, refused);
    store_close(st);
    free(p);
    return refused ? 1 : 0;
}
