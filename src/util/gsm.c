/* gsm: GSM-7 alphabet checks and SMS part counting; see gsm.h. */
#include "util/gsm.h"

#include "util/str.h"

#include <stdint.h>
#include <string.h>

/* The ASCII characters' widths, a row of 16 a line: 1 for GSM-7's basic
 * table, 2 for its extension (^ { } [ ] ~ \ |), 0 for the rest (controls
 * but LF and CR, `, DEL). Every screen is measured a character at a time:
 * a table, not a chain of tests. */
static const uint8_t ascii_width[128] = {
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 1, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 2, 2, 1,
    0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 2, 2, 0,
};

int gsm_width(uint32_t c)
{
    if (c < 0x80)
        return ascii_width[c];
    static const uint32_t basic[] = {0xA3, 0xA5, 0xE8, 0xE9, 0xF9, 0xEC, 0xF2, 0xC7, 0xD8, 0xF8,
                                     0xC5, 0xE5, 0x394, 0x3A6, 0x393, 0x39B, 0x3A9, 0x3A0, 0x3A8,
                                     0x3A3, 0x398, 0x39E, 0xC6, 0xE6, 0xDF, 0xC9, 0xA4, 0xA1, 0xC4,
                                     0xD6, 0xD1, 0xDC, 0xA7, 0xBF, 0xE4, 0xF6, 0xF1, 0xFC, 0xE0, 0x5F};
    for (size_t i = 0; i < sizeof basic / sizeof basic[0]; i++)
        if (basic[i] == c)
            return 1;
    if (c == 0x20AC) /* euro sign, extension table */
        return 2;
    return 0;
}

int gsm_septets(const char *utf8)
{
    const unsigned char *p = (const unsigned char *)utf8;
    int n = 0;
    while (*p) {
        uint32_t cp = *p;
        int k = 1;
        if (cp >= 0x80 && !(k = str_utf8_next((const char *)p, SIZE_MAX, &cp)))
            return -1;
        int w = gsm_width(cp);
        if (!w)
            return -1;
        n += w;
        p += k;
    }
    return n;
}

size_t gsm_chars(const char *utf8)
{
    size_t n = 0;
    for (const unsigned char *p = (const unsigned char *)utf8; *p; p++)
        if ((*p & 0xC0) != 0x80)
            n++;
    return n;
}

void gsm_sanitize(const char *in, char *out, size_t outsz)
{
    const unsigned char *p = (const unsigned char *)in;
    size_t o = 0;
    if (!outsz)
        return;
    while (*p && o + 1 < outsz) {
        uint32_t cp;
        int k = str_utf8_next((const char *)p, SIZE_MAX, &cp);
        if (!k) {
            out[o++] = '?';
            p++;
            continue;
        }
        if (cp < 0x20 && cp != '\n')
            out[o++] = ' ';
        else if (k == 1 && gsm_width(cp))
            out[o++] = (char)cp;
        else if (gsm_width(cp) && o + (size_t)k < outsz) {
            memcpy(out + o, p, (size_t)k);
            o += (size_t)k;
        } else
            out[o++] = '?';
        p += k;
    }
    out[o] = 0;
}

void gsm_parts(const char *utf8, struct gsm_parts *out)
{
    int sept = gsm_septets(utf8);
    if (sept >= 0) {
        out->ucs2 = false;
        out->units = sept;
        out->parts = sept <= 160 ? 1 : (sept + 152) / 153;
        return;
    }
    const unsigned char *p = (const unsigned char *)utf8;
    int units = 0;
    while (*p) {
        uint32_t cp;
        int k = str_utf8_next((const char *)p, SIZE_MAX, &cp);
        if (!k) {
            k = 1;
            cp = '?';
        }
        units += cp > 0xFFFF ? 2 : 1;
        p += k;
    }
    out->ucs2 = true;
    out->units = units;
    out->parts = units <= 70 ? 1 : (units + 66) / 67;
}
