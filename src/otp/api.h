/* otp/api: the water code faces (/api/otp/..., /api/stations/...): codes
 * issued and resent, stations registered, and a station verifying and
 * completing a code. */
#ifndef LIPA_OTP_API_H
#define LIPA_OTP_API_H

#include "http/server.h"

extern const struct http_route otp_routes[];

#endif
