/* ussd engine: one hop of a USSD session. Pure: it reads the immutable menu
 * set, updates the caller's session struct, asks the host for list items and
 * built-in steps, and composes the answer with render.c under the budget the
 * checker proved. No database, no network, no globals. */
#include "ussd/ussd_int.h"

#include "util/log.h"
#include "util/regex.h"
#include "util/str.h"

#include <stdlib.h>
#include <string.h>

#define INPUT_MAX 160

struct hop {
    const struct ussd_menus *m;
    const struct ussd_host *h;
    const char *phone, *sid;
    struct ussd_session *s;
    struct buf *reply;
    int lang;
    bool quiet;                /* a screen nobody sees: waiting screens are not composed */
    enum ussd_end how;         /* set by what ends the session otherwise than DONE */
};

/* A list screen's items and their page layout for this hop. */
struct list_page {
    struct ussd_item items[USSD_LIST_MAX];
    int n, npages;
    int w[USSD_LIST_MAX];
    int starts[USSD_LIST_MAX + 1];
};

static int lang_index(const char *lang) { return !strcmp(lang, "sw") ? USSD_SW : USSD_EN; }

static const char *tr(const struct hop *x, const struct utext *t) { return t->t[x->lang]; }

/* Cuts the reply to the budget should composition ever overrun it; the
 * checker makes this unreachable, so it is logged as a bug. */
static void clamp_reply(struct hop *x)
{
    struct buf *r = x->reply;
    if (r->over || !r->data) {
        buf_reset(r);
        buf_puts(r, "END ");
        return;
    }
    if (ussdi_width(r->data) <= USSD_BUDGET)
        return;
    log_warn("ussd.overlong", "screen=%s width=%d", x->s->screen, ussdi_width(r->data));
    int used = 0;
    size_t i = 0;
    while (r->data[i]) {
        size_t k = 1;
        while (r->data[i + k] && ((unsigned char)r->data[i + k] & 0xC0) == 0x80)
            k++;
        char one[8] = {0};
        memcpy(one, r->data + i, k < sizeof one ? k : sizeof one - 1);
        int w = ussdi_width(one);
        if (used + w > USSD_BUDGET)
            break;
        used += w;
        i += k;
    }
    r->data[i] = 0;
    r->len = i;
}

static bool show_end(struct hop *x, const char *text)
{
    buf_reset(x->reply);
    buf_puts(x->reply, "END ");
    ussdi_expand(x->reply, text, x->s);
    clamp_reply(x);
    return true;
}

static bool show_msg_end(struct hop *x, const char *key)
{
    x->how = USSD_END_ERROR;
    const struct utext *t = key ? ussdi_msg(x->m, key) : NULL;
    if (!t)
        t = ussdi_msg(x->m, "system_error");
    return show_end(x, tr(x, t));
}

/* Whether "0 Back" / "00 Home" show on this screen and page. */
static void hint_flags(const struct hop *x, int idx, int page, bool *back, bool *home)
{
    const struct ussd_session *s = x->s;
    *back = s->ntrail > 0 || page > 0;
    *home = idx != x->m->start && s->ntrail > 0 &&
            strcmp(s->trail[s->ntrail - 1], x->m->screens[x->m->start].id);
}

static int hint_width(const struct hop *x, int idx, int page)
{
    bool back, home;
    hint_flags(x, idx, page, &back, &home);
    if (!back && !home)
        return 0;
    struct buf b;
    buf_init(&b, 1024);
    ussdi_hint(&b, x->m, x->lang, back, home);
    int w = 1 + ussdi_width(b.data);
    buf_free(&b);
    return w;
}

/* "CON " + [note] + text: the head of every waiting screen. */
static void head(struct hop *x, const struct uscreen *sc, const char *note)
{
    buf_reset(x->reply);
    buf_puts(x->reply, "CON ");
    if (note) {
        ussdi_expand(x->reply, note, x->s);
        buf_puts(x->reply, "\n");
    }
    ussdi_expand(x->reply, tr(x, &sc->text), x->s);
}

static bool tail(struct hop *x, int idx, int page, bool more)
{
    if (more)
        buf_printf(x->reply, "\n98 %s", tr(x, &x->m->nav[NAV_MORE]));
    bool back, home;
    hint_flags(x, idx, page, &back, &home);
    if (back || home) {
        buf_puts(x->reply, "\n");
        ussdi_hint(x->reply, x->m, x->lang, back, home);
    }
    clamp_reply(x);
    return false;
}

static void item_line(struct buf *b, const struct uscreen *sc, int i, const struct ussd_item *it)
{
    char label[USSD_ITEM_WIDTH * 4 + 1], id[USSD_ITEM_WIDTH * 4 + 1];
    ussdi_cut(it->label[0] ? it->label : it->id, USSD_ITEM_WIDTH, label, sizeof label);
    if (sc->var) {
        buf_printf(b, "%d. %s", i + 1, label);
        return;
    }
    /* shown only: the id too (a meter's number, which receipts and SMS
     * replies use), unless it is the label */
    ussdi_cut(it->id, USSD_ITEM_WIDTH, id, sizeof id);
    if (it->label[0] && strcmp(it->label, it->id))
        buf_printf(b, "- %s %s", label, id);
    else
        buf_printf(b, "- %s", label);
}

/* Fetches a list's items; -1 when the host failed. */
static int list_items(struct hop *x, int idx, struct list_page *lp)
{
    const struct uscreen *sc = &x->m->screens[idx];
    if (!x->h || !x->h->list)
        return -1;
    int n = x->h->list(x->h->ctx, sc->source, x->phone, lp->items, USSD_LIST_MAX);
    if (n < 0)
        return -1;
    lp->n = n > USSD_LIST_MAX ? USSD_LIST_MAX : n;
    for (int i = 0; i < lp->n; i++) {
        lp->items[i].id[sizeof lp->items[i].id - 1] = 0;
        lp->items[i].label[sizeof lp->items[i].label - 1] = 0;
    }
    return lp->n;
}

/* Lays out the pages of lp's items (lp->n > 0) on list screen idx. */
static void list_layout(struct hop *x, int idx, struct list_page *lp)
{
    const struct uscreen *sc = &x->m->screens[idx];
    struct buf b;
    buf_init(&b, 1024);
    for (int i = 0; i < lp->n; i++) {
        buf_reset(&b);
        item_line(&b, sc, i, &lp->items[i]);
        lp->w[i] = ussdi_width(b.data);
    }
    buf_free(&b);
    int fixed = 4 + 1 + ussdi_width(tr(x, ussdi_msg(x->m, "invalid_choice"))) + ussdi_xwidth(tr(x, &sc->text), x->s);
    int more = 1 + 3 + ussdi_width(tr(x, &x->m->nav[NAV_MORE]));
    int bad;
    lp->npages = ussdi_paginate(lp->w, lp->n, fixed + hint_width(x, idx, 0), fixed + hint_width(x, idx, 1), more,
                                lp->starts, &bad);
    if (lp->npages < 0) { /* cannot happen for a checked set; one item a page */
        lp->npages = lp->n;
        for (int i = 0; i <= lp->n; i++)
            lp->starts[i] = i;
    }
}

/* Fetches a list's items and lays out its pages; -1 when the host failed. */
static int list_fetch(struct hop *x, int idx, struct list_page *lp)
{
    int n = list_items(x, idx, lp);
    if (n > 0)
        list_layout(x, idx, lp);
    return n;
}

static bool show_list(struct hop *x, int idx, struct list_page *lp, const char *note)
{
    const struct uscreen *sc = &x->m->screens[idx];
    struct ussd_session *s = x->s;
    if (s->page >= lp->npages)
        s->page = lp->npages - 1;
    if (s->page < 0)
        s->page = 0;
    if (x->quiet) {
        buf_reset(x->reply);
        return false;
    }
    head(x, sc, note);
    for (int i = lp->starts[s->page]; i < lp->starts[s->page + 1]; i++) {
        buf_puts(x->reply, "\n");
        item_line(x->reply, sc, i, &lp->items[i]);
    }
    return tail(x, idx, s->page, s->page + 1 < lp->npages);
}

/* Shows the current screen (not list) at its current page, with an optional
 * note line (a text with placeholders) above it. */
static bool show(struct hop *x, int idx, const char *note)
{
    const struct uscreen *sc = &x->m->screens[idx];
    struct ussd_session *s = x->s;
    switch (sc->kind) {
    case KIND_MENU: {
        int np = sc->npages[x->lang];
        const int *st = sc->page_start[x->lang];
        if (s->page >= np)
            s->page = np - 1;
        if (s->page < 0)
            s->page = 0;
        if (x->quiet)
            break;
        head(x, sc, note);
        for (int i = st[s->page]; i < st[s->page + 1]; i++) {
            buf_printf(x->reply, "\n%s. ", sc->opts[i].key);
            ussdi_expand(x->reply, tr(x, &sc->opts[i].label), s);
        }
        return tail(x, idx, s->page, s->page + 1 < np);
    }
    case KIND_INPUT:
        if (x->quiet)
            break;
        head(x, sc, note);
        return tail(x, idx, 0, false);
    case KIND_CONFIRM:
        if (x->quiet)
            break;
        head(x, sc, note);
        buf_printf(x->reply, "\n1. %s\n2. %s", tr(x, &x->m->nav[NAV_YES]), tr(x, &x->m->nav[NAV_NO]));
        return tail(x, idx, 0, false);
    case KIND_LIST: {
        struct list_page page, *lp = &page; /* on the stack: 12 KiB a hop from malloc cost more */
        bool end;
        /* unseen and on its first page (as when entered): only whether it
         * has items matters */
        bool count_only = x->quiet && s->page == 0;
        int n = count_only ? list_items(x, idx, lp) : list_fetch(x, idx, lp);
        if (n < 0)
            end = show_msg_end(x, "system_error");
        else if (n == 0)
            end = show_end(x, tr(x, &sc->empty));
        else if (count_only) {
            buf_reset(x->reply);
            end = false;
        } else
            end = show_list(x, idx, lp, note);
        return end;
    }
    case KIND_ACTION:
    case KIND_END:
        break;
    }
    if (x->quiet && sc->kind != KIND_ACTION && sc->kind != KIND_END) {
        buf_reset(x->reply); /* a waiting screen nobody sees */
        return false;
    }
    return show_msg_end(x, "system_error");
}

static bool invalid(struct hop *x, int idx) { return show(x, idx, tr(x, ussdi_msg(x->m, "invalid_choice"))); }

static bool run_action(struct hop *x, const struct uscreen *sc)
{
    if (!x->h || !x->h->action)
        return show_msg_end(x, "system_error");
    const char *key = x->h->action(x->h->ctx, sc->builtin->name, x->phone, x->sid, x->s);
    if (key)
        return show_msg_end(x, key);
    if (!strcmp(sc->builtin->name, "set_language")) {
        const char *lang = ussd_var(x->s, "lang");
        if (lang && (!strcmp(lang, "en") || !strcmp(lang, "sw"))) {
            str_copy(x->s->lang, sizeof x->s->lang, lang);
            x->lang = lang_index(lang);
        }
    }
    return show_end(x, tr(x, &sc->text));
}

/* Moves to screen idx (remembering the current one for "0" when push) and
 * shows it fresh. */
static bool enter(struct hop *x, int idx, bool push)
{
    struct ussd_session *s = x->s;
    const struct uscreen *sc = &x->m->screens[idx];
    if (push && s->screen[0] && strcmp(s->screen, sc->id)) {
        if (s->ntrail == USSD_MAX_TRAIL) {
            memmove(s->trail[0], s->trail[1], sizeof s->trail[0] * (USSD_MAX_TRAIL - 1));
            s->ntrail--;
        }
        str_copy(s->trail[s->ntrail++], sizeof s->trail[0], s->screen);
    }
    str_copy(s->screen, sizeof s->screen, sc->id);
    s->page = 0;
    switch (sc->kind) {
    case KIND_ACTION:
        return run_action(x, sc);
    case KIND_END:
        return show_end(x, tr(x, &sc->text));
    default:
        return show(x, idx, NULL);
    }
}

/* Back to the start screen with no trail. Vars stay: the host may have set
 * some before the first hop (limits a prompt shows), and flows overwrite
 * what they use. */
static bool restart(struct hop *x)
{
    x->s->screen[0] = 0;
    x->s->page = 0;
    x->s->ntrail = 0;
    return enter(x, x->m->start, false);
}

static bool back(struct hop *x, int idx)
{
    struct ussd_session *s = x->s;
    if (!s->ntrail) {
        s->page = 0;
        return show(x, idx, NULL);
    }
    int to = ussdi_screen(x->m, s->trail[s->ntrail - 1]);
    s->ntrail--;
    if (to < 0)
        return restart(x);
    str_copy(s->screen, sizeof s->screen, x->m->screens[to].id);
    return enter(x, to, false);
}

static bool menu_input(struct hop *x, int idx, const char *in)
{
    const struct uscreen *sc = &x->m->screens[idx];
    struct ussd_session *s = x->s;
    if (!strcmp(in, "98")) {
        if (s->page + 1 >= sc->npages[x->lang])
            return invalid(x, idx);
        s->page++;
        return show(x, idx, NULL);
    }
    if (!strcmp(in, "0")) {
        s->page--;
        return show(x, idx, NULL);
    }
    for (int i = 0; i < sc->nopts; i++) {
        const struct uoption *o = &sc->opts[i];
        if (strcmp(o->key, in))
            continue;
        for (int k = 0; k < o->nset; k++)
            if (!ussd_var_set(s, o->set_key[k], o->set_val[k]))
                return show_msg_end(x, "system_error");
        return enter(x, o->go, true);
    }
    return invalid(x, idx);
}

static bool input_input(struct hop *x, int idx, const char *in)
{
    const struct uscreen *sc = &x->m->screens[idx];
    if (ussdi_width(in) > ussd_var_width(sc->var) || !regex_match(sc->re, in))
        return show(x, idx, tr(x, &sc->error));
    if (!ussd_var_set(x->s, sc->var, in))
        return show_msg_end(x, "system_error");
    if (sc->builtin) {
        if (!x->h || !x->h->action)
            return show_msg_end(x, "system_error");
        const char *key = x->h->action(x->h->ctx, sc->builtin->name, x->phone, x->sid, x->s);
        if (key) {
            const struct utext *t = ussdi_msg(x->m, key);
            /* only keys the registry names were proven to fit above the prompt */
            bool known = false;
            for (int k = 0; k < USSD_BUILTIN_MAX_VARS && sc->builtin->returns[k]; k++)
                known |= !strcmp(sc->builtin->returns[k], key);
            if (!t || !known)
                return show_msg_end(x, "system_error");
            return show(x, idx, tr(x, t));
        }
    }
    return enter(x, sc->next, true);
}

static bool list_input(struct hop *x, int idx, const char *in)
{
    const struct uscreen *sc = &x->m->screens[idx];
    struct ussd_session *s = x->s;
    bool end;
    struct list_page page, *lp = &page;
    int n = list_items(x, idx, lp);
    int64_t pick;
    if (n < 0) {
        end = show_msg_end(x, "system_error");
        goto out;
    }
    if (n == 0) {
        end = show_end(x, tr(x, &sc->empty));
        goto out;
    }
    /* a pick (never "0" or "98": at most USSD_LIST_MAX items) needs no pages */
    _Static_assert(USSD_LIST_MAX < 98, "a pick is never 98, More");
    if (sc->var && in[0] != '0' && str_to_i64(in, 1, n, &pick)) {
        const struct ussd_item *it = &lp->items[pick - 1];
        if (!ussd_var_set(s, sc->var, it->id) || !ussd_var_set(s, sc->var_name, it->label[0] ? it->label : it->id))
            end = show_msg_end(x, "system_error");
        else
            end = enter(x, sc->next, true);
        goto out;
    }
    list_layout(x, idx, lp);
    if (s->page >= lp->npages)
        s->page = lp->npages - 1;
    if (!strcmp(in, "98")) {
        if (s->page + 1 < lp->npages) {
            s->page++;
            end = show_list(x, idx, lp, NULL);
        } else
            end = show_list(x, idx, lp, tr(x, ussdi_msg(x->m, "invalid_choice")));
        goto out;
    }
    if (!strcmp(in, "0")) {
        s->page--;
        end = show_list(x, idx, lp, NULL);
        goto out;
    }
    end = show_list(x, idx, lp, tr(x, ussdi_msg(x->m, "invalid_choice")));
out:
    return end;
}

/* ---- the resume offer (ussd.h, Resume after a drop) ---- */

/* Composes the offer for screen idx, with a note line above it. */
static bool show_offer(struct hop *x, int idx, const char *note)
{
    const struct uscreen *sc = &x->m->screens[idx];
    buf_reset(x->reply);
    if (x->quiet)
        return false;
    buf_puts(x->reply, "CON ");
    if (note) {
        ussdi_expand(x->reply, note, x->s);
        buf_puts(x->reply, "\n");
    }
    ussdi_expand(x->reply, tr(x, ussdi_msg(x->m, "resume_offer")), x->s);
    buf_puts(x->reply, "\n");
    ussdi_expand(x->reply, tr(x, &sc->resume), x->s);
    buf_printf(x->reply, "\n1. %s\n2. %s", tr(x, &x->m->nav[NAV_YES]), tr(x, &x->m->nav[NAV_NO]));
    clamp_reply(x);
    return false;
}

int ussdi_offer_width(const struct ussd_menus *m, const struct uscreen *sc, int lang)
{
    const struct utext *q = ussdi_msg(m, "resume_offer"), *inv = ussdi_msg(m, "invalid_choice");
    struct buf b;
    buf_init(&b, 1024);
    buf_printf(&b, "\n1. %s\n2. %s", m->nav[NAV_YES].t[lang], m->nav[NAV_NO].t[lang]);
    int w = 4 + 1 + ussdi_xwidth(inv->t[lang], NULL) + ussdi_xwidth(q->t[lang], NULL) + 1 +
            ussdi_xwidth(sc->resume.t[lang], NULL) + ussdi_width(b.data);
    buf_free(&b);
    return w;
}

static int resumable_screen(const struct ussd_menus *m, const struct ussd_session *s)
{
    int idx = m ? ussdi_screen(m, s->screen) : -1;
    return idx >= 0 && m->screens[idx].resume.t[USSD_EN] && ussdi_msg(m, "resume_offer") ? idx : -1;
}

bool ussd_resumable(const struct ussd_menus *m, const struct ussd_session *s)
{
    return resumable_screen(m, s) >= 0;
}

bool ussd_offer(const struct ussd_menus *m, struct ussd_session *s, struct buf *reply, bool quiet)
{
    int idx = resumable_screen(m, s);
    if (idx < 0)
        return false;
    struct hop x = {m, NULL, "", "", s, reply, lang_index(s->lang), quiet, USSD_CON};
    s->offer = true;
    show_offer(&x, idx, NULL);
    return true;
}

/* An answer to the offer: "1" the saved screen as it was, "2" or "00" the
 * start; anything else asks again. */
static bool offer_input(struct hop *x, const char *in)
{
    struct ussd_session *s = x->s;
    int idx = resumable_screen(x->m, s);
    s->offer = false;
    if (idx < 0 || !strcmp(in, "2") || !strcmp(in, "00"))
        return restart(x);
    if (strcmp(in, "1")) {
        s->offer = true;
        return show_offer(x, idx, tr(x, ussdi_msg(x->m, "invalid_choice")));
    }
    /* as it was left, on its page, composed again (list items,
     * placeholders) from the saved vars */
    return show(x, idx, NULL);
}

void ussd_error_end(const struct ussd_menus *m, const char *lang, struct buf *reply)
{
    const struct utext *t = m ? ussdi_msg(m, "system_error") : NULL; /* the checker requires it */
    struct ussd_session none; /* no vars: a {name} in the text expands to nothing */
    ussd_session_init(&none, lang);
    buf_reset(reply);
    buf_puts(reply, "END ");
    if (t)
        ussdi_expand(reply, t->t[lang_index(none.lang)], &none);
    else
        buf_puts(reply, "Sorry, something went wrong. Please try again.");
}

static bool step_in(struct hop *x, const char *input)
{
    const struct ussd_menus *m = x->m;
    struct ussd_session *s = x->s;
    if (!m) { /* no set to speak from: close politely rather than crash */
        buf_reset(x->reply);
        buf_puts(x->reply, "END Service unavailable. Please try again later.");
        x->how = USSD_END_ERROR;
        return true;
    }
    s->lang[sizeof s->lang - 1] = 0;
    if (strcmp(s->lang, "en") && strcmp(s->lang, "sw"))
        str_copy(s->lang, sizeof s->lang, "en");
    x->lang = lang_index(s->lang);
    if (s->nvars < 0 || s->nvars > USSD_MAX_VARS)
        s->nvars = 0;
    if (s->ntrail < 0 || s->ntrail > USSD_MAX_TRAIL)
        s->ntrail = 0;
    s->screen[sizeof s->screen - 1] = 0;
    if (!input)
        s->offer = false;
    char in[INPUT_MAX + 1];
    if (input && s->offer) {
        if (!str_copy(in, sizeof in, input))
            in[0] = 0;
        str_trim(in);
        return offer_input(x, in);
    }
    int idx = input ? ussdi_screen(m, s->screen) : -1;
    if (idx < 0 || m->screens[idx].kind == KIND_ACTION || m->screens[idx].kind == KIND_END)
        return restart(x);

    if (!str_copy(in, sizeof in, input))
        in[0] = 0; /* overlong: matches nothing */
    str_trim(in);
    if (!strcmp(in, "00"))
        return restart(x);
    const struct uscreen *sc = &m->screens[idx];
    bool paged = sc->kind == KIND_MENU || sc->kind == KIND_LIST;
    if (!strcmp(in, "0") && (!paged || s->page <= 0))
        return back(x, idx);
    switch (sc->kind) {
    case KIND_MENU: return menu_input(x, idx, in);
    case KIND_INPUT: return input_input(x, idx, in);
    case KIND_LIST: return list_input(x, idx, in);
    case KIND_CONFIRM:
        if (!strcmp(in, "1"))
            return enter(x, sc->yes, true);
        if (!strcmp(in, "2")) {
            x->how = USSD_END_EXIT; /* should "No" lead to an END: the caller left */
            return enter(x, sc->no, true);
        }
        return invalid(x, idx);
    case KIND_ACTION:
    case KIND_END: break;
    }
    return restart(x);
}

static enum ussd_end step(const struct ussd_menus *m, const struct ussd_host *h, const char *phone,
                          const char *session_id, struct ussd_session *s, const char *input, struct buf *reply,
                          bool quiet)
{
    struct hop x = {m, h, phone ? phone : "", session_id ? session_id : "", s, reply, USSD_EN, quiet, USSD_CON};
    if (!step_in(&x, input))
        return USSD_CON;
    return x.how != USSD_CON ? x.how : USSD_END_DONE;
}

enum ussd_end ussd_step(const struct ussd_menus *m, const struct ussd_host *h, const char *phone,
                        const char *session_id, struct ussd_session *s, const char *input, struct buf *reply)
{
    return step(m, h, phone, session_id, s, input, reply, false);
}

enum ussd_end ussd_walk(const struct ussd_menus *m, const struct ussd_host *h, const char *phone,
                        const char *session_id, struct ussd_session *s, const char *input, struct buf *reply)
{
    return step(m, h, phone, session_id, s, input, reply, true);
}

bool ussd_show(const struct ussd_menus *m, const struct ussd_host *h, const char *phone,
               const char *session_id, struct ussd_session *s, const char *screen, struct buf *reply,
               bool quiet, bool *end)
{
    int idx = ussdi_screen(m, screen);
    if (idx < 0)
        return false;
    struct hop x = {m, h, phone ? phone : "", session_id ? session_id : "", s, reply, USSD_EN, quiet, USSD_CON};
    if (strcmp(s->lang, "en") && strcmp(s->lang, "sw"))
        str_copy(s->lang, sizeof s->lang, "en");
    x.lang = lang_index(s->lang);
    *end = enter(&x, idx, false);
    return true;
}
