/* check_util: the util layer: phone numbers, urlencoded forms, GSM-7 text
 * and SMS parts, crypto vectors, bounded number parsing, log masking and
 * the configuration table (with a fake getenv). */
#include "runner.h"
#include "util/buf.h"
#include "util/config.h"
#include "util/crypto.h"
#include "util/form.h"
#include "util/gsm.h"
#include "util/log.h"
#include "util/phone.h"
#include "util/regex.h"
#include "util/str.h"

#include <check.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* ---------- phone ---------- */

START_TEST(phone_accepts_four_forms)
{
    const char *in[] = {"0712345678", "+254712345678", "254712345678", "712345678",
                        "0712 345 678", "0712-345-678", "+254 712-345-678", "  0712345678"};
    char out[PHONE_MAX];
    for (size_t i = 0; i < sizeof in / sizeof in[0]; i++) {
        ck_assert_msg(phone_normalize(in[i], out), "refused '%s'", in[i]);
        ck_assert_str_eq(out, "+254712345678");
    }
    ck_assert(phone_normalize("0110123456", out));
    ck_assert_str_eq(out, "+254110123456");
    ck_assert(phone_normalize("+254101234567", out));
    ck_assert_str_eq(out, "+254101234567");
    ck_assert(phone_normalize("799999999", out));
    ck_assert_str_eq(out, "+254799999999");
}
END_TEST

START_TEST(phone_rejects)
{
    const char *bad[] = {"0202345678",    "+254202345678", "254412345678", "071234567",
                         "07123456789",   "2547123456789", "07123a5678",   "+255712345678",
                         "255712345678",  "+0712345678",   "+712345678",   "",
                         "+",             "0712345678x",   "0712_345_678", "254812345678",
                         "０712345678"};
    char out[PHONE_MAX];
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        ck_assert_msg(!phone_normalize(bad[i], out), "accepted '%s'", bad[i]);
    ck_assert(!phone_normalize(NULL, out));
}
END_TEST

START_TEST(phone_msisdn_drops_plus)
{
    char out[PHONE_MAX];
    phone_msisdn("+254712345678", out);
    ck_assert_str_eq(out, "254712345678");
    phone_msisdn("254712345678", out);
    ck_assert_str_eq(out, "254712345678");
}
END_TEST

/* ---------- form ---------- */

START_TEST(form_escapes_and_empties)
{
    struct form f;
    const char *s = "a=1&b=hello+world&c=%26%3D%2B%25&d=&e&%41%42=x&sc=%2A384%2A1234%23&&";
    ck_assert(form_parse(&f, s, strlen(s), NULL, 0));
    ck_assert_str_eq(form_get(&f, "a"), "1");
    ck_assert_str_eq(form_get(&f, "b"), "hello world");
    ck_assert_str_eq(form_get(&f, "c"), "&=+%");
    ck_assert_str_eq(form_get(&f, "d"), "");
    ck_assert_str_eq(form_get(&f, "e"), "");
    ck_assert_str_eq(form_get(&f, "AB"), "x");
    ck_assert_str_eq(form_get(&f, "sc"), "*384*1234#");
    ck_assert_ptr_null(form_get(&f, "zz"));
    ck_assert_uint_eq(f.n, 7);
    form_free(&f);

    ck_assert(form_parse(&f, "", 0, NULL, 0));
    ck_assert_uint_eq(f.n, 0);
    form_free(&f);

    /* the first of a repeated name wins; UTF-8 escapes decode byte for byte */
    ck_assert(form_parse(&f, "k=1&k=2&u=%E2%9C%93", 19, NULL, 0));
    ck_assert_str_eq(form_get(&f, "k"), "1");
    ck_assert_str_eq(form_get(&f, "u"), "\xE2\x9C\x93");
    form_free(&f);
}
END_TEST

START_TEST(form_bad_input)
{
    struct form f;
    char bad[64];
    const char *cases[] = {"a=%zz", "a=%4", "a=%", "ok=1&name%=x", "a=%00"};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        ck_assert_msg(!form_parse(&f, cases[i], strlen(cases[i]), bad, sizeof bad), "accepted %s", cases[i]);
        ck_assert_uint_eq(f.n, 0);
    }
    ck_assert(!form_parse(&f, "ok=1&text=%zz", 13, bad, sizeof bad));
    ck_assert_str_eq(bad, "text");
    /* a raw NUL byte inside the length */
    const char nul[] = "a=x\0y&b=2";
    ck_assert(!form_parse(&f, nul, sizeof nul - 1, bad, sizeof bad));
    ck_assert_uint_eq(f.n, 0);
}
END_TEST

START_TEST(form_field_limit)
{
    char s[1024];
    size_t o = 0;
    struct form f;
    for (int i = 0; i < FORM_MAX_FIELDS; i++)
        o += (size_t)snprintf(s + o, sizeof s - o, "%sf%d=%d", i ? "&" : "", i, i);
    ck_assert(form_parse(&f, s, o, NULL, 0));
    ck_assert_uint_eq(f.n, FORM_MAX_FIELDS);
    ck_assert_str_eq(form_get(&f, "f63"), "63");
    form_free(&f);
    o += (size_t)snprintf(s + o, sizeof s - o, "&one=more");
    ck_assert(!form_parse(&f, s, o, NULL, 0));
    ck_assert_uint_eq(f.n, 0);
}
END_TEST

START_TEST(form_encode_round_trip)
{
    const char *text = "a b&c=d/é+100%~_.-";
    char *enc = form_encode(text);
    ck_assert_str_eq(enc, "a%20b%26c%3Dd%2F%C3%A9%2B100%25~_.-");
    struct form f;
    char *pair = malloc(strlen(enc) + 3);
    memcpy(pair, "m=", 2);
    memcpy(pair + 2, enc, strlen(enc) + 1);
    ck_assert(form_parse(&f, pair, strlen(pair), NULL, 0));
    ck_assert_str_eq(form_get(&f, "m"), text);
    form_free(&f);
    free(pair);
    free(enc);
}
END_TEST

/* ---------- gsm ---------- */

static char *repeat(const char *unit, int n)
{
    size_t k = strlen(unit);
    char *s = malloc(k * (size_t)n + 1);
    for (int i = 0; i < n; i++)
        memcpy(s + k * (size_t)i, unit, k);
    s[k * (size_t)n] = 0;
    return s;
}

START_TEST(gsm_septet_counts)
{
    ck_assert_int_eq(gsm_septets(""), 0);
    ck_assert_int_eq(gsm_septets("Karibu Lipa"), 11);
    ck_assert_int_eq(gsm_septets("@£$¥èé"), 6);
    ck_assert_int_eq(gsm_septets("ÄÖÑÜäöñü§¿"), 10);
    ck_assert_int_eq(gsm_septets("{}"), 4);
    ck_assert_int_eq(gsm_septets("[~]^|\\"), 12);
    ck_assert_int_eq(gsm_septets("€5"), 3);
    ck_assert_int_eq(gsm_septets("line1\nline2"), 11);
    ck_assert_int_eq(gsm_septets("tick ✓"), -1);
    ck_assert_int_eq(gsm_septets("“quoted”"), -1);
    ck_assert_int_eq(gsm_septets("back`tick"), -1);
    ck_assert_int_eq(gsm_septets("ï"), -1);
    ck_assert_int_eq(gsm_septets("\xff"), -1); /* not UTF-8 */
    ck_assert_uint_eq(gsm_chars("héllo €"), 7);
}
END_TEST

START_TEST(gsm_sanitize_replaces)
{
    char out[64];
    gsm_sanitize("Bei: KES 100 ✓ “ok”\tnext\nline é", out, sizeof out);
    ck_assert_str_eq(out, "Bei: KES 100 ? ?ok? next\nline é");
    ck_assert_int_ge(gsm_septets(out), 0);
    char small[6];
    gsm_sanitize("abcdefghij", small, sizeof small);
    ck_assert_str_eq(small, "abcde");
    gsm_sanitize("abcdé", small, sizeof small); /* 'é' needs 2 bytes, 1 left */
    ck_assert_uint_le(strlen(small), 5);
    ck_assert_int_ge(gsm_septets(small), 0);
}
END_TEST

static void parts_of(const char *unit, int n, struct gsm_parts *p)
{
    char *s = repeat(unit, n);
    gsm_parts(s, p);
    free(s);
}

START_TEST(gsm_part_boundaries)
{
    struct gsm_parts p;
    const int gsm[][2] = {{1, 1}, {160, 1}, {161, 2}, {306, 2}, {307, 3}, {459, 3}, {460, 4}};
    for (size_t i = 0; i < sizeof gsm / sizeof gsm[0]; i++) {
        parts_of("a", gsm[i][0], &p);
        ck_assert(!p.ucs2);
        ck_assert_int_eq(p.units, gsm[i][0]);
        ck_assert_msg(p.parts == gsm[i][1], "%d septets: %d parts", gsm[i][0], p.parts);
    }
    /* 159 plain + one extension character = 161 septets */
    char *s = repeat("a", 159);
    char *t = malloc(200);
    snprintf(t, 200, "%s{", s);
    gsm_parts(t, &p);
    ck_assert_int_eq(p.units, 161);
    ck_assert_int_eq(p.parts, 2);
    free(s);
    free(t);
    const int ucs[][2] = {{70, 1}, {71, 2}, {134, 2}, {135, 3}};
    for (size_t i = 0; i < sizeof ucs / sizeof ucs[0]; i++) {
        parts_of("✓", ucs[i][0], &p);
        ck_assert(p.ucs2);
        ck_assert_int_eq(p.units, ucs[i][0]);
        ck_assert_msg(p.parts == ucs[i][1], "%d UCS-2 units: %d parts", ucs[i][0], p.parts);
    }
    /* a character outside the BMP takes two UTF-16 units */
    gsm_parts("\xF0\x9F\x98\x80", &p);
    ck_assert(p.ucs2);
    ck_assert_int_eq(p.units, 2);
}
END_TEST

START_TEST(i64_in_decimal)
{
    char out[STR_I64_MAX];
    const struct {
        int64_t v;
        const char *want;
    } cases[] = {{0, "0"}, {7, "7"}, {-1, "-1"}, {10, "10"}, {500, "500"}, {-90210, "-90210"},
                 {1234567890123, "1234567890123"}, {INT64_MAX, "9223372036854775807"},
                 {INT64_MIN, "-9223372036854775808"}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        ck_assert_uint_eq(str_from_i64(cases[i].v, out), strlen(cases[i].want));
        ck_assert_str_eq(out, cases[i].want);
    }
}
END_TEST

/* ---------- crypto ---------- */

START_TEST(crypto_vectors)
{
    uint8_t mac[32], h[32];
    char hex[129];
    /* RFC 4231 test case 2 */
    crypto_hmac_sha256("Jefe", 4, "what do ya want for nothing?", 28, mac);
    crypto_hex(mac, 32, hex, false);
    ck_assert_str_eq(hex, "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
    crypto_hex(mac, 4, hex, true);
    ck_assert_str_eq(hex, "5BDCC146");
    uint8_t mac512[64];
    crypto_hmac_sha512("Jefe", 4, "what do ya want for nothing?", 28, mac512);
    crypto_hex(mac512, 64, hex, false);
    ck_assert_str_eq(hex, "164b7a7bfcf819e2e395fbe73b56e0a387bd64222e831fd610270cd7ea2505549758bf75c05a994a6d034f65f8f0e6fdcaeab1a34d4a6b4b636e070a38bce737");
    /* RFC 4231 test case 6: a key longer than the block is hashed first */
    char longkey[131];
    memset(longkey, 0xaa, sizeof longkey);
    const char *m6 = "Test Using Larger Than Block-Size Key - Hash Key First";
    crypto_hmac_sha256(longkey, sizeof longkey, m6, strlen(m6), mac);
    crypto_hex(mac, 32, hex, false);
    ck_assert_str_eq(hex, "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54");
    crypto_hmac_sha512(longkey, sizeof longkey, m6, strlen(m6), mac512);
    crypto_hex(mac512, 64, hex, false);
    ck_assert_str_eq(hex, "80b24263c7c1a3ebb71493c1dd7be8b49b46d1f41b4aeec1121b013783f8f3526b56d037e05f2598bd0fd2215d6a1e5295e64f73f63f0aec8b915a985d786598");
    /* a key of exactly the block size is used as it is (openssl dgst -mac
     * HMAC); an empty key and message */
    char blockkey[128];
    memset(blockkey, 0x0b, sizeof blockkey);
    crypto_hmac_sha256(blockkey, 64, "Hi There", 8, mac);
    crypto_hex(mac, 32, hex, false);
    ck_assert_str_eq(hex, "21cd586aeca0579d99a1c938127c92525a371f807bc5ba6eb78bc825bd4f2be3");
    crypto_hmac_sha512(blockkey, 128, "Hi There", 8, mac512);
    crypto_hex(mac512, 64, hex, false);
    ck_assert_str_eq(hex, "e0853e8ef09d70a6ae8431a46c5c87590e12ad57f6ab11504a15bf500b431c112501952fe1fdcdc6464e3b16d26a070252abd243a0efafb5cd46fc11c6934658");
    crypto_hmac_sha256("", 0, "", 0, mac);
    crypto_hex(mac, 32, hex, false);
    ck_assert_str_eq(hex, "b613679a0814d9ec772f95d778c35fc5ff1697c493715653c6c712144292c5ad");
    crypto_sha256("abc", 3, h);
    crypto_hex(h, 32, hex, false);
    ck_assert_str_eq(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    /* in pieces, one of them empty: FIPS 180-2's two-block message */
    struct crypto_sha256 *c = crypto_sha256_begin();
    ck_assert_ptr_nonnull(c);
    crypto_sha256_add(c, "abcdbcdecdefdefgefghfghighij", 28);
    crypto_sha256_add(c, "", 0);
    crypto_sha256_add(c, "hijkijkljklmklmnlmnomnopnopq", 28);
    crypto_sha256_end(c, h);
    crypto_hex(h, 32, hex, false);
    ck_assert_str_eq(hex, "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
    crypto_sha256_end(crypto_sha256_begin(), NULL); /* freed without a hash */
}
END_TEST

START_TEST(crypto_base64_rfc4648)
{
    const char *in[] = {"", "f", "fo", "foo", "foob", "fooba", "foobar"};
    const char *out[] = {"", "Zg==", "Zm8=", "Zm9v", "Zm9vYg==", "Zm9vYmE=", "Zm9vYmFy"};
    for (size_t i = 0; i < sizeof in / sizeof in[0]; i++) {
        char *b = crypto_base64(in[i], strlen(in[i]));
        ck_assert_str_eq(b, out[i]);
        free(b);
    }
}
END_TEST

START_TEST(crypto_compare_and_random)
{
    ck_assert(crypto_streq("secret-key", "secret-key"));
    ck_assert(!crypto_streq("secret-key", "secret-kez"));
    ck_assert(!crypto_streq("secret-key", "secret-key2"));
    ck_assert(!crypto_streq("", "x"));
    ck_assert(crypto_streq("", ""));
    ck_assert(!crypto_streq(NULL, "x"));
    ck_assert(!crypto_streq(NULL, NULL));
    ck_assert(crypto_eq("abc", 3, "abc", 3));
    ck_assert(!crypto_eq("abc", 3, "abd", 3));
    ck_assert(!crypto_eq("abc", 3, "abc", 2));
    char a[33], b[33];
    ck_assert(crypto_random_chars(a, 32, "0123456789"));
    ck_assert(crypto_random_chars(b, 32, "0123456789"));
    ck_assert_uint_eq(strlen(a), 32);
    ck_assert(str_is_digits(a));
    ck_assert_str_ne(a, b);
}
END_TEST

/* ---------- str ---------- */

START_TEST(str_to_i64_bounds)
{
    int64_t v = 42;
    ck_assert(str_to_i64("0", 0, 10, &v) && v == 0);
    ck_assert(str_to_i64("10", 0, 10, &v) && v == 10);
    ck_assert(str_to_i64("-5", -10, 10, &v) && v == -5);
    ck_assert(str_to_i64("9223372036854775807", 0, INT64_MAX, &v) && v == INT64_MAX);
    v = 42;
    const char *bad[] = {"11", "-1", "", " 5", "5 ", "+5", "1e3", "0x10", "-", "--1", "5.0",
                         "9223372036854775808", "99999999999999999999", "١٢"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        ck_assert_msg(!str_to_i64(bad[i], 0, 10, &v), "accepted '%s'", bad[i]);
    ck_assert(!str_to_i64("9223372036854775808", 0, INT64_MAX, &v));
    ck_assert(!str_to_i64(NULL, 0, 10, &v));
    ck_assert_int_eq(v, 42); /* untouched on failure */
}
END_TEST

START_TEST(str_copy_truncates)
{
    char b[4];
    ck_assert(str_copy(b, sizeof b, "abc"));
    ck_assert_str_eq(b, "abc");
    ck_assert(!str_copy(b, sizeof b, "abcd"));
    ck_assert_str_eq(b, "abc");
    ck_assert(str_copy(b, sizeof b, NULL));
    ck_assert_str_eq(b, "");
}
END_TEST

START_TEST(str_utf8_decodes_and_refuses)
{
    uint32_t cp = 0;
    ck_assert_int_eq(str_utf8_next("A", SIZE_MAX, &cp), 1);
    ck_assert_uint_eq(cp, 'A');
    ck_assert_int_eq(str_utf8_next("\xc3\xa9", SIZE_MAX, &cp), 2); /* é */
    ck_assert_uint_eq(cp, 0xE9);
    ck_assert_int_eq(str_utf8_next("\xe2\x82\xac", SIZE_MAX, &cp), 3); /* € */
    ck_assert_uint_eq(cp, 0x20AC);
    ck_assert_int_eq(str_utf8_next("\xf0\x9f\x98\x80", SIZE_MAX, &cp), 4); /* U+1F600 */
    ck_assert_uint_eq(cp, 0x1F600);
    ck_assert_int_eq(str_utf8_next("\xc0\xaf", SIZE_MAX, &cp), 0);         /* overlong '/' */
    ck_assert_int_eq(str_utf8_next("\xe0\x80\xaf", SIZE_MAX, &cp), 0);     /* overlong, 3 bytes */
    ck_assert_int_eq(str_utf8_next("\xed\xa0\x80", SIZE_MAX, &cp), 0);     /* a surrogate */
    ck_assert_int_eq(str_utf8_next("\xf4\x90\x80\x80", SIZE_MAX, &cp), 0); /* past U+10FFFF */
    ck_assert_int_eq(str_utf8_next("\xe2\x82", SIZE_MAX, &cp), 0);         /* cut by the NUL */
    ck_assert_int_eq(str_utf8_next("\xe2\x82\xac", 2, &cp), 0);           /* cut by the length */
    ck_assert_int_eq(str_utf8_next("\x80", SIZE_MAX, &cp), 0);              /* stray continuation */
    ck_assert(str_is_clean_utf8("Habari \xc3\xa9\n", 10));
    ck_assert(!str_is_clean_utf8("a\tb", 3));
    ck_assert(!str_is_clean_utf8("\xed\xa0\x80", 3));
}
END_TEST

START_TEST(str_copy_chars_keeps_characters_whole)
{
    char b[6];
    /* "é" is two bytes: five bytes of room hold two of them, not half a third */
    ck_assert_uint_eq(str_copy_chars(b, sizeof b, "\xc3\xa9\xc3\xa9\xc3\xa9", SIZE_MAX), 4);
    ck_assert_str_eq(b, "\xc3\xa9\xc3\xa9");
    ck_assert_uint_eq(str_copy_chars(b, sizeof b, "abcdefgh", 3), 3);
    ck_assert_str_eq(b, "abc");
    ck_assert_uint_eq(str_copy_chars(b, sizeof b, "a\xe2\x82\xac", 2), 4);
    ck_assert_str_eq(b, "a\xe2\x82\xac");
    ck_assert_uint_eq(str_copy_chars(b, sizeof b, NULL, 3), 0);
    ck_assert_str_eq(b, "");
    ck_assert_uint_eq(str_utf8_len(0xF0), 4);
    ck_assert_uint_eq(str_utf8_len(0xE2), 3);
    ck_assert_uint_eq(str_utf8_len(0xC3), 2);
    ck_assert_uint_eq(str_utf8_len('a'), 1);
    ck_assert_uint_eq(str_utf8_len(0x80), 1);
}
END_TEST

/* buf_printf formats in place when it fits, grows when it must, and past
 * the cap fails with the content as it was */
START_TEST(buf_printf_fits_grows_and_caps)
{
    struct buf b;
    buf_init(&b, 40);
    ck_assert(buf_printf(&b, "%d. %s", 1, "Nyumba"));
    ck_assert_str_eq(b.data, "1. Nyumba");
    ck_assert(buf_printf(&b, "|%s|", "x"));
    ck_assert_str_eq(b.data, "1. Nyumba|x|");
    ck_assert(buf_printf(&b, "%.28s", "abcdefghijklmnopqrstuvwxyzABCDEF"));
    ck_assert_uint_eq(b.len, 40);
    ck_assert(!b.over);
    ck_assert(!buf_printf(&b, "%s", "z"));
    ck_assert(b.over);
    ck_assert_uint_eq(b.len, 40);
    ck_assert_uint_eq(strlen(b.data), 40);
    buf_free(&b);
    buf_init(&b, 1u << 20); /* a large cap grows from small */
    for (int i = 0; i < 1000; i++)
        ck_assert(buf_printf(&b, "%04d", i));
    ck_assert_uint_eq(b.len, 4000);
    ck_assert(!strncmp(b.data + 3996, "0999", 4));
    ck_assert_uint_eq(strlen(b.data), 4000);
    buf_free(&b);
}
END_TEST

START_TEST(log_phone_masks)
{
    char out[20];
    ck_assert_str_eq(log_phone("+254712345678", out), "+2547****5678");
    ck_assert_ptr_null(strstr(log_phone("254712345678", out), "712345"));
    ck_assert_str_eq(log_phone(NULL, out), "-");
    ck_assert_str_eq(log_phone("12345", out), "***");
    char text[24];
    ck_assert_str_eq(log_mask_phones("bad number 254712345678 (code 401)", text, sizeof text), "bad number 2547****5678");
    ck_assert_str_eq(log_mask_phones(NULL, text, sizeof text), "");
    char cut[28]; /* the number is cut: masked first all the same */
    ck_assert_str_eq(log_mask_phones("cut in the number +254712345678", cut, sizeof cut), "cut in the number +2547****");
}
END_TEST

/* What log_event writes for one event, captured from stderr (the ring is
 * not started here, so each line is one write). */
static void logged_as(char *out, size_t n, const char *event, const char *fmt, const char *a, const char *b)
{
    fflush(stderr);
    FILE *tmp = tmpfile();
    ck_assert_ptr_nonnull(tmp);
    int saved = dup(STDERR_FILENO);
    ck_assert_int_ge(saved, 0);
    ck_assert_int_ge(dup2(fileno(tmp), STDERR_FILENO), 0);
    log_event(LOG_WARN, event, fmt, a, b);
    dup2(saved, STDERR_FILENO);
    close(saved);
    rewind(tmp);
    size_t k = fread(out, 1, n - 1, tmp);
    out[k] = 0;
    fclose(tmp);
}

static void logged(char *out, size_t n, const char *fmt, const char *a, const char *b)
{
    logged_as(out, n, "test.event", fmt, a, b);
}

/* The keys of a key=value line after its timestamp, level and event, as a
 * log reader splits it (a value is bare up to a space, or quoted with
 * backslash escapes); "|"-joined into keys. False when the line does not
 * parse. */
static bool log_keys(const char *line, char *keys, size_t n)
{
    const char *p = line;
    keys[0] = 0;
    for (int skip = 0; skip < 3; skip++) { /* ts LEVEL event */
        p = strchr(p, ' ');
        if (!p)
            return false;
        p++;
    }
    while (*p && *p != '\n') {
        const char *eq = strchr(p, '=');
        const char *sp = strchr(p, ' ');
        if (!eq || (sp && sp < eq))
            return false;
        if (keys[0])
            strncat(keys, "|", n - strlen(keys) - 1);
        strncat(keys, p, (size_t)(eq - p) < n - strlen(keys) - 1 ? (size_t)(eq - p) : n - strlen(keys) - 1);
        p = eq + 1;
        if (*p == '"') {
            for (p++; *p && *p != '"'; p++)
                if (*p == '\\' && p[1])
                    p++;
            if (*p != '"')
                return false;
            p++;
        } else {
            while (*p && *p != ' ' && *p != '\n')
                p++;
        }
        if (*p == ' ')
            p++;
    }
    return *p == '\n' && p[1] == 0; /* one line, ended once */
}

/* A value cannot start a field or a line, whatever it holds, and a phone
 * number in it is masked. */
START_TEST(log_values_cannot_forge_fields)
{
    char line[1200], keys[200];
    logged(line, sizeof line, "ip=%s reason=\"%s\"", "10.0.0.1",
           "bad\" phone=+254712345678 admin=\"yes");
    ck_assert_msg(log_keys(line, keys, sizeof keys), "parses: %s", line);
    ck_assert_str_eq(keys, "ip|reason");
    ck_assert_msg(strstr(line, "reason=\"bad\\\" phone=+2547****5678 admin=\\\"yes\"\n"), "%s", line);
    ck_assert_ptr_null(strstr(line, "712345678"));

    logged(line, sizeof line, "session=%s phone=%s", "s1 phone=0712345678", "x\ny");
    ck_assert_msg(log_keys(line, keys, sizeof keys), "parses: %s", line);
    ck_assert_str_eq(keys, "session|phone");
    ck_assert_msg(strstr(line, "session=\"s1 phone=07****5678\" phone=\"x\\ny\"\n"), "%s", line);

    /* a new line cannot be started, inside quotes or out */
    logged(line, sizeof line, "a=%s b=\"%s\"", "1\n2026-01-01T00:00:00.000Z ERROR forged x=1",
           "2\r\n2026-01-01T00:00:00.000Z ERROR forged y=2");
    ck_assert_msg(log_keys(line, keys, sizeof keys), "parses: %s", line);
    ck_assert_str_eq(keys, "a|b");
    ck_assert_ptr_null(strchr(line, '\r'));
    ck_assert_ptr_eq(strchr(line, '\n'), line + strlen(line) - 1);

    /* nor by the format's own text, nor by the event's name */
    logged_as(line, sizeof line, "bad\nname=\"x\" y", "a=%s\r\nforged=%s", "1", "2");
    ck_assert_ptr_null(strchr(line, '\r'));
    ck_assert_ptr_eq(strchr(line, '\n'), line + strlen(line) - 1);
    ck_assert_msg(strstr(line, " WARN bad_name__x__y a=1  forged=2\n"), "%s", line);
}
END_TEST

static size_t fmt(char *out, size_t n, const char *f, ...) __attribute__((format(printf, 3, 4)));
static size_t fmt(char *out, size_t n, const char *f, ...)
{
    va_list ap;
    va_start(ap, f);
    size_t k = log_vformat(out, n, f, ap);
    va_end(ap);
    return k;
}

START_TEST(log_format_escapes_and_keeps_numbers)
{
    char out[300];
    /* numbers and harmless strings as printf writes them */
    fmt(out, sizeof out, "a=%lld b=%d c=%zu d=%ld e=%u f=%.3s g=%5d h=%-4s| i=%x j=%% k=%c", -12345678901LL, -7,
        (size_t)42, 99L, 7u, "abcdef", 3, "ab", 255u, 'Z');
    ck_assert_str_eq(out, "a=-12345678901 b=-7 c=42 d=99 e=7 f=abc g=    3 h=\"ab  \"| i=ff j=% k=Z");
    fmt(out, sizeof out, "w=%*d p=%.*s", 4, 7, 2, "xyz");
    ck_assert_str_eq(out, "w=   7 p=xy");
    /* bare values: quoted when they hold a space, =, ", \ or a control
     * character, or nothing */
    fmt(out, sizeof out, "a=%s b=%s c=%s d=%s e=%s f=%s", "plain-value_1.2", "", "x=y", "q\"q", "b\\s", "t\tz\x01");
    ck_assert_str_eq(out, "a=plain-value_1.2 b=\"\" c=\"x=y\" d=\"q\\\"q\" e=\"b\\\\s\" f=\"t\\tz\\x01\"");
    /* inside the format's own quotes: escaped, not quoted again */
    fmt(out, sizeof out, "why=\"%s\" next=%s", "say \"hi\" \\ now\n", "ok");
    ck_assert_str_eq(out, "why=\"say \\\"hi\\\" \\\\ now\\n\" next=ok");
    /* phone-shaped runs are masked, other digit runs are not */
    fmt(out, sizeof out, "a=%s b=%s c=%s d=%s e=%s f=%s", "+254712345678", "254112345678", "0712345678",
        "ws_CO_191220191020363925", "WS-1732400000000-AB12CD34", "+2557****1234");
    ck_assert_str_eq(out, "a=+2547****5678 b=2541****5678 c=07****5678 d=ws_CO_191220191020363925 "
                          "e=WS-1732400000000-AB12CD34 f=+2557****1234");
    fmt(out, sizeof out, "a=%s", "call 0712345678, or +447911123456 or 12345678");
    ck_assert_str_eq(out, "a=\"call 07****5678, or +4479****3456 or 12345678\"");
    /* cut to fit, but a quoted value is still closed */
    char small[16];
    size_t k = fmt(small, sizeof small, "r=\"%s\"", "aaaaaaaaaaaaaaaaaaaaaaaa");
    ck_assert_uint_eq(k, strlen(small));
    ck_assert_str_eq(small, "r=\"aaaaaaaaaaa\"");
    k = fmt(small, sizeof small, "r=%s", "a b\"\"\"\"\"\"\"\"\"\"\"");
    ck_assert_str_eq(small, "r=\"a b\\\"\\\"\\\"\\\"\"");
}
END_TEST

/* ---------- config ---------- */

static const char *env[32][2];

static void env_set(const char *name, const char *value)
{
    for (int i = 0; i < 32; i++)
        if (!env[i][0] || !strcmp(env[i][0], name)) {
            env[i][0] = name;
            env[i][1] = value;
            return;
        }
    ck_abort_msg("fake env full");
}

static const char *fake_getenv(const char *name)
{
    for (int i = 0; i < 32 && env[i][0]; i++)
        if (!strcmp(env[i][0], name))
            return env[i][1];
    return NULL;
}

static void env_reset(void)
{
    memset(env, 0, sizeof env);
    env_set("LIPA_ADMIN_KEY", "admin-key-0123456789");
    env_set("LIPA_PEPPER", "pepper-0123456789abcdef");
}

/* Loads with the fake env; on failure err holds the message. */
static bool load(struct config *c, char *err, size_t errsz)
{
    err[0] = 0;
    bool ok = config_load(c, fake_getenv, err, errsz);
    if (!ok)
        config_free(c);
    return ok;
}

START_TEST(config_defaults)
{
    struct config c;
    char err[256];
    env_reset();
    ck_assert_msg(load(&c, err, sizeof err), "%s", err);
    ck_assert_int_eq(c.port, 8080);
    ck_assert_int_eq(c.threads, 4);
    ck_assert_int_eq(c.http_timeout_ms, 10000);
    ck_assert_int_eq(c.min_amount, 10);
    ck_assert_int_eq(c.max_amount, 10000);
    ck_assert_str_eq(c.daraja_url, "https://sandbox.safaricom.co.ke");
    ck_assert_str_eq(c.daraja_shortcode, "174379");
    ck_assert_str_eq(c.daraja_type, "paybill");
    ck_assert_str_eq(c.at_url, "https://api.sandbox.africastalking.com");
    ck_assert_str_eq(c.at_username, "sandbox");
    ck_assert_str_eq(c.at_sender, "");
    ck_assert_str_eq(c.public_url, "http://127.0.0.1:8080");
    ck_assert_str_eq(c.admin_key, "admin-key-0123456789");
    config_free(&c);
}
END_TEST

START_TEST(config_env_values)
{
    struct config c;
    char err[256];
    env_reset();
    env_set("LIPA_PORT", "9090");
    env_set("LIPA_DARAJA_TYPE", "till");
    env_set("LIPA_AT_URL", "http://127.0.0.1:9000/");
    ck_assert_msg(load(&c, err, sizeof err), "%s", err);
    ck_assert_int_eq(c.port, 9090);
    ck_assert_str_eq(c.daraja_type, "till");
    ck_assert_str_eq(c.at_url, "http://127.0.0.1:9000"); /* no trailing slash */
    ck_assert_str_eq(c.public_url, "http://127.0.0.1:9090");
    config_free(&c);
}
END_TEST

START_TEST(config_bind)
{
    struct config c;
    char err[256];
    env_reset();
    ck_assert_msg(load(&c, err, sizeof err), "%s", err);
    ck_assert_str_eq(c.bind, "127.0.0.1"); /* loopback unless told */
    config_free(&c);
    static const struct {
        const char *bind, *kept, *public_url;
    } cases[] = {
        {"[::1]", "::1", "http://[::1]:8080"},      /* brackets taken off, put back in the URL */
        {"::", "::", "http://127.0.0.1:8080"},       /* every address: reached on loopback */
        {"0.0.0.0", "0.0.0.0", "http://127.0.0.1:8080"},
        {"10.1.2.3", "10.1.2.3", "http://10.1.2.3:8080"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        env_reset();
        env_set("LIPA_BIND", cases[i].bind);
        ck_assert_msg(load(&c, err, sizeof err), "%s: %s", cases[i].bind, err);
        ck_assert_str_eq(c.bind, cases[i].kept);
        ck_assert_str_eq(c.public_url, cases[i].public_url);
        config_free(&c);
    }
    const char *bad[] = {"localhost", "", "127.0.0.1:80", "[::1", "1.2.3.4.5", "::1]"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        env_reset();
        env_set("LIPA_BIND", bad[i]);
        bool ok = load(&c, err, sizeof err);
        if (ok)
            config_free(&c);
        ck_assert_msg(!ok && !strncmp(err, "LIPA_BIND:", 10), "LIPA_BIND=%s: %s", bad[i], ok ? "accepted" : err);
    }
}
END_TEST

/* Loading with name=value must fail with an error that names name. */
static void expect_error(const char *name, const char *value, const char *named)
{
    struct config c;
    char err[256];
    env_reset();
    env_set(name, value);
    bool ok = load(&c, err, sizeof err);
    if (ok)
        config_free(&c);
    ck_assert_msg(!ok, "%s=%s accepted", name, value ? value : "(unset)");
    ck_assert_msg(!strncmp(err, named, strlen(named)), "%s=%s: error '%s' does not name %s", name,
                  value ? value : "(unset)", err, named);
}

START_TEST(config_errors_name_the_variable)
{
    expect_error("LIPA_PORT", "80a", "LIPA_PORT");
    expect_error("LIPA_PORT", "", "LIPA_PORT");
    expect_error("LIPA_PORT", " 8080", "LIPA_PORT");
    expect_error("LIPA_PORT", "70000", "LIPA_PORT");
    expect_error("LIPA_PORT", "0", "LIPA_PORT");
    expect_error("LIPA_PORT", "-1", "LIPA_PORT");
    expect_error("LIPA_THREADS", "1000", "LIPA_THREADS");
    expect_error("LIPA_DARAJA_TYPE", "bill", "LIPA_DARAJA_TYPE");
    expect_error("LIPA_DARAJA_TYPE", "tills", "LIPA_DARAJA_TYPE");
    expect_error("LIPA_DARAJA_TYPE", "", "LIPA_DARAJA_TYPE");
    expect_error("LIPA_AT_URL", "ftp://x", "LIPA_AT_URL");
    expect_error("LIPA_AT_URL", "http://a b", "LIPA_AT_URL");
    expect_error("LIPA_AT_SENDER", "ABCDEFGHIJKLMNOPQ", "LIPA_AT_SENDER");
    expect_error("LIPA_MIN_AMOUNT", "20000", "LIPA_MIN_AMOUNT");
    expect_error("LIPA_ADMIN_KEY", NULL, "LIPA_ADMIN_KEY");
    expect_error("LIPA_ADMIN_KEY", "", "LIPA_ADMIN_KEY");
    expect_error("LIPA_ADMIN_KEY", "short", "LIPA_ADMIN_KEY");
    expect_error("LIPA_PEPPER", NULL, "LIPA_PEPPER");
}
END_TEST

/* Production settings that pass (env_reset's plus these). */
static void env_production(void)
{
    env_set("LIPA_MODE", "production");
    env_set("LIPA_PUBLIC_URL", "https://lipa.example.com");
    env_set("LIPA_DARAJA_KEY", "k");
    env_set("LIPA_DARAJA_SECRET", "s");
    env_set("LIPA_DARAJA_SHORTCODE", "600000");
    env_set("LIPA_DARAJA_PASSKEY", "p");
    env_set("LIPA_AT_USERNAME", "lipa");
    env_set("LIPA_AT_APIKEY", "a");
    env_set("LIPA_TUYA_CLIENT_ID", "c");
    env_set("LIPA_TUYA_SECRET", "t");
}

START_TEST(config_production_mode)
{
    struct config c;
    char err[1200];
    env_reset();
    ck_assert_msg(load(&c, err, sizeof err), "%s", err); /* development by default, sandbox defaults and all */
    ck_assert_str_eq(c.mode, "development");
    ck_assert(!c.production);
    ck_assert_int_eq(c.health_window, 300);
    config_free(&c);
    env_reset();
    env_production();
    ck_assert_msg(load(&c, err, sizeof err), "%s", err);
    ck_assert(c.production);
    config_free(&c);
    env_set("LIPA_PAYSTACK_SECRET", "sk_live_x"); /* a live key, or none, is fine */
    ck_assert_msg(load(&c, err, sizeof err), "%s", err);
    config_free(&c);
    static const struct {
        const char *name, *value, *said;
    } bad[] = {
        {"LIPA_DARAJA_KEY", "", "LIPA_DARAJA_KEY is empty"},
        {"LIPA_DARAJA_SECRET", "", "LIPA_DARAJA_SECRET is empty"},
        {"LIPA_DARAJA_SHORTCODE", "174379", "LIPA_DARAJA_SHORTCODE is the public sandbox's"},
        {"LIPA_DARAJA_PASSKEY", "bfb279f9aa9bdbcf158e97dd71a467cd2e0c893059b10f78e6b72ada1ed2c919",
         "LIPA_DARAJA_PASSKEY is the public sandbox's"},
        {"LIPA_DARAJA_PASSKEY", "", "LIPA_DARAJA_PASSKEY is empty"},
        {"LIPA_AT_USERNAME", "sandbox", "LIPA_AT_USERNAME is the public sandbox's"},
        {"LIPA_AT_APIKEY", "", "LIPA_AT_APIKEY is empty"},
        {"LIPA_TUYA_CLIENT_ID", "", "LIPA_TUYA_CLIENT_ID is empty"},
        {"LIPA_TUYA_SECRET", "", "LIPA_TUYA_SECRET is empty"},
        {"LIPA_PAYSTACK_SECRET", "sk_test_abc", "LIPA_PAYSTACK_SECRET is a test key"},
        {"LIPA_PUBLIC_URL", "http://lipa.example.com", "LIPA_PUBLIC_URL is not https://"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        env_reset();
        env_production();
        env_set(bad[i].name, bad[i].value);
        bool ok = load(&c, err, sizeof err);
        if (ok)
            config_free(&c);
        ck_assert_msg(!ok && !strncmp(err, "LIPA_MODE=production: ", 22) && strstr(err, bad[i].said),
                      "%s=%s: %s", bad[i].name, bad[i].value, ok ? "accepted" : err);
        ck_assert_msg(!strstr(err, "bfb279f9") && !strstr(err, "sk_test_abc"), "a secret shown: %s", err);
    }
    /* the public URL left unset is http:// */
    env_reset();
    env_production();
    env_set("LIPA_PUBLIC_URL", NULL);
    ck_assert(!load(&c, err, sizeof err));
    ck_assert_msg(strstr(err, "LIPA_PUBLIC_URL is not https://"), "%s", err);
    expect_error("LIPA_MODE", "prod", "LIPA_MODE");
}
END_TEST

START_TEST(config_sandbox_urls_found)
{
    static const struct {
        const char *url;
        bool sandbox;
    } cases[] = {
        {"https://sandbox.safaricom.co.ke", true},
        {"https://SANDBOX.safaricom.co.ke:443/", true},
        {"https://api.sandbox.africastalking.com", true},
        {"http://127.0.0.1:9090", true},
        {"http://127.8.9.10", true},
        {"http://localhost:9090", true},
        {"http://[::1]:9090", true},
        {"http://[::ffff:127.0.0.1]:9090", true},
        {"http://user:pw@127.0.0.1", true},
        {"https://api.safaricom.co.ke", false},
        {"https://api.africastalking.com", false},
        {"https://notsandbox.safaricom.co.ke.example.com", false},
        {"https://evilsandbox.safaricom.co.ke", false},
        {"http://10.0.0.5:9090", false},
        {"https://openapi.tuyaeu.com", false},
        {"https://api.paystack.co/?x=127.0.0.1", false},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct config c;
        char err[256];
        env_reset();
        env_set("LIPA_DARAJA_URL", "https://api.safaricom.co.ke");
        env_set("LIPA_AT_URL", "https://api.africastalking.com");
        env_set("LIPA_TUYA_URL", cases[i].url);
        ck_assert_msg(load(&c, err, sizeof err), "%s", err);
        const char *names[4];
        size_t n = config_sandbox_urls(&c, names, 4);
        ck_assert_msg(n == (cases[i].sandbox ? 1u : 0u) && (!n || !strcmp(names[0], "LIPA_TUYA_URL")),
                      "%s: %zu found", cases[i].url, n);
        config_free(&c);
    }
    /* the defaults: Daraja's and Africa's Talking's own sandboxes */
    struct config c;
    char err[256];
    env_reset();
    ck_assert_msg(load(&c, err, sizeof err), "%s", err);
    const char *names[4];
    ck_assert_uint_eq(config_sandbox_urls(&c, names, 4), 2);
    ck_assert_str_eq(names[0], "LIPA_DARAJA_URL");
    ck_assert_str_eq(names[1], "LIPA_AT_URL");
    config_free(&c);
}
END_TEST

/* The choices string itself is not a choice. */
START_TEST(config_enum_rejects_joined_choices)
{
    expect_error("LIPA_DARAJA_TYPE", "paybill|till", "LIPA_DARAJA_TYPE");
}
END_TEST

START_TEST(config_file_then_env)
{
    char path[] = "/tmp/check_util_cfg_XXXXXX";
    int fd = mkstemp(path);
    ck_assert_int_ge(fd, 0);
    const char *text = "# comment\nLIPA_PORT=7000\nLIPA_THREADS = 8\nLIPA_AT_SENDER=\"LIPA\"\n";
    ck_assert_int_eq(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    close(fd);
    struct config c;
    char err[256];
    env_reset();
    env_set("LIPA_CONFIG", path);
    env_set("LIPA_THREADS", "2"); /* the environment wins */
    ck_assert_msg(load(&c, err, sizeof err), "%s", err);
    ck_assert_int_eq(c.port, 7000);
    ck_assert_int_eq(c.threads, 2);
    ck_assert_str_eq(c.at_sender, "LIPA");
    config_free(&c);

    FILE *f = fopen(path, "w");
    fputs("LIPA_PORTT=1\n", f);
    fclose(f);
    ck_assert(!load(&c, err, sizeof err));
    ck_assert_ptr_nonnull(strstr(err, "LIPA_PORTT"));
    unlink(path);
}
END_TEST

/* A thread keeps its match data from one match to the next: a pattern with
 * more groups than the first one matched still gives every group, and
 * threads matching at once do not see each other's captures. */
START_TEST(regex_groups_after_a_smaller_pattern)
{
    char err[256], out[32];
    struct regex *amount = regex_new("[0-9]{1,6}", false, err, sizeof err);
    ck_assert_ptr_nonnull(amount);
    ck_assert(regex_match(amount, "250"));
    ck_assert(!regex_match(amount, "25O"));
    ck_assert(!regex_match(amount, "2501234")); /* anchored at both ends */
    /* 20 groups, more than the 16 a thread's match data starts with */
    char pat[512];
    size_t at = 0;
    for (int i = 0; i < 19; i++)
        at += (size_t)snprintf(pat + at, sizeof pat - at, "(a)");
    snprintf(pat + at, sizeof pat - at, "(?<last>b+)");
    struct regex *many = regex_new(pat, false, err, sizeof err);
    ck_assert_ptr_nonnull(many);
    ck_assert(regex_group(many, "aaaaaaaaaaaaaaaaaaabbb", "last", out, sizeof out));
    ck_assert_str_eq(out, "bbb");
    ck_assert(!regex_group(many, "aaab", "last", out, sizeof out));
    /* and the smaller pattern again on the grown match data */
    ck_assert(regex_match(amount, "1"));
    struct regex *buy = regex_new("BUY (?<meter>[0-9]+) (?<amount>[0-9]+)", true, err, sizeof err);
    ck_assert_ptr_nonnull(buy);
    ck_assert(regex_group(buy, "buy 12345 500", "amount", out, sizeof out));
    ck_assert_str_eq(out, "500");
    ck_assert(regex_group(buy, "BUY 12345 500", "meter", out, sizeof out));
    ck_assert_str_eq(out, "12345");
    regex_free(buy);
    regex_free(many);
    regex_free(amount);
    ck_assert_ptr_null(regex_new("BUY (", false, err, sizeof err));
    ck_assert_ptr_nonnull(strstr(err, "offset"));
}
END_TEST

/* A subject too long for the JIT's stack is matched by the interpreter: the
 * same answer, compiled or not. */
START_TEST(regex_past_the_jit_stack)
{
    char err[256];
    struct regex *re = regex_new("(a|b)*", false, err, sizeof err);
    ck_assert_ptr_nonnull(re);
    size_t n = 100000;
    char *subject = malloc(n + 1);
    ck_assert_ptr_nonnull(subject);
    memset(subject, 'a', n);
    subject[n] = 0;
    ck_assert(regex_match(re, subject));
    subject[n - 1] = 'c';
    ck_assert(!regex_match(re, subject));
    free(subject);
    regex_free(re);
}
END_TEST

struct regex_worker {
    const struct regex *re;
    int n;
    int wrong;
};

static void *regex_thread(void *arg)
{
    struct regex_worker *w = arg;
    char subject[48], out[16], want[16];
    for (int i = 0; i < 2000; i++) {
        snprintf(want, sizeof want, "%d", w->n * 100000 + i);
        snprintf(subject, sizeof subject, "BUY %d %s", w->n, want);
        if (!regex_group(w->re, subject, "amount", out, sizeof out) || strcmp(out, want))
            w->wrong++;
    }
    return NULL;
}

START_TEST(regex_threads_keep_their_own_captures)
{
    char err[256];
    struct regex *buy = regex_new("BUY (?<meter>[0-9]+) (?<amount>[0-9]+)", false, err, sizeof err);
    ck_assert_ptr_nonnull(buy);
    pthread_t t[4];
    struct regex_worker w[4];
    for (int i = 0; i < 4; i++) {
        w[i] = (struct regex_worker){.re = buy, .n = i + 1};
        ck_assert_int_eq(pthread_create(&t[i], NULL, regex_thread, &w[i]), 0);
    }
    for (int i = 0; i < 4; i++) {
        pthread_join(t[i], NULL);
        ck_assert_int_eq(w[i].wrong, 0);
    }
    regex_free(buy);
}
END_TEST

Suite *test_suite(void)
{
    Suite *s = suite_create("util");
    TCase *tc;

    tc = tcase_create("phone");
    tcase_add_test(tc, phone_accepts_four_forms);
    tcase_add_test(tc, phone_rejects);
    tcase_add_test(tc, phone_msisdn_drops_plus);
    suite_add_tcase(s, tc);

    tc = tcase_create("form");
    tcase_add_test(tc, form_escapes_and_empties);
    tcase_add_test(tc, form_bad_input);
    tcase_add_test(tc, form_field_limit);
    tcase_add_test(tc, form_encode_round_trip);
    suite_add_tcase(s, tc);

    tc = tcase_create("gsm");
    tcase_add_test(tc, gsm_septet_counts);
    tcase_add_test(tc, gsm_sanitize_replaces);
    tcase_add_test(tc, gsm_part_boundaries);
    suite_add_tcase(s, tc);

    tc = tcase_create("crypto");
    tcase_add_test(tc, i64_in_decimal);
    tcase_add_test(tc, crypto_vectors);
    tcase_add_test(tc, crypto_base64_rfc4648);
    tcase_add_test(tc, crypto_compare_and_random);
    suite_add_tcase(s, tc);

    tc = tcase_create("str");
    tcase_add_test(tc, str_to_i64_bounds);
    tcase_add_test(tc, str_copy_truncates);
    tcase_add_test(tc, str_utf8_decodes_and_refuses);
    tcase_add_test(tc, str_copy_chars_keeps_characters_whole);
    tcase_add_test(tc, log_phone_masks);
    tcase_add_test(tc, log_values_cannot_forge_fields);
    tcase_add_test(tc, log_format_escapes_and_keeps_numbers);
    tcase_add_test(tc, buf_printf_fits_grows_and_caps);
    suite_add_tcase(s, tc);

    tc = tcase_create("regex");
    tcase_add_test(tc, regex_groups_after_a_smaller_pattern);
    tcase_add_test(tc, regex_threads_keep_their_own_captures);
    tcase_add_test(tc, regex_past_the_jit_stack);
    suite_add_tcase(s, tc);

    tc = tcase_create("config");
    tcase_add_test(tc, config_defaults);
    tcase_add_test(tc, config_env_values);
    tcase_add_test(tc, config_bind);
    tcase_add_test(tc, config_errors_name_the_variable);
    tcase_add_test(tc, config_enum_rejects_joined_choices);
    tcase_add_test(tc, config_file_then_env);
    tcase_add_test(tc, config_production_mode);
    tcase_add_test(tc, config_sandbox_urls_found);
    suite_add_tcase(s, tc);
    return s;
}
