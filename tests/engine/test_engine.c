/* test_engine.c: the engine end to end on hand-built event streams: NBBO across exchanges (normal,
 * locked, crossed, stale while a gap is open, fresh after resync), trades into candles and day stats,
 * snapshot (BOOK_CLEAR .. RESYNC) without intermediate NBBOs, per-symbol seq only growing, and the
 * seqlock snapshot read from another thread while the engine runs. */
#include "testutil.h"

#include <pthread.h>
#include <string.h>

#include "core/clock.h"
#include "core/common.h"
#include "core/decimal.h"
#include "core/ring.h"
#include "core/rng.h"
#include "core/symbols.h"
#include "engine/engine.h"

#define PX(x) ((int64_t)((x) * 100) * 1000000LL) /* dollars with 2 decimals to scaled */
#define Q(x) ((int64_t)(x) * TD_QTY_SCALE)

typedef struct {
    td_out_t outs[4096];
    size_t n;
    uint64_t last_seq[TD_SYM_MAX + 1];
} sink_t;

static void collect(void *ctx, const td_out_t *o)
{
    sink_t *s = ctx;
    /* the invariant every consumer relies on */
    if (o->seq <= s->last_seq[o->sym]) fail_msg("seq went from %llu to %llu", (unsigned long long)s->last_seq[o->sym],
                                                (unsigned long long)o->seq);
    s->last_seq[o->sym] = o->seq;
    if (s->n < TD_ARRAY_LEN(s->outs)) s->outs[s->n++] = *o;
}

static td_event_t ev_base(td_ev_type_t type, uint32_t sym, uint8_t exch, int64_t t_ms)
{
    td_event_t ev;
    memset(&ev, 0, sizeof ev);
    ev.type = (uint8_t)type;
    ev.sym = sym;
    ev.exch = exch;
    ev.exch_ns = t_ms * TD_NS_PER_MS;
    ev.recv_ns = ev.exch_ns + 1000;
    return ev;
}

static td_event_t add(uint32_t sym, uint8_t exch, int64_t t, uint64_t id, int side, int64_t px, int64_t qty)
{
    td_event_t ev = ev_base(TD_EV_ORDER_ADD, sym, exch, t);
    ev.side = (uint8_t)side;
    ev.u.order.order_id = id;
    ev.u.order.price = px;
    ev.u.order.qty = qty;
    return ev;
}

static const td_out_t *last_of(const sink_t *s, td_out_type_t type)
{
    for (size_t i = s->n; i > 0; i--)
        if (s->outs[i - 1].type == type) return &s->outs[i - 1];
    return NULL;
}

static size_t count_of(const sink_t *s, td_out_type_t type)
{
    size_t n = 0;
    for (size_t i = 0; i < s->n; i++) n += s->outs[i].type == type;
    return n;
}

static void test_nbbo_states(void **state)
{
    (void)state;
    static sink_t sink;
    memset(&sink, 0, sizeof sink);
    td_engine_config_t cfg = { .emit = collect, .emit_ctx = &sink };
    td_engine_t *e = td_engine_create(&cfg);
    uint32_t sym = td_sym_intern("ENGA", 4);
    uint8_t nyse = td_exch_intern("NYSE", 4), nasdaq = td_exch_intern("NASDAQ", 6);
    int64_t t = 1700000000000;

    td_event_t evs[] = {
        add(sym, nyse, t, 1, TD_BID, PX(100.00), Q(100)),
        add(sym, nyse, t, 2, TD_ASK, PX(100.05), Q(200)),
        add(sym, nasdaq, t, 1, TD_BID, PX(100.01), Q(300)), /* same id on another exchange: its own book */
        add(sym, nasdaq, t, 2, TD_ASK, PX(100.04), Q(400)),
    };
    for (size_t i = 0; i < TD_ARRAY_LEN(evs); i++) td_engine_apply(e, &evs[i]);
    const td_out_t *n = last_of(&sink, TD_OUT_NBBO);
    assert_non_null(n);
    assert_int_equal(n->u.nbbo.bid_px, PX(100.01));
    assert_int_equal(n->u.nbbo.bid_exch, nasdaq);
    assert_int_equal(n->u.nbbo.ask_px, PX(100.04));
    assert_int_equal(n->u.nbbo.ask_qty, Q(400));
    assert_int_equal(n->u.nbbo.state, TD_NBBO_NORMAL);

    /* a change below the top publishes nothing */
    size_t before = count_of(&sink, TD_OUT_NBBO);
    td_event_t deep = add(sym, nyse, t, 3, TD_BID, PX(99.00), Q(100));
    td_engine_apply(e, &deep);
    assert_int_equal(count_of(&sink, TD_OUT_NBBO), before);

    /* NYSE bids at NASDAQ's ask: locked; then above it: crossed */
    td_event_t lock = add(sym, nyse, t + 1, 4, TD_BID, PX(100.04), Q(50));
    td_engine_apply(e, &lock);
    assert_int_equal(last_of(&sink, TD_OUT_NBBO)->u.nbbo.state, TD_NBBO_LOCKED);
    td_event_t cross = add(sym, nyse, t + 2, 5, TD_BID, PX(100.04) + TD_PX_SCALE / 200, Q(50)); /* 100.045 */
    td_engine_apply(e, &cross);
    n = last_of(&sink, TD_OUT_NBBO);
    assert_int_equal(n->u.nbbo.state, TD_NBBO_CROSSED);
    assert_int_equal(n->u.nbbo.bid_exch, nyse);

    /* a gap on NASDAQ: stale once, then silence while NYSE moves, then fresh after the resync */
    td_event_t gap = ev_base(TD_EV_GAP, sym, nasdaq, t + 3);
    gap.u.gap.expected = 10;
    gap.u.gap.received = 12;
    td_engine_apply(e, &gap);
    assert_int_equal(last_of(&sink, TD_OUT_NBBO)->u.nbbo.state, TD_NBBO_STALE);
    assert_int_equal(last_of(&sink, TD_OUT_GAP)->u.gap.expected, 10);
    before = count_of(&sink, TD_OUT_NBBO);
    td_event_t del = ev_base(TD_EV_ORDER_DELETE, sym, nyse, t + 4);
    del.u.order.order_id = 5;
    td_engine_apply(e, &del);
    assert_int_equal(count_of(&sink, TD_OUT_NBBO), before); /* nothing while stale */

    /* NASDAQ resyncs with a new book: clear, snapshot, resync; only the final NBBO is published */
    td_event_t clr = ev_base(TD_EV_BOOK_CLEAR, sym, nasdaq, t + 5);
    td_engine_apply(e, &clr);
    td_event_t s1 = add(sym, nasdaq, t + 5, 7, TD_BID, PX(99.50), Q(10));
    td_event_t s2 = add(sym, nasdaq, t + 5, 8, TD_ASK, PX(100.10), Q(20));
    s1.flags = s2.flags = TD_EVF_SNAPSHOT;
    td_engine_apply(e, &s1);
    td_engine_apply(e, &s2);
    assert_int_equal(count_of(&sink, TD_OUT_NBBO), before);
    td_event_t rs = ev_base(TD_EV_RESYNC, sym, nasdaq, t + 6);
    td_engine_apply(e, &rs);
    n = last_of(&sink, TD_OUT_NBBO);
    assert_int_equal(count_of(&sink, TD_OUT_NBBO), before + 1);
    /* NYSE: bids 100.04 (id 4), 100.00, 99.00, ask 100.05; NASDAQ now 99.50 / 100.10 */
    assert_int_equal(n->u.nbbo.state, TD_NBBO_NORMAL);
    assert_int_equal(n->u.nbbo.bid_px, PX(100.04));
    assert_int_equal(n->u.nbbo.bid_exch, nyse);
    assert_int_equal(n->u.nbbo.ask_px, PX(100.05));
    assert_int_equal(n->u.nbbo.ask_exch, nyse);
    assert_int_equal(last_of(&sink, TD_OUT_RESYNC)->exch, nasdaq);
    td_engine_destroy(e);
}

static void test_trades_candles_daystats(void **state)
{
    (void)state;
    static sink_t sink;
    memset(&sink, 0, sizeof sink);
    td_engine_config_t cfg = { .emit = collect, .emit_ctx = &sink };
    td_engine_t *e = td_engine_create(&cfg);
    uint32_t sym = td_sym_intern("ENGB", 4);
    uint8_t x = td_exch_intern("NYSE", 4);
    int64_t t0 = 1700000040000; /* 2023-11-14T22:14:00Z: a minute boundary */

    td_event_t a = add(sym, x, t0, 1, TD_ASK, PX(10.00), Q(1000));
    td_engine_apply(e, &a);
    /* executions of the resting ask are trades at its price, buyer-initiated */
    for (int i = 0; i < 3; i++) {
        td_event_t ex = ev_base(TD_EV_ORDER_EXEC, sym, x, t0 + 1000 * i);
        ex.u.order.order_id = 1;
        ex.u.order.qty = Q(100);
        td_engine_apply(e, &ex);
    }
    const td_out_t *tr = last_of(&sink, TD_OUT_TRADE);
    assert_non_null(tr);
    assert_int_equal(tr->u.trade.price, PX(10.00));
    assert_int_equal(tr->side, TD_BID);
    /* a plain trade in the next minute closes the 1s, 10s and 1m candles that held the executions */
    td_event_t t = ev_base(TD_EV_TRADE, sym, x, t0 + 60000);
    t.u.trade.price = PX(11.00);
    t.u.trade.qty = Q(5);
    td_engine_apply(e, &t);
    const td_out_t *c1m = NULL;
    for (size_t i = 0; i < sink.n; i++)
        if (sink.outs[i].type == TD_OUT_CANDLE && sink.outs[i].aux == TD_IV_1M) c1m = &sink.outs[i];
    assert_non_null(c1m);
    assert_int_equal(c1m->u.candle.time, t0 / 1000);
    assert_int_equal(c1m->u.candle.open, PX(10.00));
    assert_int_equal(c1m->u.candle.trade_count, 3);
    assert_true(c1m->u.candle.volume == (td_vol_t)Q(300));
    /* a NONPRINT execution reduces the book but is not a trade */
    size_t trades = count_of(&sink, TD_OUT_TRADE);
    td_event_t np = ev_base(TD_EV_ORDER_EXEC, sym, x, t0 + 61000);
    np.u.order.order_id = 1;
    np.u.order.qty = Q(100);
    np.flags = TD_EVF_NONPRINT;
    td_engine_apply(e, &np);
    assert_int_equal(count_of(&sink, TD_OUT_TRADE), trades);
    td_order_info_t info;
    assert_int_equal(td_obook_get(td_engine_obook(e, sym, x), 1, &info), TD_OK);
    assert_int_equal(info.qty, Q(600));

    td_engine_flush(e);
    td_sym_snap_t snap;
    assert_true(td_engine_snapshot(e, sym, &snap));
    assert_int_equal(snap.last_px, PX(11.00));
    assert_int_equal(snap.day_high, PX(11.00));
    assert_int_equal(snap.day_low, PX(10.00));
    assert_int_equal(snap.day_open, PX(10.00));
    assert_true(snap.day_volume == (td_vol_t)Q(305));
    assert_int_equal(snap.trades, 4);
    assert_true(snap.candle_mask & (1u << TD_IV_1M));
    assert_int_equal(snap.candles[TD_IV_1M].open, PX(11.00));
    assert_int_equal(snap.seq, sink.last_seq[sym]);

    /* unknown symbol id and unknown order are counted, not fatal */
    td_event_t bad = ev_base(TD_EV_ORDER_DELETE, sym, x, t0);
    bad.u.order.order_id = 999;
    td_engine_apply(e, &bad);
    assert_true(atomic_load(&td_engine_stats(e)->unknown_orders) >= 1);
    td_engine_destroy(e);
}

/* Random order traffic on several symbols from a producer thread through a ring into the running
 * engine, while this thread reads snapshots: seq only grows per symbol (checked in the sink, which runs
 * on the engine thread), snapshots are never torn (their seq never goes back, their NBBO is consistent). */
typedef struct { td_spsc_t *ring; uint64_t seed; int n; uint32_t syms[4]; uint8_t exch[3]; } feed_ctx_t;

static void *feeder(void *arg)
{
    feed_ctx_t *f = arg;
    td_rng_t rng;
    td_rng_seed(&rng, f->seed);
    uint64_t next_id = 1;
    for (int i = 0; i < f->n; i++) {
        td_event_t ev;
        uint32_t sym = f->syms[td_rng_below(&rng, 4)];
        uint8_t ex = f->exch[td_rng_below(&rng, 3)];
        int side = (int)td_rng_below(&rng, 2);
        int64_t px = PX(100) + (side == TD_BID ? -1 : 1) * (int64_t)(1 + td_rng_below(&rng, 50)) * 1000000;
        if (td_rng_below(&rng, 10) < 6 || next_id < 10) {
            ev = add(sym, ex, 1700000000000 + i, next_id++, side, px, Q(1 + td_rng_below(&rng, 9)));
        } else {
            ev = ev_base(td_rng_below(&rng, 2) ? TD_EV_ORDER_DELETE : TD_EV_ORDER_EXEC, sym, ex, 1700000000000 + i);
            ev.u.order.order_id = 1 + td_rng_below(&rng, next_id - 1);
            ev.u.order.qty = Q(1);
        }
        td_spsc_push_wait(f->ring, &ev, NULL);
    }
    return NULL;
}

static void test_threaded_snapshots(void **state)
{
    (void)state;
    static sink_t sink;
    memset(&sink, 0, sizeof sink);
    td_engine_config_t cfg = { .emit = collect, .emit_ctx = &sink };
    td_engine_t *e = td_engine_create(&cfg);
    feed_ctx_t f = { td_spsc_create(4096, sizeof(td_event_t)), td_test_seed(), td_test_sanitized() ? 50000 : 400000,
                     { td_sym_intern("THA", 3), td_sym_intern("THB", 3), td_sym_intern("THC", 3), td_sym_intern("THD", 3) },
                     { td_exch_intern("NYSE", 4), td_exch_intern("NASDAQ", 6), td_exch_intern("ARCA", 4) } };
    td_engine_add_input(e, f.ring);
    assert_int_equal(td_engine_start(e), TD_OK);
    pthread_t t;
    pthread_create(&t, NULL, feeder, &f);
    uint64_t last_seq[4] = { 0 };
    for (int round = 0; round < 20000; round++) {
        for (int k = 0; k < 4; k++) {
            td_sym_snap_t snap;
            if (!td_engine_snapshot(e, f.syms[k], &snap)) continue;
            TD_CHECK(snap.seq >= last_seq[k], "snapshot seq went back %llu -> %llu",
                     (unsigned long long)last_seq[k], (unsigned long long)snap.seq);
            last_seq[k] = snap.seq;
            if (snap.nbbo.bid_px && snap.nbbo.ask_px && snap.nbbo.state == TD_NBBO_NORMAL)
                TD_CHECK(snap.nbbo.bid_px < snap.nbbo.ask_px, "normal NBBO with bid >= ask");
        }
    }
    pthread_join(t, NULL);
    while (td_spsc_size(f.ring)) sched_yield();
    td_engine_stop(e);
    assert_int_equal(atomic_load(&td_engine_stats(e)->events), (uint64_t)f.n);
    td_engine_destroy(e);
    td_spsc_destroy(f.ring);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_nbbo_states),
        cmocka_unit_test(test_trades_candles_daystats),
        cmocka_unit_test(test_threaded_snapshots),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
