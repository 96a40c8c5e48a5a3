/*
 * buf.h: refcounted byte buffers, the unit of "encode once, send to many".
 *
 * A producer fills a td_nbuf_t (a framed WebSocket message, an HTTP response), then hands references to
 * any number of connections (td_conn_send_buf() takes its own reference); the last unref frees it. The
 * bytes must not change once the buffer has been shared (refs > 1 or queued anywhere).
 *
 * Threading: the refcount is atomic, so a buffer may be built on one thread and queued on connections of
 * several I/O threads. Filling it is single-threaded, before sharing.
 */
#ifndef TD_NET_BUF_H
#define TD_NET_BUF_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "core/common.h"

typedef struct td_nbuf {
    _Atomic uint32_t refs;
    uint32_t len; /* bytes used */
    uint32_t cap; /* bytes allocated in data[] */
    uint32_t flags;
    char data[];
} td_nbuf_t;

/* A buffer with room for cap bytes, len 0, one reference (the caller's). cap < 4 GiB. */
static inline td_nbuf_t *td_nbuf_new(size_t cap)
{
    td_nbuf_t *b = td_malloc(sizeof *b + cap);
    atomic_init(&b->refs, 1);
    b->len = 0;
    b->cap = (uint32_t)cap;
    b->flags = 0;
    return b;
}

static inline td_nbuf_t *td_nbuf_from(const void *data, size_t len)
{
    td_nbuf_t *b = td_nbuf_new(len);
    memcpy(b->data, data, len);
    b->len = (uint32_t)len;
    return b;
}

static inline td_nbuf_t *td_nbuf_ref(td_nbuf_t *b)
{
    atomic_fetch_add_explicit(&b->refs, 1, memory_order_relaxed);
    return b;
}

/* NULL is a no-op. Acquire/release so the freeing thread sees every write made before the other unrefs. */
static inline void td_nbuf_unref(td_nbuf_t *b)
{
    if (b && atomic_fetch_sub_explicit(&b->refs, 1, memory_order_acq_rel) == 1) td_free(b);
}

#endif
