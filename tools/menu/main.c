/* lipa-menu: checks, shows, tests and draws USSD menu files without a
 * running service.
 *
 *   lipa-menu check DIR                          load and check the menus and
 *                                                DIR/sms.yaml; exit 1 on problems
 *                                                (warnings, such as a reply that
 *                                                can take two SMS parts, do not fail)
 *   lipa-menu render DIR SCREEN [en|sw] [var=value ...]
 *                                                one screen as the phone shows it
 *   lipa-menu walk DIR TEXT [en|sw]              a whole dial, TEXT as Africa's
 *                                                Talking sends it: "1*1*100*1"
 *   lipa-menu test DIR [FILE.dialog ...]         the dialogues (every .dialog in DIR/tests
 *                                                unless named); exit 1 on the first
 *                                                difference in any; a coverage line
 *   lipa-menu graph DIR                          the menus as Graphviz dot
 *
 * render and walk use a sample caller (world.c): two meters, the default
 * settings (KES 10 to 10000 at KES 25 a kWh, water at KES 5 a litre), one
 * water code, every action succeeding and the payment accepted. They run
 * the host lipad runs (ussd/host.h), so water sizes are priced and the
 * water codes listed as a caller would see them. */
#include "dialog.h"
#include "world.h"

#include "text/commands.h"
#include "ussd/host.h"
#include "ussd/ussd.h"

#include "util/buf.h"
#include "util/gsm.h"
#include "util/log.h"
#include "util/str.h"
#include "util/version.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_DIALOGS 256

static void print_reply(const struct buf *reply)
{
    const char *r = reply->data ? reply->data : "";
    printf("%s\n-- %zu characters, %d septets (budget %d)\n", r, gsm_chars(r), gsm_septets(r), USSD_BUDGET);
}

static struct ussd_menus *load(const char *dir)
{
    struct buf errors;
    buf_init(&errors, 0);
    struct ussd_menus *m = ussd_menus_load(dir, &errors);
    if (!m)
        fputs(errors.data ? errors.data : "load failed\n", stderr);
    buf_free(&errors);
    return m;
}

static int cmd_check(const char *dir)
{
    struct ussd_menus *m = load(dir);
    /* the texting commands too: lipad reloads both together */
    struct text_commands *c = NULL;
    struct buf errors;
    buf_init(&errors, 0);
    bool sms_ok = text_commands_load_dir(dir, &c, &errors);
    if (!sms_ok)
        fputs(errors.data ? errors.data : "sms commands: load failed\n", stderr);
    buf_reset(&errors);
    if (c) {
        char path[1024];
        snprintf(path, sizeof path, "%s/%s", dir, TEXT_COMMANDS_FILE);
        if (text_commands_warnings(c, path, &errors))
            fputs(errors.data, stderr);
    }
    buf_free(&errors);
    if (m && sms_ok) {
        if (c)
            printf("ok: %d screens, %d SMS commands\n", ussd_menus_count(m), text_commands_count(c));
        else
            printf("ok: %d screens, no %s (texting commands off)\n", ussd_menus_count(m), TEXT_COMMANDS_FILE);
    }
    text_commands_unref(c);
    ussd_menus_unref(m);
    return m && sms_ok ? 0 : 1;
}

static bool sample(struct world *w)
{
    char err[256];
    if (!world_init(w, NULL, 0, err, sizeof err)) {
        fprintf(stderr, "lipa-menu: %s\n", err);
        return false;
    }
    world_sample(w);
    return true;
}

static int cmd_render(const char *dir, const char *screen, const char *lang, char **vars, int nvars)
{
    int rc = 1;
    struct buf reply;
    struct ussd_session s;
    struct world w;
    struct ussd_hop h;
    bool end, have_world = false;
    buf_init(&reply, USSD_REPLY_MAX);
    struct ussd_menus *m = load(dir);
    if (!m || !(have_world = sample(&w)))
        goto out;
    ussd_hop_init(&h, &w.cfg, &w.uw, w.phone);
    ussd_hop_fresh(&h, &s, lang);
    ussd_var_set(&s, "meter", w.c.meters[0].id);
    ussd_var_set(&s, "meter_name", w.c.meters[0].name);
    ussd_var_set(&s, "amount", "100");
    ussd_var_set(&s, "kwh", "4.0");
    ussd_var_set(&s, "liters", "20");
    ussd_var_set(&s, "wq", "20");
    for (int i = 0; i < nvars; i++) {
        char key[32];
        const char *eq = strchr(vars[i], '=');
        if (!eq || (size_t)(eq - vars[i]) >= sizeof key) {
            fprintf(stderr, "lipa-menu: expected var=value, got '%s'\n", vars[i]);
            goto out;
        }
        memcpy(key, vars[i], (size_t)(eq - vars[i]));
        key[eq - vars[i]] = 0;
        if (!ussd_var_set(&s, key, eq + 1)) {
            fprintf(stderr, "lipa-menu: cannot set '%s'\n", key);
            goto out;
        }
    }
    struct ussd_host host = ussd_hop_host(&h);
    if (!ussd_show(m, &host, w.phone, "render", &s, screen, &reply, false, &end)) {
        fprintf(stderr, "lipa-menu: no screen '%s' in %s\n", screen, dir);
        goto out;
    }
    print_reply(&reply);
    rc = 0;
out:
    if (have_world)
        world_free(&w);
    buf_free(&reply);
    ussd_menus_unref(m);
    return rc;
}

/* What the sample caller gets by SMS after the walk: the code resent, or
 * the payment the walk started, accepted. */
static void print_sms(struct world *w)
{
    char sms[WORLD_SMS_MAX];
    for (int i = 0; i < w->nsent; i++)
        printf("SMS %s\n", w->sent[i]);
    if (w->has_pending && world_payment_ends(w, "completed", "QK7SAMPLE1", sms, sizeof sms))
        printf("(the M-Pesa prompt is accepted)\nSMS %s\n", sms);
}

static int cmd_walk(const char *dir, const char *text, const char *lang)
{
    int rc = 1;
    struct buf reply;
    struct ussd_session s;
    struct world w;
    bool have_world = false;
    static char state[USSD_SESSION_TEXT_MAX];
    char inputs[256];
    buf_init(&reply, USSD_REPLY_MAX);
    struct ussd_menus *m = load(dir);
    if (!m || !(have_world = sample(&w)))
        goto out;
    if (!str_copy(inputs, sizeof inputs, text)) {
        fprintf(stderr, "lipa-menu: TEXT too long\n");
        goto out;
    }
    str_copy(w.c.user.language, sizeof w.c.user.language, lang);
    struct ussd_hop h;
    ussd_hop_init(&h, &w.cfg, &w.uw, w.phone);
    ussd_hop_fresh(&h, &s, NULL);
    bool end = ussd_hop_step(&h, m, "walk", &s, NULL, &reply) != USSD_CON;
    printf("> (dial)\n");
    print_reply(&reply);
    char *p = inputs;
    while (*p && !end) {
        char *star = strchr(p, '*');
        if (star)
            *star = 0;
        /* through the store's text form, as lipad does between hops */
        if (!ussd_session_encode(&s, state, sizeof state) || !ussd_session_decode(&s, state)) {
            fprintf(stderr, "lipa-menu: session did not survive encode/decode\n");
            goto out;
        }
        ussd_hop_init(&h, &w.cfg, &w.uw, w.phone); /* a hop looks the caller up afresh */
        end = ussd_hop_step(&h, m, "walk", &s, p, &reply) != USSD_CON;
        printf("> %s\n", p);
        print_reply(&reply);
        p = star ? star + 1 : p + strlen(p);
    }
    if (end)
        print_sms(&w);
    rc = 0;
out:
    if (have_world)
        world_free(&w);
    buf_free(&reply);
    ussd_menus_unref(m);
    return rc;
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

static int cmd_test(const char *dir, char **files, int nfiles)
{
    int rc = 1, nfound = 0, failed = 0;
    char *found[MAX_DIALOGS];
    struct coverage cv;
    bool have_cv = false;
    struct text_commands *c = NULL;
    struct buf errors;
    buf_init(&errors, 0);
    struct ussd_menus *m = load(dir);
    if (!m)
        goto out;
    if (!text_commands_load_dir(dir, &c, &errors)) {
        fputs(errors.data ? errors.data : "sms commands: load failed\n", stderr);
        goto out;
    }
    if (!nfiles) {
        char tdir[1024];
        snprintf(tdir, sizeof tdir, "%s/tests", dir);
        DIR *d = opendir(tdir);
        struct dirent *e;
        while (d && (e = readdir(d)) && nfound < MAX_DIALOGS) {
            size_t n = strlen(e->d_name);
            if (e->d_name[0] == '.' || n < 8 || strcmp(e->d_name + n - 7, ".dialog"))
                continue;
            size_t len = strlen(tdir) + 1 + n + 1;
            if ((found[nfound] = malloc(len)))
                snprintf(found[nfound++], len, "%s/%s", tdir, e->d_name);
        }
        if (d)
            closedir(d);
        if (!nfound) {
            fprintf(stderr, "lipa-menu: no dialogues (%s/*.dialog)\n", tdir);
            goto out;
        }
        qsort(found, (size_t)nfound, sizeof found[0], cmp_str);
        files = found;
        nfiles = nfound;
    }
    if (!(have_cv = coverage_init(&cv, m, c))) {
        fprintf(stderr, "lipa-menu: out of memory\n");
        goto out;
    }
    for (int i = 0; i < nfiles; i++)
        failed += !dialog_run(m, c, files[i], &cv, stdout);
    coverage_print(&cv, m, c, stdout);
    printf("dialogues: %d passed, %d failed\n", nfiles - failed, failed);
    rc = failed ? 1 : 0;
out:
    if (have_cv)
        coverage_free(&cv);
    for (int i = 0; i < nfound; i++)
        free(found[i]);
    buf_free(&errors);
    text_commands_unref(c);
    ussd_menus_unref(m);
    return rc;
}

static int cmd_graph(const char *dir)
{
    struct buf dot;
    struct ussd_menus *m = load(dir);
    if (!m)
        return 1;
    buf_init(&dot, 0);
    ussd_menus_dot(m, &dot);
    fputs(dot.data ? dot.data : "", stdout);
    buf_free(&dot);
    ussd_menus_unref(m);
    return 0;
}

static const char usage_text[] = "usage: lipa-menu check DIR\n"
                                 "       lipa-menu render DIR SCREEN [en|sw] [var=value ...]\n"
                                 "       lipa-menu walk DIR TEXT [en|sw]    (TEXT like 1*1*100*1)\n"
                                 "       lipa-menu test DIR [FILE.dialog ...]\n"
                                 "       lipa-menu graph DIR                (Graphviz dot on stdout)\n";

static int usage(void)
{
    fputs(usage_text, stderr);
    return 2;
}

static const char *lang_arg(int argc, char **argv, int i)
{
    if (i >= argc)
        return "en";
    if (strcmp(argv[i], "en") && strcmp(argv[i], "sw"))
        return NULL;
    return argv[i];
}

int main(int argc, char **argv)
{
    int asked = version_args(argc, argv, "lipa-menu", usage_text);
    if (asked >= 0)
        return asked;
    /* what lipad would log of a scripted world is no news to a menu author */
    log_set_level(LOG_ERROR);
    if (argc == 3 && !strcmp(argv[1], "check"))
        return cmd_check(argv[2]);
    if (argc >= 4 && !strcmp(argv[1], "render")) {
        const char *lang = lang_arg(argc, argv, 4);
        if (!lang)
            return usage();
        return cmd_render(argv[2], argv[3], lang, argv + 5, argc > 5 ? argc - 5 : 0);
    }
    if ((argc == 4 || argc == 5) && !strcmp(argv[1], "walk")) {
        const char *lang = lang_arg(argc, argv, 4);
        if (!lang)
            return usage();
        return cmd_walk(argv[2], argv[3], lang);
    }
    if (argc >= 3 && !strcmp(argv[1], "test"))
        return cmd_test(argv[2], argv + 3, argc - 3);
    if (argc == 3 && !strcmp(argv[1], "graph"))
        return cmd_graph(argv[2]);
    return usage();
}
