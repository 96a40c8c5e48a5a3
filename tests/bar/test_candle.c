/* test_candle.c: candles at every interval.
 *
 * - interval names, parsing and window alignment (weeks on Mondays, negative times);
 * - seeded random trade streams (bursts, gaps of hours/days/weeks, late trades, advance() calls) checked
 *   against a naive reference that keeps every trade and buckets them at the end: the emitted candles of
 *   every interval must match exactly, each emitted once, in order, in the very step whose clock passed
 *   the window's end; plus the open candles;
 * - the nesting property: every closed coarse candle is the aggregate of the finer candles in its window;
 * - restore(): a stream cut in two with a restore in between emits exactly what the uncut stream does;
 * - real data (shared/data/ohlcv_backtrader): 5-minute and 1-minute bars fed as trades rebuild the daily
 *   bars, daily bars rebuild the weekly bars, with the source's two known inconsistencies.
 */
#include "testutil.h"

#include <string.h>

#include "bar/candle.h"
#include "core/clock.h"
#include "core/common.h"
#include "core/decimal.h"
#include "core/rng.h"

#define NS 1000000000LL
#define DAY 86400LL

/* ---- recording what the builder emits ---- */

typedef struct rec_candle { td_candle_t c; long step; } rec_candle_t;

typedef struct recorder {
    rec_candle_t *v[TD_IV_COUNT];
    size_t n[TD_IV_COUNT], cap[TD_IV_COUNT];
    long step; /* the operation being applied, stamped on every emission */
} recorder_t;

static void rec_emit(void *ctx, td_interval_t iv, const td_candle_t *c)
{
    recorder_t *r = ctx;
    assert_true((unsigned)iv < TD_IV_COUNT);
    if (r->n[iv] == r->cap[iv]) {
        r->cap[iv] = r->cap[iv] ? r->cap[iv] * 2 : 256;
        r->v[iv] = td_realloc(r->v[iv], r->cap[iv] * sizeof(rec_candle_t));
    }
    r->v[iv][r->n[iv]++] = (rec_candle_t){ *c, r->step };
}

static void rec_free(recorder_t *r)
{
    for (int i = 0; i < TD_IV_COUNT; i++) td_free(r->v[i]);
    memset(r, 0, sizeof *r);
}

static bool candle_eq(const td_candle_t *a, const td_candle_t *b)
{
    return a->time == b->time && a->open == b->open && a->high == b->high && a->low == b->low &&
           a->close == b->close && a->volume == b->volume && a->trade_count == b->trade_count;
}

static void describe(const td_candle_t *c, char *buf, size_t len)
{
    char o[TD_DEC_BUFSZ], h[TD_DEC_BUFSZ], l[TD_DEC_BUFSZ], cl[TD_DEC_BUFSZ], v[TD_DEC128_BUFSZ];
    td_dec_fmt(c->open, o);
    td_dec_fmt(c->high, h);
    td_dec_fmt(c->low, l);
    td_dec_fmt(c->close, cl);
    td_dec128_fmt(c->volume, v);
    char all[512]; /* room for every field at its longest; then cut to the caller's buffer */
    snprintf(all, sizeof all, "t=%lld O=%s H=%s L=%s C=%s V=%s n=%llu", (long long)c->time, o, h, l, cl, v,
             (unsigned long long)c->trade_count);
    size_t k = strnlen(all, len - 1);
    memcpy(buf, all, k);
    buf[k] = '\0';
}


/* ---- names, parsing, alignment ---- */

static void test_interval_names(void **state)
{
    (void)state;
    const char *names[] = { "1s", "10s", "1m", "5m", "15m", "1h", "1d", "1w" };
    const int64_t secs[] = { 1, 10, 60, 300, 900, 3600, 86400, 604800 };
    for (int i = 0; i < TD_IV_COUNT; i++) {
        td_interval_t iv = TD_IV_COUNT;
        assert_int_equal(td_interval_parse(names[i], strlen(names[i]), &iv), TD_OK);
        assert_int_equal(iv, i);
        assert_string_equal(td_interval_name(iv), names[i]);
        assert_int_equal(td_interval_secs(iv), secs[i]);
    }
    const char *bad[] = { "", "1", "s", "1M", "1S", "1H", "60s", "1min", "1mo", "1 m", " 1m", "1m ", "2m",
                          "1y", "0s", "-1s", "10", "1ss", "1w1" };
    for (size_t i = 0; i < TD_ARRAY_LEN(bad); i++) {
        td_interval_t iv = TD_IV_1H;
        assert_int_equal(td_interval_parse(bad[i], strlen(bad[i]), &iv), TD_EINVAL);
        assert_int_equal(iv, TD_IV_1H); /* untouched on error */
    }
    td_interval_t iv;
    assert_int_equal(td_interval_parse("1mxyz", 2, &iv), TD_OK); /* length-delimited, not NUL-delimited */
    assert_int_equal(iv, TD_IV_1M);
    assert_int_equal(td_interval_parse("15", 2, &iv), TD_EINVAL);
    assert_int_equal(td_interval_parse(NULL, 0, &iv), TD_EINVAL);
    assert_int_equal(td_interval_secs(TD_IV_COUNT), 0);
}

/* A second way to round down, by a loop-free modulo identity, to check the floor division. */
static int64_t naive_start(td_interval_t iv, int64_t t)
{
    int64_t len = td_interval_secs(iv), off = iv == TD_IV_1W ? 4 * DAY : 0;
    int64_t m = ((t - off) % len + len) % len;
    return t - m;
}

static void test_interval_start(void **state)
{
    (void)state;
    /* 1970-01-01 was a Thursday: its week began Monday 1969-12-29. */
    assert_int_equal(td_interval_start(TD_IV_1W, 0), -3 * DAY);
    assert_int_equal(td_interval_start(TD_IV_1W, 4 * DAY), 4 * DAY);
    assert_int_equal(td_interval_start(TD_IV_1W, 4 * DAY - 1), -3 * DAY);
    assert_int_equal(td_interval_start(TD_IV_1W, 11 * DAY - 1), 4 * DAY);
    assert_int_equal(td_interval_start(TD_IV_1W, -3 * DAY), -3 * DAY);
    assert_int_equal(td_interval_start(TD_IV_1W, -3 * DAY - 1), -10 * DAY);
    /* 2024-02-22 (Thursday) 20:01:00 UTC = 1708632060. */
    int64_t t = 1708632060;
    assert_int_equal(td_interval_start(TD_IV_1S, t), t);
    assert_int_equal(td_interval_start(TD_IV_10S, t + 9), t);
    assert_int_equal(td_interval_start(TD_IV_1M, t + 59), t);
    assert_int_equal(td_interval_start(TD_IV_5M, t), 1708632000);
    assert_int_equal(td_interval_start(TD_IV_15M, t), 1708632000);
    assert_int_equal(td_interval_start(TD_IV_1H, t), 1708632000);
    assert_int_equal(td_interval_start(TD_IV_1H, t - 61), 1708632000 - 3600);
    assert_int_equal(td_interval_start(TD_IV_15M, t + 1000), 1708632000 + 900);
    assert_int_equal(td_interval_start(TD_IV_1D, t), td_days_from_civil(2024, 2, 22) * DAY);
    assert_int_equal(td_interval_start(TD_IV_1W, t), td_days_from_civil(2024, 2, 19) * DAY);
    /* Every Monday starts a week; no other day does. */
    for (int64_t d = td_days_from_civil(1960, 1, 1); d < td_days_from_civil(2040, 1, 1); d += 1) {
        bool monday = ((d % 7) + 7 + 3) % 7 == 0; /* day 0 = Thursday; Monday = day 4 */
        assert_int_equal(td_interval_start(TD_IV_1W, d * DAY) == d * DAY, monday);
        assert_int_equal(td_interval_start(TD_IV_1W, d * DAY + 12345), td_interval_start(TD_IV_1W, d * DAY));
    }
    /* Negative times round down, not toward zero. */
    assert_int_equal(td_interval_start(TD_IV_1S, -1), -1);
    assert_int_equal(td_interval_start(TD_IV_10S, -1), -10);
    assert_int_equal(td_interval_start(TD_IV_10S, -10), -10);
    assert_int_equal(td_interval_start(TD_IV_10S, -11), -20);
    assert_int_equal(td_interval_start(TD_IV_1M, -61), -120);
    assert_int_equal(td_interval_start(TD_IV_1D, -1), -DAY);
    assert_int_equal(td_interval_start(TD_IV_1D, 0), 0);
    /* Random times over +-300 years against the modulo identity. */
    td_rng_t rng;
    td_rng_seed(&rng, td_test_seed());
    for (int i = 0; i < 200000; i++) {
        int64_t x = (int64_t)td_rng_below(&rng, 20000000000ULL) - 10000000000LL;
        td_interval_t iv = (td_interval_t)td_rng_below(&rng, TD_IV_COUNT);
        int64_t s = td_interval_start(iv, x);
        TD_CHECK(s == naive_start(iv, x), "iv %s t %lld: %lld want %lld", td_interval_name(iv), (long long)x,
                 (long long)s, (long long)naive_start(iv, x));
        TD_CHECK(s <= x && x - s < td_interval_secs(iv), "iv %s t %lld", td_interval_name(iv), (long long)x);
    }
    /* The int64 limits saturate rather than overflow (UBSan watches this). */
    assert_int_equal(td_interval_start(TD_IV_10S, INT64_MIN), INT64_MIN);
    assert_int_equal(td_interval_start(TD_IV_1W, INT64_MIN + 5), INT64_MIN);
    assert_true(td_interval_start(TD_IV_1W, INT64_MAX) <= INT64_MAX);
    assert_int_equal(td_interval_start(TD_IV_10S, INT64_MAX), INT64_MAX - 7);
}

/* ---- small hand-written cases ---- */

static void test_basics(void **state)
{
    (void)state;
    td_candles_t c;
    recorder_t r = { 0 };
    td_candle_t k;
    td_candles_init(&c);
    for (int iv = 0; iv < TD_IV_COUNT; iv++) assert_false(td_candles_current(&c, (td_interval_t)iv, &k));

    /* advance() with no trades: clock moves, nothing opens or closes. */
    td_candles_advance(&c, 1000 * NS, rec_emit, &r);
    td_candles_advance(&c, 500 * NS, rec_emit, &r); /* backwards: ignored */
    assert_int_equal(c.watermark_ns, 1000 * NS);
    for (int iv = 0; iv < TD_IV_COUNT; iv++) {
        assert_false(td_candles_current(&c, (td_interval_t)iv, &k));
        assert_int_equal(r.n[iv], 0);
    }

    /* Trades at 1001.2s and 1001.7s (one with qty 0), then 1003.0s closes the 1s candle at 1001. */
    assert_false(td_candles_trade(&c, 1001 * NS + 200000000, 500, 3, rec_emit, &r));
    assert_false(td_candles_trade(&c, 1001 * NS + 700000000, 700, 0, rec_emit, &r));
    assert_true(td_candles_current(&c, TD_IV_1S, &k));
    assert_int_equal(k.time, 1001);
    assert_int_equal(k.open, 500);
    assert_int_equal(k.high, 700);
    assert_int_equal(k.low, 500);
    assert_int_equal(k.close, 700);
    assert_true(k.volume == 3);
    assert_int_equal(k.trade_count, 2); /* a zero-size print still counts and sets the price */
    assert_false(td_candles_trade(&c, 1003 * NS, 400, 1, rec_emit, &r));
    assert_int_equal(r.n[TD_IV_1S], 1);
    assert_int_equal(r.v[TD_IV_1S][0].c.time, 1001);
    assert_int_equal(r.n[TD_IV_10S], 0);
    assert_true(td_candles_current(&c, TD_IV_1S, &k));
    assert_int_equal(k.time, 1003);
    assert_true(td_candles_current(&c, TD_IV_10S, &k));
    assert_int_equal(k.time, 1000);
    assert_int_equal(k.trade_count, 3);
    assert_int_equal(k.low, 400);

    /* advance to exactly the end of the 10s window closes it (and the 1s one); [1000,1060) stays open. */
    td_candles_advance(&c, 1010 * NS, rec_emit, &r);
    assert_int_equal(r.n[TD_IV_1S], 2);
    assert_int_equal(r.n[TD_IV_10S], 1);
    assert_int_equal(r.n[TD_IV_1M], 0);
    assert_false(td_candles_current(&c, TD_IV_1S, &k));
    assert_true(td_candles_current(&c, TD_IV_1M, &k));
    assert_int_equal(k.time, 960);

    /* A late trade (exchange time 1002s < clock 1010s) lands at the clock: new 1s and 10s candles at
     * 1010, the open 1m candle grows, nothing closed is amended. */
    assert_true(td_candles_trade(&c, 1002 * NS, 900, 2, rec_emit, &r));
    assert_int_equal(c.late_trades, 1);
    assert_int_equal(c.watermark_ns, 1010 * NS);
    assert_true(td_candles_current(&c, TD_IV_1S, &k));
    assert_int_equal(k.time, 1010);
    assert_int_equal(k.open, 900);
    assert_true(td_candles_current(&c, TD_IV_1M, &k));
    assert_int_equal(k.trade_count, 4);
    assert_int_equal(k.high, 900);
    assert_true(k.volume == 6);
    assert_int_equal(r.n[TD_IV_1S], 2);
    assert_int_equal(r.v[TD_IV_10S][0].c.trade_count, 3);

    /* A jump of weeks closes everything in order, once. */
    td_candles_advance(&c, 1010 * NS + 30 * DAY * NS, rec_emit, &r);
    for (int iv = 0; iv < TD_IV_COUNT; iv++) assert_false(td_candles_current(&c, (td_interval_t)iv, &k));
    assert_int_equal(r.n[TD_IV_1S], 3);
    assert_int_equal(r.n[TD_IV_1W], 1);
    assert_int_equal(r.v[TD_IV_1W][0].c.time, -3 * DAY);
    assert_int_equal(r.v[TD_IV_1W][0].c.trade_count, 4);
    td_candles_advance(&c, 1010 * NS + 60 * DAY * NS, rec_emit, &r);
    assert_int_equal(r.n[TD_IV_1W], 1);
    /* No emit callback is allowed (the candles just close). */
    assert_false(td_candles_trade(&c, 1010 * NS + 61 * DAY * NS, 1, 1, NULL, NULL));
    td_candles_advance(&c, 1010 * NS + 70 * DAY * NS, NULL, NULL);
    assert_false(td_candles_current(&c, TD_IV_1W, &k));
    /* Negative sizes are treated as zero rather than subtracting from the volume. */
    assert_false(td_candles_trade(&c, 1010 * NS + 71 * DAY * NS, 5, -7, NULL, NULL));
    assert_true(td_candles_current(&c, TD_IV_1D, &k));
    assert_true(k.volume == 0);
    rec_free(&r);
}

static void test_negative_and_zero_times(void **state)
{
    (void)state;
    td_candles_t c;
    recorder_t r = { 0 };
    td_candle_t k;
    td_candles_init(&c);
    /* -0.5 s is in the second [-1, 0), the 10 s window [-10, 0), the day before the epoch. */
    td_candles_trade(&c, -NS / 2, 10, 1, rec_emit, &r);
    assert_true(td_candles_current(&c, TD_IV_1S, &k));
    assert_int_equal(k.time, -1);
    assert_true(td_candles_current(&c, TD_IV_10S, &k));
    assert_int_equal(k.time, -10);
    assert_true(td_candles_current(&c, TD_IV_1D, &k));
    assert_int_equal(k.time, -DAY);
    assert_true(td_candles_current(&c, TD_IV_1W, &k));
    assert_int_equal(k.time, -3 * DAY);
    /* Exactly 0 ends the negative windows except the week (Monday 1969-12-29 .. 1970-01-05). */
    td_candles_trade(&c, 0, 20, 1, rec_emit, &r);
    for (int iv = TD_IV_1S; iv <= TD_IV_1D; iv++) {
        assert_int_equal(r.n[iv], 1);
        assert_true(td_candles_current(&c, (td_interval_t)iv, &k));
        assert_int_equal(k.time, 0);
    }
    assert_int_equal(r.n[TD_IV_1W], 0);
    td_candles_advance(&c, 4 * DAY * NS - 1, rec_emit, &r);
    assert_int_equal(r.n[TD_IV_1W], 0);
    td_candles_advance(&c, 4 * DAY * NS, rec_emit, &r);
    assert_int_equal(r.n[TD_IV_1W], 1);
    assert_int_equal(r.v[TD_IV_1W][0].c.trade_count, 2);
    /* The very first trade is never late, however early. */
    td_candles_init(&c);
    assert_false(td_candles_trade(&c, INT64_MIN + 1, 1, 1, NULL, NULL));
    assert_true(td_candles_trade(&c, INT64_MIN, 1, 1, NULL, NULL));
    assert_true(td_candles_current(&c, TD_IV_1W, &k));
    assert_int_equal(k.trade_count, 2);
    rec_free(&r);
}

/* ---- random streams vs a naive reference ---- */

typedef struct op {
    int64_t ts_ns;   /* trade time or advance time */
    int64_t price, qty;
    bool advance;
} op_t;

/* Bursts, pauses of seconds to weeks, late trades and advance() calls, from a random start. */
static op_t *gen_ops(td_rng_t *rng, size_t n, int64_t start_ns)
{
    op_t *ops = td_malloc(n * sizeof *ops);
    int64_t t = start_ns, px = 10000 * 100000000LL, wm = INT64_MIN;
    for (size_t i = 0; i < n; i++) {
        uint64_t r = td_rng_below(rng, 1000);
        if (r < 600) t += (int64_t)td_rng_below(rng, 300000000);           /* burst: < 0.3 s */
        else if (r < 700) { /* same instant */ }
        else if (r < 850) t += (int64_t)td_rng_below(rng, 20 * NS);        /* seconds */
        else if (r < 930) t += (int64_t)td_rng_below(rng, 3600 * NS);      /* minutes */
        else if (r < 970) t += (int64_t)td_rng_below(rng, 12 * 3600 * NS); /* hours */
        else if (r < 990) t += (int64_t)td_rng_below(rng, 4 * DAY * NS);   /* days */
        else t += (int64_t)td_rng_below(rng, 20 * DAY * NS);               /* weeks */
        op_t *o = &ops[i];
        memset(o, 0, sizeof *o);
        o->ts_ns = t;
        uint64_t kind = td_rng_below(rng, 100);
        if (kind < 5 && wm != INT64_MIN) {
            /* late: up to two hours before the clock (may fall in a window that is closed already) */
            o->ts_ns = wm - (int64_t)td_rng_below(rng, 2 * 3600 * NS);
        } else if (kind < 9) {
            o->advance = true;
            if (td_rng_below(rng, 4) == 0) o->ts_ns = t - (int64_t)td_rng_below(rng, 10 * NS); /* no-op */
        }
        if (!o->advance) {
            px += ((int64_t)td_rng_below(rng, 21) - 10) * 1000000;
            o->price = px;
            o->qty = td_rng_below(rng, 8) == 0 ? 0 : (int64_t)td_rng_below(rng, 100000) * 1000000;
        }
        if (o->ts_ns > wm) wm = o->ts_ns;
        if (t < wm) t = wm;
    }
    return ops;
}

static int64_t floor_div_ns(int64_t ns) { return ns / NS - (ns % NS < 0); }

/* Applies ops[from..to) to c, stamping emissions with the op index. */
static void apply_ops(td_candles_t *c, recorder_t *r, const op_t *ops, size_t from, size_t to, uint64_t *late)
{
    for (size_t i = from; i < to; i++) {
        r->step = (long)i;
        if (ops[i].advance) td_candles_advance(c, ops[i].ts_ns, rec_emit, r);
        else if (td_candles_trade(c, ops[i].ts_ns, ops[i].price, ops[i].qty, rec_emit, r)) (*late)++;
    }
}

typedef struct ref_trade { int64_t eff_s, price, qty; } ref_trade_t;

/* The reference: effective times from a running max, then for each interval group consecutive trades by
 * window; a group is closed by the first op whose clock (after the op) reaches the window's end. */
static void check_against_reference(const op_t *ops, size_t n, const recorder_t *r, const td_candles_t *c,
                                    uint64_t late_seen)
{
    ref_trade_t *tr = td_malloc(n * sizeof *tr);
    size_t *tr_op = td_malloc(n * sizeof *tr_op);
    int64_t *wm_s = td_malloc(n * sizeof *wm_s); /* clock second after op i */
    size_t nt = 0;
    uint64_t late = 0;
    int64_t wm = INT64_MIN;
    for (size_t i = 0; i < n; i++) {
        if (ops[i].advance) {
            if (ops[i].ts_ns > wm) wm = ops[i].ts_ns;
        } else {
            int64_t eff = ops[i].ts_ns;
            if (eff < wm) { eff = wm; late++; }
            wm = eff;
            tr[nt] = (ref_trade_t){ floor_div_ns(eff), ops[i].price, ops[i].qty > 0 ? ops[i].qty : 0 };
            tr_op[nt++] = i;
        }
        wm_s[i] = floor_div_ns(wm);
    }
    TD_CHECK(late == late_seen && late == c->late_trades, "late trades %llu/%llu, want %llu",
             (unsigned long long)late_seen, (unsigned long long)c->late_trades, (unsigned long long)late);
    TD_CHECK(c->watermark_ns == wm, "watermark %lld want %lld", (long long)c->watermark_ns, (long long)wm);
    char a[200], b[200];
    for (int iv = 0; iv < TD_IV_COUNT; iv++) {
        size_t emitted = 0, j = 0;
        while (j < nt) {
            td_candle_t k = { .time = td_interval_start((td_interval_t)iv, tr[j].eff_s) };
            k.open = k.high = k.low = tr[j].price;
            size_t first_op = tr_op[j];
            while (j < nt && td_interval_start((td_interval_t)iv, tr[j].eff_s) == k.time) {
                if (tr[j].price > k.high) k.high = tr[j].price;
                if (tr[j].price < k.low) k.low = tr[j].price;
                k.close = tr[j].price;
                k.volume += tr[j].qty;
                k.trade_count++;
                j++;
            }
            int64_t end = k.time + td_interval_secs((td_interval_t)iv);
            long close_op = -1;
            for (size_t i = first_op; i < n; i++)
                if (wm_s[i] >= end) { close_op = (long)i; break; }
            if (close_op < 0) {
                /* still open: it must be the current candle, and the last one */
                TD_CHECK(j == nt, "iv %s: open candle before the last", td_interval_name((td_interval_t)iv));
                td_candle_t cur;
                TD_CHECK(td_candles_current(c, (td_interval_t)iv, &cur), "iv %s: no open candle",
                         td_interval_name((td_interval_t)iv));
                describe(&cur, a, sizeof a);
                describe(&k, b, sizeof b);
                TD_CHECK(candle_eq(&cur, &k), "iv %s open candle: got %s want %s",
                         td_interval_name((td_interval_t)iv), a, b);
                continue;
            }
            TD_CHECK(emitted < r->n[iv], "iv %s: only %zu candles emitted", td_interval_name((td_interval_t)iv),
                     r->n[iv]);
            const rec_candle_t *got = &r->v[iv][emitted++];
            describe(&got->c, a, sizeof a);
            describe(&k, b, sizeof b);
            TD_CHECK(candle_eq(&got->c, &k), "iv %s candle #%zu: got %s want %s",
                     td_interval_name((td_interval_t)iv), emitted - 1, a, b);
            TD_CHECK(got->step == close_op, "iv %s candle t=%lld: emitted at op %ld, want op %ld",
                     td_interval_name((td_interval_t)iv), (long long)k.time, got->step, close_op);
        }
        TD_CHECK(emitted == r->n[iv], "iv %s: %zu emitted, want %zu", td_interval_name((td_interval_t)iv),
                 r->n[iv], emitted);
        if (nt == 0 || wm_s[n - 1] >= td_interval_start((td_interval_t)iv, tr[nt - 1].eff_s) +
                                           td_interval_secs((td_interval_t)iv))
            TD_CHECK(!td_candles_current(c, (td_interval_t)iv, NULL), "iv %s: unexpected open candle",
                     td_interval_name((td_interval_t)iv));
    }
    td_free(tr);
    td_free(tr_op);
    td_free(wm_s);
}

/* Coarse = aggregate of the finer candles in its window, for every nested pair of intervals. */
static void check_nesting(const recorder_t *r, const td_candles_t *c)
{
    for (int fine = 0; fine < TD_IV_COUNT; fine++) {
        for (int coarse = fine + 1; coarse < TD_IV_COUNT; coarse++) {
            int64_t clen = td_interval_secs((td_interval_t)coarse);
            size_t j = 0;
            size_t nc = r->n[coarse];
            td_candle_t open_coarse;
            bool has_open = td_candles_current(c, (td_interval_t)coarse, &open_coarse);
            for (size_t i = 0; i < nc + has_open; i++) {
                const td_candle_t *want = i < nc ? &r->v[coarse][i].c : &open_coarse;
                td_candle_t agg = { .time = want->time };
                bool first = true;
                /* closed fine candles in the window, then (for the open coarse one) the open fine one */
                while (j < r->n[fine] + 1) {
                    td_candle_t f;
                    if (j < r->n[fine]) f = r->v[fine][j].c;
                    else if (!td_candles_current(c, (td_interval_t)fine, &f)) break;
                    if (f.time >= want->time + clen) break;
                    TD_CHECK(f.time >= want->time, "%s candle t=%lld outside any %s candle",
                             td_interval_name((td_interval_t)fine), (long long)f.time,
                             td_interval_name((td_interval_t)coarse));
                    if (first) { agg.open = f.open; agg.high = f.high; agg.low = f.low; first = false; }
                    if (f.high > agg.high) agg.high = f.high;
                    if (f.low < agg.low) agg.low = f.low;
                    agg.close = f.close;
                    agg.volume += f.volume;
                    agg.trade_count += f.trade_count;
                    j++;
                }
                char a[200], b[200];
                describe(&agg, a, sizeof a);
                describe(want, b, sizeof b);
                TD_CHECK(candle_eq(&agg, want), "%s from %s at t=%lld: aggregate %s, candle %s",
                         td_interval_name((td_interval_t)coarse), td_interval_name((td_interval_t)fine),
                         (long long)want->time, a, b);
            }
            TD_CHECK(j == r->n[fine] + td_candles_current(c, (td_interval_t)fine, NULL),
                     "%s: %zu of %zu fine candles covered by %s", td_interval_name((td_interval_t)fine), j,
                     r->n[fine], td_interval_name((td_interval_t)coarse));
        }
    }
}

static void test_random_vs_reference(void **state)
{
    (void)state;
    td_rng_t rng;
    td_rng_seed(&rng, td_test_seed());
    size_t n = td_test_sanitized() ? 20000 : 60000;
    /* Starts before the epoch (crossing zero), at the epoch, and in the present. */
    const int64_t starts[] = { -3 * DAY * 365 * NS, -2 * 3600 * NS, 0, 1708632060123456789LL };
    for (size_t s = 0; s < TD_ARRAY_LEN(starts); s++) {
        op_t *ops = gen_ops(&rng, n, starts[s] + (int64_t)td_rng_below(&rng, 7 * DAY * NS));
        td_candles_t c;
        recorder_t r = { 0 };
        uint64_t late = 0;
        td_candles_init(&c);
        apply_ops(&c, &r, ops, 0, n, &late);
        check_against_reference(ops, n, &r, &c, late);
        check_nesting(&r, &c);
        TD_CHECK(r.n[TD_IV_1W] >= 3 && late > 100, "stream too tame: %zu weeks, %llu late", r.n[TD_IV_1W],
                 (unsigned long long)late);
        /* Closing everything afterwards emits the open candles as they were, once. */
        td_candle_t open[TD_IV_COUNT];
        size_t before[TD_IV_COUNT];
        bool had[TD_IV_COUNT];
        for (int iv = 0; iv < TD_IV_COUNT; iv++) {
            had[iv] = td_candles_current(&c, (td_interval_t)iv, &open[iv]); /* a final advance may close some */
            before[iv] = r.n[iv];
        }
        td_candles_advance(&c, c.watermark_ns + 8 * DAY * NS, rec_emit, &r);
        td_candles_advance(&c, c.watermark_ns + 16 * DAY * NS, rec_emit, &r);
        for (int iv = 0; iv < TD_IV_COUNT; iv++) {
            TD_CHECK(r.n[iv] == before[iv] + had[iv], "iv %s: %zu closed at the end", td_interval_name((td_interval_t)iv),
                     r.n[iv] - before[iv]);
            if (had[iv]) assert_true(candle_eq(&r.v[iv][before[iv]].c, &open[iv]));
        }
        rec_free(&r);
        td_free(ops);
    }
}

/* A restart in the middle (state saved through td_candles_current, restored into a fresh builder) gives
 * exactly the emissions of an uninterrupted run. */
static void test_restore(void **state)
{
    (void)state;
    td_rng_t rng;
    td_rng_seed(&rng, td_test_seed() ^ 0x5eed);
    size_t n = td_test_sanitized() ? 5000 : 20000;
    op_t *ops = gen_ops(&rng, n, 1136160000LL * NS);
    td_candles_t whole, a, b;
    recorder_t rw = { 0 }, rs = { 0 };
    uint64_t late_w = 0, late_s = 0;
    td_candles_init(&whole);
    apply_ops(&whole, &rw, ops, 0, n, &late_w);
    for (int cut = 1; cut < 6; cut++) {
        size_t at = n * (size_t)cut / 6;
        td_candles_init(&a);
        rec_free(&rs);
        late_s = 0;
        apply_ops(&a, &rs, ops, 0, at, &late_s);
        td_candle_t saved[TD_IV_COUNT];
        memset(saved, 0, sizeof saved);
        uint8_t mask = 0;
        for (int iv = 0; iv < TD_IV_COUNT; iv++)
            if (td_candles_current(&a, (td_interval_t)iv, &saved[iv])) mask |= (uint8_t)(1u << iv);
        td_candles_restore(&b, saved, mask, a.watermark_ns);
        apply_ops(&b, &rs, ops, at, n, &late_s);
        for (int iv = 0; iv < TD_IV_COUNT; iv++) {
            TD_CHECK(rs.n[iv] == rw.n[iv], "cut %d iv %s: %zu vs %zu", cut, td_interval_name((td_interval_t)iv),
                     rs.n[iv], rw.n[iv]);
            for (size_t i = 0; i < rw.n[iv]; i++)
                TD_CHECK(candle_eq(&rs.v[iv][i].c, &rw.v[iv][i].c) && rs.v[iv][i].step == rw.v[iv][i].step,
                         "cut %d iv %s candle %zu differs", cut, td_interval_name((td_interval_t)iv), i);
            td_candle_t x, y;
            bool hx = td_candles_current(&b, (td_interval_t)iv, &x), hy = td_candles_current(&whole, (td_interval_t)iv, &y);
            TD_CHECK(hx == hy && (!hx || candle_eq(&x, &y)), "cut %d iv %s open candle differs", cut,
                     td_interval_name((td_interval_t)iv));
        }
        TD_CHECK(late_s == late_w, "cut %d: late %llu vs %llu", cut, (unsigned long long)late_s,
                 (unsigned long long)late_w);
    }
    /* A restored candle whose window already ended closes at the next advance, exactly once; a
     * misaligned stored time is realigned. */
    td_candle_t one[TD_IV_COUNT];
    memset(one, 0, sizeof one);
    one[TD_IV_1M] = (td_candle_t){ .time = 125, .open = 1, .high = 2, .low = 1, .close = 2, .volume = 5,
                                   .trade_count = 2 };
    td_candles_restore(&b, one, 1u << TD_IV_1M, 1000 * NS);
    td_candle_t k;
    assert_true(td_candles_current(&b, TD_IV_1M, &k));
    assert_int_equal(k.time, 120);
    assert_false(td_candles_current(&b, TD_IV_1S, &k));
    assert_int_equal(b.late_trades, 0);
    rec_free(&rs);
    td_candles_advance(&b, 999 * NS, rec_emit, &rs);
    assert_int_equal(rs.n[TD_IV_1M], 1);
    assert_int_equal(rs.v[TD_IV_1M][0].c.time, 120);
    td_candles_advance(&b, 2000 * NS, rec_emit, &rs);
    assert_int_equal(rs.n[TD_IV_1M], 1);
    /* A stored watermark older than a stored open candle is raised to it: a trade cannot land in an
     * earlier window than one already open. */
    td_candles_restore(&b, one, 1u << TD_IV_1M, 0);
    assert_int_equal(b.watermark_ns, 120 * NS);
    assert_true(td_candles_trade(&b, 30 * NS, 3, 1, rec_emit, &rs));
    assert_true(td_candles_current(&b, TD_IV_1M, &k));
    assert_int_equal(k.time, 120);
    assert_int_equal(k.trade_count, 3);
    assert_true(td_candles_current(&b, TD_IV_1S, &k));
    assert_int_equal(k.time, 120);
    assert_int_equal(rs.n[TD_IV_1M], 1);
    rec_free(&rs);
    rec_free(&rw);
    td_free(ops);
}

/* ---- real data: shared/data/ohlcv_backtrader ---- */

typedef struct bar {
    int64_t t;          /* the row's stamp, seconds since the epoch (local times read as UTC) */
    int64_t o, h, l, c; /* scaled decimals */
    int64_t vol;
} bar_t;

/* Reads "YYYY-MM-DD[,HH:MM:SS],O,H,L,C,V,..." rows after a header line. */
static bar_t *load_bars(const char *rel, bool with_time, size_t *count)
{
    const char *path = td_test_data_path(rel);
    FILE *f = fopen(path, "r");
    if (!f) fail_msg("cannot open %s", path);
    char line[512];
    size_t n = 0, cap = 0;
    bar_t *bars = NULL;
    assert_non_null(fgets(line, sizeof line, f)); /* header */
    while (fgets(line, sizeof line, f)) {
        line[strcspn(line, "\r\n")] = 0;
        if (!line[0]) continue;
        char *fields[10];
        int nf = 0;
        for (char *p = line; nf < 10;) {
            fields[nf++] = p;
            char *comma = strchr(p, ',');
            if (!comma) break;
            *comma = 0;
            p = comma + 1;
        }
        int base = with_time ? 2 : 1;
        assert_true(nf >= base + 5);
        int y, mo, d, hh = 0, mi = 0, ss = 0;
        assert_int_equal(sscanf(fields[0], "%d-%d-%d", &y, &mo, &d), 3);
        if (with_time) assert_int_equal(sscanf(fields[1], "%d:%d:%d", &hh, &mi, &ss), 3);
        if (n == cap) {
            cap = cap ? cap * 2 : 1024;
            bars = td_realloc(bars, cap * sizeof *bars);
        }
        bar_t *b = &bars[n++];
        b->t = td_days_from_civil(y, mo, d) * DAY + hh * 3600 + mi * 60 + ss;
        int64_t *dst[5] = { &b->o, &b->h, &b->l, &b->c, &b->vol };
        for (int i = 0; i < 5; i++)
            assert_int_equal(td_dec_parse(fields[base + i], strlen(fields[base + i]), dst[i]), TD_OK);
    }
    fclose(f);
    *count = n;
    return bars;
}

/* Each bar becomes four trades at its start, in the order O, H, L, C; the volume rides on the close. */
static void feed_bars(td_candles_t *c, recorder_t *r, const bar_t *bars, size_t n, int64_t bar_len_s,
                      bool stamp_is_end)
{
    for (size_t i = 0; i < n; i++) {
        int64_t start = stamp_is_end ? bars[i].t - bar_len_s : bars[i].t;
        int64_t ns = start * NS;
        assert_false(td_candles_trade(c, ns, bars[i].o, 0, rec_emit, r));
        assert_false(td_candles_trade(c, ns, bars[i].h, 0, rec_emit, r));
        assert_false(td_candles_trade(c, ns, bars[i].l, 0, rec_emit, r));
        assert_false(td_candles_trade(c, ns, bars[i].c, bars[i].vol, rec_emit, r));
    }
    td_candles_advance(c, c->watermark_ns + 30 * DAY * NS, rec_emit, r); /* close everything */
}

static const bar_t *find_bar(const bar_t *bars, size_t n, int64_t day_start)
{
    for (size_t i = 0; i < n; i++)
        if (bars[i].t == day_start) return &bars[i];
    return NULL;
}

static bool ohlc_eq(const td_candle_t *k, const bar_t *b)
{
    return k->open == b->o && k->high == b->h && k->low == b->l && k->close == b->c;
}

/* 5-minute bars (stamped at their end) rebuild themselves as 5m candles and the daily file as 1d
 * candles, except 2006-01-27's high, which SOURCE.md documents as an inconsistency of the source. */
static void test_real_5min_to_daily(void **state)
{
    (void)state;
    size_t n5, nd;
    bar_t *m5 = load_bars("ohlcv_backtrader/2006-min-005.txt", true, &n5);
    bar_t *days = load_bars("ohlcv_backtrader/2006-day-001.txt", false, &nd);
    assert_int_equal(n5, 2142);
    assert_int_equal(nd, 255);
    td_candles_t c;
    recorder_t r = { 0 };
    td_candles_init(&c);
    feed_bars(&c, &r, m5, n5, 300, true);

    assert_int_equal(r.n[TD_IV_5M], n5);
    for (size_t i = 0; i < n5; i++) {
        const td_candle_t *k = &r.v[TD_IV_5M][i].c;
        assert_int_equal(k->time, m5[i].t - 300);
        assert_true(ohlc_eq(k, &m5[i]));
        assert_int_equal(k->trade_count, 4);
    }
    assert_int_equal(r.n[TD_IV_1D], 21);
    int matched = 0, mismatched = 0;
    const int64_t jan27 = td_days_from_civil(2006, 1, 27) * DAY;
    for (size_t i = 0; i < r.n[TD_IV_1D]; i++) {
        const td_candle_t *k = &r.v[TD_IV_1D][i].c;
        const bar_t *b = find_bar(days, nd, k->time);
        assert_non_null(b);
        assert_int_equal(k->trade_count, 4 * 102);
        if (ohlc_eq(k, b)) {
            matched++;
            continue;
        }
        mismatched++;
        char x[TD_DEC_BUFSZ], y[TD_DEC_BUFSZ];
        td_dec_fmt(k->high, x);
        td_dec_fmt(b->h, y);
        print_message("known source inconsistency on day %lld: 5-minute high %s, daily high %s\n",
                      (long long)(k->time / DAY), x, y);
        assert_int_equal(k->time, jan27); /* the only documented exception */
        assert_true(k->open == b->o && k->low == b->l && k->close == b->c);
        assert_int_equal(k->high, 368595000000LL); /* 3685.95 */
        assert_int_equal(b->h, 368548000000LL);    /* 3685.48 */
    }
    assert_int_equal(matched, 20);
    assert_int_equal(mismatched, 1);
    rec_free(&r);
    td_free(m5);
    td_free(days);
}

/* Daily bars rebuild the weekly file (weeks from Monday; the file dates each week by its last trading
 * day, which lies in the same Monday-based week). */
static void test_real_daily_to_weekly(void **state)
{
    (void)state;
    size_t nd, nw;
    bar_t *days = load_bars("ohlcv_backtrader/2006-day-001.txt", false, &nd);
    bar_t *weeks = load_bars("ohlcv_backtrader/2006-week-001.txt", false, &nw);
    assert_int_equal(nw, 52);
    td_candles_t c;
    recorder_t r = { 0 };
    td_candles_init(&c);
    feed_bars(&c, &r, days, nd, 0, false);
    assert_int_equal(r.n[TD_IV_1D], nd);
    for (size_t i = 0; i < nd; i++) {
        assert_int_equal(r.v[TD_IV_1D][i].c.time, days[i].t);
        assert_true(ohlc_eq(&r.v[TD_IV_1D][i].c, &days[i]));
    }
    assert_int_equal(r.n[TD_IV_1W], nw);
    for (size_t i = 0; i < nw; i++) {
        const td_candle_t *k = &r.v[TD_IV_1W][i].c;
        assert_int_equal(k->time, td_interval_start(TD_IV_1W, weeks[i].t));
        assert_int_equal((k->time / DAY + 3) % 7, 0); /* a Monday */
        char a[200];
        describe(k, a, sizeof a);
        TD_CHECK(ohlc_eq(k, &weeks[i]), "week %zu: candle %s", i, a);
    }
    rec_free(&r);
    td_free(days);
    td_free(weeks);
}

/* 1-minute bars with volume rebuild the daily OHLC (except 2006-02-06's low, documented in SOURCE.md);
 * the daily volume is the sum of the minute volumes, which the source's own daily volume is not. */
static void test_real_1min_volume_to_daily(void **state)
{
    (void)state;
    size_t nm, nd;
    bar_t *m1 = load_bars("ohlcv_backtrader/2006-01-02-volume-min-001.txt", true, &nm);
    bar_t *days = load_bars("ohlcv_backtrader/2006-volume-day-001.txt", false, &nd);
    assert_int_equal(nm, 30889);
    td_candles_t c;
    recorder_t r = { 0 };
    td_candles_init(&c);
    feed_bars(&c, &r, m1, nm, 60, true);
    assert_int_equal(r.n[TD_IV_1M], nm);
    assert_int_equal(r.n[TD_IV_1D], 41);
    const int64_t feb06 = td_days_from_civil(2006, 2, 6) * DAY;
    int matched = 0;
    size_t mi = 0;
    for (size_t i = 0; i < r.n[TD_IV_1D]; i++) {
        const td_candle_t *k = &r.v[TD_IV_1D][i].c;
        td_vol_t vol = 0;
        for (; mi < nm && m1[mi].t - 60 < k->time + DAY; mi++) vol += m1[mi].vol;
        assert_true(k->volume == vol);
        const bar_t *b = find_bar(days, nd, k->time);
        assert_non_null(b);
        if (ohlc_eq(k, b)) {
            matched++;
        } else {
            assert_int_equal(k->time, feb06);
            assert_true(k->open == b->o && k->high == b->h && k->close == b->c);
            assert_int_equal(k->low, 368100000000LL); /* 3681 in the minutes, 3680 in the daily file */
            assert_int_equal(b->l, 368000000000LL);
        }
    }
    assert_int_equal(matched, 40);
    rec_free(&r);
    td_free(m1);
    td_free(days);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_interval_names),      cmocka_unit_test(test_interval_start),
        cmocka_unit_test(test_basics),              cmocka_unit_test(test_negative_and_zero_times),
        cmocka_unit_test(test_random_vs_reference), cmocka_unit_test(test_restore),
        cmocka_unit_test(test_real_5min_to_daily),  cmocka_unit_test(test_real_daily_to_weekly),
        cmocka_unit_test(test_real_1min_volume_to_daily),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
