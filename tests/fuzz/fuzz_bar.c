/*
 * fuzz_bar: arbitrary bytes drive the candle builder, the NBBO calculator and the indicators with any
 * int64 times, prices and sizes (UBSan watches the arithmetic). The first bytes are also an interval name
 * for td_interval_parse, a REST parameter. Invariants checked on every emitted candle: per interval,
 * window starts strictly increase and are aligned, low <= open, close <= high, at least one trade; the
 * NBBO state agrees with its prices.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "bar/candle.h"
#include "bar/indicators.h"
#include "book/nbbo.h"
#include "core/common.h"

typedef struct fuzz_ctx { int64_t last_time[TD_IV_COUNT]; bool any[TD_IV_COUNT]; } fuzz_ctx_t;

static void on_candle(void *p, td_interval_t iv, const td_candle_t *c)
{
    fuzz_ctx_t *f = p;
    if ((unsigned)iv >= TD_IV_COUNT) abort();
    if (f->any[iv] && c->time <= f->last_time[iv]) abort();
    if (c->trade_count == 0 || c->low > c->open || c->low > c->close || c->high < c->open || c->high < c->close)
        abort();
    if (td_interval_start(iv, c->time) != c->time) abort();
    f->any[iv] = true;
    f->last_time[iv] = c->time;
}

static int64_t rd64(const uint8_t *p)
{
    uint64_t v;
    memcpy(&v, p, 8);
    return (int64_t)v;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    td_interval_t iv;
    size_t nlen = size < 4 ? size : 4;
    if (td_interval_parse((const char *)data, nlen, &iv) == TD_OK) {
        const char *name = td_interval_name(iv);
        if (strlen(name) != nlen || memcmp(name, data, nlen) != 0) abort();
    }

    fuzz_ctx_t f;
    memset(&f, 0, sizeof f);
    td_candles_t c;
    td_candles_init(&c);
    td_nbbo_calc_t nb;
    td_nbbo_init(&nb);
    td_sma_t sma;
    td_rsi_t rsi;
    td_macd_t macd;
    td_zlma_t zl;
    td_bollinger_t bb;
    td_sma_init(&sma, 3);
    td_rsi_init(&rsi, 2);
    td_macd_init(&macd, 2, 3, 2);
    td_zlma_init(&zl, 5);
    td_bollinger_init(&bb, 3, 2.0);
    int64_t t = 0;
    for (size_t off = 0; off + 17 <= size; off += 17) {
        uint8_t op = data[off];
        int64_t a = rd64(data + off + 1), b = rd64(data + off + 9);
        double d;
        switch (op % 8) {
        case 0: /* a trade a little after (or before) the last one: windows open and close */
            t += (int16_t)a * (int64_t)1000000;
            td_candles_trade(&c, t, b, (b >> 1) & 0xffff, on_candle, &f);
            break;
        case 1: /* a trade at any time at all */
            td_candles_trade(&c, a, b, a & 0xff, on_candle, &f);
            break;
        case 2:
            td_candles_advance(&c, (op & 8) ? a : t + (int32_t)b, on_candle, &f);
            break;
        case 3: { /* a restart: restore what is open */
            td_candle_t open[TD_IV_COUNT];
            uint8_t mask = 0;
            for (int i = 0; i < TD_IV_COUNT; i++)
                if (td_candles_current(&c, (td_interval_t)i, &open[i])) mask |= (uint8_t)(1u << i);
            td_candles_restore(&c, open, mask, c.watermark_ns);
            break;
        }
        case 4:
            td_nbbo_set_top(&nb, (uint8_t)(op >> 4), a >> 8, a & 0xf, b >> 8, b & 0xf);
            break;
        case 5:
            td_nbbo_set_gap(&nb, (uint8_t)(op >> 4), (a & 1) != 0);
            break;
        case 6: {
            td_nbbo_t n;
            if (td_nbbo_update(&nb, &n) && n.state != TD_NBBO_STALE && n.bid_qty > 0 && n.ask_qty > 0) {
                td_nbbo_state_t want = n.bid_px == n.ask_px  ? TD_NBBO_LOCKED
                                       : n.bid_px > n.ask_px ? TD_NBBO_CROSSED
                                                             : TD_NBBO_NORMAL;
                if (n.state != want) abort();
            }
            break;
        }
        default: { /* indicators: push a, peek b */
            td_macd_value_t mv;
            td_bollinger_value_t bv;
            td_sma_push(&sma, a, &d);
            td_sma_peek(&sma, b, &d);
            td_rsi_push(&rsi, a, &d);
            if (td_rsi_peek(&rsi, b, &d) && !(d >= 0.0 && d <= 100.0)) abort();
            td_macd_push(&macd, a, &mv);
            td_macd_peek(&macd, b, &mv);
            td_zlma_push(&zl, a, &d);
            td_zlma_peek(&zl, b, &d);
            td_bollinger_push(&bb, a, &bv);
            if (td_bollinger_peek(&bb, b, &bv) && !(bv.stddev >= 0.0)) abort();
            break;
        }
        }
    }
    td_candles_advance(&c, INT64_MAX, on_candle, &f);
    td_sma_destroy(&sma);
    td_zlma_destroy(&zl);
    td_bollinger_destroy(&bb);
    return 0;
}
