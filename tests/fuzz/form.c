/* fuzz target form: application/x-www-form-urlencoded bodies as Africa's
 * Talking posts them (USSD hops, inbound SMS, delivery reports) and query
 * strings (src/util/form.c). The whole input is the body.
 *
 * Checks: form_parse either fails with the bad field's name (at most 40
 * bytes) and an empty form, or gives at most FORM_MAX_FIELDS fields with
 * no NUL inside; form_get finds the first of each name; and every parsed
 * field, encoded again with form_encode, parses back to itself. */
#include "fuzz.h"

#include "util/form.h"

#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct form f;
    char bad[48];
    memset(bad, 'x', sizeof bad);
    if (!form_parse(&f, (const char *)data, size, bad, sizeof bad)) {
        FUZZ_CHECK(f.n == 0, "a refused form keeps %zu fields", f.n);
        FUZZ_CHECK(memchr(bad, 0, sizeof bad) && strlen(bad) <= 40, "bad field name not cut: %zu", strlen(bad));
        return 0;
    }
    FUZZ_CHECK(f.n <= FORM_MAX_FIELDS, "%zu fields", f.n);
    /* the parsed text is the input without '&' and '=': never longer */
    size_t total = 0;
    for (size_t i = 0; i < f.n; i++)
        total += strlen(f.name[i]) + strlen(f.value[i]);
    FUZZ_CHECK(total <= size, "%zu bytes parsed from %zu", total, size);

    char *body = NULL;
    size_t len = 0;
    for (size_t i = 0; i < f.n; i++) {
        /* the first field of a name is the one form_get lends */
        size_t first = 0;
        while (strcmp(f.name[first], f.name[i]))
            first++;
        FUZZ_CHECK(form_get(&f, f.name[i]) == f.value[first], "form_get(%s) is not the first", f.name[i]);

        char *n = form_encode(f.name[i]), *v = form_encode(f.value[i]);
        FUZZ_CHECK(n && v, "form_encode failed");
        size_t add = strlen(n) + strlen(v) + 2;
        char *grown = realloc(body, len + add + 1);
        FUZZ_CHECK(grown, "out of memory");
        body = grown;
        len += (size_t)snprintf(body + len, add + 1, "%s%s=%s", i ? "&" : "", n, v);
        free(n);
        free(v);
    }

    struct form g;
    FUZZ_CHECK(form_parse(&g, body ? body : "", len, NULL, 0), "re-encoded form refused: %s", body);
    FUZZ_CHECK(g.n == f.n, "%zu fields became %zu", f.n, g.n);
    for (size_t i = 0; i < f.n; i++)
        FUZZ_CHECK(!strcmp(f.name[i], g.name[i]) && !strcmp(f.value[i], g.value[i]), "field %zu changed", i);
    form_free(&g);
    form_free(&f);
    free(body);
    return 0;
}
