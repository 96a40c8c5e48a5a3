/*
 * log.h: one line per message to stderr: "2026-11-21T11:32:00.123Z level [module] message".
 * Any thread (stdio locks the stream per call). Hot paths that can see bad input in bulk use
 * TD_LOG_RATELIMITED so a flood of garbage costs a counter, not a disk.
 */
#ifndef TD_LOG_H
#define TD_LOG_H

#include <stdint.h>

typedef enum { TD_LOG_DEBUG, TD_LOG_INFO, TD_LOG_WARN, TD_LOG_ERROR } td_log_level_t;

extern td_log_level_t td_log_min_level;

void td_log(td_log_level_t level, const char *module, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#define td_log_info(mod, ...)  td_log(TD_LOG_INFO, mod, __VA_ARGS__)
#define td_log_warn(mod, ...)  td_log(TD_LOG_WARN, mod, __VA_ARGS__)
#define td_log_error(mod, ...) td_log(TD_LOG_ERROR, mod, __VA_ARGS__)

/* At most `per_sec` lines a second from this call site; the rest are only counted. */
int td_log_allow(int64_t *window_start_ns, uint32_t *count_in_window, uint32_t per_sec);
#define TD_LOG_RATELIMITED(level, mod, per_sec, ...)                                  \
    do {                                                                               \
        static __thread int64_t td__ws_;                                               \
        static __thread uint32_t td__n_;                                               \
        if (td_log_allow(&td__ws_, &td__n_, (per_sec))) td_log(level, mod, __VA_ARGS__); \
    } while (0)

#endif
