/* lipa-dial: a feature phone in the terminal. Dials lipad's USSD endpoint
 * the way Africa's Talking does (one POST per hop, every input joined by
 * '*'), shows each screen as the phone would, reads what you type, and
 * prints the SMS that reach the phone (read from the sandbox's SMS log).
 *
 *   lipa-dial [--url URL] [--sandbox URL] [--code *384*1234#]
 *             [--wait-sms SECONDS] PHONE
 *
 * URLs default to http://127.0.0.1:$LIPA_PORT (8080) and
 * http://127.0.0.1:$LIPA_SANDBOX_PORT (9090). Input may be piped: one
 * entry per line. After the last screen it waits for an SMS only when
 * that screen says one will come (it names "SMS"), and stops as soon as it
 * has come. Lines wrap on word boundaries inside the phone's box. */
#include "util/buf.h"
#include "util/form.h"
#include "util/httpc.h"
#include "util/str.h"
#include "util/version.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static char lipa_url[256], sandbox_url[256];

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* Prints SMS for phone newer than *seen; returns how many. */
static int show_sms(const char *phone, long long *seen, bool print)
{
    char url[512];
    char *p = form_encode(phone);
    snprintf(url, sizeof url, "%s/sandbox/sms?phone=%s", sandbox_url, p);
    free(p);
    struct httpc_req rq = {.method = "GET", .url = url, .timeout_ms = 3000};
    struct httpc_resp rs;
    int n = 0;
    if (httpc_do(&rq, &rs) && rs.status == 200) {
        json_t *j = json_loads(rs.body.data ? rs.body.data : "", 0, NULL);
        size_t i;
        json_t *m;
        json_array_foreach(json_object_get(j, "messages"), i, m) {
            json_t *idv = json_object_get(m, "id");
            long long id = json_is_integer(idv) ? json_integer_value(idv) : 0;
            if (json_is_string(idv))
                id = strtoll(json_string_value(idv), NULL, 10);
            if (id <= *seen)
                continue;
            *seen = id;
            n++;
            if (print)
                printf("\n  [SMS from %s] %s\n", json_string_value(json_object_get(m, "from"))[0]
                                                      ? json_string_value(json_object_get(m, "from")) : "lipa",
                       json_string_value(json_object_get(m, "message")));
        }
        json_decref(j);
    }
    httpc_resp_free(&rs);
    fflush(stdout);
    return n;
}

#define BOX 38 /* characters inside the box, as a feature phone's screen */

/* Prints one line of text (n bytes) wrapped on word boundaries; a word
 * wider than the box is split. Widths count UTF-8 characters. */
static void box_line(const char *p, size_t n)
{
    do {
        size_t take = 0, chars = 0, brk = 0;
        while (take < n && chars < BOX) {
            size_t c = 1;
            while (take + c < n && ((unsigned char)p[take + c] & 0xC0) == 0x80)
                c++;
            take += c;
            chars++;
            if (p[take - c] == ' ')
                brk = take;
        }
        if (take < n && p[take] != ' ' && brk > 0) /* cut inside a word: back to the last blank */
            take = brk;
        size_t shown = take, shown_chars = 0;
        while (shown > 0 && p[shown - 1] == ' ')
            shown--;
        for (size_t i = 0; i < shown; i++)
            shown_chars += ((unsigned char)p[i] & 0xC0) != 0x80;
        printf("| %.*s%*s |\n", (int)shown, p, (int)(BOX - shown_chars), "");
        p += take;
        n -= take;
        while (n > 0 && *p == ' ') {
            p++;
            n--;
        }
    } while (n > 0);
}

static void screen(const char *text)
{
    printf("\n+----------------------------------------+\n");
    const char *p = text;
    while (*p) {
        const char *nl = strchr(p, '\n');
        size_t n = nl ? (size_t)(nl - p) : strlen(p);
        box_line(p, n);
        p += n;
        if (*p == '\n')
            p++;
    }
    printf("+----------------------------------------+  (%zu chars)\n", strlen(text) + 4);
    fflush(stdout);
}

/* Whether a last screen says an SMS follows (both languages say "SMS"). */
static bool promises_sms(const char *text)
{
    return strstr(text, "SMS") != NULL;
}

#define DIAL_USAGE "usage: lipa-dial [--url URL] [--sandbox URL] [--code CODE] [--wait-sms S] PHONE\n"

int main(int argc, char **argv)
{
    int asked = version_args(argc, argv, "lipa-dial", DIAL_USAGE);
    if (asked >= 0)
        return asked;
    const char *code = "*384*1234#", *phone = NULL;
    int wait_sms = 20;
    const char *lp = getenv("LIPA_PORT"), *sp = getenv("LIPA_SANDBOX_PORT");
    snprintf(lipa_url, sizeof lipa_url, "http://127.0.0.1:%s", lp ? lp : "8080");
    snprintf(sandbox_url, sizeof sandbox_url, "http://127.0.0.1:%s", sp ? sp : "9090");
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--url") && i + 1 < argc)
            str_copy(lipa_url, sizeof lipa_url, argv[++i]);
        else if (!strcmp(argv[i], "--sandbox") && i + 1 < argc)
            str_copy(sandbox_url, sizeof sandbox_url, argv[++i]);
        else if (!strcmp(argv[i], "--code") && i + 1 < argc)
            code = argv[++i];
        else if (!strcmp(argv[i], "--wait-sms") && i + 1 < argc)
            wait_sms = (int)strtol(argv[++i], NULL, 10);
        else if (argv[i][0] != '-' && !phone)
            phone = argv[i];
        else {
            fputs(DIAL_USAGE, stderr);
            return 2;
        }
    }
    if (!phone) {
        fputs(DIAL_USAGE, stderr);
        return 2;
    }
    httpc_global_init();
    long long seen = 0;
    show_sms(phone, &seen, false); /* only messages from now on */
    char session[64], url[300], text[512] = "";
    snprintf(session, sizeof session, "ATUid_dial_%d_%lld", (int)getpid(), (long long)time(NULL));
    snprintf(url, sizeof url, "%s/api/ussd", lipa_url);
    printf("Dialing %s from %s ...\n", code, phone);
    bool first = true, sms_due = false;
    int got = 0; /* SMS seen since dialling */
    for (;;) {
        char *ep = form_encode(phone), *et = form_encode(text), *ec = form_encode(code), *es = form_encode(session);
        struct buf body;
        buf_init(&body, 4096);
        buf_printf(&body, "sessionId=%s&serviceCode=%s&phoneNumber=%s&networkCode=63902&text=%s", es, ec, ep, et);
        free(ep), free(et), free(ec), free(es);
        const char *hdr[] = {"Content-Type: application/x-www-form-urlencoded", NULL};
        struct httpc_req rq = {.method = "POST", .url = url, .headers = hdr, .body = body.data,
                               .body_len = body.len, .timeout_ms = 15000};
        struct httpc_resp rs;
        bool ok = httpc_do(&rq, &rs);
        buf_free(&body);
        if (!ok || rs.status != 200 || !rs.body.data ||
            (strncmp(rs.body.data, "CON ", 4) && strncmp(rs.body.data, "END ", 4))) {
            printf("\n  [network] Connection problem or invalid MMI code. (%s)\n",
                   ok ? (rs.body.data ? rs.body.data : "") : rs.error);
            httpc_resp_free(&rs);
            return 1;
        }
        bool end = !strncmp(rs.body.data, "END ", 4);
        screen(rs.body.data + 4);
        if (end)
            sms_due = promises_sms(rs.body.data + 4);
        httpc_resp_free(&rs);
        got += show_sms(phone, &seen, true);
        if (end)
            break;
        printf("reply> ");
        fflush(stdout);
        char line[160];
        if (!fgets(line, sizeof line, stdin)) {
            printf("\n(cancelled)\n");
            return 0;
        }
        str_trim(line);
        size_t len = strlen(text);
        if (len + strlen(line) + 2 >= sizeof text) {
            printf("(too many entries)\n");
            return 1;
        }
        snprintf(text + len, sizeof text - len, "%s%s", first ? "" : "*", line);
        first = false;
    }
    /* wait only when the last screen promised an SMS, and only until it
     * came (and a second more, for one that follows it) */
    if (wait_sms > 0 && sms_due && !got) {
        printf("(waiting up to %d s for the SMS...)\n", wait_sms);
        fflush(stdout);
        for (int waited = 0; waited < wait_sms * 1000 && !got; waited += 250) {
            sleep_ms(250);
            got += show_sms(phone, &seen, true);
        }
        if (!got)
            printf("(no SMS within %d s)\n", wait_sms);
    }
    if (got) {
        sleep_ms(1000);
        show_sms(phone, &seen, true);
    }
    return 0;
}
