/*
 * bench_itch: ITCH 5.0 decode throughput, parse-only and parse + map to td_event_t.
 *
 * Generates a seeded, realistic order-traffic stream with the encoder: a stock directory (R) for a few
 * thousand stocks, then adds (A, some F), deletes, replaces, partial cancels, executions (E, some C),
 * hidden trades (P) and a few crosses (Q), in roughly the proportions of a real NASDAQ day, always on
 * live orders. The stream is encoded once into memory (larger than the caches, so the decoder streams
 * from DRAM as it would from an mmap'ed file) and decoded several times; the best pass is reported next
 * to the target. Rates are per second of this thread's CPU time (CLOCK_THREAD_CPUTIME_ID), so other
 * developers' jobs on the shared cores do not count against them. Sizes: TD_BENCH_MSGS (default 2,000,000 messages), TD_BENCH_PASSES (default 5).
 *
 * Peer: the target of 50M msg/s parse-only on one core (there is no peer implementation in-tree).
 * Third figure: parse + map + the whole engine (order books, NBBO, candles; td_engine_apply_batch in
 * 256-event batches as the engine thread drains them), against the 10M msg/s parse + book target.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/clock.h"
#include "engine/engine.h"
#include "core/common.h"
#include "core/log.h"
#include "core/rng.h"
#include "feed/itch50.h"

#define N_STOCKS 3000
#define MAX_LIVE 200000

typedef struct { uint64_t ref; uint32_t shares, price; uint16_t locate; uint8_t side; } live_t;

static size_t env_size(const char *name, size_t def)
{
    const char *v = getenv(name);
    return v && *v ? strtoull(v, NULL, 10) : def;
}

static void stock_name(uint32_t i, char out[8])
{
    memset(out, ' ', 8);
    out[0] = 'B';
    for (int k = 1; k < 4; k++, i /= 26) out[k] = (char)('A' + i % 26);
}

/* Appends messages to buf; returns the byte count. */
static size_t generate(td_rng_t *rng, size_t n_msgs, uint8_t *buf, size_t cap, size_t *n_out)
{
    live_t *live = td_malloc(MAX_LIVE * sizeof *live);
    size_t n_live = 0, pos = 0, n = 0;
    uint64_t next_ref = 1, match = 1, ts = 4ULL * 3600 * 1000000000ULL;
    uint32_t base_px[N_STOCKS];
    td_itch_msg_t m;
    for (uint32_t i = 0; i < N_STOCKS; i++) {
        memset(&m, 0, sizeof m);
        m.type = 'R';
        m.stock_locate = (uint16_t)(i + 1);
        m.timestamp = ts++;
        stock_name(i, m.u.stock_directory.stock);
        m.u.stock_directory.round_lot_size = 100;
        pos += td_itch50_encode(&m, buf + pos, cap - pos);
        base_px[i] = (uint32_t)(10000 * (5 + td_rng_below(rng, 500)));
        n++;
    }
    while (n < n_msgs && cap - pos >= 64) {
        memset(&m, 0, sizeof m);
        ts += 1 + td_rng_below(rng, 2000);
        m.timestamp = ts;
        uint32_t r = (uint32_t)td_rng_below(rng, 1000);
        if (n_live < 1000 || (r < 440 && n_live < MAX_LIVE)) { /* add: 44% */
            uint32_t s = (uint32_t)td_rng_below(rng, N_STOCKS);
            live_t o = { next_ref++, (uint32_t)(100 * (1 + td_rng_below(rng, 10))),
                         base_px[s] + (uint32_t)td_rng_below(rng, 200) * 100, (uint16_t)(s + 1),
                         td_rng_below(rng, 2) ? 'B' : 'S' };
            live[n_live++] = o;
            m.type = r < 20 ? 'F' : 'A';
            m.stock_locate = o.locate;
            m.u.add_order = (td_itch_add_order_t){ .order_ref = o.ref, .side = o.side, .shares = o.shares,
                                                   .price = o.price };
            stock_name(s, m.u.add_order.stock);
            if (m.type == 'F') memcpy(m.u.add_order.attribution, "MPID", 4);
        } else {
            size_t k = td_rng_below(rng, n_live);
            live_t *o = &live[k];
            m.stock_locate = o->locate;
            if (r < 820) { /* delete: 38% */
                m.type = 'D';
                m.u.order_delete.order_ref = o->ref;
                *o = live[--n_live];
            } else if (r < 910) { /* replace: 9% */
                m.type = 'U';
                m.u.order_replace = (td_itch_order_replace_t){ o->ref, next_ref, o->shares, o->price + 100 };
                o->ref = next_ref++, o->price += 100;
            } else if (r < 940 && o->shares > 100) { /* partial cancel: 3% */
                m.type = 'X';
                m.u.order_cancel = (td_itch_order_cancel_t){ o->ref, 100 };
                o->shares -= 100;
            } else if (r < 985) { /* execution: ~4.5%, a few with price */
                m.type = r < 982 ? 'E' : 'C';
                m.u.order_executed = (td_itch_order_executed_t){ .order_ref = o->ref, .executed_shares = 100,
                                                                 .match_number = match++, .printable = 'Y',
                                                                 .execution_price = o->price };
                if (o->shares > 100) o->shares -= 100;
                else *o = live[--n_live];
            } else if (r < 999) { /* hidden trade: 1.4% */
                m.type = 'P';
                m.u.trade = (td_itch_trade_t){ .side = 'B', .shares = 100, .price = o->price, .match_number = match++ };
                stock_name((uint32_t)o->locate - 1, m.u.trade.stock);
            } else { /* cross */
                m.type = 'Q';
                m.u.cross_trade = (td_itch_cross_trade_t){ .shares = 5000, .cross_price = o->price,
                                                           .match_number = match++, .cross_type = 'C' };
                stock_name((uint32_t)o->locate - 1, m.u.cross_trade.stock);
            }
        }
        pos += td_itch50_encode(&m, buf + pos, cap - pos);
        n++;
    }
    td_free(live);
    *n_out = n;
    return pos;
}

static volatile uint64_t sink;

static double pass_parse(const uint8_t *buf, size_t size, size_t n_msgs, double *wall_rate)
{
    int64_t w0 = td_mono_ns(), t0 = td_thread_cpu_ns();
    uint64_t acc = 0;
    size_t pos = 0, n = 0;
    td_itch_msg_t m;
    while (pos < size) {
        int rc = td_itch50_decode(buf + pos, size - pos, &m);
        if (TD_UNLIKELY(rc <= 0)) abort();
        acc += m.timestamp;
        pos += (size_t)rc;
        n++;
    }
    int64_t dt = td_thread_cpu_ns() - t0, wdt = td_mono_ns() - w0;
    if (n != n_msgs) abort();
    *wall_rate = (double)n * 1e9 / (double)wdt;
    sink += acc;
    return (double)n * 1e9 / (double)dt;
}

static double pass_map(const uint8_t *buf, size_t size, size_t n_msgs, td_itch50_ctx_t *ctx, uint64_t *n_events,
                       double *wall_rate)
{
    enum { BATCH = 256 };
    static td_event_t evs[BATCH];
    int64_t w0 = td_mono_ns(), t0 = td_thread_cpu_ns();
    td_itch50_ctx_init(ctx, 1577682000LL * 1000000000LL);
    uint64_t acc = 0, events = 0;
    size_t pos = 0, n = 0, k = 0;
    td_itch_msg_t m;
    while (pos < size) {
        int rc = td_itch50_decode(buf + pos, size - pos, &m);
        if (TD_UNLIKELY(rc <= 0)) abort();
        pos += (size_t)rc;
        n++;
        int e = td_itch50_map(ctx, &m, &evs[k]);
        if (e > 0) {
            acc += evs[k].u.order.order_id;
            events++;
            if (++k == BATCH) k = 0;
        }
    }
    int64_t dt = td_thread_cpu_ns() - t0, wdt = td_mono_ns() - w0;
    *wall_rate = (double)n * 1e9 / (double)wdt;
    if (n != n_msgs || ctx->counts.unknown_locate || ctx->counts.bad_field) abort();
    sink += acc;
    *n_events = events;
    return (double)n * 1e9 / (double)dt;
}

/* decode + map + engine: every order message reaches its book; trades reach candles; tops reach NBBO */
static double pass_engine(const uint8_t *buf, size_t size, size_t n_msgs, td_itch50_ctx_t *ctx, uint64_t *live,
                          double *wall_rate)
{
    enum { BATCH = 256 };
    static td_event_t evs[BATCH];
    td_engine_t *e = td_engine_create(NULL);
    int64_t w0 = td_mono_ns(), t0 = td_thread_cpu_ns();
    td_itch50_ctx_init(ctx, 1577682000LL * 1000000000LL);
    size_t pos = 0, n = 0, k = 0;
    td_itch_msg_t m;
    while (pos < size) {
        int rc = td_itch50_decode(buf + pos, size - pos, &m);
        if (TD_UNLIKELY(rc <= 0)) abort();
        pos += (size_t)rc;
        n++;
        if (td_itch50_map(ctx, &m, &evs[k]) > 0 && ++k == BATCH) {
            td_engine_apply_batch(e, evs, k);
            k = 0;
            if ((n & 8191) < BATCH) td_engine_flush(e);
        }
    }
    td_engine_apply_batch(e, evs, k);
    td_engine_flush(e);
    int64_t dt = td_thread_cpu_ns() - t0, wdt = td_mono_ns() - w0;
    *wall_rate = (double)n * 1e9 / (double)wdt;
    if (n != n_msgs) abort();
    if (atomic_load(&td_engine_stats(e)->rejected)) {
        fprintf(stderr, "bench_itch: the engine rejected %llu events\n",
                (unsigned long long)atomic_load(&td_engine_stats(e)->rejected));
        abort();
    }
    td_engine_order_book_mem(e, live);
    td_engine_destroy(e);
    return (double)n * 1e9 / (double)dt;
}

int main(void)
{
    size_t n_msgs = env_size("TD_BENCH_MSGS", 2000000), passes = env_size("TD_BENCH_PASSES", 5);
    if (n_msgs < N_STOCKS + 1000) n_msgs = N_STOCKS + 1000;
    td_log_min_level = TD_LOG_WARN;
    size_t cap = n_msgs * 42 + 64;
    uint8_t *buf = td_malloc(cap);
    td_rng_t rng;
    td_rng_seed(&rng, 20191230);
    size_t n;
    size_t size = generate(&rng, n_msgs, buf, cap, &n);
    printf("bench_itch: %zu messages, %.1f MB, %d stocks, seed 20191230, best of %zu passes\n", n, size / 1e6,
           N_STOCKS, passes);

    double best_parse = 0, best_map = 0, wall_parse = 0, wall_map = 0, w;
    for (size_t i = 0; i < passes; i++) {
        double r = pass_parse(buf, size, n, &w);
        if (r > best_parse) best_parse = r;
        if (w > wall_parse) wall_parse = w;
    }
    td_itch50_ctx_t *ctx = td_malloc(sizeof *ctx);
    uint64_t events = 0;
    for (size_t i = 0; i < passes; i++) {
        double r = pass_map(buf, size, n, ctx, &events, &w);
        if (r > best_map) best_map = r;
        if (w > wall_map) wall_map = w;
    }
    printf("  parse-only   %7.1f M msg/s CPU time (%6.1f wall)  %5.2f GB/s  %5.1f ns/msg   target 50M msg/s: %s\n",
           best_parse / 1e6, wall_parse / 1e6, best_parse * (double)size / (double)n / 1e9, 1e9 / best_parse,
           best_parse >= 50e6 ? "met" : "NOT met");
    printf("  parse + map  %7.1f M msg/s CPU time (%6.1f wall)  %5.1f ns/msg   (%llu events)\n", best_map / 1e6,
           wall_map / 1e6, 1e9 / best_map, (unsigned long long)events);
    double best_eng = 0, wall_eng = 0;
    uint64_t live = 0;
    for (size_t i = 0; i < passes; i++) {
        double r = pass_engine(buf, size, n, ctx, &live, &w);
        if (r > best_eng) best_eng = r;
        if (w > wall_eng) wall_eng = w;
    }
    printf("  parse + map + engine (books, NBBO, candles) %7.1f M msg/s CPU time (%6.1f wall)  %5.1f ns/msg   "
           "target 10M msg/s: %s  (%llu live orders at the end)\n",
           best_eng / 1e6, wall_eng / 1e6, 1e9 / best_eng, best_eng >= 10e6 ? "met" : "NOT met",
           (unsigned long long)live);
    td_free(ctx);
    td_free(buf);
    return 0;
}
