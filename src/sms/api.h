/* sms/api: Africa's Talking's SMS callbacks (inbound texts, delivery
 * reports) and the admin's view and notices (/api/sms/...). */
#ifndef LIPA_SMS_API_H
#define LIPA_SMS_API_H

#include "http/server.h"

extern const struct http_route sms_routes[];

#endif
