/* config: the one table of settings; see config.h. */
#include "util/config.h"

#include "util/str.h"

#include <arpa/inet.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

enum ctype { C_INT, C_STR, C_URL, C_ENUM };

struct key {
    const char *name;
    enum ctype type;
    const char *def;       /* NULL: computed after loading (see fixups) */
    int64_t min, max;      /* C_INT bounds; C_STR max length */
    const char *choices;   /* C_ENUM: "a|b" */
    size_t off;
};

#define I(n, d, lo, hi, f) {n, C_INT, d, lo, hi, NULL, offsetof(struct config, f)}
#define S(n, d, mx, f) {n, C_STR, d, 0, mx, NULL, offsetof(struct config, f)}
#define U(n, d, f) {n, C_URL, d, 0, 512, NULL, offsetof(struct config, f)}
#define E(n, d, ch, f) {n, C_ENUM, d, 0, 0, ch, offsetof(struct config, f)}

/* Safaricom's published sandbox passkey and shortcode (the defaults, so
 * development pushes work against Daraja's sandbox out of the box): in
 * production they count as unset */
#define DARAJA_SANDBOX_PASSKEY "bfb279f9aa9bdbcf158e97dd71a467cd2e0c893059b10f78e6b72ada1ed2c919"
#define DARAJA_SANDBOX_SHORTCODE "174379"

static const struct key keys[] = {
    E("LIPA_MODE", "development", "development|production", mode),
    I("LIPA_PORT", "8080", 1, 65535, port),
    /* loopback: production names 0.0.0.0 or :: (dual stack) behind its
     * reverse proxy, on purpose */
    S("LIPA_BIND", "127.0.0.1", 64, bind),
    S("LIPA_DB", "var/lipa.db", 1024, db),
    S("LIPA_INSTANCE", NULL, 80, instance),
    I("LIPA_LEASE_MS", "60000", 1000, 3600000, lease_ms),
    S("LIPA_MENUS", "menus", 1024, menus),
    S("LIPA_MIGRATIONS", "db", 1024, migrations),
    U("LIPA_PUBLIC_URL", NULL, public_url),
    S("LIPA_ADMIN_KEY", NULL, 256, admin_key),
    S("LIPA_PEPPER", NULL, 256, pepper),
    S("LIPA_CALLBACK_SECRET", NULL, 128, callback_secret),
    I("LIPA_THREADS", "4", 1, 64, threads),
    I("LIPA_BODY_MAX", "65536", 1024, 16777216, body_max),
    I("LIPA_LOG_DEBUG", "0", 0, 1, log_debug),
    /* memory caps; the store's defaults are the same (store.h); one per
     * stripe of its tables at least */
    I("LIPA_SESSIONS_MAX", "100000", 64, 10000000, sessions_max),
    I("LIPA_CALLERS_MAX", "100000", 64, 10000000, callers_max),
    /* a caller who dropped on a resumable screen is offered to go on when
     * they dial again within this many seconds (0: never) */
    I("LIPA_USSD_RESUME_WINDOW", "180", 0, 86400, ussd_resume_window),
    I("LIPA_MIN_AMOUNT", "10", 1, 150000, min_amount),
    I("LIPA_MAX_AMOUNT", "10000", 1, 150000, max_amount),
    I("LIPA_PRICE_PER_KWH", "2500", 1, 10000000, price_per_kwh_cents),
    I("LIPA_SETTLE_AFTER", "120", 1, 86400, settle_after),
    I("LIPA_PAYMENT_TIMEOUT", "1800", 10, 604800, payment_timeout),
    I("LIPA_WORKER_POLL_MS", "200", 10, 60000, worker_poll_ms),
    I("LIPA_RETRY_BASE_MS", "5000", 10, 600000, retry_base_ms),
    I("LIPA_HTTP_TIMEOUT_MS", "10000", 100, 120000, http_timeout_ms),
    /* connections and REST calls that wait (http/server.h, http/guard.h) */
    I("LIPA_MAX_CONNECTIONS", "4096", 64, 1000000, max_connections),
    I("LIPA_CONNECTIONS_PER_IP", "128", 0, 1000000, connections_per_ip),
    I("LIPA_HEADER_TIMEOUT_MS", "15000", 500, 600000, header_timeout_ms),
    I("LIPA_BODY_TIMEOUT_MS", "15000", 500, 600000, body_timeout_ms),
    I("LIPA_LANE_THREADS", "4", 1, 64, lane_threads),
    I("LIPA_LANE_QUEUE", "64", 1, 100000, lane_queue),
    I("LIPA_REST_WAIT_MS", "15000", 500, 120000, rest_wait_ms),
    /* a payment request answers within it, pushed or queued (pay/api_wait.h) */
    I("LIPA_PUSH_WAIT_MS", "2000", 100, 120000, push_wait_ms),
    I("LIPA_PHONE_RATE_LIMIT", "5", 0, 1000000, phone_rate_limit),
    I("LIPA_PHONE_RATE_WINDOW", "600", 1, 86400, phone_rate_window),
    /* which file answers for each provider (app.c's tables): a second
     * provider is a new file and a new choice here */
    E("LIPA_PAY_PROVIDER", "daraja", "daraja", pay_provider),
    E("LIPA_SMS_PROVIDER", "at", "at", sms_provider),
    E("LIPA_METER_PROVIDER", "tuya", "tuya", meter_provider),
    U("LIPA_DARAJA_URL", "https://sandbox.safaricom.co.ke", daraja_url),
    S("LIPA_DARAJA_KEY", "", 256, daraja_key),
    S("LIPA_DARAJA_SECRET", "", 256, daraja_secret),
    S("LIPA_DARAJA_SHORTCODE", DARAJA_SANDBOX_SHORTCODE, 7, daraja_shortcode),
    S("LIPA_DARAJA_PASSKEY", DARAJA_SANDBOX_PASSKEY, 256, daraja_passkey),
    E("LIPA_DARAJA_TYPE", "paybill", "paybill|till", daraja_type),
    U("LIPA_AT_URL", "https://api.sandbox.africastalking.com", at_url),
    S("LIPA_AT_USERNAME", "sandbox", 128, at_username),
    S("LIPA_AT_APIKEY", "", 256, at_apikey),
    S("LIPA_AT_SENDER", "", 16, at_sender),
    U("LIPA_TUYA_URL", "https://openapi.tuyaeu.com", tuya_url),
    S("LIPA_TUYA_CLIENT_ID", "", 128, tuya_client_id),
    S("LIPA_TUYA_SECRET", "", 128, tuya_secret),
    I("LIPA_TOPUP_LATE_MS", "60000", 0, 3600000, topup_late_ms),
    I("LIPA_TOPUP_SKEW_MS", "60000", 1000, 3600000, topup_skew_ms),
    /* water: the water face's worked example is the default (52 KES -> 50 KES, 10 L) */
    U("LIPA_PAYSTACK_URL", "https://api.paystack.co", paystack_url),
    S("LIPA_PAYSTACK_SECRET", "", 256, paystack_secret),
    I("LIPA_WATER_PRICE_CENTS", "500", 1, 10000000, water_price_cents),
    E("LIPA_WATER_ROUNDING", "nearest", "nearest|down|up", water_rounding),
    I("LIPA_WATER_MIN_AMOUNT", "10", 1, 150000, water_min_amount),
    I("LIPA_WATER_MAX_AMOUNT", "10000", 1, 150000, water_max_amount),
    S("LIPA_WATER_CURRENCY", "KES", 3, water_currency),
    I("LIPA_OTP_TTL", "600", 30, 86400, otp_ttl),
    I("LIPA_OTP_ATTEMPTS", "3", 1, 10, otp_attempts),
    I("LIPA_PULSES_PER_LITER", "1000", 1, 1000000, pulses_per_liter),
    I("LIPA_STATION_LOCK", "1800", 60, 86400, station_lock),
    I("LIPA_RATE_LIMIT", "100", 0, 1000000, rate_limit),
    I("LIPA_RATE_WINDOW", "900", 1, 86400, rate_window),
    /* SMS */
    I("LIPA_SMS_RATE", "20", 1, 10000, sms_rate),
    I("LIPA_SMS_MAX_PARTS", "3", 1, 10, sms_max_parts),
    /* replies to texts that match no command, per sender and window
     * (text/inbound.c); 0: no limit */
    I("LIPA_SMS_UNKNOWN_REPLIES", "5", 0, 1000000, sms_unknown_replies),
    I("LIPA_SMS_UNKNOWN_WINDOW", "86400", 60, 2592000, sms_unknown_window),
    /* integrators' public payments (client/api_v1.c): requests per client
     * id per window (0: no limit), the origins browsers may call them from
     * ("*" or a comma-separated list; its shape is checked at start,
     * app.c); signed notices to a client's callback URL (client/notice.h):
     * the first retry's delay (later ones grow from it), how long a notice
     * is tried at all, and how long one attempt may take */
    I("LIPA_CLIENT_RATE_LIMIT", "100", 0, 1000000, client_rate_limit),
    I("LIPA_CLIENT_RATE_WINDOW", "60", 1, 86400, client_rate_window),
    S("LIPA_CORS_ORIGINS", "*", 1024, cors_origins),
    I("LIPA_NOTICE_RETRY_MS", "10000", 100, 3600000, notice_retry_ms),
    I("LIPA_NOTICE_MAX_AGE", "86400", 60, 604800, notice_max_age),
    I("LIPA_NOTICE_TIMEOUT_MS", "5000", 500, 60000, notice_timeout_ms),
    /* a provider whose last call failed within it degrades /api/health */
    I("LIPA_HEALTH_WINDOW", "300", 10, 86400, health_window),
};
#define NKEYS (sizeof keys / sizeof keys[0])

static const struct key *find(const char *name)
{
    for (size_t i = 0; i < NKEYS; i++)
        if (!strcmp(keys[i].name, name))
            return &keys[i];
    return NULL;
}

static bool set(struct config *cfg, const struct key *k, const char *v, char *err, size_t errsz)
{
    char *base = (char *)cfg + k->off;
    switch (k->type) {
    case C_INT: {
        int64_t x;
        if (!str_to_i64(v, k->min, k->max, &x)) {
            snprintf(err, errsz, "%s: '%.40s' is not a whole number in %lld..%lld", k->name, v,
                     (long long)k->min, (long long)k->max);
            return false;
        }
        *(int64_t *)base = x;
        return true;
    }
    case C_URL:
        if (*v && strncmp(v, "http://", 7) && strncmp(v, "https://", 8)) {
            snprintf(err, errsz, "%s: must start with http:// or https://", k->name);
            return false;
        }
        if (strchr(v, ' ')) {
            snprintf(err, errsz, "%s: must not contain spaces", k->name);
            return false;
        }
        /* fall through */
    case C_STR:
        if ((int64_t)strlen(v) > k->max) {
            snprintf(err, errsz, "%s: longer than %lld characters", k->name, (long long)k->max);
            return false;
        }
        break;
    case C_ENUM: {
        size_t n = strlen(v);
        const char *c = k->choices, *hit = strstr(c, v);
        if (!n || strchr(v, '|') || !hit || (hit != c && hit[-1] != '|') || (hit[n] && hit[n] != '|')) {
            snprintf(err, errsz, "%s: must be one of %s", k->name, k->choices);
            return false;
        }
        break;
    }
    }
    char **slot = (char **)base;
    free(*slot);
    *slot = strdup(v);
    /* URLs are bases: no trailing slash, so paths join cleanly */
    size_t n = strlen(*slot);
    while (k->type == C_URL && n && (*slot)[n - 1] == '/')
        (*slot)[--n] = 0;
    return true;
}

static bool load_file(struct config *cfg, const char *path, bool *given, char *err, size_t errsz)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        snprintf(err, errsz, "LIPA_CONFIG: cannot open %s", path);
        return false;
    }
    char line[1200];
    int lineno = 0;
    bool ok = true;
    while (ok && fgets(line, sizeof line, f)) {
        lineno++;
        str_trim(line);
        if (!line[0] || line[0] == '#')
            continue;
        char *eq = strchr(line, '=');
        if (!eq) {
            snprintf(err, errsz, "%s:%d: expected KEY=VALUE", path, lineno);
            ok = false;
            break;
        }
        *eq = 0;
        str_trim(line);
        const struct key *k = find(line);
        if (!k) {
            snprintf(err, errsz, "%s:%d: unknown key %s", path, lineno, line);
            ok = false;
            break;
        }
        char *v = eq + 1;
        str_trim(v);
        size_t vn = strlen(v);
        if (vn >= 2 && (v[0] == '"' || v[0] == '\'') && v[vn - 1] == v[0]) {
            v[vn - 1] = 0;
            v++;
        }
        ok = set(cfg, k, v, err, errsz);
        given[k - keys] = true;
    }
    fclose(f);
    return ok;
}

/* LIPA_BIND: a numeric address, brackets around an IPv6 one taken off. */
static bool bind_ok(struct config *cfg, char *err, size_t errsz)
{
    char *b = cfg->bind;
    size_t n = strlen(b);
    if (n >= 2 && b[0] == '[' && b[n - 1] == ']') {
        memmove(b, b + 1, n - 2);
        b[n - 2] = '\0';
    }
    unsigned char addr[16];
    if (inet_pton(AF_INET, b, addr) != 1 && inet_pton(AF_INET6, b, addr) != 1) {
        snprintf(err, errsz, "LIPA_BIND: '%.64s' is not a numeric IPv4 or IPv6 address (127.0.0.1, 0.0.0.0, ::1, ::)",
                 b);
        return false;
    }
    return true;
}

static bool is_dir(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

/* A default directory (*slot, "db" or "menus") not in the working
 * directory: found next to the executable (config.h says where), or an
 * error naming the setting. */
static bool find_dir(char **slot, const char *setting, char *err, size_t errsz)
{
    const char *name = *slot;
    if (is_dir(name))
        return true;
    char exe[PATH_MAX], path[PATH_MAX + 64];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n > 0) {
        exe[n] = '\0';
        char *slash = strrchr(exe, '/');
        if (slash)
            *slash = '\0'; /* exe is its directory now */
        snprintf(path, sizeof path, "%s/../share/lipa/%s", exe, name);
        for (int up = 0; up <= 3 && !is_dir(path); up++) {
            char ups[16] = "";
            for (int i = 0; i < up; i++)
                str_copy(ups + 3 * i, sizeof ups - 3 * (size_t)i, "../");
            snprintf(path, sizeof path, "%s/%s%s", exe, ups, name);
        }
        if (is_dir(path)) {
            char *real = realpath(path, NULL);
            if (real) {
                free(*slot);
                *slot = real;
                return true;
            }
        }
    }
    snprintf(err, errsz,
             "%s: not set, and no directory %s in the working directory nor next to the executable "
             "(../share/lipa/%s, or ../%s up to three levels up); set %s to the directory",
             setting, name, name, name, setting);
    return false;
}

/* Appends "; " and one problem to list (size n), cut when full. */
static void problem(char *list, size_t n, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void problem(char *list, size_t n, const char *fmt, ...)
{
    size_t used = strlen(list);
    if (used && used + 2 < n) {
        memcpy(list + used, "; ", 3);
        used += 2;
    }
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(list + used, n - used, fmt, ap);
    va_end(ap);
}

/* Production: every provider credential set and none of them the public
 * sandbox's, and an https:// LIPA_PUBLIC_URL. Every problem is listed in
 * one message, so one restart after fixing them is enough. Values are
 * never quoted (they are secrets), only the public URL. */
static bool production_ok(const struct config *cfg, char *err, size_t errsz)
{
    struct {
        const char *name, *value, *sandbox; /* sandbox: the public sandbox's value, or NULL */
    } const need[] = {
        {"LIPA_DARAJA_KEY", cfg->daraja_key, NULL},
        {"LIPA_DARAJA_SECRET", cfg->daraja_secret, NULL},
        {"LIPA_DARAJA_SHORTCODE", cfg->daraja_shortcode, DARAJA_SANDBOX_SHORTCODE},
        {"LIPA_DARAJA_PASSKEY", cfg->daraja_passkey, DARAJA_SANDBOX_PASSKEY},
        {"LIPA_AT_USERNAME", cfg->at_username, "sandbox"},
        {"LIPA_AT_APIKEY", cfg->at_apikey, NULL},
        {"LIPA_TUYA_CLIENT_ID", cfg->tuya_client_id, NULL},
        {"LIPA_TUYA_SECRET", cfg->tuya_secret, NULL},
    };
    char list[1024] = "";
    for (size_t i = 0; i < sizeof need / sizeof need[0]; i++) {
        if (!need[i].value || !*need[i].value)
            problem(list, sizeof list, "%s is empty", need[i].name);
        else if (need[i].sandbox && !strcmp(need[i].value, need[i].sandbox))
            problem(list, sizeof list, "%s is the public sandbox's", need[i].name);
    }
    /* a test key takes no real money. Paystack itself stays optional: an
     * empty key leaves its payments refused (docs/operations.md) */
    if (cfg->paystack_secret && !strncmp(cfg->paystack_secret, "sk_test_", 8))
        problem(list, sizeof list, "LIPA_PAYSTACK_SECRET is a test key (sk_test_)");
    if (!cfg->public_url || strncmp(cfg->public_url, "https://", 8))
        problem(list, sizeof list, "LIPA_PUBLIC_URL is not https:// (%.100s)",
                cfg->public_url ? cfg->public_url : "unset");
    if (!list[0])
        return true;
    snprintf(err, errsz, "LIPA_MODE=production: %s (set them, or LIPA_MODE=development to use the sandboxes)",
             list);
    return false;
}

/* Whether url's host is a sandbox: Daraja's or Africa's Talking's own, or
 * a loopback address (the bundled sandbox, or anything else on this
 * machine that no provider would be). */
static bool sandbox_host(const char *url)
{
    if (!url || !*url)
        return false;
    const char *h = strstr(url, "://");
    h = h ? h + 3 : url;
    const char *at = strpbrk(h, "@/"); /* user:password@host: the host follows the @ */
    if (at && *at == '@')
        h = at + 1;
    char host[256];
    size_t n = strcspn(h, "/?#");
    if (n >= sizeof host)
        n = sizeof host - 1;
    memcpy(host, h, n);
    host[n] = '\0';
    if (host[0] == '[') { /* [v6]:port */
        char *close = strchr(host, ']');
        if (close)
            *close = '\0';
        memmove(host, host + 1, strlen(host));
    } else {
        char *colon = strchr(host, ':');
        if (colon)
            *colon = '\0';
    }
    for (char *c = host; *c; c++)
        if (*c >= 'A' && *c <= 'Z')
            *c = (char)(*c - 'A' + 'a');
    size_t hn = strlen(host);
    static const char *const suffixes[] = {"sandbox.safaricom.co.ke", "sandbox.africastalking.com"};
    for (size_t i = 0; i < sizeof suffixes / sizeof suffixes[0]; i++) {
        size_t sn = strlen(suffixes[i]);
        if (hn >= sn && !strcmp(host + hn - sn, suffixes[i]) && (hn == sn || host[hn - sn - 1] == '.'))
            return true;
    }
    if (!strcmp(host, "localhost") || (hn > 10 && !strcmp(host + hn - 10, ".localhost")))
        return true;
    unsigned char a[16];
    if (inet_pton(AF_INET, host, a) == 1)
        return a[0] == 127;
    if (inet_pton(AF_INET6, host, a) == 1) {
        static const unsigned char v6_loop[16] = {[15] = 1};
        static const unsigned char v4_mapped[12] = {[10] = 0xff, [11] = 0xff};
        return !memcmp(a, v6_loop, 16) || (!memcmp(a, v4_mapped, 12) && a[12] == 127);
    }
    return false;
}

size_t config_sandbox_urls(const struct config *cfg, const char **names, size_t max)
{
    struct {
        const char *name, *url;
    } const urls[] = {
        {"LIPA_DARAJA_URL", cfg->daraja_url},
        {"LIPA_AT_URL", cfg->at_url},
        {"LIPA_TUYA_URL", cfg->tuya_url},
        {"LIPA_PAYSTACK_URL", cfg->paystack_url},
    };
    size_t n = 0;
    for (size_t i = 0; i < sizeof urls / sizeof urls[0] && n < max; i++)
        if (sandbox_host(urls[i].url))
            names[n++] = urls[i].name;
    return n;
}

bool config_load(struct config *cfg, const char *(*getenv_fn)(const char *), char *err, size_t errsz)
{
    memset(cfg, 0, sizeof *cfg);
    bool given[NKEYS] = {0};
    for (size_t i = 0; i < NKEYS; i++)
        if (keys[i].def && !set(cfg, &keys[i], keys[i].def, err, errsz))
            return false;
    const char *file = getenv_fn("LIPA_CONFIG");
    if (file && *file && !load_file(cfg, file, given, err, errsz))
        return false;
    for (size_t i = 0; i < NKEYS; i++) {
        const char *v = getenv_fn(keys[i].name);
        if (v && !set(cfg, &keys[i], v, err, errsz))
            return false;
        given[i] = given[i] || v;
    }
    if (!bind_ok(cfg, err, errsz))
        return false;
    if ((!given[find("LIPA_MIGRATIONS") - keys] && !find_dir(&cfg->migrations, "LIPA_MIGRATIONS", err, errsz)) ||
        (!given[find("LIPA_MENUS") - keys] && !find_dir(&cfg->menus, "LIPA_MENUS", err, errsz)))
        return false;
    if (cfg->min_amount > cfg->max_amount) {
        snprintf(err, errsz, "LIPA_MIN_AMOUNT: greater than LIPA_MAX_AMOUNT");
        return false;
    }
    if (!cfg->public_url) { /* where this lipad answers on this machine */
        char u[96];
        bool any = !strcmp(cfg->bind, "0.0.0.0") || !strcmp(cfg->bind, "::");
        const char *host = any ? "127.0.0.1" : cfg->bind;
        bool v6 = strchr(host, ':') != NULL;
        snprintf(u, sizeof u, "http://%s%s%s:%lld", v6 ? "[" : "", host, v6 ? "]" : "", (long long)cfg->port);
        cfg->public_url = strdup(u);
    }
    if (!cfg->instance || !*cfg->instance) { /* host:port names one lipad among several */
        char host[64] = "lipad", id[96];
        if (gethostname(host, sizeof host) != 0)
            str_copy(host, sizeof host, "lipad");
        host[sizeof host - 1] = '\0';
        snprintf(id, sizeof id, "%s:%lld", host, (long long)cfg->port);
        free(cfg->instance);
        cfg->instance = strdup(id);
    }
    if (!cfg->admin_key || !*cfg->admin_key) {
        snprintf(err, errsz, "LIPA_ADMIN_KEY: required (at least 16 characters)");
        return false;
    }
    if (strlen(cfg->admin_key) < 16) {
        snprintf(err, errsz, "LIPA_ADMIN_KEY: shorter than 16 characters");
        return false;
    }
    if (!cfg->pepper || strlen(cfg->pepper) < 16) {
        snprintf(err, errsz, "LIPA_PEPPER: required, at least 16 characters");
        return false;
    }
    cfg->production = !strcmp(cfg->mode, "production");
    if (cfg->production && !production_ok(cfg, err, errsz))
        return false;
    return true;
}

void config_free(struct config *cfg)
{
    for (size_t i = 0; i < NKEYS; i++)
        if (keys[i].type != C_INT) {
            char **slot = (char **)((char *)cfg + keys[i].off);
            free(*slot);
            *slot = NULL;
        }
}

void config_usage(FILE *f)
{
    for (size_t i = 0; i < NKEYS; i++)
        fprintf(f, "  %-24s %s\n", keys[i].name, keys[i].def ? keys[i].def : "(see README)");
}
