/* crypto: the one module that touches OpenSSL. Hashes, HMACs, base64,
 * CSPRNG bytes and constant-time comparison. All functions are thread-safe
 * and pure except crypto_random. Hex output is lower-case unless named. */
#ifndef LIPA_CRYPTO_H
#define LIPA_CRYPTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

void crypto_sha256(const void *data, size_t n, uint8_t out[32]);
/* SHA-256 of data that comes in pieces (too much to hold at once): begin
 * (NULL when out of memory), add each piece, end writes the hash and
 * frees; crypto_sha256_end(c, NULL) frees without. */
struct crypto_sha256;
struct crypto_sha256 *crypto_sha256_begin(void);
void crypto_sha256_add(struct crypto_sha256 *c, const void *data, size_t n);
void crypto_sha256_end(struct crypto_sha256 *c, uint8_t out[32]);
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

/* A payment reference "<prefix>-<ms>-<8 of A-Z and 0-9>" into out (n
 * bytes): letters, digits and '-', which every provider's reference
 * takes. False only if the CSPRNG failed or out is too small. */
#define CRYPTO_REF_ALPHABET "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
#define CRYPTO_REF_RANDOM 8
bool crypto_reference(const char *prefix, int64_t ms, char *out, size_t n);

/* A random (version 4) UUID, lower-case, into out (37 bytes); false only
 * if the CSPRNG failed. */
bool crypto_uuid4(char out[37]);
/* s is a UUID's text form (8-4-4-4-12 hex digits, any case, any version).
 * Pure. */
bool crypto_uuid_ok(const char *s);

/* Sealing a secret that lipa must read back (a client's webhook secret):
 * AES-256-GCM under key with a fresh 12-byte nonce, as lower-case hex of
 * nonce | ciphertext | tag. crypto_seal writes 2 * (12 + n + 16) + 1 bytes
 * into out (outsz at least that; false otherwise or if the CSPRNG failed).
 * crypto_open reverses it into out (outsz > the plaintext, NUL-terminated)
 * and is false for anything that is not a sealing under key (wrong key,
 * altered, truncated, not hex). */
#define CRYPTO_SEALED_SIZE(n) (2 * (12 + (n) + 16) + 1)
bool crypto_seal(const uint8_t key[32], const void *plain, size_t n, char *out, size_t outsz);
bool crypto_open(const uint8_t key[32], const char *sealed, char *out, size_t outsz);

#endif
