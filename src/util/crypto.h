/* crypto: the one module that touches OpenSSL. Hashes, HMACs, base64,
 * CSPRNG bytes and constant-time comparison. All functions are thread-safe
 * and pure except crypto_random. Hex output is lower-case unless named. */
#ifndef LIPA_CRYPTO_H
#define LIPA_CRYPTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

void crypto_sha256(const void *data, size_t n, uint8_t out[32]);
void crypto_hmac_sha256(const void *key, size_t keylen, const void *data, size_t n, uint8_t out[32]);
void crypto_hmac_sha512(const void *key, size_t keylen, const void *data, size_t n, uint8_t out[64]);
/* hex of n bytes into out (2n+1 bytes). */
void crypto_hex(const uint8_t *in, size_t n, char *out, bool upper);
/* base64 (standard alphabet, padded) into a malloc'ed string. */
char *crypto_base64(const void *data, size_t n);
/* Fills out from the CSPRNG; false only if the CSPRNG failed. */
bool crypto_random(void *out, size_t n);
/* n random characters of alphabet into out (n+1 bytes), unbiased. */
bool crypto_random_chars(char *out, size_t n, const char *alphabet);
/* Equal length and content, in time independent of the content. */
bool crypto_eq(const void *a, size_t alen, const void *b, size_t blen);
bool crypto_streq(const char *a, const char *b);

#endif
