/* End-to-end: document 002's device endpoints beyond registration. */
#include "harness.h"

#include <check.h>

Suite *suite_devices(void)
{
    Suite *s = suite_create("devices");
    return s;
}
