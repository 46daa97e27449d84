/* http/guard: keeps slow and greedy clients from holding the server's
 * connections, so that a few thousand idle or trickling sockets cannot
 * starve Africa's Talking's hops or anybody else's request.
 *
 * Every connection is tracked from accept to close (server.c feeds it
 * libmicrohttpd's connection notifications):
 *
 *  - per client address (an IPv4 address, or an IPv6 /64, since one host
 *    holds a whole /64) at most per_ip connections are open; more are
 *    refused at accept (0: no cap, for a server behind a proxy);
 *  - a connection must deliver a request's complete headers within
 *    header_ms of being opened or of its previous answer (so this is also
 *    how long an idle keep-alive connection is kept), and the body within
 *    body_ms of the headers;
 *  - while more than three quarters of max connections are open, a
 *    connection waiting for its headers gets PRESSURE_MS instead: idle and
 *    trickling clients make room for new ones.
 *
 * A connection past its deadline is shut down (shutdown(2) on its socket,
 * never close: the server still owns the descriptor), which the server sees
 * as the client leaving. Requests being handled, parked or answered are
 * not the guard's business: the handler's deadline and the server's own
 * inactivity timeout cover them.
 *
 * Thread-safe. guard_phase_* are called on the server's threads for every
 * request and take no lock; guard_open/guard_close and the reaper take the
 * guard's mutex, so a descriptor is never shut down after it was closed. */
#ifndef LIPA_HTTP_GUARD_H
#define LIPA_HTTP_GUARD_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

#define GUARD_PRESSURE_MS 1000

struct guard_opts {
    unsigned max_conns;        /* the server's connection limit */
    unsigned per_ip;           /* 0: no cap */
    int64_t header_ms, body_ms;
    bool no_thread;            /* tests call guard_reap themselves */
};

struct guard;
struct guard_conn;

/* NULL when out of memory. Starts the reaper thread (every 100 ms) unless
 * opts->no_thread. */
struct guard *guard_new(const struct guard_opts *opts);
/* Stops the reaper; every connection must have been closed. */
void guard_free(struct guard *g);

/* At accept: false when the client's address has per_ip connections open. */
bool guard_admit(struct guard *g, const struct sockaddr *sa);
/* A connection was opened on fd: tracked until guard_close (NULL when out
 * of memory; the connection is then not guarded, which is harmless). */
struct guard_conn *guard_open(struct guard *g, int fd, const struct sockaddr *sa);
void guard_close(struct guard *g, struct guard_conn *c);

/* The connection's request: its headers are in (the body deadline runs),
 * it is complete (no deadline: it is being handled), it was answered (the
 * header deadline runs again, for the next request). NULL c is ignored. */
void guard_phase_body(struct guard_conn *c);
void guard_phase_busy(struct guard_conn *c);
void guard_phase_idle(struct guard_conn *c);

/* Shuts down every connection past its deadline at now (monotonic ms);
 * returns how many. The reaper thread calls it. */
int guard_reap(struct guard *g, int64_t now);
/* Open connections; those of the client's address (its per-IP count). */
unsigned guard_open_count(struct guard *g);
unsigned guard_ip_count(struct guard *g, const struct sockaddr *sa);
/* Monotonic milliseconds, the guard's clock. */
int64_t guard_now(void);

#endif
