/* fuzz: what the fuzz harnesses in tests/fuzz/ share. Each harness is one
 * file that defines LLVMFuzzerTestOneInput (and, when it needs set-up done
 * once, LLVMFuzzerInitialize). `make fuzz` links it with libFuzzer under
 * clang; `make check` links the same file with replay.c under the normal
 * compiler and runs every kept corpus and crash file through it.
 *
 * Both builds link fuzz.c with `-Wl,--wrap=` log_event, httpc_do and
 * http_header: log lines are dropped (a fuzzer runs millions of inputs),
 * except events the code logs as its own bug, which abort; no harness can
 * reach the network: a provider client's request gets the answers a
 * harness queued with fuzz_http_answer, or "no answer" when none is
 * queued; and a handler called with a request of the harness's making
 * (no connection) reads the header set with fuzz_http_header. */
#ifndef LIPA_FUZZ_H
#define LIPA_FUZZ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

/* A broken invariant: says which and where, then aborts (libFuzzer keeps
 * the input as a crash; the replay counts the file as failed). */
#define FUZZ_CHECK(cond, ...)                                                    \
    do {                                                                         \
        if (!(cond)) {                                                           \
            fprintf(stderr, "fuzz: %s:%d: check failed: %s: ", __FILE__, __LINE__, #cond); \
            fprintf(stderr, __VA_ARGS__);                                        \
            fputc('\n', stderr);                                                 \
            abort();                                                             \
        }                                                                        \
    } while (0)

/* The input as a sequence of fields: a byte, or the bytes up to a
 * separator. Nothing here allocates; an exhausted input gives zeros and
 * empty fields, so a harness never has to check for the end. */
struct fuzz_in {
    const uint8_t *p;
    size_t n;
};

static inline uint8_t fuzz_byte(struct fuzz_in *in)
{
    if (!in->n)
        return 0;
    in->n--;
    return *in->p++;
}

/* The bytes up to sep (consumed, not included) or the end, copied into
 * out (NUL-terminated, cut to outsz - 1); returns the length copied. */
static inline size_t fuzz_field(struct fuzz_in *in, uint8_t sep, char *out, size_t outsz)
{
    size_t k = 0;
    while (in->n) {
        uint8_t c = fuzz_byte(in);
        if (c == sep)
            break;
        if (k + 1 < outsz)
            out[k++] = (char)c;
    }
    if (outsz)
        out[k] = 0;
    return k;
}

/* The input as a NUL-terminated string (malloc'ed; NULs inside stay and
 * end the C string early, which is what a C caller would see). */
char *fuzz_strdup(const uint8_t *data, size_t size);

/* Queues one HTTP answer for the next httpc_do call (status 0: no answer,
 * a transport error). Answers are used in order; fuzz_http_reset drops
 * what is left. fuzz_http_calls counts the requests made since the reset. */
void fuzz_http_answer(long status, const char *body, size_t len);
void fuzz_http_reset(void);
int fuzz_http_calls(void);

/* The one request header a handler sees (name compared without case);
 * value NULL: none. Both are borrowed until the next call. */
void fuzz_http_header(const char *name, const char *value);

#endif
