/* regex: PCRE2 wrapper; see regex.h. */
#define PCRE2_CODE_UNIT_WIDTH 8
#include "util/regex.h"

#include <pcre2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct regex {
    pcre2_code *code;
};

struct regex *regex_new(const char *pattern, bool caseless, char *err, size_t errsz)
{
    int ec;
    PCRE2_SIZE off;
    uint32_t opts = PCRE2_UTF | PCRE2_ANCHORED | PCRE2_ENDANCHORED | (caseless ? PCRE2_CASELESS : 0);
    pcre2_code *code = pcre2_compile((PCRE2_SPTR)pattern, PCRE2_ZERO_TERMINATED, opts, &ec, &off, NULL);
    if (!code) {
        PCRE2_UCHAR msg[200];
        pcre2_get_error_message(ec, msg, sizeof msg);
        snprintf(err, errsz, "invalid pattern at offset %zu: %s", (size_t)off, (char *)msg);
        return NULL;
    }
    struct regex *re = malloc(sizeof *re);
    if (!re) {
        pcre2_code_free(code);
        snprintf(err, errsz, "out of memory");
        return NULL;
    }
    re->code = code;
    return re;
}

void regex_free(struct regex *re)
{
    if (!re)
        return;
    pcre2_code_free(re->code);
    free(re);
}

static pcre2_match_data *run(const struct regex *re, const char *subject, int *rc)
{
    pcre2_match_data *md = pcre2_match_data_create_from_pattern(re->code, NULL);
    if (!md) {
        *rc = -1;
        return NULL;
    }
    *rc = pcre2_match(re->code, (PCRE2_SPTR)subject, strlen(subject), 0, 0, md, NULL);
    return md;
}

bool regex_match(const struct regex *re, const char *subject)
{
    int rc;
    pcre2_match_data *md = run(re, subject, &rc);
    pcre2_match_data_free(md);
    return rc >= 0;
}

bool regex_group(const struct regex *re, const char *subject, const char *name, char *out, size_t outsz)
{
    int rc;
    bool ok = false;
    pcre2_match_data *md = run(re, subject, &rc);
    if (rc >= 0) {
        PCRE2_SIZE len = outsz;
        ok = pcre2_substring_copy_byname(md, (PCRE2_SPTR)name, (PCRE2_UCHAR *)out, &len) == 0;
    }
    pcre2_match_data_free(md);
    return ok;
}
