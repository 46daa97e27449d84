/* fuzz: the wrapped log and HTTP client every harness links with; see
 * fuzz.h. */
#include "fuzz.h"

#include "http/server.h"
#include "util/httpc.h"
#include "util/log.h"

#include <stdarg.h>
#include <string.h>
#include <strings.h>

/* Events the code logs when one of its own guarantees failed: a fuzzer
 * that makes one has found a bug even though nothing crashed. */
static const char *const bug_events[] = {
    "ussd.overlong", /* the engine cut a screen the menu checker proved fits */
    NULL,
};

void __real_log_event(enum log_level lvl, const char *event, const char *fmt, ...);
void __wrap_log_event(enum log_level lvl, const char *event, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

void __wrap_log_event(enum log_level lvl, const char *event, const char *fmt, ...)
{
    (void)lvl;
    for (int i = 0; bug_events[i]; i++) {
        if (strcmp(event, bug_events[i]))
            continue;
        va_list ap;
        va_start(ap, fmt);
        fprintf(stderr, "fuzz: the code logged its own bug: %s ", event);
        vfprintf(stderr, fmt, ap);
        fputc('\n', stderr);
        va_end(ap);
        abort();
    }
}

char *fuzz_strdup(const uint8_t *data, size_t size)
{
    char *s = malloc(size + 1);
    if (!s)
        abort();
    if (size)
        memcpy(s, data, size);
    s[size] = 0;
    return s;
}

/* ---- the provider side of httpc_do ---- */

#define ANSWERS_MAX 8

static struct {
    long status;
    char *body;
    size_t len;
} answers[ANSWERS_MAX];
static int nanswers, next_answer, calls;

void fuzz_http_reset(void)
{
    for (int i = 0; i < nanswers; i++)
        free(answers[i].body);
    nanswers = next_answer = calls = 0;
}

void fuzz_http_answer(long status, const char *body, size_t len)
{
    if (nanswers == ANSWERS_MAX)
        abort(); /* a harness queues at most ANSWERS_MAX */
    answers[nanswers].status = status;
    answers[nanswers].body = fuzz_strdup((const uint8_t *)body, len);
    answers[nanswers].len = len;
    nanswers++;
}

int fuzz_http_calls(void) { return calls; }

bool __wrap_httpc_do(const struct httpc_req *req, struct httpc_resp *resp);
bool __wrap_httpc_do(const struct httpc_req *req, struct httpc_resp *resp)
{
    (void)req;
    memset(resp, 0, sizeof *resp);
    buf_init(&resp->body, 0);
    calls++;
    if (next_answer == nanswers || !answers[next_answer].status) {
        if (next_answer < nanswers)
            next_answer++;
        snprintf(resp->error, sizeof resp->error, "fuzz: no answer");
        return false;
    }
    resp->status = answers[next_answer].status;
    buf_append(&resp->body, answers[next_answer].body, answers[next_answer].len);
    next_answer++;
    return true;
}

/* ---- request headers ---- */

static const char *hdr_name, *hdr_value;

void fuzz_http_header(const char *name, const char *value)
{
    hdr_name = name;
    hdr_value = value;
}

const char *__real_http_header(const struct http_req *req, const char *name);
const char *__wrap_http_header(const struct http_req *req, const char *name);
const char *__wrap_http_header(const struct http_req *req, const char *name)
{
    if (req->conn) /* a real connection: not one of ours */
        return __real_http_header(req, name);
    return hdr_name && hdr_value && !strcasecmp(name, hdr_name) ? hdr_value : NULL;
}
