/* crypto: OpenSSL wrappers; see crypto.h. */
#include "util/crypto.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <openssl/sha.h>
#include <stdlib.h>
#include <string.h>

void crypto_sha256(const void *data, size_t n, uint8_t out[32]) { SHA256(data, n, out); }

void crypto_hmac_sha256(const void *key, size_t keylen, const void *data, size_t n, uint8_t out[32])
{
    unsigned int len = 32;
    HMAC(EVP_sha256(), key, (int)keylen, data, n, out, &len);
}

void crypto_hmac_sha512(const void *key, size_t keylen, const void *data, size_t n, uint8_t out[64])
{
    unsigned int len = 64;
    HMAC(EVP_sha512(), key, (int)keylen, data, n, out, &len);
}

void crypto_hex(const uint8_t *in, size_t n, char *out, bool upper)
{
    const char *digits = upper ? "0123456789ABCDEF" : "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = digits[in[i] >> 4];
        out[2 * i + 1] = digits[in[i] & 15];
    }
    out[2 * n] = 0;
}

char *crypto_base64(const void *data, size_t n)
{
    char *out = malloc(4 * ((n + 2) / 3) + 1);
    if (out)
        EVP_EncodeBlock((unsigned char *)out, data, (int)n);
    return out;
}

bool crypto_random(void *out, size_t n) { return RAND_bytes(out, (int)n) == 1; }

bool crypto_random_chars(char *out, size_t n, const char *alphabet)
{
    size_t k = strlen(alphabet);
    unsigned limit = 256 - 256 % (unsigned)k; /* reject to avoid modulo bias */
    size_t i = 0;
    while (i < n) {
        unsigned char b[32];
        if (!crypto_random(b, sizeof b))
            return false;
        for (size_t j = 0; j < sizeof b && i < n; j++)
            if (b[j] < limit)
                out[i++] = alphabet[b[j] % k];
    }
    out[n] = 0;
    return true;
}

bool crypto_eq(const void *a, size_t alen, const void *b, size_t blen)
{
    if (alen != blen)
        return false;
    return CRYPTO_memcmp(a, b, alen) == 0;
}

bool crypto_streq(const char *a, const char *b)
{
    if (!a || !b)
        return false;
    /* compare HMACs of both so the length check leaks nothing either */
    static const char k[] = "lipa-streq";
    uint8_t ha[32], hb[32];
    crypto_hmac_sha256(k, sizeof k - 1, a, strlen(a), ha);
    crypto_hmac_sha256(k, sizeof k - 1, b, strlen(b), hb);
    return CRYPTO_memcmp(ha, hb, 32) == 0;
}
