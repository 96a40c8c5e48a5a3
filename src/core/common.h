/*
 * common.h: error codes, branch hints and the one out-of-memory hook shared by every module.
 *
 * Errors are negative errno values (as libuv does), so they print with strerror(-e) and never collide
 * with byte counts that parsers return. Parsers return bytes consumed (>= 0), TD_EAGAIN for "need more
 * input" and TD_EPROTO for bad input; the two are never confused.
 *
 * Allocation failure is not an error path: td_malloc() and friends abort through td_oom(), so callers
 * never test for NULL. Size-capped buffers return TD_ENOBUFS at their cap instead.
 */
#ifndef TD_COMMON_H
#define TD_COMMON_H

#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>

#define TD_OK        0
#define TD_EAGAIN   (-EAGAIN)     /* need more input / try again */
#define TD_EPROTO   (-EPROTO)     /* malformed input */
#define TD_EINVAL   (-EINVAL)     /* bad argument */
#define TD_ERANGE   (-ERANGE)     /* value out of range (overflow, too many decimals) */
#define TD_ENOENT   (-ENOENT)     /* no such thing (order id, level, symbol) */
#define TD_EEXIST   (-EEXIST)     /* already there (duplicate order id) */
#define TD_ENOBUFS  (-ENOBUFS)    /* a capped buffer or table is full */
#define TD_EIO      (-EIO)        /* I/O failure */
#define TD_ENOMEM   (-ENOMEM)
#define TD_EOF      (-ENODATA)    /* a file source is exhausted */

const char *td_strerror(int err);

#define TD_LIKELY(x)   __builtin_expect(!!(x), 1)
#define TD_UNLIKELY(x) __builtin_expect(!!(x), 0)
#define TD_ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))
#define TD_CACHELINE 64

/* Called when an allocation fails: logs and aborts. Replaceable for tests. */
extern void (*td_oom_hook)(size_t size);
void *td_malloc(size_t size);
void *td_calloc(size_t n, size_t size);
void *td_realloc(void *p, size_t size);
void *td_aligned_alloc(size_t align, size_t size); /* free with td_free */
char *td_strdup(const char *s);
void td_free(void *p);

#endif
