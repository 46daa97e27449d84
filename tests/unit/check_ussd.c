/* check_ussd: the USSD menu system. The loader against one small bad fixture
 * per check (tests/unit/menus/<case>/, paths relative to the repo root where
 * the runner starts) and against the shipped menus/; the engine walked
 * through the shipped menus with a fake host, every screen of every walk
 * held to the 160-character GSM-7 budget; session text round trips. */
#include "runner.h"
#include "ussd/ussd.h"

#include "util/buf.h"
#include "util/gsm.h"
#include "util/str.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FIX "tests/unit/menus/"

/* ---- loader ---- */

/* Loads dir expecting failure; returns the error text (caller frees). */
static char *load_fails(const char *dir)
{
    struct buf errors;
    buf_init(&errors, 0);
    struct ussd_menus *m = ussd_menus_load(dir, &errors);
    ck_assert_msg(m == NULL, "%s loaded but should not", dir);
    ck_assert_msg(errors.len > 0, "%s failed without a message", dir);
    /* every line names a place: "dir/file.yaml:LINE: ..." or "dir: ..." */
    char *text = buf_steal(&errors);
    for (char *line = text; *line;) {
        char *nl = strchr(line, '\n');
        ck_assert_msg(nl != NULL, "error line without newline: %s", line);
        ck_assert_msg(!strncmp(line, dir, strlen(dir)), "error line does not name %s: %.*s", dir,
                      (int)(nl - line), line);
        line = nl + 1;
    }
    return text;
}

static void expect(const char *errors, const char *line)
{
    ck_assert_msg(strstr(errors, line) != NULL, "expected\n  %s\nin\n%s", line, errors);
}

static int count_lines(const char *s)
{
    int n = 0;
    for (; *s; s++)
        n += *s == '\n';
    return n;
}

static struct ussd_menus *load_ok(const char *dir)
{
    struct buf errors;
    buf_init(&errors, 0);
    struct ussd_menus *m = ussd_menus_load(dir, &errors);
    ck_assert_msg(m != NULL, "%s did not load:\n%s", dir, errors.data ? errors.data : "");
    ck_assert_uint_eq(errors.len, 0);
    buf_free(&errors);
    return m;
}

START_TEST(test_shipped_menus_load_clean)
{
    struct ussd_menus *m = load_ok("menus");
    ck_assert_str_eq(ussd_start(m), "main");
    ck_assert_int_eq(ussd_menus_count(m), 18);
    ck_assert(ussd_has_screen(m, "elec_confirm"));
    ck_assert(!ussd_has_screen(m, "nope"));
    ussd_menus_ref(m);
    ussd_menus_unref(m);
    ussd_menus_unref(m);
    ussd_menus_unref(NULL);
}
END_TEST

START_TEST(test_fixture_base_and_sms_files)
{
    struct ussd_menus *m = load_ok(FIX "ok_min");
    ck_assert_int_eq(ussd_menus_count(m), 2);
    ussd_menus_unref(m);
    /* a commands: file belongs to the SMS module and is skipped silently */
    m = load_ok(FIX "sms_skip");
    ck_assert_int_eq(ussd_menus_count(m), 2);
    ussd_menus_unref(m);
}
END_TEST

START_TEST(test_yaml_syntax_error)
{
    char *e = load_fails(FIX "syntax");
    expect(e, FIX "syntax/menu.yaml:5: YAML syntax error: did not find expected ',' or '}' while parsing a "
              "flow mapping started at line 4\n");
    free(e);
}
END_TEST

START_TEST(test_unknown_kind)
{
    char *e = load_fails(FIX "bad_kind");
    expect(e, FIX "bad_kind/menu.yaml:8: unknown screen kind 'ending'");
    ck_assert_int_eq(count_lines(e), 1);
    free(e);
}
END_TEST

/* one typo in kind: is one line, not one per screen behind it: the
 * screens it leads to and the var its options set are still known */
START_TEST(test_unknown_kind_reported_once)
{
    char *e = load_fails(FIX "kind_cascade");
    expect(e, FIX "kind_cascade/menu.yaml:8: unknown screen kind 'mneu'");
    ck_assert_msg(count_lines(e) == 1, "%s", e);
    free(e);
    e = load_fails(FIX "shapeless");
    expect(e, FIX "shapeless/menu.yaml:7: screen 'shop' must be a mapping\n");
    ck_assert_msg(count_lines(e) == 1, "%s", e);
    free(e);
}
END_TEST

START_TEST(test_unknown_target)
{
    char *e = load_fails(FIX "bad_target");
    expect(e, FIX "bad_target/menu.yaml:9: unknown target screen 'nowhere' (goto of screen 'home')\n");
    ck_assert_int_eq(count_lines(e), 1);
    free(e);
}
END_TEST

START_TEST(test_duplicate_option_key)
{
    char *e = load_fails(FIX "dup_option");
    expect(e, FIX "dup_option/menu.yaml:7: duplicate option key '1' in screen 'home'\n");
    free(e);
}
END_TEST

START_TEST(test_option_key_clashes_with_navigation)
{
    char *e = load_fails(FIX "nav_clash");
    expect(e, FIX "nav_clash/menu.yaml:7: option key '98' clashes with navigation");
    expect(e, FIX "nav_clash/menu.yaml:8: option key '0' clashes with navigation");
    expect(e, FIX "nav_clash/menu.yaml:9: option key '00' clashes with navigation");
    ck_assert_int_eq(count_lines(e), 3);
    free(e);
}
END_TEST

START_TEST(test_unreachable_screen)
{
    char *e = load_fails(FIX "unreachable");
    expect(e, FIX "unreachable/menu.yaml:10: screen 'orphan' is not reachable from start 'home'\n");
    ck_assert_int_eq(count_lines(e), 1);
    free(e);
}
END_TEST

START_TEST(test_missing_translation)
{
    char *e = load_fails(FIX "missing_translation");
    expect(e, FIX "missing_translation/menu.yaml:4: missing sw translation of text\n");
    expect(e, FIX "missing_translation/menu.yaml:7: empty sw translation of label of option 1\n");
    free(e);
}
END_TEST

START_TEST(test_invalid_pattern)
{
    char *e = load_fails(FIX "bad_pattern");
    expect(e, FIX "bad_pattern/menu.yaml:6: invalid pattern at offset 4: missing terminating ] for character "
              "class\n");
    free(e);
}
END_TEST

START_TEST(test_static_text_over_budget)
{
    char *e = load_fails(FIX "over_budget");
    /* a menu whose text alone overflows (English only) */
    expect(e, FIX "over_budget/menu.yaml:2: screen 'home' is over budget in en: 175 > 160 characters");
    ck_assert_ptr_null(strstr(e, "screen 'home' is over budget in sw"));
    /* a list whose header, one full-width item and the hints overflow */
    expect(e, FIX "over_budget/menu.yaml:9: screen 'meters' is over budget in sw");
    ck_assert_ptr_null(strstr(e, "screen 'meters' is over budget in en"));
    /* an input whose error text above the prompt overflows */
    expect(e, FIX "over_budget/menu.yaml:18: screen 'amount' is over budget in en: 189 > 160 characters "
              "(with its error text)");
    ck_assert_int_eq(count_lines(e), 3);
    free(e);
}
END_TEST

/* resume: on waiting screens only, one line, with the set's resume_offer
 * message, and the offer it makes within the budget */
START_TEST(test_resume_checked)
{
    char *e = load_fails(FIX "resume_bad");
    expect(e, FIX "resume_bad/menu.yaml:12: resume of screen 'ask' must be one line (sw)\n");
    expect(e, FIX "resume_bad/menu.yaml:18: unknown key 'resume' in end screen 'bye'\n");
    expect(e, FIX "resume_bad/menu.yaml:2: screen 'home' has resume: but messages has no 'resume_offer'\n");
    ck_assert_int_eq(count_lines(e), 3);
    free(e);
    e = load_fails(FIX "resume_long");
    expect(e, FIX "resume_long/menu.yaml:7: screen 'ask' is over budget in en: 185 > 160 characters "
              "(its resume offer)\n");
    ck_assert_int_eq(count_lines(e), 1);
    free(e);
}
END_TEST

START_TEST(test_non_gsm_text)
{
    char *e = load_fails(FIX "non_gsm");
    expect(e, FIX "non_gsm/menu.yaml:4: non-GSM-7 character '\xe2\x80\x9c' in en text\n");
    expect(e, FIX "non_gsm/menu.yaml:6: non-GSM-7 character '\xf0\x9f\x91\x8b' in sw label of option 1\n");
    free(e);
}
END_TEST

START_TEST(test_unknown_builtin)
{
    char *e = load_fails(FIX "unknown_builtin");
    expect(e, FIX "unknown_builtin/menu.yaml:8: unknown built-in 'gas_amount'\n");
    expect(e, FIX "unknown_builtin/menu.yaml:12: unknown built-in 'pay_water'\n");
    free(e);
}
END_TEST

START_TEST(test_unknown_placeholder)
{
    char *e = load_fails(FIX "unknown_placeholder");
    expect(e, FIX "unknown_placeholder/menu.yaml:4: unknown placeholder '{name}' in en text\n");
    expect(e, FIX "unknown_placeholder/menu.yaml:9: unknown placeholder '{metre}' in sw text\n");
    ck_assert_int_eq(count_lines(e), 2); /* {amount} on line 9 is known */
    free(e);
}
END_TEST

START_TEST(test_missing_message_for_builtin)
{
    char *e = load_fails(FIX "missing_message");
    expect(e, FIX "missing_message/menu.yaml:11: built-in 'buy_electricity' may return 'not_assigned' but "
              "messages has no 'not_assigned'\n");
    ck_assert_ptr_null(strstr(e, "no 'purchase_failed'"));
    free(e);
}
END_TEST

START_TEST(test_duplicate_screen_across_files)
{
    char *e = load_fails(FIX "dup_screen");
    expect(e, FIX "dup_screen/b.yaml:3: duplicate screen id 'bye' (first at " FIX "dup_screen/a.yaml:7)\n");
    free(e);
}
END_TEST

START_TEST(test_other_yaml_is_an_error)
{
    char *e = load_fails(FIX "not_menu");
    expect(e, FIX "not_menu/other.yaml:2: not a menu file");
    free(e);
}
END_TEST

START_TEST(test_nav_labels_required)
{
    char *e = load_fails(FIX "no_nav");
    expect(e, FIX "no_nav/menu.yaml:2: nav needs 'more'\n");
    free(e);
}
END_TEST

START_TEST(test_all_problems_listed)
{
    char *e = load_fails(FIX "multi");
    expect(e, FIX "multi/menu.yaml:4: unknown placeholder '{nobody}' in en text\n");
    expect(e, FIX "multi/menu.yaml:7: unknown target screen 'gone' (goto of screen 'home')\n");
    expect(e, FIX "multi/menu.yaml:10: unknown key 'txt' in end screen 'bye'\n");
    expect(e, FIX "multi/menu.yaml:8: end screen 'bye' needs 'text'\n");
    expect(e, FIX "multi/menu.yaml:12: unknown screen kind 'wizard'");
    expect(e, FIX "multi/menu.yaml:11: screen 'odd' is not reachable from start 'home'\n");
    ck_assert_int_eq(count_lines(e), 6);
    free(e);
}
END_TEST

START_TEST(test_missing_directory)
{
    char *e = load_fails(FIX "nope");
    expect(e, FIX "nope: cannot open directory: No such file or directory\n");
    free(e);
}
END_TEST

START_TEST(test_registry_consistent)
{
    static const char *const names[] = {"electricity_amount", "buy_electricity", "set_language"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        const struct ussd_builtin *b = ussd_builtin_find(names[i]);
        ck_assert_ptr_nonnull(b);
        for (int k = 0; k < USSD_BUILTIN_MAX_VARS; k++) {
            ck_assert(!b->needs[k] || ussd_var_width(b->needs[k]) > 0);
            ck_assert(!b->sets[k] || ussd_var_width(b->sets[k]) > 0);
        }
    }
    ck_assert_int_eq(ussd_builtin_find("electricity_amount")->kind, USSD_VALIDATE);
    ck_assert_int_eq(ussd_builtin_find("buy_electricity")->kind, USSD_ACTION);
    ck_assert_ptr_null(ussd_builtin_find("nope"));
    ck_assert_int_eq(ussd_var_width("meter_name"), 20);
    ck_assert_int_eq(ussd_var_width("nope"), -1);
}
END_TEST

/* ---- engine ---- */

#define FAKE_MAX 40

struct fake {
    int nmeters;            /* -1: the list source fails */
    char id[FAKE_MAX][65], name[FAKE_MAX][65]; /* a meter's id and name take 64 bytes */
    const char *buy_result; /* what buy_electricity returns */
    const char *validate_force;
    int buys, validates, lists, langs;
    char buy_meter[65], buy_amount[16], buy_session[32], lang[8];
};

static int fake_list(void *ctx, const char *source, const char *phone, struct ussd_item *items, int max)
{
    struct fake *f = ctx;
    ck_assert_msg(!strcmp(source, "meters") || !strcmp(source, "codes"), "source %s", source);
    ck_assert_str_eq(phone, "+254712345678");
    f->lists++;
    if (f->nmeters < 0)
        return -1;
    int n = f->nmeters < max ? f->nmeters : max;
    for (int i = 0; i < n; i++) {
        str_copy(items[i].id, sizeof items[i].id, f->id[i]);
        str_copy(items[i].label, sizeof items[i].label, f->name[i]);
    }
    return n;
}

static const char *fake_action(void *ctx, const char *name, const char *phone, const char *sid,
                               struct ussd_session *s)
{
    struct fake *f = ctx;
    if (!strcmp(name, "electricity_amount")) {
        int64_t amount;
        f->validates++;
        ck_assert_ptr_nonnull(ussd_var(s, "meter"));
        ussd_var_set(s, "min", "10");
        ussd_var_set(s, "max", "10000");
        if (f->validate_force)
            return f->validate_force;
        if (!str_to_i64(ussd_var(s, "amount"), 0, 999999, &amount))
            return "amount_invalid";
        if (amount < 10 || amount > 10000)
            return "amount_range";
        char kwh[48];
        snprintf(kwh, sizeof kwh, "%lld.%02lld", (long long)(amount / 25), (long long)(amount * 4 % 100));
        ussd_var_set(s, "kwh", kwh);
        return NULL;
    }
    if (!strcmp(name, "buy_electricity")) {
        f->buys++;
        str_copy(f->buy_meter, sizeof f->buy_meter, ussd_var(s, "meter"));
        str_copy(f->buy_amount, sizeof f->buy_amount, ussd_var(s, "amount"));
        str_copy(f->buy_session, sizeof f->buy_session, sid);
        return f->buy_result;
    }
    if (!strcmp(name, "set_language")) {
        f->langs++;
        str_copy(f->lang, sizeof f->lang, ussd_var(s, "lang"));
        return NULL;
    }
    if (!strcmp(name, "water_amount")) {
        f->validates++;
        ussd_var_set(s, "wmin", "5");
        ussd_var_set(s, "wmax", "500");
        ussd_var_set(s, "amount", "10");
        return strtol(ussd_var(s, "liters"), NULL, 10) > 500 ? "water_range" : NULL;
    }
    if (!strcmp(name, "buy_water") || !strcmp(name, "resend_code")) {
        f->buys++;
        return NULL;
    }
    ck_abort_msg("unexpected action %s", name);
    return NULL;
}

static struct ussd_menus *shipped;
static struct fake fk;
static struct ussd_host host;
static struct ussd_session sess;
static struct buf reply;
static enum ussd_end last_end; /* what the last hop_in's answer did */

static void fake_meters(int n, const char *fmt)
{
    fk.nmeters = n;
    for (int i = 0; i < n && i < FAKE_MAX; i++) {
        snprintf(fk.id[i], sizeof fk.id[i], "M-%04d", i + 1);
        snprintf(fk.name[i], sizeof fk.name[i], fmt, i + 1);
    }
}

static void setup(void)
{
    shipped = load_ok("menus");
    memset(&fk, 0, sizeof fk);
    fake_meters(2, "Nyumba %d");
    host = (struct ussd_host){&fk, fake_list, fake_action};
    ussd_session_init(&sess, "en");
    buf_init(&reply, USSD_REPLY_MAX);
}

static void teardown(void)
{
    ussd_menus_unref(shipped);
    buf_free(&reply);
}

/* Every answer a caller sees: CON/END, GSM-7, within 160 both ways. */
static void check_screen(const char *r)
{
    ck_assert_msg(!strncmp(r, "CON ", 4) || !strncmp(r, "END ", 4), "bad prefix: %s", r);
    ck_assert_msg(gsm_septets(r) >= 0, "not GSM-7: %s", r);
    ck_assert_msg(gsm_septets(r) <= USSD_BUDGET && gsm_chars(r) <= USSD_BUDGET, "over budget (%d): %s",
                  gsm_septets(r), r);
}

/* One hop of the shipped menus, through the store's text form first, as
 * lipad runs it. Returns whether the answer was END. */
static bool hop_in(const struct ussd_menus *m, const char *input)
{
    static char state[USSD_SESSION_TEXT_MAX];
    struct ussd_session copy;
    ck_assert(ussd_session_encode(&sess, state, sizeof state));
    ck_assert(ussd_session_decode(&copy, state));
    ck_assert_str_eq(copy.screen, sess.screen);
    ck_assert_int_eq(copy.nvars, sess.nvars);
    sess = copy;
    last_end = ussd_step(m, &host, "+254712345678", "ATUid_1", &sess, input, &reply);
    bool end = last_end != USSD_CON;
    ck_assert_ptr_nonnull(reply.data);
    check_screen(reply.data);
    ck_assert_int_eq(end, !strncmp(reply.data, "END ", 4));
    /* a waiting screen with somewhere to go back to ends with the whole
     * back/home hint: a screen cut to fit would lose it first */
    if (!end && !sess.offer && (sess.ntrail > 0 || sess.page > 0)) {
        const char *last = strrchr(reply.data, '\n');
        ck_assert_ptr_nonnull(last);
        last++;
        ck_assert_msg(!strcmp(last, "0 Back") || !strcmp(last, "0 Back, 00 Home") || !strcmp(last, "0 Rudi") ||
                          !strcmp(last, "0 Rudi, 00 Mwanzo"),
                      "screen does not end with its hints:\n%s", reply.data);
    }
    return end;
}

static bool hop(const char *input) { return hop_in(shipped, input); }

static void expect_reply(const char *part)
{
    ck_assert_msg(strstr(reply.data, part) != NULL, "expected '%s' in:\n%s", part, reply.data);
}

START_TEST(test_key_path_buys_electricity)
{
    ck_assert(!hop(NULL));
    ck_assert(!strncmp(reply.data, "CON Welcome to lipa\n1. Buy electricity\n2. Buy water\n3. My meters\n4. ", 66));
    ck_assert(!hop("1"));
    expect_reply("1. Nyumba 1\n2. Nyumba 2");
    ck_assert(!hop("1"));
    expect_reply("Meter: Nyumba 1\nEnter amount (KES");
    ck_assert(!hop("100"));
    expect_reply("Meter: Nyumba 1\nKES 100, about 4.00 kWh\n1. Yes\n2. No");
    ck_assert_int_eq(fk.buys, 0);
    ck_assert(hop("1"));
    ck_assert_int_eq(fk.buys, 1);
    ck_assert_str_eq(fk.buy_meter, "M-0001");
    ck_assert_str_eq(fk.buy_amount, "100");
    ck_assert_str_eq(fk.buy_session, "ATUid_1");
    ck_assert(!strncmp(reply.data, "END Enter your M-Pesa PIN on the prompt to pay KES 100", 54));
}
END_TEST

/* A meter's id and name may each be 64 bytes (POST /devices): picking it
 * hands the whole id to the purchase, and a name cut to fit the screen
 * never leaves half a character in the session (found by the ussd_engine
 * fuzzer: the id lost its last character, so the amount was refused). */
START_TEST(test_pick_keeps_whole_meter_id)
{
    char id[65], name[65];
    memset(id, 'A', 64);
    id[64] = 0;
    memset(name, 'n', 62);
    str_copy(name + 62, 3, "\xc3\xa9"); /* e-acute: bytes 63 and 64 */
    fk.nmeters = 1;
    str_copy(fk.id[0], sizeof fk.id[0], id);
    str_copy(fk.name[0], sizeof fk.name[0], name);
    ck_assert_uint_eq(strlen(fk.id[0]), 64);
    ck_assert_uint_eq(strlen(fk.name[0]), 64);
    ck_assert(!hop(NULL));
    ck_assert(!hop("1"));
    ck_assert(!hop("1"));
    ck_assert(!hop("100"));
    ck_assert(hop("1"));
    ck_assert_int_eq(fk.buys, 1);
    ck_assert_str_eq(fk.buy_meter, id);
}
END_TEST

START_TEST(test_key_path_in_swahili)
{
    ussd_session_init(&sess, "sw");
    ck_assert(!hop(NULL));
    expect_reply("Karibu lipa\n1. Nunua umeme");
    ck_assert(!hop("1"));
    expect_reply("Chagua mita");
    ck_assert(!hop("2"));
    expect_reply("Weka kiasi (KES");
    ck_assert(!hop("250"));
    expect_reply("Thibitisha");
    expect_reply("1. Ndiyo\n2. Hapana");
    ck_assert(hop("1"));
    expect_reply("Ingiza PIN yako ya M-Pesa");
    ck_assert_str_eq(fk.buy_meter, "M-0002");
    ck_assert_str_eq(fk.buy_amount, "250");
}
END_TEST

START_TEST(test_bad_amount_reasks_with_reason)
{
    hop(NULL);
    hop("1");
    hop("1");
    ck_assert(!hop("12a"));
    ck_assert(!strncmp(reply.data, "CON Use digits only, e.g. 100.\nMeter: Nyumba 1\nEnter amount", 58));
    ck_assert_int_eq(fk.validates, 0);
    ck_assert(!hop("5"));
    ck_assert(!strncmp(reply.data, "CON Amount must be KES 10 to 10000.\nMeter: Nyumba 1\nEnter amount", 63));
    ck_assert(!hop("20000"));
    expect_reply("Amount must be KES 10 to 10000.");
    fk.validate_force = "amount_invalid";
    ck_assert(!hop("50"));
    expect_reply("Enter a whole amount in KES");
    fk.validate_force = NULL;
    ck_assert(!hop("98")); /* 98 is an amount here, not "more" */
    expect_reply("KES 98, about 3.92 kWh");
    ck_assert_int_eq(fk.buys, 0);
}
END_TEST

START_TEST(test_back_home_and_more)
{
    hop(NULL);
    ck_assert(!hop("0")); /* back on the start screen: stays */
    ck_assert(!strncmp(reply.data, "CON Welcome to lipa", 19));
    ck_assert(!hop("98")); /* nothing more on the main menu */
    ck_assert(!strncmp(reply.data, "CON Invalid choice, try again.\nWelcome to lipa", 46));
    ck_assert(!hop("7"));
    expect_reply("Invalid choice");
    hop("1");
    hop("1");
    expect_reply("0 Back, 00 Home");
    ck_assert(!hop("0")); /* amount -> meter list */
    expect_reply("Choose a meter:\n1. Nyumba 1");
    ck_assert_str_eq(sess.screen, "elec_meter");
    ck_assert(!hop("0")); /* meter list -> main */
    ck_assert_str_eq(sess.screen, "main");
    hop("1");
    hop("2");
    hop("100");
    ck_assert_str_eq(sess.screen, "elec_confirm");
    ck_assert(!hop("00")); /* home from the confirm screen */
    ck_assert(!strncmp(reply.data, "CON Welcome to lipa", 19));
    ck_assert_int_eq(sess.ntrail, 0);
    ck_assert_int_eq(fk.buys, 0);
}
END_TEST

START_TEST(test_confirm_no_and_wrong_key)
{
    hop(NULL);
    hop("1");
    hop("1");
    hop("100");
    ck_assert(!hop("3"));
    expect_reply("Invalid choice, try again.\nConfirm purchase");
    expect_reply("1. Yes\n2. No");
    ck_assert(hop("2"));
    ck_assert_str_eq(reply.data, "END Purchase cancelled. Nothing was charged.");
    ck_assert_int_eq(fk.buys, 0);
}
END_TEST

/* How each END ends a session, as the funnel counts it (docs/operations.md,
 * section 5): a screen's own END text is done, "No" on a confirm screen
 * that leads to an END is the caller leaving, a message instead of a
 * screen is an error. */
START_TEST(test_end_kinds)
{
    const char *const path[] = {NULL, "1", "1", "100"};
    for (int i = 0; i < 4; i++)
        ck_assert(!hop(path[i]));
    ck_assert_int_eq(last_end, USSD_CON);
    ck_assert(hop("1"));
    ck_assert_int_eq(last_end, USSD_END_DONE);   /* the PIN prompt: elec_buy's text */
    ck_assert_str_eq(sess.screen, "elec_buy");

    ussd_session_init(&sess, "en");
    for (int i = 0; i < 4; i++)
        hop(path[i]);
    ck_assert(hop("2"));
    ck_assert_int_eq(last_end, USSD_END_EXIT);   /* "No": elec_cancelled */
    ck_assert_str_eq(sess.screen, "elec_cancelled");

    fk.buy_result = "not_assigned";
    ussd_session_init(&sess, "en");
    for (int i = 0; i < 4; i++)
        hop(path[i]);
    ck_assert(hop("1"));
    ck_assert_int_eq(last_end, USSD_END_ERROR);  /* the action refused */
    ck_assert_str_eq(sess.screen, "elec_buy");

    fk.nmeters = 0;
    ussd_session_init(&sess, "en");
    hop(NULL);
    ck_assert(hop("1"));
    ck_assert_int_eq(last_end, USSD_END_DONE);   /* the list's own empty text */
    fk.nmeters = -1;
    ussd_session_init(&sess, "en");
    hop(NULL);
    ck_assert(hop("3"));
    ck_assert_int_eq(last_end, USSD_END_ERROR);  /* system_error */
    ck_assert_str_eq(sess.screen, "my_meters");
    ck_assert_int_eq(ussd_step(NULL, &host, "+254712345678", "s", &sess, "1", &reply), USSD_END_ERROR);
}
END_TEST

/* Every screen has its funnel counters from the load on, the same ones
 * when the set is loaded again. */
START_TEST(test_screen_slots)
{
    int confirm = ussd_screen_slot(shipped, "elec_confirm"), buy = ussd_screen_slot(shipped, "elec_buy");
    ck_assert_int_ge(confirm, 0);
    ck_assert_int_ge(buy, 0);
    ck_assert_int_ne(confirm, buy);
    ck_assert_int_eq(ussd_screen_slot(shipped, "nope"), -1);
    struct ussd_menus *again = load_ok("menus");
    ck_assert_int_eq(ussd_screen_slot(again, "elec_confirm"), confirm);
    ussd_menus_unref(again);
}
END_TEST

/* Walks the meter list of the given screen (menu option) through every page
 * and returns how often each item number was shown. */
static void walk_pages(const char *option, bool numbered, int n, int seen[])
{
    hop(NULL);
    hop(option);
    int pages = 1;
    for (;;) {
        for (int i = 1; i <= n; i++) {
            char tag[64];
            if (numbered)
                snprintf(tag, sizeof tag, "\n%d. ", i);
            else
                snprintf(tag, sizeof tag, "\n- %.20s", fk.name[i - 1]);
            seen[i] += strstr(reply.data, tag) != NULL;
        }
        if (!strstr(reply.data, "\n98 "))
            break;
        ck_assert(!hop("98"));
        ck_assert_int_lt(++pages, 40);
    }
    ck_assert_int_gt(pages, 1);
    /* 98 on the last page is refused; 0 goes back a page */
    ck_assert(!hop("98"));
    expect_reply("\n");
    int last = sess.page;
    ck_assert_int_eq(last, pages - 1);
    ck_assert(!hop("0"));
    ck_assert_int_eq(sess.page, last - 1);
}

START_TEST(test_thirty_meters_paginate)
{
    fake_meters(30, "Nyumba ya Mzee Kamau, Block %02d, Kiambu");
    for (int l = 0; l < 2; l++) {
        int seen[31] = {0};
        ussd_session_init(&sess, l ? "sw" : "en");
        walk_pages("1", true, 30, seen);
        for (int i = 1; i <= 30; i++)
            ck_assert_msg(seen[i] == 1, "item %d shown %d times (%s)", i, seen[i], l ? "sw" : "en");
        /* every item can be picked, from any page, and reaches the amount */
        for (int i = 1; i <= 30; i++) {
            char in[16];
            ussd_session_init(&sess, l ? "sw" : "en");
            hop(NULL);
            hop("1");
            snprintf(in, sizeof in, "%d", i);
            ck_assert(!hop(in));
            ck_assert_str_eq(sess.screen, "elec_amount");
            ck_assert_str_eq(ussd_var(&sess, "meter"), fk.id[i - 1]);
            ck_assert_str_eq(ussd_var(&sess, "meter_name"), fk.name[i - 1]);
            expect_reply("Nyumba ya Mzee Kamau"); /* cut to its width */
        }
    }
    ussd_session_init(&sess, "en");
    hop(NULL);
    hop("1");
    ck_assert(!hop("31"));
    expect_reply("Invalid choice");
}
END_TEST

/* A meter id and name as long as POST /devices takes them (64 bytes) come
 * back whole from the list: what the caller picks is the meter they buy. */
START_TEST(test_longest_ids_picked_whole)
{
    fk.nmeters = 2;
    memset(fk.id[0], 'A', 64);
    fk.id[0][64] = 0;
    memcpy(fk.id[1], fk.id[0], sizeof fk.id[1]);
    fk.id[1][63] = 'B'; /* the two differ in the last byte only */
    for (int i = 0; i < 32; i++) /* 32 two-byte characters: 64 bytes */
        memcpy(fk.name[0] + 2 * i, "\xc3\xa9", 2);
    fk.name[0][64] = 0;
    str_copy(fk.name[1], sizeof fk.name[1], "Duka");
    for (int pick = 1; pick <= 2; pick++) {
        char in[16];
        ussd_session_init(&sess, "en");
        hop(NULL);
        hop("1");
        snprintf(in, sizeof in, "%d", pick);
        ck_assert(!hop(in));
        ck_assert_str_eq(ussd_var(&sess, "meter"), fk.id[pick - 1]);
        ck_assert_str_eq(ussd_var(&sess, "meter_name"), fk.name[pick - 1]);
        hop("100");
        ck_assert(hop("1"));
        ck_assert_str_eq(fk.buy_meter, fk.id[pick - 1]);
    }
}
END_TEST

START_TEST(test_my_meters_is_display_only)
{
    fake_meters(30, "%02d Duka la Mama Wanjiru");
    int seen[31] = {0};
    walk_pages("3", false, 30, seen);
    for (int i = 1; i <= 30; i++)
        ck_assert_int_eq(seen[i], 1);
    ck_assert(!hop("1"));
    expect_reply("Invalid choice");
    ck_assert_str_eq(sess.screen, "my_meters");
    /* each meter with the number receipts and SMS replies use */
    fake_meters(2, "Nyumba %d");
    ussd_session_init(&sess, "en");
    hop(NULL);
    hop("3");
    expect_reply("My meters:\n- Nyumba 1 M-0001\n- Nyumba 2 M-0002");
}
END_TEST

START_TEST(test_runtime_values_sanitized)
{
    fk.nmeters = 1;
    str_copy(fk.id[0], sizeof fk.id[0], "M-1");
    /* curly quotes, an emoji and a newline from the data side */
    str_copy(fk.name[0], sizeof fk.name[0], "\xe2\x80\x9c" "Big\xe2\x80\x9d \xf0\x9f\x8f\xa0\nHouse with a very long name");
    hop(NULL);
    hop("1");
    expect_reply("1. ?Big? ? House with ");
    hop("1");
    hop("100"); /* check_screen held GSM-7 and the budget every hop */
    expect_reply("Meter: ?Big? ? House with a\n");
}
END_TEST

START_TEST(test_no_meters_and_host_failures)
{
    fk.nmeters = 0;
    hop(NULL);
    ck_assert(hop("1"));
    ck_assert(!strncmp(reply.data, "END You have no meters yet.", 27));
    fk.nmeters = -1;
    ussd_session_init(&sess, "en");
    hop(NULL);
    ck_assert(hop("3"));
    ck_assert_str_eq(reply.data, "END Sorry, something went wrong. Please try again later.");
    fake_meters(2, "Nyumba %d");
    fk.buy_result = "not_assigned";
    ussd_session_init(&sess, "en");
    hop(NULL);
    hop("1");
    hop("1");
    hop("100");
    ck_assert(hop("1"));
    ck_assert(!strncmp(reply.data, "END This meter is not assigned to your number.", 46));
    fk.buy_result = "no_such_key";
    ussd_session_init(&sess, "en");
    hop(NULL);
    hop("1");
    hop("1");
    hop("100");
    ck_assert(hop("1"));
    expect_reply("Sorry, something went wrong");
}
END_TEST

START_TEST(test_language_switch)
{
    hop(NULL);
    ck_assert(!hop("4"));
    expect_reply("1. English\n2. Kiswahili");
    ck_assert(hop("2"));
    ck_assert_str_eq(reply.data, "END Lugha yako sasa ni Kiswahili.");
    ck_assert_str_eq(sess.lang, "sw");
    ck_assert_int_eq(fk.langs, 1);
    ck_assert_str_eq(fk.lang, "sw");
    /* the next dial keeps the language */
    ck_assert(!hop(NULL));
    ck_assert(!strncmp(reply.data, "CON Karibu lipa", 15));
    hop("4");
    ck_assert(hop("1"));
    ck_assert_str_eq(reply.data, "END Your language is now English.");
    ck_assert_str_eq(sess.lang, "en");
}
END_TEST

START_TEST(test_stale_or_ended_session_restarts)
{
    hop(NULL);
    str_copy(sess.screen, sizeof sess.screen, "removed_screen");
    ck_assert(!hop("1"));
    ck_assert(!strncmp(reply.data, "CON Welcome to lipa", 19));
    hop("4");
    ck_assert(hop("1")); /* END: the language is set */
    ck_assert_str_eq(sess.screen, "language_set");
    ck_assert(!hop("1")); /* input after END: a new start */
    ck_assert(!strncmp(reply.data, "CON Welcome to lipa", 19));
}
END_TEST

START_TEST(test_long_menu_paginates)
{
    struct ussd_menus *m = load_ok(FIX "long_menu");
    for (int l = 0; l < 2; l++) {
        int seen[13] = {0}, pages = 1;
        ussd_session_init(&sess, l ? "sw" : "en");
        hop_in(m, NULL);
        for (;;) {
            for (int k = 1; k <= 12; k++) {
                char tag[16];
                snprintf(tag, sizeof tag, "\n%d. ", k);
                seen[k] += strstr(reply.data, tag) != NULL;
            }
            if (!strstr(reply.data, "\n98 "))
                break;
            ck_assert(!hop_in(m, "98"));
            pages++;
        }
        ck_assert_int_gt(pages, 1);
        for (int k = 1; k <= 12; k++)
            ck_assert_msg(seen[k] == 1, "option %d shown %d times", k, seen[k]);
        expect_reply("0 "); /* later pages offer back */
        ck_assert(!hop_in(m, "0"));
        ck_assert_int_eq(sess.page, pages - 2);
        ck_assert(hop_in(m, "12"));
        ck_assert_str_eq(reply.data, l ? "END Umechagua 12" : "END You chose 12");
    }
    ussd_menus_unref(m);
}
END_TEST

/* A session rebuilt from AT's text walks its earlier inputs without
 * composing their screens (ussd_walk): the caller must see exactly what
 * stepping through every screen would have shown, with the same session
 * and side effects, whatever the inputs, lists and language. */
static bool through(const char *path, bool walk, char *state, size_t statesz, int counts[3])
{
    char copy[200];
    char *in[24];
    int n = 0;
    str_copy(copy, sizeof copy, path);
    char *save = NULL;
    for (char *p = strtok_r(copy, "*", &save); p; p = strtok_r(NULL, "*", &save))
        in[n++] = p;
    int buys = fk.buys, validates = fk.validates, langs = fk.langs;
    bool end = (walk ? ussd_walk : ussd_step)(shipped, &host, "+254712345678", "W", &sess, NULL, &reply);
    for (int i = 0; i < n && !end; i++)
        end = (walk && i < n - 1 ? ussd_walk : ussd_step)(shipped, &host, "+254712345678", "W", &sess, in[i],
                                                         &reply);
    if (walk && !n)
        ck_assert_str_eq(reply.data ? reply.data : "", ""); /* a waiting screen nobody sees */
    ck_assert(ussd_session_encode(&sess, state, statesz));
    counts[0] = fk.buys - buys, counts[1] = fk.validates - validates, counts[2] = fk.langs - langs;
    return end;
}

START_TEST(test_walk_shows_what_steps_show)
{
    static const char *paths[] = {
        "", "1", "1*1*100*1", "1*1*100*2", "1*1*5*100*1", "1*1*abc*1", "1*98*1*100*1", "1*98*98*0*3*100*1",
        "1*0*1*1*100*1", "1*00*1*1*100*1", "1*9*1*100*1", "1*31*1", "1*1*100*3*1", "1*1*0*0*1*1*50*1",
        "3", "3*98*0", "3*1", "4*2", "4*1*1", "4*2*1*1", "2*1*1", "2*2*2", "2*3*600*25*1", "2*4*1*1", "2*4*98",
        "2*98", "9*9*9", "0*0*1", "00*1*1", "98*98", "1*1*100*1*1", "1*0", "3*00", "1*1*0",
    };
    static const int meters[] = {2, 30, 0, -1};
    static char a_state[USSD_SESSION_TEXT_MAX], b_state[USSD_SESSION_TEXT_MAX];
    int checked = 0;
    for (size_t m = 0; m < sizeof meters / sizeof meters[0]; m++) {
        for (int sw = 0; sw < 2; sw++) {
            for (size_t i = 0; i < sizeof paths / sizeof paths[0]; i++) {
                int ca[3], cb[3];
                fake_meters(meters[m] < 0 ? 0 : meters[m], "Nyumba %d");
                fk.nmeters = meters[m];
                ussd_session_init(&sess, sw ? "sw" : "en");
                bool a_end = through(paths[i], false, a_state, sizeof a_state, ca);
                char *a_reply = strdup(reply.data);
                ussd_session_init(&sess, sw ? "sw" : "en");
                bool b_end = through(paths[i], true, b_state, sizeof b_state, cb);
                if (*paths[i])
                    ck_assert_msg(!strcmp(a_reply, reply.data), "path %s, %d meters, %s:\nstepped: %s\nwalked: %s",
                                  paths[i], meters[m], sw ? "sw" : "en", a_reply, reply.data);
                ck_assert_int_eq(a_end, b_end);
                ck_assert_msg(!strcmp(a_state, b_state), "path %s: session %s against %s", paths[i], a_state,
                              b_state);
                ck_assert_msg(!memcmp(ca, cb, sizeof ca), "path %s: side effects differ", paths[i]);
                free(a_reply);
                checked++;
            }
        }
    }
    ck_assert_int_eq(checked, 272);
}
END_TEST

START_TEST(test_show_screen)
{
    bool end;
    ussd_var_set(&sess, "meter_name", "Nyumba 1");
    ussd_var_set(&sess, "amount", "100");
    ussd_var_set(&sess, "kwh", "4.00");
    ck_assert(ussd_show(shipped, &host, "+254712345678", "x", &sess, "elec_confirm", &reply, false, &end));
    ck_assert(!end);
    check_screen(reply.data);
    expect_reply("KES 100, about 4.00 kWh");
    ck_assert(!ussd_show(shipped, &host, "+254712345678", "x", &sess, "nope", &reply, false, &end));
}
END_TEST

/* ---- AT's text ---- */

static void expect_rel(const char *last, const char *text, enum ussd_text_rel want, const char *input)
{
    const char *in = "unset";
    enum ussd_text_rel got = ussd_text_relate(last, text, &in);
    ck_assert_msg(got == want, "'%s' after '%s': %d, want %d", text, last, got, want);
    if (input)
        ck_assert_msg(in && !strcmp(in, input), "'%s' after '%s': input '%s', want '%s'", text, last,
                      in ? in : "(null)", input);
    else
        ck_assert_ptr_null(in);
}

/* The session a caller left on the confirm screen, as the store keeps it,
 * offered at their next dial. */
static void dropped_at_confirm(char *state, size_t n)
{
    ck_assert(!hop(NULL));
    ck_assert(!ussd_resumable(shipped, &sess));
    ck_assert(!hop("1"));
    ck_assert(!hop("1"));
    ck_assert(!hop("100"));
    ck_assert(ussd_resumable(shipped, &sess));
    ck_assert(ussd_session_encode(&sess, state, n));
    ussd_session_init(&sess, "en");
    ck_assert(ussd_session_decode(&sess, state));
    ck_assert(ussd_offer(shipped, &sess, &reply, false));
    check_screen(reply.data);
    ck_assert(sess.offer && ussd_resumable(shipped, &sess)); /* dropped here: offered again */
}

START_TEST(test_resume_goes_on_where_the_caller_was)
{
    char state[USSD_SESSION_TEXT_MAX];
    dropped_at_confirm(state, sizeof state);
    ck_assert_str_eq(reply.data, "CON You did not finish. Continue?\nElectricity: KES 100 for Nyumba 1\n1. Yes\n2. No");
    ck_assert(!hop("7")); /* not an answer: the offer again, saying so */
    ck_assert_str_eq(reply.data, "CON Invalid choice, try again.\nYou did not finish. Continue?\n"
                                 "Electricity: KES 100 for Nyumba 1\n1. Yes\n2. No");
    ck_assert(!hop("1"));
    ck_assert(!sess.offer);
    expect_reply("Confirm purchase\nMeter: Nyumba 1\nKES 100, about 4.00 kWh\n1. Yes\n2. No\n0 Back, 00 Home");
    ck_assert(!hop("0")); /* the trail came along: back is the amount prompt */
    expect_reply("Meter: Nyumba 1\nEnter amount");
    ck_assert(!hop("250"));
    ck_assert(hop("1"));
    ck_assert_int_eq(fk.buys, 1);
    ck_assert_str_eq(fk.buy_meter, "M-0001");
    ck_assert_str_eq(fk.buy_amount, "250");
}
END_TEST

START_TEST(test_resume_declined_starts_afresh)
{
    char state[USSD_SESSION_TEXT_MAX];
    const char *no[] = {"2", "00"};
    for (int i = 0; i < 2; i++) {
        dropped_at_confirm(state, sizeof state);
        ck_assert(!hop(no[i]));
        ck_assert(!sess.offer && sess.ntrail == 0);
        expect_reply("CON Welcome to lipa\n1. Buy electricity");
        ussd_session_init(&sess, "en");
    }
    ck_assert_int_eq(fk.buys, 0);
    /* the first hop of a session is never an answer */
    dropped_at_confirm(state, sizeof state);
    ck_assert(!hop(NULL));
    expect_reply("CON Welcome to lipa");
    /* a screen that is not resumable is not offered */
    ussd_session_init(&sess, "en");
    ck_assert(!hop(NULL));
    ck_assert(!ussd_offer(shipped, &sess, &reply, false));
    ck_assert(!sess.offer);
}
END_TEST

START_TEST(test_resume_offer_in_swahili_and_quiet)
{
    char state[USSD_SESSION_TEXT_MAX];
    ussd_session_init(&sess, "sw");
    ck_assert(!hop(NULL));
    ck_assert(!hop("2"));
    ck_assert(!hop("1"));
    ck_assert(ussd_resumable(shipped, &sess));
    ussd_var_set(&sess, "amount", "50"); /* lipad prices a size (ussd/api.c) */
    ck_assert(ussd_session_encode(&sess, state, sizeof state));
    ck_assert(ussd_session_decode(&sess, state));
    ck_assert(ussd_offer(shipped, &sess, &reply, false));
    ck_assert_str_eq(reply.data, "CON Hukumaliza. Uendelee?\nMaji: lita 20 kwa KES 50\n1. Ndiyo\n2. Hapana");
    ck_assert(ussd_session_decode(&sess, state));
    ck_assert(ussd_offer(shipped, &sess, &reply, true));
    ck_assert_uint_eq(reply.len, 0);
    ck_assert(!hop("1"));
    expect_reply("Thibitisha ununuzi\nLita 20 za maji");
}
END_TEST

START_TEST(test_text_relations)
{
    expect_rel("", "", USSD_TEXT_SAME, NULL);
    expect_rel("1*1*250", "1*1*250", USSD_TEXT_SAME, NULL);
    /* one input more: the only hop that acts */
    expect_rel("", "1", USSD_TEXT_NEXT, "1");
    expect_rel("1*1*250", "1*1*250*1", USSD_TEXT_NEXT, "1");
    expect_rel("1*1", "1*1*", USSD_TEXT_NEXT, "");         /* an empty entry */
    expect_rel("1*1*0", "1*1*0*00", USSD_TEXT_NEXT, "00"); /* back and home are inputs */
    /* behind the session: a late or repeated hop */
    expect_rel("1*1*250", "1*1", USSD_TEXT_OLDER, NULL);
    expect_rel("1*1*250", "1", USSD_TEXT_OLDER, NULL);
    expect_rel("1*1*250", "", USSD_TEXT_OLDER, NULL);
    expect_rel("1*1*", "1*1", USSD_TEXT_OLDER, NULL);
    expect_rel("1*1*0*1", "1*1*0", USSD_TEXT_OLDER, NULL);
    /* anything else: ahead by more than one, or another path */
    expect_rel("", "1*1", USSD_TEXT_OTHER, NULL);
    expect_rel("1", "1*1*100", USSD_TEXT_OTHER, NULL);
    expect_rel("1*1*250", "2", USSD_TEXT_OTHER, NULL);
    expect_rel("1*1*250", "1*2", USSD_TEXT_OTHER, NULL);
    /* a prefix of the characters is not a prefix of the inputs */
    expect_rel("1*1*250", "1*1*25", USSD_TEXT_OTHER, NULL);
    expect_rel("1*1*25", "1*1*250", USSD_TEXT_OTHER, NULL);
    expect_rel("1*1", "1*10", USSD_TEXT_OTHER, NULL);
}
END_TEST

START_TEST(test_text_split)
{
    char t[64], *in[4];
    str_copy(t, sizeof t, "");
    ck_assert_int_eq(ussd_text_split(t, in, 4), 0);
    str_copy(t, sizeof t, "1*1*250");
    ck_assert_int_eq(ussd_text_split(t, in, 4), 3);
    ck_assert_str_eq(in[0], "1");
    ck_assert_str_eq(in[2], "250");
    /* empty entries are entries: a replay takes the steps the hops took */
    str_copy(t, sizeof t, "1**00*");
    ck_assert_int_eq(ussd_text_split(t, in, 4), 4);
    ck_assert_str_eq(in[0], "1");
    ck_assert_str_eq(in[1], "");
    ck_assert_str_eq(in[2], "00");
    ck_assert_str_eq(in[3], "");
    str_copy(t, sizeof t, "1*2*3*4");
    ck_assert_int_eq(ussd_text_split(t, in, 4), 4);
    str_copy(t, sizeof t, "1*2*3*4*5");
    ck_assert_int_eq(ussd_text_split(t, in, 4), -1);
}
END_TEST

/* ---- session ---- */

START_TEST(test_session_round_trip)
{
    struct ussd_session s, t;
    char text[USSD_SESSION_TEXT_MAX];
    ussd_session_init(&s, "sw");
    str_copy(s.screen, sizeof s.screen, "elec_confirm");
    s.page = 2;
    s.ntrail = 2;
    str_copy(s.trail[0], sizeof s.trail[0], "main");
    str_copy(s.trail[1], sizeof s.trail[1], "elec_meter");
    ck_assert(ussd_var_set(&s, "meter", "M-0001"));
    ck_assert(ussd_var_set(&s, "meter_name", "Nyumba \"A\" \\ \xc3\xa9"));
    ck_assert(ussd_var_set(&s, "amount", "100"));
    ck_assert(ussd_var_set(&s, "note", "a\nb\tc\x01" "d/e"));
    ck_assert(ussd_session_encode(&s, text, sizeof text));
    ck_assert_msg(strstr(text, "\"note\":\"a\\nb\\tc\\u0001d/e\""), "escaped as JSON: %s", text);
    ck_assert(ussd_session_decode(&t, text));
    ck_assert_str_eq(t.screen, "elec_confirm");
    ck_assert_str_eq(t.lang, "sw");
    ck_assert_int_eq(t.page, 2);
    ck_assert_int_eq(t.ntrail, 2);
    ck_assert_str_eq(t.trail[1], "elec_meter");
    ck_assert_int_eq(t.nvars, 4);
    ck_assert_str_eq(ussd_var(&t, "meter_name"), "Nyumba \"A\" \\ \xc3\xa9");
    ck_assert_str_eq(ussd_var(&t, "note"), "a\nb\tc\x01" "d/e");
    ck_assert_str_eq(ussd_var(&t, "amount"), "100");
    ck_assert_ptr_null(ussd_var(&t, "kwh"));
    ck_assert(!t.offer && !strstr(text, "\"o\""));
    /* the resume offer showing: said once, only then */
    s.offer = true;
    ck_assert(ussd_session_encode(&s, text, sizeof text));
    ck_assert_msg(strstr(text, "},\"o\":1}"), "%s", text);
    ck_assert(ussd_session_decode(&t, text) && t.offer && !strcmp(t.screen, "elec_confirm"));
    s.offer = false;
    /* a buffer too small is refused, not cut */
    ck_assert(!ussd_session_encode(&s, text, 20));
    /* a full session still fits the store's 2048-byte column */
    for (int i = s.nvars; i < USSD_MAX_VARS; i++) {
        char k[24];
        snprintf(k, sizeof k, "var%d", i);
        ck_assert(ussd_var_set(&s, k, "0123456789012345678901234567890123456789"));
    }
    ck_assert(ussd_session_encode(&s, text, 2048));
}
END_TEST

START_TEST(test_session_garbage_rejected)
{
    static const char *const bad[] = {
        "",
        "{",
        "[]",
        "null",
        "{\"s\":\"main\"}",
        "{\"s\":1,\"l\":\"en\",\"p\":0,\"t\":[],\"v\":{}}",
        "{\"s\":\"main\",\"l\":\"fr\",\"p\":0,\"t\":[],\"v\":{}}",
        "{\"s\":\"main\",\"l\":\"en\",\"p\":-1,\"t\":[],\"v\":{}}",
        "{\"s\":\"main\",\"l\":\"en\",\"p\":0,\"t\":[\"a b\"],\"v\":{}}",
        "{\"s\":\"main\",\"l\":\"en\",\"p\":0,\"t\":[],\"v\":{\"k\":1}}",
        "{\"s\":\"main\",\"l\":\"en\",\"p\":0,\"t\":[],\"v\":{},\"x\":1}",
        "{\"s\":\"main\",\"s\":\"main\",\"l\":\"en\",\"p\":0,\"t\":[],\"v\":{}}",
        "{\"s\":\"../../etc\",\"l\":\"en\",\"p\":0,\"t\":[],\"v\":{}}",
        "{\"s\":\"main\",\"l\":\"en\",\"p\":0,\"t\":[\"a\",\"a\",\"a\",\"a\",\"a\",\"a\",\"a\",\"a\",\"a\"],\"v\":{}}",
        "{\"s\":\"main\",\"l\":\"en\",\"p\":0,\"t\":[],\"v\":{\"k\":\"a\\u0000b\"}}",
        "{\"s\":\"main\",\"l\":\"en\",\"p\":0,\"t\":[],\"v\":{},\"o\":2}",
        "{\"s\":\"main\",\"l\":\"en\",\"p\":0,\"t\":[],\"v\":{},\"o\":true}",
        "{\"s\":\"main\",\"l\":\"en\",\"p\":0,\"t\":[],\"o\":1}",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        struct ussd_session s;
        memset(&s, 0x5a, sizeof s);
        ck_assert_msg(!ussd_session_decode(&s, bad[i]), "accepted: %s", bad[i]);
        ck_assert_str_eq(s.screen, "");
        ck_assert_str_eq(s.lang, "en");
        ck_assert_int_eq(s.nvars, 0);
    }
    struct ussd_session s;
    ck_assert(!ussd_session_decode(&s, NULL));
    char big[200];
    memset(big, 'x', sizeof big);
    big[sizeof big - 1] = 0;
    char text[512];
    snprintf(text, sizeof text, "{\"s\":\"main\",\"l\":\"en\",\"p\":0,\"t\":[],\"v\":{\"k\":\"%s\"}}", big);
    ck_assert(!ussd_session_decode(&s, text)); /* value over 127 bytes */
}
END_TEST

START_TEST(test_var_limits)
{
    struct ussd_session s;
    char val[200];
    ussd_session_init(&s, "xx");
    ck_assert_str_eq(s.lang, "en");
    ck_assert(!ussd_var_set(&s, "a_key_that_is_far_too_long", "v"));
    memset(val, 'v', sizeof val);
    val[128] = 0;
    ck_assert(!ussd_var_set(&s, "k", val));
    val[127] = 0;
    ck_assert(ussd_var_set(&s, "k", val));
    ck_assert(ussd_var_set(&s, "k", "again"));
    ck_assert_str_eq(ussd_var(&s, "k"), "again");
    ck_assert_int_eq(s.nvars, 1);
    for (int i = 1; i < USSD_MAX_VARS; i++) {
        char k[16];
        snprintf(k, sizeof k, "v%d", i);
        ck_assert(ussd_var_set(&s, k, "x"));
    }
    ck_assert(!ussd_var_set(&s, "one_more", "x"));
    ck_assert(ussd_var_set(&s, "v3", "still fine"));
}
END_TEST

Suite *test_suite(void)
{
    Suite *s = suite_create("ussd");
    TCase *load = tcase_create("load");
    tcase_add_test(load, test_shipped_menus_load_clean);
    tcase_add_test(load, test_fixture_base_and_sms_files);
    tcase_add_test(load, test_yaml_syntax_error);
    tcase_add_test(load, test_unknown_kind);
    tcase_add_test(load, test_unknown_kind_reported_once);
    tcase_add_test(load, test_unknown_target);
    tcase_add_test(load, test_duplicate_option_key);
    tcase_add_test(load, test_option_key_clashes_with_navigation);
    tcase_add_test(load, test_unreachable_screen);
    tcase_add_test(load, test_missing_translation);
    tcase_add_test(load, test_invalid_pattern);
    tcase_add_test(load, test_static_text_over_budget);
    tcase_add_test(load, test_non_gsm_text);
    tcase_add_test(load, test_unknown_builtin);
    tcase_add_test(load, test_unknown_placeholder);
    tcase_add_test(load, test_missing_message_for_builtin);
    tcase_add_test(load, test_duplicate_screen_across_files);
    tcase_add_test(load, test_other_yaml_is_an_error);
    tcase_add_test(load, test_nav_labels_required);
    tcase_add_test(load, test_all_problems_listed);
    tcase_add_test(load, test_missing_directory);
    tcase_add_test(load, test_registry_consistent);
    tcase_add_test(load, test_resume_checked);
    suite_add_tcase(s, load);

    TCase *eng = tcase_create("engine");
    tcase_add_checked_fixture(eng, setup, teardown);
    tcase_add_test(eng, test_key_path_buys_electricity);
    tcase_add_test(eng, test_key_path_in_swahili);
    tcase_add_test(eng, test_pick_keeps_whole_meter_id);
    tcase_add_test(eng, test_bad_amount_reasks_with_reason);
    tcase_add_test(eng, test_back_home_and_more);
    tcase_add_test(eng, test_confirm_no_and_wrong_key);
    tcase_add_test(eng, test_end_kinds);
    tcase_add_test(eng, test_screen_slots);
    tcase_add_test(eng, test_thirty_meters_paginate);
    tcase_add_test(eng, test_longest_ids_picked_whole);
    tcase_add_test(eng, test_my_meters_is_display_only);
    tcase_add_test(eng, test_runtime_values_sanitized);
    tcase_add_test(eng, test_no_meters_and_host_failures);
    tcase_add_test(eng, test_language_switch);
    tcase_add_test(eng, test_stale_or_ended_session_restarts);
    tcase_add_test(eng, test_long_menu_paginates);
    tcase_add_test(eng, test_show_screen);
    tcase_add_test(eng, test_walk_shows_what_steps_show);
    tcase_add_test(eng, test_resume_goes_on_where_the_caller_was);
    tcase_add_test(eng, test_resume_declined_starts_afresh);
    tcase_add_test(eng, test_resume_offer_in_swahili_and_quiet);
    suite_add_tcase(s, eng);

    TCase *txt = tcase_create("text");
    tcase_add_test(txt, test_text_relations);
    tcase_add_test(txt, test_text_split);
    suite_add_tcase(s, txt);

    TCase *ses = tcase_create("session");
    tcase_add_test(ses, test_session_round_trip);
    tcase_add_test(ses, test_session_garbage_rejected);
    tcase_add_test(ses, test_var_limits);
    suite_add_tcase(s, ses);
    return s;
}
