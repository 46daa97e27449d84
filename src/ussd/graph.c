/* ussd graph: the loaded set as a Graphviz picture (bin/lipa-menu graph,
 * make menu-graph) and the screen ids in set order (for coverage). */
#include "ussd/ussd_int.h"

#include <stdio.h>
#include <string.h>

const char *ussd_screen_id(const struct ussd_menus *m, int i)
{
    return i >= 0 && i < m->nscreens ? m->screens[i].id : NULL;
}

/* s as the inside of a dot string: at most 3 lines ("\n" in the menu
 * text starts one) of at most max characters, a cut marked "...". */
static void dot_text(struct buf *b, const char *s, size_t max)
{
    size_t n = 0;
    int lines = 1;
    for (; *s; s++) {
        if (*s == '\n') {
            if (++lines > 3)
                break;
            buf_puts(b, "\\n");
            n = 0;
            continue;
        }
        if (n == max) {
            buf_puts(b, "...");
            while (s[1] && s[1] != '\n')
                s++;
            continue;
        }
        if (*s == '"' || *s == '\\')
            buf_puts(b, "\\");
        buf_append(b, s, 1);
        n++;
    }
    if (*s)
        buf_puts(b, "\\n...");
}

static const char *base_name(const char *path)
{
    const char *b = strrchr(path, '/');
    return b ? b + 1 : path;
}

/* How a screen is drawn: its kind in the label and the shape, END screens
 * (end, action) with a double border, a screen that may be resumed to
 * (resume:) with a blue border and "resume" in its label. */
static void node(struct buf *b, const struct ussd_menus *m, const struct uscreen *sc)
{
    static const char *const shapes[] = {
        [KIND_MENU] = "box", [KIND_INPUT] = "parallelogram", [KIND_LIST] = "box3d",
        [KIND_CONFIRM] = "diamond", [KIND_ACTION] = "box", [KIND_END] = "box",
    };
    static const char *const kinds[] = {
        [KIND_MENU] = "menu", [KIND_INPUT] = "input", [KIND_LIST] = "list",
        [KIND_CONFIRM] = "confirm", [KIND_ACTION] = "action", [KIND_END] = "end",
    };
    bool start = sc == &m->screens[m->start];
    bool end = sc->kind == KIND_ACTION || sc->kind == KIND_END;
    buf_printf(b, "    \"%s\" [shape=%s", sc->id, shapes[sc->kind]);
    if (sc->kind == KIND_ACTION)
        buf_puts(b, ", style=\"filled\", fillcolor=\"#fff2b3\"");
    else if (sc->kind == KIND_END)
        buf_puts(b, ", style=\"filled\", fillcolor=\"#e6e6e6\"");
    else if (sc->kind == KIND_MENU || sc->kind == KIND_LIST)
        buf_puts(b, ", style=\"rounded\"");
    if (end)
        buf_puts(b, ", peripheries=2");
    if (start)
        buf_puts(b, ", penwidth=2");
    bool resume = sc->resume.t[USSD_EN] != NULL;
    if (resume)
        buf_puts(b, ", color=\"#1f6fb2\", penwidth=2");
    buf_printf(b, ", label=\"%s\\n[%s", sc->id, kinds[sc->kind]);
    if (sc->kind == KIND_ACTION && sc->builtin)
        buf_printf(b, ": %s", sc->builtin->name);
    if (sc->kind == KIND_LIST)
        buf_printf(b, ": %s", sc->source);
    if (sc->kind == KIND_INPUT)
        buf_printf(b, ": %s", sc->var);
    if (resume)
        buf_puts(b, ", resume");
    buf_puts(b, end ? ", END]\\n" : "]\\n");
    dot_text(b, sc->text.t[USSD_EN], 32);
    buf_puts(b, "\"];\n");
}

static void edge(struct buf *b, const struct uscreen *from, const struct uscreen *to, const char *label,
                 const char *label2)
{
    buf_printf(b, "  \"%s\" -> \"%s\" [label=\"", from->id, to->id);
    dot_text(b, label, 30);
    if (label2) {
        buf_puts(b, " ");
        dot_text(b, label2, 30);
    }
    buf_puts(b, "\"];\n");
}

void ussd_menus_dot(const struct ussd_menus *m, struct buf *out)
{
    buf_puts(out, "// the USSD menus: bin/lipa-menu graph menus (make menu-graph draws docs/menus.svg, .png)\n"
                  "digraph menus {\n"
                  "  graph [rankdir=LR, fontname=\"Helvetica\", fontsize=11, nodesep=0.3, ranksep=0.5];\n"
                  "  node [fontname=\"Helvetica\", fontsize=10];\n"
                  "  edge [fontname=\"Helvetica\", fontsize=9];\n");
    /* one box per file, its screens in file order */
    for (int i = 0; i < m->nscreens; i++) {
        const char *file = m->screens[i].file;
        bool first = true;
        for (int j = 0; j < i && first; j++)
            first = strcmp(m->screens[j].file, file) != 0;
        if (!first)
            continue;
        buf_printf(out, "  subgraph \"cluster_%s\" {\n    label=\"%s\"; style=\"dashed\"; color=\"#999999\";\n",
                   base_name(file), base_name(file));
        for (int j = i; j < m->nscreens; j++)
            if (!strcmp(m->screens[j].file, file))
                node(out, m, &m->screens[j]);
        buf_puts(out, "  }\n");
    }
    for (int i = 0; i < m->nscreens; i++) {
        const struct uscreen *sc = &m->screens[i];
        for (int o = 0; o < sc->nopts; o++)
            if (sc->opts[o].go >= 0)
                edge(out, sc, &m->screens[sc->opts[o].go], sc->opts[o].key, sc->opts[o].label.t[USSD_EN]);
        if (sc->next >= 0)
            edge(out, sc, &m->screens[sc->next], sc->kind == KIND_LIST ? "pick" : sc->var ? sc->var : "next", NULL);
        if (sc->yes >= 0)
            edge(out, sc, &m->screens[sc->yes], "1", m->nav[NAV_YES].t[USSD_EN]);
        if (sc->no >= 0)
            edge(out, sc, &m->screens[sc->no], "2", m->nav[NAV_NO].t[USSD_EN]);
    }
    buf_puts(out, "}\n");
}
