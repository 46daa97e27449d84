/* version: what `--version` says. lipa_version is written at build time
 * into build/<variant>/lipa_version.c by the Makefile (git describe
 * --always --dirty, or LIPA_VERSION=... make, or "unreleased" outside a
 * git checkout). */
#ifndef LIPA_VERSION_H
#define LIPA_VERSION_H

extern const char lipa_version[];

/* A tool's --help and --version, as its only argument: prints usage (to
 * stdout, as asked for) or "NAME VERSION" and returns 0; -1 when argv[1]
 * is neither (the tool goes on with its own arguments). */
int version_args(int argc, char **argv, const char *name, const char *usage);

#endif
