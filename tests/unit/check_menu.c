/* check_menu: bin/lipa-menu as a menu author uses it, run as a program
 * (LIPA_TEST_BIN, build/san/bin by default) from the repository's top
 * folder: every shipped dialogue passes; a changed menu text, or a changed
 * expected line, fails naming the dialogue's file and line; the coverage
 * line names what no dialogue visits; the committed picture
 * (docs/menus.dot) is what the menus give; check reports one typo once and
 * warns of an SMS reply that takes two parts; walk prices water. */
#include "runner.h"

#include "util/buf.h"
#include "util/str.h"

#include <check.h>
#include <dirent.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define MAX_DIALOGS 64

static char dialogs[MAX_DIALOGS][512];
static int ndialogs;

static const char *bin(void)
{
    const char *b = getenv("LIPA_TEST_BIN");
    return b && *b ? b : "build/san/bin";
}

/* Runs "lipa-menu ARGS" (ARGS trusted: paths of this test) with stderr
 * joined to stdout; the output (caller frees) and the exit status. */
static char *menu(int *status, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static char *menu(int *status, const char *fmt, ...)
{
    char args[1024], cmd[1400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(args, sizeof args, fmt, ap);
    va_end(ap);
    snprintf(cmd, sizeof cmd, "%s/lipa-menu %s 2>&1", bin(), args);
    FILE *p = popen(cmd, "r");
    ck_assert_msg(p != NULL, "cannot run %s", cmd);
    struct buf out;
    buf_init(&out, 0);
    char chunk[4096];
    size_t n;
    while ((n = fread(chunk, 1, sizeof chunk, p)) > 0)
        buf_append(&out, chunk, n);
    int rc = pclose(p);
    *status = WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
    buf_puts(&out, "");
    return buf_steal(&out);
}

static char *slurp(const char *path)
{
    FILE *f = fopen(path, "rb");
    ck_assert_msg(f != NULL, "cannot open %s", path);
    struct buf b;
    buf_init(&b, 0);
    char chunk[4096];
    size_t n;
    while ((n = fread(chunk, 1, sizeof chunk, f)) > 0)
        buf_append(&b, chunk, n);
    fclose(f);
    buf_puts(&b, "");
    return buf_steal(&b);
}

static void spit(const char *path, const char *text)
{
    FILE *f = fopen(path, "wb");
    ck_assert_msg(f != NULL, "cannot write %s", path);
    fputs(text, f);
    fclose(f);
}

/* text with the first `from` replaced by `to` (caller frees) */
static char *replaced(const char *text, const char *from, const char *to)
{
    const char *at = strstr(text, from);
    ck_assert_msg(at != NULL, "'%s' is not in the text any more", from);
    struct buf b;
    buf_init(&b, 0);
    buf_append(&b, text, (size_t)(at - text));
    buf_puts(&b, to);
    buf_puts(&b, at + strlen(from));
    return buf_steal(&b);
}

/* 1-based line of the first line of text that contains what */
static int line_of(const char *text, const char *what)
{
    const char *at = strstr(text, what);
    ck_assert_msg(at != NULL, "'%s' not found", what);
    int line = 1;
    for (const char *p = text; p < at; p++)
        line += *p == '\n';
    return line;
}

/* A copy of menus/ (the .yaml files and tests/) in a fresh directory. */
static void copy_menus(char *dir, size_t n)
{
    char tmpl[] = "/tmp/lipa-menu-XXXXXX";
    ck_assert(mkdtemp(tmpl) != NULL);
    str_copy(dir, n, tmpl);
    char cmd[512];
    snprintf(cmd, sizeof cmd, "cp -r menus/. %s/", dir);
    ck_assert_int_eq(system(cmd), 0);
}

static void edit(const char *dir, const char *file, const char *from, const char *to)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s", dir, file);
    char *text = slurp(path), *t = replaced(text, from, to);
    spit(path, t);
    free(t);
    free(text);
}

static void expect(const char *out, const char *what)
{
    ck_assert_msg(strstr(out, what) != NULL, "expected\n  %s\nin\n%s", what, out);
}

/* ---- the shipped dialogues ---- */

START_TEST(test_shipped_dialogue_passes)
{
    int st;
    char *out = menu(&st, "test menus %s", dialogs[_i]);
    ck_assert_msg(st == 0, "%s", out);
    expect(out, "ok   ");
    free(out);
}
END_TEST

START_TEST(test_every_screen_and_command_visited)
{
    int st;
    char *out = menu(&st, "test menus");
    ck_assert_msg(st == 0, "%s", out);
    expect(out, "coverage: every screen (");
    expect(out, "dialogues: ");
    free(out);
    /* one dialogue alone leaves the rest unvisited, and the line says which */
    out = menu(&st, "test menus menus/tests/my_meters_en.dialog");
    ck_assert_msg(st == 0, "%s", out);
    expect(out, "coverage: in en no dialogue visits ");
    expect(out, " elec_confirm ");
    expect(out, " water_resend_kept");
    expect(out, "SMS commands: balance buy");
    free(out);
}
END_TEST

/* ---- a change a dialogue pins ---- */

START_TEST(test_changed_menu_text_fails_with_file_and_line)
{
    char dir[64], want[512];
    int st;
    copy_menus(dir, sizeof dir);
    edit(dir, "electricity.yaml", "about {kwh} kWh", "about {kwh} units");
    char path[256];
    snprintf(path, sizeof path, "%s/tests/electricity_en.dialog", dir);
    char *dialog = slurp(path);
    char *out = menu(&st, "test %s %s", dir, path);
    ck_assert_msg(st == 1, "%s", out);
    snprintf(want, sizeof want, "%s:%d: > 100: not what the dialogue expects\n", path,
             line_of(dialog, "KES 100, about "));
    expect(out, want);
    expect(out, "  expected: KES 100, about 4.0 kWh\n  got:      KES 100, about 4.0 units\n");
    expect(out, "dialogues: 0 passed, 1 failed");
    free(out);
    free(dialog);
    test_tmp_remove(dir);
}
END_TEST

START_TEST(test_changed_expected_line_fails_with_file_and_line)
{
    char dir[64], want[512], path[256];
    int st;
    copy_menus(dir, sizeof dir);
    snprintf(path, sizeof path, "%s/tests/sms_sw.dialog", dir);
    edit(dir, "tests/sms_sw.dialog", "Tuma ANZA kupokea tena.", "Tuma ANZA.");
    char *dialog = slurp(path);
    char *out = menu(&st, "test %s %s", dir, path);
    ck_assert_msg(st == 1, "%s", out);
    snprintf(want, sizeof want, "%s:%d: text ACHA: not what the dialogue expects\n", path,
             line_of(dialog, "Tuma ANZA."));
    expect(out, want);
    free(out);
    /* and a screen longer than the dialogue says */
    edit(dir, "tests/sms_sw.dialog", "Tuma ANZA.", "Tuma ANZA kupokea tena.");
    edit(dir, "main.yaml", "        goto: language\n",
         "        goto: language\n      - key: 5\n        label: {en: Help, sw: Msaada}\n        goto: language\n");
    snprintf(path, sizeof path, "%s/tests/language.dialog", dir);
    free(dialog);
    dialog = slurp(path);
    out = menu(&st, "test %s %s", dir, path);
    ck_assert_msg(st == 1, "%s", out);
    snprintf(want, sizeof want, "%s:%d: dial: the answer goes on after this line\n  got also: 5. Help\n", path,
             line_of(dialog, "4. Language / Lugha"));
    expect(out, want);
    free(out);
    free(dialog);
    test_tmp_remove(dir);
}
END_TEST

START_TEST(test_dialogue_mistakes_are_named)
{
    char dir[64], path[256];
    int st;
    copy_menus(dir, sizeof dir);
    snprintf(path, sizeof path, "%s/tests/x.dialog", dir);
    spit(path, "caller +254712345678 en\ndial\n> 1\n");
    char *out = menu(&st, "test %s %s", dir, path);
    ck_assert_int_eq(st, 1);
    char want[512];
    snprintf(want, sizeof want, "%s:2: dial needs what is expected after it on the lines below, indented\n", path);
    expect(out, want);
    free(out);
    spit(path, "caller +254712345678 en\npayment accepted X\n  lipa\n");
    out = menu(&st, "test %s %s", dir, path);
    snprintf(want, sizeof want, "%s:2: no payment is waiting for its outcome\n", path);
    expect(out, want);
    free(out);
    /* an SMS lipad sent that the dialogue leaves out */
    spit(path, "caller +254712345678 en\ncode WS-1-ABCD 20 active\ndial\n  CON Welcome to lipa\n  1. Buy electricity\n"
               "  2. Buy water\n  3. My meters\n  4. Language / Lugha\n> 2\n  CON Buy water\n  1. 20 L\n  2. 40 L\n"
               "  3. Other amount\n  4. My water codes\n  0 Back\n> 4\n  CON My water codes (litres, ref, valid until). "
               "Pick one for a new code:\n  1. 20L ABCD 09:10\n  0 Back, 00 Home\n> 1\n  CON Send a new code for 20L "
               "ABCD 09:10? The old code will stop working.\n  1. Yes\n  2. No\n  0 Back, 00 Home\n> 1\n"
               "  END A new code for 20L ABCD 09:10 is on its way by SMS.\n");
    out = menu(&st, "test %s %s", dir, path);
    ck_assert_int_eq(st, 1);
    snprintf(want, sizeof want, "%s:25: lipad sent an SMS here that the dialogue does not show", path);
    expect(out, want);
    free(out);
    test_tmp_remove(dir);
}
END_TEST

/* ---- the picture ---- */

START_TEST(test_committed_graph_is_current)
{
    int st;
    char *out = menu(&st, "graph menus");
    ck_assert_int_eq(st, 0);
    char *dot = slurp("docs/menus.dot");
    ck_assert_msg(!strcmp(out, dot),
                  "docs/menus.dot is not what the menus give: run make menu-graph and commit docs/menus.*");
    /* every screen is a node, every choice an edge */
    expect(out, "\"main\" -> \"elec_meter\" [label=\"1 Buy electricity\"];");
    expect(out, "\"water_confirm\" -> \"water_buy\" [label=\"1 Yes\"];");
    expect(out, "\"water_buy\" [shape=box, style=\"filled\", fillcolor=\"#fff2b3\", peripheries=2");
    free(dot);
    free(out);
}
END_TEST

/* ---- check and walk ---- */

START_TEST(test_check_reports_a_typo_once)
{
    char dir[64], want[512], path[256];
    int st;
    copy_menus(dir, sizeof dir);
    edit(dir, "main.yaml", "kind: menu", "kind: mneu");
    snprintf(path, sizeof path, "%s/main.yaml", dir);
    char *yaml = slurp(path);
    char *out = menu(&st, "check %s", dir);
    ck_assert_int_eq(st, 1);
    int lines = 0; /* of errors: warnings (a long SMS reply) aside */
    for (const char *p = out; *p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : p + strlen(p)) {
        const char *nl = strchr(p, '\n');
        const char *w = strstr(p, ": warning: ");
        lines += !w || (nl && w > nl);
    }
    ck_assert_msg(lines == 1, "%s", out);
    snprintf(want, sizeof want, "%s:%d: unknown screen kind 'mneu'", path, line_of(yaml, "kind: mneu"));
    expect(out, want);
    free(yaml);
    free(out);
    test_tmp_remove(dir);
}
END_TEST

START_TEST(test_check_warns_of_two_part_replies)
{
    char dir[64], path[256], want[512];
    int st;
    copy_menus(dir, sizeof dir);
    snprintf(path, sizeof path, "%s/sms.yaml", dir);
    edit(dir, "sms.yaml", "Notices from lipa are on again. Text STOP to end them.",
         "Notices from lipa are on again: receipts, tokens, codes, news of your meters and of lipa, and the "
         "occasional offer. Text STOP to end them, START to have them again.");
    char *yaml = slurp(path);
    char *out = menu(&st, "check %s", dir);
    ck_assert_msg(st == 0, "%s", out); /* a warning, not a refusal */
    snprintf(want, sizeof want, "%s:%d: warning: reply ok of command start in en can take 2 SMS parts (", path,
             line_of(yaml, "Notices from lipa are on again:"));
    expect(out, want);
    expect(out, "ok: ");
    free(out);
    free(yaml);
    test_tmp_remove(dir);
}
END_TEST

START_TEST(test_walk_prices_water)
{
    int st;
    char *out = menu(&st, "walk menus '2*1'");
    ck_assert_int_eq(st, 0);
    expect(out, "20 L of water\nKES 100 by M-Pesa\n");
    free(out);
    out = menu(&st, "walk menus '2*4*1*1' sw");
    ck_assert_int_eq(st, 0);
    expect(out, "END Nambari mpya ya 20L ");
    expect(out, "SMS lipa: Nambari mpya ya maji {code} kwa lita 20");
    ck_assert_msg(!strstr(out, "hitilafu"), "%s", out);
    free(out);
    out = menu(&st, "walk menus '1*2*250*1'");
    expect(out, "KES 250, about 10.0 kWh");
    expect(out, "SMS lipa: Paid KES 250 for meter 37000000002");
    free(out);
}
END_TEST

static int cmp(const void *a, const void *b) { return strcmp(a, b); }

Suite *test_suite(void)
{
    DIR *d = opendir("menus/tests");
    struct dirent *e;
    while (d && (e = readdir(d)) && ndialogs < MAX_DIALOGS) {
        size_t n = strlen(e->d_name);
        if (n > 7 && !strcmp(e->d_name + n - 7, ".dialog"))
            snprintf(dialogs[ndialogs++], sizeof dialogs[0], "menus/tests/%s", e->d_name);
    }
    if (d)
        closedir(d);
    qsort(dialogs, (size_t)ndialogs, sizeof dialogs[0], cmp);

    Suite *s = suite_create("menu");
    TCase *dl = tcase_create("dialogues");
    tcase_set_timeout(dl, 60);
    /* one test per shipped dialogue; none found fails the next test */
    tcase_add_loop_test(dl, test_shipped_dialogue_passes, 0, ndialogs);
    tcase_add_test(dl, test_every_screen_and_command_visited);
    tcase_add_test(dl, test_changed_menu_text_fails_with_file_and_line);
    tcase_add_test(dl, test_changed_expected_line_fails_with_file_and_line);
    tcase_add_test(dl, test_dialogue_mistakes_are_named);
    suite_add_tcase(s, dl);

    TCase *tools = tcase_create("tools");
    tcase_set_timeout(tools, 60);
    tcase_add_test(tools, test_committed_graph_is_current);
    tcase_add_test(tools, test_check_reports_a_typo_once);
    tcase_add_test(tools, test_check_warns_of_two_part_replies);
    tcase_add_test(tools, test_walk_prices_water);
    suite_add_tcase(s, tools);
    return s;
}
