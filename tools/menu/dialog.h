/* lipa-menu's dialogues: conversations kept as test files next to the menus
 * (the .dialog files in menus/tests), run against the real engine and SMS answers over
 * a scripted world (world.h). The format is described in docs/menus.md. */
#ifndef LIPA_MENU_DIALOG_H
#define LIPA_MENU_DIALOG_H

#include "text/commands.h"
#include "ussd/ussd.h"

#include <stdio.h>

/* What the dialogues run so far went through, per language (0 en, 1 sw). */
struct coverage {
    int nscreens, ncommands;
    bool *screen[2];
    bool *command[2];
};
bool coverage_init(struct coverage *cv, const struct ussd_menus *m, const struct text_commands *c);
void coverage_free(struct coverage *cv);
/* One line per language naming what no dialogue visited, or one line
 * saying everything was. */
void coverage_print(const struct coverage *cv, const struct ussd_menus *m, const struct text_commands *c, FILE *out);

/* Runs the dialogue in path against m and c (NULL: no texting commands).
 * Prints "ok path (N steps)" or the first difference as "path:LINE: ..."
 * with what was expected and what came, to out. Returns true when it
 * passed. */
bool dialog_run(const struct ussd_menus *m, const struct text_commands *c, const char *path, struct coverage *cv,
                FILE *out);

#endif
