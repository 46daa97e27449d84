/* log: key=value event lines on stderr; see log.h. */
#include "util/log.h"

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

static enum log_level min_level = LOG_INFO;
static const char *names[] = {"DEBUG", "INFO", "WARN", "ERROR"};

void log_set_level(enum log_level lvl) { min_level = lvl; }

/* The async ring: request threads append under the lock (a memcpy of one
 * line), the log thread swaps in an empty buffer and writes the full one
 * with the lock released. */
#define RING_SIZE (1u << 20)
static struct {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    pthread_t thread;
    char *buf;
    size_t len;
    size_t dropped;
    bool on, stop;
} ring = {.lock = PTHREAD_MUTEX_INITIALIZER, .cond = PTHREAD_COND_INITIALIZER};

static void write_all(const char *p, size_t n)
{
    while (n) {
        ssize_t w = write(STDERR_FILENO, p, n);
        if (w <= 0)
            return;
        p += w;
        n -= (size_t)w;
    }
}

/* Writes `ts LEVEL event ` into line (n bytes); returns its length, or 0
 * when it does not fit with a byte to spare. The event's spaces, quotes,
 * `=`, `\` and control characters become `_`: the linter holds names to
 * component.event, and this holds the line to one line should a name slip
 * past it. */
static size_t line_head(char *line, size_t n, enum log_level lvl, const char *event)
{
    struct timespec ts;
    struct tm tm;
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    int k = snprintf(line, n, "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ %s ", tm.tm_year + 1900, tm.tm_mon + 1,
                     tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, ts.tv_nsec / 1000000, names[lvl]);
    if (k < 0 || (size_t)k + 3 >= n)
        return 0;
    size_t len = (size_t)k;
    for (const char *e = event ? event : "-"; *e && len + 3 < n; e++) {
        unsigned char c = (unsigned char)*e;
        line[len++] = c <= ' ' || c == 0x7f || c == '=' || c == '"' || c == '\\' ? '_' : (char)c;
    }
    line[len++] = ' ';
    line[len] = 0;
    return len;
}

static void *log_main(void *arg)
{
    (void)arg;
    pthread_setname_np(pthread_self(), "log");
    char *out = malloc(RING_SIZE);
    pthread_mutex_lock(&ring.lock);
    while (out) {
        /* wake on a timer (or when half full): a signal per line would
         * cost a futex wake per line on the request threads */
        while (!ring.len && !ring.stop) {
            struct timespec ts;
            clock_gettime(CLOCK_REALTIME, &ts);
            ts.tv_nsec += 50 * 1000000L;
            if (ts.tv_nsec >= 1000000000L) {
                ts.tv_sec++;
                ts.tv_nsec -= 1000000000L;
            }
            pthread_cond_timedwait(&ring.cond, &ring.lock, &ts);
        }
        /* swap buffers: the lock is held for O(1), never for a copy */
        size_t n = ring.len, dropped = ring.dropped;
        char *full = ring.buf;
        ring.buf = out;
        out = full;
        ring.len = 0;
        ring.dropped = 0;
        bool stop = ring.stop;
        pthread_mutex_unlock(&ring.lock);
        if (dropped) {
            char note[160];
            size_t k = line_head(note, sizeof note, LOG_WARN, "log.dropped");
            int m = snprintf(note + k, sizeof note - k, "lines=%zu reason=\"log ring full\"\n", dropped);
            if (m > 0 && (size_t)m < sizeof note - k)
                write_all(note, k + (size_t)m);
        }
        write_all(out, n);
        pthread_mutex_lock(&ring.lock);
        if (stop && !ring.len)
            break;
    }
    pthread_mutex_unlock(&ring.lock);
    free(out);
    return NULL;
}

bool log_start_async(void)
{
    pthread_mutex_lock(&ring.lock);
    if (!ring.on && (ring.buf = malloc(RING_SIZE))) {
        ring.stop = false;
        ring.on = pthread_create(&ring.thread, NULL, log_main, NULL) == 0;
        if (!ring.on) {
            free(ring.buf);
            ring.buf = NULL;
        }
    }
    bool on = ring.on;
    pthread_mutex_unlock(&ring.lock);
    return on;
}

void log_stop_async(void)
{
    pthread_mutex_lock(&ring.lock);
    if (!ring.on) {
        pthread_mutex_unlock(&ring.lock);
        return;
    }
    ring.stop = true;
    pthread_cond_signal(&ring.cond);
    pthread_mutex_unlock(&ring.lock);
    pthread_join(ring.thread, NULL);
    pthread_mutex_lock(&ring.lock);
    ring.on = false;
    free(ring.buf);
    ring.buf = NULL;
    pthread_mutex_unlock(&ring.lock);
}

static void emit(const char *line, size_t len)
{
    pthread_mutex_lock(&ring.lock);
    if (ring.on && !ring.stop) {
        if (ring.len + len <= RING_SIZE) {
            memcpy(ring.buf + ring.len, line, len);
            ring.len += len;
            if (ring.len > RING_SIZE / 2)
                pthread_cond_signal(&ring.cond);
        } else {
            ring.dropped++;
        }
        pthread_mutex_unlock(&ring.lock);
        return;
    }
    pthread_mutex_unlock(&ring.lock);
    write_all(line, len);
}

/* ---- formatting: every value escaped, so no value can forge a field ---- */

/* A bounded line being written; full once only the terminator fits. */
struct line {
    char *p;
    size_t n, len;
};

static void put(struct line *l, char c)
{
    if (l->len + 1 < l->n)
        l->p[l->len++] = c;
}

static void put_str(struct line *l, const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        put(l, s[i]);
}

static bool is_digit(char c) { return c >= '0' && c <= '9'; }

/* Whether a run of digits (with its + if any) is a phone number as a
 * request value may carry one: +254 or 254, then 7 or 1 and 8 digits;
 * 07 or 01 and 8 digits; + and 10 to 15 digits. Longer runs (a checkout
 * id, a timestamp) are not numbers. */
static bool phone_shaped(const char *s, size_t n)
{
    size_t plus = n && s[0] == '+', digits = n - plus;
    const char *d = s + plus;
    if (digits == 12 && !strncmp(d, "254", 3) && (d[3] == '7' || d[3] == '1'))
        return true;
    if (!plus && digits == 10 && d[0] == '0' && (d[1] == '7' || d[1] == '1'))
        return true;
    return plus && digits >= 10 && digits <= 15;
}

/* Copies s[0..n) into out (n + 1 bytes at least) with every phone-shaped
 * run of digits masked as log_phone does; the mask is as long as the
 * number. Returns the length. */
static size_t mask_phones(const char *s, size_t n, char *out)
{
    size_t k = 0;
    for (size_t i = 0; i < n;) {
        bool starts = (s[i] == '+' || is_digit(s[i])) && (i == 0 || (!is_digit(s[i - 1]) && s[i - 1] != '+'));
        if (!starts) {
            out[k++] = s[i++];
            continue;
        }
        size_t j = i + (s[i] == '+');
        while (j < n && is_digit(s[j]))
            j++;
        if (phone_shaped(s + i, j - i)) {
            char num[20], masked[20];
            memcpy(num, s + i, j - i);
            num[j - i] = 0;
            log_phone(num, masked);
            memcpy(out + k, masked, j - i);
        } else {
            memcpy(out + k, s + i, j - i);
        }
        k += j - i;
        i = j;
    }
    out[k] = 0;
    return k;
}

const char *log_mask_phones(const char *text, char *out, size_t n)
{
    char masked[1024]; /* masked whole before it is cut: a cut number may no longer look like one */
    size_t len = text ? strnlen(text, sizeof masked - 1) : 0;
    mask_phones(text ? text : "", len, masked);
    if (n) {
        len = len < n - 1 ? len : n - 1;
        memcpy(out, masked, len);
        out[len] = 0;
    }
    return out;
}

/* Whether a bare value must be quoted: it would otherwise end the field
 * early, start another one or another line. */
static bool needs_quotes(const char *s, size_t n)
{
    if (!n)
        return true;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c <= ' ' || c == 0x7f || c == '=' || c == '"' || c == '\\')
            return true;
    }
    return false;
}

/* Writes one escaped character, or nothing when it and the closing quote
 * (reserve) would not both fit: a value is cut, never its escape. */
static bool put_escaped(struct line *l, unsigned char c, size_t reserve)
{
    char esc[5];
    size_t k = 0;
    switch (c) {
    case '"': esc[k++] = '\\'; esc[k++] = '"'; break;
    case '\\': esc[k++] = '\\'; esc[k++] = '\\'; break;
    case '\n': esc[k++] = '\\'; esc[k++] = 'n'; break;
    case '\r': esc[k++] = '\\'; esc[k++] = 'r'; break;
    case '\t': esc[k++] = '\\'; esc[k++] = 't'; break;
    default:
        if (c < ' ' || c == 0x7f) {
            snprintf(esc, sizeof esc, "\\x%02x", c);
            k = 4;
        } else {
            esc[k++] = (char)c;
        }
    }
    if (l->len + k + reserve + 1 > l->n)
        return false;
    put_str(l, esc, k);
    return true;
}

/* One %s value (at most a line long): phone numbers in it masked, then
 * escaped; quoted unless the format quotes it already (inside) or it
 * needs none. */
static void put_value(struct line *l, const char *s, size_t n, bool inside)
{
    char v[1024];
    if (n > sizeof v - 1)
        n = sizeof v - 1;
    n = mask_phones(s, n, v);
    bool quote = !inside && needs_quotes(v, n);
    size_t reserve = quote || inside ? 1 : 0; /* the closing quote */
    if (quote)
        put(l, '"');
    for (size_t i = 0; i < n && put_escaped(l, (unsigned char)v[i], reserve); i++)
        ;
    if (quote)
        put(l, '"');
}

/* The argument types a conversion takes, by its length modifier. */
enum arg_len { L_NONE, L_HH, L_H, L_L, L_LL, L_Z, L_J, L_T, L_BIG };

/* Formats one number conversion (spec is "%...c") from ap. */
static void put_number(struct line *l, const char *spec, char conv, enum arg_len len, va_list *ap)
{
    char out[128];
    int k = 0;
    if (conv == 'd' || conv == 'i') {
        switch (len) {
        case L_L: k = snprintf(out, sizeof out, spec, va_arg(*ap, long)); break;
        case L_LL: k = snprintf(out, sizeof out, spec, va_arg(*ap, long long)); break;
        case L_Z: k = snprintf(out, sizeof out, spec, va_arg(*ap, ssize_t)); break;
        case L_J: k = snprintf(out, sizeof out, spec, va_arg(*ap, intmax_t)); break;
        case L_T: k = snprintf(out, sizeof out, spec, va_arg(*ap, ptrdiff_t)); break;
        default: k = snprintf(out, sizeof out, spec, va_arg(*ap, int)); break;
        }
    } else if (strchr("uoxX", conv)) {
        switch (len) {
        case L_L: k = snprintf(out, sizeof out, spec, va_arg(*ap, unsigned long)); break;
        case L_LL: k = snprintf(out, sizeof out, spec, va_arg(*ap, unsigned long long)); break;
        case L_Z: k = snprintf(out, sizeof out, spec, va_arg(*ap, size_t)); break;
        case L_J: k = snprintf(out, sizeof out, spec, va_arg(*ap, uintmax_t)); break;
        case L_T: k = snprintf(out, sizeof out, spec, va_arg(*ap, ptrdiff_t)); break;
        default: k = snprintf(out, sizeof out, spec, va_arg(*ap, unsigned)); break;
        }
    } else if (strchr("fFeEgGaA", conv)) {
        if (len == L_BIG)
            k = snprintf(out, sizeof out, spec, va_arg(*ap, long double));
        else
            k = snprintf(out, sizeof out, spec, va_arg(*ap, double));
    } else if (conv == 'p') {
        k = snprintf(out, sizeof out, spec, va_arg(*ap, void *));
    }
    if (k > 0)
        put_str(l, out, (size_t)k < sizeof out ? (size_t)k : sizeof out - 1);
}

size_t log_vformat(char *out, size_t n, const char *fmt, va_list ap_in)
{
    struct line l = {out, n, 0};
    va_list ap;
    bool inside = false; /* between quotes the format itself wrote */
    if (!n)
        return 0;
    va_copy(ap, ap_in);
    for (const char *f = fmt; *f; f++) {
        if (*f != '%') {
            if (*f == '"')
                inside = !inside;
            put(&l, *f == '\n' || *f == '\r' ? ' ' : *f);
            continue;
        }
        if (f[1] == '%') {
            put(&l, '%');
            f++;
            continue;
        }
        /* %[flags][width][.precision][length]conversion; the spec is
         * rebuilt for numbers, with a * width or precision made literal */
        char spec[40];
        size_t k = 0;
        int width = 0, prec = -1;
        bool left = false;
        spec[k++] = '%';
        for (f++; *f && strchr("-+ #0", *f); f++) {
            left |= *f == '-';
            if (k < 8)
                spec[k++] = *f;
        }
        if (*f == '*') {
            width = va_arg(ap, int);
            f++;
            if (width < 0) { /* as printf: left-aligned */
                width = width < -1000 ? 1000 : -width;
                left = true;
                spec[k++] = '-';
            }
        } else {
            for (; is_digit(*f); f++)
                width = width < 1000 ? width * 10 + (*f - '0') : width;
        }
        if (width > 1000)
            width = 1000;
        if (*f == '.') {
            f++;
            if (*f == '*') {
                prec = va_arg(ap, int);
                f++;
            } else {
                for (prec = 0; is_digit(*f); f++)
                    prec = prec < 100000 ? prec * 10 + (*f - '0') : prec;
            }
            if (prec > 100000) /* longer than any line anyway */
                prec = 100000;
        }
        enum arg_len len = L_NONE;
        if (f[0] == 'h' && f[1] == 'h') { len = L_HH; f += 2; }
        else if (f[0] == 'l' && f[1] == 'l') { len = L_LL; f += 2; }
        else if (*f == 'h') { len = L_H; f++; }
        else if (*f == 'l') { len = L_L; f++; }
        else if (*f == 'z') { len = L_Z; f++; }
        else if (*f == 'j') { len = L_J; f++; }
        else if (*f == 't') { len = L_T; f++; }
        else if (*f == 'L') { len = L_BIG; f++; }
        char conv = *f;
        if (!conv)
            break;
        if (conv == 's' || conv == 'c') {
            char ch;
            const char *s;
            size_t sn;
            if (conv == 'c') {
                ch = (char)va_arg(ap, int);
                s = &ch;
                sn = 1;
            } else {
                s = va_arg(ap, const char *);
                if (!s)
                    s = "(null)";
                sn = prec >= 0 ? strnlen(s, (size_t)prec) : strlen(s);
            }
            /* padding belongs to the value (it is quoted with it) */
            char padded[1024];
            if ((size_t)width > sn && (size_t)width < sizeof padded) {
                size_t pad = (size_t)width - sn;
                memset(padded, ' ', (size_t)width);
                memcpy(padded + (left ? 0 : pad), s, sn);
                s = padded;
                sn = (size_t)width;
            }
            put_value(&l, s, sn, inside);
            continue;
        }
        if (conv == 'n') { /* never written through */
            (void)va_arg(ap, void *);
            continue;
        }
        if (!strchr("diouxXfFeEgGaAp", conv)) { /* not a conversion: shown as written */
            put(&l, '%');
            put(&l, conv);
            continue;
        }
        if (width > 0)
            k += (size_t)snprintf(spec + k, sizeof spec - k, "%d", width);
        if (prec >= 0)
            k += (size_t)snprintf(spec + k, sizeof spec - k, ".%d", prec);
        static const char *const mods[] = {"", "hh", "h", "l", "ll", "z", "j", "t", "L"};
        k += (size_t)snprintf(spec + k, sizeof spec - k, "%s%c", mods[len], conv);
        put_number(&l, spec, conv, len, &ap);
    }
    va_end(ap);
    l.p[l.len] = '\0';
    return l.len;
}

void log_event(enum log_level lvl, const char *event, const char *fmt, ...)
{
    if (lvl < min_level)
        return;
    char line[1024];
    size_t n = line_head(line, sizeof line, lvl, event);
    if (!n)
        return;
    va_list ap;
    va_start(ap, fmt);
    /* one byte kept for the newline */
    size_t len = n + log_vformat(line + n, sizeof line - 1 - n, fmt, ap);
    va_end(ap);
    line[len++] = '\n';
    emit(line, len);
}

const char *log_phone(const char *phone, char out[20])
{
    size_t n = phone ? strlen(phone) : 0;
    if (n < 8 || n > 16) {
        snprintf(out, 20, "%s", n ? "***" : "-");
        return out;
    }
    /* keep the country prefix and the last four digits */
    size_t keep_head = n - 8, i;
    for (i = 0; i < n; i++)
        out[i] = (i < keep_head || i >= n - 4) ? phone[i] : '*';
    out[n] = 0;
    return out;
}
