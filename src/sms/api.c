/* sms/api: inbound SMS, delivery reports and the message list (/api/sms/...). */
#include "app/routes.h"

const struct http_route sms_routes[] = {
    {NULL, NULL, NULL, 0},
};
