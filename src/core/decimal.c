/*
 * decimal.c: exact parsing and printing of scaled decimals (see decimal.h for the contract).
 *
 * The parser keeps the significant digits in a uint64 and counts withheld trailing zeros separately, so
 * "0.000000010000000000000000000" and "1e-5" parse exactly without a bignum: the value is
 * m * 10^(z + exp - frac) and only the final shift to scale 1e8 can overflow or lose digits.
 */
#include "core/decimal.h"

#include "core/common.h"

static const uint64_t pow10_u64[20] = {
    1ULL, 10ULL, 100ULL, 1000ULL, 10000ULL, 100000ULL, 1000000ULL, 10000000ULL, 100000000ULL,
    1000000000ULL, 10000000000ULL, 100000000000ULL, 1000000000000ULL, 10000000000000ULL,
    100000000000000ULL, 1000000000000000ULL, 10000000000000000ULL, 100000000000000000ULL,
    1000000000000000000ULL, 10000000000000000000ULL,
};

int td_dec_parse(const char *s, size_t len, int64_t *out)
{
    size_t i = 0;
    int neg = 0;
    if (len == 0) return TD_EPROTO;
    if (s[0] == '-' || s[0] == '+') { neg = s[0] == '-'; i = 1; }

    uint64_t m = 0;     /* significant digits seen so far (without withheld zeros) */
    int64_t z = 0;      /* trailing zeros withheld from m */
    int64_t frac = 0;   /* digits after the point */
    int digits = 0, seen_point = 0, overflow = 0;

    for (; i < len; i++) {
        char c = s[i];
        if (c >= '0' && c <= '9') {
            digits++;
            if (seen_point) frac++;
            if (c == '0') { z++; continue; }
            /* m = m * 10^(z+1) + d, with overflow detection */
            if (m != 0) {
                if (z + 1 > 19) overflow = 1;
                else if (__builtin_mul_overflow(m, pow10_u64[z + 1], &m)) overflow = 1;
            }
            if (!overflow && __builtin_add_overflow(m, (uint64_t)(c - '0'), &m)) overflow = 1;
            z = 0;
        } else if (c == '.') {
            if (seen_point) return TD_EPROTO;
            seen_point = 1;
        } else if (c == 'e' || c == 'E') {
            break;
        } else {
            return TD_EPROTO;
        }
    }
    if (digits == 0) return TD_EPROTO;

    int64_t exp = 0;
    if (i < len) { /* exponent */
        i++;
        int eneg = 0, edigits = 0;
        if (i < len && (s[i] == '-' || s[i] == '+')) { eneg = s[i] == '-'; i++; }
        for (; i < len; i++) {
            if (s[i] < '0' || s[i] > '9') return TD_EPROTO;
            if (exp < 100000) exp = exp * 10 + (s[i] - '0');
            edigits++;
        }
        if (edigits == 0) return TD_EPROTO;
        if (eneg) exp = -exp;
    }
    if (m == 0) { *out = 0; return TD_OK; } /* any run of zeros, with any exponent */
    if (overflow) return TD_ERANGE;

    int64_t shift = TD_DEC_DIGITS + z + exp - frac;
    uint64_t v = m;
    if (shift > 0) {
        if (shift > 19 || __builtin_mul_overflow(v, pow10_u64[shift], &v)) return TD_ERANGE;
    } else if (shift < 0) {
        /* m has no trailing zeros, so any negative shift loses a non-zero digit */
        return TD_ERANGE;
    }
    if (neg) {
        if (v > (uint64_t)INT64_MAX + 1) return TD_ERANGE;
        *out = (int64_t)(0 - v);
    } else {
        if (v > (uint64_t)INT64_MAX) return TD_ERANGE;
        *out = (int64_t)v;
    }
    return TD_OK;
}

int td_dec_from_scaled(int64_t v, int decimals, int64_t *out)
{
    if (decimals < 0 || decimals > 18) return TD_ERANGE;
    if (decimals <= TD_DEC_DIGITS) {
        if (__builtin_mul_overflow(v, (int64_t)pow10_u64[TD_DEC_DIGITS - decimals], out)) return TD_ERANGE;
        return TD_OK;
    }
    int64_t div = (int64_t)pow10_u64[decimals - TD_DEC_DIGITS];
    if (v % div != 0) return TD_ERANGE;
    *out = v / div;
    return TD_OK;
}

/* Writes the decimal digits of u (u < 10^39) backwards ending at end; returns the start. */
static char *utoa_rev(unsigned __int128 u, char *end)
{
    char *p = end;
    if (u <= UINT64_MAX) { /* the common case: avoid 128-bit division */
        uint64_t w = (uint64_t)u;
        do {
            *--p = (char)('0' + (int)(w % 10));
            w /= 10;
        } while (w);
        return p;
    }
    do {
        *--p = (char)('0' + (int)(u % 10));
        u /= 10;
    } while (u);
    return p;
}

static size_t fmt_u128(unsigned __int128 mag, int neg, char *buf)
{
    char tmp[TD_DEC128_BUFSZ];
    char *end = tmp + sizeof tmp;
    unsigned __int128 ip;
    uint64_t fp;
    if (mag <= UINT64_MAX) {
        ip = (uint64_t)mag / TD_DEC_SCALE;
        fp = (uint64_t)mag % TD_DEC_SCALE;
    } else {
        ip = mag / TD_DEC_SCALE;
        fp = (uint64_t)(mag % TD_DEC_SCALE);
    }
    char *o = buf;
    if (neg) *o++ = '-';
    char *start = utoa_rev(ip, end);
    while (start < end) *o++ = *start++;
    if (fp) {
        char f[TD_DEC_DIGITS];
        for (int k = TD_DEC_DIGITS - 1; k >= 0; k--) { f[k] = (char)('0' + fp % 10); fp /= 10; }
        int n = TD_DEC_DIGITS;
        while (n > 0 && f[n - 1] == '0') n--;
        *o++ = '.';
        for (int k = 0; k < n; k++) *o++ = f[k];
    }
    *o = '\0';
    return (size_t)(o - buf);
}

size_t td_dec_fmt(int64_t v, char *buf)
{
    int neg = v < 0;
    uint64_t mag = neg ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;
    return fmt_u128(mag, neg, buf);
}

size_t td_dec128_fmt(td_vol_t v, char *buf)
{
    int neg = v < 0;
    unsigned __int128 mag = neg ? (unsigned __int128)0 - (unsigned __int128)v : (unsigned __int128)v;
    return fmt_u128(mag, neg, buf);
}
