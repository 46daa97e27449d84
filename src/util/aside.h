/* util/aside: background work stepping aside for the threads that answer.
 *
 * On a busy machine the scheduler lets a running thread finish its slice
 * (a few milliseconds) before a thread woken on the same core gets it. A
 * background loop that runs for a millisecond or more (a group commit, a
 * batch of callbacks, an eviction scan) would then hold a USSD hop woken
 * behind it for all of that. Such loops call step_aside() between items:
 * once ASIDE_EVERY_US of work has passed since the thread last stepped
 * aside, the core goes to whoever waits for it (sched_yield; when nobody
 * does, it returns at once). Between those times the call is a clock read:
 * a yield per item cost the committer a system call, and often a context
 * switch, for every purchase (docs/performance.md).
 *
 * Never call it holding a lock a hop may take (only the store's writer
 * lock, which no hop takes, may be held across it). */
#ifndef LIPA_ASIDE_H
#define LIPA_ASIDE_H

#include <sched.h>
#include <stdint.h>
#include <time.h>

#define ASIDE_EVERY_US 100

static inline void step_aside(void)
{
    static __thread int64_t last_us;
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    int64_t now = (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
    if (now - last_us < ASIDE_EVERY_US)
        return;
    last_us = now;
    sched_yield();
}

#endif
