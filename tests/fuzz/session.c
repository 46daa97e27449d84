/* fuzz target session: the USSD session's text form (ussd_session_encode
 * and ussd_session_decode in src/ussd/session.c), which every hop writes
 * to the store and reads back; decoding must trust nothing. The whole
 * input is the text as a store row would hold it.
 *
 * Checks: a refused text leaves a fresh English session; an accepted one
 * gives a session within its bounds (ids of the screen alphabet, at most
 * USSD_MAX_TRAIL screens behind it and USSD_MAX_VARS vars, NUL-terminated
 * fields) that encodes within USSD_SESSION_TEXT_MAX and decodes back to
 * the same session, and encoding that is a fixed point. */
#include "fuzz.h"

#include "ussd/ussd.h"

#include <string.h>

static bool id_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '-';
}

static void check_id(const char *id, size_t size, bool may_be_empty)
{
    FUZZ_CHECK(memchr(id, 0, size), "unterminated id");
    FUZZ_CHECK(may_be_empty || *id, "empty id");
    for (const char *p = id; *p; p++)
        FUZZ_CHECK(id_char(*p), "id '%s'", id);
}

static void check_same(const struct ussd_session *a, const struct ussd_session *b)
{
    FUZZ_CHECK(!strcmp(a->screen, b->screen) && !strcmp(a->lang, b->lang) && a->page == b->page &&
                   a->offer == b->offer,
               "%s/%s/%d/%d", b->screen, b->lang, b->page, b->offer);
    FUZZ_CHECK(a->ntrail == b->ntrail && a->nvars == b->nvars, "%d/%d against %d/%d", a->ntrail, a->nvars,
               b->ntrail, b->nvars);
    for (int i = 0; i < a->ntrail; i++)
        FUZZ_CHECK(!strcmp(a->trail[i], b->trail[i]), "trail %d", i);
    for (int i = 0; i < a->nvars; i++)
        FUZZ_CHECK(!strcmp(a->key[i], b->key[i]) && !strcmp(a->val[i], b->val[i]), "var %d", i);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static char text[USSD_SESSION_TEXT_MAX], again[USSD_SESSION_TEXT_MAX];
    char *in = fuzz_strdup(data, size);
    struct ussd_session s, t;
    memset(&s, 0x5a, sizeof s);
    if (!ussd_session_decode(&s, in)) {
        struct ussd_session fresh;
        ussd_session_init(&fresh, "en");
        FUZZ_CHECK(!memcmp(&s, &fresh, sizeof s), "a refused text left the session changed");
        free(in);
        return 0;
    }
    check_id(s.screen, sizeof s.screen, true);
    FUZZ_CHECK(!strcmp(s.lang, "en") || !strcmp(s.lang, "sw"), "lang");
    FUZZ_CHECK(s.page >= 0 && s.page <= 1000, "page %d", s.page);
    FUZZ_CHECK(s.ntrail >= 0 && s.ntrail <= USSD_MAX_TRAIL, "%d screens behind", s.ntrail);
    FUZZ_CHECK(s.nvars >= 0 && s.nvars <= USSD_MAX_VARS, "%d vars", s.nvars);
    for (int i = 0; i < s.ntrail; i++)
        check_id(s.trail[i], sizeof s.trail[i], false);
    for (int i = 0; i < s.nvars; i++) {
        FUZZ_CHECK(memchr(s.key[i], 0, sizeof s.key[i]) && memchr(s.val[i], 0, sizeof s.val[i]), "var %d", i);
        FUZZ_CHECK(ussd_var(&s, s.key[i]) == s.val[i], "var %s twice", s.key[i]);
    }

    FUZZ_CHECK(ussd_session_encode(&s, text, sizeof text), "a decoded session does not encode");
    FUZZ_CHECK(ussd_session_decode(&t, text), "its own text is refused: %s", text);
    check_same(&s, &t);
    FUZZ_CHECK(ussd_session_encode(&t, again, sizeof again) && !strcmp(text, again), "encoding moved:\n%s\n%s",
               text, again);
    /* too small a buffer is refused whole, never cut */
    size_t len = strlen(text);
    FUZZ_CHECK(!ussd_session_encode(&s, again, len) && again[0] == 0, "encoded into %zu bytes", len);
    free(in);
    return 0;
}
