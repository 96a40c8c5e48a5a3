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

/* Days since 1970-01-01 of a proleptic Gregorian date, negative before (H. Hinnant's days_from_civil;
 * exact for every date an int64 holds: feeds' session dates, the store's partition names, tests). */
static inline int64_t td_days_from_civil(int64_t y, int m, int d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
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
