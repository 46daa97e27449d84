/* version: --help and --version for the tools; see version.h. */
#include "util/version.h"

#include <stdio.h>
#include <string.h>

int version_args(int argc, char **argv, const char *name, const char *usage)
{
    if (argc != 2)
        return -1;
    if (!strcmp(argv[1], "--version")) {
        printf("%s %s\n", name, lipa_version);
        return 0;
    }
    if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
        fputs(usage, stdout);
        return 0;
    }
    return -1;
}
