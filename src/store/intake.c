/* store/intake: purchases written to a file before the database has them;
 * see intake.h. */
#include "store/intake.h"

#include "store/payments.h"
#include "util/log.h"
#include "util/str.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define ROTATE_BYTES (1 << 20)
#define FIELDS 16

struct intake {
    pthread_mutex_t lock;
    char *path[2];
    int fd[2];
    int cur;                   /* the file new lines go to */
    off_t size[2];
    int64_t added[2], done[2]; /* lines written and settled since emptied */
};

/* ---- the line ---- */

struct out {
    char *p;
    size_t n, len;
    bool full;
};

static void put_raw(struct out *o, const char *s, size_t n)
{
    if (o->len + n >= o->n) {
        o->full = true;
        return;
    }
    memcpy(o->p + o->len, s, n);
    o->len += n;
}

static void put_text(struct out *o, const char *s)
{
    for (; *s; s++) {
        if (*s == '%' || *s == '\t' || *s == '\n' || *s == '\r') {
            char esc[4];
            snprintf(esc, sizeof esc, "%%%02X", (unsigned char)*s);
            put_raw(o, esc, 3);
        } else {
            put_raw(o, s, 1);
        }
    }
    put_raw(o, "\t", 1);
}

static void put_num(struct out *o, int64_t v)
{
    char num[STR_I64_MAX + 1];
    size_t k = str_from_i64(v, num);
    num[k++] = '\t';
    put_raw(o, num, k);
}

size_t intake_encode(const struct payment *p, char *out, size_t n)
{
    if (n < 24)
        return 0;
    struct out o = {out, n, 20, false}; /* "P1\t" + 16 hex + "\t" come last */
    put_text(&o, p->kind);
    put_text(&o, p->origin);
    put_text(&o, p->idem_key);
    put_num(&o, p->user_id);
    put_text(&o, p->phone);
    put_text(&o, p->meter_id);
    put_num(&o, p->amount);
    put_num(&o, p->energy);
    put_text(&o, p->account_reference);
    put_text(&o, p->description);
    put_num(&o, p->next_at);
    put_num(&o, p->created_at);
    put_text(&o, p->provider);
    put_text(&o, p->reference);
    put_num(&o, p->liters);
    put_text(&o, p->currency);
    if (o.full)
        return 0;
    out[o.len - 1] = '\n'; /* the last field's tab */
    char head[21];
    snprintf(head, sizeof head, "P1\t%016" PRIx64 "\t", str_fnv1a(out + 20, o.len - 20));
    memcpy(out, head, 20);
    out[o.len] = '\0';
    return o.len;
}

/* Unescapes s[0..n) into dst; false when it does not fit or is malformed. */
static bool get_text(const char *s, size_t n, char *dst, size_t dstsz)
{
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (c == '%') {
            int hi = i + 2 < n ? str_hexval(s[i + 1]) : -1, lo = i + 2 < n ? str_hexval(s[i + 2]) : -1;
            if (hi < 0 || lo < 0)
                return false;
            c = (char)(hi * 16 + lo);
            i += 2;
        }
        if (k + 1 >= dstsz)
            return false;
        dst[k++] = c;
    }
    dst[k] = '\0';
    return true;
}

static bool get_num(const char *s, size_t n, int64_t *v)
{
    char num[24];
    return n < sizeof num && get_text(s, n, num, sizeof num) && str_to_i64(num, INT64_MIN, INT64_MAX, v);
}

bool intake_decode(const char *line, size_t len, struct payment *p)
{
    if (len == 0 || line[len - 1] != '\n') /* torn: the writer never finished it */
        return false;
    len--;
    if (len < 22 || memcmp(line, "P1\t", 3) != 0 || line[19] != '\t')
        return false;
    uint64_t want = 0;
    for (int i = 3; i < 19; i++) {
        int h = str_hexval(line[i]);
        if (h < 0)
            return false;
        want = want * 16 + (uint64_t)h;
    }
    /* the hash covers the fields and the newline after them */
    const char *body = line + 20;
    size_t blen = len - 20;
    if (str_fnv1a(body, blen + 1) != want)
        return false;
    const char *f[FIELDS];
    size_t fl[FIELDS];
    int nf = 0;
    const char *s = body, *end = body + blen;
    while (nf < FIELDS) {
        const char *tab = memchr(s, '\t', (size_t)(end - s));
        const char *stop = tab ? tab : end;
        f[nf] = s;
        fl[nf++] = (size_t)(stop - s);
        if (!tab)
            break;
        s = tab + 1;
    }
    if (nf != FIELDS || f[FIELDS - 1] + fl[FIELDS - 1] != end)
        return false;
    memset(p, 0, sizeof *p);
    return get_text(f[0], fl[0], p->kind, sizeof p->kind) && get_text(f[1], fl[1], p->origin, sizeof p->origin) &&
           get_text(f[2], fl[2], p->idem_key, sizeof p->idem_key) && get_num(f[3], fl[3], &p->user_id) &&
           get_text(f[4], fl[4], p->phone, sizeof p->phone) && get_text(f[5], fl[5], p->meter_id, sizeof p->meter_id) &&
           get_num(f[6], fl[6], &p->amount) && get_num(f[7], fl[7], &p->energy) &&
           get_text(f[8], fl[8], p->account_reference, sizeof p->account_reference) &&
           get_text(f[9], fl[9], p->description, sizeof p->description) && get_num(f[10], fl[10], &p->next_at) &&
           get_num(f[11], fl[11], &p->created_at) && get_text(f[12], fl[12], p->provider, sizeof p->provider) &&
           get_text(f[13], fl[13], p->reference, sizeof p->reference) && get_num(f[14], fl[14], &p->liters) &&
           get_text(f[15], fl[15], p->currency, sizeof p->currency);
}

/* ---- the files ---- */

struct intake *intake_open(const char *db_path, char *err, size_t errsz)
{
    struct intake *in = calloc(1, sizeof *in);
    if (!in) {
        snprintf(err, errsz, "intake: out of memory");
        return NULL;
    }
    pthread_mutex_init(&in->lock, NULL);
    in->fd[0] = in->fd[1] = -1;
    for (int i = 0; i < 2; i++) {
        size_t n = strlen(db_path) + 16;
        struct stat stt;
        if (!(in->path[i] = malloc(n))) {
            snprintf(err, errsz, "intake: out of memory");
            intake_close(in);
            return NULL;
        }
        snprintf(in->path[i], n, "%s-intake.%d", db_path, i);
        in->fd[i] = open(in->path[i], O_RDWR | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
        if (in->fd[i] < 0 || fstat(in->fd[i], &stt) != 0) {
            snprintf(err, errsz, "intake: cannot open %s: %s", in->path[i], strerror(errno));
            intake_close(in);
            return NULL;
        }
        in->size[i] = stt.st_size;
    }
    return in;
}

void intake_close(struct intake *in)
{
    if (!in)
        return;
    for (int i = 0; i < 2; i++) {
        if (in->fd[i] >= 0)
            close(in->fd[i]);
        free(in->path[i]);
    }
    pthread_mutex_destroy(&in->lock);
    free(in);
}

/* Empties file i (under the lock); false when the system refused. */
static bool empty(struct intake *in, int i)
{
    if (ftruncate(in->fd[i], 0) != 0) {
        log_error("store.intake_truncate_failed", "file=%s errno=%d", in->path[i], errno);
        return false;
    }
    in->size[i] = 0;
    in->added[i] = in->done[i] = 0;
    return true;
}

int intake_add(struct intake *in, const struct payment *p)
{
    char line[INTAKE_LINE_MAX];
    size_t n = intake_encode(p, line, sizeof line);
    return n ? intake_add_line(in, line, n) : -1;
}

int intake_add_line(struct intake *in, const char *line, size_t n)
{
    pthread_mutex_lock(&in->lock);
    int other = 1 - in->cur;
    if (in->size[in->cur] >= ROTATE_BYTES && in->size[other] == 0) /* empty: nothing waits in it */
        in->cur = other;
    int t = in->cur;
    size_t off = 0;
    while (off < n) {
        ssize_t w = write(in->fd[t], line + off, n - off);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            break;
        off += (size_t)w;
    }
    if (off < n) { /* a torn line would spoil the next one: cut it off */
        log_error("store.intake_write_failed", "file=%s errno=%d", in->path[t], errno);
        if (off && ftruncate(in->fd[t], in->size[t]) != 0)
            log_error("store.intake_truncate_failed", "file=%s errno=%d", in->path[t], errno);
        pthread_mutex_unlock(&in->lock);
        return -1;
    }
    in->size[t] += (off_t)n;
    in->added[t]++;
    pthread_mutex_unlock(&in->lock);
    return t;
}

void intake_done(struct intake *in, int t)
{
    if (t < 0 || t > 1)
        return;
    pthread_mutex_lock(&in->lock);
    in->done[t]++;
    /* every line of the file is settled: empty it when it is not the
     * current one, or is but has grown (emptying costs a system call) */
    if (in->done[t] == in->added[t] && (t != in->cur || in->size[t] >= ROTATE_BYTES / 4))
        empty(in, t);
    pthread_mutex_unlock(&in->lock);
}

/* Reads file i whole; NULL (and *n 0) for an empty file. */
static char *slurp(struct intake *in, int i, size_t *n, bool *failed)
{
    *n = 0;
    *failed = false;
    if (in->size[i] == 0)
        return NULL;
    char *data = malloc((size_t)in->size[i] + 1);
    if (!data) {
        *failed = true;
        return NULL;
    }
    size_t got = 0;
    while (got < (size_t)in->size[i]) {
        ssize_t r = pread(in->fd[i], data + got, (size_t)in->size[i] - got, (off_t)got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        got += (size_t)r;
    }
    if (got != (size_t)in->size[i]) {
        log_error("store.intake_read_failed", "file=%s errno=%d", in->path[i], errno);
        free(data);
        *failed = true;
        return NULL;
    }
    *n = got;
    return data;
}

int intake_replay(struct intake *in, void (*each)(void *ctx, struct payment *p, int ticket), void *ctx, int *skipped)
{
    int count = 0;
    *skipped = 0;
    for (int i = 0; i < 2; i++) {
        size_t n;
        bool failed;
        char *data = slurp(in, i, &n, &failed);
        if (failed)
            return -1;
        for (size_t at = 0; at < n;) {
            const char *nl = memchr(data + at, '\n', n - at);
            size_t len = nl ? (size_t)(nl - (data + at)) + 1 : n - at;
            struct payment p;
            if (nl && len <= INTAKE_LINE_MAX && intake_decode(data + at, len, &p)) {
                pthread_mutex_lock(&in->lock);
                in->added[i]++;
                pthread_mutex_unlock(&in->lock);
                each(ctx, &p, i);
                count++;
            } else {
                (*skipped)++;
            }
            at += len;
        }
        free(data);
    }
    return count;
}

void intake_tidy(struct intake *in)
{
    pthread_mutex_lock(&in->lock);
    for (int i = 0; i < 2; i++)
        if (in->size[i] > 0 && in->done[i] == in->added[i])
            empty(in, i);
    /* new lines go after what is still waiting, in the file that has it */
    in->cur = in->size[0] == 0 && in->size[1] > 0 ? 1 : 0;
    pthread_mutex_unlock(&in->lock);
}

/* ---- copies, for a backup ---- */

/* Reads the file at path whole into *data (to free; *n bytes); false with
 * errno set. A missing file reads as absent (*data NULL). */
static bool read_whole(const char *path, char **data, size_t *n)
{
    *data = NULL;
    *n = 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return errno == ENOENT;
    size_t cap = 0;
    char *p = NULL;
    bool ok = true;
    for (;;) {
        if (*n == cap) {
            size_t ncap = cap ? cap * 2 : 64 * 1024;
            char *q = realloc(p, ncap);
            if (!q) {
                errno = ENOMEM;
                ok = false;
                break;
            }
            p = q;
            cap = ncap;
        }
        ssize_t r = read(fd, p + *n, cap - *n);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            ok = false;
            break;
        }
        if (r == 0)
            break;
        *n += (size_t)r;
    }
    int saved = errno;
    close(fd);
    errno = saved;
    if (!ok) {
        free(p);
        *n = 0;
        return false;
    }
    *data = p ? p : malloc(1);
    return *data != NULL;
}

void intake_copy_remove(const char *out_path)
{
    for (int i = 0; i < 2; i++) {
        char path[1100];
        snprintf(path, sizeof path, "%s-intake.%d", out_path, i);
        unlink(path);
    }
}

bool intake_copy(const char *db_path, const char *out_path, int64_t *lines, char *err, size_t errsz)
{
    *lines = 0;
    for (int i = 0; i < 2; i++) {
        char from[1100], to[1100];
        snprintf(from, sizeof from, "%s-intake.%d", db_path, i);
        snprintf(to, sizeof to, "%s-intake.%d", out_path, i);
        char *data;
        size_t n;
        if (!read_whole(from, &data, &n)) {
            snprintf(err, errsz, "cannot read %s: %s", from, strerror(errno));
            return false;
        }
        if (!data) /* no intake beside the database: nothing waits */
            continue;
        /* whole lines only: the last one may be half written */
        size_t whole = n;
        while (whole > 0 && data[whole - 1] != '\n')
            whole--;
        for (size_t at = 0; at < whole;) {
            const char *nl = memchr(data + at, '\n', whole - at);
            size_t len = (size_t)(nl - (data + at)) + 1;
            struct payment p;
            if (len <= INTAKE_LINE_MAX && intake_decode(data + at, len, &p))
                (*lines)++;
            at += len;
        }
        int fd = open(to, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
        bool ok = fd >= 0;
        for (size_t off = 0; ok && off < whole;) {
            ssize_t w = write(fd, data + off, whole - off);
            if (w < 0 && errno == EINTR)
                continue;
            ok = w > 0;
            if (ok)
                off += (size_t)w;
        }
        ok = ok && fsync(fd) == 0;
        int saved = errno;
        if (fd >= 0)
            close(fd);
        free(data);
        if (!ok) {
            snprintf(err, errsz, "cannot write %s: %s", to, strerror(saved));
            return false;
        }
    }
    return true;
}
