/*
 * block.c: the column codec of stored blocks (ticks and candles) and the index entry codec.
 *
 * Block layout (little-endian; offsets in bytes):
 *    0 u32 magic "TDB1"        4 u32 len (whole block)     8 u32 crc32 of the block with this field zeroed
 *   12 u8 kind  13 u8 iv  14 u8 nexch  15 u8 codec (low nibble: 0 raw, 1 some column zstd; high nibble:
 *      the column layout, 0 = layout 1, 2 = tick layout 2 of ticks.c)
 *   16 u32 count              20 u32 raw_len (column bytes before compression)
 *   24 i64 min_time           32 i64 max_time             40 u64 max_seq
 *   48 char sym[32] (NUL-padded)
 *   80 nexch x char[16] exchange names (index i = exchange column value i; 255 = no exchange)
 *   .. payload: the columns, each as varint raw_len, varint stored_len, then stored_len bytes: raw when the
 *      two lengths are equal, else one zstd frame (each column gets its own entropy tables: a column of
 *      random timestamp bytes does not spoil the Huffman table of a column of small deltas)
 *
 * Tick columns, layout 1 (written until layout 2 came; still read, and its encoder is kept for the tests and
 * the fuzz target): type, side, exchange index, flags as n bytes each; then integer columns, each a varint
 * divisor g followed by n zigzag varints of value/g:
 *   src_seq - (previous src_seq of the same exchange + 1)
 *   exch_ns - previous exch_ns (the first against min_time), in byte planes (byte 0 of every value, then
 *     byte 1, ...: the random low bytes of nanosecond times stay 1 byte each, the high ones compress away)
 *   (recv_ns - exch_ns) - previous such latency
 *   seq - previous seq
 *   the four payload words, each minus the same word of the previous event of the same layout class
 *   (orders, trades, quotes, levels, NBBO, other) and the same exchange; except order ids: a fresh one (ADD,
 *   REPLACE's new id) minus (the exchange's last fresh id + 1), a reference minus that last fresh id
 * g is the GCD of the column's values (found with a multiply-by-inverse divisibility test, so it costs a
 * multiply per value, not a division): prices on a cent grid or sizes in whole shares shrink by 10^6..10^10
 * before varint coding. All arithmetic wraps in uint64, so every bit pattern round-trips exactly.
 * Columns (candles): time, open - previous open, high - open, open - low, close - open, volume low and high
 * 64-bit words, trade count, seq - previous seq; same integer column coding.
 *
 * Invariants: an encoded block decodes to exactly the records given; a decoded block's count and time
 * range equal its header's, or it is rejected. The decoder bounds every read, so any bytes are safe input.
 * Threading: pure functions over a caller-owned scratch (one per thread).
 */
#include "store/codec.h"

#include <stdio.h>
#include <string.h>
#include <zlib.h>
#include <zstd.h>

#include "core/clock.h"
#include "core/common.h"
#include "store/store.h"

/* ---- small helpers ---- */

uint32_t td_store_crc(uint32_t crc, const void *p, size_t n)
{
    const uint8_t *b = p;
    while (n > 0) {
        uInt chunk = n > (1u << 30) ? (1u << 30) : (uInt)n;
        crc = (uint32_t)crc32(crc, b, chunk);
        b += chunk;
        n -= chunk;
    }
    return crc;
}

static uint64_t gcd_u64(uint64_t a, uint64_t b)
{
    while (b) {
        uint64_t t = a % b;
        a = b;
        b = t;
    }
    return a;
}

/* The divisor g = 2^k * m (m odd) with m's inverse mod 2^64, for exact division and divisibility tests by
 * multiplication (Granlund & Montgomery). */
typedef struct divisor {
    uint64_t g, m, inv, lim;
    unsigned k;
} divisor_t;

static void divisor_set(divisor_t *d, uint64_t g)
{
    d->g = g;
    d->k = (unsigned)__builtin_ctzll(g);
    d->m = g >> d->k;
    uint64_t x = d->m;
    for (int i = 0; i < 5; i++) x *= 2 - d->m * x;
    d->inv = x;
    d->lim = UINT64_MAX / d->m;
}

static inline bool divisible(const divisor_t *d, uint64_t u)
{
    if (d->k && (u & ((1ull << d->k) - 1))) return false;
    return (u >> d->k) * d->inv <= d->lim;
}

/* The GCD of the values' magnitudes (0 when all are 0), with its divisor set in *d when > 1. */
static uint64_t col_gcd(const int64_t *v, size_t n, divisor_t *d)
{
    uint64_t g = 0;
    for (size_t i = 0; i < n; i++) {
        uint64_t u = v[i] < 0 ? 0 - (uint64_t)v[i] : (uint64_t)v[i];
        if (u == 0) continue;
        if (g == 0) {
            g = u;
            divisor_set(d, g);
        } else if (!divisible(d, u)) {
            g = gcd_u64(g, u);
            divisor_set(d, g);
        }
        if (g == 1) break;
    }
    return g;
}

uint64_t td_col_reduce(int64_t *v, size_t n)
{
    divisor_t d;
    uint64_t g = col_gcd(v, n, &d);
    if (g <= 1) return 1;
    for (size_t i = 0; i < n; i++) v[i] = (int64_t)((uint64_t)(v[i] >> d.k) * d.inv); /* exact */
    return g;
}

/* Writes one integer column: varint g, then zigzag(v / g) for each value. */
uint8_t *td_col_put(uint8_t *p, const int64_t *v, size_t n)
{
    divisor_t d;
    uint64_t g = col_gcd(v, n, &d);
    if (g <= 1) {
        p = put_varint(p, 1);
        for (size_t i = 0; i < n; i++) p = put_varint(p, zz(v[i]));
        return p;
    }
    p = put_varint(p, g);
    for (size_t i = 0; i < n; i++) {
        uint64_t q = (uint64_t)(v[i] >> d.k) * d.inv; /* exact: v[i] is a multiple of g */
        p = put_varint(p, zz((int64_t)q));
    }
    return p;
}

void td_col_get(rd_t *r, int64_t *v, size_t n)
{
    uint64_t g = get_varint(r);
    if (g == 0) r->bad = true;
    for (size_t i = 0; i < n && !r->bad; i++) v[i] = (int64_t)((uint64_t)unzz(get_varint(r)) * g);
}

/* Like put_column, but the zigzag quotients go out as fixed-width byte planes. */
static uint8_t *put_column_planes(uint8_t *p, int64_t *v, size_t n)
{
    uint8_t *start = td_col_put(p, v, n); /* reuse the divisor logic, then rewrite in planes */
    rd_t r = { p, start, false };
    uint64_t g = get_varint(&r);
    uint64_t all = 0;
    for (size_t i = 0; i < n; i++) {
        v[i] = (int64_t)zz(unzz(get_varint(&r))); /* the zigzag quotient itself */
        all |= (uint64_t)v[i];
    }
    int nb = 0;
    while (nb < 8 && (all >> (8 * nb))) nb++;
    p = put_varint(p, g);
    *p++ = (uint8_t)nb;
    for (int b = 0; b < nb; b++)
        for (size_t i = 0; i < n; i++) *p++ = (uint8_t)((uint64_t)v[i] >> (8 * b));
    return p;
}

static void get_column_planes(rd_t *r, int64_t *v, size_t n)
{
    uint64_t g = get_varint(r);
    if (g == 0 || r->p >= r->end) {
        r->bad = true;
        return;
    }
    int nb = *r->p++;
    if (nb > 8 || (size_t)(r->end - r->p) < (size_t)nb * n) {
        r->bad = true;
        return;
    }
    for (size_t i = 0; i < n; i++) v[i] = 0;
    for (int b = 0; b < nb; b++)
        for (size_t i = 0; i < n; i++) v[i] = (int64_t)((uint64_t)v[i] | (uint64_t)*r->p++ << (8 * b));
    for (size_t i = 0; i < n; i++) v[i] = (int64_t)((uint64_t)unzz((uint64_t)v[i]) * g);
}

void td_blk_ensure(void **buf, size_t *cap, size_t need)
{
    if (*cap >= need) return;
    size_t c = *cap ? *cap : 4096;
    while (c < need) c *= 2;
    td_free(*buf);
    *buf = td_malloc(c);
    *cap = c;
}

void td_blk_scratch_free(td_blk_scratch_t *s)
{
    if (!s) return;
    td_free(s->raw);
    td_free(s->out);
    td_free(s->vals);
    td_free(s->vals2);
    td_blk_model_free(s->model);
    ZSTD_freeCCtx(s->zctx);
    ZSTD_freeDCtx(s->dctx);
    memset(s, 0, sizeof *s);
}

static_assert(TD_BLK_MAX_SEGS <= 64, "seg_plain has a bit per segment");

/* ---- header ---- */

static void write_header(uint8_t *b, const td_blk_info_t *h)
{
    memset(b, 0, TD_BLK_HDR);
    put32(b, TD_BLK_MAGIC);
    put32(b + 4, h->len);
    b[12] = h->kind;
    b[13] = h->iv;
    b[14] = h->nexch;
    b[15] = (uint8_t)(h->codec | h->layout << 4);
    put32(b + 16, h->count);
    put32(b + 20, h->raw_len);
    put64(b + 24, (uint64_t)h->min_time);
    put64(b + 32, (uint64_t)h->max_time);
    put64(b + 40, h->max_seq);
    memcpy(b + 48, h->sym, strnlen(h->sym, TD_SYM_NAME_MAX));
}

static uint32_t block_crc(const uint8_t *b, uint32_t len)
{
    static const uint8_t zero[4];
    uint32_t c = td_store_crc(0, b, 8);
    c = td_store_crc(c, zero, 4);
    return td_store_crc(c, b + 12, len - 12);
}

int td_blk_parse_header(const uint8_t *b, size_t len, td_blk_info_t *h)
{
    if (len < TD_BLK_HDR) return TD_EAGAIN;
    if (get32(b) != TD_BLK_MAGIC) return TD_EPROTO;
    memset(h, 0, sizeof *h);
    h->len = get32(b + 4);
    h->kind = b[12];
    h->iv = b[13];
    h->nexch = b[14];
    h->codec = b[15] & 0x0f;
    h->layout = b[15] >> 4;
    h->count = get32(b + 16);
    h->raw_len = get32(b + 20);
    h->min_time = (int64_t)get64(b + 24);
    h->max_time = (int64_t)get64(b + 32);
    h->max_seq = get64(b + 40);
    memcpy(h->sym, b + 48, TD_SYM_NAME_MAX);
    h->sym[TD_SYM_NAME_MAX] = '\0';
    if (b[48 + TD_SYM_NAME_MAX] != 0) return TD_EPROTO;
    size_t fixed = TD_BLK_HDR + (size_t)h->nexch * TD_BLK_EXCH_NAME;
    if (h->kind != TD_BLK_TICKS && h->kind != TD_BLK_CANDLES) return TD_EPROTO;
    if (h->kind == TD_BLK_CANDLES ? h->iv >= TD_IV_COUNT : h->iv != 0) return TD_EPROTO;
    if (h->codec > TD_BLK_ZSTD || h->nexch > TD_BLK_MAX_EXCH) return TD_EPROTO;
    if (h->layout != TD_BLK_LAYOUT1 && !(h->kind == TD_BLK_TICKS && h->layout == TD_BLK_LAYOUT2)) return TD_EPROTO;
    if (h->count == 0 || h->count > TD_BLK_MAX_COUNT || h->raw_len > TD_BLK_MAX_RAW) return TD_EPROTO;
    if (h->len < fixed || h->len > TD_BLK_MAX_LEN || h->min_time > h->max_time) return TD_EPROTO;
    if (h->sym[0] == '\0') return TD_EPROTO;
    if (len < h->len) return TD_EAGAIN;
    return TD_OK;
}

void td_blk_seal(uint8_t *buf, uint32_t len)
{
    if (len >= TD_BLK_HDR) put32(buf + 8, block_crc(buf, len));
}

int td_blk_check(const uint8_t *buf, const td_blk_info_t *info)
{
    return block_crc(buf, info->len) == get32(buf + 8) ? TD_OK : TD_EPROTO;
}

int td_blk_finish(td_blk_scratch_t *s, td_blk_info_t *h, size_t fixed, size_t raw_len, int level)
{
    size_t need = fixed;
    uint32_t prev = 0;
    for (int i = 0; i < s->nseg; i++) {
        size_t seg = s->seg_end[i] - prev;
        need += 20 + (ZSTD_compressBound(seg) > seg ? ZSTD_compressBound(seg) : seg);
        prev = s->seg_end[i];
    }
    if (s->out_cap < need) {
        uint8_t *nb = td_malloc(need * 2);
        memcpy(nb, s->out, fixed);
        td_free(s->out);
        s->out = nb;
        s->out_cap = need * 2;
    }
    if (level > 0 && !s->zctx) {
        s->zctx = ZSTD_createCCtx();
        if (!s->zctx) td_oom_hook(0);
    }
    uint8_t *p = s->out + fixed;
    h->codec = TD_BLK_RAW;
    prev = 0;
    for (int i = 0; i < s->nseg; i++) {
        size_t seg = s->seg_end[i] - prev;
        const uint8_t *src = s->raw + prev;
        prev = s->seg_end[i];
        uint8_t lens[20];
        uint8_t *lp = put_varint(lens, seg);
        size_t stored = seg;
        if (level > 0 && seg >= 64 && !(s->seg_plain >> i & 1)) {
            size_t bound = ZSTD_compressBound(seg);
            uint8_t *dst = p + 20; /* room for the two varints, moved into place below */
            size_t z = ZSTD_compressCCtx(s->zctx, dst, bound, src, seg, level);
            if (!ZSTD_isError(z) && z < seg) {
                stored = z;
                h->codec = TD_BLK_ZSTD;
                lp = put_varint(lp, stored);
                memmove(p + (lp - lens), dst, stored);
                memcpy(p, lens, (size_t)(lp - lens));
                p += (lp - lens) + stored;
                continue;
            }
        }
        lp = put_varint(lp, stored);
        memcpy(p, lens, (size_t)(lp - lens));
        p += lp - lens;
        memcpy(p, src, seg);
        p += seg;
    }
    s->seg_plain = 0;
    h->raw_len = (uint32_t)raw_len;
    h->len = (uint32_t)(p - s->out);
    uint8_t names[TD_BLK_MAX_EXCH * TD_BLK_EXCH_NAME];
    memcpy(names, s->out + TD_BLK_HDR, (size_t)h->nexch * TD_BLK_EXCH_NAME);
    write_header(s->out, h);
    memcpy(s->out + TD_BLK_HDR, names, (size_t)h->nexch * TD_BLK_EXCH_NAME);
    put32(s->out + 8, block_crc(s->out, h->len));
    return (int)h->len;
}

#define SEG() (s->seg_end[s->nseg++] = (uint32_t)(p - s->raw))

/* ---- ticks ---- */

enum { CL_ORDER, CL_TRADE, CL_QUOTE, CL_LEVEL, CL_NBBO, CL_OTHER, CL_COUNT };

static int type_class(uint8_t t)
{
    switch (t) {
    case TD_EV_ORDER_ADD: case TD_EV_ORDER_EXEC: case TD_EV_ORDER_CANCEL: case TD_EV_ORDER_DELETE:
    case TD_EV_ORDER_REPLACE:
        return CL_ORDER;
    case TD_EV_TRADE: return CL_TRADE;
    case TD_EV_QUOTE: return CL_QUOTE;
    case TD_EV_LEVEL_SET: case TD_EV_LEVEL_DEL: return CL_LEVEL;
    case TD_SREC_NBBO: return CL_NBBO;
    default: return CL_OTHER;
    }
}

static uint64_t word(const td_event_t *ev, int k)
{
    uint64_t w[4];
    memcpy(w, &ev->u, sizeof w);
    return w[k];
}

int td_blk_tick_header(td_blk_scratch_t *s, td_blk_info_t *h, const char *sym, const td_blk_tick_t *recs,
                       size_t n, uint8_t map[256])
{
    if (n == 0 || n > TD_BLK_MAX_COUNT || !sym || !sym[0] || strlen(sym) > TD_SYM_NAME_MAX) return TD_EINVAL;
    memset(h, 0, sizeof *h);
    h->kind = TD_BLK_TICKS;
    h->count = (uint32_t)n;
    snprintf(h->sym, sizeof h->sym, "%s", sym);

    /* exchange table: ids (bid exchange and, for NBBO, ask exchange in side) to indexes */
    memset(map, NO_EXCH, 256);
    uint8_t ids[TD_BLK_MAX_EXCH];
    h->min_time = INT64_MAX;
    h->max_time = INT64_MIN;
    for (size_t i = 0; i < n; i++) {
        const td_event_t *ev = &recs[i].ev;
        uint8_t two[2] = { ev->exch, ev->type == TD_SREC_NBBO ? ev->side : 0 };
        for (int j = 0; j < 2; j++) {
            uint8_t id = two[j];
            if (id == 0 || map[id] != NO_EXCH) continue;
            if (strcmp(td_exch_name(id), "?") == 0) continue; /* not interned: stored as no exchange */
            if (h->nexch >= TD_BLK_MAX_EXCH) return TD_ENOBUFS;
            map[id] = h->nexch;
            ids[h->nexch++] = id;
        }
        if (ev->exch_ns < h->min_time) h->min_time = ev->exch_ns;
        if (ev->exch_ns > h->max_time) h->max_time = ev->exch_ns;
        if (recs[i].seq > h->max_seq) h->max_seq = recs[i].seq;
    }
    size_t fixed = TD_BLK_HDR + (size_t)h->nexch * TD_BLK_EXCH_NAME;
    td_blk_ensure((void **)&s->out, &s->out_cap, fixed + 64);
    memset(s->out + TD_BLK_HDR, 0, (size_t)h->nexch * TD_BLK_EXCH_NAME);
    for (int i = 0; i < h->nexch; i++)
        memcpy(s->out + TD_BLK_HDR + (size_t)i * TD_BLK_EXCH_NAME, td_exch_name(ids[i]),
               strnlen(td_exch_name(ids[i]), TD_EXCH_NAME_MAX));
    return (int)fixed;
}

int td_blk_tick_names(const uint8_t *buf, const td_blk_info_t *h, uint32_t *sym, uint8_t ids[256])
{
    bool nosym = strcmp(h->sym, TD_STORE_NOSYM_NAME) == 0;
    *sym = nosym ? 0 : td_sym_intern(h->sym, strlen(h->sym));
    if (!*sym && !nosym) return TD_EPROTO;
    memset(ids, 0, 256);
    for (int i = 0; i < h->nexch; i++) {
        const char *nm = (const char *)buf + TD_BLK_HDR + (size_t)i * TD_BLK_EXCH_NAME;
        size_t nl = strnlen(nm, TD_BLK_EXCH_NAME);
        if (nl == 0 || nl > TD_EXCH_NAME_MAX) return TD_EPROTO;
        ids[i] = td_exch_intern(nm, nl);
        if (!ids[i]) return TD_EPROTO;
    }
    return TD_OK;
}

int td_blk_tick_check_range(const td_blk_info_t *h, const td_blk_tick_t *out, size_t n)
{
    int64_t mn = INT64_MAX, mx = INT64_MIN;
    uint64_t ms = 0;
    for (size_t i = 0; i < n; i++) {
        if (out[i].ev.exch_ns < mn) mn = out[i].ev.exch_ns;
        if (out[i].ev.exch_ns > mx) mx = out[i].ev.exch_ns;
        if (out[i].seq > ms) ms = out[i].seq;
    }
    return mn == h->min_time && mx == h->max_time && ms == h->max_seq ? TD_OK : TD_EPROTO;
}

/* Layout 1 (see the top of this file); layout 2 is in ticks.c. */
int td_blk_encode_ticks_v1(td_blk_scratch_t *s, const char *sym, const td_blk_tick_t *recs, size_t n, int level)
{
    td_blk_info_t h;
    uint8_t map[256];
    int fixed_rc = td_blk_tick_header(s, &h, sym, recs, n, map);
    if (fixed_rc < 0) return fixed_rc;
    size_t fixed = (size_t)fixed_rc;

    td_blk_ensure((void **)&s->raw, &s->raw_cap, n * 96 + 1024);
    td_blk_ensure((void **)&s->vals, &s->vals_cap, n * sizeof(int64_t));
    uint8_t *p = s->raw;
    s->nseg = 0;
    for (size_t i = 0; i < n; i++) *p++ = recs[i].ev.type;
    SEG();
    for (size_t i = 0; i < n; i++) {
        const td_event_t *ev = &recs[i].ev;
        *p++ = ev->type == TD_SREC_NBBO ? map[ev->side] : ev->side;
    }
    SEG();
    for (size_t i = 0; i < n; i++) *p++ = map[recs[i].ev.exch];
    SEG();
    for (size_t i = 0; i < n; i++) *p++ = recs[i].ev.flags;
    SEG();

    int64_t *v = s->vals;
    uint64_t prev_src[256] = { 0 };
    for (size_t i = 0; i < n; i++) {
        uint8_t x = map[recs[i].ev.exch];
        v[i] = (int64_t)(recs[i].ev.src_seq - (prev_src[x] + 1));
        prev_src[x] = recs[i].ev.src_seq;
    }
    p = td_col_put(p, v, n);
    SEG();
    uint64_t prev = (uint64_t)h.min_time;
    for (size_t i = 0; i < n; i++) {
        v[i] = (int64_t)((uint64_t)recs[i].ev.exch_ns - prev);
        prev = (uint64_t)recs[i].ev.exch_ns;
    }
    p = put_column_planes(p, v, n);
    SEG();
    prev = 0;
    for (size_t i = 0; i < n; i++) {
        uint64_t lat = (uint64_t)recs[i].ev.recv_ns - (uint64_t)recs[i].ev.exch_ns;
        v[i] = (int64_t)(lat - prev);
        prev = lat;
    }
    p = td_col_put(p, v, n);
    SEG();
    prev = 0;
    for (size_t i = 0; i < n; i++) {
        v[i] = (int64_t)(recs[i].seq - prev);
        prev = recs[i].seq;
    }
    p = td_col_put(p, v, n);
    SEG();
    for (int k = 0; k < 4; k++) {
        static __thread uint64_t pw[CL_COUNT][TD_BLK_MAX_EXCH + 1];
        uint64_t last_new[TD_BLK_MAX_EXCH + 1] = { 0 }; /* the exchange's last fresh order id */
        memset(pw, 0, sizeof pw);
        for (size_t i = 0; i < n; i++) {
            uint8_t t = recs[i].ev.type;
            int c = type_class(t);
            uint8_t x = map[recs[i].ev.exch];
            if (x == NO_EXCH) x = TD_BLK_MAX_EXCH;
            uint64_t w = word(&recs[i].ev, k);
            if (c == CL_ORDER && k >= 2) {
                /* order ids: a fresh id (ADD's, REPLACE's new one) follows the exchange's last fresh id; a
                 * reference to a resting order is told as its distance back from it */
                if (k == 2) v[i] = (int64_t)(w - last_new[x] - (t == TD_EV_ORDER_ADD));
                else v[i] = t == TD_EV_ORDER_REPLACE ? (int64_t)(w - last_new[x] - 1) : (int64_t)w;
                if (t == TD_EV_ORDER_ADD) last_new[x] = word(&recs[i].ev, 2);
                else if (t == TD_EV_ORDER_REPLACE) last_new[x] = word(&recs[i].ev, 3);
                continue;
            }
            v[i] = (int64_t)(w - pw[c][x]);
            pw[c][x] = w;
        }
        p = td_col_put(p, v, n);
        SEG();
    }
    return td_blk_finish(s, &h, fixed, (size_t)(p - s->raw), level);
}

/* Checks the header and checksum, then leaves the column bytes (decompressed, concatenated) in *r. */
int td_blk_open_payload(td_blk_scratch_t *s, const uint8_t *buf, size_t len, uint8_t kind, td_blk_info_t *h,
                        rd_t *r)
{
    int rc = td_blk_parse_header(buf, len, h);
    if (rc != TD_OK) return TD_EPROTO;
    if (h->kind != kind || td_blk_check(buf, h) != TD_OK) return TD_EPROTO;
    size_t fixed = TD_BLK_HDR + (size_t)h->nexch * TD_BLK_EXCH_NAME;
    rd_t in = { buf + fixed, buf + h->len, false };
    /* TD_BLK_RAW_SLACK zero bytes after the columns: readers may load 8 bytes at once near the end */
    td_blk_ensure((void **)&s->raw, &s->raw_cap, (size_t)h->raw_len + TD_BLK_RAW_SLACK);
    memset(s->raw + h->raw_len, 0, TD_BLK_RAW_SLACK);
    size_t off = 0;
    int nseg = 0;
    while (in.p < in.end) {
        uint64_t raw = get_varint(&in), stored = get_varint(&in);
        if (in.bad || ++nseg > TD_BLK_MAX_SEGS || raw > h->raw_len - off || stored > (uint64_t)(in.end - in.p))
            return TD_EPROTO;
        if (stored == raw) {
            memcpy(s->raw + off, in.p, (size_t)raw);
        } else {
            if (!s->dctx) s->dctx = ZSTD_createDCtx();
            if (!s->dctx) td_oom_hook(0);
            size_t got = ZSTD_decompressDCtx(s->dctx, s->raw + off, (size_t)raw, in.p, (size_t)stored);
            if (ZSTD_isError(got) || got != raw) return TD_EPROTO;
        }
        in.p += stored;
        off += (size_t)raw;
    }
    if (off != h->raw_len) return TD_EPROTO;
    r->p = s->raw;
    r->end = s->raw + off;
    r->bad = false;
    return TD_OK;
}

int td_blk_decode_ticks_v1(td_blk_scratch_t *s, const uint8_t *buf, const td_blk_info_t *hp, rd_t r,
                           td_blk_tick_t *out)
{
    td_blk_info_t h = *hp;
    size_t n = h.count;
    uint32_t sym;
    uint8_t ids[256];
    if (td_blk_tick_names(buf, &h, &sym, ids) != TD_OK) return TD_EPROTO;
    if ((size_t)(r.end - r.p) < 4 * n) return TD_EPROTO;
    memset(out, 0, n * sizeof *out);
    for (size_t i = 0; i < n; i++) out[i].ev.type = *r.p++;
    for (size_t i = 0; i < n; i++) out[i].ev.side = *r.p++;
    for (size_t i = 0; i < n; i++) {
        uint8_t x = *r.p++; /* the raw index stays in ev.exch until src_seq is decoded */
        if (x != NO_EXCH && x >= h.nexch) return TD_EPROTO;
        out[i].ev.exch = x;
        out[i].ev.sym = sym;
    }
    for (size_t i = 0; i < n; i++) {
        out[i].ev.flags = *r.p++;
        if (out[i].ev.type == TD_SREC_NBBO) {
            uint8_t x = out[i].ev.side;
            if (x != NO_EXCH && x >= h.nexch) return TD_EPROTO;
            out[i].ev.side = x == NO_EXCH ? 0 : ids[x];
        }
    }
    td_blk_ensure((void **)&s->vals, &s->vals_cap, n * sizeof(int64_t));
    int64_t *v = s->vals;
    uint64_t prev_src[256] = { 0 };
    td_col_get(&r, v, n);
    if (r.bad) return TD_EPROTO;
    for (size_t i = 0; i < n; i++) {
        uint8_t x = out[i].ev.exch;
        out[i].ev.src_seq = (uint64_t)v[i] + prev_src[x] + 1;
        prev_src[x] = out[i].ev.src_seq;
    }
    get_column_planes(&r, v, n);
    if (r.bad) return TD_EPROTO;
    uint64_t prev = (uint64_t)h.min_time;
    for (size_t i = 0; i < n; i++) {
        prev += (uint64_t)v[i];
        out[i].ev.exch_ns = (int64_t)prev;
    }
    td_col_get(&r, v, n);
    if (r.bad) return TD_EPROTO;
    prev = 0;
    for (size_t i = 0; i < n; i++) {
        prev += (uint64_t)v[i];
        out[i].ev.recv_ns = (int64_t)((uint64_t)out[i].ev.exch_ns + prev);
    }
    td_col_get(&r, v, n);
    if (r.bad) return TD_EPROTO;
    prev = 0;
    for (size_t i = 0; i < n; i++) {
        prev += (uint64_t)v[i];
        out[i].seq = prev;
    }
    td_blk_ensure((void **)&s->vals2, &s->vals2_cap, n * sizeof(int64_t));
    for (int k = 0; k < 4; k++) {
        /* words 2 and 3 of orders are predicted together (see the encoder): word 2 waits in vals2 */
        int64_t *col = k == 2 ? s->vals2 : v;
        td_col_get(&r, col, n);
        if (r.bad) return TD_EPROTO;
        if (k == 2) continue;
        static __thread uint64_t pw[CL_COUNT][TD_BLK_MAX_EXCH + 1], pw2[CL_COUNT][TD_BLK_MAX_EXCH + 1];
        uint64_t last_new[TD_BLK_MAX_EXCH + 1] = { 0 };
        memset(pw, 0, sizeof pw);
        memset(pw2, 0, sizeof pw2);
        for (size_t i = 0; i < n; i++) {
            uint8_t t = out[i].ev.type;
            int c = type_class(t);
            uint8_t x = out[i].ev.exch == NO_EXCH ? TD_BLK_MAX_EXCH : out[i].ev.exch;
            if (k == 3 && c == CL_ORDER) {
                uint64_t w2 = last_new[x] + (uint64_t)s->vals2[i] + (t == TD_EV_ORDER_ADD);
                uint64_t w3 = t == TD_EV_ORDER_REPLACE ? last_new[x] + 1 + (uint64_t)v[i] : (uint64_t)v[i];
                if (t == TD_EV_ORDER_ADD) last_new[x] = w2;
                else if (t == TD_EV_ORDER_REPLACE) last_new[x] = w3;
                memcpy((uint8_t *)&out[i].ev.u + 16, &w2, 8);
                memcpy((uint8_t *)&out[i].ev.u + 24, &w3, 8);
                continue;
            }
            if (k == 3) { /* word 2 of the other classes, then word 3 */
                uint64_t w2 = pw2[c][x] + (uint64_t)s->vals2[i];
                pw2[c][x] = w2;
                memcpy((uint8_t *)&out[i].ev.u + 16, &w2, 8);
            }
            uint64_t w = pw[c][x] + (uint64_t)v[i];
            pw[c][x] = w;
            memcpy((uint8_t *)&out[i].ev.u + 8 * k, &w, 8);
        }
    }
    for (size_t i = 0; i < n; i++) {
        uint8_t x = out[i].ev.exch;
        out[i].ev.exch = x == NO_EXCH ? 0 : ids[x];
    }
    if (r.p != r.end) return TD_EPROTO;
    if (td_blk_tick_check_range(&h, out, n) != TD_OK) return TD_EPROTO;
    return (int)n;
}

/* ---- candles ---- */

int td_blk_encode_candles(td_blk_scratch_t *s, const char *sym, td_interval_t iv, const td_blk_candle_t *recs,
                          size_t n, int level)
{
    if (n == 0 || n > TD_BLK_MAX_COUNT || !sym || !sym[0] || strlen(sym) > TD_SYM_NAME_MAX ||
        (unsigned)iv >= TD_IV_COUNT)
        return TD_EINVAL;
    td_blk_info_t h;
    memset(&h, 0, sizeof h);
    h.kind = TD_BLK_CANDLES;
    h.iv = (uint8_t)iv;
    h.count = (uint32_t)n;
    snprintf(h.sym, sizeof h.sym, "%s", sym);
    h.min_time = INT64_MAX;
    h.max_time = INT64_MIN;
    for (size_t i = 0; i < n; i++) {
        if (recs[i].c.time < h.min_time) h.min_time = recs[i].c.time;
        if (recs[i].c.time > h.max_time) h.max_time = recs[i].c.time;
        if (recs[i].seq > h.max_seq) h.max_seq = recs[i].seq;
    }
    size_t fixed = TD_BLK_HDR;
    td_blk_ensure((void **)&s->out, &s->out_cap, fixed + 64);
    td_blk_ensure((void **)&s->raw, &s->raw_cap, n * 96 + 1024);
    td_blk_ensure((void **)&s->vals, &s->vals_cap, n * sizeof(int64_t));
    uint8_t *p = s->raw;
    int64_t *v = s->vals;
    s->nseg = 0;
    uint64_t prev = (uint64_t)h.min_time;
    for (size_t i = 0; i < n; i++) {
        v[i] = (int64_t)((uint64_t)recs[i].c.time - prev);
        prev = (uint64_t)recs[i].c.time;
    }
    p = td_col_put(p, v, n);
    SEG();
    prev = 0;
    for (size_t i = 0; i < n; i++) {
        v[i] = (int64_t)((uint64_t)recs[i].c.open - prev);
        prev = (uint64_t)recs[i].c.open;
    }
    p = td_col_put(p, v, n);
    SEG();
    for (size_t i = 0; i < n; i++) v[i] = (int64_t)((uint64_t)recs[i].c.high - (uint64_t)recs[i].c.open);
    p = td_col_put(p, v, n);
    SEG();
    for (size_t i = 0; i < n; i++) v[i] = (int64_t)((uint64_t)recs[i].c.open - (uint64_t)recs[i].c.low);
    p = td_col_put(p, v, n);
    SEG();
    for (size_t i = 0; i < n; i++) v[i] = (int64_t)((uint64_t)recs[i].c.close - (uint64_t)recs[i].c.open);
    p = td_col_put(p, v, n);
    SEG();
    for (size_t i = 0; i < n; i++) v[i] = (int64_t)(uint64_t)(unsigned __int128)recs[i].c.volume;
    p = td_col_put(p, v, n);
    SEG();
    for (size_t i = 0; i < n; i++) v[i] = (int64_t)(uint64_t)((unsigned __int128)recs[i].c.volume >> 64);
    p = td_col_put(p, v, n);
    SEG();
    for (size_t i = 0; i < n; i++) v[i] = (int64_t)recs[i].c.trade_count;
    p = td_col_put(p, v, n);
    SEG();
    prev = 0;
    for (size_t i = 0; i < n; i++) {
        v[i] = (int64_t)(recs[i].seq - prev);
        prev = recs[i].seq;
    }
    p = td_col_put(p, v, n);
    SEG();
    return td_blk_finish(s, &h, fixed, (size_t)(p - s->raw), level);
}

int td_blk_decode_candles(td_blk_scratch_t *s, const uint8_t *buf, size_t len, td_blk_candle_t *out, size_t max)
{
    td_blk_info_t h;
    rd_t r;
    if (td_blk_open_payload(s, buf, len, TD_BLK_CANDLES, &h, &r) != TD_OK) return TD_EPROTO;
    size_t n = h.count;
    if (n > max) return TD_ENOBUFS;
    td_blk_ensure((void **)&s->vals, &s->vals_cap, n * sizeof(int64_t));
    int64_t *v = s->vals;
    memset(out, 0, n * sizeof *out);
    td_col_get(&r, v, n);
    uint64_t prev = (uint64_t)h.min_time;
    for (size_t i = 0; i < n && !r.bad; i++) {
        prev += (uint64_t)v[i];
        out[i].c.time = (int64_t)prev;
    }
    td_col_get(&r, v, n);
    prev = 0;
    for (size_t i = 0; i < n && !r.bad; i++) {
        out[i].c.open = (int64_t)(prev + (uint64_t)v[i]);
        prev = (uint64_t)out[i].c.open;
    }
    td_col_get(&r, v, n);
    for (size_t i = 0; i < n && !r.bad; i++) out[i].c.high = (int64_t)((uint64_t)out[i].c.open + (uint64_t)v[i]);
    td_col_get(&r, v, n);
    for (size_t i = 0; i < n && !r.bad; i++) out[i].c.low = (int64_t)((uint64_t)out[i].c.open - (uint64_t)v[i]);
    td_col_get(&r, v, n);
    for (size_t i = 0; i < n && !r.bad; i++) out[i].c.close = (int64_t)((uint64_t)out[i].c.open + (uint64_t)v[i]);
    td_col_get(&r, v, n);
    for (size_t i = 0; i < n && !r.bad; i++) out[i].c.volume = (td_vol_t)(uint64_t)v[i];
    td_col_get(&r, v, n);
    for (size_t i = 0; i < n && !r.bad; i++)
        out[i].c.volume = (td_vol_t)(((unsigned __int128)(uint64_t)v[i] << 64) | (uint64_t)out[i].c.volume);
    td_col_get(&r, v, n);
    for (size_t i = 0; i < n && !r.bad; i++) out[i].c.trade_count = (uint64_t)v[i];
    td_col_get(&r, v, n);
    prev = 0;
    for (size_t i = 0; i < n && !r.bad; i++) {
        prev += (uint64_t)v[i];
        out[i].seq = prev;
    }
    if (r.bad || r.p != r.end) return TD_EPROTO;
    int64_t mn = INT64_MAX, mx = INT64_MIN;
    uint64_t ms = 0;
    for (size_t i = 0; i < n; i++) {
        if (out[i].c.time < mn) mn = out[i].c.time;
        if (out[i].c.time > mx) mx = out[i].c.time;
        if (out[i].seq > ms) ms = out[i].seq;
    }
    if (mn != h.min_time || mx != h.max_time || ms != h.max_seq) return TD_EPROTO;
    return (int)n;
}

/* ---- index entries ---- */

void td_idx_encode(const td_idx_entry_t *e, uint8_t out[TD_IDX_ENTRY])
{
    memset(out, 0, TD_IDX_ENTRY);
    put32(out + 4, e->info.len);
    put64(out + 8, e->offset);
    put64(out + 16, (uint64_t)e->info.min_time);
    put64(out + 24, (uint64_t)e->info.max_time);
    put32(out + 32, e->info.count);
    out[36] = e->info.kind;
    out[37] = e->info.iv;
    out[38] = (uint8_t)(e->info.codec | e->info.layout << 4);
    out[39] = e->info.nexch;
    put64(out + 40, e->info.max_seq);
    memcpy(out + 48, e->info.sym, strnlen(e->info.sym, TD_SYM_NAME_MAX));
    put32(out, td_store_crc(0, out + 4, TD_IDX_ENTRY - 4));
}

int td_idx_decode(const uint8_t in[TD_IDX_ENTRY], td_idx_entry_t *e)
{
    if (get32(in) != td_store_crc(0, in + 4, TD_IDX_ENTRY - 4)) return TD_EPROTO;
    memset(e, 0, sizeof *e);
    e->info.len = get32(in + 4);
    e->offset = get64(in + 8);
    e->info.min_time = (int64_t)get64(in + 16);
    e->info.max_time = (int64_t)get64(in + 24);
    e->info.count = get32(in + 32);
    e->info.kind = in[36];
    e->info.iv = in[37];
    e->info.codec = in[38] & 0x0f;
    e->info.layout = in[38] >> 4;
    e->info.nexch = in[39];
    e->info.max_seq = get64(in + 40);
    memcpy(e->info.sym, in + 48, TD_SYM_NAME_MAX);
    e->info.sym[TD_SYM_NAME_MAX] = '\0';
    if (in[48 + TD_SYM_NAME_MAX] != 0 || e->info.len < TD_BLK_HDR || e->info.len > TD_BLK_MAX_LEN) return TD_EPROTO;
    return TD_OK;
}

/* ---- calendar (civil-from-days, Howard Hinnant's algorithm) ---- */

int64_t td_store_day_of_ns(int64_t ns)
{
    int64_t s = ns / 1000000000LL - (ns % 1000000000LL < 0);
    return s / 86400 - (s % 86400 < 0);
}

void td_store_day_name(int64_t z, char out[16])
{
    z += 719468;
    int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    int64_t doe = z - era * 146097;
    int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t y = yoe + era * 400;
    int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    int64_t mp = (5 * doy + 2) / 153;
    int64_t d = doy - (153 * mp + 2) / 5 + 1;
    int64_t m = mp < 10 ? mp + 3 : mp - 9;
    y += m <= 2;
    if (y < 0 || y > 9999) y = y < 0 ? 0 : 9999;
    snprintf(out, 16, "%04d-%02d-%02d", (int)y, (int)m, (int)d);
}

int td_store_day_parse(const char *s, int64_t *day)
{
    int y, m = 1, d = 1;
    char tail;
    if (sscanf(s, "%4d-%2d-%2d%c", &y, &m, &d, &tail) == 3 || sscanf(s, "%4d%c", &y, &tail) == 1) {
        if (m < 1 || m > 12 || d < 1 || d > 31) return TD_EINVAL;
        *day = td_days_from_civil(y, m, d);
        return TD_OK;
    }
    return TD_EINVAL;
}
