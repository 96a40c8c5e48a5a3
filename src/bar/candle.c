/*
 * candle.c: OHLCV candles at every interval for one symbol (see candle.h for the contract).
 *
 * Time: the symbol's clock (watermark_ns) only moves forward. A trade's effective time is
 * max(its exchange time, watermark): a late trade lands in the candles open at the watermark and never
 * amends a closed one. Every interval sees the same effective times, which is what makes a coarse candle
 * exactly the aggregate of its finer candles.
 *
 * Windows nest: every length divides the next (1s | 10s | 1m | 5m | 15m | 1h | 1d) and the week, offset to
 * Monday by a whole number of days, is a union of days. So a finer window never straddles a coarser
 * boundary, and closing in interval order (finest first) keeps every emitted sequence in time order.
 *
 * Invariants: for each bit iv in open_mask, cur[iv] is a candle with at least one trade whose window
 * [time, time + len) has not ended at the watermark: it is closed (emitted, bit cleared) in the same call
 * that makes floor(watermark / 1e9) >= time + len, so it is emitted exactly once. td_candles_restore() may
 * install candles that already ended; they close at the next trade or advance(), still exactly once.
 *
 * Threading: engine thread only; no allocation.
 */
#include "bar/candle.h"

#include <string.h>

#include "core/common.h"

#define NS_PER_S 1000000000LL
/* 1970-01-01 was a Thursday; the first Monday, 1970-01-05, is 4 days later: weeks are aligned to it. */
#define WEEK_OFFSET_S (4 * 86400LL)

static const int64_t iv_secs[TD_IV_COUNT] = { 1, 10, 60, 300, 900, 3600, 86400, 7 * 86400 };
static const char *const iv_names[TD_IV_COUNT] = { "1s", "10s", "1m", "5m", "15m", "1h", "1d", "1w" };

int64_t td_interval_secs(td_interval_t iv) { return (unsigned)iv < TD_IV_COUNT ? iv_secs[iv] : 0; }

const char *td_interval_name(td_interval_t iv) { return (unsigned)iv < TD_IV_COUNT ? iv_names[iv] : "?"; }

int td_interval_parse(const char *s, size_t len, td_interval_t *out)
{
    if (!s) return TD_EINVAL;
    for (int i = 0; i < TD_IV_COUNT; i++) {
        /* Exact and case-sensitive: "1M" is a month on Binance, so guessing would be wrong. */
        if (strlen(iv_names[i]) == len && memcmp(iv_names[i], s, len) == 0) {
            *out = (td_interval_t)i;
            return TD_OK;
        }
    }
    return TD_EINVAL;
}

static inline int64_t floor_div(int64_t a, int64_t b)
{
    int64_t q = a / b;
    return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q;
}

int64_t td_interval_start(td_interval_t iv, int64_t t_s)
{
    if ((unsigned)iv >= TD_IV_COUNT) return t_s;
    int64_t len = iv_secs[iv];
    int64_t off = iv == TD_IV_1W ? WEEK_OFFSET_S : 0;
    /* Every time that came from int64 nanoseconds is within +-2^34 s: plain 64-bit arithmetic cannot
     * overflow there, and it avoids a 128-bit division (a library call) on every candle opened. */
    if (TD_LIKELY(t_s > -(INT64_C(1) << 60) && t_s < (INT64_C(1) << 60)))
        return floor_div(t_s - off, len) * len + off;
    /* Elsewhere 128-bit so the offset and the rounding down cannot overflow near INT64_MIN; a start that does not
     * fit (only for |t_s| within a week of the int64 limits, never for a time that came from int64 ns)
     * saturates. */
    __int128 shifted = (__int128)t_s - off;
    __int128 q = shifted / len;
    if (shifted % len != 0 && shifted < 0) q--;
    __int128 start = q * len + off;
    if (start < INT64_MIN) return INT64_MIN;
    if (start > INT64_MAX) return INT64_MAX;
    return (int64_t)start;
}

void td_candles_init(td_candles_t *c)
{
    memset(c, 0, sizeof *c);
    c->watermark_ns = INT64_MIN; /* no clock yet: the first trade is never late */
}

/* Emits and clears every open candle whose window ended at or before clock second now_s. */
static void close_ended(td_candles_t *c, int64_t now_s, td_candle_emit_fn emit, void *ctx)
{
    for (int iv = 0; iv < TD_IV_COUNT; iv++) {
        if (!(c->open_mask & (1u << iv))) continue;
        /* time + len cannot overflow for windows produced from int64 ns; compare by subtraction anyway so
         * a restored extreme value cannot trip UBSan. */
        if (now_s - iv_secs[iv] >= c->cur[iv].time) {
            if (emit) emit(ctx, (td_interval_t)iv, &c->cur[iv]);
            c->open_mask &= (uint8_t)~(1u << iv);
        }
    }
}

bool td_candles_trade(td_candles_t *c, int64_t ts_ns, int64_t price, int64_t qty, td_candle_emit_fn emit,
                      void *ctx)
{
    bool late = ts_ns < c->watermark_ns;
    if (late) {
        ts_ns = c->watermark_ns;
        c->late_trades++;
    } else {
        c->watermark_ns = ts_ns;
    }
    if (qty < 0) qty = 0; /* contract says qty >= 0; a bad size must not subtract from volume */
    int64_t t_s = floor_div(ts_ns, NS_PER_S);
    close_ended(c, t_s, emit, ctx);
    for (int iv = 0; iv < TD_IV_COUNT; iv++) {
        td_candle_t *k = &c->cur[iv];
        if (!(c->open_mask & (1u << iv))) {
            k->time = td_interval_start((td_interval_t)iv, t_s);
            k->open = k->high = k->low = k->close = price;
            k->volume = qty;
            k->trade_count = 1;
            c->open_mask |= (uint8_t)(1u << iv);
            continue;
        }
        if (price > k->high) k->high = price;
        if (price < k->low) k->low = price;
        k->close = price;
        k->volume += qty;
        k->trade_count++;
    }
    return late;
}

void td_candles_advance(td_candles_t *c, int64_t now_ns, td_candle_emit_fn emit, void *ctx)
{
    if (now_ns > c->watermark_ns) c->watermark_ns = now_ns;
    /* Close against the watermark, not now_ns: a restored state may hold candles that ended already. */
    if (c->open_mask) close_ended(c, floor_div(c->watermark_ns, NS_PER_S), emit, ctx);
}

bool td_candles_current(const td_candles_t *c, td_interval_t iv, td_candle_t *out)
{
    if ((unsigned)iv >= TD_IV_COUNT || !(c->open_mask & (1u << iv))) return false;
    if (out) *out = c->cur[iv];
    return true;
}

void td_candles_restore(td_candles_t *c, const td_candle_t *open_candles, uint8_t open_mask,
                        int64_t watermark_ns)
{
    td_candles_init(c);
    c->watermark_ns = watermark_ns;
    for (int iv = 0; iv < TD_IV_COUNT; iv++) {
        if (!(open_mask & (1u << iv)) || !open_candles) continue;
        c->cur[iv] = open_candles[iv];
        /* Re-align defensively: a stored start that is not a window start would break the nesting. */
        c->cur[iv].time = td_interval_start((td_interval_t)iv, open_candles[iv].time);
        c->open_mask |= (uint8_t)(1u << iv);
        /* The clock is never before a trade it has seen: a candle cannot have opened after the watermark.
         * Raising it keeps new trades from landing in a window earlier than an open one. */
        int64_t t = c->cur[iv].time;
        int64_t t_ns = t > INT64_MAX / NS_PER_S ? INT64_MAX : t < INT64_MIN / NS_PER_S ? INT64_MIN : t * NS_PER_S;
        if (t_ns > c->watermark_ns) c->watermark_ns = t_ns;
    }
}
