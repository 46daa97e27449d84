/* client: integrators' keys and webhook secrets. What an integrator would
 * notice: a key works until it is replaced, then never again; the database
 * holds neither the key nor the secret in clear; a notice's signature is
 * the HMAC-SHA256 every HTTP library computes. */
#include "runner.h"
#include "client/client.h"
#include "store/clients.h"
#include "util/crypto.h"
#include "util/str.h"

#include <check.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PEPPER "unit-test-pepper-0123456789abcdef"

START_TEST(signature_is_hmac_sha256_hex)
{
    char hex[65];
    /* RFC 4231-style public vector: HMAC-SHA256("key", "The quick brown fox...") */
    const char *msg = "The quick brown fox jumps over the lazy dog";
    client_sign("key", msg, strlen(msg), hex);
    ck_assert_str_eq(hex, "f7bc83f430538424b13298e6aa6fb143ef4d59a14946175997479dbc2d1a3cd8");
}
END_TEST

START_TEST(uuids_are_version_4_and_checked)
{
    char a[37], b[37];
    ck_assert(crypto_uuid4(a) && crypto_uuid4(b));
    ck_assert_str_ne(a, b);
    ck_assert(crypto_uuid_ok(a));
    ck_assert_int_eq(a[14], '4');
    ck_assert(strchr("89ab", a[19]) != NULL);
    ck_assert(crypto_uuid_ok("550e8400-e29b-41d4-a716-446655440000"));
    ck_assert(crypto_uuid_ok("550E8400-E29B-41D4-A716-446655440000"));
    const char *bad[] = {"", "550e8400e29b41d4a716446655440000", "550e8400-e29b-41d4-a716-44665544000",
                         "550e8400-e29b-41d4-a716-4466554400000", "550e8400-e29b-41d4-a716_446655440000",
                         "g50e8400-e29b-41d4-a716-446655440000", NULL};
    for (int i = 0; bad[i]; i++)
        ck_assert_msg(!crypto_uuid_ok(bad[i]), "%s accepted", bad[i]);
    ck_assert(!crypto_uuid_ok(NULL));
}
END_TEST

START_TEST(sealed_secrets_open_only_under_their_key)
{
    uint8_t k1[32], k2[32];
    memset(k1, 1, sizeof k1);
    memset(k2, 2, sizeof k2);
    const char *secret = "whsec_abcdefghijklmnopqrstuvwxyz0123456789ABCD";
    char sealed[CRYPTO_SEALED_SIZE(64)], again[CRYPTO_SEALED_SIZE(64)], out[64];
    ck_assert(crypto_seal(k1, secret, strlen(secret), sealed, sizeof sealed));
    ck_assert(crypto_seal(k1, secret, strlen(secret), again, sizeof again));
    ck_assert_str_ne(sealed, again); /* a fresh nonce each time */
    ck_assert(strstr(sealed, "abcdefghij") == NULL);
    ck_assert(crypto_open(k1, sealed, out, sizeof out));
    ck_assert_str_eq(out, secret);
    ck_assert(!crypto_open(k2, sealed, out, sizeof out));
    ck_assert_str_eq(out, "");
    /* one flipped bit anywhere, or a cut, and it does not open */
    for (size_t i = 0; i < strlen(sealed); i += 7) {
        char bent[sizeof sealed];
        memcpy(bent, sealed, sizeof sealed);
        bent[i] = bent[i] == '0' ? '1' : '0';
        ck_assert_msg(!crypto_open(k1, bent, out, sizeof out), "opened with byte %zu changed", i);
    }
    sealed[strlen(sealed) - 2] = 0;
    ck_assert(!crypto_open(k1, sealed, out, sizeof out));
    ck_assert(!crypto_open(k1, "zz", out, sizeof out));
    ck_assert(!crypto_seal(k1, secret, strlen(secret), out, 10)); /* no room */
}
END_TEST

START_TEST(bearer_values)
{
    ck_assert_str_eq(client_bearer("Bearer lk_x"), "lk_x");
    ck_assert_str_eq(client_bearer("bearer   lk_x"), "lk_x");
    ck_assert_ptr_null(client_bearer("Basic abc"));
    ck_assert_ptr_null(client_bearer("Bearer "));
    ck_assert_ptr_null(client_bearer("lk_x"));
    ck_assert_ptr_null(client_bearer(NULL));
}
END_TEST

/* ---- against a database ---- */

static char tmpdir[256], dbpath[320];
static struct app A;

static void db_setup(void)
{
    const char *base = getenv("TMPDIR");
    snprintf(tmpdir, sizeof tmpdir, "%s/lipa-client-XXXXXX", base && *base ? base : "/tmp");
    ck_assert_ptr_nonnull(mkdtemp(tmpdir));
    snprintf(dbpath, sizeof dbpath, "%s/client.db", tmpdir);
    memset(&A, 0, sizeof A);
    static char pepper[] = PEPPER;
    A.cfg.pepper = pepper;
    char err[256] = "";
    A.store = store_open(dbpath, "db", err, sizeof err);
    ck_assert_msg(A.store != NULL, "store_open: %s", err);
}

static void db_teardown(void)
{
    store_close(A.store);
    test_tmp_remove(tmpdir);
}

static struct client new_client(const char *name, char key[CLIENT_KEY_LEN + 1], char secret[CLIENT_SECRET_LEN + 1])
{
    struct client c;
    memset(&c, 0, sizeof c);
    str_copy(c.name, sizeof c.name, name);
    ck_assert_int_eq(client_create(&A, &c, key, secret), ST_OK);
    return c;
}

START_TEST(a_key_works_until_replaced)
{
    char key[CLIENT_KEY_LEN + 1], secret[CLIENT_SECRET_LEN + 1], key2[CLIENT_KEY_LEN + 1];
    struct client c = new_client("Shule", key, secret), got;
    ck_assert_int_eq((int)strlen(key), CLIENT_KEY_LEN);
    ck_assert(!strncmp(key, "lk_", 3));
    ck_assert(crypto_uuid_ok(c.id));
    ck_assert(client_by_key(&A, key, &got));
    ck_assert_str_eq(got.id, c.id);
    ck_assert(got.active);

    ck_assert_int_eq(client_new_key(&A, c.id, key2), ST_OK);
    ck_assert_str_ne(key, key2);
    ck_assert(!client_by_key(&A, key, &got)); /* the old key: nobody's */
    ck_assert(client_by_key(&A, key2, &got));
    ck_assert_int_eq(client_new_key(&A, "550e8400-e29b-41d4-a716-446655440000", key2), ST_NOT_FOUND);

    /* another client's key finds the other client, never this one */
    char okey[CLIENT_KEY_LEN + 1], osecret[CLIENT_SECRET_LEN + 1];
    struct client o = new_client("Other", okey, osecret);
    ck_assert(client_by_key(&A, okey, &got));
    ck_assert_str_eq(got.id, o.id);
    ck_assert(!client_by_key(&A, "", &got));
    ck_assert(!client_by_key(&A, NULL, &got));
    char near[CLIENT_KEY_LEN + 1];
    memcpy(near, key2, sizeof near);
    near[10] ^= 1;
    ck_assert(!client_by_key(&A, near, &got));
}
END_TEST

START_TEST(the_database_holds_no_key_or_secret)
{
    char key[CLIENT_KEY_LEN + 1], secret[CLIENT_SECRET_LEN + 1], out[CLIENT_SECRET_LEN + 1];
    struct client c = new_client("Shule", key, secret), got;
    ck_assert_int_eq(store_client_get(A.store, c.id, &got), ST_OK);
    ck_assert(client_secret(&A, &got, out));
    ck_assert_str_eq(out, secret);
    ck_assert(!strncmp(secret, "whsec_", 6));
    /* the file itself: neither the key nor the secret, in any page */
    store_close(A.store);
    FILE *f = fopen(dbpath, "rb");
    ck_assert_ptr_nonnull(f);
    static char buf[4 << 20];
    size_t n = fread(buf, 1, sizeof buf, f);
    fclose(f);
    ck_assert(memmem(buf, n, c.id, 36) != NULL); /* the row is in the file */
    ck_assert(memmem(buf, n, key + 3, CLIENT_KEY_LEN - 3) == NULL);
    ck_assert(memmem(buf, n, secret + 6, CLIENT_SECRET_LEN - 6) == NULL);
    char err[256];
    A.store = store_open(dbpath, "db", err, sizeof err);
    ck_assert_ptr_nonnull(A.store);
    /* under another pepper the secret does not open */
    static char other[] = "another-pepper";
    A.cfg.pepper = other;
    ck_assert(!client_secret(&A, &got, out));
    ck_assert(!client_by_key(&A, key, &got));
}
END_TEST

START_TEST(packages_belong_to_their_client)
{
    char key[CLIENT_KEY_LEN + 1], secret[CLIENT_SECRET_LEN + 1];
    struct client c = new_client("ISP", key, secret);
    struct package pk, got;
    memset(&pk, 0, sizeof pk);
    str_copy(pk.client_id, sizeof pk.client_id, c.id);
    str_copy(pk.name, sizeof pk.name, "Professional");
    pk.amount = 1500;
    ck_assert_int_eq(client_package_create(&A, &pk), ST_OK);
    ck_assert(crypto_uuid_ok(pk.id));
    ck_assert_int_eq(store_package_get(A.store, pk.id, &got), ST_OK);
    ck_assert_str_eq(got.client_id, c.id);
    ck_assert_int_eq(got.amount, 1500);
    ck_assert(got.active);
    got.active = false;
    got.amount = 2000;
    ck_assert_int_eq(store_package_update(A.store, &got), ST_OK);
    ck_assert_int_eq(store_package_get(A.store, pk.id, &got), ST_OK);
    ck_assert(!got.active);
    ck_assert_int_eq(got.amount, 2000);
    /* a package of nobody */
    memset(&pk, 0, sizeof pk);
    str_copy(pk.client_id, sizeof pk.client_id, "550e8400-e29b-41d4-a716-446655440000");
    str_copy(pk.name, sizeof pk.name, "Orphan");
    pk.amount = 1;
    ck_assert_int_eq(client_package_create(&A, &pk), ST_NOT_FOUND);
}
END_TEST

Suite *test_suite(void)
{
    Suite *s = suite_create("client");
    TCase *tc = tcase_create("pure");
    tcase_add_test(tc, signature_is_hmac_sha256_hex);
    tcase_add_test(tc, uuids_are_version_4_and_checked);
    tcase_add_test(tc, sealed_secrets_open_only_under_their_key);
    tcase_add_test(tc, bearer_values);
    suite_add_tcase(s, tc);
    tc = tcase_create("store");
    tcase_add_checked_fixture(tc, db_setup, db_teardown);
    tcase_add_test(tc, a_key_works_until_replaced);
    tcase_add_test(tc, the_database_holds_no_key_or_secret);
    tcase_add_test(tc, packages_belong_to_their_client);
    suite_add_tcase(s, tc);
    return s;
}
