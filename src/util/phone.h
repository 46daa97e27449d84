/* phone: Kenyan mobile numbers. Accepts 0712345678, +254712345678,
 * 254712345678 and 712345678 (and the 01xx ranges), with spaces or dashes,
 * and stores one form: E.164 with the plus, "+254712345678". Pure. */
#ifndef LIPA_PHONE_H
#define LIPA_PHONE_H

#include <stdbool.h>

#define PHONE_MAX 16

/* out gets "+2547XXXXXXXX"; false when in is not a Kenyan mobile number. */
bool phone_normalize(const char *in, char out[PHONE_MAX]);
/* Daraja's form, "2547XXXXXXXX", from a normalized number. */
void phone_msisdn(const char *e164, char out[PHONE_MAX]);

#endif
