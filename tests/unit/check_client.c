/* client: integrators' keys and webhook secrets, their public payments and
 * notices. What an integrator would notice: a key works until it is
 * replaced, then never again; the database holds neither the key nor the
 * secret in clear; a notice's signature is the HMAC-SHA256 every HTTP
 * library computes, over the very bytes posted; a payment's reference,
 * status and missing fields read as documented; a notice exists exactly
 * when the payment's final status does. */
#include "runner.h"
#include "client/client.h"
#include "client/notice.h"
#include "client/payment.h"
#include "store/clients.h"
#include "store/notices.h"
#include "store/payments.h"
#include "util/crypto.h"
#include "util/str.h"

#include "../support/testdb.h"

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

START_TEST(references_are_nairobi_time_and_six_characters)
{
    char ref[CLIENT_REF_MAX], other[CLIENT_REF_MAX];
    /* 12:06:05 UTC is 15:06:05 in Nairobi */
    ck_assert(client_reference(1769601965123LL, ref));
    ck_assert_int_eq((int)strlen(ref), 25);
    ck_assert_msg(!strncmp(ref, "PKG-20260128150605-", 19), "%s", ref);
    for (int i = 19; i < 25; i++)
        ck_assert_msg((ref[i] >= 'a' && ref[i] <= 'z') || (ref[i] >= '0' && ref[i] <= '9'), "%s", ref);
    ck_assert(client_reference_ok(ref));
    /* the date turns with Nairobi's midnight, not UTC's */
    ck_assert(client_reference(1798756200000LL, other));
    ck_assert_msg(!strncmp(other, "PKG-20270101013000-", 19), "%s", other);
    ck_assert(client_reference(1769601965123LL, other));
    ck_assert_str_ne(ref, other); /* the random part */
    const char *bad[] = {"", "PKG-20260128150605-abc12", "PKG-20260128150605-abc1234", "pkg-20260128150605-abc123",
                         "PKG-2026012815060x-abc123", "PKG-20260128150605-ABC123", "PKG-20260128150605_abc123",
                         "WS-1769601965123-ABCDEFGH", NULL};
    for (int i = 0; bad[i]; i++)
        ck_assert_msg(!client_reference_ok(bad[i]), "%s accepted", bad[i]);
    ck_assert(client_reference_ok("PKG-20260128150605-abc123"));
    ck_assert(!client_reference_ok(NULL));
}
END_TEST

START_TEST(missing_fields_named_in_order)
{
    static const char *const names[] = {"client_id", "package_id", "phone_number", "description", NULL};
    char out[128];
    json_t *b = json_loads("{}", 0, NULL);
    ck_assert_int_eq(client_missing_fields(b, names, out, sizeof out), 4);
    ck_assert_str_eq(out, "client_id, package_id, phone_number, description");
    json_decref(b);
    /* the document's own example: the order is the fields', not the body's */
    b = json_loads("{\"phone_number\":\"+254712345678\"}", 0, NULL);
    ck_assert_int_eq(client_missing_fields(b, names, out, sizeof out), 3);
    ck_assert_str_eq(out, "client_id, package_id, description");
    json_decref(b);
    /* null and blanks are missing; any other value is present (and checked later) */
    b = json_loads("{\"description\":\" \\t\",\"client_id\":null,\"package_id\":7,\"phone_number\":\"x\"}", 0, NULL);
    ck_assert_int_eq(client_missing_fields(b, names, out, sizeof out), 2);
    ck_assert_str_eq(out, "client_id, description");
    json_decref(b);
    b = json_loads("{\"client_id\":\"a\",\"package_id\":\"b\",\"phone_number\":\"c\",\"description\":\"d\"}", 0, NULL);
    ck_assert_int_eq(client_missing_fields(b, names, out, sizeof out), 0);
    ck_assert_str_eq(out, "");
    json_decref(b);
}
END_TEST

START_TEST(statuses_as_integrators_see_them)
{
    struct payment p;
    memset(&p, 0, sizeof p);
    const char *map[][2] = {{"pending", "pending"}, {"processing", "pending"}, {"completed", "completed"},
                            {"cancelled", "cancelled"}, {"failed", "failed"}, {"timeout", "failed"}};
    for (size_t i = 0; i < sizeof map / sizeof map[0]; i++) {
        str_copy(p.status, sizeof p.status, map[i][0]);
        ck_assert_str_eq(client_payment_status(&p), map[i][1]);
    }
    /* no answer in time is stored as failed for this kind */
    str_copy(p.status, sizeof p.status, "timeout");
    client_package_prepare(NULL, &p);
    ck_assert_str_eq(p.status, "failed");
    ck_assert_str_eq(p.topup_status, "none");
    str_copy(p.status, sizeof p.status, "cancelled");
    client_package_prepare(NULL, &p);
    ck_assert_str_eq(p.status, "cancelled");
}
END_TEST

START_TEST(notice_schedule)
{
    /* 10 s, 1 min, 5 min, 30 min, then hourly */
    const int64_t want[] = {10000, 60000, 300000, 1800000, 3600000, 3600000, 3600000};
    for (int i = 0; i < 7; i++)
        ck_assert_int_eq(client_notice_delay_ms(10000, i + 1), want[i]);
    ck_assert_int_eq(client_notice_delay_ms(200, 1), 200);
    ck_assert_int_eq(client_notice_delay_ms(200, 2), 1200);
}
END_TEST

static struct payment settled(void)
{
    struct payment p;
    memset(&p, 0, sizeof p);
    str_copy(p.kind, sizeof p.kind, "package");
    str_copy(p.status, sizeof p.status, "completed");
    str_copy(p.transaction_id, sizeof p.transaction_id, "770e8400-e29b-41d4-a716-446655440002");
    str_copy(p.checkout_request_id, sizeof p.checkout_request_id, "ws_CO_280120261506050001");
    str_copy(p.reference, sizeof p.reference, "PKG-20260128150605-abc123");
    str_copy(p.phone, sizeof p.phone, "+254712345678");
    str_copy(p.package_id, sizeof p.package_id, "660e8400-e29b-41d4-a716-446655440001");
    str_copy(p.note, sizeof p.note, "Internet package - Professional Plan");
    str_copy(p.mpesa_receipt, sizeof p.mpesa_receipt, "NLJ7RT61SV");
    p.amount = 1500;
    return p;
}

START_TEST(status_and_notice_shapes)
{
    struct payment p = settled();
    json_t *j = client_payment_json(&p);
    char *t = json_dumps(j, JSON_COMPACT);
    ck_assert_str_eq(t, "{\"transaction_id\":\"770e8400-e29b-41d4-a716-446655440002\",\"checkout_id\":"
                        "\"ws_CO_280120261506050001\",\"status\":\"completed\",\"amount\":1500,\"reference\":"
                        "\"PKG-20260128150605-abc123\",\"phone_number\":\"+254712345678\"}");
    free(t);
    json_decref(j);
    p.checkout_request_id[0] = 0;
    str_copy(p.status, sizeof p.status, "pending");
    j = client_payment_json(&p);
    ck_assert(json_is_null(json_object_get(j, "checkout_id")));
    json_decref(j);

    p = settled();
    j = client_payment_notice(&p, 1769601965123LL);
    ck_assert_str_eq(json_string_value(json_object_get(j, "event")), "payment.completed");
    ck_assert_str_eq(json_string_value(json_object_get(j, "timestamp")), "2026-01-28T12:06:05.123Z");
    ck_assert_str_eq(json_string_value(json_object_get(j, "mpesa_receipt")), "NLJ7RT61SV");
    ck_assert_str_eq(json_string_value(json_object_get(j, "description")), "Internet package - Professional Plan");
    ck_assert_int_eq(json_integer_value(json_object_get(j, "amount")), 1500);
    json_decref(j);
    str_copy(p.status, sizeof p.status, "cancelled");
    j = client_payment_notice(&p, 0);
    ck_assert_str_eq(json_string_value(json_object_get(j, "event")), "payment.cancelled");
    ck_assert(json_is_null(json_object_get(j, "mpesa_receipt")));
    json_decref(j);
    str_copy(p.status, sizeof p.status, "timeout");
    j = client_payment_notice(&p, 0);
    ck_assert_str_eq(json_string_value(json_object_get(j, "event")), "payment.failed");
    ck_assert_str_eq(json_string_value(json_object_get(j, "status")), "failed");
    json_decref(j);
}
END_TEST

/* ---- against a database ---- */

static char tmpdir[256], dbpath[400];
static struct app A;

static void db_setup(void)
{
    const char *base = getenv("TMPDIR");
    snprintf(tmpdir, sizeof tmpdir, "%s/lipa-client-XXXXXX", base && *base ? base : "/tmp");
    ck_assert_ptr_nonnull(mkdtemp(tmpdir));
    char file[300];
    snprintf(file, sizeof file, "%s/client.db", tmpdir);
    ck_assert(testdb_target(file, dbpath, sizeof dbpath));
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
    /* the file itself: neither the key nor the secret, in any page (on
     * PostgreSQL: in any row of any table, as text) */
    store_close(A.store);
    static char buf[4 << 20];
    size_t n = 0;
    if (testdb_pg()) {
        ck_assert(testdb_sql(dbpath, "SELECT c::text FROM clients c UNION ALL SELECT p::text FROM packages p", buf,
                             sizeof buf));
        n = strlen(buf);
    } else {
        FILE *f = fopen(dbpath, "rb");
        ck_assert_ptr_nonnull(f);
        n = fread(buf, 1, sizeof buf, f);
        fclose(f);
    }
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

static struct client callback_client(const char *url, char secret[CLIENT_SECRET_LEN + 1])
{
    char key[CLIENT_KEY_LEN + 1];
    struct client c;
    memset(&c, 0, sizeof c);
    str_copy(c.name, sizeof c.name, "ISP");
    str_copy(c.callback_url, sizeof c.callback_url, url);
    ck_assert_int_eq(client_create(&A, &c, key, secret), ST_OK);
    return c;
}

static int64_t stored_payment(const struct client *c)
{
    struct payment p = settled();
    str_copy(p.client_id, sizeof p.client_id, c->id);
    p.package_id[0] = 0; /* no package row in this database */
    p.checkout_request_id[0] = 0;
    str_copy(p.origin, sizeof p.origin, "api");
    char tid[37];
    ck_assert(crypto_uuid4(tid));
    str_copy(p.transaction_id, sizeof p.transaction_id, tid);
    ck_assert(client_reference(now_ms(), p.reference));
    ck_assert_int_eq(store_payment_create(A.store, &p), ST_OK);
    return p.id;
}

START_TEST(a_notice_lives_and_dies_with_its_transaction)
{
    char secret[CLIENT_SECRET_LEN + 1], opened[CLIENT_SECRET_LEN + 1];
    struct client c = callback_client("http://127.0.0.1:9/hook", secret);
    struct payment p;
    ck_assert_int_eq(store_payment_get(A.store, stored_payment(&c), &p), ST_OK);
    str_copy(p.status, sizeof p.status, "completed"); /* as its finish has it */
    json_t *body = client_payment_notice(&p, now_ms());
    struct client_notice due[4];

    /* rolled back with the finish: no notice */
    ck_assert_int_eq(store_begin(A.store), ST_OK);
    ck_assert(client_notice_queue(&A, &p, body));
    store_rollback(A.store);
    ck_assert_int_eq(store_notices_due(A.store, now_ms() + 1, due, 4), 0);

    /* committed with it: one notice, the exact bytes to post */
    ck_assert_int_eq(store_begin(A.store), ST_OK);
    ck_assert(client_notice_queue(&A, &p, body));
    ck_assert(client_notice_queue(&A, &p, body)); /* the same event again: still one */
    ck_assert_int_eq(store_commit(A.store), ST_OK);
    ck_assert_int_eq(store_notices_due(A.store, now_ms() + 1, due, 4), 1);
    char *text = json_dumps(body, JSON_COMPACT);
    ck_assert_str_eq(due[0].body, text);
    ck_assert_str_eq(due[0].event, "payment.completed");
    ck_assert_str_eq(due[0].client_id, c.id);
    ck_assert_int_eq(due[0].payment_id, p.id);
    ck_assert_str_eq(due[0].status, "queued");

    /* what the receiver checks: HMAC-SHA256 of those bytes under the
     * secret it was shown, as any library computes it */
    struct client got;
    char sig[65], again[65];
    ck_assert_int_eq(store_client_get(A.store, c.id, &got), ST_OK);
    ck_assert(client_secret(&A, &got, opened));
    ck_assert_str_eq(opened, secret);
    client_sign(opened, due[0].body, strlen(due[0].body), sig);
    uint8_t mac[32];
    crypto_hmac_sha256(secret, strlen(secret), text, strlen(text), mac);
    crypto_hex(mac, sizeof mac, again, false);
    ck_assert_str_eq(sig, again);
    free(text);
    json_decref(body);
}
END_TEST

START_TEST(no_callback_url_no_notice)
{
    char secret[CLIENT_SECRET_LEN + 1];
    struct client c = callback_client("", secret);
    struct payment p;
    ck_assert_int_eq(store_payment_get(A.store, stored_payment(&c), &p), ST_OK);
    json_t *body = client_payment_notice(&p, now_ms());
    ck_assert(client_notice_queue(&A, &p, body));
    struct payment mine = p;
    mine.client_id[0] = 0; /* lipa's own payment */
    ck_assert(client_notice_queue(&A, &mine, body));
    struct client_notice due[2];
    ck_assert_int_eq(store_notices_due(A.store, now_ms() + 1, due, 2), 0);
    json_decref(body);
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
    tcase_add_test(tc, references_are_nairobi_time_and_six_characters);
    tcase_add_test(tc, missing_fields_named_in_order);
    tcase_add_test(tc, statuses_as_integrators_see_them);
    tcase_add_test(tc, notice_schedule);
    tcase_add_test(tc, status_and_notice_shapes);
    suite_add_tcase(s, tc);
    tc = tcase_create("store");
    tcase_add_checked_fixture(tc, db_setup, db_teardown);
    tcase_add_test(tc, a_key_works_until_replaced);
    tcase_add_test(tc, the_database_holds_no_key_or_secret);
    tcase_add_test(tc, packages_belong_to_their_client);
    tcase_add_test(tc, a_notice_lives_and_dies_with_its_transaction);
    tcase_add_test(tc, no_callback_url_no_notice);
    suite_add_tcase(s, tc);
    return s;
}
