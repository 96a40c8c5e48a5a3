/*
 * recent.c: single-writer rings of recent trades and closed candles (see recent.h for the protocol).
 */
#include "api/recent.h"

#include <stdatomic.h>
#include <string.h>

#include "core/common.h"
#include "core/symbols.h"

typedef struct ring {
    _Atomic uint64_t intent; /* index + 1 of the slot being (or last) written */
    _Atomic uint64_t pos;    /* slots fully written */
    size_t cap, size;        /* slots, bytes per slot (a multiple of 8) */
    uint64_t words[];
} ring_t;

typedef struct symrings {
    _Atomic(ring_t *) ticks;
    _Atomic(ring_t *) candles[TD_IV_COUNT];
} symrings_t;

struct td_recent {
    _Atomic(symrings_t *) *syms; /* TD_SYM_MAX + 1 */
};

td_recent_t *td_recent_create(void)
{
    td_recent_t *r = td_calloc(1, sizeof *r);
    r->syms = td_calloc(TD_SYM_MAX + 1, sizeof *r->syms);
    return r;
}

void td_recent_destroy(td_recent_t *r)
{
    if (!r) return;
    for (uint32_t i = 0; i <= TD_SYM_MAX; i++) {
        symrings_t *s = atomic_load_explicit(&r->syms[i], memory_order_relaxed);
        if (!s) continue;
        td_free(atomic_load_explicit(&s->ticks, memory_order_relaxed));
        for (int k = 0; k < TD_IV_COUNT; k++) td_free(atomic_load_explicit(&s->candles[k], memory_order_relaxed));
        td_free(s);
    }
    td_free(r->syms);
    td_free(r);
}

static ring_t *ring_new(size_t cap, size_t size)
{
    ring_t *g = td_calloc(1, sizeof *g + cap * size);
    g->cap = cap;
    g->size = size;
    return g;
}

static void ring_put(ring_t *g, const void *rec)
{
    uint64_t p = atomic_load_explicit(&g->pos, memory_order_relaxed);
    atomic_store_explicit(&g->intent, p + 1, memory_order_relaxed);
    atomic_thread_fence(memory_order_release); /* intent is visible before any slot word changes */
    _Atomic uint64_t *dst = (_Atomic uint64_t *)(void *)((char *)g->words + (p % g->cap) * g->size);
    const uint64_t *src = rec;
    for (size_t i = 0; i < g->size / 8; i++) atomic_store_explicit(&dst[i], src[i], memory_order_relaxed);
    atomic_store_explicit(&g->pos, p + 1, memory_order_release);
}

static void slot_copy(const ring_t *g, uint64_t idx, void *out)
{
    const _Atomic uint64_t *src = (const _Atomic uint64_t *)(const void *)((const char *)g->words + (idx % g->cap) * g->size);
    uint64_t *dst = out;
    for (size_t i = 0; i < g->size / 8; i++) dst[i] = atomic_load_explicit(&src[i], memory_order_relaxed);
}

/* Is slot idx (already copied) still intact? */
static bool slot_ok(const ring_t *g, uint64_t idx)
{
    atomic_thread_fence(memory_order_acquire);
    uint64_t intent = atomic_load_explicit(&((ring_t *)g)->intent, memory_order_relaxed);
    return intent <= idx + g->cap;
}

static symrings_t *sym_rings(td_recent_t *r, uint32_t sym)
{
    symrings_t *s = atomic_load_explicit(&r->syms[sym], memory_order_relaxed);
    if (!s) {
        s = td_calloc(1, sizeof *s);
        atomic_store_explicit(&r->syms[sym], s, memory_order_release);
    }
    return s;
}

void td_recent_add(td_recent_t *r, const td_out_t *o)
{
    if (o->sym == 0 || o->sym > TD_SYM_MAX) return;
    if (o->type == TD_OUT_TRADE) {
        symrings_t *s = sym_rings(r, o->sym);
        ring_t *g = atomic_load_explicit(&s->ticks, memory_order_relaxed);
        if (!g) {
            g = ring_new(TD_RECENT_TICKS, sizeof(td_recent_tick_t));
            atomic_store_explicit(&s->ticks, g, memory_order_release);
        }
        td_recent_tick_t t;
        memset(&t, 0, sizeof t);
        t.exch_ns = o->exch_ns;
        t.recv_ns = o->recv_ns;
        t.price = o->u.trade.price;
        t.qty = o->u.trade.qty;
        t.seq = o->seq;
        t.trade_id = o->u.trade.trade_id;
        t.exch = o->exch;
        t.side = o->side;
        ring_put(g, &t);
    } else if (o->type == TD_OUT_CANDLE && o->aux < TD_IV_COUNT) {
        symrings_t *s = sym_rings(r, o->sym);
        ring_t *g = atomic_load_explicit(&s->candles[o->aux], memory_order_relaxed);
        if (!g) {
            g = ring_new(TD_RECENT_CANDLES, sizeof(td_candle_t));
            atomic_store_explicit(&s->candles[o->aux], g, memory_order_release);
        }
        ring_put(g, &o->u.candle);
    }
}

static const symrings_t *get_rings(const td_recent_t *r, uint32_t sym)
{
    if (sym == 0 || sym > TD_SYM_MAX) return NULL;
    return atomic_load_explicit(&r->syms[sym], memory_order_acquire);
}

size_t td_recent_ticks(const td_recent_t *r, uint32_t sym, int64_t from_ns, int64_t to_ns, td_recent_tick_t *out,
                       size_t max, bool *complete)
{
    return td_recent_ticks_after(r, sym, 0, from_ns, to_ns, out, max, complete, NULL);
}

size_t td_recent_ticks_after(const td_recent_t *r, uint32_t sym, uint64_t after_seq, int64_t from_ns, int64_t to_ns,
                             td_recent_tick_t *out, size_t max, bool *complete, bool *holds_after)
{
    bool holds = true;
    *complete = true;
    const symrings_t *s = get_rings(r, sym);
    const ring_t *g = s ? atomic_load_explicit(&s->ticks, memory_order_acquire) : NULL;
    size_t n = 0;
    if (g) {
        uint64_t pos = atomic_load_explicit(&((ring_t *)g)->pos, memory_order_acquire);
        uint64_t lo = pos > g->cap ? pos - g->cap : 0;
        bool dropped = lo > 0; /* trades older than slot lo were overwritten */
        bool first = true;
        for (uint64_t i = lo; i < pos; i++) {
            td_recent_tick_t t;
            slot_copy(g, i, &t);
            if (!slot_ok(g, i)) {
                /* overwritten under us: everything read so far is older still, so drop it too (the answer
                 * stays one contiguous run, never a run with a hole); the next intact slot is the oldest */
                *complete = false;
                dropped = true;
                first = true;
                n = 0;
                continue;
            }
            if (first) {
                first = false;
                if (lo > 0 && t.exch_ns > from_ns) *complete = false;
                /* trades are added in seq order: all the lost ones are older than this one */
                holds = !dropped || t.seq <= after_seq;
            }
            if (t.seq <= after_seq || t.exch_ns < from_ns || t.exch_ns > to_ns) continue;
            if (n == max) break;
            out[n++] = t;
        }
    }
    if (holds_after) *holds_after = holds;
    return n;
}

size_t td_recent_candles(const td_recent_t *r, uint32_t sym, td_interval_t iv, int64_t from_s, int64_t to_s,
                         td_candle_t *out, size_t max, bool *complete, int64_t *last_closed_end_s)
{
    *complete = true;
    *last_closed_end_s = 0;
    const symrings_t *s = get_rings(r, sym);
    const ring_t *g = s && iv < TD_IV_COUNT ? atomic_load_explicit(&s->candles[iv], memory_order_acquire) : NULL;
    if (!g) return 0;
    uint64_t pos = atomic_load_explicit(&((ring_t *)g)->pos, memory_order_acquire);
    if (pos == 0) return 0;
    td_candle_t last;
    slot_copy(g, pos - 1, &last);
    if (slot_ok(g, pos - 1)) *last_closed_end_s = td_interval_start(iv, last.time) + td_interval_secs(iv);
    if (iv == TD_IV_1W) *last_closed_end_s = last.time + 7 * 86400;
    uint64_t lo = pos > g->cap ? pos - g->cap : 0;
    size_t n = 0;
    bool first = true;
    for (uint64_t i = lo; i < pos && n < max; i++) {
        td_candle_t c;
        slot_copy(g, i, &c);
        if (!slot_ok(g, i)) {
            /* overwritten under us: everything read so far is older still, so drop it too (the answer
             * stays one contiguous run, never a run with a hole) */
            *complete = false;
            n = 0;
            continue;
        }
        if (first) {
            first = false;
            if (lo > 0 && c.time > from_s) *complete = false;
        }
        if (c.time < from_s) continue;
        if (c.time > to_s) break;
        out[n++] = c;
    }
    return n;
}
