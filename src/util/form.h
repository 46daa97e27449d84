/* form: application/x-www-form-urlencoded and query-string parsing. The
 * parsed form owns copies of every name and value; form_free releases them.
 * Pure and thread-safe. */
#ifndef LIPA_FORM_H
#define LIPA_FORM_H

#include <stdbool.h>
#include <stddef.h>

#define FORM_MAX_FIELDS 64

struct form {
    size_t n;
    char *name[FORM_MAX_FIELDS];
    char *value[FORM_MAX_FIELDS];
    /* form_parse's names and values all live in block; a form filled
     * field by field instead (block NULL) owns each name and value */
    char *block;
};

/* false on a malformed escape, more than FORM_MAX_FIELDS fields, or a name
 * or value with a NUL byte; bad (may be NULL) then gets the raw field name
 * and f is left empty. */
bool form_parse(struct form *f, const char *s, size_t n, char *bad, size_t badsz);
void form_free(struct form *f);
/* Lends the first value of name, or NULL. */
const char *form_get(const struct form *f, const char *name);
/* Percent-encodes s for a form or query value into a malloc'ed string. */
char *form_encode(const char *s);

#endif
