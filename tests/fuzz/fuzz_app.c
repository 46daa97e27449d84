/* fuzz_app: a real app for the targets that drive lipad's handlers
 * (webhook.c, ussd_hop.c `#include "fuzz_app.c"`; it is not a target of its
 * own and the Makefile does not build it alone): the configuration of a
 * test deployment, app_init on a database in a temporary directory (the
 * migrations from db/ and the menus from menus/, so run from the
 * repository root, or set LIPA_MIGRATIONS and LIPA_MENUS), no HTTP server
 * and no workers. Provider calls reach fuzz.c's wrapped HTTP client. The
 * directory is removed at exit by the process that made it (a crash
 * leaves it: tools/fuzz.sh points TMPDIR into build/fuzz). */
#include "fuzz.h"

#include "app/app.h"
#include "app/routes.h"

#include <ftw.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define FUZZ_PAYSTACK_SECRET "sk_test_fuzz_webhook"

static struct app app;
static char app_dir[256], app_db[320];
static pid_t app_owner;

static int app_rm_one(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb, (void)flag, (void)ftw;
    remove(path);
    return 0;
}

static void app_cleanup(void)
{
    if (getpid() == app_owner) /* not the replay's children: they share the directory */
        nftw(app_dir, app_rm_one, 8, FTW_DEPTH | FTW_PHYS);
}

static const char *app_env(const char *name)
{
    static const char *const fixed[][2] = {
        {"LIPA_ADMIN_KEY", "fuzz-admin-key-0123456789"},
        {"LIPA_PEPPER", "fuzz-pepper-0123456789abcdef"},
        {"LIPA_PAYSTACK_SECRET", FUZZ_PAYSTACK_SECRET},
        {"LIPA_PAYSTACK_URL", "http://paystack.invalid"},
        {"LIPA_DARAJA_URL", "http://daraja.invalid"},
        {"LIPA_AT_URL", "http://at.invalid"},
        {"LIPA_TUYA_URL", "http://tuya.invalid"},
        /* no resume offers: ussd_hop's second session of a caller must
         * rebuild to the first one's answer, which an offer of the first
         * one's screen would change (the offer: check_ussd, e2e resume) */
        {"LIPA_USSD_RESUME_WINDOW", "0"},
    };
    if (!strcmp(name, "LIPA_DB"))
        return app_db;
    if (!strcmp(name, "LIPA_MENUS") || !strcmp(name, "LIPA_MIGRATIONS"))
        return getenv(name); /* unset: the defaults, menus and db */
    for (size_t i = 0; i < sizeof fixed / sizeof fixed[0]; i++)
        if (!strcmp(name, fixed[i][0]))
            return fixed[i][1];
    return NULL;
}

static void fuzz_app_start(const char *name)
{
    const char *base = getenv("TMPDIR");
    snprintf(app_dir, sizeof app_dir, "%s/lipa-fuzz-%s-XXXXXX", base && *base ? base : "/tmp", name);
    FUZZ_CHECK(mkdtemp(app_dir), "mkdtemp %s", app_dir);
    app_owner = getpid();
    atexit(app_cleanup);
    snprintf(app_db, sizeof app_db, "%s/lipa.db", app_dir);
    char err[1024];
    FUZZ_CHECK(config_load(&app.cfg, app_env, err, sizeof err), "config: %s", err);
    FUZZ_CHECK(app_init(&app, err, sizeof err), "app_init: %s (run from the repository root)", err);
}

/* Before each input: the store's upkeep, which the maintenance worker
 * runs in lipad (once a second at most): the WAL copied back into the
 * database, or it grows by gigabytes in minutes, and idle sessions
 * dropped. */
static void fuzz_app_tick(void)
{
    store_maintain(app.store);
}

/* The route for method and pattern, or abort. */
static const struct http_route *fuzz_app_route(const char *method, const char *pattern)
{
    for (const struct http_route *r = app_routes(); r->method; r++)
        if (!strcmp(r->method, method) && !strcmp(r->pattern, pattern))
            return r;
    FUZZ_CHECK(false, "no route %s %s", method, pattern);
    return NULL;
}
