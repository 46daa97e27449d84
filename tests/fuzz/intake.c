/* fuzz target intake: the store's intake files as a killed lipad leaves
 * them (src/store/intake.c), read back at the next start.
 *
 * Input: the text of PATH-intake.0; a line "==1==" starts PATH-intake.1. A
 * line's FNV-1a hash, which a mutated line would almost never match, may
 * be written as sixteen '#': the harness puts the right hash there, so the
 * fuzzer reaches the fields (a line with a wrong hash is kept as it is).
 * A first line "store" runs the whole restore of store_open (each whole
 * line stored in one transaction, on a database with one caller and one
 * meter); without it the files go through intake_replay and intake_tidy
 * alone, much faster (store_open builds the whole session table: 71
 * inputs a second in the fuzzing build, 300 to 800 for the mix).
 *
 * Checks: a line that decodes encodes to a line that decodes to the same
 * purchase; intake_replay hands over exactly the whole lines that decode,
 * in order, counts every other line as skipped, and once each is settled
 * the files are emptied. store_open never fails on what the files hold,
 * empties them, and leaves no whole purchase behind: creating any decoded
 * purchase again afterwards finds it stored (ST_CONFLICT) or refused for
 * good (ST_NOT_FOUND: no such caller or meter, amount not above 0). */
#include "fuzz.h"

#include "store/intake.h"
#include "store/meters.h"
#include "store/payments.h"
#include "store/store.h"
#include "store/users.h"
#include "util/str.h"

#include <ftw.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define LINES_MAX 64

static char dir[256], template_db[320], work_db[320], intake_path[2][340];
static pid_t owner;

static int rm_one(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb, (void)flag, (void)ftw;
    remove(path);
    return 0;
}

static void cleanup(void)
{
    if (getpid() == owner) /* not the replay's children: they share dir */
        nftw(dir, rm_one, 8, FTW_DEPTH | FTW_PHYS);
}

static const char *migrations(void)
{
    const char *m = getenv("LIPA_MIGRATIONS");
    return m && *m ? m : "db";
}

static void copy_file(const char *from, const char *to)
{
    FILE *in = fopen(from, "rb"), *out = fopen(to, "wb");
    FUZZ_CHECK(in && out, "copy %s to %s", from, to);
    char b[65536];
    size_t n;
    while ((n = fread(b, 1, sizeof b, in)) > 0)
        FUZZ_CHECK(fwrite(b, 1, n, out) == n, "write %s", to);
    fclose(in);
    fclose(out);
}

/* One caller (user 1, +254712345678) with one meter (37000000001). */
int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc, (void)argv;
    const char *base = getenv("TMPDIR");
    snprintf(dir, sizeof dir, "%s/lipa-fuzz-intake-XXXXXX", base && *base ? base : "/tmp");
    FUZZ_CHECK(mkdtemp(dir), "mkdtemp %s", dir);
    owner = getpid();
    atexit(cleanup);
    snprintf(template_db, sizeof template_db, "%s/template.db", dir);
    snprintf(work_db, sizeof work_db, "%s/work.db", dir);
    for (int i = 0; i < 2; i++)
        snprintf(intake_path[i], sizeof intake_path[i], "%s-intake.%d", work_db, i);
    char err[512];
    struct store *st = store_open(template_db, migrations(), err, sizeof err);
    FUZZ_CHECK(st, "store_open: %s (run from the repository root)", err);
    struct user u = {.role = "USER", .language = "en"};
    str_copy(u.phone, sizeof u.phone, "+254712345678");
    FUZZ_CHECK(store_user_create(st, &u) == ST_OK && u.id == 1, "user");
    struct meter m = {.active = true, .price_per_kwh = 2500};
    str_copy(m.id, sizeof m.id, "37000000001");
    str_copy(m.device_id, sizeof m.device_id, "bf37000000001");
    FUZZ_CHECK(store_meter_create(st, &m) == ST_OK, "meter");
    FUZZ_CHECK(store_assign(st, 1, "37000000001", NULL) == ST_OK, "assign");
    store_close(st);
    char wal[340];
    snprintf(wal, sizeof wal, "%s-wal", template_db);
    FUZZ_CHECK(access(wal, F_OK) != 0, "the template kept a WAL");
    return 0;
}

/* Puts the right hash into a line whose hash is sixteen '#'. */
static void sign(char *line, size_t len)
{
    if (len < 21 || line[len - 1] != '\n' || memcmp(line, "P1\t################\t", 20))
        return;
    char hex[17];
    snprintf(hex, sizeof hex, "%016llx", (unsigned long long)str_fnv1a(line + 20, len - 20));
    memcpy(line + 3, hex, 16);
}

static bool same(const struct payment *a, const struct payment *b)
{
    return !strcmp(a->kind, b->kind) && !strcmp(a->origin, b->origin) && !strcmp(a->idem_key, b->idem_key) &&
           a->user_id == b->user_id && !strcmp(a->phone, b->phone) && !strcmp(a->meter_id, b->meter_id) &&
           a->amount == b->amount && a->energy == b->energy &&
           !strcmp(a->account_reference, b->account_reference) && !strcmp(a->description, b->description) &&
           a->next_at == b->next_at && a->created_at == b->created_at && !strcmp(a->provider, b->provider) &&
           !strcmp(a->reference, b->reference) && a->liters == b->liters && !strcmp(a->currency, b->currency);
}

static void check_emptied(void)
{
    for (int f = 0; f < 2; f++) {
        struct stat sb;
        FUZZ_CHECK(stat(intake_path[f], &sb) == 0 && sb.st_size == 0, "intake.%d not emptied (%lld bytes)", f,
                   (long long)sb.st_size);
    }
}

struct replayed {
    struct intake *in;
    const struct payment *want;
    int nwant, n, tickets[2];
};

static void each(void *ctx, struct payment *p, int ticket)
{
    struct replayed *r = ctx;
    FUZZ_CHECK(ticket == 0 || ticket == 1, "ticket %d", ticket);
    FUZZ_CHECK(r->n >= r->nwant || same(p, &r->want[r->n]), "line %d read otherwise", r->n);
    r->n++;
    r->tickets[ticket]++;
}

/* The files through intake_replay alone, as store_open would use it. */
static void replay_files(const struct payment *decoded, int ndecoded, int nlines)
{
    char err[512];
    struct intake *in = intake_open(work_db, err, sizeof err);
    FUZZ_CHECK(in, "intake_open: %s", err);
    struct replayed r = {.in = in, .want = decoded, .nwant = ndecoded};
    int skipped = -1;
    int n = intake_replay(in, each, &r, &skipped);
    FUZZ_CHECK(n == r.n && (n == ndecoded || ndecoded == LINES_MAX), "%d read, %d whole lines", n, ndecoded);
    FUZZ_CHECK(n + skipped == nlines, "%d read and %d skipped of %d lines", n, skipped, nlines);
    for (int t = 0; t < 2; t++)
        for (int i = 0; i < r.tickets[t]; i++)
            intake_done(in, t);
    intake_tidy(in);
    intake_close(in);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct payment decoded[LINES_MAX];
    int ndecoded = 0, nlines = 0;
    bool whole_store = size >= 6 && !memcmp(data, "store\n", 6);
    if (whole_store)
        data += 6, size -= 6;
    char *text = malloc(size + 1);
    FUZZ_CHECK(text, "out of memory");
    memcpy(text, data, size);
    text[size] = 0;

    /* the two files, and each line signed where asked */
    size_t split = size, rest = size;
    for (size_t i = 0; i + 6 <= size; i++)
        if ((i == 0 || text[i - 1] == '\n') && !memcmp(text + i, "==1==\n", 6)) {
            split = i;
            rest = i + 6;
            break;
        }
    const char *part[2] = {text, text + rest};
    size_t plen[2] = {split, size - rest};
    for (int f = 0; f < 2; f++) {
        char *p = (char *)part[f];
        for (size_t at = 0; at < plen[f];) {
            char *nl = memchr(p + at, '\n', plen[f] - at);
            size_t len = nl ? (size_t)(nl - (p + at)) + 1 : plen[f] - at;
            sign(p + at, len);
            /* the line alone, so a read past it is caught */
            char *line = malloc(len ? len : 1);
            FUZZ_CHECK(line, "out of memory");
            memcpy(line, p + at, len);
            struct payment q, r;
            nlines++;
            if (intake_decode(line, len, &q)) {
                char again[2048];
                size_t n = intake_encode(&q, again, sizeof again);
                FUZZ_CHECK(n > 0, "a decoded purchase does not encode");
                FUZZ_CHECK(intake_decode(again, n, &r) && same(&q, &r), "round trip changed it: %s", again);
                if (ndecoded < LINES_MAX && len <= 2048) /* the reader's limit of a line */
                    decoded[ndecoded++] = q;
            }
            free(line);
            at += len;
        }
    }

    /* the restore */
    for (int f = 0; f < 2; f++) {
        FILE *out = fopen(intake_path[f], "wb");
        FUZZ_CHECK(out && fwrite(part[f], 1, plen[f], out) == plen[f], "write %s", intake_path[f]);
        fclose(out);
    }
    if (!whole_store) {
        replay_files(decoded, ndecoded, nlines);
        check_emptied();
        goto out;
    }
    remove(work_db);
    copy_file(template_db, work_db);
    char err[512];
    struct store *st = store_open(work_db, migrations(), err, sizeof err);
    FUZZ_CHECK(st, "store_open refused the intake: %s", err);
    check_emptied();
    for (int i = 0; i < ndecoded; i++) {
        struct payment q = decoded[i];
        if (!q.idem_key[0])
            continue; /* never written: store_take_payment needs one */
        enum store_rc rc = store_payment_create(st, &q);
        FUZZ_CHECK(rc == ST_CONFLICT || rc == ST_NOT_FOUND, "purchase %s was not restored (%d)", decoded[i].idem_key,
                   rc);
    }
    store_close(st);
out:
    for (int f = 0; f < 2; f++)
        remove(intake_path[f]);
    free(text);
    return 0;
}
