/* token: lipa's own 20-digit prepaid token, a receipt lipa can re-derive and
 * verify with its pepper (not STS); see token.h for the bit layout.
 * The 66-bit value is held in an unsigned __int128 so packing and the
 * decimal form stay plain arithmetic. */
#include "meter/token.h"

#include "util/crypto.h"

#include <stdio.h>
#include <string.h>

#define MINUTE_BITS 24
#define UNITS_BITS 16
#define MAC_BITS 26
#define MINUTE_MAX ((INT64_C(1) << MINUTE_BITS) - 1)
#define UNITS_MAX ((INT64_C(1) << UNITS_BITS) - 1)
#define MAC_MASK ((UINT32_C(1) << MAC_BITS) - 1)
#define DIGITS 20

/* First MAC_BITS bits of HMAC-SHA256(pepper, "lipa-token-v1|" meter "|" minute "|" units). */
static uint32_t token_mac(const char *pepper, const char *meter_id, int64_t minute, int64_t units)
{
    char msg[384];
    uint8_t h[32];
    int n = snprintf(msg, sizeof msg, "lipa-token-v1|%s|%lld|%lld", meter_id, (long long)minute,
                     (long long)units);
    /* meter ids are short; a cut message would still be deterministic, but
     * two long ids sharing a prefix must not share tokens, so refuse them */
    if (n < 0 || (size_t)n >= sizeof msg)
        return UINT32_MAX;
    crypto_hmac_sha256(pepper, strlen(pepper), msg, (size_t)n, h);
    uint32_t top = (uint32_t)h[0] << 24 | (uint32_t)h[1] << 16 | (uint32_t)h[2] << 8 | h[3];
    return top >> (32 - MAC_BITS);
}

static bool args_ok(const char *pepper, const char *meter_id)
{
    return pepper && *pepper && meter_id && *meter_id && strlen(meter_id) <= 256;
}

bool token_issue(const char *pepper, const char *meter_id, int64_t minute, int64_t units_tenth_kwh,
                 char out[21])
{
    out[0] = 0;
    if (!args_ok(pepper, meter_id) || minute < 0 || minute > MINUTE_MAX || units_tenth_kwh < 0 ||
        units_tenth_kwh > UNITS_MAX)
        return false;
    uint32_t mac = token_mac(pepper, meter_id, minute, units_tenth_kwh);
    if (mac == UINT32_MAX)
        return false;
    unsigned __int128 v = (unsigned __int128)minute << (UNITS_BITS + MAC_BITS) |
                          (unsigned __int128)units_tenth_kwh << MAC_BITS | mac;
    for (int i = DIGITS - 1; i >= 0; i--) {
        out[i] = (char)('0' + (int)(v % 10));
        v /= 10;
    }
    out[DIGITS] = 0;
    return true;
}

bool token_verify(const char *pepper, const char *meter_id, const char *digits,
                  int64_t *minute, int64_t *units_tenth_kwh)
{
    if (!args_ok(pepper, meter_id) || !digits)
        return false;
    unsigned __int128 v = 0;
    size_t i;
    for (i = 0; digits[i]; i++) {
        if (i >= DIGITS || digits[i] < '0' || digits[i] > '9')
            return false;
        v = v * 10 + (unsigned)(digits[i] - '0');
    }
    if (i != DIGITS || v >> (MINUTE_BITS + UNITS_BITS + MAC_BITS))
        return false;
    int64_t m = (int64_t)(v >> (UNITS_BITS + MAC_BITS));
    int64_t u = (int64_t)((v >> MAC_BITS) & (unsigned __int128)UNITS_MAX);
    uint32_t got = (uint32_t)(v & MAC_MASK);
    uint32_t want = token_mac(pepper, meter_id, m, u);
    if (want == UINT32_MAX)
        return false;
    uint8_t a[4] = {(uint8_t)(got >> 24), (uint8_t)(got >> 16), (uint8_t)(got >> 8), (uint8_t)got};
    uint8_t b[4] = {(uint8_t)(want >> 24), (uint8_t)(want >> 16), (uint8_t)(want >> 8), (uint8_t)want};
    if (!crypto_eq(a, sizeof a, b, sizeof b))
        return false;
    if (minute)
        *minute = m;
    if (units_tenth_kwh)
        *units_tenth_kwh = u;
    return true;
}

void token_group(const char *digits, char out[25])
{
    size_t o = 0;
    for (size_t i = 0; digits && digits[i] && i < DIGITS; i++) {
        if (i && i % 4 == 0)
            out[o++] = ' ';
        out[o++] = digits[i];
    }
    out[o] = 0;
}

int64_t token_minute(int64_t unix_s)
{
    int64_t d = unix_s - TOKEN_EPOCH_S;
    /* floor, so an instant before the epoch is negative and refused by token_issue */
    return d >= 0 ? d / 60 : -((-d + 59) / 60);
}
