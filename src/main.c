/* lipad: the lipa service. Reads the configuration, opens the store,
 * loads the menus, starts the provider workers and the HTTP server, then
 * waits for signals: SIGHUP reloads the menus atomically (a bad set is
 * refused and the old one keeps serving), SIGTERM/SIGINT stop accepting,
 * finish requests in flight and leave queued work in the database. */
#include "app/app.h"
#include "app/routes.h"
#include "http/server.h"
#include "store/store.h"
#include "util/httpc.h"
#include "util/log.h"
#include "util/version.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char *env(const char *name) { return getenv(name); }

/* --help and --version; anything else is refused (exit 2), so a mistyped
 * option never starts a lipad the operator did not mean. -1: go on. */
static int arguments(int argc, char **argv)
{
    if (argc < 2)
        return -1;
    if (argc == 2 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))) {
        printf("usage: lipad [--help | --version]\n"
               "lipad is configured by the environment; LIPA_CONFIG names an optional KEY=VALUE file\n"
               "(the environment wins). The settings and their defaults:\n");
        config_usage(stdout);
        return 0;
    }
    if (argc == 2 && !strcmp(argv[1], "--version")) {
        printf("lipad %s\n", lipa_version);
        return 0;
    }
    bool known = !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "--version");
    fprintf(stderr, "lipad: unknown argument '%.80s' (lipad takes --help or --version alone; its settings come "
                    "from the environment)\n", known ? argv[2] : argv[1]);
    return 2;
}

/* A refused menu set in the log, one line per problem and then the
 * refusal with their count: the loaders report each problem as
 * "file:line: what" or "file: what" (util/yaml.h), a line of its own. */
static void log_menus_refused(const char *dir, const char *problems)
{
    int count = 0;
    for (const char *p = problems; p && *p;) {
        const char *end = strchr(p, '\n');
        if (!end)
            end = p + strlen(p);
        const char *sep = p;
        while (sep + 1 < end && !(sep[0] == ':' && sep[1] == ' '))
            sep++;
        if (sep + 1 >= end) { /* no file: the whole line is the problem */
            log_error("menus.problem", "file=%s what=\"%.*s\"", dir, (int)(end - p), p);
        } else {
            const char *colon = sep, *what = sep + 2;
            while (colon > p && colon[-1] >= '0' && colon[-1] <= '9')
                colon--;
            if (colon > p && colon < sep && colon[-1] == ':') /* file:line */
                log_error("menus.problem", "file=%.*s line=%.*s what=\"%.*s\"", (int)(colon - 1 - p), p,
                          (int)(sep - colon), colon, (int)(end - what), what);
            else
                log_error("menus.problem", "file=%.*s what=\"%.*s\"", (int)(sep - p), p, (int)(end - what),
                          what);
        }
        count++;
        p = *end ? end + 1 : end;
    }
    log_error("menus.refused", "dir=%s count=%d", dir, count);
}

int main(int argc, char **argv)
{
    int done = arguments(argc, argv);
    if (done >= 0)
        return done;
    static struct app a; /* zeroed; lives as long as the process */
    char err[4096];
    if (!config_load(&a.cfg, env, err, sizeof err)) {
        fprintf(stderr, "lipad: configuration: %s\n", err);
        return 2;
    }
    /* the port first: a second lipad where one is listening stops here,
     * before it opens the database or takes back any claim in its name */
    int fd = http_bind(a.cfg.bind, (unsigned)a.cfg.port, err, sizeof err);
    if (fd < 0) {
        fprintf(stderr, "lipad: %s (LIPA_BIND, LIPA_PORT; is another lipad running?)\n", err);
        config_free(&a.cfg);
        return 1;
    }
    /* signals go to the main thread only: block them before any thread starts */
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGHUP);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    signal(SIGPIPE, SIG_IGN);
    httpc_global_init();
    log_start_async();
    /* in either mode: a provider URL that is a sandbox takes no real money
     * and sends no real SMS, which an operator should hear about at once */
    const char *sandboxes[4];
    size_t nsandbox = config_sandbox_urls(&a.cfg, sandboxes, 4);
    for (size_t i = 0; i < nsandbox; i++)
        log_warn("config.sandbox_url", "setting=%s mode=%s reason=\"a sandbox host or a loopback address\"",
                 sandboxes[i], a.cfg.mode);
    if (a.cfg.production && !*a.cfg.paystack_secret)
        log_warn("config.paystack_off", "setting=LIPA_PAYSTACK_SECRET reason=\"empty: Paystack payments are refused\"");

    if (!app_init(&a, err, sizeof err)) {
        log_stop_async();
        fprintf(stderr, "lipad: %s\n", err);
        close(fd);
        app_free(&a);
        config_free(&a.cfg);
        return 1;
    }
    struct http_lane lanes[LANE_COUNT];
    app_lanes(&a, lanes);
    struct http_server_opts opts = {
        .port = (unsigned)a.cfg.port, .bind = a.cfg.bind, .listen_fd_set = true, .listen_fd = fd,
        .threads = (unsigned)a.cfg.threads, .body_max = (size_t)a.cfg.body_max,
        .routes = app_routes(), .ctx = &a, .on_error = app_on_error,
        .rate_limit = a.cfg.rate_limit, .rate_window_s = a.cfg.rate_window,
        .lanes = lanes, .nlanes = LANE_COUNT,
        .max_connections = (unsigned)a.cfg.max_connections,
        .per_ip_connections = (unsigned)a.cfg.connections_per_ip,
        .header_timeout_ms = a.cfg.header_timeout_ms, .body_timeout_ms = a.cfg.body_timeout_ms,
    };
    struct http_server *srv = http_server_start(&opts);
    if (!srv) {
        fprintf(stderr, "lipad: cannot listen on %s%s%s:%lld (LIPA_BIND, LIPA_PORT): see the log\n",
                strchr(a.cfg.bind, ':') ? "[" : "", a.cfg.bind, strchr(a.cfg.bind, ':') ? "]" : "",
                (long long)a.cfg.port);
        app_free(&a);
        config_free(&a.cfg);
        return 1;
    }
    if (!app_workers_start(&a)) {
        fprintf(stderr, "lipad: cannot start workers\n");
        http_server_stop(srv, 0);
        app_free(&a);
        config_free(&a.cfg);
        return 1;
    }
    char db[1024];
    store_target_shown(a.cfg.db, db, sizeof db);
    log_info("lipad.started", "version=%s mode=%s bind=%s port=%lld threads=%lld db=\"%s\" menus=%s", lipa_version,
             a.cfg.mode, a.cfg.bind, (long long)a.cfg.port,
             (long long)a.cfg.threads, db, a.cfg.menus);

    for (;;) {
        int sig = 0;
        if (sigwait(&set, &sig) != 0)
            continue;
        if (sig == SIGHUP) {
            struct buf errors;
            buf_init(&errors, 64 * 1024);
            if (app_reload_menus(&a, &errors)) {
                log_info("menus.reloaded", "dir=%s", a.cfg.menus);
            } else {
                log_menus_refused(a.cfg.menus, errors.data);
            }
            buf_free(&errors);
            continue;
        }
        log_info("lipad.stopping", "signal=%d", sig);
        break;
    }
    http_server_stop(srv, 5000);
    app_workers_stop(&a);
    app_free(&a);
    config_free(&a.cfg);
    log_info("lipad.stopped", "reason=signal");
    log_stop_async();
    return 0;
}
