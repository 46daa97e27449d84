/* ussd_int: the loaded menu set as the loader (menu.c), the screen composer
 * (render.c), the registries (builtin.c) and the engine (engine.c) share it.
 * Not for use outside src/ussd. A set is immutable after ussd_menus_load;
 * everything here that takes a const set is thread-safe. */
#ifndef LIPA_USSD_INT_H
#define LIPA_USSD_INT_H

#include "ussd/ussd.h"

#include <stdatomic.h>

enum { USSD_EN, USSD_SW, USSD_NLANG };
enum ussd_kind { KIND_MENU, KIND_INPUT, KIND_LIST, KIND_CONFIRM, KIND_ACTION, KIND_END };
enum ussd_nav { NAV_BACK, NAV_HOME, NAV_MORE, NAV_YES, NAV_NO, NAV_COUNT };

#define USSD_MAX_SET 4         /* set: pairs on one menu option */

struct utext {
    const char *t[USSD_NLANG];   /* both non-NULL once loaded */
};

struct uoption {
    char key[4];
    struct utext label;
    int go;                      /* screen index */
    int nset;
    const char *set_key[USSD_MAX_SET];
    const char *set_val[USSD_MAX_SET];
};

struct uscreen {
    const char *id, *file;
    int line;                    /* of the id, for the checker's messages */
    int bline;                   /* of the validate:/run: value */
    bool bad;                    /* loader: unusable, checks skip it */
    enum ussd_kind kind;
    struct utext text;
    /* menu: options and, per language, the first option of each page
     * (page_start[l][npages[l]] == nopts) */
    struct uoption *opts;
    int nopts;
    int npages[USSD_NLANG];
    int *page_start[USSD_NLANG];
    /* input and list */
    const char *var, *var_name;  /* var_name: "<var>_name" for lists */
    struct regex *re;
    struct utext error;
    const struct ussd_builtin *builtin; /* input: validate; action: run */
    const char *source;
    struct utext empty;
    int next, yes, no;           /* screen indices, -1 when none */
    int slot;                    /* its funnel counters (util/metrics), -1 when none */
    struct utext resume;         /* summary on the resume offer; NULLs: not resumable */
};

struct umsg {
    const char *key, *file;
    int line;
    struct utext text;
};

struct ussd_chunk;

struct ussd_menus {
    atomic_int refs;
    struct ussd_chunk *arena;
    struct uscreen *screens;
    int nscreens;
    struct umsg *msgs;
    int nmsgs;
    struct utext nav[NAV_COUNT];
    int start;
};

/* ---- registries (builtin.c) ---- */
bool ussdi_source_known(const char *source);
/* Values a var may take (NULL-terminated), or NULL when any value goes. */
const char *const *ussdi_var_values(const char *key);

/* ---- composition (render.c) ----
 * Width is what a screen costs: max(characters, GSM-7 septets);
 * USSD_WIDTH_BAD (far over any budget, yet safe to add up) for text that is
 * not GSM-7. */
#define USSD_WIDTH_BAD 100000
int ussdi_width(const char *utf8);
/* Appends text with each {var} replaced: with s, by the var's value sanitized
 * to GSM-7 on one line and cut to the var's width (empty when unset); with s
 * NULL, by width 'X's, the worst case the checker proves. */
void ussdi_expand(struct buf *b, const char *text, const struct ussd_session *s);
/* Width of the expansion above. */
int ussdi_xwidth(const char *text, const struct ussd_session *s);
/* Copies utf8 into out sanitized to GSM-7 on one line and cut to width. */
void ussdi_cut(const char *utf8, int width, char *out, size_t outsz);
/* The "0 Back, 00 Home" line for the given flags into b. */
void ussdi_hint(struct buf *b, const struct ussd_menus *m, int lang, bool back, bool home);
/* Splits n lines of widths w[] into pages. fixed0/fixedn: the width of all
 * else on page 0 / on later pages (prefix, note, text, hints), more: the
 * width the "98 More" line adds. Writes the first line of each page into
 * starts (room for n + 1) and starts[npages] = n; returns npages, or -1 when
 * line *bad cannot fit on a page even alone. */
int ussdi_paginate(const int *w, int n, int fixed0, int fixedn, int more, int *starts, int *bad);
/* Message text by key, NULL when the set has none. */
const struct utext *ussdi_msg(const struct ussd_menus *m, const char *key);
int ussdi_screen(const struct ussd_menus *m, const char *id);
/* Widest the resume offer of screen sc can be in lang, every placeholder
 * at full width and the invalid_choice line above it (engine.c; the
 * loader proves it within the budget). */
int ussdi_offer_width(const struct ussd_menus *m, const struct uscreen *sc, int lang);

#endif
