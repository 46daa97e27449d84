/* End-to-end: the sms suite. */
#include "harness.h"

#include <check.h>

Suite *suite_sms(void)
{
    Suite *s = suite_create("sms");
    return s;
}
