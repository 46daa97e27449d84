/* e2e: the integrators' public payments (/api/v1/payments/...) as an
 * integrator's back-end and a browser would use them: a package bought by
 * M-Pesa and settled by Safaricom's callback or by asking, cancelled and
 * failed ones, every error the integrators were told about, the budget per
 * client, cross-origin answers, and the signed notice lipa posts to the
 * client's callback URL: received by a small HTTP server in the test,
 * checked against the webhook secret, retried until delivered, recorded,
 * and kept across a kill.
 *
 * Two lipads of their own: "integrators" never settles a payment by
 * itself in the test's time (LIPA_SETTLE_AFTER=600), so a payment is
 * settled by the callback or by the status endpoint's query and nothing
 * else; "integrators-limits" has a small budget per client and a list of
 * allowed origins. */
#include "harness.h"

#include "http/server.h"
#include "util/crypto.h"

#include <arpa/inet.h>
#include <check.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#define PUB_OFFSET 80      /* pub: h_main.port + 80; receivers + 81..84 */
#define KILL_OFFSET 85     /* the kill test's own lipad; its receiver + 86 */
#define LIM_OFFSET 87      /* lim: + 87 */
#define UUID_NOBODY "550e8400-e29b-41d4-a716-446655440000"

static struct lipad pub, lim;
static char pub_dir[128], lim_dir[128];

static void start_own(struct lipad *l, char *dir, size_t dirsz, const char *name, int offset,
                      const char *const *extra)
{
    h_dir_fresh(dir, dirsz, name);
    if (!h_lipad_start(l, h_main.port + offset, dir, extra)) {
        fprintf(stderr, "e2e: the %s lipad did not start (see %s/lipad.log)\n", name, dir);
        l->pid = 0;
    }
}

static void stop_own(struct lipad *l, const char *dir)
{
    if (l->pid > 0) {
        int rc = h_lipad_stop(l, SIGTERM);
        if (rc != 0)
            fprintf(stderr, "e2e: lipad exited %d (sanitizer report? see %s/lipad.log)\n", rc, dir);
    }
}

/* LIPA_PUSH_WAIT_MS and the lanes' LIPA_REST_WAIT_MS are short so the "no
 * checkout yet" answer and a lane's deadline come soon. */
static void pub_setup(void)
{
    const char *extra[] = {"LIPA_SETTLE_AFTER=600", "LIPA_NOTICE_RETRY_MS=200", "LIPA_REST_WAIT_MS=2000",
                           "LIPA_PUSH_WAIT_MS=2000", NULL};
    start_own(&pub, pub_dir, sizeof pub_dir, "integrators", PUB_OFFSET, extra);
}
static void pub_teardown(void) { stop_own(&pub, pub_dir); }

static void lim_setup(void)
{
    const char *extra[] = {"LIPA_CLIENT_RATE_LIMIT=3", "LIPA_CLIENT_RATE_WINDOW=60",
                           "LIPA_CORS_ORIGINS=https://shop.example, https://pay.example", NULL};
    start_own(&lim, lim_dir, sizeof lim_dir, "integrators-limits", LIM_OFFSET, extra);
}
static void lim_teardown(void) { stop_own(&lim, lim_dir); }

/* ---- raw HTTP, for the headers a browser reads ---- */

struct reply {
    long status;
    char head[4096];
    char *body;
    json_t *json;
};

static const char *header(const struct reply *r, const char *name, char *out, size_t n);

static struct reply call(const struct lipad *l, const char *method, const char *path, const char *headers,
                         const char *body)
{
    struct reply r = {0};
    ck_assert_msg(l->pid > 0, "lipad is not running");
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)l->port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ck_assert_int_eq(connect(fd, (struct sockaddr *)&a, sizeof a), 0);
    size_t blen = body ? strlen(body) : 0;
    char *rq = NULL;
    size_t rqlen = 0;
    FILE *f = open_memstream(&rq, &rqlen);
    fprintf(f, "%s %s HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n%s", method, path, headers ? headers : "");
    if (body)
        fprintf(f, "Content-Type: application/json\r\nContent-Length: %zu\r\n", blen);
    fprintf(f, "\r\n%s", body ? body : "");
    fclose(f);
    ck_assert_int_eq(write(fd, rq, rqlen), (ssize_t)rqlen);
    free(rq);
    size_t cap = 1 << 16, got = 0;
    char *ans = malloc(cap);
    ssize_t k;
    while (got + 1 < cap && (k = read(fd, ans + got, cap - 1 - got)) > 0)
        got += (size_t)k;
    ans[got] = 0;
    close(fd);
    char *end = strstr(ans, "\r\n\r\n");
    ck_assert_msg(end != NULL, "%s %s: no answer", method, path);
    *end = 0;
    snprintf(r.head, sizeof r.head, "%s\r\n", ans);
    r.status = strtol(ans + 9, NULL, 10);
    r.body = strdup(end + 4);
    r.json = json_loads(r.body, 0, NULL);
    free(ans);
    char ctype[128];
    h_record(l->port, method, path, body ? "application/json" : NULL, body, r.status,
             header(&r, "Content-Type", ctype, sizeof ctype) ? ctype : "", r.body, strlen(r.body));
    return r;
}

static void reply_free(struct reply *r)
{
    free(r->body);
    json_decref(r->json);
    r->body = NULL;
    r->json = NULL;
}

/* The value of header name in r (case-insensitive), or NULL. */
static const char *header(const struct reply *r, const char *name, char *out, size_t n)
{
    size_t len = strlen(name);
    for (const char *line = strstr(r->head, "\r\n"); line && line[2]; line = strstr(line + 2, "\r\n")) {
        const char *h = line + 2;
        if (!strncasecmp(h, name, len) && h[len] == ':') {
            const char *v = h + len + 1, *e = strstr(v, "\r\n");
            while (*v == ' ')
                v++;
            snprintf(out, n, "%.*s", (int)(e - v), v);
            return out;
        }
    }
    return NULL;
}

static struct reply post(const struct lipad *l, const char *path, const char *body)
{
    return call(l, "POST", path, NULL, body);
}

static const char *jstr(json_t *o, const char *k) { return json_string_value(json_object_get(o, k)); }

/* Asserts an error answer: status and {"error": text}, nothing else. */
static void expect_error(struct reply *r, long status, const char *text)
{
    ck_assert_msg(r->status == status, "status %ld, want %ld: %s", r->status, status, r->body);
    ck_assert_msg(json_is_object(r->json) && json_object_size(r->json) == 1, "not {error}: %s", r->body);
    ck_assert_msg(jstr(r->json, "error") && !strcmp(jstr(r->json, "error"), text), "error %s, want \"%s\"",
                  r->body, text);
    reply_free(r);
}

/* ---- integrators as the admin sets them up ---- */

struct integrator {
    char id[40], secret[64], package[40];
};

static struct integrator integrator(const struct lipad *l, const char *callback, long long amount)
{
    struct integrator it;
    char body[300], path[120];
    if (callback)
        snprintf(body, sizeof body, "{\"name\":\"ISP\",\"callbackUrl\":\"%s\"}", callback);
    else
        snprintf(body, sizeof body, "{\"name\":\"ISP\"}");
    struct http_result r = h_json_admin((struct lipad *)l, "POST", "/api/clients", body);
    ck_assert_msg(r.status == 201, "%s", r.body);
    snprintf(it.id, sizeof it.id, "%s", jstr(r.json, "clientId"));
    snprintf(it.secret, sizeof it.secret, "%s", jstr(r.json, "webhookSecret"));
    h_free(&r);
    snprintf(path, sizeof path, "/api/clients/%s/packages", it.id);
    snprintf(body, sizeof body, "{\"name\":\"Professional Plan\",\"amount\":%lld}", amount);
    r = h_json_admin((struct lipad *)l, "POST", path, body);
    ck_assert_msg(r.status == 201, "%s", r.body);
    snprintf(it.package, sizeof it.package, "%s", jstr(r.json, "packageId"));
    h_free(&r);
    return it;
}

static struct reply initiate(const struct lipad *l, const struct integrator *it, const char *phone)
{
    char body[400];
    snprintf(body, sizeof body,
             "{\"client_id\":\"%s\",\"package_id\":\"%s\",\"phone_number\":\"%s\","
             "\"description\":\"Internet package - Professional Plan\"}",
             it->id, it->package, phone);
    return post(l, "/api/v1/payments/initiate", body);
}

static struct reply status_of(const struct lipad *l, const char *client, const char *checkout)
{
    char body[300];
    snprintf(body, sizeof body, "{\"client_id\":\"%s\",\"checkout_id\":\"%s\"}", client, checkout);
    return post(l, "/api/v1/payments/status", body);
}

/* What initiate answered for a push that went out. */
struct started {
    char transaction[40], checkout[64];
};

static struct started initiated(struct reply *r)
{
    struct started s;
    ck_assert_msg(r->status == 200, "initiate: %ld %s", r->status, r->body);
    ck_assert_str_eq(jstr(r->json, "status"), "pending");
    ck_assert_str_eq(jstr(r->json, "message"), "Payment initiated successfully");
    ck_assert_msg(jstr(r->json, "checkout_id") && !strncmp(jstr(r->json, "checkout_id"), "ws_CO_", 6), "%s", r->body);
    ck_assert(crypto_uuid_ok(jstr(r->json, "transaction_id")));
    ck_assert_int_eq((int)json_object_size(r->json), 4);
    snprintf(s.transaction, sizeof s.transaction, "%s", jstr(r->json, "transaction_id"));
    snprintf(s.checkout, sizeof s.checkout, "%s", jstr(r->json, "checkout_id"));
    reply_free(r);
    return s;
}

/* How often the sandbox was asked about checkout (its log). */
static int queries_of(const char *checkout)
{
    FILE *f = fopen("build/e2e/sandbox.log", "r");
    char line[2048], want[128];
    int n = 0;
    snprintf(want, sizeof want, "daraja.query checkout=%s ", checkout);
    while (f && fgets(line, sizeof line, f))
        n += strstr(line, want) != NULL;
    if (f)
        fclose(f);
    return n;
}

/* Waits until the sandbox's customer has answered the push to phone. */
static void wait_answered(const char *phone)
{
    char path[128];
    snprintf(path, sizeof path, "/sandbox/stk?phone=%s&limit=1", phone + 1);
    for (int i = 0; i < 100; i++) {
        struct http_result r = h_req(h_sandbox_port, "GET", path, NULL, NULL, 0, NULL);
        json_t *s = json_array_get(json_object_get(r.json, "stk"), 0);
        bool done = s && !strcmp(jstr(s, "state"), "answered");
        h_free(&r);
        if (done)
            return;
        h_sleep_ms(50);
    }
    ck_abort_msg("the sandbox never answered the push to %s", phone);
}

/* Waits until the sandbox has received a push to phone. */
static void wait_pushed(const char *phone)
{
    char path[128];
    snprintf(path, sizeof path, "/sandbox/stk?phone=%s&limit=1", phone + 1);
    for (int i = 0; i < 200; i++) {
        struct http_result r = h_req(h_sandbox_port, "GET", path, NULL, NULL, 0, NULL);
        bool there = json_array_size(json_object_get(r.json, "stk")) > 0;
        h_free(&r);
        if (there)
            return;
        h_sleep_ms(50);
    }
    ck_abort_msg("no push to %s", phone);
}

static void quiet(const char *phone)
{
    char body[100];
    snprintf(body, sizeof body, "{\"phone\":\"%s\",\"count\":1}", phone);
    struct http_result r = h_req(h_sandbox_port, "POST", "/sandbox/quiet", "application/json", body, 0, NULL);
    ck_assert_msg(r.status == 200, "%s", r.body);
    h_free(&r);
}

/* Asserts a stored row through the database's shell: cond holds for the
 * payment of transaction. */
static void expect_row(const struct lipad *l, const char *transaction, const char *cond)
{
    char sql[1200], out[64] = "";
    snprintf(sql, sizeof sql, "SELECT count(*) FROM payments WHERE transaction_id = '%s' AND %s;", transaction, cond);
    ck_assert_msg(h_sql_rows((struct lipad *)l, sql, out, sizeof out) && strtol(out, NULL, 10) == 1, "no payment %s with %s",
                  transaction, cond);
}

/* ---- the receiver: an integrator's callback URL ---- */

#define RECV_MAX 8

struct receiver {
    struct http_server *srv;
    int port;
    pthread_mutex_t mu;
    int fail_first;                 /* answer 500 to this many first */
    int n;
    char *body[RECV_MAX];
    char sig[RECV_MAX][80], event[RECV_MAX][48], delivery[RECV_MAX][24];
};

static void copy_header(const struct http_req *req, const char *name, char *out, size_t n)
{
    const char *v = http_header(req, name);
    snprintf(out, n, "%s", v ? v : "");
}

static void on_notice(void *ctx, struct http_req *req, struct http_resp *resp)
{
    struct receiver *rc = ctx;
    pthread_mutex_lock(&rc->mu);
    int i = rc->n;
    if (i < RECV_MAX) {
        rc->body[i] = strndup(req->body, req->body_len);
        copy_header(req, "X-Lipa-Signature", rc->sig[i], sizeof rc->sig[i]);
        copy_header(req, "X-Lipa-Event", rc->event[i], sizeof rc->event[i]);
        copy_header(req, "X-Lipa-Delivery", rc->delivery[i], sizeof rc->delivery[i]);
        rc->n++;
    }
    bool fail = i < rc->fail_first;
    pthread_mutex_unlock(&rc->mu);
    http_resp_text(resp, fail ? 500 : 200, "text/plain", fail ? "not now" : "ok");
}

static const struct http_route receiver_routes[] = {
    {"POST", "/hook", on_notice, 0, 0},
    {NULL, NULL, NULL, 0, 0},
};

static void receiver_start(struct receiver *rc, int offset, int fail_first)
{
    memset(rc, 0, sizeof *rc);
    pthread_mutex_init(&rc->mu, NULL);
    rc->fail_first = fail_first;
    rc->port = h_main.port + offset;
    struct http_server_opts o = {.port = (unsigned)rc->port, .threads = 2, .body_max = 65536,
                                 .routes = receiver_routes, .ctx = rc, .loopback_only = true};
    rc->srv = http_server_start(&o);
    ck_assert_msg(rc->srv != NULL, "the receiver cannot listen on %d", rc->port);
}

static void receiver_stop(struct receiver *rc)
{
    http_server_stop(rc->srv, 1000);
    for (int i = 0; i < rc->n; i++)
        free(rc->body[i]);
    pthread_mutex_destroy(&rc->mu);
}

static void receiver_url(const struct receiver *rc, char *out, size_t n)
{
    snprintf(out, n, "http://127.0.0.1:%d/hook", rc->port);
}

/* Waits up to ms for the receiver to have n notices. */
static bool receiver_wait(struct receiver *rc, int n, int ms)
{
    for (int waited = 0; waited <= ms; waited += 50) {
        pthread_mutex_lock(&rc->mu);
        int got = rc->n;
        pthread_mutex_unlock(&rc->mu);
        if (got >= n)
            return true;
        h_sleep_ms(50);
    }
    return false;
}

/* Checks notice i: signed with the secret over its very bytes; returns
 * its body (new reference). */
static json_t *signed_notice(struct receiver *rc, int i, const char *secret)
{
    uint8_t mac[32];
    char hex[65];
    crypto_hmac_sha256(secret, strlen(secret), rc->body[i], strlen(rc->body[i]), mac);
    crypto_hex(mac, sizeof mac, hex, false);
    ck_assert_msg(!strcmp(rc->sig[i], hex), "X-Lipa-Signature %s, want %s over %s", rc->sig[i], hex, rc->body[i]);
    json_t *j = json_loads(rc->body[i], 0, NULL);
    ck_assert_msg(json_is_object(j), "notice body: %s", rc->body[i]);
    ck_assert_str_eq(rc->event[i], jstr(j, "event"));
    return j;
}

/* Checks a notice for payment s of it with status want. */
static void expect_notice(json_t *n, const struct integrator *it, const struct started *s, const char *want,
                          const char *phone, long long amount)
{
    char event[48];
    snprintf(event, sizeof event, "payment.%s", want);
    ck_assert_str_eq(jstr(n, "event"), event);
    ck_assert_str_eq(jstr(n, "status"), want);
    ck_assert_str_eq(jstr(n, "transaction_id"), s->transaction);
    ck_assert_str_eq(jstr(n, "checkout_id"), s->checkout);
    ck_assert_str_eq(jstr(n, "client_id"), it->id);
    ck_assert_str_eq(jstr(n, "package_id"), it->package);
    ck_assert_str_eq(jstr(n, "phone_number"), phone);
    ck_assert_str_eq(jstr(n, "description"), "Internet package - Professional Plan");
    ck_assert_int_eq(json_integer_value(json_object_get(n, "amount")), amount);
    ck_assert_msg(jstr(n, "reference") && !strncmp(jstr(n, "reference"), "PKG-", 4), "reference %s",
                  jstr(n, "reference"));
    ck_assert_ptr_nonnull(jstr(n, "timestamp"));
    if (!strcmp(want, "completed"))
        ck_assert_ptr_nonnull(jstr(n, "mpesa_receipt"));
    else
        ck_assert(json_is_null(json_object_get(n, "mpesa_receipt")));
}

/* ---- journeys ---- */

START_TEST(package_paid_and_settled_by_callback)
{
    const char *phone = "+254713800001";
    struct receiver rc;
    char url[64], body[300];
    receiver_start(&rc, PUB_OFFSET + 1, 0);
    receiver_url(&rc, url, sizeof url);
    struct integrator it = integrator(&pub, url, 1500);
    /* any form of the number; the amount is the package's, whatever the body says */
    snprintf(body, sizeof body,
             "{\"client_id\":\"%s\",\"package_id\":\"%s\",\"phone_number\":\"0713 800 001\","
             "\"description\":\"Internet package - Professional Plan\",\"amount\":1}", it.id, it.package);
    struct reply r = post(&pub, "/api/v1/payments/initiate", body);
    struct started s = initiated(&r);

    /* Safaricom's callback settles it; the notice says so, signed */
    ck_assert_msg(receiver_wait(&rc, 1, 10000), "no notice");
    json_t *n = signed_notice(&rc, 0, it.secret);
    expect_notice(n, &it, &s, "completed", phone, 1500);
    ck_assert_msg(rc.delivery[0][0], "no X-Lipa-Delivery");

    /* final: answered from the store, twice, and M-Pesa never asked */
    for (int i = 0; i < 2; i++) {
        r = status_of(&pub, it.id, s.checkout);
        ck_assert_msg(r.status == 200, "%s", r.body);
        ck_assert_str_eq(jstr(r.json, "status"), "completed");
        ck_assert_str_eq(jstr(r.json, "transaction_id"), s.transaction);
        ck_assert_str_eq(jstr(r.json, "checkout_id"), s.checkout);
        ck_assert_int_eq(json_integer_value(json_object_get(r.json, "amount")), 1500);
        ck_assert_str_eq(jstr(r.json, "reference"), jstr(n, "reference"));
        ck_assert_str_eq(jstr(r.json, "phone_number"), phone);
        ck_assert_int_eq((int)json_object_size(r.json), 6);
        reply_free(&r);
    }
    h_sleep_ms(300); /* the sandbox's log is written from a ring */
    ck_assert_int_eq(queries_of(s.checkout), 0);
    /* one payments table: the purchase as the integrators' face stores it */
    char cond[600];
    snprintf(cond, sizeof cond, "kind = 'package' AND origin = 'api' AND provider = 'mpesa' AND client_id = '%s' "
             "AND package_id = '%s' AND amount = 1500 AND status = 'completed' AND phone = '%s' AND note = "
             "'Internet package - Professional Plan' AND reference = '%s'", it.id, it.package, phone,
             jstr(n, "reference"));
    expect_row(&pub, s.transaction, cond);
    json_decref(n);
    receiver_stop(&rc);
}
END_TEST

START_TEST(package_settled_by_asking_mpesa)
{
    /* Safaricom's callback is lost: the status endpoint asks M-Pesa, stores
     * the answer and the notice follows from it */
    const char *phone = "+254713800002";
    struct receiver rc;
    char url[64];
    receiver_start(&rc, PUB_OFFSET + 2, 0);
    receiver_url(&rc, url, sizeof url);
    struct integrator it = integrator(&pub, url, 2500);
    quiet(phone);
    struct reply r = initiate(&pub, &it, phone);
    struct started s = initiated(&r);
    wait_answered(phone);
    h_sleep_ms(300);
    ck_assert_msg(rc.n == 0, "a notice before anyone asked");
    r = status_of(&pub, it.id, s.checkout);
    ck_assert_msg(r.status == 200, "%s", r.body);
    ck_assert_str_eq(jstr(r.json, "status"), "completed");
    reply_free(&r);
    ck_assert_msg(receiver_wait(&rc, 1, 10000), "no notice");
    json_t *n = signed_notice(&rc, 0, it.secret);
    ck_assert_str_eq(jstr(n, "event"), "payment.completed");
    ck_assert_str_eq(jstr(n, "transaction_id"), s.transaction);
    json_decref(n);
    /* asked once; from then on the store answers */
    r = status_of(&pub, it.id, s.checkout);
    ck_assert_str_eq(jstr(r.json, "status"), "completed");
    reply_free(&r);
    h_sleep_ms(300);
    ck_assert_int_eq(queries_of(s.checkout), 1);
    receiver_stop(&rc);
}
END_TEST

START_TEST(cancelled_failed_and_unanswered)
{
    struct receiver rc;
    char url[64];
    receiver_start(&rc, PUB_OFFSET + 3, 0);
    receiver_url(&rc, url, sizeof url);
    /* the sandbox's customer: ...2 cancels (1032), 1 has no money (1),
     * ...7 cannot be reached and no callback comes (1037) */
    struct {
        long long amount;
        const char *phone, *want;
        bool ask;
    } cases[] = {
        {1502, "+254713800003", "cancelled", false},
        {1, "+254713800004", "failed", false},
        {1507, "+254713800005", "failed", true},
    };
    for (int i = 0; i < 3; i++) {
        struct integrator it = integrator(&pub, url, cases[i].amount);
        struct reply r = initiate(&pub, &it, cases[i].phone);
        struct started s = initiated(&r);
        if (cases[i].ask) {
            wait_answered(cases[i].phone);
            r = status_of(&pub, it.id, s.checkout);
            ck_assert_str_eq(jstr(r.json, "status"), cases[i].want);
            reply_free(&r);
        }
        ck_assert_msg(receiver_wait(&rc, i + 1, 10000), "no notice for %lld", cases[i].amount);
        json_t *n = signed_notice(&rc, i, it.secret);
        expect_notice(n, &it, &s, cases[i].want, cases[i].phone, cases[i].amount);
        json_decref(n);
        r = status_of(&pub, it.id, s.checkout);
        ck_assert_msg(r.status == 200, "%s", r.body);
        ck_assert_str_eq(jstr(r.json, "status"), cases[i].want);
        reply_free(&r);
        expect_row(&pub, s.transaction, cases[i].ask ? "status = 'failed' AND result_code = 1037"
                                                     : "status IN ('failed','cancelled')");
    }
    receiver_stop(&rc);
}
END_TEST

START_TEST(every_error_as_integrators_were_told)
{
    struct integrator it = integrator(&pub, NULL, 1500), other = integrator(&pub, NULL, 700);
    char body[500];
    struct reply r;

    /* missing fields, named in the document's order; blanks are missing */
    r = post(&pub, "/api/v1/payments/initiate", "{}");
    expect_error(&r, 400, "Missing required fields: client_id, package_id, phone_number, description");
    r = post(&pub, "/api/v1/payments/initiate", "{\"phone_number\":\"+254712345678\"}");
    expect_error(&r, 400, "Missing required fields: client_id, package_id, description");
    snprintf(body, sizeof body, "{\"client_id\":\"%s\",\"package_id\":null,\"phone_number\":\"0712345678\","
             "\"description\":\"  \"}", it.id);
    r = post(&pub, "/api/v1/payments/initiate", body);
    expect_error(&r, 400, "Missing required fields: package_id, description");
    r = post(&pub, "/api/v1/payments/status", "{}");
    expect_error(&r, 400, "Missing required fields: client_id, checkout_id");
    snprintf(body, sizeof body, "{\"client_id\":\"%s\"}", it.id);
    r = post(&pub, "/api/v1/payments/status", body);
    expect_error(&r, 400, "Missing required fields: checkout_id");
    r = post(&pub, "/api/v1/payments/initiate", "{\"client_id\":");
    ck_assert_int_eq(r.status, 400);
    ck_assert_msg(jstr(r.json, "error") && json_object_size(r.json) == 1, "%s", r.body);
    reply_free(&r);

    /* a malformed client id, then an unknown or inactive client */
    const char *form = "{\"client_id\":%s,\"package_id\":\"%s\",\"phone_number\":\"0712345678\",\"description\":\"d\"}";
    snprintf(body, sizeof body, form, "\"not-a-uuid\"", it.package);
    r = post(&pub, "/api/v1/payments/initiate", body);
    expect_error(&r, 400, "Invalid client_id format");
    snprintf(body, sizeof body, form, "42", it.package);
    r = post(&pub, "/api/v1/payments/initiate", body);
    expect_error(&r, 400, "Invalid client_id format");
    snprintf(body, sizeof body, form, "\"" UUID_NOBODY "\"", it.package);
    r = post(&pub, "/api/v1/payments/initiate", body);
    expect_error(&r, 403, "Invalid or inactive client");
    r = status_of(&pub, "nope", "ws_CO_1");
    expect_error(&r, 400, "Invalid client_id format");
    r = status_of(&pub, UUID_NOBODY, "ws_CO_1");
    expect_error(&r, 403, "Invalid or inactive client");

    /* packages: malformed, unknown, another client's, inactive */
    const char *pform = "{\"client_id\":\"%s\",\"package_id\":\"%s\",\"phone_number\":\"0712345678\",\"description\":\"d\"}";
    snprintf(body, sizeof body, pform, it.id, "12");
    r = post(&pub, "/api/v1/payments/initiate", body);
    expect_error(&r, 400, "Invalid package_id format");
    snprintf(body, sizeof body, pform, it.id, UUID_NOBODY);
    r = post(&pub, "/api/v1/payments/initiate", body);
    expect_error(&r, 404, "Package not found");
    snprintf(body, sizeof body, pform, it.id, other.package);
    r = post(&pub, "/api/v1/payments/initiate", body);
    expect_error(&r, 404, "Package not found");
    char path[160];
    snprintf(path, sizeof path, "/api/clients/%s/packages/%s", other.id, other.package);
    struct http_result a = h_json_admin(&pub, "PUT", path, "{\"active\":false}");
    ck_assert_int_eq(a.status, 200);
    h_free(&a);
    snprintf(body, sizeof body, pform, other.id, other.package);
    r = post(&pub, "/api/v1/payments/initiate", body);
    expect_error(&r, 404, "Package not found");

    /* the phone and the description */
    snprintf(body, sizeof body, "{\"client_id\":\"%s\",\"package_id\":\"%s\",\"phone_number\":\"+255712345678\","
             "\"description\":\"d\"}", it.id, it.package);
    r = post(&pub, "/api/v1/payments/initiate", body);
    expect_error(&r, 400, "Invalid phone_number: must be a Kenyan mobile number, +254XXXXXXXXX");
    char longdesc[300];
    memset(longdesc, 'x', 256);
    longdesc[256] = 0;
    snprintf(body, sizeof body, "{\"client_id\":\"%s\",\"package_id\":\"%s\",\"phone_number\":\"0712345678\","
             "\"description\":\"%s\"}", it.id, it.package, longdesc);
    r = post(&pub, "/api/v1/payments/initiate", body);
    expect_error(&r, 400, "Invalid description: text of at most 255 bytes");

    /* a payment that does not exist, and another client's: not found alike */
    r = status_of(&pub, it.id, "ws_CO_000000000000000000");
    expect_error(&r, 404, "Payment not found");
    r = initiate(&pub, &it, "+254713800006");
    struct started s = initiated(&r);
    r = status_of(&pub, other.id, s.checkout);
    expect_error(&r, 404, "Payment not found");
    snprintf(body, sizeof body, "{\"client_id\":\"%s\",\"transaction_id\":\"%s\"}", other.id, s.transaction);
    r = post(&pub, "/api/v1/payments/status", body);
    expect_error(&r, 404, "Payment not found");
    /* its own client finds it by either id */
    snprintf(body, sizeof body, "{\"client_id\":\"%s\",\"transaction_id\":\"%s\"}", it.id, s.transaction);
    r = post(&pub, "/api/v1/payments/status", body);
    ck_assert_msg(r.status == 200, "%s", r.body);
    ck_assert_str_eq(jstr(r.json, "checkout_id"), s.checkout);
    reply_free(&r);

    /* an inactive client: refused, even for its own payment */
    snprintf(path, sizeof path, "/api/clients/%s", it.id);
    a = h_json_admin(&pub, "PUT", path, "{\"active\":false}");
    ck_assert_int_eq(a.status, 200);
    h_free(&a);
    r = status_of(&pub, it.id, s.checkout);
    expect_error(&r, 403, "Invalid or inactive client");
    r = initiate(&pub, &it, "+254713800007");
    expect_error(&r, 403, "Invalid or inactive client");

    /* what lipad answers itself under /api/v1/: the same envelope */
    r = call(&pub, "GET", "/api/v1/payments/initiate", NULL, NULL);
    expect_error(&r, 405, "Method GET is not allowed on /api/v1/payments/initiate");
    r = call(&pub, "POST", "/api/v1/payments/nothing", NULL, "{}");
    expect_error(&r, 404, "No endpoint POST /api/v1/payments/nothing");
    /* refused on its Content-Length alone, before any body is read */
    r = call(&pub, "POST", "/api/v1/payments/initiate", "Content-Type: application/json\r\nContent-Length: 70000\r\n",
             NULL);
    expect_error(&r, 413, "body: larger than the limit");
}
END_TEST

START_TEST(no_checkout_yet_then_found_by_transaction)
{
    /* M-Pesa answers the push after LIPA_PUSH_WAIT_MS (2 s here): initiate
     * answers pending without a checkout_id, and the transaction_id finds
     * the payment meanwhile */
    const char *phone = "+254713800008";
    struct integrator it = integrator(&pub, NULL, 3500);
    struct http_result sl = h_req(h_sandbox_port, "POST", "/sandbox/slow", "application/json",
                                  "{\"service\":\"daraja\",\"ms\":2600}", 0, NULL);
    ck_assert_int_eq(sl.status, 200);
    h_free(&sl);
    quiet(phone);
    struct reply r = initiate(&pub, &it, phone);
    ck_assert_msg(r.status == 200, "%s", r.body);
    ck_assert_str_eq(jstr(r.json, "status"), "pending");
    ck_assert(json_is_null(json_object_get(r.json, "checkout_id")));
    ck_assert_str_eq(jstr(r.json, "message"), "Payment queued: the M-Pesa prompt will follow shortly");
    char tx[40], body[200];
    snprintf(tx, sizeof tx, "%s", jstr(r.json, "transaction_id"));
    reply_free(&r);
    snprintf(body, sizeof body, "{\"client_id\":\"%s\",\"transaction_id\":\"%s\"}", it.id, tx);
    r = post(&pub, "/api/v1/payments/status", body);
    ck_assert_msg(r.status == 200, "%s", r.body);
    ck_assert_str_eq(jstr(r.json, "status"), "pending");
    ck_assert(json_is_null(json_object_get(r.json, "checkout_id")));
    reply_free(&r);
    /* once the push is out, asking M-Pesa (still slow) runs past the
     * lane's deadline: 504 in the face's envelope, readable cross-origin */
    wait_pushed(phone);
    h_sleep_ms(3000); /* the held answer reaches lipad 2.6 s after the push */
    r = call(&pub, "POST", "/api/v1/payments/status", "Origin: https://shop.example\r\n", body);
    ck_assert_msg(r.status == 504, "%ld %s", r.status, r.body);
    ck_assert_msg(jstr(r.json, "error") && json_object_size(r.json) == 1, "%s", r.body);
    char v[128];
    ck_assert_ptr_nonnull(header(&r, "Access-Control-Allow-Origin", v, sizeof v));
    ck_assert_str_eq(v, "*");
    reply_free(&r);
    sl = h_req(h_sandbox_port, "POST", "/sandbox/reset", "application/json", "{}", 0, NULL);
    h_free(&sl);
    for (int i = 0; i < 40; i++) {
        r = post(&pub, "/api/v1/payments/status", body);
        bool done = r.status == 200 && !strcmp(jstr(r.json, "status"), "completed");
        if (done) {
            ck_assert_msg(jstr(r.json, "checkout_id") != NULL, "%s", r.body);
            reply_free(&r);
            return;
        }
        reply_free(&r);
        h_sleep_ms(250);
    }
    ck_abort_msg("the payment never completed");
}
END_TEST

/* The admin's read of a client's notices, with their attempts. */
static json_t *notices_of(const struct lipad *l, const char *client)
{
    char path[120];
    snprintf(path, sizeof path, "/api/clients/%s/notices", client);
    struct http_result r = h_json_admin((struct lipad *)l, "GET", path, NULL);
    ck_assert_msg(r.status == 200, "%s", r.body);
    json_t *arr = json_incref(r.json);
    h_free(&r);
    return arr;
}

START_TEST(notice_retried_with_the_same_bytes_until_delivered)
{
    const char *phone = "+254713800009";
    struct receiver rc;
    char url[64];
    receiver_start(&rc, PUB_OFFSET + 4, 1); /* a 500 first, then 200 */
    receiver_url(&rc, url, sizeof url);
    struct integrator it = integrator(&pub, url, 1200);
    struct reply r = initiate(&pub, &it, phone);
    struct started s = initiated(&r);
    ck_assert_msg(receiver_wait(&rc, 2, 10000), "no retry after a 500 (%d received)", rc.n);
    ck_assert_str_eq(rc.body[0], rc.body[1]);
    ck_assert_str_eq(rc.sig[0], rc.sig[1]);
    ck_assert_str_eq(rc.delivery[0], rc.delivery[1]);
    json_t *n = signed_notice(&rc, 1, it.secret);
    expect_notice(n, &it, &s, "completed", phone, 1200);
    json_decref(n);
    h_sleep_ms(500);
    ck_assert_int_eq(rc.n, 2); /* delivered: no third */
    json_t *arr = notices_of(&pub, it.id);
    ck_assert_int_eq((int)json_array_size(arr), 1);
    json_t *no = json_array_get(arr, 0);
    ck_assert_str_eq(jstr(no, "status"), "delivered");
    ck_assert_str_eq(jstr(no, "event"), "payment.completed");
    ck_assert_int_eq(json_integer_value(json_object_get(no, "attempts")), 2);
    ck_assert_int_eq(json_integer_value(json_object_get(no, "lastStatus")), 200);
    ck_assert_ptr_nonnull(jstr(no, "deliveredAt"));
    ck_assert_str_eq(jstr(json_object_get(no, "body"), "transaction_id"), s.transaction);
    json_t *log = json_object_get(no, "attemptLog");
    ck_assert_int_eq((int)json_array_size(log), 2);
    ck_assert_int_eq(json_integer_value(json_object_get(json_array_get(log, 0), "httpStatus")), 500);
    ck_assert_str_eq(jstr(json_array_get(log, 0), "error"), "HTTP 500");
    ck_assert_int_eq(json_integer_value(json_object_get(json_array_get(log, 1), "httpStatus")), 200);
    ck_assert(json_is_null(json_object_get(json_array_get(log, 1), "error")));
    ck_assert_ptr_nonnull(jstr(json_array_get(log, 0), "at"));
    json_decref(arr);

    /* a client without a callback URL hears nothing: it asks */
    struct integrator silent = integrator(&pub, NULL, 1200);
    r = initiate(&pub, &silent, "+254713800010");
    s = initiated(&r);
    for (int i = 0; i < 40; i++) {
        r = status_of(&pub, silent.id, s.checkout);
        bool done = !strcmp(jstr(r.json, "status"), "completed");
        reply_free(&r);
        if (done)
            break;
        h_sleep_ms(100);
    }
    arr = notices_of(&pub, silent.id);
    ck_assert_int_eq((int)json_array_size(arr), 0);
    json_decref(arr);
    receiver_stop(&rc);
}
END_TEST

START_TEST(cross_origin_from_any_page)
{
    /* the default: any origin; the preflight and the answers say "*" */
    char v[256];
    struct reply r = call(&pub, "OPTIONS", "/api/v1/payments/initiate",
                          "Origin: https://anyone.example\r\nAccess-Control-Request-Method: POST\r\n"
                          "Access-Control-Request-Headers: content-type\r\n", NULL);
    ck_assert_int_eq(r.status, 204);
    ck_assert_str_eq(header(&r, "Access-Control-Allow-Origin", v, sizeof v), "*");
    ck_assert_str_eq(header(&r, "Access-Control-Allow-Methods", v, sizeof v), "POST, OPTIONS");
    ck_assert_str_eq(header(&r, "Access-Control-Allow-Headers", v, sizeof v), "Content-Type, Idempotency-Key");
    ck_assert_str_eq(header(&r, "Access-Control-Max-Age", v, sizeof v), "600");
    reply_free(&r);
    r = call(&pub, "OPTIONS", "/api/v1/payments/status", "Origin: https://anyone.example\r\n", NULL);
    ck_assert_int_eq(r.status, 204);
    ck_assert_str_eq(header(&r, "Access-Control-Allow-Origin", v, sizeof v), "*");
    reply_free(&r);
    r = call(&pub, "POST", "/api/v1/payments/status", "Origin: https://anyone.example\r\n", "{}");
    ck_assert_int_eq(r.status, 400);
    ck_assert_str_eq(header(&r, "Access-Control-Allow-Origin", v, sizeof v), "*");
    reply_free(&r);
    /* an initiate answered after the push (a parked request) keeps it too */
    struct integrator it = integrator(&pub, NULL, 1500);
    char body[400];
    snprintf(body, sizeof body, "{\"client_id\":\"%s\",\"package_id\":\"%s\",\"phone_number\":\"+254713800011\","
             "\"description\":\"d\"}", it.id, it.package);
    r = call(&pub, "POST", "/api/v1/payments/initiate", "Origin: https://anyone.example\r\n", body);
    ck_assert_msg(r.status == 200 && jstr(r.json, "checkout_id"), "%s", r.body);
    ck_assert_str_eq(header(&r, "Access-Control-Allow-Origin", v, sizeof v), "*");
    reply_free(&r);
}
END_TEST

/* ---- the limits lipad ---- */

START_TEST(budget_per_client)
{
    struct integrator a = integrator(&lim, NULL, 1500), b = integrator(&lim, NULL, 1500);
    struct reply r;
    char v[64];
    for (int i = 0; i < 3; i++) {
        r = status_of(&lim, a.id, "ws_CO_nothing");
        expect_error(&r, 404, "Payment not found");
    }
    r = status_of(&lim, a.id, "ws_CO_nothing");
    ck_assert_int_eq(r.status, 429);
    ck_assert_ptr_nonnull(header(&r, "Retry-After", v, sizeof v));
    long after = strtol(v, NULL, 10);
    ck_assert_msg(after >= 1 && after <= 60, "Retry-After: %s", v);
    ck_assert_msg(jstr(r.json, "error") && strstr(jstr(r.json, "error"), "Rate limit exceeded") &&
                      json_object_size(r.json) == 1, "%s", r.body);
    reply_free(&r);
    r = initiate(&lim, &a, "+254713800012");
    ck_assert_int_eq(r.status, 429);
    reply_free(&r);
    /* another client's budget is its own, from the same address */
    r = status_of(&lim, b.id, "ws_CO_nothing");
    expect_error(&r, 404, "Payment not found");
}
END_TEST

START_TEST(cross_origin_from_listed_pages_only)
{
    struct integrator it = integrator(&lim, NULL, 1500);
    char v[256], body[200];
    struct reply r = call(&lim, "OPTIONS", "/api/v1/payments/status", "Origin: https://shop.example\r\n", NULL);
    ck_assert_int_eq(r.status, 204);
    ck_assert_str_eq(header(&r, "Access-Control-Allow-Origin", v, sizeof v), "https://shop.example");
    ck_assert_str_eq(header(&r, "Vary", v, sizeof v), "Origin");
    ck_assert_str_eq(header(&r, "Access-Control-Allow-Methods", v, sizeof v), "POST, OPTIONS");
    reply_free(&r);
    /* another page: no cross-origin headers, so its browser keeps the answer from it */
    r = call(&lim, "OPTIONS", "/api/v1/payments/status", "Origin: https://evil.example\r\n", NULL);
    ck_assert_int_eq(r.status, 204);
    ck_assert_ptr_null(header(&r, "Access-Control-Allow-Origin", v, sizeof v));
    ck_assert_ptr_null(header(&r, "Access-Control-Allow-Methods", v, sizeof v));
    reply_free(&r);
    snprintf(body, sizeof body, "{\"client_id\":\"%s\",\"checkout_id\":\"ws_CO_x\"}", it.id);
    r = call(&lim, "POST", "/api/v1/payments/status", "Origin: https://pay.example\r\n", body);
    ck_assert_int_eq(r.status, 404);
    ck_assert_str_eq(header(&r, "Access-Control-Allow-Origin", v, sizeof v), "https://pay.example");
    reply_free(&r);
    r = call(&lim, "POST", "/api/v1/payments/status", "Origin: https://evil.example\r\n", body);
    ck_assert_int_eq(r.status, 404); /* the same answer; the browser withholds it */
    ck_assert_ptr_null(header(&r, "Access-Control-Allow-Origin", v, sizeof v));
    /* and a cache keeps it apart from the listed pages' answers */
    ck_assert_str_eq(header(&r, "Vary", v, sizeof v), "Origin");
    reply_free(&r);
    /* lipad's own errors under /api/v1/ too */
    r = call(&lim, "GET", "/api/v1/payments/status", "Origin: https://shop.example\r\n", NULL);
    ck_assert_int_eq(r.status, 405);
    ck_assert_str_eq(header(&r, "Access-Control-Allow-Origin", v, sizeof v), "https://shop.example");
    reply_free(&r);
}
END_TEST

/* ---- a notice and a kill ---- */

START_TEST(notice_survives_a_kill)
{
    /* the receiver is down: the notice is queued and retried; lipad is
     * killed; at the next start the notice goes out, the same bytes */
    struct lipad l;
    char dir[128], url[64];
    const char *phone = "+254713800013";
    const char *extra[] = {"LIPA_SETTLE_AFTER=600", "LIPA_NOTICE_RETRY_MS=200", NULL};
    h_dir_fresh(dir, sizeof dir, "integrators-kill");
    ck_assert(h_lipad_start(&l, h_main.port + KILL_OFFSET, dir, extra));
    snprintf(url, sizeof url, "http://127.0.0.1:%d/hook", h_main.port + KILL_OFFSET + 1);
    struct integrator it = integrator(&l, url, 1500);
    struct reply r = initiate(&l, &it, phone);
    struct started s = initiated(&r);
    json_t *arr = NULL;
    for (int i = 0; i < 100; i++) { /* a first attempt failed: nobody listens */
        arr = notices_of(&l, it.id);
        json_t *no = json_array_get(arr, 0);
        if (no && json_integer_value(json_object_get(no, "attempts")) >= 1 && !strcmp(jstr(no, "status"), "queued"))
            break;
        json_decref(arr);
        arr = NULL;
        h_sleep_ms(100);
    }
    ck_assert_msg(arr != NULL, "no failed attempt recorded");
    json_decref(arr);
    ck_assert_int_eq(h_lipad_stop(&l, SIGKILL), 128 + SIGKILL);

    struct receiver rc;
    receiver_start(&rc, KILL_OFFSET + 1, 0);
    ck_assert(h_lipad_start(&l, h_main.port + KILL_OFFSET, dir, extra));
    ck_assert_msg(receiver_wait(&rc, 1, 15000), "the notice was lost with the kill");
    json_t *n = signed_notice(&rc, 0, it.secret);
    expect_notice(n, &it, &s, "completed", phone, 1500);
    json_decref(n);
    arr = notices_of(&l, it.id);
    for (int i = 0; i < 20 && strcmp(jstr(json_array_get(arr, 0), "status"), "delivered"); i++) {
        json_decref(arr);
        h_sleep_ms(100);
        arr = notices_of(&l, it.id);
    }
    ck_assert_str_eq(jstr(json_array_get(arr, 0), "status"), "delivered");
    json_decref(arr);
    ck_assert_int_eq(h_lipad_stop(&l, SIGTERM), 0);
    receiver_stop(&rc);
}
END_TEST

Suite *suite_integrators(void)
{
    Suite *s = suite_create("integrators");
    TCase *t = tcase_create("public");
    tcase_add_unchecked_fixture(t, pub_setup, pub_teardown);
    tcase_set_timeout(t, 90);
    tcase_add_test(t, package_paid_and_settled_by_callback);
    tcase_add_test(t, package_settled_by_asking_mpesa);
    tcase_add_test(t, cancelled_failed_and_unanswered);
    tcase_add_test(t, every_error_as_integrators_were_told);
    tcase_add_test(t, no_checkout_yet_then_found_by_transaction);
    tcase_add_test(t, notice_retried_with_the_same_bytes_until_delivered);
    tcase_add_test(t, cross_origin_from_any_page);
    suite_add_tcase(s, t);
    t = tcase_create("limits");
    tcase_add_unchecked_fixture(t, lim_setup, lim_teardown);
    tcase_set_timeout(t, 60);
    tcase_add_test(t, budget_per_client);
    tcase_add_test(t, cross_origin_from_listed_pages_only);
    suite_add_tcase(s, t);
    t = tcase_create("durable");
    tcase_set_timeout(t, 90);
    tcase_add_test(t, notice_survives_a_kill);
    suite_add_tcase(s, t);
    return s;
}
