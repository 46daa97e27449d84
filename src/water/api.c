/* water/api: document 001's payment endpoints (/api/payments/...). */
#include "app/routes.h"

const struct http_route water_routes[] = {
    {NULL, NULL, NULL, 0},
};
