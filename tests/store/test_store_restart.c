/* test_store_restart.c: the engine and the store together across a restart. Run 1 feeds trades through an
 * engine wired to a store (events, NBBO, candles, sampled state), then stops (clean, or with the state
 * sampled a little stale). Run 2 restores from the store and continues the same trade stream. Checked:
 * every out seq of run 2 is above every seq of run 1; no closed candle (interval, time) is emitted twice;
 * and the closed candles of both runs together equal those of one engine that never stopped (so the open
 * candles really continued: same OHLCV, nothing lost at the boundary); last price and day stats restored. */
#include "testutil.h"

#include <dirent.h>
#include <string.h>

#include "core/clock.h"
#include "core/common.h"
#include "core/log.h"
#include "core/rng.h"
#include "core/symbols.h"
#include "engine/engine.h"
#include "store/store.h"

typedef struct sink {
    td_store_t *store;
    uint64_t max_seq, min_seq;
    td_candle_t closed[TD_IV_COUNT][4096];
    int nclosed[TD_IV_COUNT];
} sink_t;

static void on_event(void *ctx, const td_event_t *ev, uint64_t seq)
{
    sink_t *k = ctx;
    if (k->store) td_store_append(k->store, ev, &seq, 1);
}

static void on_out(void *ctx, const td_out_t *o)
{
    sink_t *k = ctx;
    if (k->store && (o->type == TD_OUT_NBBO || o->type == TD_OUT_CANDLE)) td_store_append_out(k->store, o);
    if (o->seq > k->max_seq) k->max_seq = o->seq;
    if (!k->min_seq || o->seq < k->min_seq) k->min_seq = o->seq;
    if (o->type == TD_OUT_CANDLE && k->nclosed[o->aux] < 4096) k->closed[o->aux][k->nclosed[o->aux]++] = o->u.candle;
}

static bool state_fn(void *ctx, uint32_t sym, td_sym_snap_t *out) { return td_engine_snapshot(ctx, sym, out); }

typedef struct restorer {
    td_store_t *store;
    td_engine_t *engine;
    int n;
} restorer_t;

static void restore_one(void *ctx, uint32_t sym)
{
    restorer_t *r = ctx;
    td_sym_snap_t snap;
    if (td_store_restore_state(r->store, sym, &snap)) {
        td_engine_restore(r->engine, sym, &snap);
        r->n++;
    }
}

static td_event_t trade(uint32_t sym, int64_t t_ns, int64_t px, int64_t qty)
{
    td_event_t ev;
    memset(&ev, 0, sizeof ev);
    ev.type = TD_EV_TRADE;
    ev.sym = sym;
    ev.exch = td_exch_intern("XRST", 4);
    ev.exch_ns = t_ns;
    ev.recv_ns = t_ns;
    ev.u.trade.price = px;
    ev.u.trade.qty = qty;
    return ev;
}

static bool candle_eq(const td_candle_t *a, const td_candle_t *b)
{
    return a->time == b->time && a->open == b->open && a->high == b->high && a->low == b->low &&
           a->close == b->close && a->volume == b->volume && a->trade_count == b->trade_count;
}

static void test_restart(void **state)
{
    (void)state;
    td_log_min_level = TD_LOG_WARN;
    td_rng_t r;
    td_rng_seed(&r, td_test_seed());
    uint32_t sym = td_sym_intern("RSTA", 4);
    enum { N = 3000 };
    static td_event_t evs[N];
    int64_t t = 1708646400LL * TD_NS_PER_SEC - 1800 * TD_NS_PER_SEC; /* 23:30 UTC: crosses midnight */
    int64_t px = 100 * TD_PX_SCALE;
    for (int i = 0; i < N; i++) {
        t += (int64_t)td_rng_below(&r, 2000) * TD_NS_PER_MS;
        px += ((int64_t)td_rng_below(&r, 21) - 10) * 1000000;
        evs[i] = trade(sym, t, px, (int64_t)(1 + td_rng_below(&r, 9)) * 100 * TD_QTY_SCALE);
    }
    /* the reference: one engine, never stopped */
    static sink_t ref, run1, run2;
    memset(&ref, 0, sizeof ref);
    memset(&run1, 0, sizeof run1);
    memset(&run2, 0, sizeof run2);
    td_engine_config_t rc = { .emit = on_out, .emit_ctx = &ref };
    td_engine_t *re = td_engine_create(&rc);
    for (int i = 0; i < N; i++) td_engine_apply(re, &evs[i]);
    td_engine_destroy(re);

    char dir[] = "/tmp/td_restart_XXXXXX";
    if (!mkdtemp(dir)) fail_msg("mkdtemp");
    int cut = 500 + (int)td_rng_below(&r, N - 1000);
    /* run 1 */
    td_engine_config_t c1 = { .emit = on_out, .emit_ctx = &run1, .on_event = on_event, .on_event_ctx = &run1 };
    td_engine_t *e1 = td_engine_create(&c1);
    td_store_options_t o;
    td_store_options_default(&o);
    o.state_fn = state_fn;
    o.state_ctx = e1;
    char err[256];
    TD_CHECK(td_store_open(dir, &o, &run1.store, err, sizeof err) == TD_OK, "open: %s", err);
    for (int i = 0; i < cut; i++) {
        td_engine_apply(e1, &evs[i]);
        if (i % 64 == 63) td_engine_flush(e1);
    }
    td_engine_flush(e1);
    td_store_sync(run1.store);
    td_sym_snap_t before;
    TD_CHECK(td_engine_snapshot(e1, sym, &before), "snapshot");
    td_store_close(run1.store);
    run1.store = NULL;
    td_engine_destroy(e1);

    /* run 2 */
    td_engine_config_t c2 = { .emit = on_out, .emit_ctx = &run2, .on_event = on_event, .on_event_ctx = &run2 };
    td_engine_t *e2 = td_engine_create(&c2);
    o.state_ctx = e2;
    TD_CHECK(td_store_open(dir, &o, &run2.store, err, sizeof err) == TD_OK, "reopen: %s", err);
    restorer_t rs = { run2.store, e2, 0 };
    td_store_each_state_symbol(run2.store, restore_one, &rs);
    TD_CHECK(rs.n == 1, "restored %d symbols", rs.n);
    td_engine_flush(e2);
    td_sym_snap_t after;
    TD_CHECK(td_engine_snapshot(e2, sym, &after), "snapshot after restore");
    TD_CHECK(after.last_px == before.last_px && after.day_high == before.day_high && after.day_low == before.day_low &&
                 after.day_volume == before.day_volume && after.trades == before.trades,
             "last price and day stats restored");
    TD_CHECK(after.seq > before.seq, "seq moved on: %llu -> %llu", (unsigned long long)before.seq,
             (unsigned long long)after.seq);
    for (int i = cut; i < N; i++) td_engine_apply(e2, &evs[i]);
    td_engine_flush(e2);
    TD_CHECK(run2.min_seq > run1.max_seq, "seq went back: run 1 up to %llu, run 2 from %llu",
             (unsigned long long)run1.max_seq, (unsigned long long)run2.min_seq);
    for (int iv = 0; iv < TD_IV_COUNT; iv++) {
        int n1 = run1.nclosed[iv], n2 = run2.nclosed[iv];
        TD_CHECK(n1 + n2 == ref.nclosed[iv], "%s: %d + %d closed candles, reference %d", td_interval_name(iv), n1, n2,
                 ref.nclosed[iv]);
        for (int k = 0; k < n1 + n2; k++) {
            const td_candle_t *got = k < n1 ? &run1.closed[iv][k] : &run2.closed[iv][k - n1];
            TD_CHECK(candle_eq(got, &ref.closed[iv][k]), "%s candle %d (time %lld) differs from the reference",
                     td_interval_name(iv), k, (long long)got->time);
        }
    }
    /* the store's history plus the live candle answers like the reference */
    td_candle_t live;
    TD_CHECK(td_engine_snapshot(e2, sym, &after), "snapshot");
    td_store_sync(run2.store);
    static td_candle_t merged[4096];
    live = after.candles[TD_IV_1M];
    int n = td_store_candles_merged(run2.store, sym, TD_IV_1M, 0, INT64_MAX / 4, 0, &live,
                                    (after.candle_mask >> TD_IV_1M) & 1, merged, 4096);
    TD_CHECK(n == ref.nclosed[TD_IV_1M] + 1, "merged 1m: %d, reference %d closed + 1 open", n, ref.nclosed[TD_IV_1M]);
    for (int k = 0; k < ref.nclosed[TD_IV_1M]; k++) TD_CHECK(candle_eq(&merged[k], &ref.closed[TD_IV_1M][k]), "merged %d", k);
    td_store_close(run2.store);
    td_engine_destroy(e2);
    td_test_rm_rf(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = { cmocka_unit_test(test_restart) };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
