/* fuzz target ussd_hop: Africa's Talking's USSD callback (POST /api/ussd)
 * through the real handler (src/ussd/api.c) on a real app: the real
 * host, the store's memory layer, purchases taken into the intake, the
 * shipped menus. Callers are in the store before the first input:
 *   1  +254712345678, English, three meters, one with a 64-character id
 *      and a 64-byte name that ends in a two-byte character
 *   2  +254722000111, Swahili, one meter
 *   3  +254733000222, English, no meter
 *   4  +254700000999, not registered
 *
 * Input: a first line naming the caller ('1'-'4'; anything else is 1),
 * then the caller's inputs joined by '*' as AT sends them in `text`. With
 * a first line "raw", the rest is the whole form body instead.
 *
 * Checks: every answer is 200 text/plain "CON " or "END " within 160
 * GSM-7 characters and septets (400 "END Bad request..." for a form
 * without sessionId or phoneNumber). Hop by hop, each hop's text the
 * inputs so far, until an END; the same request again gets the same
 * answer; and a session lipad never saw, sent the whole text at once, is
 * rebuilt by replay to the very answer the last hop got (within AT's
 * limits: 200 bytes of text, fewer than 16 inputs). */
#include "fuzz_app.c"

#include "store/meters.h"
#include "store/store.h"
#include "store/users.h"
#include "ussd/ussd.h"
#include "util/form.h"
#include "util/gsm.h"
#include "util/str.h"

#include <string.h>

#define INPUTS_MAX 15  /* the handler replays fewer than 16 */
#define TEXT_MAX 200   /* and at most 200 bytes of text */

static const struct http_route *route;
static const char *const phones[] = {"+254712345678", "+254722000111", "+254733000222", "+254700000999"};

static void add_meter(int64_t user, const char *id, const char *name)
{
    struct meter m = {.active = true, .price_per_kwh = 2500};
    str_copy(m.id, sizeof m.id, id);
    snprintf(m.device_id, sizeof m.device_id, "bf%.60s", id);
    str_copy(m.name, sizeof m.name, name);
    FUZZ_CHECK(store_meter_create(app.store, &m) == ST_OK, "meter %s", id);
    FUZZ_CHECK(store_assign(app.store, user, id, NULL) == ST_OK, "assign %s", id);
}

static int64_t add_user(const char *phone, const char *lang)
{
    struct user u = {.role = "USER"};
    str_copy(u.phone, sizeof u.phone, phone);
    str_copy(u.language, sizeof u.language, lang);
    FUZZ_CHECK(store_user_create(app.store, &u) == ST_OK, "user %s", phone);
    return u.id;
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc, (void)argv;
    fuzz_app_start("ussd");
    route = fuzz_app_route("POST", "/api/ussd");
    int64_t u = add_user(phones[0], "en");
    add_meter(u, "37000000001", "Nyumba A");
    add_meter(u, "37000000002", "Duka Kuu");
    char id[65], name[65];
    memset(id, '7', 64);
    id[64] = 0;
    memset(name, 'n', 62);
    str_copy(name + 62, 3, "\xc3\xa9");
    add_meter(u, id, name);
    add_meter(add_user(phones[1], "sw"), "37000000011", "Nyumbani");
    add_user(phones[2], "en");
    return 0;
}

/* One request; the answer into out. Returns the HTTP status. */
static int post(const char *body, size_t len, char *out, size_t outsz)
{
    struct http_req req = {.method = "POST", .path = "/api/ussd", .body = body, .body_len = len, .route = route};
    struct http_resp resp = {.status = 200};
    str_copy(req.client_ip, sizeof req.client_ip, "127.0.0.1");
    buf_init(&resp.body, 0);
    route->fn(&app, &req, &resp);
    const char *r = resp.body.data ? resp.body.data : "";
    FUZZ_CHECK(resp.content_type && !strncmp(resp.content_type, "text/plain", 10), "content type %s",
               resp.content_type ? resp.content_type : "(none)");
    FUZZ_CHECK(!strncmp(r, "CON ", 4) || !strncmp(r, "END ", 4), "answer: %s", r);
    if (resp.status == 200) {
        int sept = gsm_septets(r);
        FUZZ_CHECK(sept >= 0 && sept <= USSD_BUDGET && gsm_chars(r) <= USSD_BUDGET,
                   "%d septets, %zu characters: %s", sept, gsm_chars(r), r);
    } else {
        FUZZ_CHECK(resp.status == 400 && !strncmp(r, "END Bad request", 15), "%d: %s", resp.status, r);
    }
    str_copy(out, outsz, r);
    int status = resp.status;
    buf_free(&resp.body);
    return status;
}

static size_t form(char *out, size_t outsz, const char *sid, const char *phone, const char *text)
{
    char *t = form_encode(text), *p = form_encode(phone);
    FUZZ_CHECK(t && p, "out of memory");
    int n = snprintf(out, outsz, "sessionId=%s&serviceCode=%%2A384%%2A1234%%23&phoneNumber=%s&networkCode=63902&text=%s",
                     sid, p, t);
    free(t);
    free(p);
    FUZZ_CHECK(n > 0 && (size_t)n < outsz, "form too long");
    return (size_t)n;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static unsigned long run;
    static char body[4096], answer[600], again[600], last[600];
    struct fuzz_in in = {data, size};
    char head[8], text[TEXT_MAX + 1];
    fuzz_field(&in, '\n', head, sizeof head);
    run++;
    fuzz_app_tick();

    if (!strcmp(head, "raw")) {
        char *raw = fuzz_strdup(in.p, in.n);
        post(raw, in.n, answer, sizeof answer);
        free(raw);
        return 0;
    }
    const char *phone = phones[head[0] >= '1' && head[0] <= '4' ? head[0] - '1' : 0];
    if (in.n > TEXT_MAX || memchr(in.p, 0, in.n))
        return 0; /* longer text is answered "too many entries" */
    memcpy(text, in.p, in.n);
    text[in.n] = 0;
    int stars = 0;
    for (const char *p = text; *p; p++)
        stars += *p == '*';
    if (stars >= INPUTS_MAX)
        return 0; /* more: the handler shows the main menu */

    /* hop by hop on session a */
    char sid[32], prefix[TEXT_MAX + 1];
    snprintf(sid, sizeof sid, "fz%lua", run);
    size_t len = form(body, sizeof body, sid, phone, "");
    FUZZ_CHECK(post(body, len, last, sizeof last) == 200, "first hop");
    for (size_t i = 0; text[0] && strncmp(last, "END ", 4); i++) {
        if (text[i] != '*' && text[i])
            continue;
        memcpy(prefix, text, i);
        prefix[i] = 0;
        len = form(body, sizeof body, sid, phone, prefix);
        FUZZ_CHECK(post(body, len, last, sizeof last) == 200, "hop %s", prefix);
        FUZZ_CHECK(post(body, len, again, sizeof again) == 200 && !strcmp(last, again),
                   "the same hop again answered otherwise:\n%s\n%s", last, again);
        if (!text[i])
            break;
    }

    /* the whole text at once on session b, never seen */
    snprintf(sid, sizeof sid, "fz%lub", run);
    len = form(body, sizeof body, sid, phone, text);
    FUZZ_CHECK(post(body, len, answer, sizeof answer) == 200, "rebuild");
    FUZZ_CHECK(!strcmp(answer, last), "text '%s' hop by hop:\n%s\nrebuilt:\n%s", text, last, answer);
    return 0;
}
