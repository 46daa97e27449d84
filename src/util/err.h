/* util/err: the one error enum of lipa, ERR_OK = 0. Logic returns it; the
 * HTTP faces turn it into a status and a code string through the one table
 * in http/api.c (api_status, api_code), so a logic file names its failures
 * without knowing about HTTP. */
#ifndef LIPA_UTIL_ERR_H
#define LIPA_UTIL_ERR_H

enum err {
    ERR_OK = 0,
    ERR_VALIDATION,    /* 400 */
    ERR_BAD_JSON,      /* 400 */
    ERR_UNAUTHORIZED,  /* 401 */
    ERR_FORBIDDEN,     /* 403 */
    ERR_NOT_FOUND,     /* 404 */
    ERR_METHOD,        /* 405 */
    ERR_CONFLICT,      /* 409 */
    ERR_UNPROCESSABLE, /* 422: well-formed, but refused as a whole */
    ERR_TOO_LARGE,     /* 413 */
    ERR_RATE_LIMIT,    /* 429 */
    ERR_INTERNAL,      /* 500 */
    ERR_PROVIDER,      /* 502 */
    ERR_UNAVAILABLE,   /* 503 */
    ERR_TIMEOUT,       /* 504: a provider did not answer in time */
};

#endif
