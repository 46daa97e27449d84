/* testdb: see testdb.h. Databases are made with psql, so the tests link
 * no database library of their own. */
#include "testdb.h"

#include <fcntl.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

bool testdb_pg(void)
{
    const char *u = getenv("LIPA_TEST_PG");
    return u && *u;
}

/* Runs argv with stdout into out (when given), stderr through. */
static bool run(char *const argv[], char *out, size_t n)
{
    int fd[2];
    if (out && pipe(fd) != 0)
        return false;
    pid_t pid = fork();
    if (pid == 0) {
        if (out) {
            dup2(fd[1], 1);
            close(fd[0]);
            close(fd[1]);
        } else {
            int null = open("/dev/null", O_WRONLY);
            if (null >= 0)
                dup2(null, 1);
        }
        execvp(argv[0], argv);
        _exit(127);
    }
    size_t got = 0;
    if (out) {
        close(fd[1]);
        ssize_t r;
        char sink[512];
        while ((r = read(fd[0], got + 1 < n ? out + got : sink, got + 1 < n ? n - 1 - got : sizeof sink)) > 0)
            if (got + 1 < n)
                got += (size_t)r;
        close(fd[0]);
        out[got] = '\0';
    }
    int st = 0;
    if (pid < 0 || waitpid(pid, &st, 0) != pid || !WIFEXITED(st) || WEXITSTATUS(st) != 0) {
        fprintf(stderr, "testdb: %s refused it (exit %d)\n", argv[0], WIFEXITED(st) ? WEXITSTATUS(st) : -1);
        return false;
    }
    return true;
}

bool testdb_sql(const char *target, const char *sql, char *rows, size_t n)
{
    if (strncmp(target, "postgres", 8) != 0) {
        char *argv[] = {"sqlite3", "-bail", "-cmd", ".timeout 5000", (char *)target, (char *)sql, NULL};
        return run(argv, rows, n);
    }
    char *argv[] = {"psql", "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-d", (char *)target, "-c", (char *)sql, NULL};
    return run(argv, rows, n);
}

bool testdb_target(const char *file, char *out, size_t n)
{
    if (!testdb_pg()) {
        snprintf(out, n, "%s", file);
        return true;
    }
    static atomic_int made;
    const char *uri = getenv("LIPA_TEST_PG");
    char name[64], sql[256];
    snprintf(name, sizeof name, "t_%ld_%d", (long)getpid(), atomic_fetch_add(&made, 1));
    snprintf(sql, sizeof sql, "CREATE DATABASE %s TEMPLATE template0 ENCODING 'UTF8' LC_COLLATE 'C' LC_CTYPE 'C'",
             name);
    if (!testdb_sql(uri, sql, NULL, 0))
        return false;
    /* the cluster's URI with the new database's name in place of its own */
    const char *slash = strrchr(uri, '/');
    const char *query = strchr(slash ? slash : uri, '?');
    if (!slash || slash < uri + 12) {
        fprintf(stderr, "testdb: LIPA_TEST_PG is not a postgresql://.../db URI\n");
        return false;
    }
    snprintf(out, n, "%.*s/%s%s", (int)(slash - uri), uri, name, query ? query : "");
    return (size_t)snprintf(NULL, 0, "%.*s/%s%s", (int)(slash - uri), uri, name, query ? query : "") < n;
}
