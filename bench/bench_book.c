/*
 * bench_book.c: order book throughput, latency and memory, with the targets printed beside the figures.
 *
 * (a) Order-level events/s on one core: a seeded synthetic stream shaped like an ITCH/LOBSTER day for a
 *     busy symbol. The book is first filled to ~1M live orders spread around a random-walk mid (deep,
 *     old orders), then a stream of adds (45%), deletes (38%), executions (10%) and partial cancels (7%)
 *     keeps it there. Activity is concentrated at the top: adds land a geometric distance from the mid
 *     (mean ~4 ticks), most deletes hit recently added orders, executions take the front order of the best
 *     level. The stream is generated in chunks by driving a second book (so executions can find the real
 *     front of queue) and only the replay into the measured book is timed. Latency: every 16 events are
 *     timed as a batch with CLOCK_MONOTONIC, giving p50/p99 of ns per event within a batch. Throughput is
 *     reported by thread CPU time (the machine this runs on is shared) and by the wall clock. The same
 *     chunk is then replayed into a twin book with td_obook_prefetch_slot/_order hints 8 and 4 events
 *     ahead, as an engine draining a ring in bursts can do; that figure is printed separately.
 * (b) Price-level updates/s (td_lbook_set, 20% of them level deletes), prices near the top of a ~2000-
 *     level book; the peer is a plain sorted array with binary search and memmove, measured in the same run.
 * (c) Bytes per live order at 1M live orders: td_obook_mem_bytes() / td_obook_norders().
 *
 * Usage: bench_book [seed] [events]; BENCH_PREFILL=n sets the live-order level (default 1M). Fixed seed by
 * default, so runs compare. Takes a few seconds.
 */
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "book/book.h"
#include "core/clock.h"
#include "core/common.h"
#include "core/event.h"
#include "core/rng.h"

enum { EV_ADD, EV_EXEC, EV_CANCEL, EV_DELETE };

typedef struct bev {
    uint32_t id;   /* ids are sequential, as ITCH order reference numbers are */
    int32_t qty;
    int64_t price;
    uint8_t type, side;
} bev_t;

#define CHUNK 262144
#define BATCH 16
#define PF_FAR 8
#define PF_NEAR 4
#define TICK 1000000LL /* 0.01 in the 1e8 scale */

/* ---- stream generator ---- */
typedef struct gen {
    td_rng_t rng;
    td_obook_t *book;     /* the generator's own copy, to find the front of the best queue */
    uint32_t *live;       /* live ids; recent adds sit at the end */
    uint32_t *pos;        /* id -> index in live */
    size_t nlive, cap_ids, target; /* target: the live count the stream hovers at */
    uint32_t next_id;
    int64_t mid;
} gen_t;

static void live_push(gen_t *g, uint32_t id)
{
    g->pos[id] = (uint32_t)g->nlive;
    g->live[g->nlive++] = id;
}

static void live_remove(gen_t *g, uint32_t id)
{
    uint32_t i = g->pos[id], last = g->live[--g->nlive];
    g->live[i] = last;
    g->pos[last] = i;
}

static int64_t add_price(gen_t *g, int side, uint64_t mean_ticks)
{
    /* geometric distance from the mid: most adds at or next to the touch, a thin tail deep in the book */
    double q = (double)mean_ticks / (double)(mean_ticks + 1); /* P(one tick further) */
    double u = 1.0 - td_rng_unit(&g->rng);                       /* (0, 1] */
    uint64_t d = (uint64_t)(log(u) / log(q));
    if (d > 5000) d = 5000;
    return side == TD_BID ? g->mid - (int64_t)(1 + d) * TICK : g->mid + (int64_t)d * TICK;
}

static void gen_add(gen_t *g, bev_t *e, uint64_t mean_ticks)
{
    int side = (int)td_rng_below(&g->rng, 2);
    uint32_t id = g->next_id++;
    *e = (bev_t){.type = EV_ADD, .side = (uint8_t)side, .id = id, .price = add_price(g, side, mean_ticks),
                 .qty = (int32_t)(100 * (1 + td_rng_below(&g->rng, 10)))};
    td_obook_add(g->book, id, side, e->price, e->qty);
    live_push(g, id);
}

static void gen_one(gen_t *g, bev_t *e)
{
    if (td_rng_below(&g->rng, 64) == 0) g->mid += ((int64_t)td_rng_below(&g->rng, 3) - 1) * TICK;
    unsigned x = (unsigned)td_rng_below(&g->rng, 100);
    /* hold the live count near its level: adds a little more likely below it, removals above */
    unsigned add_pct = g->nlive < 1000000 ? 47 : 43;
    if (x < add_pct || g->nlive < 1000) {
        gen_add(g, e, 4);
        return;
    }
    td_order_info_t info;
    if (x < add_pct + 10) {
        /* execution against the front order of the best level of a random side */
        int side = (int)td_rng_below(&g->rng, 2);
        td_level_t lv;
        if (td_lbook_best(td_obook_levels(g->book), side, &lv) == TD_OK &&
            td_obook_orders_at(g->book, side, lv.price, &info, 1) == 1) {
            int64_t q = td_rng_below(&g->rng, 3) ? info.qty : 1 + (int64_t)td_rng_below(&g->rng, (uint64_t)info.qty);
            *e = (bev_t){.type = EV_EXEC, .id = (uint32_t)info.order_id, .qty = (int32_t)q};
            td_obook_exec(g->book, info.order_id, q, NULL);
            if (q == info.qty) live_remove(g, (uint32_t)info.order_id);
            return;
        }
        gen_add(g, e, 4);
        return;
    }
    /* deletes and partial cancels: 85% among the last 2000 adds still live, else anywhere in the book */
    size_t i = td_rng_below(&g->rng, 100) < 85 && g->nlive > 2000 ? g->nlive - 1 - td_rng_below(&g->rng, 2000)
                                                                   : td_rng_below(&g->rng, g->nlive);
    uint32_t id = g->live[i];
    td_obook_get(g->book, id, &info);
    if (x < add_pct + 17 && info.qty > 1) {
        int64_t q = 1 + (int64_t)td_rng_below(&g->rng, (uint64_t)info.qty - 1);
        *e = (bev_t){.type = EV_CANCEL, .id = id, .qty = (int32_t)q};
        td_obook_cancel(g->book, id, q, NULL);
        return;
    }
    *e = (bev_t){.type = EV_DELETE, .id = id};
    td_obook_delete(g->book, id, NULL);
    live_remove(g, id);
}

static inline int apply(td_obook_t *b, const bev_t *e)
{
    switch (e->type) {
    case EV_ADD: return td_obook_add(b, e->id, e->side, e->price, e->qty);
    case EV_EXEC: return td_obook_exec(b, e->id, e->qty, NULL);
    case EV_CANCEL: return td_obook_cancel(b, e->id, e->qty, NULL);
    default: return td_obook_delete(b, e->id, NULL);
    }
}

static int cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return x < y ? -1 : x > y;
}

/* ---- (b) peer: a sorted array per side, binary search + memmove ---- */
typedef struct arr_side { td_level_t *lv; size_t n, cap; } arr_side_t;

static void arr_set(arr_side_t *s, int side, int64_t price, int64_t qty)
{
    /* kept best-first: bids descending, asks ascending, so the best level is lv[0] */
    size_t lo = 0, hi = s->n;
    while (lo < hi) {
        size_t m = (lo + hi) / 2;
        bool before = side == TD_BID ? s->lv[m].price > price : s->lv[m].price < price;
        if (before) lo = m + 1;
        else hi = m;
    }
    bool hit = lo < s->n && s->lv[lo].price == price;
    if (qty == 0) {
        if (hit) memmove(&s->lv[lo], &s->lv[lo + 1], (--s->n - lo) * sizeof *s->lv);
        return;
    }
    if (hit) {
        s->lv[lo].qty = qty;
        return;
    }
    if (s->n == s->cap) {
        s->cap = s->cap ? 2 * s->cap : 1024;
        s->lv = td_realloc(s->lv, s->cap * sizeof *s->lv);
    }
    memmove(&s->lv[lo + 1], &s->lv[lo], (s->n - lo) * sizeof *s->lv);
    s->lv[lo] = (td_level_t){.price = price, .qty = qty};
    s->n++;
}

typedef struct l2ev { int64_t price, qty; int side; } l2ev_t;

static void bench_levels(uint64_t seed)
{
    enum { N = 2000000, DEPTH = 2000 };
    td_rng_t rng;
    td_rng_seed(&rng, seed ^ 0x5eed);
    l2ev_t *ev = td_malloc(N * sizeof *ev);
    int64_t mid = 100000 * TICK;
    for (size_t i = 0; i < N; i++) {
        if (td_rng_below(&rng, 64) == 0) mid += ((int64_t)td_rng_below(&rng, 3) - 1) * TICK;
        int side = (int)td_rng_below(&rng, 2);
        uint64_t d = 0;
        while (td_rng_below(&rng, 9) != 0 && d < DEPTH) d++; /* mean ~8 ticks from the mid */
        ev[i].side = side;
        ev[i].price = side == TD_BID ? mid - (int64_t)(1 + d) * TICK : mid + (int64_t)d * TICK;
        ev[i].qty = td_rng_below(&rng, 5) == 0 ? 0 : (int64_t)(1 + td_rng_below(&rng, 1000)) * 100;
    }
    /* both books start with DEPTH levels a side */
    td_lbook_t *b = td_lbook_create();
    arr_side_t arr[2] = {{0}};
    for (int64_t d = 0; d < DEPTH; d++) {
        td_lbook_set(b, TD_BID, mid - (1 + d) * TICK, 500);
        td_lbook_set(b, TD_ASK, mid + d * TICK, 500);
        arr_set(&arr[TD_BID], TD_BID, mid - (1 + d) * TICK, 500);
        arr_set(&arr[TD_ASK], TD_ASK, mid + d * TICK, 500);
    }
    int64_t t0 = td_thread_cpu_ns();
    for (size_t i = 0; i < N; i++) td_lbook_set(b, ev[i].side, ev[i].price, ev[i].qty);
    int64_t t1 = td_thread_cpu_ns();
    for (size_t i = 0; i < N; i++) arr_set(&arr[ev[i].side], ev[i].side, ev[i].price, ev[i].qty);
    int64_t t2 = td_thread_cpu_ns();
    /* the two must agree, or the comparison means nothing */
    td_level_t lv;
    td_lbook_best(b, TD_BID, &lv);
    bool same = td_lbook_nlevels(b, TD_BID) == arr[TD_BID].n && td_lbook_nlevels(b, TD_ASK) == arr[TD_ASK].n &&
                lv.price == arr[TD_BID].lv[0].price;
    double ours = N / ((t1 - t0) / 1e9), peer = N / ((t2 - t1) / 1e9);
    printf("(b) price-level updates: %.1f M/s (%.1f ns/update, thread CPU time), %zu+%zu levels at the end\n", ours / 1e6,
           (t1 - t0) / (double)N, td_lbook_nlevels(b, TD_BID), td_lbook_nlevels(b, TD_ASK));
    printf("    peer, sorted array + memmove: %.1f M/s (%.1f ns/update)%s\n", peer / 1e6, (t2 - t1) / (double)N,
           same ? "" : "  [MISMATCH: books differ]");
    td_lbook_destroy(b);
    td_free(arr[0].lv);
    td_free(arr[1].lv);
    td_free(ev);
}

int main(int argc, char **argv)
{
    uint64_t seed = argc > 1 ? strtoull(argv[1], NULL, 0) : 20260101;
    size_t nevents = argc > 2 ? strtoull(argv[2], NULL, 0) : 6000000;
    size_t prefill = getenv("BENCH_PREFILL") ? strtoull(getenv("BENCH_PREFILL"), NULL, 0) : 1000000;
    printf("bench_book: seed %" PRIu64 ", %zu events after a %zu-order prefill\n", seed, nevents, prefill);

    gen_t g = {0};
    td_rng_seed(&g.rng, seed);
    g.cap_ids = prefill + nevents + 16;
    g.live = td_malloc(g.cap_ids * sizeof *g.live);
    g.pos = td_malloc(g.cap_ids * sizeof *g.pos);
    g.book = td_obook_create();
    g.mid = 100000 * TICK;
    g.next_id = 1;
    g.target = prefill;
    td_obook_t *b = td_obook_create();
    td_obook_t *bp = td_obook_create(); /* twin of b, fed the same stream with prefetch hints */
    bev_t *chunk = td_malloc(CHUNK * sizeof *chunk);

    /* prefill: a deep book (mean 300 ticks from the mid), not timed */
    for (size_t done = 0; done < prefill;) {
        size_t n = prefill - done < CHUNK ? prefill - done : CHUNK;
        for (size_t i = 0; i < n; i++) gen_add(&g, &chunk[i], 300);
        for (size_t i = 0; i < n; i++) apply(b, &chunk[i]);
        for (size_t i = 0; i < n; i++) apply(bp, &chunk[i]);
        done += n;
    }
    size_t mem = td_obook_mem_bytes(b), norders = td_obook_norders(b);
    const td_lbook_t *lv = td_obook_levels(b);
    printf("(c) memory at %zu live orders, %zu+%zu levels: %.1f bytes/order   (target <= 64 B/order)\n", norders,
           td_lbook_nlevels(lv, TD_BID), td_lbook_nlevels(lv, TD_ASK), (double)mem / (double)norders);

    size_t nbatches = nevents / BATCH + CHUNK / BATCH + 1, nb = 0;
    uint32_t *batch_ns = td_malloc(nbatches * sizeof *batch_ns);
    int64_t timed = 0, timed_cpu = 0, timed_pf = 0;
    size_t counts[4] = {0}, errors = 0, level_churn = 0;
    for (size_t done = 0; done < nevents;) {
        size_t n = nevents - done < CHUNK ? nevents - done : CHUNK;
        n -= n % BATCH;
        if (n == 0) break;
        const td_lbook_t *glv = td_obook_levels(g.book);
        for (size_t i = 0; i < n; i++) {
            size_t l0 = td_lbook_nlevels(glv, TD_BID) + td_lbook_nlevels(glv, TD_ASK);
            gen_one(&g, &chunk[i]);
            size_t l1 = td_lbook_nlevels(glv, TD_BID) + td_lbook_nlevels(glv, TD_ASK);
            level_churn += l0 != l1;
        }
        for (size_t i = 0; i < n; i++) counts[chunk[i].type]++;
        int64_t cpu0 = td_thread_cpu_ns(), c0 = td_mono_ns(), prev = c0;
        for (size_t i = 0; i < n; i += BATCH) {
            for (size_t j = 0; j < BATCH; j++) errors += apply(b, &chunk[i + j]) < 0;
            int64_t now = td_mono_ns();
            batch_ns[nb++] = (uint32_t)(now - prev);
            prev = now;
        }
        timed += prev - c0;
        timed_cpu += td_thread_cpu_ns() - cpu0;
        /* the same chunk again into the twin book, with prefetch hints 8 and 4 events ahead */
        int64_t p0 = td_thread_cpu_ns();
        for (size_t i = 0; i < n; i++) {
            if (i + PF_FAR < n) td_obook_prefetch_slot(bp, chunk[i + PF_FAR].id);
            if (i + PF_NEAR < n) td_obook_prefetch_order(bp, chunk[i + PF_NEAR].id);
            errors += apply(bp, &chunk[i]) < 0;
        }
        timed_pf += td_thread_cpu_ns() - p0;
        done += n;
    }
    size_t total = counts[0] + counts[1] + counts[2] + counts[3];
    double rate = (double)total / (timed_cpu / 1e9), wall_rate = (double)total / (timed / 1e9);
    qsort(batch_ns, nb, sizeof *batch_ns, cmp_u32);
    double p50 = batch_ns[nb / 2] / (double)BATCH, p99 = batch_ns[nb * 99 / 100] / (double)BATCH;
    double p999 = batch_ns[nb * 999 / 1000] / (double)BATCH;
    printf("(a) order-level events: %.1f M events/s on one core (%.1f ns/event, thread CPU time)   (target >= 10M events/s)\n",
           rate / 1e6, timed_cpu / (double)total);
    printf("    by the wall clock: %.1f M events/s (includes time the shared machine ran others)\n", wall_rate / 1e6);
    printf("    with prefetch hints %d and %d events ahead (td_obook_prefetch_*): %.1f M events/s (%.1f ns/event)\n",
           PF_FAR, PF_NEAR, total / (timed_pf / 1e9) / 1e6, timed_pf / (double)total);
    printf("    ns/event over %d-event batches: p50 %.1f, p99 %.1f, p99.9 %.1f\n", BATCH, p50, p99, p999);
    printf("    mix: add %.1f%%, exec %.1f%%, cancel %.1f%%, delete %.1f%%; %zu live orders at the end; %zu errors%s\n",
           100.0 * counts[EV_ADD] / total, 100.0 * counts[EV_EXEC] / total, 100.0 * counts[EV_CANCEL] / total,
           100.0 * counts[EV_DELETE] / total, td_obook_norders(b), errors, errors ? "  [UNEXPECTED]" : "");
    printf("    %.1f%% of events created or removed a price level\n", 100.0 * level_churn / total);
    mem = td_obook_mem_bytes(b);
    norders = td_obook_norders(b);
    printf("    memory after the stream: %.1f bytes/order at %zu orders   (target <= 64 B/order)\n",
           (double)mem / (double)norders, norders);

    bench_levels(seed);

    td_obook_destroy(b);
    td_obook_destroy(bp);
    td_obook_destroy(g.book);
    td_free(chunk);
    td_free(batch_ns);
    td_free(g.live);
    td_free(g.pos);
    return errors ? 1 : 0;
}
