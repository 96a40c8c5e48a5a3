/*
 * store_internal.h: the block codec and partition files shared inside src/store (not a public API).
 *
 * A block is self-describing: header (symbol name, exchange-name table, time range, counts, checksum)
 * then column payload, raw or zstd. Decoding never trusts a byte: every length is bounded, the checksum is
 * checked first, and the decoded content is re-checked against the header (count, time range).
 * Any thread (pure functions over caller buffers).
 */
#ifndef TD_STORE_INTERNAL_H
#define TD_STORE_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "bar/candle.h"
#include "core/event.h"
#include "core/symbols.h"

#define TD_BLK_MAGIC     0x31424454u /* "TDB1" little-endian */
#define TD_BLK_HDR       80u         /* fixed part of the header */
#define TD_BLK_EXCH_NAME 16u         /* bytes per exchange name in the header table */
#define TD_BLK_MAX_EXCH  64u
#define TD_BLK_MAX_COUNT 65536u      /* records per block at most */
#define TD_BLK_MAX_RAW   (TD_BLK_MAX_COUNT * 96u) /* decoded payload cap */
#define TD_BLK_MAX_LEN   (TD_BLK_HDR + TD_BLK_MAX_EXCH * TD_BLK_EXCH_NAME + TD_BLK_MAX_RAW + 4096u)

/* Events with sym 0 (exchange-wide GAP/RESYNC) are stored under this name and read back as sym 0. */
#define TD_STORE_NOSYM_NAME "_EXCH"

#define TD_BLK_MAX_SEGS 48 /* columns per block, each compressed on its own (seg_plain has a bit each) */

#define TD_BLK_TICKS   1
#define TD_BLK_CANDLES 2

#define TD_BLK_RAW  0
#define TD_BLK_ZSTD 1

/* Column layouts of tick blocks (the high nibble of the header's codec byte): 1 = the first one (kept for
 * reading older stores: block.c), 2 = with the order model (ticks.c), written since. Candle blocks: 1. */
#define TD_BLK_LAYOUT1 0
#define TD_BLK_LAYOUT2 2

/* Index entry on disk (.tdi), one per block, after the block is written. */
#define TD_IDX_ENTRY 80u

typedef struct td_blk_info {
    uint32_t len;        /* whole block bytes */
    uint8_t kind;        /* TD_BLK_TICKS / TD_BLK_CANDLES */
    uint8_t iv;          /* candles: td_interval_t */
    uint8_t codec;       /* TD_BLK_RAW / TD_BLK_ZSTD (whether any column is compressed) */
    uint8_t layout;      /* TD_BLK_LAYOUT1 / TD_BLK_LAYOUT2 */
    uint8_t nexch;
    uint32_t count;
    uint32_t raw_len;
    int64_t min_time, max_time; /* ticks: exch_ns; candles: window start seconds */
    uint64_t max_seq;
    char sym[TD_SYM_NAME_MAX + 1];
} td_blk_info_t;

typedef struct td_idx_entry {
    uint64_t offset;
    td_blk_info_t info;
} td_idx_entry_t;

/* Tick records as the codec sees them. */
typedef struct td_blk_tick {
    td_event_t ev;
    uint64_t seq;
} td_blk_tick_t;

typedef struct td_blk_candle {
    td_candle_t c;
    uint64_t seq;
} td_blk_candle_t;

/* Scratch buffers reused across calls (one per thread). */
typedef struct td_blk_scratch {
    uint8_t *raw;      /* column bytes */
    size_t raw_cap;
    uint8_t *out;      /* encoded block */
    size_t out_cap;
    void *zctx, *dctx; /* ZSTD_CCtx / ZSTD_DCtx */
    int64_t *vals;     /* one column of values */
    size_t vals_cap;
    int64_t *vals2;    /* a second column (decoding order ids) */
    size_t vals2_cap;
    uint32_t seg_end[TD_BLK_MAX_SEGS]; /* encoder: end offset of each column in raw */
    uint64_t seg_plain;                /* encoder: columns (bit i) stored without zstd (random bits) */
    int nseg;
    void *model;       /* layout 2: the order table and column arrays (ticks.c) */
} td_blk_scratch_t;

void td_blk_scratch_free(td_blk_scratch_t *s);

/* Encodes n tick records (all of one symbol, n <= TD_BLK_MAX_COUNT) into scratch->out (layout 2); returns
 * the block length or a negative TD_E* (TD_ENOBUFS: more than TD_BLK_MAX_EXCH exchanges). zstd_level 0 =
 * raw. td_blk_encode_ticks_v1 writes layout 1 (only tests and fuzzing need it: the reader of old stores). */
int td_blk_encode_ticks(td_blk_scratch_t *s, const char *sym, const td_blk_tick_t *recs, size_t n,
                        int zstd_level);
int td_blk_encode_ticks_v1(td_blk_scratch_t *s, const char *sym, const td_blk_tick_t *recs, size_t n,
                           int zstd_level);
int td_blk_encode_candles(td_blk_scratch_t *s, const char *sym, td_interval_t iv, const td_blk_candle_t *recs,
                          size_t n, int zstd_level);

/* Parses and checks a block header from buf[0..len) (len may exceed the block). Returns TD_OK with *info,
 * TD_EAGAIN if len is too short for the header or the whole block, TD_EPROTO for a bad header. Does not
 * check the checksum. */
int td_blk_parse_header(const uint8_t *buf, size_t len, td_blk_info_t *info);
/* Recomputes and stores the checksum of the whole block buf[0..len) (len >= TD_BLK_HDR): for tools and
 * fuzzing, which need blocks that pass the checksum to reach the decoder. */
void td_blk_seal(uint8_t *buf, uint32_t len);
/* Verifies the checksum of a whole block buf[0..info->len). TD_OK or TD_EPROTO. */
int td_blk_check(const uint8_t *buf, const td_blk_info_t *info);
/* Checks and decodes a whole block into out (capacity max records). Symbols/exchanges are interned. Returns
 * the record count or TD_EPROTO (bad block) / TD_ENOBUFS (max too small). */
int td_blk_decode_ticks(td_blk_scratch_t *s, const uint8_t *buf, size_t len, td_blk_tick_t *out, size_t max);
int td_blk_decode_candles(td_blk_scratch_t *s, const uint8_t *buf, size_t len, td_blk_candle_t *out,
                          size_t max);

/* Index entries: 80 bytes with their own checksum. */
void td_idx_encode(const td_idx_entry_t *e, uint8_t out[TD_IDX_ENTRY]);
int td_idx_decode(const uint8_t in[TD_IDX_ENTRY], td_idx_entry_t *e); /* TD_OK or TD_EPROTO */

uint32_t td_store_crc(uint32_t crc, const void *p, size_t n);

/* ---- layout (store_layout.c) ---- */
#define TD_STATE_REC 656u
#define TD_STATE_MAGIC 0x31534454u /* "TDS1" */

int64_t td_store_clamp_day(int64_t day);      /* to years 0000..9999, what a file name can say */
int64_t td_store_part_day(int64_t ns);        /* the tick partition (day) of an exchange time */
int64_t td_store_candle_key(td_interval_t iv, int64_t time_s); /* day, or first day of the year for 1d/1w */
void td_store_kind_dir(const char *root, int kind, int iv, char *out, size_t len);
void td_store_part_paths(const char *root, int kind, int iv, int64_t key, char *data, char *idx);
int td_store_mkdirs(const char *path);
void td_store_fsync_dir(const char *path);
/* Partition keys present in a kind directory, ascending; *out is td_malloc'd. */
size_t td_store_list_keys(const char *dir, int kind, int iv, int64_t **out);

/* State records (state.tds): a symbol's engine snapshot with a 48-bit generation, crc32-checked. */
struct td_sym_snap;
void td_store_state_encode(const char *name, const struct td_sym_snap *sn, uint64_t gen, uint8_t out[TD_STATE_REC]);
uint64_t td_store_state_gen(const uint8_t in[TD_STATE_REC]);
bool td_store_state_decode(const uint8_t in[TD_STATE_REC], char name[TD_SYM_NAME_MAX + 1], struct td_sym_snap *sn);
/* Reads the state log at path: fn(ctx, offset, record, name) for every used slot, name NULL when the record is
 * damaged; *torn gets the bytes of a partial record at the end. TD_OK, -ENOENT (no log) or another -errno. */
int td_store_state_scan(const char *path, void (*fn)(void *ctx, uint64_t off, const uint8_t *rec, const char *name),
                        void *ctx, uint64_t *torn);

/* UTC calendar: days since the epoch <-> "YYYY-MM-DD". */
int64_t td_store_day_of_ns(int64_t ns);
void td_store_day_name(int64_t day, char out[16]);
int td_store_day_parse(const char *s, int64_t *day); /* "YYYY-MM-DD" or "YYYY" (first day of the year) */

#endif
