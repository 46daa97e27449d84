/* e2e harness: process control and HTTP for the end-to-end tests. */
#include "harness.h"
#include "../support/testdb.h"

#include "util/buf.h"
#include "util/form.h"
#include "util/httpc.h"

#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

int h_sandbox_port;
static pid_t sandbox_pid;

/* The ports lipads were started on in this process (a test's child
 * inherits its parent's): requests to them are recorded, requests to a
 * sandbox are not. */
static int lipad_ports[64];
static size_t n_lipad_ports;

static void port_is_lipad(int port, bool yes)
{
    for (size_t i = 0; i < n_lipad_ports; i++)
        if (lipad_ports[i] == port) {
            if (!yes)
                lipad_ports[i] = lipad_ports[--n_lipad_ports];
            return;
        }
    if (yes && n_lipad_ports < sizeof lipad_ports / sizeof lipad_ports[0])
        lipad_ports[n_lipad_ports++] = port;
}

/* With LIPA_TEST_RECORD=dir, every answer lipad gives the harness is
 * appended to dir/PID.jsonl, one JSON object a line (method, path with its
 * query, status, contentType, body, and the request's requestContentType
 * and requestBody when it had one), for tools/openapi/check-responses.mjs
 * to hold against the OpenAPI document. An answer's body that is not UTF-8
 * is recorded as null with "binary": true. */
void h_record(int port, const char *method, const char *path, const char *req_ctype, const char *req_body,
              long status, const char *ctype, const char *body, size_t len)
{
    const char *dir = getenv("LIPA_TEST_RECORD");
    if (!dir || !*dir || status == 0)
        return;
    bool ours = false;
    for (size_t i = 0; i < n_lipad_ports; i++)
        ours |= lipad_ports[i] == port;
    if (!ours)
        return;
    json_t *b = json_stringn(body, len);
    json_t *o = json_pack("{s:s, s:s, s:I, s:s, s:o}", "method", method, "path", path, "status", (json_int_t)status,
                          "contentType", ctype, "body", b ? b : json_null());
    if (!o)
        return;
    if (!b)
        json_object_set_new(o, "binary", json_true());
    json_t *rq = req_body ? json_string(req_body) : NULL; /* NULL too when not UTF-8: not checked then */
    if (rq) {
        json_object_set_new(o, "requestContentType", json_string(req_ctype ? req_ctype : ""));
        json_object_set_new(o, "requestBody", rq);
    }
    char *line = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    char file[512];
    snprintf(file, sizeof file, "%s/%ld.jsonl", dir, (long)getpid());
    int fd = line ? open(file, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644) : -1;
    if (fd >= 0) {
        size_t n = strlen(line);
        line[n] = '\n'; /* over the NUL: written with its length */
        if (write(fd, line, n + 1) != (ssize_t)(n + 1))
            fprintf(stderr, "e2e: recording to %s failed\n", file);
        close(fd);
    }
    free(line);
}

static const char *bin_dir(void)
{
    const char *b = getenv("LIPA_TEST_BIN");
    return b && *b ? b : "bin";
}

bool h_sql(struct lipad *l, const char *sql)
{
    return testdb_sql(l->db, sql, NULL, 0);
}

bool h_sql_rows(struct lipad *l, const char *sql, char *out, size_t n)
{
    return testdb_sql(l->db, sql, out, n);
}

bool h_on_pg(void)
{
    return testdb_pg();
}

/* dir's database: made at the first start in dir, the same at a restart
 * (its target kept in dir/db-target). */
static bool db_of(struct lipad *l, const char *dir)
{
    char keep[300], file[300];
    snprintf(keep, sizeof keep, "%s/db-target", dir);
    snprintf(file, sizeof file, "%s/lipa.db", dir);
    FILE *f = fopen(keep, "r");
    if (f) {
        bool ok = fgets(l->db, sizeof l->db, f) != NULL;
        fclose(f);
        l->db[strcspn(l->db, "\n")] = '\0';
        return ok;
    }
    if (!testdb_target(file, l->db, sizeof l->db))
        return false;
    if ((f = fopen(keep, "w"))) {
        fprintf(f, "%s\n", l->db);
        fclose(f);
    }
    return true;
}

bool h_dir_same_db(const char *dir, const struct lipad *other)
{
    char keep[300];
    snprintf(keep, sizeof keep, "%s/db-target", dir);
    FILE *f = fopen(keep, "w");
    if (!f)
        return false;
    bool ok = fprintf(f, "%s\n", other->db) > 0;
    return fclose(f) == 0 && ok;
}

void h_sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static pid_t spawn_in(const char *cwd, const char *prog, char *const argv[], char *const envp[], const char *log)
{
    pid_t pid = fork();
    if (pid == 0) {
        if (cwd && chdir(cwd) != 0)
            _exit(127);
        int fd = open(log, O_WRONLY | O_CREAT | O_APPEND, 0644);
        if (fd >= 0) {
            dup2(fd, 1);
            dup2(fd, 2);
            close(fd);
        }
        execve(prog, argv, envp);
        _exit(127);
    }
    return pid;
}

static pid_t spawn(const char *prog, char *const argv[], char *const envp[], const char *log)
{
    return spawn_in(NULL, prog, argv, envp, log);
}

static bool wait_up(int port, const char *path, int ms)
{
    for (int waited = 0; waited < ms; waited += 50) {
        struct http_result r = h_req(port, "GET", path, NULL, NULL, 0, NULL);
        bool up = r.status == 200;
        h_free(&r);
        if (up)
            return true;
        h_sleep_ms(50);
    }
    return false;
}

pid_t h_sandbox_spawn(int port, int delay_ms, const char *const *extra_args, const char *log)
{
    char prog[512], portarg[16], delay[16];
    char *argv[24];
    int n = 0;
    snprintf(prog, sizeof prog, "%s/lipa-sandbox", bin_dir());
    snprintf(portarg, sizeof portarg, "%d", port);
    snprintf(delay, sizeof delay, "%d", delay_ms);
    argv[n++] = prog, argv[n++] = "--port", argv[n++] = portarg;
    argv[n++] = "--callback-delay-ms", argv[n++] = delay;
    for (int i = 0; extra_args && extra_args[i] && n < 23; i++)
        argv[n++] = (char *)extra_args[i];
    argv[n] = NULL;
    extern char **environ;
    mkdir("build/e2e", 0755);
    port_is_lipad(port, false);
    pid_t pid = spawn(prog, argv, environ, log);
    if (!wait_up(port, "/sandbox/health", 10000)) {
        fprintf(stderr, "e2e: sandbox did not start (see %s)\n", log);
        h_sandbox_kill(pid);
        return 0;
    }
    return pid;
}

void h_sandbox_kill(pid_t pid)
{
    if (pid > 0) {
        kill(pid, SIGTERM);
        waitpid(pid, NULL, 0);
    }
}

void h_sandbox_start(int port, int delay_ms)
{
    sandbox_pid = h_sandbox_spawn(port, delay_ms, NULL, "build/e2e/sandbox.log");
    h_sandbox_port = port;
    if (!sandbox_pid)
        exit(1);
}

void h_sandbox_stop(void)
{
    h_sandbox_kill(sandbox_pid);
    sandbox_pid = 0;
}

void h_dir_fresh(char *dir, size_t dirsz, const char *name)
{
    char cmd[400];
    snprintf(dir, dirsz, "build/e2e/%s-%d", name, (int)getpid());
    snprintf(cmd, sizeof cmd, "rm -rf '%s' && mkdir -p '%s'", dir, dir);
    if (system(cmd) != 0)
        fprintf(stderr, "e2e: cannot empty %s\n", dir);
}

/* Whether name=value is one of drop's names. */
static bool dropped(const char *name_value, const char *const *drop)
{
    for (int i = 0; drop && drop[i]; i++) {
        size_t n = strlen(drop[i]);
        if (!strncmp(name_value, drop[i], n) && name_value[n] == '=')
            return true;
    }
    return false;
}

pid_t h_lipad_spawn(struct lipad *l, int port, const char *dir, const char *const *extra, const struct h_how *how)
{
    char prog[512], absdir[256];
    const char *cwd = how ? how->cwd : NULL;
    snprintf(prog, sizeof prog, "%s/lipad", bin_dir());
    mkdir("build/e2e", 0755);
    mkdir(dir, 0755);
    if (cwd) { /* from elsewhere: the binary and the directory by absolute paths */
        char *p = realpath(prog, NULL), *d = realpath(dir, NULL);
        if (!p || !d || strlen(p) >= sizeof prog || strlen(d) >= sizeof absdir) {
            free(p);
            free(d);
            return 0;
        }
        snprintf(prog, sizeof prog, "%s", p);
        snprintf(absdir, sizeof absdir, "%s", d);
        free(p);
        free(d);
        dir = absdir;
    }
    l->port = port;
    l->pid = 0;
    port_is_lipad(port, true);
    snprintf(l->dir, sizeof l->dir, "%s", dir);
    snprintf(l->log, sizeof l->log, "%s/lipad.log", dir);
    if (!db_of(l, dir))
        return 0;
    static char envbuf[40][480];
    char *envp[48];
    int n = 0;
    char sb[64];
    snprintf(sb, sizeof sb, "http://127.0.0.1:%d", h_sandbox_port);
#define ENV(...) (snprintf(envbuf[n], sizeof envbuf[n], __VA_ARGS__), envp[n] = envbuf[n], n++)
    /* extras first: getenv takes the first match, so they override */
    for (int i = 0; extra && extra[i] && n < 8; i++)
        ENV("%s", extra[i]);
    ENV("LIPA_PORT=%d", port);
    ENV("LIPA_DB=%s", l->db);
    ENV("LIPA_MENUS=%s", getenv("LIPA_TEST_MENUS") ? getenv("LIPA_TEST_MENUS") : "menus");
    ENV("LIPA_ADMIN_KEY=%s", ADMIN_KEY);
    ENV("LIPA_PEPPER=%s", PEPPER);
    ENV("LIPA_CALLBACK_SECRET=%s", CB_SECRET);
    ENV("LIPA_DARAJA_URL=%s", sb);
    ENV("LIPA_AT_URL=%s", sb);
    ENV("LIPA_TUYA_URL=%s", sb);
    ENV("LIPA_DARAJA_KEY=sandbox-key");
    ENV("LIPA_DARAJA_SECRET=sandbox-secret");
    ENV("LIPA_AT_USERNAME=sandbox");
    ENV("LIPA_AT_APIKEY=sandbox-at-key");
    ENV("LIPA_TUYA_CLIENT_ID=sandbox-tuya-id");
    ENV("LIPA_TUYA_SECRET=sandbox-tuya-secret");
    ENV("LIPA_MIN_AMOUNT=1");
    ENV("LIPA_SETTLE_AFTER=2");
    ENV("LIPA_WORKER_POLL_MS=50");
    ENV("LIPA_HTTP_TIMEOUT_MS=3000");
    ENV("LIPA_RETRY_BASE_MS=200");
    /* a loaded machine may take seconds to push: a test that wants the
     * push's own answer (200, 201) must not get the 202 of a slow test
     * machine; the tests of the wait itself set their own */
    ENV("LIPA_PUSH_WAIT_MS=15000");
    /* a top-up whose answer was lost is checked 0.3 s after lipad would
     * have given up on it, not a minute */
    ENV("LIPA_TOPUP_LATE_MS=300");
    ENV("LIPA_THREADS=2");
    /* the suite sends far more than 100 requests from 127.0.0.1; the rate
     * limit has its own test instance */
    ENV("LIPA_RATE_LIMIT=1000000");
    ENV("LIPA_PHONE_RATE_LIMIT=1000000"); /* likewise per payer phone */
    const char *keep[] = {"ASAN_OPTIONS", "UBSAN_OPTIONS", "PATH", NULL};
    for (int i = 0; keep[i]; i++)
        if (getenv(keep[i]))
            ENV("%s=%s", keep[i], getenv(keep[i]));
#undef ENV
    envp[n] = NULL;
    int kept = 0; /* the defaults how->drop names left out */
    for (int i = 0; i < n; i++)
        if (!dropped(envp[i], how ? how->drop : NULL))
            envp[kept++] = envp[i];
    envp[kept] = NULL;
    char *argv[] = {prog, NULL};
    l->pid = spawn_in(cwd, prog, argv, envp, l->log);
    return l->pid > 0 ? l->pid : 0;
}

bool h_lipad_start(struct lipad *l, int port, const char *dir, const char *const *extra)
{
    return h_lipad_spawn(l, port, dir, extra, NULL) && wait_up(port, "/api/health", 15000);
}



int h_lipad_stop(struct lipad *l, int sig)
{
    if (l->pid <= 0)
        return -1;
    kill(l->pid, sig);
    int st = 0;
    waitpid(l->pid, &st, 0);
    l->pid = 0;
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

struct http_result h_req(int port, const char *method, const char *path, const char *ctype, const char *body,
                         size_t len, const char *auth)
{
    return h_req_h(port, method, path, ctype, body, len, auth, NULL);
}

static struct http_result request(int timeout_ms, int port, const char *method, const char *path, const char *ctype,
                                  const char *body, size_t len, const char *auth, const char *header);

struct http_result h_req_h(int port, const char *method, const char *path, const char *ctype, const char *body,
                           size_t len, const char *auth, const char *header)
{
    return request(20000, port, method, path, ctype, body, len, auth, header);
}

struct http_result h_req_within(int timeout_ms, int port, const char *method, const char *path, const char *ctype,
                                const char *body, size_t len, const char *auth, const char *header)
{
    /* on a connection of its own: a test runs in a child of the runner,
     * whose kept-alive connections it shares, and the late answer to a
     * request given up on must not be read as the next test's answer */
    httpc_thread_done();
    struct http_result r = request(timeout_ms, port, method, path, ctype, body, len, auth, header);
    httpc_thread_done();
    return r;
}

static struct http_result request(int timeout_ms, int port, const char *method, const char *path, const char *ctype,
                                  const char *body, size_t len, const char *auth, const char *header)
{
    char url[1024], ct[128], au[300];
    snprintf(url, sizeof url, "http://127.0.0.1:%d%s", port, path);
    const char *headers[4] = {NULL, NULL, NULL, NULL};
    int nh = 0;
    if (header)
        headers[nh++] = header;
    if (ctype) {
        snprintf(ct, sizeof ct, "Content-Type: %s", ctype);
        headers[nh++] = ct;
    }
    if (auth) {
        snprintf(au, sizeof au, "Authorization: Bearer %s", auth);
        headers[nh++] = au;
    }
    struct httpc_req rq = {.method = method, .url = url, .headers = headers, .body = body,
                           .body_len = body ? (len ? len : strlen(body)) : 0, .timeout_ms = timeout_ms};
    struct httpc_resp rs;
    httpc_do(&rq, &rs);
    struct http_result r = {.status = rs.status};
    r.body = strdup(rs.body.data ? rs.body.data : "");
    r.json = json_loads(r.body, 0, NULL);
    /* a body given with its length may hold a NUL: not recorded then */
    const char *rq_body = body && (!len || strlen(body) == len) ? body : NULL;
    h_record(port, method, path, ctype, rq_body, rs.status, rs.content_type, rs.body.data ? rs.body.data : "",
             rs.body.len);
    httpc_resp_free(&rs);
    return r;
}

void h_free(struct http_result *r)
{
    free(r->body);
    json_decref(r->json);
    r->body = NULL;
    r->json = NULL;
}

struct http_result h_json_admin(struct lipad *l, const char *method, const char *path, const char *json)
{
    return h_req(l->port, method, path, json ? "application/json" : NULL, json, 0, ADMIN_KEY);
}

char *h_ussd(struct lipad *l, const char *session, const char *phone, const char *text)
{
    char *p = form_encode(phone), *t = form_encode(text), *s = form_encode(session);
    char body[1024];
    snprintf(body, sizeof body, "sessionId=%s&serviceCode=%%2A384%%2A1234%%23&phoneNumber=%s&networkCode=63902&text=%s",
             s, p, t);
    free(p);
    free(t);
    free(s);
    struct http_result r = h_req(l->port, "POST", "/api/ussd", "application/x-www-form-urlencoded", body, 0, NULL);
    ck_assert_int_eq(r.status, 200);
    char *out = strdup(r.body);
    h_free(&r);
    return out;
}

long long h_user(struct lipad *l, const char *phone, const char *lang)
{
    char body[256];
    snprintf(body, sizeof body, "{\"phoneNumber\":\"%s\",\"firstName\":\"Test\",\"lastName\":\"Caller\",\"language\":\"%s\"}",
             phone, lang);
    struct http_result r = h_json_admin(l, "POST", "/users", body);
    ck_assert_msg(r.status == 201, "create user %s: %ld %s", phone, r.status, r.body);
    long long id = json_integer_value(json_object_get(r.json, "id"));
    h_free(&r);
    return id;
}

void h_meter(struct lipad *l, const char *id, const char *device, const char *name)
{
    char body[256];
    snprintf(body, sizeof body, "{\"id\":\"%s\",\"deviceId\":\"%s\",\"name\":\"%s\",\"pricePerKwh\":25}", id, device, name);
    struct http_result r = h_json_admin(l, "POST", "/devices", body);
    ck_assert_msg(r.status == 201, "create device %s: %ld %s", id, r.status, r.body);
    h_free(&r);
    h_sandbox_device(device);
}

void h_assign(struct lipad *l, long long user, const char *meter)
{
    char body[160];
    snprintf(body, sizeof body, "{\"meterId\":\"%s\",\"userId\":%lld,\"isAssigned\":true}", meter, user);
    struct http_result r = h_json_admin(l, "POST", "/meter-user/assign", body);
    ck_assert_msg(r.status == 200, "assign: %ld %s", r.status, r.body);
    h_free(&r);
}

void h_sandbox_device(const char *device)
{
    char body[160];
    snprintf(body, sizeof body, "{\"id\":\"%s\",\"name\":\"meter\",\"product_name\":\"Prepaid meter\"}", device);
    struct http_result r = h_req(h_sandbox_port, "POST", "/sandbox/tuya/devices", "application/json", body, 0, NULL);
    ck_assert_msg(r.status == 200 || r.status == 201, "sandbox device: %ld %s", r.status, r.body);
    h_free(&r);
}

json_t *h_sms(const char *phone)
{
    char path[128];
    char *p = form_encode(phone);
    snprintf(path, sizeof path, "/sandbox/sms?phone=%s", p);
    free(p);
    struct http_result r = h_req(h_sandbox_port, "GET", path, NULL, NULL, 0, NULL);
    json_t *arr = json_incref(json_object_get(r.json, "messages"));
    h_free(&r);
    return arr ? arr : json_array();
}

json_t *h_wait_sms(const char *phone, size_t n, int ms)
{
    for (int waited = 0;; waited += 100) {
        json_t *arr = h_sms(phone);
        if (json_array_size(arr) >= n || waited >= ms)
            return arr;
        json_decref(arr);
        h_sleep_ms(100);
    }
}

int h_purchases(struct lipad *l, const char *phone)
{
    struct http_result r = h_json_admin(l, "GET", "/mpesa/transactions", NULL);
    ck_assert_msg(r.status == 200 && json_is_array(r.json), "transactions: %ld", r.status);
    size_t j;
    json_t *it;
    int n = 0;
    json_array_foreach(r.json, j, it) n += !strcmp(json_string_value(json_object_get(it, "phoneNumber")), phone);
    h_free(&r);
    return n;
}

json_t *h_wait_payment(struct lipad *l, const char *phone, const char *status, int ms)
{
    for (int waited = 0;; waited += 100) {
        struct http_result r = h_json_admin(l, "GET", "/mpesa/transactions", NULL);
        json_t *found = NULL, *it;
        size_t i;
        json_array_foreach(r.json, i, it) {
            if (!strcmp(json_string_value(json_object_get(it, "phoneNumber")), phone)) {
                found = it; /* newest first */
                break;
            }
        }
        if (found && (!strcmp(json_string_value(json_object_get(found, "status")), status) || waited >= ms)) {
            json_incref(found);
            h_free(&r);
            return found;
        }
        h_free(&r);
        if (waited >= ms)
            return NULL;
        h_sleep_ms(100);
    }
}

long long h_balance(const char *device)
{
    char path[160];
    snprintf(path, sizeof path, "/sandbox/tuya/devices/%s", device);
    struct http_result r = h_req(h_sandbox_port, "GET", path, NULL, NULL, 0, NULL);
    json_t *b = json_object_get(r.json, "balance_energy");
    long long v = json_is_number(b) ? (long long)json_number_value(b) : -1;
    h_free(&r);
    return v;
}
