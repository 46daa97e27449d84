/* text/commands: loading and checking the texting commands file, normalizing
 * inbound text and matching it; see commands.h. The registry of actions
 * below says, for each action, which named groups its patterns may use and
 * must capture, which replies it needs and which placeholders each reply
 * may use: the loader checks the file against it, so the SMS worker can
 * trust every text it is given. */
#include "text/commands.h"

#include "util/gsm.h"
#include "util/regex.h"
#include "util/str.h"
#include "util/yaml.h"

#include <errno.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define MAX_COMMANDS 32
#define MAX_EXAMPLES 16
#define MAX_REPLIES 6
#define MAX_VARS 8
#define MAX_FILE_BYTES (256L * 1024)
#define NAME_MAX_LEN 31

static const char *const lang_names[TEXT_NLANG] = {"en", "sw"};

/* ---- the registry ---- */

enum { G_METER = 1, G_AMOUNT = 2, G_LITERS = 4 };
static const char *const group_names[] = {"meter", "amount", "liters"};
#define NGROUPS 3

struct reply_spec {
    const char *key;
    const char *vars[MAX_VARS]; /* placeholders it may use, NULL-terminated */
};

struct action_spec {
    const char *name;
    bool needs_user;
    bool required;              /* the file must have a command running it */
    unsigned groups;            /* named groups its patterns may use */
    unsigned capture_any;       /* every example must capture one of these (0: none) */
    struct reply_spec replies[MAX_REPLIES]; /* all required */
};

static const struct action_spec actions[TEXT_NACTIONS] = {
    [TEXT_BALANCE] = {"balance", true, false, G_METER, 0,
                     {{"ok", {"meter", "name", "kwh"}}, {"unavailable", {"meter", "name"}}}},
    [TEXT_BUY] = {"buy", true, false, G_METER | G_AMOUNT, G_AMOUNT,
                 {{"ok", {"meter", "name", "amount", "kwh"}},
                  {"amount_range", {"min", "max"}},
                  {"inactive", {"meter", "name"}},
                  {"failed", {NULL}}}},
    [TEXT_METERS] = {"meters", true, false, 0, 0, {{"ok", {"list", "count"}}}},
    [TEXT_TOKEN] = {"token", true, false, G_METER, 0,
                   {{"ok", {"meter", "name", "kwh", "amount", "receipt", "token"}}, {"none", {NULL}}}},
    [TEXT_WATER] = {"water", false, false, G_LITERS | G_AMOUNT, G_LITERS | G_AMOUNT,
                   {{"ok", {"liters", "amount"}}, {"invalid", {"min", "max"}}, {"failed", {NULL}}}},
    [TEXT_HELP] = {"help", false, true, 0, 0, {{NULL, {NULL}}}},
    [TEXT_STOP] = {"stop", false, true, 0, 0, {{"ok", {NULL}}}},
    [TEXT_START] = {"start", false, true, 0, 0, {{"ok", {NULL}}}},
};

/* Shared messages: all required. */
static const struct reply_spec shared[] = {
    {"help", {NULL}},       {"unregistered", {NULL}}, {"not_yours", {"meter"}},
    {"which_meter", {"list"}}, {"no_meters", {NULL}}, {"error", {NULL}},
};
#define NSHARED (sizeof shared / sizeof shared[0])

/* ---- the loaded set ---- */

struct text2 {
    char *t[TEXT_NLANG];
    int line[TEXT_NLANG];       /* in the file, for warnings */
};

struct reply {
    const char *key;            /* the registry's string */
    struct text2 text;
};

struct text_command {
    char *name;
    int line;
    enum text_action action;
    struct regex *re[TEXT_NLANG];
    int re_line[TEXT_NLANG];
    int nex[TEXT_NLANG];
    char *ex[TEXT_NLANG][MAX_EXAMPLES];
    int ex_line[TEXT_NLANG][MAX_EXAMPLES];
    int nreplies;
    struct reply replies[MAX_REPLIES];
};

struct text_commands {
    atomic_int refs;
    int n;
    struct text_command cmds[MAX_COMMANDS];
    struct text2 msgs[NSHARED];
};

static void text2_free(struct text2 *t)
{
    for (int l = 0; l < TEXT_NLANG; l++)
        free(t->t[l]);
}

static void commands_free(struct text_commands *c)
{
    if (!c)
        return;
    for (int i = 0; i < c->n; i++) {
        struct text_command *k = &c->cmds[i];
        free(k->name);
        for (int l = 0; l < TEXT_NLANG; l++) {
            regex_free(k->re[l]);
            for (int e = 0; e < k->nex[l]; e++)
                free(k->ex[l][e]);
        }
        for (int r = 0; r < k->nreplies; r++)
            text2_free(&k->replies[r].text);
    }
    for (size_t i = 0; i < NSHARED; i++)
        text2_free(&c->msgs[i]);
    free(c);
}

void text_commands_ref(struct text_commands *c)
{
    if (c)
        atomic_fetch_add(&c->refs, 1);
}

void text_commands_unref(struct text_commands *c)
{
    if (c && atomic_fetch_sub(&c->refs, 1) == 1)
        commands_free(c);
}

int text_commands_count(const struct text_commands *c) { return c ? c->n : 0; }

/* ---- normalizing ---- */

static bool is_alnum(unsigned c)
{
    return (c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z');
}

static bool is_digit(unsigned c) { return c >= '0' && c <= '9'; }

/* Non-ASCII blanks and punctuation a phone keyboard produces: no-break
 * space, the General Punctuation block (curly quotes, dashes, ellipsis),
 * ideographic space, BOM. */
static bool unicode_blank(unsigned c)
{
    return c == 0xA0 || (c >= 0x2000 && c <= 0x206F) || c == 0x3000 || c == 0xFEFF || c == 0xA1 ||
           c == 0xBF || c == 0xAB || c == 0xBB;
}

bool text_normalize(const char *in, char *out, size_t outsz)
{
    const unsigned char *p = (const unsigned char *)(in ? in : "");
    size_t o = 0;
    bool space = false, fits = true;
    unsigned prev = 0; /* last code point kept (0 after a space) */
    if (!outsz)
        return false;
    while (*p) {
        uint32_t cp;
        int k = str_utf8_next((const char *)p, SIZE_MAX, &cp);
        if (!k || cp == 0xFFFD) { /* an invalid byte (stored as U+FFFD) separates like a blank */
            space = o > 0;
            prev = 0;
            p += k ? k : 1;
            continue;
        }
        const unsigned char *next = p + k;
        bool keep;
        if (cp < 0x80) {
            if (is_alnum(cp))
                keep = true;
            else if ((cp == '-' || cp == '_' || cp == '.' || cp == '/' || cp == '#') && !space && prev &&
                     is_alnum(prev) && is_alnum(*next))
                keep = true; /* joins a name: A-1, 12/B */
            else if (cp == ',' && !space && is_digit(prev) && is_digit(*next)) {
                p = next; /* 1,000 -> 1000 */
                continue;
            } else
                keep = false;
        } else
            keep = !unicode_blank(cp);
        if (!keep) {
            space = o > 0;
            prev = 0;
            p = next;
            continue;
        }
        size_t need = (size_t)k + (space ? 1 : 0);
        if (o + need >= outsz) {
            fits = false;
            break;
        }
        if (space)
            out[o++] = ' ';
        space = false;
        if (cp >= 'a' && cp <= 'z')
            out[o++] = (char)(cp - 32);
        else {
            memcpy(out + o, p, (size_t)k);
            o += (size_t)k;
        }
        prev = cp;
        p = next;
    }
    out[o] = 0;
    return fits;
}

/* ---- matching ---- */

bool text_commands_match(const struct text_commands *c, const char *text, struct text_match *m)
{
    memset(m, 0, sizeof *m);
    if (!c || !text || !*text)
        return false;
    for (int i = 0; i < c->n; i++) {
        const struct text_command *k = &c->cmds[i];
        for (int l = 0; l < TEXT_NLANG; l++) {
            if (!regex_match(k->re[l], text))
                continue;
            m->cmd = k;
            m->lang = (enum text_lang)l;
            unsigned g = actions[k->action].groups;
            if ((g & G_METER) && !regex_group(k->re[l], text, "meter", m->meter, sizeof m->meter))
                m->meter[0] = 0;
            if ((g & G_AMOUNT) && !regex_group(k->re[l], text, "amount", m->amount, sizeof m->amount))
                m->amount[0] = 0;
            if ((g & G_LITERS) && !regex_group(k->re[l], text, "liters", m->liters, sizeof m->liters))
                m->liters[0] = 0;
            str_trim(m->meter);
            str_trim(m->amount);
            str_trim(m->liters);
            return true;
        }
    }
    return false;
}

const char *text_command_name(const struct text_command *cmd) { return cmd->name; }
enum text_action text_command_action(const struct text_command *cmd) { return cmd->action; }

const char *text_action_name(enum text_action a)
{
    return (int)a >= 0 && (int)a < TEXT_NACTIONS ? actions[a].name : "?";
}

bool text_action_needs_user(enum text_action a)
{
    return (int)a >= 0 && (int)a < TEXT_NACTIONS && actions[a].needs_user;
}

const char *text_reply(const struct text_command *cmd, const char *key, enum text_lang l)
{
    for (int i = 0; cmd && i < cmd->nreplies; i++)
        if (!strcmp(cmd->replies[i].key, key))
            return cmd->replies[i].text.t[l];
    return NULL;
}

const char *text_message(const struct text_commands *c, const char *key, enum text_lang l)
{
    for (size_t i = 0; c && i < NSHARED; i++)
        if (!strcmp(shared[i].key, key))
            return c->msgs[i].t[l];
    return NULL;
}

/* ---- rendering ---- */

/* A placeholder name at p ("{name}"): its length, or 0 when p does not
 * start one. */
static size_t placeholder_at(const char *p)
{
    if (*p != '{')
        return 0;
    size_t n = 1;
    while ((p[n] >= 'a' && p[n] <= 'z') || p[n] == '_')
        n++;
    return n > 1 && p[n] == '}' ? n + 1 : 0;
}

/* Appends the k bytes at p when they fit whole; false when they do not. */
static bool put(char *out, size_t outsz, size_t *o, const char *p, size_t k)
{
    if (*o + k >= outsz)
        return false;
    memcpy(out + *o, p, k);
    *o += k;
    return true;
}

/* Appends value to out at *o, GSM-7 only, no control characters (but
 * newlines) or braces. */
static bool put_value(const char *value, char *out, size_t outsz, size_t *o)
{
    char clean[512];
    gsm_sanitize(value ? value : "", clean, sizeof clean);
    for (const char *v = clean; *v;) {
        size_t k = str_utf8_len((unsigned char)*v);
        if (*v == '{' || *v == '}') {
            v++;
            continue;
        }
        if (!put(out, outsz, o, v, k))
            return false;
        v += k;
    }
    return true;
}

void text_render(const char *tmpl, const struct text_var *vars, size_t nvars, char *out, size_t outsz)
{
    size_t o = 0;
    if (!outsz)
        return;
    for (const char *p = tmpl ? tmpl : ""; *p;) {
        size_t n = placeholder_at(p);
        const struct text_var *v = NULL;
        for (size_t i = 0; n && i < nvars && !v; i++)
            if (strlen(vars[i].name) == n - 2 && !strncmp(vars[i].name, p + 1, n - 2))
                v = &vars[i];
        if (v) {
            if (!put_value(v->value, out, outsz, &o))
                break;
            p += n;
            continue;
        }
        /* an unknown placeholder goes whole or not at all */
        size_t k = n ? n : str_utf8_len((unsigned char)*p);
        if (strnlen(p, k) < k || !put(out, outsz, &o, p, k))
            break;
        p += k;
    }
    out[o] = 0;
}

/* ---- loading ---- */

struct ld {
    struct yread y;            /* the file, its document, the problems */
    struct text_commands *c;
};

#define report(L, ...) yread_report(&(L)->y, __VA_ARGS__)

/* A malloc'ed copy of a scalar, or NULL after reporting. */
static char *scalar_dup(struct ld *L, int n, const char *what)
{
    const char *t = yread_scalar(&L->y, n, what);
    if (!t)
        return NULL;
    char *s = strdup(t);
    if (!s)
        L->y.oom = true;
    return s;
}

/* Reports keys of map that are not plain values, not in allowed
 * (NULL-terminated), or repeated. */
static void only_keys(struct ld *L, int map, const char *what, const char *const *allowed)
{
    struct yread_key keys[16];
    int n = 0;
    while (allowed[n] && n < 16) {
        keys[n] = (struct yread_key){allowed[n], false};
        n++;
    }
    yread_fields(&L->y, map, yread_line(&L->y, map), what, keys, n, NULL, NULL);
}

/* Checks a reply text: GSM-7, and only the placeholders vars allows. */
static bool check_text(struct ld *L, const char *t, int line, const char *what, const char *lang,
                       const char *const *vars)
{
    bool ok = true;
    if (gsm_septets(t) < 0) {
        report(L, line, "%s translation of %s has characters outside GSM-7 (they would make the SMS UCS-2: "
                        "70 characters a part instead of 160)", lang, what);
        ok = false;
    }
    for (const char *p = t; *p; p++) {
        if (*p != '{' && *p != '}')
            continue;
        size_t n = placeholder_at(p);
        if (!n) {
            report(L, line, "%s translation of %s: a brace that is not a {placeholder}", lang, what);
            return false;
        }
        bool known = false;
        for (int i = 0; vars[i] && !known; i++)
            known = strlen(vars[i]) == n - 2 && !strncmp(vars[i], p + 1, n - 2);
        if (!known) {
            char list[160] = "";
            size_t o = 0;
            for (int i = 0; vars[i]; i++)
                o += (size_t)snprintf(list + o, sizeof list - o, "%s{%s}", i ? " " : "", vars[i]);
            report(L, line, "%s translation of %s: unknown placeholder %.*s (it may use: %s)", lang, what,
                   (int)n, p, o ? list : "none");
            ok = false;
        }
        p += n - 1;
    }
    return ok;
}

/* Reads {en: ..., sw: ...} into out (malloc'ed strings). */
static bool read_text2(struct ld *L, int v, int kline, const char *what, const char *const *vars,
                       struct text2 *out)
{
    static const char *const langs[] = {"en", "sw", NULL};
    if (!yread_is_map(&L->y, v)) {
        report(L, v ? yread_line(&L->y, v) : kline, "%s must be a mapping {en: ..., sw: ...}", what);
        return false;
    }
    only_keys(L, v, what, langs);
    bool ok = true;
    for (int l = 0; l < TEXT_NLANG; l++) {
        int ll;
        int t = yread_get(&L->y, v, lang_names[l], &ll);
        if (!t) {
            report(L, kline, "missing %s translation of %s", lang_names[l], what);
            ok = false;
            continue;
        }
        char *s = scalar_dup(L, t, what);
        if (!s) {
            ok = false;
            continue;
        }
        str_trim(s);
        size_t n = strlen(s);
        while (n && (s[n - 1] == '\n' || s[n - 1] == '\r'))
            s[--n] = 0;
        if (!n) {
            report(L, yread_line(&L->y, t), "empty %s translation of %s", lang_names[l], what);
            free(s);
            ok = false;
            continue;
        }
        if (!check_text(L, s, yread_line(&L->y, t), what, lang_names[l], vars)) {
            free(s);
            ok = false;
            continue;
        }
        out->t[l] = s;
        out->line[l] = yread_line(&L->y, t);
    }
    return ok;
}

static void read_messages(struct ld *L, int msgs, int kline)
{
    if (!yread_is_map(&L->y, msgs)) {
        report(L, msgs ? yread_line(&L->y, msgs) : kline, "messages must be a mapping of key: {en: ..., sw: ...}");
        return;
    }
    const char *allowed[NSHARED + 1];
    for (size_t i = 0; i < NSHARED; i++)
        allowed[i] = shared[i].key;
    allowed[NSHARED] = NULL;
    only_keys(L, msgs, "messages", allowed);
    for (size_t i = 0; i < NSHARED; i++) {
        int ml;
        int v = yread_get(&L->y, msgs, shared[i].key, &ml);
        char what[64];
        snprintf(what, sizeof what, "message %s", shared[i].key);
        if (!v)
            report(L, kline, "messages needs '%s'", shared[i].key);
        else
            read_text2(L, v, ml, what, shared[i].vars, &L->c->msgs[i]);
    }
}

/* Named groups written in a pattern: (?<name>, (?P<name>, (?'name'. */
static bool check_groups(struct ld *L, const char *pat, int line, const char *cmd, enum text_action a)
{
    bool ok = true;
    for (const char *p = pat; *p; p++) {
        if (*p == '\\') {
            if (p[1])
                p++;
            continue;
        }
        if (strncmp(p, "(?", 2))
            continue;
        const char *q = p + 2;
        char close;
        if (*q == 'P' && q[1] == '<')
            q += 2, close = '>';
        else if (*q == '<' && q[1] != '=' && q[1] != '!')
            q += 1, close = '>';
        else if (*q == '\'')
            q += 1, close = '\'';
        else
            continue;
        const char *e = strchr(q, close);
        if (!e)
            continue; /* PCRE2 reports it */
        int g = -1;
        for (int i = 0; i < NGROUPS; i++)
            if ((size_t)(e - q) == strlen(group_names[i]) && !strncmp(q, group_names[i], (size_t)(e - q)))
                g = i;
        if (g < 0) {
            report(L, line, "command %s: unknown group '%.*s' (groups: meter, amount, liters)", cmd, (int)(e - q), q);
            ok = false;
        } else if (!(actions[a].groups & (1u << g))) {
            report(L, line, "command %s: action %s does not use a '%s' group", cmd, actions[a].name, group_names[g]);
            ok = false;
        }
    }
    return ok;
}

static void read_examples(struct ld *L, struct text_command *k, int v, int kline)
{
    static const char *const langs[] = {"en", "sw", NULL};
    if (!yread_is_map(&L->y, v)) {
        report(L, v ? yread_line(&L->y, v) : kline, "command %s: examples must be a mapping {en: [...], sw: [...]}", k->name);
        return;
    }
    only_keys(L, v, "examples", langs);
    for (int l = 0; l < TEXT_NLANG; l++) {
        int ll;
        int list = yread_get(&L->y, v, lang_names[l], &ll);
        if (ynode_kind(L->y.doc, list) != YN_SEQ || !ynode_count(L->y.doc, list)) {
            report(L, list ? yread_line(&L->y, list) : kline, "command %s: examples needs a non-empty %s list", k->name,
                   lang_names[l]);
            continue;
        }
        for (size_t it = 0; it < ynode_count(L->y.doc, list); it++) {
            int e = ynode_item(L->y.doc, list, it);
            if (k->nex[l] == MAX_EXAMPLES) {
                report(L, yread_line(&L->y, e), "command %s: more than %d %s examples", k->name, MAX_EXAMPLES, lang_names[l]);
                break;
            }
            char *s = scalar_dup(L, e, "an example");
            if (!s)
                continue;
            k->ex_line[l][k->nex[l]] = yread_line(&L->y, e);
            k->ex[l][k->nex[l]++] = s;
        }
    }
}

static void read_replies(struct ld *L, struct text_command *k, int v, int kline)
{
    const struct action_spec *as = &actions[k->action];
    const char *allowed[MAX_REPLIES + 1];
    int n = 0;
    for (; n < MAX_REPLIES && as->replies[n].key; n++)
        allowed[n] = as->replies[n].key;
    allowed[n] = NULL;
    if (!v) {
        if (n) {
            char list[128] = "";
            size_t o = 0;
            for (int i = 0; i < n && o < sizeof list; i++)
                o += (size_t)snprintf(list + o, sizeof list - o, "%s%s", i ? ", " : "", allowed[i]);
            report(L, kline, "command %s needs replies: (%s)", k->name, list);
        }
        return;
    }
    if (!yread_is_map(&L->y, v)) {
        report(L, yread_line(&L->y, v), "command %s: replies must be a mapping of key: {en: ..., sw: ...}", k->name);
        return;
    }
    char what[96];
    snprintf(what, sizeof what, "replies of %s (action %s)", k->name, as->name);
    only_keys(L, v, what, allowed);
    for (int i = 0; i < n; i++) {
        int rl;
        int t = yread_get(&L->y, v, as->replies[i].key, &rl);
        if (!t) {
            report(L, kline, "command %s: replies needs '%s'", k->name, as->replies[i].key);
            continue;
        }
        snprintf(what, sizeof what, "reply %s of %s", as->replies[i].key, k->name);
        struct reply *r = &k->replies[k->nreplies];
        r->key = as->replies[i].key;
        if (read_text2(L, t, rl, what, as->replies[i].vars, &r->text)) {
            k->nreplies++;
            if (k->action == TEXT_TOKEN && !strcmp(r->key, "ok"))
                for (int l = 0; l < TEXT_NLANG; l++)
                    if (!strstr(r->text.t[l], "{token}"))
                        report(L, rl, "command %s: the %s reply ok must hold {token}", k->name, lang_names[l]);
        } else {
            text2_free(&r->text);
            memset(r, 0, sizeof *r);
        }
    }
}

static bool valid_name(const char *s)
{
    size_t n = strlen(s);
    if (!n || n > NAME_MAX_LEN)
        return false;
    for (; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') || *s == '_' || *s == '-'))
            return false;
    return true;
}

static void read_command(struct ld *L, int key, int v)
{
    static const char *const keys[] = {"action", "pattern", "examples", "replies", NULL};
    if (!yread_is_scalar(&L->y, key) || !valid_name(yread_str(&L->y, key))) {
        report(L, yread_line(&L->y, key), "a command name is 1-%d of a-z 0-9 _ -", NAME_MAX_LEN);
        return;
    }
    for (int i = 0; i < L->c->n; i++)
        if (!strcmp(L->c->cmds[i].name, yread_str(&L->y, key))) {
            report(L, yread_line(&L->y, key), "command %s given twice (first at line %d)", yread_str(&L->y, key), L->c->cmds[i].line);
            return;
        }
    if (L->c->n == MAX_COMMANDS) {
        report(L, yread_line(&L->y, key), "more than %d commands", MAX_COMMANDS);
        return;
    }
    if (!yread_is_map(&L->y, v)) {
        report(L, yread_line(&L->y, v), "command %s must be a mapping (action, pattern, examples, replies)", yread_str(&L->y, key));
        return;
    }
    struct text_command *k = &L->c->cmds[L->c->n];
    memset(k, 0, sizeof *k);
    k->name = strdup(yread_str(&L->y, key));
    if (!k->name) {
        L->y.oom = true;
        return;
    }
    k->line = yread_line(&L->y, key);
    L->c->n++;
    only_keys(L, v, "a command", keys);
    int al, pl, el, rl;
    int act = yread_get(&L->y, v, "action", &al), pat = yread_get(&L->y, v, "pattern", &pl), ex = yread_get(&L->y, v, "examples", &el),
        rep = yread_get(&L->y, v, "replies", &rl);
    int a = -1;
    if (!act)
        report(L, k->line, "command %s needs 'action'", k->name);
    else if (!yread_is_scalar(&L->y, act))
        report(L, yread_line(&L->y, act), "command %s: action must be a plain value", k->name);
    else {
        for (int i = 0; i < TEXT_NACTIONS; i++)
            if (!strcmp(actions[i].name, yread_str(&L->y, act)))
                a = i;
        if (a < 0)
            report(L, yread_line(&L->y, act), "command %s: unknown action '%s' (balance, buy, meters, token, water, help, "
                                    "stop, start)", k->name, yread_str(&L->y, act));
    }
    if (a < 0) {
        k->action = TEXT_HELP;
        return; /* the rest cannot be checked without the action */
    }
    k->action = (enum text_action)a;
    if (!pat || !yread_is_map(&L->y, pat))
        report(L, pat ? yread_line(&L->y, pat) : k->line, "command %s needs pattern: {en: ..., sw: ...}", k->name);
    else {
        static const char *const langs[] = {"en", "sw", NULL};
        only_keys(L, pat, "pattern", langs);
        for (int l = 0; l < TEXT_NLANG; l++) {
            int ll;
            int p = yread_get(&L->y, pat, lang_names[l], &ll);
            if (!p) {
                report(L, pl, "command %s: missing %s pattern", k->name, lang_names[l]);
                continue;
            }
            char *s = scalar_dup(L, p, "a pattern");
            if (!s)
                continue;
            char err[256];
            k->re_line[l] = yread_line(&L->y, p);
            if (!*s)
                report(L, yread_line(&L->y, p), "command %s: empty %s pattern", k->name, lang_names[l]);
            else if (check_groups(L, s, yread_line(&L->y, p), k->name, k->action) &&
                     !(k->re[l] = regex_new(s, true, err, sizeof err)))
                report(L, yread_line(&L->y, p), "command %s: %s pattern: %s", k->name, lang_names[l], err);
            free(s);
        }
    }
    if (!ex)
        report(L, k->line, "command %s needs examples: {en: [...], sw: [...]} (the overlap check uses them)",
               k->name);
    else
        read_examples(L, k, ex, el);
    read_replies(L, k, rep, rep ? rl : k->line);
}

/* Every example matches its own pattern, captures what its action needs,
 * and matches no other command's pattern. */
static void check_examples(struct ld *L)
{
    struct text_commands *c = L->c;
    char norm[TEXT_NORM_MAX], got[TEXT_GROUP_MAX];
    for (int i = 0; i < c->n; i++) {
        struct text_command *k = &c->cmds[i];
        for (int l = 0; l < TEXT_NLANG; l++) {
            for (int e = 0; e < k->nex[l]; e++) {
                int line = k->ex_line[l][e];
                const char *ex = k->ex[l][e];
                if (!text_normalize(ex, norm, sizeof norm) || !*norm) {
                    report(L, line, "command %s: example '%s' is empty or too long once normalized", k->name, ex);
                    continue;
                }
                if (k->re[l] && !regex_match(k->re[l], norm))
                    report(L, line, "command %s: %s example '%s' (normalized '%s') does not match its %s pattern",
                           k->name, lang_names[l], ex, norm, lang_names[l]);
                else if (k->re[l] && actions[k->action].capture_any) {
                    bool captured = false;
                    for (int g = 0; g < NGROUPS && !captured; g++)
                        if ((actions[k->action].capture_any & (1u << g)) &&
                            regex_group(k->re[l], norm, group_names[g], got, sizeof got) && got[0])
                            captured = true;
                    if (!captured)
                        report(L, line, "command %s: example '%s' captures no %s group, which action %s needs",
                               k->name, ex, k->action == TEXT_BUY ? "amount" : "liters or amount",
                               actions[k->action].name);
                }
                for (int j = 0; j < c->n; j++) {
                    if (j == i)
                        continue;
                    for (int l2 = 0; l2 < TEXT_NLANG; l2++)
                        if (c->cmds[j].re[l2] && regex_match(c->cmds[j].re[l2], norm))
                            report(L, line, "commands %s and %s can match the same text: example '%s' of %s "
                                            "also matches the %s pattern of %s (line %d)",
                                   k->name, c->cmds[j].name, ex, k->name, lang_names[l2], c->cmds[j].name,
                                   c->cmds[j].re_line[l2]);
                }
            }
        }
    }
}

static void check_required(struct ld *L, int line)
{
    for (int a = 0; a < TEXT_NACTIONS; a++) {
        if (!actions[a].required)
            continue;
        bool have = false;
        for (int i = 0; i < L->c->n && !have; i++)
            have = L->c->cmds[i].action == (enum text_action)a;
        if (!have)
            report(L, line, "no command runs action %s (%s)", actions[a].name,
                   a == TEXT_HELP ? "senders must be able to ask for help"
                                 : "opting out of and back into notices must always be possible");
    }
}

static void load_doc(struct ld *L, const struct yaml_doc *doc)
{
    static const char *const top[] = {"messages", "commands", NULL};
    L->y.doc = doc;
    int root = ydoc_root(doc);
    if (!yread_is_map(&L->y, root)) {
        report(L, root ? yread_line(&L->y, root) : 1, "not an SMS commands file: the top level must be a mapping with "
                                            "messages: and commands:");
        return;
    }
    only_keys(L, root, "the top level", top);
    int ml, cl;
    int msgs = yread_get(&L->y, root, "messages", &ml), cmds = yread_get(&L->y, root, "commands", &cl);
    if (!msgs)
        report(L, yread_line(&L->y, root), "the top level needs 'messages'");
    else
        read_messages(L, msgs, ml);
    if (!cmds) {
        report(L, yread_line(&L->y, root), "the top level needs 'commands'");
        return;
    }
    if (!yread_is_map(&L->y, cmds)) {
        report(L, yread_line(&L->y, cmds), "commands must be a mapping of name: command");
        return;
    }
    for (size_t p = 0; p < ynode_count(doc, cmds) && !L->y.oom; p++)
        read_command(L, ynode_key(doc, cmds, p), ynode_value(doc, cmds, p));
    check_required(L, cl);
    check_examples(L);
}

struct text_commands *text_commands_load(const char *path, struct buf *errors)
{
    struct ld L = {.y = {.file = path, .errors = errors}};
    struct ydoc_error e;
    struct yaml_doc *doc = NULL;
    L.c = calloc(1, sizeof *L.c);
    if (!L.c) {
        report(&L, 0, "out of memory");
        return NULL;
    }
    atomic_init(&L.c->refs, 1);
    if (!(doc = ydoc_load(path, MAX_FILE_BYTES, &e))) {
        if (e.kind == YDOC_NOMEM)
            L.y.oom = true;
        else
            report(&L, e.line, "%s", e.msg);
        goto out;
    }
    load_doc(&L, doc);
out:
    if (L.y.oom)
        report(&L, 0, "out of memory");
    L.y.doc = NULL;
    ydoc_free(doc);
    if (L.y.nerr) {
        commands_free(L.c);
        return NULL;
    }
    return L.c;
}

/* ---- warnings ---- */

/* The width each placeholder usually takes in a reply: a meter number of
 * 12 digits, a name cut to 20 like on a USSD screen, a token as the outbox
 * groups its 20 digits, a list of two such meters. */
static const struct {
    const char *name;
    int width;
} usual[] = {
    {"meter", 12}, {"name", 20}, {"kwh", 7},   {"amount", 6},   {"min", 6},     {"max", 6},
    {"liters", 5}, {"count", 2}, {"receipt", 10}, {"token", 24}, {"list", 2 * 37 + 1},
};

static void warn_text(const char *path, const char *what, const struct text2 *t, struct buf *out, int *n)
{
    for (int l = 0; l < TEXT_NLANG; l++) {
        char x[2048];
        size_t o = 0;
        for (const char *p = t->t[l]; p && *p && o + 1 < sizeof x;) {
            size_t ph = *p == '{' ? placeholder_at(p) : 0;
            int w = -1;
            for (size_t i = 0; ph && i < sizeof usual / sizeof usual[0]; i++)
                if (strlen(usual[i].name) == ph - 2 && !strncmp(usual[i].name, p + 1, ph - 2))
                    w = usual[i].width;
            if (w < 0) {
                x[o++] = *p++;
                continue;
            }
            for (int i = 0; i < w && o + 1 < sizeof x; i++)
                x[o++] = 'X';
            p += ph;
        }
        x[o] = 0;
        struct gsm_parts gp;
        gsm_parts(x, &gp);
        if (gp.parts > 1) {
            buf_printf(out,
                       "%s:%d: warning: %s in %s can take %d SMS parts (%d %s with placeholders at their usual "
                       "width; one part holds %d)\n",
                       path, t->line[l], what, lang_names[l], gp.parts, gp.units, gp.ucs2 ? "UCS-2 units" : "characters",
                       gp.ucs2 ? 70 : 160);
            (*n)++;
        }
    }
}

int text_commands_warnings(const struct text_commands *c, const char *path, struct buf *out)
{
    int n = 0;
    char what[96];
    for (size_t i = 0; i < NSHARED; i++) {
        snprintf(what, sizeof what, "message %s", shared[i].key);
        warn_text(path, what, &c->msgs[i], out, &n);
    }
    for (int k = 0; k < c->n; k++)
        for (int r = 0; r < c->cmds[k].nreplies; r++) {
            snprintf(what, sizeof what, "reply %s of command %s", c->cmds[k].replies[r].key, c->cmds[k].name);
            warn_text(path, what, &c->cmds[k].replies[r].text, out, &n);
        }
    return n;
}

const char *text_commands_name_at(const struct text_commands *c, int i)
{
    return i >= 0 && i < c->n ? c->cmds[i].name : NULL;
}

bool text_commands_load_dir(const char *dir, struct text_commands **out, struct buf *errors)
{
    char path[1024];
    size_t dl = strlen(dir);
    while (dl > 1 && dir[dl - 1] == '/')
        dl--;
    snprintf(path, sizeof path, "%.*s/%s", (int)dl, dir, TEXT_COMMANDS_FILE);
    *out = NULL;
    struct stat st;
    if (stat(path, &st) != 0 && errno == ENOENT)
        return true;
    *out = text_commands_load(path, errors);
    return *out != NULL;
}
