/*
 * codec.h: the primitives the block codecs share (block.c: header, columns, candles, tick layout 1;
 * ticks.c: tick layout 2). Internal to src/store.
 *
 * Integer columns: a varint divisor g (the GCD of the values), then the zigzag varints of value / g; all
 * arithmetic wraps in uint64, so every bit pattern round-trips. Readers (rd_t) never read past `end`: a short
 * or malformed column sets `bad` and yields zeros.
 * Threading: pure functions over caller buffers.
 */
#ifndef TD_STORE_CODEC_H
#define TD_STORE_CODEC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "core/common.h"
#include "store/store_internal.h"

static inline void put32(uint8_t *p, uint32_t v) { memcpy(p, &v, 4); }
static inline void put64(uint8_t *p, uint64_t v) { memcpy(p, &v, 8); }
static inline uint32_t get32(const uint8_t *p)
{
    uint32_t v;
    memcpy(&v, p, 4);
    return v;
}
static inline uint64_t get64(const uint8_t *p)
{
    uint64_t v;
    memcpy(&v, p, 8);
    return v;
}

static inline uint64_t zz(int64_t x) { return ((uint64_t)x << 1) ^ (uint64_t)(x >> 63); }
static inline int64_t unzz(uint64_t u) { return (int64_t)((u >> 1) ^ (0 - (u & 1))); }

static inline uint8_t *put_varint(uint8_t *p, uint64_t v)
{
    while (v >= 0x80) {
        *p++ = (uint8_t)(v | 0x80);
        v >>= 7;
    }
    *p++ = (uint8_t)v;
    return p;
}

typedef struct rd {
    const uint8_t *p, *end;
    bool bad;
} rd_t;

static inline uint64_t get_varint(rd_t *r)
{
    uint64_t v = 0;
    for (int shift = 0; shift < 64; shift += 7) {
        if (TD_UNLIKELY(r->p >= r->end)) {
            r->bad = true;
            return 0;
        }
        uint8_t b = *r->p++;
        v |= (uint64_t)(b & 0x7f) << shift;
        if (!(b & 0x80)) return v;
    }
    r->bad = true; /* more than 10 bytes */
    return 0;
}

/* Integer column: varint g, then zigzag(v / g) per value. */
uint8_t *td_col_put(uint8_t *p, const int64_t *v, size_t n);
void td_col_get(rd_t *r, int64_t *v, size_t n);
/* Divides every value by the GCD of their magnitudes, in place; returns it (1 when all are 0). */
uint64_t td_col_reduce(int64_t *v, size_t n);
/* Layout 1 tick decoder (block.c), after td_blk_open_payload checked h and pointed r at the columns. */
int td_blk_decode_ticks_v1(td_blk_scratch_t *s, const uint8_t *buf, const td_blk_info_t *h, rd_t r,
                           td_blk_tick_t *out);

/* Grows *buf (contents not kept) to at least need bytes. */
void td_blk_ensure(void **buf, size_t *cap, size_t need);

/* The exchange table of a tick block: fills map[id] = index (255 = none) for every exchange id used in
 * recs (ev.exch, and ev.side of NBBO records), writes the names behind the header in s->out and sets
 * h->nexch, h->min_time, h->max_time, h->max_seq, h->count. Returns the fixed header size, or TD_ENOBUFS
 * with more than TD_BLK_MAX_EXCH exchanges. */
int td_blk_tick_header(td_blk_scratch_t *s, td_blk_info_t *h, const char *sym, const td_blk_tick_t *recs,
                       size_t n, uint8_t map[256]);
/* Interns a tick block's symbol and exchange table: *sym (0 for TD_STORE_NOSYM_NAME), ids[index]. */
int td_blk_tick_names(const uint8_t *buf, const td_blk_info_t *h, uint32_t *sym, uint8_t ids[256]);
/* Checks decoded records against the header (time range, max seq): TD_OK or TD_EPROTO. */
int td_blk_tick_check_range(const td_blk_info_t *h, const td_blk_tick_t *out, size_t n);

/* Compresses each column of s->raw (segments s->seg_end; those in s->seg_plain stay raw) behind the header
 * already in s->out[0..fixed) and seals the block. Returns the block length. */
int td_blk_finish(td_blk_scratch_t *s, td_blk_info_t *h, size_t fixed, size_t raw_len, int level);
/* Checks the header and checksum of a block of `kind`, decompresses its columns into s->raw and points r at
 * them. TD_OK or TD_EPROTO. */
int td_blk_open_payload(td_blk_scratch_t *s, const uint8_t *buf, size_t len, uint8_t kind, td_blk_info_t *h,
                        rd_t *r);

/* Frees layout 2's model (ticks.c) kept in a scratch. */
void td_blk_model_free(void *model);

#define NO_EXCH 255
#define TD_BLK_RAW_SLACK 8 /* zero bytes after a decoded payload (td_blk_open_payload) */

#endif
