/* test_ticks.c: REST /ticks's join of the store and the in-memory ring (api/ticks.h), against the list of
 * trades the "engine" emitted, in the engine's order (store first, then the ring, as src/main.c does):
 *   - every trade exactly once, seq strictly increasing, whether the trades are flushed, half flushed or not;
 *   - paging with after_seq (and a small limit) concatenates to the whole list;
 *   - time ranges cut exactly;
 *   - more unflushed trades than the ring holds: the join asks the store to flush and is still whole;
 *   - a ring that lost trades the store does not have: the answer is the stored part alone, complete=false. */
#include "testutil.h"

#include <string.h>

#include "api/recent.h"
#include "api/ticks.h"
#include "core/clock.h"
#include "core/common.h"
#include "core/symbols.h"
#include "store/store.h"

#define MAXT 20000

static td_out_t emitted[MAXT];
static size_t nemitted;
static td_recent_tick_t out[MAXT], scratch[MAXT];

static const int64_t T0 = 1708612200LL * TD_NS_PER_SEC;

static void emit(td_store_t *s, td_recent_t *r, uint32_t sym, uint8_t exch, uint64_t seq, bool to_store)
{
    td_out_t o;
    memset(&o, 0, sizeof o);
    o.type = TD_OUT_TRADE;
    o.sym = sym;
    o.exch = exch;
    o.side = seq & 1 ? TD_BID : TD_ASK;
    o.seq = seq;
    o.exch_ns = T0 + (int64_t)nemitted * 250000; /* 4 trades per millisecond */
    o.recv_ns = o.exch_ns + 99;
    o.u.trade.price = 100000000 + (int64_t)seq;
    o.u.trade.qty = 1000000;
    o.u.trade.trade_id = seq + 11;
    if (to_store) td_store_append_out(s, &o);
    td_recent_add(r, &o);
    emitted[nemitted++] = o;
}

/* The join of [from, to] after after_seq must be exactly the emitted trades in that window, in order. */
static size_t check_join(td_store_t *s, td_recent_t *r, uint32_t sym, int64_t from, int64_t to, uint64_t after,
                         size_t limit, td_ticks_result_t *res, const char *what)
{
    td_ticks_query_t q = { .sym = sym, .from_ns = from, .to_ns = to, .after_seq = after, .limit = limit };
    int n = td_ticks_merged(s, r, &q, out, scratch, res);
    TD_CHECK(n >= 0, "%s: join failed %d", what, n);
    size_t k = 0, want = 0;
    for (size_t i = 0; i < nemitted && want < limit; i++) {
        const td_out_t *e = &emitted[i];
        if (e->seq <= after || e->exch_ns < from || e->exch_ns > to) continue;
        want++;
        if (k < (size_t)n) {
            TD_CHECK(out[k].seq == e->seq && out[k].exch_ns == e->exch_ns && out[k].price == e->u.trade.price &&
                         out[k].qty == e->u.trade.qty && out[k].trade_id == e->u.trade.trade_id &&
                         out[k].side == e->side && out[k].exch == e->exch && out[k].recv_ns == e->recv_ns,
                     "%s: answer %zu is seq %llu, want seq %llu", what, k, (unsigned long long)out[k].seq,
                     (unsigned long long)e->seq);
            k++;
        }
    }
    TD_CHECK((size_t)n == want, "%s: %d trades, want %zu", what, n, want);
    return (size_t)n;
}

/* Pages through everything with a small limit and after_seq; the pages concatenate to the whole list. */
static void check_paging(td_store_t *s, td_recent_t *r, uint32_t sym, size_t limit)
{
    uint64_t after = 0;
    size_t total = 0;
    for (int page = 0; page < 10000; page++) {
        td_ticks_result_t res;
        td_ticks_query_t q = { .sym = sym, .from_ns = T0, .to_ns = INT64_MAX, .after_seq = after, .limit = limit };
        int n = td_ticks_merged(s, r, &q, out, scratch, &res);
        TD_CHECK(n >= 0 && res.complete && !res.flushed, "page %d: %d, complete %d", page, n, res.complete);
        for (int i = 0; i < n; i++) {
            TD_CHECK(out[i].seq == emitted[total].seq, "page %d item %d: seq %llu, want %llu", page, i,
                     (unsigned long long)out[i].seq, (unsigned long long)emitted[total].seq);
            total++;
        }
        if (n == 0) break;
        after = out[n - 1].seq;
    }
    TD_CHECK(total == nemitted, "paged %zu of %zu", total, nemitted);
}

static void test_join(void **state)
{
    (void)state;
    uint32_t sym = td_sym_intern("TJN", 3);
    uint8_t ex = td_exch_intern("XTJN", 4);
    char dir[64];
    snprintf(dir, sizeof dir, "/tmp/td_ticks_XXXXXX");
    if (!mkdtemp(dir)) fail_msg("mkdtemp");
    td_store_options_t o;
    td_store_options_default(&o);
    o.fsync_ms = TD_STORE_FSYNC_OFF;
    o.flush_ms = 3600 * 1000; /* the writer flushes only when asked */
    td_store_t *s;
    char err[256];
    TD_CHECK(td_store_open(dir, &o, &s, err, sizeof err) == TD_OK, "open: %s", err);
    td_recent_t *r = td_recent_create();
    td_ticks_result_t res;
    uint64_t seq = 1000;

    /* nothing flushed: all from the ring */
    for (int i = 0; i < 300; i++) emit(s, r, sym, ex, seq += 2, true);
    check_join(s, r, sym, INT64_MIN, INT64_MAX, 0, MAXT, &res, "ring only");
    TD_CHECK(res.complete && !res.flushed && td_store_visible_seq(s, sym) == 0, "ring only: complete, nothing visible");
    /* half flushed: the store part up to W, then the ring */
    TD_CHECK(td_store_sync(s) == TD_OK, "sync");
    for (int i = 0; i < 700; i++) emit(s, r, sym, ex, seq += 2, true);
    uint64_t w = td_store_visible_seq(s, sym);
    TD_CHECK(w == emitted[299].seq, "visible %llu", (unsigned long long)w);
    check_join(s, r, sym, INT64_MIN, INT64_MAX, 0, MAXT, &res, "store + ring");
    TD_CHECK(res.complete && !res.flushed, "store + ring complete");
    /* windows across the W boundary, limits, after_seq inside either part */
    check_join(s, r, sym, emitted[250].exch_ns, emitted[400].exch_ns, 0, MAXT, &res, "window across W");
    check_join(s, r, sym, emitted[250].exch_ns, INT64_MAX, 0, 30, &res, "limit inside the store part");
    check_join(s, r, sym, emitted[290].exch_ns, INT64_MAX, 0, 30, &res, "limit across W");
    check_join(s, r, sym, INT64_MIN, INT64_MAX, emitted[100].seq, 500, &res, "after_seq in the store part");
    check_join(s, r, sym, INT64_MIN, INT64_MAX, emitted[500].seq, 500, &res, "after_seq in the ring part");
    check_paging(s, r, sym, 97);
    /* more unflushed trades than the ring holds: the join has the store flush, then it is whole again */
    for (int i = 0; i < TD_RECENT_TICKS + 1500; i++) emit(s, r, sym, ex, seq += 2, true);
    TD_CHECK(td_store_visible_seq(s, sym) == w, "no flush happened by itself");
    size_t n = check_join(s, r, sym, INT64_MIN, INT64_MAX, 0, MAXT, &res, "ring overrun");
    TD_CHECK(res.complete && res.flushed && n == nemitted, "ring overrun: complete %d, flushed %d, %zu of %zu", res.complete,
             res.flushed, n, nemitted);
    TD_CHECK(td_store_visible_seq(s, sym) == seq, "the join made everything visible");
    check_paging(s, r, sym, 1000);
    /* the ring lost trades the store never got (cannot be flushed): the stored part alone, incomplete */
    size_t stored = nemitted;
    for (int i = 0; i < TD_RECENT_TICKS + 10; i++) emit(s, r, sym, ex, seq += 2, false);
    td_ticks_query_t q = { .sym = sym, .from_ns = INT64_MIN, .to_ns = INT64_MAX, .after_seq = 0, .limit = MAXT };
    int got = td_ticks_merged(s, r, &q, out, scratch, &res);
    TD_CHECK(!res.complete && res.flushed, "a hole is reported");
    TD_CHECK(got == (int)stored, "the stored part alone: %d of %zu", got, stored);
    for (int i = 1; i < got; i++) TD_CHECK(out[i].seq > out[i - 1].seq, "strictly increasing at %d", i);
    /* ... but a store part that fills the limit is complete on its own */
    q.limit = 100;
    got = td_ticks_merged(s, r, &q, out, scratch, &res);
    TD_CHECK(got == 100 && res.complete, "a full store part: %d, complete %d", got, res.complete);
    td_recent_destroy(r);
    td_store_close(s);
    td_test_rm_rf(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = { cmocka_unit_test(test_join) };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
