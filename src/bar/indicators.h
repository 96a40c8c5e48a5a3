/*
 * indicators.h: technical indicators over a series of candle closes, updated in O(1) per close.
 *
 * SMA(n), EMA(n), ZLMA(n) (zero-lag EMA), RSI(n) (Wilder), MACD(fast, slow, signal) and Bollinger
 * bands(n, k). Each indicator has:
 *   push(close)  commits a closed candle's close and returns its value;
 *   peek(close)  the value the indicator would have if `close` (the open candle's current price) were
 *                pushed, without changing anything: the live, in-progress reading of a chart.
 * Both return true when the value is defined ("ready"), false during the warm-up (fewer closes than the
 * indicator needs); *out is written only when ready.
 *
 * Definitions (as backtrader and most charting packages use them):
 *   SMA_t   = mean of the last n closes; ready from the n-th close.
 *   EMA_t   = EMA_{t-1} + a (x_t - EMA_{t-1}), a = 2 / (n + 1), seeded with the SMA of the first n closes
 *             (so EMA_{n-1} = SMA_{n-1}); ready from the n-th close.
 *   ZLMA_t  = EMA(n) of y_t = 2 x_t - x_{t-lag}, lag = (n - 1) / 2 (integer division): the EMA of the price
 *             plus its own momentum over the lag, which cancels most of the EMA's delay. Ready from the
 *             (lag + n)-th close.
 *   RSI_t   = 100 - 100 / (1 + G_t / L_t), G and L Wilder averages of gains and losses of consecutive
 *             closes: seeded with the plain mean of the first n changes, then G_t = (G_{t-1} (n-1) + g_t) / n.
 *             L = 0 gives 100 (50 when G = 0 too). Ready from the (n+1)-th close.
 *   MACD    = EMA(fast) - EMA(slow); signal = EMA(signal) of MACD (seeded like any EMA, with the mean of
 *             its first `signal` values); histogram = MACD - signal. The MACD line is ready from the
 *             slow-th close, the signal from the (slow + signal - 1)-th.
 *   Bollinger: middle = SMA(n), upper/lower = middle +- k * sigma, sigma the population standard
 *             deviation of the last n closes; ready from the n-th close.
 *
 * Numbers: closes come in as scaled decimals (decimal.h) and values go out as doubles in price units.
 * Window sums are kept exactly (128-bit integers), so SMA and Bollinger never drift however long they
 * run; the recursive averages (EMA, RSI, MACD) are doubles by nature. Indicators are derived views, never
 * stored state: after a restart they are rebuilt from stored candles.
 *
 * Memory: SMA, Bollinger and ZLMA keep a ring of their window, allocated by init (td_malloc) and freed by
 * destroy (destroy on a zeroed or already destroyed struct is a no-op). EMA, RSI and MACD need no memory.
 * Periods are 1..TD_IND_MAX_PERIOD; init returns TD_EINVAL otherwise.
 *
 * Threading: an indicator belongs to one thread (the engine's, or a reader's private copy).
 */
#ifndef TD_INDICATORS_H
#define TD_INDICATORS_H

#include <stdbool.h>
#include <stdint.h>

#define TD_IND_MAX_PERIOD 100000u

/* The recursive average shared by EMA, ZLMA and MACD, over doubles in price units. */
typedef struct td_ema_core {
    double alpha;
    double ema;       /* valid once count >= period */
    double seed_sum;  /* sum of the first period inputs while warming up */
    uint32_t period;
    uint32_t count;   /* inputs seen, saturating at period */
} td_ema_core_t;

typedef struct td_sma {
    int64_t *ring;    /* the last `period` closes */
    __int128 sum;     /* exact sum of the closes in the ring */
    uint32_t period, count, head; /* count saturates at period; head = next slot to write */
} td_sma_t;

typedef struct td_ema { td_ema_core_t core; } td_ema_t;

typedef struct td_zlma {
    int64_t *ring;    /* the last lag closes (lag + 1 slots) */
    uint32_t lag, count, head;
    td_ema_core_t core;
} td_zlma_t;

typedef struct td_rsi {
    double avg_gain, avg_loss; /* Wilder averages, valid once count > period */
    __int128 seed_gain, seed_loss; /* exact sums of the first period changes */
    int64_t prev;
    uint32_t period, count;    /* closes seen, saturating at period + 1 */
} td_rsi_t;

typedef struct td_macd {
    td_ema_core_t fast, slow, signal;
} td_macd_t;

typedef struct td_macd_value {
    double macd, signal, hist;
    bool signal_ready; /* false while only the MACD line is defined (signal and hist are then 0) */
} td_macd_value_t;

typedef struct td_bollinger {
    int64_t *ring;
    int64_t ref;              /* first close seen: sums are of d = close - ref, small and exact */
    __int128 sum;             /* sum of d over the window */
    unsigned __int128 sumsq;  /* sum of d^2 over the window's values with |d| < 2^55 */
    double k;
    uint32_t period, count, head;
    uint32_t nbig;            /* values in the window with |d| >= 2^55 (then: two-pass fallback) */
} td_bollinger_t;

typedef struct td_bollinger_value { double middle, upper, lower, stddev; } td_bollinger_value_t;

int td_sma_init(td_sma_t *s, uint32_t period);
void td_sma_destroy(td_sma_t *s);
bool td_sma_push(td_sma_t *s, int64_t close, double *out);
bool td_sma_peek(const td_sma_t *s, int64_t close, double *out);

int td_ema_init(td_ema_t *e, uint32_t period);
bool td_ema_push(td_ema_t *e, int64_t close, double *out);
bool td_ema_peek(const td_ema_t *e, int64_t close, double *out);

int td_zlma_init(td_zlma_t *z, uint32_t period);
void td_zlma_destroy(td_zlma_t *z);
bool td_zlma_push(td_zlma_t *z, int64_t close, double *out);
bool td_zlma_peek(const td_zlma_t *z, int64_t close, double *out);

int td_rsi_init(td_rsi_t *r, uint32_t period);
bool td_rsi_push(td_rsi_t *r, int64_t close, double *out);
bool td_rsi_peek(const td_rsi_t *r, int64_t close, double *out);

/* MACD(12, 26, 9) is the classic; fast < slow is required. push/peek return true once the MACD line is
 * defined; out->signal_ready says whether signal and histogram are too. */
int td_macd_init(td_macd_t *m, uint32_t fast, uint32_t slow, uint32_t signal);
bool td_macd_push(td_macd_t *m, int64_t close, td_macd_value_t *out);
bool td_macd_peek(const td_macd_t *m, int64_t close, td_macd_value_t *out);

/* Bollinger(20, 2) is the classic; k >= 0. */
int td_bollinger_init(td_bollinger_t *b, uint32_t period, double k);
void td_bollinger_destroy(td_bollinger_t *b);
bool td_bollinger_push(td_bollinger_t *b, int64_t close, td_bollinger_value_t *out);
bool td_bollinger_peek(const td_bollinger_t *b, int64_t close, td_bollinger_value_t *out);

#endif
