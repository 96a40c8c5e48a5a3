/*
 * indicators.c: O(1) incremental indicators over candle closes (see indicators.h for the definitions).
 *
 * Every push and peek is constant time: windows are rings with running sums; recursive averages carry
 * their previous value. Peek evaluates the same formula as push on a hypothetical next close, reading the
 * state only, so a chart's live value and the value committed when the candle closes agree exactly when
 * the final close equals the peeked one.
 *
 * Exactness: window sums are 128-bit integers of scaled decimals, so SMA never accumulates rounding and a
 * million closes later still equals a fresh mean of its window. Bollinger keeps sums of (close - ref) and
 * of its square, with ref the first close, so the variance numerator n*sum(d^2) - sum(d)^2 is computed
 * exactly (no catastrophic cancellation between two large nearly equal doubles). Only when that cannot
 * fit (a close 2^55 scaled units = 3.6e8 price units away from the first close, or an int128 overflow in
 * the numerator) does a value fall back to a two-pass double computation over the ring, O(n).
 *
 * Threading: an indicator belongs to one thread.
 */
#include "bar/indicators.h"

#include <math.h>
#include <string.h>

#include "core/common.h"
#include "core/decimal.h"

#define SCALE ((double)TD_DEC_SCALE)
#define BIG_DEV ((__int128)1 << 55) /* |d| below this: d^2 * TD_IND_MAX_PERIOD fits unsigned 128 bits */

static bool period_ok(uint32_t period) { return period >= 1 && period <= TD_IND_MAX_PERIOD; }

static double to_price(__int128 scaled) { return (double)scaled / SCALE; }

/* ---- the recursive average ---- */

static void core_init(td_ema_core_t *c, uint32_t period)
{
    memset(c, 0, sizeof *c);
    c->period = period;
    c->alpha = 2.0 / ((double)period + 1.0);
}

static bool core_peek(const td_ema_core_t *c, double y, double *out)
{
    if (c->count < c->period) {
        if (c->count + 1 < c->period) return false;
        *out = (c->seed_sum + y) / (double)c->period;
        return true;
    }
    *out = c->ema + c->alpha * (y - c->ema);
    return true;
}

static bool core_push(td_ema_core_t *c, double y, double *out)
{
    double v;
    if (!core_peek(c, y, &v)) {
        c->seed_sum += y;
        c->count++;
        return false;
    }
    c->ema = v;
    if (c->count < c->period) c->count++;
    if (out) *out = v;
    return true;
}

/* ---- SMA ---- */

int td_sma_init(td_sma_t *s, uint32_t period)
{
    memset(s, 0, sizeof *s);
    if (!period_ok(period)) return TD_EINVAL;
    s->ring = td_malloc(period * sizeof *s->ring);
    s->period = period;
    return TD_OK;
}

void td_sma_destroy(td_sma_t *s)
{
    if (!s) return;
    td_free(s->ring);
    memset(s, 0, sizeof *s);
}

bool td_sma_peek(const td_sma_t *s, int64_t close, double *out)
{
    if (s->count + 1 < s->period) return false;
    __int128 sum = s->sum + close - (s->count == s->period ? s->ring[s->head] : 0);
    *out = to_price(sum) / (double)s->period;
    return true;
}

bool td_sma_push(td_sma_t *s, int64_t close, double *out)
{
    if (s->count == s->period) s->sum -= s->ring[s->head];
    else s->count++;
    s->sum += close;
    s->ring[s->head] = close;
    s->head = s->head + 1 == s->period ? 0 : s->head + 1;
    if (s->count < s->period) return false;
    if (out) *out = to_price(s->sum) / (double)s->period;
    return true;
}

/* ---- EMA ---- */

int td_ema_init(td_ema_t *e, uint32_t period)
{
    memset(e, 0, sizeof *e);
    if (!period_ok(period)) return TD_EINVAL;
    core_init(&e->core, period);
    return TD_OK;
}

bool td_ema_push(td_ema_t *e, int64_t close, double *out) { return core_push(&e->core, to_price(close), out); }

bool td_ema_peek(const td_ema_t *e, int64_t close, double *out)
{
    return core_peek(&e->core, to_price(close), out);
}

/* ---- ZLMA ---- */

int td_zlma_init(td_zlma_t *z, uint32_t period)
{
    memset(z, 0, sizeof *z);
    if (!period_ok(period)) return TD_EINVAL;
    z->lag = (period - 1) / 2;
    z->ring = td_malloc((z->lag + 1) * sizeof *z->ring);
    core_init(&z->core, period);
    return TD_OK;
}

void td_zlma_destroy(td_zlma_t *z)
{
    if (!z) return;
    td_free(z->ring);
    memset(z, 0, sizeof *z);
}

/* y = 2 x_t - x_{t-lag}, exact in 128 bits before the one conversion to double. ring[head] is the oldest of
 * the last lag closes once count == lag. */
static double zl_input(const td_zlma_t *z, int64_t close)
{
    int64_t old = z->lag ? z->ring[z->head] : close;
    return to_price((__int128)2 * close - old);
}

bool td_zlma_peek(const td_zlma_t *z, int64_t close, double *out)
{
    if (z->count < z->lag) return false;
    return core_peek(&z->core, zl_input(z, close), out);
}

bool td_zlma_push(td_zlma_t *z, int64_t close, double *out)
{
    bool ready = false;
    if (z->count == z->lag) ready = core_push(&z->core, zl_input(z, close), out);
    else z->count++;
    if (z->lag) {
        z->ring[z->head] = close;
        z->head = z->head + 1 == z->lag ? 0 : z->head + 1;
    }
    return ready;
}

/* ---- RSI (Wilder) ---- */

int td_rsi_init(td_rsi_t *r, uint32_t period)
{
    memset(r, 0, sizeof *r);
    if (!period_ok(period)) return TD_EINVAL;
    r->period = period;
    return TD_OK;
}

static double rsi_of(double gain, double loss)
{
    if (loss == 0.0) return gain == 0.0 ? 50.0 : 100.0;
    return 100.0 - 100.0 / (1.0 + gain / loss);
}

/* Computes the averages after `close`; false while fewer than period changes are known. */
static bool rsi_step(const td_rsi_t *r, int64_t close, double *gain, double *loss)
{
    if (r->count == 0) return false; /* no previous close: no change yet */
    __int128 delta = (__int128)close - r->prev;
    __int128 g = delta > 0 ? delta : 0, l = delta < 0 ? -delta : 0;
    double n = (double)r->period;
    if (r->count <= r->period) { /* this change is number `count` */
        if (r->count < r->period) return false;
        *gain = to_price(r->seed_gain + g) / n;
        *loss = to_price(r->seed_loss + l) / n;
        return true;
    }
    *gain = (r->avg_gain * (n - 1.0) + to_price(g)) / n;
    *loss = (r->avg_loss * (n - 1.0) + to_price(l)) / n;
    return true;
}

bool td_rsi_peek(const td_rsi_t *r, int64_t close, double *out)
{
    double g, l;
    if (!rsi_step(r, close, &g, &l)) return false;
    *out = rsi_of(g, l);
    return true;
}

bool td_rsi_push(td_rsi_t *r, int64_t close, double *out)
{
    double g, l;
    bool ready = rsi_step(r, close, &g, &l);
    if (ready) {
        r->avg_gain = g;
        r->avg_loss = l;
    } else if (r->count > 0) {
        __int128 delta = (__int128)close - r->prev;
        if (delta > 0) r->seed_gain += delta;
        else r->seed_loss -= delta;
    }
    if (r->count <= r->period) r->count++;
    r->prev = close;
    if (ready && out) *out = rsi_of(g, l);
    return ready;
}

/* ---- MACD ---- */

int td_macd_init(td_macd_t *m, uint32_t fast, uint32_t slow, uint32_t signal)
{
    memset(m, 0, sizeof *m);
    if (!period_ok(fast) || !period_ok(slow) || !period_ok(signal) || fast >= slow) return TD_EINVAL;
    core_init(&m->fast, fast);
    core_init(&m->slow, slow);
    core_init(&m->signal, signal);
    return TD_OK;
}

static void macd_out(double line, bool have_signal, double signal, td_macd_value_t *out)
{
    if (!out) return;
    out->macd = line;
    out->signal_ready = have_signal;
    out->signal = have_signal ? signal : 0.0;
    out->hist = have_signal ? line - signal : 0.0;
}

bool td_macd_peek(const td_macd_t *m, int64_t close, td_macd_value_t *out)
{
    double x = to_price(close), f, s, sig = 0.0;
    bool have_fast = core_peek(&m->fast, x, &f);
    if (!core_peek(&m->slow, x, &s) || !have_fast) return false;
    bool have_sig = core_peek(&m->signal, f - s, &sig);
    macd_out(f - s, have_sig, sig, out);
    return true;
}

bool td_macd_push(td_macd_t *m, int64_t close, td_macd_value_t *out)
{
    double x = to_price(close), f = 0.0, s = 0.0, sig = 0.0;
    bool have_fast = core_push(&m->fast, x, &f);
    if (!core_push(&m->slow, x, &s) || !have_fast) return false;
    bool have_sig = core_push(&m->signal, f - s, &sig);
    macd_out(f - s, have_sig, sig, out);
    return true;
}

/* ---- Bollinger bands ---- */

int td_bollinger_init(td_bollinger_t *b, uint32_t period, double k)
{
    memset(b, 0, sizeof *b);
    if (!period_ok(period) || !(k >= 0.0) || isinf(k)) return TD_EINVAL;
    b->ring = td_malloc(period * sizeof *b->ring);
    b->period = period;
    b->k = k;
    return TD_OK;
}

void td_bollinger_destroy(td_bollinger_t *b)
{
    if (!b) return;
    td_free(b->ring);
    memset(b, 0, sizeof *b);
}

static bool big_dev(__int128 d) { return d >= BIG_DEV || d <= -BIG_DEV; }

/* The window's values: the ring's, with `repl` (when has_repl) replacing the oldest / filling the slot. */
static double ring_mean_var(const td_bollinger_t *b, bool has_repl, int64_t repl, double *var)
{
    uint32_t n = b->period;
    double mean = 0.0;
    for (uint32_t i = 0; i < n; i++) mean += (double)((has_repl && i == b->head) ? repl : b->ring[i]);
    mean /= (double)n;
    double ss = 0.0;
    for (uint32_t i = 0; i < n; i++) {
        double d = (double)((has_repl && i == b->head) ? repl : b->ring[i]) - mean;
        ss += d * d;
    }
    *var = ss / (double)n;
    return mean;
}

/* Bands from exact sums of d = close - ref over a full window; nbig > 0 or an overflow: two-pass. */
static void boll_value(const td_bollinger_t *b, __int128 sum, unsigned __int128 sumsq, uint32_t nbig,
                       bool has_repl, int64_t repl, td_bollinger_value_t *out)
{
    uint32_t n = b->period;
    double middle, sd;
    unsigned __int128 nsq, sum2;
    unsigned __int128 asum = sum < 0 ? (unsigned __int128)-sum : (unsigned __int128)sum;
    if (nbig == 0 && !__builtin_mul_overflow(sumsq, (unsigned __int128)n, &nsq) &&
        !__builtin_mul_overflow(asum, asum, &sum2)) {
        /* n * sum(d^2) - (sum d)^2 = n^2 * variance, exactly, and never negative. */
        middle = to_price((__int128)b->ref * n + sum) / (double)n;
        sd = sqrt((double)(nsq - sum2)) / (double)n / SCALE;
    } else {
        double var;
        middle = ring_mean_var(b, has_repl, repl, &var) / SCALE;
        sd = sqrt(var) / SCALE;
    }
    out->middle = middle;
    out->stddev = sd;
    out->upper = middle + b->k * sd;
    out->lower = middle - b->k * sd;
}

/* What a close contributes to the sums: d, and d^2 unless |d| is too big for the exact path. */
static void boll_terms(const td_bollinger_t *b, int64_t close, __int128 *d, unsigned __int128 *d2, uint32_t *big)
{
    *d = (__int128)close - b->ref;
    *big = big_dev(*d);
    *d2 = *big ? 0 : (unsigned __int128)(*d * *d);
}

bool td_bollinger_peek(const td_bollinger_t *b, int64_t close, td_bollinger_value_t *out)
{
    if (b->count + 1 < b->period) return false;
    int64_t ref = b->count ? b->ref : close; /* period 1, first close: it becomes the reference */
    td_bollinger_t tmp = *b; /* only scalars are written to the copy; its ring is read, never written */
    tmp.ref = ref;
    __int128 d;
    unsigned __int128 d2;
    uint32_t big;
    boll_terms(&tmp, close, &d, &d2, &big);
    __int128 sum = b->sum + d;
    unsigned __int128 sumsq = b->sumsq + d2;
    uint32_t nbig = b->nbig + big;
    if (b->count == b->period) { /* the oldest leaves */
        __int128 od;
        unsigned __int128 od2;
        uint32_t obig;
        boll_terms(&tmp, b->ring[b->head], &od, &od2, &obig);
        sum -= od;
        sumsq -= od2;
        nbig -= obig;
    }
    if (out) boll_value(&tmp, sum, sumsq, nbig, true, close, out);
    return true;
}

bool td_bollinger_push(td_bollinger_t *b, int64_t close, td_bollinger_value_t *out)
{
    if (b->count == 0 && b->head == 0) b->ref = close;
    __int128 d;
    unsigned __int128 d2;
    uint32_t big;
    if (b->count == b->period) {
        boll_terms(b, b->ring[b->head], &d, &d2, &big);
        b->sum -= d;
        b->sumsq -= d2;
        b->nbig -= big;
    } else {
        b->count++;
    }
    boll_terms(b, close, &d, &d2, &big);
    b->sum += d;
    b->sumsq += d2;
    b->nbig += big;
    b->ring[b->head] = close;
    b->head = b->head + 1 == b->period ? 0 : b->head + 1;
    if (b->count < b->period) return false;
    /* The new close sits at head - 1 and the ring is the whole window: no replacement needed. */
    if (out) boll_value(b, b->sum, b->sumsq, b->nbig, false, 0, out);
    return true;
}
