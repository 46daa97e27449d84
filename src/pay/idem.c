/* pay/idem: scoped, request-bound idempotency keys; see idem.h. */
#include "pay/idem.h"

#include "store/payments.h"
#include "util/crypto.h"

#include <assert.h>
#include <stdio.h>
#include <string.h>

/* A field value longer than this is hashed first (metadata can be 2 KiB). */
#define INLINE_MAX 256

static bool key_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || strchr("-_.+/=", c);
}

/* Feeds one field into the fingerprint: the state so far, the name, a
 * tag (N: none, V: the value, H: the value's hash), the length and the
 * bytes, so no two different field lists hash alike. */
static void absorb(struct idem *id, const char *name, const char *v, size_t n)
{
    unsigned char digest[32];
    char tag = 'V';
    if (!v) {
        tag = 'N';
        n = 0;
    } else if (n > INLINE_MAX) {
        crypto_sha256(v, n, digest);
        v = (const char *)digest;
        n = sizeof digest;
        tag = 'H';
    }
    char buf[32 + 48 + 24 + INLINE_MAX];
    memcpy(buf, id->state, 32);
    int k = snprintf(buf + 32, 48 + 24, "%.40s=%c%zu:", name, tag, n);
    assert(k > 0 && k < 48 + 24);
    if (n)
        memcpy(buf + 32 + k, v, n);
    crypto_sha256(buf, 32 + (size_t)k + n, id->state);
    crypto_hex(id->state, sizeof id->state, id->fp, false);
}

bool idem_begin(struct idem *id, const char *face, const char *scope, const char *header, char *why,
                size_t whysz)
{
    assert(face && strlen(face) <= IDEM_FACE_MAX);
    memset(id, 0, sizeof *id);
    size_t n = header ? strlen(header) : 0;
    if (n > IDEM_VALUE_MAX) {
        snprintf(why, whysz, "Idempotency-Key: at most %d characters", IDEM_VALUE_MAX);
        return false;
    }
    for (size_t i = 0; i < n; i++) {
        if (!key_char(header[i])) {
            snprintf(why, whysz, "Idempotency-Key: letters, digits and - _ . + / = only");
            return false;
        }
    }
    if (scope) {
        size_t sn = strlen(scope);
        bool ok = sn && sn <= IDEM_SCOPE_MAX;
        for (size_t i = 0; ok && i < sn; i++)
            ok = key_char(scope[i]) && scope[i] != '/' && scope[i] != '=';
        if (!ok) {
            snprintf(why, whysz, "Idempotency-Key: cannot be scoped to this caller");
            return false;
        }
    }
    char seed[64];
    snprintf(seed, sizeof seed, "lipa.idem.1:%s", face);
    crypto_sha256(seed, strlen(seed), id->state);
    crypto_hex(id->state, sizeof id->state, id->fp, false);
    if (n) /* fits: face, scope and value are capped above */
        snprintf(id->key, sizeof id->key, "%s:%s%s%s", face, scope ? scope : "", scope ? ":" : "", header);
    return true;
}

void idem_text(struct idem *id, const char *name, const char *value)
{
    absorb(id, name, value, value ? strlen(value) : 0);
}

void idem_int(struct idem *id, const char *name, int64_t value)
{
    char num[24];
    snprintf(num, sizeof num, "%lld", (long long)value);
    absorb(id, name, num, strlen(num));
}

bool idem_conflicts(const struct idem *id, const struct payment *p)
{
    return id->key[0] && p->idem_fp[0] && strcmp(p->idem_fp, id->fp) != 0;
}
