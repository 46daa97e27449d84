/* runner: what every unit runner shares. Each tests/unit/check_<module>.c
 * defines test_suite(); runner.c holds the one main() that runs it (the
 * Makefile links it into every runner). */
#ifndef LIPA_TEST_RUNNER_H
#define LIPA_TEST_RUNNER_H

#include <check.h>

/* The runner's suite (called once, before anything runs). */
Suite *test_suite(void);

/* Removes dir and everything in it (a test's temporary directory). */
void test_tmp_remove(const char *dir);

#endif
