/* app/openapi: GET /openapi.json, the OpenAPI 3.1 description of every
 * route lipad serves. The document is docs/openapi.json, compiled in by
 * the Makefile (build/<variant>/openapi_json.c), so the answer is the
 * document of this very build. */
#ifndef LIPA_OPENAPI_H
#define LIPA_OPENAPI_H

#include "http/server.h"

/* The document's bytes, NUL-terminated (generated at build time). */
extern const char app_openapi_json[];

/* GET /openapi.json. */
extern const struct http_route openapi_routes[];

#endif
