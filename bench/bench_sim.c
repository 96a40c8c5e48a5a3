/*
 * bench_sim.c: how fast the simulator generates events (pure generator, one thread, no pacing).
 *
 * The sim feeds the engine in every other benchmark, so it must be far faster than the engine: the target
 * is several million events per second on one core. Fixed seeds, so runs compare; short (a few hundred ms
 * per case) because the machine is shared. Prints one line per configuration. No peer exists to compare.
 * The rate is computed from the thread's CPU time, so sharing the cores with other work does not skew it;
 * the wall-clock figure is printed next to it.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/clock.h"
#include "core/common.h"
#include "feed/sim.h"

static td_sim_config_t cfg;

static void run(const char *label, const char *spec, size_t total, size_t batch)
{
    char err[256];
    td_sim_config_default(&cfg);
    if (td_sim_config_parse(&cfg, spec, err, sizeof err) != TD_OK) {
        fprintf(stderr, "%s\n", err);
        exit(1);
    }
    td_sim_t *s = td_sim_create(&cfg, err, sizeof err);
    if (!s) {
        fprintf(stderr, "%s\n", err);
        exit(1);
    }
    td_event_t *buf = td_malloc(batch * sizeof *buf);
    td_sim_generate(s, buf, batch); /* warm up: pages, caches */
    uint64_t checksum = 0;
    int64_t t0 = td_mono_ns(), c0 = td_thread_cpu_ns();
    for (size_t done = 0; done < total; done += batch) {
        td_sim_generate(s, buf, batch);
        checksum += buf[batch - 1].src_seq; /* keep the work observable */
    }
    int64_t cpu = td_thread_cpu_ns() - c0, wall = td_mono_ns() - t0;
    printf("bench_sim %-26s %6.2f M events/s per core (%.0f ns/event CPU; wall %.2f M/s; %zu events, batch %zu, "
           "check %llu)\n",
           label, (double)total / ((double)cpu / 1e9) / 1e6, (double)cpu / (double)total,
           (double)total / ((double)wall / 1e9) / 1e6, total, batch, (unsigned long long)checksum % 1000);
    td_free(buf);
    td_sim_destroy(s);
}

int main(int argc, char **argv)
{
    size_t total = argc > 1 ? strtoull(argv[1], NULL, 10) : 4000000;
    run("default (8 sym x 3 exch)", "rate=max", total, 256);
    run("default, batch 16", "rate=max", total, 16);
    static char spec[8192];
    size_t off = (size_t)snprintf(spec, sizeof spec, "rate=max;exchanges=A,B,C,D,E,F,G,H;symbols=");
    for (int i = 0; i < 500; i++) off += (size_t)snprintf(spec + off, sizeof spec - off, "%sS%d", i ? "," : "", i);
    run("500 sym x 8 exch", spec, total, 256);
    run("default, max_orders=256", "rate=max;max_orders=256", total, 256);
    run("default, mode=levels", "rate=max;mode=levels", total, 256);
    run("default, mode=quotes", "rate=max;mode=quotes", total, 256);
    return 0;
}
