/* util/aside: background work stepping aside for the threads that answer.
 *
 * On a busy machine the scheduler lets a running thread finish its slice
 * (a few milliseconds) before a thread woken on the same core gets it. A
 * background loop that runs for a millisecond or more (a group commit, a
 * batch of callbacks, an eviction scan) would then hold a USSD hop woken
 * behind it for all of that. Such loops call step_aside() between items:
 * the core goes to whoever waits for it, and when nobody does, the call
 * returns at once (one system call). Measured under the benchmark script,
 * 2026-11-24 (README, Speed): p99 of round 1 fell from 2.3-2.8 ms to
 * 2.0-2.2 ms with the committer alone stepping aside.
 *
 * Never call it holding a lock a hop may take (only the store's writer
 * lock, which no hop takes, may be held across it). */
#ifndef LIPA_ASIDE_H
#define LIPA_ASIDE_H

#include <sched.h>

static inline void step_aside(void) { sched_yield(); }

#endif
