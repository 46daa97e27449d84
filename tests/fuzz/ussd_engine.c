/* fuzz target ussd_engine: the USSD engine (src/ussd/engine.c) on the
 * shipped menus (menus/), driven hop by hop as the Africa's Talking handler
 * drives it: every hop goes through the session's text form first, a size
 * picked from the water menu is priced before its screen is shown again,
 * and a fake host plays the store and the actions, as the real one does
 * (meters of up to 64-byte ids and names, the same limits and messages).
 *
 * Input: a first line, then the caller's inputs joined by '*' as AT sends
 * them in `text`. The first line is up to three characters, then
 * optionally a blank and the caller's meters as "ID/NAME|ID/NAME|...":
 *   1st  's' for a Swahili caller, anything else English
 *   2nd  how many meters: '0'-'9', 'a'-'z' (10, 13, ... 85), 'Z' (90, the
 *        most a list shows), '-' when the meter list fails
 *   3rd  what goes wrong, as bits of (c & 31): 1 buying electricity is
 *        refused, 2 buying water is, 4 resending a code is, 8 validations
 *        answer a key their built-in does not declare, 16 walk: the same
 *        inputs are also walked (ussd_walk, as a rebuilt session is) and
 *        must end on the same screen, session and side effects
 * Meters the list names run out are "M-0001", "Nyumba 1" and so on; an id
 * that is not 1-64 of [A-Za-z0-9_-] or a name that is not clean UTF-8 of
 * at most 64 bytes (what POST /devices accepts) is replaced the same way.
 *
 * Checks, on every screen: "CON " or "END " first and END exactly when the
 * engine says so; GSM-7 only; at most 160 characters and septets with the
 * prefix; never cut to fit (the engine logs ussd_overlong, which aborts
 * here); a waiting screen with somewhere to go back to ends with its
 * back/home hint. After every hop the session encodes and decodes to
 * itself; the meter an action is asked about is one of the caller's, by
 * its whole id. Walking and stepping agree. */
#include "fuzz.h"

#include "ussd/ussd.h"
#include "util/gsm.h"
#include "util/str.h"

#include <string.h>

#define INPUTS_MAX 40
#define METERS_MAX USSD_LIST_MAX
#define PHONE "+254712345678"

static struct ussd_menus *menus;

struct host {
    int nmeters;                      /* -1: the list fails */
    char id[METERS_MAX][65], name[METERS_MAX][65];
    unsigned faults;
    int buys, validates, langs, resends, lists;
};

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc, (void)argv;
    struct buf errors;
    buf_init(&errors, 0);
    const char *dir = getenv("LIPA_MENUS");
    menus = ussd_menus_load(dir && *dir ? dir : "menus", &errors);
    FUZZ_CHECK(menus, "the shipped menus do not load (run from the repository root):\n%s",
               errors.data ? errors.data : "");
    buf_free(&errors);
    return 0;
}

static bool caller_meter(const struct host *h, const char *id)
{
    for (int i = 0; id && i < h->nmeters; i++)
        if (!strcmp(h->id[i], id))
            return true;
    return false;
}

/* As the real host: the caller's meters (id, and name or id), or water
 * codes labelled without their digits. */
static int host_list(void *ctx, const char *source, const char *phone, struct ussd_item *items, int max)
{
    struct host *h = ctx;
    FUZZ_CHECK(!strcmp(phone, PHONE), "phone %s", phone);
    h->lists++;
    if (h->nmeters < 0)
        return -1;
    int n = h->nmeters < max ? h->nmeters : max;
    for (int i = 0; i < n; i++) {
        if (!strcmp(source, "codes")) {
            snprintf(items[i].id, sizeof items[i].id, "WS-1764000000%03d-AB12CD%02d", i, i % 100);
            snprintf(items[i].label, sizeof items[i].label, "%d L, ends in %d min", 20 * (i + 1), 9 - i % 10);
        } else {
            FUZZ_CHECK(!strcmp(source, "meters"), "source %s", source);
            str_copy(items[i].id, sizeof items[i].id, h->id[i]);
            str_copy(items[i].label, sizeof items[i].label, h->name[i][0] ? h->name[i] : h->id[i]);
        }
    }
    return n;
}

static void set_num(struct ussd_session *s, const char *key, int64_t v)
{
    char t[24];
    snprintf(t, sizeof t, "%lld", (long long)v);
    ussd_var_set(s, key, t);
}

static const char *host_action(void *ctx, const char *name, const char *phone, const char *sid,
                               struct ussd_session *s)
{
    struct host *h = ctx;
    int64_t n;
    FUZZ_CHECK(!strcmp(phone, PHONE) && !strcmp(sid, "ATUid_fuzz"), "phone %s session %s", phone, sid);
    if (!strcmp(name, "electricity_amount")) {
        h->validates++;
        set_num(s, "min", 10);
        set_num(s, "max", 10000);
        if (h->faults & 8)
            return "system_error";
        FUZZ_CHECK(caller_meter(h, ussd_var(s, "meter")), "amount for meter '%s', not the caller's",
                   ussd_var(s, "meter") ? ussd_var(s, "meter") : "(unset)");
        if (!str_to_i64(ussd_var(s, "amount"), 0, 999999999, &n))
            return "amount_invalid";
        if (n < 10 || n > 10000)
            return "amount_range";
        char kwh[24];
        snprintf(kwh, sizeof kwh, "%lld.%02lld", (long long)(n / 25), (long long)(n * 4 % 100));
        ussd_var_set(s, "kwh", kwh);
        return NULL;
    }
    if (!strcmp(name, "buy_electricity")) {
        h->buys++;
        FUZZ_CHECK(caller_meter(h, ussd_var(s, "meter")), "buying for meter '%s', not the caller's",
                   ussd_var(s, "meter") ? ussd_var(s, "meter") : "(unset)");
        if (h->faults & 1)
            return h->buys % 2 ? "purchase_failed" : "not_assigned";
        return NULL;
    }
    if (!strcmp(name, "set_language")) {
        h->langs++;
        return NULL;
    }
    if (!strcmp(name, "water_amount")) {
        const char *l = ussd_var(s, "liters");
        h->validates++;
        set_num(s, "wmin", 2);
        set_num(s, "wmax", 2000);
        ussd_var_set(s, "wq", l ? l : "");
        if (h->faults & 8)
            return "system_error";
        if (!str_to_i64(l, 1, 99999, &n))
            return "water_invalid";
        if (n < 2 || n > 2000)
            return "water_range";
        set_num(s, "amount", n * 5);
        return NULL;
    }
    if (!strcmp(name, "buy_water")) {
        h->buys++;
        if (!str_to_i64(ussd_var(s, "liters"), 2, 2000, &n) || (h->faults & 2))
            return "water_failed";
        set_num(s, "amount", n * 5);
        return NULL;
    }
    if (!strcmp(name, "resend_code")) {
        static const char *const why[] = {"code_gone", "code_limit", "code_failed"};
        h->resends++;
        FUZZ_CHECK(ussd_var(s, "wref") && !strncmp(ussd_var(s, "wref"), "WS-", 3), "resend of '%s'",
                   ussd_var(s, "wref") ? ussd_var(s, "wref") : "(unset)");
        return h->faults & 4 ? why[h->resends % 3] : NULL;
    }
    FUZZ_CHECK(false, "unknown action %s", name);
    return NULL;
}

/* As the handler: litres picked from the water menu are priced, and the
 * screen shown again with the price. */
static bool requote(struct ussd_session *s)
{
    const char *l = ussd_var(s, "liters"), *wq = ussd_var(s, "wq");
    int64_t n;
    if (!l || (wq && !strcmp(l, wq)))
        return false;
    ussd_var_set(s, "wq", l);
    if (str_to_i64(l, 2, 2000, &n))
        set_num(s, "amount", n * 5);
    else
        ussd_var_set(s, "amount", "?");
    return true;
}

static void check_screen(const struct ussd_session *s, const char *r, bool end)
{
    FUZZ_CHECK(!strncmp(r, "CON ", 4) || !strncmp(r, "END ", 4), "prefix: %s", r);
    FUZZ_CHECK(end == !strncmp(r, "END ", 4), "end %d for: %s", end, r);
    int sept = gsm_septets(r);
    FUZZ_CHECK(sept >= 0, "not GSM-7: %s", r);
    FUZZ_CHECK(sept <= USSD_BUDGET && gsm_chars(r) <= USSD_BUDGET, "%d septets, %zu characters: %s", sept,
               gsm_chars(r), r);
    if (!end && (s->ntrail > 0 || s->page > 0)) {
        const char *last = strrchr(r, '\n');
        FUZZ_CHECK(last, "no hint line: %s", r);
        last++;
        FUZZ_CHECK(!strcmp(last, "0 Back") || !strcmp(last, "0 Back, 00 Home") || !strcmp(last, "0 Rudi") ||
                       !strcmp(last, "0 Rudi, 00 Mwanzo"),
                   "screen does not end with its hints:\n%s", r);
    }
}

static void check_round_trip(const struct ussd_session *s)
{
    static char text[USSD_SESSION_TEXT_MAX], again[USSD_SESSION_TEXT_MAX];
    struct ussd_session t;
    FUZZ_CHECK(ussd_session_encode(s, text, sizeof text), "session does not encode");
    FUZZ_CHECK(ussd_session_decode(&t, text), "the store could not read this session back: %s", text);
    FUZZ_CHECK(ussd_session_encode(&t, again, sizeof again) && !strcmp(text, again), "session changed:\n%s\n%s",
               text, again);
}

struct run {
    char reply[USSD_REPLY_MAX + 1];
    char state[USSD_SESSION_TEXT_MAX];
    bool end;
    int buys, validates, langs, resends;
};

/* The inputs from the first hop on; walk: all but the last walked. */
static void run(struct host *h, const char *lang, char **in, int n, bool walk, struct run *out)
{
    struct ussd_host host = {h, host_list, host_action};
    struct ussd_session s;
    struct buf reply;
    buf_init(&reply, USSD_REPLY_MAX);
    ussd_session_init(&s, lang);
    set_num(&s, "min", 10);
    set_num(&s, "max", 10000);
    h->buys = h->validates = h->langs = h->resends = 0;
    bool seen = !walk || n == 0;
    bool end = (seen ? ussd_step : ussd_walk)(menus, &host, PHONE, "ATUid_fuzz", &s, NULL, &reply);
    if (seen)
        check_screen(&s, reply.data ? reply.data : "", end);
    for (int i = 0; i < n && !end; i++) {
        check_round_trip(&s);
        seen = !walk || i == n - 1;
        end = (seen ? ussd_step : ussd_walk)(menus, &host, PHONE, "ATUid_fuzz", &s, in[i], &reply);
        if (!end && requote(&s))
            FUZZ_CHECK(ussd_show(menus, &host, PHONE, "ATUid_fuzz", &s, s.screen, &reply, !seen, &end),
                       "screen %s gone", s.screen);
        if (seen)
            check_screen(&s, reply.data ? reply.data : "", end);
        else
            FUZZ_CHECK(end || !reply.len, "a walked screen was composed: %s", reply.data);
    }
    check_round_trip(&s);
    str_copy(out->reply, sizeof out->reply, reply.data ? reply.data : "");
    FUZZ_CHECK(ussd_session_encode(&s, out->state, sizeof out->state), "session does not encode");
    out->end = end;
    out->buys = h->buys, out->validates = h->validates, out->langs = h->langs, out->resends = h->resends;
    buf_free(&reply);
}

static bool id_ok(const char *s)
{
    size_t n = strlen(s);
    for (const char *p = s; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') || *p == '-' ||
              *p == '_'))
            return false;
    return n >= 1 && n <= 64;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct host h;
    static struct run a, b;
    struct fuzz_in in = {data, size};
    char head[16384], text[2048], entry[300];
    fuzz_field(&in, '\n', head, sizeof head);
    fuzz_field(&in, 0, text, sizeof text);

    memset(&h, 0, sizeof h);
    const char *lang = head[0] == 's' ? "sw" : "en";
    char m = head[0] ? head[1] : 0;
    h.nmeters = m == '-' ? -1 : m >= '0' && m <= '9' ? m - '0' : m >= 'a' && m <= 'z' ? 10 + 3 * (m - 'a')
              : m == 'Z' ? METERS_MAX : 2;
    h.faults = head[0] && head[1] && head[2] ? (unsigned)head[2] & 31 : 0;
    struct fuzz_in meters = {(const uint8_t *)head, strlen(head)};
    meters.p += meters.n > 4 ? 4 : meters.n, meters.n -= meters.n > 4 ? 4 : meters.n;
    for (int i = 0; i < h.nmeters; i++) {
        char *slash;
        entry[0] = 0;
        if (meters.n)
            fuzz_field(&meters, '|', entry, sizeof entry);
        if ((slash = strchr(entry, '/'))) {
            *slash = 0;
            str_copy(h.id[i], sizeof h.id[i], entry);
            str_copy(h.name[i], sizeof h.name[i], slash + 1);
        }
        if (!id_ok(h.id[i]))
            snprintf(h.id[i], sizeof h.id[i], "M-%04d", i + 1);
        if (strlen(slash ? slash + 1 : "") > 64 || !str_is_clean_utf8(h.name[i], strlen(h.name[i])))
            snprintf(h.name[i], sizeof h.name[i], "Nyumba %d", i + 1);
        for (int j = 0; j < i; j++)
            if (!strcmp(h.id[i], h.id[j])) /* ids are unique in the store */
                snprintf(h.id[i], sizeof h.id[i], "M-%04d", i + 1);
    }

    char *inputs[INPUTS_MAX];
    int n = 0;
    for (char *p = text; n < INPUTS_MAX;) {
        inputs[n++] = p;
        char *star = strchr(p, '*');
        if (!star)
            break;
        *star = 0;
        p = star + 1;
    }
    if (n == 1 && !*inputs[0])
        n = 0; /* the first hop only */

    run(&h, lang, inputs, n, false, &a);
    if (h.faults & 16) {
        run(&h, lang, inputs, n, true, &b);
        FUZZ_CHECK(a.end == b.end && !strcmp(a.reply, b.reply), "stepped:\n%s\nwalked:\n%s", a.reply, b.reply);
        FUZZ_CHECK(!strcmp(a.state, b.state), "session stepped %s, walked %s", a.state, b.state);
        FUZZ_CHECK(a.buys == b.buys && a.validates == b.validates && a.langs == b.langs && a.resends == b.resends,
                   "side effects differ");
    }
    return 0;
}
