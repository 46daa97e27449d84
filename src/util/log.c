/* log: key=value event lines on stderr; see log.h. */
#include "util/log.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
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
            char note[96];
            int k = snprintf(note, sizeof note, "log.dropped lines=%zu (log ring full)\n", dropped);
            write_all(note, (size_t)k);
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

void log_event(enum log_level lvl, const char *event, const char *fmt, ...)
{
    if (lvl < min_level)
        return;
    char line[1024];
    struct timespec ts;
    struct tm tm;
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    int n = snprintf(line, sizeof line, "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ %s %s ",
                     tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
                     tm.tm_min, tm.tm_sec, ts.tv_nsec / 1000000, names[lvl], event);
    if (n < 0)
        return;
    va_list ap;
    va_start(ap, fmt);
    int m = vsnprintf(line + n, sizeof line - (size_t)n, fmt, ap);
    va_end(ap);
    size_t len = (size_t)n + (m > 0 ? (size_t)m : 0);
    if (len > sizeof line - 2)
        len = sizeof line - 2;
    for (size_t i = (size_t)n; i < len; i++) /* one event, one line */
        if (line[i] == '\n' || line[i] == '\r')
            line[i] = ' ';
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
