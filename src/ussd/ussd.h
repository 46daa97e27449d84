/* ussd: the USSD menu system. Menus are YAML files (menus/NAME.yaml) loaded and
 * checked once into an immutable set; a pure session engine walks a caller
 * through the set one hop at a time. The engine touches no database, no
 * network and no globals: it reads the set, updates a plain session struct
 * the caller stores, and reaches the data side only through struct ussd_host.
 *
 * The loader also takes each screen's funnel counters (util/metrics:
 * ussd_screen_slot), which the hop counts on; the engine counts nothing.
 *
 * Ownership and threads: ussd_menus_load returns a set with one reference;
 * ussd_menus_ref/unref are atomic and the set is never changed after load,
 * so any number of threads may run ussd_step on it at once (each with its
 * own session and reply buffer). Sessions are plain data owned by the caller.
 *
 * ---- The menu language ------------------------------------------------------
 * Every .yaml file in the directory whose top-level mapping has `screens:` is a
 * menu file (a file with `commands:` instead belongs to the SMS module and is
 * skipped; any other .yaml file is an error). Top-level keys of a menu file:
 *
 *   start: main              # the first screen; exactly once in the set
 *   nav:                     # labels of the built-in navigation, all five
 *     back: {en: Back, sw: Rudi}        # shown as "0 Back"
 *     home: {en: Home, sw: Mwanzo}      # shown as "00 Home"
 *     more: {en: More, sw: Zaidi}       # shown as "98 More"
 *     yes:  {en: Yes, sw: Ndiyo}        # confirm screens: "1. Yes"
 *     no:   {en: No, sw: Hapana}        # confirm screens: "2. No"
 *   messages:                # message keys -> text; the engine needs
 *     invalid_choice: {en: ..., sw: ...}  # invalid_choice and system_error,
 *     system_error: {en: ..., sw: ...}    # built-ins need the keys they return
 *   screens:                 # screen id -> screen; ids unique in the set
 *     main:
 *       kind: menu
 *       text: {en: "Welcome", sw: "Karibu"}
 *       options:
 *         - {key: 1, label: {en: Buy, sw: Nunua}, goto: buy}
 *         - {key: 2, label: {en: Swahili, sw: Kiswahili}, goto: lang_set, set: {lang: sw}}
 *
 * Every text is a mapping {en: ..., sw: ...}, both present and non-empty,
 * GSM-7 only, with `{var}` placeholders for known session vars (see the var
 * table in builtin.c: each has a width; a value is sanitized to GSM-7 and cut
 * to that width when shown). Screen kinds and their keys:
 *
 *   menu     text, options (key: 1-3 digits, not 0/00/98; label; goto; set)
 *   input    text, var, pattern (PCRE2, whole input), error (shown above the
 *            prompt when the pattern fails), next, validate (optional built-in
 *            run through host->action; a returned message key is shown above
 *            the re-asked prompt)
 *   list     text, source (today: meters), empty (END text when no items),
 *            var + next (the chosen item id goes to var, its label to
 *            <var>_name); without var/next the list is display-only
 *   confirm  text, yes, no ("1" yes, "2" no, labels from nav)
 *   action   run (a built-in action), text (END text on success; on failure
 *            the END text is the message for the returned key)
 *   end      text (END)
 *
 * menu, input, list and confirm screens may add resume: {en, sw}, one line
 * of what the caller chose by then: a caller who drops there is offered
 * to come back (Resume after a drop, below).
 *
 * Navigation on every waiting screen: "0" back (previous page, else previous
 * screen), "00" home (the start screen), "98" more (next page of a menu or
 * list; on input screens 98 is ordinary input, while 0 and 00 stay
 * navigation, so input patterns should not need them). Menus and lists
 * paginate themselves so that no screen, with a reserved "invalid choice"
 * line and the nav hints, is over 160 characters (incl. "CON "/"END ") in
 * either language; ussd_menus_load proves this with every placeholder at its
 * full width, and refuses a set where it cannot hold. Items of a picking
 * list are numbered 1..n across pages (at most USSD_LIST_MAX), those of a
 * display-only list shown as "- label id" ("- label" when the label is the
 * id: a meter's name and number); labels and ids are cut to USSD_ITEM_WIDTH.
 * ------------------------------------------------------------------------- */
#ifndef LIPA_USSD_H
#define LIPA_USSD_H

#include "util/buf.h"

#include <stdbool.h>
#include <stddef.h>

#define USSD_BUDGET 160        /* characters per screen, "CON "/"END " included */
#define USSD_REPLY_MAX 512     /* bytes a reply buffer must allow (160 chars of UTF-8) */
#define USSD_LIST_MAX 90       /* items a list shows; numbers stay below 98 */
#define USSD_ITEM_WIDTH 20     /* characters of an item label on a list screen */

struct ussd_menus;

/* Loads every menu file in dir (see above). On any problem returns NULL and
 * appends one line per problem to errors: "dir/file.yaml:LINE: message\n"
 * (problems of the whole set with no place of their own: "dir: message\n").
 * All problems are listed, not just the first. */
struct ussd_menus *ussd_menus_load(const char *dir, struct buf *errors);
void ussd_menus_ref(struct ussd_menus *m);
void ussd_menus_unref(struct ussd_menus *m);   /* frees at zero; takes NULL */
/* The funnel slot (util/metrics) of screen id: its counters, named after
 * its menu file and id, taken when the set loaded. -1 when the set has no
 * such screen. */
int ussd_screen_slot(const struct ussd_menus *m, const char *id);
/* Number of screens in the set. */
int ussd_menus_count(const struct ussd_menus *m);
/* The start screen id. */
const char *ussd_start(const struct ussd_menus *m);
/* True when the set has a screen with this id. */
bool ussd_has_screen(const struct ussd_menus *m, const char *id);
/* Screen i's id in set order (files by name, screens in file order), NULL
 * past the end; with ussd_menus_count, for tools that go through them. */
const char *ussd_screen_id(const struct ussd_menus *m, int i);
/* The set as a Graphviz digraph (dot): one node per screen, boxed by file,
 * its kind and English text; an edge per option, next, yes and no; END
 * screens with a double border, the start screen bold. */
void ussd_menus_dot(const struct ussd_menus *m, struct buf *out);

#define USSD_MAX_VARS 16
#define USSD_MAX_TRAIL 8
struct ussd_session {          /* plain data; the caller stores it */
    char screen[48];           /* current screen id; "" = not started */
    char lang[3];              /* "en" | "sw" */
    int page;                  /* menu/list page */
    int nvars;
    char key[USSD_MAX_VARS][24];
    char val[USSD_MAX_VARS][128];
    int ntrail;                /* screens behind this one, newest last, for "0" */
    char trail[USSD_MAX_TRAIL][48];
    /* the resume offer is showing (ussd_offer): screen, page, trail and
     * vars are those of the dropped session, where "1" leads */
    bool offer;
};
/* Empty session in lang ("en" when lang is not "en" or "sw"). */
void ussd_session_init(struct ussd_session *s, const char *lang);
const char *ussd_var(const struct ussd_session *s, const char *key);          /* NULL if unset */
bool ussd_var_set(struct ussd_session *s, const char *key, const char *val);  /* false if full/too long */

/* Compact JSON text of a session for the store. false when it does not fit
 * outsz (USSD_SESSION_TEXT_MAX always suffices; the journeys shipped today
 * take a few hundred bytes). Decode accepts only what encode writes and
 * returns false, leaving s initialised, on anything else. */
#define USSD_SESSION_TEXT_MAX 16384
bool ussd_session_encode(const struct ussd_session *s, char *out, size_t outsz);
bool ussd_session_decode(struct ussd_session *s, const char *in);

/* A list item. id and label come back whole up to these sizes (a meter's
 * id and name: POST /devices takes 64 bytes of each), since the id picked
 * is what the caller's next step acts on; a host must not hand longer. */
#define USSD_ITEM_ID_MAX 64
#define USSD_ITEM_LABEL_MAX 64
struct ussd_item { char id[USSD_ITEM_ID_MAX + 1]; char label[USSD_ITEM_LABEL_MAX + 1]; };
struct ussd_host {
    void *ctx;
    /* Items of a list screen from a named source (today "meters": the
     * caller's assigned meters, id = meter id, label = meter name). Returns
     * the count (<= max), or -1 on failure (the caller sees system_error). */
    int (*list)(void *ctx, const char *source, const char *phone, struct ussd_item *items, int max);
    /* Runs a built-in step (registry below). Returns NULL on success (it may
     * have set vars with ussd_var_set), or a message key the menus translate. */
    const char *(*action)(void *ctx, const char *name, const char *phone,
                          const char *session_id, struct ussd_session *s);
};

/* What a hop's answer does to the session: USSD_CON (0) waits for the
 * caller; the others are an END, by what ended it:
 *   USSD_END_DONE   the text of an end screen, an action's success text,
 *                   or a list's `empty` text
 *   USSD_END_EXIT   an end screen the caller reached by answering "2" (No)
 *                   on a confirm screen: they chose to leave
 *   USSD_END_ERROR  a message instead of a screen: system_error, a
 *                   built-in's refusal (a failed action), no menu set */
enum ussd_end { USSD_CON = 0, USSD_END_DONE, USSD_END_EXIT, USSD_END_ERROR };

/* One hop. input NULL: first hop of a new or restarted session: shows the
 * start screen with the trail cleared (vars the caller set stay, so a host
 * may preset values prompts show, e.g. min and max). Otherwise input is
 * the caller's newest entry (blanks around it ignored). A session whose
 * screen is gone from the set (menus reloaded) or already ended starts over.
 * Vars are never cleared by the engine; flows overwrite what they use.
 * Writes the whole answer ("CON ..." or "END ...", never over USSD_BUDGET
 * characters, GSM-7 only) into reply (reset first; give it a cap of at least
 * USSD_REPLY_MAX) and updates s. Returns USSD_CON, or how the answer
 * ends the session (nonzero: an END). With m NULL it answers a plain
 * English END (USSD_END_ERROR). */
enum ussd_end ussd_step(const struct ussd_menus *m, const struct ussd_host *h, const char *phone,
               const char *session_id, struct ussd_session *s, const char *input, struct buf *reply);
/* ussd_step for an input whose screen nobody sees (the earlier inputs of a
 * session rebuilt from AT's text): the same moves, vars and side effects,
 * but a waiting screen is not composed (reply is left empty); an END is,
 * since it is the answer. */
enum ussd_end ussd_walk(const struct ussd_menus *m, const struct ussd_host *h, const char *phone,
               const char *session_id, struct ussd_session *s, const char *input, struct buf *reply);
/* The set's system_error message as a whole END answer in lang, for a hop
 * that fails outside the engine (its session or purchase could not be
 * stored). With m NULL, a plain English END. */
void ussd_error_end(const struct ussd_menus *m, const char *lang, struct buf *reply);
/* Shows screen `screen` as if the caller had just arrived there (for tools
 * and tests): runs list sources and actions through h like ussd_step, or
 * like ussd_walk when quiet. false when the set has no such screen; *end
 * tells CON from END. */
bool ussd_show(const struct ussd_menus *m, const struct ussd_host *h, const char *phone,
               const char *session_id, struct ussd_session *s, const char *screen,
               struct buf *reply, bool quiet, bool *end);

/* ---- Resume after a drop ---------------------------------------------------
 * A screen with `resume:` (a one-line summary of what the caller chose, a
 * text with placeholders) may be resumed to: a session that stops there
 * without END is offered, at the caller's next dial, as
 *   "CON " + message resume_offer + "\n" + summary + "\n1. Yes\n2. No"
 * (nav yes/no labels; the invalid_choice line above it on a wrong
 * answer), which the loader proves within the budget. "1" shows the screen
 * again with the session's vars, trail and page; "2" or "00" goes to the
 * start screen (vars stay, as with "00" anywhere). The host decides which
 * session is offered and keeps it (ussd/api.c, store/ussd.h). */
/* True when s waits on a screen of m that may be resumed to, or on the
 * offer of one (a caller who drops there is offered it again). */
bool ussd_resumable(const struct ussd_menus *m, const struct ussd_session *s);
/* Puts s, a session saved on a resumable screen, on the resume offer and
 * composes it into reply (left empty when quiet: a screen nobody sees).
 * false, leaving s as it was, when its screen is not resumable in m (the
 * menus changed since). */
bool ussd_offer(const struct ussd_menus *m, struct ussd_session *s, struct buf *reply, bool quiet);

/* ---- AT's text ---------------------------------------------------------------
 * Africa's Talking sends, with every hop, `text`: all of the session's inputs
 * so far joined by '*' ("" on the first hop, "1*1*250" after three inputs;
 * "0" and "00" stay in it like any input, and an empty input leaves an empty
 * field, "1*"). How a hop's text relates to the text of the session's last
 * hop:
 *   SAME   equal: the same request again
 *   NEXT   last plus exactly one input; *input points at it (inside text)
 *   OLDER  a text the session went through before the last one: last is
 *          text plus one or more inputs, or text is "" and last is not
 *   OTHER  more than one input ahead of last, or a different path */
enum ussd_text_rel { USSD_TEXT_SAME, USSD_TEXT_NEXT, USSD_TEXT_OLDER, USSD_TEXT_OTHER };
enum ussd_text_rel ussd_text_relate(const char *last, const char *text, const char **input);
/* Splits text in place into its inputs (in[i] point into text; an empty
 * input is an empty string, "" has none). Returns the count, or -1 when
 * there are more than max. */
int ussd_text_split(char *text, char **in, int max);

/* ---- Built-in steps ---------------------------------------------------------
 * The registry the checker and the engine share; host->action implements them:
 *   electricity_amount (validate) needs amount, meter; sets kwh, min, max;
 *                      may return amount_range, amount_invalid
 *   buy_electricity    (action)   needs meter, amount;
 *                      may return purchase_failed, not_assigned
 *   set_language       (action)   needs lang (from an option's set:); on
 *                      success the engine switches s->lang to it
 *   water_amount       (validate) needs liters; sets amount, wmin, wmax;
 *                      may return water_range, water_invalid
 *   buy_water          (action)   needs liters; sets amount; may return water_failed
 *   resend_code        (action)   needs wref; may return code_gone, code_limit,
 *                      code_failed
 * List sources: meters (the caller's meters), codes (the caller's live
 * water codes, never the digits). builtin.c holds the table. */
enum ussd_builtin_kind { USSD_VALIDATE, USSD_ACTION };
#define USSD_BUILTIN_MAX_VARS 4
struct ussd_builtin {
    const char *name;
    enum ussd_builtin_kind kind;
    const char *needs[USSD_BUILTIN_MAX_VARS];    /* NULL-terminated */
    const char *sets[USSD_BUILTIN_MAX_VARS];
    const char *returns[USSD_BUILTIN_MAX_VARS];  /* message keys */
};
/* NULL when there is no such built-in. */
const struct ussd_builtin *ussd_builtin_find(const char *name);
/* Display width of a known session var, -1 when the var is unknown. */
int ussd_var_width(const char *key);

#endif
