/* http/cors: cross-origin answers; see cors.h. */
#include "http/cors.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

/* The next entry of a comma-separated list: *p moves past it; the entry
 * is [*start, *start + *len) without spaces around it and without one
 * trailing slash. False at the end. */
static bool next_entry(const char **p, const char **start, size_t *len)
{
    const char *s = *p;
    if (!*s)
        return false;
    const char *comma = strchr(s, ',');
    const char *end = comma ? comma : s + strlen(s);
    *p = comma ? comma + 1 : end;
    while (s < end && (*s == ' ' || *s == '\t'))
        s++;
    while (end > s && (end[-1] == ' ' || end[-1] == '\t'))
        end--;
    if (end > s && end[-1] == '/')
        end--;
    *start = s;
    *len = (size_t)(end - s);
    return true;
}

const char *cors_allow_origin(const char *allowed, const char *origin)
{
    const char *p = allowed ? allowed : "", *e;
    size_t n;
    size_t on = origin ? strlen(origin) : 0;
    while (next_entry(&p, &e, &n)) {
        if (n == 1 && *e == '*')
            return "*";
        if (on && on <= CORS_ORIGIN_MAX && n == on && !strncasecmp(e, origin, n))
            return origin;
    }
    return NULL;
}

bool cors_setting_ok(const char *allowed)
{
    const char *p = allowed ? allowed : "", *e;
    size_t n, entries = 0;
    while (next_entry(&p, &e, &n)) {
        entries++;
        if (n == 1 && *e == '*')
            continue;
        size_t scheme = n > 8 && !strncasecmp(e, "https://", 8) ? 8 : n > 7 && !strncasecmp(e, "http://", 7) ? 7 : 0;
        if (!scheme || n > CORS_ORIGIN_MAX)
            return false;
        /* an origin is scheme, host and port: no path, query, user or space */
        for (size_t i = scheme; i < n; i++)
            if (strchr("/?#@ \t\"", e[i]) || (unsigned char)e[i] < 0x21 || (unsigned char)e[i] > 0x7e)
                return false;
    }
    return entries > 0;
}

void http_cors(const struct http_req *req, struct http_resp *resp, const char *allowed)
{
    /* with a list of origins the answer depends on the Origin header, also
     * when it names none of them: a cache must not hand one page's answer
     * to another */
    if (!cors_allow_origin(allowed, NULL))
        http_resp_header(resp, "Vary", "Origin");
    const char *v = cors_allow_origin(allowed, http_header(req, "Origin"));
    if (v)
        http_resp_header(resp, "Access-Control-Allow-Origin", v);
}

void http_cors_preflight(const struct http_req *req, struct http_resp *resp, const char *allowed,
                         const char *methods, const char *headers, int max_age_s)
{
    http_resp_text(resp, 204, "text/plain", "");
    http_cors(req, resp, allowed);
    if (!cors_allow_origin(allowed, http_header(req, "Origin")))
        return;
    char age[24];
    snprintf(age, sizeof age, "%d", max_age_s);
    http_resp_header(resp, "Access-Control-Allow-Methods", methods);
    http_resp_header(resp, "Access-Control-Allow-Headers", headers);
    http_resp_header(resp, "Access-Control-Max-Age", age);
}
