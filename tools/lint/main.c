/* lint: bin/lipa-lint, the tree's own rules, checked by `make lint` (part of
 * `make check`). Run from the repository's top folder; prints one line per
 * problem, `file:line: what is wrong`, and exits 1 when there is any.
 *
 *   lipa-lint            every rule over src/, tools/, tests/ (and the
 *                        outside-reference rule over docs/, README.md too)
 *
 * The rules (docs/architecture.md says why):
 *  1. Banned calls: strcpy, strcat, sprintf, vsprintf, atoi, atol, strtok,
 *     gets, anywhere in C code (comments and strings do not count).
 *  2. Layers. src/util includes only util; src/store only store and util;
 *     src/http only http and util. In a domain folder (src/ussd, src/pay,
 *     ...), only face files (named api*.c / api*.h: the HTTP handlers)
 *     include http/ and other folders' faces; logic files include util,
 *     store, app/app.h and other domains' logic headers. src/app and
 *     src/main.c put everything together and may include anything.
 *  3. Each third-party library is touched by one module: microhttpd.h in
 *     src/http, sqlite3.h in src/store/sqlite.c, libpq-fe.h in
 *     src/store/pg.c, curl in src/util/httpc.c, openssl
 *     in src/util/crypto.c, pcre2.h in src/util/regex.c, yaml.h in
 *     src/util/yaml.c (tools and tests included).
 *  4. No header for nothing: a file that includes one of the tree's headers
 *     uses at least one name it declares (its own header excepted).
 *  5. The repository stands alone: nothing names files outside it.
 *  6. The domains' logic forms no cycle: following the includes of logic
 *     files from folder to folder never comes back (app/app.h, which
 *     every layer may use, is not a domain).
 *  7. Log events are named component.event: the event argument of log_info,
 *     log_warn, log_error, log_debug and log_event is string literals (a
 *     ?: may pick one) matching ^[a-z0-9_]+\.[a-z0-9_]+$, so an operator's
 *     grep for one name finds every line of that event. */
#include <ctype.h>
#include <dirent.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define MAX_FILES 2048
#define MAX_NAMES 1024

struct file {
    char path[1024];
    char *raw;          /* as on disk */
    char *code;         /* comments and literals blanked, lines kept */
    size_t len;
};

static struct file files[MAX_FILES];
static int nfiles, problems;

static void problem(const char *path, int line, const char *fmt, const char *arg)
{
    printf("%s:%d: ", path, line);
    printf(fmt, arg);
    putchar('\n');
    problems++;
}

static char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *s = malloc((size_t)n + 1);
    if (s && fread(s, 1, (size_t)n, f) != (size_t)n) {
        free(s);
        s = NULL;
    }
    fclose(f);
    if (s) {
        s[n] = 0;
        *len = (size_t)n;
    }
    return s;
}

/* A copy of s with comments, string and character literals blanked
 * (newlines kept, so offsets and lines stay where they were). */
static char *blank(const char *s, size_t n)
{
    char *o = malloc(n + 1);
    if (!o)
        return NULL;
    memcpy(o, s, n + 1);
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '/' && s[i + 1] == '*') {
            size_t j = i;
            while (j < n && !(s[j] == '*' && s[j + 1] == '/'))
                j++;
            for (size_t k = i; k < n && k < j + 2; k++)
                if (o[k] != '\n')
                    o[k] = ' ';
            i = j + 1;
        } else if (s[i] == '/' && s[i + 1] == '/') {
            while (i < n && s[i] != '\n')
                o[i++] = ' ';
        } else if (s[i] == '"' || s[i] == '\'') {
            char q = s[i];
            /* an #include "..." keeps its name */
            size_t ls = i;
            while (ls > 0 && s[ls - 1] != '\n')
                ls--;
            const char *l = s + ls;
            while (*l == ' ' || *l == '\t')
                l++;
            bool inc = q == '"' && !strncmp(l, "#include", 8);
            size_t j = i + 1;
            while (j < n && s[j] != q && s[j] != '\n') {
                if (s[j] == '\\')
                    j++;
                j++;
            }
            if (!inc)
                for (size_t k = i + 1; k < j && k < n; k++)
                    o[k] = ' ';
            i = j;
        }
    }
    return o;
}

static bool ends_with(const char *s, const char *suf)
{
    size_t a = strlen(s), b = strlen(suf);
    return a >= b && !strcmp(s + a - b, suf);
}

/* Calls fn with every file under dir (fuzz corpora and crash inputs are
 * data, not the tree's text). */
static void walk(const char *dir, void (*fn)(const char *path))
{
    DIR *d = opendir(dir);
    if (!d)
        return;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.')
            continue;
        char p[1024];
        snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
        struct stat st;
        if (stat(p, &st) != 0)
            continue;
        if (S_ISDIR(st.st_mode) && strcmp(e->d_name, "corpus") && strcmp(e->d_name, "crashes"))
            walk(p, fn);
        else if (S_ISREG(st.st_mode))
            fn(p);
    }
    closedir(d);
}

/* A C file of the tree, read for the C rules. */
static void add_source(const char *p)
{
    if (!(ends_with(p, ".c") || ends_with(p, ".h")) || nfiles >= MAX_FILES)
        return;
    struct file *f = &files[nfiles];
    snprintf(f->path, sizeof f->path, "%s", p);
    if ((f->raw = slurp(p, &f->len)) && (f->code = blank(f->raw, f->len)))
        nfiles++;
}

static int line_of(const char *s, size_t off)
{
    int l = 1;
    for (size_t i = 0; i < off; i++)
        l += s[i] == '\n';
    return l;
}

static bool word_at(const char *s, size_t i, const char *w)
{
    size_t n = strlen(w);
    return !strncmp(s + i, w, n) && (i == 0 || !(isalnum((unsigned char)s[i - 1]) || s[i - 1] == '_')) &&
           !(isalnum((unsigned char)s[i + n]) || s[i + n] == '_');
}

/* ---- rule 1: banned calls ---- */

static void banned(const struct file *f)
{
    static const char *const calls[] = {"strcpy", "strcat", "sprintf", "vsprintf", "atoi", "atol", "strtok", "gets"};
    for (size_t i = 0; i < f->len; i++)
        for (size_t c = 0; c < sizeof calls / sizeof *calls; c++)
            if (word_at(f->code, i, calls[c])) {
                size_t j = i + strlen(calls[c]);
                while (f->code[j] == ' ')
                    j++;
                if (f->code[j] == '(')
                    problem(f->path, line_of(f->raw, i), "banned call %s() (see tools/lint/main.c)", calls[c]);
            }
}

/* ---- rules 2 and 3: includes ---- */

/* The folder of a src/ path ("pay" for src/pay/purchase.c; "" for src/main.c). */
static void folder_of(const char *path, char *out, size_t n)
{
    out[0] = 0;
    if (strncmp(path, "src/", 4))
        return;
    const char *s = path + 4, *slash = strchr(s, '/');
    if (slash && (size_t)(slash - s) < n) {
        memcpy(out, s, (size_t)(slash - s));
        out[slash - s] = 0;
    }
}

static bool is_face(const char *path)
{
    const char *b = strrchr(path, '/');
    return b && !strncmp(b + 1, "api", 3);
}

static bool is_layer(const char *dir)
{
    return !strcmp(dir, "util") || !strcmp(dir, "store") || !strcmp(dir, "http") || !strcmp(dir, "app");
}

/* Why file (in src/) may not include target ("pay/api.h"), or NULL. */
static const char *layer_refusal(const char *path, const char *target)
{
    char dir[32], tdir[32] = "";
    folder_of(path, dir, sizeof dir);
    const char *slash = strchr(target, '/');
    if (!slash || (size_t)(slash - target) >= sizeof tdir)
        return NULL;
    memcpy(tdir, target, (size_t)(slash - target));
    tdir[slash - target] = 0;
    if (!dir[0] || !strcmp(dir, "app"))
        return NULL; /* main.c, or the composition root */
    if (!strcmp(dir, tdir)) /* its own folder: only faces include faces */
        return is_layer(dir) || is_face(path) || !is_face(target) ? NULL
                                                                  : "a logic file includes no face (api*.h)";
    if (!strcmp(dir, "util"))
        return "util includes only util";
    if (!strcmp(dir, "store"))
        return strcmp(tdir, "util") ? "store includes only store and util" : NULL;
    if (!strcmp(dir, "http"))
        return strcmp(tdir, "util") ? "http includes only http and util" : NULL;
    /* a domain folder */
    if (!strcmp(tdir, "util") || !strcmp(tdir, "store"))
        return NULL;
    if (is_face(path))
        return NULL;
    if (!strcmp(tdir, "http"))
        return "only a domain's face files (api*.c, api*.h) include http/";
    if (!strcmp(target, "app/app.h"))
        return NULL;
    if (!strcmp(tdir, "app"))
        return "logic files include only app/app.h of app/";
    if (is_face(target))
        return "a logic file includes no face (api*.h)";
    if (is_layer(tdir))
        return NULL;
    return NULL; /* another domain's logic header */
}

static const struct {
    const char *header;     /* prefix of a <...> include */
    const char *owner;      /* path prefix allowed to include it */
} libraries[] = {
    {"microhttpd.h", "src/http/"}, {"sqlite3.h", "src/store/sqlite.c"}, {"libpq-fe.h", "src/store/pg.c"},
    {"curl/", "src/util/httpc.c"},
    {"openssl/", "src/util/crypto.c"}, {"pcre2.h", "src/util/regex.c"}, {"yaml.h", "src/util/yaml.c"},
};

/* ---- rule 4: the names a header declares ---- */

struct names {
    char path[1024];
    int n;
    char *name[MAX_NAMES];
};

static bool keyword(const char *w)
{
    static const char *const kw[] = {"if", "for", "while", "switch", "return", "sizeof", "defined", "__attribute__",
                                     "format", "printf", "_Static_assert", "typeof", "__typeof__", "alignof",
                                     "_Alignof", "offsetof", NULL};
    for (int i = 0; kw[i]; i++)
        if (!strcmp(w, kw[i]))
            return true;
    return false;
}

static void add_name(struct names *nm, const char *s, size_t n)
{
    if (nm->n >= MAX_NAMES || n == 0 || n > 80)
        return;
    char w[96];
    memcpy(w, s, n);
    w[n] = 0;
    if (keyword(w) || !strncmp(w, "LIPA_", 5)) /* include guards */
        return;
    for (int i = 0; i < nm->n; i++)
        if (!strcmp(nm->name[i], w))
            return;
    nm->name[nm->n++] = strdup(w);
}

static size_t ident_end(const char *s, size_t i)
{
    while (isalnum((unsigned char)s[i]) || s[i] == '_')
        i++;
    return i;
}

/* Functions, macros, struct/enum/union tags, enum constants, typedefs and
 * extern objects declared in header text h (blanked). */
static void declared(const char *h, struct names *nm)
{
    int depth = 0, enum_depth = -1;
    bool in_enum = false;
    for (size_t i = 0; h[i]; i++) {
        char c = h[i];
        if (c == '#') {
            size_t j = i + 1;
            while (h[j] == ' ')
                j++;
            if (!strncmp(h + j, "define", 6)) {
                j += 6;
                while (h[j] == ' ')
                    j++;
                add_name(nm, h + j, ident_end(h, j) - j);
            }
            while (h[i] && h[i] != '\n')
                i++;
            continue;
        }
        if (c == '{') {
            depth++;
            continue;
        }
        if (c == '}') {
            if (in_enum && depth - 1 == enum_depth)
                in_enum = false;
            depth--;
            continue;
        }
        if (!(isalpha((unsigned char)c) || c == '_') || (i && (isalnum((unsigned char)h[i - 1]) || h[i - 1] == '_')))
            continue;
        size_t e = ident_end(h, i);
        size_t j = e;
        while (h[j] == ' ' || h[j] == '\n' || h[j] == '\t')
            j++;
        if (word_at(h, i, "struct") || word_at(h, i, "enum") || word_at(h, i, "union")) {
            bool en = word_at(h, i, "enum");
            size_t k = j;
            size_t ke = ident_end(h, k);
            if (ke > k)
                add_name(nm, h + k, ke - k);
            size_t m = ke;
            while (h[m] == ' ' || h[m] == '\n')
                m++;
            if (en && h[m] == '{') {
                in_enum = true;
                enum_depth = depth;
            }
            i = ke ? ke - 1 : i;
            continue;
        }
        if (in_enum && depth == enum_depth + 1) {
            /* an enumerator: at the start of an item */
            size_t b = i;
            while (b > 0 && (h[b - 1] == ' ' || h[b - 1] == '\n' || h[b - 1] == '\t'))
                b--;
            if (b > 0 && (h[b - 1] == '{' || h[b - 1] == ','))
                add_name(nm, h + i, e - i);
        } else if (depth == 0 && h[j] == '(') {
            add_name(nm, h + i, e - i); /* a function (or a function-like use of a macro) */
        } else if (depth == 0 && (h[j] == ';' || h[j] == '[') ) {
            add_name(nm, h + i, e - i); /* a typedef or an extern object */
        } else if (depth == 0 && h[j] == ')' && i > 0 && h[i - 1] == '*') {
            add_name(nm, h + i, e - i); /* typedef ... (*name)(...) */
        }
        i = e - 1;
    }
}

static struct names *names_of(const char *hpath)
{
    static struct names cache[256];
    static int ncache;
    for (int i = 0; i < ncache; i++)
        if (!strcmp(cache[i].path, hpath))
            return &cache[i];
    for (int f = 0; f < nfiles && ncache < 256; f++)
        if (!strcmp(files[f].path, hpath)) {
            struct names *nm = &cache[ncache++];
            snprintf(nm->path, sizeof nm->path, "%s", hpath);
            declared(files[f].code, nm);
            return nm;
        }
    return NULL;
}

static bool uses_any(const struct file *f, const struct names *nm, size_t skip_to)
{
    for (size_t i = skip_to; i < f->len; i++) {
        if (!(isalpha((unsigned char)f->code[i]) || f->code[i] == '_') ||
            (i && (isalnum((unsigned char)f->code[i - 1]) || f->code[i - 1] == '_')))
            continue;
        size_t e = ident_end(f->code, i);
        for (int k = 0; k < nm->n; k++)
            if (strlen(nm->name[k]) == e - i && !strncmp(f->code + i, nm->name[k], e - i))
                return true;
        i = e - 1;
    }
    return false;
}

/* The tree path of an #include "x" in f: src/x, or next to f (tools, tests). */
static bool resolve(const struct file *f, const char *inc, char *out, size_t n)
{
    struct stat st;
    snprintf(out, n, "src/%s", inc);
    if (stat(out, &st) == 0)
        return true;
    char dir[1024];
    snprintf(dir, sizeof dir, "%s", f->path);
    char *slash = strrchr(dir, '/');
    if (slash)
        *slash = 0;
    if ((size_t)snprintf(out, n, "%s/%s", dir, inc) >= n)
        return false;
    return stat(out, &st) == 0;
}

/* Is this header f's own (purchase.h for purchase.c, ussd_int.h in ussd/)? */
static bool own_header(const struct file *f, const char *hpath)
{
    char a[1024], b[1024];
    snprintf(a, sizeof a, "%s", f->path);
    snprintf(b, sizeof b, "%s", hpath);
    char *da = strrchr(a, '.'), *db = strrchr(b, '.');
    if (da)
        *da = 0;
    if (db)
        *db = 0;
    return !strcmp(a, b) || strstr(hpath, "_int.h");
}

/* ---- rule 6: no cycle between the domains' logic ---- */

#define MAX_DIRS 32

static char dirs[MAX_DIRS][32];
static int ndirs;
static bool edge[MAX_DIRS][MAX_DIRS];
static char why_edge[MAX_DIRS][MAX_DIRS][1400]; /* the first include that made it */

static int dir_index(const char *d)
{
    for (int i = 0; i < ndirs; i++)
        if (!strcmp(dirs[i], d))
            return i;
    if (ndirs == MAX_DIRS)
        return -1;
    snprintf(dirs[ndirs], sizeof dirs[ndirs], "%s", d);
    return ndirs++;
}

static void note_edge(const struct file *f, const char *inc, int line)
{
    char from[32], to[32];
    folder_of(f->path, from, sizeof from);
    const char *slash = strchr(inc, '/');
    if (!from[0] || is_layer(from) || is_face(f->path) || !slash || (size_t)(slash - inc) >= sizeof to)
        return;
    memcpy(to, inc, (size_t)(slash - inc));
    to[slash - inc] = 0;
    if (!strcmp(from, to) || is_layer(to))
        return;
    int a = dir_index(from), b = dir_index(to);
    if (a < 0 || b < 0 || edge[a][b])
        return;
    edge[a][b] = true;
    snprintf(why_edge[a][b], sizeof why_edge[a][b], "%s:%d includes %s", f->path, line, inc);
}

static int color[MAX_DIRS], parent[MAX_DIRS];

static void report_cycle(int from, int to)
{
    char path[512] = "";
    int chain[MAX_DIRS], n = 0;
    for (int v = from; v != to && n < MAX_DIRS; v = parent[v])
        chain[n++] = v;
    chain[n++] = to;
    size_t used = 0;
    for (int i = n - 1; i >= 0; i--)
        used += (size_t)snprintf(path + used, sizeof path - used, "%s -> ", dirs[chain[i]]);
    snprintf(path + used, sizeof path - used, "%s", dirs[to]);
    printf("%s: the domains' logic goes round: %s\n", why_edge[from][to], path);
    problems++;
}

static void dfs(int v)
{
    color[v] = 1;
    for (int w = 0; w < ndirs; w++) {
        if (!edge[v][w])
            continue;
        if (color[w] == 1)
            report_cycle(v, w);
        else if (!color[w]) {
            parent[w] = v;
            dfs(w);
        }
    }
    color[v] = 2;
}

static void cycles(void)
{
    for (int v = 0; v < ndirs; v++)
        if (!color[v])
            dfs(v);
}

static void includes(const struct file *f)
{
    const char *s = f->raw;
    size_t body = 0; /* where code starts after the includes: names used before do not count */
    for (size_t i = 0; i < f->len; i++) {
        if (i && s[i - 1] != '\n')
            continue;
        size_t j = i;
        while (s[j] == ' ' || s[j] == '\t')
            j++;
        if (strncmp(s + j, "#include", 8))
            continue;
        j += 8;
        while (s[j] == ' ')
            j++;
        char open = s[j], close = open == '<' ? '>' : '"';
        if (open != '<' && open != '"')
            continue;
        size_t k = j + 1;
        while (s[k] && s[k] != close && s[k] != '\n')
            k++;
        char inc[200];
        size_t n = k - j - 1 < sizeof inc - 1 ? k - j - 1 : sizeof inc - 1;
        memcpy(inc, s + j + 1, n);
        inc[n] = 0;
        int line = line_of(s, i);
        body = k;
        if (open == '<') {
            for (size_t l = 0; l < sizeof libraries / sizeof *libraries; l++)
                if (!strncmp(inc, libraries[l].header, strlen(libraries[l].header)) &&
                    strncmp(f->path, libraries[l].owner, strlen(libraries[l].owner))) {
                    char msg[200];
                    snprintf(msg, sizeof msg, "<%%s> belongs to %s only", libraries[l].owner);
                    problem(f->path, line, msg, inc);
                }
            continue;
        }
        if (!strncmp(f->path, "src/", 4)) {
            note_edge(f, inc, line);
            const char *why = layer_refusal(f->path, inc);
            if (why) {
                char msg[200];
                snprintf(msg, sizeof msg, "includes %%s: %s", why);
                problem(f->path, line, msg, inc);
            }
        }
        char hpath[1024];
        if (!resolve(f, inc, hpath, sizeof hpath)) {
            problem(f->path, line, "includes %s, which the tree does not have", inc);
            continue;
        }
        if (own_header(f, hpath))
            continue;
        struct names *nm = names_of(hpath);
        if (nm && nm->n && !uses_any(f, nm, 0))
            problem(f->path, line, "includes %s and uses nothing it declares", inc);
    }
    (void)body;
}

/* ---- rule 7: log event names ---- */

static bool event_name_ok(const char *s, size_t n)
{
    size_t dots = 0, dot = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '.') {
            dots++;
            dot = i;
        } else if (!((c >= 'a' && c <= 'z') || isdigit(c) || c == '_')) {
            return false;
        }
    }
    return dots == 1 && dot > 0 && dot + 1 < n;
}

static void event_names(const struct file *f)
{
    /* the logger itself (its macros pass the name on) and its tests (which
     * feed it bad names on purpose) */
    if (!strcmp(f->path, "src/util/log.h") || !strcmp(f->path, "src/util/log.c") ||
        !strcmp(f->path, "tests/unit/check_util.c"))
        return;
    static const char *const calls[] = {"log_info", "log_warn", "log_error", "log_debug", "log_event"};
    const char *code = f->code, *raw = f->raw;
    for (size_t i = 0; i < f->len; i++)
        for (size_t c = 0; c < sizeof calls / sizeof *calls; c++) {
            if (!word_at(code, i, calls[c]))
                continue;
            size_t j = i + strlen(calls[c]);
            while (isspace((unsigned char)code[j]))
                j++;
            if (code[j] != '(')
                continue;
            j++;
            /* the event is log_event's second argument, the others' first */
            int depth = 0;
            for (int skip = c == 4; skip && j < f->len; j++) {
                if (code[j] == '(')
                    depth++;
                else if (code[j] == ')')
                    depth--;
                else if (code[j] == ',' && !depth)
                    skip = 0;
            }
            size_t start = j, literals = 0;
            depth = 0;
            for (; j < f->len && (depth || (code[j] != ',' && code[j] != ')')); j++) {
                if (code[j] == '(')
                    depth++;
                else if (code[j] == ')')
                    depth--;
                else if (code[j] == '"') {
                    size_t e = j + 1;
                    while (e < f->len && code[e] != '"')
                        e++;
                    char name[128];
                    snprintf(name, sizeof name, "%.*s", (int)(e - j - 1), raw + j + 1);
                    if (!event_name_ok(raw + j + 1, e - j - 1))
                        problem(f->path, line_of(raw, j), "log event \"%s\" is not named component.event "
                                                          "(^[a-z0-9_]+\\.[a-z0-9_]+$)", name);
                    literals++;
                    j = e;
                }
            }
            if (!literals) {
                char arg[128];
                size_t n = j - start;
                snprintf(arg, sizeof arg, "%.*s", (int)(n < 100 ? n : 100), raw + start);
                problem(f->path, line_of(raw, i), "%s: the log event name is not a string literal", arg);
            }
        }
}

/* ---- rule 5: outside references ---- */

static void outside(const char *path, const char *text)
{
    /* spelt in pieces, so this file does not name them itself */
    static const char *const refs[] = {"../" "shared", "protocols" ".md", "document" " 00", "Document" " 00",
                                       "seeds" "/", "style" ".md"};
    for (size_t r = 0; r < sizeof refs / sizeof *refs; r++)
        for (const char *p = strstr(text, refs[r]); p; p = strstr(p + 1, refs[r]))
            problem(path, line_of(text, (size_t)(p - text)), "names %s, outside this repository", refs[r]);
}

static void outside_file(const char *path)
{
    size_t n;
    char *s = slurp(path, &n);
    if (s)
        outside(path, s);
    free(s);
}

/* A text file of the tree that is not C (docs, scripts, menus, SQL). */
static void outside_text(const char *p)
{
    if (ends_with(p, ".md") || ends_with(p, ".sh") || ends_with(p, ".yaml") || ends_with(p, ".sql") ||
        ends_with(p, ".lua") || ends_with(p, ".in"))
        outside_file(p);
}

int main(int argc, char **argv)
{
    (void)argv;
    if (argc > 1) {
        fprintf(stderr, "usage: lipa-lint (from the repository's top folder)\n");
        return 2;
    }
    walk("src", add_source);
    walk("tools", add_source);
    walk("tests", add_source);
    if (!nfiles) {
        fprintf(stderr, "lipa-lint: no sources under src/, tools/, tests/: run it from the top folder\n");
        return 2;
    }
    for (int i = 0; i < nfiles; i++) {
        banned(&files[i]);
        includes(&files[i]);
        outside(files[i].path, files[i].raw);
        event_names(&files[i]);
    }
    cycles();
    walk("docs", outside_text);
    walk("menus", outside_text);
    walk("db", outside_text);
    walk("tools", outside_text);
    outside_file("README.md");
    outside_file("Makefile");
    if (problems)
        printf("lint: %d problem%s\n", problems, problems == 1 ? "" : "s");
    return problems ? 1 : 0;
}
