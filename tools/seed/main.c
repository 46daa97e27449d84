/* lipa-seed: loads demo or benchmark data straight into the store (the
 * same store module lipad uses, so the same schema and rules).
 *
 *   lipa-seed demo            a few callers with assigned meters (make run)
 *   lipa-seed bench N         callers +254700000000 .. +2547(N-1) as eight
 *                             digits, N up to a million, each with one
 *                             meter MTR<i>A named "Home" (make bench)
 *
 * Database and migrations from LIPA_DB / LIPA_MIGRATIONS like lipad.
 * Idempotent: what exists already is left as it is. */
#include "store/store.h"
#include "store/meters.h"
#include "store/users.h"
#include "util/str.h"
#include "util/version.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct demo {
    const char *phone, *first, *last, *lang;
    const char *meters[3]; /* "id|device|name" */
};

static const struct demo demo[] = {
    {"+254712345678", "Amina", "Otieno", "en", {"10001|bf10001demo|Home", "10002|bf10002demo|Shop", NULL}},
    {"+254722000111", "Baraka", "Mwangi", "sw", {"10003|bf10003demo|Nyumbani", NULL, NULL}},
    {"+254733000222", "Chebet", "Kiprop", "en", {"10004|bf10004demo|Flat 4B", NULL, NULL}},
};

static int seed_user(struct store *st, const char *phone, const char *first, const char *last, const char *lang,
                     struct user *u)
{
    if (store_user_by_phone(st, phone, u) == ST_OK)
        return 0;
    memset(u, 0, sizeof *u);
    str_copy(u->phone, sizeof u->phone, phone);
    str_copy(u->first_name, sizeof u->first_name, first);
    str_copy(u->last_name, sizeof u->last_name, last);
    str_copy(u->language, sizeof u->language, lang);
    return store_user_create(st, u) == ST_OK ? 1 : -1;
}

static int seed_meter(struct store *st, const char *id, const char *device, const char *name, int64_t uid,
                      int64_t price)
{
    struct meter m;
    if (store_meter_get(st, id, &m) != ST_OK) {
        memset(&m, 0, sizeof m);
        str_copy(m.id, sizeof m.id, id);
        str_copy(m.device_id, sizeof m.device_id, device);
        str_copy(m.name, sizeof m.name, name);
        str_copy(m.product_name, sizeof m.product_name, "Prepaid meter");
        m.active = true;
        m.price_per_kwh = price;
        if (store_meter_create(st, &m) != ST_OK)
            return -1;
    }
    return store_assign(st, uid, id, NULL) == ST_OK ? 0 : -1;
}

int main(int argc, char **argv)
{
    int asked = version_args(argc, argv, "lipa-seed", "usage: lipa-seed demo | lipa-seed bench N\n");
    if (asked >= 0)
        return asked;
    const char *db = getenv("LIPA_DB"), *mig = getenv("LIPA_MIGRATIONS"), *price_s = getenv("LIPA_PRICE_PER_KWH");
    int64_t price = 2500, n = 0;
    if (!db)
        db = "var/lipa.db";
    if (!mig)
        mig = "db";
    if (price_s && !str_to_i64(price_s, 1, 10000000, &price)) {
        fprintf(stderr, "lipa-seed: LIPA_PRICE_PER_KWH: not a whole number of cents\n");
        return 2;
    }
    bool bench = argc == 3 && !strcmp(argv[1], "bench") && str_to_i64(argv[2], 1, 1000000, &n);
    if (!bench && !(argc == 2 && !strcmp(argv[1], "demo"))) {
        fprintf(stderr, "usage: lipa-seed demo | lipa-seed bench N\n");
        return 2;
    }
    char err[512];
    struct store *st = store_open(db, mig, err, sizeof err);
    if (!st) {
        fprintf(stderr, "lipa-seed: %s\n", err);
        return 1;
    }
    int rc = 0, users = 0;
    struct user u;
    store_begin(st);
    if (bench) {
        for (int64_t i = 0; i < n && rc == 0; i++) {
            char phone[32], id[32], dev[32];
            snprintf(phone, sizeof phone, "+2547%08lld", (long long)i);
            snprintf(id, sizeof id, "MTR%lldA", (long long)i);
            snprintf(dev, sizeof dev, "bench%lld", (long long)i);
            int made = seed_user(st, phone, "Bench", "Caller", "en", &u);
            if (made < 0 || seed_meter(st, id, dev, "Home", u.id, price) < 0)
                rc = 1;
            users += made > 0;
        }
    } else {
        for (size_t i = 0; i < sizeof demo / sizeof demo[0] && rc == 0; i++) {
            int made = seed_user(st, demo[i].phone, demo[i].first, demo[i].last, demo[i].lang, &u);
            if (made < 0)
                rc = 1;
            users += made > 0;
            for (int k = 0; k < 3 && demo[i].meters[k] && rc == 0; k++) {
                char spec[96];
                str_copy(spec, sizeof spec, demo[i].meters[k]);
                char *dev = strchr(spec, '|'), *name = dev ? strchr(dev + 1, '|') : NULL;
                if (!name)
                    return 1;
                *dev++ = 0;
                *name++ = 0;
                if (seed_meter(st, spec, dev, name, u.id, price) < 0)
                    rc = 1;
            }
        }
    }
    if (rc == 0 && store_commit(st) == ST_OK) {
        printf("lipa-seed: %d new users\n", users);
    } else {
        store_rollback(st);
        fprintf(stderr, "lipa-seed: failed, nothing was written\n");
        rc = 1;
    }
    store_close(st);
    return rc;
}
