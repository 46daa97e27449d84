/* client/api: the admin's face for integrators: clients, their keys and
 * packages, and the notices sent to their callback URLs (/api/clients...),
 * behind the admin key. Handlers run on HTTP
 * threads; all state is in the store. */
#ifndef LIPA_CLIENT_API_H
#define LIPA_CLIENT_API_H

#include "http/server.h"

extern const struct http_route client_routes[];

#endif
