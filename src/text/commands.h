/* text/commands: the texting commands file (menus/sms.yaml), loaded with
 * libyaml and checked whole before use, and the pure matcher that turns an
 * inbound text into a command, its language and its named groups.
 *
 * The file, edited by an admin without rebuilding (SIGHUP reloads it with
 * the menus; `bin/lipa-menu check menus` shows the same problems first):
 *
 *   messages:                 # shared replies, each {en: ..., sw: ...}
 *     help: ...               # unknown text and HELP
 *     unregistered: ...       # a number with no account
 *     not_yours: ...          # {meter}: a meter named that is not theirs
 *     which_meter: ...        # {list}: more than one meter and none named
 *     no_meters: ...          # no meter assigned
 *     error: ...              # something went wrong on our side
 *   commands:                 # name -> command, tried in file order
 *     balance:
 *       action: balance       # what it runs (registry in commands.c)
 *       pattern: {en: 'BAL(?: (?<meter>.+))?', sw: 'SALIO(?: (?<meter>.+))?'}
 *       examples: {en: [BAL, bal 2], sw: [SALIO]}
 *       replies: {ok: {en: ..., sw: ...}, unavailable: {...}}
 *
 * Patterns are PCRE2, matched against the whole normalized text (see
 * text_normalize: upper case, single spaces, stray punctuation gone),
 * caselessly. Named groups: meter, amount, liters, as the action uses them.
 * Every reply text is GSM-7 only and uses only the placeholders its action
 * fills; {token} only in token's `ok` (rendered by the outbox at send time).
 *
 * "Two commands that can match the same text" is not decidable for PCRE2
 * patterns in general, so the check is done with the examples each command
 * declares (at least one per language): every example must match its own
 * pattern (and give the groups its action needs), and no example may match
 * another command's pattern in either language.
 *
 * Ownership and threads: a loaded set is immutable and reference counted
 * (ref/unref atomic); any number of threads may match against it. */
#ifndef LIPA_TEXT_COMMANDS_H
#define LIPA_TEXT_COMMANDS_H

#include "util/buf.h"

#include <stdbool.h>
#include <stddef.h>

#define TEXT_COMMANDS_FILE "sms.yaml"
#define TEXT_NORM_MAX 256       /* bytes of normalized text; longer text is no command */
#define TEXT_GROUP_MAX 96       /* bytes of a named group's value */

enum text_lang { TEXT_EN = 0, TEXT_SW, TEXT_NLANG };

enum text_action {
    TEXT_BALANCE = 0, /* meter?            balance from the meter cloud */
    TEXT_BUY,         /* meter? amount     STK push, then the token SMS */
    TEXT_METERS,      /*                   the sender's meters */
    TEXT_TOKEN,       /* meter?            the last token again */
    TEXT_WATER,       /* liters | amount   STK push, then a water code */
    TEXT_HELP,
    TEXT_STOP,        /* opt out of notices */
    TEXT_START,       /* back in */
    TEXT_NACTIONS,
};

struct text_commands;
struct text_command;

/* Loads and checks one commands file. On any problem returns NULL and
 * appends "path:LINE: message\n" lines (all problems) to errors. */
struct text_commands *text_commands_load(const char *path, struct buf *errors);
/* Loads dir/sms.yaml. true with *out NULL when there is no such file
 * (texting commands are off); false when the file has problems. */
bool text_commands_load_dir(const char *dir, struct text_commands **out, struct buf *errors);
void text_commands_ref(struct text_commands *c);
void text_commands_unref(struct text_commands *c); /* frees at zero; takes NULL */
int text_commands_count(const struct text_commands *c);
/* The name of the i-th command in file order, NULL past the end. */
const char *text_commands_name_at(const struct text_commands *c, int i);
/* Appends "path:LINE: warning: ..." for each reply or message that can
 * take more than one SMS part (160 GSM-7 characters) with its
 * placeholders at the width they usually take (a meter number 12, a name
 * 20, a token 24, a list two meters); returns how many. path: the file's
 * name as the lines should show it. */
int text_commands_warnings(const struct text_commands *c, const char *path, struct buf *out);

/* Normalizes an inbound text for matching: ASCII letters upper-cased;
 * blanks, control characters, invalid UTF-8 and punctuation become spaces,
 * except - _ . / # between two letters or digits (meter names keep them)
 * and a comma between digits (1,000 -> 1000), which is dropped; runs of
 * spaces become one; no space at either end. Other non-ASCII characters
 * stay as they are. false when the result did not fit outsz (out then
 * holds a prefix). Pure. */
bool text_normalize(const char *in, char *out, size_t outsz);

struct text_match {
    const struct text_command *cmd;   /* NULL: nothing matched */
    enum text_lang lang;              /* language of the pattern that matched */
    char meter[TEXT_GROUP_MAX], amount[TEXT_GROUP_MAX], liters[TEXT_GROUP_MAX]; /* "" if absent */
};
/* Matches normalized text (see text_normalize) against the commands in file
 * order, English pattern then Swahili; false when none matches. */
bool text_commands_match(const struct text_commands *c, const char *normalized, struct text_match *m);

const char *text_command_name(const struct text_command *cmd);
enum text_action text_command_action(const struct text_command *cmd);
const char *text_action_name(enum text_action a);
/* Whether the action needs a registered sender (help, stop, start, water
 * do not). */
bool text_action_needs_user(enum text_action a);
/* A command's reply text for key in l, or NULL when it has none. */
const char *text_reply(const struct text_command *cmd, const char *key, enum text_lang l);
/* A shared message (messages:) in l; never NULL for the required keys. */
const char *text_message(const struct text_commands *c, const char *key, enum text_lang l);

/* Renders tmpl into out, replacing {name} by the value of the var with
 * that name. Values are made safe first: GSM-7 only (others become '?'),
 * control characters other than newlines become spaces, braces are dropped, so nothing a
 * sender typed can become a placeholder. Unknown placeholders stay as
 * they are (the outbox renders {token}). Pure. */
struct text_var {
    const char *name, *value;
};
void text_render(const char *tmpl, const struct text_var *vars, size_t nvars, char *out, size_t outsz);

#endif
