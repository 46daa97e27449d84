/* lipa-menu: checks and shows USSD menu files without a running service.
 *
 *   lipa-menu check DIR                          load and check the menus and
 *                                                DIR/sms.yaml; exit 1 on problems
 *   lipa-menu render DIR SCREEN [en|sw] [var=value ...]
 *                                                one screen as the phone shows it
 *   lipa-menu walk DIR TEXT [en|sw]              a whole dial, TEXT as Africa's
 *                                                Talking sends it: "1*1*100*1"
 *
 * render and walk use a sample host: two meters, amounts KES 10 to 10000 at
 * KES 25 a kWh, and every action succeeding. */
#include "text/commands.h"
#include "ussd/ussd.h"

#include "util/buf.h"
#include "util/gsm.h"
#include "util/str.h"
#include "util/version.h"

#include <stdio.h>
#include <string.h>

#define SAMPLE_MIN 10
#define SAMPLE_MAX 10000
#define SAMPLE_PRICE 25

static const struct ussd_item sample_meters[] = {
    {"37000000001", "Nyumba A"},
    {"37000000002", "Duka Kuu"},
};

static int sample_list(void *ctx, const char *source, const char *phone, struct ussd_item *items, int max)
{
    int n = 0;
    if (strcmp(source, "meters"))
        return -1;
    for (size_t i = 0; i < sizeof sample_meters / sizeof sample_meters[0] && n < max; i++)
        items[n++] = sample_meters[i];
    return n;
}

static const char *sample_action(void *ctx, const char *name, const char *phone, const char *session_id,
                                 struct ussd_session *s)
{
    if (!strcmp(name, "electricity_amount")) {
        int64_t amount;
        char t[32];
        snprintf(t, sizeof t, "%d", SAMPLE_MIN);
        ussd_var_set(s, "min", t);
        snprintf(t, sizeof t, "%d", SAMPLE_MAX);
        ussd_var_set(s, "max", t);
        if (!str_to_i64(ussd_var(s, "amount"), 0, 999999, &amount))
            return "amount_invalid";
        if (amount < SAMPLE_MIN || amount > SAMPLE_MAX)
            return "amount_range";
        int64_t centi = amount * 100 / SAMPLE_PRICE;
        snprintf(t, sizeof t, "%lld.%02lld", (long long)(centi / 100), (long long)(centi % 100));
        ussd_var_set(s, "kwh", t);
        return NULL;
    }
    if (!strcmp(name, "buy_electricity") || !strcmp(name, "set_language"))
        return NULL;
    return "system_error";
}

static const struct ussd_host sample_host = {NULL, sample_list, sample_action};

static void preset(struct ussd_session *s)
{
    char t[16];
    snprintf(t, sizeof t, "%d", SAMPLE_MIN);
    ussd_var_set(s, "min", t);
    snprintf(t, sizeof t, "%d", SAMPLE_MAX);
    ussd_var_set(s, "max", t);
}

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

static int cmd_render(const char *dir, const char *screen, const char *lang, char **vars, int nvars)
{
    int rc = 1;
    struct buf reply;
    struct ussd_session s;
    bool end;
    buf_init(&reply, USSD_REPLY_MAX);
    struct ussd_menus *m = load(dir);
    if (!m)
        goto out;
    ussd_session_init(&s, lang);
    preset(&s);
    ussd_var_set(&s, "meter", sample_meters[0].id);
    ussd_var_set(&s, "meter_name", sample_meters[0].label);
    ussd_var_set(&s, "amount", "100");
    ussd_var_set(&s, "kwh", "4.00");
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
    if (!ussd_show(m, &sample_host, "+254700000000", "render", &s, screen, &reply, false, &end)) {
        fprintf(stderr, "lipa-menu: no screen '%s' in %s\n", screen, dir);
        goto out;
    }
    print_reply(&reply);
    rc = 0;
out:
    buf_free(&reply);
    ussd_menus_unref(m);
    return rc;
}

static int cmd_walk(const char *dir, const char *text, const char *lang)
{
    int rc = 1;
    struct buf reply;
    struct ussd_session s;
    static char state[USSD_SESSION_TEXT_MAX];
    char inputs[256];
    buf_init(&reply, USSD_REPLY_MAX);
    struct ussd_menus *m = load(dir);
    if (!m)
        goto out;
    if (!str_copy(inputs, sizeof inputs, text)) {
        fprintf(stderr, "lipa-menu: TEXT too long\n");
        goto out;
    }
    ussd_session_init(&s, lang);
    preset(&s);
    bool end = ussd_step(m, &sample_host, "+254700000000", "walk", &s, NULL, &reply);
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
        end = ussd_step(m, &sample_host, "+254700000000", "walk", &s, p, &reply);
        printf("> %s\n", p);
        print_reply(&reply);
        p = star ? star + 1 : p + strlen(p);
    }
    rc = 0;
out:
    buf_free(&reply);
    ussd_menus_unref(m);
    return rc;
}

static const char usage_text[] = "usage: lipa-menu check DIR\n"
                                 "       lipa-menu render DIR SCREEN [en|sw] [var=value ...]\n"
                                 "       lipa-menu walk DIR TEXT [en|sw]    (TEXT like 1*1*100*1)\n";

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
    return usage();
}
