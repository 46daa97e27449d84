/* ussd menu: loads the YAML menu files of a directory and checks the
 * whole set before anyone may use it: structure, targets, reachability,
 * translations, GSM-7, placeholders, patterns, built-ins, messages and the
 * 160-character budget of every screen in both languages. Every problem is
 * reported as "file:line: message" and a set with any problem is refused,
 * so the engine can trust what it is given. The set lives in one arena. */
#include "ussd/ussd_int.h"

#include "util/gsm.h"
#include "util/metrics.h"
#include "util/regex.h"
#include "util/str.h"
#include "util/yaml.h"

#include <dirent.h>
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_FILES 256
#define MAX_FILE_BYTES (1L << 20)
#define MAX_SCREENS 2000
#define MAX_SETVARS 64

static const char *const lang_names[USSD_NLANG] = {"en", "sw"};
static const char *const nav_names[NAV_COUNT] = {"back", "home", "more", "yes", "no"};
static const char *const kind_names[] = {"menu", "input", "list", "confirm", "action", "end"};
static const char *const engine_msgs[] = {"invalid_choice", "system_error"};

/* ---- arena: everything of a set but the screen and message arrays ---- */
struct ussd_chunk {
    struct ussd_chunk *next;
    size_t used, cap;
    max_align_t data[];
};

static void *arena_alloc(struct ussd_menus *m, size_t n)
{
    n = (n + sizeof(max_align_t) - 1) / sizeof(max_align_t) * sizeof(max_align_t);
    struct ussd_chunk *c = m->arena;
    if (!c || c->cap - c->used < n) {
        size_t cap = n > 8192 ? n : 8192;
        c = calloc(1, sizeof *c + cap);
        if (!c)
            return NULL;
        c->cap = cap;
        c->next = m->arena;
        m->arena = c;
    }
    void *p = (char *)c->data + c->used;
    c->used += n;
    return p;
}

static char *arena_strdup(struct ussd_menus *m, const char *s, size_t n)
{
    char *p = arena_alloc(m, n + 1);
    if (p) {
        memcpy(p, s, n);
        p[n] = 0;
    }
    return p;
}

/* ---- loader state ---- */
enum ref_field { REF_GOTO, REF_NEXT, REF_YES, REF_NO };

struct ref {               /* a screen id named somewhere, resolved at the end */
    int screen, opt;
    enum ref_field field;
    const char *target, *file;
    int line;
};

/* A screen id a screen names, read without checking anything: what lets
 * the reachability check go through a screen that has a mistake of its own
 * (a typo in kind:, an option without key) instead of reporting every
 * screen behind it. */
struct loose {
    int screen;
    const char *target;    /* NULL: the screen could not be read at all */
};

struct ld {
    struct yread y;        /* the current file, its document, the problems */
    struct ussd_menus *m;
    const char *dir;
    struct ref *refs;
    int nrefs, caprefs;
    struct loose *loose;
    int nloose, caploose;
    int capscreens, capmsgs;
    const char *start, *start_file;
    int start_line;
    const char *nav_file;
    int nav_line;
    const char *setvars[MAX_SETVARS];
    int nsetvars;
};

#define report(L, ...) yread_report(&(L)->y, __VA_ARGS__)
#define err_at(L, ...) yread_report_at(&(L)->y, __VA_ARGS__)

/* The scalar's text copied into the arena, or NULL after reporting. */
static const char *scalar(struct ld *L, int n, const char *what)
{
    const char *t = yread_scalar(&L->y, n, what);
    if (!t)
        return NULL;
    char *s = arena_strdup(L->m, t, strlen(t));
    if (!s)
        L->y.oom = true;
    return s;
}

static void note_setvar(struct ld *L, const char *var)
{
    for (int i = 0; i < L->nsetvars; i++)
        if (!strcmp(L->setvars[i], var))
            return;
    if (L->nsetvars < MAX_SETVARS)
        L->setvars[L->nsetvars++] = var;
}

static bool setvar_known(const struct ld *L, const char *var)
{
    for (int i = 0; i < L->nsetvars; i++)
        if (!strcmp(L->setvars[i], var))
            return true;
    return false;
}

/* ---- texts ---- */

/* Reports non-GSM-7 characters and unknown or malformed placeholders. */
static bool check_text(struct ld *L, const char *t, int line, const char *lang, const char *what,
                       bool placeholders)
{
    bool ok = true;
    if (gsm_septets(t) < 0) {
        const unsigned char *p = (const unsigned char *)t;
        char bad[8] = "?";
        while (*p) {
            size_t k = str_utf8_len(*p);
            char one[5] = {0};
            for (size_t j = 0; j < k && p[j]; j++)
                one[j] = (char)p[j];
            if (gsm_septets(one) < 0) {
                if (*p < 0x20 || !str_is_clean_utf8(one, strlen(one)))
                    snprintf(bad, sizeof bad, "\\x%02x", *p);
                else
                    str_copy(bad, sizeof bad, one);
                break;
            }
            p += strlen(one);
        }
        report(L, line, "non-GSM-7 character '%s' in %s %s", bad, lang, what);
        ok = false;
    }
    for (const char *p = t; *p; p++) {
        if (*p == '}') {
            report(L, line, "stray '}' in %s %s (placeholders look like {amount})", lang, what);
            return false;
        }
        if (*p != '{')
            continue;
        const char *q = p + 1;
        while ((*q >= 'a' && *q <= 'z') || (*q >= '0' && *q <= '9') || *q == '_')
            q++;
        if (*q != '}' || q == p + 1) {
            report(L, line, "stray '{' in %s %s (placeholders look like {amount})", lang, what);
            return false;
        }
        char name[32];
        size_t n = (size_t)(q - p - 1);
        if (n >= sizeof name)
            n = sizeof name - 1;
        memcpy(name, p + 1, n);
        name[n] = 0;
        if (!placeholders) {
            report(L, line, "placeholder '{%s}' not allowed in %s %s", name, lang, what);
            ok = false;
        } else if (ussd_var_width(name) < 0) {
            report(L, line, "unknown placeholder '{%s}' in %s %s", name, lang, what);
            ok = false;
        }
        p = q;
    }
    return ok;
}

/* Reads {en: ..., sw: ...} from v; kline is the line of the key naming it. */
static bool read_text(struct ld *L, int v, int kline, const char *what, bool placeholders,
                      struct utext *out)
{
    static const struct yread_key spec[USSD_NLANG] = {{"en", false}, {"sw", false}};
    int val[USSD_NLANG];
    int kl[USSD_NLANG];
    out->t[USSD_EN] = out->t[USSD_SW] = NULL;
    if (!v)
        return false;
    if (yread_is_scalar(&L->y, v)) {
        report(L, yread_line(&L->y, v), "%s must be a mapping {en: ..., sw: ...}", what);
        return false;
    }
    char whatmap[96];
    snprintf(whatmap, sizeof whatmap, "%s translations", what);
    if (!yread_fields(&L->y, v, kline, whatmap, spec, USSD_NLANG, val, kl))
        return false;
    bool ok = true;
    for (int l = 0; l < USSD_NLANG; l++) {
        if (!val[l]) {
            report(L, kline, "missing %s translation of %s", lang_names[l], what);
            ok = false;
            continue;
        }
        const char *s = scalar(L, val[l], what);
        if (!s) {
            ok = false;
            continue;
        }
        char *t = (char *)s;
        size_t n = strlen(t);
        while (n && (t[n - 1] == '\n' || t[n - 1] == ' ' || t[n - 1] == '\r'))
            t[--n] = 0;
        if (!n) {
            report(L, yread_line(&L->y, val[l]), "empty %s translation of %s", lang_names[l], what);
            ok = false;
            continue;
        }
        if (!check_text(L, t, yread_line(&L->y, val[l]), lang_names[l], what, placeholders))
            ok = false;
        else
            out->t[l] = t;
    }
    return ok;
}

/* ---- screens ---- */

static bool valid_id(const char *s)
{
    size_t n = strlen(s);
    if (!n || n >= sizeof((struct ussd_session *)0)->screen)
        return false;
    for (; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') || *s == '_' ||
              *s == '-'))
            return false;
    return true;
}

static void add_ref(struct ld *L, int screen, int opt, enum ref_field f, int v, const char *what)
{
    const char *target = scalar(L, v, what);
    if (!target)
        return;
    if (L->nrefs == L->caprefs) {
        int cap = L->caprefs ? L->caprefs * 2 : 64;
        struct ref *r = realloc(L->refs, (size_t)cap * sizeof *r);
        if (!r) {
            L->y.oom = true;
            return;
        }
        L->refs = r;
        L->caprefs = cap;
    }
    L->refs[L->nrefs++] = (struct ref){screen, opt, f, target, L->y.file, yread_line(&L->y, v)};
}

/* A known var name from v; reports unknown ones. */
static const char *read_var(struct ld *L, int v, const char *what)
{
    const char *var = scalar(L, v, what);
    if (var && ussd_var_width(var) < 0) {
        report(L, yread_line(&L->y, v), "unknown var '%s'", var);
        return NULL;
    }
    return var;
}

static const struct ussd_builtin *read_builtin(struct ld *L, struct uscreen *sc, int v,
                                               enum ussd_builtin_kind kind)
{
    const char *name = scalar(L, v, "built-in name");
    if (!name)
        return NULL;
    sc->bline = yread_line(&L->y, v);
    const struct ussd_builtin *b = ussd_builtin_find(name);
    if (!b) {
        report(L, yread_line(&L->y, v), "unknown built-in '%s'", name);
        return NULL;
    }
    if (b->kind != kind) {
        report(L, yread_line(&L->y, v), "built-in '%s' is %s, not %s", name,
            b->kind == USSD_VALIDATE ? "a validate step" : "an action",
            kind == USSD_VALIDATE ? "a validate step" : "an action");
        return NULL;
    }
    for (int i = 0; i < USSD_BUILTIN_MAX_VARS && b->sets[i]; i++)
        note_setvar(L, b->sets[i]);
    return b;
}

static void read_set(struct ld *L, int v, struct uoption *o)
{
    if (!yread_is_map(&L->y, v)) {
        report(L, yread_line(&L->y, v), "set must be a mapping {var: value}");
        return;
    }
    for (size_t p = 0; p < ynode_count(L->y.doc, v); p++) {
        int k = ynode_key(L->y.doc, v, p), val = ynode_value(L->y.doc, v, p);
        const char *var = read_var(L, k, "set var");
        const char *value = scalar(L, val, "set value");
        if (!var || !value)
            continue;
        if (o->nset == USSD_MAX_SET) {
            report(L, yread_line(&L->y, k), "more than %d vars in one set", USSD_MAX_SET);
            return;
        }
        if ((int)gsm_chars(value) > ussd_var_width(var) || gsm_septets(value) < 0) {
            report(L, yread_line(&L->y, val), "value '%s' does not fit var '%s' (%d GSM-7 characters)", value, var,
                ussd_var_width(var));
            continue;
        }
        const char *const *allowed = ussdi_var_values(var);
        if (allowed) {
            int i = 0;
            while (allowed[i] && strcmp(allowed[i], value))
                i++;
            if (!allowed[i]) {
                report(L, yread_line(&L->y, val), "var '%s' cannot be '%s'", var, value);
                continue;
            }
        }
        note_setvar(L, var);
        o->set_key[o->nset] = var;
        o->set_val[o->nset++] = value;
    }
}

static void read_options(struct ld *L, int si, int v, int kline)
{
    static const struct yread_key spec[] = {{"key", true}, {"label", true}, {"goto", true}, {"set", false}};
    enum { F_KEY, F_LABEL, F_GOTO, F_SET, NF };
    struct uscreen *sc = &L->m->screens[si];
    if (ynode_kind(L->y.doc, v) != YN_SEQ || !ynode_count(L->y.doc, v)) {
        report(L, v ? yread_line(&L->y, v) : kline, "options of screen '%s' must be a non-empty list", sc->id);
        sc->bad = true;
        return;
    }
    int n = (int)ynode_count(L->y.doc, v);
    sc->opts = arena_alloc(L->m, (size_t)n * sizeof *sc->opts);
    if (!sc->opts) {
        L->y.oom = true;
        return;
    }
    memset(sc->opts, 0, (size_t)n * sizeof *sc->opts);
    for (int i = 0; i < n; i++) {
        int item = ynode_item(L->y.doc, v, (size_t)i);
        int val[NF];
        int kl[NF];
        char what[96];
        snprintf(what, sizeof what, "option %d of screen '%s'", i + 1, sc->id);
        struct uoption *o = &sc->opts[i];
        o->go = -1;
        if (!yread_fields(&L->y, item, yread_line(&L->y, item), what, spec, NF, val, kl) || !val[F_KEY]) {
            sc->bad = true;
            continue;
        }
        const char *key = scalar(L, val[F_KEY], "option key");
        if (!key) {
            sc->bad = true;
            continue;
        }
        int kline0 = yread_line(&L->y, val[F_KEY]);
        if (!str_is_digits(key) || strlen(key) > 3) {
            report(L, kline0, "option key '%s' must be 1 to 3 digits", key);
            sc->bad = true;
        } else if (!strcmp(key, "0") || !strcmp(key, "00") || !strcmp(key, "98")) {
            report(L, kline0, "option key '%s' clashes with navigation (0 back, 00 home, 98 more)", key);
            sc->bad = true;
        } else {
            for (int j = 0; j < i; j++)
                if (!strcmp(sc->opts[j].key, key)) {
                    report(L, kline0, "duplicate option key '%s' in screen '%s'", key, sc->id);
                    sc->bad = true;
                }
            str_copy(o->key, sizeof o->key, key);
        }
        snprintf(what, sizeof what, "label of option %s", key);
        if (!read_text(L, val[F_LABEL], kl[F_LABEL], what, true, &o->label))
            sc->bad = true;
        if (val[F_GOTO])
            add_ref(L, si, i, REF_GOTO, val[F_GOTO], "goto");
        if (val[F_SET])
            read_set(L, val[F_SET], o);
    }
    sc->nopts = n;
}

static struct uscreen *new_screen(struct ld *L)
{
    struct ussd_menus *m = L->m;
    if (m->nscreens == L->capscreens) {
        int cap = L->capscreens ? L->capscreens * 2 : 32;
        struct uscreen *s = realloc(m->screens, (size_t)cap * sizeof *s);
        if (!s) {
            L->y.oom = true;
            return NULL;
        }
        m->screens = s;
        L->capscreens = cap;
    }
    struct uscreen *sc = &m->screens[m->nscreens++];
    memset(sc, 0, sizeof *sc);
    sc->next = sc->yes = sc->no = -1;
    return sc;
}

enum {
    S_KIND, S_TEXT, S_OPTIONS, S_VAR, S_PATTERN, S_ERROR, S_VALIDATE, S_NEXT, S_SOURCE, S_EMPTY, S_YES,
    S_NO, S_RUN, S_RESUME, S_NFIELDS
};
static const char *const sfield_names[S_NFIELDS] = {"kind", "text",     "options", "var",    "pattern",
                                                     "error", "validate", "next",   "source", "empty",
                                                     "yes",  "no",       "run",     "resume"};
/* Which fields each kind takes: 1 optional, 2 required. */
static const unsigned char kind_fields[][S_NFIELDS] = {
    [KIND_MENU] = {[S_KIND] = 2, [S_TEXT] = 2, [S_OPTIONS] = 2, [S_RESUME] = 1},
    [KIND_INPUT] = {[S_KIND] = 2, [S_TEXT] = 2, [S_VAR] = 2, [S_PATTERN] = 2, [S_ERROR] = 2,
                    [S_VALIDATE] = 1, [S_NEXT] = 2, [S_RESUME] = 1},
    [KIND_LIST] = {[S_KIND] = 2, [S_TEXT] = 2, [S_SOURCE] = 2, [S_EMPTY] = 2, [S_VAR] = 1, [S_NEXT] = 1,
                   [S_RESUME] = 1},
    [KIND_CONFIRM] = {[S_KIND] = 2, [S_TEXT] = 2, [S_YES] = 2, [S_NO] = 2, [S_RESUME] = 1},
    [KIND_ACTION] = {[S_KIND] = 2, [S_TEXT] = 2, [S_RUN] = 2},
    [KIND_END] = {[S_KIND] = 2, [S_TEXT] = 2},
};

static void add_loose(struct ld *L, int screen, int v)
{
    if (v && !yread_is_scalar(&L->y, v))
        return;
    const char *t = v ? yread_str(&L->y, v) : NULL;
    if (L->nloose == L->caploose) {
        int cap = L->caploose ? L->caploose * 2 : 64;
        struct loose *r = realloc(L->loose, (size_t)cap * sizeof *r);
        if (!r) {
            L->y.oom = true;
            return;
        }
        L->loose = r;
        L->caploose = cap;
    }
    char *c = t ? arena_strdup(L->m, t, strlen(t)) : NULL;
    if (t && !c) {
        L->y.oom = true;
        return;
    }
    L->loose[L->nloose++] = (struct loose){screen, c};
}

/* The targets (next, yes, no, goto of options) and the vars options set of
 * screen si's mapping v, whatever its kind says and without a word about
 * what is wrong in it (read_screen says that). */
static void read_loose(struct ld *L, int si, int v)
{
    if (!yread_is_map(&L->y, v))
        return;
    const struct yaml_doc *d = L->y.doc;
    for (size_t p = 0; p < ynode_count(d, v); p++) {
        int k = ynode_key(d, v, p), val = ynode_value(d, v, p);
        if (!yread_is_scalar(&L->y, k))
            continue;
        const char *key = yread_str(&L->y, k);
        if (!strcmp(key, "next") || !strcmp(key, "yes") || !strcmp(key, "no"))
            add_loose(L, si, val);
        if (strcmp(key, "options") || ynode_kind(d, val) != YN_SEQ)
            continue;
        for (size_t i = 0; i < ynode_count(d, val); i++) {
            int item = ynode_item(d, val, i);
            for (size_t q = 0; yread_is_map(&L->y, item) && q < ynode_count(d, item); q++) {
                int ik = ynode_key(d, item, q), iv = ynode_value(d, item, q);
                if (!yread_is_scalar(&L->y, ik))
                    continue;
                if (!strcmp(yread_str(&L->y, ik), "goto"))
                    add_loose(L, si, iv);
                for (size_t r = 0; !strcmp(yread_str(&L->y, ik), "set") && yread_is_map(&L->y, iv) &&
                                   r < ynode_count(d, iv);
                     r++) {
                    int sk = ynode_key(d, iv, r);
                    char *var;
                    if (yread_is_scalar(&L->y, sk) &&
                        (var = arena_strdup(L->m, yread_str(&L->y, sk), strlen(yread_str(&L->y, sk)))))
                        note_setvar(L, var);
                }
            }
        }
    }
}

static void read_screen(struct ld *L, int k, int v)
{
    const char *id = scalar(L, k, "screen id");
    if (!id)
        return;
    int line = yread_line(&L->y, k);
    if (!valid_id(id)) {
        report(L, line, "screen id '%s' must be 1 to 47 of A-Z a-z 0-9 _ -", id);
        return;
    }
    int dup = ussdi_screen(L->m, id);
    if (dup >= 0) {
        report(L, line, "duplicate screen id '%s' (first at %s:%d)", id, L->m->screens[dup].file,
            L->m->screens[dup].line);
        return;
    }
    struct uscreen *sc = new_screen(L);
    if (!sc)
        return;
    int si = L->m->nscreens - 1;
    sc->id = id;
    sc->file = L->y.file;
    sc->line = line;
    sc->kind = KIND_END;
    char what[96];
    snprintf(what, sizeof what, "screen '%s'", id);
    if (!yread_is_map(&L->y, v)) {
        report(L, line, "%s must be a mapping", what);
        sc->bad = true;
        add_loose(L, si, 0);
        return;
    }
    read_loose(L, si, v);
    int kindv = 0;
    for (size_t p = 0; p < ynode_count(L->y.doc, v); p++)
        if (yread_is_scalar(&L->y, ynode_key(L->y.doc, v, p)) && !strcmp(yread_str(&L->y, ynode_key(L->y.doc, v, p)), "kind"))
            kindv = ynode_value(L->y.doc, v, p);
    if (!kindv) {
        report(L, line, "%s needs 'kind'", what);
        sc->bad = true;
        return;
    }
    const char *kind = scalar(L, kindv, "kind");
    int ki = 0;
    while (kind && ki < (int)(sizeof kind_names / sizeof kind_names[0]) && strcmp(kind_names[ki], kind))
        ki++;
    if (!kind || ki == (int)(sizeof kind_names / sizeof kind_names[0])) {
        if (kind)
            report(L, yread_line(&L->y, kindv), "unknown screen kind '%s' (menu, input, list, confirm, action, end)",
                kind);
        sc->bad = true;
        return;
    }
    sc->kind = (enum ussd_kind)ki;
    struct yread_key spec[S_NFIELDS];
    int map[S_NFIELDS], n = 0;
    for (int f = 0; f < S_NFIELDS; f++)
        if (kind_fields[ki][f]) {
            spec[n] = (struct yread_key){sfield_names[f], kind_fields[ki][f] == 2};
            map[n++] = f;
        }
    int got[S_NFIELDS], val[S_NFIELDS] = {0};
    int gkl[S_NFIELDS], kl[S_NFIELDS] = {0};
    char fwhat[128];
    snprintf(fwhat, sizeof fwhat, "%s screen '%s'", kind, id);
    yread_fields(&L->y, v, line, fwhat, spec, n, got, gkl);
    for (int i = 0; i < n; i++) {
        val[map[i]] = got[i];
        kl[map[i]] = gkl[i];
        if (spec[i].required && !got[i])
            sc->bad = true;
    }
    if (!read_text(L, val[S_TEXT], kl[S_TEXT], "text", true, &sc->text))
        sc->bad = true;
    /* resume: the offer's summary line; its presence makes the screen one
     * a dropped caller may come back to (ussd.h, Resume after a drop) */
    if (val[S_RESUME]) {
        bool ok = read_text(L, val[S_RESUME], kl[S_RESUME], "resume", true, &sc->resume);
        for (int l = 0; ok && l < USSD_NLANG; l++)
            if (strchr(sc->resume.t[l], '\n')) {
                report(L, kl[S_RESUME], "resume of screen '%s' must be one line (%s)", id, lang_names[l]);
                ok = false;
            }
        if (!ok) {
            sc->resume.t[USSD_EN] = sc->resume.t[USSD_SW] = NULL;
            sc->bad = true;
        }
    }
    switch (sc->kind) {
    case KIND_MENU:
        if (val[S_OPTIONS])
            read_options(L, si, val[S_OPTIONS], kl[S_OPTIONS]);
        break;
    case KIND_INPUT:
        if (val[S_VAR] && (sc->var = read_var(L, val[S_VAR], "var")))
            note_setvar(L, sc->var);
        else
            sc->bad = true;
        if (val[S_PATTERN]) {
            const char *pat = scalar(L, val[S_PATTERN], "pattern");
            char perr[256];
            if (pat && !(sc->re = regex_new(pat, false, perr, sizeof perr))) {
                report(L, yread_line(&L->y, val[S_PATTERN]), "%s", perr);
                sc->bad = true;
            }
        }
        if (!read_text(L, val[S_ERROR], kl[S_ERROR], "error", true, &sc->error))
            sc->bad = true;
        if (val[S_VALIDATE] && !(sc->builtin = read_builtin(L, sc, val[S_VALIDATE], USSD_VALIDATE)))
            sc->bad = true;
        if (val[S_NEXT])
            add_ref(L, si, -1, REF_NEXT, val[S_NEXT], "next");
        break;
    case KIND_LIST:
        if (val[S_SOURCE]) {
            sc->source = scalar(L, val[S_SOURCE], "source");
            if (sc->source && !ussdi_source_known(sc->source)) {
                report(L, yread_line(&L->y, val[S_SOURCE]), "unknown list source '%s'", sc->source);
                sc->bad = true;
            }
        }
        if (!read_text(L, val[S_EMPTY], kl[S_EMPTY], "empty", true, &sc->empty))
            sc->bad = true;
        if (!val[S_VAR] != !val[S_NEXT]) {
            report(L, line, "list screen '%s' needs both var and next (or neither, to only show the list)",
                id);
            sc->bad = true;
        }
        if (val[S_VAR] && (sc->var = read_var(L, val[S_VAR], "var"))) {
            char name[64];
            snprintf(name, sizeof name, "%s_name", sc->var);
            if (ussd_var_width(name) < 0) {
                report(L, yread_line(&L->y, val[S_VAR]), "list var '%s' needs a known var '%s' for the label", sc->var,
                    name);
                sc->bad = true;
            } else if (!(sc->var_name = arena_strdup(L->m, name, strlen(name)))) {
                L->y.oom = true;
            } else {
                note_setvar(L, sc->var);
                note_setvar(L, sc->var_name);
            }
        }
        if (val[S_NEXT])
            add_ref(L, si, -1, REF_NEXT, val[S_NEXT], "next");
        break;
    case KIND_CONFIRM:
        if (val[S_YES])
            add_ref(L, si, -1, REF_YES, val[S_YES], "yes");
        if (val[S_NO])
            add_ref(L, si, -1, REF_NO, val[S_NO], "no");
        break;
    case KIND_ACTION:
        if (val[S_RUN] && !(sc->builtin = read_builtin(L, sc, val[S_RUN], USSD_ACTION)))
            sc->bad = true;
        break;
    case KIND_END:
        break;
    }
}

/* ---- top level of a file ---- */

static void read_nav(struct ld *L, int v, int kline)
{
    if (L->nav_file) {
        report(L, kline, "nav: given twice (first at %s:%d)", L->nav_file, L->nav_line);
        return;
    }
    L->nav_file = L->y.file;
    L->nav_line = kline;
    struct yread_key spec[NAV_COUNT];
    for (int i = 0; i < NAV_COUNT; i++)
        spec[i] = (struct yread_key){nav_names[i], true};
    int val[NAV_COUNT];
    int kl[NAV_COUNT];
    if (!yread_fields(&L->y, v, kline, "nav", spec, NAV_COUNT, val, kl))
        return;
    for (int i = 0; i < NAV_COUNT; i++) {
        char what[32];
        snprintf(what, sizeof what, "nav %s", nav_names[i]);
        if (val[i])
            read_text(L, val[i], kl[i], what, false, &L->m->nav[i]);
    }
}

static void read_messages(struct ld *L, int v)
{
    struct ussd_menus *m = L->m;
    if (!yread_is_map(&L->y, v)) {
        report(L, yread_line(&L->y, v), "messages must be a mapping of key: {en: ..., sw: ...}");
        return;
    }
    for (size_t p = 0; p < ynode_count(L->y.doc, v); p++) {
        int k = ynode_key(L->y.doc, v, p);
        const char *key = scalar(L, k, "message key");
        if (!key)
            continue;
        bool dup = false;
        for (int i = 0; i < m->nmsgs && !dup; i++)
            if (!strcmp(m->msgs[i].key, key)) {
                report(L, yread_line(&L->y, k), "duplicate message '%s' (first at %s:%d)", key, m->msgs[i].file,
                    m->msgs[i].line);
                dup = true;
            }
        if (dup)
            continue;
        if (m->nmsgs == L->capmsgs) {
            int cap = L->capmsgs ? L->capmsgs * 2 : 32;
            struct umsg *g = realloc(m->msgs, (size_t)cap * sizeof *g);
            if (!g) {
                L->y.oom = true;
                return;
            }
            m->msgs = g;
            L->capmsgs = cap;
        }
        char what[96];
        snprintf(what, sizeof what, "message '%s'", key);
        struct umsg *g = &m->msgs[m->nmsgs];
        g->key = key;
        g->file = L->y.file;
        g->line = yread_line(&L->y, k);
        if (read_text(L, ynode_value(L->y.doc, v, p), yread_line(&L->y, k), what, true, &g->text))
            m->nmsgs++;
    }
}

static void load_file(struct ld *L, const char *path)
{
    struct ydoc_error e;
    struct yaml_doc *doc = ydoc_load(path, MAX_FILE_BYTES, &e);
    if (!doc) {
        if (e.kind == YDOC_NOMEM) {
            L->y.oom = true;
        } else {
            char started[48] = "";
            if (e.context_line && e.context_line != e.line)
                snprintf(started, sizeof started, " started at line %d", e.context_line);
            report(L, e.line, "%s%s", e.msg, started);
        }
        return;
    }
    L->y.doc = doc;
    int root = ydoc_root(doc);
    if (!yread_is_map(&L->y, root)) {
        report(L, root ? yread_line(&L->y, root) : 1, "not a menu file: the top level must be a mapping with screens:");
        goto out;
    }
    int screens = 0, commands = 0;
    for (size_t p = 0; p < ynode_count(doc, root); p++) {
        int k = ynode_key(doc, root, p);
        if (yread_is_scalar(&L->y, k) && !strcmp(yread_str(&L->y, k), "screens"))
            screens = ynode_value(doc, root, p);
        if (yread_is_scalar(&L->y, k) && !strcmp(yread_str(&L->y, k), "commands"))
            commands = ynode_value(doc, root, p);
    }
    if (!screens && commands)
        goto out; /* an SMS command file */
    if (!screens) {
        report(L, yread_line(&L->y, root), "not a menu file: no top-level screens: (nor commands: of an SMS file)");
        goto out;
    }
    static const struct yread_key spec[] = {{"screens", true}, {"start", false}, {"nav", false}, {"messages", false}};
    int val[4];
    int kl[4];
    yread_fields(&L->y, root, yread_line(&L->y, root), "the top level", spec, 4, val, kl);
    if (val[1]) {
        const char *start = scalar(L, val[1], "start");
        if (start && L->start)
            report(L, kl[1], "start: given twice (first at %s:%d)", L->start_file, L->start_line);
        else if (start) {
            L->start = start;
            L->start_file = L->y.file;
            L->start_line = kl[1];
        }
    }
    if (val[2])
        read_nav(L, val[2], kl[2]);
    if (val[3])
        read_messages(L, val[3]);
    if (!yread_is_map(&L->y, screens)) {
        report(L, yread_line(&L->y, screens), "screens must be a mapping of id: screen");
        goto out;
    }
    for (size_t p = 0; p < ynode_count(doc, screens); p++) {
        if (L->m->nscreens >= MAX_SCREENS) {
            report(L, yread_line(&L->y, ynode_key(doc, screens, p)), "more than %d screens", MAX_SCREENS);
            break;
        }
        read_screen(L, ynode_key(doc, screens, p), ynode_value(doc, screens, p));
    }
out:
    L->y.doc = NULL;
    ydoc_free(doc);
}

/* ---- whole-set checks ---- */

static void resolve_refs(struct ld *L)
{
    static const char *const names[] = {"goto", "next", "yes", "no"};
    struct ussd_menus *m = L->m;
    for (int i = 0; i < L->nrefs; i++) {
        struct ref *r = &L->refs[i];
        int t = ussdi_screen(m, r->target);
        struct uscreen *sc = &m->screens[r->screen];
        if (t < 0) {
            err_at(L, r->file, r->line, "unknown target screen '%s' (%s of screen '%s')", r->target,
                   names[r->field], sc->id);
            sc->bad = true;
            continue;
        }
        switch (r->field) {
        case REF_GOTO: sc->opts[r->opt].go = t; break;
        case REF_NEXT: sc->next = t; break;
        case REF_YES: sc->yes = t; break;
        case REF_NO: sc->no = t; break;
        }
    }
}

/* Screens no path from start reaches. A screen with a mistake of its own
 * is gone through by the ids it names (struct loose), and one that could
 * not be read at all may lead anywhere: either way its mistake is the one
 * reported, not the screens behind it. */
static void check_reach(struct ld *L)
{
    struct ussd_menus *m = L->m;
    int n = m->nscreens;
    bool blind = false;
    if (m->start < 0 || !n)
        return;
    bool *seen = calloc((size_t)n, sizeof *seen);
    int *queue = malloc((size_t)n * sizeof *queue);
    if (!seen || !queue) {
        L->y.oom = true;
        goto out;
    }
    int head = 0, tail = 0;
    seen[m->start] = true;
    queue[tail++] = m->start;
    while (head < tail) {
        int si = queue[head++];
        const struct uscreen *sc = &m->screens[si];
        int to[3] = {sc->next, sc->yes, sc->no};
        for (int i = 0; i < sc->nopts + 3; i++) {
            int t = i < sc->nopts ? sc->opts[i].go : to[i - sc->nopts];
            if (t >= 0 && !seen[t]) {
                seen[t] = true;
                queue[tail++] = t;
            }
        }
        for (int i = 0; sc->bad && i < L->nloose; i++) {
            if (L->loose[i].screen != si)
                continue;
            int t = L->loose[i].target ? ussdi_screen(m, L->loose[i].target) : -1;
            blind |= !L->loose[i].target;
            if (t >= 0 && !seen[t]) {
                seen[t] = true;
                queue[tail++] = t;
            }
        }
    }
    for (int i = 0; i < n && !blind; i++)
        if (!seen[i])
            err_at(L, m->screens[i].file, m->screens[i].line, "screen '%s' is not reachable from start '%s'",
                   m->screens[i].id, m->screens[m->start].id);
out:
    free(seen);
    free(queue);
}

static void check_builtins(struct ld *L)
{
    struct ussd_menus *m = L->m;
    for (int i = 0; i < m->nscreens; i++) {
        const struct uscreen *sc = &m->screens[i];
        const struct ussd_builtin *b = sc->builtin;
        if (!b)
            continue;
        for (int k = 0; k < USSD_BUILTIN_MAX_VARS && b->returns[k]; k++)
            if (!ussdi_msg(m, b->returns[k]))
                err_at(L, sc->file, sc->bline, "built-in '%s' may return '%s' but messages has no '%s'", b->name,
                       b->returns[k], b->returns[k]);
        for (int k = 0; k < USSD_BUILTIN_MAX_VARS && b->needs[k]; k++)
            if (!setvar_known(L, b->needs[k]))
                err_at(L, sc->file, sc->bline, "built-in '%s' needs var '%s' but no screen sets it", b->name,
                       b->needs[k]);
    }
}

static int static_width(const char *text) { return ussdi_xwidth(text, NULL); }

static void over(struct ld *L, const struct uscreen *sc, int lang, int width, const char *ctx)
{
    err_at(L, sc->file, sc->line, "screen '%s' is over budget in %s: %d > %d characters%s%s", sc->id,
           lang_names[lang], width, USSD_BUDGET, ctx[0] ? " " : "", ctx);
}

/* Proves the budget of one screen in one language and lays out menu pages. */
static void check_budget(struct ld *L, struct uscreen *sc, int lang)
{
    struct ussd_menus *m = L->m;
    bool is_start = sc == &m->screens[m->start];
    struct buf b;
    buf_init(&b, 4096);
    ussdi_hint(&b, m, lang, true, !is_start);
    int hint = 1 + ussdi_width(b.data);
    buf_reset(&b);
    buf_printf(&b, "98 %s", m->nav[NAV_MORE].t[lang]);
    int more = 1 + ussdi_width(b.data);
    int inv = 1 + static_width(ussdi_msg(m, "invalid_choice")->t[lang]);
    int text = static_width(sc->text.t[lang]);
    int *w = NULL;
    char ctx[96];
    switch (sc->kind) {
    case KIND_MENU: {
        int n = sc->nopts, bad = 0;
        w = malloc((size_t)(n + 1) * sizeof *w);
        int *starts = arena_alloc(m, (size_t)(n + 1) * sizeof *starts);
        if (!w || !starts) {
            L->y.oom = true;
            break;
        }
        for (int i = 0; i < n; i++) {
            buf_reset(&b);
            buf_printf(&b, "%s. ", sc->opts[i].key);
            ussdi_expand(&b, sc->opts[i].label.t[lang], NULL);
            w[i] = ussdi_width(b.data);
        }
        int fixed = 4 + inv + text + hint;
        int np = ussdi_paginate(w, n, fixed, fixed, more, starts, &bad);
        if (np < 0 && fixed > USSD_BUDGET) {
            over(L, sc, lang, fixed, "(text and hints alone)");
            break;
        }
        if (np < 0) {
            snprintf(ctx, sizeof ctx, "(option %s does not fit beside the text and hints)", sc->opts[bad].key);
            over(L, sc, lang, fixed + 1 + w[bad] + (bad < n - 1 ? more : 0), ctx);
            break;
        }
        sc->npages[lang] = np;
        sc->page_start[lang] = starts;
        break;
    }
    case KIND_LIST: {
        /* "90. " + label, or "- " + label + " " + id when shown only */
        int item = 1 + (sc->var ? 4 + USSD_ITEM_WIDTH : 2 + USSD_ITEM_WIDTH + 1 + USSD_ITEM_WIDTH);
        int total = 4 + inv + text + item + more + hint;
        if (total > USSD_BUDGET)
            over(L, sc, lang, total, "(with one full-width item and hints)");
        total = 4 + static_width(sc->empty.t[lang]);
        if (total > USSD_BUDGET)
            over(L, sc, lang, total, "(empty text)");
        break;
    }
    case KIND_INPUT: {
        int base = 4 + text + hint;
        if (base > USSD_BUDGET)
            over(L, sc, lang, base, "");
        int total = base + 1 + static_width(sc->error.t[lang]);
        if (total > USSD_BUDGET)
            over(L, sc, lang, total, "(with its error text)");
        for (int k = 0; sc->builtin && k < USSD_BUILTIN_MAX_VARS && sc->builtin->returns[k]; k++) {
            const struct utext *msg = ussdi_msg(m, sc->builtin->returns[k]);
            total = msg ? base + 1 + static_width(msg->t[lang]) : 0;
            snprintf(ctx, sizeof ctx, "(with message '%s')", sc->builtin->returns[k]);
            if (total > USSD_BUDGET)
                over(L, sc, lang, total, ctx);
        }
        break;
    }
    case KIND_CONFIRM: {
        buf_reset(&b);
        buf_printf(&b, "1. %s\n2. %s", m->nav[NAV_YES].t[lang], m->nav[NAV_NO].t[lang]);
        int total = 4 + inv + text + 1 + ussdi_width(b.data) + hint;
        if (total > USSD_BUDGET)
            over(L, sc, lang, total, "");
        break;
    }
    case KIND_ACTION:
        for (int k = 0; sc->builtin && k < USSD_BUILTIN_MAX_VARS && sc->builtin->returns[k]; k++) {
            const struct utext *msg = ussdi_msg(m, sc->builtin->returns[k]);
            int total = msg ? 4 + static_width(msg->t[lang]) : 0;
            snprintf(ctx, sizeof ctx, "(with message '%s')", sc->builtin->returns[k]);
            if (total > USSD_BUDGET)
                over(L, sc, lang, total, ctx);
        }
        if (4 + text > USSD_BUDGET)
            over(L, sc, lang, 4 + text, "");
        break;
    case KIND_END:
        if (4 + text > USSD_BUDGET)
            over(L, sc, lang, 4 + text, "");
        break;
    }
    free(w);
    buf_free(&b);
}

static void check_set(struct ld *L)
{
    struct ussd_menus *m = L->m;
    const char *where = L->start_file ? L->start_file : L->dir;
    int wline = L->start_file ? L->start_line : 0;
    m->start = -1;
    if (!L->start)
        err_at(L, L->dir, 0, "no start: screen given in any menu file");
    else if ((m->start = ussdi_screen(m, L->start)) < 0)
        err_at(L, L->start_file, L->start_line, "unknown start screen '%s'", L->start);
    resolve_refs(L);
    bool nav_ok = true;
    if (!L->nav_file) {
        err_at(L, where, wline, "no nav: labels given in any menu file");
        nav_ok = false;
    }
    for (int i = 0; L->nav_file && i < NAV_COUNT; i++)
        if (!m->nav[i].t[USSD_EN] || !m->nav[i].t[USSD_SW])
            nav_ok = false; /* reported where it was read */
    bool msgs_ok = true;
    for (size_t i = 0; i < sizeof engine_msgs / sizeof engine_msgs[0]; i++)
        if (!ussdi_msg(m, engine_msgs[i])) {
            err_at(L, where, wline, "messages: missing '%s', which the engine shows", engine_msgs[i]);
            msgs_ok = false;
        }
    check_reach(L);
    check_builtins(L);
    if (msgs_ok) {
        const struct umsg *g = &m->msgs[0];
        for (int i = 0; i < m->nmsgs; i++)
            if (!strcmp(m->msgs[i].key, "system_error"))
                g = &m->msgs[i];
        for (int l = 0; l < USSD_NLANG; l++)
            if (4 + static_width(g->text.t[l]) > USSD_BUDGET)
                err_at(L, g->file, g->line, "message 'system_error' is over budget in %s", lang_names[l]);
    }
    if (!nav_ok || !msgs_ok || m->start < 0)
        return; /* budgets need the nav labels, the engine messages and the start */
    for (int i = 0; i < m->nscreens; i++)
        if (!m->screens[i].bad)
            for (int l = 0; l < USSD_NLANG; l++)
                check_budget(L, &m->screens[i], l);
    /* a screen that may be resumed to: the offer shown for it fits */
    for (int i = 0; i < m->nscreens; i++) {
        const struct uscreen *sc = &m->screens[i];
        if (sc->bad || !sc->resume.t[USSD_EN])
            continue;
        if (!ussdi_msg(m, "resume_offer")) {
            err_at(L, sc->file, sc->line, "screen '%s' has resume: but messages has no 'resume_offer'", sc->id);
            continue;
        }
        for (int l = 0; l < USSD_NLANG; l++) {
            int w = ussdi_offer_width(m, sc, l);
            if (w > USSD_BUDGET)
                over(L, sc, l, w, "(its resume offer)");
        }
    }
}

/* ---- public ---- */

static int cmp_names(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

static void menus_free(struct ussd_menus *m)
{
    for (int i = 0; i < m->nscreens; i++)
        regex_free(m->screens[i].re);
    free(m->screens);
    free(m->msgs);
    while (m->arena) {
        struct ussd_chunk *c = m->arena;
        m->arena = c->next;
        free(c);
    }
    free(m);
}

/* Each screen's funnel counters, named after its file ("menus/water.yaml"
 * gives "water") and id: only a set that loaded whole takes them. */
static void take_slots(struct ussd_menus *m)
{
    for (int i = 0; i < m->nscreens; i++) {
        struct uscreen *sc = &m->screens[i];
        const char *base = strrchr(sc->file, '/');
        base = base ? base + 1 : sc->file;
        char menu[48];
        size_t n = strlen(base);
        if (n > 5 && !strcmp(base + n - 5, ".yaml"))
            n -= 5;
        snprintf(menu, sizeof menu, "%.*s", (int)n, base);
        sc->slot = metrics_screen_slot(menu, sc->id);
    }
}

struct ussd_menus *ussd_menus_load(const char *dir, struct buf *errors)
{
    struct ld L = {.y = {.errors = errors}, .dir = dir};
    char *names[MAX_FILES];
    int nnames = 0;
    DIR *d = NULL;
    L.m = calloc(1, sizeof *L.m);
    if (!L.m) {
        if (errors)
            buf_printf(errors, "%s: out of memory\n", dir);
        return NULL;
    }
    atomic_init(&L.m->refs, 1);
    L.m->start = -1;
    if (!(d = opendir(dir))) {
        err_at(&L, dir, 0, "cannot open directory: %s", strerror(errno));
        goto out;
    }
    struct dirent *e;
    while ((e = readdir(d))) {
        size_t n = strlen(e->d_name);
        if (e->d_name[0] == '.' || n < 6 || strcmp(e->d_name + n - 5, ".yaml"))
            continue;
        if (nnames == MAX_FILES) {
            err_at(&L, dir, 0, "more than %d .yaml files", MAX_FILES);
            break;
        }
        if (!(names[nnames] = strdup(e->d_name))) {
            L.y.oom = true;
            break;
        }
        nnames++;
    }
    closedir(d);
    qsort(names, (size_t)nnames, sizeof names[0], cmp_names);
    size_t dl = strlen(dir);
    while (dl > 1 && dir[dl - 1] == '/')
        dl--;
    for (int i = 0; i < nnames && !L.y.oom; i++) {
        size_t n = dl + 1 + strlen(names[i]);
        char *path = arena_alloc(L.m, n + 1);
        if (!path) {
            L.y.oom = true;
            break;
        }
        snprintf(path, n + 1, "%.*s/%s", (int)dl, dir, names[i]);
        L.y.file = path;
        load_file(&L, path);
    }
    if (!L.y.oom && !L.m->nscreens) {
        if (!L.y.nerr)
            err_at(&L, dir, 0, "no menu files (*.yaml with screens:)");
    } else if (!L.y.oom)
        check_set(&L);
out:
    if (L.y.oom)
        err_at(&L, dir, 0, "out of memory");
    for (int i = 0; i < nnames; i++)
        free(names[i]);
    free(L.refs);
    free(L.loose);
    if (L.y.nerr) {
        menus_free(L.m);
        return NULL;
    }
    take_slots(L.m);
    return L.m;
}

void ussd_menus_ref(struct ussd_menus *m)
{
    if (m)
        atomic_fetch_add(&m->refs, 1);
}

void ussd_menus_unref(struct ussd_menus *m)
{
    if (m && atomic_fetch_sub(&m->refs, 1) == 1)
        menus_free(m);
}

int ussd_menus_count(const struct ussd_menus *m) { return m->nscreens; }

const char *ussd_start(const struct ussd_menus *m) { return m->screens[m->start].id; }

bool ussd_has_screen(const struct ussd_menus *m, const char *id) { return ussdi_screen(m, id) >= 0; }

int ussd_screen_slot(const struct ussd_menus *m, const char *id)
{
    int i = m && id ? ussdi_screen(m, id) : -1;
    return i < 0 ? -1 : m->screens[i].slot;
}
