/* End-to-end: the water suite. */
#include "harness.h"

#include <check.h>

Suite *suite_water(void)
{
    Suite *s = suite_create("water");
    return s;
}
