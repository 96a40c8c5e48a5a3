/*
 * jbuf.h: a growable output buffer with a hard maximum, and the JSON and MessagePack writers that fill it.
 *
 * Every message tickd sends (WebSocket payloads, REST bodies, /metrics) is built here. The buffer grows by
 * doubling up to `max`; an append that would pass `max` is dropped and sets `err` = TD_ENOBUFS, so a
 * caller writes a whole message and checks once at the end (no half-checked paths). Buffers are reused
 * (td_jb_reset keeps the memory), so the steady state allocates nothing.
 *
 * JSON: strings are escaped per RFC 8259; decimals go through td_dec_fmt (exact, never float noise).
 * MessagePack: the smallest encoding of each integer (the spec's rule), str8/16/32, array/map headers.
 *
 * Threading: a buffer belongs to one thread.
 */
#ifndef TD_API_JBUF_H
#define TD_API_JBUF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "core/common.h"
#include "core/decimal.h"

typedef struct td_jb {
    char *p;
    size_t len, cap, max;
    int err; /* TD_ENOBUFS once an append was dropped */
} td_jb_t;

void td_jb_init(td_jb_t *b, size_t max);
void td_jb_free(td_jb_t *b);
static inline void td_jb_reset(td_jb_t *b) { b->len = 0; b->err = 0; }
/* Slow path of td_jb_put: grows (or fails at max). Returns false when the bytes were dropped. */
bool td_jb_grow(td_jb_t *b, size_t need);

static inline void td_jb_put(td_jb_t *b, const void *s, size_t n)
{
    if (TD_UNLIKELY(b->len + n > b->cap) && !td_jb_grow(b, n)) return;
    memcpy(b->p + b->len, s, n);
    b->len += n;
}
static inline void td_jb_ch(td_jb_t *b, char c)
{
    if (TD_UNLIKELY(b->len + 1 > b->cap) && !td_jb_grow(b, 1)) return;
    b->p[b->len++] = c;
}
#define td_jb_lit(b, lit) td_jb_put((b), (lit), sizeof(lit) - 1)
static inline void td_jb_cstr(td_jb_t *b, const char *s) { td_jb_put(b, s, strlen(s)); }

/* JSON values */
void td_jb_str(td_jb_t *b, const char *s, size_t n); /* quoted and escaped */
static inline void td_jb_qstr(td_jb_t *b, const char *s) { td_jb_str(b, s, strlen(s)); }
void td_jb_u64(td_jb_t *b, uint64_t v);
void td_jb_i64(td_jb_t *b, int64_t v);
void td_jb_dec(td_jb_t *b, int64_t v);   /* scaled 1e8 -> "185.42" */
void td_jb_vol(td_jb_t *b, td_vol_t v);  /* 128-bit scaled 1e8 */

/* MessagePack values */
void td_mp_uint(td_jb_t *b, uint64_t v);
void td_mp_int(td_jb_t *b, int64_t v);
void td_mp_str(td_jb_t *b, const char *s, size_t n);
static inline void td_mp_cstr(td_jb_t *b, const char *s) { td_mp_str(b, s, strlen(s)); }
void td_mp_array(td_jb_t *b, uint32_t n);
void td_mp_map(td_jb_t *b, uint32_t n);
static inline void td_mp_nil(td_jb_t *b) { td_jb_ch(b, (char)0xc0); }
static inline void td_mp_bool(td_jb_t *b, bool v) { td_jb_ch(b, (char)(v ? 0xc3 : 0xc2)); }

#endif
