/*
 * candle.h: OHLCV candles for one symbol at every interval (1s 10s 1m 5m 15m 1h 1d 1w).
 *
 * Windows are aligned to UTC: [k*len, (k+1)*len) in seconds since the epoch, except weeks, which start on
 * Monday 00:00 UTC (ISO weeks). A candle exists only for a window with at least one trade.
 *
 * Closing: a candle closes when a trade or td_candles_advance() moves the symbol's clock to or past the
 * window's end; each closed candle is emitted exactly once through the callback, in time order per
 * interval, and the open candle is readable at any time (td_candles_current).
 *
 * Late trades (exchange time earlier than the symbol's clock, the watermark): the trade's effective time is
 * the watermark, so it lands in the currently open candle of every interval and never reopens or amends a
 * closed candle (closed candles are immutable: API.md serves them as cacheable forever). Late trades are
 * counted in `late_trades`. Because every interval sees the same effective times, a 5m candle always equals
 * the aggregate of its 1m candles, and likewise for every coarser/finer pair.
 *
 * Engine thread only.
 */
#ifndef TD_CANDLE_H
#define TD_CANDLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/decimal.h"

typedef enum td_interval {
    TD_IV_1S = 0, TD_IV_10S, TD_IV_1M, TD_IV_5M, TD_IV_15M, TD_IV_1H, TD_IV_1D, TD_IV_1W, TD_IV_COUNT
} td_interval_t;

typedef struct td_candle {
    int64_t time;      /* window start, seconds since the epoch */
    int64_t open, high, low, close;
    td_vol_t volume;   /* sum of trade quantities, scaled like quantities */
    uint64_t trade_count;
} td_candle_t;

/* Called for each candle that closes. */
typedef void (*td_candle_emit_fn)(void *ctx, td_interval_t iv, const td_candle_t *c);

typedef struct td_candles {
    td_candle_t cur[TD_IV_COUNT];
    uint8_t open_mask;      /* bit iv set: cur[iv] holds an open candle */
    int64_t watermark_ns;   /* the symbol's clock: max of trade times and advance() times */
    uint64_t late_trades;
} td_candles_t;

int64_t td_interval_secs(td_interval_t iv);
const char *td_interval_name(td_interval_t iv);                /* "1s" ... "1w" */
int td_interval_parse(const char *s, size_t len, td_interval_t *out); /* TD_OK or TD_EINVAL */
/* Start of the window containing t_s (seconds since epoch), for any t_s including negatives. */
int64_t td_interval_start(td_interval_t iv, int64_t t_s);

void td_candles_init(td_candles_t *c);
/* Applies a trade at exchange time ts_ns; closes (and emits) candles the new time has left behind first.
 * Returns true if the trade was late (clamped to the watermark). qty must be >= 0. */
bool td_candles_trade(td_candles_t *c, int64_t ts_ns, int64_t price, int64_t qty, td_candle_emit_fn emit,
                      void *ctx);
/* Moves the symbol's clock to now_ns (if later) and closes what ended. */
void td_candles_advance(td_candles_t *c, int64_t now_ns, td_candle_emit_fn emit, void *ctx);
/* The open candle of an interval: true and *out filled, or false if none is open. */
bool td_candles_current(const td_candles_t *c, td_interval_t iv, td_candle_t *out);
/* Restores state (after a restart) so the open candles continue rather than restart. */
void td_candles_restore(td_candles_t *c, const td_candle_t *open_candles, uint8_t open_mask,
                        int64_t watermark_ns);

#endif
