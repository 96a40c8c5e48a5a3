/* test_indicators.c: SMA, EMA, ZLMA, RSI, MACD and Bollinger bands, each checked at every close against a
 * naive recomputation over the whole series so far (a fresh window mean, the EMA's closed form as a
 * weighted sum, Wilder's RSI replayed from the start, a two-pass variance), and their peek() values against
 * the same recomputation with a hypothetical last close. Series: Oracle's daily closes 1995-2014 (with
 * spot values computed independently in Python), seeded random walks, and extreme values that force the
 * Bollinger fallback. Tolerance: 1e-9 relative. */
#include "testutil.h"

#include <math.h>
#include <string.h>

#include "bar/indicators.h"
#include "core/common.h"
#include "core/decimal.h"
#include "core/rng.h"

#define TOL 1e-9

static bool close_to(double got, double want, double scale)
{
    double m = fabs(want) > scale ? fabs(want) : scale;
    return fabs(got - want) <= TOL * m;
}

/* ---- naive references over x[0..t] (doubles, price units); NAN = not defined yet ---- */

static double naive_sma(const double *x, long t, long n)
{
    if (t + 1 < n) return NAN;
    double s = 0;
    for (long i = t - n + 1; i <= t; i++) s += x[i];
    return s / (double)n;
}

/* EMA of y[start..t] seeded with the mean of its first n values, as the closed form
 * (1-a)^(t-s) seed + sum_{j=s+1..t} a (1-a)^(t-j) y_j, s = start + n - 1: no recursion shared with the
 * code under test. */
static double naive_ema(const double *y, long start, long t, long n)
{
    long s = start + n - 1;
    if (t < s) return NAN;
    double a = 2.0 / ((double)n + 1.0), seed = 0;
    for (long i = start; i <= s; i++) seed += y[i];
    seed /= (double)n;
    double acc = 0, w = a;
    for (long j = t; j > s; j--) {
        acc += w * y[j];
        w *= 1.0 - a;
    }
    return acc + w / a * seed;
}

static double naive_rsi(const double *x, long t, long n)
{
    if (t < n) return NAN;
    double g = 0, l = 0;
    for (long i = 1; i <= n; i++) {
        double d = x[i] - x[i - 1];
        if (d > 0) g += d;
        else l -= d;
    }
    g /= (double)n;
    l /= (double)n;
    for (long i = n + 1; i <= t; i++) {
        double d = x[i] - x[i - 1];
        g = (g * ((double)n - 1) + (d > 0 ? d : 0)) / (double)n;
        l = (l * ((double)n - 1) + (d < 0 ? -d : 0)) / (double)n;
    }
    if (l == 0) return g == 0 ? 50.0 : 100.0;
    return 100.0 - 100.0 / (1.0 + g / l);
}

static void naive_boll(const double *x, long t, long n, double k, double *mid, double *up, double *lo, double *sd)
{
    *mid = naive_sma(x, t, n);
    if (isnan(*mid)) return;
    double v = 0;
    for (long i = t - n + 1; i <= t; i++) v += (x[i] - *mid) * (x[i] - *mid);
    *sd = sqrt(v / (double)n);
    *up = *mid + k * *sd;
    *lo = *mid - k * *sd;
}

/* y_j = 2 x_j - x_{j-lag} into y (from j = lag); ZLMA = EMA of y from index lag. */
static double naive_zlma(const double *x, double *y, long t, long n)
{
    long lag = (n - 1) / 2;
    if (t < lag) return NAN;
    for (long j = lag; j <= t; j++) y[j] = 2 * x[j] - x[j - lag];
    return naive_ema(y, lag, t, n);
}

/* MACD line and signal at t. m[slow-1 .. t-1] must hold the MACD line of the earlier closes (each call
 * stores m[t]; callers go through t in order), so each call stays O(t) rather than O(t^2). */
static void naive_macd(const double *x, double *m, long t, long fast, long slow, long signal, double *line,
                       double *sig)
{
    *line = *sig = NAN;
    if (t < slow - 1) return;
    m[t] = naive_ema(x, 0, t, fast) - naive_ema(x, 0, t, slow);
    *line = m[t];
    *sig = naive_ema(m, slow - 1, t, signal);
}

/* ---- the checks ---- */

typedef struct series { int64_t *v; double *x; long n; } series_t;

typedef struct inds {
    td_sma_t sma;
    td_ema_t ema;
    td_zlma_t zlma;
    td_rsi_t rsi;
    td_macd_t macd;
    td_bollinger_t boll;
    long n_sma, n_ema, n_zlma, n_rsi, fast, slow, signal, n_boll;
    double k;
} inds_t;

static void inds_init(inds_t *d, long n_sma, long n_ema, long n_zlma, long n_rsi, long fast, long slow, long signal,
                      long n_boll, double k)
{
    memset(d, 0, sizeof *d);
    assert_int_equal(td_sma_init(&d->sma, (uint32_t)n_sma), TD_OK);
    assert_int_equal(td_ema_init(&d->ema, (uint32_t)n_ema), TD_OK);
    assert_int_equal(td_zlma_init(&d->zlma, (uint32_t)n_zlma), TD_OK);
    assert_int_equal(td_rsi_init(&d->rsi, (uint32_t)n_rsi), TD_OK);
    assert_int_equal(td_macd_init(&d->macd, (uint32_t)fast, (uint32_t)slow, (uint32_t)signal), TD_OK);
    assert_int_equal(td_bollinger_init(&d->boll, (uint32_t)n_boll, k), TD_OK);
    d->n_sma = n_sma, d->n_ema = n_ema, d->n_zlma = n_zlma, d->n_rsi = n_rsi;
    d->fast = fast, d->slow = slow, d->signal = signal, d->n_boll = n_boll, d->k = k;
}

static void inds_destroy(inds_t *d)
{
    td_sma_destroy(&d->sma);
    td_zlma_destroy(&d->zlma);
    td_bollinger_destroy(&d->boll);
}

#define CHECK_VAL(name, ready, got, want, scale)                                                            \
    do {                                                                                                    \
        TD_CHECK((ready) == !isnan(want), "%s at t=%ld (%s): ready %d, reference %s", name, t, what, (int)(ready), \
                 isnan(want) ? "undefined" : "defined");                                                    \
        if (ready)                                                                                          \
            TD_CHECK(close_to(got, want, scale), "%s at t=%ld (%s): %.17g, reference %.17g", name, t, what, \
                     got, want);                                                                            \
    } while (0)

/* Compares every indicator's value for the series x[0..t] (x[t] = the close v, pushed or peeked). */
static void compare_at(inds_t *d, const series_t *s, double *y, double *m, long t, int64_t v, bool push)
{
    const char *what = push ? "push" : "peek";
    const double *x = s->x;
    double scale = fabs(x[t]) > 1e-6 ? fabs(x[t]) : 1e-6; /* price-valued outputs: relative to the price */
    double got = 0;
    bool r;

    r = push ? td_sma_push(&d->sma, v, &got) : td_sma_peek(&d->sma, v, &got);
    CHECK_VAL("sma", r, got, naive_sma(x, t, d->n_sma), scale);
    r = push ? td_ema_push(&d->ema, v, &got) : td_ema_peek(&d->ema, v, &got);
    CHECK_VAL("ema", r, got, naive_ema(x, 0, t, d->n_ema), scale);
    r = push ? td_zlma_push(&d->zlma, v, &got) : td_zlma_peek(&d->zlma, v, &got);
    CHECK_VAL("zlma", r, got, naive_zlma(x, y, t, d->n_zlma), scale);
    r = push ? td_rsi_push(&d->rsi, v, &got) : td_rsi_peek(&d->rsi, v, &got);
    CHECK_VAL("rsi", r, got, naive_rsi(x, t, d->n_rsi), 1.0);

    td_macd_value_t mv;
    memset(&mv, 0, sizeof mv);
    r = push ? td_macd_push(&d->macd, v, &mv) : td_macd_peek(&d->macd, v, &mv);
    double line, sig;
    naive_macd(x, m, t, d->fast, d->slow, d->signal, &line, &sig);
    CHECK_VAL("macd", r, mv.macd, line, scale);
    if (r) {
        CHECK_VAL("macd signal", mv.signal_ready, mv.signal, sig, scale);
        if (mv.signal_ready) CHECK_VAL("macd hist", true, mv.hist, line - sig, scale);
    }

    td_bollinger_value_t bv;
    double mid = NAN, up = NAN, lo = NAN, sd = NAN;
    r = push ? td_bollinger_push(&d->boll, v, &bv) : td_bollinger_peek(&d->boll, v, &bv);
    naive_boll(x, t, d->n_boll, d->k, &mid, &up, &lo, &sd);
    CHECK_VAL("bollinger middle", r, bv.middle, mid, scale);
    if (r) {
        CHECK_VAL("bollinger stddev", true, bv.stddev, sd, scale);
        CHECK_VAL("bollinger upper", true, bv.upper, up, scale);
        CHECK_VAL("bollinger lower", true, bv.lower, lo, scale);
    }
}

/* Feeds the series, peeking two hypothetical closes before each push. */
static void run_series(inds_t *d, series_t *s, td_rng_t *rng)
{
    double *y = td_calloc((size_t)s->n + 1, sizeof(double)), *m = td_calloc((size_t)s->n + 1, sizeof(double));
    for (long t = 0; t < s->n; t++) {
        int64_t real = s->v[t];
        for (int p = 0; p < 2; p++) {
            int64_t hyp = p == 0 ? real : real + ((int64_t)td_rng_below(rng, 2001) - 1000) * 100000;
            s->x[t] = td_dec_to_double(hyp);
            compare_at(d, s, y, m, t, hyp, false);
        }
        s->x[t] = td_dec_to_double(real);
        compare_at(d, s, y, m, t, real, true);
    }
    td_free(y);
    td_free(m);
}

static series_t load_orcl(long max)
{
    const char *path = td_test_data_path("ohlcv_backtrader/orcl-1995-2014.txt");
    FILE *f = fopen(path, "r");
    if (!f) fail_msg("cannot open %s", path);
    series_t s = { td_malloc(6000 * sizeof(int64_t)), td_malloc(6000 * sizeof(double)), 0 };
    char line[256];
    assert_non_null(fgets(line, sizeof line, f));
    while (fgets(line, sizeof line, f) && s.n < max) {
        /* Date,Open,High,Low,Close,... */
        char *p = line;
        for (int i = 0; i < 4; i++) {
            p = strchr(p, ',');
            assert_non_null(p);
            p++;
        }
        char *end = strchr(p, ',');
        assert_non_null(end);
        assert_int_equal(td_dec_parse(p, (size_t)(end - p), &s.v[s.n]), TD_OK);
        s.x[s.n] = td_dec_to_double(s.v[s.n]);
        s.n++;
        assert_true(s.n < 6000);
    }
    fclose(f);
    return s;
}

static void test_orcl_vs_naive(void **state)
{
    (void)state;
    td_rng_t rng;
    td_rng_seed(&rng, td_test_seed());
    /* The naive references are quadratic: the whole file normally, its first 1200 days under sanitizers. */
    series_t s = load_orcl(td_test_sanitized() ? 1200 : 6000);
    inds_t d;
    inds_init(&d, 20, 12, 20, 14, 12, 26, 9, 20, 2.0);
    run_series(&d, &s, &rng);
    inds_destroy(&d);
    td_free(s.v);
    td_free(s.x);
}

/* Spot values from an independent Python implementation of the same definitions (tests' header). */
static void test_orcl_known_values(void **state)
{
    (void)state;
    series_t s = load_orcl(6000);
    assert_int_equal(s.n, 5036);
    inds_t d;
    inds_init(&d, 20, 12, 20, 14, 12, 26, 9, 20, 2.0);
    td_ema_t ema26;
    assert_int_equal(td_ema_init(&ema26, 26), TD_OK);
    struct {
        long t;
        double close, sma20, ema12, ema26, rsi14, macd, signal, bb_up, bb_lo, zlma20;
    } known[] = {
        { 1000, 6.4375, 5.9968749500000005, 6.136750759923077, 5.848546466755255, 61.927885716429614,
          0.2882042931678219, 0.27696563519994133, 6.503647726855062, 5.490102173144939, 6.308992744866773 },
        { 2500, 13.34, 12.9905, 12.961489251352269, 12.829056479372857, 63.26623499202028, 0.1324327719794116,
          0.13703612885169547, 13.477304889046938, 12.503695110953064, 12.953187683050794 },
        { 5035, 44.970001, 43.24549975000001, 44.60630559985716, 43.302934113910766, 62.25504762534791,
          1.3033714859463927, 1.1315700612438848, 47.806786671364016, 38.684212828636, 46.50766028543829 },
    };
    size_t k = 0;
    for (long t = 0; t < s.n; t++) {
        double sma = 0, ema = 0, e26 = 0, rsi = 0, zl = 0;
        td_macd_value_t mv = { 0 };
        td_bollinger_value_t bv = { 0 };
        td_sma_push(&d.sma, s.v[t], &sma);
        td_ema_push(&d.ema, s.v[t], &ema);
        td_ema_push(&ema26, s.v[t], &e26);
        td_rsi_push(&d.rsi, s.v[t], &rsi);
        td_zlma_push(&d.zlma, s.v[t], &zl);
        td_macd_push(&d.macd, s.v[t], &mv);
        td_bollinger_push(&d.boll, s.v[t], &bv);
        if (k < TD_ARRAY_LEN(known) && known[k].t == t) {
            const char *what = "known";
            CHECK_VAL("close", true, s.x[t], known[k].close, 1.0);
            CHECK_VAL("sma20", true, sma, known[k].sma20, 1.0);
            CHECK_VAL("ema12", true, ema, known[k].ema12, 1.0);
            CHECK_VAL("ema26", true, e26, known[k].ema26, 1.0);
            CHECK_VAL("rsi14", true, rsi, known[k].rsi14, 1.0);
            CHECK_VAL("macd", true, mv.macd, known[k].macd, 1.0);
            CHECK_VAL("signal", mv.signal_ready, mv.signal, known[k].signal, 1.0);
            CHECK_VAL("bb middle", true, bv.middle, known[k].sma20, 1.0);
            CHECK_VAL("bb upper", true, bv.upper, known[k].bb_up, 1.0);
            CHECK_VAL("bb lower", true, bv.lower, known[k].bb_lo, 1.0);
            CHECK_VAL("zlma20", true, zl, known[k].zlma20, 1.0);
            k++;
        }
    }
    assert_int_equal(k, TD_ARRAY_LEN(known));
    inds_destroy(&d);
    td_free(s.v);
    td_free(s.x);
}

/* Random walks with small and large periods (period 1 and 2 included), flat stretches (RSI 50, zero
 * deviation), and huge values that exercise the Bollinger fallback. */
static void test_random_vs_naive(void **state)
{
    (void)state;
    td_rng_t rng;
    td_rng_seed(&rng, td_test_seed() ^ 0xabcdef);
    long len = td_test_sanitized() ? 250 : 700;
    struct { long sma, ema, zlma, rsi, fast, slow, signal, boll; double k; } cfg[] = {
        { 1, 1, 1, 1, 1, 2, 1, 1, 2.0 },   { 2, 2, 2, 2, 2, 3, 2, 2, 1.0 },
        { 3, 5, 4, 3, 3, 7, 4, 3, 0.0 },   { 20, 12, 20, 14, 12, 26, 9, 20, 2.0 },
        { 50, 40, 33, 30, 10, 50, 20, 60, 2.5 },
    };
    for (size_t c = 0; c < TD_ARRAY_LEN(cfg); c++) {
        for (int kind = 0; kind < 3; kind++) {
            series_t s = { td_malloc((size_t)len * sizeof(int64_t)), td_malloc((size_t)len * sizeof(double)),
                           len };
            int64_t px = 100 * TD_DEC_SCALE;
            for (long i = 0; i < len; i++) {
                if (kind == 0) px += ((int64_t)td_rng_below(&rng, 2001) - 1000) * 100000; /* walk */
                else if (kind == 1) { if (td_rng_below(&rng, 4) == 0) px += ((int64_t)td_rng_below(&rng, 3) - 1) * 1000000; } /* flat-ish */
                else px = (int64_t)(td_rng_next(&rng) >> 2) - (INT64_MAX >> 3); /* +-2.3e18: fallback path */
                s.v[i] = px;
                s.x[i] = td_dec_to_double(px);
            }
            inds_t d;
            inds_init(&d, cfg[c].sma, cfg[c].ema, cfg[c].zlma, cfg[c].rsi, cfg[c].fast, cfg[c].slow, cfg[c].signal,
                      cfg[c].boll, cfg[c].k);
            run_series(&d, &s, &rng);
            inds_destroy(&d);
            td_free(s.v);
            td_free(s.x);
        }
    }
}

/* A long run never drifts: the SMA after 300k closes is exactly the window's mean. */
static void test_sma_no_drift(void **state)
{
    (void)state;
    td_rng_t rng;
    td_rng_seed(&rng, td_test_seed() ^ 0x77);
    td_sma_t s;
    td_bollinger_t b;
    assert_int_equal(td_sma_init(&s, 50), TD_OK);
    assert_int_equal(td_bollinger_init(&b, 50, 2.0), TD_OK);
    int64_t win[50];
    double got = 0;
    td_bollinger_value_t bv;
    for (long i = 0; i < 300000; i++) {
        int64_t v = 1000 * TD_DEC_SCALE + (int64_t)td_rng_below(&rng, 100000000000ULL) + i * 1000; /* drifting up */
        win[i % 50] = v;
        td_sma_push(&s, v, &got);
        td_bollinger_push(&b, v, &bv);
    }
    __int128 sum = 0;
    for (int i = 0; i < 50; i++) sum += win[i];
    assert_true(got == (double)sum / 1e8 / 50.0);
    double mean = (double)sum / 50.0, var = 0;
    for (int i = 0; i < 50; i++) var += ((double)win[i] - mean) * ((double)win[i] - mean);
    TD_CHECK(close_to(bv.stddev, sqrt(var / 50) / 1e8, 1e-12), "stddev %.17g vs %.17g", bv.stddev,
             sqrt(var / 50) / 1e8);
    td_sma_destroy(&s);
    td_bollinger_destroy(&b);
}

static void test_errors_and_warmup(void **state)
{
    (void)state;
    td_sma_t s;
    td_ema_t e;
    td_zlma_t z;
    td_rsi_t r;
    td_macd_t m;
    td_bollinger_t b;
    assert_int_equal(td_sma_init(&s, 0), TD_EINVAL);
    td_sma_destroy(&s); /* safe after a failed init */
    assert_int_equal(td_sma_init(&s, TD_IND_MAX_PERIOD + 1), TD_EINVAL);
    assert_int_equal(td_ema_init(&e, 0), TD_EINVAL);
    assert_int_equal(td_zlma_init(&z, 0), TD_EINVAL);
    td_zlma_destroy(&z);
    assert_int_equal(td_rsi_init(&r, 0), TD_EINVAL);
    assert_int_equal(td_macd_init(&m, 26, 12, 9), TD_EINVAL);
    assert_int_equal(td_macd_init(&m, 12, 12, 9), TD_EINVAL);
    assert_int_equal(td_macd_init(&m, 12, 26, 0), TD_EINVAL);
    assert_int_equal(td_bollinger_init(&b, 20, -1.0), TD_EINVAL);
    assert_int_equal(td_bollinger_init(&b, 20, NAN), TD_EINVAL);
    assert_int_equal(td_bollinger_init(&b, 20, INFINITY), TD_EINVAL);
    td_bollinger_destroy(&b);
    td_sma_destroy(NULL);
    td_zlma_destroy(NULL);
    td_bollinger_destroy(NULL);

    /* Warm-up lengths, and *out untouched while not ready. */
    assert_int_equal(td_rsi_init(&r, 3), TD_OK);
    double out = -1;
    for (int i = 0; i < 3; i++) {
        assert_false(td_rsi_peek(&r, 5 * TD_DEC_SCALE, &out));
        assert_false(td_rsi_push(&r, 5 * TD_DEC_SCALE, &out));
    }
    assert_true(out == -1);
    assert_true(td_rsi_peek(&r, 5 * TD_DEC_SCALE, &out));
    assert_true(out == 50.0); /* no gains, no losses */
    assert_true(td_rsi_push(&r, 6 * TD_DEC_SCALE, &out));
    assert_true(out == 100.0); /* gains only */
    assert_true(td_rsi_push(&r, 6 * TD_DEC_SCALE, NULL)); /* NULL out is allowed */

    assert_int_equal(td_macd_init(&m, 2, 3, 2), TD_OK);
    td_macd_value_t mv;
    assert_false(td_macd_push(&m, TD_DEC_SCALE, &mv));
    assert_false(td_macd_push(&m, TD_DEC_SCALE, &mv));
    assert_true(td_macd_push(&m, TD_DEC_SCALE, &mv)); /* line ready at the slow-th close */
    assert_false(mv.signal_ready);
    assert_true(mv.signal == 0 && mv.hist == 0);
    assert_true(td_macd_push(&m, TD_DEC_SCALE, &mv)); /* signal at slow + signal - 1 */
    assert_true(mv.signal_ready);

    /* Peeking never changes what push later reports. */
    assert_int_equal(td_sma_init(&s, 3), TD_OK);
    double a = 0, c = 0;
    for (int i = 1; i <= 10; i++) {
        for (int p = 0; p < 5; p++) td_sma_peek(&s, (int64_t)(p * 7) * TD_DEC_SCALE, &a);
        bool ready = td_sma_push(&s, (int64_t)i * TD_DEC_SCALE, &c);
        assert_int_equal(ready, i >= 3);
        if (ready) assert_true(c == (double)(3 * i - 3) / 3.0);
    }
    td_sma_destroy(&s);
    td_sma_destroy(&s); /* twice is a no-op */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_errors_and_warmup), cmocka_unit_test(test_orcl_known_values),
        cmocka_unit_test(test_sma_no_drift),      cmocka_unit_test(test_random_vs_naive),
        cmocka_unit_test(test_orcl_vs_naive),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
