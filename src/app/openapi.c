/* app/openapi: serves the OpenAPI document compiled into lipad. Public:
 * it describes the API, and holds no key or setting of this deployment. */
#include "app/openapi.h"

#include "http/api.h"

static void openapi_get(void *ctx, struct http_req *req, struct http_resp *resp)
{
    http_resp_text(resp, 200, "application/json", app_openapi_json);
}

const struct http_route openapi_routes[] = {
    {"GET", "/openapi.json", openapi_get, ENV_PLAIN, 0},
    {NULL, NULL, NULL, 0, 0},
};
