/*
 * lobster.h: the LOBSTER file feed (NASDAQ TotalView-ITCH reconstructions from lobsterdata.com).
 *
 * Three layers, each usable alone:
 *   1. Line parsers for the two CSV files (no allocation, no copies, picohttpparser's contract): a message
 *      row "time,type,order_id,size,price,direction" and an orderbook row of 4*N columns
 *      "ask_px,ask_sz,bid_px,bid_sz" per level. They return the bytes consumed through the newline,
 *      TD_EAGAIN when buf holds no complete line yet, TD_EPROTO for a malformed line (the caller skips to
 *      the next newline and counts it). Values stay in LOBSTER's own units (price = dollars * 10000,
 *      sizes in shares, time in ns after midnight ET) so the verifier can compare rows exactly.
 *   2. td_lobster_to_event(): one parsed message to one td_event_t (decimal.h units, exch_ns in UTC).
 *   3. td_lobster_open(): a td_source_t over "MESSAGE.csv[,ORDERBOOK.csv]" (mmap). With the orderbook
 *      file the source first emits a snapshot of the book as it stood BEFORE message 1 (see lobster.c),
 *      so cancels and executions of orders resting before the file starts have something to act on,
 *      and (reconcile mode, the default) after each message the corrections that keep the consumer's
 *      book equal to the file's top N despite what a level-N message file leaves out.
 *
 * td_lobster_verify() (lobster_verify.c) replays a message file into a td_obook_t and checks the top-N
 * levels after every message against the orderbook file; tickctl lobster-verify is a thin wrapper.
 *
 * Invariants: parsed times are exact (the decimal string is read digit by digit, never via a double);
 * real order ids are < 2^63, so the synthetic ids this module invents for seeded liquidity
 * (TD_LOBSTER_SYNTH_ID_BASE + k) never collide with them.
 *
 * Threading: the parsers and converters are pure and reentrant. A source is used by one thread at a time
 * (its runner); its stats are atomics readable from anywhere.
 */
#ifndef TD_FEED_LOBSTER_H
#define TD_FEED_LOBSTER_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "core/event.h"
#include "feed/source.h"

#define TD_LOBSTER_MAX_LEVELS   256      /* orderbook columns accepted: 4 * this (LOBSTER sells up to 200) */
#define TD_LOBSTER_MAX_MSG_LINE 256      /* a message row longer than this is malformed */
#define TD_LOBSTER_EMPTY_ASK    9999999999LL   /* LOBSTER's empty-level sentinels (size 0) */
#define TD_LOBSTER_EMPTY_BID    (-9999999999LL)
#define TD_LOBSTER_MAX_ORDER_ID ((uint64_t)INT64_MAX)              /* real ids: 0 .. 2^63-1 */
#define TD_LOBSTER_SYNTH_ID_BASE ((uint64_t)1 << 63)               /* synthetic ids: 2^63 + k */
#define TD_LOBSTER_EXCHANGE     "NASDAQ"

enum td_lobster_type {
    TD_LOBSTER_ADD = 1,       /* new limit order */
    TD_LOBSTER_CANCEL = 2,    /* partial cancellation: size removed */
    TD_LOBSTER_DELETE = 3,    /* full deletion: size removed (the rest of the order) */
    TD_LOBSTER_EXEC = 4,      /* execution of a visible order */
    TD_LOBSTER_HIDDEN = 5,    /* execution of a hidden order (order_id 0, book unchanged) */
    TD_LOBSTER_CROSS = 6,     /* cross trade (auction) */
    TD_LOBSTER_HALT = 7,      /* trading status: price -1 halt, 0 quote resume, 1 trading resume */
};

typedef struct td_lobster_msg {
    int64_t time_ns;     /* ns after midnight ET, exact */
    uint64_t order_id;   /* <= TD_LOBSTER_MAX_ORDER_ID */
    int64_t size;        /* shares (> 0 for types 1..6) */
    int64_t price;       /* dollars * 10000 (> 0 for types 1..6; -1, 0 or 1 for type 7) */
    int8_t type;         /* enum td_lobster_type, 1..7 */
    int8_t direction;    /* 1 buy (bid side), -1 sell (ask side) */
} td_lobster_msg_t;

typedef struct td_lobster_level {
    int64_t price;       /* dollars * 10000 */
    int64_t size;        /* shares, > 0 */
} td_lobster_level_t;

/* One orderbook row: the first nask / nbid entries are real levels, best first; the sentinel (empty)
 * levels of the file are not stored. nlevels is the file's N (columns / 4). */
typedef struct td_lobster_row {
    uint32_t nlevels;
    uint32_t nask, nbid;
    td_lobster_level_t ask[TD_LOBSTER_MAX_LEVELS];
    td_lobster_level_t bid[TD_LOBSTER_MAX_LEVELS];
} td_lobster_row_t;

/* Parses one message row from buf[0..len). Rejects (TD_EPROTO): wrong column count, empty or non-numeric
 * fields, more than 18 decimals in the time, overflow, type outside 1..7, direction not +-1, an order id
 * >= 2^63, size <= 0 or price <= 0 for types 1..6, a type-7 price outside {-1, 0, 1} or size < 0, a
 * line longer than TD_LOBSTER_MAX_MSG_LINE. "\r\n" endings are accepted. On error *out is unspecified. */
int td_lobster_parse_msg(const char *buf, size_t len, td_lobster_msg_t *out);

/* Parses one orderbook row. TD_EPROTO also for: a column count that is not a positive multiple of 4 or
 * exceeds 4 * max_levels (max_levels <= TD_LOBSTER_MAX_LEVELS), a sentinel with a non-zero size, a real
 * level with price <= 0 or size <= 0, a real level after an empty one, asks not strictly increasing or
 * bids not strictly decreasing. */
int td_lobster_parse_row(const char *buf, size_t len, size_t max_levels, td_lobster_row_t *out);

/* Seconds-after-midnight string (1..9 digits, optional '.' and 1..18 digits) to ns, exactly for up to 9
 * decimals; further digits (float noise in some LOBSTER rows) are rounded half up. TD_EPROTO otherwise. */
int td_lobster_parse_time(const char *s, size_t len, int64_t *ns);

/* ---- time ---- */

/* (td_days_from_civil: core/clock.h) */
/* 1 if US Eastern daylight time is in force at local wall time (y-m-d, local_sec after local midnight),
 * 0 if standard time. US rule: since 2007 from the second Sunday of March to the first Sunday of November;
 * 1987-2006 from the first Sunday of April to the last Sunday of October; switches at 02:00 local
 * (standard time before 1987: those years predate every LOBSTER file). In the repeated hour of November
 * the earlier (daylight) reading is chosen. */
int td_us_eastern_is_dst(int y, int m, int d, int local_sec);
/* UTC ns of local midnight US/Eastern on y-m-d (midnight is before 02:00, so it uses that day's rule). */
int64_t td_us_eastern_midnight_utc_ns(int y, int m, int d);

/* ---- mapping ---- */

typedef struct td_lobster_ctx {
    uint32_t sym;        /* interned symbol id */
    uint8_t exch;        /* interned exchange id (NASDAQ) */
    int64_t day_utc_ns;  /* UTC ns of midnight US/Eastern of the trading date */
} td_lobster_ctx_t;

/* Splits a LOBSTER file name ("[dir/]TICKER_YYYY-MM-DD_...") into ticker and date. TD_OK or TD_EINVAL. */
int td_lobster_name_info(const char *path, char *ticker, size_t ticker_len, int *y, int *m, int *d);

/* Fills ev from msg; src_seq = row (1-based line number). Mapping: 1 ORDER_ADD; 2 ORDER_CANCEL (u.order.qty
 * = size removed); 3 ORDER_DELETE (qty = size removed); 4 ORDER_EXEC at the order's own price (side = the
 * resting order's side; the aggressor is the other side); 5 TRADE + TD_EVF_HIDDEN, side = aggressor (the
 * opposite of the hidden order's direction), book untouched; 6 TRADE + TD_EVF_CROSS, side NONE; 7 STATUS
 * (-1 HALTED, 0 QUOTATION, 1 TRADING; reason "H", "Q" or "T"). TD_OK or TD_ERANGE (decimal overflow). */
int td_lobster_to_event(const td_lobster_msg_t *msg, const td_lobster_ctx_t *ctx, uint64_t row,
                        td_event_t *ev);

/* ---- source ---- */

/* args: "MESSAGE.csv[,ORDERBOOK.csv][,symbol=XYZ][,date=YYYY-MM-DD][,reconcile=0|1]". Symbol and date
 * default to the message file's name (paths cannot contain ','). With ORDERBOOK.csv the stream starts
 * with the pre-message-1 snapshot (TD_EV_BOOK_CLEAR, TD_EVF_SNAPSHOT adds, TD_EV_RESYNC, src_seq 0) and,
 * unless reconcile=0, every message i is followed by the corrective events (src_seq i, synthetic ids for
 * added liquidity) that make an order book fed this stream equal row i on the prices row i covers; see
 * lobster.c. On error returns NULL with a reason in err. */
td_source_t *td_lobster_open(const char *args, char *err, size_t errlen);

/* ---- verification ---- */

typedef struct td_lobster_verify_stats {
    uint64_t rows;              /* lines in the orderbook file */
    uint64_t messages;          /* message rows */
    uint64_t matched;           /* rows whose top-N equalled ours after the message */
    uint64_t bad_lines;         /* malformed message or orderbook lines (a failure) */
    uint64_t seeded_levels;     /* levels of the pre-message-1 snapshot (learned from row 1) */
    uint64_t seeded_orders;     /* message 1's own order, seeded under its real id */
    uint64_t exposed_levels;    /* levels that entered the top-N window from the unobserved region */
    uint64_t learned_levels;    /* ... of which our quantity differed and was learned from the file */
    uint64_t stale_levels;      /* our levels in the newly exposed region that the file shows empty */
    int64_t  learned_qty;       /* sum of |quantity| learned at exposures */
    uint64_t unknown_reductions;/* cancels/deletes/executions of order ids we never saw added */
    uint64_t size_mismatches;   /* reductions of known orders whose size or price disagreed with ours
                                   (e.g. a delete of 200 of an order we hold with 400: 200 was cancelled
                                   while its level was outside the window, a message LOBSTER omits) */
    uint64_t dup_adds;          /* adds of an order id that was already live */
    uint64_t zombie_orders;     /* orders removed because their level was shown empty (see adjust()) */
    uint64_t type_count[8];     /* message rows by LOBSTER type (index 1..7) */
    /* first mismatch (mismatch_row == 0: none) */
    uint64_t mismatch_row;
    char mismatch[2048];        /* multi-line human description of the first failure */
} td_lobster_verify_stats_t;

/* Replays msg_path through td_lobster_open(msg,book) into a td_obook_t and checks every row of book_path
 * (see lobster_verify.c for exactly what is derived from messages and what is learned from the file).
 * Returns TD_OK when every row matched, TD_EPROTO on the first mismatch (details in st), or another
 * TD_E* when a file cannot be read (reason in st->mismatch). If progress is non-NULL a line per
 * 100k rows goes there. */
int td_lobster_verify(const char *msg_path, const char *book_path, td_lobster_verify_stats_t *st,
                      FILE *progress);

#endif
