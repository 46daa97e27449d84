/* End-to-end: an operator backs up lipa's SQLite database while lipad
 * sells (bin/lipa-backup), and a lipad started on the copy has everything
 * that was there before the backup began.
 *
 * A lipad on a SQLite file of its own has callers with meters; one
 * caller's purchases the database refuses (a trigger, standing in for a
 * full disk), so that caller's confirmed purchase waits in the intake
 * file. Callers go on buying, one purchase after another, while
 * lipa-backup copies the live database. Then lipad stops, the copy's
 * database is mended (the trigger's switch off: the disk freed), and a
 * lipad started on the copy lists every user and meter and at least every
 * purchase whose caller had been told to pay before the backup began,
 * the refused one included (from the copied intake), and no purchase
 * that was never made. The copy passed SQLite's integrity check (the tool
 * says so) and the restored lipad reports a healthy database. A second
 * backup onto the same name is refused and leaves the copy as it was.
 *
 * On the PostgreSQL pass, lipa-backup refuses the database's URI, naming
 * pg_dump, and writes nothing. Ports h_main.port + 100 and + 101. */
#include "harness.h"

#include "util/form.h"

#include <check.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define LIVE_OFFSET 100
#define COPY_OFFSET 101
#define CALLERS 4

static const char *const phones[CALLERS] = {"+254718000601", "+254718000602", "+254718000603", "+254718000604"};
static const char *const held_phone = "+254718000609";

/* Runs lipa-backup FROM TO; its exit status, with stdout and stderr
 * together in out. */
static int backup(const char *dir, const char *from, const char *to, char *out, size_t outsz)
{
    const char *bin = getenv("LIPA_TEST_BIN");
    char cmd[2048], outf[300];
    snprintf(outf, sizeof outf, "%s/backup.out", dir);
    snprintf(cmd, sizeof cmd, "'%s/lipa-backup' '%s' '%s' >'%s' 2>&1", bin && *bin ? bin : "bin", from, to, outf);
    int st = system(cmd);
    FILE *f = fopen(outf, "r");
    size_t n = f ? fread(out, 1, outsz - 1, f) : 0;
    out[n] = '\0';
    if (f)
        fclose(f);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* One hop straight through h_req: the seller thread must not assert. NULL
 * when lipad did not answer 200. */
static char *hop(struct lipad *l, const char *sid, const char *phone, const char *text)
{
    char *p = form_encode(phone), *t = form_encode(text), *s = form_encode(sid), body[512];
    snprintf(body, sizeof body, "sessionId=%s&serviceCode=%%2A384%%2A1234%%23&phoneNumber=%s&networkCode=63902&text=%s",
             s, p, t);
    free(p);
    free(t);
    free(s);
    struct http_result r = h_req(l->port, "POST", "/api/ussd", "application/x-www-form-urlencoded", body, 0, NULL);
    char *out = r.status == 200 ? strdup(r.body) : NULL;
    h_free(&r);
    return out;
}

/* A caller's whole purchase; true when the last screen asked for the PIN
 * (the caller was told to pay). */
static bool buy(struct lipad *l, const char *sid, const char *phone)
{
    const char *steps[] = {"", "1", "1*1", "1*1*100", "1*1*100*1"};
    char *last = NULL;
    for (int k = 0; k < 5; k++) {
        free(last);
        if (!(last = hop(l, sid, phone, steps[k])))
            return false;
    }
    bool told = !strncmp(last, "END ", 4) && strstr(last, "PIN");
    free(last);
    return told;
}

/* Callers buying one after the other until told to stop. */
struct seller {
    struct lipad *l;
    atomic_int told[CALLERS];
    atomic_int total, unanswered;
    atomic_bool stop;
};

static void *sell(void *arg)
{
    struct seller *s = arg;
    for (int i = 0; !atomic_load(&s->stop); i++) {
        char sid[48];
        snprintf(sid, sizeof sid, "s-backup-%d", i);
        if (buy(s->l, sid, phones[i % CALLERS])) {
            atomic_fetch_add(&s->told[i % CALLERS], 1);
            atomic_fetch_add(&s->total, 1);
        } else {
            atomic_fetch_add(&s->unanswered, 1);
        }
    }
    return NULL;
}

static void wait_told(struct seller *s, int n)
{
    for (int waited = 0; atomic_load(&s->total) < n; waited += 50) {
        ck_assert_msg(waited < 30000, "only %d purchases in 30 s", atomic_load(&s->total));
        h_sleep_ms(50);
    }
}

START_TEST(backup_while_selling_restores_what_was_there)
{
    char live_dir[128], copy_dir[128], live_db[200], copy_db[200], out[2048];
    struct lipad a, b;
    h_dir_fresh(live_dir, sizeof live_dir, "backup-live");
    ck_assert_msg(h_lipad_start(&a, h_main.port + LIVE_OFFSET, live_dir, NULL), "lipad did not start (see %s)",
                  live_dir);
    snprintf(live_db, sizeof live_db, "%s/lipa.db", live_dir);

    long long uid[CALLERS + 1];
    char meter[16], device[24];
    for (int i = 0; i <= CALLERS; i++) {
        uid[i] = h_user(&a, i < CALLERS ? phones[i] : held_phone, "en");
        snprintf(meter, sizeof meter, "BK%03d", i);
        snprintf(device, sizeof device, "bkdev%03d", i);
        h_meter(&a, meter, device, "Home");
        h_assign(&a, uid[i], meter);
    }

    /* the database refuses the held caller's purchases while the switch is on */
    ck_assert(h_sql(&a, "CREATE TABLE e2e_disk_full (x INTEGER); INSERT INTO e2e_disk_full VALUES (1); "
                        "CREATE TRIGGER e2e_refuse BEFORE INSERT ON payments WHEN NEW.phone = '+254718000609' "
                        "AND EXISTS (SELECT 1 FROM e2e_disk_full) BEGIN SELECT json('refused'); END;"));
    ck_assert_msg(buy(&a, "s-backup-held", held_phone), "the held caller is told to pay");
    h_sleep_ms(300);
    ck_assert_int_eq(h_purchases(&a, held_phone), 0);

    /* callers buy while the backup is taken */
    struct seller s = {.l = &a};
    pthread_t th;
    ck_assert_int_eq(pthread_create(&th, NULL, sell, &s), 0);
    wait_told(&s, 8);
    int before[CALLERS];
    for (int i = 0; i < CALLERS; i++)
        before[i] = atomic_load(&s.told[i]);
    h_dir_fresh(copy_dir, sizeof copy_dir, "backup-copy");
    snprintf(copy_db, sizeof copy_db, "%s/lipa.db", copy_dir);
    int rc = backup(copy_dir, live_db, copy_db, out, sizeof out);
    int during = atomic_load(&s.total);
    wait_told(&s, during + 4); /* and after */
    atomic_store(&s.stop, true);
    pthread_join(th, NULL);
    ck_assert_msg(rc == 0, "lipa-backup exited %d: %s", rc, out);
    ck_assert_msg(strstr(out, ", integrity ok ("), "the copy checked: %s", out);
    const char *from = strstr(out, "schema ");
    long long schema = 0, intake = 0;
    ck_assert_msg(from && sscanf(from, "schema %lld, %lld purchase", &schema, &intake) == 2, "%s", out);
    ck_assert_msg(schema > 0 && intake >= 1, "the held purchase came from the intake: %s", out);
    ck_assert_int_eq(atomic_load(&s.unanswered), 0);
    int after[CALLERS];
    for (int i = 0; i < CALLERS; i++)
        after[i] = atomic_load(&s.told[i]);
    struct stat copied;
    ck_assert_int_eq(stat(copy_db, &copied), 0);
    ck_assert_msg((copied.st_mode & 077) == 0, "the copy is readable by its owner only (mode %o)",
                  (unsigned)(copied.st_mode & 0777));

    /* a second backup onto the same name is refused; the copy stays */
    char again[2048];
    rc = backup(live_dir, live_db, copy_db, again, sizeof again);
    ck_assert_msg(rc == 1 && strstr(again, "exists"), "a second backup onto %s: exit %d, %s", copy_db, rc, again);
    struct stat still;
    ck_assert_int_eq(stat(copy_db, &still), 0);
    ck_assert(still.st_size == copied.st_size && still.st_mtim.tv_sec == copied.st_mtim.tv_sec &&
              still.st_mtim.tv_nsec == copied.st_mtim.tv_nsec);

    ck_assert_int_eq(h_lipad_stop(&a, SIGTERM), 0);

    /* the disk freed on the copy, then a lipad on it */
    struct lipad fix = {0};
    snprintf(fix.db, sizeof fix.db, "%s", copy_db);
    ck_assert(h_sql(&fix, "DELETE FROM e2e_disk_full;"));
    ck_assert_msg(h_lipad_start(&b, h_main.port + COPY_OFFSET, copy_dir, NULL), "lipad on the copy did not start (see %s)",
                  copy_dir);
    struct http_result r = h_req(b.port, "GET", "/api/health", NULL, NULL, 0, NULL);
    ck_assert_msg(r.status == 200 && strstr(r.body, "\"database\":\"connected\""), "health: %ld %s", r.status, r.body);
    h_free(&r);
    r = h_json_admin(&b, "GET", "/users", NULL);
    ck_assert_int_eq(r.status, 200);
    for (int i = 0; i <= CALLERS; i++)
        ck_assert_msg(strstr(r.body, i < CALLERS ? phones[i] : held_phone), "user %d on the copy: %s", i, r.body);
    h_free(&r);
    for (int i = 0; i <= CALLERS; i++) {
        char path[80];
        snprintf(path, sizeof path, "/meter-user/user/%lld/meters", uid[i]);
        snprintf(meter, sizeof meter, "BK%03d", i);
        r = h_json_admin(&b, "GET", path, NULL);
        ck_assert_msg(r.status == 200 && strstr(r.body, meter), "%s on the copy: %ld %s", path, r.status, r.body);
        h_free(&r);
    }
    for (int i = 0; i < CALLERS; i++) {
        int n = h_purchases(&b, phones[i]);
        ck_assert_msg(n >= before[i] && n <= after[i], "caller %d: %d purchases on the copy; %d told before the "
                      "backup, %d by the end", i, n, before[i], after[i]);
    }
    /* the purchase only the intake held, stored from the copied intake */
    json_t *p = NULL;
    for (int waited = 0; !p && waited < 10000; waited += 100) {
        if (h_purchases(&b, held_phone) == 1)
            p = h_wait_payment(&b, held_phone, "pending", 0);
        else
            h_sleep_ms(100);
    }
    ck_assert_msg(p, "the held caller's purchase on the copy");
    ck_assert_int_eq(json_integer_value(json_object_get(p, "amount")), 100);
    json_decref(p);
    ck_assert_int_eq(h_purchases(&b, held_phone), 1);
    ck_assert_int_eq(h_lipad_stop(&b, SIGTERM), 0);
}
END_TEST

START_TEST(postgresql_is_left_to_pg_dump)
{
    char dir[128], out_db[200], out[2048];
    h_dir_fresh(dir, sizeof dir, "backup-pg");
    snprintf(out_db, sizeof out_db, "%s/copy.db", dir);
    int rc = backup(dir, h_main.db, out_db, out, sizeof out);
    ck_assert_msg(rc == 1 && strstr(out, "pg_dump"), "lipa-backup on PostgreSQL: exit %d, %s", rc, out);
    ck_assert_msg(access(out_db, F_OK) != 0, "nothing written");
}
END_TEST

Suite *suite_backup(void)
{
    Suite *s = suite_create("backup");
    TCase *t = tcase_create("backup");
    tcase_set_timeout(t, 120);
    if (h_on_pg())
        tcase_add_test(t, postgresql_is_left_to_pg_dump);
    else
        tcase_add_test(t, backup_while_selling_restores_what_was_there);
    suite_add_tcase(s, t);
    return s;
}
