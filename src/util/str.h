/* str: small string and number helpers with explicit bounds (no strcpy,
 * atoi or sprintf in this tree). All pure and thread-safe. */
#ifndef LIPA_STR_H
#define LIPA_STR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

/* FNV-1a (64 bits) of s[0..n): for hash tables and checksums, not for
 * anything an attacker chooses against a secret. */
static inline uint64_t str_fnv1a(const char *s, size_t n)
{
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < n; i++)
        h = (h ^ (unsigned char)s[i]) * 1099511628211ull;
    return h;
}

/* Copies at most dstsz-1 bytes; returns false when src was truncated. */
bool str_copy(char *dst, size_t dstsz, const char *src);
/* Whole string is a decimal integer in [min, max]; no sign games, no spaces. */
bool str_to_i64(const char *s, int64_t min, int64_t max, int64_t *out);
/* v in decimal into out, NUL-terminated; returns its length. A hop formats
 * several numbers: snprintf costs about 700 instructions each, this 60. */
#define STR_I64_MAX 21 /* "-9223372036854775808" and its NUL */
size_t str_from_i64(int64_t v, char out[STR_I64_MAX]);
bool str_is_digits(const char *s);
/* Case-insensitive ASCII comparison. */
bool str_ieq(const char *a, const char *b);
/* Whole-string trim of ASCII blanks, in place; returns s. */
char *str_trim(char *s);
/* UTC ISO-8601 with milliseconds: 2024-02-01T12:00:00.000Z (out >= 25). */
void str_iso_time(int64_t ms, char out[32]);
int64_t now_ms(void);
int64_t now_s(void);
/* Retry delay before attempt n+1 (ms): base doubling per attempt, capped. */
int64_t backoff_ms(int64_t base, int64_t attempts, int64_t cap);
/* Copies at most maxchars characters of src (NULL copies "") and dstsz-1
 * bytes, never splitting a UTF-8 character; returns the bytes copied. */
size_t str_copy_chars(char *dst, size_t dstsz, const char *src, size_t maxchars);
/* Value of a hex digit (either case), or -1. */
static inline int str_hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}
/* Bytes of the UTF-8 sequence a lead byte starts (1 for a stray byte). */
static inline size_t str_utf8_len(unsigned char lead)
{
    return lead >= 0xF0 ? 4 : lead >= 0xE0 ? 3 : lead >= 0xC0 ? 2 : 1;
}
/* Every byte valid UTF-8 and no control characters but \n. */
bool str_is_clean_utf8(const char *s, size_t n);

/* Decodes the UTF-8 character at s (at most n bytes; a NUL-terminated
 * string may pass SIZE_MAX, the NUL ends any sequence): its bytes, or 0
 * for a bad, overlong, surrogate or truncated sequence. Inline: the USSD
 * screen checks run it on every character of every hop. */
static inline int str_utf8_next(const char *s, size_t n, uint32_t *cp)
{
    const unsigned char *p = (const unsigned char *)s;
    if (!n)
        return 0;
    if (p[0] < 0x80) {
        *cp = p[0];
        return 1;
    }
    if (p[0] >= 0xC2 && p[0] <= 0xDF && n >= 2 && (p[1] & 0xC0) == 0x80) {
        *cp = ((uint32_t)(p[0] & 0x1F) << 6) | (p[1] & 0x3F);
        return 2;
    }
    if ((p[0] & 0xF0) == 0xE0 && n >= 3 && (p[1] & 0xC0) == 0x80 && (p[2] & 0xC0) == 0x80) {
        *cp = ((uint32_t)(p[0] & 0x0F) << 12) | ((uint32_t)(p[1] & 0x3F) << 6) | (p[2] & 0x3F);
        return *cp >= 0x800 && (*cp < 0xD800 || *cp > 0xDFFF) ? 3 : 0;
    }
    if (p[0] >= 0xF0 && p[0] <= 0xF4 && n >= 4 && (p[1] & 0xC0) == 0x80 && (p[2] & 0xC0) == 0x80 &&
        (p[3] & 0xC0) == 0x80) {
        *cp = ((uint32_t)(p[0] & 0x07) << 18) | ((uint32_t)(p[1] & 0x3F) << 12) |
              ((uint32_t)(p[2] & 0x3F) << 6) | (p[3] & 0x3F);
        return *cp >= 0x10000 && *cp <= 0x10FFFF ? 4 : 0;
    }
    return 0;
}

#endif
