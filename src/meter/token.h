/* token: lipa's own 20-digit prepaid token (not STS: real meters do not
 * accept it; it is a receipt lipa itself can verify). 66 bits in 20 digits:
 *   minute (24 bits, minutes since 2024-01-01T00:00Z)
 *   units  (16 bits, tenths of a kWh, 0..6553.5 kWh)
 *   mac    (26 bits, first bits of HMAC-SHA256(pepper, "lipa-token-v1|"
 *           meter "|" minute "|" units))
 * packed as minute<<42 | units<<26 | mac, written as 20 decimal digits.
 * Nothing secret is stored: the token is re-derived from the payment's
 * meter, minute and units with the pepper. Pure and thread-safe. */
#ifndef LIPA_TOKEN_H
#define LIPA_TOKEN_H

#include <stdbool.h>
#include <stdint.h>

#define TOKEN_EPOCH_S 1704067200 /* 2024-01-01T00:00:00Z */

/* out gets 20 digits + NUL. false when minute or units are out of range. */
bool token_issue(const char *pepper, const char *meter_id, int64_t minute, int64_t units_tenth_kwh,
                 char out[21]);
/* Checks digits against meter_id; on success gives back minute and units. */
bool token_verify(const char *pepper, const char *meter_id, const char *digits,
                  int64_t *minute, int64_t *units_tenth_kwh);
/* "1234 5678 9012 3456 7890" into out (25 bytes). */
void token_group(const char *digits, char out[25]);
/* Minute field for a unix time. */
int64_t token_minute(int64_t unix_s);

#endif
