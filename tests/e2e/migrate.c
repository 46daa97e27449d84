/* End-to-end: an operator moves lipa from SQLite to PostgreSQL
 * (bin/lipa-migrate). A lipad on a SQLite file serves a caller, a water
 * buyer, a texted command, a station and a client; it is stopped, the
 * file is moved into a fresh PostgreSQL database, and a lipad on that
 * database answers the API as the first did, verifies the water code the
 * first one sent, and numbers a new purchase after the old ones. A second
 * move into the now busy database is refused and changes nothing. Runs on
 * the PostgreSQL pass only (LIPA_TEST_PG): the target is a database of
 * that cluster. Ports h_main.port + 95 and + 96. */
#include "harness.h"
#include "../support/testdb.h"

#include "util/form.h"
#include "util/str.h"

#include <check.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#define FROM_OFFSET 95
#define TO_OFFSET 96

static const char *const extra_env[] = {"LIPA_WATER_PRICE_CENTS=100", NULL};

/* A lipad of the test's own in a fresh build/e2e/NAME-PID (into dir), on
 * target, or on dir/lipa.db when target is NULL: kept where the harness
 * looks first, so it may be a SQLite file on the PostgreSQL pass. */
static void start_on(struct lipad *l, int offset, const char *name, const char *target, char *dir, size_t dirsz)
{
    h_dir_fresh(dir, dirsz, name);
    char keep[300];
    snprintf(keep, sizeof keep, "%s/db-target", dir);
    FILE *f = fopen(keep, "w");
    ck_assert_ptr_nonnull(f);
    if (target)
        fprintf(f, "%s\n", target);
    else
        fprintf(f, "%s/lipa.db\n", dir);
    fclose(f);
    ck_assert_msg(h_lipad_start(l, h_main.port + offset, dir, extra_env), "lipad on %s did not start (see %s)", name,
                  dir);
}

static void walk(struct lipad *l, const char *session, const char *phone, const char *const *texts, const char *want)
{
    char *last = NULL;
    for (int i = 0; texts[i]; i++) {
        free(last);
        last = h_ussd(l, session, phone, texts[i]);
    }
    ck_assert_msg(strstr(last, want), "%s: %s", session, last);
    free(last);
}

static void buy(struct lipad *l, const char *session, const char *phone)
{
    const char *hops[] = {"", "1", "1*1", "1*1*100", "1*1*100*1", NULL};
    walk(l, session, phone, hops, "PIN");
}

/* GET path as the admin: the body (to free). */
static char *get(struct lipad *l, const char *path)
{
    struct http_result r = h_json_admin(l, "GET", path, NULL);
    ck_assert_msg(r.status == 200, "GET %s: %ld %s", path, r.status, r.body);
    char *body = strdup(r.body);
    h_free(&r);
    return body;
}

/* Waits until no message of phone is queued or being sent: a stop then
 * leaves nothing for the next lipad to send again. */
static void outbox_settled(struct lipad *l, const char *phone, size_t n)
{
    char path[128];
    char *p = form_encode(phone);
    snprintf(path, sizeof path, "/api/sms/messages?phone=%s", p);
    free(p);
    for (int waited = 0;; waited += 100) {
        struct http_result r = h_json_admin(l, "GET", path, NULL);
        json_t *msgs = json_object_get(json_object_get(r.json, "data"), "messages"), *m;
        size_t i, done = 0;
        json_array_foreach(msgs, i, m) {
            const char *s = json_string_value(json_object_get(m, "status"));
            done += s && (!strcmp(s, "sent") || !strcmp(s, "delivered"));
        }
        size_t all = json_array_size(msgs);
        h_free(&r);
        if (all >= n && done == all)
            return;
        ck_assert_msg(waited < 20000, "%s: %zu of %zu messages sent", phone, done, all);
        h_sleep_ms(100);
    }
}

/* Runs lipa-migrate FROM TO; its exit status, its stdout and stderr in
 * out and err. */
static int migrate(const char *dir, const char *from, const char *to, char *out, size_t outsz, char *err,
                   size_t errsz)
{
    const char *bin = getenv("LIPA_TEST_BIN");
    char cmd[2048], outf[300], errf[300];
    snprintf(outf, sizeof outf, "%s/migrate.out", dir);
    snprintf(errf, sizeof errf, "%s/migrate.err", dir);
    snprintf(cmd, sizeof cmd, "LIPA_MIGRATIONS=db '%s/lipa-migrate' '%s' '%s' >'%s' 2>'%s'", bin && *bin ? bin : "bin",
             from, to, outf, errf);
    int st = system(cmd);
    const char *files[] = {outf, errf};
    char *bufs[] = {out, err};
    size_t sizes[] = {outsz, errsz};
    for (int i = 0; i < 2; i++) {
        FILE *f = fopen(files[i], "r");
        size_t n = f ? fread(bufs[i], 1, sizes[i] - 1, f) : 0;
        bufs[i][n] = '\0';
        if (f)
            fclose(f);
    }
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* The line of table in lipa-migrate's output: its row count, and whether
 * it ends in ok. */
static long long table_rows(const char *out, const char *table, bool *ok)
{
    char head[64];
    snprintf(head, sizeof head, "\n%s ", table);
    const char *at = strstr(out, head);
    if (!at && !strncmp(out, head + 1, strlen(head + 1)))
        at = out - 1;
    ck_assert_msg(at, "no line for %s in:\n%s", table, out);
    const char *end = strchr(at + 1, '\n');
    ck_assert_ptr_nonnull(end);
    *ok = end - at > 3 && !strncmp(end - 3, " ok", 3);
    return strtoll(at + strlen(head), NULL, 10);
}

START_TEST(sqlite_moved_to_postgresql_keeps_everything)
{
    const char *buyer = "+254716000501", *water = "+254716000502";
    char dir_a[128], dir_b[128], file[200];
    struct lipad a, b;
    start_on(&a, FROM_OFFSET, "migrate-from", NULL, dir_a, sizeof dir_a);
    snprintf(file, sizeof file, "%s/lipa.db", dir_a);

    /* a caller with two meters buys electricity and gets a token */
    long long uid = h_user(&a, buyer, "en");
    h_meter(&a, "MIG001", "migdev001", "Nyumba");
    h_meter(&a, "MIG002", "migdev002", "Duka");
    h_assign(&a, uid, "MIG001");
    h_assign(&a, uid, "MIG002");
    buy(&a, "s-mig-1", buyer);
    json_t *p = h_wait_payment(&a, buyer, "completed", 20000);
    ck_assert_msg(p, "the purchase completes");
    long long first_id = json_integer_value(json_object_get(p, "id"));
    json_decref(p);
    json_t *sms = h_wait_sms(buyer, 1, 20000);
    ck_assert_int_eq(json_array_size(sms), 1);
    json_decref(sms);
    /* a texted command, answered by SMS */
    char *f = form_encode(buyer), body[512];
    snprintf(body, sizeof body, "from=%s&to=40404&text=METERS&date=2026-11-24&id=mig-in-1&linkId=&networkCode=63902", f);
    free(f);
    struct http_result r = h_req(a.port, "POST", "/api/sms/inbound", "application/x-www-form-urlencoded", body, 0, NULL);
    ck_assert_int_eq(r.status, 200);
    h_free(&r);
    json_decref(h_wait_sms(buyer, 2, 20000));
    outbox_settled(&a, buyer, 2);
    /* 20 litres of water, paid; its code comes by SMS */
    const char *litres[] = {"", "2", "2*1", "2*1*1", NULL};
    walk(&a, "s-mig-water", water, litres, "PIN");
    sms = h_wait_sms(water, 1, 20000);
    ck_assert_int_eq(json_array_size(sms), 1);
    const char *text = json_string_value(json_object_get(json_array_get(sms, 0), "message"));
    char code[7] = "", ref[40] = "";
    for (const char *q = text; *q && !code[0]; q++)
        if (strspn(q, "0123456789") == 6 && (q == text || q[-1] < '0' || q[-1] > '9'))
            str_copy(code, sizeof code, q);
    const char *w = strstr(text, "WS-");
    ck_assert_msg(code[0] && w, "a code and a reference in: %s", text);
    snprintf(ref, sizeof ref, "%.*s", (int)strspn(w, "WS-0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"), w);
    json_decref(sms);
    outbox_settled(&a, water, 1);
    /* a station and a client */
    r = h_json_admin(&a, "POST", "/api/stations", "{\"stationId\":\"MIG-ST1\",\"name\":\"Kiosk\"}");
    ck_assert_int_eq(r.status, 201);
    char key[80];
    str_copy(key, sizeof key, json_string_value(json_object_get(json_object_get(r.json, "data"), "apiKey")));
    h_free(&r);
    r = h_json_admin(&a, "POST", "/api/clients", "{\"name\":\"Shule Moja\"}");
    ck_assert_int_eq(r.status, 201);
    h_free(&r);

    /* what the admin sees on SQLite, then lipad stops */
    char meters_path[64];
    snprintf(meters_path, sizeof meters_path, "/meter-user/user/%lld/meters", uid);
    const char *paths[] = {"/users", meters_path, "/mpesa/transactions", "/api/sms/messages?phone=%2B254716000501",
                           "/api/sms/messages?phone=%2B254716000502", "/api/stations", "/api/clients", NULL};
    char *before[8];
    for (int i = 0; paths[i]; i++)
        before[i] = get(&a, paths[i]);
    ck_assert_int_eq(h_lipad_stop(&a, SIGTERM), 0);

    /* the move */
    char uri[400], out[8192], err[4096];
    ck_assert(testdb_target("unused", uri, sizeof uri));
    int rc = migrate(dir_a, file, uri, out, sizeof out, err, sizeof err);
    ck_assert_msg(rc == 0, "lipa-migrate exited %d:\n%s\n%s", rc, out, err);
    bool ok;
    ck_assert_int_eq(table_rows(out, "users", &ok), 1);
    ck_assert(ok);
    ck_assert_int_eq(table_rows(out, "meters", &ok), 2);
    ck_assert_int_eq(table_rows(out, "payments", &ok), 2); /* electricity and water */
    ck_assert(ok);
    ck_assert_int_ge(table_rows(out, "outbox", &ok), 3);
    ck_assert(ok);
    ck_assert_int_eq(table_rows(out, "otp_codes", &ok), 1);
    ck_assert_int_eq(table_rows(out, "sms_inbound", &ok), 1);
    ck_assert_int_eq(table_rows(out, "stations", &ok), 1);
    ck_assert_int_eq(table_rows(out, "clients", &ok), 1);
    ck_assert(ok);
    ck_assert_msg(strstr(out, " tables: all ok ("), "%s", out);
    /* the password of the URI is printed nowhere */
    const char *pw = strchr(strstr(uri, "://") + 3, ':'), *at = strchr(uri, '@');
    char secret[128];
    ck_assert_msg(pw && at && at > pw + 1, "a password in %s", uri);
    snprintf(secret, sizeof secret, "%.*s", (int)(at - pw - 1), pw + 1);
    ck_assert_msg(!strstr(out, secret) && !strstr(err, secret), "the password was printed");
    ck_assert_msg(strstr(err, ":***@"), "the URI shown masked: %s", err);

    /* lipad on PostgreSQL answers as lipad on SQLite did */
    start_on(&b, TO_OFFSET, "migrate-to", uri, dir_b, sizeof dir_b);
    for (int i = 0; paths[i]; i++) {
        char *now = get(&b, paths[i]);
        ck_assert_msg(!strcmp(now, before[i]), "GET %s on PostgreSQL:\n%s\non SQLite:\n%s", paths[i], now, before[i]);
        free(now);
    }
    /* the code sent before the move is good at the station after it */
    snprintf(body, sizeof body, "{\"transactionReference\":\"%s\",\"otp\":\"%s\",\"stationId\":\"MIG-ST1\"}", ref, code);
    r = h_req(b.port, "POST", "/api/stations/otp/verify", "application/json", body, 0, key);
    ck_assert_msg(r.status == 200, "verify: %ld %s", r.status, r.body);
    h_free(&r);
    /* a new purchase gets the next id, and its token */
    buy(&b, "s-mig-2", buyer);
    p = h_wait_payment(&b, buyer, "completed", 20000);
    ck_assert_msg(p, "the purchase on PostgreSQL completes");
    long long second_id = json_integer_value(json_object_get(p, "id"));
    json_decref(p);
    ck_assert_msg(second_id > first_id + 1, "new id %lld after %lld and the water order", second_id, first_id);
    sms = h_wait_sms(buyer, 3, 20000);
    ck_assert_int_eq(json_array_size(sms), 3);
    json_decref(sms);

    /* a second move into it is refused and changes nothing */
    char *busy = get(&b, "/mpesa/transactions");
    rc = migrate(dir_a, file, uri, out, sizeof out, err, sizeof err);
    ck_assert_msg(rc == 1 && strstr(err, "TO is not empty: table users has rows") && strstr(err, "nothing was copied"),
                  "refused (exit %d): %s", rc, err);
    char *after = get(&b, "/mpesa/transactions");
    ck_assert_str_eq(after, busy);
    free(busy);
    free(after);
    ck_assert_int_eq(h_lipad_stop(&b, SIGTERM), 0);
    for (int i = 0; paths[i]; i++)
        free(before[i]);
}
END_TEST

Suite *suite_migrate(void)
{
    Suite *s = suite_create("migrate");
    TCase *t = tcase_create("migrate");
    tcase_set_timeout(t, 120);
    if (h_on_pg()) /* the target is a database of the PostgreSQL pass's cluster */
        tcase_add_test(t, sqlite_moved_to_postgresql_keeps_everything);
    suite_add_tcase(s, t);
    return s;
}
