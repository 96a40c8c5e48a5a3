/*
 * bench_engine: events/s per core through the whole engine (order books + NBBO + candles + snapshots),
 * ns per event at p50/p99/p99.9, and heap bytes per live order.
 *
 * Streams (pre-generated into memory so only the engine is timed):
 *   sim      the simulator's order-level stream (100 symbols x 4 exchanges, deep books)
 *   lobster  real NASDAQ order flow: the LOBSTER GOOG level-10 message file, looped with fresh order ids
 * Targets (issue "Foundation"): >= 10 M order-level events/s on one core; <= 64 bytes per live order.
 * Usage: bench_engine [events [symbols]]   (default 4,000,000 events, 100 symbols x 4 exchanges)
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <x86intrin.h>

#include "core/clock.h"
#include "core/common.h"
#include "engine/engine.h"
#include "feed/sim.h"
#include "feed/source.h"

#include "bench_util.h"

static int cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return x < y ? -1 : x > y;
}

static double cycles_per_ns(void)
{
    int64_t t0 = td_mono_ns();
    uint64_t c0 = __rdtsc();
    while (td_mono_ns() - t0 < 100 * TD_NS_PER_MS) {}
    return (double)(__rdtsc() - c0) / (double)(td_mono_ns() - t0);
}

static void run(const char *name, const td_event_t *evs, size_t n, double cpn)
{
    /* throughput: 3 runs on fresh engines, median */
    double rates[3];
    size_t mem = 0;
    uint64_t live = 0;
    for (int r = 0; r < 3; r++) {
        td_engine_t *e = td_engine_create(NULL);
        int64_t t0 = td_thread_cpu_ns();
        for (size_t i = 0; i < n; i += 256) { /* ring-sized batches, as the engine thread drains them */
            td_engine_apply_batch(e, evs + i, n - i < 256 ? n - i : 256);
            if ((i & 8191) == 0) td_engine_flush(e); /* ~1 ms of input at 10 M/s, as the thread does */
        }
        td_engine_flush(e);
        rates[r] = (double)n / ((double)(td_thread_cpu_ns() - t0) / 1e9);
        if (r == 0) mem = td_engine_order_book_mem(e, &live);
        td_engine_destroy(e);
    }
    if (rates[0] > rates[1]) { double t = rates[0]; rates[0] = rates[1]; rates[1] = t; }
    if (rates[1] > rates[2]) { double t = rates[1]; rates[1] = rates[2]; rates[2] = t; }
    if (rates[0] > rates[1]) { double t = rates[0]; rates[0] = rates[1]; rates[1] = t; }

    /* latency: rdtsc around each event on a fresh engine */
    uint32_t *cyc = malloc(n * sizeof *cyc);
    td_engine_t *e = td_engine_create(NULL);
    for (size_t i = 0; i < n; i++) {
        uint64_t c0 = __rdtsc();
        td_engine_apply(e, &evs[i]);
        uint64_t d = __rdtsc() - c0;
        cyc[i] = d > UINT32_MAX ? UINT32_MAX : (uint32_t)d;
        if ((i & 8191) == 8191) td_engine_flush(e); /* ~1 ms of input at 10 M/s, as the thread does */
    }
    td_engine_destroy(e);
    qsort(cyc, n, sizeof *cyc, cmp_u32);
    printf("%-8s %9zu events  %6.2f M events/s (median of 3; target >= 10)  ns/event p50 %.0f p99 %.0f "
           "p99.9 %.0f  live orders %llu, %.1f bytes/order (target <= 64)\n",
           name, n, rates[1] / 1e6, cyc[n / 2] / cpn, cyc[n * 99 / 100] / cpn, cyc[n * 999 / 1000] / cpn,
           (unsigned long long)live, live ? (double)mem / (double)live : 0.0);
    free(cyc);
}

int main(int argc, char **argv)
{
    size_t n = argc > 1 ? strtoull(argv[1], NULL, 10) : 4000000;
    int nsym = argc > 2 ? atoi(argv[2]) : 100;
    double cpn = cycles_per_ns();
    printf("bench_engine: one core, events pre-generated in memory; TSC %.2f GHz\n", cpn);

    td_sim_config_t cfg;
    td_sim_config_default(&cfg);
    char spec[8192] = "symbols=";
    for (int i = 0; i < nsym; i++) {
        char s[16];
        snprintf(s, sizeof s, "%sS%03d", i ? "," : "", i);
        strcat(spec, s);
    }
    strcat(spec, ";exchanges=NYSE,NASDAQ,ARCA,BATS;max_orders=256;rate=max");
    char err[256];
    if (td_sim_config_parse(&cfg, spec, err, sizeof err) != TD_OK) {
        fprintf(stderr, "bench_engine: %s\n", err);
        return 1;
    }
    td_sim_t *sim = td_sim_create(&cfg, err, sizeof err);
    if (!sim) {
        fprintf(stderr, "bench_engine: %s\n", err);
        return 1;
    }
    td_event_t *evs = malloc(n * sizeof *evs);
    for (size_t i = 0; i < n; i += 4096) td_sim_generate(sim, evs + i, n - i < 4096 ? n - i : 4096);
    td_sim_destroy(sim);
    char label[32];
    snprintf(label, sizeof label, "sim/%d", nsym);
    run(label, evs, n, cpn);
    free(evs);

    const char *data = bench_shared_data();
    char lob[2400];
    snprintf(lob, sizeof lob, "lobster:%s/lobster/GOOG_2012-06-21_34200000_57600000_message_10.csv,"
             "%s/lobster/GOOG_2012-06-21_34200000_57600000_orderbook_10.csv", data, data);
    size_t got;
    evs = bench_load_source("bench_engine", lob, 1000000, &got);
    if (evs && got) {
        /* loop the day to reach n events; each copy gets fresh order ids so the book keeps working */
        size_t total = n < got ? got : n;
        td_event_t *big = bench_alloc(total * sizeof *big);
        bench_loop_events(evs, got, big, total, 0);
        run("lobster", big, total, cpn);
        free(big);
    }
    free(evs);
    return 0;
}
