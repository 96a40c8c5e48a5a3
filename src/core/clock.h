/* clock.h: the two clocks. Realtime for recv_ns stamps (comparable across processes, API.md), monotonic
 * for intervals and timeouts. Both in nanoseconds. Any thread. */
#ifndef TD_CLOCK_H
#define TD_CLOCK_H

#include <stdint.h>
#include <time.h>

#define TD_NS_PER_SEC 1000000000LL
#define TD_NS_PER_MS  1000000LL

static inline int64_t td_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * TD_NS_PER_SEC + ts.tv_nsec;
}

static inline int64_t td_mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * TD_NS_PER_SEC + ts.tv_nsec;
}

/* CPU time of the calling thread. Benchmarks report rates against it: on a shared machine the wall clock
 * also counts other processes' turns. */
static inline int64_t td_thread_cpu_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (int64_t)ts.tv_sec * TD_NS_PER_SEC + ts.tv_nsec;
}

#endif
