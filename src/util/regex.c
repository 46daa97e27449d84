/* regex: PCRE2 wrapper; see regex.h. */
#define PCRE2_CODE_UNIT_WIDTH 8
#include "util/regex.h"

#include <pcre2.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct regex {
    pcre2_code *code;
    uint32_t captures; /* its groups: a match needs one more ovector pair */
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
    struct regex *re = calloc(1, sizeof *re);
    if (!re) {
        pcre2_code_free(code);
        snprintf(err, errsz, "out of memory");
        return NULL;
    }
    /* compiled to machine code where PCRE2 can (it matches several times
     * faster and needs no heap); where it cannot, the interpreter runs */
    (void)pcre2_jit_compile(code, PCRE2_JIT_COMPLETE);
    re->code = code;
    (void)pcre2_pattern_info(code, PCRE2_INFO_CAPTURECOUNT, &re->captures);
    return re;
}

void regex_free(struct regex *re)
{
    if (!re)
        return;
    pcre2_code_free(re->code);
    free(re);
}

/* Each thread keeps one match data and reuses it: a fresh one per match
 * cost an allocation, and the interpreter's 20 KiB of backtracking frames
 * with it, on every USSD input checked. It grows to the captures of the
 * largest pattern matched on the thread and is freed when the thread ends. */
static _Thread_local pcre2_match_data *thread_held;
static pthread_key_t md_key; /* only for its destructor, at the thread's end */
static pthread_once_t md_once = PTHREAD_ONCE_INIT;

static void md_free(void *md) { pcre2_match_data_free(md); }
static void md_key_make(void) { (void)pthread_key_create(&md_key, md_free); }

static pcre2_match_data *thread_md(uint32_t captures)
{
    pthread_once(&md_once, md_key_make);
    pcre2_match_data *md = thread_held;
    if (md && pcre2_get_ovector_count(md) > captures)
        return md;
    pcre2_match_data *bigger = pcre2_match_data_create(captures + 1 < 16 ? 16 : captures + 1, NULL);
    if (!bigger || pthread_setspecific(md_key, bigger) != 0) {
        pcre2_match_data_free(bigger);
        return NULL;
    }
    pcre2_match_data_free(md);
    return thread_held = bigger;
}

static pcre2_match_data *run(const struct regex *re, const char *subject, int *rc)
{
    pcre2_match_data *md = thread_md(re->captures);
    if (!md) {
        *rc = -1;
        return NULL;
    }
    size_t len = strlen(subject);
    *rc = pcre2_match(re->code, (PCRE2_SPTR)subject, len, 0, 0, md, NULL);
    if (*rc == PCRE2_ERROR_JIT_STACKLIMIT) /* the JIT's 32 KiB stack: the interpreter's heap goes further */
        *rc = pcre2_match(re->code, (PCRE2_SPTR)subject, len, 0, PCRE2_NO_JIT, md, NULL);
    return md;
}

bool regex_match(const struct regex *re, const char *subject)
{
    int rc;
    (void)run(re, subject, &rc);
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
    return ok;
}
