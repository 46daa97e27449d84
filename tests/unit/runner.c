/* runner: the main() of every unit runner; see runner.h. */
#include "runner.h"

#include "util/httpc.h"

#include <stdlib.h>

int main(void)
{
    httpc_global_init(); /* the provider clients' tests talk HTTP; harmless for the rest */
    SRunner *sr = srunner_create(test_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
