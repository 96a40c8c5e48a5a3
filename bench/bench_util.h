/*
 * bench_util.h: loading the shared sample data into memory for the benchmarks (header-only: each bench is
 * one program built from one .c file, see CMakeLists.txt).
 *
 *   bench_shared_data()   $TD_SHARED_DATA, else ../shared/data (relative to the current directory)
 *   bench_load_source()   up to `want` events of a td_source_open() spec into a malloc'd array
 *   bench_merge_by_time() two streams into one in exchange-time order (stable: a before b on ties)
 *   bench_loop_events()   a stream copied round after round to a length: round k gets fresh order ids
 *                         (+ k << 40, new_order_id too when non-zero), exch_ns + k * shift_ns and src_seq
 *                         continuing per symbol (+ k * the symbol's largest src_seq in the base stream)
 * Looping is what makes a 1-day sample file a 10 M event benchmark; the fresh ids keep the books working
 * (the LOBSTER source opens every round with a BOOK_CLEAR and its snapshot), the time shift puts each round
 * in its own UTC day (its own store partition, like real history) when shift_ns is a day.
 * Single-threaded; exits the program on out of memory (benchmarks only).
 */
#ifndef TD_BENCH_UTIL_H
#define TD_BENCH_UTIL_H

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/event.h"
#include "feed/source.h"

/* $TD_SHARED_DATA, else the shared/data beside the project checkout: found from the current directory (the
 * checkout, build/ or build/bench/) or from the executable's own path (build/bench/X). */
static inline const char *bench_shared_data(void)
{
    const char *d = getenv("TD_SHARED_DATA");
    if (d && *d) return d;
    static char found[1024];
    static const char *rel[] = { "../shared/data", "../../shared/data", "../../../shared/data" };
    for (size_t i = 0; i < sizeof rel / sizeof rel[0]; i++)
        if (access(rel[i], R_OK) == 0) return rel[i];
    char exe[900];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n > 0) {
        exe[n] = '\0';
        char *slash = strstr(exe, "/build");
        if (slash) {
            *slash = '\0';
            snprintf(found, sizeof found, "%s/../shared/data", exe);
            if (access(found, R_OK) == 0) return found;
        }
    }
    return "../shared/data";
}

static inline void *bench_alloc(size_t bytes)
{
    void *p = malloc(bytes ? bytes : 1);
    if (!p) {
        fprintf(stderr, "bench: out of memory (%zu bytes)\n", bytes);
        exit(1);
    }
    return p;
}

/* NULL (with the reason on stderr, prefixed by who) if the source does not open. The array grows as the
 * source delivers, so `want` may be far above what a file holds. */
static inline td_event_t *bench_load_source(const char *who, const char *spec, size_t want, size_t *got)
{
    char err[256];
    *got = 0;
    td_source_t *src = td_source_open(spec, err, sizeof err);
    if (!src) {
        fprintf(stderr, "%s: %s: %s\n", who, spec, err);
        return NULL;
    }
    size_t cap = want < 65536 ? want : 65536, n = 0;
    td_event_t *evs = bench_alloc(cap * sizeof *evs);
    while (n < want) {
        if (n == cap) {
            cap = cap * 2 < want ? cap * 2 : want;
            evs = realloc(evs, cap * sizeof *evs);
            if (!evs) {
                fprintf(stderr, "%s: out of memory\n", who);
                exit(1);
            }
        }
        int k = src->next(src, evs + n, cap - n < 256 ? cap - n : 256);
        if (k <= 0) break;
        n += (size_t)k;
    }
    td_source_destroy(src);
    *got = n;
    return evs;
}

static inline td_event_t *bench_merge_by_time(const td_event_t *a, size_t na, const td_event_t *b, size_t nb)
{
    td_event_t *out = bench_alloc((na + nb) * sizeof *out);
    size_t i = 0, j = 0, k = 0;
    while (i < na && j < nb) out[k++] = b[j].exch_ns < a[i].exch_ns ? b[j++] : a[i++];
    while (i < na) out[k++] = a[i++];
    while (j < nb) out[k++] = b[j++];
    return out;
}

static inline bool bench_is_order_event(uint8_t type)
{
    return type >= TD_EV_ORDER_ADD && type <= TD_EV_ORDER_REPLACE;
}

/* Fills out[0..total) from base[0..nbase) (nbase > 0) round after round (see the top of the file). */
static inline void bench_loop_events(const td_event_t *base, size_t nbase, td_event_t *out, size_t total,
                                     int64_t shift_ns)
{
    enum { MAX_SYMS = 64 };
    uint32_t syms[MAX_SYMS];
    uint64_t span[MAX_SYMS], span_all = 0;
    int nsyms = 0;
    for (size_t i = 0; i < nbase; i++) {
        int k = 0;
        while (k < nsyms && syms[k] != base[i].sym) k++;
        if (k == nsyms && nsyms < MAX_SYMS) syms[nsyms] = base[i].sym, span[nsyms++] = 0;
        if (k < nsyms && base[i].src_seq > span[k]) span[k] = base[i].src_seq;
        if (base[i].src_seq > span_all) span_all = base[i].src_seq;
    }
    int last = 0; /* the symbol of the previous event: streams come in runs of one symbol */
    for (size_t i = 0; i < total; i++) {
        const td_event_t *b = &base[i % nbase];
        uint64_t round = i / nbase;
        td_event_t *e = &out[i];
        *e = *b;
        if (round == 0) continue;
        if (bench_is_order_event(e->type)) {
            if (e->u.order.order_id) e->u.order.order_id += round << 40;
            if (e->u.order.new_order_id) e->u.order.new_order_id += round << 40;
        }
        e->exch_ns += (int64_t)round * shift_ns;
        if (syms[last] != b->sym) {
            last = 0;
            while (last < nsyms && syms[last] != b->sym) last++;
        }
        e->src_seq += round * (last < nsyms ? span[last] : span_all);
        if (last >= nsyms) last = 0;
    }
}

#endif
