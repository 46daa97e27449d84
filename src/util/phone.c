/* phone: Kenyan mobile number normalization; see phone.h. */
#include "util/phone.h"

#include <string.h>

bool phone_normalize(const char *in, char out[PHONE_MAX])
{
    char d[24];
    size_t n = 0;
    if (!in)
        return false;
    const char *p = in;
    while (*p == ' ')
        p++;
    bool plus = *p == '+';
    if (plus)
        p++;
    for (; *p; p++) {
        if (*p == ' ' || *p == '-')
            continue;
        if (*p < '0' || *p > '9' || n >= sizeof d - 1)
            return false;
        d[n++] = *p;
    }
    d[n] = 0;
    const char *local; /* the nine digits after 254 / 0 */
    if (n == 12 && !strncmp(d, "254", 3))
        local = d + 3;
    else if (!plus && n == 10 && d[0] == '0')
        local = d + 1;
    else if (!plus && n == 9)
        local = d;
    else
        return false;
    if (local[0] != '7' && local[0] != '1')
        return false;
    memcpy(out, "+254", 4);
    memcpy(out + 4, local, 9);
    out[13] = 0;
    return true;
}

void phone_msisdn(const char *e164, char out[PHONE_MAX])
{
    const char *p = e164[0] == '+' ? e164 + 1 : e164;
    size_t n = strlen(p);
    if (n >= PHONE_MAX)
        n = PHONE_MAX - 1;
    memcpy(out, p, n);
    out[n] = 0;
}
