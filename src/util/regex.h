/* regex: the one module that touches PCRE2. A compiled pattern is immutable
 * and may be shared by threads; each thread matches with match data of its
 * own, kept for the thread's next match. */
#ifndef LIPA_REGEX_H
#define LIPA_REGEX_H

#include <stdbool.h>
#include <stddef.h>

struct regex;

/* Compiles pattern (UTF-8). Anchored: the whole subject must match. On error
 * returns NULL and writes PCRE2's message and offset into err. */
struct regex *regex_new(const char *pattern, bool caseless, char *err, size_t errsz);
void regex_free(struct regex *re);
bool regex_match(const struct regex *re, const char *subject);
/* Copies named group `name` of a match of subject into out; false when no
 * match or the group did not take part. */
bool regex_group(const struct regex *re, const char *subject, const char *name, char *out, size_t outsz);

#endif
