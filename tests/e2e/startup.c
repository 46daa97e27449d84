/* e2e startup: what an operator meets when starting lipad. Its arguments
 * (--help, --version, anything else refused), a second lipad on a port in
 * use (refused while the first keeps answering), LIPA_BIND on IPv6
 * loopback, and a lipad started from another working directory finding
 * its migrations and menus and serving its API's description, and LIPA_MODE=production refusing what is
 * not ready for it. Ports h_main.port + 40..45. */
#include "harness.h"

#include "util/httpc.h"

#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static const char *bin_dir(void)
{
    const char *b = getenv("LIPA_TEST_BIN");
    return b && *b ? b : "bin";
}

/* Reads a whole (small) file into out; "" when it cannot. */
static void slurp(const char *path, char *out, size_t n)
{
    out[0] = '\0';
    FILE *f = fopen(path, "r");
    if (!f)
        return;
    size_t got = fread(out, 1, n - 1, f);
    out[got] = '\0';
    fclose(f);
}

/* Runs lipad with one argument and an empty environment (but the
 * sanitizers'), its stdout and stderr kept apart; its exit status. */
static int run_lipad(const char *arg, char *out, size_t outsz, char *err, size_t errsz)
{
    char dir[128], prog[512], out_path[200], err_path[200];
    h_dir_fresh(dir, sizeof dir, "startup-args");
    snprintf(prog, sizeof prog, "%s/lipad", bin_dir());
    snprintf(out_path, sizeof out_path, "%s/stdout", dir);
    snprintf(err_path, sizeof err_path, "%s/stderr", dir);
    static char envbuf[2][480];
    char *envp[3];
    int n = 0;
    const char *keep[] = {"ASAN_OPTIONS", "UBSAN_OPTIONS"};
    for (int i = 0; i < 2; i++)
        if (getenv(keep[i])) {
            snprintf(envbuf[n], sizeof envbuf[n], "%s=%s", keep[i], getenv(keep[i]));
            envp[n] = envbuf[n];
            n++;
        }
    envp[n] = NULL;
    pid_t pid = fork();
    if (pid == 0) {
        int o = open(out_path, O_WRONLY | O_CREAT | O_TRUNC, 0644), e = open(err_path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        if (o < 0 || e < 0)
            _exit(126);
        dup2(o, 1);
        dup2(e, 2);
        char *argv[] = {prog, (char *)arg, NULL};
        execve(prog, argv, envp);
        _exit(127);
    }
    int st = 0;
    waitpid(pid, &st, 0);
    slurp(out_path, out, outsz);
    slurp(err_path, err, errsz);
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

START_TEST(version_and_help_on_stdout)
{
    char out[16384], err[4096];
    int rc = run_lipad("--version", out, sizeof out, err, sizeof err);
    ck_assert_msg(rc == 0, "--version exited %d (stderr: %s)", rc, err);
    ck_assert_msg(!strncmp(out, "lipad ", 6) && strlen(out) > 7 && out[strlen(out) - 1] == '\n',
                  "--version printed '%s'", out);
    ck_assert_msg(!err[0], "--version wrote on stderr: %s", err);

    rc = run_lipad("--help", out, sizeof out, err, sizeof err);
    ck_assert_msg(rc == 0, "--help exited %d (stderr: %s)", rc, err);
    ck_assert_msg(strstr(out, "usage: lipad") && strstr(out, "LIPA_PORT") && strstr(out, "LIPA_BIND") &&
                      strstr(out, "LIPA_MIGRATIONS"),
                  "--help printed: %s", out);
}
END_TEST

START_TEST(unknown_argument_exits_2)
{
    char out[4096], err[4096];
    int rc = run_lipad("--port=9000", out, sizeof out, err, sizeof err);
    ck_assert_msg(rc == 2, "an unknown argument: exit %d (stderr: %s)", rc, err);
    ck_assert_msg(strstr(err, "--port=9000"), "the message does not name the argument: %s", err);
    ck_assert_msg(!out[0], "it printed on stdout: %s", out);
}
END_TEST

/* Waits up to ms for pid to exit: its exit status, or -1 while it runs. */
static int wait_exit(pid_t pid, int ms)
{
    for (int waited = 0; waited <= ms; waited += 50) {
        int st = 0;
        if (waitpid(pid, &st, WNOHANG) == pid)
            return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
        h_sleep_ms(50);
    }
    return -1;
}

START_TEST(second_lipad_on_a_port_in_use_is_refused)
{
    char dir1[128], dir2[128], log[8192];
    struct lipad first, second;
    h_dir_fresh(dir1, sizeof dir1, "startup-first");
    h_dir_fresh(dir2, sizeof dir2, "startup-second");
    int port = h_main.port + 40;
    ck_assert_msg(h_lipad_start(&first, port, dir1, NULL), "the first lipad did not start (%s)", dir1);
    ck_assert(h_lipad_spawn(&second, port, dir2, NULL, NULL));
    int rc = wait_exit(second.pid, 15000);
    if (rc < 0) {
        h_lipad_stop(&second, SIGKILL);
        h_lipad_stop(&first, SIGTERM);
        ck_abort_msg("a second lipad on port %d kept running", port);
    }
    second.pid = 0;
    slurp(second.log, log, sizeof log);
    ck_assert_msg(rc == 1, "the second lipad exited %d: %s", rc, log);
    char want[96];
    snprintf(want, sizeof want, "cannot listen on 127.0.0.1:%d: address in use", port);
    ck_assert_msg(strstr(log, want) && strstr(log, "LIPA_PORT"), "the second lipad said: %s", log);
    /* refused before it touched its database: it never migrated */
    ck_assert_msg(!strstr(log, "store.migrated"), "the second lipad opened its database: %s", log);
    /* the first still answers every request: none goes to a dead socket */
    for (int i = 0; i < 20; i++) {
        struct http_result r = h_req(port, "GET", "/api/health", NULL, NULL, 0, NULL);
        ck_assert_msg(r.status == 200, "request %d to the first lipad: %ld", i, r.status);
        h_free(&r);
    }
    ck_assert_int_eq(h_lipad_stop(&first, SIGTERM), 0);
    /* and a restart on the same port right after a stop binds at once */
    ck_assert_msg(h_lipad_start(&first, port, dir1, NULL), "a restart on port %d did not start (%s)", port, dir1);
    ck_assert_int_eq(h_lipad_stop(&first, SIGTERM), 0);
}
END_TEST

/* GET url; the status, 0 when nothing answered. */
static long get_status(const char *url)
{
    struct httpc_req rq = {.method = "GET", .url = url, .timeout_ms = 2000};
    struct httpc_resp rs;
    httpc_do(&rq, &rs);
    long status = rs.status;
    httpc_resp_free(&rs);
    return status;
}

static bool has_ipv6_loopback(void)
{
    char buf[4096];
    slurp("/proc/net/if_inet6", buf, sizeof buf);
    return strstr(buf, "00000000000000000000000000000001") != NULL;
}

START_TEST(bind_ipv6_loopback)
{
    if (!has_ipv6_loopback()) {
        fprintf(stderr, "startup: no IPv6 loopback here (/proc/net/if_inet6); LIPA_BIND=::1 not tried\n");
        return;
    }
    char dir[128], url6[96], url4[96], log[8192];
    struct lipad l;
    h_dir_fresh(dir, sizeof dir, "startup-ipv6");
    int port = h_main.port + 41;
    const char *extra[] = {"LIPA_BIND=::1", NULL};
    ck_assert(h_lipad_spawn(&l, port, dir, extra, NULL));
    snprintf(url6, sizeof url6, "http://[::1]:%d/api/health", port);
    snprintf(url4, sizeof url4, "http://127.0.0.1:%d/api/health", port);
    long status = 0;
    for (int waited = 0; waited < 15000 && status != 200; waited += 100) {
        status = get_status(url6);
        if (status != 200)
            h_sleep_ms(100);
    }
    slurp(l.log, log, sizeof log);
    if (status != 200) {
        h_lipad_stop(&l, SIGKILL);
        ck_abort_msg("nothing answered on [::1]:%d: %s", port, log);
    }
    /* on ::1 only: not on IPv4 loopback */
    long v4 = get_status(url4);
    ck_assert_int_eq(h_lipad_stop(&l, SIGTERM), 0);
    slurp(l.log, log, sizeof log); /* the log is written behind: read it whole once lipad stopped */
    ck_assert_msg(v4 == 0, "LIPA_BIND=::1 also answered on 127.0.0.1 (%ld)", v4);
    ck_assert_msg(strstr(log, "bind=::1"), "the start line does not say where: %s", log);
}
END_TEST

START_TEST(from_another_directory_with_default_paths)
{
    char dir[128], log[16384];
    struct lipad l;
    h_dir_fresh(dir, sizeof dir, "startup-cwd");
    int port = h_main.port + 42;
    /* lipad's own defaults for both ("db", "menus"), from /tmp where neither is */
    const char *drop[] = {"LIPA_MENUS", "LIPA_MIGRATIONS", NULL};
    struct h_how how = {.cwd = "/tmp", .drop = drop};
    ck_assert_msg(access("/tmp/db", F_OK) != 0 && access("/tmp/menus", F_OK) != 0,
                  "/tmp/db or /tmp/menus exists: this test would not test anything");
    ck_assert(h_lipad_spawn(&l, port, dir, NULL, &how));
    bool up = false;
    for (int waited = 0; waited < 15000 && !up; waited += 100) {
        struct http_result r = h_req_within(2000, port, "GET", "/api/health", NULL, NULL, 0, NULL, NULL);
        up = r.status == 200;
        h_free(&r);
        if (!up)
            h_sleep_ms(100);
    }
    slurp(l.log, log, sizeof log);
    if (!up) {
        h_lipad_stop(&l, SIGKILL);
        ck_abort_msg("lipad started from /tmp did not answer: %s", log);
    }
    /* the menus were found: a USSD hop gets the welcome screen */
    char *answer = h_ussd(&l, "startup-cwd-1", "+254700000042", "");
    ck_assert_msg(answer && (!strncmp(answer, "CON ", 4) || !strncmp(answer, "END ", 4)), "the first hop: %s",
                  answer ? answer : "(none)");
    free(answer);
    /* and so is its API's description, compiled in: the tree's document,
     * byte for byte, with no docs/ folder where it runs */
    FILE *f = fopen("docs/openapi.json", "rb");
    ck_assert_msg(f != NULL, "docs/openapi.json: not readable from the test's folder");
    char *want = NULL;
    size_t wantlen = 0;
    FILE *m = open_memstream(&want, &wantlen);
    char chunk[8192];
    for (size_t k; (k = fread(chunk, 1, sizeof chunk, f)) > 0;)
        fwrite(chunk, 1, k, m);
    fclose(f);
    fclose(m);
    struct http_result doc = h_req(port, "GET", "/openapi.json", NULL, NULL, 0, NULL);
    ck_assert_int_eq(doc.status, 200);
    ck_assert_msg(json_is_object(doc.json) && json_object_get(json_object_get(doc.json, "paths"), "/api/ussd"),
                  "GET /openapi.json: not the document: %.200s", doc.body);
    ck_assert_msg(strlen(doc.body) == wantlen && !memcmp(doc.body, want, wantlen),
                  "GET /openapi.json (%zu bytes) is not docs/openapi.json (%zu bytes)", strlen(doc.body), wantlen);
    free(want);
    h_free(&doc);
    ck_assert_int_eq(h_lipad_stop(&l, SIGTERM), 0);
    slurp(l.log, log, sizeof log);
    ck_assert_msg(strstr(log, "store.migrated"), "no migration ran: %s", log);
}
END_TEST

START_TEST(unknown_default_dir_named)
{
    /* a copy of lipad in a directory of /tmp with nothing around it, run
     * from /tmp: the message names the setting, not a bare "cannot open" */
    char tmp[] = "/tmp/lipa-startup-XXXXXX", prog[512], cmd[1400], out[128], log[8192];
    ck_assert_ptr_nonnull(mkdtemp(tmp));
    snprintf(prog, sizeof prog, "%s/lipad", bin_dir());
    snprintf(cmd, sizeof cmd,
             "mkdir '%s/sbin' && cp '%s' '%s/sbin/lipad' && cd /tmp && env -i ASAN_OPTIONS=\"$ASAN_OPTIONS\" "
             "LIPA_ADMIN_KEY=%s LIPA_PEPPER=%s LIPA_DB='%s/lipa.db' '%s/sbin/lipad' >'%s/out' 2>&1",
             tmp, prog, tmp, ADMIN_KEY, PEPPER, tmp, tmp, tmp);
    int st = system(cmd);
    snprintf(out, sizeof out, "%s/out", tmp);
    slurp(out, log, sizeof log);
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmp);
    if (system(cmd) != 0)
        fprintf(stderr, "startup: cannot remove %s\n", tmp);
    ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 2, "exit %d: %s", st, log);
    ck_assert_msg(strstr(log, "LIPA_MIGRATIONS: not set, and no directory db"), "it said: %s", log);
}
END_TEST

/* ---- LIPA_MODE=production ---- */

/* Production settings that pass, but for what a test takes out: the
 * harness's provider credentials are not the public sandbox's, but its
 * AT username ("sandbox") and the Daraja shortcode and passkey defaults
 * are. */
#define PROD_MODE "LIPA_MODE=production"
#define PROD_SHORTCODE "LIPA_DARAJA_SHORTCODE=600000"
#define PROD_PASSKEY "LIPA_DARAJA_PASSKEY=e2e-production-passkey"
#define PROD_AT_USER "LIPA_AT_USERNAME=lipa-e2e"
#define PROD_URL "LIPA_PUBLIC_URL=https://lipa.example.com"

/* Starts lipad with extra, which must refuse it: its exit status, its
 * output in log (a refusal is said on stderr, which goes to its log). */
static int refused(const char *name, int offset, const char *const *extra, char *log, size_t logsz)
{
    char dir[128];
    struct lipad l;
    h_dir_fresh(dir, sizeof dir, name);
    ck_assert(h_lipad_spawn(&l, h_main.port + offset, dir, extra, NULL));
    int rc = wait_exit(l.pid, 15000);
    if (rc < 0) {
        h_lipad_stop(&l, SIGKILL);
        slurp(l.log, log, logsz);
        ck_abort_msg("%s: lipad kept running: %s", name, log);
    }
    slurp(l.log, log, logsz);
    return rc;
}

START_TEST(production_refuses_an_http_public_url)
{
    char log[8192];
    const char *extra[] = {PROD_MODE, PROD_SHORTCODE, PROD_PASSKEY, PROD_AT_USER,
                           "LIPA_PUBLIC_URL=http://lipa.example.com", NULL};
    int rc = refused("prod-http", 44, extra, log, sizeof log);
    ck_assert_msg(rc == 2, "exit %d: %s", rc, log);
    ck_assert_msg(strstr(log, "LIPA_MODE=production") && strstr(log, "LIPA_PUBLIC_URL is not https://"),
                  "it said: %s", log);
    ck_assert_msg(!strstr(log, "is empty") && !strstr(log, "public sandbox"), "it blamed more: %s", log);
    ck_assert_msg(!strstr(log, "store.migrated"), "it opened its database: %s", log);
    /* left unset, the public URL is http://LIPA_BIND:LIPA_PORT: refused too */
    const char *unset[] = {PROD_MODE, PROD_SHORTCODE, PROD_PASSKEY, PROD_AT_USER, NULL};
    rc = refused("prod-nourl", 44, unset, log, sizeof log);
    ck_assert_msg(rc == 2 && strstr(log, "LIPA_PUBLIC_URL is not https://"), "exit %d: %s", rc, log);
}
END_TEST

START_TEST(production_refuses_empty_or_sandbox_credentials)
{
    char log[8192];
    /* an empty key and secret, and the defaults that are the public sandbox's */
    const char *extra[] = {PROD_MODE, PROD_URL, "LIPA_DARAJA_KEY=", "LIPA_TUYA_SECRET=", NULL};
    int rc = refused("prod-creds", 44, extra, log, sizeof log);
    ck_assert_msg(rc == 2, "exit %d: %s", rc, log);
    static const char *const said[] = {"LIPA_MODE=production", "LIPA_DARAJA_KEY is empty", "LIPA_TUYA_SECRET is empty",
                                       "LIPA_DARAJA_PASSKEY is the public sandbox's",
                                       "LIPA_DARAJA_SHORTCODE is the public sandbox's",
                                       "LIPA_AT_USERNAME is the public sandbox's"};
    for (size_t i = 0; i < sizeof said / sizeof said[0]; i++)
        ck_assert_msg(strstr(log, said[i]), "'%s' not said: %s", said[i], log);
    ck_assert_msg(!strstr(log, "LIPA_DARAJA_SECRET") && !strstr(log, "LIPA_PUBLIC_URL"), "it blamed more: %s", log);
    /* a secret is named, never shown */
    ck_assert_msg(!strstr(log, "sandbox-secret") && !strstr(log, "bfb279f9"), "a secret in the message: %s", log);
    /* a Paystack test key takes no real money */
    const char *test_key[] = {PROD_MODE, PROD_URL, PROD_SHORTCODE, PROD_PASSKEY, PROD_AT_USER,
                              "LIPA_PAYSTACK_SECRET=sk_test_e2e", NULL};
    rc = refused("prod-sktest", 44, test_key, log, sizeof log);
    ck_assert_msg(rc == 2 && strstr(log, "LIPA_PAYSTACK_SECRET is a test key"), "exit %d: %s", rc, log);
}
END_TEST

START_TEST(production_starts_with_everything_set)
{
    char dir[128], log[16384];
    struct lipad l;
    h_dir_fresh(dir, sizeof dir, "prod-ok");
    const char *extra[] = {PROD_MODE, PROD_URL, PROD_SHORTCODE, PROD_PASSKEY, PROD_AT_USER,
                           "LIPA_PAYSTACK_SECRET=sk_live_e2e", NULL};
    if (!h_lipad_start(&l, h_main.port + 45, dir, extra)) {
        slurp(l.log, log, sizeof log);
        h_lipad_stop(&l, SIGKILL);
        ck_abort_msg("a production lipad with everything set did not start: %s", log);
    }
    struct http_result r = h_req(l.port, "GET", "/api/health", NULL, NULL, 0, NULL);
    ck_assert_msg(r.status == 200, "health: %ld %s", r.status, r.body);
    h_free(&r);
    ck_assert_int_eq(h_lipad_stop(&l, SIGTERM), 0);
    slurp(l.log, log, sizeof log);
    ck_assert_msg(strstr(log, "mode=production"), "the start line does not say the mode: %s", log);
    /* the harness points every provider at the sandbox on loopback: warned of */
    static const char *const urls[] = {"LIPA_DARAJA_URL", "LIPA_AT_URL", "LIPA_TUYA_URL"};
    for (size_t i = 0; i < sizeof urls / sizeof urls[0]; i++) {
        char want[96];
        snprintf(want, sizeof want, "config.sandbox_url setting=%s mode=production", urls[i]);
        ck_assert_msg(strstr(log, want), "no warning '%s': %s", want, log);
    }
    /* Paystack's default URL is its live one: no warning */
    ck_assert_msg(!strstr(log, "setting=LIPA_PAYSTACK_URL"), "a live URL warned of: %s", log);
}
END_TEST

/* In development too, a sandbox URL is warned of at start: the suite's
 * own lipad points Daraja at the sandbox on loopback. */
START_TEST(development_warns_of_sandbox_urls)
{
    char log[65536];
    slurp(h_main.log, log, sizeof log);
    ck_assert_msg(strstr(log, "config.sandbox_url setting=LIPA_DARAJA_URL mode=development"), "no warning: %.2000s",
                  log);
}
END_TEST

Suite *suite_startup(void)
{
    Suite *s = suite_create("startup");
    TCase *t = tcase_create("startup");
    tcase_set_timeout(t, 90);
    tcase_add_test(t, version_and_help_on_stdout);
    tcase_add_test(t, unknown_argument_exits_2);
    tcase_add_test(t, second_lipad_on_a_port_in_use_is_refused);
    tcase_add_test(t, bind_ipv6_loopback);
    tcase_add_test(t, from_another_directory_with_default_paths);
    tcase_add_test(t, unknown_default_dir_named);
    tcase_add_test(t, production_refuses_an_http_public_url);
    tcase_add_test(t, production_refuses_empty_or_sandbox_credentials);
    tcase_add_test(t, production_starts_with_everything_set);
    tcase_add_test(t, development_warns_of_sandbox_urls);
    suite_add_tcase(s, t);
    return s;
}
