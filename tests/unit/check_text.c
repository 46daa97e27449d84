/* check_text: texting commands as a sender or an admin would notice them:
 * the shipped menus/sms.yaml matches every command in English and Swahili
 * with the right meter, amount and litres; text is normalized (case,
 * spaces, stray punctuation) and hostile text (very long, binary, unicode,
 * SQL, format strings) matches nothing it should not; the loader names
 * file:line for every mistake, including two commands whose patterns can
 * match the same text; answers cannot be made to carry a placeholder a
 * sender typed. Runs from the repository root. */
#include "runner.h"
#include "app/app.h"
#include "text/commands.h"
#include "util/gsm.h"
#include "util/str.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define SHIPPED "menus"

/* ---------- helpers ---------- */

static struct text_commands *shipped(void)
{
    struct buf errors;
    buf_init(&errors, 0);
    struct text_commands *c = NULL;
    bool ok = text_commands_load_dir(SHIPPED, &c, &errors);
    ck_assert_msg(ok && c, "menus/sms.yaml refused:\n%s", errors.data ? errors.data : "");
    buf_free(&errors);
    return c;
}

static char tmpdir[256];

static void tmp_setup(void)
{
    const char *base = getenv("TMPDIR");
    snprintf(tmpdir, sizeof tmpdir, "%s/lipa-sms-XXXXXX", base && *base ? base : "/tmp");
    ck_assert_msg(mkdtemp(tmpdir) != NULL, "mkdtemp");
}

static void tmp_teardown(void)
{
    test_tmp_remove(tmpdir);
}

/* ---------- normalizing ---------- */

static void norm_is(const char *in, const char *want)
{
    char out[TEXT_NORM_MAX];
    ck_assert_msg(text_normalize(in, out, sizeof out), "normalize(%s) did not fit", in);
    ck_assert_msg(!strcmp(out, want), "normalize(\"%s\") = \"%s\", want \"%s\"", in, out, want);
}

START_TEST(normalize_case_spaces_punctuation)
{
    norm_is("bal", "BAL");
    norm_is("  bal.   2  ", "BAL 2");
    norm_is("Bal!!!", "BAL");
    norm_is("\tbuy\r\n2\n\n500", "BUY 2 500");
    norm_is("buy, 2, 500.", "BUY 2 500");
    norm_is("BUY 1,000", "BUY 1000");          /* thousands separator */
    norm_is("buy Nyumba-A 200", "BUY NYUMBA-A 200"); /* joiners inside names stay */
    norm_is("bal 12/B", "BAL 12/B");
    norm_is("bal -A- --", "BAL A");
    norm_is("\"salio\" (2)", "SALIO 2");
    norm_is("", "");
    norm_is("?!.,", "");
}
END_TEST

START_TEST(normalize_unicode_and_binary)
{
    norm_is("\xe2\x80\x9c" "bal" "\xe2\x80\x9d", "BAL");      /* curly quotes */
    norm_is("bal\xc2\xa0" "2", "BAL 2");                        /* no-break space */
    norm_is("\xff\xfe" "bal\x80 2\xc0", "BAL 2");               /* invalid UTF-8 */
    norm_is("\x01\x02" "bal\x1b[31m", "BAL 31M");               /* control bytes */
    norm_is("bal \xf0\x9f\x98\x80", "BAL \xf0\x9f\x98\x80");    /* an emoji stays (and matches nothing) */
    norm_is("\xd0\x92\xd0\x90L", "\xd0\x92\xd0\x90L");          /* Cyrillic look-alikes are not BAL */
}
END_TEST

START_TEST(normalize_too_long)
{
    char in[5000], out[TEXT_NORM_MAX];
    for (size_t i = 0; i + 2 < sizeof in; i += 2)
        in[i] = 'a', in[i + 1] = ' ';
    in[sizeof in - 1] = 0;
    ck_assert(!text_normalize(in, out, sizeof out));
    ck_assert_uint_lt(strlen(out), sizeof out);
    ck_assert(text_normalize("bal", out, 4));
    ck_assert(!text_normalize("bal", out, 3));
}
END_TEST

/* ---------- matching the shipped file ---------- */

struct want {
    const char *text, *command;
    enum text_lang lang;
    const char *meter, *amount, *liters;
};

static const struct want every_command[] = {
    {"bal", "balance", TEXT_EN, "", "", ""},
    {"BAL 2", "balance", TEXT_EN, "2", "", ""},
    {"balance Nyumba A", "balance", TEXT_EN, "NYUMBA A", "", ""},
    {"Bal. 37000000001", "balance", TEXT_EN, "37000000001", "", ""},
    {"salio", "balance", TEXT_SW, "", "", ""},
    {"SALIO duka kuu", "balance", TEXT_SW, "DUKA KUU", "", ""},
    {"buy 100", "buy", TEXT_EN, "", "100", ""},
    {"Buy 2 500", "buy", TEXT_EN, "2", "500", ""},
    {"BUY Nyumba A KES 1,000", "buy", TEXT_EN, "NYUMBA A", "1000", ""},
    {"top up 37000000001 ksh200", "buy", TEXT_EN, "37000000001", "200", ""},
    {"buy 1 50 bob", "buy", TEXT_EN, "1", "50", ""},
    {"nunua 100", "buy", TEXT_SW, "", "100", ""},
    {"NUNUA 2 sh 300", "buy", TEXT_SW, "2", "300", ""},
    {"nunua duka 250 shilingi", "buy", TEXT_SW, "DUKA", "250", ""},
    {"meters", "meters", TEXT_EN, "", "", ""},
    {"My Meters", "meters", TEXT_EN, "", "", ""},
    {"mita", "meters", TEXT_SW, "", "", ""},
    {"Mita yangu", "meters", TEXT_SW, "", "", ""},
    {"token", "token", TEXT_EN, "", "", ""},
    {"TOKEN 2", "token", TEXT_EN, "2", "", ""},
    {"risiti", "token", TEXT_SW, "", "", ""},
    {"tokeni nyumba", "token", TEXT_SW, "NYUMBA", "", ""},
    {"water 20L", "water", TEXT_EN, "", "", "20"},
    {"Water 20 litres", "water", TEXT_EN, "", "", "20"},
    {"WATER 150", "water", TEXT_EN, "", "150", ""},
    {"maji 20 lita", "water", TEXT_SW, "", "", "20"},
    {"MAJI KSH 50", "water", TEXT_SW, "", "50", ""},
    {"help", "help", TEXT_EN, "", "", ""},
    {"Help?", "help", TEXT_EN, "", "", ""},
    {"msaada", "help", TEXT_SW, "", "", ""},
    {"stop", "stop", TEXT_EN, "", "", ""},
    {"STOP ALL", "stop", TEXT_EN, "", "", ""},
    {"acha", "stop", TEXT_SW, "", "", ""},
    {"start", "start", TEXT_EN, "", "", ""},
    {"anza", "start", TEXT_SW, "", "", ""},
};

START_TEST(shipped_matches_every_command_in_both_languages)
{
    struct text_commands *c = shipped();
    const struct want *w = &every_command[_i];
    char norm[TEXT_NORM_MAX];
    struct text_match m;
    ck_assert(text_normalize(w->text, norm, sizeof norm));
    ck_assert_msg(text_commands_match(c, norm, &m), "'%s' matched nothing", w->text);
    ck_assert_str_eq(text_command_name(m.cmd), w->command);
    ck_assert_msg(m.lang == w->lang, "'%s': language %d, want %d", w->text, m.lang, w->lang);
    ck_assert_str_eq(m.meter, w->meter);
    ck_assert_str_eq(m.amount, w->amount);
    ck_assert_str_eq(m.liters, w->liters);
    text_commands_unref(c);
}
END_TEST

static const char *const no_command[] = {
    "hello",
    "BUY",                    /* no amount */
    "BUY abc",
    "buys 100",
    "balancing",
    "water",                  /* neither litres nor amount */
    "stop please now",
    "metre",
    "BUY 37000000001",        /* a meter number is not an amount */
    "1",
    "",
    "\xd0\x92\xd0\x90L",      /* Cyrillic */
    "bal\xf0\x9f\x98\x80",    /* an emoji glued to a keyword */
    "'; DROP TABLE users; --",
    "%s%s%s%n%n%x",
    "{{7*7}}",
    "${jndi:ldap://x}",
};

START_TEST(shipped_refuses_what_is_no_command)
{
    struct text_commands *c = shipped();
    char norm[TEXT_NORM_MAX];
    struct text_match m;
    bool fits = text_normalize(no_command[_i], norm, sizeof norm);
    ck_assert_msg(!fits || !text_commands_match(c, norm, &m), "'%s' matched %s", no_command[_i],
                  m.cmd ? text_command_name(m.cmd) : "?");
    text_commands_unref(c);
}
END_TEST

START_TEST(hostile_text_keeps_its_groups_harmless)
{
    struct text_commands *c = shipped();
    char norm[TEXT_NORM_MAX];
    struct text_match m;
    /* SQL and format strings in a meter name reach the matcher as plain words */
    ck_assert(text_normalize("bal 1' OR '1'='1", norm, sizeof norm));
    ck_assert(text_commands_match(c, norm, &m));
    ck_assert_str_eq(m.meter, "1 OR 1 1");
    ck_assert(text_normalize("bal %s%n{token}", norm, sizeof norm));
    ck_assert(text_commands_match(c, norm, &m));
    ck_assert_str_eq(m.meter, "S N TOKEN");
    /* a very long text is not a command at all */
    char *big = malloc(100000);
    memset(big, 'A', 99999);
    memcpy(big, "BAL ", 4);
    big[99999] = 0;
    ck_assert(!text_normalize(big, norm, sizeof norm));
    free(big);
    /* binary: every byte value once */
    char bin[256];
    for (int i = 1; i < 256; i++)
        bin[i - 1] = (char)i;
    bin[255] = 0;
    ck_assert(text_normalize(bin, norm, sizeof norm));
    ck_assert(!text_commands_match(c, norm, &m));
    ck_assert(str_is_clean_utf8(norm, strlen(norm)));
    text_commands_unref(c);
}
END_TEST

START_TEST(shipped_texts_and_registry)
{
    struct text_commands *c = shipped();
    ck_assert_int_eq(text_commands_count(c), 8);
    static const char *const keys[] = {"help", "unregistered", "not_yours", "which_meter", "no_meters", "error"};
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++)
        for (int l = 0; l < TEXT_NLANG; l++) {
            const char *t = text_message(c, keys[i], (enum text_lang)l);
            ck_assert_msg(t && *t, "message %s missing", keys[i]);
            ck_assert_msg(gsm_septets(t) >= 0, "message %s not GSM-7", keys[i]);
        }
    ck_assert(text_message(c, "nope", TEXT_EN) == NULL);
    ck_assert(text_action_needs_user(TEXT_BUY));
    ck_assert(!text_action_needs_user(TEXT_STOP));
    ck_assert(!text_action_needs_user(TEXT_HELP));
    char norm[TEXT_NORM_MAX];
    struct text_match m;
    ck_assert(text_normalize("risiti", norm, sizeof norm) && text_commands_match(c, norm, &m));
    ck_assert(strstr(text_reply(m.cmd, "ok", TEXT_SW), "{token}") != NULL);
    ck_assert(strstr(text_reply(m.cmd, "ok", TEXT_EN), "{token}") != NULL);
    ck_assert(text_reply(m.cmd, "nope", TEXT_EN) == NULL);
    /* the Swahili help is in Swahili */
    ck_assert(strstr(text_message(c, "help", TEXT_SW), "SALIO") != NULL);
    ck_assert(strstr(text_message(c, "help", TEXT_EN), "BAL") != NULL);
    text_commands_unref(c);
}
END_TEST

/* ---------- rendering ---------- */

START_TEST(render_fills_and_disarms_values)
{
    char out[256];
    const struct text_var v[] = {{"meter", "{token}"}, {"name", "Duka\n\x01Kuu \xe2\x80\x9cX\xe2\x80\x9d"}};
    text_render("Meter {meter} ({name}) {token} {unknown}", v, 2, out, sizeof out);
    /* a value cannot smuggle a placeholder; the template's own stays */
    ck_assert_str_eq(out, "Meter token (Duka\n Kuu ?X?) {token} {unknown}");
    ck_assert(gsm_septets(out) >= 0);
    text_render("%s %n {meter}", (const struct text_var[]){{"meter", "%x%n"}}, 1, out, sizeof out);
    ck_assert_str_eq(out, "%s %n %x%n");
    /* cut at the buffer, never inside a character or a placeholder */
    text_render("ab\xc3\xa9", NULL, 0, out, 4);
    ck_assert_str_eq(out, "ab");
    text_render("ab{token}", NULL, 0, out, 6);
    ck_assert_str_eq(out, "ab");
}
END_TEST

/* ---------- the loader ---------- */

static const char base_yaml[] =
    "messages:\n"                                                          /* 1 */
    "  help: {en: \"Help\", sw: \"Msaada\"}\n"                            /* 2 */
    "  unregistered: {en: \"Register\", sw: \"Jisajili\"}\n"              /* 3 */
    "  not_yours: {en: \"Not yours {meter}\", sw: \"Si yako {meter}\"}\n" /* 4 */
    "  which_meter: {en: \"Which {list}\", sw: \"Ipi {list}\"}\n"         /* 5 */
    "  no_meters: {en: \"None\", sw: \"Hakuna\"}\n"                       /* 6 */
    "  error: {en: \"Error\", sw: \"Hitilafu\"}\n"                        /* 7 */
    "commands:\n"                                                          /* 8 */
    "  help:\n"                                                            /* 9 */
    "    action: help\n"                                                   /* 10 */
    "    pattern: {en: 'HELP', sw: 'MSAADA'}\n"                           /* 11 */
    "    examples: {en: [help], sw: [msaada]}\n"                          /* 12 */
    "  stop:\n"                                                            /* 13 */
    "    action: stop\n"                                                   /* 14 */
    "    pattern: {en: 'STOP', sw: 'ACHA'}\n"                             /* 15 */
    "    examples: {en: [stop], sw: [acha]}\n"                            /* 16 */
    "    replies: {ok: {en: \"Stopped\", sw: \"Imesitishwa\"}}\n"         /* 17 */
    "  start:\n"                                                           /* 18 */
    "    action: start\n"                                                  /* 19 */
    "    pattern: {en: 'START', sw: 'ANZA'}\n"                            /* 20 */
    "    examples: {en: [start], sw: [anza]}\n"                           /* 21 */
    "    replies: {ok: {en: \"Started\", sw: \"Imeanza\"}}\n";            /* 22 */

/* Loads base_yaml (minus nothing) plus extra; returns the problems ("" when
 * the file loaded); sets *count to the number of commands loaded. */
static char *load_with(const char *extra, int *count)
{
    char path[400];
    snprintf(path, sizeof path, "%s/%s", tmpdir, TEXT_COMMANDS_FILE);
    FILE *f = fopen(path, "w");
    ck_assert(f != NULL);
    fputs(base_yaml, f);
    fputs(extra, f);
    fclose(f);
    struct buf errors;
    buf_init(&errors, 0);
    struct text_commands *c = NULL;
    bool ok = text_commands_load_dir(tmpdir, &c, &errors);
    ck_assert(ok == (c != NULL));
    *count = text_commands_count(c);
    text_commands_unref(c);
    char *out = strdup(errors.data ? errors.data : "");
    buf_free(&errors);
    return out;
}

static void refused_with(const char *extra, const char *where, const char *what)
{
    int n;
    char *e = load_with(extra, &n);
    ck_assert_msg(n == 0, "loaded although it should not:\n%s", extra);
    ck_assert_msg(strstr(e, where) && strstr(e, what), "want '%s' ... '%s' in:\n%s", where, what, e);
    free(e);
}

START_TEST(loader_accepts_minimal)
{
    int n;
    char *e = load_with("", &n);
    ck_assert_msg(!*e, "%s", e);
    ck_assert_int_eq(n, 3);
    free(e);
}
END_TEST

START_TEST(loader_names_overlapping_commands)
{
    /* "BAL" is an example of balance and also matches the pattern of bal2 */
    refused_with("  balance:\n"
                 "    action: balance\n"
                 "    pattern: {en: 'BAL(?: (?<meter>.+))?', sw: 'SALIO(?: (?<meter>.+))?'}\n"
                 "    examples: {en: [bal, bal 2], sw: [salio]}\n"
                 "    replies:\n"
                 "      ok: {en: \"{meter} {kwh}\", sw: \"{meter} {kwh}\"}\n"
                 "      unavailable: {en: \"No\", sw: \"Hapana\"}\n"
                 "  bal2:\n"
                 "    action: meters\n"
                 "    pattern: {en: 'BAL|METERS', sw: 'MITA'}\n"
                 "    examples: {en: [meters], sw: [mita]}\n"
                 "    replies: {ok: {en: \"{list}\", sw: \"{list}\"}}\n",
                 "sms.yaml:26:", "commands balance and bal2 can match the same text: example 'bal' of balance");
}
END_TEST

START_TEST(loader_checks_examples_and_groups)
{
    refused_with("  buy:\n"
                 "    action: buy\n"
                 "    pattern: {en: 'BUY (?<amount>\\d+)', sw: 'NUNUA(?: (?<amount>\\d+))?'}\n"
                 "    examples: {en: [buy 100], sw: [nunua]}\n"
                 "    replies:\n"
                 "      ok: {en: \"ok\", sw: \"sawa\"}\n"
                 "      amount_range: {en: \"{min}\", sw: \"{max}\"}\n"
                 "      inactive: {en: \"off\", sw: \"zima\"}\n"
                 "      failed: {en: \"no\", sw: \"hapana\"}\n",
                 "sms.yaml:26:", "example 'nunua' captures no amount group");
    refused_with("  buy:\n"
                 "    action: buy\n"
                 "    pattern: {en: 'BUY (?<amount>\\d+)', sw: 'NUNUA (?<litres>\\d+)'}\n"
                 "    examples: {en: [buy 100], sw: [nunua 1]}\n",
                 "sms.yaml:25:", "unknown group 'litres'");
    refused_with("  m:\n"
                 "    action: meters\n"
                 "    pattern: {en: 'METERS', sw: 'MITA'}\n"
                 "    examples: {en: [meter], sw: [mita]}\n"
                 "    replies: {ok: {en: \"{list}\", sw: \"{list}\"}}\n",
                 "sms.yaml:26:", "en example 'meter' (normalized 'METER') does not match its en pattern");
    refused_with("  m:\n"
                 "    action: meters\n"
                 "    pattern: {en: 'METERS(', sw: 'MITA'}\n"
                 "    examples: {en: [meters], sw: [mita]}\n"
                 "    replies: {ok: {en: \"{list}\", sw: \"{list}\"}}\n",
                 "sms.yaml:25:", "invalid pattern");
    refused_with("  m:\n"
                 "    action: meters\n"
                 "    pattern: {en: 'METERS', sw: 'MITA'}\n"
                 "    examples: {en: [meters]}\n"
                 "    replies: {ok: {en: \"{list}\", sw: \"{list}\"}}\n",
                 "sms.yaml:26:", "examples needs a non-empty sw list");
}
END_TEST

START_TEST(loader_checks_texts)
{
    refused_with("  m:\n"
                 "    action: meters\n"
                 "    pattern: {en: 'METERS', sw: 'MITA'}\n"
                 "    examples: {en: [meters], sw: [mita]}\n"
                 "    replies: {ok: {en: \"{list} {amount}\", sw: \"{list}\"}}\n",
                 "sms.yaml:27:", "unknown placeholder {amount}");
    refused_with("  m:\n"
                 "    action: meters\n"
                 "    pattern: {en: 'METERS', sw: 'MITA'}\n"
                 "    examples: {en: [meters], sw: [mita]}\n"
                 "    replies: {ok: {en: \"{list}\"}}\n",
                 "sms.yaml:27:", "missing sw translation of reply ok of m");
    refused_with("  m:\n"
                 "    action: meters\n"
                 "    pattern: {en: 'METERS', sw: 'MITA'}\n"
                 "    examples: {en: [meters], sw: [mita]}\n"
                 "    replies: {ok: {en: \"{list} \xe2\x80\x99\", sw: \"{list}\"}}\n",
                 "sms.yaml:27:", "outside GSM-7");
    refused_with("  t:\n"
                 "    action: token\n"
                 "    pattern: {en: 'TOKEN', sw: 'RISITI'}\n"
                 "    examples: {en: [token], sw: [risiti]}\n"
                 "    replies:\n"
                 "      ok: {en: \"{token}\", sw: \"tokeni\"}\n"
                 "      none: {en: \"none\", sw: \"hakuna\"}\n",
                 "sms.yaml:28:", "the sw reply ok must hold {token}");
    refused_with("  x:\n"
                 "    action: balance\n"
                 "    pattern: {en: 'BAL', sw: 'SALIO'}\n"
                 "    examples: {en: [bal], sw: [salio]}\n"
                 "    replies: {ok: {en: \"{kwh} {token}\", sw: \"{kwh}\"}, unavailable: {en: a, sw: b}}\n",
                 "sms.yaml:27:", "unknown placeholder {token}");
    refused_with("  x:\n"
                 "    action: dance\n",
                 "sms.yaml:24:", "unknown action 'dance'");
    refused_with("  help:\n"
                 "    action: help\n",
                 "sms.yaml:23:", "command help given twice");
}
END_TEST

START_TEST(loader_requires_stop_start_help_and_syntax)
{
    char path[400];
    snprintf(path, sizeof path, "%s/%s", tmpdir, TEXT_COMMANDS_FILE);
    FILE *f = fopen(path, "w");
    fputs("messages: {}\ncommands:\n  a:\n    action: meters\n    pattern: {en: 'M', sw: [\n", f);
    fclose(f);
    struct buf errors;
    buf_init(&errors, 0);
    struct text_commands *c = NULL;
    ck_assert(!text_commands_load_dir(tmpdir, &c, &errors));
    ck_assert_msg(strstr(errors.data, "sms.yaml:") && strstr(errors.data, "YAML syntax error"), "%s", errors.data);
    buf_free(&errors);

    f = fopen(path, "w");
    fputs("messages:\n  help: {en: a, sw: b}\ncommands:\n  h:\n    action: help\n"
          "    pattern: {en: 'HELP', sw: 'MSAADA'}\n    examples: {en: [help], sw: [msaada]}\n", f);
    fclose(f);
    buf_init(&errors, 0);
    ck_assert(!text_commands_load_dir(tmpdir, &c, &errors));
    ck_assert_msg(strstr(errors.data, "no command runs action stop") &&
                      strstr(errors.data, "no command runs action start") &&
                      strstr(errors.data, "messages needs 'unregistered'"),
                  "%s", errors.data);
    buf_free(&errors);

    /* no sms.yaml at all: texting commands are off, not an error */
    remove(path);
    buf_init(&errors, 0);
    ck_assert(text_commands_load_dir(tmpdir, &c, &errors));
    ck_assert(c == NULL);
    ck_assert(errors.len == 0);
    buf_free(&errors);
}
END_TEST

Suite *test_suite(void)
{
    Suite *s = suite_create("text");
    TCase *tc = tcase_create("commands");
    tcase_add_test(tc, normalize_case_spaces_punctuation);
    tcase_add_test(tc, normalize_unicode_and_binary);
    tcase_add_test(tc, normalize_too_long);
    tcase_add_loop_test(tc, shipped_matches_every_command_in_both_languages, 0,
                        (int)(sizeof every_command / sizeof every_command[0]));
    tcase_add_loop_test(tc, shipped_refuses_what_is_no_command, 0, (int)(sizeof no_command / sizeof no_command[0]));
    tcase_add_test(tc, hostile_text_keeps_its_groups_harmless);
    tcase_add_test(tc, shipped_texts_and_registry);
    tcase_add_test(tc, render_fills_and_disarms_values);
    suite_add_tcase(s, tc);

    tc = tcase_create("loader");
    tcase_add_checked_fixture(tc, tmp_setup, tmp_teardown);
    tcase_add_test(tc, loader_accepts_minimal);
    tcase_add_test(tc, loader_names_overlapping_commands);
    tcase_add_test(tc, loader_checks_examples_and_groups);
    tcase_add_test(tc, loader_checks_texts);
    tcase_add_test(tc, loader_requires_stop_start_help_and_syntax);
    suite_add_tcase(s, tc);

    return s;
}
