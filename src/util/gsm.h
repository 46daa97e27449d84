/* gsm: GSM 03.38 (GSM-7) text facts for USSD screens and SMS parts.
 * Pure and thread-safe. Text is UTF-8. */
#ifndef LIPA_GSM_H
#define LIPA_GSM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Septets the text takes in GSM-7 (extension characters ^{}[]~\|€ count two);
 * -1 when some character has no GSM-7 form. */
int gsm_septets(const char *utf8);
/* Septets of one character: 0 not in GSM-7, 1 basic set, 2 extension
 * table (escape + character). */
int gsm_width(uint32_t cp);
/* Characters (code points) in the text. */
size_t gsm_chars(const char *utf8);
/* Copies in to out (outsz bytes), replacing each character without a GSM-7
 * form by '?', and control characters other than \n by ' '. */
void gsm_sanitize(const char *in, char *out, size_t outsz);

/* SMS encoding and part count (3GPP TS 23.040): GSM-7 160 / 153 per part,
 * UCS-2 70 / 67 per part. */
struct gsm_parts {
    bool ucs2;
    int parts;
    int units;  /* septets (GSM-7) or UTF-16 code units (UCS-2) */
};
void gsm_parts(const char *utf8, struct gsm_parts *out);

#endif
