/* http/cors: cross-origin answers for a face that web pages on other sites
 * may call from a browser (the integrators' public payments). The browser
 * asks first with a preflight (OPTIONS, answered by http_cors_preflight)
 * and then reads an actual answer only if it carries
 * Access-Control-Allow-Origin (http_cors adds it).
 *
 * Which origins may call is one setting (LIPA_CORS_ORIGINS): "*" for any,
 * or a comma-separated list of origins ("https://shop.example,
 * https://pay.example"). Any: the header says "*". A list: it names the
 * request's Origin when that is listed (and Vary: Origin tells caches the
 * answer depends on it); a request from an origin not listed gets no CORS
 * headers at all, so the browser keeps the answer from the page. The
 * answer itself is the same: CORS is the browser's rule, not access
 * control (server-to-server calls send no Origin).
 *
 * Pure helpers and response headers; thread-safe. */
#ifndef LIPA_HTTP_CORS_H
#define LIPA_HTTP_CORS_H

#include "http/server.h"

#include <stdbool.h>

#define CORS_ORIGIN_MAX 256 /* an Origin header longer than this matches no list */

/* The value of Access-Control-Allow-Origin for a request from origin (NULL
 * or "" when it sent none) under allowed: "*" when allowed holds "*",
 * origin itself when allowed lists it (scheme and host compared without
 * regard to case, a trailing slash in the list ignored), NULL when no
 * header may be sent. The result is "*" or origin. Pure. */
const char *cors_allow_origin(const char *allowed, const char *origin);
/* allowed is a well-formed setting: "*", or origins "http(s)://host[:port]"
 * separated by commas (spaces around them ignored). Pure. */
bool cors_setting_ok(const char *allowed);

/* Adds Access-Control-Allow-Origin (and Vary: Origin when it names the
 * origin) to resp for req under allowed; nothing for an origin not
 * allowed. */
void http_cors(const struct http_req *req, struct http_resp *resp, const char *allowed);
/* Answers a preflight: 204 with no body, and for an allowed origin the
 * Allow-Origin above plus Access-Control-Allow-Methods (methods),
 * -Allow-Headers (headers) and -Max-Age (max_age_s seconds). */
void http_cors_preflight(const struct http_req *req, struct http_resp *resp, const char *allowed,
                         const char *methods, const char *headers, int max_age_s);

#endif
