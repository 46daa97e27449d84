/* str: bounded string helpers; see str.h. */
#include "util/str.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

bool str_copy(char *dst, size_t dstsz, const char *src)
{
    if (!dstsz)
        return false;
    size_t n = src ? strlen(src) : 0;
    bool fits = n < dstsz;
    if (!fits)
        n = dstsz - 1;
    if (n)
        memcpy(dst, src, n);
    dst[n] = 0;
    return fits;
}

bool str_is_digits(const char *s)
{
    if (!s || !*s)
        return false;
    for (; *s; s++)
        if (*s < '0' || *s > '9')
            return false;
    return true;
}

size_t str_from_i64(int64_t v, char out[STR_I64_MAX])
{
    char rev[STR_I64_MAX];
    uint64_t u = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v; /* INT64_MIN too */
    size_t n = 0, k = 0;
    do {
        rev[n++] = (char)('0' + u % 10);
        u /= 10;
    } while (u);
    if (v < 0)
        out[k++] = '-';
    while (n)
        out[k++] = rev[--n];
    out[k] = 0;
    return k;
}

bool str_to_i64(const char *s, int64_t min, int64_t max, int64_t *out)
{
    if (!s || !*s || strlen(s) > 19)
        return false;
    const char *p = s;
    if (*p == '-')
        p++;
    if (!str_is_digits(p))
        return false;
    errno = 0;
    char *end;
    long long v = strtoll(s, &end, 10);
    if (errno || *end || v < min || v > max)
        return false;
    *out = v;
    return true;
}

bool str_ieq(const char *a, const char *b)
{
    for (; *a && *b; a++, b++) {
        char x = *a, y = *b;
        if (x >= 'A' && x <= 'Z') x = (char)(x + 32);
        if (y >= 'A' && y <= 'Z') y = (char)(y + 32);
        if (x != y)
            return false;
    }
    return *a == *b;
}

char *str_trim(char *s)
{
    size_t n = strlen(s), i = 0;
    while (i < n && (s[i] == ' ' || s[i] == '\t' || s[i] == '\r' || s[i] == '\n'))
        i++;
    while (n > i && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\r' || s[n - 1] == '\n'))
        n--;
    memmove(s, s + i, n - i);
    s[n - i] = 0;
    return s;
}

int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t now_s(void) { return (int64_t)time(NULL); }

int64_t backoff_ms(int64_t base, int64_t attempts, int64_t cap)
{
    int64_t ms = base;
    for (int64_t i = 1; i < attempts && ms < cap; i++)
        ms *= 2;
    return ms > cap ? cap : ms;
}

void str_iso_time(int64_t ms, char out[32])
{
    time_t t = (time_t)(ms / 1000);
    struct tm tm;
    char base[24];
    gmtime_r(&t, &tm);
    strftime(base, sizeof base, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(out, 32, "%.19s.%03uZ", base, (unsigned)(ms % 1000) % 1000u);
}

size_t str_copy_chars(char *dst, size_t dstsz, const char *src, size_t maxchars)
{
    size_t o = 0, chars = 0;
    if (!dstsz)
        return 0;
    for (size_t i = 0; src && src[i] && chars < maxchars; chars++) {
        size_t k = 1;
        while (src[i + k] && ((unsigned char)src[i + k] & 0xC0) == 0x80)
            k++;
        if (o + k >= dstsz)
            break;
        memcpy(dst + o, src + i, k);
        o += k;
        i += k;
    }
    dst[o] = 0;
    return o;
}

bool str_is_clean_utf8(const char *s, size_t n)
{
    size_t i = 0;
    while (i < n) {
        uint32_t cp;
        int k = str_utf8_next(s + i, n - i, &cp);
        if (!k || (cp < 0x20 && cp != '\n') || cp == 0x7f)
            return false;
        i += (size_t)k;
    }
    return true;
}
