/* lipa-menu's dialogues: reading a .dialog file and playing it against the
 * real engine (ussd_hop_step, the host lipad uses) and the real SMS
 * answers (text_answer_for) over a scripted world; see dialog.h and
 * docs/menus.md for the format. */
#include "dialog.h"
#include "world.h"

#include "ussd/host.h"
#include "util/buf.h"
#include "util/phone.h"
#include "util/str.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#define MAX_BYTES (256L * 1024)
#define MAX_LINES 8192
#define MAX_SETTINGS 16

struct run {
    const char *path;
    FILE *out;
    char **line;               /* the file's lines, 0-based (line i is i + 1 in messages) */
    int nlines;
    const struct ussd_menus *m;
    const struct text_commands *c;
    struct coverage *cv;
    struct world w;
    bool world_ready;
    const char *settings[MAX_SETTINGS];
    int nsettings;
    /* the USSD session being dialled */
    bool dialling, ended;
    int nsessions;
    char sid[32];
    struct ussd_session s;
    int steps;
    int sent_line;             /* line of the step that sent SMS not yet shown, 0 when none */
};

/* ---- reading ---- */

static char *slurp(const char *path, char *err, size_t errsz)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        snprintf(err, errsz, "cannot open");
        return NULL;
    }
    char *data = malloc(MAX_BYTES + 1);
    size_t n = data ? fread(data, 1, MAX_BYTES + 1, f) : 0;
    fclose(f);
    if (!data || n > MAX_BYTES) {
        free(data);
        snprintf(err, errsz, "larger than %ld bytes", MAX_BYTES);
        return NULL;
    }
    data[n] = 0;
    return data;
}

static bool split_lines(struct run *r, char *data)
{
    r->line = malloc(MAX_LINES * sizeof *r->line);
    if (!r->line)
        return false;
    for (char *p = data; *p;) {
        if (r->nlines == MAX_LINES)
            return false;
        r->line[r->nlines++] = p;
        char *nl = strchr(p, '\n');
        if (!nl)
            break;
        *nl = 0;
        p = nl + 1;
    }
    for (int i = 0; i < r->nlines; i++) { /* no trailing blanks or CR */
        size_t n = strlen(r->line[i]);
        while (n && (r->line[i][n - 1] == ' ' || r->line[i][n - 1] == '\r' || r->line[i][n - 1] == '\t'))
            r->line[i][--n] = 0;
    }
    return true;
}

static int indent_of(const char *s)
{
    int n = 0;
    while (s[n] == ' ')
        n++;
    return n;
}

static bool fail(struct run *r, int line, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static bool fail(struct run *r, int line, const char *fmt, ...)
{
    va_list ap;
    fprintf(r->out, "%s:%d: ", r->path, line + 1);
    va_start(ap, fmt);
    vfprintf(r->out, fmt, ap);
    va_end(ap);
    fputc('\n', r->out);
    return false;
}

/* ---- comparing ---- */

static void show_block(FILE *out, const char *title, const char *text)
{
    fprintf(out, "  %s:\n", title);
    const char *p = text;
    do {
        const char *nl = strchr(p, '\n');
        int n = nl ? (int)(nl - p) : (int)strlen(p);
        fprintf(out, "    %.*s\n", n, p);
        p = nl ? nl + 1 : NULL;
    } while (p);
}

/* The expected block of the step at line `at` against got: the indented
 * lines right below it, their first line's indentation taken off. */
static bool expect_block(struct run *r, int at, const char *what, const char *got, int *next)
{
    int first = at + 1, ind = first < r->nlines ? indent_of(r->line[first]) : 0;
    if (ind < 2 || !r->line[first][ind]) {
        *next = first;
        return fail(r, at, "%s needs what is expected after it on the lines below, indented", what);
    }
    int last = first;
    while (last + 1 < r->nlines && indent_of(r->line[last + 1]) >= 2 && r->line[last + 1][0])
        last++;
    *next = last + 1;
    const char *g = got;
    for (int i = first; i <= last; i++) {
        const char *want = r->line[i] + (indent_of(r->line[i]) < ind ? indent_of(r->line[i]) : ind);
        const char *nl = g ? strchr(g, '\n') : NULL;
        size_t gn = g ? (nl ? (size_t)(nl - g) : strlen(g)) : 0;
        if (!g || strlen(want) != gn || strncmp(want, g, gn)) {
            fail(r, i, "%s: %s", what, g ? "not what the dialogue expects" : "the answer is shorter");
            fprintf(r->out, "  expected: %s\n  got:      %.*s\n", want, (int)gn, g ? g : "(nothing)");
            show_block(r->out, "the whole answer", got);
            return false;
        }
        g = nl ? nl + 1 : NULL;
    }
    if (g) {
        const char *nl = strchr(g, '\n');
        fail(r, last, "%s: the answer goes on after this line", what);
        fprintf(r->out, "  got also: %.*s\n", nl ? (int)(nl - g) : (int)strlen(g), g);
        show_block(r->out, "the whole answer", got);
        return false;
    }
    return true;
}

/* ---- coverage ---- */

static int lang_ix(const char *lang) { return lang && !strcmp(lang, "sw") ? 1 : 0; }

static void saw_screen(struct run *r, const char *id, const char *lang)
{
    for (int i = 0; i < r->cv->nscreens; i++)
        if (!strcmp(ussd_screen_id(r->m, i), id))
            r->cv->screen[lang_ix(lang)][i] = true;
}

static void saw_command(struct run *r, const char *name, enum text_lang lang)
{
    for (int i = 0; name && i < r->cv->ncommands; i++)
        if (!strcmp(text_commands_name_at(r->c, i), name))
            r->cv->command[lang == TEXT_SW][i] = true;
}

bool coverage_init(struct coverage *cv, const struct ussd_menus *m, const struct text_commands *c)
{
    memset(cv, 0, sizeof *cv);
    cv->nscreens = ussd_menus_count(m);
    cv->ncommands = c ? text_commands_count(c) : 0;
    for (int l = 0; l < 2; l++) {
        cv->screen[l] = calloc((size_t)cv->nscreens + 1, sizeof(bool));
        cv->command[l] = calloc((size_t)cv->ncommands + 1, sizeof(bool));
        if (!cv->screen[l] || !cv->command[l])
            return false;
    }
    return true;
}

void coverage_free(struct coverage *cv)
{
    for (int l = 0; l < 2; l++) {
        free(cv->screen[l]);
        free(cv->command[l]);
    }
}

void coverage_print(const struct coverage *cv, const struct ussd_menus *m, const struct text_commands *c, FILE *out)
{
    static const char *const langs[] = {"en", "sw"};
    bool all = true;
    for (int l = 0; l < 2; l++) {
        int ns = 0, nc = 0;
        for (int i = 0; i < cv->nscreens; i++)
            ns += !cv->screen[l][i];
        for (int i = 0; i < cv->ncommands; i++)
            nc += !cv->command[l][i];
        if (!ns && !nc)
            continue;
        all = false;
        fprintf(out, "coverage: in %s no dialogue visits", langs[l]);
        if (ns) {
            fprintf(out, " %d of %d screens:", ns, cv->nscreens);
            for (int i = 0; i < cv->nscreens; i++)
                if (!cv->screen[l][i])
                    fprintf(out, " %s", ussd_screen_id(m, i));
            fputs(nc ? ";" : "", out);
        }
        if (nc) {
            fprintf(out, " %d of %d SMS commands:", nc, cv->ncommands);
            for (int i = 0; i < cv->ncommands; i++)
                if (!cv->command[l][i])
                    fprintf(out, " %s", text_commands_name_at(c, i));
        }
        fputc('\n', out);
    }
    if (all)
        fprintf(out, "coverage: every screen (%d) and SMS command (%d) visited in en and sw\n", cv->nscreens,
                cv->ncommands);
}

/* ---- the world's lines ---- */

static bool ready(struct run *r, int at)
{
    if (r->world_ready)
        return true;
    char err[256];
    if (!world_init(&r->w, r->settings, r->nsettings, err, sizeof err))
        return fail(r, at, "setting refused: %s", err);
    r->world_ready = true;
    return true;
}

/* "12.34" -> 1234 hundredths */
static bool parse_kwh(const char *s, int64_t *out)
{
    char whole[24] = "", frac[3] = "00";
    const char *dot = strchr(s, '.');
    size_t wn = dot ? (size_t)(dot - s) : strlen(s);
    if (!wn || wn >= sizeof whole)
        return false;
    memcpy(whole, s, wn);
    if (dot) {
        size_t fn = strlen(dot + 1);
        if (!fn || fn > 2 || !str_is_digits(dot + 1))
            return false;
        memcpy(frac, dot + 1, fn);
    }
    int64_t w, f;
    if (!str_to_i64(whole, 0, 100000000, &w) || !str_to_i64(frac, 0, 99, &f))
        return false;
    *out = w * 100 + f; /* "5" became "50" */
    return true;
}

/* The next word of *p (blank-separated) into out; false when none. */
static bool word(const char **p, char *out, size_t n)
{
    const char *s = *p;
    while (*s == ' ')
        s++;
    size_t k = strcspn(s, " ");
    if (!k || k >= n)
        return false;
    memcpy(out, s, k);
    out[k] = 0;
    *p = s + k;
    while (**p == ' ')
        (*p)++;
    return true;
}

static bool world_line(struct run *r, int at, const char *verb, const char *rest)
{
    char a[128], b[128], c[128];
    const char *p = rest;
    if (!strcmp(verb, "setting")) {
        if (r->world_ready || r->nsettings == MAX_SETTINGS || !strchr(rest, '=') || strncmp(rest, "LIPA_", 5))
            return fail(r, at, "setting LIPA_NAME=value comes before everything else (at most %d)", MAX_SETTINGS);
        r->settings[r->nsettings++] = rest;
        return true;
    }
    if (!ready(r, at))
        return false;
    if (!strcmp(verb, "caller")) {
        char phone[PHONE_MAX];
        if (!word(&p, a, sizeof a) || !word(&p, b, sizeof b) || *p || !phone_normalize(a, phone) ||
            (strcmp(b, "en") && strcmp(b, "sw") && strcmp(b, "unregistered")))
            return fail(r, at, "caller PHONE en|sw|unregistered");
        if (!strcmp(b, "unregistered")) {
            memset(&r->w.c, 0, sizeof r->w.c);
            str_copy(r->w.phone, sizeof r->w.phone, phone);
        } else {
            world_caller(&r->w, phone, b);
        }
        return true;
    }
    if (!strcmp(verb, "meter")) {
        if (!word(&p, a, sizeof a) || !r->w.c.registered || !world_meter(&r->w, a, p))
            return fail(r, at, "meter NUMBER NAME: after a registered caller, once per number, at most %d",
                        STORE_CALLER_METERS);
        return true;
    }
    if (!strcmp(verb, "reading")) {
        int64_t h;
        if (!word(&p, a, sizeof a) || !word(&p, b, sizeof b) || !parse_kwh(b, &h) || strcmp(p, "kWh") ||
            !world_reading(&r->w, a, h))
            return fail(r, at, "reading NUMBER 12.34 kWh: one of the caller's meters");
        return true;
    }
    if (!strcmp(verb, "code")) {
        int64_t liters;
        if (!word(&p, a, sizeof a) || !word(&p, b, sizeof b) || !word(&p, c, sizeof c) || *p ||
            !str_to_i64(b, 1, 99999, &liters) ||
            (strcmp(c, "active") && strcmp(c, "pending") && strcmp(c, "expired") && strcmp(c, "blocked")) ||
            !world_code(&r->w, a, liters, c))
            return fail(r, at, "code REFERENCE LITRES active|pending|expired|blocked (at most %d)", WORLD_CODES);
        return true;
    }
    if (!strcmp(verb, "next")) {
        if (!word(&p, a, sizeof a) || !word(&p, b, sizeof b) || strcmp(b, "returns") || !word(&p, c, sizeof c) ||
            *p || !world_fail_next(&r->w, a, c))
            return fail(r, at, "next ACTION returns KEY (a built-in and a message key it may return)");
        return true;
    }
    return fail(r, at, "unknown line '%s' (see docs/menus.md: setting, caller, meter, reading, code, next, dial, "
                       ">, text, payment, sent)", verb);
}

/* ---- the steps ---- */

static bool ussd_hop(struct run *r, int at, const char *input, int *next)
{
    struct buf reply;
    struct ussd_hop h;
    char state[USSD_SESSION_TEXT_MAX];
    char what[160];
    bool ok = false;
    buf_init(&reply, USSD_REPLY_MAX);
    ussd_hop_init(&h, &r->w.cfg, &r->w.uw, r->w.phone);
    if (!input) {
        snprintf(r->sid, sizeof r->sid, "dialogue-%d", ++r->nsessions);
        ussd_hop_fresh(&h, &r->s, NULL);
        snprintf(what, sizeof what, "dial");
    } else {
        /* through the store's text form, as lipad keeps it between hops */
        if (!ussd_session_encode(&r->s, state, sizeof state) || !ussd_session_decode(&r->s, state)) {
            fail(r, at, "the session did not survive its text form");
            goto out;
        }
        snprintf(what, sizeof what, "> %s", input);
    }
    r->ended = ussd_hop_step(&h, r->m, r->sid, &r->s, input, &reply) != USSD_CON;
    r->dialling = true;
    saw_screen(r, r->s.screen, r->s.lang);
    ok = expect_block(r, at, what, reply.data ? reply.data : "", next);
out:
    buf_free(&reply);
    return ok;
}

static bool step(struct run *r, int at, const char *verb, const char *rest, int *next)
{
    if (!ready(r, at))
        return false;
    r->steps++;
    if (!strcmp(verb, "dial"))
        return !*rest ? ussd_hop(r, at, NULL, next) : fail(r, at, "dial takes nothing after it");
    if (!strcmp(verb, ">")) {
        if (!r->dialling)
            return fail(r, at, "an input needs a dial before it");
        if (r->ended)
            return fail(r, at, "the session has ended (END): dial again");
        return ussd_hop(r, at, rest, next);
    }
    if (!strcmp(verb, "text")) {
        if (!r->c)
            return fail(r, at, "texting commands are off (no %s next to the menus)", TEXT_COMMANDS_FILE);
        struct sms_inbound in;
        struct text_answer ans;
        memset(&in, 0, sizeof in);
        snprintf(in.at_id, sizeof in.at_id, "dialogue-%d", at + 1);
        str_copy(in.phone, sizeof in.phone, r->w.phone);
        if (!str_copy(in.text, sizeof in.text, rest))
            return fail(r, at, "the text is longer than an SMS lipad takes");
        text_answer_for(&r->w.tw, &r->w.cfg, r->c, &in, &ans);
        saw_command(r, ans.command, ans.lang);
        if (ans.outcome && (!strcmp(ans.outcome, "unknown") || !strcmp(ans.outcome, "unregistered")))
            r->w.idle_replies++;
        char what[200];
        snprintf(what, sizeof what, "text %s", rest);
        return expect_block(r, at, what,
                            ans.retry   ? "(no answer yet: lipad tries again later)"
                            : ans.quiet ? "(no reply: the sender had their share of replies to unknown texts)"
                                        : ans.reply,
                            next);
    }
    if (!strcmp(verb, "payment")) {
        static const struct {
            const char *said, *status;
        } ends[] = {{"accepted", "completed"}, {"refused", "cancelled"}, {"cancelled", "cancelled"},
                    {"timed out", "timeout"},  {"failed", "failed"}};
        char sms[WORLD_SMS_MAX];
        for (size_t i = 0; i < sizeof ends / sizeof ends[0]; i++) {
            size_t n = strlen(ends[i].said);
            if (strncmp(rest, ends[i].said, n) || (rest[n] && rest[n] != ' '))
                continue;
            const char *detail = rest[n] ? rest + n + 1 : "";
            if (!world_payment_ends(&r->w, ends[i].status, detail, sms, sizeof sms))
                return fail(r, at, "no payment is waiting for its outcome");
            char what[160];
            snprintf(what, sizeof what, "payment %s", ends[i].said);
            return expect_block(r, at, what, sms, next);
        }
        return fail(r, at, "payment accepted RECEIPT | refused | cancelled | timed out | failed REASON");
    }
    if (!strcmp(verb, "sent")) {
        if (!r->w.nsent)
            return fail(r, at, "no SMS was sent by the step before");
        char all[WORLD_SENT * WORLD_SMS_MAX] = "";
        for (int i = 0; i < r->w.nsent; i++)
            snprintf(all + strlen(all), sizeof all - strlen(all), "%s%s", i ? "\n" : "", r->w.sent[i]);
        r->w.nsent = 0;
        r->sent_line = 0;
        return expect_block(r, at, "sent", all, next);
    }
    r->steps--;
    return world_line(r, at, verb, rest) && ((*next = at + 1), true);
}

bool dialog_run(const struct ussd_menus *m, const struct text_commands *c, const char *path, struct coverage *cv,
                FILE *out)
{
    struct run r = {.path = path, .out = out, .m = m, .c = c, .cv = cv};
    char err[128];
    bool ok = false;
    char *data = slurp(path, err, sizeof err);
    if (!data) {
        fprintf(out, "%s:0: %s\n", path, err);
        return false;
    }
    if (!split_lines(&r, data)) {
        fprintf(out, "%s:0: more than %d lines\n", path, MAX_LINES);
        goto out;
    }
    for (int i = 0; i < r.nlines;) {
        const char *l = r.line[i];
        if (!l[0] || l[0] == '#') {
            i++;
            continue;
        }
        if (l[0] == ' ') {
            fail(&r, i, "an indented line with no step above it (dial, >, text, payment, sent)");
            goto out;
        }
        if (r.sent_line && strncmp(l, "sent", 4)) {
            fail(&r, r.sent_line, "lipad sent an SMS here that the dialogue does not show (a 'sent' step)");
            fprintf(out, "  the SMS: %s\n", r.w.sent[0]);
            goto out;
        }
        char verb[16];
        const char *rest = l;
        if (l[0] == '>') {
            str_copy(verb, sizeof verb, ">");
            rest = l[1] == ' ' ? l + 2 : l + 1;
        } else if (!word(&rest, verb, sizeof verb)) {
            fail(&r, i, "unknown line");
            goto out;
        }
        int next = i + 1;
        if (r.world_ready && strcmp(verb, "sent"))
            r.w.nsent = 0;
        if (!step(&r, i, verb, rest, &next))
            goto out;
        if (r.w.nsent && strcmp(verb, "sent"))
            r.sent_line = i;
        i = next;
    }
    if (r.sent_line) {
        fail(&r, r.sent_line, "lipad sent an SMS here that the dialogue does not show (a 'sent' step)");
        goto out;
    }
    if (!r.steps) {
        fprintf(out, "%s:0: no steps (dial, >, text, payment, sent)\n", path);
        goto out;
    }
    fprintf(out, "ok   %s (%d steps)\n", path, r.steps);
    ok = true;
out:
    if (r.world_ready)
        world_free(&r.w);
    free(r.line);
    free(data);
    return ok;
}
