/* log.c: timestamped lines to stderr, and the per-call-site rate limiter. */
#include "core/log.h"

#include <stdarg.h>
#include <stdio.h>
#include <time.h>

#include "core/clock.h"

td_log_level_t td_log_min_level = TD_LOG_INFO;

void td_log(td_log_level_t level, const char *module, const char *fmt, ...)
{
    static const char *names[] = { "debug", "info", "warn", "error" };
    if (level < td_log_min_level) return;
    char line[1024];
    struct timespec ts;
    struct tm tm;
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    int n = snprintf(line, sizeof line, "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ %s [%s] ", tm.tm_year + 1900,
                     tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, ts.tv_nsec / 1000000,
                     names[level], module);
    va_list ap;
    va_start(ap, fmt);
    if (n > 0 && (size_t)n < sizeof line) vsnprintf(line + n, sizeof line - (size_t)n, fmt, ap);
    va_end(ap);
    fprintf(stderr, "%s\n", line);
}

int td_log_allow(int64_t *window_start_ns, uint32_t *count_in_window, uint32_t per_sec)
{
    int64_t now = td_mono_ns();
    if (now - *window_start_ns >= TD_NS_PER_SEC) {
        *window_start_ns = now;
        *count_in_window = 0;
    }
    return (*count_in_window)++ < per_sec;
}
