/* crypto: OpenSSL wrappers; see crypto.h. */
#include "util/crypto.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <openssl/sha.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void crypto_sha256(const void *data, size_t n, uint8_t out[32]) { SHA256(data, n, out); }

struct crypto_sha256 {
    EVP_MD_CTX *md;
};

struct crypto_sha256 *crypto_sha256_begin(void)
{
    struct crypto_sha256 *c = calloc(1, sizeof *c);
    if (c && (!(c->md = EVP_MD_CTX_new()) || EVP_DigestInit_ex(c->md, EVP_sha256(), NULL) != 1)) {
        EVP_MD_CTX_free(c->md);
        free(c);
        c = NULL;
    }
    return c;
}

void crypto_sha256_add(struct crypto_sha256 *c, const void *data, size_t n)
{
    if (n)
        EVP_DigestUpdate(c->md, data, n);
}

void crypto_sha256_end(struct crypto_sha256 *c, uint8_t out[32])
{
    if (!c)
        return;
    if (out)
        EVP_DigestFinal_ex(c->md, out, NULL);
    EVP_MD_CTX_free(c->md);
    free(c);
}

/* HMAC (RFC 2104) on digests fetched once. OpenSSL 3's one-shot HMAC()
 * fetches its algorithms on every call: 1.7 - 3 us a MAC on the benchmark
 * VM, against 0.4 - 0.5 us here (a crypto_streq is two, on every M-Pesa
 * callback and admin request). */
static EVP_MD *md_sha256, *md_sha512;
static pthread_once_t md_once = PTHREAD_ONCE_INIT;

static void md_fetch(void)
{
    md_sha256 = EVP_MD_fetch(NULL, "SHA256", NULL);
    md_sha512 = EVP_MD_fetch(NULL, "SHA512", NULL);
}

static void hmac(const EVP_MD *md, size_t block, const void *key, size_t keylen, const void *data, size_t n,
                 uint8_t *out)
{
    uint8_t k[128] = {0}, pad[128], inner[EVP_MAX_MD_SIZE];
    unsigned int ilen = 0;
    EVP_MD_CTX *c = EVP_MD_CTX_new();
    bool ok = c != NULL;
    if (keylen > block) /* a long key is its digest */
        ok = ok && EVP_Digest(key, keylen, k, NULL, md, NULL) == 1;
    else if (keylen)
        memcpy(k, key, keylen);
    for (size_t i = 0; i < block; i++)
        pad[i] = k[i] ^ 0x36;
    ok = ok && EVP_DigestInit_ex(c, md, NULL) == 1 && EVP_DigestUpdate(c, pad, block) == 1 &&
         (!n || EVP_DigestUpdate(c, data, n) == 1) && EVP_DigestFinal_ex(c, inner, &ilen) == 1;
    for (size_t i = 0; i < block; i++)
        pad[i] = k[i] ^ 0x5c;
    ok = ok && EVP_DigestInit_ex(c, md, NULL) == 1 && EVP_DigestUpdate(c, pad, block) == 1 &&
         EVP_DigestUpdate(c, inner, ilen) == 1 && EVP_DigestFinal_ex(c, out, NULL) == 1;
    if (!ok) /* out of memory: the slow way, which needs none of ours */
        HMAC(md, key, (int)keylen, data, n, out, &ilen);
    EVP_MD_CTX_free(c);
    OPENSSL_cleanse(k, sizeof k);
    OPENSSL_cleanse(pad, sizeof pad);
}

void crypto_hmac_sha256(const void *key, size_t keylen, const void *data, size_t n, uint8_t out[32])
{
    pthread_once(&md_once, md_fetch);
    hmac(md_sha256 ? md_sha256 : EVP_sha256(), 64, key, keylen, data, n, out);
}

void crypto_hmac_sha512(const void *key, size_t keylen, const void *data, size_t n, uint8_t out[64])
{
    pthread_once(&md_once, md_fetch);
    hmac(md_sha512 ? md_sha512 : EVP_sha512(), 128, key, keylen, data, n, out);
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

bool crypto_uuid4(char out[37])
{
    uint8_t b[16];
    if (!crypto_random(b, sizeof b))
        return false;
    b[6] = (uint8_t)((b[6] & 0x0f) | 0x40); /* version 4 */
    b[8] = (uint8_t)((b[8] & 0x3f) | 0x80); /* RFC 4122 variant */
    char hex[33];
    crypto_hex(b, sizeof b, hex, false);
    memcpy(out, hex, 8);
    out[8] = '-';
    memcpy(out + 9, hex + 8, 4);
    out[13] = '-';
    memcpy(out + 14, hex + 12, 4);
    out[18] = '-';
    memcpy(out + 19, hex + 16, 4);
    out[23] = '-';
    memcpy(out + 24, hex + 20, 12);
    out[36] = '\0';
    return true;
}

bool crypto_uuid_ok(const char *s)
{
    if (!s || strlen(s) != 36)
        return false;
    for (int i = 0; i < 36; i++) {
        bool dash = i == 8 || i == 13 || i == 18 || i == 23;
        char c = s[i];
        bool hex = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
        if (dash ? c != '-' : !hex)
            return false;
    }
    return true;
}

static int unhex(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    return -1;
}

bool crypto_seal(const uint8_t key[32], const void *plain, size_t n, char *out, size_t outsz)
{
    if (n > 4096 || outsz < CRYPTO_SEALED_SIZE(n))
        return false;
    uint8_t buf[12 + 4096 + 16];
    if (!crypto_random(buf, 12))
        return false;
    EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
    int len = 0, fin = 0;
    bool ok = c && EVP_EncryptInit_ex(c, EVP_aes_256_gcm(), NULL, key, buf) == 1 &&
              EVP_EncryptUpdate(c, buf + 12, &len, plain, (int)n) == 1 &&
              EVP_EncryptFinal_ex(c, buf + 12 + len, &fin) == 1 &&
              EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_GET_TAG, 16, buf + 12 + n) == 1;
    EVP_CIPHER_CTX_free(c);
    if (ok)
        crypto_hex(buf, 12 + n + 16, out, false);
    OPENSSL_cleanse(buf, sizeof buf);
    return ok;
}

bool crypto_open(const uint8_t key[32], const char *sealed, char *out, size_t outsz)
{
    size_t hexlen = sealed ? strlen(sealed) : 0;
    if (hexlen % 2 || hexlen < 2 * (12 + 16) || hexlen > 2 * (12 + 4096 + 16))
        return false;
    size_t total = hexlen / 2, n = total - 12 - 16;
    if (outsz <= n)
        return false;
    uint8_t buf[12 + 4096 + 16];
    for (size_t i = 0; i < total; i++) {
        int hi = unhex(sealed[2 * i]), lo = unhex(sealed[2 * i + 1]);
        if (hi < 0 || lo < 0)
            return false;
        buf[i] = (uint8_t)(hi << 4 | lo);
    }
    EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
    int len = 0, fin = 0;
    bool ok = c && EVP_DecryptInit_ex(c, EVP_aes_256_gcm(), NULL, key, buf) == 1 &&
              EVP_DecryptUpdate(c, (uint8_t *)out, &len, buf + 12, (int)n) == 1 &&
              EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_SET_TAG, 16, buf + 12 + n) == 1 &&
              EVP_DecryptFinal_ex(c, (uint8_t *)out + len, &fin) == 1;
    EVP_CIPHER_CTX_free(c);
    OPENSSL_cleanse(buf, sizeof buf);
    if (ok)
        out[n] = '\0';
    else
        OPENSSL_cleanse(out, outsz);
    return ok;
}

bool crypto_reference(const char *prefix, int64_t ms, char *out, size_t n)
{
    char rnd[CRYPTO_REF_RANDOM + 1];
    if (!crypto_random_chars(rnd, CRYPTO_REF_RANDOM, CRYPTO_REF_ALPHABET))
        return false;
    int w = snprintf(out, n, "%s-%lld-%s", prefix, (long long)ms, rnd);
    return w > 0 && (size_t)w < n;
}
