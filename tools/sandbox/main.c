/* sandbox/main: the lipa-sandbox process. Parses the options, reads the
 * credentials from the LIPA_* environment (so one env file configures lipad
 * and the sandbox alike), serves the four fakes and the control endpoints
 * on one loopback port, runs the STK workers, and stops cleanly on SIGTERM
 * or SIGINT.
 *
 *   lipa-sandbox [--port 9090] [--callback-delay-ms 1500] [--tuya-any-device]
 *                [--paystack-webhook URL] [--paystack-settle-ms N]
 *
 * --paystack-webhook (default: the environment's
 * LIPA_SANDBOX_PAYSTACK_WEBHOOK, else none) is where Paystack events go when
 * a control request names no webhook_url, loopback only;
 * --paystack-settle-ms (default 0: never) settles M-Pesa charges and
 * transfers by themselves that long after they were made (paystack.c says
 * how), so a charge completes without control calls.
 *
 * When ready it prints "lipa-sandbox listening on http://127.0.0.1:PORT" to
 * stdout (with --port 0 the kernel picks the port and the line tells it). */
#include "sandbox.h"

#include "util/httpc.h"
#include "util/log.h"
#include "util/str.h"
#include "util/version.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define WORKERS 4               /* STK callback posters */
#define SERVER_THREADS 4
#define BODY_MAX (64u << 10)

static const char usage[] =
    "usage: lipa-sandbox [--port 9090] [--callback-delay-ms 1500] [--tuya-any-device]\n"
    "                    [--paystack-webhook URL] [--paystack-settle-ms N]\n"
    "Fakes Daraja STK push, Africa's Talking SMS, the Tuya cloud and Paystack on 127.0.0.1.\n"
    "Credentials (environment, with defaults): LIPA_DARAJA_KEY, LIPA_DARAJA_SECRET,\n"
    "LIPA_DARAJA_SHORTCODE, LIPA_DARAJA_PASSKEY, LIPA_AT_USERNAME, LIPA_AT_APIKEY,\n"
    "LIPA_TUYA_CLIENT_ID, LIPA_TUYA_SECRET, LIPA_PAYSTACK_SECRET.\n"
    "Paystack events go to --paystack-webhook (default LIPA_SANDBOX_PAYSTACK_WEBHOOK, a\n"
    "loopback URL) when a control request names none; --paystack-settle-ms N settles\n"
    "M-Pesa charges and transfers by themselves after N ms (0: never, the default).\n";

/* A number option's value, from "--name=V" or the next argument. */
static bool opt_num(int argc, char **argv, int *i, const char *name, int64_t min, int64_t max,
                    int64_t *out, bool *matched)
{
    size_t n = strlen(name);
    const char *a = argv[*i], *v = NULL;
    *matched = false;
    if (!strncmp(a, name, n) && a[n] == '=')
        v = a + n + 1;
    else if (!strcmp(a, name) && *i + 1 < argc)
        v = argv[++*i];
    else if (!strcmp(a, name))
        v = "";
    else
        return true;
    *matched = true;
    if (!str_to_i64(v, min, max, out)) {
        fprintf(stderr, "lipa-sandbox: %s wants a number from %lld to %lld\n", name, (long long)min,
                (long long)max);
        return false;
    }
    return true;
}

/* A string option's value, from "--name=V" or the next argument;
 * NULL when argv[*i] is another option. */
static const char *opt_str(int argc, char **argv, int *i, const char *name)
{
    size_t n = strlen(name);
    const char *a = argv[*i];
    if (!strncmp(a, name, n) && a[n] == '=')
        return a + n + 1;
    if (!strcmp(a, name))
        return *i + 1 < argc ? argv[++*i] : "";
    return NULL;
}

/* A default webhook URL fit for the Paystack fake (it posts on loopback
 * only); false with a message otherwise. */
static bool webhook_ok(struct sandbox *sb, const char *url, const char *from)
{
    if (!str_copy(sb->paystack_webhook, sizeof sb->paystack_webhook, url) ||
        (*url && (strncmp(url, "http://", 7) || !sb_url_is_loopback(url)))) {
        fprintf(stderr, "lipa-sandbox: %s must be an http URL on a loopback host, under %zu bytes\n", from,
                sizeof sb->paystack_webhook);
        return false;
    }
    return true;
}

static bool parse_args(struct sandbox *sb, int argc, char **argv)
{
    int64_t port = 9090, delay = 1500, settle = 0;
    const char *env_hook = getenv("LIPA_SANDBOX_PAYSTACK_WEBHOOK");
    if (env_hook && !webhook_ok(sb, env_hook, "LIPA_SANDBOX_PAYSTACK_WEBHOOK"))
        return false;
    for (int i = 1; i < argc; i++) {
        bool m1 = false, m2 = false, m3 = false;
        const char *hook;
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            fputs(usage, stdout);
            exit(0);
        }
        if (!strcmp(argv[i], "--version")) {
            printf("lipa-sandbox %s\n", lipa_version);
            exit(0);
        }
        if (!strcmp(argv[i], "--tuya-any-device")) {
            sb->tuya_any_device = true;
            continue;
        }
        if ((hook = opt_str(argc, argv, &i, "--paystack-webhook"))) {
            if (!webhook_ok(sb, hook, "--paystack-webhook"))
                return false;
            continue;
        }
        if (!opt_num(argc, argv, &i, "--port", 0, 65535, &port, &m1) ||
            (!m1 && !opt_num(argc, argv, &i, "--callback-delay-ms", 0, 3600000, &delay, &m2)) ||
            (!m1 && !m2 && !opt_num(argc, argv, &i, "--paystack-settle-ms", 0, 3600000, &settle, &m3)))
            return false;
        if (!m1 && !m2 && !m3) {
            fprintf(stderr, "lipa-sandbox: unknown option %s\n%s", argv[i], usage);
            return false;
        }
    }
    sb->port = (unsigned)port;
    sb->callback_delay_ms = delay;
    sb->paystack_settle_ms = settle;
    return true;
}

static bool env(char *dst, const char *name, const char *def)
{
    const char *v = getenv(name);
    if (!str_copy(dst, SB_CRED_MAX, v && *v ? v : def)) {
        fprintf(stderr, "lipa-sandbox: %s is longer than %d bytes\n", name, SB_CRED_MAX - 1);
        return false;
    }
    return true;
}

static bool load_creds(struct sb_creds *c)
{
    return env(c->daraja_key, "LIPA_DARAJA_KEY", "sandbox-key") &&
           env(c->daraja_secret, "LIPA_DARAJA_SECRET", "sandbox-secret") &&
           env(c->daraja_shortcode, "LIPA_DARAJA_SHORTCODE", "174379") &&
           env(c->daraja_passkey, "LIPA_DARAJA_PASSKEY",
               "bfb279f9aa9bdbcf158e97dd71a467cd2e0c893059b10f78e6b72ada1ed2c919") &&
           env(c->at_username, "LIPA_AT_USERNAME", "sandbox") &&
           env(c->at_apikey, "LIPA_AT_APIKEY", "sandbox-at-key") &&
           env(c->tuya_client_id, "LIPA_TUYA_CLIENT_ID", "sandbox-tuya-id") &&
           env(c->tuya_secret, "LIPA_TUYA_SECRET", "sandbox-tuya-secret") &&
           env(c->paystack_secret, "LIPA_PAYSTACK_SECRET", "sk_test_sandbox");
}

/* One route table from the fakes' tables (malloc'ed; caller frees), every
 * route served through sb_dispatch; sb learns each route's own handler and
 * fake. */
static struct http_route *join_routes(struct sandbox *sb)
{
    const struct http_route *tables[] = {sb_daraja_routes, sb_at_routes, sb_tuya_routes,
                                         sb_paystack_routes, sb_control_routes};
    const int svc[] = {SB_DARAJA, SB_AT, SB_TUYA, SB_PAYSTACK, SB_NSERVICES};
    size_t n = 0, k = 0;
    for (size_t t = 0; t < sizeof tables / sizeof *tables; t++)
        for (const struct http_route *r = tables[t]; r->method; r++)
            n++;
    struct http_route *all = calloc(n + 1, sizeof *all);
    sb->route_fn = calloc(n + 1, sizeof *sb->route_fn);
    sb->route_svc = calloc(n + 1, sizeof *sb->route_svc);
    if (!all || !sb->route_fn || !sb->route_svc) {
        free(all);
        return NULL;
    }
    for (size_t t = 0; t < sizeof tables / sizeof *tables; t++)
        for (const struct http_route *r = tables[t]; r->method; r++, k++) {
            all[k] = *r;
            all[k].fn = sb_dispatch;
            sb->route_fn[k] = r->fn;
            sb->route_svc[k] = svc[t];
        }
    sb->routes = all;
    return all;
}

/* Unrouted requests: logged, since a wrong path from lipad is a bug. */
static void on_error(void *ctx, const struct http_req *req, struct http_resp *resp, int status)
{
    (void)ctx, (void)resp;
    log_warn("sandbox.unrouted", "method=%s path=%s status=%d", req->method ? req->method : "-",
             req->path ? req->path : "-", status);
}

int main(int argc, char **argv)
{
    struct sandbox sb = {0};
    struct http_route *routes = NULL;
    struct http_server *srv = NULL;
    pthread_t workers[WORKERS];
    int nworkers = 0, rc = 1;
    bool locks = false;
    if (!parse_args(&sb, argc, argv) || !load_creds(&sb.cred))
        return 2;

    /* Signals go to sigwait below, never to a pool thread. */
    sigset_t sigs;
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGTERM);
    sigaddset(&sigs, SIGINT);
    pthread_sigmask(SIG_BLOCK, &sigs, NULL);
    signal(SIGPIPE, SIG_IGN);
    httpc_global_init();

    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    locks = pthread_mutex_init(&sb.mu, NULL) == 0 && pthread_cond_init(&sb.cv, &ca) == 0;
    pthread_condattr_destroy(&ca);
    if (!locks || !sb_daraja_init(&sb) || !sb_at_init(&sb) || !sb_tuya_init(&sb) ||
        !sb_paystack_init(&sb) || !(routes = join_routes(&sb))) {
        fprintf(stderr, "lipa-sandbox: out of memory\n");
        goto out;
    }
    for (; nworkers < WORKERS; nworkers++)
        if (pthread_create(&workers[nworkers], NULL, sb_daraja_worker, &sb)) {
            fprintf(stderr, "lipa-sandbox: cannot start workers\n");
            goto out;
        }

    struct http_server_opts opts = {
        .port = sb.port, .threads = SERVER_THREADS, .body_max = BODY_MAX, .routes = routes,
        .ctx = &sb, .on_error = on_error, .loopback_only = true,
    };
    srv = http_server_start(&opts);
    if (!srv) {
        fprintf(stderr, "lipa-sandbox: cannot listen on 127.0.0.1:%u\n", sb.port);
        goto out;
    }
    pthread_mutex_lock(&sb.mu); /* with --port 0, the port the kernel picked */
    sb.port = http_server_port(srv);
    pthread_mutex_unlock(&sb.mu);
    log_info("sandbox.start",
             "port=%u callback_delay_ms=%lld tuya_any_device=%d shortcode=%s at_username=%s "
             "paystack_webhook=%s paystack_settle_ms=%lld",
             http_server_port(srv), (long long)sb.callback_delay_ms, sb.tuya_any_device,
             sb.cred.daraja_shortcode, sb.cred.at_username, sb.paystack_webhook[0] ? sb.paystack_webhook : "-",
             (long long)sb.paystack_settle_ms);
    printf("lipa-sandbox listening on http://127.0.0.1:%u\n", http_server_port(srv));
    fflush(stdout);

    int sig = 0;
    sigwait(&sigs, &sig);
    log_info("sandbox.stop", "signal=%d", sig);
    rc = 0;
out:
    sb_tuya_release(&sb); /* held answers go out while the server still runs */
    http_server_stop(srv, 500);
    if (locks) {
        pthread_mutex_lock(&sb.mu);
        sb.stopping = true;
        pthread_cond_broadcast(&sb.cv);
        pthread_mutex_unlock(&sb.mu);
    }
    for (int i = 0; i < nworkers; i++)
        pthread_join(workers[i], NULL);
    sb_daraja_free(&sb);
    sb_at_free(&sb);
    sb_tuya_free(&sb);
    sb_paystack_free(&sb);
    free(routes);
    free(sb.route_fn);
    free(sb.route_svc);
    if (locks) {
        pthread_cond_destroy(&sb.cv);
        pthread_mutex_destroy(&sb.mu);
    }
    return rc;
}
