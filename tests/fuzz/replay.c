/* replay: runs a fuzz harness over kept inputs without libFuzzer, so `make
 * check` holds every corpus and crash file to the harness's checks under
 * the normal compiler with ASan+UBSan. Arguments are files, or directories
 * whose files (recursively, in name order) are each one input.
 *
 * Each input runs in a child of its own, as Check runs its tests: a crash,
 * a sanitizer report, a leak or a hang (REPLAY_TIMEOUT seconds) fails that
 * input, names it, and the others still run. The last line is a Check-style
 * summary that tools/run-tests.sh reads:
 *   100%: Checks: 57, Failures: 0, Errors: 0
 * A missing argument is an error (a corpus directory that vanished must not
 * pass as zero inputs); an empty directory is fine (crashes/<target>/). */
#include "fuzz.h"

#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define REPLAY_TIMEOUT 60
#define REPLAY_MAX_INPUT (16u << 20)

/* LLVMFuzzerInitialize is optional for a harness. */
__attribute__((weak)) int LLVMFuzzerInitialize(int *argc, char ***argv);

struct tally {
    int checks, failures, errors;
};

static int by_name(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Runs one input in this process; the child's exit status is the verdict. */
static int run_input(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "replay: %s: %s\n", path, strerror(errno));
        return 2;
    }
    uint8_t *data = malloc(REPLAY_MAX_INPUT);
    size_t n = data ? fread(data, 1, REPLAY_MAX_INPUT, f) : 0;
    bool whole = data && feof(f) && !ferror(f);
    fclose(f);
    if (!whole) {
        fprintf(stderr, "replay: %s: unreadable or over %u bytes\n", path, REPLAY_MAX_INPUT);
        free(data);
        return 2;
    }
    /* a copy of exactly n bytes, so ASan sees a read past the input */
    uint8_t *copy = malloc(n ? n : 1);
    if (!copy)
        return 2;
    memcpy(copy, data, n);
    free(data);
    LLVMFuzzerTestOneInput(copy, n);
    free(copy);
    return 0;
}

static void run_file(const char *path, struct tally *t)
{
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0) {
        fprintf(stderr, "replay: %s: fork: %s\n", path, strerror(errno));
        t->checks++;
        t->errors++;
        return;
    }
    if (pid == 0) {
        alarm(REPLAY_TIMEOUT);
        exit(run_input(path)); /* exit, not _exit: LeakSanitizer runs at exit */
    }
    int st = 0;
    while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
        ;
    t->checks++;
    if (WIFEXITED(st) && WEXITSTATUS(st) == 0)
        return;
    if (WIFSIGNALED(st) && WTERMSIG(st) == SIGALRM)
        fprintf(stderr, "replay: %s: FAILED: no result within %d s\n", path, REPLAY_TIMEOUT);
    else if (WIFSIGNALED(st))
        fprintf(stderr, "replay: %s: FAILED: signal %d\n", path, WTERMSIG(st));
    else
        fprintf(stderr, "replay: %s: FAILED: exit %d\n", path, WEXITSTATUS(st));
    t->failures++;
}

static void run_path(const char *path, struct tally *t)
{
    struct stat st;
    if (stat(path, &st) != 0) {
        fprintf(stderr, "replay: %s: %s\n", path, strerror(errno));
        t->checks++;
        t->errors++;
        return;
    }
    if (!S_ISDIR(st.st_mode)) {
        run_file(path, t);
        return;
    }
    DIR *d = opendir(path);
    if (!d) {
        fprintf(stderr, "replay: %s: %s\n", path, strerror(errno));
        t->checks++;
        t->errors++;
        return;
    }
    char **names = NULL;
    size_t n = 0, cap = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.') /* ., .., and dot files such as .gitkeep */
            continue;
        if (n == cap) {
            cap = cap ? cap * 2 : 64;
            char **grown = realloc(names, cap * sizeof *names);
            if (!grown)
                abort();
            names = grown;
        }
        size_t len = strlen(path) + strlen(e->d_name) + 2;
        if (!(names[n] = malloc(len)))
            abort();
        snprintf(names[n++], len, "%s/%s", path, e->d_name);
    }
    closedir(d);
    if (n)
        qsort(names, n, sizeof *names, by_name);
    for (size_t i = 0; i < n; i++) {
        run_path(names[i], t);
        free(names[i]);
    }
    free(names);
}

int main(int argc, char **argv)
{
    struct tally t = {0};
    if (argc < 2) {
        fprintf(stderr, "usage: %s FILE|DIR...\n", argv[0]);
        return 2;
    }
    if (LLVMFuzzerInitialize)
        LLVMFuzzerInitialize(&argc, &argv);
    for (int i = 1; i < argc; i++)
        run_path(argv[i], &t);
    int pass = t.checks - t.failures - t.errors;
    printf("%d%%: Checks: %d, Failures: %d, Errors: %d\n", t.checks ? pass * 100 / t.checks : 100, t.checks,
           t.failures, t.errors);
    return t.failures || t.errors ? 1 : 0;
}
