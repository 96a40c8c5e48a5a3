/*
 * decimal.h: exact decimals as scaled 64-bit integers.
 *
 * Every price and quantity in tickd is an int64 holding value * 1e8 (8 decimal places: enough for
 * crypto's satoshi-sized steps and for equities' 4 implied decimals; range +-92,233,720,368). Parsing is
 * exact: digits past the 8th decimal must be zeros or the parse fails with TD_ERANGE rather than rounding
 * silently; overflow is TD_ERANGE; anything that is not a decimal number is TD_EPROTO. Exponents ("1e-5",
 * "2.5E+3") are accepted when the result is exact. Printing gives the shortest exact form ("185.42",
 * "0.00001234", "-3", never "185.41999999").
 *
 * Sums that can outgrow int64 (candle volume) use td_vol_t (128-bit) with the same scale.
 */
#ifndef TD_DECIMAL_H
#define TD_DECIMAL_H

#include <stddef.h>
#include <stdint.h>

#define TD_DEC_DIGITS 8
#define TD_DEC_SCALE  100000000LL
#define TD_PX_SCALE   TD_DEC_SCALE
#define TD_QTY_SCALE  TD_DEC_SCALE
#define TD_DEC_BUFSZ  32  /* enough for any int64 decimal plus sign, point and NUL */
#define TD_DEC128_BUFSZ 48

typedef __int128 td_vol_t;

/* Parses s[0..len) exactly. Returns TD_OK, TD_EPROTO (not a number) or TD_ERANGE (overflow/inexact). */
int td_dec_parse(const char *s, size_t len, int64_t *out);

/* Converts an integer carrying `decimals` implied decimals (LOBSTER: 4, ITCH Price(8): 8) to the tickd
 * scale. Returns TD_OK or TD_ERANGE (overflow, or decimals > 18). */
int td_dec_from_scaled(int64_t v, int decimals, int64_t *out);

/* Whole units (shares, contracts) to the tickd scale; TD_ERANGE on overflow. */
static inline int td_dec_from_int(int64_t v, int64_t *out)
{
    return __builtin_mul_overflow(v, TD_DEC_SCALE, out) ? -34 /* TD_ERANGE */ : 0;
}

/* Writes the shortest exact form of v and a NUL into buf (>= TD_DEC_BUFSZ bytes); returns the length. */
size_t td_dec_fmt(int64_t v, char *buf);
size_t td_dec128_fmt(td_vol_t v, char *buf); /* buf >= TD_DEC128_BUFSZ */

/* For indicators and display only: never stored in state. */
static inline double td_dec_to_double(int64_t v) { return (double)v / (double)TD_DEC_SCALE; }

#endif
