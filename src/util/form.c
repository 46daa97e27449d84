/* form: urlencoded parsing and encoding; see form.h. */
#include "util/form.h"

#include "util/str.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Decodes [s, s+n) at *at, NUL-terminated, and moves *at past it; NULL
 * on a bad escape or a NUL byte. */
static char *decode(const char *s, size_t n, char **at)
{
    char *out = *at, *o = out;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (c == '+')
            c = ' ';
        else if (c == '%') {
            if (i + 2 >= n)
                return NULL;
            int h = str_hexval(s[i + 1]), l = str_hexval(s[i + 2]);
            if (h < 0 || l < 0)
                return NULL;
            c = (char)(h * 16 + l);
            i += 2;
        }
        if (c == 0)
            return NULL;
        *o++ = c;
    }
    *o++ = 0;
    *at = o;
    return out;
}

bool form_parse(struct form *f, const char *s, size_t n, char *bad, size_t badsz)
{
    memset(f, 0, sizeof *f);
    if (bad && badsz)
        bad[0] = 0;
    /* every name and value in one allocation: a decoded field is no longer
     * than its raw bytes, plus a NUL for its name and one for its value */
    char *at = f->block = malloc(n + 2 * FORM_MAX_FIELDS + 1);
    if (!at)
        return false;
    size_t i = 0;
    while (i < n) {
        size_t j = i;
        while (j < n && s[j] != '&')
            j++;
        if (j > i) {
            const char *eq = memchr(s + i, '=', j - i);
            size_t nlen = eq ? (size_t)(eq - (s + i)) : j - i;
            char *name = NULL, *val = NULL;
            if (f->n < FORM_MAX_FIELDS && (name = decode(s + i, nlen, &at)))
                val = decode(eq ? eq + 1 : "", eq ? (size_t)(s + j - eq - 1) : 0, &at);
            if (!val) {
                if (bad && badsz)
                    snprintf(bad, badsz, "%.*s", (int)(nlen > 40 ? 40 : nlen), s + i);
                form_free(f);
                return false;
            }
            f->name[f->n] = name;
            f->value[f->n] = val;
            f->n++;
        }
        i = j + 1;
    }
    return true;
}

void form_free(struct form *f)
{
    for (size_t i = 0; !f->block && i < f->n; i++) {
        free(f->name[i]);
        free(f->value[i]);
    }
    free(f->block);
    f->block = NULL;
    f->n = 0;
}

const char *form_get(const struct form *f, const char *name)
{
    for (size_t i = 0; i < f->n; i++)
        if (!strcmp(f->name[i], name))
            return f->value[i];
    return NULL;
}

char *form_encode(const char *s)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t n = strlen(s);
    char *out = malloc(3 * n + 1), *o = out;
    if (!out)
        return NULL;
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
            c == '-' || c == '_' || c == '.' || c == '~')
            *o++ = (char)c;
        else {
            *o++ = '%';
            *o++ = hex[c >> 4];
            *o++ = hex[c & 15];
        }
    }
    *o = 0;
    return out;
}
