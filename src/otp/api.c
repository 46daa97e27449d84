/* otp/api: document 001's OTP and station endpoints (/api/otp, /api/stations). */
#include "app/routes.h"

const struct http_route otp_routes[] = {
    {NULL, NULL, NULL, 0},
};
