/* fuzz target phone: Kenyan mobile number normalization (src/util/phone.c),
 * as every face that takes a number uses it (AT's phoneNumber and from,
 * POST /users, ownerPhone). The whole input is the number as typed.
 *
 * Checks: a normalized number is exactly "+254" and nine digits starting
 * 7 or 1; normalizing it again gives itself; its Daraja form is it without
 * the plus; and it was made from the input's own digits, in order. */
#include "fuzz.h"

#include "util/phone.h"

#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *in = fuzz_strdup(data, size);
    char out[PHONE_MAX], again[PHONE_MAX], msisdn[PHONE_MAX];
    memset(out, 'x', sizeof out);
    if (phone_normalize(in, out)) {
        FUZZ_CHECK(strlen(out) == 13 && !strncmp(out, "+254", 4), "normalized to '%s'", out);
        FUZZ_CHECK(out[4] == '7' || out[4] == '1', "normalized to '%s'", out);
        for (int i = 4; i < 13; i++)
            FUZZ_CHECK(out[i] >= '0' && out[i] <= '9', "normalized to '%s'", out);
        FUZZ_CHECK(phone_normalize(out, again) && !strcmp(out, again), "'%s' normalized again is '%s'", out, again);
        phone_msisdn(out, msisdn);
        FUZZ_CHECK(!strcmp(msisdn, out + 1), "Daraja form of %s is %s", out, msisdn);
        /* the last nine digits of the input are the number's own */
        char digits[64];
        size_t n = 0;
        for (const char *p = in; *p && n < sizeof digits - 1; p++)
            if (*p >= '0' && *p <= '9')
                digits[n++] = *p;
        digits[n] = 0;
        FUZZ_CHECK(n >= 9 && !strcmp(digits + n - 9, out + 4), "'%s' is not from the input's digits", out);
    }
    free(in);
    return 0;
}
