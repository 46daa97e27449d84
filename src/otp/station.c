/* otp/station: water stations and their keys; see otp.h. A key is 40
 * characters of [A-Za-z0-9] from the CSPRNG (about 238 bits), shown once
 * at registration; the store keeps HMAC-SHA256(pepper, key) only, so a
 * copy of the database opens no station. */
#include "otp/otp.h"

#include "util/crypto.h"
#include "util/log.h"
#include "util/str.h"

#include <string.h>

#define KEY_ALPHABET "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"

void otp_station_key_hmac(const char *pepper, const char *key, char hex[65])
{
    uint8_t mac[32];
    crypto_hmac_sha256(pepper, strlen(pepper), key, strlen(key), mac);
    crypto_hex(mac, sizeof mac, hex, false);
}

enum store_rc otp_station_register(struct app *a, struct otp_station *s, char key[OTP_STATION_KEY_LEN + 1])
{
    if (!s->pulses_per_liter)
        s->pulses_per_liter = a->cfg.pulses_per_liter;
    if (!crypto_random_chars(key, OTP_STATION_KEY_LEN, KEY_ALPHABET))
        return ST_ERROR;
    otp_station_key_hmac(a->cfg.pepper, key, s->key_hmac);
    enum store_rc rc = store_station_create(a->store, s);
    if (rc != ST_OK)
        explicit_bzero(key, OTP_STATION_KEY_LEN + 1);
    else
        log_info("station.registered", "station=%s pulses_per_liter=%lld", s->id, (long long)s->pulses_per_liter);
    return rc;
}

bool otp_station_auth(struct app *a, const char *station_id, const char *key, struct otp_station *out)
{
    char hex[65];
    otp_station_key_hmac(a->cfg.pepper, key ? key : "", hex);
    enum store_rc rc = station_id && *station_id ? store_station_get(a->store, station_id, out) : ST_NOT_FOUND;
    /* the HMAC is computed for an unknown station too: same work either way */
    bool ok = rc == ST_OK && key && *key && crypto_eq(hex, 64, out->key_hmac, strlen(out->key_hmac));
    if (!ok && rc == ST_OK)
        log_warn("station.bad_key", "station=%s", station_id);
    return ok;
}

int64_t otp_pulses(const struct otp_station *s, int64_t liters)
{
    return liters * s->pulses_per_liter;
}
