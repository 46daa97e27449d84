/* fuzz target text_commands: a texted command on the shipped commands file
 * (menus/sms.yaml), through what the SMS worker does with it: normalizing
 * (text_normalize), matching (text_commands_match), rendering the replies
 * with what the sender typed in them (text_render), and cutting a reply to
 * its SMS parts for the outbox (outbox_fit). The whole input is the SMS
 * text as Africa's Talking delivers it, bytes as they came.
 *
 * Checks:
 * - normalized text is upper-case ASCII letters, digits, single spaces
 *   inside, '-' '_' '.' '/' '#' only between two letters or digits, and
 *   valid UTF-8 without blanks or controls; normalizing it again changes
 *   nothing; a text that fits is never reported cut;
 * - a match names a command and a language and its groups are pieces of
 *   the normalized text, trimmed;
 * - every reply of the matched command and every shared message, in both
 *   languages, rendered with the groups (and the raw text as a name and a
 *   list) is GSM-7, holds no brace but the outbox's {token}, and fits;
 * - cut to 1, 2 or 3 parts it takes at most that many (with {token} at its
 *   sent width), is a prefix of the reply plus "..." when cut, never splits
 *   a character or a placeholder. */
#include "fuzz.h"

#include "text/commands.h"
#include "sms/outbox.h"
#include "util/gsm.h"
#include "util/str.h"

#include <string.h>

#define TOKEN_SENT "0000 0000 0000 0000 0000"

static struct text_commands *cmds;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc, (void)argv;
    struct buf errors;
    buf_init(&errors, 0);
    const char *dir = getenv("LIPA_MENUS");
    FUZZ_CHECK(text_commands_load_dir(dir && *dir ? dir : "menus", &cmds, &errors) && cmds,
               "menus/sms.yaml does not load (run from the repository root):\n%s", errors.data ? errors.data : "");
    buf_free(&errors);
    return 0;
}

static bool alnum(unsigned char c)
{
    return (c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z');
}

static void check_normalized(const char *n)
{
    size_t len = strlen(n);
    FUZZ_CHECK(str_is_clean_utf8(n, len), "not clean UTF-8: %s", n);
    FUZZ_CHECK(!len || (n[0] != ' ' && n[len - 1] != ' '), "blank at an end: '%s'", n);
    FUZZ_CHECK(!strstr(n, "  "), "two blanks: '%s'", n);
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)n[i];
        FUZZ_CHECK(!(c >= 'a' && c <= 'z'), "lower case: '%s'", n);
        if (c < 0x80 && c != ' ' && !alnum(c)) {
            FUZZ_CHECK(strchr("-_./#", c), "punctuation %c: '%s'", c, n);
            FUZZ_CHECK(i > 0 && alnum((unsigned char)n[i - 1]) && alnum((unsigned char)n[i + 1]),
                       "%c not between two letters or digits: '%s'", c, n);
        }
    }
}

static void check_group(const char *g, const char *norm, const char *what)
{
    FUZZ_CHECK(memchr(g, 0, TEXT_GROUP_MAX), "%s unterminated", what);
    FUZZ_CHECK(!*g || strstr(norm, g), "%s '%s' is not in '%s'", what, g, norm);
    size_t n = strlen(g);
    FUZZ_CHECK(!n || (g[0] != ' ' && g[n - 1] != ' '), "%s '%s' not trimmed", what, g);
}

/* The reply as sent: every {token} at its width. */
static int parts_sent(const char *body)
{
    char sized[4096];
    size_t o = 0;
    for (const char *p = body; *p && o + sizeof TOKEN_SENT < sizeof sized;) {
        if (!strncmp(p, "{token}", 7)) {
            memcpy(sized + o, TOKEN_SENT, sizeof TOKEN_SENT - 1);
            o += sizeof TOKEN_SENT - 1;
            p += 7;
        } else {
            sized[o++] = *p++;
        }
    }
    sized[o] = 0;
    struct gsm_parts gp;
    gsm_parts(sized, &gp);
    return gp.parts;
}

/* the shipped placeholders' widths; never rendered here */
static const struct outbox_placeholder widths[] = {
    {"{token}", "0000 0000 0000 0000 0000", NULL},
    {"{code}", "000000", NULL},
    {NULL, NULL, NULL},
};

static void check_fit(const char *body)
{
    static char out[OUTBOX_BODY_MAX + 1];
    for (int max = 1; max <= 3; max++) {
        bool cut = outbox_fit(widths, body, max, out, sizeof out);
        FUZZ_CHECK(memchr(out, 0, sizeof out), "unterminated");
        if (!cut) {
            FUZZ_CHECK(!strcmp(out, body), "changed without a cut");
            FUZZ_CHECK(parts_sent(out) <= max, "%d parts, at most %d: %s", parts_sent(out), max, out);
            continue;
        }
        size_t n = strlen(out);
        FUZZ_CHECK(n >= 3 && !strcmp(out + n - 3, "..."), "cut without ...: %s", out);
        size_t k = n - 3;
        FUZZ_CHECK(!strncmp(out, body, k), "not a prefix: %s", out);
        FUZZ_CHECK(((unsigned char)body[k] & 0xC0) != 0x80, "split a character at %zu", k);
        const char *open = NULL;
        for (size_t i = 0; i < k; i++)
            open = body[i] == '{' ? body + i : body[i] == '}' ? NULL : open;
        FUZZ_CHECK(!open || !strchr(open, '}') || strchr(open, '}') < body + k, "split a placeholder: %s", out);
        FUZZ_CHECK(parts_sent(out) <= max, "%d parts, at most %d: %s", parts_sent(out), max, out);
    }
}

static void check_reply(const char *tmpl, const struct text_var *vars, size_t nvars)
{
    static char out[1024];
    if (!tmpl)
        return;
    memset(out, 'Z', sizeof out);
    text_render(tmpl, vars, nvars, out, sizeof out);
    FUZZ_CHECK(memchr(out, 0, sizeof out), "render unterminated");
    FUZZ_CHECK(gsm_septets(out) >= 0, "reply not GSM-7: %s", out);
    for (const char *p = out; (p = strpbrk(p, "{}")); p++) {
        FUZZ_CHECK(!strncmp(p, "{token}", 7), "a brace in the reply: %s", out);
        p += 6;
    }
    check_fit(out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = fuzz_strdup(data, size);
    char norm[TEXT_NORM_MAX], again[TEXT_NORM_MAX];
    bool fits = text_normalize(text, norm, sizeof norm);
    FUZZ_CHECK(memchr(norm, 0, sizeof norm), "unterminated");
    if (fits) {
        check_normalized(norm);
        FUZZ_CHECK(text_normalize(norm, again, sizeof again) && !strcmp(norm, again), "'%s' became '%s'", norm,
                   again);
    }
    if (strlen(text) < TEXT_NORM_MAX) /* normalizing never lengthens */
        FUZZ_CHECK(fits, "%zu bytes reported cut", strlen(text));

    struct text_match m;
    memset(&m, 0x5a, sizeof m);
    if (fits && text_commands_match(cmds, norm, &m)) {
        FUZZ_CHECK(m.cmd && (m.lang == TEXT_EN || m.lang == TEXT_SW), "match without a command");
        check_group(m.meter, norm, "meter");
        check_group(m.amount, norm, "amount");
        check_group(m.liters, norm, "liters");
        FUZZ_CHECK(text_command_action(m.cmd) < TEXT_NACTIONS, "action");
    } else if (fits) {
        FUZZ_CHECK(!m.cmd, "no match, yet a command");
    } else {
        memset(&m, 0, sizeof m); /* too long to be a command: the worker answers help */
    }

    /* what the worker renders: the groups, and the raw text where it
     * could reach a reply (a meter's name or list, as stored) */
    char meter[TEXT_GROUP_MAX], name[200];
    str_copy_chars(meter, sizeof meter, m.cmd ? m.meter : text, 20);
    str_copy(name, sizeof name, text);
    const struct text_var vars[] = {
        {"meter", meter}, {"name", name}, {"kwh", "12.50"}, {"amount", m.cmd && *m.amount ? m.amount : "100"},
        {"min", "10"}, {"max", "10000"}, {"list", name}, {"count", "3"}, {"receipt", "NLJ7RT61SV"},
        {"liters", m.cmd && *m.liters ? m.liters : "20"},
    };
    static const char *const keys[] = {"ok", "unavailable", "amount_range", "inactive", "failed", "none",
                                       "invalid", NULL};
    static const char *const shared[] = {"help", "unregistered", "not_yours", "which_meter", "no_meters",
                                         "error", NULL};
    for (int l = 0; l < TEXT_NLANG; l++) {
        for (int k = 0; m.cmd && keys[k]; k++)
            check_reply(text_reply(m.cmd, keys[k], (enum text_lang)l), vars, sizeof vars / sizeof vars[0]);
        for (int k = 0; shared[k]; k++)
            check_reply(text_message(cmds, shared[k], (enum text_lang)l), vars, sizeof vars / sizeof vars[0]);
    }
    free(text);
    return 0;
}
