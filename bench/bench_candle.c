/*
 * bench_candle.c: throughput of the engine's per-trade and per-quote bar/NBBO work, on one core.
 *
 * 1. td_candles_trade: trades/s with all 8 intervals maintained, for three timestamp densities (a burst
 *    of many trades per second, ~1 trade/s, sparse trades that close candles on most calls). Inputs are
 *    generated up front (fixed seed) so the loop measures the builder, not the generator.
 * 2. td_nbbo_set_top + td_nbbo_update: updates/s with 2, 4 and 8 venues quoting around one price
 *    (uniformly random quotes: the best venue changes often, the unfavourable case for the scan).
 * 3. indicators: closes/s through SMA(20), EMA(12), ZLMA(20), RSI(14), MACD(12,26,9) and Bollinger(20,2),
 *    push plus one peek each (a candle closing and the next one's first live reading).
 *
 * Each figure is the best of REPS short runs: the cores are shared, and the best run is the one least
 * disturbed by other processes (the median is printed too, to show the noise).
 *
 * No peer is measured: there is no comparable C candle builder to link against here. Kept short (well under
 * a second per figure) because the machine is shared.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bar/candle.h"
#include "bar/indicators.h"
#include "book/nbbo.h"
#include "core/common.h"
#include "core/rng.h"

#define NINPUT (1u << 20)
#define REPS 5

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static uint64_t emitted;
static void count_emit(void *ctx, td_interval_t iv, const td_candle_t *c)
{
    (void)ctx;
    (void)iv;
    emitted += c->trade_count > 0;
}

typedef struct trade_in { int64_t dt_ns, price, qty; } trade_in_t;

static void bench_candles(const char *label, int64_t max_gap_ns, uint64_t ntrades)
{
    trade_in_t *in = td_malloc(NINPUT * sizeof *in);
    td_rng_t rng;
    td_rng_seed(&rng, 42);
    int64_t px = 10000 * 100000000LL;
    for (uint32_t i = 0; i < NINPUT; i++) {
        px += ((int64_t)td_rng_below(&rng, 21) - 10) * 1000000;
        in[i] = (trade_in_t){ (int64_t)td_rng_below(&rng, (uint64_t)max_gap_ns), px,
                              (int64_t)td_rng_below(&rng, 1000) * 100000000LL };
    }
    double el[REPS];
    for (int rep = 0; rep < REPS; rep++) {
        td_candles_t c;
        td_candles_init(&c);
        int64_t t = 1708632060LL * 1000000000LL;
        emitted = 0;
        double t0 = now_s();
        for (uint64_t i = 0; i < ntrades; i++) {
            const trade_in_t *x = &in[i & (NINPUT - 1)];
            t += x->dt_ns;
            td_candles_trade(&c, t, x->price, x->qty, count_emit, NULL);
        }
        el[rep] = now_s() - t0;
    }
    qsort(el, REPS, sizeof el[0], cmp_double);
    printf("candles %-26s %6.1f M trades/s  (best %.1f ns/trade, median %.1f; %llu trades, %llu closed)\n",
           label, (double)ntrades / el[0] / 1e6, el[0] * 1e9 / (double)ntrades,
           el[REPS / 2] * 1e9 / (double)ntrades, (unsigned long long)ntrades, (unsigned long long)emitted);
    td_free(in);
}

typedef struct quote_in { uint8_t venue; int64_t bp, bq, ap, aq; } quote_in_t;

static void bench_nbbo(int nvenues, uint64_t nupdates)
{
    quote_in_t *in = td_malloc(NINPUT * sizeof *in);
    td_rng_t rng;
    td_rng_seed(&rng, 7);
    int64_t mid = 100 * 100000000LL;
    for (uint32_t i = 0; i < NINPUT; i++) {
        if (td_rng_below(&rng, 16) == 0) mid += ((int64_t)td_rng_below(&rng, 3) - 1) * 1000000;
        in[i] = (quote_in_t){ (uint8_t)(1 + td_rng_below(&rng, (uint64_t)nvenues)),
                              mid - (int64_t)(1 + td_rng_below(&rng, 3)) * 1000000,
                              (int64_t)(1 + td_rng_below(&rng, 50)) * 100 * 100000000LL,
                              mid + (int64_t)(1 + td_rng_below(&rng, 3)) * 1000000,
                              (int64_t)(1 + td_rng_below(&rng, 50)) * 100 * 100000000LL };
    }
    double el[REPS];
    uint64_t published = 0;
    for (int rep = 0; rep < REPS; rep++) {
        td_nbbo_calc_t c;
        td_nbbo_init(&c);
        td_nbbo_t out;
        published = 0;
        double t0 = now_s();
        for (uint64_t i = 0; i < nupdates; i++) {
            const quote_in_t *q = &in[i & (NINPUT - 1)];
            td_nbbo_set_top(&c, q->venue, q->bp, q->bq, q->ap, q->aq);
            published += td_nbbo_update(&c, &out);
        }
        el[rep] = now_s() - t0;
    }
    qsort(el, REPS, sizeof el[0], cmp_double);
    printf("nbbo    %d venues                   %6.1f M updates/s (best %.1f ns/update, median %.1f; %.0f%% published)\n",
           nvenues, (double)nupdates / el[0] / 1e6, el[0] * 1e9 / (double)nupdates,
           el[REPS / 2] * 1e9 / (double)nupdates, 100.0 * (double)published / (double)nupdates);
    td_free(in);
}

static void bench_indicators(uint64_t ncloses)
{
    int64_t *in = td_malloc(NINPUT * sizeof *in);
    td_rng_t rng;
    td_rng_seed(&rng, 9);
    int64_t px = 100 * 100000000LL;
    for (uint32_t i = 0; i < NINPUT; i++) in[i] = px += ((int64_t)td_rng_below(&rng, 201) - 100) * 100000;
    double el[REPS];
    volatile double sink = 0; /* keeps the values alive so the calls are not optimized away */
    for (int rep = 0; rep < REPS; rep++) {
        td_sma_t sma;
        td_ema_t ema;
        td_zlma_t zl;
        td_rsi_t rsi;
        td_macd_t macd;
        td_bollinger_t bb;
        td_sma_init(&sma, 20);
        td_ema_init(&ema, 12);
        td_zlma_init(&zl, 20);
        td_rsi_init(&rsi, 14);
        td_macd_init(&macd, 12, 26, 9);
        td_bollinger_init(&bb, 20, 2.0);
        double v = 0;
        td_macd_value_t mv = { 0 };
        td_bollinger_value_t bv = { 0 };
        double t0 = now_s();
        for (uint64_t i = 0; i < ncloses; i++) {
            int64_t x = in[i & (NINPUT - 1)], live = x + 1000000;
            td_sma_push(&sma, x, &v), sink += v;
            td_sma_peek(&sma, live, &v), sink += v;
            td_ema_push(&ema, x, &v), sink += v;
            td_ema_peek(&ema, live, &v), sink += v;
            td_zlma_push(&zl, x, &v), sink += v;
            td_zlma_peek(&zl, live, &v), sink += v;
            td_rsi_push(&rsi, x, &v), sink += v;
            td_rsi_peek(&rsi, live, &v), sink += v;
            td_macd_push(&macd, x, &mv), sink += mv.hist;
            td_macd_peek(&macd, live, &mv), sink += mv.hist;
            td_bollinger_push(&bb, x, &bv), sink += bv.upper;
            td_bollinger_peek(&bb, live, &bv), sink += bv.upper;
        }
        el[rep] = now_s() - t0;
        td_sma_destroy(&sma);
        td_zlma_destroy(&zl);
        td_bollinger_destroy(&bb);
    }
    qsort(el, REPS, sizeof el[0], cmp_double);
    printf("indicators all 6, push + peek      %6.1f M closes/s  (best %.1f ns/close, median %.1f)\n",
           (double)ncloses / el[0] / 1e6, el[0] * 1e9 / (double)ncloses, el[REPS / 2] * 1e9 / (double)ncloses);
    td_free(in);
}

int main(void)
{
    bench_candles("burst (mean 0.5 ms apart)", 1000000, 1000000);
    bench_candles("steady (mean 1 s apart)", 2000000000LL, 1000000);
    bench_candles("sparse (mean 30 s apart)", 60LL * 1000000000LL, 1000000);
    bench_candles("hourly (mean 1 h apart)", 7200LL * 1000000000LL, 1000000); /* 1M hours: stays in int64 ns */
    bench_nbbo(2, 1000000);
    bench_nbbo(4, 1000000);
    bench_nbbo(8, 1000000);
    bench_indicators(1000000);
    return 0;
}
