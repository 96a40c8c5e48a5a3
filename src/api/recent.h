/*
 * recent.h: bounded in-memory history per symbol (recent trades and recently closed candles of every
 * interval), for REST /ticks and /candles: the part the store (src/store) has not made readable yet, and
 * everything when tickd runs without a store.
 *
 * One writer (the engine thread, through the out-record callback), lock-free readers on any I/O thread.
 * Each ring is a fixed array of slots plus two counters: `intent` (raised before a slot is overwritten)
 * and `pos` (raised after it was written). A reader copies slots below `pos`, then rereads `intent`:
 * a slot whose index + capacity is below the new intent may have been overwritten during the copy and is
 * discarded, so a reader never returns a torn record. Slot words are copied with relaxed atomics (clean
 * under ThreadSanitizer).
 *
 * Bounds (full policy: overwrite the oldest): TD_RECENT_TICKS trades per symbol, TD_RECENT_CANDLES closed
 * candles per (symbol, interval). Rings are allocated on first use, so quiet symbols and intervals nobody
 * trades cost nothing; memory is at most symbols x (ticks ring + 8 candle rings).
 *
 * Threading: td_recent_add_* from one writer thread; td_recent_*() readers from any thread.
 */
#ifndef TD_API_RECENT_H
#define TD_API_RECENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "bar/candle.h"
#include "engine/engine.h"

#define TD_RECENT_TICKS 4096
#define TD_RECENT_CANDLES 720

typedef struct td_recent_tick {
    int64_t exch_ns, recv_ns, price, qty;
    uint64_t seq, trade_id;
    uint8_t exch, side, pad[6];
} td_recent_tick_t;

typedef struct td_recent td_recent_t;

td_recent_t *td_recent_create(void);
void td_recent_destroy(td_recent_t *r);

/* Writer: a TRADE or CANDLE out record (others are ignored). */
void td_recent_add(td_recent_t *r, const td_out_t *o);

/* Trades with from_ns <= exch_ns <= to_ns, oldest (lowest seq) first, at most max (the oldest max when more
 * match). *complete is false when the ring no longer holds everything since from_ns. (Late trades make
 * exch_ns not quite sorted: every held trade in the range is returned, in seq order.) */
size_t td_recent_ticks(const td_recent_t *r, uint32_t sym, int64_t from_ns, int64_t to_ns, td_recent_tick_t *out,
                       size_t max, bool *complete);
/* The same, only trades with seq > after_seq, and *holds_after (may be NULL): whether this snapshot holds
 * every trade with seq > after_seq the ring was ever given for sym, i.e. nothing was overwritten, or the
 * oldest trade still held has seq <= after_seq. It is what joins the ring to the store without a hole
 * (api/ticks.c): with W the store's visible seq, store records seq <= W + ring trades seq > W. */
size_t td_recent_ticks_after(const td_recent_t *r, uint32_t sym, uint64_t after_seq, int64_t from_ns, int64_t to_ns,
                             td_recent_tick_t *out, size_t max, bool *complete, bool *holds_after);
/* Closed candles with from_s <= time <= to_s, oldest first, at most max (the oldest max when more match:
 * like a paginated query). *complete is false when older candles inside the range were evicted.
 * *last_closed_end_s gets the end of the newest closed candle held (0 if none). */
size_t td_recent_candles(const td_recent_t *r, uint32_t sym, td_interval_t iv, int64_t from_s, int64_t to_s,
                         td_candle_t *out, size_t max, bool *complete, int64_t *last_closed_end_s);

#endif
