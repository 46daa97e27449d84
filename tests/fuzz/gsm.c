/* fuzz target gsm: the GSM-7 and UTF-8 helpers every screen and SMS goes
 * through (src/util/gsm.c, str_utf8_next and friends in src/util/str.h).
 * The whole input is the text, bytes as they came (a meter name, an SMS).
 *
 * Checks, against a plain re-implementation of the UTF-8 rules where one
 * is short enough to trust:
 * - str_utf8_next decodes exactly the well-formed sequences (no overlong
 *   form, no surrogate, nothing above U+10FFFF) and never reads past n;
 * - str_is_clean_utf8 is "every character decodes, no control but \n";
 * - gsm_sanitize writes valid GSM-7 that fits, and leaves GSM-7 text as it
 *   was; gsm_septets agrees with gsm_width summed; gsm_parts counts parts
 *   as 3GPP TS 23.040 does (153 or 67 a part once there are several);
 * - str_copy_chars never splits a character and never writes past dst. */
#include "fuzz.h"

#include "util/gsm.h"
#include "util/str.h"

#include <string.h>

/* The UTF-8 rules of RFC 3629, written out byte by byte. */
static int ref_utf8(const unsigned char *p, size_t n, uint32_t *cp)
{
    if (!n)
        return 0;
    unsigned char b = p[0];
    int k;
    uint32_t c, min;
    if (b < 0x80) {
        *cp = b;
        return 1;
    }
    if (b >= 0xC0 && b < 0xE0)
        k = 2, c = b & 0x1F, min = 0x80;
    else if (b >= 0xE0 && b < 0xF0)
        k = 3, c = b & 0x0F, min = 0x800;
    else if (b >= 0xF0 && b < 0xF8)
        k = 4, c = b & 0x07, min = 0x10000;
    else
        return 0;
    if (n < (size_t)k)
        return 0;
    for (int i = 1; i < k; i++) {
        if ((p[i] & 0xC0) != 0x80)
            return 0;
        c = c << 6 | (p[i] & 0x3F);
    }
    if (c < min || c > 0x10FFFF || (c >= 0xD800 && c <= 0xDFFF))
        return 0;
    *cp = c;
    return k;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const unsigned char *u = data;

    /* every position, with exactly the bytes that are left */
    for (size_t i = 0; i < size; i++) {
        uint32_t a = 0, b = 0;
        int ka = str_utf8_next((const char *)u + i, size - i, &a);
        int kb = ref_utf8(u + i, size - i, &b);
        FUZZ_CHECK(ka == kb && (!ka || a == b), "at %zu: %d U+%04X against %d U+%04X", i, ka, (unsigned)a, kb,
                   (unsigned)b);
    }
    bool clean = true;
    for (size_t i = 0; i < size && clean;) {
        uint32_t cp;
        int k = ref_utf8(u + i, size - i, &cp);
        clean = k && (cp >= 0x20 || cp == '\n') && cp != 0x7f;
        i += k ? (size_t)k : 1;
    }
    FUZZ_CHECK(str_is_clean_utf8((const char *)data, size) == clean, "str_is_clean_utf8 says %d", !clean);

    /* the rest works on the text as a C string */
    char *s = fuzz_strdup(data, size);
    size_t len = strlen(s);

    int sept = gsm_septets(s), sum = 0;
    for (size_t i = 0; i < len && sum >= 0;) {
        uint32_t cp;
        int k = ref_utf8((const unsigned char *)s + i, len - i, &cp);
        int w = k ? gsm_width(cp) : 0;
        sum = w ? sum + w : -1;
        i += k ? (size_t)k : 1;
    }
    FUZZ_CHECK(sept == sum, "gsm_septets %d, widths add up to %d", sept, sum);

    size_t chars = 0;
    for (size_t i = 0; i < len; i++)
        chars += ((unsigned char)s[i] & 0xC0) != 0x80;
    FUZZ_CHECK(gsm_chars(s) == chars, "gsm_chars %zu, lead bytes %zu", gsm_chars(s), chars);

    struct gsm_parts gp;
    gsm_parts(s, &gp);
    FUZZ_CHECK(gp.ucs2 == (sept < 0), "ucs2 %d for septets %d", gp.ucs2, sept);
    int one = gp.ucs2 ? 70 : 160, each = gp.ucs2 ? 67 : 153;
    int want = gp.units <= one ? 1 : (gp.units + each - 1) / each;
    FUZZ_CHECK(gp.parts == want && gp.units >= 0, "%d units in %d parts", gp.units, gp.parts);

    /* sanitize into every size up to a little over the text */
    char out[600];
    for (size_t outsz = 1; outsz <= sizeof out && outsz <= len + 8; outsz += outsz < 16 ? 1 : 37) {
        memset(out, 'Z', sizeof out);
        gsm_sanitize(s, out, outsz);
        size_t olen = strnlen(out, outsz);
        FUZZ_CHECK(olen < outsz, "no NUL within %zu", outsz);
        FUZZ_CHECK(out[outsz] == 'Z' || outsz == sizeof out, "wrote past %zu", outsz);
        FUZZ_CHECK(gsm_septets(out) >= 0, "sanitized text is not GSM-7: %s", out);
        for (size_t i = 0; i < olen; i++)
            FUZZ_CHECK((unsigned char)out[i] >= 0x20 || out[i] == '\n', "control byte %02x", (unsigned char)out[i]);
        if (sept >= 0 && outsz > len && !strchr(s, '\r')) /* \r is GSM-7 but a control */
            FUZZ_CHECK(!strcmp(out, s), "GSM-7 text changed: %s", out);
    }

    /* copy at most maxchars characters into every small size */
    char dst[80];
    for (size_t dstsz = 1; dstsz < sizeof dst; dstsz += 7) {
        for (size_t maxc = 0; maxc < 40; maxc += 13) {
            memset(dst, 'Z', sizeof dst);
            size_t n = str_copy_chars(dst, dstsz, s, maxc);
            FUZZ_CHECK(n < dstsz && dst[n] == 0 && strlen(dst) == n, "copied %zu into %zu", n, dstsz);
            FUZZ_CHECK(dst[dstsz] == 'Z' || dstsz + 1 >= sizeof dst, "wrote past %zu", dstsz);
            FUZZ_CHECK(!memcmp(dst, s, n), "not a prefix");
            FUZZ_CHECK(n == 0 || n == len || ((unsigned char)s[n] & 0xC0) != 0x80, "split a character at %zu", n);
            FUZZ_CHECK(gsm_chars(dst) <= maxc, "%zu characters, at most %zu asked", gsm_chars(dst), maxc);
        }
    }
    free(s);
    return 0;
}
